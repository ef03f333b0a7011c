/* The command-line tool (bin/quiver-search.mjs), run as a child process: info, demo, bench, usage errors. */
import test from 'ava'
import { execFile } from 'node:child_process'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import { randomVectors } from './helpers'

const root = path.join(__dirname, '..')
const bin = path.join(root, 'bin', 'quiver-search.mjs')
const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as { version: string }

interface Run {
  code: number
  stdout: string
  stderr: string
}

function cli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<Run> {
  const childEnv = { ...process.env, ...env }
  if (!('QUIVER_FORCE_ISA' in env)) delete childEnv.QUIVER_FORCE_ISA
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [bin, ...args],
      { cwd: root, env: childEnv, encoding: 'utf8', timeout: 60_000 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0
        resolve({ code, stdout, stderr })
      },
    )
  })
}

// 2000 × 16 random vectors, written as .fvecs and as big-ann .bin, plus a truncated .fvecs.
const n = 2000
const dim = 16
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'quiver-cli-'))
const data = randomVectors(n, dim, 7)
const fvecs = Buffer.alloc(n * (dim + 1) * 4)
const fbin = Buffer.alloc(8 + n * dim * 4)
fbin.writeUInt32LE(n, 0)
fbin.writeUInt32LE(dim, 4)
for (let i = 0; i < n; i++) {
  fvecs.writeInt32LE(dim, i * (dim + 1) * 4)
  for (let j = 0; j < dim; j++) {
    fvecs.writeFloatLE(data[i * dim + j], (i * (dim + 1) + 1 + j) * 4)
    fbin.writeFloatLE(data[i * dim + j], 8 + (i * dim + j) * 4)
  }
}
const fvecsFile = path.join(tmp, 'random.fvecs')
const binFile = path.join(tmp, 'random.bin')
const truncated = path.join(tmp, 'truncated.fvecs')
fs.writeFileSync(fvecsFile, fvecs)
fs.writeFileSync(binFile, fbin)
fs.writeFileSync(truncated, fvecs.subarray(0, fvecs.length - 10))

test.after.always(() => fs.rmSync(tmp, { recursive: true, force: true }))

test('the bin file is an executable ESM script with a node shebang', (t) => {
  const text = fs.readFileSync(bin, 'utf8')
  t.true(text.startsWith('#!/usr/bin/env node\n'))
  if (process.platform !== 'win32') t.truthy(fs.statSync(bin).mode & 0o111, 'not executable')
})

test('--version, --help, help <command>, <command> --help', async (t) => {
  const v = await cli(['--version'])
  t.is(v.code, 0)
  t.is(v.stdout.trim(), pkg.version)
  for (const args of [['--help'], ['-h'], ['help']]) {
    const r = await cli(args)
    t.is(r.code, 0, args.join(' '))
    t.regex(r.stdout, /^usage: quiver-search <command>/)
    t.regex(r.stdout, /bench/)
    t.is(r.stderr, '')
  }
  for (const cmd of ['demo', 'info', 'bench']) {
    for (const args of [
      ['help', cmd],
      [cmd, '--help'],
      [cmd, '-h'],
    ]) {
      const r = await cli(args)
      t.is(r.code, 0, args.join(' '))
      t.true(r.stdout.startsWith(`usage: quiver-search ${cmd}`), r.stdout)
    }
  }
})

test('info: version, native binary, platform, SIMD in text and --json', async (t) => {
  const text = await cli(['info'])
  t.is(text.code, 0, text.stderr)
  t.regex(text.stdout, new RegExp(`^quiver-search: +${pkg.version.replace(/\./g, '\\.')}`, 'm'))
  t.regex(text.stdout, /^native binary: +\S+\.node \(/m)
  t.regex(text.stdout, new RegExp(`^platform: +${process.platform}/${process.arch}`, 'm'))
  t.regex(text.stdout, new RegExp(`^node: +${process.versions.node}`, 'm'))
  t.regex(text.stdout, /^SIMD in use: +(avx512|avx2|neon|scalar)$/m)

  const r = await cli(['info', '--json'])
  t.is(r.code, 0, r.stderr)
  const info = JSON.parse(r.stdout)
  t.is(info.version, pkg.version)
  t.is(info.node, process.versions.node)
  t.is(info.platform, process.platform)
  t.is(info.arch, process.arch)
  if (process.platform === 'linux') t.true(info.libc === 'glibc' || info.libc === 'musl')
  t.true(fs.existsSync(info.binary.path), info.binary.path)
  t.true(info.binary.path.endsWith('.node'))
  t.is(typeof info.binary.source, 'string')
  t.is(info.binary.loadError, null)
  t.true(info.binary.loaded)
  t.true(Array.isArray(info.availableIsas) && info.availableIsas.length > 0)
  t.true(info.availableIsas.includes(info.isa), `${info.isa} not in ${info.availableIsas}`)
  t.is(info.quiverForceIsa, null)
  t.is(info.forcedIsa, null)
})

test('info reports QUIVER_FORCE_ISA', async (t) => {
  const r = await cli(['info', '--json'], { QUIVER_FORCE_ISA: 'scalar' })
  t.is(r.code, 0, r.stderr)
  const info = JSON.parse(r.stdout)
  t.is(info.quiverForceIsa, 'scalar')
  t.is(info.forcedIsa, 'scalar')
  t.is(info.isa, 'scalar')
  const text = await cli(['info'], { QUIVER_FORCE_ISA: 'scalar' })
  t.regex(text.stdout, /^QUIVER_FORCE_ISA: +scalar/m)
})

test('demo: related documents, recall against exact search, QPS', async (t) => {
  const r = await cli(['demo'])
  t.is(r.code, 0, r.stderr)
  t.regex(r.stdout, /Deploying an SAP Fiori Application/)
  const m = /recall@10 vs exact search: ([0-9.]+)/.exec(r.stdout)
  t.truthy(m, r.stdout)
  t.true(Number(m?.[1]) >= 0.95, `demo recall ${m?.[1]}`)
  t.regex(r.stdout, /single-thread searchSync: \d+ queries\/s/)
})

test('bench on an .fvecs file: markdown table, --json with a row per ef, --svg', async (t) => {
  const json = path.join(tmp, 'fvecs.json')
  const svg = path.join(tmp, 'fvecs.svg')
  const r = await cli(['bench', '--data', fvecsFile, '--json', json, '--svg', svg])
  t.is(r.code, 0, r.stderr)
  t.regex(r.stdout, /^\| ef \| recall@10 \| QPS \(1 thread\) \| mean latency \(µs\) \|$/m)
  t.regex(r.stdout, /^build: [0-9.]+ s/m)
  t.regex(r.stdout, /^memoryUsage\(\): /m)
  const res = JSON.parse(fs.readFileSync(json, 'utf8'))
  t.deepEqual(
    res.sweep.map((p: { ef: number }) => p.ef),
    [10, 16, 32, 64, 128, 256],
  )
  t.is(res.dataset.nBase, n - 200)
  t.is(res.dataset.nQuery, 200)
  t.is(res.dataset.dim, dim)
  t.is(res.dataset.metric, 'l2')
  for (const p of res.sweep) {
    t.true(p.recall >= 0 && p.recall <= 1)
    t.true(p.qps > 0)
    t.true(p.meanLatencyUs > 0)
    t.regex(r.stdout, new RegExp(`^\\| ${p.ef} \\| ${p.recall.toFixed(4)} \\|`, 'm'))
  }
  t.true(res.sweep[res.sweep.length - 1].recall >= 0.95, JSON.stringify(res.sweep))
  t.true(res.build.ms > 0)
  t.true(res.memoryUsageBytes > 0)
  t.true(fs.readFileSync(svg, 'utf8').startsWith('<svg'))
})

test('bench on a big-ann .bin file with --metric, --k, --queries, --efs, --m, --threads', async (t) => {
  const json = path.join(tmp, 'bin.json')
  const svg = path.join(tmp, 'bin.svg')
  const args = [
    'bench',
    '--data',
    binFile,
    '--metric',
    'cosine',
    '--k',
    '5',
    '--queries',
    '100',
    '--efs',
    '64,16',
    '--m',
    '8',
    '--ef-construction',
    '100',
    '--threads',
    '1',
    '--json',
    json,
    '--svg',
    svg,
  ]
  const r = await cli(args)
  t.is(r.code, 0, r.stderr)
  const res = JSON.parse(fs.readFileSync(json, 'utf8'))
  t.deepEqual(
    res.sweep.map((p: { ef: number }) => p.ef),
    [16, 64],
  )
  t.is(res.dataset.nBase, n - 100)
  t.is(res.dataset.nQuery, 100)
  t.is(res.dataset.metric, 'cosine')
  t.is(res.params.k, 5)
  t.is(res.params.m, 8)
  t.is(res.build.threads, 1)
  t.regex(r.stdout, /recall@5/)
  t.true(fs.readFileSync(svg, 'utf8').startsWith('<svg'))
})

const usageCases: [string, string[], RegExp][] = [
  ['no arguments', [], /^quiver-search: no command given\n/],
  ['unknown command', ['frobnicate'], /^quiver-search: unknown command "frobnicate"\n/],
  ['bench without --data', ['bench'], /^quiver-search: bench needs --data/],
  ['--k abc', ['bench', '--data', 'x.fvecs', '--k', 'abc'], /^quiver-search: --k must be an integer, got "abc"\n/],
  ['unknown flag', ['bench', '--data', 'x.fvecs', '--frob'], /^quiver-search: unknown option --frob\n/],
  ['bad --metric', ['bench', '--data', 'x.fvecs', '--metric', 'manhattan'], /^quiver-search: --metric must be one of/],
  ['bad --efs', ['bench', '--data', 'x.fvecs', '--efs', '10,x'], /^quiver-search: --efs must be/],
]
for (const [name, args, message] of usageCases) {
  test(`usage error, exit 2: ${name}`, async (t) => {
    const r = await cli(args)
    t.is(r.code, 2)
    t.regex(r.stderr, message)
    t.regex(r.stderr, /\nusage: quiver-search /)
    t.is(r.stdout, '')
  })
}

test('missing data file: one line, exit 1', async (t) => {
  const missing = path.join(tmp, 'does-not-exist.fvecs')
  const r = await cli(['bench', '--data', missing])
  t.is(r.code, 1)
  t.is(r.stderr, `quiver-search: cannot read ${missing}: no such file or directory\n`)
  t.is(r.stdout, '')
})

test('malformed data files: one line naming the file, exit 1', async (t) => {
  const r = await cli(['bench', '--data', truncated])
  t.is(r.code, 1)
  t.regex(
    r.stderr,
    /^quiver-search: \S+truncated\.fvecs: length \d+ bytes is not a whole number of rows of dimension 16/,
  )
  t.is(r.stderr.trim().split('\n').length, 1)

  const short = path.join(tmp, 'short.bin')
  fs.writeFileSync(short, fbin.subarray(0, 100))
  const b = await cli(['bench', '--data', short])
  t.is(b.code, 1)
  t.regex(b.stderr, /^quiver-search: \S+short\.bin: length 100 bytes does not match the header \(n = 2000, dim = 16/)
  t.is(b.stderr.trim().split('\n').length, 1)

  const empty = path.join(tmp, 'empty.bin')
  fs.writeFileSync(empty, Buffer.alloc(8))
  const e = await cli(['bench', '--data', empty])
  t.is(e.code, 1)
  t.regex(e.stderr, /^quiver-search: \S+empty\.bin: header says n = 0/)
})
