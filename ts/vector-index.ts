/**
 * The `VectorIndex` class: the public face of the native engine.
 *
 * @packageDocumentation
 */

import { QuiverError, toQuiverError } from './errors'
import { getNative } from './native'
import type { NativeBatchResult, NativeCancelToken, NativeConfig, NativeProgressCallback, NativeVectorIndex } from './native'
import {
  MAX_U32,
  checkKey,
  checkOptionsObject,
  checkSignal,
  invalid,
  resolveConfig,
  resolveSearch,
  toKeys,
  toMatrix,
  toVector,
} from './validate'
import type { SignalLike } from './validate'

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
}

/** The fully resolved configuration of an index (every option filled in). */
export type ResolvedVectorIndexOptions = Required<VectorIndexOptions>

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
   * Memory-map the file instead of reading it into memory. The resulting index is read-only:
   * `add`, `upsert` and `remove` fail with `ERR_READ_ONLY`. Loading is fast and memory is shared
   * with the OS page cache; the file is still fully checksummed on load. The file must not be
   * modified in place while mapped (replacing it with `save()` is safe). Default `false`.
   */
  mmap?: boolean
}

/** Key value used to fill unused slots of {@link BatchSearchResult.keys}. */
export const EMPTY_KEY = MAX_U32

function abortedError(what: string): QuiverError {
  return new QuiverError('ERR_ABORTED', `${what} aborted`)
}

/** Runs `run` with a CancelToken wired to `signal` (if any); native errors become QuiverErrors. */
async function withCancel<T>(
  signal: SignalLike | undefined,
  run: (token: NativeCancelToken | null) => Promise<T>,
): Promise<T> {
  if (signal === undefined) {
    try {
      return await run(null)
    } catch (err) {
      throw toQuiverError(err)
    }
  }
  const token = new (getNative().CancelToken)()
  const onAbort = (): void => {
    token.cancel()
  }
  signal.addEventListener('abort', onAbort, { once: true })
  try {
    // The signal may have fired between the caller's check and here.
    if (signal.aborted) token.cancel()
    return await run(token)
  } catch (err) {
    throw toQuiverError(err)
  } finally {
    signal.removeEventListener('abort', onAbort)
  }
}

/** Calls a synchronous native method, converting errors. */
function syncCall<T>(run: () => T): T {
  try {
    return run()
  } catch (err) {
    throw toQuiverError(err)
  }
}

/** Wraps a user progress callback for the native error-first convention. */
class ProgressRelay {
  private last = -1
  private settled = false
  readonly native: NativeProgressCallback

  constructor(private readonly fn: (done: number, total: number) => void) {
    // The native side calls `(err, done, total)` (napi-rs error-first convention); err is
    // always null for progress events (failures reject the add's promise instead).
    const relay = (err: Error | null, done: number, total: number): void => {
      if (err === null) this.emit(done, total)
    }
    this.native = relay as NativeProgressCallback
  }

  private emit(done: number, total: number): void {
    if (this.settled || done <= this.last) return
    this.last = done
    try {
      this.fn(done, total)
    } catch {
      // User callback errors must not break the operation.
    }
  }

  /** Marks the operation finished; guarantees a final `(total, total)` call on success. */
  finish(total: number, success: boolean): void {
    if (success && this.last !== total) this.emit(total, total)
    this.settled = true
  }
}

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

function checkPath(path: unknown): string {
  if (typeof path !== 'string' || path.length === 0) {
    throw invalid(`path must be a non-empty string, got ${path === null ? 'null' : typeof path}`)
  }
  return path
}

function checkLoadOptions(options: unknown): boolean {
  const o = checkOptionsObject(options, 'load options')
  if (o.mmap !== undefined && typeof o.mmap !== 'boolean') throw invalid('options.mmap must be a boolean')
  return o.mmap === true
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
    const mmap = checkLoadOptions(options)
    const Native = getNative().NativeVectorIndex
    const native = await withCancel(undefined, () => Native.load(p, mmap))
    return VectorIndex.wrap(native)
  }

  /** Synchronous variant of {@link VectorIndex.load} (blocks the event loop while reading). */
  static loadSync(path: string, options?: LoadOptions): VectorIndex {
    const p = checkPath(path)
    const mmap = checkLoadOptions(options)
    const Native = getNative().NativeVectorIndex
    return VectorIndex.wrap(syncCall(() => Native.loadSync(p, mmap)))
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
    return this.native.size
  }

  /** True for an index loaded with `{ mmap: true }`: writes fail with `ERR_READ_ONLY`. */
  get readOnly(): boolean {
    return this.native.readOnly
  }

  /** The resolved configuration (all options, defaults filled in). */
  config(): ResolvedVectorIndexOptions {
    const c = this.cfg
    return {
      dim: c.dim,
      metric: c.metric as Metric,
      index: c.index as IndexType,
      m: c.m,
      efConstruction: c.efConstruction,
      efSearch: c.efSearch,
      seed: c.seed,
      threads: c.threads,
    }
  }

  /** Approximate native memory held by the index, in bytes (vectors + graph + bookkeeping). */
  memoryUsage(): number {
    return syncCall(() => this.native.memoryUsage())
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

  private async addImpl(keys: unknown, vectors: unknown, upsert: boolean, options: unknown): Promise<number> {
    const o = checkOptionsObject(options, 'add options')
    const onProgress = o.onProgress
    if (onProgress !== undefined && typeof onProgress !== 'function') {
      throw invalid('options.onProgress must be a function')
    }
    const signal = checkSignal(o.signal)
    const { k, v } = this.prepareAdd(keys, vectors)
    const total = k.length
    const op = upsert ? 'upsert' : 'add'
    if (signal !== undefined && signal.aborted) {
      throw new QuiverError('ERR_ABORTED', `${op} aborted after inserting 0 of ${total} vectors`, { inserted: 0 })
    }
    if (total === 0) return 0
    const relay = typeof onProgress === 'function' ? new ProgressRelay(onProgress as (d: number, t: number) => void) : null
    let ok = false
    try {
      const res = await withCancel(signal, (token) =>
        this.native.add(k, v, upsert, relay === null ? null : relay.native, token),
      )
      if (res.aborted) {
        throw new QuiverError('ERR_ABORTED', `${op} aborted after inserting ${res.inserted} of ${total} vectors`, {
          inserted: res.inserted,
        })
      }
      ok = true
      return res.inserted
    } finally {
      if (relay !== null) relay.finish(total, ok)
    }
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
