/**
 * quiver-search: native vector search for Node.js.
 *
 * @example
 * ```ts
 * import { VectorIndex } from 'quiver-search'
 * const index = new VectorIndex({ dim: 384, metric: 'cosine' })
 * await index.add(keys, vectors)
 * const { keys: nearest, distances } = await index.search(query, { k: 10 })
 * ```
 *
 * @packageDocumentation
 */

import { getNative } from './native'
import { toQuiverError } from './errors'

export { QuiverError, ERROR_CODES } from './errors'
export type { QuiverErrorCode, QuiverErrorExtra } from './errors'
export { VectorIndex, EMPTY_KEY } from './vector-index'
export type {
  Metric,
  IndexType,
  VectorIndexOptions,
  ResolvedVectorIndexOptions,
  Keys,
  Vector,
  Vectors,
  AddOptions,
  SearchOptions,
  SearchResult,
  BatchSearchResult,
  LoadOptions,
  QuantizationType,
  QuantizationOptions,
  ResolvedQuantizationOptions,
  Originals,
  MemoryUsage,
  AddSyncOptions,
  BatchSearchOptions,
  FilterStrategy,
  SearchPlan,
  Include,
} from './vector-index'
export { MAX_FILTER_DEPTH, MAX_PAYLOAD_BYTES } from './filter'
export type {
  AttributeType,
  AttributeSchema,
  AttributeValue,
  Attributes,
  Filter,
  FieldOperators,
  JsonValue,
} from './filter'
export { MAX_K, MAX_EF, MAX_DIM } from './validate'

/** What the native engine found about the machine and itself. */
export interface Capabilities {
  /** SIMD instruction set used by the distance kernels: `'scalar'`, `'avx2'`, `'avx512'` or `'neon'`. */
  isa: string
  /** Every instruction set usable on this CPU, best first; contains `isa`. */
  availableIsas: string[]
  /**
   * The instruction set forced through the `QUIVER_FORCE_ISA` environment variable (`scalar`,
   * `avx2`, `avx512`, `neon`; read once, when the addon first computes a distance), or `null`
   * when the variable is unset or names an ISA this CPU cannot run (then the best one is used).
   */
  forcedIsa: string | null
  /**
   * The variant each kernel family runs, by family: `f32` (distances), `sq8` and `sq8_i8`
   * (scalar-quantized codes), `bits` (binary and RaBitQ codes), `pq` (product quantization),
   * `maxsim` and `maxsim_i8` (multi-vector rerank), `hadamard` (RaBitQ rotation). A family runs
   * the best variant at or below `isa` whose extra CPU features are present, e.g.
   * `{ f32: 'avx512', sq8_i8: 'avx512-vnni', bits: 'avx512-vpopcntdq', hadamard: 'avx2', … }`.
   */
  kernels: Record<string, string>
  /** Logical CPU threads seen by the engine. */
  cpuThreads: number
  /** Version of the native engine. */
  version: string
  /** Operating system the addon was built for, in `process.platform` terms (`'linux'`, `'darwin'`, `'win32'`, ...). */
  platform: string
  /** CPU architecture the addon was built for, in `process.arch` terms (`'x64'`, `'arm64'`, ...). */
  arch: string
}

/** Rust `std::env::consts` names → Node.js names (values already in Node.js terms pass through). */
const PLATFORM_NAMES: Readonly<Record<string, string>> = { macos: 'darwin', windows: 'win32' }
const ARCH_NAMES: Readonly<Record<string, string>> = {
  x86_64: 'x64',
  x86: 'ia32',
  aarch64: 'arm64',
  arm: 'arm',
  powerpc64: 'ppc64',
  s390x: 's390x',
  riscv64: 'riscv64',
  loongarch64: 'loong64',
}

function nodeName(table: Readonly<Record<string, string>>, name: string): string {
  return Object.prototype.hasOwnProperty.call(table, name) ? table[name] : name
}

/**
 * Reports the SIMD instruction set in use and other facts about the native engine.
 * @throws {@link QuiverError} `ERR_INTERNAL` if the native addon cannot be loaded.
 */
export function capabilities(): Capabilities {
  const native = getNative()
  let c
  try {
    c = native.capabilities()
  } catch (err) {
    throw toQuiverError(err)
  }
  return {
    isa: c.isa,
    availableIsas: [...c.availableIsas],
    forcedIsa: c.forcedIsa ?? null,
    kernels: Object.fromEntries(c.kernels.map((k) => [k.family, k.variant])),
    cpuThreads: c.cpuThreads,
    version: c.version,
    platform: nodeName(PLATFORM_NAMES, c.platform),
    arch: nodeName(ARCH_NAMES, c.arch),
  }
}

export { fuse } from './fusion'
export type {
  FusionKeys,
  FusionInputKeys,
  FusionList,
  FusionMethod,
  RrfFusion,
  ConvexFusion,
  ConvexNormalization,
  ScoreBounds,
  DbsfFusion,
  FuseOptions,
  FusionPerList,
  FusionResult,
} from './fusion'
export { evaluate } from './evaluate'
export type { EvalMetric, EvalRun, EvalQrels, EvaluateOptions, EvaluationResult } from './evaluate'
export { loadBeir } from './beir'
export type { BeirDocument, BeirQuery, BeirDataset, LoadBeirOptions } from './beir'
export { FdeEncoder, MultiVectorIndex } from './multi-vector'
export type {
  FdePreset,
  FdeOptions,
  FdeParams,
  TokenStorage,
  MultiVectorIndexOptions,
  MultiVectorDocs,
  MultiSearchOptions,
  MultiSearchResult,
  MultiVectorMemoryUsage,
  MultiVectorLoadOptions,
  MultiAddOptions,
} from './multi-vector'
export { TextIndex } from './text-index'
export type {
  Analyzer,
  TextIndexOptions,
  ResolvedTextIndexOptions,
  TextSearchResult,
  TextSearchOptions,
  TextMemoryUsage,
  TextAddOptions,
} from './text-index'
export { SparseIndex, SparseEncoder } from './sparse-index'
export type {
  SparseVector,
  SparseCsr,
  SparseVectors,
  SparseVectorResult,
  SparseIndexOptions,
  ResolvedSparseIndexOptions,
  SparseSearchResult,
  SparseSearchOptions,
  SparseBatchSearchOptions,
  SparseAddOptions,
  SparseStrategy,
  SparseMemoryUsage,
} from './sparse-index'
export { Collection, DEFAULT_ALPHA } from './collection'
export type {
  DocId,
  CollectionSchema,
  CollectionDoc,
  CollectionHit,
  CollectionQuery,
  HitPart,
  CollectionMemoryUsage,
} from './collection'
