import test from 'ava'
import { fork } from 'node:child_process'
import * as fs from 'node:fs'
import * as path from 'node:path'
import { Collection } from '../ts/index'
import type { CollectionDoc } from '../ts/index'
import { expectCode, expectCodeSync, mulberry32, tempDir } from './helpers'

const DIM = 8
const rnd = mulberry32(5)
const words = ['apple', 'banana', 'cherry', 'delta', 'echo', 'foxtrot', 'golf', 'hotel']
function makeDocs(n: number, prefix = 'd'): CollectionDoc[] {
  return Array.from({ length: n }, (_, i) => ({
    id: i % 3 === 0 ? i : `${prefix}${i}`,
    text: `${words[i % 8]} ${words[(i * 3) % 8]} item ${i}`,
    vector: Float32Array.from({ length: DIM }, () => rnd() - 0.5),
  }))
}

test('upsert, get, remove and hybrid search with per-retriever parts', async (t) => {
  const c = new Collection({ text: true, vector: { dim: DIM, metric: 'cosine', threads: 2 } })
  const docs = makeDocs(200)
  t.is(await c.upsert(docs), 200)
  t.is(c.size, 200)
  const d5 = c.get('d5')
  t.is(d5?.text, docs[5].text)
  t.is(d5?.vector?.length, DIM)
  t.true(c.has(0) && !c.has('0'))
  // Vector only: the document's own vector ranks first.
  const v = await c.search({ vector: docs[7].vector, k: 3 })
  t.is(v[0].id, 'd7')
  t.is(v[0].parts.vector?.rank, 1)
  t.true(Math.abs(v[0].score - 1) < 1e-4)
  // Text only.
  const tx = await c.search({ text: 'item 44', k: 5 })
  t.is(tx[0].id, 'd44')
  t.truthy(tx[0].parts.text)
  // Hybrid: convex by default; parts carry both retrievers' ranks where present.
  const h = await c.search({ text: 'item 44', vector: docs[44].vector, k: 5 })
  t.is(h[0].id, 'd44')
  t.is(h[0].parts.text?.rank, 1)
  t.is(h[0].parts.vector?.rank, 1)
  const rrf = await c.search({ text: 'item 44', vector: docs[44].vector, k: 5, fusion: { method: 'rrf' } })
  t.true(Math.abs(rrf[0].score - 2 / 61) < 1e-6)
  // Replace and remove.
  await c.upsert([{ id: 'd44', text: 'zulu', vector: docs[1].vector as Float32Array }])
  t.is(c.get('d44')?.text, 'zulu')
  t.is((await c.search({ text: 'zulu', k: 1 }))[0].id, 'd44')
  t.is(await c.remove(['d44', 'nope', 0]), 2)
  t.false(c.has('d44'))
  t.is(c.size, 198)
  t.is((await c.search({ text: 'zulu', k: 1 })).length, 0)
})

test('bad documents and queries give coded errors and change nothing', async (t) => {
  const c = new Collection({ text: true, vector: { dim: DIM, threads: 2 } })
  const ok = makeDocs(2)
  await expectCode(t, () => c.upsert([ok[0], { ...ok[1], id: ok[0].id }]), 'ERR_DUPLICATE_KEY')
  await expectCode(t, () => c.upsert([{ id: 'x', text: 'a' }]), 'ERR_INVALID_ARGUMENT')
  await expectCode(t, () => c.upsert([{ id: 'x', vector: ok[0].vector }]), 'ERR_INVALID_ARGUMENT')
  await expectCode(
    t,
    () => c.upsert([{ ...ok[0], tokens: { data: new Float32Array(DIM), n: 1 } }]),
    'ERR_INVALID_ARGUMENT',
  )
  await expectCode(
    t,
    () => c.upsert([{ id: 'x', text: 'a', vector: new Float32Array(DIM + 1) }]),
    'ERR_DIMENSION_MISMATCH',
  )
  await expectCode(
    t,
    () => c.upsert([{ id: 'x', text: 'a', vector: new Float32Array(DIM).fill(NaN) }]),
    'ERR_NON_FINITE',
  )
  await expectCode(t, () => c.upsert([{ id: -1, text: 'a', vector: ok[0].vector }]), 'ERR_INVALID_ARGUMENT')
  t.is(c.size, 0)
  await expectCode(t, () => c.search({ k: 3 }), 'ERR_INVALID_ARGUMENT')
  await expectCode(t, () => c.search({ tokens: new Float32Array(DIM) }), 'ERR_INVALID_ARGUMENT')
  await expectCode(
    t,
    () => c.search({ text: 'a', vector: ok[0].vector, fusion: { method: 'magic' } as never }),
    'ERR_INVALID_ARGUMENT',
  )
  expectCodeSync(t, () => new Collection({}), 'ERR_INVALID_ARGUMENT')
  expectCodeSync(t, () => new Collection({ picture: {} } as never), 'ERR_INVALID_ARGUMENT')
  const textOnly = new Collection({ text: true })
  await textOnly.upsert([{ id: 1, text: 'hello' }])
  await expectCode(t, () => textOnly.search({ vector: ok[0].vector }), 'ERR_INVALID_ARGUMENT')
})

test('save/open round trip; damaged or missing parts are rejected', async (t) => {
  const dir = path.join(tempDir(t), 'coll')
  const c = new Collection({ text: { k1: 1.0 }, vector: { dim: DIM, metric: 'cosine', threads: 2 } })
  const docs = makeDocs(300)
  await c.upsert(docs)
  await c.save(dir)
  await c.save(dir) // a second save replaces the generation
  t.is(fs.readdirSync(dir).filter((e) => e.startsWith('gen-')).length, 1)
  const back = await Collection.open(dir)
  t.is(back.size, 300)
  t.deepEqual(back.get('d10'), c.get('d10'))
  t.deepEqual(
    await back.search({ text: 'cherry item', vector: docs[3].vector, k: 7 }),
    await c.search({ text: 'cherry item', vector: docs[3].vector, k: 7 }),
  )
  await back.upsert([{ id: 'new', text: 'fresh', vector: docs[0].vector }])
  t.is(back.size, 301)

  const gen = fs.readdirSync(dir).find((e) => e.startsWith('gen-')) as string
  const copy = (name: string): string => {
    const d = path.join(tempDir(t), name)
    fs.cpSync(dir, d, { recursive: true })
    return d
  }
  const d1 = copy('flip')
  const vf = path.join(d1, gen, 'vector.qvr')
  const b = fs.readFileSync(vf)
  b[b.length - 10] ^= 0x40
  fs.writeFileSync(vf, b)
  await expectCode(t, () => Collection.open(d1), 'ERR_CORRUPT_FILE')
  const d2 = copy('missing')
  fs.rmSync(path.join(d2, gen, 'text.qvt'))
  await expectCode(t, () => Collection.open(d2), 'ERR_CORRUPT_FILE')
  const d3 = copy('docs')
  fs.appendFileSync(path.join(d3, gen, 'docs.json'), ' ')
  await expectCode(t, () => Collection.open(d3), 'ERR_CORRUPT_FILE')
  const d4 = copy('manifest')
  fs.writeFileSync(path.join(d4, 'MANIFEST.json'), '{')
  await expectCode(t, () => Collection.open(d4), 'ERR_CORRUPT_FILE')
  await expectCode(t, () => Collection.open(path.join(dir, 'nothing-here')), 'ERR_IO')
})

test('a process killed in the middle of a save leaves a loadable collection', async (t) => {
  const dir = path.join(tempDir(t), 'crash')
  const c = new Collection({ text: true, vector: { dim: 32, threads: 1 } })
  const base = Array.from({ length: 3000 }, (_, i) => ({
    id: i,
    text: `base ${i}`,
    vector: Float32Array.from({ length: 32 }, () => rnd()),
  }))
  await c.upsert(base)
  await c.save(dir)
  const script = path.join(__dirname, 'fixtures', 'scripts', 'collection-saver.mjs')
  for (const delayMs of [150, 400, 900]) {
    const child = fork(script, [dir], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] })
    await new Promise<void>((resolve) => child.once('message', () => resolve()))
    await new Promise((r) => setTimeout(r, delayMs))
    child.kill('SIGKILL')
    await new Promise((r) => child.once('exit', r))
    const back = await Collection.open(dir)
    t.true(back.size >= 3000, `after a kill at ${delayMs} ms: ${back.size} documents`)
    t.true(back.has(2999))
    const hits = await back.search({ text: 'base 17', k: 1 })
    t.is(hits[0].id, 17)
  }
})

test('concurrent upserts of the same new id keep one document', async (t) => {
  const c = new Collection({ text: true })
  await Promise.all([c.upsert([{ id: 'x', text: 'first' }]), c.upsert([{ id: 'x', text: 'second' }])])
  t.is(c.size, 1)
  t.is(c.get('x')?.text, 'second')
  t.is((await c.search({ text: 'first' })).length, 0)
  t.is((await c.search({ text: 'second' }))[0].id, 'x')
})
