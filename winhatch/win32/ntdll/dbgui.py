"""ntdll's debugger side (DbgUi*) and its breakpoints (DbgBreakPoint, DbgUserBreakPoint, DbgUiRemoteBreakin).

A debugger thread keeps its debug object's handle in TEB DbgSsReserved[1] (DbgUiConnectToDbg creates it with
DEBUG_KILL_ON_CLOSE, DbgUiGet/SetThreadDebugObject read and write it). DbgUiDebugActiveProcess attaches a
process (NtDebugActiveProcess) and breaks into it (DbgUiIssueRemoteBreakin: a thread of the debuggee started
at DbgUiRemoteBreakin, which runs DbgBreakPoint — `int3; ret` — and exits). DbgUiWaitStateChange /
DbgUiContinue / DbgUiStopDebugging are NtWaitForDebugEvent / NtDebugContinue / NtRemoveProcessDebug on that
object; DbgUiConvertStateChangeStructure(Ex) turns a DBGUI_WAIT_STATE_CHANGE into kernel32's DEBUG_EVENT (an
exception DBG_PRINTEXCEPTION_C / _WIDE_C becomes OUTPUT_DEBUG_STRING_EVENT, DBG_RIPEXCEPTION RIP_EVENT).
"""
from __future__ import annotations

import struct

from winhatch.kernel.ps import dbgk
from winhatch.kernel.structs import EXCEPTION_RECORD, TEB
from winhatch.kernel.structs._layout import HANDLE, PVOID, ULONG as DWORD, USHORT, F, Struct
from winhatch.win32.api import api

NT = "ntdll.dll"
DEBUG_ALL_ACCESS = 0x1F000F
STATUS_BREAKPOINT = 0x80000003
DBG_PRINTEXCEPTION_C = 0x40010006
DBG_PRINTEXCEPTION_WIDE_C = 0x4001000A
DBG_RIPEXCEPTION = 0x40010007
STATUS_INVALID_PARAMETER = 0xC000000D
STATUS_UNSUCCESSFUL = 0xC0000001
THREAD_BASIC_INFORMATION_CLASS = 0

EXCEPTION_DEBUG_EVENT, CREATE_THREAD_DEBUG_EVENT, CREATE_PROCESS_DEBUG_EVENT = 1, 2, 3
EXIT_THREAD_DEBUG_EVENT, EXIT_PROCESS_DEBUG_EVENT, LOAD_DLL_DEBUG_EVENT = 4, 5, 6
UNLOAD_DLL_DEBUG_EVENT, OUTPUT_DEBUG_STRING_EVENT, RIP_EVENT = 7, 8, 9

# kernel32's DEBUG_EVENT (winbase.h)
_EXC = Struct("EXCEPTION_DEBUG_INFO", [F("ExceptionRecord", EXCEPTION_RECORD), F("dwFirstChance", DWORD)])
_CT = Struct("CREATE_THREAD_DEBUG_INFO", [F("hThread", HANDLE), F("lpThreadLocalBase", PVOID),
                                          F("lpStartAddress", PVOID)])
_CP = Struct("CREATE_PROCESS_DEBUG_INFO", [
    F("hFile", HANDLE), F("hProcess", HANDLE), F("hThread", HANDLE), F("lpBaseOfImage", PVOID),
    F("dwDebugInfoFileOffset", DWORD), F("nDebugInfoSize", DWORD), F("lpThreadLocalBase", PVOID),
    F("lpStartAddress", PVOID), F("lpImageName", PVOID), F("fUnicode", USHORT)])
_EXIT = Struct("EXIT_DEBUG_INFO", [F("dwExitCode", DWORD)])
_LD = Struct("LOAD_DLL_DEBUG_INFO", [F("hFile", HANDLE), F("lpBaseOfDll", PVOID), F("dwDebugInfoFileOffset", DWORD),
                                     F("nDebugInfoSize", DWORD), F("lpImageName", PVOID), F("fUnicode", USHORT)])
_UD = Struct("UNLOAD_DLL_DEBUG_INFO", [F("lpBaseOfDll", PVOID)])
_ODS = Struct("OUTPUT_DEBUG_STRING_INFO", [F("lpDebugStringData", PVOID), F("fUnicode", USHORT),
                                           F("nDebugStringLength", USHORT)])
_RIP = Struct("RIP_INFO", [F("dwError", DWORD), F("dwType", DWORD)])
_U = Struct("DEBUG_EVENT_U", [F("Exception", _EXC), F("CreateThread", _CT), F("CreateProcessInfo", _CP),
                              F("ExitThread", _EXIT), F("ExitProcess", _EXIT), F("LoadDll", _LD),
                              F("UnloadDll", _UD), F("DebugString", _ODS), F("RipInfo", _RIP)], union=True)
DEBUG_EVENT = Struct("DEBUG_EVENT", [F("dwDebugEventCode", DWORD), F("dwProcessId", DWORD), F("dwThreadId", DWORD),
                                     F("u", _U)])
WAIT_STATE_CHANGE = dbgk.DBGUI_WAIT_STATE_CHANGE


# ---------------------------------------------------------------------------------------------- the thread's object
def _slot(c) -> int:
    return c.thread.teb + TEB.offset(c.arch, "DbgSsReserved") + c.ptr_size


def thread_debug_object(c) -> int:
    return c.ptr(_slot(c))


def set_thread_debug_object(c, h: int) -> None:
    c.write_ptr(_slot(c), h)


def connect(c) -> int:
    """DbgUiConnectToDbg: the thread's debug object, created (DEBUG_KILL_ON_CLOSE) if it has none."""
    if thread_debug_object(c):
        return 0
    ps = c.ptr_size
    out = c.stack_alloc(ps)
    oa = c.object_attributes(0, attributes=0)
    st = c.nt("NtCreateDebugObject", out, DEBUG_ALL_ACCESS, oa, dbgk.DEBUG_KILL_ON_CLOSE)
    if not st & 0x80000000:
        set_thread_debug_object(c, c.ptr(out))
    return st


@api(NT, "NTSTATUS NTAPI DbgUiConnectToDbg(void)")
def DbgUiConnectToDbg(c):
    return connect(c)


@api(NT, "HANDLE NTAPI DbgUiGetThreadDebugObject(void)")
def DbgUiGetThreadDebugObject(c):
    return thread_debug_object(c)


@api(NT, "void NTAPI DbgUiSetThreadDebugObject(HANDLE DebugObject)")
def DbgUiSetThreadDebugObject(c, h):
    set_thread_debug_object(c, h)


# ---------------------------------------------------------------------------------------------- attach / detach
def remote_breakin_address(c) -> int:
    from winhatch.ldr import loader
    st = loader.state_of(c.proc)
    mod = st.by_name["ntdll.dll"]
    return loader._export_address(st, mod, name="DbgUiRemoteBreakin")


def issue_remote_breakin(c, hprocess) -> int:
    """DbgUiIssueRemoteBreakin: a thread of the process that breaks into the debugger (RtlCreateUserThread)."""
    ps = c.ptr_size
    out = c.stack_alloc(ps)
    cid = c.stack_alloc(2 * ps)
    # the debuggee's ntdll lies where the caller's does (one base per architecture and boot)
    attrs_size = ps + (4 * ps)
    attrs = c.stack_alloc(attrs_size)
    c.write_ptr(attrs, attrs_size)
    c.write_ptr(attrs + ps, 0x10003)          # PS_ATTRIBUTE_CLIENT_ID
    c.write_ptr(attrs + 2 * ps, 2 * ps)
    c.write_ptr(attrs + 3 * ps, cid)
    c.write_ptr(attrs + 4 * ps, 0)
    st = c.nt("NtCreateThreadEx", out, 0x1FFFFF, 0, hprocess, remote_breakin_address(c), 0, 0, 0, 0, 0, attrs)
    if not st & 0x80000000:
        c.nt("NtClose", c.ptr(out))
    return st


@api(NT, "NTSTATUS NTAPI DbgUiIssueRemoteBreakin(HANDLE Process)")
def DbgUiIssueRemoteBreakin(c, h):
    return issue_remote_breakin(c, h)


def debug_active_process(c, hprocess) -> int:
    st = c.nt("NtDebugActiveProcess", hprocess, thread_debug_object(c))
    if st & 0x80000000:
        return st
    st = issue_remote_breakin(c, hprocess)
    if st & 0x80000000:
        c.nt("NtRemoveProcessDebug", hprocess, thread_debug_object(c))
    return st


@api(NT, "NTSTATUS NTAPI DbgUiDebugActiveProcess(HANDLE Process)")
def DbgUiDebugActiveProcess(c, h):
    return debug_active_process(c, h)


@api(NT, "NTSTATUS NTAPI DbgUiStopDebugging(HANDLE Process)")
def DbgUiStopDebugging(c, h):
    return c.nt("NtRemoveProcessDebug", h, thread_debug_object(c))


@api(NT, "void NTAPI DbgUiRemoteBreakin(PVOID Context)", calls_guest=True)
def DbgUiRemoteBreakin(c, ctx):
    """if (Peb->BeingDebugged) DbgBreakPoint(); RtlExitUserThread(0)."""
    from winhatch.kernel.structs import PEB
    from winhatch.ldr import loader, ntdll
    if PEB.read(c.proc.aspace, c.proc.peb, c.arch, "BeingDebugged")["BeingDebugged"]:
        st = loader.state_of(c.proc)
        bp = loader._export_address(st, st.by_name["ntdll.dll"], name="DbgBreakPoint")
        call_caught(c.machine, c.thread, bp)
    ntdll.RtlExitUserThread(c.machine, c.thread, 0)


def call_caught(machine, thread, bp: int) -> None:
    """Call a breakpoint function (`int3; ret` at bp) inside an __except that catches the breakpoint: a debugger
    that does not handle it (DBG_EXCEPTION_NOT_HANDLED) lets the function return."""
    thread.__dict__["dbg_break_catch"] = bp + 1
    try:
        machine.dispatcher.call_guest(thread, bp, ())
    finally:
        thread.__dict__.pop("dbg_break_catch", None)


def _breakpoint(c):
    """The traced path of DbgBreakPoint (its export is `int3; ret`): the breakpoint at the export, continued
    at the return into the caller."""
    from winhatch.kernel.ke.dispatcher import ExceptionInfo
    from winhatch.win32.ntdll.seh import caller_context
    from winhatch.ldr import loader
    st = loader.state_of(c.proc)
    addr = loader._export_address(st, st.by_name["ntdll.dll"], name=c.name)
    info = ExceptionInfo(STATUS_BREAKPOINT, addr, parameters=(0,))
    info.context = caller_context(c)
    c.machine.dispatcher.raise_exception(c.thread, info)


@api(NT, "void NTAPI DbgBreakPoint(void)")
def DbgBreakPoint(c):
    _breakpoint(c)


@api(NT, "void NTAPI DbgUserBreakPoint(void)")
def DbgUserBreakPoint(c):
    _breakpoint(c)


# ---------------------------------------------------------------------------------------------- the event loop
def wait_state_change(c, state_change: int, timeout_ptr: int, alertable: bool = False) -> int:
    return c.nt("NtWaitForDebugEvent", thread_debug_object(c), 1 if alertable else 0, timeout_ptr, state_change)


@api(NT, "NTSTATUS NTAPI DbgUiWaitStateChange(PVOID StateChange, PLARGE_INTEGER Timeout)")
def DbgUiWaitStateChange(c, sc, timeout):
    return wait_state_change(c, sc, timeout, True)


@api(NT, "NTSTATUS NTAPI DbgUiContinue(PCLIENT_ID AppClientId, NTSTATUS ContinueStatus)")
def DbgUiContinue(c, cid, status):
    return c.nt("NtDebugContinue", thread_debug_object(c), cid, status)


def _teb_of(c, hthread) -> int:
    """THREAD_BASIC_INFORMATION.TebBaseAddress of a thread handle (0 when the query fails)."""
    ps = c.ptr_size
    size = 28 if ps == 4 else 48
    buf = c.stack_alloc(size)
    st = c.nt("NtQueryInformationThread", hthread, THREAD_BASIC_INFORMATION_CLASS, buf, size, 0)
    if st & 0x80000000:
        return 0
    return c.ptr(buf + (4 if ps == 4 else 8))


def convert(c, sc: int, ev: int, wide: bool) -> int:
    """DbgUiConvertStateChangeStructure(Ex): DBGUI_WAIT_STATE_CHANGE at sc → DEBUG_EVENT at ev."""
    arch = c.arch
    s = WAIT_STATE_CHANGE.unpack(arch, c.read(sc, WAIT_STATE_CHANGE.size(arch)))
    state = s["NewState"]
    si = s["StateInfo"]
    u: dict = {}
    if state == dbgk.DbgCreateThreadStateChange:
        ct = si["CreateThread"]
        code = CREATE_THREAD_DEBUG_EVENT
        u["CreateThread"] = {"hThread": ct["HandleToThread"], "lpThreadLocalBase": _teb_of(c, ct["HandleToThread"]),
                             "lpStartAddress": ct["NewThread"]["StartAddress"]}
    elif state == dbgk.DbgCreateProcessStateChange:
        cp = si["CreateProcessInfo"]
        np = cp["NewProcess"]
        code = CREATE_PROCESS_DEBUG_EVENT
        u["CreateProcessInfo"] = {
            "hFile": np["FileHandle"], "hProcess": cp["HandleToProcess"], "hThread": cp["HandleToThread"],
            "lpBaseOfImage": np["BaseOfImage"], "dwDebugInfoFileOffset": np["DebugInfoFileOffset"],
            "nDebugInfoSize": np["DebugInfoSize"], "lpThreadLocalBase": _teb_of(c, cp["HandleToThread"]),
            "lpStartAddress": np["InitialThread"]["StartAddress"], "lpImageName": 0, "fUnicode": 1}
    elif state == dbgk.DbgExitThreadStateChange:
        code = EXIT_THREAD_DEBUG_EVENT
        u["ExitThread"] = {"dwExitCode": si["ExitThread"]["ExitStatus"]}
    elif state == dbgk.DbgExitProcessStateChange:
        code = EXIT_PROCESS_DEBUG_EVENT
        u["ExitProcess"] = {"dwExitCode": si["ExitProcess"]["ExitStatus"]}
    elif state in (dbgk.DbgExceptionStateChange, dbgk.DbgBreakpointStateChange, dbgk.DbgSingleStepStateChange):
        exc = si["Exception"]
        rec = exc["ExceptionRecord"]
        info = rec["ExceptionInformation"]
        if rec["ExceptionCode"] == DBG_PRINTEXCEPTION_C or (wide and rec["ExceptionCode"] == DBG_PRINTEXCEPTION_WIDE_C):
            code = OUTPUT_DEBUG_STRING_EVENT
            u["DebugString"] = {"lpDebugStringData": info[1], "fUnicode": int(rec["ExceptionCode"] != DBG_PRINTEXCEPTION_C),
                                "nDebugStringLength": info[0] & 0xFFFF}
        elif rec["ExceptionCode"] == DBG_RIPEXCEPTION:
            code = RIP_EVENT
            u["RipInfo"] = {"dwError": info[0] & 0xFFFFFFFF, "dwType": info[1] & 0xFFFFFFFF}
        else:
            code = EXCEPTION_DEBUG_EVENT
            u["Exception"] = {"ExceptionRecord": rec, "dwFirstChance": exc["FirstChance"]}
    elif state == dbgk.DbgLoadDllStateChange:
        ld = si["LoadDll"]
        code = LOAD_DLL_DEBUG_EVENT
        u["LoadDll"] = {"hFile": ld["FileHandle"], "lpBaseOfDll": ld["BaseOfDll"],
                        "dwDebugInfoFileOffset": ld["DebugInfoFileOffset"], "nDebugInfoSize": ld["DebugInfoSize"],
                        "lpImageName": ld["NamePointer"], "fUnicode": 1}
    elif state == dbgk.DbgUnloadDllStateChange:
        code = UNLOAD_DLL_DEBUG_EVENT
        u["UnloadDll"] = {"lpBaseOfDll": si["UnloadDll"]["BaseAddress"]}
    else:
        # DbgIdle, DbgReplyPending or a state Windows does not know: no event, STATUS_UNSUCCESSFUL — the client id
        # is copied all the same (ntdll/info.c test_debug_object: dwProcessId/dwThreadId updated)
        cid = s["AppClientId"]
        c.write(ev + 4, struct.pack("<II", cid["UniqueProcess"] & 0xFFFFFFFF, cid["UniqueThread"] & 0xFFFFFFFF))
        return STATUS_UNSUCCESSFUL
    cid = s["AppClientId"]
    c.write(ev, DEBUG_EVENT.pack(arch, dwDebugEventCode=code, dwProcessId=cid["UniqueProcess"] & 0xFFFFFFFF,
                                 dwThreadId=cid["UniqueThread"] & 0xFFFFFFFF, u=u))
    return 0


@api(NT, "NTSTATUS NTAPI DbgUiConvertStateChangeStructure(PVOID WaitStateChange, PVOID DebugEvent)")
def DbgUiConvertStateChangeStructure(c, sc, ev):
    return convert(c, sc, ev, False)


@api(NT, "NTSTATUS NTAPI DbgUiConvertStateChangeStructureEx(PVOID WaitStateChange, PVOID DebugEvent)")
def DbgUiConvertStateChangeStructureEx(c, sc, ev):
    return convert(c, sc, ev, True)


def exception_code_of(c, sc: int) -> int | None:
    s = WAIT_STATE_CHANGE.unpack(c.arch, c.read(sc, WAIT_STATE_CHANGE.size(c.arch)))
    if s["NewState"] in (dbgk.DbgExceptionStateChange, dbgk.DbgBreakpointStateChange, dbgk.DbgSingleStepStateChange):
        return s["StateInfo"]["Exception"]["ExceptionRecord"]["ExceptionCode"]
    return None


def client_id_of(c, sc: int) -> tuple[int, int, int]:
    s = WAIT_STATE_CHANGE.unpack(c.arch, c.read(sc, WAIT_STATE_CHANGE.size(c.arch)))
    return s["AppClientId"]["UniqueProcess"], s["AppClientId"]["UniqueThread"], s["NewState"]

