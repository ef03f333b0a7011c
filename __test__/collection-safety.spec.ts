import test from 'ava'
import { fork } from 'node:child_process'
import * as fs from 'node:fs'
import * as path from 'node:path'
import { Collection } from '../ts/index'
import type { CollectionDoc } from '../ts/index'
import { expectCode, mulberry32, tempDir } from './helpers'

const DIM = 8

function docs(n: number, seed: number, prefix = 'd'): CollectionDoc[] {
  const rnd = mulberry32(seed)
  return Array.from({ length: n }, (_, i) => ({
    id: `${prefix}${i}`,
    text: `word${i % 7} item ${i}`,
    vector: Float32Array.from({ length: DIM }, () => rnd() - 0.5),
  }))
}

async function saved(dir: string): Promise<Collection> {
  const c = new Collection({ text: true, vector: { dim: DIM, threads: 1 } })
  await c.upsert(docs(30, 1))
  await c.save(dir)
  return c
}

test('save deletes only generations the collection wrote', async (t) => {
  const dir = tempDir(t)
  const mine = path.join(dir, 'gen-mine')
  fs.mkdirSync(mine)
  fs.writeFileSync(path.join(mine, 'keep.txt'), 'a user file')
  const c = await saved(dir)
  await c.save(dir)
  await c.save(dir)
  t.true(fs.existsSync(path.join(mine, 'keep.txt')), 'a gen-* directory the collection did not write stays')
  const gens = fs.readdirSync(dir).filter((e) => e.startsWith('gen-') && e !== 'gen-mine')
  t.deepEqual(gens.length, 1, gens.join(', '))
  t.is((await Collection.open(dir)).size, 30)
})

test('open rejects manifests that point outside the directory or have the wrong shape', async (t) => {
  const dir = tempDir(t)
  await saved(dir)
  const file = path.join(dir, 'MANIFEST.json')
  const good = JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>
  const outside = path.join(dir, '..', `outside-${process.pid}`)
  fs.mkdirSync(outside, { recursive: true })
  const parts = good.parts as Record<string, unknown>
  const bad: Array<[string, unknown]> = [
    ['part outside the directory', { ...good, parts: { ...parts, vector: '../../outside/vector.qvr' } }],
    ['absolute part path', { ...good, parts: { ...parts, text: path.join(outside, 'text.qvt') } }],
    ['docs part outside', { ...good, parts: { ...parts, docs: { file: '../docs.json', sha256: 'x' } } }],
    ['generation with a path', { ...good, generation: '../gen-x-1' }],
    ['parts null', { ...good, parts: null }],
    ['schema a number', { ...good, schema: 5 }],
    ['schema with an unknown field', { ...good, schema: { nope: true } }],
    ['an array', [good]],
    ['null', null],
  ]
  for (const [label, m] of bad) {
    fs.writeFileSync(file, JSON.stringify(m))
    await expectCode(t, () => Collection.open(dir), 'ERR_CORRUPT_FILE', label)
  }
  fs.rmSync(outside, { recursive: true, force: true })
})

test('a reader opening while a writer saves always gets a complete generation', async (t) => {
  const dir = tempDir(t)
  const writer = await saved(dir)
  const state = { saving: true }
  const saves = (async () => {
    for (let i = 0; i < 25; i++) {
      await writer.upsert(docs(5, 100 + i, `w${i}-`))
      await writer.save(dir)
    }
    state.saving = false
  })()
  let opens = 0
  let errors = 0
  while (state.saving) {
    try {
      const c = await Collection.open(dir)
      c.close()
      opens++
    } catch {
      errors++
    }
  }
  await saves
  t.is(errors, 0, `${errors} failed opens of ${opens + errors}`)
  t.true(opens > 0)
})

test('search concurrent with removes and upserts returns only hits with an id', async (t) => {
  const c = new Collection({ text: true, vector: { dim: DIM, threads: 2 } })
  await c.upsert(docs(300, 3))
  const state = { writing: true }
  const writes = (async () => {
    for (let i = 0; i < 40; i++) {
      await c.remove(Array.from({ length: 10 }, (_, j) => `d${(i * 7 + j) % 300}`))
      await c.upsert(docs(10, 50 + i, `n${i}-`))
    }
    state.writing = false
  })()
  const q = docs(1, 9)[0]
  let hits = 0
  while (state.writing) {
    for (const h of await c.search({ text: 'item word3', vector: q.vector, k: 20 })) {
      hits++
      t.not(h.id, undefined)
    }
  }
  await writes
  t.true(hits > 0)
})

test('a reader process opening in a loop while a writer process saves: no failed open', async (t) => {
  const dir = tempDir(t)
  const c = new Collection({ text: true, vector: { dim: DIM, threads: 1 } })
  await c.upsert(docs(500, 4))
  await c.save(dir)
  const script = path.join(__dirname, 'fixtures', 'scripts', 'collection-saver.mjs')
  const child = fork(script, [dir], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] })
  const progress = { saves: 0 }
  child.on('message', (m) => {
    if (typeof m === 'string' && m.startsWith('saved')) progress.saves++
  })
  await new Promise<void>((resolve) => child.once('message', () => resolve()))
  let opens = 0
  const failures: string[] = []
  const until = Date.now() + 4000
  while (Date.now() < until || progress.saves < 3) {
    try {
      ;(await Collection.open(dir)).close()
      opens++
    } catch (e) {
      failures.push((e as Error).message)
    }
    if (Date.now() > until + 20000) break
  }
  child.kill('SIGKILL')
  await new Promise((r) => child.once('exit', r))
  t.deepEqual(
    failures,
    [],
    `${failures.length} of ${opens + failures.length} opens failed during ${progress.saves} saves`,
  )
  t.true(progress.saves >= 3 && opens > 0, `${progress.saves} saves, ${opens} opens`)
})
