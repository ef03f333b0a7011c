/**
 * {@link Collection}: documents with text, a vector, token vectors and/or a sparse vector under
 * one id space, searched by BM25, dense, multi-vector and learned sparse retrieval and fused
 * into one ranking.
 *
 * @packageDocumentation
 */

import * as crypto from 'node:crypto'
import * as fs from 'node:fs'
import * as path from 'node:path'
import { QuiverError } from './errors'
import { closeOnDispose, withCancel } from './call'
import { getNative } from './native'
import { fuse } from './fusion'
import type { FusionMethod, FusionList } from './fusion'
import { MultiVectorIndex } from './multi-vector'
import type { MultiVectorIndexOptions } from './multi-vector'
import { SparseIndex } from './sparse-index'
import type { SparseIndexOptions, SparseVector } from './sparse-index'
import { TextIndex } from './text-index'
import type { TextIndexOptions } from './text-index'
import { checkInt, checkOptionsObject, invalid, resolveConfig, toVector, MAX_K } from './validate'
import { VectorIndex } from './vector-index'
import type { VectorIndexOptions } from './vector-index'
import { similarity } from './result'
import { checkSchema } from './filter'
import type { AttributeSchema, Attributes, Filter, JsonValue } from './filter'

/** A document id: a string or a non-negative integer (`1` and `'1'` are different ids). */
export type DocId = string | number

/** The fields a collection holds; each present field is required in every document. */
export interface CollectionSchema {
  /** BM25 over `doc.text` (`true` for the default {@link TextIndexOptions}). */
  text?: TextIndexOptions | true
  /** A dense vector per document (`doc.vector`), in a {@link VectorIndex}. */
  vector?: VectorIndexOptions
  /** Token vectors per document (`doc.tokens`), in a {@link MultiVectorIndex}. */
  multiVector?: MultiVectorIndexOptions
  /** A learned sparse vector per document (`doc.sparse`), in a {@link SparseIndex}. */
  sparse?: SparseIndexOptions
  /**
   * Attribute fields (see `VectorIndexOptions.attributes`) given per document as
   * `doc.attributes` and tested by `search({ filter })` in every retriever, before fusion.
   */
  attributes?: AttributeSchema
  /** Keep a JSON payload per document (`doc.payload`), returned by `get` and by `search({ include: ['payload'] })`. */
  payload?: boolean
}

/** A document. */
export interface CollectionDoc {
  /** Unique id. */
  id: DocId
  /** Text (schema `text`); stored and returned by `get`. */
  text?: string
  /** Dense vector (schema `vector`). */
  vector?: Float32Array | readonly number[]
  /** Token vectors, row-major `n × dim` (schema `multiVector`). */
  tokens?: { data: Float32Array; n: number }
  /** Sparse vector (schema `sparse`; the rules of {@link SparseVector}). `get` returns it with term ids sorted and zero weights dropped. */
  sparse?: SparseVector
  /** Attribute values (schema `attributes`); an upsert replaces them. */
  attributes?: Attributes
  /** A JSON value (schema `payload: true`); an upsert replaces it. */
  payload?: JsonValue
}

/** What one retriever said about a hit: 1-based rank and its own score, or absent. */
export interface HitPart {
  /** Rank in that retriever's candidate list (1 = best). */
  rank: number
  /** The retriever's score: BM25 for text, similarity for vectors (cosine: 1 − distance, ip: dot, l2: −distance²), MaxSim for tokens, dot product for sparse. */
  score: number
}

/** One fused search hit. */
export interface CollectionHit {
  /** Document id. */
  id: DocId
  /** Fused score (higher is better), or the single retriever's score when only one signal was given. */
  score: number
  /** Each retriever's rank and score for this document (a part is absent if that retriever did not return it). */
  parts: { text?: HitPart; vector?: HitPart; multiVector?: HitPart; sparse?: HitPart }
  /** The document's attributes, with `include: ['attributes']`. */
  attributes?: Attributes
  /** The document's payload, with `include: ['payload']`. */
  payload?: JsonValue
}

/** A hybrid query: any combination of the schema's fields. */
export interface CollectionQuery {
  /** BM25 query. */
  text?: string
  /** Dense query vector. */
  vector?: Float32Array | readonly number[]
  /** Query token vectors (row-major `nTokens × dim`). */
  tokens?: Float32Array
  /** Sparse query vector. */
  sparse?: SparseVector
  /** Results. Default 10. */
  k?: number
  /**
   * How signals are combined when more than one is given. Default: with exactly one dense
   * signal (vector or multiVector) and text, `{ method: 'convex', alpha: DEFAULT_ALPHA,
   * normalize: 'minmax' }` (α weighs the dense signal); otherwise `{ method: 'rrf', k: 60 }`.
   * The lists are passed to {@link fuse} in the order vector, multiVector, sparse, text (the
   * signals present), so an explicit convex fusion of two of them weighs the first by α.
   */
  fusion?: FusionMethod
  /**
   * Candidates fetched from each retriever. Default `max(100, 4k)`: min-max and z-score fusion
   * normalise over what each retriever returns, and 100 per retriever gives the quality the
   * benchmark reports (on SciFact, 50 lost 0.006 nDCG@10).
   */
  candidates?: number
  /**
   * Only documents whose attributes match (see {@link Filter}); every retriever applies it
   * natively before fusion, so each returns its best matching documents.
   */
  filter?: Filter
  /** Only hits whose final score (fused, or the single retriever's) is at least this. */
  minScore?: number
  /** Return each hit's `'attributes'` and/or `'payload'`. */
  include?: readonly ('attributes' | 'payload')[]
}

/**
 * Default weight of the dense signal in convex fusion: the value tuned on the SciFact train
 * split with all-MiniLM-L6-v2 and BM25 (see bench/RESULTS.md, hybrid and BM25); tune it on your data.
 */
export const DEFAULT_ALPHA = 0.45

const MANIFEST = 'MANIFEST.json'
/** File in every generation directory a collection writes; a `gen-*` entry without it is not ours. */
const GENERATION_MARKER = '.quiver-generation'
const GENERATION_NAME = /^gen-[0-9a-z]+-[0-9a-f]+$/

/** The generation the manifest in `dir` names, if it names one. */
function currentGeneration(dir: string): string | undefined {
  try {
    const m = JSON.parse(fs.readFileSync(path.join(dir, MANIFEST), 'utf8')) as { generation?: unknown }
    return typeof m.generation === 'string' && GENERATION_NAME.test(m.generation) ? m.generation : undefined
  } catch {
    return undefined
  }
}

/** A part's file name from a manifest: a plain name inside the generation directory. */
function partName(name: unknown): name is string {
  return (
    typeof name === 'string' &&
    name.length > 0 &&
    name.length <= 255 &&
    name === path.basename(name) &&
    !name.includes('/') &&
    !name.includes('\\') &&
    name !== '.' &&
    name !== '..'
  )
}

/**
 * Checks the shape of a parsed manifest (everything `open` reads from it).
 * @internal Exported for the fuzz tests; not part of the package's API.
 */
export function checkManifest(dir: string, m: unknown): Manifest {
  const bad = (why: string): QuiverError => corrupt(dir, `${MANIFEST} ${why}`)
  if (m === null || typeof m !== 'object' || Array.isArray(m)) throw bad('is not an object')
  const o = m as Record<string, unknown>
  if (o.format !== FORMAT) throw bad('is not a quiver-search collection manifest')
  if (o.version !== FORMAT_VERSION) {
    throw new QuiverError(
      'ERR_VERSION_MISMATCH',
      `collection ${dir} has format version ${String(o.version)}, this build reads ${FORMAT_VERSION}`,
    )
  }
  if (typeof o.generation !== 'string' || !GENERATION_NAME.test(o.generation)) throw bad('names a bad generation')
  const schema = o.schema
  if (schema === null || typeof schema !== 'object' || Array.isArray(schema)) throw bad('has no schema')
  const fields = Object.keys(schema)
  if (fields.length === 0) throw bad('has an empty schema')
  const isObject = (v: unknown): boolean => v !== null && typeof v === 'object' && !Array.isArray(v)
  if (!fields.some((f) => PART_FIELDS.includes(f))) throw bad('has no indexed field')
  for (const f of fields) {
    const v = (schema as Record<string, unknown>)[f]
    if (f === 'attributes') {
      if (!isObject(v)) throw bad("has a bad schema entry 'attributes'")
      continue
    }
    if (f === 'payload') {
      if (typeof v !== 'boolean') throw bad("has a bad schema entry 'payload'")
      continue
    }
    if (!PART_FIELDS.includes(f)) throw bad(`has an unknown schema field '${f}'`)
    if (f === 'text' ? v !== true && !isObject(v) : !isObject(v)) throw bad(`has a bad schema entry '${f}'`)
  }
  const parts = o.parts as Record<string, unknown> | null
  if (parts === null || typeof parts !== 'object') throw bad('has no parts')
  const docs = parts.docs as Record<string, unknown> | null
  if (docs === null || typeof docs !== 'object' || !partName(docs.file) || typeof docs.sha256 !== 'string')
    throw bad('has a bad docs part')
  for (const f of PART_FIELDS) {
    if (parts[f] !== undefined && !partName(parts[f])) throw bad(`names a bad ${f} part (only plain file names)`)
  }
  return m as Manifest
}

/**
 * Checks the shape of docs.json.
 * @internal Exported for the fuzz tests; not part of the package's API.
 */
export function checkDocs(dir: string, d: unknown): DocsFile {
  const bad = (why: string): QuiverError => corrupt(dir, `docs.json ${why}`)
  if (d === null || typeof d !== 'object') throw bad('is not an object')
  const o = d as Record<string, unknown>
  const { ids, keys, texts, nextKey } = o
  if (!Array.isArray(ids) || !Array.isArray(keys) || ids.length !== keys.length) throw bad('is inconsistent')
  if (!Number.isInteger(nextKey) || (nextKey as number) < 0 || (nextKey as number) > 0xffffffff)
    throw bad('has a bad nextKey')
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i] as unknown
    const k = keys[i] as unknown
    const idOk = typeof id === 'string' || (typeof id === 'number' && Number.isInteger(id) && id >= 0)
    if (!idOk || typeof k !== 'number' || !Number.isInteger(k) || k < 0 || k >= (nextKey as number))
      throw bad(`has a bad entry at ${i}`)
  }
  if (
    texts !== null &&
    (!Array.isArray(texts) || texts.length !== ids.length || texts.some((t) => typeof t !== 'string'))
  )
    throw bad('has bad texts')
  return o as unknown as DocsFile
}
/** The schema fields, each saved as one part of a generation. */
const PART_FIELDS: readonly string[] = ['text', 'vector', 'multiVector', 'sparse']
const FORMAT = 'quiver-collection'
const FORMAT_VERSION = 1

interface DocsFile {
  nextKey: number
  ids: DocId[]
  keys: number[]
  texts: string[] | null
}

interface Manifest {
  format: string
  version: number
  generation: string
  schema: CollectionSchema
  parts: {
    docs: { file: string; sha256: string; bytes: number }
    text?: string
    vector?: string
    multiVector?: string
    sparse?: string
  }
}

/** Estimated bytes of one `Map` entry (key, value and table slot) in V8. */
const MAP_ENTRY_BYTES = 40

/** Approximate memory of a {@link Collection}, in bytes. */
export interface CollectionMemoryUsage {
  /** Sum of the parts. */
  total: number
  /** The text index (0 without a `text` field). */
  text: number
  /** The vector index (0 without a `vector` field). */
  vector: number
  /** The multi-vector index (0 without a `multiVector` field). */
  multiVector: number
  /** The sparse index (0 without a `sparse` field). */
  sparse: number
  /** Id maps and stored texts (estimated JavaScript heap). */
  ids: number
}

function corrupt(dir: string, why: string): QuiverError {
  return new QuiverError('ERR_CORRUPT_FILE', `collection ${dir}: ${why}`)
}

function idKey(id: unknown, what: string): DocId {
  if (typeof id === 'string') return id
  if (typeof id === 'number' && Number.isInteger(id) && id >= 0) return id
  throw invalid(
    `${what} must be a string or a non-negative integer, got ${typeof id === 'number' ? String(id) : typeof id}`,
  )
}

/** Durable atomic write through the engine's file container (see docs/FILE_FORMAT.md). */
function writeFileAtomic(file: string, data: Buffer): Promise<void> {
  return withCancel(undefined, () => getNative().writeFileAtomic(file, data))
}

/**
 * Documents with text, a dense vector, token vectors and/or a sparse vector under one id space,
 * with hybrid search. Every field present in the schema is indexed: text by a {@link TextIndex},
 * vectors by a {@link VectorIndex}, token sets by a {@link MultiVectorIndex}, sparse vectors by a
 * {@link SparseIndex}; ids (strings or integers) are
 * mapped to internal keys.
 *
 * Writes are serialised; `save(dir)` writes a new generation directory and then atomically
 * replaces the manifest, so a crash during a save leaves the previous collection loadable.
 *
 * @example
 * ```ts
 * const c = new Collection({ text: true, vector: { dim: 384, metric: 'cosine' } })
 * await c.upsert([{ id: 'doc-1', text: 'hello world', vector }])
 * const hits = await c.search({ text: 'hello', vector: queryVector, k: 10 })
 * ```
 */
export class Collection {
  private schema!: CollectionSchema
  private text: TextIndex | null = null
  private vector: VectorIndex | null = null
  private multi: MultiVectorIndex | null = null
  private sparse: SparseIndex | null = null
  private keyOf = new Map<DocId, number>()
  private idOf = new Map<number, DocId>()
  private texts = new Map<number, string>()
  private nextKey = 0
  private queue: Promise<unknown> = Promise.resolve()
  private closedFlag = false

  /**
   * Creates an empty collection.
   * @throws {@link QuiverError} `ERR_INVALID_ARGUMENT` for an empty or bad schema.
   */
  constructor(schema: CollectionSchema) {
    const s = checkOptionsObject(schema, 'schema', [...PART_FIELDS, 'attributes', 'payload'])
    if (PART_FIELDS.every((f) => s[f] === undefined)) {
      throw invalid(`the schema needs at least one of ${PART_FIELDS.join(', ')}`)
    }
    if (s.attributes !== undefined) checkSchema(s.attributes)
    if (s.payload !== undefined && typeof s.payload !== 'boolean') throw invalid('schema.payload must be a boolean')
    for (const f of PART_FIELDS) {
      const o = s[f]
      if (o !== null && typeof o === 'object' && ('attributes' in o || 'payload' in o)) {
        throw invalid(`schema.${f}: declare attributes and payload on the collection schema, not on one field`)
      }
    }
    this.schema = { ...(schema as CollectionSchema) }
    // Every index can filter; the payload lives in one of them (the first of text, vector,
    // multiVector, sparse).
    const attributes = s.attributes as AttributeSchema | undefined
    let payload = s.payload === true
    const meta = (): { attributes?: AttributeSchema; payload?: boolean } => {
      const m = { ...(attributes === undefined ? {} : { attributes }), ...(payload ? { payload: true } : {}) }
      payload = false
      return m
    }
    if (s.text !== undefined)
      this.text = new TextIndex({ ...(s.text === true ? {} : (s.text as TextIndexOptions)), ...meta() })
    if (s.vector !== undefined) {
      resolveConfig(s.vector)
      this.vector = new VectorIndex({ ...(s.vector as VectorIndexOptions), ...meta() })
    }
    if (s.multiVector !== undefined)
      this.multi = new MultiVectorIndex({ ...(s.multiVector as MultiVectorIndexOptions), ...meta() })
    if (s.sparse !== undefined) this.sparse = new SparseIndex({ ...(s.sparse as SparseIndexOptions), ...meta() })
  }

  /** The index that holds payloads and answers `get` for attributes. */
  private primary(): TextIndex | VectorIndex | MultiVectorIndex | SparseIndex {
    return (this.text ?? this.vector ?? this.multi ?? this.sparse) as
      TextIndex | VectorIndex | MultiVectorIndex | SparseIndex
  }

  /** Number of documents. */
  get size(): number {
    return this.keyOf.size
  }

  /**
   * Approximate memory held, in bytes, by part: each field's index (its `memoryUsage().total`,
   * 0 for a field the schema does not have) and `ids`, the id maps and stored texts (an
   * estimate of JavaScript heap use).
   */
  memoryUsage(): CollectionMemoryUsage {
    const text = this.text?.memoryUsage().total ?? 0
    const vector = this.vector?.memoryUsage().total ?? 0
    const multiVector = this.multi?.memoryUsage().total ?? 0
    const sparse = this.sparse?.memoryUsage().total ?? 0
    let ids = this.keyOf.size * 2 * MAP_ENTRY_BYTES + this.texts.size * MAP_ENTRY_BYTES
    for (const id of this.keyOf.keys()) if (typeof id === 'string') ids += 2 * id.length
    for (const t of this.texts.values()) ids += 2 * t.length
    return { total: text + vector + multiVector + sparse + ids, text, vector, multiVector, sparse, ids }
  }

  /**
   * Closes every index of the collection now (see `VectorIndex.close`); later calls fail with
   * `ERR_CLOSED`. Idempotent.
   */
  close(): void {
    this.closedFlag = true
    this.text?.close()
    this.vector?.close()
    this.multi?.close()
    this.sparse?.close()
  }

  /** Whether {@link Collection.close} was called. */
  get closed(): boolean {
    return this.closedFlag
  }

  /** The schema. */
  getSchema(): CollectionSchema {
    return { ...this.schema }
  }

  /** Runs writes one after another. */
  private serial<T>(run: () => Promise<T>): Promise<T> {
    const next = this.queue.then(run, run)
    this.queue = next.catch(() => undefined)
    return next
  }

  /**
   * Inserts or replaces documents. Every document must carry each field of the schema (and no
   * other); the batch is checked as a whole before anything is written.
   * @returns the number of documents written.
   * @throws {@link QuiverError} `ERR_INVALID_ARGUMENT` (missing or unknown field, bad id),
   *   `ERR_DUPLICATE_KEY` (an id twice in one call), `ERR_DIMENSION_MISMATCH`, `ERR_NON_FINITE`.
   */
  upsert(docs: readonly CollectionDoc[]): Promise<number> {
    if (!Array.isArray(docs)) return Promise.reject(invalid('docs must be an array of documents'))
    // Ids are resolved to keys inside the write queue, so two concurrent upserts of the same new
    // id agree on its key.
    return this.serial(async () => {
      const { keys, texts, vectors, tokens, sparse, newIds, attributes, payloads } = this.prepare(docs)
      // The sparse vectors are checked by the engine (all or nothing): written first, before any
      // id is registered, so a bad one leaves the collection as it was.
      const primary = this.primary()
      const meta = (index: unknown) => ({
        ...(attributes === null ? {} : { attributes }),
        ...(payloads !== null && index === primary ? { payloads } : {}),
      })
      if (this.sparse !== null && sparse !== null) await this.sparse.upsert(keys, sparse, meta(this.sparse))
      for (const [id, key] of newIds) {
        if (!this.keyOf.has(id)) {
          this.keyOf.set(id, key)
          this.idOf.set(key, id)
        }
      }
      if (this.vector !== null && vectors !== null) await this.vector.upsert(keys, vectors, meta(this.vector))
      if (this.multi !== null && tokens !== null) await this.multi.upsert(keys, tokens, meta(this.multi))
      if (this.text !== null && texts !== null) {
        await this.text.add(keys, texts, meta(this.text))
        keys.forEach((k, i) => this.texts.set(k, texts[i]))
      }
      return keys.length
    })
  }

  private prepare(docs: readonly CollectionDoc[]): {
    keys: Uint32Array
    texts: string[] | null
    vectors: Float32Array | null
    tokens: { data: Float32Array; offsets: Uint32Array } | null
    sparse: SparseVector[] | null
    newIds: Array<[DocId, number]>
    attributes: (Attributes | null)[] | null
    payloads: unknown[] | null
  } {
    const n = docs.length
    const keys = new Uint32Array(n)
    const seen = new Set<DocId>()
    const newIds: Array<[DocId, number]> = []
    let next = this.nextKey
    const texts: string[] | null = this.text !== null ? [] : null
    const vdim = this.vector?.dim ?? 0
    const vectors = this.vector !== null ? new Float32Array(n * vdim) : null
    const tdim = this.multi?.dim ?? 0
    const tokParts: Float32Array[] = []
    const sparse: SparseVector[] | null = this.sparse !== null ? [] : null
    const attributes: (Attributes | null)[] | null = this.schema.attributes !== undefined ? [] : null
    const payloads: unknown[] | null = this.schema.payload === true ? [] : null
    for (let i = 0; i < n; i++) {
      const d = checkOptionsObject(docs[i], `docs[${i}]`, [
        'id',
        'text',
        'vector',
        'tokens',
        'sparse',
        'attributes',
        'payload',
      ])
      attributes?.push((d.attributes as Attributes | undefined) ?? null)
      payloads?.push(d.payload)
      for (const f of Object.keys(d)) {
        if (f === 'id') continue
        const known =
          (f === 'text' && this.text !== null) ||
          (f === 'vector' && this.vector !== null) ||
          (f === 'tokens' && this.multi !== null) ||
          (f === 'sparse' && this.sparse !== null) ||
          (f === 'attributes' && attributes !== null) ||
          (f === 'payload' && payloads !== null)
        if (!known) throw invalid(`docs[${i}] has a field '${f}' that the collection's schema does not have`)
      }
      const id = idKey(d.id, `docs[${i}].id`)
      if (seen.has(id))
        throw new QuiverError('ERR_DUPLICATE_KEY', `id ${JSON.stringify(id)} appears more than once in this upsert`)
      seen.add(id)
      let key = this.keyOf.get(id)
      if (key === undefined) {
        if (next > 0xfffffffe) throw new QuiverError('ERR_CAPACITY', 'the collection ran out of internal keys')
        key = next++
        newIds.push([id, key])
      }
      keys[i] = key
      if (texts !== null) {
        if (typeof d.text !== 'string') throw invalid(`docs[${i}].text must be a string (the schema has a text field)`)
        texts.push(d.text)
      }
      if (vectors !== null) {
        if (d.vector === undefined) throw invalid(`docs[${i}].vector is required (the schema has a vector field)`)
        const v = toVector(d.vector, vdim, `docs[${i}].vector`)
        for (let j = 0; j < vdim; j++) {
          if (!Number.isFinite(v[j]))
            throw new QuiverError('ERR_NON_FINITE', `docs[${i}].vector holds a non-finite value at ${j}`)
        }
        vectors.set(v, i * vdim)
      }
      if (this.multi !== null) {
        const t = d.tokens === undefined ? undefined : checkOptionsObject(d.tokens, `docs[${i}].tokens`, ['data', 'n'])
        if (t === undefined || !(t.data instanceof Float32Array))
          throw invalid(
            `docs[${i}].tokens = { data: Float32Array, n } is required (the schema has a multiVector field)`,
          )
        const nt = checkInt(t.n, `docs[${i}].tokens.n`, 1, 1 << 24)
        if (t.data.length !== nt * tdim) {
          throw new QuiverError(
            'ERR_DIMENSION_MISMATCH',
            `docs[${i}].tokens: n = ${nt} tokens of dim ${tdim} need ${nt * tdim} values, got ${t.data.length}`,
          )
        }
        for (const x of t.data)
          if (!Number.isFinite(x)) throw new QuiverError('ERR_NON_FINITE', `docs[${i}].tokens holds a non-finite value`)
        tokParts.push(t.data)
      }
      if (sparse !== null) {
        if (d.sparse === undefined)
          throw invalid(`docs[${i}].sparse = { indices, values } is required (the schema has a sparse field)`)
        sparse.push(d.sparse as SparseVector)
      }
    }
    let tokens: { data: Float32Array; offsets: Uint32Array } | null = null
    if (this.multi !== null) {
      const total = tokParts.reduce((a, t) => a + t.length, 0)
      const data = new Float32Array(total)
      const offsets = new Uint32Array(n + 1)
      let pos = 0
      tokParts.forEach((t, i) => {
        data.set(t, pos)
        pos += t.length
        offsets[i + 1] = pos / tdim
      })
      tokens = { data, offsets }
    }
    this.nextKey = next
    return { keys, texts, vectors, tokens, sparse, newIds, attributes, payloads }
  }

  /** Removes documents by id; unknown ids are ignored. Resolves to the number removed. */
  remove(ids: readonly DocId[]): Promise<number> {
    if (!Array.isArray(ids)) return Promise.reject(invalid('ids must be an array'))
    return this.serial(async () => {
      const keys: number[] = []
      for (const raw of ids) {
        const id = idKey(raw, 'id')
        const k = this.keyOf.get(id)
        if (k === undefined) continue
        keys.push(k)
        this.keyOf.delete(id)
        this.idOf.delete(k)
        this.texts.delete(k)
      }
      if (keys.length === 0) return 0
      const ku = Uint32Array.from(keys)
      if (this.text !== null) await this.text.remove(ku)
      if (this.vector !== null) await this.vector.remove(ku)
      if (this.multi !== null) await this.multi.remove(ku)
      if (this.sparse !== null) await this.sparse.remove(ku)
      return keys.length
    })
  }

  /** The stored document (vectors as stored: unit-normalised for cosine), or `undefined`. */
  get(id: DocId): CollectionDoc | undefined {
    const k = this.keyOf.get(idKey(id, 'id'))
    if (k === undefined) return undefined
    const doc: CollectionDoc = { id: this.idOf.get(k) as DocId }
    if (this.text !== null) doc.text = this.texts.get(k) ?? ''
    if (this.vector !== null) doc.vector = this.vector.get(k)
    if (this.multi !== null) {
      const t = this.multi.tokens(k)
      if (t !== undefined) doc.tokens = { data: t, n: t.length / this.multi.dim }
    }
    if (this.sparse !== null) doc.sparse = this.sparse.get(k)
    if (this.schema.attributes !== undefined) doc.attributes = this.primary().getAttributes(k) ?? {}
    if (this.schema.payload === true) {
      const p = this.primary().getPayload(k)
      if (p !== undefined) doc.payload = p
    }
    return doc
  }

  /** `list` without the keys whose documents left the collection. */
  private liveOnly(list: FusionList<Uint32Array>): FusionList<Uint32Array> {
    const keep: number[] = []
    for (let i = 0; i < list.keys.length; i++) if (this.idOf.has(list.keys[i])) keep.push(i)
    if (keep.length === list.keys.length) return list
    return { keys: Uint32Array.from(keep, (i) => list.keys[i]), scores: Float32Array.from(keep, (i) => list.scores[i]) }
  }

  /** True if a document has this id. */
  has(id: DocId): boolean {
    return this.keyOf.has(idKey(id, 'id'))
  }

  /**
   * Searches with any combination of the schema's signals and fuses the lists.
   * @throws {@link QuiverError} `ERR_INVALID_ARGUMENT` (no signal, a signal the schema lacks, bad
   *   fusion), plus each retriever's own errors.
   */
  async search(query: CollectionQuery): Promise<CollectionHit[]> {
    const q = checkOptionsObject(query, 'query', [
      'text',
      'vector',
      'tokens',
      'sparse',
      'k',
      'fusion',
      'candidates',
      'filter',
      'minScore',
      'include',
    ])
    const k = q.k === undefined ? 10 : checkInt(q.k, 'k', 1, MAX_K)
    const filter = q.filter === undefined ? {} : { filter: q.filter as Filter }
    if (q.minScore !== undefined && (typeof q.minScore !== 'number' || Number.isNaN(q.minScore)))
      throw invalid(`query.minScore must be a number, got ${String(q.minScore)}`)
    const include = q.include === undefined ? [] : q.include
    if (!Array.isArray(include) || include.some((x) => x !== 'attributes' && x !== 'payload'))
      throw invalid("query.include must be an array of 'attributes' | 'payload'")
    if (include.includes('attributes') && this.schema.attributes === undefined)
      throw invalid("include 'attributes': the collection's schema declares no attributes")
    if (include.includes('payload') && this.schema.payload !== true)
      throw invalid("include 'payload': the collection's schema has no payload")
    const cand = q.candidates === undefined ? Math.max(100, 4 * k) : checkInt(q.candidates, 'candidates', 1, MAX_K)
    const lists: Array<{ name: keyof CollectionHit['parts']; list: FusionList<Uint32Array> }> = []
    if (q.vector !== undefined) {
      if (this.vector === null) throw invalid('the query has a vector but the collection has no vector field')
      const metric = this.vector.metric
      const r = await this.vector.search(q.vector as Float32Array, {
        k: cand,
        ef: Math.max(cand, this.vector.config().efSearch),
        ...filter,
      })
      lists.push({
        name: 'vector',
        list: { keys: r.keys, scores: Float32Array.from(r.distances, (d) => similarity(metric, d)) },
      })
    }
    if (q.tokens !== undefined) {
      if (this.multi === null) throw invalid('the query has tokens but the collection has no multiVector field')
      // The index's own default candidate count (10k + 50, more for short documents): with
      // only k candidates the list's tail would be the FDE order, not MaxSim's.
      const r = await this.multi.search(q.tokens as Float32Array, { k: cand, ...filter })
      lists.push({ name: 'multiVector', list: { keys: r.keys, scores: r.scores } })
    }
    if (q.sparse !== undefined) {
      if (this.sparse === null) throw invalid('the query has a sparse vector but the collection has no sparse field')
      const r = await this.sparse.search(q.sparse as SparseVector, { k: cand, ...filter })
      lists.push({ name: 'sparse', list: { keys: r.keys, scores: r.scores } })
    }
    if (q.text !== undefined) {
      if (this.text === null) throw invalid('the query has text but the collection has no text field')
      if (typeof q.text !== 'string') throw invalid('query.text must be a string')
      const r = await this.text.search(q.text, { k: cand, ...filter })
      lists.push({ name: 'text', list: { keys: r.keys, scores: r.scores } })
    }
    if (lists.length === 0) throw invalid('the query needs at least one of text, vector, tokens, sparse')
    // A write that overlaps this search may have removed a document between a retriever's answer
    // and now: keep only keys that still have an id, so every hit carries one.
    for (const l of lists) l.list = this.liveOnly(l.list)
    const primary = this.primary()
    const toHit = (key: number, score: number, parts: CollectionHit['parts']): CollectionHit => {
      const hit: CollectionHit = { id: this.idOf.get(key) as DocId, score, parts }
      if (include.includes('attributes')) hit.attributes = primary.getAttributes(key) ?? {}
      if (include.includes('payload')) {
        const p = primary.getPayload(key)
        if (p !== undefined) hit.payload = p
      }
      return hit
    }
    const minScore = q.minScore as number | undefined
    const keep = (hits: CollectionHit[]): CollectionHit[] =>
      minScore === undefined ? hits : hits.filter((h) => h.score >= minScore)
    if (lists.length === 1) {
      const { name, list } = lists[0]
      const n = Math.min(k, list.keys.length)
      return keep(
        Array.from({ length: n }, (_, i) =>
          toHit(list.keys[i], list.scores[i], { [name]: { rank: i + 1, score: list.scores[i] } }),
        ),
      )
    }
    let method = q.fusion as FusionMethod | undefined
    if (method === undefined) {
      const dense = lists.filter((l) => l.name === 'vector' || l.name === 'multiVector')
      method =
        lists.length === 2 && dense.length === 1 && lists[1].name === 'text'
          ? { method: 'convex', alpha: DEFAULT_ALPHA, normalize: 'minmax' }
          : { method: 'rrf', k: 60 }
    }
    // Convex fusion weighs list 0 (dense) by α and list 1 (lexical) by 1 − α.
    const fused = fuse(
      lists.map((l) => l.list),
      method,
      { limit: k },
    )
    return keep(
      Array.from(fused.keys, (key, j) => {
        const parts: CollectionHit['parts'] = {}
        lists.forEach((l, i) => {
          const rank = fused.perList.ranks[i][j]
          if (rank > 0) parts[l.name] = { rank, score: fused.perList.scores[i][j] }
        })
        return toHit(key, fused.scores[j], parts)
      }),
    )
  }

  /**
   * Saves the collection to directory `dir` (created if needed): a new generation directory
   * with every part, then an atomic replacement of `dir/MANIFEST.json`, then removal of older
   * generations. A crash at any point leaves the previous collection loadable.
   * @throws {@link QuiverError} `ERR_IO`.
   */
  save(dir: string): Promise<void> {
    if (typeof dir !== 'string' || dir.length === 0) return Promise.reject(invalid('dir must be a non-empty string'))
    return this.serial(async () => {
      try {
        fs.mkdirSync(dir, { recursive: true })
        const generation = `gen-${Date.now().toString(36)}-${crypto.randomBytes(4).toString('hex')}`
        const gdir = path.join(dir, generation)
        fs.mkdirSync(gdir)
        // Marks the directory as the collection's own: only marked generations are ever deleted.
        fs.writeFileSync(path.join(gdir, GENERATION_MARKER), generation)
        const parts: Manifest['parts'] = { docs: { file: 'docs.json', sha256: '', bytes: 0 } }
        if (this.text !== null) {
          parts.text = 'text.qvt'
          await this.text.save(path.join(gdir, parts.text))
        }
        if (this.vector !== null) {
          parts.vector = 'vector.qvr'
          await this.vector.save(path.join(gdir, parts.vector))
        }
        if (this.multi !== null) {
          parts.multiVector = 'multi.qvr'
          await this.multi.save(path.join(gdir, parts.multiVector))
        }
        if (this.sparse !== null) {
          parts.sparse = 'sparse.qvs'
          await this.sparse.save(path.join(gdir, parts.sparse))
        }
        const keys = [...this.idOf.keys()]
        const docs: DocsFile = {
          nextKey: this.nextKey,
          ids: keys.map((k) => this.idOf.get(k) as DocId),
          keys,
          texts: this.text !== null ? keys.map((k) => this.texts.get(k) ?? '') : null,
        }
        const body = Buffer.from(JSON.stringify(docs))
        await writeFileAtomic(path.join(gdir, 'docs.json'), body)
        parts.docs = {
          file: 'docs.json',
          sha256: crypto.createHash('sha256').update(body).digest('hex'),
          bytes: body.length,
        }
        const manifest: Manifest = { format: FORMAT, version: FORMAT_VERSION, generation, schema: this.schema, parts }
        await writeFileAtomic(path.join(dir, MANIFEST), Buffer.from(JSON.stringify(manifest, null, 2)))
        // Older generations this collection wrote go (a reader still loading one sees the manifest
        // change and reads the new generation instead: see `open`).
        for (const e of fs.readdirSync(dir)) {
          if (e === generation || !GENERATION_NAME.test(e)) continue
          const g = path.join(dir, e)
          if (fs.existsSync(path.join(g, GENERATION_MARKER))) fs.rmSync(g, { recursive: true, force: true })
        }
      } catch (e) {
        if (e instanceof QuiverError) throw e
        throw new QuiverError('ERR_IO', `cannot save the collection to ${dir}: ${(e as Error).message}`)
      }
    })
  }

  /**
   * Opens a collection saved with {@link Collection.save}. Every part is verified (checksums,
   * counts, ids) before the collection is returned; nothing is partially loaded.
   * @throws {@link QuiverError} `ERR_IO` (no such directory), `ERR_CORRUPT_FILE` (missing or damaged
   *   manifest or part), `ERR_VERSION_MISMATCH`.
   */
  static async open(dir: string): Promise<Collection> {
    if (typeof dir !== 'string' || dir.length === 0) throw invalid('dir must be a non-empty string')
    if (!fs.existsSync(dir)) throw new QuiverError('ERR_IO', `cannot open collection ${dir}: no such directory`)
    // A save in another process may replace the manifest while this one reads a generation; if
    // the manifest changed meanwhile, the failure is that race, and the new generation is read.
    for (let attempt = 0; ; attempt++) {
      let manifest: Manifest | undefined
      try {
        manifest = Collection.readManifest(dir)
        return await Collection.openGeneration(dir, manifest)
      } catch (e) {
        const raced = manifest !== undefined && currentGeneration(dir) !== manifest.generation
        if (!raced || attempt >= 8) throw e
      }
    }
  }

  private static readManifest(dir: string): Manifest {
    let parsed: unknown
    try {
      parsed = JSON.parse(fs.readFileSync(path.join(dir, MANIFEST), 'utf8'))
    } catch (e) {
      throw corrupt(dir, `missing or unreadable ${MANIFEST} (${(e as Error).message})`)
    }
    return checkManifest(dir, parsed)
  }

  private static async openGeneration(dir: string, manifest: Manifest): Promise<Collection> {
    const gdir = path.join(dir, manifest.generation)
    const schema = manifest.schema
    const c = Object.create(Collection.prototype) as Collection
    c.schema = schema
    c.text = null
    c.vector = null
    c.multi = null
    c.sparse = null
    c.keyOf = new Map()
    c.idOf = new Map()
    c.texts = new Map()
    c.queue = Promise.resolve()
    c.closedFlag = false
    const part = async <T>(
      name: string | undefined,
      wanted: boolean,
      load: (file: string) => Promise<T>,
    ): Promise<T | null> => {
      if (!wanted) return null
      if (typeof name !== 'string') throw corrupt(dir, 'the manifest lacks a part the schema needs')
      const file = path.join(gdir, name)
      if (!fs.existsSync(file)) throw corrupt(dir, `part ${name} is missing`)
      try {
        return await load(file)
      } catch (e) {
        const qe = e instanceof QuiverError ? e : null
        if (qe !== null && qe.code === 'ERR_VERSION_MISMATCH') throw qe
        throw corrupt(dir, `part ${name}: ${(e as Error).message}`)
      }
    }
    try {
      c.text = await part(manifest.parts.text, schema.text !== undefined, (f) => TextIndex.load(f))
      c.vector = await part(manifest.parts.vector, schema.vector !== undefined, (f) => VectorIndex.load(f))
      c.multi = await part(manifest.parts.multiVector, schema.multiVector !== undefined, (f) =>
        MultiVectorIndex.load(f),
      )
      c.sparse = await part(manifest.parts.sparse, schema.sparse !== undefined, (f) => SparseIndex.load(f))
      // The schema is saved again by the next save: it must describe the parts it sits beside.
      for (const [field, loaded] of [
        ['vector', c.vector],
        ['multiVector', c.multi],
      ] as const) {
        const want = (schema[field] as { dim?: unknown } | undefined)?.dim
        if (loaded !== null && want !== loaded.dim)
          throw corrupt(dir, `the schema's ${field} dim disagrees with its part`)
      }
      const vocab = schema.sparse?.vocabSize
      if (c.sparse !== null && vocab !== undefined && vocab !== c.sparse.vocabSize)
        throw corrupt(dir, "the schema's sparse vocabSize disagrees with its part")
      let parsed: unknown
      try {
        const body = fs.readFileSync(path.join(gdir, manifest.parts.docs.file))
        if (crypto.createHash('sha256').update(body).digest('hex') !== manifest.parts.docs.sha256)
          throw new Error('checksum mismatch')
        parsed = JSON.parse(body.toString('utf8'))
      } catch (e) {
        throw corrupt(dir, `part docs.json: ${(e as Error).message}`)
      }
      const docs = checkDocs(dir, parsed)
      for (let i = 0; i < docs.ids.length; i++) {
        const id = docs.ids[i]
        const k = docs.keys[i]
        if (c.keyOf.has(id) || c.idOf.has(k)) throw corrupt(dir, `docs.json lists id or key ${String(id)} twice`)
        c.keyOf.set(id, k)
        c.idOf.set(k, id)
        if (docs.texts !== null) c.texts.set(k, docs.texts[i])
      }
      c.nextKey = docs.nextKey
      const n = c.keyOf.size
      for (const [name, index] of [
        ['text', c.text],
        ['vector', c.vector],
        ['multiVector', c.multi],
        ['sparse', c.sparse],
      ] as const) {
        if (index === null) continue
        if (index.size !== n) throw corrupt(dir, `part ${name} holds ${index.size} documents, the id table ${n}`)
        for (const k of c.idOf.keys()) {
          if (!index.has(k)) throw corrupt(dir, `part ${name} lacks the document with key ${k}`)
        }
      }
      return c
    } catch (e) {
      c.close()
      throw e
    }
  }
}

closeOnDispose(Collection)
