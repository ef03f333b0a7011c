import * as fs from 'node:fs'
import test from 'ava'
import { Collection, FdeEncoder, MultiVectorIndex, TextIndex, VectorIndex } from '../ts/index'
import { expectCode, expectCodeSync, randomVectors, seqKeys } from './helpers'

const DIM = 8

/** Threads of this process (Linux), or undefined elsewhere. */
function threadCount(): number | undefined {
  try {
    const m = /^Threads:\s+(\d+)/m.exec(fs.readFileSync('/proc/self/status', 'utf8'))
    return m === null ? undefined : Number(m[1])
  } catch {
    return undefined
  }
}

test('VectorIndex: close is idempotent; every later call is ERR_CLOSED', async (t) => {
  const index = new VectorIndex({ dim: DIM, threads: 2 })
  await index.add(seqKeys(20), randomVectors(20, DIM, 1))
  t.false(index.closed)
  index.close()
  index.close()
  t.true(index.closed)
  const q = randomVectors(1, DIM, 2)
  expectCodeSync(t, () => index.size, 'ERR_CLOSED', 'size')
  expectCodeSync(t, () => index.has(1), 'ERR_CLOSED', 'has')
  expectCodeSync(t, () => index.get(1), 'ERR_CLOSED', 'get')
  expectCodeSync(t, () => index.memoryUsage(), 'ERR_CLOSED', 'memoryUsage')
  expectCodeSync(t, () => index.searchSync(q), 'ERR_CLOSED', 'searchSync')
  expectCodeSync(t, () => index.addSync([99], q), 'ERR_CLOSED', 'addSync')
  await expectCode(t, () => index.search(q), 'ERR_CLOSED', 'search')
  await expectCode(t, () => index.searchBatch(q), 'ERR_CLOSED', 'searchBatch')
  await expectCode(t, () => index.add([99], q), 'ERR_CLOSED', 'add')
  await expectCode(t, () => index.remove([1]), 'ERR_CLOSED', 'remove')
  await expectCode(t, () => index.save('never.qvr'), 'ERR_CLOSED', 'save')
  t.false(fs.existsSync('never.qvr'))
})

test('a call already running when close() is called finishes normally', async (t) => {
  const n = 3000
  const index = new VectorIndex({ dim: DIM, threads: 2 })
  const adding = index.add(seqKeys(n), randomVectors(n, DIM, 3))
  index.close()
  t.is(await adding, n)
  await expectCode(t, () => index.search(randomVectors(1, DIM, 4)), 'ERR_CLOSED')
})

test('MultiVectorIndex, FdeEncoder, TextIndex and Collection close too', async (t) => {
  const mv = new MultiVectorIndex({ dim: 16, threads: 1 })
  await mv.add([1], [randomVectors(3, 16, 5)])
  mv.close()
  t.true(mv.closed)
  expectCodeSync(t, () => mv.size, 'ERR_CLOSED', 'mv size')
  await expectCode(t, () => mv.search(randomVectors(2, 16, 6)), 'ERR_CLOSED', 'mv search')

  const enc = new FdeEncoder({ dim: 16 })
  enc.close()
  t.true(enc.closed)
  expectCodeSync(t, () => enc.encodeQuery(randomVectors(2, 16, 7)), 'ERR_CLOSED', 'encoder')

  const text = new TextIndex({ threads: 1 })
  await text.add([1], ['hello world'])
  text.close()
  expectCodeSync(t, () => text.searchSync('hello'), 'ERR_CLOSED', 'text searchSync')
  await expectCode(t, () => text.search('hello'), 'ERR_CLOSED', 'text search')
  expectCodeSync(t, () => text.memoryUsage(), 'ERR_CLOSED', 'text memoryUsage')

  const c = new Collection({ text: true, vector: { dim: DIM, threads: 1 } })
  await c.upsert([{ id: 'a', text: 'hello', vector: randomVectors(1, DIM, 8) }])
  c.close()
  c.close()
  t.true(c.closed)
  await expectCode(t, () => c.search({ text: 'hello' }), 'ERR_CLOSED', 'collection search')
})

test('Symbol.asyncDispose and Symbol.dispose close the object where the runtime has them', async (t) => {
  const symbols = Symbol as unknown as { asyncDispose?: symbol; dispose?: symbol }
  if (symbols.asyncDispose === undefined) {
    t.pass('this runtime has no Symbol.asyncDispose')
    return
  }
  const index = new VectorIndex({ dim: DIM, threads: 1 }) as unknown as Record<symbol, () => Promise<void>> &
    VectorIndex
  await index[symbols.asyncDispose]()
  t.true(index.closed)
})

test('creating and closing many indexes does not accumulate threads', async (t) => {
  const before = threadCount()
  if (before === undefined) {
    t.pass('thread counts are read from /proc (Linux only)')
    return
  }
  let peak = before
  for (let i = 0; i < 300; i++) {
    const index = new VectorIndex({ dim: DIM, threads: 2 })
    index.addSync([1, 2], randomVectors(2, DIM, i))
    index.close()
    const text = new TextIndex({ threads: 2 })
    text.close()
    if (i % 25 === 0) peak = Math.max(peak, threadCount() ?? 0)
  }
  // Pool threads exit asynchronously once their pool is dropped.
  for (let i = 0; i < 50 && (threadCount() ?? 0) > before + 8; i++) await new Promise((r) => setTimeout(r, 20))
  t.true(peak < before + 48, `peak ${peak} threads (before: ${before})`)
  t.true((threadCount() ?? 0) <= before + 8, `after: ${threadCount()} (before: ${before})`)
})
