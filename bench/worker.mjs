// Child-process entry: runs ONE library's part of the benchmark in a fresh process
// (clean RSS, no interference), started by run.mjs with --expose-gc and an IPC channel.
//
// task = { lib, spec, mode: 'build-only' | 'full', threads, efs, k, minSeconds,
//          warmupQueries, tmpDir, stream: { total, inflight }, asyncOverhead: { queries, rounds } }
import fs from 'node:fs';
import path from 'node:path';
import { loadDataset } from './lib/datasets.mjs';
import { createAdapter, loadQuiver } from './lib/peers.mjs';
import {
  nowMs,
  nowNs,
  gc,
  rssBytes,
  maxRssBytes,
  median,
  percentile,
  withLoopProbe,
  recallAtK,
  efForRecall,
} from './lib/measure.mjs';

function log(task, msg) {
  console.error(`  [${task.lib}${task.mode === 'build-only' ? ` build t=${task.threads}` : ''}] ${msg}`);
}

async function runTask(task) {
  const { lib, spec, k } = task;
  const out = { lib, mode: task.mode, threads: task.threads, pid: process.pid };

  const t0 = nowMs();
  const data = loadDataset(spec);
  const keys = new Uint32Array(data.n);
  for (let i = 0; i < data.n; i++) keys[i] = i;
  out.loadDatasetMs = nowMs() - t0;

  const mkOpts = (threads) => ({
    dim: data.dim,
    metric: data.metric,
    n: data.n,
    m: 16,
    efConstruction: 200,
    seed: 42,
    threads,
    tmpDir: task.tmpDir,
  });

  // ---- build (clean: nothing else running, no probes) ------------------------
  gc();
  const rssBefore = rssBytes();
  const adapter = await createAdapter(lib, mkOpts(task.threads));
  out.notes = adapter.notes;
  log(task, `building ${data.n} x ${data.dim} ...`);
  const tb = nowMs();
  await adapter.build(keys, data.base);
  const buildMs = nowMs() - tb;
  gc();
  const rssAfter = rssBytes();
  out.build = { ms: buildMs, threads: adapter.threads ?? task.threads, n: data.n };
  if (lib === 'hnswlib') out.build.conversionOnlyMs = adapter.conversionOnlyMs(data.base, data.n);
  out.memory = {
    rssBeforeBuild: rssBefore,
    rssAfterBuild: rssAfter,
    rssDelta: rssAfter - rssBefore,
    peakRss: maxRssBytes(),
    memoryUsage: adapter.memoryUsage(),
  };
  log(task, `build ${(buildMs / 1000).toFixed(2)} s, RSS delta ${(out.memory.rssDelta / 2 ** 20).toFixed(1)} MiB`);
  if (task.mode === 'build-only') return out;

  if (lib === 'ours') {
    const q = await loadQuiver();
    out.capabilities = typeof q.capabilities === 'function' ? q.capabilities() : null;
  }

  // ---- save / file size (ours: async save + async load under the loop probes) ----
  const file = path.join(task.tmpDir, `${lib}-${process.pid}.index`);
  if (lib === 'ours') {
    // what the probes read on an idle loop in this process (timer jitter floor)
    const idle = await withLoopProbe(() => new Promise((r) => setTimeout(r, task.minSeconds >= 1 ? 1000 : 300)));
    const s = await withLoopProbe(() => adapter.save(file));
    out.save = { ms: s.probe.elapsedMs, bytes: fs.statSync(file).size };
    // the same probes while another process keeps one core busy: the VM's own jitter under load
    const { spawn } = await import('node:child_process');
    const burner = spawn(process.execPath, ['-e', 'const end = Date.now() + 1500; while (Date.now() < end);']);
    const busy = await withLoopProbe(() => new Promise((r) => setTimeout(r, 1000)));
    await new Promise((r) => burner.once('exit', r));
    out.eventLoop = { idleBaseline: idle.probe, busyBaseline: busy.probe, save: s.probe };
    const q = await loadQuiver();
    const l = await withLoopProbe(() => q.VectorIndex.load(file, { mmap: false }));
    out.load = { ms: l.probe.elapsedMs, mmap: false };
    out.eventLoop.load = l.probe;
    // sanity: the loaded index answers like the built one
    const q0 = data.queries.subarray(0, data.dim);
    const a = adapter.index.searchSync(q0, { k, ef: 64 }).keys;
    const b = l.result.searchSync(q0, { k, ef: 64 }).keys;
    out.load.sameTop1AsBuilt = a[0] === b[0];
    l.result = null;
    gc();
  } else {
    const ts = nowMs();
    await adapter.save(file);
    out.save = { ms: nowMs() - ts, bytes: fs.statSync(file).size };
  }
  fs.rmSync(file, { force: true });

  // ---- ef sweep: single-thread QPS + recall@k ------------------------------
  adapter.prepareQueries(data.queries, data.nq);
  const nq = data.nq;
  const ids = new Int32Array(nq * k).fill(-1);
  const results = new Array(nq);
  {
    // global warm-up: one pass at ef=64 touches the whole graph once
    await adapter.setEf(64);
    const s = adapter.searcher(k);
    for (let i = 0; i < nq; i++) s(i);
  }
  out.sweep = [];
  for (const ef of task.efs) {
    await adapter.setEf(ef);
    const search = adapter.searcher(k);
    const warm = Math.min(nq, task.warmupQueries);
    for (let i = 0; i < warm; i++) search(i);
    let passes = 0;
    let total = 0;
    let best = 0;
    const started = nowMs();
    do {
      const p0 = nowMs();
      if (passes === 0) for (let i = 0; i < nq; i++) results[i] = search(i);
      else for (let i = 0; i < nq; i++) search(i);
      const dt = nowMs() - p0;
      total += dt;
      best = Math.max(best, (nq * 1000) / dt);
      passes++;
    } while (nowMs() - started < task.minSeconds * 1000);
    for (let i = 0; i < nq; i++) {
      const r = adapter.resultIds(results[i]);
      for (let j = 0; j < k && j < r.length; j++) ids[i * k + j] = r[j];
      results[i] = undefined;
    }
    const recall = recallAtK(ids, data.gt, data.gtK, k, nq);
    ids.fill(-1);
    const qps = (passes * nq * 1000) / total;
    out.sweep.push({ ef, recall, qps, bestPassQps: best, passes, queries: nq, seconds: total / 1000 });
    log(
      task,
      `ef=${String(ef).padStart(3)} recall@${k}=${recall.toFixed(4)} QPS=${qps.toFixed(0)} (${passes} pass${passes > 1 ? 'es' : ''})`,
    );
  }

  const ef95 = efForRecall(out.sweep, 0.95) ?? task.efs[task.efs.length - 1];

  // ---- batch search with the library's own threads (ours, usearch) ----------
  if (typeof adapter.searchBatch === 'function')
    try {
      const single = out.sweep.find((p) => p.ef === ef95);
      await adapter.searchBatch(k, ef95, 2); // warm-up
      let passes = 0;
      let total = 0;
      let batchIds;
      const started = nowMs();
      do {
        const p0 = nowMs();
        batchIds = await adapter.searchBatch(k, ef95, 2);
        total += nowMs() - p0;
        passes++;
      } while (nowMs() - started < task.minSeconds * 1000);
      const qps = (passes * nq * 1000) / total;
      out.batch = {
        ef: ef95,
        threads: 2,
        qps,
        passes,
        recall: recallAtK(batchIds, data.gt, data.gtK, k, nq),
        singleThreadQps: single ? single.qps : null,
        ratio: single ? qps / single.qps : null,
        api:
          lib === 'ours'
            ? 'await index.searchBatch(all queries, { k, ef }) on an index with threads: 2'
            : 'index.search(all queries, k, threads=2)',
      };
      log(task, `batch ef=${ef95} threads=2 QPS=${qps.toFixed(0)} (x${out.batch.ratio?.toFixed(2)} vs single)`);
    } catch (e) {
      out.batchError = String(e && e.stack ? e.stack : e);
      log(task, `batch FAILED: ${out.batchError}`);
    }

  if (lib === 'ours') {
    // keep the sweep even if one of the extras fails
    try {
      await oursAsyncParts(task, data, adapter, out, ef95, mkOpts, keys);
    } catch (e) {
      out.asyncPartsError = String(e && e.stack ? e.stack : e);
      log(task, `async/event-loop part FAILED: ${out.asyncPartsError}`);
    }
  }
  adapter.dispose();
  return out;
}

/** Async-vs-sync latency, loop blocking during a search stream and during async add. */
async function oursAsyncParts(task, data, adapter, out, ef, mkOpts, keys) {
  const { k } = task;
  await adapter.setEf(ef);
  const sync = adapter.searcher(k);
  const asy = adapter.asyncSearcher(k);
  const nq = Math.min(data.nq, task.asyncOverhead.queries);
  for (let i = 0; i < Math.min(nq, 200); i++) {
    sync(i);
    await asy(i);
  }
  const syncLat = [];
  const asyncLat = [];
  const paired = [];
  for (let r = 0; r < task.asyncOverhead.rounds; r++) {
    const s = new Float64Array(nq);
    const a = new Float64Array(nq);
    for (let i = 0; i < nq; i++) {
      const t0 = nowNs();
      sync(i);
      s[i] = Number(nowNs() - t0) / 1e3;
    }
    for (let i = 0; i < nq; i++) {
      const t0 = nowNs();
      await asy(i);
      a[i] = Number(nowNs() - t0) / 1e3;
    }
    for (let i = 0; i < nq; i++) {
      syncLat.push(s[i]);
      asyncLat.push(a[i]);
      paired.push(a[i] - s[i]);
    }
  }
  const ms = median(syncLat);
  const ma = median(asyncLat);
  out.asyncOverhead = {
    ef,
    k,
    queries: nq,
    rounds: task.asyncOverhead.rounds,
    syncMedianUs: ms,
    asyncMedianUs: ma,
    diffUs: ma - ms,
    pairedMedianDiffUs: median(paired),
    syncP99Us: percentile(syncLat, 99),
    asyncP99Us: percentile(asyncLat, 99),
  };
  log(task, `async overhead: sync ${ms.toFixed(1)} us, async ${ma.toFixed(1)} us, diff ${(ma - ms).toFixed(1)} us`);

  // The floor on this machine: the same pair of calls on an EMPTY index, where the search
  // itself costs nothing, so the difference is the pure libuv worker round trip (queue the
  // work, wake a worker thread, wake the event loop, settle the promise).
  {
    const q = await loadQuiver();
    const empty = new q.VectorIndex({ dim: data.dim, metric: data.metric });
    const query = data.queries.subarray(0, data.dim);
    const es = [];
    const ea = [];
    for (let i = 0; i < 200; i++) {
      empty.searchSync(query, { k });
      await empty.search(query, { k });
    }
    for (let i = 0; i < nq; i++) {
      let t0 = nowNs();
      empty.searchSync(query, { k });
      es.push(Number(nowNs() - t0) / 1e3);
      t0 = nowNs();
      await empty.search(query, { k });
      ea.push(Number(nowNs() - t0) / 1e3);
    }
    out.asyncOverhead.floorSyncMedianUs = median(es);
    out.asyncOverhead.floorAsyncMedianUs = median(ea);
    out.asyncOverhead.floorDiffUs = median(ea) - median(es);
    log(task, `async floor (empty index): sync ${median(es).toFixed(1)} us, async ${median(ea).toFixed(1)} us`);
  }

  // stream of async searches, N in flight
  const { total, inflight } = task.stream;
  const stream = await withLoopProbe(async () => {
    let next = 0;
    const runner = async () => {
      while (next < total) {
        const i = next++ % data.nq;
        await asy(i);
      }
    };
    await Promise.all(Array.from({ length: inflight }, runner));
  });
  out.eventLoop.searchStream = {
    ...stream.probe,
    searches: total,
    inflight,
    ef,
    qps: (total * 1000) / stream.probe.elapsedMs,
  };
  log(
    task,
    `search stream: ${total} searches, ${inflight} in flight, max loop gap ${stream.probe.maxMs.toFixed(2)} ms`,
  );

  // async add of the whole set into a fresh index (separate from the clean timed build)
  adapter.dispose();
  gc();
  const fresh = await createAdapter('ours', mkOpts(task.threads));
  const add = await withLoopProbe(() => fresh.build(keys, data.base));
  out.eventLoop.add = { ...add.probe, n: data.n, threads: task.threads };
  log(
    task,
    `async add under probes: ${(add.probe.elapsedMs / 1000).toFixed(2)} s, max loop gap ${add.probe.maxMs.toFixed(2)} ms`,
  );
  fresh.dispose();
}

process.on('message', async (task) => {
  try {
    const result = await runTask(task);
    const cu = process.cpuUsage();
    result.cpuSeconds = (cu.user + cu.system) / 1e6;
    process.send({ ok: true, result }, () => process.exit(0));
  } catch (e) {
    process.send({ ok: false, error: String(e && e.stack ? e.stack : e) }, () => process.exit(1));
  }
});
