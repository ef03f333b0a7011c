#!/usr/bin/env node
// Lexical + hybrid benchmark on BEIR SciFact (../shared/data/beir-scifact):
//
//   node bench/hybrid.mjs [--peers wink,wink-utils,orama,vectra] [--vectra-queries N]
//
// 1. Quality (test split, nDCG@10 / recall@100): BM25 (TextIndex), dense (all-MiniLM-L6-v2
//    vectors prepared by bench/prepare/embed_scifact.py, exact cosine), hybrid RRF (k = 60), and
//    convex combination (min-max) with alpha tuned on the TRAIN split, plus z-score convex and DBSF.
// 2. Speed, same run: TextIndex indexing throughput and query latency p50/p99 (single query, JS
//    thread, analysis included) for Block-Max MaxScore, Block-Max WAND and exhaustive scoring,
//    against the JS BM25 options on npm (bench/lexical-peers.mjs).
// 3. Collection: SciFact (5,183 docs, text + 384-d vector) save and open times.
// Writes bench/results/hybrid.json and prints markdown.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { BENCH_DIR, CACHE_DIR, SHARED_DATA } from './lib/datasets.mjs';
import { loadQuiver } from './lib/peers.mjs';
import { nowMs, median, percentile } from './lib/measure.mjs';
import { writeSummary, hybridSummary } from './lib/summary-json.mjs';
import { runAllPeers, pkgVersion } from './lexical-peers.mjs';

const { values: args } = parseArgs({
  options: {
    peers: { type: 'string', default: 'wink,wink-utils,orama,vectra' },
    'vectra-queries': { type: 'string', default: '5' },
  },
});
const q = await loadQuiver();
if (!q) throw new Error('build first: npm run build');
const log = (...a) => console.error('[hybrid]', ...a);
const DIR = path.join(SHARED_DATA, 'beir-scifact');
const CACHE = path.join(process.env.QUIVER_BENCH_CACHE ?? CACHE_DIR, 'scifact-minilm');
const DIM = 384;

const test = await q.loadBeir(DIR, { split: 'test' });
const train = await q.loadBeir(DIR, { split: 'train' });
const corpus = test.corpus;
const texts = corpus.map((d) => `${d.title} ${d.text}`.trim());
const docKeys = Uint32Array.from({ length: corpus.length }, (_, i) => i);
const readF32 = (f) => {
  const b = fs.readFileSync(path.join(CACHE, f));
  return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
};
const corpusIds = JSON.parse(fs.readFileSync(path.join(CACHE, 'corpus_ids.json'), 'utf8')).map(String);
const queryIds = JSON.parse(fs.readFileSync(path.join(CACHE, 'queries_ids.json'), 'utf8')).map(String);
if (corpusIds.some((id, i) => id !== corpus[i].id))
  throw new Error('corpus order of the embeddings differs from corpus.jsonl');
const corpusVec = readF32('corpus.f32');
const queryVec = readF32('queries.f32');
const qRow = new Map(queryIds.map((id, i) => [id, i]));
const results = { machine: { cpu: os.cpus()[0]?.model, cpus: os.cpus().length, node: process.version } };

// ---------------------------------------------------------------------------- retrieval runs
const text = new q.TextIndex({ threads: 2 });
const t0 = nowMs();
await text.add(docKeys, texts);
const textBuildMs = nowMs() - t0;
const dense = new q.VectorIndex({ dim: DIM, metric: 'cosine', index: 'flat', threads: 2 });
await dense.add(docKeys, corpusVec);

const K = 100;
function runs(split) {
  const bm25 = new Map();
  const vec = new Map();
  for (const qq of split.queries) {
    const r = text.searchSync(qq.text, { k: K });
    bm25.set(qq.id, { keys: r.keys, scores: r.scores });
    const row = qRow.get(qq.id);
    const d = dense.searchSync(queryVec.subarray(row * DIM, (row + 1) * DIM), { k: K });
    vec.set(qq.id, { keys: d.keys, scores: Float32Array.from(d.distances, (x) => 1 - x) });
  }
  return { bm25, vec };
}
const toRun = (m) => Object.fromEntries([...m].map(([id, r]) => [id, Array.from(r.keys, (k) => corpus[k].id)]));
const evalRun = (m, split) => q.evaluate(toRun(m), split.qrels, { metrics: ['ndcg@10', 'recall@100'] }).mean;
function fused(base, method) {
  const out = new Map();
  for (const [id, b] of base.bm25) {
    const v = base.vec.get(id);
    const f = q.fuse([v, b], method, { limit: K });
    out.set(id, { keys: f.keys, scores: f.scores });
  }
  return out;
}

const testRuns = runs(test);
const trainRuns = runs(train);
// Tune alpha (weight of the dense list) on the train split, for min-max and z-score.
const tune = (normalize) => {
  let best = { alpha: 0, ndcg: -1 };
  const curve = [];
  for (let a = 0; a <= 1.0001; a += 0.05) {
    const alpha = Math.round(a * 100) / 100;
    const n = evalRun(fused(trainRuns, { method: 'convex', alpha, normalize }), train)['ndcg@10'];
    curve.push({ alpha, ndcg10: n });
    if (n > best.ndcg) best = { alpha, ndcg: n };
  }
  return { ...best, curve };
};
const tunedMinmax = tune('minmax');
const tunedZ = tune('zscore');
log(
  `alpha tuned on train: minmax ${tunedMinmax.alpha} (train nDCG@10 ${tunedMinmax.ndcg.toFixed(4)}), zscore ${tunedZ.alpha}`,
);
results.quality = {
  bm25: evalRun(testRuns.bm25, test),
  dense: evalRun(testRuns.vec, test),
  rrf: evalRun(fused(testRuns, { method: 'rrf', k: 60 }), test),
  convexMinmax: {
    alpha: tunedMinmax.alpha,
    ...evalRun(fused(testRuns, { method: 'convex', alpha: tunedMinmax.alpha, normalize: 'minmax' }), test),
  },
  convexZscore: {
    alpha: tunedZ.alpha,
    ...evalRun(fused(testRuns, { method: 'convex', alpha: tunedZ.alpha, normalize: 'zscore' }), test),
  },
  dbsf: evalRun(fused(testRuns, { method: 'dbsf' }), test),
  convexDefaultAlpha: {
    alpha: q.DEFAULT_ALPHA,
    ...evalRun(fused(testRuns, { method: 'convex', alpha: q.DEFAULT_ALPHA, normalize: 'minmax' }), test),
  },
  alphaCurveTrain: tunedMinmax.curve,
};
for (const [k, v] of Object.entries(results.quality))
  if (v['ndcg@10'] !== undefined) log(`${k}: nDCG@10 ${v['ndcg@10'].toFixed(4)}`);

// ---------------------------------------------------------------------------- speed
const testQueries = test.queries.map((x) => x.text);
const lat = (strategy) => {
  for (let i = 0; i < 50; i++) text.searchSync(testQueries[i % testQueries.length], { k: 10, strategy });
  const xs = [];
  for (let round = 0; round < 5; round++) {
    for (const qt of testQueries) {
      const a = nowMs();
      text.searchSync(qt, { k: 10, strategy });
      xs.push(nowMs() - a);
    }
  }
  return { p50Ms: median(xs), p99Ms: percentile(xs, 99), meanMs: xs.reduce((a, b) => a + b, 0) / xs.length };
};
// Identical top-10 across strategies.
let mismatches = 0;
for (const qt of testQueries) {
  const a = Array.from(text.searchSync(qt, { k: 10, strategy: 'exhaustive' }).keys).join();
  for (const s of ['bmm', 'bmw'])
    if (Array.from(text.searchSync(qt, { k: 10, strategy: s }).keys).join() !== a) mismatches++;
}
results.textIndex = {
  version: pkgVersion('quiver-search') ?? 'workspace',
  buildMs: textBuildMs,
  docsPerSec: (corpus.length * 1000) / textBuildMs,
  bmm: lat('bmm'),
  bmw: lat('bmw'),
  exhaustive: lat('exhaustive'),
  top10MismatchesVsExhaustive: mismatches,
  memoryBytes: text.memoryUsage(),
};
log(
  `TextIndex: build ${textBuildMs.toFixed(0)} ms; p50 bmm ${results.textIndex.bmm.p50Ms.toFixed(3)} / bmw ${results.textIndex.bmw.p50Ms.toFixed(3)} / exhaustive ${results.textIndex.exhaustive.p50Ms.toFixed(3)} ms; mismatches ${mismatches}`,
);
log('JS peers');
const peerCorpus = corpus.map((d, i) => ({ id: d.id, text: texts[i] }));
const peerQueries = test.queries.map((x) => ({ id: x.id, text: x.text }));
const peers = await runAllPeers(peerCorpus, peerQueries, {
  peers: args.peers.split(','),
  vectraQueries: args['vectra-queries'] === 'all' ? Infinity : Number(args['vectra-queries']),
  k: 10,
});
results.peers = peers.map((p) => {
  if (p.error) return { name: p.name, error: p.error.split('\n')[0] };
  const run = Object.fromEntries([...p.results].map(([id, ks]) => [id, ks.map(String)]));
  const scored =
    Object.keys(run).length === test.queries.length
      ? q.evaluate(run, test.qrels, { metrics: ['ndcg@10'] }).mean['ndcg@10']
      : null;
  return {
    name: p.name,
    version: p.version,
    config: p.config,
    buildMs: p.buildMs,
    docsPerSec: p.docsPerSec,
    p50Ms: p.p50Ms,
    p99Ms: p.p99Ms,
    queriesRun: p.queriesRun,
    ndcg10: scored,
  };
});
for (const p of results.peers)
  log(
    `${p.name}: ${p.error ?? `p50 ${p.p50Ms?.toFixed(3)} ms, build ${p.buildMs?.toFixed(0)} ms, nDCG@10 ${p.ndcg10?.toFixed(4) ?? '—'}`}`,
  );

// ---------------------------------------------------------------------------- collection
{
  const c = new q.Collection({ text: true, vector: { dim: DIM, metric: 'cosine', threads: 2 } });
  const docs = corpus.map((d, i) => ({ id: d.id, text: texts[i], vector: corpusVec.subarray(i * DIM, (i + 1) * DIM) }));
  let a = nowMs();
  await c.upsert(docs);
  const upsertMs = nowMs() - a;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'scifact-coll-'));
  a = nowMs();
  await c.save(dir);
  const saveMs = nowMs() - a;
  a = nowMs();
  const back = await q.Collection.open(dir);
  const openMs = nowMs() - a;
  const row = qRow.get(test.queries[0].id);
  const hits = await back.search({
    text: test.queries[0].text,
    vector: queryVec.subarray(row * DIM, (row + 1) * DIM),
    k: 10,
  });
  // What the default call returns: Collection.search({ text, vector, k }) with nothing else set
  // (HNSW vector index, default fusion and candidate depth), over every test query.
  const defaultRun = async (k) => {
    const run = {};
    for (const qq of test.queries) {
      const r = qRow.get(qq.id);
      const found = await back.search({ text: qq.text, vector: queryVec.subarray(r * DIM, (r + 1) * DIM), k });
      run[qq.id] = found.map((h) => String(h.id));
    }
    return q.evaluate(run, test.qrels, { metrics: ['ndcg@10', 'recall@100'] }).mean;
  };
  results.quality.collectionDefaults = {
    'ndcg@10': (await defaultRun(10))['ndcg@10'],
    'recall@100': (await defaultRun(100))['recall@100'],
  };
  log(`Collection.search defaults: nDCG@10 ${results.quality.collectionDefaults['ndcg@10'].toFixed(4)}`);
  let bytes = 0;
  const walk = (p) =>
    fs.statSync(p).isDirectory()
      ? fs.readdirSync(p).forEach((e) => walk(path.join(p, e)))
      : (bytes += fs.statSync(p).size);
  walk(dir);
  fs.rmSync(dir, { recursive: true, force: true });
  results.collection = { docs: back.size, upsertMs, saveMs, openMs, bytesOnDisk: bytes, firstHit: hits[0]?.id };
  log(
    `Collection: upsert ${upsertMs.toFixed(0)} ms, save ${saveMs.toFixed(0)} ms, open ${openMs.toFixed(0)} ms, ${(bytes / 2 ** 20).toFixed(1)} MiB`,
  );
}

fs.mkdirSync(path.join(BENCH_DIR, 'results'), { recursive: true });
fs.writeFileSync(path.join(BENCH_DIR, 'results', 'hybrid.json'), JSON.stringify(results, null, 2));
writeSummary('hybrid', hybridSummary(results, test.queries.length)); // the figures RESULTS.md shows

// ---------------------------------------------------------------------------- markdown
const f = (x, d = 4) => (x === null || x === undefined ? '—' : Number(x).toFixed(d));
const Q = results.quality;
const L = [];
L.push('| retrieval (SciFact test, 300 queries) | nDCG@10 | recall@100 |');
L.push('|---|---:|---:|');
L.push(`| BM25 (TextIndex, default analyzer) | ${f(Q.bm25['ndcg@10'])} | ${f(Q.bm25['recall@100'])} |`);
L.push(`| dense (all-MiniLM-L6-v2, exact cosine) | ${f(Q.dense['ndcg@10'])} | ${f(Q.dense['recall@100'])} |`);
L.push(`| hybrid RRF (k = 60) | ${f(Q.rrf['ndcg@10'])} | ${f(Q.rrf['recall@100'])} |`);
L.push(
  `| hybrid convex, min-max, α = ${Q.convexMinmax.alpha} (tuned on train) | ${f(Q.convexMinmax['ndcg@10'])} | ${f(Q.convexMinmax['recall@100'])} |`,
);
L.push(
  `| hybrid convex, z-score, α = ${Q.convexZscore.alpha} (tuned on train) | ${f(Q.convexZscore['ndcg@10'])} | ${f(Q.convexZscore['recall@100'])} |`,
);
L.push(`| hybrid DBSF | ${f(Q.dbsf['ndcg@10'])} | ${f(Q.dbsf['recall@100'])} |`);
L.push(
  `| Collection default (convex, min-max, α = ${Q.convexDefaultAlpha.alpha}) | ${f(Q.convexDefaultAlpha['ndcg@10'])} | ${f(Q.convexDefaultAlpha['recall@100'])} |`,
);
L.push('');
const T = results.textIndex;
L.push('| BM25 engine (same run) | index build | docs/s | query p50 | query p99 | × p50 vs quiver (BMM) | nDCG@10 |');
L.push('|---|---:|---:|---:|---:|---:|---:|');
L.push(
  `| quiver TextIndex, Block-Max MaxScore (default) | ${f(T.buildMs, 0)} ms | ${f(T.docsPerSec, 0)} | ${f(T.bmm.p50Ms * 1000, 1)} µs | ${f(T.bmm.p99Ms * 1000, 1)} µs | 1.00 | ${f(Q.bm25['ndcg@10'])} |`,
);
L.push(
  `| quiver TextIndex, Block-Max WAND | | | ${f(T.bmw.p50Ms * 1000, 1)} µs | ${f(T.bmw.p99Ms * 1000, 1)} µs | ${f(T.bmw.p50Ms / T.bmm.p50Ms, 2)} | same top-10 |`,
);
L.push(
  `| quiver TextIndex, exhaustive scoring | | | ${f(T.exhaustive.p50Ms * 1000, 1)} µs | ${f(T.exhaustive.p99Ms * 1000, 1)} µs | ${f(T.exhaustive.p50Ms / T.bmm.p50Ms, 2)} | same top-10 |`,
);
for (const p of results.peers) {
  if (p.error) L.push(`| ${p.name} | failed: ${p.error} | | | | | |`);
  else
    L.push(
      `| ${p.name} ${p.version ?? ''}${p.queriesRun < test.queries.length ? ` (${p.queriesRun} queries)` : ''} | ${f(p.buildMs, 0)} ms | ${f(p.docsPerSec, 0)} | ${f(p.p50Ms * 1000, 1)} µs | ${f(p.p99Ms * 1000, 1)} µs | ${f(p.p50Ms / T.bmm.p50Ms, 1)} | ${f(p.ndcg10)} |`,
    );
}
L.push('');
const C = results.collection;
L.push(
  `Collection of SciFact (${C.docs} docs, text + 384-d vector): upsert ${f(C.upsertMs, 0)} ms, save ${f(C.saveMs, 0)} ms, open ${f(C.openMs, 0)} ms, ${f(C.bytesOnDisk / 2 ** 20, 1)} MiB on disk.`,
);
console.log(L.join('\n'));
