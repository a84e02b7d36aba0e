"""The memory manager's system services (Nt*VirtualMemory), called by the system-service dispatcher
(winhatch.kernel.ke.services) for a guest system call.

Pointer-sized in/out parameters (*BaseAddress, *RegionSize) are the caller's pointer size: 8 bytes in an x64
process, 4 in a WoW64 one (Windows' WoW64 layer thunks them the same way)."""
from __future__ import annotations

import struct

from winhatch.kernel.ke.services import kernel_service, process_from_handle, unsupported, user_read, user_write
from winhatch.kernel.ob.access import PROCESS_VM_OPERATION
from winhatch.ntstatus import NtStatusError

STATUS_INVALID_PARAMETER_4 = 0xC00000F2
PAGE = 0x1000


def _ptr_fmt(thread) -> str:
    return "<Q" if thread.process.arch == "x64" else "<I"


def _get(thread, addr: int) -> int:
    fmt = _ptr_fmt(thread)
    return struct.unpack(fmt, user_read(thread.process, addr, struct.calcsize(fmt)))[0]


def _put(thread, addr: int, v: int) -> None:
    fmt = _ptr_fmt(thread)
    user_write(thread.process, addr, struct.pack(fmt, v & ((1 << (8 * struct.calcsize(fmt))) - 1)))


@kernel_service("NtAllocateVirtualMemory")
def NtAllocateVirtualMemory(machine, thread, ProcessHandle, BaseAddress, ZeroBits, RegionSize, AllocationType,
                            Protect):
    proc = process_from_handle(thread, ProcessHandle, PROCESS_VM_OPERATION)
    base = _get(thread, BaseAddress)
    size = _get(thread, RegionSize)
    if ZeroBits:
        unsupported(thread, "NtAllocateVirtualMemory", f"ZeroBits {ZeroBits:#x}")
    if not size:
        return STATUS_INVALID_PARAMETER_4
    got_base, got_size = proc.aspace.allocate(base or None, size, AllocationType & 0xFFFFFFFF, Protect & 0xFFFFFFFF)
    _put(thread, BaseAddress, got_base)
    _put(thread, RegionSize, got_size)
    return 0


@kernel_service("NtFreeVirtualMemory")
def NtFreeVirtualMemory(machine, thread, ProcessHandle, BaseAddress, RegionSize, FreeType):
    proc = process_from_handle(thread, ProcessHandle, PROCESS_VM_OPERATION)
    base = _get(thread, BaseAddress)
    size = _get(thread, RegionSize)
    got_base, got_size = proc.aspace.free(base, size, FreeType & 0xFFFFFFFF)
    _put(thread, BaseAddress, got_base)
    _put(thread, RegionSize, got_size)
    return 0


@kernel_service("NtProtectVirtualMemory")
def NtProtectVirtualMemory(machine, thread, ProcessHandle, BaseAddress, RegionSize, NewProtect, OldProtect):
    proc = process_from_handle(thread, ProcessHandle, PROCESS_VM_OPERATION)
    base = _get(thread, BaseAddress)
    size = _get(thread, RegionSize)
    if not OldProtect:
        raise NtStatusError(0xC0000005, "OldProtect is NULL")
    old = proc.aspace.protect(base, size, NewProtect & 0xFFFFFFFF)
    start = base & ~(PAGE - 1)
    end = (base + max(size, 1) + PAGE - 1) & ~(PAGE - 1)
    user_write(thread.process, OldProtect, struct.pack("<I", old & 0xFFFFFFFF))
    _put(thread, BaseAddress, start)
    _put(thread, RegionSize, end - start)
    return 0


@kernel_service("NtFlushInstructionCache")
def NtFlushInstructionCache(machine, thread, ProcessHandle, BaseAddress, Length):
    proc = process_from_handle(thread, ProcessHandle, 0)
    proc.cpu.flush_code(BaseAddress, Length if BaseAddress else 0)
    return 0


MemoryBasicInformation = 0
STATUS_INFO_LENGTH_MISMATCH = 0xC0000004
PROCESS_QUERY_INFORMATION = 0x0400


@kernel_service("NtQueryVirtualMemory")
def NtQueryVirtualMemory(machine, thread, ProcessHandle, BaseAddress, MemoryInformationClass, MemoryInformation,
                         MemoryInformationLength, ReturnLength):
    from winhatch.kernel.structs import MEMORY_BASIC_INFORMATION
    proc = process_from_handle(thread, ProcessHandle, PROCESS_QUERY_INFORMATION)
    cls = MemoryInformationClass & 0xFFFFFFFF
    if cls != MemoryBasicInformation:
        unsupported(thread, "NtQueryVirtualMemory", f"information class {cls:#x}")
    arch = thread.process.arch
    size = MEMORY_BASIC_INFORMATION.size(arch)
    if (MemoryInformationLength & 0xFFFFFFFFFFFFFFFF) < size:
        return STATUS_INFO_LENGTH_MISMATCH
    mbi = proc.aspace.query(BaseAddress)
    user_write(thread.process, MemoryInformation, MEMORY_BASIC_INFORMATION.pack(
        arch, BaseAddress=mbi.BaseAddress, AllocationBase=mbi.AllocationBase,
        AllocationProtect=mbi.AllocationProtect, RegionSize=mbi.RegionSize, State=mbi.State,
        Protect=mbi.Protect, Type=mbi.Type))
    if ReturnLength:
        _put(thread, ReturnLength, size)
    return 0


@kernel_service("NtFlushProcessWriteBuffers")
def NtFlushProcessWriteBuffers(machine, thread):
    """FlushProcessWriteBuffers: every processor running the process's threads drains its write buffers. The
    emulated processors run one thread at a time and write guest memory directly, so every write is already
    visible to the other threads when this returns: nothing is left to drain."""
    return 0
