"""The memory manager's system services (Nt*VirtualMemory), called by the system-service dispatcher
(winhatch.kernel.ke.services) for a guest system call.

Pointer-sized in/out parameters (*BaseAddress, *RegionSize) are the caller's pointer size: 8 bytes in an x64
process, 4 in a WoW64 one (Windows' WoW64 layer thunks them the same way)."""
from __future__ import annotations

import struct

from winhatch.kernel import behaviour
from winhatch.kernel.ke.services import kernel_service, process_from_handle, unsupported, user_read, user_write
from winhatch.kernel.mm.constants import MEM_REPLACE_PLACEHOLDER, MEM_RESERVE, MEM_RESERVE_PLACEHOLDER
from winhatch.kernel.ob.access import PROCESS_VM_OPERATION
from winhatch.ntstatus import STATUS_INVALID_PARAMETER
from winhatch.ntstatus import NtStatusError

STATUS_INVALID_PARAMETER_4 = 0xC00000F2
PAGE = 0x1000


def _ptr_fmt(thread) -> str:
    """A pointer-sized value of the caller: 64-bit for an x64 process and for WoW64's 64-bit calls
    (NtWow64AllocateVirtualMemory64 ...: ServiceTable.call native)."""
    return "<Q" if thread.process.arch == "x64" or getattr(thread, "native_call", False) else "<I"


def _get(thread, addr: int) -> int:
    fmt = _ptr_fmt(thread)
    return struct.unpack(fmt, user_read(thread.process, addr, struct.calcsize(fmt)))[0]


def _put(thread, addr: int, v: int) -> None:
    fmt = _ptr_fmt(thread)
    user_write(thread.process, addr, struct.pack(fmt, v & ((1 << (8 * struct.calcsize(fmt))) - 1)))


STATUS_INVALID_PARAMETER_3 = 0xC00000F1


def zero_bits_limit(thread, zero_bits: int) -> int | None:
    """The highest address a ZeroBits argument allows (None: no limit). A count below 32 is the number of
    high-order bits of a 32-bit address that must be zero (on x64 too: 1..21, the documented range, below 4 GiB);
    on x64 — and in a WoW64 process, whose services are the 64-bit ones — a value of 32 or more is a mask the
    address must fit, as long as it leaves at most 53 (MM_MAXIMUM_ZERO_BITS) high bits zero: a mask below
    0x400 (33, say) is STATUS_INVALID_PARAMETER_3 too. Another count is STATUS_INVALID_PARAMETER_3."""
    if not zero_bits:
        return None
    if zero_bits < 32:
        if zero_bits > 21:
            raise NtStatusError(STATUS_INVALID_PARAMETER_3, f"ZeroBits {zero_bits}")
        return (1 << (32 - zero_bits)) - 1
    if 64 - zero_bits.bit_length() > 53:
        raise NtStatusError(STATUS_INVALID_PARAMETER_3, f"ZeroBits mask {zero_bits:#x}")
    return (1 << zero_bits.bit_length()) - 1


@kernel_service("NtAllocateVirtualMemory")
def NtAllocateVirtualMemory(machine, thread, ProcessHandle, BaseAddress, ZeroBits, RegionSize, AllocationType,
                            Protect):
    proc = _vm_process(thread, ProcessHandle, PROCESS_VM_OPERATION)
    base = _get(thread, BaseAddress)
    size = _get(thread, RegionSize)
    highest = zero_bits_limit(thread, ZeroBits)
    if not size:
        return STATUS_INVALID_PARAMETER_4
    if AllocationType & (MEM_RESERVE_PLACEHOLDER | MEM_REPLACE_PLACEHOLDER):   # NtAllocateVirtualMemoryEx's
        return STATUS_INVALID_PARAMETER
    got_base, got_size = proc.aspace.allocate(base or None, size, AllocationType & 0xFFFFFFFF, Protect & 0xFFFFFFFF,
                                              highest=highest if not base else None)
    if AllocationType & 0x1000 and Protect & PAGE_GUARD:
        _guard_in_stack(machine, thread, proc, got_base, got_base + got_size)
    _put(thread, BaseAddress, got_base)
    _put(thread, RegionSize, got_size)
    behaviour.cross_process(machine, thread, proc, "NtAllocateVirtualMemory", base=got_base, size=got_size,
                            protect=Protect & 0xFFFFFFFF)
    behaviour.executable_memory(machine, thread, proc, "NtAllocateVirtualMemory", got_base, got_size,
                                Protect & 0xFFFFFFFF)
    if Protect & behaviour.EXECUTABLE:     # executable: which of its pages run after being written
        proc.aspace.track_execution(got_base, got_size)
    return 0


PAGE_GUARD = 0x100


def _guard_in_stack(machine, thread, proc, start: int, end: int) -> None:
    """Guard pages set inside the committed part of the calling thread's own stack move its TEB StackLimit up to
    their end: the stack above them is what remains committed (Wine's ntdll/virtual.c test_stack_growth_thread,
    on Windows: "setting a guard page shrinks stack automatically", by NtAllocateVirtualMemory or
    NtProtectVirtualMemory alike).  The next guard-page fault grows it again."""
    st = thread.stack
    if proc is not thread.process or st is None or not (st.reserve_base <= start < st.base):
        return
    from winhatch.kernel.structs import TEB
    arch = proc.arch
    off = TEB.offset(arch, "NtTib") + (0x10 if arch == "x64" else 0x8)    # NT_TIB.StackLimit
    limit = _get(thread, thread.teb + off)
    if start >= limit and end > limit:
        new = min(end, st.base)
        st.limit = new
        machine.write_teb_stack_limit(thread, new)


@kernel_service("NtFreeVirtualMemory")
def NtFreeVirtualMemory(machine, thread, ProcessHandle, BaseAddress, RegionSize, FreeType):
    proc = _vm_process(thread, ProcessHandle, PROCESS_VM_OPERATION)
    base = _get(thread, BaseAddress)
    size = _get(thread, RegionSize)
    got_base, got_size = proc.aspace.free(base, size, FreeType & 0xFFFFFFFF)
    _put(thread, BaseAddress, got_base)
    # a decommit of the whole allocation (size 0) reports size 0 since Windows 10 1803 (ntdll/virtual.c)
    _put(thread, RegionSize, 0 if not size and FreeType & 0xFFFFFFFF == 0x4000 else got_size)
    return 0


@kernel_service("NtProtectVirtualMemory")
def NtProtectVirtualMemory(machine, thread, ProcessHandle, BaseAddress, RegionSize, NewProtect, OldProtect):
    proc = _vm_process(thread, ProcessHandle, PROCESS_VM_OPERATION)
    base = _get(thread, BaseAddress)
    size = _get(thread, RegionSize)
    if not OldProtect:
        raise NtStatusError(0xC0000005, "OldProtect is NULL")
    old = proc.aspace.protect(base, size, NewProtect & 0xFFFFFFFF)
    start = base & ~(PAGE - 1)
    end = (base + max(size, 1) + PAGE - 1) & ~(PAGE - 1)
    if NewProtect & PAGE_GUARD:
        _guard_in_stack(machine, thread, proc, start, end)
    user_write(thread.process, OldProtect, struct.pack("<I", old & 0xFFFFFFFF))
    _put(thread, BaseAddress, start)
    _put(thread, RegionSize, end - start)
    behaviour.cross_process(machine, thread, proc, "NtProtectVirtualMemory", base=start, size=end - start,
                            protect=NewProtect & 0xFFFFFFFF)
    behaviour.executable_memory(machine, thread, proc, "NtProtectVirtualMemory", start, end - start,
                                NewProtect & 0xFFFFFFFF)
    if NewProtect & behaviour.EXECUTABLE:
        proc.aspace.track_execution(start, end - start)
    return 0


@kernel_service("NtFlushInstructionCache")
def NtFlushInstructionCache(machine, thread, ProcessHandle, BaseAddress, Length):
    proc = _vm_process(thread, ProcessHandle, 0)
    proc.cpu.flush_code(BaseAddress, Length if BaseAddress else 0)
    return 0


MemoryBasicInformation = 0
MemoryMappedFilenameInformation = 2
MemoryWorkingSetExInformation = 4
MemoryImageInformation = 6
STATUS_INFO_LENGTH_MISMATCH = 0xC0000004
STATUS_BUFFER_OVERFLOW = 0x80000005
STATUS_INVALID_ADDRESS = 0xC0000141
STATUS_INVALID_INFO_CLASS = 0xC0000003
PROCESS_QUERY_INFORMATION = 0x0400
MemoryRegionInformation = 3
MEM_COMMIT_STATE, MEM_IMAGE_TYPE, MEM_MAPPED_TYPE = 0x1000, 0x1000000, 0x40000


def nt_device_path(machine, path: str) -> str:
    """A DOS path as the object manager names the file: C:\\x → \\Device\\HarddiskVolumeN\\x (the volume
    devices of the file system), anything else under \\??\\."""
    vols = getattr(machine.vfs, "volume_devices", {}) or {}
    if len(path) >= 2 and path[1] == ":" and path[0].upper() in vols:
        return f"\\Device\\{vols[path[0].upper()]}{path[2:]}"
    return "\\??\\" + path


def _mapped_file(proc, addr: int) -> str | None:
    """The file an image or mapped view at `addr` comes from (its DOS path), None for other memory."""
    a = proc.aspace.allocation_at(addr)
    if a is None or a.type not in (MEM_IMAGE_TYPE, MEM_MAPPED_TYPE) or a.section is None:
        return None
    sec = a.section
    if a.type == MEM_IMAGE_TYPE:
        return getattr(sec, "path", None)
    f = getattr(sec, "file", None)
    return getattr(f, "path", None) if f is not None else None


@kernel_service("NtQueryVirtualMemory")
def NtQueryVirtualMemory(machine, thread, ProcessHandle, BaseAddress, MemoryInformationClass, MemoryInformation,
                         MemoryInformationLength, ReturnLength):
    """MemoryBasicInformation; MemoryMappedFilenameInformation (the NT path of the image or mapped file, as
    GetMappedFileName reports it; STATUS_INVALID_ADDRESS for other memory); MemoryWorkingSetExInformation (the
    caller's array of addresses, each given its attributes: every committed page is resident); and
    MemoryImageInformation (base, size and flags of the image). Another class stops loudly."""
    from winhatch.kernel.structs import MEMORY_BASIC_INFORMATION
    proc = _vm_process(thread, ProcessHandle, PROCESS_QUERY_INFORMATION)
    cls = MemoryInformationClass & 0xFFFFFFFF
    arch = thread.process.arch
    ps = 8 if arch == "x64" else 4
    length = MemoryInformationLength & ((1 << (8 * ps)) - 1)
    if cls == MemoryBasicInformation:
        from winhatch.kernel.ex.sysinfo import max_user_address
        size = MEMORY_BASIC_INFORMATION.size(arch)
        if length < size:
            return STATUS_INFO_LENGTH_MISMATCH
        if BaseAddress > max_user_address(proc):   # above MmHighestUserAddress (2 GB without LAA on x86)
            return STATUS_INVALID_PARAMETER
        mbi = proc.aspace.query(BaseAddress)
        user_write(thread.process, MemoryInformation, MEMORY_BASIC_INFORMATION.pack(
            arch, BaseAddress=mbi.BaseAddress, AllocationBase=mbi.AllocationBase,
            AllocationProtect=mbi.AllocationProtect, RegionSize=mbi.RegionSize, State=mbi.State,
            Protect=mbi.Protect, Type=mbi.Type))
        if ReturnLength:
            _put(thread, ReturnLength, size)
        return 0
    if cls == MemoryMappedFilenameInformation:
        path = _mapped_file(proc, BaseAddress)
        if path is None:
            return STATUS_INVALID_ADDRESS
        name = nt_device_path(machine, path).encode("utf-16-le")
        us = 2 * ps
        need = us + len(name) + 2
        if ReturnLength:
            _put(thread, ReturnLength, need)
        if length < us:                 # not even the UNICODE_STRING (ReturnLength has the size needed)
            return STATUS_INFO_LENGTH_MISMATCH
        if length < need:
            return STATUS_BUFFER_OVERFLOW
        buf = MemoryInformation + us
        head = struct.pack("<HH", len(name), len(name) + 2) + bytes(ps - 4) + buf.to_bytes(ps, "little")
        user_write(thread.process, MemoryInformation, head + name + b"\0\0")
        return 0
    if cls == MemoryWorkingSetExInformation:
        entry = 2 * ps
        if length < entry:
            return STATUS_INFO_LENGTH_MISMATCH
        n = min(length // entry, 1 << 16)
        raw = bytearray(user_read(thread.process, MemoryInformation, n * entry))
        locked = getattr(proc, "locked_pages", set())
        for i in range(n):
            va = int.from_bytes(raw[i * entry:i * entry + ps], "little")
            attrs = 0
            try:
                mbi = proc.aspace.query(va)
            except NtStatusError:
                mbi = None
            if mbi is not None and mbi.State == MEM_COMMIT_STATE:
                shared = mbi.Type in (MEM_IMAGE_TYPE, MEM_MAPPED_TYPE)
                attrs = (1                                        # Valid: resident
                         | ((1 if shared else 0) << 1)            # ShareCount
                         | ((mbi.Protect & 0x7FF) << 4)           # Win32Protection
                         | ((1 if shared else 0) << 15)           # Shared
                         | ((1 if (va & ~(PAGE - 1)) in locked else 0) << 22))   # Locked
            raw[i * entry + ps:(i + 1) * entry] = attrs.to_bytes(ps, "little")
        user_write(thread.process, MemoryInformation, bytes(raw))
        if ReturnLength:
            _put(thread, ReturnLength, n * entry)
        return 0
    if cls == MemoryImageInformation:
        size = 2 * ps + 8 if ps == 8 else 2 * ps + 4
        if length < size:
            return STATUS_INFO_LENGTH_MISMATCH
        a = proc.aspace.allocation_at(BaseAddress)
        if a is None or a.type != MEM_IMAGE_TYPE:
            return STATUS_INVALID_ADDRESS
        data = a.base.to_bytes(ps, "little") + a.size.to_bytes(ps, "little") + bytes(size - 2 * ps)
        user_write(thread.process, MemoryInformation, data)
        if ReturnLength:
            _put(thread, ReturnLength, size)
        return 0
    if cls == MemoryRegionInformation:
        # MEMORY_REGION_INFORMATION {AllocationBase; AllocationProtect; RegionType; RegionSize; CommitSize;
        # PartitionId; NodePreference}: a caller's buffer may stop after RegionSize or CommitSize (older
        # layouts); RegionSize and CommitSize are the whole allocation's
        full = 6 * ps if ps == 8 else 7 * ps
        minimum = 2 * ps + 8
        if length < minimum:
            return STATUS_INFO_LENGTH_MISMATCH
        a = proc.aspace.allocation_at(BaseAddress)
        if a is None:
            return STATUS_INVALID_ADDRESS
        # RegionType: only the image and data-file bits (Windows leaves Private and MappedPageFile clear for
        # private memory and pagefile-backed views: Wine's ntdll/virtual.c test_query_region_information)
        rtype = (4 if a.type == MEM_IMAGE_TYPE else 0) | \
            (2 if a.type == MEM_MAPPED_TYPE and getattr(a.section, "file", None) is not None else 0)
        commit = (a.committed_pages() if a.type == 0x20000 else a.size // PAGE) * PAGE
        data = (a.base.to_bytes(ps, "little") + struct.pack("<II", a.protect, rtype) + a.size.to_bytes(ps, "little")
                + commit.to_bytes(ps, "little") + bytes(2 * ps))
        n = min(length, full)
        user_write(thread.process, MemoryInformation, data[:n])
        if ReturnLength:
            _put(thread, ReturnLength, n)
        return 0
    unsupported(thread, "NtQueryVirtualMemory", f"information class {cls:#x}")
    return STATUS_INVALID_INFO_CLASS


@kernel_service("NtFlushProcessWriteBuffers")
def NtFlushProcessWriteBuffers(machine, thread):
    """FlushProcessWriteBuffers: every processor running the process's threads drains its write buffers. The
    emulated processors run one thread at a time and write guest memory directly, so every write is already
    visible to the other threads when this returns: nothing is left to drain."""
    return 0


# -- copies between address spaces (MmCopyVirtualMemory) -----------------------------------------------------------
STATUS_PARTIAL_COPY = 0x8000000D
STATUS_ACCESS_VIOLATION = 0xC0000005
MAX_COPY = 1 << 28   # one call copies at most 256 MiB; a larger request copies that much and is a partial copy
# the page protections MmCopyVirtualMemory may read: PAGE_EXECUTE too — x86 and x64 page tables cannot make a
# page executable but not readable (ReadProcessMemory of an image section mapped PAGE_EXECUTE succeeds: Wine's
# kernel32/tests/loader.c test_section_access, on Windows)
_READ_OK = {0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80}
_WRITE_OK = {0x04, 0x08, 0x40, 0x80}                    # ... and write (copy-on-write included)


def _copyable(proc, base: int, size: int, write: bool) -> int:
    """How many bytes from `base` user mode could read (or write) without a fault: committed, not guard, not
    no-access (and writable for a write); a walk over the regions of the range, bounded by it."""
    ok_set = _WRITE_OK if write else _READ_OK
    done, cur, end = 0, base, base + size
    for _ in range(1 << 16):
        if cur >= end:
            break
        try:
            mbi = proc.aspace.query(cur)
        except NtStatusError:
            break
        if mbi.State != 0x1000 or mbi.Protect & 0x100 or mbi.Protect & 0xFF not in ok_set:
            break
        stop = min(end, mbi.BaseAddress + mbi.RegionSize)
        done += stop - cur
        cur = stop
    return done


def _copy(machine, thread, src_proc, src, dst_proc, dst, size, count_addr, *, remote_is_src: bool = True) -> int:
    """Copy `size` bytes from src_proc:src to dst_proc:dst as MmCopyVirtualMemory does: the bytes both sides
    allow are copied and counted; a part is STATUS_PARTIAL_COPY. Nothing copied: STATUS_PARTIAL_COPY when the
    other process's side faults (ReadProcessMemory of an unmapped address: ERROR_PARTIAL_COPY, ntdll/info.c on
    Windows), STATUS_ACCESS_VIOLATION when the caller's own buffer does."""
    size &= 0xFFFFFFFFFFFFFFFF
    want = min(size, MAX_COPY)
    n_src = _copyable(src_proc, src, want, False) if want else 0
    n_dst = _copyable(dst_proc, dst, want, True) if want else 0
    n = min(n_src, n_dst)
    remote_short = (n_src if remote_is_src else n_dst) < want
    if n:
        dst_proc.aspace.write(dst, src_proc.aspace.read(src, n))
        dst_proc.cpu.flush_code(dst, n)
    if count_addr:
        _put(thread, count_addr, n)
    if n == size:
        return 0
    if n or remote_short and (n_dst if remote_is_src else n_src) > n:
        return STATUS_PARTIAL_COPY
    return STATUS_ACCESS_VIOLATION


def _vm_process(thread, handle: int, access: int):
    """The process of a memory service's handle: one with a user address space (the system's pseudo-processes
    have none: STATUS_ACCESS_DENIED), still running (STATUS_PROCESS_IS_TERMINATING)."""
    proc = process_from_handle(thread, handle, access)
    if getattr(proc, "exited", False):
        raise NtStatusError(0xC000010A, "the process is terminating")
    if getattr(proc, "cpu", None) is None:
        raise NtStatusError(0xC0000022, "the process has no user address space")
    return proc


@kernel_service("NtReadVirtualMemory")
def NtReadVirtualMemory(machine, thread, ProcessHandle, BaseAddress, Buffer, BufferSize, NumberOfBytesRead):
    from winhatch.kernel.ob.access import PROCESS_VM_READ
    proc = _vm_process(thread, ProcessHandle, PROCESS_VM_READ)
    return _copy(machine, thread, proc, BaseAddress, thread.process, Buffer, BufferSize, NumberOfBytesRead)


@kernel_service("NtWriteVirtualMemory")
def NtWriteVirtualMemory(machine, thread, ProcessHandle, BaseAddress, Buffer, BufferSize, NumberOfBytesWritten):
    from winhatch.kernel.ob.access import PROCESS_VM_WRITE
    proc = _vm_process(thread, ProcessHandle, PROCESS_VM_WRITE)
    st = _copy(machine, thread, thread.process, Buffer, proc, BaseAddress, BufferSize, NumberOfBytesWritten,
               remote_is_src=False)
    behaviour.cross_process(machine, thread, proc, "NtWriteVirtualMemory", base=BaseAddress,
                            size=BufferSize & 0xFFFFFFFFFFFFFFFF, status=st & 0xFFFFFFFF if st else 0)
    return st


# -- locking pages in the working set ----------------------------------------------------------------------------
MAP_PROCESS, MAP_SYSTEM = 1, 2
STATUS_WAS_LOCKED = 0x40000019
STATUS_NOT_LOCKED = 0xC000002A
STATUS_PRIVILEGE_NOT_HELD = 0xC0000061
STATUS_WORKING_SET_QUOTA = 0xC00000A1
#: a process may lock as many pages as its minimum working set holds, less eight of overhead (Microsoft's
#: VirtualLock documentation); the default minimum working set is 200 KiB (50 pages)
LOCKABLE_PAGES = 204800 // PAGE - 8


def _locked(proc) -> set:
    s = getattr(proc, "locked_pages", None)
    if s is None:
        s = proc.locked_pages = set()
    return s


def _lock_range(thread, BaseAddress, RegionSize):
    base = _get(thread, BaseAddress)
    size = _get(thread, RegionSize)
    start = base & ~(PAGE - 1)
    end = (base + max(size, 1) + PAGE - 1) & ~(PAGE - 1)
    return start, end


def _first_guard_page(proc, start: int, end: int) -> int | None:
    """The first committed PAGE_GUARD page of [start, end), walking the regions (bounded)."""
    cur = start
    for _ in range(1 << 16):
        if cur >= end:
            return None
        try:
            mbi = proc.aspace.query(cur)
        except NtStatusError:
            return None
        if mbi.State == 0x1000 and mbi.Protect & 0x100:
            return cur
        cur = mbi.BaseAddress + mbi.RegionSize
    return None


@kernel_service("NtLockVirtualMemory")
def NtLockVirtualMemory(machine, thread, ProcessHandle, BaseAddress, RegionSize, MapType):
    """VirtualLock: the pages must be committed and accessible; emulated memory is never paged out, so the
    lock is the bookkeeping Windows keeps (STATUS_WAS_LOCKED when every page was locked already), bounded by
    the working-set quota (STATUS_WORKING_SET_QUOTA). MAP_SYSTEM needs SeLockMemoryPrivilege, which a
    standard user's token lacks."""
    proc = _vm_process(thread, ProcessHandle, PROCESS_VM_OPERATION)
    if MapType & ~(MAP_PROCESS | MAP_SYSTEM) or not MapType & (MAP_PROCESS | MAP_SYSTEM):
        return 0xC00000F3   # STATUS_INVALID_PARAMETER_4
    if MapType & MAP_SYSTEM:
        return STATUS_PRIVILEGE_NOT_HELD
    start, end = _lock_range(thread, BaseAddress, RegionSize)
    guard = _first_guard_page(proc, start, end)
    if guard is not None:
        # locking touches the pages: the first guard page loses PAGE_GUARD and the lock fails with
        # STATUS_GUARD_PAGE_VIOLATION (VirtualLock's last error is that status; kernel32/virtual.c
        # test_guard_page, on Windows); a second VirtualLock succeeds
        return proc.aspace.handle_fault(guard, 0)
    if _copyable(proc, start, end - start, False) < end - start:
        return STATUS_ACCESS_VIOLATION
    held = _locked(proc)
    if (end - start) // PAGE > LOCKABLE_PAGES or len(held.union(range(start, end, PAGE))) > LOCKABLE_PAGES:
        return STATUS_WORKING_SET_QUOTA
    pages = range(start, end, PAGE)
    was = all(p in held for p in pages)
    held.update(pages)
    _put(thread, BaseAddress, start)
    _put(thread, RegionSize, end - start)
    return STATUS_WAS_LOCKED if was else 0


@kernel_service("NtUnlockVirtualMemory")
def NtUnlockVirtualMemory(machine, thread, ProcessHandle, BaseAddress, RegionSize, MapType):
    """VirtualUnlock: STATUS_NOT_LOCKED when a page of the range is not locked (nothing is unlocked then)."""
    proc = _vm_process(thread, ProcessHandle, PROCESS_VM_OPERATION)
    if MapType & ~(MAP_PROCESS | MAP_SYSTEM) or not MapType & (MAP_PROCESS | MAP_SYSTEM):
        return 0xC00000F3
    if MapType & MAP_SYSTEM:
        return STATUS_PRIVILEGE_NOT_HELD
    start, end = _lock_range(thread, BaseAddress, RegionSize)
    if (end - start) // PAGE > LOCKABLE_PAGES:
        return STATUS_NOT_LOCKED
    pages = range(start, end, PAGE)
    held = _locked(proc)
    if not all(p in held for p in pages):
        return STATUS_NOT_LOCKED
    held.difference_update(pages)
    _put(thread, BaseAddress, start)
    _put(thread, RegionSize, end - start)
    return 0


# -- NtAllocateVirtualMemoryEx: address requirements and the NUMA node ------------------------------------------
# MEM_EXTENDED_PARAMETER (16 bytes on both architectures): Type:8 | Reserved:56, then a 64-bit union (a pointer, a
# size, a handle or a ULONG). MEM_ADDRESS_REQUIREMENTS: LowestStartingAddress, HighestEndingAddress, Alignment
# (pointer-sized each).
MemExtendedParameterAddressRequirements = 1
MemExtendedParameterNumaNode = 2
MemExtendedParameterMax = 6   # Windows 10 22H2: ImageMachine (6) came with Windows 11
NUMA_NO_PREFERRED_NODE = 0xFFFFFFFF
ALLOCATION_GRANULARITY = 0x10000


def extended_parameters(thread, proc, service: str, params: int, count: int, placing: bool):
    """The MEM_EXTENDED_PARAMETER array of NtAllocateVirtualMemoryEx / NtMapViewOfSectionEx: ``(lowest, highest,
    alignment)`` of a MEM_ADDRESS_REQUIREMENTS (None where absent).  Each type at most once; the requirements
    only where a new range is being placed (``placing``: no base given).  A bad array is
    STATUS_INVALID_PARAMETER (raised); a type winhatch does not model stops loudly."""
    count &= 0xFFFFFFFF
    if count > 64 or (count and not params):   # a caller passes a handful, in an array
        raise NtStatusError(STATUS_INVALID_PARAMETER, "bad extended parameter array")
    ps = 8 if thread.process.arch == "x64" else 4
    align = lowest = highest = None
    seen = set()
    for i in range(count):
        raw = user_read(thread.process, params + 16 * i, 16)
        ptype = raw[0]
        value = int.from_bytes(raw[8:16], "little")
        if ptype in seen:   # each type at most once
            raise NtStatusError(STATUS_INVALID_PARAMETER, f"extended parameter type {ptype} twice")
        seen.add(ptype)
        if ptype == MemExtendedParameterAddressRequirements:
            req = user_read(thread.process, value & ((1 << (8 * ps)) - 1), 3 * ps)
            lowest, highest, align = (int.from_bytes(req[k * ps:(k + 1) * ps], "little") for k in range(3))
            bad_align = align and (align & (align - 1) or align < ALLOCATION_GRANULARITY)
            # the highest ending address is the last byte of a page, at most the highest user address
            from winhatch.kernel.ex.sysinfo import max_user_address   # the image's (large address aware or not)
            bad_high = highest and ((highest + 1) % PAGE or highest > max_user_address(proc))
            if bad_align or bad_high or lowest % ALLOCATION_GRANULARITY:
                raise NtStatusError(STATUS_INVALID_PARAMETER, "bad MEM_ADDRESS_REQUIREMENTS")
            if not placing and (lowest or highest or align):
                raise NtStatusError(STATUS_INVALID_PARAMETER, "address requirements with a base")
        elif ptype == MemExtendedParameterNumaNode:
            if value & 0xFFFFFFFF not in (0, NUMA_NO_PREFERRED_NODE):   # one node: 0
                raise NtStatusError(STATUS_INVALID_PARAMETER, "no such NUMA node")
        elif ptype == 0 or ptype >= MemExtendedParameterMax:
            raise NtStatusError(STATUS_INVALID_PARAMETER, f"extended parameter type {ptype}")
        else:
            unsupported(thread, service, f"extended parameter type {ptype}")
    return lowest or None, highest or None, align or None


@kernel_service("NtAllocateVirtualMemoryEx")
def NtAllocateVirtualMemoryEx(machine, thread, ProcessHandle, BaseAddress, RegionSize, AllocationType,
                              PageProtection, ExtendedParameters, ExtendedParameterCount):
    proc = _vm_process(thread, ProcessHandle, PROCESS_VM_OPERATION)
    base = _get(thread, BaseAddress)
    size = _get(thread, RegionSize)
    lowest, highest, align = extended_parameters(thread, proc, "NtAllocateVirtualMemoryEx", ExtendedParameters,
                                                 ExtendedParameterCount, placing=not base and
                                                 bool(AllocationType & MEM_RESERVE))
    if not size:
        return 0xC00000F0   # STATUS_INVALID_PARAMETER_3 (RegionSize)
    got_base, got_size = proc.aspace.allocate(base or None, size, AllocationType & 0xFFFFFFFF,
                                              PageProtection & 0xFFFFFFFF, align=align or ALLOCATION_GRANULARITY,
                                              lowest=lowest or None, highest=highest or None)
    _put(thread, BaseAddress, got_base)
    _put(thread, RegionSize, got_size)
    return 0


VmPrefetchInformation = 0
VM_INFORMATION_CLASSES = 8   # VmPrefetchInformation .. VmRemoveFromWorkingSetInformation
STATUS_INVALID_PARAMETER_2 = 0xC00000F0
STATUS_INVALID_PARAMETER_5 = 0xC00000F3
STATUS_INVALID_PARAMETER_6 = 0xC00000F4


@kernel_service("NtSetInformationVirtualMemory")
def NtSetInformationVirtualMemory(machine, thread, ProcessHandle, VmInformationClass, NumberOfEntries,
                                  VirtualAddresses, VmInformation, VmInformationLength):
    """VmPrefetchInformation (PrefetchVirtualMemory): the MEMORY_RANGE_ENTRY array is checked as Windows checks it
    (the ULONG of flags, a count, each range non-empty) and the prefetch itself is a paging hint with nothing to do
    in a memory that is never paged out.  The other classes stop loudly."""
    cls = VmInformationClass & 0xFFFFFFFF
    if cls >= VM_INFORMATION_CLASSES:
        return STATUS_INVALID_PARAMETER_2
    if cls != VmPrefetchInformation:
        unsupported(thread, "NtSetInformationVirtualMemory", f"information class {cls}")
    _vm_process(thread, ProcessHandle, PROCESS_VM_OPERATION)
    if not VmInformation:
        return STATUS_INVALID_PARAMETER_5
    if VmInformationLength & 0xFFFFFFFF != 4:
        return STATUS_INVALID_PARAMETER_6
    count = NumberOfEntries & ((1 << 8 * (8 if thread.process.arch == "x64" else 4)) - 1)
    if not count:
        return STATUS_INVALID_PARAMETER_3
    if count > 0x10000:
        return STATUS_INVALID_PARAMETER_3
    ps = 8 if thread.process.arch == "x64" else 4
    raw = user_read(thread.process, VirtualAddresses, 2 * ps * count)   # NULL: STATUS_ACCESS_VIOLATION
    for i in range(count):
        if not int.from_bytes(raw[(2 * i + 1) * ps:(2 * i + 2) * ps], "little"):
            return STATUS_INVALID_PARAMETER_4
    user_read(thread.process, VmInformation, 4)
    return 0


WRITE_WATCH_FLAG_RESET = 1


@kernel_service("NtGetWriteWatch")
def NtGetWriteWatch(machine, thread, ProcessHandle, Flags, BaseAddress, RegionSize, UserAddressArray,
                    EntriesInUserAddressArray, Granularity):
    """The pages of a MEM_WRITE_WATCH allocation written since the last reset (at most *Entries of them, in
    address order; WRITE_WATCH_FLAG_RESET clears the ones reported); *Granularity is the page size."""
    proc = _vm_process(thread, ProcessHandle, PROCESS_VM_OPERATION)
    flags = Flags & 0xFFFFFFFF
    if flags & ~WRITE_WATCH_FLAG_RESET:
        return STATUS_INVALID_PARAMETER
    limit = _get(thread, EntriesInUserAddressArray)      # a NULL count: STATUS_ACCESS_VIOLATION
    if not limit:
        return STATUS_INVALID_PARAMETER
    ps = 8 if thread.process.arch == "x64" else 4
    aspace = thread.process.aspace
    # the outputs are probed before the range is looked at (kernel32/virtual.c test_write_watch, on Windows)
    if not Granularity or not aspace.accessible(Granularity, 4, True) or not UserAddressArray \
            or not aspace.accessible(UserAddressArray, min(limit, 1 << 20) * ps, True):
        return STATUS_ACCESS_VIOLATION
    pages = proc.aspace.write_watch(BaseAddress, RegionSize, reset=bool(flags & WRITE_WATCH_FLAG_RESET),
                                    limit=min(limit, 1 << 20))
    if pages:
        user_write(thread.process, UserAddressArray, b"".join(p.to_bytes(ps, "little") for p in pages))
    _put(thread, EntriesInUserAddressArray, len(pages))
    user_write(thread.process, Granularity, struct.pack("<I", PAGE))
    return 0


@kernel_service("NtResetWriteWatch")
def NtResetWriteWatch(machine, thread, ProcessHandle, BaseAddress, RegionSize):
    proc = _vm_process(thread, ProcessHandle, PROCESS_VM_OPERATION)
    proc.aspace.write_watch(BaseAddress, RegionSize, reset=True)
    return 0
