"""Where winhatch keeps what it builds once and reuses (the synthetic system DLLs, the API set schema, start-up
caches), and the one way every layer stores such a value: a module of the bottom layer, so that every layer —
the kernel included — finds the same directory and the same `cached()` without importing a layer above it.

A cached value is a pure function of its inputs (files that change only when the DLLs are rebuilt, the
declarations, the code that computes it).  Computing it again costs more than reading it back, so it is
stored in the cache directory, one small file per set of inputs, named by the hash of those inputs.  The
files are `marshal` data: a built-in module (nothing to import) that reads plain tuples, lists, dicts, bytes
and strings fast; its format belongs to one Python version, which is part of every key.
"""
from __future__ import annotations

import marshal
import os
import sys
from pathlib import Path
from typing import Any, Callable

# bump when the layout of any cached value changes
FORMAT_VERSION = 1


def cache_root() -> Path:
    """$WINHATCH_CACHE/sysdlls, by default ~/.cache/winhatch/sysdlls."""
    base = os.environ.get("WINHATCH_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "winhatch")
    return Path(base) / "sysdlls"


def _path(kind: str, inputs: str) -> Path:
    from winhatch._hash import sha256
    h = sha256(f"{kind}:{FORMAT_VERSION}:{sys.implementation.cache_tag}:{marshal.version}\0".encode())
    h.update(inputs.encode("utf-8", "surrogatepass"))
    return cache_root() / f"{kind}-{h.hexdigest()[:16]}.marshal"


def cached(kind: str, inputs: str, compute: Callable[[], Any],
           keep: Callable[[Any], bool] | None = None) -> Any:
    """compute(), or the value a previous call with the same `kind` and `inputs` stored.

    `inputs` must describe everything compute() depends on (e.g. the name of a DLL directory, which
    holds its cache key, and the declarations involved).  `keep(value)`: whether a value is worth storing,
    and whether a stored one is still good (a damaged or foreign file fails it and is computed again).  An
    unreadable or damaged file is recomputed; an unwritable cache only costs the computation next time."""
    path = _path(kind, inputs)
    try:
        value = marshal.loads(path.read_bytes())
        if keep is None or keep(value):
            return value
    except (OSError, EOFError, ValueError, TypeError):
        pass
    value = compute()
    if keep is not None and not keep(value):
        return value
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:  # atomic: a concurrent reader sees the whole file or none
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_bytes(marshal.dumps(value))
        os.replace(tmp, path)
    except (OSError, ValueError):  # ValueError: a value marshal cannot write (a bug: then just not cached)
        try:
            tmp.unlink()
        except OSError:
            pass
    return value


def file_identity(path: str) -> str:
    """Path, size, modification time and inode of a file: part of the key of what is derived from it."""
    st = os.stat(path)
    return f"{os.path.realpath(path)}:{st.st_size}:{st.st_mtime_ns}:{st.st_ino}"


def code_identity(*modules) -> str:
    """The identity of these modules' source files: part of the key of a value their code computes, so that
    the value is computed again once that code changes."""
    return "\n".join(file_identity(m.__file__) for m in modules)
