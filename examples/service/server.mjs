// A vector search service with fastify: search, upsert, delete, save, a graceful reload of the
// index file without dropping requests, and a health route. Copy it and change what you need.
//
//   npm install quiver-search fastify
//   DIM=384 INDEX_PATH=./vectors.qvi PORT=3000 node server.mjs
//
// (Inside this repository it imports the local build: `npm run build` first.)
import fs from 'node:fs'
import { pathToFileURL } from 'node:url'
import Fastify from 'fastify'
import { QuiverError, VectorIndex } from '../../dist/index.mjs'

// --- README service ---
/** HTTP status of a library error: what the caller sent is wrong (4xx), or the server (5xx). */
const STATUS = {
  ERR_INVALID_ARGUMENT: 400,
  ERR_DIMENSION_MISMATCH: 400,
  ERR_NON_FINITE: 400,
  ERR_INVALID_FILTER: 400,
  ERR_DUPLICATE_KEY: 409,
  ERR_KEY_NOT_FOUND: 404,
  ERR_READ_ONLY: 409,
  ERR_CLOSED: 503,
}

/**
 * Builds the service. `indexPath` is loaded when it exists (else a new index of `dim`
 * dimensions is created); `save` writes it back atomically and `reload` swaps in the file's
 * current contents (for example one built elsewhere and copied over).
 */
export async function buildServer({ indexPath, dim, logger = false }) {
  const options = { dim, metric: 'cosine', attributes: { tag: 'keyword' }, payload: true }
  let index = fs.existsSync(indexPath) ? await VectorIndex.load(indexPath) : new VectorIndex(options)
  const app = Fastify({ logger, bodyLimit: 64 << 20 })

  app.setErrorHandler((err, _req, reply) => {
    const status = err instanceof QuiverError ? (STATUS[err.code] ?? 500) : (err.statusCode ?? 500)
    reply.status(status).send({ error: err.message, code: err.code })
  })

  // Health: answered without touching the index's locks.
  app.get('/health', async () => ({ status: 'ok', size: index.size }))

  // Bodies are checked by fastify's JSON schemas (400 before the handler runs); the library
  // checks the rest (dimension, finite values, the filter) with coded errors, mapped above.
  const vectorSchema = { type: 'array', items: { type: 'number' } }
  const searchBody = {
    type: 'object',
    required: ['vector'],
    additionalProperties: false,
    properties: { vector: vectorSchema, k: { type: 'integer', minimum: 1, maximum: 1000 }, filter: { type: 'object' } },
  }
  const item = {
    type: 'object',
    required: ['key', 'vector'],
    additionalProperties: false,
    properties: {
      key: { type: 'integer', minimum: 0, maximum: 4294967294 },
      vector: vectorSchema,
      tag: { type: 'string' },
      payload: {},
    },
  }
  const itemsBody = {
    type: 'object',
    required: ['items'],
    additionalProperties: false,
    properties: { items: { type: 'array', minItems: 1, maxItems: 10000, items: item } },
  }

  // Search: { vector, k?, filter? } → { keys, distances, payloads } (plain JSON arrays).
  app.post('/search', { schema: { body: searchBody } }, async (req) => {
    const { vector, k = 10, filter } = req.body
    return index.search(vector, { k, filter, include: ['payload'] })
  })

  // Upsert: { items: [{ key, vector, tag?, payload? }] } → { upserted }.
  app.put('/items', { schema: { body: itemsBody } }, async (req) => {
    const items = req.body.items
    const keys = items.map((it) => it.key)
    const vectors = items.map((it) => it.vector)
    const attributes = items.map((it) => (it.tag === undefined ? null : { tag: it.tag }))
    const payloads = items.map((it) => it.payload ?? null)
    return { upserted: await index.upsert(keys, vectors, { attributes, payloads }) }
  })

  // Delete one key → { removed: 0 | 1 }.
  const keyParam = { type: 'object', properties: { key: { type: 'integer', minimum: 0, maximum: 4294967294 } } }
  app.delete('/items/:key', { schema: { params: keyParam } }, async (req) => ({
    removed: await index.remove([req.params.key]),
  }))

  // Save atomically (a crash mid-save leaves the previous file).
  app.post('/admin/save', async () => {
    await index.save(indexPath)
    return { saved: index.size }
  })

  // Reload the file. Each request reads `index` once and calls it at once, so requests already
  // running finish on the old index (close() lets calls in flight finish) and the next ones
  // use the new one: nothing is dropped.
  app.post('/admin/reload', async () => {
    const next = await VectorIndex.load(indexPath)
    const old = index
    index = next
    old.close()
    return { reloaded: next.size }
  })

  app.addHook('onClose', async () => index.close())
  return app
}
// --- end README service ---

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const app = await buildServer({
    indexPath: process.env.INDEX_PATH ?? 'vectors.qvi',
    dim: Number(process.env.DIM ?? 384),
    logger: true,
  })
  await app.listen({ port: Number(process.env.PORT ?? 3000), host: '0.0.0.0' })
}
