// What the service benchmark's scripts share: the usearch index configuration (the same graph
// parameters as the other engines) and the versions a summary records.
import { packageVersion } from '../lib/peers.mjs';

/** usearch `Index` options for `dim`-dimensional cosine vectors, M 16, efConstruction 200. */
export function usearchOptions(dim, ef = 64) {
  return {
    dimensions: dim,
    metric: 'cos',
    quantization: 'f32',
    connectivity: 16,
    expansion_add: 200,
    expansion_search: ef,
    multi: false,
  };
}

/** Versions of quiver-search and its peers, plus `extra` packages. */
export function versions(extra = []) {
  return Object.fromEntries(['quiver-search', 'hnswlib-node', 'usearch', ...extra].map((p) => [p, packageVersion(p)]));
}
