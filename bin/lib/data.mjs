// Dataset readers for `quiver-search bench`. Every reader returns
//   { name, format, path, dim, base: Float32Array(nBase·dim), nBase, queries: Float32Array(nQuery·dim), nQuery }
// and throws a CliError with one line naming the file and what is wrong with it. Read errors
// (missing file, permissions) are left to the caller, which prints `cannot read <file>: <reason>`.
// Vectors are little-endian float32, as on every platform the package supports.
import { readFileSync, statSync } from 'node:fs'
import { basename, join } from 'node:path'
import { gunzipSync } from 'node:zlib'
import { CliError } from './args.mjs'

export const MNIST_TRAIN = 'train-images-idx3-ubyte.gz'
export const MNIST_TEST = 't10k-images-idx3-ubyte.gz'

/** A fresh, 4-byte aligned copy of a file's bytes as an ArrayBuffer-backed Uint8Array. */
function aligned(buf) {
  const out = new Uint8Array(buf.byteLength)
  out.set(buf)
  return out
}

function checkFinite(file, data, dim) {
  for (let i = 0; i < data.length; i++) {
    if (!Number.isFinite(data[i]))
      throw new CliError(`${file}: row ${Math.floor(i / dim)} holds a non-finite value (${data[i]})`)
  }
}

/** The last `nQuery` rows are the queries, the others the base. */
function split(file, all, n, dim, nQuery) {
  if (n <= nQuery)
    throw new CliError(
      `${file}: ${n} rows, but --queries ${nQuery} needs more than ${nQuery} (the last ${nQuery} rows are the queries)`,
    )
  const nBase = n - nQuery
  return { base: all.subarray(0, nBase * dim), nBase, queries: all.slice(nBase * dim), nQuery }
}

/** .fvecs: per row an int32 dimension, then that many float32 (TEXMEX / ann-benchmarks). */
export function readFvecs(file, nQuery, maxDim) {
  const bytes = aligned(readFileSync(file))
  if (bytes.byteLength === 0) throw new CliError(`${file}: empty file (no vectors)`)
  if (bytes.byteLength < 4) throw new CliError(`${file}: ${bytes.byteLength} bytes, too short for an .fvecs row`)
  const ints = new Int32Array(bytes.buffer, 0, bytes.byteLength >> 2)
  const dim = ints[0]
  if (dim < 1 || dim > maxDim)
    throw new CliError(`${file}: bad dimension ${dim} in the first row (expected 1..${maxDim})`)
  const rowBytes = 4 * (dim + 1)
  if (bytes.byteLength % rowBytes !== 0) {
    throw new CliError(
      `${file}: length ${bytes.byteLength} bytes is not a whole number of rows of dimension ${dim} (${rowBytes} bytes each): truncated or not .fvecs`,
    )
  }
  const n = bytes.byteLength / rowBytes
  const floats = new Float32Array(bytes.buffer)
  const all = new Float32Array(n * dim)
  for (let r = 0; r < n; r++) {
    const d = ints[r * (dim + 1)]
    if (d !== dim) throw new CliError(`${file}: row ${r} has dimension ${d}, the first row ${dim}`)
    all.set(floats.subarray(r * (dim + 1) + 1, (r + 1) * (dim + 1)), r * dim)
  }
  checkFinite(file, all, dim)
  return { name: basename(file), format: 'fvecs', path: file, dim, ...split(file, all, n, dim, nQuery) }
}

/** big-ann-benchmarks .fbin (.bin): uint32 n, uint32 dim, then n·dim float32. */
export function readFbin(file, nQuery, maxDim) {
  const bytes = aligned(readFileSync(file))
  if (bytes.byteLength < 8)
    throw new CliError(`${file}: ${bytes.byteLength} bytes, too short for the 8-byte header (uint32 n, uint32 dim)`)
  const header = new Uint32Array(bytes.buffer, 0, 2)
  const n = header[0]
  const dim = header[1]
  if (n === 0) throw new CliError(`${file}: header says n = 0 (no vectors)`)
  if (dim < 1 || dim > maxDim) throw new CliError(`${file}: bad dimension ${dim} in the header (expected 1..${maxDim})`)
  const expected = 8 + n * dim * 4
  if (bytes.byteLength !== expected) {
    throw new CliError(
      `${file}: length ${bytes.byteLength} bytes does not match the header (n = ${n}, dim = ${dim}: ${expected} bytes)`,
    )
  }
  const all = new Float32Array(bytes.buffer, 8, n * dim)
  checkFinite(file, all, dim)
  return { name: basename(file), format: 'fbin', path: file, dim, ...split(file, all, n, dim, nQuery) }
}

/** An IDX3 image file (gzip): { n, dim, pixels: Uint8Array(n·dim) }. */
function readIdx3Gz(file) {
  let buf
  try {
    buf = gunzipSync(readFileSync(file))
  } catch (err) {
    if (err && err.syscall) throw err // a read error: the caller reports it
    throw new CliError(`${file}: not gzip data (${err instanceof Error ? err.message : err})`)
  }
  if (buf.byteLength < 16)
    throw new CliError(`${file}: ${buf.byteLength} bytes after gunzip, too short for an IDX header`)
  const magic = buf.readUInt32BE(0)
  if (magic !== 2051) throw new CliError(`${file}: bad IDX magic ${magic} (expected 2051, unsigned-byte 3-D images)`)
  const n = buf.readUInt32BE(4)
  const dim = buf.readUInt32BE(8) * buf.readUInt32BE(12)
  if (n === 0 || dim === 0)
    throw new CliError(
      `${file}: IDX header says ${n} images of ${buf.readUInt32BE(8)}×${buf.readUInt32BE(12)} pixels (nothing to read)`,
    )
  if (buf.byteLength !== 16 + n * dim)
    throw new CliError(
      `${file}: ${buf.byteLength} bytes after gunzip, the IDX header (${n} images of ${dim} pixels) needs ${16 + n * dim}`,
    )
  return { n, dim, pixels: new Uint8Array(buf.buffer, buf.byteOffset + 16, n * dim) }
}

/** Fashion-MNIST (or MNIST) directory: base = the train images, queries = the first nQuery test images, raw 0..255. */
export function readMnistDir(dir, nQuery) {
  const train = readIdx3Gz(join(dir, MNIST_TRAIN))
  const test = readIdx3Gz(join(dir, MNIST_TEST))
  if (train.dim !== test.dim)
    throw new CliError(`${join(dir, MNIST_TEST)}: images of ${test.dim} pixels, the train images have ${train.dim}`)
  if (nQuery > test.n)
    throw new CliError(`${join(dir, MNIST_TEST)}: ${test.n} test images, fewer than --queries ${nQuery}`)
  return {
    name: basename(dir),
    format: 'idx (Fashion-MNIST layout)',
    path: dir,
    dim: train.dim,
    base: Float32Array.from(train.pixels),
    nBase: train.n,
    queries: Float32Array.from(test.pixels.subarray(0, nQuery * test.dim)),
    nQuery,
  }
}

/** Reads `--data`: an .fvecs file, a .bin/.fbin file or a Fashion-MNIST directory. */
export function readDataset(path, nQuery, maxDim) {
  const st = statSync(path) // a missing path throws ENOENT with err.path set
  if (st.isDirectory()) return readMnistDir(path, nQuery)
  if (/\.fvecs$/i.test(path)) return readFvecs(path, nQuery, maxDim)
  if (/\.f?bin$/i.test(path)) return readFbin(path, nQuery, maxDim)
  throw new CliError(
    `${path}: unknown format (expected a .fvecs file, a .bin/.fbin file or a directory with ${MNIST_TRAIN} and ${MNIST_TEST})`,
  )
}
