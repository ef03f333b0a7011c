/**
 * BM25 full-text search over HuggingFace `tokenizers`: {@link TextIndex}.
 *
 * @packageDocumentation
 */

import { serializable } from './result'
import { getNative } from './native'
import type { NativeScoredSearchOptions, NativeTextConfig, NativeTextIndex, NativeTextInfo } from '../native/index'
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
 * Text analysis:
 * - `'default'`: Unicode NFD normalisation, lowercase, accent stripping, BERT-style
 *   pre-tokenisation (whitespace and punctuation split; each CJK character is a token);
 *   tokens that are only punctuation or symbols (emoji included) are dropped.
 * - `{ tokenizerJson, mode }`: a HuggingFace `tokenizer.json` (e.g. your embedding model's). With
 *   `mode: 'pretokenize'` (default) its normalizer and pre-tokenizer produce whole words; with
 *   `'subword'` its model produces sub-word tokens. The file's bytes are stored in the index, so
 *   a saved index does not need the file.
 */
export type Analyzer = 'default' | { tokenizerJson: string; mode?: 'pretokenize' | 'subword' }

/** Options for `new TextIndex(options)`. All optional. */
export interface TextIndexOptions {
  /** The analyzer. Default `'default'`. */
  analyzer?: Analyzer
  /** Snowball English stemming (`running` → `run`). Default `'english'`; ignored in `'subword'` mode. */
  stem?: 'english' | false
  /** Stop words removed from documents and queries: Lucene's English list, your own, or none. Default `'english'`. */
  stopWords?: 'english' | readonly string[] | false
  /** BM25 term-frequency saturation, ≥ 0. Default 1.2. */
  k1?: number
  /** BM25 length normalisation, in [0, 1]. Default 0.75. */
  b?: number
  /** Threads used to analyse texts during `add`. Default: all logical CPUs. */
  threads?: number
  /** Attribute fields searches can filter on (see `VectorIndexOptions.attributes`). */
  attributes?: AttributeSchema
  /** Keep a JSON payload per key. Default `false`. */
  payload?: boolean
}

/** Resolved options of a {@link TextIndex}. */
export interface ResolvedTextIndexOptions {
  /** The analyzer (for a loaded index, `tokenizerJson` names the original file; its bytes are in the index). */
  analyzer: Analyzer
  /** Stemming. */
  stem: 'english' | false
  /** Stop words. */
  stopWords: 'english' | string[] | false
  /** BM25 k1. */
  k1: number
  /** BM25 b. */
  b: number
  /** Declared attribute fields, if any. */
  attributes?: AttributeSchema
  /** Whether payloads are kept. */
  payload: boolean
}

/** BM25 hits, best first (ties: smaller key first). */
export interface TextSearchResult {
  /** Document keys. */
  keys: Uint32Array
  /** BM25 scores (higher is better). */
  scores: Float32Array
  /** Each hit's attributes, with `include: ['attributes']`. */
  attributes?: (Attributes | undefined)[]
  /** Each hit's payload, with `include: ['payload']`. */
  payloads?: (JsonValue | undefined)[]
}

/** Options of {@link TextIndex.search}. */
export interface TextSearchOptions {
  /** Results; integer in [1, {@link MAX_K}]. Default 10. */
  k?: number
  /**
   * Top-k algorithm; all give the same list. `'bmm'` (default): Block-Max MaxScore; `'bmw'`:
   * Block-Max WAND; `'exhaustive'`: score every matching document (the oracle).
   */
  strategy?: 'bmm' | 'bmw' | 'exhaustive'
  /** Cancels the search. */
  signal?: AbortSignal
  /**
   * Only documents whose attributes match (see {@link Filter}). The filter's key set is tested
   * inside the Block-Max loops, so the result is exactly the top-k of the matching documents
   * (BM25 statistics stay those of the whole index).
   */
  filter?: Filter
  /** Only hits scoring at least this much (fewer than `k` is then normal). */
  minScore?: number
  /** Return each hit's `'attributes'` and/or `'payload'`. */
  include?: readonly ('attributes' | 'payload')[]
}

function nativeText(options: unknown): NativeTextConfig {
  const o = checkOptionsObject(options, 'options', [
    'threads',
    'analyzer',
    'stem',
    'stopWords',
    'k1',
    'b',
    'attributes',
    'payload',
  ])
  const c: NativeTextConfig = {
    analyzer: 'default',
    stem: true,
    stopWords: 'english',
    stopWordList: [],
    k1: 1.2,
    b: 0.75,
    threads: o.threads === undefined ? defaultThreads() : checkInt(o.threads, 'threads', 1, MAX_THREADS),
    attributes: o.attributes === undefined ? undefined : checkSchema(o.attributes),
    payload: o.payload === undefined ? false : o.payload === true,
  }
  if (o.payload !== undefined && typeof o.payload !== 'boolean') throw invalid('options.payload must be a boolean')
  const a = o.analyzer
  if (a !== undefined && a !== 'default') {
    const ao = checkOptionsObject(a, 'analyzer', ['tokenizerJson', 'mode'])
    if (typeof ao.tokenizerJson !== 'string' || ao.tokenizerJson.length === 0) {
      throw invalid("analyzer must be 'default' or { tokenizerJson: path, mode?: 'pretokenize' | 'subword' }")
    }
    if (ao.mode !== undefined && ao.mode !== 'pretokenize' && ao.mode !== 'subword') {
      throw invalid(`analyzer.mode must be 'pretokenize' or 'subword', got ${String(ao.mode)}`)
    }
    c.analyzer = 'tokenizer-json'
    c.tokenizerJson = ao.tokenizerJson
    c.mode = (ao.mode as string | undefined) ?? 'pretokenize'
  }
  if (o.stem !== undefined) {
    if (o.stem !== 'english' && o.stem !== false)
      throw invalid(`stem must be 'english' or false, got ${String(o.stem)}`)
    c.stem = o.stem === 'english'
  }
  if (o.stopWords !== undefined) {
    const s = o.stopWords
    if (s === false) c.stopWords = 'none'
    else if (s === 'english') c.stopWords = 'english'
    else if (Array.isArray(s) && s.every((w) => typeof w === 'string')) {
      c.stopWords = 'custom'
      c.stopWordList = [...(s as string[])]
    } else throw invalid("stopWords must be 'english', false or an array of strings")
  }
  for (const [name, lo, hi] of [
    ['k1', 0, 1000],
    ['b', 0, 1],
  ] as const) {
    const v = o[name]
    if (v === undefined) continue
    if (typeof v !== 'number' || !Number.isFinite(v) || v < lo || v > hi) {
      throw invalid(`${name} must be a number in [${lo}, ${hi}], got ${String(v)}`)
    }
    c[name] = v
  }
  return c
}

function resolved(i: NativeTextInfo): ResolvedTextIndexOptions {
  return {
    analyzer:
      i.analyzer === 'default'
        ? 'default'
        : { tokenizerJson: i.tokenizerName ?? '', mode: (i.mode ?? 'pretokenize') as 'pretokenize' | 'subword' },
    stem: i.stem ? 'english' : false,
    stopWords: i.stopWords === 'english' ? 'english' : i.stopWords === 'none' ? false : i.stopWordList,
    k1: i.k1,
    b: i.b,
    ...(i.attributes == null ? {} : { attributes: JSON.parse(i.attributes) as AttributeSchema }),
    payload: i.payload,
  }
}

function toTexts(texts: unknown, n: number): string[] {
  if (!Array.isArray(texts)) throw invalid('texts must be an array of strings')
  if (texts.length !== n) throw invalid(`got ${n} keys but ${texts.length} texts`)
  for (let i = 0; i < texts.length; i++) {
    if (typeof texts[i] !== 'string') throw invalid(`texts[${i}] must be a string, got ${typeof texts[i]}`)
  }
  return texts as string[]
}

interface ResolvedTextSearch {
  k: number
  strategy: string
  signal: ReturnType<typeof checkSignal>
  opts: NativeScoredSearchOptions | undefined
  minScore: number | undefined
}

function resolveTextSearch(options: unknown, schema: AttributeSchema | undefined): ResolvedTextSearch {
  const o = checkOptionsObject(options, 'search options', ['k', 'strategy', 'signal', 'filter', 'minScore', 'include'])
  const k = o.k === undefined ? 10 : checkInt(o.k, 'k', 1, MAX_K)
  const strategy = o.strategy === undefined ? 'bmm' : o.strategy
  if (strategy !== 'bmm' && strategy !== 'bmw' && strategy !== 'exhaustive') {
    throw invalid(`strategy must be 'bmm', 'bmw' or 'exhaustive', got ${String(strategy)}`)
  }
  return { k, strategy, signal: checkSignal(o.signal), ...resolveScoredOptions(o, schema) }
}

function checkQuery(q: unknown): string {
  if (typeof q !== 'string') throw invalid(`the query must be a string, got ${typeof q}`)
  return q
}

/** Options of {@link TextIndex.add}. */
export interface TextAddOptions {
  /** Called with the number of documents analysed so far and the total. */
  onProgress?: (done: number, total: number) => void
  /** Cancels the add (nothing of it is applied). */
  signal?: AbortSignal
  /** One attribute object per key (for an index declared with `attributes`). Replaces a key's previous attributes. */
  attributes?: readonly (Attributes | null | undefined)[]
  /** One JSON value per key (for an index with `payload: true`). Replaces a key's previous payload. */
  payloads?: readonly unknown[]
}

/** Native memory of a {@link TextIndex}, in bytes. */
export interface TextMemoryUsage {
  /** Sum of the parts. */
  total: number
  /** Posting lists and document frequencies. */
  postings: number
  /** The term dictionary. */
  terms: number
  /** Per-document tables: keys, lengths, deletions and the forward index. */
  documents: number
  /** Attribute records and their indexes. */
  attributes: number
  /** Payloads. */
  payloads: number
}

/**
 * A BM25 full-text index (Lucene's IDF, k1 = 1.2, b = 0.75 by default) with Block-Max top-k
 * search, built natively on HuggingFace `tokenizers`.
 *
 * Texts are JavaScript strings; lone UTF-16 surrogates (invalid Unicode) are replaced with
 * U+FFFD when they cross into the engine. An empty text is indexed as an empty document (it
 * matches nothing but counts in `size`).
 *
 * @example
 * ```ts
 * const text = new TextIndex()
 * await text.add([1, 2], ['The quick brown fox', 'Lazy dogs sleep'])
 * const { keys, scores } = await text.search('quick foxes', { k: 5 }) // keys[0] === 1
 * ```
 */
export class TextIndex {
  private native!: NativeTextIndex
  private schema: AttributeSchema | undefined

  /**
   * Creates an empty index.
   * @throws {@link QuiverError} `ERR_INVALID_ARGUMENT` for bad options or a missing/malformed
   *   `tokenizer.json` (the message names the file).
   */
  constructor(options: TextIndexOptions = {}) {
    const c = nativeText(options)
    const Native = getNative().NativeTextIndex
    this.native = syncCall(() => new Native(c))
    this.schema = c.attributes == null ? undefined : (JSON.parse(c.attributes) as AttributeSchema)
  }

  private static wrap(native: NativeTextIndex): TextIndex {
    const t = Object.create(TextIndex.prototype) as TextIndex
    t.native = native
    const info = syncCall(() => native.info())
    t.schema = info.attributes == null ? undefined : (JSON.parse(info.attributes) as AttributeSchema)
    return t
  }

  /**
   * Loads an index saved with {@link TextIndex.save}, on a worker thread.
   * @throws {@link QuiverError} `ERR_IO`, `ERR_CORRUPT_FILE`, `ERR_VERSION_MISMATCH`.
   */
  static async load(path: string, options?: { threads?: number }): Promise<TextIndex> {
    const p = checkPath(path)
    const o = checkOptionsObject(options, 'load options', ['threads'])
    const threads = loadThreads(o.threads)
    const Native = getNative().NativeTextIndex
    return TextIndex.wrap(await withCancel(undefined, () => Native.load(p, threads)))
  }

  /** Synchronous variant of {@link TextIndex.load}. */
  static loadSync(path: string, options?: { threads?: number }): TextIndex {
    const p = checkPath(path)
    const o = checkOptionsObject(options, 'load options', ['threads'])
    const threads = loadThreads(o.threads)
    const Native = getNative().NativeTextIndex
    return TextIndex.wrap(syncCall(() => Native.loadSync(p, threads)))
  }

  /** Number of documents. */
  get size(): number {
    return syncCall(() => this.native.size)
  }

  /**
   * Releases the index now (native memory and worker threads) instead of at garbage
   * collection; calls already running finish first. Idempotent; every later call fails with
   * `ERR_CLOSED`. Where the runtime has `Symbol.asyncDispose`, `await using` closes it too.
   */
  close(): void {
    this.native.close()
  }

  /** Whether {@link TextIndex.close} was called. */
  get closed(): boolean {
    return this.native.closed
  }

  /** Number of distinct indexed terms. */
  get terms(): number {
    return syncCall(() => this.native.terms)
  }

  /** The resolved options. */
  config(): ResolvedTextIndexOptions {
    return resolved(syncCall(() => this.native.info()))
  }

  /** Approximate native memory held, in bytes, by part. */
  memoryUsage(): TextMemoryUsage {
    return syncCall(() => this.native.memoryUsage())
  }

  /** The analyzer's output for `text`: the terms that would be indexed or searched. */
  analyze(text: string): string[] {
    const t = checkQuery(text)
    return syncCall(() => this.native.analyze(t))
  }

  /**
   * Adds documents, replacing those whose keys exist. Texts are analysed on worker threads;
   * the batch is applied all at once (a bad batch or an abort changes nothing).
   * @throws {@link QuiverError} `ERR_INVALID_ARGUMENT`, `ERR_DUPLICATE_KEY` (a key twice in one call), `ERR_ABORTED`.
   */
  async add(keys: Keys, texts: readonly string[], options?: TextAddOptions): Promise<void> {
    await runAdd(
      options,
      'add',
      'documents',
      (o) => {
        const k = toKeys(keys)
        const t = toTexts(texts, k.length)
        const a = o.attributes === undefined ? null : encodeAttributes(o.attributes, k.length)
        const p = o.payloads === undefined ? null : encodePayloads(o.payloads, k.length)
        return { total: k.length, data: { k, t, a, p } }
      },
      ({ k, t, a, p }, progress, token) => this.native.add(k, t, progress, token, a, p),
      ['attributes', 'payloads'],
    )
  }

  /** Synchronous variant of {@link TextIndex.add}. */
  addSync(keys: Keys, texts: readonly string[], options?: Pick<TextAddOptions, 'attributes' | 'payloads'>): void {
    const o = checkOptionsObject(options, 'add options', ['attributes', 'payloads'])
    const k = toKeys(keys)
    const t = toTexts(texts, k.length)
    if (k.length === 0) return
    const a = o.attributes === undefined ? null : encodeAttributes(o.attributes, k.length)
    const p = o.payloads === undefined ? null : encodePayloads(o.payloads, k.length)
    syncCall(() => this.native.addSync(k, t, a, p))
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
   * BM25 search on a worker thread. A query with no indexed term gives empty arrays.
   * @throws {@link QuiverError} `ERR_INVALID_ARGUMENT`, `ERR_ABORTED`.
   */
  async search(query: string, options?: TextSearchOptions): Promise<TextSearchResult> {
    const q = checkQuery(query)
    const s = resolveTextSearch(options, this.schema)
    if (s.signal !== undefined && s.signal.aborted) throw abortedError('search')
    const r = await withCancel(s.signal, (token) => this.native.search(q, s.k, s.strategy, token, s.opts))
    return scoredResult(r, s.minScore)
  }

  /** Synchronous variant of {@link TextIndex.search}. */
  searchSync(query: string, options?: TextSearchOptions): TextSearchResult {
    const q = checkQuery(query)
    const s = resolveTextSearch(options, this.schema)
    const r = syncCall(() => this.native.searchSync(q, s.k, s.strategy, s.opts))
    return scoredResult(r, s.minScore)
  }

  /** Searches many queries in parallel on the worker pool. */
  async searchBatch(queries: readonly string[], options?: { k?: number }): Promise<TextSearchResult[]> {
    if (!Array.isArray(queries) || !queries.every((q) => typeof q === 'string'))
      throw invalid('queries must be an array of strings')
    const s = resolveTextSearch(options, this.schema)
    if (s.opts !== undefined || s.minScore !== undefined || s.strategy !== 'bmm') {
      throw invalid('searchBatch takes only k; use search for filter, include, minScore or strategy')
    }
    const r = await withCancel(undefined, () => this.native.searchBatch([...queries], s.k))
    return r.map((x) => serializable({ keys: x.keys, scores: x.scores }))
  }

  /** Removes documents; unknown keys are ignored. Resolves to the number removed. */
  async remove(keys: Keys): Promise<number> {
    const k = toKeys(keys)
    return withCancel(undefined, () => this.native.remove(k))
  }

  /** Synchronous variant of {@link TextIndex.remove}. */
  removeSync(keys: Keys): number {
    return syncCall(() => this.native.removeSync(toKeys(keys)))
  }

  /** True if a document is stored under `key`. */
  has(key: number): boolean {
    const k = checkInt(key, 'key', 0, MAX_U32)
    return syncCall(() => this.native.has(k))
  }

  /** Writes the index to `path` atomically (checksummed; a failed write keeps the old file), on a worker thread. */
  async save(path: string): Promise<void> {
    const p = checkPath(path)
    await withCancel(undefined, () => this.native.save(p))
  }

  /** Synchronous variant of {@link TextIndex.save}. */
  saveSync(path: string): void {
    const p = checkPath(path)
    syncCall(() => this.native.saveSync(p))
  }
}

closeOnDispose(TextIndex)
