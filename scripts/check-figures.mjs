#!/usr/bin/env node
// Fails (exit 1, listing every problem) when a published benchmark figure has no committed
// summary behind it:
//   0. every run in bench/summaries/*.json names its command, date, machine (cpu, cores) and
//      versions ("unknown" where it was not recorded).
//   1. bench/RESULTS.md and bench/recall-qps-*.svg must be exactly what bench/render.mjs writes
//      from bench/summaries/*.json and bench/templates/RESULTS.md.
//   2. README.md must have a figures block (<!-- figures:start --> … <!-- figures:end -->) in
//      which every number, except in a table's first column, in `code` and in link targets,
//      is followed by a reference to the summary value it prints:
//        15,347 <!-- fig: quant:fashion-mnist/modes/sq8/qps -->
//      (a unit such as ×, ms, µs, s, MiB, KiB or %, or the closing ` of a code span, may sit
//      between the value and the marker).
//   3. Every reference anywhere in README.md must resolve to a summary value, and the text just
//      before it must be that value as RESULTS.md prints it (the table's format; `|f2` after the
//      path picks another: <!-- fig: ann:synthetic/qpsAt/0.95/vsHnswlib|f1 -->).
// Fast and build-free: run by .ci/run before the tests, and by `npm run check:figures`.
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { renderAll, loadSummaries, figureText, BENCH_DIR } from '../bench/lib/render.mjs'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const problems = []
let summaries
try {
  summaries = loadSummaries()
} catch (e) {
  problems.push(`bench/summaries: ${e.message}`)
}

// 0. every run in a summary says where its figures came from
for (const [name, sum] of Object.entries(summaries ?? {})) {
  const runs =
    'command' in sum
      ? [[name, sum]]
      : Object.entries(sum)
          .filter(([, v]) => v && typeof v === 'object' && 'command' in v)
          .map(([k, v]) => [`${name}:${k}`, v])
  if (!runs.length) problems.push(`bench/summaries/${name}.json: no run with a command`)
  for (const [where, run] of runs) {
    for (const key of ['command', 'date', 'machine', 'versions'])
      if (run[key] == null || run[key] === '')
        problems.push(`bench/summaries/${where}: no ${key} (write "unknown" when it was not recorded)`)
    for (const key of ['cpu', 'cores'])
      if (run.machine && run.machine[key] == null)
        problems.push(`bench/summaries/${where}: no machine.${key} (write "unknown" when it was not recorded)`)
  }
}

// 1. generated files match the summaries
if (summaries) {
  try {
    for (const [rel, text] of Object.entries(renderAll(summaries))) {
      const file = path.join(BENCH_DIR, rel)
      const old = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : null
      if (old !== text)
        problems.push(
          `bench/${rel} differs from what bench/render.mjs writes from bench/summaries/ (run \`npm run bench:report\` and commit the result; edit bench/templates/RESULTS.md or the summaries, not the output)${old === null ? '' : `: first difference at line ${firstDiff(old, text)}`}`,
        )
    }
  } catch (e) {
    problems.push(`bench/render.mjs failed: ${e.message}`)
  }
}

// 2 + 3. README figures
const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8')
const MARK = /<!--\s*fig:\s*([\w-]+:[^\s|]*)(?:\|(\w+))?\s*-->/g
const UNIT = String.raw`(?:\s?(?:×|%|ms|µs|s|MiB|KiB|QPS))?` + '`?'
const lines = readme.split('\n')
const residual = [] // each line with its checked figures (value, unit, marker) cut out
lines.forEach((line, i) => {
  let rest = ''
  let last = 0
  for (const m of line.matchAll(MARK)) {
    const where = `README.md:${i + 1}: ${m[1]}`
    let before = line.slice(last, m.index)
    last = m.index + m[0].length
    if (!summaries) {
      rest += before
      continue
    }
    let want
    try {
      want = figureText(summaries, m[1], m[2])
    } catch (e) {
      problems.push(`${where}: no such summary value (${e.message})`)
      rest += before
      continue
    }
    const re = new RegExp(`(^|[^\\d.,])${esc(want)}${UNIT}\\s*$`)
    const hit = re.exec(before)
    if (!hit) problems.push(`${where}: README prints "${lastToken(before)}" but the summary says "${want}"`)
    else {
      before = before.slice(0, hit.index + hit[1].length)
      if (/`\s*$/.test(hit[0]) && before.endsWith('`')) before = before.slice(0, -1) // the whole code span
    }
    rest += before
  }
  residual.push(rest + line.slice(last))
})
const start = lines.findIndex((l) => l.includes('<!-- figures:start -->'))
const end = lines.findIndex((l) => l.includes('<!-- figures:end -->'))
if (start < 0 || end < start)
  problems.push('README.md: no figures block (<!-- figures:start --> … <!-- figures:end -->)')
else {
  for (let i = start + 1; i < end; i++) {
    let text = residual[i]
    if (/^\|\s*-/.test(text)) continue // table separator
    if (text.startsWith('|')) text = text.split('|').slice(2).join('|') // first column is a label
    text = text
      .replace(/`[^`]*`/g, '') // code
      .replace(/\]\([^)]*\)/g, ']') // link targets
      .replace(/<!--[^>]*-->/g, '')
    const bare = text.match(/(?<![\w@.,-])\d[\d,.]*/g) // not part of a name such as f32, recall@10, AVX-512
    if (bare)
      problems.push(
        `README.md:${i + 1}: figure(s) ${bare.join(', ')} in the figures block without a <!-- fig: … --> reference to bench/summaries`,
      )
  }
}

if (problems.length) {
  console.error(`check-figures: ${problems.length} problem(s)\n${problems.map((p) => `  - ${p}`).join('\n')}`)
  process.exit(1)
}
console.error(
  `check-figures: README figures and bench/RESULTS.md match bench/summaries/ (${[...readme.matchAll(MARK)].length} references)`,
)

function esc(s) {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
}
function lastToken(s) {
  return s.split(/\s+/).slice(-2).join(' ')
}
function firstDiff(a, b) {
  const x = a.split('\n')
  const y = b.split('\n')
  for (let i = 0; i < Math.max(x.length, y.length); i++) if (x[i] !== y[i]) return i + 1
  return 0
}
