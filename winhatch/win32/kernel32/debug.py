"""kernel32's debugger API over ntdll's DbgUi layer and the Dbgk services (winhatch.kernel.ps.dbgk).

DebugActiveProcess (connect the thread's debug object, open the process, NtDebugActiveProcess and a break-in
thread), DebugActiveProcessStop (NtRemoveProcessDebug), WaitForDebugEvent(Ex) (NtWaitForDebugEvent, then the
DBGUI_WAIT_STATE_CHANGE converted to a DEBUG_EVENT; a time-out is ERROR_SEM_TIMEOUT; WaitForDebugEvent, not
Ex, continues a DBG_PRINTEXCEPTION_WIDE_C itself as not handled, so the debuggee falls back to the ANSI string
as on Windows), ContinueDebugEvent (NtDebugContinue; the process and thread handles the events gave are
closed after EXIT_THREAD / EXIT_PROCESS is continued, as kernel32 does with the list it keeps per debugger
thread), DebugSetProcessKillOnExit (NtSetInformationDebugObject), DebugBreakProcess (DbgUiIssueRemoteBreakin).
"""
from __future__ import annotations

import struct

from winhatch.win32.api import api
from winhatch.win32.ntdll import dbgui

K32 = ("kernel32.dll", "kernelbase.dll")
INFINITE = 0xFFFFFFFF
STATUS_TIMEOUT = 0x102
STATUS_ALERTED = 0x101
STATUS_USER_APC = 0xC0
ERROR_SEM_TIMEOUT = 121
DBG_EXCEPTION_NOT_HANDLED = 0x80010001
PROCESS_DEBUG_ACCESS = 0x0002 | 0x0008 | 0x0010 | 0x0020 | 0x0400 | 0x0800   # kernelbase's ProcessIdToHandle
PROCESS_SUSPEND_RESUME = 0x0800
MAX_RETRIES = 64


def _failed(c, st: int) -> bool:
    if st & 0x80000000:
        c.set_last_nt_error(st)
        return True
    return False


def _open_process(c, pid: int, access: int) -> int | None:
    ps = c.ptr_size
    out = c.stack_alloc(ps)
    cid = c.stack_alloc(2 * ps)
    c.write_ptr(cid, pid)
    c.write_ptr(cid + ps, 0)
    oa = c.object_attributes(0, attributes=0)
    st = c.nt("NtOpenProcess", out, access, oa, cid)
    if _failed(c, st):
        return None
    return c.ptr(out)


def _handles(c) -> dict:
    """The handles the events gave this debugger thread: {(pid, tid or 0): [handle, ...]} and the last event
    code per (pid, tid)."""
    return c.thread.__dict__.setdefault("dbg_saved_handles", {"handles": {}, "last": {}})


@api(K32, "BOOL WINAPI DebugActiveProcess(DWORD dwProcessId)")
def DebugActiveProcess(c, pid):
    if _failed(c, dbgui.connect(c)):
        return 0
    h = _open_process(c, pid, PROCESS_DEBUG_ACCESS)
    if h is None:
        return 0
    st = dbgui.debug_active_process(c, h)
    c.nt("NtClose", h)
    return 0 if _failed(c, st) else 1


@api(K32, "BOOL WINAPI DebugActiveProcessStop(DWORD dwProcessId)")
def DebugActiveProcessStop(c, pid):
    h = _open_process(c, pid, PROCESS_SUSPEND_RESUME)
    if h is None:
        return 0
    st = c.nt("NtRemoveProcessDebug", h, dbgui.thread_debug_object(c))
    c.nt("NtClose", h)
    if _failed(c, st):
        return 0
    _close_process_handles(c, pid)
    return 1


def _close_process_handles(c, pid: int, tid: int | None = None) -> None:
    saved = _handles(c)["handles"]
    for key in [k for k in saved if k[0] == pid and (tid is None or k[1] == tid)]:
        for h in saved.pop(key):
            c.nt("NtClose", h)


def _wait(c, ev, ms, wide: bool) -> int:
    if not ev:
        c.set_last_error(87)
        return 0
    arch = c.arch
    size = dbgui.WAIT_STATE_CHANGE.size(arch)
    sc = c.stack_alloc(size)
    t = 0
    if ms != INFINITE:
        t = c.stack_alloc(8)
        c.write(t, struct.pack("<q", -(ms & 0xFFFFFFFF) * 10000))
    for _ in range(MAX_RETRIES):
        st = dbgui.wait_state_change(c, sc, t, True)
        if st in (STATUS_ALERTED, STATUS_USER_APC):
            continue
        if st == STATUS_TIMEOUT:
            c.set_last_error(ERROR_SEM_TIMEOUT)
            return 0
        if _failed(c, st):
            return 0
        pid, tid, state = dbgui.client_id_of(c, sc)
        if not wide and dbgui.exception_code_of(c, sc) == dbgui.DBG_PRINTEXCEPTION_WIDE_C:
            cid = c.stack_alloc(2 * c.ptr_size)
            c.write_ptr(cid, pid)
            c.write_ptr(cid + c.ptr_size, tid)
            c.nt("NtDebugContinue", dbgui.thread_debug_object(c), cid, DBG_EXCEPTION_NOT_HANDLED)
            continue
        if _failed(c, dbgui.convert(c, sc, ev, wide)):
            return 0
        code = c.u32(ev)
        book = _handles(c)
        book["last"][(pid, tid)] = code
        ps = c.ptr_size
        u = ev + dbgui.DEBUG_EVENT.offset(arch, "u")
        if code == dbgui.CREATE_PROCESS_DEBUG_EVENT:
            book["handles"].setdefault((pid, 0), []).append(c.ptr(u + ps))          # hProcess
            book["handles"].setdefault((pid, tid), []).append(c.ptr(u + 2 * ps))    # hThread
        elif code == dbgui.CREATE_THREAD_DEBUG_EVENT:
            book["handles"].setdefault((pid, tid), []).append(c.ptr(u))
        return 1
    c.set_last_error(ERROR_SEM_TIMEOUT)
    return 0


@api(K32, "BOOL WINAPI WaitForDebugEvent(LPVOID lpDebugEvent, DWORD dwMilliseconds)")
def WaitForDebugEvent(c, ev, ms):
    return _wait(c, ev, ms, False)


@api(K32, "BOOL WINAPI WaitForDebugEventEx(LPVOID lpDebugEvent, DWORD dwMilliseconds)")
def WaitForDebugEventEx(c, ev, ms):
    return _wait(c, ev, ms, True)


@api(K32, "BOOL WINAPI ContinueDebugEvent(DWORD dwProcessId, DWORD dwThreadId, DWORD dwContinueStatus)")
def ContinueDebugEvent(c, pid, tid, status):
    ps = c.ptr_size
    cid = c.stack_alloc(2 * ps)
    c.write_ptr(cid, pid)
    c.write_ptr(cid + ps, tid)
    if _failed(c, c.nt("NtDebugContinue", dbgui.thread_debug_object(c), cid, status)):
        return 0
    last = _handles(c)["last"].pop((pid, tid), None)
    if last == dbgui.EXIT_THREAD_DEBUG_EVENT:
        _close_process_handles(c, pid, tid)
    elif last == dbgui.EXIT_PROCESS_DEBUG_EVENT:
        _close_process_handles(c, pid)
    return 1


@api(K32, "BOOL WINAPI DebugSetProcessKillOnExit(BOOL KillOnExit)")
def DebugSetProcessKillOnExit(c, kill):
    buf = c.stack_alloc(4)
    c.write_u32(buf, 1 if kill else 0)
    st = c.nt("NtSetInformationDebugObject", dbgui.thread_debug_object(c), 1, buf, 4, 0)
    return 0 if _failed(c, st) else 1


@api(K32, "BOOL WINAPI DebugBreakProcess(HANDLE Process)")
def DebugBreakProcess(c, h):
    return 0 if _failed(c, dbgui.issue_remote_breakin(c, h)) else 1


@api(K32, "void WINAPI DebugBreak(void)")
def DebugBreak(c):
    """Its export is machine code, `int3; ret` (winhatch.win32.native.RAW_CODE): a breakpoint exception in the
    caller's thread. This handler is reached only through a trap, which that code never makes."""
    from winhatch.kernel.ke.dispatcher import ExceptionInfo
    from winhatch.win32.ntdll.seh import caller_context
    info = ExceptionInfo(0x80000003, c.cpu.pc, parameters=(0,))
    info.context = caller_context(c)
    c.machine.dispatcher.raise_exception(c.thread, info)
