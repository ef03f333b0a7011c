"""End-to-end sanity check of the SciFact embeddings: exact dense retrieval nDCG@10 on the test split
(published all-MiniLM-L6-v2 SciFact nDCG@10 is about 0.645, MTEB), and optionally the exact
multi-vector MaxSim/Chamfer score (sum over query tokens of the max dot product with any doc token)
over the per-token outputs — the quantity MUVERA approximates.

Usage: python bench/prepare/check_scifact_dense.py [--maxsim] [--drop-special]
"""
import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", os.environ.get("QUIVER_BENCH_THREADS", "1"))

import argparse  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent


def ndcg10(ranked: dict, qrels: dict) -> float:
    tot = 0.0
    for q, rel in qrels.items():
        got = ranked.get(q, [])[:10]
        dcg = sum(rel.get(d, 0) / np.log2(i + 2) for i, d in enumerate(got))
        ideal = sorted(rel.values(), reverse=True)[:10]
        idcg = sum(g / np.log2(i + 2) for i, g in enumerate(ideal))
        tot += dcg / idcg if idcg > 0 else 0.0
    return tot / len(qrels)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cache", default=os.environ.get("QUIVER_BENCH_CACHE", str(REPO / "bench" / ".cache")))
    ap.add_argument("--data", default=os.environ.get("QUIVER_SCIFACT_DIR", "/work/shared/data/beir-scifact"))
    ap.add_argument("--maxsim", action="store_true")
    ap.add_argument("--drop-special", action="store_true", help="MaxSim without [CLS]/[SEP] rows")
    a = ap.parse_args()
    d = Path(a.cache) / "scifact-minilm"
    cid = json.loads((d / "corpus_ids.json").read_text())
    qid = json.loads((d / "queries_ids.json").read_text())
    C = np.fromfile(d / "corpus.f32", "<f4").reshape(len(cid), 384)
    Q = np.fromfile(d / "queries.f32", "<f4").reshape(len(qid), 384)
    qrels = {}
    for line in (Path(a.data) / "qrels" / "test.tsv").read_text().splitlines()[1:]:
        q, doc, s = line.split("\t")
        qrels.setdefault(q, {})[doc] = int(s)
    qpos = {q: i for i, q in enumerate(qid)}
    test = [q for q in qid if q in qrels]
    S = Q[[qpos[q] for q in test]] @ C.T
    ranked = {q: [cid[j] for j in np.argsort(-S[i], kind="stable")[:10]] for i, q in enumerate(test)}
    out = {"test_queries": len(test), "dense_ndcg10": round(ndcg10(ranked, qrels), 4)}
    if a.maxsim:
        t0 = time.time()
        ct = np.fromfile(d / "corpus_tokens.f16", "<f2").reshape(-1, 384)
        co = np.fromfile(d / "corpus_tokens_offsets.u32", "<u4").astype(np.int64)
        qt = np.fromfile(d / "queries_tokens.f16", "<f2").reshape(-1, 384).astype(np.float32)
        qo = np.fromfile(d / "queries_tokens_offsets.u32", "<u4").astype(np.int64)
        sp = 1 if a.drop_special else 0
        # doc-token owner, then for each query: max over each doc's tokens of q_tok . d_tok, summed
        owner = np.repeat(np.arange(len(cid)), np.diff(co))
        keep = np.ones(len(owner), bool)
        if sp:
            keep[co[:-1]] = False
            keep[co[1:] - 1] = False
        ct32 = ct[keep].astype(np.float32)
        owner = owner[keep]
        starts = np.r_[0, np.flatnonzero(np.diff(owner)) + 1]
        scores = np.zeros((len(test), len(cid)), np.float32)
        for i, q in enumerate(test):
            j = qpos[q]
            qv = qt[qo[j] + sp: qo[j + 1] - sp]
            sim = qv @ ct32.T  # (nq_tok, n_doc_tok)
            mx = np.maximum.reduceat(sim, starts, axis=1)  # (nq_tok, n_docs)
            scores[i] = mx.sum(0)
        ranked = {q: [cid[j] for j in np.argsort(-scores[i], kind="stable")[:10]] for i, q in enumerate(test)}
        out["maxsim_ndcg10"] = round(ndcg10(ranked, qrels), 4)
        out["maxsim_drop_special"] = bool(sp)
        out["maxsim_s"] = round(time.time() - t0, 1)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
