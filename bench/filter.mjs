#!/usr/bin/env node
// Filtered search benchmark: quiver-search's native filters (planner 'auto' and each forced
// strategy) against hnswlib-node's JS filter callback, usearch with post-filtering and a plain-JS
// prefilter + exact scan, on the same index parameters (M = 16, efConstruction = 200, k = 10).
//
//   node --expose-gc bench/filter.mjs [--dataset fashion-mnist,synthetic] [--queries N] [--quick]
//                                     [--efs 16,32,64,128,256,512] [--engines quiver,hnswlib,usearch,js]
//                                     [--workloads own-class,kw-1pct,...] [--sweep-forced acorn,graph]
// (--sweep-forced runs those forced strategies at every ef as well: a planner diagnostic, in the
// raw output only. Any option beyond --dataset/--queries writes the quick summary.)
//
// Workloads (per dataset; every row carries the same synthetic attributes, Fashion-MNIST rows
// also their real class):
//   own-class     Fashion-MNIST only: { cls: <the query's true class> } (10 %, correlated)
//   other-class   Fashion-MNIST only: { cls: (<query class> + 5) % 10 } (10 %, anti-correlated)
//   kw-1pct       { k100: v } with one of 100 uniform keywords per row (1 %)
//   kw-0.1pct     { k1000: v } with one of 1,000 uniform keywords per row (0.1 %)
//   and-1pct      { $and: [{ a10: x }, { b10: y }] }, two independent 10 % keywords (1 %)
//   range-1pct    { price: { $gte: lo, $lt: lo + 0.01 } }, price uniform in [0, 1) (1 %)
//   range-0.1pct  the same with a 0.001-wide range (0.1 %)
// The keyword values and ranges are drawn per query (seeded).
//
// Measured, single-threaded (one query at a time on the JS thread), per workload and engine:
// recall@10 against the exact filtered top-10 (plain-JS brute force over the matching rows,
// cached in bench/.cache), QPS and p99 latency over an ef sweep, and the fastest sweep point with
// recall@10 >= 0.95 (else the best recall). quiver also reports distance computations per query
// and the plans 'auto' chose, and runs 'exact', 'acorn' and 'graph' forced at auto's ef.
// Writes bench/results/filter-<dataset>.json (raw) and bench/summaries/filter.json (full runs;
// quick runs: bench/results/filter-quick.summary.json), and prints markdown tables.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import crypto from 'node:crypto';
import { parseArgs } from 'node:util';
import { BENCH_DIR, CACHE_DIR, FMNIST_DIR, prepareDataset, loadDataset, makeRng } from './lib/datasets.mjs';
import { createAdapter, loadQuiver, packageVersion } from './lib/peers.mjs';
import { nowMs, gc, percentile, backgroundCpuBusy } from './lib/measure.mjs';
import { writeSummary, filterDataset } from './lib/summary-json.mjs';
import { renderTable } from './lib/tables.mjs';

const { values: args } = parseArgs({
  options: {
    dataset: { type: 'string', default: 'fashion-mnist,synthetic' },
    queries: { type: 'string' },
    efs: { type: 'string' },
    quick: { type: 'boolean', default: false },
    engines: { type: 'string', default: 'quiver,hnswlib,usearch,js' }, // quiver always runs
    workloads: { type: 'string' },
    'sweep-forced': { type: 'string' },
  },
});
const ENGINES = new Set(args.engines.split(','));
/** Forced strategies to run at every ef too (raw output only: a diagnostic for the planner). */
const SWEEP_FORCED = args['sweep-forced'] ? args['sweep-forced'].split(',') : [];
/** Anything but the default full run writes the quick summary, never bench/summaries/. */
const PARTIAL = args.quick || !!args.efs || !!args.workloads || ENGINES.size < 4 || SWEEP_FORCED.length > 0;
const QUICK = args.quick;
const K = 10;
const TARGET = 0.95;
const EFS = args.efs ? args.efs.split(',').map(Number) : QUICK ? [16, 64, 256] : [16, 32, 64, 128, 256, 512];
const NQ = args.queries ? Number(args.queries) : QUICK ? 200 : 1000;
const MIN_SECONDS = QUICK ? 0.05 : 0.5;
const WARMUP = QUICK ? 20 : 50;
const BUDGET_S = QUICK ? 3 : 20;
const MIN_QUERIES = QUICK ? 50 : 200;
const M = 16;
const EF_CONSTRUCTION = 200;

const q = await loadQuiver();
if (!q) throw new Error('build first: npm run build');

function log(...a) {
  console.error('[filter]', ...a);
}

// ---------------------------------------------------------------------------- data

function readIdxLabels(file) {
  let buf = fs.readFileSync(file);
  if (file.endsWith('.gz')) buf = zlib.gunzipSync(buf);
  if (buf.readUInt32BE(0) !== 2049) throw new Error(`${file}: bad IDX label magic`);
  const n = buf.readUInt32BE(4);
  return Uint8Array.from(buf.subarray(8, 8 + n));
}

async function loadData(name) {
  const spec = await prepareDataset(name, { quick: QUICK, nQuery: NQ });
  const d = loadDataset(spec);
  if (name === 'fashion-mnist') {
    d.labels = readIdxLabels(path.join(FMNIST_DIR, 'train-labels-idx1-ubyte.gz')).subarray(0, d.n);
    d.queryLabels = readIdxLabels(path.join(FMNIST_DIR, 't10k-labels-idx1-ubyte.gz')).subarray(0, d.nq);
  }
  return { name, ...d };
}

/** Seeded per-row attributes: uniform keywords (100, 1,000 and two of 10 values) and a float. */
function makeAttributes(d) {
  const rng = makeRng(20261204);
  const a = {
    k100: new Uint16Array(d.n),
    k1000: new Uint16Array(d.n),
    a10: new Uint8Array(d.n),
    b10: new Uint8Array(d.n),
    price: new Float64Array(d.n),
  };
  for (let i = 0; i < d.n; i++) {
    a.k100[i] = rng.int(100);
    a.k1000[i] = rng.int(1000);
    a.a10[i] = rng.int(10);
    a.b10[i] = rng.int(10);
    a.price[i] = rng.uniform();
  }
  const objects = new Array(d.n);
  for (let i = 0; i < d.n; i++) {
    const o = { k100: `v${a.k100[i]}`, k1000: `v${a.k1000[i]}`, a10: `v${a.a10[i]}`, b10: `v${a.b10[i]}` };
    if (d.labels) o.cls = `c${d.labels[i]}`;
    o.price = a.price[i];
    objects[i] = o;
  }
  const schema = { k100: 'keyword', k1000: 'keyword', a10: 'keyword', b10: 'keyword', price: 'float' };
  if (d.labels) schema.cls = 'keyword';
  return { ...a, objects, schema };
}

/**
 * The workloads of a dataset: per query a filter object (ours) and the same predicate over row
 * indexes in JS (hnswlib's callback, usearch's post-filter, the JS prefilter and the ground truth).
 */
function makeWorkloads(d, at) {
  const rng = makeRng(4242);
  const per = Array.from({ length: d.nq }, () => ({
    v100: rng.int(100),
    v1000: rng.int(1000),
    x: rng.int(10),
    y: rng.int(10),
    lo1: rng.uniform() * 0.99,
    lo01: rng.uniform() * 0.999,
  }));
  const w = [];
  if (d.labels) {
    const lab = d.labels;
    w.push({
      id: 'own-class',
      label: "own class { cls } (the query's true class)",
      selectivity: 0.1,
      filter: (i) => ({ cls: `c${d.queryLabels[i]}` }),
      pred: (i) => {
        const c = d.queryLabels[i];
        return (r) => lab[r] === c;
      },
    });
    w.push({
      id: 'other-class',
      label: 'other class { cls: (class + 5) % 10 }',
      selectivity: 0.1,
      filter: (i) => ({ cls: `c${(d.queryLabels[i] + 5) % 10}` }),
      pred: (i) => {
        const c = (d.queryLabels[i] + 5) % 10;
        return (r) => lab[r] === c;
      },
    });
  }
  for (const [id, values, field, key] of [
    ['kw-1pct', 100, 'k100', 'v100'],
    ['kw-0.1pct', 1000, 'k1000', 'v1000'],
  ]) {
    w.push({
      id,
      label: `keyword, 1 of ${values.toLocaleString('en-US')} values`,
      selectivity: 1 / values,
      filter: (i) => ({ [field]: `v${per[i][key]}` }),
      pred: (i) => {
        const v = per[i][key];
        const col = at[field];
        return (r) => col[r] === v;
      },
    });
  }
  w.push({
    id: 'and-1pct',
    label: '$and of two independent 10 % keywords',
    selectivity: 0.01,
    filter: (i) => ({ $and: [{ a10: `v${per[i].x}` }, { b10: `v${per[i].y}` }] }),
    pred: (i) => {
      const { x, y } = per[i];
      const a = at.a10;
      const b = at.b10;
      return (r) => a[r] === x && b[r] === y;
    },
  });
  for (const [id, width, key] of [
    ['range-1pct', 0.01, 'lo1'],
    ['range-0.1pct', 0.001, 'lo01'],
  ]) {
    w.push({
      id,
      label: `float range, width ${width}`,
      selectivity: width,
      filter: (i) => ({ price: { $gte: per[i][key], $lt: per[i][key] + width } }),
      pred: (i) => {
        const lo = per[i][key];
        const hi = lo + width;
        const p = at.price;
        return (r) => p[r] >= lo && p[r] < hi;
      },
    });
  }
  return w;
}

// ---------------------------------------------------------------------------- exact search in JS

/** Insert (dist, id) into a sorted top-k list (ascending distance, ties -> lower id). */
function topkInsert(dists, ids, k, dd, id) {
  if (dd > dists[k - 1] || (dd === dists[k - 1] && id > ids[k - 1])) return;
  let i = k - 1;
  while (i > 0 && (dists[i - 1] > dd || (dists[i - 1] === dd && ids[i - 1] > id))) {
    dists[i] = dists[i - 1];
    ids[i] = ids[i - 1];
    i--;
  }
  dists[i] = dd;
  ids[i] = id;
}

/**
 * The simple baseline a user writes: test every row with the predicate, compute the exact
 * distance of the matching ones, keep the top k. Squared L2, or 1 - cos (base rows normalised
 * here when `norms` is given: the synthetic set is unit-norm already).
 */
function jsPrefilterSearch(d, qi, pred, k, out) {
  const { base, queries, dim, n, metric } = d;
  const dists = out.dists.fill(Infinity);
  const ids = out.ids.fill(-1);
  const qo = qi * dim;
  let matched = 0;
  if (metric === 'l2') {
    for (let r = 0; r < n; r++) {
      if (!pred(r)) continue;
      matched++;
      const bo = r * dim;
      let s = 0;
      for (let j = 0; j < dim; j++) {
        const t = base[bo + j] - queries[qo + j];
        s += t * t;
      }
      topkInsert(dists, ids, k, s, r);
    }
  } else {
    let qn = 0;
    for (let j = 0; j < dim; j++) qn += queries[qo + j] * queries[qo + j];
    qn = 1 / Math.sqrt(qn);
    for (let r = 0; r < n; r++) {
      if (!pred(r)) continue;
      matched++;
      const bo = r * dim;
      let dot = 0;
      let bn = 0;
      for (let j = 0; j < dim; j++) {
        dot += base[bo + j] * queries[qo + j];
        bn += base[bo + j] * base[bo + j];
      }
      topkInsert(dists, ids, k, 1 - (dot * qn) / Math.sqrt(bn), r);
    }
  }
  return matched;
}

/** Exact filtered top-k of every query (float64 JS brute force), cached per dataset and workload. */
function groundTruth(d, wl, preds) {
  const key = crypto
    .createHash('sha1')
    .update(JSON.stringify({ v: 1, ds: d.name, n: d.n, nq: d.nq, wl: wl.id, f: [0, 1, d.nq - 1].map(wl.filter) }))
    .digest('hex')
    .slice(0, 12);
  const file = path.join(CACHE_DIR, `filter-gt-${d.name}-${wl.id}-${key}.i32`);
  if (fs.existsSync(file)) {
    const b = fs.readFileSync(file);
    const all = new Int32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
    return { ids: all.subarray(0, d.nq * K), matched: all.subarray(d.nq * K) };
  }
  const t0 = nowMs();
  const all = new Int32Array(d.nq * (K + 1));
  const out = { dists: new Float64Array(K), ids: new Int32Array(K) };
  for (let i = 0; i < d.nq; i++) {
    all[d.nq * K + i] = jsPrefilterSearch(d, i, preds[i], K, out);
    all.set(out.ids, i * K);
  }
  fs.mkdirSync(CACHE_DIR, { recursive: true });
  fs.writeFileSync(file, new Uint8Array(all.buffer));
  log(`    ground truth ${wl.id}: ${((nowMs() - t0) / 1000).toFixed(1)} s`);
  return { ids: all.subarray(0, d.nq * K), matched: all.subarray(d.nq * K) };
}

/** recall@10 of one query: hits / min(k, matching rows). */
function recallOf(ids, gt, qi) {
  const want = Math.min(K, gt.matched[qi]);
  if (want === 0) return 1;
  let hit = 0;
  const row = gt.ids.subarray(qi * K, qi * K + want);
  for (let j = 0; j < Math.min(K, ids.length); j++) if (row.includes(Number(ids[j]))) hit++;
  return Math.min(hit, want) / want;
}

// ---------------------------------------------------------------------------- measurement

/**
 * One sweep point: `search(i)` for every query, each timed, repeated in whole passes until
 * MIN_SECONDS. recall (and `inspect` of each result) from the first pass. A point whose first
 * pass runs past BUDGET_S stops there (after at least MIN_QUERIES queries): its figures are over
 * that prefix of the queries (`queries`).
 */
function measure(nq, search, ids, gt, inspect) {
  const w0 = performance.now();
  for (let i = 0; i < Math.min(WARMUP, nq) && performance.now() - w0 < 1000; i++) search(i);
  const lat = [];
  let rsum = 0;
  let total = 0;
  let passes = 0;
  let used = nq;
  while (passes === 0 || total < MIN_SECONDS * 1000) {
    for (let i = 0; i < used; i++) {
      const t0 = performance.now();
      const r = search(i);
      const dt = performance.now() - t0;
      lat.push(dt);
      total += dt;
      if (passes === 0) {
        rsum += recallOf(ids(r), gt, i);
        if (inspect) inspect(r, i);
        if (total > BUDGET_S * 1000 && i + 1 >= MIN_QUERIES && i + 1 < nq) used = i + 1;
      }
    }
    passes++;
  }
  return {
    recall: rsum / used,
    qps: (lat.length * 1000) / total,
    p50Ms: percentile(lat, 50),
    p99Ms: percentile(lat, 99),
    queries: used,
    queriesTimed: lat.length,
  };
}

/**
 * The point to report: the smallest ef with recall >= TARGET, or a larger ef reaching it with
 * other plans that is more than 10 % faster (under 'auto' a larger ef can switch the plan to an
 * exact scan; points with the same plans differ only by timing noise). None reaching it: the
 * best recall.
 */
function pick(points) {
  const ok = points.filter((p) => p.recall >= TARGET);
  if (ok.length) return { ...ok.reduce((a, b) => (b.plans !== a.plans && b.qps > 1.1 * a.qps ? b : a)), reached: true };
  const best = Math.max(...points.map((p) => p.recall));
  return { ...points.find((p) => p.recall === best), reached: false };
}

function planCounts(plans) {
  const c = {};
  for (const p of plans) c[p] = (c[p] ?? 0) + 1;
  return Object.entries(c)
    .sort((a, b) => b[1] - a[1])
    .map(([k, v]) => `${k} ${v}`)
    .join(', ');
}

// ---------------------------------------------------------------------------- engines

async function buildOurs(d, at) {
  const index = new q.VectorIndex({
    dim: d.dim,
    metric: d.metric,
    m: M,
    efConstruction: EF_CONSTRUCTION,
    seed: 42,
    threads: 2,
    attributes: at.schema,
  });
  const keys = Uint32Array.from({ length: d.n }, (_, i) => i);
  const t0 = nowMs();
  await index.add(keys, d.base, { attributes: at.objects });
  const buildMs = nowMs() - t0;
  gc();
  const mem = index.memoryUsage();
  return { index, buildMs, attributesBytesPerVector: mem.attributes / d.n, memory: mem };
}

function oursPoint(d, index, filters, gt, ef, strategy) {
  const qv = Array.from({ length: d.nq }, (_, i) => d.queries.subarray(i * d.dim, (i + 1) * d.dim));
  const opts = filters.map((filter) => ({ k: K, ef, filter, filterStrategy: strategy }));
  const plans = [];
  let dc = 0;
  const r = measure(
    d.nq,
    (i) => index.searchSync(qv[i], opts[i]),
    (x) => x.keys,
    gt,
    (x) => {
      plans.push(x.plan.strategy);
      dc += x.plan.distanceComputations;
    },
  );
  return { ef, strategy, ...r, plans: planCounts(plans), distancesPerQuery: dc / d.nq };
}

async function runOurs(d, built, wl, filters, gt) {
  const { index } = built;
  // sanity: count() agrees with the JS predicate on the first query
  const c0 = index.count(filters[0]);
  if (c0 !== gt.matched[0]) throw new Error(`${wl.id}: count(filter) = ${c0}, JS predicate matches ${gt.matched[0]}`);
  // what evaluating the filter alone costs (count() builds the same bitmap a search starts from)
  for (let i = 0; i < Math.min(WARMUP, d.nq); i++) index.count(filters[i]);
  const tc = performance.now();
  for (let i = 0; i < d.nq; i++) index.count(filters[i]);
  const countUs = ((performance.now() - tc) * 1000) / d.nq;
  const points = [];
  for (const ef of EFS) points.push(oursPoint(d, index, filters, gt, ef, 'auto'));
  const chosen = pick(points);
  const forced = ['exact', 'acorn', 'graph'].map((s) => oursPoint(d, index, filters, gt, chosen.ef, s));
  const sweeps = {};
  for (const s of SWEEP_FORCED) {
    sweeps[s] = EFS.map((ef) => oursPoint(d, index, filters, gt, ef, s));
    for (const p of sweeps[s])
      log(
        `      ${s} ef ${p.ef}: recall ${p.recall.toFixed(4)}, ${p.qps.toFixed(0)} QPS, ${p.distancesPerQuery.toFixed(0)} distances`,
      );
  }
  return { countUs, points, chosen, forced, sweeps };
}

async function buildHnswlib(d) {
  const a = await createAdapter('hnswlib', {
    dim: d.dim,
    metric: d.metric,
    n: d.n,
    m: M,
    efConstruction: EF_CONSTRUCTION,
  });
  const keys = Uint32Array.from({ length: d.n }, (_, i) => i);
  const t0 = nowMs();
  await a.build(keys, d.base);
  const buildMs = nowMs() - t0;
  a.prepareQueries(d.queries, d.nq);
  return { a, buildMs };
}

/** hnswlib-node: setEf + searchKnn(query, k, (label) => boolean); ef ascending until recall >= 0.95. */
function runHnswlib(d, built, preds, gt) {
  const { a } = built;
  const idx = a.index;
  const qa = a.qarrays;
  const points = [];
  for (const ef of EFS) {
    idx.setEf(ef);
    const p = measure(
      d.nq,
      (i) => idx.searchKnn(qa[i], K, preds[i]),
      (r) => r.neighbors,
      gt,
    );
    points.push({ ef, ...p });
    log(`      hnswlib ef ${ef}: recall ${p.recall.toFixed(4)}, ${p.qps.toFixed(0)} QPS`);
    if (p.recall >= TARGET) break;
  }
  return { points, chosen: pick(points) };
}

async function buildUsearch(d, tmpDir) {
  const a = await createAdapter('usearch', {
    dim: d.dim,
    metric: d.metric,
    m: M,
    efConstruction: EF_CONSTRUCTION,
    threads: 2,
    tmpDir,
  });
  const keys = Uint32Array.from({ length: d.n }, (_, i) => i);
  const t0 = nowMs();
  await a.build(keys, d.base);
  const buildMs = nowMs() - t0;
  a.prepareQueries(d.queries, d.nq);
  return { a, buildMs };
}

/**
 * usearch has no filter: search k' = min(n, ceil(k / selectivity)) neighbours, keep the first k
 * that pass the predicate. expansion_search = max(ef, k') (usearch searches with at least k').
 */
async function runUsearch(d, built, wl, preds, gt) {
  const { a } = built;
  const kk = Math.min(d.n, Math.ceil(K / wl.selectivity));
  const efs = [...new Set(EFS.map((e) => Math.max(e, kk)))];
  const points = [];
  const out = new Array(K);
  for (const ef of efs) {
    await a.setEf(ef);
    const idx = a.index;
    const qv = a.qviews;
    const p = measure(
      d.nq,
      (i) => {
        const r = idx.search(qv[i], kk, 1);
        const pr = preds[i];
        const keys = r.keys;
        let c = 0;
        for (let j = 0; j < keys.length && c < K; j++) {
          const key = Number(keys[j]);
          if (pr(key)) out[c++] = key;
        }
        return out.slice(0, c);
      },
      (r) => r,
      gt,
    );
    points.push({ ef, kPrime: kk, ...p });
    if (p.recall >= TARGET) break;
  }
  return { points, chosen: pick(points), kPrime: kk };
}

function runJs(d, preds, gt) {
  const out = { dists: new Float64Array(K), ids: new Int32Array(K) };
  const p = measure(
    d.nq,
    (i) => {
      jsPrefilterSearch(d, i, preds[i], K, out);
      return out.ids;
    },
    (r) => r,
    gt,
  );
  return { points: [p], chosen: { ...p, reached: p.recall >= TARGET } };
}

// ---------------------------------------------------------------------------- report

function markdown(res, sum) {
  return [
    `### ${res.dataset} (${res.n.toLocaleString('en-US')} × ${res.dim}, ${res.metric}, ${res.nq} queries)`,
    '',
    `Attributes: ${sum.attributesBytesPerVector} bytes/vector.`,
    '',
    renderTable('filter.build', sum.build),
    '',
    renderTable('filter.workloads', sum.workloads),
    '',
    "quiver's strategies at the ef 'auto' was reported at:",
    '',
    renderTable('filter.strategies', sum.strategies),
    '',
    renderTable('filter.targets', sum.targets),
  ].join('\n');
}

// ---------------------------------------------------------------------------- main

const resultsDir = path.join(BENCH_DIR, 'results');
fs.mkdirSync(resultsDir, { recursive: true });
for (const name of args.dataset.split(',')) {
  log(`dataset ${name}`);
  const t0 = nowMs();
  const busyBefore = await backgroundCpuBusy(1000);
  const d = await loadData(name);
  const at = makeAttributes(d);
  const want = args.workloads?.split(',');
  const workloads = makeWorkloads(d, at).filter((w) => !want || want.includes(w.id));
  const res = {
    dataset: name,
    n: d.n,
    dim: d.dim,
    metric: d.metric,
    nq: d.nq,
    efs: EFS,
    date: new Date().toISOString(),
    machine: { cpu: os.cpus()[0]?.model?.trim(), cpus: os.cpus().length, node: process.version },
    versions: {
      'quiver-search': packageVersion('quiver-search'),
      'hnswlib-node': packageVersion('hnswlib-node'),
      usearch: packageVersion('usearch'),
    },
    isa: q.capabilities().isa,
    busyBefore,
    order: 'per filter: every engine back to back (all indexes built first)',
    build: [],
    workloads: [],
  };

  // ground truth first (cached), so the engines' timings are not interleaved with it
  const prepared = workloads.map((wl) => {
    const preds = Array.from({ length: d.nq }, (_, i) => wl.pred(i));
    const filters = Array.from({ length: d.nq }, (_, i) => wl.filter(i));
    const gt = groundTruth(d, wl, preds);
    let m = 0;
    for (let i = 0; i < d.nq; i++) m += gt.matched[i];
    return { wl, preds, filters, gt, matchedMean: m / d.nq };
  });

  // Every index is built first; then each filter runs on every engine back to back, so a change
  // in the machine's load (it is shared) hits the engines of one filter alike.
  log('  build quiver');
  const ours = await buildOurs(d, at);
  res.build.push({ engine: 'quiver-search', threads: 2, buildMs: ours.buildMs });
  res.attributesBytesPerVector = ours.attributesBytesPerVector;
  res.memory = ours.memory;
  log(`    ${(ours.buildMs / 1000).toFixed(1)} s, attributes ${ours.attributesBytesPerVector.toFixed(1)} B/vector`);
  let h = null;
  if (ENGINES.has('hnswlib')) {
    log('  build hnswlib-node');
    h = await buildHnswlib(d);
    res.build.push({ engine: 'hnswlib-node', threads: 1, buildMs: h.buildMs });
    log(`    ${(h.buildMs / 1000).toFixed(1)} s`);
  }
  let u = null;
  const tmpDir = fs.mkdtempSync(path.join(os.tmpdir(), 'filter-bench-'));
  if (ENGINES.has('usearch')) {
    log('  build usearch');
    u = await buildUsearch(d, tmpDir);
    res.build.push({ engine: 'usearch', threads: 2, buildMs: u.buildMs });
    log(`    ${(u.buildMs / 1000).toFixed(1)} s`);
  }
  gc();

  for (const p of prepared) {
    log(`  ${p.wl.id}: quiver`);
    const r = await runOurs(d, ours, p.wl, p.filters, p.gt);
    log(
      `    count(filter) ${r.countUs.toFixed(1)} µs; auto: ef ${r.chosen.ef} recall ${r.chosen.recall.toFixed(4)} ${r.chosen.qps.toFixed(0)} QPS (${r.chosen.plans}); forced ${r.forced.map((f) => `${f.strategy} ${f.recall.toFixed(3)}/${f.qps.toFixed(0)}`).join(', ')}`,
    );
    const w = { id: p.wl.id, label: p.wl.label, selectivity: p.wl.selectivity, matchedMean: p.matchedMean, ours: r };
    if (h) {
      log(`  ${p.wl.id}: hnswlib-node`);
      w.hnswlib = runHnswlib(d, h, p.preds, p.gt);
    }
    if (u) {
      log(`  ${p.wl.id}: usearch`);
      w.usearch = await runUsearch(d, u, p.wl, p.preds, p.gt);
    }
    if (ENGINES.has('js')) {
      log(`  ${p.wl.id}: JS prefilter`);
      w.js = runJs(d, p.preds, p.gt);
    }
    res.workloads.push(w);
  }
  ours.index.close?.();
  h?.a.dispose();
  u?.a.dispose();
  fs.rmSync(tmpDir, { recursive: true, force: true });
  gc();

  res.wallSeconds = (nowMs() - t0) / 1000;
  res.busyAfter = await backgroundCpuBusy(1000);
  fs.writeFileSync(
    path.join(resultsDir, `filter-${name}${PARTIAL ? '-quick' : ''}.json`),
    JSON.stringify(res, null, 2),
  );
  const sum = filterDataset(res);
  writeSummary('filter', { [name]: sum }, { quick: PARTIAL });
  console.log(markdown(res, sum));
  console.log('');
}
