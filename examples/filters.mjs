// The README's filter example as a runnable file (run by __test__/examples.spec.ts).
import { VectorIndex } from '../dist/index.mjs'

const dim = 4
const vectors = Float32Array.from({ length: 4 * dim }, (_, i) => Math.cos(i * 0.7))
const query = vectors.slice(0, dim)

// --- README filters ---
const index = new VectorIndex({
  dim,
  metric: 'cosine',
  attributes: { lang: 'keyword', tags: 'keyword[]', year: 'int', price: 'float', inStock: 'bool' },
  payload: true,
})
await index.add([1, 2, 3, 4], vectors, {
  attributes: [
    { lang: 'en', tags: ['news'], year: 2021, price: 9.5, inStock: true },
    { lang: 'fr', tags: ['news', 'tech'], year: 2023, price: 20, inStock: true },
    { lang: 'en', tags: ['tech'], year: 2024, price: 35, inStock: false },
    { lang: 'de', year: 2019 }, // missing fields are allowed; $exists sees them
  ],
  payloads: [{ title: 'A' }, { title: 'B' }, { title: 'C' }, null],
})
const hits = await index.search(query, {
  k: 10,
  filter: { year: { $gte: 2021 }, $or: [{ lang: 'en' }, { tags: { $all: ['news', 'tech'] } }] },
  include: ['payload'],
})
// hits.keys: the matching keys only; hits.payloads: [{ title: 'A' }, …];
// hits.plan: { strategy: 'exact', matched: 3, distanceComputations: 3, capped: false }
const inStock = index.count({ inStock: true }) // 2, without a search
const near = await index.search(query, { k: 10, maxDistance: 0.2 }) // only hits within 1 − cos ≤ 0.2
// --- end ---

console.log(
  JSON.stringify({
    keys: [...hits.keys].sort(),
    payloads: hits.payloads,
    plan: hits.plan,
    inStock,
    nearMax: Math.max(0, ...near.distances),
  }),
)
