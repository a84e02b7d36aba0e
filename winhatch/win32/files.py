"""Writing and reading through handles: console files and files of the virtual file system."""
from __future__ import annotations

from winhatch.kernel import events as ev


def write(c, obj, data: bytes) -> int:
    n = obj.write(data)
    return len(data) if n is None else n


def read(c, obj, n: int) -> bytes:
    return obj.read(n)
