"""scanf-family parsing with Windows CRT semantics, as a pure-Python engine.

The API handlers (sscanf, fscanf, scanf, swscanf, __stdio_common_vsscanf, ...) call
:func:`format_scanf` with the input text and a :class:`ScanSink` that takes the destination
pointers from the guest's varargs and writes the converted values into guest memory.

For streams, the handler passes what is available (e.g. the rest of the buffered line/file) and uses
``return_consumed=True`` to learn how many characters the conversion consumed, to push the rest back.
"""
from __future__ import annotations

import re
from typing import Protocol

from winhatch.win32.msvcrt.format import Flavor

__all__ = ["ScanSink", "format_scanf"]


class ScanSink(Protocol):
    """Destination side of scanf (implemented by the API layer over guest memory)."""

    def next_ptr(self) -> int: ...                                       # next pointer vararg
    def write_int(self, ptr: int, value: int, size: int) -> None: ...    # size 1/2/4/8, value masked
    def write_float(self, ptr: int, value: float, size: int) -> None: ...  # size 4 (float) / 8 (double)
    def write_bytes(self, ptr: int, data: bytes) -> None: ...            # %s/%[ include the NUL, %c not
    def write_wchars(self, ptr: int, data: str) -> None: ...             # same, UTF-16 in the guest


_WS = " \t\n\v\f\r"
# the float syntaxes, compiled on first use (re keeps them; compiling them at import was ~1 ms of every start-up)
_FLOAT_RE = r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?"
_FLOAT_RE_UCRT = (r"[+-]?(?:(?:0[xX](?:[0-9a-fA-F]+\.?[0-9a-fA-F]*|\.[0-9a-fA-F]+)(?:[pP][+-]?\d+)?)"
                  r"|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|inf(?:inity)?|nan(?:\([0-9A-Za-z_]*\))?)")


def _parse_set(fmt: str, i: int) -> tuple[set[str] | None, bool, int]:
    """Parse a %[...] scanset starting after '['. Returns (chars, negated, index after ']')."""
    neg = False
    if i < len(fmt) and fmt[i] == "^":
        neg = True
        i += 1
    chars: set[str] = set()
    first = True
    while i < len(fmt) and (fmt[i] != "]" or first):
        c = fmt[i]
        # a-z ranges (msvcrt accepts them in either order)
        if i + 2 < len(fmt) and fmt[i + 1] == "-" and fmt[i + 2] != "]":
            lo, hi = sorted((ord(c), ord(fmt[i + 2])))
            chars.update(chr(k) for k in range(lo, hi + 1))
            i += 3
        else:
            chars.add(c)
            i += 1
        first = False
    return chars, neg, i + 1


def format_scanf(fmt: bytes | str, data: bytes | str, sink: ScanSink, *, wide: bool,
                 flavor: Flavor = Flavor.MSVCRT, ptr_size: int = 8, codepage: str | None = None,
                 return_consumed: bool = False, floats: bool = True,
                 secure: bool = False) -> int | tuple[int, int]:
    """Run a scanf format over `data`. Returns the number of assigned fields, or -1 (EOF) when the
    input ends before the first conversion; with return_consumed, (result, characters consumed).

    secure: the _s forms (sscanf_s, ucrt's _CRT_INTERNAL_SCANF_SECURECRT): each %c, %s and %[ destination is
    followed by its size in characters (an unsigned int); a field that does not fit, with its NUL for %s and
    %[, leaves the characters that fitted, an empty string in the buffer, and ends the scan."""
    if isinstance(fmt, bytes):
        fmt = fmt.decode("latin-1")
    if isinstance(data, bytes):
        data = data.decode("latin-1")
    msvcrt = Flavor.MSVCRT in flavor or Flavor.UCRT not in flavor
    msvcrt_ws_rule = True
    pos = 0
    assigned = 0
    converted_any = False
    eof_hit = False
    n, m = len(fmt), len(data)
    i = 0

    def done() -> int | tuple[int, int]:
        r = -1 if (eof_hit and not converted_any and assigned == 0) else assigned
        return (r, pos) if return_consumed else r

    while i < n:
        c = fmt[i]
        if c in _WS:
            while i < n and fmt[i] in _WS:
                i += 1
            while pos < m and data[pos] in _WS:
                pos += 1
            continue
        if c != "%" or (i + 1 < n and fmt[i + 1] == "%"):
            if c == "%":
                i += 1
                while pos < m and data[pos] in _WS:   # "%%" skips leading white space like a conversion
                    pos += 1
            if pos >= m:
                eof_hit = True
                return done()
            if data[pos] != c:
                return done()
            pos += 1
            i += 1
            continue
        i += 1
        suppress = False
        if i < n and fmt[i] == "*":
            suppress = True
            i += 1
        width = 0
        while i < n and fmt[i].isdigit() and fmt[i].isascii():
            width = width * 10 + int(fmt[i])
            i += 1
        size = 0
        is_long = is_short = is_wide_mod = False
        while i < n:
            ch = fmt[i]
            if ch == "h":
                if i + 1 < n and fmt[i + 1] == "h":
                    i += 1
                    size = 1
                else:
                    size = 2
                is_short = True
            elif ch == "l":
                if i + 1 < n and fmt[i + 1] == "l":
                    i += 1
                    size = 8
                else:
                    size = 4
                is_long = True
            elif ch == "L":
                size = 8
                is_long = True
            elif ch == "w":
                is_wide_mod = True
            elif ch == "I":
                if fmt.startswith("64", i + 1):
                    size, i = 8, i + 2
                elif fmt.startswith("32", i + 1):
                    size, i = 4, i + 2
                else:
                    size = ptr_size
            elif ch in "jz" or ch == "t":
                size = 8 if ch == "j" else ptr_size
            elif ch in "FN":
                pass
            else:
                break
            i += 1
        if i >= n:
            break
        conv = fmt[i]
        i += 1
        if conv not in "cn[":
            while pos < m and data[pos] in _WS:
                pos += 1
        if conv != "n" and pos >= m:
            # EOF before the conversion. Wine's msvcrt/ucrt only report EOF (-1) when the input was
            # empty to begin with: white space alone gives 0 (sscanf("   ", "%d") == 0)
            eof_hit = pos == 0 or not msvcrt_ws_rule
            return done()
        limit = m if width == 0 else min(m, pos + width)

        if conv in "diouxX":
            start = pos
            j = pos
            neg = False
            if j < limit and data[j] in "+-":
                neg = data[j] == "-"
                j += 1
            base = {"d": 10, "u": 10, "o": 8, "x": 16, "X": 16, "i": 0}[conv]
            if base in (0, 16) and j < limit and data[j] == "0" and j + 1 < limit and data[j + 1] in "xX":
                base = 16
                j += 2
            elif base == 0:
                base = 8 if j < limit and data[j] == "0" else 10
            digits = "0123456789abcdef"[:base]
            k = j
            while k < limit and data[k].lower() in digits and data[k].isascii():
                k += 1
            if k == j:
                return done()       # "0x" with no digit after it is a matching failure (Wine)
            else:
                value = int(data[j:k], base)
                pos = k
            if neg:
                value = -value
            converted_any = True
            if not suppress:
                sink.write_int(sink.next_ptr(), value & ((1 << (8 * (size or 4))) - 1), size or 4)
                assigned += 1
        elif conv in "eEfgGaA":
            if not floats:                  # a runtime without floating point (ntdll's): the scan ends here
                return done()
            rx = re.compile(_FLOAT_RE) if msvcrt else re.compile(_FLOAT_RE_UCRT, re.IGNORECASE)
            mt = rx.match(data, pos, limit)
            if not mt:
                return done()
            text = mt.group(0)
            e = mt.end()
            if e < limit and data[e] in "eE":
                # a dangling exponent: at the end of the input Wine's msvcrt reports EOF
                k = e + 1 + (e + 1 < limit and data[e + 1] in "+-")
                if k >= m:
                    pos = m
                    eof_hit = True
                    return done()
            try:
                if "x" in text.lower() and "0x" in text.lower():
                    t = text if "p" in text.lower() else text + "p0"
                    value = float.fromhex(t)
                elif text.lower().lstrip("+-").startswith("nan"):
                    value = float("-nan" if text.startswith("-") else "nan")
                else:
                    value = float(text)
            except ValueError:
                return done()
            pos = mt.end()
            converted_any = True
            if not suppress:
                sink.write_float(sink.next_ptr(), value, 8 if is_long else 4)
                assigned += 1
        elif conv in "sScC[":
            upper = conv in "SC"
            if is_short or is_long or is_wide_mod:
                dest_wide = is_long or is_wide_mod
            else:
                dest_wide = (not upper) if wide else upper
            if conv == "[":
                chars, negated, i = _parse_set(fmt, i)
                start = pos
                while pos < limit and ((data[pos] in chars) != negated):
                    pos += 1
                if pos == start:
                    if not suppress:   # the CRT stores the empty string before failing
                        p = sink.next_ptr()
                        if secure and sink.next_ptr() & 0xFFFFFFFF == 0:
                            return done()
                        dest_wide_ = is_long or is_wide_mod or (wide and not is_short)
                        if dest_wide_:
                            sink.write_wchars(p, "\0")
                        else:
                            sink.write_bytes(p, b"\0")
                    return done()
                got = data[start:pos] + "\0"
            elif conv in "sS":
                start = pos
                while pos < limit and data[pos] not in _WS:
                    pos += 1
                got = data[start:pos] + "\0"
            else:
                cnt = width or 1
                got = data[pos:pos + cnt]
                pos += len(got)
            converted_any = True
            if not suppress:
                p = sink.next_ptr()
                out = (got if wide else _to_wide(got, codepage)) if dest_wide else \
                    (_to_narrow(got, codepage) if wide else got).encode("latin-1")
                if secure:
                    room = sink.next_ptr() & 0xFFFFFFFF
                    if len(out) > room:
                        # what fitted before the field ran out of room (a string keeps a place for its NUL),
                        # then an empty string: the scan ends without assigning this field
                        keep = max(room - (conv not in "cC"), 0)
                        if room:
                            if dest_wide:
                                sink.write_wchars(p, "\0" + out[1:keep])
                            else:
                                sink.write_bytes(p, b"\0" + out[1:keep])
                        return done()
                if dest_wide:
                    sink.write_wchars(p, out)
                else:
                    sink.write_bytes(p, out)
                assigned += 1
        elif conv == "p":
            mt = re.compile(r"[0-9a-fA-F]+").match(data, pos, limit)
            if not mt:
                return done()
            pos = mt.end()
            converted_any = True
            if not suppress:
                sink.write_int(sink.next_ptr(), int(mt.group(0), 16) & ((1 << (8 * ptr_size)) - 1), ptr_size)
                assigned += 1
        elif conv == "n":
            if not suppress:
                sink.write_int(sink.next_ptr(), pos, size or 4)
        else:
            return done()
    return done()


def _to_wide(s: str, codepage: str | None) -> str:
    if codepage is None:
        return s
    return s.encode("latin-1").decode(codepage, "replace")


def _to_narrow(s: str, codepage: str | None) -> str:
    if codepage is None:
        return "".join(c if ord(c) <= 0xFF else "?" for c in s)
    return s.encode(codepage, "replace").decode("latin-1")
