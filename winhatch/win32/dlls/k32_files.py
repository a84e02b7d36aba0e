"""kernel32 / kernelbase: files, directories, consoles through handles.

CreateFile maps onto the VFS's NtCreateFile (`vfs.open`), its FILE_OBJECT (`FileObject`) goes into the
process's handle table; ReadFile / WriteFile work on files and on the console's handles. Errors are set as
kernelbase sets them (BaseSetLastNTError over the NTSTATUS, plus the few Win32-only cases: CREATE_NEW on
an existing file is ERROR_FILE_EXISTS, OPEN_ALWAYS / CREATE_ALWAYS over an existing file succeed with
ERROR_ALREADY_EXISTS).
"""
from __future__ import annotations

import struct

from winhatch.kernel.condrv import ConsoleFile
from winhatch.kernel.fileobj import FILE_TYPE_CHAR, FILE_TYPE_DISK, FILE_TYPE_UNKNOWN, FileObject
from winhatch.kernel.io import vfs as V
from winhatch.kernel.ob import KObject
from winhatch.ntstatus import (ERROR_ACCESS_DENIED, ERROR_ALREADY_EXISTS, ERROR_BROKEN_PIPE, ERROR_DIRECTORY,
                               ERROR_FILE_EXISTS, ERROR_FILE_NOT_FOUND, ERROR_INVALID_HANDLE,
                               ERROR_INVALID_NAME, ERROR_INVALID_PARAMETER, ERROR_NO_MORE_FILES,
                               ERROR_PATH_NOT_FOUND, STATUS_OBJECT_NAME_COLLISION, STATUS_OBJECT_PATH_NOT_FOUND,
                               NtStatusError, nt_to_win32)
from winhatch.win32.api import api

from .k32_common import (K32, cwd, guest_path, invalid_handle, nt_error, put_string_fits,
                         set_current_directory, signed32, write_filetime)

CREATE_NEW, CREATE_ALWAYS, OPEN_EXISTING, OPEN_ALWAYS, TRUNCATE_EXISTING = 1, 2, 3, 4, 5
_DISPOSITIONS = {CREATE_NEW: V.FILE_CREATE, CREATE_ALWAYS: V.FILE_OVERWRITE_IF, OPEN_EXISTING: V.FILE_OPEN,
                 OPEN_ALWAYS: V.FILE_OPEN_IF, TRUNCATE_EXISTING: V.FILE_OVERWRITE}
FILE_FLAG_WRITE_THROUGH = 0x80000000
FILE_FLAG_OVERLAPPED = 0x40000000
FILE_FLAG_NO_BUFFERING = 0x20000000
FILE_FLAG_SEQUENTIAL_SCAN = 0x08000000
FILE_FLAG_DELETE_ON_CLOSE = 0x04000000
FILE_FLAG_BACKUP_SEMANTICS = 0x02000000
FILE_FLAG_OPEN_REPARSE_POINT = 0x00200000
INVALID_FILE_ATTRIBUTES = 0xFFFFFFFF
INVALID_SET_FILE_POINTER = 0xFFFFFFFF
ERROR_NEGATIVE_SEEK = 131
ERROR_FILENAME_EXCED_RANGE = 206
MAX_PATH = 260
MOVEFILE_REPLACE_EXISTING = 0x1
MOVEFILE_COPY_ALLOWED = 0x2


def _lookup(c, h, *, quiet=False):
    try:
        return c.proc.handles.lookup(h)
    except NtStatusError as e:
        if not quiet:
            nt_error(c, e)
        return None


def _vfs(c):
    return c.machine.vfs


# ============================================================================================ CreateFile
@api(K32, "HANDLE WINAPI CreateFile%(LPCTSTR lpFileName, DWORD dwDesiredAccess, DWORD dwShareMode, "
          "LPSECURITY_ATTRIBUTES lpSecurityAttributes, DWORD dwCreationDisposition, DWORD dwFlagsAndAttributes, "
          "HANDLE hTemplateFile)")
def CreateFile(c, name, access, share, sa, disposition, flags, template):
    bad = invalid_handle(c)
    if name is None:
        c.set_last_error(ERROR_PATH_NOT_FOUND)
        return bad
    if not name:
        c.set_last_error(ERROR_PATH_NOT_FOUND)
        return bad
    if disposition not in _DISPOSITIONS:
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return bad
    if disposition == TRUNCATE_EXISTING and not access & (V.GENERIC_WRITE | V.FILE_WRITE_DATA | V.GENERIC_ALL):
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return bad
    options = 0
    if not flags & FILE_FLAG_OVERLAPPED:
        options |= V.FILE_SYNCHRONOUS_IO_NONALERT
    if flags & FILE_FLAG_WRITE_THROUGH:
        options |= V.FILE_WRITE_THROUGH
    if flags & FILE_FLAG_SEQUENTIAL_SCAN:
        options |= V.FILE_SEQUENTIAL_ONLY
    if flags & FILE_FLAG_DELETE_ON_CLOSE:
        options |= V.FILE_DELETE_ON_CLOSE
        access |= V.DELETE
    if not flags & FILE_FLAG_BACKUP_SEMANTICS:
        options |= V.FILE_NON_DIRECTORY_FILE
    nt_access = access | V.SYNCHRONIZE | V.FILE_READ_ATTRIBUTES
    inherit = bool(sa and c.u32(sa + (16 if c.ptr_size == 8 else 8)))  # SECURITY_ATTRIBUTES.bInheritHandle
    path = guest_path(c, name)
    try:
        f = _vfs(c).open(path, access=nt_access, disposition=_DISPOSITIONS[disposition], options=options,
                         share=share & V.FILE_SHARE_ALL, cwd=cwd(c), attributes=flags & 0xFFFF)
    except NtStatusError as e:
        if e.status == STATUS_OBJECT_NAME_COLLISION and disposition == CREATE_NEW:
            c.set_last_error(ERROR_FILE_EXISTS)
        elif e.status == 0xC00000BA and not flags & FILE_FLAG_BACKUP_SEMANTICS:  # a directory
            c.set_last_error(ERROR_ACCESS_DENIED)
        else:
            nt_error(c, e)
        return bad
    obj = FileObject(f, f.path)
    if f.device is not None:
        obj.file_type = FILE_TYPE_CHAR
    h = c.proc.handles.insert(obj, f.access, inherit=inherit)
    if disposition in (CREATE_ALWAYS, OPEN_ALWAYS) and f.information in (V.FILE_OPENED, V.FILE_OVERWRITTEN,
                                                                          V.FILE_SUPERSEDED):
        c.set_last_error(ERROR_ALREADY_EXISTS)
    else:
        c.set_last_error(0)
    return h


@api(K32, "BOOL WINAPI CloseHandle(HANDLE hObject)")
def CloseHandle(c, h):
    try:
        c.proc.handles.close(h)
    except NtStatusError as e:
        nt_error(c, e)
        return 0
    return 1


# ============================================================================================ read / write
@api(K32, "BOOL WINAPI ReadFile(HANDLE hFile, LPVOID lpBuffer, DWORD nNumberOfBytesToRead, "
          "LPDWORD lpNumberOfBytesRead, LPOVERLAPPED lpOverlapped)")
def ReadFile(c, h, buf, n, nread, ov):
    if nread:
        c.write_u32(nread, 0)
    obj = _lookup(c, h)
    if obj is None:
        return 0
    if not hasattr(obj, "read"):
        c.set_last_error(ERROR_INVALID_HANDLE)
        return 0
    try:
        if ov and isinstance(obj, FileObject):
            off = c.u32(ov + 2 * c.ptr_size) | (c.u32(ov + 2 * c.ptr_size + 4) << 32)
            obj.seek(off)
        data = obj.read(n) if n else b""
    except NtStatusError as e:
        nt_error(c, e)
        return 0
    if data:
        c.write(buf, data)
    if nread:
        c.write_u32(nread, len(data))
    if not data and n and isinstance(obj, ConsoleFile) and obj.file_type == 3:
        c.set_last_error(ERROR_BROKEN_PIPE)  # the write end of the pipe is closed
        return 0
    if ov:
        c.write_ptr(ov, 0)
        c.write_ptr(ov + c.ptr_size, len(data))
    return 1


@api(K32, "BOOL WINAPI WriteFile(HANDLE hFile, LPCVOID lpBuffer, DWORD nNumberOfBytesToWrite, "
          "LPDWORD lpNumberOfBytesWritten, LPOVERLAPPED lpOverlapped)")
def WriteFile(c, h, buf, n, written, ov):
    if written:
        c.write_u32(written, 0)
    obj = _lookup(c, h)
    if obj is None:
        return 0
    if not hasattr(obj, "write"):
        c.set_last_error(ERROR_INVALID_HANDLE)
        return 0
    data = c.read(buf, n) if n else b""
    try:
        if ov and isinstance(obj, FileObject):
            off = c.u32(ov + 2 * c.ptr_size) | (c.u32(ov + 2 * c.ptr_size + 4) << 32)
            obj.seek(off)
        count = obj.write(data) if data else 0
    except NtStatusError as e:
        nt_error(c, e)
        return 0
    count = len(data) if count is None else count
    if written:
        c.write_u32(written, count)
    if ov:
        c.write_ptr(ov, 0)
        c.write_ptr(ov + c.ptr_size, count)
    return 1


def _file(c, h) -> FileObject | None:
    obj = _lookup(c, h)
    if obj is None:
        return None
    if not isinstance(obj, FileObject):
        c.set_last_error(ERROR_INVALID_HANDLE)
        return None
    return obj


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


def _seek(c, h, dist: int, method: int) -> int | None:
    f = _file(c, h)
    if f is None:
        return None
    if method not in (0, 1, 2):
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return None
    base = (0, f.tell(), f.size)[method]
    if base + dist < 0:
        c.set_last_error(ERROR_NEGATIVE_SEEK)
        return None
    return f.seek(base + dist)


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
    f = _file(c, h)
    if f is None:
        return 0xFFFFFFFF
    size = f.size
    if phigh:
        c.write_u32(phigh, size >> 32)
    if size & 0xFFFFFFFF == 0xFFFFFFFF:
        c.set_last_error(0)
    return size & 0xFFFFFFFF


@api(K32, "BOOL WINAPI GetFileSizeEx(HANDLE hFile, PLARGE_INTEGER lpFileSize)")
def GetFileSizeEx(c, h, psize):
    f = _file(c, h)
    if f is None:
        return 0
    c.write_u64(psize, f.size)
    return 1


@api(K32, "BOOL WINAPI FlushFileBuffers(HANDLE hFile)")
def FlushFileBuffers(c, h):
    obj = _lookup(c, h)
    if obj is None:
        return 0
    if isinstance(obj, FileObject) and not obj.file.access & (V.FILE_WRITE_DATA | V.FILE_APPEND_DATA):
        c.set_last_error(ERROR_ACCESS_DENIED)
        return 0
    return 1


@api(K32, "BOOL WINAPI SetEndOfFile(HANDLE hFile)")
def SetEndOfFile(c, h):
    f = _file(c, h)
    if f is None:
        return 0
    try:
        f.file.set_size(f.tell())
    except NtStatusError as e:
        nt_error(c, e)
        return 0
    return 1


@api(K32, "DWORD WINAPI GetFileType(HANDLE hFile)")
def GetFileType(c, h):
    obj = _lookup(c, h)
    if obj is None:
        return FILE_TYPE_UNKNOWN
    t = getattr(obj, "file_type", None)
    if t is None:
        c.set_last_error(0)
        return FILE_TYPE_UNKNOWN
    c.set_last_error(0)
    return t


def _info_to_attr_data(fi) -> bytes:
    """WIN32_FILE_ATTRIBUTE_DATA / the first 36 bytes of WIN32_FIND_DATA and BY_HANDLE_FILE_INFORMATION."""
    return struct.pack("<IQQQII", fi.attributes, fi.creation_time, fi.last_access_time, fi.last_write_time,
                       fi.size >> 32, fi.size & 0xFFFFFFFF)


@api(K32, "BOOL WINAPI GetFileTime(HANDLE hFile, LPFILETIME lpCreationTime, LPFILETIME lpLastAccessTime, "
          "LPFILETIME lpLastWriteTime)")
def GetFileTime(c, h, pc, pa, pw):
    f = _file(c, h)
    if f is None:
        return 0
    fi = f.file.info
    write_filetime(c, pc, fi.creation_time)
    write_filetime(c, pa, fi.last_access_time)
    write_filetime(c, pw, fi.last_write_time)
    return 1


@api(K32, "BOOL WINAPI GetFileInformationByHandle(HANDLE hFile, LPBY_HANDLE_FILE_INFORMATION info)")
def GetFileInformationByHandle(c, h, info):
    f = _file(c, h)
    if f is None:
        return 0
    fi = f.file.info
    index = _file_index(f)
    c.write(info, struct.pack("<IQQQIIIIII", fi.attributes, fi.creation_time, fi.last_access_time,
                              fi.last_write_time, VOLUME_SERIAL, fi.size >> 32, fi.size & 0xFFFFFFFF, 1,
                              index >> 32, index & 0xFFFFFFFF))
    return 1


VOLUME_SERIAL = 0x4D2A1B3C


def _file_index(f) -> int:
    """A stable 48-bit file index per host file (the same in every run, as an NTFS file reference is)."""
    import hashlib
    digest = hashlib.sha256(str(f.file.host_path).encode("utf-8", "surrogatepass")).digest()
    return int.from_bytes(digest[:6], "little")


# FILE_INFO_BY_HANDLE_CLASS
FileBasicInfo, FileStandardInfo, FileNameInfo, FileAttributeTagInfo, FileIdInfo = 0, 1, 2, 9, 18
FileIdBothDirectoryInfo, FileIdBothDirectoryRestartInfo = 10, 11
FileFullDirectoryInfo, FileFullDirectoryRestartInfo = 14, 15
_DIR_CLASSES = {FileIdBothDirectoryInfo: (False, 104), FileIdBothDirectoryRestartInfo: (True, 104),
                FileFullDirectoryInfo: (False, 68), FileFullDirectoryRestartInfo: (True, 68)}
MaximumFileInfoByHandleClass = 25
ERROR_BAD_LENGTH = 24
ERROR_MORE_DATA = 234
_MIN_SIZE = {FileBasicInfo: 40, FileStandardInfo: 24, FileNameInfo: 8, FileAttributeTagInfo: 8, FileIdInfo: 24,
             FileIdBothDirectoryInfo: 112, FileIdBothDirectoryRestartInfo: 112,
             FileFullDirectoryInfo: 72, FileFullDirectoryRestartInfo: 72}


def _handle_file_name(c, obj) -> str | None:
    """The name NtQueryInformationFile(FileNameInformation) gives: the path on its volume or device (no drive
    letter: \\app\\x.txt; a pipe's name under \\Device\\NamedPipe). None: not supported for this handle."""
    from winhatch.kernel.io.pipe import PipeEnd
    if isinstance(obj, FileObject):
        path = obj.file.path
        return path[2:] if len(path) >= 2 and path[1] == ":" else None
    if isinstance(obj, PipeEnd):
        return obj.path[len("\\Device\\NamedPipe"):]
    if isinstance(obj, ConsoleFile) and obj.file_type == 3:
        # a std handle the host redirected to a pipe: an anonymous pipe the creator made
        return "\\Win32Pipes.00000000.%08x" % ("stdin", "stdout", "stderr").index(obj.stream)
    return None


def _dir_entry(fi, cls: int, name: bytes, index: int) -> bytes:
    """FILE_FULL_DIR_INFO (name at 68) or FILE_ID_BOTH_DIR_INFO (short name at 70, file id at 96, name at
    104), without NextEntryOffset's final value."""
    alloc = 0 if fi.is_dir else (fi.allocation_size or (fi.size + 4095) & ~4095)
    head = struct.pack("<IIqqqqqqIII", 0, 0, fi.creation_time, fi.last_access_time, fi.last_write_time,
                       fi.change_time, 0 if fi.is_dir else fi.size, alloc, fi.attributes, len(name), 0)
    if _DIR_CLASSES[cls][1] == 68:
        return head + name
    # no 8.3 names in winhatch: ShortNameLength 0; the file id is the entry's position (no host inode)
    return head + bytes(1 + 1 + 24) + struct.pack("<q", index) + name


def _directory_info(c, obj, cls: int, buf: int, size: int) -> int:
    """NtQueryDirectoryFile through GetFileInformationByHandleEx: as many entries as fit, 8-byte aligned and
    chained by NextEntryOffset; the ...RestartInfo classes start again from the first entry, the others go on
    where the last call stopped; ERROR_NO_MORE_FILES at the end."""
    if not isinstance(obj, FileObject) or not obj.file.is_dir:
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    restart, _ = _DIR_CLASSES[cls]
    state = getattr(obj, "dir_query", None)
    if restart or state is None:
        try:
            state = obj.dir_query = [obj.file.listdir("*"), 0]
        except NtStatusError as e:
            nt_error(c, e)
            return 0
    entries, pos = state
    if pos >= len(entries):
        c.set_last_error(ERROR_NO_MORE_FILES)
        return 0
    out = bytearray()
    last = None
    while pos < len(entries):
        rec = _dir_entry(entries[pos], cls, entries[pos].name.encode("utf-16-le"), pos + 1)
        start = (len(out) + 7) & ~7
        if start + len(rec) > size:
            break
        out += bytes(start - len(out))
        if last is not None:
            struct.pack_into("<I", out, last, start - last)
        last = start
        out += rec
        pos += 1
    if last is None:   # not even one entry fits
        c.set_last_error(ERROR_MORE_DATA)
        return 0
    state[1] = pos
    c.write(buf, bytes(out))
    return 1


@api(K32, "BOOL WINAPI GetFileInformationByHandleEx(HANDLE hFile, FILE_INFO_BY_HANDLE_CLASS FileInformationClass, "
          "LPVOID lpFileInformation, DWORD dwBufferSize)")
def GetFileInformationByHandleEx(c, h, cls, buf, size):
    """FileBasicInfo, FileStandardInfo, FileNameInfo, FileAttributeTagInfo and FileIdInfo; another valid
    class stops the guest as unimplemented, an invalid one is ERROR_INVALID_PARAMETER."""
    cls &= 0xFFFFFFFF
    if cls >= MaximumFileInfoByHandleClass:
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    if cls not in _MIN_SIZE:
        from .exc_seh import raise_unsupported
        raise_unsupported(c, f"GetFileInformationByHandleEx information class {cls}")
    obj = _lookup(c, h)
    if obj is None:
        return 0
    if size < _MIN_SIZE[cls]:
        c.set_last_error(ERROR_BAD_LENGTH)
        return 0
    if cls in _DIR_CLASSES:
        return _directory_info(c, obj, cls, buf, size)
    if cls == FileNameInfo:
        name = _handle_file_name(c, obj)
        if name is None:
            from .exc_seh import raise_unsupported
            raise_unsupported(c, f"GetFileInformationByHandleEx(FileNameInfo) on {type(obj).__name__}")
        data = name.encode("utf-16-le")
        room = (size - 4) & ~1
        c.write(buf, struct.pack("<I", len(data)) + data[:room])
        if room < len(data):
            c.set_last_error(ERROR_MORE_DATA)
            return 0
        return 1
    if not isinstance(obj, FileObject):
        if cls in (FileBasicInfo, FileAttributeTagInfo, FileIdInfo):   # pipes and consoles have no such data
            c.set_last_error(ERROR_INVALID_PARAMETER)
            return 0
        # FileStandardInfo of a pipe or console: no size, one link, not a directory
        c.write(buf, struct.pack("<QQIBBxx", 0, 0, 1, 0, 0))
        return 1
    fi = obj.file.info
    if cls == FileBasicInfo:
        c.write(buf, struct.pack("<qqqqI4x", fi.creation_time, fi.last_access_time, fi.last_write_time,
                                 fi.change_time, fi.attributes))
    elif cls == FileStandardInfo:
        alloc = fi.allocation_size or (fi.size + 4095) & ~4095
        c.write(buf, struct.pack("<qqIBBxx", 0 if fi.is_dir else alloc, 0 if fi.is_dir else fi.size, 1,
                                 int(obj.file.delete_on_close), int(fi.is_dir)))
    elif cls == FileAttributeTagInfo:
        c.write(buf, struct.pack("<II", fi.attributes, 0))
    else:   # FileIdInfo: the volume serial (64-bit) and a 128-bit file id
        c.write(buf, struct.pack("<Q", VOLUME_SERIAL) + _file_index(obj).to_bytes(16, "little"))
    return 1


# ============================================================================================ consoles
def _console_std(c, h):
    """The console stream object of a console handle, or None (last error ERROR_INVALID_HANDLE)."""
    obj = _lookup(c, h, quiet=True)
    if isinstance(obj, ConsoleFile):
        return getattr(obj.console, obj.stream)
    if isinstance(obj, FileObject) and obj.file.device in ("console", "conin", "conout") and c.proc.console:
        con = c.proc.console
        return con.stdin if obj.file.device == "conin" else con.stdout
    c.set_last_error(ERROR_INVALID_HANDLE)
    return None


@api(K32, "BOOL WINAPI GetConsoleMode(HANDLE hConsoleHandle, LPDWORD lpMode)")
def GetConsoleMode(c, h, pmode):
    std = _console_std(c, h)
    if std is None:
        return 0
    try:
        mode = std.mode
    except NtStatusError as e:
        nt_error(c, e)
        return 0
    c.write_u32(pmode, mode)
    return 1


@api(K32, "BOOL WINAPI SetConsoleMode(HANDLE hConsoleHandle, DWORD dwMode)")
def SetConsoleMode(c, h, mode):
    std = _console_std(c, h)
    if std is None:
        return 0
    try:
        std.mode = mode
    except NtStatusError as e:
        nt_error(c, e)
        return 0
    return 1


@api(K32, "BOOL WINAPI WriteConsole%(HANDLE hConsoleOutput, const VOID *lpBuffer, DWORD nNumberOfCharsToWrite, "
          "LPDWORD lpNumberOfCharsWritten, LPVOID lpReserved)")
def WriteConsole(c, h, buf, n, written, reserved):
    std = _console_std(c, h)
    if std is None or not hasattr(std, "write_console_w") or not std.is_console:
        c.set_last_error(ERROR_INVALID_HANDLE)
        return 0
    try:
        if c.wide:
            count = std.write_console_w(c.read(buf, 2 * n).decode("utf-16-le", "surrogatepass"))
        else:
            count = std.write(c.read(buf, n))
    except NtStatusError as e:
        nt_error(c, e)
        return 0
    if written:
        c.write_u32(written, count)
    return 1


@api(K32, "BOOL WINAPI ReadConsole%(HANDLE hConsoleInput, LPVOID lpBuffer, DWORD nNumberOfCharsToRead, "
          "LPDWORD lpNumberOfCharsRead, LPVOID pInputControl)")
def ReadConsole(c, h, buf, n, nread, control):
    """A line from the console input; on a handle that is not a console (a redirected stdin) it fails with
    ERROR_INVALID_HANDLE, as Windows does, and programs such as cmd.exe fall back to ReadFile."""
    std = _console_std(c, h)
    if std is None or not hasattr(std, "read_console_w") or not std.is_console:
        c.set_last_error(ERROR_INVALID_HANDLE)
        return 0
    try:
        if c.wide:
            data = std.read_console_w(n).encode("utf-16-le", "surrogatepass")
        else:
            data = std.read(n)
    except NtStatusError as e:
        nt_error(c, e)
        return 0
    c.write(buf, data)
    if nread:
        c.write_u32(nread, len(data) // c.tchar_size())
    return 1


@api(K32, "UINT WINAPI GetConsoleCP(void)")
def GetConsoleCP(c):
    con = c.proc.console
    return con.input_cp if con is not None else 0


@api(K32, "UINT WINAPI GetConsoleOutputCP(void)")
def GetConsoleOutputCP(c):
    con = c.proc.console
    return con.output_cp if con is not None else 0


def _set_cp(c, attr, cp):
    con = c.proc.console
    if con is None:
        c.set_last_error(ERROR_INVALID_HANDLE)
        return 0
    try:
        setattr(con, attr, cp)
    except NtStatusError:
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    return 1


@api(K32, "BOOL WINAPI SetConsoleCP(UINT wCodePageID)")
def SetConsoleCP(c, cp):
    return _set_cp(c, "input_cp", cp)


@api(K32, "BOOL WINAPI SetConsoleOutputCP(UINT wCodePageID)")
def SetConsoleOutputCP(c, cp):
    return _set_cp(c, "output_cp", cp)


@api(K32, "BOOL WINAPI SetConsoleCtrlHandler(PHANDLER_ROUTINE HandlerRoutine, BOOL Add)")
def SetConsoleCtrlHandler(c, routine, add):
    st = c.proc.subsystem.setdefault("console_ctrl", {"handlers": [], "ignore_ctrl_c": False})
    if not routine:
        st["ignore_ctrl_c"] = bool(add)
        return 1
    if add:
        st["handlers"].append(routine)
        return 1
    if routine in st["handlers"]:
        # the most recently added registration goes first
        idx = len(st["handlers"]) - 1 - st["handlers"][::-1].index(routine)
        del st["handlers"][idx]
        return 1
    c.set_last_error(ERROR_INVALID_PARAMETER)
    return 0


# ============================================================================================ find
class FindHandle(KObject):
    """The state behind a FindFirstFile handle (kernelbase keeps it in user memory; a kernel object here)."""
    type_name = "FindFile"

    def __init__(self, entries):
        super().__init__()
        self.entries = list(entries)
        self.index = 0


def _write_find_data(c, buf, fi) -> None:
    name = fi.name
    if c.wide:
        raw = name.encode("utf-16-le")[:2 * (MAX_PATH - 1)]
        body = _info_to_attr_data(fi) + bytes(8) + raw.ljust(2 * MAX_PATH, b"\0") + bytes(28)
    else:
        raw = c.encode_t(name)[:MAX_PATH - 1]
        body = _info_to_attr_data(fi) + bytes(8) + raw.ljust(MAX_PATH, b"\0") + bytes(14)
    c.write(buf, body)


@api(K32, "HANDLE WINAPI FindFirstFile%(LPCTSTR lpFileName, LPWIN32_FIND_DATA lpFindFileData)")
def FindFirstFile(c, spec, buf):
    return _find_first(c, spec, buf)


@api(K32, "HANDLE WINAPI FindFirstFileEx%(LPCTSTR lpFileName, DWORD fInfoLevelId, LPVOID lpFindFileData, "
          "DWORD fSearchOp, LPVOID lpSearchFilter, DWORD dwAdditionalFlags)")
def FindFirstFileEx(c, spec, level, buf, op, filt, flags):
    if level not in (0, 1) or op not in (0, 1):
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return invalid_handle(c)
    h = _find_first(c, spec, buf, dirs_only=(op == 1))
    return h


def _find_first(c, spec, buf, dirs_only=False):
    bad = invalid_handle(c)
    if not spec:
        c.set_last_error(ERROR_PATH_NOT_FOUND if spec is not None else ERROR_INVALID_PARAMETER)
        return bad
    if spec.endswith(("\\", "/")):
        c.set_last_error(ERROR_FILE_NOT_FOUND)
        return bad
    try:
        entries = _vfs(c).find(guest_path(c, spec), cwd(c))
    except NtStatusError as e:
        if e.status in (0xC0000103, 0xC0000034):  # the directory part is missing or is a file
            c.set_last_error(ERROR_PATH_NOT_FOUND)
        else:
            nt_error(c, e)
        return bad
    fh = FindHandle(entries)
    _write_find_data(c, buf, fh.entries[0])
    fh.index = 1
    c.set_last_error(0)
    return c.proc.handles.insert(fh, 0x1F01FF)


@api(K32, "BOOL WINAPI FindNextFile%(HANDLE hFindFile, LPWIN32_FIND_DATA lpFindFileData)")
def FindNextFile(c, h, buf):
    try:
        fh = c.proc.handles.lookup(h, "FindFile")
    except NtStatusError:
        c.set_last_error(ERROR_INVALID_HANDLE)
        return 0
    if fh.index >= len(fh.entries):
        c.set_last_error(ERROR_NO_MORE_FILES)
        return 0
    _write_find_data(c, buf, fh.entries[fh.index])
    fh.index += 1
    return 1


@api(K32, "BOOL WINAPI FindClose(HANDLE hFindFile)")
def FindClose(c, h):
    try:
        c.proc.handles.lookup(h, "FindFile")
        c.proc.handles.close(h)
    except NtStatusError:
        c.set_last_error(ERROR_INVALID_HANDLE)
        return 0
    return 1


# ============================================================================================ names
def _simple(c, fn, *paths, on_error=None) -> int:
    try:
        fn(*[guest_path(c, p) for p in paths])
    except NtStatusError as e:
        code = on_error(e) if on_error else None
        c.set_last_error(code if code is not None else nt_to_win32(e.status))
        return 0
    return 1


def _need(c, *names) -> bool:
    for n in names:
        if n is None:
            c.set_last_error(ERROR_INVALID_PARAMETER)
            return False
        if n == "":
            c.set_last_error(ERROR_PATH_NOT_FOUND)
            return False
    return True


@api(K32, "BOOL WINAPI DeleteFile%(LPCTSTR lpFileName)")
def DeleteFile(c, name):
    if not _need(c, name):
        return 0
    return _simple(c, lambda p: _vfs(c).delete(p, cwd(c)), name)


@api(K32, "BOOL WINAPI CreateDirectory%(LPCTSTR lpPathName, LPSECURITY_ATTRIBUTES lpSecurityAttributes)")
def CreateDirectory(c, name, sa):
    if not _need(c, name):
        return 0
    return _simple(c, lambda p: _vfs(c).mkdir(p, cwd(c)), name)


@api(K32, "BOOL WINAPI RemoveDirectory%(LPCTSTR lpPathName)")
def RemoveDirectory(c, name):
    if not _need(c, name):
        return 0
    return _simple(c, lambda p: _vfs(c).rmdir(p, cwd(c)), name)


@api(K32, "BOOL WINAPI MoveFile%(LPCTSTR lpExistingFileName, LPCTSTR lpNewFileName)")
def MoveFile(c, src, dst):
    return MoveFileEx(c, src, dst, MOVEFILE_COPY_ALLOWED)


@api(K32, "BOOL WINAPI MoveFileEx%(LPCTSTR lpExistingFileName, LPCTSTR lpNewFileName, DWORD dwFlags)")
def MoveFileEx(c, src, dst, flags):
    if not _need(c, src):
        return 0
    if dst is None:
        # MOVEFILE_DELAY_UNTIL_REBOOT deletions are not supported by the sandbox
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    return _simple(c, lambda s, d: _vfs(c).rename(s, d, replace=bool(flags & MOVEFILE_REPLACE_EXISTING),
                                                   cwd=cwd(c)), src, dst)


@api(K32, "BOOL WINAPI CopyFile%(LPCTSTR lpExistingFileName, LPCTSTR lpNewFileName, BOOL bFailIfExists)")
def CopyFile(c, src, dst, fail_if_exists):
    if not _need(c, src, dst):
        return 0
    vfs = _vfs(c)
    s, d = guest_path(c, src), guest_path(c, dst)
    try:
        fin = vfs.open(s, access=V.GENERIC_READ | V.SYNCHRONIZE, disposition=V.FILE_OPEN,
                       options=V.FILE_NON_DIRECTORY_FILE, share=V.FILE_SHARE_READ | V.FILE_SHARE_DELETE, cwd=cwd(c))
    except NtStatusError as e:
        if e.status == 0xC00000BA:
            c.set_last_error(ERROR_ACCESS_DENIED)
        else:
            nt_error(c, e)
        return 0
    try:
        attrs = fin.info.attributes & ~V.FILE_ATTRIBUTE_DIRECTORY
        try:
            fout = vfs.open(d, access=V.GENERIC_WRITE | V.SYNCHRONIZE,
                            disposition=V.FILE_CREATE if fail_if_exists else V.FILE_OVERWRITE_IF,
                            options=V.FILE_NON_DIRECTORY_FILE, share=0, cwd=cwd(c))
        except NtStatusError as e:
            if e.status == STATUS_OBJECT_NAME_COLLISION:
                c.set_last_error(ERROR_FILE_EXISTS)
            elif e.status == 0xC00000BA:
                c.set_last_error(ERROR_ACCESS_DENIED)
            else:
                nt_error(c, e)
            return 0
        try:
            while chunk := fin.read(1 << 20):
                fout.write(chunk)
        except NtStatusError as e:
            nt_error(c, e)
            return 0
        finally:
            fout.close()
        if attrs not in (V.FILE_ATTRIBUTE_ARCHIVE, V.FILE_ATTRIBUTE_NORMAL):
            try:
                vfs.set_attributes(d, attrs, cwd(c))
            except NtStatusError:
                pass
    finally:
        fin.close()
    c.set_last_error(0)
    return 1


@api(K32, "DWORD WINAPI GetFileAttributes%(LPCTSTR lpFileName)")
def GetFileAttributes(c, name):
    if not _need(c, name):
        return INVALID_FILE_ATTRIBUTES
    try:
        return _vfs(c).stat(guest_path(c, name), cwd(c)).attributes
    except NtStatusError as e:
        nt_error(c, e)
        return INVALID_FILE_ATTRIBUTES


@api(K32, "BOOL WINAPI GetFileAttributesEx%(LPCTSTR lpFileName, DWORD fInfoLevelId, LPVOID lpFileInformation)")
def GetFileAttributesEx(c, name, level, buf):
    if level != 0:
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    if not _need(c, name):
        return 0
    try:
        fi = _vfs(c).stat(guest_path(c, name), cwd(c))
    except NtStatusError as e:
        nt_error(c, e)
        return 0
    c.write(buf, _info_to_attr_data(fi))
    return 1


@api(K32, "BOOL WINAPI SetFileAttributes%(LPCTSTR lpFileName, DWORD dwFileAttributes)")
def SetFileAttributes(c, name, attrs):
    if not _need(c, name):
        return 0
    return _simple(c, lambda p: _vfs(c).set_attributes(p, attrs, cwd(c)), name)


# ============================================================================================ drives
DRIVE_NO_ROOT_DIR, DRIVE_FIXED = 1, 3


@api(K32, "UINT WINAPI GetDriveType%(LPCTSTR lpRootPathName)")
def GetDriveType(c, root):
    """DRIVE_FIXED for a drive the machine has (its volumes are fixed disks), DRIVE_NO_ROOT_DIR for a path that
    is not the root of one ("X:\\" or "X:"; NULL and "\\" are the current directory's drive)."""
    r = (root or "").replace("/", "\\")
    if root is None or r == "\\":
        r = cwd(c)[:3]
    if len(r) in (2, 3) and r[1] == ":" and r[0].isalpha() and (len(r) == 2 or r[2] == "\\"):
        if r[0].upper() in _vfs(c).volume_devices:
            return DRIVE_FIXED
    return DRIVE_NO_ROOT_DIR


@api(K32, "BOOL WINAPI GetVolumePathName%(LPCTSTR lpszFileName, LPTSTR lpszVolumePathName, DWORD cchBufferLength)")
def GetVolumePathName(c, name, buf, size):
    """The mount point of the volume holding a path: the machine's volumes are mounted at their drive roots
    (no folder mount points), so it is the root of the path's drive ("C:\\"), whether or not the rest of the
    path exists. A buffer too small for it: ERROR_FILENAME_EXCED_RANGE."""
    if not name:
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    p = name.replace("/", "\\")
    if p.startswith("\\\\?\\") and len(p) > 5 and p[5] == ":":
        p = p[4:]
    if p.startswith("\\\\"):
        from .exc_seh import raise_unsupported
        raise_unsupported(c, f"GetVolumePathName of a UNC or device path ({name!r})")
    drive = p[0].upper() if len(p) >= 2 and p[1] == ":" and p[0].isalpha() else cwd(c)[0].upper()
    root = f"{drive}:\\"
    if size <= len(root):
        c.set_last_error(206)   # ERROR_FILENAME_EXCED_RANGE
        return 0
    c.write(buf, c.encode_t(root) + bytes(c.tchar_size()))
    return 1


# ============================================================================================ paths
@api(K32, "DWORD WINAPI GetLongPathName%(LPCTSTR lpszShortPath, LPTSTR lpszLongPath, DWORD cchBuffer)")
def GetLongPathName(c, name, buf, size):
    """The path with each 8.3 component replaced by its long name. winhatch's volumes keep no 8.3 names (as a
    Windows volume with 8dot3 name creation disabled), so every component of an existing path is already its
    long name: the path comes back as given, or the size needed with its NUL. The path is looked up one
    component at a time, so a missing directory is ERROR_FILE_NOT_FOUND like a missing file; NULL and "" are
    ERROR_PATH_NOT_FOUND (as recorded from Wine, conf_longpath)."""
    if not name:
        c.set_last_error(ERROR_PATH_NOT_FOUND)
        return 0
    try:
        _vfs(c).stat(guest_path(c, name), cwd(c))
    except NtStatusError as e:
        if e.status == STATUS_OBJECT_PATH_NOT_FOUND:
            c.set_last_error(ERROR_FILE_NOT_FOUND)
        else:
            nt_error(c, e)
        return 0
    return put_string_fits(c, buf, size, name)


@api(K32, "DWORD WINAPI GetShortPathName%(LPCTSTR lpszLongPath, LPTSTR lpszShortPath, DWORD cchBuffer)")
def GetShortPathName(c, name, buf, size):
    """The 8.3 form of a path. Where a component has no 8.3 name (winhatch's volumes keep none, as a volume with
    8dot3 name creation disabled), Windows keeps its long name: the path comes back as given."""
    return GetLongPathName(c, name, buf, size)


@api(K32, "DWORD WINAPI GetFullPathName%(LPCTSTR lpFileName, DWORD nBufferLength, LPTSTR lpBuffer, "
          "LPTSTR *lpFilePart)")
def GetFullPathName(c, name, size, buf, pfile):
    if name is None or name == "":
        c.set_last_error(ERROR_INVALID_PARAMETER if name is None else ERROR_INVALID_NAME)
        return 0
    try:
        full = _vfs(c).full_path(name, cwd(c))
    except NtStatusError as e:
        nt_error(c, e)
        return 0
    n = put_string_fits(c, buf, size, full)
    if pfile and n <= len(full) and buf:
        if full.endswith("\\"):
            c.write_ptr(pfile, 0)
        else:
            cut = full.rfind("\\") + 1
            c.write_ptr(pfile, buf + len(c.encode_t(full[:cut])))
    return n


@api(K32, "DWORD WINAPI GetCurrentDirectory%(DWORD nBufferLength, LPTSTR lpBuffer)")
def GetCurrentDirectory(c, size, buf):
    return put_string_fits(c, buf, size, cwd(c))


@api(K32, "BOOL WINAPI SetCurrentDirectory%(LPCTSTR lpPathName)")
def SetCurrentDirectory(c, name):
    if not _need(c, name):
        return 0
    vfs = _vfs(c)
    try:
        full = vfs.full_path(name, cwd(c))
        fi = vfs.stat(guest_path(c, full), cwd(c))
    except NtStatusError as e:
        nt_error(c, e)
        return 0
    if not fi.is_dir:
        c.set_last_error(ERROR_DIRECTORY)
        return 0
    # keep the case the file system has for the existing path
    if fi.path and fi.path.upper() == full.rstrip("\\").upper():
        full = fi.path
    try:
        set_current_directory(c, full)
    except NtStatusError:
        c.set_last_error(ERROR_FILENAME_EXCED_RANGE)
        return 0
    return 1


def _env(c, name: str) -> str | None:
    env = c.proc.subsystem.get("environment", {})
    for k, v in env.items():
        if k.upper() == name.upper():
            return v
    return None


@api(K32, "DWORD WINAPI GetTempPath%(DWORD nBufferLength, LPTSTR lpBuffer)")
def GetTempPath(c, size, buf):
    path = None
    for var in ("TMP", "TEMP", "USERPROFILE"):
        v = _env(c, var)
        if v:
            path = v
            break
    if path is None:
        path = c.machine.system_root
    try:
        path = _vfs(c).full_path(path, cwd(c))
    except NtStatusError:
        pass
    if not path.endswith("\\"):
        path += "\\"
    return put_string_fits(c, buf, size, path)


@api(K32, "UINT WINAPI GetTempFileName%(LPCTSTR lpPathName, LPCTSTR lpPrefixString, UINT uUnique, "
          "LPTSTR lpTempFileName)")
def GetTempFileName(c, path, prefix, unique, buf):
    if path is None or not buf:
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    vfs = _vfs(c)
    base = path if path.endswith("\\") or not path else path + "\\"
    pre = (prefix or "")[:3]

    def name_for(n: int) -> str:
        return f"{base}{pre}{n & 0xFFFF:X}.TMP"

    if len(name_for(0xFFFF)) >= MAX_PATH:
        c.set_last_error(ERROR_FILENAME_EXCED_RANGE)
        return 0
    if unique:
        out = name_for(unique)
        c.write(buf, c.encode_t(out) + bytes(c.tchar_size()))
        return unique & 0xFFFF
    try:
        st = vfs.stat(guest_path(c, path or "."), cwd(c))
        if not st.is_dir:
            raise NtStatusError(0xC0000103)
    except NtStatusError:
        c.set_last_error(ERROR_DIRECTORY)
        return 0
    start = (c.machine.clock.now() // 10_000) & 0xFFFF or 1
    n = start
    while True:
        out = name_for(n)
        try:
            f = vfs.open(guest_path(c, out), access=V.GENERIC_WRITE | V.SYNCHRONIZE, disposition=V.FILE_CREATE,
                         options=V.FILE_NON_DIRECTORY_FILE, cwd=cwd(c))
            f.close()
            break
        except NtStatusError as e:
            if e.status != STATUS_OBJECT_NAME_COLLISION:
                nt_error(c, e)
                return 0
        n = (n % 0xFFFF) + 1
        if n == start:
            c.set_last_error(ERROR_FILE_EXISTS)
            return 0
    c.write(buf, c.encode_t(out) + bytes(c.tchar_size()))
    c.set_last_error(0)
    return n


@api(K32, "UINT WINAPI GetWindowsDirectory%(LPTSTR lpBuffer, UINT uSize)")
def GetWindowsDirectory(c, buf, size):
    return put_string_fits(c, buf, size, c.machine.system_root)


@api(K32, "UINT WINAPI GetSystemWindowsDirectory%(LPTSTR lpBuffer, UINT uSize)")
def GetSystemWindowsDirectory(c, buf, size):
    return put_string_fits(c, buf, size, c.machine.system_root)


@api(K32, "UINT WINAPI GetSystemDirectory%(LPTSTR lpBuffer, UINT uSize)")
def GetSystemDirectory(c, buf, size):
    # System32 even for a WoW64 process: the file-system redirector maps it to SysWOW64 on access
    return put_string_fits(c, buf, size, c.machine.system_root + "\\system32")


@api(K32, "UINT WINAPI GetSystemWow64Directory%(LPTSTR lpBuffer, UINT uSize)")
def GetSystemWow64Directory(c, buf, size):
    return put_string_fits(c, buf, size, c.machine.system_root + "\\SysWOW64")


# ============================================================================================ volumes
# Every drive of the sandbox is one NTFS volume: no label, serial VOLUME_SERIAL, 255-character names. The
# flags are the NTFS capabilities winhatch's file system keeps: case-preserved Unicode names, ACLs, sparse
# files and reparse points are not claimed (winhatch has none of them).
FILE_CASE_SENSITIVE_SEARCH, FILE_CASE_PRESERVED_NAMES, FILE_UNICODE_ON_DISK = 0x1, 0x2, 0x4
VOLUME_FLAGS = FILE_CASE_SENSITIVE_SEARCH | FILE_CASE_PRESERVED_NAMES | FILE_UNICODE_ON_DISK
ERROR_BAD_LENGTH_VOL = 24


def _volume_info(c, name_buf, name_size, serial_p, maxcomp_p, flags_p, fs_buf, fs_size, wide: bool) -> int:
    unit = 2 if wide else 1
    enc = (lambda s: s.encode("utf-16-le")) if wide else (lambda s: s.encode("ascii"))
    label, fs = enc(""), enc("NTFS")
    if (name_buf and name_size < len(label) // unit + 1) or (fs_buf and fs_size < len(fs) // unit + 1):
        c.set_last_error(ERROR_BAD_LENGTH_VOL)
        return 0
    if name_buf:
        c.write(name_buf, label + bytes(unit))
    if fs_buf:
        c.write(fs_buf, fs + bytes(unit))
    if serial_p:
        c.write_u32(serial_p, VOLUME_SERIAL)
    if maxcomp_p:
        c.write_u32(maxcomp_p, 255)
    if flags_p:
        c.write_u32(flags_p, VOLUME_FLAGS)
    return 1


@api(K32, "BOOL WINAPI GetVolumeInformationByHandleW(HANDLE hFile, LPWSTR lpVolumeNameBuffer, DWORD nVolumeNameSize, "
          "LPDWORD lpVolumeSerialNumber, LPDWORD lpMaximumComponentLength, LPDWORD lpFileSystemFlags, "
          "LPWSTR lpFileSystemNameBuffer, DWORD nFileSystemNameSize)")
def GetVolumeInformationByHandleW(c, h, name_buf, name_size, serial_p, maxcomp_p, flags_p, fs_buf, fs_size):
    """The volume of a file on a drive; a pipe or a console is on no volume (ERROR_INVALID_FUNCTION as
    NtQueryVolumeInformationFile's STATUS_INVALID_DEVICE_REQUEST gives)."""
    obj = _lookup(c, h)
    if obj is None:
        return 0
    if not isinstance(obj, FileObject):
        c.set_last_error(1)   # ERROR_INVALID_FUNCTION
        return 0
    return _volume_info(c, name_buf, name_size, serial_p, maxcomp_p, flags_p, fs_buf, fs_size, True)


def _filetime_arg(c, p: int) -> int | None:
    """A SetFileTime argument: NULL, or a FILETIME of 0, leaves the time unchanged; 0xFFFFFFFF'FFFFFFFF (stop
    updating it for this handle's later operations) also leaves it as it is now."""
    if not p:
        return None
    ft = c.u32(p) | (c.u32(p + 4) << 32)
    return None if ft in (0, 0xFFFFFFFFFFFFFFFF) else ft


@api(K32, "BOOL WINAPI SetFileTime(HANDLE hFile, const FILETIME *lpCreationTime, const FILETIME *lpLastAccessTime, "
          "const FILETIME *lpLastWriteTime)")
def SetFileTime(c, h, pc, pa, pw):
    """The handle needs FILE_WRITE_ATTRIBUTES (ERROR_ACCESS_DENIED). A time whose high bit is set (beyond
    what a FILETIME may hold) is ERROR_INVALID_PARAMETER."""
    f = _file(c, h)
    if f is None:
        return 0
    times = [_filetime_arg(c, p) for p in (pc, pa, pw)]
    if any(t is not None and t >> 63 for t in times):
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    try:
        f.file.set_times(*times)
    except NtStatusError as e:
        nt_error(c, e)
        return 0
    return 1


# ============================================================================================ SetFileInformationByHandle
FileBasicInfo, FileRenameInfo, FileDispositionInfo, FileAllocationInfo, FileEndOfFileInfo = 0, 3, 4, 5, 6
FileDispositionInfoEx = 21
_SET_INFO_SIZES = {FileBasicInfo: 40, FileDispositionInfo: 1, FileAllocationInfo: 8, FileEndOfFileInfo: 8}


@api(K32, "BOOL WINAPI SetFileInformationByHandle(HANDLE hFile, FILE_INFO_BY_HANDLE_CLASS FileInformationClass, "
          "LPVOID lpFileInformation, DWORD dwBufferSize)")
def SetFileInformationByHandle(c, h, cls, info, size):
    """NtSetInformationFile with the FILE_INFO_BY_HANDLE_CLASS renumbered: FileBasicInfo (the four times — 0
    leaves one unchanged — and the attributes, 0 leaving them too), FileDispositionInfo (delete on last close),
    FileAllocationInfo (an allocation smaller than the file cuts it there: how Rust's File::create truncates a
    file it opened with OPEN_ALWAYS) and FileEndOfFileInfo (SetEndOfFile at that size). A buffer smaller than
    the class's structure is ERROR_INVALID_PARAMETER (as recorded from Wine, conf_setfileinfo). The other classes
    (renames, priority hints, …) stop the guest."""
    if cls not in _SET_INFO_SIZES:
        from .exc_seh import raise_unsupported
        raise_unsupported(c, f"SetFileInformationByHandle with information class {cls}")
    f = _file(c, h)
    if f is None:
        return 0
    if size < _SET_INFO_SIZES[cls]:
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    raw = c.read(info, _SET_INFO_SIZES[cls])
    vf = f.file
    try:
        if cls == FileBasicInfo:
            creation, access, write, _change, attrs = struct.unpack("<qqqqI", raw[:36])
            vf.set_times(*(t if t > 0 else None for t in (creation, access, write)))
            if attrs:
                _vfs(c).set_attributes(vf.path, attrs, cwd(c))
        elif cls == FileDispositionInfo:
            _vfs(c).set_disposition(vf, bool(raw[0]))
        elif cls == FileAllocationInfo:
            (alloc,) = struct.unpack("<q", raw)
            if alloc < 0:
                c.set_last_error(ERROR_INVALID_PARAMETER)
                return 0
            if alloc < vf.size:
                vf.set_size(alloc)
            elif not vf.access & V.FILE_WRITE_DATA:
                c.set_last_error(ERROR_ACCESS_DENIED)
                return 0
        else:
            (eof,) = struct.unpack("<q", raw)
            vf.set_size(eof)
    except NtStatusError as e:
        nt_error(c, e)
        return 0
    return 1


# ============================================================================================ final path names
FILE_NAME_OPENED = 0x8
VOLUME_NAME_DOS, VOLUME_NAME_GUID, VOLUME_NAME_NT, VOLUME_NAME_NONE = 0x0, 0x1, 0x2, 0x4


def _on_disk_case(path: str, host_path) -> str:
    """The trailing components of a Win32 path spelled as the directory entries they resolved to (a
    normalized name has the file system's case)."""
    if host_path is None:
        return path
    parts = path.split("\\")
    host = list(host_path.parts)
    k = 1
    while k < len(parts) and k <= len(host) and parts[-k].casefold() == host[-k].casefold():
        parts[-k] = host[-k]
        k += 1
    return "\\".join(parts)


@api(K32, "DWORD WINAPI GetFinalPathNameByHandle%(HANDLE hFile, LPTSTR lpszFilePath, DWORD cchFilePath, "
          "DWORD dwFlags)")
def GetFinalPathNameByHandle(c, h, buf, size, flags):
    """The path of an open file: \\\\?\\C:\\dir\\name (VOLUME_NAME_DOS), \\Device\\HarddiskVolumeN\\dir\\name
    (VOLUME_NAME_NT) or \\dir\\name (VOLUME_NAME_NONE); FILE_NAME_NORMALIZED spells the names as the file
    system does. Returns the length without the NUL, or the size needed with it when the buffer is short."""
    if flags & ~(FILE_NAME_OPENED | 0x7) or (flags & 0x7) not in (VOLUME_NAME_DOS, VOLUME_NAME_GUID,
                                                                  VOLUME_NAME_NT, VOLUME_NAME_NONE):
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    f = _file(c, h)
    if f is None:
        return 0
    vf = f.file
    path = getattr(vf, "path", None) or ""
    if f.file_type != FILE_TYPE_DISK or len(path) < 3 or path[1:3] != ":\\":
        from winhatch.win32.crt.runtime import not_implemented
        not_implemented(c, f"GetFinalPathNameByHandle of a handle that is not a disk file ({path!r})")
    if not flags & FILE_NAME_OPENED:
        path = _on_disk_case(path, getattr(vf, "host_path", None))
    drive, rest = path[0].upper(), path[2:]
    kind = flags & 0x7
    if kind == VOLUME_NAME_DOS:
        text = "\\\\?\\" + drive + ":" + rest
    elif kind == VOLUME_NAME_NONE:
        text = rest
    elif kind == VOLUME_NAME_NT:
        dev = (getattr(c.machine.vfs, "volume_devices", {}) or {}).get(drive)
        if dev is None:
            from winhatch.win32.crt.runtime import not_implemented
            not_implemented(c, f"GetFinalPathNameByHandle(VOLUME_NAME_NT) on drive {drive}: (no NT device)")
        text = f"\\Device\\{dev}{rest}"
    else:
        from winhatch.win32.crt.runtime import not_implemented
        not_implemented(c, "GetFinalPathNameByHandle(VOLUME_NAME_GUID) (volume GUID names)")
    return put_string_fits(c, buf, size, text)
