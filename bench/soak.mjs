#!/usr/bin/env node
// Soak test: long-running and repeated use of one process, looking for leaks, lost keys and
// left-over files rather than speed.
//   (a) concurrent async search / add / upsert / remove / save on one index for --seconds,
//       RSS sampled every second; checks that no key is lost and no removed key is returned;
//   (b) 1M searchSync, then 1M async search (64 in flight), each after 200k warm-up calls:
//       RSS and its drift, and the V8 heap next to it;
//   (c) 2,000 indexes (threads 2) created, used and closed in one loop: peak thread count and
//       RSS before/after;
//   (d) 100 kill -9 of a child process that saves a ~50 MB index to one path in a loop, then
//       one clean save: temporary files left in the directory, and whether the file loads.
// Prints a markdown table and writes bench/results/soak.json.
//
//   npm run build && npm run bench:soak -- [--seconds 60] [--dim 64] [--n 100000]
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import v8 from 'node:v8';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { VectorIndex } from '../dist/index.mjs';

const BENCH_DIR = path.dirname(fileURLToPath(import.meta.url));
const MB = 2 ** 20;

const { values: args } = parseArgs({
  options: {
    seconds: { type: 'string', default: '60' },
    dim: { type: 'string', default: '64' },
    n: { type: 'string', default: '100000' },
    iterations: { type: 'string', default: '1000000' },
    kills: { type: 'string', default: '100' },
    indexes: { type: 'string', default: '2000' },
    'child-save': { type: 'string' },
  },
});

if (args['child-save'] !== undefined) {
  await childSave(args['child-save']);
} else {
  await main();
}

/** Child of phase (d): loads the index at `file`, says so, then saves it there until killed. */
async function childSave(file) {
  const index = VectorIndex.loadSync(file);
  process.stdout.write('ready\n');
  for (;;) index.saveSync(file);
}

async function main() {
  const seconds = Number(args.seconds);
  const dim = Number(args.dim);
  const n = Number(args.n);
  const iterations = Number(args.iterations);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'quiver-soak-'));
  const rows = [];
  const summary = { seconds, dim, n, iterations, node: process.version, platform: process.platform };
  try {
    console.error(`building ${n} × ${dim} HNSW…`);
    const index = new VectorIndex({ dim, index: 'hnsw', threads: 2 });
    const data = randomVectors(n, dim, 1);
    await index.add(seqKeys(n, 0), data);

    console.error(`(a) concurrent operations for ${seconds} s…`);
    summary.concurrent = await concurrent(index, data, dim, n, seconds, dir);
    const a = summary.concurrent;
    rows.push(
      [
        '(a) ops',
        Object.entries(a.ops)
          .map(([op, c]) => `${op} ${c}`)
          .join(', '),
        '',
      ],
      ['(a) RSS first → last (max)', `${a.rss.first} → ${a.rss.last} (${a.rss.max}) MB`, ''],
      ['(a) keys lost', String(a.lostKeys), target(a.lostKeys === 0, '0')],
      ['(a) removed keys returned', String(a.removedReturned), target(a.removedReturned === 0, '0')],
      ['(a) removed keys still present', String(a.removedPresent), target(a.removedPresent === 0, '0')],
    );

    const q = data.subarray(0, dim);
    console.error(`(b) ${iterations} searchSync…`);
    summary.searchSync = await drift(iterations, () => index.searchSync(q, { k: 10 }));
    console.error(`(b) ${iterations} async search…`);
    summary.searchAsync = await driftAsync(iterations, 64, () => index.search(q, { k: 10 }));
    for (const [name, d] of [
      ['(b) searchSync', summary.searchSync],
      ['(b) search (async, 64 in flight)', summary.searchAsync],
    ]) {
      rows.push([
        `${name} RSS after warm-up → end (max)`,
        `${d.warm} → ${d.last} (${d.max}) MB, drift ${d.driftPct.toFixed(1)} % (V8 heap ${d.heapWarm} → ${d.heapLast} MB, live after GC ${d.liveHeapBefore} → ${d.liveHeapAfter} MB; RSS less V8 heap: ${d.nativeDriftPct.toFixed(1)} %), ${d.seconds.toFixed(1)} s`,
        target(d.driftPct <= 5, '≤ 5 %'),
      ]);
    }
    index.close();

    console.error(`(c) ${args.indexes} indexes created and closed…`);
    summary.indexes = manyIndexes(Number(args.indexes), dim);
    const c = summary.indexes;
    rows.push(
      [
        '(c) threads before / peak / after',
        `${c.threadsBefore} / ${c.threadsPeak} / ${c.threadsAfter}`,
        target(c.threadsPeak !== null && c.threadsPeak <= c.threadsBefore + 40, 'a few dozen'),
      ],
      [
        '(c) RSS before → after',
        `${c.rssBefore} → ${c.rssAfter} MB`,
        target(c.rssAfter <= c.rssBefore * 1.1, 'returned'),
      ],
    );

    console.error(`(d) ${args.kills} kill -9 during saves…`);
    summary.kills = await killedSaves(Number(args.kills), dim, dir);
    const k = summary.kills;
    rows.push(
      ['(d) kills (during a save)', `${k.kills} (${k.killedDuringSave})`, ''],
      [
        '(d) temp files before / after the clean save',
        `${k.tempsBefore} / ${k.tempsAfter}`,
        target(k.tempsAfter === 0, '0'),
      ],
      ['(d) index loads after', `${k.loads} (${k.loadedSize} vectors, ${k.fileMB} MB)`, target(k.loads, 'yes')],
    );
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }

  console.log(`\nsoak: --seconds ${seconds} --dim ${dim} --n ${n}, ${process.version} ${process.platform}\n`);
  console.log('| check | result | target |');
  console.log('| --- | --- | --- |');
  for (const [name, result, t] of rows) console.log(`| ${name} | ${result} | ${t} |`);
  const out = path.join(BENCH_DIR, 'results', 'soak.json');
  fs.mkdirSync(path.dirname(out), { recursive: true });
  fs.writeFileSync(out, `${JSON.stringify(summary, null, 2)}\n`);
  console.log(`\nwrote ${path.relative(process.cwd(), out)}`);
}

/** A table cell for a target: met or missed. */
function target(ok, what) {
  return `${what} ${ok ? '✓' : '✗'}`;
}

/** Resident set size in MB, rounded. */
function rssMB() {
  return Math.round(process.memoryUsage.rss() / MB);
}

/** Threads of this process (Linux), or null elsewhere. */
function threadCount() {
  try {
    const m = /^Threads:\s+(\d+)/m.exec(fs.readFileSync('/proc/self/status', 'utf8'));
    return m === null ? null : Number(m[1]);
  } catch {
    return null;
  }
}

function gc() {
  if (typeof globalThis.gc === 'function') {
    globalThis.gc();
    globalThis.gc();
  }
}

/** mulberry32: a small seeded PRNG returning floats in [0, 1). */
function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function randomVectors(n, dim, seed) {
  const r = rng(seed);
  const out = new Float32Array(n * dim);
  for (let i = 0; i < out.length; i++) out[i] = r() * 2 - 1;
  return out;
}

function seqKeys(n, from) {
  const k = new Uint32Array(n);
  for (let i = 0; i < n; i++) k[i] = from + i;
  return k;
}

/**
 * Phase (a). Keys 0..n-1 are upserted but never removed; new keys (n and up) are added in
 * batches and some of them removed later, never re-added. A search that starts after a remove
 * resolved must not return the removed key; half the searches query a removed key's vector,
 * so a removed key would be the nearest hit if it were still there.
 */
async function concurrent(index, data, dim, n, seconds, dir) {
  const file = path.join(dir, 'concurrent.qvr');
  const ops = { search: 0, add: 0, upsert: 0, remove: 0, save: 0 };
  const vectors = new Map(); // added key -> vector
  const live = []; // added keys not removed
  const removedAt = new Map(); // removed key -> sequence number when its remove resolved
  let seq = 0;
  let nextKey = n;
  let removedReturned = 0;
  const r = rng(7);
  const end = Date.now() + seconds * 1000;
  const samples = [rssMB()];
  const timer = setInterval(() => samples.push(rssMB()), 1000);
  const running = () => Date.now() < end;

  const searcher = async () => {
    while (running()) {
      const removed = [...removedAt.keys()];
      const useRemoved = removed.length > 0 && r() < 0.5;
      const row = Math.floor(r() * n);
      const query = useRemoved
        ? vectors.get(removed[Math.floor(r() * removed.length)])
        : data.subarray(row * dim, (row + 1) * dim);
      const started = seq;
      const hits = await index.search(query, { k: 10 });
      for (const key of hits.keys) {
        const at = removedAt.get(key);
        if (at !== undefined && at <= started) removedReturned++;
      }
      ops.search++;
    }
  };
  const adder = async () => {
    while (running()) {
      const keys = seqKeys(32, nextKey);
      nextKey += 32;
      const v = randomVectors(32, dim, nextKey);
      await index.add(keys, v);
      for (let i = 0; i < 32; i++) {
        vectors.set(keys[i], v.slice(i * dim, (i + 1) * dim));
        live.push(keys[i]);
      }
      ops.add++;
    }
  };
  const upserter = async () => {
    while (running()) {
      const start = Math.floor(r() * (n - 32));
      await index.upsert(seqKeys(32, start), randomVectors(32, dim, start + ops.upsert));
      ops.upsert++;
    }
  };
  const remover = async () => {
    while (running()) {
      if (live.length < 64) {
        await new Promise((resolve) => setTimeout(resolve, 5));
        continue;
      }
      const keys = Uint32Array.from(live.splice(0, 16));
      await index.remove(keys);
      seq++;
      for (const key of keys) removedAt.set(key, seq);
      ops.remove++;
    }
  };
  const saver = async () => {
    while (running()) {
      await index.save(file);
      ops.save++;
    }
  };
  await Promise.all([searcher(), searcher(), searcher(), adder(), upserter(), remover(), saver()]);
  clearInterval(timer);
  samples.push(rssMB());

  let lostKeys = 0;
  for (let key = 0; key < n; key++) if (!index.has(key)) lostKeys++;
  for (const key of live) if (!index.has(key)) lostKeys++;
  let removedPresent = 0;
  for (const key of removedAt.keys()) if (index.has(key)) removedPresent++;
  const expectedSize = n + live.length;
  if (index.size !== expectedSize) lostKeys = Math.max(lostKeys, expectedSize - index.size);
  const saved = VectorIndex.loadSync(file);
  const savedSize = saved.size;
  saved.close();
  return {
    ops,
    rss: { first: samples[0], last: samples.at(-1), max: Math.max(...samples), samples },
    lostKeys,
    removedReturned,
    removedPresent,
    size: index.size,
    expectedSize,
    savedSize,
  };
}

/** RSS and V8 heap (total) in MB. */
function memorySample() {
  return { rss: rssMB(), heap: Math.round(process.memoryUsage().heapTotal / MB) };
}

/** Size of V8's young generation (new space) in MB. */
function newSpaceMB() {
  const s = v8.getHeapSpaceStatistics().find((x) => x.space_name === 'new_space');
  return s === undefined ? 0 : Math.round(s.space_size / MB);
}

/**
 * Warm-up: at least `total / 5` calls, then more (in steps of `total / 10`, at most `2 × total`
 * more) until the V8 heap's reserved size (young generation included) has not changed for
 * three steps in a row. V8 sizes new space to the allocation rate (4 → 32 MB for 64 async
 * searches in flight, in steps with pauses between them, over the first ~500k calls): a
 * one-time sizing that would otherwise read as drift.
 */
async function warmUp(total, run) {
  await run(Math.floor(total / 5));
  let stable = 0;
  for (let extra = 0; extra < 2 * total && stable < 3; extra += Math.floor(total / 10)) {
    const before = heapReservedMB();
    await run(Math.floor(total / 10));
    stable = heapReservedMB() === before ? stable + 1 : 0;
  }
}

/** V8 heap reserved (total) and new space, in MB, as one comparable string. */
function heapReservedMB() {
  return `${Math.round(process.memoryUsage().heapTotal / MB)}/${newSpaceMB()}`;
}

/** Live JS heap after a full collection, in MB (one decimal): what the program holds. */
function liveHeapMB() {
  globalThis.gc?.();
  return Math.round((process.memoryUsage().heapUsed / MB) * 10) / 10;
}

/**
 * RSS drift of `total` calls of `fn`, sampled every tenth, after the warm-up above; the first
 * sample is the reference.
 */
async function drift(total, fn) {
  const live = liveHeapMB();
  await warmUp(total, (m) => {
    for (let i = 0; i < m; i++) fn();
  });
  const step = Math.max(1, Math.floor(total / 10));
  const t0 = performance.now();
  const samples = [];
  for (let i = 0; i < total; i++) {
    fn();
    if ((i + 1) % step === 0) samples.push(memorySample());
  }
  return driftOf(samples, (performance.now() - t0) / 1000, live);
}

/** As [`drift`] for an async call, with `inFlight` calls awaited together. */
async function driftAsync(total, inFlight, fn) {
  const batch = Array.from({ length: inFlight });
  const live = liveHeapMB();
  await warmUp(total, async (m) => {
    for (let i = 0; i < m; i += inFlight) {
      for (let j = 0; j < inFlight; j++) batch[j] = fn();
      await Promise.all(batch);
    }
  });
  const step = Math.max(inFlight, Math.floor(total / 10 / inFlight) * inFlight);
  const t0 = performance.now();
  const samples = [];
  for (let i = 0; i < total; i += inFlight) {
    for (let j = 0; j < inFlight; j++) batch[j] = fn();
    await Promise.all(batch);
    if ((i + inFlight) % step === 0) samples.push(memorySample());
  }
  return driftOf(samples, (performance.now() - t0) / 1000, live);
}

/** Drift figures of the samples; `liveBefore` is the live JS heap measured before the warm-up. */
function driftOf(samples, seconds, liveBefore) {
  const rss = samples.map((m) => m.rss);
  const warm = rss[0];
  const max = Math.max(...rss);
  return {
    warm,
    last: rss.at(-1),
    max,
    driftPct: ((max - warm) / warm) * 100,
    heapWarm: samples[0].heap,
    heapLast: samples.at(-1).heap,
    // What RSS gained beyond the V8 heap's own growth: memory held outside the JS heap.
    nativeDriftPct: (Math.max(...samples.map((m) => m.rss - m.heap)) / (warm - samples[0].heap) - 1) * 100,
    liveHeapBefore: liveBefore,
    liveHeapAfter: liveHeapMB(),
    seconds,
    samples,
  };
}

/** Phase (c): `count` small indexes with a 2-thread pool, each used once and closed. */
function manyIndexes(count, dim) {
  gc();
  const rssBefore = rssMB();
  const threadsBefore = threadCount();
  let threadsPeak = threadsBefore;
  const data = randomVectors(64, dim, 3);
  const keys = seqKeys(64, 0);
  const t0 = performance.now();
  for (let i = 0; i < count; i++) {
    const index = new VectorIndex({ dim, threads: 2 });
    index.addSync(keys, data);
    index.searchBatchSync(data.subarray(0, 8 * dim), { k: 5 });
    const t = threadCount();
    if (t !== null && t > threadsPeak) threadsPeak = t;
    index.close();
  }
  const seconds = (performance.now() - t0) / 1000;
  gc();
  return { count, threadsBefore, threadsPeak, threadsAfter: threadCount(), rssBefore, rssAfter: rssMB(), seconds };
}

/** Temporary files of saves to `file` in its directory. */
function temps(file) {
  const prefix = `.${path.basename(file)}.tmp-`;
  return fs.readdirSync(path.dirname(file)).filter((f) => f.startsWith(prefix)).length;
}

/** Phase (d): `kills` children killed with SIGKILL while they save, then one clean save. */
async function killedSaves(kills, dim, dir) {
  const file = path.join(dir, 'killed.qvr');
  const count = Math.ceil((50 * MB) / (dim * 4));
  const index = new VectorIndex({ dim, index: 'flat', threads: 1 });
  index.addSync(seqKeys(count, 0), randomVectors(count, dim, 5));
  let t0 = performance.now();
  index.saveSync(file);
  const saveMs = performance.now() - t0;
  index.close();
  const r = rng(11);
  let killedDuringSave = 0;
  t0 = performance.now();
  for (let i = 0; i < kills; i++) {
    const child = spawn(process.execPath, [fileURLToPath(import.meta.url), '--child-save', file], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const exited = new Promise((resolve) => child.once('exit', resolve));
    await new Promise((resolve, reject) => {
      child.stdout.once('data', resolve);
      child.once('exit', () => reject(new Error('the saving child exited before it was ready')));
    });
    await new Promise((resolve) => setTimeout(resolve, r() * saveMs * 2));
    if (temps(file) > 0) killedDuringSave++;
    child.kill('SIGKILL');
    await exited;
  }
  const killSeconds = (performance.now() - t0) / 1000;
  const tempsBefore = temps(file);
  const again = VectorIndex.loadSync(file);
  again.saveSync(file);
  again.close();
  const tempsAfter = temps(file);
  let loads = false;
  let loadedSize = 0;
  try {
    const loaded = VectorIndex.loadSync(file);
    loadedSize = loaded.size;
    loads = loadedSize === count;
    loaded.close();
  } catch (e) {
    console.error(`the index did not load: ${e}`);
  }
  const fileMB = Math.round(fs.statSync(file).size / MB);
  return { kills, killedDuringSave, saveMs, killSeconds, tempsBefore, tempsAfter, loads, loadedSize, fileMB };
}
