// Multi-vector retrieval with MUVERA on synthetic token sets (no model needed): documents are
// sets of 20–60 unit token vectors around a few topics; queries are perturbed tokens of one
// document. Compares the MUVERA pipeline with exhaustive MaxSim.
// Run: npm run build && node examples/multivector.mjs
import { FdeEncoder, MultiVectorIndex } from '../dist/index.mjs'

const dim = 64
let s = 42
const rnd = () => (s = (s * 1103515245 + 12345) >>> 0) / 2 ** 32 - 0.5
const unit = (v) => {
  const n = Math.hypot(...v) || 1
  return v.map((x) => x / n)
}
const topics = Array.from({ length: 100 }, () => unit(Array.from({ length: dim }, rnd)))
const docs = Array.from({ length: 1000 }, () => {
  const mine = [0, 1, 2].map(() => topics[Math.floor((rnd() + 0.5) * 100)])
  const n = 20 + Math.floor((rnd() + 0.5) * 40)
  const out = new Float32Array(n * dim)
  for (let t = 0; t < n; t++) out.set(unit(mine[t % 3].map((x) => x + 0.35 * rnd())), t * dim)
  return out
})

const enc = new FdeEncoder({ dim, preset: 'compact-2560' })
console.log(`FDE: ${enc.outputDim} dims (reps ${enc.params.reps}, kSim ${enc.params.kSim}, dProj ${enc.params.dProj})`)

// The defaults are the recommended setup: 'wide-20480' FDEs as 4-bit PQ codes in a flat
// fast-scan (trained at the end of this add), f16 tokens for the exact MaxSim rerank.
const mv = new MultiVectorIndex({ dim })
await mv.add(Uint32Array.from(docs.keys()), docs)
let hits = 0
let ms = 0
for (let i = 0; i < 30; i++) {
  const d = docs[i * 31]
  const q = new Float32Array(8 * dim)
  for (let j = 0; j < 8; j++)
    q.set(
      unit(
        Array.from(
          d.subarray(((j * 7) % (d.length / dim)) * dim, (((j * 7) % (d.length / dim)) + 1) * dim),
          (x) => x + 0.2 * rnd(),
        ),
      ),
      j * dim,
    )
  const truth = await mv.searchExhaustive(q, { k: 10 })
  const r = await mv.search(q, { k: 10 })
  ms += r.timings.encodeMs + r.timings.searchMs + r.timings.rerankMs
  hits += Array.from(r.keys).filter((k) => truth.keys.includes(k)).length
}
console.log(JSON.stringify({ docs: mv.size, recallAt10: hits / 300, msPerQuery: +(ms / 30).toFixed(2) }))
