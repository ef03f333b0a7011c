// `quiver-search bench`: a recall / single-thread QPS sweep of this package's HNSW index on a
// dataset of the user's. Exact ground truth comes from the package's own flat index.
import { cpus } from 'node:os'
import { VectorIndex, capabilities } from '../../dist/index.mjs'
import { recallQpsSvg } from './svg.mjs'

const now = () => performance.now()

/** recall@k of one HNSW row against the exact row; a hit is a true neighbour or a tie with the k-th one. */
function rowHits(got, gotDist, truthKeys, truthDist, off, k) {
  const truth = new Set(truthKeys.subarray(off, off + k))
  const kth = truthDist[off + k - 1]
  let hits = 0
  for (let j = 0; j < got.length && j < k; j++) if (truth.has(got[j]) || gotDist[j] <= kth) hits++
  return hits
}

/**
 * Runs the sweep.
 * @param {object} data - from readDataset()
 * @param {{ metric: string, k: number, efs: number[], m: number, efConstruction: number,
 *           threads?: number, minSeconds: number, log: (line: string) => void }} opts
 *   `log` receives progress lines (the CLI sends them to stderr).
 * @returns {Promise<object>} the result object (what --json writes)
 */
export async function runBench(data, { metric, k, efs, m, efConstruction, threads, minSeconds, log }) {
  const { dim, base, nBase, queries, nQuery } = data
  const keys = new Uint32Array(nBase)
  for (let i = 0; i < nBase; i++) keys[i] = i
  const opts = { dim, metric, m, efConstruction, seed: 42 }
  if (threads !== undefined) opts.threads = threads

  log(`building HNSW over ${nBase} × ${dim} (${metric}, M ${m}, efConstruction ${efConstruction}) ...`)
  const index = new VectorIndex(opts)
  let t = now()
  await index.add(keys, base)
  const buildMs = now() - t
  const buildThreads = index.config().threads

  log('exact ground truth (index: "flat", searchBatch) ...')
  const flatOpts = { dim, metric, index: 'flat' }
  if (threads !== undefined) flatOpts.threads = threads
  const flat = new VectorIndex(flatOpts)
  t = now()
  await flat.add(keys, base)
  const truth = await flat.searchBatch(queries, { k })
  const groundTruthMs = now() - t
  const flatMemory = flat.memoryUsage().total

  const query = (i) => queries.subarray(i * dim, (i + 1) * dim)
  // one pass over all queries at the default ef touches the whole graph once
  for (let i = 0; i < nQuery; i++) index.searchSync(query(i), { k })

  const sweep = []
  for (const ef of efs) {
    const warm = Math.min(nQuery, 50)
    for (let i = 0; i < warm; i++) index.searchSync(query(i), { k, ef })
    let hits = 0
    let passes = 0
    let ms = 0
    do {
      const p0 = now()
      if (passes === 0) {
        const results = new Array(nQuery)
        for (let i = 0; i < nQuery; i++) results[i] = index.searchSync(query(i), { k, ef })
        ms += now() - p0
        for (let i = 0; i < nQuery; i++)
          hits += rowHits(results[i].keys, results[i].distances, truth.keys, truth.distances, i * k, k)
      } else {
        for (let i = 0; i < nQuery; i++) index.searchSync(query(i), { k, ef })
        ms += now() - p0
      }
      passes++
    } while (ms < minSeconds * 1000)
    const qps = (passes * nQuery * 1000) / ms
    const point = {
      ef,
      effectiveEf: Math.max(ef, k),
      recall: hits / (nQuery * k),
      qps,
      meanLatencyUs: (ms * 1000) / (passes * nQuery),
      passes,
      seconds: ms / 1000,
    }
    sweep.push(point)
    log(`  ef ${String(ef).padStart(4)}: recall@${k} ${point.recall.toFixed(4)}, ${qps.toFixed(0)} QPS`)
  }

  const caps = capabilities()
  const cpu = cpus()
  return {
    tool: 'quiver-search bench',
    date: new Date().toISOString(),
    machine: {
      cpuModel: cpu[0]?.model?.trim() ?? 'unknown',
      cpus: cpu.length,
      platform: process.platform,
      arch: process.arch,
      node: process.versions.node,
    },
    engine: { version: caps.version, isa: caps.isa, availableIsas: caps.availableIsas, forcedIsa: caps.forcedIsa },
    dataset: { name: data.name, path: data.path, format: data.format, dim, nBase, nQuery, metric },
    params: { k, m, efConstruction, seed: 42, threads: buildThreads, minSecondsPerPoint: minSeconds },
    build: { ms: buildMs, threads: buildThreads, vectorsPerSecond: (nBase * 1000) / buildMs },
    memoryUsageBytes: index.memoryUsage().total,
    flatMemoryUsageBytes: flatMemory,
    groundTruth: {
      method: 'index: "flat" (exact scan) searchBatch; a result tied with the k-th exact distance counts as a hit',
      ms: groundTruthMs,
    },
    sweep,
  }
}

const fmtInt = (v) => Math.round(v).toLocaleString('en-US')
const fmtMiB = (b) => `${(b / 2 ** 20).toFixed(1)} MiB`

/** The report printed on stdout: a few facts and the markdown table. */
export function formatBench(res) {
  const d = res.dataset
  const k = res.params.k
  const lines = [
    `dataset: ${d.path} (${d.format}): ${fmtInt(d.nBase)} base × ${d.dim}, ${fmtInt(d.nQuery)} queries, ${d.metric}`,
    `engine: quiver-search ${res.engine.version}, SIMD ${res.engine.isa}, Node ${res.machine.node}, ${res.machine.cpuModel}`,
    `build: ${(res.build.ms / 1000).toFixed(2)} s on ${res.build.threads} thread${res.build.threads === 1 ? '' : 's'} (${fmtInt(res.build.vectorsPerSecond)} vectors/s), M ${res.params.m}, efConstruction ${res.params.efConstruction}`,
    `memoryUsage(): ${fmtMiB(res.memoryUsageBytes)} (${(res.memoryUsageBytes / d.nBase).toFixed(0)} bytes/vector)`,
    `ground truth: exact flat index, ${(res.groundTruth.ms / 1000).toFixed(2)} s`,
    '',
    `| ef | recall@${k} | QPS (1 thread) | mean latency (µs) |`,
    '|---:|---:|---:|---:|',
  ]
  for (const p of res.sweep) {
    const ef = p.effectiveEf !== p.ef ? `${p.ef} (→${p.effectiveEf})` : String(p.ef)
    lines.push(`| ${ef} | ${p.recall.toFixed(4)} | ${fmtInt(p.qps)} | ${p.meanLatencyUs.toFixed(1)} |`)
  }
  return lines.join('\n')
}

/** The recall (x) vs QPS (y, log) plot of a result. */
export function benchSvg(res, packageVersion) {
  const d = res.dataset
  return recallQpsSvg({
    title: `${d.name}: recall@${res.params.k} vs single-thread QPS`,
    subtitle: `${d.nBase.toLocaleString('en-US')} × ${d.dim}, ${d.metric}, ${d.nQuery.toLocaleString('en-US')} queries, M=${res.params.m}, efC=${res.params.efConstruction} — ${res.machine.cpuModel}, ${res.machine.cpus} cores, Node ${res.machine.node}`,
    k: res.params.k,
    series: [{ label: `quiver-search ${packageVersion} (${res.engine.isa})`, points: res.sweep, labelEf: true }],
  })
}
