"""The PROCESSINFOCLASS table of Windows 10 22H2 (the 19041-based kernel winhatch models): one row per class,
its Windows name, and what winhatch's NtQueryInformationProcess and NtSetInformationProcess do with it.

Query kinds:

- ``impl``     answered from the process's state (winhatch.kernel.ps.info_services);
- ``invalid``  STATUS_INVALID_INFO_CLASS: a class Windows only sets (or only accepts from kernel mode), so a
               query falls to the query path's default case;
- ``fixed``    a fixed-size record (size x64 / WoW64 caller): a buffer of another size is
               STATUS_INFO_LENGTH_MISMATCH, as Windows checks the length first; a query that would be
               answered stops the guest loudly (the record is not modelled);
- ``probe``    a variable-length record (minimum size x64 / WoW64): a shorter buffer is
               STATUS_INFO_LENGTH_MISMATCH; any real query stops the guest loudly.

Set kinds:

- ``impl``     carried out on the process's state;
- ``invalid``  STATUS_INVALID_INFO_CLASS: a class Windows only queries;
- ``loud``     a class Windows sets that winhatch does not model: the guest stops loudly.

Names, numbers, directions and structures: the public PROCESSINFOCLASS enumeration (winternl.h, the phnt
headers and their documentation), ProcessBasicInformation = 0 … ProcessDynamicEnforcedCetCompatibleRanges =
102, the last class of Windows 10 20H2-22H2. Structure sizes were measured with mingw-w64 for x64 and x86.
"""
from __future__ import annotations

IMPL, INVALID, FIXED, PROBE, LOUD = "impl", "invalid", "fixed", "probe", "loud"

#: num name query set [size-x64 size-x86]  (sizes for a fixed / probe query)
_TABLE = """
0x00 ProcessBasicInformation impl invalid
0x01 ProcessQuotaLimits impl loud
0x02 ProcessIoCounters impl invalid
0x03 ProcessVmCounters impl invalid
0x04 ProcessTimes impl invalid
0x05 ProcessBasePriority invalid loud
0x06 ProcessRaisePriority invalid loud
0x07 ProcessDebugPort impl invalid
0x08 ProcessExceptionPort invalid loud
0x09 ProcessAccessToken invalid loud
0x0A ProcessLdtInformation probe loud 16 16
0x0B ProcessLdtSize invalid loud
0x0C ProcessDefaultHardErrorMode impl impl
0x0D ProcessIoPortHandlers invalid loud
0x0E ProcessPooledUsageAndLimits fixed invalid 72 36
0x0F ProcessWorkingSetWatch impl loud
0x10 ProcessUserModeIOPL invalid loud
0x11 ProcessEnableAlignmentFaultFixup invalid loud
0x12 ProcessPriorityClass impl loud
0x13 ProcessWx86Information impl loud
0x14 ProcessHandleCount impl invalid
0x15 ProcessAffinityMask impl impl
0x16 ProcessPriorityBoost impl loud
0x17 ProcessDeviceMap fixed loud 40 36
0x18 ProcessSessionInformation impl loud
0x19 ProcessForegroundInformation invalid loud
0x1A ProcessWow64Information impl invalid
0x1B ProcessImageFileName impl invalid
0x1C ProcessLUIDDeviceMapsEnabled impl invalid
0x1D ProcessBreakOnTermination impl impl
0x1E ProcessDebugObjectHandle impl invalid
0x1F ProcessDebugFlags impl impl
0x20 ProcessHandleTracing impl loud
0x21 ProcessIoPriority impl loud
0x22 ProcessExecuteFlags impl impl
0x23 ProcessTlsInformation invalid loud
0x24 ProcessCookie impl invalid
0x25 ProcessImageInformation impl invalid
0x26 ProcessCycleTime fixed invalid 16 16
0x27 ProcessPagePriority impl loud
0x28 ProcessInstrumentationCallback invalid impl
0x29 ProcessThreadStackAllocation invalid impl
0x2A ProcessWorkingSetWatchEx impl loud
0x2B ProcessImageFileNameWin32 impl invalid
0x2C ProcessImageFileMapping fixed invalid 8 4
0x2D ProcessAffinityUpdateMode fixed loud 4 4
0x2E ProcessMemoryAllocationMode fixed loud 4 4
0x2F ProcessGroupInformation probe invalid 2 2
0x30 ProcessTokenVirtualizationEnabled invalid loud
0x31 ProcessConsoleHostProcess impl loud
0x32 ProcessWindowInformation probe invalid 8 8
0x33 ProcessHandleInformation probe invalid 16 8
0x34 ProcessMitigationPolicy fixed loud 8 8
0x35 ProcessDynamicFunctionTableInformation invalid loud
0x36 ProcessHandleCheckingMode fixed loud 4 4
0x37 ProcessKeepAliveCount fixed invalid 8 8
0x38 ProcessRevokeFileHandles invalid loud
0x39 ProcessWorkingSetControl invalid loud
0x3A ProcessHandleTable probe invalid 4 4
0x3B ProcessCheckStackExtentsMode fixed loud 4 4
0x3C ProcessCommandLineInformation impl invalid
0x3D ProcessProtectionInformation impl invalid
0x3E ProcessMemoryExhaustion invalid loud
0x3F ProcessFaultInformation invalid loud
0x40 ProcessTelemetryIdInformation probe invalid 1 1
0x41 ProcessCommitReleaseInformation probe loud 1 1
0x42 ProcessDefaultCpuSetsInformation probe loud 1 1
0x43 ProcessAllowedCpuSetsInformation probe loud 1 1
0x44 ProcessSubsystemProcess invalid loud
0x45 ProcessJobMemoryInformation probe invalid 1 1
0x46 ProcessInPrivate fixed loud 1 1
0x47 ProcessRaiseUMExceptionOnInvalidHandleClose fixed loud 4 4
0x48 ProcessIumChallengeResponse probe loud 1 1
0x49 ProcessChildProcessInformation probe invalid 1 1
0x4A ProcessHighGraphicsPriorityInformation fixed loud 1 1
0x4B ProcessSubsystemInformation fixed invalid 4 4
0x4C ProcessEnergyValues probe invalid 1 1
0x4D ProcessPowerThrottlingState fixed loud 12 12
0x4E ProcessReserved3Information probe loud 1 1
0x4F ProcessWin32kSyscallFilterInformation probe invalid 1 1
0x50 ProcessDisableSystemAllowedCpuSets invalid loud
0x51 ProcessWakeInformation probe invalid 1 1
0x52 ProcessEnergyTrackingState probe loud 1 1
0x53 ProcessManageWritesToExecutableMemory probe loud 1 1
0x54 ProcessCaptureTrustletLiveDump probe invalid 1 1
0x55 ProcessTelemetryCoverage probe loud 1 1
0x56 ProcessEnclaveInformation probe loud 1 1
0x57 ProcessEnableReadWriteVmLogging probe loud 1 1
0x58 ProcessUptimeInformation probe invalid 1 1
0x59 ProcessImageSection fixed invalid 8 4
0x5A ProcessDebugAuthInformation probe loud 1 1
0x5B ProcessSystemResourceManagement invalid loud
0x5C ProcessSequenceNumber fixed invalid 8 8
0x5D ProcessLoaderDetour probe loud 1 1
0x5E ProcessSecurityDomainInformation probe invalid 1 1
0x5F ProcessCombineSecurityDomainsInformation invalid loud
0x60 ProcessEnableLogging probe loud 1 1
0x61 ProcessLeapSecondInformation probe loud 1 1
0x62 ProcessFiberShadowStackAllocation invalid loud
0x63 ProcessFreeFiberShadowStackAllocation invalid loud
0x64 ProcessAltSystemCallInformation invalid loud
0x65 ProcessDynamicEHContinuationTargets invalid loud
0x66 ProcessDynamicEnforcedCetCompatibleRanges invalid loud
"""


def _parse() -> dict[int, tuple]:
    out = {}
    for line in _TABLE.strip().splitlines():
        parts = line.split()
        num, name, query, set_ = int(parts[0], 16), parts[1], parts[2], parts[3]
        assert num not in out and query in (IMPL, INVALID, FIXED, PROBE) and set_ in (IMPL, INVALID, LOUD), line
        sizes = (int(parts[4]), int(parts[5])) if query in (FIXED, PROBE) else None
        assert (sizes is None) == (len(parts) == 4), line
        out[num] = (name, query, set_, sizes)
    return out


#: class number -> (Windows name, query kind, set kind, (size x64, size WoW64) of a fixed / probe query)
CLASSES: dict[int, tuple] = _parse()
#: one past the last class (Windows 10 22H2's MaxProcessInfoClass): at or above it, STATUS_INVALID_INFO_CLASS
MAX_PROCESS_INFO_CLASS = max(CLASSES) + 1
assert sorted(CLASSES) == list(range(MAX_PROCESS_INFO_CLASS))


def name_of(cls: int) -> str:
    row = CLASSES.get(cls)
    return row[0] if row else f"class {cls:#x}"
