/*
 * loadBeir(): the small fixture in __test__/fixtures/beir-mini, malformed and missing files, and
 * (when QUIVER_SHARED_DATA points at the shared data, which holds beir-scifact/) the real SciFact.
 */
import test from 'ava'
import type { ExecutionContext } from 'ava'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import { loadBeir } from '../ts/beir'
import { evaluate } from '../ts/evaluate'
import { QuiverError } from '../ts/errors'
import type { QuiverErrorCode } from '../ts/errors'

const MINI = path.join(__dirname, 'fixtures', 'beir-mini')

async function rejectsCode(
  t: ExecutionContext,
  p: Promise<unknown>,
  code: QuiverErrorCode,
  label: string,
): Promise<QuiverError | undefined> {
  const err = (await t.throwsAsync(p, { instanceOf: QuiverError }, label)) as QuiverError | undefined
  if (err !== undefined) t.is(err.code, code, `${label}: ${err.message}`)
  return err
}

/** A temp copy of beir-mini whose files can be overwritten; removed after the test. */
function scratch(t: ExecutionContext, files: Record<string, string | null> = {}): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'quiver-beir-'))
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  fs.cpSync(MINI, dir, { recursive: true })
  for (const [name, content] of Object.entries(files)) {
    const file = path.join(dir, name)
    if (content === null) fs.rmSync(file)
    else fs.writeFileSync(file, content)
  }
  return dir
}

test('loads the fixture (default split test)', async (t) => {
  const d = await loadBeir(MINI)
  t.deepEqual(
    d.corpus.map((doc) => doc.id),
    ['d1', 'd2', 'd3', '4', 'd5'],
  )
  t.deepEqual(d.corpus[0], { id: 'd1', title: 'Cats', text: 'Cats purr when they are content.' })
  t.is(d.corpus[2].title, '', 'missing title reads as empty')
  t.is(d.corpus[3].id, '4', 'numeric _id becomes a string')
  t.deepEqual(d.corpus[4], { id: 'd5', title: 'Ünïcode ✓', text: 'Tabs\tand "quotes" survive.' })
  // only queries of the test qrels, in queries.jsonl order
  t.deepEqual(d.queries, [
    { id: 'q1', text: 'do cats purr' },
    { id: 'q2', text: 'which animals bark' },
  ])
  t.deepEqual(
    [...d.qrels].map(([q, docs]) => [q, [...docs]]),
    [
      [
        'q2',
        [
          ['d2', 2],
          ['d1', 1],
        ],
      ],
      [
        'q1',
        [
          ['d1', 1],
          ['d5', 0],
        ],
      ],
    ],
  )
  t.deepEqual(await loadBeir(MINI, { split: 'test' }), d)
})

test('other split', async (t) => {
  const d = await loadBeir(MINI, { split: 'dev' })
  t.deepEqual(d.queries, [{ id: 'q3', text: 'where do birds fly in winter' }])
  t.deepEqual(
    [...d.qrels.entries()].map(([q, docs]) => [q, [...docs]]),
    [['q3', [['4', 1]]]],
  )
  t.is(d.corpus.length, 5)
})

test('CRLF line ends, a BOM, blank lines and a qrels file without header are accepted', async (t) => {
  const dir = scratch(t, {
    'queries.jsonl': '\ufeff{"_id": "q1", "text": "do cats purr"}\r\n\r\n{"_id": "q2", "text": "bark"}\r\n',
    'qrels/test.tsv': 'q1\td1\t1\r\nq2\td2\t1\r\nq2\td2\t3\r\n',
  })
  const d = await loadBeir(dir)
  t.deepEqual(d.queries, [
    { id: 'q1', text: 'do cats purr' },
    { id: 'q2', text: 'bark' },
  ])
  t.is(d.qrels.get('q2')?.get('d2'), 3, 'a repeated pair keeps the last grade')
})

test('missing files are ERR_IO naming the file', async (t) => {
  let e = await rejectsCode(t, loadBeir(path.join(MINI, 'nope')), 'ERR_IO', 'missing dir')
  t.regex(e?.message ?? '', /test\.tsv/)
  e = await rejectsCode(t, loadBeir(MINI, { split: 'train' }), 'ERR_IO', 'missing split')
  t.regex(e?.message ?? '', /qrels[/\\]train\.tsv/)
  e = await rejectsCode(t, loadBeir(scratch(t, { 'corpus.jsonl': null })), 'ERR_IO', 'missing corpus')
  t.regex(e?.message ?? '', /corpus\.jsonl/)
  e = await rejectsCode(t, loadBeir(scratch(t, { 'queries.jsonl': null })), 'ERR_IO', 'missing queries')
  t.regex(e?.message ?? '', /queries\.jsonl/)
})

test('malformed lines are ERR_CORRUPT_FILE naming file and line', async (t) => {
  const good = fs.readFileSync(path.join(MINI, 'corpus.jsonl'), 'utf8').split('\n')
  const cases: Array<[string, Record<string, string>, RegExp]> = [
    [
      'bad JSON in corpus',
      { 'corpus.jsonl': [good[0], good[1], '{"_id": "d3", "text": oops}'].join('\n') },
      /corpus\.jsonl:3: invalid JSON/,
    ],
    [
      'bad JSON in queries',
      { 'queries.jsonl': '{"_id": "q1", "text": "a"}\n[1, 2\n' },
      /queries\.jsonl:2: invalid JSON/,
    ],
    ['not an object', { 'corpus.jsonl': '"just a string"\n' }, /corpus\.jsonl:1: expected a JSON object/],
    ['missing _id', { 'corpus.jsonl': `${good[0]}\n{"title": "t", "text": "x"}\n` }, /corpus\.jsonl:2: .*_id/],
    ['non-string text', { 'corpus.jsonl': '{"_id": "d1", "text": 5}\n' }, /corpus\.jsonl:1: "text" must be a string/],
    [
      'duplicate corpus _id',
      { 'corpus.jsonl': `${good[0]}\n${good[1]}\n${good[0]}\n` },
      /corpus\.jsonl:3: duplicate _id "d1"/,
    ],
    [
      'duplicate query _id',
      { 'queries.jsonl': '{"_id": "q1", "text": "a"}\n{"_id": "q1", "text": "b"}\n' },
      /queries\.jsonl:2: duplicate/,
    ],
    [
      'qrels with two fields',
      { 'qrels/test.tsv': 'query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td2\n' },
      /test\.tsv:3: expected 3 tab-separated fields/,
    ],
    [
      'qrels non-numeric score',
      { 'qrels/test.tsv': 'query-id\tcorpus-id\tscore\nq1\td1\thigh\n' },
      /test\.tsv:2: score "high" is not a number/,
    ],
    [
      'qrels query not in queries.jsonl',
      { 'qrels/test.tsv': 'query-id\tcorpus-id\tscore\nq1\td1\t1\nq9\td1\t1\n' },
      /test\.tsv:3: query "q9" is not in/,
    ],
  ]
  for (const [label, files, re] of cases) {
    const e = await rejectsCode(t, loadBeir(scratch(t, files)), 'ERR_CORRUPT_FILE', label)
    t.regex(e?.message ?? '', re, label)
  }
})

test('bad arguments are ERR_INVALID_ARGUMENT', async (t) => {
  const bad = (x: unknown): never => x as never
  await rejectsCode(t, loadBeir(''), 'ERR_INVALID_ARGUMENT', 'empty dir')
  await rejectsCode(t, loadBeir(bad(42)), 'ERR_INVALID_ARGUMENT', 'non-string dir')
  await rejectsCode(t, loadBeir(MINI, { split: '../qrels/test' }), 'ERR_INVALID_ARGUMENT', 'split with separators')
  await rejectsCode(t, loadBeir(MINI, { split: '' }), 'ERR_INVALID_ARGUMENT', 'empty split')
  await rejectsCode(t, loadBeir(MINI, { split: bad(1) }), 'ERR_INVALID_ARGUMENT', 'non-string split')
  await rejectsCode(t, loadBeir(MINI, bad(null)), 'ERR_INVALID_ARGUMENT', 'null options')
})

const shared = process.env.QUIVER_SHARED_DATA
const scifact = shared ? path.join(shared, 'beir-scifact') : ''
const hasScifact = scifact !== '' && fs.existsSync(path.join(scifact, 'qrels', 'test.tsv'))
const scifactTest = hasScifact ? test : test.skip
const why = shared ? `${scifact} not found` : 'QUIVER_SHARED_DATA is not set'
scifactTest(
  `SciFact (shared data): 5,183 docs, 300 test queries, 339 judgements${hasScifact ? '' : ` — skipped: ${why}`}`,
  async (t) => {
    const d = await loadBeir(scifact)
    t.is(d.corpus.length, 5183)
    t.is(d.queries.length, 300)
    t.is(d.qrels.size, 300)
    let pairs = 0
    for (const docs of d.qrels.values()) pairs += docs.size
    t.is(pairs, 339)
    const ids = new Set(d.corpus.map((doc) => doc.id))
    for (const docs of d.qrels.values())
      for (const doc of docs.keys()) t.true(ids.has(doc), `qrels doc ${doc} in corpus`)
    t.true(d.corpus.every((doc) => doc.text.length > 0))
    // a perfect run scores 1, an empty run 0
    const perfect = new Map([...d.qrels].map(([q, docs]) => [q, [...docs.keys()]]))
    t.is(evaluate(perfect, d.qrels, { metrics: ['ndcg@10'] }).mean['ndcg@10'], 1)
    t.is(evaluate({}, d.qrels, { metrics: ['recall@100'] }).mean['recall@100'], 0)
    const train = await loadBeir(scifact, { split: 'train' })
    t.is(train.queries.length, 809)
  },
)
