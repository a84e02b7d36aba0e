"""File streams with a real MSVC-STL program (tests/fixtures/src/msvcp_fstream.cpp, built against Microsoft's STL:
tests/msvcstl.py), x86 and x64: basic_filebuf (instantiated in the program) over the C runtime's FILE opened by
msvcp140's _Fiopen, _get_stream_buffer_pointers, the codecvt<char, char, _Mbstatet> facet (_Getcat,
always_noconv), basic_streambuf::getloc, istream::read, seekg/tellg/seekp through the filebuf's virtual seekoff
and seekpos: text (CRLF on disk) and binary files, append, a read-write fstream, a missing file.
EXPECTED is wine64's output of the same x64 program."""
from __future__ import annotations

import io

import pytest

from winhatch import runner

import msvcstl

EXPECTED = (
    "ofstream good=1 open=1\r\n"
    "line 1 [alpha 1]\r\nline 2 [beta 22]\r\nline 3 [3.5 gamma]\r\nline 4 [delta]\r\n"
    "eof=1 fail=1\r\n"
    "word [alpha] num 1\r\n"
    "size 36\r\n"                      # 32 characters and 4 CRs: text mode
    "at 6: [1]\r\n"
    "binary read 7: 97 10 98 13 10 0 122\r\n"
    "fstream: a 10 X 13\r\n"
    "missing: open=0 fail=1\r\n"
).encode()


@pytest.fixture
def program(arch):
    try:
        return msvcstl.build("msvcp_fstream.cpp", arch)
    except msvcstl.Unavailable as e:
        pytest.skip(str(e))


def test_file_streams(program, tmp_path):
    import shutil
    exe = tmp_path / program.name
    shutil.copy2(program, exe)
    res = runner.run(exe, [], stdin=io.BytesIO(b""), stdout=io.BytesIO(), stderr=io.BytesIO(),
                     max_instructions=200_000_000)
    assert res.error is None, res.error
    assert not res.unimplemented, res.unimplemented
    assert res.stdout == EXPECTED, res.stdout.decode("latin-1")
    assert res.exit_status == 0
    assert not (tmp_path / "fs_test.txt").exists()
