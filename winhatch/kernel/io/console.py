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
from array import array
from collections import deque
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

# the largest window the screen allows (GetLargestConsoleWindowSize), in cells of the default font, for a
# 1920x1080 display (work_area gives the machine's own)
MAX_WINDOW = (240, 63)
TASKBAR_HEIGHT = 40     # the Windows 10 taskbar at the bottom of the primary display, at 96 DPI
CAPTION_HEIGHT = 23     # GetSystemMetrics(SM_CYCAPTION) at 96 DPI


def work_area(machine) -> tuple[int, int]:
    """SPI_GETWORKAREA's size: the primary display of the machine's profile less the taskbar."""
    w, h = getattr(getattr(machine, "profile", None), "screen", (1920, 1080))
    return w, max(0, h - TASKBAR_HEIGHT)


def largest_window(machine, font: tuple[int, int]) -> tuple[int, int]:
    """GetLargestConsoleWindowSize: the cells of `font` the work area holds below a window caption."""
    w, h = work_area(machine)
    return max(1, w // max(1, font[0])), max(1, (h - CAPTION_HEIGHT) // max(1, font[1]))
# the default console colour table of Windows 10 (Campbell), as COLORREF 0x00BBGGRR
DEFAULT_COLOR_TABLE = (0x0C0C0C, 0xDA3700, 0x0EA113, 0xDD963A, 0x1F0FC5, 0x981788, 0x009CC1, 0xCCCCCC,
                       0x767676, 0xFF783B, 0x0CC616, 0xD6D661, 0x5648E7, 0x9E00B4, 0xA5F1F9, 0xF2F2F2)

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
    """A console screen buffer (what conhost keeps for each CreateConsoleScreenBuffer and for the console's first
    buffer): the grid of cells (a UTF-16 code unit and an attribute word each), its size, the cursor (position,
    size, visibility), the window onto the buffer, the attribute of new text and of pop-ups, the output mode
    and the font. Every output handle of a console that refers to the same buffer sees the same state (stdout
    and stderr of a console program write to the same buffer, as on Windows).

    The size and window are those of a new Windows 10 console window (120 columns, 9001 lines of buffer, a
    120x30 window, attribute 0x07, pop-ups 0xF5, a 25 % cursor, Consolas 8x16). Text written to the buffer
    follows the output mode: processed output interprets BEL, BS, TAB, LF and CR; with wrapping at the end of
    a line the text goes on at the next line (the buffer scrolls up at its last line), without it the rest of
    the line is written over again from the column where the text began."""

    def __init__(self, width: int = 120, height: int = 9001, window_lines: int = 30, window_cols: int | None = None,
                 attributes: int = 0x07, popup_attributes: int = 0xF5):
        self.width, self.height = width, height
        self.window_lines = window_lines
        self.window_cols = width if window_cols is None else window_cols
        self.x = self.y = 0
        self.left = 0                 # the window's first column
        self.top = 0                  # the window's first line
        self.attributes = attributes  # FOREGROUND_RED | FOREGROUND_GREEN | FOREGROUND_BLUE
        self.popup_attributes = popup_attributes
        self.mode = DEFAULT_OUTPUT_MODE
        self.cursor_size = 25
        self.cursor_visible = True
        self.font_size = (8, 16)
        self.font_family = 0x36       # FF_MODERN | TMPF_TRUETYPE | TMPF_VECTOR
        self.font_weight = 400
        self.face_name = "Consolas"
        self.color_table = list(DEFAULT_COLOR_TABLE)
        self.fullscreen = False
        self.refs = 0                 # file objects (handles) that refer to the buffer
        self.largest = MAX_WINDOW     # GetLargestConsoleWindowSize (the console driver sets the machine's)
        self.largest_for = None       # the font `largest` was computed for
        self.chars = array("H", [0x20]) * (width * height)
        self.attrs = array("H", [attributes]) * (width * height)

    # -- geometry --------------------------------------------------------------------------------------------
    @property
    def window(self) -> tuple[int, int, int, int]:
        """srWindow: left, top, right, bottom (inclusive)."""
        return self.left, self.top, self.left + self.window_cols - 1, self.top + self.window_lines - 1

    @property
    def max_window(self) -> tuple[int, int]:
        """dwMaximumWindowSize: the window's largest size for this buffer (what the screen allows in the
        buffer's font, no more than the buffer)."""
        mw, mh = self.largest
        return min(self.width, mw), min(self.height, mh)

    def resize(self, width: int, height: int) -> None:
        """SetConsoleScreenBufferSize: the buffer may not be smaller than the window (STATUS_INVALID_PARAMETER);
        the text keeps its place, new cells are blanks in the buffer's attribute."""
        l, t, r, b = self.window
        if width < r - l + 1 or height < b - t + 1 or width > 0x7FFF or height > 0x7FFF:
            raise NtStatusError(STATUS_INVALID_PARAMETER, f"buffer size {width}x{height} smaller than the window")
        chars = array("H", [0x20]) * (width * height)
        attrs = array("H", [self.attributes]) * (width * height)
        w = min(width, self.width)
        for y in range(min(height, self.height)):
            chars[y * width:y * width + w] = self.chars[y * self.width:y * self.width + w]
            attrs[y * width:y * width + w] = self.attrs[y * self.width:y * self.width + w]
        self.chars, self.attrs = chars, attrs
        self.width, self.height = width, height
        self.x, self.y = min(self.x, width - 1), min(self.y, height - 1)
        if self.left + self.window_cols > width:
            self.left = width - self.window_cols
        if self.top + self.window_lines > height:
            self.top = height - self.window_lines

    def set_window(self, left: int, top: int, right: int, bottom: int) -> None:
        """SetConsoleWindowInfo (absolute coordinates): inside the buffer and no larger than the screen."""
        if left < 0 or top < 0 or right < left or bottom < top or right >= self.width or bottom >= self.height \
                or right - left + 1 > self.largest[0] or bottom - top + 1 > self.largest[1]:
            raise NtStatusError(STATUS_INVALID_PARAMETER, "window outside the buffer")
        self.left, self.top = left, top
        self.window_cols, self.window_lines = right - left + 1, bottom - top + 1

    def _follow_cursor(self) -> None:
        if self.y < self.top:
            self.top = self.y
        elif self.y > self.top + self.window_lines - 1:
            self.top = self.y - self.window_lines + 1
        if self.x < self.left:
            self.left = self.x
        elif self.x > self.left + self.window_cols - 1:
            self.left = self.x - self.window_cols + 1

    def set_cursor(self, x: int, y: int) -> None:
        if not (0 <= x < self.width and 0 <= y < self.height):
            raise NtStatusError(STATUS_INVALID_PARAMETER, f"cursor position ({x},{y}) outside the buffer")
        self.x, self.y = x, y
        self._follow_cursor()

    # -- text output -----------------------------------------------------------------------------------------
    def _scroll_up(self) -> None:
        w = self.width
        del self.chars[:w]
        del self.attrs[:w]
        self.chars.extend(array("H", [0x20]) * w)
        self.attrs.extend(array("H", [self.attributes]) * w)

    def _newline(self) -> None:
        self.x = 0
        if self.y < self.height - 1:
            self.y += 1
        else:
            self._scroll_up()
        self._follow_cursor()

    def _put(self, ch: int) -> None:
        i = self.y * self.width + self.x
        self.chars[i] = ch
        self.attrs[i] = self.attributes

    def write_text(self, text: str, mode: int | None = None) -> None:
        """WriteConsole / WriteFile on the buffer: the characters (UTF-16 code units) at the cursor."""
        mode = self.mode if mode is None else mode
        processed = bool(mode & ENABLE_PROCESSED_OUTPUT)
        wrap = bool(mode & ENABLE_WRAP_AT_EOL_OUTPUT)
        units = text.encode("utf-16-le", "surrogatepass")
        start = self.x
        for k in range(0, len(units), 2):
            ch = units[k] | units[k + 1] << 8
            if processed and ch < 0x20:
                if ch == 0x0D:
                    self.x = start = 0
                    continue
                if ch == 0x0A:
                    self._newline()
                    start = 0
                    continue
                if ch == 0x08:
                    self.x = max(0, self.x - 1)
                    continue
                if ch == 0x07:
                    continue
                if ch == 0x09:
                    for _ in range(8 - self.x % 8):
                        self._put(0x20)
                        if not self._advance(wrap, start):
                            break
                    continue
            self._put(ch)
            if not self._advance(wrap, start) and not wrap:
                start = self.x
        self._follow_cursor()

    def _advance(self, wrap: bool, start: int) -> bool:
        """Move past a written cell; False when the line ended."""
        self.x += 1
        if self.x < self.width:
            return True
        if wrap:
            self._newline()
        else:
            self.x = start if start < self.width else self.width - 1
        return False

    def advance(self, data: bytes, processed: bool = True, wrap: bool = True) -> None:
        """The bytes of a single-byte code page written to the buffer (one character per byte)."""
        mode = (ENABLE_PROCESSED_OUTPUT if processed else 0) | (ENABLE_WRAP_AT_EOL_OUTPUT if wrap else 0)
        self.write_text(bytes(data).decode("latin-1"), mode)

    # -- cells -----------------------------------------------------------------------------------------------
    def _check(self, x: int, y: int) -> int | None:
        """The cell index of (x, y); None past the buffer's right or bottom edge (no cells there)."""
        if x < 0 or y < 0:
            raise NtStatusError(STATUS_INVALID_PARAMETER, f"({x},{y}) outside the buffer")
        if x >= self.width or y >= self.height:
            return None
        return y * self.width + x

    def read_cells(self, which: str, x: int, y: int, count: int) -> list[int]:
        """ReadConsoleOutputCharacter/Attribute: cells from (x, y) on, line after line, to the buffer's end."""
        i = self._check(x, y)
        if i is None:
            return []
        arr = self.chars if which == "chars" else self.attrs
        return list(arr[i:i + max(0, count)])

    def write_cells(self, which: str, x: int, y: int, values) -> int:
        """WriteConsoleOutputCharacter/Attribute: the cursor does not move; returns the cells written."""
        i = self._check(x, y)
        if i is None:
            return 0
        arr = self.chars if which == "chars" else self.attrs
        values = list(values)[:len(arr) - i]
        arr[i:i + len(values)] = array("H", values)
        return len(values)

    def fill(self, which: str, x: int, y: int, value: int, count: int) -> int:
        i = self._check(x, y)
        if i is None:
            return 0
        arr = self.chars if which == "chars" else self.attrs
        n = max(0, min(count, len(arr) - i))
        arr[i:i + n] = array("H", [value & 0xFFFF]) * n
        return n

    def clip(self, left: int, top: int, right: int, bottom: int) -> tuple[int, int, int, int]:
        return max(0, left), max(0, top), min(self.width - 1, right), min(self.height - 1, bottom)

    def cell(self, x: int, y: int) -> tuple[int, int]:
        i = y * self.width + x
        return self.chars[i], self.attrs[i]

    def set_cell(self, x: int, y: int, ch: int, attr: int) -> None:
        i = y * self.width + x
        self.chars[i] = ch & 0xFFFF
        self.attrs[i] = attr & 0xFFFF

    def scroll(self, rect, clip, dest: tuple[int, int], fill: tuple[int, int]) -> None:
        """ScrollConsoleScreenBuffer: the cells of `rect` (clipped to the buffer) move to `dest`; the cells of
        the source that are not overwritten get `fill`; nothing outside `clip` (the buffer without one)
        changes."""
        l, t, r, b = self.clip(*rect)
        if l > r or t > b:
            raise NtStatusError(STATUS_INVALID_PARAMETER, "the scroll rectangle is outside the buffer")
        cl, ct, cr, cb = self.clip(*(clip if clip is not None else (0, 0, self.width - 1, self.height - 1)))
        dx, dy = dest[0] + (l - rect[0]), dest[1] + (t - rect[1])
        src = {(x, y): self.cell(x, y) for y in range(t, b + 1) for x in range(l, r + 1)}
        for y in range(max(t, ct), min(b, cb) + 1):
            for x in range(max(l, cl), min(r, cr) + 1):
                self.set_cell(x, y, fill[0], fill[1])
        ox, oy = dx - l, dy - t
        for (x, y), (ch, at) in src.items():
            tx, ty = x + ox, y + oy
            if cl <= tx <= cr and ct <= ty <= cb:
                self.set_cell(tx, ty, ch, at)


class ConsoleOutput(_Std):
    def __init__(self, console, name, stream, force, capture_limit):
        super().__init__(console, name, stream, DEFAULT_OUTPUT_MODE, OUTPUT_MODE_MASK, force)
        self._captured = bytearray()
        self.capture_limit = capture_limit
        self.truncated = False
        self.bytes_written = 0

    @property
    def mode(self) -> int:
        """The output mode of the console's first screen buffer (the one the std handles refer to)."""
        if not self.is_console:
            raise NtStatusError(STATUS_INVALID_HANDLE, f"{self.name} is not a console handle")
        return self.console.main_screen.mode

    @mode.setter
    def mode(self, value: int) -> None:
        if not self.is_console:
            raise NtStatusError(STATUS_INVALID_HANDLE, f"{self.name} is not a console handle")
        if value & ~self._mask:
            raise NtStatusError(STATUS_INVALID_PARAMETER, f"invalid console mode 0x{value:x}")
        self.console.main_screen.mode = value

    def _to_host(self, data: bytes) -> None:
        if self.stream is not None and data:
            self.stream.write(data)
            try:
                self.stream.flush()
            except (AttributeError, OSError, ValueError):
                pass
        self.bytes_written += len(data)
        room = self.capture_limit - len(self._captured)
        if len(data) > room:
            self.truncated = True
        self._captured += data[:max(0, room)]
        self.console.transcript_append(self.name, data[:max(0, room)])

    def write(self, data: bytes, screen: "ScreenBuffer | None" = None) -> int:
        """WriteFile / WriteConsoleA: the bytes as written, to the host stream and the capture; on a console
        also into the screen buffer (`screen`, else the console's first), decoded in the output code page."""
        data = bytes(data)
        screen = screen or self.console.main_screen
        if screen is self.console.main_screen:
            self._to_host(data)
        if self.is_console:
            screen.write_text(self.console.decode(data))
        return len(data)

    def write_console_w(self, text: str, screen: "ScreenBuffer | None" = None) -> int:
        """WriteConsoleW: only on a console handle (ERROR_INVALID_HANDLE otherwise, so the CRT falls back to
        WriteFile); the text reaches the host terminal as UTF-8. Returns the characters written."""
        if not self.is_console:
            raise NtStatusError(STATUS_INVALID_HANDLE, f"{self.name} is not a console handle")
        screen = screen or self.console.main_screen
        if screen is self.console.main_screen:
            self._to_host(text.encode("utf-8", "surrogatepass"))
        screen.write_text(text)
        return len(text.encode("utf-16-le", "surrogatepass")) // 2

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
        self._transcript: list[tuple[str, bytearray]] = []
        self.main_screen = ScreenBuffer()
        self.main_screen.refs = 1 << 30      # the console's first buffer lives as long as the console
        self.screens: list[ScreenBuffer] = [self.main_screen]
        self.active = self.main_screen
        #: the input buffer: INPUT_RECORDs as (EventType, payload bytes of the 16-byte Event union)
        self.input_records: deque = deque()
        self.input_generation = 0
        self.pids: list[int] = []            # the processes attached (GetConsoleProcessList), newest first
        self.hwnd = 0                        # the console window (user32 creates it on first use)
        self.windowless = False              # CREATE_NO_WINDOW: a console without a window
        self.original_title = ""
        self.history: list[str] = []
        self.input_exe_name = ""
        self.virtual = stdout is None and stderr is None and stdin is None
        self.stdout = ConsoleOutput(self, "stdout", stdout, force_console, capture_limit)
        self.stderr = ConsoleOutput(self, "stderr", stderr, force_console, capture_limit)
        self.stdin = ConsoleInput(self, stdin, force_console)
        self._input_cp = self._check_cp(input_cp)
        self._output_cp = self._check_cp(output_cp if output_cp is not None else input_cp)
        self.title = ""

    @property
    def screen(self) -> ScreenBuffer:
        """The active screen buffer (the one the window shows)."""
        return self.active

    def new_screen(self) -> ScreenBuffer:
        """CreateConsoleScreenBuffer: the active buffer's window and text attribute (pop-ups in the text's
        attribute, as Windows 10 does), the rest as a new console's."""
        cur = self.active
        sb = ScreenBuffer(cur.width, cur.height, cur.window_lines, cur.window_cols, cur.attributes, cur.attributes)
        sb.left, sb.top = cur.left, cur.top
        sb.font_size, sb.face_name = cur.font_size, cur.face_name
        self.screens.append(sb)
        return sb

    def release_screen(self, sb: ScreenBuffer) -> None:
        """The last handle to a screen buffer is closed: it goes; if it was active, the console shows the
        buffer activated before it (the first one at last)."""
        if sb is self.main_screen or sb not in self.screens:
            return
        self.screens.remove(sb)
        if self.active is sb:
            self.active = self.screens[-1]

    @property
    def transcript(self) -> list[tuple[str, bytes]]:
        """What was written, stream by stream in order: [(stream name, bytes)] (consecutive writes to the
        same stream joined)."""
        return [(name, bytes(data)) for name, data in self._transcript]

    def transcript_append(self, name: str, data: bytes) -> None:
        if not data:
            return
        if self._transcript and self._transcript[-1][0] == name:
            self._transcript[-1][1].extend(data)      # in place: appending stays linear
        else:
            self._transcript.append((name, bytearray(data)))

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

    def encoding(self, which: str = "output") -> str:
        """The Python codec of the console's input or output code page."""
        cp = self._output_cp if which == "output" else self._input_cp
        return {65001: "utf-8", 65000: "utf-7", 20127: "ascii", 28591: "latin-1", 28592: "iso8859-2",
                28605: "iso8859-15"}.get(cp, f"cp{cp}")

    def decode(self, data: bytes) -> str:
        """Bytes the guest wrote, as text in the console output code page (for reports)."""
        cp = self._output_cp
        enc = {65001: "utf-8", 65000: "utf-7", 20127: "ascii", 28591: "latin-1", 28592: "iso8859-2",
               28605: "iso8859-15"}.get(cp, f"cp{cp}")
        return data.decode(enc, "replace")
