/**
 * The `VectorIndex` class: the public face of the native engine.
 *
 * @packageDocumentation
 */

import { serializable, similarity } from './result'
import { QuiverError } from './errors'
import {
  abortedError,
  checkPath,
  closeOnDispose,
  countMatching,
  readAttributes,
  readPayload,
  runAdd,
  syncCall,
  withCancel,
} from './call'
import { getNative } from './native'
import { SearchGatherer } from './gather'
import type { Hits } from './gather'
import type {
  NativeBatchResult,
  NativeConfig,
  NativeFilteredBatchResult,
  NativeFilteredResult,
  NativeSearchRequest,
  NativeVectorIndex,
} from '../native/index'
import { compileFilter, encodeAttributes, encodePayloads, parseAttrs, parseJson } from './filter'
import type { AttributeSchema, Attributes, Filter, JsonValue } from './filter'
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
   * Worker threads used by `add`/`upsert` and `searchBatch`; integer in [1, 256]. Writes of
   * fewer than 256 vectors link them on the writing thread (leaving the other cores to
   * searches); larger ones use every worker.
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
  /**
   * Attribute fields that searches can filter on, declared once: field name → type, e.g.
   * `{ lang: 'keyword', tags: 'keyword[]', year: 'int', price: 'float', inStock: 'bool' }`.
   * Values are given per key with `add`/`upsert` (`options.attributes`), saved in the index
   * file and read by `search({ filter })`, `count(filter)` and `getAttributes(key)`. See
   * {@link AttributeType}.
   */
  attributes?: AttributeSchema
  /**
   * Keep a JSON payload per key (given with `add`/`upsert` as `options.payloads`, returned by
   * searches with `include: ['payload']` and by `getPayload(key)`). Default `false`.
   */
  payload?: boolean
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
  /** Candidates before the rerank = max(ef, k × oversample); number in [1, 100]. Default 1: `ef` sets the rerank depth. */
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
export type ResolvedVectorIndexOptions = Required<Omit<VectorIndexOptions, 'quantization' | 'attributes'>> & {
  quantization: ResolvedQuantizationOptions
  /** The declared attribute fields, if any. */
  attributes?: AttributeSchema
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
  /** Attribute records and their indexes. */
  attributes: number
  /** Payloads held in memory (those of an index loaded with `mmap` stay in the file). */
  payloads: number
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
  /**
   * One attribute object per key (aligned with `keys`; `null` for none), for an index declared
   * with `attributes`. An upsert replaces a key's attributes (none given: none kept).
   */
  attributes?: readonly (Attributes | null | undefined)[]
  /**
   * One JSON value per key (aligned with `keys`; `null`/`undefined` for none), for an index
   * created with `payload: true`. At most {@link MAX_PAYLOAD_BYTES} of JSON each. Functions,
   * symbols, BigInt, non-finite numbers, `undefined` inside a value and cycles are refused with
   * `ERR_INVALID_ARGUMENT` and nothing of the call is stored. An upsert replaces the payload.
   */
  payloads?: readonly unknown[]
}

/** Metadata options of `addSync` / `upsertSync`. */
export type AddSyncOptions = Pick<AddOptions, 'attributes' | 'payloads'>

/**
 * How a filtered search may be answered: `'auto'` (default) lets the planner choose; the others
 * force a path (for tests and benchmarks). See {@link SearchPlan}.
 */
export type FilterStrategy = 'auto' | 'exact' | 'acorn' | 'graph'

/** What a filtered or range search did. */
export interface SearchPlan {
  /**
   * `'exact'`: the matching rows were scanned (recall 1.0); `'acorn'`: an ACORN-1 traversal
   * (rows failing the filter are looked through to their neighbours); `'graph'`: the plain
   * traversal with only matching rows in the results.
   */
  strategy: 'exact' | 'acorn' | 'graph'
  /** Keys matching the filter (all keys without one). */
  matched: number
  /** Distances computed for this query (traversal, scan and rerank). */
  distanceComputations: number
  /** A `maxDistance` search stopped widening its candidate pool at the cap; more hits may lie within the bound. */
  capped: boolean
}

/** What a search can return besides keys and distances. */
export type Include = 'attributes' | 'payload'

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
  /**
   * Only keys whose attributes match (see {@link Filter}); evaluated natively, no JavaScript
   * runs during the search. Always returns `min(k, matched)` hits.
   */
  filter?: Filter
  /** How to answer a filtered search. Default `'auto'`. */
  filterStrategy?: FilterStrategy
  /**
   * Only hits at most this distance away (in the metric's convention): fewer than `k` hits are
   * then normal. HNSW widens its candidate pool (doubling `ef`, up to 4,096) while the pool is
   * still within the bound; `plan.capped` says the cap stopped it.
   */
  maxDistance?: number
  /** Return each hit's `'attributes'` and/or `'payload'`. */
  include?: readonly Include[]
  /**
   * Also return `scores`: each hit's similarity, higher is closer (the cosine similarity for
   * `'cosine'`, the dot product for `'ip'`, minus the squared distance for `'l2'`), the
   * convention of `Collection`, `QuiverVectorStore` and the other indexes. Default `false`.
   */
  similarity?: boolean
}

/** Options for `searchBatch`: one `filter` for every query, or `filters`, one per query. */
export interface BatchSearchOptions extends SearchOptions {
  /** One filter per query (instead of `filter`). */
  filters?: readonly Filter[]
}

/** Result of a single-query search, nearest first. */
export interface SearchResult {
  /** Keys of the nearest vectors; length `min(k, size)`. */
  keys: Uint32Array
  /** Distances matching `keys` (see {@link Metric}), ascending. */
  distances: Float32Array
  /** Similarities matching `keys` (higher is closer), with `similarity: true`. */
  scores?: Float32Array
  /** How a search with `filter` or `maxDistance` was answered. */
  plan?: SearchPlan
  /** Each hit's attributes, with `include: ['attributes']`. */
  attributes?: (Attributes | undefined)[]
  /** Each hit's payload, with `include: ['payload']` (`undefined` for a key without one). */
  payloads?: (JsonValue | undefined)[]
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
  /** `n · k` similarities, row-major, with `similarity: true`. */
  scores?: Float32Array
  /** Number of valid results in each row (`min(k, size)`). */
  counts: Uint32Array
  /** One plan per query, for a batch with a filter or `maxDistance`. */
  plans?: SearchPlan[]
  /** Row `i`: the attributes of its `counts[i]` hits, with `include: ['attributes']`. */
  attributes?: (Attributes | undefined)[][]
  /** Row `i`: the payloads of its `counts[i]` hits, with `include: ['payload']`. */
  payloads?: (JsonValue | undefined)[][]
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
  return serializable({ keys: new Uint32Array(0), distances: new Float32Array(0), counts: new Uint32Array(0) })
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
  return serializable({ keys: r.keys, distances: r.distances, counts: r.counts })
}

const SEARCH_EXTRA = ['filter', 'filterStrategy', 'maxDistance', 'include', 'similarity']
const STRATEGIES: readonly string[] = ['auto', 'exact', 'acorn', 'graph']

/** Builds the native request of a filtered/range search, or `null` for a plain one. */
function nativeRequest(
  o: Record<string, unknown>,
  k: number,
  ef: number,
  schema: AttributeSchema | undefined,
  filters?: unknown,
): NativeSearchRequest | null {
  const { filter, filterStrategy, maxDistance, include } = o
  if (filter === undefined && maxDistance === undefined && include === undefined && filters === undefined) {
    return null
  }
  if (filterStrategy !== undefined && (typeof filterStrategy !== 'string' || !STRATEGIES.includes(filterStrategy))) {
    throw invalid(`options.filterStrategy must be one of ${STRATEGIES.join(', ')}, got ${String(filterStrategy)}`)
  }
  if (maxDistance !== undefined && (typeof maxDistance !== 'number' || Number.isNaN(maxDistance))) {
    throw invalid(`options.maxDistance must be a number, got ${String(maxDistance)}`)
  }
  let includeAttributes = false
  let includePayload = false
  if (include !== undefined) {
    if (!Array.isArray(include)) throw invalid("options.include must be an array of 'attributes' | 'payload'")
    for (const x of include as unknown[]) {
      if (x === 'attributes') includeAttributes = true
      else if (x === 'payload') includePayload = true
      else throw invalid(`options.include: unknown entry ${String(x)} (use 'attributes' or 'payload')`)
    }
  }
  return {
    k,
    ef,
    filter: filter === undefined ? undefined : compileFilter(filter, schema),
    filterStrategy: filterStrategy as string | undefined,
    maxDistance: maxDistance as number | undefined,
    includeAttributes,
    includePayload,
  }
}

/** The `similarity` search option, checked. */
function wantScores(o: Record<string, unknown>): boolean {
  if (o.similarity === undefined) return false
  if (typeof o.similarity !== 'boolean')
    throw invalid(`options.similarity must be a boolean, got ${String(o.similarity)}`)
  return o.similarity
}

function filteredResult(r: NativeFilteredResult): SearchResult {
  const out: SearchResult = serializable({ keys: r.keys, distances: r.distances, plan: r.plan as SearchPlan })
  if (r.attributes != null) out.attributes = r.attributes.map(parseAttrs)
  if (r.payloads != null) out.payloads = r.payloads.map(parseJson)
  return out
}

function filteredBatch(r: NativeFilteredBatchResult, n: number, k: number): BatchSearchResult {
  const out = checkBatch(r, n, k)
  out.plans = r.plans as SearchPlan[]
  const rows = <T>(flat: (string | null | undefined)[], parse: (s: string | null | undefined) => T): T[][] => {
    const res: T[][] = []
    let at = 0
    for (let i = 0; i < n; i++) {
      const c = r.counts[i]
      res.push(flat.slice(at, at + c).map(parse))
      at += c
    }
    return res
  }
  if (r.attributes != null) out.attributes = rows(r.attributes, parseAttrs)
  if (r.payloads != null) out.payloads = rows(r.payloads, parseJson)
  return out
}

function checkFilters(filters: unknown, n: number, schema: AttributeSchema | undefined): string[] | undefined {
  if (filters === undefined) return undefined
  if (!Array.isArray(filters) || filters.length !== n) {
    throw invalid(`options.filters must be an array of one filter per query (${n})`)
  }
  return filters.map((f: unknown, i: number) => {
    try {
      return compileFilter(f, schema)
    } catch (e) {
      if (e instanceof QuiverError) throw new QuiverError(e.code, `filters[${i}]: ${e.message}`)
      throw e
    }
  })
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
    ...(c.attributes == null ? {} : { attributes: JSON.parse(c.attributes) as AttributeSchema }),
    payload: c.payload === true,
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
 * serialised; searches run in parallel with each other and with the graph linking of an add
 * (the write lock is held only to copy a chunk's rows in and to finish it), so a search made
 * while an add is running may see part of that add's vectors, each either fully linked or not
 * at all; a key being upserted may be missing from a search that overlaps its upsert.
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
  private schema: AttributeSchema | undefined
  private gatherer: SearchGatherer | undefined

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
    this.schema = this.cfg.attributes == null ? undefined : (JSON.parse(this.cfg.attributes) as AttributeSchema)
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

  /** `result` with `scores` (the similarities of its distances) when `on`. */
  private scored<R extends { distances: Float32Array; scores?: Float32Array }>(result: R, on: boolean): R {
    if (on) {
      const metric = this.metric
      result.scores = result.distances.map((d) => similarity(metric, d))
    }
    return result
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

  /** Serialises `attributes` / `payloads` of an add of `n` keys. */
  private prepareMeta(o: Record<string, unknown>, n: number): { a: string | null; p: (string | null)[] | null } {
    return {
      a: o.attributes === undefined ? null : encodeAttributes(o.attributes, n),
      p: o.payloads === undefined ? null : encodePayloads(o.payloads, n),
    }
  }

  private addImpl(keys: unknown, vectors: unknown, upsert: boolean, options: unknown): Promise<number> {
    return runAdd(
      options,
      upsert ? 'upsert' : 'add',
      'vectors',
      (o) => {
        const { k, v } = this.prepareAdd(keys, vectors)
        return { total: k.length, data: { k, v, ...this.prepareMeta(o, k.length) } }
      },
      ({ k, v, a, p }, progress, token) => this.native.add(k, v, upsert, progress, token, a, p),
      ['attributes', 'payloads'],
    )
  }

  private addSyncImpl(keys: unknown, vectors: unknown, upsert: boolean, options: unknown): number {
    const o = checkOptionsObject(options, 'add options', ['attributes', 'payloads'])
    const { k, v } = this.prepareAdd(keys, vectors)
    if (k.length === 0) return 0
    const { a, p } = this.prepareMeta(o, k.length)
    return syncCall(() => this.native.addSync(k, v, upsert, a, p)).inserted
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
  addSync(keys: Keys, vectors: Vectors, options?: AddSyncOptions): number {
    return this.addSyncImpl(keys, vectors, false, options)
  }

  /** Synchronous variant of {@link VectorIndex.upsert} (blocks the event loop). */
  upsertSync(keys: Keys, vectors: Vectors, options?: AddSyncOptions): number {
    return this.addSyncImpl(keys, vectors, true, options)
  }

  /**
   * Finds the `k` nearest neighbours of `query`, on a worker thread.
   * An empty index yields empty arrays; `k > size` yields `size` results.
   * @throws {@link QuiverError} `ERR_INVALID_ARGUMENT` (bad `k`/`ef`), `ERR_DIMENSION_MISMATCH`,
   *   `ERR_NON_FINITE`, `ERR_ABORTED`.
   */
  async search(query: Vector, options?: SearchOptions): Promise<SearchResult> {
    const { k, ef, signal, options: o } = resolveSearch(options, this.cfg.efSearch, SEARCH_EXTRA)
    const q = toVector(query, this.cfg.dim, 'query')
    const req = nativeRequest(o, k, ef, this.schema)
    if (signal !== undefined && signal.aborted) throw abortedError('search')
    const scores = wantScores(o)
    if (req !== null) {
      return this.scored(
        filteredResult(await withCancel(signal, (token) => this.native.searchWith(q, req, token))),
        scores,
      )
    }
    // Without a signal, searches made in the same turn of the event loop share native calls.
    const r =
      signal === undefined
        ? await this.gather(q, k, ef)
        : await withCancel(signal, (token) => this.native.search(q, k, ef, token))
    return this.scored(serializable({ keys: r.keys, distances: r.distances }), scores)
  }

  private gather(q: Float32Array, k: number, ef: number): Promise<Hits> {
    this.gatherer ??= new SearchGatherer(this.native, this.cfg.dim)
    return this.gatherer.search(q, k, ef)
  }

  /** Synchronous variant of {@link VectorIndex.search}; `signal` is ignored unless already aborted. */
  searchSync(query: Vector, options?: SearchOptions): SearchResult {
    const { k, ef, signal, options: o } = resolveSearch(options, this.cfg.efSearch, SEARCH_EXTRA)
    const q = toVector(query, this.cfg.dim, 'query')
    const req = nativeRequest(o, k, ef, this.schema)
    if (signal !== undefined && signal.aborted) throw abortedError('search')
    const scores = wantScores(o)
    if (req !== null) return this.scored(filteredResult(syncCall(() => this.native.searchWithSync(q, req))), scores)
    const r = syncCall(() => this.native.searchSync(q, k, ef))
    return this.scored(serializable({ keys: r.keys, distances: r.distances }), scores)
  }

  /**
   * Number of keys whose attributes match `filter` (every key without one), answered from the
   * attribute indexes without a search.
   * @throws {@link QuiverError} `ERR_INVALID_FILTER`.
   */
  count(filter?: Filter): number {
    return countMatching(this.native, this.schema, filter)
  }

  /** The attributes stored for `key`, or `undefined` (no such key, or none declared). */
  getAttributes(key: number): Attributes | undefined {
    return readAttributes(this.native, key)
  }

  /** The payload stored for `key`, or `undefined` (no such key, or none stored). */
  getPayload(key: number): JsonValue | undefined {
    return readPayload(this.native, key)
  }

  /**
   * Searches many queries at once, spread over the worker pool. Results are identical to
   * calling {@link VectorIndex.search} for each query. See {@link BatchSearchResult} for the layout.
   * @param queries - a flat row-major `Float32Array` (`n · dim`) or an array of `n` vectors.
   */
  async searchBatch(queries: Vectors, options?: BatchSearchOptions): Promise<BatchSearchResult> {
    const { k, ef, signal, options: o } = resolveSearch(options, this.cfg.efSearch, [...SEARCH_EXTRA, 'filters'])
    const m = toMatrix(queries, this.cfg.dim, 'queries')
    if (o.filter !== undefined && o.filters !== undefined) throw invalid('give either filter or filters, not both')
    const filters = checkFilters(o.filters, m.rows, this.schema)
    const req = nativeRequest(o, k, ef, this.schema, filters)
    if (signal !== undefined && signal.aborted) throw abortedError('searchBatch')
    const scores = wantScores(o)
    if (m.rows === 0) return this.scored(emptyBatch(), scores)
    if (req !== null) {
      const r = await withCancel(signal, (token) => this.native.searchBatchWith(m.data, req, filters, token))
      return this.scored(filteredBatch(r, m.rows, k), scores)
    }
    const r = await withCancel(signal, (token) => this.native.searchBatch(m.data, k, ef, token))
    return this.scored(checkBatch(r, m.rows, k), scores)
  }

  /** Synchronous variant of {@link VectorIndex.searchBatch}; `signal` is ignored unless already aborted. */
  searchBatchSync(queries: Vectors, options?: BatchSearchOptions): BatchSearchResult {
    const { k, ef, signal, options: o } = resolveSearch(options, this.cfg.efSearch, [...SEARCH_EXTRA, 'filters'])
    const m = toMatrix(queries, this.cfg.dim, 'queries')
    if (o.filter !== undefined && o.filters !== undefined) throw invalid('give either filter or filters, not both')
    const filters = checkFilters(o.filters, m.rows, this.schema)
    const req = nativeRequest(o, k, ef, this.schema, filters)
    if (signal !== undefined && signal.aborted) throw abortedError('searchBatch')
    const scores = wantScores(o)
    if (m.rows === 0) return this.scored(emptyBatch(), scores)
    if (req !== null)
      return this.scored(
        filteredBatch(
          syncCall(() => this.native.searchBatchWithSync(m.data, req, filters)),
          m.rows,
          k,
        ),
        scores,
      )
    const r = syncCall(() => this.native.searchBatchSync(m.data, k, ef))
    return this.scored(checkBatch(r, m.rows, k), scores)
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
