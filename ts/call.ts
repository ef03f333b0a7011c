/**
 * The plumbing every class uses around its one native call: cancellation tokens wired to an
 * `AbortSignal`, error conversion, progress relays, the shared add path and path checks.
 *
 * @internal
 * @packageDocumentation
 */

import { QuiverError, toQuiverError } from './errors'
import { getNative } from './native'
import type { CancelToken as NativeCancelToken, NativeAddResult } from '../native/index'
import type { NativeProgressCallback } from './native'
import { checkKey, checkOptionsObject, checkSignal, invalid } from './validate'
import { compileFilter, parseAttrs, parseJson } from './filter'
import type { AttributeSchema, Attributes, JsonValue } from './filter'
import type { SignalLike } from './validate'

/** @internal */
export function abortedError(what: string): QuiverError {
  return new QuiverError('ERR_ABORTED', `${what} aborted`)
}

/** Runs `run` with a CancelToken wired to `signal` (if any); native errors become QuiverErrors. @internal */
export async function withCancel<T>(
  signal: SignalLike | undefined,
  run: (token: NativeCancelToken | null) => Promise<T>,
): Promise<T> {
  if (signal === undefined) {
    try {
      return await run(null)
    } catch (err) {
      throw toQuiverError(err)
    }
  }
  const token = new (getNative().CancelToken)()
  const onAbort = (): void => {
    token.cancel()
  }
  signal.addEventListener('abort', onAbort, { once: true })
  try {
    // The signal may have fired between the caller's check and here.
    if (signal.aborted) token.cancel()
    return await run(token)
  } catch (err) {
    throw toQuiverError(err)
  } finally {
    signal.removeEventListener('abort', onAbort)
  }
}

/** Calls a synchronous native method, converting errors. @internal */
export function syncCall<T>(run: () => T): T {
  try {
    return run()
  } catch (err) {
    throw toQuiverError(err)
  }
}

/** Wraps a user progress callback for the native error-first convention. @internal */
export class ProgressRelay {
  private last = -1
  private settled = false
  readonly native: NativeProgressCallback

  constructor(private readonly fn: (done: number, total: number) => void) {
    // The native side calls `(err, done, total)` (napi-rs error-first convention); err is
    // always null for progress events (failures reject the add's promise instead).
    const relay = (err: Error | null, done: number, total: number): void => {
      if (err === null) this.emit(done, total)
    }
    this.native = relay as NativeProgressCallback
  }

  private emit(done: number, total: number): void {
    if (this.settled || done <= this.last) return
    this.last = done
    try {
      this.fn(done, total)
    } catch {
      // User callback errors must not break the operation.
    }
  }

  /** Marks the operation finished; guarantees a final `(total, total)` call on success. */
  finish(total: number, success: boolean): void {
    if (success && this.last !== total) this.emit(total, total)
    this.settled = true
  }
}

/**
 * The shared body of every chunked native add: validates `onProgress` / `signal`, honours an
 * already-aborted signal, relays progress, and turns a cancelled add into `ERR_ABORTED` with
 * `inserted`. `prepare` converts the caller's data (after the option checks, as before);
 * `call` makes the one native call. @internal
 */
export async function runAdd<T>(
  options: unknown,
  op: string,
  unit: string,
  prepare: (options: Record<string, unknown>) => { total: number; data: T },
  call: (data: T, progress: NativeProgressCallback | null, token: NativeCancelToken | null) => Promise<NativeAddResult>,
  extraFields: readonly string[] = [],
): Promise<number> {
  const o = checkOptionsObject(options, 'add options', ['onProgress', 'signal', ...extraFields])
  const onProgress = o.onProgress
  if (onProgress !== undefined && typeof onProgress !== 'function') {
    throw invalid('options.onProgress must be a function')
  }
  const signal = checkSignal(o.signal)
  const { total, data } = prepare(o)
  if (signal !== undefined && signal.aborted) {
    throw new QuiverError('ERR_ABORTED', `${op} aborted after inserting 0 of ${total} ${unit}`, { inserted: 0 })
  }
  if (total === 0) return 0
  const relay =
    typeof onProgress === 'function' ? new ProgressRelay(onProgress as (d: number, t: number) => void) : null
  let ok = false
  try {
    const res = await withCancel(signal, (token) => call(data, relay === null ? null : relay.native, token))
    if (res.aborted) {
      throw new QuiverError('ERR_ABORTED', `${op} aborted after inserting ${res.inserted} of ${total} ${unit}`, {
        inserted: res.inserted,
      })
    }
    ok = true
    return res.inserted
  } finally {
    if (relay !== null) relay.finish(total, ok)
  }
}

/** @internal */
export function checkPath(path: unknown): string {
  if (typeof path !== 'string' || path.length === 0) {
    throw invalid(`path must be a non-empty string, got ${path === null ? 'null' : typeof path}`)
  }
  return path
}

/**
 * Makes `await using x = …` (and `using`) close instances of `cls`, on runtimes that define
 * `Symbol.asyncDispose` / `Symbol.dispose`. @internal
 */
export function closeOnDispose(cls: { prototype: { close(): void } }): void {
  const symbols = Symbol as unknown as { asyncDispose?: symbol; dispose?: symbol }
  const proto = cls.prototype
  if (symbols.asyncDispose !== undefined) {
    Object.defineProperty(proto, symbols.asyncDispose, {
      value(this: { close(): void }): Promise<void> {
        this.close()
        return Promise.resolve()
      },
      configurable: true,
      writable: true,
    })
  }
  if (symbols.dispose !== undefined) {
    Object.defineProperty(proto, symbols.dispose, {
      value(this: { close(): void }): void {
        this.close()
      },
      configurable: true,
      writable: true,
    })
  }
}

/** The native metadata reads of every index class that keeps attributes and payloads. @internal */
export interface NativeMetaReads {
  count(filter?: string | null): number
  getAttributes(key: number): string | null
  getPayload(key: number): string | null
}

/**
 * `count(filter)` of an index: the filter compiled against its schema, the keys counted natively.
 * @throws {@link QuiverError} `ERR_INVALID_FILTER`.
 * @internal
 */
export function countMatching(native: NativeMetaReads, schema: AttributeSchema | undefined, filter: unknown): number {
  const f = filter === undefined ? null : compileFilter(filter, schema)
  return syncCall(() => native.count(f))
}

/** `getAttributes(key)` of an index: the stored attributes, or `undefined`. @internal */
export function readAttributes(native: NativeMetaReads, key: unknown): Attributes | undefined {
  const k = checkKey(key)
  return parseAttrs(syncCall(() => native.getAttributes(k)))
}

/** `getPayload(key)` of an index: the stored payload, or `undefined`. @internal */
export function readPayload(native: NativeMetaReads, key: unknown): JsonValue | undefined {
  const k = checkKey(key)
  return parseJson(syncCall(() => native.getPayload(k)))
}
