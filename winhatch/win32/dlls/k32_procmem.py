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

from .k32_common import lookup

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


def _target(c, h, access):
    proc = lookup(c, h, "Process", access)
    if proc is not None and (proc.cpu is None or proc.exited):
        c.set_last_error(5)  # ERROR_ACCESS_DENIED: the system's pseudo-processes have no user address space
        return None
    return proc


def _regions(aspace, addr: int, size: int):
    """(start, end, protect, state) of each region covering [addr, addr+size), bounded by the range."""
    out = []
    cur, end = addr, addr + size
    for _ in range(1 << 16):
        if cur >= end:
            break
        mbi = aspace.query(cur)
        stop = min(end, mbi.BaseAddress + mbi.RegionSize)
        out.append((cur, stop, mbi.Protect, mbi.State))
        cur = stop
    return out


def _put_count(c, p, n: int) -> None:
    if p:
        c.write(p, n.to_bytes(c.ptr_size, "little"))


# ------------------------------------------------------------------------------------------ VirtualXxxEx
@api(K32, "LPVOID WINAPI VirtualAllocEx(HANDLE hProcess, LPVOID lpAddress, SIZE_T dwSize, DWORD flAllocationType, "
          "DWORD flProtect)")
def VirtualAllocEx(c, h, addr, size, atype, prot):
    return 0 if _target(c, h, PROCESS_VM_OPERATION) is None else virtual_alloc(c, h, addr, size, atype, prot)


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
    proc = _target(c, h, PROCESS_VM_OPERATION)
    return 0 if proc is None else virtual_free(c, h, addr, size, ftype)


def virtual_free(c, h, addr, size, ftype) -> int:
    """VirtualFree(Ex): NtFreeVirtualMemory(h, &base, &size, type)."""
    if ftype & MEM_RELEASE and size:   # MEM_RELEASE frees the whole allocation: dwSize must be 0
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
    proc = _target(c, h, PROCESS_VM_OPERATION)
    return 0 if proc is None else virtual_protect(c, h, addr, size, prot, oldp)


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
    proc = _target(c, h, PROCESS_QUERY_INFORMATION)
    return 0 if proc is None else virtual_query(c, h, addr, buf, length)


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
    proc = _target(c, h, PROCESS_VM_READ)
    if proc is None:
        return 0
    if size == 0:
        _put_count(c, pread, 0)
        return 1
    readable = 0   # the readable prefix of the range
    try:
        for s, e, prot, state in _regions(proc.aspace, base, min(size, MAX_COPY)):
            if state != MEM_COMMIT or (prot & 0xFF) not in _READABLE or prot & PAGE_GUARD:
                break
            readable = e - base
    except NtStatusError:
        pass
    if readable < size:
        # nothing readable: the copy faults at once (ERROR_NOACCESS); part of it: ERROR_PARTIAL_COPY, with
        # what could be read copied
        if readable:
            c.write(buf, proc.aspace.read(base, readable))
        _put_count(c, pread, readable)
        c.set_last_error(ERROR_PARTIAL_COPY if readable else ERROR_NOACCESS)
        return 0
    c.write(buf, proc.aspace.read(base, size))
    _put_count(c, pread, size)
    return 1


@api(K32, "BOOL WINAPI WriteProcessMemory(HANDLE hProcess, LPVOID lpBaseAddress, LPCVOID lpBuffer, SIZE_T nSize, "
          "SIZE_T *lpNumberOfBytesWritten)")
def WriteProcessMemory(c, h, base, buf, size, pwritten):
    proc = _target(c, h, PROCESS_VM_WRITE | PROCESS_VM_OPERATION)
    if proc is None:
        return 0
    if size == 0:
        _put_count(c, pwritten, 0)
        return 1
    if size > MAX_COPY:
        c.set_last_error(ERROR_PARTIAL_COPY)
        return 0
    try:
        regions = _regions(proc.aspace, base, size)
    except NtStatusError as e:
        c.set_last_error(nt_to_win32(e.status))
        return 0
    for _s, _e, prot, state in regions:
        p = prot & 0xFF
        if state != MEM_COMMIT or prot & PAGE_GUARD or not (p in _WRITABLE or p in _EXEC_ONLY):
            c.set_last_error(ERROR_NOACCESS)
            return 0
    data = c.read(buf, size)
    restore = []
    try:
        for s, e, prot, _state in regions:   # executable, not writable: writable for the copy
            if prot & 0xFF in _EXEC_ONLY:
                proc.aspace.protect(s, e - s, PAGE_EXECUTE_READWRITE)
                restore.append((s, e, prot))
        proc.aspace.write(base, data)
    except NtStatusError as e:
        c.set_last_error(nt_to_win32(e.status))
        return 0
    finally:
        for s, e, prot in restore:
            proc.aspace.protect(s, e - s, prot)
    proc.cpu.flush_code(base, size)
    _put_count(c, pwritten, size)
    return 1


@api(K32, "BOOL WINAPI FlushInstructionCache(HANDLE hProcess, LPCVOID lpBaseAddress, SIZE_T dwSize)")
def FlushInstructionCache(c, h, base, size):
    proc = _target(c, h, 0)
    if proc is None:
        return 0
    proc.cpu.flush_code(base, size if base else 0)
    return 1


# ------------------------------------------------------------------------------------------ VirtualAlloc2
# MEM_EXTENDED_PARAMETER (16 bytes on both architectures): Type:8 | Reserved:56, then a 64-bit union
# (a pointer, a size, a handle or a ULONG). MEM_ADDRESS_REQUIREMENTS: LowestStartingAddress,
# HighestEndingAddress, Alignment (pointer-sized each).
MemExtendedParameterAddressRequirements = 1
MemExtendedParameterNumaNode = 2
MemExtendedParameterMax = 7
NUMA_NO_PREFERRED_NODE = 0xFFFFFFFF
ALLOCATION_GRANULARITY = 0x10000


def _virtual_alloc2(c, h, addr, size, atype, prot, params, count, *, from_app: bool) -> int:
    from winhatch.kernel.ob.access import PROCESS_VM_OPERATION as VMOP
    proc = c.proc if not h else _target(c, h, VMOP)
    if proc is None:
        return 0
    if from_app and (prot & 0xFF) in (PAGE_EXECUTE, PAGE_EXECUTE_READ, PAGE_EXECUTE_READWRITE,
                                      PAGE_EXECUTE_WRITECOPY):
        c.set_last_error(87)   # ...FromApp: executable memory needs the codeGeneration capability
        return 0
    align = lowest = highest = None
    for i in range(min(count, 64)):   # a caller passes a handful; more is not a valid request
        raw = c.read(params + 16 * i, 16)
        ptype = raw[0]
        value = int.from_bytes(raw[8:16], "little")
        if ptype == MemExtendedParameterAddressRequirements:
            ps = c.ptr_size
            req = c.read(value, 3 * ps)
            lowest, highest, align = (int.from_bytes(req[k * ps:(k + 1) * ps], "little") for k in range(3))
            bad_align = align and (align & (align - 1) or align < ALLOCATION_GRANULARITY)
            bad_high = highest and (highest + 1) % ALLOCATION_GRANULARITY
            if bad_align or bad_high or lowest % ALLOCATION_GRANULARITY or addr:
                c.set_last_error(87)
                return 0
        elif ptype == MemExtendedParameterNumaNode:
            if value & 0xFFFFFFFF not in (0, NUMA_NO_PREFERRED_NODE):   # one node: 0
                c.set_last_error(87)
                return 0
        elif ptype == 0 or ptype >= MemExtendedParameterMax:
            c.set_last_error(87)
            return 0
        else:
            from .exc_seh import raise_unsupported
            raise_unsupported(c, f"VirtualAlloc2 extended parameter type {ptype}")
    if count > 64:
        c.set_last_error(87)
        return 0
    try:
        base, _ = proc.aspace.allocate(addr or None, size, atype, prot, align=align or ALLOCATION_GRANULARITY,
                                       lowest=lowest or None, highest=highest or None)
        return base
    except NtStatusError as e:
        c.set_last_error(nt_to_win32(e.status))
        return 0


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
