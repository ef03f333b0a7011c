/**
 * Typed access to the native addon (`native/index.js`).
 *
 * Every native type comes from `native/index.d.ts` (the other modules import them from
 * there), which napi-rs generates from the Rust bindings and which is committed: CI
 * regenerates it and fails when it differs, so these types cannot drift from the addon.
 *
 * The addon is loaded lazily on first use so that merely importing the
 * package (e.g. for its types or constants) never fails.
 *
 * @internal
 * @packageDocumentation
 */

import type * as Generated from '../native/index'
import { QuiverError } from './errors'

/** Shape of the module exported by `native/index.js`. @internal */
export type NativeBinding = typeof Generated
/**
 * Error-first progress callback (the napi threadsafe-function convention), as the generated
 * typings declare it: `(null, done, total)`.
 * @internal
 */
export type NativeProgressCallback = (err: Error | null, done: number, total: number) => void

let binding: NativeBinding | undefined

/** The platform package this process needs, e.g. `quiver-search-linux-x64-gnu`. @internal */
export function platformPackageName(): string {
  const { platform, arch } = process
  let abi = ''
  if (platform === 'linux') abi = isMusl() ? '-musl' : '-gnu'
  else if (platform === 'win32') abi = '-msvc'
  return `quiver-search-${platform}-${arch}${abi}`
}

function isMusl(): boolean {
  // glibc reports its version in the diagnostic report header; musl does not.
  // Deno without --allow-sys throws from getReport(): assume glibc there, as the native loader
  // does when it cannot tell, so the error that follows can still name the package and the cause.
  try {
    const report = process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined
    return report?.header?.glibcVersionRuntime === undefined
  } catch {
    return false
  }
}

/** The runtime and its version for messages: Bun and Deno also report a Node version of their own. */
function runtimeLabel(): string {
  const g = globalThis as { Bun?: { version: string }; Deno?: { version: { deno: string } } }
  if (g.Bun) return `Bun ${g.Bun.version}`
  if (g.Deno) return `Deno ${g.Deno.version.deno}`
  return `Node ${process.versions.node}`
}

/**
 * Whether loading failed because Deno refused a permission (`NotCapable` since Deno 2,
 * `PermissionDenied` before): the native loader reads environment variables and files and
 * opens the addon through FFI, so Deno without those permissions cannot load any binary. The
 * napi-rs loader re-wraps each attempt's error as a plain `Error` chained through `cause`, so the
 * name is lost there and Deno's message ("Requires ffi access to ...") is what identifies it.
 */
function isDenoPermissionError(err: unknown): boolean {
  if ((globalThis as { Deno?: unknown }).Deno === undefined) return false
  for (let e = err, depth = 0; e instanceof Error && depth < 16; e = (e as { cause?: unknown }).cause, depth++) {
    if (e.name === 'NotCapable' || e.name === 'PermissionDenied' || /^Requires \w+ access to/.test(e.message)) {
      return true
    }
  }
  return false
}

/** The first "Requires ... access" message in the cause chain: the permission to grant. */
function denoPermissionDetail(err: unknown): string | undefined {
  for (let e = err, depth = 0; e instanceof Error && depth < 16; e = (e as { cause?: unknown }).cause, depth++) {
    const m = /^Requires \w+ access to[^\n]*/.exec(e.message)
    if (m) return m[0]
  }
  return undefined
}

/** The error for a process that finds no native binary: which one it needs, and what to do. */
function missingBinding(err: unknown): QuiverError {
  const pkg = platformPackageName()
  const libc = process.platform === 'linux' ? (isMusl() ? ', libc musl' : ', libc glibc') : ''
  const detail = err instanceof Error ? err.message.split('\n')[0] : String(err)
  if (isDenoPermissionError(err)) {
    return new QuiverError(
      'ERR_UNSUPPORTED_PLATFORM',
      `quiver-search could not load its native binary "${pkg}": Deno denied a permission the loader needs. ` +
        `Run with --allow-ffi --allow-read --allow-env (add --allow-write to save indexes), or -A. ` +
        `Cause: ${denoPermissionDetail(err) ?? detail}`,
      { cause: err },
    )
  }
  return new QuiverError(
    'ERR_UNSUPPORTED_PLATFORM',
    `quiver-search has no native binary for this platform (${process.platform}, ${process.arch}${libc}, ${runtimeLabel()}). ` +
      `It looks for the optional dependency "${pkg}". If your platform is one of those listed in the README, ` +
      `reinstall without --no-optional / --omit=optional (npm sometimes skips optional dependencies when a lockfile ` +
      `was made on another platform: remove node_modules and the lockfile, then npm install). Otherwise build from ` +
      `source with a Rust toolchain: npm run build. Cause: ${detail}`,
    { cause: err },
  )
}

/**
 * Returns the native binding, loading it on first call.
 * Throws a {@link QuiverError} (`ERR_UNSUPPORTED_PLATFORM`) if the addon cannot be loaded.
 * @internal
 */
export function getNative(): NativeBinding {
  if (binding !== undefined) return binding
  let mod: unknown
  try {
    // `native/` is a sibling of both `ts/` (sources) and `dist/` (build output).
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    mod = require('../native/index.js')
  } catch (err) {
    throw missingBinding(err)
  }
  const m = mod as Partial<NativeBinding> | null
  if (
    m === null ||
    typeof m !== 'object' ||
    typeof m.NativeVectorIndex !== 'function' ||
    typeof m.CancelToken !== 'function' ||
    typeof m.capabilities !== 'function'
  ) {
    throw new QuiverError('ERR_INTERNAL', 'quiver-search: the native addon does not export the expected API')
  }
  binding = m as NativeBinding
  return binding
}
