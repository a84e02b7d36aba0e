"""ntdll's interlocked singly linked lists (SList): RtlInitializeSListHead, RtlInterlockedPush/Pop/FlushSList,
RtlInterlockedPushListSList(Ex), RtlQueryDepthSList, RtlFirstEntrySList (kernel32's InitializeSListHead,
InterlockedPushEntrySList, ... are forwarders to these).

The list lives in the guest's own SLIST_HEADER, in the layout winnt.h gives it (checked with a mingw
offsetof/bit-field program for both architectures), so a guest that walks or modifies the header inline
(the compiler intrinsics, cmpxchg8b/cmpxchg16b loops) sees and makes the same state:

    x86  (8 bytes)   +0 Next (SLIST_ENTRY *)   +4 Depth (WORD)   +6 Sequence (WORD)
    x64  (16 bytes, 16-aligned)  HeaderX64:  qword 0 = Depth:16 | Sequence:48
                                              qword 1 = HeaderType:1 | Reserved:3 | NextEntry:60 (address >> 4)

Every operation bumps the sequence number on push and pop, as the cmpxchg loops must to defeat ABA. One
emulated thread runs at a time and a handler runs to completion, so each call is atomic to the guest.
A header or entry at an unreadable address faults as the guest's own access would (access violation).
x64 entries must be 16-byte aligned (MEMORY_ALLOCATION_ALIGNMENT): the header keeps only the address's
upper 60 bits (NextEntry), so a misaligned entry loses its low bits here exactly as it does on Windows.
"""
from __future__ import annotations

from winhatch.win32.api import api

NT = "ntdll.dll"
M48 = (1 << 48) - 1


def _read(c, head: int) -> tuple[int, int, int]:
    """(first entry, depth, sequence) of the header at `head`."""
    if c.ptr_size == 8:
        q0 = int.from_bytes(c.read(head, 8), "little")
        q1 = int.from_bytes(c.read(head + 8, 8), "little")
        return (q1 >> 4) << 4, q0 & 0xFFFF, q0 >> 16
    raw = c.read(head, 8)
    return int.from_bytes(raw[:4], "little"), int.from_bytes(raw[4:6], "little"), int.from_bytes(raw[6:], "little")


def _write(c, head: int, first: int, depth: int, seq: int) -> None:
    if c.ptr_size == 8:
        q1 = int.from_bytes(c.read(head + 8, 8), "little") & 0xF     # HeaderType and Reserved stay
        c.write(head, ((depth & 0xFFFF) | ((seq & M48) << 16)).to_bytes(8, "little")
                + ((first & ~0xF) | q1).to_bytes(8, "little"))
    else:
        c.write(head, (first & 0xFFFFFFFF).to_bytes(4, "little") + (depth & 0xFFFF).to_bytes(2, "little")
                + (seq & 0xFFFF).to_bytes(2, "little"))


@api(NT, "void NTAPI RtlInitializeSListHead(PSLIST_HEADER ListHead)")
def RtlInitializeSListHead(c, head):
    """Zero the header (Windows: RtlSecureZeroMemory of the whole SLIST_HEADER)."""
    c.write(head, bytes(16 if c.ptr_size == 8 else 8))


@api(NT, "PSLIST_ENTRY NTAPI RtlFirstEntrySList(const SLIST_HEADER *ListHead)")
def RtlFirstEntrySList(c, head):
    return _read(c, head)[0]


@api(NT, "USHORT NTAPI RtlQueryDepthSList(PSLIST_HEADER ListHead)")
def RtlQueryDepthSList(c, head):
    return _read(c, head)[1]


@api(NT, "PSLIST_ENTRY NTAPI RtlInterlockedPushEntrySList(PSLIST_HEADER ListHead, PSLIST_ENTRY ListEntry)")
def RtlInterlockedPushEntrySList(c, head, entry):
    """Push one entry; returns the previous first entry (NULL if the list was empty)."""
    first, depth, seq = _read(c, head)
    c.write_ptr(entry, first)
    _write(c, head, entry, depth + 1, seq + 1)
    return first


@api(NT, "PSLIST_ENTRY NTAPI RtlInterlockedPopEntrySList(PSLIST_HEADER ListHead)")
def RtlInterlockedPopEntrySList(c, head):
    """Pop the first entry; NULL when the list is empty."""
    first, depth, seq = _read(c, head)
    if not first:
        return 0
    nxt = c.ptr(first)
    _write(c, head, nxt, depth - 1, seq + 1)
    return first


@api(NT, "PSLIST_ENTRY NTAPI RtlInterlockedFlushSList(PSLIST_HEADER ListHead)")
def RtlInterlockedFlushSList(c, head):
    """Take the whole chain: returns the first entry (NULL when empty); the header's depth becomes 0 (the
    sequence number is kept)."""
    first, _depth, seq = _read(c, head)
    if first:
        _write(c, head, 0, 0, seq)
    return first


def _push_list(c, head, lst, end, count):
    first, depth, seq = _read(c, head)
    c.write_ptr(end, first)
    _write(c, head, lst, depth + count, seq + 1)
    return first


@api(NT, "PSLIST_ENTRY NTAPI RtlInterlockedPushListSListEx(PSLIST_HEADER ListHead, PSLIST_ENTRY List, "
         "PSLIST_ENTRY ListEnd, ULONG Count)")
def RtlInterlockedPushListSListEx(c, head, lst, end, count):
    """Push the chain List..ListEnd (Count entries, linked by the caller) in one step; returns the previous
    first entry."""
    return _push_list(c, head, lst, end, count)


@api(NT, "PSLIST_ENTRY NTAPI RtlInterlockedPushListSList(PSLIST_HEADER ListHead, PSLIST_ENTRY List, "
         "PSLIST_ENTRY ListEnd, ULONG Count)")
def RtlInterlockedPushListSList(c, head, lst, end, count):
    """The same as the Ex form; on x86 it is __fastcall (ListHead in ecx, List in edx, ListEnd and Count on
    the stack, popped by the callee): the handler reads those registers and returns itself."""
    if c.ptr_size == 8:
        return _push_list(c, head, lst, end, count)
    cpu = c.cpu
    sp = c._sp
    head, lst = cpu.reg("ecx"), cpu.reg("edx")
    end, count = c.u32(sp + 4), c.u32(sp + 8)
    result = _push_list(c, head, lst, end, count)
    ret = c.u32(sp)
    cpu.retval = result
    cpu.sp = sp + 12
    cpu.pc = ret
    return None
