// Loaders for the files written by bench/prepare/embed_scifact.py (and faiss_pq.py), for Node benches.
//
//   import { loadScifactMiniLM } from './prepare/scifact-minilm.mjs'
//   const e = loadScifactMiniLM()                 // $QUIVER_BENCH_CACHE/scifact-minilm
//   e.corpus.vectors  Float32Array(5183*384), e.corpus.ids  [docId...]
//   e.queries / e.sentences (ids = [[docId, sentenceIdx], ...])
//   e.tokens('corpus', { dropSpecial: true }) -> { vectors: Float32Array, offsets: Uint32Array, ids: Uint16Array }
import { readFileSync, existsSync } from 'node:fs';
import { join, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const DIM = 384;

export function cacheDir() {
  return process.env.QUIVER_BENCH_CACHE ?? join(REPO, 'bench', '.cache');
}

function buf(p) {
  const b = readFileSync(p);
  return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength);
}
export const readF32 = (p) => new Float32Array(buf(p));
export const readU32 = (p) => new Uint32Array(buf(p));
export const readI32 = (p) => new Int32Array(buf(p));
export const readU16 = (p) => new Uint16Array(buf(p));

/** IEEE half -> float32 (little-endian file). */
export function readF16(p) {
  const h = readU16(p);
  const out = new Float32Array(h.length);
  for (let i = 0; i < h.length; i++) {
    const x = h[i];
    const s = x & 0x8000 ? -1 : 1;
    const e = (x >> 10) & 0x1f;
    const f = x & 0x3ff;
    out[i] = e === 0 ? s * f * 2 ** -24 : e === 31 ? (f ? NaN : s * Infinity) : s * (1 + f / 1024) * 2 ** (e - 15);
  }
  return out;
}

export function loadScifactMiniLM(dir = join(cacheDir(), 'scifact-minilm')) {
  if (!existsSync(join(dir, 'manifest.json')))
    throw new Error(`${dir}/manifest.json missing: run bench/prepare/embed_scifact.py`);
  const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'));
  const part = (name) =>
    existsSync(join(dir, `${name}.f32`))
      ? {
          vectors: readF32(join(dir, `${name}.f32`)),
          ids: JSON.parse(readFileSync(join(dir, `${name}_ids.json`), 'utf8')),
        }
      : null;
  return {
    manifest,
    corpus: part('corpus'),
    queries: part('queries'),
    sentences: part('sentences'),
    /** Per-token vectors; dropSpecial removes each sequence's [CLS] (first) and [SEP] (last) row. */
    tokens(name, { dropSpecial = false } = {}) {
      const vectors = readF16(join(dir, `${name}_tokens.f16`));
      const offsets = readU32(join(dir, `${name}_tokens_offsets.u32`));
      const ids = readU16(join(dir, `${name}_tokens_ids.u16`));
      if (!dropSpecial) return { vectors, offsets, ids };
      const n = offsets.length - 1;
      const total = offsets[n] - 2 * n;
      const v2 = new Float32Array(total * DIM);
      const id2 = new Uint16Array(total);
      const off2 = new Uint32Array(n + 1);
      let w = 0;
      for (let i = 0; i < n; i++) {
        const a = offsets[i] + 1;
        const b = offsets[i + 1] - 1;
        v2.set(vectors.subarray(a * DIM, b * DIM), w * DIM);
        id2.set(ids.subarray(a, b), w);
        w += b - a;
        off2[i + 1] = w;
      }
      return { vectors: v2, offsets: off2, ids: id2 };
    },
  };
}
