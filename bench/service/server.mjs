// The service under load in `npm run bench:service`: a fastify server over one prebuilt
// index file, with one of four engines behind the same routes. Started by bench/service/run.mjs
// as a child process (never imported); prints `ready <port>` once it listens.
//
//   ENGINE=quiver-async|quiver-sync|quiver-sq8|hnswlib|usearch INDEX_FILE=… DIM=384 EF=64 CAPACITY=…
//   WORKERS=1 (cluster workers sharing the port; with >1 quiver maps the file and usearch
//   views it, hnswlib-node loads a copy per worker) SAVE_FILE=… (where /admin/save writes)
//
// Routes: POST /search { vector } → { keys }; PUT /items { keys, vectors } → { upserted };
// POST /admin/save; GET /health; GET /stats (event-loop delay and the process's CPU time since
// the last POST /stats/reset).
import cluster from 'node:cluster';
import { createRequire } from 'node:module';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import Fastify from 'fastify';
import { usearchOptions } from './common.mjs';

const require = createRequire(import.meta.url);
const ENGINE = process.env.ENGINE;
const FILE = process.env.INDEX_FILE;
const DIM = Number(process.env.DIM);
const EF = Number(process.env.EF);
const WORKERS = Number(process.env.WORKERS ?? 1);
const CAPACITY = Number(process.env.CAPACITY ?? 0);
const SAVE_FILE = process.env.SAVE_FILE;
const K = 10;

/** The engine's index behind one interface: search(vector) → keys, upsert, save, size. */
async function openEngine() {
  const shared = WORKERS > 1;
  if (ENGINE.startsWith('quiver-')) {
    const { VectorIndex } = await import('../../dist/index.mjs');
    const index = await VectorIndex.load(FILE, shared ? { mmap: true } : {});
    const opts = { k: K, ef: EF };
    const search =
      ENGINE !== 'quiver-sync'
        ? async (v) => Array.from((await index.search(v, opts)).keys)
        : (v) => Array.from(index.searchSync(v, opts).keys);
    return {
      search,
      // Writes are asynchronous with both engines: only the search call differs.
      upsert: (keys, vectors) => index.upsert(keys, vectors),
      save: () => index.save(SAVE_FILE),
      size: () => index.size,
    };
  }
  if (ENGINE === 'hnswlib') {
    const { HierarchicalNSW } = require('hnswlib-node');
    const index = new HierarchicalNSW('cosine', DIM);
    index.readIndexSync(FILE);
    if (CAPACITY > index.getMaxElements()) index.resizeIndex(CAPACITY);
    index.setEf(EF);
    const row = new Array(DIM).fill(0);
    return {
      search: (v) => index.searchKnn(Array.from(v), K).neighbors,
      upsert: (keys, vectors) => {
        // addPoint of an existing label replaces its vector (hnswlib's update path).
        for (let i = 0; i < keys.length; i++) {
          for (let j = 0; j < DIM; j++) row[j] = vectors[i * DIM + j];
          index.addPoint(row, keys[i]);
        }
        return keys.length;
      },
      save: () => index.writeIndex(SAVE_FILE),
      size: () => index.getCurrentCount(),
    };
  }
  if (ENGINE === 'usearch') {
    const { Index } = require('usearch');
    const index = new Index(usearchOptions(DIM, EF));
    if (shared) index.view(FILE);
    else index.load(FILE);
    return {
      search: (v) => Array.from(index.search(v, K, 1).keys, Number),
      upsert: (keys, vectors) => {
        const big = BigUint64Array.from(keys, BigInt);
        for (const k of big) if (index.contains(k)) index.remove(k);
        index.add(big, vectors, 2);
        return keys.length;
      },
      save: () => index.save(SAVE_FILE),
      size: () => Number(index.size()),
    };
  }
  throw new Error(`unknown ENGINE ${ENGINE}`);
}

async function serve() {
  const engine = await openEngine();
  const loop = monitorEventLoopDelay({ resolution: 1 });
  loop.enable();
  const app = Fastify({ logger: false, bodyLimit: 64 << 20 });
  app.get('/health', async () => ({ status: 'ok', size: engine.size() }));
  app.post('/search', async (req) => ({ keys: await engine.search(Float32Array.from(req.body.vector)) }));
  app.put('/items', async (req) => {
    const { keys, vectors } = req.body;
    const flat = new Float32Array(keys.length * DIM);
    vectors.forEach((v, i) => flat.set(v, i * DIM));
    return { upserted: await engine.upsert(Uint32Array.from(keys), flat) };
  });
  app.post('/admin/save', async () => {
    await engine.save();
    return { saved: engine.size() };
  });
  let cpu = process.cpuUsage();
  app.get('/stats', async () => {
    const used = process.cpuUsage(cpu);
    return {
      eventLoopMaxMs: loop.max / 1e6,
      eventLoopP99Ms: loop.percentile(99) / 1e6,
      // CPU time of the whole process (every thread) since the reset, ms.
      cpuMs: (used.user + used.system) / 1000,
    };
  });
  app.post('/stats/reset', async () => {
    loop.reset();
    cpu = process.cpuUsage();
    return {};
  });
  await app.listen({ port: Number(process.env.PORT ?? 0), host: '127.0.0.1' });
  return app.server.address().port;
}

if (WORKERS > 1 && cluster.isPrimary) {
  let ready = 0;
  for (let i = 0; i < WORKERS; i++) {
    cluster.fork().on('message', (m) => {
      if (m === 'ready' && ++ready === WORKERS) console.log(`ready ${process.env.PORT}`);
    });
  }
} else {
  const port = await serve();
  if (cluster.isWorker) process.send('ready');
  else console.log(`ready ${port}`);
}
