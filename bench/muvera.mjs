#!/usr/bin/env node
// MUVERA benchmark on real token embeddings: all-MiniLM-L6-v2 per-token outputs of the BEIR
// SciFact corpus (5,183 documents) and its test queries (prepared by
// bench/prepare/embed_scifact.py into $QUIVER_BENCH_CACHE/scifact-minilm).
//
//   node bench/muvera.mjs [--configs paper-10240,compact-2560,...] [--queries N] [--skip-heuristic]
//
// Reports, per FDE configuration: recall@10 / recall@100 of the MUVERA pipeline against
// exhaustive MaxSim top-k over a sweep of candidate counts, candidates needed for 0.9 / 0.95,
// latency per query split into FDE encode / FDE search / exact rerank, memory per document,
// and build time. Baseline: the single-vector heuristic (each query token searched in a
// token-level HNSW over every document token; the union of their documents reranked by exact
// MaxSim). Quality: SciFact test nDCG@10 for exhaustive MaxSim, MUVERA and the mean-pooled
// single-vector dense baseline. Writes bench/results/muvera.json and prints markdown.
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { BENCH_DIR, SHARED_DATA } from './lib/datasets.mjs';
import { TOKEN_DIM, readF16, readU32, readF32, readJson } from './lib/scifact-tokens.mjs';
import { loadQuiver, packageVersion } from './lib/peers.mjs';
import { nowMs, median, percentile } from './lib/measure.mjs';
import { writeSummary, muveraSummary } from './lib/summary-json.mjs';

const { values: args } = parseArgs({
  options: {
    configs: { type: 'string', default: 'paper-10240,compact-2560,r10-k5-d16,r20-k4-d32' },
    queries: { type: 'string' },
    'skip-heuristic': { type: 'boolean', default: false },
    'fde-quant': { type: 'string' },
    'drop-special': { type: 'boolean', default: false },
    cands: { type: 'string', default: '10,20,50,100,150,200,300,500,1000' },
    out: { type: 'string', default: 'muvera' },
    'token-storage': { type: 'string', default: 'f16' },
    'fde-index': { type: 'string', default: 'hnsw' },
    'fde-pq-m': { type: 'string' },
  },
});
const q = await loadQuiver();
if (!q) throw new Error('build first: npm run build');
const DIM = TOKEN_DIM;
const log = (...a) => console.error('[muvera]', ...a);

// ---------------------------------------------------------------------------- data
log('loading token embeddings');
let corpusTokens = readF16('corpus_tokens.f16');
let corpusOffsets = readU32('corpus_tokens_offsets.u32');
const corpusIds = readJson('corpus_ids.json');
let queryTokens = readF16('queries_tokens.f16');
let queryOffsets = readU32('queries_tokens_offsets.u32');
/** Drops the first ([CLS]) and last ([SEP]) row of every token set. */
function dropSpecial(data, offsets) {
  const n = offsets.length - 1;
  const out = new Float32Array(data.length - 2 * n * DIM);
  const off = new Uint32Array(n + 1);
  let pos = 0;
  for (let i = 0; i < n; i++) {
    const a = offsets[i] + 1;
    const b = offsets[i + 1] - 1;
    out.set(data.subarray(a * DIM, b * DIM), pos * DIM);
    pos += b - a;
    off[i + 1] = pos;
  }
  return [out, off];
}
if (args['drop-special']) {
  [corpusTokens, corpusOffsets] = dropSpecial(corpusTokens, corpusOffsets);
  [queryTokens, queryOffsets] = dropSpecial(queryTokens, queryOffsets);
}
const queryIds = readJson('queries_ids.json');
const corpusPooled = readF32('corpus.f32');
const queriesPooled = readF32('queries.f32');
const nDocs = corpusOffsets.length - 1;
const qrels = await q.loadBeir(path.join(SHARED_DATA, 'beir-scifact'), { split: 'test' });
const qIndex = new Map(queryIds.map((id, i) => [String(id), i]));
let testQueries = qrels.queries.map((x) => qIndex.get(x.id)).filter((i) => i !== undefined);
if (args.queries) testQueries = testQueries.slice(0, Number(args.queries));
const qTok = (i) => queryTokens.subarray(queryOffsets[i] * DIM, queryOffsets[i + 1] * DIM);
log(
  `${nDocs} documents, ${corpusOffsets[nDocs]} tokens; ${testQueries.length} test queries, avg ${(testQueries.reduce((a, i) => a + queryOffsets[i + 1] - queryOffsets[i], 0) / testQueries.length).toFixed(1)} tokens`,
);
const keys = Uint32Array.from({ length: nDocs }, (_, i) => i);
const docs = { data: corpusTokens, offsets: corpusOffsets };

const ndcgOf = (runByQuery) => {
  const run = {};
  for (const [qi, ranked] of runByQuery) run[String(queryIds[qi])] = ranked.map((k) => String(corpusIds[k]));
  return q.evaluate(run, qrels.qrels, { metrics: ['ndcg@10', 'recall@100'] }).mean;
};
const recallAt = (got, truth, k) => {
  const t = new Set(truth.slice(0, k));
  let h = 0;
  for (const x of got.slice(0, k)) if (t.has(x)) h++;
  return h / Math.min(k, truth.length);
};

// ---------------------------------------------------------------------------- configs
function fdeOf(name) {
  if (name === 'paper-10240' || name === 'compact-2560') return { preset: name };
  const m = /^r(\d+)-k(\d+)-d(\d+)$/.exec(name);
  if (!m) throw new Error(`bad config ${name}`);
  return { preset: 'paper-10240', reps: Number(m[1]), kSim: Number(m[2]), dProj: Number(m[3]) };
}
const CANDS = args.cands.split(',').map(Number);
const results = {
  data: {
    docs: nDocs,
    tokens: corpusOffsets[nDocs],
    queries: testQueries.length,
    specialTokens: args['drop-special']
      ? 'dropped ([CLS] and [SEP] rows removed from every token set)'
      : 'kept ([CLS] and [SEP] rows are part of every token set)',
    fdeQuantization: args['fde-quant']
      ? `${args['fde-quant']}${args['fde-quant'] === 'pq' ? ` (4-bit, m = FDE dim ${(args['fde-pq-m'] ?? '/4').startsWith('/') ? (args['fde-pq-m'] ?? '/4') : `→ ${args['fde-pq-m']}`}), no FDE rescoring` : ', no FDE rescoring'}`
      : 'none',
    fdeIndex: args['fde-index'],
    tokenStorage: args['token-storage'],
  },
  configs: [],
};

// Exhaustive MaxSim top-100: the ground truth (computed once, on the first index).
let truth = null;
const exhaustiveMs = [];
for (const name of args.configs.split(',')) {
  const fde = fdeOf(name);
  // FDE codes only generate candidates (the MaxSim rerank follows), so no f32 rescoring of FDEs.
  const fdeQuantization = args['fde-quant']
    ? { type: args['fde-quant'], rerank: 'none', oversample: 1, trainingSize: nDocs }
    : { type: 'none' };
  if (args['fde-quant'] === 'pq') {
    // --fde-pq-m N: N sub-spaces; --fde-pq-m /S: sub-spaces of S dimensions (m = FDE dim / S).
    const spec = args['fde-pq-m'] ?? '/4';
    const m = spec.startsWith('/')
      ? new q.FdeEncoder({ dim: DIM, ...fde }).outputDim / Number(spec.slice(1))
      : Number(spec);
    Object.assign(fdeQuantization, { nbits: 4, m });
  }
  const mv = new q.MultiVectorIndex({
    dim: DIM,
    fde,
    tokenStorage: args['token-storage'],
    index: args['fde-index'],
    threads: 2,
    efConstruction: 200,
    fdeQuantization,
  });
  const t0 = nowMs();
  await mv.add(keys, docs);
  const buildMs = nowMs() - t0;
  const mem = mv.memoryUsage();
  log(
    `${name}: FDE dim ${mv.fdeParams.outputDim}, build ${(buildMs / 1000).toFixed(1)} s, ${(mem.total / nDocs / 1024).toFixed(1)} KiB/doc`,
  );
  if (truth === null) {
    truth = new Map();
    for (const qi of testQueries) {
      const t1 = nowMs();
      const r = mv.searchExhaustiveSync(qTok(qi), { k: 100 });
      exhaustiveMs.push(nowMs() - t1);
      truth.set(qi, Array.from(r.keys));
    }
    results.exhaustive = {
      storage: args['token-storage'],
      msPerQueryMedian: median(exhaustiveMs),
      msPerQueryP99: percentile(exhaustiveMs, 99),
      ...ndcgOf(truth),
    };
    log(
      `exhaustive MaxSim (${args['token-storage']} tokens): ${median(exhaustiveMs).toFixed(1)} ms/query, nDCG@10 ${results.exhaustive['ndcg@10'].toFixed(4)}`,
    );
    if (args['token-storage'] !== 'f16') {
      // Recall is always measured against exhaustive MaxSim over f16 tokens (the stored
      // precision of the data), so a lossier token storage shows up as lost recall.
      const ref = new q.MultiVectorIndex({
        dim: DIM,
        fde: { preset: 'compact-2560' },
        index: 'flat',
        tokenStorage: 'f16',
        threads: 2,
      });
      await ref.add(keys, docs);
      const t16 = [];
      for (const qi of testQueries) {
        const t1 = nowMs();
        truth.set(qi, Array.from(ref.searchExhaustiveSync(qTok(qi), { k: 100 }).keys));
        t16.push(nowMs() - t1);
      }
      results.truth = { storage: 'f16', msPerQueryMedian: median(t16), ...ndcgOf(truth) };
      log(
        `truth: exhaustive MaxSim over f16 tokens, ${median(t16).toFixed(1)} ms/query, nDCG@10 ${results.truth['ndcg@10'].toFixed(4)}`,
      );
    }
  }
  const sweep = [];
  for (const cands of CANDS) {
    let r10 = 0;
    let r100 = 0;
    const enc = [];
    const sea = [];
    const rer = [];
    const tot = [];
    const run = new Map();
    for (const qi of testQueries) {
      const t1 = nowMs();
      const r = mv.searchSync(qTok(qi), { k: Math.min(100, cands), candidates: cands, ef: Math.max(cands, 64) });
      tot.push(nowMs() - t1);
      enc.push(r.timings.encodeMs);
      sea.push(r.timings.searchMs);
      rer.push(r.timings.rerankMs);
      const got = Array.from(r.keys);
      run.set(qi, got);
      r10 += recallAt(got, truth.get(qi), 10);
      r100 += recallAt(got, truth.get(qi), 100);
    }
    const n = testQueries.length;
    const point = {
      candidates: cands,
      recall10: r10 / n,
      recall100: cands >= 100 ? r100 / n : null,
      msMedian: median(tot),
      encodeMs: median(enc),
      searchMs: median(sea),
      rerankMs: median(rer),
      ndcg10: ndcgOf(run)['ndcg@10'],
    };
    sweep.push(point);
    log(
      `  C=${cands}: recall@10 ${point.recall10.toFixed(3)} recall@100 ${point.recall100?.toFixed(3) ?? '—'}  ${point.msMedian.toFixed(2)} ms (enc ${point.encodeMs.toFixed(2)} / search ${point.searchMs.toFixed(2)} / rerank ${point.rerankMs.toFixed(2)})  nDCG@10 ${point.ndcg10.toFixed(4)}`,
    );
  }
  const need = (key, target) => sweep.find((p) => p[key] !== null && p[key] >= target)?.candidates ?? null;
  results.configs.push({
    name,
    fde: mv.fdeParams,
    outputDim: mv.fdeParams.outputDim,
    buildMs,
    bytesPerDoc: { total: mem.total / nDocs, fdeIndex: mem.fde.total / nDocs, tokens: mem.tokens / nDocs },
    sweep,
    candidatesFor: {
      recall10_090: need('recall10', 0.9),
      recall10_095: need('recall10', 0.95),
      recall100_090: need('recall100', 0.9),
      recall100_095: need('recall100', 0.95),
    },
  });
  if (name === args.configs.split(',')[0]) results.keep = mv; // reused by the heuristic's rerank
}

// ---------------------------------------------------------------------------- baselines
// Mean-pooled single-vector dense retrieval (exact, cosine).
{
  const flat = new q.VectorIndex({ dim: DIM, metric: 'cosine', index: 'flat', threads: 2 });
  await flat.add(keys, corpusPooled);
  const run = new Map();
  for (const qi of testQueries)
    run.set(qi, Array.from(flat.searchSync(queriesPooled.subarray(qi * DIM, (qi + 1) * DIM), { k: 100 }).keys));
  results.dense = ndcgOf(run);
  log(`dense (mean-pooled MiniLM) nDCG@10 ${results.dense['ndcg@10'].toFixed(4)}`);
}

// Single-vector heuristic: token-level HNSW; each query token retrieves its nearest document
// tokens; the union of their documents is reranked by exact MaxSim.
if (!args['skip-heuristic']) {
  const nTok = corpusOffsets[nDocs];
  const tokDoc = new Uint32Array(nTok);
  for (let d = 0; d < nDocs; d++) for (let t = corpusOffsets[d]; t < corpusOffsets[d + 1]; t++) tokDoc[t] = d;
  const tokIdx = new q.VectorIndex({
    dim: DIM,
    metric: 'ip',
    m: 16,
    efConstruction: 100,
    threads: 2,
    quantization: { type: 'sq8', oversample: 2, trainingSize: 50000 },
  });
  const t0 = nowMs();
  await tokIdx.add(
    Uint32Array.from({ length: nTok }, (_, i) => i),
    corpusTokens,
  );
  const tokBuildMs = nowMs() - t0;
  log(`token-level HNSW over ${nTok} tokens built in ${(tokBuildMs / 1000).toFixed(0)} s`);
  const mv = results.keep;
  const sweep = [];
  for (const kTok of [1, 2, 5, 10, 20, 50, 100, 200]) {
    let r10 = 0;
    let r100 = 0;
    let candSum = 0;
    const tot = [];
    for (const qi of testQueries) {
      const qt = qTok(qi);
      const t1 = nowMs();
      const b = tokIdx.searchBatchSync(qt, { k: kTok, ef: Math.max(kTok, 32) });
      const cand = new Set();
      for (let i = 0; i < b.keys.length; i++) if (b.keys[i] !== q.EMPTY_KEY) cand.add(tokDoc[b.keys[i]]);
      const ck = Uint32Array.from(cand);
      const s = mv.score(qt, ck);
      const order = Array.from(ck.keys())
        .sort((a, c) => s[c] - s[a] || ck[a] - ck[c])
        .slice(0, 100)
        .map((i) => ck[i]);
      tot.push(nowMs() - t1);
      candSum += ck.length;
      r10 += recallAt(order, truth.get(qi), 10);
      r100 += recallAt(order, truth.get(qi), 100);
    }
    const n = testQueries.length;
    const p = {
      tokensPerQueryToken: kTok,
      candidates: candSum / n,
      recall10: r10 / n,
      recall100: r100 / n,
      msMedian: median(tot),
    };
    sweep.push(p);
    log(
      `  heuristic k'=${kTok}: ${p.candidates.toFixed(0)} candidates, recall@10 ${p.recall10.toFixed(3)}, recall@100 ${p.recall100.toFixed(3)}, ${p.msMedian.toFixed(1)} ms`,
    );
  }
  results.heuristic = { tokenIndexBuildMs: tokBuildMs, sweep };
}
delete results.keep;

// Candidates at recall@100 = 0.9 by linear interpolation on a sweep.
function candidatesAt(sweep, key, target) {
  const pts = sweep
    .filter((p) => p[key] !== null)
    .map((p) => [p.candidates, p[key]])
    .sort((a, b) => a[0] - b[0]);
  for (let i = 0; i < pts.length; i++) {
    if (pts[i][1] >= target) {
      if (i === 0) return pts[0][0];
      const [c0, r0] = pts[i - 1];
      const [c1, r1] = pts[i];
      return c0 + ((target - r0) * (c1 - c0)) / (r1 - r0);
    }
  }
  return null;
}
for (const c of results.configs) c.candidatesAtRecall100_090 = candidatesAt(c.sweep, 'recall100', 0.9);
if (results.heuristic)
  results.heuristic.candidatesAtRecall100_090 = candidatesAt(results.heuristic.sweep, 'recall100', 0.9);

fs.mkdirSync(path.join(BENCH_DIR, 'results'), { recursive: true });
fs.writeFileSync(
  path.join(BENCH_DIR, 'results', `${args.out}.json`),
  JSON.stringify(results, (_, v) => (typeof v === 'bigint' ? v.toString() : v), 2),
);
// The figures RESULTS.md shows: bench/summaries/<out>.json (muvera.json; muvera-sq8.json for --token-storage sq8 --out muvera-sq8).
writeSummary(
  args.out,
  muveraSummary({ ...results, version: packageVersion('quiver-search') }, { tokenStorage: args['token-storage'] }),
);

// ---------------------------------------------------------------------------- markdown
const f = (x, d = 3) => (x === null || x === undefined ? '—' : Number(x).toFixed(d));
const lines = [];
lines.push(
  `SciFact: ${nDocs.toLocaleString('en-US')} documents, ${results.data.tokens.toLocaleString('en-US')} MiniLM token vectors (${results.data.tokenStorage} storage; special tokens ${args['drop-special'] ? 'dropped' : 'kept'}; FDE index ${results.data.fdeIndex}, quantization ${results.data.fdeQuantization}), ${testQueries.length} test queries; exhaustive MaxSim ${f(results.exhaustive.msPerQueryMedian, 1)} ms/query (median, 2 threads, ${results.exhaustive.storage} tokens)${results.truth ? `; recall against exhaustive MaxSim over f16 tokens (${f(results.truth.msPerQueryMedian, 1)} ms/query, nDCG@10 ${f(results.truth['ndcg@10'], 4)})` : ''}.`,
);
lines.push('');
lines.push(
  '| FDE config | FDE dim | build s | KiB/doc (FDE index + tokens) | C for recall@10 ≥ 0.95 | recall@10 @ C | ms/query @ C (encode / search / rerank) | × faster than exhaustive | C for recall@100 = 0.9 | nDCG@10 @ C |',
);
lines.push('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
for (const c of results.configs) {
  const cc = c.candidatesFor.recall10_095;
  const p = c.sweep.find((x) => x.candidates === cc);
  lines.push(
    `| ${c.name} | ${c.outputDim} | ${f(c.buildMs / 1000, 1)} | ${f(c.bytesPerDoc.total / 1024, 1)} (${f(c.bytesPerDoc.fdeIndex / 1024, 1)} + ${f(c.bytesPerDoc.tokens / 1024, 1)}) | ${cc ?? 'not reached'} | ${p ? f(p.recall10) : '—'} | ${p ? `${f(p.msMedian, 2)} (${f(p.encodeMs, 2)} / ${f(p.searchMs, 2)} / ${f(p.rerankMs, 2)})` : '—'} | ${p ? f(results.exhaustive.msPerQueryMedian / p.msMedian, 1) : '—'} | ${f(c.candidatesAtRecall100_090, 0)} | ${p ? f(p.ndcg10, 4) : '—'} |`,
  );
}
lines.push('');
lines.push('Sweep (first config):');
lines.push('');
lines.push('| candidates | recall@10 | recall@100 | ms/query | nDCG@10 |');
lines.push('|---:|---:|---:|---:|---:|');
for (const p of results.configs[0].sweep)
  lines.push(`| ${p.candidates} | ${f(p.recall10)} | ${f(p.recall100)} | ${f(p.msMedian, 2)} | ${f(p.ndcg10, 4)} |`);
if (results.heuristic) {
  lines.push('');
  lines.push(
    `Single-vector heuristic (token-level HNSW over all ${results.data.tokens.toLocaleString('en-US')} tokens, sq8 + rerank, built in ${f(results.heuristic.tokenIndexBuildMs / 1000, 0)} s; union of each query token's nearest tokens' documents, reranked by exact MaxSim):`,
  );
  lines.push('');
  lines.push('| tokens per query token | candidates (docs) | recall@10 | recall@100 | ms/query |');
  lines.push('|---:|---:|---:|---:|---:|');
  for (const p of results.heuristic.sweep)
    lines.push(
      `| ${p.tokensPerQueryToken} | ${f(p.candidates, 0)} | ${f(p.recall10)} | ${f(p.recall100)} | ${f(p.msMedian, 1)} |`,
    );
  lines.push('');
  const h = results.heuristic.candidatesAtRecall100_090;
  const per = results.configs.map(
    (c) =>
      `${c.name} ${f(c.candidatesAtRecall100_090, 0)}${c.candidatesAtRecall100_090 && h ? ` (${f(h / c.candidatesAtRecall100_090, 2)}× fewer)` : ''}`,
  );
  lines.push(
    `Candidates needed for recall@100 = 0.9 (linear interpolation between sweep points): heuristic ${f(h, 0)}; MUVERA ${per.join(', ')}.`,
  );
}
lines.push('');
lines.push(
  `SciFact test nDCG@10: exhaustive MaxSim ${f(results.exhaustive['ndcg@10'], 4)}; mean-pooled dense (all-MiniLM-L6-v2, exact cosine) ${f(results.dense['ndcg@10'], 4)}.`,
);
console.log(lines.join('\n'));
