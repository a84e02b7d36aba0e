"""The message formatter of ntdll (RtlFormatMessage, RtlFormatMessageEx) that kernel32's FormatMessage uses too
(winhatch/win32/kernel32/misc.py), as kernelbase's FormatMessage calls ntdll's on Windows.

A message is text with inserts: %1..%99 (optionally with a printf format between '!': %1!04x!), each an
argument from a va_list or an array of pointer-sized slots; %0 ends the message without a line break; %n and
%r are line breaks; %t a tab; %% %. %! %space and other %x the character x. With a maximum width the text is
broken into lines (see _wrap); 0xFF (MAX_WIDTH_MASK) joins the source's lines with blanks. IgnoreInserts copies
the inserts as they are.
"""
from __future__ import annotations

import re
import struct

from winhatch.ntstatus import ERROR_INVALID_PARAMETER
from winhatch.win32.api import api
from winhatch.win32.msvcrt.format import Flavor, PrintfInvalidParameter, format_printf

NT = "ntdll.dll"
FORMAT_MESSAGE_IGNORE_INSERTS = 0x200
FORMAT_MESSAGE_MAX_WIDTH_MASK = 0xFF
MAX_MESSAGE_CHARS = 1 << 24     # a message or a %s insert: bounded at 16 Mi characters


class _Slots:
    """printf ArgSource over FormatMessage's argument slots (pointer-sized each), starting at one insert."""

    def __init__(self, c, base: int, index: int, used: list | None = None):
        self.c = c
        self.base = base
        self.i = index
        self.used = used

    def _next(self) -> int:
        v = self.c.ptr(self.base + self.i * self.c.ptr_size)
        self.i += 1
        if self.used is not None and self.i > self.used[0]:
            self.used[0] = self.i
        return v

    def int32(self):
        return self._next() & 0xFFFFFFFF

    def int64(self):
        if self.c.ptr_size == 8:
            return self._next()
        lo = self._next()
        return lo | (self._next() << 32)

    def ptr(self):
        return self._next()

    def double(self):
        return struct.unpack("<d", struct.pack("<Q", self.int64()))[0]

    def cstr(self, p):
        return self.c.cstr(p)

    def wstr(self, p):
        return self.c.wstr(p, MAX_MESSAGE_CHARS)

    def read(self, p, n):
        return self.c.read(p, n)

    def write_int(self, p, v, size):
        raise PrintfInvalidParameter("%n in a FormatMessage insert")


class _Bad(Exception):
    """A malformed message or insert: STATUS_INVALID_PARAMETER (FormatMessage: ERROR_INVALID_PARAMETER)."""


def expand(fmt: str, width: int, ignore: bool, insert) -> tuple[str, list[tuple[int, int, str]], bool]:
    """Expand a message: inserts %1..%99 (with !printf-spec!), %0, %n, %%, %r, %t, %space, %., %!, and the
    line handling of `width` (MAX_WIDTH_MASK: the source's line breaks become blanks). With `ignore` only %0,
    %n, %r and %t are processed. insert(number, spec) gives an insert's text (or raises _Bad).

    Returns (text, marks, bad): marks are the (start, end, kind) of the inserts ("insert") and of the %n / %r
    breaks ("break") in the text before it is wrapped; bad is True when a malformed insert or a lone "%" at
    the end stopped the expansion (text is what came before it)."""
    wrapping = bool(width) and width != FORMAT_MESSAGE_MAX_WIDTH_MASK
    out: list[str] = []
    units: list[tuple[str, str | None]] = []
    marks: list[tuple[int, int, str]] = []
    pos = 0

    def put(text: str, kind: str | None = None) -> None:
        nonlocal pos
        out.append(text)
        units.append((text, kind))
        if kind in ("insert", "break"):
            marks.append((pos, pos + len(text), kind))
        pos += len(text)

    def done(bad: bool):
        return (_wrap(units, width) if wrapping else "".join(out)), marks, bad

    i = 0
    n = len(fmt)
    while i < n:
        ch = fmt[i]
        if ch == "%" and i + 1 == n:
            return done(True)
        if ch == "%":
            nx = fmt[i + 1]
            if "1" <= nx <= "9":
                j = i + 2
                if j < n and "0" <= fmt[j] <= "9":
                    j += 1
                num = int(fmt[i + 1:j])
                spec = None
                if j < n and fmt[j] == "!":
                    k = fmt.find("!", j + 1)
                    if k < 0:
                        return done(True)
                    spec = fmt[j + 1:k]
                    j = k + 1
                if ignore:
                    put(fmt[i:j])
                else:
                    try:
                        put(insert(num, spec), "insert")
                    except _Bad:
                        return done(True)
                i = j
                continue
            if ignore and nx not in "0nrt":
                put(fmt[i:i + 2])
                i += 2
                continue
            if nx == "0":
                return done(False)
            if nx == "n":
                put("\r\n", "break")
            elif nx == "r":
                put("\r", "break")
            elif nx == "t":
                put("\t", "break" if wrapping else None)     # with a width, %t ends the line
            elif nx == "b":
                put(" ", "escape")
            else:
                put(nx, "escape")  # %% %. %! and %<space>: the character itself
            i += 2
            continue
        if ch in "\r\n":
            # a line break in the message text: kept (width 0), a space (MAX_WIDTH_MASK), or \r\n
            if ch == "\r" and i + 1 < n and fmt[i + 1] == "\n":
                i += 1
            put(" " if width else "\r\n")
            i += 1
            continue
        put(ch)
        i += 1
    return done(False)


def format_message(c, fmt: str, flags: int, args_base: int, wide: bool, used: list | None = None) -> str | None:
    """kernel32's FormatMessage over `expand`: each insert reads its arguments from the pointer-sized slots at
    args_base, starting at its own ("%2!*.*u!": slots 2, 3 and 4). None (last error set) on a bad insert or a
    lone "%" at the end. `used` gets the count of argument slots read, then (text length, slots) per insert."""
    width = flags & FORMAT_MESSAGE_MAX_WIDTH_MASK
    ignore = bool(flags & FORMAT_MESSAGE_IGNORE_INSERTS)
    per: list[int] = []

    def insert(num: int, spec: str | None) -> str:
        if not args_base:
            raise _Bad()
        spec = "s" if spec is None else spec
        try:
            text = format_printf("%" + spec if wide else ("%" + spec).encode("latin-1"),
                                 _Slots(c, args_base, num - 1, used), wide=wide, flavor=Flavor.MSVCRT,
                                 ptr_size=c.ptr_size, codepage="cp1252")
        except PrintfInvalidParameter:
            raise _Bad() from None
        if used is not None:
            per.append(used[0])
        return text if wide else text.decode("cp1252", "replace")

    text, marks, bad = expand(fmt, width, ignore, insert)
    if bad:
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return None
    if used is not None:
        # (length of the text up to the end of each insert, slots read by then): where an overflow stops
        ends = [end for _start, end, kind in marks if kind == "insert"]
        used.extend(zip(ends, per))
    return text


def _wrap(units: list[tuple[str, str | None]], width: int) -> str:
    """Lines of `width` characters (Wine's ntdll rtlstr test, on Windows): the message's own characters go one
    by one, an insert whole; when a line reaches `width` characters it is cut before its last run of blanks
    (the run is dropped, what follows it starts the next line), or after its end if it has none. Only the
    message's own blanks (and its line breaks, which are blanks here) are places to cut: not those of an
    insert or of "%space". %n and %r end the line; so does %t here."""
    out: list[str] = []
    line: list[tuple[str, bool]] = []     # (character, a blank where the line may be cut)

    def check() -> None:
        nonlocal line
        if len(line) < width:
            return
        end = len(line)
        while end and not line[end - 1][1]:
            end -= 1
        if not end:                       # no blank: a hard break
            out.append("".join(ch for ch, _ in line) + "\r\n")
            line = []
            return
        start = end
        while start and line[start - 1][1]:
            start -= 1
        out.append("".join(ch for ch, _ in line[:start]) + "\r\n")
        line = line[end:]

    for text, kind in units:
        if kind == "break":
            out.append("".join(ch for ch, _ in line) + ("\r" if text == "\r" else "\r\n"))
            line = []
        elif kind in ("insert", "escape"):
            line.extend((ch, False) for ch in text)
            check()
        else:
            for ch in text:
                line.append((ch, ch == " "))
                check()
    out.append("".join(ch for ch, _ in line))
    return "".join(out)


# ------------------------------------------------------------------------------------------ RtlFormatMessage
STATUS_SUCCESS = 0
STATUS_BUFFER_OVERFLOW = 0x80000005
STATUS_INVALID_PARAMETER = 0xC000000D
MAX_SPEC = 30                  # an insert's printf format between the '!': at most 30 characters
_SPEC = re.compile(r"^([-+ #0]*)(\*|[0-9]*)(?:\.(\*|[0-9]*))?(hh|h|ll|l|w|I64|I32|I|L)?(.?)(.*)$", re.S)


class _RtlArgs:
    """How RtlFormatMessage takes an insert's arguments (Wine's ntdll rtlstr test, on Windows):

    - an array (ArgumentsAreAnArray): %N is element N-1; the further arguments of an insert with '*' widths
      (the precision, the value) come from a cursor past the elements already taken ("%1!*.*u!" twice reads
      elements 0, 1, 2 then 0, 3, 4);
    - a va_list: the arguments are read in order; an insert's first argument is cached by its number (reading
      %3 first reads %1 and %2 before it, each as wide as %3's value: two slots for an I64 value on x86) and the
      further arguments of a '*' insert are read next from the list; a '*' insert with two stars also counts the
      number after its own as read.
    The slots read are counted (the va_list is advanced past them)."""

    def __init__(self, c, base: int, array: bool):
        self.c = c
        self.base = base
        self.array = array
        self.ps = c.ptr_size
        self.cache: dict[int, int] = {}
        self.last = 0            # va_list: the highest insert number read
        self.cur = 0             # the next slot (va_list) / the cursor (array)
        self.after: list[int] = []   # the slots read by the end of each insert

    def _slot(self, i: int) -> int:
        return self.c.ptr(self.base + i * self.ps)

    def _read(self, slots: int) -> int:
        v = self._slot(self.cur)
        if slots == 2:
            v |= self._slot(self.cur + 1) << 32
        self.cur += slots
        return v

    def fetch(self, num: int, stars: int, slots: int) -> list[int]:
        """[the '*' values..., the value] of insert `num`."""
        if self.array:
            first = self._slot(num - 1)
            self.cur = max(self.cur, num)
            if not stars:
                return [first]
            return [first] + [self._read(1) for _ in range(stars - 1)] + [self._read(slots)]
        while self.last < num:
            self.last += 1
            self.cache[self.last] = self._read(slots if (self.last < num or not stars) else 1)
        first = self.cache[num]
        if not stars:
            return [first]
        vals = [first] + [self._read(1) for _ in range(stars - 1)] + [self._read(slots)]
        self.last = max(self.last, num + stars - 1)
        return vals


class _Values:
    """printf ArgSource over an insert's fetched values."""

    def __init__(self, c, values: list[int]):
        self.c = c
        self.values = values
        self.i = 0

    def _next(self) -> int:
        if self.i >= len(self.values):
            raise _Bad()
        v = self.values[self.i]
        self.i += 1
        return v

    def int32(self):
        return self._next() & 0xFFFFFFFF

    def int64(self):
        return self._next()

    def ptr(self):
        return self._next()

    def double(self):
        return struct.unpack("<d", struct.pack("<Q", self._next() & (1 << 64) - 1))[0]

    def cstr(self, p):
        return self.c.cstr(p)

    def wstr(self, p):
        return self.c.wstr(p, MAX_MESSAGE_CHARS)

    def read(self, p, n):
        return self.c.read(p, n)

    def write_int(self, p, v, size):
        raise _Bad()


def rtl_format(c, fmt: str, width: int, ignore: bool, ansi: bool, array: bool, args: int):
    """(text, marks, bad, slots read) of RtlFormatMessage (see _RtlArgs; ArgumentsAreAnsi makes %s / %c (and an
    insert without a format) take narrow strings / characters, %S / %C wide ones)."""
    base = args if array else (c.ptr(args) if args else 0)
    src = _RtlArgs(c, base, array)

    def insert(num: int, spec: str | None) -> str:
        if not args:
            raise _Bad()
        spec = "s" if spec is None else spec
        if len(spec) > MAX_SPEC:
            raise _Bad()
        m = _SPEC.match(spec)
        if m is None:
            raise _Bad()
        flags, wid, prec, size, conv, tail = m.groups()
        stars = (wid == "*") + (prec == "*")
        if spec.count("*") > 2:
            raise _Bad()
        if ansi and not size and conv in ("s", "c", "S", "C"):
            size, conv = ("h" if conv in "sc" else "l"), conv.lower()
        # only I64 (and a double) take two slots on x86: "ll" is read as one (the test's %1!#llx!, on Windows)
        wide64 = size == "I64" or (size == "L" and conv in "eEfgGaA") or \
            (not size and conv in "eEfgGaA")
        slots = 2 if wide64 and c.ptr_size == 4 else 1
        values = src.fetch(num, stars, slots)
        if not conv.isalpha():
            src.after.append(src.cur)
            # no conversion letter where one belongs ("%1!**u!", "%1!0.3+*u!"): the arguments of its '*' are
            # taken and the rest of the format is copied as it is
            return conv + tail
        spec2 = flags + wid + ("." + prec if prec is not None else "") + (size or "") + conv + tail
        try:
            src.after.append(src.cur)
            return format_printf("%" + spec2, _Values(c, values), wide=True, flavor=Flavor.MSVCRT,
                                 ptr_size=c.ptr_size, codepage="cp1252")
        except PrintfInvalidParameter:
            raise _Bad() from None

    text, marks, bad = expand(fmt, width, ignore, insert)
    return text, marks, bad, src


@api(NT, "NTSTATUS NTAPI RtlFormatMessageEx(PWSTR Message, ULONG MaxWidth, BOOLEAN IgnoreInserts, "
         "BOOLEAN ArgumentsAreAnsi, BOOLEAN ArgumentsAreAnArray, va_list *Arguments, PWSTR Buffer, ULONG Length, "
         "PULONG ReturnLength, ULONG Flags)")
def RtlFormatMessageEx(c, msg, width, ignore, ansi, array, args, buf, length, pret, flags):
    """The message into Buffer (Length bytes). *ReturnLength gets the bytes written with the terminator. Too
    small a buffer is STATUS_BUFFER_OVERFLOW, *ReturnLength untouched: the message's own text is written as far
    as it fits (without a terminator), an insert that does not fit is cut to what fits before a terminator, a
    %n / %r break is written whole or not at all. A malformed insert or a lone "%" at the end is
    STATUS_INVALID_PARAMETER, the text before it written (no terminator). A va_list is advanced past the
    arguments the inserts read, even when the buffer overflows. Flags: 0 is the only value known."""
    if flags:
        from winhatch.win32.kernel32.toolhelp import _stop
        _stop(c, f"RtlFormatMessageEx flags {flags:#x}")
    fmt = c.wstr(msg, MAX_MESSAGE_CHARS)
    text, marks, bad, src = rtl_format(c, fmt, width & 0xFF, bool(ignore & 0xFF), bool(ansi & 0xFF),
                                       bool(array & 0xFF), args)
    va_list = bool(args) and not array & 0xFF

    def advance(upto: int | None) -> None:
        """Advance the va_list past the arguments of the inserts that start before `upto` (all: None)."""
        if not va_list:
            return
        starts = [start for start, _end, kind in marks if kind == "insert"]
        n = len(starts) if upto is None else sum(1 for x in starts if x < upto)
        slots = src.after[n - 1] if n and n <= len(src.after) else (src.cur if upto is None else 0)
        if slots:
            c.write_ptr(args, c.ptr(args) + slots * c.ptr_size)

    cap = length // 2
    if bad:
        advance(None)
        c.write(buf, text[:cap].encode("utf-16-le", "surrogatepass"))
        return STATUS_INVALID_PARAMETER
    if len(text) + 1 <= cap:
        advance(None)
        c.write(buf, (text + "\0").encode("utf-16-le", "surrogatepass"))
        if pret:
            c.write_u32(pret, 2 * (len(text) + 1))
        return STATUS_SUCCESS
    # overflow: as far as it fits
    out = ""
    kinds = {}
    for start, end, kind in marks if width in (0, 0xFF) else ():
        kinds[start] = (end, kind)
    i = 0
    stop = None
    while i < len(text):
        end, kind = kinds.get(i, (i + 1, "text"))
        if kind == "insert":
            if end + 1 > cap:
                if cap - i > 1:
                    out += text[i:cap - 1] + "\0"
                stop = i + 1
                break
        elif end > cap:
            stop = i
            break
        out += text[i:end]
        i = end
    advance(stop if kinds else None)
    c.write(buf, out.encode("utf-16-le", "surrogatepass"))
    return STATUS_BUFFER_OVERFLOW


@api(NT, "NTSTATUS NTAPI RtlFormatMessage(PWSTR Message, ULONG MaxWidth, BOOLEAN IgnoreInserts, "
         "BOOLEAN ArgumentsAreAnsi, BOOLEAN ArgumentsAreAnArray, va_list *Arguments, PWSTR Buffer, ULONG Length, "
         "PULONG ReturnLength)")
def RtlFormatMessage(c, msg, width, ignore, ansi, array, args, buf, length, pret):
    return RtlFormatMessageEx(c, msg, width, ignore, ansi, array, args, buf, length, pret, 0)
