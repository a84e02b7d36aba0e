"""The kernel's synchronisation services, called by the system-service dispatcher
(winhatch.kernel.ke.services): waits (NtWaitForSingleObject, NtWaitForMultipleObjects,
NtSignalAndWaitForSingleObject), the dispatcher objects' create/open/set/query services (events, mutants,
semaphores, timers), keyed events, NtTestAlert.

Wait statuses are STATUS_WAIT_0 (0) + i, STATUS_ABANDONED_WAIT_0 (0x80) + i, STATUS_USER_APC (0xC0: an
alertable wait ended because user APCs are queued), STATUS_TIMEOUT (0x102): the values WaitForSingleObject
returns, which kernel32 passes through.

Blocking follows the restart protocol of winhatch.kernel.ke.wait: a blocked service raises WouldBlock keyed
by its name and the caller's stack pointer; the dispatcher satisfies the wait (its side effects happen then,
KiWaitSatisfy) and the re-run of the service returns the stored status. An alertable wait that ends with
STATUS_USER_APC leaves the APCs queued: the return to user mode delivers them (winhatch.kernel.ke.apc).
"""
from __future__ import annotations

import struct

from winhatch.kernel.ke import wait as kwait
from winhatch.kernel.ke.services import kernel_service, user_read, user_write
from winhatch.kernel.ke.sync import Event, Mutant, Semaphore, Timer
from winhatch.kernel.ob import KObject
from winhatch.kernel.ob.access import (EVENT_MODIFY_STATE, EVENT_QUERY_STATE, MUTANT_QUERY_STATE,
                                       SEMAPHORE_MODIFY_STATE, SEMAPHORE_QUERY_STATE, SYNCHRONIZE,
                                       TIMER_MODIFY_STATE, TIMER_QUERY_STATE)
from winhatch.kernel.ob.services import insert_object, open_object, reference
from winhatch.ntstatus import (STATUS_INFO_LENGTH_MISMATCH, STATUS_INVALID_HANDLE, STATUS_INVALID_INFO_CLASS, STATUS_INVALID_PARAMETER,
                               STATUS_INVALID_PARAMETER_MIX, NtStatusError)

STATUS_OBJECT_TYPE_MISMATCH = 0xC0000024
STATUS_INVALID_CID = 0xC000000B
STATUS_ACCESS_DENIED = 0xC0000022
STATUS_TIMEOUT = 0x102
STATUS_USER_APC = 0xC0
STATUS_ALERTED = 0x101
STATUS_TIMER_RESUME_IGNORED = 0x40000025
STATUS_INVALID_PARAMETER_1 = 0xC00000EF
STATUS_INVALID_PARAMETER_2 = 0xC00000F0
STATUS_INVALID_PARAMETER_3 = 0xC00000F1
STATUS_INVALID_PARAMETER_4 = 0xC00000F2
STATUS_INVALID_PARAMETER_6 = 0xC00000F4
KEYEDEVENT_ALL_ACCESS = 0x000F0003
KEYEDEVENT_WAIT, KEYEDEVENT_WAKE = 0x1, 0x2
WaitAllObject, WaitAnyObject = 0, 1
NotificationEvent, SynchronizationEvent = 0, 1
NotificationTimer, SynchronizationTimer = 0, 1


def _s32(v: int) -> int:
    v &= 0xFFFFFFFF
    return v - (1 << 32) if v & 0x80000000 else v


def _deadline(machine, thread, timeout_ptr: int) -> int | None:
    """None: no time-out (a NULL pointer); else the emulated time the wait ends at (a negative interval is
    relative, in 100 ns units; a positive one an absolute system time)."""
    if not timeout_ptr:
        return None
    (t,) = struct.unpack("<q", user_read(thread.process, timeout_ptr, 8))
    now = machine.clock.now()
    return now + (-t if t <= 0 else max(0, t - machine.clock.system_time()))


class _AlwaysSignaled:
    """A synchronous file object waited on: signalled while no I/O is pending (winhatch's file I/O completes
    inside the call)."""
    type_name = "File"

    def signaled(self) -> bool:
        return True


_FILE_SIGNALED = _AlwaysSignaled()


def _waitable(thread, handle):
    obj = reference(thread, handle, None, SYNCHRONIZE)
    if kwait.is_waitable(obj):
        return obj
    if obj.type_name == "File":
        return _FILE_SIGNALED
    raise NtStatusError(STATUS_OBJECT_TYPE_MISMATCH, f"a {obj.type_name} cannot be waited on")


def wait_objects(machine, thread, objects: list, wait_all: bool, alertable: bool, timeout_ptr: int, key: tuple,
                 reason: str) -> int:
    """KeWaitForMultipleObjects with the restart protocol (the caller has taken `done` already)."""
    if alertable and kwait.pending_apcs(thread):
        return STATUS_USER_APC
    st = kwait.try_satisfy(thread, objects, wait_all)
    if st is not None:
        return st
    deadline = _deadline(machine, thread, timeout_ptr)
    if deadline is not None and deadline <= machine.clock.now():
        return STATUS_TIMEOUT
    raise kwait.WouldBlock(kwait.WaitBlock(list(objects), wait_all, deadline, reason, key, alertable))


# ------------------------------------------------------------------------------------------ waits
@kernel_service("NtWaitForSingleObject")
def NtWaitForSingleObject(machine, thread, Handle, Alertable, Timeout, *, caller_sp=0):
    key = ("NtWaitForSingleObject", caller_sp)
    done = kwait.take_done(thread, key)
    if done is not None:
        return done.status
    obj = _waitable(thread, Handle)
    return wait_objects(machine, thread, [obj], False, bool(Alertable & 0xFF), Timeout, key,
                        "NtWaitForSingleObject")


@kernel_service("NtWaitForMultipleObjects")
def NtWaitForMultipleObjects(machine, thread, Count, Handles, WaitType, Alertable, Timeout, *, caller_sp=0):
    key = ("NtWaitForMultipleObjects", caller_sp)
    done = kwait.take_done(thread, key)
    if done is not None:
        return done.status
    n = Count & 0xFFFFFFFF
    if n == 0 or n > kwait.MAXIMUM_WAIT_OBJECTS:
        return STATUS_INVALID_PARAMETER_1
    wt = WaitType & 0xFFFFFFFF
    if wt not in (WaitAllObject, WaitAnyObject):
        return STATUS_INVALID_PARAMETER_3
    ps = 8 if thread.process.arch == "x64" else 4
    raw = user_read(thread.process, Handles, n * ps)
    handles = struct.unpack(f"<{n}{'Q' if ps == 8 else 'I'}", raw)
    mask = (1 << 8 * ps) - 1
    if any(h in (mask, mask - 1) for h in handles):
        # NtCurrentProcess() / NtCurrentThread() are not looked up here, unlike NtWaitForSingleObject's
        # (kernel32/sync.c test_WaitForMultipleObjects, on Windows)
        return STATUS_INVALID_HANDLE
    objs = [_waitable(thread, h) for h in handles]
    wait_all = wt == WaitAllObject
    if wait_all and len({id(o) for o in objs if o is not _FILE_SIGNALED}) != \
            sum(1 for o in objs if o is not _FILE_SIGNALED):
        return STATUS_INVALID_PARAMETER_MIX
    return wait_objects(machine, thread, objs, wait_all, bool(Alertable & 0xFF), Timeout, key,
                        "NtWaitForMultipleObjects")


def signal_object(thread, obj) -> None:
    """The signal half of NtSignalAndWaitForSingleObject: set an event, release a mutant or a semaphore once."""
    if isinstance(obj, Event):
        obj.set()
    elif isinstance(obj, Mutant):
        obj.release(thread)
    elif isinstance(obj, Semaphore):
        obj.release(1)
    else:
        raise NtStatusError(STATUS_OBJECT_TYPE_MISMATCH, f"a {obj.type_name} cannot be signalled")


@kernel_service("NtSignalAndWaitForSingleObject")
def NtSignalAndWaitForSingleObject(machine, thread, SignalHandle, WaitHandle, Alertable, Timeout, *, caller_sp=0):
    key = ("NtSignalAndWaitForSingleObject", caller_sp)
    done = kwait.take_done(thread, key)
    if done is not None:
        return done.status
    sig = reference(thread, SignalHandle, None, 0)
    need = {"Event": EVENT_MODIFY_STATE, "Semaphore": SEMAPHORE_MODIFY_STATE, "Mutant": 0}.get(sig.type_name)
    if need is None:
        return STATUS_OBJECT_TYPE_MISMATCH
    reference(thread, SignalHandle, None, need)
    obj = _waitable(thread, WaitHandle)
    signal_object(thread, sig)
    return wait_objects(machine, thread, [obj], False, bool(Alertable & 0xFF), Timeout, key,
                        "NtSignalAndWaitForSingleObject")


@kernel_service("NtTestAlert")
def NtTestAlert(machine, thread):
    """The calling thread's queued user APCs run on the return to user mode (STATUS_ALERTED if the thread was
    alerted, cleared here)."""
    if getattr(thread, "alerted", False):
        thread.alerted = False
        return STATUS_ALERTED
    if kwait.pending_apcs(thread):
        thread.deliver_apcs = True
    return 0


# ------------------------------------------------------------------------------------------ info helpers
def _query(thread, cls: int, buf: int, size: int, ret_len: int, data: bytes) -> int:
    if cls & 0xFFFFFFFF != 0:
        return STATUS_INVALID_INFO_CLASS
    if size & 0xFFFFFFFF != len(data):
        return STATUS_INFO_LENGTH_MISMATCH
    user_write(thread.process, buf, data)
    if ret_len:
        user_write(thread.process, ret_len, struct.pack("<I", len(data)))
    return 0


def _previous(thread, ptr: int, prev: int) -> None:
    if ptr:
        user_write(thread.process, ptr, struct.pack("<i", prev))


# ------------------------------------------------------------------------------------------ events
@kernel_service("NtCreateEvent")
def NtCreateEvent(machine, thread, EventHandle, DesiredAccess, ObjectAttributes, EventType, InitialState):
    et = EventType & 0xFFFFFFFF
    if et not in (NotificationEvent, SynchronizationEvent):
        return STATUS_INVALID_PARAMETER
    ev = Event(machine, et == NotificationEvent, bool(InitialState & 0xFF))
    return insert_object(machine, thread, ev, ObjectAttributes, DesiredAccess & 0xFFFFFFFF, EventHandle)


@kernel_service("NtOpenEvent")
def NtOpenEvent(machine, thread, EventHandle, DesiredAccess, ObjectAttributes):
    return open_object(machine, thread, ObjectAttributes, "Event", DesiredAccess & 0xFFFFFFFF, EventHandle)


def _event(thread, handle, access=EVENT_MODIFY_STATE):
    return reference(thread, handle, "Event", access)


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


@kernel_service("NtPulseEvent")
def NtPulseEvent(machine, thread, EventHandle, PreviousState):
    _previous(thread, PreviousState, _event(thread, EventHandle).pulse())
    return 0


@kernel_service("NtQueryEvent")
def NtQueryEvent(machine, thread, EventHandle, EventInformationClass, EventInformation, EventInformationLength,
                 ReturnLength):
    ev = _event(thread, EventHandle, EVENT_QUERY_STATE)
    # EVENT_BASIC_INFORMATION: EVENT_TYPE EventType; LONG EventState
    data = struct.pack("<Ii", NotificationEvent if ev.manual_reset else SynchronizationEvent, int(ev.state))
    return _query(thread, EventInformationClass, EventInformation, EventInformationLength, ReturnLength, data)


# ------------------------------------------------------------------------------------------ mutants
@kernel_service("NtCreateMutant")
def NtCreateMutant(machine, thread, MutantHandle, DesiredAccess, ObjectAttributes, InitialOwner):
    m = Mutant(machine)
    st = insert_object(machine, thread, m, ObjectAttributes, DesiredAccess & 0xFFFFFFFF, MutantHandle)
    if st == 0 and InitialOwner & 0xFF:
        m.acquire(thread)   # an existing named mutant is not taken over (STATUS_OBJECT_NAME_EXISTS)
    return st


@kernel_service("NtOpenMutant")
def NtOpenMutant(machine, thread, MutantHandle, DesiredAccess, ObjectAttributes):
    return open_object(machine, thread, ObjectAttributes, "Mutant", DesiredAccess & 0xFFFFFFFF, MutantHandle)


def _mutant_count(m: Mutant) -> int:
    """KMUTANT's signal state: 1 when free, 1 - recursion while owned."""
    return 1 - m.recursion


@kernel_service("NtReleaseMutant")
def NtReleaseMutant(machine, thread, MutantHandle, PreviousCount):
    m = reference(thread, MutantHandle, "Mutant", 0)
    prev = _mutant_count(m)
    m.release(thread)
    _previous(thread, PreviousCount, prev)
    return 0


@kernel_service("NtQueryMutant")
def NtQueryMutant(machine, thread, MutantHandle, MutantInformationClass, MutantInformation, MutantInformationLength,
                  ReturnLength):
    m = reference(thread, MutantHandle, "Mutant", MUTANT_QUERY_STATE)
    # MUTANT_BASIC_INFORMATION: LONG CurrentCount; BOOLEAN OwnedByCaller; BOOLEAN AbandonedState
    data = struct.pack("<iBBxx", _mutant_count(m), int(m.owner is thread), int(m.abandoned))
    return _query(thread, MutantInformationClass, MutantInformation, MutantInformationLength, ReturnLength, data)


# ------------------------------------------------------------------------------------------ semaphores
@kernel_service("NtCreateSemaphore")
def NtCreateSemaphore(machine, thread, SemaphoreHandle, DesiredAccess, ObjectAttributes, InitialCount,
                      MaximumCount):
    s = Semaphore(machine, _s32(InitialCount), _s32(MaximumCount))
    return insert_object(machine, thread, s, ObjectAttributes, DesiredAccess & 0xFFFFFFFF, SemaphoreHandle)


@kernel_service("NtOpenSemaphore")
def NtOpenSemaphore(machine, thread, SemaphoreHandle, DesiredAccess, ObjectAttributes):
    return open_object(machine, thread, ObjectAttributes, "Semaphore", DesiredAccess & 0xFFFFFFFF, SemaphoreHandle)


@kernel_service("NtReleaseSemaphore")
def NtReleaseSemaphore(machine, thread, SemaphoreHandle, ReleaseCount, PreviousCount):
    s = reference(thread, SemaphoreHandle, "Semaphore", SEMAPHORE_MODIFY_STATE)
    n = _s32(ReleaseCount)
    if n <= 0:
        return STATUS_INVALID_PARAMETER
    prev = s.release(n)
    _previous(thread, PreviousCount, prev)
    return 0


@kernel_service("NtQuerySemaphore")
def NtQuerySemaphore(machine, thread, SemaphoreHandle, SemaphoreInformationClass, SemaphoreInformation,
                     SemaphoreInformationLength, ReturnLength):
    s = reference(thread, SemaphoreHandle, "Semaphore", SEMAPHORE_QUERY_STATE)
    data = struct.pack("<ii", s.count, s.maximum)   # SEMAPHORE_BASIC_INFORMATION
    return _query(thread, SemaphoreInformationClass, SemaphoreInformation, SemaphoreInformationLength, ReturnLength,
                  data)


# ------------------------------------------------------------------------------------------ timers
@kernel_service("NtCreateTimer")
def NtCreateTimer(machine, thread, TimerHandle, DesiredAccess, ObjectAttributes, TimerType):
    tt = TimerType & 0xFFFFFFFF
    if tt not in (NotificationTimer, SynchronizationTimer):
        return STATUS_INVALID_PARAMETER
    tm = Timer(machine, tt == NotificationTimer)
    return insert_object(machine, thread, tm, ObjectAttributes, DesiredAccess & 0xFFFFFFFF, TimerHandle)


@kernel_service("NtOpenTimer")
def NtOpenTimer(machine, thread, TimerHandle, DesiredAccess, ObjectAttributes):
    return open_object(machine, thread, ObjectAttributes, "Timer", DesiredAccess & 0xFFFFFFFF, TimerHandle)


@kernel_service("NtSetTimer")
def NtSetTimer(machine, thread, TimerHandle, DueTime, TimerApcRoutine, TimerContext, ResumeTimer, Period,
               PreviousState):
    """KeSetTimerEx: a negative due time is relative (100 ns units), a positive one an absolute system time;
    the APC routine is queued to the calling thread when the timer fires (routine(context, low, high) with the
    due time as a FILETIME). ResumeTimer (wake the machine) has nothing to wake: STATUS_TIMER_RESUME_IGNORED."""
    tm = reference(thread, TimerHandle, "Timer", TIMER_MODIFY_STATE)
    period = _s32(Period)
    if period < 0:
        return STATUS_INVALID_PARAMETER_6
    (raw,) = struct.unpack("<q", user_read(thread.process, DueTime, 8))
    clock = machine.clock
    due = clock.now() - raw if raw <= 0 else raw - clock.boot_filetime
    apc = (thread, TimerApcRoutine, TimerContext) if TimerApcRoutine else None
    prev = tm.state
    tm.set(due, period, apc)
    if PreviousState:   # a BOOLEAN
        user_write(thread.process, PreviousState, struct.pack("<B", int(prev)))
    return STATUS_TIMER_RESUME_IGNORED if ResumeTimer & 0xFF else 0


@kernel_service("NtCancelTimer")
def NtCancelTimer(machine, thread, TimerHandle, CurrentState):
    if CurrentState:    # probed for writing before the handle is referenced: a bad pointer is the error
        user_write(thread.process, CurrentState, user_read(thread.process, CurrentState, 1))
    tm = reference(thread, TimerHandle, "Timer", TIMER_MODIFY_STATE)
    tm.cancel()
    if CurrentState:
        user_write(thread.process, CurrentState, struct.pack("<B", int(tm.state)))
    return 0


@kernel_service("NtQueryTimer")
def NtQueryTimer(machine, thread, TimerHandle, TimerInformationClass, TimerInformation, TimerInformationLength,
                 ReturnLength):
    tm = reference(thread, TimerHandle, "Timer", TIMER_QUERY_STATE)
    # TIMER_BASIC_INFORMATION: LARGE_INTEGER RemainingTime; BOOLEAN TimerState (16 bytes)
    remaining = (tm.due - machine.clock.now()) if tm.due is not None else 0
    data = struct.pack("<qB7x", remaining, int(tm.state))
    return _query(thread, TimerInformationClass, TimerInformation, TimerInformationLength, ReturnLength, data)


# ------------------------------------------------------------------------------------------ keyed events
class KeyedEvent(KObject):
    """A keyed event: a rendezvous per key (an address, bit 0 clear) between a thread that waits and one that
    releases — whichever comes first blocks until the other arrives. Keys are private to the process."""
    type_name = "KeyedEvent"

    def __init__(self, name: str | None = None):
        super().__init__(name)
        self.pending: list[_KeyedToken] = []   # threads blocked in Wait or Release, in arrival order

    def signaled(self) -> bool:
        """A keyed event waited on as an object is always signalled (Wine's ntdll/tests/sync.c
        test_keyed_events: WaitForSingleObject on one returns WAIT_OBJECT_0 at once)."""
        return True

    def describe(self) -> str:
        return f"keyed event{' ' + self.name if self.name else ''}"


class _KeyedToken:
    """What a blocked keyed-event caller waits for: its partner's arrival."""
    type_name = "KeyedEvent"

    def __init__(self, kev: KeyedEvent, thread, key: int, releasing: bool):
        self.kev, self.thread, self.key, self.releasing = kev, thread, key, releasing
        self.matched = False

    def is_signaled_for(self, thread) -> bool:
        return self.matched

    def describe(self) -> str:
        verb = "release" if self.releasing else "wait"
        return f"keyed event key {self.key:#x} ({verb}: no partner yet)"


def _global_keyed_event(machine) -> KeyedEvent:
    """\\KernelObjects\\CritSecOutOfMemoryEvent: the keyed event a NULL handle names."""
    kev = getattr(machine, "_critsec_keyed_event", None)
    if kev is None:
        kev = machine._critsec_keyed_event = KeyedEvent()
        kev.permanent = True
        kev.reference()
    return kev


def _keyed(machine, thread, handle: int, access: int) -> KeyedEvent:
    if not handle:
        return _global_keyed_event(machine)
    return reference(thread, handle, "KeyedEvent", access)


def _keyed_op(machine, thread, handle, key, alertable, timeout, releasing: bool, caller_sp: int) -> int:
    name = "NtReleaseKeyedEvent" if releasing else "NtWaitForKeyedEvent"
    wkey = (name, caller_sp)
    done = kwait.take_done(thread, wkey)
    if done is not None:
        token = done.extra.get("token")
        if token is not None and token in token.kev.pending:
            token.kev.pending.remove(token)   # timed out or alerted: it no longer takes part
        return done.status
    if key & 1:
        return STATUS_INVALID_PARAMETER_1
    kev = _keyed(machine, thread, handle, KEYEDEVENT_WAKE if releasing else KEYEDEVENT_WAIT)
    for tok in kev.pending:
        if tok.key == key and tok.releasing != releasing and tok.thread.process is thread.process \
                and not tok.matched:
            tok.matched = True
            kev.pending.remove(tok)
            machine.dispatcher.signal_waiters()
            return 0
    if alertable & 0xFF and kwait.pending_apcs(thread):
        return STATUS_USER_APC
    deadline = _deadline(machine, thread, timeout)
    if deadline is not None and deadline <= machine.clock.now():
        return STATUS_TIMEOUT
    token = _KeyedToken(kev, thread, key, releasing)
    kev.pending.append(token)
    raise kwait.WouldBlock(kwait.WaitBlock([token], False, deadline, name, wkey, bool(alertable & 0xFF),
                                           extra={"token": token}))


@kernel_service("NtCreateKeyedEvent")
def NtCreateKeyedEvent(machine, thread, KeyedEventHandle, DesiredAccess, ObjectAttributes, Flags):
    if Flags & 0xFFFFFFFF:
        return STATUS_INVALID_PARAMETER_4
    return insert_object(machine, thread, KeyedEvent(), ObjectAttributes, DesiredAccess & 0xFFFFFFFF,
                         KeyedEventHandle)


@kernel_service("NtOpenKeyedEvent")
def NtOpenKeyedEvent(machine, thread, KeyedEventHandle, DesiredAccess, ObjectAttributes):
    return open_object(machine, thread, ObjectAttributes, "KeyedEvent", DesiredAccess & 0xFFFFFFFF,
                       KeyedEventHandle)


@kernel_service("NtWaitForKeyedEvent")
def NtWaitForKeyedEvent(machine, thread, KeyedEventHandle, Key, Alertable, Timeout, *, caller_sp=0):
    return _keyed_op(machine, thread, KeyedEventHandle, Key, Alertable, Timeout, False, caller_sp)


@kernel_service("NtReleaseKeyedEvent")
def NtReleaseKeyedEvent(machine, thread, KeyedEventHandle, Key, Alertable, Timeout, *, caller_sp=0):
    return _keyed_op(machine, thread, KeyedEventHandle, Key, Alertable, Timeout, True, caller_sp)


# -------------------------------------------------------------------------------- thread alerts by thread id
class _AlertToken:
    """What NtWaitForAlertByThreadId waits for: NtAlertThreadByThreadId naming its thread."""
    type_name = "Alert"

    def __init__(self, thread):
        self.thread = thread

    def is_signaled_for(self, thread) -> bool:
        return getattr(self.thread, "alerted_by_id", False)

    def acquire(self, thread) -> bool:
        thread.alerted_by_id = False
        return False

    def describe(self) -> str:
        return f"an alert of thread {self.thread.tid} (NtAlertThreadByThreadId)"


@kernel_service("NtAlertThreadByThreadId")
def NtAlertThreadByThreadId(machine, thread, ThreadId):
    """Set the thread's alert (not counted: two alerts before a wait end one wait); a thread waiting in
    NtWaitForAlertByThreadId wakes with STATUS_ALERTED. An id that names no thread is STATUS_INVALID_CID, a
    thread of another process STATUS_ACCESS_DENIED."""
    from winhatch.kernel.ps.objects import Thread
    target = machine.cid.lookup(ThreadId & 0xFFFFFFFF) if ThreadId else None
    if not isinstance(target, Thread):
        return STATUS_INVALID_CID
    if target.process is not thread.process:
        return STATUS_ACCESS_DENIED
    if target.terminated:
        # an exited thread keeps its id while its object lives (a handle is open): the alert is accepted and
        # changes nothing (ntdll/sync.c test_tid_alert, Windows); once the object is gone the id names nothing
        return 0 if getattr(target, "handle_count", 0) > 0 else STATUS_INVALID_CID
    target.alerted_by_id = True
    machine.dispatcher.signal_waiters()
    return 0


@kernel_service("NtWaitForAlertByThreadId")
def NtWaitForAlertByThreadId(machine, thread, Address, Timeout, *, caller_sp=0):
    """Wait until the thread is alerted (STATUS_ALERTED, the alert consumed) or the time-out passes
    (STATUS_TIMEOUT). The address is only a hint on Windows too."""
    wkey = ("NtWaitForAlertByThreadId", caller_sp)
    done = kwait.take_done(thread, wkey)
    if done is not None:
        return STATUS_ALERTED if done.status == 0 else done.status
    if getattr(thread, "alerted_by_id", False):
        thread.alerted_by_id = False
        return STATUS_ALERTED
    deadline = _deadline(machine, thread, Timeout)
    if deadline is not None and deadline <= machine.clock.now():
        return STATUS_TIMEOUT
    raise kwait.WouldBlock(kwait.WaitBlock([_AlertToken(thread)], False, deadline, "NtWaitForAlertByThreadId",
                                           wkey, False))
