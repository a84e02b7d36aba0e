"""NtQueryInformationProcess / NtSetInformationProcess / NtQueryInformationThread / NtSetInformationThread with
the information classes programs use. An information class winhatch does not model stops the process loudly
(`unsupported`); a number past the last class Windows 10 defines is STATUS_INVALID_INFO_CLASS.

Structures are the caller's layout (x64 or WoW64 x86): PROCESS_BASIC_INFORMATION (x64 48 bytes, x86 24),
VM_COUNTERS (80 / 44) and VM_COUNTERS_EX (88 / 48), KERNEL_USER_TIMES (32), THREAD_BASIC_INFORMATION (48 / 28),
GROUP_AFFINITY (16 / 12), UNICODE_STRING answers followed by their text.

The debugger classes report what Windows reports for a process no debugger is attached to: ProcessDebugPort
0, ProcessDebugObjectHandle a NULL handle with STATUS_PORT_NOT_SET, ProcessDebugFlags 1 (PROCESS_DEBUG_INHERIT,
i.e. NoDebugInherit clear); winhatch attaches no debugger, so anti-debug checks see none.
"""
from __future__ import annotations

import hashlib
import struct

from winhatch.kernel.ke.services import kernel_service, unsupported, user_read, user_write
from winhatch.kernel.ob.access import (PROCESS_QUERY_INFORMATION, PROCESS_QUERY_LIMITED_INFORMATION,
                                       PROCESS_SET_INFORMATION, THREAD_QUERY_INFORMATION,
                                       THREAD_QUERY_LIMITED_INFORMATION, THREAD_SET_INFORMATION,
                                       THREAD_SET_LIMITED_INFORMATION)
from winhatch.kernel.ob.handles import CURRENT_PROCESS, normalize_handle
from winhatch.kernel.ob.services import read_ptr, reference
from winhatch.kernel.ps import procinfo_classes as pic
from winhatch.ntstatus import (STATUS_ACCESS_DENIED, STATUS_ACCESS_VIOLATION, STATUS_BUFFER_TOO_SMALL,
                               STATUS_INFO_LENGTH_MISMATCH, STATUS_INVALID_INFO_CLASS, STATUS_INVALID_PARAMETER,
                               STATUS_NOT_SUPPORTED, STATUS_PRIVILEGE_NOT_HELD, NtStatusError)

STATUS_PORT_NOT_SET = 0xC0000353
STATUS_UNSUCCESSFUL = 0xC0000001
STATUS_PROCESS_IS_TERMINATING = 0xC000010A
PAGE = 0x1000
MAX_THREAD_INFO_CLASS = 0x33         # and MaxThreadInfoClass
TOKEN_IMPERSONATE = 0x0004
STATUS_BAD_TOKEN_TYPE = 0xC00000A8

ProcessBasicInformation = 0
ProcessIoCounters = 2
ProcessPriorityClass = 18
ProcessImageInformation = 37
ProcessVmCounters = 3
ProcessTimes = 4
ProcessDebugPort = 7
ProcessDefaultHardErrorMode = 12
ProcessHandleCount = 20
ProcessWow64Information = 26
ProcessImageFileName = 27
ProcessBreakOnTermination = 29
ProcessDebugObjectHandle = 30
ProcessDebugFlags = 31
ProcessExecuteFlags = 34
ProcessCookie = 36
ProcessImageInformation = 37        # SECTION_IMAGE_INFORMATION of the process's image section
ProcessImageFileNameWin32 = 43
ProcessCommandLineInformation = 60
ProcessQuotaLimits = 1
ProcessWorkingSetWatch = 15
ProcessWx86Information = 19
ProcessPriorityBoost = 22
ProcessSessionInformation = 24
ProcessLUIDDeviceMapsEnabled = 28
ProcessHandleTracing = 32
ProcessIoPriority = 33
ProcessPagePriority = 39
ProcessWorkingSetWatchEx = 42
ProcessProtectionInformation = 61
ProcessAffinityMaskQuery = 21
ProcessConsoleHostProcess = 49

ThreadBasicInformation = 0
ThreadTimes = 1
ThreadPriority = 2
ThreadBasePriority = 3
ThreadAffinityMask = 4
ThreadDescriptorTableEntry = 6
ThreadQuerySetWin32StartAddress = 9
ThreadAmILastThread = 12
ThreadHideFromDebugger = 17
ThreadBreakOnTermination = 18
ThreadIsTerminated = 20
ThreadWow64Context = 29
ThreadGroupInformation = 30
ThreadSuspendCount = 35
ThreadNameInformation = 38
ThreadEnableAlignmentFaultFixup = 7
ThreadImpersonationToken = 5
ThreadPriorityBoost = 14
ThreadIdealProcessor = 13
# classes NtQueryInformationThread refuses (STATUS_INVALID_INFO_CLASS): they can only be set
THREAD_SET_ONLY = {ThreadPriority, ThreadBasePriority, ThreadAffinityMask, 5, ThreadEnableAlignmentFaultFixup, 8, 10,
                   ThreadIdealProcessor, 15}
# classes a THREAD_QUERY_LIMITED_INFORMATION handle may query
THREAD_QUERY_LIMITED_CLASSES = {ThreadBasicInformation, ThreadTimes, ThreadAmILastThread, ThreadPriorityBoost,
                                ThreadIsTerminated, ThreadNameInformation, ThreadGroupInformation, ThreadSuspendCount,
                                ThreadBreakOnTermination}

# ProcessExecuteFlags (MEM_EXECUTE_OPTION_*)
MEM_EXECUTE_OPTION_DISABLE = 0x1
MEM_EXECUTE_OPTION_ENABLE = 0x2
MEM_EXECUTE_OPTION_DISABLE_THUNK_EMULATION = 0x4
MEM_EXECUTE_OPTION_PERMANENT = 0x8
IMAGE_DLLCHARACTERISTICS_NX_COMPAT = 0x100
SEM_FAILCRITICALERRORS = 0x1
LOW_PRIORITY, HIGH_PRIORITY = 0, 31
THREAD_BASE_PRIORITY_LOWRT, THREAD_BASE_PRIORITY_IDLE = 15, -15


def _ps(thread) -> int:
    return 8 if thread.process.arch == "x64" else 4


def _pfmt(thread) -> str:
    return "Q" if _ps(thread) == 8 else "I"


def _answer(thread, buf: int, size: int, data: bytes, ret_len: int, *, sizes: tuple[int, ...] | None = None) -> int:
    """Copy a fixed-size answer: STATUS_INFO_LENGTH_MISMATCH unless the length is exactly one of `sizes`
    (default: the answer's size)."""
    size &= 0xFFFFFFFF
    ok = sizes or (len(data),)
    if size not in ok:
        return STATUS_INFO_LENGTH_MISMATCH
    data = data[:size]
    user_write(thread.process, buf, data)
    if ret_len:
        user_write(thread.process, ret_len, struct.pack("<I", len(data)))
    return 0


def _string_answer(thread, buf: int, size: int, text: str, ret_len: int, *,
                   short_status: int = STATUS_INFO_LENGTH_MISMATCH, terminated: bool = True) -> int:
    """A UNICODE_STRING whose text follows it in the caller's buffer (NUL-terminated unless `terminated` is
    False: THREAD_NAME_INFORMATION's text is not; an empty one still points after the structure, kernel32/thread.c
    test_thread_description, on Windows)."""
    ps = _ps(thread)
    head = 2 * ps
    data = text.encode("utf-16-le")
    tail = b"\0\0" if terminated else b""
    need = head + len(data) + len(tail)
    size &= 0xFFFFFFFF
    if size < need:
        if ret_len:
            user_write(thread.process, ret_len, struct.pack("<I", need))
        return short_status
    us = struct.pack("<HH", len(data), len(data) + len(tail)) + bytes(ps - 4) + (buf + head).to_bytes(ps, "little")
    user_write(thread.process, buf, us + data + tail)
    if ret_len:
        user_write(thread.process, ret_len, struct.pack("<I", need))
    return 0


def _u32(thread, buf: int, size: int) -> int:
    if size & 0xFFFFFFFF != 4:
        raise NtStatusError(STATUS_INFO_LENGTH_MISMATCH, "a ULONG is expected")
    return struct.unpack("<I", user_read(thread.process, buf, 4))[0]


# ------------------------------------------------------------------------------------------ process values
def process_cookie(proc) -> int:
    """The process's cookie (ProcessCookie, RtlEncodePointer's key): random per process on Windows, derived
    from the process here so runs are reproducible."""
    v = getattr(proc, "cookie", None)
    if v is None:
        h = hashlib.sha256(f"cookie:{proc.pid}:{proc.command_line}".encode()).digest()
        v = proc.cookie = int.from_bytes(h[:4], "little") | 1
    return v


def hard_error_mode(proc) -> int:
    """The process's default hard-error mode: SetErrorMode's mode (0 for a new process)."""
    return getattr(proc, "hard_error_mode", 0)


def nt_image_path(machine, proc) -> str:
    """The image's NT device path (\\Device\\HarddiskVolumeN\\...), as ProcessImageFileName reports it."""
    path = proc.image_path or proc.image_name
    vols = getattr(machine.vfs, "volume_devices", {}) or {}
    if len(path) >= 2 and path[1] == ":" and path[0].upper() in vols:
        return f"\\Device\\{vols[path[0].upper()]}{path[2:]}"
    return "\\??\\" + path


def execute_flags(proc) -> int:
    """DEP as Windows 10 sets it: always on for a 64-bit process; for a WoW64 process on (and permanent) when
    the image is NX-compatible, else off with ATL thunk emulation (the OptIn default policy)."""
    if proc.arch == "x64":
        # DEP always on, permanent, no ATL thunk emulation (0xD: ntdll/exception.c test_dpe_exceptions, x64)
        return MEM_EXECUTE_OPTION_DISABLE | MEM_EXECUTE_OPTION_DISABLE_THUNK_EMULATION | MEM_EXECUTE_OPTION_PERMANENT
    flags = getattr(proc, "execute_flags", None)
    if flags is not None:
        return flags
    pe = getattr(proc.image_section, "pe", None)
    chars = getattr(getattr(pe, "optional_header", None), "dll_characteristics", None) if pe is not None else None
    if chars is None:
        chars = getattr(pe, "dll_characteristics", 0) if pe is not None else 0
    if chars & IMAGE_DLLCHARACTERISTICS_NX_COMPAT:
        return MEM_EXECUTE_OPTION_DISABLE | MEM_EXECUTE_OPTION_PERMANENT
    return MEM_EXECUTE_OPTION_ENABLE


def _vm_counters(thread, proc, size: int) -> bytes:
    ps = _ps(thread)
    aspace = proc.aspace
    virtual = sum(a.size for a in aspace.allocations()) if aspace is not None else 0
    working = sum(a.committed_pages() for a in aspace.allocations()) * PAGE if aspace is not None else 0
    counters = aspace.counters if aspace is not None else {"commit_charge": 0, "peak_commit": 0}
    proc.peak_virtual = max(getattr(proc, "peak_virtual", 0), virtual)
    proc.peak_working_set = max(getattr(proc, "peak_working_set", 0), working)
    commit, peak_commit = counters["commit_charge"], max(counters["peak_commit"], counters["commit_charge"])
    f = _pfmt(thread)
    # PeakVirtualSize, VirtualSize, PageFaultCount, PeakWorkingSetSize, WorkingSetSize, QuotaPeakPagedPoolUsage,
    # QuotaPagedPoolUsage, QuotaPeakNonPagedPoolUsage, QuotaNonPagedPoolUsage, PagefileUsage, PeakPagefileUsage
    # [, PrivateUsage (VM_COUNTERS_EX)]
    head = struct.pack(f"<{f}{f}I", proc.peak_virtual, virtual, 0)
    if ps == 8:
        head += b"\0" * 4
    body = struct.pack(f"<{f * 8}", proc.peak_working_set, working, 0, 0, 0, 0, commit, peak_commit)
    data = head + body
    return data + struct.pack(f"<{f}", commit)


def _times(creation: int, exit_: int, kernel: int, user: int) -> bytes:
    return struct.pack("<qqqq", creation, exit_, kernel, user)


#: the fixed-size classes whose length Windows checks before it looks at the handle: class -> (x64, WoW64)
PROCESS_FIXED_SIZES = {ProcessBasicInformation: (48, 24), ProcessIoCounters: (48, 48), ProcessDebugPort: (8, 4),
                       ProcessPriorityClass: (2, 2), ProcessImageInformation: (0x40, 0x30),
                       ProcessWow64Information: (8, 4), ProcessHandleCount: (4, 4),
                       ProcessDebugObjectHandle: (8, 4), ProcessDebugFlags: (4, 4),
                       ProcessWx86Information: (4, 4), ProcessAffinityMaskQuery: (8, 4),
                       ProcessPriorityBoost: (4, 4), ProcessSessionInformation: (4, 4),
                       ProcessLUIDDeviceMapsEnabled: (4, 4), ProcessIoPriority: (4, 4), ProcessPagePriority: (4, 4),
                       ProcessProtectionInformation: (1, 1), ProcessBreakOnTermination: (4, 4),
                       ProcessDefaultHardErrorMode: (4, 4)}
#: QUOTA_LIMITS and QUOTA_LIMITS_EX (x64, WoW64): measured with mingw-w64
QUOTA_LIMITS_SIZES, QUOTA_LIMITS_EX_SIZES = (48, 32), (88, 56)
#: PROCESS_HANDLE_TRACING_QUERY with its one-entry array (x64, WoW64)
HANDLE_TRACING_QUERY_SIZES = (176, 88)
#: the working-set bounds Windows gives a new process: 50 pages and 345 pages (SetProcessWorkingSetSize)
DEFAULT_MIN_WORKING_SET, DEFAULT_MAX_WORKING_SET = 50 * PAGE, 345 * PAGE
#: PROCESS_PRIOCLASS_* of the priority classes
PRIORITY_CLASS_VALUES = {"idle": 1, "normal": 2, "high": 3, "realtime": 4, "below_normal": 5, "above_normal": 6}

PROCESS_QUERY_NEEDS_LIMITED = {ProcessIoCounters, ProcessPriorityClass, ProcessImageInformation,
                               ProcessBasicInformation, ProcessWow64Information, ProcessImageFileName,
                               ProcessImageFileNameWin32, ProcessTimes, ProcessHandleCount, ProcessVmCounters,
                               ProcessCommandLineInformation, ProcessDefaultHardErrorMode, ProcessQuotaLimits,
                               ProcessAffinityMaskQuery, ProcessPriorityBoost, ProcessSessionInformation,
                               ProcessIoPriority, ProcessPagePriority, ProcessProtectionInformation,
                               ProcessBreakOnTermination}


def _query_process(thread, handle: int, limited: bool):
    access = PROCESS_QUERY_LIMITED_INFORMATION if limited else PROCESS_QUERY_INFORMATION
    try:
        return reference(thread, handle, "Process", access)
    except NtStatusError as e:
        if e.status == STATUS_ACCESS_DENIED and limited:   # QUERY_INFORMATION implies the limited right
            return reference(thread, handle, "Process", PROCESS_QUERY_INFORMATION)
        raise


@kernel_service("NtQueryInformationProcess")
def NtQueryInformationProcess(machine, thread, ProcessHandle, ProcessInformationClass, ProcessInformation,
                              ProcessInformationLength, ReturnLength):
    cls = ProcessInformationClass & 0xFFFFFFFF
    size = ProcessInformationLength & 0xFFFFFFFF
    buf, rl = ProcessInformation, ReturnLength
    row = pic.CLASSES.get(cls)
    if row is None or row[1] == pic.INVALID:
        return STATUS_INVALID_INFO_CLASS          # past the last class, or a class Windows only sets
    name, kind, _set_kind, sizes = row
    ps = _ps(thread)
    f = _pfmt(thread)
    m = (1 << 8 * ps) - 1
    if size and (not buf or not thread.process.aspace.accessible(buf, size, True)):
        return STATUS_ACCESS_VIOLATION        # ProbeForWrite of the output, before the handle
    if kind in (pic.FIXED, pic.PROBE):
        need = sizes[0 if ps == 8 else 1]
        if size != need if kind == pic.FIXED else size < need:
            return STATUS_INFO_LENGTH_MISMATCH
        unsupported(thread, "NtQueryInformationProcess", f"{name} (information class {cls})")
    fixed = PROCESS_FIXED_SIZES.get(cls)
    if fixed is not None and size != fixed[0 if ps == 8 else 1] and cls != ProcessImageInformation:
        return STATUS_INFO_LENGTH_MISMATCH
    if cls == ProcessCookie:
        # the handle needs PROCESS_VM_WRITE (a PROCESS_QUERY_LIMITED_INFORMATION handle, even to the caller's
        # own process, is STATUS_ACCESS_DENIED: Wine's kernel32/tests/process.c on Windows); another
        # process's cookie is not answered here
        from winhatch.kernel.ob.access import PROCESS_VM_WRITE
        if reference(thread, ProcessHandle, "Process", PROCESS_VM_WRITE) is not thread.process:
            return STATUS_INVALID_PARAMETER
        return _answer(thread, buf, size, struct.pack("<I", process_cookie(thread.process)), rl)
    if cls == ProcessExecuteFlags:
        # the handle needs PROCESS_QUERY_INFORMATION (a limited handle is STATUS_ACCESS_DENIED: Wine's
        # kernel32/tests/process.c on Windows), then only the caller's own process, through NtCurrentProcess()
        _query_process(thread, ProcessHandle, False)
        if normalize_handle(ProcessHandle) != CURRENT_PROCESS:
            return STATUS_INVALID_PARAMETER
        return _answer(thread, buf, size, struct.pack("<I", execute_flags(thread.process)), rl)
    if cls == ProcessLUIDDeviceMapsEnabled:
        # no access is checked: LUID device maps are always on (every logon session has its own DosDevices)
        return _answer(thread, buf, size, struct.pack("<I", 1), rl)
    if cls == ProcessQuotaLimits:
        if size == QUOTA_LIMITS_EX_SIZES[0 if ps == 8 else 1]:
            _query_process(thread, ProcessHandle, True)
            unsupported(thread, "NtQueryInformationProcess", "ProcessQuotaLimits as QUOTA_LIMITS_EX")
        if size != QUOTA_LIMITS_SIZES[0 if ps == 8 else 1]:
            return STATUS_INFO_LENGTH_MISMATCH
    if cls == ProcessHandleTracing and size < HANDLE_TRACING_QUERY_SIZES[0 if ps == 8 else 1]:
        return STATUS_INFO_LENGTH_MISMATCH
    proc = _query_process(thread, ProcessHandle, cls in PROCESS_QUERY_NEEDS_LIMITED)
    debugged = proc.debug_port is not None
    if cls == ProcessQuotaLimits:
        # QUOTA_LIMITS: the pool and page-file limits of the default quota block (unlimited, (SIZE_T)-1), the
        # working-set bounds (SetProcessWorkingSetSize's), TimeLimit unlimited (-1)
        lo, hi = getattr(proc, "working_set_bounds", (DEFAULT_MIN_WORKING_SET, DEFAULT_MAX_WORKING_SET))
        data = struct.pack(f"<{f * 5}", m, m, lo, hi, m)
        data += bytes(-len(data) % 8) + struct.pack("<q", -1)
        return _answer(thread, buf, size, data, rl)
    if cls in (ProcessWorkingSetWatch, ProcessWorkingSetWatchEx):
        # no working-set watch is ever enabled in winhatch (enabling it stops loudly): STATUS_UNSUCCESSFUL,
        # Windows's answer for a process whose watch is not enabled
        return STATUS_UNSUCCESSFUL
    if cls == ProcessHandleTracing:
        # handle tracing is never enabled (enabling it stops loudly): a process without handle-trace
        # information is STATUS_INVALID_PARAMETER
        return STATUS_INVALID_PARAMETER
    if cls == ProcessWx86Information:          # EPROCESS.VdmAllowed: never set (setting needs SeTcbPrivilege)
        return _answer(thread, buf, size, struct.pack("<I", 0), rl)
    if cls == ProcessAffinityMaskQuery:        # a KAFFINITY (GROUP_AFFINITY only from Windows 11)
        return _answer(thread, buf, size, (proc.affinity & m).to_bytes(ps, "little"), rl)
    if cls == ProcessPriorityBoost:            # nonzero when dynamic boosts are disabled
        return _answer(thread, buf, size, struct.pack("<I", int(getattr(proc, "boost_disabled", False))), rl)
    if cls == ProcessSessionInformation:       # PROCESS_SESSION_INFORMATION { ULONG SessionId }
        return _answer(thread, buf, size, struct.pack("<I", proc.session_id), rl)
    if cls == ProcessIoPriority:               # IO_PRIORITY_HINT (IoPriorityNormal = 2 by default)
        return _answer(thread, buf, size, struct.pack("<I", proc.io_priority), rl)
    if cls == ProcessPagePriority:             # PAGE_PRIORITY_INFORMATION (MEMORY_PRIORITY_NORMAL = 5)
        return _answer(thread, buf, size, struct.pack("<I", proc.page_priority), rl)
    if cls == ProcessProtectionInformation:    # PS_PROTECTION: winhatch's processes are not protected
        return _answer(thread, buf, size, b"\0", rl)
    if cls == ProcessImageInformation:
        # what NtQuerySection(SectionImageInformation) answers for the image section the process was created
        # from (it stays valid after the image's view is unmapped: Wine's kernel32/tests/loader.c on Windows)
        from winhatch.kernel.mm.section_services import _query_image_information
        if size != fixed[0 if ps == 8 else 1]:   # exactly the structure (larger is a mismatch too: ntdll/info.c)
            return STATUS_INFO_LENGTH_MISMATCH
        if proc.exited:            # its address space is gone (Wine's kernel32/tests/process.c on Windows)
            return STATUS_PROCESS_IS_TERMINATING
        return _query_image_information(thread, proc.image_section, buf, size, rl)
    if cls == ProcessBasicInformation:
        # ExitStatus, PebBaseAddress, AffinityMask, BasePriority, UniqueProcessId, InheritedFromUniqueProcessId
        # (a WoW64 caller is not shown a 64-bit process's PEB)
        # (a WoW64 process seen by a 64-bit caller: its 64-bit PEB)
        peb = getattr(proc, "peb64", 0) if ps == 8 and proc.arch == "x86" else proc.peb if ps == 8 or \
            proc.arch == "x86" else 0
        vals = (proc.exit_status & 0xFFFFFFFF, peb & m, proc.affinity & m, proc.base_priority & 0xFFFFFFFF,
                proc.pid & m, proc.inherited_from_pid & m)
        data = struct.pack("<IxxxxQQIxxxxQQ" if ps == 8 else "<IIIIII", *vals)
        return _answer(thread, buf, size, data, rl)
    if cls == ProcessPriorityClass:
        # PROCESS_PRIORITY_CLASS { BOOLEAN Foreground; UCHAR PriorityClass; }
        return _answer(thread, buf, size, struct.pack("<BB", 0, PRIORITY_CLASS_VALUES.get(proc.priority_class, 2)),
                       rl)
    if cls == ProcessImageInformation:
        # SECTION_IMAGE_INFORMATION of the process's image (the handle is checked before the length)
        from winhatch.kernel.mm.section_services import image_information
        if size != fixed[0 if ps == 8 else 1]:
            return STATUS_INFO_LENGTH_MISMATCH
        pe = getattr(proc.image_section, "pe", None)
        if pe is None:
            unsupported(thread, "NtQueryInformationProcess", "ProcessImageInformation of a process without image")
        return _answer(thread, buf, size, image_information(pe, ps), rl)
    if cls == ProcessIoCounters:
        # IO_COUNTERS: Read/Write/OtherOperationCount, Read/Write/OtherTransferCount (the I/O manager's
        # per-process counts, kept by the service dispatcher)
        return _answer(thread, buf, size, struct.pack("<6Q", *getattr(proc, "io_counters", [0] * 6)), rl)
    if cls == ProcessVmCounters:
        data = _vm_counters(thread, proc, size)
        return _answer(thread, buf, size, data, rl, sizes=(len(data) - ps, len(data)))
    if cls == ProcessTimes:
        machine.dispatcher.account_running()
        return _answer(thread, buf, size, _times(proc.creation_time, proc.exit_time if proc.exited else 0,
                                                 proc.kernel_time, proc.user_ns // 100), rl)
    if cls == ProcessDebugPort:
        return _answer(thread, buf, size, struct.pack(f"<{f}", m if debugged else 0), rl)
    if cls == ProcessDefaultHardErrorMode:
        return _answer(thread, buf, size, struct.pack("<I", hard_error_mode(proc)), rl)
    if cls == ProcessHandleCount:
        n = len(proc.handles)
        peak = proc.peak_handles = max(getattr(proc, "peak_handles", 0), n)
        # a ULONG only: Windows 10 does not answer the 8-byte PROCESS_HANDLE_INFORMATION form here
        # (ntdll/info.c: ReturnLength stays sizeof(ULONG) for an 8-byte buffer)
        return _answer(thread, buf, size, struct.pack("<I", n), rl)
    if cls == ProcessWow64Information:
        return _answer(thread, buf, size, struct.pack(f"<{f}", (proc.peb if proc.arch == "x86" else 0) & m), rl)
    if cls == ProcessDebugObjectHandle:
        if size != ps:
            return STATUS_INFO_LENGTH_MISMATCH
        from winhatch.kernel.ps.dbgk import debug_object_handle
        h = debug_object_handle(machine, thread, proc) if debugged else 0
        st = _answer(thread, buf, size, h.to_bytes(ps, "little"), rl)
        return st or (STATUS_PORT_NOT_SET if not debugged else 0)
    if cls == ProcessDebugFlags:       # PROCESS_DEBUG_INHERIT: 1 while no debugger is attached
        no_inherit = getattr(proc, "no_debug_inherit", False)
        # !NoDebugInherit, debugged or not: a debuggee made with DEBUG_PROCESS reads 1, one made with
        # DEBUG_ONLY_THIS_PROCESS or attached to (DebugActiveProcess) 0 (ntdll/info.c test_query_process_debug_flags)
        return _answer(thread, buf, size, struct.pack("<I", 0 if no_inherit else 1), rl)
    if cls == ProcessBreakOnTermination:
        return _answer(thread, buf, size, struct.pack("<I", int(getattr(proc, "break_on_termination", False))), rl)
    if cls == ProcessCommandLineInformation:
        return _string_answer(thread, buf, size, proc.command_line or "", rl)
    if cls == ProcessConsoleHostProcess:
        # the pid of the conhost.exe serving the process's console (a ULONG_PTR). winhatch's consoles are the
        # kernel's console driver (kernel/condrv.py) with no conhost.exe process, so the answer is 0: what
        # Windows gives a process without a console host (libuv then watches console resizes by polling)
        if size != ps:
            return STATUS_INFO_LENGTH_MISMATCH
        return _answer(thread, buf, size, bytes(ps), rl)
    # ProcessImageFileName / ProcessImageFileNameWin32: a UNICODE_STRING and its text right after it
    name = nt_image_path(machine, proc) if cls == ProcessImageFileName else (proc.image_path or proc.image_name)
    return _string_answer(thread, buf, size, name, rl)


ProcessAffinityMask = 21
ProcessInstrumentationCallback = 40
ProcessThreadStackAllocation = 41


def _stack_allocation(thread, handle: int, buf: int, size: int) -> int:
    """ProcessThreadStackAllocation: reserve a thread stack in the process (what kernelbase asks before
    creating a remote thread) — PROCESS_STACK_ALLOCATION_INFORMATION { ReserveSize; ZeroBits; StackBase (out) }
    or its _EX form { PreferredNode; Reserved0..2; the same }; the reservation is MEM_RESERVE read-write, its
    base written back."""
    from winhatch.kernel.mm import MEM_RESERVE, PAGE_READWRITE
    from winhatch.kernel.mm.services import zero_bits_limit
    ps = _ps(thread)
    plain, ex = 3 * ps, 16 + 3 * ps
    if size not in (plain, ex):
        return STATUS_INFO_LENGTH_MISMATCH
    proc = reference(thread, handle, "Process", PROCESS_SET_INFORMATION)
    info = buf + (16 if size == ex else 0)
    reserve, zero_bits = read_ptr(thread, info), read_ptr(thread, info + ps)
    if not reserve:
        return STATUS_INVALID_PARAMETER
    highest = zero_bits_limit(thread, zero_bits)
    base, _size = proc.aspace.allocate(None, (reserve + 0xFFFF) & ~0xFFFF, MEM_RESERVE, PAGE_READWRITE,
                                       highest=highest, tag=("stack", 0))
    user_write(thread.process, info + 2 * ps, base.to_bytes(ps, "little"))
    return 0


def _instrumentation_callback(thread, handle: int, buf: int, size: int) -> int:
    """ProcessInstrumentationCallback: PROCESS_INSTRUMENTATION_CALLBACK_INFORMATION { ULONG Version; ULONG
    Reserved; PVOID Callback } (or, on x64, the bare callback pointer). Clearing the callback (NULL) is
    accepted; a callback run on every return from kernel mode is not modelled and stops loudly."""
    ps = _ps(thread)
    full = 8 + ps
    if size not in (full, ps):
        return STATUS_INFO_LENGTH_MISMATCH
    reference(thread, handle, "Process", PROCESS_SET_INFORMATION)
    callback = read_ptr(thread, buf + (8 if size == full else 0))
    if callback:
        unsupported(thread, "NtSetInformationProcess", "ProcessInstrumentationCallback with a callback")
    return 0


@kernel_service("NtSetInformationProcess")
def NtSetInformationProcess(machine, thread, ProcessHandle, ProcessInformationClass, ProcessInformation,
                            ProcessInformationLength):
    cls = ProcessInformationClass & 0xFFFFFFFF
    size = ProcessInformationLength & 0xFFFFFFFF
    row = pic.CLASSES.get(cls)
    if row is None or row[2] == pic.INVALID:
        return STATUS_INVALID_INFO_CLASS          # past the last class, or a class Windows only queries
    if row[2] == pic.LOUD:
        unsupported(thread, "NtSetInformationProcess", f"{row[0]} (information class {cls})")
    if cls == ProcessExecuteFlags:
        if normalize_handle(ProcessHandle) != CURRENT_PROCESS:
            return STATUS_INVALID_PARAMETER
        proc = thread.process
        value = _u32(thread, ProcessInformation, size)
        if proc.arch == "x64":
            return STATUS_INVALID_PARAMETER    # a 64-bit process's DEP is not a setting (test_dpe_exceptions, x64)
        if execute_flags(proc) & MEM_EXECUTE_OPTION_PERMANENT:
            return STATUS_ACCESS_DENIED
        if value & ~0x3F or (value & MEM_EXECUTE_OPTION_DISABLE and value & MEM_EXECUTE_OPTION_ENABLE):
            return STATUS_INVALID_PARAMETER
        proc.execute_flags = value
        return 0
    if cls == ProcessAffinityMask:
        # a KAFFINITY of active processors (none outside them, not empty); every thread of the process takes it
        if size != _ps(thread):
            return STATUS_INFO_LENGTH_MISMATCH
        proc = reference(thread, ProcessHandle, "Process", PROCESS_SET_INFORMATION)
        mask = read_ptr(thread, ProcessInformation)
        if not mask or mask & ~((1 << machine.profile.cpu_count) - 1):
            return STATUS_INVALID_PARAMETER
        if getattr(proc, "exited", False):
            return 0xC000010A     # STATUS_PROCESS_IS_TERMINATING: no threads left to take it (Wine's loader test)
        proc.affinity = mask
        for t in proc.threads:
            t.affinity = mask
        return 0
    if cls == ProcessThreadStackAllocation:
        return _stack_allocation(thread, ProcessHandle, ProcessInformation, size)
    if cls == ProcessInstrumentationCallback:
        return _instrumentation_callback(thread, ProcessHandle, ProcessInformation, size)
    proc = reference(thread, ProcessHandle, "Process", PROCESS_SET_INFORMATION)
    value = _u32(thread, ProcessInformation, size)
    if cls == ProcessDefaultHardErrorMode:
        # SEM_NOALIGNMENTFAULTEXCEPT (4), once set, stays
        proc.hard_error_mode = value | (hard_error_mode(proc) & 0x4)
        return 0
    if cls == ProcessDebugFlags:
        if value & ~1:
            return STATUS_INVALID_PARAMETER
        proc.no_debug_inherit = not value
        return 0
    # ProcessBreakOnTermination: a critical process needs SeDebugPrivilege
    if "SeDebugPrivilege" not in proc.token.get("privileges", set()):
        return STATUS_PRIVILEGE_NOT_HELD
    proc.break_on_termination = bool(value)
    return 0


# ------------------------------------------------------------------------------------------ threads
def _query_thread(thread, handle: int, limited: bool):
    access = THREAD_QUERY_LIMITED_INFORMATION if limited else THREAD_QUERY_INFORMATION
    try:
        return reference(thread, handle, "Thread", access)
    except NtStatusError as e:
        if e.status == STATUS_ACCESS_DENIED and limited:
            return reference(thread, handle, "Thread", THREAD_QUERY_INFORMATION)
        raise


#: the GDT a WoW64 thread sees (x64 Windows's): selector index -> (base, limit, access byte, flags nibble); the
#: 32-bit TEB's entry (0x50, FS 0x53) takes the thread's TEB as its base
WOW64_GDT = {0x10: (0, 0, 0x9B, 0x2), 0x18: (0, 0xFFFFF, 0x93, 0xC), 0x20: (0, 0xFFFFF, 0xFB, 0xC),
             0x28: (0, 0xFFFFF, 0xF3, 0xC), 0x30: (0, 0, 0xFB, 0x2), 0x50: (None, 0xFFF, 0xF3, 0x4)}
GDT_LIMIT = 0x7F


STATUS_NO_LDT = 0xC0000117


def _descriptor_entry(thread, handle: int, buf: int, size: int, ret_len: int = 0) -> int:
    """ThreadDescriptorTableEntry (DESCRIPTOR_TABLE_ENTRY { ULONG Selector; LDT_ENTRY Descriptor }): the GDT
    descriptor of a selector as a WoW64 thread sees it — the compatibility-mode entries of x64 Windows's GDT
    (CS 0x23, DS/ES/SS/GS 0x2B, FS 0x53 whose base is the thread's 32-bit TEB, the 64-bit code 0x33 and the
    kernel's); x64 ntdll's RtlWow64GetThreadSelectorEntry asks the same. Windows 10: the length first
    (STATUS_INFO_LENGTH_MISMATCH), the null selectors an all-zero descriptor, an LDT selector STATUS_NO_LDT (a
    process has none), any other unused entry STATUS_UNSUCCESSFUL; ReturnLength the descriptor's 8 bytes."""
    if size != 12:
        return STATUS_INFO_LENGTH_MISMATCH
    t = reference(thread, handle, "Thread", THREAD_QUERY_INFORMATION)
    (sel,) = struct.unpack("<I", user_read(thread.process, buf, 4))
    if sel > 0xFFFF:
        return STATUS_INVALID_PARAMETER
    index = sel & ~7
    if sel & 4:
        return STATUS_NO_LDT
    if index == 0:
        desc = bytes(8)
    else:
        entry = WOW64_GDT.get(index) if index + 7 <= GDT_LIMIT else None
        if entry is None:
            return STATUS_UNSUCCESSFUL
        base, limit, access, flags = entry
        base = t.teb if base is None else base
        desc = struct.pack("<HHBBBB", limit & 0xFFFF, base & 0xFFFF, (base >> 16) & 0xFF, access,
                           (flags << 4) | (limit >> 16) & 0xF, base >> 24 & 0xFF)
    user_write(thread.process, buf + 4, desc)
    if ret_len:
        user_write(thread.process, ret_len, struct.pack("<I", 8))
    return 0


@kernel_service("NtQueryInformationThread")
def NtQueryInformationThread(machine, thread, ThreadHandle, ThreadInformationClass, ThreadInformation,
                             ThreadInformationLength, ReturnLength, *, caller_sp=0):
    cls = ThreadInformationClass & 0xFFFFFFFF
    size = ThreadInformationLength & 0xFFFFFFFF
    buf, rl = ThreadInformation, ReturnLength
    known = {ThreadBasicInformation, ThreadTimes, ThreadQuerySetWin32StartAddress,
             ThreadAmILastThread, ThreadHideFromDebugger, ThreadBreakOnTermination, ThreadIsTerminated,
             ThreadWow64Context, ThreadGroupInformation, ThreadSuspendCount, ThreadNameInformation,
             ThreadPriorityBoost}
    if cls >= MAX_THREAD_INFO_CLASS or cls in THREAD_SET_ONLY:
        return STATUS_INVALID_INFO_CLASS
    ps = _ps(thread)
    f = _pfmt(thread)
    if cls == ThreadAmILastThread:
        last = all(t is thread or t.terminated for t in thread.process.threads)
        return _answer(thread, buf, size, struct.pack("<I", int(last)), rl)
    if cls == ThreadHideFromDebugger and size != 1:     # the length is checked before the handle
        return STATUS_INFO_LENGTH_MISMATCH
    limited = cls in THREAD_QUERY_LIMITED_CLASSES
    if cls == ThreadDescriptorTableEntry:
        return _descriptor_entry(thread, ThreadHandle, buf, size, rl)
    if cls not in known:
        # the handle's access is checked first (a limited handle is STATUS_ACCESS_DENIED for these classes)
        _query_thread(thread, ThreadHandle, False)
        unsupported(thread, "NtQueryInformationThread", f"information class {cls}")
    if cls == ThreadWow64Context:
        from winhatch.kernel.ob.access import THREAD_GET_CONTEXT
        from winhatch.kernel.ps.context import get_context
        from winhatch.kernel.structs import CONTEXT_X86
        t = reference(thread, ThreadHandle, "Thread", THREAD_GET_CONTEXT)
        if size != CONTEXT_X86.size("x86"):
            return STATUS_INFO_LENGTH_MISMATCH
        if t.process.arch != "x86":
            return STATUS_INVALID_PARAMETER
        return get_context(thread, t, buf, "x86", caller_sp)
    t = _query_thread(thread, ThreadHandle, limited)
    if cls == ThreadBasicInformation:
        # THREAD_BASIC_INFORMATION: ExitStatus, TebBaseAddress, ClientId, AffinityMask, Priority, BasePriority
        delta = getattr(t, "base_increment", t.priority - t.process.base_priority)
        # a WoW64 thread seen by a 64-bit caller: its 64-bit TEB; a 64-bit thread seen by a WoW64 caller: none
        teb = getattr(t, "teb64", 0) if ps == 8 and t.process.arch == "x86" else \
            t.teb if ps == 8 or t.process.arch == "x86" else 0
        vals = (t.exit_status & 0xFFFFFFFF, teb, t.process.pid, t.tid, getattr(t, "affinity", t.process.affinity),
                t.priority, delta & 0xFFFFFFFF)
        data = struct.pack("<IxxxxQQQQII", *vals) if ps == 8 else struct.pack("<IIIIIII", *vals)
        return _answer(thread, buf, size, data, rl)
    if cls == ThreadTimes:
        machine.dispatcher.account_running()
        return _answer(thread, buf, size, _times(t.creation_time, getattr(t, "exit_time", 0) if t.terminated else 0,
                                                 t.kernel_time, t.user_ns // 100), rl)
    if cls == ThreadQuerySetWin32StartAddress:
        return _answer(thread, buf, size, struct.pack(f"<{f}", t.start_address), rl)
    if cls == ThreadHideFromDebugger:
        return _answer(thread, buf, size, struct.pack("<B", int(getattr(t, "hide_from_debugger", False))), rl)
    if cls == ThreadBreakOnTermination:
        return _answer(thread, buf, size, struct.pack("<I", int(getattr(t, "break_on_termination", False))), rl)
    if cls == ThreadPriorityBoost:      # a ULONG: nonzero when dynamic boosts are disabled
        return _answer(thread, buf, size, struct.pack("<I", int(getattr(t, "boost_disabled", False))), rl)
    if cls == ThreadIsTerminated:
        return _answer(thread, buf, size, struct.pack("<I", int(t.terminated)), rl)
    if cls == ThreadSuspendCount:
        return _answer(thread, buf, size, struct.pack("<I", t.suspend_count), rl)
    if cls == ThreadGroupInformation:
        # GROUP_AFFINITY: KAFFINITY Mask; USHORT Group; USHORT Reserved[3]
        return _answer(thread, buf, size, struct.pack(f"<{f}H6x", getattr(t, "affinity", t.process.affinity), 0), rl)
    # ThreadNameInformation: THREAD_NAME_INFORMATION { UNICODE_STRING ThreadName } then the text
    return _string_answer(thread, buf, size, getattr(t, "description", ""), rl, short_status=STATUS_BUFFER_TOO_SMALL,
                          terminated=False)


def _s32(v: int) -> int:
    v &= 0xFFFFFFFF
    return v - (1 << 32) if v & 0x80000000 else v


def set_base_priority(t, increment: int) -> None:
    """KeSetBasePriorityThread: the base priority is the process's plus the increment (-2..2); ±16
    (THREAD_PRIORITY_TIME_CRITICAL / IDLE as kernel32 passes them) saturate to 15 / 1 (31 / 16 in the realtime
    class)."""
    base = t.process.base_priority
    if increment >= (HIGH_PRIORITY + 1) // 2:
        delta, rel = (31 if base >= 16 else 15) - base, 15
    elif increment <= -((HIGH_PRIORITY + 1) // 2):
        delta, rel = (16 if base >= 16 else 1) - base, -15
    else:
        delta = rel = increment
    t.base_increment = increment
    t.priority_rel = rel
    t.priority_delta = delta
    t.priority = base + delta


@kernel_service("NtSetInformationThread")
def NtSetInformationThread(machine, thread, ThreadHandle, ThreadInformationClass, ThreadInformation,
                           ThreadInformationLength, *, caller_sp=0):
    cls = ThreadInformationClass & 0xFFFFFFFF
    size = ThreadInformationLength & 0xFFFFFFFF
    buf = ThreadInformation
    known = {ThreadPriority, ThreadBasePriority, ThreadAffinityMask, ThreadQuerySetWin32StartAddress,
             ThreadEnableAlignmentFaultFixup, ThreadHideFromDebugger, ThreadPriorityBoost, ThreadIdealProcessor, ThreadBreakOnTermination, ThreadGroupInformation, ThreadNameInformation,
             ThreadWow64Context, ThreadImpersonationToken}
    if cls not in known:
        if cls >= MAX_THREAD_INFO_CLASS:
            return STATUS_INVALID_INFO_CLASS
        unsupported(thread, "NtSetInformationThread", f"information class {cls}")
    ps = _ps(thread)
    if cls == ThreadImpersonationToken:
        # a token HANDLE: the thread impersonates it (an impersonation token opened with TOKEN_IMPERSONATE;
        # a primary token is STATUS_BAD_TOKEN_TYPE); NULL ends the impersonation (RevertToSelf)
        from winhatch.kernel.ob.access import THREAD_SET_THREAD_TOKEN
        from winhatch.kernel.se.token import TokenImpersonation
        if size != ps:
            return STATUS_INFO_LENGTH_MISMATCH
        t = reference(thread, ThreadHandle, "Thread", THREAD_SET_THREAD_TOKEN)
        h = read_ptr(thread, buf)
        tok = None
        if h:
            tok = reference(thread, h, "Token", TOKEN_IMPERSONATE)
            if tok.token_type != TokenImpersonation:
                return STATUS_BAD_TOKEN_TYPE
            tok.reference()             # the thread holds the token after its handle is closed
        old = getattr(t, "impersonation_token", None)
        t.impersonation_token = tok
        if old is not None:
            old.dereference()
        return 0
    if cls == ThreadHideFromDebugger:
        if size != 0:
            return STATUS_INFO_LENGTH_MISMATCH
        t = reference(thread, ThreadHandle, "Thread", THREAD_SET_INFORMATION)
        t.hide_from_debugger = True
        return 0
    if cls == ThreadEnableAlignmentFaultFixup:
        # a BOOLEAN, its length checked before the handle; x86 raises no alignment faults while EFLAGS.AC is
        # clear, so the flag is kept and has nothing else to change
        if size != 1:
            return STATUS_INFO_LENGTH_MISMATCH
        value = user_read(thread.process, buf, 1)       # probed before the handle (NULL: ACCESS_VIOLATION)
        t = reference(thread, ThreadHandle, "Thread", THREAD_SET_INFORMATION)
        t.alignment_fault_fixup = bool(value[0])
        return 0
        t.alignment_fault_fixup = bool(user_read(thread.process, buf, 1)[0])
        return 0
    if cls == ThreadWow64Context:
        from winhatch.kernel.ob.access import THREAD_SET_CONTEXT
        from winhatch.kernel.ps.context import set_context
        from winhatch.kernel.structs import CONTEXT_X86
        t = reference(thread, ThreadHandle, "Thread", THREAD_SET_CONTEXT)
        if size != CONTEXT_X86.size("x86"):
            return STATUS_INFO_LENGTH_MISMATCH
        if t.process.arch != "x86":
            return STATUS_INVALID_PARAMETER
        return set_context(thread, t, buf, "x86", caller_sp)
    if cls == ThreadNameInformation:
        t = reference(thread, ThreadHandle, "Thread", THREAD_SET_LIMITED_INFORMATION)
        if size != 2 * ps:
            return STATUS_INFO_LENGTH_MISMATCH
        length, maximum = struct.unpack("<HH", user_read(thread.process, buf, 4))
        text_ptr = read_ptr(thread, buf + ps)
        if length & 1 or length > maximum:
            return STATUS_INVALID_PARAMETER
        t.description = user_read(thread.process, text_ptr, length).decode("utf-16-le", "surrogatepass") \
            if length else ""
        return 0
    access = THREAD_SET_LIMITED_INFORMATION if cls in (ThreadAffinityMask, ThreadGroupInformation,
                                                        ThreadPriorityBoost) else \
        THREAD_SET_INFORMATION
    try:
        t = reference(thread, ThreadHandle, "Thread", access)
    except NtStatusError as e:
        if e.status != STATUS_ACCESS_DENIED or access == THREAD_SET_INFORMATION:
            raise
        t = reference(thread, ThreadHandle, "Thread", THREAD_SET_INFORMATION)
    if cls in (ThreadAffinityMask, ThreadQuerySetWin32StartAddress):
        if size != ps:
            return STATUS_INFO_LENGTH_MISMATCH
        value = read_ptr(thread, buf)
        if cls == ThreadQuerySetWin32StartAddress:
            return STATUS_INVALID_PARAMETER      # read-only since Vista (ntdll/tests/info.c)
        value &= t.process.affinity        # processors outside the process's affinity are dropped
        if not value:
            return STATUS_INVALID_PARAMETER
        t.affinity = value
        return 0
    if cls == ThreadGroupInformation:
        if size != (16 if ps == 8 else 12):
            return STATUS_INFO_LENGTH_MISMATCH
        mask = read_ptr(thread, buf)
        (group,) = struct.unpack("<H", user_read(thread.process, buf + ps, 2))
        if group != 0 or not mask or mask & ~t.process.affinity:
            return STATUS_INVALID_PARAMETER
        t.affinity = mask
        return 0
    value = _s32(_u32(thread, buf, size))
    if cls == ThreadIdealProcessor:
        # the previous ideal processor is the service's (success) status; MAXIMUM_PROCESSORS only asks for it
        maximum = 64 if thread.process.arch == "x64" else 32
        prev = getattr(t, "ideal_processor", 0)
        if value == maximum:
            return prev
        if not 0 <= value < machine.profile.cpu_count:
            return STATUS_INVALID_PARAMETER
        t.ideal_processor = value
        return prev
    if cls == ThreadPriorityBoost:
        t.boost_disabled = bool(value)
        return 0
    if cls == ThreadBreakOnTermination:
        if "SeDebugPrivilege" not in thread.process.token.get("privileges", set()):
            return STATUS_PRIVILEGE_NOT_HELD
        t.break_on_termination = bool(value)
        return 0
    if cls == ThreadPriority:
        if not LOW_PRIORITY < value <= HIGH_PRIORITY:
            return STATUS_INVALID_PARAMETER
        if value >= 16 and "SeIncreaseBasePriorityPrivilege" not in thread.process.token.get("privileges", set()):
            return STATUS_PRIVILEGE_NOT_HELD
        t.priority = value
        t.priority_delta = value - t.process.base_priority
        return 0
    # ThreadBasePriority
    if not (-2 <= value <= 2 or abs(value) == (HIGH_PRIORITY + 1) // 2):
        return STATUS_INVALID_PARAMETER
    set_base_priority(t, value)
    return 0
