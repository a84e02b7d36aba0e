"""ntdll's small Rtl helpers: memory compare/fill/move (RtlCompareMemory, RtlCompareMemoryUlong, RtlMoveMemory,
RtlFillMemory, RtlFillMemoryUlong, RtlZeroMemory), random numbers (RtlUniform, RtlRandom, RtlRandomEx),
RtlComputeCrc32, access-mask tests (RtlAreAllAccessesGranted, RtlAreAnyAccessesGranted) and the thread error
mode (RtlGetThreadErrorMode, RtlSetThreadErrorMode, kept in TEB.HardErrorMode as RTL_ERRORMODE_* bits).

RtlUniform is the documented Lehmer generator: Seed = (Seed * 0x7FFFFFED + 0x7FFFFFC3) mod 0x7FFFFFFF, the new
seed is also the result. RtlRandom / RtlRandomEx shuffle RtlUniform's output through a per-process table of
128 values (Bays-Durham), which makes successive results differ from the seed and from each other; the table
is filled from RtlUniform at the process's first call, so the sequence is deterministic per run but is not
Windows's (Windows's initial table is not documented).
"""
from __future__ import annotations

import zlib

from winhatch.kernel.structs import TEB
from winhatch.win32.api import api

NT = "ntdll.dll"
MAX_MEMORY_OP = 1 << 30        # one call touches at most this much guest memory
STATUS_SUCCESS = 0
STATUS_INVALID_PARAMETER_1 = 0xC00000EF


def _size(n: int) -> int:
    if n > MAX_MEMORY_OP:
        from winhatch.ntstatus import NtStatusError
        raise NtStatusError(0xC0000005, f"a memory operation of {n:#x} bytes")
    return n


@api(NT, "SIZE_T NTAPI RtlCompareMemory(const VOID *Source1, const VOID *Source2, SIZE_T Length)")
def RtlCompareMemory(c, a, b, n):
    n = _size(n)
    if n == 0:
        return 0
    x, y = c.read(a, n), c.read(b, n)
    if x == y:
        return n
    i = 0
    while x[i] == y[i]:
        i += 1
    return i


@api(NT, "SIZE_T NTAPI RtlCompareMemoryUlong(PVOID Source, SIZE_T Length, ULONG Pattern)")
def RtlCompareMemoryUlong(c, src, n, pattern):
    """The number of leading bytes, in whole ULONGs, equal to Pattern (a trailing partial ULONG is ignored)."""
    count = _size(n) // 4
    data = c.read(src, count * 4) if count else b""
    pat = (pattern & 0xFFFFFFFF).to_bytes(4, "little")
    i = 0
    while i < count and data[4 * i:4 * i + 4] == pat:
        i += 1
    return 4 * i


@api(NT, "void NTAPI RtlMoveMemory(void *Destination, const void *Source, SIZE_T Length)")
def RtlMoveMemory(c, dst, src, n):
    if n:
        c.write(dst, c.read(src, _size(n)))


@api(NT, "void NTAPI RtlCopyMemory(void *Destination, const void *Source, SIZE_T Length)")
def RtlCopyMemory(c, dst, src, n):
    RtlMoveMemory(c, dst, src, n)


@api(NT, "void NTAPI RtlFillMemory(void *Destination, SIZE_T Length, BYTE Fill)")
def RtlFillMemory(c, dst, n, fill):
    if n:
        c.write(dst, bytes([fill & 0xFF]) * _size(n))


@api(NT, "void NTAPI RtlFillMemoryUlong(void *Destination, SIZE_T Length, ULONG Pattern)")
def RtlFillMemoryUlong(c, dst, n, pattern):
    count = _size(n) // 4
    if count:
        c.write(dst, (pattern & 0xFFFFFFFF).to_bytes(4, "little") * count)


@api(NT, "void NTAPI RtlZeroMemory(void *Destination, SIZE_T Length)")
def RtlZeroMemory(c, dst, n):
    if n:
        c.write(dst, bytes(_size(n)))


# ------------------------------------------------------------------------------------------ random numbers
def uniform(seed: int) -> int:
    return ((seed & 0xFFFFFFFF) * 0x7FFFFFED + 0x7FFFFFC3) % 0x7FFFFFFF


@api(NT, "ULONG NTAPI RtlUniform(PULONG Seed)")
def RtlUniform(c, pseed):
    r = uniform(c.u32(pseed))
    c.write_u32(pseed, r)
    return r


def _random(c, pseed):
    table = c.proc.subsystem.get("rtl_random_table")
    if table is None:
        table, s = [], 0x2A8F3B61
        for _ in range(128):
            s = uniform(s)
            table.append(s)
        c.proc.subsystem["rtl_random_table"] = table
    seed = c.u32(pseed)
    first = uniform(seed)
    seed = uniform(first)
    c.write_u32(pseed, seed)
    pos = seed & 127
    result, table[pos] = table[pos], first
    return result


@api(NT, "ULONG NTAPI RtlRandom(PULONG Seed)")
def RtlRandom(c, pseed):
    return _random(c, pseed)


@api(NT, "ULONG NTAPI RtlRandomEx(PULONG Seed)")
def RtlRandomEx(c, pseed):
    return _random(c, pseed)


@api(NT, "DWORD NTAPI RtlComputeCrc32(DWORD Initial, const BYTE *Data, INT Length)")
def RtlComputeCrc32(c, initial, data, n):
    """The CRC-32 of IEEE 802.3 (zlib's), continuing from Initial."""
    n = n if n < 0x80000000 else 0
    return zlib.crc32(c.read(data, _size(n)) if n else b"", initial & 0xFFFFFFFF)


# ------------------------------------------------------------------------------------------ access masks
@api(NT, "BOOLEAN NTAPI RtlAreAllAccessesGranted(ACCESS_MASK GrantedAccess, ACCESS_MASK DesiredAccess)")
def RtlAreAllAccessesGranted(c, granted, desired):
    return int((granted & desired) == desired)


@api(NT, "BOOLEAN NTAPI RtlAreAnyAccessesGranted(ACCESS_MASK GrantedAccess, ACCESS_MASK DesiredAccess)")
def RtlAreAnyAccessesGranted(c, granted, desired):
    return int((granted & desired) != 0)


# ------------------------------------------------------------------------------------------ thread error mode
RTL_ERRORMODE_MASK = 0x70     # FAILCRITICALERRORS 0x10, NOGPFAULTERRORBOX 0x20, NOOPENFILEERRORBOX 0x40


@api(NT, "DWORD NTAPI RtlGetThreadErrorMode(void)")
def RtlGetThreadErrorMode(c):
    return TEB.read(c.proc.aspace, c.thread.teb, c.arch, "HardErrorMode")["HardErrorMode"]


@api(NT, "NTSTATUS NTAPI RtlSetThreadErrorMode(DWORD NewMode, LPDWORD OldMode)")
def RtlSetThreadErrorMode(c, mode, pold):
    if mode & ~RTL_ERRORMODE_MASK:
        return STATUS_INVALID_PARAMETER_1
    if pold:
        c.write_u32(pold, RtlGetThreadErrorMode(c))
    TEB.write(c.proc.aspace, c.thread.teb, c.arch, HardErrorMode=mode)
    return STATUS_SUCCESS


# -- byte swaps: x86 ntdll exports them as FASTCALL functions (the value in cx/ecx; a 64-bit value is passed on
# the stack, which the callee pops, and comes back in edx:eax); x64 ntdll does not export them (always inline)
@api(NT, "USHORT FASTCALL RtlUshortByteSwap(USHORT Source)")
def RtlUshortByteSwap(c, v):
    return int.from_bytes((v & 0xFFFF).to_bytes(2, "little"), "big")


@api(NT, "ULONG FASTCALL RtlUlongByteSwap(ULONG Source)")
def RtlUlongByteSwap(c, v):
    return int.from_bytes((v & 0xFFFFFFFF).to_bytes(4, "little"), "big")


@api(NT, "ULONGLONG FASTCALL RtlUlonglongByteSwap(ULONGLONG Source)")
def RtlUlonglongByteSwap(c, v):
    return int.from_bytes((v & 0xFFFFFFFFFFFFFFFF).to_bytes(8, "little"), "big")
