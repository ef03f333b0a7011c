/* The demo (the README's main job) and the README snippets run, through the published entry points. */
import test from 'ava'
import { execFileSync } from 'node:child_process'
import * as path from 'node:path'

const root = path.join(__dirname, '..')
const run = (file: string): string =>
  execFileSync(process.execPath, [path.join(root, 'examples', file)], { cwd: root, encoding: 'utf8', timeout: 60_000 })

test('npm run demo: prints related documents, recall against exact search and QPS', (t) => {
  const out = run('demo.mjs')
  t.regex(out, /SIMD (avx512|avx2|neon|scalar)/)
  t.regex(out, /Deploying an SAP Fiori Application/)
  const m = /recall@10 vs exact search: ([0-9.]+)/.exec(out)
  t.truthy(m, out)
  t.true(Number(m?.[1]) >= 0.95, `demo recall ${m?.[1]}`)
  t.regex(out, /searchBatch \(\d+ threads\): \d+ queries\/s/)
})

test('README quickstart (ESM) runs and gives the documented results', (t) => {
  const r = JSON.parse(run('quickstart.mjs')) as {
    keys: number[]
    first: number
    batchCounts: number[]
    size: number
    readOnly: boolean
  }
  t.deepEqual([...r.keys].sort(), [1, 2, 3])
  t.is(r.keys[0], 2) // the query is vector 2 itself
  t.true(Math.abs(r.first) < 1e-5)
  t.deepEqual(r.batchCounts, [3, 3, 3, 3, 3])
  t.is(r.size, 2)
  t.true(r.readOnly)
})

test('CommonJS require() of the package works with coded errors', (t) => {
  const r = JSON.parse(run('quickstart.cjs')) as { key: number; isa: string; code: string }
  t.is(r.key, 10)
  t.is(r.code, 'ERR_DUPLICATE_KEY')
  t.truthy(r.isa)
})

test('examples/hybrid.mjs: BM25 + dense fusion over the bundled Fiori data, saved and reopened', (t) => {
  const out = run('hybrid.mjs')
  const last = JSON.parse(out.trim().split('\n').pop() as string) as { size: number; top: string; topParts: string[] }
  t.is(last.size, 778)
  t.is(last.top, 'local-btp-fiori-tools-0-chunk-0')
  t.deepEqual(last.topParts, ['text', 'vector'])
  t.regex(out, /bm25 terms: \["deploy","applic"\]/)
})

test('examples/multivector.mjs: MUVERA recall against exhaustive MaxSim', (t) => {
  const out = run('multivector.mjs')
  const r = JSON.parse(out.trim().split('\n').pop() as string) as { docs: number; recallAt10: number }
  t.is(r.docs, 1000)
  t.true(r.recallAt10 >= 0.9, `recall ${r.recallAt10}`)
})

test('README filter example runs and gives the documented results', (t) => {
  const r = JSON.parse(run('filters.mjs')) as {
    keys: number[]
    payloads: unknown[]
    plan: { strategy: string; matched: number }
    inStock: number
    nearMax: number
  }
  t.deepEqual(r.keys, [1, 2, 3])
  t.is(r.payloads.length, 3)
  t.deepEqual(r.plan.strategy, 'exact')
  t.is(r.plan.matched, 3)
  t.is(r.inStock, 2)
  t.true(r.nearMax <= 0.2)
})
