// Adapters with a common interface for the three libraries:
//
//   const a = await createAdapter(lib, { dim, metric, n, m, efConstruction, seed, threads })
//   await a.build(keys: Uint32Array, vectors: Float32Array)     // whole set, timed by caller
//   a.prepareQueries(queries: Float32Array, nq)                  // convert once, outside timings
//   await a.setEf(ef)                                            // before a sweep point
//   a.searcher(k)  -> (i) => result                              // single query, sync, one thread
//   a.resultIds(result) -> ArrayLike<number> (after timing)
//   await a.save(file); a.memoryUsage(); a.dispose()
//   optional: a.searchBatch(k, ef, threads) -> Promise<ArrayLike<number>(nq*k)>
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO_ROOT = path.resolve(HERE, '..', '..');
const require = createRequire(import.meta.url);

export const LIBS = ['ours', 'hnswlib', 'usearch'];
export const LABELS = { ours: 'quiver-search', hnswlib: 'hnswlib-node', usearch: 'usearch' };

let quiverCache;
/** Our library from <repo>/dist/index.mjs, or null when it has not been built yet. */
export async function loadQuiver() {
  if (quiverCache !== undefined) return quiverCache;
  const entry = path.join(REPO_ROOT, 'dist', 'index.mjs');
  if (!fs.existsSync(entry)) return (quiverCache = null);
  try {
    const mod = await import(pathToFileURL(entry).href);
    // dist/ can exist before the native addon is built: make sure it really loads
    if (typeof mod.capabilities === 'function') mod.capabilities();
    else void new mod.VectorIndex({ dim: 2, metric: 'l2', index: 'flat' });
    quiverCache = mod;
  } catch (e) {
    console.error(`[peers] failed to import ${entry}: ${e.message}`);
    quiverCache = null;
  }
  return quiverCache;
}

export function packageVersion(pkg) {
  try {
    const file =
      pkg === 'quiver-search' ? path.join(REPO_ROOT, 'package.json') : require.resolve(`${pkg}/package.json`);
    return JSON.parse(fs.readFileSync(file, 'utf8')).version;
  } catch {
    // packages whose "exports" hide package.json
    try {
      return JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'node_modules', pkg, 'package.json'), 'utf8')).version;
    } catch {
      return null;
    }
  }
}

export async function createAdapter(lib, opts) {
  if (lib === 'ours') return new OursAdapter(opts, await loadQuiver());
  if (lib === 'hnswlib') return new HnswlibAdapter(opts);
  if (lib === 'usearch') return new UsearchAdapter(opts);
  throw new Error(`unknown lib ${lib}`);
}

// ---------------------------------------------------------------------------
class OursAdapter {
  constructor({ dim, metric, m = 16, efConstruction = 200, seed = 42, threads = 2 }, quiver) {
    if (!quiver) throw new Error('quiver-search is not built (dist/index.mjs missing): run `npm run build`');
    this.lib = 'ours';
    this.q = quiver;
    this.dim = dim;
    this.threads = threads;
    this.config = { dim, metric, index: 'hnsw', m, efConstruction, efSearch: 64, seed, threads };
    this.index = new quiver.VectorIndex(this.config);
    this.ef = 64;
  }
  get notes() {
    return [
      `VectorIndex(${JSON.stringify(this.config)}); build = await index.add(all keys, all vectors) with threads: ${this.threads}`,
    ];
  }
  async build(keys, vectors) {
    await this.index.add(keys, vectors);
  }
  prepareQueries(queries, nq) {
    this.queries = queries;
    this.nq = nq;
    this.qviews = Array.from({ length: nq }, (_, i) => queries.subarray(i * this.dim, (i + 1) * this.dim));
  }
  async setEf(ef) {
    this.ef = ef;
  }
  searcher(k) {
    const idx = this.index;
    const qv = this.qviews;
    const opt = { k, ef: this.ef };
    return (i) => idx.searchSync(qv[i], opt);
  }
  asyncSearcher(k) {
    const idx = this.index;
    const qv = this.qviews;
    const opt = { k, ef: this.ef };
    return (i) => idx.search(qv[i], opt);
  }
  resultIds(r) {
    return r.keys;
  }
  async searchBatch(k, ef) {
    const res = await this.index.searchBatch(this.queries, { k, ef });
    return res.keys;
  }
  async save(file) {
    await this.index.save(file);
  }
  memoryUsage() {
    return typeof this.index.memoryUsage === 'function' ? this.index.memoryUsage().total : null;
  }
  dispose() {
    this.index = null;
  }
}

// ---------------------------------------------------------------------------
class HnswlibAdapter {
  constructor({ dim, metric, n, m = 16, efConstruction = 200, seed = 42 }) {
    const { HierarchicalNSW } = require('hnswlib-node');
    this.lib = 'hnswlib';
    this.dim = dim;
    // hnswlib-node 'cosine' = normalise on add/query + inner-product space -> distance 1 - cos
    this.space = metric === 'cosine' ? 'cosine' : metric === 'ip' ? 'ip' : 'l2';
    this.index = new HierarchicalNSW(this.space, dim);
    this.index.initIndex(n, m, efConstruction, seed);
    this.threads = 1;
    this.initArgs = [n, m, efConstruction, seed];
  }
  get notes() {
    return [
      `new HierarchicalNSW('${this.space}', ${this.dim}); initIndex(${this.initArgs.join(', ')}); addPoint(number[], label) per vector (single thread: the only mode)`,
      'addPoint/searchKnn take plain JS number[]; build time includes copying each Float32Array row into one reused number[]; query arrays are converted once before the timed loops',
    ];
  }
  async build(keys, vectors) {
    const dim = this.dim;
    const row = new Array(dim).fill(0); // reused: addPoint copies into a std::vector
    const n = keys.length;
    for (let i = 0; i < n; i++) {
      const o = i * dim;
      for (let j = 0; j < dim; j++) row[j] = vectors[o + j];
      this.index.addPoint(row, keys[i]);
    }
  }
  /** The same copy loop without addPoint, to report the conversion share of the build. */
  conversionOnlyMs(vectors, n) {
    const dim = this.dim;
    const row = new Array(dim).fill(0);
    const t0 = performance.now();
    let sink = 0;
    for (let i = 0; i < n; i++) {
      const o = i * dim;
      for (let j = 0; j < dim; j++) row[j] = vectors[o + j];
      sink += row[i % dim];
    }
    if (sink === -1) console.log(sink);
    return performance.now() - t0;
  }
  prepareQueries(queries, nq) {
    this.nq = nq;
    this.qarrays = Array.from({ length: nq }, (_, i) => Array.from(queries.subarray(i * this.dim, (i + 1) * this.dim)));
  }
  async setEf(ef) {
    this.index.setEf(ef);
  }
  searcher(k) {
    const idx = this.index;
    const qa = this.qarrays;
    return (i) => idx.searchKnn(qa[i], k);
  }
  resultIds(r) {
    return r.neighbors;
  }
  async save(file) {
    await this.index.writeIndex(file);
  }
  memoryUsage() {
    return null;
  }
  dispose() {
    this.index = null;
  }
}

// ---------------------------------------------------------------------------
// usearch 2.25 JS API notes (javascript/usearch.ts + lib.cpp):
//  - expansion_search is fixed at construction; there is no per-search ef and no
//    setter in JS. To sweep ef we save the built index once and, per ef, construct
//    a fresh Index({ ..., expansion_search: ef }) and load() the file (load keeps
//    the constructor's expansion_search; header only restores metric/dims/multi).
//  - add(keys: BigUint64Array, vectors, threads) and search(vectors, k, threads)
//    take an explicit thread count (0 = std::thread::hardware_concurrency()).
//    With threads = 1 no thread is spawned (runs inline on the JS thread).
//  - keys are BigInt (BigUint64Array); 'cos' returns 1 - cos, 'l2sq' squared L2.
class UsearchAdapter {
  constructor({ dim, metric, m = 16, efConstruction = 200, threads = 2, tmpDir }) {
    this.u = require('usearch');
    this.lib = 'usearch';
    this.dim = dim;
    this.threads = threads;
    this.tmpDir = tmpDir;
    this.metric = metric === 'cosine' ? 'cos' : metric === 'ip' ? 'ip' : 'l2sq';
    this.config = {
      dimensions: dim,
      metric: this.metric,
      quantization: 'f32',
      connectivity: m,
      expansion_add: efConstruction,
      expansion_search: 64,
      multi: false,
    };
    this.index = new this.u.Index(this.config);
    this.ef = 64;
    this.savedPath = null;
  }
  get notes() {
    return [
      `new Index(${JSON.stringify(this.config)}); add(BigUint64Array keys, Float32Array all vectors, threads=${this.threads})`,
      'ef sweep: expansion_search can only be set in the constructor, so each sweep point searches a fresh Index({expansion_search: ef}) that load()s the saved build',
      'single-query search(query, k, threads=1) (inline, no thread spawn); keys come back as BigUint64Array',
    ];
  }
  async build(keys, vectors) {
    const big = new BigUint64Array(keys.length);
    for (let i = 0; i < keys.length; i++) big[i] = BigInt(keys[i]);
    this.index.add(big, vectors, this.threads);
  }
  prepareQueries(queries, nq) {
    this.queries = queries;
    this.nq = nq;
    this.qviews = Array.from({ length: nq }, (_, i) => queries.subarray(i * this.dim, (i + 1) * this.dim));
  }
  async setEf(ef) {
    if (ef === this.ef && this.index) return;
    if (!this.savedPath) {
      this.savedPath = path.join(this.tmpDir, `usearch-sweep-${process.pid}.usearch`);
      this.index.save(this.savedPath);
    }
    this.index = null;
    if (typeof globalThis.gc === 'function') globalThis.gc();
    const ix = new this.u.Index({ ...this.config, expansion_search: ef });
    ix.load(this.savedPath);
    this.index = ix;
    this.ef = ef;
  }
  searcher(k) {
    const idx = this.index;
    const qv = this.qviews;
    return (i) => idx.search(qv[i], k, 1);
  }
  resultIds(r) {
    const out = new Array(r.keys.length);
    for (let i = 0; i < r.keys.length; i++) out[i] = Number(r.keys[i]);
    return out;
  }
  async searchBatch(k, ef, threads) {
    await this.setEf(ef);
    const res = this.index.search(this.queries, k, threads);
    const out = new Int32Array(res.keys.length);
    for (let i = 0; i < out.length; i++) out[i] = Number(res.keys[i]);
    return out;
  }
  async save(file) {
    this.index.save(file);
  }
  memoryUsage() {
    return null;
  }
  dispose() {
    this.index = null;
    if (this.savedPath) fs.rmSync(this.savedPath, { force: true });
  }
}
