// SciFact MiniLM token embeddings as bench/prepare/embed_scifact.py writes them
// ($QUIVER_BENCH_CACHE/scifact-minilm): f16 token rows with u32 offsets per part
// ('corpus', 'titles', 'queries'), pooled f32 vectors and id lists.
import fs from 'node:fs';
import path from 'node:path';
import { CACHE_DIR } from './datasets.mjs';

export const TOKEN_DIM = 384;
export const TOKEN_DIR = path.join(process.env.QUIVER_BENCH_CACHE ?? CACHE_DIR, 'scifact-minilm');

const F16 = (() => {
  const t = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const s = h & 0x8000 ? -1 : 1;
    const e = (h >> 10) & 0x1f;
    const m = h & 0x3ff;
    t[h] = e === 0 ? s * m * 2 ** -24 : e === 31 ? (m ? NaN : s * Infinity) : s * (1 + m / 1024) * 2 ** (e - 15);
  }
  return t;
})();

function bytes(file) {
  const p = path.join(TOKEN_DIR, file);
  if (!fs.existsSync(p))
    throw new Error(`${p} is missing: run bench/prepare/embed_scifact.py (see bench/prepare/README.md)`);
  return fs.readFileSync(p);
}

/** An f16 file as f32 values. */
export function readF16(file) {
  const b = bytes(file);
  const u = new Uint16Array(b.buffer, b.byteOffset, b.byteLength / 2);
  const out = new Float32Array(u.length);
  for (let i = 0; i < u.length; i++) out[i] = F16[u[i]];
  return out;
}

/** A little-endian u32 file. */
export function readU32(file) {
  const b = bytes(file);
  return new Uint32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
}

/** A little-endian f32 file. */
export function readF32(file) {
  const b = bytes(file);
  return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
}

/** A JSON file of the cache. */
export function readJson(file) {
  return JSON.parse(bytes(file).toString('utf8'));
}

/** The token sets of one part: `{ data, offsets, ids }` (set i = rows offsets[i]..offsets[i+1]). */
export function readTokens(part) {
  return {
    data: readF16(`${part}_tokens.f16`),
    offsets: readU32(`${part}_tokens_offsets.u32`),
    ids: readJson(`${part}_ids.json`),
  };
}

/** The first `n` token sets of `{ data, offsets }` (views, no copy). */
export function firstSets({ data, offsets }, n) {
  return { data: data.subarray(0, offsets[n] * TOKEN_DIM), offsets: offsets.subarray(0, n + 1) };
}
