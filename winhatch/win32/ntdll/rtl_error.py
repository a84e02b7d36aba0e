"""ntdll's status conversions: RtlNtStatusToDosError(NoTeb), RtlGetLastNtStatus,
RtlSetLastWin32ErrorAndNtStatusFromNtStatus.

One mapping serves the whole project: winhatch.ntstatus.nt_to_win32 over the complete table in
winhatch/ntstatus_map.py (a leaf module, so the kernel can use it too), the mapping kernel32's functions
use to turn an NTSTATUS into their last error, so RtlNtStatusToDosError and kernel32 always agree.
RtlNtStatusToDosError also records the status in TEB.LastStatusValue (RtlGetLastNtStatus reads it back);
RtlNtStatusToDosErrorNoTeb leaves the TEB alone.
"""
from __future__ import annotations

from winhatch.kernel.structs import TEB
from winhatch.ntstatus import nt_to_win32
from winhatch.win32.api import api

NT = "ntdll.dll"
_LAST_STATUS = {a: TEB.offset(a, "LastStatusValue") for a in ("x86", "x64")}


@api(NT, "ULONG NTAPI RtlNtStatusToDosError(NTSTATUS Status)")
def RtlNtStatusToDosError(c, status):
    c.write_u32(c.thread.teb + _LAST_STATUS[c.arch], status)
    return nt_to_win32(status)


@api(NT, "ULONG NTAPI RtlNtStatusToDosErrorNoTeb(NTSTATUS Status)")
def RtlNtStatusToDosErrorNoTeb(c, status):
    return nt_to_win32(status)


@api(NT, "NTSTATUS NTAPI RtlGetLastNtStatus(void)")
def RtlGetLastNtStatus(c):
    return c.u32(c.thread.teb + _LAST_STATUS[c.arch])


@api(NT, "void NTAPI RtlSetLastWin32ErrorAndNtStatusFromNtStatus(NTSTATUS Status)")
def RtlSetLastWin32ErrorAndNtStatusFromNtStatus(c, status):
    c.write_u32(c.thread.teb + _LAST_STATUS[c.arch], status)
    c.set_last_error(nt_to_win32(status))
