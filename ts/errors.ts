/**
 * Error type and error codes of quiver-search.
 *
 * Every failure raised by the public API (argument validation in JavaScript
 * as well as errors raised by the native engine) is a {@link QuiverError}
 * with a stable, machine-readable {@link QuiverError.code | code}.
 *
 * @packageDocumentation
 */

/**
 * All error codes that quiver-search can raise.
 *
 * - `ERR_INVALID_ARGUMENT`   – a parameter has the wrong type or is out of range.
 * - `ERR_DIMENSION_MISMATCH` – a vector or query does not have `dim` components.
 * - `ERR_NON_FINITE`         – a vector or query contains `NaN` or `±Infinity`.
 * - `ERR_DUPLICATE_KEY`      – a key appears twice in one batch, or already exists (use `upsert`).
 * - `ERR_KEY_NOT_FOUND`      – a key that must exist does not.
 * - `ERR_NOT_TRAINED`        – the index needs training before this operation.
 * - `ERR_CAPACITY`           – a size limit of the index was exceeded.
 * - `ERR_IO`                 – a file could not be read or written.
 * - `ERR_CORRUPT_FILE`       – a file is not a valid index file (truncated, damaged, foreign).
 * - `ERR_VERSION_MISMATCH`   – an index file was written by an incompatible format version.
 * - `ERR_ABORTED`            – the operation was cancelled through an `AbortSignal`.
 * - `ERR_READ_ONLY`          – a write was attempted on a read-only (memory-mapped) index.
 * - `ERR_CLOSED`             – a call on an object after its `close()`.
 * - `ERR_INVALID_FILTER`     – a search filter is malformed: an undeclared field, a value of the
 *                              wrong type, an empty `$in`, a NaN bound, nesting too deep.
 * - `ERR_UNSUPPORTED_PLATFORM` – no native binary for this platform/arch/libc is installed.
 * - `ERR_INTERNAL`           – an unexpected internal failure (a bug; please report it).
 */
export type QuiverErrorCode =
  | 'ERR_INVALID_ARGUMENT'
  | 'ERR_DIMENSION_MISMATCH'
  | 'ERR_NON_FINITE'
  | 'ERR_DUPLICATE_KEY'
  | 'ERR_KEY_NOT_FOUND'
  | 'ERR_NOT_TRAINED'
  | 'ERR_CAPACITY'
  | 'ERR_IO'
  | 'ERR_CORRUPT_FILE'
  | 'ERR_VERSION_MISMATCH'
  | 'ERR_ABORTED'
  | 'ERR_READ_ONLY'
  | 'ERR_CLOSED'
  | 'ERR_INVALID_FILTER'
  | 'ERR_UNSUPPORTED_PLATFORM'
  | 'ERR_INTERNAL'

/** Every {@link QuiverErrorCode}, in a fixed order. */
export const ERROR_CODES: readonly QuiverErrorCode[] = Object.freeze([
  'ERR_INVALID_ARGUMENT',
  'ERR_DIMENSION_MISMATCH',
  'ERR_NON_FINITE',
  'ERR_DUPLICATE_KEY',
  'ERR_KEY_NOT_FOUND',
  'ERR_NOT_TRAINED',
  'ERR_CAPACITY',
  'ERR_IO',
  'ERR_CORRUPT_FILE',
  'ERR_VERSION_MISMATCH',
  'ERR_ABORTED',
  'ERR_READ_ONLY',
  'ERR_CLOSED',
  'ERR_INVALID_FILTER',
  'ERR_UNSUPPORTED_PLATFORM',
  'ERR_INTERNAL',
] as const)

const CODE_SET: ReadonlySet<string> = new Set<string>(ERROR_CODES)

/** Optional extra information attached to a {@link QuiverError}. */
export interface QuiverErrorExtra {
  /**
   * For `ERR_ABORTED` raised by `add`/`upsert`: how many vectors of the call
   * were inserted before the operation stopped (they stay in the index).
   */
  inserted?: number
  /** The underlying error, if this error wraps another one. */
  cause?: unknown
}

/**
 * The error class thrown (or used to reject promises) by every quiver-search API.
 *
 * @example
 * ```ts
 * try {
 *   await index.add([1], [[0, 0, 0]])
 * } catch (err) {
 *   if (err instanceof QuiverError && err.code === 'ERR_DUPLICATE_KEY') upsertInstead()
 * }
 * ```
 */
export class QuiverError extends Error {
  /** Machine-readable error code; stable across versions. */
  readonly code: QuiverErrorCode
  /**
   * Only set for `ERR_ABORTED` raised by `add`/`upsert`: the number of vectors
   * of that call that were inserted before it stopped.
   */
  readonly inserted?: number

  /**
   * @param code - the error code.
   * @param message - a human-readable description.
   * @param extra - optional extra fields (`inserted`, `cause`).
   */
  constructor(code: QuiverErrorCode, message: string, extra?: QuiverErrorExtra) {
    super(message)
    this.name = 'QuiverError'
    this.code = code
    if (extra !== undefined) {
      if (extra.inserted !== undefined) this.inserted = extra.inserted
      if (extra.cause !== undefined) {
        Object.defineProperty(this, 'cause', {
          value: extra.cause,
          enumerable: false,
          writable: true,
          configurable: true,
        })
      }
    }
  }
}

/** True if `code` is one of the known {@link QuiverErrorCode}s. */
export function isQuiverErrorCode(code: unknown): code is QuiverErrorCode {
  return typeof code === 'string' && CODE_SET.has(code)
}

/**
 * Converts anything thrown by the native addon (or elsewhere) into a
 * {@link QuiverError}: coded errors keep their code and message, everything
 * else becomes `ERR_INTERNAL`.
 * @internal
 */
export function toQuiverError(err: unknown): QuiverError {
  if (err instanceof QuiverError) return err
  if (err !== null && typeof err === 'object') {
    const e = err as { code?: unknown; message?: unknown }
    const message = typeof e.message === 'string' ? e.message : String(err)
    if (isQuiverErrorCode(e.code)) {
      return new QuiverError(e.code, message, { cause: err })
    }
    return new QuiverError('ERR_INTERNAL', message, { cause: err })
  }
  return new QuiverError('ERR_INTERNAL', String(err), { cause: err })
}
