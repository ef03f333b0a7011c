/* Result conventions: the JSON form of every result, and similarities next to distances. */
import test from 'ava'
import { fuse, MultiVectorIndex, SparseIndex, TextIndex, VectorIndex } from '../ts/index'

/** JSON.stringify of a result: typed arrays become plain arrays with the same numbers. */
function roundTrip(t: import('ava').ExecutionContext, result: object, label: string): Record<string, unknown> {
  t.false(Object.keys(result).includes('toJSON'), `${label}: toJSON is not enumerable`)
  const back = JSON.parse(JSON.stringify(result)) as Record<string, unknown>
  for (const [key, value] of Object.entries(result)) {
    if (ArrayBuffer.isView(value)) {
      t.true(Array.isArray(back[key]), `${label}.${key} is an array`)
      t.deepEqual(back[key], Array.from(value as unknown as ArrayLike<number>), `${label}.${key}`)
    }
  }
  return back
}

test('every search result serialises to JSON with plain arrays', async (t) => {
  const dim = 4
  const vi = new VectorIndex({ dim, attributes: { tag: 'keyword' } })
  const data = Float32Array.from({ length: 40 }, (_, i) => ((i * 7) % 13) / 13)
  await vi.add([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], data, {
    attributes: Array.from({ length: 10 }, (_, i) => ({ tag: i % 2 ? 'a' : 'b' })),
  })
  const q = data.subarray(0, dim)
  const plain = await vi.search(q, { k: 3 })
  t.deepEqual(roundTrip(t, plain, 'vector').keys, Array.from(plain.keys))
  roundTrip(t, vi.searchSync(q, { k: 3 }), 'vector sync')
  const filtered = roundTrip(t, await vi.search(q, { k: 3, filter: { tag: 'a' }, include: ['attributes'] }), 'filtered')
  t.is(typeof filtered.plan, 'object')
  t.true(Array.isArray(filtered.attributes))
  roundTrip(t, await vi.searchBatch([q, q], { k: 2 }), 'vector batch')

  const text = new TextIndex()
  await text.add([1, 2], ['red apples', 'green apples and pears'])
  roundTrip(t, await text.search('apples', { k: 2 }), 'text')
  for (const r of await text.searchBatch(['apples', 'pears'], { k: 2 })) roundTrip(t, r, 'text batch')

  const sparse = new SparseIndex()
  await sparse.add(
    [1, 2],
    [
      { indices: [1, 2], values: [1, 0.5] },
      { indices: [2], values: [2] },
    ],
  )
  const sr = roundTrip(t, await sparse.search({ indices: [2], values: [1] }, { k: 2 }), 'sparse')
  t.deepEqual(sr.keys, [2, 1])

  const mv = new MultiVectorIndex({ dim: 16 })
  const doc = () => Float32Array.from({ length: 3 * 16 }, () => Math.random())
  await mv.add([1, 2], [doc(), doc()])
  roundTrip(t, await mv.search(doc(), { k: 2 }), 'multi-vector')

  const fused = fuse(
    [
      { keys: plain.keys, scores: plain.distances.map((d) => 1 - d) },
      { keys: Uint32Array.of(3, 1), scores: Float32Array.of(2, 1) },
    ],
    { method: 'rrf' },
    { limit: 5 },
  )
  const f = roundTrip(t, fused, 'fuse')
  const perList = f.perList as { ranks: unknown[]; scores: unknown[] }
  t.true(
    perList.ranks.every((r) => Array.isArray(r)),
    'perList ranks are arrays',
  )
  for (const x of [vi, text, sparse, mv]) x.close()
})

test('similarity: true adds scores, the similarity convention of Collection and the LangChain store', async (t) => {
  const dim = 6
  const data = Float32Array.from({ length: 30 * dim }, (_, i) => Math.sin(i * 0.7) + (i % 5) * 0.1)
  const q = data.slice(0, dim)
  const dot = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
    let s = 0
    for (let i = 0; i < a.length; i++) s += a[i] * b[i]
    return s
  }
  const norm = (a: ArrayLike<number>): number => Math.sqrt(dot(a, a))
  const row = (i: number): Float32Array => data.subarray(i * dim, (i + 1) * dim)
  const expected: Record<string, (i: number) => number> = {
    cosine: (i) => dot(q, row(i)) / (norm(q) * norm(row(i))),
    ip: (i) => dot(q, row(i)),
    l2: (i) => -row(i).reduce((s, x, j) => s + (x - q[j]) ** 2, 0),
  }
  for (const metric of ['cosine', 'ip', 'l2'] as const) {
    const index = new VectorIndex({ dim, metric, index: 'flat' })
    await index.add(
      Uint32Array.from({ length: 30 }, (_, i) => i),
      data,
    )
    const r = await index.search(q, { k: 5, similarity: true })
    t.truthy(r.scores)
    r.keys.forEach((key, j) => {
      t.true(Math.abs((r.scores?.[j] ?? NaN) - expected[metric](key)) < 1e-4, `${metric} key ${key}`)
      if (j > 0) t.true((r.scores?.[j] ?? NaN) <= (r.scores?.[j - 1] ?? NaN), 'descending')
    })
    t.deepEqual(index.searchSync(q, { k: 5, similarity: true }).scores, r.scores)
    const filtered = index.searchSync(q, { k: 5, similarity: true, maxDistance: 1e30 })
    t.deepEqual(filtered.scores, r.scores)
    const batch = await index.searchBatch([q, q], { k: 5, similarity: true })
    t.deepEqual(batch.scores?.subarray(0, 5), r.scores)
    t.is(index.searchSync(q, { k: 5 }).scores, undefined)
    t.throws(() => index.searchSync(q, { similarity: 'yes' as unknown as boolean }), { code: 'ERR_INVALID_ARGUMENT' })
    index.close()
  }
})
