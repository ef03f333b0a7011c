// The README quickstart as a runnable file (run by __test__/examples.spec.ts).
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { VectorIndex } from '../dist/index.mjs'

const rand = (n) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 12.9898) * 0.5)
const vectors = rand(3 * 384)
const query = vectors.slice(384, 768)
const queries = rand(5 * 384)
const dir = mkdtempSync(join(tmpdir(), 'quiver-quickstart-'))

// --- README quickstart ---
const index = new VectorIndex({ dim: 384, metric: 'cosine' }) // hnsw, M 16, efConstruction 200
await index.add(Uint32Array.of(1, 2, 3), vectors) // Float32Array of 3 × 384
const { keys, distances } = await index.search(query, { k: 10 }) // nearest first, 1 − cos
const batch = await index.searchBatch(queries, { k: 10 }) // n × k, on the thread pool
await index.remove([2])
await index.save(join(dir, 'docs.qvr'))
const again = await VectorIndex.load(join(dir, 'docs.qvr'), { mmap: true }) // read-only, served from the file
// --- end ---

console.log(
  JSON.stringify({
    keys: [...keys],
    first: distances[0],
    batchCounts: [...batch.counts],
    size: again.size,
    readOnly: again.readOnly,
  }),
)
rmSync(dir, { recursive: true, force: true })
