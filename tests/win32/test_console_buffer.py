"""The console screen buffer on a real console: the program's stdout and stderr are a pseudo-terminal, so
winhatch treats them as console handles (winhatch.kernel.io.console). The reference is Windows's documented
console behaviour: a new console window's buffer is 120 columns by 9001 lines with a 120x30 window and
attribute 0x07; the largest window (dwMaximumWindowSize) is what the 1920x1080 display's work area holds
in the 8x16 font below a caption, no wider than the buffer (120x63); processed output moves the cursor (CR to column 0, LF to the next line's start, TAB to the
next multiple of 8); stdout and stderr write to the same buffer; SetConsoleCursorPosition outside the buffer
is ERROR_INVALID_PARAMETER; GetConsoleScreenBufferInfoEx needs cbSize = sizeof(CONSOLE_SCREEN_BUFFER_INFOEX);
an input handle is not a screen buffer (ERROR_INVALID_HANDLE). The same program on a pipe is
conf_startup.c's console section (ERROR_INVALID_HANDLE everywhere)."""
from __future__ import annotations

import os
import pty
import re

import pytest

from winhatch import runner


@pytest.mark.parametrize("arch", ["x64", "x86"])
def test_screen_buffer_on_a_terminal(build_fixture, arch):
    exe = build_fixture("con_screen.c", arch)
    master, slave = pty.openpty()
    try:
        out = os.fdopen(slave, "wb", buffering=0)
        res = runner.run(exe, [], stdout=out, stderr=out, timeout=120)
        out.close()
        data = b""
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:
                break
            if not chunk:
                break
            data += chunk
    finally:
        os.close(master)
    assert res.error is None and res.exit_status == 0, res.error
    m = re.search(rb"RESULT ([^\r\n]*)", data)   # (the terminal turns \n into \r\n)
    assert m, data
    assert m[1].decode() == (
        "r0=1 size=120x9001 cur0=0,0 attr0=0x7 win=0,0,119,29 max=120x63"
        " after_abc=3,0 after_err=9,1"            # "de\r\n" -> line 1, "xy" then TAB to column 8, "z" -> 9
        " set=1,1 cur=5,2 attr=0x14 bad=0,87"
        " ex_small=0,87 ex=1,120,0x14,table0=0xc0c0c input=0,6 mode=1,0x3")
