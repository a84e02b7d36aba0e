"""Where ntdll's C runtime subset differs from msvcrt's (the rest of ntdll's CRT exports are served by the
msvcrt handlers, winhatch.win32.subsystem._serve_ntdll_crt). Checked by Wine's dlls/ntdll/tests/string.c:

* towupper is RtlUpcaseUnicodeChar (every simple uppercase mapping); towlower lowers only A-Z and
  U+00C0-U+00DE (except U+00D7), whatever the locale;
* atoi / atol / _wtoi / _wtol do not saturate: the value wraps to 32 bits ("-9999999999" is -1410065407);
* wcstol / wcstoul skip the blanks \t \n \v \f \r, space and U+00A0, and read the decimal digits of the
  scripts ntdll knows (Arabic-Indic, Devanagari, Bengali, Gurmukhi, Gujarati, Oriya, Telugu, Kannada, Malayalam,
  Thai, Lao, Tibetan, Myanmar, Khmer, Mongolian, fullwidth; not Tamil's) as well as ASCII; letters are ASCII only;
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


_BLANKS = (0x20, 0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0xA0)
_ZEROS = (0x0030, 0x0660, 0x06F0, 0x0966, 0x09E6, 0x0A66, 0x0AE6, 0x0B66, 0x0C66, 0x0CE6, 0x0D66, 0x0E50, 0x0ED0,
          0x0F20, 0x1040, 0x17E0, 0x1810, 0xFF10)
_DIGIT = {z + d: d for z in _ZEROS for d in range(10)}
_DIGIT.update({0x61 + i: 10 + i for i in range(26)})
_DIGIT.update({0x41 + i: 10 + i for i in range(26)})


def _wcsto(c, p: int, endp: int, base: int, signed: bool) -> int:
    """ntdll's wcstol/wcstoul: blanks, a sign, the 0x / 0 prefix (any script's zero) for base 0 or 16, digits.
    Overflow saturates (wcstol: LONG_MAX / LONG_MIN; wcstoul: ULONG_MAX, then negated for a '-')."""
    base = base & 0xFFFFFFFF
    if base >= 0x80000000:
        base -= 1 << 32
    text = c.wstr(p, 1 << 20) or ""
    i, n = 0, len(text)
    while i < n and ord(text[i]) in _BLANKS:
        i += 1
    neg = False
    if i < n and text[i] in "+-":
        neg = text[i] == "-"
        i += 1
    if (base in (0, 16)) and i + 1 < n and _DIGIT.get(ord(text[i])) == 0 and text[i + 1] in "xX":
        base = 16
        i += 2
    elif base == 0:
        base = 8 if i < n and _DIGIT.get(ord(text[i])) == 0 else 10
    if not 2 <= base <= 36:
        if endp:
            c.write_ptr(endp, p)
        return 0
    start, v, over = i, 0, False
    while i < n:
        d = _DIGIT.get(ord(text[i]))
        if d is None or d >= base:
            break
        v = v * base + d
        if v > 0xFFFFFFFF:
            over = True
        i += 1
    if endp:
        c.write_ptr(endp, p + 2 * i if i > start else p)
    if i == start:
        return 0
    if signed:
        if neg:
            return 0x80000000 if over or v > 0x80000000 else (-v) & 0xFFFFFFFF
        return 0x7FFFFFFF if over or v > 0x7FFFFFFF else v
    if over:
        v = 0xFFFFFFFF
    return (-v) & 0xFFFFFFFF if neg else v


@api(NT, "long __cdecl wcstol(const void *s, wchar_t **end, int base)")
def wcstol(c, p, end, base):
    return _wcsto(c, p, end, base, True)


@api(NT, "unsigned long __cdecl wcstoul(const void *s, wchar_t **end, int base)")
def wcstoul(c, p, end, base):
    return _wcsto(c, p, end, base, False)


def _wto(c, p: int, bits: int) -> int:
    """Leading white space, a sign, decimal digits; the value modulo 2^bits."""
    i, v, neg = 0, 0, False
    for _ in range(1 << 16):
        u = int.from_bytes(c.read(p + 2 * i, 2), "little")
        if u in _BLANKS:
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


@api(NT, "__int64 __cdecl _wtoi64(const void *s)")
def _wtoi64(c, p):
    return _wto(c, p, 64)


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


def _nt_snprintf(c, buf, count, text) -> int:
    """ntdll's _snprintf family: as msvcrt's (the text and its NUL if it fits, the text without NUL if exactly
    count, else count characters and -1), except for a NULL buffer: with a count of 0 the call asks for the length, with a
    count it is -1 (nothing written)."""
    from winhatch.win32.msvcrt import runtime as R
    from winhatch.win32.msvcrt.stdio import legacy_snprintf
    if text is None:
        return 0xFFFFFFFF
    count &= (1 << (8 * c.ptr_size)) - 1
    if not buf:            # NULL with a count of 0 asks for the length; with a count it fails (Vista and later)
        return len(text) & 0xFFFFFFFF if not count else 0xFFFFFFFF
    return legacy_snprintf(c, R.state(c), buf, count, text, c.wide) & 0xFFFFFFFF


@api(NT, "int __cdecl _snprintf(void *buf, size_t count, const void *fmt, ...)", wide="_snwprintf")
def _snprintf(c, buf, count, fmt):
    from winhatch.win32.msvcrt import runtime as R
    from winhatch.win32.va import VaArgs
    from winhatch.win32.msvcrt.stdio import fmt_text
    return _nt_snprintf(c, buf, count, fmt_text(c, R.state(c), fmt, VaArgs.after_params(c), wide=c.wide))


@api(NT, "int __cdecl _vsnprintf(void *buf, size_t count, const void *fmt, va_list args)", wide="_vsnwprintf")
def _vsnprintf(c, buf, count, fmt, args):
    from winhatch.win32.msvcrt import runtime as R
    from winhatch.win32.va import VaArgs
    from winhatch.win32.msvcrt.stdio import fmt_text
    return _nt_snprintf(c, buf, count, fmt_text(c, R.state(c), fmt, VaArgs(c, args), wide=c.wide))


@api(NT, "int __cdecl tolower(int ch)")
def tolower(c, ch):
    """ntdll's tolower looks at the low byte only: A-Z become a-z (the other bits kept), anything else is
    returned as it is, whatever the locale."""
    ch &= 0xFFFFFFFF
    return ch + 32 if 0x41 <= ch & 0xFF <= 0x5A else ch


@api(NT, "int __cdecl toupper(int ch)")
def toupper(c, ch):
    """ntdll's toupper: the low byte as an ANSI character, RtlUpcaseUnicodeChar, back to the ANSI code page."""
    from winhatch.win32.kernel32.codepages import CP_ACP, decode, encode, resolve_cp
    ACP = resolve_cp(CP_ACP, c)
    b = ch & 0xFF
    if not b:
        return 0
    text = decode(bytes((b,)), ACP) or "\0"
    out, _used = encode(chr(upcase_unit(ord(text[0]))), ACP)
    if not out:
        return b
    return out[0] if len(out) == 1 else (out[0] << 8) | out[1]


# ntdll's wide classification knows only the first 256 characters (its own table, the C1_* bits of Latin-1);
# above them every class is 0 (Wine's ntdll string test test_wctype, which passes on Windows)
# where ntdll's Latin-1 table differs from the Unicode categories: the tab is also C1_BLANK, NEL is a control
# only, the ordinal indicators, the micro sign and the soft hyphen are punctuation, the superscript digits are
# punctuation and digits (C1_PUNCT|C1_DIGIT)
_NT_WIDE_OVERRIDES = {0x09: 0x68, 0x85: 0x20, 0xAA: 0x10, 0xAD: 0x10, 0xB2: 0x14, 0xB3: 0x14, 0xB5: 0x10,
                      0xB9: 0x14, 0xBA: 0x10}


def _ntdll_wctype(ch: int) -> int:
    from winhatch.win32.msvcrt.startup import wide_ctype
    ch &= 0xFFFF
    if ch >= 256:
        return 0
    return _NT_WIDE_OVERRIDES.get(ch, wide_ctype(ch))


@api(NT, "int __cdecl iswctype(wint_t ch, unsigned short mask)")
def iswctype(c, ch, mask):
    return _ntdll_wctype(ch) & mask


def _ntdll_isw(bits: int):
    def fn(c, ch):
        return _ntdll_wctype(ch) & bits
    return fn


for _name, _bits in (("iswalpha", 0x103), ("iswdigit", 0x4), ("iswlower", 0x2), ("iswspace", 0x8),
                     ("iswxdigit", 0x80)):
    api(NT, f"int __cdecl {_name}(wint_t ch)")(_ntdll_isw(_bits))


# ntdll's byte classification: ASCII only (0 for 128..255 and EOF), and its masks leave out C1_ALPHA (0x100):
# isalnum is C1_DIGIT|C1_LOWER|C1_UPPER, isprint C1_DIGIT|C1_BLANK|C1_PUNCT|C1_LOWER|C1_UPPER (test_ctype)
_NT_BYTE_MASKS = {"isalnum": 0x7, "isalpha": 0x3, "iscntrl": 0x20, "isdigit": 0x4, "isgraph": 0x17,
                  "islower": 0x2, "isprint": 0x57, "ispunct": 0x10, "isspace": 0x8, "isupper": 0x1, "isxdigit": 0x80}


def _ntdll_is(mask: int):
    def fn(c, ch):
        from winhatch.win32.msvcrt.startup import c_locale_ctype
        ch &= 0xFFFFFFFF
        return c_locale_ctype(ch) & mask if ch < 0x80 else 0
    return fn


for _name, _mask in _NT_BYTE_MASKS.items():
    api(NT, f"int __cdecl {_name}(int ch)")(_ntdll_is(_mask))
