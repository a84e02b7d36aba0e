"""Waits: how a guest thread blocks inside an API and how it resumes (KeWaitForSingleObject and friends).

The protocol is *restart*: a handler that must block raises `WouldBlock(WaitBlock(...))` before it has
changed the thread's registers. The dispatcher records the wait block on the thread, leaves the CPU's pc on
the API's trap stub (a deferred trap is already there; a trap handled inside the CPU hook is moved back) and
runs other threads. When the wait is satisfied the dispatcher performs the wait's side effects at that
moment (an auto-reset event is reset, a mutex changes owner, a semaphore is decremented — exactly as
KiWaitSatisfy does, so the waiter and not a later caller gets the object), stores the completed block as the
thread's `wait_done`, and makes the thread runnable. When it runs again it re-executes the trap: the handler
runs from the start with the same arguments, finds its completed wait (`take_done`, matched by a key made of
the API name and the stack pointer) and returns its result.

Handlers whose blocking has no side effects (ReadFile on an empty pipe) simply raise WouldBlock with the
object and need no key: the re-run finds the data.

Objects are waitable when they have `is_signaled_for(thread)` (and optionally `acquire(thread) -> abandoned`)
or a plain `signaled()` (processes and threads, which have no acquisition side effect).
"""
from __future__ import annotations

from winhatch._record import NEW, ReprRecord

WAIT_OBJECT_0 = 0x0
WAIT_ABANDONED_0 = 0x80
WAIT_IO_COMPLETION = 0xC0
WAIT_TIMEOUT = 0x102
WAIT_FAILED = 0xFFFFFFFF
INFINITE = 0xFFFFFFFF
TICKS_PER_MS = 10_000  # emulated time is in 100 ns units
MAXIMUM_WAIT_OBJECTS = 64


class WaitBlock(ReprRecord):
    """What a blocked thread waits for (KWAIT_BLOCKs and the wait's parameters)."""

    _fields = ("objects", "wait_all", "deadline", "reason", "key", "alertable", "seq", "since", "status", "extra")

    def __init__(self, objects: list, wait_all: bool = False, deadline: int | None = None, reason: str = "wait",
                 key: tuple | None = None, alertable: bool = False, seq: int = 0, since: int = 0,
                 status: int | None = None, extra: dict = NEW) -> None:
        self.objects = objects
        self.wait_all = wait_all
        self.deadline = deadline  # emulated time (100 ns since boot); None: no time-out
        self.reason = reason  # the API that waits (for reports)
        self.key = key  # identifies the blocked call, so its re-run finds the result
        self.alertable = alertable
        self.seq = seq  # order in which waits began (FIFO among waiters)
        self.since = since
        self.status = status  # the wait's result once satisfied
        self.extra = {} if extra is NEW else extra


class Preempt(BaseException):
    """Raised by a handler, or by an API event's subscriber before the call runs, to end the running slice
    before the call has done anything: the thread stays runnable with its pc on the trap stub and makes the
    call again when it next runs (WouldBlock without a wait).  A snapshot point is reached this way: the
    dispatcher's safe point (Dispatcher.safe_point) runs once the slice has ended."""


class WouldBlock(BaseException):
    """Raised by a handler to block the calling thread (a BaseException: `except Exception` does not eat it)."""

    def __init__(self, block: WaitBlock):
        super().__init__(block.reason)
        self.block = block


def is_waitable(obj) -> bool:
    return hasattr(obj, "is_signaled_for") or hasattr(obj, "signaled")


def is_signaled(obj, thread) -> bool:
    f = getattr(obj, "is_signaled_for", None)
    if f is not None:
        return bool(f(thread))
    f = getattr(obj, "signaled", None)
    if f is not None:
        return bool(f())
    return False


def acquire(obj, thread) -> bool:
    """KiWaitSatisfy for one object; returns True when the object was an abandoned mutex."""
    f = getattr(obj, "acquire", None)
    return bool(f(thread)) if f is not None else False


def try_satisfy(thread, objects: list, wait_all: bool) -> int | None:
    """The wait's status if it can be satisfied now (side effects applied), else None."""
    if not objects:
        return None
    if wait_all:
        if all(is_signaled(o, thread) for o in objects):
            abandoned = [i for i, o in enumerate(objects) if acquire(o, thread)]
            return WAIT_ABANDONED_0 + abandoned[0] if abandoned else WAIT_OBJECT_0
        return None
    for i, o in enumerate(objects):
        if is_signaled(o, thread):
            return (WAIT_ABANDONED_0 if acquire(o, thread) else WAIT_OBJECT_0) + i
    return None


def call_key(c, reason: str) -> tuple:
    """The key of a blocking API call: its name and the stack pointer at the call (stable across re-runs)."""
    return (reason, c._sp)


def take_done(thread, key: tuple) -> WaitBlock | None:
    """The completed wait of this call, if the thread is re-running it after a wait (consumed once)."""
    done = getattr(thread, "wait_done", None)
    if done is None:
        return None
    thread.wait_done = None
    return done if done.key == key else None


def deadline_after(machine, timeout_ms: int) -> int | None:
    if timeout_ms == INFINITE:
        return None
    return machine.clock.now() + timeout_ms * TICKS_PER_MS


def wait_for(c, objects: list, wait_all: bool, timeout_ms: int, *, reason: str, alertable: bool = False) -> int:
    """Wait for `objects` on the calling thread: returns the status now, or blocks (raises WouldBlock) and
    returns the status when the call is re-run after the wait completed."""
    key = call_key(c, reason)
    done = take_done(c.thread, key)
    if done is not None:
        return done.status
    if alertable and pending_apcs(c.thread):
        return WAIT_IO_COMPLETION
    st = try_satisfy(c.thread, objects, wait_all)
    if st is not None:
        return st
    if timeout_ms == 0:
        return WAIT_TIMEOUT
    raise WouldBlock(WaitBlock(list(objects), wait_all, deadline_after(c.machine, timeout_ms), reason, key,
                               alertable))


def block_on(obj, reason: str) -> None:
    """Block until `obj` is signalled, then re-run the call (no result is carried: for side-effect-free waits,
    e.g. ReadFile on an empty pipe)."""
    raise WouldBlock(WaitBlock([obj], False, None, reason, None))


# -- user-mode APCs (QueueUserAPC, timer completion routines) -----------------------------------------------
def pending_apcs(thread) -> list:
    return getattr(thread, "apcs", None) or []


def queue_apc(machine, thread, fn: int, args: list[int]) -> None:
    """KeInsertQueueApc (user mode): runs when the thread next waits alertably."""
    if not hasattr(thread, "apcs") or thread.apcs is None:
        thread.apcs = []
    thread.apcs.append((fn, list(args)))
    w = thread.wait
    if w is not None and w.alertable:
        machine.dispatcher.wake(thread, WAIT_IO_COMPLETION)


def describe(obj) -> str:
    """A short description of a waitable object for deadlock reports."""
    d = getattr(obj, "describe", None)
    if d is not None:
        return d()
    tn = getattr(obj, "type_name", type(obj).__name__)
    if tn == "Thread":
        return f"thread {obj.tid} (pid {obj.process.pid})"
    if tn == "Process":
        return f"process {obj.pid} ({obj.image_name})"
    name = getattr(obj, "name", None)
    return f"{tn} {name}" if name else tn
