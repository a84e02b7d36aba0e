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


# ---------------------------------------------------------------------------------------------------------------
# The x86 compiler helpers for 64-bit arithmetic that 32-bit ntdll exports (MSVC emits calls to them): stdcall,
# the two operands by value on the stack (the callee pops 16 bytes), the result in edx:eax. Division truncates
# toward zero and the remainder has the dividend's sign, as the `idiv` they are built on; a zero divisor is
# STATUS_INTEGER_DIVIDE_BY_ZERO. (_alldvrm/_aulldvrm return a second value in ebx:ecx and the shifts take their
# operands in registers: they are not declared here and stop loudly.)
def _trunc_div(a: int, b: int) -> tuple[int, int]:
    if b == 0:
        from winhatch.ntstatus import NtStatusError
        raise NtStatusError(0xC0000094, "64-bit division by zero")      # STATUS_INTEGER_DIVIDE_BY_ZERO
    q = abs(a) // abs(b)
    q = -q if (a < 0) != (b < 0) else q
    return q, a - q * b


@api(NT, "LONGLONG WINAPI _alldiv(LONGLONG Dividend, LONGLONG Divisor)")
def _alldiv(c, a, b):
    return _trunc_div(_s64(a), _s64(b))[0] & M64


@api(NT, "LONGLONG WINAPI _allrem(LONGLONG Dividend, LONGLONG Divisor)")
def _allrem(c, a, b):
    return _trunc_div(_s64(a), _s64(b))[1] & M64


@api(NT, "ULONGLONG WINAPI _aulldiv(ULONGLONG Dividend, ULONGLONG Divisor)")
def _aulldiv(c, a, b):
    return _trunc_div(a & M64, b & M64)[0]


@api(NT, "ULONGLONG WINAPI _aullrem(ULONGLONG Dividend, ULONGLONG Divisor)")
def _aullrem(c, a, b):
    return _trunc_div(a & M64, b & M64)[1]


@api(NT, "LONGLONG WINAPI _allmul(LONGLONG Multiplicand, LONGLONG Multiplier)")
def _allmul(c, a, b):
    return (a * b) & M64


def _edx_eax_cl(c) -> tuple[int, int]:
    cpu = c.cpu
    return ((cpu.reg("edx") & 0xFFFFFFFF) << 32) | (cpu.reg("eax") & 0xFFFFFFFF), cpu.reg("ecx") & 0xFF


# The shifts take the value in edx:eax and the count in cl (no stack arguments: a plain `ret`); a count of 64 or
# more shifts everything out (the sign for _allshr), as their code does.
@api(NT, "LONGLONG WINAPI _allshl(void)")
def _allshl(c):
    v, n = _edx_eax_cl(c)
    return (v << n) & M64 if n < 64 else 0


@api(NT, "LONGLONG WINAPI _allshr(void)")
def _allshr(c):
    v, n = _edx_eax_cl(c)
    return (_s64(v) >> min(n, 63)) & M64


@api(NT, "ULONGLONG WINAPI _aullshr(void)")
def _aullshr(c):
    v, n = _edx_eax_cl(c)
    return v >> n if n < 64 else 0
