/*
 * Filtered SparseIndex search: every strategy with a filter returns exactly the top-k of a
 * brute-force dot product over the matching documents (keys and scores); attributes and
 * payloads come back with hits, are counted, persist, follow remove and upsert; bad filters are
 * ERR_INVALID_FILTER; a Collection passes its filter to the sparse retriever.
 */
import test from 'ava'
import * as path from 'node:path'
import { Collection, SparseIndex } from '../ts/index'
import type { Filter, SparseVector } from '../ts/index'
import { mulberry32, seqKeys, tempDir } from './helpers'

const N = 2000
const VOCAB = 500
const LANGS = ['en', 'fr', 'de']
const STRATEGIES = ['maxscore', 'wand', 'exhaustive'] as const

type Attrs = {
  lang: string
  year: number
  hot: boolean
}

/** A sparse vector: distinct term ids (skewed to small ids) with positive weights. */
function sparseVector(rnd: () => number, maxLen: number): { indices: number[]; values: number[] } {
  const ids = new Set<number>()
  const len = 1 + Math.floor(rnd() * maxLen)
  for (let i = 0; i < len; i++) ids.add(Math.floor(rnd() * rnd() * VOCAB))
  const indices = [...ids].sort((a, b) => a - b)
  return { indices, values: indices.map(() => Math.fround(0.01 + rnd() * 3)) }
}

function corpus(seed: number) {
  const rnd = mulberry32(seed)
  const docs = Array.from({ length: N }, () => sparseVector(rnd, 30))
  const attrs: Attrs[] = Array.from({ length: N }, (_, i) => ({
    lang: LANGS[i % 3],
    year: 2000 + (i % 25),
    hot: rnd() < 0.1,
  }))
  return { docs, attrs }
}

function matches(a: Attrs, f: Filter): boolean {
  const e = f as { lang?: string; year?: { $gte: number }; hot?: boolean }
  if (e.lang !== undefined && a.lang !== e.lang) return false
  if (e.year !== undefined && !(a.year >= e.year.$gte)) return false
  if (e.hot !== undefined && a.hot !== e.hot) return false
  return true
}

/** The engine's exact score: a float32 sum of float32 products, in increasing term order. */
function dot(q: { indices: number[]; values: number[] }, d: { indices: number[]; values: number[] }): number {
  let s = 0
  let j = 0
  for (let i = 0; i < q.indices.length; i++) {
    while (j < d.indices.length && d.indices[j] < q.indices[i]) j++
    if (j < d.indices.length && d.indices[j] === q.indices[i]) {
      s = Math.fround(s + Math.fround(Math.fround(q.values[i]) * d.values[j]))
    }
  }
  return s
}

/** Brute force over the documents `keep` accepts: best first, ties by smaller key, zeros left out. */
function brute(
  docs: { indices: number[]; values: number[] }[],
  q: { indices: number[]; values: number[] },
  keep: (i: number) => boolean,
  k: number,
): Array<[number, number]> {
  const all: Array<[number, number]> = []
  for (let i = 0; i < docs.length; i++) {
    if (!keep(i)) continue
    const s = dot(q, docs[i])
    if (s > 0) all.push([i, s])
  }
  all.sort((a, b) => b[1] - a[1] || a[0] - b[0])
  return all.slice(0, k)
}

const SCHEMA = { lang: 'keyword', year: 'int', hot: 'bool' } as const

test('filtered top-k equals brute force over the matching documents, every strategy and k', (t) => {
  const { docs, attrs } = corpus(1)
  const index = new SparseIndex({ vocabSize: VOCAB, threads: 2, attributes: SCHEMA })
  index.addSync(seqKeys(N), docs, { attributes: attrs })
  const filters: Filter[] = [{ lang: 'fr' }, { year: { $gte: 2020 } }, { hot: true }, { lang: 'de', hot: true }]
  const rnd = mulberry32(2)
  for (let qi = 0; qi < 30; qi++) {
    const q = sparseVector(rnd, 8)
    for (const f of filters) {
      for (const k of [1, 10, 50]) {
        const want = brute(docs, q, (i) => matches(attrs[i], f), k)
        for (const strategy of STRATEGIES) {
          const r = index.searchSync(q, { k, strategy, filter: f })
          const label = `${qi} ${JSON.stringify(f)} k=${k} ${strategy}`
          t.deepEqual(
            [...r.keys],
            want.map(([key]) => key),
            label,
          )
          t.deepEqual(
            [...r.scores],
            want.map(([, s]) => s),
            label,
          )
        }
      }
    }
  }
  for (const f of filters) t.is(index.count(f), attrs.filter((a) => matches(a, f)).length)
  t.is(index.count(), N)
})

test('async search and searchBatch with one filter for every query', async (t) => {
  const { docs, attrs } = corpus(5)
  const index = new SparseIndex({ vocabSize: VOCAB, attributes: SCHEMA })
  await index.add(seqKeys(N), docs, { attributes: attrs })
  const rnd = mulberry32(6)
  const queries = Array.from({ length: 12 }, () => sparseVector(rnd, 8))
  const f: Filter = { lang: 'en', year: { $gte: 2010 } }
  for (const strategy of STRATEGIES) {
    const batch = await index.searchBatch(queries, { k: 15, strategy, filter: f })
    t.is(batch.length, queries.length)
    for (let i = 0; i < queries.length; i++) {
      const want = brute(docs, queries[i], (j) => matches(attrs[j], f), 15)
      t.deepEqual(
        [...batch[i].keys],
        want.map(([key]) => key),
      )
      t.deepEqual(
        [...batch[i].scores],
        want.map(([, s]) => s),
      )
      const one = await index.search(queries[i], { k: 15, strategy, filter: f })
      t.deepEqual([...one.keys], [...batch[i].keys])
    }
  }
  const withMeta = await index.searchBatch(queries.slice(0, 2), {
    k: 3,
    filter: { hot: true },
    include: ['attributes'],
  })
  for (const r of withMeta) {
    t.is(r.attributes?.length, r.keys.length)
    for (const a of r.attributes ?? []) t.is(a?.hot, true)
  }
})

test('include, minScore, count, persistence, remove and upsert of sparse attributes', async (t) => {
  const { docs, attrs } = corpus(3)
  const index = new SparseIndex({ vocabSize: VOCAB, attributes: SCHEMA, payload: true })
  await index.add(seqKeys(N), docs, {
    attributes: attrs,
    payloads: attrs.map((a, i) => ({ i, lang: a.lang })),
  })
  t.deepEqual(index.config(), { vocabSize: VOCAB, attributes: SCHEMA, payload: true })
  const q: SparseVector = { indices: [1, 2, 3, 5, 8], values: [1, 0.5, 2, 1, 0.25] }
  const base = index.searchSync(q, { k: 20 })
  const cut = base.scores[9]
  const r = index.searchSync(q, { k: 20, minScore: cut })
  t.true(r.keys.length >= 10 && r.keys.length <= 20)
  for (const s of r.scores) t.true(s >= cut)
  const withMeta = await index.search(q, { k: 5, filter: { lang: 'en' }, include: ['payload', 'attributes'] })
  t.is(withMeta.keys.length, 5)
  for (let i = 0; i < withMeta.keys.length; i++) {
    const key = withMeta.keys[i]
    t.deepEqual(withMeta.payloads?.[i], { i: key, lang: 'en' })
    t.deepEqual(withMeta.attributes?.[i], attrs[key])
  }
  t.deepEqual(index.getAttributes(7), attrs[7])
  t.deepEqual(index.getPayload(7), { i: 7, lang: attrs[7].lang })
  t.true(index.memoryUsage().attributes > 0 && index.memoryUsage().payloads > 0)

  const file = path.join(tempDir(t), 'sparse.qvs')
  await index.save(file)
  const back = await SparseIndex.load(file)
  t.deepEqual(back.config().attributes, SCHEMA)
  t.is(back.count({ hot: true }), index.count({ hot: true }))
  t.deepEqual(back.getPayload(7), { i: 7, lang: attrs[7].lang })
  const fq = { k: 10, filter: { year: { $gte: 2010 } } }
  t.deepEqual([...back.searchSync(q, fq).keys], [...index.searchSync(q, fq).keys])
  const syncBack = SparseIndex.loadSync(file)
  t.is(syncBack.count({ lang: 'de' }), index.count({ lang: 'de' }))

  const fr = index.count({ lang: 'fr' })
  const frKeys = [1, 4, 7].filter((k) => attrs[k].lang === 'fr')
  await index.remove([1, 4, 7])
  t.is(index.count({ lang: 'fr' }), fr - frKeys.length)
  t.is(index.getAttributes(1), undefined)
  t.is(index.getPayload(7), undefined)
  // An upsert replaces the metadata with the vector; one without payloads drops the payload.
  index.upsertSync([10], [{ indices: [1], values: [100] }], { attributes: [{ lang: 'xx', year: 1900, hot: false }] })
  t.deepEqual(index.getAttributes(10), { lang: 'xx', year: 1900, hot: false })
  t.is(index.getPayload(10), undefined)
  t.deepEqual([...index.searchSync({ indices: [1], values: [1] }, { k: 3, filter: { lang: 'xx' } }).keys], [10])
  t.is(index.count({ year: { $gte: 1800, $lt: 1950 } }), 1)
  // Removed documents are compacted away on save: their metadata does not come back.
  const file2 = path.join(tempDir(t), 'sparse2.qvs')
  index.saveSync(file2)
  const back2 = SparseIndex.loadSync(file2)
  t.is(back2.getAttributes(4), undefined)
  t.is(back2.count(), N - 3)
  t.is(back2.count({ lang: 'xx' }), 1)
})

test('a key of 0xFFFFFFFF with attributes survives save and load', async (t) => {
  const index = new SparseIndex({ attributes: { tag: 'keyword' }, payload: true })
  index.addSync(
    [0xffffffff, 0],
    [
      { indices: [3], values: [1] },
      { indices: [3], values: [2] },
    ],
    { attributes: [{ tag: 'x' }, { tag: 'y' }], payloads: [1, 2] },
  )
  const file = path.join(tempDir(t), 'max.qvs')
  await index.save(file)
  const back = await SparseIndex.load(file)
  t.is(back.count({ tag: 'x' }), 1)
  t.deepEqual([...back.searchSync({ indices: [3], values: [1] }, { filter: { tag: 'x' } }).keys], [0xffffffff])
  t.is(back.getPayload(0xffffffff), 1)
})

test('bad filters and metadata are refused with their codes', async (t) => {
  const index = new SparseIndex({ vocabSize: VOCAB, attributes: SCHEMA })
  index.addSync([1], [{ indices: [1], values: [1] }], { attributes: [{ lang: 'en', year: 2001, hot: false }] })
  const q = { indices: [1], values: [1] }
  for (const filter of [{ nope: 1 }, { year: 'x' }, { lang: { $gt: 3 } }, { $bad: [] }, [] as unknown]) {
    t.throws(() => index.searchSync(q, { filter: filter as Filter }), { code: 'ERR_INVALID_FILTER' })
    await t.throwsAsync(() => index.search(q, { filter: filter as Filter }), { code: 'ERR_INVALID_FILTER' })
    await t.throwsAsync(() => index.searchBatch([q], { filter: filter as Filter }), { code: 'ERR_INVALID_FILTER' })
    t.throws(() => index.count(filter as Filter), { code: 'ERR_INVALID_FILTER' })
  }
  const plain = new SparseIndex()
  t.throws(() => plain.searchSync(q, { filter: {} }), { code: 'ERR_INVALID_FILTER' })
  t.throws(() => plain.count({}), { code: 'ERR_INVALID_FILTER' })
  t.throws(() => plain.searchSync(q, { include: ['payload'] }), { code: 'ERR_INVALID_ARGUMENT' })
  t.throws(() => index.searchSync(q, { include: ['nope' as 'payload'] }), { code: 'ERR_INVALID_ARGUMENT' })
  t.throws(() => plain.addSync([2], [q], { attributes: [{ a: 1 }] }), { code: 'ERR_INVALID_ARGUMENT' })
  t.throws(() => index.addSync([2], [q], { attributes: [{ year: 'x' }] }), { code: 'ERR_INVALID_ARGUMENT' })
  t.throws(() => new SparseIndex({ attributes: { a: 'nope' as 'int' } }), { code: 'ERR_INVALID_ARGUMENT' })
  t.false(index.has(2))
})

test('a Collection passes its filter to the sparse retriever', async (t) => {
  const { docs, attrs } = corpus(7)
  const n = 300
  const c = new Collection({
    text: true,
    sparse: { vocabSize: VOCAB, threads: 1 },
    attributes: { lang: 'keyword', year: 'int', hot: 'bool' },
    payload: true,
  })
  await c.upsert(
    Array.from({ length: n }, (_, i) => ({
      id: `d${i}`,
      text: `doc ${i} ${attrs[i].lang}`,
      sparse: docs[i],
      attributes: attrs[i],
      payload: { i },
    })),
  )
  const q = sparseVector(mulberry32(8), 10)
  const f: Filter = { lang: 'fr', year: { $gte: 2005 } }
  const want = brute(docs.slice(0, n), q, (i) => matches(attrs[i], f), 10)
  const hits = await c.search({ sparse: q, k: 10, filter: f, include: ['attributes', 'payload'] })
  t.deepEqual(
    hits.map((h) => h.id),
    want.map(([i]) => `d${i}`),
  )
  for (const h of hits) {
    const i = Number((h.id as string).slice(1))
    t.true(matches(attrs[i], f))
    t.deepEqual(h.attributes, attrs[i])
    t.deepEqual(h.payload, { i })
  }
  // Fused with text: every hit still matches.
  const fused = await c.search({ sparse: q, text: 'doc fr', k: 20, filter: f })
  t.true(fused.length > 0)
  for (const h of fused) t.true(matches(attrs[Number((h.id as string).slice(1))], f))

  // A sparse-only collection holds the attributes and payloads itself.
  const s = new Collection({ sparse: { vocabSize: VOCAB }, attributes: { lang: 'keyword' }, payload: true })
  await s.upsert([
    { id: 'a', sparse: { indices: [1], values: [1] }, attributes: { lang: 'en' }, payload: 'A' },
    { id: 'b', sparse: { indices: [1], values: [2] }, attributes: { lang: 'fr' }, payload: 'B' },
  ])
  const only = await s.search({ sparse: { indices: [1], values: [1] }, filter: { lang: 'en' }, include: ['payload'] })
  t.deepEqual(
    only.map((h) => [h.id, h.payload]),
    [['a', 'A']],
  )
  t.deepEqual(s.get('b')?.attributes, { lang: 'fr' })
  const dir = path.join(tempDir(t), 'coll')
  await s.save(dir)
  const back = await Collection.open(dir)
  t.deepEqual(
    (await back.search({ sparse: { indices: [1], values: [1] }, filter: { lang: 'fr' } })).map((h) => h.id),
    ['b'],
  )
  c.close()
  s.close()
  back.close()
})
