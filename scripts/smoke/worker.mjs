// Worker-thread consumer of the installed package (run by scripts/smoke-pack.sh and
// scripts/smoke-runtimes.sh): the addon loads inside a worker_threads Worker, builds an index
// there, searches it (sync and async) and posts the hits back to the main thread. Proves the
// native module is context-aware on the runtime at hand and that its async work completes off
// the main thread.
import assert from 'node:assert/strict'
import { Worker, isMainThread, parentPort } from 'node:worker_threads'

const dim = 8
const n = 200

if (isMainThread) {
  const worker = new Worker(new URL(import.meta.url))
  const result = await new Promise((resolve, reject) => {
    worker.once('message', resolve)
    worker.once('error', reject)
    worker.once('exit', (code) => reject(new Error(`worker exited with code ${code} before replying`)))
  })
  await worker.terminate()
  assert.equal(result.syncKeys[0], 43)
  assert.deepEqual(result.asyncKeys, result.syncKeys)
  assert.equal(result.size, n)
  console.log(`worker consumer ok (${result.runtime})`)
} else {
  const { VectorIndex } = await import('quiver-search')
  const vectors = Float32Array.from({ length: n * dim }, (_, i) => Math.cos(i * 0.61))
  const keys = Uint32Array.from({ length: n }, (_, i) => i + 1)
  const index = new VectorIndex({ dim, metric: 'l2' })
  await index.add(keys, vectors)
  const query = vectors.subarray(42 * dim, 43 * dim)
  const sync = index.searchSync(query, { k: 3 })
  const hits = await index.search(query, { k: 3 })
  const reply = {
    size: index.size,
    syncKeys: [...sync.keys],
    asyncKeys: [...hits.keys],
    runtime: globalThis.Bun
      ? `bun ${globalThis.Bun.version}`
      : globalThis.Deno
        ? `deno ${globalThis.Deno.version.deno}`
        : `node ${process.versions.node}`,
  }
  // worker_threads' MessagePort takes no targetOrigin (that is window.postMessage's).
  // oxlint-disable-next-line unicorn/require-post-message-target-origin
  parentPort.postMessage(reply)
}
