"""Start-up facts that do not change from one run to the next, kept in the cache directory.

Some of what `winhatch.win32.subsystem.setup` and the loader need at every start is a pure function of
files that change only when the DLLs are rebuilt (their directory name is their cache key,
winhatch.win32.sysdlls.cache_key), of the @api declarations and of the code that computes it: where each
declared export's code lives once forwarders are followed, which C runtime names ntdll exports, the
parsed export directory and trap table of a system DLL; and the CPU backend's calibrations depend only on
the Unicorn library and on winhatch.cpu.core.  Computing them again costs more than reading them back
(loading the forwarder index alone was ~13 ms), so they are stored next to the DLL directories, one small
file per set of inputs, named by the hash of those inputs, through winhatch.cache.cached (the bottom layer's
cache, which the kernel's service index and the API set blob use too).
"""
from __future__ import annotations

from winhatch.cache import cached, code_identity, file_identity  # noqa: F401 (the one cache; re-exported)


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
