/*
 * Collection with attributes and payloads: the filter reaches every retriever before fusion,
 * minScore and include work on the fused list, get returns the stored metadata, and all of it
 * survives save/open.
 */
import test from 'ava'
import { Collection } from '../ts/index'
import type { CollectionDoc } from '../ts/index'
import { mulberry32, tempDir } from './helpers'

const DIM = 8
const WORDS = ['red', 'green', 'blue', 'cat', 'dog', 'fish']

function docs(n: number): CollectionDoc[] {
  const rnd = mulberry32(4)
  return Array.from({ length: n }, (_, i) => ({
    id: `d${i}`,
    text: `${WORDS[i % 6]} ${WORDS[(i * 7) % 6]} item ${i}`,
    vector: Float32Array.from({ length: DIM }, () => rnd() - 0.5),
    attributes: { lang: i % 4 === 0 ? 'fr' : 'en', year: 2000 + (i % 20) },
    payload: { title: `Title ${i}`, n: i },
  }))
}

test('filter, minScore, include and get on a hybrid collection, through save and open', async (t) => {
  const c = new Collection({
    text: true,
    vector: { dim: DIM, metric: 'cosine', threads: 1 },
    attributes: { lang: 'keyword', year: 'int' },
    payload: true,
  })
  const all = docs(400)
  await c.upsert(all)
  const byId = new Map(all.map((d) => [d.id, d]))
  const q = { text: 'red cat', vector: all[3].vector as Float32Array, k: 10 }
  const hits = await c.search({
    ...q,
    filter: { lang: 'fr', year: { $gte: 2010 } },
    include: ['payload', 'attributes'],
  })
  t.is(hits.length, 10)
  for (const h of hits) {
    const d = byId.get(h.id as string)
    t.is(d?.attributes?.lang, 'fr')
    t.true((d?.attributes?.year as number) >= 2010)
    t.deepEqual(h.payload, d?.payload)
    t.deepEqual(h.attributes, d?.attributes)
  }
  // Each retriever filtered natively: a text-only and a vector-only search return only matches too.
  for (const one of [{ text: 'blue dog' }, { vector: all[9].vector as Float32Array }]) {
    const r = await c.search({ ...one, k: 20, filter: { lang: 'fr' } })
    t.is(r.length, 20)
    for (const h of r) t.is(byId.get(h.id as string)?.attributes?.lang, 'fr')
  }
  const unfiltered = await c.search({ ...q })
  const cut = unfiltered[4].score
  const above = await c.search({ ...q, minScore: cut })
  t.true(above.length >= 5)
  for (const h of above) t.true(h.score >= cut)
  t.deepEqual(c.get('d5')?.payload, { title: 'Title 5', n: 5 })
  t.deepEqual(c.get('d5')?.attributes, { lang: 'en', year: 2005 })
  // Upsert replaces metadata in every index.
  await c.upsert([{ ...all[5], attributes: { lang: 'fr', year: 1999 }, payload: { replaced: true } }])
  t.deepEqual(c.get('d5')?.attributes, { lang: 'fr', year: 1999 })
  const only = await c.search({ text: 'item', k: 5, filter: { year: 1999 } })
  t.deepEqual(
    only.map((h) => h.id),
    ['d5'],
  )
  const dir = tempDir(t)
  await c.save(dir)
  const back = await Collection.open(dir)
  t.deepEqual(back.get('d5')?.payload, { replaced: true })
  const again = await back.search({ ...q, filter: { lang: 'fr', year: { $gte: 2010 } } })
  t.deepEqual(
    again.map((h) => h.id),
    hits.map((h) => h.id),
  )
  await t.throwsAsync(() => c.search({ text: 'x', filter: { nope: 1 } }), { code: 'ERR_INVALID_FILTER' })
  await t.throwsAsync(() => c.upsert([{ ...all[0], attributes: { color: 'x' } }]), { code: 'ERR_INVALID_ARGUMENT' })
  t.throws(() => new Collection({ text: true, vector: { dim: 4, attributes: { a: 'int' } } }), {
    code: 'ERR_INVALID_ARGUMENT',
  })
  c.close()
  back.close()
})
