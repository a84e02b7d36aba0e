"""shell32's known folders and the COM task allocator (combase, forwarded from ole32) their callers free
the strings with.

SHGetKnownFolderPath answers for the folders of the machine's one user and of the system, as a default
Windows 10 installation lays them out (C:\\Users\\<user>\\AppData\\Roaming, ...); the KNOWNFOLDERIDs are
Microsoft's (KnownFolders.h). A folder id outside the table stops the guest as unimplemented rather than
guessing where that folder would be.
"""
from __future__ import annotations

import uuid

from winhatch.win32.api import api

from winhatch.win32.kernel32.common import heap_alloc, heap_free

E_INVALIDARG = 0x80070057
E_OUTOFMEMORY = 0x8007000E
E_FAIL = 0x80004005
S_FALSE = 1
MAX_PATH = 260


# ------------------------------------------------------------------------------------------ task allocator
@api("combase.dll", "LPVOID WINAPI CoTaskMemAlloc(SIZE_T cb)")
def CoTaskMemAlloc(c, cb):
    return heap_alloc(c, max(cb, 1))


@api("combase.dll", "void WINAPI CoTaskMemFree(LPVOID pv)")
def CoTaskMemFree(c, pv):
    if pv:
        heap_free(c, pv)


# ------------------------------------------------------------------------------------------ known folders
def _folders(c) -> dict[str, str]:
    m = c.machine
    profile = f"C:\\Users\\{m.username}"
    windows = m.system_root
    return {
        "3eb685db-65f9-4cf6-a03a-e3ef65729f3d": f"{profile}\\AppData\\Roaming",     # FOLDERID_RoamingAppData
        "f1b32785-6fba-4fcf-9d55-7b8e7f157091": f"{profile}\\AppData\\Local",       # FOLDERID_LocalAppData
        "a520a1a4-1780-4ff6-bd18-167343c5af16": f"{profile}\\AppData\\LocalLow",    # FOLDERID_LocalAppDataLow
        "5e6c858f-0e22-4760-9afe-ea3317b67173": profile,                           # FOLDERID_Profile
        "fdd39ad0-238f-46af-adb4-6c85480369c7": f"{profile}\\Documents",           # FOLDERID_Documents
        "b4bfcc3a-db2c-424c-b029-7fe99a87c641": f"{profile}\\Desktop",             # FOLDERID_Desktop
        "374de290-123f-4565-9164-39c4925e467b": f"{profile}\\Downloads",           # FOLDERID_Downloads
        "62ab5d82-fdc1-4dc3-a9dd-070d1d495d97": "C:\\ProgramData",                 # FOLDERID_ProgramData
        "f38bf404-1d43-42f2-9305-67de0b28fc23": windows,                           # FOLDERID_Windows
    }


@api("shell32.dll", "HRESULT WINAPI SHGetKnownFolderPath(REFKNOWNFOLDERID rfid, DWORD dwFlags, HANDLE hToken, "
                    "PWSTR *ppszPath)")
def SHGetKnownFolderPath(c, rfid, flags, token, out):
    """The folder's path in a CoTaskMemAlloc'ed string (*ppszPath is NULL on failure)."""
    if not out:
        return E_INVALIDARG
    c.write_ptr(out, 0)
    if not rfid:
        return E_INVALIDARG
    fid = str(uuid.UUID(bytes_le=bytes(c.read(rfid, 16))))
    path = _folders(c).get(fid)
    if path is None:
        from winhatch.win32.ntdll.seh import raise_unsupported
        raise_unsupported(c, f"SHGetKnownFolderPath of folder {{{fid}}}")
    data = path.encode("utf-16-le") + b"\0\0"
    p = CoTaskMemAlloc(c, len(data))
    if not p:
        return E_OUTOFMEMORY
    c.write(p, data)
    c.write_ptr(out, p)
    return 0


# ------------------------------------------------------------------------------------------ CSIDL folders
CSIDL_FLAG_CREATE = 0x8000
CSIDL_FLAG_MASK = 0xFF00
# CSIDL (shlobj_core.h) -> the same KNOWNFOLDERID the table above answers for (the CSIDL documentation names
# each one's KNOWNFOLDERID equivalent).
_CSIDL = {
    0x1A: "3eb685db-65f9-4cf6-a03a-e3ef65729f3d",   # CSIDL_APPDATA
    0x1C: "f1b32785-6fba-4fcf-9d55-7b8e7f157091",   # CSIDL_LOCAL_APPDATA
    0x28: "5e6c858f-0e22-4760-9afe-ea3317b67173",   # CSIDL_PROFILE
    0x05: "fdd39ad0-238f-46af-adb4-6c85480369c7",   # CSIDL_PERSONAL (My Documents)
    0x10: "b4bfcc3a-db2c-424c-b029-7fe99a87c641",   # CSIDL_DESKTOPDIRECTORY
    0x23: "62ab5d82-fdc1-4dc3-a9dd-070d1d495d97",   # CSIDL_COMMON_APPDATA
    0x24: "f38bf404-1d43-42f2-9305-67de0b28fc23",   # CSIDL_WINDOWS
}


def _csidl_path(c, csidl: int) -> str:
    folder = csidl & ~CSIDL_FLAG_MASK
    fid = _CSIDL.get(folder)
    if folder == 0x25:                                     # CSIDL_SYSTEM
        return c.machine.system_root + "\\system32"
    if fid is None:
        from winhatch.win32.ntdll.seh import raise_unsupported
        raise_unsupported(c, f"SHGetFolderPath of CSIDL 0x{folder:02x}")
    return _folders(c)[fid]


def _get_folder_path(c, csidl, flags, wide: bool) -> tuple[int, str]:
    """SHGetFolderPathA/W: (HRESULT, the path). With CSIDL_FLAG_CREATE a missing folder is created; without it
    a missing folder is E_FAIL for the W form and S_FALSE for the A form (documented: the two differ)."""
    if flags not in (0, 1):                                # SHGFP_TYPE_CURRENT, SHGFP_TYPE_DEFAULT
        return E_INVALIDARG, ""
    path = _csidl_path(c, csidl)
    from winhatch.win32.kernel32.ntfile import CreateDirectory, GetFileAttributes
    if GetFileAttributes(c, path) == 0xFFFFFFFF:
        if not csidl & CSIDL_FLAG_CREATE:
            return (E_FAIL if wide else S_FALSE), path
        parts = path.split("\\")
        for i in range(2, len(parts) + 1):                  # every missing level, as SHCreateDirectory does
            CreateDirectory(c, "\\".join(parts[:i]), 0)
        if GetFileAttributes(c, path) == 0xFFFFFFFF:
            return E_FAIL, path
    return 0, path


@api("shell32.dll", "HRESULT WINAPI SHGetFolderPath%(HWND hwnd, int csidl, HANDLE hToken, DWORD dwFlags, LPTSTR pszPath)")
def SHGetFolderPath(c, hwnd, csidl, token, flags, out):
    if not out:
        return E_INVALIDARG
    hr, path = _get_folder_path(c, csidl, flags, c.wide)
    c.write(out, (c.encode_t(path) if hr == 0 else b"") + b"\0" * c.tchar_size())
    return hr


# ------------------------------------------------------------------------------------------ FindExecutable
SE_ERR_FNF = 2
SE_ERR_NOASSOC = 31
_RUNNABLE = (".exe", ".com", ".bat", ".cmd", ".pif")


@api("shell32.dll", "HINSTANCE WINAPI FindExecutable%(LPCTSTR lpFile, LPCTSTR lpDirectory, LPTSTR lpResult)")
def FindExecutable(c, name, directory, out):
    """The program that opens lpFile (looked up in lpDirectory, then as SearchPath finds it, ".exe" added to
    a name without an extension). A program itself is its own executable: its full path in lpResult
    (MAX_PATH characters) and a value above 32. A missing file is SE_ERR_FNF. Documents, which need the
    registry's file associations, are not implemented and stop the guest."""
    from winhatch.win32.kernel32.files import SearchPath
    if out:
        c.write(out, b"\0" * c.tchar_size())
    if not name:
        return SE_ERR_FNF
    buf = c.stack_alloc(MAX_PATH * 2, 8)
    n = 0
    if directory:
        n = SearchPath(c, directory, name, ".exe", MAX_PATH, buf, 0)
    if not n or n > MAX_PATH:
        n = SearchPath(c, None, name, ".exe", MAX_PATH, buf, 0)
    if not n or n > MAX_PATH:
        return SE_ERR_FNF
    full = c.wstr(buf) if c.wide else c.astr(buf)
    if not full.lower().endswith(_RUNNABLE):
        from winhatch.win32.ntdll.seh import raise_unsupported
        raise_unsupported(c, f"FindExecutable of a document ({full}): file associations")
    if out:
        c.write(out, c.encode_t(full) + b"\0" * c.tchar_size())
    return 42


# ------------------------------------------------------------------------------------------ SHGetFileInfo
SHGFI_EXETYPE = 0x2000


def _exe_type(c, path: str) -> int:
    """SHGFI_EXETYPE (the documented table): a GUI PE: 'PE' with its subsystem version in the high word; a
    console PE, .bat or .cmd: 'PE' and 0; an MS-DOS program or .com: 'MZ' and 0; anything else: 0."""
    import struct as st
    from winhatch.kernel.io import vfs as V
    from winhatch.win32.kernel32.common import cwd, guest_path
    from winhatch.ntstatus import NtStatusError
    low = path.lower()
    if low.endswith((".bat", ".cmd")):
        return 0x4550
    try:
        f = c.machine.vfs.open(guest_path(c, path), access=V.GENERIC_READ | V.SYNCHRONIZE, disposition=V.FILE_OPEN,
                               options=V.FILE_NON_DIRECTORY_FILE, share=V.FILE_SHARE_READ | V.FILE_SHARE_WRITE
                               | V.FILE_SHARE_DELETE, cwd=cwd(c))
    except NtStatusError:
        return 0
    try:
        head = f.read(4096, 0)
    finally:
        f.close()
    if len(head) < 64 or head[:2] != b"MZ":
        return 0x5A4D if low.endswith(".com") else 0
    lfanew = st.unpack_from("<I", head, 0x3C)[0]
    if lfanew + 0x60 > len(head) or head[lfanew:lfanew + 4] != b"PE\0\0":
        return 0x5A4D
    opt = lfanew + 24
    major, minor = st.unpack_from("<HH", head, opt + 48)
    subsystem = st.unpack_from("<H", head, opt + 68)[0]
    if subsystem == 2:                                       # IMAGE_SUBSYSTEM_WINDOWS_GUI
        return 0x4550 | (major << 24) | (minor << 16)
    return 0x4550


@api("shell32.dll", "DWORD_PTR WINAPI SHGetFileInfo%(LPCTSTR pszPath, DWORD dwFileAttributes, LPVOID psfi, "
                    "UINT cbFileInfo, UINT uFlags)")
def SHGetFileInfo(c, path, attrs, psfi, cb, flags):
    """SHGFI_EXETYPE only (what command interpreters ask before starting a program); the icon, display-name
    and type-name forms need the shell namespace and stop the guest."""
    if flags == SHGFI_EXETYPE:
        return _exe_type(c, path) if path else 0
    from winhatch.win32.ntdll.seh import raise_unsupported
    raise_unsupported(c, f"SHGetFileInfo with flags 0x{flags:x}")
