"""kernel32 / kernelbase: threads — creation (local and remote, suspended), exit and termination, suspend and
resume counts, priorities, Sleep and yielding, APCs, TLS slots and fiber-local storage.

A new thread is created by the kernel's PspCreateThread (stack, TEB, context) and starts, like the first one,
at ntdll!LdrInitializeThunk (DLL_THREAD_ATTACH and TLS callbacks under the loader lock), then
RtlUserThreadStart calls its start routine; returning from it is ExitThread. The scheduler is
`winhatch.kernel.ke.dispatcher`.
"""
from __future__ import annotations

from winhatch.kernel.ke import wait as kwait
from winhatch.kernel.ob.access import THREAD_ALL_ACCESS
from winhatch.kernel.structs import PEB, TEB
from winhatch.ldr import ntdll
from winhatch.ldr.heap import HEAP_ZERO_MEMORY
from winhatch.ntstatus import ERROR_INVALID_HANDLE, ERROR_INVALID_PARAMETER, ERROR_NOT_ENOUGH_MEMORY
from winhatch.win32.api import api

from winhatch.win32.kernel32.common import heap_alloc, lookup, sa_inherit

K32 = ("kernel32.dll", "kernelbase.dll")
CREATE_SUSPENDED = 0x4
THREAD_CREATE_FLAGS_CREATE_SUSPENDED = 0x1
PS_ATTRIBUTE_CLIENT_ID = 0x10003
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


def current_process_handle(c) -> int:
    """NtCurrentProcess(): -1 as a pointer-sized handle."""
    return (1 << (8 * c.ptr_size)) - 1


def nt_failed(c, st: int) -> bool:
    """NT_ERROR(st): the last error is set (BaseSetLastNTError) and True returned."""
    if st & 0x80000000 and st >> 30 == 3:
        c.set_last_nt_error(st)
        return True
    return False


def create_thread(c, hprocess, sa, stack, start, param, flags, ptid, *, api_name: str) -> int:
    """CreateRemoteThreadEx as kernelbase does it: NtCreateThreadEx in the process behind `hprocess` with a
    PS_ATTRIBUTE_LIST asking for the new thread's CLIENT_ID (its id goes to *lpThreadId). The stack size is the
    commit, or with STACK_SIZE_PARAM_IS_A_RESERVATION the reservation."""
    ps = c.ptr_size
    out = c.stack_alloc(ps)
    cid = c.stack_alloc(2 * ps)
    alist = c.stack_alloc(5 * ps)     # PS_ATTRIBUTE_LIST with one PS_ATTRIBUTE
    c.write_ptr(alist, 5 * ps)
    c.write_ptr(alist + ps, PS_ATTRIBUTE_CLIENT_ID)
    c.write_ptr(alist + 2 * ps, 2 * ps)
    c.write_ptr(alist + 3 * ps, cid)
    c.write_ptr(alist + 4 * ps, 0)
    oa = c.object_attributes(0, 0x2 if sa_inherit(c, sa) else 0)
    reserve, commit = (stack, 0) if flags & STACK_SIZE_PARAM_IS_A_RESERVATION else (0, stack)
    st = c.nt("NtCreateThreadEx", out, THREAD_ALL_ACCESS, oa, hprocess, start, param,
              THREAD_CREATE_FLAGS_CREATE_SUSPENDED if flags & CREATE_SUSPENDED else 0, 0, commit, reserve, alist)
    if nt_failed(c, st):
        return 0
    if ptid:
        c.write_u32(ptid, c.ptr(cid + ps))
    h = c.ptr(out)
    if c.ptr(cid) == c.proc.pid:
        # a thread of the caller's own process starts with the creator's active activation context
        from winhatch.win32.kernel32.actctx import inherit
        inherit(c, h)
    return h


# ------------------------------------------------------------------------------------------ creation and exit
@api(K32, "HANDLE WINAPI CreateThread(LPSECURITY_ATTRIBUTES lpThreadAttributes, SIZE_T dwStackSize, "
          "LPTHREAD_START_ROUTINE lpStartAddress, LPVOID lpParameter, DWORD dwCreationFlags, LPDWORD lpThreadId)")
def CreateThread(c, sa, stack, start, param, flags, ptid):
    return create_thread(c, current_process_handle(c), sa, stack, start, param, flags, ptid,
                         api_name="CreateThread")


@api(K32, "HANDLE WINAPI CreateRemoteThread(HANDLE hProcess, LPSECURITY_ATTRIBUTES lpThreadAttributes, "
          "SIZE_T dwStackSize, LPTHREAD_START_ROUTINE lpStartAddress, LPVOID lpParameter, DWORD dwCreationFlags, "
          "LPDWORD lpThreadId)")
def CreateRemoteThread(c, hp, sa, stack, start, param, flags, ptid):
    return create_thread(c, hp, sa, stack, start, param, flags, ptid, api_name="CreateRemoteThread")


@api(K32, "HANDLE WINAPI CreateRemoteThreadEx(HANDLE hProcess, LPSECURITY_ATTRIBUTES lpThreadAttributes, "
          "SIZE_T dwStackSize, LPTHREAD_START_ROUTINE lpStartAddress, LPVOID lpParameter, DWORD dwCreationFlags, "
          "LPVOID lpAttributeList, LPDWORD lpThreadId)")
def CreateRemoteThreadEx(c, hp, sa, stack, start, param, flags, attrs, ptid):
    if attrs:
        from winhatch.win32.msvcrt.runtime import not_implemented
        not_implemented(c, "CreateRemoteThreadEx with a PROC_THREAD_ATTRIBUTE_LIST")
    return create_thread(c, hp, sa, stack, start, param, flags, ptid, api_name="CreateRemoteThreadEx")


@api(K32, "void WINAPI ExitThread(DWORD dwExitCode)", calls_guest=True)
def ExitThread(c, code):
    ntdll.RtlExitUserThread(c.machine, c.thread, code)


@api(K32, "void WINAPI FreeLibraryAndExitThread(HMODULE hLibModule, DWORD dwExitCode)", calls_guest=True)
def FreeLibraryAndExitThread(c, module, code):
    """FreeLibrary, then ExitThread: the thread never returns into the module it may just have unloaded (what a
    thread started inside a DLL uses to let go of the DLL's reference on its way out)."""
    from winhatch.win32.kernel32.base import FreeLibrary
    FreeLibrary(c, module)
    ntdll.RtlExitUserThread(c.machine, c.thread, code)


@api("ntdll.dll", "void NTAPI RtlExitUserThread(DWORD Status)", calls_guest=True)
def RtlExitUserThread(c, code):
    ntdll.RtlExitUserThread(c.machine, c.thread, code)


@api(K32, "BOOL WINAPI TerminateThread(HANDLE hThread, DWORD dwExitCode)")
def TerminateThread(c, h, code):
    if not h:      # NtTerminateThread(NULL) would end the caller
        c.set_last_error(ERROR_INVALID_HANDLE)
        return 0
    return 0 if nt_failed(c, c.nt("NtTerminateThread", h, code)) else 1


def thread_basic(c, h) -> int | None:
    """NtQueryInformationThread(ThreadBasicInformation) into scratch: its address, or None (error set)."""
    size = 48 if c.ptr_size == 8 else 28
    buf = c.stack_alloc(size)
    if nt_failed(c, c.nt("NtQueryInformationThread", h, 0, buf, size, 0)):
        return None
    return buf


@api(K32, "BOOL WINAPI GetExitCodeThread(HANDLE hThread, LPDWORD lpExitCode)")
def GetExitCodeThread(c, h, p):
    buf = thread_basic(c, h)
    if buf is None:
        return 0
    if not p:
        c.set_last_error(998)  # ERROR_NOACCESS
        return 0
    c.write_u32(p, c.u32(buf))     # ExitStatus: STATUS_PENDING (STILL_ACTIVE) while it runs
    return 1


@api(K32, "HANDLE WINAPI OpenThread(DWORD dwDesiredAccess, BOOL bInheritHandle, DWORD dwThreadId)")
def OpenThread(c, access, inherit, tid):
    ps = c.ptr_size
    out = c.stack_alloc(ps)
    cid = c.stack_alloc(2 * ps)
    c.write_ptr(cid + ps, tid)
    oa = c.object_attributes(0, 0x2 if inherit else 0)
    if nt_failed(c, c.nt("NtOpenThread", out, access, oa, cid)):
        return 0
    return c.ptr(out)


# ------------------------------------------------------------------------------------------ suspend / resume
def _suspend_resume(c, service: str, h) -> int:
    out = c.stack_alloc(4)
    if nt_failed(c, c.nt(service, h, out)):
        return 0xFFFFFFFF
    return c.u32(out)


@api(K32, "DWORD WINAPI SuspendThread(HANDLE hThread)")
def SuspendThread(c, h):
    return _suspend_resume(c, "NtSuspendThread", h)


@api(K32, "DWORD WINAPI Wow64SuspendThread(HANDLE hThread)")
def Wow64SuspendThread(c, h):
    return _suspend_resume(c, "NtSuspendThread", h)


@api(K32, "DWORD WINAPI ResumeThread(HANDLE hThread)")
def ResumeThread(c, h):
    return _suspend_resume(c, "NtResumeThread", h)


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
    """NtSetInformationThread(ThreadPriorityBoost)."""
    buf = c.stack_alloc(4)
    c.write_u32(buf, 1 if disable else 0)
    return 0 if nt_failed(c, c.nt("NtSetInformationThread", h, 14, buf, 4)) else 1


@api(K32, "BOOL WINAPI GetThreadPriorityBoost(HANDLE hThread, PBOOL pDisablePriorityBoost)")
def GetThreadPriorityBoost(c, h, out):
    """NtQueryInformationThread(ThreadPriorityBoost)."""
    buf = c.stack_alloc(4)
    if nt_failed(c, c.nt("NtQueryInformationThread", h, 14, buf, 4, 0)):
        return 0
    if not out:
        c.set_last_error(998)   # ERROR_NOACCESS
        return 0
    c.write_u32(out, 1 if c.u32(buf) else 0)
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


@api("ntdll.dll", "void NTAPI KiUserApcDispatcher(PCONTEXT Context)", calls_guest=True)
def KiUserApcDispatcher(c, ctx_addr):
    """Where the kernel continues a thread that returns from a system service with user APCs to deliver
    (winhatch.kernel.ke.apc): run them, then resume the CONTEXT the kernel laid on the stack (NtContinue)."""
    from winhatch.kernel.ke.context import X64_CONTEXT_SIZE, X86_CONTEXT_SIZE, context_from_guest
    run_apcs(c)
    data = c.read(ctx_addr, X64_CONTEXT_SIZE if c.cpu.is64 else X86_CONTEXT_SIZE)
    c.cpu.restore_context(context_from_guest(data, c.cpu.save_context()))


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
    """NtQueueApcThread(hThread, pfnAPC, dwData, 0, 0): the routine runs with dwData when the thread waits
    alertably."""
    return 0 if nt_failed(c, c.nt("NtQueueApcThread", h, fn, data, 0, 0)) else 1


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


# ------------------------------------------------------------------------------------------ thread descriptions
THREAD_SET_LIMITED_INFORMATION = 0x400
MAX_DESCRIPTION_BYTES = 0xFFFF   # the name is a UNICODE_STRING: at most 65535 bytes


def _hresult_from_nt(status: int) -> int:
    return (status | 0x10000000) & 0xFFFFFFFF


@api(K32, "HRESULT WINAPI SetThreadDescription(HANDLE hThread, PCWSTR lpThreadDescription)")
def SetThreadDescription(c, h, text):
    """NtSetInformationThread(ThreadNameInformation): the result is HRESULT_FROM_NT of its status."""
    text = text or ""
    if len(text) * 2 > MAX_DESCRIPTION_BYTES:
        return _hresult_from_nt(0xC000000D)   # STATUS_INVALID_PARAMETER
    us = c.unicode_string(text)
    return _hresult_from_nt(c.nt("NtSetInformationThread", h, 38, us, 2 * c.ptr_size))


@api(K32, "HRESULT WINAPI GetThreadDescription(HANDLE hThread, PWSTR *ppszThreadDescription)")
def GetThreadDescription(c, h, out):
    """NtQueryInformationThread(ThreadNameInformation); the description in a LocalAlloc'ed string the caller
    frees with LocalFree ("" when none was set)."""
    c.write_ptr(out, 0)
    ps = c.ptr_size
    rl = c.stack_alloc(4)
    st = c.nt("NtQueryInformationThread", h, 38, 0, 0, rl)
    if st != 0xC0000023:       # STATUS_BUFFER_TOO_SMALL with the size needed
        return _hresult_from_nt(st)
    need = c.u32(rl)
    buf = heap_alloc(c, need + 2)
    if not buf:
        return 0x8007000E   # E_OUTOFMEMORY
    st = c.nt("NtQueryInformationThread", h, 38, buf, need, 0)
    if st:
        return _hresult_from_nt(st)
    length = c.u32(buf) & 0xFFFF
    text = c.read(c.ptr(buf + ps), length)
    c.write(buf, text + b"\0\0")     # the string itself, moved to the start of the block
    c.write_ptr(out, buf)
    return _hresult_from_nt(0)


def times(c, service: str, cls: int, h, pc, pe, pk, pu) -> int:
    """GetProcessTimes / GetThreadTimes: KERNEL_USER_TIMES (creation, exit, kernel, user) from the service."""
    buf = c.stack_alloc(32)
    if nt_failed(c, c.nt(service, h, cls, buf, 32, 0)):
        return 0
    if not (pc and pe and pk and pu):
        c.set_last_error(998)  # ERROR_NOACCESS
        return 0
    for i, p in enumerate((pc, pe, pk, pu)):
        c.write(p, c.read(buf + 8 * i, 8))
    return 1


@api(K32, "BOOL WINAPI GetThreadTimes(HANDLE hThread, LPFILETIME lpCreationTime, LPFILETIME lpExitTime, "
          "LPFILETIME lpKernelTime, LPFILETIME lpUserTime)")
def GetThreadTimes(c, h, pc, pe, pk, pu):
    return times(c, "NtQueryInformationThread", 1, h, pc, pe, pk, pu)


@api(K32, "void WINAPI GetCurrentThreadStackLimits(PULONG_PTR LowLimit, PULONG_PTR HighLimit)")
def GetCurrentThreadStackLimits(c, low, high):
    """The calling thread's stack reservation: TEB.DeallocationStack (its lowest address) and
    TEB.NtTib.StackBase (one past its highest), read from the TEB in guest memory."""
    teb = c.thread.teb
    c.write_ptr(low, c.ptr(teb + TEB.offset(c.arch, "DeallocationStack")))
    c.write_ptr(high, c.ptr(teb + TEB.offset(c.arch, "NtTib.StackBase")))


@api(K32, "DWORD WINAPI SetThreadIdealProcessor(HANDLE hThread, DWORD dwIdealProcessor)")
def SetThreadIdealProcessor(c, h, number):
    """NtSetInformationThread(ThreadIdealProcessor): the previous ideal processor (the service's success status),
    or (DWORD)-1 with the error."""
    buf = c.stack_alloc(4)
    c.write_u32(buf, number)
    st = c.nt("NtSetInformationThread", h, 13, buf, 4)
    if nt_failed(c, st):
        return 0xFFFFFFFF
    return st


@api(K32, "BOOL WINAPI GetThreadGroupAffinity(HANDLE hThread, PGROUP_AFFINITY GroupAffinity)")
def GetThreadGroupAffinity(c, h, out):
    """NtQueryInformationThread(ThreadGroupInformation) into the caller's GROUP_AFFINITY."""
    if not out:
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    size = 16 if c.ptr_size == 8 else 12
    return 0 if nt_failed(c, c.nt("NtQueryInformationThread", h, 30, out, size, 0)) else 1


@api(K32, "BOOL WINAPI SetThreadGroupAffinity(HANDLE hThread, const GROUP_AFFINITY *GroupAffinity, "
          "PGROUP_AFFINITY PreviousGroupAffinity)")
def SetThreadGroupAffinity(c, h, new, prev):
    """NtSetInformationThread(ThreadGroupInformation); the previous affinity first, when asked for."""
    size = 16 if c.ptr_size == 8 else 12
    old = c.stack_alloc(size)
    if nt_failed(c, c.nt("NtQueryInformationThread", h, 30, old, size, 0)):
        return 0
    if nt_failed(c, c.nt("NtSetInformationThread", h, 30, new, size)):
        return 0
    if prev:
        c.write(prev, c.read(old, size))
    return 1


# ------------------------------------------------------------------------------------------ selectors
@api(K32, "BOOL WINAPI GetThreadSelectorEntry(HANDLE hThread, DWORD dwSelector, LPVOID lpSelectorEntry)")
def GetThreadSelectorEntry(c, h, sel, out):
    """The LDT_ENTRY of a selector, through NtQueryInformationThread(ThreadDescriptorTableEntry); a 64-bit
    process has no use for it (ERROR_NOT_SUPPORTED, as on x64 Windows)."""
    if c.ptr_size == 8:
        c.set_last_error(50)        # ERROR_NOT_SUPPORTED
        return 0
    buf = c.stack_alloc(12)
    c.write_u32(buf, sel)
    st = c.nt("NtQueryInformationThread", h, 6, buf, 12, 0)
    if nt_failed(c, st):
        return 0
    c.write(out, c.read(buf + 4, 8))
    return 1
