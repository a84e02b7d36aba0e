"""kernel32 / kernelbase: the console API over the console driver (winhatch.kernel.condrv).

As on Windows 10, every console function is an NtDeviceIoControlFile on a console handle: an input handle or
a screen buffer handle for the per-handle functions, the process's connection (RTL_USER_PROCESS_PARAMETERS
.ConsoleHandle) for the console-wide ones (code pages, title, window, process list, FreeConsole). The handler
decodes its arguments, builds the request in stack scratch, and maps the NTSTATUS to the last error
(BaseSetLastNTError). A handle that is not a console handle (a file, a pipe: a redirected std handle) is
ERROR_INVALID_HANDLE, as on Windows, which is how programs tell whether to draw colours and progress lines.

AllocConsole makes a new console (a window nobody sees: its screen buffers live in the kernel); AttachConsole
joins another process's console; FreeConsole leaves the console (its handles stop working, the connection
handle goes). GetConsoleWindow gives the console's window, which user32 knows (IsWindow).
"""
from __future__ import annotations

import struct

from winhatch.kernel import condrv as D
from winhatch.kernel.structs import RTL_USER_PROCESS_PARAMETERS
from winhatch.win32 import api as api_mod
from winhatch.win32.api import api, internal_function
from winhatch.win32.kernel32.common import K32, invalid_handle, params_address, sa_inherit

ERROR_INVALID_HANDLE = 6
ERROR_INVALID_PARAMETER = 87
ERROR_ACCESS_DENIED = 5
ERROR_INSUFFICIENT_BUFFER = 122
ERROR_NOT_ENOUGH_MEMORY = 8
ERROR_NOACCESS = 998
ERROR_BUFFER_OVERFLOW = 111
ERROR_INVALID_FUNCTION = 1
CSBI_EX_SIZE = 96
CFI_EX_SIZE = 84
STATUS_INVALID_HANDLE = 0xC0000008
ATTACH_PARENT_PROCESS = 0xFFFFFFFF
CONSOLE_TEXTMODE_BUFFER = 1
STD_FIELDS = ("StandardInput", "StandardOutput", "StandardError")


# ============================================================================================ plumbing
def _io(c, h: int, code: int, inp: bytes = b"", outlen: int = 0) -> tuple[int, bytes]:
    """NtDeviceIoControlFile(h, code): (status, output bytes). One scratch block holds the IO_STATUS_BLOCK,
    the input and the output."""
    inlen = (len(inp) + 15) & ~15
    base = c.stack_alloc(16 + inlen + outlen, 16)
    inp_addr = base + 16 if inp else 0
    if inp:
        c.write(inp_addr, inp)
    out_addr = base + 16 + inlen if outlen else 0
    st = c.nt("NtDeviceIoControlFile", h, 0, 0, 0, base, code, inp_addr, len(inp), out_addr, outlen)
    if st != 0 or not outlen:
        return st, b""
    info = int.from_bytes(c.read(base + c.ptr_size, c.ptr_size), "little")
    return st, c.read(out_addr, min(info, outlen)) if info else b""


def _req(c, h: int, code: int, inp: bytes = b"", outlen: int = 0) -> bytes | None:
    """A request whose failure sets the last error: the output, or None."""
    st, out = _io(c, h, code, inp, outlen)
    if st != 0:
        c.set_last_nt_error(st)
        return None
    return out


def _conn(c) -> int:
    return RTL_USER_PROCESS_PARAMETERS.read(c.proc.aspace, params_address(c), c.arch,
                                            "ConsoleHandle")["ConsoleHandle"]


def _set_conn(c, h: int) -> None:
    RTL_USER_PROCESS_PARAMETERS.write(c.proc.aspace, params_address(c), c.arch, ConsoleHandle=h)


def _conn_req(c, code: int, inp: bytes = b"", outlen: int = 0) -> bytes | None:
    h = _conn(c)
    if not h:
        c.set_last_error(ERROR_INVALID_HANDLE)
        return None
    return _req(c, h, code, inp, outlen)


def _coord(v: int) -> tuple[int, int]:
    return struct.unpack("<hh", (v & 0xFFFFFFFF).to_bytes(4, "little"))


def _signed(v: int) -> int:
    v &= 0xFFFFFFFF
    return v - (1 << 32) if v & 0x80000000 else v


def _ok_ptr(c, addr: int, size: int, write: bool = True) -> bool:
    return bool(addr) and c.proc.aspace.accessible(addr, max(1, size), write)


# ============================================================================================ the console
def _open(c, name: str, access: int, inherit: bool = False) -> tuple[int, int]:
    """NtCreateFile(\\Device\\ConDrv\\<name>): (status, handle)."""
    h_out = c.stack_alloc(8, 8)
    iosb = c.stack_alloc(16, 8)
    oa = c.object_attributes(c.unicode_string("\\Device\\ConDrv\\" + name), 0x40 | (0x2 if inherit else 0))
    st = c.nt("NtCreateFile", h_out, access | 0x100000, oa, iosb, 0, 0, 3, 1, 0x20, 0, 0)
    return st, (c.ptr(h_out) if st == 0 else 0)


def _reset_ctrl_handlers(c) -> None:
    st = c.proc.subsystem.get("console_ctrl")
    if st is not None:
        st["handlers"].clear()


def _is_console_handle(c, h: int) -> bool:
    return bool(h) and _io(c, h, D.IOCTL_GET_MODE, b"", 4)[0] == 0


def _std_after_attach(c) -> None:
    """The std handles of a process that has just got a console become CONIN$ / CONOUT$ of it: all three, or,
    for a process started with STARTF_USESTDHANDLES, those that are not set (Windows 10)."""
    params = params_address(c)
    own = RTL_USER_PROCESS_PARAMETERS.read(c.proc.aspace, params, c.arch, "WindowFlags")["WindowFlags"] & 0x100
    cur = RTL_USER_PROCESS_PARAMETERS.read(c.proc.aspace, params, c.arch, *STD_FIELDS)
    new = {}
    for field in STD_FIELDS:
        if own and cur[field]:
            continue
        st, nh = _open(c, "CurrentIn" if field == "StandardInput" else "CurrentOut",
                       0x80000000 | 0x40000000, inherit=True)
        if st == 0:
            new[field] = nh
    if new:
        RTL_USER_PROCESS_PARAMETERS.write(c.proc.aspace, params, c.arch, **new)


def _window_title(c) -> str:
    """The title a new console gets: RTL_USER_PROCESS_PARAMETERS.WindowTitle (STARTUPINFO.lpTitle, else the
    image path)."""
    at = params_address(c) + RTL_USER_PROCESS_PARAMETERS.offset(c.arch, "WindowTitle")
    length = int.from_bytes(c.read(at, 2), "little")
    buf = c.ptr(at + c.ptr_size)
    if not length or not buf:
        return ""
    return c.read(buf, min(length, 0x10000)).decode("utf-16-le", "surrogatepass")


def _attach(c, pid: int, new: bool) -> int:
    if _conn(c):
        c.set_last_error(ERROR_ACCESS_DENIED)
        return 0
    st, h = _open(c, "Connect", 0x80000000 | 0x40000000)
    if st != 0:
        c.set_last_nt_error(st)
        return 0
    title = _window_title(c) if new else ""
    st, _ = _io(c, h, D.IOCTL_ATTACH, struct.pack("<II", pid & 0xFFFFFFFF, int(new))
                + title.encode("utf-16-le", "surrogatepass"))
    if st != 0:
        c.nt("NtClose", h)
        c.set_last_nt_error(st)
        return 0
    _set_conn(c, h)
    _reset_ctrl_handlers(c)
    return 1


@api(K32, "BOOL WINAPI AllocConsole(void)")
def AllocConsole(c):
    """A new console for a process without one (ERROR_ACCESS_DENIED if it has one); the std handles become
    the new console's (with STARTF_USESTDHANDLES only those that are not set)."""
    if not _attach(c, 0, True):
        return 0
    _std_after_attach(c)
    return 1


@api(K32, "BOOL WINAPI AttachConsole(DWORD dwProcessId)")
def AttachConsole(c, pid):
    """The console of process `pid` (ATTACH_PARENT_PROCESS: the parent's); the std handles become its."""
    if not _attach(c, pid, False):
        return 0
    _std_after_attach(c)
    return 1


@api(K32, "BOOL WINAPI FreeConsole(void)")
def FreeConsole(c):
    """The process leaves its console: the connection handle is closed and ConsoleHandle cleared; the std
    handles stay (they stop working); the Ctrl handler list is emptied."""
    h = _conn(c)
    if h:
        _io(c, h, D.IOCTL_DETACH)
        c.nt("NtClose", h)
        _set_conn(c, 0)
    _reset_ctrl_handlers(c)
    return 1


@api(K32, "HWND WINAPI GetConsoleWindow(void)")
def GetConsoleWindow(c):
    out = _conn_req(c, D.IOCTL_GET_WINDOW, b"", 12)
    if out is None:
        return 0
    hwnd, windowless = struct.unpack("<QI", out)
    if windowless:
        return 0                 # a console made under CREATE_NO_WINDOW has no window
    if not hwnd:
        from winhatch.win32.user32.window import console_window
        hwnd = console_window(c, c.proc.console)     # the window conhost makes for the console
        _conn_req(c, D.IOCTL_SET_WINDOW_HANDLE, struct.pack("<Q", hwnd))
    return hwnd


@api(K32, "DWORD WINAPI GetConsoleProcessList(LPDWORD lpdwProcessList, DWORD dwProcessCount)")
def GetConsoleProcessList(c, plist, count):
    """The processes attached to the console; when `count` is too small nothing is copied and the number
    needed is returned."""
    if not count or not plist:
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    out = _conn_req(c, D.IOCTL_PROCESS_LIST, b"", 4 + 4 * min(count, 1 << 16))
    if out is None:
        return 0
    n = struct.unpack_from("<I", out)[0]
    if n <= count and len(out) >= 4 + 4 * n:
        c.write(plist, out[4:4 + 4 * n])
    return n


# -- code pages -----------------------------------------------------------------------------------------------
def _get_cp(c, output: int) -> int:
    out = _conn_req(c, D.IOCTL_GET_CP, struct.pack("<I", output), 4)
    return struct.unpack("<I", out)[0] if out else 0


def _set_cp(c, output: int, cp: int) -> int:
    return int(_conn_req(c, D.IOCTL_SET_CP, struct.pack("<II", output, cp & 0xFFFFFFFF)) is not None)


@api(K32, "UINT WINAPI GetConsoleCP(void)")
def GetConsoleCP(c):
    return _get_cp(c, 0)


@api(K32, "UINT WINAPI GetConsoleOutputCP(void)")
def GetConsoleOutputCP(c):
    return _get_cp(c, 1)


@api(K32, "BOOL WINAPI SetConsoleCP(UINT wCodePageID)")
def SetConsoleCP(c, cp):
    return _set_cp(c, 0, cp)


@api(K32, "BOOL WINAPI SetConsoleOutputCP(UINT wCodePageID)")
def SetConsoleOutputCP(c, cp):
    return _set_cp(c, 1, cp)


# -- title ----------------------------------------------------------------------------------------------------
@api(K32, "BOOL WINAPI SetConsoleTitle%(LPCTSTR lpConsoleTitle)")
def SetConsoleTitle(c, title):
    return int(_conn_req(c, D.IOCTL_SET_TITLE, (title or "").encode("utf-16-le", "surrogatepass")) is not None)


def _get_title(c, buf, size, original: int):
    """GetConsoleTitle / GetConsoleOriginalTitle: 0 for a buffer of no size (nothing is copied); otherwise the
    title, cut to the buffer with its NUL, and the title's whole length (the W forms; the A forms give the
    length copied)."""
    out = _conn_req(c, D.IOCTL_GET_TITLE, struct.pack("<I", original), 0x10000)
    if out is None:
        return 0
    if not size or not buf:
        return 0
    title = out.decode("utf-16-le", "surrogatepass")
    data = c.encode_t(title)
    unit = c.tchar_size()
    n = len(data) // unit
    keep = min(n, size - 1)
    c.write(buf, data[:keep * unit] + bytes(unit))
    return n if c.wide else keep


@api(K32, "DWORD WINAPI GetConsoleTitle%(LPTSTR_RAW lpConsoleTitle, DWORD nSize)")
def GetConsoleTitle(c, buf, size):
    return _get_title(c, buf, size, 0)


@api(K32, "DWORD WINAPI GetConsoleOriginalTitle%(LPTSTR_RAW lpConsoleTitle, DWORD nSize)")
def GetConsoleOriginalTitle(c, buf, size):
    return _get_title(c, buf, size, 1)


# ============================================================================================ modes and I/O
@api(K32, "BOOL WINAPI GetConsoleMode(HANDLE hConsoleHandle, LPDWORD lpMode)")
def GetConsoleMode(c, h, pmode):
    out = _req(c, h, D.IOCTL_GET_MODE, b"", 4)
    if out is None:
        return 0
    c.write(pmode, out)
    return 1


@api(K32, "BOOL WINAPI SetConsoleMode(HANDLE hConsoleHandle, DWORD dwMode)")
def SetConsoleMode(c, h, mode):
    return int(_req(c, h, D.IOCTL_SET_MODE, struct.pack("<I", mode & 0xFFFFFFFF)) is not None)


@api(K32, "BOOL WINAPI WriteConsole%(HANDLE hConsoleOutput, const VOID *lpBuffer, DWORD nNumberOfCharsToWrite, "
          "LPDWORD lpNumberOfCharsWritten, LPVOID lpReserved)")
def WriteConsole(c, h, buf, n, written, reserved):
    n &= 0xFFFFFFFF
    data = c.read(buf, n * c.tchar_size()) if n else b""
    if c.wide:
        c.trace_note("text", data.decode("utf-16-le", "replace"))
    else:
        c.trace_note("text", data.decode("cp437", "replace"))
    out = _req(c, h, D.IOCTL_WRITE_TEXT, struct.pack("<I", int(c.wide)) + data, 4)
    if out is None:
        return 0
    if written:
        c.write_u32(written, struct.unpack("<I", out)[0])
    return 1


@api(K32, "BOOL WINAPI ReadConsole%(HANDLE hConsoleInput, LPVOID lpBuffer, DWORD nNumberOfCharsToRead, "
          "LPDWORD lpNumberOfCharsRead, LPVOID pInputControl)")
def ReadConsole(c, h, buf, n, nread, control):
    """Cooked (line input, echo, Backspace) or raw reading of the console's input; a handle that is not a
    console input handle (a redirected stdin, an output handle) is ERROR_INVALID_HANDLE. A buffer the count
    does not fit in: ERROR_NOACCESS (Windows 10)."""
    unit = c.tchar_size()
    n &= 0xFFFFFFFF
    if n and not _ok_ptr(c, buf, n * unit):
        if _io(c, h, D.IOCTL_GET_MODE, b"", 4)[0] != 0:
            c.set_last_error(ERROR_INVALID_HANDLE)
        else:
            c.set_last_error(ERROR_NOACCESS)
        return 0
    initial, wakeup = "", 0
    if control and c.wide:
        # CONSOLE_READCONSOLE_CONTROL: nLength, nInitialChars, dwCtrlWakeupMask, dwControlKeyState
        length, ninit, wakeup, _state = struct.unpack("<IIII", c.read(control, 16))
        if length >= 16 and ninit:
            initial = c.read(buf, 2 * min(ninit, n)).decode("utf-16-le", "surrogatepass")
    inp = struct.pack("<IIII", int(c.wide), n, len(initial), wakeup) + initial.encode("utf-16-le", "surrogatepass")
    out = _req(c, h, D.IOCTL_READ_CONSOLE, inp, max(4, n * unit))
    if out is None:
        return 0
    c.write(buf, out)
    if nread:
        c.write_u32(nread, len(out) // unit)
    return 1


# ============================================================================================ screen buffers
@api(K32, "HANDLE WINAPI CreateConsoleScreenBuffer(DWORD dwDesiredAccess, DWORD dwShareMode, "
          "const SECURITY_ATTRIBUTES *lpSecurityAttributes, DWORD dwFlags, LPVOID lpScreenBufferData)")
def CreateConsoleScreenBuffer(c, access, share, sa, flags, data):
    if flags != CONSOLE_TEXTMODE_BUFFER:
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return invalid_handle(c)
    if not _conn(c):
        c.set_last_error(ERROR_INVALID_HANDLE)
        return invalid_handle(c)
    inherit = sa_inherit(c, sa)
    st, h = _open(c, "ScreenBuffer", access & 0xFFFFFFFF, inherit)
    if st != 0:
        c.set_last_nt_error(st)
        return invalid_handle(c)
    return h


@api(K32, "BOOL WINAPI SetConsoleActiveScreenBuffer(HANDLE hConsoleOutput)")
def SetConsoleActiveScreenBuffer(c, h):
    return int(_req(c, h, D.IOCTL_SET_ACTIVE) is not None)


def _info(c, h) -> tuple | None:
    out = _req(c, h, D.IOCTL_GET_INFO, b"", 92)
    if out is None:
        return None
    return out


@api(K32, "BOOL WINAPI GetConsoleScreenBufferInfo(HANDLE hConsoleOutput, "
     "PCONSOLE_SCREEN_BUFFER_INFO lpConsoleScreenBufferInfo)")
def GetConsoleScreenBufferInfo(c, h, info):
    out = _info(c, h)
    if out is None:
        return 0
    c.write(info, out[:22])      # dwSize, dwCursorPosition, wAttributes, srWindow, dwMaximumWindowSize
    return 1


@api(K32, "BOOL WINAPI GetConsoleScreenBufferInfoEx(HANDLE hConsoleOutput, "
     "PCONSOLE_SCREEN_BUFFER_INFOEX lpConsoleScreenBufferInfoEx)")
def GetConsoleScreenBufferInfoEx(c, h, info):
    """cbSize must be sizeof(CONSOLE_SCREEN_BUFFER_INFOEX) (96): ERROR_INVALID_PARAMETER otherwise. Its
    srWindow's right and bottom are one past the window (Windows' own convention for the Ex form)."""
    if not info:
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    if c.u32(info) != CSBI_EX_SIZE:
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    out = _info(c, h)
    if out is None:
        return 0
    out = bytearray(out)
    r, b = struct.unpack_from("<hh", out, 14)
    struct.pack_into("<hh", out, 14, r + 1, b + 1)
    c.write(info + 4, bytes(out))
    return 1


@api(K32, "BOOL WINAPI SetConsoleScreenBufferInfoEx(HANDLE hConsoleOutput, "
     "PCONSOLE_SCREEN_BUFFER_INFOEX lpConsoleScreenBufferInfoEx)")
def SetConsoleScreenBufferInfoEx(c, h, info):
    if not info or c.u32(info) != CSBI_EX_SIZE:
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    mask = D.SET_SIZE | D.SET_CURSOR_POS | D.SET_ATTR | D.SET_WINDOW_RECT | D.SET_POPUP | D.SET_COLORS
    return int(_req(c, h, D.IOCTL_SET_INFO, struct.pack("<I", mask) + c.read(info + 4, 92)) is not None)


def _set_info(c, handle, mask: int, **f) -> int:
    body = struct.pack("<hhhhHhhhhhhHI16I", f.get("w", 0), f.get("hh", 0), f.get("x", 0), f.get("y", 0),
                       f.get("attr", 0), 0, 0, 0, 0, 0, 0, 0, 0, *([0] * 16))
    return int(_req(c, handle, D.IOCTL_SET_INFO, struct.pack("<I", mask) + body) is not None)


@api(K32, "BOOL WINAPI SetConsoleScreenBufferSize(HANDLE hConsoleOutput, COORD dwSize)")
def SetConsoleScreenBufferSize(c, h, size):
    w, hh = _coord(size)
    return _set_info(c, h, D.SET_SIZE, w=w, hh=hh)


@api(K32, "BOOL WINAPI SetConsoleTextAttribute(HANDLE hConsoleOutput, WORD wAttributes)")
def SetConsoleTextAttribute(c, h, attr):
    return _set_info(c, h, D.SET_ATTR, attr=attr & 0xFFFF)


@api(K32, "BOOL WINAPI SetConsoleCursorPosition(HANDLE hConsoleOutput, COORD dwCursorPosition)")
def SetConsoleCursorPosition(c, h, pos):
    """COORD is passed by value (X in the low word, Y in the high word); a position outside the buffer is
    ERROR_INVALID_PARAMETER."""
    x, y = _coord(pos)
    return _set_info(c, h, D.SET_CURSOR_POS, x=x, y=y)


@api(K32, "BOOL WINAPI SetConsoleWindowInfo(HANDLE hConsoleOutput, BOOL bAbsolute, const SMALL_RECT *lpConsoleWindow)")
def SetConsoleWindowInfo(c, h, absolute, rect):
    if not rect:
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    return int(_req(c, h, D.IOCTL_SET_WINDOW, struct.pack("<I", int(bool(absolute))) + c.read(rect, 8)) is not None)


@api(K32, "BOOL WINAPI GetConsoleCursorInfo(HANDLE hConsoleOutput, PCONSOLE_CURSOR_INFO lpConsoleCursorInfo)")
def GetConsoleCursorInfo(c, h, info):
    out = _req(c, h, D.IOCTL_GET_CURSOR, b"", 8)
    if out is None:
        return 0
    if not info:
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    c.write(info, out)
    return 1


@api(K32, "BOOL WINAPI SetConsoleCursorInfo(HANDLE hConsoleOutput, const CONSOLE_CURSOR_INFO *lpConsoleCursorInfo)")
def SetConsoleCursorInfo(c, h, info):
    if not info:
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    return int(_req(c, h, D.IOCTL_SET_CURSOR, c.read(info, 8)) is not None)


# -- cells ----------------------------------------------------------------------------------------------------
def _read_cells(c, h, which: int, buf, count, coord, nread, unit: int) -> int:
    count &= 0xFFFFFFFF
    if not nread:
        c.set_last_error(ERROR_INVALID_ACCESS)
        return 0
    if count and not buf:
        c.set_last_error(ERROR_INVALID_ACCESS)
        return 0
    x, y = _coord(coord)
    want = min(count, 1 << 22)
    out = _req(c, h, D.IOCTL_READ_CELLS, struct.pack("<IhhI", which, x, y, want), max(4, want * 2))
    if out is None:
        c.write_u32(nread, 0)
        return 0
    if out:
        c.write(buf, out)
    c.write_u32(nread, len(out) // unit)
    return 1


ERROR_INVALID_ACCESS = 12


@api(K32, "BOOL WINAPI ReadConsoleOutputCharacter%(HANDLE hConsoleOutput, LPVOID lpCharacter, DWORD nLength, "
          "COORD dwReadCoord, LPDWORD lpNumberOfCharsRead)")
def ReadConsoleOutputCharacter(c, h, buf, n, coord, nread):
    return _read_cells(c, h, D.CELLS_CHARS_W if c.wide else D.CELLS_CHARS_A, buf, n, coord, nread,
                       2 if c.wide else 1)


@api(K32, "BOOL WINAPI ReadConsoleOutputAttribute(HANDLE hConsoleOutput, LPWORD lpAttribute, DWORD nLength, "
          "COORD dwReadCoord, LPDWORD lpNumberOfAttrsRead)")
def ReadConsoleOutputAttribute(c, h, buf, n, coord, nread):
    return _read_cells(c, h, D.CELLS_ATTRS, buf, n, coord, nread, 2)


def _write_cells(c, h, which: int, data: bytes, coord, nwritten, unit: int) -> int:
    if not nwritten:
        c.set_last_error(ERROR_INVALID_ACCESS)
        return 0
    x, y = _coord(coord)
    out = _req(c, h, D.IOCTL_WRITE_CELLS, struct.pack("<Ihh", which, x, y) + data, 4)
    if out is None:
        c.write_u32(nwritten, 0)
        return 0
    n = struct.unpack("<I", out)[0]
    if which == D.CELLS_CHARS_A:
        n = min(n, len(data))
    c.write_u32(nwritten, n)
    return 1


@api(K32, "BOOL WINAPI WriteConsoleOutputCharacter%(HANDLE hConsoleOutput, LPCVOID lpCharacter, DWORD nLength, "
          "COORD dwWriteCoord, LPDWORD lpNumberOfCharsWritten)")
def WriteConsoleOutputCharacter(c, h, buf, n, coord, nwritten):
    n &= 0xFFFFFFFF
    unit = c.tchar_size()
    if n and not buf:
        c.set_last_error(ERROR_INVALID_ACCESS)
        return 0
    data = c.read(buf, n * unit) if n else b""
    return _write_cells(c, h, D.CELLS_CHARS_W if c.wide else D.CELLS_CHARS_A, data, coord, nwritten, unit)


@api(K32, "BOOL WINAPI WriteConsoleOutputAttribute(HANDLE hConsoleOutput, const WORD *lpAttribute, DWORD nLength, "
          "COORD dwWriteCoord, LPDWORD lpNumberOfAttrsWritten)")
def WriteConsoleOutputAttribute(c, h, buf, n, coord, nwritten):
    n &= 0xFFFFFFFF
    if n and not buf:
        c.set_last_error(ERROR_INVALID_ACCESS)
        return 0
    data = c.read(buf, n * 2) if n else b""
    return _write_cells(c, h, D.CELLS_ATTRS, data, coord, nwritten, 2)


def _fill(c, h, which: int, value: int, n, coord, nwritten) -> int:
    if not nwritten:
        c.set_last_error(ERROR_INVALID_ACCESS)
        return 0
    x, y = _coord(coord)
    out = _req(c, h, D.IOCTL_FILL, struct.pack("<IhhII", which, x, y, value & 0xFFFF, n & 0xFFFFFFFF), 4)
    if out is None:
        c.write_u32(nwritten, 0)
        return 0
    c.write_u32(nwritten, struct.unpack("<I", out)[0])
    return 1


@api(K32, "BOOL WINAPI FillConsoleOutputCharacterA(HANDLE hConsoleOutput, CHAR cCharacter, DWORD nLength, "
          "COORD dwWriteCoord, LPDWORD lpNumberOfCharsWritten)")
def FillConsoleOutputCharacterA(c, h, ch, n, coord, nwritten):
    return _fill(c, h, D.CELLS_CHARS_A, ch & 0xFF, n, coord, nwritten)


@api(K32, "BOOL WINAPI FillConsoleOutputCharacterW(HANDLE hConsoleOutput, WCHAR cCharacter, DWORD nLength, "
          "COORD dwWriteCoord, LPDWORD lpNumberOfCharsWritten)")
def FillConsoleOutputCharacterW(c, h, ch, n, coord, nwritten):
    return _fill(c, h, D.CELLS_CHARS_W, ch & 0xFFFF, n, coord, nwritten)


@api(K32, "BOOL WINAPI FillConsoleOutputAttribute(HANDLE hConsoleOutput, WORD wAttribute, DWORD nLength, "
          "COORD dwWriteCoord, LPDWORD lpNumberOfAttrsWritten)")
def FillConsoleOutputAttribute(c, h, attr, n, coord, nwritten):
    return _fill(c, h, D.CELLS_ATTRS, attr & 0xFFFF, n, coord, nwritten)


def _rect_io(c, h, buf, size, at, region, write: bool) -> int:
    """Read/WriteConsoleOutput: the region is first cut to the part of the caller's CHAR_INFO array from
    `at` on (written back even when the handle then fails); an empty region or a position outside the array
    is ERROR_INVALID_PARAMETER for a write and ERROR_INVALID_FUNCTION for a read (Windows 10). A region
    wholly outside the buffer: a write succeeds without writing, a read fails (ERROR_INVALID_PARAMETER)."""
    bw, bh = _coord(size)
    ax, ay = _coord(at)
    if not region:
        c.set_last_error(ERROR_INVALID_ACCESS)
        return 0
    l, t, r, b = struct.unpack("<hhhh", c.read(region, 8))
    if r < l or b < t or bw <= 0 or bh <= 0 or not (0 <= ax < bw) or not (0 <= ay < bh):
        if not write and r >= l and b >= t and bw > 0 and bh > 0:
            # the region is clipped to the buffer before the coordinate is refused: a coordinate past the
            # buffer leaves it empty (Bottom = Top - 1; kernel32/console.c test_ReadConsoleOutput, on Windows)
            c.write(region, struct.pack("<hhhh", l, t, min(r, l + bw - ax - 1), min(b, t + bh - ay - 1)))
        c.set_last_error(ERROR_INVALID_PARAMETER if write else ERROR_INVALID_FUNCTION)
        return 0
    r, b = min(r, l + bw - ax - 1), min(b, t + bh - ay - 1)
    c.write(region, struct.pack("<hhhh", l, t, r, b))
    nbytes = bw * bh * 4
    cells = c.read(buf, nbytes)
    inp = struct.pack("<Ihhhhhhhh", int(c.wide), l, t, r, b, bw, bh, ax, ay) + cells
    out = _req(c, h, D.IOCTL_WRITE_RECT if write else D.IOCTL_READ_RECT, inp, 8 if write else 8 + nbytes)
    if out is None:
        return 0
    nl, nt_, nr, nb = struct.unpack_from("<hhhh", out)
    if nr < nl or nb < nt_:
        if not write:
            c.set_last_error(ERROR_INVALID_PARAMETER)
            return 0
        return 1
    c.write(region, out[:8])
    if not write:
        c.write(buf, out[8:])
    return 1


@api(K32, "BOOL WINAPI ReadConsoleOutput%(HANDLE hConsoleOutput, PCHAR_INFO lpBuffer, COORD dwBufferSize, "
          "COORD dwBufferCoord, PSMALL_RECT lpReadRegion)")
def ReadConsoleOutput(c, h, buf, size, at, region):
    return _rect_io(c, h, buf, size, at, region, False)


@api(K32, "BOOL WINAPI WriteConsoleOutput%(HANDLE hConsoleOutput, const CHAR_INFO *lpBuffer, COORD dwBufferSize, "
          "COORD dwBufferCoord, PSMALL_RECT lpWriteRegion)")
def WriteConsoleOutput(c, h, buf, size, at, region):
    return _rect_io(c, h, buf, size, at, region, True)


@api(K32, "BOOL WINAPI ScrollConsoleScreenBuffer%(HANDLE hConsoleOutput, const SMALL_RECT *lpScrollRectangle, "
          "const SMALL_RECT *lpClipRectangle, COORD dwDestinationOrigin, const CHAR_INFO *lpFill)")
def ScrollConsoleScreenBuffer(c, h, scroll, clip, dest, fill):
    if not scroll or not fill:
        c.set_last_error(ERROR_INVALID_ACCESS)
        return 0
    dx, dy = _coord(dest)
    inp = (struct.pack("<I", int(c.wide)) + c.read(scroll, 8) + struct.pack("<I", int(bool(clip)))
           + (c.read(clip, 8) if clip else bytes(8)) + struct.pack("<hh", dx, dy) + c.read(fill, 4))
    return int(_req(c, h, D.IOCTL_SCROLL, inp) is not None)


# -- fonts and the window -------------------------------------------------------------------------------------
@api(K32, "BOOL WINAPI GetCurrentConsoleFont(HANDLE hConsoleOutput, BOOL bMaximumWindow, "
          "PCONSOLE_FONT_INFO lpConsoleCurrentFont)")
def GetCurrentConsoleFont(c, h, maximum, info):
    out = _req(c, h, D.IOCTL_GET_FONT, struct.pack("<I", int(bool(maximum))), 84)
    if out is None:
        if info:
            c.write(info, bytes(8))
        return 0
    c.write(info, out[:8])          # nFont, dwFontSize
    return 1


@api(K32, "BOOL WINAPI GetCurrentConsoleFontEx(HANDLE hConsoleOutput, BOOL bMaximumWindow, "
          "PCONSOLE_FONT_INFOEX lpConsoleCurrentFontEx)")
def GetCurrentConsoleFontEx(c, h, maximum, info):
    """cbSize must be sizeof(CONSOLE_FONT_INFOEX) (84): ERROR_INVALID_PARAMETER otherwise."""
    if not info or c.u32(info) != CFI_EX_SIZE:
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    out = _req(c, h, D.IOCTL_GET_FONT, struct.pack("<I", int(bool(maximum))), 84)
    if out is None:
        return 0
    c.write(info + 4, out)           # nFont, dwFontSize, FontFamily, FontWeight, FaceName[32]
    return 1


@api(K32, "BOOL WINAPI SetCurrentConsoleFontEx(HANDLE hConsoleOutput, BOOL bMaximumWindow, "
          "PCONSOLE_FONT_INFOEX lpConsoleCurrentFontEx)")
def SetCurrentConsoleFontEx(c, h, maximum, info):
    if not info or c.u32(info) != CFI_EX_SIZE:
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    return int(_req(c, h, D.IOCTL_SET_FONT, struct.pack("<I", int(bool(maximum))) + c.read(info + 4, 80))
               is not None)


@api(K32, "DWORD WINAPI GetConsoleFontSize(HANDLE hConsoleOutput, DWORD nFont)")
def GetConsoleFontSize(c, h, index):
    """The size of font `index` (COORD returned by value); an index the console does not have:
    ERROR_INVALID_PARAMETER and 0x0."""
    out = _req(c, h, D.IOCTL_FONT_SIZE, struct.pack("<I", index & 0xFFFFFFFF), 4)
    if out is None:
        return 0
    if out == bytes(4):
        c.set_last_error(ERROR_INVALID_PARAMETER)
    return struct.unpack("<I", out)[0]


@api(K32, "DWORD WINAPI GetLargestConsoleWindowSize(HANDLE hConsoleOutput)")
def GetLargestConsoleWindowSize(c, h):
    out = _req(c, h, D.IOCTL_LARGEST_WINDOW, b"", 4)
    return struct.unpack("<I", out)[0] if out is not None else 0


# ============================================================================================ input
def _write_input(c, h, recs, n, nwritten) -> int:
    n &= 0xFFFFFFFF
    if not nwritten:
        c.set_last_error(ERROR_INVALID_ACCESS)
        return 0
    if n and not recs:
        c.write_u32(nwritten, 0)
        c.set_last_error(ERROR_INVALID_ACCESS)
        return 0
    data = c.read(recs, 20 * n) if n else b""
    out = _req(c, h, D.IOCTL_WRITE_INPUT, struct.pack("<I", int(c.wide)) + data, 4)
    if out is None:
        c.write_u32(nwritten, 0)
        return 0
    c.write_u32(nwritten, struct.unpack("<I", out)[0])
    return 1


@api(K32, "BOOL WINAPI WriteConsoleInput%(HANDLE hConsoleInput, const INPUT_RECORD *lpBuffer, DWORD nLength, "
          "LPDWORD lpNumberOfEventsWritten)")
def WriteConsoleInput(c, h, recs, n, nwritten):
    return _write_input(c, h, recs, n, nwritten)


def _read_input(c, h, buf, n, nread, flags) -> int:
    n &= 0xFFFFFFFF
    if not nread:
        c.set_last_error(ERROR_INVALID_ACCESS)
        return 0
    want = min(n, 1 << 16)
    out = _req(c, h, D.IOCTL_READ_INPUT, struct.pack("<III", int(c.wide), want, flags), max(20, 20 * want))
    if out is None:
        return 0
    if out:
        c.write(buf, out)
    c.write_u32(nread, len(out) // 20)
    return 1


@api(K32, "BOOL WINAPI ReadConsoleInput%(HANDLE hConsoleInput, PINPUT_RECORD lpBuffer, DWORD nLength, "
          "LPDWORD lpNumberOfEventsRead)")
def ReadConsoleInput(c, h, buf, n, nread):
    return _read_input(c, h, buf, n, nread, 0)


@api(K32, "BOOL WINAPI PeekConsoleInput%(HANDLE hConsoleInput, PINPUT_RECORD lpBuffer, DWORD nLength, "
          "LPDWORD lpNumberOfEventsRead)")
def PeekConsoleInput(c, h, buf, n, nread):
    return _read_input(c, h, buf, n, nread, D.READ_PEEK)


@api(K32, "BOOL WINAPI GetNumberOfConsoleInputEvents(HANDLE hConsoleInput, LPDWORD lpcNumberOfEvents)")
def GetNumberOfConsoleInputEvents(c, h, out_count):
    out = _req(c, h, D.IOCTL_NUM_INPUT, b"", 4)
    if out is None:
        return 0
    if not out_count:
        c.set_last_error(ERROR_INVALID_ACCESS)
        return 0
    c.write(out_count, out)
    return 1


@api(K32, "BOOL WINAPI FlushConsoleInputBuffer(HANDLE hConsoleInput)")
def FlushConsoleInputBuffer(c, h):
    return int(_req(c, h, D.IOCTL_FLUSH_INPUT) is not None)


@api(K32, "HANDLE WINAPI GetConsoleInputWaitHandle(void)")
def GetConsoleInputWaitHandle(c):
    """The handle a wait for console input waits on: the std input handle (Windows 10)."""
    return RTL_USER_PROCESS_PARAMETERS.read(c.proc.aspace, params_address(c), c.arch,
                                            "StandardInput")["StandardInput"]


@api(K32, "BOOL WINAPI VerifyConsoleIoHandle(HANDLE hIoHandle)")
def VerifyConsoleIoHandle(c, h):
    """Whether `h` is a console handle; the last error is left alone."""
    return int(_is_console_handle(c, h))


@api(K32, "BOOL WINAPI GetConsoleInputExeName%(DWORD nBufferLength, LPTSTR_RAW lpExeName)")
def GetConsoleInputExeName(c, size, buf):
    """The name set by SetConsoleInputExeName, else the process's executable's file name. A buffer too small:
    TRUE with ERROR_BUFFER_OVERFLOW and nothing copied (Windows 10)."""
    out = _conn_req(c, D.IOCTL_GET_EXE_NAME, b"", 0x1000)
    name = out.decode("utf-16-le", "surrogatepass") if out else ""
    if not name:
        path = getattr(c.proc, "image_path", "") or ""
        name = path.rsplit("\\", 1)[-1]
    data = c.encode_t(name)
    unit = c.tchar_size()
    if len(data) // unit + 1 > size or not buf:
        c.set_last_error(ERROR_BUFFER_OVERFLOW)
        return 1
    c.write(buf, data + bytes(unit))
    return 1


@api(K32, "BOOL WINAPI SetConsoleInputExeName%(LPCTSTR lpExeName)")
def SetConsoleInputExeName(c, name):
    if not name:
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    return int(_conn_req(c, D.IOCTL_SET_EXE_NAME, name.encode("utf-16-le", "surrogatepass")) is not None)


# ============================================================================================ Ctrl events
CTRL_ROUTINE = "CtrlRoutine"
internal_function("kernel32.dll", CTRL_ROUTINE)
STATUS_CONTROL_C_EXIT = 0xC000013A


def _ctrl_routine(c, event):
    """The thread a console Ctrl event starts in the process (kernelbase's CtrlRoutine): the handlers from
    the last registered on, until one returns TRUE; when none does, the process ends with
    STATUS_CONTROL_C_EXIT (ExitProcess, as the default handler does)."""
    st = c.proc.subsystem.get("console_ctrl") or {"handlers": [], "ignore_ctrl_c": False}
    for routine in list(reversed(st["handlers"])):
        if c.machine.dispatcher.call_guest(c.thread, routine, [event & 0xFFFFFFFF]) & 0xFFFFFFFF:
            return 0
    from winhatch.ldr import ntdll
    ntdll.RtlExitUserProcess(c.machine, c.thread, STATUS_CONTROL_C_EXIT)
    return 0


api(K32, f"DWORD WINAPI {CTRL_ROUTINE}(DWORD dwCtrlEvent)", calls_guest=True)(_ctrl_routine)
api_mod._REGISTRY[-1].name = CTRL_ROUTINE


@api(K32, "BOOL WINAPI GenerateConsoleCtrlEvent(DWORD dwCtrlEvent, DWORD dwProcessGroupId)")
def GenerateConsoleCtrlEvent(c, event, group):
    """CTRL_C_EVENT (0) or CTRL_BREAK_EVENT (1) to the processes of the console in process group `group`
    (0: all of them): a thread at CtrlRoutine in each. A Ctrl-C the process ignores (SetConsoleCtrlHandler
    (NULL, TRUE)) starts nothing. Only the calling process is reached: another process of the console in
    the group stops the caller loudly."""
    if event not in (0, 1):
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    out = _conn_req(c, D.IOCTL_PROCESS_LIST, b"", 4 + 4 * 64)
    if out is None:
        return 0
    n = struct.unpack_from("<I", out)[0]
    pids = list(struct.unpack_from(f"<{min(n, 64)}I", out, 4)) if len(out) >= 4 + 4 * n else []
    me = c.proc
    targets = [pid for pid in pids if group == 0 or pid == group or
               (pid == me.pid and me.csr is not None and me.csr.process_group_id == group)]
    if any(pid != me.pid for pid in targets):
        from winhatch.win32.msvcrt.runtime import not_implemented
        not_implemented(c, "GenerateConsoleCtrlEvent to another process of the console")
    if me.pid not in targets:
        return 1
    st = me.subsystem.get("console_ctrl") or {"handlers": [], "ignore_ctrl_c": False}
    if event == 0 and st["ignore_ctrl_c"]:
        return 1
    from winhatch.ldr import loader
    from winhatch.win32.kernel32.threads import create_thread
    m = loader.state_of(me).by_name.get("kernel32.dll")
    img = me.subsystem["images"].find(m.base) if m is not None else None
    start = next((m.base + rva for rva, name in ((img.traps or {}).items() if img else ()) if name == CTRL_ROUTINE),
                 None)
    if start is None:
        from winhatch.win32.msvcrt.runtime import not_implemented
        not_implemented(c, "kernel32's CtrlRoutine stub is missing")
    h = create_thread(c, -1, 0, 0, start, event, 0, 0, api_name="GenerateConsoleCtrlEvent")
    if not h:
        return 0
    c.nt("NtClose", h)
    return 1


@api(K32, "HANDLE WINAPI OpenConsoleW(LPCWSTR name, DWORD access, BOOL inherit, DWORD creation)")
def OpenConsoleW(c, name, access, inherit, creation):
    """CONIN$ or CONOUT$ of the process's console (Windows 8 and later accept any creation disposition from
    0 to TRUNCATE_EXISTING and only the generic access rights); anything else ERROR_INVALID_PARAMETER."""
    which = {"CONIN$": "CurrentIn", "CONOUT$": "CurrentOut"}.get((name or "").upper())
    access &= 0xFFFFFFFF
    if which is None or creation > 5 or access & ~0xF0000000:
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return invalid_handle(c)
    st, h = _open(c, which, access or 0x80000000, bool(inherit))
    if st != 0:
        c.set_last_nt_error(st)
        return invalid_handle(c)
    return h


@api(K32, "HANDLE WINAPI DuplicateConsoleHandle(HANDLE handle, DWORD access, BOOL inherit, DWORD options)")
def DuplicateConsoleHandle(c, h, access, inherit, options):
    """DuplicateHandle within the process (NtDuplicateObject); INVALID_HANDLE_VALUE on failure."""
    out = c.stack_alloc(8, 8)
    c.write(out, bytes(8))
    me = invalid_handle(c)
    st = c.nt("NtDuplicateObject", me, h, me, out, access, 0x2 if inherit else 0, options)
    if st != 0:
        c.set_last_nt_error(st)
        return me
    return c.ptr(out)


@api(K32, "BOOL WINAPI CloseConsoleHandle(HANDLE handle)")
def CloseConsoleHandle(c, h):
    st = c.nt("NtClose", h)
    if st != 0:
        c.set_last_nt_error(st)
        return 0
    return 1


E_NOTIMPL_LOW = 0x4001        # LOWORD(E_NOTIMPL): what Windows 10 1709 and later set for the raster-font calls


@api(K32, "DWORD WINAPI GetNumberOfConsoleFonts(void)")
def GetNumberOfConsoleFonts(c):
    """The console's fonts: one, the TrueType font of its buffers (there is no raster font table)."""
    return 1


@api(K32, "BOOL WINAPI GetConsoleFontInfo(HANDLE hConsoleOutput, BOOL bMaximize, DWORD nFontCount, "
          "PCONSOLE_FONT_INFO lpConsoleFontInfo)")
def GetConsoleFontInfo(c, h, maximize, count, info):
    """The raster font table is gone from Windows 10 (1709 on): FALSE with LOWORD(E_NOTIMPL)."""
    c.set_last_error(E_NOTIMPL_LOW)
    return 0


@api(K32, "BOOL WINAPI SetConsoleFont(HANDLE hConsoleOutput, DWORD nFont)")
def SetConsoleFont(c, h, index):
    """As GetConsoleFontInfo: FALSE with LOWORD(E_NOTIMPL) on Windows 10 1709 and later."""
    c.set_last_error(E_NOTIMPL_LOW)
    return 0


# ============================================================================================ pseudo consoles
E_INVALIDARG = 0x80070057
S_OK = 0


def _hresult(st: int) -> int:
    from winhatch.ntstatus import nt_to_win32
    err = nt_to_win32(st)
    return 0x80070000 | (err & 0xFFFF) if err else 0x80004005


@api(K32, "HRESULT WINAPI CreatePseudoConsole(COORD size, HANDLE hInput, HANDLE hOutput, DWORD dwFlags, "
          "HPCON *phPC)")
def CreatePseudoConsole(c, size, hin, hout, flags, phpc):
    """A console whose host is the caller: \\Device\\ConDrv\\Server, set up with the two pipe ends and the size
    (both positive: E_INVALIDARG otherwise). The HPCON is a process-heap block holding the server handle.
    What the console's processes write reaches hOutput as UTF-8 text (conhost renders VT sequences there);
    reading the console's input from hInput is not implemented (such a read stops the guest loudly)."""
    from winhatch.win32.kernel32.common import heap_alloc
    cols, lines = _coord(size)
    if cols <= 0 or lines <= 0 or not phpc:
        return E_INVALIDARG
    st, server = _open(c, "Server", 0x80000000 | 0x40000000)
    if st != 0:
        return _hresult(st)
    st, _ = _io(c, server, D.IOCTL_PTY_SETUP, struct.pack("<QQhh", hin, hout, cols, lines))
    if st != 0:
        c.nt("NtClose", server)
        return _hresult(st)
    block = heap_alloc(c, c.ptr_size)
    c.write_ptr(block, server)
    c.write_ptr(phpc, block)
    return S_OK


@api(K32, "void WINAPI ClosePseudoConsole(HPCON hPC)")
def ClosePseudoConsole(c, hpc):
    """The server handle goes: the console lets go of the host's pipe ends (the host's reader sees the pipe
    broken)."""
    from winhatch.win32.kernel32.common import heap_free
    if not hpc:
        return None
    server = c.ptr(hpc)
    if server:
        c.nt("NtClose", server)
    heap_free(c, hpc)
    return None
