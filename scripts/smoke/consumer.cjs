// CommonJS consumer of the installed package (run by scripts/smoke-pack.sh).
const assert = require('node:assert/strict')
const os = require('node:os')
const path = require('node:path')
const fs = require('node:fs')
const { VectorIndex, capabilities } = require('quiver-search')

const index = new VectorIndex({ dim: 3, metric: 'cosine', index: 'flat' })
index.addSync(
  [10, 20, 30],
  [
    [1, 0, 0],
    [0, 1, 0],
    [0, 0, 1],
  ],
)
const r = index.searchSync([0.1, 0.9, 0], { k: 2 })
assert.equal(r.keys[0], 20)
const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'consumer-')), 'y.qvr')
index.saveSync(file)
assert.equal(VectorIndex.loadSync(file).size, 3)
// The runtime running this file (Bun and Deno report a Node version of their own too).
const runtime = globalThis.Bun
  ? `bun ${globalThis.Bun.version}`
  : globalThis.Deno
    ? `deno ${globalThis.Deno.version.deno}`
    : `node ${process.versions.node}`
console.log(`CommonJS consumer ok (${runtime}, ${capabilities().isa})`)
