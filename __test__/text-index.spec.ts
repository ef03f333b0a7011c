import test from 'ava'
import * as fs from 'node:fs'
import * as path from 'node:path'
import { TextIndex } from '../ts/index'
import { expectCode, expectCodeSync, tempDir } from './helpers'

const docs = [
  'The quick brown fox jumps over the lazy dog',
  'A café in Zürich serves déjà-vu coffee',
  'Running runners run through the running track',
  'Tokyo 東京 is the capital of Japan',
  '',
  'the and of', // only stop words
  '!!! ??? 🎉🎉',
]

/** Lucene BM25, computed directly (k1 = 1.2, b = 0.75). */
function bm25(index: TextIndex, all: string[], query: string): Map<number, number> {
  const toks = all.map((d) => index.analyze(d))
  const n = toks.length
  const avgdl = toks.reduce((a, t) => a + t.length, 0) / n
  const out = new Map<number, number>()
  for (const term of index.analyze(query)) {
    const df = toks.filter((t) => t.includes(term)).length
    if (df === 0) continue
    const idf = Math.log(1 + (n - df + 0.5) / (df + 0.5))
    toks.forEach((t, i) => {
      const tf = t.filter((x) => x === term).length
      if (tf === 0) return
      const s = (idf * tf * 2.2) / (tf + 1.2 * (1 - 0.75 + (0.75 * t.length) / avgdl))
      out.set(i, (out.get(i) ?? 0) + s)
    })
  }
  return out
}

test('analyzer: accents, stemming, stop words, CJK, emoji and punctuation', (t) => {
  const idx = new TextIndex()
  t.deepEqual(idx.analyze('Café Déjà-vu'), ['cafe', 'deja', 'vu'])
  t.deepEqual(idx.analyze('Running runners'), ['run', 'runner'])
  t.deepEqual(idx.analyze('the and of'), [])
  t.deepEqual(idx.analyze('東京'), ['東', '京'])
  t.deepEqual(idx.analyze('🎉 !!! ...'), [])
  const raw = new TextIndex({ stem: false, stopWords: false })
  t.deepEqual(raw.analyze('The Running'), ['the', 'running'])
  const custom = new TextIndex({ stopWords: ['fox'] })
  t.deepEqual(custom.analyze('the fox'), ['the'])
})

test('BM25 scores equal a direct computation; search order and ties', async (t) => {
  const idx = new TextIndex({ threads: 2 })
  const keys = docs.map((_, i) => i)
  await idx.add(keys, docs)
  t.is(idx.size, docs.length)
  for (const q of ['quick dog', 'running', 'café coffee', '東京', 'capital japan fox']) {
    const want = bm25(idx, docs, q)
    const got = await idx.search(q, { k: 10 })
    t.is(got.keys.length, want.size, q)
    for (let i = 0; i < got.keys.length; i++) {
      t.true(Math.abs(got.scores[i] - (want.get(got.keys[i]) as number)) < 1e-4, `${q}: key ${got.keys[i]}`)
      if (i > 0) t.true(got.scores[i - 1] >= got.scores[i])
    }
    for (const strategy of ['bmw', 'exhaustive'] as const) {
      const other = idx.searchSync(q, { k: 10, strategy })
      t.deepEqual(Array.from(other.keys), Array.from(got.keys), `${q} ${strategy}`)
    }
  }
  // Empty text and stop-word-only documents are indexed but match nothing; empty queries give nothing.
  t.true(idx.has(4) && idx.has(5))
  t.is((await idx.search('')).keys.length, 0)
  t.is((await idx.search('the of')).keys.length, 0)
  // Lone surrogates do not crash (replaced with U+FFFD).
  await idx.add([100], ['broken \ud800 surrogate'])
  t.is((await idx.search('surrogate')).keys[0], 100)
})

test('add replaces, remove, batch search, save/load round trip, damaged files', async (t) => {
  const dir = tempDir(t)
  const idx = new TextIndex({ threads: 2 })
  let progress = 0
  await idx.add([1, 2, 3], ['alpha beta', 'beta gamma', 'gamma delta'], { onProgress: () => progress++ })
  t.true(progress >= 1)
  await idx.add([1], ['omega'])
  t.is((await idx.search('alpha')).keys.length, 0)
  t.is((await idx.search('omega')).keys[0], 1)
  t.is(await idx.remove([2, 99]), 1)
  t.false(idx.has(2))
  const batch = await idx.searchBatch(['gamma', 'omega', 'zzz'], { k: 5 })
  t.deepEqual(
    batch.map((b) => Array.from(b.keys)),
    [[3], [1], []],
  )
  const file = path.join(dir, 'text.qvt')
  await idx.save(file)
  const back = await TextIndex.load(file)
  t.is(back.size, 2)
  t.deepEqual(back.config(), idx.config())
  t.deepEqual(await back.search('gamma delta'), await idx.search('gamma delta'))
  const bytes = fs.readFileSync(file)
  const bad = Buffer.from(bytes)
  bad[bad.length >> 1] ^= 0xff
  fs.writeFileSync(path.join(dir, 'bad.qvt'), bad)
  await expectCode(t, () => TextIndex.load(path.join(dir, 'bad.qvt')), 'ERR_CORRUPT_FILE')
  fs.writeFileSync(path.join(dir, 'short.qvt'), bytes.subarray(0, 40))
  await expectCode(t, () => TextIndex.load(path.join(dir, 'short.qvt')), 'ERR_CORRUPT_FILE')
  await expectCode(t, () => TextIndex.load(path.join(dir, 'nope.qvt')), 'ERR_IO')
})

test('tokenizer.json analyzers and bad options', async (t) => {
  const dir = tempDir(t)
  const tj = path.join(dir, 'tokenizer.json')
  fs.writeFileSync(
    tj,
    JSON.stringify({
      version: '1.0',
      truncation: null,
      padding: null,
      added_tokens: [],
      normalizer: {
        type: 'BertNormalizer',
        clean_text: true,
        handle_chinese_chars: true,
        strip_accents: null,
        lowercase: true,
      },
      pre_tokenizer: { type: 'BertPreTokenizer' },
      post_processor: null,
      decoder: null,
      model: {
        type: 'WordPiece',
        unk_token: '[UNK]',
        continuing_subword_prefix: '##',
        max_input_chars_per_word: 100,
        vocab: { '[UNK]': 0, play: 1, '##ing': 2, '##ed': 3, game: 4 },
      },
    }),
  )
  const pre = new TextIndex({ analyzer: { tokenizerJson: tj }, stem: false, stopWords: false })
  t.deepEqual(pre.analyze('Playing GAMES'), ['playing', 'games'])
  const sub = new TextIndex({ analyzer: { tokenizerJson: tj, mode: 'subword' }, stopWords: false })
  t.deepEqual(sub.analyze('playing played game'), ['play', '##ing', 'play', '##ed', 'game'])
  await sub.add([1, 2], ['played a game', 'nothing'])
  t.is((await sub.search('playing')).keys[0], 1)
  // The tokenizer's bytes travel with the saved index.
  const file = path.join(dir, 'sub.qvt')
  sub.saveSync(file)
  fs.rmSync(tj)
  t.deepEqual(TextIndex.loadSync(file).analyze('playing'), ['play', '##ing'])
  const e = expectCodeSync(t, () => new TextIndex({ analyzer: { tokenizerJson: tj } }), 'ERR_INVALID_ARGUMENT')
  t.true(e.message.includes('tokenizer.json'))
  fs.writeFileSync(path.join(dir, 'broken.json'), '{ not json')
  const e2 = expectCodeSync(
    t,
    () => new TextIndex({ analyzer: { tokenizerJson: path.join(dir, 'broken.json') } }),
    'ERR_INVALID_ARGUMENT',
  )
  t.true(e2.message.includes('broken.json'))
  for (const o of [
    { k1: -1 },
    { b: 1.5 },
    { b: -0.1 },
    { stem: 'french' },
    { stopWords: 'german' },
    { analyzer: 'bert' },
  ]) {
    expectCodeSync(t, () => new TextIndex(o as never), 'ERR_INVALID_ARGUMENT', JSON.stringify(o))
  }
  const idx = new TextIndex()
  await expectCode(t, () => idx.add([1, 1], ['a', 'b']), 'ERR_DUPLICATE_KEY')
  await expectCode(t, () => idx.add([1], ['a', 'b']), 'ERR_INVALID_ARGUMENT')
  await expectCode(t, () => idx.add([1], [3 as unknown as string]), 'ERR_INVALID_ARGUMENT')
  await expectCode(t, () => idx.search('x', { k: 0 }), 'ERR_INVALID_ARGUMENT')
  t.is(idx.size, 0)
})
