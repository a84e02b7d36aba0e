"""Small building-block structures shared by the NT and Win32 declarations."""
from __future__ import annotations

from ._layout import (BOOLEAN, CHAR, HANDLE, LONG, LONGLONG, PVOID, UCHAR, ULONG, ULONG_PTR, ULONGLONG, USHORT,
                      WCHAR, F, Struct, Union)

LIST_ENTRY = Struct("LIST_ENTRY", [F("Flink", PVOID), F("Blink", PVOID)])
SINGLE_LIST_ENTRY = Struct("SINGLE_LIST_ENTRY", [F("Next", PVOID)])

UNICODE_STRING = Struct("UNICODE_STRING", [
    F("Length", USHORT),          # bytes, without the terminating NUL
    F("MaximumLength", USHORT),
    F("Buffer", PVOID),
])
STRING = Struct("STRING", [F("Length", USHORT), F("MaximumLength", USHORT), F("Buffer", PVOID)])
ANSI_STRING = STRING

LARGE_INTEGER = Union("LARGE_INTEGER", [
    F(None, Struct("", [F("LowPart", ULONG), F("HighPart", LONG)])),
    F("QuadPart", LONGLONG),
], scalar="QuadPart")
ULARGE_INTEGER = Union("ULARGE_INTEGER", [
    F(None, Struct("", [F("LowPart", ULONG), F("HighPart", ULONG)])),
    F("QuadPart", ULONGLONG),
], scalar="QuadPart")

GUID = Struct("GUID", [F("Data1", ULONG), F("Data2", USHORT), F("Data3", USHORT), F("Data4", UCHAR, 8)])

CLIENT_ID = Struct("CLIENT_ID", [F("UniqueProcess", HANDLE), F("UniqueThread", HANDLE)])

# NT_TIB: the first member of the TEB; fs:[0] / gs:[0] points at it (Self = the TEB's own address).
NT_TIB = Struct("NT_TIB", [
    F("ExceptionList", PVOID),     # x86: head of the SEH chain (0xFFFFFFFF = end)
    F("StackBase", PVOID),
    F("StackLimit", PVOID),
    F("SubSystemTib", PVOID),
    F(None, Union("", [F("FiberData", PVOID), F("Version", ULONG)])),
    F("ArbitraryUserPointer", PVOID),
    F("Self", PVOID),
])

EXCEPTION_REGISTRATION_RECORD = Struct("EXCEPTION_REGISTRATION_RECORD", [F("Next", PVOID), F("Handler", PVOID)])

FILETIME = Struct("FILETIME", [F("dwLowDateTime", ULONG), F("dwHighDateTime", ULONG)])
SYSTEMTIME = Struct("SYSTEMTIME", [
    F("wYear", USHORT), F("wMonth", USHORT), F("wDayOfWeek", USHORT), F("wDay", USHORT),
    F("wHour", USHORT), F("wMinute", USHORT), F("wSecond", USHORT), F("wMilliseconds", USHORT),
])

# A 64-bit time updated without locks: writer stores High2Time, LowPart, High1Time; readers retry until
# High1Time == High2Time.
KSYSTEM_TIME = Struct("KSYSTEM_TIME", [F("LowPart", ULONG), F("High1Time", LONG), F("High2Time", LONG)])

PROCESSOR_NUMBER = Struct("PROCESSOR_NUMBER", [F("Group", USHORT), F("Number", UCHAR), F("Reserved", UCHAR)])

# The name and attributes a system service opens or creates an object by (ntdef.h)
OBJECT_ATTRIBUTES = Struct("OBJECT_ATTRIBUTES", [
    F("Length", ULONG), F("RootDirectory", HANDLE), F("ObjectName", PVOID), F("Attributes", ULONG),
    F("SecurityDescriptor", PVOID), F("SecurityQualityOfService", PVOID),
])
# The status and information of a completed I/O request (Status overlays Pointer)
IO_STATUS_BLOCK = Struct("IO_STATUS_BLOCK", [
    F(None, Union("", [F("Status", LONG), F("Pointer", PVOID)])),
    F("Information", ULONG_PTR),
])

RTL_BITMAP = Struct("RTL_BITMAP", [F("SizeOfBitMap", ULONG), F("Buffer", PVOID)])

RTL_BALANCED_NODE = Struct("RTL_BALANCED_NODE", [
    F(None, Union("", [
        F("Children", PVOID, 2),
        F(None, Struct("", [F("Left", PVOID), F("Right", PVOID)])),
    ])),
    F(None, Union("", [
        F("ParentValue", ULONG_PTR, bits=[("Red", 1)]),   # Red:1 / Balance:2 overlay the low bits
    ])),
])

RTL_RB_TREE = Struct("RTL_RB_TREE", [F("Root", PVOID), F("Min", PVOID)])

__all__ = ["LIST_ENTRY", "SINGLE_LIST_ENTRY", "UNICODE_STRING", "STRING", "ANSI_STRING", "LARGE_INTEGER",
           "ULARGE_INTEGER", "GUID", "CLIENT_ID", "NT_TIB", "EXCEPTION_REGISTRATION_RECORD", "FILETIME",
           "SYSTEMTIME", "KSYSTEM_TIME", "PROCESSOR_NUMBER", "RTL_BITMAP", "RTL_BALANCED_NODE",
           "OBJECT_ATTRIBUTES", "IO_STATUS_BLOCK", "RTL_RB_TREE"]
