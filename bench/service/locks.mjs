// `npm run bench:locks`: how long a search or a sync accessor waits for an index's lock while
// writes run, measured in the engine (crates/engine/examples/lock_wait.rs) so that the figure
// is the lock wait alone, not the JS thread waiting for a core, and the CPU time a written
// vector costs (crates/engine/examples/insert_cost.rs). Builds the examples, runs them, and
// writes bench/summaries/locks.json.
//
//   npm run bench:locks                       # 100k × 384, 15 s of ingest
//   npm run bench:locks -- --n 20000 --quick  # smoke test
import { execFileSync } from 'node:child_process';
import { REPO_ROOT } from '../lib/datasets.mjs';
import { commandLine, machine, writeSummary } from '../lib/summary-json.mjs';
import { makeRow } from '../lib/tables.mjs';
import { versions } from './common.mjs';

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : dflt;
};
const QUICK = args.includes('--quick');
const N = opt('n', QUICK ? '20000' : '100000');
const DIM = opt('dim', '384');
const SECONDS = opt('seconds', QUICK ? '3' : '15');

/** Runs an engine example and returns the JSON object it prints last. */
function example(name, ...params) {
  const out = execFileSync(
    'cargo',
    ['run', '--quiet', '--release', '-p', 'quiver-engine', '--example', name, '--', ...params.map(String)],
    { cwd: REPO_ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const r = JSON.parse(out.trim().split('\n').at(-1));
  console.error(`[locks] ${name}`, JSON.stringify(r));
  return r;
}

/** One run of lock_wait with the index's pool at `threads`. */
const run = (threads) => example('lock_wait', N, DIM, SECONDS, threads);
// With one write thread, the writer and the reader each have a core of this 2-core machine, so
// the reader's waits are lock waits; with two, the reader also waits for a core.
const one = run(1);
const two = run(2);
// What the writes cost the searches beside them: CPU time per written vector (2 threads).
const cost = example('insert_cost', N, DIM, QUICK ? 20 : 200, 2);
const row = (threads, phase, w) =>
  makeRow('locks.waits', {
    phase,
    threads,
    acquisitions: w.acquisitions,
    p50Us: w.p50Us,
    p999Us: w.p999Us,
    maxMs: w.maxMs,
  });
const INGEST = '100-vector upserts every 100 ms, 1,000-key removes every second';
const BULK = 'one 20,000-vector add';
writeSummary(
  'locks',
  {
    locks: {
      command: commandLine(),
      date: new Date().toISOString(),
      machine: machine(),
      versions: { 'quiver-search': versions()['quiver-search'] },
      dataset: {
        n: one.n,
        dim: one.dim,
        seconds: one.seconds,
        upserts: one.upserts,
        upsertP50Ms: one.upsertP50Ms,
        largeAddMs: one.largeAddMs,
      },
      writeCpu: {
        addMsPerVector: cost.add.cpuMsPerVector,
        upsertMsPerVector: cost.upsert.cpuMsPerVector,
        vectors: cost.add.vectors,
      },
      waits: [
        row(1, INGEST, one.ingest),
        row(1, BULK, one.largeAdd),
        row(2, INGEST, two.ingest),
        row(2, BULK, two.largeAdd),
      ],
      targets: [
        makeRow('locks.targets', {
          measure: 'longest wait of a search or accessor for the lock, ms (one write thread)',
          target: '≤ 5',
          value: Math.max(one.ingest.maxMs, one.largeAdd.maxMs),
          pass: Math.max(one.ingest.maxMs, one.largeAdd.maxMs) <= 5,
        }),
      ],
    },
  },
  { quick: QUICK },
);
