"""kernel32 / kernelbase: GetNumberFormat(A/W/Ex) and GetCurrencyFormat(A/W/Ex) over the locale data of
locale.py (en-US's and the invariant locale's Windows values, the other modelled locales' CLDR table).

The value is a string of ASCII digits with at most one '.' and an optional leading '-' (anything else, a
space included: ERROR_INVALID_PARAMETER). It is rounded half up to the format's number of decimals, its leading
zeros dropped (LeadingZero 0: ".5"), its integer part grouped by the Grouping (a NUMBERFMT's UINT, whose
decimal digits are the group sizes from the decimal point left, the last repeated unless the UINT ends in 0:
3 is "3;0", 32 "3;2;0", 320 "3;2" — the SGROUPING strings of the locale data use the same rule), and the sign
placed by the negative order (Microsoft's INEGNUMBER / INEGCURR tables; ICURRENCY for a positive amount).
With a NUMBERFMT/CURRENCYFMT the locale's format is not read (only its negative sign); the format's separators
must not be NULL and its orders and digit count must be in range (ERROR_INVALID_PARAMETER); a format with
LOCALE_NOUSEROVERRIDE is ERROR_INVALID_FLAGS. The count of characters written including the NUL; a buffer of 0
asks for that count; too small: ERROR_INSUFFICIENT_BUFFER. The A forms convert with the locale's code page.
"""
from __future__ import annotations

import re

from winhatch.ntstatus import ERROR_INVALID_PARAMETER
from winhatch.win32.api import api

from winhatch.win32.kernel32.common import K32, ERROR_INSUFFICIENT_BUFFER
from winhatch.win32.kernel32.locale import (ERROR_INVALID_FLAGS, LOCALE_NOUSEROVERRIDE, LOCALE_USE_CP_ACP,
                                            ansi_codec, locale_table, resolve_lcid, resolve_name)

MAX_VALUE = 1 << 12            # characters of the value read from the guest
MAX_SEP = 4                    # a separator or symbol: up to 4 characters (LOCALE_SDECIMAL's documented limit)
_VALUE = re.compile(r"-?(\d*)(?:\.(\d*))?")

#: INEGNUMBER: the negative number layouts ("(1.1)", "-1.1", "- 1.1", "1.1-", "1.1 -")
NEG_NUMBER = ("({n})", "{s}{n}", "{s} {n}", "{n}{s}", "{n} {s}")
#: INEGCURR: the negative currency layouts, $ the symbol
NEG_CURRENCY = ("({c}{n})", "{s}{c}{n}", "{c}{s}{n}", "{c}{n}{s}", "({n}{c})", "{s}{n}{c}", "{n}{s}{c}",
                "{n}{c}{s}", "{s}{n} {c}", "{s}{c} {n}", "{n} {c}{s}", "{c} {n}{s}", "{c} {s}{n}", "{n}{s} {c}",
                "({c} {n})", "({n} {c})")
#: ICURRENCY: the positive currency layouts
POS_CURRENCY = ("{c}{n}", "{n}{c}", "{c} {n}", "{n} {c}")


def parse_value(text: str | None):
    """(negative, integer digits, fraction digits) of a value string, or None when it is not one."""
    if text is None:
        return None
    m = _VALUE.fullmatch(text)
    if not m or not (m.group(1) or m.group(2)):
        return None
    return text.startswith("-"), m.group(1), m.group(2) or ""


def _round(integer: str, fraction: str, digits: int) -> tuple[str, str]:
    """Round half up to `digits` decimals (the integer part may grow: 9.995 -> 10.00)."""
    whole = (integer or "0") + fraction.ljust(digits, "0")[:digits]
    up = len(fraction) > digits and fraction[digits] >= "5"
    n = int(whole) + (1 if up else 0)
    s = str(n).rjust(digits + 1, "0")
    return (s[:-digits] if digits else s).lstrip("0"), (s[-digits:] if digits else "")


def groups_of_uint(grouping: int) -> tuple[list[int], bool]:
    """A NUMBERFMT Grouping as (group sizes from the decimal point, last repeats)."""
    digits = [int(ch) for ch in str(grouping)]
    if grouping == 0:
        return [], False
    if digits[-1] == 0:
        return digits[:-1], False
    return digits, True


def groups_of_string(grouping: str) -> tuple[list[int], bool]:
    """An SGROUPING string ("3;0", "3;2;0", "3") as (group sizes, last repeats)."""
    parts = [int(p) for p in grouping.split(";") if p.strip().isdigit()]
    if not parts or parts == [0]:
        return [], False
    if parts[-1] == 0:
        return parts[:-1], True
    return parts, False


def group(integer: str, sizes: list[int], repeat: bool, sep: str) -> str:
    out: list[str] = []
    rest = integer
    i = 0
    while rest:
        if i < len(sizes):
            size = sizes[i]
        elif repeat and sizes:
            size = sizes[-1]
        else:
            size = 0
        if size <= 0 or len(rest) <= size:
            out.append(rest)
            break
        out.append(rest[-size:])
        rest = rest[:-size]
        i += 1
    return sep.join(reversed(out))


def format_amount(value, digits: int, lzero: int, sizes: list[int], repeat: bool, dec: str, thou: str) -> str:
    """The number without its sign."""
    _neg, integer, fraction = value
    ipart, fpart = _round(integer.lstrip("0"), fraction, digits)
    if not ipart and (lzero or not digits):
        ipart = "0"
    text = group(ipart, sizes, repeat, thou)
    if digits:
        text += dec + fpart
    return text


def _is_negative(value) -> bool:
    neg, integer, fraction = value
    return neg and any(ch != "0" for ch in integer + fraction)


# ------------------------------------------------------------------------------------------ guest structures
def _read_sep(c, addr: int, wide: bool, codec: str) -> str | None:
    if not addr:
        return None
    if wide:
        return c.wstr(addr, MAX_SEP + 1)
    raw = c.cstr(addr, MAX_SEP + 1)
    return None if raw is None else raw.decode(codec, "replace")


def _read_fmt(c, p: int, wide: bool, codec: str, currency: bool) -> dict | None:
    """NUMBERFMT / CURRENCYFMT: three UINTs, the separators' pointers, NegativeOrder (and PositiveOrder and the
    symbol's pointer); None when a field is out of range or a pointer NULL (ERROR_INVALID_PARAMETER)."""
    ps = c.ptr_size
    off = 12 if ps == 4 else 16
    nd, lz, gr = (c.u32(p + 4 * i) for i in range(3))
    dec = _read_sep(c, c.ptr(p + off), wide, codec)
    thou = _read_sep(c, c.ptr(p + off + ps), wide, codec)
    neg = c.u32(p + off + 2 * ps)
    f = {"digits": nd, "lzero": lz, "grouping": gr, "dec": dec, "thou": thou, "neg": neg}
    if currency:
        f["pos"] = c.u32(p + off + 2 * ps + 4)
        f["sym"] = _read_sep(c, c.ptr(p + off + 2 * ps + 8), wide, codec)
    if nd > 9 or lz > 1 or dec is None or thou is None or neg > (15 if currency else 4):
        return None
    if currency and (f["pos"] > 3 or f["sym"] is None):
        return None
    return f


def _out(c, buf: int, cch: int, text: str, wide: bool, codec: str) -> int:
    data = text.encode("utf-16-le") + b"\0\0" if wide else text.encode(codec, "replace") + b"\0"
    n = len(data) // (2 if wide else 1)
    if cch == 0:
        return n
    if cch < n:
        c.set_last_error(ERROR_INSUFFICIENT_BUFFER)
        return 0
    c.write(buf, data)
    return n


def _common(c, loc, flags, pvalue, pfmt, buf, cch, wide):
    """The checks both functions make; (value, codec, table) or None after setting the error."""
    if loc is None or cch < 0 or (cch and not buf) or not pvalue:
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return None
    if flags & ~(LOCALE_NOUSEROVERRIDE | LOCALE_USE_CP_ACP) or (pfmt and flags & LOCALE_NOUSEROVERRIDE):
        c.set_last_error(ERROR_INVALID_FLAGS)
        return None
    codec = ansi_codec(c, loc, flags)
    if wide:
        text = c.wstr(pvalue, MAX_VALUE)
    else:
        raw = c.cstr(pvalue, MAX_VALUE)
        text = None if raw is None else raw.decode(codec, "replace")
    value = parse_value(text)
    if value is None:
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return None
    return value, codec


def _number(c, loc, flags, pvalue, pfmt, buf, cch, wide) -> int:
    got = _common(c, loc, flags, pvalue, pfmt, buf, cch, wide)
    if got is None:
        return 0
    value, codec = got
    t = locale_table(c, loc)
    if pfmt:
        f = _read_fmt(c, pfmt, wide, codec, False)
        if f is None:
            c.set_last_error(ERROR_INVALID_PARAMETER)
            return 0
        sizes, repeat = groups_of_uint(f["grouping"])
        digits, lzero, dec, thou, neg = f["digits"], f["lzero"], f["dec"], f["thou"], f["neg"]
    else:
        sizes, repeat = groups_of_string(t[0x10])
        digits, lzero, dec, thou, neg = int(t[0x11]), int(t[0x12]), t[0x0E], t[0x0F], int(t[0x1010])
    text = format_amount(value, digits, lzero, sizes, repeat, dec, thou)
    if _is_negative(value):
        text = NEG_NUMBER[neg].format(n=text, s=t[0x51])
    return _out(c, buf, cch, text, wide, codec)


def _currency(c, loc, flags, pvalue, pfmt, buf, cch, wide) -> int:
    got = _common(c, loc, flags, pvalue, pfmt, buf, cch, wide)
    if got is None:
        return 0
    value, codec = got
    t = locale_table(c, loc)
    if pfmt:
        f = _read_fmt(c, pfmt, wide, codec, True)
        if f is None:
            c.set_last_error(ERROR_INVALID_PARAMETER)
            return 0
        sizes, repeat = groups_of_uint(f["grouping"])
        digits, lzero, dec, thou = f["digits"], f["lzero"], f["dec"], f["thou"]
        neg, pos, sym = f["neg"], f["pos"], f["sym"]
    else:
        sizes, repeat = groups_of_string(t[0x18])
        digits, lzero, dec, thou = int(t[0x19]), int(t[0x12]), t[0x16], t[0x17]
        neg, pos, sym = int(t[0x1C]), int(t[0x1B]), t[0x14]
    text = format_amount(value, digits, lzero, sizes, repeat, dec, thou)
    if _is_negative(value):
        text = NEG_CURRENCY[neg].format(n=text, c=sym, s=t[0x51])
    else:
        text = POS_CURRENCY[pos].format(n=text, c=sym)
    return _out(c, buf, cch, text, wide, codec)


# ------------------------------------------------------------------------------------------ the APIs
@api(K32, "int WINAPI GetNumberFormatA(LCID Locale, DWORD dwFlags, LPVOID lpValue, LPVOID lpFormat, "
     "LPSTR lpNumberStr, int cchNumber)")
def GetNumberFormatA(c, lcid, flags, pvalue, pfmt, buf, cch):
    return _number(c, resolve_lcid(c, lcid), flags, pvalue, pfmt, buf, cch, False)


@api(K32, "int WINAPI GetNumberFormatW(LCID Locale, DWORD dwFlags, LPVOID lpValue, LPVOID lpFormat, "
     "LPWSTR lpNumberStr, int cchNumber)")
def GetNumberFormatW(c, lcid, flags, pvalue, pfmt, buf, cch):
    return _number(c, resolve_lcid(c, lcid), flags, pvalue, pfmt, buf, cch, True)


@api(K32, "int WINAPI GetNumberFormatEx(LPCWSTR lpLocaleName, DWORD dwFlags, LPVOID lpValue, LPVOID lpFormat, "
     "LPWSTR lpNumberStr, int cchNumber)")
def GetNumberFormatEx(c, name, flags, pvalue, pfmt, buf, cch):
    return _number(c, resolve_name(c, name), flags, pvalue, pfmt, buf, cch, True)


@api(K32, "int WINAPI GetCurrencyFormatA(LCID Locale, DWORD dwFlags, LPVOID lpValue, LPVOID lpFormat, "
     "LPSTR lpCurrencyStr, int cchCurrency)")
def GetCurrencyFormatA(c, lcid, flags, pvalue, pfmt, buf, cch):
    return _currency(c, resolve_lcid(c, lcid), flags, pvalue, pfmt, buf, cch, False)


@api(K32, "int WINAPI GetCurrencyFormatW(LCID Locale, DWORD dwFlags, LPVOID lpValue, LPVOID lpFormat, "
     "LPWSTR lpCurrencyStr, int cchCurrency)")
def GetCurrencyFormatW(c, lcid, flags, pvalue, pfmt, buf, cch):
    return _currency(c, resolve_lcid(c, lcid), flags, pvalue, pfmt, buf, cch, True)


@api(K32, "int WINAPI GetCurrencyFormatEx(LPCWSTR lpLocaleName, DWORD dwFlags, LPVOID lpValue, LPVOID lpFormat, "
     "LPWSTR lpCurrencyStr, int cchCurrency)")
def GetCurrencyFormatEx(c, name, flags, pvalue, pfmt, buf, cch):
    return _currency(c, resolve_name(c, name), flags, pvalue, pfmt, buf, cch, True)
