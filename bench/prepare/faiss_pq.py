"""FAISS product-quantisation reference numbers for quiver's PQ (bench-only).

Trains faiss.IndexPQ(d, m, nbits) (METRIC_L2, FAISS default training settings, printed in the
output from the actual ProductQuantizer.cp), encodes the whole base set, and reports as JSON on
stdout:
  train_s, add_s (encode), search_s
  mse            mean over base vectors of ||x - decode(encode(x))||^2  (sum over dims)
  mse_per_dim    mse / d
  rel_mse        mse / mean ||x||^2
  recall_10at10  mean |PQ top-10 ∩ exact top-10| / 10   (ADC search, no re-ranking)
  recall_10at100 mean |PQ top-100 ∩ exact top-10| / 10  (what a top-100 exact rerank could reach)

It also writes, under --out (default $QUIVER_BENCH_CACHE/faiss-pq/<name>-m<m>-b<nbits>/), the
exact inputs/outputs so another PQ can be evaluated on the same thing:
  queries.f32          nq x d float32 LE (the queries used)
  gt_top100.i32        nq x 100 int32 LE, exact L2 neighbours (indices into base), ascending
  pq_top100.i32        nq x 100 int32 LE, FAISS IndexPQ search result (ADC)
  pq_centroids.f32     m x 2^nbits x (d/m) float32 LE, the trained codebooks
  codes.u8             n x m uint8 (nbits=8 only), the base codes
  params.json          everything printed on stdout + file list and input hashes

Presets:
  --preset fashion-mnist      base = shared/data/fashion-mnist train-images (60,000 x 784 u8 -> f32,
                              raw 0..255, no scaling); queries = t10k-images (10,000); exact gt =
                              shared groundtruth/test_top100_l2_neighbors.ivecs.  Default m=98, nbits=8.
  --preset scifact-sentences  base = $QUIVER_BENCH_CACHE/scifact-minilm/sentences.f32 (45,952 x 384,
                              unit norm); queries = the 1,109 SciFact query vectors
                              (scifact-minilm/queries.f32, all splits); exact gt by faiss.IndexFlatL2.
                              Default m=48, nbits=8.
Generic:
  --base FILE.f32 --dim D [--queries FILE.f32] [--gt FILE(.ivecs|.i32)] [--nq N]
  (without --queries, --nq base rows are taken as queries: a held-out split is NOT made; pass
  --holdout N to move the last N base rows out of the base and use them as queries).

Usage: python bench/prepare/faiss_pq.py --preset fashion-mnist [--m 98 --nbits 8] [--threads 1]
"""
import os

os.environ.setdefault("OMP_NUM_THREADS", os.environ.get("QUIVER_BENCH_THREADS", "1"))
os.environ.setdefault("OPENBLAS_NUM_THREADS", os.environ.get("QUIVER_BENCH_THREADS", "1"))

import argparse  # noqa: E402
import gzip  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import struct  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from common import sha256  # noqa: E402

REPO = HERE.parent.parent
SHARED = Path(os.environ.get("QUIVER_SHARED_DATA", "/work/shared/data"))


def idx_images(p: Path) -> np.ndarray:
    b = gzip.open(p).read()
    magic, n, r, c = struct.unpack(">IIII", b[:16])
    assert magic == 2051
    return np.frombuffer(b, np.uint8, offset=16).reshape(n, r * c)


def ivecs(p: Path) -> np.ndarray:
    a = np.fromfile(p, "<i4")
    k = a[0]
    return a.reshape(-1, k + 1)[:, 1:]


def load_f32(p: Path, dim: int) -> np.ndarray:
    a = np.fromfile(p, "<f4")
    assert a.size % dim == 0, f"{p}: {a.size} floats not a multiple of dim {dim}"
    return a.reshape(-1, dim)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", choices=["fashion-mnist", "scifact-sentences"])
    ap.add_argument("--base")
    ap.add_argument("--dim", type=int)
    ap.add_argument("--queries")
    ap.add_argument("--gt")
    ap.add_argument("--nq", type=int, default=1000)
    ap.add_argument("--holdout", type=int, default=0)
    ap.add_argument("--m", type=int)
    ap.add_argument("--nbits", type=int, default=8)
    ap.add_argument("--threads", type=int, default=int(os.environ.get("QUIVER_BENCH_THREADS", "1")))
    ap.add_argument("--cache", default=os.environ.get("QUIVER_BENCH_CACHE", str(REPO / "bench" / ".cache")))
    ap.add_argument("--out")
    ap.add_argument("--name")
    a = ap.parse_args()

    import faiss

    faiss.omp_set_num_threads(a.threads)
    inputs = {}
    gt = None
    gt_source = None
    query_source = None
    if a.preset == "fashion-mnist":
        d = SHARED / "fashion-mnist"
        bp, qp, gp = d / "train-images-idx3-ubyte.gz", d / "t10k-images-idx3-ubyte.gz", d / "groundtruth/test_top100_l2_neighbors.ivecs"
        xb = idx_images(bp).astype(np.float32)
        xq = idx_images(qp).astype(np.float32)
        gt = ivecs(gp)[:, :100].astype(np.int32)
        inputs = {str(bp): sha256(bp), str(qp): sha256(qp), str(gp): sha256(gp)}
        name = a.name or "fashion-mnist"
        m = a.m or 98
        base_desc = "fashion-mnist train-images-idx3-ubyte.gz, 60,000 x 784 uint8 -> float32 (raw 0..255, no scaling)"
        query_source = "fashion-mnist t10k-images-idx3-ubyte.gz, all 10,000, uint8 -> float32"
        gt_source = "shared groundtruth/test_top100_l2_neighbors.ivecs (exact, ties by lower index)"
    elif a.preset == "scifact-sentences":
        d = Path(a.cache) / "scifact-minilm"
        bp, qp = d / "sentences.f32", d / "queries.f32"
        xb, xq = load_f32(bp, 384), load_f32(qp, 384)
        inputs = {str(bp): sha256(bp), str(qp): sha256(qp)}
        name = a.name or "scifact-sentences"
        m = a.m or 48
        base_desc = "scifact-minilm/sentences.f32: 45,952 x 384 all-MiniLM-L6-v2 sentence vectors (unit norm)"
        query_source = "scifact-minilm/queries.f32: all 1,109 SciFact query vectors (not held out from anything; queries are claims, base are abstract sentences)"
    else:
        if not (a.base and a.dim and a.m):
            ap.error("--base, --dim and --m are required without --preset")
        bp = Path(a.base)
        xb = load_f32(bp, a.dim)
        inputs[str(bp)] = sha256(bp)
        name = a.name or bp.stem
        m = a.m
        base_desc = f"{bp} ({xb.shape[0]} x {a.dim} float32)"
        if a.queries:
            qp = Path(a.queries)
            xq = load_f32(qp, a.dim)
            inputs[str(qp)] = sha256(qp)
            query_source = str(qp)
        elif a.holdout:
            xq = xb[-a.holdout:].copy()
            xb = xb[: -a.holdout]
            base_desc += f", last {a.holdout} rows held out as queries"
            query_source = f"last {a.holdout} rows of {bp}"
        else:
            xq = xb[: a.nq].copy()
            query_source = f"first {a.nq} rows of {bp} (also in the base)"
        if a.gt:
            gp = Path(a.gt)
            gt = ivecs(gp) if gp.suffix == ".ivecs" else np.fromfile(gp, "<i4").reshape(len(xq), -1)
            inputs[str(gp)] = sha256(gp)
            gt_source = str(gp)

    xb = np.ascontiguousarray(xb, dtype=np.float32)
    xq = np.ascontiguousarray(xq, dtype=np.float32)
    n, dim = xb.shape
    assert dim % m == 0, f"dim {dim} not divisible by m {m}"
    out = Path(a.out) if a.out else Path(a.cache) / "faiss-pq" / f"{name}-m{m}-b{a.nbits}"
    out.mkdir(parents=True, exist_ok=True)

    if gt is None:
        t0 = time.time()
        flat = faiss.IndexFlatL2(dim)
        flat.add(xb)
        _, gt = flat.search(xq, 100)
        gt = gt.astype(np.int32)
        gt_source = f"faiss.IndexFlatL2 exact top-100 ({time.time() - t0:.1f}s)"

    index = faiss.IndexPQ(dim, m, a.nbits)  # METRIC_L2
    cp = index.pq.cp
    train_settings = {
        "niter": cp.niter, "nredo": cp.nredo, "seed": cp.seed, "spherical": cp.spherical,
        "max_points_per_centroid": cp.max_points_per_centroid,
        "min_points_per_centroid": cp.min_points_per_centroid,
        "max_training_points_per_subquantizer": cp.max_points_per_centroid * (1 << a.nbits),
        "pq.train_type": int(index.pq.train_type), "search_type": int(index.search_type),
        "note": "FAISS defaults, untouched; training samples down to max_points_per_centroid * K per "
                "sub-quantiser when n is larger (seeded); k-means init = random distinct points",
    }
    t0 = time.time()
    index.train(xb)
    train_s = time.time() - t0
    t0 = time.time()
    index.add(xb)
    add_s = time.time() - t0

    codes = faiss.vector_to_array(index.codes).reshape(n, index.pq.code_size)
    rec = index.pq.decode(codes)
    err = ((xb - rec) ** 2).sum(1)
    mse = float(err.mean())
    norm2 = float((xb.astype(np.float64) ** 2).sum(1).mean())

    t0 = time.time()
    _, I = index.search(xq, 100)
    search_s = time.time() - t0
    g10 = gt[:, :10]
    r10 = float(np.mean([len(set(I[i, :10]) & set(g10[i])) / 10 for i in range(len(xq))]))
    r100 = float(np.mean([len(set(I[i, :100]) & set(g10[i])) / 10 for i in range(len(xq))]))

    centroids = faiss.vector_to_array(index.pq.centroids).reshape(m, 1 << a.nbits, dim // m)
    xq.astype("<f4").tofile(out / "queries.f32")
    gt[:, :100].astype("<i4").tofile(out / "gt_top100.i32")
    I.astype("<i4").tofile(out / "pq_top100.i32")
    centroids.astype("<f4").tofile(out / "pq_centroids.f32")
    files = {
        "queries.f32": [len(xq), dim], "gt_top100.i32": [len(xq), 100], "pq_top100.i32": [len(xq), 100],
        "pq_centroids.f32": list(centroids.shape),
    }
    if a.nbits == 8:  # self-check: codes + codebooks alone reproduce faiss's decode
        own = centroids[np.arange(m)[None, :], codes.astype(np.int64)].reshape(n, dim)
        assert np.allclose(own, rec, atol=1e-5), "codebook layout mismatch"
        codes.astype(np.uint8).tofile(out / "codes.u8")
        files["codes.u8"] = [n, m]

    res = {
        "name": name,
        "faiss": faiss.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
        "threads": a.threads,
        "index": f"IndexPQ(d={dim}, M={m}, nbits={a.nbits}), METRIC_L2, ADC search (no rerank)",
        "base": base_desc,
        "n_base": n,
        "dim": dim,
        "queries": query_source,
        "n_queries": int(len(xq)),
        "ground_truth": gt_source,
        "train_settings": train_settings,
        "train_s": round(train_s, 3),
        "add_s": round(add_s, 3),
        "search_s": round(search_s, 3),
        "mse": mse,
        "mse_per_dim": mse / dim,
        "mean_sq_norm": norm2,
        "rel_mse": mse / norm2,
        "recall_10at10": r10,
        "recall_10at100": r100,
        "out_dir": str(out),
        "files": files,
        "inputs_sha256": inputs,
    }
    (out / "params.json").write_text(json.dumps(res, indent=2) + "\n")
    print(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
