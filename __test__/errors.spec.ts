import test from 'ava'
import { MAX_EF, MAX_K, QuiverError, VectorIndex } from '../ts/index'
import { toQuiverError } from '../ts/errors'
import type { Keys, Vectors, Vector, SearchOptions } from '../ts/index'
import { expectCode, expectCodeSync, randomVectors, seqKeys } from './helpers'

const DIM = 4

function smallIndex(type: 'hnsw' | 'flat' = 'hnsw'): VectorIndex {
  const index = new VectorIndex({ dim: DIM, index: type, threads: 2 })
  index.addSync(seqKeys(20), randomVectors(20, DIM, 5))
  return index
}

test('QuiverError shape', (t) => {
  const e = new QuiverError('ERR_ABORTED', 'stopped', { inserted: 3 })
  t.true(e instanceof Error)
  t.true(e instanceof QuiverError)
  t.is(e.name, 'QuiverError')
  t.is(e.code, 'ERR_ABORTED')
  t.is(e.message, 'stopped')
  t.is(e.inserted, 3)
  t.is(new QuiverError('ERR_IO', 'x').inserted, undefined)
  t.true(typeof e.stack === 'string')
})

test('coded errors keep code and message; everything else becomes ERR_INTERNAL', (t) => {
  const coded = Object.assign(new Error('boom'), { code: 'ERR_CORRUPT_FILE' })
  const q = toQuiverError(coded)
  t.true(q instanceof QuiverError)
  t.is(q.code, 'ERR_CORRUPT_FILE')
  t.is(q.message, 'boom')
  const unknownCode = toQuiverError(Object.assign(new Error('odd'), { code: 'GenericFailure' }))
  t.is(unknownCode.code, 'ERR_INTERNAL')
  t.is(unknownCode.message, 'odd')
  t.is(toQuiverError(new TypeError('t')).code, 'ERR_INTERNAL')
  t.is(toQuiverError('a string').code, 'ERR_INTERNAL')
  t.is(toQuiverError('a string').message, 'a string')
  const same = new QuiverError('ERR_IO', 'io')
  t.is(toQuiverError(same), same)
})

// ---------------------------------------------------------------- ERR_INVALID_ARGUMENT

const badSearchOptions: [string, unknown][] = [
  ['k 0', { k: 0 }],
  ['k -1', { k: -1 }],
  ['k 1.5', { k: 1.5 }],
  ['k NaN', { k: NaN }],
  ['k > MAX_K', { k: MAX_K + 1 }],
  ['k string', { k: '10' }],
  ['ef 0', { ef: 0 }],
  ['ef > MAX_EF', { ef: MAX_EF + 1 }],
  ['ef 2.5', { ef: 2.5 }],
  ['options not an object', 10],
  ['signal not a signal', { signal: {} }],
]

for (const [label, opts] of badSearchOptions) {
  test(`search rejects ${label}`, async (t) => {
    const index = smallIndex()
    const q = [0, 0, 0, 0]
    const o = opts as SearchOptions
    await expectCode(t, () => index.search(q, o), 'ERR_INVALID_ARGUMENT', 'search')
    expectCodeSync(t, () => index.searchSync(q, o), 'ERR_INVALID_ARGUMENT', 'searchSync')
    await expectCode(t, () => index.searchBatch([q], o), 'ERR_INVALID_ARGUMENT', 'searchBatch')
    expectCodeSync(t, () => index.searchBatchSync([q], o), 'ERR_INVALID_ARGUMENT', 'searchBatchSync')
  })
}

test('async methods reject (never throw synchronously) on bad input', async (t) => {
  const index = smallIndex()
  let syncThrow = false
  let p: Promise<unknown> | undefined
  try {
    p = index.search([0, 0, 0, 0], { k: 0 })
  } catch {
    syncThrow = true
  }
  t.false(syncThrow)
  await t.throwsAsync(p!, { instanceOf: QuiverError })
})

const badKeys: [string, unknown][] = [
  ['negative key', [1, -1]],
  ['fractional key', [1, 2.5]],
  ['key 2^32', [1, 2 ** 32]],
  ['NaN key', [1, NaN]],
  ['string key', [1, '2']],
  ['Int32Array keys', new Int32Array([1, 2])],
  ['Float64Array keys', new Float64Array([1, 2])],
  ['keys not an array', 'ab'],
]

for (const [label, keys] of badKeys) {
  test(`add/upsert/remove reject ${label}`, async (t) => {
    const index = smallIndex()
    const before = index.size
    const k = keys as Keys
    const v = [
      [1, 1, 1, 1],
      [2, 2, 2, 2],
    ]
    await expectCode(t, () => index.add(k, v), 'ERR_INVALID_ARGUMENT', 'add')
    await expectCode(t, () => index.upsert(k, v), 'ERR_INVALID_ARGUMENT', 'upsert')
    expectCodeSync(t, () => index.addSync(k, v), 'ERR_INVALID_ARGUMENT', 'addSync')
    expectCodeSync(t, () => index.upsertSync(k, v), 'ERR_INVALID_ARGUMENT', 'upsertSync')
    await expectCode(t, () => index.remove(k), 'ERR_INVALID_ARGUMENT', 'remove')
    expectCodeSync(t, () => index.removeSync(k), 'ERR_INVALID_ARGUMENT', 'removeSync')
    t.is(index.size, before)
  })
}

test('has/get reject invalid keys', (t) => {
  const index = smallIndex()
  for (const key of [-1, 1.5, 2 ** 32, NaN, '1']) {
    expectCodeSync(t, () => index.has(key as number), 'ERR_INVALID_ARGUMENT', `has(${String(key)})`)
    expectCodeSync(t, () => index.get(key as number), 'ERR_INVALID_ARGUMENT', `get(${String(key)})`)
  }
})

test('keys/vectors count mismatch is ERR_INVALID_ARGUMENT', async (t) => {
  const index = smallIndex()
  await expectCode(
    t,
    () =>
      index.add(
        [100, 101, 102],
        [
          [1, 1, 1, 1],
          [2, 2, 2, 2],
        ],
      ),
    'ERR_INVALID_ARGUMENT',
  )
  await expectCode(t, () => index.add([100], [new Float32Array(4), new Float32Array(4)]), 'ERR_INVALID_ARGUMENT')
  expectCodeSync(t, () => index.upsertSync([100, 101], [[1, 1, 1, 1]]), 'ERR_INVALID_ARGUMENT')
  t.is(index.size, 20)
  t.false(index.has(100))
})

test('wrongly typed vectors, queries and options are ERR_INVALID_ARGUMENT', async (t) => {
  const index = smallIndex()
  await expectCode(t, () => index.add([100], 'abcd' as unknown as Vectors), 'ERR_INVALID_ARGUMENT', 'string vectors')
  await expectCode(t, () => index.add([100], new Float64Array(4) as unknown as Vectors), 'ERR_INVALID_ARGUMENT', 'f64')
  await expectCode(t, () => index.add([100], [['1', 2, 3, 4]] as unknown as Vectors), 'ERR_INVALID_ARGUMENT', 'str elt')
  await expectCode(t, () => index.add([100], [null] as unknown as Vectors), 'ERR_INVALID_ARGUMENT', 'null row')
  await expectCode(t, () => index.search('abcd' as unknown as Vector), 'ERR_INVALID_ARGUMENT', 'string query')
  await expectCode(t, () => index.search([1, 2, 3, 'x'] as unknown as Vector), 'ERR_INVALID_ARGUMENT', 'str in query')
  await expectCode(t, () => index.searchBatch(42 as unknown as Vectors), 'ERR_INVALID_ARGUMENT', 'number queries')
  await expectCode(
    t,
    () => index.add([100], [[1, 2, 3, 4]], { onProgress: 5 as unknown as () => void }),
    'ERR_INVALID_ARGUMENT',
    'onProgress',
  )
  await expectCode(
    t,
    () => index.add([100], [[1, 2, 3, 4]], { signal: 'x' as unknown as AbortSignal }),
    'ERR_INVALID_ARGUMENT',
    'signal',
  )
  await expectCode(t, () => index.save(''), 'ERR_INVALID_ARGUMENT', 'empty path')
  await expectCode(t, () => VectorIndex.load(42 as unknown as string), 'ERR_INVALID_ARGUMENT', 'load path')
  expectCodeSync(t, () => VectorIndex.loadSync('/x', { mmap: 'yes' as unknown as boolean }), 'ERR_INVALID_ARGUMENT')
  t.is(index.size, 20)
})

// ---------------------------------------------------------------- ERR_DIMENSION_MISMATCH

test('dimension mismatches', async (t) => {
  const index = smallIndex()
  const c = 'ERR_DIMENSION_MISMATCH'
  await expectCode(t, () => index.add([100], new Float32Array(3)), c, 'flat f32 too short')
  await expectCode(t, () => index.add([100], new Float32Array(5)), c, 'flat f32 too long')
  await expectCode(t, () => index.add([100, 101], new Float32Array(4)), c, 'flat f32: keys*dim != length')
  await expectCode(t, () => index.add([100, 101], new Float32Array(12)), c, 'flat f32: 3 rows for 2 keys')
  await expectCode(t, () => index.add([100], [[1, 2, 3]]), c, 'number[] row too short')
  await expectCode(t, () => index.add([100, 101], [new Float32Array(4), new Float32Array(5)]), c, 'f32 row too long')
  await expectCode(t, () => index.add([100], [1, 2, 3, 4, 5]), c, 'flat number[]')
  expectCodeSync(t, () => index.addSync([100], new Float32Array(8)), c, 'addSync')
  expectCodeSync(t, () => index.upsertSync([100], [[1, 2]]), c, 'upsertSync')
  await expectCode(t, () => index.search(new Float32Array(3)), c, 'query f32')
  await expectCode(t, () => index.search([1, 2, 3, 4, 5]), c, 'query number[]')
  expectCodeSync(t, () => index.searchSync(new Float32Array(0)), c, 'searchSync empty')
  await expectCode(t, () => index.searchBatch(new Float32Array(6)), c, 'batch flat')
  expectCodeSync(
    t,
    () =>
      index.searchBatchSync([
        [1, 2, 3, 4],
        [1, 2, 3],
      ]),
    c,
    'batch rows',
  )
  t.is(index.size, 20)
})

// ---------------------------------------------------------------- ERR_NON_FINITE

for (const bad of [NaN, Infinity, -Infinity]) {
  test(`non-finite value ${bad} is rejected in add and search (engine and JS conversion paths)`, async (t) => {
    const index = smallIndex()
    const c = 'ERR_NON_FINITE'
    const flat = randomVectors(300, DIM, 9)
    flat[299 * DIM + 2] = bad // last row only: nothing before it may be inserted
    const k = seqKeys(300, 1000)
    await expectCode(t, () => index.add(k, flat), c, 'add f32 (engine)')
    expectCodeSync(t, () => index.addSync(k, flat), c, 'addSync f32 (engine)')
    await expectCode(t, () => index.upsert(k, flat), c, 'upsert f32 (engine)')
    await expectCode(
      t,
      () =>
        index.add(
          [1000, 1001],
          [
            [1, 2, 3, 4],
            [1, bad, 3, 4],
          ],
        ),
      c,
      'add number[][]',
    )
    await expectCode(t, () => index.add([1000], [new Float32Array([bad, 0, 0, 0])]), c, 'add Float32Array[]')
    t.is(index.size, 20, 'nothing inserted')
    t.false(index.has(1000))
    t.false(index.has(1298))

    await expectCode(t, () => index.search(new Float32Array([0, bad, 0, 0])), c, 'search f32 (engine)')
    expectCodeSync(t, () => index.searchSync(new Float32Array([0, 0, 0, bad])), c, 'searchSync f32')
    await expectCode(t, () => index.search([0, bad, 0, 0]), c, 'search number[]')
    const qs = new Float32Array(8)
    qs[6] = bad
    await expectCode(t, () => index.searchBatch(qs), c, 'searchBatch f32')
    expectCodeSync(
      t,
      () =>
        index.searchBatchSync([
          [0, 0, 0, 0],
          [bad, 0, 0, 0],
        ]),
      c,
      'searchBatchSync rows',
    )
    // Also on a flat index.
    const f = smallIndex('flat')
    await expectCode(t, () => f.search(new Float32Array([bad, 0, 0, 0])), c, 'flat search')
    await expectCode(t, () => f.add(k, flat), c, 'flat add')
    t.is(f.size, 20)
  })
}

test('a finite double that overflows float32 is non-finite', async (t) => {
  const index = smallIndex()
  await expectCode(t, () => index.add([1000], [[1e39, 0, 0, 0]]), 'ERR_NON_FINITE')
  t.is(index.size, 20)
})

// ---------------------------------------------------------------- ERR_DUPLICATE_KEY

for (const type of ['hnsw', 'flat'] as const) {
  test(`${type}: duplicate keys within one batch and with existing keys insert nothing`, async (t) => {
    const index = smallIndex(type) // keys 0..19
    const c = 'ERR_DUPLICATE_KEY'
    const v3 = randomVectors(3, DIM, 11)
    await expectCode(t, () => index.add(new Uint32Array([100, 101, 100]), v3), c, 'within batch (async)')
    expectCodeSync(t, () => index.addSync([100, 101, 100], v3), c, 'within batch (sync)')
    await expectCode(t, () => index.upsert([100, 101, 100], v3), c, 'upsert within batch')
    expectCodeSync(t, () => index.upsertSync(new Uint32Array([100, 101, 100]), v3), c, 'upsertSync within batch')
    t.is(index.size, 20)
    t.false(index.has(100))
    t.false(index.has(101))

    // New keys first, existing key last: the whole call must be rejected.
    const big = randomVectors(500, DIM, 12)
    const keys = seqKeys(500, 1000)
    keys[499] = 7
    const before = index.get(7)
    await expectCode(t, () => index.add(keys, big), c, 'existing key (async)')
    expectCodeSync(t, () => index.addSync(keys, big), c, 'existing key (sync)')
    t.is(index.size, 20)
    t.false(index.has(1000))
    t.false(index.has(1498))
    t.deepEqual(index.get(7), before, 'existing vector unchanged')
    // The index still works and the same keys can be upserted.
    t.is(await index.upsert(keys, big), 500)
    t.is(index.size, 519)
  })
}

// ---------------------------------------------------------------- codes not reachable through this API

test('every error raised is a QuiverError with a known code', async (t) => {
  const index = smallIndex()
  const errors: unknown[] = []
  const attempts: (() => unknown)[] = [
    () => index.add([1], [[0, 0, 0, 0]]),
    () => index.search([0, 0]),
    () => index.search([NaN, 0, 0, 0]),
    () => VectorIndex.load('/nonexistent/quiver/file.idx'),
  ]
  for (const f of attempts) {
    try {
      await f()
    } catch (err) {
      errors.push(err)
    }
  }
  t.is(errors.length, attempts.length)
  for (const e of errors) {
    t.true(e instanceof QuiverError)
    t.false((e as QuiverError).code === 'ERR_INTERNAL', (e as Error).message)
  }
})
