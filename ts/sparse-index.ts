/**
 * Learned sparse retrieval (SPLADE, uniCOIL, inference-free sparse models): {@link SparseIndex}
 * and the query encoder {@link SparseEncoder}.
 *
 * @packageDocumentation
 */

import { getNative } from './native'
import type { NativeScoredSearchOptions, NativeSparseEncoder, NativeSparseIndex } from '../native/index'
import {
  checkInt,
  checkOptionsObject,
  checkSignal,
  defaultThreads,
  invalid,
  loadThreads,
  toKeys,
  MAX_K,
  MAX_THREADS,
  MAX_U32,
} from './validate'
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
import type { Keys } from './vector-index'
import { checkSchema, encodeAttributes, encodePayloads, resolveScoredOptions, scoredResult } from './filter'
import type { AttributeSchema, Attributes, Filter, JsonValue } from './filter'

/**
 * One sparse vector: term ids and their weights, position by position.
 *
 * Rules (checked by the engine; every violation is `ERR_INVALID_ARGUMENT`):
 * - `indices` and `values` have the same length;
 * - every term id is an integer below the index's `vocabSize`;
 * - every weight is finite (no NaN, no ±Infinity) and **non-negative**: the index prunes with
 *   upper bounds that assume a term can only raise a score, so a model that emits negative
 *   weights must be clipped at 0 (SPLADE's `log(1 + ReLU(x))` never does);
 * - term ids may come in any order (they are sorted), but the same id twice in one vector is
 *   rejected (neither summing nor keeping one would be a safe guess);
 * - zero weights are dropped. A vector left empty is allowed: as a document it is stored and
 *   counted by `size` but never returned by a search; as a query it returns nothing.
 */
export interface SparseVector {
  /** Term ids (integers in [0, 2^32)). */
  indices: ArrayLike<number>
  /** Weights, one per term id. */
  values: ArrayLike<number>
}

/**
 * Many sparse vectors in CSR (compressed sparse row) form: vector `i` has the term ids
 * `indices[indptr[i] .. indptr[i + 1]]` and the weights at the same positions of `values`.
 * `indptr` has one entry per vector plus one, starts at 0, never decreases and ends at
 * `indices.length`, which equals `values.length`.
 */
export interface SparseCsr {
  /** Offsets, `n + 1` of them. */
  indptr: Uint32Array
  /** Term ids of every vector, concatenated. */
  indices: Uint32Array
  /** Weights, one per entry of `indices`. */
  values: Float32Array
}

/** A batch of sparse vectors: CSR arrays, or an array of {@link SparseVector}s (converted to CSR). */
export type SparseVectors = SparseCsr | readonly SparseVector[]

/** A stored or encoded sparse vector: term ids sorted ascending, zero weights left out. */
export interface SparseVectorResult {
  /** Term ids, ascending. */
  indices: Uint32Array
  /** Weights, one per term id. */
  values: Float32Array
}

/** Options for `new SparseIndex(options)`. All optional. */
export interface SparseIndexOptions {
  /**
   * Term ids must be below this: an integer in [1, 2^32 − 1]. Default 2^32 − 1 (any id but
   * 2^32 − 1). Set it to your model's vocabulary size to catch vectors from another model.
   */
  vocabSize?: number
  /** Threads used by {@link SparseIndex.searchBatch}. Default: all logical CPUs. */
  threads?: number
  /** Attribute fields searches can filter on (see `VectorIndexOptions.attributes`). */
  attributes?: AttributeSchema
  /** Keep a JSON payload per key. Default `false`. */
  payload?: boolean
}

/** Resolved options of a {@link SparseIndex}. */
export interface ResolvedSparseIndexOptions {
  /** The vocabulary size term ids must stay below. */
  vocabSize: number
  /** Declared attribute fields, if any. */
  attributes?: AttributeSchema
  /** Whether payloads are kept. */
  payload: boolean
}

/** Sparse hits, best first (ties: smaller key first). */
export interface SparseSearchResult {
  /** Document keys. */
  keys: Uint32Array
  /** Exact dot products of the query and each document (higher is better; always > 0). */
  scores: Float32Array
  /** Each hit's attributes, with `include: ['attributes']`. */
  attributes?: (Attributes | undefined)[]
  /** Each hit's payload, with `include: ['payload']`. */
  payloads?: (JsonValue | undefined)[]
}

/**
 * How {@link SparseIndex.search} finds the top k. The exact strategies (`'maxscore'`, `'wand'`,
 * `'exhaustive'`) return the same keys and scores; `'approximate'` returns exact scores for
 * the documents it finds but may miss some of the true top k.
 */
export type SparseStrategy = 'maxscore' | 'wand' | 'exhaustive' | 'approximate'

/** Options of {@link SparseIndex.search}. */
export interface SparseSearchOptions {
  /** Results; integer in [1, {@link MAX_K}]. Default 10. */
  k?: number
  /**
   * Top-k algorithm. Exact, all giving the same list: `'maxscore'` (default): Block-Max
   * MaxScore; `'wand'`: Block-Max WAND; `'exhaustive'`: score every document (the oracle).
   * `'approximate'`: reads only each query term's high-weight postings (weights of at least a
   * fifth of the term's largest), scores the best {@link SparseSearchOptions.candidates} of the
   * documents found there exactly and returns the best k of those; faster, with a recall below
   * 1 (see the benchmark results). When those postings yield fewer than k documents, the exact
   * strategy answers.
   */
  strategy?: SparseStrategy
  /**
   * With `strategy: 'approximate'` only: documents scored exactly; more costs time and raises
   * recall. Integer in [1, 1048576]; default `max(200, 20 × k)`, at least k
   * are.
   */
  candidates?: number
  /** Cancels the search. */
  signal?: AbortSignal
  /**
   * Only documents whose attributes match (see {@link Filter}). The filter's key set is tested
   * inside the pruning loops, so every strategy returns exactly the top-k of the matching
   * documents.
   */
  filter?: Filter
  /** Only hits scoring at least this much (fewer than `k` is then normal). */
  minScore?: number
  /** Return each hit's `'attributes'` and/or `'payload'`. */
  include?: readonly ('attributes' | 'payload')[]
}

/** Options of {@link SparseIndex.searchBatch}: those of a search but the signal; one filter applies to every query. */
export type SparseBatchSearchOptions = Omit<SparseSearchOptions, 'signal'>

/** Options of {@link SparseIndex.add} and {@link SparseIndex.upsert}. */
export interface SparseAddOptions {
  /** Called with the number of documents validated so far and the total. */
  onProgress?: (done: number, total: number) => void
  /** Cancels the add (nothing of it is applied). */
  signal?: AbortSignal
  /** One attribute object per key (for an index declared with `attributes`). Replaces a key's previous attributes. */
  attributes?: readonly (Attributes | null | undefined)[]
  /** One JSON value per key (for an index with `payload: true`). Replaces a key's previous payload. */
  payloads?: readonly unknown[]
}

/** Native memory of a {@link SparseIndex}, in bytes. */
export interface SparseMemoryUsage {
  /** Sum of the parts. */
  total: number
  /** The forward index: every document's term ids and exact weights. */
  forward: number
  /** The posting lists (documents, 8-bit impacts, block maxima) and the term map. */
  postings: number
  /** Keys, the key map and the deletion bitset. */
  documents: number
  /** Attribute records and their indexes. */
  attributes: number
  /** Payloads. */
  payloads: number
}

const STRATEGIES: readonly string[] = ['maxscore', 'wand', 'exhaustive', 'approximate']

/** Term ids as a Uint32Array (a Uint32Array passes through; other arrays are checked as they are copied). */
function toIndices(src: ArrayLike<number>, out: Uint32Array, at: number, what: string): void {
  if (src instanceof Uint32Array) {
    out.set(src, at)
    return
  }
  for (let i = 0; i < src.length; i++) {
    const t = src[i]
    if (typeof t !== 'number' || !Number.isInteger(t) || t < 0 || t > MAX_U32) {
      throw invalid(`${what}.indices[${i}] must be an integer in [0, ${MAX_U32}], got ${String(t)}`)
    }
    out[at + i] = t
  }
}

function isArrayLike(v: unknown): v is ArrayLike<number> {
  return (
    v !== null &&
    typeof v === 'object' &&
    typeof (v as { length?: unknown }).length === 'number' &&
    (Array.isArray(v) || ArrayBuffer.isView(v))
  )
}

/** Checks the shape of one {@link SparseVector} (O(1)) and returns its arrays. */
function vectorParts(v: unknown, what: string): { indices: ArrayLike<number>; values: ArrayLike<number> } {
  const o = checkOptionsObject(v, what, ['indices', 'values'])
  const { indices, values } = o
  if (!isArrayLike(indices) || !isArrayLike(values)) {
    throw invalid(`${what} must be { indices, values } with two arrays (or typed arrays) of numbers`)
  }
  if (indices.length !== values.length) {
    throw invalid(`${what}: ${indices.length} indices but ${values.length} values`)
  }
  return { indices, values }
}

/** One query as typed arrays (typed arrays of the right kind pass through). */
function toQuery(query: unknown): { indices: Uint32Array; values: Float32Array } {
  const { indices, values } = vectorParts(query, 'the query')
  const ti = indices instanceof Uint32Array ? indices : new Uint32Array(indices.length)
  if (ti !== indices) toIndices(indices, ti, 0, 'the query')
  const tv = values instanceof Float32Array ? values : Float32Array.from(values)
  return { indices: ti, values: tv }
}

/**
 * A batch as CSR arrays: CSR input passes through after O(1) checks; an array of vectors is
 * converted. @internal
 */
export function toCsr(vectors: unknown, what = 'vectors'): SparseCsr {
  if (Array.isArray(vectors)) {
    const parts = vectors.map((v, i) => vectorParts(v, `${what}[${i}]`))
    const indptr = new Uint32Array(parts.length + 1)
    let nnz = 0
    parts.forEach((p, i) => {
      nnz += p.indices.length
      if (nnz > MAX_U32) throw invalid(`${what} hold more than ${MAX_U32} entries`)
      indptr[i + 1] = nnz
    })
    const indices = new Uint32Array(nnz)
    const values = new Float32Array(nnz)
    parts.forEach((p, i) => {
      toIndices(p.indices, indices, indptr[i], `${what}[${i}]`)
      values.set(p.values, indptr[i])
    })
    return { indptr, indices, values }
  }
  const o = checkOptionsObject(vectors, what, ['indptr', 'indices', 'values'])
  if (
    !(o.indptr instanceof Uint32Array) ||
    !(o.indices instanceof Uint32Array) ||
    !(o.values instanceof Float32Array)
  ) {
    throw invalid(
      `${what} must be an array of { indices, values } or CSR { indptr: Uint32Array, indices: Uint32Array, values: Float32Array }`,
    )
  }
  if (o.indptr.length === 0) throw invalid(`${what}.indptr must have one entry per vector plus one`)
  if (o.indices.length !== o.values.length) {
    throw invalid(`${what}: ${o.indices.length} indices but ${o.values.length} values`)
  }
  return { indptr: o.indptr, indices: o.indices, values: o.values }
}

/** Most documents the approximate strategy can be asked to score exactly. */
const MAX_SPARSE_CANDIDATES = 1 << 20

const SEARCH_OPTIONS = ['k', 'strategy', 'candidates', 'filter', 'minScore', 'include']

function resolveSparseSearch(
  options: unknown,
  schema: AttributeSchema | undefined,
  allowed: readonly string[] = [...SEARCH_OPTIONS, 'signal'],
): {
  k: number
  strategy: SparseStrategy
  /** 0: not given. */
  candidates: number
  signal: ReturnType<typeof checkSignal>
  opts: NativeScoredSearchOptions | undefined
  minScore: number | undefined
} {
  const o = checkOptionsObject(options, 'search options', allowed)
  const k = o.k === undefined ? 10 : checkInt(o.k, 'k', 1, MAX_K)
  const strategy = o.strategy === undefined ? 'maxscore' : o.strategy
  if (typeof strategy !== 'string' || !STRATEGIES.includes(strategy)) {
    throw invalid(`strategy must be 'maxscore', 'wand', 'exhaustive' or 'approximate', got ${String(strategy)}`)
  }
  let candidates = 0
  if (o.candidates !== undefined) {
    if (strategy !== 'approximate') {
      throw invalid(`candidates applies to strategy 'approximate' only (got strategy '${strategy}')`)
    }
    candidates = checkInt(o.candidates, 'candidates', 1, MAX_SPARSE_CANDIDATES)
  }
  return {
    k,
    strategy: strategy as SparseStrategy,
    candidates,
    signal: checkSignal(o.signal),
    ...resolveScoredOptions(o, schema),
  }
}

const parseSchema = (json: string | null | undefined): AttributeSchema | undefined =>
  json == null ? undefined : (JSON.parse(json) as AttributeSchema)

function checkVectorCount(keys: Uint32Array, csr: SparseCsr): void {
  if (csr.indptr.length !== keys.length + 1) {
    throw invalid(`got ${keys.length} keys but ${csr.indptr.length - 1} vectors`)
  }
}

/**
 * An exact top-k dot-product index over sparse vectors, such as those of SPLADE, uniCOIL or
 * inference-free sparse models ({@link SparseEncoder} encodes queries for the latter).
 *
 * Scores are exact `float32` dot products (summed in increasing term-id order); every exact
 * strategy returns the same keys, scores and tie order as scoring every document. Documents scoring 0
 * are never returned. See {@link SparseVector} for the input rules.
 *
 * @example
 * ```ts
 * const sparse = new SparseIndex({ vocabSize: 30522 })
 * await sparse.add([1, 2], [
 *   { indices: [7, 42], values: [0.5, 1.2] },
 *   { indices: [42, 99], values: [0.3, 2.0] },
 * ])
 * const { keys, scores } = await sparse.search({ indices: [42], values: [1] }, { k: 5 }) // keys[0] === 1
 * ```
 */
export class SparseIndex {
  private native!: NativeSparseIndex
  private schema: AttributeSchema | undefined

  /**
   * Creates an empty index.
   * @throws {@link QuiverError} `ERR_INVALID_ARGUMENT` for bad options.
   */
  constructor(options: SparseIndexOptions = {}) {
    const o = checkOptionsObject(options, 'options', ['vocabSize', 'threads', 'attributes', 'payload'])
    const vocabSize = o.vocabSize === undefined ? MAX_U32 : checkInt(o.vocabSize, 'vocabSize', 1, MAX_U32)
    const threads = o.threads === undefined ? defaultThreads() : checkInt(o.threads, 'threads', 1, MAX_THREADS)
    const attributes = o.attributes === undefined ? undefined : checkSchema(o.attributes)
    if (o.payload !== undefined && typeof o.payload !== 'boolean') throw invalid('options.payload must be a boolean')
    const payload = o.payload === true
    const Native = getNative().NativeSparseIndex
    this.native = syncCall(() => new Native({ vocabSize, threads, attributes, payload }))
    this.schema = parseSchema(attributes)
  }

  private static wrap(native: NativeSparseIndex): SparseIndex {
    const s = Object.create(SparseIndex.prototype) as SparseIndex
    s.native = native
    s.schema = parseSchema(syncCall(() => native.info()).attributes)
    return s
  }

  /**
   * Loads an index saved with {@link SparseIndex.save}, on a worker thread.
   * @throws {@link QuiverError} `ERR_IO`, `ERR_CORRUPT_FILE`, `ERR_VERSION_MISMATCH`.
   */
  static async load(path: string, options?: { threads?: number }): Promise<SparseIndex> {
    const p = checkPath(path)
    const threads = loadThreads(checkOptionsObject(options, 'load options', ['threads']).threads)
    const Native = getNative().NativeSparseIndex
    return SparseIndex.wrap(await withCancel(undefined, () => Native.load(p, threads)))
  }

  /** Synchronous variant of {@link SparseIndex.load}. */
  static loadSync(path: string, options?: { threads?: number }): SparseIndex {
    const p = checkPath(path)
    const threads = loadThreads(checkOptionsObject(options, 'load options', ['threads']).threads)
    const Native = getNative().NativeSparseIndex
    return SparseIndex.wrap(syncCall(() => Native.loadSync(p, threads)))
  }

  /** Number of documents (empty documents included). */
  get size(): number {
    return syncCall(() => this.native.size)
  }

  /** The vocabulary size term ids must stay below. */
  get vocabSize(): number {
    return syncCall(() => this.native.vocabSize)
  }

  /**
   * Releases the index now (native memory and worker threads) instead of at garbage
   * collection; calls already running finish first. Idempotent; every later call fails with
   * `ERR_CLOSED`. Where the runtime has `Symbol.asyncDispose`, `await using` closes it too.
   */
  close(): void {
    this.native.close()
  }

  /** Whether {@link SparseIndex.close} was called. */
  get closed(): boolean {
    return this.native.closed
  }

  /** Approximate native memory held, in bytes, by part. */
  memoryUsage(): SparseMemoryUsage {
    return syncCall(() => this.native.memoryUsage())
  }

  /** The resolved options. */
  config(): ResolvedSparseIndexOptions {
    const i = syncCall(() => this.native.info())
    const attributes = parseSchema(i.attributes)
    return { vocabSize: i.vocabSize, ...(attributes === undefined ? {} : { attributes }), payload: i.payload }
  }

  private write(op: 'add' | 'upsert', keys: Keys, vectors: SparseVectors, options: unknown): Promise<number> {
    return runAdd(
      options,
      op,
      'documents',
      (o) => {
        const k = toKeys(keys)
        const csr = toCsr(vectors)
        checkVectorCount(k, csr)
        const a = o.attributes === undefined ? null : encodeAttributes(o.attributes, k.length)
        const p = o.payloads === undefined ? null : encodePayloads(o.payloads, k.length)
        return { total: k.length, data: { k, csr, a, p } }
      },
      ({ k, csr, a, p }, progress, token) =>
        this.native.add(k, csr.indptr, csr.indices, csr.values, op === 'upsert', progress, token, a, p),
      ['attributes', 'payloads'],
    )
  }

  /**
   * Adds documents: `keys[i]` gets vector `i`. The batch is validated on a worker thread and
   * applied all at once (a bad batch or an abort changes nothing).
   * @throws {@link QuiverError} `ERR_INVALID_ARGUMENT` (a vector breaks a rule of
   *   {@link SparseVector}, bad CSR offsets, key and vector counts differ), `ERR_DUPLICATE_KEY`
   *   (a key twice in one call, or a key already present: use {@link SparseIndex.upsert}),
   *   `ERR_ABORTED`.
   */
  async add(keys: Keys, vectors: SparseVectors, options?: SparseAddOptions): Promise<void> {
    await this.write('add', keys, vectors, options)
  }

  /** Like {@link SparseIndex.add}, but a key already present has its vector replaced. */
  async upsert(keys: Keys, vectors: SparseVectors, options?: SparseAddOptions): Promise<void> {
    await this.write('upsert', keys, vectors, options)
  }

  private writeSync(keys: Keys, vectors: SparseVectors, upsert: boolean, options: unknown): void {
    const o = checkOptionsObject(options, 'add options', ['attributes', 'payloads'])
    const k = toKeys(keys)
    const csr = toCsr(vectors)
    checkVectorCount(k, csr)
    if (k.length === 0) return
    const a = o.attributes === undefined ? null : encodeAttributes(o.attributes, k.length)
    const p = o.payloads === undefined ? null : encodePayloads(o.payloads, k.length)
    syncCall(() => this.native.addSync(k, csr.indptr, csr.indices, csr.values, upsert, a, p))
  }

  /** Synchronous variant of {@link SparseIndex.add}. */
  addSync(keys: Keys, vectors: SparseVectors, options?: Pick<SparseAddOptions, 'attributes' | 'payloads'>): void {
    this.writeSync(keys, vectors, false, options)
  }

  /** Synchronous variant of {@link SparseIndex.upsert}. */
  upsertSync(keys: Keys, vectors: SparseVectors, options?: Pick<SparseAddOptions, 'attributes' | 'payloads'>): void {
    this.writeSync(keys, vectors, true, options)
  }

  /**
   * Number of documents whose attributes match `filter` (all documents without one).
   * @throws {@link QuiverError} `ERR_INVALID_FILTER`.
   */
  count(filter?: Filter): number {
    return countMatching(this.native, this.schema, filter)
  }

  /** The attributes stored for `key`, or `undefined`. */
  getAttributes(key: number): Attributes | undefined {
    return readAttributes(this.native, key)
  }

  /** The payload stored for `key`, or `undefined`. */
  getPayload(key: number): JsonValue | undefined {
    return readPayload(this.native, key)
  }

  /**
   * The top `k` documents by dot product with `query`, on a worker thread. The query follows
   * the rules of {@link SparseVector}.
   * @throws {@link QuiverError} `ERR_INVALID_ARGUMENT`, `ERR_INVALID_FILTER`, `ERR_ABORTED`.
   */
  async search(query: SparseVector, options?: SparseSearchOptions): Promise<SparseSearchResult> {
    const q = toQuery(query)
    const s = resolveSparseSearch(options, this.schema)
    if (s.signal !== undefined && s.signal.aborted) throw abortedError('search')
    const r = await withCancel(s.signal, (token) =>
      this.native.search(q.indices, q.values, s.k, s.strategy, s.candidates, token, s.opts),
    )
    return scoredResult(r, s.minScore)
  }

  /** Synchronous variant of {@link SparseIndex.search}. */
  searchSync(query: SparseVector, options?: SparseSearchOptions): SparseSearchResult {
    const q = toQuery(query)
    const s = resolveSparseSearch(options, this.schema)
    const r = syncCall(() => this.native.searchSync(q.indices, q.values, s.k, s.strategy, s.candidates, s.opts))
    return scoredResult(r, s.minScore)
  }

  /**
   * Searches many queries in parallel on the index's threads; result `i` is what
   * {@link SparseIndex.search} returns for query `i` with the same options (one `filter` for
   * every query, evaluated once). One bad query fails the call.
   * @throws {@link QuiverError} `ERR_INVALID_ARGUMENT`, `ERR_INVALID_FILTER`.
   */
  async searchBatch(queries: SparseVectors, options?: SparseBatchSearchOptions): Promise<SparseSearchResult[]> {
    const csr = toCsr(queries, 'queries')
    const s = resolveSparseSearch(options, this.schema, SEARCH_OPTIONS)
    const r = await withCancel(undefined, () =>
      this.native.searchBatch(csr.indptr, csr.indices, csr.values, s.k, s.strategy, s.candidates, s.opts),
    )
    return r.map((x) => scoredResult(x, s.minScore))
  }

  /** The stored vector of `key` (term ids sorted, zero weights dropped, weights exact), or `undefined`. */
  get(key: number): SparseVectorResult | undefined {
    const k = checkInt(key, 'key', 0, MAX_U32)
    const v = syncCall(() => this.native.get(k))
    return v === null || v === undefined ? undefined : { indices: v.indices, values: v.values }
  }

  /** True if a document is stored under `key`. */
  has(key: number): boolean {
    const k = checkInt(key, 'key', 0, MAX_U32)
    return syncCall(() => this.native.has(k))
  }

  /** Removes documents (and their attributes and payloads); unknown keys are ignored. Resolves to the number removed. */
  async remove(keys: Keys): Promise<number> {
    const k = toKeys(keys)
    return withCancel(undefined, () => this.native.remove(k))
  }

  /** Synchronous variant of {@link SparseIndex.remove}. */
  removeSync(keys: Keys): number {
    return syncCall(() => this.native.removeSync(toKeys(keys)))
  }

  /** Writes the index to `path` atomically (checksummed; a failed write keeps the old file), on a worker thread. */
  async save(path: string): Promise<void> {
    const p = checkPath(path)
    await withCancel(undefined, () => this.native.save(p))
  }

  /** Synchronous variant of {@link SparseIndex.save}. */
  saveSync(path: string): void {
    const p = checkPath(path)
    syncCall(() => this.native.saveSync(p))
  }
}

closeOnDispose(SparseIndex)

/**
 * A query encoder for inference-free learned sparse models (for example OpenSearch's
 * `doc-v2/v3-distill` family): documents are encoded by the model offline, queries by this
 * lookup. A query's tokens (the model's `tokenizer.json`) each get their weight from a table;
 * repeated tokens count once, special tokens and zero-weight tokens are left out.
 *
 * The weights file is JSON: an array of numbers indexed by token id (its length is the
 * tokenizer's vocabulary size, added tokens included), or an object whose keys are either all
 * token ids (decimal integers) or token strings of the tokenizer's vocabulary; tokens it does
 * not name have no weight. Every weight is finite and ≥ 0.
 *
 * @example
 * ```ts
 * const enc = SparseEncoder.fromFiles({ tokenizerJson: 'tokenizer.json', weights: 'idf.json' })
 * const hits = await sparse.search(enc.encode('what is a sparse vector?'), { k: 10 })
 * ```
 */
export class SparseEncoder {
  private native!: NativeSparseEncoder

  private constructor() {}

  private static wrap(native: NativeSparseEncoder): SparseEncoder {
    const e = new SparseEncoder()
    e.native = native
    return e
  }

  /**
   * Reads a `tokenizer.json` and a weights file (paths).
   * @throws {@link QuiverError} `ERR_INVALID_ARGUMENT` (missing, unreadable or malformed file; the message names it).
   */
  static fromFiles(files: { tokenizerJson: string; weights: string }): SparseEncoder {
    const o = checkOptionsObject(files, 'files', ['tokenizerJson', 'weights'])
    const t = checkPath(o.tokenizerJson)
    const w = checkPath(o.weights)
    const Native = getNative().NativeSparseEncoder
    return SparseEncoder.wrap(syncCall(() => Native.fromFiles(t, w)))
  }

  /**
   * Builds an encoder from the contents of the two files.
   * @throws {@link QuiverError} `ERR_INVALID_ARGUMENT` (malformed content).
   */
  static fromBuffers(buffers: { tokenizerJson: Uint8Array; weights: Uint8Array }): SparseEncoder {
    const o = checkOptionsObject(buffers, 'buffers', ['tokenizerJson', 'weights'])
    if (!(o.tokenizerJson instanceof Uint8Array) || !(o.weights instanceof Uint8Array)) {
      throw invalid('buffers must be { tokenizerJson: Uint8Array, weights: Uint8Array }')
    }
    const [t, w] = [o.tokenizerJson, o.weights]
    const Native = getNative().NativeSparseEncoder
    return SparseEncoder.wrap(syncCall(() => Native.fromBuffers(t, w)))
  }

  /** The vocabulary size: every encoded term id is below it (use it as the index's `vocabSize`). */
  get vocabSize(): number {
    return syncCall(() => this.native.vocabSize)
  }

  /** The sparse vector of `text`: distinct token ids with a non-zero weight, ascending. */
  encode(text: string): SparseVectorResult {
    if (typeof text !== 'string') throw invalid(`text must be a string, got ${typeof text}`)
    const v = syncCall(() => this.native.encode(text))
    return { indices: v.indices, values: v.values }
  }

  /** The sparse vectors of many texts, in CSR form (ready for {@link SparseIndex.searchBatch}). */
  encodeBatch(texts: readonly string[]): SparseCsr {
    if (!Array.isArray(texts) || !texts.every((t) => typeof t === 'string'))
      throw invalid('texts must be an array of strings')
    const r = syncCall(() => this.native.encodeBatch([...texts]))
    return { indptr: r.indptr, indices: r.indices, values: r.values }
  }

  /** Releases the encoder now. Idempotent; every later call fails with `ERR_CLOSED`. */
  close(): void {
    this.native.close()
  }

  /** Whether {@link SparseEncoder.close} was called. */
  get closed(): boolean {
    return this.native.closed
  }
}

closeOnDispose(SparseEncoder)
