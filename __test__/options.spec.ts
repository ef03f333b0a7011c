import test from 'ava'
import { Collection, FdeEncoder, MultiVectorIndex, TextIndex, VectorIndex, evaluate, fuse } from '../ts/index'
import * as path from 'node:path'
import { expectCode, expectCodeSync, randomVectors, seqKeys, tempDir } from './helpers'

const DIM = 8

/** Detaches the array's buffer, as `postMessage(x, [x.buffer])` to a worker would. */
function detach(a: Float32Array | Uint32Array): void {
  structuredClone(a.buffer, { transfer: [a.buffer as ArrayBuffer] })
}

test('unknown option fields are rejected with the nearest valid field named', (t) => {
  const cases: Array<[string, () => unknown, RegExp]> = [
    ['VectorIndex options', () => new VectorIndex({ dim: DIM, efsearch: 10 } as never), /'efsearch'.*'efSearch'/],
    ['VectorIndex metric typo', () => new VectorIndex({ dim: DIM, metrc: 'l2' } as never), /'metrc'.*'metric'/],
    [
      'quantization field',
      () => new VectorIndex({ dim: DIM, quantization: { type: 'sq8', oversampel: 3 } } as never),
      /'oversampel'.*'oversample'/,
    ],
    ['TextIndex option', () => new TextIndex({ stemmer: 'english' } as never), /'stemmer'.*'stem'/],
    ['TextIndex analyzer', () => new TextIndex({ analyzer: { tokenizerJson: 'x', mod: 'subword' } } as never), /'mod'/],
    [
      'MultiVectorIndex option',
      () => new MultiVectorIndex({ dim: 16, tokenStorge: 'f16' } as never),
      /'tokenStorge'.*'tokenStorage'/,
    ],
    ['FdeEncoder option', () => new FdeEncoder({ dim: 16, kSimm: 3 } as never), /'kSimm'.*'kSim'/],
    ['Collection schema', () => new Collection({ txt: true } as never), /'txt'.*'text'/],
    ['fuse options', () => fuse([], { method: 'rrf' }, { limit: 3, limt: 4 } as never), /'limt'.*'limit'/],
    [
      'fusion method',
      () =>
        fuse([{ keys: Uint32Array.of(1), scores: Float32Array.of(1) }], { method: 'rrf', kk: 3 } as never, {
          limit: 3,
        }),
      /'kk'/,
    ],
    ['evaluate options', () => evaluate({}, {}, { metrics: ['ndcg@10'], metric: [] } as never), /'metric'.*'metrics'/],
    [
      'a far-off name lists the valid fields',
      () => new VectorIndex({ dim: DIM, zzzzzzzz: 1 } as never),
      /valid fields: 'dim', 'metric'/,
    ],
  ]
  for (const [label, fn, message] of cases) {
    const e = expectCodeSync(t, fn, 'ERR_INVALID_ARGUMENT', label)
    t.regex(e.message, message, label)
  }
  // A field set to undefined counts as absent.
  t.notThrows(() => new VectorIndex({ dim: DIM, efSearch: undefined, whatever: undefined } as never))
})

test('per-call option objects reject unknown fields too', async (t) => {
  const index = new VectorIndex({ dim: DIM, threads: 1 })
  await index.add(seqKeys(10), randomVectors(10, DIM, 1))
  const q = randomVectors(1, DIM, 2)
  expectCodeSync(t, () => index.searchSync(q, { k: 3, efsearch: 10 } as never), 'ERR_INVALID_ARGUMENT', 'search')
  await expectCode(t, () => index.search(q, { kk: 3 } as never), 'ERR_INVALID_ARGUMENT', 'async search')
  await expectCode(
    t,
    () => index.add(seqKeys(1, 100), randomVectors(1, DIM, 3), { onprogress: () => {} } as never),
    'ERR_INVALID_ARGUMENT',
    'add',
  )
  await expectCode(t, () => VectorIndex.load('x.qvr', { mmmap: true } as never), 'ERR_INVALID_ARGUMENT', 'load')
  const text = new TextIndex({ threads: 1 })
  await expectCode(t, () => text.search('a', { strategie: 'bmw' } as never), 'ERR_INVALID_ARGUMENT', 'text search')
  await expectCode(
    t,
    () => text.add([1], ['a'], { sigal: undefined, onProgres: () => {} } as never),
    'ERR_INVALID_ARGUMENT',
    'text add',
  )
  t.is(index.size, 10, 'nothing was added by the rejected call')
})

test('quantization fields that do not apply to the chosen type are rejected', (t) => {
  const bad: Array<[string, object]> = [
    ['nbits on sq8', { type: 'sq8', nbits: 4 }],
    ['queryBits on pq', { type: 'pq', m: 4, queryBits: 1 }],
    ['m on binary', { type: 'binary', m: 4 }],
    ['oversample without a quantizer', { type: 'none', oversample: 5 }],
  ]
  for (const [label, quantization] of bad) {
    const e = expectCodeSync(
      t,
      () => new VectorIndex({ dim: DIM, quantization } as never),
      'ERR_INVALID_ARGUMENT',
      label,
    )
    t.regex(e.message, /does not apply to type/, label)
  }
  t.notThrows(() => new VectorIndex({ dim: DIM, quantization: { type: 'pq', m: 4, nbits: 4, opq: true } }))
  // Resolved options report every field; passing them back in is accepted.
  for (const type of ['none', 'sq8', 'binary', 'rabitq', 'pq'] as const) {
    const resolved = new VectorIndex({ dim: DIM, quantization: { type } }).config()
    t.deepEqual(new VectorIndex(resolved).config(), resolved, type)
  }
})

test('MultiVectorIndex: fde.dim must agree with dim; small token dimensions can be encoded', (t) => {
  const e = expectCodeSync(
    t,
    () => new MultiVectorIndex({ dim: 16, fde: { dim: 32 } as never }),
    'ERR_INVALID_ARGUMENT',
    'fde.dim vs dim',
  )
  t.regex(e.message, /disagrees with options.dim/)
  t.notThrows(() => new MultiVectorIndex({ dim: 16, fde: { dim: 16 } as never }))
  // A preset's dProj of 16 does not fit 8-dim tokens, but an explicit dProj does.
  const enc = new FdeEncoder({ dim: 8, dProj: 4 })
  t.is(enc.params.dProj, 4)
  expectCodeSync(t, () => new FdeEncoder({ dim: 8 }), 'ERR_INVALID_ARGUMENT', 'preset dProj 16 > dim 8')
})

test('async calls own their inputs: transferring the buffers right after the call changes nothing', async (t) => {
  const n = 500
  const vectors = randomVectors(n, DIM, 7)
  const expected = vectors.slice()
  const keys = seqKeys(n)
  const index = new VectorIndex({ dim: DIM, threads: 2 })
  const pending = index.add(keys, vectors)
  // Detach both inputs (as postMessage(x, [x.buffer]) would) while the add is queued.
  detach(vectors)
  detach(keys)
  t.is(vectors.length, 0, 'the input buffer is detached')
  await pending
  t.is(index.size, n)
  for (const i of [0, 123, n - 1]) {
    t.deepEqual(Array.from(index.get(i) ?? []), Array.from(expected.subarray(i * DIM, (i + 1) * DIM)))
  }
  const q = expected.slice(0, DIM)
  const search = index.search(q, { k: 1 })
  detach(q)
  t.is((await search).keys[0], 0)
})

test('load takes threads (default: the machine’s cores), never the count saved in the file', async (t) => {
  const dir = tempDir(t)
  const cores = new VectorIndex({ dim: DIM }).config().threads
  const index = new VectorIndex({ dim: DIM, threads: 7 })
  await index.add(seqKeys(10), randomVectors(10, DIM, 1))
  await index.save(path.join(dir, 'v.qvr'))
  t.is((await VectorIndex.load(path.join(dir, 'v.qvr'))).config().threads, cores)
  t.is(VectorIndex.loadSync(path.join(dir, 'v.qvr'), { threads: 3 }).config().threads, 3)
  t.is((await VectorIndex.load(path.join(dir, 'v.qvr'), { mmap: true, threads: 1 })).config().threads, 1)
  await expectCode(t, () => VectorIndex.load(path.join(dir, 'v.qvr'), { threads: 0 }), 'ERR_INVALID_ARGUMENT')
  const mv = new MultiVectorIndex({ dim: 16, threads: 5 })
  await mv.add([1], [randomVectors(2, 16, 2)])
  await mv.save(path.join(dir, 'm.qvr'))
  t.is((await MultiVectorIndex.load(path.join(dir, 'm.qvr'))).indexConfig().threads, cores)
  t.is(MultiVectorIndex.loadSync(path.join(dir, 'm.qvr'), { threads: 2 }).indexConfig().threads, 2)
})
