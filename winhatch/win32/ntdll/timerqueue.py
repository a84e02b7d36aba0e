"""ntdll's timer queues: RtlCreateTimerQueue, RtlCreateTimer, RtlUpdateTimer, RtlDeleteTimer,
RtlDeleteTimerQueue(Ex) — what kernel32's CreateTimerQueue, CreateTimerQueueTimer, ChangeTimerQueueTimer,
DeleteTimerQueueTimer and DeleteTimerQueue(Ex) call on Windows (win32/kernel32/timerqueue.py maps their
NTSTATUS to the last error).

Each queue (and the process's default queue, TimerQueue = NULL) has a timer thread, a real guest thread started
at ntdll's internal function RtlpTimerQueueThread (through NtCreateThreadEx): it waits on the emulated clock
until the next timer is due (or the queue changes), then calls each due timer's WaitOrTimerCallback(Parameter,
TRUE) and re-arms periodic timers. Windows runs callbacks without WT_EXECUTEINTIMERTHREAD on a thread-pool worker
thread; here every callback of a queue runs on the queue's timer thread (a thread other than the caller's, one
callback at a time).
"""
from __future__ import annotations

from winhatch.kernel.ke import wait as kwait
from winhatch.kernel.ke.sync import Event
from winhatch.win32 import api as api_mod
from winhatch.win32.api import api, internal_function

NT = "ntdll.dll"
THREAD_FN = "RtlpTimerQueueThread"
internal_function(NT, THREAD_FN)

WT_EXECUTEONLYONCE = 0x8
_WT_FLAGS = 0x1 | 0x4 | 0x8 | 0x10 | 0x20 | 0x40 | 0x80 | 0x100 | 0xFFFF0000   # incl. WT_SET_MAX_THREADPOOL_THREADS
STATUS_SUCCESS, STATUS_PENDING = 0, 0x103
STATUS_INVALID_HANDLE, STATUS_INVALID_PARAMETER = 0xC0000008, 0xC000000D
STATUS_INVALID_PARAMETER_1, STATUS_INVALID_PARAMETER_2 = 0xC00000EF, 0xC00000F0
STATUS_NO_MEMORY = 0xC0000017
THREAD_ALL_ACCESS = 0x1FFFFF


class _Timer:
    def __init__(self, handle: int, callback: int, param: int, due: int, period_ms: int):
        self.handle = handle
        self.callback = callback
        self.param = param
        self.due = due               # emulated clock (100 ns units); None: not armed (a one-shot that fired)
        self.period_ms = period_ms
        self.running = False


class _Queue:
    def __init__(self, machine, handle: int):
        self.handle = handle
        self.timers: dict[int, _Timer] = {}
        self.changed = Event(machine, manual_reset=False, initial=False)
        self.thread_started = False
        self.deleted = False


def _queues(c) -> dict[int, _Queue]:
    return c.proc.subsystem.setdefault("timer_queues", {})


def _new_handle(c, size: int = 16) -> int:
    from winhatch.win32.msvcrt import runtime as R
    return R.alloc(c, size)     # an opaque handle: a process-heap allocation, as Windows' are


def _queue(c, h: int, create_default: bool = True) -> _Queue | None:
    qs = _queues(c)
    if not h:
        q = qs.get(0)
        if q is None and create_default:
            q = qs[0] = _Queue(c.machine, 0)
        return q
    q = qs.get(h)
    return None if q is None or q.deleted else q


def _start_thread(c, key: int, q: _Queue) -> int:
    """The queue's timer thread, started once: NtCreateThreadEx at RtlpTimerQueueThread."""
    if q.thread_started:
        return STATUS_SUCCESS
    try:
        start = c.machine.ntdll_export(c.proc, THREAD_FN)      # ntdll's internal function (a trap stub)
    except KeyError:
        from winhatch.win32.msvcrt.runtime import not_implemented
        not_implemented(c, f"ntdll's {THREAD_FN} stub is missing")
    ps = c.ptr_size
    out = c.stack_alloc(ps)
    me = (1 << (8 * ps)) - 1
    st = c.nt("NtCreateThreadEx", out, THREAD_ALL_ACCESS, 0, me, start, key, 0, 0, 0, 0, 0)
    if st & 0x80000000:
        return st
    c.nt("NtClose", c.ptr(out))
    q.thread_started = True
    return STATUS_SUCCESS


def create_queue(c) -> int:
    h = _new_handle(c)
    if not h:
        return 0
    _queues(c)[h] = _Queue(c.machine, h)
    return h


def create_timer(c, qh: int, ph: int, cb: int, param: int, due_ms: int, period_ms: int, flags: int) -> int:
    if not ph or flags & ~_WT_FLAGS:      # a NULL callback is accepted (Wine); it faults when the timer fires
        return STATUS_INVALID_PARAMETER
    q = _queue(c, qh)
    if q is None:
        return STATUS_INVALID_HANDLE
    st = _start_thread(c, qh or 0, q)
    if st:
        return st
    h = _new_handle(c)
    if not h:
        return STATUS_NO_MEMORY
    period = 0 if flags & WT_EXECUTEONLYONCE else period_ms
    q.timers[h] = _Timer(h, cb, param, c.machine.clock.now() + due_ms * kwait.TICKS_PER_MS, period)
    c.write_ptr(ph, h)
    q.changed.set()
    return STATUS_SUCCESS


def _owner(c, q: _Queue, th: int) -> _Queue | None:
    """The queue that holds timer `th`: the timer knows its queue, so a timer of another queue of the process
    is found too (ChangeTimerQueueTimer / DeleteTimerQueueTimer with the default queue's NULL for a timer of
    a queue, and the reverse, succeed: kernel32/sync.c test_timer_queue, on Windows)."""
    if th in q.timers:
        return q
    return next((o for o in _queues(c).values() if not o.deleted and th in o.timers), None)


def update_timer(c, qh: int, th: int, due_ms: int, period_ms: int) -> int:
    q = _queue(c, qh, create_default=False)
    if q is None:
        return STATUS_INVALID_HANDLE
    q = _owner(c, q, th)
    if q is None:
        return STATUS_INVALID_PARAMETER
    t = q.timers[th]
    if t.due is None and not t.period_ms:
        # a one-shot timer that has expired is not updated (documented for ChangeTimerQueueTimer; the call
        # succeeds: kernel32/sync.c test_timer_queue's timer_queue_cb4 runs once)
        return STATUS_SUCCESS
    t.due = c.machine.clock.now() + due_ms * kwait.TICKS_PER_MS
    t.period_ms = period_ms
    q.changed.set()
    return STATUS_SUCCESS


INVALID_HANDLE = -1


def _completion(c, ev: int, busy: bool) -> int:
    """The CompletionEvent of a deletion: an event handle is signalled (the callbacks are done: they run one at a
    time on the timer thread, never concurrently with this call unless called from a callback); NULL while a
    callback runs: STATUS_PENDING; INVALID_HANDLE_VALUE: nothing to signal."""
    mask = (1 << (8 * c.ptr_size)) - 1
    if ev and ev & mask != mask:
        st = c.nt("NtSetEvent", ev, 0)
        return st
    if not ev and busy:
        return STATUS_PENDING
    return STATUS_SUCCESS


def delete_timer(c, qh: int, th: int, ev: int) -> int:
    if not qh and not _queues(c).get(0):
        return STATUS_INVALID_PARAMETER_1
    q = _queue(c, qh, create_default=False)
    if q is None:
        return STATUS_INVALID_PARAMETER_1 if not qh else STATUS_INVALID_HANDLE
    q = _owner(c, q, th) or q
    t = q.timers.pop(th, None)
    if t is None:
        return STATUS_INVALID_PARAMETER_2 if not th else STATUS_INVALID_PARAMETER
    q.changed.set()
    return _completion(c, ev, t.running)


def delete_queue(c, qh: int, ev: int) -> int:
    if not qh:
        return STATUS_INVALID_HANDLE
    q = _queue(c, qh, create_default=False)
    if q is None:
        return STATUS_INVALID_HANDLE
    busy = any(t.running for t in q.timers.values())
    q.timers.clear()
    q.deleted = True
    del _queues(c)[qh]
    q.changed.set()
    return _completion(c, ev, busy)


@api(NT, "NTSTATUS NTAPI RtlCreateTimerQueue(PHANDLE NewTimerQueue)")
def RtlCreateTimerQueue(c, ph):
    h = create_queue(c)
    if not h:
        return STATUS_NO_MEMORY
    c.write_ptr(ph, h)
    return STATUS_SUCCESS


@api(NT, "NTSTATUS NTAPI RtlCreateTimer(HANDLE TimerQueue, PHANDLE NewTimer, WAITORTIMERCALLBACK Callback, "
         "PVOID Parameter, DWORD DueTime, DWORD Period, ULONG Flags)")
def RtlCreateTimer(c, qh, ph, cb, param, due_ms, period_ms, flags):
    return create_timer(c, qh, ph, cb, param, due_ms, period_ms, flags)


@api(NT, "NTSTATUS NTAPI RtlUpdateTimer(HANDLE TimerQueue, HANDLE Timer, DWORD DueTime, DWORD Period)")
def RtlUpdateTimer(c, qh, th, due_ms, period_ms):
    return update_timer(c, qh, th, due_ms, period_ms)


@api(NT, "NTSTATUS NTAPI RtlDeleteTimer(HANDLE TimerQueue, HANDLE Timer, HANDLE CompletionEvent)")
def RtlDeleteTimer(c, qh, th, ev):
    """A NULL queue with no default queue in use: STATUS_INVALID_PARAMETER_1 (Wine's ntdll rtl test, which passes
    on Windows)."""
    return delete_timer(c, qh, th, ev)


@api(NT, "NTSTATUS NTAPI RtlDeleteTimerQueueEx(HANDLE TimerQueue, HANDLE CompletionEvent)")
def RtlDeleteTimerQueueEx(c, qh, ev):
    return delete_queue(c, qh, ev)


@api(NT, "NTSTATUS NTAPI RtlDeleteTimerQueue(HANDLE TimerQueue)")
def RtlDeleteTimerQueue(c, qh):
    return delete_queue(c, qh, 0)


def _thread(c, key):
    """The timer thread of queue `key`: wait until a timer is due or the queue changes, run the due callbacks,
    again; returns (the thread exits) once its queue is deleted. A wait blocks by re-running this handler, so
    each pass starts with the wait that the previous pass began."""
    q = _queues(c).get(key)
    for _ in range(1 << 30):
        if q is None or q.deleted:
            return 0
        now = c.machine.clock.now()
        due = [t.due for t in q.timers.values() if t.due is not None]
        timeout = kwait.INFINITE if not due else max(0, -(-(min(due) - now) // kwait.TICKS_PER_MS))
        kwait.wait_for(c, [q.changed], False, timeout, reason="TimerQueueThread")
        now = c.machine.clock.now()
        for t in sorted((t for t in q.timers.values() if t.due is not None and t.due <= now), key=lambda t: t.due):
            if t.handle not in q.timers:
                continue            # deleted by an earlier callback
            t.due = now + t.period_ms * kwait.TICKS_PER_MS if t.period_ms else None
            t.running = True
            try:
                c.machine.dispatcher.call_guest(c.thread, t.callback, [t.param, 1])
            finally:
                t.running = False
    return 0


api(NT, f"DWORD WINAPI {THREAD_FN}(LPVOID lpParameter)", calls_guest=True)(_thread)
api_mod._REGISTRY[-1].name = THREAD_FN
