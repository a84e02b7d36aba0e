"""Where winhatch keeps what it builds once and reuses (the synthetic system DLLs, the API set schema, start-up
caches): a module of the bottom layer, so that every layer — the kernel included — finds the same directory
without importing a layer above it."""
from __future__ import annotations

import os
from pathlib import Path


def cache_root() -> Path:
    """$WINHATCH_CACHE/sysdlls, by default ~/.cache/winhatch/sysdlls."""
    base = os.environ.get("WINHATCH_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "winhatch")
    return Path(base) / "sysdlls"
