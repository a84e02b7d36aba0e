"""GetBinaryType: what kind of program a file is, from its headers, read over the file services (NtOpenFile,
NtReadFile at offsets).

A PE image: SCS_32BIT_BINARY for an x86 image, SCS_64BIT_BINARY for x64 and ARM64; a DLL is not a program
(FALSE, ERROR_BAD_EXE_FORMAT: Microsoft's documentation of GetBinaryType). An NE image: SCS_WOW_BINARY
(SCS_OS216_BINARY when its target is OS/2); any other MZ file: SCS_DOS_BINARY. A file that does not start with
"MZ": SCS_DOS_BINARY for a .com name and SCS_PIF for a .pif, otherwise not a program (FALSE,
ERROR_BAD_EXE_FORMAT, the error of the image section Windows fails to make of it; Wine leaves the last error)."""
from __future__ import annotations

import struct

from winhatch.win32.api import api
from winhatch.win32.kernel32.common import K32
from winhatch.win32.kernel32.ntfile import nt_close, nt_name, nt_open

SCS_32BIT_BINARY, SCS_DOS_BINARY, SCS_WOW_BINARY, SCS_PIF_BINARY, SCS_POSIX_BINARY, SCS_OS216_BINARY, \
    SCS_64BIT_BINARY = range(7)
ERROR_BAD_EXE_FORMAT = 193
ERROR_INVALID_PARAMETER = 87
GENERIC_READ, SYNCHRONIZE = 0x80000000, 0x100000
FILE_SHARE_READ, FILE_SHARE_DELETE = 1, 4
FILE_SYNCHRONOUS_IO_NONALERT, FILE_NON_DIRECTORY_FILE = 0x20, 0x40


def _read(c, h: int, offset: int, size: int) -> bytes:
    ps = c.ptr_size
    buf = c.stack_alloc(size, 8)
    iosb = c.stack_alloc(2 * ps, 8)
    off = c.stack_alloc(8, 8)
    c.write(off, struct.pack("<q", offset))
    st = c.nt("NtReadFile", h, 0, 0, 0, iosb, buf, size, off, 0)
    if st >> 31:
        return b""
    return c.read(buf, min(c.ptr(iosb + ps), size))


def classify(head: bytes, read_at, name: str) -> int | None:
    """The SCS_* type, or None when the file is not a program. read_at(offset, size) reads more of it."""
    if head[:2] != b"MZ":
        low = name.lower()
        if low.endswith(".com"):
            return SCS_DOS_BINARY
        if low.endswith(".pif"):
            return SCS_PIF_BINARY
        return None
    if len(head) < 0x40:
        return SCS_DOS_BINARY
    lfanew = struct.unpack_from("<I", head, 0x3C)[0]
    sig = read_at(lfanew, 0x18) if lfanew < 0x10000000 else b""
    if sig[:4] == b"PE\0\0" and len(sig) >= 0x18:
        machine, characteristics = struct.unpack_from("<H", sig, 4)[0], struct.unpack_from("<H", sig, 0x16)[0]
        if characteristics & 0x2000:               # IMAGE_FILE_DLL
            return None
        if machine == 0x14C:
            return SCS_32BIT_BINARY
        if machine in (0x8664, 0xAA64):
            return SCS_64BIT_BINARY
        return None
    if sig[:2] == b"NE" and len(sig) >= 0x37:
        return SCS_OS216_BINARY if sig[0x36] == 1 else SCS_WOW_BINARY
    if sig[:2] == b"NE":
        return SCS_WOW_BINARY
    return SCS_DOS_BINARY


@api(K32, "BOOL WINAPI GetBinaryType%(LPCTSTR lpApplicationName, LPDWORD lpBinaryType)")
def GetBinaryType(c, name, out):
    if not name or not out:
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    nt = nt_name(c, name)
    if nt is None:
        return 0
    st, h, _ = nt_open(c, nt, GENERIC_READ | SYNCHRONIZE, FILE_SHARE_READ | FILE_SHARE_DELETE,
                       FILE_SYNCHRONOUS_IO_NONALERT | FILE_NON_DIRECTORY_FILE)
    if st >> 31:
        c.set_last_nt_error(st)
        return 0
    try:
        kind = classify(_read(c, h, 0, 0x40), lambda o, n: _read(c, h, o, n), name)
    finally:
        nt_close(c, h)
    if kind is None:
        c.set_last_error(ERROR_BAD_EXE_FORMAT)
        return 0
    c.write_u32(out, kind)
    return 1
