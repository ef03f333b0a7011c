import test from 'ava'
import * as os from 'node:os'
import { VectorIndex } from '../ts/index'
import type { SearchResult } from '../ts/index'
import { expectCode, randomVectors, row, seqKeys } from './helpers'

// Async searches made in the same turn of the event loop are sent to the engine together
// (ts/gather.ts). Each must still get exactly what a search of its own would.

const DIM = 16

async function index(n = 3000, options: Partial<ConstructorParameters<typeof VectorIndex>[0]> = {}) {
  const idx = new VectorIndex({ dim: DIM, metric: 'cosine', efConstruction: 64, ...options })
  await idx.add(seqKeys(n), randomVectors(n, DIM, 11))
  return idx
}

/** Counts the native calls the index's searches make. */
function countCalls(idx: VectorIndex): { single: number; lists: number[] } {
  const calls = { single: 0, lists: [] as number[] }
  const native = (idx as unknown as { native: Record<string, (...a: unknown[]) => unknown> }).native
  const search = native.search.bind(native)
  const searchMany = native.searchMany.bind(native)
  native.search = (...a: unknown[]) => {
    calls.single++
    return search(...a)
  }
  native.searchMany = (...a: unknown[]) => {
    calls.lists.push((a[0] as Float32Array).length / DIM)
    return searchMany(...a)
  }
  return calls
}

function same(t: import('ava').ExecutionContext, got: SearchResult, want: SearchResult, label: string): void {
  t.deepEqual(Array.from(got.keys), Array.from(want.keys), `${label}: keys`)
  t.deepEqual(Array.from(got.distances), Array.from(want.distances), `${label}: distances`)
}

test('searches started together answer as searches made one at a time', async (t) => {
  for (const quantization of [undefined, { type: 'sq8' as const }]) {
    const idx = await index(3000, quantization ? { quantization } : {})
    const queries = randomVectors(120, DIM, 12)
    const opts = (i: number) => ({ k: [1, 5, 10, 4000][i % 4], ef: [16, 64][i % 2] })
    const calls = countCalls(idx)
    const got = await Promise.all(Array.from({ length: 120 }, (_, i) => idx.search(row(queries, DIM, i), opts(i))))
    for (let i = 0; i < 120; i++) same(t, got[i]!, idx.searchSync(row(queries, DIM, i), opts(i)), `query ${i}`)
    t.is(got[3]!.keys.length, 3000, 'k above the size gives the size')
    // 120 searches in four (k, ef) groups: a few lists per group, not one call per search.
    const per = Math.ceil(30 / Math.min(30, Math.max(1, os.availableParallelism())))
    const lists = Math.ceil(30 / per)
    t.is(calls.single, 0)
    t.is(calls.lists.length, 4 * lists, `lists: ${calls.lists.join(',')}`)
    t.is(
      calls.lists.reduce((a, b) => a + b, 0),
      120,
    )
    idx.close()
  }
})

test('a search made alone is one native call of its own', async (t) => {
  const idx = await index(500)
  const calls = countCalls(idx)
  const q = row(randomVectors(1, DIM, 13), DIM, 0)
  same(t, await idx.search(q, { k: 3 }), idx.searchSync(q, { k: 3 }), 'alone')
  same(t, await idx.search(q, { k: 3 }), idx.searchSync(q, { k: 3 }), 'again')
  t.deepEqual(calls, { single: 2, lists: [] })
})

test('one bad query among others fails alone, with its own code', async (t) => {
  const idx = await index(1000)
  const queries = randomVectors(6, DIM, 14)
  const bad = row(queries, DIM, 2).slice()
  bad[5] = Number.NaN
  const settled = await Promise.allSettled([
    idx.search(row(queries, DIM, 0), { k: 5 }),
    idx.search(row(queries, DIM, 1), { k: 5 }),
    idx.search(bad, { k: 5 }),
    idx.search(row(queries, DIM, 3), { k: 5 }),
    idx.search(row(queries, DIM, 4).subarray(1), { k: 5 }),
    idx.search(row(queries, DIM, 5), { k: 5 }),
  ])
  t.deepEqual(
    settled.map((s) => s.status),
    ['fulfilled', 'fulfilled', 'rejected', 'fulfilled', 'rejected', 'fulfilled'],
  )
  const reason = (i: number): unknown => (settled[i] as PromiseRejectedResult).reason
  await expectCode(t, () => Promise.reject(reason(2)), 'ERR_NON_FINITE')
  await expectCode(t, () => Promise.reject(reason(4)), 'ERR_DIMENSION_MISMATCH')
  for (const i of [0, 1, 3, 5]) {
    same(
      t,
      (settled[i] as PromiseFulfilledResult<SearchResult>).value,
      idx.searchSync(row(queries, DIM, i), { k: 5 }),
      `query ${i}`,
    )
  }
})

test('a search owns its query once the call returns', async (t) => {
  const idx = await index(1000)
  const queries = randomVectors(40, DIM, 15)
  const q = new Float32Array(DIM)
  const pending: Promise<SearchResult>[] = []
  for (let i = 0; i < 40; i++) {
    q.set(row(queries, DIM, i))
    pending.push(idx.search(q, { k: 4 }))
  }
  // The caller's buffer is overwritten, then detached, before any search runs.
  q.fill(0)
  structuredClone(q.buffer, { transfer: [q.buffer] })
  t.is(q.length, 0)
  const got = await Promise.all(pending)
  for (let i = 0; i < 40; i++) same(t, got[i]!, idx.searchSync(row(queries, DIM, i), { k: 4 }), `query ${i}`)
})

test('each result owns its arrays', async (t) => {
  const idx = await index(1000)
  const queries = randomVectors(8, DIM, 16)
  const got = await Promise.all(Array.from({ length: 8 }, (_, i) => idx.search(row(queries, DIM, i), { k: 6 })))
  for (const r of got) {
    t.is(r.keys.buffer.byteLength, 6 * 4)
    t.is(r.distances.buffer.byteLength, 6 * 4)
  }
  // Detaching one result's buffer leaves the others whole.
  const buffer = got[0]!.keys.buffer as ArrayBuffer
  structuredClone(buffer, { transfer: [buffer] })
  t.is(got[1]!.keys.length, 6)
})

test('closing the index with searches waiting rejects them with ERR_CLOSED', async (t) => {
  const [idx, other] = [await index(500), await index(500)]
  const queries = randomVectors(10, DIM, 17)
  const pending = Array.from({ length: 10 }, (_, i) => idx.search(row(queries, DIM, i)))
  const alone = other.search(row(queries, DIM, 0))
  idx.close()
  for (const p of pending) await expectCode(t, () => p, 'ERR_CLOSED')
  t.is((await alone).keys.length, 10, 'another index is not affected')
})
