/* examples/service: the fastify service a user copies, exercised through fastify's inject(). */
import test from 'ava'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import { pathToFileURL } from 'node:url'

interface Reply {
  statusCode: number
  json: () => Record<string, unknown>
}
interface App {
  inject: (o: { method: string; url: string; payload?: unknown }) => Promise<Reply>
  close: () => Promise<void>
}
type Build = (o: { indexPath: string; dim: number }) => Promise<App>

const serverFile = path.join(__dirname, '..', 'examples', 'service', 'server.mjs')
const load = async (): Promise<Build> =>
  ((await import(pathToFileURL(serverFile).href)) as { buildServer: Build }).buildServer

const unit = (dim: number, i: number): number[] => Array.from({ length: dim }, (_, j) => Math.cos(i * 0.37 + j * 1.3))

test('service: upsert, search with filter and payload, delete, save, health, coded errors', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'quiver-service-'))
  const app = await (await load())({ indexPath: path.join(dir, 'v.qvi'), dim: 8 })
  const items = Array.from({ length: 50 }, (_, i) => ({
    key: i,
    vector: unit(8, i),
    tag: i % 2 === 0 ? 'even' : 'odd',
    payload: { title: `doc ${i}` },
  }))
  let r = await app.inject({ method: 'PUT', url: '/items', payload: { items } })
  t.is(r.statusCode, 200)
  t.deepEqual(r.json(), { upserted: 50 })

  r = await app.inject({ method: 'POST', url: '/search', payload: { vector: unit(8, 7), k: 3 } })
  t.is(r.statusCode, 200)
  const hit = r.json() as { keys: number[]; distances: number[]; payloads: { title: string }[] }
  t.true(Array.isArray(hit.keys) && Array.isArray(hit.distances), 'plain JSON arrays')
  t.is(hit.keys[0], 7)
  t.deepEqual(hit.payloads[0], { title: 'doc 7' })

  r = await app.inject({
    method: 'POST',
    url: '/search',
    payload: { vector: unit(8, 7), k: 5, filter: { tag: 'even' } },
  })
  t.true((r.json().keys as number[]).every((k) => k % 2 === 0))

  r = await app.inject({ method: 'DELETE', url: '/items/7' })
  t.deepEqual(r.json(), { removed: 1 })
  r = await app.inject({ method: 'POST', url: '/search', payload: { vector: unit(8, 7), k: 3 } })
  t.false((r.json().keys as number[]).includes(7))

  // Errors: the schema (400 before the handler), the library's coded errors mapped to statuses.
  r = await app.inject({ method: 'POST', url: '/search', payload: { vector: [1, 2, 3] } })
  t.is(r.statusCode, 400)
  t.is(r.json().code, 'ERR_DIMENSION_MISMATCH')
  r = await app.inject({ method: 'POST', url: '/search', payload: { vector: unit(8, 1), filter: { color: 'red' } } })
  t.is(r.statusCode, 400)
  t.is(r.json().code, 'ERR_INVALID_FILTER')
  r = await app.inject({ method: 'POST', url: '/search', payload: { vectr: unit(8, 1) } })
  t.is(r.statusCode, 400)
  r = await app.inject({ method: 'PUT', url: '/items', payload: { items: [{ key: -1, vector: unit(8, 1) }] } })
  t.is(r.statusCode, 400)

  r = await app.inject({ method: 'POST', url: '/admin/save' })
  t.deepEqual(r.json(), { saved: 49 })
  t.true(fs.existsSync(path.join(dir, 'v.qvi')))
  r = await app.inject({ method: 'GET', url: '/health' })
  t.deepEqual(r.json(), { status: 'ok', size: 49 })
  await app.close()

  // A second service opens the saved file.
  const again = await (await load())({ indexPath: path.join(dir, 'v.qvi'), dim: 8 })
  r = await again.inject({ method: 'POST', url: '/search', payload: { vector: unit(8, 8), k: 1 } })
  t.deepEqual(r.json().keys, [8])
  await again.close()
  fs.rmSync(dir, { recursive: true, force: true })
})

test('service: a reload under concurrent searches drops no request and serves the new file', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'quiver-service-'))
  const indexPath = path.join(dir, 'v.qvi')
  const app = await (await load())({ indexPath, dim: 8 })
  const items = Array.from({ length: 2000 }, (_, i) => ({ key: i, vector: unit(8, i) }))
  await app.inject({ method: 'PUT', url: '/items', payload: { items } })
  await app.inject({ method: 'POST', url: '/admin/save' })
  // The file on disk gains a key the running index lacks (as if built elsewhere).
  await app.inject({ method: 'PUT', url: '/items', payload: { items: [{ key: 5000, vector: unit(8, 5000) }] } })
  await app.inject({ method: 'POST', url: '/admin/save' })
  await app.inject({ method: 'DELETE', url: '/items/5000' })

  const searches = Array.from({ length: 300 }, (_, i) =>
    app.inject({ method: 'POST', url: '/search', payload: { vector: unit(8, i), k: 5 } }),
  )
  const reload = app.inject({ method: 'POST', url: '/admin/reload' })
  const more = Array.from({ length: 300 }, (_, i) =>
    app.inject({ method: 'POST', url: '/search', payload: { vector: unit(8, i), k: 5 } }),
  )
  const replies = await Promise.all([...searches, reload, ...more])
  t.deepEqual(
    replies.filter((r) => r.statusCode !== 200).map((r) => r.json()),
    [],
    'every request answered',
  )
  t.deepEqual((await reload).json(), { reloaded: 2001 })
  const r = await app.inject({ method: 'POST', url: '/search', payload: { vector: unit(8, 5000), k: 1 } })
  t.deepEqual(r.json().keys, [5000], 'the reloaded file is served')
  await app.close()
  fs.rmSync(dir, { recursive: true, force: true })
})

test("the README's service excerpt is the example's code", (t) => {
  const readme = fs.readFileSync(path.join(__dirname, '..', 'README.md'), 'utf8')
  const section = readme.slice(readme.indexOf('## In a service'))
  const block = /```js\n([\s\S]*?)```/.exec(section)?.[1] ?? ''
  const source = fs.readFileSync(serverFile, 'utf8').split('\n')
  // Every README line appears in the file, in order, indentation aside.
  let at = 0
  for (const line of block.split('\n').filter((l) => l.trim() !== '')) {
    while (at < source.length && source[at].trim() !== line.trim()) at++
    t.true(at < source.length, `README line not in examples/service/server.mjs (in order): ${line}`)
    at++
  }
})
