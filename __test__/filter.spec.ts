/*
 * Attributes, payloads, filtered and range search on VectorIndex, checked against plain-JS
 * evaluation of the same filters on the same records and against brute-force nearest
 * neighbours over the matching keys.
 */
import test from 'ava'
import * as path from 'node:path'
import { VectorIndex } from '../ts/index'
import type { Attributes, Filter, Metric, VectorIndexOptions } from '../ts/index'
import { distance, expectCode, mulberry32, randomVectors, row, seqKeys, tempDir } from './helpers'

const DIM = 16
const N = 3000
const SCHEMA = { lang: 'keyword', tags: 'keyword[]', year: 'int', price: 'float', inStock: 'bool' } as const
const LANGS = ['en', 'fr', 'de', 'es', 'it']
const TAGS = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h']

type Rec = { lang?: string; tags?: string[]; year?: number; price?: number; inStock?: boolean }

function records(n: number, seed: number): Rec[] {
  const rnd = mulberry32(seed)
  return Array.from({ length: n }, () => {
    const r: Rec = {}
    if (rnd() < 0.95) r.lang = LANGS[Math.floor(rnd() * rnd() * LANGS.length)]
    if (rnd() < 0.9) r.tags = TAGS.filter(() => rnd() < 0.25)
    if (rnd() < 0.9) r.year = 1990 + Math.floor(rnd() * 35)
    if (rnd() < 0.9) r.price = Math.round((rnd() * 200 - 20) * 100) / 100
    if (rnd() < 0.9) r.inStock = rnd() < 0.5
    return r
  })
}

/** The filter language, evaluated in plain JS (MongoDB semantics). */
function matches(r: Rec, f: Filter): boolean {
  for (const [key, cond] of Object.entries(f)) {
    if (cond === undefined) continue
    if (key === '$and') {
      if (!(cond as Filter[]).every((g) => matches(r, g))) return false
    } else if (key === '$or') {
      if (!(cond as Filter[]).some((g) => matches(r, g))) return false
    } else if (key === '$not') {
      if (matches(r, cond as Filter)) return false
    } else if (!fieldMatches((r as Record<string, unknown>)[key], cond)) return false
  }
  return true
}

function fieldMatches(v: unknown, cond: unknown): boolean {
  const present = v !== undefined
  const eq = (x: unknown): boolean => (Array.isArray(v) ? v.includes(x) : present && v === x)
  if (cond === null) return !present
  if (typeof cond !== 'object') return eq(cond)
  for (const [op, x] of Object.entries(cond as Record<string, unknown>)) {
    const ok = ((): boolean => {
      switch (op) {
        case '$eq':
          return x === null ? !present : eq(x)
        case '$ne':
          return x === null ? present : !eq(x)
        case '$in':
          return (x as unknown[]).some(eq)
        case '$nin':
          return !(x as unknown[]).some(eq)
        case '$all':
          return Array.isArray(v) && (x as unknown[]).every((y) => v.includes(y))
        case '$exists':
          return present === x
        case '$gt':
          return present && (v as number) > (x as number)
        case '$gte':
          return present && (v as number) >= (x as number)
        case '$lt':
          return present && (v as number) < (x as number)
        case '$lte':
          return present && (v as number) <= (x as number)
        default:
          throw new Error(op)
      }
    })()
    if (!ok) return false
  }
  return true
}

/** A random filter over the schema, nested up to `depth`. */
function randomFilter(rnd: () => number, depth = 0): Filter {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]
  const r = rnd()
  if (depth < 3 && r < 0.12) return { $and: [randomFilter(rnd, depth + 1), randomFilter(rnd, depth + 1)] }
  if (depth < 3 && r < 0.24) return { $or: [randomFilter(rnd, depth + 1), randomFilter(rnd, depth + 1)] }
  if (depth < 3 && r < 0.3) return { $not: randomFilter(rnd, depth + 1) }
  const field = pick(['lang', 'tags', 'year', 'price', 'inStock'])
  const ops = rnd()
  switch (field) {
    case 'lang':
    case 'tags': {
      const vals = field === 'lang' ? LANGS : TAGS
      if (ops < 0.25) return { [field]: pick(vals) }
      if (ops < 0.45) return { [field]: { $in: [pick(vals), pick(vals)] } }
      if (ops < 0.6) return { [field]: { $nin: [pick(vals)] } }
      if (ops < 0.7) return { [field]: { $ne: pick(vals) } }
      if (ops < 0.8) return { [field]: { $exists: rnd() < 0.5 } }
      if (field === 'tags' && ops < 0.95) return { tags: { $all: [pick(vals), pick(vals)] } }
      return { [field]: null }
    }
    case 'year': {
      const y = 1988 + Math.floor(rnd() * 40)
      if (ops < 0.2) return { year: y }
      if (ops < 0.4) return { year: { $gte: y, $lt: y + Math.floor(rnd() * 10) } }
      if (ops < 0.55) return { year: { $gt: y + 0.5 } }
      if (ops < 0.7) return { year: { $lte: y } }
      if (ops < 0.85) return { year: { $in: [y, y + 1, y + 2] } }
      return { year: { $exists: true } }
    }
    case 'price': {
      const p = Math.round((rnd() * 220 - 30) * 100) / 100
      if (ops < 0.4) return { price: { $lt: p } }
      if (ops < 0.7) return { price: { $gte: p, $lte: p + 20 } }
      if (ops < 0.85) return { price: { $ne: p } }
      return { price: { $exists: false } }
    }
    default:
      return ops < 0.5 ? { inStock: rnd() < 0.5 } : { inStock: { $ne: true } }
  }
}

function bruteForce(metric: Metric, data: Float32Array, q: Float32Array, keep: (i: number) => boolean, k: number) {
  const all: Array<[number, number]> = []
  for (let i = 0; i < N; i++) if (keep(i)) all.push([distance(metric, q, row(data, DIM, i)), i])
  all.sort((a, b) => a[0] - b[0] || a[1] - b[1])
  return all.slice(0, k)
}

function recall(got: Uint32Array, want: Array<[number, number]>): number {
  if (want.length === 0) return got.length === 0 ? 1 : 0
  const s = new Set(want.map(([, i]) => i))
  let hit = 0
  for (const key of got) if (s.has(key)) hit++
  return hit / want.length
}

function build(extra: Partial<VectorIndexOptions> = {}, recs = records(N, 3)) {
  const data = randomVectors(N, DIM, 11)
  const index = new VectorIndex({ dim: DIM, metric: 'l2', threads: 2, attributes: SCHEMA, payload: true, ...extra })
  index.addSync(seqKeys(N), data, {
    attributes: recs as Attributes[],
    payloads: recs.map((r, i) => (i % 3 === 0 ? undefined : { id: i, note: `row ${i}`, tags: r.tags ?? [] })),
  })
  return { index, data, recs }
}

test('count matches a plain-JS evaluation for 1,200 random filters', (t) => {
  const { index, recs } = build({ index: 'flat' })
  const rnd = mulberry32(99)
  for (let i = 0; i < 1200; i++) {
    const f = randomFilter(rnd)
    const want = recs.filter((r) => matches(r, f)).length
    const got = index.count(f)
    if (got !== want) {
      t.fail(`filter ${JSON.stringify(f)}: count ${got}, JS evaluation ${want}`)
      return
    }
  }
  t.is(index.count(), N)
  t.is(index.count({}), N)
  t.pass()
})

test('exact filtered search equals brute force over the matching keys (300 random filters)', (t) => {
  const { index, data, recs } = build()
  const rnd = mulberry32(5)
  const queries = randomVectors(300, DIM, 77)
  for (let i = 0; i < 300; i++) {
    const f = randomFilter(rnd)
    const q = row(queries, DIM, i)
    const r = index.searchSync(q, { k: 10, filter: f, filterStrategy: 'exact' })
    const want = bruteForce('l2', data, q, (j) => matches(recs[j], f), 10)
    t.is(r.keys.length, want.length, JSON.stringify(f))
    t.deepEqual(
      [...r.keys],
      want.map(([, j]) => j),
      JSON.stringify(f),
    )
    t.is(r.plan?.strategy, 'exact')
    t.is(r.plan?.matched, recs.filter((x) => matches(x, f)).length)
  }
})

test('every strategy against brute force; auto keeps recall at every selectivity', async (t) => {
  const { index, data, recs } = build({ efSearch: 64 })
  const queries = randomVectors(60, DIM, 78)
  const filters: Array<[string, Filter]> = [
    ['~50%', { inStock: true }],
    ['~20%', { lang: { $in: ['fr', 'de'] } }],
    ['~3%', { year: { $gte: 2000, $lt: 2001 } }],
    ['~0.5%', { $and: [{ year: 2010 }, { tags: 'a' }] }],
    ['anti', { $not: { lang: 'en' } }],
  ]
  for (const [label, f] of filters) {
    const matched = recs.filter((r) => matches(r, f)).length
    for (const strategy of ['auto', 'exact', 'acorn', 'graph'] as const) {
      let sum = 0
      for (let i = 0; i < 60; i++) {
        const q = row(queries, DIM, i)
        const r = await index.search(q, { k: 10, filter: f, filterStrategy: strategy })
        for (const key of r.keys) t.true(matches(recs[key], f), `${label} ${strategy}: key ${key} does not match`)
        t.true(r.keys.length <= 10)
        sum += recall(
          r.keys,
          bruteForce('l2', data, q, (j) => matches(recs[j], f), 10),
        )
      }
      const mean = sum / 60
      t.log(`${label} (${matched} keys) ${strategy}: recall@10 ${mean.toFixed(3)}`)
      if (strategy === 'exact') t.is(mean, 1, `${label} exact`)
      if (strategy === 'auto') t.true(mean >= 0.95, `${label} auto: ${mean}`)
      if (strategy !== 'auto' && strategy !== 'exact') t.true(mean >= 0.5, `${label} ${strategy}: ${mean}`)
    }
  }
})

test('auto always returns min(k, matched) hits, on hnsw, flat and sq8', (t) => {
  for (const extra of [{}, { index: 'flat' as const }, { quantization: { type: 'sq8' as const, trainingSize: 500 } }]) {
    const { index, recs } = build(extra)
    const rnd = mulberry32(8)
    const queries = randomVectors(100, DIM, 79)
    for (let i = 0; i < 100; i++) {
      const f = randomFilter(rnd)
      const matched = recs.filter((r) => matches(r, f)).length
      const r = index.searchSync(row(queries, DIM, i), { k: 10, filter: f })
      t.is(r.keys.length, Math.min(10, matched), JSON.stringify(f))
      for (const key of r.keys) t.true(matches(recs[key], f))
    }
  }
})

test('quantized filtered search reranks with f32 and matches brute force closely', (t) => {
  const { index, data, recs } = build({ quantization: { type: 'sq8', trainingSize: 500 } })
  const f: Filter = { lang: { $in: ['fr', 'de'] } }
  const queries = randomVectors(50, DIM, 80)
  let sum = 0
  for (let i = 0; i < 50; i++) {
    const q = row(queries, DIM, i)
    const r = index.searchSync(q, { k: 10, filter: f, filterStrategy: 'exact' })
    sum += recall(
      r.keys,
      bruteForce('l2', data, q, (j) => matches(recs[j], f), 10),
    )
  }
  t.is(sum / 50, 1)
})

test('maxDistance returns exactly the hits within the bound (flat) and never beyond (hnsw)', (t) => {
  for (const kind of ['flat', 'hnsw'] as const) {
    const { index, data, recs } = build({ index: kind })
    const queries = randomVectors(40, DIM, 81)
    for (let i = 0; i < 40; i++) {
      const q = row(queries, DIM, i)
      const all = bruteForce('l2', data, q, () => true, N)
      // Halfway between the 26th and 27th distances: no hit sits on the bound.
      const radius = (all[25][0] + all[26][0]) / 2
      const r = index.searchSync(q, { k: 100, maxDistance: radius })
      for (const d of r.distances) t.true(d <= radius * (1 + 1e-5))
      const within = all.filter(([d]) => d <= radius).length
      if (kind === 'flat') t.is(r.keys.length, within)
      else t.true(r.keys.length >= within - 2, `${r.keys.length} of ${within}`)
      t.false(r.plan?.capped)
      // With a filter too.
      const f: Filter = { inStock: true }
      const rf = index.searchSync(q, { k: 100, maxDistance: radius, filter: f })
      for (const key of rf.keys) t.true(matches(recs[key], f))
      for (const d of rf.distances) t.true(d <= radius * (1 + 1e-5))
    }
  }
})

test('payloads and attributes come back with hits, by key, in batches, after save/load and mmap', async (t) => {
  const { index, recs, data } = build()
  const dir = tempDir(t)
  const file = path.join(dir, 'meta.qvr')
  const q = row(data, DIM, 7)
  const r = await index.search(q, { k: 5, include: ['payload', 'attributes'], filter: {} })
  t.is(r.keys[0], 7)
  t.deepEqual(r.payloads?.[0], { id: 7, note: 'row 7', tags: recs[7].tags ?? [] })
  t.deepEqual(r.attributes?.[0], JSON.parse(JSON.stringify(recs[7])))
  t.is(index.getPayload(3), undefined, 'key 3 was added without a payload')
  t.deepEqual(index.getPayload(4), { id: 4, note: 'row 4', tags: recs[4].tags ?? [] })
  const b = await index.searchBatch([row(data, DIM, 1), row(data, DIM, 2)], {
    k: 3,
    filters: [{ year: { $exists: true } }, { inStock: false }],
    include: ['payload'],
  })
  t.is(b.plans?.length, 2)
  t.is(b.payloads?.length, 2)
  t.is(b.payloads?.[0].length, b.counts[0])
  await index.save(file)
  for (const mmap of [false, true]) {
    const back = await VectorIndex.load(file, { mmap })
    t.deepEqual(back.config().attributes, SCHEMA)
    t.true(back.config().payload)
    t.is(back.count({ lang: 'fr' }), index.count({ lang: 'fr' }))
    t.deepEqual(back.getPayload(4), index.getPayload(4))
    t.deepEqual(back.getAttributes(9), index.getAttributes(9))
    const rb = back.searchSync(q, { k: 5, filter: { lang: 'fr' }, include: ['payload'] })
    const ra = index.searchSync(q, { k: 5, filter: { lang: 'fr' }, include: ['payload'] })
    t.deepEqual([...rb.keys], [...ra.keys])
    t.deepEqual(rb.payloads, ra.payloads)
    back.close()
  }
})

test('upsert replaces attributes and payload; remove clears them; flat moves keep them right', (t) => {
  for (const kind of ['hnsw', 'flat'] as const) {
    const { index, recs } = build({ index: kind })
    const before = index.count({ lang: 'es' })
    const target = recs.findIndex((r) => r.lang !== 'es')
    index.upsertSync([target], [new Float32Array(DIM).fill(0.5)], {
      attributes: [{ lang: 'es', year: 3000 }],
      payloads: [{ replaced: true }],
    })
    t.is(index.count({ lang: 'es' }), before + 1)
    t.is(index.count({ year: 3000 }), 1)
    t.deepEqual(index.getPayload(target), { replaced: true })
    t.deepEqual(index.getAttributes(target), { lang: 'es', year: 3000 })
    // An upsert without metadata keeps none.
    index.upsertSync([target], [new Float32Array(DIM).fill(0.25)])
    t.deepEqual(index.getAttributes(target), {})
    t.is(index.getPayload(target), undefined)
    // Remove: the key's attributes no longer match; other keys keep theirs (flat moves rows).
    const fr = recs.map((r, i) => (r.lang === 'fr' ? i : -1)).filter((i) => i >= 0)
    index.removeSync(fr.slice(0, 10))
    t.is(index.count({ lang: 'fr' }), fr.length - 10)
    t.is(index.getAttributes(fr[0]), undefined)
    for (let i = 0; i < N; i += 97) {
      if (fr.slice(0, 10).includes(i) || i === target) continue
      t.deepEqual(index.getAttributes(i), JSON.parse(JSON.stringify(recs[i])), `key ${i}`)
    }
    t.is(index.count(), N - 10)
  }
})

test('bad filters are ERR_INVALID_FILTER naming the path', (t) => {
  const { index, data } = build({ index: 'flat' })
  const q = row(data, DIM, 0)
  const cases: Array<[unknown, string]> = [
    [{ nope: 1 }, 'filter.nope'],
    [{ lang: 5 }, 'filter.lang'],
    [{ year: 'x' }, 'filter.year'],
    [{ year: { $gt: Number.NaN } }, 'filter.year.$gt'],
    [{ price: { $lt: Infinity } }, 'filter.price.$lt'],
    [{ lang: { $in: [] } }, 'filter.lang.$in'],
    [{ lang: { $all: ['en'] } }, 'filter.lang.$all'],
    [{ lang: { $regex: 'e' } }, 'filter.lang.$regex'],
    [{ lang: ['en', 'fr'] }, 'filter.lang'],
    [{ $or: [] }, 'filter.$or'],
    [{ $xor: [] }, 'filter.$xor'],
    [{ inStock: 'yes' }, 'filter.inStock'],
    [{ lang: { $gt: 'a' } }, 'filter.lang.$gt'],
    [{ tags: { $exists: 1 } }, 'filter.tags.$exists'],
    [[{ lang: 'en' }], 'filter'],
  ]
  let deep: Filter = { lang: 'en' }
  for (let i = 0; i < 20; i++) deep = { $not: deep }
  cases.push([deep, 'nesting'])
  for (const [f, where] of cases) {
    const err = t.throws(() => index.searchSync(q, { k: 3, filter: f as Filter }))
    t.is((err as { code?: string }).code, 'ERR_INVALID_FILTER', JSON.stringify(f))
    t.true((err as Error).message.includes(where), `${(err as Error).message} should name ${where}`)
    t.throws(() => index.count(f as Filter), { code: 'ERR_INVALID_FILTER' })
  }
  const plain = new VectorIndex({ dim: DIM })
  t.throws(() => plain.count({ lang: 'en' }), { code: 'ERR_INVALID_FILTER' })
  t.throws(() => plain.searchSync(q, { filter: {} }), { code: 'ERR_INVALID_FILTER' })
})

test('bad attributes and payloads are refused and nothing of the call is stored', async (t) => {
  const { index } = build({ index: 'flat' })
  const v = randomVectors(2, DIM, 1)
  const cyclic: Record<string, unknown> = {}
  cyclic.self = cyclic
  const bad: Array<[string, Record<string, unknown>]> = [
    ['cyclic', { payloads: [{ ok: 1 }, cyclic] }],
    ['BigInt', { payloads: [{ ok: 1 }, { n: 10n }] }],
    ['function', { payloads: [{ ok: 1 }, { f: () => 1 }] }],
    ['NaN', { payloads: [{ ok: 1 }, { x: Number.NaN }] }],
    ['too large', { payloads: [{ ok: 1 }, 'x'.repeat(1 << 20)] }],
    ['wrong length', { payloads: [{ ok: 1 }] }],
    ['undeclared attribute', { attributes: [{ lang: 'en' }, { color: 'red' }] }],
    ['wrong attribute type', { attributes: [{ year: 2000 }, { year: 'x' }] }],
    ['fractional int', { attributes: [{ year: 2000 }, { year: 2000.5 }] }],
    ['NaN attribute', { attributes: [{ price: 1 }, { price: Number.NaN }] }],
  ]
  for (const [label, opts] of bad) {
    await expectCode(t, () => index.add([N + 1, N + 2], v, opts), 'ERR_INVALID_ARGUMENT', label)
    t.throws(() => index.addSync([N + 1, N + 2], v, opts), { code: 'ERR_INVALID_ARGUMENT' }, label)
    t.is(index.size, N, `${label}: nothing stored`)
  }
  const noMeta = new VectorIndex({ dim: DIM })
  t.throws(() => noMeta.addSync([1], randomVectors(1, DIM, 2), { attributes: [{ lang: 'en' }] }), {
    code: 'ERR_INVALID_ARGUMENT',
  })
  t.throws(() => noMeta.addSync([1], randomVectors(1, DIM, 2), { payloads: [{}] }), { code: 'ERR_INVALID_ARGUMENT' })
  t.throws(() => new VectorIndex({ dim: 4, attributes: { a: 'text' as never } }), { code: 'ERR_INVALID_ARGUMENT' })
  t.throws(() => index.searchSync(row(v, DIM, 0), { filter: {}, filterStrategy: 'fast' as never }), {
    code: 'ERR_INVALID_ARGUMENT',
  })
})

test('datetimes as int milliseconds: a date range filter', (t) => {
  const days = 40
  const start = Date.UTC(2024, 0, 1)
  const index = new VectorIndex({ dim: 2, index: 'flat', attributes: { at: 'int' } })
  index.addSync(seqKeys(days), randomVectors(days, 2, 4), {
    attributes: Array.from({ length: days }, (_, i) => ({ at: start + i * 86_400_000 })),
  })
  const from = Date.UTC(2024, 0, 10)
  const to = Date.UTC(2024, 0, 20)
  t.is(index.count({ at: { $gte: from, $lt: to } }), 10)
})

test('MultiVectorIndex: the filter applies to the FDE candidates; with every match a candidate the result is exact', async (t) => {
  const { MultiVectorIndex } = await import('../ts/index')
  const dim = 16
  const n = 300
  const rnd = mulberry32(21)
  const docs = Array.from({ length: n }, () =>
    Float32Array.from({ length: dim * (2 + Math.floor(rnd() * 4)) }, () => rnd() - 0.5),
  )
  const attrs = Array.from({ length: n }, (_, i) => ({ group: `g${i % 7}`, rank: i }))
  const mv = new MultiVectorIndex({ dim, index: 'flat', attributes: { group: 'keyword', rank: 'int' }, payload: true })
  await mv.add(seqKeys(n), docs, { attributes: attrs, payloads: attrs.map((a) => ({ r: a.rank })) })
  t.is(mv.count({ group: 'g3' }), attrs.filter((a) => a.group === 'g3').length)
  t.deepEqual(mv.getPayload(5), { r: 5 })
  t.deepEqual(mv.getAttributes(5), { group: 'g5', rank: 5 })
  for (let qi = 0; qi < 10; qi++) {
    const q = Float32Array.from({ length: dim * 3 }, () => rnd() - 0.5)
    const f: Filter = { group: 'g3', rank: { $lt: 200 } }
    const matched = attrs.filter((a) => a.group === 'g3' && a.rank < 200).length
    const all = mv.searchExhaustiveSync(q, { k: n })
    const want = [...all.keys].filter((key) => attrs[key].group === 'g3' && attrs[key].rank < 200).slice(0, 5)
    const r = mv.searchSync(q, { k: 5, filter: f, candidates: matched })
    t.deepEqual([...r.keys], want)
  }
  const file = path.join(tempDir(t), 'mv.qvr')
  await mv.save(file)
  const back = await MultiVectorIndex.load(file)
  t.is(back.count({ group: 'g3' }), mv.count({ group: 'g3' }))
  t.deepEqual(back.getPayload(7), { r: 7 })
})
