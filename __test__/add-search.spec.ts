import test from 'ava'
import { EMPTY_KEY, VectorIndex } from '../ts/index'
import type { Metric, IndexType } from '../ts/index'
import { bruteForce, close, distance, isAscending, randomVectors, recall, row, seqKeys, toRows } from './helpers'

const N = 2000
const DIM = 32
const NQ = 50
const K = 10
const METRICS: Metric[] = ['l2', 'ip', 'cosine']

const data = randomVectors(N, DIM, 1)
const keys = seqKeys(N, 1000) // keys 1000..2999
const queries = randomVectors(NQ, DIM, 2)

const built = new Map<string, Promise<VectorIndex>>()
/** Builds (once per metric/type) an index over the shared data set. */
function getIndex(metric: Metric, type: IndexType): Promise<VectorIndex> {
  const id = `${metric}/${type}`
  let p = built.get(id)
  if (p === undefined) {
    p = (async () => {
      const index = new VectorIndex({ dim: DIM, metric, index: type, threads: 2 })
      const inserted = await index.add(keys, data)
      if (inserted !== N) throw new Error(`add returned ${inserted}`)
      return index
    })()
    built.set(id, p)
  }
  return p
}

/** Stored vector for a key of the shared data set. */
function vectorOf(key: number): Float32Array {
  return row(data, DIM, key - 1000)
}

for (const metric of METRICS) {
  test(`flat ${metric}: exact results match brute force`, async (t) => {
    const index = await getIndex(metric, 'flat')
    t.is(index.size, N)
    for (let q = 0; q < NQ; q++) {
      const query = row(queries, DIM, q)
      const r = await index.search(query, { k: K })
      const bf = bruteForce(metric, data, keys, DIM, query, K)
      t.is(r.keys.length, K)
      t.is(r.distances.length, K)
      for (let i = 0; i < K; i++) {
        t.true(close(r.distances[i], bf.distances[i]), `q${q} rank ${i}: ${r.distances[i]} vs ${bf.distances[i]}`)
        // The returned key really is at the returned distance (robust to exact ties).
        t.true(close(distance(metric, vectorOf(r.keys[i]), query), r.distances[i]), `q${q} key ${r.keys[i]}`)
      }
      t.true(recall(r.keys, bf.keys) >= 0.9, `q${q}: flat must be exact`)
      t.true(isAscending(r.distances))
    }
  })

  test(`hnsw ${metric}: recall@10 vs flat >= 0.95 and distances are true distances`, async (t) => {
    const [hnsw, flat] = await Promise.all([getIndex(metric, 'hnsw'), getIndex(metric, 'flat')])
    let total = 0
    for (let q = 0; q < NQ; q++) {
      const query = row(queries, DIM, q)
      const [a, e] = await Promise.all([hnsw.search(query, { k: K }), flat.search(query, { k: K })])
      t.is(a.keys.length, K)
      total += recall(a.keys, Array.from(e.keys))
      t.true(isAscending(a.distances))
      for (let i = 0; i < K; i++) {
        t.true(close(distance(metric, vectorOf(a.keys[i]), query), a.distances[i]), `q${q} rank ${i}`)
      }
    }
    const mean = total / NQ
    t.log(`${metric} recall@10 = ${mean.toFixed(4)}`)
    t.true(mean >= 0.95, `recall ${mean}`)
  })

  test(`${metric}: async and sync search give identical results`, async (t) => {
    const index = await getIndex(metric, 'hnsw')
    for (let q = 0; q < 20; q++) {
      const query = row(queries, DIM, q)
      const a = await index.search(query, { k: K })
      const s = index.searchSync(query, { k: K })
      t.deepEqual(a.keys, s.keys)
      t.deepEqual(a.distances, s.distances)
      // number[] query gives the same answer as Float32Array query.
      const n = index.searchSync(Array.from(query), { k: K })
      t.deepEqual(n.keys, s.keys)
    }
  })

  test(`${metric}: searchBatch equals per-query search`, async (t) => {
    const index = await getIndex(metric, 'hnsw')
    const b = await index.searchBatch(queries, { k: K })
    const bs = index.searchBatchSync(toRows(queries, DIM), { k: K })
    t.is(b.keys.length, NQ * K)
    t.is(b.distances.length, NQ * K)
    t.is(b.counts.length, NQ)
    t.deepEqual(b.keys, bs.keys)
    t.deepEqual(b.distances, bs.distances)
    t.deepEqual(b.counts, bs.counts)
    for (let q = 0; q < NQ; q++) {
      const r = await index.search(row(queries, DIM, q), { k: K })
      t.is(b.counts[q], K)
      t.deepEqual(b.keys.subarray(q * K, q * K + K), r.keys, `query ${q}`)
      t.deepEqual(b.distances.subarray(q * K, q * K + K), r.distances, `query ${q}`)
    }
  })
}

test('hand-checked distance values for every metric', async (t) => {
  const l2 = new VectorIndex({ dim: 2, metric: 'l2', index: 'flat' })
  await l2.add([1], [[3, 4]])
  t.is((await l2.search([0, 0], { k: 1 })).distances[0], 25) // squared, not 5

  const ip = new VectorIndex({ dim: 2, metric: 'ip', index: 'flat' })
  await ip.add(
    [1, 2],
    [
      [1, 2],
      [0.5, 0],
    ],
  )
  const r = await ip.search([2, 1], { k: 2 })
  t.deepEqual(Array.from(r.keys), [1, 2]) // dots 4 and 1
  t.true(close(r.distances[0], 1 - 4))
  t.true(close(r.distances[1], 1 - 1))

  const cos = new VectorIndex({ dim: 2, metric: 'cosine', index: 'flat' })
  await cos.add(
    [1, 2, 3],
    [
      [10, 0],
      [0, 3],
      [-2, 0],
    ],
  )
  const c = await cos.search([5, 5], { k: 3 })
  t.true(close(c.distances[0], 1 - Math.SQRT1_2, 1e-5))
  t.true(close(c.distances[1], 1 - Math.SQRT1_2, 1e-5))
  t.is(c.keys[2], 3)
  t.true(close(c.distances[2], 1 + Math.SQRT1_2, 1e-5))
})

test('add/has/get/size with every input form', async (t) => {
  const dim = 4
  const vecs = randomVectors(8, dim, 3)
  const forms: [string, (index: VectorIndex) => Promise<number> | number][] = [
    ['Uint32Array + flat Float32Array', (ix) => ix.add(new Uint32Array([1, 2]), vecs.slice(0, 2 * dim))],
    ['number[] + number[][]', (ix) => ix.add([3, 4], toRows(vecs.slice(2 * dim, 4 * dim), dim))],
    ['number[] + Float32Array[]', (ix) => ix.add([5, 6], [row(vecs, dim, 4), row(vecs, dim, 5)])],
    ['number[] + flat number[] (sync)', (ix) => ix.addSync([7, 8], Array.from(vecs.slice(6 * dim)))],
  ]
  const index = new VectorIndex({ dim })
  let expected = 0
  for (const [label, fn] of forms) {
    t.is(await fn(index), 2, label)
    expected += 2
    t.is(index.size, expected, label)
  }
  for (let key = 1; key <= 8; key++) {
    t.true(index.has(key))
    t.deepEqual(index.get(key), row(vecs, dim, key - 1), `get(${key})`)
  }
  // Typed-array views with a non-zero byteOffset.
  const kv = new Uint32Array([0, 0, 20, 21]).subarray(2)
  const vv = new Float32Array([9, 9, 9, 9, 1, 2, 3, 4, 5, 6, 7, 8]).subarray(4)
  t.is(index.addSync(kv, vv), 2)
  t.deepEqual(Array.from(index.get(20)!), [1, 2, 3, 4])
  t.deepEqual(Array.from(index.get(21)!), [5, 6, 7, 8])
  t.is(index.searchSync(new Float32Array([0, 0, 0, 0, 5, 6, 7, 8]).subarray(4), { k: 1 }).keys[0], 21)
  t.is(index.removeSync(new Uint32Array([7, 20, 21]).subarray(1)), 2)
  t.false(index.has(0))
  t.false(index.has(9))
  t.is(index.get(9), undefined)
  t.is(index.get(0), undefined)
  // get returns a copy: mutating it does not change the index.
  const g = index.get(1)!
  g[0] = 1234
  t.not(index.get(1)![0], 1234)
  // Empty adds are fine.
  t.is(await index.add([], []), 0)
  t.is(index.addSync(new Uint32Array(0), new Float32Array(0)), 0)
  t.is(index.size, 8)
})

test('key 2^32 - 1 and 0 are valid keys', async (t) => {
  const index = new VectorIndex({ dim: 2, index: 'flat' })
  await index.add(
    [0xffffffff, 0],
    [
      [1, 1],
      [2, 2],
    ],
  )
  t.true(index.has(0xffffffff))
  t.true(index.has(0))
  const r = await index.search([1, 1], { k: 2 })
  t.deepEqual(Array.from(r.keys), [0xffffffff, 0])
})

test('cosine get() returns the unit-normalised vector', async (t) => {
  const index = new VectorIndex({ dim: 3, metric: 'cosine' })
  await index.add([1], [[3, 0, 4]])
  const v = index.get(1)!
  t.true(close(v[0], 0.6, 1e-6))
  t.is(v[1], 0)
  t.true(close(v[2], 0.8, 1e-6))
})

test('memoryUsage grows with the data', async (t) => {
  const index = new VectorIndex({ dim: DIM, threads: 2 })
  const before = index.memoryUsage().total
  await index.add(keys, data)
  const after = index.memoryUsage().total
  t.true(Number.isInteger(after))
  t.true(after > before)
  t.true(after >= N * DIM * 4, `${after} bytes cannot hold ${N}x${DIM} floats`)
})

for (const type of ['hnsw', 'flat'] as const)
  test(`${type}: upsert replaces existing vectors and inserts new ones`, async (t) => {
    const index = new VectorIndex({ dim: 2, index: type })
    await index.add(
      [1, 2, 3],
      [
        [0, 0],
        [10, 10],
        [20, 20],
      ],
    )
    t.is(
      await index.upsert(
        [2, 4],
        [
          [100, 100],
          [30, 30],
        ],
      ),
      2,
    )
    t.is(index.size, 4)
    t.deepEqual(Array.from(index.get(2)!), [100, 100])
    t.deepEqual(Array.from(index.get(4)!), [30, 30])
    const r = await index.search([99, 99], { k: 1 })
    t.is(r.keys[0], 2)
    t.is(r.distances[0], 2)
    // The old position of key 2 is gone.
    const near10 = await index.search([10, 10], { k: 4 })
    t.is(near10.keys.length, 4)
    t.is(new Set(near10.keys).size, 4, 'no key may appear twice')
    t.not(near10.keys[0], 2)
    // Sync variant.
    t.is(index.upsertSync([1], [[-5, -5]]), 1)
    t.deepEqual(Array.from(index.get(1)!), [-5, -5])
    t.is(index.size, 4)
    // Upsert of only new keys behaves like add.
    t.is(index.upsertSync(new Uint32Array([7]), new Float32Array([7, 7])), 1)
    t.is(index.size, 5)
  })

for (const type of ['hnsw', 'flat'] as const)
  test(`${type}: remove returns the count, ignores unknown keys, and hides removed vectors`, async (t) => {
    const index = new VectorIndex({ dim: DIM, index: type, threads: 2 })
    await index.add(keys, data)
    const removeKeys = [1000, 1001, 1002, 1003, 1004]
    t.is(await index.remove([...removeKeys, 999999, 5]), 5)
    t.is(index.size, N - 5)
    for (const k of removeKeys) {
      t.false(index.has(k))
      t.is(index.get(k), undefined)
    }
    t.is(await index.remove(removeKeys), 0, 'second removal removes nothing')
    t.is(index.removeSync(new Uint32Array([1005, 1006, 1005])), 2, 'duplicates in remove count once')
    t.is(index.removeSync([]), 0)
    t.is(index.size, N - 7)
    // Remaining vectors are intact (flat compacts its storage on remove).
    for (let key = 1007; key < 1000 + N; key += 37) t.deepEqual(index.get(key), vectorOf(key), `get(${key})`)
    // Searching for the removed vectors themselves never returns them.
    for (let i = 0; i < 7; i++) {
      const r = await index.search(row(data, DIM, i), { k: 20 })
      t.is(r.keys.length, 20)
      for (const k of r.keys) t.true(k >= 1007, `removed key ${k} returned`)
    }
    // A removed key can be added again.
    await index.add([1000], [row(data, DIM, 0)])
    t.true(index.has(1000))
    t.is((await index.search(row(data, DIM, 0), { k: 1 })).keys[0], 1000)
    t.is(index.size, N - 6)
  })

for (const type of ['hnsw', 'flat'] as const) {
  test(`${type}: empty index and k > size`, async (t) => {
    const index = new VectorIndex({ dim: 3, index: type })
    const e = await index.search([1, 2, 3], { k: 5 })
    t.is(e.keys.length, 0)
    t.is(e.distances.length, 0)
    t.is(index.searchSync([1, 2, 3], { k: 5 }).keys.length, 0)
    const eb = await index.searchBatch(
      [
        [1, 2, 3],
        [4, 5, 6],
      ],
      { k: 3 },
    )
    t.deepEqual(Array.from(eb.counts), [0, 0])
    t.is(eb.keys.length, 6)
    t.true(Array.from(eb.keys).every((k) => k === EMPTY_KEY))
    t.true(Array.from(eb.distances).every((d) => Number.isNaN(d)))

    await index.add(
      [1, 2, 3],
      [
        [1, 0, 0],
        [0, 1, 0],
        [0, 0, 1],
      ],
    )
    const r = await index.search([1, 0, 0], { k: 10 })
    t.is(r.keys.length, 3)
    t.is(r.keys[0], 1)
    t.is(r.distances[0], 0)
    t.deepEqual([...r.keys].sort(), [1, 2, 3])

    const b = index.searchBatchSync(new Float32Array([1, 0, 0, 0, 0, 1]), { k: 5 })
    t.deepEqual(Array.from(b.counts), [3, 3])
    t.is(b.keys.length, 10)
    t.is(b.keys[0], 1)
    t.is(b.keys[5], 3)
    for (const i of [3, 4, 8, 9]) {
      t.is(b.keys[i], EMPTY_KEY, `slot ${i}`)
      t.true(Number.isNaN(b.distances[i]), `slot ${i}`)
    }
    // Empty batch.
    const z = await index.searchBatch([], { k: 2 })
    t.is(z.keys.length, 0)
    t.is(z.counts.length, 0)
  })
}

test('k defaults to 10, ef below k is raised to k, large ef accepted', async (t) => {
  const index = await getIndex('l2', 'hnsw')
  const q = row(queries, DIM, 0)
  t.is((await index.search(q)).keys.length, 10)
  t.is((await index.search(q, { k: 50, ef: 1 })).keys.length, 50)
  const hi = await index.search(q, { k: 10, ef: 10000 })
  const exact = bruteForce('l2', data, keys, DIM, q, 10)
  t.deepEqual(Array.from(hi.keys), exact.keys, 'ef = MAX_EF on 2000 points is exhaustive')
  t.is((await index.search(q, { k: 10000 })).keys.length, N)
})

test('the query itself is its own nearest neighbour (hnsw, every metric)', async (t) => {
  for (const metric of METRICS) {
    const index = await getIndex(metric, 'hnsw')
    let hits = 0
    for (let i = 0; i < 100; i++) {
      const r = index.searchSync(row(data, DIM, i * 7), { k: 1 })
      if (r.keys[0] === 1000 + i * 7) hits++
    }
    t.true(hits >= 99, `${metric}: ${hits}/100`)
  }
})

test('same seed and single-threaded build give identical graphs', async (t) => {
  const a = new VectorIndex({ dim: DIM, seed: 123, threads: 1 })
  const b = new VectorIndex({ dim: DIM, seed: 123, threads: 1 })
  await a.add(keys.subarray(0, 500), data.subarray(0, 500 * DIM))
  b.addSync(keys.subarray(0, 500), data.subarray(0, 500 * DIM))
  for (let q = 0; q < 10; q++) {
    const query = row(queries, DIM, q)
    t.deepEqual(a.searchSync(query, { k: 10, ef: 10 }), b.searchSync(query, { k: 10, ef: 10 }))
  }
})

test('hnsw: removing most vectors keeps search accurate, and removed keys can come back', async (t) => {
  const index = new VectorIndex({ dim: DIM, threads: 2 })
  await index.add(keys, data)
  // Remove 70% (offsets with i % 10 < 7): enough to trigger any graph compaction.
  const gone: number[] = []
  const kept: number[] = []
  for (let i = 0; i < N; i++) (i % 10 < 7 ? gone : kept).push(1000 + i)
  t.is(await index.remove(gone), gone.length)
  t.is(index.size, kept.length)
  const keptKeys = Uint32Array.from(kept)
  const keptData = new Float32Array(kept.length * DIM)
  kept.forEach((k, i) => keptData.set(vectorOf(k), i * DIM))
  let total = 0
  for (let q = 0; q < NQ; q++) {
    const query = row(queries, DIM, q)
    const r = await index.search(query, { k: K })
    t.is(r.keys.length, K)
    for (const k of r.keys) t.true(index.has(k), `removed key ${k} returned`)
    total += recall(r.keys, bruteForce('l2', keptData, keptKeys, DIM, query, K).keys)
  }
  t.true(total / NQ >= 0.95, `recall after removals ${total / NQ}`)
  for (const k of kept.slice(0, 50)) t.deepEqual(index.get(k), vectorOf(k))
  // Put the removed vectors back.
  const goneData = new Float32Array(gone.length * DIM)
  gone.forEach((k, i) => goneData.set(vectorOf(k), i * DIM))
  t.is(await index.add(gone, goneData), gone.length)
  t.is(index.size, N)
  let self = 0
  for (let i = 0; i < N; i += 20) if (index.searchSync(row(data, DIM, i), { k: 1 }).keys[0] === 1000 + i) self++
  t.true(self >= 99, `${self}/100`)
})

test('hnsw: upserting every vector moves them all (no stale graph positions)', async (t) => {
  const index = new VectorIndex({ dim: DIM, threads: 2 })
  await index.add(keys, data)
  const fresh = randomVectors(N, DIM, 99)
  t.is(await index.upsert(keys, fresh), N)
  t.is(index.size, N)
  let total = 0
  for (let q = 0; q < NQ; q++) {
    const query = row(queries, DIM, q)
    const r = await index.search(query, { k: K })
    for (let i = 0; i < K; i++) {
      const fv = row(fresh, DIM, r.keys[i] - 1000)
      t.true(close(distance('l2', fv, query), r.distances[i]), 'distance must use the new vector')
    }
    total += recall(r.keys, bruteForce('l2', fresh, keys, DIM, query, K).keys)
  }
  t.true(total / NQ >= 0.95, `recall after upsert ${total / NQ}`)
})

test('inputs are copied: mutating them after add does not change the index', async (t) => {
  const index = new VectorIndex({ dim: 3, index: 'flat' })
  const v = new Float32Array([1, 2, 3, 4, 5, 6])
  const k = new Uint32Array([1, 2])
  await index.add(k, v)
  v.fill(0)
  k.fill(9)
  t.deepEqual(Array.from(index.get(1)!), [1, 2, 3])
  t.deepEqual(Array.from(index.get(2)!), [4, 5, 6])
  t.false(index.has(9))
  const r1 = index.searchSync([1, 2, 3], { k: 2 })
  const r2 = index.searchSync([1, 2, 3], { k: 2 })
  r1.keys[0] = 77
  t.is(r2.keys[0], 1, 'results do not share memory')
})

for (const type of ['hnsw', 'flat'] as const) {
  test(`${type}: k > size after removals returns only live vectors`, async (t) => {
    const index = new VectorIndex({ dim: 4, index: type })
    index.addSync(seqKeys(10), randomVectors(10, 4, 7))
    t.is(index.removeSync([0, 2, 4, 6, 8]), 5)
    const r = await index.search([0, 0, 0, 0], { k: 10 })
    t.deepEqual(
      [...r.keys].sort((a, b) => a - b),
      [1, 3, 5, 7, 9],
    )
    const b = await index.searchBatch([[0, 0, 0, 0]], { k: 8 })
    t.is(b.counts[0], 5)
    t.deepEqual(
      [...b.keys.subarray(0, 5)].sort((x, y) => x - y),
      [1, 3, 5, 7, 9],
    )
    t.deepEqual(Array.from(b.keys.subarray(5)), [EMPTY_KEY, EMPTY_KEY, EMPTY_KEY])
    // Remove everything: back to empty results.
    t.is(await index.remove([1, 3, 5, 7, 9]), 5)
    t.is(index.size, 0)
    t.is((await index.search([0, 0, 0, 0], { k: 3 })).keys.length, 0)
  })
}
