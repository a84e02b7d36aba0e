"""Heaps: ntdll's Rtl*Heap, kernel32's Heap* (HeapAlloc / HeapReAlloc / HeapSize are forwarders to ntdll on
Windows), and the Local* / Global* functions over the process heap.

Local / Global memory: a fixed block (LMEM_FIXED) is a heap pointer; a moveable block (LMEM_MOVEABLE) is a
handle, the address of a handle-table entry in guest memory whose pointer-sized field holds the block's
address — so `*(void **)hMem` gives the data, as programs written for 16-bit Windows expect. LocalLock /
LocalUnlock keep the lock count; LocalReAlloc keeps a moveable handle while its block moves.
"""
from __future__ import annotations

from winhatch.ldr import loader
from winhatch.ldr.heap import HEAP_REALLOC_IN_PLACE_ONLY, HEAP_ZERO_MEMORY
from winhatch.ntstatus import (ERROR_INVALID_HANDLE, ERROR_INVALID_PARAMETER, ERROR_NOT_ENOUGH_MEMORY,
                               NtStatusError)
from winhatch.win32.api import api

from winhatch.win32.kernel32.common import K32

NT = ("ntdll.dll",)
LMEM_FIXED, LMEM_MOVEABLE, LMEM_NOCOMPACT, LMEM_NODISCARD = 0x0, 0x2, 0x10, 0x20
LMEM_ZEROINIT, LMEM_MODIFY, LMEM_DISCARDABLE = 0x40, 0x80, 0xF00
LMEM_DISCARDED, LMEM_LOCKCOUNT = 0x4000, 0xFF
ERROR_NOT_LOCKED = 158


def _heaps(c):
    return loader.state_of(c.proc).heaps


def _heap(c, h):
    return _heaps(c).get(h)


def _alloc(c, heap, size: int, flags: int) -> int:
    try:
        return heap.alloc(size, flags)
    except NtStatusError:
        return 0


# ============================================================================================ ntdll
@api(NT, "PVOID NTAPI RtlAllocateHeap(PVOID HeapHandle, ULONG Flags, SIZE_T Size)")
def RtlAllocateHeap(c, h, flags, size):
    heap = _heap(c, h)
    if heap is None:
        c.set_last_error(ERROR_INVALID_HANDLE)
        return 0
    addr = _alloc(c, heap, size, flags)
    if not addr:
        c.set_last_error(ERROR_NOT_ENOUGH_MEMORY)
    return addr


@api(NT, "BOOLEAN NTAPI RtlFreeHeap(PVOID HeapHandle, ULONG Flags, PVOID BaseAddress)")
def RtlFreeHeap(c, h, flags, addr):
    heap = _heap(c, h)
    if heap is None:
        c.set_last_error(ERROR_INVALID_HANDLE)
        return 0
    if not addr:
        return 1
    if not heap.free_block(addr, flags):
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    return 1


@api(NT, "PVOID NTAPI RtlReAllocateHeap(PVOID HeapHandle, ULONG Flags, PVOID BaseAddress, SIZE_T Size)")
def RtlReAllocateHeap(c, h, flags, addr, size):
    heap = _heap(c, h)
    if heap is None or not addr or heap.size_of(addr) is None:
        c.set_last_error(ERROR_INVALID_HANDLE if heap is None else ERROR_INVALID_PARAMETER)
        return 0
    try:
        new = heap.realloc(addr, size, flags)
    except NtStatusError:
        new = 0
    if not new:
        c.set_last_error(ERROR_NOT_ENOUGH_MEMORY)
        return 0
    return new


@api(NT, "SIZE_T NTAPI RtlSizeHeap(PVOID HeapHandle, ULONG Flags, PVOID BaseAddress)")
def RtlSizeHeap(c, h, flags, addr):
    heap = _heap(c, h)
    s = heap.size_of(addr) if heap else None
    if s is None:
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return (1 << (8 * c.ptr_size)) - 1
    return s


@api(NT, "BOOLEAN NTAPI RtlValidateHeap(PVOID HeapHandle, ULONG Flags, PVOID BaseAddress)")
def RtlValidateHeap(c, h, flags, addr):
    heap = _heap(c, h)
    if heap is None:
        return 0
    if addr:
        return 1 if heap.size_of(addr) is not None else 0
    return 1 if heap.validate() else 0


@api(NT, "PVOID NTAPI RtlCreateHeap(ULONG Flags, PVOID HeapBase, SIZE_T ReserveSize, SIZE_T CommitSize, "
         "PVOID Lock, PVOID Parameters)")
def RtlCreateHeap(c, flags, base, reserve, commit, lock, params):
    if base:
        return 0  # heaps over caller-provided memory are not supported
    try:
        return _heaps(c).create(flags, reserve, commit).handle
    except NtStatusError:
        return 0


@api(NT, "PVOID NTAPI RtlDestroyHeap(PVOID HeapHandle)")
def RtlDestroyHeap(c, h):
    return 0 if _heaps(c).destroy(h) else h


@api(NT, "ULONG NTAPI RtlGetProcessHeaps(ULONG NumberOfHeaps, PVOID *ProcessHeaps)")
def RtlGetProcessHeaps(c, n, arr):
    return GetProcessHeaps(c, n, arr)


# ============================================================================================ kernel32
@api(K32, "HANDLE WINAPI GetProcessHeap(void)")
def GetProcessHeap(c):
    return _heaps(c).process_heap.handle


@api(K32, "LPVOID WINAPI HeapAlloc(HANDLE hHeap, DWORD dwFlags, SIZE_T dwBytes)")
def HeapAlloc(c, h, flags, size):
    return RtlAllocateHeap(c, h, flags, size)


@api(K32, "LPVOID WINAPI HeapReAlloc(HANDLE hHeap, DWORD dwFlags, LPVOID lpMem, SIZE_T dwBytes)")
def HeapReAlloc(c, h, flags, addr, size):
    return RtlReAllocateHeap(c, h, flags, addr, size)


@api(K32, "SIZE_T WINAPI HeapSize(HANDLE hHeap, DWORD dwFlags, LPCVOID lpMem)")
def HeapSize(c, h, flags, addr):
    return RtlSizeHeap(c, h, flags, addr)


@api(K32, "BOOL WINAPI HeapFree(HANDLE hHeap, DWORD dwFlags, LPVOID lpMem)")
def HeapFree(c, h, flags, addr):
    return RtlFreeHeap(c, h, flags, addr)


@api(K32, "HANDLE WINAPI HeapCreate(DWORD flOptions, SIZE_T dwInitialSize, SIZE_T dwMaximumSize)")
def HeapCreate(c, flags, initial, maximum):
    try:
        heap = _heaps(c).create(flags | (0 if maximum else 0x2), max(initial, maximum), initial)
    except NtStatusError:
        c.set_last_error(ERROR_NOT_ENOUGH_MEMORY)
        return 0
    return heap.handle


@api(K32, "BOOL WINAPI HeapDestroy(HANDLE hHeap)")
def HeapDestroy(c, h):
    if not _heaps(c).destroy(h):
        c.set_last_error(ERROR_INVALID_HANDLE)
        return 0
    return 1


@api(K32, "BOOL WINAPI HeapValidate(HANDLE hHeap, DWORD dwFlags, LPCVOID lpMem)")
def HeapValidate(c, h, flags, addr):
    return RtlValidateHeap(c, h, flags, addr)


@api(K32, "DWORD WINAPI GetProcessHeaps(DWORD NumberOfHeaps, PHANDLE ProcessHeaps)")
def GetProcessHeaps(c, n, arr):
    hm = _heaps(c)
    handles = [hm.process_heap.handle] + [h for h in hm.heaps if h != hm.process_heap.handle]
    if n >= len(handles) and arr:
        for i, h in enumerate(handles):
            c.write_ptr(arr + i * c.ptr_size, h)
    return len(handles)


@api(K32, "BOOL WINAPI HeapLock(HANDLE hHeap)")
def HeapLock(c, h):
    """The heap's lock (in its control block, the one the machine code of the heap functions takes): other
    threads' heap calls wait until HeapUnlock."""
    heap = _heap(c, h)
    if heap is None:
        c.set_last_error(ERROR_INVALID_HANDLE)
        return 0
    heap.lock()
    return 1


@api(K32, "BOOL WINAPI HeapUnlock(HANDLE hHeap)")
def HeapUnlock(c, h):
    heap = _heap(c, h)
    if heap is None or not heap.unlock():
        c.set_last_error(ERROR_INVALID_HANDLE if heap is None else ERROR_NOT_LOCKED)
        return 0
    return 1


@api(K32, "SIZE_T WINAPI HeapCompact(HANDLE hHeap, DWORD dwFlags)")
def HeapCompact(c, h, flags):
    heap = _heap(c, h)
    if heap is None:
        c.set_last_error(ERROR_INVALID_HANDLE)
        return 0
    return 0x7F000  # the largest block a heap segment serves


@api(K32, "BOOL WINAPI HeapSetInformation(HANDLE HeapHandle, DWORD HeapInformationClass, "
          "PVOID HeapInformation, SIZE_T HeapInformationLength)")
def HeapSetInformation(c, h, cls, info, length):
    if cls not in (0, 1, 3):  # compatibility, terminate-on-corruption, optimize resources
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    return 1


@api(K32, "BOOL WINAPI HeapQueryInformation(HANDLE HeapHandle, DWORD HeapInformationClass, "
          "PVOID HeapInformation, SIZE_T HeapInformationLength, PSIZE_T ReturnLength)")
def HeapQueryInformation(c, h, cls, info, length, retlen):
    if cls != 0 or _heap(c, h) is None:
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    if retlen:
        c.write_ptr(retlen, 4)
    if length < 4:
        c.set_last_error(24)  # ERROR_BAD_LENGTH
        return 0
    c.write_u32(info, 2)  # the low-fragmentation heap
    return 1


# ============================================================================================ Local / Global
class _Moveable:
    __slots__ = ("ptr", "flags", "lock")

    def __init__(self, ptr: int, flags: int):
        self.ptr = ptr
        self.flags = flags
        self.lock = 0


def _table(c) -> dict[int, _Moveable]:
    return c.proc.subsystem.setdefault("local_handles", {})


def _ph(c):
    return _heaps(c).process_heap


def _local_alloc(c, flags: int, size: int) -> int:
    heap = _ph(c)
    zero = HEAP_ZERO_MEMORY if flags & LMEM_ZEROINIT else 0
    if not flags & LMEM_MOVEABLE:
        addr = _alloc(c, heap, size, zero)
        if not addr:
            c.set_last_error(ERROR_NOT_ENOUGH_MEMORY)
        return addr
    ps = c.ptr_size
    entry = _alloc(c, heap, 2 * ps, HEAP_ZERO_MEMORY)
    if not entry:
        c.set_last_error(ERROR_NOT_ENOUGH_MEMORY)
        return 0
    ptr = 0
    if size:
        ptr = _alloc(c, heap, size, zero)
        if not ptr:
            heap.free_block(entry)
            c.set_last_error(ERROR_NOT_ENOUGH_MEMORY)
            return 0
    h = entry + ps
    c.write_u32(entry, flags & 0xFFFF)
    c.write_ptr(h, ptr)
    _table(c)[h] = _Moveable(ptr, flags)
    return h


def _local_free(c, h: int) -> int:
    if not h:
        return 0
    m = _table(c).pop(h, None)
    heap = _ph(c)
    if m is not None:
        if m.ptr:
            heap.free_block(m.ptr)
        heap.free_block(h - c.ptr_size)
        return 0
    if heap.free_block(h):
        return 0
    c.set_last_error(ERROR_INVALID_HANDLE)
    return h


def _local_lock(c, h: int) -> int:
    m = _table(c).get(h)
    if m is None:
        if _ph(c).size_of(h) is not None:
            return h
        c.set_last_error(ERROR_INVALID_HANDLE)
        return 0
    if m.ptr and m.lock < LMEM_LOCKCOUNT:
        m.lock += 1
    return m.ptr


def _local_unlock(c, h: int) -> int:
    m = _table(c).get(h)
    if m is None:
        if _ph(c).size_of(h) is None:
            c.set_last_error(ERROR_INVALID_HANDLE)
        else:
            c.set_last_error(ERROR_NOT_LOCKED)
        return 0
    if m.lock == 0:
        c.set_last_error(ERROR_NOT_LOCKED)
        return 0
    m.lock -= 1
    if m.lock == 0:
        c.set_last_error(0)
        return 0
    return 1


def _local_size(c, h: int) -> int:
    m = _table(c).get(h)
    heap = _ph(c)
    if m is not None:
        return heap.size_of(m.ptr) or 0 if m.ptr else 0
    s = heap.size_of(h)
    if s is None:
        c.set_last_error(ERROR_INVALID_HANDLE)
        return 0
    return s


def _local_flags(c, h: int) -> int:
    m = _table(c).get(h)
    if m is None:
        if _ph(c).size_of(h) is None:
            c.set_last_error(ERROR_INVALID_HANDLE)
            return 0x7FFF  # LMEM_INVALID_HANDLE
        return 0
    return (m.flags & LMEM_DISCARDABLE) | (0 if m.ptr else LMEM_DISCARDED) | m.lock


def _local_realloc(c, h: int, size: int, flags: int) -> int:
    heap = _ph(c)
    m = _table(c).get(h)
    zero = HEAP_ZERO_MEMORY if flags & LMEM_ZEROINIT else 0
    if flags & LMEM_MODIFY:
        if m is None:
            if heap.size_of(h) is None:
                c.set_last_error(ERROR_INVALID_HANDLE)
                return 0
            return h
        m.flags = (m.flags & ~LMEM_DISCARDABLE) | (flags & LMEM_DISCARDABLE)
        return h
    if m is None:
        old = heap.size_of(h)
        if old is None:
            c.set_last_error(ERROR_INVALID_HANDLE)
            return 0
        new = heap.realloc(h, size, zero | (0 if flags & LMEM_MOVEABLE else HEAP_REALLOC_IN_PLACE_ONLY))
        if not new:
            c.set_last_error(ERROR_NOT_ENOUGH_MEMORY)
            return 0
        return new
    if m.ptr == 0:
        m.ptr = _alloc(c, heap, size, zero) if size else 0
        if size and not m.ptr:
            c.set_last_error(ERROR_NOT_ENOUGH_MEMORY)
            return 0
    elif size == 0:
        if m.lock:
            c.set_last_error(ERROR_NOT_ENOUGH_MEMORY)
            return 0
        heap.free_block(m.ptr)  # discard the block, keep the handle
        m.ptr = 0
    else:
        new = heap.realloc(m.ptr, size, zero | (HEAP_REALLOC_IN_PLACE_ONLY if m.lock else 0))
        if not new:
            c.set_last_error(ERROR_NOT_ENOUGH_MEMORY)
            return 0
        m.ptr = new
    c.write_ptr(h, m.ptr)
    return h


def _handle_of(c, p: int) -> int:
    for h, m in _table(c).items():
        if m.ptr == p and p:
            return h
    if _ph(c).size_of(p) is not None:
        return p
    c.set_last_error(ERROR_INVALID_HANDLE)
    return 0


for _pre, _T in (("Local", "HLOCAL"), ("Global", "HGLOBAL")):
    def _decl(pre=_pre, T=_T):
        @api(K32, f"{T} WINAPI {pre}Alloc(UINT uFlags, SIZE_T uBytes)")
        def Alloc(c, flags, size):
            return _local_alloc(c, flags, size)

        @api(K32, f"{T} WINAPI {pre}Free({T} hMem)")
        def Free(c, h):
            return _local_free(c, h)

        @api(K32, f"LPVOID WINAPI {pre}Lock({T} hMem)")
        def Lock(c, h):
            return _local_lock(c, h)

        @api(K32, f"BOOL WINAPI {pre}Unlock({T} hMem)")
        def Unlock(c, h):
            return _local_unlock(c, h)

        @api(K32, f"SIZE_T WINAPI {pre}Size({T} hMem)")
        def Size(c, h):
            return _local_size(c, h)

        @api(K32, f"UINT WINAPI {pre}Flags({T} hMem)")
        def Flags(c, h):
            return _local_flags(c, h)

        @api(K32, f"{T} WINAPI {pre}ReAlloc({T} hMem, SIZE_T uBytes, UINT uFlags)")
        def ReAlloc(c, h, size, flags):
            return _local_realloc(c, h, size, flags)

        @api(K32, f"{T} WINAPI {pre}Handle(LPCVOID pMem)")
        def Handle(c, p):
            return _handle_of(c, p)

    _decl()


# ------------------------------------------------------------------------------------------ heap walks
STATUS_NO_MORE_ENTRIES = 0x8000001A
STATUS_INVALID_PARAMETER = 0xC000000D
ERROR_NO_MORE_ITEMS = 259


def _walk_next(c, heap, data: int, flags: int, rtl: bool):
    """The entry after the one whose lpData/wFlags the caller passes back (lpData NULL: the first)."""
    entries, index = heap.walk_indexed(c.ptr_size)
    if not data:
        return entries[0] if entries else None
    kinds = _kind_of_flags(flags, rtl)
    for i in index.get(data, ()):
        if kinds is None or entries[i]["kind"] in kinds:
            return entries[i + 1] if i + 1 < len(entries) else None
    return None


def _kind_of_flags(flags: int, rtl: bool):
    if rtl:
        if flags & 0x2:
            return ("region",)
        if flags & 0x1000:
            return ("uncommitted",)
        if flags & 0x1:
            return ("busy",)
        return ("free",)
    if flags & 0x1:
        return ("region",)
    if flags & 0x2:
        return ("uncommitted",)
    if flags & 0x4:
        return ("busy",)
    return ("free",)


def _write_entry(c, at: int, e: dict, rtl: bool) -> None:
    p = c.ptr_size
    c.write_ptr(at, e["data"])
    if rtl:
        c.write_ptr(at + p, e["size"])
        off = 2 * p
        flags = {"region": 0x2, "busy": 0x4011, "free": 0, "uncommitted": 0x1000}[e["kind"]]
    else:
        c.write_u32(at + p, e["size"])
        off = p + 4
        flags = {"region": 0x1, "busy": 0x4, "free": 0, "uncommitted": 0x2}[e["kind"]]
    c.write(at + off, bytes([e["overhead"] & 0xFF, e["index"] & 0xFF]) + flags.to_bytes(2, "little"))
    u = off + 4
    if e["kind"] == "region":
        c.write_u32(at + u, e["committed"])
        c.write_u32(at + u + 4, e["uncommitted"])
        c.write_ptr(at + u + 8, e["first"])
        c.write_ptr(at + u + 8 + p, e["last"])
    else:
        c.write(at + u, bytes(p + 12))


@api(NT, "NTSTATUS NTAPI RtlWalkHeap(HANDLE HeapHandle, PVOID Entry)")
def RtlWalkHeap(c, h, pentry):
    """RTL_HEAP_WALK_ENTRY (lpData, SIZE_T cbData, cbOverhead, iRegionIndex, wFlags with RTL_HEAP_ENTRY_*
    bits, the Block/Region union); STATUS_NO_MORE_ENTRIES after the last entry."""
    heap = _heap(c, h)
    if heap is None or not pentry:
        return STATUS_INVALID_PARAMETER
    p = c.ptr_size
    data = c.ptr(pentry)
    flags = int.from_bytes(c.read(pentry + 2 * p + 2, 2), "little")
    e = _walk_next(c, heap, data, flags, True)
    if e is None:
        return STATUS_NO_MORE_ENTRIES
    _write_entry(c, pentry, e, True)
    return 0


@api(K32, "BOOL WINAPI HeapWalk(HANDLE hHeap, LPPROCESS_HEAP_ENTRY lpEntry)")
def HeapWalk(c, h, pentry):
    """PROCESS_HEAP_ENTRY over the heap's regions, blocks and uncommitted ranges (ldr.heap.Heap.walk);
    FALSE with ERROR_NO_MORE_ITEMS after the last."""
    heap = _heap(c, h)
    if heap is None or not pentry:
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    p = c.ptr_size
    data = c.ptr(pentry)
    flags = int.from_bytes(c.read(pentry + p + 6, 2), "little")
    e = _walk_next(c, heap, data, flags, False)
    if e is None:
        c.set_last_error(ERROR_NO_MORE_ITEMS)
        return 0
    _write_entry(c, pentry, e, False)
    return 1
