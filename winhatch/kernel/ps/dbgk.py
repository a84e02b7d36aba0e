"""The debugging subsystem (the Dbgk component): debug objects, their event queue, attaching and detaching.

A debug object is the kernel object a debugger waits on for its debuggees' events (NtCreateDebugObject: named or
not, with Windows's access rights and generic mapping: DebugObject read 0x20001, write 0x20002, execute
0x120000, all 0x1F000F). A process is attached to one (its debug port) by CreateProcess with DEBUG_PROCESS /
DEBUG_ONLY_THIS_PROCESS (the creating thread's object, TEB DbgSsReserved[1]) or by NtDebugActiveProcess, and
detached by NtRemoveProcessDebug or when the object's last handle closes (then killed with
STATUS_DEBUGGER_INACTIVE if the object has DEBUG_KILL_ON_CLOSE, the default of CreateProcess's objects and
DbgUiConnectToDbg's, which DebugSetProcessKillOnExit changes through NtSetInformationDebugObject).

Events, as the kernel sends them (DbgkCreateThread, DbgkMapViewOfSection, DbgkForwardException, DbgkExitThread,
DbgkExitProcess): the process's first thread, before any user-mode code, sends CREATE_PROCESS (the image base,
the start address) and LOAD_DLL for ntdll; later threads CREATE_THREAD; an image view mapped by the process
LOAD_DLL, unmapped UNLOAD_DLL; an exception first chance before the user-mode handlers, second chance when none
handled it; EXIT_THREAD / EXIT_PROCESS. Attaching to a running process queues the same events, made up from its
state (DbgkpPostFakeProcessCreateMessages). While one of its events is queued or reported and not continued the
whole debuggee is frozen: none of its threads runs (the scheduler's `runnable`). NtWaitForDebugEvent reports
events in order, but never a second one of a process whose reported event is not continued yet; it opens the
handles the event carries in the debugger's process. NtDebugContinue completes the event: the thread that sent
an exception continues with DBG_CONTINUE / DBG_EXCEPTION_HANDLED (the exception is dismissed: the thread goes
on with its registers, which the debugger may have changed) or goes on dispatching it with
DBG_EXCEPTION_NOT_HANDLED (first chance: the user-mode handlers; second chance: the process ends with the code).

The thread that sends an exception waits for the reply (a wait with a token the continue signals); what it does
then is its `dbg_continuation`, run by the dispatcher when the thread next runs. Events that need no reply
(process, thread and DLL events) only freeze the process. Differences from Windows, documented: EXIT_THREAD and
EXIT_PROCESS are sent as the thread or process ends, not before (the exited thread does not wait for the
continue); the file handles of CREATE_PROCESS and LOAD_DLL are NULL (the debugger does not get a handle to the
image file).
"""
from __future__ import annotations

import struct

from winhatch.kernel import events as ev
from winhatch.kernel.ke import wait as kwait
from winhatch.kernel.ke.services import kernel_service, user_read, user_write
from winhatch.kernel.ob import KObject
from winhatch.kernel.ob.services import insert_object, reference, write_handle
from winhatch.kernel.structs import EXCEPTION_RECORD
from winhatch.kernel.structs._layout import HANDLE, PVOID, ULONG, F, Struct
from winhatch.kernel.structs.basic import CLIENT_ID
from winhatch.ntstatus import STATUS_INVALID_PARAMETER, NtStatusError

DEBUG_KILL_ON_CLOSE = 0x1
DEBUG_READ_EVENT, DEBUG_PROCESS_ASSIGN, DEBUG_SET_INFORMATION, DEBUG_QUERY_INFORMATION = 0x1, 0x2, 0x4, 0x8
DebugObjectKillProcessOnExitInformation = 1
PROCESS_SUSPEND_RESUME = 0x0800
PROCESS_ALL_ACCESS = 0x001FFFFF
THREAD_ALL_ACCESS = 0x001FFFFF

DBG_EXCEPTION_HANDLED = 0x00010001
DBG_CONTINUE = 0x00010002
DBG_REPLY_LATER = 0x40010001
DBG_TERMINATE_THREAD = 0x40010003
DBG_TERMINATE_PROCESS = 0x40010004
DBG_EXCEPTION_NOT_HANDLED = 0x80010001
VALID_CONTINUE = (DBG_EXCEPTION_HANDLED, DBG_CONTINUE, DBG_EXCEPTION_NOT_HANDLED, DBG_REPLY_LATER,
                  DBG_TERMINATE_THREAD, DBG_TERMINATE_PROCESS)

STATUS_TIMEOUT = 0x102
STATUS_ACCESS_DENIED = 0xC0000022
STATUS_PORT_ALREADY_SET = 0xC0000048
STATUS_PROCESS_IS_TERMINATING = 0xC000010A
STATUS_DEBUGGER_INACTIVE = 0xC0000354
STATUS_BREAKPOINT = 0x80000003
STATUS_SINGLE_STEP = 0x80000004
STATUS_INFO_LENGTH_MISMATCH = 0xC0000004
STATUS_INVALID_INFO_CLASS = 0xC0000003

# DBG_STATE (DBGUI_WAIT_STATE_CHANGE.NewState)
DbgIdle, DbgReplyPending, DbgCreateThreadStateChange, DbgCreateProcessStateChange = 0, 1, 2, 3
DbgExitThreadStateChange, DbgExitProcessStateChange, DbgExceptionStateChange = 4, 5, 6
DbgBreakpointStateChange, DbgSingleStepStateChange, DbgLoadDllStateChange, DbgUnloadDllStateChange = 7, 8, 9, 10

# the event kinds (the DEBUG_EVENT codes they become)
EXCEPTION, CREATE_THREAD, CREATE_PROCESS, EXIT_THREAD, EXIT_PROCESS, LOAD_DLL, UNLOAD_DLL = 1, 2, 3, 4, 5, 6, 7

# ---------------------------------------------------------------------------------------------- structures
DBGKM_EXCEPTION = Struct("DBGKM_EXCEPTION", [F("ExceptionRecord", EXCEPTION_RECORD), F("FirstChance", ULONG)])
DBGKM_CREATE_THREAD = Struct("DBGKM_CREATE_THREAD", [F("SubSystemKey", ULONG), F("StartAddress", PVOID)])
DBGKM_CREATE_PROCESS = Struct("DBGKM_CREATE_PROCESS", [
    F("SubSystemKey", ULONG), F("FileHandle", HANDLE), F("BaseOfImage", PVOID), F("DebugInfoFileOffset", ULONG),
    F("DebugInfoSize", ULONG), F("InitialThread", DBGKM_CREATE_THREAD)])
DBGUI_CREATE_THREAD = Struct("DBGUI_CREATE_THREAD", [F("HandleToThread", HANDLE),
                                                     F("NewThread", DBGKM_CREATE_THREAD)])
DBGUI_CREATE_PROCESS = Struct("DBGUI_CREATE_PROCESS", [F("HandleToProcess", HANDLE), F("HandleToThread", HANDLE),
                                                       F("NewProcess", DBGKM_CREATE_PROCESS)])
DBGKM_EXIT = Struct("DBGKM_EXIT_THREAD", [F("ExitStatus", ULONG)])
DBGKM_LOAD_DLL = Struct("DBGKM_LOAD_DLL", [F("FileHandle", HANDLE), F("BaseOfDll", PVOID),
                                           F("DebugInfoFileOffset", ULONG), F("DebugInfoSize", ULONG),
                                           F("NamePointer", PVOID)])
DBGKM_UNLOAD_DLL = Struct("DBGKM_UNLOAD_DLL", [F("BaseAddress", PVOID)])
DBGUI_STATE_INFO = Struct("DBGUI_STATE_INFO", [
    F("Exception", DBGKM_EXCEPTION), F("CreateThread", DBGUI_CREATE_THREAD),
    F("CreateProcessInfo", DBGUI_CREATE_PROCESS), F("ExitThread", DBGKM_EXIT), F("ExitProcess", DBGKM_EXIT),
    F("LoadDll", DBGKM_LOAD_DLL), F("UnloadDll", DBGKM_UNLOAD_DLL)], union=True)
DBGUI_WAIT_STATE_CHANGE = Struct("DBGUI_WAIT_STATE_CHANGE", [
    F("NewState", ULONG), F("AppClientId", CLIENT_ID), F("StateInfo", DBGUI_STATE_INFO)])


class DebugObject(KObject):
    type_name = "DebugObject"

    def __init__(self, flags: int, name: str | None = None, machine=None):
        super().__init__(name)
        self.flags = flags
        self.machine = machine
        self.events: list[DebugEvent] = []

    def next_event(self) -> "DebugEvent | None":
        """The first event NtWaitForDebugEvent may report: not reported yet, and no earlier event of its process
        reported and waiting for its continue."""
        busy = set()
        for e in self.events:
            if e.reported:
                busy.add(e.process.pid)
            elif e.process.pid not in busy and not (e.thread.suspend_count and not e.thread.terminated):
                return e        # (an event of a suspended thread waits until it is resumed)
        return None

    def signaled(self) -> bool:
        return self.next_event() is not None

    def describe(self) -> str:
        return "a debug event"

    def on_last_handle_close(self) -> None:
        """The debugger closed it (or exited): its debuggees are killed (DEBUG_KILL_ON_CLOSE) or detached."""
        machine = self.machine
        if machine is None:
            return
        for proc in list(machine.processes):
            if proc.debug_port is self and not proc.exited:
                if self.flags & DEBUG_KILL_ON_CLOSE:
                    detach(machine, proc, self)
                    machine.terminate_process(proc, STATUS_DEBUGGER_INACTIVE)
                else:
                    detach(machine, proc, self)
        machine.dispatcher.signal_waiters()


class _Reply:
    """What a thread that sent an event waits for: the debugger's continue."""
    type_name = "DebugReply"

    def __init__(self, event: "DebugEvent"):
        self.event = event
        self.status: int | None = None

    def signaled(self) -> bool:
        return self.status is not None

    def describe(self) -> str:
        e = self.event
        return f"the debugger's continue of a debug event (code {e.code}) of process {e.process.pid}"


class DebugEvent:
    def __init__(self, code: int, process, thread, info: dict):
        self.code = code
        self.process = process
        self.thread = thread
        self.info = info
        self.reported = False
        self.reply: _Reply | None = None
        self.frozen = False     # counted in its process's debug_frozen
        self.held = False       # counted in its thread's debug_held


# ---------------------------------------------------------------------------------------------- sending
def port_of(proc) -> DebugObject | None:
    p = getattr(proc, "debug_port", None)
    return p if isinstance(p, DebugObject) else None


def mark_peb(proc) -> None:
    """DbgkpMarkProcessPeb: PEB.BeingDebugged follows the debug port (a WoW64 process's 64-bit PEB too)."""
    if not proc.peb or proc.aspace is None:
        return
    from winhatch.kernel.structs import PEB
    flag = 1 if port_of(proc) is not None else 0
    try:
        PEB.write(proc.aspace, proc.peb, proc.arch, BeingDebugged=flag)
        if getattr(proc, "peb64", 0):
            PEB.write(proc.aspace, proc.peb64, "x64", BeingDebugged=flag)
    except NtStatusError:
        pass


def _freeze(machine, e: "DebugEvent") -> None:
    """DbgkpSuspendProcess: the whole process stops while the event is pending; its thread waits for the reply."""
    proc = e.process
    proc.debug_frozen += 1
    e.thread.debug_held += 1
    e.frozen = e.held = True
    cur = machine.dispatcher.current
    if cur is not None and cur.process is proc and proc.cpu is not None:
        proc.cpu.stop()        # the running thread stops after its current call
        machine.dispatcher.end_slice()


def _thaw(e: "DebugEvent") -> None:
    """The process runs again (DBG_REPLY_LATER: the event's own thread still waits)."""
    if e.frozen:
        e.frozen = False
        e.process.debug_frozen = max(0, e.process.debug_frozen - 1)


def _release(e: "DebugEvent") -> None:
    _thaw(e)
    if e.held:
        e.held = False
        e.thread.debug_held = max(0, e.thread.debug_held - 1)


def queue(machine, thread, code: int, info: dict, *, reply: bool = False) -> DebugEvent | None:
    """Queue an event of `thread`'s process on its debug port and freeze the process until it is continued."""
    proc = thread.process
    port = port_of(proc)
    if port is None:
        return None
    machine = machine or port.machine
    e = DebugEvent(code, proc, thread, info)
    if reply:
        e.reply = _Reply(e)
    port.events.append(e)
    _freeze(machine, e)
    machine.events.emit(ev.THREAD, "debug_event", proc.pid, thread.tid, code=code,
                        **{k: v for k, v in info.items() if isinstance(v, int)})
    machine.dispatcher.signal_waiters()
    return e


def send_and_wait(machine, thread, code: int, info: dict, continuation) -> None:
    """Send an event whose reply decides what the thread does next (an exception): the thread blocks (raises
    WouldBlock with its registers kept: `keep_pc`) and, when the debugger continues, runs
    `continuation(status)` before its next instruction."""
    e = queue(machine, thread, code, info, reply=True)
    thread.dbg_continuation = (continuation, e.reply)
    raise kwait.WouldBlock(kwait.WaitBlock([e.reply], False, None, "debug event", None,
                                           extra={"keep_pc": True}))


def run_continuation(thread) -> None:
    """Called by the dispatcher before the thread runs: the reply to its event decides what it does."""
    cont = thread.__dict__.pop("dbg_continuation", None)
    if cont is not None:
        fn, reply = cont
        fn(reply.status if reply.status is not None else DBG_CONTINUE)


def exception_info(info, first_chance: bool, arch: str) -> dict:
    from winhatch.kernel.ke.dispatcher import fault_parameters
    params = tuple(info.parameters) if info.context is not None else fault_parameters(info)
    return {"ExceptionCode": info.code & 0xFFFFFFFF, "ExceptionFlags": info.flags,
            "ExceptionRecord": info.record_chain, "ExceptionAddress": info.address,
            "NumberParameters": len(params), "ExceptionInformation": list(params),
            "FirstChance": 1 if first_chance else 0}


def image_events_allowed(proc) -> bool:
    return port_of(proc) is not None and proc.subsystem.get("dbg_started", False)


def on_thread_startup(machine, thread) -> None:
    """DbgkCreateThread: CREATE_PROCESS + LOAD_DLL(ntdll) for the first thread, CREATE_THREAD for the others."""
    proc = thread.process
    if port_of(proc) is None:
        return
    if not proc.subsystem.get("dbg_started"):
        proc.subsystem["dbg_started"] = True
        mark_peb(proc)
        _post_process(machine, proc, thread)
    else:
        queue(machine, thread, CREATE_THREAD, {"StartAddress": _start_address(thread)})


def _start_address(thread) -> int:
    return getattr(thread, "win32_start_address", 0) or thread.start_address


def _post_process(machine, proc, first) -> None:
    queue(machine, first, CREATE_PROCESS, {"BaseOfImage": proc.image_base, "StartAddress": _start_address(first)})
    queue(machine, first, LOAD_DLL, {"BaseOfDll": proc.ntdll_base})


def on_image_map(proc, base: int) -> None:
    """DbgkMapViewOfSection: an image view the process maps after its start is a LOAD_DLL."""
    if image_events_allowed(proc) and base not in (proc.image_base, proc.ntdll_base):
        machine = port_of(proc).machine
        thread = machine.dispatcher.current
        if thread is None or thread.process is not proc:
            thread = next((t for t in proc.threads if not t.terminated), None)
        if thread is not None:
            queue(machine, thread, LOAD_DLL, {"BaseOfDll": base})


def on_image_unmap(proc, base: int) -> None:
    """DbgkUnMapViewOfSection: UNLOAD_DLL."""
    if image_events_allowed(proc) and not proc.exited:
        machine = port_of(proc).machine
        thread = machine.dispatcher.current
        if thread is None or thread.process is not proc:
            thread = next((t for t in proc.threads if not t.terminated), None)
        if thread is not None:
            queue(machine, thread, UNLOAD_DLL, {"BaseAddress": base})


def on_thread_exit(machine, thread, status: int, last: bool) -> None:
    proc = thread.process
    if port_of(proc) is None or not proc.subsystem.get("dbg_started"):
        return
    if last:
        queue(machine, thread, EXIT_PROCESS, {"ExitStatus": status & 0xFFFFFFFF})
    else:
        queue(machine, thread, EXIT_THREAD, {"ExitStatus": status & 0xFFFFFFFF})


def attach(machine, proc, port: DebugObject, *, fake_events: bool) -> None:
    proc.debug_port = port
    mark_peb(proc)
    if not fake_events:
        return
    live = [t for t in proc.threads if not t.terminated]
    if not live or not any(t.started for t in live):
        return          # its first thread has not run: it sends CREATE_PROCESS itself
    proc.subsystem["dbg_started"] = True
    first = live[0]
    _post_process(machine, proc, first)
    exe, ntdll = proc.image_base, proc.ntdll_base
    for img in _images_in_load_order(proc):
        if img not in (exe, ntdll):
            queue(machine, first, LOAD_DLL, {"BaseOfDll": img})
    for t in live[1:]:
        queue(machine, t, CREATE_THREAD, {"StartAddress": _start_address(t)})


def _images_in_load_order(proc) -> list[int]:
    images = proc.subsystem.get("images")
    if images is None:
        return []
    return [img.base for img in images if img.name.lower().endswith(".dll")]


def detach(machine, proc, port: DebugObject) -> None:
    """DbgkClearProcessDebugObject: the process's events leave the object; threads waiting for a reply go on as
    if not handled (STATUS_DEBUGGER_INACTIVE)."""
    if proc.debug_port is port:
        proc.debug_port = None
    for e in [e for e in port.events if e.process is proc]:
        port.events.remove(e)
        _release(e)
        if e.reply is not None and e.reply.status is None:
            e.reply.status = DBG_EXCEPTION_NOT_HANDLED
    mark_peb(proc)
    machine.dispatcher.signal_waiters()


# ---------------------------------------------------------------------------------------------- services
@kernel_service("NtCreateDebugObject")
def NtCreateDebugObject(machine, thread, DebugObjectHandle, DesiredAccess, ObjectAttributes, Flags):
    if Flags & ~DEBUG_KILL_ON_CLOSE & 0xFFFFFFFF:
        write_handle(thread, DebugObjectHandle, 0)
        return STATUS_INVALID_PARAMETER
    return insert_object(machine, thread, DebugObject(Flags & DEBUG_KILL_ON_CLOSE, machine=machine), ObjectAttributes,
                         DesiredAccess & 0xFFFFFFFF, DebugObjectHandle)


@kernel_service("NtDebugActiveProcess")
def NtDebugActiveProcess(machine, thread, ProcessHandle, DebugObjectHandle):
    from winhatch.kernel.ke.services import process_from_handle
    proc = process_from_handle(thread, ProcessHandle, PROCESS_SUSPEND_RESUME)
    port = reference(thread, DebugObjectHandle, "DebugObject", DEBUG_PROCESS_ASSIGN)
    if proc is thread.process or proc.pid in (0, 4):
        return STATUS_ACCESS_DENIED
    if proc.exited:
        return STATUS_PROCESS_IS_TERMINATING
    if proc.debug_port is not None:
        return STATUS_PORT_ALREADY_SET
    attach(machine, proc, port, fake_events=True)
    proc.no_debug_inherit = True   # the processes it creates are not debugged (only CreateProcess's flag does that)
    return 0


@kernel_service("NtRemoveProcessDebug")
def NtRemoveProcessDebug(machine, thread, ProcessHandle, DebugObjectHandle):
    from winhatch.kernel.ke.services import process_from_handle
    proc = process_from_handle(thread, ProcessHandle, PROCESS_SUSPEND_RESUME)
    port = reference(thread, DebugObjectHandle, "DebugObject", DEBUG_PROCESS_ASSIGN)
    if proc.debug_port is not port:
        return STATUS_INVALID_PARAMETER   # STATUS_PORT_NOT_SET's neighbour: not attached to this object
    detach(machine, proc, port)
    return 0


@kernel_service("NtSetInformationDebugObject")
def NtSetInformationDebugObject(machine, thread, DebugObjectHandle, DebugObjectInformationClass,
                                DebugInformation, DebugInformationLength, ReturnLength):
    cls = DebugObjectInformationClass & 0xFFFFFFFF
    n = DebugInformationLength & 0xFFFFFFFF
    if cls != DebugObjectKillProcessOnExitInformation:
        return STATUS_INVALID_PARAMETER
    if n != 4:
        # ReturnLength: the length the class needs, written only when the given one is wrong (a success leaves
        # 0 there — ntdll/info.c test_debug_object)
        if ReturnLength:
            user_write(thread.process, ReturnLength, struct.pack("<I", 4))
        return STATUS_INFO_LENGTH_MISMATCH
    if ReturnLength:
        user_write(thread.process, ReturnLength, struct.pack("<I", 0))
    (value,) = struct.unpack("<I", user_read(thread.process, DebugInformation, 4))
    port = reference(thread, DebugObjectHandle, "DebugObject", DEBUG_SET_INFORMATION)
    if value & ~DEBUG_KILL_ON_CLOSE:
        return STATUS_INVALID_PARAMETER
    port.flags = (port.flags & ~DEBUG_KILL_ON_CLOSE) | (value & DEBUG_KILL_ON_CLOSE)
    return 0


@kernel_service("NtWaitForDebugEvent")
def NtWaitForDebugEvent(machine, thread, DebugObjectHandle, Alertable, Timeout, WaitStateChange, *, caller_sp=0):
    from winhatch.kernel.ke.sync_services import wait_objects
    key = ("NtWaitForDebugEvent", caller_sp)
    port = reference(thread, DebugObjectHandle, "DebugObject", DEBUG_READ_EVENT)
    done = kwait.take_done(thread, key)
    if done is not None and done.status != 0:
        return done.status            # timed out, alerted
    e = port.next_event()
    if e is None:
        st = wait_objects(machine, thread, [port], False, bool(Alertable & 0xFF), Timeout, key,
                          "NtWaitForDebugEvent")
        if st != 0:
            return st
        e = port.next_event()
        if e is None:
            return STATUS_TIMEOUT
    arch = thread.process.arch
    data = _state_change(machine, thread, e)
    user_write(thread.process, WaitStateChange, DBGUI_WAIT_STATE_CHANGE.pack(arch, **data))
    e.reported = True
    return 0


def _state_change(machine, thread, e: DebugEvent) -> dict:
    """DBGUI_WAIT_STATE_CHANGE for the event; the handles it carries are opened in the debugger's process."""
    debugger = thread.process
    proc, t = e.process, e.thread
    out = {"AppClientId": {"UniqueProcess": proc.pid, "UniqueThread": t.tid}}
    info = e.info
    if e.code == EXCEPTION:
        code = info["ExceptionCode"]
        out["NewState"] = (DbgBreakpointStateChange if code == STATUS_BREAKPOINT else
                           DbgSingleStepStateChange if code == STATUS_SINGLE_STEP else DbgExceptionStateChange)
        rec = {k: info[k] for k in ("ExceptionCode", "ExceptionFlags", "ExceptionRecord", "ExceptionAddress",
                                    "NumberParameters", "ExceptionInformation")}
        out["StateInfo"] = {"Exception": {"ExceptionRecord": rec, "FirstChance": info["FirstChance"]}}
    elif e.code == CREATE_PROCESS:
        hp = debugger.handles.insert(proc, PROCESS_ALL_ACCESS)
        ht = debugger.handles.insert(t, THREAD_ALL_ACCESS)
        out["NewState"] = DbgCreateProcessStateChange
        out["StateInfo"] = {"CreateProcessInfo": {
            "HandleToProcess": hp, "HandleToThread": ht,
            "NewProcess": {"FileHandle": 0, "BaseOfImage": info["BaseOfImage"],
                           "InitialThread": {"StartAddress": info["StartAddress"]}}}}
    elif e.code == CREATE_THREAD:
        ht = debugger.handles.insert(t, THREAD_ALL_ACCESS)
        out["NewState"] = DbgCreateThreadStateChange
        out["StateInfo"] = {"CreateThread": {"HandleToThread": ht,
                                             "NewThread": {"StartAddress": info["StartAddress"]}}}
    elif e.code in (EXIT_THREAD, EXIT_PROCESS):
        out["NewState"] = DbgExitThreadStateChange if e.code == EXIT_THREAD else DbgExitProcessStateChange
        field = "ExitThread" if e.code == EXIT_THREAD else "ExitProcess"
        out["StateInfo"] = {field: {"ExitStatus": info["ExitStatus"]}}
    elif e.code == LOAD_DLL:
        out["NewState"] = DbgLoadDllStateChange
        out["StateInfo"] = {"LoadDll": {"FileHandle": 0, "BaseOfDll": info["BaseOfDll"]}}
    else:
        out["NewState"] = DbgUnloadDllStateChange
        out["StateInfo"] = {"UnloadDll": {"BaseAddress": info["BaseAddress"]}}
    return out


@kernel_service("NtDebugContinue")
def NtDebugContinue(machine, thread, DebugObjectHandle, ClientId, ContinueStatus):
    status = ContinueStatus & 0xFFFFFFFF
    port = reference(thread, DebugObjectHandle, "DebugObject", DEBUG_READ_EVENT)
    cid = CLIENT_ID.unpack(thread.process.arch, user_read(thread.process, ClientId,
                                                           CLIENT_ID.size(thread.process.arch)))
    if status not in VALID_CONTINUE:
        return STATUS_INVALID_PARAMETER
    for e in port.events:
        if e.reported and e.process.pid == cid["UniqueProcess"] and e.thread.tid == cid["UniqueThread"]:
            if status == DBG_REPLY_LATER:
                # reported again, in its place, when the debugger waits next; the process runs meanwhile, the
                # event's thread does not
                e.reported = False
                _thaw(e)
                machine.dispatcher.signal_waiters()
                return 0
            port.events.remove(e)
            _release(e)
            if e.reply is not None:
                e.reply.status = status
            if status == DBG_TERMINATE_PROCESS:
                machine.terminate_process(e.process, STATUS_DEBUGGER_INACTIVE)
            machine.dispatcher.signal_waiters()
            return 0
    return STATUS_INVALID_PARAMETER


def thread_debug_object(thread) -> DebugObject | None:
    """The debug object whose handle the thread keeps in TEB DbgSsReserved[1] (DbgUiGetThreadDebugObject)."""
    if thread is None or not thread.teb:
        return None
    from winhatch.kernel.structs import TEB
    proc = thread.process
    ps = 8 if proc.arch == "x64" else 4
    try:
        raw = proc.aspace.read(thread.teb + TEB.offset(proc.arch, "DbgSsReserved") + ps, ps)
        h = int.from_bytes(raw, "little")
        obj = proc.handles.lookup(h, "DebugObject", DEBUG_PROCESS_ASSIGN) if h else None
    except NtStatusError:
        return None
    return obj


def connect(machine, proc, thread) -> DebugObject:
    """DbgUiConnectToDbg as CreateProcess(DEBUG_PROCESS) makes it: the creating thread's debug object, created
    (DEBUG_KILL_ON_CLOSE) with its handle in TEB DbgSsReserved[1] when the thread has none. A creator without a
    thread (the shell) keeps the handle in its process."""
    obj = thread_debug_object(thread)
    if obj is not None:
        return obj
    obj = DebugObject(DEBUG_KILL_ON_CLOSE, machine=machine)
    h = proc.handles.insert(obj, 0x1F000F)
    if thread is not None and thread.teb:
        from winhatch.kernel.structs import TEB
        ps = 8 if proc.arch == "x64" else 4
        proc.aspace.write(thread.teb + TEB.offset(proc.arch, "DbgSsReserved") + ps, h.to_bytes(ps, "little"))
    return obj


def debug_object_handle(machine, thread, proc) -> int:
    """ProcessDebugObjectHandle: a new handle to the process's debug object in the caller's process, or 0."""
    port = port_of(proc)
    if port is None:
        return 0
    return thread.process.handles.insert(port, 0x1F000F)
