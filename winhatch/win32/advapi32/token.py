"""advapi32: a process's access token and its privileges — OpenProcessToken, OpenThreadToken,
LookupPrivilegeValue/LookupPrivilegeName, AdjustTokenPrivileges — over the token object of
winhatch.kernel.ps.token (a standard user's token: SeChangeNotifyPrivilege enabled, four more held).

Programs enable a privilege at start (7-Zip: SeCreateSymbolicLinkPrivilege, SeSecurityPrivilege) and go on
when it is not held: AdjustTokenPrivileges then succeeds with ERROR_NOT_ALL_ASSIGNED, as on Windows.
"""
from __future__ import annotations

import struct

from winhatch.kernel.ps.token import NAMES, PRIVILEGES, primary_token
from winhatch.ntstatus import ERROR_INVALID_PARAMETER
from winhatch.win32.api import api

from winhatch.win32.kernel32.common import lookup

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


@api(ADV, "BOOL WINAPI OpenProcessToken(HANDLE ProcessHandle, DWORD DesiredAccess, PHANDLE TokenHandle)")
def OpenProcessToken(c, hproc, access, out):
    """A handle to the process's primary token with the access asked (the process handle needs
    PROCESS_QUERY_INFORMATION or PROCESS_QUERY_LIMITED_INFORMATION)."""
    proc = lookup(c, hproc, "Process", 0x1000)
    if proc is None:
        return 0
    if not out:
        c.set_last_error(998)            # ERROR_NOACCESS: the output pointer is written by the kernel
        return 0
    c.write_ptr(out, c.proc.handles.insert(primary_token(proc), access))
    return 1


@api(ADV, "BOOL WINAPI OpenThreadToken(HANDLE ThreadHandle, DWORD DesiredAccess, BOOL OpenAsSelf, "
     "PHANDLE TokenHandle)")
def OpenThreadToken(c, hthread, access, as_self, out):
    """No thread impersonates in winhatch: a thread has no token of its own (ERROR_NO_TOKEN)."""
    if lookup(c, hthread, "Thread", 0x0040) is None:     # THREAD_QUERY_INFORMATION
        return 0
    if out:
        c.write_ptr(out, 0)
    c.set_last_error(ERROR_NO_TOKEN)
    return 0


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


def _token_privileges(c, entries: list[tuple[int, int]]) -> bytes:
    """TOKEN_PRIVILEGES: PrivilegeCount, then LUID_AND_ATTRIBUTES { LUID (8), Attributes (4) } each."""
    return struct.pack("<I", len(entries)) + b"".join(struct.pack("<IiI", v, 0, a) for v, a in entries)


@api(ADV, "BOOL WINAPI AdjustTokenPrivileges(HANDLE TokenHandle, BOOL DisableAllPrivileges, "
     "PTOKEN_PRIVILEGES NewState, DWORD BufferLength, PTOKEN_PRIVILEGES PreviousState, PDWORD ReturnLength)")
def AdjustTokenPrivileges(c, htoken, disable_all, new, buflen, prev, pret):
    """Enable or disable privileges the token holds. A privilege it does not hold is left out, and the call
    still succeeds with ERROR_NOT_ALL_ASSIGNED; all assigned: ERROR_SUCCESS. PreviousState receives the
    former state of the privileges changed (ERROR_INSUFFICIENT_BUFFER, nothing changed, when it does not
    fit BufferLength). SE_PRIVILEGE_REMOVED removes the privilege from the token."""
    tok = lookup(c, htoken, "Token", TOKEN_ADJUST_PRIVILEGES)
    if tok is None:
        return 0
    changes: list[tuple[int, bool | None]] = []     # (luid, enable / None: remove)
    missing = False
    if disable_all:
        changes = [(v, False) for v in sorted(tok.enabled)]
    else:
        if not new:
            c.set_last_error(ERROR_INVALID_PARAMETER)
            return 0
        count = c.u32(new)
        if count > 64:
            c.set_last_error(ERROR_INVALID_PARAMETER)
            return 0
        for i in range(count):
            low, high, attrs = struct.unpack("<IiI", c.read(new + 4 + 12 * i, 12))
            if high != 0 or low not in tok.held:
                missing = True
                continue
            changes.append((low, None if attrs & SE_PRIVILEGE_REMOVED else bool(attrs & SE_PRIVILEGE_ENABLED)))
    changed = [(v, e) for v, e in changes if e is None or (v in tok.enabled) != e]
    if prev:
        old = _token_privileges(c, [(v, SE_PRIVILEGE_ENABLED if v in tok.enabled else 0) for v, _ in changed])
        if pret:
            c.write_u32(pret, len(old))
        if buflen < len(old):
            c.set_last_error(ERROR_INSUFFICIENT_BUFFER)
            return 0
        c.write(prev, old)
    for v, e in changed:
        if e is None:
            tok.held.discard(v)
            tok.enabled.discard(v)
        elif e:
            tok.enabled.add(v)
        else:
            tok.enabled.discard(v)
    c.set_last_error(ERROR_NOT_ALL_ASSIGNED if missing else ERROR_SUCCESS)
    return 1
