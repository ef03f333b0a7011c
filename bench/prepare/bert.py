"""Pure-numpy BERT encoder (BertModel forward) shared by the bench-only model wrappers.

Used by minilm.py (all-MiniLM-L6-v2 sentence vectors) and splade.py (SPLADE-tiny sparse vectors):
one implementation of the transformer so a fix or check applies to both.

The forward pass is BertModel exactly as transformers implements it (post-LN, exact erf GELU,
LayerNorm eps from config.json, absolute position embeddings, token_type_ids = 0, attention over
non-padding keys only). Weights are read from a safetensors state dict; both parameter naming
conventions are accepted (LayerNorm `.weight/.bias` and the legacy TF-port `.gamma/.beta`, which
transformers renames on load), with an optional key prefix (e.g. "bert." in a *ForMaskedLM checkpoint).
"""
from __future__ import annotations
import os

# One BLAS thread by default: multi-threaded OpenBLAS on small per-head GEMMs is far slower on a
# contended 2-core box. Must be set before numpy is imported.
os.environ.setdefault("OPENBLAS_NUM_THREADS", os.environ.get("QUIVER_BENCH_THREADS", "1"))
os.environ.setdefault("OMP_NUM_THREADS", os.environ.get("QUIVER_BENCH_THREADS", "1"))

from pathlib import Path
from typing import Iterator

import numpy as np


def _erf(x: np.ndarray) -> np.ndarray:
    # Abramowitz & Stegun 7.1.26, |error| <= 1.5e-7 (below float32 resolution for GELU's purpose).
    s = np.sign(x)
    a = np.abs(x)
    t = 1.0 / (1.0 + np.float32(0.3275911) * a)
    y = t * (np.float32(0.254829592) + t * (np.float32(-0.284496736) + t * (np.float32(1.421413741)
        + t * (np.float32(-1.453152027) + t * np.float32(1.061405429)))))
    return s * (1.0 - y * np.exp(-a * a))


try:  # exact erf when scipy is there (faster, one pass), else the A&S approximation
    from scipy.special import erf as _erf_exact
except ImportError:  # pragma: no cover
    _erf_exact = None


def erf_impl() -> str:
    return "scipy.special.erf (exact)" if _erf_exact is not None else "A&S 7.1.26 approximation"


def gelu(x: np.ndarray) -> np.ndarray:
    """Exact (erf) GELU, in place on x."""
    y = x * np.float32(0.7071067811865476)
    if _erf_exact is not None:
        _erf_exact(y, out=y)
    else:
        y = _erf(y)
    y += np.float32(1.0)
    y *= x
    y *= np.float32(0.5)
    return y


def layer_norm(x: np.ndarray, w: np.ndarray, b: np.ndarray, eps: float) -> np.ndarray:
    mu = x.mean(-1, keepdims=True)
    xc = x - mu
    var = (xc * xc).mean(-1, keepdims=True)
    return xc / np.sqrt(var + np.float32(eps)) * w + b


class Weights:
    """Float32 view of a safetensors state dict with LayerNorm-name and prefix normalisation."""

    def __init__(self, path: Path, prefix: str = ""):
        from safetensors.numpy import load_file

        self.raw = load_file(str(path))
        self.prefix = prefix

    def __contains__(self, k: str) -> bool:
        return self._key(k) is not None

    def _key(self, k: str):
        for cand in (self.prefix + k, k):
            if cand in self.raw:
                return cand
            if cand.endswith(".weight") and cand[:-7] + ".gamma" in self.raw:
                return cand[:-7] + ".gamma"
            if cand.endswith(".bias") and cand[:-5] + ".beta" in self.raw:
                return cand[:-5] + ".beta"
        return None

    def __call__(self, k: str) -> np.ndarray:
        kk = self._key(k)
        if kk is None:
            raise KeyError(f"{k} (prefix {self.prefix!r}) not in checkpoint")
        return np.ascontiguousarray(self.raw[kk], dtype=np.float32)


def layer_norm_params(f: Weights, name: str):
    return f(name + ".weight"), f(name + ".bias")


class BertEncoder:
    """numpy BertModel: (ids, mask) -> last hidden state."""

    def __init__(self, weights: Weights, cfg: dict):
        self.cfg = cfg
        self.n_layers = cfg["num_hidden_layers"]
        self.n_heads = cfg["num_attention_heads"]
        self.hidden = cfg["hidden_size"]
        self.eps = cfg["layer_norm_eps"]
        self.max_positions = cfg["max_position_embeddings"]
        assert cfg["hidden_act"] == "gelu" and cfg.get("position_embedding_type", "absolute") == "absolute"
        f = weights
        self.word = f("embeddings.word_embeddings.weight")
        self.pos = f("embeddings.position_embeddings.weight")
        self.tok_type0 = f("embeddings.token_type_embeddings.weight")[0]
        self.emb_ln = layer_norm_params(f, "embeddings.LayerNorm")
        self.layers = []
        for i in range(self.n_layers):
            p = f"encoder.layer.{i}."
            wq, wk, wv = (f(p + f"attention.self.{n}.weight") for n in ("query", "key", "value"))
            bq, bk, bv = (f(p + f"attention.self.{n}.bias") for n in ("query", "key", "value"))
            self.layers.append(dict(
                wqkv=np.ascontiguousarray(np.concatenate([wq, wk, wv], 0).T),  # (D, 3D)
                bqkv=np.concatenate([bq, bk, bv]),
                wo=np.ascontiguousarray(f(p + "attention.output.dense.weight").T),
                bo=f(p + "attention.output.dense.bias"),
                ln1=layer_norm_params(f, p + "attention.output.LayerNorm"),
                wi=np.ascontiguousarray(f(p + "intermediate.dense.weight").T),
                bi=f(p + "intermediate.dense.bias"),
                wout=np.ascontiguousarray(f(p + "output.dense.weight").T),
                bout=f(p + "output.dense.bias"),
                ln2=layer_norm_params(f, p + "output.LayerNorm"),
            ))

    def forward(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """ids, mask: (B, L), mask rows are 1...1 0...0 (right padding). Returns (B, L, D) float32."""
        B, L = ids.shape
        H, D = self.n_heads, self.hidden
        dh = D // H
        x = self.word[ids] + self.pos[:L][None] + self.tok_type0
        x = layer_norm(x, *self.emb_ln, self.eps).reshape(B * L, D)
        lens = mask.sum(1)
        scale = np.float32(1.0 / np.sqrt(dh))
        ctx = np.empty((B, L, H, dh), dtype=np.float32)
        for ly in self.layers:
            qkv = x @ ly["wqkv"] + ly["bqkv"]  # (B*L, 3D)
            qkv = qkv.reshape(B, L, 3, H, dh)
            for b in range(B):
                n = int(lens[b])  # keys beyond n are padding: masking them == dropping them
                q = np.ascontiguousarray(qkv[b, :, 0].transpose(1, 0, 2))  # (H, L, dh)
                q *= scale
                kT = np.ascontiguousarray(qkv[b, :n, 1].transpose(1, 2, 0))  # (H, dh, n)
                v = np.ascontiguousarray(qkv[b, :n, 2].transpose(1, 0, 2))  # (H, n, dh)
                s = np.matmul(q, kT)  # (H, L, n)
                s -= s.max(-1, keepdims=True)
                np.exp(s, out=s)
                s /= s.sum(-1, keepdims=True)
                ctx[b] = np.matmul(s, v).transpose(1, 0, 2)
            ctx2 = ctx.reshape(B * L, D)
            a = ctx2 @ ly["wo"] + ly["bo"]
            x = layer_norm(a + x, *ly["ln1"], self.eps)
            h = gelu(x @ ly["wi"] + ly["bi"])
            o = h @ ly["wout"] + ly["bout"]
            x = layer_norm(o + x, *ly["ln2"], self.eps)
        return x.reshape(B, L, D)


def load_tokenizer(path: Path, max_seq_length: int):
    """HF `tokenizers` Tokenizer from tokenizer.json with any baked-in padding removed and truncation
    set to max_seq_length word pieces INCLUDING [CLS]/[SEP] (HF / sentence-transformers behaviour)."""
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(path))
    tok.no_padding()
    tok.enable_truncation(max_length=max_seq_length)
    return tok


def tokenize(tokenizer, texts: list[str]) -> list[np.ndarray]:
    encs = tokenizer.encode_batch(texts, add_special_tokens=True)
    return [np.asarray(e.ids, dtype=np.int64) for e in encs]


def padded_batches(id_lists: list[np.ndarray], batch_tokens: int = 8192
                   ) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray, int]]:
    """Length-sorted, right-padded batches of at most ~batch_tokens padded tokens.

    Yields (idx, ids, mask, done): idx = original positions of the rows, ids/mask (B, L) int64,
    done = number of sequences handed out so far (for progress)."""
    order = np.argsort([len(x) for x in id_lists], kind="stable")
    i = 0
    n = len(order)
    while i < n:
        # grow batch while padded size fits the budget (lengths ascending => last is max)
        j = i + 1
        while j < n and (j - i + 1) * len(id_lists[order[j]]) <= batch_tokens:
            j += 1
        idx = order[i:j]
        L = max(len(id_lists[t]) for t in idx)
        ids = np.zeros((len(idx), L), dtype=np.int64)
        mask = np.zeros((len(idx), L), dtype=np.int64)
        for r, t in enumerate(idx):
            seq = id_lists[t]
            ids[r, : len(seq)] = seq
            mask[r, : len(seq)] = 1
        yield idx, ids, mask, j
        i = j
