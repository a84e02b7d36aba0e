"""The records NtQuerySystemInformation returns (winhatch.kernel.ex.sysinfo builds them), for x64 callers and
WoW64 (x86) callers, whose WoW64 layer hands back the 32-bit layout.

Member names are those of the documented native API headers; every offset mingw-w64's winternl.h can confirm
is probed in tests/fixtures/structs/structs_winternl.c (mingw hides some members behind Reserved arrays and
VM_COUNTERS/IO_COUNTERS: the probe maps those to the first member here that they cover)."""
from __future__ import annotations

from ._layout import BOOLEAN, HANDLE, LONG, LONGLONG, PVOID, SIZE_T, UCHAR, ULONG, ULONG_PTR, ULONGLONG, USHORT, \
    F, Struct
from .basic import CLIENT_ID, UNICODE_STRING

SYSTEM_BASIC_INFORMATION = Struct("SYSTEM_BASIC_INFORMATION", [
    F("Reserved", ULONG),
    F("TimerResolution", ULONG),
    F("PageSize", ULONG),
    F("NumberOfPhysicalPages", ULONG),
    F("LowestPhysicalPageNumber", ULONG),
    F("HighestPhysicalPageNumber", ULONG),
    F("AllocationGranularity", ULONG),
    F("MinimumUserModeAddress", ULONG_PTR),
    F("MaximumUserModeAddress", ULONG_PTR),
    F("ActiveProcessorsAffinityMask", ULONG_PTR),
    F("NumberOfProcessors", UCHAR),
])

SYSTEM_PROCESSOR_INFORMATION = Struct("SYSTEM_PROCESSOR_INFORMATION", [
    F("ProcessorArchitecture", USHORT),
    F("ProcessorLevel", USHORT),
    F("ProcessorRevision", USHORT),
    F("MaximumProcessors", USHORT),
    F("ProcessorFeatureBits", ULONG),
])

SYSTEM_TIMEOFDAY_INFORMATION = Struct("SYSTEM_TIMEOFDAY_INFORMATION", [
    F("BootTime", LONGLONG),
    F("CurrentTime", LONGLONG),
    F("TimeZoneBias", LONGLONG),
    F("TimeZoneId", ULONG),
    F("Reserved", ULONG),
    F("BootTimeBias", ULONGLONG),
    F("SleepTimeBias", ULONGLONG),
])

SYSTEM_PROCESSOR_PERFORMANCE_INFORMATION = Struct("SYSTEM_PROCESSOR_PERFORMANCE_INFORMATION", [
    F("IdleTime", LONGLONG),
    F("KernelTime", LONGLONG),     # idle time included, as on Windows
    F("UserTime", LONGLONG),
    F("DpcTime", LONGLONG),
    F("InterruptTime", LONGLONG),
    F("InterruptCount", ULONG),
])

SYSTEM_THREAD_INFORMATION = Struct("SYSTEM_THREAD_INFORMATION", [
    F("KernelTime", LONGLONG),
    F("UserTime", LONGLONG),
    F("CreateTime", LONGLONG),
    F("WaitTime", ULONG),
    F("StartAddress", PVOID),
    F("ClientId", CLIENT_ID),
    F("Priority", LONG),
    F("BasePriority", LONG),
    F("ContextSwitches", ULONG),
    F("ThreadState", ULONG),
    F("WaitReason", ULONG),
])

SYSTEM_EXTENDED_THREAD_INFORMATION = Struct("SYSTEM_EXTENDED_THREAD_INFORMATION", [
    F("ThreadInfo", SYSTEM_THREAD_INFORMATION),
    F("StackBase", PVOID),
    F("StackLimit", PVOID),
    F("Win32StartAddress", PVOID),
    F("TebBase", PVOID),
    F("Reserved2", ULONG_PTR),
    F("Reserved3", ULONG_PTR),
    F("Reserved4", ULONG_PTR),
])

SYSTEM_PROCESS_INFORMATION = Struct("SYSTEM_PROCESS_INFORMATION", [
    F("NextEntryOffset", ULONG),
    F("NumberOfThreads", ULONG),
    F("WorkingSetPrivateSize", LONGLONG),
    F("HardFaultCount", ULONG),
    F("NumberOfThreadsHighWatermark", ULONG),
    F("CycleTime", ULONGLONG),
    F("CreateTime", LONGLONG),
    F("UserTime", LONGLONG),
    F("KernelTime", LONGLONG),
    F("ImageName", UNICODE_STRING),
    F("BasePriority", LONG),
    F("UniqueProcessId", HANDLE),
    F("InheritedFromUniqueProcessId", HANDLE),
    F("HandleCount", ULONG),
    F("SessionId", ULONG),
    F("UniqueProcessKey", ULONG_PTR),
    F("PeakVirtualSize", SIZE_T),
    F("VirtualSize", SIZE_T),
    F("PageFaultCount", ULONG),
    F("PeakWorkingSetSize", SIZE_T),
    F("WorkingSetSize", SIZE_T),
    F("QuotaPeakPagedPoolUsage", SIZE_T),
    F("QuotaPagedPoolUsage", SIZE_T),
    F("QuotaPeakNonPagedPoolUsage", SIZE_T),
    F("QuotaNonPagedPoolUsage", SIZE_T),
    F("PagefileUsage", SIZE_T),
    F("PeakPagefileUsage", SIZE_T),
    F("PrivatePageCount", SIZE_T),
    F("ReadOperationCount", LONGLONG),
    F("WriteOperationCount", LONGLONG),
    F("OtherOperationCount", LONGLONG),
    F("ReadTransferCount", LONGLONG),
    F("WriteTransferCount", LONGLONG),
    F("OtherTransferCount", LONGLONG),
])

RTL_PROCESS_MODULE_INFORMATION = Struct("RTL_PROCESS_MODULE_INFORMATION", [
    F("Section", HANDLE),
    F("MappedBase", PVOID),
    F("ImageBase", PVOID),
    F("ImageSize", ULONG),
    F("Flags", ULONG),
    F("LoadOrderIndex", USHORT),
    F("InitOrderIndex", USHORT),
    F("LoadCount", USHORT),
    F("OffsetToFileName", USHORT),
    F("FullPathName", UCHAR, 256),
])

SYSTEM_HANDLE_TABLE_ENTRY_INFO = Struct("SYSTEM_HANDLE_TABLE_ENTRY_INFO", [
    F("UniqueProcessId", USHORT),
    F("CreatorBackTraceIndex", USHORT),
    F("ObjectTypeIndex", UCHAR),
    F("HandleAttributes", UCHAR),
    F("HandleValue", USHORT),
    F("Object", PVOID),
    F("GrantedAccess", ULONG),
])

SYSTEM_HANDLE_TABLE_ENTRY_INFO_EX = Struct("SYSTEM_HANDLE_TABLE_ENTRY_INFO_EX", [
    F("Object", PVOID),
    F("UniqueProcessId", ULONG_PTR),
    F("HandleValue", ULONG_PTR),
    F("GrantedAccess", ULONG),
    F("CreatorBackTraceIndex", USHORT),
    F("ObjectTypeIndex", USHORT),
    F("HandleAttributes", ULONG),
    F("Reserved", ULONG),
])

SYSTEM_KERNEL_DEBUGGER_INFORMATION = Struct("SYSTEM_KERNEL_DEBUGGER_INFORMATION", [
    F("KernelDebuggerEnabled", BOOLEAN),
    F("KernelDebuggerNotPresent", BOOLEAN),
])

__all__ = ["SYSTEM_BASIC_INFORMATION", "SYSTEM_PROCESSOR_INFORMATION", "SYSTEM_TIMEOFDAY_INFORMATION",
           "SYSTEM_PROCESSOR_PERFORMANCE_INFORMATION", "SYSTEM_THREAD_INFORMATION",
           "SYSTEM_EXTENDED_THREAD_INFORMATION", "SYSTEM_PROCESS_INFORMATION",
           "RTL_PROCESS_MODULE_INFORMATION", "SYSTEM_HANDLE_TABLE_ENTRY_INFO", "SYSTEM_HANDLE_TABLE_ENTRY_INFO_EX",
           "SYSTEM_KERNEL_DEBUGGER_INFORMATION"]
