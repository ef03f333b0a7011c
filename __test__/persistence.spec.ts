import test from 'ava'
import type { ExecutionContext } from 'ava'
import * as fs from 'node:fs'
import * as path from 'node:path'
import { VectorIndex } from '../ts/index'
import type { Metric, IndexType } from '../ts/index'
import { expectCode, expectCodeSync, mulberry32, randomVectors, row, seqKeys, tempDir } from './helpers'

const N = 1500
const DIM = 16
const data = randomVectors(N, DIM, 21)
const keys = seqKeys(N, 500)
const queries = randomVectors(20, DIM, 22)

async function buildIndex(metric: Metric, type: IndexType, threads = 2): Promise<VectorIndex> {
  const index = new VectorIndex({
    dim: DIM,
    metric,
    index: type,
    m: 12,
    efConstruction: 100,
    efSearch: 40,
    seed: 9,
    threads,
  })
  await index.add(keys, data)
  await index.remove([500, 501, 502, 999])
  return index
}

async function assertSameIndex(t: ExecutionContext, a: VectorIndex, b: VectorIndex): Promise<void> {
  t.is(b.size, a.size)
  t.is(b.dim, a.dim)
  t.is(b.metric, a.metric)
  t.is(b.indexType, a.indexType)
  const { threads: _ta, ...ca } = a.config()
  const { threads: _tb, ...cb } = b.config()
  t.deepEqual(cb, ca)
  for (let q = 0; q < 20; q++) {
    const query = row(queries, DIM, q)
    const ra = await a.search(query, { k: 10 })
    const rb = await b.search(query, { k: 10 })
    t.deepEqual(rb.keys, ra.keys, `query ${q}`)
    t.deepEqual(rb.distances, ra.distances, `query ${q}`)
  }
  const ba = a.searchBatchSync(queries, { k: 5 })
  const bb = b.searchBatchSync(queries, { k: 5 })
  t.deepEqual(bb, ba)
  for (const key of [503, 504, 1000, 1999, 777]) {
    t.true(b.has(key), `has(${key})`)
    t.deepEqual(b.get(key), a.get(key), `get(${key})`)
  }
  for (const key of [500, 501, 502, 999, 5000]) {
    t.false(b.has(key), `removed/unknown key ${key}`)
    t.is(b.get(key), undefined)
  }
}

for (const [metric, type] of [
  ['l2', 'hnsw'],
  ['cosine', 'hnsw'],
  ['ip', 'flat'],
] as [Metric, IndexType][]) {
  test(`${metric}/${type}: save/load round trip (async, sync, mmap)`, async (t) => {
    const dir = tempDir(t)
    const file = path.join(dir, 'index.qvr')
    const original = await buildIndex(metric, type)
    await original.save(file)
    t.true(fs.statSync(file).size > N * DIM * 4)

    const loaded = await VectorIndex.load(file)
    t.false(loaded.readOnly)
    await assertSameIndex(t, original, loaded)

    const file2 = path.join(dir, 'index-sync.qvr')
    original.saveSync(file2)
    const loadedSync = VectorIndex.loadSync(file2)
    await assertSameIndex(t, original, loadedSync)

    const mapped = await VectorIndex.load(file, { mmap: true })
    t.true(mapped.readOnly)
    await assertSameIndex(t, original, mapped)
    const mappedSync = VectorIndex.loadSync(file2, { mmap: true })
    t.true(mappedSync.readOnly)
    await assertSameIndex(t, original, mappedSync)

    // A loaded (non-mmap) index is fully writable and independent of the original.
    await loaded.add([100000], [row(data, DIM, 3)])
    t.is(loaded.size, original.size + 1)
    t.false(original.has(100000))
    t.is(await loaded.remove([503]), 1)
    t.true(original.has(503))
    // Saving over an existing file replaces it.
    await loaded.save(file2)
    const reloaded = VectorIndex.loadSync(file2)
    t.is(reloaded.size, loaded.size)
    t.true(reloaded.has(100000))
    t.false(reloaded.has(503))
  })
}

test('empty index round trip', async (t) => {
  const dir = tempDir(t)
  const file = path.join(dir, 'empty.qvr')
  const index = new VectorIndex({ dim: 5, metric: 'cosine' })
  await index.save(file)
  const loaded = await VectorIndex.load(file)
  t.is(loaded.size, 0)
  t.is(loaded.dim, 5)
  t.is(loaded.metric, 'cosine')
  t.is((await loaded.search([1, 2, 3, 4, 5])).keys.length, 0)
  await loaded.add([1], [[1, 0, 0, 0, 0]])
  t.is((await loaded.search([1, 2, 3, 4, 5])).keys[0], 1)
})

test('mmap-loaded index is read-only: writes fail with ERR_READ_ONLY', async (t) => {
  const dir = tempDir(t)
  const file = path.join(dir, 'ro.qvr')
  const original = await buildIndex('l2', 'hnsw')
  original.saveSync(file)
  const ro = await VectorIndex.load(file, { mmap: true })
  const size = ro.size
  const c = 'ERR_READ_ONLY'
  await expectCode(t, () => ro.add([1], [row(data, DIM, 0)]), c, 'add')
  expectCodeSync(t, () => ro.addSync([1], [row(data, DIM, 0)]), c, 'addSync')
  await expectCode(t, () => ro.upsert([503], [row(data, DIM, 0)]), c, 'upsert')
  expectCodeSync(t, () => ro.upsertSync([503], [row(data, DIM, 0)]), c, 'upsertSync')
  await expectCode(t, () => ro.remove([503]), c, 'remove')
  expectCodeSync(t, () => ro.removeSync([503]), c, 'removeSync')
  t.is(ro.size, size)
  t.true(ro.has(503))
  // Still serves reads, and can be saved to a new (writable) copy.
  t.is((await ro.search(row(data, DIM, 10), { k: 1 })).keys[0], 510)
  const copy = path.join(dir, 'copy.qvr')
  await ro.save(copy)
  const rw = VectorIndex.loadSync(copy)
  t.false(rw.readOnly)
  t.is(await rw.add([1], [row(data, DIM, 0)]), 1)
})

test('ERR_IO: save to a missing directory leaves the previous file intact; load of missing file', async (t) => {
  const dir = tempDir(t)
  const good = path.join(dir, 'good.qvr')
  const original = await buildIndex('l2', 'hnsw')
  await original.save(good)
  const bytes = fs.readFileSync(good)

  await original.add([9000], [row(data, DIM, 0)])
  const missing = path.join(dir, 'no', 'such', 'dir', 'x.qvr')
  await expectCode(t, () => original.save(missing), 'ERR_IO', 'save')
  expectCodeSync(t, () => original.saveSync(missing), 'ERR_IO', 'saveSync')
  const sub = path.join(dir, 'sub')
  fs.mkdirSync(sub)
  await expectCode(t, () => original.save(sub), 'ERR_IO', 'save onto a directory')
  expectCodeSync(t, () => original.saveSync(sub), 'ERR_IO', 'saveSync onto a directory')
  t.false(fs.existsSync(path.join(dir, 'no')))
  t.deepEqual(fs.readdirSync(dir).sort(), ['good.qvr', 'sub'], 'failed saves leave no temporary files behind')
  t.deepEqual(fs.readFileSync(good), bytes, 'previous file untouched')
  const reloaded = await VectorIndex.load(good)
  t.is(reloaded.size, original.size - 1)
  t.false(reloaded.has(9000))
  t.is((await reloaded.search(row(data, DIM, 20), { k: 1 })).keys[0], 520)

  const absent = path.join(dir, 'absent.qvr')
  await expectCode(t, () => VectorIndex.load(absent), 'ERR_IO', 'load')
  expectCodeSync(t, () => VectorIndex.loadSync(absent), 'ERR_IO', 'loadSync')
  await expectCode(t, () => VectorIndex.load(absent, { mmap: true }), 'ERR_IO', 'load mmap')
  await expectCode(t, () => VectorIndex.load(dir), 'ERR_IO', 'load a directory')
})

/** Saves a reference index and returns its bytes (single-threaded build: the file is deterministic). */
async function referenceBytes(t: ExecutionContext): Promise<{ dir: string; bytes: Buffer }> {
  const dir = tempDir(t)
  const file = path.join(dir, 'ref.qvr')
  const index = await buildIndex('cosine', 'hnsw', 1)
  await index.save(file)
  return { dir, bytes: fs.readFileSync(file) }
}

async function expectLoadFails(
  t: ExecutionContext,
  dir: string,
  name: string,
  content: Uint8Array,
  code: 'ERR_CORRUPT_FILE' | 'ERR_VERSION_MISMATCH',
): Promise<void> {
  const file = path.join(dir, name)
  fs.writeFileSync(file, content)
  await expectCode(t, () => VectorIndex.load(file), code, `${name}: load`)
  expectCodeSync(t, () => VectorIndex.loadSync(file), code, `${name}: loadSync`)
  await expectCode(t, () => VectorIndex.load(file, { mmap: true }), code, `${name}: load mmap`)
  expectCodeSync(t, () => VectorIndex.loadSync(file, { mmap: true }), code, `${name}: loadSync mmap`)
}

test('ERR_CORRUPT_FILE: truncated files', async (t) => {
  const { dir, bytes } = await referenceBytes(t)
  await expectLoadFails(t, dir, 'half.qvr', bytes.subarray(0, bytes.length >> 1), 'ERR_CORRUPT_FILE')
  await expectLoadFails(t, dir, 'minus1.qvr', bytes.subarray(0, bytes.length - 1), 'ERR_CORRUPT_FILE')
  await expectLoadFails(t, dir, 'header-only.qvr', bytes.subarray(0, 12), 'ERR_CORRUPT_FILE')
  await expectLoadFails(t, dir, 'magic-only.qvr', bytes.subarray(0, 4), 'ERR_CORRUPT_FILE')
})

test('ERR_CORRUPT_FILE: empty file, random bytes, foreign file, trailing garbage', async (t) => {
  const { dir, bytes } = await referenceBytes(t)
  await expectLoadFails(t, dir, 'empty.qvr', new Uint8Array(0), 'ERR_CORRUPT_FILE')
  const rnd = mulberry32(77)
  const noise = new Uint8Array(4096)
  for (let i = 0; i < noise.length; i++) noise[i] = Math.floor(rnd() * 256)
  await expectLoadFails(t, dir, 'noise.qvr', noise, 'ERR_CORRUPT_FILE')
  await expectLoadFails(
    t,
    dir,
    'json.qvr',
    Buffer.from(JSON.stringify({ hello: 'world' }).repeat(100)),
    'ERR_CORRUPT_FILE',
  )
  await expectLoadFails(t, dir, 'garbage.qvr', Buffer.concat([bytes, Buffer.from('extra')]), 'ERR_CORRUPT_FILE')
})

test('ERR_CORRUPT_FILE: a single flipped byte anywhere', async (t) => {
  const { dir, bytes } = await referenceBytes(t)
  // Same build, same bytes: the offsets below always hit the same (checksummed) data.
  const again = await referenceBytes(t)
  t.deepEqual(again.bytes, bytes, 'single-threaded builds with one seed must produce identical files')
  // Middle of the file (vector data / graph), plus a few other offsets past the version field.
  const offsets = [
    bytes.length >> 1,
    Math.floor(bytes.length * 0.25),
    Math.floor(bytes.length * 0.9),
    bytes.length - 1,
    20,
  ]
  for (const off of offsets) {
    const copy = Buffer.from(bytes)
    copy[off] ^= 0x5a
    await expectLoadFails(t, dir, `flip-${off}.qvr`, copy, 'ERR_CORRUPT_FILE')
  }
  // A flipped byte in the magic.
  const badMagic = Buffer.from(bytes)
  badMagic[0] ^= 0xff
  await expectLoadFails(t, dir, 'magic.qvr', badMagic, 'ERR_CORRUPT_FILE')
})

test('ERR_VERSION_MISMATCH: patched format version (u32 LE after the 8-byte magic)', async (t) => {
  const { dir, bytes } = await referenceBytes(t)
  const version = bytes.readUInt32LE(8)
  t.log(`magic ${JSON.stringify(bytes.subarray(0, 8).toString('latin1'))}, format version ${version}`)
  t.true(version >= 1 && version < 1000, `implausible version field ${version}`)
  for (const v of [version + 1, 0xffffffff]) {
    const copy = Buffer.from(bytes)
    copy.writeUInt32LE(v, 8)
    await expectLoadFails(t, dir, `v${v}.qvr`, copy, 'ERR_VERSION_MISMATCH')
  }
})

test('saving over a memory-mapped file leaves the mapped index intact', async (t) => {
  const dir = tempDir(t)
  const file = path.join(dir, 'shared.qvr')
  const original = await buildIndex('l2', 'hnsw')
  await original.save(file)
  const mapped = await VectorIndex.load(file, { mmap: true })
  const before = await mapped.search(row(data, DIM, 30), { k: 5 })
  // Overwrite the file with a different index while the map is live.
  const other = new VectorIndex({ dim: DIM })
  await other.add([1, 2], [row(data, DIM, 0), row(data, DIM, 1)])
  await other.save(file)
  t.is(mapped.size, original.size)
  const after = await mapped.search(row(data, DIM, 30), { k: 5 })
  t.deepEqual(after, before)
  t.deepEqual(mapped.get(530), original.get(530))
  t.is((await VectorIndex.load(file)).size, 2)
})
