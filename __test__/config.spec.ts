import test from 'ava'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import { pathToFileURL } from 'node:url'
import { MAX_DIM, MAX_EF, MAX_K, QuiverError, VectorIndex, ERROR_CODES } from '../ts/index'
import type { ResolvedVectorIndexOptions, VectorIndexOptions } from '../ts/index'

test('constants have the documented values', (t) => {
  t.is(MAX_K, 10000)
  t.is(MAX_EF, 10000)
  t.is(MAX_DIM, 65536)
  t.deepEqual([...ERROR_CODES].sort(), [
    'ERR_ABORTED',
    'ERR_CAPACITY',
    'ERR_CLOSED',
    'ERR_CORRUPT_FILE',
    'ERR_DIMENSION_MISMATCH',
    'ERR_DUPLICATE_KEY',
    'ERR_INTERNAL',
    'ERR_INVALID_ARGUMENT',
    'ERR_INVALID_FILTER',
    'ERR_IO',
    'ERR_KEY_NOT_FOUND',
    'ERR_NON_FINITE',
    'ERR_NOT_TRAINED',
    'ERR_READ_ONLY',
    'ERR_UNSUPPORTED_PLATFORM',
    'ERR_VERSION_MISMATCH',
  ])
})

test('defaults are applied', (t) => {
  const index = new VectorIndex({ dim: 8 })
  const expectedThreads = (os as { availableParallelism?: () => number }).availableParallelism?.() ?? os.cpus().length
  t.deepEqual(index.config(), {
    dim: 8,
    metric: 'l2',
    index: 'hnsw',
    m: 16,
    efConstruction: 200,
    efSearch: 64,
    seed: 42,
    threads: Math.min(Math.max(1, expectedThreads), 256),
    quantization: {
      type: 'none',
      m: 0,
      nbits: 8,
      opq: false,
      queryBits: 4,
      rerank: 'exact',
      oversample: 1,
      trainingSize: 10000,
    },
    originals: 'memory',
    payload: false,
  })
  t.is(index.dim, 8)
  t.is(index.metric, 'l2')
  t.is(index.indexType, 'hnsw')
  t.is(index.size, 0)
  t.false(index.readOnly)
  t.true(index.memoryUsage().total >= 0)
})

test('explicit options are kept', (t) => {
  const opts: ResolvedVectorIndexOptions = {
    dim: 8,
    metric: 'cosine',
    index: 'flat',
    m: 8,
    efConstruction: 50,
    efSearch: 20,
    seed: 7,
    threads: 1,
    quantization: {
      type: 'pq',
      m: 4,
      nbits: 4,
      opq: true,
      queryBits: 4,
      rerank: 'none',
      oversample: 5,
      trainingSize: 500,
    },
    originals: 'none',
    payload: false,
  }
  const index = new VectorIndex(opts)
  t.deepEqual(index.config(), opts)
  t.is(index.metric, 'cosine')
  t.is(index.indexType, 'flat')
  for (const metric of ['l2', 'ip', 'cosine'] as const) {
    t.is(new VectorIndex({ dim: 2, metric }).metric, metric)
  }
})

test('boundary values are accepted', (t) => {
  t.notThrows(() => new VectorIndex({ dim: 1 }))
  t.notThrows(() => new VectorIndex({ dim: MAX_DIM, index: 'flat' }))
  t.notThrows(() => new VectorIndex({ dim: 4, m: 2 }))
  t.notThrows(() => new VectorIndex({ dim: 4, m: 128 }))
  t.notThrows(() => new VectorIndex({ dim: 4, efConstruction: 1, efSearch: 1 }))
  t.notThrows(() => new VectorIndex({ dim: 4, efConstruction: MAX_EF, efSearch: MAX_EF }))
  t.notThrows(() => new VectorIndex({ dim: 4, seed: 0 }))
  t.notThrows(() => new VectorIndex({ dim: 4, seed: 2 ** 32 - 1 }))
  t.notThrows(() => new VectorIndex({ dim: 4, threads: 1 }))
  t.notThrows(() => new VectorIndex({ dim: 4, threads: 256 }))
})

const badConfigs: [string, unknown][] = [
  ['no options', undefined],
  ['null options', null],
  ['number options', 8],
  ['missing dim', {}],
  ['dim 0', { dim: 0 }],
  ['dim -1', { dim: -1 }],
  ['dim 1.5', { dim: 1.5 }],
  ['dim NaN', { dim: NaN }],
  ['dim > MAX_DIM', { dim: MAX_DIM + 1 }],
  ['dim string', { dim: '8' }],
  ['m 1', { dim: 4, m: 1 }],
  ['m 0', { dim: 4, m: 0 }],
  ['m 129', { dim: 4, m: 129 }],
  ['m 2.5', { dim: 4, m: 2.5 }],
  ['unknown metric', { dim: 4, metric: 'euclidean' }],
  ['metric wrong case', { dim: 4, metric: 'L2' }],
  ['metric null', { dim: 4, metric: null }],
  ['unknown index', { dim: 4, index: 'ivf' }],
  ['efConstruction 0', { dim: 4, efConstruction: 0 }],
  ['efConstruction > MAX_EF', { dim: 4, efConstruction: MAX_EF + 1 }],
  ['efSearch 0', { dim: 4, efSearch: 0 }],
  ['efSearch > MAX_EF', { dim: 4, efSearch: MAX_EF + 1 }],
  ['efSearch fractional', { dim: 4, efSearch: 10.5 }],
  ['seed -1', { dim: 4, seed: -1 }],
  ['seed 2^32', { dim: 4, seed: 2 ** 32 }],
  ['seed fractional', { dim: 4, seed: 0.5 }],
  ['threads 0', { dim: 4, threads: 0 }],
  ['threads 257', { dim: 4, threads: 257 }],
  ['threads fractional', { dim: 4, threads: 1.5 }],
  ['threads Infinity', { dim: 4, threads: Infinity }],
]

for (const [label, opts] of badConfigs) {
  test(`invalid config rejected: ${label}`, (t) => {
    const err = t.throws(() => new VectorIndex(opts as VectorIndexOptions), { instanceOf: QuiverError })
    t.is(err?.code, 'ERR_INVALID_ARGUMENT', err?.message)
    t.true(err instanceof Error)
    t.is(err?.name, 'QuiverError')
  })
}

test('ESM entry (dist/index.mjs) re-exports the whole CJS API and works', async (t) => {
  const root = path.resolve(__dirname, '..')
  const mjs = path.join(root, 'dist', 'index.mjs')
  const cjsPath = path.join(root, 'dist', 'index.js')
  if (!fs.existsSync(mjs) || !fs.existsSync(cjsPath)) {
    t.fail('dist/ is not built: run `npm run build:ts` before the tests')
    return
  }
  const esm = (await import(pathToFileURL(mjs).href)) as Record<string, unknown>
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const cjs = require(cjsPath) as Record<string, unknown>
  const esmNames = Object.keys(esm)
    .filter((k) => k !== 'default')
    .sort()
  t.deepEqual(esmNames, Object.keys(cjs).sort())
  for (const name of esmNames) t.is(esm[name], cjs[name], name)
  for (const name of ['VectorIndex', 'QuiverError', 'capabilities', 'MAX_K', 'MAX_EF', 'MAX_DIM']) {
    t.true(esmNames.includes(name), name)
  }
  const Ctor = esm.VectorIndex as typeof VectorIndex
  const index = new Ctor({ dim: 2, index: 'flat' })
  index.addSync(
    [1, 2],
    [
      [0, 0],
      [1, 1],
    ],
  )
  t.deepEqual(Array.from(index.searchSync([0.9, 0.9], { k: 1 }).keys), [2])
})
