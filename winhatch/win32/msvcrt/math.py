"""C runtime math, shared by msvcrt.dll and ucrtbase.dll. Doubles arrive in xmm registers (x64) or on the
stack (x86) and are returned in xmm0 / st(0) by the @api mechanism. Domain and range errors set errno as the
CRT does (EDOM: NaN result of a non-NaN argument; ERANGE: overflow to infinity or underflow to zero)."""
from __future__ import annotations

import math
import struct

from winhatch.win32.msvcrt.runtime import crt_api as api
from winhatch.win32.msvcrt import runtime as R

BOTH = R.BOTH
INF = float("inf")
NAN = float("nan")
IND = struct.unpack("<d", struct.pack("<Q", 0xFFF8000000000000))[0]   # the x87/SSE default NaN (-nan(ind))


def _call(c, f, *args):
    """Evaluate f; Python's ValueError is a domain error (EDOM, the default NaN), OverflowError a range error."""
    try:
        r = f(*args)
    except ValueError:
        R.set_errno(c, R.EDOM)
        return IND
    except OverflowError:
        R.set_errno(c, R.ERANGE)
        return INF
    except ZeroDivisionError:
        R.set_errno(c, R.ERANGE)
        return -INF
    if math.isnan(r) and not any(isinstance(a, float) and math.isnan(a) for a in args):
        R.set_errno(c, R.EDOM)
    return r


FLT_MAX = 3.4028234663852886e38
#: the float forms ucrtbase exports for both architectures (x86's ucrtbase has only these: its other float
#: functions are inline in the headers and call the double ones)
_FLOAT_BOTH = {"truncf", "roundf", "log2f", "exp2f", "cbrtf"}


def _float_form(name: str, fn) -> None:
    """ucrtbase's float twin of a double function: computed in double, rounded to float; a result beyond the
    float range is ±HUGE_VALF with errno ERANGE, as C99's float functions report an overflow."""
    def ffn(c, x):
        r = fn(c, x)
        if math.isfinite(r) and abs(r) > FLT_MAX:
            R.set_errno(c, R.ERANGE)
            return math.copysign(INF, r)
        return r
    api(R.UCRT_DLL, f"float __cdecl {name}f(float x)")(ffn)


def _unary(name: str, f):
    def fn(c, x):
        if math.isnan(x):
            return x
        return _call(c, f, x)
    api(BOTH, f"double __cdecl {name}(double x)")(fn)
    if name != "fabs":   # ucrtbase has no fabsf export (the compilers inline it)
        _float_form(name, fn)


def _log(x):
    if x == 0:
        raise ZeroDivisionError
    return math.log(x)


def _log10(x):
    if x == 0:
        raise ZeroDivisionError
    return math.log10(x)


def _log2(x):
    if x == 0:
        raise ZeroDivisionError
    return math.log2(x)


def _exp(x):
    if x == INF:
        return INF
    if x == -INF:
        return 0.0
    return math.exp(x)


def _sqrt(x):
    if x < 0:
        raise ValueError
    return math.sqrt(x)


for _n, _f in (("sqrt", _sqrt), ("sin", math.sin), ("cos", math.cos), ("tan", math.tan), ("asin", math.asin),
               ("acos", math.acos), ("atan", math.atan), ("sinh", math.sinh), ("cosh", math.cosh),
               ("tanh", math.tanh), ("exp", _exp), ("log", _log), ("log10", _log10), ("fabs", math.fabs),
               ("floor", lambda x: float(math.floor(x)) if math.isfinite(x) else x),
               ("ceil", lambda x: float(math.ceil(x)) if math.isfinite(x) else x)):
    _unary(_n, _f)

for _n, _f in (("log2", _log2), ("exp2", lambda x: 2.0 ** x), ("cbrt", lambda x: math.copysign(abs(x) ** (1 / 3), x)),
               ("trunc", lambda x: float(math.trunc(x)) if math.isfinite(x) else x),
               ("round", lambda x: float(math.floor(abs(x) + 0.5)) * (1 if x >= 0 else -1) if math.isfinite(x) else x),
               ("asinh", math.asinh), ("acosh", math.acosh), ("atanh", math.atanh), ("expm1", math.expm1),
               ("log1p", math.log1p), ("erf", math.erf), ("erfc", math.erfc), ("tgamma", math.gamma),
               ("lgamma", math.lgamma)):
    def _mk(f, name):
        def fn(c, x):
            if math.isnan(x):
                return x
            return _call(c, f, x)
        api(R.UCRT_DLL, f"double __cdecl {name}(double x)")(fn)
        if f"{name}f" in _FLOAT_BOTH:
            _float_form(name, fn)
    _mk(_f, _n)


@api(BOTH, "double __cdecl pow(double x, double y)")
def pow_(c, x, y):
    if y == 0:
        return 1.0
    if math.isnan(x) or math.isnan(y):
        return x + y
    if x == 0 and y < 0:
        R.set_errno(c, R.ERANGE)
        odd = y == int(y) and int(y) % 2 == 1
        return math.copysign(INF, x) if odd else INF
    return _call(c, math.pow, x, y)


@api(BOTH, "double __cdecl atan2(double y, double x)")
def atan2(c, y, x):
    return _call(c, math.atan2, y, x)



@api(BOTH, "double __cdecl fmod(double x, double y)")
def fmod(c, x, y):
    if math.isnan(x) or math.isnan(y):
        return x + y
    if y == 0 or math.isinf(x):
        R.set_errno(c, R.EDOM)
        return IND
    return math.fmod(x, y)


@api(BOTH, "double __cdecl ldexp(double x, int e)")
def ldexp(c, x, e):
    e = e - (1 << 32) if e & 0x80000000 else e
    return _call(c, math.ldexp, x, e)


@api(BOTH, "double __cdecl frexp(double x, int *e)")
def frexp(c, x, pe):
    if math.isnan(x) or math.isinf(x):
        if pe:
            c.write_u32(pe, 0)
        return x
    m, e = math.frexp(x)
    if pe:
        c.write_u32(pe, e & 0xFFFFFFFF)
    return m


@api(BOTH, "double __cdecl modf(double x, double *ip)")
def modf(c, x, ip):
    if math.isinf(x):
        f, i = math.copysign(0.0, x), x
    elif math.isnan(x):
        f, i = x, x
    else:
        f, i = math.modf(x)
    if ip:
        c.write(ip, struct.pack("<d", i))
    return f


@api(BOTH, "double __cdecl _hypot(double x, double y)")
def _hypot(c, x, y):
    return _call(c, math.hypot, x, y)


api(R.UCRT_DLL, "double __cdecl hypot(double x, double y)")(_hypot)


@api(R.UCRT_DLL, "double __cdecl fmax(double x, double y)")
def fmax(c, x, y):
    if math.isnan(x):
        return y
    if math.isnan(y):
        return x
    return max(x, y)


@api(R.UCRT_DLL, "double __cdecl fmin(double x, double y)")
def fmin(c, x, y):
    if math.isnan(x):
        return y
    if math.isnan(y):
        return x
    return min(x, y)


@api(BOTH, "double __cdecl _copysign(double x, double y)")
def _copysign(c, x, y):
    return math.copysign(x, y)


api(R.UCRT_DLL, "double __cdecl copysign(double x, double y)")(_copysign)


@api(BOTH, "int __cdecl _isnan(double x)")
def _isnan(c, x):
    return 1 if math.isnan(x) else 0


@api(BOTH, "int __cdecl _finite(double x)")
def _finite(c, x):
    return 1 if math.isfinite(x) else 0


@api(BOTH, "double __cdecl _chgsign(double x)")
def _chgsign(c, x):
    return -x


@api(BOTH, "int __cdecl _fpclass(double x)")
def _fpclass(c, x):
    bits = struct.unpack("<Q", struct.pack("<d", x))[0]
    neg = bits >> 63
    if math.isnan(x):
        return 0x0002 if bits & (1 << 51) else 0x0001   # _FPCLASS_QNAN / _FPCLASS_SNAN
    if math.isinf(x):
        return 0x0004 if neg else 0x0200
    if x == 0:
        return 0x0020 if neg else 0x0040
    if abs(x) < 2.2250738585072014e-308:
        return 0x0010 if neg else 0x0080
    return 0x0008 if neg else 0x0100


@api(R.UCRT_DLL, "short __cdecl _dclass(double x)")
def _dclass(c, x):
    if math.isnan(x):
        return 2        # FP_NAN
    if math.isinf(x):
        return 1        # FP_INFINITE
    if x == 0:
        return 0        # FP_ZERO
    if abs(x) < 2.2250738585072014e-308:
        return 0xFFFE   # FP_SUBNORMAL (-2)
    return 0xFFFF       # FP_NORMAL (-1)


@api(R.UCRT_DLL, "int __cdecl _dsign(double x)")
def _dsign(c, x):
    return 0x8000 if math.copysign(1.0, x) < 0 else 0


@api(R.UCRT_DLL, "int __cdecl _dtest(double *px)")
def _dtest(c, px):
    (x,) = struct.unpack("<d", c.read(px, 8))
    return _dclass(c, x)


@api(R.UCRT_DLL, "long __cdecl lround(double x)")
def lround(c, x):
    if not math.isfinite(x):
        R.set_errno(c, R.EDOM)
        return 0x80000000
    return int(math.floor(abs(x) + 0.5) * (1 if x >= 0 else -1)) & 0xFFFFFFFF


@api(R.UCRT_DLL, "double __cdecl nearbyint(double x)")
def nearbyint(c, x):
    return float(round(x)) if math.isfinite(x) else x


api(R.UCRT_DLL, "double __cdecl rint(double x)")(nearbyint)


def _rint_int(c, x: float, bits: int) -> int:
    """lrint/llrint: round to nearest, ties to even (the default rounding mode); a NaN, an infinity or a value
    out of the type's range gives 0 (Microsoft's documentation of lrint; Wine returns LONG_MIN for some)."""
    lo = -(1 << (bits - 1))
    if math.isfinite(x):
        r = round(x)
        if lo <= r < -lo:
            return r & ((1 << bits) - 1)
    return 0


@api(R.UCRT_DLL, "long __cdecl lrint(double x)")
def lrint(c, x):
    return _rint_int(c, x, 32)


api(R.UCRT_DLL, "long __cdecl lrintf(float x)")(lrint)


@api(R.UCRT_DLL, "__int64 __cdecl llrint(double x)")
def llrint(c, x):
    return _rint_int(c, x, 64)


api(R.UCRT_DLL, "__int64 __cdecl llrintf(float x)")(llrint)


def _float2(name: str, fn) -> None:
    """ucrtbase's float twin of a two-argument double function (x64 exports it; x86 inlines it)."""
    def ffn(c, x, y):
        r = fn(c, x, y)
        if math.isfinite(r) and abs(r) > FLT_MAX:
            R.set_errno(c, R.ERANGE)
            return math.copysign(INF, r)
        return r
    api(R.UCRT_DLL, f"float __cdecl {name}f(float x, float y)")(ffn)


_float2("atan2", atan2)
_float2("pow", pow_)


@api(R.UCRT_DLL, "short __cdecl _fdclass(float x)")
def _fdclass(c, x):
    if math.isnan(x):
        return 2
    if math.isinf(x):
        return 1
    if x == 0:
        return 0
    if abs(x) < 1.1754943508222875e-38:       # FLT_MIN: subnormal floats
        return 0xFFFE
    return 0xFFFF


@api(R.UCRT_DLL, "int __cdecl _fdsign(float x)")
def _fdsign(c, x):
    return 0x8000 if math.copysign(1.0, x) < 0 else 0


@api(R.UCRT_DLL, "short __cdecl _fdtest(float *px)")
def _fdtest(c, px):
    (x,) = struct.unpack("<f", c.read(px, 4))
    return _fdclass(c, x)


# x86 msvcrt helpers the compiler calls for float -> integer conversions (value in st(0))
@api(R.MSVCRT_DLL, "__int64 __cdecl _ftol(void)")
def _ftol(c):
    return _st0_to_int(c)


def _st0_to_int(c) -> int:
    """Pop st(0) and truncate it to a 64-bit integer (edx:eax)."""
    cpu = c.cpu
    fpsw = cpu.reg("fpsw")
    top = (fpsw >> 11) & 7
    raw = cpu.reg(f"fp{top}")
    mant = raw & ((1 << 64) - 1)
    se = raw >> 64
    sign = -1 if se & 0x8000 else 1
    exp = (se & 0x7FFF) - 16383 - 63
    v = mant * (2.0 ** exp) if mant else 0.0
    cpu.set_reg("fptag", cpu.reg("fptag") | (3 << (2 * top)))
    cpu.set_reg("fpsw", (fpsw & ~0x3800) | (((top + 1) & 7) << 11))
    if not math.isfinite(v) or abs(v) >= 2.0 ** 63:
        return 1 << 63
    return int(sign * v) & ((1 << 64) - 1)


api(R.MSVCRT_DLL, "__int64 __cdecl _ftol2(void)")(_ftol)
api(R.MSVCRT_DLL, "__int64 __cdecl _ftol2_sse(void)")(_ftol)


@api(R.MSVCRT_DLL, "double __cdecl _CIsqrt(void)")
def _CIsqrt(c):
    return _ci(c, _sqrt)


def _ci(c, f):
    """msvcrt's _CI* intrinsics: the argument is st(0) (popped), the result returned in st(0)."""
    cpu = c.cpu
    fpsw = cpu.reg("fpsw")
    top = (fpsw >> 11) & 7
    raw = cpu.reg(f"fp{top}")
    mant = raw & ((1 << 64) - 1)
    se = raw >> 64
    e = se & 0x7FFF
    if e == 0x7FFF:
        x = NAN if mant & ((1 << 63) - 1) else INF
    else:
        x = mant * (2.0 ** (e - 16383 - 63)) if mant else 0.0
    if se & 0x8000:
        x = -x
    cpu.set_reg("fptag", cpu.reg("fptag") | (3 << (2 * top)))
    cpu.set_reg("fpsw", (fpsw & ~0x3800) | (((top + 1) & 7) << 11))
    return _call(c, f, x)


for _n, _f in (("_CIsin", math.sin), ("_CIcos", math.cos), ("_CItan", math.tan), ("_CIexp", _exp),
               ("_CIlog", _log), ("_CIlog10", _log10), ("_CIatan", math.atan), ("_CIasin", math.asin),
               ("_CIacos", math.acos)):
    def _mkci(f):
        return lambda c: _ci(c, f)
    api(R.MSVCRT_DLL, f"double __cdecl {_n}(void)")(_mkci(_f))
