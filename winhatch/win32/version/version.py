"""version.dll: GetFileVersionInfoSize(Ex), GetFileVersionInfo(Ex) and VerQueryValue, ANSI and wide.

The file is found as LoadLibraryEx(LOAD_LIBRARY_AS_DATAFILE) finds it (the loader's search order: a bare name
is looked for in the program's directory, System32, …) and read through the emulated file system; its
VS_VERSIONINFO resource (RT_VERSION, id 1, language chosen as FindResource chooses it) is what the functions
return. The synthetic system DLLs carry a Windows 10 22H2 version resource (winhatch.win32.sysdlls).

Sizes and buffer layout, as Windows (Microsoft documents that the size is "the number of bytes" to pass to
GetFileVersionInfo, and that the buffer is only to be read through VerQueryValue): the size is
twice the resource's size plus 4, room that VerQueryValueA uses for the ANSI copies of the
strings; GetFileVersionInfo copies the resource and writes the "FE2X" signature after it when there is room.
VerQueryValueA of a string converts it (CP_ACP) into the buffer at the same offset past that signature, so the
pointer stays valid as long as the caller's buffer. Paths: "\\" is the VS_FIXEDFILEINFO, other paths name
child blocks by key (case-insensitive), e.g. "\\VarFileInfo\\Translation" and
"\\StringFileInfo\\040904b0\\ProductVersion"; the length is in characters for text values, bytes otherwise.
A file with resources but no version resource: ERROR_RESOURCE_TYPE_NOT_FOUND (1813); one without a resource
directory: ERROR_RESOURCE_DATA_NOT_FOUND (1812), FindResource's errors, as Windows reports them ("the specified
image file did not contain a resource section"); a missing key in VerQueryValue: ERROR_RESOURCE_TYPE_NOT_FOUND
with *puLen set to 0. Only 32-bit (UTF-16) version resources are read: a 16-bit (NE-style, ANSI)
one in a PE file stops the guest loudly.
"""
from __future__ import annotations

import struct

from winhatch.ntstatus import ERROR_BAD_EXE_FORMAT, ERROR_FILE_NOT_FOUND, ERROR_INVALID_PARAMETER, NtStatusError, \
    nt_to_win32
from winhatch.win32.api import api

from winhatch.win32.kernel32.resource import (ERROR_RESOURCE_DATA_NOT_FOUND, ERROR_RESOURCE_TYPE_NOT_FOUND, ResourceView,
                           find_module_file, find_resource, read_guest_file)

VER = "version.dll"
RT_VERSION = 16
VS_VERSION_INFO = 1
FIXED_SIZE = 52
SIGNATURE = b"FE2X"
MAX_DEPTH = 8


def _version_resource(c, name: str | None) -> bytes | None:
    """The VS_VERSIONINFO bytes of the file, or None with the last error set."""
    if not name:
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return None
    path = find_module_file(c, name)
    if path is None:
        c.set_last_error(ERROR_FILE_NOT_FOUND)
        return None
    try:
        data = read_guest_file(c, path)
    except NtStatusError as e:
        c.set_last_error(nt_to_win32(e.status))
        return None
    from winhatch.pe import PEFile, PEFormatError
    try:
        pe = PEFile(data, path)
    except PEFormatError:
        c.set_last_error(ERROR_BAD_EXE_FORMAT)
        return None
    e = find_resource(c, ResourceView(pe, 0, True), RT_VERSION, VS_VERSION_INFO, None)
    if e is None:      # FindResource's error: 1812 without resources, 1813 without RT_VERSION, 1814, 1815
        return None
    d = e.data
    try:
        raw = pe.read_rva(d.rva, d.size)
    except PEFormatError:
        raw = b""
    if len(raw) < 6 or len(raw) != d.size:
        c.set_last_error(ERROR_RESOURCE_DATA_NOT_FOUND)
        return None
    if raw[6:38] != "VS_VERSION_INFO".encode("utf-16-le") + b"\0\0":
        from winhatch.win32.msvcrt.runtime import not_implemented
        not_implemented(c, "GetFileVersionInfo of a 16-bit (ANSI) version resource")
    return raw


@api(VER, "DWORD WINAPI GetFileVersionInfoSize%(LPCTSTR lptstrFilename, LPDWORD lpdwHandle)")
def GetFileVersionInfoSize(c, name, phandle):
    return _size(c, name, phandle)


@api(VER, "DWORD WINAPI GetFileVersionInfoSizeEx%(DWORD dwFlags, LPCTSTR lpwstrFilename, LPDWORD lpdwHandle)")
def GetFileVersionInfoSizeEx(c, flags, name, phandle):
    """FILE_VER_GET_LOCALISED (1) / _NEUTRAL (2) / _PREFETCHED (4): winhatch has no MUI files, so the version
    resource is the file's own for every flag."""
    if flags & ~7:
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    return _size(c, name, phandle)


def _size(c, name, phandle):
    if phandle:
        c.write_u32(phandle, 0)
    raw = _version_resource(c, name)
    if raw is None:
        return 0
    c.set_last_error(0)
    return 2 * len(raw) + 4


@api(VER, "BOOL WINAPI GetFileVersionInfo%(LPCTSTR lptstrFilename, DWORD dwHandle, DWORD dwLen, LPVOID lpData)")
def GetFileVersionInfo(c, name, handle, size, buf):
    return _info(c, name, size, buf)


@api(VER, "BOOL WINAPI GetFileVersionInfoEx%(DWORD dwFlags, LPCTSTR lpwstrFilename, DWORD dwHandle, DWORD dwLen, "
     "LPVOID lpData)")
def GetFileVersionInfoEx(c, flags, name, handle, size, buf):
    if flags & ~7:
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    return _info(c, name, size, buf)


def _info(c, name, size, buf):
    if not buf:
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    raw = _version_resource(c, name)
    if raw is None:
        return 0
    n = min(size, len(raw))
    c.write(buf, raw[:n])
    if n >= 2 and n < len(raw):
        c.write(buf, struct.pack("<H", n))     # a truncated copy says how much it holds
    wlen = struct.unpack_from("<H", raw)[0]
    if size >= wlen + 4 and wlen <= len(raw):
        c.write(buf + wlen, SIGNATURE)
    return 1


def _block(data: bytes, pos: int, end: int):
    """(length, value length, type, key, value offset, end) of the block at pos, or None if malformed."""
    if pos + 6 > end:
        return None
    length, vlen, vtype = struct.unpack_from("<HHH", data, pos)
    if length < 6 or pos + length > end:
        return None
    k = pos + 6
    while k + 1 < pos + length and data[k:k + 2] != b"\0\0":
        k += 2
    key = data[pos + 6:k].decode("utf-16-le", "replace")
    return length, vlen, vtype, key, (k + 2 + 3) & ~3, pos + length


def _query(data: bytes, sub: str):
    """(value offset, value length field, type) of the block `sub` names, or None."""
    top = _block(data, 0, len(data))
    if top is None:
        return None
    parts = [p for p in sub.replace("/", "\\").split("\\") if p]
    cur = top
    for depth, part in enumerate(parts):
        if depth >= MAX_DEPTH:
            return None
        length, vlen, vtype, key, vpos, end = cur
        child = (vpos + (vlen * 2 if vtype == 1 else vlen) + 3) & ~3
        found = None
        guard = 0
        while child < end and guard < 4096:
            guard += 1
            b = _block(data, child, end)
            if b is None:
                return None
            if b[3].lower() == part.lower():
                found = b
                break
            child = (b[5] + 3) & ~3
        if found is None:
            return None
        cur = found
    return cur[4], cur[1], cur[2]


@api(VER, "BOOL WINAPI VerQueryValue%(LPCVOID pBlock, LPCTSTR lpSubBlock, LPVOID *lplpBuffer, PUINT puLen)")
def VerQueryValue(c, block, sub, out, plen):
    if not block or sub is None:
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    total = struct.unpack("<H", c.read(block, 2))[0]
    data = c.read(block, total)
    if data[6:38] != "VS_VERSION_INFO".encode("utf-16-le") + b"\0\0":
        from winhatch.win32.msvcrt.runtime import not_implemented
        not_implemented(c, "VerQueryValue of a 16-bit (ANSI) version block")
    if sub.strip("\\/") == "":
        top = _block(data, 0, len(data))
        if top is None or top[1] < FIXED_SIZE:
            if plen:
                c.write_u32(plen, 0)
            c.set_last_error(ERROR_RESOURCE_TYPE_NOT_FOUND)
            return 0
        if out:
            c.write_ptr(out, block + top[4])
        if plen:
            c.write_u32(plen, top[1])
        return 1
    q = _query(data, sub)
    if q is None:
        if plen:
            c.write_u32(plen, 0)
        c.set_last_error(ERROR_RESOURCE_TYPE_NOT_FOUND)
        return 0
    vpos, vlen, vtype = q
    addr, n = block + vpos, vlen
    if vtype == 1 and not c.wide:
        # the ANSI copy, past the resource and its signature, at the string's own offset
        text = data[vpos:vpos + 2 * vlen].decode("utf-16-le", "replace").split("\0", 1)[0]
        enc = text.encode("cp1252", "replace") + b"\0"
        addr = block + total + 4 + vpos
        c.write(addr, enc)
        n = len(enc) if vlen else 0
    if out:
        c.write_ptr(out, addr)
    if plen:
        c.write_u32(plen, n)
    return 1
