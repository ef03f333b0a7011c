// BM25 peers for quiver's lexical (TextIndex) benchmark: pure-JS full-text engines on npm.
//
// Each runner takes corpus [{id, text}] and queries [{id, text}] and returns
//   { name, version, config, buildMs, docsPerSec, p50Ms, p99Ms, meanMs, queriesRun,
//     latenciesMs: number[], results: Map(queryId -> [docId, ...]) }
// so the caller can add quiver's own TextIndex run and score everything with the same nDCG@10.
//
// Peers (devDependencies, exact versions in package.json):
//   wink-bm25-text-search  - the README's current prep pipeline (wink-nlp + wink-eng-lite-web-model:
//                            word tokens, stop words removed, negation '!' prefix, stem)
//   wink-bm25-text-search  - the legacy (v3.0.1 README) wink-nlp-utils pipeline:
//                            lowerCase, tokenize0, removeWords, stem, propagateNegations
//   @orama/orama           - create({schema:{text:'string'}}), insert, search({term, limit}); all
//                            defaults (english tokenizer, no stemming, no stop words, BM25
//                            k=1.2 b=0.75 d=0.5, threshold 1 = any term matches). NB: the default
//                            `exact: false` makes every query token a PREFIX lookup in the radix
//                            tree (no stop words, so "a" expands to every a-word, each scored as
//                            its own BM25 term): that is why its SciFact nDCG@10 is ~0.17 and p50
//                            ~70 ms. `exact: true` is not a fix: it adds a case-sensitive
//                            all-terms regex filter.
//   vectra (0.12.3)        - its only BM25 path: LocalIndex.queryItems(vector, query, k, filter,
//                            isBm25=true). vectra builds a fresh wink-bm25 index (same prep as the
//                            wink README) over every item's text, re-read from disk, ON EVERY QUERY,
//                            excluding the vector top-k. We make the vector top-k hit k decoy items
//                            so the BM25 half ranks the whole corpus; its latency is therefore
//                            "rebuild + search" per query, so by default only a few queries are run.
//                            0.12.3 is the newest vectra whose engines allow Node 20 (0.15 needs >=22).
//
// Run directly:  node bench/lexical-peers.mjs [--data DIR] [--peers wink,wink-utils,orama,vectra]
//                [--vectra-queries N|all] [--json OUT] [--k 10]
// Loads BEIR SciFact (text = title + " " + text, test queries from qrels/test.tsv) and prints a table
// with nDCG@10 (BEIR: gain = qrel score, discount 1/log2(rank+1), ideal from the qrels).

import { readFileSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join, dirname, resolve } from 'node:path';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';

const HERE = dirname(fileURLToPath(import.meta.url));

export function pkgVersion(name) {
  let dir = HERE;
  for (;;) {
    const p = join(dir, 'node_modules', name, 'package.json');
    if (existsSync(p)) return JSON.parse(readFileSync(p, 'utf8')).version;
    const up = dirname(dir);
    if (up === dir) return null;
    dir = up;
  }
}

export function percentile(xs, p) {
  if (!xs.length) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const r = Math.ceil((p / 100) * s.length); // nearest-rank
  return s[Math.min(s.length, Math.max(1, r)) - 1];
}

async function timeQueries(queries, fn, warmup) {
  for (let i = 0; i < Math.min(warmup, queries.length); i++) await fn(queries[i]);
  const results = new Map();
  const lat = [];
  for (const q of queries) {
    const t0 = performance.now();
    let ids = fn(q);
    if (ids && typeof ids.then === 'function') ids = await ids;
    lat.push(performance.now() - t0);
    results.set(q.id, ids);
  }
  return { results, lat };
}

function pack(name, version, config, n, buildMs, { results, lat }) {
  return {
    name,
    version,
    config,
    buildMs,
    docsPerSec: n / (buildMs / 1000),
    p50Ms: percentile(lat, 50),
    p99Ms: percentile(lat, 99),
    meanMs: lat.reduce((a, b) => a + b, 0) / (lat.length || 1),
    queriesRun: lat.length,
    latenciesMs: lat,
    results,
  };
}

// ---- wink-bm25-text-search ---------------------------------------------------------------------

export async function winkNlpPrep() {
  const winkNLP = (await import('wink-nlp')).default;
  const model = (await import('wink-eng-lite-web-model')).default;
  const nlp = winkNLP(model);
  const its = nlp.its;
  // verbatim from the wink-bm25-text-search 3.1.2 README
  return function prepTask(text) {
    const tokens = [];
    nlp
      .readDoc(text)
      .tokens()
      .filter((t) => t.out(its.type) === 'word' && !t.out(its.stopWordFlag))
      .each((t) => tokens.push(t.out(its.negationFlag) ? '!' + t.out(its.stem) : t.out(its.stem)));
    return tokens;
  };
}

export async function winkUtilsPipe() {
  const nlp = (await import('wink-nlp-utils')).default;
  // the wink-bm25-text-search 3.0.1 README pipe
  return [
    nlp.string.lowerCase,
    nlp.string.tokenize0,
    nlp.tokens.removeWords,
    nlp.tokens.stem,
    nlp.tokens.propagateNegations,
  ];
}

export async function runWinkBm25(corpus, queries, { k = 10, prep = 'wink-nlp', warmup = 20 } = {}) {
  const bm25 = (await import('wink-bm25-text-search')).default;
  const tasks = prep === 'wink-nlp' ? [await winkNlpPrep()] : await winkUtilsPipe();
  const t0 = performance.now();
  const engine = bm25();
  engine.defineConfig({ fldWeights: { body: 1 } }); // bm25Params default k1 1.2, b 0.75, k 1
  engine.definePrepTasks(tasks);
  for (let i = 0; i < corpus.length; i++) engine.addDoc({ body: corpus[i].text }, i);
  engine.consolidate();
  const buildMs = performance.now() - t0;
  const run = await timeQueries(queries, (q) => engine.search(q.text, k).map(([i]) => corpus[i].id), warmup);
  const name = prep === 'wink-nlp' ? 'wink-bm25 (wink-nlp prep)' : 'wink-bm25 (wink-nlp-utils prep)';
  const config =
    prep === 'wink-nlp'
      ? `README 3.1.2 prep: wink-nlp ${pkgVersion('wink-nlp')} + wink-eng-lite-web-model ${pkgVersion('wink-eng-lite-web-model')}; words only, stop words removed, negation, stem; k1 1.2 b 0.75`
      : `README 3.0.1 prep: wink-nlp-utils ${pkgVersion('wink-nlp-utils')} lowerCase,tokenize0,removeWords,stem,propagateNegations; k1 1.2 b 0.75`;
  return pack(name, pkgVersion('wink-bm25-text-search'), config, corpus.length, buildMs, run);
}

// ---- @orama/orama ------------------------------------------------------------------------------

export async function runOrama(corpus, queries, { k = 10, warmup = 20 } = {}) {
  const { create, insert, search } = await import('@orama/orama');
  const t0 = performance.now();
  let db = create({ schema: { text: 'string' } });
  if (db && typeof db.then === 'function') db = await db;
  for (const d of corpus) {
    const r = insert(db, { id: d.id, text: d.text });
    if (r && typeof r.then === 'function') await r;
  }
  const buildMs = performance.now() - t0;
  const extract = (res) => res.hits.map((h) => h.id);
  const run = await timeQueries(
    queries,
    (q) => {
      const r = search(db, { term: q.text, limit: k });
      return r && typeof r.then === 'function' ? r.then(extract) : extract(r);
    },
    warmup,
  );
  return pack(
    '@orama/orama',
    pkgVersion('@orama/orama'),
    'defaults: english tokenizer, no stemming, no stop words, prefix matching (exact:false), BM25 (k 1.2, b 0.75, d 0.5), threshold 1',
    corpus.length,
    buildMs,
    run,
  );
}

// ---- vectra ------------------------------------------------------------------------------------

export async function runVectra(corpus, queries, { k = 10, maxQueries = 5, keepDir = false } = {}) {
  const mod = await import('vectra');
  const LocalIndex = mod.LocalIndex ?? mod.default?.LocalIndex;
  const dir = mkdtempSync(join(tmpdir(), 'vectra-bm25-'));
  const qs = maxQueries == null || maxQueries === 'all' ? queries : queries.slice(0, maxQueries);
  try {
    const t0 = performance.now();
    const index = new LocalIndex(dir);
    await index.createIndex({ version: 1, deleteIfExists: true });
    // vectra's BM25 reads each item's text from <folder>/<documentId>.txt (LocalDocument.loadText)
    const items = corpus.map((d, i) => {
      writeFileSync(join(dir, `d${i}.txt`), d.text);
      return {
        id: `d${i}`,
        vector: [0, 1],
        metadata: { documentId: `d${i}`, startPos: 0, endPos: d.text.length - 1, docId: d.id },
      };
    });
    for (let j = 0; j < k; j++) items.push({ id: `decoy${j}`, vector: [1, 0], metadata: { decoy: true } });
    await index.batchInsertItems(items);
    const buildMs = performance.now() - t0;
    const run = await timeQueries(
      qs,
      async (q) => {
        const res = await index.queryItems([1, 0], q.text, k, undefined, true);
        return res.filter((r) => r.item.metadata.isBm25).map((r) => r.item.metadata.docId);
      },
      0,
    );
    const out = pack(
      'vectra (LocalIndex BM25)',
      pkgVersion('vectra'),
      'queryItems(..., isBm25=true): wink-bm25 with the README wink-nlp prep, index rebuilt from disk on every query',
      corpus.length,
      buildMs,
      run,
    );
    out.note = `index rebuilt per query; ${qs.length}/${queries.length} queries run`;
    return out;
  } finally {
    if (!keepDir) rmSync(dir, { recursive: true, force: true });
  }
}

export const PEERS = {
  wink: (c, q, o) => runWinkBm25(c, q, { ...o, prep: 'wink-nlp' }),
  'wink-utils': (c, q, o) => runWinkBm25(c, q, { ...o, prep: 'wink-nlp-utils' }),
  orama: runOrama,
  vectra: (c, q, o) => runVectra(c, q, { ...o, maxQueries: o?.vectraQueries ?? 5 }),
};

export async function runAllPeers(corpus, queries, opts = {}) {
  const names = opts.peers ?? Object.keys(PEERS);
  const out = [];
  for (const n of names) {
    try {
      out.push(await PEERS[n](corpus, queries, opts));
    } catch (e) {
      out.push({ name: n, error: String(e?.stack ?? e) });
    }
  }
  return out;
}

// ---- evaluation --------------------------------------------------------------------------------

/** qrels: Map(queryId -> Map(docId -> score)); results: Map(queryId -> [docId...]).
 * Mean over the queries in `queryIds` (default: every qrels query); a query with no results scores 0. */
export function ndcgAtK(results, qrels, k = 10, queryIds = [...qrels.keys()]) {
  let sum = 0;
  for (const qid of queryIds) {
    const rel = qrels.get(qid) ?? new Map();
    const got = (results.get(qid) ?? []).slice(0, k);
    let dcg = 0;
    got.forEach((d, i) => {
      const g = rel.get(d) ?? 0;
      if (g > 0) dcg += g / Math.log2(i + 2);
    });
    const ideal = [...rel.values()]
      .filter((g) => g > 0)
      .sort((a, b) => b - a)
      .slice(0, k);
    const idcg = ideal.reduce((a, g, i) => a + g / Math.log2(i + 2), 0);
    sum += idcg > 0 ? dcg / idcg : 0;
  }
  return sum / (queryIds.length || 1);
}

export function recallAtK(results, qrels, k = 10, queryIds = [...qrels.keys()]) {
  let sum = 0;
  for (const qid of queryIds) {
    const rel = qrels.get(qid) ?? new Map();
    const relevant = [...rel.entries()].filter(([, g]) => g > 0).map(([d]) => d);
    if (!relevant.length) continue;
    const got = new Set((results.get(qid) ?? []).slice(0, k));
    sum += relevant.filter((d) => got.has(d)).length / relevant.length;
  }
  return sum / (queryIds.length || 1);
}

export function loadScifact(dir = process.env.QUIVER_SCIFACT_DIR ?? '/work/shared/data/beir-scifact', split = 'test') {
  const jsonl = (f) =>
    readFileSync(join(dir, f), 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l));
  const corpus = jsonl('corpus.jsonl').map((d) => ({ id: d._id, text: `${d.title ?? ''} ${d.text ?? ''}`.trim() }));
  const qrels = new Map();
  const lines = readFileSync(join(dir, 'qrels', `${split}.tsv`), 'utf8')
    .split('\n')
    .filter(Boolean);
  for (const l of lines.slice(1)) {
    const [q, d, s] = l.split('\t');
    if (!qrels.has(q)) qrels.set(q, new Map());
    qrels.get(q).set(d, Number(s));
  }
  const queries = jsonl('queries.jsonl')
    .filter((q) => qrels.has(q._id))
    .map((q) => ({ id: q._id, text: q.text }));
  return { corpus, queries, qrels };
}

// ---- main --------------------------------------------------------------------------------------

async function main() {
  const args = process.argv.slice(2);
  const opt = (name, def) => {
    const i = args.indexOf(`--${name}`);
    return i >= 0 ? args[i + 1] : def;
  };
  const k = Number(opt('k', 10));
  const vq = opt('vectra-queries', '5');
  const peers = opt('peers', Object.keys(PEERS).join(',')).split(',');
  const { corpus, queries, qrels } = loadScifact(opt('data', undefined));
  console.error(`SciFact: ${corpus.length} docs, ${queries.length} test queries, k=${k}, node ${process.version}`);
  const runs = await runAllPeers(corpus, queries, { k, peers, vectraQueries: vq === 'all' ? 'all' : Number(vq) });
  const rows = [];
  const winkRef = runs.find((r) => r.name === 'wink-bm25 (wink-nlp prep)');
  for (const r of runs) {
    if (r.error) {
      console.error(`${r.name}: FAILED\n${r.error}`);
      rows.push({ peer: r.name, error: r.error.split('\n')[0] });
      continue;
    }
    const qids = queries.slice(0, r.queriesRun).map((q) => q.id);
    const row = {
      peer: r.name,
      version: r.version,
      'build ms': +r.buildMs.toFixed(1),
      'docs/s': Math.round(r.docsPerSec),
      'p50 ms': +r.p50Ms.toFixed(3),
      'p99 ms': +r.p99Ms.toFixed(3),
      'nDCG@10': +ndcgAtK(r.results, qrels, 10, qids).toFixed(4),
      'R@10': +recallAtK(r.results, qrels, 10, qids).toFixed(4),
      queries: r.queriesRun,
    };
    if (r.queriesRun < queries.length && winkRef && !winkRef.error) {
      const same = qids.filter(
        (q) => JSON.stringify(r.results.get(q)) === JSON.stringify(winkRef.results.get(q)),
      ).length;
      row.note = `subset; top-${k} equal to wink (wink-nlp prep) on ${same}/${qids.length}`;
    }
    rows.push(row);
  }
  console.table(rows);
  const jsonOut = opt('json', undefined);
  if (jsonOut) {
    const ser = runs.map(({ results, latenciesMs: _latencies, ...rest }) => ({
      ...rest,
      results: results ? Object.fromEntries(results) : undefined,
    }));
    writeFileSync(
      jsonOut,
      JSON.stringify({ dataset: 'beir-scifact/test', k, node: process.version, table: rows, runs: ser }, null, 1),
    );
    console.error(`wrote ${jsonOut}`);
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((e) => {
    console.error(e);
    process.exit(1);
  });
}
