"""std::system_error from msvcp140 with a real MSVC-STL program (tests/fixtures/src/msvcp_syserror.cpp, built
against Microsoft's STL: tests/msvcstl.py), x86 and x64: _Throw_Cpp_error (std::thread::join of an empty
thread, relocking a unique_lock, a unique_lock without a mutex) and _Throw_C_error, caught by type and by base,
the error_code's category (the runtime's generic category: name, message, comparison with std::errc), and the
tables _Syserror_map and _Winerror_map.

The reference is Microsoft's STL (its public source, stl/src/syserror.cpp and xthrow.cpp: the errc messages,
the Windows error table, the thrown codes): Wine 8's msvcp140 does not implement _Throw_Cpp_error (the program
stops there under wine64), and its _Syserror_map gives the C library's texts ("address already in use") where
Microsoft's gives the errc names ("address in use")."""
from __future__ import annotations

import io

import pytest

from winhatch import runner

import msvcstl

EXPECTED = (
    "join: [invalid argument] value=22 category=generic invalid_argument=1 busy=0 message=[invalid argument]\r\n"
    "relock: [resource deadlock would occur] value=36 category=generic invalid_argument=0 busy=0 "
    "message=[resource deadlock would occur]\r\n"
    "no mutex: runtime_error [operation not permitted]\r\n"
    "C busy: [device or resource busy] value=16 category=generic invalid_argument=0 busy=1 "
    "message=[device or resource busy]\r\n"
    "generic 1: operation not permitted\r\ngeneric 2: no such file or directory\r\ngeneric 13: permission denied\r\n"
    "generic 16: device or resource busy\r\ngeneric 22: invalid argument\r\n"
    "generic 36: resource deadlock would occur\r\ngeneric 100: address in use\r\ngeneric 105: operation canceled\r\n"
    "generic 138: timed out\r\ngeneric 140: operation would block\r\ngeneric 0: unknown error\r\n"
    "generic 99: unknown error\r\ngeneric 1000: unknown error\r\n"
    "windows 2: 2\r\nwindows 3: 2\r\nwindows 5: 13\r\nwindows 32: 13\r\nwindows 80: 17\r\nwindows 87: 22\r\n"
    "windows 183: 17\r\nwindows 10054: 108\r\nwindows 1234: 0\r\n"
).encode()


@pytest.fixture
def program(arch):
    try:
        return msvcstl.build("msvcp_syserror.cpp", arch)
    except msvcstl.Unavailable as e:
        pytest.skip(str(e))


def test_system_error(program):
    res = runner.run(program, [], stdin=io.BytesIO(b""), stdout=io.BytesIO(), stderr=io.BytesIO(),
                     max_instructions=200_000_000)
    assert res.error is None, res.error
    assert not res.unimplemented, res.unimplemented
    assert res.stdout == EXPECTED, res.stdout.decode("latin-1")
    assert res.exit_status == 0


def test_tables():
    from winhatch.win32.msvcp140 import syserror as S
    assert S.message(36) == "resource deadlock would occur"
    assert S.message(-1) == "unknown error"
    assert all(name in S._BY_NAME for name in S.WINERR.values())
    assert len(S.ERRC) == len(set(S.ERRC.values())) == 78
