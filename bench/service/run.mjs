// `npm run bench:service`: a fastify service (bench/service/server.mjs) over 100k × 384 cosine
// vectors, loaded by autocannon from this process, with four engines behind the same routes:
// quiver-search with async `search`, quiver-search with `searchSync`, quiver-search with sq8
// codes and async `search` (the configuration for an ingesting service: its graph is built
// over the codes), hnswlib-node and usearch. Phases:
//   read    searches only
//   mixed   searches while a writer upserts 100 vectors every 100 ms and saves every 10 s
//   heavy   searches while a writer upserts 1,000 vectors every 100 ms and saves every 10 s
//   cluster searches only, two cluster workers sharing one file (quiver maps it, usearch
//           views it, hnswlib-node loads a copy per worker)
// at 1/16/64/256 connections. A probe requests GET /health every 50 ms. Every phase starts a
// fresh server on the same prebuilt file, so phases do not see each other's writes.
//
//   npm run bench:service                       # full run (~30 min on 2 cores), summary → bench/summaries/service.json
//   npm run bench:service -- --quick            # 5k vectors, 2 s per point: a smoke test
//   options: --n --dim --seconds --conns 1,16,64,256 --engines … --phases read,mixed,heavy,cluster --ef 64
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import autocannon from 'autocannon';
import { CACHE_DIR, generateSynthetic } from '../lib/datasets.mjs';
import { percentile, median } from '../lib/measure.mjs';
import { loadQuiver } from '../lib/peers.mjs';
import { usearchOptions, versions } from './common.mjs';
import { commandLine, machine, round, writeSummary } from '../lib/summary-json.mjs';
import { makeRow } from '../lib/tables.mjs';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const HERE = path.dirname(new URL(import.meta.url).pathname);

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : dflt;
};
const QUICK = args.includes('--quick');
const N = Number(opt('n', QUICK ? 5000 : 100_000));
const DIM = Number(opt('dim', 384));
const SECONDS = Number(opt('seconds', QUICK ? 2 : 8));
const CONNS = opt('conns', QUICK ? '16' : '1,16,64,256')
  .split(',')
  .map(Number);
const ENGINES = opt('engines', 'quiver-async,quiver-sync,quiver-sq8,hnswlib,usearch').split(',');
const PHASES = opt('phases', 'read,mixed,heavy,cluster').split(',');
const CLUSTER_CONNS = Number(opt('cluster-conns', 64));
const EF = Number(opt('ef', 64));
const NQ = 200;
const WRITE_EVERY_MS = 100;
const SAVE_EVERY_MS = 10_000;
const BATCH = { mixed: 100, heavy: 1000 };

const dir = path.join(CACHE_DIR, 'service', `${N}x${DIM}`);
fs.mkdirSync(dir, { recursive: true });
const log = (...a) => console.error('[service]', ...a);

// ------------------------------------------------------------------------------------ data
const { base, queries } = generateSynthetic({
  n: N,
  nq: NQ + 20_000,
  dim: DIM,
  clusters: 100,
  noise: 0.9,
  decay: 0.5,
  seed: 7,
});
const searchQueries = queries.subarray(0, NQ * DIM);
// Fresh vectors for the writers (same distribution, not in the base set).
const writeVectors = queries.subarray(NQ * DIM);
const keys = Uint32Array.from({ length: N }, (_, i) => i);
const FILES = {
  'quiver-async': path.join(dir, 'quiver.qvi'),
  'quiver-sync': path.join(dir, 'quiver.qvi'),
  'quiver-sq8': path.join(dir, 'quiver-sq8.qvi'),
  hnswlib: path.join(dir, 'hnswlib.bin'),
  usearch: path.join(dir, 'usearch.usearch'),
};
const CAPACITY = N + 2_000_000; // hnswlib-node: room for every key a writer can add

async function buildIndexes() {
  const quiver = await loadQuiver();
  if (!quiver) throw new Error('run `npm run build` first');
  const builds = {};
  if (!fs.existsSync(FILES['quiver-async'])) {
    const t = performance.now();
    const index = new quiver.VectorIndex({ dim: DIM, metric: 'cosine', m: 16, efConstruction: 200, threads: 2 });
    await index.add(keys, base);
    await index.save(FILES['quiver-async']);
    builds.quiver = (performance.now() - t) / 1000;
    log(`built quiver-search in ${builds.quiver.toFixed(1)} s`);
  }
  if (ENGINES.includes('quiver-sq8') && !fs.existsSync(FILES['quiver-sq8'])) {
    const t = performance.now();
    const index = new quiver.VectorIndex({
      dim: DIM,
      metric: 'cosine',
      m: 16,
      efConstruction: 200,
      threads: 2,
      quantization: { type: 'sq8' },
    });
    await index.add(keys, base);
    await index.save(FILES['quiver-sq8']);
    builds.quiverSq8 = (performance.now() - t) / 1000;
    log(`built quiver-search sq8 in ${builds.quiverSq8.toFixed(1)} s`);
  }
  if (ENGINES.includes('hnswlib') && !fs.existsSync(FILES.hnswlib)) {
    const { HierarchicalNSW } = require('hnswlib-node');
    const t = performance.now();
    const index = new HierarchicalNSW('cosine', DIM);
    index.initIndex(N, 16, 200, 42);
    const row = new Array(DIM).fill(0);
    for (let i = 0; i < N; i++) {
      for (let j = 0; j < DIM; j++) row[j] = base[i * DIM + j];
      index.addPoint(row, i);
    }
    index.writeIndexSync(FILES.hnswlib);
    log(`built hnswlib-node in ${((performance.now() - t) / 1000).toFixed(1)} s`);
  }
  if (ENGINES.includes('usearch') && !fs.existsSync(FILES.usearch)) {
    const { Index } = require('usearch');
    const t = performance.now();
    const index = new Index(usearchOptions(DIM, EF));
    index.add(BigUint64Array.from(keys, BigInt), base, 2);
    index.save(FILES.usearch);
    log(`built usearch in ${((performance.now() - t) / 1000).toFixed(1)} s`);
  }
}

// ------------------------------------------------------------------------------ the server
/** A port nothing listens on now: the system's pick for a listener that closes at once. */
function freePort() {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
}

async function startServer(engine, workers) {
  // One server picks its own port; cluster workers share one, chosen here.
  const port = workers > 1 ? await freePort() : 0;
  const child = spawn(process.execPath, [path.join(HERE, 'server.mjs')], {
    env: {
      ...process.env,
      ENGINE: engine,
      INDEX_FILE: FILES[engine],
      DIM: String(DIM),
      EF: String(EF),
      WORKERS: String(workers),
      CAPACITY: String(CAPACITY),
      SAVE_FILE: path.join(dir, `saved-${engine}-${process.pid}`),
      PORT: String(port),
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
      const m = /ready (\d+)/.exec(out);
      if (m) resolve({ child, url: `http://127.0.0.1:${m[1]}` });
    });
    child.on('exit', (code) => reject(new Error(`${engine} server exited with ${code}`)));
  });
}

async function stopServer(s) {
  const exited = new Promise((r) => s.child.once('exit', r));
  s.child.kill('SIGTERM');
  await exited;
}

const json = (url, method, body) => send(url, method, body ? JSON.stringify(body) : undefined);
const send = (url, method, text) =>
  fetch(url, {
    method,
    headers: text ? { 'content-type': 'application/json' } : {},
    body: text,
  }).then((r) => r.json());

// The writer's vectors as JSON text, serialised once before any phase: producing a request
// body is the client's work, and on this machine it would compete with autocannon's own loop
// (a 1,000-vector body is 3.8 MB of JSON).
const writeRowJson = Array.from({ length: writeVectors.length / DIM }, (_, r) =>
  JSON.stringify(Array.from(writeVectors.subarray(r * DIM, (r + 1) * DIM))),
);

// ------------------------------------------------------------------------------ one point
let writeCursor = 0;
/** The next upsert body of `batch` vectors: half replace stored keys, half add new ones. */
function writeBody(batch) {
  const ks = [];
  const vs = [];
  for (let i = 0; i < batch; i++) {
    const row = writeCursor++ % writeRowJson.length;
    ks.push(i % 2 === 0 ? (row * 7919) % N : N + writeCursor);
    vs.push(writeRowJson[row]);
  }
  return `{"keys":[${ks.join(',')}],"vectors":[${vs.join(',')}]}`;
}
async function measure(engine, phase, conns) {
  const workers = phase === 'cluster' ? 2 : 1;
  const server = await startServer(engine, workers);
  const { url } = server;
  const requests = Array.from({ length: 64 }, (_, i) => ({
    method: 'POST',
    path: '/search',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ vector: Array.from(searchQueries.subarray((i % NQ) * DIM, ((i % NQ) + 1) * DIM)) }),
  }));
  // The probe warms its client first, so that its start-up is not counted as the server's.
  const probe = spawn(process.execPath, [path.join(HERE, 'probe.mjs'), url], { stdio: ['pipe', 'pipe', 'pipe'] });
  let probeOut = '';
  probe.stdout.on('data', (d) => (probeOut += d));
  const probeReady = new Promise((resolve) => {
    probe.stderr.on('data', (d) => {
      const text = String(d).replace('ready\n', '');
      if (text !== String(d)) resolve();
      if (text) process.stderr.write(text);
    });
  });
  const prober = new Promise((r) => probe.on('exit', r));
  // Warm-up of every route the phase uses (one write when the phase writes), then reset the
  // server's event-loop histogram: a fresh server stands for one that has been running.
  await autocannon({ url, connections: Math.min(conns, 16), duration: 1, requests });
  if (BATCH[phase]) await send(`${url}/items`, 'PUT', writeBody(BATCH[phase]));
  await probeReady;
  await json(`${url}/stats/reset`, 'POST');
  probe.stdin.write('start\n');

  const phaseState = { running: true };
  const upserts = [];
  let saves = 0;
  const writer = (async () => {
    if (!BATCH[phase]) return;
    const batch = BATCH[phase];
    // The first save comes halfway through the phase, then one every 10 s.
    let nextSave = performance.now() + Math.min(SAVE_EVERY_MS, (SECONDS * 1000) / 2);
    while (phaseState.running) {
      const t = performance.now();
      await send(`${url}/items`, 'PUT', writeBody(batch));
      upserts.push(performance.now() - t);
      if (performance.now() >= nextSave) {
        await json(`${url}/admin/save`, 'POST');
        saves++;
        nextSave = performance.now() + SAVE_EVERY_MS;
      }
      const wait = WRITE_EVERY_MS - (performance.now() - t);
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    }
  })();
  const r = await autocannon({ url, connections: conns, duration: SECONDS, requests });
  phaseState.running = false;
  probe.stdin.end();
  await Promise.all([prober, writer]);
  const health = JSON.parse(probeOut || '[]');
  const failedProbes = health.filter((h) => h === null).length;
  const stats = await json(`${url}/stats`, 'GET');
  await stopServer(server);
  const point = {
    engine,
    phase,
    connections: conns,
    reqPerSec: r.requests.average,
    p50: r.latency.p50,
    p99: r.latency.p99,
    errors: r.errors + r.non2xx + failedProbes,
    healthMax: health.length ? Math.max(...health.filter((h) => h !== null)) : null,
    serverCores: workers === 1 ? stats.cpuMs / (SECONDS * 1000) : null,
    eventLoopMax: workers === 1 ? stats.eventLoopMaxMs : null,
    upsertP50: upserts.length ? median(upserts) : null,
    upsertP99: upserts.length ? percentile(upserts, 99) : null,
    upserts: upserts.length,
    saves,
  };
  log(JSON.stringify(point));
  return point;
}

// ------------------------------------------------------------------------------ recall
async function recallOf(engine) {
  const quiver = await loadQuiver();
  const flat = new quiver.VectorIndex({ dim: DIM, metric: 'cosine', index: 'flat' });
  await flat.add(keys, base);
  const truth = await flat.searchBatch(searchQueries, { k: 10 });
  const server = await startServer(engine, 1);
  let hit = 0;
  for (let i = 0; i < NQ; i++) {
    const got = await json(`${server.url}/search`, 'POST', {
      vector: Array.from(searchQueries.subarray(i * DIM, (i + 1) * DIM)),
    });
    const want = new Set(truth.keys.subarray(i * 10, i * 10 + 10));
    hit += got.keys.filter((k) => want.has(k)).length;
  }
  await stopServer(server);
  flat.close();
  return hit / (NQ * 10);
}

// ------------------------------------------------------------------------- write cost
/**
 * CPU time per upserted vector of a quiver engine's index, in this process with nothing else
 * running: after 20 upserts to warm up, 100 upserts of the mixed writer's 100 vectors (half
 * replacing stored keys). Every thread's time counts (`process.cpuUsage`), so this is what a
 * write takes from the searches.
 */
async function writeCpuOf(engine) {
  const { VectorIndex } = await import('../../dist/index.mjs');
  const index = await VectorIndex.load(FILES[engine]);
  const rows = writeVectors.length / DIM;
  const ks = new Uint32Array(100);
  const vs = new Float32Array(100 * DIM);
  const WARM = 20;
  const MEASURED = 100;
  let c0;
  for (let u = 0; u < WARM + MEASURED; u++) {
    if (u === WARM) c0 = process.cpuUsage();
    for (let i = 0; i < 100; i++) {
      const row = (rows - 1 - (u * 100 + i)) % rows;
      ks[i] = i % 2 === 0 ? (row * 7919) % N : 2 * N + u * 100 + i;
      vs.set(writeVectors.subarray(row * DIM, (row + 1) * DIM), i * DIM);
    }
    await index.upsert(ks, vs);
  }
  const used = process.cpuUsage(c0);
  index.close();
  return (used.user + used.system) / 1000 / (MEASURED * 100);
}

// ------------------------------------------------------------------------------ main
await buildIndexes();
const writeCpu = {};
for (const e of ENGINES.filter((name) => name === 'quiver-async' || name === 'quiver-sq8')) {
  writeCpu[e] = await writeCpuOf(e);
  log(`${e}: ${writeCpu[e].toFixed(3)} ms of CPU per upserted vector`);
}
const recall = {};
for (const e of ENGINES) {
  recall[e] = await recallOf(e);
  log(`${e}: recall@10 ${recall[e].toFixed(4)} at ef ${EF}`);
}
const points = [];
for (const phase of PHASES) {
  for (const engine of ENGINES) {
    if (phase === 'cluster' && engine === 'quiver-sync') continue;
    for (const conns of phase === 'cluster' ? [CLUSTER_CONNS] : CONNS) points.push(await measure(engine, phase, conns));
  }
}
for (const f of fs.readdirSync(dir)) if (f.startsWith('saved-')) fs.rmSync(path.join(dir, f), { force: true });

const rows = points.map((p) =>
  makeRow('service.load', {
    phase: p.phase,
    engine: p.engine,
    connections: p.connections,
    reqPerSec: round(p.reqPerSec, 0),
    p50: round(p.p50, 1),
    p99: round(p.p99, 1),
    healthMax: round(p.healthMax, 1),
    eventLoopMax: round(p.eventLoopMax, 1),
    serverCores: round(p.serverCores, 2),
    upsertP50: round(p.upsertP50, 1),
    upsertP99: round(p.upsertP99, 1),
    errors: p.errors,
  }),
);
const find = (phase, engine, conns) =>
  points.find((p) => p.phase === phase && p.engine === engine && p.connections === conns);
const targets = [];
const at64 = (phase, e) => find(phase, e, 64)?.reqPerSec;
if (at64('read', 'quiver-async') && at64('mixed', 'quiver-async')) {
  const ro = find('read', 'quiver-async', 64);
  const mx = find('mixed', 'quiver-async', 64);
  const peers = ['hnswlib', 'usearch'].map((e) => at64('read', e)).filter(Boolean);
  const usearchUpsert = find('mixed', 'usearch', 64)?.upsertP50;
  // The health check while the 100-vector writer runs, up to 64 connections: at 256 the
  // machine is saturated and the check queues behind the searches even without writes.
  const healthMax = Math.max(
    ...points
      .filter((p) => p.engine === 'quiver-async' && p.phase === 'mixed' && p.connections <= 64)
      .filter((p) => p.healthMax != null)
      .map((p) => p.healthMax),
  );
  targets.push(
    {
      measure: 'mixed / read-only req/s at 64 connections (async)',
      target: '≥ 0.80',
      value: round(mx.reqPerSec / ro.reqPerSec, 2),
      pass: mx.reqPerSec / ro.reqPerSec >= 0.8,
    },
    {
      measure: 'mixed / read-only p99 at 64 connections (async)',
      target: '≤ 2.0',
      value: round(mx.p99 / ro.p99, 2),
      pass: mx.p99 / ro.p99 <= 2,
    },
    {
      measure: '100-vector upsert p50, ms (async; usearch in the same run)',
      target: usearchUpsert ? `≤ ${round(usearchUpsert, 1)}` : '—',
      value: round(mx.upsertP50, 1),
      pass: usearchUpsert ? mx.upsertP50 <= usearchUpsert : null,
    },
    {
      measure: 'health check, longest, ms (async, mixed phase, 1 to 64 connections)',
      target: '≤ 50',
      value: round(healthMax, 1),
      pass: healthMax <= 50,
    },
    {
      measure: 'read-only req/s at 64 connections / best peer (async)',
      target: '≥ 1.5',
      value: peers.length ? round(ro.reqPerSec / Math.max(...peers), 2) : null,
      pass: peers.length ? ro.reqPerSec / Math.max(...peers) >= 1.5 : null,
    },
  );
}
if (at64('read', 'quiver-sq8') && at64('mixed', 'quiver-sq8')) {
  const ratio = at64('mixed', 'quiver-sq8') / at64('read', 'quiver-sq8');
  targets.push({
    measure: 'mixed / read-only req/s at 64 connections (sq8, async)',
    target: '≥ 0.80',
    value: round(ratio, 2),
    pass: ratio >= 0.8,
  });
}
const summary = {
  command: commandLine(),
  date: new Date().toISOString(),
  machine: machine(),
  versions: versions(['fastify', 'autocannon']),
  dataset: { n: N, dim: DIM, metric: 'cosine', ef: EF, seconds: SECONDS },
  recall: Object.fromEntries(Object.entries(recall).map(([e, r]) => [e, round(r, 4)])),
  writeCpuMsPerVector: Object.fromEntries(Object.entries(writeCpu).map(([e, ms]) => [e, round(ms, 3)])),
  load: rows,
  targets: targets.map((t) => makeRow('service.targets', t)),
};
writeSummary('service', { service: summary }, { quick: QUICK });
