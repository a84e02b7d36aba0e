"""The process-birth structures of Windows 10 (20H1..22H2, builds 19041-19045): TEB, PEB, loader data, process
parameters.  The x86 layouts are the 32-bit TEB/PEB a WoW64 program sees on 64-bit Windows 10.

Members are named as in Microsoft's public symbols (ntdll.pdb / the "_TEB", "_PEB" types), so offsets can be
checked against any published dump of those types.  Members that exist on one architecture only carry
``arch=``; arrays whose length differs per architecture carry a per-arch count.
"""
from __future__ import annotations

from ._layout import (CHAR, HANDLE, LONG, PVOID, SIZE_T, UCHAR, ULONG, ULONG_PTR, ULONGLONG, USHORT, WCHAR, F,
                      Struct, Union)
from .basic import (CLIENT_ID, GUID, LARGE_INTEGER, LIST_ENTRY, NT_TIB, PROCESSOR_NUMBER, RTL_BALANCED_NODE,
                    STRING, ULARGE_INTEGER, UNICODE_STRING)

X64 = "x64"

# ---------------------------------------------------------------------------------------------- critical section
RTL_CRITICAL_SECTION_DEBUG = Struct("RTL_CRITICAL_SECTION_DEBUG", [
    F("Type", USHORT),
    F("CreatorBackTraceIndex", USHORT),
    F("CriticalSection", PVOID),
    F("ProcessLocksList", LIST_ENTRY),
    F("EntryCount", ULONG),
    F("ContentionCount", ULONG),
    F("Flags", ULONG),
    F("CreatorBackTraceIndexHigh", USHORT),
    F("Identifier", USHORT),        # SpareUSHORT in older headers
])

RTL_CRITICAL_SECTION = Struct("RTL_CRITICAL_SECTION", [
    F("DebugInfo", PVOID),
    F("LockCount", LONG),           # -1 = free
    F("RecursionCount", LONG),
    F("OwningThread", HANDLE),      # thread id, stored as a handle-sized value
    F("LockSemaphore", HANDLE),
    F("SpinCount", ULONG_PTR),
])

# ---------------------------------------------------------------------------------------------- TEB
ACTIVATION_CONTEXT_STACK = Struct("ACTIVATION_CONTEXT_STACK", [
    F("ActiveFrame", PVOID),
    F("FrameListCache", LIST_ENTRY),
    F("Flags", ULONG),
    F("NextCookieSequenceNumber", ULONG),
    F("StackId", ULONG),
])

GDI_TEB_BATCH = Struct("GDI_TEB_BATCH", [
    F("Offset", ULONG, bits=[("OffsetValue", 31), ("HasRenderingCommand", 1)]),
    F("HDC", ULONG_PTR),
    F("Buffer", ULONG, 310),
])

TEB_SAME_TEB_BITS = [
    ("SafeThunkCall", 1), ("InDebugPrint", 1), ("HasFiberData", 1), ("SkipThreadAttach", 1),
    ("WerInShipAssertCode", 1), ("RanProcessInit", 1), ("ClonedThread", 1), ("SuppressDebugMsg", 1),
    ("DisableUserStackWalk", 1), ("RtlExceptionAttached", 1), ("InitialThread", 1), ("SessionAware", 1),
    ("LoadOwner", 1), ("LoaderWorker", 1), ("SkipLoaderInit", 1), ("SpareSameTebBits", 1),
]

TEB = Struct("TEB", [
    F("NtTib", NT_TIB),
    F("EnvironmentPointer", PVOID),
    F("ClientId", CLIENT_ID),
    F("ActiveRpcHandle", PVOID),
    F("ThreadLocalStoragePointer", PVOID),       # -> array of per-module static TLS blocks
    F("ProcessEnvironmentBlock", PVOID),
    F("LastErrorValue", ULONG),
    F("CountOfOwnedCriticalSections", ULONG),
    F("CsrClientThread", PVOID),
    F("Win32ThreadInfo", PVOID),
    F("User32Reserved", ULONG, 26),
    F("UserReserved", ULONG, 5),
    F("WOW32Reserved", PVOID),
    F("CurrentLocale", ULONG),
    F("FpSoftwareStatusRegister", ULONG),
    F("ReservedForDebuggerInstrumentation", PVOID, 16),
    F("SystemReserved1", PVOID, {"x86": 26, "x64": 30}),
    F("PlaceholderCompatibilityMode", CHAR),
    F("PlaceholderHydrationAlwaysExplicit", UCHAR),
    F("PlaceholderReserved", CHAR, 10),
    F("ProxiedProcessId", ULONG),
    F("_ActivationStack", ACTIVATION_CONTEXT_STACK),
    F("WorkingOnBehalfTicket", UCHAR, 8),
    F("ExceptionCode", LONG),
    F("Padding0", UCHAR, 4, arch=X64),
    F("ActivationContextStackPointer", PVOID),
    F("InstrumentationCallbackSp", ULONG_PTR),
    F("InstrumentationCallbackPreviousPc", ULONG_PTR),
    F("InstrumentationCallbackPreviousSp", ULONG_PTR),
    F("TxFsContext", ULONG, arch=X64),           # x64 places TxFsContext before the flag byte
    F("InstrumentationCallbackDisabled", UCHAR),
    F("UnalignedLoadStoreExceptions", UCHAR, arch=X64),
    F("Padding1", UCHAR, 2, arch=X64),
    F("SpareBytes", UCHAR, 23, arch="x86"),
    F("TxFsContext", ULONG, arch="x86"),
    F("GdiTebBatch", GDI_TEB_BATCH),
    F("RealClientId", CLIENT_ID),
    F("GdiCachedProcessHandle", PVOID),
    F("GdiClientPID", ULONG),
    F("GdiClientTID", ULONG),
    F("GdiThreadLocalInfo", PVOID),
    F("Win32ClientInfo", ULONG_PTR, 62),
    F("glDispatchTable", PVOID, 233),
    F("glReserved1", ULONG_PTR, 29),
    F("glReserved2", PVOID),
    F("glSectionInfo", PVOID),
    F("glSection", PVOID),
    F("glTable", PVOID),
    F("glCurrentRC", PVOID),
    F("glContext", PVOID),
    F("LastStatusValue", ULONG),
    F("Padding2", UCHAR, 4, arch=X64),
    F("StaticUnicodeString", UNICODE_STRING),    # Buffer -> StaticUnicodeBuffer, MaximumLength 0x20A
    F("StaticUnicodeBuffer", WCHAR, 261),
    F("Padding3", UCHAR, 6, arch=X64),
    F("DeallocationStack", PVOID),               # reservation base of the thread's stack
    F("TlsSlots", PVOID, 64),
    F("TlsLinks", LIST_ENTRY),
    F("Vdm", PVOID),
    F("ReservedForNtRpc", PVOID),
    F("DbgSsReserved", PVOID, 2),
    F("HardErrorMode", ULONG),
    F("Padding4", UCHAR, 4, arch=X64),
    F("Instrumentation", PVOID, {"x86": 9, "x64": 11}),
    F("ActivityId", GUID),
    F("SubProcessTag", PVOID),
    F("PerflibData", PVOID),
    F("EtwTraceData", PVOID),
    F("WinSockData", PVOID),
    F("GdiBatchCount", ULONG),
    F(None, Union("", [
        F("CurrentIdealProcessor", PROCESSOR_NUMBER),
        F("IdealProcessorValue", ULONG),
        F(None, Struct("", [F("ReservedPad0", UCHAR), F("ReservedPad1", UCHAR), F("ReservedPad2", UCHAR),
                            F("IdealProcessor", UCHAR)])),
    ])),
    F("GuaranteedStackBytes", ULONG),
    F("Padding5", UCHAR, 4, arch=X64),
    F("ReservedForPerf", PVOID),
    F("ReservedForOle", PVOID),
    F("WaitingOnLoaderLock", ULONG),
    F("Padding6", UCHAR, 4, arch=X64),
    F("SavedPriorityState", PVOID),
    F("ReservedForCodeCoverage", ULONG_PTR),
    F("ThreadPoolData", PVOID),
    F("TlsExpansionSlots", PVOID),               # -> 1024 more TLS slots, allocated on demand
    F("DeallocationBStore", PVOID, arch=X64),
    F("BStoreLimit", PVOID, arch=X64),
    F("MuiGeneration", ULONG),
    F("IsImpersonating", ULONG),
    F("NlsCache", PVOID),
    F("pShimData", PVOID),
    F("HeapData", ULONG),
    F("Padding7", UCHAR, 4, arch=X64),
    F("CurrentTransactionHandle", PVOID),
    F("ActiveFrame", PVOID),
    F("FlsData", PVOID),
    F("PreferredLanguages", PVOID),
    F("UserPrefLanguages", PVOID),
    F("MergedPrefLanguages", PVOID),
    F("MuiImpersonation", ULONG),
    F("CrossTebFlags", USHORT, bits=[("SpareCrossTebBits", 16)]),
    F("SameTebFlags", USHORT, bits=TEB_SAME_TEB_BITS),
    F("TxnScopeEnterCallback", PVOID),
    F("TxnScopeExitCallback", PVOID),
    F("TxnScopeContext", PVOID),
    F("LockCount", ULONG),
    F("WowTebOffset", LONG),                     # 64-bit TEB of a WoW64 thread: +0x2000 to its 32-bit TEB
    F("ResourceRetValue", PVOID),
    F("ReservedForWdf", PVOID),
    F("ReservedForCrt", ULONGLONG),
    F("EffectiveContainerId", GUID),
], doc="Thread Environment Block (Windows 10 19041+): x64 size 0x1838, x86 (WoW64 32-bit TEB) 0x1000.")

# ---------------------------------------------------------------------------------------------- PEB
PEB_BITFIELD_BITS = [
    ("ImageUsesLargePages", 1), ("IsProtectedProcess", 1), ("IsImageDynamicallyRelocated", 1),
    ("SkipPatchingUser32Forwarders", 1), ("IsPackagedProcess", 1), ("IsAppContainer", 1),
    ("IsProtectedProcessLight", 1), ("IsLongPathAwareProcess", 1),
]
PEB_CROSS_PROCESS_BITS = [
    ("ProcessInJob", 1), ("ProcessInitializing", 1), ("ProcessUsingVEH", 1), ("ProcessUsingVCH", 1),
    ("ProcessUsingFTH", 1), ("ProcessPreviouslyThrottled", 1), ("ProcessCurrentlyThrottled", 1),
    ("ProcessImagesHotPatched", 1), ("ReservedBits0", 24),
]

PEB = Struct("PEB", [
    F("InheritedAddressSpace", UCHAR),
    F("ReadImageFileExecOptions", UCHAR),
    F("BeingDebugged", UCHAR),
    F("BitField", UCHAR, bits=PEB_BITFIELD_BITS),
    F("Padding0", UCHAR, 4, arch=X64),
    F("Mutant", PVOID),                          # -1
    F("ImageBaseAddress", PVOID),
    F("Ldr", PVOID),                             # -> PEB_LDR_DATA
    F("ProcessParameters", PVOID),               # -> RTL_USER_PROCESS_PARAMETERS
    F("SubSystemData", PVOID),
    F("ProcessHeap", PVOID),
    F("FastPebLock", PVOID),                     # -> RTL_CRITICAL_SECTION
    F("AtlThunkSListPtr", PVOID),
    F("IFEOKey", PVOID),
    F("CrossProcessFlags", ULONG, bits=PEB_CROSS_PROCESS_BITS),
    F("Padding1", UCHAR, 4, arch=X64),
    F(None, Union("", [F("KernelCallbackTable", PVOID), F("UserSharedInfoPtr", PVOID)])),
    F("SystemReserved", ULONG),
    F("AtlThunkSListPtr32", ULONG),
    F("ApiSetMap", PVOID),
    F("TlsExpansionCounter", ULONG),
    F("Padding2", UCHAR, 4, arch=X64),
    F("TlsBitmap", PVOID),                       # -> RTL_BITMAP over TlsBitmapBits
    F("TlsBitmapBits", ULONG, 2),
    F("ReadOnlySharedMemoryBase", PVOID),
    F("SharedData", PVOID),                      # HotpatchInformation before Windows 10
    F("ReadOnlyStaticServerData", PVOID),
    F("AnsiCodePageData", PVOID),
    F("OemCodePageData", PVOID),
    F("UnicodeCaseTableData", PVOID),
    F("NumberOfProcessors", ULONG),
    F("NtGlobalFlag", ULONG),
    F("CriticalSectionTimeout", LARGE_INTEGER),
    F("HeapSegmentReserve", SIZE_T),
    F("HeapSegmentCommit", SIZE_T),
    F("HeapDeCommitTotalFreeThreshold", SIZE_T),
    F("HeapDeCommitFreeBlockThreshold", SIZE_T),
    F("NumberOfHeaps", ULONG),
    F("MaximumNumberOfHeaps", ULONG),
    F("ProcessHeaps", PVOID),
    F("GdiSharedHandleTable", PVOID),
    F("ProcessStarterHelper", PVOID),
    F("GdiDCAttributeList", ULONG),
    F("Padding3", UCHAR, 4, arch=X64),
    F("LoaderLock", PVOID),                      # -> RTL_CRITICAL_SECTION
    F("OSMajorVersion", ULONG),
    F("OSMinorVersion", ULONG),
    F("OSBuildNumber", USHORT),
    F("OSCSDVersion", USHORT),
    F("OSPlatformId", ULONG),
    F("ImageSubsystem", ULONG),
    F("ImageSubsystemMajorVersion", ULONG),
    F("ImageSubsystemMinorVersion", ULONG),
    F("Padding4", UCHAR, 4, arch=X64),
    F("ActiveProcessAffinityMask", ULONG_PTR),
    F("GdiHandleBuffer", ULONG, {"x86": 34, "x64": 60}),
    F("PostProcessInitRoutine", PVOID),
    F("TlsExpansionBitmap", PVOID),
    F("TlsExpansionBitmapBits", ULONG, 32),
    F("SessionId", ULONG),
    F("Padding5", UCHAR, 4, arch=X64),
    F("AppCompatFlags", ULARGE_INTEGER),
    F("AppCompatFlagsUser", ULARGE_INTEGER),
    F("pShimData", PVOID),
    F("AppCompatInfo", PVOID),
    F("CSDVersion", UNICODE_STRING),
    F("ActivationContextData", PVOID),
    F("ProcessAssemblyStorageMap", PVOID),
    F("SystemDefaultActivationContextData", PVOID),
    F("SystemAssemblyStorageMap", PVOID),
    F("MinimumStackCommit", SIZE_T),
    # Windows 10 1903 moved the FLS bookkeeping (FlsCallback, FlsListHead, FlsBitmap, FlsBitmapBits, FlsHighIndex)
    # out of the PEB; its space became the members below (same total size).
    F("SparePointers", PVOID, 2),
    F("PatchLoaderData", PVOID),
    F("ChpeV2ProcessInfo", PVOID),
    F("AppModelFeatureState", ULONG),
    F("SpareUlongs", ULONG, 2),
    F("ActiveCodePage", USHORT),
    F("OemCodePage", USHORT),
    F("UseCaseMapping", USHORT),
    F("UnusedNlsField", USHORT),
    F("WerRegistrationData", PVOID),
    F("WerShipAssertPtr", PVOID),
    F("pContextData", PVOID),                    # pUnused in some builds
    F("pImageHeaderHash", PVOID),
    F("TracingFlags", ULONG, bits=[("HeapTracingEnabled", 1), ("CritSecTracingEnabled", 1),
                                   ("LibLoaderTracingEnabled", 1), ("SpareTracingBits", 29)]),
    F("Padding6", UCHAR, 4, arch=X64),
    F("CsrServerReadOnlySharedMemoryBase", ULONGLONG),
    F("TppWorkerpListLock", ULONG_PTR),
    F("TppWorkerpList", LIST_ENTRY),
    F("WaitOnAddressHashTable", PVOID, 128),
    F("TelemetryCoverageHeader", PVOID),
    F("CloudFileFlags", ULONG),
    F("CloudFileDiagFlags", ULONG),
    F("PlaceholderCompatibilityMode", CHAR),
    F("PlaceholderCompatibilityModeReserved", CHAR, 7),
    F("LeapSecondData", PVOID),
    F("LeapSecondFlags", ULONG, bits=[("SixtySecondEnabled", 1), ("Reserved", 31)]),
    F("NtGlobalFlag2", ULONG),
], doc="Process Environment Block (Windows 10 19041+): x64 size 0x7C8, x86 (WoW64 32-bit PEB) 0x480.")

# ---------------------------------------------------------------------------------------------- loader
PEB_LDR_DATA = Struct("PEB_LDR_DATA", [
    F("Length", ULONG),                          # sizeof(PEB_LDR_DATA)
    F("Initialized", UCHAR),
    F("SsHandle", PVOID),
    F("InLoadOrderModuleList", LIST_ENTRY),
    F("InMemoryOrderModuleList", LIST_ENTRY),
    F("InInitializationOrderModuleList", LIST_ENTRY),
    F("EntryInProgress", PVOID),
    F("ShutdownInProgress", UCHAR),
    F("ShutdownThreadId", HANDLE),
])

LDR_FLAGS_BITS = [
    ("PackagedBinary", 1), ("MarkedForRemoval", 1), ("ImageDll", 1), ("LoadNotificationsSent", 1),
    ("TelemetryEntryProcessed", 1), ("ProcessStaticImport", 1), ("InLegacyLists", 1), ("InIndexes", 1),
    ("ShimDll", 1), ("InExceptionTable", 1), ("ReservedFlags1", 2), ("LoadInProgress", 1),
    ("LoadConfigProcessed", 1), ("EntryProcessed", 1), ("ProtectDelayLoad", 1), ("ReservedFlags3", 2),
    ("DontCallForThreads", 1), ("ProcessAttachCalled", 1), ("ProcessAttachFailed", 1),
    ("CorDeferredValidate", 1), ("CorImage", 1), ("DontRelocate", 1), ("CorILOnly", 1), ("ChpeImage", 1),
    ("ReservedFlags5", 2), ("Redirected", 1), ("ReservedFlags6", 2), ("CompatDatabaseProcessed", 1),
]

LDR_DATA_TABLE_ENTRY = Struct("LDR_DATA_TABLE_ENTRY", [
    F("InLoadOrderLinks", LIST_ENTRY),
    F("InMemoryOrderLinks", LIST_ENTRY),
    F("InInitializationOrderLinks", LIST_ENTRY),  # InProgressLinks shares this slot
    F("DllBase", PVOID),
    F("EntryPoint", PVOID),
    F("SizeOfImage", ULONG),
    F("FullDllName", UNICODE_STRING),
    F("BaseDllName", UNICODE_STRING),
    F(None, Union("", [F("FlagGroup", UCHAR, 4), F("Flags", ULONG, bits=LDR_FLAGS_BITS)])),
    F("ObsoleteLoadCount", USHORT),              # LoadCount before Windows 8
    F("TlsIndex", USHORT),
    F("HashLinks", LIST_ENTRY),
    F("TimeDateStamp", ULONG),
    F("EntryPointActivationContext", PVOID),
    F("Lock", PVOID),
    F("DdagNode", PVOID),
    F("NodeModuleLink", LIST_ENTRY),
    F("LoadContext", PVOID),
    F("ParentDllBase", PVOID),
    F("SwitchBackContext", PVOID),
    F("BaseAddressIndexNode", RTL_BALANCED_NODE),
    F("MappingInfoIndexNode", RTL_BALANCED_NODE),
    F("OriginalBase", ULONG_PTR),
    F("LoadTime", LARGE_INTEGER),
    F("BaseNameHashValue", ULONG),
    F("LoadReason", ULONG),                      # LDR_DLL_LOAD_REASON
    F("ImplicitPathOptions", ULONG),
    F("ReferenceCount", ULONG),
    F("DependentLoadFlags", ULONG),
    F("SigningLevel", UCHAR),
], doc="Loader module entry (Windows 10 1607+ layout): x64 size 0x120, x86 0xA8.")

# ---------------------------------------------------------------------------------------------- parameters
CURDIR = Struct("CURDIR", [F("DosPath", UNICODE_STRING), F("Handle", HANDLE)])

RTL_DRIVE_LETTER_CURDIR = Struct("RTL_DRIVE_LETTER_CURDIR", [
    F("Flags", USHORT), F("Length", USHORT), F("TimeStamp", ULONG), F("DosPath", STRING),
])

RTL_USER_PROCESS_PARAMETERS = Struct("RTL_USER_PROCESS_PARAMETERS", [
    F("MaximumLength", ULONG),
    F("Length", ULONG),
    F("Flags", ULONG),                           # 1 = RTL_USER_PROC_PARAMS_NORMALIZED (pointers, not offsets)
    F("DebugFlags", ULONG),
    F("ConsoleHandle", HANDLE),
    F("ConsoleFlags", ULONG),
    F("StandardInput", HANDLE),
    F("StandardOutput", HANDLE),
    F("StandardError", HANDLE),
    F("CurrentDirectory", CURDIR),
    F("DllPath", UNICODE_STRING),
    F("ImagePathName", UNICODE_STRING),
    F("CommandLine", UNICODE_STRING),
    F("Environment", PVOID),
    F("StartingX", ULONG),
    F("StartingY", ULONG),
    F("CountX", ULONG),
    F("CountY", ULONG),
    F("CountCharsX", ULONG),
    F("CountCharsY", ULONG),
    F("FillAttribute", ULONG),
    F("WindowFlags", ULONG),
    F("ShowWindowFlags", ULONG),
    F("WindowTitle", UNICODE_STRING),
    F("DesktopInfo", UNICODE_STRING),
    F("ShellInfo", UNICODE_STRING),
    F("RuntimeData", UNICODE_STRING),
    F("CurrentDirectores", RTL_DRIVE_LETTER_CURDIR, 32),   # sic: the public symbol's spelling
    F("EnvironmentSize", ULONG_PTR),
    F("EnvironmentVersion", ULONG_PTR),
    F("PackageDependencyData", PVOID),
    F("ProcessGroupId", ULONG),
    F("LoaderThreads", ULONG),
    F("RedirectionDllName", UNICODE_STRING),
    F("HeapPartitionName", UNICODE_STRING),
    F("DefaultThreadpoolCpuSetMasks", PVOID),
    F("DefaultThreadpoolCpuSetMaskCount", ULONG),
    F("DefaultThreadpoolThreadMaximum", ULONG),
], doc="Process parameters (Windows 10 19041+): x64 size 0x440, x86 0x2C0.")

__all__ = ["RTL_CRITICAL_SECTION_DEBUG", "RTL_CRITICAL_SECTION", "ACTIVATION_CONTEXT_STACK", "GDI_TEB_BATCH", "TEB",
           "PEB", "PEB_LDR_DATA", "LDR_DATA_TABLE_ENTRY", "CURDIR", "RTL_DRIVE_LETTER_CURDIR",
           "RTL_USER_PROCESS_PARAMETERS"]
