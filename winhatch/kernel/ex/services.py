"""Executive system services: NtQuerySystemInformation(Ex), NtRaiseHardError, NtSetDebugFilterState —
called by the system-service dispatcher (winhatch.kernel.ke.services).

Every class of Windows 10 22H2 has its row in winhatch.kernel.ex.sysinfo_classes.CLASSES (its name and what
winhatch does with it): the classes answered from the machine's state (their records are built by
winhatch.kernel.ex.sysinfo), the set-only / kernel-only ones (STATUS_INVALID_INFO_CLASS), the obsolete ones
(STATUS_NOT_IMPLEMENTED), and the ones winhatch does not model, whose size probe is answered as Windows answers
it and whose real query stops the guest loudly (never a silent success); a class number beyond the last one is
STATUS_INVALID_INFO_CLASS. Lengths follow Windows:

- fixed-size classes want at least their size (Basic, Processor and the WoW64 emulation classes exactly
  it); too little is STATUS_INFO_LENGTH_MISMATCH with the size in *ReturnLength;
- SystemTimeOfDayInformation copies up to its 0x30 bytes (ReturnLength the length asked), more is a
  mismatch with ReturnLength 0;
- variable-length classes (processes, modules, handles, logical processors) fail with
  STATUS_INFO_LENGTH_MISMATCH and the full size in *ReturnLength when the buffer is too small;
- SystemProcessorPerformanceInformation returns as many whole per-processor records as fit.
"""
from __future__ import annotations

import struct

from winhatch.kernel.ex import sysinfo as si
from winhatch.kernel.ke.services import kernel_service, unsupported, user_read, user_write
from winhatch.ntstatus import (STATUS_ACCESS_VIOLATION, STATUS_INFO_LENGTH_MISMATCH, STATUS_INVALID_INFO_CLASS,
                               STATUS_INVALID_PARAMETER)

STATUS_BUFFER_TOO_SMALL = 0xC0000023
STATUS_NOT_IMPLEMENTED = 0xC0000002
STATUS_NOT_FOUND = 0xC0000225

from winhatch.kernel.ex.sysinfo_classes import (CLASSES, FIXED, INVALID, MAX_SYSTEM_INFO_CLASS, OBSOLETE,  # noqa: E402
                                                 PROBE, name_of)

SystemBasicInformation = 0x00
SystemProcessorInformation = 0x01
SystemPerformanceInformation = 0x02
SystemTimeOfDayInformation = 0x03
SystemProcessInformation = 0x05
SystemProcessorPerformanceInformation = 0x08
SystemExtendedProcessInformation = 0x39
SystemModuleInformation = 0x0B
SystemHandleInformation = 0x10
SystemKernelDebuggerInformation = 0x23
SystemTimeZoneInformation = 0x2C
SystemDynamicTimeZoneInformation = 0x66
SystemRangeStartInformation = 0x32
SystemFlagsInformation = 0x09
SystemModuleInformationEx = 0x4D
SystemFileCacheInformation = 0x15
SystemInterruptInformation = 0x17
SystemTimeAdjustmentInformation = 0x1C
SystemRegistryQuotaInformation = 0x25
SystemRecommendedSharedDataAlignment = 0x3A
SystemFileCacheInformationEx = 0x51
SystemKernelDebuggerInformationEx = 0x95
SystemCpuSetInformation = 0xAF
SystemEmulationBasicInformation = 0x3E
SystemEmulationProcessorInformation = 0x3F
SystemExtendedHandleInformation = 0x40
SystemLogicalProcessorInformation = 0x49
SystemFirmwareTableInformation = 0x4C
SystemCodeIntegrityInformation = 0x67
SystemLogicalProcessorInformationEx = 0x6B
SystemNativeBasicInformation = 0x72

CODEINTEGRITY_OPTION_ENABLED = 0x01


def _ret(proc, ReturnLength: int, n: int) -> None:
    if ReturnLength:
        user_write(proc, ReturnLength, struct.pack("<I", n & 0xFFFFFFFF))


def _fixed(proc, buf: int, length: int, ReturnLength: int, data: bytes, *, exact: bool = False) -> int:
    if length < len(data) or (exact and length != len(data)):
        _ret(proc, ReturnLength, len(data))
        return STATUS_INFO_LENGTH_MISMATCH
    user_write(proc, buf, data)
    _ret(proc, ReturnLength, len(data))
    return 0


def _variable(proc, buf: int, length: int, ReturnLength: int, data: bytes) -> int:
    if length < len(data):
        _ret(proc, ReturnLength, len(data))
        return STATUS_INFO_LENGTH_MISMATCH
    if data:
        user_write(proc, buf, data)
    _ret(proc, ReturnLength, len(data))
    return 0


def query_system_information(machine, thread, cls: int, buf: int, length: int, ReturnLength: int) -> int:
    proc = thread.process
    arch = proc.arch
    if cls in (SystemBasicInformation, SystemEmulationBasicInformation):
        return _fixed(proc, buf, length, ReturnLength, si.basic_information(machine, proc), exact=True)
    if cls == SystemNativeBasicInformation:
        if arch == "x86":       # only the native (64-bit) caller: WoW64 refuses the class
            return STATUS_INVALID_INFO_CLASS
        return _fixed(proc, buf, length, ReturnLength, si.basic_information(machine, proc), exact=True)
    if cls in (SystemProcessorInformation, SystemEmulationProcessorInformation):
        return _fixed(proc, buf, length, ReturnLength,
                      si.processor_information(machine, proc, emulation=cls == SystemEmulationProcessorInformation),
                      exact=True)
    if cls == SystemPerformanceInformation:
        # the record has grown since Windows 2000 (0x138 bytes, up to SystemCalls): a buffer at least that
        # long gets what fits, ReturnLength the bytes written
        data = si.performance_information(machine)
        if length < si.PERFORMANCE_MIN_SIZE:
            _ret(proc, ReturnLength, len(data))
            return STATUS_INFO_LENGTH_MISMATCH
        data = data[:length]
        user_write(proc, buf, data)
        _ret(proc, ReturnLength, len(data))
        return 0
    if cls == SystemTimeOfDayInformation:
        data = si.timeofday_information(machine)
        if length > len(data):
            _ret(proc, ReturnLength, 0)
            return STATUS_INFO_LENGTH_MISMATCH
        if length:
            user_write(proc, buf, data[:length])
        _ret(proc, ReturnLength, length)
        return 0
    if cls in (SystemProcessInformation, SystemExtendedProcessInformation):
        if length and not buf:
            return STATUS_ACCESS_VIOLATION
        return _variable(proc, buf, length, ReturnLength, si.process_information(
            machine, thread, buf, extended=cls == SystemExtendedProcessInformation))
    if cls == SystemProcessorPerformanceInformation:
        recs = si.processor_performance(machine)
        n = min(len(recs), length // len(recs[0]))
        if n == 0:
            _ret(proc, ReturnLength, 0)
            return STATUS_INFO_LENGTH_MISMATCH
        data = b"".join(recs[:n])
        user_write(proc, buf, data)
        _ret(proc, ReturnLength, len(data))
        return 0
    if cls == SystemModuleInformation:
        return _variable(proc, buf, length, ReturnLength, si.module_information(arch))
    if cls == SystemModuleInformationEx:
        return _variable(proc, buf, length, ReturnLength, si.module_information_ex(arch))
    if cls == SystemHandleInformation:
        return _variable(proc, buf, length, ReturnLength, si.handle_information(machine, arch))
    if cls == SystemExtendedHandleInformation:
        return _variable(proc, buf, length, ReturnLength, si.extended_handle_information(machine, arch))
    if cls == SystemKernelDebuggerInformation:
        # no kernel debugger: KdDebuggerEnabled FALSE, KdDebuggerNotPresent TRUE
        return _fixed(proc, buf, length, ReturnLength, bytes([0, 1]))
    if cls == SystemTimeZoneInformation:
        return _fixed(proc, buf, length, ReturnLength, si.time_zone_information(machine))
    if cls == SystemDynamicTimeZoneInformation:
        return _fixed(proc, buf, length, ReturnLength, si.dynamic_time_zone_information(machine))
    if cls == SystemRangeStartInformation:
        # MmSystemRangeStart: the start of kernel space (a WoW64 caller gets its 32-bit view's limit)
        data = struct.pack("<Q", 0xFFFF800000000000) if arch == "x64" else struct.pack("<I", 0x80000000)
        return _fixed(proc, buf, length, ReturnLength, data, exact=True)
    if cls == SystemFlagsInformation:
        return _fixed(proc, buf, length, ReturnLength, struct.pack("<I", si.global_flag(machine)), exact=True)
    if cls in (SystemFileCacheInformation, SystemFileCacheInformationEx):
        return _fixed(proc, buf, length, ReturnLength, si.file_cache_information(arch))
    if cls == SystemInterruptInformation:
        return _fixed(proc, buf, length, ReturnLength, si.interrupt_information(machine))
    if cls == SystemTimeAdjustmentInformation:
        return _fixed(proc, buf, length, ReturnLength, si.time_adjustment_information(machine), exact=True)
    if cls == SystemRegistryQuotaInformation:
        return _fixed(proc, buf, length, ReturnLength, si.registry_quota_information(machine, arch))
    if cls == SystemRecommendedSharedDataAlignment:
        # KeGetRecommendedSharedDataAlignment: the largest cache line of the processors (64 bytes on x64)
        return _fixed(proc, buf, length, ReturnLength, struct.pack("<I", 64), exact=True)
    if cls == SystemKernelDebuggerInformationEx:
        if arch == "x86":      # WoW64 does not thunk this class (Windows 10)
            return STATUS_INVALID_INFO_CLASS
        # DebuggerAllowed, DebuggerEnabled, DebuggerPresent: a machine booted without kernel debugging
        return _fixed(proc, buf, length, ReturnLength, bytes(3))
    if cls in (SystemCpuSetInformation, SystemSupportedProcessorArchitectures):
        return STATUS_INVALID_PARAMETER    # they take an input: NtQuerySystemInformationEx only
    if cls == SystemLogicalProcessorInformation:
        if arch == "x86":   # Windows 8 and later do not serve this class to a WoW64 process
            return STATUS_INVALID_INFO_CLASS
        return _variable(proc, buf, length, ReturnLength, si.logical_processor(machine, arch))
    if cls == SystemFirmwareTableInformation:
        return _firmware_table(machine, thread, buf, length, ReturnLength)
    if cls == SystemCodeIntegrityInformation:
        # SYSTEM_CODEINTEGRITY_INFORMATION { ULONG Length (in), ULONG CodeIntegrityOptions }: code integrity
        # on, no test signing, no debug mode
        if length < 8:
            _ret(proc, ReturnLength, 8)
            return STATUS_INFO_LENGTH_MISMATCH
        if struct.unpack("<I", user_read(proc, buf, 4))[0] != 8:
            return STATUS_INVALID_PARAMETER
        user_write(proc, buf + 4, struct.pack("<I", CODEINTEGRITY_OPTION_ENABLED))
        _ret(proc, ReturnLength, 8)
        return 0
    if cls == SystemLogicalProcessorInformationEx:
        return STATUS_INVALID_PARAMETER    # it takes a relationship: NtQuerySystemInformationEx only
    return _unmodelled(thread, cls, buf, length, ReturnLength)


def _unmodelled(thread, cls: int, buf: int, length: int, ReturnLength: int) -> int:
    """A class without a record built from the machine: what its CLASSES row says Windows answers before
    reading any state (set-only → STATUS_INVALID_INFO_CLASS, obsolete → STATUS_NOT_IMPLEMENTED, the size
    checks), else a loud stop."""
    name, kind, sizes = CLASSES[cls]
    proc = thread.process
    if kind == INVALID:
        return STATUS_INVALID_INFO_CLASS
    if kind == OBSOLETE:
        return STATUS_NOT_IMPLEMENTED
    if kind == FIXED:
        size = sizes[0] if proc.arch == "x64" else sizes[1]
        if length != size:
            _ret(proc, ReturnLength, size)
            return STATUS_INFO_LENGTH_MISMATCH
    elif kind == PROBE and length == 0:
        return STATUS_INFO_LENGTH_MISMATCH
    unsupported(thread, "NtQuerySystemInformation", f"information class {cls:#x} ({name}) is not modelled")


FIRMWARE_HEADER = 16          # SYSTEM_FIRMWARE_TABLE_INFORMATION up to TableBuffer
RSMB, ACPI, FIRM = 0x52534D42, 0x41435049, 0x4649524D
SystemFirmwareTable_Enumerate, SystemFirmwareTable_Get = 0, 1


def _firmware_table(machine, thread, buf: int, length: int, ReturnLength: int) -> int:
    """SYSTEM_FIRMWARE_TABLE_INFORMATION { ProviderSignature, Action, TableID, TableBufferLength, TableBuffer[] }
    (what GetSystemFirmwareTable / EnumSystemFirmwareTables call): the raw SMBIOS ('RSMB') and the ACPI
    tables ('ACPI'); another provider is STATUS_NOT_IMPLEMENTED with ReturnLength 0, as on Windows. A table
    larger than the buffer: STATUS_BUFFER_TOO_SMALL with its size in TableBufferLength and the full length in
    *ReturnLength."""
    proc = thread.process
    if length < FIRMWARE_HEADER:
        _ret(proc, ReturnLength, FIRMWARE_HEADER)
        return STATUS_INFO_LENGTH_MISMATCH
    provider, action, table_id = struct.unpack("<III", user_read(proc, buf, 12))
    if provider == FIRM:
        unsupported(thread, "NtQuerySystemInformation", "SystemFirmwareTableInformation provider 'FIRM'")
    if provider not in (RSMB, ACPI) or action not in (SystemFirmwareTable_Enumerate, SystemFirmwareTable_Get):
        _ret(proc, ReturnLength, 0)
        return STATUS_NOT_IMPLEMENTED if provider not in (RSMB, ACPI) else STATUS_INVALID_PARAMETER
    if provider == RSMB:
        data = struct.pack("<I", 0) if action == SystemFirmwareTable_Enumerate else si.raw_smbios(machine)
    else:
        tables = si.acpi_tables(machine)
        if action == SystemFirmwareTable_Enumerate:
            data = b"".join(tables)
        else:
            data = tables.get(struct.pack("<I", table_id))
            if data is None:
                _ret(proc, ReturnLength, 0)
                return STATUS_NOT_FOUND
    user_write(proc, buf + 12, struct.pack("<I", len(data)))
    _ret(proc, ReturnLength, FIRMWARE_HEADER + len(data))
    if length < FIRMWARE_HEADER + len(data):
        return STATUS_BUFFER_TOO_SMALL
    user_write(proc, buf + FIRMWARE_HEADER, data)
    return 0


def _bad_output(thread, buf: int, length: int) -> bool:
    """ProbeForWrite of the output buffer before any class is looked at: a buffer of some length at an
    address the caller cannot write is STATUS_ACCESS_VIOLATION."""
    return bool(length) and (not buf or not thread.process.aspace.accessible(buf, length, True))


@kernel_service("NtQuerySystemInformation")
def NtQuerySystemInformation(machine, thread, SystemInformationClass, SystemInformation, SystemInformationLength,
                             ReturnLength):
    cls = SystemInformationClass & 0xFFFFFFFF
    if cls >= MAX_SYSTEM_INFO_CLASS:
        return STATUS_INVALID_INFO_CLASS
    if _bad_output(thread, SystemInformation, SystemInformationLength & 0xFFFFFFFF):
        return STATUS_ACCESS_VIOLATION
    return query_system_information(machine, thread, cls, SystemInformation, SystemInformationLength & 0xFFFFFFFF,
                                    ReturnLength)


@kernel_service("NtQuerySystemInformationEx")
def NtQuerySystemInformationEx(machine, thread, SystemInformationClass, InputBuffer, InputBufferLength,
                               SystemInformation, SystemInformationLength, ReturnLength):
    """The classes that take an input: SystemLogicalProcessorInformationEx (input: the
    LOGICAL_PROCESSOR_RELATIONSHIP) — the core and package records; the cache, NUMA and group relations are
    not modelled and stop loudly."""
    cls = SystemInformationClass & 0xFFFFFFFF
    proc = thread.process
    if cls >= MAX_SYSTEM_INFO_CLASS:
        return STATUS_INVALID_INFO_CLASS
    if cls == SystemSupportedProcessorArchitectures:
        return _supported_architectures(thread, InputBuffer, InputBufferLength & 0xFFFFFFFF, SystemInformation,
                                        SystemInformationLength & 0xFFFFFFFF, ReturnLength)
    if cls == SystemCpuSetInformation:
        if InputBuffer and (InputBufferLength & 0xFFFFFFFF) == (8 if proc.arch == "x64" else 4) and \
                _bad_output(thread, SystemInformation, SystemInformationLength & 0xFFFFFFFF):
            return STATUS_ACCESS_VIOLATION
        return _cpu_sets(machine, thread, InputBuffer, InputBufferLength & 0xFFFFFFFF, SystemInformation,
                         SystemInformationLength & 0xFFFFFFFF, ReturnLength)
    if cls != SystemLogicalProcessorInformationEx:
        unsupported(thread, "NtQuerySystemInformationEx", f"information class {cls:#x} ({name_of(cls)})")
    if (InputBufferLength & 0xFFFFFFFF) < 4:
        return STATUS_INVALID_PARAMETER
    rel = struct.unpack("<I", user_read(proc, InputBuffer, 4))[0]
    data = si.logical_processor_ex(machine, proc.arch, rel)
    if data is None:
        return STATUS_INVALID_PARAMETER
    return _variable(proc, SystemInformation, SystemInformationLength & 0xFFFFFFFF, ReturnLength, data)


SystemSupportedProcessorArchitectures = 0xB5
STATUS_INVALID_HANDLE = 0xC0000008


def _cpu_sets(machine, thread, inp: int, inp_len: int, buf: int, length: int, ReturnLength: int) -> int:
    """SystemCpuSetInformation: the input is a process handle (NULL: the system's sets); one
    SYSTEM_CPU_SET_INFORMATION per logical processor. The input is checked first (length, pointer, handle),
    then the output: too small is STATUS_BUFFER_TOO_SMALL with the size in *ReturnLength."""
    from winhatch.kernel.ke.services import process_from_handle
    proc = thread.process
    ps = 8 if proc.arch == "x64" else 4
    if inp_len != ps or not inp:
        return STATUS_INVALID_PARAMETER
    handle = int.from_bytes(user_read(proc, inp, ps), "little")
    if handle:
        process_from_handle(thread, handle, 0x1000)      # PROCESS_QUERY_LIMITED_INFORMATION; a bad one fails
    data = si.cpu_set_information(machine)
    if length < len(data):
        _ret(proc, ReturnLength, len(data))
        return STATUS_BUFFER_TOO_SMALL
    user_write(proc, buf, data)
    _ret(proc, ReturnLength, len(data))
    return 0


def _supported_architectures(thread, inp: int, inp_len: int, buf: int, length: int, ReturnLength: int) -> int:
    """SYSTEM_SUPPORTED_PROCESSOR_ARCHITECTURES_INFORMATION records of an x64 machine for the process whose handle
    is the input — Machine:16, KernelMode, UserMode, Native, Process, WoW64Container — then a zero record: AMD64
    runs kernel and user mode natively, I386 user mode in the WoW64 container; Process marks the one the
    process runs as."""
    from winhatch.kernel.ke.services import process_from_handle
    proc = thread.process
    ps = 8 if proc.arch == "x64" else 4
    if inp_len < ps:
        return STATUS_INVALID_PARAMETER
    handle = int.from_bytes(user_read(proc, inp, ps), "little")
    # a NULL handle asks about the machine alone: no record is marked as the process's (ntdll/wow64.c, Windows)
    target = process_from_handle(thread, handle, 0x1000) if handle else None   # PROCESS_QUERY_LIMITED_INFORMATION
    arch = getattr(target, "arch", None)
    amd64 = 0x8664 | 1 << 16 | 1 << 17 | 1 << 18 | (1 << 19 if arch == "x64" else 0)
    i386 = 0x014C | 1 << 17 | (1 << 19 if arch == "x86" else 0) | 1 << 20
    data = struct.pack("<III", amd64, i386, 0)
    if length < len(data):   # this class answers a short buffer with STATUS_BUFFER_TOO_SMALL (ntdll/wow64.c)
        _ret(proc, ReturnLength, len(data))
        return 0xC0000023
    return _variable(proc, buf, length, ReturnLength, data)


# ------------------------------------------------------------------------------------------- NtSetSystemInformation
STATUS_PRIVILEGE_NOT_HELD = 0xC0000061
SET_TIME_ADJUST_SIZE = 8          # SYSTEM_SET_TIME_ADJUST_INFORMATION {ULONG TimeAdjustment; BOOLEAN Enable}


@kernel_service("NtSetSystemInformation")
def NtSetSystemInformation(machine, thread, SystemInformationClass, SystemInformation, SystemInformationLength):
    """SystemTimeAdjustmentInformation: the record's size is checked first (STATUS_INFO_LENGTH_MISMATCH),
    then SeSystemtimePrivilege (a standard user's token lacks it: STATUS_PRIVILEGE_NOT_HELD); with the
    privilege the adjustment is refused loudly (winhatch's clock is not adjustable). Other classes stop loudly;
    a class number beyond the last is STATUS_INVALID_INFO_CLASS."""
    from winhatch.kernel.se.token import PRIVILEGES, primary_token
    cls = SystemInformationClass & 0xFFFFFFFF
    length = SystemInformationLength & 0xFFFFFFFF
    if cls >= MAX_SYSTEM_INFO_CLASS:
        return STATUS_INVALID_INFO_CLASS
    if cls == SystemTimeAdjustmentInformation:
        if length != SET_TIME_ADJUST_SIZE:
            return STATUS_INFO_LENGTH_MISMATCH
        user_read(thread.process, SystemInformation, length)
        if PRIVILEGES["SeSystemtimePrivilege"] not in primary_token(thread.process,
                                                                      machine.registry.user_sid).enabled:
            return STATUS_PRIVILEGE_NOT_HELD
        unsupported(thread, "NtSetSystemInformation", "SystemTimeAdjustmentInformation (adjusting the clock)")
    unsupported(thread, "NtSetSystemInformation", f"information class {cls:#x} ({name_of(cls)})")


# ------------------------------------------------------------------------------------------- hard errors
OptionAbortRetryIgnore, OptionOk, OptionOkCancel, OptionRetryCancel, OptionYesNo, OptionYesNoCancel, \
    OptionShutdownSystem, OptionOkNoWait, OptionCancelTryContinue = range(9)
ResponseReturnToCaller, ResponseNotHandled = 0, 1
STATUS_PRIVILEGE_NOT_HELD = 0xC0000061


@kernel_service("NtRaiseHardError")
def NtRaiseHardError(machine, thread, ErrorStatus, NumberOfParameters, UnicodeStringParameterMask, Parameters,
                     ValidResponseOptions, Response):
    """A hard error of a process that has no desktop to show it on: winhatch's processes run in a session
    with no interactive window station, so CSRSS shows nothing and the answer is ResponseNotHandled with
    STATUS_SUCCESS — except OptionShutdownSystem, which needs SeShutdownPrivilege enabled (the malware
    "BSOD" trick): STATUS_PRIVILEGE_NOT_HELD without it; with it the shutdown is refused loudly (winhatch does
    not stop the machine for a guest)."""
    proc = thread.process
    opt = ValidResponseOptions & 0xFFFFFFFF
    if opt > OptionCancelTryContinue:
        return STATUS_INVALID_PARAMETER
    if (NumberOfParameters & 0xFFFFFFFF) > 5:         # MAXIMUM_HARDERROR_PARAMETERS
        return 0xC00000F0                            # STATUS_INVALID_PARAMETER_2
    if opt == OptionShutdownSystem:
        from winhatch.kernel.se.token import PRIVILEGES, primary_token
        if PRIVILEGES["SeShutdownPrivilege"] not in primary_token(proc, machine.registry.user_sid).enabled:
            return STATUS_PRIVILEGE_NOT_HELD
        unsupported(thread, "NtRaiseHardError", "OptionShutdownSystem (a guest shutting the machine down)")
    machine.events.emit("ui", "hard_error", proc.pid, thread.tid, status=ErrorStatus & 0xFFFFFFFF, option=opt)
    if Response:
        user_write(proc, Response, struct.pack("<I", ResponseNotHandled))
    return 0


# ------------------------------------------------------------------------------------------- debug filter
@kernel_service("NtSetDebugFilterState")
def NtSetDebugFilterState(machine, thread, ComponentId, Level, State):
    """The kernel debug-print filter (Kd_<component>_Mask): setting it needs SeDebugPrivilege, which a
    standard user's token does not hold enabled (STATUS_ACCESS_DENIED); with it the mask is kept per machine."""
    from winhatch.kernel.se.token import PRIVILEGES, primary_token
    if PRIVILEGES["SeDebugPrivilege"] not in primary_token(thread.process, machine.registry.user_sid).enabled:
        return 0xC0000022
    level = Level & 0xFFFFFFFF
    mask = (1 << level) if level < 32 else level
    filters = machine.__dict__.setdefault("debug_filters", {})
    cur = filters.get(ComponentId & 0xFFFFFFFF, 0)
    filters[ComponentId & 0xFFFFFFFF] = (cur | mask) if State & 0xFF else (cur & ~mask)
    return 0


# ---------------------------------------------------------------------------------------------- timer resolution
#: the clock interrupt's range in 100 ns units, as Windows 10 reports it: 15.625 ms at the coarsest (the default),
#: 0.5 ms at the finest
TIMER_RESOLUTION_MIN, TIMER_RESOLUTION_MAX = si.TIMER_RESOLUTION, 5000
STATUS_TIMER_RESOLUTION_NOT_SET = 0xC0000245


def current_timer_resolution(machine) -> int:
    """The finest resolution any live process asked for (NtSetTimerResolution), else the default."""
    reqs = [r for p, r in machine.subsystem.get("timer_resolution", {}).items() if not p.exited]
    return min(reqs + [TIMER_RESOLUTION_MIN])


@kernel_service("NtQueryTimerResolution")
def NtQueryTimerResolution(machine, thread, MinimumResolution, MaximumResolution, CurrentResolution):
    proc = thread.process
    for ptr, v in ((MinimumResolution, TIMER_RESOLUTION_MIN), (MaximumResolution, TIMER_RESOLUTION_MAX),
                   (CurrentResolution, current_timer_resolution(machine))):
        user_write(proc, ptr, struct.pack("<I", v))   # a NULL pointer: STATUS_ACCESS_VIOLATION
    return 0


@kernel_service("NtSetTimerResolution")
def NtSetTimerResolution(machine, thread, DesiredResolution, SetResolution, CurrentResolution):
    """A process's request for a finer clock (one per process, replaced by the next, rescinded with SetResolution
    FALSE: STATUS_TIMER_RESOLUTION_NOT_SET when there is none); the machine runs at the finest request, clamped to
    the range above.  The emulated clock keeps its own pace: the resolution is bookkeeping a program can query."""
    proc = thread.process
    user_read(proc, CurrentResolution, 4)   # probed first: NULL is STATUS_ACCESS_VIOLATION and nothing changes
    reqs = machine.subsystem.setdefault("timer_resolution", {})
    status = 0
    if SetResolution & 0xFF:
        reqs[proc] = min(max(DesiredResolution & 0xFFFFFFFF, TIMER_RESOLUTION_MAX), TIMER_RESOLUTION_MIN)
    elif proc in reqs:
        del reqs[proc]
    else:
        status = STATUS_TIMER_RESOLUTION_NOT_SET
    user_write(proc, CurrentResolution, struct.pack("<I", current_timer_resolution(machine)))
    return status


# ------------------------------------------------------------------------------------------- licensing
STATUS_OBJECT_NAME_NOT_FOUND = 0xC0000034
REG_DWORD = 4
#: PRODUCT_* of the editions the registry's EditionID names (winnt.h)
EDITION_PRODUCT = {"Core": 0x65, "CoreN": 0x62, "CoreSingleLanguage": 0x64, "Professional": 0x30,
                   "ProfessionalN": 0x31, "Enterprise": 0x04, "EnterpriseN": 0x1B, "Education": 0x79,
                   "EducationN": 0x7A, "ServerStandard": 0x07, "ServerDatacenter": 0x08}
CURRENT_VERSION = r"HKLM\SOFTWARE\Microsoft\Windows NT\CurrentVersion"


PRODUCT_OPTIONS = r"HKLM\SYSTEM\CurrentControlSet\Control\ProductOptions"
MAX_LICENSE_VALUES = 0x923          # the kernel's bound (64 KB of policy, at least 0x1C bytes a value)


def parse_product_policy(blob: bytes) -> dict[str, tuple[int, bytes]]:
    """The license values of a ProductPolicy blob (the binary value the kernel reads its license data from):
    a header {total size, size of the values array, size of the end marker, 0, 1}, then per value a header
    {WORD total size, WORD name size, WORD type, WORD data size, DWORD flags, DWORD 0}, the UTF-16 name and the
    data (Geoff Chappell's description of the format). Names are matched case-insensitively. A malformed
    blob yields the values before the damage."""
    out: dict[str, tuple[int, bytes]] = {}
    if len(blob) < 20:
        return out
    total, array, _end, _, version = struct.unpack_from("<IIIII", blob)
    if version != 1:
        return out
    limit = min(len(blob), 20 + array)
    off = 20
    for _ in range(MAX_LICENSE_VALUES):
        if off + 16 > limit:
            break
        size, name_len, typ, data_len, _flags, _ = struct.unpack_from("<HHHHII", blob, off)
        if size < 16 + name_len + data_len or off + size > limit:
            break
        name = blob[off + 16:off + 16 + name_len].decode("utf-16-le", "replace")
        out[name.lower()] = (typ, blob[off + 16 + name_len:off + 16 + name_len + data_len])
        off += size
    return out


def license_values(machine) -> dict[str, tuple[int, bytes]]:
    """The machine's license values: the ProductPolicy value of HKLM\\SYSTEM\\CurrentControlSet\\Control\\
    ProductOptions, and Kernel-ProductInfo (the PRODUCT_* of the installed edition) from CurrentVersion\\
    EditionID, so that a profile changing the edition changes what GetProductInfo answers."""
    blob = machine.registry.get(PRODUCT_OPTIONS, "ProductPolicy", b"")
    out = parse_product_policy(blob if isinstance(blob, bytes) else b"")
    edition = machine.registry.get(CURRENT_VERSION, "EditionID", "Professional")
    product = EDITION_PRODUCT.get(edition)
    if product is not None:
        out["kernel-productinfo"] = (REG_DWORD, struct.pack("<I", product))
    return out


@kernel_service("NtQueryLicenseValue")
def NtQueryLicenseValue(machine, thread, ValueName, Type, Data, DataSize, ResultDataSize):
    """A license value: its type (Type may be NULL) and data. A NULL or empty name, or a NULL ResultDataSize,
    is STATUS_INVALID_PARAMETER; a name the policy does not hold STATUS_OBJECT_NAME_NOT_FOUND (nothing
    written); a buffer too small STATUS_BUFFER_TOO_SMALL with the type and the size written, the buffer
    untouched (Wine's ntdll/tests/reg.c test_NtQueryLicenseKey, as on Windows)."""
    from winhatch.kernel.ob.services import read_unicode_string
    if not ValueName or not ResultDataSize:
        return STATUS_INVALID_PARAMETER
    proc = thread.process
    if not struct.unpack("<H", user_read(proc, ValueName, 2))[0]:
        return STATUS_INVALID_PARAMETER
    name = read_unicode_string(thread, ValueName)
    value = license_values(machine).get(name.lower())
    if value is None:
        return STATUS_OBJECT_NAME_NOT_FOUND
    typ, data = value
    if Type:
        user_write(proc, Type, struct.pack("<I", typ))
    user_write(proc, ResultDataSize, struct.pack("<I", len(data)))
    if (DataSize & 0xFFFFFFFF) < len(data) or not Data:
        return STATUS_BUFFER_TOO_SMALL
    user_write(proc, Data, data)
    return 0
