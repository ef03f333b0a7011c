import test from 'ava'
import * as fs from 'node:fs'
import * as path from 'node:path'
import { execFile } from 'node:child_process'
import { capabilities } from '../ts/index'

test('capabilities() has the documented shape', (t) => {
  const c = capabilities()
  t.deepEqual(Object.keys(c).sort(), [
    'arch',
    'availableIsas',
    'cpuThreads',
    'forcedIsa',
    'isa',
    'kernels',
    'platform',
    'version',
  ])
  t.deepEqual(Object.keys(c.kernels), ['f32', 'sq8', 'sq8_i8', 'bits', 'pq', 'maxsim', 'maxsim_i8', 'hadamard'])
  for (const variant of Object.values(c.kernels)) {
    // Every family runs at or below the chosen level: scalar, or a name that starts with it or a lower one.
    t.true(variant === 'scalar' || c.availableIsas.some((isa) => variant.startsWith(isa)), variant)
  }
  t.is(c.kernels.f32, c.isa)
  t.is(typeof c.isa, 'string')
  t.true(c.isa.length > 0)
  t.true(Array.isArray(c.availableIsas))
  t.true(c.availableIsas.length >= 1)
  for (const isa of c.availableIsas) t.is(typeof isa, 'string')
  t.true(c.availableIsas.includes(c.isa), `${c.isa} not in ${c.availableIsas.join(',')}`)
  t.true(c.forcedIsa === null || typeof c.forcedIsa === 'string')
  if (typeof c.forcedIsa === 'string') t.is(c.forcedIsa, c.isa)
  t.true(Number.isInteger(c.cpuThreads) && c.cpuThreads >= 1)
  t.regex(c.version, /^\d+\.\d+\.\d+/)
  t.is(c.platform, process.platform)
  t.is(c.arch, process.arch)
  t.log(c)
})

test('capabilities() version matches package.json', (t) => {
  const pkg = JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'package.json'), 'utf8')) as { version: string }
  t.is(capabilities().version, pkg.version)
})

test('capabilities() returns a fresh object each call', (t) => {
  const a = capabilities()
  a.availableIsas.push('bogus')
  a.isa = 'bogus'
  const b = capabilities()
  t.false(b.availableIsas.includes('bogus'))
  t.not(b.isa, 'bogus')
})

interface Probe {
  caps: ReturnType<typeof capabilities>
  results: Record<string, { keys: number[]; distances: number[] }>
}

function probe(forceIsa: string | undefined): Promise<Probe> {
  const env = { ...process.env }
  delete env.QUIVER_FORCE_ISA
  if (forceIsa !== undefined) env.QUIVER_FORCE_ISA = forceIsa
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      ['--import=tsx', path.join(__dirname, 'fixtures', 'isa-probe.ts')],
      { env, cwd: path.join(__dirname, '..'), maxBuffer: 1 << 24 },
      (err, stdout, stderr) => {
        if (err) reject(new Error(`${err.message}\n${stderr}`))
        else resolve(JSON.parse(stdout) as Probe)
      },
    )
  })
}

test('QUIVER_FORCE_ISA selects each available ISA, and every ISA computes the same distances', async (t) => {
  const isas = capabilities().availableIsas
  const [base, bogus, ...forced] = await Promise.all([
    probe(undefined),
    probe('no-such-isa'),
    ...isas.map((i) => probe(i)),
  ])
  t.is(base.caps.forcedIsa, null)
  t.is(base.caps.isa, isas[0], 'the best ISA is used by default')
  t.is(bogus.caps.forcedIsa, null, 'an unknown value is ignored')
  t.is(bogus.caps.isa, base.caps.isa)
  forced.forEach((p, i) => {
    const isa = isas[i]
    t.is(p.caps.isa, isa)
    t.is(p.caps.forcedIsa, isa)
    // Every kernel family follows the forced level (or falls below it).
    const levels = isas.slice(i)
    for (const [family, variant] of Object.entries(p.caps.kernels)) {
      t.true(variant === 'scalar' || levels.some((l) => variant.startsWith(l)), `${isa}: ${family} runs ${variant}`)
    }
    for (const metric of Object.keys(base.results)) {
      const a = base.results[metric]
      const b = p.results[metric]
      let same = 0
      for (let j = 0; j < a.distances.length; j++) {
        const d = Math.abs(a.distances[j] - b.distances[j])
        t.true(
          d <= 1e-4 * (1 + Math.abs(a.distances[j])),
          `${isa}/${metric} rank ${j}: ${b.distances[j]} vs ${a.distances[j]}`,
        )
        if (a.keys[j] === b.keys[j]) same++
      }
      t.true(same >= a.keys.length * 0.95, `${isa}/${metric}: only ${same}/${a.keys.length} keys agree`)
    }
  })
})
