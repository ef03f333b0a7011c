/**
 * The `VectorIndex` class: the public face of the native engine.
 *
 * @packageDocumentation
 */

import { QuiverError } from './errors'
import { abortedError, checkPath, closeOnDispose, runAdd, syncCall, withCancel } from './call'
import { getNative } from './native'
import type { NativeBatchResult, NativeConfig, NativeVectorIndex } from '../native/index'
import {
  MAX_U32,
  checkKey,
  checkOptionsObject,
  checkSignal,
  invalid,
  loadThreads,
  resolveConfig,
  resolveSearch,
  toKeys,
  toMatrix,
  toVector,
} from './validate'

/**
 * Distance metric.
 *
 * - `'l2'`     – squared Euclidean distance `Σ (aᵢ − bᵢ)²` (no square root).
 * - `'ip'`     – inner-product distance `1 − a·b`.
 * - `'cosine'` – cosine distance `1 − a·b / (‖a‖‖b‖)`; vectors are stored unit-normalised.
 *
 * Smaller is always nearer.
 */
export type Metric = 'l2' | 'ip' | 'cosine'

/**
 * Index structure.
 *
 * - `'hnsw'` – approximate nearest-neighbour search with a Hierarchical Navigable Small World graph (default).
 * - `'flat'` – exact brute-force search (every query scans every vector).
 */
export type IndexType = 'hnsw' | 'flat'

/** Options for `new VectorIndex(options)`. Only `dim` is required. */
export interface VectorIndexOptions {
  /** Number of components per vector; integer in [1, {@link MAX_DIM}]. Required. */
  dim: number
  /** Distance metric. Default `'l2'` (squared Euclidean). */
  metric?: Metric
  /** Index structure. Default `'hnsw'`. */
  index?: IndexType
  /** HNSW: max neighbours per node on upper layers (layer 0 uses 2·m); integer in [2, 128]. Default 16. */
  m?: number
  /** HNSW: candidate-list size while building; integer in [1, {@link MAX_EF}]. Default 200. */
  efConstruction?: number
  /** HNSW: default candidate-list size while searching; integer in [1, {@link MAX_EF}]. Default 64. */
  efSearch?: number
  /** Seed for the HNSW level generator (builds are reproducible for a given seed and insertion order); integer in [0, 2³²−1]. Default 42. */
  seed?: number
  /**
   * Worker threads used by `add`/`upsert` and `searchBatch`; integer in [1, 256].
   * Default: the number of logical CPUs (`os.availableParallelism()` where available, else `os.cpus().length`).
   */
  threads?: number
  /**
   * Compressed codes for traversal and scans, with an exact f32 rerank of the final candidates.
   * Default `{ type: 'none' }`. See {@link QuantizationOptions} and the "Quantization" section of
   * docs/API.md.
   */
  quantization?: QuantizationOptions
  /**
   * Where the f32 vectors ("originals", used for `rerank: 'exact'` and `get()`) live:
   * - `'memory'` (default): in RAM;
   * - `'mmap'`: in RAM while building; once saved and loaded they are served from the index file
   *   (memory-mapped), so only codes and graph stay hot. The loaded index stays writable: the
   *   first write copies the vectors back into RAM;
   * - `'none'`: dropped once the quantizer is trained (needs a quantization and `rerank: 'none'`;
   *   `get()` then returns the codes' reconstruction).
   */
  originals?: Originals
}

/** Quantizer kinds. See {@link QuantizationOptions}. */
export type QuantizationType = 'none' | 'sq8' | 'binary' | 'rabitq' | 'pq'

/** Where f32 vectors live; see {@link VectorIndexOptions.originals}. */
export type Originals = 'memory' | 'mmap' | 'none'

/**
 * Quantization of a {@link VectorIndex}.
 *
 * - `'sq8'`: one byte per dimension (per-dimension min/max), 4× smaller than f32.
 * - `'binary'`: one bit per dimension around the trained mean (32×); `queryBits: 4` (default)
 *   scores a 4-bit query against the bits, `1` uses plain Hamming distance.
 * - `'rabitq'`: RaBitQ (random rotation + sign bits + two factors per vector) with an unbiased
 *   distance estimate and an error bound, used to skip reranks that cannot win.
 * - `'pq'`: product quantization, `m` sub-spaces of 256 (`nbits: 8`) or 16 (`nbits: 4`)
 *   centroids; `opq: true` learns a rotation first. Flat indexes with `nbits: 4` scan with
 *   in-register lookups (fast-scan).
 *
 * Training: `await index.train(sample)` trains explicitly; otherwise the quantizer trains itself
 * once `trainingSize` vectors have been added (on those vectors). Until then vectors are kept
 * in f32 and searches are exact over them — nothing is lost. Binary and RaBitQ on fewer than 64
 * dimensions work but recall suffers (few bits per vector): prefer sq8 there.
 */
export interface QuantizationOptions {
  /** The quantizer. */
  type: QuantizationType
  /** PQ: number of sub-spaces; must divide `dim`. Default `dim / 8` (16× smaller than f32 at nbits 8). */
  m?: number
  /** PQ: bits per sub-code, 8 or 4. Default 8. */
  nbits?: 4 | 8
  /** PQ: learn an OPQ rotation before the codebooks. Default `false`. */
  opq?: boolean
  /** Binary: query precision, 1 or 4 bits. Default 4. */
  queryBits?: 1 | 4
  /** `'exact'` (default): rescore the final candidates with f32 originals; `'none'`: return estimates. */
  rerank?: 'exact' | 'none'
  /** Candidates before the rerank = max(ef, k × oversample); number in [1, 100]. Default 3 (10 for binary and rabitq). */
  oversample?: number
  /**
   * Vectors used for automatic training; training happens once this many are stored.
   * Default 10,000 (PQ: 25,600 at nbits 8, 4,096 at nbits 4).
   */
  trainingSize?: number
}

/** Fully resolved quantization options. */
export type ResolvedQuantizationOptions = Required<QuantizationOptions>

/** The fully resolved configuration of an index (every option filled in). */
export type ResolvedVectorIndexOptions = Required<Omit<VectorIndexOptions, 'quantization'>> & {
  quantization: ResolvedQuantizationOptions
}

/** Native memory held by an index, in bytes, by part. */
export interface MemoryUsage {
  /** Sum of the parts. */
  total: number
  /** f32 vectors in RAM (0 when memory-mapped or dropped). */
  originals: number
  /** Quantized codes. */
  codes: number
  /** Graph links and node metadata. */
  graph: number
  /** Key maps. */
  keys: number
}

/**
 * Keys identifying vectors: unsigned 32-bit integers in [0, 2³²−1].
 * A `Uint32Array` is passed to the engine without copying.
 */
export type Keys = Uint32Array | readonly number[]

/** One vector: a `Float32Array` (zero-copy) or an array of numbers, of length `dim`. */
export type Vector = Float32Array | readonly number[]

/**
 * Several vectors: a flat row-major `Float32Array` (zero-copy) or flat `number[]` of length `n · dim`,
 * or an array of `n` rows, each a `Float32Array` or `number[]` of length `dim`.
 */
export type Vectors = Float32Array | readonly number[] | readonly Float32Array[] | readonly (readonly number[])[]

/** Options for `add` / `upsert`. */
export interface AddOptions {
  /**
   * Called from time to time with the number of vectors of this call written so far and the
   * total; `done` is strictly increasing and the last call (made before the promise resolves) has
   * `done === total`. Exceptions thrown by the callback are ignored.
   */
  onProgress?: (done: number, total: number) => void
  /**
   * Cancels the operation. Vectors already written stay in the index (which remains valid);
   * the promise rejects with a {@link QuiverError} `ERR_ABORTED` whose `inserted` field
   * tells how many vectors of this call were written.
   */
  signal?: AbortSignal
}

/** Options for `search` / `searchBatch`. */
export interface SearchOptions {
  /** Number of neighbours to return; integer in [1, {@link MAX_K}]. Default 10. */
  k?: number
  /**
   * HNSW candidate-list size for this search; integer in [1, {@link MAX_EF}]. Larger is more
   * accurate and slower. Default `max(efSearch, k)`; values below `k` are raised to `k`.
   * Ignored by flat indexes.
   */
  ef?: number
  /** Cancels the search (async variants only); the promise rejects with `ERR_ABORTED`. */
  signal?: AbortSignal
}

/** Result of a single-query search, nearest first. */
export interface SearchResult {
  /** Keys of the nearest vectors; length `min(k, size)`. */
  keys: Uint32Array
  /** Distances matching `keys` (see {@link Metric}), ascending. */
  distances: Float32Array
}

/**
 * Result of a batch search of `n` queries. Row `i` occupies indices `[i·k, i·k + counts[i])`
 * of `keys` and `distances` (nearest first); the unused tail of each row holds key
 * `0xFFFFFFFF` and distance `NaN`.
 */
export interface BatchSearchResult {
  /** `n · k` keys, row-major. */
  keys: Uint32Array
  /** `n · k` distances, row-major. */
  distances: Float32Array
  /** Number of valid results in each row (`min(k, size)`). */
  counts: Uint32Array
}

/** Options for `VectorIndex.load` / `VectorIndex.loadSync`. */
export interface LoadOptions {
  /**
   * Expected quantization: when given, loading fails with `ERR_INVALID_ARGUMENT` if the file's
   * quantizer differs (type or parameters), instead of silently using the file's.
   */
  quantization?: QuantizationOptions
  /**
   * Memory-map the file instead of reading it into memory. The resulting index is read-only:
   * `add`, `upsert` and `remove` fail with `ERR_READ_ONLY`. Loading is fast and memory is shared
   * with the OS page cache; the file is still fully checksummed on load. The file must not be
   * modified in place while mapped (replacing it with `save()` is safe). Default `false`.
   */
  mmap?: boolean
  /**
   * Worker threads of the loaded index (`add`/`upsert`, `searchBatch`); integer in [1, 256].
   * Default: the number of logical CPUs. The thread count a file was saved with is not used.
   */
  threads?: number
}

/** Key value used to fill unused slots of {@link BatchSearchResult.keys}. */
export const EMPTY_KEY = MAX_U32

function emptyBatch(): BatchSearchResult {
  return { keys: new Uint32Array(0), distances: new Float32Array(0), counts: new Uint32Array(0) }
}

/** Checks the native batch result has the documented padded `n × k` layout. */
function checkBatch(r: NativeBatchResult, n: number, k: number): BatchSearchResult {
  const size = n * k
  if (r.keys.length !== size || r.distances.length !== size || r.counts.length !== n) {
    throw new QuiverError(
      'ERR_INTERNAL',
      `native batch search returned inconsistent lengths (keys ${r.keys.length}, distances ${r.distances.length}, counts ${r.counts.length}) for ${n} queries with k = ${k}`,
    )
  }
  return { keys: r.keys, distances: r.distances, counts: r.counts }
}

/** A native configuration as the public resolved options. @internal */
export function resolvedOptions(c: Readonly<NativeConfig>): ResolvedVectorIndexOptions {
  return {
    dim: c.dim,
    metric: c.metric as Metric,
    index: c.index as IndexType,
    m: c.m,
    efConstruction: c.efConstruction,
    efSearch: c.efSearch,
    seed: c.seed,
    threads: c.threads,
    quantization: {
      type: c.quantization as QuantizationType,
      m: c.pqM,
      nbits: c.nbits as 4 | 8,
      opq: c.opq,
      queryBits: c.queryBits as 1 | 4,
      rerank: c.rerank ? 'exact' : 'none',
      oversample: c.oversample,
      trainingSize: c.trainingSize,
    },
    originals: c.originals as Originals,
  }
}

function checkLoadOptions(options: unknown): { mmap: boolean; quantization: unknown; threads: number } {
  const o = checkOptionsObject(options, 'load options', ['mmap', 'quantization', 'threads'])
  if (o.mmap !== undefined && typeof o.mmap !== 'boolean') throw invalid('options.mmap must be a boolean')
  return { mmap: o.mmap === true, quantization: o.quantization, threads: loadThreads(o.threads) }
}

/** Fails if a loaded index's quantization disagrees with the expected one. */
function checkExpectedQuantization(index: VectorIndex, expected: unknown): VectorIndex {
  if (expected === undefined) return index
  const got = index.config()
  const want = resolveConfig({ dim: got.dim, quantization: expected })
  const g = got.quantization
  const differs: string[] = []
  if (want.quantization !== g.type) differs.push(`type ${g.type} (expected ${want.quantization})`)
  else if (g.type === 'pq' && (want.pqM !== g.m || want.nbits !== g.nbits || want.opq !== g.opq)) {
    differs.push(
      `pq m ${g.m} nbits ${g.nbits} opq ${g.opq} (expected m ${want.pqM} nbits ${want.nbits} opq ${want.opq})`,
    )
  } else if (g.type === 'binary' && want.queryBits !== g.queryBits) {
    differs.push(`queryBits ${g.queryBits} (expected ${want.queryBits})`)
  }
  if (differs.length > 0) {
    throw invalid(`the file's quantization disagrees with options.quantization: ${differs.join(', ')}`)
  }
  return index
}

/**
 * A vector index (HNSW or flat) living in native memory.
 *
 * Async methods run on a native thread pool and never block the event loop; `*Sync` variants
 * run on the calling thread. All methods throw/reject with {@link QuiverError}.
 *
 * Typed-array arguments (`Uint32Array` keys, `Float32Array` vectors) are passed to the engine
 * without copying: do not modify them until the returned promise settles.
 *
 * Concurrent operations on one index are safe. Writes (`add`, `upsert`, `remove`, `save`) are
 * serialised; searches run in parallel with each other and between the chunks of a long add,
 * so a search made while an add is running may see part of that add's vectors.
 *
 * @example
 * ```ts
 * const index = new VectorIndex({ dim: 3, metric: 'cosine' })
 * await index.add([1, 2], [[1, 0, 0], [0, 1, 0]])
 * const { keys, distances } = await index.search([0.9, 0.1, 0], { k: 1 }) // keys[0] === 1
 * ```
 */
export class VectorIndex {
  private native!: NativeVectorIndex
  private cfg!: Readonly<NativeConfig>

  /**
   * Creates an empty index.
   * @throws {@link QuiverError} `ERR_INVALID_ARGUMENT` if an option is missing, of the wrong type or out of range.
   */
  constructor(options: VectorIndexOptions) {
    const cfg = resolveConfig(options)
    const Native = getNative().NativeVectorIndex
    this.attach(syncCall(() => new Native(cfg)))
  }

  private attach(native: NativeVectorIndex): void {
    this.native = native
    this.cfg = Object.freeze({ ...syncCall(() => native.config()) })
  }

  private static wrap(native: NativeVectorIndex): VectorIndex {
    const index = Object.create(VectorIndex.prototype) as VectorIndex
    index.attach(native)
    return index
  }

  /**
   * Loads an index saved with {@link VectorIndex.save}, reading the file on a worker thread.
   * @param path - file to read.
   * @param options - `{ mmap: true }` maps the file read-only instead of reading it.
   * @throws {@link QuiverError} `ERR_IO` (cannot read), `ERR_CORRUPT_FILE` (damaged, truncated or
   *   not an index file), `ERR_VERSION_MISMATCH` (written by an incompatible format version).
   */
  static async load(path: string, options?: LoadOptions): Promise<VectorIndex> {
    const p = checkPath(path)
    const { mmap, quantization, threads } = checkLoadOptions(options)
    const Native = getNative().NativeVectorIndex
    const native = await withCancel(undefined, () => Native.load(p, mmap, threads))
    return checkExpectedQuantization(VectorIndex.wrap(native), quantization)
  }

  /** Synchronous variant of {@link VectorIndex.load} (blocks the event loop while reading). */
  static loadSync(path: string, options?: LoadOptions): VectorIndex {
    const p = checkPath(path)
    const { mmap, quantization, threads } = checkLoadOptions(options)
    const Native = getNative().NativeVectorIndex
    return checkExpectedQuantization(VectorIndex.wrap(syncCall(() => Native.loadSync(p, mmap, threads))), quantization)
  }

  /** Number of components per vector. */
  get dim(): number {
    return this.cfg.dim
  }

  /** Distance metric of this index. */
  get metric(): Metric {
    return this.cfg.metric as Metric
  }

  /** Index structure (`'hnsw'` or `'flat'`). */
  get indexType(): IndexType {
    return this.cfg.index as IndexType
  }

  /** Number of vectors currently stored. */
  get size(): number {
    return syncCall(() => this.native.size)
  }

  /** True for an index loaded with `{ mmap: true }`: writes fail with `ERR_READ_ONLY`. */
  get readOnly(): boolean {
    return syncCall(() => this.native.readOnly)
  }

  /**
   * Releases the index now (native memory, worker threads, file mapping) instead of at garbage
   * collection; calls already running finish first. Idempotent; every later call fails with
   * `ERR_CLOSED`. Where the runtime has `Symbol.asyncDispose`, `await using` closes it too.
   */
  close(): void {
    this.native.close()
  }

  /** Whether {@link VectorIndex.close} was called. */
  get closed(): boolean {
    return this.native.closed
  }

  /** The resolved configuration (all options, defaults filled in). */
  config(): ResolvedVectorIndexOptions {
    return resolvedOptions(this.cfg)
  }

  /** Approximate native memory held by the index, in bytes, by part (originals, codes, graph, keys). */
  memoryUsage(): MemoryUsage {
    return syncCall(() => this.native.memoryUsage())
  }

  /**
   * True once the quantizer is trained (always true without quantization). Before that, added
   * vectors are kept in f32 and searched exactly.
   */
  get trained(): boolean {
    return syncCall(() => this.native.trained)
  }

  /**
   * Trains the quantizer on a worker thread, then encodes every stored vector. Without
   * `sample`, trains on the first `trainingSize` stored vectors. Retraining an index whose
   * originals were dropped (`originals: 'none'`) is not possible.
   * @param sample - training vectors (any number ≥ the quantizer's minimum: 1 for sq8, 2 for
   *   binary/rabitq, 2^nbits for PQ — the error says how many are needed).
   * @throws {@link QuiverError} `ERR_INVALID_ARGUMENT` (no quantization, too few vectors, originals
   *   dropped), `ERR_DIMENSION_MISMATCH`, `ERR_NON_FINITE`, `ERR_READ_ONLY`, `ERR_ABORTED`.
   */
  async train(sample?: Vectors, options?: { signal?: AbortSignal }): Promise<void> {
    const o = checkOptionsObject(options, 'train options', ['signal'])
    const signal = checkSignal(o.signal)
    const data = sample === undefined ? new Float32Array(0) : toMatrix(sample, this.cfg.dim, 'sample').data
    if (sample !== undefined && data.length === 0) throw invalid('the training sample is empty')
    if (signal !== undefined && signal.aborted) throw abortedError('train')
    await withCancel(signal, () => this.native.train(data))
  }

  /** Synchronous variant of {@link VectorIndex.train} (blocks the event loop while training). */
  trainSync(sample?: Vectors): void {
    const data = sample === undefined ? new Float32Array(0) : toMatrix(sample, this.cfg.dim, 'sample').data
    if (sample !== undefined && data.length === 0) throw invalid('the training sample is empty')
    syncCall(() => this.native.trainSync(data))
  }

  private prepareAdd(keys: unknown, vectors: unknown): { k: Uint32Array; v: Float32Array } {
    const k = toKeys(keys)
    const dim = this.cfg.dim
    const m = toMatrix(vectors, dim, 'vectors')
    if (m.rows !== k.length) {
      if (m.flat) {
        throw new QuiverError(
          'ERR_DIMENSION_MISMATCH',
          `vectors has length ${m.data.length}, expected keys.length * dim = ${k.length} * ${dim} = ${k.length * dim}`,
        )
      }
      throw invalid(`got ${k.length} keys but ${m.rows} vectors`)
    }
    return { k, v: m.data }
  }

  private addImpl(keys: unknown, vectors: unknown, upsert: boolean, options: unknown): Promise<number> {
    return runAdd(
      options,
      upsert ? 'upsert' : 'add',
      'vectors',
      () => {
        const { k, v } = this.prepareAdd(keys, vectors)
        return { total: k.length, data: { k, v } }
      },
      ({ k, v }, progress, token) => this.native.add(k, v, upsert, progress, token),
    )
  }

  /**
   * Inserts vectors under new keys, building the index on worker threads.
   *
   * The call is atomic with respect to key errors: if any key is repeated within `keys` or is
   * already present, nothing is inserted (`ERR_DUPLICATE_KEY`; use {@link VectorIndex.upsert} to replace).
   * For `cosine`, vectors are normalised to unit length before being stored.
   *
   * @param keys - one key per vector.
   * @param vectors - `keys.length` vectors (see {@link Vectors}).
   * @returns the number of vectors inserted (`keys.length`).
   * @throws {@link QuiverError} `ERR_INVALID_ARGUMENT`, `ERR_DIMENSION_MISMATCH`, `ERR_NON_FINITE`,
   *   `ERR_DUPLICATE_KEY`, `ERR_READ_ONLY`, `ERR_ABORTED` (with `inserted`).
   */
  add(keys: Keys, vectors: Vectors, options?: AddOptions): Promise<number> {
    return this.addImpl(keys, vectors, false, options)
  }

  /**
   * Inserts vectors, replacing the vectors of keys that already exist. Keys must still be unique
   * within one call (`ERR_DUPLICATE_KEY`). Otherwise like {@link VectorIndex.add}.
   * @returns the number of vectors written (`keys.length`).
   */
  upsert(keys: Keys, vectors: Vectors, options?: AddOptions): Promise<number> {
    return this.addImpl(keys, vectors, true, options)
  }

  /** Synchronous variant of {@link VectorIndex.add} (blocks the event loop). */
  addSync(keys: Keys, vectors: Vectors): number {
    const { k, v } = this.prepareAdd(keys, vectors)
    if (k.length === 0) return 0
    return syncCall(() => this.native.addSync(k, v, false)).inserted
  }

  /** Synchronous variant of {@link VectorIndex.upsert} (blocks the event loop). */
  upsertSync(keys: Keys, vectors: Vectors): number {
    const { k, v } = this.prepareAdd(keys, vectors)
    if (k.length === 0) return 0
    return syncCall(() => this.native.addSync(k, v, true)).inserted
  }

  /**
   * Finds the `k` nearest neighbours of `query`, on a worker thread.
   * An empty index yields empty arrays; `k > size` yields `size` results.
   * @throws {@link QuiverError} `ERR_INVALID_ARGUMENT` (bad `k`/`ef`), `ERR_DIMENSION_MISMATCH`,
   *   `ERR_NON_FINITE`, `ERR_ABORTED`.
   */
  async search(query: Vector, options?: SearchOptions): Promise<SearchResult> {
    const { k, ef, signal } = resolveSearch(options, this.cfg.efSearch)
    const q = toVector(query, this.cfg.dim, 'query')
    if (signal !== undefined && signal.aborted) throw abortedError('search')
    const r = await withCancel(signal, (token) => this.native.search(q, k, ef, token))
    return { keys: r.keys, distances: r.distances }
  }

  /** Synchronous variant of {@link VectorIndex.search}; `signal` is ignored unless already aborted. */
  searchSync(query: Vector, options?: SearchOptions): SearchResult {
    const { k, ef, signal } = resolveSearch(options, this.cfg.efSearch)
    const q = toVector(query, this.cfg.dim, 'query')
    if (signal !== undefined && signal.aborted) throw abortedError('search')
    const r = syncCall(() => this.native.searchSync(q, k, ef))
    return { keys: r.keys, distances: r.distances }
  }

  /**
   * Searches many queries at once, spread over the worker pool. Results are identical to
   * calling {@link VectorIndex.search} for each query. See {@link BatchSearchResult} for the layout.
   * @param queries - a flat row-major `Float32Array` (`n · dim`) or an array of `n` vectors.
   */
  async searchBatch(queries: Vectors, options?: SearchOptions): Promise<BatchSearchResult> {
    const { k, ef, signal } = resolveSearch(options, this.cfg.efSearch)
    const m = toMatrix(queries, this.cfg.dim, 'queries')
    if (signal !== undefined && signal.aborted) throw abortedError('searchBatch')
    if (m.rows === 0) return emptyBatch()
    const r = await withCancel(signal, (token) => this.native.searchBatch(m.data, k, ef, token))
    return checkBatch(r, m.rows, k)
  }

  /** Synchronous variant of {@link VectorIndex.searchBatch}; `signal` is ignored unless already aborted. */
  searchBatchSync(queries: Vectors, options?: SearchOptions): BatchSearchResult {
    const { k, ef, signal } = resolveSearch(options, this.cfg.efSearch)
    const m = toMatrix(queries, this.cfg.dim, 'queries')
    if (signal !== undefined && signal.aborted) throw abortedError('searchBatch')
    if (m.rows === 0) return emptyBatch()
    const r = syncCall(() => this.native.searchBatchSync(m.data, k, ef))
    return checkBatch(r, m.rows, k)
  }

  /**
   * Removes vectors by key. Unknown keys are ignored.
   * @returns the number of vectors actually removed.
   * @throws {@link QuiverError} `ERR_INVALID_ARGUMENT`, `ERR_READ_ONLY`.
   */
  async remove(keys: Keys): Promise<number> {
    const k = toKeys(keys)
    return withCancel(undefined, () => this.native.remove(k))
  }

  /** Synchronous variant of {@link VectorIndex.remove}. */
  removeSync(keys: Keys): number {
    const k = toKeys(keys)
    return syncCall(() => this.native.removeSync(k))
  }

  /** True if a vector is stored under `key`. */
  has(key: number): boolean {
    const k = checkKey(key)
    return syncCall(() => this.native.has(k))
  }

  /**
   * Returns a copy of the vector stored under `key`, or `undefined`.
   * For the `cosine` metric this is the stored unit-normalised vector, not the original input.
   */
  get(key: number): Float32Array | undefined {
    const k = checkKey(key)
    const v = syncCall(() => this.native.get(k))
    return v === null ? undefined : v
  }

  /**
   * Writes the index to `path` (created or replaced) on a worker thread. The write is atomic:
   * the data goes to a temporary file in the same directory that is then renamed over `path`,
   * so a failed save leaves any previous file intact, and an index memory-mapped from `path`
   * keeps working. Writers wait while a save runs; searches do not.
   * @throws {@link QuiverError} `ERR_IO`.
   */
  async save(path: string): Promise<void> {
    const p = checkPath(path)
    await withCancel(undefined, () => this.native.save(p))
  }

  /** Synchronous variant of {@link VectorIndex.save}. */
  saveSync(path: string): void {
    const p = checkPath(path)
    syncCall(() => this.native.saveSync(p))
  }
}

closeOnDispose(VectorIndex)
