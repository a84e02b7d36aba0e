"""ntdll: the native file I/O calls programs make directly (NtReadFile, NtWriteFile), over the same file
objects as kernel32's ReadFile/WriteFile.

Every handle winhatch creates is synchronous (no FILE_FLAG_OVERLAPPED / FILE_SYNCHRONOUS_IO_* distinction
is kept), so the call completes before it returns: the IO_STATUS_BLOCK gets the status and the byte count,
the optional event is signalled. An APC routine asks for asynchronous completion, which winhatch does not
do: it stops the guest as unimplemented.
"""
from __future__ import annotations

import struct

from winhatch.kernel.condrv import ConsoleFile
from winhatch.kernel.fileobj import FILE_TYPE_PIPE, FileObject
from winhatch.ntstatus import (STATUS_END_OF_FILE, STATUS_INVALID_HANDLE, STATUS_PIPE_BROKEN,
                               NtStatusError)
from winhatch.win32.api import api

NTDLL = "ntdll.dll"
FILE_WRITE_TO_END_OF_FILE = 0xFFFFFFFF_FFFFFFFF
FILE_USE_FILE_POINTER_POSITION = 0xFFFFFFFF_FFFFFFFE


def _iosb(c, iosb: int, status: int, information: int) -> None:
    if iosb:
        c.write(iosb, struct.pack("<QQ" if c.ptr_size == 8 else "<II", status, information))


def _prepare(c, h: int, event: int, apc: int, offset_ptr: int, what: str):
    """(file object, event object or None); raises NtStatusError for a bad handle."""
    if apc:
        from .exc_seh import raise_unsupported
        raise_unsupported(c, f"{what} with an APC routine (asynchronous completion)")
    obj = c.proc.handles.lookup(h)
    if not hasattr(obj, "read" if what == "NtReadFile" else "write"):
        raise NtStatusError(STATUS_INVALID_HANDLE, f"{what}: not a file handle")
    ev = c.proc.handles.lookup(event, "Event") if event else None
    if ev is not None:
        ev.reset()
    if offset_ptr and isinstance(obj, FileObject):
        off = int.from_bytes(c.read(offset_ptr, 8), "little")
        if off == FILE_WRITE_TO_END_OF_FILE:
            obj.seek(0, 2)
        elif off != FILE_USE_FILE_POINTER_POSITION:
            obj.seek(off)
    return obj, ev


@api(NTDLL, "NTSTATUS NTAPI NtWriteFile(HANDLE FileHandle, HANDLE Event, PIO_APC_ROUTINE ApcRoutine, "
            "PVOID ApcContext, PIO_STATUS_BLOCK IoStatusBlock, PVOID Buffer, ULONG Length, "
            "PLARGE_INTEGER ByteOffset, PULONG Key)")
def NtWriteFile(c, h, event, apc, apc_ctx, iosb, buf, length, offset_ptr, key):
    try:
        obj, ev = _prepare(c, h, event, apc, offset_ptr, "NtWriteFile")
    except NtStatusError as e:
        return e.status
    data = c.read(buf, length) if length else b""
    try:
        count = obj.write(data) if data else 0
    except NtStatusError as e:
        _iosb(c, iosb, e.status, 0)
        return e.status
    count = len(data) if count is None else count
    _iosb(c, iosb, 0, count)
    if ev is not None:
        ev.set()
    return 0


@api(NTDLL, "NTSTATUS NTAPI NtReadFile(HANDLE FileHandle, HANDLE Event, PIO_APC_ROUTINE ApcRoutine, "
            "PVOID ApcContext, PIO_STATUS_BLOCK IoStatusBlock, PVOID Buffer, ULONG Length, "
            "PLARGE_INTEGER ByteOffset, PULONG Key)")
def NtReadFile(c, h, event, apc, apc_ctx, iosb, buf, length, offset_ptr, key):
    """At the end of a file STATUS_END_OF_FILE; a pipe whose writers are gone STATUS_PIPE_BROKEN."""
    try:
        obj, ev = _prepare(c, h, event, apc, offset_ptr, "NtReadFile")
    except NtStatusError as e:
        return e.status
    try:
        data = obj.read(length) if length else b""
    except NtStatusError as e:
        _iosb(c, iosb, e.status, 0)
        return e.status
    if not data and length:
        pipe = isinstance(obj, ConsoleFile) and obj.file_type == FILE_TYPE_PIPE
        status = STATUS_PIPE_BROKEN if pipe else STATUS_END_OF_FILE
        _iosb(c, iosb, status, 0)
        if ev is not None:
            ev.set()
        return status
    c.write(buf, data)
    _iosb(c, iosb, 0, len(data))
    if ev is not None:
        ev.set()
    return 0


# ------------------------------------------------------------------------------------------ status conversion
def _to_dos(c, status: int) -> int:
    from winhatch.ntstatus import _NT_TO_DOS, nt_to_win32
    status &= 0xFFFFFFFF
    if status == 0 or status in _NT_TO_DOS or (status & 0xBFFF0000) == 0x80070000:
        return 0 if status == 0 else nt_to_win32(status)
    from .exc_seh import raise_unsupported
    raise_unsupported(c, f"RtlNtStatusToDosError of 0x{status:08X} (not in winhatch's conversion table)")
    return 0


@api(NTDLL, "ULONG NTAPI RtlNtStatusToDosErrorNoTeb(NTSTATUS StatusCode)")
def RtlNtStatusToDosErrorNoTeb(c, status):
    """The Win32 error of an NTSTATUS (winhatch.ntstatus's table: every status winhatch itself produces; a
    status outside it stops the guest rather than guessing)."""
    return _to_dos(c, status)


@api(NTDLL, "ULONG NTAPI RtlNtStatusToDosError(NTSTATUS Status)")
def RtlNtStatusToDosError(c, status):
    """RtlNtStatusToDosErrorNoTeb, and the status is kept in the TEB's LastStatusValue."""
    from winhatch.kernel.structs import TEB
    c.write_u32(c.thread.teb + TEB.offset(c.arch, "LastStatusValue"), status & 0xFFFFFFFF)
    return _to_dos(c, status)
