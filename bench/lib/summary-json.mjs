// Summary JSON written by every benchmark script next to its raw output: just the figures that
// bench/RESULTS.md and the plots show, per configuration, plus the command, date, machine and
// library versions of the run. Full runs update bench/summaries/<name>.json (committed; render
// with `npm run bench:report`); quick runs write bench/results/<name>-quick.summary.json.
// Numbers are rounded to the precision the tables print, keys come in a fixed order, so a
// rerun changes exactly the figures that changed.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { makeRow } from './tables.mjs';
import { BENCH_DIR, SUMMARY_DIR } from './render.mjs';

const REPO = path.dirname(BENCH_DIR);
export const round = (v, d = 0) => (v == null || Number.isNaN(v) ? null : Number(Number(v).toFixed(d)));

/** The command line of this process, as one would retype it from the repository root. */
export function commandLine() {
  const data = process.env.QUIVER_SHARED_DATA
    ? `QUIVER_SHARED_DATA=${path.relative(REPO, process.env.QUIVER_SHARED_DATA) || '.'} `
    : '';
  return `${data}${['node', ...process.execArgv, path.relative(REPO, process.argv[1]), ...process.argv.slice(2)].join(' ')}`;
}

/** CPU model, cores and Node version of this machine. */
export function machine(extra = {}) {
  return { cpu: os.cpus()[0]?.model?.trim() ?? 'unknown', cores: os.cpus().length, ...extra, node: process.version };
}

/**
 * Writes (or merges into) a summary. `parts` are top-level keys (for per-dataset summaries:
 * one key per dataset, so a run of one dataset keeps the others' figures).
 */
export function writeSummary(name, parts, { quick = false } = {}) {
  const file = quick
    ? path.join(BENCH_DIR, 'results', `${name}-quick.summary.json`)
    : path.join(SUMMARY_DIR, `${name}.json`);
  const old = fs.existsSync(file) ? JSON.parse(fs.readFileSync(file, 'utf8')) : {};
  const next = { ...old, ...parts };
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, JSON.stringify(next, null, 2) + '\n');
  console.error(`wrote ${path.relative(process.cwd(), file)}`);
  return file;
}

// ---------------------------------------------------------------------------- bench/run.mjs
/** One dataset of the peer benchmark: `res` as run.mjs builds it (with res.derived). */
export function annDataset(res, extrasItems) {
  const L = res.libs;
  const d = res.derived;
  const m = res.machine;
  const caps = L.ours?.capabilities;
  const ok = (l) => L[l] && !L[l].error && Array.isArray(L[l].sweep);
  const efs = [...new Set(['ours', 'hnswlib', 'usearch'].filter(ok).flatMap((l) => L[l].sweep.map((p) => p.ef)))].sort(
    (a, b) => a - b,
  );
  const at = (l, ef) => (ok(l) ? L[l].sweep.find((p) => p.ef === ef) : undefined);
  const mib = (b) => (b == null ? null : round(b / 2 ** 20, 1));
  const build = [
    ['ours_build_t1', 'quiver-search'],
    ['ours', 'quiver-search'],
    ['hnswlib', 'hnswlib-node'],
    ['usearch_build_t1', 'usearch'],
    ['usearch', 'usearch'],
  ]
    .filter(([k]) => L[k] && !L[k].error && L[k].build)
    .map(([k, library]) => {
      const x = L[k];
      return makeRow('ann.build', {
        library,
        threads: x.build.threads,
        buildS: round(x.build.ms / 1000, 2),
        rssMiB: mib(x.memory?.rssDelta),
        memoryUsageMiB: mib(x.memory?.memoryUsage),
        fileMiB: mib(x.save?.bytes),
        peakRssMiB: mib(x.memory?.peakRss),
      });
    });
  return {
    command: res.command,
    date: res.date,
    wallSeconds: round(res.wallSeconds),
    machine: {
      cpu: m.cpuModel,
      cores: m.cpus,
      memGiB: round(m.totalMemBytes / 2 ** 30, 1),
      platform: `${m.platform}/${m.arch}`,
      kernel: m.kernel,
      node: m.node,
    },
    versions: {
      'quiver-search': res.versions['quiver-search'] ?? null,
      'hnswlib-node': res.versions['hnswlib-node'] ?? null,
      usearch: res.versions.usearch ?? null,
    },
    capabilitiesVersion: caps?.version ?? null,
    isa: caps?.isa ?? null,
    availableIsas: (caps?.availableIsas ?? []).join(', '),
    cpuThreads: caps?.cpuThreads ?? null,
    dataset: {
      nBase: res.dataset.nBase,
      dim: res.dataset.dim,
      metric: res.dataset.metric,
      nQuery: res.dataset.nQuery,
      k: res.dataset.k,
      groundTruth: res.dataset.gtMethod,
    },
    hnswlibConversionS: round((L.hnswlib?.build?.conversionOnlyMs ?? NaN) / 1000, 2),
    sweep: efs.map((ef) =>
      makeRow('ann.sweep', {
        ef,
        ours: round(at('ours', ef)?.recall, 4),
        oursQps: round(at('ours', ef)?.qps),
        hnswlib: round(at('hnswlib', ef)?.recall, 4),
        hnswlibQps: round(at('hnswlib', ef)?.qps),
        usearch: round(at('usearch', ef)?.recall, 4),
        usearchQps: round(at('usearch', ef)?.qps),
        diff: round(d.recallVsHnswlib?.rows.find((r) => r.ef === ef)?.diff, 4),
      }),
    ),
    qpsAt: Object.keys(d.qpsAt.ours ?? d.qpsAt.hnswlib ?? {})
      .map(Number)
      .map((t) => {
        const q = (l) => d.qpsAt[l]?.[t];
        return makeRow('ann.qpsAt', {
          target: t,
          ours: round(q('ours')?.qps),
          oursFirst: q('ours')?.note === 'at-first-point',
          hnswlib: round(q('hnswlib')?.qps),
          hnswlibFirst: q('hnswlib')?.note === 'at-first-point',
          usearch: round(q('usearch')?.qps),
          usearchFirst: q('usearch')?.note === 'at-first-point',
          vsHnswlib: round(d.ratios.hnswlib?.[t], 2),
          vsUsearch: round(d.ratios.usearch?.[t], 2),
        });
      }),
    build,
    extras: extrasItems(res).map(([measure, value]) => makeRow('ann.extras', { measure, value })),
    targets: d.bars.map((b) =>
      makeRow('ann.targets', { measure: b.name, target: b.target, measured: b.measured, pass: b.pass }),
    ),
  };
}

// ---------------------------------------------------------------------------- bench/quant.mjs
export function quantDataset(res, isa) {
  const hnsw = res.modes.find((m) => m.name === 'hnswlib-node')?.at95?.qps;
  const f32 = res.modes.find((m) => m.name === 'quiver f32')?.at95?.qps;
  const best = (pts) => round(Math.max(...pts.map((p) => p.recall)), 3);
  const out = {
    command: commandLine(),
    date: new Date().toISOString().slice(0, 10),
    machine: { cpu: res.machine.cpu, cores: res.machine.cpus, isa, node: res.machine.node },
    versions: res.versions,
    n: res.n,
    dim: res.dim,
    metric: res.metric,
    queries: res.nq,
    modes: res.modes.map((m) =>
      makeRow('quant.modes', {
        mode: m.name,
        hotBytes: round(m.bytesPerVector?.hot),
        originalsBytes: round(m.bytesPerVector?.originals),
        buildS: round(m.buildMs / 1000, 1),
        trainS: round(m.trainMs == null ? null : m.trainMs / 1000, 2),
        qps: round(m.at95?.qps),
        ef: m.at95?.ef ?? null,
        vsHnswlib: m.at95 && hnsw ? round(m.at95.qps / hnsw, 2) : null,
        vsF32: m.at95 && f32 ? round(m.at95.qps / f32, 2) : null,
        bestRecall: best(m.points),
      }),
    ),
    flat: res.flat.map((f) =>
      makeRow('quant.flat', {
        scan: f.name,
        msPerQuery: round(f.msPerQuery, 3),
        mVectorsPerS: round(f.vectorsPerSecond / 1e6, 1),
        vsF32: round(f.speedupVsF32, 2),
        recall: round(f.recall, 3),
      }),
    ),
  };
  if (res.mmap?.length)
    out.mmap = res.mmap.map((m) =>
      makeRow('quant.mmap', {
        mode: m.name,
        hotMiB: round(m.hotBytes / 2 ** 20, 1),
        vsF32: round(m.hotRatioVsF32, 3),
        qps: round(m.at95?.qps),
        ef: m.at95?.ef ?? null,
        bestRecall: best(m.points),
      }),
    );
  return out;
}

// ---------------------------------------------------------------------------- bench/hybrid.mjs
export function hybridSummary(results, nQueries) {
  const Q = results.quality;
  const T = results.textIndex;
  const ql = (retrieval, x) =>
    makeRow('hybrid.quality', { retrieval, ndcg10: round(x['ndcg@10'], 4), recall100: round(x['recall@100'], 4) });
  const us = (ms) => round(ms * 1000, 1);
  const versions = { 'quiver-search': T.version };
  for (const p of results.peers) if (p.version) versions[p.name.split(' ')[0]] = p.version;
  return {
    benchmark: 'Hybrid and BM25 on BEIR SciFact (bench/hybrid.mjs)',
    command: commandLine(),
    date: new Date().toISOString().slice(0, 10),
    machine: { cpu: results.machine.cpu, cores: results.machine.cpus, node: results.machine.node },
    versions,
    quality: [
      ql('BM25 (TextIndex, default analyzer)', Q.bm25),
      ql('dense (all-MiniLM-L6-v2, exact cosine)', Q.dense),
      ql('hybrid RRF (k = 60)', Q.rrf),
      ql(`hybrid convex, min-max, α = ${Q.convexMinmax.alpha} (tuned on train)`, Q.convexMinmax),
      ql(`hybrid convex, z-score, α = ${Q.convexZscore.alpha} (tuned on train)`, Q.convexZscore),
      ql('hybrid DBSF', Q.dbsf),
      ql(`convex, min-max, α = ${Q.convexDefaultAlpha.alpha} (the Collection default)`, Q.convexDefaultAlpha),
      ...(Q.collectionDefaults
        ? [ql('Collection.search with defaults (HNSW, k = 10; recall at k = 100)', Q.collectionDefaults)]
        : []),
    ],
    engines: [
      makeRow('hybrid.engines', {
        engine: 'quiver TextIndex, Block-Max MaxScore (default)',
        buildMs: round(T.buildMs),
        docsPerS: round(T.docsPerSec),
        p50Us: us(T.bmm.p50Ms),
        p99Us: us(T.bmm.p99Ms),
        vsQuiverP50: 1,
        ndcg10: round(Q.bm25['ndcg@10'], 4),
        digits: { vsQuiverP50: 2 },
      }),
      makeRow('hybrid.engines', {
        engine: 'quiver TextIndex, Block-Max WAND',
        p50Us: us(T.bmw.p50Ms),
        p99Us: us(T.bmw.p99Ms),
        vsQuiverP50: round(T.bmw.p50Ms / T.bmm.p50Ms, 2),
        ndcg10: 'same top-10',
        digits: { vsQuiverP50: 2 },
      }),
      makeRow('hybrid.engines', {
        engine: 'quiver TextIndex, exhaustive scoring',
        p50Us: us(T.exhaustive.p50Ms),
        p99Us: us(T.exhaustive.p99Ms),
        vsQuiverP50: round(T.exhaustive.p50Ms / T.bmm.p50Ms, 2),
        ndcg10: 'same top-10',
        digits: { vsQuiverP50: 2 },
      }),
      ...results.peers
        .filter((p) => !p.error)
        .map((p) =>
          makeRow('hybrid.engines', {
            engine:
              `${p.name} ${p.version ?? ''}${p.queriesRun < nQueries ? ` (${p.queriesRun} queries)` : ''}`.replace(
                / +$/,
                '',
              ),
            buildMs: round(p.buildMs),
            docsPerS: round(p.docsPerSec),
            p50Us: us(p.p50Ms),
            p99Us: us(p.p99Ms),
            vsQuiverP50: round(p.p50Ms / T.bmm.p50Ms, 1),
            ndcg10: round(p.ndcg10, 4),
          }),
        ),
    ],
    collection: {
      docs: results.collection.docs,
      upsertMs: round(results.collection.upsertMs),
      saveMs: round(results.collection.saveMs),
      openMs: round(results.collection.openMs),
      diskMiB: round(results.collection.bytesOnDisk / 2 ** 20, 1),
    },
  };
}

// ---------------------------------------------------------------------------- bench/muvera.mjs
export function muveraSummary(results, { tokenStorage }) {
  const exh = results.exhaustive.msPerQueryMedian;
  const base = {
    benchmark: `MUVERA on SciFact MiniLM token embeddings (bench/muvera.mjs, ${tokenStorage} tokens)`,
    command: commandLine(),
    date: new Date().toISOString().slice(0, 10),
    machine: machine(),
    versions: { 'quiver-search': results.version ?? null },
  };
  if (tokenStorage === 'sq8') {
    const truth = results.truth?.msPerQueryMedian ?? exh;
    const rows = results.configs.flatMap((c) =>
      c.sweep.map((p, i) =>
        makeRow('muvera.sq8', {
          config: c.name,
          kibPerDoc: i === 0 ? round(c.bytesPerDoc.total / 1024, 1) : null,
          candidates: p.candidates,
          recall10: round(p.recall10, 3),
          recall100: round(p.recall100, 3),
          ms: round(p.msMedian, 2),
          encodeMs: round(p.encodeMs, 2),
          searchMs: round(p.searchMs, 2),
          rerankMs: round(p.rerankMs, 2),
          vsExhaustive: round(truth / p.msMedian),
          ndcg10: round(p.ndcg10, 4),
        }),
      ),
    );
    return { ...base, exhaustiveMs: round(exh, 1), truthMs: round(truth, 1), sq8: rows };
  }
  const configs = results.configs.map((c) => {
    const cc = c.candidatesFor.recall10_095;
    const p = c.sweep.find((x) => x.candidates === cc);
    return makeRow('muvera.configs', {
      config: c.name,
      fdeDim: c.outputDim,
      buildS: round(c.buildMs / 1000, 1),
      kibPerDoc: round(c.bytesPerDoc.total / 1024, 1),
      kibFde: round(c.bytesPerDoc.fdeIndex / 1024, 1),
      kibTokens: round(c.bytesPerDoc.tokens / 1024, 1),
      candidates: cc,
      recall10: round(p?.recall10, 3),
      ms: round(p?.msMedian, 2),
      encodeMs: round(p?.encodeMs, 2),
      searchMs: round(p?.searchMs, 2),
      rerankMs: round(p?.rerankMs, 2),
      vsExhaustive: p ? round(exh / p.msMedian, 1) : null,
      candidatesRecall100: round(c.candidatesAtRecall100_090),
      ndcg10: round(p?.ndcg10, 4),
    });
  });
  const out = {
    ...base,
    docs: results.data.docs,
    tokens: results.data.tokens,
    tokenStorage: results.data.tokenStorage,
    queries: results.data.queries,
    exhaustiveMs: round(exh, 1),
    configs,
    sweep: results.configs[0].sweep.map((p) =>
      makeRow('muvera.sweep', {
        candidates: p.candidates,
        recall10: round(p.recall10, 3),
        recall100: round(p.recall100, 3),
        ms: round(p.msMedian, 2),
        ndcg10: round(p.ndcg10, 4),
      }),
    ),
  };
  if (results.heuristic)
    out.heuristic = results.heuristic.sweep.map((p) =>
      makeRow('muvera.heuristic', {
        tokensPerQueryToken: p.tokensPerQueryToken,
        candidates: round(p.candidates),
        recall10: round(p.recall10, 3),
        recall100: round(p.recall100, 3),
        ms: round(p.msMedian, 1),
      }),
    );
  return out;
}

// ---------------------------------------------------------------------------- bench/filter.mjs
/** Workloads at 1 % selectivity: where quiver's 'auto' must be ≥ 10× hnswlib-node's callback filter. */
export const FILTER_ONE_PERCENT = ['kw-1pct', 'and-1pct', 'range-1pct'];

/** One dataset of the filtered-search benchmark: `res` as bench/filter.mjs builds it. */
export function filterDataset(res) {
  const subset = (c) => (c && c.queries < res.nq ? ` [first ${c.queries} queries]` : null);
  const workloads = res.workloads.map((w) => {
    const o = w.ours.chosen;
    const h = w.hnswlib?.chosen;
    const u = w.usearch?.chosen;
    const j = w.js?.chosen;
    return makeRow('filter.workloads', {
      filter: w.id,
      matched: round(w.matchedMean),
      oursQps: round(o.qps),
      oursEf: o.ef,
      oursMiss: !o.reached,
      oursSubset: subset(o),
      oursRecall: round(o.recall, 4),
      oursP99: round(o.p99Ms, 3),
      oursDistances: round(o.distancesPerQuery),
      plans: o.plans,
      hnswlibQps: round(h?.qps),
      hnswlibEf: h?.ef ?? null,
      hnswlibMiss: h ? !h.reached : false,
      hnswlibSubset: subset(h),
      hnswlibRecall: round(h?.recall, 4),
      hnswlibP99: round(h?.p99Ms, 3),
      usearchQps: round(u?.qps),
      usearchEf: u?.ef ?? null,
      usearchMiss: u ? !u.reached : false,
      usearchSubset: subset(u),
      usearchRecall: round(u?.recall, 4),
      jsQps: round(j?.qps),
      jsSubset: subset(j),
      vsHnswlib: h ? round(o.qps / h.qps, 1) : null,
      vsJs: j ? round(o.qps / j.qps, 1) : null,
    });
  });
  const strategies = res.workloads.flatMap((w) => {
    const auto = w.ours.points.find((p) => p.ef === w.ours.chosen.ef);
    return [auto, ...w.ours.forced].map((p) =>
      makeRow('filter.strategies', {
        filter: w.id,
        ef: p.ef,
        strategy: p.strategy,
        plans: p.plans,
        recall: round(p.recall, 4),
        qps: round(p.qps),
        p99: round(p.p99Ms, 3),
        distances: round(p.distancesPerQuery),
        queries: p.queries,
      }),
    );
  });
  const worst = res.workloads.reduce((a, b) => (b.ours.chosen.recall < a.ours.chosen.recall ? b : a));
  const targets = [
    makeRow('filter.targets', {
      measure: "quiver 'auto' recall@10 ≥ 0.95 on every workload",
      target: '≥ 0.95',
      measured: `lowest ${round(worst.ours.chosen.recall, 4).toFixed(4)} (${worst.id})`,
      pass: res.workloads.every((w) => w.ours.chosen.reached),
    }),
    ...res.workloads
      .filter((w) => FILTER_ONE_PERCENT.includes(w.id) && w.hnswlib)
      .map((w) => {
        const o = w.ours.chosen;
        const h = w.hnswlib.chosen;
        const ratio = o.qps / h.qps;
        return makeRow('filter.targets', {
          measure: `${w.id}: quiver auto QPS / hnswlib-node callback QPS, recall@10 ≥ 0.95`,
          target: '≥ 10×',
          measured: h.reached
            ? `${ratio.toFixed(1)}×`
            : `${ratio.toFixed(1)}× (hnswlib-node best recall ${h.recall.toFixed(4)})`,
          pass: o.reached && (!h.reached || ratio >= 10),
        });
      }),
  ];
  return {
    command: commandLine(),
    date: res.date.slice(0, 10),
    wallSeconds: round(res.wallSeconds),
    machine: { cpu: res.machine.cpu, cores: res.machine.cpus, isa: res.isa, node: res.machine.node },
    versions: res.versions,
    n: res.n,
    dim: res.dim,
    metric: res.metric,
    queries: res.nq,
    efs: res.efs.join(', '),
    order: res.order,
    attributesBytesPerVector: round(res.attributesBytesPerVector, 1),
    build: res.build.map((b) =>
      makeRow('filter.build', { engine: b.engine, threads: b.threads, buildS: round(b.buildMs / 1000, 1) }),
    ),
    workloads,
    strategies,
    targets,
  };
}
