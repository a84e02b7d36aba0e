"""kernel32 / kernelbase: what is left of the file functions that work on the file system's objects directly
(CloseHandle, GetFileType, the console functions, CopyFile, drive types, path names, temporary files, final path
names). The functions kernelbase writes over ntdll's file services (CreateFile, ReadFile, WriteFile, the
information and directory functions, DeleteFile, MoveFileEx, volumes) are in kernel32/ntfile.py.
"""
from __future__ import annotations

from winhatch.kernel.fileobj import FILE_TYPE_DISK, FILE_TYPE_UNKNOWN, FileObject
from winhatch.kernel.io import vfs as V
from winhatch.ntstatus import (ERROR_ACCESS_DENIED, ERROR_DIRECTORY, ERROR_FILE_EXISTS, ERROR_FILE_NOT_FOUND,
                               ERROR_INVALID_HANDLE, ERROR_INVALID_NAME, ERROR_INVALID_PARAMETER,
                               ERROR_PATH_NOT_FOUND, STATUS_OBJECT_NAME_COLLISION, STATUS_OBJECT_PATH_NOT_FOUND,
                               STATUS_SHARING_VIOLATION, NtStatusError)
from winhatch.win32.api import api
from winhatch.win32.kernel32.common import K32, cwd, guest_path, nt_error, put_string_fits, set_current_directory

ERROR_FILENAME_EXCED_RANGE = 206
MAX_PATH = 260


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
@api(K32, "BOOL WINAPI CloseHandle(HANDLE hObject)")
def CloseHandle(c, h):
    try:
        c.proc.handles.close(h)
    except NtStatusError as e:
        nt_error(c, e)
        return 0
    return 1


# ============================================================================================ read / write
def _file(c, h) -> FileObject | None:
    obj = _lookup(c, h)
    if obj is None:
        return None
    if not isinstance(obj, FileObject):
        c.set_last_error(ERROR_INVALID_HANDLE)
        return None
    return obj


@api(K32, "DWORD WINAPI GetFileType(HANDLE hFile)")
def GetFileType(c, h):
    """The file type of a file handle; STD_INPUT/OUTPUT/ERROR_HANDLE stand for the process's standard handles
    (as kernelbase translates them); a handle to an object that is no file (a section, a mutex):
    FILE_TYPE_UNKNOWN with ERROR_INVALID_HANDLE (kernel32/tests/file.c test_GetFileType, written on
    Windows)."""
    from winhatch.win32.kernel32.base import GetStdHandle
    if (h & 0xFFFFFFFF) in (0xFFFFFFF6, 0xFFFFFFF5, 0xFFFFFFF4):     # STD_INPUT/OUTPUT/ERROR_HANDLE
        h = GetStdHandle(c, h & 0xFFFFFFFF)
    obj = _lookup(c, h)
    if obj is None:
        return FILE_TYPE_UNKNOWN
    t = getattr(obj, "file_type", None)
    if t is None:
        c.set_last_error(ERROR_INVALID_HANDLE)
        return FILE_TYPE_UNKNOWN
    c.set_last_error(0)
    return t


# ============================================================================================ consoles
# (the console functions are in kernel32/console.py, over the console driver)


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


# ============================================================================================ names
def _need(c, *names) -> bool:
    for n in names:
        if n is None:
            c.set_last_error(ERROR_INVALID_PARAMETER)
            return False
        if n == "":
            c.set_last_error(ERROR_PATH_NOT_FOUND)
            return False
    return True


COPY_FILE_FAIL_IF_EXISTS = 0x1
CALLBACK_CHUNK_FINISHED, CALLBACK_STREAM_SWITCH = 0, 1
PROGRESS_CONTINUE, PROGRESS_CANCEL, PROGRESS_STOP, PROGRESS_QUIET = 0, 1, 2, 3
ERROR_REQUEST_ABORTED = 1235
COPY_CHUNK = 0x10000


@api(K32, "BOOL WINAPI CopyFile%(LPCTSTR lpExistingFileName, LPCTSTR lpNewFileName, BOOL bFailIfExists)",
     calls_guest=True)
def CopyFile(c, src, dst, fail_if_exists):
    """CopyFileEx without a progress routine: a missing name is ERROR_PATH_NOT_FOUND (Wine's kernel32/tests/
    file.c test_CopyFileA, written on Windows)."""
    if not src or not dst:
        c.set_last_error(ERROR_PATH_NOT_FOUND)
        return 0
    return _copy_file(c, src, dst, 0, 0, 0, COPY_FILE_FAIL_IF_EXISTS if fail_if_exists else 0)


@api(K32, "BOOL WINAPI CopyFileEx%(LPCTSTR lpExistingFileName, LPCTSTR lpNewFileName, "
          "LPPROGRESS_ROUTINE lpProgressRoutine, LPVOID lpData, LPBOOL pbCancel, DWORD dwCopyFlags)", calls_guest=True)
def CopyFileEx(c, src, dst, progress, data, pcancel, flags):
    """CopyFile with a progress routine: called with CALLBACK_STREAM_SWITCH before the data stream, then with
    CALLBACK_CHUNK_FINISHED after each chunk (until PROGRESS_QUIET); PROGRESS_CANCEL stops and deletes the new
    file, PROGRESS_STOP stops and keeps it (both ERROR_REQUEST_ABORTED), as does *pbCancel turning TRUE. A
    missing name: ERROR_PATH_NOT_FOUND (Wine's kernel32 file tests, which pass on Windows)."""
    if not src or not dst:
        c.set_last_error(ERROR_PATH_NOT_FOUND)
        return 0
    return _copy_file(c, src, dst, progress, data, pcancel, flags)


def _copy_file(c, src: str, dst: str, progress: int, data: int, pcancel: int, flags: int) -> int:
    """CopyFileExW over the system services: the source opened for reading sharing read and delete (again
    sharing write too when another handle has it open for writing: such a source can be copied, but a file
    cannot be copied onto itself), the new file created with the source's attributes (or replaced unless
    COPY_FILE_FAIL_IF_EXISTS) for writing and deleting, sharing read and write (without DELETE access when
    another handle does not share delete: a cancelled copy then keeps it), the data copied in chunks through
    a process-heap buffer, then the source's last-write time set on the copy. (Wine's kernel32/tests/file.c
    test_CopyFileA and test_CopyFileEx, written on Windows.)"""
    from winhatch.win32.kernel32.common import heap_alloc, heap_free
    from winhatch.win32.kernel32.ntfile import nt_close, nt_name, nt_open, query_info, set_info
    import struct
    sn, dn = nt_name(c, src), nt_name(c, dst)
    if sn is None or dn is None:
        return 0
    for share in (V.FILE_SHARE_READ | V.FILE_SHARE_DELETE, V.FILE_SHARE_READ | V.FILE_SHARE_WRITE | V.FILE_SHARE_DELETE):
        st, hs, _ = nt_open(c, sn, V.GENERIC_READ | V.SYNCHRONIZE, share,
                            V.FILE_NON_DIRECTORY_FILE | 0x20)      # FILE_SYNCHRONOUS_IO_NONALERT
        if st != STATUS_SHARING_VIOLATION:
            break
    if st & 0x80000000:
        c.set_last_error(ERROR_ACCESS_DENIED if st == 0xC00000BA else 0)
        if st != 0xC00000BA:
            c.set_last_nt_error(st)
        return 0
    hd = 0
    buf = 0
    try:
        st, basic, _ = query_info(c, hs, 4, 40)                       # FileBasicInformation
        st2, std, _ = query_info(c, hs, 5, 24)                        # FileStandardInformation
        if st & 0x80000000 or st2 & 0x80000000:
            c.set_last_nt_error(st if st & 0x80000000 else st2)
            return 0
        attrs = struct.unpack_from("<I", basic, 32)[0] & ~V.FILE_ATTRIBUTE_DIRECTORY
        total = struct.unpack_from("<q", std, 8)[0]
        disp = V.FILE_CREATE if flags & COPY_FILE_FAIL_IF_EXISTS else V.FILE_OVERWRITE_IF
        for extra in (0x10000, 0):                                                      # DELETE
            st, hd, _ = nt_open(c, dn, V.GENERIC_WRITE | V.SYNCHRONIZE | extra, V.FILE_SHARE_READ | V.FILE_SHARE_WRITE,
                                V.FILE_NON_DIRECTORY_FILE | 0x20, disposition=disp, attributes=attrs or 0x80)
            if st != STATUS_SHARING_VIOLATION:
                break
        if st & 0x80000000:
            hd = 0
            if st == STATUS_OBJECT_NAME_COLLISION:
                c.set_last_error(ERROR_FILE_EXISTS)
            elif st == 0xC00000BA:
                c.set_last_error(ERROR_ACCESS_DENIED)
            else:
                c.set_last_nt_error(st)
            return 0
        buf = heap_alloc(c, COPY_CHUNK)
        if not buf:
            c.set_last_error(8)
            return 0
        done = 0
        quiet = not progress

        def report(reason: int) -> int:
            if quiet:
                return PROGRESS_CONTINUE
            lo = lambda v: [v] if c.ptr_size == 8 else [v & 0xFFFFFFFF, v >> 32]   # LARGE_INTEGER by value
            args = [*lo(total), *lo(done), *lo(total), *lo(done), 1, reason, hs, hd, data]
            return c.machine.dispatcher.call_guest(c.thread, progress, args) & 0xFFFFFFFF

        def stopped(answer: int) -> bool:
            nonlocal quiet
            if answer == PROGRESS_QUIET:
                quiet = True
            cancel = pcancel and c.u32(pcancel)
            return answer in (PROGRESS_CANCEL, PROGRESS_STOP) or bool(cancel)

        answer = report(CALLBACK_STREAM_SWITCH)
        if stopped(answer):
            return _abort(c, hd, answer != PROGRESS_STOP)
        ps = c.ptr_size
        while done < total:
            iosb = c.stack_alloc(2 * ps, 8)
            st = c.nt("NtReadFile", hs, 0, 0, 0, iosb, buf, COPY_CHUNK, 0, 0)
            if st == 0xC0000011:                                      # STATUS_END_OF_FILE
                break
            if st & 0x80000000:
                c.set_last_nt_error(st)
                return 0
            n = c.ptr(iosb + ps)
            if not n:
                break
            iosb = c.stack_alloc(2 * ps, 8)
            st = c.nt("NtWriteFile", hd, 0, 0, 0, iosb, buf, n, 0, 0)
            if st & 0x80000000:
                c.set_last_nt_error(st)
                return 0
            done += n
            answer = report(CALLBACK_CHUNK_FINISHED)
            if stopped(answer):
                return _abort(c, hd, answer != PROGRESS_STOP)
        # the copy keeps the source's last-write time (the other times: 0, left as they are)
        set_info(c, hd, 4, bytes(16) + basic[16:24] + bytes(8) + struct.pack("<II", 0, 0))
    finally:
        if buf:
            heap_free(c, buf)
        if hd:
            nt_close(c, hd)
        nt_close(c, hs)
    c.set_last_error(0)
    return 1


def _abort(c, hd: int, delete: bool) -> int:
    """A copy the progress routine stopped: the new file is deleted (PROGRESS_CANCEL, *pbCancel) or kept
    (PROGRESS_STOP); ERROR_REQUEST_ABORTED."""
    from winhatch.win32.kernel32.ntfile import set_info
    if delete:
        set_info(c, hd, 13, b"\x01\0\0\0")                           # FileDispositionInformation
    c.set_last_error(ERROR_REQUEST_ABORTED)
    return 0


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
    (no folder mount points), so it is the root of the path's drive ("C:\\", "\\\\?\\C:\\" for a \\\\?\\ path,
    the volume GUID path for one), whether or not the rest of the path exists; a relative or rooted path
    ("\\??\\x" too) is on the current directory's drive. A buffer one short of the root gets it without its
    backslash ("C:"), a shorter one ERROR_FILENAME_EXCED_RANGE. A drive that does not exist:
    ERROR_FILE_NOT_FOUND; a UNC or device path (no network in the sandbox) or an unknown \\\\?\\ name:
    ERROR_INVALID_NAME. (Wine's kernel32 volume.c tests, which pass on Windows.)"""
    if not name or not size:
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    p = name.replace("/", "\\")
    if p.startswith("\\\\?\\"):
        rest = p[4:]
        if len(rest) >= 2 and rest[1] == ":" and rest[0].isalpha() and (len(rest) == 2 or rest[2] == "\\"):
            drive, root = rest[0].upper(), "\\\\?\\" + rest[0] + ":\\"
        elif rest.upper().startswith("VOLUME{") and len(rest) >= 45 and rest[44:45] in ("", "\\"):
            from winhatch.win32.kernel32.volumes import _query_points
            st, points = _query_points(c, link="\\??\\" + rest[:44])
            if st or not points:
                c.set_last_error(ERROR_INVALID_NAME)
                return 0
            drive, root = None, "\\\\?\\" + rest[:44] + "\\"
        else:
            c.set_last_error(ERROR_INVALID_NAME)
            return 0
    elif p.startswith("\\\\"):
        c.set_last_error(ERROR_INVALID_NAME)
        return 0
    else:
        if len(p) >= 2 and p[1] == ":":
            drive = p[0].upper()
        else:
            drive = cwd(c)[0].upper()
        root = f"{drive}:\\"
    if drive is not None:
        hp = c.stack_alloc(c.ptr_size, 8)
        oa = c.object_attributes(c.unicode_string(f"\\??\\{drive}:"))
        if not drive.isalpha() or c.nt("NtOpenSymbolicLinkObject", hp, 1, oa) != 0:
            c.set_last_error(ERROR_FILE_NOT_FOUND)
            return 0
        c.nt("NtClose", c.ptr(hp))
    if size <= len(root) - 1:
        c.set_last_error(206)   # ERROR_FILENAME_EXCED_RANGE
        return 0
    text = root if size > len(root) else root[:-1]
    c.write(buf, c.encode_t(text) + bytes(c.tchar_size()))
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
    # the path is kept as given, its case too (RtlSetCurrentDirectory_U stores the full path name; Wine's
    # ntdll path.c, which passes on Windows: after SetCurrentDirectory("C:\\windows\\") a relative name
    # resolves to "C:\\windows\\foo" although the directory is "C:\\Windows")
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
    n = put_string_fits(c, buf, size, path)
    if c.wide and buf and n >= size and size:
        c.write(buf, bytes(2 * min(size, 32767)))   # too small: GetTempPathW clears the buffer it was given
    elif c.wide and buf and n < size:
        # GetTempPathW clears the rest of the caller's buffer, up to 32767 characters (Wine's kernel32/path test)
        end = min(size, 32767)
        if end > n + 1:
            c.write(buf + 2 * (n + 1), bytes(2 * (end - n - 1)))
    return n


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
    try:    # the directory must exist, a unique number given or not (Wine's kernel32/path test)
        st = vfs.stat(guest_path(c, path or "."), cwd(c))
        if not st.is_dir:
            raise NtStatusError(0xC0000103)
    except NtStatusError:
        c.set_last_error(ERROR_DIRECTORY)
        return 0
    if unique:
        out = name_for(unique)
        c.write(buf, c.encode_t(out) + bytes(c.tchar_size()))
        return unique & 0xFFFF
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
    (VOLUME_NAME_NT), \\\\?\\Volume{GUID}\\dir\\name (VOLUME_NAME_GUID) or \\dir\\name (VOLUME_NAME_NONE);
    FILE_NAME_NORMALIZED spells the names as the file system does. Returns the length without the NUL, or the size needed with it when the buffer is short."""
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
        from winhatch.win32.msvcrt.runtime import not_implemented
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
            from winhatch.win32.msvcrt.runtime import not_implemented
            not_implemented(c, f"GetFinalPathNameByHandle(VOLUME_NAME_NT) on drive {drive}: (no NT device)")
        text = f"\\Device\\{dev}{rest}"
    else:   # VOLUME_NAME_GUID: the volume's \\?\Volume{GUID} name from the mount manager
        from winhatch.win32.kernel32.volumes import _volume_of_drive
        err, volume = _volume_of_drive(c, drive)
        if volume is None:
            c.set_last_error(err)
            return 0
        text = volume.rstrip("\\") + rest
    n = put_string_fits(c, buf, size, text)
    if not c.wide and n > len(c.encode_t(text)):
        # the ANSI version's size needed leaves the NUL out (kernel32/tests/file.c
        # test_GetFinalPathNameByHandleA, written on Windows)
        n -= 1
    return n


# ============================================================================================ SearchPath
def _has_path(name: str) -> bool:
    """A name SearchPath does not look up in the directory list: fully qualified, rooted, or relative to the
    current directory (".\\", "..\\")."""
    n = name.replace("/", "\\")
    return (len(n) >= 2 and n[1] == ":") or n.startswith("\\") or n.startswith(".\\") or n.startswith("..\\")


@api(K32, "DWORD WINAPI SearchPath%(LPCTSTR lpPath, LPCTSTR lpFileName, LPCTSTR lpExtension, DWORD nBufferLength, "
          "LPTSTR lpBuffer, LPTSTR *lpFilePart)")
def SearchPath(c, path, name, ext, size, buf, pfile):
    """The file's full path, from the directories of lpPath (';'-separated) or, for NULL, the search order of
    the documentation: the program's directory, the current directory, the system directory, the 16-bit system
    directory, the Windows directory, then PATH — in safe search mode (SetSearchPathMode) the current directory
    after the Windows directory (Wine's kernel32 path test, which passes on Windows, finds a kernel32.dll in the
    current directory by default). lpExtension (with its '.') is appended to a
    name without one. Found: the length copied, or the size needed with the NUL; not found: 0 and
    ERROR_FILE_NOT_FOUND. A file or a directory is found, as GetFileAttributes sees it."""
    from winhatch.win32.kernel32.env import get_var
    from winhatch.win32.kernel32.ntfile import GetFileAttributes
    if not name:
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    last = name.replace("/", "\\").rsplit("\\", 1)[-1]
    if ext and "." not in last:
        name = name + ext
    if _has_path(name):
        candidates = [name]
    else:
        if path is not None:
            dirs = [d for d in path.split(";") if d]
        else:
            m = c.machine
            system = [m.system_root + "\\system32", m.system_root + "\\system", m.system_root]
            app = c.proc.image_path.rsplit("\\", 1)[0]
            # the current directory comes right after the program's directory, or after the Windows directory
            # in safe search mode (SetSearchPathMode)
            dirs = [app, *system, cwd(c)] if _search_mode(c)["safe"] else [app, cwd(c), *system]
            dirs += [d for d in (get_var(c, "PATH") or "").split(";") if d]
        candidates = [d.rstrip("\\/") + "\\" + name for d in dirs[:1024]]
    for cand in candidates:
        if GetFileAttributes(c, cand) == 0xFFFFFFFF:
            continue
        try:
            full = _vfs(c).full_path(cand, cwd(c))
        except NtStatusError:
            continue
        n = put_string_fits(c, buf, size, full)
        if pfile and buf and n <= len(full):
            cut = full.rfind("\\") + 1
            c.write_ptr(pfile, buf + len(c.encode_t(full[:cut])))
        return n
    c.set_last_error(ERROR_FILE_NOT_FOUND)
    return 0


@api(K32, "BOOL WINAPI NeedCurrentDirectoryForExePath%(LPCTSTR ExeName)")
def NeedCurrentDirectoryForExePath(c, name):
    """Whether the current directory belongs in the search path for ExeName (CreateProcess's and cmd's search):
    always when the name has a backslash; else unless NoDefaultCurrentDirectoryInExePath is defined (its value
    does not matter) — Microsoft's documentation of the function."""
    if "\\" in (name or ""):
        return 1
    return 0 if _env(c, "NoDefaultCurrentDirectoryInExePath") is not None else 1


@api(K32, "BOOL WINAPI CheckNameLegalDOS8Dot3%(LPCTSTR lpName, LPSTR lpOemName, DWORD OemNameSize, "
          "PBOOL pbNameContainsSpaces, PBOOL pbNameLegal)")
def CheckNameLegalDOS8Dot3(c, name, oem, oem_size, pspaces, plegal):
    """Whether a file name is a legal 8.3 name (RtlIsNameLegalDOS8Dot3's rules over its upper-case OEM form:
    a base of 1-8 characters, an optional extension of 1-3, no FAT-illegal character, "." and ".."); spaces are
    legal and reported. The empty name counts as legal (Wine's kernel32 path test, which passes on Windows).
    The OEM form goes to lpOemName when it is given and fits. NULL name or pbNameLegal: ERROR_INVALID_PARAMETER."""
    from winhatch.win32.kernel32 import codepages as cps
    from winhatch.win32.ntdll.rtl_path import legal_8dot3
    from winhatch.win32.ntdll.rtl_string import units_to_mb, upcase_unit
    if name is None or not plegal:
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    units = list(name.encode("utf-16-le", "surrogatepass"))
    units = [units[i] | (units[i + 1] << 8) for i in range(0, len(units), 2)]
    data = units_to_mb([upcase_unit(u) for u in units], cps.OEMCP)
    legal, spaces = (True, False) if not data else legal_8dot3(data.decode("latin-1")) if len(data) <= 12 \
        else (False, False)
    if oem:
        if len(data) + 1 > oem_size:
            c.set_last_error(122)           # ERROR_INSUFFICIENT_BUFFER
            return 0
        c.write(oem, data + b"\0")
    c.write_u32(plegal, 1 if legal else 0)
    if pspaces and legal:
        c.write_u32(pspaces, 1 if spaces else 0)
    return 1


BASE_SEARCH_PATH_ENABLE_SAFE_SEARCHMODE, BASE_SEARCH_PATH_DISABLE_SAFE_SEARCHMODE = 0x1, 0x10000
BASE_SEARCH_PATH_PERMANENT = 0x8000


def _search_mode(c) -> dict:
    """kernelbase's per-process search-path mode."""
    return c.proc.subsystem.setdefault("search_path_mode", {"safe": False, "permanent": False})


@api(K32, "BOOL WINAPI SetSearchPathMode(DWORD Flags)")
def SetSearchPathMode(c, flags):
    """Safe search mode for SearchPath on or off; with BASE_SEARCH_PATH_PERMANENT (only with ENABLE) for the rest of
    the process, after which a change is ERROR_ACCESS_DENIED. No mode, both modes, PERMANENT alone, DISABLE with
    PERMANENT or an unknown bit: ERROR_INVALID_PARAMETER (Wine's kernel32 path test, which passes on Windows)."""
    mode = _search_mode(c)
    enable, disable = flags & BASE_SEARCH_PATH_ENABLE_SAFE_SEARCHMODE, flags & BASE_SEARCH_PATH_DISABLE_SAFE_SEARCHMODE
    permanent = flags & BASE_SEARCH_PATH_PERMANENT
    if (flags & ~(BASE_SEARCH_PATH_ENABLE_SAFE_SEARCHMODE | BASE_SEARCH_PATH_DISABLE_SAFE_SEARCHMODE
                  | BASE_SEARCH_PATH_PERMANENT)) or bool(enable) == bool(disable) or (disable and permanent):
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    if mode["permanent"]:
        if enable and permanent:
            return 1
        c.set_last_error(ERROR_ACCESS_DENIED)
        return 0
    mode["safe"] = bool(enable)
    mode["permanent"] = bool(permanent)
    return 1
