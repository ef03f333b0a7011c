/**
 * Result fusion for hybrid search: combines several ranked lists (e.g. a dense
 * vector search and a BM25 search for the same query) into one ranking.
 *
 * Three methods are available (see {@link FusionMethod}):
 *
 * - **RRF** (reciprocal rank fusion): only ranks matter, `Σᵢ wᵢ / (k + rankᵢ)`.
 * - **Convex combination** of two normalised score lists: `α·φ(dense) + (1 − α)·φ(lexical)`.
 * - **DBSF** (distribution-based score fusion): every list is normalised with
 *   its mean ± 3 standard deviations and the normalised scores are summed.
 *
 * Pure TypeScript; no native code is involved.
 *
 * @packageDocumentation
 */

import { serializable } from './result'
import { QuiverError } from './errors'
import { checkFields, invalid } from './validate'

/**
 * Keys of a fused result: a `Uint32Array` (the keys of a `VectorIndex`) or an
 * array of string ids. The output of {@link fuse} has the same kind as its input.
 */
export type FusionKeys = Uint32Array | string[]

/** Keys accepted as input by {@link fuse}: like {@link FusionKeys}, but a string array may be read-only. */
export type FusionInputKeys = Uint32Array | readonly string[]

/**
 * One ranked list to fuse: `keys[j]` has score `scores[j]`; **higher scores are better**
 * (convert distances to similarities first, e.g. `1 − distance` for cosine).
 *
 * The list need not be sorted: ranks are derived from the scores (see {@link fuse}).
 * A list may be empty.
 */
export interface FusionList<K extends FusionInputKeys = FusionInputKeys> {
  /** The keys of the hits; no key may occur twice in one list. */
  keys: K
  /** The score of each hit (same length as `keys`); finite; higher is better. */
  scores: Float32Array
}

/** Reciprocal rank fusion: `score(d) = Σᵢ wᵢ / (k + rankᵢ(d))`, summed over the lists that contain `d`. */
export interface RrfFusion {
  /** Selects reciprocal rank fusion. */
  method: 'rrf'
  /** The RRF constant; a finite number ≥ 0. Default 60. */
  k?: number
  /** One weight per list, each finite and ≥ 0. Default: 1 for every list. */
  weights?: readonly number[]
}

/**
 * Per-list score normalisation used by {@link ConvexFusion}.
 *
 * - `'minmax'`      – `(s − min) / (max − min)` over the hits of the list.
 * - `'zscore'`      – `(s − μ) / σ` over the hits of the list (population standard deviation).
 * - `'theoretical'` – `(s − lo) / (hi − lo)` with bounds known in advance
 *   (e.g. cosine similarity in [−1, 1], BM25 in [0, some maximum]), clamped to [0, 1].
 */
export type ConvexNormalization = 'minmax' | 'zscore' | 'theoretical'

/** Known score range of one list, for `normalize: 'theoretical'`. */
export interface ScoreBounds {
  /** Lowest possible score; finite. */
  min: number
  /** Highest possible score; finite and greater than `min`. */
  max: number
}

/**
 * Convex combination of exactly two lists: list 0 is the dense (vector) list, list 1 the
 * lexical list; `score(d) = α·φ₀(d) + (1 − α)·φ₁(d)` where φᵢ is the normalised score of
 * `d` in list i (see {@link fuse} for keys missing from a list).
 */
export interface ConvexFusion {
  /** Selects the convex combination. */
  method: 'convex'
  /** Weight of list 0 (dense); list 1 gets `1 − alpha`. A number in [0, 1]. */
  alpha: number
  /** How each list's scores are normalised before combining. */
  normalize: ConvexNormalization
  /**
   * Required when `normalize` is `'theoretical'`: exactly two bounds, one per list
   * (list 0 first). Ignored for the other normalisations.
   */
  theoreticalBounds?: ReadonlyArray<ScoreBounds>
}

/**
 * Distribution-based score fusion: each list's scores become `(s − (μ − 3σ)) / (6σ)`
 * (μ, σ: mean and population standard deviation of that list's scores) and are summed.
 */
export interface DbsfFusion {
  /** Selects distribution-based score fusion. */
  method: 'dbsf'
}

/** A fusion method with its parameters; see {@link fuse}. */
export type FusionMethod = RrfFusion | ConvexFusion | DbsfFusion

/** Options of {@link fuse}. */
export interface FuseOptions {
  /** Maximum number of fused results to return; a positive integer. */
  limit: number
}

/** Per-list details of a fused result, aligned with its `keys`. */
export interface FusionPerList {
  /**
   * `ranks[i][j]`: the 1-based rank of output `j` in list `i` (as defined in {@link fuse}),
   * or −1 when list `i` does not contain that key.
   */
  ranks: Int32Array[]
  /** `scores[i][j]`: the raw score of output `j` in list `i`, or `NaN` when list `i` does not contain it. */
  scores: Float32Array[]
}

/** Result of {@link fuse}. */
export interface FusionResult<K extends FusionKeys = FusionKeys> {
  /** Fused keys, best first; a `Uint32Array` when the input keys were, else a `string[]`. */
  keys: K
  /** Fused score of each key (descending). */
  scores: Float32Array
  /** Each input list's rank and raw score for every output key. */
  perList: FusionPerList
}

const DEFAULT_RRF_K = 60

type Key = number | string

/** A validated input list, with its keys mapped to union ids and its ranks. */
interface PreparedList {
  n: number
  scores: Float32Array
  /** position in the list → union id */
  ids: Int32Array
  /** position in the list → 1-based rank */
  ranks: Int32Array
  min: number
  max: number
}

function describe(value: unknown): string {
  if (value === null) return 'null'
  if (value === undefined) return 'undefined'
  if (Array.isArray(value)) return 'an array'
  if (ArrayBuffer.isView(value)) return `a ${value.constructor.name}`
  if (typeof value === 'number') return String(value)
  if (typeof value === 'string') return JSON.stringify(value)
  return typeof value
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object'
}

function checkFiniteNumber(value: unknown, name: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw invalid(`${name} must be a finite number, got ${describe(value)}`)
  }
  return value
}

/** Validates one list, assigns union ids to its keys and computes its ranks. */
function prepareList(
  list: unknown,
  i: number,
  stringKeys: boolean,
  unionIndex: Map<Key, number>,
  unionKeys: Key[],
): PreparedList {
  const name = `lists[${i}]`
  if (!isObject(list)) throw invalid(`${name} must be an object { keys, scores }, got ${describe(list)}`)
  const keys: unknown = list.keys
  const scores: unknown = list.scores
  const isU32 = keys instanceof Uint32Array
  const isArr = Array.isArray(keys)
  if (!isU32 && !isArr) {
    throw invalid(`${name}.keys must be a Uint32Array or an array of strings, got ${describe(keys)}`)
  }
  if (isArr === !stringKeys) {
    throw invalid(
      `all lists must use the same kind of keys: lists[0].keys is ${stringKeys ? 'a string array' : 'a Uint32Array'} ` +
        `but ${name}.keys is ${isArr ? 'an array' : 'a Uint32Array'}`,
    )
  }
  if (!(scores instanceof Float32Array)) {
    throw invalid(`${name}.scores must be a Float32Array, got ${describe(scores)}`)
  }
  const keyList = keys as ArrayLike<unknown>
  const n = keyList.length
  if (scores.length !== n) {
    throw invalid(`${name}: keys has ${n} entries but scores has ${scores.length}`)
  }
  const ids = new Int32Array(n)
  const seen = new Set<Key>()
  let min = Infinity
  let max = -Infinity
  for (let j = 0; j < n; j++) {
    const key = keyList[j]
    if (stringKeys && typeof key !== 'string') {
      throw invalid(`${name}.keys[${j}] must be a string, got ${describe(key)}`)
    }
    const k = key as Key
    if (seen.has(k)) {
      throw new QuiverError('ERR_DUPLICATE_KEY', `${name}.keys contains ${describe(k)} more than once`)
    }
    seen.add(k)
    const s = scores[j]
    if (!Number.isFinite(s)) {
      throw new QuiverError('ERR_NON_FINITE', `${name}.scores[${j}] is not finite (${s})`)
    }
    if (s < min) min = s
    if (s > max) max = s
    let id = unionIndex.get(k)
    if (id === undefined) {
      id = unionKeys.length
      unionIndex.set(k, id)
      unionKeys.push(k)
    }
    ids[j] = id
  }
  // Rank = position after a stable sort by score, descending: equal scores keep the given order.
  const order = Array.from({ length: n }, (_, j) => j)
  order.sort((a, b) => scores[b] - scores[a] || a - b)
  const ranks = new Int32Array(n)
  for (let r = 0; r < n; r++) ranks[order[r]] = r + 1
  return { n, scores, ids, ranks, min, max }
}

/** Mean and population standard deviation of a non-empty list (σ = 0 when all scores are equal). */
function meanStd(list: PreparedList): { mean: number; std: number } {
  const { n, scores } = list
  let sum = 0
  for (let j = 0; j < n; j++) sum += scores[j]
  const mean = sum / n
  if (list.min === list.max) return { mean: list.min, std: 0 }
  let sq = 0
  for (let j = 0; j < n; j++) {
    const d = scores[j] - mean
    sq += d * d
  }
  return { mean, std: Math.sqrt(sq / n) }
}

/**
 * Normalised scores of one list for the convex combination, indexed by union id
 * (every union id starts at the value used for keys absent from the list).
 */
function normalizeForConvex(
  list: PreparedList,
  total: number,
  normalize: ConvexNormalization,
  bounds: ScoreBounds | undefined,
): Float64Array {
  const out = new Float64Array(total)
  const { n, scores, ids } = list
  if (n === 0) return out
  if (normalize === 'minmax') {
    const range = list.max - list.min
    for (let j = 0; j < n; j++) out[ids[j]] = range === 0 ? 1 : (scores[j] - list.min) / range
  } else if (normalize === 'zscore') {
    const { mean, std } = meanStd(list)
    const z = (s: number): number => (std === 0 ? 0 : (s - mean) / std)
    out.fill(z(list.min))
    for (let j = 0; j < n; j++) out[ids[j]] = z(scores[j])
  } else {
    const lo = (bounds as ScoreBounds).min
    const range = (bounds as ScoreBounds).max - lo
    for (let j = 0; j < n; j++) out[ids[j]] = Math.min(1, Math.max(0, (scores[j] - lo) / range))
  }
  return out
}

function checkBounds(value: unknown): ScoreBounds[] {
  if (!Array.isArray(value) || value.length !== 2) {
    throw invalid(
      `normalize 'theoretical' requires theoreticalBounds: an array of two { min, max } (one per list), got ${describe(value)}`,
    )
  }
  return value.map((b: unknown, i: number) => {
    if (!isObject(b)) throw invalid(`theoreticalBounds[${i}] must be an object { min, max }, got ${describe(b)}`)
    const min = checkFiniteNumber(b.min, `theoreticalBounds[${i}].min`)
    const max = checkFiniteNumber(b.max, `theoreticalBounds[${i}].max`)
    if (!(max > min)) throw invalid(`theoreticalBounds[${i}]: max (${max}) must be greater than min (${min})`)
    return { min, max }
  })
}

/**
 * Fuses several ranked lists into one ranking.
 *
 * **Ranks.** The rank of a hit in its list is its 1-based position after sorting the list by
 * score, descending; hits with equal scores keep the order in which they were given (a list
 * that is already sorted best-first therefore has ranks 1, 2, 3, … in input order).
 *
 * **Methods.**
 * - `rrf`: `score(d) = Σᵢ wᵢ / (k + rankᵢ(d))` over the lists that contain `d`
 *   (`k` default 60, `wᵢ` default 1). Scores are only used to rank each list.
 * - `convex` (exactly two lists, list 0 = dense, list 1 = lexical):
 *   `score(d) = α·φ₀(d) + (1 − α)·φ₁(d)`, where φᵢ normalises list i:
 *   - `'minmax'`: `(s − min) / (max − min)`; a list with one hit, or whose hits all have the same
 *     score, gives φ = 1 to all its hits. A key absent from the list gets φ = 0.
 *   - `'zscore'`: `(s − μ) / σ` (population σ); a key absent from the list gets the list's
 *     minimum z (that of its lowest score). A list with one hit, or whose hits all have the same
 *     score, gives z = 0 to all its hits (and thus to absent keys).
 *   - `'theoretical'`: `(s − lo) / (hi − lo)` with `theoreticalBounds[i] = { min: lo, max: hi }`,
 *     clamped to [0, 1] for scores outside the bounds. A key absent from the list gets φ = 0.
 *   An empty list gives φ = 0 to every key, whatever the normalisation.
 * - `dbsf`: `score(d) = Σᵢ (sᵢ(d) − (μᵢ − 3σᵢ)) / (6σᵢ)` over the lists that contain `d`
 *   (population σ; no clamping, so scores beyond μ ± 3σ map outside [0, 1]). A list with one hit,
 *   or whose hits all have the same score, gives 1 to all its hits. Absent keys contribute 0.
 *
 * **Output.** The union of all keys, sorted by fused score (rounded to float32, as returned)
 * descending, ties broken by key ascending (numeric order for `Uint32Array` keys, UTF-16 code-unit
 * order — JavaScript's `<` — for string keys), truncated to `options.limit`. Fused scores are
 * computed in float64 from the float32 inputs.
 *
 * @param lists - the lists to fuse (at least one); all must use the same kind of keys.
 * @param method - the fusion method and its parameters.
 * @param options - `limit`: the maximum number of results.
 * @returns the fused keys and scores, plus each list's rank and raw score for every output key.
 * @throws {@link QuiverError} `ERR_INVALID_ARGUMENT` when `lists` is empty or not an array, a list
 *   is malformed (`keys` neither a `Uint32Array` nor an array of strings, `scores` not a
 *   `Float32Array`, lengths differ), lists mix `Uint32Array` and string keys, the method is
 *   unknown, `k` is not a finite number ≥ 0, `weights` does not have one finite weight ≥ 0 per list,
 *   `alpha` ∉ [0, 1], `convex` is not given exactly two lists, `normalize` is unknown,
 *   `theoreticalBounds` is missing or invalid for `'theoretical'`, or `limit` is not a positive integer;
 *   `ERR_NON_FINITE` when a score is `NaN` or ±∞; `ERR_DUPLICATE_KEY` when a key occurs twice in one list.
 *
 * @example
 * ```ts
 * const dense = await index.search(q, { k: 50 })
 * const fused = fuse(
 *   [
 *     { keys: dense.keys, scores: dense.distances.map((d) => 1 - d) },
 *     { keys: bm25.keys, scores: bm25.scores },
 *   ],
 *   { method: 'rrf' },
 *   { limit: 10 },
 * )
 * ```
 */
export function fuse(
  lists: ReadonlyArray<FusionList<Uint32Array>>,
  method: FusionMethod,
  options: FuseOptions,
): FusionResult<Uint32Array>
export function fuse(
  lists: ReadonlyArray<FusionList<readonly string[]>>,
  method: FusionMethod,
  options: FuseOptions,
): FusionResult<string[]>
export function fuse(lists: ReadonlyArray<FusionList>, method: FusionMethod, options: FuseOptions): FusionResult
export function fuse(lists: ReadonlyArray<FusionList>, method: FusionMethod, options: FuseOptions): FusionResult {
  // --- options ---
  if (!isObject(options)) throw invalid(`options must be an object { limit }, got ${describe(options)}`)
  checkFields(options, 'fuse options', ['limit'])
  const limit: unknown = options.limit
  if (typeof limit !== 'number' || !Number.isSafeInteger(limit) || limit < 1) {
    throw invalid(`options.limit must be a positive integer, got ${describe(limit)}`)
  }

  // --- lists ---
  if (!Array.isArray(lists)) throw invalid(`lists must be an array of { keys, scores }, got ${describe(lists)}`)
  const m = lists.length
  if (m === 0) throw invalid('lists must contain at least one list')
  const first: unknown = lists[0]
  const stringKeys = isObject(first) && Array.isArray(first.keys)
  const unionIndex = new Map<Key, number>()
  const unionKeys: Key[] = []
  const prepared: PreparedList[] = []
  for (let i = 0; i < m; i++) prepared.push(prepareList(lists[i], i, stringKeys, unionIndex, unionKeys))
  const total = unionKeys.length

  // --- method ---
  if (!isObject(method))
    throw invalid(`method must be an object { method: 'rrf' | 'convex' | 'dbsf', ... }, got ${describe(method)}`)
  const kind: unknown = method.method
  const fused = new Float64Array(total)
  if (kind === 'rrf') {
    checkFields(method, 'rrf fusion', ['method', 'k', 'weights'])
    const rrf = method as RrfFusion
    const k = rrf.k === undefined ? DEFAULT_RRF_K : checkFiniteNumber(rrf.k, 'rrf k')
    if (k < 0) throw invalid(`rrf k must be ≥ 0, got ${k}`)
    let weights: number[]
    if (rrf.weights === undefined) {
      weights = new Array<number>(m).fill(1)
    } else {
      if (!Array.isArray(rrf.weights) || rrf.weights.length !== m) {
        throw invalid(
          `rrf weights must be an array with one weight per list (${m}), got ${describe(rrf.weights)}` +
            (Array.isArray(rrf.weights) ? ` of length ${rrf.weights.length}` : ''),
        )
      }
      weights = rrf.weights.map((w: unknown, i: number) => {
        const v = checkFiniteNumber(w, `rrf weights[${i}]`)
        if (v < 0) throw invalid(`rrf weights[${i}] must be ≥ 0, got ${v}`)
        return v
      })
    }
    for (let i = 0; i < m; i++) {
      const { n, ids, ranks } = prepared[i]
      const w = weights[i]
      for (let j = 0; j < n; j++) fused[ids[j]] += w / (k + ranks[j])
    }
  } else if (kind === 'convex') {
    checkFields(method, 'convex fusion', ['method', 'alpha', 'normalize', 'theoreticalBounds'])
    const cv = method as ConvexFusion
    const alpha: unknown = cv.alpha
    if (typeof alpha !== 'number' || !(alpha >= 0 && alpha <= 1)) {
      throw invalid(`convex alpha must be a number in [0, 1], got ${describe(alpha)}`)
    }
    if (m !== 2) throw invalid(`convex fusion needs exactly two lists (dense, lexical), got ${m}`)
    const normalize: unknown = cv.normalize
    if (normalize !== 'minmax' && normalize !== 'zscore' && normalize !== 'theoretical') {
      throw invalid(`convex normalize must be one of 'minmax', 'zscore', 'theoretical', got ${describe(normalize)}`)
    }
    const bounds = normalize === 'theoretical' ? checkBounds(cv.theoreticalBounds) : undefined
    const phi0 = normalizeForConvex(prepared[0], total, normalize, bounds?.[0])
    const phi1 = normalizeForConvex(prepared[1], total, normalize, bounds?.[1])
    for (let d = 0; d < total; d++) fused[d] = alpha * phi0[d] + (1 - alpha) * phi1[d]
  } else if (kind === 'dbsf') {
    checkFields(method, 'dbsf fusion', ['method'])
    for (let i = 0; i < m; i++) {
      const list = prepared[i]
      if (list.n === 0) continue
      const { mean, std } = meanStd(list)
      const lo = mean - 3 * std
      for (let j = 0; j < list.n; j++) {
        fused[list.ids[j]] += std === 0 ? 1 : (list.scores[j] - lo) / (6 * std)
      }
    }
  } else {
    throw invalid(`unknown fusion method ${describe(kind)}; expected 'rrf', 'convex' or 'dbsf'`)
  }

  // --- sort: fused score (as float32) descending, then key ascending ---
  const rounded = Float32Array.from(fused)
  const order = Array.from({ length: total }, (_, d) => d)
  const byKey = stringKeys
    ? (a: number, b: number): number => {
        const ka = unionKeys[a] as string
        const kb = unionKeys[b] as string
        return ka < kb ? -1 : ka > kb ? 1 : 0
      }
    : (a: number, b: number): number => (unionKeys[a] as number) - (unionKeys[b] as number)
  order.sort((a, b) => rounded[b] - rounded[a] || byKey(a, b))
  const count = Math.min(limit, total)

  // --- output ---
  const outScores = new Float32Array(count)
  const outKeys: FusionKeys = stringKeys ? new Array<string>(count) : new Uint32Array(count)
  const position = new Int32Array(total).fill(-1)
  for (let j = 0; j < count; j++) {
    const d = order[j]
    position[d] = j
    outScores[j] = rounded[d]
    if (stringKeys) (outKeys as string[])[j] = unionKeys[d] as string
    else (outKeys as Uint32Array)[j] = unionKeys[d] as number
  }
  const perRanks: Int32Array[] = []
  const perScores: Float32Array[] = []
  for (let i = 0; i < m; i++) {
    const ranks = new Int32Array(count).fill(-1)
    const raw = new Float32Array(count).fill(NaN)
    const list = prepared[i]
    for (let j = 0; j < list.n; j++) {
      const p = position[list.ids[j]]
      if (p >= 0) {
        ranks[p] = list.ranks[j]
        raw[p] = list.scores[j]
      }
    }
    perRanks.push(ranks)
    perScores.push(raw)
  }
  return serializable({ keys: outKeys, scores: outScores, perList: { ranks: perRanks, scores: perScores } })
}
