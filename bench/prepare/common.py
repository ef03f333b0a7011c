"""Helpers shared by the bench data-preparation scripts (bench only; the library never runs Python)."""
from __future__ import annotations

import hashlib
import json
import sys
import time
from pathlib import Path


def sha256(p: Path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(p, "rb") as f:
        for b in iter(lambda: f.read(1 << 20), b""):
            h.update(b)
    return h.hexdigest()


def read_jsonl(p: Path):
    """The JSON objects of a JSON-lines file (blank lines skipped)."""
    with open(p, encoding="utf-8") as f:
        return [json.loads(l) for l in f if l.strip()]


def log(*a):
    """A timestamped progress line on stderr."""
    print(time.strftime("%H:%M:%S"), *a, file=sys.stderr, flush=True)
