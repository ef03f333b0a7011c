import test from 'ava'
import { getEventListeners } from 'node:events'
import { QuiverError, VectorIndex } from '../ts/index'
import { expectCode, expectCodeSync, randomVectors, row, seqKeys } from './helpers'

const DIM = 8

function abortedSignal(): AbortSignal {
  const c = new AbortController()
  c.abort()
  return c.signal
}

test('pre-aborted add/upsert reject with ERR_ABORTED, inserted 0, and insert nothing', async (t) => {
  const index = new VectorIndex({ dim: DIM })
  const data = randomVectors(100, DIM, 41)
  let progressCalls = 0
  const e = await expectCode(
    t,
    () => index.add(seqKeys(100), data, { signal: abortedSignal(), onProgress: () => progressCalls++ }),
    'ERR_ABORTED',
  )
  t.is(e.inserted, 0)
  t.regex(e.message, /aborted after inserting 0 of 100 vectors/)
  const u = await expectCode(t, () => index.upsert(seqKeys(100), data, { signal: abortedSignal() }), 'ERR_ABORTED')
  t.is(u.inserted, 0)
  t.is(index.size, 0)
  t.is(progressCalls, 0)
})

test('pre-aborted search/searchBatch reject with ERR_ABORTED', async (t) => {
  const index = new VectorIndex({ dim: DIM })
  await index.add(seqKeys(100), randomVectors(100, DIM, 42))
  const q = new Float32Array(DIM)
  const s = abortedSignal()
  const e1 = await expectCode(t, () => index.search(q, { k: 3, signal: s }), 'ERR_ABORTED', 'search')
  t.is(e1.inserted, undefined)
  await expectCode(t, () => index.searchBatch([q, q], { k: 3, signal: s }), 'ERR_ABORTED', 'searchBatch')
  expectCodeSync(t, () => index.searchSync(q, { k: 3, signal: s }), 'ERR_ABORTED', 'searchSync')
  expectCodeSync(t, () => index.searchBatchSync(q, { k: 3, signal: s }), 'ERR_ABORTED', 'searchBatchSync')
  // A live, never-aborted signal does not disturb anything, and its listener is removed afterwards.
  const live = new AbortController()
  const r = await index.search(q, { k: 3, signal: live.signal })
  t.is(r.keys.length, 3)
  await index.searchBatch([q, q], { k: 3, signal: live.signal })
  await index.add([1000], [q], { signal: live.signal })
  t.is(getEventListeners(live.signal, 'abort').length, 0, 'abort listeners leaked')
  live.abort() // after completion: harmless
  t.is(index.size, 101)
})

test('mid-way abort of a 50k add from the progress callback keeps a valid index', async (t) => {
  const n = 50000
  const data = randomVectors(n, DIM, 43)
  const keys = seqKeys(n)
  const index = new VectorIndex({ dim: DIM, threads: 2, efConstruction: 40, m: 8 })
  const controller = new AbortController()
  let seenAtAbort = -1
  let calls = 0
  const err = await expectCode(
    t,
    () =>
      index.add(keys, data, {
        signal: controller.signal,
        onProgress: (done, total) => {
          calls++
          t.is(total, n)
          if (seenAtAbort < 0 && done > 0) {
            seenAtAbort = done
            controller.abort()
          }
        },
      }),
    'ERR_ABORTED',
  )
  t.true(calls > 0, 'progress was reported')
  const inserted = err.inserted
  t.is(typeof inserted, 'number')
  if (typeof inserted !== 'number') return
  t.log(`aborted at done=${seenAtAbort}, inserted=${inserted}`)
  t.true(inserted >= seenAtAbort, `inserted ${inserted} < reported ${seenAtAbort}`)
  t.true(inserted < n, 'abort had no effect')
  t.regex(err.message, new RegExp(`add aborted after inserting ${inserted} of ${n} vectors`))
  t.is(index.size, inserted)
  t.is(getEventListeners(controller.signal, 'abort').length, 0, 'abort listener removed')

  // Exactly `inserted` of the keys are present, and they are searchable.
  const present: number[] = []
  for (let i = 0; i < n; i++) if (index.has(i)) present.push(i)
  t.is(present.length, inserted)
  let selfHits = 0
  const sample = present.filter((_, j) => j % Math.max(1, Math.floor(present.length / 200)) === 0).slice(0, 200)
  for (const key of sample) {
    const r = await index.search(row(data, DIM, key), { k: 1 })
    if (r.keys[0] === key) selfHits++
    t.true(index.has(r.keys[0]))
  }
  t.true(selfHits >= sample.length * 0.97, `${selfHits}/${sample.length}`)

  // The rest can be added afterwards (upsert, since some keys are already there).
  t.is(await index.upsert(keys, data), n)
  t.is(index.size, n)
})

test('progress: strictly increasing done, constant total, last call is (total, total) before resolve', async (t) => {
  const n = 20000
  const index = new VectorIndex({ dim: DIM, threads: 2, efConstruction: 40 })
  const calls: [number, number][] = []
  const inserted = await index.add(seqKeys(n), randomVectors(n, DIM, 44), {
    onProgress: (done, total) => {
      calls.push([done, total])
    },
  })
  t.is(inserted, n)
  t.true(calls.length >= 1)
  t.log(`${calls.length} progress calls`)
  for (let i = 0; i < calls.length; i++) {
    t.is(calls[i][1], n)
    t.true(calls[i][0] >= 0 && calls[i][0] <= n)
    if (i > 0) t.true(calls[i][0] > calls[i - 1][0], `not increasing at ${i}: ${calls[i - 1][0]} -> ${calls[i][0]}`)
  }
  t.deepEqual(calls[calls.length - 1], [n, n])
  const count = calls.length
  await new Promise((r) => setTimeout(r, 50))
  t.is(calls.length, count, 'progress called after the promise resolved')
})

test('progress works for upsert too', async (t) => {
  const index = new VectorIndex({ dim: DIM, threads: 2 })
  const data = randomVectors(3000, DIM, 45)
  await index.add(seqKeys(1500), data.subarray(0, 1500 * DIM))
  let last: [number, number] = [-1, -1]
  t.is(await index.upsert(seqKeys(3000), data, { onProgress: (d, tot) => (last = [d, tot]) }), 3000)
  t.deepEqual(last, [3000, 3000])
  t.is(index.size, 3000)
})

test('a throwing progress callback does not break the add', async (t) => {
  const index = new VectorIndex({ dim: DIM, threads: 2 })
  let calls = 0
  const inserted = await index.add(seqKeys(5000), randomVectors(5000, DIM, 46), {
    onProgress: () => {
      calls++
      throw new Error('user bug')
    },
  })
  t.is(inserted, 5000)
  t.is(index.size, 5000)
  t.true(calls >= 1)
})

test('aborting a long batch search rejects with ERR_ABORTED', async (t) => {
  const dim = 64
  const index = new VectorIndex({ dim, index: 'flat', threads: 2 })
  await index.add(seqKeys(20000), randomVectors(20000, dim, 47))
  const queries = randomVectors(5000, dim, 48)
  const controller = new AbortController()
  const started = Date.now()
  const p = index.searchBatch(queries, { k: 10, signal: controller.signal })
  setTimeout(() => controller.abort(), 5)
  const err = await t.throwsAsync(p, { instanceOf: QuiverError })
  t.is(err?.code, 'ERR_ABORTED')
  t.log(`batch search aborted after ${Date.now() - started} ms`)
  // The index is unaffected.
  t.is((await index.search(row(queries, dim, 0), { k: 3 })).keys.length, 3)
})

test('aborting a long single search rejects with ERR_ABORTED or completes correctly', async (t) => {
  const dim = 64
  const index = new VectorIndex({ dim, index: 'flat', threads: 2 })
  await index.add(seqKeys(50000), randomVectors(50000, dim, 49))
  const controller = new AbortController()
  const p = index.search(new Float32Array(dim).fill(0.5), { k: 10, signal: controller.signal })
  controller.abort()
  try {
    const r = await p
    t.is(r.keys.length, 10) // finished before the abort was seen: must still be a full result
  } catch (err) {
    t.true(err instanceof QuiverError)
    t.is((err as QuiverError).code, 'ERR_ABORTED')
  }
})
