"""ntdll's generic handle tables (user mode): RtlInitializeHandleTable, RtlAllocateHandle, RtlFreeHandle,
RtlIsValidHandle, RtlIsValidIndexHandle, RtlDestroyHandleTable — the fixed-size entries kernelbase (its
moveable-memory handles) and other components build their own handles from.

The table is the caller's RTL_HANDLE_TABLE (x86 and x64 alike: ULONG MaximumNumberOfHandles, ULONG
SizeOfHandleTableEntry, ULONG Reserved[2], then four pointers at +0x10: the free list, the first entry, the end of
the committed entries, the end of the reservation).  The entries live in a reservation of their own, committed a
page at a time; each starts with RTL_HANDLE {RTL_HANDLE *Next}, the free list's link while it is free, and its
bit 0 (RTL_HANDLE_ALLOCATED) is set by the owner once the entry is in use.
"""
from __future__ import annotations

from winhatch.win32.api import api

NT = "ntdll.dll"
MEM_COMMIT, MEM_RESERVE, MEM_RELEASE, PAGE_READWRITE = 0x1000, 0x2000, 0x8000, 0x04
RTL_HANDLE_ALLOCATED = 1
PAGE = 0x1000


def _fields(c, table: int) -> tuple[int, int, int, int, int, int]:
    """(max handles, entry size, free list, first entry, committed end, reserved end)."""
    ps = c.ptr_size
    return (c.u32(table), c.u32(table + 4), c.ptr(table + 0x10), c.ptr(table + 0x10 + ps),
            c.ptr(table + 0x10 + 2 * ps), c.ptr(table + 0x10 + 3 * ps))


def _vm(c, base: int, size: int, kind: int) -> int:
    """NtAllocateVirtualMemory in the current process; the base, or 0."""
    ps = c.ptr_size
    io = c.stack_alloc(2 * ps, 8)
    c.write_ptr(io, base)
    c.write_ptr(io + ps, size)
    st = c.nt("NtAllocateVirtualMemory", (1 << (8 * ps)) - 1, io, 0, io + ps, kind, PAGE_READWRITE)
    return 0 if st & 0x80000000 else c.ptr(io)


@api(NT, "void NTAPI RtlInitializeHandleTable(ULONG MaxHandleCount, ULONG HandleSize, PVOID HandleTable)")
def RtlInitializeHandleTable(c, count, size, table):
    c.write(table, bytes(0x10 + 4 * c.ptr_size))
    c.write_u32(table, count)
    c.write_u32(table + 4, size)
    return 0


@api(NT, "PVOID NTAPI RtlAllocateHandle(PVOID HandleTable, PULONG HandleIndex)")
def RtlAllocateHandle(c, table, pindex):
    """A free entry (zeroed; its owner marks it allocated), committing the next page of the reservation when
    the free list is empty; NULL when the table is full or memory runs out."""
    ps = c.ptr_size
    count, size, free, first, committed, end = _fields(c, table)
    if size < ps or size > PAGE:
        return 0
    if not free:
        if not first:
            total = (count * size + PAGE - 1) & ~(PAGE - 1)
            first = _vm(c, 0, total, MEM_RESERVE) if total else 0
            if not first:
                return 0
            committed, end = first, first + count * size
            c.write_ptr(table + 0x10 + ps, first)
            c.write_ptr(table + 0x10 + 3 * ps, end)
        if committed + size > end:
            return 0
        page_end = min((committed + size + PAGE - 1) & ~(PAGE - 1), (end + PAGE - 1) & ~(PAGE - 1))
        if not _vm(c, committed & ~(PAGE - 1), page_end - (committed & ~(PAGE - 1)), MEM_COMMIT):
            return 0
        # the whole entries of the newly committed range go on the free list, in address order
        n = (min(page_end, end) - committed) // size
        for i in range(n):
            e = committed + i * size
            c.write_ptr(e, e + size if i + 1 < n else 0)
        free = committed
        c.write_ptr(table + 0x10 + 2 * ps, committed + n * size)
    nxt = c.ptr(free)
    c.write_ptr(table + 0x10, nxt)
    c.write(free, bytes(size))
    if pindex:
        c.write_u32(pindex, (free - first) // size)
    return free


def _valid(c, table: int, h: int) -> bool:
    _count, size, _free, first, committed, _end = _fields(c, table)
    if not h or not first or size == 0 or not first <= h < committed or (h - first) % size:
        return False
    return bool(c.ptr(h) & RTL_HANDLE_ALLOCATED)


@api(NT, "BOOLEAN NTAPI RtlIsValidHandle(PVOID HandleTable, PVOID Handle)")
def RtlIsValidHandle(c, table, h):
    return 1 if _valid(c, table, h) else 0


@api(NT, "BOOLEAN NTAPI RtlIsValidIndexHandle(PVOID HandleTable, ULONG Index, PVOID *Handle)")
def RtlIsValidIndexHandle(c, table, index, out):
    _count, size, _free, first, _committed, _end = _fields(c, table)
    h = first + index * size
    if not first or not _valid(c, table, h):
        return 0
    c.write_ptr(out, h)
    return 1


@api(NT, "BOOLEAN NTAPI RtlFreeHandle(PVOID HandleTable, PVOID Handle)")
def RtlFreeHandle(c, table, h):
    """The entry goes back on the free list, zeroed but for the link; TRUE (it is not checked: freeing an entry
    twice puts it on the list twice, as on Windows)."""
    size = c.u32(table + 4)
    c.write(h, bytes(size))
    c.write_ptr(h, c.ptr(table + 0x10))
    c.write_ptr(table + 0x10, h)
    return 1


@api(NT, "NTSTATUS NTAPI RtlDestroyHandleTable(PVOID HandleTable)")
def RtlDestroyHandleTable(c, table):
    ps = c.ptr_size
    first = c.ptr(table + 0x10 + ps)
    if first:
        io = c.stack_alloc(2 * ps, 8)
        c.write_ptr(io, first)
        c.write_ptr(io + ps, 0)
        c.nt("NtFreeVirtualMemory", (1 << (8 * ps)) - 1, io, io + ps, MEM_RELEASE)
    c.write(table + 0x10, bytes(4 * ps))
    return 0
