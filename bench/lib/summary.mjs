// Derived numbers (QPS at recall targets, ratios, bars) and markdown rendering,
// shared by run.mjs (console table) and report.mjs (RESULTS.md).
import { qpsAtRecall } from './measure.mjs';
import { LABELS } from './peers.mjs';

export const TARGETS = [0.9, 0.95, 0.99];
export const PEERS = ['hnswlib', 'usearch'];

const ok = (lib) => lib && !lib.error && Array.isArray(lib.sweep);

/** Compute everything derived from the raw per-library results. */
export function computeDerived(res) {
  const L = res.libs;
  const d = { qpsAt: {}, ratios: {}, recallVsHnswlib: null, build: {}, memory: {}, eventLoop: null, bars: [] };
  for (const lib of Object.keys(L)) {
    if (!ok(L[lib])) continue;
    d.qpsAt[lib] = {};
    for (const t of TARGETS) d.qpsAt[lib][t] = qpsAtRecall(L[lib].sweep, t);
  }
  if (d.qpsAt.ours) {
    for (const peer of PEERS) {
      if (!d.qpsAt[peer]) continue;
      d.ratios[peer] = {};
      for (const t of TARGETS) {
        const a = d.qpsAt.ours[t],
          b = d.qpsAt[peer][t];
        d.ratios[peer][t] = a && b ? a.qps / b.qps : null;
      }
    }
  }
  if (ok(L.ours) && ok(L.hnswlib)) {
    const rows = [];
    for (const p of L.ours.sweep) {
      const h = L.hnswlib.sweep.find((x) => x.ef === p.ef);
      if (!h) continue;
      // rough 1-sigma of the difference (binomial, nq*k trials each; ignores within-query correlation)
      const N = res.dataset.nQuery * res.dataset.k;
      const sigma = Math.sqrt((p.recall * (1 - p.recall)) / N + (h.recall * (1 - h.recall)) / N);
      rows.push({ ef: p.ef, ours: p.recall, hnswlib: h.recall, diff: p.recall - h.recall, sigma });
    }
    d.recallVsHnswlib = {
      rows,
      minDiff: Math.min(...rows.map((r) => r.diff)),
      maxAbsDiff: Math.max(...rows.map((r) => Math.abs(r.diff))),
      meanDiff: rows.reduce((s, r) => s + r.diff, 0) / rows.length,
    };
  }
  // build times (ms)
  d.build = {
    ours_t1: L.ours_build_t1?.build?.ms ?? null,
    ours_t2: L.ours?.build?.ms ?? null,
    hnswlib_t1: L.hnswlib?.build?.ms ?? null,
    usearch_t1: L.usearch_build_t1?.build?.ms ?? null,
    usearch_t2: L.usearch?.build?.ms ?? null,
  };
  d.build.ours_t2_vs_hnswlib = d.build.ours_t2 && d.build.hnswlib_t1 ? d.build.ours_t2 / d.build.hnswlib_t1 : null;
  d.build.ours_t1_vs_hnswlib = d.build.ours_t1 && d.build.hnswlib_t1 ? d.build.ours_t1 / d.build.hnswlib_t1 : null;
  d.build.ours_t2_vs_usearch_t2 = d.build.ours_t2 && d.build.usearch_t2 ? d.build.ours_t2 / d.build.usearch_t2 : null;
  d.build.ours_speedup_t2_vs_t1 = d.build.ours_t1 && d.build.ours_t2 ? d.build.ours_t1 / d.build.ours_t2 : null;
  for (const lib of ['ours', 'hnswlib', 'usearch']) if (L[lib]?.memory) d.memory[lib] = L[lib].memory.rssDelta;
  d.memory.ours_vs_hnswlib = d.memory.ours && d.memory.hnswlib ? d.memory.ours / d.memory.hnswlib : null;
  d.memory.ours_vs_usearch = d.memory.ours && d.memory.usearch ? d.memory.ours / d.memory.usearch : null;
  if (L.ours?.eventLoop) {
    const phases = ['add', 'searchStream', 'save', 'load'];
    const per = {};
    for (const p of phases) if (L.ours.eventLoop[p]) per[p] = L.ours.eventLoop[p].maxMs;
    const calls = {};
    for (const p of phases) if (L.ours.eventLoop[p]?.callMs != null) calls[p] = L.ours.eventLoop[p].callMs;
    d.eventLoop = {
      perPhaseMaxMs: per,
      maxMs: Math.max(...Object.values(per)),
      perPhaseCallMs: calls,
      maxCallMs: Object.keys(calls).length ? Math.max(...Object.values(calls)) : null,
      busyBaselineMs: L.ours.eventLoop.busyBaseline?.maxMs ?? null,
    };
  }

  // ---- bars
  const bar = (name, target, measured, pass, detail = '') => d.bars.push({ name, target, measured, pass, detail });
  const f2 = (v) => (v == null ? 'n/a' : v.toFixed(2));
  for (const peer of PEERS) {
    const r = d.ratios[peer]?.[0.95] ?? null;
    const a = d.qpsAt.ours?.[0.95],
      b = d.qpsAt[peer]?.[0.95];
    bar(
      `QPS@0.95 recall vs ${LABELS[peer]}`,
      '≥ 1.3×',
      r == null ? 'n/a' : `${f2(r)}× (${fmtInt(a?.qps)} vs ${fmtInt(b?.qps)} QPS)`,
      r != null && r >= 1.3,
    );
  }
  if (d.recallVsHnswlib) {
    const v = d.recallVsHnswlib;
    const worst = v.rows.reduce((a, r) => (r.diff < a.diff ? r : a), v.rows[0]);
    bar(
      'Recall@10 at equal ef vs hnswlib-node',
      'not lower by > 0.005 at any ef',
      `worst ${sign(v.minDiff)} at ef ${worst.ef} (±${worst.sigma.toFixed(4)} 1σ sampling noise; max abs Δ ${v.maxAbsDiff.toFixed(4)}, mean ${sign(v.meanDiff)})`,
      v.minDiff >= -0.005 - 1e-9,
    );
  } else bar('Recall@10 at equal ef vs hnswlib-node', 'not lower by > 0.005 at any ef', 'n/a', false);
  const br = d.build.ours_t2_vs_hnswlib;
  bar(
    'Build time, 2 threads vs hnswlib-node (1 thread)',
    '≤ 0.6×',
    br == null ? 'n/a' : `${f2(br)}× (${sec(d.build.ours_t2)} vs ${sec(d.build.hnswlib_t1)})`,
    br != null && br <= 0.6,
  );
  const mr = d.memory.ours_vs_hnswlib;
  bar(
    'Memory (RSS growth during build) vs hnswlib-node',
    '≤ 1.1×',
    mr == null ? 'n/a' : `${f2(mr)}× (${mib(d.memory.ours)} vs ${mib(d.memory.hnswlib)})`,
    mr != null && mr <= 1.1,
  );
  const el = d.eventLoop;
  bar(
    'Longest event-loop block (add, 2k-search stream, save, load)',
    '≤ 5 ms',
    el
      ? `${el.maxMs.toFixed(2)} ms (${Object.entries(el.perPhaseMaxMs)
          .map(([k, v]) => `${k} ${v.toFixed(2)}`)
          .join(
            ', ',
          )}${el.busyBaselineMs != null ? `; probe with only an unrelated busy process: ${el.busyBaselineMs.toFixed(2)}` : ''})`
      : 'n/a',
    el != null && el.maxMs <= 5,
  );
  if (el?.maxCallMs != null) {
    bar(
      'Longest time an async call holds the JS thread (add, save, load, search)',
      '≤ 5 ms',
      `${el.maxCallMs.toFixed(3)} ms (${Object.entries(el.perPhaseCallMs)
        .map(([k, v]) => `${k} ${v.toFixed(3)}`)
        .join(', ')})`,
      el.maxCallMs <= 5,
    );
  }
  const ao = L.ours?.asyncOverhead;
  bar(
    'Async overhead: median await search − searchSync',
    '≤ 30 µs',
    ao
      ? `${ao.diffUs.toFixed(1)} µs (${ao.asyncMedianUs.toFixed(1)} vs ${ao.syncMedianUs.toFixed(1)} µs at ef ${ao.ef})${ao.floorDiffUs != null ? `; the same on an empty index (pure libuv round trip): ${ao.floorDiffUs.toFixed(1)} µs` : ''}`
      : 'n/a',
    ao != null && ao.diffUs <= 30,
  );
  const b = L.ours?.batch;
  bar(
    'searchBatch, 2 threads vs single-thread searchSync',
    '≥ 1.7×',
    b ? `${f2(b.ratio)}× (${fmtInt(b.qps)} vs ${fmtInt(b.singleThreadQps)} QPS at ef ${b.ef})` : 'n/a',
    b != null && b.ratio >= 1.7,
  );
  return d;
}

const sign = (v) => (v >= 0 ? '+' : '') + v.toFixed(4);
const sec = (ms) => (ms == null ? 'n/a' : `${(ms / 1000).toFixed(2)} s`);
const mib = (b) => (b == null ? 'n/a' : `${(b / 2 ** 20).toFixed(1)} MiB`);
function fmtInt(v) {
  return v == null ? 'n/a' : Math.round(v).toLocaleString('en-US');
}

function table(head, rows) {
  const lines = [`| ${head.join(' | ')} |`, `|${head.map((h, i) => (i === 0 ? ' --- ' : ' ---: ')).join('|')}|`];
  for (const r of rows) lines.push(`| ${r.map((c) => (c == null ? 'n/a' : String(c))).join(' | ')} |`);
  return lines.join('\n');
}

/** Markdown for one dataset's result object. */
export function datasetMarkdown(res, { heading = '###' } = {}) {
  const L = res.libs;
  const d = res.derived;
  const ds = res.dataset;
  const md = [];
  const libsPresent = ['ours', 'hnswlib', 'usearch'].filter((l) => ok(L[l]));
  md.push(`${heading} ${ds.name}${res.mode === 'quick' ? ' (QUICK MODE — smoke test, not representative)' : ''}`);
  md.push('');
  md.push(
    `${ds.nBase.toLocaleString('en-US')} base × ${ds.dim} dims, metric ${ds.metric}, ${ds.nQuery.toLocaleString('en-US')} queries, k = ${ds.k}; M = 16, efConstruction = 200. Ground truth: ${ds.gtMethod}.`,
  );
  for (const lib of ['ours', 'hnswlib', 'usearch', 'ours_build_t1', 'usearch_build_t1']) {
    if (L[lib]?.error) md.push(`\n> **${lib}: not measured** — ${L[lib].error.split('\n')[0]}`);
  }
  for (const [k, x] of Object.entries(L)) {
    if (x?.batchError) md.push(`\n> **${k}: batch search failed** — ${x.batchError.split('\n')[0]}`);
    if (x?.asyncPartsError)
      md.push(`\n> **${k}: async / event-loop measurements failed** — ${x.asyncPartsError.split('\n')[0]}`);
  }
  const busy = Object.entries(L).filter(([, x]) => x?.backgroundCpuBusyBefore > 0.1 || x?.otherCpuBusyDuring > 0.1);
  const pct = (v) => (v == null ? 'n/a' : `${(v * 100).toFixed(0)}%`);
  if (busy.length)
    md.push(
      `\n> **Warning: the machine was busy with other work** (share of the machine used by other processes, before / during: ${busy.map(([k, x]) => `${k} ${pct(x.backgroundCpuBusyBefore)} / ${pct(x.otherCpuBusyDuring)}`).join(', ')}): timings are not reliable.`,
    );
  md.push('');

  // sweep
  md.push(
    `**ef sweep — recall@${ds.k} and single-thread QPS** (sequential synchronous single-query calls on one thread)`,
  );
  md.push('');
  const efs = [...new Set(libsPresent.flatMap((l) => L[l].sweep.map((p) => p.ef)))].sort((a, b) => a - b);
  const head = ['ef'];
  for (const l of libsPresent) head.push(`${LABELS[l]} recall`, `${LABELS[l]} QPS`);
  if (ok(L.ours) && ok(L.hnswlib)) head.push('Δrecall vs hnswlib');
  const rows = efs.map((ef) => {
    const r = [ef];
    for (const l of libsPresent) {
      const p = L[l].sweep.find((x) => x.ef === ef);
      r.push(p ? p.recall.toFixed(4) : '', p ? fmtInt(p.qps) : '');
    }
    if (ok(L.ours) && ok(L.hnswlib)) {
      const x = d.recallVsHnswlib?.rows.find((y) => y.ef === ef);
      r.push(x ? sign(x.diff) : '');
    }
    return r;
  });
  md.push(table(head, rows));
  md.push('');

  // QPS at recall targets
  md.push('**QPS at recall targets** (linear interpolation between the bracketing sweep points; n/a = not reached)');
  md.push('');
  const th = ['recall ≥', ...libsPresent.map((l) => LABELS[l])];
  if (d.ratios.hnswlib) th.push('ours / hnswlib-node');
  if (d.ratios.usearch) th.push('ours / usearch');
  md.push(
    table(
      th,
      TARGETS.map((t) => {
        const r = [t.toFixed(2)];
        for (const l of libsPresent) {
          const q = d.qpsAt[l]?.[t];
          r.push(q ? `${fmtInt(q.qps)}${q.note === 'at-first-point' ? ' (≥, first point)' : ''}` : 'n/a');
        }
        if (d.ratios.hnswlib) r.push(d.ratios.hnswlib[t] == null ? 'n/a' : `${d.ratios.hnswlib[t].toFixed(2)}×`);
        if (d.ratios.usearch) r.push(d.ratios.usearch[t] == null ? 'n/a' : `${d.ratios.usearch[t].toFixed(2)}×`);
        return r;
      }),
    ),
  );
  md.push('');

  // build / memory / file
  md.push('**Build, memory, file size** (each library in its own child process)');
  md.push('');
  const brow = (key, label) => {
    const x = L[key];
    if (!x || x.error || !x.build) return null;
    return [
      label,
      x.build.threads,
      sec(x.build.ms),
      mib(x.memory?.rssDelta),
      x.memory?.memoryUsage != null ? mib(x.memory.memoryUsage) : '—',
      x.save ? mib(x.save.bytes) : '—',
      mib(x.memory?.peakRss),
    ];
  };
  md.push(
    table(
      ['library', 'threads', 'build time', 'RSS growth (build)', 'memoryUsage()', 'index file', 'peak RSS (process)'],
      [
        brow('ours_build_t1', 'quiver-search'),
        brow('ours', 'quiver-search'),
        brow('hnswlib', 'hnswlib-node'),
        brow('usearch_build_t1', 'usearch'),
        brow('usearch', 'usearch'),
      ].filter(Boolean),
    ),
  );
  if (L.hnswlib?.build?.conversionOnlyMs != null)
    md.push(
      `\nhnswlib-node build time includes ${sec(L.hnswlib.build.conversionOnlyMs)} of copying Float32Array rows into the number[] its addPoint requires.`,
    );
  md.push('');

  // ours extras
  if (ok(L.ours)) {
    md.push('**quiver-search: threads, async, event loop**');
    md.push('');
    const items = extrasItems(res);
    md.push(table(['measure', 'value'], items));
    md.push('');
    md.push(
      'Event-loop values are max gap as seen by monitorEventLoopDelay({resolution: 1}) / by a setInterval(1 ms) probe; both include the 1 ms timer period (an idle loop reads ≈ 1.1 ms).',
    );
    md.push('');
  }

  // targets
  md.push('**Targets**');
  md.push('');
  md.push(
    table(
      ['measure', 'target', 'measured', 'result'],
      d.bars.map((b) => [b.name, b.target, b.measured, b.pass ? 'PASS' : 'FAIL']),
    ),
  );
  md.push('');
  return md.join('\n');
}

/** Header block: machine, versions, ISA (+ command/date/wall time unless run: false). */
export function metaMarkdown(res, { run = true } = {}) {
  const m = res.machine;
  const v = res.versions;
  const caps = res.libs.ours?.capabilities;
  const lines = [];
  if (run) {
    lines.push(`- Command: \`${res.command}\``);
    lines.push(`- Date: ${res.date}${res.wallSeconds ? ` (took ${Math.round(res.wallSeconds)} s)` : ''}`);
  }
  lines.push(
    `- Machine: ${m.cpuModel}, ${m.cpus} logical cores, ${(m.totalMemBytes / 2 ** 30).toFixed(1)} GiB RAM, ${m.platform}/${m.arch}, kernel ${m.kernel}, Node ${m.node}`,
    `- Versions: quiver-search ${v['quiver-search'] ?? 'n/a'}${caps?.version ? ` (capabilities().version ${caps.version})` : ''}, hnswlib-node ${v['hnswlib-node'] ?? 'n/a'}, usearch ${v.usearch ?? 'n/a'}`,
    `- quiver-search ISA: ${caps ? `${caps.isa} (available: ${(caps.availableIsas || []).join(', ')}; cpuThreads ${caps.cpuThreads})` : 'n/a'}`,
  );
  return lines.join('\n');
}

/** The rows of the 'threads, async, event loop' table: [measure, value] strings. */
export function extrasItems(res) {
  const L = res.libs;
  if (!L.ours || L.ours.error) return [];
  const o = L.ours;
  const items = [];
  if (o.batch)
    items.push([
      'searchBatch, threads: 2',
      `${fmtInt(o.batch.qps)} QPS at ef ${o.batch.ef} (recall ${o.batch.recall.toFixed(4)}) = ${o.batch.ratio?.toFixed(2)}× single-thread ${fmtInt(o.batch.singleThreadQps)} QPS`,
    ]);
  if (L.usearch?.batch)
    items.push([
      'usearch batch search, threads=2 (reference)',
      `${fmtInt(L.usearch.batch.qps)} QPS at its ef ${L.usearch.batch.ef} (recall ${L.usearch.batch.recall.toFixed(4)}) = ${L.usearch.batch.ratio?.toFixed(2)}× its single-thread`,
    ]);
  if (o.asyncOverhead) {
    const a = o.asyncOverhead;
    items.push([
      'await search vs searchSync (median latency)',
      `${a.asyncMedianUs.toFixed(1)} µs vs ${a.syncMedianUs.toFixed(1)} µs → +${a.diffUs.toFixed(1)} µs (paired median +${a.pairedMedianDiffUs.toFixed(1)} µs; ef ${a.ef}, ${a.queries}×${a.rounds} queries)`,
    ]);
  }
  if (o.eventLoop) {
    const e = o.eventLoop;
    const f = (p) => (p ? `${p.histMaxMs.toFixed(2)} ms / ${p.intervalMaxGapMs.toFixed(2)} ms` : 'n/a');
    items.push([
      'event loop: async add of all vectors',
      `${f(e.add)} (add took ${e.add ? sec(e.add.elapsedMs) : 'n/a'})`,
    ]);
    items.push([
      `event loop: ${e.searchStream?.searches ?? ''} async searches, ${e.searchStream?.inflight ?? ''} in flight`,
      `${f(e.searchStream)} (${e.searchStream ? fmtInt(e.searchStream.qps) : 'n/a'} QPS)`,
    ]);
    items.push([
      'event loop: async save',
      `${f(e.save)} (save took ${e.save ? e.save.elapsedMs.toFixed(1) : 'n/a'} ms)`,
    ]);
    items.push([
      'event loop: async load',
      `${f(e.load)} (load took ${e.load ? e.load.elapsedMs.toFixed(1) : 'n/a'} ms)`,
    ]);
    if (e.idleBaseline) items.push(['event loop: idle baseline (nothing running)', f(e.idleBaseline)]);
    if (e.busyBaseline)
      items.push(['event loop: baseline with an unrelated process busy on one core', f(e.busyBaseline)]);
    const c = (p) => (p?.callMs != null ? `${p.callMs.toFixed(3)} ms` : 'n/a');
    items.push(['JS-thread time of the call itself (add / save / load)', `${c(e.add)} / ${c(e.save)} / ${c(e.load)}`]);
  }
  if (o.capabilities)
    items.push([
      'ISA (capabilities())',
      `${o.capabilities.isa} (available: ${(o.capabilities.availableIsas || []).join(', ')})`,
    ]);
  return items;
}
