// Hybrid search over the bundled real data: 778 SAP Fiori documentation chunks with their
// all-MiniLM-L6-v2 vectors (examples/data/fiori). BM25 on the text, cosine on the vectors,
// fused by a Collection. Run: npm run build && node examples/hybrid.mjs
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Collection, TextIndex } from '../dist/index.mjs'

const dir = join(dirname(fileURLToPath(import.meta.url)), 'data', 'fiori')
const raw = readFileSync(join(dir, 'embeddings.bin'))
const vectors = new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength))
const records = readFileSync(join(dir, 'records.jsonl'), 'utf8')
  .trim()
  .split('\n')
  .map((l) => JSON.parse(l))
const dim = vectors.length / records.length

const docs = new Collection({ text: true, vector: { dim, metric: 'cosine' } })
await docs.upsert(
  records.map((r, i) => ({
    id: r.id,
    text: `${r.title} ${r.snippet}`,
    vector: vectors.subarray(i * dim, (i + 1) * dim),
  })),
)

// A query by words and by meaning: the words of one chunk's title, and that chunk's vector.
const probe = records.findIndex((r) => r.title.startsWith('Deploying an SAP Fiori Application'))
const hits = await docs.search({
  text: 'deploy application cloud foundry',
  vector: vectors.subarray(probe * dim, (probe + 1) * dim),
  k: 5,
})
console.log('hybrid: "deploy application cloud foundry" + the vector of', JSON.stringify(records[probe].title))
for (const h of hits) {
  const t = h.parts.text ? `bm25 #${h.parts.text.rank}` : 'bm25 —'
  const v = h.parts.vector ? `dense #${h.parts.vector.rank}` : 'dense —'
  console.log(`  ${h.score.toFixed(3)}  ${t.padEnd(9)} ${v.padEnd(10)} ${docs.get(h.id).text.slice(0, 70)}`)
}

// BM25 alone, and the analyzer's view of a query.
const text = new TextIndex()
await text.add(
  Uint32Array.from(records.keys()),
  records.map((r) => `${r.title} ${r.snippet}`),
)
const bm = await text.search('Deploying applications', { k: 3 })
console.log(
  'bm25 terms:',
  JSON.stringify(text.analyze('Deploying applications')),
  '→',
  Array.from(bm.keys, (k) => records[k].title).join(' | '),
)

// Save and reopen the collection (a directory, replaced atomically).
const tmp = mkdtempSync(join(tmpdir(), 'quiver-hybrid-'))
await docs.save(join(tmp, 'fiori'))
const again = await Collection.open(join(tmp, 'fiori'))
console.log(JSON.stringify({ size: again.size, top: hits[0].id, topParts: Object.keys(hits[0].parts).sort() }))
rmSync(tmp, { recursive: true, force: true })
