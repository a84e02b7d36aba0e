"""ntdll's RTL_RESOURCE (RTL_RWLOCK) — RtlInitializeResource, RtlAcquireResourceShared,
RtlAcquireResourceExclusive, RtlReleaseResource, RtlDeleteResource — a reader/writer lock in guest memory:

    RTL_CRITICAL_SECTION Lock; HANDLE SharedSemaphore; ULONG SharedWaiters; HANDLE ExclusiveSemaphore;
    ULONG ExclusiveWaiters; LONG NumberActive; HANDLE OwningThread; ULONG TimeoutBoost; PVOID DebugInfo

NumberActive counts the shared owners (> 0) or the exclusive owner's recursion (< 0, OwningThread its id).
The exclusive owner may take the resource again either way (a shared request then counts as exclusive
recursion). Shared requests are granted while no one owns it exclusively, even with exclusive waiters (as
Wine's conformance tests see on Windows). With Wait FALSE a busy resource returns FALSE; with TRUE the caller
blocks until it can take it (the waiter counts show in the structure meanwhile). The two semaphores are real
(NtCreateSemaphore) and closed by RtlDeleteResource; the blocking itself is the scheduler's.
"""
from __future__ import annotations

from winhatch.kernel.ke import wait as kwait
from winhatch.kernel.ke.sync import KeyedLock
from winhatch.kernel.ke.wait import WaitBlock, WouldBlock
from winhatch.win32.api import api

NT = "ntdll.dll"
SEMAPHORE_ALL_ACCESS = 0x1F0003


class _Fields:
    def __init__(self, c, res: int) -> None:
        # x64: 0x28 0x30 0x38 0x40 0x44 0x48 0x50 0x58; x86: 0x18 0x1C 0x20 0x24 0x28 0x2C 0x30 0x34
        offs = (0x28, 0x30, 0x38, 0x40, 0x44, 0x48, 0x50, 0x58) if c.ptr_size == 8 else \
            (0x18, 0x1C, 0x20, 0x24, 0x28, 0x2C, 0x30, 0x34)
        (self.shared_sem, self.shared_waiters, self.excl_sem, self.excl_waiters, self.active, self.owner,
         self.boost, self.debug) = (res + o for o in offs)


def _s32(v: int) -> int:
    return v - (1 << 32) if v & 0x80000000 else v


def _active(proc, f: _Fields) -> int:
    return _s32(int.from_bytes(proc.aspace.read(f.active, 4), "little"))


def _set_active(proc, f: _Fields, v: int) -> None:
    proc.aspace.write(f.active, (v & 0xFFFFFFFF).to_bytes(4, "little"))


def _owner(proc, f: _Fields, ps: int) -> int:
    return int.from_bytes(proc.aspace.read(f.owner, ps), "little")


def _try(proc, f: _Fields, ps: int, tid: int, exclusive: bool) -> bool:
    n = _active(proc, f)
    if n < 0 and _owner(proc, f, ps) == tid:
        _set_active(proc, f, n - 1)
        return True
    if exclusive:
        if n == 0:
            _set_active(proc, f, -1)
            proc.aspace.write(f.owner, tid.to_bytes(ps, "little"))
            return True
        return False
    if n >= 0:
        _set_active(proc, f, n + 1)
        return True
    return False


def _acquire(c, res: int, wait: int, exclusive: bool) -> int:
    name = "RtlAcquireResourceExclusive" if exclusive else "RtlAcquireResourceShared"
    key = kwait.call_key(c, name)
    if kwait.take_done(c.thread, key) is not None:
        return 1
    proc, ps, f = c.proc, c.ptr_size, _Fields(c, res)
    if _try(proc, f, ps, c.thread.tid, exclusive):
        return 1
    if not wait & 0xFF:
        return 0
    counter = f.excl_waiters if exclusive else f.shared_waiters
    c.write_u32(counter, c.u32(counter) + 1)

    def check(t) -> bool:
        n = _active(proc, f)
        if n < 0:
            return _owner(proc, f, ps) == t.tid
        return n == 0 or not exclusive

    def take(t) -> None:
        _try(proc, f, ps, t.tid, exclusive)
        waiting = int.from_bytes(proc.aspace.read(counter, 4), "little")
        proc.aspace.write(counter, max(0, waiting - 1).to_bytes(4, "little"))

    what = f"RTL_RESOURCE at 0x{res:x} ({'exclusive' if exclusive else 'shared'})"
    raise WouldBlock(WaitBlock([KeyedLock(what, check, take)], reason=name, key=key))


@api(NT, "void NTAPI RtlInitializeResource(PVOID Resource)")
def RtlInitializeResource(c, res):
    from winhatch.win32.kernel32 import sync
    ps = c.ptr_size
    f = _Fields(c, res)
    c.write(res, bytes(f.debug + ps - res))
    sync.InitializeCriticalSection(c, res)
    out = c.stack_alloc(ps)
    for at in (f.shared_sem, f.excl_sem):
        st = c.nt("NtCreateSemaphore", out, SEMAPHORE_ALL_ACCESS, 0, 0, 0x10000)
        if st & 0x80000000:
            from winhatch.ntstatus import NtStatusError
            raise NtStatusError(st, "RtlInitializeResource: NtCreateSemaphore")   # RtlRaiseStatus
        c.write_ptr(at, c.ptr(out))


@api(NT, "BOOLEAN NTAPI RtlAcquireResourceExclusive(PVOID Resource, BOOLEAN Wait)")
def RtlAcquireResourceExclusive(c, res, wait):
    return _acquire(c, res, wait, True)


@api(NT, "BOOLEAN NTAPI RtlAcquireResourceShared(PVOID Resource, BOOLEAN Wait)")
def RtlAcquireResourceShared(c, res, wait):
    return _acquire(c, res, wait, False)


@api(NT, "void NTAPI RtlReleaseResource(PVOID Resource)")
def RtlReleaseResource(c, res):
    proc, ps, f = c.proc, c.ptr_size, _Fields(c, res)
    n = _active(proc, f)
    if n > 0:
        _set_active(proc, f, n - 1)
    elif n < 0:
        _set_active(proc, f, n + 1)
        if n + 1 == 0:
            c.write_ptr(f.owner, 0)
    else:
        return      # not held: nothing to release (Windows raises an internal error here)
    c.machine.dispatcher.signal_waiters()


@api(NT, "void NTAPI RtlDeleteResource(PVOID Resource)")
def RtlDeleteResource(c, res):
    f = _Fields(c, res)
    for at in (f.shared_sem, f.excl_sem):
        h = c.ptr(at)
        if h:
            c.nt("NtClose", h)
    c.write(res, bytes(f.debug + c.ptr_size - res))
