// ESM consumer of quiver-search/langchain (run by scripts/smoke-pack.sh once @langchain/core is installed).
import assert from 'node:assert/strict'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import { Document } from '@langchain/core/documents'
import { QuiverVectorStore } from 'quiver-search/langchain'

const embeddings = {
  embedDocuments: async (texts) => texts.map((t) => [t.length, 1, t.includes('cat') ? 5 : 0]),
  embedQuery: async (t) => [t.length, 1, t.includes('cat') ? 5 : 0],
}
const store = await QuiverVectorStore.fromDocuments(
  [new Document({ pageContent: 'a cat', id: 'c' }), new Document({ pageContent: 'a dog', id: 'd' })],
  embeddings,
)
const [[doc, score]] = await store.similaritySearchWithScore('the cat', 1)
assert.equal(doc.id, 'c')
assert.ok(score > 0.9)
const dir = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'consumer-lc-')), 'store')
await store.save(dir)
const again = await QuiverVectorStore.load(dir, embeddings)
assert.equal(again.size, 2)
store.close()
again.close()
console.log('ESM quiver-search/langchain consumer ok')
