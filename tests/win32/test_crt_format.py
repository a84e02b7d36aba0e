"""printf/scanf engine (winhatch.win32.msvcrt.format / .scan) against Windows CRT output.

One case table (PRINTF_CASES / SCANF_CASES below) generates both the C fixture
tests/fixtures/src/crt_format.c and the Python-side expectations, so they can't drift.
The fixture is built with mingw-w64 against msvcrt.dll (-D__USE_MINGW_ANSI_STDIO=0, otherwise mingw
links its own C99 printf) and against ucrtbase (-DWH_UCRT, specs swapping -lmsvcrt for -lucrt), run
under wine64, and the output is committed as tests/fixtures/expected/crt_format.{msvcrt,ucrt}.x64.txt.

Re-record (needs mingw + wine64):   WINHATCH_RECORD=1 .venv/bin/python -m tests.win32.test_crt_format
    (or `.venv/bin/python tests/win32/test_crt_format.py --record`)

Where Wine is known to differ from Windows a case carries `windows=` (the Windows output, taken
from Microsoft's documentation or Wine's own conformance tests that pass on Windows): the
recorded Wine line is kept for reference and the engine is checked against the Windows text.
"""
from __future__ import annotations

import math
import os
import struct
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from winhatch.win32.msvcrt.format import Flavor, PrintfInvalidParameter, format_printf  # noqa: E402
from winhatch.win32.msvcrt.scan import format_scanf  # noqa: E402

SRC = ROOT / "tests" / "fixtures" / "src" / "crt_format.c"
EXPECTED = ROOT / "tests" / "fixtures" / "expected"


# ------------------------------------------------------------------------------------------------
# typed vararg values


@dataclass(frozen=True)
class I32:
    v: int


@dataclass(frozen=True)
class I64:
    v: int


@dataclass(frozen=True)
class Dbl:
    v: float | int   # an int is the raw IEEE bit pattern (NaN payloads)

    def value(self) -> float:
        if isinstance(self.v, int):
            return struct.unpack("<d", struct.pack("<Q", self.v))[0]
        return self.v

    def bits(self) -> int:
        return self.v if isinstance(self.v, int) else struct.unpack("<Q", struct.pack("<d", self.v))[0]


@dataclass(frozen=True)
class Str:          # char* (None = NULL)
    v: bytes | None


@dataclass(frozen=True)
class WStr:         # wchar_t*
    v: str | None


@dataclass(frozen=True)
class Ptr:
    v: int


@dataclass(frozen=True)
class ZStr:         # ANSI_STRING* / UNICODE_STRING* (wide when v is str)
    v: bytes | str


@dataclass(frozen=True)
class NPtr:         # int* for %n
    pass


IND = 0xFFF8000000000000   # the default NaN (x87/SSE "indefinite")
QNAN = 0x7FF8000000000000
NEG_QNAN = 0xFFF8000000000001
SNAN = 0x7FF0000000000001
INF = math.inf


@dataclass
class P:
    fmt: str
    args: tuple = ()
    wide: bool = False
    locale: str | None = None           # setlocale() name; Python codepage derived below
    windows: str | None = None          # the Windows output where Wine differs (msvcrt)
    windows_ucrt: str | None = None     # same for ucrt

    def __init__(self, fmt, *args, wide=False, locale=None, windows=None, windows_ucrt=None):
        self.fmt, self.args, self.wide, self.locale = fmt, args, wide, locale
        self.windows, self.windows_ucrt = windows, windows_ucrt


def W(fmt, *args, **kw):
    return P(fmt, *args, wide=True, **kw)


PRINTF_CASES: list[P] = [
    # --- integers: flags, width, precision
    P("%d", I32(0)), P("%d", I32(-1)), P("%d", I32(2147483647)), P("%d", I32(-2147483648)),
    P("%i", I32(42)), P("%5d", I32(42)), P("%-5d|", I32(42)), P("%05d", I32(42)), P("%05d", I32(-42)),
    P("%+d", I32(42)), P("%+d", I32(-42)), P("% d", I32(42)), P("%+ d", I32(1)), P("% 05d", I32(7)),
    P("%.3d", I32(7)), P("%8.3d", I32(-7)), P("%-8.3d|", I32(17)),
    # a precision turns the 0 flag off ("according to ANSI", as the CRT source says); Wine zero-pads
    P("%08.3d", I32(17), windows="     017", windows_ucrt="     017"),
    P("%.0d", I32(0)), P("%5.0d|", I32(0)), P("%.0d", I32(1)), P("%+.0d", I32(0)), P("% .0d", I32(0)),
    P("%-+ 08.5d|", I32(100)), P("%3d", I32(1234)), P("%-1d", I32(2)),
    P("%u", I32(-1)), P("%+u", I32(5)), P("%o", I32(8)), P("%#o", I32(8)), P("%#o", I32(0)),
    P("%#.0o", I32(0), windows="0", windows_ucrt="0"),  # '#' forces a leading 0; Wine prints nothing
    P("%#5o", I32(8)), P("%#08o", I32(1)), P("%#.3o", I32(8)),
    P("%x", I32(255)), P("%X", I32(255)), P("%#x", I32(255)), P("%#X", I32(255)), P("%#x", I32(0)),
    P("%#012x", I32(1)), P("%#012x", I32(0)), P("%#04.8x", I32(1)), P("%#-08.2x|", I32(1)),
    P("%#.0x", I32(0)), P("%#.0x", I32(1)), P("%+x", I32(1)), P("% x", I32(1)), P("%x", I32(-1)),
    P("%*d", I32(6), I32(42)), P("%*d|", I32(-6), I32(42)), P("%-*d|", I32(-6), I32(42)),
    P("%.*d", I32(4), I32(42)), P("%.*d", I32(-4), I32(42)), P("%*.*d", I32(8), I32(4), I32(-42)),
    P("%*1d", I32(1), I32(3)), P("%0*0d", I32(1), I32(2)), P("% *2d", I32(0), I32(7)),
    # --- size prefixes
    P("%hd", I32(0x12345)), P("%hd", I32(0x18000)), P("%hu", I32(-1)), P("%hx", I32(0x12345)),
    P("%hhd", I32(0x1FF)), P("%hhx", I32(0x123)), P("%hhu", I32(-1)),
    P("%ld", I32(-5)), P("%lu", I32(-5)), P("%lx", I32(-5)),
    P("%lld", I64(-8589934591)), P("%llu", I64(-1)), P("%llx", I64(0x123456789ABCDEF)),
    P("%I64d", I64(-8589934591)), P("%I64u", I64(-1)), P("%I64x", I64(-100)), P("%I64X", I64(-100)),
    P("%I32d", I32(-1)), P("%I32x", I32(-1)), P("%Id", I64(-2)), P("%Ix %d", I64(0x12345678123456), I32(1)),
    P("%Iu", I64(-1)), P("%jd", I64(-1)), P("%zd", I64(-1)), P("%zu", I64(-1)), P("%td", I64(-3)),
    P("%zx", I64(0x100000000)), P("%Ld", I32(8)),
    P("%+8I64d", I64(100)), P("%+.8I64d", I64(100)), P("%-8.5I64d|", I64(-100)), P("%05I64d", I64(-100)),
    P("%#+21.18I64x", I64(-100)), P("%#.25I64o", I64(-100)), P("%#+18.21I64X", I64(-100)),
    P("%#+25.22I64u", I64(-1)), P("%+#25.22I64d", I64(-1)), P("%.80I64d", I64(1)), P("% .80d", I32(1)),
    # --- msvcrt parsing oddities: unknown characters print literally, truncated specs print nothing
    P("%_1I64d", I64(100)), P("%I", I32(1)), P("%Iq", I32(1)), P("%Ihd", I32(1)), P("%I0d", I32(1)),
    P("%I64D", I64(-1)), P("%b", I32(1)), P("%5y|", I32(1)), P("%k%m%q%r%v%y", I32(1)),
    P("%3h", I32(1)), P("%w", I32(1)), P("%h", I32(1)), P("%j", I64(1)), P("%z", I32(1)), P("%t", I32(1)),
    P("%F", I32(1)), P("%N", I32(1)), P("%H", I32(1)), P("%%0"), P("100%%"),
    # '%' after flags/width is an ordinary character to the CRT's state machine; Wine drops it
    P("%5%|", windows="%|"), P("%-5%|", windows="%|"),
    P("abc%"), P("%w0s", WStr("wide")), P("%w-s", WStr("wide")),
    # --- pointers
    P("%p", Ptr(0x1234)), P("%p", Ptr(0)), P("%p", Ptr(0xFFFFFFFFFFFFFFFF)), P("%20p|", Ptr(57)),
    P("%-20p|", Ptr(57)), P("%020p|", Ptr(57)), P("%#020p|", Ptr(57)), P("%#-020p|", Ptr(57)),
    P("%#p", Ptr(57)),
    P("%.4p", Ptr(57), windows="0000000000000039"),  # %p forces precision 2*sizeof(void*); Wine: "0000" P("%.20p", Ptr(57)), P("%Fp", Ptr(57)), P("%Np", Ptr(57)),
    P("%lp", Ptr(57)), P("%hp", Ptr(57)), P("%+p", Ptr(57)),
    # --- chars and strings (narrow printf)
    P("%c", I32(ord("a"))), P("%3c|", I32(ord("a"))), P("%-3c|", I32(ord("a"))), P("%04c", I32(ord("1"))),
    P("x%cx", I32(0x158)), P("%c", I32(0xA082)), P("[%c]", I32(0)), P("%hc", I32(0x41)), P("%lc", I32(0xE9)),
    P("%C", I32(ord("a"))), P("%C", I32(0x3042)), P("a%Cb", I32(0x3042)), P("a%5Cb", I32(0x3042), windows="ab"),  # unconvertible %C outputs nothing at all; Wine: "a "
    P("%wc", I32(0x20AC)),
    P("%s", Str(b"hello")), P("%10s|", Str(b"hello")), P("%-10s|", Str(b"hello")), P("%04s", Str(b"foo")),
    P("%.1s", Str(b"foo")), P("%.0s|", Str(b"foo")), P("%.*s", I32(2), Str(b"foo")), P("%*s|", I32(-5), Str(b"foo")),
    P("%s", Str(None)), P("%.3s", Str(None)), P("%10s|", Str(None)), P("%s", Str(b"%%%%")),
    P("%s", Str(b"caf\xe9")), P("%hs", Str(b"narrow")), P("%Ls", Str(b"not wide")),
    P("%S", WStr("wide")), P("%ls", WStr("wide")), P("%ws", WStr("wide")), P("%-10ws|", WStr("wide")),
    P("%10ws|", WStr("wide")), P("%.2S", WStr("wide")), P("%S", WStr(None)), P("%ls", WStr(None)),
    P("%#+ -03whlls", WStr("wide")), P("%S", WStr("caf\xe9")), P("%S", WStr("a\u3042b")),
    P("%S", WStr("\u20ac")),
    P("%S", WStr("caf\xe9 \u20ac"), locale=".1252"), P("%C", I32(0x20AC), locale=".1252"),
    P("%S", WStr("a\u3042b"), locale=".1252"), P("%s", Str(b"\x80\x81"), locale=".1252"),
    # %Z (ANSI_STRING*/UNICODE_STRING* with w) is documented by Microsoft; Wine's printf lacks it
    P("%Z", ZStr(b"ansi"), windows="ansi", windows_ucrt="ansi"),
    P("%wZ", ZStr("uni"), windows="uni", windows_ucrt="uni"),
    P("%.2Z", ZStr(b"ansi"), windows="an", windows_ucrt="an"),
    P("%8Z|", ZStr(b"ansi"), windows="    ansi|", windows_ucrt="    ansi|"),
    P("%Z", Ptr(0), windows="(null)", windows_ucrt="(null)"),
    # --- %n (disabled by default on Windows: invalid parameter, -1)
    P("ab%ncd", NPtr(), windows=-1, windows_ucrt=-1),  # Wine's msvcrt writes it
    # --- floating point: %f
    P("%f", Dbl(0.0)), P("%f", Dbl(-0.0)), P("%f", Dbl(1.0)), P("%f", Dbl(-1.5)), P("%f", Dbl(3.14159265358979)),
    P("%.0f", Dbl(0.5)), P("%.0f", Dbl(1.5)), P("%.0f", Dbl(2.5)), P("%.0f", Dbl(-0.5)), P("%.0f", Dbl(-1.5)),
    P("%.0f", Dbl(0.6)), P("%.0f", Dbl(0.4)), P("%.1f", Dbl(0.25)), P("%.1f", Dbl(0.35)), P("%.2f", Dbl(0.125)),
    P("%.2f", Dbl(1.005)), P("%.1f", Dbl(2.35)), P("%.3f", Dbl(1.0005)), P("%.1f", Dbl(0.05)),
    P("%#.0f", Dbl(3.0)), P("%+f", Dbl(1.0)), P("% f", Dbl(1.0)), P("%010.3f", Dbl(-3.14159)),
    P("%-10.2f|", Dbl(3.14159)), P("%+010.2f", Dbl(3.14159)), P("%2.4f", Dbl(8.6)), P("%0f", Dbl(0.6)),
    P("%f", Dbl(1e15)), P("%f", Dbl(123456789.125)), P("%.3f", Dbl(1e-10)), P("%f", Dbl(2.5e-7)),
    P("%.10f", Dbl(3.14159265359)), P("%.15f", Dbl(math.pi)), P("%.14f", Dbl(37.866261574537077)),
    P("%.13f", Dbl(37.866261574537077)), P("%Lf", Dbl(1.25)), P("%lf", Dbl(1.25)),
    P("%.20f", Dbl(0.1), windows="0.10000000000000001000"),
    P("%.30f", Dbl(1.0 / 3.0), windows="0.333333333333333310000000000000"),
    P("%.30f", Dbl(math.sqrt(2)), windows="1.414213562373095100000000000000"),
    P("%f", Dbl(1e30), windows="1000000000000000000000000000000.000000"),
    P("%.0f", Dbl(1.7976931348623157e308),
      windows="17976931348623157" + "0" * 292),
    P("%.17f", Dbl(0.1), windows="0.10000000000000001"),
    P("%.19f", Dbl(1.0 / 3.0), windows="0.3333333333333333100"),
    P("%.0f", Dbl(123456789012345678.0), windows="123456789012345680"),
    # --- %e
    P("%e", Dbl(0.0)), P("%e", Dbl(1.0)), P("%e", Dbl(-1.0)), P("%E", Dbl(12345.678)), P("%e", Dbl(1e-300)),
    P("%e", Dbl(1e300)), P("%e", Dbl(5e-324)), P("%.0e", Dbl(12345.0)), P("%#.0e", Dbl(12345.0)),
    P("%.0e", Dbl(2.5)), P("%.0e", Dbl(3.5)), P("%.2e", Dbl(1.125)), P("%+#23.15e", Dbl(789456123.0)),
    P("%-#23.15e|", Dbl(789456123.0)), P("% 014.4e", Dbl(8.6)), P("%2.4e", Dbl(8.6)), P("% 2.4e", Dbl(-8.6)),
    P("%12.3e|", Dbl(-0.000123456)), P("%.3e", Dbl(9.9996)), P("%e", Dbl(-0.0)),
    P("%.20e", Dbl(0.1), windows="1.00000000000000010000e-001"),
    # --- %g
    P("%g", Dbl(0.0)), P("%g", Dbl(-0.0)), P("%g", Dbl(1.0)), P("%g", Dbl(100000.0)), P("%g", Dbl(1000000.0)),
    P("%g", Dbl(1e-4)), P("%g", Dbl(1e-5)), P("%g", Dbl(0.0005)), P("%g", Dbl(0.00005)),
    P("%g", Dbl(123456.5)), P("%g", Dbl(1234567.0)), P("%G", Dbl(1e-10)), P("%g", Dbl(999999.5)),
    P("%g", Dbl(999999999999999.0)), P("%.15g", Dbl(999999999999999.0)), P("%.15g", Dbl(1e15)),
    P("%#g", Dbl(1.0)), P("%#g", Dbl(100000.0)), P("%#.3g", Dbl(1.0)), P("%#1.1g", Dbl(789456123.0)),
    P("%.0g", Dbl(123.0)), P("%.1g", Dbl(0.95)), P("%.2g", Dbl(99.9)), P("%.3g", Dbl(99.95)),
    P("%.17g", Dbl(0.1)), P("%.20g", Dbl(0.1), windows="0.10000000000000001"),
    P("%2.4g", Dbl(8.6)), P("%10.3g|", Dbl(3.14159)), P("%-10.3g|", Dbl(314159.0)), P("%010g", Dbl(-1.5)),
    P("%g", Dbl(2.5e-5)), P("%.10g", Dbl(1.0 / 3.0)),
    # --- %a
    P("%a", Dbl(1.0)), P("%A", Dbl(-2.5)), P("%a", Dbl(0.0)), P("%a", Dbl(0.1)), P("%.3a", Dbl(1.0)),
    P("%.1a", Dbl(1.96875)), P("%.0a", Dbl(1.5)), P("%a", Dbl(5e-324)), P("%a", Dbl(1e300)),
    P("%#.0a", Dbl(1.0)), P("%20a|", Dbl(1.0)), P("%.20a", Dbl(1.0)),
    # --- infinities and NaNs
    P("%f", Dbl(INF)), P("%f", Dbl(-INF)), P("%e", Dbl(INF)), P("%g", Dbl(INF)), P("%E", Dbl(INF)),
    P("%G", Dbl(-INF)), P("%F", Dbl(INF)), P("%a", Dbl(INF)),
    P("%f", Dbl(IND)), P("%e", Dbl(IND)), P("%g", Dbl(IND)), P("%f", Dbl(QNAN)), P("%e", Dbl(QNAN)),
    P("%g", Dbl(QNAN)), P("%f", Dbl(NEG_QNAN)), P("%f", Dbl(SNAN)), P("%g", Dbl(SNAN)),
    P("%.0f", Dbl(INF)), P("%.1f", Dbl(INF)), P("%.2f", Dbl(INF)), P("%.3f", Dbl(INF)), P("%.10f", Dbl(INF)),
    P("%.3g", Dbl(INF)), P("%.1e", Dbl(INF)), P("%#.0f", Dbl(INF)),
    P("%010.2lf", Dbl(IND)), P("%010.2lf", Dbl(QNAN)), P("%010.2lf", Dbl(INF)), P("%12f|", Dbl(INF)),
    P("%-12f|", Dbl(-INF), windows="-1.#INF00   |"),  # Wine drops the 00 only when left-justifying P("%+f", Dbl(INF)), P("%+f", Dbl(QNAN)), P("% f", Dbl(INF)),
    # --- mixed
    P("%s=%d (%5.2f%%)", Str(b"x"), I32(3), Dbl(12.345)), P("%d %lld %d", I32(1), I64(2), I32(3)),
    P("%c%c%c", I32(ord("a")), I32(ord("b")), I32(ord("c"))),
    # --- wide printf (legacy wide semantics: %s is wchar_t*, %S is char*)
    W("%s", WStr("wide")), W("%S", Str(b"narrow")), W("%hs", Str(b"narrow")), W("%ls", WStr("wide")),
    W("%ws", WStr("wide")), W("%s", WStr(None)), W("%S", Str(None)), W("%s", WStr("a\u3042b")),
    W("%hs", Str(b"caf\xe9")), W("%hs", Str(b"\x80"), locale=".1252"), W("%c", I32(0x3042)),
    W("%C", I32(0x41)), W("%hc", I32(0xE9)), W("%lc", I32(0x3042)), W("%5c|", I32(0x3042)),
    W("%d %5.2f %x %p", I32(-3), Dbl(2.345), I32(255), Ptr(0x1234)), W("%e", Dbl(1.0)), W("%f", Dbl(INF)),
    W("%.3s", WStr("abcdef")), W("%-6s|", WStr("ab")), W("%wZ", ZStr("uni"), windows="uni", windows_ucrt="uni"),
    W("%Z", ZStr(b"ansi"), windows="ansi", windows_ucrt="ansi"),
    W("%y%5q|"), W("%I64d", I64(-5)),
]


# ucrtbase on Windows where Wine 8's ucrtbase differs (Wine's is closer to msvcrt here):
#  * ucrt supports hh (char) -- "hh, j, z, t length modifiers" are part of VS2015's C99 conformance;
#  * an unknown conversion character or a spec cut off by the end of the format is an invalid
#    parameter ("Incorrect format specifier": -1 once the handler returns); Wine prints it literally;
#  * since Windows 10 2004 exactly representable ties round half to even (printf docs); Wine rounds
#    them up like msvcrt (legacy_rounding=True reproduces that);
#  * a signaling NaN prints as nan(snan) (printf docs).
# UNVERIFIED marks cases where neither Wine nor the documentation settles Windows' output.
UNVERIFIED = "?"
_UCRT_INVALID = ["%_1I64d", "%I", "%Iq", "%Ihd", "%I0d", "%I64D", "%b", "%5y|", "%k%m%q%r%v%y", "%3h", "%w",
                 "%h", "%j", "%z", "%t", "%N", "%H", "abc%", "%w0s", "%w-s", "%y%5q|"]
UCRT_OVERRIDES: dict[tuple, object] = {
    ("%hhd", (I32(0x1FF),)): "-1", ("%hhx", (I32(0x123),)): "23", ("%hhu", (I32(-1),)): "255",
    ("%5%|", ()): UNVERIFIED, ("%-5%|", ()): UNVERIFIED, ("%.4p", (Ptr(57),)): UNVERIFIED,
    ("a%5Cb", (I32(0x3042),)): "ab",
    ("%.0f", (Dbl(0.5),)): "0", ("%.0f", (Dbl(2.5),)): "2", ("%.0f", (Dbl(-0.5),)): "-0",
    ("%.1f", (Dbl(0.25),)): "0.2", ("%.2f", (Dbl(0.125),)): "0.12", ("%.0e", (Dbl(2.5),)): "2e+00",
    ("%.2e", (Dbl(1.125),)): "1.12e+00", ("%g", (Dbl(123456.5),)): "123456",
    ("%f", (Dbl(SNAN),)): "nan(snan)", ("%g", (Dbl(SNAN),)): "nan(snan)",
}
for _c in PRINTF_CASES:
    if _c.fmt in _UCRT_INVALID:
        _c.windows_ucrt = -1
    _o = UCRT_OVERRIDES.get((_c.fmt, _c.args))
    if _o is not None:
        _c.windows_ucrt = _o

@dataclass
class S:
    """sscanf(input, fmt, &dest...) with dests typed by code: i8 i16 i32 i64 f32 f64 str (char[64])."""
    fmt: str
    input: bytes
    dests: tuple
    windows: str | None = None

    def __init__(self, fmt, input, *dests, windows=None):
        self.fmt, self.input, self.dests, self.windows = fmt, input, dests, windows


SCANF_CASES: list[S] = [
    S("%d", b"42", "i32"), S("%d", b"  -17xyz", "i32"), S("%d", b"+5", "i32"), S("%d", b"abc", "i32"),
    S("%d", b"", "i32"), S("%d", b"   ", "i32"), S("%d %d", b"1", "i32", "i32"), S("%d %d", b"1 2", "i32", "i32"),
    S("%d,%d", b"1,2", "i32", "i32"), S("%d,%d", b"1;2", "i32", "i32"), S("%3d%d", b"12345", "i32", "i32"),
    S("%i", b"0x1f", "i32"), S("%i", b"017", "i32"), S("%i", b"-0x10", "i32"), S("%x", b"ff", "i32"),
    S("%x", b"0xFF", "i32"), S("%X", b"aBc", "i32"), S("%o", b"777", "i32"), S("%u", b"-1", "i32"),
    S("%hd", b"70000", "i16"), S("%hhd", b"300", "i8"), S("%ld", b"123", "i32"),
    S("%lld", b"-8589934591", "i64"), S("%I64d", b"9223372036854775807", "i64"), S("%I64x", b"ffffffffffffffff", "i64"),
    S("%d", b"4294967297", "i32"), S("%*d %d", b"1 2", "i32"), S("%d%n", b"123 ", "i32", "i32"),
    S("%f", b"3.25", "f32"), S("%lf", b"3.25", "f64"), S("%e", b"-1.5e3", "f32"), S("%lg", b"1e-300", "f64"),
    S("%lf", b".5", "f64"), S("%lf", b"5.", "f64"), S("%lf", b"1e", "f64"), S("%4lf", b"1.2345", "f64"),
    S("%lf", b"0.1", "f64"), S("%lf", b"-0", "f64"), S("%lf", b"abc", "f64"), S("%Lf", b"2.5", "f64"),
    S("%s", b"  hello world", "str"), S("%3s", b"abcdef", "str"), S("%s %s", b"a b", "str", "str"),
    S("%c", b" x", "str"), S("%3c", b"abcdef", "str"), S(" %c", b"  x", "str"),
    S("%[a-z]", b"abc123", "str"), S("%[^\n]", b"line one\nline two", "str"), S("%[]a]", b"]a]b", "str"),
    S("%[^,],%s", b"key,value", "str", "str"), S("%2[0-9]", b"12345", "str"), S("%[a-z]", b"123", "str"),
    S("%d%%", b"50%", "i32"), S("%d %%", b"50 %", "i32"), S("x%d", b"y5", "i32"), S("abc", b"", ),
    S("%d abc %d", b"1 abc 2", "i32", "i32"), S("%*s %s", b"skip keep", "str"), S("%d", b"-", "i32"),
    S("%x", b"0x", "i32"), S("%d:%d:%d", b"12:34", "i32", "i32", "i32"), S("%s%n", b"abc", "str", "i32"),
]


def _c_scanf_case(n: int, case: S) -> list[str]:
    out = ["    {"]
    ctype = {"i8": "signed char", "i16": "short", "i32": "int", "i64": "long long", "f32": "float",
             "f64": "double", "str": "char"}
    for k, d in enumerate(case.dests):
        out.append(f"        {ctype[d]} v{k}{'[64]' if d == 'str' else ''};")
    for k, d in enumerate(case.dests):
        out.append(f"        memset({'' if d == 'str' else '&'}v{k}, 0x5a, sizeof v{k});")
        if d == "str":
            out.append(f"        v{k}[63] = 0;")
    ptrs = "".join(f", {'' if d == 'str' else '&'}v{k}" for k, d in enumerate(case.dests))
    out.append(f"        int r = sscanf({_c_narrow_lit(case.input)}, {_c_narrow_lit(case.fmt.encode('latin-1'))}{ptrs});")
    out.append(f'        printf("{n}: %d", r);')
    for k, d in enumerate(case.dests):
        if d == "str":
            out.append(f"        sshow(v{k});")
        elif d == "f32":
            out.append(f"        {{ unsigned u; memcpy(&u, &v{k}, 4); printf(\" %08x\", u); }}")
        elif d == "f64":
            out.append(f"        {{ unsigned long long u; memcpy(&u, &v{k}, 8); printf(\" %016I64x\", u); }}")
        else:
            out.append(f"        printf(\" %I64d\", (long long)v{k});")
    out.append('        printf("\\n");')
    out.append("    }")
    return out


class FakeSink:
    def __init__(self, dests):
        self.dests = dests
        self.k = 0
        self.values: dict[int, object] = {}

    def next_ptr(self):
        self.k += 1
        return self.k - 1

    def write_int(self, ptr, value, size):
        self.values[ptr] = ("int", value, size)

    def write_float(self, ptr, value, size):
        self.values[ptr] = ("float", value, size)

    def write_bytes(self, ptr, data):
        self.values[ptr] = ("bytes", data)

    def write_wchars(self, ptr, data):
        self.values[ptr] = ("wchars", data)


_INT_BITS = {"i8": 8, "i16": 16, "i32": 32, "i64": 64}


def py_scanf_line(n: int, case: S) -> str:
    sink = FakeSink(case.dests)
    r = format_scanf(case.fmt.encode("latin-1"), case.input, sink, wide=False)
    parts = [f"{n}: {r}"]
    for k, d in enumerate(case.dests):
        v = sink.values.get(k)
        if d == "str":
            raw = bytearray(b"\x5a" * 63 + b"\0")
            if v is not None:
                raw[:len(v[1])] = v[1]
            text = bytes(raw).split(b"\0")[0]
            parts.append(" [" + "".join(chr(c) if 0x20 <= c < 0x7F and c != 0x5C else f"\\x{c:02x}" for c in text) + "]")
        elif d in ("f32", "f64"):
            size = 4 if d == "f32" else 8
            if v is None:
                bits = int.from_bytes(b"\x5a" * size, "little")
            else:
                bits = int.from_bytes(struct.pack("<f" if v[2] == 4 else "<d", v[1]), "little")
                if v[2] != size:   # wrong-size store: keep the case honest
                    bits &= (1 << (8 * size)) - 1
            parts.append(f" {bits:0{2 * size}x}")
        else:
            nb = _INT_BITS[d]
            if v is None:
                val = int.from_bytes(b"\x5a" * (nb // 8), "little")
            else:
                raw = int.from_bytes(b"\x5a" * (nb // 8), "little")
                vsz = v[2] * 8
                val = (raw & ~((1 << min(vsz, nb)) - 1)) | (v[1] & ((1 << min(vsz, nb)) - 1))
            if val >> (nb - 1):
                val -= 1 << nb
            parts.append(f" {val}")
    return "".join(parts)


# ------------------------------------------------------------------------------------------------
# C generation


def _c_narrow_lit(b: bytes) -> str:
    return '"' + "".join(chr(c) if 0x20 <= c < 0x7F and chr(c) not in '"\\?' else f"\\{c:03o}" for c in b) + '"'


def _c_wide_lit(s: str) -> str:
    parts = []
    for ch in s:
        o = ord(ch)
        parts.append(f'L"{ch}"' if 0x20 <= o < 0x7F and ch not in '"\\?' else f'L"\\x{o:04x}"')
    return " ".join(parts) if parts else 'L""'


def _c_arg(a, idx: int, decls: list[str]) -> str:
    if isinstance(a, I32):
        return f"(int)0x{a.v & 0xFFFFFFFF:x}u"
    if isinstance(a, I64):
        return f"(long long)0x{a.v & 0xFFFFFFFFFFFFFFFF:x}ull"
    if isinstance(a, Dbl):
        return f"dbl(0x{a.bits():016x}ull)"
    if isinstance(a, Ptr):
        return f"(void *)0x{a.v:x}ull"
    if isinstance(a, Str):
        return "(char *)0" if a.v is None else _c_narrow_lit(a.v)
    if isinstance(a, WStr):
        return "(wchar_t *)0" if a.v is None else _c_wide_lit(a.v)
    if isinstance(a, ZStr):
        name = f"z{idx}"
        if isinstance(a.v, str):
            decls.append(f"static USTR {name} = {{{2 * len(a.v)}, {2 * len(a.v) + 2}, {_c_wide_lit(a.v)}}};")
        else:
            decls.append(f"static ASTR {name} = {{{len(a.v)}, {len(a.v) + 1}, {_c_narrow_lit(a.v)}}};")
        return f"&{name}"
    if isinstance(a, NPtr):
        return "&nval"
    raise TypeError(a)


C_HEADER = r"""/* GENERATED by tests/win32/test_crt_format.py from its case tables -- do not edit.
 * Build: x86_64-w64-mingw32-gcc -D__USE_MINGW_ANSI_STDIO=0 -w crt_format.c   (msvcrt.dll)
 *        add -DWH_UCRT -D__MSVCRT_VERSION__=0xE00 and a specs file linking -lucrt   (ucrtbase)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>
#include <locale.h>

typedef struct { unsigned short Length, MaximumLength; char *Buffer; } ASTR;
typedef struct { unsigned short Length, MaximumLength; wchar_t *Buffer; } USTR;

static char buf[1024];
static wchar_t wbuf[1024];
static int nval;

static double dbl(unsigned long long bits) { double d; memcpy(&d, &bits, 8); return d; }

static void ignore_invalid(const wchar_t *e, const wchar_t *f, const wchar_t *file, unsigned l, uintptr_t r)
{ (void)e; (void)f; (void)file; (void)l; (void)r; }

static void show(int n, int r)
{
    int i;
    printf("%d: %d [", n, r);
    if (r >= 0)
        for (i = 0; i < r; i++) {
            unsigned char c = (unsigned char)buf[i];
            if (c >= 0x20 && c < 0x7f && c != '\\') putchar(c); else printf("\\x%02x", c);
        }
    printf("]\n");
}

static void sshow(const char *s)
{
    printf(" [");
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c >= 0x20 && c < 0x7f && c != '\\') putchar(c); else printf("\\x%02x", c);
    }
    printf("]");
}

static void wshow(int n, int r)
{
    int i;
    printf("%d: %d [", n, r);
    if (r >= 0)
        for (i = 0; i < r; i++) {
            unsigned c = wbuf[i];
            if (c >= 0x20 && c < 0x7f && c != '\\') putchar((int)c); else printf("\\u%04x", c);
        }
    printf("]\n");
}
"""


def generate_c() -> str:
    decls: list[str] = []
    body: list[str] = []
    for n, case in enumerate(PRINTF_CASES):
        args = "".join(", " + _c_arg(a, f"{n}_{k}", decls) for k, a in enumerate(case.args))
        if case.locale:
            body.append(f'    setlocale(LC_ALL, "{case.locale}");')
        if case.wide:
            body.append(f"    wshow({n}, _snwprintf(wbuf, 1000, {_c_wide_lit(case.fmt)}{args}));")
        else:
            body.append(f"    show({n}, _snprintf(buf, 1000, {_c_narrow_lit(case.fmt.encode('latin-1'))}{args}));")
        if case.locale:
            body.append('    setlocale(LC_ALL, "C");')
    body.append('    printf("scanf\\n");')
    for n, case in enumerate(SCANF_CASES):
        body.extend(_c_scanf_case(n, case))
    return (C_HEADER + "\n" + "\n".join(decls) + "\n\nint main(void)\n{\n"
            + "    _set_invalid_parameter_handler(ignore_invalid);\n" + "\n".join(body) + "\n    return 0;\n}\n")


# ------------------------------------------------------------------------------------------------
# Python side: an ArgSource over the case's values


class FakeArgs:
    def __init__(self, args, ptr_size=8):
        self.args = list(args)
        self.pos = 0
        self.mem: dict[int, bytes] = {}
        self.next_addr = 0x10000
        self.written: dict[int, tuple[int, int]] = {}
        self.ptr_size = ptr_size

    def _alloc(self, data: bytes) -> int:
        a = self.next_addr
        self.mem[a] = data
        self.next_addr += (len(data) + 0x100) & ~0xF
        return a

    def _next(self):
        a = self.args[self.pos]
        self.pos += 1
        return a

    def int32(self):
        a = self._next()
        return (a.v if isinstance(a, (I32, I64, Ptr)) else 0) & 0xFFFFFFFF

    def int64(self):
        a = self._next()
        return a.v & 0xFFFFFFFFFFFFFFFF

    def double(self):
        a = self._next()
        return a.value() if isinstance(a, Dbl) else 0.0   # ill-typed case: the value is garbage

    def ptr(self):
        a = self._next()
        if isinstance(a, (Ptr, I64, I32)):
            return a.v & 0xFFFFFFFFFFFFFFFF
        if isinstance(a, Str):
            return 0 if a.v is None else self._alloc(a.v + b"\0")
        if isinstance(a, WStr):
            return 0 if a.v is None else self._alloc(a.v.encode("utf-16-le") + b"\0\0")
        if isinstance(a, ZStr):
            data = a.v.encode("utf-16-le") if isinstance(a.v, str) else a.v
            b = self._alloc(data)
            hdr = struct.pack("<HH", len(data), len(data)) + b"\0" * (self.ptr_size - 4)
            return self._alloc(hdr + b.to_bytes(self.ptr_size, "little"))
        if isinstance(a, NPtr):
            return 0x7000
        raise TypeError(a)

    def _region(self, ptr):
        for base, data in self.mem.items():
            if base <= ptr < base + len(data):
                return data[ptr - base:]
        raise AssertionError(f"bad guest pointer {ptr:#x}")

    def cstr(self, ptr):
        return self._region(ptr).split(b"\0")[0]

    def wstr(self, ptr):
        d = self._region(ptr)
        out = bytearray()
        for k in range(0, len(d) - 1, 2):
            if d[k:k + 2] == b"\0\0":
                break
            out += d[k:k + 2]
        return out.decode("utf-16-le", "surrogatepass")

    def read(self, ptr, size):
        return self._region(ptr)[:size]

    def write_int(self, ptr, value, size):
        self.written[ptr] = (value, size)


def _codepage(locale):
    return None if locale is None else "cp" + locale.lstrip(".")


def _escape_line(n: int, r: int, text, wide: bool) -> str:
    if r < 0:
        return f"{n}: {r} []"
    if wide:
        s = "".join(c if 0x20 <= ord(c) < 0x7F and c != "\\" else f"\\u{ord(c):04x}" for c in text)
    else:
        s = "".join(chr(c) if 0x20 <= c < 0x7F and c != 0x5C else f"\\x{c:02x}" for c in text)
    return f"{n}: {r} [{s}]"


def py_printf_line(n: int, case: P, flavor: Flavor) -> str:
    try:
        text = format_printf(case.fmt if case.wide else case.fmt.encode("latin-1"), FakeArgs(case.args),
                             wide=case.wide, flavor=flavor, ptr_size=8, codepage=_codepage(case.locale))
    except PrintfInvalidParameter:
        return f"{n}: -1 []"
    return _escape_line(n, len(text), text, case.wide)


def windows_line(n: int, case: P, flavor: Flavor, wine_line: str) -> str:
    """The expected Windows line: Wine's unless the case overrides it."""
    override = case.windows if flavor == Flavor.MSVCRT else case.windows_ucrt
    if override is None:
        return wine_line
    if override == -1:
        return f"{n}: -1 []"
    if override == UNVERIFIED:
        return None
    return _escape_line(n, len(override), override if case.wide else override.encode("latin-1"), case.wide)


# ------------------------------------------------------------------------------------------------
# recording


def _ucrt_specs() -> Path:
    out = ROOT / "build" / "fixtures" / "ucrt.specs"
    if not out.exists():
        out.parent.mkdir(parents=True, exist_ok=True)
        specs = subprocess.run(["x86_64-w64-mingw32-gcc", "-dumpspecs"], capture_output=True, text=True,
                               check=True).stdout
        out.write_text(specs.replace("-lmsvcrt", "-lucrt"))
    return out


BUILD_FLAGS = {
    "msvcrt": ["-D__USE_MINGW_ANSI_STDIO=0", "-w"],
    "ucrt": ["-D__USE_MINGW_ANSI_STDIO=0", "-w", "-DWH_UCRT", "-D__MSVCRT_VERSION__=0xE00"],
}


def record() -> None:
    import fixturebuild

    SRC.write_text(generate_c())
    EXPECTED.mkdir(parents=True, exist_ok=True)
    for flavor, flags in BUILD_FLAGS.items():
        if flavor == "ucrt":
            flags = flags + ["-specs=" + str(_ucrt_specs())]
        exe = fixturebuild.build(SRC.name, "x64", flags=flags)
        env = dict(os.environ, WINEDEBUG="-all")
        r = subprocess.run(["/usr/lib/wine/wine64", str(exe)], capture_output=True, env=env, timeout=300)
        text = r.stdout.decode("latin-1").replace("\r\n", "\n")
        (EXPECTED / f"crt_format.{flavor}.x64.txt").write_text(text, encoding="latin-1")
        print(f"recorded {flavor}: {text.count(chr(10))} lines")


def _expected(flavor: str) -> tuple[list[str], list[str]]:
    path = EXPECTED / f"crt_format.{flavor}.x64.txt"
    if not path.exists():
        pytest.skip(f"{path} not recorded (WINHATCH_RECORD=1 python -m tests.win32.test_crt_format)")
    lines = path.read_text(encoding="latin-1").splitlines()
    k = lines.index("scanf")
    return lines[:k], lines[k + 1:]


# ------------------------------------------------------------------------------------------------
# tests


def test_c_fixture_matches_table():
    assert SRC.exists(), "run the recorder"
    assert SRC.read_text() == generate_c(), "crt_format.c is stale: re-record (WINHATCH_RECORD=1)"


@pytest.mark.parametrize("flavor", ["msvcrt", "ucrt"])
def test_scanf_against_wine(flavor):
    _, wine = _expected(flavor)
    assert len(wine) == len(SCANF_CASES)
    bad = []
    for n, case in enumerate(SCANF_CASES):
        want = wine[n] if case.windows is None else case.windows
        got = py_scanf_line(n, case)
        if got != want:
            bad.append(f"{case.fmt!r} {case.input!r}\n   want {want}\n    got {got}")
    assert not bad, f"{len(bad)} mismatches:\n" + "\n".join(bad)


@pytest.mark.parametrize("flavor", ["msvcrt", "ucrt"])
def test_printf_against_wine(flavor):
    fl = Flavor.MSVCRT if flavor == "msvcrt" else Flavor.UCRT
    wine, _ = _expected(flavor)
    assert len(wine) == len(PRINTF_CASES)
    bad = []
    for n, case in enumerate(PRINTF_CASES):
        want = windows_line(n, case, fl, wine[n])
        got = py_printf_line(n, case, fl)
        if want is not None and got != want:
            bad.append(f"{case.fmt!r} {case.args}\n   want {want}\n    got {got}")
    assert not bad, f"{len(bad)} mismatches:\n" + "\n".join(bad)


if __name__ == "__main__":
    if os.environ.get("WINHATCH_RECORD") or "--record" in sys.argv:
        record()
    else:
        print(generate_c())


# ------------------------------------------------------------------------------------------------
# property test: integer conversions against Python's %-formatting, where C and Python agree

from hypothesis import given, settings, strategies as st  # noqa: E402


@settings(max_examples=400, deadline=None)
@given(conv=st.sampled_from("dixXo"), flags=st.sets(st.sampled_from("-+ #0")),
       width=st.one_of(st.none(), st.integers(0, 30)), prec=st.one_of(st.none(), st.integers(0, 25)),
       value=st.integers(-(1 << 31), (1 << 31) - 1), flavor=st.sampled_from([Flavor.MSVCRT, Flavor.UCRT]))
def test_int_formats_match_python(conv, flags, width, prec, value, flavor):
    signed = conv in "di"
    if not signed:
        value &= 0xFFFFFFFF
        flags -= {"+", " "}            # C ignores them for unsigned conversions, Python doesn't
    if conv == "o" or value == 0:
        flags.discard("#")             # Python spells %#o as 0o..., and %#x of 0 as 0x0
    if prec is not None:
        flags.discard("0")             # C: a precision turns the 0 flag off; Python zero-pads
        if prec == 0 and value == 0:
            prec = 1                   # C prints nothing for %.0d of 0
    spec = "%" + "".join(sorted(flags)) + ("" if width is None else str(width)) + \
           ("" if prec is None else f".{prec}") + conv
    want = (spec.replace("i", "d") % value).encode()
    got = format_printf(spec.encode(), FakeArgs([I32(value)]), wide=False, flavor=flavor)
    assert got == want, spec


def test_api_details():
    # x86 pointers, %Id
    assert format_printf(b"%p %Id", FakeArgs([Ptr(0x1234), I32(-2)], ptr_size=4), wide=False, ptr_size=4) == b"00001234 -2"
    # %n once _set_printf_count_output(1) was called
    fa = FakeArgs([NPtr()])
    assert format_printf(b"abc%hn!", fa, wide=False, count_output=True) == b"abc!"
    assert fa.written == {0x7000: (3, 2)}
    with pytest.raises(PrintfInvalidParameter) as ei:
        format_printf(b"abc%n", FakeArgs([NPtr()]), wide=False)
    assert ei.value.partial == b"abc"
    # msvcrt _set_output_format(_TWO_DIGIT_EXPONENT); ucrt option bits; pre-2004 ucrt rounding
    assert format_printf(b"%e", FakeArgs([Dbl(1.0)]), wide=False, two_digit_exponent=True) == b"1.000000e+00"
    assert format_printf(b"%e %f", FakeArgs([Dbl(1.0), Dbl(INF)]), wide=False, flavor=Flavor.UCRT,
                         options=0x18) == b"1.000000e+000 1.#INF00"
    assert format_printf(b"%.0f", FakeArgs([Dbl(2.5)]), wide=False, flavor=Flavor.UCRT, legacy_rounding=True) == b"3"
    # ucrt ISO wide specifiers: %s in wprintf is char*
    assert format_printf("%s|%S", FakeArgs([Str(b"n"), WStr("w")]), wide=True, flavor=Flavor.UCRT,
                         options=0) == "n|w"
    # a wide string that the C locale can't convert fails the whole call (EILSEQ)
    with pytest.raises(PrintfInvalidParameter):
        format_printf(b"%S", FakeArgs([WStr("\u3042")]), wide=False)


def test_scanf_consumed_and_wide():
    sink = FakeSink(["i32"])
    assert format_scanf(b"%d", b" 12 rest", sink, wide=False, return_consumed=True) == (1, 3)
    sink = FakeSink(["str"])
    assert format_scanf("%s", "h\u00e9llo w", sink, wide=True) == 1
    assert sink.values[0] == ("wchars", "h\u00e9llo\0")
