"""ntdll's bitmaps: RtlInitializeBitMap and the Set/Clear/Test/Are/Find/Number functions over an RTL_BITMAP.

RTL_BITMAP (ntddk.h; offsets checked in tests/fixtures/src/conf_rtl_bitmap.c):
    x86 (8 bytes)  +0 SizeOfBitMap (ULONG, bits)  +4 Buffer (PULONG)
    x64 (16 bytes) +0 SizeOfBitMap                +8 Buffer
Bit n is bit (n % 8) of byte n / 8 of the buffer (the ULONGs are little-endian). The guest's buffer is the
only state: each call reads the bits it needs and writes back only the bytes it changes. RtlSetAllBits /
RtlClearAllBits write whole ULONGs (the size rounded up to 32 bits), as Windows does.
RTL_BITMAP_RUN is two ULONGs: StartingIndex, NumberOfBits.
"""
from __future__ import annotations

import struct

from winhatch.win32.api import api

NT = "ntdll.dll"
NOT_FOUND = 0xFFFFFFFF


def _hdr(c, p) -> tuple[int, int]:
    return c.u32(p), c.ptr(p + (8 if c.ptr_size == 8 else 4))


def _bits(c, p) -> tuple[int, int, int]:
    """(size, buffer, the bitmap as an int of `size` bits)."""
    size, buf = _hdr(c, p)
    nbytes = (size + 7) // 8
    v = int.from_bytes(c.read(buf, nbytes), "little") if nbytes else 0
    return size, buf, v & ((1 << size) - 1)


def _set_range(c, buf: int, start: int, n: int, value: bool) -> None:
    if n <= 0:
        return
    b0, b1 = start // 8, (start + n - 1) // 8
    cur = int.from_bytes(c.read(buf + b0, b1 - b0 + 1), "little")
    mask = ((1 << n) - 1) << (start - 8 * b0)
    cur = cur | mask if value else cur & ~mask
    c.write(buf + b0, cur.to_bytes(b1 - b0 + 1, "little"))


def _runs(v: int, size: int, want: int) -> list[tuple[int, int]]:
    """[(start, length)] of the runs of `want` bits, in order."""
    if not want:
        v = ~v & ((1 << size) - 1)
    out, i = [], 0
    while v >> i:
        low = (v >> i) & -(v >> i)
        start = i + low.bit_length() - 1
        rest = ~(v >> start)
        length = (rest & -rest).bit_length() - 1
        length = min(length, size - start)
        out.append((start, length))
        i = start + length
    return out


def _find(v: int, size: int, n: int, hint: int, want: int) -> int:
    """First index >= hint of n consecutive `want` bits, wrapping to 0; NOT_FOUND."""
    if n == 0:
        return hint if hint < size else 0
    if n > size:
        return NOT_FOUND
    if hint >= size:
        hint = 0
    mask = (1 << n) - 1
    target = mask if want else 0
    for start in list(range(hint, size - n + 1)) + list(range(0, min(hint, size - n + 1))):
        if (v >> start) & mask == target:
            return start
    return NOT_FOUND


@api(NT, "void NTAPI RtlInitializeBitMap(PRTL_BITMAP BitMapHeader, PULONG BitMapBuffer, ULONG SizeOfBitMap)")
def RtlInitializeBitMap(c, hdr, buf, size):
    c.write_u32(hdr, size)
    c.write_ptr(hdr + (8 if c.ptr_size == 8 else 4), buf)


@api(NT, "void NTAPI RtlSetAllBits(PRTL_BITMAP BitMapHeader)")
def RtlSetAllBits(c, hdr):
    size, buf = _hdr(c, hdr)
    c.write(buf, b"\xff" * (4 * ((size + 31) // 32)))


@api(NT, "void NTAPI RtlClearAllBits(PRTL_BITMAP BitMapHeader)")
def RtlClearAllBits(c, hdr):
    size, buf = _hdr(c, hdr)
    c.write(buf, bytes(4 * ((size + 31) // 32)))


@api(NT, "void NTAPI RtlSetBits(PRTL_BITMAP BitMapHeader, ULONG StartingIndex, ULONG NumberToSet)")
def RtlSetBits(c, hdr, start, n):
    size, buf = _hdr(c, hdr)
    _set_range(c, buf, start, min(n, max(size - start, 0)), True)


@api(NT, "void NTAPI RtlClearBits(PRTL_BITMAP BitMapHeader, ULONG StartingIndex, ULONG NumberToClear)")
def RtlClearBits(c, hdr, start, n):
    size, buf = _hdr(c, hdr)
    _set_range(c, buf, start, min(n, max(size - start, 0)), False)


@api(NT, "void NTAPI RtlSetBit(PRTL_BITMAP BitMapHeader, ULONG BitNumber)")
def RtlSetBit(c, hdr, n):
    _set_range(c, _hdr(c, hdr)[1], n, 1, True)


@api(NT, "void NTAPI RtlClearBit(PRTL_BITMAP BitMapHeader, ULONG BitNumber)")
def RtlClearBit(c, hdr, n):
    _set_range(c, _hdr(c, hdr)[1], n, 1, False)


@api(NT, "BOOLEAN NTAPI RtlTestBit(PRTL_BITMAP BitMapHeader, ULONG BitNumber)")
def RtlTestBit(c, hdr, n):
    return (c.read(_hdr(c, hdr)[1] + n // 8, 1)[0] >> (n % 8)) & 1


@api(NT, "BOOLEAN NTAPI RtlCheckBit(PRTL_BITMAP BitMapHeader, ULONG BitPosition)")
def RtlCheckBit(c, hdr, n):
    return (c.read(_hdr(c, hdr)[1] + n // 8, 1)[0] >> (n % 8)) & 1


def _are(c, hdr, start, n, want) -> int:
    size, _, v = _bits(c, hdr)
    if n == 0 or start >= size or n > size - start:
        return 0
    mask = (1 << n) - 1
    return int((v >> start) & mask == (mask if want else 0))


@api(NT, "BOOLEAN NTAPI RtlAreBitsSet(PRTL_BITMAP BitMapHeader, ULONG StartingIndex, ULONG Length)")
def RtlAreBitsSet(c, hdr, start, n):
    return _are(c, hdr, start, n, 1)


@api(NT, "BOOLEAN NTAPI RtlAreBitsClear(PRTL_BITMAP BitMapHeader, ULONG StartingIndex, ULONG Length)")
def RtlAreBitsClear(c, hdr, start, n):
    return _are(c, hdr, start, n, 0)


@api(NT, "ULONG NTAPI RtlNumberOfSetBits(PRTL_BITMAP BitMapHeader)")
def RtlNumberOfSetBits(c, hdr):
    return bin(_bits(c, hdr)[2]).count("1")


@api(NT, "ULONG NTAPI RtlNumberOfClearBits(PRTL_BITMAP BitMapHeader)")
def RtlNumberOfClearBits(c, hdr):
    size, _, v = _bits(c, hdr)
    return size - bin(v).count("1")


@api(NT, "ULONG NTAPI RtlFindSetBits(PRTL_BITMAP BitMapHeader, ULONG NumberToFind, ULONG HintIndex)")
def RtlFindSetBits(c, hdr, n, hint):
    size, _, v = _bits(c, hdr)
    return _find(v, size, n, hint, 1)


@api(NT, "ULONG NTAPI RtlFindClearBits(PRTL_BITMAP BitMapHeader, ULONG NumberToFind, ULONG HintIndex)")
def RtlFindClearBits(c, hdr, n, hint):
    size, _, v = _bits(c, hdr)
    return _find(v, size, n, hint, 0)


@api(NT, "ULONG NTAPI RtlFindSetBitsAndClear(PRTL_BITMAP BitMapHeader, ULONG NumberToFind, ULONG HintIndex)")
def RtlFindSetBitsAndClear(c, hdr, n, hint):
    size, buf, v = _bits(c, hdr)
    pos = _find(v, size, n, hint, 1)
    if pos != NOT_FOUND:
        _set_range(c, buf, pos, n, False)
    return pos


@api(NT, "ULONG NTAPI RtlFindClearBitsAndSet(PRTL_BITMAP BitMapHeader, ULONG NumberToFind, ULONG HintIndex)")
def RtlFindClearBitsAndSet(c, hdr, n, hint):
    size, buf, v = _bits(c, hdr)
    pos = _find(v, size, n, hint, 0)
    if pos != NOT_FOUND:
        _set_range(c, buf, pos, n, True)
    return pos


def _longest(c, hdr, pstart, want) -> int:
    size, _, v = _bits(c, hdr)
    best = (0, 0)
    for s, n in _runs(v, size, want):
        if n > best[1]:
            best = (s, n)
    if pstart:
        c.write_u32(pstart, best[0])
    return best[1]


@api(NT, "ULONG NTAPI RtlFindLongestRunSet(PRTL_BITMAP BitMapHeader, PULONG StartingIndex)")
def RtlFindLongestRunSet(c, hdr, pstart):
    return _longest(c, hdr, pstart, 1)


@api(NT, "ULONG NTAPI RtlFindLongestRunClear(PRTL_BITMAP BitMapHeader, PULONG StartingIndex)")
def RtlFindLongestRunClear(c, hdr, pstart):
    return _longest(c, hdr, pstart, 0)


@api(NT, "ULONG NTAPI RtlFindFirstRunClear(PRTL_BITMAP BitMapHeader, PULONG StartingIndex)")
def RtlFindFirstRunClear(c, hdr, pstart):
    size, _, v = _bits(c, hdr)
    runs = _runs(v, size, 0)
    if not runs:
        return 0
    c.write_u32(pstart, runs[0][0])
    return runs[0][1]


def _next_forward(c, hdr, frm, pstart, want) -> int:
    """The run of `want` bits starting at or after bit `frm` (a run in progress at `frm` counts from it)."""
    size, _, v = _bits(c, hdr)
    for s, n in _runs(v, size, want):
        if s + n > frm:
            s2 = max(s, frm)
            c.write_u32(pstart, s2)
            return s + n - s2
    c.write_u32(pstart, size)
    return 0


@api(NT, "ULONG NTAPI RtlFindNextForwardRunSet(PRTL_BITMAP BitMapHeader, ULONG FromIndex, PULONG StartingRunIndex)")
def RtlFindNextForwardRunSet(c, hdr, frm, pstart):
    return _next_forward(c, hdr, frm, pstart, 1)


@api(NT, "ULONG NTAPI RtlFindNextForwardRunClear(PRTL_BITMAP BitMapHeader, ULONG FromIndex, "
         "PULONG StartingRunIndex)")
def RtlFindNextForwardRunClear(c, hdr, frm, pstart):
    return _next_forward(c, hdr, frm, pstart, 0)


def _find_runs(c, hdr, out, count, longest, want) -> int:
    size, _, v = _bits(c, hdr)
    runs = _runs(v, size, want)
    if longest & 0xFF:
        runs = sorted(runs, key=lambda r: -r[1])[:count]   # stable: equal lengths keep their order
    else:
        runs = runs[:count]
    for i, (s, n) in enumerate(runs):
        c.write(out + 8 * i, struct.pack("<II", s, n))
    return len(runs)


@api(NT, "ULONG NTAPI RtlFindSetRuns(PRTL_BITMAP BitMapHeader, PRTL_BITMAP_RUN RunArray, ULONG SizeOfRunArray, "
         "BOOLEAN LocateLongestRuns)")
def RtlFindSetRuns(c, hdr, out, count, longest):
    return _find_runs(c, hdr, out, count, longest, 1)


@api(NT, "ULONG NTAPI RtlFindClearRuns(PRTL_BITMAP BitMapHeader, PRTL_BITMAP_RUN RunArray, ULONG SizeOfRunArray, "
         "BOOLEAN LocateLongestRuns)")
def RtlFindClearRuns(c, hdr, out, count, longest):
    return _find_runs(c, hdr, out, count, longest, 0)


@api(NT, "CHAR NTAPI RtlFindMostSignificantBit(ULONGLONG Set)")
def RtlFindMostSignificantBit(c, v):
    return (v.bit_length() - 1) & 0xFF


@api(NT, "CHAR NTAPI RtlFindLeastSignificantBit(ULONGLONG Set)")
def RtlFindLeastSignificantBit(c, v):
    return ((v & -v).bit_length() - 1) & 0xFF
