/*
 * Quality on real data from ../shared/data, read only through QUIVER_SHARED_DATA (set by
 * .ci/run); skipped when the variable is unset or the files are absent, so `npm test` passes
 * in a user's checkout.
 *  - Fashion-MNIST: the flat index reproduces the dataset's published exact top-10, and HNSW
 *    recall@10 against that exact answer is ≥ 0.95 at the default ef.
 *  - The 778 real all-MiniLM-L6-v2 vectors: HNSW (cosine) recall@10 against flat ≥ 0.98.
 */
import test from 'ava'
import * as fs from 'node:fs'
import * as path from 'node:path'
import * as zlib from 'node:zlib'
import { VectorIndex } from '../ts/index'

const shared = process.env.QUIVER_SHARED_DATA
const fmnist = shared ? path.join(shared, 'fashion-mnist') : ''
const hasFmnist = fmnist !== '' && fs.existsSync(path.join(fmnist, 'groundtruth', 'test_top100_l2_neighbors.ivecs'))
const fiori = shared ? path.join(shared, 'sap-fiori-minilm-embeddings', 'embeddings.bin') : ''
const hasFiori = fiori !== '' && fs.existsSync(fiori)

function idxImages(file: string, limit: number): Float32Array {
  const b = zlib.gunzipSync(fs.readFileSync(file))
  const n = Math.min(b.readUInt32BE(4), limit)
  const out = new Float32Array(n * 784)
  for (let i = 0; i < out.length; i++) out[i] = b[16 + i]
  return out
}

/** recall@10 of batch result `got` against batch result `truth` (both n × 10, row-major). */
function recallAt10(got: Uint32Array, truth: Uint32Array, n: number): number {
  let hit = 0
  for (let q = 0; q < n; q++) {
    const exact = new Set(truth.subarray(q * 10, q * 10 + 10))
    for (let j = 0; j < 10; j++) if (exact.has(got[q * 10 + j])) hit++
  }
  return hit / (n * 10)
}

const fmnistTest = hasFmnist ? test : test.skip
fmnistTest('Fashion-MNIST: flat matches the exact ground truth; HNSW recall@10 ≥ 0.95', async (t) => {
  const dim = 784
  const nq = 300
  const base = idxImages(path.join(fmnist, 'train-images-idx3-ubyte.gz'), 60000)
  const queries = idxImages(path.join(fmnist, 't10k-images-idx3-ubyte.gz'), nq)
  const gtRaw = fs.readFileSync(path.join(fmnist, 'groundtruth', 'test_top100_l2_neighbors.ivecs'))
  const gt = new Int32Array(gtRaw.buffer, gtRaw.byteOffset, gtRaw.byteLength / 4)
  const keys = Uint32Array.from({ length: base.length / dim }, (_, i) => i)

  const flat = new VectorIndex({ dim, metric: 'l2', index: 'flat' })
  await flat.add(keys, base)
  const exact = await flat.searchBatch(queries, { k: 10 })
  let same = 0
  for (let q = 0; q < nq; q++) {
    const truth = new Set(gt.subarray(q * 101 + 1, q * 101 + 11))
    for (let j = 0; j < 10; j++) if (truth.has(exact.keys[q * 10 + j])) same++
  }
  // Two of the 10k queries have ties at rank 100; none of the first 300 at rank 10.
  t.is(same, nq * 10, 'flat search must reproduce the exact top-10')

  const hnsw = new VectorIndex({ dim, metric: 'l2', m: 16, efConstruction: 100, seed: 42 })
  await hnsw.add(keys.subarray(0, 20000), base.subarray(0, 20000 * dim))
  const flat20 = new VectorIndex({ dim, metric: 'l2', index: 'flat' })
  await flat20.add(keys.subarray(0, 20000), base.subarray(0, 20000 * dim))
  const a = await hnsw.searchBatch(queries, { k: 10 })
  const b = await flat20.searchBatch(queries, { k: 10 })
  const recall = recallAt10(a.keys, b.keys, nq)
  t.log(`HNSW recall@10 on 20k Fashion-MNIST at ef 64: ${recall.toFixed(4)}`)
  t.true(recall >= 0.95, `recall ${recall}`)
})

const fioriTest = hasFiori ? test : test.skip
fioriTest('real MiniLM embeddings: HNSW cosine recall@10 against flat ≥ 0.98', async (t) => {
  const raw = fs.readFileSync(fiori)
  const vectors = new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength))
  const dim = 384
  const n = vectors.length / dim
  const keys = Uint32Array.from({ length: n }, (_, i) => i * 7)
  const hnsw = new VectorIndex({ dim, metric: 'cosine', seed: 7 })
  const flat = new VectorIndex({ dim, metric: 'cosine', index: 'flat' })
  await hnsw.add(keys, vectors)
  await flat.add(keys, vectors)
  const a = await hnsw.searchBatch(vectors, { k: 10 })
  const b = await flat.searchBatch(vectors, { k: 10 })
  const recall = recallAt10(a.keys, b.keys, n)
  t.log(`recall@10 = ${recall.toFixed(4)}`)
  t.true(recall >= 0.98, `recall ${recall}`)
})
