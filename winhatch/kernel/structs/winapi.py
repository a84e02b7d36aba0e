"""Documented Win32 / winnt.h structures (SDK layouts), per architecture."""
from __future__ import annotations

from ._layout import (CHAR, HANDLE, LONGLONG, PVOID, SIZE_T, UCHAR, ULONG, ULONG_PTR, ULONGLONG, USHORT, WCHAR, F,
                      PerArch, Struct, Union)

EXCEPTION_MAXIMUM_PARAMETERS = 15

EXCEPTION_RECORD = Struct("EXCEPTION_RECORD", [
    F("ExceptionCode", ULONG),
    F("ExceptionFlags", ULONG),
    F("ExceptionRecord", PVOID),
    F("ExceptionAddress", PVOID),
    F("NumberParameters", ULONG),
    F("ExceptionInformation", ULONG_PTR, EXCEPTION_MAXIMUM_PARAMETERS),
])

EXCEPTION_POINTERS = Struct("EXCEPTION_POINTERS", [F("ExceptionRecord", PVOID), F("ContextRecord", PVOID)])

# ---------------------------------------------------------------------------------------------- CONTEXT (x86)
FLOATING_SAVE_AREA = Struct("FLOATING_SAVE_AREA", [
    F("ControlWord", ULONG), F("StatusWord", ULONG), F("TagWord", ULONG), F("ErrorOffset", ULONG),
    F("ErrorSelector", ULONG), F("DataOffset", ULONG), F("DataSelector", ULONG),
    F("RegisterArea", UCHAR, 80),
    F("Cr0NpxState", ULONG),   # Spare0 in some headers
])

CONTEXT_X86 = Struct("CONTEXT_X86", [
    F("ContextFlags", ULONG),
    F("Dr0", ULONG), F("Dr1", ULONG), F("Dr2", ULONG), F("Dr3", ULONG), F("Dr6", ULONG), F("Dr7", ULONG),
    F("FloatSave", FLOATING_SAVE_AREA),
    F("SegGs", ULONG), F("SegFs", ULONG), F("SegEs", ULONG), F("SegDs", ULONG),
    F("Edi", ULONG), F("Esi", ULONG), F("Ebx", ULONG), F("Edx", ULONG), F("Ecx", ULONG), F("Eax", ULONG),
    F("Ebp", ULONG), F("Eip", ULONG), F("SegCs", ULONG), F("EFlags", ULONG), F("Esp", ULONG), F("SegSs", ULONG),
    F("ExtendedRegisters", UCHAR, 512),   # FXSAVE image
], doc="i386 CONTEXT (also WOW64_CONTEXT): size 0x2CC, no pointers, same layout whatever the arch argument.")
WOW64_CONTEXT = CONTEXT_X86

CONTEXT_i386 = 0x00010000
CONTEXT_X86_CONTROL = CONTEXT_i386 | 0x01
CONTEXT_X86_INTEGER = CONTEXT_i386 | 0x02
CONTEXT_X86_SEGMENTS = CONTEXT_i386 | 0x04
CONTEXT_X86_FLOATING_POINT = CONTEXT_i386 | 0x08
CONTEXT_X86_DEBUG_REGISTERS = CONTEXT_i386 | 0x10
CONTEXT_X86_EXTENDED_REGISTERS = CONTEXT_i386 | 0x20
CONTEXT_X86_FULL = CONTEXT_X86_CONTROL | CONTEXT_X86_INTEGER | CONTEXT_X86_SEGMENTS
CONTEXT_X86_ALL = CONTEXT_X86_FULL | CONTEXT_X86_FLOATING_POINT | CONTEXT_X86_DEBUG_REGISTERS | \
    CONTEXT_X86_EXTENDED_REGISTERS

# ---------------------------------------------------------------------------------------------- CONTEXT (x64)
M128A = Struct("M128A", [F("Low", ULONGLONG), F("High", LONGLONG)], align=16)

XMM_SAVE_AREA32 = Struct("XMM_SAVE_AREA32", [
    F("ControlWord", USHORT), F("StatusWord", USHORT), F("TagWord", UCHAR), F("Reserved1", UCHAR),
    F("ErrorOpcode", USHORT), F("ErrorOffset", ULONG), F("ErrorSelector", USHORT), F("Reserved2", USHORT),
    F("DataOffset", ULONG), F("DataSelector", USHORT), F("Reserved3", USHORT),
    F("MxCsr", ULONG), F("MxCsr_Mask", ULONG),
    F("FloatRegisters", M128A, 8),
    F("XmmRegisters", M128A, 16),
    F("Reserved4", UCHAR, 96),
])

_AMD64_GPRS = ["Rax", "Rcx", "Rdx", "Rbx", "Rsp", "Rbp", "Rsi", "Rdi",
               "R8", "R9", "R10", "R11", "R12", "R13", "R14", "R15", "Rip"]

CONTEXT_AMD64 = Struct("CONTEXT_AMD64", [
    *[F(f"P{i}Home", ULONGLONG) for i in range(1, 7)],
    F("ContextFlags", ULONG),
    F("MxCsr", ULONG),
    F("SegCs", USHORT), F("SegDs", USHORT), F("SegEs", USHORT), F("SegFs", USHORT), F("SegGs", USHORT),
    F("SegSs", USHORT),
    F("EFlags", ULONG),
    *[F(f"Dr{i}", ULONGLONG) for i in (0, 1, 2, 3, 6, 7)],
    *[F(r, ULONGLONG) for r in _AMD64_GPRS],
    F(None, Union("", [
        F("FltSave", XMM_SAVE_AREA32),
        F(None, Struct("", [F("Header", M128A, 2), F("Legacy", M128A, 8),
                            *[F(f"Xmm{i}", M128A) for i in range(16)]])),
    ])),
    F("VectorRegister", M128A, 26),
    F("VectorControl", ULONGLONG),
    F("DebugControl", ULONGLONG),
    F("LastBranchToRip", ULONGLONG),
    F("LastBranchFromRip", ULONGLONG),
    F("LastExceptionToRip", ULONGLONG),
    F("LastExceptionFromRip", ULONGLONG),
], align=16, doc="AMD64 CONTEXT: size 0x4D0, 16-aligned, same layout whatever the arch argument.")

CONTEXT_AMD64_FLAG = 0x00100000
CONTEXT_AMD64_CONTROL = CONTEXT_AMD64_FLAG | 0x01
CONTEXT_AMD64_INTEGER = CONTEXT_AMD64_FLAG | 0x02
CONTEXT_AMD64_SEGMENTS = CONTEXT_AMD64_FLAG | 0x04
CONTEXT_AMD64_FLOATING_POINT = CONTEXT_AMD64_FLAG | 0x08
CONTEXT_AMD64_DEBUG_REGISTERS = CONTEXT_AMD64_FLAG | 0x10
CONTEXT_AMD64_FULL = CONTEXT_AMD64_CONTROL | CONTEXT_AMD64_INTEGER | CONTEXT_AMD64_FLOATING_POINT
CONTEXT_AMD64_ALL = CONTEXT_AMD64_FULL | CONTEXT_AMD64_SEGMENTS | CONTEXT_AMD64_DEBUG_REGISTERS

CONTEXT = PerArch("CONTEXT", x86=CONTEXT_X86, x64=CONTEXT_AMD64)

# ---------------------------------------------------------------------------------------------- memory / system
MEMORY_BASIC_INFORMATION = Struct("MEMORY_BASIC_INFORMATION", [
    F("BaseAddress", PVOID),
    F("AllocationBase", PVOID),
    F("AllocationProtect", ULONG),
    F("PartitionId", USHORT, arch="x64"),   # newer SDKs; padding in older ones
    F("RegionSize", SIZE_T),
    F("State", ULONG),
    F("Protect", ULONG),
    F("Type", ULONG),
])

SYSTEM_INFO = Struct("SYSTEM_INFO", [
    F(None, Union("", [
        F("dwOemId", ULONG),
        F(None, Struct("", [F("wProcessorArchitecture", USHORT), F("wReserved", USHORT)])),
    ])),
    F("dwPageSize", ULONG),
    F("lpMinimumApplicationAddress", PVOID),
    F("lpMaximumApplicationAddress", PVOID),
    F("dwActiveProcessorMask", ULONG_PTR),
    F("dwNumberOfProcessors", ULONG),
    F("dwProcessorType", ULONG),
    F("dwAllocationGranularity", ULONG),
    F("wProcessorLevel", USHORT),
    F("wProcessorRevision", USHORT),
])

# ---------------------------------------------------------------------------------------------- processes
def _startupinfo(name: str) -> Struct:
    return Struct(name, [
        F("cb", ULONG),
        F("lpReserved", PVOID), F("lpDesktop", PVOID), F("lpTitle", PVOID),
        F("dwX", ULONG), F("dwY", ULONG), F("dwXSize", ULONG), F("dwYSize", ULONG),
        F("dwXCountChars", ULONG), F("dwYCountChars", ULONG), F("dwFillAttribute", ULONG), F("dwFlags", ULONG),
        F("wShowWindow", USHORT), F("cbReserved2", USHORT), F("lpReserved2", PVOID),
        F("hStdInput", HANDLE), F("hStdOutput", HANDLE), F("hStdError", HANDLE),
    ])


STARTUPINFOW = _startupinfo("STARTUPINFOW")
STARTUPINFOA = _startupinfo("STARTUPINFOA")

PROCESS_INFORMATION = Struct("PROCESS_INFORMATION", [
    F("hProcess", HANDLE), F("hThread", HANDLE), F("dwProcessId", ULONG), F("dwThreadId", ULONG),
])


def _osversion(name: str, ch, ex: bool) -> Struct:
    fields = [
        F("dwOSVersionInfoSize", ULONG), F("dwMajorVersion", ULONG), F("dwMinorVersion", ULONG),
        F("dwBuildNumber", ULONG), F("dwPlatformId", ULONG), F("szCSDVersion", ch, 128),
    ]
    if ex:
        fields += [F("wServicePackMajor", USHORT), F("wServicePackMinor", USHORT), F("wSuiteMask", USHORT),
                   F("wProductType", UCHAR), F("wReserved", UCHAR)]
    return Struct(name, fields)


OSVERSIONINFOW = _osversion("OSVERSIONINFOW", WCHAR, False)
OSVERSIONINFOEXW = _osversion("OSVERSIONINFOEXW", WCHAR, True)
OSVERSIONINFOA = _osversion("OSVERSIONINFOA", CHAR, False)
OSVERSIONINFOEXA = _osversion("OSVERSIONINFOEXA", CHAR, True)
RTL_OSVERSIONINFOW, RTL_OSVERSIONINFOEXW = OSVERSIONINFOW, OSVERSIONINFOEXW

# ---------------------------------------------------------------------------------------------- PE
# IMAGE_TLS_DIRECTORY32 on x86, IMAGE_TLS_DIRECTORY64 on x64 (the address members are pointer-sized).
IMAGE_TLS_DIRECTORY = Struct("IMAGE_TLS_DIRECTORY", [
    F("StartAddressOfRawData", ULONG_PTR),
    F("EndAddressOfRawData", ULONG_PTR),
    F("AddressOfIndex", ULONG_PTR),
    F("AddressOfCallBacks", ULONG_PTR),
    F("SizeOfZeroFill", ULONG),
    F("Characteristics", ULONG),
])

__all__ = ["EXCEPTION_MAXIMUM_PARAMETERS", "EXCEPTION_RECORD", "EXCEPTION_POINTERS", "FLOATING_SAVE_AREA",
           "CONTEXT_X86", "WOW64_CONTEXT", "M128A", "XMM_SAVE_AREA32", "CONTEXT_AMD64", "CONTEXT",
           "MEMORY_BASIC_INFORMATION", "SYSTEM_INFO", "STARTUPINFOW", "STARTUPINFOA", "PROCESS_INFORMATION",
           "OSVERSIONINFOW", "OSVERSIONINFOEXW", "OSVERSIONINFOA", "OSVERSIONINFOEXA", "RTL_OSVERSIONINFOW",
           "RTL_OSVERSIONINFOEXW", "IMAGE_TLS_DIRECTORY"] + [n for n in dir() if n.startswith("CONTEXT_") and
                                                              n.isupper() or n == "CONTEXT_i386"]
