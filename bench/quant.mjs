#!/usr/bin/env node
// Quantization benchmark: every quantization mode of quiver-search against f32 quiver,
// hnswlib-node and usearch, in the same run.
//
//   node bench/quant.mjs [--dataset fashion-mnist,synthetic,scifact] [--queries N] [--modes a,b]
//                        [--quick]
//
// Per dataset and mode: build time, training time (explicit train() after the build, which
// also encodes every vector), bytes per vector (codes + graph + keys, and f32 originals),
// single-thread recall@10 / QPS over an ef sweep (searchSync on the JS thread, one query at a
// time), and QPS at recall@10 >= 0.95 (the first sweep point that reaches it: no interpolation).
// Flat scans: f32 vs quantized exhaustive scans at equal candidate count (every vector), the
// fast-scan bar. For SciFact sentences (MiniLM), a 1-bit mode with originals memory-mapped from
// the saved file: hot memory vs the f32 index.
//
// Data: Fashion-MNIST and the synthetic set come from bench/lib/datasets.mjs (as bench/run.mjs);
// SciFact sentence vectors from bench/prepare (run `bench/prepare/embed_scifact.py` first; cached
// in $QUIVER_BENCH_CACHE or bench/.cache). Writes bench/results/quant-<dataset>.json and prints
// markdown tables.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { BENCH_DIR, CACHE_DIR, prepareDataset, loadDataset } from './lib/datasets.mjs';
import { createAdapter, loadQuiver, packageVersion } from './lib/peers.mjs';
import { nowMs, gc } from './lib/measure.mjs';
import { writeSummary, quantDataset } from './lib/summary-json.mjs';

const { values: args } = parseArgs({
  options: {
    dataset: { type: 'string', default: 'fashion-mnist,synthetic,scifact' },
    queries: { type: 'string' },
    modes: { type: 'string' },
    quick: { type: 'boolean', default: false },
  },
});
const QUICK = args.quick;
const K = 10;
const EFS = [10, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512];
const MIN_SECONDS = QUICK ? 0.1 : 0.6;
const BENCH_CACHE = process.env.QUIVER_BENCH_CACHE ?? CACHE_DIR;

const q = await loadQuiver();
if (!q) throw new Error('build first: npm run build');

/** Modes: peers, f32 quiver, and every quantizer (m for PQ chosen per dataset). */
function modesFor(dim) {
  const all = [
    { name: 'hnswlib-node', peer: 'hnswlib' },
    { name: 'usearch', peer: 'usearch' },
    { name: 'quiver f32', quantization: { type: 'none' } },
    { name: 'quiver sq8', quantization: { type: 'sq8' } },
    { name: 'quiver rabitq', quantization: { type: 'rabitq' } },
    { name: 'quiver binary (4-bit query)', quantization: { type: 'binary', queryBits: 4 } },
    { name: 'quiver binary (1-bit query)', quantization: { type: 'binary', queryBits: 1 } },
    { name: `quiver pq8 m=${dim / 8}`, quantization: { type: 'pq', m: dim / 8, nbits: 8 } },
    { name: `quiver pq4 m=${dim / 4}`, quantization: { type: 'pq', m: dim / 4, nbits: 4 } },
  ];
  if (!args.modes) return all;
  const want = args.modes.split(',');
  return all.filter((m) => want.some((w) => m.name.includes(w)));
}

function log(...a) {
  console.error('[quant]', ...a);
}

/** SciFact: 45,952 MiniLM sentence vectors as the base, the 1,109 query vectors as queries. */
async function loadScifact(nQuery) {
  const dir = path.join(BENCH_CACHE, 'scifact-minilm');
  const manifest = JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8'));
  const read = (f) => {
    const b = fs.readFileSync(path.join(dir, f));
    return new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4).slice();
  };
  const dim = 384;
  const base = read('sentences.f32');
  let queries = read('queries.f32');
  const nq = Math.min(nQuery, queries.length / dim);
  queries = queries.slice(0, nq * dim);
  const n = base.length / dim;
  // Exact ground truth with our flat index (SIMD brute force, cosine).
  const flat = new q.VectorIndex({ dim, metric: 'cosine', index: 'flat', threads: 2 });
  const keys = Uint32Array.from({ length: n }, (_, i) => i);
  await flat.add(keys, base);
  const r = await flat.searchBatch(queries, { k: K });
  return {
    name: 'scifact',
    base,
    queries,
    gt: Int32Array.from(r.keys),
    gtK: K,
    dim,
    n,
    nq,
    metric: 'cosine',
    manifest,
  };
}

async function loadData(name) {
  if (name === 'scifact') return loadScifact(Number(args.queries ?? 1109));
  const spec = await prepareDataset(name, { quick: QUICK, nQuery: args.queries ? Number(args.queries) : undefined });
  const d = loadDataset(spec);
  return { name, ...d };
}

function recallAt(ids, gt, gtK, qi) {
  const truth = new Set();
  for (let j = 0; j < K; j++) truth.add(gt[qi * gtK + j]);
  let hit = 0;
  for (let j = 0; j < Math.min(K, ids.length); j++) if (truth.has(Number(ids[j]))) hit++;
  return hit / K;
}

/** Single-thread sweep: recall@10 and QPS per ef until recall stops mattering. */
async function sweep(setEf, search, resultIds, d) {
  const points = [];
  for (const ef of EFS) {
    await setEf(ef);
    let rsum = 0;
    for (let i = 0; i < d.nq; i++) rsum += recallAt(resultIds(search(i)), d.gt, d.gtK, i);
    const recall = rsum / d.nq;
    // timed loop: whole passes over the queries for at least MIN_SECONDS
    let done = 0;
    const t0 = nowMs();
    let el = 0;
    while (el < MIN_SECONDS * 1000) {
      for (let i = 0; i < d.nq; i++) search(i);
      done += d.nq;
      el = nowMs() - t0;
    }
    points.push({ ef, recall, qps: (done * 1000) / el });
    if (recall >= 0.995) break;
  }
  return points;
}

function qpsAt(points, target = 0.95) {
  const p = points.find((x) => x.recall >= target);
  return p ? { qps: p.qps, ef: p.ef, recall: p.recall } : null;
}

async function runPeer(mode, d) {
  const tmpDir = fs.mkdtempSync(path.join(os.tmpdir(), 'quant-bench-'));
  const a = await createAdapter(mode.peer, { dim: d.dim, metric: d.metric, n: d.n, threads: 2, tmpDir });
  const keys = Uint32Array.from({ length: d.n }, (_, i) => i);
  const t0 = nowMs();
  await a.build(keys, d.base);
  const buildMs = nowMs() - t0;
  a.prepareQueries(d.queries, d.nq);
  const s = { k: K };
  let searcher = null;
  const points = await sweep(
    async (ef) => {
      await a.setEf(ef);
      searcher = a.searcher(K);
    },
    (i) => searcher(i),
    (r) => a.resultIds(r),
    d,
  );
  void s;
  a.dispose();
  fs.rmSync(tmpDir, { recursive: true, force: true });
  return {
    name: mode.name,
    version: packageVersion(mode.peer === 'hnswlib' ? 'hnswlib-node' : 'usearch'),
    buildMs,
    points,
    at95: qpsAt(points),
  };
}

async function runOurs(mode, d) {
  // Training is explicit (below): the automatic one must not start during the build.
  const quantization =
    mode.quantization.type === 'none'
      ? mode.quantization
      : { ...mode.quantization, trainingSize: Math.max(d.n, 1) + 1 };
  const opts = { dim: d.dim, metric: d.metric, m: 16, efConstruction: 200, threads: 2, quantization };
  const index = new q.VectorIndex(opts);
  const keys = Uint32Array.from({ length: d.n }, (_, i) => i);
  const t0 = nowMs();
  await index.add(keys, d.base);
  const buildMs = nowMs() - t0;
  let trainMs = null;
  if (quantization.type !== 'none') {
    // Train on the default sample size for this mode (documented default), then encode all.
    const trainN = Math.min(d.n, quantization.type === 'pq' ? (quantization.nbits === 4 ? 4096 : 25600) : 10000);
    const t1 = nowMs();
    await index.train(d.base.subarray(0, trainN * d.dim));
    trainMs = nowMs() - t1;
  }
  gc();
  const mem = index.memoryUsage();
  const qv = Array.from({ length: d.nq }, (_, i) => d.queries.subarray(i * d.dim, (i + 1) * d.dim));
  let opt = { k: K, ef: 64 };
  const points = await sweep(
    async (ef) => {
      opt = { k: K, ef };
    },
    (i) => index.searchSync(qv[i], opt),
    (r) => r.keys,
    d,
  );
  return {
    name: mode.name,
    options: opts,
    buildMs,
    trainMs,
    bytesPerVector: {
      hot: (mem.codes + mem.graph + mem.keys) / d.n,
      codes: mem.codes / d.n,
      graph: mem.graph / d.n,
      originals: mem.originals / d.n,
    },
    memory: mem,
    points,
    at95: qpsAt(points),
    index,
  };
}

/** Exhaustive scans: f32 flat vs quantized flat without rerank, every vector a candidate. */
async function flatScans(d) {
  const out = [];
  const keys = Uint32Array.from({ length: d.n }, (_, i) => i);
  const nq = Math.min(d.nq, QUICK ? 50 : 200);
  const qv = Array.from({ length: nq }, (_, i) => d.queries.subarray(i * d.dim, (i + 1) * d.dim));
  const variants = [
    { name: 'f32', quantization: { type: 'none' } },
    { name: 'sq8', quantization: { type: 'sq8', rerank: 'none', oversample: 1 } },
    {
      name: `pq8 m=${d.dim / 8} (ADC)`,
      quantization: { type: 'pq', m: d.dim / 8, nbits: 8, rerank: 'none', oversample: 1 },
    },
    {
      name: `pq4 m=${d.dim / 4} (fast-scan)`,
      quantization: { type: 'pq', m: d.dim / 4, nbits: 4, rerank: 'none', oversample: 1 },
    },
    {
      name: `pq4 m=${d.dim / 4} (fast-scan) + rerank`,
      quantization: { type: 'pq', m: d.dim / 4, nbits: 4, rerank: 'exact', oversample: 10 },
    },
  ];
  for (const v of variants) {
    // One thread: a large 4-bit fast-scan would otherwise split each query over the pool, and
    // this table compares single-thread scans.
    const idx = new q.VectorIndex({
      dim: d.dim,
      metric: d.metric,
      index: 'flat',
      threads: 1,
      quantization:
        v.quantization.type === 'none' ? v.quantization : { ...v.quantization, trainingSize: Math.min(d.n, 20000) },
    });
    await idx.add(keys, d.base);
    let rsum = 0;
    for (let i = 0; i < nq; i++) rsum += recallAt(idx.searchSync(qv[i], { k: K, ef: K }).keys, d.gt, d.gtK, i);
    let done = 0;
    const t0 = nowMs();
    let el = 0;
    while (el < MIN_SECONDS * 1000) {
      for (let i = 0; i < nq; i++) idx.searchSync(qv[i], { k: K, ef: K });
      done += nq;
      el = nowMs() - t0;
    }
    const ms = el / done;
    out.push({ name: v.name, msPerQuery: ms, vectorsPerSecond: (d.n * 1000) / ms, recall: rsum / nq });
  }
  const f32 = out[0].msPerQuery;
  for (const o of out) o.speedupVsF32 = f32 / o.msPerQuery;
  return out;
}

/** 1-bit codes in RAM, originals served from the saved file (mmap), exact rerank. */
async function mmapOriginals(d, f32Total) {
  const out = [];
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'quant-mmap-'));
  for (const quantization of [
    { type: 'rabitq', oversample: 5 },
    { type: 'binary', queryBits: 4, oversample: 10 },
  ]) {
    const idx = new q.VectorIndex({
      dim: d.dim,
      metric: d.metric,
      threads: 2,
      originals: 'mmap',
      quantization: { ...quantization, trainingSize: 10000 },
    });
    await idx.add(
      Uint32Array.from({ length: d.n }, (_, i) => i),
      d.base,
    );
    const file = path.join(dir, `${quantization.type}.qvr`);
    await idx.save(file);
    const back = await q.VectorIndex.load(file);
    const mem = back.memoryUsage();
    const qv = Array.from({ length: d.nq }, (_, i) => d.queries.subarray(i * d.dim, (i + 1) * d.dim));
    let opt = { k: K, ef: 64 };
    const points = await sweep(
      async (ef) => {
        opt = { k: K, ef };
      },
      (i) => back.searchSync(qv[i], opt),
      (r) => r.keys,
      d,
    );
    out.push({
      name: `${quantization.type}${quantization.queryBits ? ` q${quantization.queryBits}` : ''}, originals: mmap`,
      hotBytes: mem.total,
      hotRatioVsF32: mem.total / f32Total,
      memory: mem,
      fileBytes: fs.statSync(file).size,
      points,
      at95: qpsAt(points),
    });
  }
  fs.rmSync(dir, { recursive: true, force: true });
  return out;
}

const fmt = (x, digits = 0) =>
  x === null || x === undefined
    ? '—'
    : Number(x).toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });

function markdown(res) {
  const lines = [];
  lines.push(`### ${res.dataset} (${res.n.toLocaleString('en-US')} × ${res.dim}, ${res.metric}, ${res.nq} queries)`);
  lines.push('');
  const hnsw = res.modes.find((m) => m.name === 'hnswlib-node')?.at95?.qps;
  const f32 = res.modes.find((m) => m.name === 'quiver f32')?.at95?.qps;
  lines.push(
    '| mode | bytes/vector hot (codes + graph + keys) | bytes/vector originals | build s | train s | QPS @ recall≥0.95 (ef) | × hnswlib-node | × quiver f32 | best recall@10 |',
  );
  lines.push('|---|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const m of res.modes) {
    const a = m.at95;
    const best = Math.max(...m.points.map((p) => p.recall));
    lines.push(
      `| ${m.name} | ${m.bytesPerVector ? fmt(m.bytesPerVector.hot) : '—'} | ${m.bytesPerVector ? fmt(m.bytesPerVector.originals) : '—'} | ${fmt(m.buildMs / 1000, 1)} | ${m.trainMs == null ? '—' : fmt(m.trainMs / 1000, 2)} | ${a ? `${fmt(a.qps)} (${a.ef})` : 'not reached'} | ${a && hnsw ? fmt(a.qps / hnsw, 2) : '—'} | ${a && f32 ? fmt(a.qps / f32, 2) : '—'} | ${fmt(best, 3)} |`,
    );
  }
  lines.push('');
  lines.push('Flat (exhaustive) scans, every vector a candidate, one thread:');
  lines.push('');
  lines.push('| scan | ms/query | vectors/s | × f32 flat | recall@10 |');
  lines.push('|---|---:|---:|---:|---:|');
  for (const f of res.flat)
    lines.push(
      `| ${f.name} | ${fmt(f.msPerQuery, 3)} | ${fmt(f.vectorsPerSecond / 1e6, 1)} M | ${fmt(f.speedupVsF32, 2)} | ${fmt(f.recall, 3)} |`,
    );
  if (res.mmap?.length) {
    lines.push('');
    lines.push('1-bit codes with originals memory-mapped from the saved index (loaded, exact rerank):');
    lines.push('');
    lines.push(
      '| mode | hot memory (codes + graph + keys) | × f32 index memory | QPS @ recall≥0.95 (ef) | best recall@10 |',
    );
    lines.push('|---|---:|---:|---:|---:|');
    for (const m of res.mmap) {
      const best = Math.max(...m.points.map((p) => p.recall));
      lines.push(
        `| ${m.name} | ${fmt(m.hotBytes / 2 ** 20, 1)} MiB | ${fmt(m.hotRatioVsF32, 3)} | ${m.at95 ? `${fmt(m.at95.qps)} (${m.at95.ef})` : 'not reached'} | ${fmt(best, 3)} |`,
      );
    }
  }
  return lines.join('\n');
}

const datasets = args.dataset.split(',');
const resultsDir = path.join(BENCH_DIR, 'results');
fs.mkdirSync(resultsDir, { recursive: true });
for (const name of datasets) {
  log(`dataset ${name}`);
  const d = await loadData(name);
  const res = {
    dataset: name,
    n: d.n,
    dim: d.dim,
    metric: d.metric,
    nq: d.nq,
    machine: { cpu: os.cpus()[0]?.model?.trim(), cpus: os.cpus().length, node: process.version },
    versions: {
      'quiver-search': packageVersion('quiver-search'),
      'hnswlib-node': packageVersion('hnswlib-node'),
      usearch: packageVersion('usearch'),
    },
    modes: [],
    flat: [],
    mmap: [],
  };
  let f32Total = null;
  for (const mode of modesFor(d.dim)) {
    log(`  ${mode.name}`);
    gc();
    const r = mode.peer ? await runPeer(mode, d) : await runOurs(mode, d);
    if (r.index) {
      if (mode.quantization.type === 'none') f32Total = r.memory.total;
      delete r.index;
    }
    const a = r.at95;
    log(
      `    build ${(r.buildMs / 1000).toFixed(1)} s${r.trainMs != null ? `, train ${(r.trainMs / 1000).toFixed(2)} s` : ''}; qps@0.95 ${a ? `${a.qps.toFixed(0)} (ef ${a.ef})` : 'n/a'}`,
    );
    res.modes.push(r);
  }
  log('  flat scans');
  res.flat = await flatScans(d);
  if (name === 'scifact' && f32Total) {
    log('  mmap originals');
    res.mmap = await mmapOriginals(d, f32Total);
  }
  const file = path.join(resultsDir, `quant-${name}${QUICK ? '-quick' : ''}.json`);
  fs.writeFileSync(file, JSON.stringify(res, null, 2));
  // The figures RESULTS.md shows; a run of every mode updates bench/summaries/quant.json.
  writeSummary('quant', { [name]: quantDataset(res, q.capabilities().isa) }, { quick: QUICK || !!args.modes });
  console.log(markdown(res));
  console.log('');
}
