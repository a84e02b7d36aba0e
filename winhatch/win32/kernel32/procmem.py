"""Another process's memory: VirtualAllocEx / FreeEx / ProtectEx / QueryEx, ReadProcessMemory,
WriteProcessMemory, FlushInstructionCache — the calls a debugger, an injector or a packer makes.

They work on the target process's address space (winhatch.kernel.mm) through the handle's access rights
(PROCESS_VM_OPERATION, PROCESS_VM_READ, PROCESS_VM_WRITE, PROCESS_QUERY_INFORMATION); the current-process
pseudo-handle works as on Windows. The local VirtualAlloc family (kernel32.py) is the same with the caller.

Windows semantics kept here (documented, and checked against Wine by conf_procmem):
- ReadProcessMemory fails when the range is not wholly readable (uncommitted, PAGE_NOACCESS or guard pages):
  ERROR_NOACCESS (998) when its first byte is not, else ERROR_PARTIAL_COPY (299) with the readable part
  copied and counted.
- WriteProcessMemory writes through writable (and copy-on-write) pages; an executable page that is not
  writable (PAGE_EXECUTE, PAGE_EXECUTE_READ) is made writable for the write and restored, and the instruction
  cache flushed; any other protection (PAGE_READONLY, PAGE_NOACCESS, guard) fails with ERROR_NOACCESS (998).
"""
from __future__ import annotations

from winhatch.kernel.mm import MEM_COMMIT, MEM_RELEASE
from winhatch.kernel.ob.access import PROCESS_QUERY_INFORMATION, PROCESS_VM_OPERATION, PROCESS_VM_READ, PROCESS_VM_WRITE
from winhatch.ntstatus import NtStatusError, nt_to_win32
from winhatch.win32.api import api

from winhatch.win32.kernel32.common import lookup

K32 = ("kernel32.dll", "kernelbase.dll")
ERROR_PARTIAL_COPY = 299
ERROR_NOACCESS = 998
PAGE_NOACCESS, PAGE_READONLY, PAGE_READWRITE, PAGE_WRITECOPY = 0x01, 0x02, 0x04, 0x08
PAGE_EXECUTE, PAGE_EXECUTE_READ, PAGE_EXECUTE_READWRITE, PAGE_EXECUTE_WRITECOPY = 0x10, 0x20, 0x40, 0x80
PAGE_GUARD = 0x100
_WRITABLE = {PAGE_READWRITE, PAGE_WRITECOPY, PAGE_EXECUTE_READWRITE, PAGE_EXECUTE_WRITECOPY}
_READABLE = _WRITABLE | {PAGE_READONLY, PAGE_EXECUTE_READ}
_EXEC_ONLY = {PAGE_EXECUTE, PAGE_EXECUTE_READ}
MAX_COPY = 1 << 28   # one call copies at most 256 MiB (a guest asking for more gets ERROR_PARTIAL_COPY)


def _put_count(c, p, n: int) -> None:
    if p:
        c.write(p, n.to_bytes(c.ptr_size, "little"))


# ------------------------------------------------------------------------------------------ VirtualXxxEx
@api(K32, "LPVOID WINAPI VirtualAllocEx(HANDLE hProcess, LPVOID lpAddress, SIZE_T dwSize, DWORD flAllocationType, "
          "DWORD flProtect)")
def VirtualAllocEx(c, h, addr, size, atype, prot):
    return virtual_alloc(c, h, addr, size, atype, prot)


def virtual_alloc(c, h, addr, size, atype, prot) -> int:
    """VirtualAlloc(Ex): NtAllocateVirtualMemory(h, &base, 0, &size, type, protect) — kernel32's VirtualAlloc
    is this with the current-process handle."""
    ps = c.ptr_size
    io = c.stack_alloc(2 * ps)
    c.write_ptr(io, addr)
    c.write_ptr(io + ps, size)
    st = c.nt("NtAllocateVirtualMemory", h, io, 0, io + ps, atype, prot)
    if st & 0x80000000:
        c.set_last_nt_error(st)
        return 0
    return c.ptr(io)


@api(K32, "BOOL WINAPI VirtualFreeEx(HANDLE hProcess, LPVOID lpAddress, SIZE_T dwSize, DWORD dwFreeType)")
def VirtualFreeEx(c, h, addr, size, ftype):
    return virtual_free(c, h, addr, size, ftype)


def virtual_free(c, h, addr, size, ftype) -> int:
    """VirtualFree(Ex): NtFreeVirtualMemory(h, &base, &size, type)."""
    # MEM_RELEASE frees the whole allocation: dwSize must be 0 — but with MEM_PRESERVE_PLACEHOLDER (2) or
    # MEM_COALESCE_PLACEHOLDERS (1) it is the range of a placeholder to split off or coalesce (the service checks)
    if ftype & MEM_RELEASE and size and not ftype & 0x3:
        c.set_last_error(87)
        return 0
    ps = c.ptr_size
    io = c.stack_alloc(2 * ps)
    c.write_ptr(io, addr)
    c.write_ptr(io + ps, size)
    st = c.nt("NtFreeVirtualMemory", h, io, io + ps, ftype)
    if st & 0x80000000:
        c.set_last_nt_error(st)
        return 0
    return 1


@api(K32, "BOOL WINAPI VirtualProtectEx(HANDLE hProcess, LPVOID lpAddress, SIZE_T dwSize, DWORD flNewProtect, "
          "PDWORD lpflOldProtect)")
def VirtualProtectEx(c, h, addr, size, prot, oldp):
    return virtual_protect(c, h, addr, size, prot, oldp)


def virtual_protect(c, h, addr, size, prot, oldp) -> int:
    """VirtualProtect(Ex): NtProtectVirtualMemory(h, &base, &size, protect, lpflOldProtect) — a NULL
    lpflOldProtect fails with ERROR_NOACCESS as on Windows."""
    ps = c.ptr_size
    io = c.stack_alloc(2 * ps)
    c.write_ptr(io, addr)
    c.write_ptr(io + ps, size)
    st = c.nt("NtProtectVirtualMemory", h, io, io + ps, prot, oldp)
    if st & 0x80000000:
        c.set_last_nt_error(st)
        return 0
    return 1


@api(K32, "SIZE_T WINAPI VirtualQueryEx(HANDLE hProcess, LPCVOID lpAddress, PMEMORY_BASIC_INFORMATION lpBuffer, "
          "SIZE_T dwLength)")
def VirtualQueryEx(c, h, addr, buf, length):
    return virtual_query(c, h, addr, buf, length)


def virtual_query(c, h, addr, buf, length) -> int:
    """VirtualQuery(Ex): NtQueryVirtualMemory(h, addr, MemoryBasicInformation, buf, length, &returned)."""
    io = c.stack_alloc(c.ptr_size)
    st = c.nt("NtQueryVirtualMemory", h, addr, 0, buf, length, io)
    if st & 0x80000000:
        c.set_last_nt_error(st)
        return 0
    return c.ptr(io)


# ------------------------------------------------------------------------------------------ copies
@api(K32, "BOOL WINAPI ReadProcessMemory(HANDLE hProcess, LPCVOID lpBaseAddress, LPVOID lpBuffer, SIZE_T nSize, "
          "SIZE_T *lpNumberOfBytesRead)")
def ReadProcessMemory(c, h, base, buf, size, pread):
    """NtReadVirtualMemory; the count is stored even when the copy was partial."""
    n = c.stack_alloc(c.ptr_size)
    st = c.nt("NtReadVirtualMemory", h, base, buf, size, n)
    if pread:
        c.write_ptr(pread, c.ptr(n))
    if st & 0x80000000:
        c.set_last_nt_error(st)
        return 0
    return 1


def _query(c, h, addr: int, mbi: int):
    """NtQueryVirtualMemory(MemoryBasicInformation) → (BaseAddress, RegionSize, State, Protect) or None."""
    from winhatch.kernel.structs import MEMORY_BASIC_INFORMATION as M
    size = M.size(c.arch)
    if c.nt("NtQueryVirtualMemory", h, addr, 0, mbi, size, 0) & 0x80000000:
        return None
    v = M.read(c.proc.aspace, mbi, c.arch)
    return v["BaseAddress"], v["RegionSize"], v["State"], v["Protect"]


@api(K32, "BOOL WINAPI WriteProcessMemory(HANDLE hProcess, LPVOID lpBaseAddress, LPCVOID lpBuffer, SIZE_T nSize, "
          "SIZE_T *lpNumberOfBytesWritten)")
def WriteProcessMemory(c, h, base, buf, size, pwritten):
    """As kernelbase does it: the target's regions are queried; a range with a page that is not committed, a
    guard page, or a protection neither writable nor executable-only fails with ERROR_NOACCESS before any
    byte is written; executable-only pages are made writable for the copy (NtProtectVirtualMemory) and
    restored; the instruction cache is flushed."""
    from winhatch.kernel.structs import MEMORY_BASIC_INFORMATION as M
    ps = c.ptr_size
    if size == 0:
        _put_count(c, pwritten, 0)
        return 1
    if size > MAX_COPY:
        c.set_last_error(ERROR_PARTIAL_COPY)
        return 0
    mbi = c.stack_alloc(M.size(c.arch))
    io = c.stack_alloc(3 * ps)
    regions, cur, end = [], base, base + size
    for _ in range(1 << 12):
        if cur >= end:
            break
        q = _query(c, h, cur, mbi)
        if q is None:
            c.set_last_error(ERROR_NOACCESS)
            return 0
        rbase, rsize, state, prot = q
        p = prot & 0xFF
        if state != MEM_COMMIT or prot & PAGE_GUARD or not (p in _WRITABLE or p in _EXEC_ONLY):
            c.set_last_error(ERROR_NOACCESS)
            return 0
        stop = min(end, rbase + rsize)
        regions.append((cur, stop, prot))
        cur = stop
    restore = []

    def protect(start, length, prot) -> int:
        c.write_ptr(io, start)
        c.write_ptr(io + ps, length)
        return c.nt("NtProtectVirtualMemory", h, io, io + ps, prot, io + 2 * ps)

    try:
        for s, e, prot in regions:   # executable, not writable: writable for the copy
            if prot & 0xFF in _EXEC_ONLY:
                st = protect(s, e - s, PAGE_EXECUTE_READWRITE)
                if st & 0x80000000:
                    c.set_last_nt_error(st)
                    return 0
                restore.append((s, e, prot))
        st = c.nt("NtWriteVirtualMemory", h, base, buf, size, io)
        written = c.ptr(io)
    finally:
        for s, e, prot in restore:
            protect(s, e - s, prot)
    c.nt("NtFlushInstructionCache", h, base, size)
    _put_count(c, pwritten, written)
    if st & 0x80000000:
        c.set_last_nt_error(st)
        return 0
    return 1


@api(K32, "BOOL WINAPI VirtualLock(LPVOID lpAddress, SIZE_T dwSize)")
def VirtualLock(c, addr, size):
    """NtLockVirtualMemory(current process, MAP_PROCESS): committed, accessible pages within the working-set
    quota (ERROR_WORKING_SET_QUOTA past it)."""
    return _lock(c, "NtLockVirtualMemory", addr, size)


@api(K32, "BOOL WINAPI VirtualUnlock(LPVOID lpAddress, SIZE_T dwSize)")
def VirtualUnlock(c, addr, size):
    """NtUnlockVirtualMemory: ERROR_NOT_LOCKED (158) when a page of the range is not locked."""
    return _lock(c, "NtUnlockVirtualMemory", addr, size)


def _lock(c, service: str, addr: int, size: int) -> int:
    ps = c.ptr_size
    io = c.stack_alloc(2 * ps)
    c.write_ptr(io, addr)
    c.write_ptr(io + ps, size)
    st = c.nt(service, -1, io, io + ps, 1)   # MAP_PROCESS
    if st & 0x80000000:
        c.set_last_nt_error(st)
        return 0
    return 1


@api(K32, "BOOL WINAPI FlushInstructionCache(HANDLE hProcess, LPCVOID lpBaseAddress, SIZE_T dwSize)")
def FlushInstructionCache(c, h, base, size):
    st = c.nt("NtFlushInstructionCache", h, base, size)
    if st & 0x80000000:
        c.set_last_nt_error(st)
        return 0
    return 1


# ------------------------------------------------------------------------------------------ VirtualAlloc2
def _virtual_alloc2(c, h, addr, size, atype, prot, params, count, *, from_app: bool) -> int:
    """NtAllocateVirtualMemoryEx (a NULL Process is the caller's); ...FromApp refuses executable protections
    (ERROR_INVALID_PARAMETER: executable memory needs the codeGeneration capability)."""
    if from_app and (prot & 0xFF) in (PAGE_EXECUTE, PAGE_EXECUTE_READ, PAGE_EXECUTE_READWRITE,
                                      PAGE_EXECUTE_WRITECOPY):
        c.set_last_error(87)
        return 0
    ps = c.ptr_size
    io = c.stack_alloc(2 * ps)
    c.write_ptr(io, addr)
    c.write_ptr(io + ps, size)
    st = c.nt("NtAllocateVirtualMemoryEx", h or -1, io, io + ps, atype, prot, params, count)
    if st & 0x80000000:
        c.set_last_nt_error(st)
        return 0
    return c.ptr(io)


@api("kernelbase.dll", "PVOID WINAPI VirtualAlloc2(HANDLE Process, PVOID BaseAddress, SIZE_T Size, "
                       "ULONG AllocationType, ULONG PageProtection, MEM_EXTENDED_PARAMETER *ExtendedParameters, "
                       "ULONG ParameterCount)")
def VirtualAlloc2(c, h, addr, size, atype, prot, params, count):
    """VirtualAllocEx with extended parameters: address requirements (alignment, lowest and highest
    address) and the NUMA node (winhatch has one, node 0); NULL Process is the caller's."""
    return _virtual_alloc2(c, h, addr, size, atype, prot, params, count, from_app=False)


@api("kernelbase.dll", "PVOID WINAPI VirtualAlloc2FromApp(HANDLE Process, PVOID BaseAddress, SIZE_T Size, "
                       "ULONG AllocationType, ULONG PageProtection, MEM_EXTENDED_PARAMETER *ExtendedParameters, "
                       "ULONG ParameterCount)")
def VirtualAlloc2FromApp(c, h, addr, size, atype, prot, params, count):
    """VirtualAlloc2 for an app: executable protections are refused (ERROR_INVALID_PARAMETER)."""
    return _virtual_alloc2(c, h, addr, size, atype, prot, params, count, from_app=True)


# ------------------------------------------------------------------------------------------ psapi (K32*)
@api(("kernel32.dll", "kernelbase.dll"), "DWORD WINAPI K32GetMappedFileName%(HANDLE hProcess, LPVOID lpv, "
                                         "LPTSTR lpFilename, DWORD nSize)")
@api(("kernelbase.dll", "psapi.dll"), "DWORD WINAPI GetMappedFileName%(HANDLE hProcess, LPVOID lpv, LPTSTR lpFilename, "
                                      "DWORD nSize)")
def K32GetMappedFileName(c, h, addr, buf, size):
    """NtQueryVirtualMemory(MemoryMappedFilenameInformation): the NT path of the file mapped at the address
    (\\Device\\HarddiskVolumeN\\...), truncated to nSize characters with its NUL (the count returned is then
    nSize); other memory: ERROR_UNEXP_NET_ERR (from STATUS_INVALID_ADDRESS), as Windows gives it."""
    cap = 0x1000
    info = c.stack_alloc(cap)
    st = c.nt("NtQueryVirtualMemory", h, addr, 2, info, cap, 0)
    if st & 0x80000000:
        c.set_last_nt_error(st)
        return 0
    n = int.from_bytes(c.read(info, 2), "little")
    name = c.read(c.ptr(info + c.ptr_size), n).decode("utf-16-le", "replace")
    if not size:
        c.set_last_error(122)   # ERROR_INSUFFICIENT_BUFFER
        return 0
    data = c.encode_t(name)
    unit = c.tchar_size()
    chars = min(len(data) // unit, size - 1)
    c.write(buf, data[:chars * unit] + b"\0" * unit)
    return size if len(data) // unit > chars else chars


@api(("kernel32.dll", "kernelbase.dll"), "BOOL WINAPI K32QueryWorkingSetEx(HANDLE hProcess, PVOID pv, DWORD cb)")
@api(("kernelbase.dll", "psapi.dll"), "BOOL WINAPI QueryWorkingSetEx(HANDLE hProcess, PVOID pv, DWORD cb)")
def K32QueryWorkingSetEx(c, h, pv, cb):
    """NtQueryVirtualMemory(MemoryWorkingSetExInformation) over the caller's array."""
    st = c.nt("NtQueryVirtualMemory", h, 0, 4, pv, cb, 0)
    if st & 0x80000000:
        c.set_last_nt_error(st)
        return 0
    return 1
