"""kernel32 / kernelbase: threads — creation (local and remote, suspended), exit and termination, suspend and
resume counts, priorities, Sleep and yielding, APCs, TLS slots and fiber-local storage.

A new thread is created by the kernel's PspCreateThread (stack, TEB, context) and starts, like the first one,
at ntdll!LdrInitializeThunk (DLL_THREAD_ATTACH and TLS callbacks under the loader lock), then
RtlUserThreadStart calls its start routine; returning from it is ExitThread. The scheduler is
`winhatch.kernel.ke.dispatcher`.
"""
from __future__ import annotations

from winhatch.kernel.ke import wait as kwait
from winhatch.kernel.ke.dispatcher import ThreadExit
from winhatch.kernel.ob.access import THREAD_ALL_ACCESS
from winhatch.kernel.ps.create import PspCreateThread
from winhatch.kernel.structs import PEB, TEB
from winhatch.ldr import ntdll
from winhatch.ldr.heap import HEAP_ZERO_MEMORY
from winhatch.ntstatus import (ERROR_ACCESS_DENIED, ERROR_INVALID_HANDLE, ERROR_INVALID_PARAMETER,
                               ERROR_NOT_ENOUGH_MEMORY, NtStatusError, nt_to_win32)
from winhatch.win32.api import api

from winhatch.win32.kernel32.common import heap_alloc, lookup, sa_inherit

K32 = ("kernel32.dll", "kernelbase.dll")
CREATE_SUSPENDED = 0x4
STACK_SIZE_PARAM_IS_A_RESERVATION = 0x10000
STILL_ACTIVE = 259
MAXIMUM_SUSPEND_COUNT = 127
THREAD_TERMINATE, THREAD_SUSPEND_RESUME, THREAD_QUERY_INFORMATION = 0x1, 0x2, 0x40
THREAD_SET_INFORMATION, THREAD_QUERY_LIMITED_INFORMATION = 0x20, 0x800
PROCESS_CREATE_THREAD = 0x2
THREAD_PRIORITY_IDLE, THREAD_PRIORITY_TIME_CRITICAL = -15, 15
THREAD_PRIORITY_ERROR_RETURN = 0x7FFFFFFF
ERROR_NO_MORE_ITEMS = 259
DEFAULT_MAX_THREADS = 512


# ------------------------------------------------------------------------------------------ helpers
def live_threads(machine) -> int:
    return sum(1 for p in machine.processes if not p.exited for t in p.threads if not t.terminated)


def create_thread(c, proc, sa, stack, start, param, flags, ptid, *, api_name: str) -> int:
    """CreateThread / CreateRemoteThread: PspCreateThread in `proc`, a handle in the caller's table."""
    machine = c.machine
    limit = machine.limits.get("max_threads", DEFAULT_MAX_THREADS)
    if proc.exited:
        c.set_last_error(ERROR_ACCESS_DENIED)
        return 0
    if live_threads(machine) >= limit:
        machine.events.emit("thread", "limit_reached", c.proc.pid, c.thread.tid, api=api_name, limit=limit,
                            what="threads")
        machine.subsystem.setdefault("limits_hit", []).append({"what": "threads", "limit": limit,
                                                               "pid": c.proc.pid, "api": api_name})
        c.set_last_error(ERROR_NOT_ENOUGH_MEMORY)
        return 0
    reserve = commit = 0
    if flags & STACK_SIZE_PARAM_IS_A_RESERVATION:
        reserve = stack
    else:
        commit = stack
    pe = getattr(proc.image_section, "pe", None)
    if pe is not None:
        reserve = reserve or pe.size_of_stack_reserve
        commit = commit or pe.size_of_stack_commit
    if commit and reserve and commit > reserve:
        reserve = (commit + 0xFFFFF) & ~0xFFFFF  # the reservation grows to hold the commit (1 MB steps)
    try:
        thread = PspCreateThread(machine, proc, start=start, parameter=param, stack_reserve=reserve,
                                 stack_commit=commit, suspended=bool(flags & CREATE_SUSPENDED))
    except NtStatusError as e:
        c.set_last_error(nt_to_win32(e.status))
        return 0
    if proc.csr is not None:
        from winhatch.kernel.ps.objects import CsrThread
        thread.csr = CsrThread(thread.tid, proc.pid)
        proc.csr.threads.append(thread.csr)
    h = c.proc.handles.insert(thread, THREAD_ALL_ACCESS, inherit=sa_inherit(c, sa))
    if ptid:
        c.write_u32(ptid, thread.tid)
    if thread.runnable:
        machine.dispatcher.thread_ready(thread)
    return h


# ------------------------------------------------------------------------------------------ creation and exit
@api(K32, "HANDLE WINAPI CreateThread(LPSECURITY_ATTRIBUTES lpThreadAttributes, SIZE_T dwStackSize, "
          "LPTHREAD_START_ROUTINE lpStartAddress, LPVOID lpParameter, DWORD dwCreationFlags, LPDWORD lpThreadId)")
def CreateThread(c, sa, stack, start, param, flags, ptid):
    return create_thread(c, c.proc, sa, stack, start, param, flags, ptid, api_name="CreateThread")


@api(K32, "HANDLE WINAPI CreateRemoteThread(HANDLE hProcess, LPSECURITY_ATTRIBUTES lpThreadAttributes, "
          "SIZE_T dwStackSize, LPTHREAD_START_ROUTINE lpStartAddress, LPVOID lpParameter, DWORD dwCreationFlags, "
          "LPDWORD lpThreadId)")
def CreateRemoteThread(c, hp, sa, stack, start, param, flags, ptid):
    proc = lookup(c, hp, "Process", PROCESS_CREATE_THREAD)
    if proc is None:
        return 0
    if proc.cpu is None:
        c.set_last_error(ERROR_ACCESS_DENIED)  # the system's pseudo-processes run no user threads
        return 0
    return create_thread(c, proc, sa, stack, start, param, flags, ptid, api_name="CreateRemoteThread")


@api(K32, "HANDLE WINAPI CreateRemoteThreadEx(HANDLE hProcess, LPSECURITY_ATTRIBUTES lpThreadAttributes, "
          "SIZE_T dwStackSize, LPTHREAD_START_ROUTINE lpStartAddress, LPVOID lpParameter, DWORD dwCreationFlags, "
          "LPVOID lpAttributeList, LPDWORD lpThreadId)")
def CreateRemoteThreadEx(c, hp, sa, stack, start, param, flags, attrs, ptid):
    return CreateRemoteThread(c, hp, sa, stack, start, param, flags, ptid)


@api(K32, "void WINAPI ExitThread(DWORD dwExitCode)", calls_guest=True)
def ExitThread(c, code):
    ntdll.RtlExitUserThread(c.machine, c.thread, code)


@api("ntdll.dll", "void NTAPI RtlExitUserThread(DWORD Status)", calls_guest=True)
def RtlExitUserThread(c, code):
    ntdll.RtlExitUserThread(c.machine, c.thread, code)


@api(K32, "BOOL WINAPI TerminateThread(HANDLE hThread, DWORD dwExitCode)")
def TerminateThread(c, h, code):
    t = lookup(c, h, "Thread", THREAD_TERMINATE)
    if t is None:
        return 0
    if t is c.thread:
        raise ThreadExit(code)  # no DLL detach: the thread just ends
    if not t.terminated:
        c.machine.terminate_thread(t, code)
    return 1


@api(K32, "BOOL WINAPI GetExitCodeThread(HANDLE hThread, LPDWORD lpExitCode)")
def GetExitCodeThread(c, h, p):
    t = lookup(c, h, "Thread", THREAD_QUERY_LIMITED_INFORMATION)
    if t is None:
        return 0
    if not p:
        c.set_last_error(998)  # ERROR_NOACCESS
        return 0
    c.write_u32(p, t.exit_status if t.terminated else STILL_ACTIVE)
    return 1


@api(K32, "HANDLE WINAPI OpenThread(DWORD dwDesiredAccess, BOOL bInheritHandle, DWORD dwThreadId)")
def OpenThread(c, access, inherit, tid):
    t = c.machine.cid.lookup(tid)
    if t is None or getattr(t, "type_name", "") != "Thread" or t.process.exited:
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    return c.proc.handles.insert(t, access, inherit=bool(inherit))


# ------------------------------------------------------------------------------------------ suspend / resume
def _suspend(c, h) -> int:
    t = lookup(c, h, "Thread", THREAD_SUSPEND_RESUME)
    if t is None:
        return 0xFFFFFFFF
    if t.terminated:
        c.set_last_error(ERROR_ACCESS_DENIED)
        return 0xFFFFFFFF
    prev = t.suspend_count
    if prev >= MAXIMUM_SUSPEND_COUNT:
        c.set_last_error(156)  # ERROR_SIGNAL_REFUSED
        return 0xFFFFFFFF
    t.suspend_count += 1
    if t is c.thread:
        c.machine.dispatcher.end_slice()  # suspended itself: it stops after this call
    return prev


@api(K32, "DWORD WINAPI SuspendThread(HANDLE hThread)")
def SuspendThread(c, h):
    return _suspend(c, h)


@api(K32, "DWORD WINAPI Wow64SuspendThread(HANDLE hThread)")
def Wow64SuspendThread(c, h):
    return _suspend(c, h)


@api(K32, "DWORD WINAPI ResumeThread(HANDLE hThread)")
def ResumeThread(c, h):
    t = lookup(c, h, "Thread", THREAD_SUSPEND_RESUME)
    if t is None:
        return 0xFFFFFFFF
    prev = t.suspend_count
    if prev > 0:
        t.suspend_count -= 1
        if t.runnable:
            c.machine.dispatcher.thread_ready(t)
    return prev


# ------------------------------------------------------------------------------------------ ids and priorities
@api(K32, "DWORD WINAPI GetThreadId(HANDLE Thread)")
def GetThreadId(c, h):
    t = lookup(c, h, "Thread", THREAD_QUERY_LIMITED_INFORMATION)
    return 0 if t is None else t.tid


@api(K32, "DWORD WINAPI GetProcessIdOfThread(HANDLE Thread)")
def GetProcessIdOfThread(c, h):
    t = lookup(c, h, "Thread", THREAD_QUERY_LIMITED_INFORMATION)
    return 0 if t is None else t.process.pid


def _effective_delta(t, rel: int) -> int:
    base = t.process.base_priority
    if rel == THREAD_PRIORITY_IDLE:
        return (16 if base >= 16 else 1) - base
    if rel == THREAD_PRIORITY_TIME_CRITICAL:
        return (31 if base >= 16 else 15) - base
    return rel


@api(K32, "BOOL WINAPI SetThreadPriority(HANDLE hThread, int nPriority)")
def SetThreadPriority(c, h, prio):
    t = lookup(c, h, "Thread", THREAD_SET_INFORMATION)
    if t is None:
        return 0
    rel = prio - (1 << 32) if prio & 0x80000000 else prio
    if rel not in (-2, -1, 0, 1, 2, THREAD_PRIORITY_IDLE, THREAD_PRIORITY_TIME_CRITICAL):
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    t.priority_rel = rel
    t.priority_delta = _effective_delta(t, rel)
    t.priority = t.process.base_priority + t.priority_delta
    return 1


@api(K32, "int WINAPI GetThreadPriority(HANDLE hThread)")
def GetThreadPriority(c, h):
    t = lookup(c, h, "Thread", THREAD_QUERY_LIMITED_INFORMATION)
    if t is None:
        return THREAD_PRIORITY_ERROR_RETURN
    return getattr(t, "priority_rel", 0) & 0xFFFFFFFF


@api(K32, "BOOL WINAPI SetThreadPriorityBoost(HANDLE hThread, BOOL bDisablePriorityBoost)")
def SetThreadPriorityBoost(c, h, disable):
    t = lookup(c, h, "Thread", THREAD_SET_INFORMATION)
    if t is None:
        return 0
    t.boost_disabled = bool(disable)
    return 1


# ------------------------------------------------------------------------------------------ sleeping, yielding, APCs
def run_apcs(c) -> int:
    """Deliver the thread's queued user APCs (an alertable wait ended with WAIT_IO_COMPLETION)."""
    apcs = kwait.pending_apcs(c.thread)
    n = 0
    while apcs:
        fn, args = apcs.pop(0)
        c.machine.dispatcher.call_guest(c.thread, fn, args)
        n += 1
    return n


def alertable_wait(c, objects, wait_all, ms, alertable, reason) -> int:
    st = kwait.wait_for(c, objects, wait_all, ms, reason=reason, alertable=alertable)
    if st == kwait.WAIT_IO_COMPLETION:
        run_apcs(c)
    return st


@api(K32, "DWORD WINAPI SleepEx(DWORD dwMilliseconds, BOOL bAlertable)", calls_guest=True)
def SleepEx(c, ms, alertable):
    if ms == 0 and not (alertable and kwait.pending_apcs(c.thread)):
        c.machine.dispatcher.end_slice()
        return 0
    st = alertable_wait(c, [], False, ms, bool(alertable), "SleepEx")
    return kwait.WAIT_IO_COMPLETION if st == kwait.WAIT_IO_COMPLETION else 0


@api(K32, "void WINAPI Sleep(DWORD dwMilliseconds)")
def Sleep(c, ms):
    if ms == 0:
        c.machine.dispatcher.end_slice()
        return
    kwait.wait_for(c, [], False, ms, reason="Sleep")


@api(K32, "BOOL WINAPI SwitchToThread(void)")
def SwitchToThread(c):
    others = [t for t in c.machine.dispatcher.runnable_threads() if t is not c.thread]
    c.machine.dispatcher.end_slice()
    return 1 if others else 0


@api(K32, "DWORD WINAPI QueueUserAPC(PAPCFUNC pfnAPC, HANDLE hThread, ULONG_PTR dwData)")
def QueueUserAPC(c, fn, h, data):
    t = lookup(c, h, "Thread", 0x10)  # THREAD_SET_CONTEXT
    if t is None:
        return 0
    if t.terminated or t.process is not c.proc and t.process.exited:
        c.set_last_error(ERROR_INVALID_HANDLE)
        return 0
    kwait.queue_apc(c.machine, t, fn, [data])
    return 1


# ------------------------------------------------------------------------------------------ TLS slots
# As on Windows: 64 slots in the TEB (TlsSlots) and 1024 expansion slots in a per-thread array allocated on
# first use (TEB.TlsExpansionSlots, from the process heap); which indexes are allocated is the PEB's bitmaps
# (PEB.TlsBitmap over TlsBitmapBits, PEB.TlsExpansionBitmap over TlsExpansionBitmapBits), in guest memory.
TLS_MINIMUM_AVAILABLE = 64
TLS_EXPANSION_SLOTS = 1024
TLS_OUT_OF_INDEXES = 0xFFFFFFFF


def _tls_slot(c, teb: int, i: int) -> int:
    return teb + TEB.offset(c.arch, "TlsSlots") + i * c.ptr_size


def _expansion(c, teb: int) -> int:
    return c.ptr(teb + TEB.offset(c.arch, "TlsExpansionSlots"))


def _tls_bitmap(c, i: int) -> tuple[int, int]:
    """(address of the ULONG holding index i's bit, the bit) in the PEB's bitmaps."""
    field, j = ("TlsBitmapBits", i) if i < TLS_MINIMUM_AVAILABLE else ("TlsExpansionBitmapBits",
                                                                      i - TLS_MINIMUM_AVAILABLE)
    return c.proc.peb + PEB.offset(c.arch, field) + 4 * (j // 32), 1 << (j % 32)


def _tls_zero_cell(c, i: int) -> None:
    """NtSetInformationThread(ThreadZeroTlsCell) for every thread of the process."""
    for t in c.proc.threads:
        if t.terminated:
            continue
        if i < TLS_MINIMUM_AVAILABLE:
            c.write_ptr(_tls_slot(c, t.teb, i), 0)
        else:
            exp = _expansion(c, t.teb)
            if exp:
                c.write_ptr(exp + (i - TLS_MINIMUM_AVAILABLE) * c.ptr_size, 0)


@api(K32, "DWORD WINAPI TlsAlloc(void)")
def TlsAlloc(c):
    for i in range(TLS_MINIMUM_AVAILABLE + TLS_EXPANSION_SLOTS):
        addr, bit = _tls_bitmap(c, i)
        word = c.u32(addr)
        if not word & bit:
            c.write_u32(addr, word | bit)
            _tls_zero_cell(c, i)
            return i
    c.set_last_error(ERROR_NO_MORE_ITEMS)
    return TLS_OUT_OF_INDEXES


@api(K32, "LPVOID WINAPI TlsGetValue(DWORD dwTlsIndex)")
def TlsGetValue(c, i):
    """No check that the index is allocated (documented): a valid index reads its cell and clears the last
    error; an expansion index of a thread without expansion slots reads NULL."""
    if i < TLS_MINIMUM_AVAILABLE:
        c.set_last_error(0)
        return c.ptr(_tls_slot(c, c.thread.teb, i))
    if i >= TLS_MINIMUM_AVAILABLE + TLS_EXPANSION_SLOTS:
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    c.set_last_error(0)
    exp = _expansion(c, c.thread.teb)
    return c.ptr(exp + (i - TLS_MINIMUM_AVAILABLE) * c.ptr_size) if exp else 0


@api(K32, "BOOL WINAPI TlsSetValue(DWORD dwTlsIndex, LPVOID lpTlsValue)")
def TlsSetValue(c, i, v):
    if i < TLS_MINIMUM_AVAILABLE:
        c.write_ptr(_tls_slot(c, c.thread.teb, i), v)
        return 1
    if i >= TLS_MINIMUM_AVAILABLE + TLS_EXPANSION_SLOTS:
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    teb = c.thread.teb
    exp = _expansion(c, teb)
    if not exp:
        exp = heap_alloc(c, TLS_EXPANSION_SLOTS * c.ptr_size, HEAP_ZERO_MEMORY)
        if not exp:
            c.set_last_error(ERROR_NOT_ENOUGH_MEMORY)
            return 0
        c.write_ptr(teb + TEB.offset(c.arch, "TlsExpansionSlots"), exp)
    c.write_ptr(exp + (i - TLS_MINIMUM_AVAILABLE) * c.ptr_size, v)
    return 1


@api(K32, "BOOL WINAPI TlsFree(DWORD dwTlsIndex)")
def TlsFree(c, i):
    if i >= TLS_MINIMUM_AVAILABLE + TLS_EXPANSION_SLOTS:
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    addr, bit = _tls_bitmap(c, i)
    word = c.u32(addr)
    if not word & bit:
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    _tls_zero_cell(c, i)
    c.write_u32(addr, word & ~bit)
    return 1


# ------------------------------------------------------------------------------------------ fiber-local storage
FLS_MAXIMUM_AVAILABLE = 4080
FLS_OUT_OF_INDEXES = 0xFFFFFFFF


def _fls(c) -> dict:
    return c.proc.subsystem.setdefault("fls", {"slots": {}, "values": {}})


@api(K32, "DWORD WINAPI FlsAlloc(PFLS_CALLBACK_FUNCTION lpCallback)")
def FlsAlloc(c, cb):
    fls = _fls(c)
    for i in range(1, FLS_MAXIMUM_AVAILABLE):
        if i not in fls["slots"]:
            fls["slots"][i] = cb
            for vals in fls["values"].values():
                vals.pop(i, None)
            return i
    c.set_last_error(ERROR_NO_MORE_ITEMS)
    return FLS_OUT_OF_INDEXES


@api(K32, "PVOID WINAPI FlsGetValue(DWORD dwFlsIndex)")
def FlsGetValue(c, i):
    fls = _fls(c)
    if i not in fls["slots"]:
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    c.set_last_error(0)
    return fls["values"].get(c.thread.tid, {}).get(i, 0)


@api(K32, "BOOL WINAPI FlsSetValue(DWORD dwFlsIndex, PVOID lpFlsData)")
def FlsSetValue(c, i, v):
    fls = _fls(c)
    if i not in fls["slots"]:
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    fls["values"].setdefault(c.thread.tid, {})[i] = v
    return 1


@api(K32, "BOOL WINAPI FlsFree(DWORD dwFlsIndex)", calls_guest=True)
def FlsFree(c, i):
    fls = _fls(c)
    if i not in fls["slots"]:
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    cb = fls["slots"].pop(i)
    for tid in sorted(fls["values"]):
        v = fls["values"][tid].pop(i, 0)
        if cb and v:
            c.machine.dispatcher.call_guest(c.thread, cb, [v])
    return 1


@api(K32, "BOOL WINAPI IsThreadAFiber(void)")
def IsThreadAFiber(c):
    return 0



# ------------------------------------------------------------------------------------------ thread descriptions
THREAD_SET_LIMITED_INFORMATION = 0x400
MAX_DESCRIPTION_BYTES = 0xFFFF   # the name is a UNICODE_STRING: at most 65535 bytes


def _hresult_from_nt(status: int) -> int:
    return (status | 0x10000000) & 0xFFFFFFFF


@api(K32, "HRESULT WINAPI SetThreadDescription(HANDLE hThread, PCWSTR lpThreadDescription)")
def SetThreadDescription(c, h, text):
    """NtSetInformationThread(ThreadNameInformation): the result is HRESULT_FROM_NT of its status."""
    from winhatch.ntstatus import NtStatusError
    try:
        t = c.proc.handles.lookup(h, "Thread", THREAD_SET_LIMITED_INFORMATION, current_process=c.proc,
                                  current_thread=c.thread)
    except NtStatusError as e:
        return _hresult_from_nt(e.status)
    text = text or ""
    if len(text) * 2 > MAX_DESCRIPTION_BYTES:
        return _hresult_from_nt(0xC000000D)   # STATUS_INVALID_PARAMETER
    t.description = text
    return _hresult_from_nt(0)   # HRESULT_FROM_NT(STATUS_SUCCESS): 0x10000000, a success code


@api(K32, "HRESULT WINAPI GetThreadDescription(HANDLE hThread, PWSTR *ppszThreadDescription)")
def GetThreadDescription(c, h, out):
    """The description in a LocalAlloc'ed string the caller frees with LocalFree ("" when none was set)."""
    from winhatch.ntstatus import NtStatusError
    from winhatch.win32.kernel32.common import heap_alloc
    c.write_ptr(out, 0)
    try:
        t = c.proc.handles.lookup(h, "Thread", THREAD_QUERY_LIMITED_INFORMATION, current_process=c.proc,
                                  current_thread=c.thread)
    except NtStatusError as e:
        return _hresult_from_nt(e.status)
    data = getattr(t, "description", "").encode("utf-16-le") + b"\0\0"
    p = heap_alloc(c, len(data))
    if not p:
        return 0x8007000E   # E_OUTOFMEMORY
    c.write(p, data)
    c.write_ptr(out, p)
    return _hresult_from_nt(0)


@api(K32, "BOOL WINAPI GetThreadTimes(HANDLE hThread, LPFILETIME lpCreationTime, LPFILETIME lpExitTime, "
          "LPFILETIME lpKernelTime, LPFILETIME lpUserTime)")
def GetThreadTimes(c, h, pc, pe, pk, pu):
    from winhatch.win32.kernel32.process import write_times
    t = lookup(c, h, "Thread", THREAD_QUERY_LIMITED_INFORMATION)
    if t is None:
        return 0
    return write_times(c, pc, pe, pk, pu, t.creation_time, getattr(t, "exit_time", 0) if t.terminated else 0,
                       t.kernel_time, t.user_ns // 100)
