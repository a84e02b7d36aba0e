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
                               NtStatusError)
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
    obj = _lookup(c, h)
    if obj is None:
        return FILE_TYPE_UNKNOWN
    t = getattr(obj, "file_type", None)
    if t is None:
        c.set_last_error(0)
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
    else:
        from winhatch.win32.msvcrt.runtime import not_implemented
        not_implemented(c, "GetFinalPathNameByHandle(VOLUME_NAME_GUID) (volume GUID names)")
    return put_string_fits(c, buf, size, text)


# ============================================================================================ SearchPath
def _has_path(name: str) -> bool:
    """A name SearchPath does not look up in the directory list: fully qualified, rooted, or relative to the
    current directory (".\\", "..\\")."""
    n = name.replace("/", "\\")
    return (len(n) >= 2 and n[1] == ":") or n.startswith("\\") or n.startswith(".\\") or n.startswith("..\\")


@api(K32, "DWORD WINAPI SearchPath%(LPCTSTR lpPath, LPCTSTR lpFileName, LPCTSTR lpExtension, DWORD nBufferLength, "
          "LPTSTR lpBuffer, LPTSTR *lpFilePart)")
def SearchPath(c, path, name, ext, size, buf, pfile):
    """The file's full path, from the directories of lpPath (';'-separated) or, for NULL, the safe search
    order of the documentation: the program's directory, the system directory, the 16-bit system directory,
    the Windows directory, the current directory, then PATH. lpExtension (with its '.') is appended to a
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
            dirs = [c.proc.image_path.rsplit("\\", 1)[0], m.system_root + "\\system32", m.system_root + "\\system",
                    m.system_root, cwd(c)]
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
