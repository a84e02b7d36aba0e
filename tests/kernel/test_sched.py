"""Dispatcher objects and the wait machinery without guest code: wait satisfaction and its side effects, FIFO
hand-over, abandonment, time-outs and timers on emulated time (issue 8)."""
import pytest

from winhatch.kernel.ke import wait as kwait
from winhatch.kernel.ke.dispatcher import MachineStop
from winhatch.kernel.ke.sync import Event, Mutant, Semaphore, Timer
from winhatch.kernel.machine import Machine
from winhatch.kernel.ps.objects import Process, Thread
from winhatch.ntstatus import (STATUS_MUTANT_NOT_OWNED, STATUS_POSSIBLE_DEADLOCK, STATUS_SEMAPHORE_LIMIT_EXCEEDED,
                               NtStatusError)


@pytest.fixture
def m(tmp_path):
    machine = Machine(tmp_path)
    yield machine
    machine.close()


def threads(m, n):
    p = Process(image_name="t.exe", parent=m.shell_process, arch="x64")
    p.pid = m.cid.allocate(p)
    out = []
    for _ in range(n):
        t = Thread(p)
        t.tid = m.cid.allocate(t)
        p.threads.append(t)
        out.append(t)
    return out


def block(m, t, objs, wait_all=False, deadline=None, reason="WaitForSingleObject"):
    m.dispatcher._block(t, kwait.WaitBlock(list(objs), wait_all, deadline, reason, ("k", t.tid)))


def test_auto_reset_event_goes_to_the_first_waiter_and_stays_reset(m):
    a, b, c = threads(m, 3)
    ev = Event(m, manual_reset=False, initial=False)
    block(m, a, [ev])
    block(m, b, [ev])
    ev.set()
    assert a.wait is None and a.wait_done.status == kwait.WAIT_OBJECT_0
    assert b.wait is not None and ev.state is False  # consumed by the waiter, not left for a later caller
    assert kwait.try_satisfy(c, [ev], False) is None
    ev.set()
    assert b.wait is None and b.wait_done.status == 0


def test_manual_reset_event_releases_every_waiter(m):
    a, b = threads(m, 2)
    ev = Event(m, manual_reset=True, initial=False)
    block(m, a, [ev])
    block(m, b, [ev])
    ev.set()
    assert a.wait is None and b.wait is None and ev.state is True


def test_mutex_recursion_ownership_and_fifo_handover(m):
    a, b, c = threads(m, 3)
    mx = Mutant(m, owner=a)
    assert kwait.try_satisfy(a, [mx], False) == 0 and mx.recursion == 2  # recursive
    with pytest.raises(NtStatusError) as e:
        mx.release(b)
    assert e.value.status == STATUS_MUTANT_NOT_OWNED
    block(m, c, [mx])
    block(m, b, [mx])
    assert mx.release(a) == 2 and mx.owner is a
    mx.release(a)
    assert mx.owner is c and c.wait is None and b.wait is not None  # the longest waiter gets it


def test_abandoned_mutex_reports_wait_abandoned_once(m):
    a, b, c = threads(m, 3)
    mx = Mutant(m, owner=a)
    block(m, b, [Event(m, True, False), mx])  # wait-any: the mutex is index 1
    m.terminate_thread(a, 0)
    assert b.wait_done.status == kwait.WAIT_ABANDONED_0 + 1 and mx.owner is b
    mx.release(b)
    assert kwait.try_satisfy(c, [mx], False) == kwait.WAIT_OBJECT_0


def test_wait_all_takes_everything_or_nothing(m):
    a, = threads(m, 1)
    s = Semaphore(m, 1, 2)
    ev = Event(m, manual_reset=False, initial=False)
    assert kwait.try_satisfy(a, [s, ev], True) is None
    assert s.count == 1  # nothing was taken
    ev.set()
    assert kwait.try_satisfy(a, [s, ev], True) == 0 and s.count == 0 and ev.state is False


def test_semaphore_limits(m):
    with pytest.raises(NtStatusError):
        Semaphore(m, 3, 2)
    s = Semaphore(m, 0, 2)
    assert s.release(2) == 0
    with pytest.raises(NtStatusError) as e:
        s.release(1)
    assert e.value.status == STATUS_SEMAPHORE_LIMIT_EXCEEDED and s.count == 2


def test_timeouts_and_timers_run_on_emulated_time(m):
    a, b = threads(m, 2)
    now = m.clock.now()
    tm = Timer(m, manual_reset=True)
    tm.set(now + 50 * kwait.TICKS_PER_MS)
    block(m, a, [tm])
    block(m, b, [], deadline=now + 20 * kwait.TICKS_PER_MS, reason="Sleep")
    d = m.dispatcher
    assert d._next_deadline() == now + 20 * kwait.TICKS_PER_MS
    m.clock.advance(20 * kwait.TICKS_PER_MS)
    d._tick()
    assert b.wait is None and b.wait_done.status == kwait.WAIT_TIMEOUT and a.wait is not None
    m.clock.advance(30 * kwait.TICKS_PER_MS)
    d._tick()
    assert a.wait_done.status == 0 and tm.state is True and tm not in d.timers


def test_deadlock_report_names_threads_and_objects(m):
    a, b = threads(m, 2)
    m.processes.append(a.process)
    a.process.cpu = object()  # a live process as far as the scheduler's census goes
    ma, mb = Mutant(m, owner=a), Mutant(m, owner=b)
    block(m, a, [mb])
    block(m, b, [ma])
    with pytest.raises(MachineStop) as e:
        m.dispatcher._report_deadlock()
    assert e.value.status == STATUS_POSSIBLE_DEADLOCK
    assert f"thread {a.tid} in WaitForSingleObject waits for mutex (owned by thread {b.tid})" in e.value.reason
    assert f"thread {b.tid} in WaitForSingleObject waits for mutex (owned by thread {a.tid})" in e.value.reason


def test_rounds_go_least_recently_run_first(m):
    """The ready queue is FIFO among equal priorities: a thread that could not run at its turn (here: the first
    thread of its process froze the process during its slice, as a debuggee's breakpoint does) keeps its place at
    the head of the next round instead of falling behind the machine's list order again (the starvation of a new
    debuggee thread in Wine's kernel32/debugger; tests/fixtures/src/conf_debug_newthread.c end to end)."""
    a, b, c = threads(m, 3)
    m.processes.append(a.process)
    a.process.cpu = object()
    d = m.dispatcher
    assert d._order() == [a, b, c]            # first seen: the machine's order
    d._to_tail(a)                              # a's slice; it freezes the process: b and c do not run
    assert d._order() == [b, c, a]
    for t in (b, c, a):                        # a full round keeps the order: plain round-robin
        d._to_tail(t)
    assert d._order() == [b, c, a]
    c.priority_delta = 2                       # a higher priority still goes first
    assert d._order() == [c, b, a]
    b.suspend_count = 1                        # not runnable: not in the round, its place kept
    d._to_tail(c)
    d._to_tail(a)
    b.suspend_count = 0
    assert d._order() == [c, b, a]
    c.priority_delta = 0
    assert d._order() == [b, c, a]
