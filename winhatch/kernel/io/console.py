"""The console: the guest's std handles wired to the host's stdout / stderr / stdin.

Bytes the guest writes with WriteFile (or WriteConsoleA) reach the host stream byte for byte: no code page
conversion and no newline translation (the CRT turns '\\n' into '\\r\\n' itself in text mode, and Wine shows
such output to a pipe exactly as written). A copy is kept for the Python API and reports.

Whether a std handle is a console is decided from the host stream (`host_kind`): a TTY is a console
(FILE_TYPE_CHAR, console modes work); /dev/null is a character device but not a console; a pipe or
socket is FILE_TYPE_PIPE; a regular file is FILE_TYPE_DISK; an in-memory stream (BytesIO) counts as a pipe.
`force_console=True` makes all three handles consoles whatever the host streams are.
"""
from __future__ import annotations

import io
import os
import stat as _stat
from typing import BinaryIO

from winhatch.ntstatus import NtStatusError, STATUS_INVALID_HANDLE, STATUS_INVALID_PARAMETER
from winhatch.kernel import hostwait

FILE_TYPE_UNKNOWN = 0
FILE_TYPE_DISK = 1
FILE_TYPE_CHAR = 2
FILE_TYPE_PIPE = 3

# output modes
ENABLE_PROCESSED_OUTPUT = 0x0001
ENABLE_WRAP_AT_EOL_OUTPUT = 0x0002
ENABLE_VIRTUAL_TERMINAL_PROCESSING = 0x0004
DISABLE_NEWLINE_AUTO_RETURN = 0x0008
ENABLE_LVB_GRID_WORLDWIDE = 0x0010
OUTPUT_MODE_MASK = 0x001F
DEFAULT_OUTPUT_MODE = ENABLE_PROCESSED_OUTPUT | ENABLE_WRAP_AT_EOL_OUTPUT

# input modes
ENABLE_PROCESSED_INPUT = 0x0001
ENABLE_LINE_INPUT = 0x0002
ENABLE_ECHO_INPUT = 0x0004
ENABLE_WINDOW_INPUT = 0x0008
ENABLE_MOUSE_INPUT = 0x0010
ENABLE_INSERT_MODE = 0x0020
ENABLE_QUICK_EDIT_MODE = 0x0040
ENABLE_EXTENDED_FLAGS = 0x0080
ENABLE_AUTO_POSITION = 0x0100
ENABLE_VIRTUAL_TERMINAL_INPUT = 0x0200
INPUT_MODE_MASK = 0x03FF
# what GetConsoleMode reports for a fresh conhost window on Windows 10
DEFAULT_INPUT_MODE = (ENABLE_PROCESSED_INPUT | ENABLE_LINE_INPUT | ENABLE_ECHO_INPUT | ENABLE_MOUSE_INPUT
                      | ENABLE_INSERT_MODE | ENABLE_QUICK_EDIT_MODE | ENABLE_EXTENDED_FLAGS
                      | ENABLE_AUTO_POSITION)  # 0x1F7

STD_INPUT_HANDLE = -10
STD_OUTPUT_HANDLE = -11
STD_ERROR_HANDLE = -12

# code pages SetConsoleCP / SetConsoleOutputCP accept (the ones Python can also decode)
KNOWN_CODE_PAGES = frozenset([437, 720, 737, 775, 850, 852, 855, 857, 858, 860, 861, 862, 863, 864, 865, 866,
                              869, 874, 932, 936, 949, 950, 1250, 1251, 1252, 1253, 1254, 1255, 1256, 1257,
                              1258, 65000, 65001, 20127, 28591, 28592, 28605])


def host_kind(stream) -> str:
    """'char' (a TTY or character device), 'pipe' (pipe, socket, in-memory stream) or 'disk' (a file)."""
    if stream is None:
        return "char"  # like NUL
    try:
        fd = stream.fileno()
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
        return "pipe"
    try:
        if os.isatty(fd):
            return "char"
        mode = os.fstat(fd).st_mode
    except OSError:
        return "pipe"
    if _stat.S_ISREG(mode):
        return "disk"
    if _stat.S_ISCHR(mode) or _stat.S_ISBLK(mode):
        return "char"
    return "pipe"


def _is_tty(stream) -> bool:
    try:
        return os.isatty(stream.fileno())
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
        return False


_FILE_TYPES = {"char": FILE_TYPE_CHAR, "pipe": FILE_TYPE_PIPE, "disk": FILE_TYPE_DISK}


class _Std:
    def __init__(self, console: "Console", name: str, stream, default_mode: int, mask: int, force: bool):
        self.console = console
        self.name = name
        # a text stream (sys.stdout) is written through its binary buffer
        self.stream = getattr(stream, "buffer", stream) if stream is not None else None
        self.kind = "char" if force else host_kind(stream)
        self.is_console = force or (stream is not None and _is_tty(stream))
        self.file_type = _FILE_TYPES[self.kind]
        self._mode = default_mode
        self._mask = mask

    @property
    def mode(self) -> int:
        """GetConsoleMode: STATUS_INVALID_HANDLE (ERROR_INVALID_HANDLE) if the handle is not a console."""
        if not self.is_console:
            raise NtStatusError(STATUS_INVALID_HANDLE, f"{self.name} is not a console handle")
        return self._mode

    @mode.setter
    def mode(self, value: int) -> None:
        if not self.is_console:
            raise NtStatusError(STATUS_INVALID_HANDLE, f"{self.name} is not a console handle")
        if value & ~self._mask:
            raise NtStatusError(STATUS_INVALID_PARAMETER, f"invalid console mode 0x{value:x}")
        self._mode = value


class ScreenBuffer:
    """The console's active screen buffer, shared by every output handle of the console (stdout and stderr
    write to the same buffer, as on Windows): its size, cursor, window and the text attribute of new text.
    The size and window are those of a new Windows 10 console window (120 columns, 9001 lines of buffer,
    a 120x30 window); the cursor follows what is written (processed output: CR, LF, BS, TAB, BEL, wrap
    at the end of a line), the window follows the cursor, and the buffer scrolls at its last line.
    The characters themselves are not kept (ReadConsoleOutput is not implemented)."""

    def __init__(self, width: int = 120, height: int = 9001, window_lines: int = 30):
        self.width, self.height = width, height
        self.window_lines = window_lines
        self.x = self.y = 0
        self.top = 0                  # the window's first line
        self.attributes = 0x07        # FOREGROUND_RED | FOREGROUND_GREEN | FOREGROUND_BLUE
        self.popup_attributes = 0xF5

    @property
    def window(self) -> tuple[int, int, int, int]:
        """srWindow: left, top, right, bottom (inclusive)."""
        return 0, self.top, self.width - 1, self.top + self.window_lines - 1

    @property
    def max_window(self) -> tuple[int, int]:
        return self.width, self.window_lines

    def _newline(self) -> None:
        self.x = 0
        if self.y < self.height - 1:
            self.y += 1
        if self.y > self.top + self.window_lines - 1:
            self.top = self.y - self.window_lines + 1

    def advance(self, data: bytes, processed: bool = True, wrap: bool = True) -> None:
        """Move the cursor over `data` (one character per byte: the single-byte output code pages)."""
        for b in data:
            if processed and b == 0x0D:
                self.x = 0
            elif processed and b == 0x0A:
                self._newline()
            elif processed and b == 0x08:
                self.x = max(0, self.x - 1)
            elif processed and b == 0x09:
                self.x = min(self.width - 1, (self.x // 8 + 1) * 8)
            elif processed and b == 0x07:
                continue
            else:
                self.x += 1
                if self.x >= self.width:
                    if wrap:
                        self._newline()
                    else:
                        self.x = self.width - 1

    def set_cursor(self, x: int, y: int) -> None:
        if not (0 <= x < self.width and 0 <= y < self.height):
            raise NtStatusError(STATUS_INVALID_PARAMETER, f"cursor position ({x},{y}) outside the buffer")
        self.x, self.y = x, y
        if y < self.top:
            self.top = y
        elif y > self.top + self.window_lines - 1:
            self.top = y - self.window_lines + 1


class ConsoleOutput(_Std):
    def __init__(self, console, name, stream, force, capture_limit):
        super().__init__(console, name, stream, DEFAULT_OUTPUT_MODE, OUTPUT_MODE_MASK, force)
        self._captured = bytearray()
        self.capture_limit = capture_limit
        self.truncated = False
        self.bytes_written = 0

    def write(self, data: bytes) -> int:
        """WriteFile / WriteConsoleA: the bytes as written, to the host stream and the capture."""
        data = bytes(data)
        if self.stream is not None and data:
            self.stream.write(data)
            try:
                self.stream.flush()
            except (AttributeError, OSError, ValueError):
                pass
        self.bytes_written += len(data)
        if self.is_console:
            self.console.screen.advance(data, bool(self._mode & ENABLE_PROCESSED_OUTPUT),
                                        bool(self._mode & ENABLE_WRAP_AT_EOL_OUTPUT))
        room = self.capture_limit - len(self._captured)
        if len(data) > room:
            self.truncated = True
        self._captured += data[:max(0, room)]
        self.console.transcript_append(self.name, data[:max(0, room)])
        return len(data)

    def write_console_w(self, text: str) -> int:
        """WriteConsoleW: only on a console handle (ERROR_INVALID_HANDLE otherwise, so the CRT falls back to
        WriteFile); the text reaches the host terminal as UTF-8. Returns the characters written."""
        if not self.is_console:
            raise NtStatusError(STATUS_INVALID_HANDLE, f"{self.name} is not a console handle")
        self.write(text.encode("utf-8", "surrogatepass"))
        return len(text)

    @property
    def captured(self) -> bytes:
        return bytes(self._captured)


class ConsoleInput(_Std):
    def __init__(self, console, stream, force):
        super().__init__(console, "stdin", stream, DEFAULT_INPUT_MODE, INPUT_MODE_MASK, force)
        self.consumed = bytearray()

    def _raw_read(self, n: int) -> bytes:
        if self.stream is None or n == 0:
            return b""
        reader = getattr(self.stream, "read1", None) or self.stream.read
        with hostwait.blocking():
            data = reader(n) or b""
        self.consumed += data
        return data

    def pending_bytes(self) -> int:
        """Bytes typed on the host terminal and not read yet (FIONREAD on its descriptor)."""
        if self.stream is None:
            return 0
        try:
            import fcntl
            import termios
            raw = fcntl.ioctl(self.stream.fileno(), termios.FIONREAD, b"\0\0\0\0")
            return int.from_bytes(raw, "little")
        except (AttributeError, OSError, ValueError, io.UnsupportedOperation, ImportError):
            return 0

    def read(self, n: int = 4096) -> bytes:
        """ReadFile on the std input: raw bytes (b'' at end of input). On a console in line-input mode,
        ReadFile returns at most one line, its newline as '\\r\\n' (what conhost delivers)."""
        if self.is_console and self._mode & ENABLE_LINE_INPUT:
            line = self.readline()
            return line[:n]
        return self._raw_read(n)

    def readline(self) -> bytes:
        """One line including its terminator ('\\r\\n' on a console, as typed otherwise), b'' at end."""
        if self.stream is None:
            return b""
        with hostwait.blocking():
            line = self.stream.readline()
        self.consumed += line
        if self.is_console and line.endswith(b"\n") and not line.endswith(b"\r\n"):
            line = line[:-1] + b"\r\n"
        return line

    def read_console_w(self, n_chars: int) -> str:
        """ReadConsoleW: a line of text decoded from the host (UTF-8); console handles only."""
        if not self.is_console:
            raise NtStatusError(STATUS_INVALID_HANDLE, "stdin is not a console handle")
        return self.readline().decode("utf-8", "replace")[:n_chars]


class Console:
    """The std handles of the guest. `capture_limit` bounds each captured copy (the host still gets all)."""

    def __init__(self, stdout: BinaryIO | None, stderr: BinaryIO | None, stdin: BinaryIO | None = None, *,
                 input_cp: int = 437, output_cp: int | None = None, force_console: bool = False,
                 capture_limit: int = 64 << 20):
        self.transcript: list[tuple[str, bytes]] = []
        self.screen = ScreenBuffer()
        self.stdout = ConsoleOutput(self, "stdout", stdout, force_console, capture_limit)
        self.stderr = ConsoleOutput(self, "stderr", stderr, force_console, capture_limit)
        self.stdin = ConsoleInput(self, stdin, force_console)
        self._input_cp = self._check_cp(input_cp)
        self._output_cp = self._check_cp(output_cp if output_cp is not None else input_cp)
        self.title = ""

    def transcript_append(self, name: str, data: bytes) -> None:
        if not data:
            return
        if self.transcript and self.transcript[-1][0] == name:
            self.transcript[-1] = (name, self.transcript[-1][1] + data)
        else:
            self.transcript.append((name, data))

    @staticmethod
    def _check_cp(cp: int) -> int:
        if cp not in KNOWN_CODE_PAGES:
            raise NtStatusError(STATUS_INVALID_PARAMETER, f"unknown code page {cp}")
        return cp

    # GetConsoleCP / SetConsoleCP / GetConsoleOutputCP / SetConsoleOutputCP
    @property
    def input_cp(self) -> int:
        return self._input_cp

    @input_cp.setter
    def input_cp(self, cp: int) -> None:
        self._input_cp = self._check_cp(cp)

    @property
    def output_cp(self) -> int:
        return self._output_cp

    @output_cp.setter
    def output_cp(self, cp: int) -> None:
        self._output_cp = self._check_cp(cp)

    def handle(self, std: int):
        """GetStdHandle's object for STD_INPUT_HANDLE / STD_OUTPUT_HANDLE / STD_ERROR_HANDLE."""
        m = {STD_INPUT_HANDLE: self.stdin, STD_OUTPUT_HANDLE: self.stdout, STD_ERROR_HANDLE: self.stderr}
        if std not in m:
            raise NtStatusError(STATUS_INVALID_HANDLE, f"bad std handle {std}")
        return m[std]

    def write(self, which: str, data: bytes) -> int:
        return {"stdout": self.stdout, "stderr": self.stderr}[which].write(data)

    @property
    def captured_stdout(self) -> bytes:
        return self.stdout.captured

    @property
    def captured_stderr(self) -> bytes:
        return self.stderr.captured

    def decode(self, data: bytes) -> str:
        """Bytes the guest wrote, as text in the console output code page (for reports)."""
        cp = self._output_cp
        enc = {65001: "utf-8", 65000: "utf-7", 20127: "ascii", 28591: "latin-1", 28592: "iso8859-2",
               28605: "iso8859-15"}.get(cp, f"cp{cp}")
        return data.decode(enc, "replace")
