"""kernel32 SetErrorMode/GetErrorMode: the process error mode (the kernel's ProcessDefaultHardErrorMode),
kept in proc.subsystem["error_mode"].

Wine's test harness (include/wine/test.h) calls SetErrorMode at start-up. The `msvccrt` branch declares
the same two functions with the same state in k32_procenv.py; when both are merged, this file goes.
"""
from __future__ import annotations

from winhatch.win32.api import api

from .k32_common import K32

SEM_FAILCRITICALERRORS = 0x0001
SEM_NOGPFAULTERRORBOX = 0x0002
SEM_NOALIGNMENTFAULTEXCEPT = 0x0004
SEM_NOOPENFILEERRORBOX = 0x8000
_SEM_ALL = SEM_FAILCRITICALERRORS | SEM_NOGPFAULTERRORBOX | SEM_NOALIGNMENTFAULTEXCEPT | SEM_NOOPENFILEERRORBOX


@api(K32, "UINT WINAPI GetErrorMode(void)")
def GetErrorMode(c):
    return c.proc.subsystem.get("error_mode", 0)


@api(K32, "UINT WINAPI SetErrorMode(UINT uMode)")
def SetErrorMode(c, mode):
    """Returns the previous mode. SEM_NOALIGNMENTFAULTEXCEPT, once set, stays (the kernel keeps it)."""
    old = c.proc.subsystem.get("error_mode", 0)
    c.proc.subsystem["error_mode"] = (mode & _SEM_ALL) | (old & SEM_NOALIGNMENTFAULTEXCEPT)
    return old
