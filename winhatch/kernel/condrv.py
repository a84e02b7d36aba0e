"""\\Device\\ConDrv: the console driver, its file objects and the requests kernel32 sends on them.

On Windows 10 a console is a server (conhost) behind the ConDrv driver: a process's std handles, CONIN$,
CONOUT$, CreateConsoleScreenBuffer's handles and the connection handle in
RTL_USER_PROCESS_PARAMETERS.ConsoleHandle are file objects of \\Device\\ConDrv, and every console API is an
NtDeviceIoControlFile on one of them. winhatch's server is in the kernel: the console model is
winhatch.kernel.io.console (Console with its screen buffers and input buffer) and this module is the driver:
`open_file` (NtCreateFile of \\Device\\ConDrv\\<name>) and `device_control` (NtDeviceIoControlFile).

The control codes and their buffers are winhatch's own (Windows' conhost messages are not documented):
CTL_CODE(FILE_DEVICE_CONSOLE, function, METHOD_NEITHER, FILE_ANY_ACCESS), little-endian fixed layouts
given with each function below. kernel32's console functions (win32/kernel32/console.py) build them.

File objects (ConsoleFile) and what they refer to:
- kind "input" / "output": an input handle or a screen buffer handle. `console` is the console the handle
  was opened on (None for \\Device\\ConDrv\\Input and \\Output: the caller's console when used). A handle used
  by a process that has no console, or a console other than the handle's, is STATUS_INVALID_HANDLE; a std
  handle (`current`: the ones a console gives its processes) follows the process to the console it has now.
- kind "connect": the process's connection (RTL_USER_PROCESS_PARAMETERS.ConsoleHandle): the console-wide
  requests (code pages, title, window, process list, allocation and detachment).
- `stream` ("stdin"/"stdout"/"stderr"): a std handle of the machine's console, whose bytes also reach the
  host stream (and which is a pipe or a file, not a console, when the host stream is redirected).
"""
from __future__ import annotations

import struct

from winhatch.kernel.ob import KObject
from winhatch.ntstatus import NtStatusError

FILE_DEVICE_CONSOLE = 0x50
STATUS_SUCCESS = 0
STATUS_INVALID_HANDLE = 0xC0000008
STATUS_INVALID_PARAMETER = 0xC000000D
STATUS_ACCESS_DENIED = 0xC0000022
STATUS_BUFFER_TOO_SMALL = 0xC0000023
STATUS_OBJECT_NAME_NOT_FOUND = 0xC0000034
STATUS_NOT_SUPPORTED = 0xC00000BB
STATUS_INVALID_DEVICE_REQUEST = 0xC0000010
STATUS_PROCESS_IS_TERMINATING = 0xC000010A

GENERIC_READ, GENERIC_WRITE = 0x80000000, 0x40000000
FILE_READ_DATA, FILE_WRITE_DATA = 0x1, 0x2


def ctl(fn: int) -> int:
    return FILE_DEVICE_CONSOLE << 16 | fn << 2 | 3


# handle requests (input handle or screen buffer handle)
IOCTL_GET_MODE = ctl(1)            # out: u32 mode
IOCTL_SET_MODE = ctl(2)            # in: u32 mode
IOCTL_GET_INFO = ctl(3)            # out: CONSOLE_SCREEN_BUFFER_INFOEX without cbSize (92 bytes)
IOCTL_SET_INFO = ctl(4)            # in: u32 mask + the same 92 bytes (see SET_* below)
IOCTL_GET_CURSOR = ctl(5)          # out: u32 size, u32 visible
IOCTL_SET_CURSOR = ctl(6)          # in: u32 size, u32 visible
IOCTL_WRITE_TEXT = ctl(7)          # in: u32 unicode + text; out: u32 characters written
IOCTL_READ_CELLS = ctl(8)          # in: u32 which, i16 x, i16 y, u32 count; out: the cells
IOCTL_WRITE_CELLS = ctl(9)         # in: u32 which, i16 x, i16 y + the cells; out: u32 written
IOCTL_FILL = ctl(10)               # in: u32 which, i16 x, i16 y, u32 value, u32 count; out: u32 written
IOCTL_READ_RECT = ctl(11)          # in: u32 unicode, SMALL_RECT, COORD size, COORD at + CHAR_INFOs; out: rect+cells
IOCTL_WRITE_RECT = ctl(12)         # in: the same; out: SMALL_RECT written
IOCTL_SCROLL = ctl(13)             # in: u32 unicode, SMALL_RECT, u32 has_clip, SMALL_RECT clip, COORD, CHAR_INFO
IOCTL_SET_ACTIVE = ctl(14)         # (no buffers)
IOCTL_WRITE_INPUT = ctl(15)        # in: u32 unicode + INPUT_RECORDs (20 bytes each); out: u32 written
IOCTL_READ_INPUT = ctl(16)         # in: u32 unicode, u32 count, u32 flags (1 peek, 2 no wait); out: records
IOCTL_NUM_INPUT = ctl(17)          # out: u32 events
IOCTL_FLUSH_INPUT = ctl(18)        # (no buffers)
IOCTL_READ_CONSOLE = ctl(19)       # in: u32 unicode, u32 characters, u32 initial, u32 wakeup mask + initial text
IOCTL_GET_FONT = ctl(20)           # in: u32 maximum; out: u32 index, COORD size, u32 family, u32 weight, WCHAR[32]
IOCTL_FONT_SIZE = ctl(21)          # in: u32 index; out: COORD
IOCTL_LARGEST_WINDOW = ctl(22)     # out: COORD
IOCTL_SET_WINDOW = ctl(23)         # in: u32 absolute, SMALL_RECT
IOCTL_SET_FONT = ctl(24)           # in: u32 maximum, u32 index, COORD, u32 family, u32 weight, WCHAR[32]
# connection requests (RTL_USER_PROCESS_PARAMETERS.ConsoleHandle)
IOCTL_GET_CP = ctl(30)             # in: u32 output; out: u32 code page
IOCTL_SET_CP = ctl(31)             # in: u32 output, u32 code page
IOCTL_GET_TITLE = ctl(32)          # in: u32 original; out: the title (UTF-16)
IOCTL_SET_TITLE = ctl(33)          # in: the title (UTF-16)
IOCTL_GET_WINDOW = ctl(34)         # out: u64 the window handle (0: user32 has not made it yet), u32 windowless
IOCTL_SET_WINDOW_HANDLE = ctl(35)  # in: u64 the console window user32 made
IOCTL_PROCESS_LIST = ctl(36)       # out: u32 count + u32 pids (as many as fit)
IOCTL_ATTACH = ctl(37)             # in: u32 pid (0xFFFFFFFF: the parent) or 0 with u32 new=1: a new console
IOCTL_DETACH = ctl(38)             # (no buffers)
IOCTL_GET_EXE_NAME = ctl(39)       # out: UTF-16
IOCTL_SET_EXE_NAME = ctl(40)       # in: UTF-16
# server requests (a console made with CreatePseudoConsole)
IOCTL_PTY_SETUP = ctl(50)          # in: u64 input handle, u64 output handle, i16 columns, i16 lines

SET_SIZE, SET_CURSOR_POS, SET_ATTR, SET_WINDOW_RECT, SET_POPUP, SET_COLORS = 1, 2, 4, 8, 0x10, 0x20
CELLS_CHARS_W, CELLS_CHARS_A, CELLS_ATTRS = 0, 1, 2
READ_PEEK, READ_NOWAIT = 1, 2
KEY_EVENT = 1
MOUSE_EVENT = 2
MOUSE_MOVED = 1


class ConsoleFile(KObject):
    type_name = "File"

    def __init__(self, console, stream: str | None = None, *, kind: str | None = None, screen=None,
                 current: bool = False, name: str | None = None):
        if kind is None:
            kind = "input" if stream == "stdin" else "output"
        super().__init__(name=name or f"\\Device\\ConDrv\\{stream or kind}")
        self.console = console
        self.stream = stream        # "stdin" | "stdout" | "stderr" | None
        self.kind = kind            # "input" | "output" | "connect"
        self.current = current or stream is not None
        self.screen = screen
        if screen is not None:
            screen.refs += 1
        self.machine = None

    # -- what the I/O manager asks of a file object ----------------------------------------------------------
    @property
    def file_type(self) -> int:
        """GetFileType: FILE_TYPE_CHAR for a console, PIPE/DISK when the host stream is redirected."""
        if self.stream is not None and self.console is not None:
            return getattr(self.console, self.stream).file_type
        return 2

    @property
    def is_console(self) -> bool:
        if self.stream is not None and self.console is not None:
            return getattr(self.console, self.stream).is_console
        return True

    def write(self, data: bytes) -> int:
        """A write without a caller (the host-stream std handles only)."""
        if self.stream is None or self.console is None:
            raise NtStatusError(STATUS_INVALID_HANDLE, "console handle without a process")
        return self.console.write(self.stream, data)

    def read(self, n: int) -> bytes:
        if self.stream is None or self.console is None:
            raise NtStatusError(STATUS_INVALID_HANDLE, "console handle without a process")
        return self.console.stdin.read(n)

    def is_signaled_for(self, thread) -> bool:
        """A console handle is signalled while the console's input buffer has events."""
        con = self.console if self.console is not None else thread.process.console
        return con is not None and bool(con.input_records)

    def acquire(self, thread) -> bool:
        return False

    def on_last_handle_close(self) -> None:
        if self.kind == "server" and self.console is not None:
            _pty_close(self.console)
        if self.screen is not None and self.console is not None:
            self.screen.refs -= 1
            if self.screen.refs <= 0:
                self.console.release_screen(self.screen)


def attach_std_handles(proc, console, which=(True, True, True)) -> tuple[int, int, int]:
    """Create the console's std handles in the process (Stage 5's console attachment): input, output, error
    (those `which` asks for; 0 for the others)."""
    if console is None:
        return 0, 0, 0
    out = []
    for want, stream, access in zip(which, ("stdin", "stdout", "stderr"),
                                    (GENERIC_READ | 0x100000 | 0x1, GENERIC_WRITE | 0x100000 | 0x2,
                                     GENERIC_WRITE | 0x100000 | 0x2)):
        out.append(proc.handles.insert(ConsoleFile(console, stream), access, inherit=True) if want else 0)
    return tuple(out)


def connect(proc, console) -> int:
    """The connection handle of a process attached to `console` (0 without one); the process joins the
    console's process list."""
    if console is None:
        return 0
    if proc.pid not in console.pids:
        console.pids.insert(0, proc.pid)
    return proc.handles.insert(ConsoleFile(console, kind="connect", name="\\Device\\ConDrv\\Connect"),
                               0x12019F, inherit=False)


# ============================================================================================ open
def open_file(machine, thread, rest: str, access: int, options: int = 0):
    """NtCreateFile of \\Device\\ConDrv<rest>: \\CurrentIn (CONIN$), \\CurrentOut (CONOUT$), \\Console (CON:
    input when opened for reading, output when for writing), \\ScreenBuffer (a new screen buffer), \\Input and
    \\Output (handles not bound to a console yet), \\Connect (a connection, bound by IOCTL_ATTACH)."""
    name = rest.lstrip("\\").lower()
    con = thread.process.console
    if name == "server":
        # a new console whose host is the caller (CreatePseudoConsole): configured by IOCTL_PTY_SETUP
        from winhatch.kernel.io.console import Console
        return ConsoleFile(Console(None, None, None, force_console=True), kind="server",
                           name="\\Device\\ConDrv\\Server")
    if name == "connect":
        return ConsoleFile(None, kind="connect", name="\\Device\\ConDrv\\Connect")
    if name in ("input", "output"):
        return ConsoleFile(None, kind=name, current=True, name="\\Device\\ConDrv\\" + rest.lstrip("\\"))
    if name not in ("currentin", "currentout", "console", "screenbuffer"):
        raise NtStatusError(STATUS_OBJECT_NAME_NOT_FOUND, f"\\Device\\ConDrv{rest}: no such object")
    if con is None:
        raise NtStatusError(STATUS_INVALID_HANDLE, "the process has no console")
    if name == "console":
        read = bool(access & (GENERIC_READ | FILE_READ_DATA))
        write = bool(access & (GENERIC_WRITE | FILE_WRITE_DATA))
        if read == write:
            raise NtStatusError(STATUS_INVALID_PARAMETER, "CON opened for both reading and writing")
        name = "currentin" if read else "currentout"
    if name == "currentin":
        return ConsoleFile(con, kind="input", name="\\Device\\ConDrv\\CurrentIn")
    if name == "currentout":
        return ConsoleFile(con, kind="output", screen=con.active, name="\\Device\\ConDrv\\CurrentOut")
    return ConsoleFile(con, kind="output", screen=con.new_screen(), name="\\Device\\ConDrv\\ScreenBuffer")


# ============================================================================================ requests
def _console_of(thread, f: ConsoleFile):
    """The console a request on `f` reaches, or STATUS_INVALID_HANDLE."""
    con = thread.process.console
    if f.stream is not None and not f.is_console:
        raise NtStatusError(STATUS_INVALID_HANDLE, f"{f.stream} is not a console")
    if con is None:
        raise NtStatusError(STATUS_INVALID_HANDLE, "the process has no console")
    if f.console is not None and f.console is not con and not f.current:
        raise NtStatusError(STATUS_INVALID_HANDLE, "a handle of another console")
    return con


def _screen_of(thread, f: ConsoleFile):
    con = _console_of(thread, f)
    if f.kind != "output":
        raise NtStatusError(STATUS_INVALID_HANDLE, "not a screen buffer handle")
    if f.screen is not None and f.console is con:
        return con, f.screen
    return con, con.main_screen if f.stream is not None else con.active


def _input_of(thread, f: ConsoleFile):
    con = _console_of(thread, f)
    if f.kind != "input":
        raise NtStatusError(STATUS_INVALID_HANDLE, "not an input handle")
    return con


def file_write(machine, thread, f: ConsoleFile, data: bytes) -> int:
    """NtWriteFile on a console handle: the bytes in the output code page."""
    if f.stream is not None and f.console is not None and not f.is_console:
        return f.console.write(f.stream, data)           # a redirected std handle: the host stream
    con, sb = _screen_of(thread, f)
    return _write(con, sb, f, data, None)


def _write(con, sb, f: ConsoleFile, raw: bytes | None, text: str | None) -> int:
    """Text into a screen buffer; what reaches the console's first buffer also reaches the host terminal (or,
    for a pseudo console, its output pipe, as UTF-8 text)."""
    std = con.stderr if f.stream == "stderr" else con.stdout
    if sb is con.main_screen and std.stream is not None:
        std._to_host(raw if raw is not None else text.encode("utf-8", "surrogatepass"))
    pty = getattr(con, "pty", None)
    if pty is not None and sb is con.active and pty["out"] is not None:
        shown = text if text is not None else con.decode(raw)
        try:
            pty["out"].write(shown.replace("\r\n", "\n").replace("\n", "\r\n").encode("utf-8", "surrogatepass"))
        except NtStatusError:
            pass                       # the host's end is gone: the text stays in the buffer
    if text is None:
        sb.write_text(con.decode(raw))
        return len(raw)
    sb.write_text(text)
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def file_read(machine, thread, f: ConsoleFile, n: int, caller_sp: int = 0) -> bytes:
    """NtReadFile on a console handle: a redirected std input reads the host stream; a console input handle
    reads as ReadConsoleA does."""
    if f.stream is not None and f.console is not None and not f.is_console:
        return f.console.stdin.read(n)
    con = _input_of(thread, f)
    data = read_console(machine, thread, con, n, False, "", 0, ("NtReadFile", caller_sp))
    return data


# -- input records ---------------------------------------------------------------------------------------------
def _records_in(con, raw: bytes, unicode: bool) -> list[tuple[int, bytes]]:
    out = []
    for k in range(0, len(raw) - 19, 20):
        etype = struct.unpack_from("<H", raw, k)[0]
        payload = bytearray(raw[k + 4:k + 20])
        if etype == KEY_EVENT and not unicode:
            ch = payload[10]
            u = bytes([ch]).decode(con.encoding("input"), "replace")
            struct.pack_into("<H", payload, 10, ord(u[0]) if u else 0)
        out.append((etype, bytes(payload)))
    return out


def _mouse_move(rec) -> bool:
    """A MOUSE_EVENT record whose dwEventFlags is MOUSE_MOVED."""
    return rec[0] == MOUSE_EVENT and struct.unpack_from("<I", rec[1], 12)[0] == MOUSE_MOVED


def _records_out(con, recs, unicode: bool) -> bytes:
    out = bytearray()
    for etype, payload in recs:
        payload = bytearray(payload)
        if etype == KEY_EVENT and not unicode:
            u = chr(struct.unpack_from("<H", payload, 10)[0])
            b = u.encode(con.encoding("input"), "replace")[:1] or b"\0"
            struct.pack_into("<H", payload, 10, b[0])
        out += struct.pack("<HH", etype, 0) + payload
    return bytes(out)


def _host_records(con) -> None:
    """Characters typed on the host terminal become key records (a key-down and a key-up each)."""
    std = con.stdin
    if std.stream is None or not std.is_console:
        return
    n = std.pending_bytes()
    if n <= 0:
        return
    text = std._raw_read(n).decode(con.encoding("input"), "replace")
    for ch in text:
        if ch == "\n":
            ch = "\r"
        vk = 0x0D if ch == "\r" else (ord(ch.upper()) if ch.isalnum() and ord(ch) < 128 else 0)
        for down in (1, 0):
            con.input_records.append((KEY_EVENT, struct.pack("<IHHHHI", down, 1, vk, 0, ord(ch) & 0xFFFF, 0)))


def _pty_setup(machine, thread, con, data: bytes) -> tuple[int, bytes]:
    """CreatePseudoConsole: the console's output goes to the host's output pipe (the text written, as UTF-8;
    Windows renders VT sequences), its buffer and window are the size given. The console holds the two pipe
    ends (handles in the System process, as conhost holds them) until the console is closed."""
    hin, hout, cols, lines = struct.unpack_from("<QQhh", data)
    if cols <= 0 or lines <= 0:
        raise NtStatusError(STATUS_INVALID_PARAMETER, "pseudo console size")
    system = machine.system_process
    held, ends = [], {}
    for name, h in (("in", hin), ("out", hout)):
        if not h:
            ends[name] = None
            continue
        obj = thread.process.handles.lookup(h)
        held.append(system.handles.insert(obj, 0x120196 if name == "out" else 0x120089, inherit=False))
        ends[name] = obj
    con.pty = {"in": ends["in"], "out": ends["out"], "held": held, "system": system}
    sb = con.main_screen
    sb.resize(max(cols, sb.window_cols), max(lines, sb.window_lines))
    sb.window_cols, sb.window_lines, sb.left, sb.top = cols, lines, 0, 0
    sb.resize(cols, lines)
    return 0, b""


def _pty_close(con) -> None:
    pty = getattr(con, "pty", None)
    if pty is None:
        return
    con.pty = None
    for h in pty["held"]:
        try:
            pty["system"].handles.close(h)
        except NtStatusError:
            pass


def _key_record(ch: str) -> tuple[int, bytes]:
    ch = "\r" if ch == "\n" else (ch or "\0")
    vk = 0x0D if ch == "\r" else (ord(ch.upper()) if ch.isalnum() and ord(ch) < 128 else 0)
    return KEY_EVENT, struct.pack("<IHHHHI", 1, 1, vk, 0, ord(ch[0]) & 0xFFFF, 0)


def _wait_input(machine, thread, con, key) -> None:
    """Block the request until the input buffer changes (the request is run again then)."""
    from winhatch.kernel.ke import wait as kwait
    if con.stdin.stream is not None and con.stdin.is_console:
        return          # the host terminal: read it (blocking there) instead
    if getattr(con, "pty", None) is not None and con.pty["in"] is not None:
        from winhatch.kernel.ke.services import unsupported
        unsupported(thread, "NtDeviceIoControlFile", "console input from a pseudo console's input pipe")
    kwait.take_done(thread, key)
    raise kwait.WouldBlock(kwait.WaitBlock([_InputWait(con)], False, None, "console input", key))


class _InputWait:
    """What a thread waiting for console input waits on: events added to the console's input buffer."""

    def __init__(self, con):
        self.con = con
        self.seen = con.input_generation

    def is_signaled_for(self, thread) -> bool:
        return self.con.input_generation != self.seen and bool(self.con.input_records)

    def acquire(self, thread) -> bool:
        return False


def read_console(machine, thread, con, n: int, unicode: bool, initial: str, wakeup: int, key) -> bytes:
    """ReadConsole / ReadFile on the input: in line-input mode the characters of key-down records up to
    Enter, echoed to the active screen buffer in echo mode, with Backspace removing the character before it
    (processed input); the line ends with CR LF. Without line input, the characters there are (at least one).
    A console on the host terminal with an empty input buffer reads a line from the terminal."""
    mode = con.stdin._mode
    _host_records(con)
    line_mode = bool(mode & 0x2)
    if not con.input_records and con.stdin.stream is not None and con.stdin.is_console:
        if unicode:
            return con.stdin.read_console_w(n).encode("utf-16-le", "surrogatepass")
        return con.stdin.read(n)
    chars = list(initial)
    recs = list(con.input_records)
    used = 0
    done = False
    for etype, payload in recs:
        used += 1
        if etype != KEY_EVENT:
            continue
        down, _rep, _vk, _scan, uch, _state = struct.unpack("<IHHHHI", payload)
        if not down or not uch:
            continue
        ch = chr(uch)
        if not line_mode:
            chars.append(ch)
            if len(chars) >= n:
                done = True
                break
            continue
        if ch == "\b" and mode & 0x1:
            if chars:
                chars.pop()
                if mode & 0x4:
                    con.active.write_text("\b \b")
            continue
        if ch == "\r":
            chars += ["\r", "\n"]
            if mode & 0x4:
                con.active.write_text("\r\n")
            done = True
            break
        chars.append(ch)
        if mode & 0x4:
            con.active.write_text(ch)
        if wakeup and uch < 32 and wakeup & (1 << uch):
            done = True
            break
    if not done and not (not line_mode and chars):
        _wait_input(machine, thread, con, key)
        return b""                  # the host terminal has nothing more: end of input
    for _ in range(used):
        con.input_records.popleft()
    text = "".join(chars)
    data = text.encode("utf-16-le", "surrogatepass") if unicode else text.encode(con.encoding("input"), "replace")
    unit = 2 if unicode else 1
    if len(data) > n * unit:
        con.pending_read = data[n * unit:]
        data = data[:n * unit]
    return data


# -- the dispatcher --------------------------------------------------------------------------------------------
def _u32(data: bytes, off: int = 0) -> int:
    if len(data) < off + 4:
        raise NtStatusError(STATUS_INVALID_PARAMETER, "console request too short")
    return struct.unpack_from("<I", data, off)[0]


def _info(sb) -> bytes:
    l, t, r, b = sb.window
    return struct.pack("<hhhhHhhhhhhHI16I", sb.width, sb.height, sb.x, sb.y, sb.attributes, l, t, r, b,
                       *sb.max_window, sb.popup_attributes, int(sb.fullscreen), *sb.color_table)


def device_control(machine, thread, f: ConsoleFile, code: int, data: bytes, outlen: int,
                   caller_sp: int = 0, granted: int = 0xFFFFFFFF) -> tuple[int, bytes]:
    """One console request: (status, output bytes). Errors are NtStatusError."""
    key = ("NtDeviceIoControlFile", caller_sp)
    if f.kind == "server":
        if code != IOCTL_PTY_SETUP:
            raise NtStatusError(STATUS_INVALID_DEVICE_REQUEST, f"console server control code {code:#x}")
        return _pty_setup(machine, thread, f.console, data)
    if f.kind == "connect":
        return _connection(machine, thread, f, code, data, outlen)
    if code == IOCTL_GET_MODE:
        con = _console_of(thread, f)
        if f.kind == "input":
            return 0, struct.pack("<I", con.stdin._mode)
        return 0, struct.pack("<I", _screen_of(thread, f)[1].mode)
    if code == IOCTL_SET_MODE:
        con = _console_of(thread, f)
        mode = _u32(data)
        if f.kind == "input":
            if mode & ~0x3FF and mode & ~0x3FF != 0:
                raise NtStatusError(STATUS_INVALID_PARAMETER, f"invalid input mode {mode:#x}")
            con.stdin._mode = mode
        else:
            if mode & ~0x1F:
                raise NtStatusError(STATUS_INVALID_PARAMETER, f"invalid output mode {mode:#x}")
            _screen_of(thread, f)[1].mode = mode
        return 0, b""
    if code in (IOCTL_WRITE_INPUT, IOCTL_READ_INPUT, IOCTL_NUM_INPUT, IOCTL_FLUSH_INPUT, IOCTL_READ_CONSOLE):
        con = _input_of(thread, f)
        if code == IOCTL_NUM_INPUT:
            _host_records(con)
            return 0, struct.pack("<I", len(con.input_records))
        if code == IOCTL_FLUSH_INPUT:
            con.input_records.clear()
            return 0, b""
        if code == IOCTL_WRITE_INPUT:
            recs = _records_in(con, data[4:], bool(_u32(data)))
            if len(recs) == 1 and _mouse_move(recs[0]) and con.input_records and _mouse_move(con.input_records[-1]):
                con.input_records[-1] = recs[0]     # a lone mouse move replaces the move queued last (conhost)
            else:
                con.input_records.extend(recs)
            con.input_generation += 1
            machine.dispatcher.signal_waiters()
            return 0, struct.pack("<I", len(recs))
        if code == IOCTL_READ_INPUT:
            unicode, count, flags = struct.unpack_from("<III", data)
            _host_records(con)
            if not con.input_records and not flags & (READ_PEEK | READ_NOWAIT) and count:
                _wait_input(machine, thread, con, key)
                data = con.stdin._raw_read(1)        # the host terminal: wait for a key there
                if data:
                    _host_records(con)
                    con.input_records.appendleft(_key_record(data.decode(con.encoding("input"), "replace")))
            recs = list(con.input_records)[:count]
            if not flags & READ_PEEK:
                for _ in recs:
                    con.input_records.popleft()
            return 0, _records_out(con, recs, bool(unicode))
        unicode, nchars, ninit, wakeup = struct.unpack_from("<IIII", data)
        initial = data[16:16 + 2 * ninit].decode("utf-16-le", "surrogatepass") if ninit else ""
        return 0, read_console(machine, thread, con, nchars, bool(unicode), initial, wakeup, key)
    con, sb = _screen_of(thread, f)
    if sb.largest_for != sb.font_size:
        from winhatch.kernel.io.console import largest_window
        sb.largest = largest_window(machine, sb.font_size)
        sb.largest_for = sb.font_size
    if code == IOCTL_GET_INFO:
        return 0, _info(sb)
    if code == IOCTL_SET_INFO:
        return _set_info(sb, data)
    if code == IOCTL_GET_CURSOR:
        return 0, struct.pack("<II", sb.cursor_size, int(sb.cursor_visible))
    if code == IOCTL_SET_CURSOR:
        size, visible = struct.unpack_from("<II", data)
        if not 1 <= size <= 100:
            raise NtStatusError(STATUS_INVALID_PARAMETER, f"cursor size {size}")
        sb.cursor_size, sb.cursor_visible = size, bool(visible)
        return 0, b""
    if code == IOCTL_WRITE_TEXT:
        if _u32(data):
            n = _write(con, sb, f, None, data[4:].decode("utf-16-le", "surrogatepass"))
        else:
            n = _write(con, sb, f, data[4:], None)
        return 0, struct.pack("<I", n)
    if code == IOCTL_READ_CELLS:
        which, x, y, count = struct.unpack_from("<IhhI", data)
        cells = sb.read_cells("attrs" if which == CELLS_ATTRS else "chars", x, y, count)
        if which == CELLS_CHARS_A:
            return 0, "".join(map(chr, cells)).encode(con.encoding("output"), "replace")
        return 0, struct.pack(f"<{len(cells)}H", *cells)
    if code == IOCTL_WRITE_CELLS:
        which, x, y = struct.unpack_from("<Ihh", data)
        raw = data[8:]
        if which == CELLS_CHARS_A:
            vals = [ord(ch) for ch in raw.decode(con.encoding("output"), "replace")]
        else:
            vals = list(struct.unpack(f"<{len(raw) // 2}H", raw[:len(raw) // 2 * 2]))
        return 0, struct.pack("<I", sb.write_cells("attrs" if which == CELLS_ATTRS else "chars", x, y, vals))
    if code == IOCTL_FILL:
        which, x, y, value, count = struct.unpack_from("<IhhII", data)
        if which == CELLS_CHARS_A:
            value = ord((bytes([value & 0xFF]).decode(con.encoding("output"), "replace") or "\0")[0])
        return 0, struct.pack("<I", sb.fill("attrs" if which == CELLS_ATTRS else "chars", x, y, value, count))
    if code in (IOCTL_READ_RECT, IOCTL_WRITE_RECT):
        return _rect(con, sb, code == IOCTL_WRITE_RECT, data)
    if code == IOCTL_SCROLL:
        unicode, l, t, r, b, has_clip, cl, ct, cr, cb, dx, dy, ch, attr = struct.unpack_from("<Ihhhh Ihhhh hh HH",
                                                                                           data)
        if not unicode:
            ch = ord((bytes([ch & 0xFF]).decode(con.encoding("output"), "replace") or "\0")[0])
        sb.scroll((l, t, r, b), (cl, ct, cr, cb) if has_clip else None, (dx, dy), (ch, attr))
        return 0, b""
    if code == IOCTL_SET_ACTIVE:
        if not granted & (FILE_WRITE_DATA | GENERIC_WRITE):
            raise NtStatusError(STATUS_INVALID_HANDLE, "a screen buffer handle without write access")
        con.active = sb
        return 0, b""
    if code == IOCTL_GET_FONT:
        maximum = _u32(data)
        w, h = sb.font_size
        if maximum:
            w, h = sb.max_window
        face = sb.face_name.encode("utf-16-le")[:62].ljust(64, b"\0")
        return 0, struct.pack("<IhhII", 0, w, h, sb.font_family, sb.font_weight) + face
    if code == IOCTL_SET_FONT:
        _max, _index, w, h, family, weight = struct.unpack_from("<IIhhII", data)
        face = data[20:84].decode("utf-16-le", "replace").split("\0")[0]
        if h > 0:
            sb.font_size = (w if w > 0 else sb.font_size[0], h)
        if weight:
            sb.font_weight = weight
        if family:
            sb.font_family = family
        if face:
            sb.face_name = face
        return 0, b""
    if code == IOCTL_FONT_SIZE:
        index = _u32(data)
        if index != 0:
            return 0, struct.pack("<hh", 0, 0)
        return 0, struct.pack("<hh", *sb.font_size)
    if code == IOCTL_LARGEST_WINDOW:
        return 0, struct.pack("<hh", *sb.largest)
    if code == IOCTL_SET_WINDOW:
        absolute, l, t, r, b = struct.unpack_from("<Ihhhh", data)
        if not absolute:
            cl, ct, cr, cbot = sb.window
            l, t, r, b = cl + l, ct + t, cr + r, cbot + b
        sb.set_window(l, t, r, b)
        return 0, b""
    raise NtStatusError(STATUS_INVALID_DEVICE_REQUEST, f"console control code {code:#x}")


def _set_info(sb, data: bytes) -> tuple[int, bytes]:
    mask = _u32(data)
    (w, h, x, y, attr, l, t, r, b, _mw, _mh, popup, _fs, *colors) = struct.unpack_from("<hhhhHhhhhhhHI16I", data, 4)
    if mask & SET_SIZE and (w, h) != (sb.width, sb.height):
        if w <= 0 or h <= 0:
            raise NtStatusError(STATUS_INVALID_PARAMETER, "buffer size")
        if mask & SET_WINDOW_RECT:
            # the window is set with the size (SetConsoleScreenBufferInfoEx): shrink it first if it must
            sb.window_cols = min(sb.window_cols, w)
            sb.window_lines = min(sb.window_lines, h)
            sb.left, sb.top = min(sb.left, w - sb.window_cols), min(sb.top, h - sb.window_lines)
        sb.resize(w, h)
    if mask & SET_CURSOR_POS:
        sb.set_cursor(x, y)
    if mask & SET_ATTR:
        sb.attributes = attr
    if mask & SET_POPUP:
        sb.popup_attributes = popup
    if mask & SET_COLORS:
        sb.color_table = list(colors)
    if mask & SET_WINDOW_RECT:
        # SetConsoleScreenBufferInfoEx's srWindow: the window's size (its right and bottom are exclusive there)
        cols, lines = max(1, r - l), max(1, b - t)
        cols, lines = min(cols, sb.width, sb.largest[0]), min(lines, sb.height, sb.largest[1])
        sb.window_cols, sb.window_lines = cols, lines
        sb.left = min(max(0, l), sb.width - cols)
        sb.top = min(max(0, t), sb.height - lines)
    return 0, b""


def _rect(con, sb, write: bool, data: bytes) -> tuple[int, bytes]:
    """ReadConsoleOutput / WriteConsoleOutput: the region (clipped to the buffer and to the part of the
    caller's CHAR_INFO array from `at` on) between the buffer and the array; the region done comes back
    (right < left when nothing was)."""
    unicode, l, t, r, b, bw, bh, ax, ay = struct.unpack_from("<Ihhhhhhhh", data)
    cells = bytearray(data[20:])
    if bw <= 0 or bh <= 0 or ax < 0 or ay < 0 or ax >= bw or ay >= bh or len(cells) < bw * bh * 4:
        raise NtStatusError(STATUS_INVALID_PARAMETER, "CHAR_INFO array")
    cl, ct, cr, cb = sb.clip(l, t, min(r, l + bw - ax - 1), min(b, t + bh - ay - 1))
    enc = con.encoding("output")
    if cl <= cr and ct <= cb:
        for y in range(ct, cb + 1):
            for x in range(cl, cr + 1):
                k = ((ay + y - t) * bw + ax + x - l) * 4
                if write:
                    ch, attr = struct.unpack_from("<HH", cells, k)
                    if not unicode:
                        ch = ord((bytes([ch & 0xFF]).decode(enc, "replace") or "\0")[0])
                    sb.set_cell(x, y, ch, attr)
                else:
                    ch, attr = sb.cell(x, y)
                    if not unicode:
                        ch = (chr(ch).encode(enc, "replace")[:1] or b"\0")[0]
                    struct.pack_into("<HH", cells, k, ch, attr)
    else:
        cl, ct, cr, cb = l, t, l - 1, t - 1
    region = struct.pack("<hhhh", cl, ct, cr, cb)
    return 0, region if write else region + bytes(cells)


def _connection(machine, thread, f: ConsoleFile, code: int, data: bytes, outlen: int) -> tuple[int, bytes]:
    proc = thread.process
    if code == IOCTL_ATTACH:
        pid, new = struct.unpack_from("<II", data)
        if proc.console is not None:
            raise NtStatusError(STATUS_ACCESS_DENIED, "the process already has a console")
        if new:
            from winhatch.kernel.io.console import Console
            con = Console(None, None, None, force_console=True)
            con.title = con.original_title = data[8:].decode("utf-16-le", "surrogatepass")
        else:
            if pid == 0xFFFFFFFF:
                target = proc.parent
                if target is None or target.pid is None:
                    raise NtStatusError(STATUS_INVALID_HANDLE, "no parent process")
            else:
                target = next((p for p in machine.processes if p.pid == pid and not getattr(p, "exited", False)),
                              None)
                if target is None:
                    raise NtStatusError(STATUS_INVALID_PARAMETER, f"no process {pid}")
            con = target.console
            if con is None:
                raise NtStatusError(STATUS_INVALID_HANDLE, f"process {pid} has no console")
        proc.console = con
        f.console = con
        if proc.pid not in con.pids:
            con.pids.insert(0, proc.pid)
        return 0, b""
    con = proc.console
    if con is None or (f.console is not None and f.console is not con):
        raise NtStatusError(STATUS_INVALID_HANDLE, "the process has no console")
    if code == IOCTL_DETACH:
        if proc.pid in con.pids:
            con.pids.remove(proc.pid)
        proc.console = None
        f.console = None
        return 0, b""
    if code == IOCTL_GET_CP:
        return 0, struct.pack("<I", con.output_cp if _u32(data) else con.input_cp)
    if code == IOCTL_SET_CP:
        output, cp = struct.unpack_from("<II", data)
        if output:
            con.output_cp = cp
        else:
            con.input_cp = cp
        return 0, b""
    if code == IOCTL_GET_TITLE:
        text = con.original_title if _u32(data) else con.title
        return 0, text.encode("utf-16-le", "surrogatepass")
    if code == IOCTL_SET_TITLE:
        con.title = data.decode("utf-16-le", "surrogatepass")
        return 0, b""
    if code == IOCTL_GET_WINDOW:
        return 0, struct.pack("<QI", con.hwnd, int(con.windowless))
    if code == IOCTL_SET_WINDOW_HANDLE:
        con.hwnd = struct.unpack_from("<Q", data)[0]
        return 0, b""
    if code == IOCTL_PROCESS_LIST:
        live = [p.pid for p in machine.processes if p.console is con and p.pid in con.pids]
        con.pids = [pid for pid in con.pids if pid in live]
        room = max(0, (outlen - 4) // 4)
        pids = con.pids if len(con.pids) <= room else []
        return 0, struct.pack(f"<I{len(pids)}I", len(con.pids), *pids)
    if code == IOCTL_GET_EXE_NAME:
        return 0, con.input_exe_name.encode("utf-16-le", "surrogatepass")
    if code == IOCTL_SET_EXE_NAME:
        con.input_exe_name = data.decode("utf-16-le", "surrogatepass")
        return 0, b""
    raise NtStatusError(STATUS_INVALID_DEVICE_REQUEST, f"console connection control code {code:#x}")
