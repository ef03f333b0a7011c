// JSON form of search results, and the one similarity convention.
import type { Metric } from './vector-index'

/**
 * Search results hold typed arrays (`Uint32Array` keys, `Float32Array` distances or scores),
 * which `JSON.stringify` would write as objects keyed by position. Every result the library
 * returns carries a non-enumerable `toJSON` that writes them as plain number arrays (nested
 * arrays and plain objects included), so a result can be sent from an HTTP handler as it is.
 *
 * @param result - A freshly built result object; it is returned, with `toJSON` defined on it.
 */
export function serializable<T extends object>(result: T): T {
  Object.defineProperty(result, 'toJSON', { value: toJSON, enumerable: false, configurable: true, writable: true })
  return result
}

function plain(v: unknown): unknown {
  if (ArrayBuffer.isView(v) && !(v instanceof DataView)) return Array.from(v as unknown as ArrayLike<number>)
  if (Array.isArray(v)) return v.map(plain)
  if (v !== null && typeof v === 'object' && Object.getPrototypeOf(v) === Object.prototype) {
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plain(x)]))
  }
  return v
}

function toJSON(this: object): Record<string, unknown> {
  return plain({ ...this }) as Record<string, unknown>
}

/**
 * The similarity of a {@link Metric} distance, higher is closer: the cosine similarity for
 * `'cosine'`, the dot product for `'ip'`, minus the squared distance for `'l2'`. The one score
 * convention of the library: `Collection` and `QuiverVectorStore` report it, and a
 * `VectorIndex` search with `similarity: true` adds it as `scores`.
 *
 * @param metric - The index's metric.
 * @param distance - A distance the index returned.
 */
export function similarity(metric: Metric, distance: number): number {
  return metric === 'l2' ? -distance : 1 - distance
}
