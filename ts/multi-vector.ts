/**
 * Multi-vector (late-interaction) retrieval with MUVERA: {@link FdeEncoder} and
 * {@link MultiVectorIndex}.
 *
 * @packageDocumentation
 */

import { serializable } from './result'
import { QuiverError } from './errors'
import { getNative } from './native'
import type { NativeFdeConfig, NativeFdeParams, NativeMultiResult, NativeMultiVectorIndex } from '../native/index'
import {
  checkInt,
  checkOptionsObject,
  checkSignal,
  invalid,
  loadThreads,
  resolveConfig,
  toKeys,
  MAX_DIM,
  MAX_EF,
  MAX_K,
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
import { resolvedOptions } from './vector-index'
import { compileFilter, encodeAttributes, encodePayloads } from './filter'
import type { AttributeSchema, Attributes, Filter, JsonValue } from './filter'
import type { Keys, MemoryUsage, QuantizationOptions, ResolvedVectorIndexOptions, IndexType } from './vector-index'

/**
 * FDE presets: `'paper-10240'` (reps 20, kSim 5, dProj 16 → 10,240 dims), `'compact-2560'`
 * (reps 10, kSim 4, dProj 16 → 2,560 dims) and `'wide-20480'` (reps 40, kSim 4, dProj 32 →
 * 20,480 dims; the {@link MultiVectorIndex} default).
 */
export type FdePreset = 'paper-10240' | 'compact-2560' | 'wide-20480'

/**
 * Fixed Dimensional Encoding parameters (MUVERA, Dhulipala et al. 2024). Start from `preset`
 * (default `'paper-10240'`); any explicit field overrides the preset's value.
 */
export interface FdeOptions {
  /** Token dimension. Required. */
  dim: number
  /** Starting point for the other fields. Default `'paper-10240'` for an {@link FdeEncoder}, `'wide-20480'` for a {@link MultiVectorIndex}. */
  preset?: FdePreset
  /** SimHash bits per repetition: 2^kSim partitions; integer in [1, 10]. */
  kSim?: number
  /** Dimensions each partition block is projected to with a random ±1 matrix, ≤ dim; `'identity'` keeps all `dim`. */
  dProj?: number | 'identity'
  /** Independent repetitions, concatenated; integer ≥ 1. */
  reps?: number
  /** Count-Sketch the concatenation down to this many dims; `null` (default) keeps it. */
  finalDim?: number | null
  /**
   * Seed of every random matrix (integer in [0, 2^64)). The presets use a fixed default so
   * that encoders built anywhere agree. Derivation: each matrix is drawn from xoshiro256** seeded
   * with `splitmix64(seed ^ splitmix64(rep·16 + purpose))`; Gaussians by the polar Box–Muller method.
   */
  seed?: number | bigint
  /** Documents only: fill empty partitions with the token of nearest bit pattern. Default `true`. */
  fillEmpty?: boolean
}

/** Resolved FDE parameters. */
export interface FdeParams {
  /** Token dimension. */
  dim: number
  /** SimHash bits per repetition. */
  kSim: number
  /** Projected block dimension, or `'identity'`. */
  dProj: number | 'identity'
  /** Repetitions. */
  reps: number
  /** Final Count-Sketch dimension, or `null`. */
  finalDim: number | null
  /** Seed. */
  seed: bigint
  /** Whether documents fill empty partitions. */
  fillEmpty: boolean
  /** Length of every FDE. */
  outputDim: number
  /** Encoder algorithm version (stored with every index; a different version cannot be mixed). */
  version: number
}

const PRESETS: readonly string[] = ['paper-10240', 'compact-2560', 'wide-20480']

/** The FDE preset of a {@link MultiVectorIndex} whose options name none. */
const MULTI_VECTOR_PRESET: FdePreset = 'wide-20480'

const FDE_FIELDS: readonly string[] = ['dim', 'preset', 'kSim', 'dProj', 'reps', 'finalDim', 'seed', 'fillEmpty']

function nativeFde(options: unknown, what = 'fde'): NativeFdeConfig {
  const o = checkOptionsObject(options, what, FDE_FIELDS)
  if (o.dim === undefined) throw invalid(`${what}.dim is required`)
  const dim = checkInt(o.dim, `${what}.dim`, 1, MAX_DIM)
  const c: NativeFdeConfig = { dim }
  if (o.preset !== undefined) {
    if (typeof o.preset !== 'string' || !PRESETS.includes(o.preset)) {
      throw invalid(`${what}.preset must be one of ${PRESETS.map((p) => `'${p}'`).join(', ')}, got ${String(o.preset)}`)
    }
    c.preset = o.preset
  }
  if (o.kSim !== undefined) c.kSim = checkInt(o.kSim, `${what}.kSim`, 1, 10)
  if (o.dProj !== undefined) c.dProj = o.dProj === 'identity' ? 0 : checkInt(o.dProj, `${what}.dProj`, 1, dim)
  if (o.reps !== undefined) c.reps = checkInt(o.reps, `${what}.reps`, 1, 4096)
  if (o.finalDim !== undefined)
    c.finalDim = o.finalDim === null ? 0 : checkInt(o.finalDim, `${what}.finalDim`, 1, 1 << 24)
  if (o.seed !== undefined) {
    const s = o.seed
    if (typeof s === 'bigint') {
      if (s < 0n || s >= 1n << 64n) throw invalid(`${what}.seed must be in [0, 2^64)`)
      c.seed = s.toString()
    } else {
      c.seed = String(checkInt(s, `${what}.seed`, 0, Number.MAX_SAFE_INTEGER))
    }
  }
  if (o.fillEmpty !== undefined) {
    if (typeof o.fillEmpty !== 'boolean') throw invalid(`${what}.fillEmpty must be a boolean`)
    c.fillEmpty = o.fillEmpty
  }
  return c
}

function paramsOut(p: NativeFdeParams): FdeParams {
  return {
    dim: p.dim,
    kSim: p.kSim,
    dProj: p.dProj === 0 ? 'identity' : p.dProj,
    reps: p.reps,
    finalDim: p.finalDim === 0 ? null : p.finalDim,
    seed: BigInt(p.seed),
    fillEmpty: p.fillEmpty,
    outputDim: p.outputDim,
    version: p.version,
  }
}

function tokenArray(tokens: unknown, dim: number, what: string): Float32Array {
  if (!(tokens instanceof Float32Array)) throw invalid(`${what} must be a Float32Array of nTokens × dim values`)
  if (tokens.length === 0) throw invalid(`${what} has no tokens`)
  if (tokens.length % dim !== 0) {
    throw new QuiverError(
      'ERR_DIMENSION_MISMATCH',
      `${what} has ${tokens.length} values, not a multiple of dim = ${dim}`,
    )
  }
  return tokens
}

function checkCount(tokens: Float32Array, nTokens: unknown, dim: number, what: string): void {
  if (nTokens === undefined) return
  const n = checkInt(nTokens, 'nTokens', 1, MAX_U32)
  if (n * dim !== tokens.length) {
    throw new QuiverError(
      'ERR_DIMENSION_MISMATCH',
      `${what}: nTokens = ${n} needs ${n * dim} values, got ${tokens.length}`,
    )
  }
}

/**
 * The MUVERA Fixed Dimensional Encoding: one vector per token set whose inner product
 * approximates MaxSim (Chamfer) similarity. Usable on its own with any ANN system.
 *
 * @example
 * ```ts
 * const enc = new FdeEncoder({ dim: 384, preset: 'paper-10240' })
 * const q = enc.encodeQuery(queryTokens)      // Float32Array(enc.outputDim)
 * const d = enc.encodeDocument(docTokens)
 * ```
 */
export class FdeEncoder {
  private readonly native: import('../native/index').NativeFdeEncoder
  private readonly resolved: FdeParams

  /**
   * Builds the encoder's random matrices from its seed.
   * @throws {@link QuiverError} `ERR_INVALID_ARGUMENT` (unknown preset, kSim > 10, dProj > dim, …).
   */
  constructor(options: FdeOptions) {
    const c = nativeFde(options, 'options')
    const Native = getNative().NativeFdeEncoder
    this.native = syncCall(() => new Native(c))
    this.resolved = paramsOut(this.native.params())
  }

  /**
   * Releases the encoder now (its random matrices) instead of at garbage
   * collection; calls already running finish first. Idempotent; every later call fails with
   * `ERR_CLOSED`. Where the runtime has `Symbol.asyncDispose`, `await using` closes it too.
   */
  close(): void {
    this.native.close()
  }

  /** Whether {@link FdeEncoder.close} was called. */
  get closed(): boolean {
    return this.native.closed
  }

  /** Length of every FDE this encoder produces. */
  get outputDim(): number {
    return this.resolved.outputDim
  }

  /** The resolved parameters. */
  get params(): FdeParams {
    return { ...this.resolved }
  }

  /**
   * Query FDE: each partition block is the SUM of its tokens (projected).
   * @param tokens - row-major `nTokens × dim` token vectors.
   * @param nTokens - optional check of the token count.
   * @throws {@link QuiverError} `ERR_INVALID_ARGUMENT` (empty), `ERR_DIMENSION_MISMATCH`, `ERR_NON_FINITE`.
   */
  encodeQuery(tokens: Float32Array, nTokens?: number): Float32Array {
    const t = tokenArray(tokens, this.resolved.dim, 'tokens')
    checkCount(t, nTokens, this.resolved.dim, 'tokens')
    return syncCall(() => this.native.encodeQuery(t))
  }

  /**
   * Document FDE: each partition block is the AVERAGE of its tokens; empty partitions are filled
   * from the token with the nearest bit pattern when `fillEmpty` is on.
   * @throws {@link QuiverError} as {@link FdeEncoder.encodeQuery}.
   */
  encodeDocument(tokens: Float32Array, nTokens?: number): Float32Array {
    const t = tokenArray(tokens, this.resolved.dim, 'tokens')
    checkCount(t, nTokens, this.resolved.dim, 'tokens')
    return syncCall(() => this.native.encodeDocument(t))
  }
}

/** How document tokens are stored for the exact rerank: f32 (exact), f16 (half the bytes) or sq8 (per-token int8 + scale). */
export type TokenStorage = 'f32' | 'f16' | 'sq8'

/** Options for `new MultiVectorIndex(options)`. Only `dim` is required. */
export interface MultiVectorIndexOptions {
  /** Token dimension. Required. */
  dim: number
  /** FDE encoder (its `dim` is taken from `dim`). Default `{ preset: 'wide-20480' }` (with `dProj: dim` for tokens of fewer than 32 dimensions); other fields override the preset's. */
  fde?: Omit<FdeOptions, 'dim'>
  /** Token storage for the rerank. Default `'f16'`; `'sq8'` (int8 per token, scored with an int8 copy of the query) halves the memory and is about 3× faster. */
  tokenStorage?: TokenStorage
  /**
   * How the FDEs are stored in their index; the MaxSim rerank always uses the tokens. Default:
   * `{ type: 'pq', nbits: 4, m: outputDim / 4, rerank: 'none' }` for a flat index (a parallel
   * 4-bit fast-scan) and `{ type: 'sq8', rerank: 'none' }` for HNSW (sq8 for a flat index
   * whose FDE length is not a multiple of 8); `{ type: 'none' }` keeps f32 FDEs. With
   * `rerank: 'none'` the f32 FDEs are not kept once the codes are trained, since nothing would
   * read them. The codes are trained when `trainingSize` documents are in, or at the end of
   * the first add that leaves at least 64 documents in the index (on all of them, up to
   * `trainingSize`), whichever comes first.
   */
  fdeQuantization?: QuantizationOptions
  /** Index over the FDEs: `'flat'` (default; fastest up to ~100k documents) or `'hnsw'` (sub-linear search beyond that). */
  index?: IndexType
  /** HNSW M of the FDE index. Default 16. */
  m?: number
  /** HNSW efConstruction of the FDE index. Default 200. */
  efConstruction?: number
  /** Worker threads for adds, FDE encoding and reranks. Default: all logical CPUs. */
  threads?: number
  /** HNSW seed. Default 42. */
  seed?: number
  /** Attribute fields searches can filter on (see `VectorIndexOptions.attributes`); the filter applies to the FDE candidates, before the rerank. */
  attributes?: AttributeSchema
  /** Keep a JSON payload per document. Default `false`. */
  payload?: boolean
}

/**
 * The FDE codes of a {@link MultiVectorIndex} whose options name none: a flat index scans
 * 4-bit PQ codes of 4-dimensional sub-spaces, HNSW traverses sq8 codes; neither rescores
 * (the MaxSim rerank follows).
 */
function defaultFdeQuantization(index: unknown, outputDim: number): QuantizationOptions {
  if (index === 'flat' && outputDim % 8 === 0) return { type: 'pq', nbits: 4, m: outputDim / 4, rerank: 'none' }
  return { type: 'sq8', rerank: 'none' }
}

/** The `rerank` field of an FDE quantization option, if it is an object that has one. */
function fdeRerank(q: unknown): unknown {
  return typeof q === 'object' && q !== null ? (q as { rerank?: unknown }).rerank : undefined
}

/** Documents for {@link MultiVectorIndex.add}: one row-major `nTokens × dim` array per document, or one flat array with `n + 1` token offsets (zero-copy). */
export type MultiVectorDocs = readonly Float32Array[] | { data: Float32Array; offsets: Uint32Array }

/** Options of {@link MultiVectorIndex.search}. */
export interface MultiSearchOptions {
  /** Results; integer in [1, {@link MAX_K}]. Default 10. */
  k?: number
  /**
   * Documents taken from the FDE index before the rerank. Default `max(10k + 50, 24576 / mean
   * tokens per document)`: 150 for k = 10, more for short documents (whose FDEs separate them
   * less well; the rerank work stays the same), at most 10,000. When it reaches the number of
   * documents (and no `filter` is given), every document is scored exactly, as
   * {@link MultiVectorIndex.searchExhaustive} does.
   */
  candidates?: number
  /** `'exact'` (default): rerank candidates by exact MaxSim; `'none'`: return FDE inner products. */
  rerank?: 'exact' | 'none'
  /** HNSW ef of the FDE search. Default: `candidates`. */
  ef?: number
  /** Cancels the search (rejects with `ERR_ABORTED`). */
  signal?: AbortSignal
  /** Only documents whose attributes match (see {@link Filter}); applied to the FDE candidate search. */
  filter?: Filter
}

/** Options of {@link MultiVectorIndex.add}. */
export interface MultiAddOptions {
  /** Called with the number of documents written so far and the total. */
  onProgress?: (done: number, total: number) => void
  /** Cancels the add (documents already written stay). */
  signal?: AbortSignal
  /** One attribute object per document (for an index declared with `attributes`). */
  attributes?: readonly (Attributes | null | undefined)[]
  /** One JSON value per document (for an index with `payload: true`). */
  payloads?: readonly unknown[]
}

/** A multi-vector search result, best first. */
export interface MultiSearchResult {
  /** Document keys. */
  keys: Uint32Array
  /** MaxSim scores (higher is better), or FDE inner products with `rerank: 'none'`. */
  scores: Float32Array
  /** Milliseconds per stage: query FDE encoding, FDE index search, exact rerank (0 for an exhaustive search). */
  timings: { encodeMs: number; searchMs: number; rerankMs: number }
}

/** Memory held by a multi-vector index, in bytes. */
export interface MultiVectorMemoryUsage {
  /** Sum of the parts. */
  total: number
  /** The FDE index, by part. */
  fde: MemoryUsage
  /** Stored document tokens. */
  tokens: number
  /** Encoder matrices. */
  encoder: number
}

/** Options of {@link MultiVectorIndex.load}. */
export interface MultiVectorLoadOptions {
  /** Map the FDE index read-only (as `VectorIndex.load`); tokens are read into memory. */
  mmap?: boolean
  /** Fail with `ERR_VERSION_MISMATCH` unless the file's encoder has exactly these parameters. */
  fde?: FdeOptions
  /** Worker threads of the loaded index; integer in [1, 256]. Default: the number of logical CPUs. */
  threads?: number
}

function toDocs(docs: unknown, dim: number, n: number): { data: Float32Array; offsets: Uint32Array } {
  if (Array.isArray(docs)) {
    if (docs.length !== n) throw invalid(`got ${n} keys but ${docs.length} documents`)
    let total = 0
    for (let i = 0; i < docs.length; i++) {
      const d: unknown = docs[i]
      if (!(d instanceof Float32Array)) throw invalid(`docs[${i}] must be a Float32Array (nTokens × dim, row-major)`)
      if (d.length === 0) throw invalid(`docs[${i}] has no tokens`)
      if (d.length % dim !== 0) {
        throw new QuiverError(
          'ERR_DIMENSION_MISMATCH',
          `docs[${i}] has ${d.length} values, not a multiple of dim = ${dim}`,
        )
      }
      total += d.length
    }
    const data = new Float32Array(total)
    const offsets = new Uint32Array(n + 1)
    let pos = 0
    for (let i = 0; i < n; i++) {
      const d = docs[i] as Float32Array
      data.set(d, pos)
      pos += d.length
      offsets[i + 1] = pos / dim
    }
    return { data, offsets }
  }
  const o = checkOptionsObject(docs, 'docs', ['data', 'offsets'])
  if (!(o.data instanceof Float32Array) || !(o.offsets instanceof Uint32Array)) {
    throw invalid('docs must be an array of Float32Array or { data: Float32Array, offsets: Uint32Array }')
  }
  return { data: o.data, offsets: o.offsets }
}

function multiResult(r: NativeMultiResult): MultiSearchResult {
  return serializable({
    keys: r.keys,
    scores: r.scores,
    timings: { encodeMs: r.encodeMs, searchMs: r.searchMs, rerankMs: r.rerankMs },
  })
}

function resolveMultiSearch(options: unknown): {
  k: number
  candidates: number
  ef: number
  rerank: boolean
  signal: ReturnType<typeof checkSignal>
  filter: unknown
} {
  const o = checkOptionsObject(options, 'search options', ['k', 'candidates', 'ef', 'rerank', 'signal', 'filter'])
  const k = o.k === undefined ? 10 : checkInt(o.k, 'k', 1, MAX_K)
  const candidates = o.candidates === undefined ? 0 : checkInt(o.candidates, 'candidates', 1, MAX_K)
  const ef = o.ef === undefined ? 0 : checkInt(o.ef, 'ef', 1, MAX_EF)
  if (o.rerank !== undefined && o.rerank !== 'exact' && o.rerank !== 'none')
    throw invalid("rerank must be 'exact' or 'none'")
  return { k, candidates, ef, rerank: o.rerank !== 'none', signal: checkSignal(o.signal), filter: o.filter }
}

/**
 * A multi-vector index: each document is a set of token vectors, scored by MaxSim
 * (Σ over query tokens of the best dot product with any document token; higher is better).
 *
 * MUVERA pipeline: each document's Fixed Dimensional Encoding goes into an inner-product
 * index (by default a flat 4-bit PQ fast-scan); a search encodes the query tokens, takes
 * `candidates` documents by FDE similarity, and reranks them by exact MaxSim over the stored
 * tokens (on the worker pool). {@link MultiVectorIndex.searchExhaustive} scores every document
 * exactly. The defaults are the recommended configuration; only `dim` is needed.
 *
 * @example
 * ```ts
 * const mv = new MultiVectorIndex({ dim: 384 })
 * await mv.add([1, 2], [doc1Tokens, doc2Tokens])
 * const { keys, scores } = await mv.search(queryTokens, { k: 10 })
 * ```
 */
export class MultiVectorIndex {
  private native!: NativeMultiVectorIndex
  private tokenDim!: number
  private schema: AttributeSchema | undefined

  /**
   * Creates an empty index.
   * @throws {@link QuiverError} `ERR_INVALID_ARGUMENT` for bad options.
   */
  constructor(options: MultiVectorIndexOptions) {
    const o = checkOptionsObject(options, 'options', [
      'dim',
      'fde',
      'tokenStorage',
      'fdeQuantization',
      'index',
      'm',
      'efConstruction',
      'threads',
      'seed',
      'attributes',
      'payload',
    ])
    if (o.dim === undefined) throw invalid('options.dim is required')
    const dim = checkInt(o.dim, 'dim', 1, MAX_DIM)
    const f = o.fde === undefined ? {} : checkOptionsObject(o.fde, 'options.fde', FDE_FIELDS)
    if (f.dim !== undefined && f.dim !== dim) {
      throw invalid(`options.fde.dim (${String(f.dim)}) disagrees with options.dim (${dim}); set options.dim only`)
    }
    // The default preset projects to 32 dimensions; tokens of fewer keep all of theirs.
    const fit = f.preset === undefined && f.dProj === undefined && dim < 32 ? { dProj: dim } : {}
    const fde = nativeFde({ preset: MULTI_VECTOR_PRESET, ...fit, ...f, dim }, 'options.fde')
    const tokenStorage = o.tokenStorage === undefined ? 'f16' : o.tokenStorage
    if (tokenStorage !== 'f32' && tokenStorage !== 'f16' && tokenStorage !== 'sq8') {
      throw invalid(`tokenStorage must be 'f32', 'f16' or 'sq8', got ${String(tokenStorage)}`)
    }
    // The FDE index's dim and metric come from the encoder; validate the rest as VectorIndex options.
    const outputDim = syncCall(() => new (getNative().NativeFdeEncoder)(fde)).outputDim
    const kind = o.index === undefined ? 'flat' : o.index
    const quantization = o.fdeQuantization === undefined ? defaultFdeQuantization(kind, outputDim) : o.fdeQuantization
    const index = resolveConfig({
      dim: outputDim,
      metric: 'ip',
      index: kind,
      m: o.m,
      efConstruction: o.efConstruction,
      threads: o.threads,
      seed: o.seed,
      quantization,
      // FDE estimates that are not rescored need no f32 FDEs: the MaxSim rerank reads tokens.
      originals: fdeRerank(quantization) === 'none' ? 'none' : undefined,
      attributes: o.attributes,
      payload: o.payload,
    })
    const Native = getNative().NativeMultiVectorIndex
    this.attach(syncCall(() => new Native({ fde, tokenStorage, index })))
  }

  private attach(native: NativeMultiVectorIndex): void {
    this.native = native
    this.tokenDim = native.fdeParams().dim
    const attrs = native.indexConfig().attributes
    this.schema = attrs == null ? undefined : (JSON.parse(attrs) as AttributeSchema)
  }

  private static wrap(native: NativeMultiVectorIndex): MultiVectorIndex {
    const m = Object.create(MultiVectorIndex.prototype) as MultiVectorIndex
    m.attach(native)
    return m
  }

  /**
   * Loads an index saved with {@link MultiVectorIndex.save}, on a worker thread.
   * @throws {@link QuiverError} `ERR_IO`, `ERR_CORRUPT_FILE`, `ERR_VERSION_MISMATCH` (another encoder
   *   version, or parameters other than `options.fde`).
   */
  static async load(path: string, options?: MultiVectorLoadOptions): Promise<MultiVectorIndex> {
    const p = checkPath(path)
    const o = checkOptionsObject(options, 'load options', ['mmap', 'fde', 'threads'])
    const expected = o.fde === undefined ? null : nativeFde(o.fde, 'options.fde')
    const threads = loadThreads(o.threads)
    const Native = getNative().NativeMultiVectorIndex
    return MultiVectorIndex.wrap(await withCancel(undefined, () => Native.load(p, o.mmap === true, expected, threads)))
  }

  /** Synchronous variant of {@link MultiVectorIndex.load}. */
  static loadSync(path: string, options?: MultiVectorLoadOptions): MultiVectorIndex {
    const p = checkPath(path)
    const o = checkOptionsObject(options, 'load options', ['mmap', 'fde', 'threads'])
    const expected = o.fde === undefined ? null : nativeFde(o.fde, 'options.fde')
    const threads = loadThreads(o.threads)
    const Native = getNative().NativeMultiVectorIndex
    return MultiVectorIndex.wrap(syncCall(() => Native.loadSync(p, o.mmap === true, expected, threads)))
  }

  /** Token dimension. */
  get dim(): number {
    return this.tokenDim
  }

  /** Number of documents. */
  get size(): number {
    return syncCall(() => this.native.size)
  }

  /**
   * Releases the index now (native memory, worker threads, file mapping) instead of at garbage
   * collection; calls already running finish first. Idempotent; every later call fails with
   * `ERR_CLOSED`. Where the runtime has `Symbol.asyncDispose`, `await using` closes it too.
   */
  close(): void {
    this.native.close()
  }

  /** Whether {@link MultiVectorIndex.close} was called. */
  get closed(): boolean {
    return this.native.closed
  }

  /** Token storage of the rerank. */
  get tokenStorage(): TokenStorage {
    return syncCall(() => this.native.tokenStorage) as TokenStorage
  }

  /** The encoder's resolved parameters. */
  get fdeParams(): FdeParams {
    return paramsOut(syncCall(() => this.native.fdeParams()))
  }

  /** The FDE index's resolved configuration (dim = FDE dimension, metric `'ip'`). */
  indexConfig(): ResolvedVectorIndexOptions {
    return resolvedOptions(syncCall(() => this.native.indexConfig()))
  }

  /** Heap bytes by part. */
  memoryUsage(): MultiVectorMemoryUsage {
    return syncCall(() => this.native.memoryUsage())
  }

  private addImpl(keys: unknown, docs: unknown, upsert: boolean, options: unknown): Promise<number> {
    return runAdd(
      options,
      upsert ? 'upsert' : 'add',
      'documents',
      (o) => {
        const k = toKeys(keys)
        const d = toDocs(docs, this.tokenDim, k.length)
        const a = o.attributes === undefined ? null : encodeAttributes(o.attributes, k.length)
        const p = o.payloads === undefined ? null : encodePayloads(o.payloads, k.length)
        // A batch with no keys but documents still reaches the engine, which rejects the mismatch.
        return { total: Math.max(k.length, d.offsets.length - 1), data: { k, d, a, p } }
      },
      ({ k, d, a, p }, progress, token) => this.native.add(k, d.data, d.offsets, upsert, progress, token, a, p),
      ['attributes', 'payloads'],
    )
  }

  /**
   * Adds documents under new keys (FDE encoding and graph insertion on worker threads).
   * Bad input (an empty document, offsets that do not increase or overrun the data, NaN tokens,
   * repeated or existing keys) inserts nothing.
   * @param keys - one key per document.
   * @param docs - see {@link MultiVectorDocs}.
   * @throws {@link QuiverError} `ERR_INVALID_ARGUMENT`, `ERR_DIMENSION_MISMATCH`, `ERR_NON_FINITE`,
   *   `ERR_DUPLICATE_KEY`, `ERR_ABORTED` (with `inserted`: documents inserted before the abort).
   */
  add(keys: Keys, docs: MultiVectorDocs, options?: MultiAddOptions): Promise<number> {
    return this.addImpl(keys, docs, false, options)
  }

  /** Like {@link MultiVectorIndex.add}, replacing documents whose keys exist. */
  upsert(keys: Keys, docs: MultiVectorDocs, options?: MultiAddOptions): Promise<number> {
    return this.addImpl(keys, docs, true, options)
  }

  /** Synchronous variant of {@link MultiVectorIndex.add}. */
  addSync(keys: Keys, docs: MultiVectorDocs, options?: Pick<MultiAddOptions, 'attributes' | 'payloads'>): number {
    return this.addSyncImpl(keys, docs, false, options)
  }

  /** Synchronous variant of {@link MultiVectorIndex.upsert}. */
  upsertSync(keys: Keys, docs: MultiVectorDocs, options?: Pick<MultiAddOptions, 'attributes' | 'payloads'>): number {
    return this.addSyncImpl(keys, docs, true, options)
  }

  private addSyncImpl(keys: Keys, docs: MultiVectorDocs, upsert: boolean, options: unknown): number {
    const o = checkOptionsObject(options, 'add options', ['attributes', 'payloads'])
    const k = toKeys(keys)
    const d = toDocs(docs, this.tokenDim, k.length)
    const a = o.attributes === undefined ? null : encodeAttributes(o.attributes, k.length)
    const p = o.payloads === undefined ? null : encodePayloads(o.payloads, k.length)
    return syncCall(() => this.native.addSync(k, d.data, d.offsets, upsert, a, p)).inserted
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
   * MUVERA search on a worker thread: FDE candidates, then exact MaxSim rerank.
   * @param queryTokens - row-major `nTokens × dim` query token vectors.
   * @throws {@link QuiverError} `ERR_INVALID_ARGUMENT`, `ERR_DIMENSION_MISMATCH`, `ERR_NON_FINITE`, `ERR_ABORTED`.
   */
  async search(queryTokens: Float32Array, options?: MultiSearchOptions): Promise<MultiSearchResult> {
    const s = resolveMultiSearch(options)
    const q = tokenArray(queryTokens, this.tokenDim, 'queryTokens')
    const f = s.filter === undefined ? null : compileFilter(s.filter, this.schema)
    if (s.signal !== undefined && s.signal.aborted) throw abortedError('search')
    return multiResult(
      await withCancel(s.signal, (token) => this.native.search(q, s.k, s.candidates, s.ef, s.rerank, token, f)),
    )
  }

  /** Synchronous variant of {@link MultiVectorIndex.search}. */
  searchSync(queryTokens: Float32Array, options?: MultiSearchOptions): MultiSearchResult {
    const s = resolveMultiSearch(options)
    const q = tokenArray(queryTokens, this.tokenDim, 'queryTokens')
    const f = s.filter === undefined ? null : compileFilter(s.filter, this.schema)
    return multiResult(syncCall(() => this.native.searchSync(q, s.k, s.candidates, s.ef, s.rerank, f)))
  }

  /** Exact MaxSim against every document (the ground truth for MUVERA's recall), on the worker pool. */
  async searchExhaustive(
    queryTokens: Float32Array,
    options?: { k?: number; signal?: AbortSignal },
  ): Promise<MultiSearchResult> {
    const s = resolveMultiSearch(options)
    const q = tokenArray(queryTokens, this.tokenDim, 'queryTokens')
    if (s.filter !== undefined) throw invalid('searchExhaustive takes no filter')
    if (s.signal !== undefined && s.signal.aborted) throw abortedError('searchExhaustive')
    return multiResult(await withCancel(s.signal, (token) => this.native.searchExhaustive(q, s.k, token)))
  }

  /** Synchronous variant of {@link MultiVectorIndex.searchExhaustive}. */
  searchExhaustiveSync(queryTokens: Float32Array, options?: { k?: number }): MultiSearchResult {
    const s = resolveMultiSearch(options)
    if (s.filter !== undefined) throw invalid('searchExhaustive takes no filter')
    const q = tokenArray(queryTokens, this.tokenDim, 'queryTokens')
    return multiResult(syncCall(() => this.native.searchExhaustiveSync(q, s.k)))
  }

  /**
   * Exact MaxSim of `queryTokens` against the documents `keys` (NaN for absent keys): rerank
   * candidates from any other source with the stored tokens.
   */
  score(queryTokens: Float32Array, keys: Keys): Float32Array {
    const q = tokenArray(queryTokens, this.tokenDim, 'queryTokens')
    const k = toKeys(keys)
    return syncCall(() => this.native.scoreSync(q, k))
  }

  /** Removes documents; unknown keys are ignored. Resolves to the number removed. */
  async remove(keys: Keys): Promise<number> {
    const k = toKeys(keys)
    return withCancel(undefined, () => this.native.remove(k))
  }

  /** Synchronous variant of {@link MultiVectorIndex.remove}. */
  removeSync(keys: Keys): number {
    const k = toKeys(keys)
    return syncCall(() => this.native.removeSync(k))
  }

  /** True if a document is stored under `key`. */
  has(key: number): boolean {
    const k = checkInt(key, 'key', 0, MAX_U32)
    return syncCall(() => this.native.has(k))
  }

  /** The stored tokens of `key` (decoded to f32; f16/sq8 storage rounds them), or `undefined`. */
  tokens(key: number): Float32Array | undefined {
    const k = checkInt(key, 'key', 0, MAX_U32)
    const t = syncCall(() => this.native.tokens(k))
    return t === null ? undefined : t
  }

  /** Writes the index (FDE index, encoder matrices, tokens) to one file, atomically, on a worker thread. */
  async save(path: string): Promise<void> {
    const p = checkPath(path)
    await withCancel(undefined, () => this.native.save(p))
  }

  /** Synchronous variant of {@link MultiVectorIndex.save}. */
  saveSync(path: string): void {
    const p = checkPath(path)
    syncCall(() => this.native.saveSync(p))
  }
}

closeOnDispose(FdeEncoder)
closeOnDispose(MultiVectorIndex)
