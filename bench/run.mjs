#!/usr/bin/env node
// Benchmark entry point:
//   node bench/run.mjs [--dataset fashion-mnist|synthetic|all] [--quick]
//                      [--libs ours,hnswlib,usearch] [--queries N] [--efs 10,32,64]
//
// Every library's part runs in its own child process (bench/worker.mjs), one after
// another (never concurrently: the machine has 2 cores). Writes
//   bench/results/<dataset>-<timestamp>.json, bench/results/latest-<dataset>.json,
//   bench/recall-qps-<dataset>.svg                                   (full mode)
//   bench/results/<dataset>-quick-<timestamp>.json, latest-<dataset>-quick.json,
//   bench/results/recall-qps-<dataset>-quick.svg                     (--quick)
// and prints the markdown tables.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fork } from 'node:child_process';
import { parseArgs } from 'node:util';
import { BENCH_DIR, REPO_ROOT, prepareDataset } from './lib/datasets.mjs';
import { loadQuiver, packageVersion, LABELS } from './lib/peers.mjs';
import { computeDerived, datasetMarkdown, metaMarkdown, extrasItems } from './lib/summary.mjs';
import { writeSummary, annDataset } from './lib/summary-json.mjs';
import { svgForResult } from './lib/svg.mjs';
import { nowMs, backgroundCpuBusy, machineBusySeconds } from './lib/measure.mjs';

const { values: args } = parseArgs({
  options: {
    dataset: { type: 'string', default: 'all' },
    quick: { type: 'boolean', default: false },
    libs: { type: 'string', default: 'ours,hnswlib,usearch' },
    queries: { type: 'string' },
    efs: { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (args.help) {
  console.log(
    'usage: node bench/run.mjs [--dataset fashion-mnist|synthetic|all] [--quick] [--libs ours,hnswlib,usearch] [--queries N] [--efs 10,32,64]',
  );
  process.exit(0);
}

const QUICK = args.quick;
const DATASETS = args.dataset === 'all' ? ['fashion-mnist', 'synthetic'] : args.dataset.split(',');
const LIBS = args.libs
  .split(',')
  .map((s) => s.trim())
  .filter(Boolean);

/** Full and quick mode are the same code path with different sizes. */
const SETTINGS = QUICK
  ? {
      efs: [10, 16, 32, 64, 128, 256],
      minSeconds: 0.05,
      warmupQueries: 50,
      stream: { total: 2000, inflight: 32 },
      asyncOverhead: { queries: 200, rounds: 2 },
      taskTimeoutS: 300,
    }
  : {
      efs: [10, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512],
      minSeconds: 1.0,
      warmupQueries: 500,
      stream: { total: 2000, inflight: 32 },
      asyncOverhead: { queries: 1000, rounds: 3 },
      taskTimeoutS: 3600,
    };
if (args.efs)
  SETTINGS.efs = args.efs
    .split(',')
    .map(Number)
    .sort((a, b) => a - b);

const RESULTS_DIR = path.join(BENCH_DIR, 'results');
const WORKER = path.join(BENCH_DIR, 'worker.mjs');

function machineInfo() {
  const cpus = os.cpus();
  return {
    cpuModel: cpus[0]?.model?.trim() ?? 'unknown',
    cpus: cpus.length,
    totalMemBytes: os.totalmem(),
    platform: process.platform,
    arch: process.arch,
    kernel: os.release(),
    node: process.version,
    hostname: os.hostname(),
  };
}

function runWorker(task, timeoutS) {
  return new Promise((resolve) => {
    const child = fork(WORKER, [], {
      execArgv: ['--expose-gc'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      serialization: 'advanced',
    });
    let settled = false;
    let reply = null;
    const done = (v) => {
      if (!settled) {
        settled = true;
        clearTimeout(timer);
        resolve(v);
      }
    };
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      done({ error: `timed out after ${timeoutS} s` });
    }, timeoutS * 1000);
    child.on('message', (m) => {
      reply = m.ok ? m.result : { error: m.error };
    });
    // resolve only once the child is gone, so it cannot overlap the next one
    child.on('exit', (code, sig) =>
      done(reply ?? { error: `worker exited (code ${code}, signal ${sig}) without a result` }),
    );
    child.on('error', (e) => done({ error: String(e) }));
    child.send(task);
  });
}

async function benchDataset(name, meta) {
  const t0 = nowMs();
  console.error(`\n== ${name}${QUICK ? ' (quick)' : ''} ==`);
  const spec = await prepareDataset(name, { quick: QUICK, nQuery: args.queries ? Number(args.queries) : undefined });
  const tmpDir = fs.mkdtempSync(path.join(os.tmpdir(), 'quiver-bench-'));
  const base = { spec, k: 10, tmpDir, ...SETTINGS };
  // Order: peers first, then ours; each entry is one fresh child process.
  const plan = [];
  if (LIBS.includes('hnswlib')) plan.push(['hnswlib', { lib: 'hnswlib', mode: 'full', threads: 1 }]);
  if (LIBS.includes('usearch')) {
    plan.push(['usearch_build_t1', { lib: 'usearch', mode: 'build-only', threads: 1 }]);
    plan.push(['usearch', { lib: 'usearch', mode: 'full', threads: 2 }]);
  }
  if (LIBS.includes('ours')) {
    if (meta.oursAvailable) {
      plan.push(['ours_build_t1', { lib: 'ours', mode: 'build-only', threads: 1 }]);
      plan.push(['ours', { lib: 'ours', mode: 'full', threads: 2 }]);
    }
  }
  const libs = {};
  if (LIBS.includes('ours') && !meta.oursAvailable) {
    libs.ours = { error: 'quiver-search not built (dist/index.mjs missing or failed to load) — run `npm run build`' };
    console.error(`  [ours] skipped: ${libs.ours.error}`);
  }
  for (const [key, t] of plan) {
    // nothing of ours runs now: any CPU use is someone else competing for the cores
    const busy = await backgroundCpuBusy(QUICK ? 300 : 1000);
    if (busy != null && busy > 0.1)
      console.error(
        `  WARNING: machine ${(busy * 100).toFixed(0)}% busy before ${key} — results will be noisy; run on an idle machine`,
      );
    const busy0 = machineBusySeconds();
    const w0 = nowMs();
    const r = await runWorker({ ...base, ...t }, SETTINGS.taskTimeoutS);
    if (r.error) console.error(`  [${key}] FAILED: ${r.error}`);
    r.backgroundCpuBusyBefore = busy;
    // CPU used by anything other than the child while it ran, as a share of the machine
    const busy1 = machineBusySeconds();
    if (busy0 != null && busy1 != null && r.cpuSeconds != null) {
      const wallS = (nowMs() - w0) / 1000;
      r.otherCpuBusyDuring = Math.max(0, (busy1 - busy0 - r.cpuSeconds) / (wallS * os.cpus().length));
      if (r.otherCpuBusyDuring > 0.1)
        console.error(
          `  WARNING: other processes used ${(r.otherCpuBusyDuring * 100).toFixed(0)}% of the machine while ${key} ran — results will be noisy`,
        );
    }
    libs[key] = r;
  }
  fs.rmSync(tmpDir, { recursive: true, force: true });

  const res = {
    schema: 1,
    mode: QUICK ? 'quick' : 'full',
    command: `node bench/run.mjs ${process.argv.slice(2).join(' ')}`.trim(),
    date: new Date().toISOString(),
    machine: meta.machine,
    versions: meta.versions,
    settings: { ...SETTINGS, k: 10, m: 16, efConstruction: 200, seed: 42 },
    dataset: {
      name: spec.name,
      metric: spec.metric,
      dim: spec.dim,
      nBase: spec.nBase,
      nQuery: spec.nQuery,
      k: spec.k,
      gtMethod: spec.gtMethod,
      gtVerification: spec.gtVerification ?? null,
      params: spec.params ?? null,
      scaling: spec.scaling ?? null,
    },
    libs,
    wallSeconds: null,
  };
  res.derived = computeDerived(res);
  res.wallSeconds = (nowMs() - t0) / 1000;

  fs.mkdirSync(RESULTS_DIR, { recursive: true });
  const stamp = res.date.replace(/[:.]/g, '-');
  const suffix = QUICK ? '-quick' : '';
  const json = JSON.stringify(res, null, 2);
  fs.writeFileSync(path.join(RESULTS_DIR, `${name}${suffix}-${stamp}.json`), json);
  fs.writeFileSync(path.join(RESULTS_DIR, `latest-${name}${suffix}.json`), json);

  const svg = svgForResult(res, LABELS);
  const svgPath = QUICK
    ? path.join(RESULTS_DIR, `recall-qps-${name}-quick.svg`)
    : path.join(BENCH_DIR, `recall-qps-${name}.svg`);
  fs.writeFileSync(svgPath, svg);
  console.error(
    `  wrote ${path.relative(REPO_ROOT, path.join(RESULTS_DIR, `latest-${name}${suffix}.json`))}, ${path.relative(REPO_ROOT, svgPath)} (${res.wallSeconds.toFixed(0)} s)`,
  );
  return res;
}

async function main() {
  const quiver = LIBS.includes('ours') ? await loadQuiver() : null;
  const meta = {
    machine: machineInfo(),
    oursAvailable: !!quiver,
    versions: {
      'quiver-search': packageVersion('quiver-search'),
      'hnswlib-node': packageVersion('hnswlib-node'),
      usearch: packageVersion('usearch'),
    },
  };
  const all = [];
  for (const name of DATASETS) all.push(await benchDataset(name, meta));
  const out = [metaMarkdown(all[0]), ''];
  for (const r of all) out.push(datasetMarkdown(r), '');
  console.log('\n' + out.join('\n'));
  // The figures RESULTS.md shows, for `npm run bench:report` (full runs update bench/summaries/ann.json).
  writeSummary('ann', Object.fromEntries(all.map((r) => [r.dataset.name, annDataset(r, extrasItems)])), {
    quick: QUICK,
  });
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
