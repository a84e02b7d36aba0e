"""The thread pool: ntdll's Tp* API (work, simple callbacks, timers, waits, pools, cleanup groups, callback
instances), RtlQueueWorkItem, RtlRegisterWait / RtlDeregisterWait(Ex), and kernel32's functions that are not
forwarders to them (CreateThreadpool*, TrySubmitThreadpoolCallback, CallbackMayRunLong, QueueUserWorkItem,
RegisterWaitForSingleObject(Ex), UnregisterWait(Ex)).

Callbacks run on real guest threads. Each pool has worker threads started at ntdll's internal function
TppWorkerThread: a worker waits for its pool's queue, takes one callback, runs it with a TP_CALLBACK_INSTANCE
(a guest block naming the running callback), then does what the instance asked for on return (release a
semaphore or mutex, set an event, leave a critical section, free a library) and the environment's
finalization callback. A pool starts a worker when a callback is queued and no worker is idle, up to its
maximum (TpSetPoolMaxThreads; 500 by default); queued callbacks are served object by object in turn, so one
object's many callbacks do not hold back another's. Workers wait alertably (an APC queued to one runs).
One timer thread (TppTimerThread) fires timers on the emulated clock; wait threads (TppWaitThread, one per 63
waits) wait for the handles of TP_WAITs and registered waits and queue their callbacks. Objects (TP_WORK, TP_TIMER, TP_WAIT, TP_POOL,
TP_CLEANUP_GROUP) are opaque process-heap blocks whose state is kept here, as Windows keeps it in ntdll.

I/O completion objects (TpAllocIoCompletion, CreateThreadpoolIo): the file is associated (NtSetInformationFile
FileCompletionInformation) with its pool's completion port, created with the first one, whose key is the TP_IO;
the pool's I/O thread (TppIoThread) takes the packets and queues the TP_IO's callback for each operation the
caller announced (TpStartAsyncIoOperation), with an IO_STATUS_BLOCK of the packet's status and count.

Not implemented (they stop the guest loudly, being undeclared): pool stack information, callback priorities
(every callback has normal priority), timer window lengths (a timer fires at its due time).
"""
from __future__ import annotations

from collections import deque

from winhatch.kernel.ke import wait as kwait
from winhatch.kernel.ke.sync import Event
from winhatch.ntstatus import ERROR_INVALID_PARAMETER, NtStatusError, nt_to_win32
from winhatch.win32 import api as api_mod
from winhatch.win32.api import api, internal_function

from winhatch.win32.kernel32.common import K32

NT = "ntdll.dll"
STATUS_SUCCESS = 0
STATUS_PENDING = 0x103
STATUS_INVALID_PARAMETER = 0xC000000D
STATUS_INVALID_HANDLE = 0xC0000008
STATUS_NO_MEMORY = 0xC0000017
STATUS_TOO_MANY_THREADS = 0xC0000129
WAIT_TIMEOUT = 0x102
WT_EXECUTEINWAITTHREAD = 0x4
WT_EXECUTEONLYONCE = 0x8
WT_EXECUTELONGFUNCTION = 0x10
INFINITE = 0xFFFFFFFF
MAX_WAITS = 63
DEFAULT_MAX_THREADS = 500

WORKER_FN, TIMER_FN, WAIT_FN, IO_FN = "TppWorkerThread", "TppTimerThread", "TppWaitThread", "TppIoThread"
for _fn in (WORKER_FN, TIMER_FN, WAIT_FN, IO_FN):
    internal_function(NT, _fn)


# ------------------------------------------------------------------------------------------ state
class Pool:
    def __init__(self, machine, handle: int):
        self.handle = handle
        self.max_threads = DEFAULT_MAX_THREADS
        self.min_threads = 0
        self.ready: deque = deque()           # objects with queued callbacks, served in turn
        self.available = Event(machine, manual_reset=False, initial=False)
        self.workers: set[int] = set()        # thread ids
        self.idle: set[int] = set()
        self.released = False


class TpObject:
    """A TP_WORK / TP_TIMER / TP_WAIT, a simple callback, a RtlQueueWorkItem item or a registered wait."""

    def __init__(self, machine, kind: str, handle: int, callback: int, context: int, env: dict):
        self.kind = kind
        self.handle = handle
        self.callback = callback
        self.context = context
        self.pool: Pool = env["pool"]
        self.group = env["group"]
        self.cancel_cb = env["cancel_cb"]
        self.finalization = env["finalization"]
        self.long_function = env["long"]
        self.queue: deque = deque()           # the extra arguments of each queued callback
        self.running = 0              # callbacks running, less the disassociated ones (TpWaitFor* waits on these)
        self.executing = 0            # callbacks running (a cleanup group's release waits on these)
        self.running_on: list[int] = []   # the threads running them (a callback may deregister its own wait)
        self.idle = Event(machine, manual_reset=True, initial=True)
        self.group_idle = Event(machine, manual_reset=True, initial=True)
        self.released = False
        # timers
        self.due = None
        self.period_ms = 0
        self.timer_set = False
        # waits
        self.wait_obj = None
        self.wait_handle = 0
        self.deadline = None          # clock ticks, None: no timeout
        self.armed = False
        self.flags = 0                # RtlRegisterWait's WT_* flags
        self.period_ticks = None      # RtlRegisterWait's timeout, again after each callback
        self.completion_event = 0     # RtlDeregisterWaitEx's event, set when the running callback ends

    @property
    def pending(self) -> int:
        return len(self.queue)

    def update_idle(self) -> None:
        started = getattr(self, "started", 0)      # a TP_IO's announced operations not completed yet
        for ev, busy in ((self.idle, self.pending + self.running + started),
                         (self.group_idle, self.pending + self.executing)):
            if busy:
                ev.reset()
            else:
                ev.set()


class Group:
    def __init__(self, handle: int):
        self.handle = handle
        self.members: list[TpObject] = []
        self.releasing = None         # (members, cancel callbacks to call) while a release waits


class Instance:
    def __init__(self, obj: TpObject):
        self.obj = obj
        self.semaphore = None         # (handle, count)
        self.event = 0
        self.mutex = 0
        self.cs = 0
        self.dll = 0
        self.may_run_long = False
        self.disassociated = False


class TpState:
    def __init__(self, machine):
        self.machine = machine
        self.default_pool = Pool(machine, 0)
        self.pools: dict[int, Pool] = {}
        self.objects: dict[int, TpObject] = {}
        self.groups: dict[int, Group] = {}
        self.instances: dict[int, Instance] = {}
        self.timer_changed = Event(machine, manual_reset=False, initial=False)
        self.timer_thread = False
        self.buckets: list = []
        self.thread_state: dict[int, dict] = {}


def _state(c) -> TpState:
    st = c.proc.subsystem.get("threadpool")
    if st is None:
        st = c.proc.subsystem["threadpool"] = TpState(c.machine)
    return st


def _alloc(c, size: int = 32) -> int:
    from winhatch.win32.msvcrt import runtime as R
    return R.alloc(c, size)


def _free(c, addr: int) -> None:
    from winhatch.win32.msvcrt import runtime as R
    R.heap(c).free_block(addr)


def _start(c, fn: str, param: int):
    """Start a guest thread at ntdll's internal function `fn`; its thread object, or None."""
    from winhatch.ldr import loader
    from winhatch.win32.kernel32.threads import create_thread
    m = loader.state_of(c.proc).by_name.get(NT)
    img = c.proc.subsystem["images"].find(m.base) if m is not None else None
    start = next((m.base + rva for rva, n in ((img.traps or {}).items() if img else ()) if n == fn), None)
    if start is None:
        from winhatch.win32.msvcrt.runtime import not_implemented
        not_implemented(c, f"thread pool: ntdll's {fn} stub is missing")
    h = create_thread(c, -1, 0, 0, start, param, 0, 0, api_name="thread pool")   # NtCurrentProcess()
    if not h:
        return None
    t = c.proc.handles.lookup(h, None, 0, current_process=c.proc, current_thread=c.thread)
    c.proc.handles.close(h)
    return t


# ------------------------------------------------------------------------------------------ environments
_ENV32 = {"Pool": 4, "CleanupGroup": 8, "CancelCb": 12, "RaceDll": 16, "Finalization": 24, "Flags": 28}
_ENV64 = {"Pool": 8, "CleanupGroup": 16, "CancelCb": 24, "RaceDll": 32, "Finalization": 48, "Flags": 56}


def _env(c, penv: int) -> dict | None:
    """TP_CALLBACK_ENVIRON (Version 1 or 3): pool, cleanup group and its cancel callback, finalization
    callback, LongFunction flag. None for another version, an unknown pool or group."""
    st = _state(c)
    env = {"pool": st.default_pool, "group": None, "cancel_cb": 0, "finalization": 0, "long": False}
    if not penv:
        return env
    off = _ENV64 if c.ptr_size == 8 else _ENV32
    version = c.u32(penv)
    if version not in (1, 3):
        return None                   # STATUS_INVALID_PARAMETER for the caller
    pool = c.ptr(penv + off["Pool"])
    group = c.ptr(penv + off["CleanupGroup"])
    if pool:
        env["pool"] = st.pools.get(pool)
        if env["pool"] is None:
            return None
    if group:
        env["group"] = st.groups.get(group)
        if env["group"] is None:
            return None
        env["cancel_cb"] = c.ptr(penv + off["CancelCb"])
    env["finalization"] = c.ptr(penv + off["Finalization"])
    env["long"] = bool(c.u32(penv + off["Flags"]) & 1)
    return env


def _new_object(c, kind: str, callback: int, context: int, penv: int) -> TpObject | None:
    env = _env(c, penv)
    if env is None:
        return None
    st = _state(c)
    h = _alloc(c)
    obj = TpObject(c.machine, kind, h, callback, context, env)
    st.objects[h] = obj
    if obj.group is not None:
        obj.group.members.append(obj)
    return obj


def _object(c, h: int, kind: str | tuple) -> TpObject:
    obj = _state(c).objects.get(h)
    kinds = (kind,) if isinstance(kind, str) else kind
    if obj is None or obj.kind not in kinds or obj.released:
        raise NtStatusError(0xC0000005, f"not a live thread-pool {'/'.join(kinds)} object: {h:#x}")
    return obj


def _post(c, obj: TpObject, extra: tuple = ()) -> None:
    """Queue one callback of obj on its pool, starting a worker when none is free."""
    pool = obj.pool
    obj.queue.append(extra)
    obj.update_idle()
    if obj not in pool.ready:
        pool.ready.append(obj)
    pool.available.set()
    _maybe_spawn(c, pool)


def _queued(pool: Pool) -> int:
    return sum(len(o.queue) for o in pool.ready)


def _maybe_spawn(c, pool: Pool, force: bool = False) -> bool:
    if (force or _queued(pool) > len(pool.idle)) and len(pool.workers) < pool.max_threads:
        # a worker is idle until it takes its first task (it is counted before it runs)
        t = _start(c, WORKER_FN, pool.handle)
        if t is None:
            return False
        _state(c).thread_state[t.tid] = {"pool": pool}
        pool.workers.add(t.tid)
        pool.idle.add(t.tid)
        return True
    return False


def _release(c, obj: TpObject) -> None:
    """Free the object once released and no callback is queued or running."""
    if obj.released and obj.pending == 0 and obj.executing == 0:
        st = _state(c)
        if st.objects.pop(obj.handle, None) is not None:
            if obj.group is not None and obj in obj.group.members:
                obj.group.members.remove(obj)
            _free(c, obj.handle)


def _cancel_pending(obj: TpObject) -> int:
    n = len(obj.queue)
    obj.queue.clear()
    if obj in obj.pool.ready:
        obj.pool.ready.remove(obj)
    obj.update_idle()
    return n


def _wait_idle(c, objs: list[TpObject], reason: str, group: bool = False) -> None:
    busy = ([o.group_idle for o in objs if o.pending + o.executing] if group else
            [o.idle for o in objs if o.pending + o.running + getattr(o, "started", 0)])
    if busy:
        kwait.wait_for(c, busy, True, kwait.INFINITE, reason=reason)
    else:
        kwait.take_done(c.thread, kwait.call_key(c, reason))    # a re-run after the wait: consume its record


# ------------------------------------------------------------------------------------------ worker thread
def _worker(c, key):
    st = _state(c)
    ts = st.thread_state.setdefault(c.thread.tid, {"pool": st.pools.get(key, st.default_pool)})
    pool: Pool = ts["pool"]
    pool.workers.add(c.thread.tid)
    from winhatch.win32.kernel32.threads import alertable_wait
    for _ in range(1 << 30):
        if pool.released and not pool.ready:
            break
        pool.idle.add(c.thread.tid)
        # workers wait alertably: an APC queued to one runs there (Wine's threadpool.c checks it)
        alertable_wait(c, [pool.available], False, kwait.INFINITE, True, WORKER_FN)
        pool.idle.discard(c.thread.tid)
        if not pool.ready:
            continue
        obj = pool.ready.popleft()
        extra = obj.queue.popleft()
        if obj.queue:
            pool.ready.append(obj)
        if pool.ready:
            pool.available.set()
            _maybe_spawn(c, pool)
        obj.running += 1
        obj.executing += 1
        _run(c, obj, extra)
    pool.workers.discard(c.thread.tid)
    pool.idle.discard(c.thread.tid)
    return 0


def _run(c, obj: TpObject, extra: tuple) -> None:
    st = _state(c)
    inst_ptr = _alloc(c)
    inst = Instance(obj)
    st.instances[inst_ptr] = inst
    call = c.machine.dispatcher.call_guest
    obj.running_on.append(c.thread.tid)
    try:
        if obj.kind == "work":
            call(c.thread, obj.callback, [inst_ptr, obj.context, obj.handle])
        elif obj.kind == "simple":
            call(c.thread, obj.callback, [inst_ptr, obj.context])
        elif obj.kind == "timer":
            call(c.thread, obj.callback, [inst_ptr, obj.context, obj.handle])
        elif obj.kind == "wait":
            call(c.thread, obj.callback, [inst_ptr, obj.context, obj.handle, extra[0]])
        elif obj.kind in ("io", "win32io"):
            packet = extra[0]
            if obj.kind == "io":       # PTP_IO_CALLBACK(instance, context, ApcContext, IO_STATUS_BLOCK *, io)
                iosb = _alloc(c, 16)
                c.write(iosb, (packet.status.to_bytes(4, "little") + bytes(c.ptr_size - 4) +
                               (packet.information & ((1 << (8 * c.ptr_size)) - 1)).to_bytes(c.ptr_size, "little")))
                try:
                    call(c.thread, obj.callback, [inst_ptr, obj.context, packet.apc_context, iosb, obj.handle])
                finally:
                    _free(c, iosb)
            else:                      # PTP_WIN32_IO_CALLBACK(instance, context, overlapped, IoResult, bytes, io)
                call(c.thread, obj.callback, [inst_ptr, obj.context, packet.apc_context,
                                              nt_to_win32(packet.status), packet.information & 0xFFFFFFFF,
                                              obj.handle])
        elif obj.kind == "rtl_work":
            call(c.thread, obj.callback, [obj.context])
        elif obj.kind == "rtl_wait":
            call(c.thread, obj.callback, [obj.context, 1 if extra[0] == WAIT_TIMEOUT else 0])
        if obj.finalization:
            call(c.thread, obj.finalization, [inst_ptr, obj.context])
        _on_return(c, inst)
    finally:
        obj.running_on.remove(c.thread.tid)
        del st.instances[inst_ptr]
        _free(c, inst_ptr)
        obj.executing -= 1
        if not inst.disassociated:
            obj.running -= 1
        obj.update_idle()
        if obj.completion_event and obj.running == 0:
            from winhatch.win32.kernel32.sync import SetEvent
            ev, obj.completion_event = obj.completion_event, 0
            SetEvent(c, ev)
        if obj.kind in ("simple", "rtl_work"):
            obj.released = True
        _release(c, obj)


def _on_return(c, inst: Instance) -> None:
    """What the callback asked its instance to do when it returns, in Windows's order."""
    from winhatch.win32.kernel32 import sync as k32_sync
    if inst.cs:
        k32_sync.LeaveCriticalSection(c, inst.cs)
    if inst.mutex:
        k32_sync.ReleaseMutex(c, inst.mutex)
    if inst.semaphore:
        k32_sync.ReleaseSemaphore(c, inst.semaphore[0], inst.semaphore[1], 0)
    if inst.event:
        k32_sync.SetEvent(c, inst.event)
    if inst.dll:
        from winhatch.win32.kernel32.base import FreeLibrary
        FreeLibrary(c, inst.dll)


api(NT, f"DWORD WINAPI {WORKER_FN}(LPVOID Pool)", calls_guest=True)(_worker)
api_mod._REGISTRY[-1].name = WORKER_FN


# ------------------------------------------------------------------------------------------ timer thread
def _ensure_timer_thread(c) -> None:
    st = _state(c)
    if not st.timer_thread:
        if _start(c, TIMER_FN, 0) is None:
            raise NtStatusError(STATUS_NO_MEMORY, "no thread for the thread pool's timers")
        st.timer_thread = True
    st.timer_changed.set()


def _timer_thread(c, _param):
    st = _state(c)
    for _ in range(1 << 30):
        now = c.machine.clock.now()
        due = [o.due for o in st.objects.values() if o.kind == "timer" and o.due is not None]
        timeout = kwait.INFINITE if not due else max(0, -(-(min(due) - now) // kwait.TICKS_PER_MS))
        kwait.wait_for(c, [st.timer_changed], False, timeout, reason=TIMER_FN)
        now = c.machine.clock.now()
        for o in sorted((o for o in st.objects.values() if o.kind == "timer" and o.due is not None
                         and o.due <= now), key=lambda o: o.due):
            o.due = now + o.period_ms * kwait.TICKS_PER_MS if o.period_ms else None
            _post(c, o)
    return 0


api(NT, f"DWORD WINAPI {TIMER_FN}(LPVOID Parameter)", calls_guest=True)(_timer_thread)
api_mod._REGISTRY[-1].name = TIMER_FN


def _due(c, pdue: int) -> int:
    """A LARGE_INTEGER due time: negative, relative in 100 ns; positive, absolute system time; 0, now."""
    v = c.read(pdue, 8)
    t = int.from_bytes(v, "little", signed=True)
    now = c.machine.clock.now()
    if t <= 0:
        return now - t
    return now + max(0, t - c.machine.clock.system_time())


# ------------------------------------------------------------------------------------------ wait thread
class _Bucket:
    """The waits one wait thread watches (at most MAXIMUM_WAIT_OBJECTS - 1, with its change event)."""

    def __init__(self, machine):
        self.members: list[TpObject] = []
        self.changed = Event(machine, manual_reset=False, initial=False)


def _arm(c, obj: TpObject) -> None:
    """Give an armed wait to a wait thread with room (starting one when all are full)."""
    st = _state(c)
    b = getattr(obj, "bucket", None)
    if b is None or obj not in b.members:
        b = next((b for b in st.buckets if len(b.members) < MAX_WAITS), None)
        if b is None:
            b = _Bucket(c.machine)
            st.buckets.append(b)
            if _start(c, WAIT_FN, len(st.buckets) - 1) is None:
                st.buckets.pop()
                raise NtStatusError(STATUS_NO_MEMORY, "no thread for the thread pool's waits")
        b.members.append(obj)
        obj.bucket = b
    b.changed.set()


def _disarm(obj: TpObject) -> None:
    obj.armed = False
    b = getattr(obj, "bucket", None)
    if b is not None:
        if obj in b.members:
            b.members.remove(obj)
        b.changed.set()


def _wait_thread(c, index):
    from winhatch.win32.kernel32.threads import alertable_wait
    st = _state(c)
    bucket = st.buckets[index]
    ts = st.thread_state.setdefault(c.thread.tid, {})
    for _ in range(1 << 30):
        waits = ts.get("blocked")
        if waits is None:
            waits = [o for o in bucket.members if o.armed]
        ts["blocked"] = waits
        now = c.machine.clock.now()
        deadlines = [o.deadline for o in waits if o.deadline is not None]
        timeout = kwait.INFINITE if not deadlines else max(0, -(-(min(deadlines) - now) // kwait.TICKS_PER_MS))
        r = alertable_wait(c, [o.wait_obj for o in waits] + [bucket.changed], False, timeout, True, WAIT_FN)
        ts["blocked"] = None
        now = c.machine.clock.now()
        fired = []
        if r < len(waits) or 0x80 <= r < 0x80 + len(waits):
            fired.append((waits[r & 0x7F], 0))
        for o in waits:
            if o.armed and o.deadline is not None and o.deadline <= now and all(f[0] is not o for f in fired):
                fired.append((o, WAIT_TIMEOUT))
        for o, result in fired:
            if not o.armed:
                continue
            if o.kind == "rtl_wait" and not o.flags & WT_EXECUTEONLYONCE:
                o.deadline = (now + o.period_ticks) if o.period_ticks is not None else None
            else:
                _disarm(o)
            if o.kind == "rtl_wait" and o.flags & WT_EXECUTEINWAITTHREAD:
                o.running += 1
                o.executing += 1
                o.update_idle()
                _run(c, o, (result,))
            else:
                _post(c, o, (result,))
    return 0


api(NT, f"DWORD WINAPI {WAIT_FN}(LPVOID Parameter)", calls_guest=True)(_wait_thread)
api_mod._REGISTRY[-1].name = WAIT_FN


def _wait_object(c, h: int):
    """The dispatcher object behind a registered wait's handle (the wait services' own look-up: SYNCHRONIZE
    access, a synchronous file counts as signalled); another handle is STATUS_INVALID_HANDLE."""
    from winhatch.kernel.ke.sync_services import _waitable
    try:
        return _waitable(c.thread, h)
    except NtStatusError:
        raise NtStatusError(STATUS_INVALID_HANDLE, f"not a waitable handle: {h:#x}") from None


# ------------------------------------------------------------------------------------------ pools and groups
@api(NT, "NTSTATUS WINAPI TpAllocPool(TP_POOL **Pool, PVOID Reserved)")
def TpAllocPool(c, ppool, reserved):
    if not ppool:
        return STATUS_INVALID_PARAMETER
    h = _alloc(c)
    _state(c).pools[h] = Pool(c.machine, h)
    c.write_ptr(ppool, h)
    return STATUS_SUCCESS


def _pool(c, h) -> Pool:
    p = _state(c).pools.get(h)
    if p is None:
        raise NtStatusError(0xC0000005, f"not a thread pool: {h:#x}")
    return p


@api(NT, "void WINAPI TpReleasePool(TP_POOL *Pool)")
def TpReleasePool(c, h):
    p = _pool(c, h)
    p.released = True
    del _state(c).pools[h]
    p.available.set()       # idle workers leave
    _free(c, h)


@api(NT, "void WINAPI TpSetPoolMaxThreads(TP_POOL *Pool, DWORD MaxThreads)")
def TpSetPoolMaxThreads(c, h, n):
    p = _pool(c, h)
    p.max_threads = max(1, n)
    p.min_threads = min(p.min_threads, p.max_threads)


@api(NT, "NTSTATUS WINAPI TpSetPoolMinThreads(TP_POOL *Pool, DWORD MinThreads)")
def TpSetPoolMinThreads(c, h, n):
    p = _pool(c, h)
    p.min_threads = n
    p.max_threads = max(p.max_threads, n)
    while len(p.workers) < n:
        if not _maybe_spawn(c, p, force=True):
            return STATUS_NO_MEMORY
    return STATUS_SUCCESS


@api(NT, "NTSTATUS WINAPI TpAllocCleanupGroup(TP_CLEANUP_GROUP **Group)")
def TpAllocCleanupGroup(c, pgroup):
    if not pgroup:
        return STATUS_INVALID_PARAMETER
    h = _alloc(c)
    _state(c).groups[h] = Group(h)
    c.write_ptr(pgroup, h)
    return STATUS_SUCCESS


@api(NT, "void WINAPI TpReleaseCleanupGroupMembers(TP_CLEANUP_GROUP *Group, BOOL CancelPending, PVOID Userdata)",
     calls_guest=True)
def TpReleaseCleanupGroupMembers(c, h, cancel, userdata):
    """Cancel (optionally) what the members have queued, wait for their running callbacks, then call the
    group's cancel callback once for each cancelled member that its owner had not released (a simple callback
    only when it had not run), on the calling thread; release every member."""
    g = _state(c).groups.get(h)
    if g is None:
        raise NtStatusError(0xC0000005, f"not a cleanup group: {h:#x}")
    if g.releasing is None:                 # this call re-runs after its wait: the first pass decides
        members = list(g.members)
        to_call = []
        for o in members:
            if not cancel:
                continue
            if o.kind == "timer":
                o.due = None
                o.timer_set = False
            if o.kind == "wait":
                _disarm(o)
            n = _cancel_pending(o)
            if o.cancel_cb and not o.released and (o.kind != "simple" or n):
                to_call.append(o)
        g.releasing = (members, to_call)
    members, to_call = g.releasing
    _wait_idle(c, members, "TpReleaseCleanupGroupMembers", group=True)
    g.releasing = None
    for o in [o for o in to_call if not o.released]:     # released by its own callback meanwhile: not called
        c.machine.dispatcher.call_guest(c.thread, o.cancel_cb, [o.context, userdata])
    for o in members:
        o.released = True
        _release(c, o)
        o.group = None
        if o in g.members:
            g.members.remove(o)


@api(NT, "void WINAPI TpReleaseCleanupGroup(TP_CLEANUP_GROUP *Group)")
def TpReleaseCleanupGroup(c, h):
    g = _state(c).groups.pop(h, None)
    if g is None:
        raise NtStatusError(0xC0000005, f"not a cleanup group: {h:#x}")
    for o in g.members:
        o.group = None
    _free(c, h)


# ------------------------------------------------------------------------------------------ work and simple
@api(NT, "NTSTATUS WINAPI TpAllocWork(TP_WORK **Work, PTP_WORK_CALLBACK Callback, PVOID Context, "
         "TP_CALLBACK_ENVIRON *Environment)")
def TpAllocWork(c, pwork, cb, ctx, penv):
    if not pwork or not cb:
        return STATUS_INVALID_PARAMETER
    obj = _new_object(c, "work", cb, ctx, penv)
    if obj is None:
        return STATUS_INVALID_PARAMETER
    c.write_ptr(pwork, obj.handle)
    return STATUS_SUCCESS


@api(NT, "void WINAPI TpPostWork(TP_WORK *Work)")
def TpPostWork(c, h):
    _post(c, _object(c, h, "work"))


@api(NT, "void WINAPI TpReleaseWork(TP_WORK *Work)")
def TpReleaseWork(c, h):
    obj = _object(c, h, "work")
    obj.released = True
    _release(c, obj)


@api(NT, "void WINAPI TpWaitForWork(TP_WORK *Work, BOOL CancelPending)")
def TpWaitForWork(c, h, cancel):
    obj = _object(c, h, "work")
    if cancel:
        _cancel_pending(obj)
    _wait_idle(c, [obj], "TpWaitForWork")


@api(NT, "NTSTATUS WINAPI TpSimpleTryPost(PTP_SIMPLE_CALLBACK Callback, PVOID Context, "
         "TP_CALLBACK_ENVIRON *Environment)")
def TpSimpleTryPost(c, cb, ctx, penv):
    if not cb:
        return STATUS_INVALID_PARAMETER
    obj = _new_object(c, "simple", cb, ctx, penv)
    if obj is None:
        return STATUS_INVALID_PARAMETER
    obj.released = False
    _post(c, obj)
    return STATUS_SUCCESS


# ------------------------------------------------------------------------------------------ timers
@api(NT, "NTSTATUS WINAPI TpAllocTimer(TP_TIMER **Timer, PTP_TIMER_CALLBACK Callback, PVOID Context, "
         "TP_CALLBACK_ENVIRON *Environment)")
def TpAllocTimer(c, ptimer, cb, ctx, penv):
    if not ptimer or not cb:
        return STATUS_INVALID_PARAMETER
    obj = _new_object(c, "timer", cb, ctx, penv)
    if obj is None:
        return STATUS_INVALID_PARAMETER
    c.write_ptr(ptimer, obj.handle)
    return STATUS_SUCCESS


@api(NT, "void WINAPI TpSetTimer(TP_TIMER *Timer, LARGE_INTEGER *DueTime, LONG Period, LONG WindowLength)")
def TpSetTimer(c, h, pdue, period, window):
    obj = _object(c, h, "timer")
    if not pdue:
        obj.due = None
        obj.timer_set = False
        return
    obj.timer_set = True
    obj.period_ms = period & 0x7FFFFFFF
    obj.due = _due(c, pdue)
    _ensure_timer_thread(c)


@api(NT, "BOOL WINAPI TpIsTimerSet(TP_TIMER *Timer)")
def TpIsTimerSet(c, h):
    return int(_object(c, h, "timer").timer_set)


@api(NT, "void WINAPI TpWaitForTimer(TP_TIMER *Timer, BOOL CancelPending)")
def TpWaitForTimer(c, h, cancel):
    obj = _object(c, h, "timer")
    if cancel:
        _cancel_pending(obj)
    _wait_idle(c, [obj], "TpWaitForTimer")


@api(NT, "void WINAPI TpReleaseTimer(TP_TIMER *Timer)")
def TpReleaseTimer(c, h):
    obj = _object(c, h, "timer")
    obj.due = None
    obj.timer_set = False
    obj.released = True
    _release(c, obj)


# ------------------------------------------------------------------------------------------ waits
@api(NT, "NTSTATUS WINAPI TpAllocWait(TP_WAIT **Wait, PTP_WAIT_CALLBACK Callback, PVOID Context, "
         "TP_CALLBACK_ENVIRON *Environment)")
def TpAllocWait(c, pwait, cb, ctx, penv):
    if not pwait or not cb:
        return STATUS_INVALID_PARAMETER
    obj = _new_object(c, "wait", cb, ctx, penv)
    if obj is None:
        return STATUS_INVALID_PARAMETER
    c.write_ptr(pwait, obj.handle)
    return STATUS_SUCCESS


@api(NT, "void WINAPI TpSetWait(TP_WAIT *Wait, HANDLE Handle, LARGE_INTEGER *Timeout)")
def TpSetWait(c, h, handle, ptimeout):
    obj = _object(c, h, "wait")
    if not handle:
        _disarm(obj)
        return
    obj.wait_obj = _wait_object(c, handle)
    obj.wait_handle = handle
    obj.deadline = _due(c, ptimeout) if ptimeout else None
    obj.armed = True
    _arm(c, obj)


@api(NT, "void WINAPI TpWaitForWait(TP_WAIT *Wait, BOOL CancelPending)")
def TpWaitForWait(c, h, cancel):
    obj = _object(c, h, "wait")
    if cancel:
        _cancel_pending(obj)
    _wait_idle(c, [obj], "TpWaitForWait")


@api(NT, "void WINAPI TpReleaseWait(TP_WAIT *Wait)")
def TpReleaseWait(c, h):
    obj = _object(c, h, "wait")
    _disarm(obj)
    obj.released = True
    _release(c, obj)


# ------------------------------------------------------------------------------------------ instances
def _instance(c, h) -> Instance:
    inst = _state(c).instances.get(h)
    if inst is None:
        raise NtStatusError(0xC0000005, f"not a running callback's instance: {h:#x}")
    return inst


@api(NT, "NTSTATUS WINAPI TpCallbackMayRunLong(TP_CALLBACK_INSTANCE *Instance)")
def TpCallbackMayRunLong(c, h):
    """STATUS_SUCCESS when another worker can take the pool's other callbacks (one is started when none is
    idle), STATUS_TOO_MANY_THREADS at the pool's maximum."""
    inst = _instance(c, h)
    if inst.may_run_long:
        return STATUS_SUCCESS
    pool = inst.obj.pool
    if pool.idle:
        inst.may_run_long = True
        return STATUS_SUCCESS
    if len(pool.workers) >= pool.max_threads or not _maybe_spawn(c, pool, force=True):
        return STATUS_TOO_MANY_THREADS
    inst.may_run_long = True
    return STATUS_SUCCESS


@api(NT, "void WINAPI TpDisassociateCallback(TP_CALLBACK_INSTANCE *Instance)")
def TpDisassociateCallback(c, h):
    """The running callback no longer counts for waits on its object or group."""
    inst = _instance(c, h)
    if not inst.disassociated:
        inst.disassociated = True
        inst.obj.running -= 1
        inst.obj.update_idle()


@api(NT, "void WINAPI TpCallbackReleaseSemaphoreOnCompletion(TP_CALLBACK_INSTANCE *Instance, HANDLE Semaphore, "
         "DWORD Count)")
def TpCallbackReleaseSemaphoreOnCompletion(c, h, sem, n):
    inst = _instance(c, h)
    if not inst.semaphore:
        inst.semaphore = (sem, n)


@api(NT, "void WINAPI TpCallbackSetEventOnCompletion(TP_CALLBACK_INSTANCE *Instance, HANDLE Event)")
def TpCallbackSetEventOnCompletion(c, h, ev):
    inst = _instance(c, h)
    if not inst.event:
        inst.event = ev


@api(NT, "void WINAPI TpCallbackReleaseMutexOnCompletion(TP_CALLBACK_INSTANCE *Instance, HANDLE Mutex)")
def TpCallbackReleaseMutexOnCompletion(c, h, mutex):
    inst = _instance(c, h)
    if not inst.mutex:
        inst.mutex = mutex


@api(NT, "void WINAPI TpCallbackLeaveCriticalSectionOnCompletion(TP_CALLBACK_INSTANCE *Instance, "
         "CRITICAL_SECTION *CriticalSection)")
def TpCallbackLeaveCriticalSectionOnCompletion(c, h, cs):
    inst = _instance(c, h)
    if not inst.cs:
        inst.cs = cs


@api(NT, "void WINAPI TpCallbackUnloadDllOnCompletion(TP_CALLBACK_INSTANCE *Instance, HMODULE Module)")
def TpCallbackUnloadDllOnCompletion(c, h, module):
    inst = _instance(c, h)
    if not inst.dll:
        inst.dll = module


# ------------------------------------------------------------------------------------------ Rtl work items, waits
@api(NT, "NTSTATUS WINAPI RtlQueueWorkItem(PRTL_WORK_ITEM_ROUTINE Function, PVOID Context, ULONG Flags)")
def RtlQueueWorkItem(c, fn, ctx, flags):
    """Every WT_EXECUTE* flavour runs on the default pool's workers (persistent and I/O threads are not
    distinguished)."""
    if not fn:
        return STATUS_INVALID_PARAMETER
    obj = _new_object(c, "rtl_work", fn, ctx, 0)
    _post(c, obj)
    return STATUS_SUCCESS


@api(NT, "NTSTATUS WINAPI RtlRegisterWait(PHANDLE NewWaitObject, HANDLE Object, RTL_WAITORTIMERCALLBACKFUNC Callback, "
         "PVOID Context, ULONG Milliseconds, ULONG Flags)")
def RtlRegisterWait(c, pout, handle, cb, ctx, ms, flags):
    if not pout or not cb:
        return STATUS_INVALID_PARAMETER
    try:
        target = _wait_object(c, handle)
    except NtStatusError as e:
        return e.status
    obj = _new_object(c, "rtl_wait", cb, ctx, 0)
    obj.flags = flags
    obj.wait_obj = target
    obj.wait_handle = handle
    obj.period_ticks = None if ms == INFINITE else ms * kwait.TICKS_PER_MS
    obj.deadline = None if ms == INFINITE else c.machine.clock.now() + obj.period_ticks
    obj.armed = True
    _arm(c, obj)
    c.write_ptr(pout, obj.handle)
    return STATUS_SUCCESS


def _deregister(c, h, completion) -> int:
    st = _state(c)
    obj = st.objects.get(h)
    if obj is None or obj.kind != "rtl_wait":
        return STATUS_INVALID_HANDLE
    _disarm(obj)
    _cancel_pending(obj)
    ptr_mask = (1 << (8 * c.ptr_size)) - 1
    if completion == ptr_mask:              # INVALID_HANDLE_VALUE: wait for the running callback
        _wait_idle(c, [obj], "RtlDeregisterWaitEx")
        status = STATUS_SUCCESS
    else:
        # a callback deregistering its own wait does not count as one still running: Windows returns success
        # there (Wine's kernel32/tests/thread.c unregister_function, a todo_wine)
        busy = obj.running - obj.running_on.count(c.thread.tid) > 0
        status = STATUS_PENDING if busy else STATUS_SUCCESS
        if completion:
            if busy:
                obj.completion_event = completion
            else:
                from winhatch.win32.kernel32.sync import SetEvent
                SetEvent(c, completion)
    obj.released = True
    _release(c, obj)
    return status


@api(NT, "NTSTATUS WINAPI RtlDeregisterWait(HANDLE WaitHandle)")
def RtlDeregisterWait(c, h):
    return _deregister(c, h, 0)


@api(NT, "NTSTATUS WINAPI RtlDeregisterWaitEx(HANDLE WaitHandle, HANDLE CompletionEvent)")
def RtlDeregisterWaitEx(c, h, ev):
    return _deregister(c, h, ev)


# ------------------------------------------------------------------------------------------ kernel32
def _k32(c, status: int) -> int:
    if status:
        c.set_last_error(nt_to_win32(status))
    return 0 if status else 1


def _k32_alloc(c, fn, cb, ctx, penv) -> int:
    scratch = _alloc(c, 8)
    try:
        st = fn(c, scratch, cb, ctx, penv)
        if st:
            c.set_last_error(nt_to_win32(st))
            return 0
        return c.ptr(scratch)
    finally:
        _free(c, scratch)


@api(K32, "PTP_WORK WINAPI CreateThreadpoolWork(PTP_WORK_CALLBACK pfnwk, PVOID pv, PTP_CALLBACK_ENVIRON pcbe)")
def CreateThreadpoolWork(c, cb, ctx, penv):
    return _k32_alloc(c, TpAllocWork, cb, ctx, penv)


@api(K32, "PTP_TIMER WINAPI CreateThreadpoolTimer(PTP_TIMER_CALLBACK pfnti, PVOID pv, PTP_CALLBACK_ENVIRON pcbe)")
def CreateThreadpoolTimer(c, cb, ctx, penv):
    return _k32_alloc(c, TpAllocTimer, cb, ctx, penv)


@api(K32, "PTP_WAIT WINAPI CreateThreadpoolWait(PTP_WAIT_CALLBACK pfnwa, PVOID pv, PTP_CALLBACK_ENVIRON pcbe)")
def CreateThreadpoolWait(c, cb, ctx, penv):
    return _k32_alloc(c, TpAllocWait, cb, ctx, penv)


@api(K32, "PTP_POOL WINAPI CreateThreadpool(PVOID reserved)")
def CreateThreadpool(c, reserved):
    scratch = _alloc(c, 8)
    try:
        TpAllocPool(c, scratch, 0)
        return c.ptr(scratch)
    finally:
        _free(c, scratch)


@api(K32, "PTP_CLEANUP_GROUP WINAPI CreateThreadpoolCleanupGroup(void)")
def CreateThreadpoolCleanupGroup(c):
    scratch = _alloc(c, 8)
    try:
        TpAllocCleanupGroup(c, scratch)
        return c.ptr(scratch)
    finally:
        _free(c, scratch)


@api(K32, "BOOL WINAPI TrySubmitThreadpoolCallback(PTP_SIMPLE_CALLBACK pfns, PVOID pv, PTP_CALLBACK_ENVIRON pcbe)")
def TrySubmitThreadpoolCallback(c, cb, ctx, penv):
    return _k32(c, TpSimpleTryPost(c, cb, ctx, penv))


@api(K32, "BOOL WINAPI CallbackMayRunLong(PTP_CALLBACK_INSTANCE pci)")
def CallbackMayRunLong(c, h):
    return _k32(c, TpCallbackMayRunLong(c, h))


@api(K32, "BOOL WINAPI QueueUserWorkItem(LPTHREAD_START_ROUTINE Function, PVOID Context, ULONG Flags)")
def QueueUserWorkItem(c, fn, ctx, flags):
    return _k32(c, RtlQueueWorkItem(c, fn, ctx, flags))


@api(K32, "BOOL WINAPI RegisterWaitForSingleObject(PHANDLE phNewWaitObject, HANDLE hObject, "
          "WAITORTIMERCALLBACK Callback, PVOID Context, ULONG dwMilliseconds, ULONG dwFlags)")
def RegisterWaitForSingleObject(c, pout, handle, cb, ctx, ms, flags):
    if not pout:
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    return _k32(c, RtlRegisterWait(c, pout, handle, cb, ctx, ms, flags))


@api(K32, "HANDLE WINAPI RegisterWaitForSingleObjectEx(HANDLE hObject, WAITORTIMERCALLBACK Callback, PVOID Context, "
          "ULONG dwMilliseconds, ULONG dwFlags)")
def RegisterWaitForSingleObjectEx(c, handle, cb, ctx, ms, flags):
    scratch = _alloc(c, 8)
    try:
        st = RtlRegisterWait(c, scratch, handle, cb, ctx, ms, flags)
        if st:
            c.set_last_error(nt_to_win32(st))
            return 0
        return c.ptr(scratch)
    finally:
        _free(c, scratch)


@api(K32, "BOOL WINAPI UnregisterWaitEx(HANDLE WaitHandle, HANDLE CompletionEvent)")
def UnregisterWaitEx(c, h, ev):
    if not h:
        c.set_last_error(6)        # ERROR_INVALID_HANDLE (kernel32/thread.c test_RegisterWaitForSingleObject)
        return 0
    st = _deregister(c, h, ev)
    if st == STATUS_PENDING:
        c.set_last_error(997)      # ERROR_IO_PENDING
        return 0
    return _k32(c, st)


@api(K32, "BOOL WINAPI UnregisterWait(HANDLE WaitHandle)")
def UnregisterWait(c, h):
    return UnregisterWaitEx(c, h, 0)


# ------------------------------------------------------------------------------------------ I/O completion
def _io_thread(c, pool_handle):
    """A pool's I/O thread: each packet of the pool's completion port whose key is a TP_IO with an announced
    operation queues the TP_IO's callback (a packet for no announced operation is dropped, as the thread
    pool's documentation warns)."""
    st = _state(c)
    ts = st.thread_state.get(c.thread.tid) or {}
    pool = ts.get("pool") or st.pools.get(pool_handle, st.default_pool)
    port = getattr(pool, "io_port", None)
    if port is None:
        return 0
    for _ in range(1 << 30):
        if pool.released and not any(o.kind in ("io", "win32io") for o in st.objects.values()
                                     if o.pool is pool):
            break
        kwait.wait_for(c, [port], False, kwait.INFINITE, reason=IO_FN)
        for packet in port.remove_now(c.thread, 64) or []:
            obj = st.objects.get(packet.key)
            if obj is None or obj.kind not in ("io", "win32io") or not obj.started:
                continue
            obj.started -= 1
            _post(c, obj, (packet,))
    return 0


api(NT, f"DWORD WINAPI {IO_FN}(LPVOID Parameter)", calls_guest=True)(_io_thread)
api_mod._REGISTRY[-1].name = IO_FN


def _pool_port(c, pool: Pool) -> int:
    """The pool's completion port handle (created, with the pool's I/O thread, on first use)."""
    h = getattr(pool, "io_port_handle", 0)
    if h:
        return h
    hp = c.stack_alloc(c.ptr_size, 8)
    st = c.nt("NtCreateIoCompletion", hp, 0x1F0003, 0, 0)      # IO_COMPLETION_ALL_ACCESS
    if st:
        raise NtStatusError(st, "no completion port for the thread pool")
    h = c.ptr(hp)
    pool.io_port_handle = h
    pool.io_port = c.proc.handles.lookup(h, "IoCompletion", 0, current_process=c.proc, current_thread=c.thread)
    t = _start(c, IO_FN, pool.handle)
    if t is None:
        raise NtStatusError(STATUS_NO_MEMORY, "no thread for the thread pool's I/O")
    _state(c).thread_state[t.tid] = {"pool": pool}      # the thread's pool, even once released
    return h


def _alloc_io(c, kind: str, pio: int, file: int, cb: int, ctx: int, penv: int) -> int:
    obj = _new_object(c, kind, cb, ctx, penv)
    if obj is None:
        return STATUS_INVALID_PARAMETER
    obj.started = 0
    try:
        port = _pool_port(c, obj.pool)
        info = c.stack_alloc(2 * c.ptr_size, 8)
        c.write_ptr(info, port)
        c.write_ptr(info + c.ptr_size, obj.handle)
        iosb = c.stack_alloc(2 * c.ptr_size, 8)
        st = c.nt("NtSetInformationFile", file, iosb, info, 2 * c.ptr_size, 30)   # FileCompletionInformation
    except NtStatusError as e:
        st = e.status
    if st:
        obj.released = True
        _release(c, obj)
        return st
    c.write_ptr(pio, obj.handle)
    return 0


@api(NT, "NTSTATUS WINAPI TpAllocIoCompletion(TP_IO **Io, HANDLE File, PTP_IO_CALLBACK Callback, PVOID Userdata, "
         "TP_CALLBACK_ENVIRON *Environment)")
def TpAllocIoCompletion(c, pio, file, cb, ctx, penv):
    if not pio or not cb:
        return STATUS_INVALID_PARAMETER
    return _alloc_io(c, "io", pio, file, cb, ctx, penv)


@api(NT, "void WINAPI TpStartAsyncIoOperation(TP_IO *Io)")
def TpStartAsyncIoOperation(c, h):
    obj = _object(c, h, ("io", "win32io"))
    obj.started += 1
    obj.update_idle()


@api(NT, "void WINAPI TpCancelAsyncIoOperation(TP_IO *Io)")
def TpCancelAsyncIoOperation(c, h):
    obj = _object(c, h, ("io", "win32io"))
    if obj.started:
        obj.started -= 1
    obj.update_idle()


@api(NT, "void WINAPI TpWaitForIoCompletion(TP_IO *Io, BOOLEAN CancelPending)")
def TpWaitForIoCompletion(c, h, cancel):
    obj = _object(c, h, ("io", "win32io"))
    if cancel & 0xFF:
        _cancel_pending(obj)
        obj.started = 0
        obj.update_idle()
    _wait_idle(c, [obj], "TpWaitForIoCompletion")


@api(NT, "void WINAPI TpReleaseIoCompletion(TP_IO *Io)")
def TpReleaseIoCompletion(c, h):
    obj = _object(c, h, ("io", "win32io"))
    obj.released = True
    _release(c, obj)


@api(K32, "PTP_IO WINAPI CreateThreadpoolIo(HANDLE fl, PTP_WIN32_IO_CALLBACK pfnio, PVOID pv, "
          "PTP_CALLBACK_ENVIRON pcbe)")
def CreateThreadpoolIo(c, file, cb, ctx, penv):
    scratch = _alloc(c, 8)
    try:
        st = _alloc_io(c, "win32io", scratch, file, cb, ctx, penv) if cb else STATUS_INVALID_PARAMETER
        if st:
            c.set_last_error(nt_to_win32(st))
            return 0
        return c.ptr(scratch)
    finally:
        _free(c, scratch)


@api(K32, "void WINAPI StartThreadpoolIo(PTP_IO pio)")
def StartThreadpoolIo(c, h):
    obj = _object(c, h, ("io", "win32io"))
    obj.started += 1
    obj.update_idle()


@api(K32, "void WINAPI CancelThreadpoolIo(PTP_IO pio)")
def CancelThreadpoolIo(c, h):
    obj = _object(c, h, ("io", "win32io"))
    if obj.started:
        obj.started -= 1
    obj.update_idle()


@api(K32, "void WINAPI WaitForThreadpoolIoCallbacks(PTP_IO pio, BOOL fCancelPendingCallbacks)")
def WaitForThreadpoolIoCallbacks(c, h, cancel):
    obj = _object(c, h, ("io", "win32io"))
    if cancel:
        _cancel_pending(obj)
    _wait_idle(c, [obj], "WaitForThreadpoolIoCallbacks")


@api(K32, "void WINAPI CloseThreadpoolIo(PTP_IO pio)")
def CloseThreadpoolIo(c, h):
    obj = _object(c, h, ("io", "win32io"))
    obj.released = True
    _release(c, obj)
