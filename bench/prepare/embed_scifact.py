"""Embed BEIR SciFact with all-MiniLM-L6-v2 (pure numpy forward pass, see minilm.py).

Outputs go to $QUIVER_BENCH_CACHE/scifact-minilm/ (default cache: <repo>/bench/.cache), all
little-endian, described by manifest.json:

  corpus.f32                 5,183 x 384 float32, mean-pooled + L2-normalised; text = (title + " " + text).strip()
  corpus_ids.json            [doc id, ...] row order (= corpus.jsonl order)
  queries.f32                1,109 x 384 float32 (all queries, queries.jsonl order)
  queries_ids.json           [query id, ...]
  titles.f32 / titles_tokens.* / titles_ids.json   the corpus again, each document its title
                             only (a short-document corpus; --parts titles)
  sentences.f32              45,952 x 384 float32, one row per abstract sentence
  sentences_ids.json         [[doc id, sentence index], ...]
  corpus_tokens.f16          (sum of token counts) x 384 float16: last hidden state of every
                             non-padding token INCLUDING [CLS] (first) and [SEP] (last), each row
                             L2-normalised (in float32, then cast)
  corpus_tokens_offsets.u32  n+1 offsets (in tokens); doc i = rows offsets[i]..offsets[i+1]
  corpus_tokens_ids.u16      WordPiece id of each token row (101 = [CLS], 102 = [SEP])
  queries_tokens.f16 / queries_tokens_offsets.u32 / queries_tokens_ids.u16   same for queries

Sequences are truncated to 256 word pieces INCLUDING [CLS] and [SEP] (sentence-transformers'
max_seq_length for this model), i.e. at most 254 content word pieces.

Usage: python bench/prepare/embed_scifact.py [--parts corpus,queries,sentences] [--limit N]
       [--data /work/shared/data/beir-scifact] [--out DIR]
With --limit N only the first N items of each part are embedded, into scifact-minilm-limitN/
(for timing).
"""
from __future__ import annotations
import os

# One BLAS thread by default: multi-threaded OpenBLAS on small per-head GEMMs is far slower on a
# contended 2-core box. Must be set before numpy is imported.
os.environ.setdefault("OPENBLAS_NUM_THREADS", os.environ.get("QUIVER_BENCH_THREADS", "1"))
os.environ.setdefault("OMP_NUM_THREADS", os.environ.get("QUIVER_BENCH_THREADS", "1"))

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from minilm import MiniLM, PACKAGE, package_version  # noqa: E402
from common import log, read_jsonl, sha256  # noqa: E402

REPO = HERE.parent.parent
DIM = 384


def _impl() -> str:
    import minilm

    erf = "scipy.special.erf (exact)" if minilm._erf_exact is not None else "A&S 7.1.26 approximation"
    return ("bench/prepare/minilm.py: numpy float32 BERT forward (post-LN, GELU with " + erf +
            ", LayerNorm eps 1e-12, token_type_ids=0), HF tokenizers with the shipped tokenizer.json "
            "(lowercase BertNormalizer, WordPiece)")


IMPLEMENTATION = _impl()


def write_atomic(path: Path, data: bytes):
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def embed_part(m: MiniLM, name: str, texts: list[str], out: Path, want_tokens: bool, batch_tokens: int):
    t0 = time.time()
    ids = m.tokenize(texts)
    lens = np.array([len(x) for x in ids], dtype=np.int64)
    t_tok = time.time() - t0
    n = len(texts)
    pooled = np.zeros((n, DIM), dtype=np.float32)
    info = {
        "count": n,
        "tokens_total": int(lens.sum()),
        "tokens_mean": float(lens.mean()),
        "tokens_max": int(lens.max()),
        "truncated": int((lens >= m.max_seq_length).sum()),
        "tokenize_s": round(t_tok, 2),
    }
    tok_mm = None
    if want_tokens:
        offsets = np.zeros(n + 1, dtype=np.uint32)
        offsets[1:] = np.cumsum(lens)
        assert int(offsets[-1]) == int(lens.sum())
        tok_path = out / f"{name}_tokens.f16.tmp"
        tok_mm = np.memmap(tok_path, dtype="<f2", mode="w+", shape=(int(offsets[-1]), DIM))
        tok_ids = np.zeros(int(offsets[-1]), dtype="<u2")
        for i, x in enumerate(ids):
            tok_ids[offsets[i]: offsets[i + 1]] = x
    done = [0]
    last = [time.time()]
    tok_done = [0]

    def progress(j):
        if time.time() - last[0] > 30 or j == n:
            el = time.time() - t0
            log(f"{name}: {j}/{n} seqs, {el:.0f}s elapsed")
            last[0] = time.time()

    for t, v, tok in m.encode_ids(ids, batch_tokens=batch_tokens, want_tokens=want_tokens, progress=progress):
        pooled[t] = v
        if want_tokens:
            tok_mm[offsets[t]: offsets[t + 1]] = tok.astype(np.float16)
    wall = time.time() - t0
    write_atomic(out / f"{name}.f32", pooled.astype("<f4").tobytes())
    files = {f"{name}.f32": {"shape": [n, DIM], "dtype": "float32"}}
    if want_tokens:
        tok_mm.flush()
        del tok_mm
        os.replace(out / f"{name}_tokens.f16.tmp", out / f"{name}_tokens.f16")
        write_atomic(out / f"{name}_tokens_offsets.u32", offsets.astype("<u4").tobytes())
        write_atomic(out / f"{name}_tokens_ids.u16", tok_ids.tobytes())
        T = int(offsets[-1])
        files[f"{name}_tokens.f16"] = {"shape": [T, DIM], "dtype": "float16"}
        files[f"{name}_tokens_offsets.u32"] = {"shape": [n + 1], "dtype": "uint32"}
        files[f"{name}_tokens_ids.u16"] = {"shape": [T], "dtype": "uint16"}
    info["wall_s"] = round(wall, 1)
    info["seqs_per_s"] = round(n / wall, 1)
    info["tokens_per_s"] = round(float(lens.sum()) / wall, 1)
    log(f"{name}: done in {wall:.1f}s ({info['tokens_per_s']} tok/s)")
    return files, info


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=os.environ.get("QUIVER_SCIFACT_DIR", "/work/shared/data/beir-scifact"))
    ap.add_argument("--cache", default=os.environ.get("QUIVER_BENCH_CACHE", str(REPO / "bench" / ".cache")))
    ap.add_argument("--out", default="")
    ap.add_argument("--parts", default="queries,corpus,sentences")
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--batch-tokens", type=int, default=8192)
    ap.add_argument("--max-seq", type=int, default=256)
    a = ap.parse_args()

    data = Path(a.data)
    out = Path(a.out) if a.out else Path(a.cache) / ("scifact-minilm" + (f"-limit{a.limit}" if a.limit else ""))
    out.mkdir(parents=True, exist_ok=True)
    parts = [p for p in a.parts.split(",") if p]
    lim = (lambda xs: xs[: a.limit]) if a.limit else (lambda xs: xs)

    m = MiniLM(max_seq_length=a.max_seq)
    mpath = m.path
    man_path = out / "manifest.json"
    manifest = json.loads(man_path.read_text()) if man_path.exists() else {}
    manifest.update({
        "model": "sentence-transformers/all-MiniLM-L6-v2",
        "package": {"name": PACKAGE, "version": package_version(),
                    "model.safetensors_sha256": sha256(mpath / "model.safetensors"),
                    "tokenizer.json_sha256": sha256(mpath / "tokenizer.json")},
        "implementation": IMPLEMENTATION,
        "numpy": np.__version__,
        "python": platform.python_version(),
        "dim": DIM,
        "endianness": "little",
        "max_seq_length": a.max_seq,
        "truncation": f"{a.max_seq} word pieces INCLUDING [CLS] and [SEP] (at most {a.max_seq - 2} content pieces); longest-first, right side",
        "pooling": "mean over attention mask (all non-padding tokens incl. [CLS]/[SEP], as sentence-transformers), then L2-normalise",
        "token_vectors": "last hidden state of every non-padding token, INCLUDING [CLS] (first row of each "
                         "sequence) and [SEP] (last row); each row L2-normalised in float32 then stored as "
                         "float16. To drop specials use rows offsets[i]+1 .. offsets[i+1]-1 (or filter by "
                         "*_tokens_ids.u16 != 101/102).",
        "texts": {
            "corpus": '(title + " " + text).strip()  (BEIR SentenceBERT convention, sep = one space)',
            "queries": "query text as is",
            "sentences": "each abstract sentence from sentences.jsonl as is",
        },
        "limit": a.limit or None,
    })
    manifest.setdefault("inputs", {})
    manifest.setdefault("files", {})
    manifest.setdefault("parts", {})

    for part in parts:
        if part == "corpus":
            src = data / "corpus.jsonl"
            rows = lim(read_jsonl(src))
            texts = [(r.get("title", "") + " " + r.get("text", "")).strip() for r in rows]
            ids_json = [r["_id"] for r in rows]
            want_tokens = True
        elif part == "queries":
            src = data / "queries.jsonl"
            rows = lim(read_jsonl(src))
            texts = [r["text"] for r in rows]
            ids_json = [r["_id"] for r in rows]
            want_tokens = True
        elif part == "titles":
            # A short-document corpus from the same collection: each document is its title only.
            src = data / "corpus.jsonl"
            rows = lim(read_jsonl(src))
            texts = [r.get("title", "").strip() or r.get("text", "")[:200] for r in rows]
            ids_json = [r["_id"] for r in rows]
            want_tokens = True
        elif part == "sentences":
            src = data / "sentences.jsonl"
            rows = read_jsonl(src)
            ids_json, texts = [], []
            for r in rows:
                for k, s in enumerate(r["sentences"]):
                    ids_json.append([r["_id"], k])
                    texts.append(s)
            ids_json, texts = lim(ids_json), lim(texts)
            want_tokens = False
        else:
            raise SystemExit(f"unknown part {part}")
        log(f"{part}: {len(texts)} texts from {src}")
        manifest["inputs"][src.name] = {"path": str(src), "sha256": sha256(src)}
        files, info = embed_part(m, part, texts, out, want_tokens, a.batch_tokens)
        write_atomic(out / f"{part}_ids.json", json.dumps(ids_json).encode())
        files[f"{part}_ids.json"] = {"shape": [len(ids_json)], "dtype": "json"}
        manifest["files"].update(files)
        info["finished_at"] = time.strftime("%Y-%m-%dT%H:%M:%S")
        manifest["parts"][part] = info
        write_atomic(man_path, (json.dumps(manifest, indent=2) + "\n").encode())
    manifest["complete"] = all(p in manifest["parts"] for p in ("corpus", "queries", "sentences"))
    write_atomic(man_path, (json.dumps(manifest, indent=2) + "\n").encode())
    log(f"done -> {out}")


if __name__ == "__main__":
    main()
