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


def _get_folder_path(c, csidl, flags, wide: bool):
    """SHGetFolderPathA/W: the path into a MAX_PATH buffer. With CSIDL_FLAG_CREATE a missing folder is created;
    without it a missing folder is E_FAIL for the W form and S_FALSE for the A form (documented: the two differ)."""
    if flags not in (0, 1):                                # SHGFP_TYPE_CURRENT, SHGFP_TYPE_DEFAULT
        return E_INVALIDARG
    path = _csidl_path(c, csidl)
    from winhatch.win32.kernel32.ntfile import CreateDirectory, GetFileAttributes
    if GetFileAttributes(c, path) == 0xFFFFFFFF:
        if not csidl & CSIDL_FLAG_CREATE:
            return E_FAIL if wide else S_FALSE
        parts = path.split("\\")
        for i in range(2, len(parts) + 1):                  # every missing level, as SHCreateDirectory does
            CreateDirectory(c, "\\".join(parts[:i]), 0)
        if GetFileAttributes(c, path) == 0xFFFFFFFF:
            return E_FAIL
    return 0


@api("shell32.dll", "HRESULT WINAPI SHGetFolderPath%(HWND hwnd, int csidl, HANDLE hToken, DWORD dwFlags, LPTSTR pszPath)")
def SHGetFolderPath(c, hwnd, csidl, token, flags, out):
    if not out:
        return E_INVALIDARG
    hr = _get_folder_path(c, csidl, flags, c.wide)
    c.write(out, (c.encode_t(_csidl_path(c, csidl)) if hr == 0 else b"") + b"\0" * c.tchar_size())
    return hr
