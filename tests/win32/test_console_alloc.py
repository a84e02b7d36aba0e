"""A console a program makes for itself (FreeConsole, then AllocConsole): the console driver's model of Windows
10's conhost (winhatch.kernel.condrv, kernel32/console.py), checked with tests/fixtures/src/con_alloc.c on x64
and x86. The program's stdout stays the pipe it started with (the C runtime's), so the run needs no terminal.

The reference is Windows, as Wine's conformance tests (dlls/kernel32/tests/console.c, Wine 8.0) record it. The
program cannot be recorded under Wine on this machine: Wine's AllocConsole starts a conhost with a window, and
without an X display that console does not work (every call on it fails), so the expectations are these facts:
- without a console: GetConsoleCP 0 and ERROR_INVALID_HANDLE, GetConsoleWindow NULL, CONOUT$ and
  SetConsoleTitle ERROR_INVALID_HANDLE (test_FreeConsole); a second AllocConsole ERROR_ACCESS_DENIED;
- a new console: output mode PROCESSED|WRAP_AT_EOL (3), input mode 0x1F7 (test_pseudo_console_child);
- processed output: TAB writes spaces in the text attribute up to the next multiple of 8, CR LF start the next
  line, BS moves back one cell (testWriteNotWrappedProcessed); with wrapping the text goes on at the next
  line, without it the rest of the line is written over again from the column the text began at
  (testWriteNotWrappedProcessed's "d" at X-3); a cursor outside the buffer is ERROR_INVALID_PARAMETER
  (testCursor);
- WriteConsoleOutputCharacter goes on at the next line and stops at the buffer's end (its documentation);
- ScrollConsoleScreenBuffer with a clip rectangle: the destination inside the clip gets the source, the rest
  of the source inside the clip the fill (testScroll);
- WriteConsoleOutput's region is cut to the CHAR_INFO array from the buffer coordinate on; an empty region is
  ERROR_INVALID_PARAMETER (test_WriteConsoleOutput);
- the cooked ReadConsole: Backspace removes the character before it, Enter ends the line as CR LF, the line
  is echoed in the text attribute;
- SetConsoleOutputCP(1251) decodes the bytes WriteConsoleA writes (testScreenBuffer); an unknown code page
  is ERROR_INVALID_PARAMETER;
- a second screen buffer made active is what CONOUT$ opens, the first keeps its text (testScreenBuffer);
- after FreeConsole the console's handles fail with ERROR_INVALID_HANDLE (test_AllocConsole_child).
"""
from __future__ import annotations

import pytest

from winhatch import runner

EXPECTED = r"""free: cp=0 err=6 window=0
free: conout=0 err=6
free: settitle=0 err=6
alloc=1
alloc again=0 err=5
handles: out=1 in=1 type=2
processes=1
output mode=3
size=1 set=120 120x40
filled=4800
written=8
row0 [ab      c ] attrs 1e 1e 1e 1e 1e 1e 1e 1e 1e 7
row1 [xy ] attrs 1e 1e 7
processed cursor=2,1
row1 [xZ ] attrs 1e 1e 7
backspace cursor=2,1
wrapped cursor=2,3
row3 [45 ] attrs 1e 1e 7
nowrap [ dbc ]
outside=0 err=87
fill=1 n=5
row5 [  ##### ] attrs 7 7 7 4f 4f 7 7 7
row6 [hello ] attrs 1 2 3 7 7 7
across=1 n=4
row7 [yz ] attrs 7 7 7
at end=1 n=1
scroll=1
row6 [.....         ] attrs 20 20 20 20 20 7 7 7 7 7 7 7 7 7
row8 [         hell ] attrs 7 7 7 7 7 7 7 7 7 1 2 3 7 7
writerect=1 region=20,10,21,11
badrect=0 err=87
readrect=1 region=20,10,21,11 B/31 C/32 E/34 F/35
input mode=1f7
wrote input=1 n=10
events=10
peek=2 a down=1
readconsole=1 n=4 [ac\r\n]
row20 [ac  ] attrs 1e 1e 7 7
readinput=1 n=1 type=1 q
events on output=0 err=6
setcp=1 cp=1251
cp1251 -> 0442 0435 0441 0442
badcp=0 err=87
title=10 [conf title]
new buffer=1
active=1 conout reads [second]
first still [ab    ]
after free: mode=0 err=6
"""


@pytest.mark.parametrize("arch", ["x64", "x86"])
def test_alloc_console(build_fixture, arch):
    exe = build_fixture("con_alloc.c", arch)
    res = runner.run(exe, [], timeout=120)
    assert res.error is None and res.exit_status == 0, res.error
    assert res.stdout.decode("latin-1").replace("\r\n", "\n") == EXPECTED      # the C runtime writes CR LF
