/* Shared helpers for the ava suite: seeded data, brute-force reference, temp dirs. */
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import type { ExecutionContext } from 'ava'
import { QuiverError } from '../ts/index'
import type { Metric, QuiverErrorCode } from '../ts/index'

/** mulberry32: tiny seeded PRNG returning floats in [0, 1). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** n·dim uniform values in [-1, 1), row-major. */
export function randomVectors(n: number, dim: number, seed: number): Float32Array {
  const rnd = mulberry32(seed)
  const out = new Float32Array(n * dim)
  for (let i = 0; i < out.length; i++) out[i] = rnd() * 2 - 1
  return out
}

/** Keys 0..n-1 (plus offset). */
export function seqKeys(n: number, offset = 0): Uint32Array {
  const k = new Uint32Array(n)
  for (let i = 0; i < n; i++) k[i] = i + offset
  return k
}

/** Row `i` of a row-major matrix (a view). */
export function row(data: Float32Array, dim: number, i: number): Float32Array {
  return data.subarray(i * dim, (i + 1) * dim)
}

/** Splits a row-major matrix into an array of number[] rows. */
export function toRows(data: Float32Array, dim: number): number[][] {
  const rows: number[][] = []
  for (let i = 0; i < data.length / dim; i++) rows.push(Array.from(row(data, dim, i)))
  return rows
}

/** Reference distance, computed in float64, following the documented metric definitions. */
export function distance(metric: Metric, a: ArrayLike<number>, b: ArrayLike<number>): number {
  let dot = 0
  let na = 0
  let nb = 0
  let l2 = 0
  for (let i = 0; i < a.length; i++) {
    const x = a[i]
    const y = b[i]
    dot += x * y
    na += x * x
    nb += y * y
    l2 += (x - y) * (x - y)
  }
  if (metric === 'l2') return l2
  if (metric === 'ip') return 1 - dot
  return 1 - dot / (Math.sqrt(na) * Math.sqrt(nb))
}

/** Exact k-NN by brute force; returns keys and distances nearest first. */
export function bruteForce(
  metric: Metric,
  data: Float32Array,
  keys: Uint32Array,
  dim: number,
  query: ArrayLike<number>,
  k: number,
): { keys: number[]; distances: number[] } {
  const n = keys.length
  const all: { key: number; d: number }[] = []
  for (let i = 0; i < n; i++) all.push({ key: keys[i], d: distance(metric, row(data, dim, i), query) })
  all.sort((x, y) => x.d - y.d || x.key - y.key)
  const top = all.slice(0, k)
  return { keys: top.map((e) => e.key), distances: top.map((e) => e.d) }
}

/** |a − b| ≤ tol·(1 + |b|). */
export function close(a: number, b: number, tol = 1e-4): boolean {
  return Math.abs(a - b) <= tol * (1 + Math.abs(b))
}

/** Fraction of `truth` keys found in `got` (recall@k, for one query). */
export function recall(got: ArrayLike<number>, truth: readonly number[]): number {
  const s = new Set<number>(Array.from(got))
  let hit = 0
  for (const k of truth) if (s.has(k)) hit++
  return truth.length === 0 ? 1 : hit / truth.length
}

/** Asserts that `fn` throws (or its promise rejects with) a QuiverError with `code`. Returns it. */
export async function expectCode(
  t: ExecutionContext,
  fn: () => unknown,
  code: QuiverErrorCode,
  label = '',
): Promise<QuiverError> {
  let caught: unknown
  let threw = false
  try {
    await fn()
  } catch (err) {
    caught = err
    threw = true
  }
  if (!threw) {
    t.fail(`${label}: expected ${code}, but nothing was thrown`)
    return new QuiverError('ERR_INTERNAL', 'unreachable')
  }
  if (!(caught instanceof QuiverError)) {
    t.fail(`${label}: expected a QuiverError ${code}, got ${String(caught)}`)
    return new QuiverError('ERR_INTERNAL', 'unreachable')
  }
  t.is(caught.code, code, `${label}: wrong code (message: ${caught.message})`)
  t.true(caught.message.length > 0, `${label}: empty message`)
  return caught
}

/** Synchronous variant of {@link expectCode} (asserts the call throws synchronously). */
export function expectCodeSync(t: ExecutionContext, fn: () => unknown, code: QuiverErrorCode, label = ''): QuiverError {
  const err = t.throws(fn, { instanceOf: QuiverError }, label) as QuiverError | undefined
  if (err === undefined) return new QuiverError('ERR_INTERNAL', 'unreachable')
  t.is(err.code, code, `${label}: wrong code (message: ${err.message})`)
  return err
}

/** A fresh temp directory under os.tmpdir(), removed when the test ends. */
export function tempDir(t: ExecutionContext): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'quiver-test-'))
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  return dir
}

/** Checks distances are ascending (ignoring NaN padding). */
export function isAscending(d: ArrayLike<number>): boolean {
  for (let i = 1; i < d.length; i++) if (d[i] < d[i - 1]) return false
  return true
}
