"""Where ntdll's C runtime subset differs from msvcrt's (the rest of ntdll's CRT exports are served by the
msvcrt handlers, winhatch.win32.subsystem._serve_ntdll_crt). Checked by Wine's dlls/ntdll/tests/string.c:

* towupper is RtlUpcaseUnicodeChar (every simple uppercase mapping); towlower lowers only A-Z and
  U+00C0-U+00DE (except U+00D7), whatever the locale;
* atoi / atol / _wtoi / _wtol do not saturate: the value wraps to 32 bits ("-9999999999" is -1410065407);
* the integer-to-text functions take any radix from 2 (radix 37 prints 71270178 as "111111") and leave the
  buffer alone below 2.
"""
from __future__ import annotations

from winhatch.win32.api import api

from winhatch.win32.ntdll.rtl_string import upcase_unit

NT = "ntdll.dll"


@api(NT, "wint_t __cdecl towupper(wint_t ch)")
def towupper(c, ch):
    return upcase_unit(ch & 0xFFFF)


@api(NT, "wint_t __cdecl towlower(wint_t ch)")
def towlower(c, ch):
    ch &= 0xFFFF
    if 0x41 <= ch <= 0x5A or (0xC0 <= ch <= 0xDE and ch != 0xD7):
        return ch + 32
    return ch


def _wto(c, p: int, bits: int) -> int:
    """Leading white space, a sign, decimal digits; the value modulo 2^bits."""
    i, v, neg = 0, 0, False
    for _ in range(1 << 16):
        u = int.from_bytes(c.read(p + 2 * i, 2), "little")
        if u in (0x20, 0x09, 0x0A, 0x0B, 0x0C, 0x0D):
            i += 1
            continue
        break
    u = int.from_bytes(c.read(p + 2 * i, 2), "little")
    if u in (0x2B, 0x2D):
        neg = u == 0x2D
        i += 1
    for _ in range(1 << 16):
        u = int.from_bytes(c.read(p + 2 * i, 2), "little")
        if not 0x30 <= u <= 0x39:
            break
        v = (v * 10 + u - 0x30) & ((1 << bits) - 1)
        i += 1
    return (-v if neg else v) & ((1 << bits) - 1)


@api(NT, "int __cdecl _wtoi(const void *s)")
def _wtoi(c, p):
    return _wto(c, p, 32)


@api(NT, "long __cdecl _wtol(const void *s)")
def _wtol(c, p):
    return _wto(c, p, 32)


def _to_text(value: int, radix: int, bits: int, signed_decimal: bool) -> str:
    """ntdll's conversion: any radix from 2 (digits past 'z' continue in ASCII), '-' only in radix 10."""
    value &= (1 << bits) - 1
    neg = signed_decimal and radix == 10 and value >> (bits - 1)
    if neg:
        value = (1 << bits) - value
    out = []
    while True:
        value, d = divmod(value, radix)
        out.append(chr(0x30 + d) if d < 10 else chr(0x61 + d - 10))
        if not value:
            break
    return ("-" if neg else "") + "".join(reversed(out))


def _make(bits: int, signed: bool, wide: bool):
    def conv(c, v, buf, radix):
        radix &= 0xFFFFFFFF
        if radix < 2 or radix > 0x7FFFFFFF or not buf:
            return buf                      # nothing written
        text = _to_text(v, radix, bits, signed)
        c.write(buf, text.encode("utf-16-le") + b"\0\0" if wide else text.encode("latin-1") + b"\0")
        return buf
    return conv


for _proto, _bits, _signed, _wide in (
        ("char * __cdecl _itoa(int value, char *buf, int radix)", 32, True, False),
        ("char * __cdecl _ltoa(long value, char *buf, int radix)", 32, True, False),
        ("char * __cdecl _ultoa(unsigned long value, char *buf, int radix)", 32, False, False),
        ("char * __cdecl _i64toa(__int64 value, char *buf, int radix)", 64, True, False),
        ("char * __cdecl _ui64toa(unsigned __int64 value, char *buf, int radix)", 64, False, False),
        ("wchar_t * __cdecl _itow(int value, wchar_t *buf, int radix)", 32, True, True),
        ("wchar_t * __cdecl _ltow(long value, wchar_t *buf, int radix)", 32, True, True),
        ("wchar_t * __cdecl _ultow(unsigned long value, wchar_t *buf, int radix)", 32, False, True),
        ("wchar_t * __cdecl _i64tow(__int64 value, wchar_t *buf, int radix)", 64, True, True),
        ("wchar_t * __cdecl _ui64tow(unsigned __int64 value, wchar_t *buf, int radix)", 64, False, True)):
    api(NT, _proto)(_make(_bits, _signed, _wide))


@api(NT, "int __cdecl atoi(const void *s)")
def atoi(c, p):
    return _ato_narrow(c, p, 32)


@api(NT, "long __cdecl atol(const void *s)")
def atol(c, p):
    return _ato_narrow(c, p, 32)


def _ato_narrow(c, p: int, bits: int) -> int:
    i, v, neg = 0, 0, False
    while i < (1 << 16) and c.read(p + i, 1)[0] in (0x20, 0x09, 0x0A, 0x0B, 0x0C, 0x0D):
        i += 1
    ch = c.read(p + i, 1)[0]
    if ch in (0x2B, 0x2D):
        neg = ch == 0x2D
        i += 1
    for _ in range(1 << 16):
        ch = c.read(p + i, 1)[0]
        if not 0x30 <= ch <= 0x39:
            break
        v = (v * 10 + ch - 0x30) & ((1 << bits) - 1)
        i += 1
    return (-v if neg else v) & ((1 << bits) - 1)
