"""userenv: user profiles — GetUserProfileDirectory(A/W): the profile directory of a token's user, the
ProfileImagePath of HKLM\\SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion\\ProfileList\\<SID> (environment
variables expanded), read through the token and registry services."""
from __future__ import annotations

import struct

from winhatch.ntstatus import ERROR_INSUFFICIENT_BUFFER, ERROR_INVALID_PARAMETER, nt_to_win32
from winhatch.win32.api import api

PROFILE_LIST = "\\Registry\\Machine\\SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion\\ProfileList\\"
KEY_READ = 0x20019


def _token_sid(c, token: int) -> tuple[str | None, int]:
    buf = c.stack_alloc(0x100, 8)
    ret = c.stack_alloc(4)
    st = c.nt("NtQueryInformationToken", token, 1, buf, 0x100, ret)     # TokenUser
    if st & 0x80000000:
        return None, nt_to_win32(st)
    sid = c.ptr(buf)
    rev, n = c.read(sid, 2)
    auth = int.from_bytes(c.read(sid + 2, 6), "big")
    subs = struct.unpack(f"<{n}I", c.read(sid + 8, 4 * n))
    return f"S-{rev}-{auth}" + "".join(f"-{x}" for x in subs), 0


def profile_directory(c, token: int) -> tuple[str | None, int]:
    from winhatch.win32.advapi32 import reg
    from winhatch.win32.kernel32.env import expand
    sid, err = _token_sid(c, token)
    if sid is None:
        return None, err
    st, h = reg._nt_open(c, 0, PROFILE_LIST + sid, KEY_READ, 0)
    if st & 0x80000000:
        return None, nt_to_win32(st)
    try:
        _t, data = reg._query_value(c, h, "ProfileImagePath")
    except reg._Fail as e:
        return None, e.args[0]
    finally:
        reg._close(c, h)
    return expand(c, data.decode("utf-16-le", "replace").split("\0", 1)[0]), 0


@api("userenv.dll", "BOOL WINAPI GetUserProfileDirectory%(HANDLE hToken, LPTSTR lpProfileDir, LPDWORD lpcchSize)")
def GetUserProfileDirectory(c, token, buf, psize):
    """The directory in TCHARs with its NUL; *lpcchSize too small (or no buffer): ERROR_INSUFFICIENT_BUFFER with
    the size needed. No token or no size: ERROR_INVALID_PARAMETER."""
    if not token or not psize:
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    path, err = profile_directory(c, token)
    if path is None:
        c.set_last_error(err)
        return 0
    data = path.encode("utf-16-le") + b"\0\0" if c.wide else path.encode("cp1252", "replace") + b"\0"
    need = len(data) // (2 if c.wide else 1)
    if not buf or c.u32(psize) < need:
        c.write_u32(psize, need)
        c.set_last_error(ERROR_INSUFFICIENT_BUFFER)
        return 0
    c.write(buf, data)
    c.write_u32(psize, need)
    return 1
