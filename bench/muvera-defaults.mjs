#!/usr/bin/env node
// What `new MultiVectorIndex({ dim })` and `search(tokens, { k })` deliver with nothing tuned,
// on SciFact MiniLM token embeddings (bench/prepare/embed_scifact.py): the full documents
// (title + abstract), the same collection as titles only (short documents), and the first
// 1,000 documents (a collection below the FDE quantizer's trainingSize); each also added as
// 64 documents then the rest (codes trained on 64). Recall is against exhaustive MaxSim
// (searchExhaustive) over the same index.
//
//   node bench/muvera-defaults.mjs [--queries N] [--previous]
//
// --previous also measures the defaults of earlier releases (paper-10240 FDEs in an f32 HNSW
// index, candidates max(100, 4k)) on the same data, for comparison.
// Writes bench/summaries/muvera-defaults.json.
import { parseArgs } from 'node:util';
import { SHARED_DATA } from './lib/datasets.mjs';
import { TOKEN_DIM, readJson, readTokens, firstSets } from './lib/scifact-tokens.mjs';
import { loadQuiver, packageVersion } from './lib/peers.mjs';
import { nowMs, median } from './lib/measure.mjs';
import { commandLine, machine, round, writeSummary } from './lib/summary-json.mjs';
import { makeRow } from './lib/tables.mjs';

const { values: args } = parseArgs({
  options: {
    queries: { type: 'string' },
    previous: { type: 'boolean', default: false },
  },
});
const q = await loadQuiver();
if (!q) throw new Error('build first: npm run build');
const log = (...a) => console.error('[muvera-defaults]', ...a);

const corpus = readTokens('corpus');
const titles = readTokens('titles');
const queries = readTokens('queries');
const queryIds = readJson('queries_ids.json');
const qrels = await q.loadBeir(`${SHARED_DATA}/beir-scifact`, { split: 'test' });
const qIndex = new Map(queryIds.map((id, i) => [String(id), i]));
let test = qrels.queries.map((x) => qIndex.get(x.id)).filter((i) => i !== undefined);
if (args.queries) test = test.slice(0, Number(args.queries));
const qTok = (i) => queries.data.subarray(queries.offsets[i] * TOKEN_DIM, queries.offsets[i + 1] * TOKEN_DIM);

const recallAt = (got, truth, k) => {
  const t = new Set(truth.slice(0, k));
  let h = 0;
  for (const x of got.slice(0, k)) if (t.has(x)) h++;
  return h / Math.min(k, truth.length);
};

const COLLECTIONS = [
  { name: 'scifact', what: 'SciFact, title + abstract', docs: corpus, ids: corpus.ids },
  { name: 'scifact-titles', what: 'SciFact, titles only', docs: titles, ids: titles.ids },
  { name: 'scifact-1000', what: 'SciFact, first 1,000 documents', docs: firstSets(corpus, 1000), ids: corpus.ids },
];
// 'first add of 64': the same defaults, the collection added as 64 documents then the rest,
// so the codes are trained on those 64 (what a collection that arrives in small batches gets).
const SETUPS = [
  { name: 'defaults', options: {}, search: {} },
  { name: 'defaults, first add of 64', options: {}, search: {}, firstAdd: 64 },
];
if (args.previous)
  SETUPS.push({
    name: 'previous defaults',
    options: { fde: { preset: 'paper-10240' }, index: 'hnsw', fdeQuantization: { type: 'none' } },
    search: (k) => ({ candidates: Math.max(100, 4 * k) }),
  });

const rows = [];
for (const c of COLLECTIONS) {
  const n = c.docs.offsets.length - 1;
  const tokens = c.docs.offsets[n];
  const keys = Uint32Array.from({ length: n }, (_, i) => i);
  let truth = null;
  let exhaustiveMs = null;
  for (const s of SETUPS) {
    const mv = new q.MultiVectorIndex({ dim: TOKEN_DIM, ...s.options });
    const t0 = nowMs();
    if (s.firstAdd) {
      const head = firstSets(c.docs, s.firstAdd);
      await mv.add(keys.subarray(0, s.firstAdd), head);
      const base = c.docs.offsets[s.firstAdd];
      await mv.add(keys.subarray(s.firstAdd), {
        data: c.docs.data.subarray(base * TOKEN_DIM),
        offsets: c.docs.offsets.subarray(s.firstAdd).map((o) => o - base),
      });
    } else await mv.add(keys, { data: c.docs.data, offsets: c.docs.offsets });
    const buildMs = nowMs() - t0;
    const mem = mv.memoryUsage();
    if (truth === null) {
      truth = new Map();
      const times = [];
      for (const qi of test) {
        const t1 = nowMs();
        truth.set(qi, Array.from(mv.searchExhaustiveSync(qTok(qi), { k: 100 }).keys));
        times.push(nowMs() - t1);
      }
      exhaustiveMs = median(times);
    }
    for (const k of [10, 100]) {
      const opts = typeof s.search === 'function' ? s.search(k) : s.search;
      let recall = 0;
      const times = [];
      const run = {};
      for (const qi of test) {
        const t1 = nowMs();
        const r = mv.searchSync(qTok(qi), { k, ...opts });
        times.push(nowMs() - t1);
        const got = Array.from(r.keys);
        recall += recallAt(got, truth.get(qi), k);
        run[String(queryIds[qi])] = got.map((d) => String(c.ids[d]));
      }
      const ms = median(times);
      const ndcg =
        c.name === 'scifact' && k === 10
          ? q.evaluate(run, qrels.qrels, { metrics: ['ndcg@10'] }).mean['ndcg@10']
          : null;
      const row = makeRow('muvera.collections', {
        collection: c.name,
        setup: s.name,
        what: c.what,
        docs: n,
        tokensPerDoc: round(tokens / n, 1),
        k,
        candidates: opts.candidates ?? null,
        trained: mem.fde.codes > 0 && mem.fde.originals === 0 ? 'yes' : 'no',
        kibFde: round(mem.fde.total / n / 1024, 1),
        kibTokens: round(mem.tokens / n / 1024, 1),
        buildS: round(buildMs / 1000, 1),
        recall: round(recall / test.length, 3),
        ms: round(ms, 2),
        exhaustiveMs: round(exhaustiveMs, 1),
        vsExhaustive: round(exhaustiveMs / ms, 1),
        ndcg10: round(ndcg, 4),
      });
      rows.push(row);
      log(
        `${c.name} (${n} docs, ${(tokens / n).toFixed(1)} tokens/doc) ${s.name} k=${k}: recall@${k} ${row.recall} at ${row.ms} ms (${row.vsExhaustive}× exhaustive ${row.exhaustiveMs} ms); FDE ${row.kibFde} KiB/doc, trained ${row.trained}${ndcg === null ? '' : `, nDCG@10 ${row.ndcg10}`}`,
      );
    }
    mv.close();
  }
}

writeSummary('muvera-defaults', {
  benchmark: 'MultiVectorIndex with default options and default search (bench/muvera-defaults.mjs)',
  command: commandLine(),
  date: new Date().toISOString().slice(0, 10),
  machine: machine(),
  versions: { 'quiver-search': packageVersion('quiver-search') },
  queries: test.length,
  collections: rows,
});
