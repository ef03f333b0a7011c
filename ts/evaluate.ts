/**
 * Retrieval-quality metrics (nDCG, recall, precision, MRR, MAP) over a run and
 * relevance judgements, following the conventions of BEIR / pytrec_eval.
 *
 * Pure TypeScript; no native code is involved.
 *
 * @packageDocumentation
 */

import { QuiverError } from './errors'
import { checkFields, invalid } from './validate'

/**
 * A metric name for {@link evaluate}. `K` is a positive integer cutoff (e.g. `'ndcg@10'`, `'recall@100'`).
 *
 * - `ndcg@K`      – normalised discounted cumulative gain of the top K.
 * - `recall@K`    – relevant documents in the top K / all relevant documents of the query.
 * - `precision@K` – relevant documents in the top K / K.
 * - `mrr@K`       – 1 / rank of the first relevant document in the top K (0 if none).
 * - `map`         – average precision over the whole ranking.
 * - `map@K`       – average precision of the top K.
 */
export type EvalMetric =
  `ndcg@${number}` | `recall@${number}` | `mrr@${number}` | 'map' | `map@${number}` | `precision@${number}`

/** A run: for each query id, the retrieved document ids, best first. */
export type EvalRun = ReadonlyMap<string, readonly string[]> | Readonly<Record<string, readonly string[]>>

/**
 * Relevance judgements: for each query id, the graded relevance of judged document ids.
 * A grade ≤ 0 means non-relevant; unjudged documents are non-relevant.
 */
export type EvalQrels =
  ReadonlyMap<string, ReadonlyMap<string, number>> | Readonly<Record<string, Readonly<Record<string, number>>>>

/** Options of {@link evaluate}. */
export interface EvaluateOptions {
  /** The metrics to compute (at least one); duplicates are computed once. */
  metrics: readonly EvalMetric[]
}

/** Result of {@link evaluate}. Metric names are exactly those passed in `options.metrics`. */
export interface EvaluationResult {
  /** Each metric averaged over all queries of the qrels. */
  mean: Record<string, number>
  /** For each query id of the qrels, the value of each metric. */
  perQuery: Record<string, Record<string, number>>
}

type MetricKind = 'ndcg' | 'recall' | 'mrr' | 'map' | 'precision'

interface ParsedMetric {
  name: string
  kind: MetricKind
  /** cutoff; Infinity for plain `map` */
  k: number
}

const METRIC_RE = /^(ndcg|recall|mrr|map|precision)@([1-9][0-9]*)$/

function describe(value: unknown): string {
  if (value === null) return 'null'
  if (value === undefined) return 'undefined'
  if (Array.isArray(value)) return 'an array'
  if (typeof value === 'string') return JSON.stringify(value)
  if (typeof value === 'number') return String(value)
  return typeof value
}

function parseMetrics(metrics: unknown): ParsedMetric[] {
  if (!Array.isArray(metrics) || metrics.length === 0) {
    throw invalid(`options.metrics must be a non-empty array of metric names, got ${describe(metrics)}`)
  }
  const out: ParsedMetric[] = []
  const seen = new Set<string>()
  for (const m of metrics as unknown[]) {
    if (typeof m !== 'string') throw invalid(`metric names must be strings, got ${describe(m)}`)
    if (seen.has(m)) continue
    let parsed: ParsedMetric
    if (m === 'map') {
      parsed = { name: m, kind: 'map', k: Infinity }
    } else {
      const match = METRIC_RE.exec(m)
      const k = match === null ? NaN : Number(match[2])
      if (match === null || !Number.isSafeInteger(k)) {
        throw invalid(
          `unknown metric ${describe(m)}; expected 'ndcg@K', 'recall@K', 'precision@K', 'mrr@K', 'map' or 'map@K' with K a positive integer`,
        )
      }
      parsed = { name: m, kind: match[1] as MetricKind, k }
    }
    seen.add(m)
    out.push(parsed)
  }
  return out
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value) && !(value instanceof Map)
}

/** Own enumerable entries of a Map or a plain object. */
function entriesOf(value: unknown, name: string): Array<[string, unknown]> {
  if (value instanceof Map) {
    const out: Array<[string, unknown]> = []
    for (const [k, v] of value as Map<unknown, unknown>) {
      if (typeof k !== 'string') throw invalid(`${name} keys must be strings, got ${describe(k)}`)
      out.push([k, v])
    }
    return out
  }
  if (isPlainObject(value)) return Object.entries(value)
  throw invalid(`${name} must be a Map or a plain object, got ${describe(value)}`)
}

/** Sets an own property, safe for ids such as `__proto__`. */
function put<T>(obj: Record<string, T>, key: string, value: T): void {
  Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true })
}

/** Relevance grades of one query: relevant docs (grade > 0) only. */
function readJudgements(value: unknown, qid: string): Map<string, number> {
  const rel = new Map<string, number>()
  for (const [doc, grade] of entriesOf(value, `qrels[${JSON.stringify(qid)}]`)) {
    if (typeof grade !== 'number') {
      throw invalid(`qrels[${JSON.stringify(qid)}][${JSON.stringify(doc)}] must be a number, got ${describe(grade)}`)
    }
    if (!Number.isFinite(grade)) {
      throw new QuiverError(
        'ERR_NON_FINITE',
        `qrels[${JSON.stringify(qid)}][${JSON.stringify(doc)}] is not finite (${grade})`,
      )
    }
    if (grade > 0) rel.set(doc, grade)
  }
  return rel
}

/** The retrieved list of one query, without repeated ids (the first occurrence counts). */
function readRanking(value: unknown, qid: string): string[] {
  if (!Array.isArray(value)) {
    throw invalid(`run[${JSON.stringify(qid)}] must be an array of document ids, got ${describe(value)}`)
  }
  const seen = new Set<string>()
  const out: string[] = []
  for (let i = 0; i < value.length; i++) {
    const doc: unknown = value[i]
    if (typeof doc !== 'string') {
      throw invalid(`run[${JSON.stringify(qid)}][${i}] must be a string, got ${describe(doc)}`)
    }
    if (!seen.has(doc)) {
      seen.add(doc)
      out.push(doc)
    }
  }
  return out
}

/** Value of one metric for one query. `ranking` is deduplicated; `rel` holds grades > 0 only. */
function score(metric: ParsedMetric, ranking: readonly string[], rel: ReadonlyMap<string, number>): number {
  const nRel = rel.size
  if (nRel === 0) return 0
  const depth = Math.min(metric.k, ranking.length)
  switch (metric.kind) {
    case 'ndcg': {
      let dcg = 0
      for (let i = 0; i < depth; i++) {
        const g = rel.get(ranking[i])
        if (g !== undefined) dcg += g / Math.log2(i + 2)
      }
      const ideal = [...rel.values()].sort((a, b) => b - a)
      let idcg = 0
      for (let i = 0; i < Math.min(metric.k, ideal.length); i++) idcg += ideal[i] / Math.log2(i + 2)
      return dcg / idcg
    }
    case 'recall':
    case 'precision': {
      let hits = 0
      for (let i = 0; i < depth; i++) if (rel.has(ranking[i])) hits++
      return metric.kind === 'recall' ? hits / nRel : hits / metric.k
    }
    case 'mrr': {
      for (let i = 0; i < depth; i++) if (rel.has(ranking[i])) return 1 / (i + 1)
      return 0
    }
    case 'map': {
      let hits = 0
      let sum = 0
      for (let i = 0; i < depth; i++) {
        if (rel.has(ranking[i])) {
          hits++
          sum += hits / (i + 1)
        }
      }
      return sum / nRel
    }
  }
}

/**
 * Scores a run against relevance judgements, with the conventions of BEIR / pytrec_eval
 * (`trec_eval -c`: every judged query counts).
 *
 * - **Queries.** Every query of `qrels` is evaluated and averaged into `mean`. A query of `qrels`
 *   absent from `run` scores 0 on every metric. A query of `run` absent from `qrels` is ignored.
 *   A query whose judgements are all ≤ 0 (no relevant document) scores 0 on every metric and
 *   still counts in the mean (as in pytrec_eval).
 * - **Relevance.** A grade > 0 is relevant; a grade ≤ 0, or no judgement, is non-relevant.
 * - **Ranking.** The order of `run[q]` is the ranking (position 1 first); scores play no role.
 *   A document id repeated in `run[q]` counts only at its first position (later copies are
 *   dropped before cutoffs are applied).
 * - `ndcg@K`: DCG = Σ_{r ≤ K} grade(r) / log2(r + 1) with **linear gain** (the grade itself, not
 *   2^grade − 1), as pytrec_eval's `ndcg_cut`; divided by the DCG of the ideal ranking (the
 *   query's relevant grades sorted descending, cut at K).
 * - `recall@K`: relevant documents in the top K / number of relevant documents.
 * - `precision@K`: relevant documents in the top K / K (also when fewer than K were retrieved).
 * - `mrr@K`: 1 / rank of the first relevant document within the top K, or 0.
 * - `map`: average precision: Σ over relevant retrieved documents of precision at their rank,
 *   divided by the number of relevant documents (retrieved or not).
 * - `map@K`: the same sum restricted to the top K, still divided by the number of relevant
 *   documents (pytrec_eval's `map_cut`).
 *
 * @param run - for each query id, retrieved document ids best first (a `Map` or a plain object).
 * @param qrels - for each query id, a map from document id to relevance grade (`Map`s or plain objects).
 * @param options - `metrics`: the metric names to compute.
 * @returns per-query values (for every query of `qrels`) and their means; the keys of each record are the metric names.
 * @throws {@link QuiverError} `ERR_INVALID_ARGUMENT` when a metric name is unknown or `metrics` is
 *   empty, `qrels` has no query, or `run`/`qrels` are not `Map`s or plain objects of the documented
 *   shapes (non-string ids, non-number grades); `ERR_NON_FINITE` when a grade is `NaN` or ±∞.
 *
 * @example
 * ```ts
 * const { mean } = evaluate(run, dataset.qrels, { metrics: ['ndcg@10', 'recall@100'] })
 * console.log(mean['ndcg@10'])
 * ```
 */
export function evaluate(run: EvalRun, qrels: EvalQrels, options: EvaluateOptions): EvaluationResult {
  if (options === null || typeof options !== 'object') {
    throw invalid(`options must be an object { metrics }, got ${describe(options)}`)
  }
  checkFields(options as unknown as Record<string, unknown>, 'evaluate options', ['metrics'])
  const metrics = parseMetrics(options.metrics)

  const rankings = new Map<string, unknown>()
  for (const [qid, docs] of entriesOf(run, 'run')) rankings.set(qid, docs)

  const judged = entriesOf(qrels, 'qrels')
  if (judged.length === 0) throw invalid('qrels contains no query')

  const sums = new Float64Array(metrics.length)
  const perQuery: Record<string, Record<string, number>> = {}
  for (const [qid, judgements] of judged) {
    const rel = readJudgements(judgements, qid)
    const docs = rankings.get(qid)
    const ranking = docs === undefined ? [] : readRanking(docs, qid)
    const values: Record<string, number> = {}
    metrics.forEach((metric, i) => {
      const v = score(metric, ranking, rel)
      sums[i] += v
      put(values, metric.name, v)
    })
    put(perQuery, qid, values)
  }
  const mean: Record<string, number> = {}
  metrics.forEach((metric, i) => put(mean, metric.name, sums[i] / judged.length))
  return { mean, perQuery }
}
