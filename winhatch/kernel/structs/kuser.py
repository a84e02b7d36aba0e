"""KUSER_SHARED_DATA: the read-only page at 0x7FFE0000 (both arches) that ntdll/kernel32 read the time, the
version, processor features and the syscall method from without entering the kernel.

Layout: Windows 10 20H1..22H2 (builds 19041-19045).  It has no pointer-sized members, so it is the same for
x86 and x64.  Declared up to the documented prefix of XState (through XState.AllFeatures, ending at 0x708);
what follows (the rest of XSTATE_CONFIGURATION, FeatureConfigurationChangeStamp, ...) changes between builds
and is left zero.  The page is 4096 bytes.
"""
from __future__ import annotations

from ._layout import (LONG, LONGLONG, UCHAR, ULONG, ULONGLONG, USHORT, WCHAR, F, Struct, Union)
from .basic import KSYSTEM_TIME, LARGE_INTEGER

KUSER_SHARED_DATA_ADDRESS = 0x7FFE0000
KUSER_SHARED_DATA_PAGE = 0x1000
#: winhatch's own byte in the unused tail of the page (past every member Windows has defined): 1 while API
#: calls are traced, so the user-mode exports of the synthetic DLLs trap instead (winhatch.win32.native)
KUSER_API_TRACE = 0xFF8

XSTATE_FEATURE = Struct("XSTATE_FEATURE", [F("Offset", ULONG), F("Size", ULONG)])

# Only the stable prefix of XSTATE_CONFIGURATION is declared (see the module docstring).
XSTATE_CONFIGURATION = Struct("XSTATE_CONFIGURATION", [
    F("EnabledFeatures", ULONGLONG),
    F("EnabledVolatileFeatures", ULONGLONG),
    F("Size", ULONG),
    F("ControlFlags", ULONG, bits=[("OptimizedSave", 1), ("CompactionEnabled", 1)]),
    F("Features", XSTATE_FEATURE, 64),
    F("EnabledSupervisorFeatures", ULONGLONG),
    F("AlignedFeatures", ULONGLONG),
    F("AllFeatureSize", ULONG),
    F("AllFeatures", ULONG, 64),
])

SHARED_DATA_FLAGS_BITS = [
    ("DbgErrorPortPresent", 1), ("DbgElevationEnabled", 1), ("DbgVirtEnabled", 1),
    ("DbgInstallerDetectEnabled", 1), ("DbgLkgEnabled", 1), ("DbgDynProcessorEnabled", 1),
    ("DbgConsoleBrokerEnabled", 1), ("DbgSecureBootEnabled", 1), ("DbgMultiSessionSku", 1),
    ("DbgMultiUsersInSessionSku", 1), ("DbgStateSeparationEnabled", 1), ("SpareBits", 21),
]

KUSER_SHARED_DATA = Struct("KUSER_SHARED_DATA", [
    F("TickCountLowDeprecated", ULONG),
    F("TickCountMultiplier", ULONG),          # ms per tick << 24
    F("InterruptTime", KSYSTEM_TIME),         # 100 ns since boot
    F("SystemTime", KSYSTEM_TIME),            # 100 ns since 1601-01-01 UTC
    F("TimeZoneBias", KSYSTEM_TIME),          # UTC - local, 100 ns
    F("ImageNumberLow", USHORT),
    F("ImageNumberHigh", USHORT),
    F("NtSystemRoot", WCHAR, 260),
    F("MaxStackTraceDepth", ULONG),
    F("CryptoExponent", ULONG),
    F("TimeZoneId", ULONG),
    F("LargePageMinimum", ULONG),
    F("AitSamplingValue", ULONG),
    F("AppCompatFlag", ULONG),
    F("RNGSeedVersion", ULONGLONG),
    F("GlobalValidationRunlevel", ULONG),
    F("TimeZoneBiasStamp", LONG),
    F("NtBuildNumber", ULONG),
    F("NtProductType", ULONG),                # NT_PRODUCT_TYPE: 1 WinNt, 2 LanManNt, 3 Server
    F("ProductTypeIsValid", UCHAR),
    F("Reserved0", UCHAR, 1),
    F("NativeProcessorArchitecture", USHORT),
    F("NtMajorVersion", ULONG),
    F("NtMinorVersion", ULONG),
    F("ProcessorFeatures", UCHAR, 64),        # indexed by PF_*
    F("Reserved1", ULONG),
    F("Reserved3", ULONG),
    F("TimeSlip", ULONG),
    F("AlternativeArchitecture", ULONG),
    F("BootId", ULONG),
    F("SystemExpirationDate", LARGE_INTEGER),
    F("SuiteMask", ULONG),
    F("KdDebuggerEnabled", UCHAR),
    F("MitigationPolicies", UCHAR, bits=[("NXSupportPolicy", 2), ("SEHValidationPolicy", 2),
                                         ("CurDirDevicesSkippedForDlls", 2), ("MitigationReserved", 2)]),
    F("CyclesPerYield", USHORT),
    F("ActiveConsoleId", ULONG),
    F("DismountCount", ULONG),
    F("ComPlusPackage", ULONG),
    F("LastSystemRITEventTickCount", ULONG),
    F("NumberOfPhysicalPages", ULONG),
    F("SafeBootMode", UCHAR),
    F("VirtualizationFlags", UCHAR),
    F("Reserved12", UCHAR, 2),
    F("SharedDataFlags", ULONG, bits=SHARED_DATA_FLAGS_BITS),
    F("DataFlagsPad", ULONG, 1),
    F("TestRetInstruction", ULONGLONG),       # 0xC3
    F("QpcFrequency", LONGLONG),
    F("SystemCall", ULONG),                   # x86 ntdll stubs: nonzero = int 2e instead of sysenter/syscall
    F("Reserved2", ULONG),
    F("SystemCallPad", ULONGLONG, 2),
    F(None, Union("", [
        F("TickCount", KSYSTEM_TIME),
        F("TickCountQuad", ULONGLONG),
        F(None, Struct("", [F("ReservedTickCountOverlay", ULONG, 3), F("TickCountPad", ULONG, 1)])),
    ])),
    F("Cookie", ULONG),                       # pointer-encoding secret (RtlEncodePointer)
    F("CookiePad", ULONG, 1),
    F("ConsoleSessionForegroundProcessId", LONGLONG),
    F("TimeUpdateLock", ULONGLONG),
    F("BaselineSystemTimeQpc", ULONGLONG),
    F("BaselineInterruptTimeQpc", ULONGLONG),
    F("QpcSystemTimeIncrement", ULONGLONG),
    F("QpcInterruptTimeIncrement", ULONGLONG),
    F("QpcSystemTimeIncrementShift", UCHAR),
    F("QpcInterruptTimeIncrementShift", UCHAR),
    F("UnparkedProcessorCount", USHORT),
    F("EnclaveFeatureMask", ULONG, 4),
    F("TelemetryCoverageRound", ULONG),
    F("UserModeGlobalLogger", USHORT, 16),
    F("ImageFileExecutionOptions", ULONG),
    F("LangGenerationCount", ULONG),
    F("Reserved4", ULONGLONG),
    F("InterruptTimeBias", ULONGLONG),
    F("QpcBias", ULONGLONG),
    F("ActiveProcessorCount", ULONG),
    F("ActiveGroupCount", UCHAR),
    F("Reserved9", UCHAR),
    F(None, Union("", [
        F("QpcData", USHORT),
        F(None, Struct("", [F("QpcBypassEnabled", UCHAR), F("QpcShift", UCHAR)])),
    ])),
    F("TimeZoneBiasEffectiveStart", LARGE_INTEGER),
    F("TimeZoneBiasEffectiveEnd", LARGE_INTEGER),
    F("XState", XSTATE_CONFIGURATION),
], doc="KUSER_SHARED_DATA, Windows 10 19041+ (declared prefix; see module docstring).")

# ---- processor features (PF_*, winnt.h) ---------------------------------------------------------------------
PF_FLOATING_POINT_PRECISION_ERRATA = 0
PF_FLOATING_POINT_EMULATED = 1
PF_COMPARE_EXCHANGE_DOUBLE = 2
PF_MMX_INSTRUCTIONS_AVAILABLE = 3
PF_XMMI_INSTRUCTIONS_AVAILABLE = 6
PF_3DNOW_INSTRUCTIONS_AVAILABLE = 7
PF_RDTSC_INSTRUCTION_AVAILABLE = 8
PF_PAE_ENABLED = 9
PF_XMMI64_INSTRUCTIONS_AVAILABLE = 10
PF_NX_ENABLED = 12
PF_SSE3_INSTRUCTIONS_AVAILABLE = 13
PF_COMPARE_EXCHANGE128 = 14
PF_COMPARE64_EXCHANGE128 = 15
PF_CHANNELS_ENABLED = 16
PF_XSAVE_ENABLED = 17
PF_SECOND_LEVEL_ADDRESS_TRANSLATION = 20
PF_VIRT_FIRMWARE_ENABLED = 21
PF_RDWRFSGSBASE_AVAILABLE = 22
PF_FASTFAIL_AVAILABLE = 23
PF_RDRAND_INSTRUCTION_AVAILABLE = 28
PF_RDTSCP_INSTRUCTION_AVAILABLE = 32
PF_SSSE3_INSTRUCTIONS_AVAILABLE = 36
PF_SSE4_1_INSTRUCTIONS_AVAILABLE = 37
PF_SSE4_2_INSTRUCTIONS_AVAILABLE = 38
PF_AVX_INSTRUCTIONS_AVAILABLE = 39
PF_AVX2_INSTRUCTIONS_AVAILABLE = 40
PF_AVX512F_INSTRUCTIONS_AVAILABLE = 41

# A conservative SSE-era x86-64 CPU without XSAVE/AVX (what a software CPU can honestly promise).
DEFAULT_PROCESSOR_FEATURES: dict[int, int] = {
    PF_COMPARE_EXCHANGE_DOUBLE: 1, PF_MMX_INSTRUCTIONS_AVAILABLE: 1, PF_XMMI_INSTRUCTIONS_AVAILABLE: 1,
    PF_RDTSC_INSTRUCTION_AVAILABLE: 1, PF_PAE_ENABLED: 1, PF_XMMI64_INSTRUCTIONS_AVAILABLE: 1,
    PF_NX_ENABLED: 1, PF_SSE3_INSTRUCTIONS_AVAILABLE: 1, PF_COMPARE_EXCHANGE128: 1,
    PF_FASTFAIL_AVAILABLE: 1,
}

IMAGE_FILE_MACHINE_I386 = 0x014C
IMAGE_FILE_MACHINE_AMD64 = 0x8664
PROCESSOR_ARCHITECTURE_AMD64 = 9
NT_PRODUCT_WIN_NT = 1
VER_SUITE_TERMINAL = 0x0010
VER_SUITE_SINGLEUSERTS = 0x0100

# The clock interrupt period: 15.625 ms, in 100 ns units.
DEFAULT_TIME_INCREMENT_100NS = 156_250


def ksystem_time(value: int) -> dict:
    """A 64-bit value as a KSYSTEM_TIME dict (High1Time == High2Time: a consistent snapshot)."""
    value &= (1 << 64) - 1
    high = value >> 32
    if high >= 1 << 31:
        high -= 1 << 32
    return {"LowPart": value & 0xFFFFFFFF, "High1Time": high, "High2Time": high}


def tick_count_multiplier(time_increment_100ns: int = DEFAULT_TIME_INCREMENT_100NS) -> int:
    """TickCountMultiplier: milliseconds per clock tick as a 8.24 fixed-point number."""
    return (time_increment_100ns << 24) // 10_000


def ticks_from_ms(tick_count_ms: int, time_increment_100ns: int = DEFAULT_TIME_INCREMENT_100NS) -> int:
    """Clock ticks elapsed after ``tick_count_ms``; GetTickCount() = ticks * TickCountMultiplier >> 24."""
    return tick_count_ms * 10_000 // time_increment_100ns


def build_kuser_shared_data(*, system_time_100ns: int, interrupt_time_100ns: int, tick_count_ms: int,
                            nt_build: int = 19045, major: int = 10, minor: int = 0,
                            processor_features: dict[int, int] | None = None, cookie: int,
                            nt_system_root: str = "C:\\Windows", number_of_physical_pages: int,
                            active_processor_count: int = 4, time_zone_bias_100ns: int = 0,
                            time_zone_id: int = 0, suite_mask: int = VER_SUITE_TERMINAL | VER_SUITE_SINGLEUSERTS,
                            product_type: int = NT_PRODUCT_WIN_NT, qpc_frequency: int = 10_000_000,
                            time_increment_100ns: int = DEFAULT_TIME_INCREMENT_100NS,
                            boot_id: int = 1, kd_debugger_enabled: bool = False,
                            system_call: int = 0, nx_support_policy: int = 2) -> bytes:
    """The 4096-byte KUSER_SHARED_DATA page of a Windows 10 x64 machine.

    ``processor_features`` maps PF_* indices to 0/1 (default: DEFAULT_PROCESSOR_FEATURES).  QpcBypassEnabled
    stays 0 so QueryPerformanceCounter asks the kernel (NtQueryPerformanceCounter) rather than reading RDTSC.
    ``system_call`` 0 makes 32-bit ntdll stubs use the fast system call, nonzero ``int 2e``.
    """
    if len(nt_system_root) >= 260:
        raise ValueError("nt_system_root too long")
    features = [0] * 64
    for idx, val in (DEFAULT_PROCESSOR_FEATURES if processor_features is None else processor_features).items():
        features[idx] = int(val)
    body = KUSER_SHARED_DATA.pack(
        "x64",
        TickCountLowDeprecated=ticks_from_ms(tick_count_ms, time_increment_100ns) & 0xFFFFFFFF,
        TickCountMultiplier=tick_count_multiplier(time_increment_100ns),
        InterruptTime=ksystem_time(interrupt_time_100ns),
        SystemTime=ksystem_time(system_time_100ns),
        TimeZoneBias=ksystem_time(time_zone_bias_100ns),
        ImageNumberLow=IMAGE_FILE_MACHINE_I386,
        ImageNumberHigh=IMAGE_FILE_MACHINE_AMD64,
        NtSystemRoot=nt_system_root,
        TimeZoneId=time_zone_id,
        LargePageMinimum=0x200000,
        NtBuildNumber=nt_build,
        NtProductType=product_type,
        ProductTypeIsValid=1,
        NativeProcessorArchitecture=PROCESSOR_ARCHITECTURE_AMD64,
        NtMajorVersion=major,
        NtMinorVersion=minor,
        ProcessorFeatures=features,
        BootId=boot_id,
        SuiteMask=suite_mask,
        KdDebuggerEnabled=int(kd_debugger_enabled),
        NXSupportPolicy=nx_support_policy,
        ActiveConsoleId=1,
        LastSystemRITEventTickCount=tick_count_ms & 0xFFFFFFFF,
        NumberOfPhysicalPages=number_of_physical_pages,
        TestRetInstruction=0xC3,
        QpcFrequency=qpc_frequency,
        SystemCall=system_call,
        TickCount=ksystem_time(ticks_from_ms(tick_count_ms, time_increment_100ns)),
        Cookie=cookie & 0xFFFFFFFF,
        UnparkedProcessorCount=active_processor_count,
        ActiveProcessorCount=active_processor_count,
        ActiveGroupCount=1,
    )
    return body + bytes(KUSER_SHARED_DATA_PAGE - len(body))


def _put_ksystem_time(buf: bytearray, off: int, value: int) -> None:
    # Same order as the kernel: High2Time, then LowPart, then High1Time, so a concurrent reader that sees
    # High1Time == High2Time has a consistent value.
    t = ksystem_time(value)
    buf[off + 8:off + 12] = LONG.to_bytes("x64", t["High2Time"])
    buf[off:off + 4] = ULONG.to_bytes("x64", t["LowPart"])
    buf[off + 4:off + 8] = LONG.to_bytes("x64", t["High1Time"])


def update_kuser_times(buf: bytearray, *, system_time_100ns: int | None = None,
                       interrupt_time_100ns: int | None = None, tick_count_ms: int | None = None,
                       time_increment_100ns: int = DEFAULT_TIME_INCREMENT_100NS,
                       time_zone_bias_100ns: int | None = None, time_zone_id: int | None = None) -> None:
    """Advance the clock fields of a KUSER_SHARED_DATA page in place (any of them may be left out)."""
    k = KUSER_SHARED_DATA
    if time_zone_bias_100ns is not None:
        _put_ksystem_time(buf, k.offset("x64", "TimeZoneBias"), time_zone_bias_100ns)
    if time_zone_id is not None:
        o = k.offset("x64", "TimeZoneId")
        buf[o:o + 4] = ULONG.to_bytes("x64", time_zone_id)
    if interrupt_time_100ns is not None:
        _put_ksystem_time(buf, k.offset("x64", "InterruptTime"), interrupt_time_100ns)
    if system_time_100ns is not None:
        _put_ksystem_time(buf, k.offset("x64", "SystemTime"), system_time_100ns)
    if tick_count_ms is not None:
        ticks = ticks_from_ms(tick_count_ms, time_increment_100ns)
        _put_ksystem_time(buf, k.offset("x64", "TickCount"), ticks)
        o = k.offset("x64", "TickCountLowDeprecated")
        buf[o:o + 4] = ULONG.to_bytes("x64", ticks & 0xFFFFFFFF)


def kuser_tick_count_ms(buf: bytes) -> int:
    """What GetTickCount64 computes from the page: TickCountQuad * TickCountMultiplier >> 24."""
    k = KUSER_SHARED_DATA
    vals = k.unpack("x64", bytes(buf[:k.size("x64")]))
    return (vals["TickCountQuad"] * vals["TickCountMultiplier"]) >> 24


__all__ = ["KUSER_SHARED_DATA", "KUSER_SHARED_DATA_ADDRESS", "KUSER_SHARED_DATA_PAGE", "XSTATE_FEATURE",
           "XSTATE_CONFIGURATION", "DEFAULT_PROCESSOR_FEATURES", "build_kuser_shared_data", "update_kuser_times",
           "ksystem_time", "tick_count_multiplier", "ticks_from_ms", "kuser_tick_count_ms"] + \
    [n for n in dir() if n.startswith("PF_")]
