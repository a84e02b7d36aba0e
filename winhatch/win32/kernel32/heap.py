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
    if not addr:                 # freeing NULL succeeds whatever the heap handle (Wine's heap test, on Windows)
        return 1
    heap = _heap(c, h)
    if heap is None:
        c.set_last_error(ERROR_INVALID_HANDLE)
        return 0
    if not heap.free_block(addr, flags):
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    return 1


@api(NT, "PVOID NTAPI RtlReAllocateHeap(PVOID HeapHandle, ULONG Flags, PVOID BaseAddress, SIZE_T Size)")
def RtlReAllocateHeap(c, h, flags, addr, size):
    if not addr:                 # NULL: fails with the last error NO_ERROR (Wine's heap test, on Windows)
        c.set_last_error(0)
        return 0
    heap = _heap(c, h)
    if heap is None or heap.size_of(addr) is None:
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
# A fixed block (LMEM_FIXED) is a heap pointer.  A moveable block (LMEM_MOVEABLE) is a handle: the address of the
# pointer field of an entry in kernelbase's handle table, a reservation of its own in guest memory (not a heap
# block), so `*(void **)hMem` gives the data as programs written for 16-bit Windows expect, and a handle is told
# from a heap pointer by its alignment (heap pointers are 2*W-aligned, handles are W past it).  An entry is
#     UINT_PTR flags: ALLOCATED 1 | MOVEABLE 2 | DISCARDABLE 4 | DISCARDED 8 (no data) | DDESHARE 0x8000,
#                     the lock count in bits 16-23 (it stops at 0xFF)
#     void *ptr:      the data, a heap block allocated with HEAP_SETTABLE_USER_VALUE | BASE_HEAP_FLAG_MOVEABLE
#                     whose user value is the handle (GlobalHandle reads it back: RtlGetUserInfoHeap)
# A free entry's first field links the table's free list; the table holds 0x10000 handles, as Windows's.
# The table's header (before the entries): the free list's head, the committed end, the reserved end.
E_ALLOCATED, E_MOVEABLE, E_DISCARDABLE, E_DISCARDED, E_DDESHARE = 0x1, 0x2, 0x4, 0x8, 0x8000
GMEM_DDESHARE, GMEM_DISCARDABLE, GMEM_INVALID_HANDLE = 0x2000, 0x100, 0x8000   # = LMEM_INVALID_HANDLE
ERROR_NOACCESS = 998
ERROR_DISCARDED = 157
BASE_HEAP_FLAG_MOVEABLE = 0x200        # HEAP_SETTABLE_USER_FLAG1: the block's user value is its handle
HEAP_SETTABLE_USER_VALUE = 0x100
MAX_HANDLES = 0x10000
TABLE_HEADER = 0x40


def _ph(c):
    return _heaps(c).process_heap


def _table_base(c, create: bool = False) -> int:
    st = c.proc.subsystem
    base = st.get("global_handle_table", 0)
    if base or not create:
        return base
    from winhatch.win32.kernel32.procmem import virtual_alloc
    size = (TABLE_HEADER + MAX_HANDLES * 2 * c.ptr_size + 0xFFFF) & ~0xFFFF
    base = virtual_alloc(c, (1 << (8 * c.ptr_size)) - 1, 0, size, 0x2000, 0x04)     # MEM_RESERVE, PAGE_READWRITE
    if not base:
        return 0
    if not virtual_alloc(c, (1 << (8 * c.ptr_size)) - 1, base, 0x1000, 0x1000, 0x04):   # MEM_COMMIT the header
        return 0
    c.write_ptr(base, 0)
    c.write_ptr(base + c.ptr_size, base + 0x1000)
    c.write_ptr(base + 2 * c.ptr_size, base + TABLE_HEADER + MAX_HANDLES * 2 * c.ptr_size)
    _link_free(c, base, base + TABLE_HEADER, base + 0x1000)
    st["global_handle_table"] = base
    return base


def _link_free(c, base: int, lo: int, hi: int) -> None:
    """Entries lo..hi (newly committed) go on the free list, in address order, before its old head."""
    es = 2 * c.ptr_size
    n = (hi - lo) // es
    if n <= 0:
        return
    head = c.ptr(base)
    ps = c.ptr_size
    data = bytearray()
    for i in range(n):
        nxt = lo + (i + 1) * es if i + 1 < n else head
        data += nxt.to_bytes(ps, "little") + bytes(ps)
    c.write(lo, bytes(data))
    c.write_ptr(base, lo)


def _new_entry(c) -> int:
    base = _table_base(c, create=True)
    if not base:
        return 0
    ps = c.ptr_size
    e = c.ptr(base)
    if not e:
        committed, end = c.ptr(base + ps), c.ptr(base + 2 * ps)
        if committed >= end:
            return 0
        from winhatch.win32.kernel32.procmem import virtual_alloc
        if not virtual_alloc(c, (1 << (8 * ps)) - 1, committed, 0x1000, 0x1000, 0x04):
            return 0
        c.write_ptr(base + ps, committed + 0x1000)
        _link_free(c, base, committed, min(committed + 0x1000, end))
        e = c.ptr(base)
    c.write_ptr(base, c.ptr(e))
    return e


def _entry_of(c, h: int) -> int | None:
    """The table entry of handle h: its address when h is an allocated handle; -1 when h has a handle's shape
    inside the table but is free; None when h is not a handle (a heap pointer, or nothing)."""
    ps = c.ptr_size
    if h % (2 * ps) != ps:
        return None
    base = _table_base(c)
    if not base or not (base + TABLE_HEADER < h < c.ptr(base + ps)):
        return None
    e = h - ps
    return e if c.u32(e) & E_ALLOCATED else -1


def _eflags(c, e: int) -> int:
    return c.u32(e)


def _set_eflags(c, e: int, v: int) -> None:
    c.write_ptr(e, v)


def _data_alloc(c, heap, h: int, size: int, zero: int) -> int:
    p = _alloc(c, heap, size, zero | HEAP_SETTABLE_USER_VALUE | BASE_HEAP_FLAG_MOVEABLE)
    if p:
        heap.set_user_value(p, h)
    return p


def _local_alloc(c, flags: int, size: int, global_: bool = False) -> int:
    heap = _ph(c)
    zero = HEAP_ZERO_MEMORY if flags & LMEM_ZEROINIT else 0
    if not flags & LMEM_MOVEABLE:
        # GlobalAlloc(GMEM_FIXED, 0) is a one-byte block (GlobalSize says 1); LocalAlloc's is empty
        addr = _alloc(c, heap, size or (1 if global_ else 0), zero)
        if not addr:
            c.set_last_error(ERROR_NOT_ENOUGH_MEMORY)
        return addr
    e = _new_entry(c)
    if not e:
        c.set_last_error(ERROR_NOT_ENOUGH_MEMORY)
        return 0
    h = e + c.ptr_size
    ef = E_ALLOCATED | E_MOVEABLE
    if flags & LMEM_DISCARDABLE:
        ef |= E_DISCARDABLE
    if flags & GMEM_DDESHARE:
        ef |= E_DDESHARE
    ptr = 0
    if size:
        ptr = _data_alloc(c, heap, h, size, zero)
        if not ptr:
            _free_entry(c, e)
            c.set_last_error(ERROR_NOT_ENOUGH_MEMORY)
            return 0
    else:
        ef |= E_DISCARDED
    _set_eflags(c, e, ef)
    c.write_ptr(h, ptr)
    return h


def _free_entry(c, e: int) -> None:
    base = _table_base(c)
    c.write_ptr(e, c.ptr(base))
    c.write_ptr(e + c.ptr_size, 0)
    c.write_ptr(base, e)


def _local_free(c, h: int) -> int:
    if not h:
        return 0
    e = _entry_of(c, h)
    heap = _ph(c)
    if e is not None and e > 0:
        ptr = c.ptr(h)
        if ptr:
            heap.free_block(ptr)
        _free_entry(c, e)
        return 0
    if e is None and heap.free_block(h):
        return 0
    c.set_last_error(_bad_pointer_error(c, h) if e is None else ERROR_INVALID_HANDLE)
    return h


def _bad_pointer_error(c, p: int) -> int:
    """A pointer that is no heap block: ERROR_NOACCESS when its header cannot be read (the heap's probe faults
    under kernelbase's exception handler), else ERROR_INVALID_HANDLE; a handle's shape is always the latter."""
    if p % (2 * c.ptr_size) == c.ptr_size:
        return ERROR_INVALID_HANDLE
    try:
        c.read(p - 2 * c.ptr_size, 2 * c.ptr_size)
    except Exception:
        return ERROR_NOACCESS
    return ERROR_INVALID_HANDLE


def _local_lock(c, h: int) -> int:
    e = _entry_of(c, h)
    if e is None:
        if _ph(c).size_of(h) is not None:
            return h
        c.set_last_error(ERROR_INVALID_HANDLE)
        return 0
    if e < 0:
        c.set_last_error(ERROR_INVALID_HANDLE)
        return 0
    ptr = c.ptr(h)
    if not ptr:
        c.set_last_error(ERROR_DISCARDED)
        return 0
    ef = _eflags(c, e)
    if (ef >> 16) & 0xFF < LMEM_LOCKCOUNT:
        _set_eflags(c, e, ef + 0x10000)
    return ptr


def _local_unlock(c, h: int, global_: bool = False) -> int:
    e = _entry_of(c, h)
    if global_ and (e is None or e < 0):
        # GlobalUnlock: a fixed block (any pointer) is never locked: TRUE; a handle that is not allocated: TRUE
        # too, with ERROR_INVALID_HANDLE (Wine's heap test, which passes on Windows; LocalUnlock differs)
        if e is not None or h % (2 * c.ptr_size) == c.ptr_size:
            c.set_last_error(ERROR_INVALID_HANDLE)
        return 1
    if e is None or e < 0:
        if e is None and _ph(c).size_of(h) is not None:
            c.set_last_error(ERROR_NOT_LOCKED)
        else:
            c.set_last_error(ERROR_INVALID_HANDLE)
        return 0
    ef = _eflags(c, e)
    n = (ef >> 16) & 0xFF
    if n == 0:
        c.set_last_error(ERROR_NOT_LOCKED)
        return 0
    _set_eflags(c, e, ef - 0x10000)
    if n == 1:
        c.set_last_error(0)
        return 0
    return 1


def _local_size(c, h: int) -> int:
    e = _entry_of(c, h)
    heap = _ph(c)
    if e is not None and e > 0:
        ptr = c.ptr(h)
        return (heap.size_of(ptr) or 0) if ptr else 0
    s = heap.size_of(h) if e is None else None
    if s is None:
        c.set_last_error(ERROR_INVALID_HANDLE)
        return 0
    return s


def _local_flags(c, h: int, global_: bool) -> int:
    e = _entry_of(c, h)
    if e is None or e < 0:
        if e is None and _ph(c).size_of(h) is not None:
            return 0
        c.set_last_error(ERROR_INVALID_HANDLE)
        return GMEM_INVALID_HANDLE
    ef = _eflags(c, e)
    r = (ef >> 16) & 0xFF
    if ef & E_DISCARDABLE:
        r |= GMEM_DISCARDABLE if global_ else LMEM_DISCARDABLE
    if ef & E_DISCARDED or not c.ptr(h):
        r |= LMEM_DISCARDED
    if ef & E_DDESHARE:
        r |= GMEM_DDESHARE
    return r


def _local_realloc(c, h: int, size: int, flags: int, global_: bool = False) -> int:
    heap = _ph(c)
    e = _entry_of(c, h)
    if e is not None and e < 0:
        c.set_last_error(ERROR_INVALID_HANDLE)
        return 0
    zero = HEAP_ZERO_MEMORY if flags & LMEM_ZEROINIT else 0
    if flags & LMEM_MODIFY:
        if e is None:
            old = heap.size_of(h)
            if old is None:
                c.set_last_error(ERROR_INVALID_HANDLE)
                return 0
            if not flags & LMEM_MOVEABLE or not global_:
                return h
            # GMEM_MODIFY | GMEM_MOVEABLE on a fixed block makes it moveable: a handle whose data is a copy
            # (GlobalReAlloc only: LocalReAlloc leaves the block fixed — Wine's heap test, which passes on Windows)
            e = _new_entry(c)
            if not e:
                c.set_last_error(ERROR_NOT_ENOUGH_MEMORY)
                return 0
            nh = e + c.ptr_size
            ptr = _data_alloc(c, heap, nh, old, 0)
            if not ptr:
                _free_entry(c, e)
                c.set_last_error(ERROR_NOT_ENOUGH_MEMORY)
                return 0
            c.write(ptr, c.read(h, old))
            heap.free_block(h)
            _set_eflags(c, e, E_ALLOCATED | E_MOVEABLE | (E_DISCARDABLE if flags & LMEM_DISCARDABLE else 0))
            c.write_ptr(nh, ptr)
            return nh
        ef = _eflags(c, e) & ~E_DISCARDABLE
        _set_eflags(c, e, ef | (E_DISCARDABLE if flags & LMEM_DISCARDABLE else 0))
        return h
    if e is None:
        old = heap.size_of(h)
        if old is None:
            c.set_last_error(_bad_pointer_error(c, h))
            return 0
        new = heap.realloc(h, size, zero | (0 if flags & LMEM_MOVEABLE else HEAP_REALLOC_IN_PLACE_ONLY))
        if not new:
            c.set_last_error(ERROR_NOT_ENOUGH_MEMORY)
            return 0
        return new
    ef = _eflags(c, e)
    locked = (ef >> 16) & 0xFF
    ptr = c.ptr(h)
    if ptr == 0:
        if size:
            ptr = _data_alloc(c, heap, h, size, zero)
            if not ptr:
                c.set_last_error(ERROR_NOT_ENOUGH_MEMORY)
                return 0
            ef &= ~E_DISCARDED
    elif size == 0:
        if locked:
            c.set_last_error(ERROR_NOT_ENOUGH_MEMORY)
            return 0
        heap.free_block(ptr)  # discard the block, keep the handle
        ptr = 0
        ef |= E_DISCARDED
    else:
        new = heap.realloc(ptr, size, zero | (HEAP_REALLOC_IN_PLACE_ONLY if locked else 0))
        if not new:
            c.set_last_error(ERROR_NOT_ENOUGH_MEMORY)
            return 0
        ptr = new
    _set_eflags(c, e, ef)
    c.write_ptr(h, ptr)
    return h


def _handle_of(c, p: int) -> int:
    """GlobalHandle/LocalHandle: a handle is its own; a moveable block's user value is its handle; a fixed block
    is its own handle."""
    e = _entry_of(c, p)
    if e is not None:
        if e > 0:
            return p
        c.set_last_error(ERROR_INVALID_HANDLE)
        return 0
    info = _ph(c).user_info(p)
    if info is None:
        c.set_last_error(ERROR_INVALID_HANDLE)
        return 0
    value, uflags = info
    return value if uflags & BASE_HEAP_FLAG_MOVEABLE else p


for _pre, _T in (("Local", "HLOCAL"), ("Global", "HGLOBAL")):
    def _decl(pre=_pre, T=_T):
        @api(K32, f"{T} WINAPI {pre}Alloc(UINT uFlags, SIZE_T uBytes)")
        def Alloc(c, flags, size):
            return _local_alloc(c, flags, size, pre == "Global")

        @api(K32, f"{T} WINAPI {pre}Free({T} hMem)")
        def Free(c, h):
            return _local_free(c, h)

        @api(K32, f"LPVOID WINAPI {pre}Lock({T} hMem)")
        def Lock(c, h):
            return _local_lock(c, h)

        @api(K32, f"BOOL WINAPI {pre}Unlock({T} hMem)")
        def Unlock(c, h):
            return _local_unlock(c, h, pre == "Global")

        @api(K32, f"SIZE_T WINAPI {pre}Size({T} hMem)")
        def Size(c, h):
            return _local_size(c, h)

        @api(K32, f"UINT WINAPI {pre}Flags({T} hMem)")
        def Flags(c, h):
            return _local_flags(c, h, pre == "Global")

        @api(K32, f"{T} WINAPI {pre}ReAlloc({T} hMem, SIZE_T uBytes, UINT uFlags)")
        def ReAlloc(c, h, size, flags):
            return _local_realloc(c, h, size, flags, pre == "Global")

        @api(K32, f"{T} WINAPI {pre}Handle(LPCVOID pMem)")
        def Handle(c, p):
            return _handle_of(c, p)

    _decl()


# ------------------------------------------------------------------------------------------ user information
@api(NT, "BOOLEAN NTAPI RtlGetUserInfoHeap(PVOID HeapHandle, ULONG Flags, PVOID BaseAddress, PVOID *UserValue, "
         "PULONG UserFlags)")
def RtlGetUserInfoHeap(c, h, flags, addr, pvalue, pflags):
    """The user value (HEAP_SETTABLE_USER_VALUE blocks; else 0) and settable flags of a busy block."""
    heap = _heap(c, h)
    info = heap.user_info(addr) if heap is not None else None
    if info is None:
        c.set_last_nt_error(STATUS_INVALID_PARAMETER)
        return 0
    if pvalue and heap.has_user_value(addr):      # a block without one leaves *UserValue as it was
        c.write_ptr(pvalue, info[0])
    if pflags:
        c.write_u32(pflags, info[1])
    return 1


@api(NT, "BOOLEAN NTAPI RtlSetUserValueHeap(PVOID HeapHandle, ULONG Flags, PVOID BaseAddress, PVOID UserValue)")
def RtlSetUserValueHeap(c, h, flags, addr, value):
    """FALSE for a block allocated without HEAP_SETTABLE_USER_VALUE (it has nowhere to keep one)."""
    heap = _heap(c, h)
    return 1 if heap is not None and heap.set_user_value(addr, value) else 0


@api(NT, "BOOLEAN NTAPI RtlSetUserFlagsHeap(PVOID HeapHandle, ULONG Flags, PVOID BaseAddress, ULONG UserFlagsReset, "
         "ULONG UserFlagsSet)")
def RtlSetUserFlagsHeap(c, h, flags, addr, reset, set_):
    """Only the HEAP_SETTABLE_USER_FLAG1..3 bits (0x200, 0x400, 0x800) can be reset or set."""
    heap = _heap(c, h)
    return 1 if heap is not None and heap.set_user_flags(addr, reset, set_) else 0


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


def _write_entry(c, at: int, e: dict, rtl: bool, heap=None) -> None:
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
        if not rtl and e["kind"] == "busy":
            # a Local/Global moveable block: PROCESS_HEAP_ENTRY_MOVEABLE and Block.hMem (its user value)
            info = heap.user_info(e["data"]) if heap is not None else None
            if info and info[1] & BASE_HEAP_FLAG_MOVEABLE:
                c.write(at + off + 2, (flags | 0x10).to_bytes(2, "little"))
                c.write_ptr(at + u, info[0])


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
    _write_entry(c, pentry, e, False, heap)
    return 1


@api(NT, "ULONG NTAPI RtlGetNtGlobalFlags(void)")
def RtlGetNtGlobalFlags(c):
    """The process's global flags, as ntdll reads them: PEB.NtGlobalFlag (0 without a debugger)."""
    from winhatch.kernel.structs import PEB
    return PEB.read(c.proc.aspace, c.proc.peb, c.arch, "NtGlobalFlag")["NtGlobalFlag"]
