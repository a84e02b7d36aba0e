"""ntdll's user stacks: RtlCreateUserStack / RtlFreeUserStack, over NtAllocateVirtualMemory / NtFreeVirtualMemory.

RtlCreateUserStack(CommittedStackSize, MaximumStackSize, ZeroBits, CommitAlignment, ReserveAlignment, InitialTeb)
as Windows behaves (Wine's ntdll/virtual.c conformance checks, written on Windows): a size of 0 is the image's
default (the process image's SizeOfStackCommit / SizeOfStackReserve); a commit at least as large as the
reservation makes the reservation the commit rounded up to 1 MiB; the commit is rounded up to CommitAlignment,
the reservation to ReserveAlignment (both required: 0 is STATUS_INVALID_PARAMETER).  The reservation is made
with ZeroBits, its top `commit` bytes are committed read/write with a guard page below them when there is room,
and the INITIAL_TEB gets StackBase (the top), StackLimit (the bottom of the commit) and StackAllocationBase
(DeallocationStack); OldStackBase / OldStackLimit are zero.
"""
from __future__ import annotations

from winhatch.kernel.structs import PEB
from winhatch.win32.api import api

NT = "ntdll.dll"
PAGE = 0x1000
MEM_COMMIT, MEM_RESERVE, MEM_RELEASE = 0x1000, 0x2000, 0x8000
PAGE_READWRITE, PAGE_GUARD = 0x04, 0x100
STATUS_INVALID_PARAMETER = 0xC000000D


def _up(x: int, a: int) -> int:
    return (x + a - 1) // a * a


def image_stack_sizes(c) -> tuple[int, int]:
    """(SizeOfStackCommit, SizeOfStackReserve) of the process image, read from its headers in guest memory."""
    base = c.ptr(c.proc.peb + PEB.offset(c.arch, "ImageBaseAddress"))
    opt = base + c.u32(base + 0x3C) + 24
    ps = c.ptr_size
    reserve = int.from_bytes(c.read(opt + 72, ps), "little")
    commit = int.from_bytes(c.read(opt + 72 + ps, ps), "little")
    return commit, reserve


@api(NT, "NTSTATUS NTAPI RtlCreateUserStack(SIZE_T CommittedStackSize, SIZE_T MaximumStackSize, ULONG_PTR ZeroBits, "
         "SIZE_T CommitAlignment, SIZE_T ReserveAlignment, PVOID InitialTeb)")
def RtlCreateUserStack(c, commit, reserve, zero_bits, commit_align, reserve_align, initial_teb):
    if not commit_align or not reserve_align:
        return STATUS_INVALID_PARAMETER
    dcommit, dreserve = image_stack_sizes(c)
    commit = commit or dcommit
    reserve = reserve or dreserve
    if commit >= reserve:
        reserve = _up(commit, 0x100000)
    commit = _up(_up(commit, commit_align), PAGE)
    reserve = _up(_up(reserve, reserve_align), PAGE)
    commit = min(commit, reserve)
    ps = c.ptr_size
    pbase, psize = c.stack_alloc(ps), c.stack_alloc(ps)
    c.write_ptr(psize, reserve)
    st = c.nt("NtAllocateVirtualMemory", -1 & ((1 << 8 * ps) - 1), pbase, zero_bits, psize, MEM_RESERVE,
              PAGE_READWRITE)
    if st:
        return st
    base, size = c.ptr(pbase), c.ptr(psize)
    top = base + size
    st = _commit(c, pbase, psize, top - commit, commit, PAGE_READWRITE)
    if not st and size - commit >= PAGE:
        st = _commit(c, pbase, psize, top - commit - PAGE, PAGE, PAGE_READWRITE | PAGE_GUARD)
    if st:
        c.write_ptr(pbase, base)
        c.write_ptr(psize, 0)
        c.nt("NtFreeVirtualMemory", -1 & ((1 << 8 * ps) - 1), pbase, psize, MEM_RELEASE)
        return st
    # INITIAL_TEB { OldStackBase, OldStackLimit, StackBase, StackLimit, StackAllocationBase }
    for i, v in enumerate((0, 0, top, top - commit, base)):
        c.write_ptr(initial_teb + i * ps, v)
    return 0


def _commit(c, pbase: int, psize: int, addr: int, size: int, protect: int) -> int:
    c.write_ptr(pbase, addr)
    c.write_ptr(psize, size)
    return c.nt("NtAllocateVirtualMemory", -1 & ((1 << 8 * c.ptr_size) - 1), pbase, 0, psize, MEM_COMMIT, protect)


@api(NT, "void NTAPI RtlFreeUserStack(PVOID StackAllocationBase)")
def RtlFreeUserStack(c, base):
    ps = c.ptr_size
    pbase, psize = c.stack_alloc(ps), c.stack_alloc(ps)
    c.write_ptr(pbase, base)
    c.write_ptr(psize, 0)
    c.nt("NtFreeVirtualMemory", -1 & ((1 << 8 * ps) - 1), pbase, psize, MEM_RELEASE)


THREAD_ALL_ACCESS = 0x1FFFFF
PS_ATTRIBUTE_CLIENT_ID = 0x10003


@api(NT, "NTSTATUS NTAPI RtlCreateUserThread(HANDLE Process, PVOID SecurityDescriptor, BOOLEAN CreateSuspended, "
         "ULONG ZeroBits, SIZE_T MaximumStackSize, SIZE_T CommittedStackSize, PVOID StartAddress, PVOID Parameter, "
         "PHANDLE Thread, PVOID ClientId)")
def RtlCreateUserThread(c, process, sd, suspended, zero_bits, reserve, commit, start, param, phandle, pcid):
    """NtCreateThreadEx with the security descriptor in the OBJECT_ATTRIBUTES and a PS_ATTRIBUTE_LIST asking for the
    CLIENT_ID; the handle is closed when the caller does not want it."""
    ps = c.ptr_size
    out = c.stack_alloc(ps)
    cid = c.stack_alloc(2 * ps)
    alist = c.stack_alloc(5 * ps)     # PS_ATTRIBUTE_LIST with one PS_ATTRIBUTE
    for i, v in enumerate((5 * ps, PS_ATTRIBUTE_CLIENT_ID, 2 * ps, cid, 0)):
        c.write_ptr(alist + i * ps, v)
    oa = c.object_attributes(0, 0, sd=sd)
    st = c.nt("NtCreateThreadEx", out, THREAD_ALL_ACCESS, oa, process, start, param, 1 if suspended & 0xFF else 0,
              zero_bits & 0xFFFFFFFF, commit, reserve, alist)
    if st & 0x80000000:
        return st
    if pcid:
        c.write_ptr(pcid, c.ptr(cid))
        c.write_ptr(pcid + ps, c.ptr(cid + ps))
    if phandle:
        c.write_ptr(phandle, c.ptr(out))
    else:
        c.nt("NtClose", c.ptr(out))
    return st
