/**
 * Attributes, payloads and the filter language: validation on the JS side and compilation of a
 * Mongo-style filter into the compact form the engine evaluates (no JavaScript runs during a
 * search).
 *
 * @packageDocumentation
 */

import { serializable } from './result'
import { QuiverError } from './errors'
import type { NativeScoredResult, NativeScoredSearchOptions } from '../native/index'

/**
 * Type of a declared attribute field.
 *
 * - `'keyword'`   – one string (dictionary-encoded, one bitmap per value).
 * - `'keyword[]'` – a set of strings (`$in` matches any, `$all` matches all).
 * - `'int'`       – a safe integer (|n| ≤ 2⁵³ − 1). Store datetimes as int milliseconds
 *                   (`Date.getTime()`).
 * - `'float'`     – a finite number.
 * - `'bool'`      – `true` or `false`.
 */
export type AttributeType = 'keyword' | 'keyword[]' | 'int' | 'float' | 'bool'

/** Declared attribute fields: field name → type. At most 64 fields, names of 1–128 bytes. */
export type AttributeSchema = Readonly<Record<string, AttributeType>>

/** One attribute value; `null` (or leaving the field out) means "no value". */
export type AttributeValue = string | number | boolean | readonly string[] | null

/** The attributes of one key: declared field → value. */
export type Attributes = Readonly<Record<string, AttributeValue>>

/** A JSON value, as stored in a payload. */
export type JsonValue = null | boolean | number | string | readonly JsonValue[] | { readonly [k: string]: JsonValue }

/** Operators on one field. */
export interface FieldOperators {
  /** Equal (for `keyword[]`: holds the value). `null` matches keys without a value. */
  $eq?: string | number | boolean | null
  /** Not equal (also matches keys without a value). `null` matches keys with a value. */
  $ne?: string | number | boolean | null
  /** Equal to any (for `keyword[]`: holds any). Non-empty. */
  $in?: readonly (string | number | boolean)[]
  /** Equal to none (also matches keys without a value). Non-empty. */
  $nin?: readonly (string | number | boolean)[]
  /** Greater than (`int`, `float`). */
  $gt?: number
  /** Greater than or equal (`int`, `float`). */
  $gte?: number
  /** Less than (`int`, `float`). */
  $lt?: number
  /** Less than or equal (`int`, `float`). */
  $lte?: number
  /** Has a value (`true`) or has none (`false`). */
  $exists?: boolean
  /** `keyword[]` only: holds every one of these. Non-empty. */
  $all?: readonly string[]
}

/**
 * A filter over declared attributes, in the MongoDB-style dialect of Pinecone, Chroma and
 * Vectorize: `{ field: value }` is equality, `{ field: { $op: … } }` applies operators (several
 * operators on one field must all hold), several fields must all hold, and `$and` / `$or` /
 * `$not` combine filters. `{}` matches every key.
 *
 * @example
 * ```ts
 * { lang: 'en', year: { $gte: 2020 }, $or: [{ tags: { $in: ['news'] } }, { inStock: true }] }
 * ```
 */
export type Filter = {
  /** All of these filters hold. Non-empty. */
  $and?: readonly Filter[]
  /** Any of these filters holds. Non-empty. */
  $or?: readonly Filter[]
  /** This filter does not hold. */
  $not?: Filter
} & {
  [field: string]: string | number | boolean | null | FieldOperators | readonly Filter[] | Filter | undefined
}

/** Nesting limit of a filter (`$and`/`$or`/`$not` levels plus the field level). */
export const MAX_FILTER_DEPTH = 16

/** Largest payload, in bytes of its JSON text. */
export const MAX_PAYLOAD_BYTES = 1 << 20

const TYPES: readonly string[] = ['keyword', 'keyword[]', 'int', 'float', 'bool']
const OPERATORS: readonly string[] = ['$eq', '$ne', '$in', '$nin', '$gt', '$gte', '$lt', '$lte', '$exists', '$all']

type Node = Record<string, unknown>

function describe(v: unknown): string {
  if (v === null) return 'null'
  if (Array.isArray(v)) return 'an array'
  if (typeof v === 'string') return `'${v.length > 40 ? v.slice(0, 40) + '…' : v}'`
  if (typeof v === 'object') return 'an object'
  return `${typeof v} ${String(v)}`
}

function filterError(path: string, why: string): QuiverError {
  return new QuiverError('ERR_INVALID_FILTER', `${path}: ${why}`)
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v)
}

/**
 * Validates an attribute schema and returns its JSON form for the engine. @internal
 */
export function checkSchema(schema: unknown): string {
  if (!isPlainObject(schema)) {
    throw new QuiverError('ERR_INVALID_ARGUMENT', `options.attributes must be an object, got ${describe(schema)}`)
  }
  const names = Object.keys(schema)
  if (names.length === 0) throw new QuiverError('ERR_INVALID_ARGUMENT', 'options.attributes declares no field')
  if (names.length > 64)
    throw new QuiverError('ERR_INVALID_ARGUMENT', 'options.attributes declares more than 64 fields')
  for (const name of names) {
    if (name.startsWith('$')) {
      throw new QuiverError(
        'ERR_INVALID_ARGUMENT',
        `options.attributes: a field name cannot start with '$' ('${name}')`,
      )
    }
    const t = schema[name]
    if (typeof t !== 'string' || !TYPES.includes(t)) {
      throw new QuiverError(
        'ERR_INVALID_ARGUMENT',
        `options.attributes.${name} must be one of ${TYPES.map((x) => `'${x}'`).join(', ')}, got ${describe(t)}`,
      )
    }
  }
  return JSON.stringify(schema)
}

/** Compiles one scalar comparison value for a field, checking its type. */
function scalar(type: AttributeType, v: unknown, path: string): string | number | boolean {
  switch (type) {
    case 'keyword':
    case 'keyword[]':
      if (typeof v !== 'string') throw filterError(path, `expected a string for a ${type} field, got ${describe(v)}`)
      return v
    case 'int':
      if (typeof v !== 'number' || !Number.isInteger(v))
        throw filterError(path, `expected an integer for an int field, got ${describe(v)}`)
      return v
    case 'float':
      if (typeof v !== 'number' || !Number.isFinite(v))
        throw filterError(path, `expected a finite number for a float field, got ${describe(v)}`)
      return v
    case 'bool':
      if (typeof v !== 'boolean') throw filterError(path, `expected a boolean for a bool field, got ${describe(v)}`)
      return v
  }
}

function list(type: AttributeType, v: unknown, path: string): (string | number | boolean)[] {
  if (!Array.isArray(v)) throw filterError(path, `expected a non-empty array, got ${describe(v)}`)
  if (v.length === 0) throw filterError(path, 'expected a non-empty array')
  return v.map((x, i) => scalar(type, x, `${path}[${i}]`))
}

function bound(type: AttributeType, v: unknown, path: string): number {
  if (type !== 'int' && type !== 'float') throw filterError(path, `ranges apply to int and float fields, not ${type}`)
  if (typeof v !== 'number' || !Number.isFinite(v))
    throw filterError(path, `expected a finite number, got ${describe(v)}`)
  return v
}

const not = (c: Node): Node => ({ t: 'not', c })
const exists = (f: string): Node => ({ t: 'exists', f })

function fieldNode(field: string, type: AttributeType, cond: unknown, path: string): Node {
  if (Array.isArray(cond)) {
    throw filterError(path, `an array is not a value: use { $in: [...] } (any) or { $all: [...] } (keyword[])`)
  }
  if (!isPlainObject(cond)) {
    if (cond === null) return not(exists(field))
    return { t: 'in', f: field, v: [scalar(type, cond, path)] }
  }
  const ops = Object.keys(cond)
  if (ops.length === 0) throw filterError(path, 'expected at least one operator')
  const parts: Node[] = []
  const range: Record<string, number> = {}
  for (const op of ops) {
    const p = `${path}.${op}`
    const v = cond[op]
    if (!OPERATORS.includes(op)) {
      const hint = op === '$not' ? ' ($not applies to a whole filter: { $not: { field: … } })' : ''
      throw filterError(p, `unknown operator '${op}'${hint}; use one of ${OPERATORS.join(' ')}`)
    }
    switch (op) {
      case '$eq':
        parts.push(v === null ? not(exists(field)) : { t: 'in', f: field, v: [scalar(type, v, p)] })
        break
      case '$ne':
        parts.push(v === null ? exists(field) : not({ t: 'in', f: field, v: [scalar(type, v, p)] }))
        break
      case '$in':
        parts.push({ t: 'in', f: field, v: list(type, v, p) })
        break
      case '$nin':
        parts.push(not({ t: 'in', f: field, v: list(type, v, p) }))
        break
      case '$all':
        if (type !== 'keyword[]') throw filterError(p, `$all applies to keyword[] fields, not ${type}`)
        parts.push({ t: 'all', f: field, v: list(type, v, p) })
        break
      case '$exists':
        if (typeof v !== 'boolean') throw filterError(p, `expected a boolean, got ${describe(v)}`)
        parts.push(v ? exists(field) : not(exists(field)))
        break
      default:
        range[op.slice(1)] = bound(type, v, p)
    }
  }
  if (Object.keys(range).length > 0) parts.push({ t: 'range', f: field, ...range })
  return parts.length === 1 ? parts[0] : { t: 'and', c: parts }
}

function compileNode(filter: unknown, schema: AttributeSchema, path: string, depth: number): Node {
  if (depth > MAX_FILTER_DEPTH) throw filterError(path, `nesting deeper than ${MAX_FILTER_DEPTH} levels`)
  if (!isPlainObject(filter)) throw filterError(path, `expected a filter object, got ${describe(filter)}`)
  const parts: Node[] = []
  for (const key of Object.keys(filter)) {
    const v = filter[key]
    const p = `${path}.${key}`
    if (v === undefined) continue
    if (key === '$and' || key === '$or') {
      if (!Array.isArray(v) || v.length === 0) throw filterError(p, `expected a non-empty array of filters`)
      const c = v.map((x: unknown, i: number) => compileNode(x, schema, `${p}[${i}]`, depth + 1))
      parts.push({ t: key.slice(1), c })
    } else if (key === '$not') {
      parts.push(not(compileNode(v, schema, p, depth + 1)))
    } else if (key.startsWith('$')) {
      throw filterError(p, `unknown operator '${key}' at the filter level; use $and, $or, $not or a field name`)
    } else {
      const type = Object.prototype.hasOwnProperty.call(schema, key) ? schema[key] : undefined
      if (type === undefined) {
        const known = Object.keys(schema)
        throw filterError(p, `'${key}' is not a declared attribute (declared: ${known.join(', ')})`)
      }
      if (depth + 1 > MAX_FILTER_DEPTH) throw filterError(p, `nesting deeper than ${MAX_FILTER_DEPTH} levels`)
      parts.push(fieldNode(key, type, v, p))
    }
  }
  if (parts.length === 0) return { t: 'true' }
  return parts.length === 1 ? parts[0] : { t: 'and', c: parts }
}

/**
 * Validates `filter` against `schema` and compiles it into the engine's JSON form.
 * @throws {@link QuiverError} `ERR_INVALID_FILTER`, naming the path inside the filter.
 * @internal
 */
export function compileFilter(filter: unknown, schema: AttributeSchema | undefined): string {
  if (schema === undefined) {
    throw new QuiverError(
      'ERR_INVALID_FILTER',
      'this index declares no attributes, so it cannot filter (set `attributes` in its options)',
    )
  }
  return JSON.stringify(compileNode(filter, schema, 'filter', 1))
}

/**
 * Checks one attribute object per key and serialises them for the engine (which checks them
 * against the schema again, with the same paths). JSON alone would turn NaN into null or drop
 * functions silently; this refuses them.
 * @internal
 */
export function encodeAttributes(attributes: unknown, n: number): string {
  if (!Array.isArray(attributes)) {
    throw new QuiverError(
      'ERR_INVALID_ARGUMENT',
      `attributes must be an array (one object per key), got ${describe(attributes)}`,
    )
  }
  if (attributes.length !== n) {
    throw new QuiverError('ERR_INVALID_ARGUMENT', `${n} keys need ${n} attribute objects, got ${attributes.length}`)
  }
  for (let i = 0; i < n; i++) {
    const rec: unknown = attributes[i]
    if (rec === null || rec === undefined) continue
    if (!isPlainObject(rec)) {
      throw new QuiverError('ERR_INVALID_ARGUMENT', `attributes[${i}] must be an object, got ${describe(rec)}`)
    }
    for (const [f, v] of Object.entries(rec)) {
      const ok =
        v === null ||
        v === undefined ||
        typeof v === 'string' ||
        typeof v === 'boolean' ||
        (typeof v === 'number' && Number.isFinite(v)) ||
        (Array.isArray(v) && v.every((x) => typeof x === 'string'))
      if (!ok) {
        throw new QuiverError(
          'ERR_INVALID_ARGUMENT',
          `attributes[${i}].${f}: expected a string, finite number, boolean, string array or null, got ${describe(v)}`,
        )
      }
    }
  }
  return JSON.stringify(attributes.map((r: unknown) => (r === undefined ? null : r)))
}

/**
 * Serialises one payload per key (`undefined` or `null` for none) as JSON text. Refuses what
 * JSON would silently change or cannot hold: functions, symbols, `undefined` inside a value,
 * BigInt, non-finite numbers, cycles. (The engine enforces {@link MAX_PAYLOAD_BYTES}.)
 * @internal
 */
export function encodePayloads(payloads: unknown, n: number): (string | null)[] {
  if (!Array.isArray(payloads)) {
    throw new QuiverError(
      'ERR_INVALID_ARGUMENT',
      `payloads must be an array (one value per key), got ${describe(payloads)}`,
    )
  }
  if (payloads.length !== n) {
    throw new QuiverError('ERR_INVALID_ARGUMENT', `${n} keys need ${n} payloads, got ${payloads.length}`)
  }
  const out: (string | null)[] = new Array<string | null>(n)
  for (let i = 0; i < n; i++) {
    const v: unknown = payloads[i]
    if (v === undefined || v === null) {
      out[i] = null
      continue
    }
    let where = ''
    const replacer = function (this: unknown, key: string, value: unknown): unknown {
      const t = typeof value
      if (t === 'function' || t === 'symbol' || t === 'bigint' || (t === 'undefined' && key !== '')) {
        where = key
        throw new TypeError(`a ${t} cannot be stored as JSON`)
      }
      if (t === 'number' && !Number.isFinite(value as number)) {
        where = key
        throw new TypeError(`${String(value)} cannot be stored as JSON`)
      }
      return value
    }
    try {
      out[i] = JSON.stringify(v, replacer)
    } catch (e) {
      const at = where === '' ? '' : ` (at key '${where}')`
      throw new QuiverError('ERR_INVALID_ARGUMENT', `payloads[${i}]${at}: ${(e as Error).message}`)
    }
  }
  return out
}

/** Parses a payload the engine returns (JSON text). @internal */
export const parseJson = (s: string | null | undefined): JsonValue | undefined =>
  s == null ? undefined : (JSON.parse(s) as JsonValue)

/** Parses attributes the engine returns (JSON object text). @internal */
export const parseAttrs = (s: string | null | undefined): Attributes | undefined =>
  s == null ? undefined : (JSON.parse(s) as Attributes)

/** Hits of a text or sparse search, best first, with the metadata asked for. @internal */
export interface ScoredHits {
  /** Document keys. */
  keys: Uint32Array
  /** Scores (higher is better). */
  scores: Float32Array
  /** Each hit's attributes, with `include: ['attributes']`. */
  attributes?: (Attributes | undefined)[]
  /** Each hit's payload, with `include: ['payload']`. */
  payloads?: (JsonValue | undefined)[]
}

/**
 * The `filter`, `include` and `minScore` options of a text or sparse search: the native
 * options (`undefined` when neither a filter nor `include` is given) and the score floor.
 * @throws {@link QuiverError} `ERR_INVALID_FILTER`, `ERR_INVALID_ARGUMENT`.
 * @internal
 */
export function resolveScoredOptions(
  o: Record<string, unknown>,
  schema: AttributeSchema | undefined,
): { opts: NativeScoredSearchOptions | undefined; minScore: number | undefined } {
  if (o.minScore !== undefined && (typeof o.minScore !== 'number' || Number.isNaN(o.minScore))) {
    throw new QuiverError('ERR_INVALID_ARGUMENT', `minScore must be a number, got ${String(o.minScore)}`)
  }
  let opts: NativeScoredSearchOptions | undefined
  if (o.filter !== undefined || o.include !== undefined) {
    const include = o.include === undefined ? [] : o.include
    if (!Array.isArray(include) || include.some((x) => x !== 'attributes' && x !== 'payload')) {
      throw new QuiverError('ERR_INVALID_ARGUMENT', "include must be an array of 'attributes' | 'payload'")
    }
    opts = {
      filter: o.filter === undefined ? undefined : compileFilter(o.filter, schema),
      includeAttributes: include.includes('attributes'),
      includePayload: include.includes('payload'),
    }
  }
  return { opts, minScore: o.minScore as number | undefined }
}

/** The public result of a text or sparse search: metadata parsed, hits under `minScore` dropped (they are last). @internal */
export function scoredResult(r: NativeScoredResult, minScore: number | undefined): ScoredHits {
  let n = r.keys.length
  if (minScore !== undefined) while (n > 0 && r.scores[n - 1] < minScore) n--
  const out: ScoredHits = serializable(
    n === r.keys.length
      ? { keys: r.keys, scores: r.scores }
      : { keys: r.keys.slice(0, n), scores: r.scores.slice(0, n) },
  )
  if (r.attributes != null) out.attributes = r.attributes.slice(0, n).map(parseAttrs)
  if (r.payloads != null) out.payloads = r.payloads.slice(0, n).map(parseJson)
  return out
}
