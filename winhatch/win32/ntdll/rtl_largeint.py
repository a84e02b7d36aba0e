"""ntdll's large-integer helpers: RtlExtendedMagicDivide, RtlLargeIntegerDivide, RtlExtendedIntegerMultiply,
RtlEnlargedIntegerMultiply, RtlEnlargedUnsignedMultiply, RtlEnlargedUnsignedDivide.

LARGE_INTEGER / ULARGE_INTEGER arguments arrive by value (two stack slots on x86) and results return in
edx:eax / rax. Only 32-bit ntdll exports these (x64 ntdll's export table, like Windows', has none of them:
GetProcAddress finds nothing there, tests/fixtures/src/conf_rtl_basics.c).
"""
from __future__ import annotations

from winhatch.win32.api import api

NT = "ntdll.dll"
M64 = (1 << 64) - 1


def _s64(v: int) -> int:
    v &= M64
    return v - (1 << 64) if v >> 63 else v


def _s32(v: int) -> int:
    v &= 0xFFFFFFFF
    return v - (1 << 32) if v >> 31 else v


@api(NT, "LONGLONG NTAPI RtlExtendedMagicDivide(LONGLONG Dividend, LONGLONG MagicDivisor, CHAR ShiftCount)")
def RtlExtendedMagicDivide(c, dividend, magic, shift):
    """Division by multiplication: the high 64 bits of |Dividend| * MagicDivisor (unsigned 128-bit product),
    shifted right by ShiftCount, with the dividend's sign."""
    d = _s64(dividend)
    q = ((abs(d) * (magic & M64)) >> 64) >> (shift & 0xFF)
    return (-q if d < 0 else q) & M64


@api(NT, "ULONGLONG NTAPI RtlLargeIntegerDivide(ULONGLONG Dividend, ULONGLONG Divisor, PULONGLONG Remainder)")
def RtlLargeIntegerDivide(c, dividend, divisor, prem):
    if divisor == 0:
        from winhatch.ntstatus import NtStatusError
        raise NtStatusError(0xC0000094, "RtlLargeIntegerDivide by zero")   # STATUS_INTEGER_DIVIDE_BY_ZERO
    q, r = divmod(dividend & M64, divisor & M64)
    if prem:
        c.write_u64(prem, r)
    return q


@api(NT, "LONGLONG NTAPI RtlExtendedIntegerMultiply(LONGLONG Multiplicand, LONG Multiplier)")
def RtlExtendedIntegerMultiply(c, a, b):
    return (_s64(a) * _s32(b)) & M64


@api(NT, "LONGLONG NTAPI RtlEnlargedIntegerMultiply(LONG Multiplicand, LONG Multiplier)")
def RtlEnlargedIntegerMultiply(c, a, b):
    return (_s32(a) * _s32(b)) & M64


@api(NT, "ULONGLONG NTAPI RtlEnlargedUnsignedMultiply(ULONG Multiplicand, ULONG Multiplier)")
def RtlEnlargedUnsignedMultiply(c, a, b):
    return ((a & 0xFFFFFFFF) * (b & 0xFFFFFFFF)) & M64


@api(NT, "ULONG NTAPI RtlEnlargedUnsignedDivide(ULONGLONG Dividend, ULONG Divisor, PULONG Remainder)")
def RtlEnlargedUnsignedDivide(c, dividend, divisor, prem):
    if divisor & 0xFFFFFFFF == 0:
        from winhatch.ntstatus import NtStatusError
        raise NtStatusError(0xC0000094, "RtlEnlargedUnsignedDivide by zero")
    q, r = divmod(dividend & M64, divisor & 0xFFFFFFFF)
    if prem:
        c.write_u32(prem, r)
    return q & 0xFFFFFFFF
