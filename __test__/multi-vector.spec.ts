import test from 'ava'
import * as path from 'node:path'
import { FdeEncoder, MultiVectorIndex, QuiverError } from '../ts/index'
import { expectCode, expectCodeSync, mulberry32, tempDir } from './helpers'

const DIM = 32

function unit(v: Float32Array): Float32Array {
  let n = 0
  for (const x of v) n += x * x
  n = Math.sqrt(n) || 1
  for (let i = 0; i < v.length; i++) v[i] /= n
  return v
}

/** Documents of 10–30 tokens around 3 of 60 topic centres. */
function corpus(n: number, seed: number): Float32Array[] {
  const shared = mulberry32(99)
  const topics = Array.from({ length: 60 }, () => unit(Float32Array.from({ length: DIM }, () => shared() - 0.5)))
  const rnd = mulberry32(seed)
  const docs: Float32Array[] = []
  for (let d = 0; d < n; d++) {
    const mine = [0, 1, 2].map(() => Math.floor(rnd() * 60))
    const len = 10 + Math.floor(rnd() * 21)
    const doc = new Float32Array(len * DIM)
    for (let t = 0; t < len; t++) {
      const c = topics[mine[Math.floor(rnd() * 3)]]
      const tok = unit(Float32Array.from(c, (x) => x + 0.35 * (rnd() - 0.5)))
      doc.set(tok, t * DIM)
    }
    docs.push(doc)
  }
  return docs
}

const docs = corpus(400, 1)
const keys = Uint32Array.from({ length: 400 }, (_, i) => i * 2 + 1)

function queryFrom(doc: Float32Array, seed: number): Float32Array {
  const rnd = mulberry32(seed)
  const n = doc.length / DIM
  const m = 6
  const q = new Float32Array(m * DIM)
  for (let i = 0; i < m; i++) {
    const t = Math.floor(rnd() * n)
    q.set(unit(Float32Array.from(doc.subarray(t * DIM, (t + 1) * DIM), (x) => x + 0.2 * (rnd() - 0.5))), i * DIM)
  }
  return q
}

/** Recall@10 of `search(q, options)` against `searchExhaustive` over `n` queries drawn from documents `i × stride`. */
async function recallAt10(
  mv: MultiVectorIndex,
  n: number,
  stride: number,
  seed: number,
  options: { candidates?: number },
): Promise<number> {
  let hits = 0
  for (let i = 0; i < n; i++) {
    const q = queryFrom(docs[i * stride], seed + i)
    const truth = await mv.searchExhaustive(q, { k: 10 })
    const got = await mv.search(q, { k: 10, ...options })
    hits += Array.from(got.keys).filter((k) => truth.keys.includes(k)).length
  }
  return hits / (n * 10)
}

function maxsim(q: Float32Array, d: Float32Array): number {
  let s = 0
  for (let i = 0; i < q.length / DIM; i++) {
    let best = -Infinity
    for (let j = 0; j < d.length / DIM; j++) {
      let dot = 0
      for (let c = 0; c < DIM; c++) dot += q[i * DIM + c] * d[j * DIM + c]
      best = Math.max(best, dot)
    }
    s += best
  }
  return s
}

test('FdeEncoder: presets, determinism, dimensions and errors', (t) => {
  const enc = new FdeEncoder({ dim: DIM, preset: 'compact-2560' })
  t.is(enc.outputDim, 2560)
  const p = enc.params
  t.is(p.reps, 10)
  t.is(p.kSim, 4)
  t.is(p.dProj, 16)
  t.is(typeof p.seed, 'bigint')
  t.is(new FdeEncoder({ dim: DIM }).outputDim, 10240)
  const q = queryFrom(docs[0], 1)
  t.deepEqual(enc.encodeQuery(q), new FdeEncoder({ dim: DIM, preset: 'compact-2560' }).encodeQuery(q))
  t.notDeepEqual(enc.encodeQuery(q), new FdeEncoder({ dim: DIM, preset: 'compact-2560', seed: 7 }).encodeQuery(q))
  t.is(enc.encodeDocument(docs[0]).length, 2560)
  const ident = new FdeEncoder({ dim: DIM, reps: 1, kSim: 2, dProj: 'identity', finalDim: null })
  t.is(ident.outputDim, 4 * DIM)
  // Query SUM vs document AVERAGE: one token twice → the query block doubles, the document's does not.
  const tok = docs[0].subarray(0, DIM)
  const two = new Float32Array(2 * DIM)
  two.set(tok, 0)
  two.set(tok, DIM)
  const e1 = new FdeEncoder({ dim: DIM, reps: 1, kSim: 2, dProj: 'identity', fillEmpty: false })
  const q1 = e1.encodeQuery(tok)
  const q2 = e1.encodeQuery(two)
  const d1 = e1.encodeDocument(tok)
  const d2 = e1.encodeDocument(two)
  for (let i = 0; i < q1.length; i++) {
    t.true(Math.abs(q2[i] - 2 * q1[i]) < 1e-5)
    t.true(Math.abs(d2[i] - d1[i]) < 1e-5)
  }
  expectCodeSync(t, () => enc.encodeQuery(new Float32Array(0)), 'ERR_INVALID_ARGUMENT')
  expectCodeSync(t, () => enc.encodeQuery(new Float32Array(DIM + 1)), 'ERR_DIMENSION_MISMATCH')
  expectCodeSync(t, () => enc.encodeQuery(new Float32Array(DIM).fill(NaN)), 'ERR_NON_FINITE')
  expectCodeSync(t, () => enc.encodeQuery(q, 5), 'ERR_DIMENSION_MISMATCH')
  expectCodeSync(t, () => new FdeEncoder({ dim: DIM, kSim: 11 }), 'ERR_INVALID_ARGUMENT')
  expectCodeSync(t, () => new FdeEncoder({ dim: DIM, dProj: DIM + 1 }), 'ERR_INVALID_ARGUMENT')
  expectCodeSync(t, () => new FdeEncoder({ dim: DIM, preset: 'huge' as 'compact-2560' }), 'ERR_INVALID_ARGUMENT')
})

for (const tokenStorage of ['f32', 'f16', 'sq8'] as const) {
  test(`MultiVectorIndex (${tokenStorage}): recall@10 against exhaustive MaxSim >= 0.9`, async (t) => {
    const mv = new MultiVectorIndex({ dim: DIM, fde: { preset: 'compact-2560' }, tokenStorage, threads: 2 })
    let calls = 0
    await mv.add(keys, docs, { onProgress: () => calls++ })
    t.true(calls >= 1)
    t.is(mv.size, 400)
    let hits = 0
    for (let i = 0; i < 20; i++) {
      const q = queryFrom(docs[i * 17], i)
      const truth = await mv.searchExhaustive(q, { k: 10 })
      const got = await mv.search(q, { k: 10, candidates: 60 })
      hits += Array.from(got.keys).filter((k) => truth.keys.includes(k)).length
      t.true(got.timings.rerankMs >= 0 && got.timings.encodeMs >= 0)
    }
    t.true(hits / 200 >= 0.9, `recall ${hits / 200}`)
    // Exhaustive scores are exact MaxSim (up to storage rounding).
    const q = queryFrom(docs[3], 3)
    const ex = mv.searchExhaustiveSync(q, { k: 3 })
    const idx = (ex.keys[0] - 1) / 2
    t.true(Math.abs(ex.scores[0] - maxsim(q, docs[idx])) < (tokenStorage === 'f32' ? 1e-4 : 0.05))
  })
}

test('MultiVectorIndex: flat offsets input, upsert, remove, save/load, version check', async (t) => {
  const total = docs.slice(0, 50).reduce((a, d) => a + d.length, 0)
  const data = new Float32Array(total)
  const offsets = new Uint32Array(51)
  let pos = 0
  docs.slice(0, 50).forEach((d, i) => {
    data.set(d, pos)
    pos += d.length
    offsets[i + 1] = pos / DIM
  })
  const mv = new MultiVectorIndex({
    dim: DIM,
    fde: { preset: 'compact-2560' },
    tokenStorage: 'f32',
    index: 'flat',
    threads: 2,
  })
  t.is(
    mv.addSync(
      Uint32Array.from({ length: 50 }, (_, i) => i),
      { data, offsets },
    ),
    50,
  )
  t.deepEqual(mv.tokens(3), docs[3])
  await expectCode(t, () => mv.add([3], [docs[9]]), 'ERR_DUPLICATE_KEY')
  await mv.upsert([3], [docs[9]])
  t.deepEqual(mv.tokens(3), docs[9])
  t.is(await mv.remove([4, 999]), 1)
  t.false(mv.has(4))
  const dir = tempDir(t)
  const file = path.join(dir, 'mv.qvr')
  await mv.save(file)
  const back = await MultiVectorIndex.load(file)
  t.is(back.size, 49)
  t.is(back.tokenStorage, 'f32')
  t.deepEqual(back.fdeParams, mv.fdeParams)
  const q = queryFrom(docs[9], 5)
  t.deepEqual((await back.search(q, { k: 5 })).keys, (await mv.search(q, { k: 5 })).keys)
  t.deepEqual(
    MultiVectorIndex.loadSync(file, { mmap: true }).searchExhaustiveSync(q, { k: 5 }).keys,
    mv.searchExhaustiveSync(q, { k: 5 }).keys,
  )
  await expectCode(
    t,
    () => MultiVectorIndex.load(file, { fde: { dim: DIM, preset: 'compact-2560', seed: 5 } }),
    'ERR_VERSION_MISMATCH',
  )
  await expectCode(t, () => MultiVectorIndex.load(path.join(dir, 'missing.qvr')), 'ERR_IO')
})

test('MultiVectorIndex: bad input is rejected with codes and inserts nothing', async (t) => {
  const mv = new MultiVectorIndex({ dim: DIM, fde: { preset: 'compact-2560' }, threads: 2 })
  await expectCode(t, () => mv.add([1], [new Float32Array(0)]), 'ERR_INVALID_ARGUMENT')
  await expectCode(t, () => mv.add([1], [new Float32Array(DIM + 2)]), 'ERR_DIMENSION_MISMATCH')
  const nan = docs[0].slice()
  nan[5] = NaN
  await expectCode(t, () => mv.add([1, 2], [docs[1], nan]), 'ERR_NON_FINITE')
  await expectCode(t, () => mv.add([1, 1], [docs[1], docs[2]]), 'ERR_DUPLICATE_KEY')
  await expectCode(t, () => mv.add([1, 2], [docs[1]]), 'ERR_INVALID_ARGUMENT')
  const data = docs[0]
  const n = data.length / DIM
  await expectCode(t, () => mv.add([1, 2], { data, offsets: Uint32Array.from([0, 3, 2]) }), 'ERR_INVALID_ARGUMENT')
  await expectCode(t, () => mv.add([1], { data, offsets: Uint32Array.from([0, n + 1]) }), 'ERR_INVALID_ARGUMENT')
  t.is(mv.size, 0)
  await expectCode(t, () => mv.search(new Float32Array(0)), 'ERR_INVALID_ARGUMENT')
  await expectCode(t, () => mv.search(new Float32Array(DIM), { k: 0 }), 'ERR_INVALID_ARGUMENT')
  await expectCode(t, () => mv.search(new Float32Array(DIM), { rerank: 'maybe' as 'none' }), 'ERR_INVALID_ARGUMENT')
  expectCodeSync(t, () => new MultiVectorIndex({ dim: DIM, tokenStorage: 'f8' as 'f16' }), 'ERR_INVALID_ARGUMENT')
  expectCodeSync(t, () => new MultiVectorIndex({ dim: DIM, fde: { kSim: 12 } }), 'ERR_INVALID_ARGUMENT')
  const ac = new AbortController()
  ac.abort()
  await expectCode(t, () => mv.add([1], [docs[0]], { signal: ac.signal }), 'ERR_ABORTED')
  t.true(new QuiverError('ERR_ABORTED', 'x') instanceof Error)
})

test('MultiVectorIndex: quantized FDE index (sq8) still reaches recall after the rerank', async (t) => {
  const mv = new MultiVectorIndex({
    dim: DIM,
    fde: { preset: 'compact-2560' },
    fdeQuantization: { type: 'sq8', trainingSize: 200 },
    threads: 2,
  })
  await mv.add(keys, docs)
  t.is(mv.indexConfig().quantization.type, 'sq8')
  const m = mv.memoryUsage()
  t.true(m.fde.codes > 0 && m.tokens > 0)
  const recall = await recallAt10(mv, 10, 31, 0, { candidates: 60 })
  t.true(recall >= 0.9, `recall ${recall}`)
})

test('MultiVectorIndex: flat 4-bit PQ fast-scan FDE index (m from the FDE dimension), no f32 FDEs kept', async (t) => {
  // compact-2560 at this dim: 10 reps × 16 partitions × 16 = 2560 FDE dimensions, so m = 640
  // sub-spaces of 4 dimensions (validated against the FDE dimension, not the token dimension).
  const mv = new MultiVectorIndex({
    dim: DIM,
    fde: { preset: 'compact-2560' },
    index: 'flat',
    fdeQuantization: { type: 'pq', nbits: 4, m: 640, rerank: 'none', trainingSize: 300 },
    threads: 2,
  })
  await mv.add(keys, docs)
  t.is(mv.indexConfig().quantization.type, 'pq')
  const m = mv.memoryUsage()
  t.is(m.fde.originals, 0, 'estimates are not rescored, so no f32 FDEs are kept')
  t.true(m.fde.codes > 0)
  const recall = await recallAt10(mv, 10, 37, 100, { candidates: 60 })
  t.true(recall >= 0.9, `recall ${recall}`)
  const file = path.join(tempDir(t), 'pq4.qvm')
  await mv.save(file)
  const back = await MultiVectorIndex.load(file)
  const q = queryFrom(docs[5], 7)
  const [a, b] = [await back.search(q, { k: 10, candidates: 60 }), await mv.search(q, { k: 10, candidates: 60 })]
  t.deepEqual([a.keys, a.scores], [b.keys, b.scores])
  const err = t.throws(
    () => new MultiVectorIndex({ dim: DIM, fde: { preset: 'compact-2560' }, fdeQuantization: { type: 'pq', m: 7 } }),
  )
  t.is((err as QuiverError).code, 'ERR_INVALID_ARGUMENT')
  t.regex(err.message, /2560/)
})

test('MultiVectorIndex defaults: flat 4-bit PQ over wide FDEs, trained on a small collection, default search recall', async (t) => {
  const mv = new MultiVectorIndex({ dim: DIM, threads: 2 })
  t.like(mv.fdeParams, { reps: 40, kSim: 4, dProj: 32, outputDim: 20480 })
  const c = mv.indexConfig()
  t.is(c.index, 'flat')
  t.like(c.quantization, { type: 'pq', nbits: 4, m: 5120, rerank: 'none' })
  // Fewer than 64 documents: f32 FDEs, scanned exactly.
  await mv.add(keys.subarray(0, 40), docs.slice(0, 40))
  t.true(mv.memoryUsage().fde.originals > 0)
  t.is(mv.memoryUsage().fde.codes, 0)
  // 400 documents, far below trainingSize: the add that brings them trains the codes on them.
  await mv.add(keys.subarray(40), docs.slice(40))
  const m = mv.memoryUsage()
  t.is(m.fde.originals, 0, 'no f32 FDEs once the codes are trained')
  t.true(m.fde.codes > 0)
  const recall = await recallAt10(mv, 20, 19, 300, {})
  t.true(recall >= 0.95, `recall ${recall}`)
  // k = 100 takes 1,050 candidates, more than the 400 documents: every one is scored exactly.
  const q = queryFrom(docs[7], 77)
  const [all, exact] = [await mv.search(q, { k: 100 }), await mv.searchExhaustive(q, { k: 100 })]
  t.deepEqual([all.keys, all.scores], [exact.keys, exact.scores])
  // Token dimensions below the default projection keep all of theirs.
  t.is(new MultiVectorIndex({ dim: 8 }).fdeParams.dProj, 8)
})
