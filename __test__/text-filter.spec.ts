/*
 * Filtered TextIndex search: the Block-Max loops with a filter return exactly the top-k of
 * exhaustive BM25 scoring over the matching documents; attributes and payloads persist.
 */
import test from 'ava'
import * as path from 'node:path'
import { TextIndex } from '../ts/index'
import type { Filter } from '../ts/index'
import { mulberry32, seqKeys, tempDir } from './helpers'

const N = 2000
const WORDS = ['alpha', 'beta', 'gamma', 'delta', 'omega', 'sigma', 'kappa', 'theta', 'lambda', 'zeta']
const LANGS = ['en', 'fr', 'de']

function corpus(seed: number) {
  const rnd = mulberry32(seed)
  const texts = Array.from({ length: N }, () =>
    Array.from({ length: 3 + Math.floor(rnd() * 12) }, () => WORDS[Math.floor(rnd() * rnd() * WORDS.length)]).join(' '),
  )
  const attrs = Array.from({ length: N }, (_, i) => ({ lang: LANGS[i % 3], year: 2000 + (i % 25), hot: rnd() < 0.1 }))
  return { texts, attrs }
}

function matches(a: { lang: string; year: number; hot: boolean }, f: Filter): boolean {
  const e = f as { lang?: string; year?: { $gte: number }; hot?: boolean }
  if (e.lang !== undefined && a.lang !== e.lang) return false
  if (e.year !== undefined && !(a.year >= e.year.$gte)) return false
  if (e.hot !== undefined && a.hot !== e.hot) return false
  return true
}

test('filtered top-k equals exhaustive scoring over the matching documents, every strategy', (t) => {
  const { texts, attrs } = corpus(1)
  const index = new TextIndex({ threads: 2, attributes: { lang: 'keyword', year: 'int', hot: 'bool' } })
  index.addSync(seqKeys(N), texts, { attributes: attrs })
  const filters: Filter[] = [{ lang: 'fr' }, { year: { $gte: 2020 } }, { hot: true }, { lang: 'de', hot: true }]
  const rnd = mulberry32(2)
  for (let qi = 0; qi < 40; qi++) {
    const q = `${WORDS[Math.floor(rnd() * WORDS.length)]} ${WORDS[Math.floor(rnd() * WORDS.length)]}`
    const all = index.searchSync(q, { k: N, strategy: 'exhaustive' })
    for (const f of filters) {
      const want: Array<[number, number]> = []
      for (let i = 0; i < all.keys.length; i++) {
        if (matches(attrs[all.keys[i]], f)) want.push([all.keys[i], all.scores[i]])
      }
      for (const k of [1, 10, 50]) {
        for (const strategy of ['bmm', 'bmw', 'exhaustive'] as const) {
          const r = index.searchSync(q, { k, strategy, filter: f })
          t.deepEqual(
            [...r.keys],
            want.slice(0, k).map(([key]) => key),
            `${q} ${JSON.stringify(f)} k=${k} ${strategy}`,
          )
          t.deepEqual(
            [...r.scores],
            want.slice(0, k).map(([, s]) => s),
          )
        }
      }
    }
  }
  t.is(index.count({ lang: 'fr' }), attrs.filter((a) => a.lang === 'fr').length)
})

test('minScore, include, count, persistence and removal of text attributes', async (t) => {
  const { texts, attrs } = corpus(3)
  const index = new TextIndex({ attributes: { lang: 'keyword', year: 'int', hot: 'bool' }, payload: true })
  await index.add(seqKeys(N), texts, {
    attributes: attrs,
    payloads: attrs.map((a, i) => ({ i, lang: a.lang })),
  })
  const base = index.searchSync('alpha beta', { k: 20 })
  const cut = base.scores[9]
  const r = index.searchSync('alpha beta', { k: 20, minScore: cut })
  t.true(r.keys.length >= 10 && r.keys.length <= 20)
  for (const s of r.scores) t.true(s >= cut)
  const withMeta = await index.search('alpha', { k: 5, filter: { lang: 'en' }, include: ['payload', 'attributes'] })
  for (let i = 0; i < withMeta.keys.length; i++) {
    const key = withMeta.keys[i]
    t.deepEqual(withMeta.payloads?.[i], { i: key, lang: 'en' })
    t.is(withMeta.attributes?.[i]?.lang, 'en')
  }
  const file = path.join(tempDir(t), 'text.qvt')
  await index.save(file)
  const back = await TextIndex.load(file)
  t.deepEqual(back.config().attributes, { lang: 'keyword', year: 'int', hot: 'bool' })
  t.is(back.count({ hot: true }), index.count({ hot: true }))
  t.deepEqual(back.getPayload(7), { i: 7, lang: attrs[7].lang })
  const q = { k: 10, filter: { year: { $gte: 2010 } } }
  t.deepEqual([...back.searchSync('gamma', q).keys], [...index.searchSync('gamma', q).keys])
  const fr = index.count({ lang: 'fr' })
  await index.remove([1, 4, 7])
  t.is(index.count({ lang: 'fr' }), fr - 3)
  t.is(index.getAttributes(1), undefined)
  t.is(index.getPayload(7), undefined)
  t.throws(() => index.searchSync('x', { filter: { nope: 1 } }), { code: 'ERR_INVALID_FILTER' })
  t.throws(() => new TextIndex().searchSync('x', { filter: {} }), { code: 'ERR_INVALID_FILTER' })
})

test('a key of 0xFFFFFFFF with attributes survives save and load', async (t) => {
  const index = new TextIndex({ attributes: { tag: 'keyword' }, payload: true })
  index.addSync([0xffffffff, 0], ['hello world', 'hello'], {
    attributes: [{ tag: 'x' }, { tag: 'y' }],
    payloads: [1, 2],
  })
  const file = path.join(tempDir(t), 'max.qvt')
  await index.save(file)
  const back = await TextIndex.load(file)
  t.is(back.count({ tag: 'x' }), 1)
  t.deepEqual([...back.searchSync('hello', { filter: { tag: 'x' } }).keys], [0xffffffff])
  t.is(back.getPayload(0xffffffff), 1)
})
