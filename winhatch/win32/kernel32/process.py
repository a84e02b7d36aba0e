"""kernel32 / kernelbase: processes created by the guest, anonymous pipes and handle operations.

CreateProcessA/W run the kernel's real creation stages (`winhatch.kernel.ps.create.CreateProcessInternalW`): the
child is a new process of the same machine (its own CPU and address space), with inherited handles and
environment, STARTUPINFO's std handles (STARTF_USESTDHANDLES), CREATE_SUSPENDED, PROCESS_INFORMATION written
back; the process notify routines may veto it (the creator gets the error). The scheduler runs its threads with
everyone else's. Limits (`machine.limits["max_processes"]`, default 64) end a fork bomb in a clean error.
"""
from __future__ import annotations

import struct

from winhatch.kernel.io.pipe import PipeEnd, create_pipe
from winhatch.kernel.ps import flags as F
from winhatch.kernel.ps.create import CreateProcessInternalW, StartupInfo
from winhatch.kernel.ps.objects import PRIORITY_BASE
from winhatch.ntstatus import (ERROR_INVALID_HANDLE, ERROR_INVALID_PARAMETER,
                               ERROR_NOT_ENOUGH_MEMORY, NtStatusError, nt_to_win32)
from winhatch.win32.api import api

from winhatch.win32.kernel32.common import lookup, sa_inherit
from winhatch.win32.kernel32.threads import nt_failed, times

K32 = ("kernel32.dll", "kernelbase.dll")
STILL_ACTIVE = 259
DEFAULT_MAX_PROCESSES = 64
PROCESS_TERMINATE, PROCESS_QUERY_INFORMATION, PROCESS_SET_INFORMATION = 0x1, 0x400, 0x200
PROCESS_QUERY_LIMITED_INFORMATION, PROCESS_DUP_HANDLE = 0x1000, 0x40
SYNCHRONIZE = 0x100000
HANDLE_FLAG_INHERIT, HANDLE_FLAG_PROTECT_FROM_CLOSE = 0x1, 0x2
DUPLICATE_CLOSE_SOURCE, DUPLICATE_SAME_ACCESS = 0x1, 0x2
FILE_GENERIC_READ, FILE_GENERIC_WRITE = 0x120089, 0x120116
FILE_READ_ATTRIBUTES, FILE_WRITE_ATTRIBUTES = 0x80, 0x100
PRIORITY_CLASS_VALUES = {"idle": 0x40, "below_normal": 0x4000, "normal": 0x20, "above_normal": 0x8000,
                         "high": 0x80, "realtime": 0x100}


# ================================================================================ CreateProcess
def _read_environment(c, block: int, unicode: bool) -> dict[str, str]:
    env: dict[str, str] = {}
    addr = block
    for _ in range(1 << 15):
        if unicode:
            s = c.wstr(addr)
            step = (len(s.encode("utf-16-le")) + 2)
        else:
            raw = c.cstr(addr)
            s = raw.decode("cp1252", "replace")
            step = len(raw) + 1
        if not s:
            break
        k, sep, v = s.partition("=")
        if s.startswith("="):  # per-drive current directories ("=C:=C:\\dir")
            k2, sep2, v2 = s[1:].partition("=")
            k, v = "=" + k2, v2
        if sep or s.startswith("="):
            env[k] = v
        addr += step
    return env


def _startup(c, si: int, wide: bool) -> StartupInfo:
    if not si:
        return StartupInfo()
    from winhatch.kernel.structs import STARTUPINFOA
    f = STARTUPINFOA.read(c.proc.aspace, si, c.arch, "lpDesktop", "lpTitle", "dwFlags", "wShowWindow", "hStdInput",
                          "hStdOutput", "hStdError", "dwX", "dwY", "dwXSize", "dwYSize", "dwXCountChars",
                          "dwYCountChars", "dwFillAttribute")
    desk_p, title_p, flags, show = f["lpDesktop"], f["lpTitle"], f["dwFlags"], f["wShowWindow"]
    h_in, h_out, h_err = f["hStdInput"], f["hStdOutput"], f["hStdError"]

    def s(p):
        if not p:
            return None
        return c.wstr(p) if wide else c.astr(p)
    return StartupInfo(flags=flags, desktop=s(desk_p), title=s(title_p), std_input=h_in, std_output=h_out,
                       std_error=h_err, show_window=show, x=f["dwX"], y=f["dwY"], x_size=f["dwXSize"],
                       y_size=f["dwYSize"], x_count_chars=f["dwXCountChars"], y_count_chars=f["dwYCountChars"],
                       fill_attribute=f["dwFillAttribute"])


# ------------------------------------------------------------------------------------------ attribute lists
# PROC_THREAD_ATTRIBUTE_LIST is opaque: a header (flags, capacity, count, reserved, a pointer) then entries of
# (attribute, size, value pointer), pointer-sized fields.
PROC_THREAD_ATTRIBUTE_PSEUDOCONSOLE = 0x20016
PROC_THREAD_ATTRIBUTE_PARENT_PROCESS = 0x20000
PROC_THREAD_ATTRIBUTE_HANDLE_LIST = 0x20002
#: the attributes CreateProcess honours; any other is ERROR_NOT_SUPPORTED (it could not be honoured)
KNOWN_ATTRIBUTES = {PROC_THREAD_ATTRIBUTE_PSEUDOCONSOLE, PROC_THREAD_ATTRIBUTE_PARENT_PROCESS,
                    PROC_THREAD_ATTRIBUTE_HANDLE_LIST}
ERROR_OBJECT_NAME_EXISTS = 698
PROCESS_CREATE_PROCESS = 0x80
ERROR_INSUFFICIENT_BUFFER = 122
ERROR_NOT_SUPPORTED = 50
ERROR_GEN_FAILURE = 31
ERROR_BAD_LENGTH = 24


def _attr_sizes(c) -> tuple[int, int]:
    p = c.ptr_size
    return 16 + p, 3 * p


@api(K32, "BOOL WINAPI InitializeProcThreadAttributeList(LPVOID lpAttributeList, DWORD dwAttributeCount, "
          "DWORD dwFlags, PSIZE_T lpSize)")
def InitializeProcThreadAttributeList(c, lst, count, flags, psize):
    if flags or not psize:
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    head, entry = _attr_sizes(c)
    need = head + entry * count
    have = c.ptr(psize)
    c.write_ptr(psize, need)
    if not lst or have < need:
        c.set_last_error(ERROR_INSUFFICIENT_BUFFER)
        return 0
    c.write(lst, struct.pack("<III", 0, count, 0))     # mask, size, count (the padding DWORD is left as it is)
    c.write(lst + 16, bytes(c.ptr_size))
    return 1


@api(K32, "BOOL WINAPI UpdateProcThreadAttribute(LPVOID lpAttributeList, DWORD dwFlags, DWORD_PTR Attribute, "
          "PVOID lpValue, SIZE_T cbSize, PVOID lpPreviousValue, PSIZE_T lpReturnSize)")
def UpdateProcThreadAttribute(c, lst, flags, attribute, value, size, prev, retsize):
    """Attributes CreateProcess honours: PROC_THREAD_ATTRIBUTE_PSEUDOCONSOLE (an HPCON), PARENT_PROCESS (a process
    HANDLE), HANDLE_LIST (an array of HANDLEs). Another attribute: ERROR_NOT_SUPPORTED (CreateProcess could not
    honour it). The list's header is { DWORD mask of the attribute numbers present, size, count, pad; ULONG_PTR }
    then { attribute, size, value pointer } entries; an attribute already present is ERROR_OBJECT_NAME_EXISTS, a
    wrong size ERROR_BAD_LENGTH, a full list ERROR_GEN_FAILURE."""
    if flags or not lst:
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    if attribute not in KNOWN_ATTRIBUTES:
        c.set_last_error(ERROR_NOT_SUPPORTED)
        return 0
    p = c.ptr_size
    if (size == 0 or size % p) if attribute == PROC_THREAD_ATTRIBUTE_HANDLE_LIST else size != p:
        c.set_last_error(ERROR_BAD_LENGTH)
        return 0
    head, entry = _attr_sizes(c)
    mask, cap, used, _r = struct.unpack("<IIII", c.read(lst, 16))
    bit = 1 << (attribute & 0xFFFF)
    if mask & bit:
        c.set_last_error(ERROR_OBJECT_NAME_EXISTS)
        return 0
    if used >= cap:
        c.set_last_error(ERROR_GEN_FAILURE)
        return 0
    fmt = "<QQQ" if p == 8 else "<III"
    c.write(lst + head + entry * used, struct.pack(fmt, attribute, size, value))
    c.write(lst, struct.pack("<I", mask | bit))
    c.write(lst + 8, struct.pack("<I", used + 1))
    return 1


@api(K32, "void WINAPI DeleteProcThreadAttributeList(LPVOID lpAttributeList)")
def DeleteProcThreadAttributeList(c, lst):
    return None


def _attributes(c, si: int, startup) -> bool:
    """STARTUPINFOEX.lpAttributeList (after the STARTUPINFO: 104 bytes on x64, 68 on x86)."""
    lst = c.ptr(si + (104 if c.ptr_size == 8 else 68))
    if not lst:
        return True
    head, entry = _attr_sizes(c)
    _flags, cap, used, _r = struct.unpack("<IIII", c.read(lst, 16))
    fmt = "<QQQ" if c.ptr_size == 8 else "<III"
    for k in range(min(used, cap, 64)):
        attribute, size, value = struct.unpack(fmt, c.read(lst + head + entry * k, entry))
        if attribute == PROC_THREAD_ATTRIBUTE_PSEUDOCONSOLE:
            startup.pseudo_console = c.ptr(value) if value else 0     # the HPCON holds the server handle
        elif attribute == PROC_THREAD_ATTRIBUTE_PARENT_PROCESS:
            # the handle needs PROCESS_CREATE_PROCESS; NULL or a bad one: ERROR_INVALID_HANDLE
            h = c.ptr(value)
            parent = lookup(c, h, "Process", PROCESS_CREATE_PROCESS) if h else None
            if parent is None:
                if not h:
                    c.set_last_error(ERROR_INVALID_HANDLE)
                return False
            startup.parent_process = parent
        elif attribute == PROC_THREAD_ATTRIBUTE_HANDLE_LIST:
            n = min(size // c.ptr_size, 1024)
            startup.handle_list = {c.ptr(value + i * c.ptr_size) & ~3 for i in range(n)}
        else:
            from winhatch.win32.msvcrt.runtime import not_implemented
            not_implemented(c, f"CreateProcess with process attribute {attribute:#x}")
    return True


def live_processes(machine) -> int:
    return sum(1 for p in machine.processes if p.cpu is not None and not p.exited)


@api(K32, "BOOL WINAPI CreateProcess%(LPCTSTR lpApplicationName, LPCTSTR lpCommandLine, "
          "LPSECURITY_ATTRIBUTES lpProcessAttributes, LPSECURITY_ATTRIBUTES lpThreadAttributes, BOOL bInheritHandles, "
          "DWORD dwCreationFlags, LPVOID lpEnvironment, LPCTSTR lpCurrentDirectory, LPSTARTUPINFO lpStartupInfo, "
          "LPPROCESS_INFORMATION lpProcessInformation)")
def CreateProcess(c, app, cmd, psa, tsa, inherit, flags, envp, cwd, si, pi):
    machine = c.machine
    if pi:      # zeroed first: a failed creation leaves PROCESS_INFORMATION all zero
        c.write(pi, bytes(2 * c.ptr_size + 8))
    limit = machine.limits.get("max_processes", DEFAULT_MAX_PROCESSES)
    if live_processes(machine) >= limit:
        machine.events.emit("process", "limit_reached", c.proc.pid, c.thread.tid, api=c.name, limit=limit,
                            what="processes", command_line=cmd)
        machine.subsystem.setdefault("limits_hit", []).append({"what": "processes", "limit": limit,
                                                               "pid": c.proc.pid, "api": c.name})
        c.set_last_error(ERROR_NOT_ENOUGH_MEMORY)
        return 0
    if not si:
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    env = _read_environment(c, envp, bool(flags & F.CREATE_UNICODE_ENVIRONMENT)) if envp else None
    startup = _startup(c, si, c.wide)
    if flags & F.EXTENDED_STARTUPINFO_PRESENT:
        if not _attributes(c, si, startup):
            return 0
    try:
        res = CreateProcessInternalW(machine, c.thread, app, cmd, inherit_handles=bool(inherit),
                                     creation_flags=flags, environment=env, current_directory=cwd,
                                     startup=startup)
    except NtStatusError as e:  # e.g. no system DLLs for the child's architecture
        c.set_last_error(nt_to_win32(e.status))
        return 0
    if not res.ok:
        c.set_last_error(res.error)
        return 0
    # the handles CreateProcessInternalW put in the creator's table: inheritable if the attributes say so
    if sa_inherit(c, psa):
        c.proc.handles.set_information(res.process_handle, inherit=True)
    if sa_inherit(c, tsa):
        c.proc.handles.set_information(res.thread_handle, inherit=True)
    if pi:
        ps = c.ptr_size
        c.write_ptr(pi, res.process_handle)
        c.write_ptr(pi + ps, res.thread_handle)
        c.write_u32(pi + 2 * ps, res.pid)
        c.write_u32(pi + 2 * ps + 4, res.tid)
    if res.thread is not None and res.thread.runnable:
        machine.dispatcher.thread_ready(res.thread)
    c.set_last_error(0)
    return 1


# ================================================================================ process queries and control
def _process(c, h, access):
    return lookup(c, h, "Process", access)


@api(K32, "BOOL WINAPI TerminateProcess(HANDLE hProcess, UINT uExitCode)")
def TerminateProcess(c, h, code):
    """NtTerminateProcess (a NULL handle would end the caller's other threads: ERROR_INVALID_HANDLE, as
    kernelbase refuses it)."""
    if not h:
        c.set_last_error(ERROR_INVALID_HANDLE)
        return 0
    return 0 if nt_failed(c, c.nt("NtTerminateProcess", h, code)) else 1


def process_basic(c, h) -> int | None:
    """NtQueryInformationProcess(ProcessBasicInformation) into scratch: its address, or None (error set)."""
    size = 48 if c.ptr_size == 8 else 24
    buf = c.stack_alloc(size)
    if nt_failed(c, c.nt("NtQueryInformationProcess", h, 0, buf, size, 0)):
        return None
    return buf


@api(K32, "BOOL WINAPI GetExitCodeProcess(HANDLE hProcess, LPDWORD lpExitCode)")
def GetExitCodeProcess(c, h, p):
    buf = process_basic(c, h)
    if buf is None:
        return 0
    if not p:
        c.set_last_error(998)  # ERROR_NOACCESS
        return 0
    c.write_u32(p, c.u32(buf))     # ExitStatus: STATUS_PENDING (STILL_ACTIVE) while it runs
    return 1


@api(K32, "DWORD WINAPI GetProcessId(HANDLE Process)")
def GetProcessId(c, h):
    buf = process_basic(c, h)
    return 0 if buf is None else c.ptr(buf + 4 * c.ptr_size)    # UniqueProcessId


@api(K32, "HANDLE WINAPI OpenProcess(DWORD dwDesiredAccess, BOOL bInheritHandle, DWORD dwProcessId)")
def OpenProcess(c, access, inherit, pid):
    ps = c.ptr_size
    out = c.stack_alloc(ps)
    cid = c.stack_alloc(2 * ps)
    c.write_ptr(cid, pid)
    oa = c.object_attributes(0, 0x2 if inherit else 0)
    if nt_failed(c, c.nt("NtOpenProcess", out, access, oa, cid)):
        return 0
    return c.ptr(out)


@api(K32, "DWORD WINAPI GetPriorityClass(HANDLE hProcess)")
def GetPriorityClass(c, h):
    proc = _process(c, h, PROCESS_QUERY_LIMITED_INFORMATION)
    return 0 if proc is None else PRIORITY_CLASS_VALUES.get(proc.priority_class, 0x20)


@api(K32, "BOOL WINAPI SetPriorityClass(HANDLE hProcess, DWORD dwPriorityClass)")
def SetPriorityClass(c, h, value):
    proc = _process(c, h, PROCESS_SET_INFORMATION)
    if proc is None:
        return 0
    names = {v: k for k, v in PRIORITY_CLASS_VALUES.items()}
    name = names.get(value)
    if name is None:
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    if name == "realtime" and "SeIncreaseBasePriorityPrivilege" not in proc.token.get("privileges", set()):
        name = "high"  # as CreateProcess: realtime needs the privilege
    proc.priority_class = name
    proc.base_priority = PRIORITY_BASE[name]
    return 1


# ================================================================================ pipes
@api(K32, "BOOL WINAPI CreatePipe(PHANDLE hReadPipe, PHANDLE hWritePipe, LPSECURITY_ATTRIBUTES lpPipeAttributes, "
          "DWORD nSize)")
def CreatePipe(c, prd, pwr, sa, size):
    if not prd or not pwr:
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    pipe = create_pipe(c.machine, size)
    inherit = sa_inherit(c, sa)
    hr = c.proc.handles.insert(pipe.read_end, FILE_GENERIC_READ | FILE_WRITE_ATTRIBUTES, inherit=inherit)
    hw = c.proc.handles.insert(pipe.write_end, FILE_GENERIC_WRITE | FILE_READ_ATTRIBUTES, inherit=inherit)
    c.write_ptr(prd, hr)
    c.write_ptr(pwr, hw)
    return 1


# ================================================================================ handles
@api(K32, "BOOL WINAPI SetHandleInformation(HANDLE hObject, DWORD dwMask, DWORD dwFlags)")
def SetHandleInformation(c, h, mask, flags):
    try:
        c.proc.handles.set_information(
            h, inherit=bool(flags & HANDLE_FLAG_INHERIT) if mask & HANDLE_FLAG_INHERIT else None,
            protect=bool(flags & HANDLE_FLAG_PROTECT_FROM_CLOSE) if mask & HANDLE_FLAG_PROTECT_FROM_CLOSE else None)
    except NtStatusError as e:
        c.set_last_error(nt_to_win32(e.status))
        return 0
    return 1


@api(K32, "BOOL WINAPI GetHandleInformation(HANDLE hObject, LPDWORD lpdwFlags)")
def GetHandleInformation(c, h, p):
    try:
        e = c.proc.handles.entry(h)
    except NtStatusError as err:
        c.set_last_error(nt_to_win32(err.status))
        return 0
    if p:
        c.write_u32(p, (HANDLE_FLAG_INHERIT if e.inherit else 0) |
                    (HANDLE_FLAG_PROTECT_FROM_CLOSE if e.protect_from_close else 0))
    return 1


@api(K32, "BOOL WINAPI DuplicateHandle(HANDLE hSourceProcessHandle, HANDLE hSourceHandle, "
          "HANDLE hTargetProcessHandle, LPHANDLE lpTargetHandle, DWORD dwDesiredAccess, BOOL bInheritHandle, "
          "DWORD dwOptions)")
def DuplicateHandle(c, hsp, hs, htp, pout, access, inherit, options):
    """NtDuplicateObject (OBJ_INHERIT for bInheritHandle; DUPLICATE_CLOSE_SOURCE / DUPLICATE_SAME_ACCESS as
    given)."""
    st = c.nt("NtDuplicateObject", hsp, hs, htp, pout, access, 0x2 if inherit else 0, options)
    return 0 if nt_failed(c, st) else 1


# ------------------------------------------------------------------------------------------ error reporting flags
WER_FAULT_REPORTING_FLAGS = 0x1 | 0x2 | 0x4 | 0x8 | 0x10 | 0x20   # NOHEAP QUEUE DISABLE_THREAD_SUSPENSION
#                                                                 # QUEUE_UPLOAD ALWAYS_SHOW_UI NO_UI
PROCESS_VM_READ = 0x10


def _hresult_from_win32(err: int) -> int:
    return 0x80070000 | (err & 0xFFFF) if err else 0


@api(K32, "HRESULT WINAPI WerSetFlags(DWORD dwFlags)")
def WerSetFlags(c, flags):
    """The calling process's Windows Error Reporting flags (nothing reports a fault in winhatch: the
    flags are kept for WerGetFlags)."""
    if flags & ~WER_FAULT_REPORTING_FLAGS:
        return 0x80070057   # E_INVALIDARG
    c.proc.subsystem["wer_flags"] = flags
    return 0


@api(K32, "HRESULT WINAPI WerGetFlags(HANDLE hProcess, PDWORD pdwFlags)")
def WerGetFlags(c, h, out):
    proc = lookup(c, h, "Process", PROCESS_VM_READ | PROCESS_QUERY_INFORMATION)
    if proc is None:
        return _hresult_from_win32(c.last_error())
    if not out:
        return 0x80070057
    c.write_u32(out, proc.subsystem.get("wer_flags", 0))
    return 0


@api("ntdll.dll", "PPEB NTAPI RtlGetCurrentPeb(void)")
def RtlGetCurrentPeb(c):
    """NtCurrentTeb()->ProcessEnvironmentBlock: the caller's PEB (the 32-bit one for an x86 process)."""
    return c.proc.peb


# ------------------------------------------------------------------------------------------ priority boost
@api(K32, "BOOL WINAPI SetProcessPriorityBoost(HANDLE hProcess, BOOL bDisablePriorityBoost)")
def SetProcessPriorityBoost(c, h, disable):
    proc = lookup(c, h, "Process", PROCESS_SET_INFORMATION)
    if proc is None:
        return 0
    proc.boost_disabled = bool(disable)
    return 1


@api(K32, "BOOL WINAPI GetProcessPriorityBoost(HANDLE hProcess, PBOOL pDisablePriorityBoost)")
def GetProcessPriorityBoost(c, h, out):
    proc = lookup(c, h, "Process", 0x1000)   # PROCESS_QUERY_LIMITED_INFORMATION
    if proc is None:
        return 0
    c.write_u32(out, int(getattr(proc, "boost_disabled", False)))
    return 1


@api(K32, "BOOL WINAPI GetProcessTimes(HANDLE hProcess, LPFILETIME lpCreationTime, LPFILETIME lpExitTime, "
          "LPFILETIME lpKernelTime, LPFILETIME lpUserTime)")
def GetProcessTimes(c, h, pc, pe, pk, pu):
    """NtQueryInformationProcess(ProcessTimes). User time: the instructions all its threads ran on the emulated
    clock; kernel time: the time charged for their system calls."""
    return times(c, "NtQueryInformationProcess", 4, h, pc, pe, pk, pu)


# ------------------------------------------------------------------------------------------ memory counters
@api(("kernel32.dll", "kernelbase.dll"), "BOOL WINAPI K32GetProcessMemoryInfo(HANDLE Process, "
     "PPROCESS_MEMORY_COUNTERS ppsmemCounters, DWORD cb)")
@api(("kernelbase.dll", "psapi.dll"), "BOOL WINAPI GetProcessMemoryInfo(HANDLE Process, "
     "PPROCESS_MEMORY_COUNTERS ppsmemCounters, DWORD cb)")
def K32GetProcessMemoryInfo(c, h, out, cb):
    """NtQueryInformationProcess(ProcessVmCounters) as VM_COUNTERS_EX, copied into PROCESS_MEMORY_COUNTERS(_EX):
    cb, PageFaultCount, then the SIZE_T counters from PeakWorkingSetSize on (PrivateUsage when cb holds it); a
    cb smaller than PROCESS_MEMORY_COUNTERS is ERROR_INSUFFICIENT_BUFFER."""
    ps = c.ptr_size
    pmc = 8 + 8 * ps if ps == 8 else 40          # sizeof(PROCESS_MEMORY_COUNTERS): 72 / 40
    if cb < pmc:
        c.set_last_error(122)    # ERROR_INSUFFICIENT_BUFFER
        return 0
    size = 96 if ps == 8 else 48                 # VM_COUNTERS_EX
    vm = c.stack_alloc(size)
    if nt_failed(c, c.nt("NtQueryInformationProcess", h, 3, vm, size, 0)):
        return 0
    n = min(cb, pmc + ps)
    fault = c.u32(vm + 2 * ps)
    counters = c.read(vm + (24 if ps == 8 else 12), n - 8)    # PeakWorkingSetSize ... PeakPagefileUsage[, PrivateUsage]
    c.write(out, n.to_bytes(4, "little") + fault.to_bytes(4, "little") + counters)
    return 1


# ------------------------------------------------------------------------------------------ GetProcessVersion
@api(K32, "DWORD WINAPI GetProcessVersion(DWORD ProcessId)")
def GetProcessVersion(c, pid):
    """The subsystem version the process's image asks for, MAKELONG(minor, major). The caller's own (0 or its
    id): from the image headers at PEB.ImageBaseAddress; another process: NtOpenProcess(PROCESS_QUERY_LIMITED_
    INFORMATION) and NtQueryInformationProcess(ProcessImageInformation) (SECTION_IMAGE_INFORMATION's
    SubSystemMinorVersion / SubSystemMajorVersion). An unknown id: 0 with the open's error."""
    ps = c.ptr_size
    if pid == 0 or pid == c.proc.pid:
        base = c.ptr(c.proc.peb + (0x10 if ps == 8 else 0x08))        # PEB.ImageBaseAddress
        nt = base + c.u32(base + 0x3C)                                  # e_lfanew
        oh = nt + 0x18                                                  # IMAGE_OPTIONAL_HEADER(32/64)
        major, minor = struct.unpack("<HH", c.read(oh + 0x30, 4))      # Major/MinorSubsystemVersion
        return major << 16 | minor
    h = OpenProcess(c, PROCESS_QUERY_LIMITED_INFORMATION, 0, pid)
    if not h:
        return 0
    size = 0x40 if ps == 8 else 0x30
    buf = c.stack_alloc(size)
    st = c.nt("NtQueryInformationProcess", h, 37, buf, size, 0)      # ProcessImageInformation
    c.nt("NtClose", h)
    if nt_failed(c, st):
        return 0
    minor, major = struct.unpack("<HH", c.read(buf + (0x24 if ps == 8 else 0x14), 4))   # SubSystemMinor/Major
    return major << 16 | minor
