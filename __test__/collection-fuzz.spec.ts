/*
 * Structured mutation fuzzing of what Collection.open reads besides the index files (those have
 * their own fuzz targets): MANIFEST.json and docs.json. Each iteration mutates one of them as
 * JSON (a value replaced by one of another type or an edge value, a key dropped or added, an
 * array emptied or grown, a path-like string) or as raw text (truncated, a byte changed), keeps
 * docs.json's checksum in the manifest valid when docs.json was mutated (so the mutation reaches
 * the code behind the checksum), and opens the directory: the open must either succeed with a
 * collection whose search works, or fail with a coded QuiverError. Never a TypeError, a hang or
 * a file read outside the directory.
 *
 * QUIVER_FUZZ_ITERS sets the iterations (default 400) and QUIVER_FUZZ_SEED the seed (default 1).
 *
 * A second test runs the same mutations straight through the manifest and docs.json parsers
 * `open` uses (JSON.parse, then the shape checks), without the file system, so that millions of
 * executions fit in minutes: QUIVER_FUZZ_PARSE_ITERS (default 20,000).
 */
import test from 'ava'
import * as crypto from 'node:crypto'
import * as fs from 'node:fs'
import * as path from 'node:path'
import { Collection, QuiverError } from '../ts/index'
import { checkDocs, checkManifest } from '../ts/collection'
import { mulberry32, tempDir } from './helpers'

const DIM = 8
const ITERS = Number(process.env.QUIVER_FUZZ_ITERS ?? 400)
const SEED = Number(process.env.QUIVER_FUZZ_SEED ?? 1)
const PARSE_ITERS = Number(process.env.QUIVER_FUZZ_PARSE_ITERS ?? 20_000)
const CODED = new Set(['ERR_CORRUPT_FILE', 'ERR_VERSION_MISMATCH'])

type Json = null | boolean | number | string | Json[] | { [k: string]: Json }

const EDGE_VALUES: Json[] = [
  null,
  true,
  false,
  0,
  -1,
  1.5,
  2 ** 32,
  2 ** 53,
  -(2 ** 31),
  1e308,
  '',
  '..',
  '../docs.json',
  '/etc/passwd',
  'gen-0-0',
  'gen-zz-ff/../x',
  'a'.repeat(300),
  'docs.json',
  'vector.qvr',
  '\u0000',
  [],
  {},
  [1, 2, 3],
  { dim: 8 },
  { dim: -1 },
  { dim: 'x' },
]

/** Every path to a value inside `v` (the root included). */
function paths(v: Json, at: Array<string | number> = [], out: Array<Array<string | number>> = []) {
  out.push(at)
  if (Array.isArray(v)) v.forEach((x, i) => paths(x, [...at, i], out))
  else if (v !== null && typeof v === 'object') for (const [k, x] of Object.entries(v)) paths(x, [...at, k], out)
  return out
}

function mutateJson(root: Json, rnd: () => number): Json {
  const pick = <T>(xs: T[]): T => xs[Math.floor(rnd() * xs.length)]
  const copy = JSON.parse(JSON.stringify(root)) as Json
  const all = paths(copy)
  const target = pick(all)
  if (target.length === 0) return pick(EDGE_VALUES)
  let parent = copy as Record<string | number, Json>
  for (const p of target.slice(0, -1)) parent = parent[p] as Record<string | number, Json>
  const last = target[target.length - 1]
  const cur = parent[last]
  switch (Math.floor(rnd() * 6)) {
    case 0:
      if (Array.isArray(parent)) parent.splice(Number(last), 1)
      else delete parent[last]
      break
    case 1:
      parent[last] = pick(EDGE_VALUES)
      break
    case 2:
      if (typeof cur === 'number') parent[last] = pick([cur + 1, cur - 1, -cur, cur * 2 ** 20, cur + 0.5])
      else if (typeof cur === 'string') parent[last] = pick([cur + 'x', cur.slice(0, -1), cur.toUpperCase(), ''])
      else parent[last] = pick(EDGE_VALUES)
      break
    case 3:
      if (Array.isArray(cur)) parent[last] = pick([[], [...cur, ...cur], cur.slice(1), [...cur].reverse()])
      else parent[last] = [cur]
      break
    case 4:
      if (!Array.isArray(parent)) parent[pick(['extra', 'schema', 'parts', 'text', 'nope'])] = pick(EDGE_VALUES)
      break
    default:
      // Another value from the same document in this place.
      parent[last] = JSON.parse(JSON.stringify(pick(all).reduce<Json>((v, p) => (v as never)[p], copy) ?? null))
  }
  return copy
}

function mutateText(text: string, rnd: () => number): string {
  if (text.length === 0) return '{'
  const at = Math.floor(rnd() * text.length)
  switch (Math.floor(rnd() * 3)) {
    case 0:
      return text.slice(0, at)
    case 1:
      return text.slice(0, at) + String.fromCharCode(Math.floor(rnd() * 128)) + text.slice(at + 1)
    default:
      return text.slice(0, at) + text.slice(at, at + 40) + text.slice(at)
  }
}

test('open of mutated manifests and docs files gives a collection or a coded error', async (t) => {
  const dir = tempDir(t)
  const rnd0 = mulberry32(7)
  const c = new Collection({ text: true, vector: { dim: DIM, threads: 1 } })
  await c.upsert(
    Array.from({ length: 24 }, (_, i) => ({
      id: i % 3 === 0 ? i : `d${i}`,
      text: `word${i % 5} item ${i}`,
      vector: Float32Array.from({ length: DIM }, () => rnd0() - 0.5),
    })),
  )
  await c.save(dir)
  c.close()
  const manifestFile = path.join(dir, 'MANIFEST.json')
  const goodManifestText = fs.readFileSync(manifestFile, 'utf8')
  const goodManifest = JSON.parse(goodManifestText) as { generation: string; parts: { docs: { file: string } } }
  const docsFile = path.join(dir, goodManifest.generation, goodManifest.parts.docs.file)
  const goodDocsText = fs.readFileSync(docsFile, 'utf8')

  const rnd = mulberry32(SEED)
  const counts = { opened: 0, rejected: 0 }
  for (let i = 0; i < ITERS; i++) {
    let manifestText = goodManifestText
    let docsText = goodDocsText
    const which = rnd()
    if (which < 0.45) manifestText = JSON.stringify(mutateJson(JSON.parse(goodManifestText) as Json, rnd))
    else if (which < 0.55) manifestText = mutateText(goodManifestText, rnd)
    else {
      docsText =
        which < 0.9 ? JSON.stringify(mutateJson(JSON.parse(goodDocsText) as Json, rnd)) : mutateText(goodDocsText, rnd)
      // Keep the checksum valid so the mutation is seen by the code behind it.
      const m = JSON.parse(goodManifestText) as { parts: { docs: { sha256: string } } }
      m.parts.docs.sha256 = crypto.createHash('sha256').update(docsText).digest('hex')
      manifestText = JSON.stringify(m)
    }
    fs.writeFileSync(manifestFile, manifestText)
    fs.writeFileSync(docsFile, docsText)
    try {
      const opened = await Collection.open(dir)
      // Whatever fields the manifest's schema kept, a search over them must work and name
      // every hit (a query naming a field the schema lacks is refused up front).
      const text = 'word1 item'
      const vector = new Float32Array(DIM).fill(0.1)
      let searched = false
      for (const q of [{ text, vector }, { text }, { vector }]) {
        try {
          const hits = await opened.search({ ...q, k: 5 })
          for (const h of hits) t.not(h.id, undefined, `iteration ${i}: a hit without an id`)
          searched = true
          break
        } catch (e) {
          if (!(e instanceof QuiverError) || e.code !== 'ERR_INVALID_ARGUMENT') throw e
        }
      }
      t.true(searched, `iteration ${i}: no search worked on the opened collection`)
      opened.close()
      counts.opened++
    } catch (e) {
      if (!(e instanceof QuiverError) || !CODED.has(e.code)) {
        t.fail(
          `iteration ${i} (QUIVER_FUZZ_SEED=${SEED}): ${String(e)}\nmanifest: ${manifestText}\ndocs: ${docsText.slice(0, 400)}`,
        )
        return
      }
      counts.rejected++
    }
  }
  t.log(`${ITERS} opens: ${counts.opened} opened, ${counts.rejected} rejected with a code`)
  t.true(counts.rejected > 0)
})

test('the manifest and docs.json parsers: every mutation parses to a safe shape or a coded error', async (t) => {
  const dir = tempDir(t)
  const rnd0 = mulberry32(11)
  const c = new Collection({ text: true, vector: { dim: DIM, threads: 1 }, sparse: {}, attributes: { tag: 'keyword' } })
  await c.upsert(
    Array.from({ length: 12 }, (_, i) => ({
      id: i % 3 === 0 ? i : `d${i}`,
      text: `word${i % 5} item ${i}`,
      vector: Float32Array.from({ length: DIM }, () => rnd0() - 0.5),
      sparse: { indices: [i, i + 1], values: [1, 0.5] },
      attributes: { tag: i % 2 === 0 ? 'a' : 'b' },
    })),
  )
  await c.save(dir)
  c.close()
  const manifestText = fs.readFileSync(path.join(dir, 'MANIFEST.json'), 'utf8')
  const m = JSON.parse(manifestText) as { generation: string; parts: { docs: { file: string } } }
  const docsText = fs.readFileSync(path.join(dir, m.generation, m.parts.docs.file), 'utf8')
  const plain = (name: unknown): boolean =>
    typeof name === 'string' && name === path.basename(name) && name !== '..' && name !== '.' && !name.includes('\\')
  const rnd = mulberry32(SEED)
  const counts = { accepted: 0, rejected: 0 }
  const start = Date.now()
  for (let i = 0; i < PARSE_ITERS; i++) {
    const docs = rnd() < 0.5
    const good = docs ? docsText : manifestText
    const text = rnd() < 0.8 ? JSON.stringify(mutateJson(JSON.parse(good) as Json, rnd)) : mutateText(good, rnd)
    try {
      let parsed: unknown
      try {
        parsed = JSON.parse(text)
      } catch {
        counts.rejected++ // open reports a file JSON cannot parse as ERR_CORRUPT_FILE
        continue
      }
      if (docs) {
        const d = checkDocs(dir, parsed)
        t.true(d.ids.length === d.keys.length && d.keys.every((k) => Number.isInteger(k) && k >= 0 && k < d.nextKey))
      } else {
        const man = checkManifest(dir, parsed) as unknown as { generation: string; parts: Record<string, unknown> }
        // What open will join to the directory stays inside it.
        t.true(/^gen-[0-9a-z]+-[0-9a-f]+$/.test(man.generation) || !man.generation.includes('/'), `iteration ${i}`)
        // (open reads only these parts; other keys are ignored)
        for (const field of ['docs', 'text', 'vector', 'multiVector', 'sparse']) {
          const part = man.parts[field]
          const name = field === 'docs' ? (part as { file: unknown }).file : part
          if (name !== undefined && !plain(name)) t.fail(`iteration ${i}: part ${field} names ${String(name)}`)
        }
      }
      counts.accepted++
    } catch (e) {
      if (!(e instanceof QuiverError) || !CODED.has(e.code)) {
        t.fail(
          `iteration ${i} (QUIVER_FUZZ_SEED=${SEED}): ${String(e)}\n${docs ? 'docs' : 'manifest'}: ${text.slice(0, 400)}`,
        )
        return
      }
      counts.rejected++
    }
  }
  t.log(
    `${PARSE_ITERS} parses in ${((Date.now() - start) / 1000).toFixed(1)} s: ${counts.accepted} accepted, ${counts.rejected} rejected with a code`,
  )
  t.true(counts.rejected > 0 && counts.accepted > 0)
})
