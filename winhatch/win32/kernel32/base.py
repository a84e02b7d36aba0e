"""kernel32 / kernelbase: the Win32 APIs that console programs and the C runtimes call at start-up.

Each handler reaches the kernel through its components (the memory manager, the handle table, the loader)
as ntdll's Nt* functions would.
"""
from __future__ import annotations

from winhatch.kernel.structs import PEB, RTL_USER_PROCESS_PARAMETERS
from winhatch.ldr import loader, ntdll
from winhatch.ntstatus import (ERROR_BAD_EXE_FORMAT, ERROR_INVALID_HANDLE, ERROR_INVALID_PARAMETER, ERROR_MOD_NOT_FOUND,
                               ERROR_PROC_NOT_FOUND, NtStatusError, nt_to_win32)
from winhatch.win32.api import api
from winhatch.win32.kernel32.procmem import virtual_alloc, virtual_free, virtual_protect, virtual_query

K32 = ("kernel32.dll", "kernelbase.dll")
CURRENT_PROCESS = -1   # NtCurrentProcess()
STD_INPUT_HANDLE, STD_OUTPUT_HANDLE, STD_ERROR_HANDLE = -10 & 0xFFFFFFFF, -11 & 0xFFFFFFFF, -12 & 0xFFFFFFFF


# ------------------------------------------------------------------------------------------ errors
@api(K32, "DWORD WINAPI GetLastError(void)")
def GetLastError(c):
    return c.last_error()


@api(K32, "void WINAPI SetLastError(DWORD dwErrCode)")
def SetLastError(c, code):
    c.set_last_error(code)


# These run as machine code (winhatch.win32.native) unless API calls are traced; the handlers are the reference.
@api("ntdll.dll", "ULONG NTAPI RtlGetLastWin32Error(void)")
def RtlGetLastWin32Error(c):
    return c.last_error()


@api("ntdll.dll", "void NTAPI RtlRestoreLastWin32Error(ULONG Win32Error)")
def RtlRestoreLastWin32Error(c, code):
    c.set_last_error(code)


# ------------------------------------------------------------------------------------------ process
@api(K32, "void WINAPI ExitProcess(UINT uExitCode)", calls_guest=True)
def ExitProcess(c, code):
    """RtlExitUserProcess: first the loader lock, then the PEB lock (a thread that holds either keeps the
    process from exiting: ExitProcess waits for it, as on Windows — Wine's kernel32/tests/loader.c phase 5),
    then the other threads end and DLL_PROCESS_DETACH runs."""
    from winhatch.kernel.structs import PEB
    from winhatch.ldr.ntdll import loader_lock
    loader_lock(c.proc).enter(c.thread, "ExitProcess (loader lock)")
    cs = c.ptr(c.proc.peb + PEB.offset(c.arch, "FastPebLock"))
    if cs:
        from winhatch.win32.kernel32 import sync
        sync.EnterCriticalSection(c, cs)
    ntdll.RtlExitUserProcess(c.machine, c.thread, code)


@api(K32, "HANDLE WINAPI GetCurrentProcess(void)")
def GetCurrentProcess(c):
    return (1 << (8 * c.ptr_size)) - 1


@api(K32, "HANDLE WINAPI GetCurrentThread(void)")
def GetCurrentThread(c):
    return (1 << (8 * c.ptr_size)) - 2


@api(K32, "DWORD WINAPI GetCurrentProcessId(void)")
def GetCurrentProcessId(c):
    return c.proc.pid


@api(K32, "DWORD WINAPI GetCurrentThreadId(void)")
def GetCurrentThreadId(c):
    return c.thread.tid


def _params(c) -> int:
    return PEB.read(c.proc.aspace, c.proc.peb, c.arch, "ProcessParameters")["ProcessParameters"]


@api(K32, "LPWSTR WINAPI GetCommandLineW(void)")
def GetCommandLineW(c):
    """kernelbase's copy of ProcessParameters->CommandLine (BaseUnicodeCommandLine): taken once — here at the
    first call, where kernelbase takes it at its initialisation — so a later change of the PEB's string does
    not move it (Wine's kernel32/tests/process.c on Windows)."""
    st = c.proc.subsystem.setdefault("kernel32", {})
    if "cmdline_w" not in st:
        p = _params(c)
        st["cmdline_w"] = RTL_USER_PROCESS_PARAMETERS.read(c.proc.aspace, p, c.arch,
                                                           "CommandLine.Buffer")["CommandLine.Buffer"]
    return st["cmdline_w"]


@api(K32, "LPSTR WINAPI GetCommandLineA(void)")
def GetCommandLineA(c):
    st = c.proc.subsystem.setdefault("kernel32", {})
    if "cmdline_a" not in st:
        data = c.proc.command_line.encode("cp1252", "replace") + b"\0"
        addr = _heap_alloc(c, len(data))
        c.write(addr, data)
        st["cmdline_a"] = addr
    return st["cmdline_a"]


@api(K32, "HANDLE WINAPI GetStdHandle(DWORD nStdHandle)")
def GetStdHandle(c, which):
    field = {STD_INPUT_HANDLE: "StandardInput", STD_OUTPUT_HANDLE: "StandardOutput",
             STD_ERROR_HANDLE: "StandardError"}.get(which)
    if field is None:
        c.set_last_error(ERROR_INVALID_HANDLE)
        return (1 << (8 * c.ptr_size)) - 1
    return RTL_USER_PROCESS_PARAMETERS.read(c.proc.aspace, _params(c), c.arch, field)[field]


# WriteFile / ReadFile and the other handle I/O: kernel32/files.py and kernel32/ntfile.py


# ------------------------------------------------------------------------------------------ memory
@api(K32, "LPVOID WINAPI VirtualAlloc(LPVOID lpAddress, SIZE_T dwSize, DWORD flAllocationType, DWORD flProtect)")
def VirtualAlloc(c, addr, size, atype, prot):
    return virtual_alloc(c, CURRENT_PROCESS, addr, size, atype, prot)


@api(K32, "BOOL WINAPI VirtualFree(LPVOID lpAddress, SIZE_T dwSize, DWORD dwFreeType)")
def VirtualFree(c, addr, size, ftype):
    return virtual_free(c, CURRENT_PROCESS, addr, size, ftype)


@api(K32, "BOOL WINAPI VirtualProtect(LPVOID lpAddress, SIZE_T dwSize, DWORD flNewProtect, PDWORD lpflOldProtect)")
def VirtualProtect(c, addr, size, prot, oldp):
    return virtual_protect(c, CURRENT_PROCESS, addr, size, prot, oldp)


@api(K32, "SIZE_T WINAPI VirtualQuery(LPCVOID lpAddress, PMEMORY_BASIC_INFORMATION lpBuffer, SIZE_T dwLength)")
def VirtualQuery(c, addr, buf, length):
    return virtual_query(c, CURRENT_PROCESS, addr, buf, length)


# ------------------------------------------------------------------------------------------ heaps
def _heap_alloc(c, size: int, flags: int = 0) -> int:
    st = loader.state_of(c.proc)
    return st.heaps.process_heap.alloc(size, flags)


# the heap APIs (Rtl*Heap, Heap*, Local*, Global*): kernel32/heap.py


# critical sections, SRW locks, condition variables, waits, events …: kernel32/sync.py
# threads, TLS and FLS slots, Sleep: kernel32/threads.py; guest-created processes, pipes: kernel32/process.py


# ------------------------------------------------------------------------------------------ misc
# SetUnhandledExceptionFilter: winhatch/win32/ntdll/seh.py


# IsDBCSLeadByte(Ex): kernel32/codepages.py (the code page's lead-byte ranges)


# MultiByteToWideChar / WideCharToMultiByte and the other code page APIs: kernel32/codepages.py


# ------------------------------------------------------------------------------------------ modules
@api(K32, "HMODULE WINAPI GetModuleHandle%(LPCTSTR lpModuleName)")
def GetModuleHandle(c, name):
    from winhatch.win32.kernel32.actctx import redirected_dll
    base = loader.LdrGetDllHandle(c.machine, c.proc, redirected_dll(c, name) or name)
    if not base:
        c.set_last_error(ERROR_MOD_NOT_FOUND)
    return base


@api(K32, "HMODULE WINAPI LoadLibrary%(LPCTSTR lpLibFileName)", calls_guest=True)
def LoadLibrary(c, name):
    return LoadLibraryEx(c, name, 0, 0)


@api(K32, "HMODULE WINAPI LoadLibraryEx%(LPCTSTR lpLibFileName, HANDLE hFile, DWORD dwFlags)", calls_guest=True)
def LoadLibraryEx(c, name, hfile, flags):
    if not name:
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    from winhatch.win32.kernel32 import resource as k32_resource
    name = name.rstrip(" ")      # trailing spaces are not part of the name ("kernel32   " is kernel32.dll)
    try:
        if flags & k32_resource.DATAFILE_FLAGS:
            return k32_resource.load_datafile(c, name, flags)
        from winhatch.win32.kernel32.actctx import redirected_dll
        with _loader_lock(c, "LoadLibrary"):
            return loader.LdrLoadDll(c.machine, c.thread, redirected_dll(c, name) or name, flags)
    except loader.LoaderError as e:
        c.set_last_error(nt_to_win32(e.status))
        return 0


class _loader_lock:
    """LdrLoadDll and LdrUnloadDll hold the loader lock while they map, initialise and detach DLLs: another
    thread's LoadLibrary/FreeLibrary, and a new thread's start (its DLL_THREAD_ATTACH), wait until it is free
    (Wine's kernel32/tests/loader.c: a thread created in DllMain does not start before DllMain returns). The
    API is re-run when the lock frees."""
    def __init__(self, c, what: str):
        from winhatch.ldr.ntdll import loader_lock
        self.c, self.lock, self.what = c, loader_lock(c.proc), what

    def __enter__(self):
        self.lock.enter(self.c.thread, f"{self.what} (loader lock)")
        return self

    def __exit__(self, *exc):
        self.lock.leave(self.c.machine, self.c.thread)
        return False


@api(K32, "BOOL WINAPI FreeLibrary(HMODULE hLibModule)", calls_guest=True)
def FreeLibrary(c, base):
    from winhatch.win32.kernel32 import resource as k32_resource
    freed = k32_resource.free_datafile(c, base)
    if freed is not None:
        if not freed:
            # a tagged (data-file) handle that is none: FreeLibrary checks the image headers at it first
            # (RtlImageNtHeader), so an address inside the view is ERROR_BAD_EXE_FORMAT (Wine's module test, on
            # Windows: the data-file handle + 0x1230)
            from winhatch.win32.ntdll.ldr import _nt_header
            st, _nt = _nt_header(c, base & ~3, None)
            c.set_last_error(ERROR_BAD_EXE_FORMAT if st else ERROR_INVALID_HANDLE)
        return int(freed)
    with _loader_lock(c, "FreeLibrary"):
        unloaded = loader.LdrUnloadDll(c.machine, c.thread, base)
    if not unloaded:
        c.set_last_error(ERROR_MOD_NOT_FOUND)     # LdrUnloadDll: STATUS_DLL_NOT_FOUND (no module at this base)
        return 0
    return 1


@api(K32, "FARPROC WINAPI GetProcAddress(HMODULE hModule, LPCSTR_OR_ORDINAL lpProcName)", calls_guest=True)
def GetProcAddress(c, base, name_ptr):
    if name_ptr < 0x10000:
        name, ordinal = None, name_ptr
    else:
        name, ordinal = c.astr(name_ptr), None
    if not base:
        base = c.proc.image_base      # NULL: the process's executable
    try:
        return loader.LdrGetProcedureAddress(c.machine, c.proc, base, name, ordinal)
    except loader.LoaderError as e:
        c.set_last_error(ERROR_PROC_NOT_FOUND if e.status != 0xC0000135 else ERROR_MOD_NOT_FOUND)
        return 0


@api(K32, "DWORD WINAPI GetModuleFileName%(HMODULE hModule, LPTSTR lpFilename, DWORD nSize)")
def GetModuleFileName(c, base, buf, size):
    st = loader.state_of(c.proc)
    m = st.modules[0] if not base else next((x for x in st.modules if x.base == base), None)
    if m is None:
        c.set_last_error(ERROR_MOD_NOT_FOUND)
        return 0
    data = c.encode_t(m.path)
    n = len(data) // c.tchar_size()
    if size == 0:
        c.set_last_error(122)
        return 0
    if n >= size:  # truncated: nSize characters including the terminator, ERROR_INSUFFICIENT_BUFFER
        cut = (size - 1) * c.tchar_size()
        c.write(buf, data[:cut] + bytes(c.tchar_size()))
        c.set_last_error(122)
        return size
    c.write(buf, data + bytes(c.tchar_size()))
    c.set_last_error(0)
    return n


# ------------------------------------------------------------------------------------------ pointer probes
def _range_ok(c, addr: int, size: int, write: bool) -> bool:
    """Every page of [addr, addr+size) committed, not guard/no-access, and writable when asked."""
    return c.proc.aspace.accessible(addr, size, write)


@api(K32, "BOOL WINAPI IsBadReadPtr(LPCVOID lp, UINT_PTR ucb)")
def IsBadReadPtr(c, p, n):
    return 0 if n == 0 or (p and _range_ok(c, p, n, False)) else 1


@api(K32, "BOOL WINAPI IsBadWritePtr(LPVOID lp, UINT_PTR ucb)")
def IsBadWritePtr(c, p, n):
    return 0 if n == 0 or (p and _range_ok(c, p, n, True)) else 1


@api(K32, "BOOL WINAPI IsBadCodePtr(FARPROC lpfn)")
def IsBadCodePtr(c, p):
    return 0 if p and _range_ok(c, p, 1, False) else 1


@api(K32, "BOOL WINAPI IsBadStringPtr%(LPCTSTR_RAW lpsz, UINT_PTR ucchMax)")
def IsBadStringPtr(c, p, n):
    """Reads up to ucchMax characters or the terminator; TRUE if any of it is not readable."""
    if n == 0:
        return 0
    if not p:
        return 1
    size = c.tchar_size()
    addr = p
    for _ in range(min(n, 1 << 20)):
        if not _range_ok(c, addr, size, False):
            return 1
        if int.from_bytes(c.read(addr, size), "little") == 0:
            return 0
        addr += size
    return 0


