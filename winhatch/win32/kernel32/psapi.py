"""kernelbase / psapi: the module functions of the process status API — K32EnumProcessModules(Ex),
K32GetModuleInformation, K32GetModuleBaseName(A/W), K32GetModuleFileNameEx(A/W).

They read the target process's own loader list as Windows's psapi does (its PEB from
NtQueryInformationProcess(ProcessBasicInformation), PEB.Ldr and the InLoadOrderModuleList entries with
NtReadVirtualMemory: toolhelp.ldr_modules), so a process handle needs PROCESS_QUERY_INFORMATION and
PROCESS_VM_READ, and the answer is whatever that process's list holds. hModule NULL is the process's
executable (the list's first entry); a module not in the list is ERROR_INVALID_HANDLE. A process of the other
architecture (a 32-bit one read from 64-bit code) stops loudly: its WOW64 list is not modelled.
"""
from __future__ import annotations

import struct

from winhatch.ntstatus import ERROR_INVALID_PARAMETER, NtStatusError
from winhatch.win32.api import api

from winhatch.win32.kernel32.common import K32, ERROR_INSUFFICIENT_BUFFER
from winhatch.win32.kernel32.toolhelp import _stop, ldr_modules

K32NAMES = ("kernel32.dll", "kernelbase.dll")     # the K32* names; psapi.dll exports the same without K32
ERROR_INVALID_HANDLE = 6
LIST_MODULES_DEFAULT, LIST_MODULES_32BIT, LIST_MODULES_64BIT, LIST_MODULES_ALL = 0, 1, 2, 3


def _modules(c, h: int) -> list[dict] | None:
    ps = c.ptr_size
    if h != (1 << (8 * ps)) - 1:
        try:
            target = c.proc.handles.lookup(h, "Process", 0)
        except NtStatusError as e:
            c.set_last_nt_error(e.status)
            return None
        if target.arch != c.arch:
            _stop(c, f"of the modules of a process of the other architecture ({target.arch})")
    return ldr_modules(c, h)


def _find(c, h: int, module: int) -> dict | None:
    mods = _modules(c, h)
    if mods is None:
        return None
    for m in mods:
        if (not module and m is mods[0]) or m["base"] == module:
            return m
    c.set_last_error(ERROR_INVALID_HANDLE)
    return None


def _enum(c, h, out, cb, pneeded, filt=LIST_MODULES_DEFAULT) -> int:
    if filt & ~LIST_MODULES_ALL:
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    mods = _modules(c, h)
    if mods is None:
        return 0
    ps = c.ptr_size
    if not pneeded:
        c.set_last_error(998)          # ERROR_NOACCESS: the count is written unconditionally
        return 0
    c.write_u32(pneeded, len(mods) * ps)
    n = min(len(mods), cb // ps)
    if n:
        c.write(out, b"".join(m["base"].to_bytes(ps, "little") for m in mods[:n]))
    return 1


@api(K32NAMES, "BOOL WINAPI K32EnumProcessModules(HANDLE hProcess, HMODULE *lphModule, DWORD cb, LPDWORD lpcbNeeded)")
def K32EnumProcessModules(c, h, out, cb, pneeded):
    """The handles of the process's modules in load order, as many as cb bytes hold; *lpcbNeeded is what the
    whole list needs (a caller compares it with cb to know whether it got all)."""
    return _enum(c, h, out, cb, pneeded)


@api("psapi.dll", "BOOL WINAPI EnumProcessModules(HANDLE hProcess, HMODULE *lphModule, DWORD cb, LPDWORD lpcbNeeded)")
def EnumProcessModules(c, h, out, cb, pneeded):
    return K32EnumProcessModules(c, h, out, cb, pneeded)


@api(K32NAMES, "BOOL WINAPI K32EnumProcessModulesEx(HANDLE hProcess, HMODULE *lphModule, DWORD cb, "
     "LPDWORD lpcbNeeded, DWORD dwFilterFlag)")
def K32EnumProcessModulesEx(c, h, out, cb, pneeded, filt):
    """dwFilterFlag: LIST_MODULES_DEFAULT/32BIT/64BIT/ALL — a process of the caller's own architecture has
    only the modules of its list (no WOW64 half), so every filter gives that list."""
    return _enum(c, h, out, cb, pneeded, filt)


@api("psapi.dll", "BOOL WINAPI EnumProcessModulesEx(HANDLE hProcess, HMODULE *lphModule, DWORD cb, "
     "LPDWORD lpcbNeeded, DWORD dwFilterFlag)")
def EnumProcessModulesEx(c, h, out, cb, pneeded, filt):
    return K32EnumProcessModulesEx(c, h, out, cb, pneeded, filt)


@api(K32NAMES, "BOOL WINAPI K32GetModuleInformation(HANDLE hProcess, HMODULE hModule, LPMODULEINFO lpmodinfo, DWORD cb)")
def K32GetModuleInformation(c, h, module, out, cb):
    """MODULEINFO: lpBaseOfDll, SizeOfImage, EntryPoint (12 bytes on x86, 24 on x64); a smaller cb:
    ERROR_INSUFFICIENT_BUFFER."""
    ps = c.ptr_size
    size = 3 * ps
    if cb < size:
        c.set_last_error(ERROR_INSUFFICIENT_BUFFER)
        return 0
    m = _find(c, h, module)
    if m is None:
        return 0
    fmt = "<QIxxxxQ" if ps == 8 else "<III"
    c.write(out, struct.pack(fmt, m["base"], m["size"], m["entry"]))
    return 1


@api("psapi.dll", "BOOL WINAPI GetModuleInformation(HANDLE hProcess, HMODULE hModule, LPMODULEINFO lpmodinfo, DWORD cb)")
def GetModuleInformation(c, h, module, out, cb):
    return K32GetModuleInformation(c, h, module, out, cb)


def _copy(c, buf: int, n: int, text: str) -> int:
    """The text truncated to n characters, NUL-terminated when it fits; returns the characters copied."""
    if not buf or n == 0:
        c.set_last_error(ERROR_INSUFFICIENT_BUFFER if n == 0 else ERROR_INVALID_PARAMETER)
        return 0
    text = text[:n]
    data = c.encode_t(text)
    if len(text) < n:
        data += b"\0" * c.tchar_size()
    c.write(buf, data)
    return len(text)


@api(K32NAMES, "DWORD WINAPI K32GetModuleBaseName%(HANDLE hProcess, HMODULE hModule, LPTSTR_RAW lpBaseName, DWORD nSize)")
def K32GetModuleBaseName(c, h, module, buf, n):
    m = _find(c, h, module)
    return 0 if m is None else _copy(c, buf, n, m["name"])


@api("psapi.dll", "DWORD WINAPI GetModuleBaseName%(HANDLE hProcess, HMODULE hModule, LPTSTR_RAW lpBaseName, DWORD nSize)")
def GetModuleBaseName(c, h, module, buf, n):
    return K32GetModuleBaseName(c, h, module, buf, n)


@api(K32NAMES, "DWORD WINAPI K32GetModuleFileNameEx%(HANDLE hProcess, HMODULE hModule, LPTSTR_RAW lpFilename, "
     "DWORD nSize)")
def K32GetModuleFileNameEx(c, h, module, buf, n):
    m = _find(c, h, module)
    return 0 if m is None else _copy(c, buf, n, m["path"])



@api("psapi.dll", "DWORD WINAPI GetModuleFileNameEx%(HANDLE hProcess, HMODULE hModule, LPTSTR_RAW lpFilename, "
     "DWORD nSize)")
def GetModuleFileNameEx(c, h, module, buf, n):
    return K32GetModuleFileNameEx(c, h, module, buf, n)

def _process_counts(c) -> tuple[int, int, int]:
    """(processes, threads, handles) of the machine, from NtQuerySystemInformation(SystemProcessInformation)."""
    from winhatch.kernel.structs import SYSTEM_PROCESS_INFORMATION as SPI
    size = 0x10000
    for _ in range(6):
        buf = c.stack_alloc(size, 8)
        st = c.nt("NtQuerySystemInformation", 5, buf, size, 0)
        if st == 0xC0000004:            # STATUS_INFO_LENGTH_MISMATCH: a bigger buffer
            size *= 2
            continue
        if st & 0x80000000:
            return 0, 0, 0
        procs = threads = handles = 0
        off = 0
        for _ in range(4096):
            rec = SPI.read(c.proc.aspace, buf + off, c.arch, "NextEntryOffset", "NumberOfThreads", "HandleCount")
            procs += 1
            threads += rec["NumberOfThreads"]
            handles += rec["HandleCount"]
            if not rec["NextEntryOffset"]:
                break
            off += rec["NextEntryOffset"]
        return procs, threads, handles
    return 0, 0, 0


@api("psapi.dll", "BOOL WINAPI GetPerformanceInfo(PVOID pPerformanceInformation, DWORD cb)")
def GetPerformanceInfo(c, buf, cb):
    """PERFORMANCE_INFORMATION (its size in cb: 56 on x86, 104 on x64) in pages, from SystemBasicInformation,
    SystemPerformanceInformation (commit, available pages, pools, the resident cache) and the process list."""
    import struct
    from winhatch.kernel.structs import SYSTEM_BASIC_INFORMATION
    from winhatch.win32.kernel32.sysinfo import query_system
    ps = c.ptr_size
    size = 104 if ps == 8 else 56
    if not buf or cb < size:
        c.set_last_error(24 if buf else 998)          # ERROR_BAD_LENGTH; ERROR_NOACCESS
        return 0
    sbi = SYSTEM_BASIC_INFORMATION.unpack(c.arch, query_system(c, 0, SYSTEM_BASIC_INFORMATION.size(c.arch)))
    perf = query_system(c, 2, 0x158)
    avail, committed, limit, peak = struct.unpack_from("<4I", perf, 0x2C)
    paged, nonpaged = struct.unpack_from("<2I", perf, 0x70)
    cache = struct.unpack_from("<I", perf, 0xA4)[0]
    procs, threads, handles = _process_counts(c)
    fmt = "<I4x10QIII4x" if ps == 8 else "<I10IIII"
    c.write(buf, struct.pack(fmt, size, committed, limit, peak, sbi["NumberOfPhysicalPages"], avail, cache,
                             paged + nonpaged, paged, nonpaged, sbi["PageSize"], handles, procs, threads))
    return 1


api(K32NAMES, "BOOL WINAPI K32GetPerformanceInfo(PVOID pPerformanceInformation, DWORD cb)")(GetPerformanceInfo)


# ------------------------------------------------------------------------------------------ process image names
ProcessImageFileName, ProcessImageFileNameWin32 = 27, 43
PROCESS_NAME_NATIVE = 0x1
STATUS_INFO_LENGTH_MISMATCH = 0xC0000004


def process_image_name(c, h: int, cls: int) -> str | None:
    """NtQueryInformationProcess(ProcessImageFileName / ProcessImageFileNameWin32): a UNICODE_STRING and its text
    in scratch — a first call learns the length (STATUS_INFO_LENGTH_MISMATCH with *ReturnLength), the second
    reads it. None with the last error set on failure."""
    ps = c.ptr_size
    rl = c.stack_alloc(4)
    size = 2 * ps + 2 * 260
    for _ in range(2):
        buf = c.stack_alloc(size, 8)
        st = c.nt("NtQueryInformationProcess", h, cls, buf, size, rl)
        if st == STATUS_INFO_LENGTH_MISMATCH and c.u32(rl) > size:
            size = c.u32(rl)
            continue
        if st & 0x80000000:
            c.set_last_nt_error(st)
            return None
        length = struct.unpack("<H", c.read(buf, 2))[0]
        text = c.ptr(buf + ps)
        return c.read(text, length).decode("utf-16-le", "surrogatepass") if length else ""
    c.set_last_nt_error(STATUS_INFO_LENGTH_MISMATCH)
    return None


@api(K32NAMES, "DWORD WINAPI K32GetProcessImageFileName%(HANDLE hProcess, LPTSTR_RAW lpImageFileName, DWORD nSize)")
def K32GetProcessImageFileName(c, h, buf, n):
    """The image's NT path (\\Device\\HarddiskVolumeN\\...): the characters copied without the NUL, 0 with
    ERROR_INSUFFICIENT_BUFFER when it and its NUL do not fit in nSize characters."""
    name = process_image_name(c, h, ProcessImageFileName)
    if name is None:
        return 0
    data = c.encode_t(name)
    tc = c.tchar_size()
    if not buf or n * tc < len(data) + tc:
        c.set_last_error(ERROR_INSUFFICIENT_BUFFER)
        return 0
    c.write(buf, data + b"\0" * tc)
    return len(data) // tc


@api("psapi.dll", "DWORD WINAPI GetProcessImageFileName%(HANDLE hProcess, LPTSTR_RAW lpImageFileName, DWORD nSize)")
def GetProcessImageFileName(c, h, buf, n):
    return K32GetProcessImageFileName(c, h, buf, n)


@api(K32NAMES, "BOOL WINAPI QueryFullProcessImageName%(HANDLE hProcess, DWORD dwFlags, LPTSTR_RAW lpExeName, "
     "PDWORD lpdwSize)")
def QueryFullProcessImageName(c, h, flags, buf, psize):
    """The image's Win32 path (ProcessImageFileNameWin32), or with PROCESS_NAME_NATIVE its NT path
    (ProcessImageFileName). Other flags: ERROR_INVALID_PARAMETER (Windows; Wine accepts them). The name and
    its NUL must fit in *lpdwSize characters, else ERROR_INSUFFICIENT_BUFFER with *lpdwSize and the buffer
    untouched; on success *lpdwSize is the length without the NUL. The ANSI form refuses a NULL buffer with
    ERROR_INVALID_PARAMETER."""
    if flags & ~PROCESS_NAME_NATIVE or not psize:
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    if not c.wide and not buf and c.u32(psize):
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    name = process_image_name(c, h, ProcessImageFileName if flags & PROCESS_NAME_NATIVE
                              else ProcessImageFileNameWin32)
    if name is None:
        return 0
    data = c.encode_t(name)
    tc = c.tchar_size()
    if not buf or c.u32(psize) * tc < len(data) + tc:
        c.set_last_error(ERROR_INSUFFICIENT_BUFFER)
        return 0
    c.write(buf, data + b"\0" * tc)
    c.write_u32(psize, len(data) // tc)
    return 1
