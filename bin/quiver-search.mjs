#!/usr/bin/env node
// quiver-search command line: demo, info, bench. Run `quiver-search --help`.
import { existsSync, statSync, writeFileSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { MAX_DIM, MAX_EF, MAX_K, QuiverError } from '../dist/index.mjs'
import { CliError, UsageError, choiceOption, intListOption, intOption, parseArgs } from './lib/args.mjs'

const USAGE = {
  main: `usage: quiver-search <command> [options]

Native vector search for Node.js (HNSW in Rust, SIMD distance kernels).

commands:
  demo     build an index over 778 real sentence embeddings, search it, report recall and QPS
  info     version, native binary in use, platform, Node, SIMD instruction sets
  bench    recall / queries-per-second sweep of the HNSW index on your data
  help     help for a command: quiver-search help <command>

options:
  -h, --help     this help (also after a command: quiver-search bench --help)
  --version      print the version`,
  demo: `usage: quiver-search demo

Builds an HNSW index over 778 all-MiniLM-L6-v2 embeddings of SAP Fiori documentation
(shipped with the package), prints related documents for three of them, recall@10 against
exact search and single-thread / batch queries per second.

options:
  -h, --help     this help`,
  info: `usage: quiver-search info [--json]

Prints the package version, the native binary file loaded and where it came from, platform,
architecture and libc, Node version, the SIMD instruction set in use and those available, and
QUIVER_FORCE_ISA when it is set.

options:
  --json         print the same as one JSON object
  -h, --help     this help`,
  bench: `usage: quiver-search bench --data <path> [options]

Recall / queries-per-second sweep of quiver-search's HNSW index: builds the index, computes the
exact top-k with a flat index, then for each ef measures single-thread QPS (sequential
searchSync, at least 0.5 s or all queries once per point) and recall@k. Prints a markdown table.

--data <path> is one of:
  file.fvecs         per row: int32 dim, then dim float32 (little-endian); the last --queries
                     rows are the queries, the others the base
  file.bin / .fbin   big-ann-benchmarks layout: uint32 n, uint32 dim, then n·dim float32;
                     split like .fvecs
  <directory>        Fashion-MNIST (or MNIST) layout: train-images-idx3-ubyte.gz is the base,
                     the first --queries images of t10k-images-idx3-ubyte.gz the queries
                     (raw 0..255 pixel values)

options:
  --data <path>              dataset (required)
  --metric l2|ip|cosine      distance (default l2)
  --k <n>                    neighbours per query, recall@k (default 10)
  --queries <n>              number of queries (default 200)
  --efs <list>               comma-separated ef values (default 10,16,32,64,128,256)
  --m <n>                    HNSW M (default 16)
  --ef-construction <n>      HNSW efConstruction (default 200)
  --threads <n>              threads for the build and the ground truth (default: all CPUs)
  --json <file>              write the results as JSON
  --svg <file>               write a recall (x) vs QPS (y, log scale) plot
  -h, --help                 this help`,
}

const COMMON = { help: { type: 'boolean', short: 'h' } }
const SPECS = {
  demo: { ...COMMON },
  info: { ...COMMON, json: { type: 'boolean' } },
  bench: {
    ...COMMON,
    data: { type: 'string' },
    metric: { type: 'string' },
    k: { type: 'string' },
    queries: { type: 'string' },
    efs: { type: 'string' },
    m: { type: 'string' },
    'ef-construction': { type: 'string' },
    threads: { type: 'string' },
    json: { type: 'string' },
    svg: { type: 'string' },
  },
}

/** Carries the command whose usage goes with a UsageError. */
class CommandUsageError extends UsageError {
  constructor(message, command) {
    super(message)
    this.command = command
  }
}

const out = (text) => process.stdout.write(text.endsWith('\n') ? text : `${text}\n`)
const err = (text) => process.stderr.write(text.endsWith('\n') ? text : `${text}\n`)

/** `ENOENT: no such file or directory, open 'x'` -> `no such file or directory`. */
function reason(e) {
  const m = /^[A-Z0-9_]+: (.*?), \w+(?: '.*')?$/.exec(e.message)
  return m ? m[1] : e.message
}

async function cmdInfo(values) {
  const { collectInfo, formatInfo } = await import('./lib/info.mjs')
  const info = collectInfo()
  out(values.json ? JSON.stringify(info, null, 2) : formatInfo(info))
  return info.binary.loadError ? 1 : 0
}

async function cmdDemo() {
  const { runDemo } = await import('./lib/demo.mjs')
  await runDemo({ log: (line = '') => out(`${line}\n`) })
  return 0
}

/** Fails before the long run when an output file's folder does not exist. */
function checkWritable(file, option) {
  const dir = dirname(resolve(file))
  if (!existsSync(dir) || !statSync(dir).isDirectory())
    throw new CliError(`cannot write ${file} (--${option}): no such directory ${dir}`)
}

async function cmdBench(values) {
  if (values.data === undefined) throw new CommandUsageError('bench needs --data <path>', 'bench')
  const metric = choiceOption(values, 'metric', 'l2', ['l2', 'ip', 'cosine'])
  const k = intOption(values, 'k', 10, 1, MAX_K)
  const nQuery = intOption(values, 'queries', 200, 1, 1_000_000_000)
  const efs = intListOption(values, 'efs', [10, 16, 32, 64, 128, 256], 1, MAX_EF)
  const m = intOption(values, 'm', 16, 2, 128)
  const efConstruction = intOption(values, 'ef-construction', 200, 1, MAX_EF)
  const threads = intOption(values, 'threads', undefined, 1, 256)
  if (values.json !== undefined) checkWritable(values.json, 'json')
  if (values.svg !== undefined) checkWritable(values.svg, 'svg')

  const { readDataset } = await import('./lib/data.mjs')
  const { runBench, formatBench, benchSvg } = await import('./lib/bench.mjs')
  const { packageVersion } = await import('./lib/info.mjs')
  const data = readDataset(values.data, nQuery, MAX_DIM)
  if (k > data.nBase) throw new CliError(`${values.data}: --k ${k} is more than the ${data.nBase} base vectors`)
  const res = await runBench(data, { metric, k, efs, m, efConstruction, threads, minSeconds: 0.5, log: err })
  res.version = packageVersion()
  out(formatBench(res))
  const write = (file, text) => {
    try {
      writeFileSync(file, text)
    } catch (e) {
      throw new CliError(`cannot write ${file}: ${reason(e)}`)
    }
    err(`wrote ${file}`)
  }
  if (values.json !== undefined) write(values.json, `${JSON.stringify(res, null, 2)}\n`)
  if (values.svg !== undefined) write(values.svg, benchSvg(res, res.version))
  return 0
}

const COMMANDS = { demo: cmdDemo, info: cmdInfo, bench: cmdBench }

async function main(argv) {
  const [first, ...rest] = argv
  if (first === undefined) throw new CommandUsageError('no command given', 'main')
  if (first === '-h' || first === '--help') {
    out(USAGE.main)
    return 0
  }
  if (first === '--version') {
    const { packageVersion } = await import('./lib/info.mjs')
    out(packageVersion())
    return 0
  }
  if (first === 'help') {
    const topic = rest[0]
    if (topic === undefined) out(USAGE.main)
    else if (Object.prototype.hasOwnProperty.call(COMMANDS, topic)) out(USAGE[topic])
    else throw new CommandUsageError(`unknown command "${topic}"`, 'main')
    return 0
  }
  if (!Object.prototype.hasOwnProperty.call(COMMANDS, first)) {
    throw new CommandUsageError(
      first.startsWith('-') ? `unknown option ${first}` : `unknown command "${first}"`,
      'main',
    )
  }
  let parsed
  try {
    parsed = parseArgs(rest, SPECS[first])
  } catch (e) {
    if (e instanceof UsageError) throw new CommandUsageError(e.message, first)
    throw e
  }
  if (parsed.values.help) {
    out(USAGE[first])
    return 0
  }
  if (parsed.positionals.length) throw new CommandUsageError(`unexpected argument "${parsed.positionals[0]}"`, first)
  try {
    return await COMMANDS[first](parsed.values)
  } catch (e) {
    if (e instanceof UsageError && !(e instanceof CommandUsageError)) throw new CommandUsageError(e.message, first)
    throw e
  }
}

try {
  process.exitCode = await main(process.argv.slice(2))
} catch (e) {
  if (e instanceof CommandUsageError) {
    err(`quiver-search: ${e.message}\n`)
    err(USAGE[e.command])
    process.exitCode = 2
  } else if (e instanceof CliError) {
    err(`quiver-search: ${e.message}`)
    process.exitCode = 1
  } else if (e && typeof e === 'object' && e.syscall && e.path) {
    err(`quiver-search: cannot read ${e.path}: ${reason(e)}`)
    process.exitCode = 1
  } else if (e instanceof QuiverError) {
    err(`quiver-search: ${e.code}: ${e.message}`)
    process.exitCode = 1
  } else {
    err(`quiver-search: ${e instanceof Error ? (process.env.QUIVER_DEBUG ? e.stack : e.message) : String(e)}`)
    process.exitCode = 1
  }
}
