"""SHA-256 for the keys and identifiers every start computes (the start-up caches, the sandbox's file ids):
CPython's built-in implementation when it has one, which loads in no time, where `import hashlib` loads the
OpenSSL binding first (~4 ms of a hello world's start).  The digests are SHA-256's either way."""
from __future__ import annotations

try:
    from _sha2 import sha256          # CPython 3.12+
except ImportError:
    try:
        from _sha256 import sha256    # CPython 3.11
    except ImportError:               # another implementation
        from hashlib import sha256

__all__ = ["sha256"]
