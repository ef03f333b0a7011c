import test from 'ava'
import * as path from 'node:path'
import { VectorIndex } from '../ts/index'
import type { QuantizationOptions } from '../ts/index'
import { expectCode, expectCodeSync, mulberry32, row, seqKeys, tempDir } from './helpers'

const DIM = 64
const N = 3000

/** Clustered rows of low intrinsic dimension (neighbourhoods that mean something, like embeddings). */
function clustered(n: number, seed: number): Float32Array {
  const shared = mulberry32(7)
  const centres = Float32Array.from({ length: 16 * DIM }, () => (shared() - 0.5) * 4)
  const dirs = Float32Array.from({ length: 6 * DIM }, () => shared() - 0.5)
  const rnd = mulberry32(seed)
  const out = new Float32Array(n * DIM)
  for (let i = 0; i < n; i++) {
    const c = i % 16
    const z = Array.from({ length: 6 }, () => (rnd() - 0.5) * 3)
    for (let d = 0; d < DIM; d++) {
      let x = centres[c * DIM + d] + 0.05 * (rnd() - 0.5)
      for (let j = 0; j < 6; j++) x += z[j] * dirs[j * DIM + d]
      out[i * DIM + d] = x
    }
  }
  return out
}

const base = clustered(N, 1)
const queries = clustered(40, 2)
const keys = seqKeys(N)

function exactTop(q: Float32Array, k: number): number[] {
  const d: Array<[number, number]> = []
  for (let i = 0; i < N; i++) {
    let s = 0
    for (let j = 0; j < DIM; j++) {
      const x = q[j] - base[i * DIM + j]
      s += x * x
    }
    d.push([s, i])
  }
  d.sort((a, b) => a[0] - b[0])
  return d.slice(0, k).map((x) => x[1])
}
const truth = Array.from({ length: 40 }, (_, i) => exactTop(row(queries, DIM, i), 10))

async function recall(index: VectorIndex): Promise<number> {
  let hits = 0
  for (let i = 0; i < 40; i++) {
    const r = await index.search(row(queries, DIM, i), { k: 10, ef: 100 })
    hits += Array.from(r.keys).filter((k) => truth[i].includes(k)).length
  }
  return hits / 400
}

const modes: QuantizationOptions[] = [
  { type: 'sq8' },
  { type: 'binary', queryBits: 4, oversample: 20 },
  { type: 'binary', queryBits: 1, oversample: 20 },
  { type: 'rabitq', oversample: 20 },
  { type: 'pq', m: 16, nbits: 8 },
  { type: 'pq', m: 32, nbits: 4 },
  { type: 'pq', m: 16, nbits: 8, opq: true },
]

for (const quantization of modes) {
  const name = JSON.stringify(quantization)
  for (const index of ['hnsw', 'flat'] as const) {
    test(`${name} ${index}: recall@10 after exact rerank >= 0.95, memory split`, async (t) => {
      const idx = new VectorIndex({
        dim: DIM,
        index,
        quantization: { ...quantization, trainingSize: 2000 },
        threads: 2,
      })
      t.false(idx.trained)
      await idx.add(keys, base)
      t.true(idx.trained, 'trained automatically after trainingSize vectors')
      const r = await recall(idx)
      t.true(r >= 0.95, `recall ${r}`)
      const m = idx.memoryUsage()
      t.true(m.codes > 0)
      t.true(m.originals >= N * DIM * 4)
      t.is(m.total, m.originals + m.codes + m.graph + m.keys)
    })
  }
}

test('config() reports resolved quantization options and defaults', (t) => {
  const a = new VectorIndex({ dim: DIM, quantization: { type: 'pq' } })
  const q = a.config().quantization
  t.is(q.type, 'pq')
  t.is(q.m, DIM / 8)
  t.is(q.nbits, 8)
  t.is(q.rerank, 'exact')
  t.is(q.oversample, 1)
  t.is(q.trainingSize, 25600)
  t.is(a.config().originals, 'memory')
  const b = new VectorIndex({ dim: DIM, quantization: { type: 'binary' } })
  t.is(b.config().quantization.queryBits, 4)
  t.is(b.config().quantization.oversample, 1)
  const plain = new VectorIndex({ dim: DIM })
  t.is(plain.config().quantization.type, 'none')
  t.true(plain.trained)
})

test('explicit train(sample) before any add, then search', async (t) => {
  const idx = new VectorIndex({ dim: DIM, quantization: { type: 'sq8' }, threads: 2 })
  await idx.train(base.subarray(0, 500 * DIM))
  t.true(idx.trained)
  await idx.add(keys, base)
  t.true((await recall(idx)) >= 0.95)
  // trainSync retrains on the stored vectors.
  idx.trainSync()
  t.true((await recall(idx)) >= 0.95)
})

test('adds before training are buffered and searched exactly', async (t) => {
  const idx = new VectorIndex({ dim: DIM, quantization: { type: 'pq', m: 16, trainingSize: 10000 }, threads: 2 })
  await idx.add(keys, base)
  t.false(idx.trained)
  t.is(idx.size, N)
  const r = await idx.search(row(base, DIM, 123), { k: 1 })
  t.deepEqual(Array.from(r.keys), [123])
  await idx.train()
  t.true(idx.trained)
  t.true((await recall(idx)) >= 0.95)
})

test('bad quantization options give coded errors', async (t) => {
  const bad = (o: unknown): void => {
    expectCodeSync(t, () => new VectorIndex(o as { dim: number }), 'ERR_INVALID_ARGUMENT')
  }
  bad({ dim: DIM, quantization: { type: 'zip' } })
  bad({ dim: DIM, quantization: {} })
  bad({ dim: DIM, quantization: { type: 'pq', m: 7 } })
  bad({ dim: 100, quantization: { type: 'pq' } })
  bad({ dim: DIM, quantization: { type: 'pq', nbits: 5 } })
  bad({ dim: DIM, quantization: { type: 'pq', m: 15, nbits: 4 } })
  bad({ dim: DIM, quantization: { type: 'binary', queryBits: 2 } })
  bad({ dim: DIM, quantization: { type: 'sq8', oversample: 0.5 } })
  bad({ dim: DIM, quantization: { type: 'sq8', trainingSize: 0 } })
  bad({ dim: DIM, quantization: { type: 'sq8' }, originals: 'none' })
  bad({ dim: DIM, originals: 'none' })
  bad({ dim: DIM, originals: 'disk' })
  const idx = new VectorIndex({ dim: DIM, quantization: { type: 'pq', m: 16 }, threads: 2 })
  const e = await expectCode(t, () => idx.train(base.subarray(0, 10 * DIM)), 'ERR_INVALID_ARGUMENT')
  t.regex(e.message, /at least 256/)
  const nan = base.slice(0, 300 * DIM)
  nan[17] = NaN
  await expectCode(t, () => idx.train(nan), 'ERR_NON_FINITE')
  await expectCode(t, () => idx.train(new Float32Array(DIM + 1)), 'ERR_DIMENSION_MISMATCH')
  await expectCode(t, () => new VectorIndex({ dim: DIM }).train(base), 'ERR_INVALID_ARGUMENT')
})

test('binary and rabitq work below 64 dimensions', async (t) => {
  for (const type of ['binary', 'rabitq'] as const) {
    const dim = 24
    const data = clustered(500, 3).subarray(0, 500 * dim)
    const idx = new VectorIndex({ dim, quantization: { type, trainingSize: 100 }, threads: 2 })
    await idx.add(seqKeys(500), data)
    t.true(idx.trained)
    const r = await idx.search(row(data, dim, 10), { k: 1 })
    t.deepEqual(Array.from(r.keys), [10], type)
  }
})

test("originals: 'none' keeps codes only; save/load round trip", async (t) => {
  const dir = tempDir(t)
  const idx = new VectorIndex({
    dim: DIM,
    quantization: { type: 'sq8', rerank: 'none', trainingSize: 1000 },
    originals: 'none',
    threads: 2,
  })
  await idx.add(keys, base)
  t.is(idx.memoryUsage().originals, 0)
  t.is(idx.get(5)?.length, DIM)
  t.true((await recall(idx)) >= 0.8)
  await expectCode(t, () => idx.train(), 'ERR_INVALID_ARGUMENT')
  const file = path.join(dir, 'codes-only.qvr')
  await idx.save(file)
  const back = await VectorIndex.load(file)
  t.is(back.memoryUsage().originals, 0)
  t.deepEqual(back.config(), { ...idx.config(), threads: back.config().threads })
  const q = row(queries, DIM, 0)
  t.deepEqual(await back.search(q, { k: 10 }), await idx.search(q, { k: 10 }))
})

test("originals: 'mmap' serves vectors from the file after load and stays writable", async (t) => {
  const dir = tempDir(t)
  const idx = new VectorIndex({
    dim: DIM,
    quantization: { type: 'rabitq', trainingSize: 1000 },
    originals: 'mmap',
    threads: 2,
  })
  await idx.add(keys, base)
  const file = path.join(dir, 'mapped.qvr')
  await idx.save(file)
  const back = await VectorIndex.load(file)
  t.false(back.readOnly)
  t.is(back.memoryUsage().originals, 0)
  t.true(back.memoryUsage().codes > 0)
  for (let i = 0; i < 5; i++) {
    const q = row(queries, DIM, i)
    t.deepEqual(await back.search(q, { k: 10 }), await idx.search(q, { k: 10 }))
  }
  await back.add([99999], row(base, DIM, 0))
  t.true(back.memoryUsage().originals > 0)
  t.true(back.has(99999))
})

test('load with an expected quantization that disagrees with the file fails', async (t) => {
  const dir = tempDir(t)
  const idx = new VectorIndex({ dim: DIM, quantization: { type: 'pq', m: 16, trainingSize: 1000 }, threads: 2 })
  await idx.add(keys, base)
  const file = path.join(dir, 'pq.qvr')
  idx.saveSync(file)
  await expectCode(t, () => VectorIndex.load(file, { quantization: { type: 'sq8' } }), 'ERR_INVALID_ARGUMENT')
  await expectCode(t, () => VectorIndex.load(file, { quantization: { type: 'pq', m: 32 } }), 'ERR_INVALID_ARGUMENT')
  const ok = await VectorIndex.load(file, { quantization: { type: 'pq', m: 16 } })
  t.is(ok.size, N)
  expectCodeSync(t, () => VectorIndex.loadSync(file, { quantization: { type: 'none' } }), 'ERR_INVALID_ARGUMENT')
})

test('train honours an aborted signal', async (t) => {
  const idx = new VectorIndex({ dim: DIM, quantization: { type: 'sq8' }, threads: 2 })
  const ac = new AbortController()
  ac.abort()
  await expectCode(t, () => idx.train(base, { signal: ac.signal }), 'ERR_ABORTED')
})

test('with default options, ef alone trades recall for speed in every quantized mode', async (t) => {
  // The rerank depth is max(ef, k): a small ef reranks few candidates, a large one many, so
  // recall rises with ef and a large ef reaches the f32 index's recall.
  const recallAt = (index: VectorIndex, ef: number): number => {
    let hits = 0
    for (let i = 0; i < 40; i++) {
      const r = index.searchSync(row(queries, DIM, i), { k: 10, ef })
      hits += Array.from(r.keys).filter((k) => truth[i].includes(k)).length
    }
    return hits / 400
  }
  for (const quantization of [{ type: 'sq8' }, { type: 'rabitq' }, { type: 'binary' }] as QuantizationOptions[]) {
    const index = new VectorIndex({ dim: DIM, threads: 1, efConstruction: 100, quantization })
    await index.add(keys, base)
    await index.train()
    const sweep = [10, 40, 400].map((ef) => recallAt(index, ef))
    t.log(`${quantization.type}: recall@10 at ef 10 / 40 / 400 = ${sweep.map((r) => r.toFixed(3)).join(' / ')}`)
    t.true(sweep[0] < sweep[2], `${quantization.type}: recall rises with ef`)
    t.true(sweep[0] <= sweep[1] + 0.01 && sweep[1] <= sweep[2] + 0.01, `${quantization.type}: monotone within noise`)
    t.true(sweep[2] >= 0.95, `${quantization.type}: a large ef reaches ${sweep[2]}`)
    index.close()
  }
})
