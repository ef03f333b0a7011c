import test from 'ava'
import { execFileSync } from 'node:child_process'
import * as fs from 'node:fs'
import { createRequire } from 'node:module'
import * as path from 'node:path'
import { Document } from '@langchain/core/documents'
import { Embeddings } from '@langchain/core/embeddings'
import { FakeVectorStore } from '@langchain/core/utils/testing'
import { QuiverVectorStore } from '../ts/langchain'
import { expectCode, tempDir } from './helpers'

const DIM = 32

/** FNV-1a hash of a string. */
function fnv(s: string): number {
  let h = 0x811c9dc5
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193) >>> 0
  return h
}

/**
 * Deterministic bag-of-words embeddings: each word adds ±1 to a hashed bucket (and ±0.5 to a
 * second one), so texts sharing words are similar. No network, no model.
 */
class HashEmbeddings extends Embeddings {
  constructor() {
    super({})
  }
  embed(text: string): number[] {
    const v = new Array<number>(DIM).fill(0)
    for (const w of text.toLowerCase().split(/\W+/).filter(Boolean)) {
      const h = fnv(w)
      v[h % DIM] += h & 0x100 ? 1 : -1
      v[(h >>> 8) % DIM] += h & 0x200 ? 0.5 : -0.5
    }
    if (!v.some((x) => x !== 0)) v[0] = 1
    return v
  }
  async embedDocuments(texts: string[]): Promise<number[][]> {
    return texts.map((t) => this.embed(t))
  }
  async embedQuery(text: string): Promise<number[]> {
    return this.embed(text)
  }
}

const embeddings = new HashEmbeddings()

const CORPUS = [
  'the cat sat on the mat',
  'a cat chased a mouse in the house',
  'dogs bark at the mailman',
  'the dog slept by the fire',
  'quantum computers use qubits',
  'classical computers use bits',
  'rust is a systems programming language',
  'typescript adds types to javascript',
  'node runs javascript on the server',
  'vector search finds nearest neighbours',
  'hnsw is a graph for nearest neighbour search',
  'bananas are yellow fruit',
  'apples can be red or green',
  'the ocean is deep and blue',
  'mountains are high and cold',
  'coffee keeps programmers awake',
  'tea is a calm drink',
  'the sun is a star',
  'the moon orbits the earth',
  'jupiter is the largest planet',
]
const METAS = CORPUS.map((_, i) => ({ i, even: i % 2 === 0 }))
const QUERIES = ['cat on a mat', 'javascript server', 'nearest neighbour search', 'red fruit', 'planet earth moon']

function isDescending(xs: number[]): boolean {
  return xs.every((x, i) => i === 0 || x <= xs[i - 1])
}

test('fromTexts, search with similarity scores, sorted, documents and metadata round trip', async (t) => {
  const store = await QuiverVectorStore.fromTexts(CORPUS, METAS, embeddings)
  t.teardown(() => store.close())
  t.is(store._vectorstoreType(), 'quiver')
  t.is(store.size, CORPUS.length)
  t.is(store.metric, 'cosine')
  const hits = await store.similaritySearchWithScore(CORPUS[4], 5)
  t.is(hits.length, 5)
  t.is(hits[0][0].pageContent, CORPUS[4])
  t.deepEqual(hits[0][0].metadata, METAS[4])
  t.is(typeof hits[0][0].id, 'string')
  t.true(Math.abs(hits[0][1] - 1) < 1e-5, `self-similarity ${hits[0][1]}`)
  t.true(isDescending(hits.map((h) => h[1])))
  for (const q of QUERIES) {
    const r = await store.similaritySearchWithScore(q, 20)
    t.is(r.length, 20)
    t.true(isDescending(r.map((h) => h[1])), q)
  }
  // k above the size gives every document; similaritySearch returns documents only.
  t.is((await store.similaritySearch('cat', 100)).length, CORPUS.length)
  // A retriever built on the store works.
  const docs = await store.asRetriever(2).invoke('vector search finds nearest neighbours')
  t.is(docs.length, 2)
  t.is(docs[0].pageContent, CORPUS[9])
})

test('addDocuments / addVectors return ids; an existing id is replaced; delete removes', async (t) => {
  const store = new QuiverVectorStore(embeddings)
  t.teardown(() => store.close())
  // Empty store: no results, no error.
  t.deepEqual(await store.similaritySearch('anything', 3), [])
  const generated = await store.addDocuments(CORPUS.slice(0, 5).map((pageContent) => new Document({ pageContent })))
  t.is(generated.length, 5)
  for (const id of generated) t.regex(id, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
  const own = await store.addDocuments([new Document({ pageContent: CORPUS[5], id: 'doc-own' })])
  t.deepEqual(own, ['doc-own'])
  const given = await store.addVectors(
    [embeddings.embed(CORPUS[6]), embeddings.embed(CORPUS[7])],
    [new Document({ pageContent: CORPUS[6] }), new Document({ pageContent: CORPUS[7], metadata: { lang: 'ts' } })],
    { ids: ['rust', 'ts'] },
  )
  t.deepEqual(given, ['rust', 'ts'])
  t.is(store.size, 8)
  const [top] = await store.similaritySearch(CORPUS[7], 1)
  t.is(top.id, 'ts')
  t.deepEqual(top.metadata, { lang: 'ts' })

  // Upsert by id: same size, new content and vector.
  await store.addDocuments([new Document({ pageContent: 'bananas are yellow fruit', metadata: { v: 2 } })], {
    ids: ['ts'],
  })
  t.is(store.size, 8)
  const [fruit] = await store.similaritySearchWithScore('bananas are yellow fruit', 1)
  t.is(fruit[0].id, 'ts')
  t.is(fruit[0].pageContent, 'bananas are yellow fruit')
  t.deepEqual(fruit[0].metadata, { v: 2 })
  t.true(Math.abs(fruit[1] - 1) < 1e-5)
  const old = await store.similaritySearch(CORPUS[7], 8)
  t.false(old.some((d) => d.pageContent === CORPUS[7]))

  // Delete: gone from results, unknown ids ignored.
  await store.delete({ ids: ['ts', 'rust', 'never-added'] })
  t.is(store.size, 6)
  const all = await store.similaritySearch('bananas', 10)
  t.is(all.length, 6)
  t.false(all.some((d) => d.id === 'ts' || d.id === 'rust'))
  // Re-adding a deleted id works.
  await store.addDocuments([new Document({ pageContent: CORPUS[6] })], { ids: ['rust'] })
  t.is((await store.similaritySearch(CORPUS[6], 1))[0].id, 'rust')

  // Bad input.
  await expectCode(t, () => store.addVectors([[1, 2]], []), 'ERR_INVALID_ARGUMENT', 'length mismatch')
  await expectCode(
    t,
    () =>
      store.addDocuments([new Document({ pageContent: 'a' }), new Document({ pageContent: 'b' })], { ids: ['x', 'x'] }),
    'ERR_DUPLICATE_KEY',
    'repeated id',
  )
  await expectCode(
    t,
    () => store.addVectors([[1, 2, 3]], [new Document({ pageContent: 'a' })]),
    'ERR_DIMENSION_MISMATCH',
  )
  await expectCode(t, () => store.similaritySearchVectorWithScore(embeddings.embed('a'), 0), 'ERR_INVALID_ARGUMENT')
  await expectCode(t, () => store.delete({} as { ids: string[] }), 'ERR_INVALID_ARGUMENT')
  t.is(store.size, 7)
})

test('fromDocuments keeps document ids; index options are passed through', async (t) => {
  const docs = CORPUS.map((pageContent, i) => new Document({ pageContent, metadata: METAS[i], id: `d${i}` }))
  const store = await QuiverVectorStore.fromDocuments(docs, embeddings, { metric: 'ip', index: 'flat', threads: 1 })
  t.teardown(() => store.close())
  t.is(store.metric, 'ip')
  t.is(store.args.dim, DIM)
  const q = embeddings.embed(CORPUS[3])
  const hits = await store.similaritySearchVectorWithScore(q, 3)
  t.is(hits[0][0].id, 'd3')
  // ip scores are dot products.
  const dot = q.reduce((s, x, i) => s + x * embeddings.embed(CORPUS[3])[i], 0)
  t.true(Math.abs(hits[0][1] - dot) < 1e-3, `${hits[0][1]} vs ${dot}`)
  t.true(isDescending(hits.map((h) => h[1])))
})

test('l2 scores are minus the squared distance', async (t) => {
  const store = new QuiverVectorStore(embeddings, { metric: 'l2', dim: 2 })
  t.teardown(() => store.close())
  await store.addVectors(
    [
      [0, 0],
      [3, 4],
    ],
    [new Document({ pageContent: 'origin' }), new Document({ pageContent: 'far' })],
  )
  const hits = await store.similaritySearchVectorWithScore([0, 0], 2)
  t.deepEqual(
    hits.map(([d, s]) => [d.pageContent, s]),
    [
      ['origin', -0],
      ['far', -25],
    ],
  )
})

test('save / load round trip keeps documents, ids, options and results', async (t) => {
  const dir = path.join(tempDir(t), 'store')
  const store = await QuiverVectorStore.fromTexts(CORPUS, METAS, embeddings, { efSearch: 80, seed: 7 })
  await store.delete({ ids: [(await store.addDocuments([new Document({ pageContent: 'temporary' })]))[0]] })
  await store.save(dir)
  await store.save(dir) // a second save replaces the first
  const files = fs.readdirSync(dir).sort()
  t.is(files.length, 2, files.join(', '))
  t.true(files.includes('docstore.json'))
  const loaded = await QuiverVectorStore.load(dir, embeddings)
  t.teardown(() => {
    store.close()
    loaded.close()
  })
  t.is(loaded.size, store.size)
  t.is(loaded.metric, 'cosine')
  t.is(loaded.args.efSearch, 80)
  for (const q of QUERIES) {
    const a = await store.similaritySearchWithScore(q, 5)
    const b = await loaded.similaritySearchWithScore(q, 5)
    t.deepEqual(
      b.map(([d, s]) => [d.id, d.pageContent, d.metadata, s]),
      a.map(([d, s]) => [d.id, d.pageContent, d.metadata, s]),
      q,
    )
  }
  // The loaded store keeps working: new ids do not collide with old keys.
  const [id] = await loaded.addDocuments([new Document({ pageContent: 'a brand new document about owls' })])
  t.is(loaded.size, store.size + 1)
  t.is((await loaded.similaritySearch('a brand new document about owls', 1))[0].id, id)
  t.is((await loaded.similaritySearch(CORPUS[0], 1))[0].pageContent, CORPUS[0])

  // An empty store saves and loads too.
  const emptyDir = path.join(tempDir(t), 'empty')
  const empty = new QuiverVectorStore(embeddings, { metric: 'l2' })
  await empty.save(emptyDir)
  empty.close()
  const empty2 = await QuiverVectorStore.load(emptyDir, embeddings)
  t.teardown(() => empty2.close())
  t.is(empty2.size, 0)
  t.is(empty2.metric, 'l2')
  await empty2.addDocuments([new Document({ pageContent: 'x' })])
  t.is(empty2.size, 1)
})

test('load rejects missing, damaged and inconsistent directories with coded errors', async (t) => {
  const root = tempDir(t)
  await expectCode(t, () => QuiverVectorStore.load(path.join(root, 'nope'), embeddings), 'ERR_IO')
  const dir = path.join(root, 's')
  const store = await QuiverVectorStore.fromTexts(CORPUS.slice(0, 4), {}, embeddings)
  t.teardown(() => store.close())
  await store.save(dir)
  const docstore = path.join(dir, 'docstore.json')
  const good = fs.readFileSync(docstore, 'utf8')
  fs.writeFileSync(docstore, good.slice(0, 20))
  await expectCode(t, () => QuiverVectorStore.load(dir, embeddings), 'ERR_CORRUPT_FILE', 'truncated json')
  const parsed = JSON.parse(good) as { version: number; docs: unknown[] }
  fs.writeFileSync(docstore, JSON.stringify({ ...parsed, version: 99 }))
  await expectCode(t, () => QuiverVectorStore.load(dir, embeddings), 'ERR_VERSION_MISMATCH')
  fs.writeFileSync(docstore, JSON.stringify({ ...parsed, docs: parsed.docs.slice(1) }))
  await expectCode(t, () => QuiverVectorStore.load(dir, embeddings), 'ERR_CORRUPT_FILE', 'missing document')
  fs.writeFileSync(docstore, good)
  const loaded = await QuiverVectorStore.load(dir, embeddings)
  t.is(loaded.size, 4)
  loaded.close()
})

test('maxMarginalRelevanceSearch returns k diverse results', async (t) => {
  const dupes = Array.from({ length: 8 }, (_, i) => `cat cat cat mat ${'x'.repeat(i + 1)}`)
  const others = ['cat dog mouse', 'a cat in the garden', 'planet earth', 'cat food is tasty']
  const store = await QuiverVectorStore.fromTexts([...dupes, ...others], {}, embeddings)
  t.teardown(() => store.close())
  const plain = await store.similaritySearch('cat cat cat mat', 4)
  const dupesInPlain = plain.filter((d) => dupes.includes(d.pageContent)).length
  t.is(dupesInPlain, 4)
  const mmr = await store.maxMarginalRelevanceSearch('cat cat cat mat', { k: 4, fetchK: 12, lambda: 0.3 })
  t.is(mmr.length, 4)
  t.true(dupes.includes(mmr[0].pageContent), 'the first pick is the most similar')
  const dupesInMmr = mmr.filter((d) => dupes.includes(d.pageContent)).length
  t.true(dupesInMmr < dupesInPlain, `${dupesInMmr} near-duplicates`)
  t.is(new Set(mmr.map((d) => d.id)).size, 4)
  // k is respected, fetchK below k is raised to k, lambda 1 is plain similarity order.
  t.is((await store.maxMarginalRelevanceSearch('cat', { k: 2 })).length, 2)
  t.is((await store.maxMarginalRelevanceSearch('cat', { k: 5, fetchK: 1 })).length, 5)
  const sim = await store.maxMarginalRelevanceSearch('cat cat cat mat', { k: 3, fetchK: 12, lambda: 1 })
  t.deepEqual(
    sim.map((d) => d.id),
    (await store.similaritySearch('cat cat cat mat', 3)).map((d) => d.id),
  )
  await expectCode(t, () => store.maxMarginalRelevanceSearch('cat', { k: 2, lambda: 2 }), 'ERR_INVALID_ARGUMENT')
  // Through a retriever.
  const r = store.asRetriever({ k: 3, searchType: 'mmr', searchKwargs: { fetchK: 12, lambda: 0.3 } })
  t.is((await r.invoke('cat cat cat mat')).length, 3)
  const empty = new QuiverVectorStore(embeddings)
  t.deepEqual(await empty.maxMarginalRelevanceSearch('cat', { k: 2 }), [])
})

test('a filter without declared attributes is ERR_INVALID_FILTER', async (t) => {
  const store = await QuiverVectorStore.fromTexts(CORPUS, METAS, embeddings)
  t.teardown(() => store.close())
  const filter = { even: true }
  const q = embeddings.embed('cat')
  const e = await expectCode(t, () => store.similaritySearchVectorWithScore(q, 3, filter), 'ERR_INVALID_FILTER')
  t.regex(e.message, /attributes/)
  await expectCode(t, () => store.similaritySearch('cat', 3, filter), 'ERR_INVALID_FILTER')
  await expectCode(t, () => store.maxMarginalRelevanceSearch('cat', { k: 2, filter }), 'ERR_INVALID_FILTER')
  const empty = new QuiverVectorStore(embeddings)
  await expectCode(t, () => empty.similaritySearch('cat', 3, filter), 'ERR_INVALID_FILTER')
  t.is((await store.similaritySearch('cat', 3, undefined)).length, 3)
})

test('metadata filters on declared attributes run natively, survive save/load, and refuse callbacks', async (t) => {
  const store = await QuiverVectorStore.fromTexts(CORPUS, METAS, embeddings, {
    attributes: { i: 'int', even: 'bool' },
  })
  t.teardown(() => store.close())
  const q = embeddings.embed('cat')
  const hits = await store.similaritySearchVectorWithScore(q, 4, { even: true, i: { $lt: 10 } })
  t.is(hits.length, Math.min(4, METAS.filter((m) => m.even && m.i < 10).length))
  for (const [doc] of hits) {
    t.true(doc.metadata.even as boolean)
    t.true((doc.metadata.i as number) < 10)
  }
  const all = await store.similaritySearch('cat', CORPUS.length, { even: false })
  t.is(all.length, METAS.filter((m) => !m.even).length)
  const mmr = await store.maxMarginalRelevanceSearch('cat', { k: 2, fetchK: 6, filter: { even: true } })
  for (const d of mmr) t.true(d.metadata.even as boolean)
  await expectCode(t, () => store.similaritySearch('cat', 3, (() => true) as never), 'ERR_INVALID_FILTER')
  await expectCode(t, () => store.similaritySearch('cat', 3, { nope: 1 }), 'ERR_INVALID_FILTER')
  const dir = tempDir(t)
  await store.save(dir)
  const back = await QuiverVectorStore.load(dir, embeddings)
  t.teardown(() => back.close())
  const again = await back.similaritySearchVectorWithScore(q, 4, { even: true, i: { $lt: 10 } })
  t.deepEqual(
    again.map(([d]) => d.id),
    hits.map(([d]) => d.id),
  )
})

test('same top results and scores as LangChain in-memory store', async (t) => {
  const ours = await QuiverVectorStore.fromTexts(CORPUS, METAS, embeddings)
  t.teardown(() => ours.close())
  const theirs = await FakeVectorStore.fromTexts(CORPUS, METAS, embeddings)
  for (const q of QUERIES) {
    const a = await ours.similaritySearchWithScore(q, 5)
    const b = await theirs.similaritySearchWithScore(q, 5)
    t.deepEqual(
      a.map(([d]) => d.pageContent),
      b.map(([d]) => d.pageContent),
      q,
    )
    a.forEach(([d, s], i) => {
      t.deepEqual(d.metadata, b[i][0].metadata)
      t.true(Math.abs(s - b[i][1]) < 1e-5, `${q} rank ${i}: ${s} vs ${b[i][1]}`)
    })
  }
})

test('close frees the index; later calls fail with ERR_CLOSED', async (t) => {
  const store = await QuiverVectorStore.fromTexts(CORPUS.slice(0, 3), {}, embeddings)
  t.false(store.closed)
  store.close()
  store.close()
  t.true(store.closed)
  await expectCode(t, () => store.similaritySearch('cat', 1), 'ERR_CLOSED')
  await expectCode(t, () => store.addDocuments([new Document({ pageContent: 'x' })]), 'ERR_CLOSED')
  await expectCode(t, () => store.delete({ ids: ['a'] }), 'ERR_CLOSED')
  await expectCode(t, () => store.save(tempDir(t)), 'ERR_CLOSED')
})

test('quiver-search/langchain loads through the built ESM and CommonJS entries; the root entry does not', async (t) => {
  const root = path.resolve(__dirname, '..')
  const dist = path.join(root, 'dist')
  t.true(fs.existsSync(path.join(dist, 'langchain.mjs')), 'dist/langchain.mjs is missing: run npm run build:ts')
  for (const f of ['index.js', 'index.mjs', 'index.d.ts']) {
    t.false(fs.readFileSync(path.join(dist, f), 'utf8').includes('langchain'), `dist/${f} mentions langchain`)
  }
  const script = `
    const { QuiverVectorStore } = require('quiver-search/langchain')
    const { Document } = require('@langchain/core/documents')
    const s = new QuiverVectorStore({ embedDocuments: async (t) => t.map(() => [1, 0]), embedQuery: async () => [1, 0] })
    s.addVectors([[1, 0], [0, 1]], [new Document({ pageContent: 'a' }), new Document({ pageContent: 'b' })])
      .then(() => s.similaritySearchVectorWithScore([1, 0.1], 1))
      .then((r) => { console.log(JSON.stringify([s._vectorstoreType(), r[0][0].pageContent, require.resolve('quiver-search/langchain')])); s.close() })
  `
  const cjs = JSON.parse(execFileSync(process.execPath, ['-e', script], { cwd: root, encoding: 'utf8' })) as string[]
  t.deepEqual(cjs.slice(0, 2), ['quiver', 'a'])
  t.is(cjs[2], path.join(dist, 'langchain.js'))
  const esmScript = `
    import { QuiverVectorStore } from 'quiver-search/langchain'
    import * as root from 'quiver-search'
    const s = new QuiverVectorStore({ embedDocuments: async (t) => t.map(() => [1, 0]), embedQuery: async () => [1, 0] })
    await s.addVectors([[0, 1]], [{ pageContent: 'b', metadata: {} }], { ids: ['x'] })
    const r = await s.similaritySearchVectorWithScore([0, 1], 1)
    console.log(JSON.stringify([r[0][0].id, typeof root.VectorIndex, 'QuiverVectorStore' in root]))
    s.close()
  `
  const esm = execFileSync(process.execPath, ['--input-type=module', '-e', esmScript], { cwd: root, encoding: 'utf8' })
  t.deepEqual(JSON.parse(esm), ['x', 'function', false])
  // The CommonJS entry can be required from an ES module too.
  const req = createRequire(path.join(root, 'package.json'))
  t.is(typeof (req(path.join(dist, 'langchain.js')) as { QuiverVectorStore: unknown }).QuiverVectorStore, 'function')
})

test('concurrent writes apply in call order; searches run alongside', async (t) => {
  const store = new QuiverVectorStore(embeddings, { threads: 2 })
  t.teardown(() => store.close())
  const writes = [
    store.addDocuments([new Document({ pageContent: 'first version' })], { ids: ['same'] }),
    store.addDocuments([new Document({ pageContent: 'second version' })], { ids: ['same'] }),
    store.addDocuments(
      CORPUS.map((pageContent) => new Document({ pageContent })),
      { ids: CORPUS.map((_, i) => `c${i}`) },
    ),
    store.delete({ ids: ['c0', 'c1'] }),
    store.similaritySearch('version', 3),
  ]
  await Promise.all(writes)
  t.is(store.size, 1 + CORPUS.length - 2)
  const [top] = await store.similaritySearch('second version', 1)
  t.is(top.id, 'same')
  t.is(top.pageContent, 'second version')
  t.false((await store.similaritySearch(CORPUS[0], 30)).some((d) => d.id === 'c0'))
  // A failed write does not stop the next ones.
  const bad = store.addVectors([[1]], [new Document({ pageContent: 'bad' })])
  const good = store.addDocuments([new Document({ pageContent: 'after' })], { ids: ['after'] })
  await expectCode(t, () => bad, 'ERR_DIMENSION_MISMATCH')
  t.deepEqual(await good, ['after'])
})

test('await using closes the store', async (t) => {
  const store = await QuiverVectorStore.fromTexts(['x'], {}, embeddings)
  const dispose = (store as unknown as Record<symbol, (() => Promise<void>) | undefined>)[
    (Symbol as unknown as { asyncDispose: symbol }).asyncDispose
  ]
  if (dispose === undefined) {
    store.close()
    t.pass('this runtime has no Symbol.asyncDispose')
    return
  }
  await dispose.call(store)
  t.true(store.closed)
})

test('a failing embeddings call rejects its own add only', async (t) => {
  class Flaky extends HashEmbeddings {
    override async embedDocuments(texts: string[]): Promise<number[][]> {
      await new Promise((r) => setTimeout(r, 20))
      if (texts.includes('boom')) throw new Error('embedding service down')
      return super.embedDocuments(texts)
    }
  }
  const store = new QuiverVectorStore(new Flaky())
  t.teardown(() => store.close())
  const slow = store.addDocuments([new Document({ pageContent: 'slow one' })], { ids: ['slow'] })
  const boom = store.addDocuments([new Document({ pageContent: 'boom' })], { ids: ['boom'] })
  const del = store.delete({ ids: ['slow'] })
  await t.throwsAsync(boom, { message: 'embedding service down' })
  t.deepEqual(await slow, ['slow'])
  await del
  t.is(store.size, 0, 'the delete ran after the add called before it')
})
