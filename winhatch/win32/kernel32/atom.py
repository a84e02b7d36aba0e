"""kernel32: atoms. The global atom table (GlobalAddAtom, GlobalFindAtom, GlobalDeleteAtom, GlobalGetAtomName)
is the kernel's, reached through NtAddAtom, NtFindAtom, NtDeleteAtom and NtQueryInformationAtom; the local one
(InitAtomTable, AddAtom, FindAtom, DeleteAtom, GetAtomName) is an ntdll atom table the process creates on first
use (winhatch.win32.ntdll.rtl_atom).

Both take MAKEINTATOM values: 1..0xBFFF is returned as it is without touching the last error, 0 gives 0 also
without an error, 0xC000 and above ERROR_INVALID_PARAMETER. DeleteAtom returns 0 on success and the atom on
failure. The Get…AtomName functions differ, as on Windows:
- GetAtomNameA/W (local) copy at most nSize - 1 characters and a NUL and return the count copied;
- GlobalGetAtomNameW copies at most nSize characters, a NUL only when there is room, and returns the count;
- GlobalGetAtomNameA returns 0 with ERROR_MORE_DATA when the name and its NUL do not fit (the buffer then
  holds the first nSize - 1 characters and a NUL).
"""
from __future__ import annotations

import struct

from winhatch.kernel.ex.atom import MAXINTATOM
from winhatch.ntstatus import NtStatusError, nt_to_win32
from winhatch.win32.api import api
from winhatch.win32.ntdll import rtl_atom

K32 = ("kernel32.dll", "kernelbase.dll")
ERROR_INVALID_PARAMETER = 87
ERROR_INSUFFICIENT_BUFFER = 122
ERROR_MORE_DATA = 234
MAX_NAME = 255


def _int_atom(c, ptr: int) -> int | None:
    """MAKEINTATOM handling shared by the add/find functions: the result, or None for a string."""
    if ptr >= 0x10000:
        return None
    if ptr >= MAXINTATOM:
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    return ptr


def _text(c, ptr: int) -> str:
    if c.wide:
        return c.wstr(ptr, 0x1000) or ""
    b = c.cstr(ptr, 0x1000) or b""
    return b.decode("cp1252", "replace")


def _encode(c, name: str) -> bytes:
    return name.encode("utf-16-le", "surrogatepass") if c.wide else name.encode("cp1252", "replace")


# ------------------------------------------------------------------------------------------ global atoms
def _global(c, service: str, ptr: int) -> int:
    iv = _int_atom(c, ptr)
    if iv is not None:
        return iv
    name = _text(c, ptr).encode("utf-16-le", "surrogatepass")
    if len(name) > 2 * MAX_NAME:
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    buf = c.stack_alloc(len(name) + 2)
    c.write(buf, name + b"\0\0")
    out = c.stack_alloc(4)
    st = c.nt(service, buf, len(name), out)
    if st & 0x80000000:
        c.set_last_nt_error(st)
        return 0
    return c.u32(out) & 0xFFFF


@api(K32, "ATOM WINAPI GlobalAddAtom%(LPCTSTR_RAW lpString)")
def GlobalAddAtom(c, ptr):
    return _global(c, "NtAddAtom", ptr)


@api(K32, "ATOM WINAPI GlobalFindAtom%(LPCTSTR_RAW lpString)")
def GlobalFindAtom(c, ptr):
    return _global(c, "NtFindAtom", ptr)


@api(K32, "ATOM WINAPI GlobalDeleteAtom(ATOM nAtom)")
def GlobalDeleteAtom(c, atom):
    atom &= 0xFFFF
    if atom < MAXINTATOM:
        return 0
    st = c.nt("NtDeleteAtom", atom)
    if st & 0x80000000:
        c.set_last_nt_error(st)
        return atom
    return 0


@api(K32, "UINT WINAPI GlobalGetAtomName%(ATOM nAtom, LPTSTR lpBuffer, int nSize)")
def GlobalGetAtomName(c, atom, buf, size):
    size = size & 0xFFFFFFFF
    size = size - (1 << 32) if size & 0x80000000 else size
    info_len = 8 + 2 * (MAX_NAME + 1)
    info = c.stack_alloc(info_len)
    st = c.nt("NtQueryInformationAtom", atom & 0xFFFF, 0, info, info_len, 0)
    if st & 0x80000000:
        c.set_last_nt_error(st)
        return 0
    (n,) = struct.unpack("<H", c.read(info + 4, 2))
    name = c.read(info + 6, n).decode("utf-16-le", "surrogatepass")
    if size <= 0:
        c.set_last_error(ERROR_MORE_DATA)
        return 0
    data = _encode(c, name)
    if c.wide:
        count = min(len(name), size)
        c.write(buf, data[:2 * count] + (b"\0\0" if count < size else b""))
        return count
    if len(data) >= size:
        c.write(buf, data[:size - 1] + b"\0")
        c.set_last_error(ERROR_MORE_DATA)
        return 0
    c.write(buf, data + b"\0")
    return len(data)


# ------------------------------------------------------------------------------------------ local atoms
def _local_table(c, size: int = 0) -> int:
    table = c.proc.subsystem.get("local_atom_table")
    if table is None:
        table = c.proc.subsystem["local_atom_table"] = rtl_atom.create_table(c, size)
    return table


def _local(c, op: str, ptr: int) -> int:
    iv = _int_atom(c, ptr)
    if iv is not None:
        return iv
    try:
        table = rtl_atom.table_at(c, _local_table(c))
        return getattr(table, op)(_text(c, ptr))
    except NtStatusError as e:
        c.set_last_error(nt_to_win32(e.status))
        return 0


@api(K32, "BOOL WINAPI InitAtomTable(DWORD nSize)")
def InitAtomTable(c, size):
    try:
        _local_table(c, size)
    except NtStatusError as e:
        c.set_last_error(nt_to_win32(e.status))
        return 0
    return 1


@api(K32, "ATOM WINAPI AddAtom%(LPCTSTR_RAW lpString)")
def AddAtom(c, ptr):
    return _local(c, "add", ptr)


@api(K32, "ATOM WINAPI FindAtom%(LPCTSTR_RAW lpString)")
def FindAtom(c, ptr):
    return _local(c, "find", ptr)


@api(K32, "ATOM WINAPI DeleteAtom(ATOM nAtom)")
def DeleteAtom(c, atom):
    atom &= 0xFFFF
    if atom < MAXINTATOM:
        return 0
    try:
        rtl_atom.table_at(c, _local_table(c)).delete(atom)
    except NtStatusError as e:
        c.set_last_error(nt_to_win32(e.status))
        return atom
    return 0


@api(K32, "UINT WINAPI GetAtomName%(ATOM nAtom, LPTSTR lpBuffer, int nSize)")
def GetAtomName(c, atom, buf, size):
    size = size & 0xFFFFFFFF
    size = size - (1 << 32) if size & 0x80000000 else size
    try:
        name, _refs, _pins = rtl_atom.table_at(c, _local_table(c)).query(atom & 0xFFFF)
    except NtStatusError as e:
        c.set_last_error(nt_to_win32(e.status))
        return 0
    if size <= 0:
        c.set_last_error(ERROR_INSUFFICIENT_BUFFER)
        return 0
    data = _encode(c, name)
    unit = c.tchar_size()
    count = min(len(data) // unit, size - 1)
    c.write(buf, data[:count * unit] + bytes(unit))
    if count == 0:
        c.set_last_error(ERROR_INSUFFICIENT_BUFFER)
    return count
