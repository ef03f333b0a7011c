/* evaluate(): hand-computed nDCG / recall / precision / MRR / MAP (BEIR / pytrec_eval conventions) and errors. */
import test from 'ava'
import type { ExecutionContext } from 'ava'
import { evaluate } from '../ts/evaluate'
import type { EvalMetric } from '../ts/evaluate'
import { QuiverError } from '../ts/errors'
import type { QuiverErrorCode } from '../ts/errors'

function throwsCode(t: ExecutionContext, fn: () => unknown, code: QuiverErrorCode, label: string): void {
  const err = t.throws(fn, { instanceOf: QuiverError }, label) as QuiverError | undefined
  if (err !== undefined) t.is(err.code, code, `${label}: ${err.message}`)
}

function close(t: ExecutionContext, got: number | undefined, want: number, label: string): void {
  t.true(got !== undefined && Math.abs(got - want) < 1e-12, `${label}: got ${String(got)}, want ${want}`)
}

const METRICS: EvalMetric[] = [
  'ndcg@3',
  'ndcg@10',
  'recall@3',
  'recall@10',
  'precision@3',
  'precision@10',
  'mrr@1',
  'mrr@10',
  'map',
  'map@3',
]

const qrels = {
  q1: { d1: 2, d2: 1, d3: 0 },
  q2: { d4: 1 },
  q3: { d9: 1 }, // not in the run → scores 0
}
const run = {
  q1: ['d3', 'd1', 'd5', 'd2'],
  q2: ['d5', 'd6', 'd4'],
  qx: ['d1'], // not in the qrels → ignored
}

// Hand-computed values.
// q1: relevant d1 (2) at rank 2, d2 (1) at rank 4; d3 is judged 0 (non-relevant).
const idcg1 = 2 / Math.log2(2) + 1 / Math.log2(3)
const q1: Record<string, number> = {
  'ndcg@3': 2 / Math.log2(3) / idcg1,
  'ndcg@10': (2 / Math.log2(3) + 1 / Math.log2(5)) / idcg1,
  'recall@3': 1 / 2,
  'recall@10': 1,
  'precision@3': 1 / 3,
  'precision@10': 2 / 10,
  'mrr@1': 0,
  'mrr@10': 1 / 2,
  map: (1 / 2 + 2 / 4) / 2,
  'map@3': 1 / 2 / 2,
}
// q2: relevant d4 at rank 3.
const q2: Record<string, number> = {
  'ndcg@3': 1 / Math.log2(4),
  'ndcg@10': 1 / Math.log2(4),
  'recall@3': 1,
  'recall@10': 1,
  'precision@3': 1 / 3,
  'precision@10': 1 / 10,
  'mrr@1': 0,
  'mrr@10': 1 / 3,
  map: 1 / 3,
  'map@3': 1 / 3,
}

test('hand-computed per-query values and means; missing queries score 0, extra run queries are ignored', (t) => {
  const r = evaluate(run, qrels, { metrics: METRICS })
  t.deepEqual(Object.keys(r.perQuery), ['q1', 'q2', 'q3'])
  t.deepEqual(Object.keys(r.mean), METRICS)
  for (const m of METRICS) {
    close(t, r.perQuery.q1[m], q1[m], `q1 ${m}`)
    close(t, r.perQuery.q2[m], q2[m], `q2 ${m}`)
    t.is(r.perQuery.q3[m], 0, `q3 ${m}`)
    close(t, r.mean[m], (q1[m] + q2[m] + 0) / 3, `mean ${m}`)
  }
  t.true(Math.abs((r.perQuery.q1['ndcg@3'] ?? 0) - 0.4796249331) < 1e-9, 'q1 ndcg@3 literal') // 1.2619 / 2.6309
})

test('Map inputs give the same result as plain objects', (t) => {
  const mapQrels = new Map(Object.entries(qrels).map(([q, j]) => [q, new Map(Object.entries(j))]))
  const mapRun = new Map(Object.entries(run))
  t.deepEqual(evaluate(mapRun, mapQrels, { metrics: METRICS }), evaluate(run, qrels, { metrics: METRICS }))
})

test('nDCG uses linear gain (grade, not 2^grade − 1)', (t) => {
  const r = evaluate({ q: ['b', 'a'] }, { q: { a: 3, b: 1 } }, { metrics: ['ndcg@2'] })
  const linear = (1 + 3 / Math.log2(3)) / (3 + 1 / Math.log2(3))
  const exponential = (1 + 7 / Math.log2(3)) / (7 + 1 / Math.log2(3))
  close(t, r.mean['ndcg@2'], linear, 'linear gain')
  t.true(Math.abs(linear - exponential) > 0.01)
  // ideal DCG is cut at K: one relevant doc retrieved first of three relevant → 1/1 at K = 1
  close(
    t,
    evaluate({ q: ['a'] }, { q: { a: 3, b: 3, c: 3 } }, { metrics: ['ndcg@1'] }).mean['ndcg@1'],
    1,
    'ideal cut at K',
  )
})

test('queries without relevant documents score 0 and count in the mean; repeated run ids count once', (t) => {
  const r = evaluate(
    { q: ['a', 'a', 'b'], z: ['x'] },
    { q: { b: 1 }, z: { x: 0, y: -1 } },
    { metrics: ['mrr@10', 'recall@2', 'precision@2'] },
  )
  // q deduplicated to [a, b]: b at rank 2
  close(t, r.perQuery.q['mrr@10'], 1 / 2, 'mrr')
  close(t, r.perQuery.q['recall@2'], 1, 'recall@2')
  close(t, r.perQuery.q['precision@2'], 1 / 2, 'precision@2')
  t.deepEqual(r.perQuery.z, { 'mrr@10': 0, 'recall@2': 0, 'precision@2': 0 })
  close(t, r.mean['mrr@10'], 1 / 4, 'mean over both queries')
})

test('precision@K divides by K even when fewer were retrieved; map@K divides by all relevant', (t) => {
  const r = evaluate({ q: ['a'] }, { q: { a: 1, b: 1, c: 1, d: 1 } }, { metrics: ['precision@5', 'map@1', 'map'] })
  close(t, r.mean['precision@5'], 1 / 5, 'precision@5')
  close(t, r.mean['map@1'], 1 / 4, 'map@1')
  close(t, r.mean.map, 1 / 4, 'map')
})

test('duplicate metric names are computed once; odd query ids are safe', (t) => {
  const r = evaluate(
    { ['__proto__']: ['a'] },
    JSON.parse('{"__proto__": {"a": 1}}') as Record<string, Record<string, number>>,
    {
      metrics: ['recall@1', 'recall@1'],
    },
  )
  t.deepEqual(Object.keys(r.mean), ['recall@1'])
  t.deepEqual(Object.keys(r.perQuery), ['__proto__'])
  t.is(r.perQuery['__proto__']['recall@1'], 1)
})

test('errors are coded', (t) => {
  const bad = (x: unknown): never => x as never
  const IA: QuiverErrorCode = 'ERR_INVALID_ARGUMENT'
  for (const m of ['ndcg', 'ndcg@0', 'ndcg@1.5', 'ndcg@-1', 'ndcg@', 'foo@3', 'NDCG@10', 'map@01']) {
    throwsCode(t, () => evaluate(run, qrels, { metrics: [bad(m)] }), IA, `metric ${m}`)
  }
  throwsCode(t, () => evaluate(run, qrels, { metrics: [] }), IA, 'no metrics')
  throwsCode(t, () => evaluate(run, qrels, { metrics: [bad(10)] }), IA, 'non-string metric')
  throwsCode(t, () => evaluate(run, qrels, bad(undefined)), IA, 'missing options')
  throwsCode(t, () => evaluate(run, {}, { metrics: ['map'] }), IA, 'empty qrels')
  throwsCode(t, () => evaluate(bad(null), qrels, { metrics: ['map'] }), IA, 'run null')
  throwsCode(t, () => evaluate(bad([['q1', ['d1']]]), qrels, { metrics: ['map'] }), IA, 'run as array')
  throwsCode(t, () => evaluate({ q1: bad('d1') }, qrels, { metrics: ['map'] }), IA, 'ranking not an array')
  throwsCode(t, () => evaluate({ q1: bad([1]) }, qrels, { metrics: ['map'] }), IA, 'non-string doc id')
  throwsCode(t, () => evaluate(run, { q1: { d1: bad('1') } }, { metrics: ['map'] }), IA, 'non-number grade')
  throwsCode(t, () => evaluate(run, { q1: bad(5) }, { metrics: ['map'] }), IA, 'judgements not an object')
  throwsCode(t, () => evaluate(run, { q1: { d1: NaN } }, { metrics: ['map'] }), 'ERR_NON_FINITE', 'NaN grade')
})
