// `npm run bench:writes`: what adding 100 vectors costs as an index grows (20k, 100k, 300k
// rows), for quiver-search's flat and HNSW indexes and for hnswlib-node's and usearch's HNSW,
// in one run. Each index grows to a size, then takes five 100-vector adds of new keys; the
// table shows the median. quiver-search adds are `await index.add(...)` (async); the peers'
// adds are their synchronous calls (hnswlib-node: addPoint per vector, usearch: add of the
// batch with 2 threads).
//
//   npm run bench:writes                                  # summary → bench/summaries/writes.json
//   npm run bench:writes -- --sizes 2000,10000 --quick    # smoke test
import { createRequire } from 'node:module';
import { generateSynthetic } from '../lib/datasets.mjs';
import { median } from '../lib/measure.mjs';
import { loadQuiver } from '../lib/peers.mjs';
import { usearchOptions, versions } from './common.mjs';
import { commandLine, machine, round, writeSummary } from '../lib/summary-json.mjs';
import { makeRow } from '../lib/tables.mjs';

const require = createRequire(import.meta.url);
const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : dflt;
};
const QUICK = args.includes('--quick');
const SIZES = opt('sizes', '20000,100000,300000').split(',').map(Number);
const DIM = Number(opt('dim', 128));
const BATCH = 100;
const REPEATS = 5;
const MAX = SIZES.at(-1) + REPEATS * BATCH * SIZES.length;
const log = (...a) => console.error('[writes]', ...a);

const { base } = generateSynthetic({ n: MAX, nq: 1, dim: DIM, clusters: 100, noise: 0.9, decay: 0.5, seed: 11 });
const quiver = await loadQuiver();
if (!quiver) throw new Error('run `npm run build` first');

/** A quiver-search index with `options` as an engine (see `engines`). */
function quiverEngine(options) {
  const index = new quiver.VectorIndex({ dim: DIM, metric: 'cosine', ...options });
  const add = (from, to) =>
    index.add(
      Uint32Array.from({ length: to - from }, (_, i) => from + i),
      base.subarray(from * DIM, to * DIM),
    );
  return { grow: add, add: (from) => add(from, from + BATCH) };
}

/** Engines: grow(from, to) adds rows [from, to) as one bulk call; add(from) adds 100 rows. */
const engines = {
  'quiver-search flat': () => quiverEngine({ index: 'flat' }),
  'quiver-search HNSW': () => quiverEngine({ m: 16, efConstruction: 200, threads: 2 }),
  'hnswlib-node HNSW': () => {
    const { HierarchicalNSW } = require('hnswlib-node');
    const index = new HierarchicalNSW('cosine', DIM);
    index.initIndex(MAX, 16, 200, 42);
    const row = new Array(DIM).fill(0);
    const add = (from, to) => {
      for (let i = from; i < to; i++) {
        for (let j = 0; j < DIM; j++) row[j] = base[i * DIM + j];
        index.addPoint(row, i);
      }
    };
    return { grow: add, add: (from) => add(from, from + BATCH) };
  },
  'usearch HNSW': () => {
    const { Index } = require('usearch');
    const index = new Index(usearchOptions(DIM));
    const add = (from, to) =>
      index.add(
        BigUint64Array.from({ length: to - from }, (_, i) => BigInt(from + i)),
        base.subarray(from * DIM, to * DIM),
        2,
      );
    return { grow: add, add: (from) => add(from, from + BATCH) };
  },
};

const rows = [];
for (const [name, make] of Object.entries(engines)) {
  const e = make();
  let size = 0;
  const row = { engine: name };
  for (const target of SIZES) {
    await e.grow(size, target);
    size = target;
    const times = [];
    for (let r = 0; r < REPEATS; r++) {
      const t = performance.now();
      await e.add(size);
      times.push(performance.now() - t);
      size += BATCH;
    }
    row[`at${target}`] = median(times);
    log(`${name}: 100 vectors into ${target.toLocaleString('en-US')} rows: ${median(times).toFixed(2)} ms`);
  }
  rows.push(row);
}
const first = SIZES[0];
const last = SIZES.at(-1);
const table = rows.map((r) =>
  makeRow('writes.sizes', {
    engine: r.engine,
    small: round(r[`at${first}`], 2),
    middle: SIZES.length > 2 ? round(r[`at${SIZES[1]}`], 2) : null,
    large: round(r[`at${last}`], 2),
    growth: round(r[`at${last}`] / r[`at${first}`], 2),
  }),
);
const at = (engine, size) => rows.find((r) => r.engine === engine)?.[`at${size}`];
const targets = [
  {
    measure: `flat: 100-vector add at ${last.toLocaleString('en-US')} / at ${first.toLocaleString('en-US')} rows`,
    target: '≤ 2.0',
    value: round(at('quiver-search flat', last) / at('quiver-search flat', first), 2),
    pass: at('quiver-search flat', last) / at('quiver-search flat', first) <= 2,
  },
  ...SIZES.map((s) => ({
    measure: `HNSW: 100-vector add at ${s.toLocaleString('en-US')} rows / hnswlib-node addPoint`,
    target: '≤ 2.0',
    value: round(at('quiver-search HNSW', s) / at('hnswlib-node HNSW', s), 2),
    pass: at('quiver-search HNSW', s) / at('hnswlib-node HNSW', s) <= 2,
  })),
];
writeSummary(
  'writes',
  {
    writes: {
      command: commandLine(),
      date: new Date().toISOString(),
      machine: machine(),
      versions: versions(),
      dataset: { dim: DIM, metric: 'cosine', sizes: SIZES.join(', '), batch: BATCH, repeats: REPEATS },
      sizes: table,
      targets: targets.map((t) => makeRow('writes.targets', t)),
    },
  },
  { quick: QUICK },
);
