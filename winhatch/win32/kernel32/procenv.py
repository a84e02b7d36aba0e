"""kernel32 / kernelbase: the per-process settings the C runtimes and MSVC-built programs query at start-up —
the file APIs' code page (AreFileApisANSI, SetFileApisToANSI/OEM), the AppPolicy* queries of a desktop
process, GetModuleHandleEx, the DLL search directories (SetDefaultDllDirectories, AddDllDirectory,
RemoveDllDirectory), the error modes (process and thread) and the thread locale.

Where Windows keeps the state:
- the file APIs' code page is a kernelbase global (per process): `proc.subsystem["file_apis_oem"]`; the
  ANSI file functions decode their file name arguments with it (winhatch.win32.api.decode_strings);
- the process error mode is the kernel's (NtSetInformationProcess ProcessDefaultHardErrorMode); the thread error
  mode is TEB.HardErrorMode; the thread locale is TEB.CurrentLocale (both in guest memory);
- the DLL directories are ntdll's loader state (winhatch.ldr.loader.LoaderState).
"""
from __future__ import annotations

from winhatch.kernel.structs import TEB
from winhatch.ldr import loader
from winhatch.ntstatus import ERROR_INVALID_PARAMETER, NtStatusError
from winhatch.win32.api import api

from winhatch.win32.kernel32.common import K32, nt_error

ERROR_SUCCESS = 0
ERROR_MOD_NOT_FOUND = 126
ERROR_INVALID_HANDLE = 6

# ------------------------------------------------------------------------------------------ file APIs' code page


@api(K32, "BOOL WINAPI AreFileApisANSI(void)")
def AreFileApisANSI(c):
    return 0 if c.proc.subsystem.get("file_apis_oem") else 1


@api(K32, "void WINAPI SetFileApisToANSI(void)")
def SetFileApisToANSI(c):
    c.proc.subsystem["file_apis_oem"] = False


@api(K32, "void WINAPI SetFileApisToOEM(void)")
def SetFileApisToOEM(c):
    c.proc.subsystem["file_apis_oem"] = True


# ------------------------------------------------------------------------------------------ AppPolicy
# The token is the process's (the C runtime passes GetCurrentProcessToken(), the pseudo-handle -4). A desktop
# (unpackaged) process gets the desktop value of each policy (appmodel.h), whatever token it names.


def _policy(c, token, out, value):
    if not out:
        return ERROR_INVALID_PARAMETER
    c.write_u32(out, value)
    return ERROR_SUCCESS


@api("kernelbase.dll", "LONG WINAPI AppPolicyGetProcessTerminationMethod(HANDLE processToken, "
     "AppPolicyProcessTerminationMethod *policy)")
def AppPolicyGetProcessTerminationMethod(c, token, out):
    return _policy(c, token, out, 0)       # AppPolicyProcessTerminationMethod_ExitProcess


@api("kernelbase.dll", "LONG WINAPI AppPolicyGetThreadInitializationType(HANDLE processToken, "
     "AppPolicyThreadInitializationType *policy)")
def AppPolicyGetThreadInitializationType(c, token, out):
    return _policy(c, token, out, 0)       # AppPolicyThreadInitializationType_None


@api("kernelbase.dll", "LONG WINAPI AppPolicyGetWindowingModel(HANDLE processToken, AppPolicyWindowingModel *policy)")
def AppPolicyGetWindowingModel(c, token, out):
    return _policy(c, token, out, 2)       # AppPolicyWindowingModel_ClassicDesktop


@api("kernelbase.dll", "LONG WINAPI AppPolicyGetShowDeveloperDiagnostic(HANDLE processToken, "
     "AppPolicyShowDeveloperDiagnostic *policy)")
def AppPolicyGetShowDeveloperDiagnostic(c, token, out):
    return _policy(c, token, out, 1)       # AppPolicyShowDeveloperDiagnostic_ShowUI


@api(K32, "LONG WINAPI AppPolicyGetMediaFoundationCodecLoading(HANDLE processToken, "
     "AppPolicyMediaFoundationCodecLoading *policy)")
def AppPolicyGetMediaFoundationCodecLoading(c, token, out):
    return _policy(c, token, out, 0)       # AppPolicyMediaFoundationCodecLoading_All


# ------------------------------------------------------------------------------------------ app packages
APPMODEL_ERROR_NO_PACKAGE = 15700


@api(K32, "LONG WINAPI GetCurrentPackageId(UINT32 *bufferLength, BYTE *buffer)")
def GetCurrentPackageId(c, length, buf):
    """A desktop process (what winhatch runs: see AppPolicy above) has no package identity: every
    GetCurrentPackage* query returns APPMODEL_ERROR_NO_PACKAGE and leaves the buffer and its length alone."""
    return APPMODEL_ERROR_NO_PACKAGE


for _name in ("GetCurrentPackageFullName", "GetCurrentPackageFamilyName", "GetCurrentPackagePath"):
    api(K32, f"LONG WINAPI {_name}(UINT32 *bufferLength, PWSTR buffer)")(GetCurrentPackageId)


@api(K32, "HMODULE WINAPI LoadPackagedLibrary(LPCWSTR lpwLibFileName, DWORD Reserved)")
def LoadPackagedLibrary(c, name, reserved):
    """Loads a module from the process's package dependency graph. A desktop process has no package identity
    (no dependency graph to search): Microsoft's documentation says an unpackaged process's call fails with
    APPMODEL_ERROR_NO_PACKAGE — NULL and that last error, whatever the name."""
    c.set_last_error(APPMODEL_ERROR_NO_PACKAGE)
    return 0


# ------------------------------------------------------------------------------------------ DisableThreadLibraryCalls
@api(K32, "BOOL WINAPI DisableThreadLibraryCalls(HMODULE hLibModule)")
def DisableThreadLibraryCalls(c, module):
    """ntdll's LdrDisableThreadCalloutsForDll: the DLL gets no more DLL_THREAD_ATTACH/DETACH calls. It fails
    (ERROR_MOD_NOT_FOUND) for a handle that is not a loaded module and for a DLL with static TLS."""
    status = loader.LdrDisableThreadCalloutsForDll(c.proc, module)
    if status:
        nt_error(c, NtStatusError(status))
        return 0
    return 1


@api("ntdll.dll", "NTSTATUS NTAPI LdrDisableThreadCalloutsForDll(PVOID DllHandle)")
def LdrDisableThreadCalloutsForDll(c, module):
    return loader.LdrDisableThreadCalloutsForDll(c.proc, module)


# ------------------------------------------------------------------------------------------ GetModuleHandleEx
GET_MODULE_HANDLE_EX_FLAG_PIN = 0x1
GET_MODULE_HANDLE_EX_FLAG_UNCHANGED_REFCOUNT = 0x2
GET_MODULE_HANDLE_EX_FLAG_FROM_ADDRESS = 0x4


@api(K32, "BOOL WINAPI GetModuleHandleEx%(DWORD dwFlags, LPCTSTR_RAW lpModuleName, HMODULE *phModule)")
def GetModuleHandleEx(c, flags, name_ptr, out):
    """PIN and UNCHANGED_REFCOUNT exclude each other; an unknown flag or a NULL phModule is
    ERROR_INVALID_PARAMETER. FROM_ADDRESS: lpModuleName is an address inside the module. Without
    UNCHANGED_REFCOUNT the module's reference count goes up (FreeLibrary releases it); PIN keeps it loaded
    until the process ends. *phModule is NULL on failure."""
    if out:
        c.write_ptr(out, 0)
    if (not out or flags & ~0x7
            or (flags & GET_MODULE_HANDLE_EX_FLAG_PIN and flags & GET_MODULE_HANDLE_EX_FLAG_UNCHANGED_REFCOUNT)):
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    st = loader.state_of(c.proc)
    if flags & GET_MODULE_HANDLE_EX_FLAG_FROM_ADDRESS:
        m = next((x for x in st.modules if x.base <= name_ptr < x.base + x.size), None)
        base = m.base if m is not None else 0
    else:
        name = None if not name_ptr else (c.wstr(name_ptr) if c.wide else c.astr(name_ptr))
        base = loader.LdrGetDllHandle(c.machine, c.proc, name)
    if not base:
        c.set_last_error(ERROR_MOD_NOT_FOUND)
        return 0
    if not flags & GET_MODULE_HANDLE_EX_FLAG_UNCHANGED_REFCOUNT:
        loader.LdrAddRefDll(c.proc, base, bool(flags & GET_MODULE_HANDLE_EX_FLAG_PIN))
    c.write_ptr(out, base)
    return 1


# ------------------------------------------------------------------------------------------ DLL directories
LOAD_LIBRARY_SEARCH_APPLICATION_DIR = 0x200
LOAD_LIBRARY_SEARCH_USER_DIRS = 0x400
LOAD_LIBRARY_SEARCH_SYSTEM32 = 0x800
LOAD_LIBRARY_SEARCH_DEFAULT_DIRS = 0x1000
_DEFAULT_DIR_FLAGS = (LOAD_LIBRARY_SEARCH_APPLICATION_DIR | LOAD_LIBRARY_SEARCH_USER_DIRS
                      | LOAD_LIBRARY_SEARCH_SYSTEM32 | LOAD_LIBRARY_SEARCH_DEFAULT_DIRS)


@api(K32, "BOOL WINAPI SetDefaultDllDirectories(DWORD DirectoryFlags)")
def SetDefaultDllDirectories(c, flags):
    """The search flags LoadLibrary(Ex) uses when the call gives none. Only the four directory flags are
    accepted (not LOAD_LIBRARY_SEARCH_DLL_LOAD_DIR), and at least one: ERROR_INVALID_PARAMETER otherwise."""
    if not flags or flags & ~_DEFAULT_DIR_FLAGS:
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    loader.state_of(c.proc).default_search_flags = flags
    return 1


def _full_dir(path: str) -> bool:
    """AddDllDirectory takes an absolute path: a drive path, a UNC path or a path from the current drive's
    root ("\\")."""
    return len(path) >= 3 and path[1] == ":" and path[2] in "\\/" or path.startswith(("\\", "/"))


@api(K32, "DLL_DIRECTORY_COOKIE WINAPI AddDllDirectory(PCWSTR NewDirectory)")
def AddDllDirectory(c, path):
    """A cookie for RemoveDllDirectory; a relative path is ERROR_INVALID_PARAMETER, a path that does not exist
    ERROR_FILE_NOT_FOUND (the path is opened, as Windows does: an existing file is accepted too, Wine's
    module test passing on Windows adds one)."""
    if not path or not _full_dir(path):
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    from winhatch.ntstatus import NtStatusError, nt_to_win32
    try:
        from winhatch.win32.kernel32.common import cwd
        path = c.machine.vfs.full_path(path, cwd(c))
        c.machine.vfs.stat(path)
    except NtStatusError as e:
        c.set_last_error(nt_to_win32(e.status))
        return 0
    st = loader.state_of(c.proc)
    from winhatch.win32.msvcrt import runtime as R
    cookie = R.alloc(c, 2 * len(path) + 2)    # the cookie is an allocation, as on Windows
    c.write(cookie, path.encode("utf-16-le") + b"\0\0")
    st.user_dll_dirs[cookie] = path.rstrip("\\/") if len(path) > 3 else path
    return cookie


@api(K32, "BOOL WINAPI RemoveDllDirectory(DLL_DIRECTORY_COOKIE Cookie)")
def RemoveDllDirectory(c, cookie):
    st = loader.state_of(c.proc)
    if cookie not in st.user_dll_dirs:
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    del st.user_dll_dirs[cookie]
    loader.state_of(c.proc).heaps.process_heap.free_block(cookie)
    return 1


@api(K32, "BOOL WINAPI SetDllDirectory%(LPCTSTR lpPathName)")
def SetDllDirectory(c, path):
    """The one directory searched after the application's directory, replacing the current directory in the
    standard search order; "" only removes the current directory, NULL restores the standard order. Each
    call replaces the previous directory. The path is kept as given (a relative one is searched relative to
    the current directory of the moment, as Wine keeps it)."""
    st = loader.state_of(c.proc)
    if path is None:
        st.dll_directory = None
        st.dll_directories = []
        return 1
    if path == "":
        st.dll_directory = ""
        st.dll_directories = []
        return 1
    st.dll_directory = path
    st.dll_directories = [path.rstrip("\\/") if len(path) > 3 else path]
    return 1


@api(K32, "DWORD WINAPI GetDllDirectory%(DWORD nBufferLength, LPTSTR lpBuffer)")
def GetDllDirectory(c, size, buf):
    """SetDllDirectory's directory as it was given: the length without the NUL; a buffer too short (or none)
    gets the size needed with the NUL, and an empty string when it has room for one (Wine's module.c tests,
    which pass on Windows). No directory set (or ""): "" — 1 asked with a zero size."""
    text = loader.state_of(c.proc).dll_directory or ""
    nul = b"\0\0" if c.wide else b"\0"
    if size < len(text) + 1 or not buf:
        if buf and size:
            c.write(buf, nul)
        return len(text) + 1
    c.write(buf, c.encode_t(text) + nul)
    return len(text)


# ------------------------------------------------------------------------------------------ error modes
SEM_FAILCRITICALERRORS = 0x1
SEM_NOGPFAULTERRORBOX = 0x2
SEM_NOALIGNMENTFAULTEXCEPT = 0x4
SEM_NOOPENFILEERRORBOX = 0x8000
_SEM_ALL = SEM_FAILCRITICALERRORS | SEM_NOGPFAULTERRORBOX | SEM_NOALIGNMENTFAULTEXCEPT | SEM_NOOPENFILEERRORBOX


def _hard_error_mode(c) -> int:
    """NtQueryInformationProcess(ProcessDefaultHardErrorMode)."""
    buf = c.stack_alloc(4)
    c.nt("NtQueryInformationProcess", (1 << 8 * c.ptr_size) - 1, 12, buf, 4, 0)
    return c.u32(buf)


@api(K32, "UINT WINAPI GetErrorMode(void)")
def GetErrorMode(c):
    return _hard_error_mode(c)


@api(K32, "UINT WINAPI SetErrorMode(UINT uMode)")
def SetErrorMode(c, mode):
    """NtSetInformationProcess(ProcessDefaultHardErrorMode); returns the previous mode. SEM_NOALIGNMENTFAULTEXCEPT,
    once set, stays (the kernel keeps it)."""
    old = _hard_error_mode(c)
    buf = c.stack_alloc(4)
    c.write_u32(buf, mode & _SEM_ALL)
    c.nt("NtSetInformationProcess", (1 << 8 * c.ptr_size) - 1, 12, buf, 4)
    return old


def _teb_u32(c, field: str) -> int:
    return TEB.read(c.proc.aspace, c.thread.teb, c.arch, field)[field]


# TEB.HardErrorMode holds ntdll's RTL_ERRORMODE_* bits (RtlGet/SetThreadErrorMode); kernel32 translates
_SEM_TO_RTL = ((SEM_FAILCRITICALERRORS, 0x10), (SEM_NOGPFAULTERRORBOX, 0x20), (SEM_NOOPENFILEERRORBOX, 0x40))


def _sem_to_rtl(mode: int) -> int:
    return sum(r for s, r in _SEM_TO_RTL if mode & s)


def _rtl_to_sem(mode: int) -> int:
    return sum(s for s, r in _SEM_TO_RTL if mode & r)


@api(K32, "DWORD WINAPI GetThreadErrorMode(void)")
def GetThreadErrorMode(c):
    return _rtl_to_sem(_teb_u32(c, "HardErrorMode"))


@api(K32, "BOOL WINAPI SetThreadErrorMode(DWORD dwNewMode, LPDWORD lpOldMode)")
def SetThreadErrorMode(c, mode, old):
    """Only SEM_FAILCRITICALERRORS, SEM_NOGPFAULTERRORBOX and SEM_NOOPENFILEERRORBOX are thread modes:
    another bit is ERROR_INVALID_PARAMETER."""
    if mode & ~(SEM_FAILCRITICALERRORS | SEM_NOGPFAULTERRORBOX | SEM_NOOPENFILEERRORBOX):
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    if old:
        c.write_u32(old, _rtl_to_sem(_teb_u32(c, "HardErrorMode")))
    TEB.write(c.proc.aspace, c.thread.teb, c.arch, HardErrorMode=_sem_to_rtl(mode))
    return 1


# ------------------------------------------------------------------------------------------ thread locale
@api(K32, "LCID WINAPI GetThreadLocale(void)")
def GetThreadLocale(c):
    """TEB.CurrentLocale (the kernel starts it at the user default locale)."""
    cur = _teb_u32(c, "CurrentLocale")
    if cur:
        return cur
    from winhatch.win32.kernel32.locale import default_lcid
    return default_lcid(c, True)


@api(K32, "BOOL WINAPI SetThreadLocale(LCID Locale)")
def SetThreadLocale(c, lcid):
    """TEB.CurrentLocale: LOCALE_USER_DEFAULT/LOCALE_SYSTEM_DEFAULT are made the default locale; an LCID that is
    not a locale: ERROR_INVALID_PARAMETER; a real locale winhatch does not model stops loudly."""
    from winhatch.win32.kernel32.locale import LOCALE_INVARIANT, resolve_lcid
    loc = resolve_lcid(c, lcid)
    if loc is None or loc == LOCALE_INVARIANT and lcid & 0xFFFF != LOCALE_INVARIANT:
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    TEB.write(c.proc.aspace, c.thread.teb, c.arch, CurrentLocale=loc)
    return 1
