"""ntdll's critical-section queries and its own initialiser (the enter/leave paths are kernel32's handlers,
winhatch/win32/kernel32/sync.py, and the machine code of native_src/critsec.c, over the same RTL_CRITICAL_SECTION):

- RtlIsCriticalSectionLocked: some thread holds it (RecursionCount != 0);
- RtlIsCriticalSectionLockedByThread: the calling thread holds it (OwningThread is its id);
- RtlInitializeCriticalSectionEx: as Windows 8 and later, a section gets no debug information (DebugInfo is
  (PVOID)-1, what RTL_CRITICAL_SECTION_FLAG_NO_DEBUG_INFO asks for and what Windows 10 gives without it too: the
  `broken` case of Wine's rtl test); RTL_CRITICAL_SECTION_FLAG_FORCE_DEBUG_INFO (an RTL_CRITICAL_SECTION_DEBUG
  linked into the process's list) is not implemented and stops the program. LockCount -1, RecursionCount 0,
  no owner, no semaphore; SpinCount the given count (its low 24 bits).
"""
from __future__ import annotations

from winhatch.win32.api import api

NT = "ntdll.dll"
RTL_CRITICAL_SECTION_FLAG_NO_DEBUG_INFO = 0x01000000
RTL_CRITICAL_SECTION_FLAG_DYNAMIC_SPIN = 0x02000000
RTL_CRITICAL_SECTION_FLAG_STATIC_INIT = 0x04000000
RTL_CRITICAL_SECTION_FLAG_RESOURCE_TYPE = 0x08000000
RTL_CRITICAL_SECTION_FLAG_FORCE_DEBUG_INFO = 0x10000000
RTL_CRITICAL_SECTION_ALL_FLAG_BITS = 0xFF000000
STATUS_INVALID_PARAMETER_3 = 0xC00000F1


def _fields(c, cs: int) -> tuple[int, int, int]:
    """The addresses of LockCount, RecursionCount and OwningThread."""
    ps = c.ptr_size
    return cs + ps, cs + ps + 4, cs + ps + 8


@api(NT, "BOOL NTAPI RtlIsCriticalSectionLocked(PRTL_CRITICAL_SECTION CriticalSection)")
def RtlIsCriticalSectionLocked(c, cs):
    _lc, rc, _ow = _fields(c, cs)
    return 1 if c.u32(rc) != 0 else 0


@api(NT, "BOOL NTAPI RtlIsCriticalSectionLockedByThread(PRTL_CRITICAL_SECTION CriticalSection)")
def RtlIsCriticalSectionLockedByThread(c, cs):
    _lc, rc, ow = _fields(c, cs)
    return 1 if c.ptr(ow) == c.thread.tid and c.u32(rc) != 0 else 0


@api(NT, "NTSTATUS NTAPI RtlInitializeCriticalSectionEx(PRTL_CRITICAL_SECTION CriticalSection, ULONG SpinCount, "
         "ULONG Flags)")
def RtlInitializeCriticalSectionEx(c, cs, spin, flags):
    if flags & ~RTL_CRITICAL_SECTION_ALL_FLAG_BITS or flags & RTL_CRITICAL_SECTION_ALL_FLAG_BITS & ~(
            RTL_CRITICAL_SECTION_FLAG_NO_DEBUG_INFO | RTL_CRITICAL_SECTION_FLAG_DYNAMIC_SPIN
            | RTL_CRITICAL_SECTION_FLAG_STATIC_INIT | RTL_CRITICAL_SECTION_FLAG_RESOURCE_TYPE
            | RTL_CRITICAL_SECTION_FLAG_FORCE_DEBUG_INFO):
        return STATUS_INVALID_PARAMETER_3
    if flags & RTL_CRITICAL_SECTION_FLAG_FORCE_DEBUG_INFO:
        from winhatch.win32.kernel32.toolhelp import _stop
        _stop(c, "critical-section debug information (RTL_CRITICAL_SECTION_FLAG_FORCE_DEBUG_INFO)")
    from winhatch.win32.kernel32.sync import InitializeCriticalSection
    InitializeCriticalSection(c, cs)
    ps = c.ptr_size
    c.write_ptr(cs, (1 << (8 * ps)) - 1)                 # DebugInfo = (PVOID)-1: no debug information
    c.write_ptr(cs + 3 * ps + 8, spin & 0xFFFFFF)        # SpinCount
    return 0
