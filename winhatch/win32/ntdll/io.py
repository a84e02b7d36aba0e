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
        from winhatch.win32.ntdll.seh import raise_unsupported
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


# ------------------------------------------------------------------------------------------ NtQueryInformationFile
# FILE_INFORMATION_CLASS → the FILE_INFO_BY_HANDLE_CLASS whose structure is the same (kernelbase's
# GetFileInformationByHandleEx is this call with a renumbered class).
_BY_HANDLE = {4: 0, 5: 1, 9: 2, 35: 9}    # Basic, Standard, Name, AttributeTag
FilePositionInformation = 14
FileModeInformation = 16
# the create options FileModeInformation reports (FILE_WRITE_THROUGH, FILE_SEQUENTIAL_ONLY,
# FILE_NO_INTERMEDIATE_BUFFERING, FILE_SYNCHRONOUS_IO_ALERT/NONALERT, FILE_DELETE_ON_CLOSE)
_MODE_BITS = 0x2 | 0x4 | 0x8 | 0x10 | 0x20 | 0x1000
FILE_SYNCHRONOUS_IO_NONALERT = 0x20
_WIN32_TO_NT = {24: 0xC0000004, 234: 0x80000005, 6: 0xC0000008, 87: 0xC000000D}


@api(NTDLL, "NTSTATUS NTAPI NtQueryInformationFile(HANDLE FileHandle, PIO_STATUS_BLOCK IoStatusBlock, "
            "PVOID FileInformation, ULONG Length, FILE_INFORMATION_CLASS FileInformationClass)")
def NtQueryInformationFile(c, h, iosb, buf, length, cls):
    """FileBasicInformation, FileStandardInformation, FileNameInformation, FileAttributeTagInformation (the
    structures GetFileInformationByHandleEx shares), FilePositionInformation and FileModeInformation; another class stops the guest
    as unimplemented. The thread's last error is not touched."""
    from winhatch.win32.kernel32 import files as k32_files
    cls &= 0xFFFFFFFF
    if cls == FilePositionInformation:
        try:
            obj = c.proc.handles.lookup(h)
        except NtStatusError as e:
            return e.status
        if length < 8:
            return 0xC0000004   # STATUS_INFO_LENGTH_MISMATCH
        pos = obj.tell() if isinstance(obj, FileObject) else 0
        c.write(buf, pos.to_bytes(8, "little"))
        _iosb(c, iosb, 0, 8)
        return 0
    if cls == FileModeInformation:
        try:
            obj = c.proc.handles.lookup(h)
        except NtStatusError as e:
            return e.status
        if length < 4:
            return 0xC0000004
        # a file's own open options; pipes, consoles and the std handles winhatch creates are synchronous
        mode = (obj.file.options & _MODE_BITS) if isinstance(obj, FileObject) else FILE_SYNCHRONOUS_IO_NONALERT
        c.write_u32(buf, mode)
        _iosb(c, iosb, 0, 4)
        return 0
    if cls not in _BY_HANDLE:
        from winhatch.win32.ntdll.seh import raise_unsupported
        raise_unsupported(c, f"NtQueryInformationFile class {cls}")
    saved = c.last_error()
    ok = k32_files.GetFileInformationByHandleEx(c, h, _BY_HANDLE[cls], buf, length)
    err = c.last_error()
    c.set_last_error(saved)
    if ok:
        n = {0: 40, 1: 24, 9: 8}.get(_BY_HANDLE[cls])
        if n is None:   # FILE_NAME_INFORMATION: the length field and the name
            n = 4 + c.u32(buf)
        _iosb(c, iosb, 0, n)
        return 0
    status = _WIN32_TO_NT.get(err, 0xC000000D)
    if status == 0x80000005:    # the name did not fit: what fits was written
        _iosb(c, iosb, status, length)
    return status
