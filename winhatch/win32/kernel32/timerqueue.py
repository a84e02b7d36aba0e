"""kernel32 timer queues: CreateTimerQueue, CreateTimerQueueTimer, ChangeTimerQueueTimer,
DeleteTimerQueueTimer, DeleteTimerQueue(Ex).

Each queue (and the process's default queue, TimerQueue = NULL) has a timer thread, a real guest thread started
at kernel32's internal function TimerQueueThread: it waits on the emulated clock until the next timer is due
(or the queue changes), then calls each due timer's WaitOrTimerCallback(Parameter, TRUE) and re-arms periodic
timers. Windows runs callbacks without WT_EXECUTEINTIMERTHREAD on a thread-pool worker thread; here every
callback of a queue runs on the queue's timer thread (a thread other than the caller's, one callback at a time).
"""
from __future__ import annotations

from winhatch.kernel.ke import wait as kwait
from winhatch.kernel.ke.sync import Event
from winhatch.ntstatus import ERROR_INVALID_HANDLE, ERROR_INVALID_PARAMETER
from winhatch.win32 import api as api_mod
from winhatch.win32.api import api, internal_function

from winhatch.win32.kernel32.common import K32

DLL = "kernel32.dll"
THREAD_FN = "TimerQueueThread"
internal_function(DLL, THREAD_FN)

WT_EXECUTEONLYONCE = 0x8
_WT_FLAGS = 0x1 | 0x4 | 0x8 | 0x10 | 0x20 | 0x40 | 0x80 | 0x100 | 0xFFFF0000   # incl. WT_SET_MAX_THREADPOOL_THREADS
INVALID_HANDLE_VALUE = (1 << 64) - 1
ERROR_IO_PENDING = 997


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
    if q is None or q.deleted:
        c.set_last_error(ERROR_INVALID_HANDLE)
        return None
    return q


def _start_thread(c, key: int, q: _Queue) -> bool:
    if q.thread_started:
        return True
    from winhatch.ldr import loader
    from winhatch.win32.kernel32.threads import create_thread
    m = loader.state_of(c.proc).by_name.get(DLL)
    img = c.proc.subsystem["images"].find(m.base) if m is not None else None
    start = next((m.base + rva for rva, n in ((img.traps or {}).items() if img else ()) if n == THREAD_FN), None)
    if start is None:
        from winhatch.win32.msvcrt.runtime import not_implemented
        not_implemented(c, "timer queue thread: kernel32's TimerQueueThread stub is missing")
    h = create_thread(c, c.proc, 0, 0, start, key, 0, 0, api_name="CreateTimerQueueTimer")
    if not h:
        return False
    c.proc.handles.close(h)
    q.thread_started = True
    return True


@api(K32, "HANDLE WINAPI CreateTimerQueue(void)")
def CreateTimerQueue(c):
    h = _new_handle(c)
    _queues(c)[h] = _Queue(c.machine, h)
    return h


@api(K32, "BOOL WINAPI CreateTimerQueueTimer(PHANDLE phNewTimer, HANDLE TimerQueue, WAITORTIMERCALLBACK Callback, "
          "PVOID Parameter, DWORD DueTime, DWORD Period, ULONG Flags)")
def CreateTimerQueueTimer(c, ph, qh, cb, param, due_ms, period_ms, flags):
    if not ph or flags & ~_WT_FLAGS:      # a NULL callback is accepted (Wine); it faults when the timer fires
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    q = _queue(c, qh)
    if q is None:
        return 0
    key = qh or 0
    if not _start_thread(c, key, q):
        return 0
    h = _new_handle(c)
    period = 0 if flags & WT_EXECUTEONLYONCE else period_ms
    q.timers[h] = _Timer(h, cb, param, c.machine.clock.now() + due_ms * kwait.TICKS_PER_MS, period)
    c.write_ptr(ph, h)
    q.changed.set()
    return 1


@api(K32, "BOOL WINAPI ChangeTimerQueueTimer(HANDLE TimerQueue, HANDLE Timer, ULONG DueTime, ULONG Period)")
def ChangeTimerQueueTimer(c, qh, th, due_ms, period_ms):
    q = _queue(c, qh, create_default=False)
    t = q.timers.get(th) if q is not None else None
    if t is None:
        c.set_last_error(ERROR_INVALID_PARAMETER if q is not None else ERROR_INVALID_HANDLE)
        return 0
    t.due = c.machine.clock.now() + due_ms * kwait.TICKS_PER_MS
    t.period_ms = period_ms
    q.changed.set()
    return 1


def _completion(c, ev: int, busy: bool) -> int:
    """DeleteTimerQueueTimer / DeleteTimerQueueEx's CompletionEvent: an event handle is signalled (the
    callbacks are done: they run one at a time on the timer thread, never concurrently with this call unless
    called from a callback); NULL while a callback runs: ERROR_IO_PENDING."""
    if ev and (ev & ((1 << (8 * c.ptr_size)) - 1)) != (INVALID_HANDLE_VALUE & ((1 << (8 * c.ptr_size)) - 1)):
        from winhatch.win32.kernel32.sync import SetEvent
        if not SetEvent(c, ev):
            return 0
        return 1
    if not ev and busy:
        c.set_last_error(ERROR_IO_PENDING)
        return 0
    return 1


@api(K32, "BOOL WINAPI DeleteTimerQueueTimer(HANDLE TimerQueue, HANDLE Timer, HANDLE CompletionEvent)")
def DeleteTimerQueueTimer(c, qh, th, ev):
    q = _queue(c, qh, create_default=False)
    t = q.timers.pop(th, None) if q is not None else None
    if t is None:
        c.set_last_error(ERROR_INVALID_PARAMETER if q is not None else ERROR_INVALID_HANDLE)
        return 0
    q.changed.set()
    return _completion(c, ev, t.running)


@api(K32, "BOOL WINAPI DeleteTimerQueueEx(HANDLE TimerQueue, HANDLE CompletionEvent)")
def DeleteTimerQueueEx(c, qh, ev):
    if not qh:
        c.set_last_error(ERROR_INVALID_HANDLE)
        return 0
    q = _queue(c, qh, create_default=False)
    if q is None:
        return 0
    busy = any(t.running for t in q.timers.values())
    q.timers.clear()
    q.deleted = True
    del _queues(c)[qh]
    q.changed.set()
    return _completion(c, ev, busy)


@api(K32, "BOOL WINAPI DeleteTimerQueue(HANDLE TimerQueue)")
def DeleteTimerQueue(c, qh):
    return DeleteTimerQueueEx(c, qh, 0)


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


api(DLL, f"DWORD WINAPI {THREAD_FN}(LPVOID lpParameter)", calls_guest=True)(_thread)
api_mod._REGISTRY[-1].name = THREAD_FN
