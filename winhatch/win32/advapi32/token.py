"""advapi32: a process's access token and its privileges — OpenProcessToken, OpenThreadToken,
GetTokenInformation, AdjustTokenPrivileges over the token services (winhatch.kernel.se.services: a standard
user's token, SeChangeNotifyPrivilege enabled, four more held), and LookupPrivilegeValue/LookupPrivilegeName
(the LSA's table of privilege names).

Programs enable a privilege at start (7-Zip: SeCreateSymbolicLinkPrivilege, SeSecurityPrivilege) and go on
when it is not held: AdjustTokenPrivileges then succeeds with ERROR_NOT_ALL_ASSIGNED, as on Windows.
"""
from __future__ import annotations

import struct

from winhatch.kernel.se.token import NAMES, PRIVILEGES
from winhatch.win32.api import api


ADV = "advapi32.dll"
TOKEN_ADJUST_PRIVILEGES = 0x0020
TOKEN_QUERY = 0x0008
SE_PRIVILEGE_ENABLED = 0x2
SE_PRIVILEGE_REMOVED = 0x4
ERROR_SUCCESS = 0
ERROR_ACCESS_DENIED = 5
ERROR_INSUFFICIENT_BUFFER = 122
ERROR_NOT_ALL_ASSIGNED = 1300
ERROR_NO_SUCH_PRIVILEGE = 1313
ERROR_NO_TOKEN = 1008


def _handle_out(c, out: int, service: str, *args) -> int:
    """Call a service that returns a handle through an OUT pointer in scratch, then the caller's pointer."""
    if not out:
        c.set_last_error(998)            # ERROR_NOACCESS: the kernel writes the output pointer
        return 0
    h = c.stack_alloc(c.ptr_size)
    st = c.nt(service, *args, h)
    if st & 0x80000000:
        c.set_last_nt_error(st)
        return 0
    c.write_ptr(out, c.ptr(h))
    return 1


@api(ADV, "BOOL WINAPI OpenProcessToken(HANDLE ProcessHandle, DWORD DesiredAccess, PHANDLE TokenHandle)")
def OpenProcessToken(c, hproc, access, out):
    """NtOpenProcessToken: a handle to the process's primary token."""
    return _handle_out(c, out, "NtOpenProcessToken", hproc, access)


@api(ADV, "BOOL WINAPI OpenThreadToken(HANDLE ThreadHandle, DWORD DesiredAccess, BOOL OpenAsSelf, "
     "PHANDLE TokenHandle)")
def OpenThreadToken(c, hthread, access, as_self, out):
    """NtOpenThreadToken: a thread that does not impersonate has no token (ERROR_NO_TOKEN)."""
    if out:
        c.write_ptr(out, 0)
    return _handle_out(c, out, "NtOpenThreadToken", hthread, access, 1 if as_self else 0)


@api(ADV, "BOOL WINAPI GetTokenInformation(HANDLE TokenHandle, TOKEN_INFORMATION_CLASS TokenInformationClass, "
     "LPVOID TokenInformation, DWORD TokenInformationLength, PDWORD ReturnLength)")
def GetTokenInformation(c, htoken, cls, buf, length, pret):
    """NtQueryInformationToken; a buffer too small: ERROR_INSUFFICIENT_BUFFER with the size in
    *ReturnLength."""
    st = c.nt("NtQueryInformationToken", htoken, cls, buf, length, pret)
    if st & 0x80000000:
        c.set_last_nt_error(st)
        return 0
    return 1


def _local_system(c, system) -> bool:
    """The system name of LookupPrivilege*: NULL or empty for the local system; there is no network, so
    another machine cannot be reached (RPC_S_SERVER_UNAVAILABLE, 1722)."""
    if system:
        c.set_last_error(1722)
        return False
    return True


@api(ADV, "BOOL WINAPI LookupPrivilegeValue%(LPCTSTR lpSystemName, LPCTSTR lpName, PLUID lpLuid)")
def LookupPrivilegeValue(c, system, name, luid):
    if not _local_system(c, system):
        return 0
    value = next((v for n, v in PRIVILEGES.items() if name is not None and n.lower() == name.lower()), None)
    if value is None:
        c.set_last_error(ERROR_NO_SUCH_PRIVILEGE)
        return 0
    c.write(luid, struct.pack("<Ii", value, 0))
    return 1


@api(ADV, "BOOL WINAPI LookupPrivilegeName%(LPCTSTR lpSystemName, PLUID lpLuid, LPTSTR lpName, LPDWORD cchName)")
def LookupPrivilegeName(c, system, luid, buf, pcch):
    """The privilege's name (its length without the NUL in *cchName); a buffer too small:
    ERROR_INSUFFICIENT_BUFFER with the characters needed, the NUL included."""
    if not _local_system(c, system):
        return 0
    low, high = struct.unpack("<Ii", c.read(luid, 8))
    name = NAMES.get(low) if high == 0 else None
    if name is None:
        c.set_last_error(ERROR_NO_SUCH_PRIVILEGE)
        return 0
    cap = c.u32(pcch)
    if not buf or cap <= len(name):
        c.write_u32(pcch, len(name) + 1)
        c.set_last_error(ERROR_INSUFFICIENT_BUFFER)
        return 0
    c.write(buf, c.encode_t(name) + bytes(c.tchar_size()))
    c.write_u32(pcch, len(name))
    return 1


@api(ADV, "BOOL WINAPI AdjustTokenPrivileges(HANDLE TokenHandle, BOOL DisableAllPrivileges, "
     "PTOKEN_PRIVILEGES NewState, DWORD BufferLength, PTOKEN_PRIVILEGES PreviousState, PDWORD ReturnLength)")
def AdjustTokenPrivileges(c, htoken, disable_all, new, buflen, prev, pret):
    """NtAdjustPrivilegesToken. A privilege the token does not hold is left out and the call still succeeds,
    with ERROR_NOT_ALL_ASSIGNED (STATUS_NOT_ALL_ASSIGNED); all assigned: ERROR_SUCCESS."""
    st = c.nt("NtAdjustPrivilegesToken", htoken, 1 if disable_all else 0, new, buflen, prev, pret)
    if st & 0x80000000:
        c.set_last_nt_error(st)
        return 0
    c.set_last_error(ERROR_NOT_ALL_ASSIGNED if st == 0x106 else ERROR_SUCCESS)
    return 1


# ------------------------------------------------------------------------------------------ impersonation
TOKEN_DUPLICATE, TOKEN_IMPERSONATE = 0x0002, 0x0004
TokenImpersonation = 2
ThreadImpersonationToken = 5
SecurityDelegation = 3


def _set_thread_token(c, hthread: int, htoken: int) -> int:
    """NtSetInformationThread(ThreadImpersonationToken) with the token handle in scratch."""
    buf = c.stack_alloc(c.ptr_size)
    c.write_ptr(buf, htoken)
    return c.nt("NtSetInformationThread", hthread, ThreadImpersonationToken, buf, c.ptr_size)


@api(ADV, "BOOL WINAPI ImpersonateSelf(SECURITY_IMPERSONATION_LEVEL ImpersonationLevel)")
def ImpersonateSelf(c, level):
    """RtlImpersonateSelf: the process token duplicated as an impersonation token of the level asked for
    (NtDuplicateToken with a SECURITY_QUALITY_OF_SERVICE), set on the calling thread."""
    ps = c.ptr_size
    cur_proc, cur_thread = (1 << 8 * ps) - 1, (1 << 8 * ps) - 2
    hp = c.stack_alloc(ps)
    st = c.nt("NtOpenProcessToken", cur_proc, TOKEN_DUPLICATE, hp)
    if st & 0x80000000:
        c.set_last_nt_error(st)
        return 0
    hproc_tok = c.ptr(hp)
    try:
        sqos = c.stack_alloc(12, 4)
        c.write(sqos, struct.pack("<IIBB", 12, level & 0xFFFFFFFF, 0, 0) + b"\0\0")
        oa = c.object_attributes(0, 0)
        c.write_ptr(oa + 5 * ps, sqos)          # OBJECT_ATTRIBUTES.SecurityQualityOfService
        hd = c.stack_alloc(ps)
        st = c.nt("NtDuplicateToken", hproc_tok, TOKEN_IMPERSONATE | TOKEN_QUERY, oa, 0, TokenImpersonation, hd)
        if st & 0x80000000:
            c.set_last_nt_error(st)
            return 0
        hdup = c.ptr(hd)
        try:
            st = _set_thread_token(c, cur_thread, hdup)
        finally:
            c.nt("NtClose", hdup)
        if st & 0x80000000:
            c.set_last_nt_error(st)
            return 0
        return 1
    finally:
        c.nt("NtClose", hproc_tok)


@api(ADV, "BOOL WINAPI RevertToSelf(void)")
def RevertToSelf(c):
    """The calling thread stops impersonating (a thread that does not is left as it is)."""
    st = _set_thread_token(c, (1 << 8 * c.ptr_size) - 2, 0)
    if st & 0x80000000:
        c.set_last_nt_error(st)
        return 0
    return 1


@api(ADV, "BOOL WINAPI SetThreadToken(PHANDLE Thread, HANDLE Token)")
def SetThreadToken(c, pthread, htoken):
    """Token on the thread *Thread (NULL: the calling thread); Token NULL stops its impersonation."""
    h = c.ptr(pthread) if pthread else (1 << 8 * c.ptr_size) - 2
    st = _set_thread_token(c, h, htoken)
    if st & 0x80000000:
        c.set_last_nt_error(st)
        return 0
    return 1


@api(("advapi32.dll", "kernelbase.dll"), "BOOL WINAPI DuplicateTokenEx(HANDLE hExistingToken, DWORD dwDesiredAccess, "
     "LPSECURITY_ATTRIBUTES lpTokenAttributes, SECURITY_IMPERSONATION_LEVEL ImpersonationLevel, "
     "TOKEN_TYPE TokenType, PHANDLE phNewToken)")
def DuplicateTokenEx(c, htok, access, sa, level, token_type, out):
    """NtDuplicateToken with an OBJECT_ATTRIBUTES carrying the security attributes (their descriptor,
    bInheritHandle as OBJ_INHERIT) and a SECURITY_QUALITY_OF_SERVICE of the level asked for."""
    ps = c.ptr_size
    sqos = c.stack_alloc(12, 4)
    c.write(sqos, struct.pack("<IIBB", 12, level & 0xFFFFFFFF, 0, 0) + b"\0\0")
    attrs, sd = 0, 0
    if sa:
        sd = c.ptr(sa + ps)                            # SECURITY_ATTRIBUTES.lpSecurityDescriptor
        if struct.unpack("<I", c.read(sa + 2 * ps, 4))[0]:
            attrs |= 0x2                               # OBJ_INHERIT
    oa = c.object_attributes(0, attrs)
    c.write_ptr(oa + 4 * ps, sd)                       # OBJECT_ATTRIBUTES.SecurityDescriptor
    c.write_ptr(oa + 5 * ps, sqos)                     # OBJECT_ATTRIBUTES.SecurityQualityOfService
    st = c.nt("NtDuplicateToken", htok, access, oa, 0, token_type, out)
    if st & 0x80000000:
        c.set_last_nt_error(st)
        return 0
    return 1


@api(("advapi32.dll", "kernelbase.dll"), "BOOL WINAPI DuplicateToken(HANDLE ExistingTokenHandle, "
     "SECURITY_IMPERSONATION_LEVEL ImpersonationLevel, PHANDLE DuplicateTokenHandle)")
def DuplicateToken(c, htok, level, out):
    """DuplicateTokenEx(TOKEN_IMPERSONATE | TOKEN_QUERY, no attributes, the level, TokenImpersonation)."""
    return DuplicateTokenEx(c, htok, TOKEN_IMPERSONATE | TOKEN_QUERY, 0, level, TokenImpersonation, out)
