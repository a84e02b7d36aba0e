"""The C runtimes' floating-point-to-text conversions: _ecvt (the first N significant digits), _fcvt (N digits
after the decimal point), _gcvt (printf's %g in a caller's buffer) and their _s forms.

_ecvt and _fcvt return digits only: `*dec` is where the decimal point goes (value = 0.DIGITS x 10^dec), `*sign`
is nonzero for a negative value (-0.0 too). The last digit is rounded half away from zero on the value's exact
binary expansion (2.5 -> "3" with no digit after the point; checked with Wine's msvcrt). An _fcvt that keeps no
digit returns "" with the value's own decimal position (0.000123 with 3 decimals: "" and -3). Zero gives N zeros
and 0. The result lives in a buffer of the runtime's own, overwritten by the next call on the thread."""
from __future__ import annotations

import decimal
import math
import struct

from winhatch.win32.msvcrt import runtime as R
from winhatch.win32.msvcrt.format import Flavor, format_printf
from winhatch.win32.msvcrt.runtime import crt_api as api

BOTH = R.BOTH
CVTBUFSIZE = 349            # _CVTBUFSIZE: the longest digit string (309 digits + 40)


def digits(value: float, count: int, fractional: bool) -> tuple[str, int, bool]:
    """(digits, decimal position, negative) of `value` for _ecvt (count significant digits) or _fcvt
    (count digits after the point)."""
    neg = math.copysign(1.0, value) < 0
    v = abs(value)
    if math.isinf(v) or math.isnan(v):
        raise ValueError("not a finite value")
    if v == 0:
        return "0" * max(min(count, CVTBUFSIZE - 1), 0), 0, neg
    d = decimal.Decimal(v)                      # exact
    dec = d.adjusted() + 1                      # v = 0.xxx * 10^dec
    n = dec + count if fractional else count
    if n < 0:
        return "", dec, neg
    n = min(n, CVTBUFSIZE - 1)
    with decimal.localcontext() as ctx:
        ctx.prec = 800
        q = d.scaleb(-dec).quantize(decimal.Decimal(1).scaleb(-n), rounding=decimal.ROUND_HALF_UP)
        if q >= 1:                              # 0.999.. rounded up to 1.000..: one more place before the point
            dec += 1
            if fractional:
                n = min(n + 1, CVTBUFSIZE - 1)
            q = q.scaleb(-1).quantize(decimal.Decimal(1).scaleb(-n), rounding=decimal.ROUND_HALF_UP)
        text = format(q, "f")
    frac = text.partition(".")[2]
    return frac.ljust(n, "0")[:n], dec, neg


def _thread_buffer(c, s) -> int:
    return R.static_buffer(c, s, f"cvt:{c.thread.tid}", CVTBUFSIZE + 1)


def _put_int(c, ptr: int, v: int) -> None:
    c.write(ptr, struct.pack("<i", v))


def _cvt(c, value, count, dec_p, sign_p, fractional: bool) -> int:
    s = R.state(c)
    if not dec_p or not sign_p:
        R.invalid_parameter(c, R.EINVAL, s)
        return 0
    count = count if count < 1 << 31 else count - (1 << 32)
    try:
        digs, dec, neg = digits(value, count, fractional)
    except ValueError:
        R.not_implemented(c, f"{c.name} of an infinity or a NaN")
    buf = _thread_buffer(c, s)
    c.write(buf, digs.encode() + b"\0")
    _put_int(c, dec_p, dec)
    _put_int(c, sign_p, 1 if neg else 0)
    return buf


@api(BOTH, "char * __cdecl _ecvt(double value, int count, int *dec, int *sign)")
def _ecvt(c, value, count, dec_p, sign_p):
    return _cvt(c, value, count, dec_p, sign_p, False)


@api(BOTH, "char * __cdecl _fcvt(double value, int count, int *dec, int *sign)")
def _fcvt(c, value, count, dec_p, sign_p):
    return _cvt(c, value, count, dec_p, sign_p, True)


def _cvt_s(c, buf, size, value, count, dec_p, sign_p, fractional: bool) -> int:
    s = R.state(c)
    size &= (1 << (8 * c.ptr_size)) - 1
    if not buf or size == 0 or not dec_p or not sign_p:
        R.invalid_parameter(c, R.EINVAL, s)
        return R.EINVAL
    count = count if count < 1 << 31 else count - (1 << 32)
    try:
        digs, dec, neg = digits(value, count, fractional)
    except ValueError:
        R.not_implemented(c, f"{c.name} of an infinity or a NaN")
    if len(digs) + 1 > size:
        R.invalid_parameter(c, R.ERANGE, s)
        return R.ERANGE
    c.write(buf, digs.encode() + b"\0")
    _put_int(c, dec_p, dec)
    _put_int(c, sign_p, 1 if neg else 0)
    return 0


@api(BOTH, "errno_t __cdecl _ecvt_s(char *buffer, size_t size, double value, int count, int *dec, int *sign)")
def _ecvt_s(c, buf, size, value, count, dec_p, sign_p):
    return _cvt_s(c, buf, size, value, count, dec_p, sign_p, False)


@api(BOTH, "errno_t __cdecl _fcvt_s(char *buffer, size_t size, double value, int count, int *dec, int *sign)")
def _fcvt_s(c, buf, size, value, count, dec_p, sign_p):
    return _cvt_s(c, buf, size, value, count, dec_p, sign_p, True)


class _OneDouble:
    """format_printf's argument source for "%.*g": the precision, then the value."""

    def __init__(self, prec: int, value: float):
        self.items = [prec, value]

    def int32(self) -> int:
        return self.items.pop(0)

    def double(self) -> float:
        return self.items.pop(0)


def gcvt_text(c, value: float, ndigits: int) -> bytes:
    """printf's %g with `ndigits` significant digits, in the runtime's own exponent form. ucrt rounds a halfway
    value away from zero here (its legacy rounding), not to even as its printf does: _gcvt(2.5, 1) is "3"."""
    s = R.state(c)
    flavor = Flavor.MSVCRT if s.flavor == R.MSVCRT else Flavor.UCRT
    return format_printf(b"%.*g", _OneDouble(ndigits, value), wide=False, flavor=flavor, ptr_size=c.ptr_size,
                         two_digit_exponent=bool(s.output_format & 1), legacy_rounding=True)


@api(BOTH, "char * __cdecl _gcvt(double value, int digits, char *buffer)")
def _gcvt(c, value, ndigits, buf):
    s = R.state(c)
    ndigits = ndigits if ndigits < 1 << 31 else ndigits - (1 << 32)
    if not buf or ndigits < 0:
        R.invalid_parameter(c, R.EINVAL, s)
        return 0
    c.write(buf, gcvt_text(c, value, ndigits) + b"\0")
    return buf


@api(BOTH, "errno_t __cdecl _gcvt_s(char *buffer, size_t size, double value, int digits)")
def _gcvt_s(c, buf, size, value, ndigits):
    s = R.state(c)
    size &= (1 << (8 * c.ptr_size)) - 1
    ndigits = ndigits if ndigits < 1 << 31 else ndigits - (1 << 32)
    if not buf or size == 0 or ndigits < 0:
        R.invalid_parameter(c, R.EINVAL, s)
        return R.EINVAL
    text = gcvt_text(c, value, ndigits)
    if len(text) + 1 > size:
        c.write(buf, b"\0")
        R.invalid_parameter(c, R.ERANGE, s)
        return R.ERANGE
    c.write(buf, text + b"\0")
    return 0
