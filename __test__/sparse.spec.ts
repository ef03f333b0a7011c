import test from 'ava'
import * as fs from 'node:fs'
import * as path from 'node:path'
import { Collection, SparseEncoder, SparseIndex } from '../ts/index'
import type { SparseSearchResult, SparseStrategy, SparseVector } from '../ts/index'
import { expectCode, expectCodeSync, mulberry32, tempDir } from './helpers'

const FIXTURES = path.join(__dirname, 'fixtures')
const STRATEGIES: SparseStrategy[] = ['maxscore', 'wand', 'exhaustive']
const VOCAB = 300

interface Doc {
  indices: number[]
  values: number[]
}

/** A seeded corpus: distinct term ids in random order, float32 weights (some zero), a few empty vectors. */
function corpus(n: number, seed: number, maxTerms = 24): Doc[] {
  const rnd = mulberry32(seed)
  return Array.from({ length: n }, (_, i) => {
    if (i % 37 === 5) return { indices: [], values: [] }
    const terms = new Set<number>()
    const want = 1 + Math.floor(rnd() * maxTerms)
    // Skewed term ids so some posting lists are long (several blocks).
    while (terms.size < want) terms.add(Math.floor(VOCAB * rnd() ** 2))
    const indices = [...terms]
    const values = indices.map(() => (rnd() < 0.05 ? 0 : Math.fround(rnd() * 3)))
    return { indices, values }
  })
}

/** Exact float32 dot product summed in increasing term order, as the engine computes it. */
function dot(q: Doc, d: Doc): number {
  const qm = new Map(q.indices.map((t, i) => [t, q.values[i]]))
  const terms = d.indices.map((t, i) => [t, d.values[i]] as const).sort((a, b) => a[0] - b[0])
  let s = 0
  for (const [t, w] of terms) {
    const qw = qm.get(t)
    if (qw !== undefined) s = Math.fround(s + Math.fround(Math.fround(qw) * Math.fround(w)))
  }
  return s
}

/** The exhaustive oracle over a key → doc map: top k by score, ties by smaller key, zeros left out. */
function oracle(docs: Map<number, Doc>, q: Doc, k: number): { keys: number[]; scores: number[] } {
  const all = [...docs].map(([key, d]) => [key, dot(q, d)] as const).filter(([, s]) => s > 0)
  all.sort((a, b) => b[1] - a[1] || a[0] - b[0])
  const top = all.slice(0, k)
  return { keys: top.map((x) => x[0]), scores: top.map((x) => x[1]) }
}

function same(
  t: import('ava').ExecutionContext,
  got: SparseSearchResult,
  want: ReturnType<typeof oracle>,
  label: string,
): void {
  t.deepEqual([...got.keys], want.keys, `${label}: keys`)
  // Exact: the engine returns the float32 dot product summed in the same order.
  t.deepEqual([...got.scores], want.scores, `${label}: scores`)
}

test('every strategy, async and sync, equals the exhaustive dot-product oracle exactly', async (t) => {
  const docs = corpus(1500, 1)
  const ix = new SparseIndex({ vocabSize: VOCAB, threads: 2 })
  await ix.add(
    Uint32Array.from(docs, (_, i) => i * 3),
    docs,
  )
  t.is(ix.size, docs.length)
  const byKey = new Map(docs.map((d, i) => [i * 3, d]))
  const queries = corpus(25, 2, 12)
  for (const [qi, q] of queries.entries()) {
    for (const k of [1, 10, 100]) {
      const want = oracle(byKey, q, k)
      for (const strategy of STRATEGIES) {
        same(t, await ix.search(q, { k, strategy }), want, `q${qi} k${k} ${strategy}`)
        same(t, ix.searchSync(q, { k, strategy }), want, `q${qi} k${k} ${strategy} sync`)
      }
    }
  }
  const batch = await ix.searchBatch(queries, { k: 10, strategy: 'wand' })
  batch.forEach((r, i) => same(t, r, oracle(byKey, queries[i], 10), `batch ${i}`))
})

test('approximate strategy: exact scores for what it returns, recall against the oracle, its option checked', async (t) => {
  const docs = corpus(6000, 11, 40)
  const ix = new SparseIndex({ vocabSize: VOCAB })
  await ix.add(
    Uint32Array.from(docs, (_, i) => i),
    docs,
  )
  const byKey = new Map(docs.map((d, i) => [i, d]))
  const queries = corpus(40, 12, 30).filter((q) => q.indices.length > 0)
  let found = 0
  let total = 0
  for (const q of queries) {
    const want = oracle(byKey, q, 10)
    const got = await ix.search(q, { k: 10, strategy: 'approximate' })
    t.deepEqual(ix.searchSync(q, { k: 10, strategy: 'approximate' }).keys, got.keys)
    t.true(got.keys.length <= 10)
    got.keys.forEach((key, j) => {
      const d = byKey.get(key)
      t.truthy(d)
      if (d !== undefined) t.is(got.scores[j], dot(q, d), `score of ${key}`)
    })
    total += want.keys.length
    found += want.keys.filter((key) => got.keys.includes(key)).length
    // Enough candidates to score every document with a head posting can only find more.
    const wide = ix.searchSync(q, { k: 10, strategy: 'approximate', candidates: 6000 })
    t.true(
      want.keys.filter((key) => wide.keys.includes(key)).length >=
        want.keys.filter((key) => got.keys.includes(key)).length,
    )
  }
  t.true(found / total >= 0.9, `recall@10 ${found / total}`)
  t.log(`approximate recall@10 on 6,000 random documents: ${(found / total).toFixed(4)}`)
  const q = queries[0]
  const batch = await ix.searchBatch([q, q], { k: 5, strategy: 'approximate', candidates: 50 })
  t.deepEqual(batch[0].keys, ix.searchSync(q, { k: 5, strategy: 'approximate', candidates: 50 }).keys)
  t.throws(() => ix.searchSync(q, { strategy: 'maxscore', candidates: 10 }), { code: 'ERR_INVALID_ARGUMENT' })
  t.throws(() => ix.searchSync(q, { strategy: 'approximate', candidates: 0 }), { code: 'ERR_INVALID_ARGUMENT' })
  t.throws(() => ix.searchSync(q, { strategy: 'approximate', candidates: 1.5 }), { code: 'ERR_INVALID_ARGUMENT' })
  ix.close()
})

test('CSR input, typed arrays, unsorted ids and zero weights', async (t) => {
  const ix = new SparseIndex({ vocabSize: 100 })
  ix.addSync([1, 2, 3], {
    indptr: Uint32Array.of(0, 3, 3, 5),
    indices: Uint32Array.of(9, 2, 5, 7, 1),
    values: Float32Array.of(1, 0.5, 0, 2, 4),
  })
  t.is(ix.size, 3)
  // Sorted, zero weight dropped; the empty document is stored but never returned.
  t.deepEqual(ix.get(1), { indices: Uint32Array.of(2, 9), values: Float32Array.of(0.5, 1) })
  t.deepEqual(ix.get(2), { indices: new Uint32Array(0), values: new Float32Array(0) })
  t.is(ix.get(4), undefined)
  t.true(ix.has(2) && !ix.has(4))
  const r = ix.searchSync({ indices: Float64Array.of(1, 9, 5), values: [1, 1, 1] }, { k: 10 })
  t.deepEqual([...r.keys], [3, 1])
  t.deepEqual([...r.scores], [4, 1])
  t.deepEqual([...ix.searchSync({ indices: [], values: [] }).keys], [])
  const m = ix.memoryUsage()
  t.true(m.total > 0 && m.total === m.forward + m.postings + m.documents)
  t.is(ix.vocabSize, 100)
})

test('upsert, remove, save and load keep the oracle', async (t) => {
  const docs = corpus(600, 3)
  const byKey = new Map(docs.map((d, i) => [i, d]))
  const ix = new SparseIndex({ vocabSize: VOCAB })
  await ix.add(
    Uint32Array.from(docs, (_, i) => i),
    docs,
  )
  await expectCode(t, () => ix.add([5], [docs[0]]), 'ERR_DUPLICATE_KEY', 'existing key')
  const repl = corpus(100, 4)
  await ix.upsert(
    Uint32Array.from(repl, (_, i) => i * 2),
    repl,
  )
  repl.forEach((d, i) => byKey.set(i * 2, d))
  ix.upsertSync([1000], [docs[1]])
  byKey.set(1000, docs[1])
  const gone = Array.from({ length: 200 }, (_, i) => i * 3 + 1)
  t.is(await ix.remove(gone), 200)
  t.is(ix.removeSync([1, 2, 999999]), 1) // 1 was removed above
  for (const k of [...gone, 2]) byKey.delete(k)
  t.is(ix.size, byKey.size)
  const dir = tempDir(t)
  const file = path.join(dir, 'sparse.qvs')
  await ix.save(file)
  const loaded = await SparseIndex.load(file, { threads: 1 })
  const loadedSync = SparseIndex.loadSync(file)
  t.is(loaded.size, byKey.size)
  const queries = corpus(15, 5, 10)
  for (const [qi, q] of queries.entries()) {
    const want = oracle(byKey, q, 20)
    for (const strategy of STRATEGIES) {
      same(t, await ix.search(q, { k: 20, strategy }), want, `q${qi} ${strategy}`)
      same(t, loaded.searchSync(q, { k: 20, strategy }), want, `loaded q${qi} ${strategy}`)
    }
    same(t, loadedSync.searchSync(q, { k: 20 }), want, `loadSync q${qi}`)
  }
  ix.saveSync(file)
  t.is(SparseIndex.loadSync(file).size, byKey.size)
  const bytes = fs.readFileSync(file)
  bytes[bytes.length - 9] ^= 0x40
  fs.writeFileSync(file, bytes)
  await expectCode(t, () => SparseIndex.load(file), 'ERR_CORRUPT_FILE')
  await expectCode(t, () => SparseIndex.load(path.join(dir, 'missing.qvs')), 'ERR_IO')
})

test('bad inputs are rejected with their codes and change nothing', async (t) => {
  const ix = new SparseIndex({ vocabSize: 10 })
  ix.addSync([1], [{ indices: [1], values: [1] }])
  const bad: Array<[string, () => unknown, string]> = [
    ['duplicate term id', () => ix.add([2], [{ indices: [3, 3], values: [1, 2] }]), 'ERR_INVALID_ARGUMENT'],
    ['NaN weight', () => ix.add([2], [{ indices: [3], values: [NaN] }]), 'ERR_INVALID_ARGUMENT'],
    ['infinite weight', () => ix.add([2], [{ indices: [3], values: [1e39] }]), 'ERR_INVALID_ARGUMENT'],
    ['negative weight', () => ix.add([2], [{ indices: [3], values: [-0.5] }]), 'ERR_INVALID_ARGUMENT'],
    ['beyond vocab', () => ix.add([2], [{ indices: [10], values: [1] }]), 'ERR_INVALID_ARGUMENT'],
    ['fractional id', () => ix.add([2], [{ indices: [1.5], values: [1] }]), 'ERR_INVALID_ARGUMENT'],
    ['negative id', () => ix.add([2], [{ indices: [-1], values: [1] }]), 'ERR_INVALID_ARGUMENT'],
    ['length mismatch', () => ix.add([2], [{ indices: [1, 2], values: [1] }]), 'ERR_INVALID_ARGUMENT'],
    ['keys vs vectors', () => ix.add([2, 3], [{ indices: [1], values: [1] }]), 'ERR_INVALID_ARGUMENT'],
    [
      'duplicate key',
      () =>
        ix.add(
          [2, 2],
          [
            { indices: [1], values: [1] },
            { indices: [2], values: [1] },
          ],
        ),
      'ERR_DUPLICATE_KEY',
    ],
    ['existing key', () => ix.add([1], [{ indices: [2], values: [1] }]), 'ERR_DUPLICATE_KEY'],
    [
      'indptr not from 0',
      () => ix.add([2], { indptr: Uint32Array.of(1, 1), indices: Uint32Array.of(1), values: Float32Array.of(1) }),
      'ERR_INVALID_ARGUMENT',
    ],
    [
      'indptr decreasing',
      () =>
        ix.add([2, 3], {
          indptr: Uint32Array.of(0, 2, 1),
          indices: Uint32Array.of(1, 2),
          values: Float32Array.of(1, 1),
        }),
      'ERR_INVALID_ARGUMENT',
    ],
    [
      'indptr end',
      () => ix.add([2], { indptr: Uint32Array.of(0, 1), indices: Uint32Array.of(1, 2), values: Float32Array.of(1, 1) }),
      'ERR_INVALID_ARGUMENT',
    ],
    [
      'CSR lengths',
      () => ix.add([2], { indptr: Uint32Array.of(0, 2), indices: Uint32Array.of(1, 2), values: Float32Array.of(1) }),
      'ERR_INVALID_ARGUMENT',
    ],
    [
      'CSR types',
      () => ix.add([2], { indptr: [0, 1], indices: Uint32Array.of(1), values: Float32Array.of(1) } as never),
      'ERR_INVALID_ARGUMENT',
    ],
    [
      'unknown vector field',
      () => ix.add([2], [{ indices: [1], values: [1], weights: [] } as never]),
      'ERR_INVALID_ARGUMENT',
    ],
    ['query NaN', () => ix.search({ indices: [1], values: [NaN] }), 'ERR_INVALID_ARGUMENT'],
    ['query negative', () => ix.search({ indices: [1], values: [-1] }), 'ERR_INVALID_ARGUMENT'],
    ['query duplicate', () => ix.search({ indices: [1, 1], values: [1, 1] }), 'ERR_INVALID_ARGUMENT'],
    ['query beyond vocab', () => ix.search({ indices: [11], values: [1] }), 'ERR_INVALID_ARGUMENT'],
    ['strategy', () => ix.search({ indices: [1], values: [1] }, { strategy: 'bmm' as never }), 'ERR_INVALID_ARGUMENT'],
    ['k', () => ix.search({ indices: [1], values: [1] }, { k: 0 }), 'ERR_INVALID_ARGUMENT'],
    [
      'option typo',
      () => ix.search({ indices: [1], values: [1] }, { strategyy: 'wand' } as never),
      'ERR_INVALID_ARGUMENT',
    ],
    [
      'batch query',
      () =>
        ix.searchBatch([
          { indices: [1], values: [1] },
          { indices: [12], values: [1] },
        ]),
      'ERR_INVALID_ARGUMENT',
    ],
  ]
  for (const [label, fn, code] of bad) await expectCode(t, fn, code as 'ERR_INVALID_ARGUMENT', label)
  t.is(ix.size, 1)
  t.false(ix.has(2))
  const e = await expectCode(t, () => ix.add([2], [{ indices: [4], values: [-1] }]), 'ERR_INVALID_ARGUMENT')
  t.regex(e.message, /negative/)
  expectCodeSync(t, () => ix.addSync([2], [{ indices: [3, 3], values: [1, 1] }]), 'ERR_INVALID_ARGUMENT')
  expectCodeSync(t, () => new SparseIndex({ vocabSize: 0 }), 'ERR_INVALID_ARGUMENT')
  expectCodeSync(t, () => new SparseIndex({ vocabSize: 2 ** 32 }), 'ERR_INVALID_ARGUMENT')
  expectCodeSync(t, () => new SparseIndex({ vocabSise: 5 } as never), 'ERR_INVALID_ARGUMENT')
  // Unsorted ids are fine.
  ix.addSync([2], [{ indices: [7, 3, 5], values: [1, 2, 3] }])
  t.deepEqual([...(ix.get(2)?.indices ?? [])], [3, 5, 7])
})

test('add reports progress and honours an aborted signal', async (t) => {
  const docs = corpus(3000, 6, 4)
  const ix = new SparseIndex()
  const seen: Array<[number, number]> = []
  await ix.add(
    Uint32Array.from(docs, (_, i) => i),
    docs,
    { onProgress: (d, n) => seen.push([d, n]) },
  )
  t.deepEqual(seen[seen.length - 1], [3000, 3000])
  const ac = new AbortController()
  ac.abort()
  const e = await expectCode(t, () => ix.upsert([1], [docs[0]], { signal: ac.signal }), 'ERR_ABORTED')
  t.is(e.inserted, 0)
  await expectCode(t, () => ix.search(docs[1], { signal: ac.signal }), 'ERR_ABORTED')
})

test('close releases the index; later calls fail with ERR_CLOSED', async (t) => {
  const ix = new SparseIndex()
  ix.addSync([1], [{ indices: [1], values: [1] }])
  t.false(ix.closed)
  ix.close()
  ix.close()
  t.true(ix.closed)
  expectCodeSync(t, () => ix.size, 'ERR_CLOSED')
  expectCodeSync(t, () => ix.searchSync({ indices: [1], values: [1] }), 'ERR_CLOSED')
  await expectCode(t, () => ix.search({ indices: [1], values: [1] }), 'ERR_CLOSED')
  await expectCode(t, () => ix.add([2], [{ indices: [1], values: [1] }]), 'ERR_CLOSED')
  await expectCode(t, () => ix.remove([1]), 'ERR_CLOSED')
  const enc = SparseEncoder.fromFiles({
    tokenizerJson: path.join(FIXTURES, 'sparse-tokenizer.json'),
    weights: path.join(FIXTURES, 'sparse-weights.json'),
  })
  enc.close()
  t.true(enc.closed)
  expectCodeSync(t, () => enc.encode('dog'), 'ERR_CLOSED')
})

test('SparseEncoder: tokenizer plus weights, from files or buffers', async (t) => {
  const files = {
    tokenizerJson: path.join(FIXTURES, 'sparse-tokenizer.json'),
    weights: path.join(FIXTURES, 'sparse-weights.json'),
  }
  const enc = SparseEncoder.fromFiles(files)
  t.is(enc.vocabSize, 8)
  // dogs = dog ##s; running = run ##ning (weight 0); 'the' has weight 0; [CLS] is special;
  // repeats count once.
  const v = enc.encode('The green dogs running [CLS] zebra, green DOGS')
  t.deepEqual(v, { indices: Uint32Array.of(2, 3, 4, 5), values: Float32Array.of(2.5, 0.5, 1.25, 3) })
  const fromBuf = SparseEncoder.fromBuffers({
    tokenizerJson: fs.readFileSync(files.tokenizerJson),
    weights: Buffer.from('{"dog": 2.5, "##s": 0.5, "green": 1.25, "run": 3.0}'),
  })
  t.deepEqual(fromBuf.encode('the green dogs running'), v)
  const csr = enc.encodeBatch(['green dog', '', 'run'])
  t.deepEqual(csr, {
    indptr: Uint32Array.of(0, 2, 2, 3),
    indices: Uint32Array.of(2, 4, 5),
    values: Float32Array.of(2.5, 1.25, 3),
  })
  const ix = new SparseIndex({ vocabSize: enc.vocabSize })
  await ix.add([10, 20, 30], enc.encodeBatch(['green dogs', 'running', 'green']))
  const r = await ix.search(enc.encode('green dog'), { k: 3 })
  t.deepEqual([...r.keys], [10, 30])
  const rb = await ix.searchBatch(enc.encodeBatch(['run', 'zebra']))
  t.deepEqual(
    rb.map((x) => [...x.keys]),
    [[20], []],
  )
  expectCodeSync(
    t,
    () => SparseEncoder.fromFiles({ ...files, weights: path.join(FIXTURES, 'nope.json') }),
    'ERR_INVALID_ARGUMENT',
  )
  expectCodeSync(
    t,
    () =>
      SparseEncoder.fromBuffers({
        tokenizerJson: fs.readFileSync(files.tokenizerJson),
        weights: Buffer.from('[1, -1]'),
      }),
    'ERR_INVALID_ARGUMENT',
  )
})

test('Collection: sparse field, three-way fused search, save and open', async (t) => {
  const DIM = 4
  const rnd = mulberry32(9)
  const sparse = corpus(60, 10, 8)
  const words = ['alpha', 'beta', 'gamma', 'delta']
  const docs = sparse.map((s, i) => ({
    id: `d${i}`,
    text: `${words[i % 4]} item ${i}`,
    vector: Float32Array.from({ length: DIM }, () => rnd() - 0.5),
    sparse: s as SparseVector,
  }))
  const c = new Collection({ text: true, vector: { dim: DIM, metric: 'cosine' }, sparse: { vocabSize: VOCAB } })
  t.is(await c.upsert(docs), 60)
  t.deepEqual(
    Array.from(c.get('d1')?.sparse?.indices ?? []),
    [...sparse[1].indices].filter((_, j) => sparse[1].values[j] > 0).sort((a, b) => a - b),
  )
  // Sparse only: the retriever's own list, with its exact scores.
  const q = sparse[3]
  const only = await c.search({ sparse: q, k: 5 })
  const byKey = new Map(sparse.map((d, i) => [i, d]))
  const want = oracle(byKey, q, 5)
  t.deepEqual(
    only.map((h) => h.id),
    want.keys.map((k) => `d${k}`),
  )
  t.deepEqual(
    only.map((h) => h.parts.sparse?.score),
    want.scores,
  )
  // Three retrievers fused (RRF by default), every part reported.
  const query = { text: docs[3].text, vector: docs[3].vector, sparse: q, k: 5 }
  const all = await c.search(query)
  t.is(all[0].id, 'd3')
  t.truthy(all[0].parts.text && all[0].parts.vector && all[0].parts.sparse)
  const sparseList = await c.search({ sparse: q, k: 50 })
  for (const h of all) {
    const r = h.parts.sparse?.rank
    if (r !== undefined) t.is(sparseList[r - 1].id, h.id)
  }
  await expectCode(t, () => c.upsert([{ id: 'x', text: 'a', vector: docs[0].vector }]), 'ERR_INVALID_ARGUMENT')
  await expectCode(
    t,
    () => c.upsert([{ ...docs[0], id: 'y', sparse: { indices: [1], values: [-1] } }]),
    'ERR_INVALID_ARGUMENT',
  )
  t.false(c.has('y'))
  await expectCode(t, () => new Collection({ text: true }).search({ sparse: q }), 'ERR_INVALID_ARGUMENT')
  t.is(await c.remove(['d3']), 1)
  t.true(c.memoryUsage().sparse > 0)
  const dir = tempDir(t)
  await c.save(dir)
  const o = await Collection.open(dir)
  t.is(o.size, 59)
  t.deepEqual(await o.search(query), await c.search(query))
  const manifest = JSON.parse(fs.readFileSync(path.join(dir, 'MANIFEST.json'), 'utf8')) as {
    parts: { sparse?: string }
  }
  t.is(manifest.parts.sparse, 'sparse.qvs')
  manifest.parts.sparse = '../escape.qvs'
  fs.writeFileSync(path.join(dir, 'MANIFEST.json'), JSON.stringify(manifest))
  await expectCode(t, () => Collection.open(dir), 'ERR_CORRUPT_FILE')
  c.close()
  o.close()
})
