"""The C runtimes (msvcrt.dll, ucrtbase.dll) running real programs: every tests/fixtures/src/conf_crt_*.c is
built with mingw-w64 for x86 and x64, run under winhatch, and its stdout + exit code compared with the
recording from Wine (tests/fixtures/expected/conf_crt_<name>.<arch>.txt, written by tools/record_expected.py
from wine64 and, for x86, 32-bit Wine under WoW64). Plus the C++ iostream hello (g++, static libstdc++), and unit tests of
the pure parts (number parsing, fopen modes, the x87 return path)."""
from __future__ import annotations

import math
import struct
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))
sys.path.insert(0, str(ROOT / "tests"))

import record_expected as rec  # noqa: E402

from winhatch import runner  # noqa: E402
from winhatch.win32.msvcrt import numparse as NP  # noqa: E402
from winhatch.win32.msvcrt import streams as S  # noqa: E402
from winhatch.win32.msvcrt.runtime import double_to_ext80  # noqa: E402

EXPECTED = ROOT / "tests" / "fixtures" / "expected"
CRT_FIXTURES = sorted(p.stem[len("conf_"):] for p in (ROOT / "tests" / "fixtures" / "src").glob("conf_crt_*.c"))


def _run_fixture(name: str, arch: str) -> tuple[bytes, runner.RunResult]:
    fx = rec.parse_fixture(ROOT / "tests" / "fixtures" / "src" / f"conf_{name}.c")
    exe = rec.build(fx, arch)
    res = runner.run(exe, fx.args, timeout=120)
    assert res.error is None, res.error
    assert res.exit_status is not None, res
    return rec.expected_bytes(res.stdout, res.exit_status), res


@pytest.mark.parametrize("name", CRT_FIXTURES)
def test_crt_fixture_matches_wine(name, arch):
    expected = (EXPECTED / f"conf_{name}.{arch}.txt").read_bytes()
    got, res = _run_fixture(name, arch)
    assert got.decode("latin-1") == expected.decode("latin-1"), res.stderr.decode("latin-1", "replace")


def test_iostream_hello(arch, build_fixture):
    """g++ `std::cout << ...` (libstdc++ linked statically, writing through msvcrt's FILE streams)."""
    exe = build_fixture("crt_iostream.cpp", arch, flags=["-static"])
    res = runner.run(exe, ["arg"], timeout=120)
    assert res.error is None, res.error
    expected = (EXPECTED / f"crt_iostream.{arch}.txt").read_bytes()
    assert rec.expected_bytes(res.stdout, res.exit_status) == expected


# ------------------------------------------------------------------------------------------ pure parts
@pytest.mark.parametrize("text,base,bits,signed,want", [
    ("123", 10, 32, True, (123, 3, 0)),
    ("  -0x1f!", 0, 32, True, ((-31) & 0xFFFFFFFF, 7, 0)),
    ("0x", 16, 32, True, (0, 1, 0)),            # the "0" converts; "x" without a digit is not a prefix
    ("2147483648", 10, 32, True, (0x7FFFFFFF, 10, NP.ERANGE)),
    ("-2147483648", 10, 32, True, (0x80000000, 11, 0)),
    ("-1", 10, 32, False, (0xFFFFFFFF, 2, 0)),
    ("18446744073709551616", 10, 64, False, ((1 << 64) - 1, 20, NP.ERANGE)),
    ("12", 1, 32, True, (0, 0, NP.EINVAL)),
    ("zz", 36, 32, True, (35 * 36 + 35, 2, 0)),
    ("", 10, 32, True, (0, 0, 0)),
])
def test_strtoint(text, base, bits, signed, want):
    assert NP.strtoint(text, base, bits, signed) == want


def test_strtod_flavours():
    assert NP.strtod("1.5e3x", False) == (1500.0, 5, 0)
    assert NP.strtod("0x10", False) == (0.0, 1, 0)          # msvcrt: no hex floats, "0" converts
    assert NP.strtod("0x10", True) == (16.0, 4, 0)          # ucrt: C99 hex float
    assert NP.strtod("inf", False) == (0.0, 0, 0)
    v, n, e = NP.strtod("-Infinity", True)
    assert v == -math.inf and n == 9 and e == 0
    assert NP.strtod("1e999", False)[2] == NP.ERANGE
    assert NP.strtod("1e-999", True)[2] == NP.ERANGE


def test_itoa():
    assert NP.itoa(-255, 16, 32, True) == "ffffff01"       # only radix 10 shows a sign
    assert NP.itoa(-255, 10, 32, True) == "-255"
    assert NP.itoa(5, 2, 32, False) == "101"
    assert NP.itoa(0, 10, 64, True) == "0"
    assert NP.itoa(1, 37, 32, True) is None


@pytest.mark.parametrize("mode,want", [
    ("r", (S.O_RDONLY | S.O_TEXT, S._IOREAD)),
    ("rb", (S.O_RDONLY | S.O_BINARY, S._IOREAD)),
    ("w+", (S.O_RDWR | S.O_CREAT | S.O_TRUNC | S.O_TEXT, S._IORW)),
    ("ab", (S.O_WRONLY | S.O_CREAT | S.O_APPEND | S.O_BINARY, S._IOWRT)),
    ("r+t", (S.O_RDWR | S.O_TEXT, S._IORW)),
    ("wx", (S.O_WRONLY | S.O_CREAT | S.O_TRUNC | S.O_EXCL | S.O_TEXT, S._IOWRT)),
    ("q", None), ("", None), ("rbt", None), ("r++", None), ("rx", None),
])
def test_fopen_modes(mode, want):
    assert S.parse_mode(mode, 0x4000) == want


def test_fopen_default_mode_follows_fmode():
    assert S.parse_mode("r", S.O_BINARY) == (S.O_RDONLY | S.O_BINARY, S._IOREAD)


@pytest.mark.parametrize("value", [1.0, -2.5, 0.0, 1e-310, 1.7976931348623157e308, math.inf])
def test_double_to_x87(value):
    """The 80-bit extended encoding (checked by converting back)."""
    raw = double_to_ext80(value)
    mant, se = raw & ((1 << 64) - 1), raw >> 64
    exp = se & 0x7FFF
    sign = -1.0 if se >> 15 else 1.0
    if exp == 0x7FFF:
        back = sign * math.inf
    else:
        back = sign * math.ldexp(mant, exp - 16383 - 63)
    assert back == value
    assert struct.pack("<d", back) == struct.pack("<d", value)
