// ESM consumer of the installed package: build, search, save, load (run by scripts/smoke-pack.sh).
import assert from 'node:assert/strict'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { VectorIndex, capabilities, QuiverError } from 'quiver-search'

const dim = 16
const n = 500
const vectors = Float32Array.from({ length: n * dim }, (_, i) => Math.sin(i * 0.37))
const keys = Uint32Array.from({ length: n }, (_, i) => i + 1)
const index = new VectorIndex({ dim, metric: 'l2' })
await index.add(keys, vectors)
const r = await index.search(vectors.subarray(7 * dim, 8 * dim), { k: 3 })
assert.equal(r.keys[0], 8)
const file = join(mkdtempSync(join(tmpdir(), 'consumer-')), 'x.qvr')
await index.save(file)
const back = await VectorIndex.load(file, { mmap: true })
assert.deepEqual([...back.searchSync(vectors.subarray(7 * dim, 8 * dim), { k: 3 }).keys], [...r.keys])
await assert.rejects(
  index.add([1], [new Array(dim).fill(0)]),
  (e) => e instanceof QuiverError && e.code === 'ERR_DUPLICATE_KEY',
)
// The runtime running this file (Bun and Deno report a Node version of their own too).
const runtime = globalThis.Bun
  ? `bun ${globalThis.Bun.version}`
  : globalThis.Deno
    ? `deno ${globalThis.Deno.version.deno}`
    : `node ${process.versions.node}`
console.log(`ESM consumer ok (${runtime}, ${capabilities().isa})`)
