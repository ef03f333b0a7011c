#!/usr/bin/env node
// Recall regression gate for CI (.github/workflows/bench.yml):
//   node bench/check-regression.mjs [--quick] [--ef 64] [--tolerance 0.01] [--dataset synthetic,fashion-mnist]
//
// Reads bench/results/latest-<dataset>[-quick].json (written by bench/run.mjs) and exits 1 when
// our recall@10 at the given ef is lower than hnswlib-node's by more than the tolerance, or when
// the comparison cannot be made (file missing for a dataset named with --dataset, a library
// errored, the ef is not in the sweep). Speed ratios are printed for information only: timings
// on shared CI runners are too noisy to gate on.
// Without --dataset, every latest-*.json present is checked, and at least one must be present.
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { computeDerived, TARGETS, PEERS } from './lib/summary.mjs';

const RESULTS_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), 'results');
const ALL = ['fashion-mnist', 'synthetic'];

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    ef: { type: 'string', default: '64' },
    tolerance: { type: 'string', default: '0.01' },
    dataset: { type: 'string' },
  },
});
const EF = Number(args.ef);
const TOL = Number(args.tolerance);
const suffix = args.quick ? '-quick' : '';
const explicit = args.dataset
  ? args.dataset
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean)
  : null;

const failures = [];
const fmt = (v, d = 4) => (v == null || Number.isNaN(v) ? 'n/a' : v.toFixed(d));
let checked = 0;

for (const name of explicit ?? ALL) {
  const file = path.join(RESULTS_DIR, `latest-${name}${suffix}.json`);
  if (!fs.existsSync(file)) {
    if (explicit) failures.push(`${name}: ${path.relative(process.cwd(), file)} not found`);
    else console.log(`${name}: no ${path.basename(file)}, skipped`);
    continue;
  }
  const res = JSON.parse(fs.readFileSync(file, 'utf8'));
  checked++;
  console.log(
    `\n== ${name} (${res.mode}, ${res.dataset?.nBase} x ${res.dataset?.dim}, ${res.dataset?.nQuery} queries, ${res.date})`,
  );
  const { ours, hnswlib } = res.libs ?? {};
  for (const [label, lib] of [
    ['ours', ours],
    ['hnswlib', hnswlib],
  ]) {
    if (!lib)
      failures.push(`${name}: no "${label}" result in ${path.basename(file)} (run with --libs including ${label})`);
    else if (lib.error) failures.push(`${name}: "${label}" failed: ${lib.error}`);
  }
  if (!ours || ours.error || !hnswlib || hnswlib.error) continue;

  // --- the gate: recall@10 at equal ef ---
  const o = ours.sweep?.find((p) => p.ef === EF);
  const h = hnswlib.sweep?.find((p) => p.ef === EF);
  if (!o || !h) {
    failures.push(`${name}: ef ${EF} missing from the sweep (ours: ${!!o}, hnswlib: ${!!h})`);
  } else {
    const diff = o.recall - h.recall;
    const pass = diff >= -TOL;
    console.log(
      `recall@10 at ef ${EF}: ours ${fmt(o.recall)}, hnswlib-node ${fmt(h.recall)}, diff ${diff >= 0 ? '+' : ''}${fmt(diff)} (allowed ≥ -${TOL}) → ${pass ? 'PASS' : 'FAIL'}`,
    );
    if (!pass)
      failures.push(
        `${name}: recall@10 at ef ${EF} is ${fmt(o.recall)} vs hnswlib-node ${fmt(h.recall)} (lower by ${fmt(-diff)} > ${TOL})`,
      );
    // --- informational: speed ---
    console.log(
      `single-thread QPS at ef ${EF}: ours ${Math.round(o.qps)}, hnswlib-node ${Math.round(h.qps)} → ${fmt(o.qps / h.qps, 2)}×`,
    );
  }
  const d = computeDerived(res);
  for (const peer of PEERS) {
    if (!d.ratios[peer]) continue;
    const parts = TARGETS.map((t) => `@${t}: ${fmt(d.ratios[peer][t], 2)}×`);
    console.log(`QPS ratio ours / ${peer} at recall ${parts.join(', ')} (informational)`);
  }
  if (d.build.ours_t1 && d.build.hnswlib_t1) {
    console.log(
      `build time, 1 thread: ours ${(d.build.ours_t1 / 1000).toFixed(1)} s, hnswlib-node ${(d.build.hnswlib_t1 / 1000).toFixed(1)} s → ${fmt(d.build.hnswlib_t1 / d.build.ours_t1, 2)}× faster (informational)`,
    );
  }
}

if (checked === 0 && !explicit)
  failures.push(
    `no bench/results/latest-*${suffix}.json found: run node bench/run.mjs${args.quick ? ' --quick' : ''} first`,
  );
if (failures.length) {
  console.error(`\nRECALL REGRESSION CHECK FAILED:\n  - ${failures.join('\n  - ')}`);
  process.exit(1);
}
console.log(`\nrecall regression check passed (${checked} dataset${checked === 1 ? '' : 's'})`);
