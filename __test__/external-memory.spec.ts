/*
 * Native memory is reported to V8, so indexes a program forgets are collected: V8 counts their
 * size and collects them under external-memory pressure. Without the report, 150 forgotten 5 MB
 * indexes stay alive (about +790 MB RSS, none finalized) until some unrelated GC.
 */
import test from 'ava'
import { setImmediate as tick } from 'node:timers/promises'
import { SparseIndex, VectorIndex } from '../ts/index'

const MB = 2 ** 20

/** Creates `rounds` indexes with `make`, forgets each, and counts how many V8 collected. */
async function forget(
  rounds: number,
  make: () => Promise<object> | object,
): Promise<{ finalized: number; peakMB: number }> {
  let finalized = 0
  const registry = new FinalizationRegistry(() => finalized++)
  const rss0 = process.memoryUsage.rss()
  let peak = 0
  for (let i = 0; i < rounds; i++) {
    registry.register(await make(), i)
    await tick()
    peak = Math.max(peak, process.memoryUsage.rss() - rss0)
  }
  return { finalized, peakMB: Math.round(peak / MB) }
}

const dim = 128
const n = 10_000
const data = new Float32Array(n * dim).fill(1)
const keys = Uint32Array.from({ length: n }, (_, i) => i)

test.serial('forgotten indexes are collected: sync writes report their size to V8', async (t) => {
  const r = await forget(150, () => {
    const index = new VectorIndex({ dim, index: 'flat' })
    index.addSync(keys, data)
    return index
  })
  t.log(`150 × ${((n * dim * 4) / MB).toFixed(1)} MB indexes: ${r.finalized} collected, RSS peak +${r.peakMB} MB`)
  t.true(r.finalized >= 75, `${r.finalized} collected`)
  t.true(r.peakMB < 450, `RSS peak +${r.peakMB} MB`)
})

test.serial('forgotten indexes are collected: async writes report their size too', async (t) => {
  const r = await forget(150, async () => {
    const index = new VectorIndex({ dim, index: 'flat' })
    await index.add(keys, data)
    return index
  })
  t.true(r.finalized >= 75, `async add: ${r.finalized} collected`)
  // Looser than the sync case: finalizers of async-created objects run later, and test files
  // run in parallel; without the report the peak is ~790 MB.
  t.true(r.peakMB < 600, `async add: RSS peak +${r.peakMB} MB`)
  const docs = {
    indptr: Uint32Array.from({ length: 20_001 }, (_, i) => i * 32),
    indices: new Uint32Array(20_000 * 32),
    values: new Float32Array(20_000 * 32).fill(1),
  }
  for (let i = 0; i < docs.indices.length; i++) docs.indices[i] = (i % 32) * 97 + ((i >> 5) % 97)
  const s = await forget(100, async () => {
    const index = new SparseIndex()
    await index.add(
      Uint32Array.from({ length: 20_000 }, (_, i) => i),
      docs,
    )
    return index
  })
  t.true(s.finalized >= 50, `sparse: ${s.finalized} collected`)
})
