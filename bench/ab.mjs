#!/usr/bin/env node
// A/B check of two builds of quiver-search in one run: this checkout and another one (e.g. a
// worktree of the previous commit, built with `npm run build`). It measures, alternating the
// builds so that machine drift hits both alike:
//   - Fashion-MNIST 60k (HNSW, M 16, efConstruction 200): single-thread searchSync QPS and
//     recall@10 for f32 and sq8 (oversample 2) at a few ef values;
//   - BM25 on BEIR SciFact (5,183 abstracts, 300 test queries): build time and searchSync
//     latency.
// It prints a table with the ratio head / base for every figure.
//
//   git worktree add ../base HEAD~1 && (cd ../base && npm install && npm run build)
//   QUIVER_SHARED_DATA=../shared/data node --expose-gc bench/ab.mjs --base ../base [--rounds 3]
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';
import { REPO_ROOT, SHARED_DATA, loadDataset, prepareDataset } from './lib/datasets.mjs';
import { gc, median, nowMs, recallAtK } from './lib/measure.mjs';

const { values: args } = parseArgs({
  options: {
    base: { type: 'string' },
    rounds: { type: 'string', default: '3' },
    queries: { type: 'string', default: '1000' },
    efs: { type: 'string', default: '16,32,64,128' },
    threads: { type: 'string', default: '2' },
  },
});
if (!args.base) throw new Error('--base DIR: a built checkout to compare against');
const ROUNDS = Number(args.rounds);
const NQ = Number(args.queries);
const EFS = args.efs.split(',').map(Number);
const THREADS = Number(args.threads);
const K = 10;

async function load(root) {
  const entry = path.join(path.resolve(root), 'dist', 'index.mjs');
  if (!fs.existsSync(entry)) throw new Error(`${entry} missing: run npm run build in ${root}`);
  return import(pathToFileURL(entry).href);
}

const builds = { base: await load(args.base), head: await load(REPO_ROOT) };
const names = Object.keys(builds);

/** Times `fn(i)` over the queries until at least `minMs` passed; returns queries per second. */
function qps(n, fn, minMs = 700) {
  for (let i = 0; i < Math.min(n, 200); i++) fn(i);
  let done = 0;
  const t0 = nowMs();
  while (nowMs() - t0 < minMs) for (let i = 0; i < n; i++, done++) fn(i);
  return (done * 1000) / (nowMs() - t0);
}

async function vectors() {
  const spec = await prepareDataset('fashion-mnist', { nQuery: NQ });
  const ds = loadDataset(spec);
  const keys = Uint32Array.from({ length: ds.n }, (_, i) => i);
  const rows = [];
  for (const mode of [
    { name: 'f32', quantization: { type: 'none' } },
    { name: 'sq8', quantization: { type: 'sq8', oversample: 2 } },
  ]) {
    const idx = {};
    const build = {};
    for (const b of names) {
      gc();
      const t0 = nowMs();
      idx[b] = new builds[b].VectorIndex({
        dim: ds.dim,
        metric: 'l2',
        threads: THREADS,
        quantization: mode.quantization,
      });
      await idx[b].add(keys, ds.base);
      build[b] = (nowMs() - t0) / 1000;
    }
    rows.push({ what: `${mode.name} build (s, ${THREADS} threads)`, base: build.base, head: build.head, lower: true });
    for (const ef of EFS) {
      const q = {};
      const recall = {};
      for (const b of names) {
        const ids = new Int32Array(NQ * K);
        for (let i = 0; i < NQ; i++) {
          const r = idx[b].searchSync(ds.queries.subarray(i * ds.dim, (i + 1) * ds.dim), { k: K, ef });
          ids.set(r.keys, i * K);
        }
        recall[b] = recallAtK(ids, ds.gt, ds.gtK, K, NQ);
        q[b] = [];
      }
      for (let r = 0; r < ROUNDS; r++) {
        for (const b of r % 2 === 0 ? names : [...names].reverse()) {
          const index = idx[b];
          q[b].push(qps(NQ, (i) => index.searchSync(ds.queries.subarray(i * ds.dim, (i + 1) * ds.dim), { k: K, ef })));
        }
      }
      rows.push({
        what: `${mode.name} ef ${ef} QPS (recall ${recall.base.toFixed(4)} / ${recall.head.toFixed(4)})`,
        base: median(q.base),
        head: median(q.head),
      });
    }
  }
  return rows;
}

async function readJsonl(file) {
  const out = [];
  const rl = readline.createInterface({ input: fs.createReadStream(file), crlfDelay: Infinity });
  for await (const line of rl) if (line.trim()) out.push(JSON.parse(line));
  return out;
}

async function bm25() {
  const dir = path.join(SHARED_DATA, 'beir-scifact');
  const corpus = await readJsonl(path.join(dir, 'corpus.jsonl'));
  const allQueries = new Map((await readJsonl(path.join(dir, 'queries.jsonl'))).map((q) => [q._id, q.text]));
  const testIds = new Set(
    fs
      .readFileSync(path.join(dir, 'qrels', 'test.tsv'), 'utf8')
      .split('\n')
      .slice(1)
      .map((l) => l.split('\t')[0])
      .filter(Boolean),
  );
  const queries = [...testIds].map((id) => allQueries.get(id)).filter((t) => t !== undefined);
  const keys = Uint32Array.from({ length: corpus.length }, (_, i) => i);
  const texts = corpus.map((d) => `${d.title} ${d.text}`);
  const build = { base: [], head: [] };
  const lat = { base: [], head: [] };
  const idx = {};
  for (let r = 0; r < ROUNDS; r++) {
    for (const b of r % 2 === 0 ? names : [...names].reverse()) {
      gc();
      const t0 = nowMs();
      const t = new builds[b].TextIndex({ threads: THREADS });
      await t.add(keys, texts);
      build[b].push(nowMs() - t0);
      idx[b] = t;
      const times = [];
      for (const q of queries) {
        const s = nowMs();
        t.searchSync(q, { k: K });
        times.push(nowMs() - s);
      }
      lat[b].push(median(times) * 1000);
    }
  }
  return [
    {
      what: `BM25 SciFact build (ms, ${corpus.length} docs)`,
      base: median(build.base),
      head: median(build.head),
      lower: true,
    },
    {
      what: `BM25 SciFact searchSync p50 (µs, ${queries.length} queries)`,
      base: median(lat.base),
      head: median(lat.head),
      lower: true,
    },
  ];
}

const rows = [...(await vectors()), ...(await bm25())];
const fmt = (x) => (x >= 100 ? x.toFixed(0) : x.toFixed(2));
console.log(`| figure | base | head | head / base |\n|---|---:|---:|---:|`);
for (const r of rows) console.log(`| ${r.what} | ${fmt(r.base)} | ${fmt(r.head)} | ${(r.head / r.base).toFixed(3)} |`);
console.log(
  `\n(${ROUNDS} alternating rounds, medians; ${new Date().toISOString().slice(0, 10)}; node ${process.version})`,
);
