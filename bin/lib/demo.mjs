// The README's main job: build an index over 778 real all-MiniLM-L6-v2 embeddings of SAP Fiori
// documentation (shipped in examples/data/fiori, Apache-2.0), run related-document queries,
// and report recall against exact search and queries per second.
//
// Run by `quiver-search demo`, `npm run demo` and `node examples/demo.mjs`.
import { readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { VectorIndex, capabilities } from '../../dist/index.mjs'

/** The demo data as shipped in the package: <package>/examples/data/fiori. */
export const DEFAULT_DATA_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'examples', 'data', 'fiori')

/**
 * Runs the demo, printing through `log` (one call per line, like console.log).
 * @param {{ dataDir?: string, log?: (line?: string) => void }} [options]
 * @returns {Promise<{ n: number, dim: number, buildMs: number, recall: number, k: number, qps: number, batchQps: number }>}
 */
export async function runDemo({ dataDir = DEFAULT_DATA_DIR, log = console.log } = {}) {
  const dim = 384
  const raw = readFileSync(join(dataDir, 'embeddings.bin'))
  const vectors = new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength))
  const records = readFileSync(join(dataDir, 'records.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l))
  const n = vectors.length / dim
  if (n !== records.length) throw new Error(`data mismatch: ${n} vectors, ${records.length} records`)
  const keys = Uint32Array.from({ length: n }, (_, i) => i)

  const caps = capabilities()
  log(`quiver-search ${caps.version} · ${caps.platform}/${caps.arch} · SIMD ${caps.isa}`)
  log(`data: ${n} SAP Fiori documentation chunks, all-MiniLM-L6-v2 (${dim}-d, cosine)\n`)

  const index = new VectorIndex({ dim, metric: 'cosine', m: 16, efConstruction: 200, seed: 42 })
  const exact = new VectorIndex({ dim, metric: 'cosine', index: 'flat' })
  let t = performance.now()
  await index.add(keys, vectors)
  const buildMs = performance.now() - t
  await exact.add(keys, vectors)
  log(
    `built HNSW over ${index.size} vectors in ${buildMs.toFixed(0)} ms, ${(index.memoryUsage().total / 1024).toFixed(0)} KiB\n`,
  )

  // Related documents for a few chunks: the query is the chunk's own embedding; skip itself.
  const row = (i) => vectors.subarray(i * dim, (i + 1) * dim)
  for (const q of [0, 250, 600]) {
    const { keys: hits, distances } = await index.search(row(q), { k: 4 })
    log(`"${records[q].title}"  [${records[q].category}]`)
    for (let j = 0; j < hits.length; j++) {
      if (hits[j] === q) continue
      log(`   ${(1 - distances[j]).toFixed(3)}  ${records[hits[j]].title}`)
    }
    log('')
  }

  // Recall@10 of HNSW against exact search, every chunk as a query; then single-thread QPS.
  const k = 10
  let hit = 0
  for (let i = 0; i < n; i++) {
    const truth = new Set(exact.searchSync(row(i), { k }).keys)
    for (const key of index.searchSync(row(i), { k }).keys) if (truth.has(key)) hit++
  }
  const rounds = 20
  t = performance.now()
  for (let r = 0; r < rounds; r++) for (let i = 0; i < n; i++) index.searchSync(row(i), { k })
  const qps = (rounds * n) / ((performance.now() - t) / 1000)
  const batch = new Float32Array(vectors)
  t = performance.now()
  for (let r = 0; r < rounds; r++) await index.searchBatch(batch, { k })
  const batchQps = (rounds * n) / ((performance.now() - t) / 1000)
  const recall = hit / (n * k)
  log(`recall@${k} vs exact search: ${recall.toFixed(4)} (${n} queries, ef ${index.config().efSearch})`)
  log(
    `single-thread searchSync: ${qps.toFixed(0)} queries/s · searchBatch (${index.config().threads} threads): ${batchQps.toFixed(0)} queries/s`,
  )
  return { n, dim, buildMs, recall, k, qps, batchQps }
}
