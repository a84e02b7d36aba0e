"""ntdll's search paths as strings: RtlGetSearchPath, RtlGetExePath, LdrGetDllPath (the ';'-separated directory
lists the loader and kernelbase search), each a process-heap string RtlReleasePath frees.

The lists, as Wine's kernel32/tests/path.c (written on Windows) checks them: the program's directory, then
System32 (as GetSystemDirectory names it), the 16-bit System directory, the Windows directory, and the PATH
variable; the current directory (".") after the Windows directory for a DLL search (safe DLL search mode) and
right after the program's directory for an executable search (unless NoDefaultCurrentDirectoryInExePath is set
and the name has no backslash). SetDllDirectory's directory takes the current directory's place in the DLL
search of LdrGetDllPath (RtlGetSearchPath and RtlGetExePath do not use it).
"""
from __future__ import annotations

from winhatch.win32.api import api
from winhatch.win32.ntdll.rtl_string import heap_alloc

NT = "ntdll.dll"
STATUS_INVALID_PARAMETER, STATUS_NO_MEMORY = 0xC000000D, 0xC0000017
LOAD_WITH_ALTERED_SEARCH_PATH = 0x8
LOAD_LIBRARY_SEARCH_DLL_LOAD_DIR, LOAD_LIBRARY_SEARCH_APPLICATION_DIR = 0x100, 0x200
LOAD_LIBRARY_SEARCH_USER_DIRS, LOAD_LIBRARY_SEARCH_SYSTEM32, LOAD_LIBRARY_SEARCH_DEFAULT_DIRS = 0x400, 0x800, 0x1000
LOAD_LIBRARY_SEARCH_MASK = 0x1F00


def _env(c, name: str) -> str | None:
    from winhatch.win32.kernel32.env import get_var
    return get_var(c, name)


def _app_dir(c) -> str:
    return c.proc.image_path.rsplit("\\", 1)[0]


def _system_dirs(c) -> list[str]:
    root = c.machine.system_root
    return [root + "\\system32", root + "\\system", root]


def _put(c, pout: int, dirs: list[str]) -> int:
    """The list as a NUL-terminated process-heap string at *pout."""
    data = ";".join(dirs).encode("utf-16-le", "surrogatepass") + b"\0\0"
    buf = heap_alloc(c, len(data))
    if not buf:
        return STATUS_NO_MEMORY
    c.write(buf, data)
    c.write_ptr(pout, buf)
    return 0


def _path_var(c) -> list[str]:
    v = _env(c, "PATH")
    return [v] if v else []


@api(NT, "NTSTATUS NTAPI RtlGetSearchPath(PWSTR *SearchPath)")
def RtlGetSearchPath(c, pout):
    """The DLL search path in safe search mode: the program's directory, the system directories, the current
    directory, PATH."""
    return _put(c, pout, [_app_dir(c), *_system_dirs(c), ".", *_path_var(c)])


@api(NT, "NTSTATUS NTAPI RtlGetExePath(PCWSTR Name, PWSTR *SearchPath)")
def RtlGetExePath(c, name, pout):
    """The executable search path for Name: the program's directory, the current directory (left out when
    NoDefaultCurrentDirectoryInExePath is set and Name has no backslash, as NeedCurrentDirectoryForExePath
    decides), the system directories, PATH."""
    cur = ["."] if "\\" in (name or "") or _env(c, "NoDefaultCurrentDirectoryInExePath") is None else []
    return _put(c, pout, [_app_dir(c), *cur, *_system_dirs(c), *_path_var(c)])


@api(NT, "void NTAPI RtlReleasePath(PWSTR Path)")
def RtlReleasePath(c, path):
    """Free a path string RtlGetSearchPath, RtlGetExePath or LdrGetDllPath returned (the process heap)."""
    from winhatch.win32.kernel32.common import heap_free
    if path:
        heap_free(c, path)


@api(NT, "NTSTATUS NTAPI LdrGetDllPath(PCWSTR Module, ULONG Flags, PWSTR *Path, PWSTR *Unknown)")
def LdrGetDllPath(c, module, flags, pout, punknown):
    """The directories LoadLibraryEx(Module, Flags) searches. LOAD_LIBRARY_SEARCH_* flags (or, without flags,
    SetDefaultDllDirectories') give the directory of Module (which must be absolute: STATUS_INVALID_PARAMETER
    otherwise, and with LOAD_WITH_ALTERED_SEARCH_PATH), the program's directory, AddDllDirectory's directories
    and System32; else the standard order, where LOAD_WITH_ALTERED_SEARCH_PATH puts the directory of a Module
    with a backslash first in the program's place. *Unknown is set to NULL."""
    from winhatch.ldr import loader as L
    if punknown:
        c.write_ptr(punknown, 0)
    st = L.state_of(c.proc)
    name = module or ""
    if not flags & LOAD_LIBRARY_SEARCH_MASK and not flags & LOAD_WITH_ALTERED_SEARCH_PATH:
        flags |= st.default_search_flags
    if flags & LOAD_LIBRARY_SEARCH_MASK:
        if flags & LOAD_WITH_ALTERED_SEARCH_PATH:
            return STATUS_INVALID_PARAMETER
        dirs = []
        if flags & LOAD_LIBRARY_SEARCH_DLL_LOAD_DIR:
            n = name.replace("/", "\\")
            if not (len(n) >= 2 and n[1] == ":" or n.startswith("\\")) or "\\" not in n:
                return STATUS_INVALID_PARAMETER
            dirs.append(n[:n.rfind("\\")])
        if flags & (LOAD_LIBRARY_SEARCH_APPLICATION_DIR | LOAD_LIBRARY_SEARCH_DEFAULT_DIRS):
            dirs.append(_app_dir(c))
        if flags & (LOAD_LIBRARY_SEARCH_USER_DIRS | LOAD_LIBRARY_SEARCH_DEFAULT_DIRS):
            dirs += list(reversed(st.user_dll_dirs.values())) + list(st.dll_directories)
        if flags & (LOAD_LIBRARY_SEARCH_SYSTEM32 | LOAD_LIBRARY_SEARCH_DEFAULT_DIRS):
            dirs.append(_system_dirs(c)[0])
        return _put(c, pout, dirs)
    first = _app_dir(c)
    if flags & LOAD_WITH_ALTERED_SEARCH_PATH and "\\" in name:
        first = name[:name.rfind("\\")]
    if st.dll_directory is None:
        dirs = [first, *_system_dirs(c), ".", *_path_var(c)]
    else:
        dirs = [first, *([st.dll_directory] if st.dll_directory else []), *_system_dirs(c), *_path_var(c)]
    return _put(c, pout, dirs)
