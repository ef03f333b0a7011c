// CommonJS consumer of quiver-search/langchain (run by scripts/smoke-pack.sh once @langchain/core is installed).
const assert = require('node:assert/strict')
const { QuiverVectorStore } = require('quiver-search/langchain')

const embeddings = {
  embedDocuments: async (texts) => texts.map((t) => [t.length, 1]),
  embedQuery: async (t) => [t.length, 1],
}
async function main() {
  const store = await QuiverVectorStore.fromTexts(['a', 'bbbbbbbb'], {}, embeddings, { metric: 'l2' })
  const [[doc]] = await store.similaritySearchWithScore('bbbbbbb', 1)
  assert.equal(doc.pageContent, 'bbbbbbbb')
  store.close()
  console.log('CommonJS quiver-search/langchain consumer ok')
}

main().catch((e) => {
  console.error(e)
  process.exit(1)
})
