// TypeScript consumer: must type-check against the published .d.ts (tsc --noEmit).
import { VectorIndex, QuiverError, capabilities, MAX_K } from 'quiver-search'
import type { SearchResult, VectorIndexOptions, QuiverErrorCode } from 'quiver-search'

const options: VectorIndexOptions = { dim: 8, metric: 'cosine', m: 16, efConstruction: 100 }
const index = new VectorIndex(options)

export async function run(): Promise<number> {
  await index.add(new Uint32Array([1, 2]), new Float32Array(16), {
    onProgress: (done: number, total: number) => void [done, total],
  })
  const r: SearchResult = await index.search(new Float32Array(8), { k: Math.min(10, MAX_K) })
  const first: number | undefined = r.keys[0]
  try {
    index.addSync([1], [new Float32Array(8)])
  } catch (e) {
    if (e instanceof QuiverError) {
      const code: QuiverErrorCode = e.code
      void code
    }
  }
  void capabilities().isa
  return first ?? -1
}
