"""Start-up facts that do not change from one run to the next, kept in the cache directory.

Some of what `winhatch.win32.subsystem.setup` and the loader need at every start is a pure function of
files that change only when the DLLs are rebuilt (their directory name is their cache key,
winhatch.win32.sysdlls.cache_key), of the @api declarations and of the code that computes it: where each
declared export's code lives once forwarders are followed, which C runtime names ntdll exports, the
parsed export directory and trap table of a system DLL; and the CPU backend's calibrations depend only on
the Unicorn library and on winhatch.cpu.core.  Computing them again costs more than reading them back
(loading the forwarder index alone was ~13 ms), so they are stored next to the DLL directories, one small
file per set of inputs, named by the hash of those inputs — the style of the API set blob
(winhatch.kernel.apiset.schema.default_blob).

The files are `marshal` data: a built-in module (nothing to import) that reads plain tuples, lists,
dicts and strings fast; its format belongs to one Python version, which is part of every key.
"""
from __future__ import annotations

import marshal
import os
import sys
from typing import Any, Callable

from winhatch._hash import sha256

# bump when the layout of any cached value changes
FORMAT_VERSION = 1


def _path(kind: str, inputs: str):
    from winhatch.win32.sysdlls import cache_root
    h = sha256(f"{kind}:{FORMAT_VERSION}:{sys.implementation.cache_tag}:{marshal.version}\0".encode())
    h.update(inputs.encode("utf-8", "surrogatepass"))
    return cache_root() / f"{kind}-{h.hexdigest()[:16]}.marshal"


def cached(kind: str, inputs: str, compute: Callable[[], Any],
           keep: Callable[[Any], bool] | None = None) -> Any:
    """compute(), or the value a previous call with the same `kind` and `inputs` stored.

    `inputs` must describe everything compute() depends on (e.g. the name of a DLL directory, which
    holds its cache key, and the declarations involved).  `keep(value)`: whether a computed value is
    worth storing.  An unreadable or damaged file is recomputed; an unwritable cache only costs the
    computation next time."""
    path = _path(kind, inputs)
    try:
        return marshal.loads(path.read_bytes())
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


def prime_cpu_calibrations() -> None:
    """Seed the CPU backend's calibrations (winhatch.cpu.core.calibrations)
    from the cache, or run them once and store their results.

    Each calibration probes scratch Unicorn engines (~6 ms of every process start).  Their results are
    facts about the Unicorn library binary (an offset inside its uc_struct, whether it keeps memory faults
    precise after a pc write) and about the probes in core.py, so the key is the library file's identity
    and core.py's: another build of either calibrates again."""
    from winhatch.cpu import _native, core
    if core.engine_cpuid_store is None:
        core.engine_cpuid_store = _engine_cpuid_store
    if core.calibrated():
        return   # calibrated in this process already
    inputs = f"{file_identity(_native.lib._name)}\n{code_identity(core)}"
    # a fallback result (no /proc/self/mem, an unexpected engine) is not kept: the next start tries again
    pc_sync, invalid_addr, emu_counter = cached(
        "cpu-calibration", inputs, lambda: core.calibrations(),
        keep=lambda v: v[0][0] in ("precise", "clear") and v[1] is not None and v[2] is not None)
    core.seed_calibrations(tuple(pc_sync), invalid_addr, emu_counter)


def _engine_cpuid_store(mode: int, compute):
    """winhatch.cpu.core.engine_cpuid_store: the engine's CPUID answers for a CPU mode (~20 ms of probes, made
    when a guest first executes CPUID), kept in the cache.  Like the calibrations they are facts about the
    Unicorn library binary (its emulated processor) and the probes in core.py."""
    from winhatch.cpu import _native, core
    inputs = f"{mode}\n{file_identity(_native.lib._name)}\n{code_identity(core)}"
    return cached("cpu-cpuid", inputs, compute, keep=lambda t: bool(t) and (0, 0) in t)
