"""Dispatcher objects: events, mutants (mutexes), semaphores and timers (KEVENT, KMUTANT, KSEMAPHORE, KTIMER).

Each is an executive object (a KObject, so it can be named in the object namespace and referenced by
handles) with the two operations waits need: `is_signaled_for(thread)` and `acquire(thread)` (the side effect
of satisfying a wait: KiWaitSatisfy). A state change that may release waiters calls
`machine.dispatcher.signal_waiters()`, which satisfies them in the order they began waiting.
"""
from __future__ import annotations

from winhatch.kernel.ob import KObject
from winhatch.ntstatus import (STATUS_INVALID_PARAMETER, STATUS_MUTANT_NOT_OWNED, STATUS_SEMAPHORE_LIMIT_EXCEEDED,
                               NtStatusError)

MUTANT_LIMIT = 0x7FFFFFFF


class Event(KObject):
    """KEVENT: NotificationEvent (manual reset) or SynchronizationEvent (auto reset)."""
    type_name = "Event"

    def __init__(self, machine, manual_reset: bool, initial: bool, name: str | None = None):
        super().__init__(name)
        self.machine = machine
        self.manual_reset = bool(manual_reset)
        self.state = bool(initial)

    def is_signaled_for(self, thread) -> bool:
        return self.state

    def acquire(self, thread) -> bool:
        if not self.manual_reset:
            self.state = False
        return False

    def set(self) -> int:
        prev = self.state
        self.state = True
        self.machine.dispatcher.signal_waiters()
        return int(prev)

    def reset(self) -> int:
        prev = self.state
        self.state = False
        return int(prev)

    def pulse(self) -> int:
        """PulseEvent: release the current waiters (one for an auto-reset event), then reset."""
        prev = self.state
        self.state = True
        self.machine.dispatcher.signal_waiters()
        self.state = False
        return int(prev)

    def describe(self) -> str:
        kind = "manual-reset" if self.manual_reset else "auto-reset"
        return f"{kind} event{' ' + self.name if self.name else ''}"


class Mutant(KObject):
    """KMUTANT: owned recursively by one thread; abandoned when its owner ends without releasing it."""
    type_name = "Mutant"

    def __init__(self, machine, owner=None, name: str | None = None):
        super().__init__(name)
        self.machine = machine
        self.owner = None
        self.recursion = 0
        self.abandoned = False
        if owner is not None:
            self.acquire(owner)

    def is_signaled_for(self, thread) -> bool:
        return self.owner is None or self.owner is thread

    def acquire(self, thread) -> bool:
        if self.recursion >= MUTANT_LIMIT:
            raise NtStatusError(0xC0000191, "mutant limit exceeded")  # STATUS_MUTANT_LIMIT_EXCEEDED
        if self.owner is None:
            self.owner = thread
            owned = thread.__dict__.setdefault("owned_mutants", [])
            owned.append(self)
        self.recursion += 1
        was = self.abandoned
        self.abandoned = False
        return was

    def release(self, thread) -> int:
        """KeReleaseMutant: the previous recursion count; STATUS_MUTANT_NOT_OWNED if `thread` is not the owner."""
        if self.owner is not thread:
            raise NtStatusError(STATUS_MUTANT_NOT_OWNED, "the mutex is not owned by the calling thread")
        prev = self.recursion
        self.recursion -= 1
        if self.recursion == 0:
            self._disown()
            self.machine.dispatcher.signal_waiters()
        return prev

    def abandon(self) -> None:
        """The owner ended: the mutex becomes signalled and abandoned (the next waiter gets WAIT_ABANDONED)."""
        if self.owner is None:
            return
        self._disown()
        self.recursion = 0
        self.abandoned = True
        self.machine.dispatcher.signal_waiters()

    def _disown(self) -> None:
        owned = getattr(self.owner, "owned_mutants", None)
        if owned and self in owned:
            owned.remove(self)
        self.owner = None

    def describe(self) -> str:
        who = f"owned by thread {self.owner.tid}" if self.owner is not None else "free"
        return f"mutex{' ' + self.name if self.name else ''} ({who})"


class Semaphore(KObject):
    type_name = "Semaphore"

    def __init__(self, machine, count: int, maximum: int, name: str | None = None):
        if maximum <= 0 or count < 0 or count > maximum:
            raise NtStatusError(STATUS_INVALID_PARAMETER, "bad semaphore count or maximum")
        super().__init__(name)
        self.machine = machine
        self.count = count
        self.maximum = maximum

    def is_signaled_for(self, thread) -> bool:
        return self.count > 0

    def acquire(self, thread) -> bool:
        self.count -= 1
        return False

    def release(self, n: int) -> int:
        if n <= 0 or self.count + n > self.maximum:
            raise NtStatusError(STATUS_SEMAPHORE_LIMIT_EXCEEDED, "semaphore count would exceed its maximum")
        prev = self.count
        self.count += n
        self.machine.dispatcher.signal_waiters()
        return prev

    def describe(self) -> str:
        return f"semaphore{' ' + self.name if self.name else ''} (count {self.count}/{self.maximum})"


class Timer(KObject):
    """KTIMER on emulated time: NotificationTimer (manual reset) or SynchronizationTimer; optionally periodic,
    with a completion routine queued as an APC to the thread that set it."""
    type_name = "Timer"

    def __init__(self, machine, manual_reset: bool, name: str | None = None):
        super().__init__(name)
        self.machine = machine
        self.manual_reset = bool(manual_reset)
        self.state = False
        self.due: int | None = None  # emulated time (100 ns since boot)
        self.period_ticks = 0
        self.apc = None  # (thread, fn, arg)

    def is_signaled_for(self, thread) -> bool:
        return self.state

    def acquire(self, thread) -> bool:
        if not self.manual_reset:
            self.state = False
        return False

    def set(self, due: int, period_ms: int = 0, apc=None) -> bool:
        """SetWaitableTimer: `due` in emulated time; returns whether the timer was already active."""
        was = self.due is not None
        self.state = False
        self.due = max(due, self.machine.clock.now())
        self.period_ticks = period_ms * 10_000
        self.apc = apc
        self.machine.dispatcher.timers.add(self)
        return was

    def cancel(self) -> bool:
        was = self.due is not None
        self.due = None
        self.machine.dispatcher.timers.discard(self)
        return was

    def fire(self, now: int) -> None:
        """The due time passed: signal, queue the completion routine, re-arm a periodic timer."""
        self.state = True
        if self.apc is not None:
            from winhatch.kernel.ke.wait import queue_apc
            thread, fn, arg = self.apc
            if not thread.terminated:
                ft = self.machine.clock.boot_filetime + (self.due or now)
                queue_apc(self.machine, thread, fn, [arg, ft & 0xFFFFFFFF, ft >> 32])
        if self.period_ticks:
            self.due = (self.due or now) + self.period_ticks
            if self.due <= now:
                self.due = now + self.period_ticks
        else:
            self.due = None
            self.machine.dispatcher.timers.discard(self)

    def on_delete(self) -> None:
        self.cancel()

    def describe(self) -> str:
        return f"waitable timer{' ' + self.name if self.name else ''}"


class KeyedLock:
    """A Python-side waitable for a lock that lives in guest memory (critical section, SRW lock, INIT_ONCE,
    condition-variable wake): `check(thread)` says whether `thread` may proceed, `take(thread)` does what
    acquiring means. Instances live per process, keyed by the guest address."""
    type_name = "Lock"

    def __init__(self, what: str, check, take=None):
        self.what = what
        self._check = check
        self._take = take

    def is_signaled_for(self, thread) -> bool:
        return self._check(thread)

    def acquire(self, thread) -> bool:
        if self._take is not None:
            self._take(thread)
        return False

    def describe(self) -> str:
        return self.what() if callable(self.what) else self.what
