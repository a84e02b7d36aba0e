"""The WoW64 file system redirector's per-thread switch: RtlWow64EnableFsRedirection(Ex) (ntdll) and kernel32's
Wow64DisableWow64FsRedirection / Wow64RevertWow64FsRedirection / Wow64EnableWow64FsRedirection over them.

As on Windows the value is the 64-bit TEB's TlsSlots[WOW64_TLS_FILESYSREDIR] of the thread (nonzero: redirection
off), which the file system services read (winhatch.kernel.io.file_services.fs_redirection_value).
A 64-bit process has no redirector: the functions return STATUS_NOT_IMPLEMENTED (ERROR_INVALID_FUNCTION).
"""
from __future__ import annotations

from winhatch.ntstatus import STATUS_ACCESS_VIOLATION, NtStatusError
from winhatch.win32.api import api

NT = "ntdll.dll"
STATUS_NOT_IMPLEMENTED = 0xC0000002


def swap_fs_redirection(c, value: int) -> int:
    """Set the calling thread's redirection value (nonzero: off) in its 64-bit TEB's
    TlsSlots[WOW64_TLS_FILESYSREDIR]; return the one it had."""
    from winhatch.kernel.io.file_services import set_fs_redirection_value
    return set_fs_redirection_value(c.thread, value & 0xFFFFFFFF) & 0xFFFFFFFF


@api(NT, "NTSTATUS NTAPI RtlWow64EnableFsRedirectionEx(ULONG DisableFsRedirection, PULONG OldFsRedirectionLevel)")
def RtlWow64EnableFsRedirectionEx(c, disable, pold):
    if c.arch != "x86":
        return STATUS_NOT_IMPLEMENTED
    try:
        c._check(pold, 4, True)
    except NtStatusError:
        return STATUS_ACCESS_VIOLATION
    old = swap_fs_redirection(c, disable)
    c.write_u32(pold, old)
    return 0


@api(NT, "NTSTATUS NTAPI RtlWow64EnableFsRedirection(BOOLEAN Wow64FsEnableRedirection)")
def RtlWow64EnableFsRedirection(c, enable):
    if c.arch != "x86":
        return STATUS_NOT_IMPLEMENTED
    swap_fs_redirection(c, 0 if enable & 0xFF else 1)
    return 0
