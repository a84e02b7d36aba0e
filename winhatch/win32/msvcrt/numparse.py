"""Number parsing and formatting of the C runtime (strtol/strtoul/strtod/atoi, _itoa), as pure functions.

They take the text (str, one char per byte for narrow strings) and return the value, the count of characters
consumed (for endptr), and the errno to set (0, ERANGE, EINVAL).
"""
from __future__ import annotations

import re

ERANGE, EINVAL = 34, 22
_WS = " \t\n\v\f\r"
_DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"


def strtoint(text: str, base: int, bits: int, signed: bool) -> tuple[int, int, int]:
    """strtol (bits 32, signed), strtoul (32, unsigned), strtoll/_strtoi64 (64, signed), strtoull (64, unsigned).

    Returns (value as the unsigned bit pattern, characters consumed (0 when nothing was converted), errno)."""
    mask = (1 << bits) - 1
    if base != 0 and not 2 <= base <= 36:
        return 0, 0, EINVAL
    i, n = 0, len(text)
    while i < n and text[i] in _WS:
        i += 1
    neg = False
    if i < n and text[i] in "+-":
        neg = text[i] == "-"
        i += 1
    if base in (0, 16) and i + 1 < n and text[i] == "0" and text[i + 1] in "xX" and \
            i + 2 < n and text[i + 2].lower() in _DIGITS[:16]:
        base = 16
        i += 2
    elif base == 0:
        base = 8 if i < n and text[i] == "0" else 10
    start = i
    value = 0
    while i < n:
        d = _DIGITS.find(text[i].lower())
        if d < 0 or d >= base:
            break
        value = value * base + d
        i += 1
    if i == start:
        return 0, 0, 0
    err = 0
    if signed:
        lim = (1 << (bits - 1)) - (0 if neg else 1)
        if value > lim:
            err = ERANGE
            value = lim
        v = -value if neg else value
    else:
        if value > mask:
            err = ERANGE
            v = mask
        else:
            v = -value if neg else value
    return v & mask, i, err


def to_signed(v: int, bits: int) -> int:
    return v - (1 << bits) if v & (1 << (bits - 1)) else v


# the float syntaxes, compiled on first use (re keeps them; compiling them at import was ~1 ms of every start-up)
_FLOAT_MSVCRT = r"[ \t\n\v\f\r]*([+-]?(?:\d+\.?\d*|\.\d+)(?:[eEdD][+-]?\d+)?)"
_FLOAT_UCRT = (r"[ \t\n\v\f\r]*([+-]?(?:0[xX](?:[0-9a-fA-F]+\.?[0-9a-fA-F]*|\.[0-9a-fA-F]+)"
               r"(?:[pP][+-]?\d+)?|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|inf(?:inity)?"
               r"|nan(?:\([0-9A-Za-z_]*\))?))")
_EXP_FIX = re.compile(r"([eEdD])([+-]?)$")


def strtod(text: str, ucrt: bool) -> tuple[float, int, int]:
    """strtod: (value, characters consumed (0 if none), errno). msvcrt accepts decimal forms only (and 'd' as
    an exponent letter); ucrt adds hexadecimal floats, inf/infinity and nan."""
    m = re.match(_FLOAT_UCRT, text, re.IGNORECASE) if ucrt else re.match(_FLOAT_MSVCRT, text)
    if not m:
        return 0.0, 0, 0
    num = m.group(1)
    end = m.end(1)
    low = num.lower().lstrip("+-")
    neg = num.startswith("-")
    if low.startswith("0x"):
        body = num.replace("0x", "").replace("0X", "")
        if "p" not in body.lower():
            body += "p0"
        v = float.fromhex(("-" if neg else "") + "0x" + body.lstrip("+-"))
        return v, end, 0
    if low.startswith("inf"):
        return (float("-inf") if neg else float("inf")), end, 0
    if low.startswith("nan"):
        return (float("-nan") if neg else float("nan")), end, 0
    v = float(num.replace("d", "e").replace("D", "e"))
    err = 0
    if v in (float("inf"), float("-inf")):
        err = ERANGE
    elif v == 0.0 and re.search(r"[1-9]", num.split("e")[0].split("E")[0]):
        err = ERANGE
    elif v != 0.0 and abs(v) < 2.2250738585072014e-308:
        err = ERANGE
    return v, end, err


def itoa(value: int, radix: int, bits: int, signed_decimal: bool) -> str | None:
    """_itoa/_ltoa/_i64toa (signed_decimal: negative numbers get '-' in radix 10 only; other radixes print the
    two's complement), _ultoa/_ui64toa (unsigned). None for a bad radix."""
    if not 2 <= radix <= 36:
        return None
    value &= (1 << bits) - 1
    neg = False
    if signed_decimal and radix == 10 and value >> (bits - 1):
        neg = True
        value = (1 << bits) - value
    if value == 0:
        digits = "0"
    else:
        out = []
        while value:
            value, d = divmod(value, radix)
            out.append(_DIGITS[d])
        digits = "".join(reversed(out))
    return ("-" if neg else "") + digits
