"""The process manager's system services for processes and threads, called by the system-service dispatcher
(winhatch.kernel.ke.services): open, create (NtCreateThreadEx), terminate, suspend/resume, alerts and user
APCs, contexts (winhatch.kernel.ps.context). The information classes are in winhatch.kernel.ps.info_services.

Handles and CLIENT_IDs written back are the caller's pointer size (x64 8 bytes, WoW64 4)."""
from __future__ import annotations

import struct

from winhatch.kernel import behaviour
from winhatch.kernel.ke import wait as kwait
from winhatch.kernel.ke.services import kernel_service, process_from_handle, unsupported, user_read, user_write
from winhatch.kernel.ob.access import (PROCESS_CREATE_THREAD, PROCESS_QUERY_INFORMATION,
                                       PROCESS_QUERY_LIMITED_INFORMATION, PROCESS_SET_INFORMATION,
                                       PROCESS_SUSPEND_RESUME, PROCESS_TERMINATE, SYNCHRONIZE, THREAD_ALERT,
                                       THREAD_GET_CONTEXT, THREAD_SET_CONTEXT, THREAD_SUSPEND_RESUME,
                                       THREAD_TERMINATE)
from winhatch.kernel.ob.services import read_object_attributes, read_ptr, reference, write_handle, write_ptr
from winhatch.kernel.ps import context as pscontext
from winhatch.ntstatus import (STATUS_ACCESS_DENIED, STATUS_ACCESS_VIOLATION, STATUS_INVALID_CID,
                               STATUS_INVALID_PARAMETER, STATUS_INVALID_PARAMETER_MIX, STATUS_NO_MEMORY,
                               STATUS_PROCESS_IS_TERMINATING, STATUS_SUSPEND_COUNT_EXCEEDED,
                               STATUS_THREAD_IS_TERMINATING, STATUS_UNSUCCESSFUL, NtStatusError)

MAXIMUM_SUSPEND_COUNT = 127
DEFAULT_MAX_THREADS = 512
STATUS_ALERTED = 0x101
# NtCreateThreadEx CreateFlags
THREAD_CREATE_FLAGS_CREATE_SUSPENDED = 0x1
THREAD_CREATE_FLAGS_SKIP_THREAD_ATTACH = 0x2
THREAD_CREATE_FLAGS_HIDE_FROM_DEBUGGER = 0x4
THREAD_CREATE_FLAGS_LOADER_WORKER = 0x10
THREAD_CREATE_FLAGS_SKIP_LOADER_INIT = 0x20
THREAD_CREATE_FLAGS_BYPASS_PROCESS_FREEZE = 0x40
_KNOWN_CREATE_FLAGS = (THREAD_CREATE_FLAGS_CREATE_SUSPENDED | THREAD_CREATE_FLAGS_HIDE_FROM_DEBUGGER
                       | THREAD_CREATE_FLAGS_BYPASS_PROCESS_FREEZE)
# PS_ATTRIBUTE numbers (PsAttributeValue(n, thread, input, additive))
PS_ATTRIBUTE_CLIENT_ID = 0x10003
PS_ATTRIBUTE_TEB_ADDRESS = 0x10004


def ptr_size(thread) -> int:
    return 8 if thread.process.arch == "x64" else 4


def _thread(thread, handle, access):
    return reference(thread, handle, "Thread", access)


def _process(thread, handle, access):
    return reference(thread, handle, "Process", access)


def implied_process_access(access: int) -> int:
    """QUERY_INFORMATION implies QUERY_LIMITED_INFORMATION, SET_INFORMATION SET_LIMITED_INFORMATION."""
    if access & PROCESS_QUERY_INFORMATION:
        access |= PROCESS_QUERY_LIMITED_INFORMATION
    if access & PROCESS_SET_INFORMATION:
        access |= 0x2000
    return access


def _client_id(thread, cid_ptr: int) -> tuple[int, int]:
    ps = ptr_size(thread)
    return read_ptr(thread, cid_ptr), read_ptr(thread, cid_ptr + ps)


def _open_by_cid(machine, thread, out, access, oa, cid_ptr, type_name):
    """PsOpenProcess / PsOpenThread: by CLIENT_ID (opening by name is not modelled). Windows probes the
    OBJECT_ATTRIBUTES (NULL: STATUS_ACCESS_VIOLATION); a name with a client id, or neither, is
    STATUS_INVALID_PARAMETER_MIX; the handle is zeroed on failure."""
    if not oa:
        return STATUS_ACCESS_VIOLATION
    name, attrs = read_object_attributes(machine, thread, oa)
    if (name is not None) == bool(cid_ptr):
        return STATUS_INVALID_PARAMETER_MIX
    if name is not None:
        unsupported(thread, f"Nt{'Open' + type_name}", "opening by name")
    pid, tid = _client_id(thread, cid_ptr)
    write_handle(thread, out, 0)
    if type_name == "Thread":
        obj = machine.cid.lookup(tid)
        if obj is None or obj.type_name != "Thread" or (pid and obj.process.pid != pid & ~3) or obj.process.exited:
            return STATUS_INVALID_CID
    else:
        obj = machine.cid.lookup(pid) if pid else None
        if obj is None or obj.type_name != "Process":
            return STATUS_INVALID_CID
        access = implied_process_access(access)
        if obj is machine.system_process or obj.token.get("integrity") == "system":
            # protected from a medium-integrity caller: only limited query and synchronize
            if access & ~(PROCESS_QUERY_LIMITED_INFORMATION | SYNCHRONIZE) and \
                    thread.process.token.get("integrity") != "system":
                return STATUS_ACCESS_DENIED
    h = thread.process.handles.insert(obj, access, inherit=bool(attrs & 0x2))
    try:
        write_handle(thread, out, h)
    except NtStatusError:
        thread.process.handles.close(h)
        raise
    return 0


@kernel_service("NtOpenProcess")
def NtOpenProcess(machine, thread, ProcessHandle, DesiredAccess, ObjectAttributes, ClientId):
    return _open_by_cid(machine, thread, ProcessHandle, DesiredAccess & 0xFFFFFFFF, ObjectAttributes, ClientId,
                        "Process")


@kernel_service("NtOpenThread")
def NtOpenThread(machine, thread, ThreadHandle, DesiredAccess, ObjectAttributes, ClientId):
    return _open_by_cid(machine, thread, ThreadHandle, DesiredAccess & 0xFFFFFFFF, ObjectAttributes, ClientId,
                        "Thread")


# ------------------------------------------------------------------------------------------ thread creation
def live_threads(machine) -> int:
    return sum(1 for p in machine.processes if not p.exited for t in p.threads if not t.terminated)


def _attributes(thread, addr: int) -> list[tuple[int, int, int, int, int]]:
    """PS_ATTRIBUTE_LIST {SIZE_T TotalLength; PS_ATTRIBUTE Attributes[]}, each PS_ATTRIBUTE {ULONG_PTR
    Attribute; SIZE_T Size; ULONG_PTR Value / PVOID ValuePtr; PSIZE_T ReturnLength}: (address of the entry,
    attribute, size, value, return-length pointer) of each."""
    ps = ptr_size(thread)
    total = read_ptr(thread, addr)
    n = (total - ps) // (4 * ps)
    if total < ps or n > 64:
        raise NtStatusError(STATUS_INVALID_PARAMETER, "bad PS_ATTRIBUTE_LIST length")
    raw = user_read(thread.process, addr + ps, 4 * ps * n)
    vals = struct.unpack(f"<{4 * n}{'Q' if ps == 8 else 'I'}", raw)
    return [(addr + ps + 4 * ps * i, *vals[4 * i:4 * i + 4]) for i in range(n)]


@kernel_service("NtCreateThreadEx")
def NtCreateThreadEx(machine, thread, ThreadHandle, DesiredAccess, ObjectAttributes, ProcessHandle, StartRoutine,
                     Argument, CreateFlags, ZeroBits, StackSize, MaximumStackSize, AttributeList):
    """PspCreateThread in the process behind ProcessHandle; the attribute list may ask for the new thread's
    CLIENT_ID and TEB address. StackSize is the commit, MaximumStackSize the reservation (the image's
    values where 0)."""
    from winhatch.kernel.ps.create import PspCreateThread
    from winhatch.kernel.ps.objects import CsrThread
    flags = CreateFlags & 0xFFFFFFFF
    if flags & ~_KNOWN_CREATE_FLAGS:
        unsupported(thread, "NtCreateThreadEx", f"CreateFlags {flags:#x}")
    from winhatch.kernel.mm.services import zero_bits_limit
    highest = zero_bits_limit(thread, ZeroBits)   # where the stack may be placed (STATUS_INVALID_PARAMETER_3)
    attrs = _attributes(thread, AttributeList) if AttributeList else []
    for _entry, attr, _size, _value, _ret in attrs:
        if attr not in (PS_ATTRIBUTE_CLIENT_ID, PS_ATTRIBUTE_TEB_ADDRESS):
            unsupported(thread, "NtCreateThreadEx", f"PS_ATTRIBUTE {attr:#x}")
    proc = _process(thread, ProcessHandle, PROCESS_CREATE_THREAD)
    if proc.cpu is None:
        return STATUS_ACCESS_DENIED      # the system's pseudo-processes run no user threads
    if proc.exited or proc.exiting:
        return STATUS_PROCESS_IS_TERMINATING      # Win32: ERROR_ACCESS_DENIED (Windows 7 and later)
    limit = machine.limits.get("max_threads", DEFAULT_MAX_THREADS)
    if live_threads(machine) >= limit:
        machine.events.emit("thread", "limit_reached", thread.process.pid, thread.tid, api="NtCreateThreadEx",
                            limit=limit, what="threads")
        machine.subsystem.setdefault("limits_hit", []).append({"what": "threads", "limit": limit,
                                                               "pid": thread.process.pid,
                                                               "api": "NtCreateThreadEx"})
        return STATUS_NO_MEMORY
    reserve, commit = MaximumStackSize, StackSize
    pe = getattr(proc.image_section, "pe", None)
    if pe is not None:
        reserve = reserve or pe.size_of_stack_reserve
        commit = commit or pe.size_of_stack_commit
    if commit and reserve and commit > reserve:
        reserve = (commit + 0xFFFFF) & ~0xFFFFF  # the reservation grows to hold the commit (1 MB steps)
    new = PspCreateThread(machine, proc, start=StartRoutine, parameter=Argument, stack_reserve=reserve,
                          stack_commit=commit, suspended=bool(flags & THREAD_CREATE_FLAGS_CREATE_SUSPENDED),
                          stack_highest=highest)
    behaviour.cross_process(machine, thread, proc, "NtCreateThreadEx", start=StartRoutine, parameter=Argument,
                            tid=new.tid)
    if flags & THREAD_CREATE_FLAGS_HIDE_FROM_DEBUGGER:
        new.hide_from_debugger = True
    if proc.csr is not None:
        new.csr = CsrThread(new.tid, proc.pid)
        proc.csr.threads.append(new.csr)
    name, oa_attrs = read_object_attributes(machine, thread, ObjectAttributes) if ObjectAttributes else (None, 0)
    h = thread.process.handles.insert(new, DesiredAccess & 0xFFFFFFFF, inherit=bool(oa_attrs & 0x2))
    write_handle(thread, ThreadHandle, h)
    ps = ptr_size(thread)
    for entry, attr, size, value, ret in attrs:
        if attr == PS_ATTRIBUTE_CLIENT_ID:
            if size >= 2 * ps:
                write_ptr(thread, value, proc.pid)
                write_ptr(thread, value + ps, new.tid)
                if ret:
                    write_ptr(thread, ret, 2 * ps)
        elif attr == PS_ATTRIBUTE_TEB_ADDRESS:
            if size >= ps:
                write_ptr(thread, value, new.teb)
                if ret:
                    write_ptr(thread, ret, ps)
    if new.runnable:
        machine.dispatcher.thread_ready(new)
    return 0


# ------------------------------------------------------------------------------------------ termination
@kernel_service("NtTerminateProcess")
def NtTerminateProcess(machine, thread, ProcessHandle, ExitStatus):
    """A NULL handle ends every other thread of the calling process (ExitProcess's first step) and marks it
    exiting (NtCreateThreadEx in it is then STATUS_PROCESS_IS_TERMINATING, as on Windows 7 and later: Wine's
    kernel32/tests/loader.c); the calling process itself ends on the return (ProcessExit)."""
    from winhatch.kernel.ke.dispatcher import ProcessExit
    code = ExitStatus & 0xFFFFFFFF
    if not ProcessHandle:
        thread.process.exiting = True        # the process has begun to exit: no thread may start in it
        for t in list(thread.process.threads):
            if t is not thread and not t.terminated:
                machine.terminate_thread(t, code)
        return 0
    proc = _process(thread, ProcessHandle, PROCESS_TERMINATE)
    if proc is thread.process:
        raise ProcessExit(code)
    if proc.exited:
        return STATUS_PROCESS_IS_TERMINATING
    machine.terminate_process(proc, code)
    return 0


@kernel_service("NtTerminateThread")
def NtTerminateThread(machine, thread, ThreadHandle, ExitStatus):
    from winhatch.kernel.ke.dispatcher import ThreadExit
    code = ExitStatus & 0xFFFFFFFF
    t = thread if not ThreadHandle else _thread(thread, ThreadHandle, THREAD_TERMINATE)
    if t is thread:
        raise ThreadExit(code)   # no DLL detach: the thread just ends
    if not t.terminated:
        machine.terminate_thread(t, code)
    return 0


# ------------------------------------------------------------------------------------------ suspend / resume
def suspend(machine, thread, t) -> int:
    if t.terminated:
        raise NtStatusError(STATUS_THREAD_IS_TERMINATING, "the thread has ended")
    prev = t.suspend_count
    if prev >= MAXIMUM_SUSPEND_COUNT:
        raise NtStatusError(STATUS_SUSPEND_COUNT_EXCEEDED, "suspend count at its maximum")
    t.suspend_count += 1
    if t is thread:
        machine.dispatcher.end_slice()  # suspended itself: it stops after this call
    return prev


def resume(machine, t) -> int:
    prev = t.suspend_count
    if prev > 0:
        t.suspend_count -= 1
        if t.runnable:
            machine.dispatcher.thread_ready(t)
    return prev


def _put_count(thread, ptr: int, n: int) -> None:
    if ptr:
        user_write(thread.process, ptr, struct.pack("<I", n))


@kernel_service("NtSuspendThread")
def NtSuspendThread(machine, thread, ThreadHandle, PreviousSuspendCount):
    t = _thread(thread, ThreadHandle, THREAD_SUSPEND_RESUME)
    _put_count(thread, PreviousSuspendCount, suspend(machine, thread, t))
    return 0


@kernel_service("NtResumeThread")
def NtResumeThread(machine, thread, ThreadHandle, PreviousSuspendCount):
    t = _thread(thread, ThreadHandle, THREAD_SUSPEND_RESUME)
    _put_count(thread, PreviousSuspendCount, resume(machine, t))
    return 0


@kernel_service("NtSuspendProcess")
def NtSuspendProcess(machine, thread, ProcessHandle):
    proc = _process(thread, ProcessHandle, PROCESS_SUSPEND_RESUME)
    if proc.exited:
        return STATUS_PROCESS_IS_TERMINATING
    for t in proc.threads:
        if not t.terminated and t.suspend_count < MAXIMUM_SUSPEND_COUNT:
            t.suspend_count += 1
            if t is thread:
                machine.dispatcher.end_slice()
    return 0


@kernel_service("NtResumeProcess")
def NtResumeProcess(machine, thread, ProcessHandle):
    proc = _process(thread, ProcessHandle, PROCESS_SUSPEND_RESUME)
    for t in proc.threads:
        if not t.terminated:
            resume(machine, t)
    return 0


# ------------------------------------------------------------------------------------------ alerts and APCs
def alert(machine, t) -> None:
    """KeAlertThread (user mode): an alertable wait ends with STATUS_ALERTED, else the next one does."""
    w = t.wait
    if w is not None and w.alertable:
        machine.dispatcher.wake(t, STATUS_ALERTED)
    else:
        t.alerted = True


@kernel_service("NtAlertThread")
def NtAlertThread(machine, thread, ThreadHandle):
    t = _thread(thread, ThreadHandle, THREAD_ALERT)
    if not t.terminated:
        alert(machine, t)
    return 0


@kernel_service("NtAlertResumeThread")
def NtAlertResumeThread(machine, thread, ThreadHandle, PreviousSuspendCount):
    t = _thread(thread, ThreadHandle, THREAD_SUSPEND_RESUME)
    if t.terminated:
        return STATUS_THREAD_IS_TERMINATING
    alert(machine, t)
    _put_count(thread, PreviousSuspendCount, resume(machine, t))
    return 0


@kernel_service("NtQueueApcThread")
def NtQueueApcThread(machine, thread, ThreadHandle, ApcRoutine, ApcArgument1, ApcArgument2, ApcArgument3):
    """KeInsertQueueApc (user mode): ApcRoutine(Argument1, Argument2, Argument3) runs when the thread next
    waits alertably (or calls NtTestAlert)."""
    t = _thread(thread, ThreadHandle, THREAD_SET_CONTEXT)
    if t.terminated or t.process.exited:
        return STATUS_UNSUCCESSFUL          # the thread no longer takes APCs (QueueUserAPC: ERROR_GEN_FAILURE)
    if not ApcRoutine:
        return 0                            # nothing to run in user mode: accepted, and no alertable wait ends
    kwait.queue_apc(machine, t, ApcRoutine, [ApcArgument1, ApcArgument2, ApcArgument3])
    behaviour.cross_process(machine, thread, t.process, "NtQueueApcThread", routine=ApcRoutine, tid=t.tid)
    return 0


# ------------------------------------------------------------------------------------------ contexts
def _native(thread) -> str:
    return "x64" if thread.process.arch == "x64" else "x86"


@kernel_service("NtGetContextThread")
def NtGetContextThread(machine, thread, ThreadHandle, ThreadContext, *, caller_sp=0):
    t = _thread(thread, ThreadHandle, THREAD_GET_CONTEXT)
    return pscontext.get_context(thread, t, ThreadContext, _native(thread), caller_sp)


@kernel_service("NtSetContextThread")
def NtSetContextThread(machine, thread, ThreadHandle, ThreadContext, *, caller_sp=0):
    t = _thread(thread, ThreadHandle, THREAD_SET_CONTEXT)
    st = pscontext.set_context(thread, t, ThreadContext, _native(thread), caller_sp)
    behaviour.cross_process(machine, thread, t.process, "NtSetContextThread", tid=t.tid)
    return st


@kernel_service("NtGetNextThread")
def NtGetNextThread(machine, thread, ProcessHandle, ThreadHandle, DesiredAccess, HandleAttributes, Flags,
                    NewThreadHandle):
    """A handle to the thread of the process after ThreadHandle's (the first with none; Flags 1: the other way),
    in creation order, exited threads still referenced included; STATUS_NO_MORE_ENTRIES after the last."""
    write_handle(thread, NewThreadHandle, 0)
    proc = process_from_handle(thread, ProcessHandle, PROCESS_QUERY_INFORMATION)
    flags = Flags & 0xFFFFFFFF
    if flags & ~1:
        return STATUS_INVALID_PARAMETER
    threads = [t for t in proc.threads if not t.deleted]
    if flags & 1:
        threads.reverse()
    start = 0
    if ThreadHandle:
        cur = reference(thread, ThreadHandle, "Thread", 0)
        start = threads.index(cur) + 1 if cur in threads else len(threads)
    if start >= len(threads):
        return 0x8000001A                      # STATUS_NO_MORE_ENTRIES
    from winhatch.kernel.ob.access import object_type
    access = object_type("Thread").map_access(DesiredAccess & 0xFFFFFFFF)
    h = thread.process.handles.insert(threads[start], access, inherit=bool(HandleAttributes & 0x2))
    try:
        write_handle(thread, NewThreadHandle, h)
    except Exception:
        thread.process.handles.close(h)
        raise
    return 0


# ------------------------------------------------------------------------------------------ process creation
PS_ATTRIBUTE_IMAGE_NAME = 0x20005
PROCESS_CREATE_FLAGS_BREAKAWAY = 0x1
PROCESS_CREATE_FLAGS_INHERIT_HANDLES = 0x4
RTL_USER_PROC_PARAMS_NORMALIZED = 0x1
PS_CREATE_SUCCESS = 6
MAX_ENVIRONMENT = 0x10000          # characters of an environment block read (a guest block is bounded)


def _params_string(thread, params: int, field: str, normalized: bool) -> str:
    """A UNICODE_STRING of RTL_USER_PROCESS_PARAMETERS: its Buffer a pointer once normalized, else an offset
    from the structure."""
    from winhatch.kernel.structs import RTL_USER_PROCESS_PARAMETERS
    from winhatch.kernel.ob.services import read_unicode_string
    arch = thread.process.arch
    us = params + RTL_USER_PROCESS_PARAMETERS.offset(arch, field)
    if normalized:
        return read_unicode_string(thread, us)
    ps = ptr_size(thread)
    length = struct.unpack("<H", user_read(thread.process, us, 2))[0]
    off = read_ptr(thread, us + ps)
    if not length or not off:
        return ""
    return user_read(thread.process, params + off, length & ~1).decode("utf-16-le", "surrogatepass")


def _params_environment(thread, params: int, normalized: bool) -> dict[str, str] | None:
    """The environment block the parameters point at (NUL-separated, double-NUL-terminated), or None."""
    from winhatch.kernel.structs import RTL_USER_PROCESS_PARAMETERS
    arch = thread.process.arch
    addr = read_ptr(thread, params + RTL_USER_PROCESS_PARAMETERS.offset(arch, "Environment"))
    if not addr:
        return None
    if not normalized:
        addr += params
    chars = []
    proc = thread.process
    for i in range(MAX_ENVIRONMENT):
        ch = struct.unpack("<H", user_read(proc, addr + 2 * i, 2))[0]
        if ch == 0 and chars and chars[-1] == "\0":
            break
        chars.append(chr(ch))
    env = {}
    for entry in "".join(chars).split("\0"):
        if "=" in entry[1:]:
            k, v = entry.split("=", 1) if not entry.startswith("=") else ("=" + entry[1:].split("=", 1)[0],
                                                                           entry[1:].split("=", 1)[1])
            env[k] = v
    return env


@kernel_service("NtCreateUserProcess")
def NtCreateUserProcess(machine, thread, ProcessHandle, ThreadHandle, ProcessDesiredAccess, ThreadDesiredAccess,
                        ProcessObjectAttributes, ThreadObjectAttributes, ProcessFlags, ThreadFlags,
                        ProcessParameters, CreateInfo, AttributeList):
    """Create a process from an image (PS_ATTRIBUTE_IMAGE_NAME, an NT path) and the caller's
    RTL_USER_PROCESS_PARAMETERS, through the ps component's stages (winhatch.kernel.ps.create: the image
    section, the process, its PEB and parameters, the initial thread). The initial thread cannot be hidden
    from the debugger (THREAD_CREATE_FLAGS_HIDE_FROM_DEBUGGER: STATUS_INVALID_PARAMETER, as Windows answers);
    THREAD_CREATE_FLAGS_CREATE_SUSPENDED leaves it suspended. PS_CREATE_INFO.State reports PsCreateSuccess.
    Other process flags and attributes stop loudly."""
    from winhatch.kernel.ps import create as C
    from winhatch.kernel.ps import flags as F
    tflags = ThreadFlags & 0xFFFFFFFF
    pflags = ProcessFlags & 0xFFFFFFFF
    if tflags & THREAD_CREATE_FLAGS_HIDE_FROM_DEBUGGER:
        return STATUS_INVALID_PARAMETER
    if tflags & ~THREAD_CREATE_FLAGS_CREATE_SUSPENDED:
        unsupported(thread, "NtCreateUserProcess", f"ThreadFlags {tflags:#x}")
    if pflags & ~PROCESS_CREATE_FLAGS_INHERIT_HANDLES:
        unsupported(thread, "NtCreateUserProcess", f"ProcessFlags {pflags:#x}")
    if ProcessObjectAttributes or ThreadObjectAttributes:
        unsupported(thread, "NtCreateUserProcess", "object attributes for the process or thread")
    if not ProcessParameters or not AttributeList:
        return STATUS_INVALID_PARAMETER
    image = None
    attrs = _attributes(thread, AttributeList)
    for _entry, attr, size, value, _ret in attrs:
        if attr == PS_ATTRIBUTE_IMAGE_NAME:
            if size & 1 or not size or size > 0x10000:
                return STATUS_INVALID_PARAMETER
            image = user_read(thread.process, value, size).decode("utf-16-le", "surrogatepass")
        elif attr != PS_ATTRIBUTE_CLIENT_ID:
            unsupported(thread, "NtCreateUserProcess", f"PS_ATTRIBUTE {attr:#x}")
    if image is None:
        return STATUS_INVALID_PARAMETER
    from winhatch.kernel.structs import RTL_USER_PROCESS_PARAMETERS
    flags_off = RTL_USER_PROCESS_PARAMETERS.offset(thread.process.arch, "Flags")
    normalized = bool(struct.unpack("<I", user_read(thread.process, ProcessParameters + flags_off, 4))[0]
                      & RTL_USER_PROC_PARAMS_NORMALIZED)
    dos_image = image[4:] if image.startswith("\\??\\") else image
    parent = thread.process
    cmd = _params_string(thread, ProcessParameters, "CommandLine", normalized) or dos_image
    cwd = _params_string(thread, ProcessParameters, "CurrentDirectory", normalized) \
        or parent.subsystem.get("cwd") or machine.default_cwd
    env = _params_environment(thread, ProcessParameters, normalized)
    if env is None:
        env = dict(parent.subsystem.get("environment") or machine.default_environment())
    title = _params_string(thread, ProcessParameters, "WindowTitle", normalized) or dos_image
    desktop = _params_string(thread, ProcessParameters, "DesktopInfo", normalized) \
        or parent.subsystem.get("desktop", r"WinSta0\Default")
    req = C.CreateRequest(image_path=dos_image, command_line=cmd, current_directory=cwd, environment=env,
                          desktop=desktop, window_title=title, priority_class="normal",
                          creation_flags=F.CREATE_SUSPENDED if tflags & THREAD_CREATE_FLAGS_CREATE_SUSPENDED else 0,
                          inherit_handles=bool(pflags & PROCESS_CREATE_FLAGS_INHERIT_HANDLES),
                          startup=C.StartupInfo())
    try:
        res = C.NtCreateUserProcess(machine, parent, thread, req)
    except C.CreateProcessError as e:
        return e.status
    # the handles the stages gave the creator, with the access asked for
    for h, access in ((res.process_handle, ProcessDesiredAccess), (res.thread_handle, ThreadDesiredAccess)):
        parent.handles.entry(h).access = access & 0xFFFFFFFF
    write_handle(thread, ProcessHandle, res.process_handle)
    write_handle(thread, ThreadHandle, res.thread_handle)
    ps = ptr_size(thread)
    for _entry, attr, size, value, ret in attrs:
        if attr == PS_ATTRIBUTE_CLIENT_ID and size >= 2 * ps:
            write_ptr(thread, value, res.pid)
            write_ptr(thread, value + ps, res.tid)
            if ret:
                write_ptr(thread, ret, 2 * ps)
    if CreateInfo:
        user_write(thread.process, CreateInfo + ps, struct.pack("<I", PS_CREATE_SUCCESS))   # State
    if res.thread.runnable:
        machine.dispatcher.thread_ready(res.thread)
    return 0
