// `quiver-search info`: which build of the package runs here, on what, with which SIMD kernels.
import { existsSync, readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { basename, dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { capabilities } from '../../dist/index.mjs'

/** The package root (the folder holding package.json, bin/, dist/, native/). */
export const PACKAGE_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..')
const require = createRequire(join(PACKAGE_ROOT, 'package.json'))

/** The version in the package's package.json. */
export function packageVersion() {
  return JSON.parse(readFileSync(join(PACKAGE_ROOT, 'package.json'), 'utf8')).version
}

/** glibc version string on glibc Linux, null on musl; undefined off Linux. */
function glibcVersion() {
  if (process.platform !== 'linux') return undefined
  const header = process.report?.getReport()?.header
  return header?.glibcVersionRuntime ?? null
}

/** The platform suffix of the package's binaries here, e.g. `linux-x64-gnu`, `darwin-arm64`, `win32-x64-msvc`. */
export function platformTriple() {
  const { platform, arch } = process
  let abi = ''
  if (platform === 'linux') abi = glibcVersion() ? '-gnu' : '-musl'
  else if (platform === 'win32') abi = '-msvc'
  return `${platform}-${arch}${abi}`
}

/**
 * The native binary file this process loaded, and where it came from. Once the addon is loaded
 * its `.node` file is in the CommonJS module cache; the candidates the loader tries (a binary
 * next to native/index.js, then the platform package) are the fallback.
 */
function nativeBinary(loaded) {
  const triple = platformTriple()
  const pkg = `quiver-search-${triple}`
  const local = join(PACKAGE_ROOT, 'native', `quiver-search.${triple}.node`)
  const resolveOrNull = (id) => {
    try {
      return require.resolve(id)
    } catch {
      return null
    }
  }
  const override = process.env.NAPI_RS_NATIVE_LIBRARY_PATH
    ? resolveOrNull(process.env.NAPI_RS_NATIVE_LIBRARY_PATH)
    : null
  let path = null
  if (loaded) {
    path =
      override ??
      Object.keys(require.cache).find((f) => f.endsWith('.node') && basename(f).startsWith('quiver-search')) ??
      null
  }
  if (path === null) path = existsSync(local) ? local : resolveOrNull(pkg)
  let source = 'not found'
  if (path !== null) {
    if (override !== null && path === override) source = 'NAPI_RS_NATIVE_LIBRARY_PATH'
    else if (dirname(path) === join(PACKAGE_ROOT, 'native')) source = 'local build (native/)'
    else source = `platform package ${pkg}`
  }
  let packageVersionOfBinary = null
  if (source.startsWith('platform package')) {
    try {
      packageVersionOfBinary = require(`${pkg}/package.json`).version
    } catch {
      packageVersionOfBinary = null
    }
  }
  return { loaded, path, source, platformPackage: pkg, platformPackageVersion: packageVersionOfBinary }
}

/** Everything `info` reports, as a plain object (the `--json` output). */
export function collectInfo() {
  let caps = null
  let loadError = null
  try {
    caps = capabilities()
  } catch (err) {
    loadError = err instanceof Error ? err.message : String(err)
  }
  const glibc = glibcVersion()
  return {
    version: packageVersion(),
    engineVersion: caps ? caps.version : null,
    binary: { ...nativeBinary(caps !== null), loadError },
    platform: process.platform,
    arch: process.arch,
    libc: glibc === undefined ? null : glibc ? 'glibc' : 'musl',
    glibcVersion: glibc ?? null,
    node: process.versions.node,
    isa: caps ? caps.isa : null,
    availableIsas: caps ? caps.availableIsas : [],
    forcedIsa: caps ? caps.forcedIsa : null,
    kernels: caps ? caps.kernels : {},
    quiverForceIsa: process.env.QUIVER_FORCE_ISA || null,
    cpuThreads: caps ? caps.cpuThreads : null,
  }
}

/** The text form of `collectInfo()`, one line per fact. */
export function formatInfo(info) {
  const lines = []
  const row = (name, value) => lines.push(`${`${name}:`.padEnd(18)}${value}`)
  row(
    'quiver-search',
    info.version +
      (info.engineVersion && info.engineVersion !== info.version ? ` (native engine ${info.engineVersion})` : ''),
  )
  const b = info.binary
  const where = b.path
    ? `${b.path} (${b.source}${b.platformPackageVersion ? ` ${b.platformPackageVersion}` : ''})`
    : null
  if (where && b.loaded) row('native binary', where)
  else if (where) row('native binary', `not loaded; found ${where}`)
  else
    row(
      'native binary',
      `none found (looked for native/quiver-search.${platformTriple()}.node and the package ${b.platformPackage})`,
    )
  if (b.loadError) row('load error', b.loadError)
  const libc = info.libc === null ? '' : info.libc === 'glibc' ? `, glibc ${info.glibcVersion}` : ', musl'
  row('platform', `${info.platform}/${info.arch}${libc}`)
  row('node', info.node)
  if (info.isa) {
    row('SIMD in use', info.isa)
    row('SIMD available', info.availableIsas.join(', '))
    row(
      'kernels',
      Object.entries(info.kernels)
        .map(([family, variant]) => `${family} ${variant}`)
        .join(', '),
    )
  }
  if (info.quiverForceIsa !== null) {
    const effect = info.forcedIsa ? `forcing ${info.forcedIsa}` : 'ignored: not an ISA this CPU can run'
    row('QUIVER_FORCE_ISA', `${info.quiverForceIsa} (${effect})`)
  }
  if (info.cpuThreads !== null) row('CPU threads', String(info.cpuThreads))
  return lines.join('\n')
}
