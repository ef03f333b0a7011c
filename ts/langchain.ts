/**
 * `quiver-search/langchain`: a LangChain.js vector store backed by a {@link VectorIndex}.
 *
 * This entry point needs the optional peer dependency `@langchain/core`; the main
 * `quiver-search` entry never loads it.
 *
 * @example
 * ```ts
 * import { QuiverVectorStore } from 'quiver-search/langchain'
 * const store = await QuiverVectorStore.fromTexts(['a cat', 'a dog'], [{ n: 1 }, { n: 2 }], embeddings)
 * const hits = await store.similaritySearchWithScore('kitten', 1) // [[Document, similarity]]
 * await store.save('./my-store')
 * const again = await QuiverVectorStore.load('./my-store', embeddings)
 * ```
 *
 * @packageDocumentation
 */

import * as crypto from 'node:crypto'
import * as fs from 'node:fs'
import * as path from 'node:path'
import { Document } from '@langchain/core/documents'
import type { DocumentInterface } from '@langchain/core/documents'
import type { EmbeddingsInterface } from '@langchain/core/embeddings'
import { maximalMarginalRelevance } from '@langchain/core/utils/math'
import { SaveableVectorStore } from '@langchain/core/vectorstores'
import type { MaxMarginalRelevanceSearchOptions } from '@langchain/core/vectorstores'
import { QuiverError } from './errors'
import { closeOnDispose, withCancel } from './call'
import { getNative } from './native'
import { MAX_K, MAX_U32, invalid } from './validate'
import { VectorIndex } from './vector-index'
import type { Metric, VectorIndexOptions } from './vector-index'
import { similarity } from './result'
import type { Attributes, Filter } from './filter'

/**
 * Options of a {@link QuiverVectorStore}: every {@link VectorIndexOptions} field, with `dim`
 * optional (taken from the first vectors added when absent) and `metric` defaulting to
 * `'cosine'`.
 *
 * The options must be JSON-serialisable: they are saved with the store.
 */
export type QuiverVectorStoreArgs = Omit<VectorIndexOptions, 'dim'> & {
  /** Number of components per vector. Default: the length of the first vector added. */
  dim?: number
}

/**
 * Metadata filter of a {@link QuiverVectorStore}: the library's MongoDB-style {@link Filter}
 * over the metadata fields declared in the store's `attributes` option (e.g.
 * `{ attributes: { source: 'keyword', year: 'int' } }`). It runs natively, inside the search:
 * no JavaScript callback per document, and `k` results whenever `k` documents match. Without
 * declared attributes any filter is `ERR_INVALID_FILTER`.
 */
export type QuiverFilter = Filter

/** Options of {@link QuiverVectorStore.addVectors} and {@link QuiverVectorStore.addDocuments}. */
export interface QuiverAddOptions {
  /**
   * One id per document. An id already in the store replaces its document and vector. Default:
   * each document's own `id` when it has one, else a random UUID.
   */
  ids?: string[]
}

/** Parameters of {@link QuiverVectorStore.delete}. */
export interface QuiverDeleteParams {
  /** Ids of the documents to delete; unknown ids are ignored. */
  ids: string[]
}

const FORMAT = 'quiver-search/langchain'
const FORMAT_VERSION = 1
const DOCSTORE = 'docstore.json'
const INDEX_FILE = /^index-[0-9a-z]+-[0-9a-f]{8}\.qvr$/

/** What `docstore.json` holds. */
interface DocstoreFile {
  format: string
  version: number
  args: QuiverVectorStoreArgs
  /** Index file name in the same directory, or null when no vector was ever added. */
  index: string | null
  nextKey: number
  /** `[id, key, pageContent, metadata]` per document. */
  docs: [string, number, string, Record<string, unknown>][]
}

interface StoredDoc {
  key: number
  pageContent: string
  metadata: Record<string, unknown>
}

function corrupt(dir: string, why: string): QuiverError {
  return new QuiverError('ERR_CORRUPT_FILE', `cannot load the vector store in ${dir}: ${why}`)
}

/** The declared attribute fields of `metadata` (the rest of the metadata is not indexed). */
function attributesOf(metadata: Record<string, unknown>, fields: readonly string[]): Attributes {
  const out: Record<string, unknown> = {}
  for (const f of fields) if (metadata[f] !== undefined) out[f] = metadata[f]
  return out as Attributes
}

function checkK(k: unknown, name: string): number {
  if (typeof k !== 'number' || !Number.isInteger(k) || k < 1 || k > MAX_K) {
    throw invalid(`${name} must be an integer in [1, ${MAX_K}], got ${String(k)}`)
  }
  return k
}

/**
 * A LangChain.js vector store on a native {@link VectorIndex} (HNSW by default, cosine metric by
 * default). Documents (`pageContent` and JSON-serialisable `metadata`) live in JavaScript under
 * string ids; their vectors live in the native index under integer keys the store assigns.
 *
 * **Scores** returned by {@link QuiverVectorStore.similaritySearchVectorWithScore} (and so by
 * `similaritySearchWithScore`) are similarities, higher is more similar, sorted descending:
 * `cosine` → cosine similarity (1 − cosine distance), `ip` → dot product, `l2` → minus the
 * squared Euclidean distance. This is the convention of LangChain's in-memory store; the
 * HNSWLib store returns distances instead (for cosine: distance = 1 − score).
 *
 * Searches run on native worker threads, off the event loop. Writes are applied one at a time,
 * in call order; a search running during a write sees the documents as before or after it.
 */
export class QuiverVectorStore extends SaveableVectorStore {
  /** A filter over the declared metadata attributes; see {@link QuiverFilter}. */
  declare FilterType: QuiverFilter

  /** The options the store was created with (`dim` filled in once known). */
  readonly args: QuiverVectorStoreArgs

  private index: VectorIndex | null = null
  private readonly docs = new Map<string, StoredDoc>()
  private readonly idOfKey = new Map<number, string>()
  private nextKey = 0
  private queue: Promise<unknown> = Promise.resolve()
  private closedFlag = false

  /**
   * Creates an empty store. The native index is created with the first vectors added, unless
   * `args.dim` is given (then it is created now, and its options are checked now).
   * @param embeddings - embeds documents (`addDocuments`) and queries (`similaritySearch`, MMR).
   * @param args - index options; see {@link QuiverVectorStoreArgs}.
   * @throws {@link QuiverError} `ERR_INVALID_ARGUMENT` for invalid index options.
   */
  constructor(embeddings: EmbeddingsInterface, args: QuiverVectorStoreArgs = {}) {
    super(embeddings, args)
    if (args === null || typeof args !== 'object') throw invalid('args must be an object')
    this.args = { ...args, metric: args.metric ?? 'cosine' }
    if (this.args.dim !== undefined) this.index = new VectorIndex({ ...this.args, dim: this.args.dim })
  }

  /** Returns `'quiver'`. */
  _vectorstoreType(): string {
    return 'quiver'
  }

  /** Number of documents in the store. */
  get size(): number {
    return this.docs.size
  }

  /** The distance metric of the index (`'cosine'` unless set in the options). */
  get metric(): Metric {
    return this.args.metric ?? 'cosine'
  }

  /** Runs writes one after another. */
  private serial<T>(run: () => Promise<T>): Promise<T> {
    const next = this.queue.then(run)
    this.queue = next.catch(() => undefined)
    return next
  }

  private checkOpen(): void {
    if (this.closedFlag) throw new QuiverError('ERR_CLOSED', 'the vector store is closed')
  }

  private ensureIndex(dim: number): VectorIndex {
    if (this.index === null) {
      this.index = new VectorIndex({ ...this.args, dim })
      this.args.dim = dim
    }
    return this.index
  }

  /**
   * Adds vectors with their documents. A document whose id is already stored is replaced
   * (document and vector).
   * @param vectors - one vector per document, all of the index's dimension.
   * @param documents - the documents; `pageContent` and `metadata` are stored (metadata must be
   *   JSON-serialisable to be saved).
   * @param options - `ids`: one string id per document (default: `document.id`, else a random UUID).
   * @returns the ids of the documents, in order.
   * @throws {@link QuiverError} `ERR_INVALID_ARGUMENT` (lengths differ, bad id), `ERR_DUPLICATE_KEY`
   *   (an id twice in one call), `ERR_DIMENSION_MISMATCH`, `ERR_NON_FINITE`, `ERR_CAPACITY`
   *   (2³² − 1 keys were used), `ERR_CLOSED`.
   */
  async addVectors(vectors: number[][], documents: DocumentInterface[], options?: QuiverAddOptions): Promise<string[]> {
    this.checkOpen()
    if (!Array.isArray(vectors) || !Array.isArray(documents)) throw invalid('vectors and documents must be arrays')
    if (vectors.length !== documents.length) {
      throw invalid(`got ${vectors.length} vectors for ${documents.length} documents`)
    }
    return this.write(documents, this.idsFor(documents, options), Promise.resolve(vectors))
  }

  /**
   * Embeds the documents' `pageContent` with the store's embeddings and adds them (see
   * {@link QuiverVectorStore.addVectors}). The write takes its place in the order of writes when
   * called, not when the embeddings arrive; embedding itself is not serialised.
   * @returns the ids of the documents, in order.
   */
  async addDocuments(documents: DocumentInterface[], options?: QuiverAddOptions): Promise<string[]> {
    this.checkOpen()
    if (!Array.isArray(documents)) throw invalid('documents must be an array')
    const ids = this.idsFor(documents, options)
    if (ids.length === 0) return []
    const texts = documents.map((d) => d.pageContent)
    const vectors = (async () => this.embeddings.embedDocuments(texts))()
    // Observed now so that a failure waiting for its turn is not reported as unhandled.
    vectors.catch(() => undefined)
    return this.write(documents, ids, vectors)
  }

  /** Checks or generates the ids of one add. */
  private idsFor(documents: DocumentInterface[], options: QuiverAddOptions | undefined): string[] {
    const given = options?.ids
    if (given !== undefined && (!Array.isArray(given) || given.length !== documents.length)) {
      throw invalid(`ids must be an array of ${documents.length} strings`)
    }
    const ids = documents.map((d, i) => {
      const id = given !== undefined ? given[i] : (d.id ?? crypto.randomUUID())
      if (typeof id !== 'string' || id.length === 0) throw invalid(`ids[${i}] must be a non-empty string`)
      return id
    })
    if (new Set(ids).size !== ids.length) {
      throw new QuiverError('ERR_DUPLICATE_KEY', 'an id appears twice in one add')
    }
    return ids
  }

  /** Queues an upsert of `documents` under `ids` with the vectors `vectors` will resolve to. */
  private write(documents: DocumentInterface[], ids: string[], vectors: Promise<number[][]>): Promise<string[]> {
    if (ids.length === 0) return Promise.resolve([])
    return this.serial(async () => {
      const rows = await vectors
      this.checkOpen()
      if (!Array.isArray(rows) || rows.length !== documents.length) {
        throw invalid(
          `the embeddings returned ${Array.isArray(rows) ? rows.length : 'no'} vectors for ${documents.length} documents`,
        )
      }
      const index = this.ensureIndex(rows[0]?.length ?? 0)
      const fresh = ids.filter((id) => !this.docs.has(id)).length
      if (this.nextKey + fresh > MAX_U32) {
        throw new QuiverError('ERR_CAPACITY', 'this vector store has used all 2^32 - 1 keys')
      }
      let next = this.nextKey
      const keys = new Uint32Array(ids.map((id) => this.docs.get(id)?.key ?? next++))
      const fields = Object.keys(this.args.attributes ?? {})
      await index.upsert(
        keys,
        rows,
        fields.length === 0 ? {} : { attributes: documents.map((d) => attributesOf(d.metadata ?? {}, fields)) },
      )
      this.nextKey = next
      ids.forEach((id, i) => {
        const doc = documents[i]
        this.docs.set(id, { key: keys[i], pageContent: doc.pageContent, metadata: { ...doc.metadata } })
        this.idOfKey.set(keys[i], id)
      })
      return ids
    })
  }

  /**
   * Deletes documents by id; unknown ids are ignored. Vectors are removed from the index (not
   * just hidden).
   * @throws {@link QuiverError} `ERR_INVALID_ARGUMENT` (no `ids` array), `ERR_CLOSED`.
   */
  override async delete(params: QuiverDeleteParams): Promise<void> {
    this.checkOpen()
    const ids: unknown = params?.ids
    if (!Array.isArray(ids) || !ids.every((id) => typeof id === 'string')) {
      throw invalid('delete() needs { ids: string[] }')
    }
    await this.serial(async () => {
      this.checkOpen()
      const keys: number[] = []
      for (const id of ids as string[]) {
        const doc = this.docs.get(id)
        if (doc !== undefined) keys.push(doc.key)
      }
      if (keys.length === 0 || this.index === null) return
      await this.index.remove(keys)
      for (const id of ids as string[]) {
        const doc = this.docs.get(id)
        if (doc === undefined) continue
        this.docs.delete(id)
        this.idOfKey.delete(doc.key)
      }
    })
  }

  /** Searches the index, with the filter evaluated natively. */
  private async nearest(query: number[], k: number, filter: QuiverFilter | undefined) {
    this.checkOpen()
    const index = this.index
    if (filter !== undefined && this.args.attributes === undefined) {
      throw new QuiverError(
        'ERR_INVALID_FILTER',
        'this store declares no attributes: create it with { attributes: { field: type } } to filter on metadata',
      )
    }
    if (index === null || this.docs.size === 0)
      return { index, keys: new Uint32Array(0), distances: new Float32Array(0) }
    const { keys, distances } = await index.search(query, { k, ...(filter === undefined ? {} : { filter }) })
    return { index, keys, distances }
  }

  private toDocument(key: number): Document | undefined {
    const id = this.idOfKey.get(key)
    if (id === undefined) return undefined // written to the index by a write still running
    const doc = this.docs.get(id) as StoredDoc
    return new Document({ pageContent: doc.pageContent, metadata: { ...doc.metadata }, id })
  }

  /**
   * Finds the `k` documents nearest to a query vector, on a native worker thread.
   * @param query - query vector of the index's dimension.
   * @param k - number of results, integer in [1, {@link MAX_K}]; fewer when the store holds fewer.
   * @param filter - a {@link QuiverFilter} over the declared metadata attributes.
   * @returns `[document, score]` pairs, most similar first; the score is a similarity (higher is
   *   more similar): cosine similarity for `cosine`, dot product for `ip`, minus the squared
   *   Euclidean distance for `l2`.
   * @throws {@link QuiverError} `ERR_INVALID_ARGUMENT` (bad `k`), `ERR_INVALID_FILTER`, `ERR_DIMENSION_MISMATCH`,
   *   `ERR_NON_FINITE`, `ERR_CLOSED`.
   */
  async similaritySearchVectorWithScore(
    query: number[],
    k: number,
    filter?: QuiverFilter,
  ): Promise<[Document, number][]> {
    checkK(k, 'k')
    const { keys, distances } = await this.nearest(query, k, filter)
    const out: [Document, number][] = []
    keys.forEach((key, i) => {
      const doc = this.toDocument(key)
      if (doc !== undefined) out.push([doc, similarity(this.metric, distances[i])])
    })
    return out
  }

  /**
   * Maximal marginal relevance search: fetches the `fetchK` documents nearest to the query, then
   * picks `k` of them, trading similarity to the query against diversity with `lambda` (1: pure
   * similarity, 0: pure diversity).
   * @param query - query text, embedded with the store's embeddings.
   * @param options - `k` (results), `fetchK` (candidates, default 20, at least `k`), `lambda`
   *   (default 0.5), `filter` (a {@link QuiverFilter}).
   * @returns at most `k` documents, in selection order.
   * @throws {@link QuiverError} `ERR_INVALID_ARGUMENT` (bad `k`/`fetchK`/`lambda`), `ERR_INVALID_FILTER`, `ERR_CLOSED`.
   */
  override async maxMarginalRelevanceSearch(
    query: string,
    options: MaxMarginalRelevanceSearchOptions<QuiverFilter>,
  ): Promise<Document[]> {
    const k = checkK(options?.k, 'k')
    const fetchK = Math.max(k, checkK(options.fetchK ?? 20, 'fetchK'))
    const lambda = options.lambda ?? 0.5
    if (typeof lambda !== 'number' || !(lambda >= 0 && lambda <= 1)) {
      throw invalid(`lambda must be a number in [0, 1], got ${String(lambda)}`)
    }
    this.checkOpen()
    const queryVector = await this.embeddings.embedQuery(query)
    const { index, keys } = await this.nearest(queryVector, fetchK, options.filter)
    if (index === null) return []
    const docs: Document[] = []
    const vectors: number[][] = []
    for (const key of keys) {
      const doc = this.toDocument(key)
      const v = index.closed ? undefined : index.get(key)
      if (doc === undefined || v === undefined) continue
      docs.push(doc)
      vectors.push(Array.from(v))
    }
    if (docs.length === 0) return []
    const picked = maximalMarginalRelevance(queryVector, vectors, lambda, k)
    return picked.map((i) => docs[i])
  }

  /**
   * Saves the store to `directory` (created if needed): the index to a new `index-….qvr` file,
   * then the documents, ids and options to `docstore.json` by an atomic replacement, then removal
   * of the older index files. A crash at any point leaves the previous save loadable.
   * @throws {@link QuiverError} `ERR_IO`, `ERR_CLOSED`.
   */
  save(directory: string): Promise<void> {
    if (typeof directory !== 'string' || directory.length === 0) {
      return Promise.reject(invalid('directory must be a non-empty string'))
    }
    return this.serial(async () => {
      this.checkOpen()
      try {
        fs.mkdirSync(directory, { recursive: true })
        let indexFile: string | null = null
        if (this.index !== null) {
          indexFile = `index-${Date.now().toString(36)}-${crypto.randomBytes(4).toString('hex')}.qvr`
          await this.index.save(path.join(directory, indexFile))
        }
        const file: DocstoreFile = {
          format: FORMAT,
          version: FORMAT_VERSION,
          args: this.args,
          index: indexFile,
          nextKey: this.nextKey,
          docs: [...this.docs].map(([id, d]) => [id, d.key, d.pageContent, d.metadata]),
        }
        const body = Buffer.from(JSON.stringify(file))
        await withCancel(undefined, () => getNative().writeFileAtomic(path.join(directory, DOCSTORE), body))
        for (const e of fs.readdirSync(directory)) {
          if (e !== indexFile && INDEX_FILE.test(e)) fs.rmSync(path.join(directory, e), { force: true })
        }
      } catch (e) {
        if (e instanceof QuiverError) throw e
        throw new QuiverError('ERR_IO', `cannot save the vector store to ${directory}: ${(e as Error).message}`)
      }
    })
  }

  /**
   * Loads a store saved with {@link QuiverVectorStore.save}. The index and the document table are
   * checked against each other before the store is returned.
   * @param directory - the directory given to `save`.
   * @param embeddings - embeddings for later queries and additions (the same model as before).
   * @throws {@link QuiverError} `ERR_IO` (no such directory), `ERR_CORRUPT_FILE` (missing or
   *   damaged `docstore.json` or index), `ERR_VERSION_MISMATCH`.
   */
  static override async load(directory: string, embeddings: EmbeddingsInterface): Promise<QuiverVectorStore> {
    if (typeof directory !== 'string' || directory.length === 0) throw invalid('directory must be a non-empty string')
    if (!fs.existsSync(directory)) {
      throw new QuiverError('ERR_IO', `cannot load the vector store in ${directory}: no such directory`)
    }
    let parsed: DocstoreFile
    try {
      parsed = JSON.parse(fs.readFileSync(path.join(directory, DOCSTORE), 'utf8')) as DocstoreFile
    } catch (e) {
      throw corrupt(directory, `missing or unreadable ${DOCSTORE} (${(e as Error).message})`)
    }
    if (parsed === null || typeof parsed !== 'object' || parsed.format !== FORMAT) {
      throw corrupt(directory, `${DOCSTORE} is not a quiver-search LangChain store`)
    }
    if (parsed.version !== FORMAT_VERSION) {
      throw new QuiverError(
        'ERR_VERSION_MISMATCH',
        `${DOCSTORE} in ${directory} has format version ${String(parsed.version)}, this version reads ${FORMAT_VERSION}`,
      )
    }
    const { args, docs, nextKey, index: indexFile } = parsed
    if (
      args === null ||
      typeof args !== 'object' ||
      !Array.isArray(docs) ||
      !Number.isInteger(nextKey) ||
      nextKey < 0 ||
      nextKey > MAX_U32 ||
      !(indexFile === null || (typeof indexFile === 'string' && INDEX_FILE.test(indexFile)))
    ) {
      throw corrupt(directory, `${DOCSTORE} is malformed`)
    }
    const store = new QuiverVectorStore(embeddings, { ...args, dim: undefined })
    if (args.dim !== undefined) store.args.dim = args.dim
    try {
      if (indexFile !== null) {
        try {
          store.index = await VectorIndex.load(path.join(directory, indexFile), { threads: args.threads })
        } catch (e) {
          if (e instanceof QuiverError && e.code === 'ERR_VERSION_MISMATCH') throw e
          throw corrupt(directory, `index ${indexFile}: ${(e as Error).message}`)
        }
      }
      for (const entry of docs) {
        const [id, key, pageContent, metadata]: unknown[] = Array.isArray(entry) ? entry : []
        if (
          typeof id !== 'string' ||
          typeof key !== 'number' ||
          !Number.isInteger(key) ||
          key < 0 ||
          key >= nextKey ||
          typeof pageContent !== 'string' ||
          metadata === null ||
          typeof metadata !== 'object' ||
          store.docs.has(id) ||
          store.idOfKey.has(key)
        ) {
          throw corrupt(directory, `${DOCSTORE} has a malformed or repeated document entry`)
        }
        store.docs.set(id, { key, pageContent, metadata: metadata as Record<string, unknown> })
        store.idOfKey.set(key, id)
      }
      store.nextKey = nextKey
      const held = store.index === null ? 0 : store.index.size
      if (held !== store.docs.size) {
        throw corrupt(directory, `the index holds ${held} vectors, ${DOCSTORE} ${store.docs.size} documents`)
      }
      for (const key of store.idOfKey.keys()) {
        if (!(store.index as VectorIndex).has(key)) throw corrupt(directory, `the index lacks the vector of key ${key}`)
      }
      return store
    } catch (e) {
      store.close()
      throw e
    }
  }

  /**
   * Creates a store from texts, embedding them with `embeddings`.
   * @param texts - the texts (each becomes a document's `pageContent`).
   * @param metadatas - one metadata object per text, or one object for all.
   * @param embeddings - the embeddings model.
   * @param args - index options; see {@link QuiverVectorStoreArgs}.
   */
  static override async fromTexts(
    texts: string[],
    metadatas: object[] | object,
    embeddings: EmbeddingsInterface,
    args?: QuiverVectorStoreArgs,
  ): Promise<QuiverVectorStore> {
    const docs = texts.map(
      (pageContent, i) =>
        new Document({
          pageContent,
          metadata: { ...((Array.isArray(metadatas) ? metadatas[i] : metadatas) as Record<string, unknown>) },
        }),
    )
    return QuiverVectorStore.fromDocuments(docs, embeddings, args)
  }

  /**
   * Creates a store from documents, embedding their `pageContent` with `embeddings`.
   * @param docs - the documents (a document's `id`, if set, becomes its id in the store).
   * @param embeddings - the embeddings model.
   * @param args - index options; see {@link QuiverVectorStoreArgs}.
   */
  static override async fromDocuments(
    docs: DocumentInterface[],
    embeddings: EmbeddingsInterface,
    args?: QuiverVectorStoreArgs,
  ): Promise<QuiverVectorStore> {
    const store = new QuiverVectorStore(embeddings, args)
    try {
      await store.addDocuments(docs)
    } catch (e) {
      store.close()
      throw e
    }
    return store
  }

  /** Whether {@link QuiverVectorStore.close} was called. */
  get closed(): boolean {
    return this.closedFlag
  }

  /**
   * Frees the native index now instead of at garbage collection; calls already running finish
   * first. Idempotent; later calls fail with `ERR_CLOSED`. Where the runtime has
   * `Symbol.asyncDispose`, `await using` closes the store too.
   */
  close(): void {
    this.closedFlag = true
    this.index?.close()
  }
}

closeOnDispose(QuiverVectorStore)
