// Dataset loaders (Fashion-MNIST IDX/ivecs), the seeded synthetic generator and
// the exact ground-truth cache (bench/.cache, gitignored).
//
// prepareDataset() runs in the parent (run.mjs): it generates / verifies / caches
// whatever is needed and returns a small JSON "spec". loadDataset(spec) runs in
// every child process and only reads files.
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import crypto from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { loadQuiver } from './peers.mjs';
import { nowMs } from './measure.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
export const BENCH_DIR = path.resolve(HERE, '..');
export const REPO_ROOT = path.resolve(BENCH_DIR, '..');
export const CACHE_DIR = path.join(BENCH_DIR, '.cache');
export const SHARED_DATA = process.env.QUIVER_SHARED_DATA
  ? path.resolve(process.env.QUIVER_SHARED_DATA)
  : path.resolve(REPO_ROOT, '..', 'shared', 'data');
export const FMNIST_DIR = path.join(SHARED_DATA, 'fashion-mnist');

export const K = 10;

/** Synthetic generator defaults (full size). Changing any field changes the cache key. */
export const SYNTHETIC_DEFAULTS = Object.freeze({
  generator: 'clustered-gauss-v1',
  n: 100_000,
  nq: 1_000,
  dim: 384,
  clusters: 100,
  // noise = per-dimension Gaussian with std noise * (j+1)^-decay / rms, on a random
  // permutation of the dimensions, i.e. total noise norm ~= noise (centres are unit).
  noise: 1.0,
  decay: 0.25,
  seed: 42,
});

// ---------------------------------------------------------------------------
// File formats

/** IDX image file (optionally gzipped): returns { n, dim, data: Uint8Array(n*dim) }. */
export function readIdxImages(file) {
  let buf = fs.readFileSync(file);
  if (file.endsWith('.gz')) buf = zlib.gunzipSync(buf);
  const magic = buf.readUInt32BE(0);
  if (magic !== 2051) throw new Error(`${file}: bad IDX magic ${magic}`);
  const n = buf.readUInt32BE(4);
  const dim = buf.readUInt32BE(8) * buf.readUInt32BE(12);
  const data = new Uint8Array(buf.buffer, buf.byteOffset + 16, n * dim);
  return { n, dim, data };
}

/** ivecs: per row int32 count then count int32 (little-endian). */
export function readIvecs(file, maxRows = Infinity) {
  const buf = fs.readFileSync(file);
  const all = new Int32Array(buf.buffer, buf.byteOffset, buf.byteLength / 4);
  const k = all[0];
  const rows = Math.min(all.length / (k + 1), maxRows);
  const out = new Int32Array(rows * k);
  for (let r = 0; r < rows; r++) {
    if (all[r * (k + 1)] !== k) throw new Error(`${file}: ragged ivecs at row ${r}`);
    out.set(all.subarray(r * (k + 1) + 1, (r + 1) * (k + 1)), r * k);
  }
  return { n: rows, k, data: out };
}

function writeTyped(file, arr) {
  fs.writeFileSync(file, new Uint8Array(arr.buffer, arr.byteOffset, arr.byteLength));
}

function readTyped(file, Ctor) {
  const buf = fs.readFileSync(file);
  // copy into an aligned, exactly sized buffer
  const out = new Ctor(buf.byteLength / Ctor.BYTES_PER_ELEMENT);
  new Uint8Array(out.buffer).set(buf);
  return out;
}

function u8ToF32(u8, rows, dim) {
  // Raw pixel values 0..255 as float (NOT /255): that is the scaling the shipped
  // ground truth was computed with (PROVENANCE.md: exact integer L2 on uint8).
  const out = new Float32Array(rows * dim);
  for (let i = 0; i < rows * dim; i++) out[i] = u8[i];
  return out;
}

function hashKey(obj) {
  return crypto.createHash('sha1').update(JSON.stringify(obj)).digest('hex').slice(0, 12);
}

// ---------------------------------------------------------------------------
// Seeded PRNG (splitmix32 seeding -> xoshiro128**) and Gaussian sampler

export function makeRng(seed) {
  let s = seed >>> 0;
  const split = () => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
  let a = split(),
    b = split(),
    c = split(),
    d = split();
  const next = () => {
    const r = Math.imul(rotl(Math.imul(b, 5), 7), 9) >>> 0;
    const t = (b << 9) >>> 0;
    c ^= a;
    d ^= b;
    b ^= c;
    a ^= d;
    c ^= t;
    d = rotl(d, 11);
    return r;
  };
  const uniform = () => (next() + 0.5) / 4294967296; // (0,1)
  let spare = null;
  const gauss = () => {
    if (spare !== null) {
      const v = spare;
      spare = null;
      return v;
    }
    const u = uniform(),
      v = uniform();
    const r = Math.sqrt(-2 * Math.log(u));
    spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  };
  const int = (n) => Math.floor(uniform() * n);
  return { next, uniform, gauss, int };
}
function rotl(x, k) {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

function normalizeRows(arr, rows, dim) {
  for (let r = 0; r < rows; r++) {
    const o = r * dim;
    let s = 0;
    for (let j = 0; j < dim; j++) s += arr[o + j] * arr[o + j];
    const inv = s > 0 ? 1 / Math.sqrt(s) : 0;
    for (let j = 0; j < dim; j++) arr[o + j] *= inv;
  }
}

/**
 * Clustered synthetic data: `clusters` random unit centres; every point picks a
 * centre uniformly, adds anisotropic Gaussian noise (power-law spectrum over a
 * random permutation of the dimensions, total norm ~= `noise`), and is
 * L2-normalised. Base and queries use independent streams (queries are not in
 * the base set). Deterministic for given params.
 */
export function generateSynthetic(p) {
  const { n, nq, dim, clusters, noise, decay, seed } = p;
  const rng = makeRng(seed);
  const centres = new Float32Array(clusters * dim);
  for (let i = 0; i < centres.length; i++) centres[i] = rng.gauss();
  normalizeRows(centres, clusters, dim);
  // per-dimension noise std: power law, random permutation, scaled to total rms `noise`
  const perm = Array.from({ length: dim }, (_, i) => i);
  for (let i = dim - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [perm[i], perm[j]] = [perm[j], perm[i]];
  }
  const std = new Float64Array(dim);
  let ss = 0;
  for (let j = 0; j < dim; j++) {
    const v = Math.pow(j + 1, -decay);
    std[perm[j]] = v;
    ss += v * v;
  }
  const scale = noise / Math.sqrt(ss);
  for (let j = 0; j < dim; j++) std[j] *= scale;

  const draw = (rows, r) => {
    const out = new Float32Array(rows * dim);
    for (let i = 0; i < rows; i++) {
      const c = r.int(clusters) * dim;
      const o = i * dim;
      for (let j = 0; j < dim; j++) out[o + j] = centres[c + j] + std[j] * r.gauss();
    }
    normalizeRows(out, rows, dim);
    return out;
  };
  const base = draw(n, makeRng(seed * 7919 + 1));
  const queries = draw(nq, makeRng(seed * 7919 + 2));
  return { base, queries };
}

// ---------------------------------------------------------------------------
// Exact ground truth

/** Insert (dist, id) into a sorted top-k list (ascending distance, ties -> lower id). */
function topkInsert(dists, ids, k, d, id) {
  if (d > dists[k - 1] || (d === dists[k - 1] && id > ids[k - 1])) return;
  let i = k - 1;
  while (i > 0 && (dists[i - 1] > d || (dists[i - 1] === d && ids[i - 1] > id))) {
    dists[i] = dists[i - 1];
    ids[i] = ids[i - 1];
    i--;
  }
  dists[i] = d;
  ids[i] = id;
}

/** Plain-JS exact top-k. metric 'l2' (squared L2) or 'cosine' (1 - dot; rows assumed normalised for base). */
export function bruteForceJs(base, n, queries, qFrom, qTo, dim, k, metric) {
  const out = new Int32Array((qTo - qFrom) * k);
  const outD = new Float64Array((qTo - qFrom) * k);
  const dists = new Float64Array(k);
  const ids = new Int32Array(k);
  let qnorm = 1;
  for (let q = qFrom; q < qTo; q++) {
    dists.fill(Infinity);
    ids.fill(0x7fffffff);
    const qo = q * dim;
    if (metric === 'cosine') {
      let s = 0;
      for (let j = 0; j < dim; j++) s += queries[qo + j] * queries[qo + j];
      qnorm = 1 / Math.sqrt(s);
    }
    for (let i = 0; i < n; i++) {
      const bo = i * dim;
      let d = 0;
      if (metric === 'l2') {
        for (let j = 0; j < dim; j++) {
          const t = base[bo + j] - queries[qo + j];
          d += t * t;
        }
      } else {
        let dot = 0,
          bn = 0;
        for (let j = 0; j < dim; j++) {
          dot += base[bo + j] * queries[qo + j];
          bn += base[bo + j] * base[bo + j];
        }
        d = 1 - (dot * qnorm) / Math.sqrt(bn);
      }
      topkInsert(dists, ids, k, d, i);
    }
    out.set(ids, (q - qFrom) * k);
    outD.set(dists, (q - qFrom) * k);
  }
  return { ids: out, dists: outD };
}

/** Exact top-k with our `index: 'flat'` (exact SIMD scan) via searchBatch. */
async function groundTruthQuiverFlat(quiver, base, n, queries, nq, dim, k, metric) {
  const idx = new quiver.VectorIndex({ dim, metric, index: 'flat', threads: 2 });
  const keys = new Uint32Array(n);
  for (let i = 0; i < n; i++) keys[i] = i;
  await idx.add(keys, base);
  const res = await idx.searchBatch(queries, { k });
  const ids = new Int32Array(nq * k);
  for (let i = 0; i < nq * k; i++) ids[i] = res.keys[i];
  return { ids, dists: res.distances };
}

/**
 * Compare two id lists row by row; a position mismatch is tolerated when the
 * reference distance of the two ids is equal within tol (near-ties in float).
 */
function compareGt(idsA, idsB, rows, k, refDist) {
  let mismatches = 0;
  let tiesTolerated = 0;
  for (let r = 0; r < rows; r++) {
    const a = new Set(idsA.subarray(r * k, r * k + k));
    for (let j = 0; j < k; j++) {
      const id = idsB[r * k + j];
      if (!a.has(id)) {
        if (refDist && refDist(r, id, j)) tiesTolerated++;
        else mismatches++;
      }
    }
  }
  return { rows, mismatches, tiesTolerated };
}

// ---------------------------------------------------------------------------
// prepare (parent) / load (children)

function log(...a) {
  console.error('[datasets]', ...a);
}

/**
 * @param {'fashion-mnist'|'synthetic'} name
 * @param {{ quick?: boolean, nBase?: number, nQuery?: number }} opts
 * @returns {Promise<object>} JSON-serialisable spec for loadDataset()
 */
export async function prepareDataset(name, opts = {}) {
  fs.mkdirSync(CACHE_DIR, { recursive: true });
  if (name === 'fashion-mnist') return prepareFmnist(opts);
  if (name === 'synthetic') return prepareSynthetic(opts);
  throw new Error(`unknown dataset ${name}`);
}

async function prepareFmnist({ quick = false, nBase, nQuery } = {}) {
  const train = path.join(FMNIST_DIR, 'train-images-idx3-ubyte.gz');
  const test = path.join(FMNIST_DIR, 't10k-images-idx3-ubyte.gz');
  const gtFile = path.join(FMNIST_DIR, 'groundtruth', 'test_top100_l2_neighbors.ivecs');
  for (const f of [train, test, gtFile])
    if (!fs.existsSync(f)) throw new Error(`missing ${f} (set QUIVER_SHARED_DATA)`);
  const n = nBase ?? (quick ? 10_000 : 60_000);
  const nq = nQuery ?? (quick ? 200 : 10_000);
  const spec = {
    name: 'fashion-mnist',
    metric: 'l2',
    dim: 784,
    nBase: n,
    nQuery: nq,
    k: K,
    scaling: 'raw 0..255 as float32 (as in PROVENANCE.md ground truth)',
    source: path.relative(REPO_ROOT, FMNIST_DIR),
    files: { train, test },
  };
  if (n === 60_000) {
    spec.gt = { kind: 'ivecs', path: gtFile, k: 100 };
    spec.gtMethod =
      'shipped groundtruth/test_top100_l2_neighbors.ivecs (exact integer L2, ties -> lower id), first 10 of 100';
    return spec;
  }
  // Subset of the base set: the shipped ground truth does not apply; compute exact
  // integer L2 top-k in JS on the uint8 pixels (exact, ties -> lower index) and cache.
  const key = hashKey({ name: 'fashion-mnist', n, nq, k: K, v: 1 });
  const dir = path.join(CACHE_DIR, `fashion-mnist-${key}`);
  const gtPath = path.join(dir, 'gt.i32');
  if (!fs.existsSync(gtPath)) {
    fs.mkdirSync(dir, { recursive: true });
    const t0 = nowMs();
    const tr = readIdxImages(train);
    const te = readIdxImages(test);
    const ids = bruteForceU8L2(tr.data, n, te.data, nq, 784, K);
    writeTyped(gtPath, ids);
    fs.writeFileSync(
      path.join(dir, 'meta.json'),
      JSON.stringify({ n, nq, k: K, method: 'js exact integer L2' }, null, 2),
    );
    log(`fashion-mnist subset ground truth (${n}x${nq}) computed in ${((nowMs() - t0) / 1000).toFixed(1)} s`);
  }
  spec.gt = { kind: 'i32', path: gtPath, k: K };
  spec.gtMethod = `plain-JS exact integer L2 over the first ${n} train images (cached)`;
  return spec;
}

function bruteForceU8L2(base, n, queries, nq, dim, k) {
  const out = new Int32Array(nq * k);
  const dists = new Float64Array(k);
  const ids = new Int32Array(k);
  for (let q = 0; q < nq; q++) {
    dists.fill(Infinity);
    ids.fill(0x7fffffff);
    const qo = q * dim;
    for (let i = 0; i < n; i++) {
      const bo = i * dim;
      let d = 0;
      for (let j = 0; j < dim; j++) {
        const t = base[bo + j] - queries[qo + j];
        d += t * t;
      }
      topkInsert(dists, ids, k, d, i);
    }
    out.set(ids, q * k);
  }
  return out;
}

async function prepareSynthetic({ quick = false, nBase, nQuery } = {}) {
  const params = { ...SYNTHETIC_DEFAULTS };
  if (quick) {
    params.n = 10_000;
    params.nq = 200;
  }
  if (nBase) params.n = nBase;
  if (nQuery) params.nq = nQuery;
  const key = hashKey(params);
  const dir = path.join(CACHE_DIR, `synthetic-${key}`);
  const f = {
    base: path.join(dir, 'base.f32'),
    queries: path.join(dir, 'queries.f32'),
    gt: path.join(dir, 'gt.i32'),
    meta: path.join(dir, 'meta.json'),
  };
  fs.mkdirSync(dir, { recursive: true });
  let meta = fs.existsSync(f.meta) ? JSON.parse(fs.readFileSync(f.meta, 'utf8')) : null;
  let base, queries;
  const loadVectors = () => {
    if (base) return;
    if (fs.existsSync(f.base) && fs.existsSync(f.queries)) {
      base = readTyped(f.base, Float32Array);
      queries = readTyped(f.queries, Float32Array);
    } else {
      const t0 = nowMs();
      ({ base, queries } = generateSynthetic(params));
      writeTyped(f.base, base);
      writeTyped(f.queries, queries);
      log(
        `synthetic ${params.n}x${params.dim} generated in ${((nowMs() - t0) / 1000).toFixed(1)} s -> ${path.relative(REPO_ROOT, dir)}`,
      );
    }
  };
  if (!fs.existsSync(f.base) || !fs.existsSync(f.queries)) {
    meta = null;
    loadVectors();
  }

  const quiver = await loadQuiver();
  const needGt = !meta || !fs.existsSync(f.gt) || (meta.method !== 'quiver-flat' && quiver);
  if (needGt) {
    loadVectors();
    const { n, nq, dim } = params;
    const t0 = nowMs();
    // plain-JS reference on the first 20 queries (or all, when our addon is missing)
    const nCheck = Math.min(20, nq);
    let ids, method, verification;
    if (quiver) {
      const flat = await groundTruthQuiverFlat(quiver, base, n, queries, nq, dim, K, 'cosine');
      ids = flat.ids;
      method = 'quiver-flat';
      const ref = bruteForceJs(base, n, queries, 0, nCheck, dim, K, 'cosine');
      // tolerate a swap at the k-th boundary when the true distances tie within 1e-6
      const trueDist = (q, id) => {
        let dot = 0;
        for (let j = 0; j < dim; j++) dot += base[id * dim + j] * queries[q * dim + j];
        return 1 - dot;
      };
      const kth = (q) => ref.dists[q * K + K - 1];
      verification = compareGt(ref.ids, ids, nCheck, K, (q, id) => Math.abs(trueDist(q, id) - kth(q)) < 1e-6);
      verification.against = `plain-JS brute force (float64) on the first ${nCheck} queries`;
      if (meta && meta.method === 'js-bruteforce' && fs.existsSync(f.gt)) {
        // upgrading a cache computed before the addon existed: compare every query
        const old = readTyped(f.gt, Int32Array);
        const kthOld = (q) => {
          let w = -Infinity;
          for (let j = 0; j < K; j++) w = Math.max(w, trueDist(q, old[q * K + j]));
          return w;
        };
        verification.vsCachedJsAll = compareGt(
          old,
          ids,
          nq,
          K,
          (q, id) => Math.abs(trueDist(q, id) - kthOld(q)) < 1e-6,
        );
        if (verification.vsCachedJsAll.mismatches > 0)
          throw new Error(
            `synthetic ground truth: quiver flat disagrees with the cached JS brute force: ${JSON.stringify(verification.vsCachedJsAll)}`,
          );
      }
      if (verification.mismatches > 0)
        throw new Error(
          `synthetic ground truth: quiver flat disagrees with JS brute force: ${JSON.stringify(verification)}`,
        );
    } else {
      log(
        `our addon (dist/index.mjs) not available: computing synthetic ground truth with plain-JS brute force (${n}x${nq}) ...`,
      );
      ids = bruteForceJs(base, n, queries, 0, nq, dim, K, 'cosine').ids;
      method = 'js-bruteforce';
      verification = {
        note: 'computed entirely with plain-JS brute force; will be recomputed with quiver flat when available',
      };
    }
    writeTyped(f.gt, ids);
    meta = { params, k: K, method, verification, seconds: (nowMs() - t0) / 1000, created: new Date().toISOString() };
    fs.writeFileSync(f.meta, JSON.stringify(meta, null, 2));
    log(
      `synthetic ground truth (${method}) in ${meta.seconds.toFixed(1)} s; verification ${JSON.stringify(verification)}`,
    );
  }
  return {
    name: 'synthetic',
    metric: 'cosine',
    dim: params.dim,
    nBase: params.n,
    nQuery: params.nq,
    k: K,
    params,
    cacheDir: path.relative(REPO_ROOT, dir),
    files: { base: f.base, queries: f.queries },
    gt: { kind: 'i32', path: f.gt, k: K },
    gtMethod:
      meta.method === 'quiver-flat'
        ? 'quiver index:"flat" searchBatch (exact scan), verified against plain-JS brute force on the first 20 queries'
        : 'plain-JS brute force (quiver addon was not built yet)',
    gtVerification: meta.verification,
  };
}

/** Load the vectors and ground truth described by a spec (children). */
export function loadDataset(spec) {
  let base, queries, gt;
  if (spec.name === 'fashion-mnist') {
    const tr = readIdxImages(spec.files.train);
    const te = readIdxImages(spec.files.test);
    base = u8ToF32(tr.data, spec.nBase, spec.dim);
    queries = u8ToF32(te.data, spec.nQuery, spec.dim);
  } else {
    base = readTyped(spec.files.base, Float32Array);
    queries = readTyped(spec.files.queries, Float32Array);
  }
  let gtK;
  if (spec.gt.kind === 'ivecs') {
    const g = readIvecs(spec.gt.path, spec.nQuery);
    gt = g.data;
    gtK = g.k;
  } else {
    gt = readTyped(spec.gt.path, Int32Array);
    gtK = spec.gt.k;
  }
  if (base.length !== spec.nBase * spec.dim) throw new Error(`base size mismatch ${base.length}`);
  if (queries.length !== spec.nQuery * spec.dim) throw new Error(`queries size mismatch ${queries.length}`);
  if (gt.length < spec.nQuery * gtK) throw new Error('ground truth too short');
  return { base, queries, gt, gtK, dim: spec.dim, n: spec.nBase, nq: spec.nQuery, metric: spec.metric };
}
