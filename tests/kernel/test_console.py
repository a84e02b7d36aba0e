"""The console: bytes through unchanged, the capture, modes, code pages, stdin, and host stream kinds."""
import io
import os
import socket
import subprocess
import sys

import pytest

from winhatch.kernel.io import Console, host_kind
from winhatch.kernel.io.console import (
    DEFAULT_INPUT_MODE, ENABLE_LINE_INPUT, ENABLE_PROCESSED_OUTPUT, ENABLE_VIRTUAL_TERMINAL_PROCESSING,
    ENABLE_WRAP_AT_EOL_OUTPUT, FILE_TYPE_CHAR, FILE_TYPE_DISK, FILE_TYPE_PIPE, STD_ERROR_HANDLE, STD_INPUT_HANDLE,
    STD_OUTPUT_HANDLE,
)
from winhatch.ntstatus import NtStatusError, STATUS_INVALID_HANDLE, STATUS_INVALID_PARAMETER


def test_bytes_reach_the_host_unchanged():
    out, err = io.BytesIO(), io.BytesIO()
    c = Console(out, err)
    payload = b"hello\r\nworld\n\x00\x82\xff\xe9t\xc3\xa9\x1b[31m"
    assert c.stdout.write(payload) == len(payload)
    assert c.stderr.write(b"oops\n") == 5
    assert out.getvalue() == payload and err.getvalue() == b"oops\n"
    assert c.captured_stdout == payload and c.captured_stderr == b"oops\n"
    c.stdout.write(b"more")
    assert c.transcript == [("stdout", payload), ("stderr", b"oops\n"), ("stdout", b"more")]


def test_text_stream_is_written_through_its_buffer(tmp_path):
    p = tmp_path / "out.txt"
    with open(p, "w", encoding="utf-8", newline="\n") as f:
        c = Console(f, None)
        c.stdout.write(b"a\r\n\x82")
    assert p.read_bytes() == b"a\r\n\x82"


def test_capture_limit_does_not_limit_the_host():
    out = io.BytesIO()
    c = Console(out, io.BytesIO(), capture_limit=4)
    c.stdout.write(b"123456")
    assert out.getvalue() == b"123456" and c.captured_stdout == b"1234" and c.stdout.truncated


def test_host_kinds(tmp_path):
    assert host_kind(io.BytesIO()) == "pipe"
    with open(tmp_path / "f", "wb") as f:
        assert host_kind(f) == "disk"
        assert Console(f, None).stdout.file_type == FILE_TYPE_DISK
    with open(os.devnull, "wb") as f:
        assert host_kind(f) == "char"
        c = Console(f, None)
        assert c.stdout.file_type == FILE_TYPE_CHAR and not c.stdout.is_console  # NUL: char device, no console
    r, w = os.pipe()
    with os.fdopen(r, "rb") as rf, os.fdopen(w, "wb") as wf:
        assert host_kind(rf) == "pipe" and host_kind(wf) == "pipe"
        assert Console(wf, None).stdout.file_type == FILE_TYPE_PIPE
    a, b = socket.socketpair()
    with a, b, a.makefile("wb") as af:
        assert host_kind(af) == "pipe"
    assert host_kind(None) == "char"


def test_tty_is_a_console():
    pty = pytest.importorskip("pty")
    master, slave = pty.openpty()
    try:
        with os.fdopen(slave, "wb", buffering=0) as f:
            assert host_kind(f) == "char"
            c = Console(f, None)
            assert c.stdout.is_console and c.stdout.file_type == FILE_TYPE_CHAR
            assert c.stdout.mode == ENABLE_PROCESSED_OUTPUT | ENABLE_WRAP_AT_EOL_OUTPUT
    finally:
        os.close(master)


def test_modes_only_on_consoles():
    c = Console(io.BytesIO(), io.BytesIO(), io.BytesIO())
    for h in (c.stdout, c.stderr, c.stdin):
        with pytest.raises(NtStatusError) as e:
            h.mode
        assert e.value.status == STATUS_INVALID_HANDLE
    f = Console(io.BytesIO(), io.BytesIO(), io.BytesIO(), force_console=True)
    assert f.stdout.mode == 0x3 and f.stderr.mode == 0x3
    assert f.stdin.mode == DEFAULT_INPUT_MODE == 0x1F7
    f.stdout.mode = ENABLE_PROCESSED_OUTPUT | ENABLE_VIRTUAL_TERMINAL_PROCESSING
    assert f.stdout.mode == 5
    with pytest.raises(NtStatusError) as e:
        f.stdout.mode = 0x100
    assert e.value.status == STATUS_INVALID_PARAMETER


def test_code_pages():
    c = Console(io.BytesIO(), None)
    assert c.input_cp == 437 and c.output_cp == 437
    c.output_cp = 65001
    assert c.output_cp == 65001 and c.input_cp == 437
    with pytest.raises(NtStatusError) as e:
        c.input_cp = 12345
    assert e.value.status == STATUS_INVALID_PARAMETER
    assert Console(None, None, input_cp=850).output_cp == 850
    assert Console(None, None, input_cp=1252, output_cp=65001).output_cp == 65001
    assert Console(None, None).decode(b"\x82") == "\u00e9"   # cp437


def test_stdin_pipe_and_console():
    c = Console(io.BytesIO(), None, io.BytesIO(b"first\nsecond\nrest"))
    assert c.stdin.file_type == FILE_TYPE_PIPE
    assert c.stdin.readline() == b"first\n"
    assert c.stdin.read(3) == b"sec"
    assert c.stdin.read(100) == b"ond\nrest" and c.stdin.read(10) == b""
    con = Console(io.BytesIO(), None, io.BytesIO(b"typed line\nnext\n"), force_console=True)
    assert con.stdin.read(100) == b"typed line\r\n"             # line input: one line, CR LF
    con.stdin.mode = DEFAULT_INPUT_MODE & ~ENABLE_LINE_INPUT
    assert con.stdin.read(2) == b"ne"
    assert Console(None, None, None).stdin.read(10) == b""       # no stdin: end of input at once


def test_write_console_w():
    c = Console(io.BytesIO(), None)
    with pytest.raises(NtStatusError) as e:
        c.stdout.write_console_w("x")
    assert e.value.status == STATUS_INVALID_HANDLE
    out = io.BytesIO()
    f = Console(out, None, force_console=True)
    assert f.stdout.write_console_w("h\u00e9\u4e2d") == 3
    assert out.getvalue() == "h\u00e9\u4e2d".encode("utf-8")


def test_std_handles():
    c = Console(io.BytesIO(), io.BytesIO(), io.BytesIO())
    assert c.handle(STD_OUTPUT_HANDLE) is c.stdout and c.handle(STD_ERROR_HANDLE) is c.stderr
    assert c.handle(STD_INPUT_HANDLE) is c.stdin
    with pytest.raises(NtStatusError):
        c.handle(5)


def test_real_host_stdout_pipe():
    """In a child process whose stdout is a pipe: the bytes arrive exactly, and the kind is 'pipe'."""
    code = ("import sys; from winhatch.kernel.io import Console;"
            "c = Console(sys.stdout, sys.stderr);"
            "c.stdout.write(b'A\\r\\nB\\n\\x82'); c.stderr.write(c.stdout.kind.encode())")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"A\r\nB\n\x82" and r.stderr == b"pipe"
