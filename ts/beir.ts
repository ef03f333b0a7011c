/**
 * Loader for retrieval data sets in the BEIR layout (`corpus.jsonl`,
 * `queries.jsonl`, `qrels/<split>.tsv`), e.g. to measure nDCG@10 with
 * {@link evaluate}.
 *
 * @packageDocumentation
 */

import * as fs from 'node:fs'
import * as path from 'node:path'
import * as readline from 'node:readline'
import { QuiverError } from './errors'
import { checkFields, invalid } from './validate'

/** One document of a BEIR corpus. */
export interface BeirDocument {
  /** The document id (`_id`). */
  id: string
  /** The title; `''` when the line has none. */
  title: string
  /** The body text; `''` when the line has none. */
  text: string
}

/** One query of a BEIR data set. */
export interface BeirQuery {
  /** The query id (`_id`). */
  id: string
  /** The query text. */
  text: string
}

/** A BEIR data set as returned by {@link loadBeir}. */
export interface BeirDataset {
  /** Every document of `corpus.jsonl`, in file order. */
  corpus: BeirDocument[]
  /** The queries of `queries.jsonl` that appear in the split's qrels, in `queries.jsonl` order. */
  queries: BeirQuery[]
  /** Relevance judgements of the split: query id → (document id → grade), in file order. */
  qrels: Map<string, Map<string, number>>
}

/** Options of {@link loadBeir}. */
export interface LoadBeirOptions {
  /** Which `qrels/<split>.tsv` to read: a file name without path separators. Default `'test'`. */
  split?: string
}

function ioError(file: string, err: unknown): QuiverError {
  const code = (err as { code?: unknown } | null)?.code
  const reason = code === 'ENOENT' ? 'file not found' : err instanceof Error ? err.message : String(err)
  return new QuiverError('ERR_IO', `cannot read ${file}: ${reason}`, { cause: err })
}

function corrupt(file: string, line: number, message: string, cause?: unknown): QuiverError {
  return new QuiverError('ERR_CORRUPT_FILE', `${file}:${line}: ${message}`, cause === undefined ? undefined : { cause })
}

/**
 * Calls `onLine(text, lineNumber)` for every non-blank line of `file` (1-based line numbers;
 * a UTF-8 byte-order mark and `\r\n` line ends are handled).
 */
async function forEachLine(file: string, onLine: (line: string, lineNo: number) => void): Promise<void> {
  let handle: fs.promises.FileHandle
  try {
    handle = await fs.promises.open(file, 'r')
  } catch (err) {
    throw ioError(file, err)
  }
  const stream = handle.createReadStream({ encoding: 'utf8' })
  const rl = readline.createInterface({ input: stream, crlfDelay: Infinity })
  let lineNo = 0
  try {
    for await (const raw of rl) {
      lineNo++
      const line = lineNo === 1 && raw.charCodeAt(0) === 0xfeff ? raw.slice(1) : raw
      if (line.trim() === '') continue
      onLine(line, lineNo)
    }
  } catch (err) {
    if (err instanceof QuiverError) throw err
    throw ioError(file, err)
  } finally {
    rl.close()
    stream.destroy()
    await handle.close().catch(() => undefined)
  }
}

/** Parses one JSONL line into an object with a string (or numeric) `_id`. */
function parseRecord(file: string, line: string, lineNo: number): { id: string; record: Record<string, unknown> } {
  let value: unknown
  try {
    value = JSON.parse(line)
  } catch (err) {
    throw corrupt(file, lineNo, `invalid JSON (${err instanceof Error ? err.message : String(err)})`, err)
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw corrupt(file, lineNo, 'expected a JSON object')
  }
  const record = value as Record<string, unknown>
  const id = record._id
  if (typeof id === 'string' && id !== '') return { id, record }
  if (typeof id === 'number' && Number.isFinite(id)) return { id: String(id), record }
  throw corrupt(file, lineNo, 'missing or invalid "_id" (expected a non-empty string)')
}

function optString(file: string, lineNo: number, record: Record<string, unknown>, field: string): string {
  const v = record[field]
  if (v === undefined || v === null) return ''
  if (typeof v !== 'string') throw corrupt(file, lineNo, `"${field}" must be a string`)
  return v
}

async function readQrels(file: string, firstLines: Map<string, number>): Promise<Map<string, Map<string, number>>> {
  const qrels = new Map<string, Map<string, number>>()
  let first = true
  await forEachLine(file, (line, lineNo) => {
    const fields = line.split('\t')
    // The first line is a header when it has three fields and the third is not a number.
    const isHeader = first && fields.length === 3 && (fields[2].trim() === '' || !Number.isFinite(Number(fields[2])))
    first = false
    if (isHeader) return
    if (fields.length !== 3) {
      throw corrupt(file, lineNo, `expected 3 tab-separated fields (query-id, corpus-id, score), got ${fields.length}`)
    }
    const qid = fields[0].trim()
    const did = fields[1].trim()
    const scoreText = fields[2].trim()
    const grade = Number(scoreText)
    if (qid === '' || did === '') throw corrupt(file, lineNo, 'empty query-id or corpus-id')
    if (scoreText === '' || !Number.isFinite(grade)) {
      throw corrupt(file, lineNo, `score ${JSON.stringify(fields[2])} is not a number`)
    }
    let docs = qrels.get(qid)
    if (docs === undefined) {
      docs = new Map<string, number>()
      qrels.set(qid, docs)
      firstLines.set(qid, lineNo)
    }
    docs.set(did, grade)
  })
  return qrels
}

/**
 * Loads a retrieval data set in the BEIR layout from `dir`:
 *
 * - `corpus.jsonl`: one `{"_id", "title", "text", ...}` object per line;
 * - `queries.jsonl`: one `{"_id", "text", ...}` object per line;
 * - `qrels/<split>.tsv`: an optional header line `query-id\tcorpus-id\tscore` (a first line whose
 *   third field is not a number is taken as the header), then one `query-id\tcorpus-id\tscore`
 *   line per judgement; the score may be any finite number (grades ≤ 0 mean non-relevant).
 *
 * Files are read line by line (streamed). Blank lines are skipped; a UTF-8 BOM and `\r\n` line
 * ends are accepted. Extra JSON fields (e.g. `metadata`) are ignored; a missing `title` or `text`
 * reads as `''`; a numeric `_id` is converted to a string. In the qrels, a repeated
 * (query, document) pair keeps the last grade (as BEIR's loader does); document ids of the
 * qrels are not checked against the corpus.
 *
 * Only the queries that appear in the split's qrels are returned (in `queries.jsonl` order),
 * including queries whose judgements are all 0.
 *
 * @param dir - the data set directory.
 * @param options - `split`: which qrels file to read (default `'test'`).
 * @returns the corpus, the split's queries and its qrels.
 * @throws {@link QuiverError} (the promise rejects) `ERR_INVALID_ARGUMENT` when `dir` is not a
 *   non-empty string or `split` is not a non-empty name without path separators; `ERR_IO` when a file
 *   is missing or unreadable (the message names the file); `ERR_CORRUPT_FILE` when a line is not valid
 *   JSON or lacks `_id`, `title`/`text` is not a string, an `_id` occurs twice in `corpus.jsonl` or in
 *   `queries.jsonl`, a qrels line does not have three tab-separated fields with a numeric score, or a
 *   query of the qrels is missing from `queries.jsonl` (the message names the file and line).
 *
 * @example
 * ```ts
 * const { corpus, queries, qrels } = await loadBeir('data/scifact', { split: 'test' })
 * ```
 */
export async function loadBeir(dir: string, options?: LoadBeirOptions): Promise<BeirDataset> {
  if (typeof dir !== 'string' || dir === '') {
    throw invalid(`dir must be a non-empty string, got ${dir === '' ? 'an empty string' : typeof dir}`)
  }
  if (options !== undefined && (options === null || typeof options !== 'object')) {
    throw invalid(`options must be an object { split }, got ${options === null ? 'null' : typeof options}`)
  }
  if (options !== undefined) checkFields(options as unknown as Record<string, unknown>, 'loadBeir options', ['split'])
  const split: unknown = options?.split ?? 'test'
  if (typeof split !== 'string' || split === '' || /[/\\]/.test(split) || split === '.' || split === '..') {
    throw invalid(`options.split must be a non-empty name without path separators, got ${JSON.stringify(split)}`)
  }

  const qrelsFile = path.join(dir, 'qrels', `${split}.tsv`)
  const queriesFile = path.join(dir, 'queries.jsonl')
  const corpusFile = path.join(dir, 'corpus.jsonl')
  // Fail fast on a missing file before reading any large one.
  for (const file of [qrelsFile, queriesFile, corpusFile]) {
    try {
      await fs.promises.access(file, fs.constants.R_OK)
    } catch (err) {
      throw ioError(file, err)
    }
  }

  const qrelsLines = new Map<string, number>()
  const qrels = await readQrels(qrelsFile, qrelsLines)

  const queries: BeirQuery[] = []
  const queryIds = new Set<string>()
  await forEachLine(queriesFile, (line, lineNo) => {
    const { id, record } = parseRecord(queriesFile, line, lineNo)
    if (queryIds.has(id)) throw corrupt(queriesFile, lineNo, `duplicate _id ${JSON.stringify(id)}`)
    queryIds.add(id)
    const text = optString(queriesFile, lineNo, record, 'text')
    if (qrels.has(id)) queries.push({ id, text })
  })
  for (const qid of qrels.keys()) {
    if (!queryIds.has(qid)) {
      throw corrupt(qrelsFile, qrelsLines.get(qid) ?? 0, `query ${JSON.stringify(qid)} is not in ${queriesFile}`)
    }
  }

  const corpus: BeirDocument[] = []
  const docIds = new Set<string>()
  await forEachLine(corpusFile, (line, lineNo) => {
    const { id, record } = parseRecord(corpusFile, line, lineNo)
    if (docIds.has(id)) throw corrupt(corpusFile, lineNo, `duplicate _id ${JSON.stringify(id)}`)
    docIds.add(id)
    corpus.push({
      id,
      title: optString(corpusFile, lineNo, record, 'title'),
      text: optString(corpusFile, lineNo, record, 'text'),
    })
  })

  return { corpus, queries, qrels }
}
