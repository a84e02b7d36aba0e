"""ntdll's counted strings: UNICODE_STRING / ANSI_STRING (= STRING, OEM_STRING) and the Rtl functions over them
(Init, Copy, Compare, Equal, Prefix, Append, Upcase/Downcase, Hash, Free, Create, the ANSI/OEM/UTF-8
conversions, integer <-> text).

The strings are the guest's own structures (winternl.h / ntdef.h; offsets checked with a mingw offsetof
program, tests/fixtures/src/conf_rtl_string.c):

    x86  (8 bytes)    +0 Length (USHORT, bytes)   +2 MaximumLength (USHORT)   +4 Buffer
    x64  (16 bytes)   +0 Length                   +2 MaximumLength            +8 Buffer

Buffers allocated here (the AllocateDestinationString forms, RtlCreateUnicodeString, RtlDuplicateUnicodeString)
come from the process heap, as on Windows, so RtlFreeHeap(GetProcessHeap(), 0, s.Buffer) and the
RtlFree*String functions both release them. The ANSI code page is 1252 and the OEM code page 437
(kernel32/codepages.py), both single-byte: one byte per character and back.
"""
from __future__ import annotations

import struct

from winhatch.kernel.ex import nls_files
from winhatch.ldr import loader
from winhatch.ntstatus import (STATUS_BUFFER_OVERFLOW, STATUS_BUFFER_TOO_SMALL, STATUS_INVALID_PARAMETER,
                               STATUS_NAME_TOO_LONG, STATUS_NO_MEMORY, STATUS_SUCCESS, NtStatusError)
from winhatch.win32.api import api

from winhatch.win32.kernel32 import codepages as cps

NT = "ntdll.dll"
STATUS_ACCESS_VIOLATION = 0xC0000005
STATUS_INVALID_PARAMETER_2 = 0xC00000F0
STATUS_INVALID_PARAMETER_4 = 0xC00000F2
STATUS_INVALID_PARAMETER_5 = 0xC00000F3
STATUS_SOME_NOT_MAPPED = 0x00000107
STATUS_NOT_FOUND = 0xC0000225
MAX_WCHARS = 0x8000          # a bounded NUL scan: longer than any counted string can describe
MAX_CHARS = 0x10000


# ----------------------------------------------------------------------------------------- structures
def _buf_off(c) -> int:
    return 8 if c.ptr_size == 8 else 4


def get_str(c, p: int) -> tuple[int, int, int]:
    """(Length, MaximumLength, Buffer) of the UNICODE_STRING / STRING at p."""
    ln, mx = struct.unpack("<HH", c.read(p, 4))
    return ln, mx, c.ptr(p + _buf_off(c))


def set_str(c, p: int, length: int | None = None, maxlen: int | None = None, buf: int | None = None) -> None:
    if length is not None:
        c.write(p, struct.pack("<H", length & 0xFFFF))
    if maxlen is not None:
        c.write(p + 2, struct.pack("<H", maxlen & 0xFFFF))
    if buf is not None:
        c.write_ptr(p + _buf_off(c), buf)


def read_ustr(c, p: int) -> str:
    """The text of a UNICODE_STRING (Length / 2 UTF-16 units, surrogates kept as units)."""
    ln, _, buf = get_str(c, p)
    n = ln // 2
    return c.read(buf, 2 * n).decode("utf-16-le", "surrogatepass") if n else ""


def read_units(c, p: int) -> list[int]:
    ln, _, buf = get_str(c, p)
    n = ln // 2
    return list(struct.unpack(f"<{n}H", c.read(buf, 2 * n))) if n else []


def read_astr(c, p: int) -> bytes:
    ln, _, buf = get_str(c, p)
    return c.read(buf, ln) if ln else b""


def wcslen(c, addr: int, limit: int = MAX_WCHARS) -> int:
    n = 0
    while n < limit:
        chunk = c.read(addr + 2 * n, 64)
        for i in range(0, 64, 2):
            if chunk[i] == 0 and chunk[i + 1] == 0:
                return n + i // 2
        n += 32
    return limit


def strlen(c, addr: int, limit: int = MAX_CHARS) -> int:
    return len(c.cpu.read_cstr(addr, limit))


def _heap(c):
    return loader.state_of(c.proc).heaps.process_heap


def heap_alloc(c, size: int) -> int:
    try:
        return _heap(c).alloc(max(size, 1), 0)
    except NtStatusError:
        return 0


def heap_free(c, addr: int) -> None:
    if addr:
        _heap(c).free_block(addr)


# ----------------------------------------------------------------------------------------- characters
def upcase_unit(u: int) -> int:
    """RtlUpcaseUnicodeChar: the simple (one-to-one) uppercase mapping of the case map (l_intl.nls,
    winhatch.kernel.ex.nls_files); no mapping leaves the unit."""
    if u < 0x80:
        return u - 32 if 0x61 <= u <= 0x7A else u
    return nls_files.upcase_unit(u)


def downcase_unit(u: int) -> int:
    if u < 0x80:
        return u + 32 if 0x41 <= u <= 0x5A else u
    return nls_files.downcase_unit(u)


def upper_char(b: int) -> int:
    """RtlUpperChar (and RtlUpperString, the case-insensitive STRING comparisons): a-z only, as Windows
    does with a single-byte ANSI code page (Wine's rtlstr.c checks every byte)."""
    return b - 32 if 0x61 <= b <= 0x7A else b


def mb_to_units(data: bytes, cp: int) -> bytes:
    """Single-byte code page text to UTF-16LE, one unit per byte."""
    return cps.decode(data, cp).encode("utf-16-le", "surrogatepass")


def units_to_mb(units: list[int], cp: int) -> bytes:
    """UTF-16 units to a single-byte code page, one byte per unit (best fit, then '?')."""
    out = bytearray()
    for u in units:
        enc, _ = cps.encode(chr(u), cp) if not 0xD800 <= u <= 0xDFFF else (b"?", True)
        out += enc[:1] or b"?"
    return bytes(out)


def _units(c, addr: int, nbytes: int) -> list[int]:
    n = nbytes // 2
    return list(struct.unpack(f"<{n}H", c.read(addr, 2 * n))) if n else []


def _pack(units) -> bytes:
    return struct.pack(f"<{len(units)}H", *units)


# ----------------------------------------------------------------------------------------- Init
@api(NT, "void NTAPI RtlInitUnicodeString(PUNICODE_STRING DestinationString, PVOID SourceString)")
def RtlInitUnicodeString(c, dst, src):
    if not src:
        set_str(c, dst, 0, 0, 0)
        return
    n = min(wcslen(c, src) * 2, 0xFFFC)
    set_str(c, dst, n, n + 2, src)


@api(NT, "NTSTATUS NTAPI RtlInitUnicodeStringEx(PUNICODE_STRING DestinationString, PVOID SourceString)")
def RtlInitUnicodeStringEx(c, dst, src):
    if not src:
        set_str(c, dst, 0, 0, 0)
        return STATUS_SUCCESS
    n = wcslen(c, src) * 2
    if n > 0xFFFC:
        return STATUS_NAME_TOO_LONG
    set_str(c, dst, n, n + 2, src)
    return STATUS_SUCCESS


def _init_ansi(c, dst, src):
    if not src:
        set_str(c, dst, 0, 0, 0)
        return
    n = min(strlen(c, src), 0xFFFE)
    set_str(c, dst, n, n + 1, src)


@api(NT, "void NTAPI RtlInitString(PSTRING DestinationString, PVOID SourceString)")
def RtlInitString(c, dst, src):
    _init_ansi(c, dst, src)


@api(NT, "void NTAPI RtlInitAnsiString(PANSI_STRING DestinationString, PVOID SourceString)")
def RtlInitAnsiString(c, dst, src):
    _init_ansi(c, dst, src)


@api(NT, "NTSTATUS NTAPI RtlInitAnsiStringEx(PANSI_STRING DestinationString, PVOID SourceString)")
def RtlInitAnsiStringEx(c, dst, src):
    if src and strlen(c, src) > 0xFFFE:
        return STATUS_NAME_TOO_LONG
    _init_ansi(c, dst, src)
    return STATUS_SUCCESS


# ----------------------------------------------------------------------------------------- Free / Create
def _free(c, p):
    if p:
        _, _, buf = get_str(c, p)
        heap_free(c, buf)
        set_str(c, p, 0, 0, 0)


@api(NT, "void NTAPI RtlFreeUnicodeString(PUNICODE_STRING UnicodeString)")
def RtlFreeUnicodeString(c, p):
    _free(c, p)


@api(NT, "void NTAPI RtlFreeAnsiString(PANSI_STRING AnsiString)")
def RtlFreeAnsiString(c, p):
    _free(c, p)


@api(NT, "void NTAPI RtlFreeOemString(POEM_STRING OemString)")
def RtlFreeOemString(c, p):
    _free(c, p)


def _create(c, dst, data: bytes) -> int:
    """A heap copy of UTF-16 `data` plus a NUL in *dst; FALSE when too long or out of memory."""
    if len(data) + 2 > 0xFFFF:
        return 0
    buf = heap_alloc(c, len(data) + 2)
    if not buf:
        return 0
    c.write(buf, data + b"\0\0")
    set_str(c, dst, len(data), len(data) + 2, buf)
    return 1


@api(NT, "BOOLEAN NTAPI RtlCreateUnicodeString(PUNICODE_STRING DestinationString, PVOID SourceString)")
def RtlCreateUnicodeString(c, dst, src):
    return _create(c, dst, c.read(src, 2 * wcslen(c, src)))


@api(NT, "BOOLEAN NTAPI RtlCreateUnicodeStringFromAsciiz(PUNICODE_STRING DestinationString, PVOID SourceString)")
def RtlCreateUnicodeStringFromAsciiz(c, dst, src):
    return _create(c, dst, mb_to_units(c.cpu.read_cstr(src, MAX_CHARS), cps.acp(c)))


RTL_DUPLICATE_UNICODE_STRING_NULL_TERMINATE = 1
RTL_DUPLICATE_UNICODE_STRING_ALLOCATE_NULL_STRING = 2


@api(NT, "NTSTATUS NTAPI RtlDuplicateUnicodeString(ULONG Flags, PCUNICODE_STRING StringIn, "
         "PUNICODE_STRING StringOut)")
def RtlDuplicateUnicodeString(c, flags, src, dst):
    if flags & ~3 or flags == RTL_DUPLICATE_UNICODE_STRING_ALLOCATE_NULL_STRING or not src or not dst:
        return STATUS_INVALID_PARAMETER
    ln, mx, buf = get_str(c, src)
    if ln > mx or ln & 1 or ((ln or mx) and not buf):
        return STATUS_INVALID_PARAMETER
    term = 2 if flags & RTL_DUPLICATE_UNICODE_STRING_NULL_TERMINATE else 0
    if ln == 0 and flags != (RTL_DUPLICATE_UNICODE_STRING_NULL_TERMINATE
                             | RTL_DUPLICATE_UNICODE_STRING_ALLOCATE_NULL_STRING):
        set_str(c, dst, 0, 0, 0)
        return STATUS_SUCCESS
    if ln + term > 0xFFFF:
        return STATUS_NAME_TOO_LONG
    new = heap_alloc(c, ln + term)
    if not new:
        return STATUS_NO_MEMORY
    c.write(new, (c.read(buf, ln) if ln else b"") + bytes(term))
    set_str(c, dst, ln, ln + term, new)
    return STATUS_SUCCESS


# ----------------------------------------------------------------------------------------- Copy
@api(NT, "void NTAPI RtlCopyUnicodeString(PUNICODE_STRING DestinationString, PCUNICODE_STRING SourceString)")
def RtlCopyUnicodeString(c, dst, src):
    if not src:
        set_str(c, dst, 0)
        return
    ln, _, sbuf = get_str(c, src)
    _, mx, dbuf = get_str(c, dst)
    n = min(ln, mx) & ~1
    if n:
        c.write(dbuf, c.read(sbuf, n))
    if n + 2 <= mx:
        c.write(dbuf + n, b"\0\0")
    set_str(c, dst, n)


@api(NT, "void NTAPI RtlCopyString(PSTRING DestinationString, const STRING *SourceString)")
def RtlCopyString(c, dst, src):
    if not src:
        set_str(c, dst, 0)
        return
    ln, _, sbuf = get_str(c, src)
    _, mx, dbuf = get_str(c, dst)
    n = min(ln, mx)
    if n:
        c.write(dbuf, c.read(sbuf, n))
    set_str(c, dst, n)


# ----------------------------------------------------------------------------------------- Compare
def _cmp_units(a: list[int], b: list[int], ci: bool) -> int:
    for x, y in zip(a, b):
        if ci:
            x, y = upcase_unit(x), upcase_unit(y)
        if x != y:
            return x - y
    return len(a) - len(b)


def _cmp_bytes(a: bytes, b: bytes, ci: bool) -> int:
    for x, y in zip(a, b):
        if ci:
            x, y = upper_char(x), upper_char(y)
        if x != y:
            return x - y
    return len(a) - len(b)


@api(NT, "LONG NTAPI RtlCompareUnicodeString(PCUNICODE_STRING String1, PCUNICODE_STRING String2, "
         "BOOLEAN CaseInSensitive)")
def RtlCompareUnicodeString(c, s1, s2, ci):
    return _cmp_units(read_units(c, s1), read_units(c, s2), bool(ci & 0xFF))


@api(NT, "LONG NTAPI RtlCompareUnicodeStrings(PCWCH String1, SIZE_T String1Length, PCWCH String2, "
         "SIZE_T String2Length, BOOLEAN CaseInSensitive)")
def RtlCompareUnicodeStrings(c, p1, n1, p2, n2, ci):
    return _cmp_units(_units(c, p1, 2 * n1), _units(c, p2, 2 * n2), bool(ci & 0xFF))


@api(NT, "LONG NTAPI RtlCompareString(const STRING *String1, const STRING *String2, BOOLEAN CaseInSensitive)")
def RtlCompareString(c, s1, s2, ci):
    return _cmp_bytes(read_astr(c, s1), read_astr(c, s2), bool(ci & 0xFF))


@api(NT, "BOOLEAN NTAPI RtlEqualUnicodeString(PCUNICODE_STRING String1, PCUNICODE_STRING String2, "
         "BOOLEAN CaseInSensitive)")
def RtlEqualUnicodeString(c, s1, s2, ci):
    a, b = read_units(c, s1), read_units(c, s2)
    return int(len(a) == len(b) and _cmp_units(a, b, bool(ci & 0xFF)) == 0)


@api(NT, "BOOLEAN NTAPI RtlEqualString(const STRING *String1, const STRING *String2, BOOLEAN CaseInSensitive)")
def RtlEqualString(c, s1, s2, ci):
    a, b = read_astr(c, s1), read_astr(c, s2)
    return int(len(a) == len(b) and _cmp_bytes(a, b, bool(ci & 0xFF)) == 0)


@api(NT, "BOOLEAN NTAPI RtlPrefixUnicodeString(PCUNICODE_STRING String1, PCUNICODE_STRING String2, "
         "BOOLEAN CaseInSensitive)")
def RtlPrefixUnicodeString(c, s1, s2, ci):
    a, b = read_units(c, s1), read_units(c, s2)
    return int(len(a) <= len(b) and _cmp_units(a, b[:len(a)], bool(ci & 0xFF)) == 0)


@api(NT, "BOOLEAN NTAPI RtlPrefixString(const STRING *String1, const STRING *String2, BOOLEAN CaseInSensitive)")
def RtlPrefixString(c, s1, s2, ci):
    a, b = read_astr(c, s1), read_astr(c, s2)
    return int(len(a) <= len(b) and _cmp_bytes(a, b[:len(a)], bool(ci & 0xFF)) == 0)


# ----------------------------------------------------------------------------------------- Append
def _append_w(c, dst, data: bytes) -> int:
    if not data:                   # an empty source leaves the destination as it is, whatever its state
        return STATUS_SUCCESS
    ln, mx, buf = get_str(c, dst)
    if ln + len(data) > mx:
        return STATUS_BUFFER_TOO_SMALL
    if data:
        c.write(buf + ln, data)
    n = ln + len(data)
    if n + 2 <= mx:
        c.write(buf + n, b"\0\0")
    set_str(c, dst, n)
    return STATUS_SUCCESS


@api(NT, "NTSTATUS NTAPI RtlAppendUnicodeStringToString(PUNICODE_STRING Destination, PCUNICODE_STRING Source)")
def RtlAppendUnicodeStringToString(c, dst, src):
    ln, _, buf = get_str(c, src)
    return _append_w(c, dst, c.read(buf, ln & ~1) if ln >= 2 else b"")


@api(NT, "NTSTATUS NTAPI RtlAppendUnicodeToString(PUNICODE_STRING Destination, PVOID Source)")
def RtlAppendUnicodeToString(c, dst, src):
    return _append_w(c, dst, c.read(src, 2 * wcslen(c, src)) if src else b"")


def _append_a(c, dst, data: bytes) -> int:
    if not data:
        return STATUS_SUCCESS
    ln, mx, buf = get_str(c, dst)
    if ln + len(data) > mx:
        return STATUS_BUFFER_TOO_SMALL
    if data:
        c.write(buf + ln, data)
    set_str(c, dst, ln + len(data))
    return STATUS_SUCCESS


@api(NT, "NTSTATUS NTAPI RtlAppendStringToString(PSTRING Destination, const STRING *Source)")
def RtlAppendStringToString(c, dst, src):
    return _append_a(c, dst, read_astr(c, src))


@api(NT, "NTSTATUS NTAPI RtlAppendAsciizToString(PSTRING Destination, PVOID Source)")
def RtlAppendAsciizToString(c, dst, src):
    return _append_a(c, dst, c.cpu.read_cstr(src, MAX_CHARS) if src else b"")


# ----------------------------------------------------------------------------------------- case
@api(NT, "WCHAR NTAPI RtlUpcaseUnicodeChar(WCHAR SourceCharacter)")
def RtlUpcaseUnicodeChar(c, ch):
    return upcase_unit(ch & 0xFFFF)


@api(NT, "WCHAR NTAPI RtlDowncaseUnicodeChar(WCHAR SourceCharacter)")
def RtlDowncaseUnicodeChar(c, ch):
    return downcase_unit(ch & 0xFFFF)


@api(NT, "CHAR NTAPI RtlUpperChar(CHAR Character)")
def RtlUpperChar(c, ch):
    return upper_char(ch & 0xFF)


def _case_string(c, dst, src, alloc, fn) -> int:
    units = [fn(u) for u in read_units(c, src)]
    n = 2 * len(units)
    if alloc & 0xFF:
        buf = heap_alloc(c, n)
        if not buf:
            return STATUS_NO_MEMORY
        set_str(c, dst, None, n, buf)
    else:
        _, mx, buf = get_str(c, dst)
        if n > mx:
            return STATUS_BUFFER_OVERFLOW
    if n:
        c.write(buf, _pack(units))
    set_str(c, dst, n)
    return STATUS_SUCCESS


@api(NT, "NTSTATUS NTAPI RtlUpcaseUnicodeString(PUNICODE_STRING DestinationString, PCUNICODE_STRING SourceString, "
         "BOOLEAN AllocateDestinationString)")
def RtlUpcaseUnicodeString(c, dst, src, alloc):
    return _case_string(c, dst, src, alloc, upcase_unit)


@api(NT, "NTSTATUS NTAPI RtlDowncaseUnicodeString(PUNICODE_STRING DestinationString, "
         "PCUNICODE_STRING SourceString, BOOLEAN AllocateDestinationString)")
def RtlDowncaseUnicodeString(c, dst, src, alloc):
    return _case_string(c, dst, src, alloc, downcase_unit)


@api(NT, "void NTAPI RtlUpperString(PSTRING DestinationString, const STRING *SourceString)")
def RtlUpperString(c, dst, src):
    data = read_astr(c, src)
    _, mx, buf = get_str(c, dst)
    data = bytes(upper_char(b) for b in data[:mx])
    if data:
        c.write(buf, data)
    set_str(c, dst, len(data))


# ----------------------------------------------------------------------------------------- hash
HASH_STRING_ALGORITHM_DEFAULT, HASH_STRING_ALGORITHM_X65599 = 0, 1


@api(NT, "NTSTATUS NTAPI RtlHashUnicodeString(PCUNICODE_STRING String, BOOLEAN CaseInSensitive, "
         "ULONG HashAlgorithm, PULONG HashValue)")
def RtlHashUnicodeString(c, s, ci, alg, out):
    """The x65599 hash (the default algorithm): h = h * 65599 + unit, over the (upcased) units."""
    if not s or not out or alg not in (HASH_STRING_ALGORITHM_DEFAULT, HASH_STRING_ALGORITHM_X65599):
        return STATUS_INVALID_PARAMETER
    h = 0
    for u in read_units(c, s):
        h = (h * 65599 + (upcase_unit(u) if ci & 0xFF else u)) & 0xFFFFFFFF
    c.write_u32(out, h)
    return STATUS_SUCCESS


# ----------------------------------------------------------------------------------------- conversions
def _to_unicode_string(c, dst, data: bytes, cp: int, alloc) -> int:
    size = 2 * len(data) + 2
    if size > 0xFFFF:
        return STATUS_INVALID_PARAMETER_2
    set_str(c, dst, size - 2)
    if alloc & 0xFF:
        buf = heap_alloc(c, size)
        if not buf:
            return STATUS_NO_MEMORY
        set_str(c, dst, None, size, buf)
    else:
        _, mx, buf = get_str(c, dst)
        if size > mx:
            return STATUS_BUFFER_OVERFLOW
    c.write(buf, mb_to_units(data, cp) + b"\0\0")
    set_str(c, dst, size - 2)
    return STATUS_SUCCESS


def _from_unicode_string(c, dst, units: list[int], cp: int, alloc) -> int:
    size = len(units) + 1
    if size > 0xFFFF:
        return STATUS_INVALID_PARAMETER_2
    set_str(c, dst, size - 1)     # Windows sets Length before it checks the buffer (Wine's rtlstr.c)
    status = STATUS_SUCCESS
    if alloc & 0xFF:
        buf = heap_alloc(c, size)
        if not buf:
            return STATUS_NO_MEMORY
        set_str(c, dst, None, size, buf)
    else:
        _, mx, buf = get_str(c, dst)
        if size > mx:
            if mx == 0:
                return STATUS_BUFFER_OVERFLOW
            units = units[:mx - 1]
            status = STATUS_BUFFER_OVERFLOW
    data = units_to_mb(units, cp)
    c.write(buf, data + b"\0")
    set_str(c, dst, len(data))
    return status


@api(NT, "NTSTATUS NTAPI RtlAnsiStringToUnicodeString(PUNICODE_STRING DestinationString, "
         "PCANSI_STRING SourceString, BOOLEAN AllocateDestinationString)")
def RtlAnsiStringToUnicodeString(c, dst, src, alloc):
    return _to_unicode_string(c, dst, read_astr(c, src), cps.acp(c), alloc)


@api(NT, "NTSTATUS NTAPI RtlOemStringToUnicodeString(PUNICODE_STRING DestinationString, "
         "PCOEM_STRING SourceString, BOOLEAN AllocateDestinationString)")
def RtlOemStringToUnicodeString(c, dst, src, alloc):
    return _to_unicode_string(c, dst, read_astr(c, src), cps.oemcp(c), alloc)


@api(NT, "NTSTATUS NTAPI RtlUnicodeStringToAnsiString(PANSI_STRING DestinationString, "
         "PCUNICODE_STRING SourceString, BOOLEAN AllocateDestinationString)")
def RtlUnicodeStringToAnsiString(c, dst, src, alloc):
    return _from_unicode_string(c, dst, read_units(c, src), cps.acp(c), alloc)


@api(NT, "NTSTATUS NTAPI RtlUnicodeStringToOemString(POEM_STRING DestinationString, "
         "PCUNICODE_STRING SourceString, BOOLEAN AllocateDestinationString)")
def RtlUnicodeStringToOemString(c, dst, src, alloc):
    return _from_unicode_string(c, dst, read_units(c, src), cps.oemcp(c), alloc)


@api(NT, "NTSTATUS NTAPI RtlUpcaseUnicodeStringToAnsiString(PANSI_STRING DestinationString, "
         "PCUNICODE_STRING SourceString, BOOLEAN AllocateDestinationString)")
def RtlUpcaseUnicodeStringToAnsiString(c, dst, src, alloc):
    return _from_unicode_string(c, dst, [upcase_unit(u) for u in read_units(c, src)], cps.acp(c), alloc)


@api(NT, "NTSTATUS NTAPI RtlUpcaseUnicodeStringToOemString(POEM_STRING DestinationString, "
         "PCUNICODE_STRING SourceString, BOOLEAN AllocateDestinationString)")
def RtlUpcaseUnicodeStringToOemString(c, dst, src, alloc):
    return _from_unicode_string(c, dst, [upcase_unit(u) for u in read_units(c, src)], cps.oemcp(c), alloc)


@api(NT, "ULONG NTAPI RtlAnsiStringToUnicodeSize(PCANSI_STRING AnsiString)")
def RtlAnsiStringToUnicodeSize(c, src):
    return 2 * get_str(c, src)[0] + 2


@api(NT, "ULONG NTAPI RtlOemStringToUnicodeSize(PCOEM_STRING OemString)")
def RtlOemStringToUnicodeSize(c, src):
    return 2 * get_str(c, src)[0] + 2


@api(NT, "ULONG NTAPI RtlUnicodeStringToAnsiSize(PCUNICODE_STRING UnicodeString)")
def RtlUnicodeStringToAnsiSize(c, src):
    return get_str(c, src)[0] // 2 + 1


@api(NT, "ULONG NTAPI RtlUnicodeStringToOemSize(PCUNICODE_STRING UnicodeString)")
def RtlUnicodeStringToOemSize(c, src):
    return get_str(c, src)[0] // 2 + 1


def _mb_to_unicode_n(c, dst, dmax, res, src, slen, cp) -> int:
    n = min(dmax // 2, slen)
    if n:
        c.write(dst, mb_to_units(c.read(src, n), cp))
    if res:
        c.write_u32(res, 2 * n)
    return STATUS_SUCCESS


@api(NT, "NTSTATUS NTAPI RtlMultiByteToUnicodeN(PWCH UnicodeString, ULONG MaxBytesInUnicodeString, "
         "PULONG BytesInUnicodeString, PVOID MultiByteString, ULONG BytesInMultiByteString)")
def RtlMultiByteToUnicodeN(c, dst, dmax, res, src, slen):
    return _mb_to_unicode_n(c, dst, dmax, res, src, slen, cps.acp(c))


@api(NT, "NTSTATUS NTAPI RtlOemToUnicodeN(PWCH UnicodeString, ULONG MaxBytesInUnicodeString, "
         "PULONG BytesInUnicodeString, PVOID OemString, ULONG BytesInOemString)")
def RtlOemToUnicodeN(c, dst, dmax, res, src, slen):
    return _mb_to_unicode_n(c, dst, dmax, res, src, slen, cps.oemcp(c))


@api(NT, "NTSTATUS NTAPI RtlMultiByteToUnicodeSize(PULONG BytesInUnicodeString, PVOID MultiByteString, "
         "ULONG BytesInMultiByteString)")
def RtlMultiByteToUnicodeSize(c, res, src, slen):
    c.write_u32(res, 2 * slen)
    return STATUS_SUCCESS


api(NT, "NTSTATUS NTAPI RtlOemToUnicodeSize(PULONG BytesInUnicodeString, PVOID OemString, "
        "ULONG BytesInOemString)")(RtlMultiByteToUnicodeSize)   # one byte, one character in both code pages


def _unicode_to_mb_n(c, dst, dmax, res, src, slen, cp, fn=None) -> int:
    n = min(dmax, slen // 2)
    units = _units(c, src, 2 * n)
    if fn:
        units = [fn(u) for u in units]
    if n:
        c.write(dst, units_to_mb(units, cp))
    if res:
        c.write_u32(res, n)
    return STATUS_SUCCESS


@api(NT, "NTSTATUS NTAPI RtlUnicodeToMultiByteN(PCHAR MultiByteString, ULONG MaxBytesInMultiByteString, "
         "PULONG BytesInMultiByteString, PCWCH UnicodeString, ULONG BytesInUnicodeString)")
def RtlUnicodeToMultiByteN(c, dst, dmax, res, src, slen):
    return _unicode_to_mb_n(c, dst, dmax, res, src, slen, cps.acp(c))


@api(NT, "NTSTATUS NTAPI RtlUnicodeToOemN(PCHAR OemString, ULONG MaxBytesInOemString, "
         "PULONG BytesInOemString, PCWCH UnicodeString, ULONG BytesInUnicodeString)")
def RtlUnicodeToOemN(c, dst, dmax, res, src, slen):
    return _unicode_to_mb_n(c, dst, dmax, res, src, slen, cps.oemcp(c))


@api(NT, "NTSTATUS NTAPI RtlUpcaseUnicodeToMultiByteN(PCHAR MultiByteString, ULONG MaxBytesInMultiByteString, "
         "PULONG BytesInMultiByteString, PCWCH UnicodeString, ULONG BytesInUnicodeString)")
def RtlUpcaseUnicodeToMultiByteN(c, dst, dmax, res, src, slen):
    return _unicode_to_mb_n(c, dst, dmax, res, src, slen, cps.acp(c), upcase_unit)


@api(NT, "NTSTATUS NTAPI RtlUpcaseUnicodeToOemN(PCHAR OemString, ULONG MaxBytesInOemString, "
         "PULONG BytesInOemString, PCWCH UnicodeString, ULONG BytesInUnicodeString)")
def RtlUpcaseUnicodeToOemN(c, dst, dmax, res, src, slen):
    return _unicode_to_mb_n(c, dst, dmax, res, src, slen, cps.oemcp(c), upcase_unit)


@api(NT, "NTSTATUS NTAPI RtlUnicodeToMultiByteSize(PULONG BytesInMultiByteString, PCWCH UnicodeString, "
         "ULONG BytesInUnicodeString)")
def RtlUnicodeToMultiByteSize(c, res, src, slen):
    c.write_u32(res, slen // 2)
    return STATUS_SUCCESS


# ----------------------------------------------------------------------------------------- UTF-8
def _utf8_decode(data: bytes) -> tuple[list[int], bool]:
    """UTF-8 → UTF-16 units; each invalid sequence becomes U+FFFD (the bool says one did)."""
    try:
        text, bad = data.decode("utf-8"), False
    except UnicodeDecodeError:
        text, bad = data.decode("utf-8", "replace"), True
    units = list(struct.unpack(f"<{len(text.encode('utf-16-le', 'surrogatepass')) // 2}H",
                               text.encode("utf-16-le", "surrogatepass")))
    return units, bad


@api(NT, "NTSTATUS NTAPI RtlUTF8ToUnicodeN(PWSTR UnicodeStringDestination, ULONG UnicodeStringMaxByteCount, "
         "PULONG UnicodeStringActualByteCount, PVOID UTF8StringSource, ULONG UTF8StringByteCount)")
def RtlUTF8ToUnicodeN(c, dst, dmax, res, src, slen):
    if not src:
        return STATUS_INVALID_PARAMETER_4
    if not res:
        return STATUS_INVALID_PARAMETER
    units, bad = _utf8_decode(c.read(src, slen) if slen else b"")
    status = STATUS_SOME_NOT_MAPPED if bad else STATUS_SUCCESS
    if not dst:
        c.write_u32(res, 2 * len(units))
        return status
    n = min(len(units), dmax // 2)
    if n < len(units) and n and 0xD800 <= units[n - 1] <= 0xDBFF:
        n -= 1   # never half a surrogate pair
    if n:
        c.write(dst, _pack(units[:n]))
    c.write_u32(res, 2 * n)
    return STATUS_BUFFER_TOO_SMALL if n < len(units) else status


@api(NT, "NTSTATUS NTAPI RtlUnicodeToUTF8N(PCHAR UTF8StringDestination, ULONG UTF8StringMaxByteCount, "
         "PULONG UTF8StringActualByteCount, PCWCH UnicodeStringSource, ULONG UnicodeStringByteCount)")
def RtlUnicodeToUTF8N(c, dst, dmax, res, src, slen):
    """A NULL source is STATUS_INVALID_PARAMETER_4 (even for 0 bytes), no count STATUS_INVALID_PARAMETER, an odd
    byte count with an output buffer STATUS_INVALID_PARAMETER_5 (a length query takes its whole characters):
    Wine's ntdll rtlstr test, on Windows."""
    if not src:
        return STATUS_INVALID_PARAMETER_4
    if not res:
        return STATUS_INVALID_PARAMETER
    if dst and slen % 2:
        return STATUS_INVALID_PARAMETER_5
    units = _units(c, src, slen) if src else []
    # encode per code point so a truncation never splits one
    pieces, bad, i = [], False, 0
    while i < len(units):
        u = units[i]
        if 0xD800 <= u <= 0xDBFF and i + 1 < len(units) and 0xDC00 <= units[i + 1] <= 0xDFFF:
            pieces.append(chr(0x10000 + ((u - 0xD800) << 10) + (units[i + 1] - 0xDC00)).encode())
            i += 2
            continue
        if 0xD800 <= u <= 0xDFFF:
            pieces.append("\ufffd".encode())
            bad = True
        else:
            pieces.append(chr(u).encode())
        i += 1
    status = STATUS_SOME_NOT_MAPPED if bad else STATUS_SUCCESS
    total = sum(len(p) for p in pieces)
    if not dst:
        c.write_u32(res, total)
        return status
    out = bytearray()
    for p in pieces:
        if len(out) + len(p) > dmax:
            break
        out += p
    if out:
        c.write(dst, bytes(out))
    c.write_u32(res, len(out))
    return STATUS_BUFFER_TOO_SMALL if len(out) < total else status


# ----------------------------------------------------------------------------------------- integers
DIGITS = "0123456789ABCDEF"


def int_to_text(value: int, base: int) -> str | None:
    if base == 0:
        base = 10
    if base not in (2, 8, 10, 16):
        return None
    if value == 0:
        return "0"
    out = []
    while value:
        value, d = divmod(value, base)
        out.append(DIGITS[d])
    return "".join(reversed(out))


def text_to_int(text: str, base: int) -> tuple[int, int]:
    """(status, value) of RtlCharToInteger / RtlUnicodeStringToInteger: leading white space (<= ' '), one
    sign, a 0x/0o/0b prefix when base is 0, then digits up to the first invalid one; 32-bit wrap-around."""
    if base not in (0, 2, 8, 10, 16):
        return STATUS_INVALID_PARAMETER, 0
    i, n = 0, len(text)
    while i < n and text[i] <= " ":
        i += 1
    neg = False
    if i < n and text[i] in "+-":
        neg = text[i] == "-"
        i += 1
    if base == 0:
        base = 10
        if text[i:i + 2] in ("0x", "0X"):
            base, i = 16, i + 2
        elif text[i:i + 2] in ("0o", "0O"):
            base, i = 8, i + 2
        elif text[i:i + 2] in ("0b", "0B"):
            base, i = 2, i + 2
    v = 0
    while i < n:
        ch = text[i]
        d = int(ch, 16) if ch in "0123456789abcdefABCDEF" else 99
        if d >= base:
            break
        v = (v * base + d) & 0xFFFFFFFF
        i += 1
    return STATUS_SUCCESS, (-v & 0xFFFFFFFF) if neg else v


@api(NT, "NTSTATUS NTAPI RtlIntegerToChar(ULONG Value, ULONG Base, ULONG Length, PCHAR String)")
def RtlIntegerToChar(c, value, base, length, out):
    t = int_to_text(value, base)
    if t is None:
        return STATUS_INVALID_PARAMETER
    if len(t) > length:
        return STATUS_BUFFER_OVERFLOW
    if not out:
        return STATUS_ACCESS_VIOLATION
    c.write(out, t.encode() + (b"\0" if len(t) < length else b""))
    return STATUS_SUCCESS


@api(NT, "NTSTATUS NTAPI RtlLargeIntegerToChar(const ULONGLONG *Value, ULONG Base, ULONG Length, PCHAR String)")
def RtlLargeIntegerToChar(c, pvalue, base, length, out):
    t = int_to_text(int.from_bytes(c.read(pvalue, 8), "little"), base)
    if t is None:
        return STATUS_INVALID_PARAMETER
    if len(t) > length:
        return STATUS_BUFFER_OVERFLOW
    if not out:
        return STATUS_ACCESS_VIOLATION
    c.write(out, t.encode() + (b"\0" if len(t) < length else b""))
    return STATUS_SUCCESS


@api(NT, "NTSTATUS NTAPI RtlCharToInteger(PVOID String, ULONG Base, PULONG Value)")
def RtlCharToInteger(c, s, base, out):
    status, v = text_to_int(c.cpu.read_cstr(s, MAX_CHARS).decode("latin-1"), base)
    if status:
        return status
    if not out:
        return STATUS_ACCESS_VIOLATION
    c.write_u32(out, v)
    return STATUS_SUCCESS


@api(NT, "NTSTATUS NTAPI RtlUnicodeStringToInteger(PCUNICODE_STRING String, ULONG Base, PULONG Value)")
def RtlUnicodeStringToInteger(c, s, base, out):
    text = "".join(chr(u) for u in read_units(c, s))
    status, v = text_to_int(text, base)
    if status:
        return status
    if not out:
        return STATUS_ACCESS_VIOLATION
    c.write_u32(out, v)
    return STATUS_SUCCESS


def _int_to_ustring(c, text: str | None, dst) -> int:
    if text is None:
        return STATUS_INVALID_PARAMETER
    _, mx, buf = get_str(c, dst)
    n = 2 * len(text)
    if n >= mx:                    # no room for the NUL: Length says the size needed, the buffer stays
        set_str(c, dst, n)
        return STATUS_BUFFER_OVERFLOW
    c.write(buf, text.encode("utf-16-le") + b"\0\0")
    set_str(c, dst, n)
    return STATUS_SUCCESS


@api(NT, "NTSTATUS NTAPI RtlIntegerToUnicodeString(ULONG Value, ULONG Base, PUNICODE_STRING String)")
def RtlIntegerToUnicodeString(c, value, base, dst):
    return _int_to_ustring(c, int_to_text(value, base), dst)


@api(NT, "NTSTATUS NTAPI RtlInt64ToUnicodeString(ULONGLONG Value, ULONG Base, PUNICODE_STRING String)")
def RtlInt64ToUnicodeString(c, value, base, dst):
    return _int_to_ustring(c, int_to_text(value, base), dst)


# ----------------------------------------------------------------------------------------- search
RTL_FIND_CHAR_IN_UNICODE_STRING_START_AT_END = 1
RTL_FIND_CHAR_IN_UNICODE_STRING_COMPLEMENT_CHAR_SET = 2


@api(NT, "NTSTATUS NTAPI RtlFindCharInUnicodeString(ULONG Flags, PCUNICODE_STRING StringToSearch, "
         "PCUNICODE_STRING CharSet, USHORT *NonInclusivePrefixLength)")
def RtlFindCharInUnicodeString(c, flags, s, charset, ppos):
    """Forward: *pos = bytes up to and including the first unit in (or, COMPLEMENT, not in) CharSet;
    START_AT_END: bytes before the last such unit. STATUS_NOT_FOUND (and 0) when there is none."""
    if flags & ~3:
        return STATUS_INVALID_PARAMETER
    units = read_units(c, s)
    chars = set(read_units(c, charset))
    comp = bool(flags & RTL_FIND_CHAR_IN_UNICODE_STRING_COMPLEMENT_CHAR_SET)
    order = range(len(units) - 1, -1, -1) if flags & RTL_FIND_CHAR_IN_UNICODE_STRING_START_AT_END \
        else range(len(units))
    for i in order:
        if (units[i] in chars) != comp:
            pos = 2 * i if flags & RTL_FIND_CHAR_IN_UNICODE_STRING_START_AT_END else 2 * (i + 1)
            c.write(ppos, struct.pack("<H", pos))
            return STATUS_SUCCESS
    c.write(ppos, b"\0\0")
    return STATUS_NOT_FOUND


# ----------------------------------------------------------------------------------------- GUIDs
def _guid_text(raw: bytes) -> str:
    d1, d2, d3 = struct.unpack("<IHH", raw[:8])
    d4 = raw[8:]
    return "{%08X-%04X-%04X-%02X%02X-%s}" % (d1, d2, d3, d4[0], d4[1], "".join("%02X" % b for b in d4[2:]))


@api(NT, "NTSTATUS NTAPI RtlStringFromGUID(const GUID *Guid, PUNICODE_STRING GuidString)")
def RtlStringFromGUID(c, pguid, dst):
    """"{XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX}" in a process-heap buffer (Length 76, MaximumLength 78)."""
    return STATUS_SUCCESS if _create(c, dst, _guid_text(c.read(pguid, 16)).encode("utf-16-le")) else STATUS_NO_MEMORY


@api(NT, "NTSTATUS NTAPI RtlGUIDFromString(PCUNICODE_STRING GuidString, GUID *Guid)")
def RtlGUIDFromString(c, s, pguid):
    """The registry form "{8-4-4-4-12}" in hex digits of either case; anything else is
    STATUS_INVALID_PARAMETER and leaves *Guid alone."""
    text = "".join(chr(u) for u in read_units(c, s))
    hexd = set("0123456789abcdefABCDEF")
    shape = "{" + "h" * 8 + "-" + "h" * 4 + "-" + "h" * 4 + "-" + "h" * 4 + "-" + "h" * 12 + "}"
    if len(text) != len(shape) or not all((ch in hexd) if sh == "h" else ch == sh
                                          for ch, sh in zip(text, shape)):
        return STATUS_INVALID_PARAMETER
    h = text[1:-1].replace("-", "")
    raw = struct.pack("<IHH", int(h[0:8], 16), int(h[8:12], 16), int(h[12:16], 16)) + bytes.fromhex(h[16:])
    c.write(pguid, raw)
    return STATUS_SUCCESS


# ----------------------------------------------------------------------------------------- IsTextUnicode
IS_TEXT_UNICODE_ASCII16, IS_TEXT_UNICODE_REVERSE_ASCII16 = 0x1, 0x10
IS_TEXT_UNICODE_STATISTICS, IS_TEXT_UNICODE_REVERSE_STATISTICS = 0x2, 0x20
IS_TEXT_UNICODE_CONTROLS, IS_TEXT_UNICODE_REVERSE_CONTROLS = 0x4, 0x40
IS_TEXT_UNICODE_SIGNATURE, IS_TEXT_UNICODE_REVERSE_SIGNATURE = 0x8, 0x80
IS_TEXT_UNICODE_ILLEGAL_CHARS, IS_TEXT_UNICODE_ODD_LENGTH = 0x100, 0x200
IS_TEXT_UNICODE_NULL_BYTES, IS_TEXT_UNICODE_BUFFER_TOO_SMALL = 0x1000, 0x2000
_UNICODE_MASK, _REVERSE_MASK, _NOT_UNICODE_MASK, _NOT_ASCII_MASK = 0xF, 0xF0, 0xF00, 0xF000
_CONTROLS = {0x000D, 0x000A, 0x0009, 0x0020, 0x3000}       # CR, LF, TAB, SPACE, CJK space
_REVERSE_CONTROLS = {((u & 0xFF) << 8) | (u >> 8) for u in _CONTROLS}


def text_unicode_flags(data: bytes) -> int:
    """The IS_TEXT_UNICODE_* results of IsTextUnicode's tests over `data` (Microsoft's documentation of
    IsTextUnicode: signatures, the control characters, the illegal units 0xFFFE / 0xFFFF / 0x0A0D, odd
    length, NUL bytes; the statistical test, skipped when a signature settles the question, counts the units
    whose high byte alone is zero against those whose low byte alone is, and wants a majority)."""
    if len(data) < 2:
        return IS_TEXT_UNICODE_BUFFER_TOO_SMALL
    out = IS_TEXT_UNICODE_ODD_LENGTH if len(data) & 1 else 0
    units = struct.unpack(f"<{len(data) // 2}H", data[:len(data) & ~1])
    if 0 in data:
        out |= IS_TEXT_UNICODE_NULL_BYTES
    if units[0] == 0xFEFF:
        out |= IS_TEXT_UNICODE_SIGNATURE
    elif units[0] == 0xFFFE:
        out |= IS_TEXT_UNICODE_REVERSE_SIGNATURE
    if any(u in _CONTROLS for u in units):
        out |= IS_TEXT_UNICODE_CONTROLS
    if any(u in _REVERSE_CONTROLS for u in units):
        out |= IS_TEXT_UNICODE_REVERSE_CONTROLS
    if any(u in (0xFFFF, 0x0A0D) for u in units) or 0xFFFE in units[1:]:
        out |= IS_TEXT_UNICODE_ILLEGAL_CHARS
    if not out & (IS_TEXT_UNICODE_SIGNATURE | IS_TEXT_UNICODE_REVERSE_SIGNATURE):
        hi0 = sum(1 for u in units if u and not u >> 8)
        lo0 = sum(1 for u in units if u and not u & 0xFF)
        if 2 * hi0 > len(units) and hi0 > lo0:
            out |= IS_TEXT_UNICODE_STATISTICS
        elif 2 * lo0 > len(units) and lo0 > hi0:
            out |= IS_TEXT_UNICODE_REVERSE_STATISTICS
    return out


@api(NT, "BOOLEAN NTAPI RtlIsTextUnicode(PVOID buf, INT len, INT *pf)")
def RtlIsTextUnicode(c, buf, length, pf):
    """TRUE when a requested Unicode test holds and no requested reverse or not-Unicode test does; *pf (all
    tests when NULL) receives the requested results."""
    length &= 0xFFFFFFFF
    length = length - (1 << 32) if length >> 31 else length
    want = c.u32(pf) if pf else 0xFFFFFFFF
    found = text_unicode_flags(c.read(buf, length) if length > 0 else b"") & want
    if pf:
        c.write_u32(pf, found)
    if found & (_REVERSE_MASK | _NOT_UNICODE_MASK | IS_TEXT_UNICODE_BUFFER_TOO_SMALL):
        return 0
    return int(bool(found & _UNICODE_MASK))


@api(NT, "WCHAR NTAPI RtlAnsiCharToUnicodeChar(PUCHAR *SourceCharacter)")
def RtlAnsiCharToUnicodeChar(c, psrc):
    """One character of the ANSI code page (single-byte here) at *SourceCharacter, which moves past it."""
    src = c.ptr(psrc)
    unit = struct.unpack("<H", mb_to_units(c.read(src, 1), cps.acp(c))[:2])[0]
    c.write_ptr(psrc, src + 1)
    return unit
