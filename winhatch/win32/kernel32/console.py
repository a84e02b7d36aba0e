"""kernel32 / kernelbase: the console screen buffer calls programs make at start (GetConsoleScreenBufferInfo(Ex),
SetConsoleTextAttribute, SetConsoleCursorPosition) and GetNumberOfConsoleInputEvents.

They work on a console handle only: when stdout is a pipe or a file (winhatch's usual case, and a program's
way of telling whether to draw progress lines or colours), the handle is not a console and the call fails
with ERROR_INVALID_HANDLE, as on Windows. The buffer is the console's (winhatch.kernel.io.console
.ScreenBuffer), shared by stdout and stderr; an input handle is not a screen buffer (ERROR_INVALID_HANDLE).
"""
from __future__ import annotations

import struct

from winhatch.kernel.io.console import ConsoleInput, ConsoleOutput
from winhatch.ntstatus import ERROR_INVALID_PARAMETER, NtStatusError
from winhatch.win32.api import api

from winhatch.win32.kernel32.common import K32, nt_error
from winhatch.win32.kernel32.files import _console_std

ERROR_INVALID_HANDLE = 6
CSBI_EX_SIZE = 96
# the default console colour table of Windows 10 (Campbell), as COLORREF 0x00BBGGRR
COLOR_TABLE = (0x0C0C0C, 0xDA3700, 0x0EA113, 0xDD963A, 0x1F0FC5, 0x981788, 0x009CC1, 0xCCCCCC,
               0x767676, 0xFF783B, 0x0CC616, 0xD6D661, 0x5648E7, 0x9E00B4, 0xA5F1F9, 0xF2F2F2)


def _screen(c, h):
    """The screen buffer behind an output console handle, or None with ERROR_INVALID_HANDLE."""
    std = _console_std(c, h)
    if std is None:
        return None
    if not isinstance(std, ConsoleOutput) or not std.is_console:
        c.set_last_error(ERROR_INVALID_HANDLE)
        return None
    return std.console.screen


def _csbi(sb) -> bytes:
    l, t, r, b = sb.window
    return struct.pack("<hhhhHhhhhhh", sb.width, sb.height, sb.x, sb.y, sb.attributes, l, t, r, b,
                       *sb.max_window)


@api(K32, "BOOL WINAPI GetConsoleScreenBufferInfo(HANDLE hConsoleOutput, "
     "PCONSOLE_SCREEN_BUFFER_INFO lpConsoleScreenBufferInfo)")
def GetConsoleScreenBufferInfo(c, h, info):
    sb = _screen(c, h)
    if sb is None:
        return 0
    c.write(info, _csbi(sb))      # 22 bytes: dwSize, dwCursorPosition, wAttributes, srWindow, dwMaximumWindowSize
    return 1


@api(K32, "BOOL WINAPI GetConsoleScreenBufferInfoEx(HANDLE hConsoleOutput, "
     "PCONSOLE_SCREEN_BUFFER_INFOEX lpConsoleScreenBufferInfoEx)")
def GetConsoleScreenBufferInfoEx(c, h, info):
    """cbSize must be sizeof(CONSOLE_SCREEN_BUFFER_INFOEX) (96): ERROR_INVALID_PARAMETER otherwise."""
    sb = _screen(c, h)
    if sb is None:
        return 0
    if c.u32(info) != CSBI_EX_SIZE:
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    c.write(info + 4, _csbi(sb) + struct.pack("<HI16I", sb.popup_attributes, 0, *COLOR_TABLE))
    return 1


@api(K32, "BOOL WINAPI SetConsoleTextAttribute(HANDLE hConsoleOutput, WORD wAttributes)")
def SetConsoleTextAttribute(c, h, attr):
    sb = _screen(c, h)
    if sb is None:
        return 0
    sb.attributes = attr & 0xFFFF
    return 1


@api(K32, "BOOL WINAPI SetConsoleCursorPosition(HANDLE hConsoleOutput, COORD dwCursorPosition)")
def SetConsoleCursorPosition(c, h, pos):
    """COORD is passed by value (X in the low word, Y in the high word); a position outside the buffer is
    ERROR_INVALID_PARAMETER."""
    sb = _screen(c, h)
    if sb is None:
        return 0
    x, y = struct.unpack("<hh", (pos & 0xFFFFFFFF).to_bytes(4, "little"))
    try:
        sb.set_cursor(x, y)
    except NtStatusError as e:
        nt_error(c, e)
        return 0
    return 1


@api(K32, "BOOL WINAPI GetNumberOfConsoleInputEvents(HANDLE hConsoleInput, LPDWORD lpcNumberOfEvents)")
def GetNumberOfConsoleInputEvents(c, h, out):
    """The input records waiting in a console's input buffer: each character typed on the host terminal
    and not read yet is a key-down and a key-up record (2 events). A handle that is not a console input
    handle: ERROR_INVALID_HANDLE."""
    std = _console_std(c, h)
    if std is None:
        return 0
    if not isinstance(std, ConsoleInput) or not std.is_console:
        c.set_last_error(ERROR_INVALID_HANDLE)
        return 0
    c.write_u32(out, 2 * std.pending_bytes())
    return 1
