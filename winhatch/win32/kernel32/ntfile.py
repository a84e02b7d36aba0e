"""kernel32 / kernelbase: the file functions as kernelbase writes them over ntdll's file services.

Each handler converts a DOS path as RtlDosPathNameToNtPathName_U does (winhatch.kernel.io.paths.to_nt_path
against the process's current directory), builds the native arguments in its stack scratch (c.stack_alloc,
c.unicode_string, c.object_attributes), calls the service through c.nt (NtCreateFile, NtReadFile,
NtQueryInformationFile, NtSetInformationFile, NtQueryDirectoryFile, NtQueryVolumeInformationFile, …) and
maps a failure with c.set_last_nt_error (RtlNtStatusToDosError's one table). The few Win32-only results are
kernelbase's own: CREATE_NEW over an existing file is ERROR_FILE_EXISTS, CREATE_ALWAYS / OPEN_ALWAYS over an
existing file succeed with ERROR_ALREADY_EXISTS, ReadFile at the end of a synchronous file succeeds with 0
bytes. The file system redirector (WoW64) is applied by the services.
"""
from __future__ import annotations

import struct

from winhatch.kernel.io import file_services as FS
from winhatch.kernel.io import paths as P
from winhatch.kernel.io import vfs as V
from winhatch.kernel.ob import KObject
from winhatch.ntstatus import (ERROR_ACCESS_DENIED, ERROR_ALREADY_EXISTS, ERROR_FILE_EXISTS, ERROR_FILE_NOT_FOUND,
                               ERROR_INVALID_HANDLE, ERROR_INVALID_PARAMETER, ERROR_PATH_NOT_FOUND,
                               NtStatusError)
from winhatch.win32.api import api
from winhatch.win32.kernel32.iocp import open_pipe_client, overlapped_read, overlapped_write, wants_request_path

from winhatch.win32.kernel32.common import K32, cwd, invalid_handle, signed32

CREATE_NEW, CREATE_ALWAYS, OPEN_EXISTING, OPEN_ALWAYS, TRUNCATE_EXISTING = 1, 2, 3, 4, 5
_DISPOSITIONS = {CREATE_NEW: V.FILE_CREATE, CREATE_ALWAYS: V.FILE_OVERWRITE_IF, OPEN_EXISTING: V.FILE_OPEN,
                 OPEN_ALWAYS: V.FILE_OPEN_IF, TRUNCATE_EXISTING: V.FILE_OVERWRITE}
FILE_FLAG_WRITE_THROUGH = 0x80000000
FILE_FLAG_OVERLAPPED = 0x40000000
FILE_FLAG_NO_BUFFERING = 0x20000000
FILE_FLAG_RANDOM_ACCESS = 0x10000000
FILE_FLAG_SEQUENTIAL_SCAN = 0x08000000
FILE_FLAG_DELETE_ON_CLOSE = 0x04000000
FILE_FLAG_BACKUP_SEMANTICS = 0x02000000
FILE_FLAG_OPEN_REPARSE_POINT = 0x00200000
FILE_NO_INTERMEDIATE_BUFFERING = 0x8
FILE_RANDOM_ACCESS = 0x800
FILE_OPEN_FOR_BACKUP_INTENT = 0x4000
FILE_OPEN_BY_FILE_ID_OPTION = 0x2000
FILE_ATTRIBUTE_VALID_FLAGS = 0x7FA7
OBJ_INHERIT, OBJ_CASE_INSENSITIVE = 0x2, 0x40
INVALID_FILE_ATTRIBUTES = 0xFFFFFFFF
INVALID_SET_FILE_POINTER = 0xFFFFFFFF
INVALID_FILE_SIZE = 0xFFFFFFFF
ERROR_NEGATIVE_SEEK = 131
ERROR_HANDLE_EOF = 38
ERROR_IO_PENDING = 997
MAX_PATH = 260
MOVEFILE_REPLACE_EXISTING = 0x1
MOVEFILE_COPY_ALLOWED = 0x2
STATUS_PENDING = 0x103
STATUS_END_OF_FILE = 0xC0000011
STATUS_OBJECT_NAME_COLLISION = 0xC0000035
STATUS_INVALID_PARAMETER = 0xC000000D
STATUS_ACCESS_DENIED = 0xC0000022


def _failed(st: int) -> bool:
    return bool(st & 0x80000000) and (st >> 30) == 3      # NT_ERROR


# ============================================================================================ native helpers
def nt_name(c, path: str) -> str | None:
    """RtlDosPathNameToNtPathName_U against the current directory; None with the last error set."""
    try:
        nt = P.to_nt_path(path, cwd(c))
    except NtStatusError as e:
        c.set_last_nt_error(e.status)
        return None
    if len(nt.encode("utf-16-le", "surrogatepass")) > 0xFFFC:   # past a UNICODE_STRING's 32,766 characters
        c.set_last_nt_error(0xC0000106)          # STATUS_NAME_TOO_LONG: ERROR_FILENAME_EXCED_RANGE
        return None
    return nt


def nt_open(c, nt: str, access: int, share: int, options: int, *, disposition: int | None = None,
            attributes: int = 0, inherit: bool = False) -> tuple[int, int, int]:
    """NtCreateFile (with a disposition) or NtOpenFile: (status, handle, IO_STATUS_BLOCK.Information)."""
    ps = c.ptr_size
    hp = c.stack_alloc(ps, 8)
    iosb = c.stack_alloc(2 * ps, 8)
    oa = c.object_attributes(c.unicode_string(nt), OBJ_CASE_INSENSITIVE | (OBJ_INHERIT if inherit else 0))
    if disposition is None:
        st = c.nt("NtOpenFile", hp, access, oa, iosb, share, options)
    else:
        st = c.nt("NtCreateFile", hp, access, oa, iosb, 0, attributes, share, disposition, options, 0, 0)
    return st, c.ptr(hp), c.ptr(iosb + ps)


def nt_close(c, h: int) -> None:
    c.nt("NtClose", h)


def query_info(c, h: int, cls: int, size: int) -> tuple[int, bytes, int]:
    """NtQueryInformationFile: (status, the buffer's bytes, Information)."""
    ps = c.ptr_size
    buf = c.stack_alloc(size, 8)
    iosb = c.stack_alloc(2 * ps, 8)
    st = c.nt("NtQueryInformationFile", h, iosb, buf, size, cls)
    return st, c.read(buf, size), c.ptr(iosb + ps)


def set_info(c, h: int, cls: int, data: bytes) -> int:
    ps = c.ptr_size
    buf = c.stack_alloc(max(len(data), 1), 8)
    c.write(buf, data)
    iosb = c.stack_alloc(2 * ps, 8)
    return c.nt("NtSetInformationFile", h, iosb, buf, len(data), cls)


def query_volume(c, h: int, cls: int, size: int) -> tuple[int, bytes]:
    ps = c.ptr_size
    buf = c.stack_alloc(size, 8)
    iosb = c.stack_alloc(2 * ps, 8)
    st = c.nt("NtQueryVolumeInformationFile", h, iosb, buf, size, cls)
    return st, c.read(buf, size)


def _need(c, *names) -> bool:
    for n in names:
        if n is None:
            c.set_last_error(ERROR_INVALID_PARAMETER)
            return False
        if n == "":
            c.set_last_error(ERROR_PATH_NOT_FOUND)
            return False
    return True


# ============================================================================================ CreateFile
@api(K32, "HANDLE WINAPI CreateFile%(LPCTSTR lpFileName, DWORD dwDesiredAccess, DWORD dwShareMode, "
          "LPSECURITY_ATTRIBUTES lpSecurityAttributes, DWORD dwCreationDisposition, DWORD dwFlagsAndAttributes, "
          "HANDLE hTemplateFile)")
def CreateFile(c, name, access, share, sa, disposition, flags, template):
    return create_file(c, name, access, share, sa, disposition, flags)


def create_file(c, name, access, share, sa, disposition, flags) -> int:
    bad = invalid_handle(c)
    if not name:
        c.set_last_error(ERROR_PATH_NOT_FOUND)
        return bad
    if disposition not in _DISPOSITIONS:
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return bad
    # TRUNCATE_EXISTING needs GENERIC_WRITE itself: FILE_WRITE_DATA alone is ERROR_INVALID_PARAMETER
    # (kernel32/tests/file.c test_CreateFile, written on Windows)
    if disposition == TRUNCATE_EXISTING and not access & (V.GENERIC_WRITE | V.GENERIC_ALL):
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return bad
    options = 0
    if not flags & FILE_FLAG_OVERLAPPED:
        options |= V.FILE_SYNCHRONOUS_IO_NONALERT
    if flags & FILE_FLAG_WRITE_THROUGH:
        options |= V.FILE_WRITE_THROUGH
    if flags & FILE_FLAG_NO_BUFFERING:
        options |= FILE_NO_INTERMEDIATE_BUFFERING
    if flags & FILE_FLAG_RANDOM_ACCESS:
        options |= FILE_RANDOM_ACCESS
    if flags & FILE_FLAG_SEQUENTIAL_SCAN:
        options |= V.FILE_SEQUENTIAL_ONLY
    if flags & FILE_FLAG_DELETE_ON_CLOSE:
        options |= V.FILE_DELETE_ON_CLOSE
        access |= V.DELETE
    if flags & FILE_FLAG_BACKUP_SEMANTICS:
        options |= FILE_OPEN_FOR_BACKUP_INTENT
    else:
        options |= V.FILE_NON_DIRECTORY_FILE
    if flags & FILE_FLAG_OPEN_REPARSE_POINT:
        options |= V.FILE_OPEN_REPARSE_POINT
    inherit = bool(sa and c.u32(sa + (16 if c.ptr_size == 8 else 8)))  # SECURITY_ATTRIBUTES.bInheritHandle
    pipe = open_pipe_client(c, name, access, flags, inherit)   # \\.\pipe\x: the named-pipe file system
    if pipe != -1:
        return bad if pipe is None else pipe
    nt = nt_name(c, name)
    if nt is None:
        return bad
    st, h, info = nt_open(c, nt, access | V.SYNCHRONIZE | V.FILE_READ_ATTRIBUTES, share & V.FILE_SHARE_ALL,
                          options, disposition=_DISPOSITIONS[disposition],
                          attributes=flags & FILE_ATTRIBUTE_VALID_FLAGS, inherit=inherit)
    if _failed(st):
        if st == STATUS_OBJECT_NAME_COLLISION:
            c.set_last_error(ERROR_FILE_EXISTS)
        else:
            c.set_last_nt_error(st)
        return bad
    if disposition in (CREATE_ALWAYS, OPEN_ALWAYS) and info in (V.FILE_OPENED, V.FILE_OVERWRITTEN,
                                                                 V.FILE_SUPERSEDED):
        c.set_last_error(ERROR_ALREADY_EXISTS)
    else:
        c.set_last_error(0)
    return h


FILE_ID_TYPE_FILE, FILE_ID_TYPE_OBJECT, FILE_ID_TYPE_EXTENDED = 0, 1, 2


@api(K32, "HANDLE WINAPI OpenFileById(HANDLE hVolumeHint, LPFILE_ID_DESCRIPTOR lpFileId, DWORD dwDesiredAccess, "
          "DWORD dwShareMode, LPSECURITY_ATTRIBUTES lpSecurityAttributes, DWORD dwFlagsAndAttributes)")
def OpenFileById(c, volume, pid, access, share, sa, flags):
    """NtCreateFile(FILE_OPEN_BY_FILE_ID) relative to the volume hint: FILE_ID_DESCRIPTOR {dwSize, Type,
    union at +8}: a FileIdType's 64-bit id (the file index of FileInternalInformation and of the directory
    entries' FileId), an ExtendedFileIdType's FILE_ID_128. No descriptor: ERROR_INVALID_PARAMETER; object ids
    (ObjectIdType) are not kept by winhatch's volumes and stop the guest."""
    bad = invalid_handle(c)
    if not pid:
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return bad
    kind = c.u32(pid + 4)
    if kind == FILE_ID_TYPE_FILE:
        ident = c.read(pid + 8, 8)
    elif kind == FILE_ID_TYPE_EXTENDED:
        ident = c.read(pid + 8, 16)
    elif kind == FILE_ID_TYPE_OBJECT:
        from winhatch.win32.ntdll.seh import raise_unsupported
        raise_unsupported(c, "OpenFileById with an object id (ObjectIdType)")
    else:
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return bad
    options = FILE_OPEN_BY_FILE_ID_OPTION
    if not flags & FILE_FLAG_OVERLAPPED:
        options |= V.FILE_SYNCHRONOUS_IO_NONALERT
    if flags & FILE_FLAG_BACKUP_SEMANTICS:
        options |= FILE_OPEN_FOR_BACKUP_INTENT
    if flags & FILE_FLAG_OPEN_REPARSE_POINT:
        options |= V.FILE_OPEN_REPARSE_POINT
    inherit = bool(sa and c.u32(sa + (16 if c.ptr_size == 8 else 8)))
    ps = c.ptr_size
    name = c.stack_alloc(len(ident), 8)
    c.write(name, ident)
    us = c.stack_alloc(2 * ps, 8)
    c.write(us, struct.pack("<HH", len(ident), len(ident)))
    c.write_ptr(us + ps, name)
    oa = c.object_attributes(us, OBJ_INHERIT if inherit else 0, root=volume)
    hp = c.stack_alloc(ps, 8)
    iosb = c.stack_alloc(2 * ps, 8)
    st = c.nt("NtCreateFile", hp, access | V.SYNCHRONIZE | V.FILE_READ_ATTRIBUTES, oa, iosb, 0, 0,
              share & V.FILE_SHARE_ALL, V.FILE_OPEN, options, 0, 0)
    if _failed(st):
        c.set_last_nt_error(st)
        return bad
    return c.ptr(hp)


@api(K32, "HANDLE WINAPI CreateFile2(LPCWSTR lpFileName, DWORD dwDesiredAccess, DWORD dwShareMode, "
          "DWORD dwCreationDisposition, LPCREATEFILE2_EXTENDED_PARAMETERS pCreateExParams)")
def CreateFile2(c, name, access, share, disposition, params):
    """CREATEFILE2_EXTENDED_PARAMETERS: dwSize, dwFileAttributes, dwFileFlags, dwSecurityQosFlags,
    lpSecurityAttributes, hTemplateFile."""
    flags, sa = 0, 0
    if params:
        size, attrs, fflags, qos = struct.unpack("<IIII", c.read(params, 16))
        if size < 16 + 2 * c.ptr_size:
            c.set_last_error(ERROR_INVALID_PARAMETER)
            return invalid_handle(c)
        # each field keeps to its kind: FILE_FLAG_* bits given in dwFileAttributes are ignored (a handle
        # asked for that way is synchronous; kernel32/tests/file.c test_CreateFile2, written on Windows)
        flags = (attrs & FILE_ATTRIBUTE_VALID_FLAGS) | (fflags & ~0xFFFF) | qos
        sa = c.ptr(params + 16)
    return create_file(c, name, access, share, sa, disposition, flags)


# ============================================================================================ read / write
def _object(c, h):
    """The object behind a handle, or None (the service reports a bad handle)."""
    try:
        return c.proc.handles.lookup(h, None, 0, current_process=c.proc, current_thread=c.thread)
    except NtStatusError:
        return None


def _overlapped(c, ov: int) -> tuple[int, int]:
    """(ByteOffset LARGE_INTEGER in scratch, event handle) of an OVERLAPPED; Internal becomes STATUS_PENDING."""
    ps = c.ptr_size
    off = c.stack_alloc(8, 8)
    c.write(off, c.read(ov + 2 * ps, 8))
    event = c.ptr(ov + 2 * ps + 8) & ~1      # the low bit: no completion-port notification
    return off, event


@api(K32, "BOOL WINAPI ReadFile(HANDLE hFile, LPVOID lpBuffer, DWORD nNumberOfBytesToRead, "
          "LPDWORD lpNumberOfBytesRead, LPOVERLAPPED lpOverlapped)")
def ReadFile(c, h, buf, n, nread, ov):
    return _transfer(c, "NtReadFile", overlapped_read, h, buf, n, nread, ov)


@api(K32, "BOOL WINAPI WriteFile(HANDLE hFile, LPCVOID lpBuffer, DWORD nNumberOfBytesToWrite, "
          "LPDWORD lpNumberOfBytesWritten, LPOVERLAPPED lpOverlapped)")
def WriteFile(c, h, buf, n, written, ov):
    return _transfer(c, "NtWriteFile", overlapped_write, h, buf, n, written, ov)


def _transfer(c, service: str, request, h, buf, n, count, ov) -> int:
    """ReadFile / WriteFile as kernelbase writes them: a request that can pend (pipes, completion ports) goes the
    request path; with an OVERLAPPED, the OVERLAPPED is the IO_STATUS_BLOCK (Internal = STATUS_PENDING first) and
    STATUS_PENDING is ERROR_IO_PENDING; without, an IO_STATUS_BLOCK in the caller's stack, and a synchronous
    read at the end of the file succeeds with 0 bytes."""
    if count:
        c.write_u32(count, 0)
    obj = _object(c, h)
    if obj is not None and wants_request_path(obj, ov):
        return request(c, h, obj, buf, n, count, ov)
    ps = c.ptr_size
    if ov:
        off, event = _overlapped(c, ov)
        c.write_ptr(ov, STATUS_PENDING)
        st = c.nt(service, h, event, 0, 0, ov, buf, n, off, 0)
        if st == STATUS_PENDING:
            c.set_last_error(ERROR_IO_PENDING)
            return 0
        iosb = ov
    else:
        iosb = c.stack_alloc(2 * ps, 8)
        st = c.nt(service, h, 0, 0, 0, iosb, buf, n, 0, 0)
        if st == STATUS_END_OF_FILE and service == "NtReadFile":
            return 1
    if _failed(st):
        c.set_last_nt_error(st)
        return 0
    if count:
        c.write_u32(count, c.ptr(iosb + ps))
    return 1


@api(K32, "BOOL WINAPI ReadFileScatter(HANDLE hFile, FILE_SEGMENT_ELEMENT *aSegmentArray, "
          "DWORD nNumberOfBytesToRead, LPDWORD lpReserved, LPOVERLAPPED lpOverlapped)")
def ReadFileScatter(c, h, segments, n, reserved, ov):
    return _scatter_gather(c, "NtReadFileScatter", h, segments, n, ov)


@api(K32, "BOOL WINAPI WriteFileGather(HANDLE hFile, FILE_SEGMENT_ELEMENT *aSegmentArray, "
          "DWORD nNumberOfBytesToWrite, LPDWORD lpReserved, LPOVERLAPPED lpOverlapped)")
def WriteFileGather(c, h, segments, n, reserved, ov):
    return _scatter_gather(c, "NtWriteFileGather", h, segments, n, ov)


def _scatter_gather(c, service: str, h, segments, n, ov) -> int:
    """The OVERLAPPED is the IO_STATUS_BLOCK and the completion context (the handle must be overlapped: the
    service refuses a synchronous one); STATUS_PENDING is ERROR_IO_PENDING, as it is for every successful
    request (the file system queues unbuffered I/O)."""
    if not ov:
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    off, event = _overlapped(c, ov)
    c.write_ptr(ov, STATUS_PENDING)
    ctx = 0 if c.ptr(c.ptr_size * 2 + 8 + ov) & 1 else ov       # hEvent's low bit: no completion packet
    st = c.nt(service, h, event, 0, ctx, ov, segments, n, off, 0)
    if st == STATUS_PENDING:
        c.set_last_error(ERROR_IO_PENDING)
        return 0
    if _failed(st):
        c.set_last_nt_error(st)
        return 0
    return 1


# ============================================================================================ position and size
def _size(c, h) -> int | None:
    st, raw, _ = query_info(c, h, FS.FileStandardInformation, 24)
    if _failed(st):
        c.set_last_nt_error(st)
        return None
    return struct.unpack_from("<q", raw, 8)[0]


def _seek(c, h, dist: int, method: int) -> int | None:
    """SetFilePointerEx: the new position (FilePositionInformation), or None with the last error set."""
    if method == 0:
        base = 0
    elif method == 1:
        st, raw, _ = query_info(c, h, FS.FilePositionInformation, 8)
        if _failed(st):
            c.set_last_nt_error(st)
            return None
        base = struct.unpack("<q", raw)[0]
    elif method == 2:
        base = _size(c, h)
        if base is None:
            return None
    else:
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return None
    pos = base + dist
    if pos < 0:
        c.set_last_error(ERROR_NEGATIVE_SEEK)
        return None
    st = set_info(c, h, FS.FilePositionInformation, struct.pack("<q", pos))
    if _failed(st):
        c.set_last_nt_error(st)
        return None
    return pos


@api(K32, "DWORD WINAPI SetFilePointer(HANDLE hFile, LONG lDistanceToMove, PLONG lpDistanceToMoveHigh, "
          "DWORD dwMoveMethod)")
def SetFilePointer(c, h, dist, phigh, method):
    if phigh:
        dist = (dist & 0xFFFFFFFF) | (c.u32(phigh) << 32)
        if dist & (1 << 63):
            dist -= 1 << 64
    else:
        dist = signed32(dist)
    pos = _seek(c, h, dist, method)
    if pos is None:
        return INVALID_SET_FILE_POINTER
    if phigh:
        c.write_u32(phigh, pos >> 32)
    elif pos >> 32:
        c.set_last_error(ERROR_INVALID_PARAMETER)  # the position does not fit the return value alone
        return INVALID_SET_FILE_POINTER
    if pos & 0xFFFFFFFF == INVALID_SET_FILE_POINTER:
        c.set_last_error(0)
    return pos & 0xFFFFFFFF


@api(K32, "BOOL WINAPI SetFilePointerEx(HANDLE hFile, LARGE_INTEGER liDistanceToMove, "
          "PLARGE_INTEGER lpNewFilePointer, DWORD dwMoveMethod)")
def SetFilePointerEx(c, h, dist, pnew, method):
    if dist & (1 << 63):
        dist -= 1 << 64
    pos = _seek(c, h, dist, method)
    if pos is None:
        return 0
    if pnew:
        c.write_u64(pnew, pos)
    return 1


@api(K32, "DWORD WINAPI GetFileSize(HANDLE hFile, LPDWORD lpFileSizeHigh)")
def GetFileSize(c, h, phigh):
    size = _size(c, h)
    if size is None:
        return INVALID_FILE_SIZE
    if phigh:
        c.write_u32(phigh, size >> 32)
    if size & 0xFFFFFFFF == 0xFFFFFFFF:
        c.set_last_error(0)
    return size & 0xFFFFFFFF


@api(K32, "BOOL WINAPI GetFileSizeEx(HANDLE hFile, PLARGE_INTEGER lpFileSize)")
def GetFileSizeEx(c, h, psize):
    size = _size(c, h)
    if size is None:
        return 0
    c.write_u64(psize, size)
    return 1


@api(K32, "BOOL WINAPI FlushFileBuffers(HANDLE hFile)")
def FlushFileBuffers(c, h):
    from winhatch.kernel.io.npfs import NamedPipeEnd
    obj = _object(c, h)
    if isinstance(obj, NamedPipeEnd):   # waits until the other end has read what this end wrote
        st = obj.flush(c.thread, ("FlushFileBuffers", c._sp))
        if st:
            c.set_last_nt_error(st)
            return 0
        return 1
    iosb = c.stack_alloc(2 * c.ptr_size, 8)
    st = c.nt("NtFlushBuffersFile", h, iosb)
    if _failed(st):
        c.set_last_nt_error(st)
        return 0
    return 1


@api(K32, "BOOL WINAPI SetFileValidData(HANDLE hFile, LONGLONG ValidDataLength)")
def SetFileValidData(c, h, length):
    """NtSetInformationFile(FileValidDataLengthInformation): a handle without write access is
    ERROR_ACCESS_DENIED, a caller without SeManageVolumePrivilege ERROR_PRIVILEGE_NOT_HELD."""
    st = set_info(c, h, FS.FileValidDataLengthInformation, struct.pack("<q", signed64(length)))
    if _failed(st):
        c.set_last_nt_error(st)
        return 0
    return 1


def signed64(v: int) -> int:
    v &= 0xFFFFFFFFFFFFFFFF
    return v - (1 << 64) if v >> 63 else v


@api(K32, "BOOL WINAPI SetEndOfFile(HANDLE hFile)")
def SetEndOfFile(c, h):
    """The end of file at the file pointer: FileEndOfFileInformation, then FileAllocationInformation."""
    st, raw, _ = query_info(c, h, FS.FilePositionInformation, 8)
    if not _failed(st):
        st = set_info(c, h, FS.FileEndOfFileInformation, raw)
    if not _failed(st):
        st = set_info(c, h, FS.FileAllocationInformation, raw)
    if _failed(st):
        c.set_last_nt_error(st)
        return 0
    return 1


# ============================================================================================ locks
def _lock_range(c, off: int, length: int) -> tuple[int, int]:
    a = c.stack_alloc(16, 8)
    c.write(a, struct.pack("<QQ", off, length))
    return a, a + 8


@api(K32, "BOOL WINAPI LockFile(HANDLE hFile, DWORD dwFileOffsetLow, DWORD dwFileOffsetHigh, "
          "DWORD nNumberOfBytesToLockLow, DWORD nNumberOfBytesToLockHigh)")
def LockFile(c, h, lo, hi, nlo, nhi):
    off, length = _lock_range(c, lo | (hi << 32), nlo | (nhi << 32))
    iosb = c.stack_alloc(2 * c.ptr_size, 8)
    st = c.nt("NtLockFile", h, 0, 0, 0, iosb, off, length, 0, 1, 1)
    if _failed(st) or st == STATUS_PENDING:
        c.set_last_nt_error(st)
        return 0
    return 1


LOCKFILE_FAIL_IMMEDIATELY = 0x1
LOCKFILE_EXCLUSIVE_LOCK = 0x2


@api(K32, "BOOL WINAPI LockFileEx(HANDLE hFile, DWORD dwFlags, DWORD dwReserved, DWORD nNumberOfBytesToLockLow, "
          "DWORD nNumberOfBytesToLockHigh, LPOVERLAPPED lpOverlapped)")
def LockFileEx(c, h, flags, reserved, nlo, nhi, ov):
    if reserved or flags & ~(LOCKFILE_FAIL_IMMEDIATELY | LOCKFILE_EXCLUSIVE_LOCK) or not ov:
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    ps = c.ptr_size
    start = c.u32(ov + 2 * ps) | (c.u32(ov + 2 * ps + 4) << 32)
    off, length = _lock_range(c, start, nlo | (nhi << 32))
    event = c.ptr(ov + 2 * ps + 8) & ~1
    c.write_ptr(ov, STATUS_PENDING)
    st = c.nt("NtLockFile", h, event, 0, 0, ov, off, length, 0, int(bool(flags & LOCKFILE_FAIL_IMMEDIATELY)),
              int(bool(flags & LOCKFILE_EXCLUSIVE_LOCK)))
    if st == STATUS_PENDING:
        c.set_last_error(ERROR_IO_PENDING)
        return 0
    if _failed(st):
        c.set_last_nt_error(st)
        return 0
    return 1


@api(K32, "BOOL WINAPI UnlockFile(HANDLE hFile, DWORD dwFileOffsetLow, DWORD dwFileOffsetHigh, "
          "DWORD nNumberOfBytesToUnlockLow, DWORD nNumberOfBytesToUnlockHigh)")
def UnlockFile(c, h, lo, hi, nlo, nhi):
    off, length = _lock_range(c, lo | (hi << 32), nlo | (nhi << 32))
    iosb = c.stack_alloc(2 * c.ptr_size, 8)
    st = c.nt("NtUnlockFile", h, iosb, off, length, 0)
    if _failed(st):
        c.set_last_nt_error(st)
        return 0
    return 1


@api(K32, "BOOL WINAPI UnlockFileEx(HANDLE hFile, DWORD dwReserved, DWORD nNumberOfBytesToUnlockLow, "
          "DWORD nNumberOfBytesToUnlockHigh, LPOVERLAPPED lpOverlapped)")
def UnlockFileEx(c, h, reserved, nlo, nhi, ov):
    if reserved or not ov:
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    ps = c.ptr_size
    start = c.u32(ov + 2 * ps) | (c.u32(ov + 2 * ps + 4) << 32)
    off, length = _lock_range(c, start, nlo | (nhi << 32))
    iosb = c.stack_alloc(2 * ps, 8)
    st = c.nt("NtUnlockFile", h, iosb, off, length, 0)
    if _failed(st):
        c.set_last_nt_error(st)
        return 0
    return 1


# ============================================================================================ attributes by name
@api(K32, "DWORD WINAPI GetFileAttributes%(LPCTSTR lpFileName)")
def GetFileAttributes(c, name):
    if not name:
        c.set_last_error(ERROR_FILE_NOT_FOUND if name == "" else ERROR_INVALID_PARAMETER)
        return INVALID_FILE_ATTRIBUTES
    nt = nt_name(c, name)
    if nt is None:
        return INVALID_FILE_ATTRIBUTES
    buf = c.stack_alloc(40, 8)
    st = c.nt("NtQueryAttributesFile", c.object_attributes(c.unicode_string(nt)), buf)
    if _failed(st):
        c.set_last_nt_error(st)
        return INVALID_FILE_ATTRIBUTES
    return c.u32(buf + 32)


@api(K32, "BOOL WINAPI GetFileAttributesEx%(LPCTSTR lpFileName, DWORD fInfoLevelId, LPVOID lpFileInformation)")
def GetFileAttributesEx(c, name, level, buf):
    """GetFileExInfoStandard: WIN32_FILE_ATTRIBUTE_DATA from NtQueryFullAttributesFile."""
    if level != 0:
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    if not name:
        c.set_last_error(ERROR_FILE_NOT_FOUND if name == "" else ERROR_INVALID_PARAMETER)
        return 0
    nt = nt_name(c, name)
    if nt is None:
        return 0
    info = c.stack_alloc(56, 8)
    st = c.nt("NtQueryFullAttributesFile", c.object_attributes(c.unicode_string(nt)), info)
    if _failed(st):
        c.set_last_nt_error(st)
        return 0
    cr, ac, wr, _ch, _alloc, eof, attrs = struct.unpack("<qqqqqqI", c.read(info, 52))
    c.write(buf, struct.pack("<IQQQII", attrs, cr, ac, wr, eof >> 32, eof & 0xFFFFFFFF))
    return 1


@api(K32, "BOOL WINAPI SetFileAttributes%(LPCTSTR lpFileName, DWORD dwFileAttributes)")
def SetFileAttributes(c, name, attrs):
    """NtOpenFile(FILE_WRITE_ATTRIBUTES) and FileBasicInformation with only the attributes (0 means
    FILE_ATTRIBUTE_NORMAL there)."""
    if not _need(c, name):
        return 0
    nt = nt_name(c, name)
    if nt is None:
        return 0
    st, h, _ = nt_open(c, nt, V.SYNCHRONIZE | V.FILE_WRITE_ATTRIBUTES, V.FILE_SHARE_READ | V.FILE_SHARE_WRITE,
                       V.FILE_SYNCHRONOUS_IO_NONALERT | FILE_OPEN_FOR_BACKUP_INTENT | V.FILE_OPEN_REPARSE_POINT)
    if _failed(st):
        c.set_last_nt_error(st)
        return 0
    st = set_info(c, h, FS.FileBasicInformation,
                  struct.pack("<qqqqI4x", 0, 0, 0, 0, attrs or V.FILE_ATTRIBUTE_NORMAL))
    nt_close(c, h)
    if _failed(st):
        c.set_last_nt_error(st)
        return 0
    return 1


# ============================================================================================ names
FILE_DISPOSITION_DELETE, FILE_DISPOSITION_POSIX_SEMANTICS = 0x1, 0x2


def _delete(c, name, directory: bool) -> int:
    """DeleteFileW / RemoveDirectoryW: open for DELETE, set the disposition with POSIX semantics (the name goes
    at once, as Windows 10 does), close. DeleteFile(NULL): ERROR_PATH_NOT_FOUND (kernel32/tests/file.c
    test_DeleteFileW, written on Windows)."""
    if name is None and not directory:
        c.set_last_error(ERROR_PATH_NOT_FOUND)
        return 0
    if not _need(c, name):
        return 0
    nt = nt_name(c, name)
    if nt is None:
        return 0
    opts = (V.FILE_DIRECTORY_FILE if directory else V.FILE_NON_DIRECTORY_FILE) | V.FILE_SYNCHRONOUS_IO_NONALERT \
        | FILE_OPEN_FOR_BACKUP_INTENT | V.FILE_OPEN_REPARSE_POINT
    st, h, _ = nt_open(c, nt, V.DELETE | V.SYNCHRONIZE | V.FILE_READ_ATTRIBUTES, V.FILE_SHARE_ALL, opts)
    if _failed(st):
        c.set_last_nt_error(st)
        return 0
    st = set_info(c, h, FS.FileDispositionInformationEx,
                  struct.pack("<I", FILE_DISPOSITION_DELETE | FILE_DISPOSITION_POSIX_SEMANTICS))
    if st == STATUS_INVALID_PARAMETER:     # a file system without POSIX deletes
        st = set_info(c, h, FS.FileDispositionInformation, b"\x01")
    nt_close(c, h)
    if _failed(st):
        c.set_last_nt_error(st)
        return 0
    return 1


@api(K32, "BOOL WINAPI DeleteFile%(LPCTSTR lpFileName)")
def DeleteFile(c, name):
    return _delete(c, name, False)


@api(K32, "BOOL WINAPI RemoveDirectory%(LPCTSTR lpPathName)")
def RemoveDirectory(c, name):
    return _delete(c, name, True)


@api(K32, "BOOL WINAPI CreateDirectory%(LPCTSTR lpPathName, LPSECURITY_ATTRIBUTES lpSecurityAttributes)")
def CreateDirectory(c, name, sa):
    if name is None:                    # no name to convert: ERROR_PATH_NOT_FOUND (kernel32/tests/directory.c)
        c.set_last_error(ERROR_PATH_NOT_FOUND)
        return 0
    if not _need(c, name):
        return 0
    nt = nt_name(c, name)
    if nt is None:
        return 0
    st, h, _ = nt_open(c, nt, V.FILE_LIST_DIRECTORY | V.SYNCHRONIZE, V.FILE_SHARE_READ | V.FILE_SHARE_WRITE,
                       V.FILE_DIRECTORY_FILE | V.FILE_SYNCHRONOUS_IO_NONALERT | FILE_OPEN_FOR_BACKUP_INTENT,
                       disposition=V.FILE_CREATE, attributes=V.FILE_ATTRIBUTE_NORMAL,
                       inherit=bool(sa and c.u32(sa + (16 if c.ptr_size == 8 else 8))))
    if _failed(st):
        c.set_last_nt_error(st)
        return 0
    nt_close(c, h)
    return 1


def rename_info(c, target_nt: str, replace: bool) -> bytes:
    """FILE_RENAME_INFORMATION (RootDirectory NULL) for the caller's pointer size."""
    name = target_nt.encode("utf-16-le")
    if c.ptr_size == 8:
        return struct.pack("<I4xQI", int(replace), 0, len(name)) + name
    return struct.pack("<III", int(replace), 0, len(name)) + name


@api(K32, "BOOL WINAPI MoveFile%(LPCTSTR lpExistingFileName, LPCTSTR lpNewFileName)")
def MoveFile(c, src, dst):
    return MoveFileEx(c, src, dst, MOVEFILE_COPY_ALLOWED)


@api(K32, "BOOL WINAPI MoveFileEx%(LPCTSTR lpExistingFileName, LPCTSTR lpNewFileName, DWORD dwFlags)")
def MoveFileEx(c, src, dst, flags):
    """Open the source for DELETE and rename it by handle (FileRenameInformation). Moves between drives
    (STATUS_NOT_SAME_DEVICE) and MOVEFILE_DELAY_UNTIL_REBOOT are not supported by the sandbox."""
    if not _need(c, src):
        return 0
    if dst is None:
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    nsrc = nt_name(c, src)
    ndst = nt_name(c, dst) if nsrc is not None else None
    if ndst is None:
        return 0
    st, h, _ = nt_open(c, nsrc, V.DELETE | V.SYNCHRONIZE, V.FILE_SHARE_ALL,
                       V.FILE_SYNCHRONOUS_IO_NONALERT | FILE_OPEN_FOR_BACKUP_INTENT | V.FILE_OPEN_REPARSE_POINT)
    if _failed(st):
        c.set_last_nt_error(st)
        return 0
    st = set_info(c, h, FS.FileRenameInformation, rename_info(c, ndst, bool(flags & MOVEFILE_REPLACE_EXISTING)))
    nt_close(c, h)
    if _failed(st):
        c.set_last_nt_error(st)
        return 0
    return 1


REPLACEFILE_WRITE_THROUGH, REPLACEFILE_IGNORE_MERGE_ERRORS, REPLACEFILE_IGNORE_ACL_ERRORS = 0x1, 0x2, 0x4
ERROR_UNABLE_TO_REMOVE_REPLACED, ERROR_UNABLE_TO_MOVE_REPLACEMENT, ERROR_UNABLE_TO_MOVE_REPLACEMENT_2 = 1175, 1176, 1177
FILE_RENAME_REPLACE_IF_EXISTS, FILE_RENAME_POSIX_SEMANTICS = 0x1, 0x2


@api(K32, "BOOL WINAPI ReplaceFile%(LPCTSTR lpReplacedFileName, LPCTSTR lpReplacementFileName, "
          "LPCTSTR lpBackupFileName, DWORD dwReplaceFlags, LPVOID lpExclude, LPVOID lpReserved)")
def ReplaceFile(c, replaced, replacement, backup, flags, exclude, reserved):
    """The replacement file takes the replaced file's name (and its creation time), over the file services:
    the replaced file opened for GENERIC_READ | DELETE sharing everything, the replacement for read, write,
    delete and WRITE_DAC sharing nothing (again without write when that is denied); the replaced file's
    creation time merged into the replacement (a replacement without write access: ERROR_ACCESS_DENIED unless
    REPLACEFILE_IGNORE_MERGE_ERRORS). With a backup name, the replaced file is renamed to it (over an existing
    one) and the replacement renamed into the free name: a failure of the first is
    ERROR_UNABLE_TO_REMOVE_REPLACED, of the second ERROR_UNABLE_TO_MOVE_REPLACEMENT once the replaced file has
    its name back (ERROR_UNABLE_TO_MOVE_REPLACEMENT_2 when it cannot). Without one, the replacement is renamed
    over the replaced file with POSIX semantics (its open handles and sections live on without a name). The
    caller needs write access to the replaced file: a read-only one is ERROR_ACCESS_DENIED. (Microsoft's
    ReplaceFile documentation; Wine's kernel32/tests/file.c test_ReplaceFileA/W, written on Windows.)"""
    if not replaced or not replacement or flags & ~(REPLACEFILE_WRITE_THROUGH | REPLACEFILE_IGNORE_MERGE_ERRORS
                                                     | REPLACEFILE_IGNORE_ACL_ERRORS) or exclude or reserved:
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    n_old = nt_name(c, replaced)
    n_new = nt_name(c, replacement) if n_old is not None else None
    n_bak = nt_name(c, backup) if n_new is not None and backup else None
    if n_new is None or (backup and n_bak is None):
        return 0
    sync = V.FILE_SYNCHRONOUS_IO_NONALERT | V.FILE_NON_DIRECTORY_FILE
    st, h_old, _ = nt_open(c, n_old, V.GENERIC_READ | V.DELETE | V.SYNCHRONIZE, V.FILE_SHARE_ALL, sync)
    if _failed(st):
        c.set_last_nt_error(st)
        return 0
    h_new = 0
    try:
        st, old_basic, _ = query_info(c, h_old, FS.FileBasicInformation, 40)
        if _failed(st):
            c.set_last_nt_error(st)
            return 0
        if struct.unpack_from("<I", old_basic, 32)[0] & V.FILE_ATTRIBUTE_READONLY:
            c.set_last_error(ERROR_ACCESS_DENIED)      # no write access to the file to be replaced
            return 0
        full = V.SYNCHRONIZE | V.GENERIC_READ | V.DELETE | V.WRITE_DAC
        st, h_new, _ = nt_open(c, n_new, full | V.GENERIC_WRITE, 0, sync)
        if st == STATUS_ACCESS_DENIED:
            st, h_new, _ = nt_open(c, n_new, full, 0, sync)
        if _failed(st):
            h_new = 0
            c.set_last_nt_error(st)
            return 0
        # merge: the replaced file's creation time (the other times and the attributes stay the replacement's)
        st = set_info(c, h_new, FS.FileBasicInformation, old_basic[:8] + bytes(32))
        if _failed(st) and not flags & REPLACEFILE_IGNORE_MERGE_ERRORS:
            c.set_last_nt_error(st)
            return 0
        if n_bak is not None:
            st = set_info(c, h_old, FS.FileRenameInformation, rename_info(c, n_bak, True))
            if _failed(st):
                c.set_last_error(ERROR_UNABLE_TO_REMOVE_REPLACED)
                return 0
            st = set_info(c, h_new, FS.FileRenameInformation, rename_info(c, n_old, False))
            if _failed(st):
                back = set_info(c, h_old, FS.FileRenameInformation, rename_info(c, n_old, False))
                c.set_last_error(ERROR_UNABLE_TO_MOVE_REPLACEMENT_2 if _failed(back)
                                 else ERROR_UNABLE_TO_MOVE_REPLACEMENT)
                return 0
        else:
            info = bytearray(rename_info(c, n_old, False))
            struct.pack_into("<I", info, 0, FILE_RENAME_REPLACE_IF_EXISTS | FILE_RENAME_POSIX_SEMANTICS)
            st = set_info(c, h_new, FS.FileRenameInformationEx, bytes(info))
            if _failed(st):
                c.set_last_nt_error(st)
                return 0
    finally:
        if h_new:
            nt_close(c, h_new)
        nt_close(c, h_old)
    return 1


@api(K32, "BOOL WINAPI CreateHardLink%(LPCTSTR lpFileName, LPCTSTR lpExistingFileName, "
     "LPSECURITY_ATTRIBUTES lpSecurityAttributes)")
def CreateHardLink(c, new, existing, sa):
    """kernelbase's way: open the existing file for FILE_WRITE_ATTRIBUTES and give it another name by handle,
    NtSetInformationFile(FileLinkInformation) with the new name's NT path (never replacing an existing name:
    ERROR_ALREADY_EXISTS). The hard link itself is the file system service's (kernel/io/file_services.py)."""
    if not _need(c, existing) or not _need(c, new):
        return 0
    nsrc = nt_name(c, existing)
    ndst = nt_name(c, new) if nsrc is not None else None
    if ndst is None:
        return 0
    st, h, _ = nt_open(c, nsrc, V.FILE_WRITE_ATTRIBUTES | V.SYNCHRONIZE, V.FILE_SHARE_ALL,
                       V.FILE_SYNCHRONOUS_IO_NONALERT | V.FILE_OPEN_REPARSE_POINT)
    if _failed(st):
        c.set_last_nt_error(st)
        return 0
    st = set_info(c, h, FS.FileLinkInformation, rename_info(c, ndst, False))
    nt_close(c, h)
    if _failed(st):
        c.set_last_nt_error(st)
        return 0
    return 1


SYMBOLIC_LINK_FLAG_DIRECTORY = 0x1
SYMBOLIC_LINK_FLAG_ALLOW_UNPRIVILEGED_CREATE = 0x2
FSCTL_SET_REPARSE_POINT = 0x900A4
SE_CREATE_SYMBOLIC_LINK_PRIVILEGE = 35
ERROR_PRIVILEGE_NOT_HELD = 1314


def _path_is_relative(p: str) -> bool:
    """RtlDetermineDosPathNameType_U's RtlPathTypeRelative ("dir\\file", "..\\x") and RtlPathTypeRooted
    ("\\dir"): the target a symbolic link keeps relative to its own folder (or drive)."""
    q = p.replace("/", "\\")
    if q.startswith("\\\\"):
        return False            # UNC, \\?\, \\.\ : absolute
    return not (len(q) >= 2 and q[1] == ":")


def symlink_buffer(substitute: str, print_name: str, relative: bool) -> bytes:
    """An IO_REPARSE_TAG_SYMLINK REPARSE_DATA_BUFFER: the substitute name, then the print name."""
    sub, prn = substitute.encode("utf-16-le"), print_name.encode("utf-16-le")
    body = struct.pack("<HHHHI", 0, len(sub), len(sub), len(prn), int(relative)) + sub + prn
    return struct.pack("<IHH", V.IO_REPARSE_TAG_SYMLINK, len(body), 0) + body


@api(K32, "BOOLEAN WINAPI CreateSymbolicLink%(LPCTSTR lpSymlinkFileName, LPCTSTR lpTargetFileName, DWORD dwFlags)")
def CreateSymbolicLink(c, link, target, flags):
    """kernelbase's way: create the link's file (or directory, SYMBOLIC_LINK_FLAG_DIRECTORY) with
    FILE_OPEN_REPARSE_POINT, set an IO_REPARSE_TAG_SYMLINK reparse point on it (FSCTL_SET_REPARSE_POINT: the
    target as an NT path, or relative to the link's folder when given relative), and delete it again when that
    fails. A standard user without developer mode gets ERROR_PRIVILEGE_NOT_HELD (the file system's check,
    kernel/io/iocp_services.may_create_symlink). The link lives in the guest's namespace only."""
    if not _need(c, link, target):
        return 0
    if flags & ~(SYMBOLIC_LINK_FLAG_DIRECTORY | SYMBOLIC_LINK_FLAG_ALLOW_UNPRIVILEGED_CREATE) or not target:
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    nlink = nt_name(c, link)
    if nlink is None:
        return 0
    token = 0
    if not flags & SYMBOLIC_LINK_FLAG_ALLOW_UNPRIVILEGED_CREATE:
        # RtlAcquirePrivilege(SE_CREATE_SYMBOLIC_LINK_PRIVILEGE): without the flag only a token that holds the
        # privilege may make a link, developer mode or not
        token = _acquire_symlink_privilege(c)
        if not token:
            c.set_last_error(ERROR_PRIVILEGE_NOT_HELD)
            return 0
    try:
        return _create_symlink(c, nlink, target, flags)
    finally:
        if token:
            _release_privilege(c, token)


def _acquire_symlink_privilege(c) -> tuple[int, int] | int:
    """Enable SeCreateSymbolicLinkPrivilege in the process token: (token handle, previous state) or 0 when the
    token does not hold it (STATUS_NOT_ALL_ASSIGNED)."""
    ps = c.ptr_size
    hp = c.stack_alloc(ps, 8)
    if _failed(c.nt("NtOpenProcessToken", -1 & ((1 << 8 * ps) - 1), 0x20 | 0x8, hp)):   # ADJUST_PRIVILEGES|QUERY
        return 0
    th = c.ptr(hp)
    new = c.stack_alloc(16, 8)
    c.write(new, struct.pack("<IIiI", 1, SE_CREATE_SYMBOLIC_LINK_PRIVILEGE, 0, 2))     # SE_PRIVILEGE_ENABLED
    prev = c.stack_alloc(16, 8)
    rl = c.stack_alloc(4, 4)
    st = c.nt("NtAdjustPrivilegesToken", th, 0, new, 16, prev, rl)
    if st != 0:                 # STATUS_NOT_ALL_ASSIGNED (0x106) or a failure
        nt_close(c, th)
        return 0
    return th, prev


def _release_privilege(c, token) -> None:
    th, prev = token
    if c.u32(prev):             # it was disabled before: disable it again
        c.nt("NtAdjustPrivilegesToken", th, 0, prev, 16, 0, 0)
    nt_close(c, th)


def _create_symlink(c, nlink: str, target: str, flags: int) -> int:
    relative = _path_is_relative(target)
    if relative:
        substitute = target
    else:
        substitute = nt_name(c, target)
        if substitute is None:
            return 0
    is_dir = bool(flags & SYMBOLIC_LINK_FLAG_DIRECTORY)
    opts = V.FILE_OPEN_REPARSE_POINT | V.FILE_SYNCHRONOUS_IO_NONALERT | \
        (V.FILE_DIRECTORY_FILE if is_dir else V.FILE_NON_DIRECTORY_FILE)
    st, h, _ = nt_open(c, nlink, V.FILE_WRITE_ATTRIBUTES | V.DELETE | V.SYNCHRONIZE, 0, opts,
                       disposition=V.FILE_CREATE, attributes=V.FILE_ATTRIBUTE_NORMAL)
    if _failed(st):
        c.set_last_nt_error(st)
        return 0
    data = symlink_buffer(substitute, target, relative)
    buf = c.stack_alloc(len(data), 8)
    c.write(buf, data)
    iosb = c.stack_alloc(2 * c.ptr_size, 8)
    st = c.nt("NtFsControlFile", h, 0, 0, 0, iosb, FSCTL_SET_REPARSE_POINT, buf, len(data), 0, 0)
    if _failed(st):
        set_info(c, h, FS.FileDispositionInformation, b"\x01")
        nt_close(c, h)
        c.set_last_nt_error(st)
        return 0
    nt_close(c, h)
    return 1


# ============================================================================================ find
class FindHandle(KObject):
    """The state behind a FindFirstFile handle (kernelbase keeps it in user memory; a kernel object here):
    the directory's handle, the next entry already read, the level."""
    type_name = "FindFile"

    def __init__(self, dir_handle: int, basic: bool):
        super().__init__()
        self.dir_handle = dir_handle
        self.basic = basic
        self.done = False


_FIND_BUF = 2 * MAX_PATH + 128


def _find_next_entry(c, fh, mask: str | None, restart: bool) -> tuple[int, bytes]:
    """One FILE_BOTH_DIR_INFORMATION (FILE_FULL_DIR_INFORMATION for FindExInfoBasic) from the directory."""
    ps = c.ptr_size
    buf = c.stack_alloc(_FIND_BUF, 8)
    iosb = c.stack_alloc(2 * ps, 8)
    us = c.unicode_string(mask) if mask is not None else 0
    cls = FS.FileFullDirectoryInformation if fh.basic else FS.FileBothDirectoryInformation
    st = c.nt("NtQueryDirectoryFile", fh.dir_handle, 0, 0, 0, iosb, buf, _FIND_BUF, cls, 1, us, int(restart))
    return st, c.read(buf, _FIND_BUF)


def _write_find_data(c, buf, raw: bytes, basic: bool) -> None:
    """WIN32_FIND_DATA from a directory entry: attributes, times, size, cFileName (cAlternateFileName empty:
    the sandbox keeps no 8.3 names)."""
    cr, ac, wr, _ch, eof, _alloc, attrs, namelen, ea = struct.unpack_from("<qqqqqqIII", raw, 8)
    off = 68 if basic else 94
    name = raw[off:off + namelen].decode("utf-16-le", "surrogatepass")
    # dwReserved0: a reparse point's tag (the entry's EaSize field holds it)
    tag = ea if attrs & V.FILE_ATTRIBUTE_REPARSE_POINT else 0
    head = struct.pack("<IQQQIIII", attrs, cr, ac, wr, eof >> 32, eof & 0xFFFFFFFF, tag, 0)
    if c.wide:
        data = name.encode("utf-16-le")[:2 * (MAX_PATH - 1)]
        body = head + data.ljust(2 * MAX_PATH, b"\0") + bytes(28)
    else:
        data = c.encode_t(name)[:MAX_PATH - 1]
        body = head + data.ljust(MAX_PATH, b"\0") + bytes(14)
    c.write(buf, body)


@api(K32, "HANDLE WINAPI FindFirstFile%(LPCTSTR lpFileName, LPWIN32_FIND_DATA lpFindFileData)")
def FindFirstFile(c, spec, buf):
    return _find_first(c, spec, buf, False)


@api(K32, "HANDLE WINAPI FindFirstFileEx%(LPCTSTR lpFileName, DWORD fInfoLevelId, LPVOID lpFindFileData, "
          "DWORD fSearchOp, LPVOID lpSearchFilter, DWORD dwAdditionalFlags)")
def FindFirstFileEx(c, spec, level, buf, op, filt, flags):
    if level not in (0, 1) or op not in (0, 1) or filt:
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return invalid_handle(c)
    return _find_first(c, spec, buf, level == 1)


def _find_first(c, spec, buf, basic: bool):
    """Split the spec into the directory and the pattern, open the directory (NtOpenFile), and read the first
    entry with the pattern as a mask in the DOS-wildcard form (FsRtlIsNameInExpression's <, >, ")."""
    bad = invalid_handle(c)
    if not spec:
        c.set_last_error(ERROR_PATH_NOT_FOUND if spec is not None else ERROR_INVALID_PARAMETER)
        return bad
    if spec.endswith(("\\", "/")):
        c.set_last_error(ERROR_FILE_NOT_FOUND)
        return bad
    nt_form = spec.startswith(("\\??\\", "\\\\?\\"))
    cut = max(spec.rfind("\\"), -1 if nt_form else spec.rfind("/"))
    if cut < 0 and len(spec) >= 2 and spec[1] == ":":
        cut = 1
    d, pattern = (spec[:cut + 1], spec[cut + 1:]) if cut >= 0 else (".", spec)
    if pattern in (".", "..") and not nt_form:
        # the name is normalised before it is split (RtlDosPathNameToNtPathName): "C:\\a\\b\\.." looks for
        # "a" in C:\\, "C:\\a\\." for "a" too; a root has no entry to find
        try:
            full = c.machine.vfs.full_path(spec, cwd(c))
        except NtStatusError as e:
            c.set_last_nt_error(e.status)
            return bad
        cut = full.rfind("\\")
        d, pattern = full[:cut + 1], full[cut + 1:]
        if not pattern:
            c.set_last_error(ERROR_FILE_NOT_FOUND)
            return bad
    if not pattern:
        pattern = "*"
    if "\\" in pattern or "/" in pattern:
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return bad
    nt = nt_name(c, d)
    if nt is None:
        return bad
    st, dh, _ = nt_open(c, nt, V.FILE_LIST_DIRECTORY | V.SYNCHRONIZE, V.FILE_SHARE_ALL,
                        V.FILE_DIRECTORY_FILE | V.FILE_SYNCHRONOUS_IO_NONALERT | FILE_OPEN_FOR_BACKUP_INTENT)
    if _failed(st):
        if st in (0xC0000103, 0xC0000034):   # the directory part is missing or is a file
            c.set_last_error(ERROR_PATH_NOT_FOUND)
        else:
            c.set_last_nt_error(st)
        return bad
    fh = FindHandle(dh, basic)
    mask = "*" if pattern in ("*", "*.*") else P.dos_pattern(pattern)
    st, raw = _find_next_entry(c, fh, mask, True)
    if _failed(st) or st == 0x80000006:
        nt_close(c, dh)
        c.set_last_error(ERROR_FILE_NOT_FOUND) if st in (0xC000000F, 0x80000006) else c.set_last_nt_error(st)
        return bad
    _write_find_data(c, buf, raw, basic)
    c.set_last_error(0)
    return c.proc.handles.insert(fh, 0x1F01FF)


@api(K32, "BOOL WINAPI FindNextFile%(HANDLE hFindFile, LPWIN32_FIND_DATA lpFindFileData)")
def FindNextFile(c, h, buf):
    try:
        fh = c.proc.handles.lookup(h, "FindFile")
    except NtStatusError:
        fh = None
    if not isinstance(fh, FindHandle):      # (a C runtime _findfirst handle is not kernel32's)
        c.set_last_error(ERROR_INVALID_HANDLE)
        return 0
    st, raw = _find_next_entry(c, fh, None, False)
    if st != 0:
        c.set_last_nt_error(st)      # STATUS_NO_MORE_FILES: ERROR_NO_MORE_FILES
        return 0
    _write_find_data(c, buf, raw, fh.basic)
    return 1


@api(K32, "BOOL WINAPI FindClose(HANDLE hFindFile)")
def FindClose(c, h):
    try:
        fh = c.proc.handles.lookup(h, "FindFile")
    except NtStatusError:
        fh = None
    if not isinstance(fh, (FindHandle, FindStreamHandle)):   # (a C runtime _findfirst handle is not kernel32's)
        c.set_last_error(ERROR_INVALID_HANDLE)
        return 0
    if isinstance(fh, FindHandle):
        nt_close(c, fh.dir_handle)
    c.proc.handles.close(h)
    return 1


class FindStreamHandle(KObject):
    """The state behind a FindFirstStreamW handle: the streams FileStreamInformation listed, the next one."""
    type_name = "FindFile"

    def __init__(self, streams: list[tuple[int, str]]):
        super().__init__()
        self.streams = streams
        self.next = 1


FindStreamInfoStandard = 0
ERROR_HANDLE_EOF_ = 38


def _put_stream(c, data: int, size: int, name: str) -> None:
    """WIN32_FIND_STREAM_DATA: LARGE_INTEGER StreamSize, WCHAR cStreamName[MAX_PATH + 36]."""
    c.write(data, struct.pack("<q", size) + name[:MAX_PATH + 35].encode("utf-16-le") + b"\0\0")


@api(K32, "HANDLE WINAPI FindFirstStreamW(LPCWSTR lpFileName, STREAM_INFO_LEVELS InfoLevel, LPVOID lpFindStreamData, "
          "DWORD dwFlags)")
def FindFirstStreamW(c, name, level, data, flags):
    """The file's streams from NtQueryInformationFile(FileStreamInformation) on a handle opened for nothing but
    synchronization (backup intent, so a directory opens too): the first in the WIN32_FIND_STREAM_DATA, the
    rest for FindNextStreamW. A file without streams (a directory): ERROR_HANDLE_EOF. Another level or any
    flag: ERROR_INVALID_PARAMETER."""
    bad = invalid_handle(c)
    if level != FindStreamInfoStandard or flags or not data:
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return bad
    nt = nt_name(c, name) if name else None
    if nt is None:
        if not name:
            c.set_last_error(ERROR_PATH_NOT_FOUND)
        return bad
    st, h, _ = nt_open(c, nt, V.SYNCHRONIZE, V.FILE_SHARE_ALL,
                       V.FILE_SYNCHRONOUS_IO_NONALERT | FILE_OPEN_FOR_BACKUP_INTENT)
    if _failed(st):
        c.set_last_nt_error(st)
        return bad
    size = 4096
    try:
        for _ in range(8):
            st, raw, info = query_info(c, h, FS.FileStreamInformation, size)
            if st != 0x80000005:                  # STATUS_BUFFER_OVERFLOW: a larger buffer
                break
            size *= 4
    finally:
        nt_close(c, h)
    if _failed(st) or st == 0x80000005:
        c.set_last_nt_error(st)
        return bad
    streams, off = [], 0
    while info and off + 24 <= info and len(streams) < 4096:
        nxt, nlen, ssize = struct.unpack_from("<IIq", raw, off)
        streams.append((ssize, raw[off + 24:off + 24 + nlen].decode("utf-16-le", "surrogatepass")))
        if not nxt:
            break
        off += nxt
    if not streams:
        c.set_last_error(ERROR_HANDLE_EOF_)
        return bad
    _put_stream(c, data, *streams[0])
    return c.proc.handles.insert(FindStreamHandle(streams), 0x1F01FF)


@api(K32, "BOOL WINAPI FindNextStreamW(HANDLE hFindStream, LPVOID lpFindStreamData)")
def FindNextStreamW(c, h, data):
    try:
        fh = c.proc.handles.lookup(h, "FindFile")
    except NtStatusError:
        fh = None
    if not isinstance(fh, FindStreamHandle):
        c.set_last_error(ERROR_INVALID_HANDLE)
        return 0
    if fh.next >= len(fh.streams):
        c.set_last_error(ERROR_HANDLE_EOF_)
        return 0
    _put_stream(c, data, *fh.streams[fh.next])
    fh.next += 1
    return 1


# ============================================================================================ information by handle
def _filetimes(c, pc, pa, pw, raw: bytes) -> None:
    cr, ac, wr = struct.unpack_from("<qqq", raw, 0)
    for p, v in ((pc, cr), (pa, ac), (pw, wr)):
        if p:
            c.write_u64(p, v)


@api(K32, "BOOL WINAPI GetFileTime(HANDLE hFile, LPFILETIME lpCreationTime, LPFILETIME lpLastAccessTime, "
          "LPFILETIME lpLastWriteTime)")
def GetFileTime(c, h, pc, pa, pw):
    st, raw, _ = query_info(c, h, FS.FileBasicInformation, 40)
    if _failed(st):
        c.set_last_nt_error(st)
        return 0
    _filetimes(c, pc, pa, pw, raw)
    return 1


def _filetime_arg(c, p: int) -> int:
    """A SetFileTime argument as FILE_BASIC_INFORMATION takes it: NULL or 0 leaves the time unchanged (0);
    0xFFFFFFFF'FFFFFFFF (stop updating it for this handle) is -1."""
    if not p:
        return 0
    ft = c.u32(p) | (c.u32(p + 4) << 32)
    return -1 if ft == 0xFFFFFFFFFFFFFFFF else ft


@api(K32, "BOOL WINAPI SetFileTime(HANDLE hFile, const FILETIME *lpCreationTime, const FILETIME *lpLastAccessTime, "
          "const FILETIME *lpLastWriteTime)")
def SetFileTime(c, h, pc, pa, pw):
    """FileBasicInformation with the three times (the handle needs FILE_WRITE_ATTRIBUTES). A time whose high
    bit is set (beyond what a FILETIME may hold) is ERROR_INVALID_PARAMETER."""
    times = [_filetime_arg(c, p) for p in (pc, pa, pw)]
    if any(t != -1 and t >> 63 for t in times):
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    st = set_info(c, h, FS.FileBasicInformation, struct.pack("<qqqqI4x", times[0], times[1], times[2], 0, 0))
    if _failed(st):
        c.set_last_nt_error(st)
        return 0
    return 1


@api(K32, "BOOL WINAPI GetFileInformationByHandle(HANDLE hFile, LPBY_HANDLE_FILE_INFORMATION info)")
def GetFileInformationByHandle(c, h, info):
    """FileAllInformation and the volume's serial number (FileFsVolumeInformation)."""
    st, raw, _ = query_info(c, h, FS.FileAllInformation, 104 + 2 * MAX_PATH)
    if st == 0x80000005:     # the name did not fit: the fixed part is there
        st = 0
    if not _failed(st):
        vst, vol = query_volume(c, h, FS.FileFsVolumeInformation, 24 + 64)
        st = 0 if vst == 0x80000005 else vst
    if _failed(st):
        c.set_last_nt_error(st)
        return 0
    cr, ac, wr, _ch, attrs = struct.unpack_from("<qqqqI", raw, 0)
    _alloc, eof, links = struct.unpack_from("<qqI", raw, 40)
    (index,) = struct.unpack_from("<q", raw, 64)
    serial = struct.unpack_from("<I", vol, 8)[0]
    c.write(info, struct.pack("<IQQQIIIIII", attrs, cr, ac, wr, serial, eof >> 32, eof & 0xFFFFFFFF, links,
                              (index >> 32) & 0xFFFFFFFF, index & 0xFFFFFFFF))
    return 1


# FILE_INFO_BY_HANDLE_CLASS → (FILE_INFORMATION_CLASS, minimum size)
FileBasicInfo, FileStandardInfo, FileNameInfo, FileRenameInfo, FileDispositionInfo = 0, 1, 2, 3, 4
FileAllocationInfo, FileEndOfFileInfo, FileStreamInfo, FileCompressionInfo, FileAttributeTagInfo = 5, 6, 7, 8, 9
FileIdBothDirectoryInfo, FileIdBothDirectoryRestartInfo, FileIoPriorityHintInfo = 10, 11, 12
FileRemoteProtocolInfo, FileFullDirectoryInfo, FileFullDirectoryRestartInfo = 13, 14, 15
FileStorageInfo, FileAlignmentInfo, FileIdInfo = 16, 17, 18
FileIdExtdDirectoryInfo, FileIdExtdDirectoryRestartInfo, FileDispositionInfoEx, FileRenameInfoEx = 19, 20, 21, 22
MaximumFileInfoByHandleClass = 25
_QUERY_BY_HANDLE = {FileBasicInfo: FS.FileBasicInformation, FileStandardInfo: FS.FileStandardInformation,
                    FileNameInfo: FS.FileNameInformation, FileAttributeTagInfo: FS.FileAttributeTagInformation,
                    FileAlignmentInfo: FS.FileAlignmentInformation, FileIdInfo: FS.FileIdInformation}
#: directory classes: (FILE_INFORMATION_CLASS, restart)
_DIR_BY_HANDLE = {FileIdBothDirectoryInfo: (FS.FileIdBothDirectoryInformation, False),
                  FileIdBothDirectoryRestartInfo: (FS.FileIdBothDirectoryInformation, True),
                  FileFullDirectoryInfo: (FS.FileFullDirectoryInformation, False),
                  FileFullDirectoryRestartInfo: (FS.FileFullDirectoryInformation, True)}


@api(K32, "BOOL WINAPI GetFileInformationByHandleEx(HANDLE hFile, FILE_INFO_BY_HANDLE_CLASS FileInformationClass, "
          "LPVOID lpFileInformation, DWORD dwBufferSize)")
def GetFileInformationByHandleEx(c, h, cls, buf, size):
    """NtQueryInformationFile with the class renumbered (Basic, Standard, Name, AttributeTag, Alignment, Id),
    NtQueryDirectoryFile for the directory classes; another valid class stops the guest as unimplemented, an
    invalid one is ERROR_INVALID_PARAMETER."""
    cls &= 0xFFFFFFFF
    if cls >= MaximumFileInfoByHandleClass or cls in (FileRenameInfo, FileDispositionInfo, FileAllocationInfo,
                                                      FileEndOfFileInfo, FileIoPriorityHintInfo,
                                                      FileDispositionInfoEx, FileRenameInfoEx):
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    ps = c.ptr_size
    iosb = c.stack_alloc(2 * ps, 8)
    if cls in _DIR_BY_HANDLE:
        ncls, restart = _DIR_BY_HANDLE[cls]
        st = c.nt("NtQueryDirectoryFile", h, 0, 0, 0, iosb, buf, size, ncls, 0, 0, int(restart))
    elif cls in _QUERY_BY_HANDLE:
        st = c.nt("NtQueryInformationFile", h, iosb, buf, size, _QUERY_BY_HANDLE[cls])
    else:
        from winhatch.win32.ntdll.seh import raise_unsupported
        raise_unsupported(c, f"GetFileInformationByHandleEx information class {cls}")
    if st != 0:
        c.set_last_nt_error(st)
        return 0
    return 1


FILE_IO_PRIORITY_HINT_INFO = 12
ERROR_BAD_LENGTH = 24
#: FileStandardInfo, FileNameInfo, FileStreamInfo, FileCompressionInfo, FileAttributeTagInfo, the directory
#: classes, FileRemoteProtocolInfo, FileStorageInfo, FileAlignmentInfo, FileIdInfo
_QUERY_ONLY_BY_HANDLE = {1, 2, 7, 8, 9, 10, 11, 13, 14, 15, 16, 17, 18, 19, 20}
_SET_BY_HANDLE = {FileBasicInfo: (FS.FileBasicInformation, 40), FileDispositionInfo: (FS.FileDispositionInformation, 1),
                  FileAllocationInfo: (FS.FileAllocationInformation, 8),
                  FileEndOfFileInfo: (FS.FileEndOfFileInformation, 8),
                  FileDispositionInfoEx: (FS.FileDispositionInformationEx, 4)}


@api(K32, "BOOL WINAPI SetFileInformationByHandle(HANDLE hFile, FILE_INFO_BY_HANDLE_CLASS FileInformationClass, "
          "LPVOID lpFileInformation, DWORD dwBufferSize)")
def SetFileInformationByHandle(c, h, cls, info, size):
    """NtSetInformationFile with the class renumbered: FileBasicInfo (times — 0 leaves one unchanged — and
    attributes), FileDispositionInfo(Ex), FileAllocationInfo, FileEndOfFileInfo, and FileRenameInfo(Ex), whose
    FileName is converted from a DOS path to an NT path first (RtlDosPathNameToNtPathName_U) when it has no
    RootDirectory. A buffer smaller than the class's structure is ERROR_INVALID_PARAMETER (as recorded from
    Wine, conf_setfileinfo). Other classes (priority hints, …) stop the guest."""
    cls &= 0xFFFFFFFF
    if cls in (FileRenameInfo, FileRenameInfoEx):
        ps = c.ptr_size
        fixed = 24 if ps == 8 else 16
        if size < fixed:
            c.set_last_error(ERROR_INVALID_PARAMETER)
            return 0
        head = c.read(info, fixed)
        flags, root = struct.unpack_from("<I4xQ" if ps == 8 else "<II", head, 0)
        (name_len,) = struct.unpack_from("<I", head, 16 if ps == 8 else 8)
        name_off = 20 if ps == 8 else 12
        if name_len & 1 or name_off + name_len > size:
            c.set_last_error(ERROR_INVALID_PARAMETER)
            return 0
        name = c.read(info + name_off, name_len).decode("utf-16-le", "surrogatepass") if name_len else ""
        name = name.split("\0", 1)[0]
        if not root:
            nt = nt_name(c, name) if name else None
            if nt is None:
                if not name:
                    c.set_last_error(ERROR_INVALID_PARAMETER)
                return 0
            name = nt
        data = name.encode("utf-16-le", "surrogatepass")
        if ps == 8:
            raw = struct.pack("<I4xQI", flags, root, len(data)) + data
        else:
            raw = struct.pack("<III", flags, root, len(data)) + data
        ncls = FS.FileRenameInformation if cls == FileRenameInfo else FS.FileRenameInformationEx
        st = set_info(c, h, ncls, raw + b"\0\0")
    elif cls == FILE_IO_PRIORITY_HINT_INFO:
        # PRIORITY_HINT: IoPriorityHintVeryLow, Low or Normal (kernel32/tests/file.c
        # test_SetFileInformationByHandle, written on Windows: a short buffer is ERROR_BAD_LENGTH)
        if size < 4:
            c.set_last_error(ERROR_BAD_LENGTH)
            return 0
        hint = c.u32(info)
        if hint >= 3:
            c.set_last_error(ERROR_INVALID_PARAMETER)
            return 0
        st = set_info(c, h, FS.FileIoPriorityHintInformation, struct.pack("<I", hint))
    elif cls in _QUERY_ONLY_BY_HANDLE:
        c.set_last_error(ERROR_INVALID_PARAMETER)       # classes that are only queried
        return 0
    elif cls in _SET_BY_HANDLE:
        ncls, minimum = _SET_BY_HANDLE[cls]
        if size < minimum:
            c.set_last_error(ERROR_INVALID_PARAMETER)
            return 0
        st = set_info(c, h, ncls, c.read(info, minimum))
    elif cls >= MaximumFileInfoByHandleClass:
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    else:
        from winhatch.win32.ntdll.seh import raise_unsupported
        raise_unsupported(c, f"SetFileInformationByHandle with information class {cls}")
    if _failed(st):
        c.set_last_nt_error(st)
        return 0
    return 1


# ============================================================================================ volumes
def _root_handle(c, root: str | None, *, volume_root: bool = False) -> int | None:
    """A handle to a volume's root directory (the current directory's drive when root is NULL). With
    `volume_root` (GetVolumeInformation) the name must be a volume's root: "C:" only when the drive's current
    directory is its root (else ERROR_INVALID_NAME), a directory below a root ERROR_DIR_NOT_ROOT."""
    if root is None:
        root = cwd(c)[:3]
    if root == "":
        c.set_last_error(3)     # ERROR_PATH_NOT_FOUND
        return None
    if not root.endswith(("\\", "/")):
        # "C:" names the drive's current directory: the volume's root only when that is the root
        try:
            full = P.full_path(root, cwd(c))
        except NtStatusError:
            full = ""
        if not (len(full) == 3 and full[1:] == ":\\"):
            c.set_last_error(123)   # ERROR_INVALID_NAME
            return None
        root = full
    r = root.replace("/", "\\")
    if r.startswith("\\\\.\\"):
        root = r = "\\\\?\\" + r[4:]
    if volume_root:
        if r.startswith("\\\\?\\"):
            body = r[4:]
        else:
            try:
                body = P.full_path(r, cwd(c))
            except NtStatusError:
                body = r
        is_root = (len(body) == 3 and body[1] == ":") or (body.upper().startswith("VOLUME{") and len(body) == 45)
        if not is_root and not body.startswith("\\\\"):
            c.set_last_error(144)   # ERROR_DIR_NOT_ROOT: a directory below a volume's root
            return None
    nt = nt_name(c, root)
    if nt is None:
        return None
    st, h, _ = nt_open(c, nt, V.FILE_READ_ATTRIBUTES | V.SYNCHRONIZE, V.FILE_SHARE_READ | V.FILE_SHARE_WRITE,
                       V.FILE_DIRECTORY_FILE | V.FILE_SYNCHRONOUS_IO_NONALERT | FILE_OPEN_FOR_BACKUP_INTENT)
    if _failed(st):
        c.set_last_nt_error(st)
        return None
    return h


def _put_text(c, buf: int, size: int, text: str, wide: bool) -> bool:
    data = text.encode("utf-16-le") if wide else text.encode("ascii", "replace")
    unit = 2 if wide else 1
    if size < len(data) // unit + 1:
        return False
    c.write(buf, data + bytes(unit))
    return True


def _volume_information(c, h, name_buf, name_size, serial_p, maxcomp_p, flags_p, fs_buf, fs_size,
                        wide: bool) -> int:
    st, vol = query_volume(c, h, FS.FileFsVolumeInformation, 24 + 2 * 32)
    if not _failed(st):
        ast, attr = query_volume(c, h, FS.FileFsAttributeInformation, 16 + 2 * 32)
        st = ast
    if _failed(st):
        c.set_last_nt_error(st)
        return 0
    serial, label_len = struct.unpack_from("<II", vol, 8)
    label = vol[18:18 + label_len].decode("utf-16-le")
    fs_flags, maxcomp, fs_len = struct.unpack_from("<IiI", attr, 0)
    fs = attr[12:12 + fs_len].decode("utf-16-le")
    if name_buf and not _put_text(c, name_buf, name_size, label, wide):
        c.set_last_error(24)    # ERROR_BAD_LENGTH
        return 0
    if fs_buf and not _put_text(c, fs_buf, fs_size, fs, wide):
        c.set_last_error(24)
        return 0
    if serial_p:
        c.write_u32(serial_p, serial)
    if maxcomp_p:
        c.write_u32(maxcomp_p, maxcomp)
    if flags_p:
        c.write_u32(flags_p, fs_flags)
    return 1


@api(K32, "BOOL WINAPI GetVolumeInformation%(LPCTSTR lpRootPathName, LPTSTR lpVolumeNameBuffer, DWORD nVolumeNameSize, "
          "LPDWORD lpVolumeSerialNumber, LPDWORD lpMaximumComponentLength, LPDWORD lpFileSystemFlags, "
          "LPTSTR lpFileSystemNameBuffer, DWORD nFileSystemNameSize)")
def GetVolumeInformation(c, root, name_buf, name_size, serial_p, maxcomp_p, flags_p, fs_buf, fs_size):
    h = _root_handle(c, root, volume_root=True)
    if h is None:
        return 0
    try:
        return _volume_information(c, h, name_buf, name_size, serial_p, maxcomp_p, flags_p, fs_buf, fs_size,
                                   c.wide)
    finally:
        nt_close(c, h)


@api(K32, "BOOL WINAPI GetVolumeInformationByHandleW(HANDLE hFile, LPWSTR lpVolumeNameBuffer, DWORD nVolumeNameSize, "
          "LPDWORD lpVolumeSerialNumber, LPDWORD lpMaximumComponentLength, LPDWORD lpFileSystemFlags, "
          "LPWSTR lpFileSystemNameBuffer, DWORD nFileSystemNameSize)")
def GetVolumeInformationByHandleW(c, h, name_buf, name_size, serial_p, maxcomp_p, flags_p, fs_buf, fs_size):
    """The volume of a file on a drive; a pipe or a console is on no volume (ERROR_INVALID_FUNCTION from
    NtQueryVolumeInformationFile's STATUS_INVALID_DEVICE_REQUEST)."""
    return _volume_information(c, h, name_buf, name_size, serial_p, maxcomp_p, flags_p, fs_buf, fs_size, True)


def _free_space(c, root) -> tuple[int, int, int, int] | None:
    """(sectors per cluster, bytes per sector, free clusters for the caller, total clusters)."""
    h = _root_handle(c, root)
    if h is None:
        return None
    st, raw = query_volume(c, h, FS.FileFsFullSizeInformation, 32)
    nt_close(c, h)
    if _failed(st):
        c.set_last_nt_error(st)
        return None
    total, caller_free, _actual, spc, bps = struct.unpack("<qqqII", raw)
    return spc, bps, caller_free, total


@api(K32, "BOOL WINAPI GetDiskFreeSpace%(LPCTSTR lpRootPathName, LPDWORD lpSectorsPerCluster, LPDWORD lpBytesPerSector, "
          "LPDWORD lpNumberOfFreeClusters, LPDWORD lpTotalNumberOfClusters)")
def GetDiskFreeSpace(c, root, spc_p, bps_p, free_p, total_p):
    r = _free_space(c, root)
    if r is None:
        return 0
    spc, bps, free, total = r
    for p, v in ((spc_p, spc), (bps_p, bps), (free_p, min(free, 0xFFFFFFFF)), (total_p, min(total, 0xFFFFFFFF))):
        if p:
            c.write_u32(p, v)
    return 1


@api(K32, "BOOL WINAPI GetDiskFreeSpaceEx%(LPCTSTR lpDirectoryName, PULARGE_INTEGER lpFreeBytesAvailableToCaller, "
          "PULARGE_INTEGER lpTotalNumberOfBytes, PULARGE_INTEGER lpTotalNumberOfFreeBytes)")
def GetDiskFreeSpaceEx(c, path, avail_p, total_p, free_p):
    """Any directory of the volume may be named (NULL: the current directory's)."""
    if path is not None and not path.endswith(("\\", "/")):
        path += "\\"
    r = _free_space(c, path)
    if r is None:
        return 0
    spc, bps, free, total = r
    cluster = spc * bps
    for p, v in ((avail_p, free * cluster), (total_p, total * cluster), (free_p, free * cluster)):
        if p:
            c.write_u64(p, v)
    return 1


@api(K32, "DWORD WINAPI GetLogicalDrives(void)")
def GetLogicalDrives(c):
    """The drive letters with a DOS device link (\\??\\X:), one bit each (NtOpenSymbolicLinkObject per
    letter; kernelbase reads the same from the process's device map)."""
    mask = 0
    hp = c.stack_alloc(c.ptr_size, 8)
    for i in range(26):
        oa = c.object_attributes(c.unicode_string(f"\\??\\{chr(65 + i)}:"))
        if c.nt("NtOpenSymbolicLinkObject", hp, 1, oa) == 0:
            mask |= 1 << i
            nt_close(c, c.ptr(hp))
    c.set_last_error(0)
    return mask


# ============================================================================================ the 16-bit era file functions
HFILE_ERROR = 0xFFFFFFFF
OF_READ, OF_WRITE, OF_READWRITE = 0, 1, 2
_OF_SHARE = {0x00: V.FILE_SHARE_READ | V.FILE_SHARE_WRITE,     # OF_SHARE_COMPAT
             0x10: 0,                                          # OF_SHARE_EXCLUSIVE
             0x20: V.FILE_SHARE_READ,                          # OF_SHARE_DENY_WRITE
             0x30: V.FILE_SHARE_WRITE,                         # OF_SHARE_DENY_READ
             0x40: V.FILE_SHARE_READ | V.FILE_SHARE_WRITE}     # OF_SHARE_DENY_NONE


def _hfile(c, h: int) -> int:
    """An HFILE (a 32-bit int) as the handle it is (sign-extended, as kernel32 does)."""
    h &= 0xFFFFFFFF
    return h - (1 << 32) & ((1 << (8 * c.ptr_size)) - 1) if h & 0x80000000 else h


@api(K32, "INT WINAPI _lcreat(LPCSTR lpPathName, INT iAttribute)")
def _lcreat(c, name, attr):
    """CreateFile(CREATE_ALWAYS) for reading and writing, sharing both, with the attributes' low bits."""
    h = create_file(c, name, V.GENERIC_READ | V.GENERIC_WRITE, V.FILE_SHARE_READ | V.FILE_SHARE_WRITE, 0,
                    CREATE_ALWAYS, attr & 7)
    return HFILE_ERROR if h == invalid_handle(c) else h & 0xFFFFFFFF


@api(K32, "INT WINAPI _lopen(LPCSTR lpPathName, INT iReadWrite)")
def _lopen(c, name, mode):
    access = {OF_READ: V.GENERIC_READ, OF_WRITE: V.GENERIC_WRITE,
              OF_READWRITE: V.GENERIC_READ | V.GENERIC_WRITE}.get(mode & 3, V.GENERIC_READ)
    share = _OF_SHARE.get(mode & 0x70, V.FILE_SHARE_READ | V.FILE_SHARE_WRITE)
    h = create_file(c, name, access, share, 0, OPEN_EXISTING, 0)
    return HFILE_ERROR if h == invalid_handle(c) else h & 0xFFFFFFFF


def _lread_impl(c, h, buf, count) -> int:
    n = c.stack_alloc(4, 4)
    if not ReadFile(c, _hfile(c, h), buf, count, n, 0):
        return HFILE_ERROR
    return c.u32(n)


def _lwrite_impl(c, h, buf, count) -> int:
    h = _hfile(c, h)
    if not count:               # a zero count cuts the file at the pointer
        return 0 if SetEndOfFile(c, h) else HFILE_ERROR
    n = c.stack_alloc(4, 4)
    if not WriteFile(c, h, buf, count, n, 0):
        return HFILE_ERROR
    return c.u32(n)


@api(K32, "UINT WINAPI _lread(INT hFile, LPVOID buffer, UINT count)")
def _lread(c, h, buf, count):
    return _lread_impl(c, h, buf, count)


@api(K32, "LONG WINAPI _hread(INT hFile, LPVOID buffer, LONG count)")
def _hread(c, h, buf, count):
    return _lread_impl(c, h, buf, count)


@api(K32, "UINT WINAPI _lwrite(INT hFile, LPCVOID buffer, UINT count)")
def _lwrite(c, h, buf, count):
    return _lwrite_impl(c, h, buf, count)


@api(K32, "LONG WINAPI _hwrite(INT hFile, LPCVOID buffer, LONG count)")
def _hwrite(c, h, buf, count):
    return _lwrite_impl(c, h, buf, count)


@api(K32, "LONG WINAPI _llseek(INT hFile, LONG lOffset, INT iOrigin)")
def _llseek(c, h, offset, origin):
    return SetFilePointer(c, _hfile(c, h), offset, 0, origin)


@api(K32, "INT WINAPI _lclose(INT hFile)")
def _lclose(c, h):
    st = c.nt("NtClose", _hfile(c, h))
    if _failed(st):
        c.set_last_nt_error(st)
        return HFILE_ERROR
    return 0


OF_PARSE, OF_DELETE, OF_VERIFY, OF_CANCEL, OF_CREATE, OF_PROMPT, OF_EXIST, OF_REOPEN = \
    0x100, 0x200, 0x400, 0x800, 0x1000, 0x2000, 0x4000, 0x8000
OFS_MAXPATHNAME = 128
OFSTRUCT_SIZE = 8 + OFS_MAXPATHNAME


@api(K32, "INT WINAPI OpenFile(LPCSTR lpFileName, LPVOID lpReOpenBuff, UINT uStyle)")
def OpenFile(c, name, ofs, style):
    """The 16-bit era's open: the name is looked up as SearchPath does (unless OF_CREATE or it has a path),
    OFSTRUCT gets its size, fixed-disk flag, error code and the full path (128 bytes at most:
    ERROR_FILENAME_EXCED_RANGE, the path left alone). OF_EXIST opens and closes (TRUE), OF_DELETE deletes
    (TRUE), OF_PARSE only fills the OFSTRUCT (0), OF_REOPEN takes the name from it, OF_CREATE truncates or
    creates; failures: HFILE_ERROR with nErrCode (and cBytes left as it was, as on Windows)."""
    from winhatch.win32.kernel32.files import GetFullPathName, SearchPath
    ERROR_FILENAME_EXCED_RANGE = 206

    def fail(err: int) -> int:
        c.set_last_error(err)
        if ofs:
            c.write(ofs + 2, struct.pack("<H", err & 0xFFFF))
        return HFILE_ERROR

    if style & OF_REOPEN and ofs:
        raw = c.read(ofs + 8, OFS_MAXPATHNAME)
        name = raw.split(b"\0", 1)[0].decode("latin-1")
    if not name:
        return fail(ERROR_FILE_NOT_FOUND)
    buf = c.stack_alloc(2 * 260 + 2, 8)
    n = 0 if style & OF_CREATE else SearchPath(c, None, name, None, 261, buf, 0)
    if not n:
        if not style & OF_CREATE and c.last_error() != ERROR_FILE_NOT_FOUND:
            return fail(c.last_error())
        n = GetFullPathName(c, name, 261, buf, 0)
        if not n or n > 260:
            return fail(ERROR_FILENAME_EXCED_RANGE)
    full = c.cstr(buf, 261).decode("latin-1")
    if len(full) >= OFS_MAXPATHNAME:
        return fail(ERROR_FILENAME_EXCED_RANGE)
    if ofs and not style & OF_CREATE and not (style & (OF_PARSE | OF_DELETE)):
        exists = GetFileAttributes(c, full) != 0xFFFFFFFF
        if not exists:
            c.write(ofs + 8, full.encode("latin-1") + b"\0")
            return fail(ERROR_FILE_NOT_FOUND)

    def fill() -> None:
        if ofs:
            c.write(ofs, struct.pack("<BBHHH", OFSTRUCT_SIZE, 1, 0, 0, 0) + full.encode("latin-1") + b"\0")

    if style & OF_PARSE:
        fill()
        return 0
    if style & OF_DELETE:
        if not DeleteFile(c, full):
            return fail(c.last_error())
        fill()
        return 1
    access = {OF_READ: V.GENERIC_READ, OF_WRITE: V.GENERIC_WRITE,
              OF_READWRITE: V.GENERIC_READ | V.GENERIC_WRITE}.get(style & 3, V.GENERIC_READ)
    share = _OF_SHARE.get(style & 0x70, V.FILE_SHARE_READ | V.FILE_SHARE_WRITE)
    h = create_file(c, full, access, share, 0, CREATE_ALWAYS if style & OF_CREATE else OPEN_EXISTING, 0)
    if h == invalid_handle(c):
        return fail(c.last_error())
    fill()
    if style & OF_EXIST:
        c.nt("NtClose", h)
        return 1
    return h & 0xFFFFFFFF
