/* fuse(): hand-computed RRF, convex (min-max, z-score, theoretical) and DBSF examples, and every error. */
import test from 'ava'
import type { ExecutionContext } from 'ava'
import { fuse } from '../ts/fusion'
import type { FusionList, FusionMethod, FuseOptions, FusionResult } from '../ts/fusion'
import { QuiverError } from '../ts/errors'
import type { QuiverErrorCode } from '../ts/errors'

const f32 = (...xs: number[]): Float32Array => Float32Array.from(xs)
const u32 = (...xs: number[]): Uint32Array => Uint32Array.from(xs)
const fr = Math.fround

function throwsCode(t: ExecutionContext, fn: () => unknown, code: QuiverErrorCode, label: string): void {
  const err = t.throws(fn, { instanceOf: QuiverError }, label) as QuiverError | undefined
  if (err !== undefined) t.is(err.code, code, `${label}: ${err.message}`)
}

function approxArray(t: ExecutionContext, got: Float32Array, want: number[], label = ''): void {
  t.is(got.length, want.length, `${label} length`)
  for (let i = 0; i < want.length; i++) {
    t.true(
      Math.abs(got[i] - want[i]) <= 1e-6 * Math.max(1, Math.abs(want[i])),
      `${label}[${i}]: ${got[i]} vs ${want[i]}`,
    )
  }
}

test('rrf: hand-computed example, ties broken by key, perList ranks and raw scores', (t) => {
  const lists: Array<FusionList<Uint32Array>> = [
    { keys: u32(1, 2, 3), scores: f32(0.9, 0.8, 0.7) },
    { keys: u32(3, 4, 1), scores: f32(5, 4, 3) },
  ]
  const r: FusionResult<Uint32Array> = fuse(lists, { method: 'rrf' }, { limit: 10 })
  t.true(r.keys instanceof Uint32Array)
  // 1: 1/61 + 1/63 = 3: 1/63 + 1/61; 2: 1/62 = 4: 1/62 → ties by key ascending
  t.deepEqual(Array.from(r.keys), [1, 3, 2, 4])
  t.deepEqual(Array.from(r.scores), [fr(1 / 61 + 1 / 63), fr(1 / 61 + 1 / 63), fr(1 / 62), fr(1 / 62)])
  t.deepEqual(Array.from(r.perList.ranks[0]), [1, 3, 2, -1])
  t.deepEqual(Array.from(r.perList.ranks[1]), [3, 1, -1, 2])
  t.deepEqual(Array.from(r.perList.scores[0]).slice(0, 3), [fr(0.9), fr(0.7), fr(0.8)])
  t.true(Number.isNaN(r.perList.scores[0][3]))
  t.deepEqual(
    Array.from(r.perList.scores[1]).filter((x) => !Number.isNaN(x)),
    [3, 5, 4],
  )
  t.true(Number.isNaN(r.perList.scores[1][2]))

  const top2 = fuse(lists, { method: 'rrf' }, { limit: 2 })
  t.deepEqual(Array.from(top2.keys), [1, 3])
  t.is(top2.perList.ranks[0].length, 2)
  t.is(top2.perList.scores[1].length, 2)
})

test('rrf: ranks come from scores (unsorted input), equal scores keep the given order; k and weights', (t) => {
  // scores 1, 3, 1 → ranks 20:1, 10:2, 30:3 (10 before 30: given order)
  const r = fuse([{ keys: u32(10, 20, 30), scores: f32(1, 3, 1) }], { method: 'rrf', k: 0, weights: [2] }, { limit: 5 })
  t.deepEqual(Array.from(r.keys), [20, 10, 30])
  t.deepEqual(Array.from(r.scores), [2, 1, fr(2 / 3)])
  t.deepEqual(Array.from(r.perList.ranks[0]), [1, 2, 3])

  // weights: list 1 counts 3×: 7 → 3/61, 5 → 1/61 + 3/62, 6 → 1/62
  const w = fuse(
    [
      { keys: u32(5, 6), scores: f32(2, 1) },
      { keys: u32(7, 5), scores: f32(2, 1) },
    ],
    { method: 'rrf', weights: [1, 3] },
    { limit: 3 },
  )
  t.deepEqual(Array.from(w.keys), [5, 7, 6])
  t.deepEqual(Array.from(w.scores), [fr(1 / 61 + 3 / 62), fr(3 / 61), fr(1 / 62)])
})

test('rrf: string keys stay strings, ties in UTF-16 code-unit order', (t) => {
  const r = fuse(
    [
      { keys: ['é'], scores: f32(1) },
      { keys: ['z'], scores: f32(1) },
      { keys: ['B', 'a'], scores: f32(2, 1) },
    ],
    { method: 'rrf' },
    { limit: 10 },
  )
  const keys: string[] = r.keys
  t.true(Array.isArray(keys))
  // all of 'é', 'z', 'B' score 1/61; 'a' scores 1/62. 'B' (66) < 'z' (122) < 'é' (233).
  t.deepEqual(keys, ['B', 'z', 'é', 'a'])
  t.deepEqual(Array.from(r.perList.ranks[2]), [1, -1, -1, 2])
})

test('empty lists are allowed', (t) => {
  const r = fuse(
    [
      { keys: u32(), scores: f32() },
      { keys: u32(4), scores: f32(1) },
    ],
    { method: 'rrf' },
    { limit: 3 },
  )
  t.deepEqual(Array.from(r.keys), [4])
  t.deepEqual(Array.from(r.perList.ranks[0]), [-1])
  const none = fuse([{ keys: [], scores: f32() }], { method: 'dbsf' }, { limit: 3 })
  t.deepEqual(none.keys, [])
  t.is(none.scores.length, 0)
  const cv = fuse(
    [
      { keys: u32(1, 2), scores: f32(1, 0) },
      { keys: u32(), scores: f32() },
    ],
    { method: 'convex', alpha: 0.5, normalize: 'zscore' },
    { limit: 3 },
  )
  // dense z: 1 → 1, 2 → −1; the empty lexical list adds 0
  t.deepEqual(Array.from(cv.keys), [1, 2])
  t.deepEqual(Array.from(cv.scores), [0.5, -0.5])
})

const dense = (): FusionList<Uint32Array> => ({ keys: u32(1, 2, 3), scores: f32(1, 0.5, 0) })
const lexical = (): FusionList<Uint32Array> => ({ keys: u32(2, 4), scores: f32(10, 4) })

test('convex min-max: hand-computed; absent keys get 0', (t) => {
  // φ dense: 1 → 1, 2 → 0.5, 3 → 0; φ lexical: 2 → 1, 4 → 0
  const a = fuse([dense(), lexical()], { method: 'convex', alpha: 0.5, normalize: 'minmax' }, { limit: 10 })
  t.deepEqual(Array.from(a.keys), [2, 1, 3, 4])
  t.deepEqual(Array.from(a.scores), [0.75, 0.5, 0, 0])
  const b = fuse([dense(), lexical()], { method: 'convex', alpha: 0.25, normalize: 'minmax' }, { limit: 10 })
  t.deepEqual(Array.from(b.keys), [2, 1, 3, 4])
  t.deepEqual(Array.from(b.scores), [0.875, 0.25, 0, 0])
  const onlyDense = fuse([dense(), lexical()], { method: 'convex', alpha: 1, normalize: 'minmax' }, { limit: 10 })
  t.deepEqual(Array.from(onlyDense.keys), [1, 2, 3, 4])
  t.deepEqual(Array.from(onlyDense.perList.ranks[1]), [-1, 1, -1, 2])
})

test('convex min-max: a single-hit or all-equal list gives φ = 1 to its hits', (t) => {
  const single = fuse(
    [dense(), { keys: u32(4), scores: f32(7) }],
    { method: 'convex', alpha: 0.5, normalize: 'minmax' },
    { limit: 10 },
  )
  // 1: 0.5, 4: 0.5 (tie → key order), 2: 0.25, 3: 0
  t.deepEqual(Array.from(single.keys), [1, 4, 2, 3])
  t.deepEqual(Array.from(single.scores), [0.5, 0.5, 0.25, 0])
  const equal = fuse(
    [dense(), { keys: u32(3, 9), scores: f32(2, 2) }],
    { method: 'convex', alpha: 0.5, normalize: 'minmax' },
    { limit: 10 },
  )
  // 3: 0 + 0.5, 9: 0.5, 1: 0.5, 2: 0.25
  t.deepEqual(Array.from(equal.keys), [1, 3, 9, 2])
  t.deepEqual(Array.from(equal.scores), [0.5, 0.5, 0.5, 0.25])
})

test('convex z-score: hand-computed; absent keys get the list minimum z', (t) => {
  const d = { keys: u32(1, 2, 3), scores: f32(3, 2, 1) } // μ 2, σ √(2/3)
  const r = fuse([d, lexical()], { method: 'convex', alpha: 0.5, normalize: 'zscore' }, { limit: 10 }) // lexical μ 7, σ 3
  const zmax = 1 / Math.sqrt(2 / 3)
  // 1: ½·zmax + ½·(−1) (absent from lexical → its min z −1); 2: 0 + ½·1; 3 and 4: ½·(−zmax) + ½·(−1)
  t.deepEqual(Array.from(r.keys), [2, 1, 3, 4])
  approxArray(t, r.scores, [0.5, 0.5 * zmax - 0.5, -0.5 * zmax - 0.5, -0.5 * zmax - 0.5])
  t.is(r.scores[2], r.scores[3])

  // all-equal lexical scores: z = 0 for its hits and for absent keys
  const eq = fuse(
    [d, { keys: u32(2, 4), scores: f32(5, 5) }],
    { method: 'convex', alpha: 0.5, normalize: 'zscore' },
    { limit: 10 },
  )
  t.deepEqual(Array.from(eq.keys), [1, 2, 3, 4])
  approxArray(t, eq.scores, [0.5 * zmax, 0, -0.5 * zmax, -0.5 * zmax])
})

test('convex theoretical: bounds per list, clamped, absent keys get 0', (t) => {
  const r = fuse(
    [
      { keys: u32(1, 2), scores: f32(0.5, -1) }, // cosine in [−1, 1] → 0.75, 0
      { keys: u32(2, 3), scores: f32(10, 30) }, // BM25 in [0, 20] → 0.5, 1 (clamped)
    ],
    {
      method: 'convex',
      alpha: 0.5,
      normalize: 'theoretical',
      theoreticalBounds: [
        { min: -1, max: 1 },
        { min: 0, max: 20 },
      ],
    },
    { limit: 10 },
  )
  t.deepEqual(Array.from(r.keys), [3, 1, 2])
  t.deepEqual(Array.from(r.scores), [0.5, 0.375, 0.25])
})

test('dbsf: hand-computed; σ = 0 gives 1', (t) => {
  const r = fuse(
    [
      { keys: u32(1, 2, 3), scores: f32(3, 2, 1) },
      { keys: u32(3), scores: f32(9) },
    ],
    { method: 'dbsf' },
    { limit: 10 },
  )
  const s = Math.sqrt(2 / 3)
  // (s − (μ − 3σ)) / 6σ: 1 → ½ + 1/(6σ), 2 → ½, 3 → ½ − 1/(6σ) + 1
  t.deepEqual(Array.from(r.keys), [3, 1, 2])
  approxArray(t, r.scores, [1.5 - 1 / (6 * s), 0.5 + 1 / (6 * s), 0.5])
  t.deepEqual(Array.from(r.perList.ranks[1]), [1, -1, -1])
})

test('errors are coded', (t) => {
  const ok: FusionList<Uint32Array> = { keys: u32(1, 2), scores: f32(2, 1) }
  const rrf: FusionMethod = { method: 'rrf' }
  const lim: FuseOptions = { limit: 5 }
  const bad = (x: unknown): never => x as never
  const IA: QuiverErrorCode = 'ERR_INVALID_ARGUMENT'

  throwsCode(t, () => fuse([ok, bad({ keys: ['a'], scores: f32(1) })], rrf, lim), IA, 'mixed key types')
  throwsCode(t, () => fuse([bad({ keys: ['a'], scores: f32(1) }), ok], rrf, lim), IA, 'mixed key types (strings first)')
  throwsCode(t, () => fuse([bad({ keys: ['a', 3], scores: f32(1, 2) })], rrf, lim), IA, 'non-string key')
  throwsCode(t, () => fuse([bad({ keys: [1, 2], scores: f32(1, 2) })], rrf, lim), IA, 'number[] keys')
  throwsCode(t, () => fuse([bad({ keys: u32(1), scores: [1] })], rrf, lim), IA, 'number[] scores')
  throwsCode(t, () => fuse([{ keys: u32(1, 2, 3), scores: f32(1, 2) }], rrf, lim), IA, 'length mismatch')
  throwsCode(t, () => fuse([], rrf, lim), IA, 'no lists')
  throwsCode(t, () => fuse(bad(null), rrf, lim), IA, 'lists not an array')
  throwsCode(t, () => fuse([bad(null)], rrf, lim), IA, 'list not an object')
  throwsCode(t, () => fuse([ok], bad({ method: 'borda' }), lim), IA, 'unknown method')
  throwsCode(t, () => fuse([ok], bad(undefined), lim), IA, 'missing method')
  throwsCode(t, () => fuse([ok], { method: 'rrf', k: -1 }, lim), IA, 'negative k')
  throwsCode(t, () => fuse([ok], { method: 'rrf', k: NaN }, lim), IA, 'NaN k')
  throwsCode(t, () => fuse([ok, ok], { method: 'rrf', weights: [1] }, lim), IA, 'weights length')
  throwsCode(t, () => fuse([ok], { method: 'rrf', weights: [-1] }, lim), IA, 'negative weight')
  throwsCode(t, () => fuse([ok], { method: 'rrf', weights: [NaN] }, lim), IA, 'NaN weight')
  for (const alpha of [-0.1, 1.5, NaN]) {
    throwsCode(t, () => fuse([ok, ok], { method: 'convex', alpha, normalize: 'minmax' }, lim), IA, `alpha ${alpha}`)
  }
  throwsCode(t, () => fuse([ok], { method: 'convex', alpha: 0.5, normalize: 'minmax' }, lim), IA, 'convex with 1 list')
  throwsCode(
    t,
    () => fuse([ok, ok, ok], { method: 'convex', alpha: 0.5, normalize: 'minmax' }, lim),
    IA,
    'convex with 3 lists',
  )
  throwsCode(
    t,
    () => fuse([ok, ok], { method: 'convex', alpha: 0.5, normalize: bad('l2') }, lim),
    IA,
    'unknown normalize',
  )
  throwsCode(
    t,
    () => fuse([ok, ok], { method: 'convex', alpha: 0.5, normalize: 'theoretical' }, lim),
    IA,
    'missing bounds',
  )
  throwsCode(
    t,
    () =>
      fuse(
        [ok, ok],
        { method: 'convex', alpha: 0.5, normalize: 'theoretical', theoreticalBounds: [{ min: 0, max: 1 }] },
        lim,
      ),
    IA,
    'one bound',
  )
  throwsCode(
    t,
    () =>
      fuse(
        [ok, ok],
        {
          method: 'convex',
          alpha: 0.5,
          normalize: 'theoretical',
          theoreticalBounds: [
            { min: 0, max: 1 },
            { min: 1, max: 1 },
          ],
        },
        lim,
      ),
    IA,
    'empty bound range',
  )
  throwsCode(t, () => fuse([{ keys: u32(1, 2), scores: f32(1, NaN) }], rrf, lim), 'ERR_NON_FINITE', 'NaN score')
  throwsCode(
    t,
    () => fuse([{ keys: u32(1), scores: f32(Infinity) }], { method: 'dbsf' }, lim),
    'ERR_NON_FINITE',
    'infinite score',
  )
  throwsCode(
    t,
    () => fuse([{ keys: u32(1, 2, 1), scores: f32(3, 2, 1) }], rrf, lim),
    'ERR_DUPLICATE_KEY',
    'duplicate numeric key',
  )
  throwsCode(
    t,
    () => fuse([{ keys: ['x', 'x'], scores: f32(3, 2) }], rrf, lim),
    'ERR_DUPLICATE_KEY',
    'duplicate string key',
  )
  for (const limit of [0, -1, 1.5, NaN, Infinity, bad('10'), bad(undefined)]) {
    throwsCode(t, () => fuse([ok], rrf, { limit }), IA, `limit ${String(limit)}`)
  }
  throwsCode(t, () => fuse([ok], rrf, bad(undefined)), IA, 'missing options')
})
