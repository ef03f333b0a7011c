// TypeScript consumer of quiver-search/langchain: must type-check against the published .d.ts.
import type { EmbeddingsInterface } from '@langchain/core/embeddings'
import type { DocumentInterface } from '@langchain/core/documents'
import { QuiverVectorStore } from 'quiver-search/langchain'
import type { QuiverVectorStoreArgs } from 'quiver-search/langchain'

export async function run(embeddings: EmbeddingsInterface): Promise<[DocumentInterface, number][]> {
  const args: QuiverVectorStoreArgs = { metric: 'cosine', efSearch: 64 }
  const store = await QuiverVectorStore.fromTexts(['a', 'b'], [{ n: 1 }, { n: 2 }], embeddings, args)
  const ids: string[] = await store.addDocuments([{ pageContent: 'c', metadata: {} }], { ids: ['c'] })
  await store.delete({ ids })
  const mmr: DocumentInterface[] = await store.maxMarginalRelevanceSearch('a', { k: 1 })
  void mmr
  await store.save('dir')
  const again: QuiverVectorStore = await QuiverVectorStore.load('dir', embeddings)
  return again.similaritySearchWithScore('a', 1)
}
