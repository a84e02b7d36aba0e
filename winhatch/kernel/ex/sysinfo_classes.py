"""The SYSTEM_INFORMATION_CLASS table of Windows 10 22H2: one row per class, its Windows name and what winhatch's
NtQuerySystemInformation does with it.

Kinds:

- ``impl``     answered from the machine's state (winhatch.kernel.ex.services.query_system_information);
- ``invalid``  STATUS_INVALID_INFO_CLASS: a class Windows accepts only in NtSetSystemInformation or from kernel
               mode, so a user-mode query falls to the query path's default case;
- ``obsolete`` STATUS_NOT_IMPLEMENTED: classes the Windows 10 kernel still names but no longer serves;
- ``fixed``    a fixed-size record (size x64 / WoW64): a buffer of another size is STATUS_INFO_LENGTH_MISMATCH
               with the size in *ReturnLength, as Windows checks first; a query that would be answered stops
               the guest loudly (the record is not modelled);
- ``probe``    a variable or input-taking class winhatch does not model: a zero-length buffer (the size probe
               every caller makes first) is STATUS_INFO_LENGTH_MISMATCH, as Windows answers it; any real query
               stops the guest loudly.

Names and numbers: winternl.h / the public symbol files' enumeration (SystemBasicInformation = 0 …
SystemFeatureUsageSubscriptionInformation = 0xD4, the last class of the 19041-based kernel winhatch models).
"""
from __future__ import annotations

IMPL, INVALID, OBSOLETE, FIXED, PROBE = "impl", "invalid", "obsolete", "fixed", "probe"

_TABLE = """
0x00 SystemBasicInformation impl
0x01 SystemProcessorInformation impl
0x02 SystemPerformanceInformation impl
0x03 SystemTimeOfDayInformation impl
0x04 SystemPathInformation obsolete
0x05 SystemProcessInformation impl
0x06 SystemCallCountInformation probe
0x07 SystemDeviceInformation fixed 24 24
0x08 SystemProcessorPerformanceInformation impl
0x09 SystemFlagsInformation impl
0x0A SystemCallTimeInformation obsolete
0x0B SystemModuleInformation impl
0x0C SystemLocksInformation probe
0x0D SystemStackTraceInformation probe
0x0E SystemPagedPoolInformation obsolete
0x0F SystemNonPagedPoolInformation obsolete
0x10 SystemHandleInformation impl
0x11 SystemObjectInformation probe
0x12 SystemPageFileInformation probe
0x13 SystemVdmInstemulInformation probe
0x14 SystemVdmBopInformation obsolete
0x15 SystemFileCacheInformation impl
0x16 SystemPoolTagInformation probe
0x17 SystemInterruptInformation impl
0x18 SystemDpcBehaviorInformation fixed 20 20
0x19 SystemFullMemoryInformation obsolete
0x1A SystemLoadGdiDriverInformation invalid
0x1B SystemUnloadGdiDriverInformation invalid
0x1C SystemTimeAdjustmentInformation impl
0x1D SystemSummaryMemoryInformation obsolete
0x1E SystemMirrorMemoryInformation probe
0x1F SystemPerformanceTraceInformation probe
0x20 SystemObsolete0 obsolete
0x21 SystemExceptionInformation fixed 16 16
0x22 SystemCrashDumpStateInformation invalid
0x23 SystemKernelDebuggerInformation impl
0x24 SystemContextSwitchInformation fixed 48 48
0x25 SystemRegistryQuotaInformation impl
0x26 SystemExtendServiceTableInformation invalid
0x27 SystemPrioritySeparation invalid
0x28 SystemVerifierAddDriverInformation invalid
0x29 SystemVerifierRemoveDriverInformation invalid
0x2A SystemProcessorIdleInformation probe
0x2B SystemLegacyDriverInformation probe
0x2C SystemCurrentTimeZoneInformation impl
0x2D SystemLookasideInformation probe
0x2E SystemTimeSlipNotification invalid
0x2F SystemSessionCreate obsolete
0x30 SystemSessionDetach obsolete
0x31 SystemSessionInformation obsolete
0x32 SystemRangeStartInformation impl
0x33 SystemVerifierInformation probe
0x34 SystemVerifierThunkExtend invalid
0x35 SystemSessionProcessInformation probe
0x36 SystemLoadGdiDriverInSystemSpace invalid
0x37 SystemNumaProcessorMap probe
0x38 SystemPrefetcherInformation probe
0x39 SystemExtendedProcessInformation impl
0x3A SystemRecommendedSharedDataAlignment impl
0x3B SystemComPlusPackage fixed 4 4
0x3C SystemNumaAvailableMemory probe
0x3D SystemProcessorPowerInformation probe
0x3E SystemEmulationBasicInformation impl
0x3F SystemEmulationProcessorInformation impl
0x40 SystemExtendedHandleInformation impl
0x41 SystemLostDelayedWriteInformation fixed 4 4
0x42 SystemBigPoolInformation probe
0x43 SystemSessionPoolTagInformation probe
0x44 SystemSessionMappedViewInformation probe
0x45 SystemHotpatchInformation probe
0x46 SystemObjectSecurityMode fixed 4 4
0x47 SystemWatchdogTimerHandler invalid
0x48 SystemWatchdogTimerInformation probe
0x49 SystemLogicalProcessorInformation impl
0x4A SystemWow64SharedInformationObsolete obsolete
0x4B SystemRegisterFirmwareTableInformationHandler invalid
0x4C SystemFirmwareTableInformation impl
0x4D SystemModuleInformationEx impl
0x4E SystemVerifierTriageInformation obsolete
0x4F SystemSuperfetchInformation probe
0x50 SystemMemoryListInformation probe
0x51 SystemFileCacheInformationEx impl
0x52 SystemThreadPriorityClientIdInformation invalid
0x53 SystemProcessorIdleCycleTimeInformation probe
0x54 SystemVerifierCancellationInformation probe
0x55 SystemProcessorPowerInformationEx obsolete
0x56 SystemRefTraceInformation probe
0x57 SystemSpecialPoolInformation probe
0x58 SystemProcessIdInformation probe
0x59 SystemErrorPortInformation invalid
0x5A SystemBootEnvironmentInformation probe
0x5B SystemHypervisorInformation probe
0x5C SystemVerifierInformationEx probe
0x5D SystemTimeZoneInformation probe
0x5E SystemImageFileExecutionOptionsInformation invalid
0x5F SystemCoverageInformation probe
0x60 SystemPrefetchPatchInformation probe
0x61 SystemVerifierFaultsInformation invalid
0x62 SystemSystemPartitionInformation probe
0x63 SystemSystemDiskInformation probe
0x64 SystemProcessorPerformanceDistribution probe
0x65 SystemNumaProximityNodeInformation probe
0x66 SystemDynamicTimeZoneInformation impl
0x67 SystemCodeIntegrityInformation impl
0x68 SystemProcessorMicrocodeUpdateInformation invalid
0x69 SystemProcessorBrandString probe
0x6A SystemVirtualAddressInformation probe
0x6B SystemLogicalProcessorAndGroupInformation impl
0x6C SystemProcessorCycleTimeInformation probe
0x6D SystemStoreInformation probe
0x6E SystemRegistryAppendString invalid
0x6F SystemAitSamplingValue invalid
0x70 SystemVhdBootInformation probe
0x71 SystemCpuQuotaInformation probe
0x72 SystemNativeBasicInformation impl
0x73 SystemErrorPortTimeouts probe
0x74 SystemLowPriorityIoInformation probe
0x75 SystemTpmBootEntropyInformation probe
0x76 SystemVerifierCountersInformation probe
0x77 SystemPagedPoolInformationEx probe
0x78 SystemSystemPtesInformationEx probe
0x79 SystemNodeDistanceInformation probe
0x7A SystemAcpiAuditInformation probe
0x7B SystemBasicPerformanceInformation probe
0x7C SystemQueryPerformanceCounterInformation probe
0x7D SystemSessionBigPoolInformation probe
0x7E SystemBootGraphicsInformation probe
0x7F SystemScrubPhysicalMemoryInformation probe
0x80 SystemBadPageInformation probe
0x81 SystemProcessorProfileControlArea probe
0x82 SystemCombinePhysicalMemoryInformation invalid
0x83 SystemEntropyInterruptTimingInformation probe
0x84 SystemConsoleInformation probe
0x85 SystemPlatformBinaryInformation probe
0x86 SystemPolicyInformation probe
0x87 SystemHypervisorProcessorCountInformation probe
0x88 SystemDeviceDataInformation probe
0x89 SystemDeviceDataEnumerationInformation probe
0x8A SystemMemoryTopologyInformation probe
0x8B SystemMemoryChannelInformation probe
0x8C SystemBootLogoInformation probe
0x8D SystemProcessorPerformanceInformationEx probe
0x8E SystemCriticalProcessErrorLogInformation probe
0x8F SystemSecureBootPolicyInformation probe
0x90 SystemPageFileInformationEx probe
0x91 SystemSecureBootInformation probe
0x92 SystemEntropyInterruptTimingRawInformation probe
0x93 SystemPortableWorkspaceEfiLauncherInformation probe
0x94 SystemFullProcessInformation probe
0x95 SystemKernelDebuggerInformationEx impl
0x96 SystemBootMetadataInformation probe
0x97 SystemSoftRebootInformation probe
0x98 SystemElamCertificateInformation invalid
0x99 SystemOfflineDumpConfigInformation probe
0x9A SystemProcessorFeaturesInformation probe
0x9B SystemRegistryReconciliationInformation invalid
0x9C SystemEdidInformation probe
0x9D SystemManufacturingInformation probe
0x9E SystemEnergyEstimationConfigInformation probe
0x9F SystemHypervisorDetailInformation probe
0xA0 SystemProcessorCycleStatsInformation probe
0xA1 SystemVmGenerationCountInformation probe
0xA2 SystemTrustedPlatformModuleInformation probe
0xA3 SystemKernelDebuggerFlags probe
0xA4 SystemCodeIntegrityPolicyInformation probe
0xA5 SystemIsolatedUserModeInformation probe
0xA6 SystemHardwareSecurityTestInterfaceResultsInformation probe
0xA7 SystemSingleModuleInformation probe
0xA8 SystemAllowedCpuSetsInformation invalid
0xA9 SystemVsmProtectionInformation probe
0xAA SystemInterruptCpuSetsInformation probe
0xAB SystemSecureBootPolicyFullInformation probe
0xAC SystemCodeIntegrityPolicyFullInformation probe
0xAD SystemAffinitizedInterruptProcessorInformation probe
0xAE SystemRootSiloInformation probe
0xAF SystemCpuSetInformation impl
0xB0 SystemCpuSetTagInformation probe
0xB1 SystemWin32WerStartCallout probe
0xB2 SystemSecureKernelProfileInformation probe
0xB3 SystemCodeIntegrityPlatformManifestInformation probe
0xB4 SystemInterruptSteeringInformation probe
0xB5 SystemSupportedProcessorArchitectures impl
0xB6 SystemMemoryUsageInformation probe
0xB7 SystemCodeIntegrityCertificateInformation probe
0xB8 SystemPhysicalMemoryInformation probe
0xB9 SystemControlFlowTransition probe
0xBA SystemKernelDebuggingAllowed invalid
0xBB SystemActivityModerationExeState invalid
0xBC SystemActivityModerationUserSettings probe
0xBD SystemCodeIntegrityPoliciesFullInformation probe
0xBE SystemCodeIntegrityUnlockInformation probe
0xBF SystemIntegrityQuotaInformation probe
0xC0 SystemFlushInformation probe
0xC1 SystemProcessorIdleMaskInformation probe
0xC2 SystemSecureDumpEncryptionInformation probe
0xC3 SystemWriteConstraintInformation probe
0xC4 SystemKernelVaShadowInformation probe
0xC5 SystemHypervisorSharedPageInformation probe
0xC6 SystemFirmwareBootPerformanceInformation probe
0xC7 SystemCodeIntegrityVerificationInformation probe
0xC8 SystemFirmwarePartitionInformation probe
0xC9 SystemSpeculationControlInformation probe
0xCA SystemDmaGuardPolicyInformation probe
0xCB SystemEnclaveLaunchControlInformation probe
0xCC SystemWorkloadAllowedCpuSetsInformation probe
0xCD SystemCodeIntegrityUnlockModeInformation probe
0xCE SystemLeapSecondInformation probe
0xCF SystemFlags2Information probe
0xD0 SystemSecurityModelInformation probe
0xD1 SystemCodeIntegritySyntheticCacheInformation probe
0xD2 SystemFeatureConfigurationInformation probe
0xD3 SystemFeatureConfigurationSectionInformation probe
0xD4 SystemFeatureUsageSubscriptionInformation probe
"""


def _parse() -> dict[int, tuple]:
    out = {}
    for line in _TABLE.strip().splitlines():
        parts = line.split()
        num, name, kind = int(parts[0], 16), parts[1], parts[2]
        sizes = (int(parts[3]), int(parts[4])) if kind == FIXED else None
        assert num not in out and kind in (IMPL, INVALID, OBSOLETE, FIXED, PROBE), line
        out[num] = (name, kind, sizes)
    return out


#: class number -> (Windows name, kind, (size x64, size WoW64) for a fixed class)
CLASSES: dict[int, tuple] = _parse()
#: one past the last class: a class number at or above it is STATUS_INVALID_INFO_CLASS
MAX_SYSTEM_INFO_CLASS = max(CLASSES) + 1
assert sorted(CLASSES) == list(range(MAX_SYSTEM_INFO_CLASS))


def name_of(cls: int) -> str:
    row = CLASSES.get(cls)
    return row[0] if row else f"class {cls:#x}"
