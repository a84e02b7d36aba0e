"""std::exception_ptr with a real MSVC-STL program (tests/fixtures/src/msvcp_excptr.cpp, built against Microsoft's
STL: tests/msvcstl.py), x86 and x64: msvcp140's __ExceptionPtr* functions — capture in a catch block,
copies, comparison, swap, rethrow (by type and by base), make_exception_ptr, an exception msvcp140 threw, and
the captured object's lifetime.

EXPECTED is wine64's output of the same x64 program, corrected where Wine differs from Windows:
- "again": Wine rethrows the captured object itself, which the first catch destroys, so the second rethrow
  shows a destroyed runtime_error ("Unknown exception"); the captured object must stay valid as long as an
  exception_ptr refers to it ([propagation]), and Microsoft's runtime rethrows a copy: "boom";
- "tracked alive after last pointer": Wine destroys an object it did not construct (-1); every copy the
  runtime makes is destroyed once: 0.
("moved: 1 1" is right: Microsoft's exception_ptr has no move constructor, std::move copies.)
"""
from __future__ import annotations

import io

import pytest

from winhatch import runner

import msvcstl

EXPECTED = (
    "empty: 0 equal-null: 1\r\n"
    "captured: 1\r\n"
    "copy equal: 1, differs from empty: 1\r\n"
    "rethrown: [boom]\r\n"
    "again: [boom]\r\n"                                  # Wine: [Unknown exception]
    "swapped: 1 0\r\n"
    "moved: 1 1\r\n"
    "int: 42\r\n"
    "outside catch: 0\r\n"
    "tracked alive after catch: 1\r\n"
    "tracked rethrown: 7\r\n"
    "tracked alive after last pointer: 0\r\n"           # Wine: -1
    "from msvcp140: [invalid string position]\r\n"
).encode()


@pytest.fixture
def program(arch):
    try:
        return msvcstl.build("msvcp_excptr.cpp", arch)
    except msvcstl.Unavailable as e:
        pytest.skip(str(e))


def test_exception_ptr(program):
    res = runner.run(program, [], stdin=io.BytesIO(b""), stdout=io.BytesIO(), stderr=io.BytesIO(),
                     max_instructions=200_000_000)
    assert res.error is None, res.error
    assert not res.unimplemented, res.unimplemented
    assert res.stdout == EXPECTED, res.stdout.decode("latin-1")
    assert res.exit_status == 0
