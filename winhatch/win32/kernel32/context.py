"""kernel32 / kernelbase / ntdll: thread contexts and process/thread queries — what debuggers, packers and
process hollowing call: Get/SetThreadContext, Wow64Get/SetThreadContext, NtGet/SetContextThread,
RtlWow64Get/SetThreadContext, NtQueryInformationProcess, NtQueryInformationThread, CheckRemoteDebuggerPresent.

Where a thread's registers are (the scheduler, winhatch.kernel.ke.dispatcher): the thread its process's CPU
last ran (`running_thread`) has them on that CPU; any other thread has them saved in `thread.context`. A
thread of another process still sitting on its CPU is parked first (its registers saved into
`thread.context`, the CPU marked free, as thread exit does), so reads and writes always go to
`thread.context` and the scheduler restores that on the thread's next switch. A thread that never ran holds
the context the kernel prepared (`thread.user_context`, the same object: winhatch.kernel.ps.peb
initial_user_context): the pc at ntdll!RtlUserThreadStart, the start routine and parameter in rcx/rdx (x64)
or eax/ebx (x86), for the initial thread the image entry point and the PEB — what Windows reports for a
thread created suspended. The thread first enters ntdll!LdrInitializeThunk, which ends by resuming that
context (NtContinue), so a SetThreadContext before the first run redirects it as on Windows (process
hollowing).

The CONTEXT records are built and read with the exception dispatcher's helpers (winhatch.win32.ntdll.exceptions:
context_to_guest / context_from_guest); only the ContextFlags groups requested are copied (a group counts
when all its bits, the architecture bit included, are set, as the Windows kernel tests them):

    x64  CONTROL SegCs SegSs EFlags Rsp Rip   INTEGER Rax..R15 with Rbp   SEGMENTS SegDs/Es/Fs/Gs
         FLOATING_POINT MxCsr FltSave   DEBUG_REGISTERS Dr0-3 Dr6 Dr7
    x86  CONTROL Ebp Eip SegCs EFlags Esp SegSs   INTEGER Eax..Edi   SEGMENTS SegGs/Fs/Es/Ds
         FLOATING_POINT FloatSave   DEBUG_REGISTERS Dr0-3 Dr6 Dr7   EXTENDED_REGISTERS (FXSAVE image)

Differences from Windows, documented: the segment selectors reported are Windows' user-mode ones (x64 cs 0x33,
x86 (WoW64) cs 0x23, ss/ds/es/gs 0x2B, fs 0x53), whatever winhatch's own GDT numbers them, and selectors
written by SetThreadContext are ignored (Windows forces the user-mode selectors too); debug registers are
stored per thread and read back but hardware breakpoints are not emulated; GetThreadContext of the calling
thread reports its state at the return from the call; SetThreadContext of the calling thread continues at the
new context like NtContinue (the return value register keeps TRUE / STATUS_SUCCESS unless CONTEXT_INTEGER was
set). An x64 caller's CONTEXT for a thread of an x86 process holds the x86 registers zero-extended
(Windows would report the WoW64 layer's own 64-bit state); an x86 caller cannot read an x64 thread
(STATUS_INVALID_PARAMETER). NtQueryInformationProcess answers the classes below (others:
STATUS_INVALID_INFO_CLASS); the debugger classes report a process without a debugger.
"""
from __future__ import annotations

import struct

from winhatch.cpu.context import Context
from winhatch.kernel.ob.access import (PROCESS_QUERY_INFORMATION, PROCESS_QUERY_LIMITED_INFORMATION,
                                       THREAD_GET_CONTEXT, THREAD_QUERY_INFORMATION,
                                       THREAD_QUERY_LIMITED_INFORMATION, THREAD_SET_CONTEXT)
from winhatch.kernel.structs import CONTEXT_AMD64, CONTEXT_X86
from winhatch.win32.ntdll import exceptions as X
from winhatch.ntstatus import (STATUS_ACCESS_DENIED, STATUS_ACCESS_VIOLATION, STATUS_INFO_LENGTH_MISMATCH,
                               STATUS_INVALID_INFO_CLASS, STATUS_INVALID_PARAMETER,
                               STATUS_UNSUCCESSFUL, NtStatusError, nt_to_win32)
from winhatch.win32.api import api

from winhatch.win32.ntdll.seh import caller_context

K32 = ("kernel32.dll", "kernelbase.dll")
STATUS_SUCCESS = 0
STATUS_PORT_NOT_SET = 0xC0000353
STATUS_PENDING = 0x103
ERROR_INVALID_PARAMETER = 87

AMD64_FLAG, X86_FLAG = 0x100000, 0x10000
CONTROL, INTEGER, SEGMENTS, FLOATING_POINT, DEBUG_REGISTERS, EXTENDED_REGISTERS = 0x1, 0x2, 0x4, 0x8, 0x10, 0x20
DEBUG_NAMES = ("Dr0", "Dr1", "Dr2", "Dr3", "Dr6", "Dr7")

# the CONTEXT fields of each ContextFlags group
_GROUPS = {
    "x64": {
        CONTROL: ("SegCs", "SegSs", "EFlags", "Rsp", "Rip"),
        INTEGER: ("Rax", "Rcx", "Rdx", "Rbx", "Rbp", "Rsi", "Rdi", "R8", "R9", "R10", "R11", "R12", "R13",
                  "R14", "R15"),
        SEGMENTS: ("SegDs", "SegEs", "SegFs", "SegGs"),
        FLOATING_POINT: ("MxCsr", "FltSave"),
        DEBUG_REGISTERS: DEBUG_NAMES,
    },
    "x86": {
        CONTROL: ("Ebp", "Eip", "SegCs", "EFlags", "Esp", "SegSs"),
        INTEGER: ("Edi", "Esi", "Ebx", "Edx", "Ecx", "Eax"),
        SEGMENTS: ("SegGs", "SegFs", "SegEs", "SegDs"),
        FLOATING_POINT: ("FloatSave",),
        DEBUG_REGISTERS: DEBUG_NAMES,
        EXTENDED_REGISTERS: ("ExtendedRegisters",),
    },
}
# the user-mode selectors Windows reports (x86: a WoW64 thread's); winhatch's own GDT numbers them otherwise
_SELECTORS = {"x64": {"SegCs": 0x33, "SegSs": 0x2B, "SegDs": 0x2B, "SegEs": 0x2B, "SegFs": 0x53, "SegGs": 0x2B},
              "x86": {"SegCs": 0x23, "SegSs": 0x2B, "SegDs": 0x2B, "SegEs": 0x2B, "SegFs": 0x53, "SegGs": 0x2B}}
_LAYOUT = {"x64": (CONTEXT_AMD64, AMD64_FLAG), "x86": (CONTEXT_X86, X86_FLAG)}


def _groups(layout: str, flags: int) -> int:
    """The groups requested: each counts only with the architecture bit set, as the kernel tests them."""
    _, arch_flag = _LAYOUT[layout]
    if not flags & arch_flag:
        return 0
    return sum(g for g in _GROUPS[layout] if flags & g)


def _ranges(layout: str, groups: int):
    st = _LAYOUT[layout][0]
    for g, names in _GROUPS[layout].items():
        if groups & g:
            for n in names:
                yield st.offset(layout, n), st.field_size(layout, n)


# ------------------------------------------------------------------------------------------ where the registers are
def _target_thread(c, h: int, access: int):
    """(thread, status): the thread behind a handle with `access`, or None and the NTSTATUS."""
    try:
        t = c.proc.handles.lookup(h, "Thread", access, current_process=c.proc, current_thread=c.thread)
    except NtStatusError as e:
        return None, e.status
    if t.terminated or t.process.cpu is None or t.process.exited:
        return None, STATUS_UNSUCCESSFUL
    return t, STATUS_SUCCESS


def _park(t) -> None:
    """A thread of another process still on its process's CPU: save its registers into thread.context and
    free the CPU (the scheduler restores thread.context when it next switches to the thread)."""
    proc = t.process
    if proc.subsystem.get("running_thread") is t:
        t.context = proc.cpu.save_context()
        proc.subsystem["running_thread"] = None


def _regs_of(c, t) -> Context:
    if t is c.thread:
        return caller_context(c)
    _park(t)
    return t.context


def _debug_regs(t) -> dict:
    d = getattr(t, "debug_registers", None)
    if d is None:
        d = t.debug_registers = dict.fromkeys(DEBUG_NAMES, 0)
    return d


# ------------------------------------------------------------------------------------------ arch views
def _widen(ctx: Context) -> Context:
    """An x86 register snapshot as an x64 one (registers zero-extended) for an x64 caller's CONTEXT."""
    r = ctx.regs
    names = {"rax": "eax", "rbx": "ebx", "rcx": "ecx", "rdx": "edx", "rsi": "esi", "rdi": "edi", "rbp": "ebp",
             "rsp": "esp", "rip": "eip", "rflags": "eflags"}
    regs = {k: r[v] for k, v in names.items()}
    regs.update({f"r{i}": 0 for i in range(8, 16)})
    for k in ("cs", "ss", "ds", "es", "fs", "gs", "fpcw", "fpsw", "fptag", "mxcsr", *(f"fp{i}" for i in range(8)),
              *(f"xmm{i}" for i in range(8))):
        if k in r:
            regs[k] = r[k]
    regs.update({f"xmm{i}": 0 for i in range(8, 16)})
    regs.setdefault("gs_base", 0)
    return Context("x64", regs)


def _narrow(wide: Context, base: Context) -> Context:
    out = base.copy()
    names = {"rax": "eax", "rbx": "ebx", "rcx": "ecx", "rdx": "edx", "rsi": "esi", "rdi": "edi", "rbp": "ebp",
             "rsp": "esp", "rip": "eip", "rflags": "eflags"}
    for k, v in names.items():
        out.regs[v] = wide.regs[k] & 0xFFFFFFFF
    for k in ("fpcw", "fpsw", "fptag", "mxcsr", *(f"fp{i}" for i in range(8)), *(f"xmm{i}" for i in range(8))):
        if k in wide.regs:
            out.regs[k] = wide.regs[k]
    return out


# ------------------------------------------------------------------------------------------ get / set
def _get(c, h: int, addr: int, layout: str) -> int:
    """NtGetContextThread with a CONTEXT of `layout` ("x64" or "x86") at addr."""
    t, st = _target_thread(c, h, THREAD_GET_CONTEXT)
    if t is None:
        return st
    if layout == "x86" and t.process.arch != "x86":
        return STATUS_INVALID_PARAMETER
    st_, _ = _LAYOUT[layout]
    size = st_.size(layout)
    try:
        buf = bytearray(c.read(addr, size))
    except NtStatusError:
        return STATUS_ACCESS_VIOLATION
    flags = struct.unpack_from("<I", buf, st_.offset(layout, "ContextFlags"))[0]
    groups = _groups(layout, flags)
    regs = _regs_of(c, t)
    if layout == "x64" and not regs.is64:
        regs = _widen(regs)
    full = bytearray(X.context_to_guest(regs))
    for n, v in _SELECTORS[layout].items():
        struct.pack_into("<H", full, st_.offset(layout, n), v)
    if groups & DEBUG_REGISTERS:
        for n, v in _debug_regs(t).items():
            struct.pack_into("<Q" if layout == "x64" else "<I", full, st_.offset(layout, n), v)
    for off, n in _ranges(layout, groups):
        buf[off:off + n] = full[off:off + n]
    try:
        c.write(addr, bytes(buf))
    except NtStatusError:
        return STATUS_ACCESS_VIOLATION
    return STATUS_SUCCESS


def _apply(layout: str, data: bytes, groups: int, base: Context) -> Context:
    """The registers of `base` with the requested groups of the CONTEXT `data` applied (context_from_guest
    does the register groups; the x64 Rbp belongs to INTEGER and the x87 registers to FLOATING_POINT)."""
    st_, arch_flag = _LAYOUT[layout]
    data = bytearray(data)
    struct.pack_into("<I", data, st_.offset(layout, "ContextFlags"), arch_flag | (groups & ~SEGMENTS))
    new = X.context_from_guest(bytes(data), base)
    r = new.regs
    if layout == "x64":
        rbp = struct.unpack_from("<Q", data, st_.offset(layout, "Rbp"))[0]
        r["rbp"] = rbp if groups & INTEGER else base.regs["rbp"]
        if groups & FLOATING_POINT:
            fo = st_.offset(layout, "FltSave")
            abridged = data[fo + 4]
            r["fptag"] = sum((0 if abridged >> i & 1 else 3) << (2 * i) for i in range(8))
            for i in range(8):
                r[f"fp{i}"] = int.from_bytes(data[fo + 32 + 16 * i: fo + 42 + 16 * i], "little")
    elif groups & FLOATING_POINT:
        fs = st_.offset(layout, "FloatSave")
        r["fptag"] = struct.unpack_from("<I", data, fs + 8)[0] & 0xFFFF
        ra = st_.offset(layout, "FloatSave.RegisterArea")
        for i in range(8):
            r[f"fp{i}"] = int.from_bytes(data[ra + 10 * i: ra + 10 * i + 10], "little")
    return new


def _set(c, h: int, addr: int, layout: str, ok_value: int) -> int:
    """NtSetContextThread with a CONTEXT of `layout` at addr; `ok_value` is what the calling thread's return
    register holds if it sets its own context without CONTEXT_INTEGER."""
    t, st = _target_thread(c, h, THREAD_SET_CONTEXT)
    if t is None:
        return st
    if layout == "x86" and t.process.arch != "x86":
        return STATUS_INVALID_PARAMETER
    st_, _ = _LAYOUT[layout]
    try:
        data = c.read(addr, st_.size(layout))
    except NtStatusError:
        return STATUS_ACCESS_VIOLATION
    flags = struct.unpack_from("<I", data, st_.offset(layout, "ContextFlags"))[0]
    groups = _groups(layout, flags)
    if groups & DEBUG_REGISTERS:
        d = _debug_regs(t)
        for n in DEBUG_NAMES:
            v = struct.unpack_from("<Q" if layout == "x64" else "<I", data, st_.offset(layout, n))[0]
            d[n] = v & ~0x2000 if n == "Dr7" else v    # Dr7.GD (general detect) is the kernel's
    if not groups & ~(DEBUG_REGISTERS | SEGMENTS):
        return STATUS_SUCCESS
    base = _regs_of(c, t)
    if layout == "x64" and not base.is64:
        new = _narrow(_apply(layout, data, groups, _widen(base)), base)
    else:
        new = _apply(layout, data, groups, base)
    if t is c.thread:
        if not groups & INTEGER:
            new.set("rax" if new.is64 else "eax", ok_value)
        c.cpu.restore_context(new)     # continues there, as NtContinue does
        return STATUS_SUCCESS
    if not t.started and t.context is getattr(t, "user_context", None):
        t.user_context = new   # what LdrInitializeThunk resumes (NtContinue) on the first run
    t.context = new
    return STATUS_SUCCESS


def _win32(c, status: int) -> int:
    if status:
        c.set_last_error(nt_to_win32(status))
        return 0
    return 1


def _native(c) -> str:
    return "x64" if c.cpu.is64 else "x86"


@api(K32, "BOOL WINAPI GetThreadContext(HANDLE hThread, LPCONTEXT lpContext)")
def GetThreadContext(c, h, ctx):
    return _win32(c, _get(c, h, ctx, _native(c)))


@api(K32, "BOOL WINAPI SetThreadContext(HANDLE hThread, const CONTEXT *lpContext)")
def SetThreadContext(c, h, ctx):
    return _win32(c, _set(c, h, ctx, _native(c), 1))


@api("kernel32.dll", "BOOL WINAPI Wow64GetThreadContext(HANDLE hThread, PWOW64_CONTEXT lpContext)")
def Wow64GetThreadContext(c, h, ctx):
    return _win32(c, _get(c, h, ctx, "x86"))


@api("kernel32.dll", "BOOL WINAPI Wow64SetThreadContext(HANDLE hThread, const WOW64_CONTEXT *lpContext)")
def Wow64SetThreadContext(c, h, ctx):
    return _win32(c, _set(c, h, ctx, "x86", 1))


def _nt_get(c, h, ctx):
    return _get(c, h, ctx, _native(c))


def _nt_set(c, h, ctx):
    return _set(c, h, ctx, _native(c), STATUS_SUCCESS)


def _rtl_wow64_get(c, h, ctx):
    return _get(c, h, ctx, "x86")


def _rtl_wow64_set(c, h, ctx):
    return _set(c, h, ctx, "x86", STATUS_SUCCESS)


for _p in ("Nt", "Zw"):
    api("ntdll.dll", f"NTSTATUS NTAPI {_p}GetContextThread(HANDLE ThreadHandle, PCONTEXT ThreadContext)")(_nt_get)
    api("ntdll.dll", f"NTSTATUS NTAPI {_p}SetContextThread(HANDLE ThreadHandle, PCONTEXT ThreadContext)")(_nt_set)
api("ntdll.dll", "NTSTATUS NTAPI RtlWow64GetThreadContext(HANDLE Thread, PWOW64_CONTEXT Context)")(_rtl_wow64_get)
api("ntdll.dll", "NTSTATUS NTAPI RtlWow64SetThreadContext(HANDLE Thread, const WOW64_CONTEXT *Context)")(
    _rtl_wow64_set)


# ------------------------------------------------------------------------------------------ process queries
ProcessBasicInformation = 0
ProcessDebugPort = 7
ProcessWow64Information = 26
ProcessImageFileName = 27
ProcessBreakOnTermination = 29
ProcessDebugObjectHandle = 30
ProcessDebugFlags = 31
ProcessCookie = 36
ProcessImageFileNameWin32 = 43


def _target_process(c, h: int, access: int):
    """The process behind a handle: PROCESS_QUERY_INFORMATION implies the limited right, as on Windows."""
    try:
        return c.proc.handles.lookup(h, "Process", access, current_process=c.proc, current_thread=c.thread), 0
    except NtStatusError as e:
        if e.status == STATUS_ACCESS_DENIED and access == PROCESS_QUERY_LIMITED_INFORMATION:
            return _target_process(c, h, PROCESS_QUERY_INFORMATION)
        return None, e.status


def _nt_image_path(c, proc) -> str:
    """The image's NT device path (\\Device\\HarddiskVolumeN\\...), as ProcessImageFileName reports it."""
    path = proc.image_path or proc.image_name
    vols = getattr(c.machine.vfs, "volume_devices", {}) or {}
    if len(path) >= 2 and path[1] == ":" and path[0].upper() in vols:
        return f"\\Device\\{vols[path[0].upper()]}{path[2:]}"
    return "\\??\\" + path


def _put(c, buf: int, size: int, data: bytes, ret_len: int, *, exact: bool = True) -> int:
    """Copy a fixed-size answer: STATUS_INFO_LENGTH_MISMATCH unless the length is exactly its size."""
    if size != len(data) if exact else size < len(data):
        return STATUS_INFO_LENGTH_MISMATCH
    try:
        c.write(buf, data)
        if ret_len:
            c.write_u32(ret_len, len(data))
    except NtStatusError:
        return STATUS_ACCESS_VIOLATION
    return STATUS_SUCCESS


@api("ntdll.dll", "NTSTATUS NTAPI NtQueryInformationProcess(HANDLE ProcessHandle, ULONG ProcessInformationClass, "
                  "PVOID ProcessInformation, ULONG ProcessInformationLength, PULONG ReturnLength)")
def NtQueryInformationProcess(c, h, cls, buf, size, ret_len):
    ps = c.ptr_size
    pfmt = "<Q" if ps == 8 else "<I"
    handlers = {ProcessBasicInformation, ProcessDebugPort, ProcessWow64Information, ProcessImageFileName,
                ProcessBreakOnTermination, ProcessDebugObjectHandle, ProcessDebugFlags, ProcessCookie,
                ProcessImageFileNameWin32}
    if cls not in handlers:
        return STATUS_INVALID_INFO_CLASS
    limited = cls in (ProcessBasicInformation, ProcessWow64Information, ProcessImageFileName,
                      ProcessImageFileNameWin32)
    proc, st = _target_process(c, h, PROCESS_QUERY_LIMITED_INFORMATION if limited else PROCESS_QUERY_INFORMATION)
    if proc is None:
        return st
    debugged = proc.debug_port is not None
    if cls == ProcessBasicInformation:
        # ExitStatus, PebBaseAddress, AffinityMask, BasePriority, UniqueProcessId, InheritedFromUniqueProcessId
        # (a WoW64 caller is not shown a 64-bit process's PEB)
        peb = proc.peb if ps == 8 or proc.arch == "x86" else 0
        m = (1 << 8 * ps) - 1
        vals = (proc.exit_status & 0xFFFFFFFF, peb & m, proc.affinity & m, proc.base_priority & 0xFFFFFFFF,
                proc.pid & m, proc.inherited_from_pid & m)
        return _put(c, buf, size, struct.pack("<IxxxxQQIxxxxQQ" if ps == 8 else "<IIIIII", *vals), ret_len)
    if cls == ProcessDebugPort:
        return _put(c, buf, size, struct.pack(pfmt, (1 << 8 * ps) - 1 if debugged else 0), ret_len)
    if cls == ProcessWow64Information:
        return _put(c, buf, size, struct.pack(pfmt, proc.peb if proc.arch == "x86" else 0), ret_len)
    if cls == ProcessDebugObjectHandle:
        if size != ps:
            return STATUS_INFO_LENGTH_MISMATCH
        st = _put(c, buf, size, bytes(ps), ret_len)
        return st or (STATUS_PORT_NOT_SET if not debugged else STATUS_SUCCESS)
    if cls == ProcessDebugFlags:       # PROCESS_DEBUG_INHERIT: 1 while no debugger is attached
        return _put(c, buf, size, struct.pack("<I", 0 if debugged else 1), ret_len)
    if cls == ProcessBreakOnTermination:
        return _put(c, buf, size, struct.pack("<I", 0), ret_len)
    if cls == ProcessCookie:
        if proc is not c.proc:
            return STATUS_INVALID_PARAMETER
        from winhatch.win32.kernel32.crtsupport import _cookie
        return _put(c, buf, size, struct.pack("<I", _cookie(c)), ret_len)
    # ProcessImageFileName / ProcessImageFileNameWin32: a UNICODE_STRING and its text right after it
    name = _nt_image_path(c, proc) if cls == ProcessImageFileName else (proc.image_path or proc.image_name)
    text = name.encode("utf-16-le")
    head = 16 if ps == 8 else 8
    need = head + len(text) + 2
    if size < need:
        if ret_len:
            try:
                c.write_u32(ret_len, need)
            except NtStatusError:
                return STATUS_ACCESS_VIOLATION
        return STATUS_INFO_LENGTH_MISMATCH
    us = struct.pack("<HHIQ" if ps == 8 else "<HHI", len(text), len(text) + 2, *((0, buf + head) if ps == 8
                                                                                 else (buf + head,)))
    return _put(c, buf, need, us + text + b"\0\0", ret_len)


@api("ntdll.dll", "NTSTATUS NTAPI ZwQueryInformationProcess(HANDLE ProcessHandle, ULONG ProcessInformationClass, "
                  "PVOID ProcessInformation, ULONG ProcessInformationLength, PULONG ReturnLength)")
def ZwQueryInformationProcess(c, h, cls, buf, size, ret_len):
    return NtQueryInformationProcess(c, h, cls, buf, size, ret_len)


@api(K32, "BOOL WINAPI CheckRemoteDebuggerPresent(HANDLE hProcess, PBOOL pbDebuggerPresent)")
def CheckRemoteDebuggerPresent(c, h, out):
    if not h or not out:
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    proc, st = _target_process(c, h, PROCESS_QUERY_INFORMATION)
    if proc is None:
        c.set_last_error(nt_to_win32(st))
        return 0
    try:
        c.write_u32(out, 1 if proc.debug_port is not None else 0)
    except NtStatusError:
        c.set_last_error(nt_to_win32(STATUS_ACCESS_VIOLATION))
        return 0
    return 1


# ------------------------------------------------------------------------------------------ thread queries
ThreadBasicInformation = 0
ThreadQuerySetWin32StartAddress = 9


@api("ntdll.dll", "NTSTATUS NTAPI NtQueryInformationThread(HANDLE ThreadHandle, ULONG ThreadInformationClass, "
                  "PVOID ThreadInformation, ULONG ThreadInformationLength, PULONG ReturnLength)")
def NtQueryInformationThread(c, h, cls, buf, size, ret_len):
    if cls not in (ThreadBasicInformation, ThreadQuerySetWin32StartAddress):
        return STATUS_INVALID_INFO_CLASS
    access = THREAD_QUERY_LIMITED_INFORMATION if cls == ThreadBasicInformation else THREAD_QUERY_INFORMATION
    try:
        t = c.proc.handles.lookup(h, "Thread", access, current_process=c.proc, current_thread=c.thread)
    except NtStatusError as e:
        if e.status != STATUS_ACCESS_DENIED or access == THREAD_QUERY_INFORMATION:
            return e.status
        try:
            t = c.proc.handles.lookup(h, "Thread", THREAD_QUERY_INFORMATION, current_process=c.proc,
                                      current_thread=c.thread)
        except NtStatusError as e2:
            return e2.status
    ps = c.ptr_size
    if cls == ThreadQuerySetWin32StartAddress:
        return _put(c, buf, size, struct.pack("<Q" if ps == 8 else "<I", t.start_address), ret_len)
    # THREAD_BASIC_INFORMATION: ExitStatus, TebBaseAddress, ClientId, AffinityMask, Priority, BasePriority
    delta = t.priority - t.process.base_priority
    vals = (t.exit_status & 0xFFFFFFFF, t.teb, t.process.pid, t.tid, t.process.affinity, t.priority,
            delta & 0xFFFFFFFF)
    data = struct.pack("<IxxxxQQQQII", *vals) if ps == 8 else struct.pack("<IIIIIII", *vals)
    return _put(c, buf, size, data, ret_len)


@api("ntdll.dll", "NTSTATUS NTAPI ZwQueryInformationThread(HANDLE ThreadHandle, ULONG ThreadInformationClass, "
                  "PVOID ThreadInformation, ULONG ThreadInformationLength, PULONG ReturnLength)")
def ZwQueryInformationThread(c, h, cls, buf, size, ret_len):
    return NtQueryInformationThread(c, h, cls, buf, size, ret_len)
