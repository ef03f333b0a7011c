/**
 * Argument validation and input conversion.
 *
 * Only O(1) checks, and checks that come for free while converting plain
 * JavaScript arrays, are done here. Everything that needs a pass over a typed
 * array (finiteness, duplicate keys) is done by the native engine off the
 * JavaScript thread.
 *
 * @internal
 * @packageDocumentation
 */

import * as os from 'os'
import { QuiverError } from './errors'
import { checkSchema } from './filter'
import { LIMITS } from './limits.generated'
import type { NativeConfig } from '../native/index'

/** Largest `k` accepted by search functions. */
export const MAX_K: number = LIMITS.maxK
/** Largest `ef` / `efSearch` / `efConstruction` accepted. */
export const MAX_EF: number = LIMITS.maxEf
/** Largest vector dimension accepted. */
export const MAX_DIM: number = LIMITS.maxDim

/** @internal */
export const MAX_M: number = LIMITS.maxM
/** @internal */
export const MAX_THREADS: number = LIMITS.maxThreads
/** @internal */
export const MAX_U32 = 0xffffffff

const METRICS: readonly string[] = ['l2', 'ip', 'cosine']
const INDEX_TYPES: readonly string[] = ['hnsw', 'flat']

/** @internal */
export function invalid(message: string): QuiverError {
  return new QuiverError('ERR_INVALID_ARGUMENT', message)
}

function describe(value: unknown): string {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'an array'
  if (ArrayBuffer.isView(value)) return `a ${value.constructor.name}`
  if (typeof value === 'number') return String(value)
  if (typeof value === 'string') return JSON.stringify(value)
  return typeof value
}

/** Checks `value` is an integer in [lo, hi]. @internal */
export function checkInt(value: unknown, name: string, lo: number, hi: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < lo || value > hi) {
    throw invalid(`${name} must be an integer in [${lo}, ${hi}], got ${describe(value)}`)
  }
  return value
}

function optInt(value: unknown, name: string, lo: number, hi: number, dflt: number): number {
  return value === undefined ? dflt : checkInt(value, name, lo, hi)
}

function optEnum(value: unknown, name: string, allowed: readonly string[], dflt: string): string {
  if (value === undefined) return dflt
  if (typeof value !== 'string' || !allowed.includes(value)) {
    throw invalid(`${name} must be one of ${allowed.map((a) => `'${a}'`).join(', ')}, got ${describe(value)}`)
  }
  return value
}

/** Number of logical CPUs, feature-detecting `os.availableParallelism` (Node >= 18.14). @internal */
export function defaultThreads(): number {
  const ap = (os as { availableParallelism?: () => number }).availableParallelism
  let n = typeof ap === 'function' ? ap() : os.cpus().length
  if (!Number.isInteger(n) || n < 1) n = 1
  return Math.min(n, MAX_THREADS)
}

const VECTOR_INDEX_FIELDS: readonly string[] = [
  'dim',
  'metric',
  'index',
  'm',
  'efConstruction',
  'efSearch',
  'seed',
  'threads',
  'quantization',
  'originals',
  'attributes',
  'payload',
]

/** Which quantization fields apply to which `type` (the others are rejected). */
const QUANT_FIELDS: Readonly<Record<string, readonly string[]>> = {
  none: ['type'],
  sq8: ['type', 'rerank', 'oversample', 'trainingSize'],
  binary: ['type', 'queryBits', 'rerank', 'oversample', 'trainingSize'],
  rabitq: ['type', 'rerank', 'oversample', 'trainingSize'],
  pq: ['type', 'm', 'nbits', 'opq', 'rerank', 'oversample', 'trainingSize'],
}
const ALL_QUANT_FIELDS: readonly string[] = [...new Set(Object.values(QUANT_FIELDS).flat())]
/** What `config()` reports for a quantization field that does not apply to the type. */
const NEUTRAL_QUANT: Readonly<Record<string, unknown>> = {
  m: 0,
  nbits: 8,
  opq: false,
  queryBits: 4,
  rerank: 'exact',
  oversample: LIMITS.defaultOversample,
  trainingSize: LIMITS.defaultTrainingSize,
}

/** The `threads` option of a load: default this machine's logical CPUs. @internal */
export function loadThreads(threads: unknown): number {
  return threads === undefined ? defaultThreads() : checkInt(threads, 'threads', 1, MAX_THREADS)
}

/** Validates user options and fills in defaults. @internal */
export function resolveConfig(options: unknown): NativeConfig {
  if (options === null || typeof options !== 'object') {
    throw invalid(`options must be an object with at least { dim }, got ${describe(options)}`)
  }
  const o = options as Record<string, unknown>
  checkFields(o, 'options', VECTOR_INDEX_FIELDS)
  if (o.dim === undefined) throw invalid('options.dim is required')
  const dim = checkInt(o.dim, 'dim', 1, MAX_DIM)
  return {
    dim,
    metric: optEnum(o.metric, 'metric', METRICS, 'l2'),
    index: optEnum(o.index, 'index', INDEX_TYPES, 'hnsw'),
    m: optInt(o.m, 'm', 2, MAX_M, LIMITS.defaultM),
    efConstruction: optInt(o.efConstruction, 'efConstruction', 1, MAX_EF, LIMITS.defaultEfConstruction),
    efSearch: optInt(o.efSearch, 'efSearch', 1, MAX_EF, LIMITS.defaultEfSearch),
    seed: optInt(o.seed, 'seed', 0, MAX_U32, LIMITS.defaultSeed),
    threads: o.threads === undefined ? defaultThreads() : checkInt(o.threads, 'threads', 1, MAX_THREADS),
    ...resolveQuantization(o.quantization, o.originals, dim),
    attributes: o.attributes === undefined ? undefined : checkSchema(o.attributes),
    payload: optBool(o.payload, 'payload'),
  }
}

function optBool(v: unknown, name: string): boolean {
  if (v === undefined) return false
  if (typeof v !== 'boolean') throw invalid(`options.${name} must be a boolean, got ${describe(v)}`)
  return v
}

const QUANT_TYPES: readonly string[] = ['none', 'sq8', 'binary', 'rabitq', 'pq']
const ORIGINALS: readonly string[] = ['memory', 'mmap', 'none']

type QuantFields = Pick<
  NativeConfig,
  'quantization' | 'pqM' | 'nbits' | 'opq' | 'queryBits' | 'rerank' | 'oversample' | 'trainingSize' | 'originals'
>

/** Validates `quantization` / `originals` and fills in their defaults. @internal */
export function resolveQuantization(quantization: unknown, originals: unknown, dim: number): QuantFields {
  const q: Record<string, unknown> =
    quantization === undefined
      ? { type: 'none' }
      : checkOptionsObject(quantization, 'options.quantization', ALL_QUANT_FIELDS)
  const type = optEnum(q.type, 'quantization.type', QUANT_TYPES, 'none')
  for (const f of Object.keys(q)) {
    // A field that does not apply is accepted only with the value config() reports for it, so
    // that resolved options can be passed back in.
    if (q[f] !== undefined && !QUANT_FIELDS[type].includes(f) && q[f] !== NEUTRAL_QUANT[f]) {
      throw invalid(`quantization.${f} does not apply to type '${type}'`)
    }
  }
  if (q.type === undefined && quantization !== undefined)
    throw invalid("quantization.type is required ('none', 'sq8', 'binary', 'rabitq' or 'pq')")
  const nbits = q.nbits === undefined ? 8 : q.nbits
  if (nbits !== 4 && nbits !== 8) throw invalid(`quantization.nbits must be 4 or 8, got ${describe(q.nbits)}`)
  let pqM = 0
  if (type === 'pq') {
    if (q.m === undefined) {
      if (dim % 8 !== 0) {
        throw invalid(`quantization.m is required when dim (${dim}) is not a multiple of 8; it must divide dim`)
      }
      pqM = dim / 8
    } else {
      pqM = checkInt(q.m, 'quantization.m', 1, dim)
    }
    if (dim % pqM !== 0) throw invalid(`quantization.m must divide dim ${dim}, got ${pqM}`)
  }
  const queryBits = q.queryBits === undefined ? 4 : q.queryBits
  if (queryBits !== 1 && queryBits !== 4)
    throw invalid(`quantization.queryBits must be 1 or 4, got ${describe(q.queryBits)}`)
  if (q.opq !== undefined && typeof q.opq !== 'boolean') throw invalid('quantization.opq must be a boolean')
  const rerank = optEnum(q.rerank, 'quantization.rerank', ['exact', 'none'], 'exact')
  const oversample = q.oversample === undefined ? LIMITS.defaultOversample : q.oversample
  const { minOversample, maxOversample } = LIMITS
  if (typeof oversample !== 'number' || !(oversample >= minOversample && oversample <= maxOversample)) {
    throw invalid(
      `quantization.oversample must be a number in [${minOversample}, ${maxOversample}], got ${describe(q.oversample)}`,
    )
  }
  const pqTraining = nbits === 8 ? LIMITS.defaultTrainingSizePq8 : LIMITS.defaultTrainingSizePq4
  const defaultTraining = type === 'pq' ? pqTraining : LIMITS.defaultTrainingSize
  const trainingSize = optInt(q.trainingSize, 'quantization.trainingSize', 1, LIMITS.maxTraining, defaultTraining)
  const orig = optEnum(originals, 'originals', ORIGINALS, 'memory')
  if (rerank === 'exact' && orig === 'none' && type !== 'none') {
    throw invalid(
      "rerank: 'exact' needs the f32 originals: use originals 'memory' or 'mmap', or quantization.rerank: 'none'",
    )
  }
  return {
    quantization: type,
    pqM,
    nbits,
    opq: q.opq === true,
    queryBits,
    rerank: rerank === 'exact',
    oversample,
    trainingSize,
    originals: orig,
  }
}

/** Validates a single key (integer in [0, 2^32)). @internal */
export function checkKey(key: unknown): number {
  if (typeof key !== 'number' || !Number.isInteger(key) || key < 0 || key > MAX_U32) {
    throw invalid(`key must be an integer in [0, ${MAX_U32}], got ${describe(key)}`)
  }
  return key
}

/**
 * Converts keys to a Uint32Array. A Uint32Array passes through untouched
 * (zero-copy); a number[] is checked element by element.
 * @internal
 */
export function toKeys(keys: unknown): Uint32Array {
  if (keys instanceof Uint32Array) return keys
  if (Array.isArray(keys)) {
    const n = keys.length
    const out = new Uint32Array(n)
    for (let i = 0; i < n; i++) {
      const k: unknown = keys[i]
      if (typeof k !== 'number' || !Number.isInteger(k) || k < 0 || k > MAX_U32) {
        throw invalid(`keys[${i}] must be an integer in [0, ${MAX_U32}], got ${describe(k)}`)
      }
      out[i] = k
    }
    return out
  }
  throw invalid(`keys must be a Uint32Array or an array of integers, got ${describe(keys)}`)
}

/** Copies number[] into `out` at `offset`, checking element types and finiteness. */
function copyNumbers(src: readonly unknown[], out: Float32Array, offset: number, what: string): void {
  const n = src.length
  for (let i = 0; i < n; i++) {
    const x = src[i]
    if (typeof x !== 'number') {
      throw invalid(`${what} must contain only numbers, found ${describe(x)}`)
    }
    const j = offset + i
    out[j] = x
    const f = out[j]
    // NaN and ±Infinity (including finite doubles that overflow float32).
    if (f - f !== 0) {
      throw new QuiverError('ERR_NON_FINITE', `${what} contains a non-finite value (${x})`)
    }
  }
}

function dimMismatch(what: string, got: number, dim: number): QuiverError {
  return new QuiverError('ERR_DIMENSION_MISMATCH', `${what} has ${got} components, expected dim = ${dim}`)
}

/**
 * Converts one vector (Float32Array passes through zero-copy, number[] is
 * converted) and checks its length.
 * @internal
 */
export function toVector(v: unknown, dim: number, what: string): Float32Array {
  if (v instanceof Float32Array) {
    if (v.length !== dim) throw dimMismatch(what, v.length, dim)
    return v
  }
  if (Array.isArray(v)) {
    if (v.length !== dim) throw dimMismatch(what, v.length, dim)
    const out = new Float32Array(dim)
    copyNumbers(v, out, 0, what)
    return out
  }
  throw invalid(`${what} must be a Float32Array or an array of numbers, got ${describe(v)}`)
}

/** A row-major matrix ready for the native engine. @internal */
export interface Matrix {
  data: Float32Array
  rows: number
  /** True when the input was a flat (row-major) array rather than an array of rows. */
  flat: boolean
}

/**
 * Converts a set of vectors into one row-major Float32Array.
 *
 * Accepted forms: a flat row-major `Float32Array` (passed through zero-copy)
 * or flat `number[]`; or an array of rows, each a `Float32Array` or `number[]`
 * of length `dim`.
 * @internal
 */
export function toMatrix(vectors: unknown, dim: number, what: string): Matrix {
  if (vectors instanceof Float32Array) {
    if (vectors.length % dim !== 0) {
      throw new QuiverError(
        'ERR_DIMENSION_MISMATCH',
        `${what} has length ${vectors.length}, which is not a multiple of dim = ${dim}`,
      )
    }
    return { data: vectors, rows: vectors.length / dim, flat: true }
  }
  if (!Array.isArray(vectors)) {
    throw invalid(
      `${what} must be a Float32Array, an array of Float32Array, or an array of number arrays, got ${describe(vectors)}`,
    )
  }
  const n = vectors.length
  if (n === 0) return { data: new Float32Array(0), rows: 0, flat: false }
  if (typeof vectors[0] === 'number') {
    // Flat number[] in row-major order.
    if (n % dim !== 0) {
      throw new QuiverError(
        'ERR_DIMENSION_MISMATCH',
        `${what} has length ${n}, which is not a multiple of dim = ${dim}`,
      )
    }
    const data = new Float32Array(n)
    copyNumbers(vectors, data, 0, what)
    return { data, rows: n / dim, flat: true }
  }
  const data = new Float32Array(n * dim)
  for (let i = 0; i < n; i++) {
    const row: unknown = vectors[i]
    if (row instanceof Float32Array) {
      if (row.length !== dim) throw dimMismatch(`${what}[${i}]`, row.length, dim)
      data.set(row, i * dim)
    } else if (Array.isArray(row)) {
      if (row.length !== dim) throw dimMismatch(`${what}[${i}]`, row.length, dim)
      copyNumbers(row, data, i * dim, `${what}[${i}]`)
    } else {
      throw invalid(`${what}[${i}] must be a Float32Array or an array of numbers, got ${describe(row)}`)
    }
  }
  return { data, rows: n, flat: false }
}

/** Something that quacks like an `AbortSignal`. @internal */
export interface SignalLike {
  readonly aborted: boolean
  addEventListener(type: 'abort', listener: () => void, options?: { once?: boolean }): void
  removeEventListener(type: 'abort', listener: () => void): void
}

/** Validates an optional AbortSignal. @internal */
export function checkSignal(signal: unknown): SignalLike | undefined {
  if (signal === undefined) return undefined
  const s = signal as Partial<SignalLike> | null
  if (
    s === null ||
    typeof s !== 'object' ||
    typeof s.aborted !== 'boolean' ||
    typeof s.addEventListener !== 'function' ||
    typeof s.removeEventListener !== 'function'
  ) {
    throw invalid(`signal must be an AbortSignal, got ${describe(signal)}`)
  }
  return s as SignalLike
}

/** Checks that an options argument is undefined or an object. @internal */
export function checkOptionsObject(opts: unknown, name: string, fields: readonly string[]): Record<string, unknown> {
  if (opts === undefined) return {}
  if (opts === null || typeof opts !== 'object') throw invalid(`${name} must be an object, got ${describe(opts)}`)
  const o = opts as Record<string, unknown>
  checkFields(o, name, fields)
  return o
}

/**
 * Rejects a field of `o` that is not one of `fields` (a field set to `undefined` counts as
 * absent), naming the closest valid field. @internal
 */
export function checkFields(o: Record<string, unknown>, name: string, fields: readonly string[]): void {
  for (const f of Object.keys(o)) {
    if (fields.includes(f) || o[f] === undefined) continue
    const near = nearest(f, fields)
    const hint =
      near !== undefined ? `did you mean '${near}'?` : `valid fields: ${fields.map((x) => `'${x}'`).join(', ')}`
    throw invalid(`unknown field '${f}' in ${name} (${hint})`)
  }
}

/** The field closest to `f` by case-insensitive edit distance, if close enough to be a typo. */
function nearest(f: string, fields: readonly string[]): string | undefined {
  let best: string | undefined
  let bestD = Math.max(2, Math.floor(f.length / 3)) + 1
  for (const c of fields) {
    const d = editDistance(f.toLowerCase(), c.toLowerCase())
    if (d < bestD) [best, bestD] = [c, d]
  }
  return best
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j)
  for (let i = 1; i <= a.length; i++) {
    const cur = [i]
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1))
    }
    prev = cur
  }
  return prev[b.length]
}

/** Resolved search parameters. @internal */
export interface ResolvedSearch {
  k: number
  ef: number
  signal: SignalLike | undefined
  /** The checked options object (for the caller's extra fields). */
  options: Record<string, unknown>
}

/** Validates `{ k, ef, signal }`; `ef` defaults to max(efSearch, k). @internal */
export function resolveSearch(opts: unknown, efSearch: number, extraFields: readonly string[] = []): ResolvedSearch {
  const o = checkOptionsObject(opts, 'search options', ['k', 'ef', 'signal', ...extraFields])
  const k = o.k === undefined ? 10 : checkInt(o.k, 'k', 1, MAX_K)
  const ef = o.ef === undefined ? Math.max(efSearch, k) : checkInt(o.ef, 'ef', 1, MAX_EF)
  return { k, ef, signal: checkSignal(o.signal), options: o }
}
