// A tiny command-line parser (no util.parseArgs: the package supports every Node 18).
//
//   parseArgs(argv, spec) -> { values, positionals }
//   spec = { name: { type: 'string' | 'boolean', short?: 'x' } }
//
// Accepts `--name value`, `--name=value`, `-x value`, boolean `--name` / `-x`, and `--` to end
// the options. Any problem throws a UsageError (the CLI prints it with the usage text, exit 2).

/** A mistake on the command line: printed with the command's usage, exit code 2. */
export class UsageError extends Error {
  constructor(message) {
    super(message)
    this.name = 'UsageError'
  }
}

/** A failure the user can act on (unreadable or malformed input): one line, exit code 1. */
export class CliError extends Error {
  constructor(message) {
    super(message)
    this.name = 'CliError'
  }
}

export function parseArgs(argv, spec) {
  const values = {}
  const positionals = []
  const byShort = {}
  for (const [name, opt] of Object.entries(spec)) if (opt.short) byShort[opt.short] = name
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]
    if (arg === '--') {
      positionals.push(...argv.slice(i + 1))
      break
    }
    let name
    let inline
    if (arg.startsWith('--')) {
      const eq = arg.indexOf('=')
      name = eq === -1 ? arg.slice(2) : arg.slice(2, eq)
      inline = eq === -1 ? undefined : arg.slice(eq + 1)
      if (!Object.prototype.hasOwnProperty.call(spec, name)) throw new UsageError(`unknown option --${name}`)
    } else if (arg.length > 1 && arg.startsWith('-') && !/^-\d/.test(arg)) {
      name = byShort[arg.slice(1)]
      if (!name) throw new UsageError(`unknown option ${arg}`)
    } else {
      positionals.push(arg)
      continue
    }
    const opt = spec[name]
    if (opt.type === 'boolean') {
      if (inline !== undefined) throw new UsageError(`option --${name} takes no value`)
      values[name] = true
      continue
    }
    let value = inline
    if (value === undefined) {
      if (i + 1 >= argv.length || (argv[i + 1].startsWith('--') && argv[i + 1].length > 2)) {
        throw new UsageError(`option --${name} needs a value`)
      }
      value = argv[++i]
    }
    if (value === '') throw new UsageError(`option --${name} needs a value`)
    if (Object.prototype.hasOwnProperty.call(values, name)) throw new UsageError(`option --${name} given twice`)
    values[name] = value
  }
  return { values, positionals }
}

/** An integer option in [min, max], or `fallback` when absent. */
export function intOption(values, name, fallback, min, max) {
  const raw = values[name]
  if (raw === undefined) return fallback
  if (!/^\d+$/.test(raw)) throw new UsageError(`--${name} must be an integer, got "${raw}"`)
  const v = Number(raw)
  if (v < min || v > max) throw new UsageError(`--${name} must be between ${min} and ${max}, got ${raw}`)
  return v
}

/** A comma-separated list of integers in [min, max] (sorted, duplicates dropped), or `fallback`. */
export function intListOption(values, name, fallback, min, max) {
  const raw = values[name]
  if (raw === undefined) return fallback
  const parts = raw.split(',').map((s) => s.trim())
  const out = []
  for (const p of parts) {
    if (!/^\d+$/.test(p)) throw new UsageError(`--${name} must be a comma-separated list of integers, got "${raw}"`)
    const v = Number(p)
    if (v < min || v > max) throw new UsageError(`--${name} values must be between ${min} and ${max}, got ${p}`)
    if (!out.includes(v)) out.push(v)
  }
  return out.sort((a, b) => a - b)
}

/** One of `choices`, or `fallback`. */
export function choiceOption(values, name, fallback, choices) {
  const raw = values[name]
  if (raw === undefined) return fallback
  if (!choices.includes(raw)) throw new UsageError(`--${name} must be one of ${choices.join(', ')}, got "${raw}"`)
  return raw
}
