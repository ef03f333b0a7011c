/**
 * Gathers the plain async searches made on one index during one turn of the event loop and
 * sends them to the engine in a few lists, one per core, instead of one native call each.
 *
 * Why: every native call that runs on a worker thread must wake that thread, and on virtual
 * machines a wake costs the JS thread more than a small search costs the worker (about 20 µs
 * against a few hundred). A service answering thousands of searches a second spent a third of
 * its event loop there. A service receives its requests in bursts (every socket that became
 * readable in one poll), so the searches those requests start are sent together, at the end of
 * the turn (`setImmediate`), as lists the engine answers one query after another on one worker
 * each. A search made alone is still one native call of its own, sent at the end of its turn.
 *
 * Every search keeps its own result and its own error: one bad query fails alone.
 *
 * @internal
 * @packageDocumentation
 */

import * as os from 'node:os'
import { toQuiverError } from './errors'
import type { NativeManyResult, NativeSearchResult } from '../native/index'

/** The two native calls the gatherer makes. @internal */
export interface ManySearcher {
  search(query: Float32Array, k: number, ef: number, cancel: null): Promise<NativeSearchResult>
  searchMany(queries: Float32Array, k: number, ef: number): Promise<NativeManyResult>
}

/** One search's hits. @internal */
export interface Hits {
  keys: Uint32Array
  distances: Float32Array
}

interface Waiting {
  query: Float32Array
  resolve(hits: Hits): void
  reject(err: unknown): void
}

/** Worker threads a turn's searches are spread over: one list per core. */
const LISTS = Math.max(1, typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length)

/** Runs `f` once the current turn's I/O callbacks are done (`setImmediate` where it exists). */
const atEndOfTurn: (f: () => void) => void =
  typeof setImmediate === 'function' ? (f) => setImmediate(f) : (f) => setTimeout(f, 0)

/** @internal */
export class SearchGatherer {
  /** The searches waiting for the end of this turn, by `k` and `ef`. */
  private waiting = new Map<string, { k: number; ef: number; list: Waiting[] }>()

  constructor(
    private readonly native: ManySearcher,
    private readonly dim: number,
  ) {}

  /** Searches `query` with the searches made in the same turn. `query` is copied now. */
  search(query: Float32Array, k: number, ef: number): Promise<Hits> {
    return new Promise((resolve, reject) => {
      if (this.waiting.size === 0) atEndOfTurn(() => this.flush())
      const id = `${k} ${ef}`
      let group = this.waiting.get(id)
      if (group === undefined) {
        group = { k, ef, list: [] }
        this.waiting.set(id, group)
      }
      // A copy: the caller may reuse, transfer or detach its buffer once this returns.
      group.list.push({ query: query.slice(), resolve, reject })
    })
  }

  private flush(): void {
    const groups = this.waiting
    this.waiting = new Map()
    for (const { k, ef, list } of groups.values()) {
      const per = Math.ceil(list.length / Math.min(list.length, LISTS))
      for (let at = 0; at < list.length; at += per) void this.send(list.slice(at, at + per), k, ef)
    }
  }

  private async send(list: Waiting[], k: number, ef: number): Promise<void> {
    if (list.length === 1) {
      const [one] = list as [Waiting]
      try {
        one.resolve(await this.native.search(one.query, k, ef, null))
      } catch (err) {
        one.reject(toQuiverError(err))
      }
      return
    }
    const queries = new Float32Array(list.length * this.dim)
    list.forEach((w, i) => queries.set(w.query, i * this.dim))
    let r: NativeManyResult
    try {
      r = await this.native.searchMany(queries, k, ef)
    } catch (err) {
      const e = toQuiverError(err)
      for (const w of list) w.reject(e)
      return
    }
    const failed = new Map(r.failed.map((f) => [f.index, f]))
    let at = 0
    list.forEach((w, i) => {
      const f = failed.get(i)
      if (f !== undefined) {
        w.reject(toQuiverError({ code: f.code, message: f.message }))
        return
      }
      const n = r.counts[i] ?? 0
      // Copies, so that no result shares (or can detach) another's buffer.
      w.resolve({ keys: r.keys.slice(at, at + n), distances: r.distances.slice(at, at + n) })
      at += n
    })
  }
}
