"""The kernel's synchronisation services (waits, events), called by the system-service dispatcher
(winhatch.kernel.ke.services). Wait statuses are STATUS_WAIT_0 (0) …, STATUS_ABANDONED_WAIT_0 (0x80),
STATUS_TIMEOUT (0x102): the values WaitForSingleObject returns, which kernel32 passes through."""
from __future__ import annotations

import struct

from winhatch.kernel.ke import wait as kwait
from winhatch.kernel.ke.services import kernel_service, unsupported, user_read, user_write
from winhatch.kernel.ob.access import EVENT_MODIFY_STATE, SYNCHRONIZE

STATUS_OBJECT_TYPE_MISMATCH = 0xC0000024
STATUS_TIMEOUT = 0x102


def _deadline(machine, thread, timeout_ptr: int) -> int | None:
    """None: no time-out (a NULL pointer); else the emulated time the wait ends at (a negative interval is
    relative, in 100 ns units; a positive one an absolute system time)."""
    if not timeout_ptr:
        return None
    (t,) = struct.unpack("<q", user_read(thread.process, timeout_ptr, 8))
    now = machine.clock.now()
    return now + (-t if t <= 0 else max(0, t - machine.clock.system_time()))


@kernel_service("NtWaitForSingleObject")
def NtWaitForSingleObject(machine, thread, Handle, Alertable, Timeout, *, caller_sp=0):
    key = ("NtWaitForSingleObject", caller_sp)
    done = kwait.take_done(thread, key)
    if done is not None:
        return done.status
    proc = thread.process
    obj = proc.handles.lookup(Handle, None, SYNCHRONIZE, current_process=proc, current_thread=thread)
    if not kwait.is_waitable(obj):
        return STATUS_OBJECT_TYPE_MISMATCH
    if Alertable & 0xFF and kwait.pending_apcs(thread):
        unsupported(thread, "NtWaitForSingleObject", "an alertable wait with user APCs queued (APC delivery)")
    st = kwait.try_satisfy(thread, [obj], False)
    if st is not None:
        return st
    deadline = _deadline(machine, thread, Timeout)
    if deadline is not None and deadline <= machine.clock.now():
        return STATUS_TIMEOUT
    raise kwait.WouldBlock(kwait.WaitBlock([obj], False, deadline, "NtWaitForSingleObject", key,
                                           bool(Alertable & 0xFF)))


def _event(thread, handle):
    proc = thread.process
    return proc.handles.lookup(handle, "Event", EVENT_MODIFY_STATE, current_process=proc, current_thread=thread)


def _previous(thread, ptr: int, prev: int) -> None:
    if ptr:
        user_write(thread.process, ptr, struct.pack("<i", prev))


@kernel_service("NtSetEvent")
def NtSetEvent(machine, thread, EventHandle, PreviousState):
    _previous(thread, PreviousState, _event(thread, EventHandle).set())
    return 0


@kernel_service("NtResetEvent")
def NtResetEvent(machine, thread, EventHandle, PreviousState):
    _previous(thread, PreviousState, _event(thread, EventHandle).reset())
    return 0


@kernel_service("NtClearEvent")
def NtClearEvent(machine, thread, EventHandle):
    _event(thread, EventHandle).reset()
    return 0
