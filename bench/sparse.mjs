#!/usr/bin/env node
// Learned sparse retrieval benchmark: SparseIndex against exhaustive scoring and a plain-JS
// Map-of-postings scorer, in the same run.
//
//   npm run bench:sparse [-- --n 1000000 --queries 100 --dataset synthetic,scifact]
//
// 1. Synthetic (default 1M documents): SPLADE-like statistics: ~120 non-zeros per document,
//    ~50 per query, term ids Zipf-distributed over a 30,522-token vocabulary, positive
//    log-normal weights. Single-query latency p50/p99 (searchSync, one thread) of MaxScore,
//    WAND, exhaustive scoring and the approximate strategy, and of the JS scorer; every exact
//    strategy's top-k is checked against exhaustive scoring (identical keys and scores), the
//    approximate one's recall@10 against it; bytes per posting.
// 2. SciFact (BEIR): documents and queries encoded by SPLADE-tiny (bench/prepare/
//    splade_scifact.py writes bench/.cache/scifact-splade.bin). nDCG@10 / recall@100 of sparse
//    alone and fused with BM25 (TextIndex) and MiniLM dense vectors (bench/prepare/
//    embed_scifact.py), RRF k = 60, next to BM25 / dense / BM25+dense in the same run; the same
//    exactness check and latencies.
// Writes bench/results/sparse.json and the summary bench/summaries/sparse.json.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { BENCH_DIR, CACHE_DIR, SHARED_DATA } from './lib/datasets.mjs';
import { loadQuiver } from './lib/peers.mjs';
import { nowMs, percentile } from './lib/measure.mjs';
import { commandLine, machine, round, writeSummary } from './lib/summary-json.mjs';

const { values: args } = parseArgs({
  options: {
    n: { type: 'string', default: '1000000' },
    queries: { type: 'string', default: '100' },
    'js-queries': { type: 'string', default: '50' },
    dataset: { type: 'string', default: 'synthetic,scifact' },
    k: { type: 'string', default: '10' },
    quick: { type: 'boolean', default: false },
  },
});
const q = await loadQuiver();
if (!q) throw new Error('build first: npm run build');
const log = (...a) => console.error('[sparse]', ...a);
const K = Number(args.k);
const QUICK = args.quick;
const datasets = args.dataset.split(',');
const STRATEGIES = ['maxscore', 'wand', 'exhaustive', 'approximate'];
const summary = {};
const raw = {};
const PKG = JSON.parse(fs.readFileSync(path.join(BENCH_DIR, '..', 'package.json'), 'utf8'));
const versions = { 'quiver-search': PKG.version };

/** A small seeded PRNG (mulberry32). */
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

/** Sparse vectors in CSR, with Zipf term ids (exponent 1.1) and log-normal weights. */
function synthetic(n, nnz, vocab, seed) {
  const rnd = rng(seed);
  const cdf = new Float64Array(vocab);
  let acc = 0;
  for (let t = 0; t < vocab; t++) cdf[t] = acc += 1 / Math.pow(t + 10, 1.1);
  for (let t = 0; t < vocab; t++) cdf[t] /= acc;
  const draw = () => {
    const u = rnd();
    let lo = 0;
    let hi = vocab - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (cdf[mid] < u) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
  const gauss = () => Math.sqrt(-2 * Math.log(1 - rnd())) * Math.cos(2 * Math.PI * rnd());
  const indptr = new Uint32Array(n + 1);
  const indices = new Uint32Array(Math.ceil(n * nnz * 1.3));
  const values = new Float32Array(indices.length);
  const mark = new Int32Array(vocab).fill(-1);
  let at = 0;
  const row = [];
  for (let i = 0; i < n; i++) {
    const len = Math.max(1, Math.round(nnz * (0.6 + 0.8 * rnd())));
    row.length = 0;
    for (let tries = 0; row.length < len && tries < len * 20; tries++) {
      const t = draw();
      if (mark[t] !== i) {
        mark[t] = i;
        row.push(t);
      }
    }
    row.sort((a, b) => a - b);
    for (const t of row) {
      indices[at] = t;
      values[at] = Math.exp(0.6 * gauss()) * 0.5;
      at++;
    }
    indptr[i + 1] = at;
  }
  return { indptr, indices: indices.subarray(0, at), values: values.subarray(0, at) };
}

const rowOf = (csr, i) => ({
  indices: csr.indices.subarray(csr.indptr[i], csr.indptr[i + 1]),
  values: csr.values.subarray(csr.indptr[i], csr.indptr[i + 1]),
});

/** The JS baseline: a Map from term to its postings, scored term at a time into an accumulator. */
function jsIndex(csr, n) {
  const counts = new Map();
  for (let j = 0; j < csr.indptr[n]; j++) counts.set(csr.indices[j], (counts.get(csr.indices[j]) ?? 0) + 1);
  const postings = new Map();
  for (const [t, c] of counts) postings.set(t, { docs: new Uint32Array(c), w: new Float32Array(c), len: 0 });
  for (let i = 0; i < n; i++) {
    for (let j = csr.indptr[i]; j < csr.indptr[i + 1]; j++) {
      const p = postings.get(csr.indices[j]);
      p.docs[p.len] = i;
      p.w[p.len++] = csr.values[j];
    }
  }
  const acc = new Float64Array(n);
  const touched = new Uint32Array(n);
  return (query, k) => {
    let m = 0;
    for (let a = 0; a < query.indices.length; a++) {
      const p = postings.get(query.indices[a]);
      if (p === undefined) continue;
      const qw = query.values[a];
      for (let b = 0; b < p.len; b++) {
        const d = p.docs[b];
        if (acc[d] === 0) touched[m++] = d;
        acc[d] += qw * p.w[b];
      }
    }
    const top = [];
    for (let i = 0; i < m; i++) {
      const d = touched[i];
      const s = acc[d];
      acc[d] = 0;
      if (top.length < k) {
        top.push([s, d]);
        if (top.length === k) top.sort((x, y) => y[0] - x[0] || x[1] - y[1]);
      } else if (s > top[k - 1][0] || (s === top[k - 1][0] && d < top[k - 1][1])) {
        top[k - 1] = [s, d];
        top.sort((x, y) => y[0] - x[0] || x[1] - y[1]);
      }
    }
    if (top.length < k) top.sort((x, y) => y[0] - x[0] || x[1] - y[1]);
    return top;
  };
}

function latencies(fn, nq) {
  const ms = [];
  for (let i = 0; i < nq; i++) {
    const t = nowMs();
    fn(i);
    ms.push(nowMs() - t);
  }
  return { p50: percentile(ms, 50), p99: percentile(ms, 99), mean: ms.reduce((a, b) => a + b, 0) / ms.length };
}

/** Builds the index, times every strategy and checks each against exhaustive scoring. */
async function measure(name, docs, n, queries, nq) {
  const index = new q.SparseIndex({ threads: 2 });
  const t0 = nowMs();
  const keys = Uint32Array.from({ length: n }, (_, i) => i);
  const step = 50_000;
  for (let s = 0; s < n; s += step) {
    const e = Math.min(n, s + step);
    const base = docs.indptr[s];
    const indptr = Uint32Array.from(docs.indptr.subarray(s, e + 1), (x) => x - base);
    await index.add(keys.subarray(s, e), {
      indptr,
      indices: docs.indices.subarray(base, docs.indptr[e]),
      values: docs.values.subarray(base, docs.indptr[e]),
    });
  }
  const buildS = (nowMs() - t0) / 1000;
  const postings = docs.indptr[n];
  const mem = index.memoryUsage();
  log(`${name}: ${n} docs, ${postings} postings, built in ${buildS.toFixed(1)} s, ${mem.total} bytes`);
  const results = {};
  const lists = {};
  for (const strategy of STRATEGIES) {
    lists[strategy] = [];
    results[strategy] = latencies((i) => {
      lists[strategy].push(index.searchSync(rowOf(queries, i), { k: K, strategy }));
    }, nq);
    log(`${name} ${strategy}: p50 ${results[strategy].p50.toFixed(3)} ms, p99 ${results[strategy].p99.toFixed(3)} ms`);
  }
  let mismatches = 0;
  for (const strategy of ['maxscore', 'wand']) {
    for (let i = 0; i < nq; i++) {
      const a = lists[strategy][i];
      const b = lists.exhaustive[i];
      const same =
        a.keys.length === b.keys.length &&
        a.keys.every((key, j) => key === b.keys[j]) &&
        a.scores.every((s, j) => Object.is(s, b.scores[j]));
      if (!same) mismatches++;
    }
  }
  // The approximate strategy: recall@k of its keys against the exact top-k; its scores are
  // checked to be the exact ones of the keys it returns.
  let found = 0;
  let total = 0;
  let wrongScores = 0;
  for (let i = 0; i < nq; i++) {
    const a = lists.approximate[i];
    const want = lists.exhaustive[i];
    const exact = new Map(Array.from(want.keys, (key, j) => [key, want.scores[j]]));
    total += want.keys.length;
    a.keys.forEach((key, j) => {
      if (!exact.has(key)) return;
      found++;
      if (!Object.is(exact.get(key), a.scores[j])) wrongScores++;
    });
  }
  const approxRecall = total === 0 ? 1 : found / total;
  log(`${name} approximate: recall@${K} ${approxRecall.toFixed(4)}, ${wrongScores} inexact scores`);
  return { index, buildS, postings, mem, results, lists, mismatches, approxRecall, wrongScores };
}

// ----------------------------------------------------------------------------- synthetic
if (datasets.includes('synthetic')) {
  const n = QUICK ? 50_000 : Number(args.n);
  const nq = QUICK ? 20 : Number(args.queries);
  const vocab = 30522;
  log(`synthetic: generating ${n} documents…`);
  const docs = synthetic(n, 120, vocab, 1);
  const queries = synthetic(nq, 50, vocab, 2);
  const m = await measure('synthetic', docs, n, queries, nq);
  const jsq = Math.min(nq, QUICK ? 10 : Number(args['js-queries']));
  log(`synthetic: JS Map-of-postings scorer on ${jsq} queries…`);
  const tj = nowMs();
  const js = jsIndex(docs, n);
  const jsBuildS = (nowMs() - tj) / 1000;
  let jsAgree = 0;
  const jsLat = latencies((i) => {
    const top = js(rowOf(queries, i), K);
    const want = m.lists.exhaustive[i].keys;
    if (top.length === want.length && top.every(([, d], j) => d === want[j])) jsAgree++;
  }, jsq);
  const ex = m.results.exhaustive;
  const ms = m.results.maxscore;
  raw.synthetic = { ...m, index: undefined, lists: undefined, jsLat, jsBuildS, jsAgree, jsq };
  summary.synthetic = {
    command: commandLine(),
    date: new Date().toISOString().slice(0, 10),
    machine: machine(),
    versions,
    dataset: {
      docs: n,
      queries: nq,
      vocab,
      postings: m.postings,
      nnzPerDoc: round(m.postings / n, 1),
      nnzPerQuery: round(queries.indptr[nq] / nq, 1),
    },
    buildS: round(m.buildS, 1),
    bytesPerPosting: round(m.mem.total / m.postings, 2),
    strategies: Object.fromEntries(
      STRATEGIES.map((s) => [s, { p50Ms: round(m.results[s].p50, 3), p99Ms: round(m.results[s].p99, 3) }]),
    ),
    js: {
      p50Ms: round(jsLat.p50, 2),
      p99Ms: round(jsLat.p99, 2),
      queries: jsq,
      agreeTopK: jsAgree,
      buildS: round(jsBuildS, 1),
    },
    maxscoreVsExhaustive: round(ex.mean / ms.mean, 1),
    maxscoreVsJs: round(jsLat.mean / ms.mean, 1),
    mismatches: m.mismatches,
    approximate: {
      recall10: round(m.approxRecall, 4),
      inexactScores: m.wrongScores,
      vsMaxscore: round(ms.mean / m.results.approximate.mean, 1),
      vsJs: round(jsLat.mean / m.results.approximate.mean, 1),
    },
  };
  log(
    `synthetic: MaxScore ${summary.synthetic.maxscoreVsExhaustive}× exhaustive, ${summary.synthetic.maxscoreVsJs}× JS; ${m.mismatches} mismatches`,
  );
  m.index.close();
}

// ----------------------------------------------------------------------------- SciFact
/** Reads bench/.cache/scifact-splade.bin (format: bench/prepare/splade_scifact.py). */
function readSplade(file) {
  const b = fs.readFileSync(file);
  let at = 0;
  const u32 = () => {
    const v = b.readUInt32LE(at);
    at += 4;
    return v;
  };
  if (b.toString('latin1', 0, 4) !== 'QSPL') throw new Error(`${file}: not a QSPL file`);
  at = 4;
  const version = u32();
  if (version !== 1) throw new Error(`${file}: version ${version}`);
  const part = () => {
    const count = u32();
    const vocab = u32();
    const view = (Ctor, len) => {
      const out = new Ctor(len);
      Buffer.from(out.buffer).set(b.subarray(at, at + len * 4));
      at += len * 4;
      return out;
    };
    const indptr = view(Uint32Array, count + 1);
    const nnz = indptr[count];
    const indices = view(Uint32Array, nnz);
    const values = view(Float32Array, nnz);
    return { count, vocab, indptr, indices, values };
  };
  const docs = part();
  const queries = part();
  const idsLen = u32();
  const ids = JSON.parse(b.toString('utf8', at, at + idsLen));
  return { docs, queries, docIds: ids.doc_ids, queryIds: ids.query_ids, meta: ids.meta };
}

if (datasets.includes('scifact')) {
  const file = path.join(process.env.QUIVER_BENCH_CACHE ?? CACHE_DIR, 'scifact-splade.bin');
  if (!SHARED_DATA || !fs.existsSync(file)) {
    log(`scifact: skipped (needs QUIVER_SHARED_DATA and ${file}: python3 bench/prepare/splade_scifact.py)`);
  } else {
    const sp = readSplade(file);
    const dir = path.join(SHARED_DATA, 'beir-scifact');
    const test = await q.loadBeir(dir, { split: 'test' });
    const corpus = test.corpus;
    const docRow = new Map(sp.docIds.map((id, i) => [String(id), i]));
    const qRow = new Map(sp.queryIds.map((id, i) => [String(id), i]));
    if (corpus.some((d) => !docRow.has(d.id))) throw new Error('scifact-splade.bin lacks corpus documents');
    const n = sp.docs.count;
    const tq = test.queries.filter((x) => qRow.has(x.id));
    // Queries in test order, as one CSR.
    const qi = [0];
    const qidx = [];
    const qval = [];
    for (const x of tq) {
      const r = rowOf(sp.queries, qRow.get(x.id));
      qidx.push(...r.indices);
      qval.push(...r.values);
      qi.push(qidx.length);
    }
    const queries = { indptr: Uint32Array.from(qi), indices: Uint32Array.from(qidx), values: Float32Array.from(qval) };
    const m = await measure('scifact', sp.docs, n, queries, tq.length);
    // Quality: sparse alone and fused (RRF k = 60) with BM25 and MiniLM, top 100 per retriever.
    const K100 = 100;
    const sparseRun = new Map();
    tq.forEach((x, i) => {
      const r = m.index.searchSync(rowOf(queries, i), { k: K100 });
      sparseRun.set(x.id, { keys: r.keys, scores: r.scores });
    });
    const texts = corpus.map((d) => `${d.title} ${d.text}`.trim());
    const text = new q.TextIndex({ threads: 2 });
    // Keys are the rows of the sparse file, so the three retrievers share one id space.
    await text.add(
      Uint32Array.from(corpus, (d) => docRow.get(d.id)),
      texts,
    );
    const bm25Run = new Map();
    for (const x of tq) {
      const r = text.searchSync(x.text, { k: K100 });
      bm25Run.set(x.id, { keys: r.keys, scores: r.scores });
    }
    let denseRun = null;
    const mini = path.join(process.env.QUIVER_BENCH_CACHE ?? CACHE_DIR, 'scifact-minilm');
    if (fs.existsSync(path.join(mini, 'corpus.f32'))) {
      const readF32 = (f) => {
        const buf = fs.readFileSync(path.join(mini, f));
        return new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
      };
      const cids = JSON.parse(fs.readFileSync(path.join(mini, 'corpus_ids.json'), 'utf8')).map(String);
      const qids = JSON.parse(fs.readFileSync(path.join(mini, 'queries_ids.json'), 'utf8')).map(String);
      const cv = readF32('corpus.f32');
      const qv = readF32('queries.f32');
      const dense = new q.VectorIndex({ dim: 384, metric: 'cosine', index: 'flat', threads: 2 });
      await dense.add(
        Uint32Array.from(cids, (id) => docRow.get(id)),
        cv,
      );
      const qr = new Map(qids.map((id, i) => [id, i]));
      denseRun = new Map();
      for (const x of tq) {
        const r = qr.get(x.id);
        const d = dense.searchSync(qv.subarray(r * 384, (r + 1) * 384), { k: K100 });
        denseRun.set(x.id, { keys: d.keys, scores: Float32Array.from(d.distances, (v) => 1 - v) });
      }
      dense.close();
    } else log(`scifact: no MiniLM vectors in ${mini} (python3 bench/prepare/embed_scifact.py); dense runs skipped`);
    const idOf = sp.docIds.map(String);
    const toRun = (mp) => Object.fromEntries([...mp].map(([id, r]) => [id, Array.from(r.keys, (k) => idOf[k])]));
    const evalRun = (mp) => q.evaluate(toRun(mp), test.qrels, { metrics: ['ndcg@10', 'recall@100'] }).mean;
    const fused = (runs) => {
      const out = new Map();
      for (const x of tq) {
        const f = q.fuse(
          runs.map((r) => r.get(x.id)),
          { method: 'rrf', k: 60 },
          { limit: K100 },
        );
        out.set(x.id, { keys: f.keys, scores: f.scores });
      }
      return out;
    };
    const quality = {
      bm25: evalRun(bm25Run),
      sparse: evalRun(sparseRun),
      bm25Sparse: evalRun(fused([bm25Run, sparseRun])),
    };
    if (denseRun !== null) {
      quality.dense = evalRun(denseRun);
      quality.bm25Dense = evalRun(fused([bm25Run, denseRun]));
      quality.denseSparse = evalRun(fused([denseRun, sparseRun]));
      quality.threeWay = evalRun(fused([bm25Run, denseRun, sparseRun]));
    }
    for (const [name, v] of Object.entries(quality)) {
      log(`scifact ${name}: nDCG@10 ${v['ndcg@10'].toFixed(4)}, recall@100 ${v['recall@100'].toFixed(4)}`);
    }
    text.close();
    raw.scifact = { ...m, index: undefined, lists: undefined, quality };
    summary.scifact = {
      command: commandLine(),
      date: new Date().toISOString().slice(0, 10),
      machine: machine(),
      versions,
      dataset: {
        docs: n,
        queries: tq.length,
        postings: m.postings,
        nnzPerDoc: round(m.postings / n, 1),
        nnzPerQuery: round(queries.indptr[tq.length] / tq.length, 1),
      },
      bytesPerPosting: round(m.mem.total / m.postings, 2),
      strategies: Object.fromEntries(
        STRATEGIES.map((s) => [s, { p50Ms: round(m.results[s].p50, 3), p99Ms: round(m.results[s].p99, 3) }]),
      ),
      mismatches: m.mismatches,
      approximate: {
        recall10: round(m.approxRecall, 4),
        inexactScores: m.wrongScores,
        vsMaxscore: round(m.results.maxscore.mean / m.results.approximate.mean, 1),
      },
      quality: Object.fromEntries(
        Object.entries(quality).map(([k2, v]) => [
          k2,
          { ndcg10: round(v['ndcg@10'], 4), recall100: round(v['recall@100'], 4) },
        ]),
      ),
    };
    m.index.close();
  }
}

fs.mkdirSync(path.join(BENCH_DIR, 'results'), { recursive: true });
fs.writeFileSync(
  path.join(BENCH_DIR, 'results', 'sparse.json'),
  JSON.stringify({ machine: { cpu: os.cpus()[0]?.model, cpus: os.cpus().length }, raw, summary }, null, 2),
);
if (Object.keys(summary).length > 0) writeSummary('sparse', summary, { quick: QUICK });
console.log(JSON.stringify(summary, null, 2));
