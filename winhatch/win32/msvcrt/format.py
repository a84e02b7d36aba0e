"""printf-family formatting with Windows CRT semantics, as a pure-Python engine.

The API handlers (sprintf, fprintf, wprintf, __stdio_common_vsprintf, ...) call :func:`format_printf`
with an :class:`ArgSource` that reads the guest's varargs; the engine returns the formatted text
(``bytes`` for the narrow functions, ``str`` for the wide ones) and the handler counts characters,
truncates for snprintf, and writes to the stream.

Two flavours:

* ``Flavor.MSVCRT`` -- the system msvcrt.dll that mingw-w64 links against (when the program is not
  built with ``__USE_MINGW_ANSI_STDIO``): 3-digit exponents, ``1.#INF00``-style specials,
  at most 17 significant decimal digits (then zeros), decimal rounding of halves away from zero,
  unknown conversion characters printed literally, ``F``/``N`` size prefixes, ``%n`` disabled.
* ``Flavor.UCRT`` -- ucrtbase.dll: C99 spellings (``inf``, ``nan``, ``-nan(ind)``), 2-digit
  exponents, exact decimal expansion, IEEE round-half-even of exactly representable ties
  (Windows 10 2004+), ``%F``, ``hh``, unknown conversions are an invalid parameter.
  ``options`` takes the ``_CRT_INTERNAL_PRINTF_*`` bits that __stdio_common_v*printf receive.

Errors Windows reports through the invalid-parameter handler (and ``-1`` from the function)
raise :class:`PrintfInvalidParameter`, carrying the text produced before the failure.
"""
from __future__ import annotations

import enum
import math
import struct
from typing import Protocol

__all__ = [
    "ArgSource", "Flavor", "PrintfInvalidParameter", "format_printf",
    "PRINTF_LEGACY_VSPRINTF_NULL_TERMINATION", "PRINTF_STANDARD_SNPRINTF_BEHAVIOR",
    "PRINTF_LEGACY_WIDE_SPECIFIERS", "PRINTF_LEGACY_MSVCRT_COMPATIBILITY",
    "PRINTF_LEGACY_THREE_DIGIT_EXPONENTS",
]

# ucrt's _CRT_INTERNAL_PRINTF_* option bits (corecrt_stdio_config.h)
PRINTF_LEGACY_VSPRINTF_NULL_TERMINATION = 0x01
PRINTF_STANDARD_SNPRINTF_BEHAVIOR = 0x02
PRINTF_LEGACY_WIDE_SPECIFIERS = 0x04
PRINTF_LEGACY_MSVCRT_COMPATIBILITY = 0x08
PRINTF_LEGACY_THREE_DIGIT_EXPONENTS = 0x10


class Flavor(enum.Flag):
    MSVCRT = 1
    UCRT = 2


class ArgSource(Protocol):
    """The guest's varargs, fetched in order (implemented by the API layer)."""

    def int32(self) -> int: ...          # next vararg, 32 bits (signed or unsigned: the engine masks)
    def int64(self) -> int: ...          # next vararg, 64 bits (two slots on x86)
    def ptr(self) -> int: ...            # pointer-sized vararg
    def double(self) -> float: ...       # next double vararg
    def cstr(self, ptr: int) -> bytes | None: ...   # NUL-terminated bytes at ptr (None for NULL)
    def wstr(self, ptr: int) -> str | None: ...     # NUL-terminated UTF-16 string at ptr
    def read(self, ptr: int, size: int) -> bytes: ...   # raw guest memory (for %Z)
    def write_int(self, ptr: int, value: int, size: int) -> None: ...   # for %n


class PrintfInvalidParameter(Exception):
    """The CRT would call the invalid parameter handler and return -1 (errno EINVAL/EILSEQ)."""

    def __init__(self, message: str, partial: bytes | str = b""):
        super().__init__(message)
        self.partial = partial


_NULL_STR = "(null)"
_FLAG_CHARS = "-+ #0"


class _Spec:
    __slots__ = ("left", "plus", "space", "alt", "zero", "width", "prec", "size", "wide", "short")

    def __init__(self) -> None:
        self.left = self.plus = self.space = self.alt = self.zero = False
        self.width = 0
        self.prec = -1
        self.size = 0       # integer argument size in bytes; 0 = default int
        self.wide = False   # l / w seen (wide char/string)
        self.short = False  # h seen (narrow char/string; short integer)


# ----------------------------------------------------------------------------------------------
# character set conversions


def _wide_to_narrow_char(ch: str, codepage: str | None) -> str | None:
    """One wide char -> its multibyte bytes (as a latin-1 str), None when not representable.

    codepage None is the "C" locale the CRT starts in: only U+0000..U+00FF convert (byte = code).
    """
    o = ord(ch)
    if codepage is None:
        return ch if o <= 0xFF else None
    try:
        return ch.encode(codepage).decode("latin-1")
    except (UnicodeEncodeError, LookupError):
        # Windows' wctomb uses WC_NO_BEST_FIT_CHARS and fails on the default char; the few
        # undefined cp1252 bytes (0x81, 0x8D, ...) round-trip to U+0081 etc.
        if o <= 0xFF and codepage.replace("-", "").lower() in ("cp1252", "1252", "windows1252"):
            return ch
        return None


def _narrow_to_wide(data: str, codepage: str | None) -> str:
    """Multibyte bytes (latin-1 str) -> wide str, as mbtowc in the given locale."""
    if codepage is None:
        return data
    raw = data.encode("latin-1")
    out = []
    try:
        return raw.decode(codepage)
    except (UnicodeDecodeError, LookupError):
        for b in raw:
            try:
                out.append(bytes([b]).decode(codepage))
            except (UnicodeDecodeError, LookupError):
                out.append(chr(b))
        return "".join(out)


# ----------------------------------------------------------------------------------------------
# floating point digit generation


def _classify(x: float) -> tuple[bool, str]:
    """(negative, kind) with kind in 'num', 'inf', 'ind', 'qnan', 'snan'."""
    bits = struct.unpack("<Q", struct.pack("<d", x))[0]
    neg = bool(bits >> 63)
    if math.isinf(x):
        return neg, "inf"
    if math.isnan(x):
        mant = bits & ((1 << 52) - 1)
        if not mant & (1 << 51):
            return neg, "snan"
        if neg:
            return neg, "ind"
        return neg, "qnan"
    return neg, "num"


def _exact_digits(x: float) -> tuple[str, int]:
    """|x| (finite, nonzero) as significant digits d1d2... and decpt: value = 0.d1d2... * 10**decpt."""
    from decimal import Decimal   # here: importing it costs every start-up ~2 ms, most programs print no float
    sign, digits, exp = Decimal(abs(x)).as_tuple()
    s = "".join(map(str, digits)).rstrip("0")
    decpt = len(digits) + exp
    return s, decpt


def _round_digits_half_up(digits: str, keep: int) -> tuple[str, int]:
    """msvcrt's _fptostr-style rounding of a digit string to `keep` chars (char arithmetic: the
    strings of 1.#INF etc. go through it too, giving the famous 1.#J). Returns (digits, carry)."""
    if keep < 0:
        return "", 0
    if keep >= len(digits):
        return digits + "0" * (keep - len(digits)), 0
    buf = list(digits[:keep])
    if digits[keep] >= "5":
        i = keep - 1
        while i >= 0 and buf[i] == "9":
            buf[i] = "0"
            i -= 1
        if i < 0:
            return "1" + "".join(buf), 1
        buf[i] = chr(ord(buf[i]) + 1)
    return "".join(buf), 0


def _scaled_round(x: float, k: int, half_even: bool) -> int:
    """round(x * 10**k) to an integer, exactly (ties: half-even or half-up)."""
    num, den = x.as_integer_ratio()
    if k >= 0:
        num *= 10 ** k
    else:
        den *= 10 ** -k
    q, r = divmod(num, den)
    if 2 * r > den or 2 * r == den and (not half_even or q & 1):
        q += 1
    return q


class _Digits:
    """Significant-digit generator for one finite value under a flavor's rules."""

    def __init__(self, x: float, msvcrt: bool, legacy_rounding: bool):
        self.x = abs(x)
        self.msvcrt = msvcrt
        self.half_even = not legacy_rounding
        if self.x == 0:
            self.digits, self.decpt = "", 0
            return
        s, d = _exact_digits(self.x)
        if msvcrt and len(s) > 17:
            # msvcrt converts to at most 17 significant digits, then pads with zeros
            q = str(_scaled_round(self.x, 17 - d, True))
            if len(q) > 17:
                d += 1
            s = q[:17].rstrip("0")
        self.digits, self.decpt = s, d

    def round_to(self, ndigits: int) -> tuple[str, int]:
        """Keep `ndigits` significant digits (may be <= 0 for %f of small values).

        Returns (digit string of length max(ndigits, 0), or one more on a carry; decpt)."""
        if self.x == 0:
            return "0" * max(ndigits, 0), 0 if ndigits <= 0 else 1
        if self.msvcrt:
            # msvcrt rounds its decimal digit string half away from zero
            if ndigits == 0:
                return ("1", self.decpt + 1) if self.digits[0] >= "5" else ("", self.decpt)
            s, carry = _round_digits_half_up(self.digits, ndigits)
            if carry:
                return s[:ndigits], self.decpt + 1
            return s, self.decpt
        if ndigits < 0:
            return "", self.decpt
        q = _scaled_round(self.x, ndigits - self.decpt, self.half_even)
        if q == 0:
            return "0" * ndigits, self.decpt
        t = str(q)
        if len(t) > ndigits:
            return (t[:ndigits] if ndigits > 0 else t), self.decpt + 1
        return t.rjust(ndigits, "0"), self.decpt


def _special_text(kind: str, flavor_msvcrt: bool, upper: bool) -> str:
    if flavor_msvcrt:
        return {"inf": "1#INF", "ind": "1#IND", "qnan": "1#QNAN", "snan": "1#SNAN"}[kind]
    s = {"inf": "inf", "ind": "nan(ind)", "qnan": "nan", "snan": "nan(snan)"}[kind]
    return s.upper() if upper else s


def _fmt_float(x: float, conv: str, spec: _Spec, msvcrt_style: bool, exp_digits: int,
               msvcrt_digits: bool, legacy_rounding: bool) -> tuple[str, str]:
    """Returns (sign/prefix, body) for e E f F g G a A."""
    neg, kind = _classify(x)
    sign = "-" if neg else "+" if spec.plus else " " if spec.space else ""
    upper = conv in "EFGA"
    prec = spec.prec
    if kind != "num" and not msvcrt_style:
        return sign, _special_text(kind, False, upper)
    if conv in "aA":
        if kind != "num":
            # as Wine's msvcrt prints it (0x1.#INF000000000p+0); unverified on Windows
            text = _special_text(kind if kind != "snan" else "qnan", True, False)
            p = 13 if prec < 0 else prec
            digs = text[1:].ljust(p, "0")[:p]
            s = "0x1" + ("." + digs if p > 0 or spec.alt else "") + "p+0"
            return sign, s.upper() if upper else s
        return sign, _fmt_hexfloat(abs(x), prec, upper, spec.alt)
    if prec < 0:
        prec = 6
    if kind == "snan":
        kind = "qnan"   # msvcrt prints signaling NaNs as 1.#QNAN (checked with Wine)
    if kind != "num":
        # msvcrt: the special string is treated as the digit string "1#INF" with decpt 1
        return sign, _legacy_special_layout(_special_text(kind, True, False), conv.lower(),
                                            spec, exp_digits, upper, prec)
    gen = _Digits(x, msvcrt_digits, legacy_rounding)
    c = conv.lower()
    if c == "f":
        return sign, _layout_f(gen, prec, spec.alt)
    if c == "e":
        return sign, _layout_e(gen, prec, spec.alt, exp_digits, upper)
    # g
    p = prec if prec > 0 else 1
    digs, decpt = gen.round_to(p)
    xexp = decpt - 1 if gen.x != 0 else 0
    if -4 <= xexp < p:
        body = _layout_f(gen, p - 1 - xexp, spec.alt)
        if not spec.alt and "." in body:
            body = body.rstrip("0").rstrip(".")
        return sign, body
    body = _layout_e(gen, p - 1, spec.alt, exp_digits, upper)
    if not spec.alt:
        mant, e = body.split("E" if upper else "e")
        if "." in mant:
            mant = mant.rstrip("0").rstrip(".")
        body = mant + ("E" if upper else "e") + e
    return sign, body


def _layout_f(gen: _Digits, prec: int, alt: bool) -> str:
    if gen.x == 0:
        digs, decpt = "0" * prec, 0
        ip = "0"
        frac = digs
    else:
        digs, decpt = gen.round_to(gen.decpt + prec)
        total = decpt + prec
        digs = digs[:max(total, 0)].ljust(max(total, 0), "0")
        if decpt > 0:
            ip = digs[:decpt]
            frac = digs[decpt:]
        else:
            ip = "0"
            frac = ("0" * (-decpt) + digs)[:prec]
        frac = frac.ljust(prec, "0")
    return ip + ("." + frac if prec > 0 or alt else "")


def _exp_text(e: int, exp_digits: int, upper: bool) -> str:
    return ("E" if upper else "e") + ("-" if e < 0 else "+") + str(abs(e)).rjust(exp_digits, "0")


def _layout_e(gen: _Digits, prec: int, alt: bool, exp_digits: int, upper: bool) -> str:
    if gen.x == 0:
        digs, e = "0" * (prec + 1), 0
    else:
        digs, decpt = gen.round_to(prec + 1)
        e = decpt - 1
    mant = digs[0] + ("." + digs[1:] if prec > 0 or alt else "")
    return mant + _exp_text(e, exp_digits, upper)


def _legacy_special_layout(text: str, c: str, spec: _Spec, exp_digits: int, upper: bool,
                           prec: int = 6) -> str:
    if c == "f":
        digs, _ = _round_digits_half_up(text, 1 + prec)
        return digs[0] + ("." + digs[1:] if prec > 0 else "")   # Wine: no '.' for "%#.0f" here
    if c == "e" or c == "a":
        digs, _ = _round_digits_half_up(text, 1 + prec)
        return digs[0] + ("." + digs[1:] if prec > 0 or spec.alt else "") + _exp_text(0, exp_digits, upper)
    # g: precision = significant digits; the special string is "too short" so layout as %f
    p = prec if prec > 0 else 1
    digs, _ = _round_digits_half_up(text, p)
    body = digs[0] + ("." + digs[1:] if p > 1 or spec.alt else "")
    if not spec.alt and "." in body:
        body = body.rstrip("0").rstrip(".")
    return body


def _fmt_hexfloat(x: float, prec: int, upper: bool, alt: bool) -> str:
    bits = struct.unpack("<Q", struct.pack("<d", x))[0]
    exp = (bits >> 52) & 0x7FF
    mant = bits & ((1 << 52) - 1)
    if exp == 0 and mant == 0:
        lead, e = 0, 0
    elif exp == 0:
        lead, e = 0, -1022
    else:
        lead, e = 1, exp - 1023
    if prec < 0:
        prec = 13
    if prec < 13:
        shift = 4 * (13 - prec)
        rem = mant & ((1 << shift) - 1)
        mant >>= shift
        if rem >= 1 << (shift - 1):   # halves round up
            mant += 1
            if mant >> (4 * prec):
                lead += 1
                mant &= (1 << (4 * prec)) - 1
        hexd = format(mant, "x").rjust(prec, "0") if prec else ""
    else:
        hexd = format(mant, "x").rjust(13, "0") + "0" * (prec - 13)
    s = "0x" + str(lead) + ("." + hexd if prec > 0 or alt else "") + "p" + ("-" if e < 0 else "+") + str(abs(e))
    return s.upper() if upper else s


# ----------------------------------------------------------------------------------------------
# the engine


def format_printf(fmt: bytes | str, args: ArgSource, *, wide: bool, flavor: Flavor = Flavor.MSVCRT,
                  ptr_size: int = 8, codepage: str | None = None, options: int | None = None,
                  count_output: bool = False, two_digit_exponent: bool = False,
                  legacy_rounding: bool = False) -> bytes | str:
    """Format like the CRT's printf family.

    fmt: the format (bytes for narrow functions, str for wide ones; bytes are taken as-is).
    wide: True for the wprintf family (result str), False for printf (result bytes).
    flavor: Flavor.MSVCRT or Flavor.UCRT.
    ptr_size: 4 (x86) or 8 (x64): %p width, %I, %Z layouts.
    codepage: the CRT locale's multibyte code page (Python codec name) for wide<->narrow string
        conversions; None is the "C" locale a program starts in (only U+0000..U+00FF convert).
    options: ucrt _CRT_INTERNAL_PRINTF_* bits (default: LEGACY_WIDE_SPECIFIERS, what the headers
        pass); ignored for msvcrt.
    count_output: _set_printf_count_output(1) was called (enables %n).
    two_digit_exponent: msvcrt _set_output_format(_TWO_DIGIT_EXPONENT).
    legacy_rounding: ucrt before Windows 10 2004 (and Wine): exact ties round half up.
    """
    if isinstance(fmt, bytes):
        fmt = fmt.decode("latin-1")
    msvcrt = Flavor.MSVCRT in flavor or Flavor.UCRT not in flavor
    if options is None:
        options = PRINTF_LEGACY_WIDE_SPECIFIERS
    legacy_compat = msvcrt or bool(options & PRINTF_LEGACY_MSVCRT_COMPATIBILITY)
    if msvcrt:
        exp_digits = 2 if two_digit_exponent else 3
        legacy_wide = True
    else:
        exp_digits = 3 if options & PRINTF_LEGACY_THREE_DIGIT_EXPONENTS else 2
        legacy_wide = bool(options & PRINTF_LEGACY_WIDE_SPECIFIERS)
    out: list[str] = []
    count = 0   # characters produced so far (for %n)

    def emit(s: str) -> None:
        nonlocal count
        out.append(s)
        count += len(s)

    def fail(msg: str):
        text = "".join(out)
        raise PrintfInvalidParameter(msg, text if wide else text.encode("latin-1"))

    def pad(prefix: str, body: str, spec: _Spec, zero_ok: bool = True) -> None:
        n = spec.width - len(prefix) - len(body)
        if spec.left:
            emit(prefix + body + " " * max(n, 0))
        elif spec.zero and zero_ok:
            emit(prefix + "0" * max(n, 0) + body)
        else:
            emit(" " * max(n, 0) + prefix + body)

    def to_out_from_wide(s: str) -> str | None:
        """Wide text into the output's char type (None: conversion failed)."""
        if wide:
            return s
        parts = []
        for ch in s:
            c = _wide_to_narrow_char(ch, codepage)
            if c is None:
                return None
            parts.append(c)
        return "".join(parts)

    def to_out_from_narrow(s: str) -> str:
        return _narrow_to_wide(s, codepage) if wide else s

    i = 0
    n = len(fmt)
    while i < n:
        ch = fmt[i]
        i += 1
        if ch != "%":
            emit(ch)
            continue
        if i >= n:
            if not msvcrt:
                fail("format ends after %")
            break
        spec = _Spec()
        # flags
        while i < n and fmt[i] in _FLAG_CHARS:
            f = fmt[i]
            if f == "-":
                spec.left = True
            elif f == "+":
                spec.plus = True
            elif f == " ":
                spec.space = True
            elif f == "#":
                spec.alt = True
            else:
                spec.zero = True
            i += 1
        # width: '*' and digits; msvcrt: digits after '*' keep accumulating ("%*1d",1 -> width 11)
        star_seen = False
        while i < n and (fmt[i] == "*" or fmt[i].isdigit() and fmt[i].isascii()):
            if fmt[i] == "*":
                star_seen = True
                w = _s32(args.int32())
                if w < 0:
                    spec.left = True
                    w = -w
                spec.width = w
            elif star_seen and not msvcrt:
                spec.width = int(fmt[i])     # ucrt (per Wine): digits after '*' start over
                star_seen = False
            else:
                spec.width = spec.width * 10 + int(fmt[i])
            i += 1
        if i < n and fmt[i] == ".":
            i += 1
            spec.prec = 0
            while i < n and (fmt[i] == "*" or fmt[i].isdigit() and fmt[i].isascii()):
                if fmt[i] == "*":
                    p = _s32(args.int32())
                    spec.prec = -1 if p < 0 else p
                else:
                    spec.prec = max(spec.prec, 0) * 10 + int(fmt[i])
                i += 1
        # size prefixes (msvcrt accepts any sequence of them)
        literal_from = None
        while i < n:
            c = fmt[i]
            if c == "h":
                if i + 1 < n and fmt[i + 1] == "h":
                    i += 1
                    spec.size = 1 if not msvcrt else 2   # msvcrt: hh is h
                else:
                    spec.size = 2
                spec.short = True
            elif c == "l":
                if i + 1 < n and fmt[i + 1] == "l":
                    i += 1
                    spec.size = 8
                else:
                    spec.size = spec.size if spec.size == 8 else 4
                spec.wide = True
            elif c == "L":
                spec.size = 8 if not msvcrt else spec.size   # ucrt: L on integers is 64-bit
            elif c == "w":
                spec.wide = True
            elif c == "j":
                spec.size = 8
            elif c in "zt":
                if msvcrt and not (i + 1 < n and fmt[i + 1] in "diouxXn"):
                    # msvcrt: z/t only size an integer conversion; otherwise the char is literal
                    literal_from = i
                    break
                spec.size = ptr_size
            elif c == "I":
                if fmt.startswith("64", i + 1):
                    spec.size = 8
                    i += 2
                elif fmt.startswith("32", i + 1):
                    spec.size = 4
                    i += 2
                elif i + 1 < n and fmt[i + 1] in "diouxX":
                    spec.size = ptr_size
                else:
                    literal_from = i
                    break
            elif c in "FN" and legacy_compat:
                pass   # far/near pointer prefixes: ignored
            else:
                break
            i += 1
        if literal_from is not None:
            # msvcrt: an 'I' that isn't I32/I64/I<int-conv> ends the spec and prints literally
            if not msvcrt:
                fail("bad I prefix")
            emit(fmt[literal_from])
            i = literal_from + 1
            continue
        if i >= n:
            if not msvcrt:
                fail("format ends inside a conversion")
            break
        conv = fmt[i]
        i += 1

        if conv in "di":
            v = _fetch_int(args, spec, signed=True)
            neg = v < 0
            digits = _int_digits(abs(v), 10, spec.prec)
            sign = "-" if neg else "+" if spec.plus else " " if spec.space else ""
            pad(sign, digits, spec, zero_ok=spec.prec < 0)
        elif conv in "ouxX":
            v = _fetch_int(args, spec, signed=False)
            base = 8 if conv == "o" else 16 if conv in "xX" else 10
            digits = _int_digits(v, base, spec.prec)
            if conv == "X":
                digits = digits.upper()
            prefix = ""
            if spec.alt:
                if conv == "o":
                    if not digits.startswith("0"):
                        digits = "0" + digits
                elif conv in "xX" and v != 0:
                    prefix = "0" + conv
            pad(prefix, digits, spec, zero_ok=spec.prec < 0)
        elif conv == "p":
            v = args.ptr() & ((1 << (8 * ptr_size)) - 1)
            digits = format(v, "X").rjust(2 * ptr_size, "0")
            if spec.prec > 2 * ptr_size and not msvcrt:
                digits = digits.rjust(spec.prec, "0")
            prefix = "0X" if spec.alt else ""
            # the implied precision turns off '0' padding
            pad(prefix, digits, spec, zero_ok=False)
        elif conv in "eEfgGaA" or conv == "F" and not legacy_compat:
            x = args.double()
            sign, body = _fmt_float(x, conv, spec, legacy_compat, exp_digits, msvcrt,
                                    legacy_rounding)
            _, kind = _classify(x)
            zero_ok = legacy_compat or kind == "num"
            pad(sign, body, spec, zero_ok=zero_ok)
        elif conv in "cC":
            v = args.int32()
            narrow_arg = _char_is_narrow(conv, spec, wide, legacy_wide, msvcrt)
            if narrow_arg:
                c = chr(v & 0xFF)
                if wide:
                    c = _narrow_to_wide(c, codepage)
                pad("", c, spec)
            else:
                wc = chr(v & 0xFFFF)
                c = to_out_from_wide(wc)
                if c is None:
                    # msvcrt/ucrt: an unconvertible %C prints nothing (no padding either)
                    c = ""
                    continue
                pad("", c, spec)
        elif conv in "sS":
            p = args.ptr()
            narrow_arg = _char_is_narrow(conv, spec, wide, legacy_wide, msvcrt)
            if narrow_arg:
                data = args.cstr(p) if p else None
                text = _NULL_STR if data is None else data.decode("latin-1")
                if spec.prec >= 0:
                    text = text[:spec.prec]
                pad("", to_out_from_narrow(text), spec)
            else:
                w = args.wstr(p) if p else None
                text = _NULL_STR if w is None else w
                if spec.prec >= 0:
                    text = text[:spec.prec]
                conv_text = to_out_from_wide(text)
                if conv_text is None:
                    fail("wide character not representable in the locale (EILSEQ)")
                pad("", conv_text, spec)
        elif conv == "Z":
            p = args.ptr()
            text = None
            if p:
                hdr = args.read(p, 4 + (4 if ptr_size == 8 else 0) + ptr_size)
                length = struct.unpack_from("<H", hdr, 0)[0]
                buf = int.from_bytes(hdr[ptr_size:2 * ptr_size], "little")
                if buf:
                    raw = args.read(buf, length)
                    is_wide = spec.wide     # only %wZ / %lZ is a UNICODE_STRING, in wprintf too
                    if is_wide:
                        text = raw.decode("utf-16-le", "surrogatepass")
                        t = to_out_from_wide(text)
                        if t is None:
                            fail("wide character not representable in the locale (EILSEQ)")
                        text = t
                    else:
                        text = to_out_from_narrow(raw.decode("latin-1"))
            if text is None:
                text = _NULL_STR
            if spec.prec >= 0:
                text = text[:spec.prec]
            pad("", text, spec)
        elif conv == "n":
            p = args.ptr()
            if not count_output:
                fail("%n is disabled (_set_printf_count_output)")
            size = spec.size or 4
            if spec.short and not msvcrt and spec.size == 1:
                size = 1
            args.write_int(p, count, size)
        elif conv == "%":
            emit("%")
        else:
            if not msvcrt:
                fail(f"unknown conversion %{conv}")
            # msvcrt prints an unknown conversion character literally (the spec is dropped)
            emit(conv)

    text = "".join(out)
    return text if wide else text.encode("latin-1")


def _char_is_narrow(conv: str, spec: _Spec, wide_func: bool, legacy_wide: bool, msvcrt: bool) -> bool:
    """Whether a c/C/s/S conversion takes a narrow (char) argument."""
    if spec.short or spec.wide:
        # both seen ("%hls"): msvcrt's narrow functions let l/w win, its wide ones let h win
        if spec.short and spec.wide:
            return wide_func
        return spec.short
    upper = conv.isupper()
    if not wide_func:
        return not upper
    if legacy_wide:
        return upper        # wprintf %s is wchar_t*, %S is char*
    return not upper        # ucrt ISO mode: %s is char* in wprintf too, %S the other width


def _s32(v: int) -> int:
    v &= 0xFFFFFFFF
    return v - (1 << 32) if v & 0x80000000 else v


def _fetch_int(args: ArgSource, spec: _Spec, signed: bool) -> int:
    size = spec.size
    if size == 8:
        v = args.int64()
        bits = 64
    else:
        v = args.int32()
        bits = {1: 8, 2: 16}.get(size, 32)
    v &= (1 << bits) - 1
    if signed and v >> (bits - 1):
        v -= 1 << bits
    return v


def _int_digits(v: int, base: int, prec: int) -> str:
    if prec == 0 and v == 0:
        return ""
    s = format(v, {8: "o", 10: "d", 16: "x"}[base])
    if prec > len(s):
        s = s.rjust(prec, "0")
    return s
