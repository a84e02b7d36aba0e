"""kernel32 / kernelbase / ntdll: synchronisation — waits, events, mutexes, semaphores, waitable timers (named
through the object namespace), critical sections, SRW locks, condition variables, one-time initialisation and
the Interlocked functions x86 kernel32 exports.

Waits and the dispatcher objects go through their system services as kernelbase calls them (`c.nt`:
NtWaitForSingleObject, NtWaitForMultipleObjects, NtSignalAndWaitForSingleObject, NtCreate/Open/Set…Event,
…Mutant, …Semaphore, …Timer — winhatch.kernel.ke.sync_services); a name is the object's path under the session's
BaseNamedObjects, created with OBJ_OPENIF (an existing object of the same name: ERROR_ALREADY_EXISTS) and errors
are mapped from the NTSTATUS (BaseSetLastNTError).

Every blocking call blocks for real (the scheduler runs the other threads; see winhatch.kernel.ke.wait for the
restart protocol). Critical sections and SRW locks keep their documented state in guest memory
(RTL_CRITICAL_SECTION's LockCount/RecursionCount/OwningThread; an SRWLOCK is 0 when free) and a Python-side
waitable per address for the threads blocked on them; a lock handed over on release goes to the thread that
waited longest.
"""
from __future__ import annotations

from winhatch.kernel.ke import wait as kwait
from winhatch.kernel.ke.sync import KeyedLock
from winhatch.kernel.ke.wait import WaitBlock, WouldBlock
from winhatch.kernel.ob import ObNamespace
from winhatch.kernel.ob.access import EVENT_ALL_ACCESS, MUTANT_ALL_ACCESS, SEMAPHORE_ALL_ACCESS, TIMER_ALL_ACCESS
from winhatch.ntstatus import ERROR_ALREADY_EXISTS, ERROR_INVALID_PARAMETER, ERROR_TIMEOUT, nt_to_win32
from winhatch.win32.api import api

from winhatch.win32.kernel32.common import sa_inherit
from winhatch.win32.kernel32.threads import run_apcs

K32 = ("kernel32.dll", "kernelbase.dll")
CREATE_EVENT_MANUAL_RESET, CREATE_EVENT_INITIAL_SET = 0x1, 0x2
CREATE_MUTEX_INITIAL_OWNER = 0x1
CREATE_WAITABLE_TIMER_MANUAL_RESET = 0x1
ERROR_BAD_PATHNAME = 161
ERROR_NOT_SUPPORTED = 50
OBJ_INHERIT, OBJ_OPENIF = 0x2, 0x80
STATUS_OBJECT_NAME_EXISTS = 0x40000000
STATUS_USER_APC = 0xC0
STATUS_ALERTED = 0x101
STATUS_TIMER_RESUME_IGNORED = 0x40000025
NotificationEvent, SynchronizationEvent = 0, 1
NotificationTimer, SynchronizationTimer = 0, 1


def _failed(st: int) -> bool:
    return bool(st & 0x80000000) and st >> 30 == 3     # NT_ERROR


# ================================================================================ named objects
def namespace(machine) -> ObNamespace:
    return machine.namespace


def object_path(c, name: str) -> str:
    """A Win32 object name → its path: "Global\\x", "Local\\x" or "x" under the session's BaseNamedObjects."""
    ns = namespace(c.machine)
    return ns.session_bno(c.proc.session_id) + "\\" + name


def object_attributes(c, name: str | None, inherit: bool, openif: bool) -> int:
    """BaseFormatObjectAttributes: the OBJECT_ATTRIBUTES of a Win32 object name (its BaseNamedObjects path),
    without OBJ_CASE_INSENSITIVE: Win32 object names are case-sensitive (Wine's kernel32/tests/sync.c
    test_mutex opens "WINETESTMUTEX" and finds nothing)."""
    attrs = (OBJ_INHERIT if inherit else 0) | (OBJ_OPENIF if openif and name else 0)   # names are case-sensitive
    return c.object_attributes(c.unicode_string(object_path(c, name)) if name else 0, attrs)


def nt_create(c, service: str, name: str | None, sa: int, access: int, *args: int) -> int:
    """A Create… function: the service with (&handle, access, attributes, *args); ERROR_ALREADY_EXISTS when a
    named object existed (it is opened), 0 as the last error otherwise; NULL with the mapped error on failure."""
    out = c.stack_alloc(c.ptr_size)
    oa = object_attributes(c, name or None, sa_inherit(c, sa), True)
    st = c.nt(service, out, access, oa, *args)
    if _failed(st):
        c.set_last_nt_error(st)
        return 0
    c.set_last_error(ERROR_ALREADY_EXISTS if st == STATUS_OBJECT_NAME_EXISTS else 0)
    return c.ptr(out)


def nt_open(c, service: str, access: int, inherit: int, name: str | None) -> int:
    if not name:
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    out = c.stack_alloc(c.ptr_size)
    st = c.nt(service, out, access, object_attributes(c, name, bool(inherit), False))
    if _failed(st):
        c.set_last_nt_error(st)
        return 0
    return c.ptr(out)


def _bool_call(c, service: str, *args: int) -> int:
    st = c.nt(service, *args)
    if _failed(st):
        c.set_last_nt_error(st)
        return 0
    return 1


# ================================================================================ events
@api(K32, "HANDLE WINAPI CreateEvent%(LPSECURITY_ATTRIBUTES lpEventAttributes, BOOL bManualReset, "
          "BOOL bInitialState, LPCTSTR lpName)")
def CreateEvent(c, sa, manual, initial, name):
    return nt_create(c, "NtCreateEvent", name, sa, EVENT_ALL_ACCESS,
                     NotificationEvent if manual else SynchronizationEvent, 1 if initial else 0)


@api(K32, "HANDLE WINAPI CreateEventEx%(LPSECURITY_ATTRIBUTES lpEventAttributes, LPCTSTR lpName, DWORD dwFlags, "
          "DWORD dwDesiredAccess)")
def CreateEventEx(c, sa, name, flags, access):
    if flags & ~(CREATE_EVENT_MANUAL_RESET | CREATE_EVENT_INITIAL_SET):
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    return nt_create(c, "NtCreateEvent", name, sa, access,
                     NotificationEvent if flags & CREATE_EVENT_MANUAL_RESET else SynchronizationEvent,
                     1 if flags & CREATE_EVENT_INITIAL_SET else 0)


@api(K32, "HANDLE WINAPI OpenEvent%(DWORD dwDesiredAccess, BOOL bInheritHandle, LPCTSTR lpName)")
def OpenEvent(c, access, inherit, name):
    return nt_open(c, "NtOpenEvent", access, inherit, name)


@api(K32, "BOOL WINAPI SetEvent(HANDLE hEvent)")
def SetEvent(c, h):
    return _bool_call(c, "NtSetEvent", h, 0)


@api(K32, "BOOL WINAPI ResetEvent(HANDLE hEvent)")
def ResetEvent(c, h):
    return _bool_call(c, "NtClearEvent", h)


@api(K32, "BOOL WINAPI PulseEvent(HANDLE hEvent)")
def PulseEvent(c, h):
    return _bool_call(c, "NtPulseEvent", h, 0)


# ================================================================================ mutexes
@api(K32, "HANDLE WINAPI CreateMutex%(LPSECURITY_ATTRIBUTES lpMutexAttributes, BOOL bInitialOwner, LPCTSTR lpName)")
def CreateMutex(c, sa, owner, name):
    return nt_create(c, "NtCreateMutant", name, sa, MUTANT_ALL_ACCESS, 1 if owner else 0)


@api(K32, "HANDLE WINAPI CreateMutexEx%(LPSECURITY_ATTRIBUTES lpMutexAttributes, LPCTSTR lpName, DWORD dwFlags, "
          "DWORD dwDesiredAccess)")
def CreateMutexEx(c, sa, name, flags, access):
    if flags & ~CREATE_MUTEX_INITIAL_OWNER:
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    return nt_create(c, "NtCreateMutant", name, sa, access, 1 if flags & CREATE_MUTEX_INITIAL_OWNER else 0)


@api(K32, "HANDLE WINAPI OpenMutex%(DWORD dwDesiredAccess, BOOL bInheritHandle, LPCTSTR lpName)")
def OpenMutex(c, access, inherit, name):
    return nt_open(c, "NtOpenMutant", access, inherit, name)


@api(K32, "BOOL WINAPI ReleaseMutex(HANDLE hMutex)")
def ReleaseMutex(c, h):
    return _bool_call(c, "NtReleaseMutant", h, 0)


# ================================================================================ semaphores
@api(K32, "HANDLE WINAPI CreateSemaphore%(LPSECURITY_ATTRIBUTES lpSemaphoreAttributes, LONG lInitialCount, "
          "LONG lMaximumCount, LPCTSTR lpName)")
def CreateSemaphore(c, sa, initial, maximum, name):
    return nt_create(c, "NtCreateSemaphore", name, sa, SEMAPHORE_ALL_ACCESS, initial, maximum)


@api(K32, "HANDLE WINAPI CreateSemaphoreEx%(LPSECURITY_ATTRIBUTES lpSemaphoreAttributes, LONG lInitialCount, "
          "LONG lMaximumCount, LPCTSTR lpName, DWORD dwFlags, DWORD dwDesiredAccess)")
def CreateSemaphoreEx(c, sa, initial, maximum, name, flags, access):
    if flags:
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    return nt_create(c, "NtCreateSemaphore", name, sa, access, initial, maximum)


@api(K32, "HANDLE WINAPI OpenSemaphore%(DWORD dwDesiredAccess, BOOL bInheritHandle, LPCTSTR lpName)")
def OpenSemaphore(c, access, inherit, name):
    return nt_open(c, "NtOpenSemaphore", access, inherit, name)


@api(K32, "BOOL WINAPI ReleaseSemaphore(HANDLE hSemaphore, LONG lReleaseCount, LPLONG lpPreviousCount)")
def ReleaseSemaphore(c, h, n, prevp):
    return _bool_call(c, "NtReleaseSemaphore", h, n, prevp)


# ================================================================================ waitable timers
@api(K32, "HANDLE WINAPI CreateWaitableTimer%(LPSECURITY_ATTRIBUTES lpTimerAttributes, BOOL bManualReset, "
          "LPCTSTR lpTimerName)")
def CreateWaitableTimer(c, sa, manual, name):
    return nt_create(c, "NtCreateTimer", name, sa, TIMER_ALL_ACCESS,
                     NotificationTimer if manual else SynchronizationTimer)


@api(K32, "HANDLE WINAPI CreateWaitableTimerEx%(LPSECURITY_ATTRIBUTES lpTimerAttributes, LPCTSTR lpTimerName, "
          "DWORD dwFlags, DWORD dwDesiredAccess)")
def CreateWaitableTimerEx(c, sa, name, flags, access):
    if flags & ~(CREATE_WAITABLE_TIMER_MANUAL_RESET | 0x2):   # 0x2: CREATE_WAITABLE_TIMER_HIGH_RESOLUTION
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    return nt_create(c, "NtCreateTimer", name, sa, access,
                     NotificationTimer if flags & CREATE_WAITABLE_TIMER_MANUAL_RESET else SynchronizationTimer)


@api(K32, "HANDLE WINAPI OpenWaitableTimer%(DWORD dwDesiredAccess, BOOL bInheritHandle, LPCTSTR lpTimerName)")
def OpenWaitableTimer(c, access, inherit, name):
    return nt_open(c, "NtOpenTimer", access, inherit, name)


@api(K32, "BOOL WINAPI SetWaitableTimer(HANDLE hTimer, const LARGE_INTEGER *lpDueTime, LONG lPeriod, "
          "PTIMERAPCROUTINE pfnCompletionRoutine, LPVOID lpArgToCompletionRoutine, BOOL fResume)")
def SetWaitableTimer(c, h, pdue, period, routine, arg, resume):
    """NtSetTimer: the completion routine is the timer's APC (called with the argument and the due time as a
    FILETIME's two halves, what PTIMERAPCROUTINE receives). A resume request is ignored: TRUE with
    ERROR_NOT_SUPPORTED, as documented."""
    if not pdue:
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    st = c.nt("NtSetTimer", h, pdue, routine, arg, 1 if resume else 0, period, 0)
    if _failed(st):
        c.set_last_nt_error(st)
        return 0
    c.set_last_error(ERROR_NOT_SUPPORTED if st == STATUS_TIMER_RESUME_IGNORED else 0)
    return 1


@api(K32, "BOOL WINAPI SetWaitableTimerEx(HANDLE hTimer, const LARGE_INTEGER *lpDueTime, LONG lPeriod, "
          "PTIMERAPCROUTINE pfnCompletionRoutine, LPVOID lpArgToCompletionRoutine, PVOID WakeContext, "
          "ULONG TolerableDelay)")
def SetWaitableTimerEx(c, h, pdue, period, routine, arg, wake, delay):
    return SetWaitableTimer(c, h, pdue, period, routine, arg, 0)


@api(K32, "BOOL WINAPI CancelWaitableTimer(HANDLE hTimer)")
def CancelWaitableTimer(c, h):
    return _bool_call(c, "NtCancelTimer", h, 0)


# ================================================================================ waits
def timeout_arg(c, ms: int) -> int:
    """BaseFormatTimeOut: NULL for INFINITE, else a relative LARGE_INTEGER (-ms × 10,000)."""
    if ms == kwait.INFINITE:
        return 0
    p = c.stack_alloc(8, 8)
    c.write(p, (-ms * kwait.TICKS_PER_MS).to_bytes(8, "little", signed=True))
    return p


def wait_result(c, st: int, alertable: bool) -> int:
    """A wait service's status as the Win32 wait functions return it: STATUS_USER_APC (the queued APCs run now)
    is WAIT_IO_COMPLETION, a failure WAIT_FAILED with the mapped error."""
    if _failed(st):
        c.set_last_nt_error(st)
        return kwait.WAIT_FAILED
    if st == STATUS_USER_APC:
        run_apcs(c)
        return kwait.WAIT_IO_COMPLETION
    return st


@api(K32, "DWORD WINAPI WaitForSingleObject(HANDLE hHandle, DWORD dwMilliseconds)")
def WaitForSingleObject(c, h, ms):
    return wait_result(c, c.nt("NtWaitForSingleObject", h, 0, timeout_arg(c, ms)), False)


@api(K32, "DWORD WINAPI WaitForSingleObjectEx(HANDLE hHandle, DWORD dwMilliseconds, BOOL bAlertable)",
     calls_guest=True)
def WaitForSingleObjectEx(c, h, ms, alertable):
    return wait_result(c, c.nt("NtWaitForSingleObject", h, 1 if alertable else 0, timeout_arg(c, ms)),
                       bool(alertable))


def _wait_multiple(c, n, p, wait_all, ms, alertable) -> int:
    if n == 0 or n > kwait.MAXIMUM_WAIT_OBJECTS or not p:
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return kwait.WAIT_FAILED
    st = c.nt("NtWaitForMultipleObjects", n, p, 0 if wait_all else 1, 1 if alertable else 0, timeout_arg(c, ms))
    return wait_result(c, st, bool(alertable))


@api(K32, "DWORD WINAPI WaitForMultipleObjects(DWORD nCount, const HANDLE *lpHandles, BOOL bWaitAll, "
          "DWORD dwMilliseconds)")
def WaitForMultipleObjects(c, n, p, wait_all, ms):
    return _wait_multiple(c, n, p, wait_all, ms, False)


@api(K32, "DWORD WINAPI WaitForMultipleObjectsEx(DWORD nCount, const HANDLE *lpHandles, BOOL bWaitAll, "
          "DWORD dwMilliseconds, BOOL bAlertable)", calls_guest=True)
def WaitForMultipleObjectsEx(c, n, p, wait_all, ms, alertable):
    return _wait_multiple(c, n, p, wait_all, ms, alertable)


@api(K32, "DWORD WINAPI SignalObjectAndWait(HANDLE hObjectToSignal, HANDLE hObjectToWaitOn, DWORD dwMilliseconds, "
          "BOOL bAlertable)", calls_guest=True)
def SignalObjectAndWait(c, hs, hw, ms, alertable):
    st = c.nt("NtSignalAndWaitForSingleObject", hs, hw, 1 if alertable else 0, timeout_arg(c, ms))
    return wait_result(c, st, bool(alertable))


# ================================================================================ critical sections
def _cs_fields(c, cs):
    ps = c.ptr_size
    return cs + ps, cs + ps + 4, cs + ps + 8  # LockCount, RecursionCount, OwningThread


def _locks(c) -> dict:
    return c.proc.subsystem.setdefault("k32_locks", {})


def _cs_lock(c, cs) -> KeyedLock:
    locks = _locks(c)
    lk = locks.get(("cs", cs))
    if lk is None:
        proc = c.proc
        ps = c.ptr_size
        owner_at = cs + ps + 8

        def owner() -> int:
            return int.from_bytes(proc.aspace.read(owner_at, ps), "little")

        def take(thread):
            proc.aspace.write(owner_at, thread.tid.to_bytes(ps, "little"))
            proc.aspace.write(cs + ps + 4, (1).to_bytes(4, "little"))

        lk = KeyedLock(lambda: f"critical section at 0x{cs:x} (owned by thread {owner()})",
                       lambda t: owner() == 0, take)
        locks[("cs", cs)] = lk
    return lk


@api(K32, "void WINAPI InitializeCriticalSection(LPCRITICAL_SECTION cs)")
def InitializeCriticalSection(c, cs):
    c.write(cs, bytes(40 if c.ptr_size == 8 else 24))
    # DebugInfo = (PVOID)-1: Windows 8 and later give a critical section no debug information unless asked for
    # (RTL_CRITICAL_SECTION_FLAG_FORCE_DEBUG_INFO); Wine's kernel32/tests/sync.c test_crit_section, on Windows
    c.write_ptr(cs, (1 << (8 * c.ptr_size)) - 1)
    c.write_u32(cs + c.ptr_size, 0xFFFFFFFF)  # LockCount = -1: free
    _locks(c).pop(("cs", cs), None)


@api(K32, "BOOL WINAPI InitializeCriticalSectionAndSpinCount(LPCRITICAL_SECTION cs, DWORD spin)")
def InitializeCriticalSectionAndSpinCount(c, cs, spin):
    InitializeCriticalSection(c, cs)
    c.write_ptr(cs + 3 * c.ptr_size + 8, spin & 0xFFFFFF)  # SpinCount
    return 1


@api(K32, "BOOL WINAPI InitializeCriticalSectionEx(LPCRITICAL_SECTION cs, DWORD spin, DWORD flags)")
def InitializeCriticalSectionEx(c, cs, spin, flags):
    return InitializeCriticalSectionAndSpinCount(c, cs, spin)


@api(K32, "DWORD WINAPI SetCriticalSectionSpinCount(LPCRITICAL_SECTION cs, DWORD spin)")
def SetCriticalSectionSpinCount(c, cs, spin):
    at = cs + 3 * c.ptr_size + 8  # SpinCount
    old = c.ptr(at)
    c.write_ptr(at, spin)
    return old & 0xFFFFFFFF


def _cs_try(c, cs) -> bool:
    lc, rc, ow = _cs_fields(c, cs)
    owner = c.ptr(ow)
    if owner == 0:
        c.write_ptr(ow, c.thread.tid)
        c.write_u32(rc, 1)
        c.write_u32(lc, (c.u32(lc) + 1) & 0xFFFFFFFF)
        return True
    if owner == c.thread.tid:
        c.write_u32(rc, c.u32(rc) + 1)
        c.write_u32(lc, (c.u32(lc) + 1) & 0xFFFFFFFF)
        return True
    return False


@api(K32, "void WINAPI EnterCriticalSection(LPCRITICAL_SECTION cs)")
def EnterCriticalSection(c, cs):
    key = kwait.call_key(c, "EnterCriticalSection")
    if kwait.take_done(c.thread, key) is not None:
        return  # handed over when the owner left (OwningThread/RecursionCount set then)
    if _cs_try(c, cs):
        return
    if c.proc.subsystem.get("shutdown"):
        # "While a process is exiting, if a call to EnterCriticalSection would block, it will instead terminate
        # the process immediately" (Microsoft's EnterCriticalSection documentation): a DLL_PROCESS_DETACH that
        # enters a section a terminated thread owned ends the process with ExitProcess's code
        from winhatch.kernel.ke.dispatcher import ProcessExit
        raise ProcessExit(c.proc.subsystem.get("exit_code", 0))
    lc = cs + c.ptr_size
    c.write_u32(lc, (c.u32(lc) + 1) & 0xFFFFFFFF)  # one more waiter
    raise WouldBlock(WaitBlock([_cs_lock(c, cs)], reason="EnterCriticalSection", key=key))


@api(K32, "BOOL WINAPI TryEnterCriticalSection(LPCRITICAL_SECTION cs)")
def TryEnterCriticalSection(c, cs):
    return 1 if _cs_try(c, cs) else 0


def _cs_release(c, cs, times: int = 1) -> int:
    """Leave `times` levels (all with times=-1); returns how many were left."""
    lc, rc, ow = _cs_fields(c, cs)
    n = c.u32(rc)
    if n == 0 or n >= 0x80000000 or c.ptr(ow) != c.thread.tid:
        if c.ptr(ow) == 0 and c.u32(lc) == 0xFFFFFFFF:
            # a free section without waiters that its caller does not hold: Windows takes a level off its
            # RecursionCount all the same (-1, -2, ...; LockCount stays, the next enter sets it right again:
            # Wine's ntdll rtl test, on Windows)
            c.write_u32(rc, (n - 1) & 0xFFFFFFFF)
            return 0
        # not owned by the caller: undefined on Windows; left alone here. A free section may have waiters to
        # wake: the native RtlLeaveCriticalSection (winhatch/win32/native_src/critsec.c) released it and
        # found some.
        if c.ptr(ow) == 0:
            c.machine.dispatcher.signal_waiters()
        return 0
    k = n if times < 0 else min(times, n)
    c.write_u32(rc, n - k)
    c.write_u32(lc, (c.u32(lc) - k) & 0xFFFFFFFF)
    if n - k == 0:
        c.write_ptr(ow, 0)
        c.machine.dispatcher.signal_waiters()
    return k


@api(K32, "void WINAPI LeaveCriticalSection(LPCRITICAL_SECTION cs)")
def LeaveCriticalSection(c, cs):
    _cs_release(c, cs)


@api(K32, "void WINAPI DeleteCriticalSection(LPCRITICAL_SECTION cs)")
def DeleteCriticalSection(c, cs):
    _locks(c).pop(("cs", cs), None)
    c.write_ptr(cs, 0)          # DebugInfo: NULL once deleted (the same test)


# ================================================================================ SRW locks
#: The lock is its guest word, shared with the machine code of the uncontended paths (native_src/srw.c):
#: 0 free, 1 held exclusively, (n << 4) | 1 held shared by n, SRW_WAITERS set while threads wait here (then every
#: call comes here, and a release wakes them).  Only the waiting threads are Python state.
SRW_LOCKED, SRW_WAITERS, SRW_SHARE = 1, 2, 16


class _Srw:
    def __init__(self, c, addr):
        self.proc = c.proc
        self.addr = addr
        self.ps = c.ptr_size
        self.waiting: set = set()   # threads blocked in AcquireSRWLock* / SleepConditionVariableSRW's reacquire
        self.xwaiting: set = set()  # those of them that want it exclusively
        self.xlock = KeyedLock(self._what, lambda t: self.free(), self._take_x)
        # an exclusive waiter is preferred: a shared acquire queues behind it even while the lock is held shared
        # (kernel32/sync.c test_srwlock_base, on Windows)
        self.slock = KeyedLock(self._what, lambda t: not self.exclusive() and not self._writer_waits(t),
                               self._take_s)

    def _writer_waits(self, t) -> bool:
        self.xwaiting = {w for w in self.xwaiting if getattr(w, "wait", None) is not None and w in self.waiting}
        return any(w is not t for w in self.xwaiting)

    def word(self) -> int:
        return int.from_bytes(self.proc.aspace.read(self.addr, self.ps), "little")

    def exclusive(self) -> bool:
        v = self.word()
        return bool(v & SRW_LOCKED) and v < SRW_SHARE

    def shared(self) -> int:
        v = self.word()
        return v >> 4 if v & SRW_LOCKED else 0

    def _what(self) -> str:
        if self.exclusive():
            return f"SRW lock at 0x{self.addr:x} (held exclusively)"
        return f"SRW lock at 0x{self.addr:x} (held shared by {self.shared()})"

    def free(self) -> bool:
        return not self.word() & SRW_LOCKED

    def store(self, held: int) -> None:
        """held: 0 free, -1 exclusive, n shared; the waiters bit from the waiting threads."""
        v = 0 if held == 0 else SRW_LOCKED if held < 0 else (held << 4) | SRW_LOCKED
        if self.waiting:
            v |= SRW_WAITERS
        self.proc.aspace.write(self.addr, v.to_bytes(self.ps, "little"))

    def wait(self, t, exclusive: bool = False) -> None:
        self.waiting.add(t)
        if exclusive:
            self.xwaiting.add(t)
        self.store(-1 if self.exclusive() else self.shared())

    def _take_x(self, t) -> None:
        self.waiting.discard(t)
        self.xwaiting.discard(t)
        self.store(-1)

    def _take_s(self, t) -> None:
        self.waiting.discard(t)
        self.xwaiting.discard(t)
        self.store(self.shared() + 1)


def _srw(c, addr) -> _Srw:
    locks = _locks(c)
    s = locks.get(("srw", addr))
    if s is None:
        s = locks[("srw", addr)] = _Srw(c, addr)
    return s


@api(K32, "void WINAPI InitializeSRWLock(PSRWLOCK SRWLock)")
def InitializeSRWLock(c, addr):
    c.write_ptr(addr, 0)
    _locks(c).pop(("srw", addr), None)


def _acquire_srw(c, addr, exclusive: bool) -> None:
    reason = "AcquireSRWLockExclusive" if exclusive else "AcquireSRWLockShared"
    key = kwait.call_key(c, reason)
    if kwait.take_done(c.thread, key) is not None:
        return
    s = _srw(c, addr)
    lk = s.xlock if exclusive else s.slock
    if lk.is_signaled_for(c.thread):
        lk.acquire(c.thread)
        return
    s.wait(c.thread, exclusive)
    raise WouldBlock(WaitBlock([lk], reason=reason, key=key))


@api(K32, "void WINAPI AcquireSRWLockExclusive(PSRWLOCK SRWLock)")
def AcquireSRWLockExclusive(c, addr):
    _acquire_srw(c, addr, True)


@api(K32, "void WINAPI AcquireSRWLockShared(PSRWLOCK SRWLock)")
def AcquireSRWLockShared(c, addr):
    _acquire_srw(c, addr, False)


@api(K32, "BOOLEAN WINAPI TryAcquireSRWLockExclusive(PSRWLOCK SRWLock)")
def TryAcquireSRWLockExclusive(c, addr):
    s = _srw(c, addr)
    if s.free():
        s._take_x(c.thread)
        return 1
    return 0


@api(K32, "BOOLEAN WINAPI TryAcquireSRWLockShared(PSRWLOCK SRWLock)")
def TryAcquireSRWLockShared(c, addr):
    s = _srw(c, addr)
    if not s.exclusive():
        s._take_s(c.thread)
        return 1
    return 0


@api(K32, "void WINAPI ReleaseSRWLockExclusive(PSRWLOCK SRWLock)")
def ReleaseSRWLockExclusive(c, addr):
    s = _srw(c, addr)
    if s.exclusive():
        s.store(0)
        c.machine.dispatcher.signal_waiters()


@api(K32, "void WINAPI ReleaseSRWLockShared(PSRWLOCK SRWLock)")
def ReleaseSRWLockShared(c, addr):
    s = _srw(c, addr)
    n = s.shared()
    if n <= 0:
        return
    s.store(n - 1)
    c.machine.dispatcher.signal_waiters()


# ================================================================================ condition variables
class _CvToken:
    """One sleeper on a condition variable: signalled by Wake(All)ConditionVariable."""

    def __init__(self, cv: int):
        self.cv = cv
        self.woken = False

    def is_signaled_for(self, thread) -> bool:
        return self.woken

    def describe(self) -> str:
        return f"condition variable at 0x{self.cv:x}"


def _cv_waiters(c, cv) -> list:
    return _locks(c).setdefault(("cv", cv), [])


@api(K32, "void WINAPI InitializeConditionVariable(PCONDITION_VARIABLE ConditionVariable)")
def InitializeConditionVariable(c, cv):
    c.write_ptr(cv, 0)
    _locks(c).pop(("cv", cv), None)


@api(K32, "void WINAPI WakeConditionVariable(PCONDITION_VARIABLE ConditionVariable)")
def WakeConditionVariable(c, cv):
    ws = _cv_waiters(c, cv)
    if ws:
        ws.pop(0).woken = True
        c.machine.dispatcher.signal_waiters()


@api(K32, "void WINAPI WakeAllConditionVariable(PCONDITION_VARIABLE ConditionVariable)")
def WakeAllConditionVariable(c, cv):
    ws = _cv_waiters(c, cv)
    for tok in ws:
        tok.woken = True
    ws.clear()
    c.machine.dispatcher.signal_waiters()


def _sleep_cv(c, cv, ms, reason, release, reacquire_lock, restore) -> int:
    """Release the lock, sleep on the condition variable (time-out `ms`), take the lock back."""
    key = kwait.call_key(c, reason)
    states = c.thread.__dict__.setdefault("callstate", {})
    st = states.get(key)
    done = kwait.take_done(c.thread, key)
    if st is None:
        saved = release()
        tok = _CvToken(cv)
        _cv_waiters(c, cv).append(tok)
        block = WaitBlock([tok], deadline=kwait.deadline_after(c.machine, ms), reason=reason, key=key)
        states[key] = {"phase": "cv", "saved": saved, "token": tok, "block": block}
        raise WouldBlock(block)
    if done is None:  # re-run without a completed wait: keep waiting where we were
        raise WouldBlock(st["block"])
    if st["phase"] == "cv":
        timed_out = done.status == kwait.WAIT_TIMEOUT
        if timed_out:
            ws = _cv_waiters(c, cv)
            if st["token"] in ws:
                ws.remove(st["token"])
        st["timed_out"] = timed_out
        lk = reacquire_lock(st["saved"])
        if lk is not None:  # the lock is busy: wait for it (handed over on release)
            st["phase"] = "lock"
            st["block"] = WaitBlock([lk], reason=reason, key=key)
            raise WouldBlock(st["block"])
    restore(st["saved"])
    del states[key]
    if st["timed_out"]:
        c.set_last_error(ERROR_TIMEOUT)
        return 0
    return 1


@api(K32, "BOOL WINAPI SleepConditionVariableCS(PCONDITION_VARIABLE ConditionVariable, PCRITICAL_SECTION "
          "CriticalSection, DWORD dwMilliseconds)")
def SleepConditionVariableCS(c, cv, cs, ms):
    def release():
        return _cs_release(c, cs, -1)

    def reacquire(saved):
        if _cs_try(c, cs):
            return None
        lc = cs + c.ptr_size
        c.write_u32(lc, (c.u32(lc) + 1) & 0xFFFFFFFF)
        return _cs_lock(c, cs)

    def restore(saved):
        lc, rc, _ow = _cs_fields(c, cs)
        extra = max(0, saved - 1)  # recursion levels beyond the one the take gave us
        c.write_u32(rc, c.u32(rc) + extra)
        c.write_u32(lc, (c.u32(lc) + extra) & 0xFFFFFFFF)

    return _sleep_cv(c, cv, ms, "SleepConditionVariableCS", release, reacquire, restore)


CONDITION_VARIABLE_LOCKMODE_SHARED = 0x1


@api(K32, "BOOL WINAPI SleepConditionVariableSRW(PCONDITION_VARIABLE ConditionVariable, PSRWLOCK SRWLock, "
          "DWORD dwMilliseconds, ULONG Flags)")
def SleepConditionVariableSRW(c, cv, addr, ms, flags):
    shared = bool(flags & CONDITION_VARIABLE_LOCKMODE_SHARED)

    def release():
        if shared:
            ReleaseSRWLockShared(c, addr)
        else:
            ReleaseSRWLockExclusive(c, addr)
        return shared

    def reacquire(saved):
        s = _srw(c, addr)
        lk = s.slock if shared else s.xlock
        if lk.is_signaled_for(c.thread):
            lk.acquire(c.thread)
            return None
        s.wait(c.thread, not shared)
        return lk

    return _sleep_cv(c, cv, ms, "SleepConditionVariableSRW", release, reacquire, lambda saved: None)


# ================================================================================ one-time initialisation
RTL_RUN_ONCE_IN_PROGRESS, RTL_RUN_ONCE_DONE = 1, 2


def _wait_in_progress(c, once: int, reason: str, key) -> None:
    """Block the caller until the INIT_ONCE at `once` is no longer in progress (its owner completed or failed)."""
    proc = c.proc
    ps = c.ptr_size
    lk = KeyedLock(f"one-time initialisation at 0x{once:x} (in progress)",
                   lambda t: int.from_bytes(proc.aspace.read(once, ps), "little") & 3 != RTL_RUN_ONCE_IN_PROGRESS)
    raise WouldBlock(WaitBlock([lk], reason=reason, key=key))


@api(K32, "void WINAPI InitOnceInitialize(PINIT_ONCE InitOnce)")
def InitOnceInitialize(c, once):
    c.write_ptr(once, 0)


@api(K32, "BOOL WINAPI InitOnceExecuteOnce(PINIT_ONCE InitOnce, PINIT_ONCE_FN InitFn, PVOID Parameter, "
          "LPVOID *Context)", calls_guest=True)
def InitOnceExecuteOnce(c, once, fn, param, ctxp):
    key = kwait.call_key(c, "InitOnceExecuteOnce")
    kwait.take_done(c.thread, key)
    val = c.ptr(once)
    if val & 3 == RTL_RUN_ONCE_DONE:
        if ctxp:
            c.write_ptr(ctxp, val & ~3)
        return 1
    if val & 3 == RTL_RUN_ONCE_IN_PROGRESS:  # another thread runs the initialiser: wait for its outcome
        _wait_in_progress(c, once, "InitOnceExecuteOnce", key)
    c.write_ptr(once, RTL_RUN_ONCE_IN_PROGRESS)
    ok = c.machine.dispatcher.call_guest(c.thread, fn, [once, param, ctxp]) & 0xFFFFFFFF
    if ok:
        ctx = c.ptr(ctxp) if ctxp else 0
        c.write_ptr(once, (ctx & ~3) | RTL_RUN_ONCE_DONE)
    else:
        c.write_ptr(once, 0)
    c.machine.dispatcher.signal_waiters()
    return 1 if ok else 0


INIT_ONCE_CHECK_ONLY, INIT_ONCE_ASYNC, INIT_ONCE_INIT_FAILED = 0x1, 0x2, 0x4
RTL_RUN_ONCE_ASYNC_PENDING = 3       # the low bits of an INIT_ONCE while asynchronous attempts run
ERROR_GEN_FAILURE = 31


@api(K32, "BOOL WINAPI InitOnceBeginInitialize(LPINIT_ONCE lpInitOnce, DWORD dwFlags, PBOOL fPending, "
          "LPVOID *lpContext)")
def InitOnceBeginInitialize(c, once, flags, pending, ctxp):
    """The two-call form of InitOnceExecuteOnce (synchronous mode): done — *fPending FALSE and the context;
    not started — the caller owns the initialisation (*fPending TRUE, the INIT_ONCE reads in progress);
    in progress on another thread — wait for its InitOnceComplete. INIT_ONCE_CHECK_ONLY never starts it:
    ERROR_GEN_FAILURE when not done. INIT_ONCE_ASYNC: every caller may attempt it in parallel (Wine's kernel32
    sync test, which passes on Windows, gives the states and errors)."""
    if flags & ~(INIT_ONCE_CHECK_ONLY | INIT_ONCE_ASYNC) or not pending \
            or flags & (INIT_ONCE_CHECK_ONLY | INIT_ONCE_ASYNC) == INIT_ONCE_CHECK_ONLY | INIT_ONCE_ASYNC:
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    val = c.ptr(once)
    if flags & INIT_ONCE_ASYNC:
        # asynchronous mode: every caller may run the initialisation (*fPending TRUE, the INIT_ONCE reads 3)
        # until one of them completes it; a synchronous one in progress: ERROR_INVALID_PARAMETER
        if val & 3 == RTL_RUN_ONCE_DONE:
            c.write_u32(pending, 0)
            if ctxp:
                c.write_ptr(ctxp, val & ~3)
            return 1
        if val & 3 == RTL_RUN_ONCE_IN_PROGRESS:
            c.set_last_error(ERROR_INVALID_PARAMETER)
            return 0
        c.write_ptr(once, RTL_RUN_ONCE_ASYNC_PENDING)
        c.write_u32(pending, 1)
        return 1
    if val & 3 == RTL_RUN_ONCE_ASYNC_PENDING and not flags & INIT_ONCE_CHECK_ONLY:
        c.set_last_error(ERROR_INVALID_PARAMETER)      # an asynchronous initialisation is under way
        return 0
    key = kwait.call_key(c, "InitOnceBeginInitialize")
    kwait.take_done(c.thread, key)
    val = c.ptr(once)
    if val & 3 == RTL_RUN_ONCE_DONE:
        c.write_u32(pending, 0)
        if ctxp:
            c.write_ptr(ctxp, val & ~3)
        return 1
    if flags & INIT_ONCE_CHECK_ONLY:
        c.set_last_error(ERROR_GEN_FAILURE)
        return 0
    if val & 3 == RTL_RUN_ONCE_IN_PROGRESS:
        _wait_in_progress(c, once, "InitOnceBeginInitialize", key)
    c.write_ptr(once, RTL_RUN_ONCE_IN_PROGRESS)
    c.write_u32(pending, 1)
    return 1


@api(K32, "BOOL WINAPI InitOnceComplete(LPINIT_ONCE lpInitOnce, DWORD dwFlags, LPVOID lpContext)")
def InitOnceComplete(c, once, flags, ctx):
    """Ends the initialisation InitOnceBeginInitialize started: done with lpContext (its low two bits must
    be clear: ERROR_INVALID_PARAMETER), or with INIT_ONCE_INIT_FAILED back to not started. An INIT_ONCE that is
    not in progress: ERROR_GEN_FAILURE."""
    if flags & ~(INIT_ONCE_ASYNC | INIT_ONCE_INIT_FAILED) or (flags & INIT_ONCE_INIT_FAILED and ctx) \
            or ctx & 3 or flags & (INIT_ONCE_ASYNC | INIT_ONCE_INIT_FAILED) == INIT_ONCE_ASYNC | INIT_ONCE_INIT_FAILED:
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    state = c.ptr(once) & 3
    if flags & INIT_ONCE_ASYNC:
        # the first of the parallel attempts to complete wins; a later one: ERROR_GEN_FAILURE (STATUS_UNSUCCESSFUL:
        # another thread completed it); one that was never started: ERROR_INVALID_PARAMETER
        if state == RTL_RUN_ONCE_DONE:
            c.set_last_error(ERROR_GEN_FAILURE)
            return 0
        if state == 0:
            c.set_last_error(ERROR_INVALID_PARAMETER)
            return 0
        c.write_ptr(once, ctx | RTL_RUN_ONCE_DONE)       # (a synchronous one in progress too, as Wine does)
        c.machine.dispatcher.signal_waiters()
        return 1
    if state == RTL_RUN_ONCE_ASYNC_PENDING:
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    if state != RTL_RUN_ONCE_IN_PROGRESS:
        c.set_last_error(ERROR_GEN_FAILURE)
        return 0
    c.write_ptr(once, 0 if flags & INIT_ONCE_INIT_FAILED else (ctx | RTL_RUN_ONCE_DONE))
    c.machine.dispatcher.signal_waiters()
    return 1


# ================================================================================ Interlocked (x86 kernel32 exports)
def _s32(v: int) -> int:
    return v & 0xFFFFFFFF


@api("kernel32.dll", "LONG WINAPI InterlockedIncrement(LONG volatile *Addend)")
def InterlockedIncrement(c, p):
    v = _s32(c.u32(p) + 1)
    c.write_u32(p, v)
    return v


@api("kernel32.dll", "LONG WINAPI InterlockedDecrement(LONG volatile *Addend)")
def InterlockedDecrement(c, p):
    v = _s32(c.u32(p) - 1)
    c.write_u32(p, v)
    return v


@api("kernel32.dll", "LONG WINAPI InterlockedExchange(LONG volatile *Target, LONG Value)")
def InterlockedExchange(c, p, v):
    old = c.u32(p)
    c.write_u32(p, v)
    return old


@api("kernel32.dll", "LONG WINAPI InterlockedExchangeAdd(LONG volatile *Addend, LONG Value)")
def InterlockedExchangeAdd(c, p, v):
    old = c.u32(p)
    c.write_u32(p, old + v)
    return old


@api("kernel32.dll", "LONG WINAPI InterlockedCompareExchange(LONG volatile *Destination, LONG Exchange, "
     "LONG Comperand)")
def InterlockedCompareExchange(c, p, xchg, cmp):
    old = c.u32(p)
    if old == _s32(cmp):
        c.write_u32(p, xchg)
    return old


@api("kernel32.dll", "LONGLONG WINAPI InterlockedCompareExchange64(LONGLONG volatile *Destination, "
     "LONGLONG Exchange, LONGLONG Comperand)")
def InterlockedCompareExchange64(c, p, xchg, cmp):
    old = int.from_bytes(c.read(p, 8), "little")
    if old == cmp & 0xFFFFFFFFFFFFFFFF:
        c.write_u64(p, xchg)
    return old


# ================================================================================ waits on an address
# WaitOnAddress / WakeByAddressSingle / WakeByAddressAll (kernelbase; the wakes forward to ntdll's
# RtlWakeAddress*). A waiter sleeps only while the value at Address equals the one at CompareAddress
# (compared when the call is made, as the real one does under its lock); a wake releases waiters in the
# order they went to sleep. A woken waiter returns TRUE without looking at the value again (callers loop).
STATUS_TIMEOUT = 0x102


class _AddressToken(_CvToken):
    def describe(self) -> str:
        return f"WaitOnAddress 0x{self.cv:x}"


def _addr_waiters(c, addr) -> list:
    return _locks(c).setdefault(("addr", addr), [])


def _wait_on_address(c, addr, cmp_addr, size, deadline_ticks, reason) -> int:
    """STATUS_SUCCESS, STATUS_TIMEOUT or STATUS_INVALID_PARAMETER; raises WouldBlock to sleep."""
    key = kwait.call_key(c, reason)
    states = c.thread.__dict__.setdefault("callstate", {})
    st = states.get(key)
    done = kwait.take_done(c.thread, key)
    if st is not None:
        if done is None:
            raise WouldBlock(st["block"])
        del states[key]
        if done.status == kwait.WAIT_TIMEOUT:
            ws = _addr_waiters(c, addr)
            if st["token"] in ws:
                ws.remove(st["token"])
            return STATUS_TIMEOUT
        return 0
    if size not in (1, 2, 4, 8):
        return 0xC000000D
    if c.read(addr, size) != c.read(cmp_addr, size):
        return 0
    if deadline_ticks is not None and deadline_ticks <= c.machine.clock.now():
        return STATUS_TIMEOUT
    tok = _AddressToken(addr)
    _addr_waiters(c, addr).append(tok)
    block = WaitBlock([tok], deadline=deadline_ticks, reason=reason, key=key)
    states[key] = {"token": tok, "block": block}
    raise WouldBlock(block)


@api("kernelbase.dll", "BOOL WINAPI WaitOnAddress(volatile VOID *Address, PVOID CompareAddress, SIZE_T AddressSize, "
                       "DWORD dwMilliseconds)")
def WaitOnAddress(c, addr, cmp_addr, size, ms):
    status = _wait_on_address(c, addr, cmp_addr, size, kwait.deadline_after(c.machine, ms), "WaitOnAddress")
    if status == STATUS_TIMEOUT:
        c.set_last_error(ERROR_TIMEOUT)
        return 0
    if status:
        c.set_last_error(nt_to_win32(status))
        return 0
    return 1


@api("ntdll.dll", "NTSTATUS NTAPI RtlWaitOnAddress(const void *Address, const void *CompareAddress, "
                  "SIZE_T AddressSize, const LARGE_INTEGER *Timeout)")
def RtlWaitOnAddress(c, addr, cmp_addr, size, timeout_ptr):
    """Timeout: NULL waits for ever; negative is relative, positive an absolute system time (100 ns)."""
    deadline = None
    if timeout_ptr:
        t = int.from_bytes(c.read(timeout_ptr, 8), "little", signed=True)
        now = c.machine.clock.now()
        deadline = now - t if t <= 0 else now + max(0, t - c.machine.clock.system_time())
    return _wait_on_address(c, addr, cmp_addr, size, deadline, "RtlWaitOnAddress")


@api("ntdll.dll", "void NTAPI RtlWakeAddressSingle(const void *Address)")
def RtlWakeAddressSingle(c, addr):
    ws = _addr_waiters(c, addr)
    if ws:
        ws.pop(0).woken = True
        c.machine.dispatcher.signal_waiters()


@api("ntdll.dll", "void NTAPI RtlWakeAddressAll(const void *Address)")
def RtlWakeAddressAll(c, addr):
    ws = _addr_waiters(c, addr)
    for tok in ws:
        tok.woken = True
    ws.clear()
    c.machine.dispatcher.signal_waiters()
