"""kernel32's WoW64 file system redirection switches, over ntdll's per-thread value (ntdll/rtl_wow64fs.py):
Wow64DisableWow64FsRedirection / Wow64RevertWow64FsRedirection / Wow64EnableWow64FsRedirection. In a 64-bit
process there is no redirector: FALSE with ERROR_INVALID_FUNCTION (STATUS_NOT_IMPLEMENTED)."""
from __future__ import annotations

from winhatch.ntstatus import STATUS_ACCESS_VIOLATION, NtStatusError
from winhatch.win32.api import api
from winhatch.win32.ntdll.rtl_wow64fs import STATUS_NOT_IMPLEMENTED, swap_fs_redirection

K32 = "kernel32.dll"


@api(K32, "BOOL WINAPI Wow64DisableWow64FsRedirection(PVOID *OldValue)")
def Wow64DisableWow64FsRedirection(c, pold):
    if c.arch != "x86":
        c.set_last_nt_error(STATUS_NOT_IMPLEMENTED)
        return 0
    try:
        c._check(pold, c.ptr_size, True)
    except NtStatusError:
        c.set_last_nt_error(STATUS_ACCESS_VIOLATION)
        return 0
    c.write_ptr(pold, swap_fs_redirection(c, 1))
    return 1


@api(K32, "BOOL WINAPI Wow64RevertWow64FsRedirection(PVOID OlValue)")
def Wow64RevertWow64FsRedirection(c, old):
    if c.arch != "x86":
        c.set_last_nt_error(STATUS_NOT_IMPLEMENTED)
        return 0
    swap_fs_redirection(c, old)
    return 1


@api(K32, "BOOLEAN WINAPI Wow64EnableWow64FsRedirection(BOOLEAN Wow64FsEnableRedirection)")
def Wow64EnableWow64FsRedirection(c, enable):
    if c.arch != "x86":
        c.set_last_nt_error(STATUS_NOT_IMPLEMENTED)
        return 0
    swap_fs_redirection(c, 0 if enable & 0xFF else 1)
    return 1
