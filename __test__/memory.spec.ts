/* A synchronous loop of searches must not hold the memory of its results until the loop ends. */
import test from 'ava'
import { MultiVectorIndex, TextIndex, VectorIndex } from '../ts/index'
import { randomVectors, row, seqKeys } from './helpers'

const MB = 2 ** 20
/** Generous: a held result costs several hundred bytes, so 200k held results exceed it. */
const BOUND = 60 * MB

/** RSS growth over `iters` calls of `fn`, measured after a short warm-up. */
function rssGrowth(iters: number, fn: () => void): number {
  for (let i = 0; i < 2000; i++) fn()
  const before = process.memoryUsage.rss()
  let peak = before
  for (let i = 1; i <= iters; i++) {
    fn()
    if (i % 10_000 === 0) peak = Math.max(peak, process.memoryUsage.rss())
  }
  return peak - before
}

test('a 200k searchSync loop keeps RSS flat', (t) => {
  const dim = 16
  const data = randomVectors(500, dim, 1)
  const index = new VectorIndex({ dim, index: 'flat', threads: 1 })
  index.addSync(seqKeys(500), data)
  const q = row(data, dim, 3)
  const growth = rssGrowth(200_000, () => index.searchSync(q, { k: 10 }))
  t.true(growth < BOUND, `RSS grew by ${(growth / MB).toFixed(1)} MB`)
  index.close()
})

test('searchBatchSync, text and multi-vector searchSync loops keep RSS flat', (t) => {
  const dim = 16
  const data = randomVectors(200, dim, 2)
  const index = new VectorIndex({ dim, index: 'flat', threads: 1 })
  index.addSync(seqKeys(200), data)
  const batch = data.subarray(0, 4 * dim)
  const vectorGrowth = rssGrowth(50_000, () => index.searchBatchSync(batch, { k: 10 }))
  t.true(vectorGrowth < BOUND, `searchBatchSync: RSS grew by ${(vectorGrowth / MB).toFixed(1)} MB`)
  index.close()

  const text = new TextIndex({ threads: 1 })
  text.addSync(
    seqKeys(50),
    Array.from({ length: 50 }, (_, i) => `document ${i} about search ${i % 7}`),
  )
  const textGrowth = rssGrowth(100_000, () => text.searchSync('search document', { k: 10 }))
  t.true(textGrowth < BOUND, `text searchSync: RSS grew by ${(textGrowth / MB).toFixed(1)} MB`)
  text.close()

  const mv = new MultiVectorIndex({ dim, threads: 1 })
  mv.addSync(
    seqKeys(20),
    Array.from({ length: 20 }, (_, i) => randomVectors(3, dim, 10 + i)),
  )
  const query = randomVectors(2, dim, 99)
  const mvGrowth = rssGrowth(50_000, () => mv.searchSync(query, { k: 10 }))
  t.true(mvGrowth < BOUND, `multi-vector searchSync: RSS grew by ${(mvGrowth / MB).toFixed(1)} MB`)
  mv.close()
})
