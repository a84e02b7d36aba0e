"""Mailslots over the system services, as kernelbase does: CreateMailslot (NtCreateMailslotFile on
\\??\\MAILSLOT\\name), GetMailslotInfo / SetMailslotInfo (NtQueryInformationFile / NtSetInformationFile with
FileMailslotQueryInformation / FileMailslotSetInformation). Clients are CreateFile(\\\\.\\mailslot\\name).
Time-outs: milliseconds here, relative 100 ns units (negative) in the services; MAILSLOT_WAIT_FOREVER (-1)
is the most negative LARGE_INTEGER."""
from __future__ import annotations

import struct

from winhatch.kernel.io import paths as P
from winhatch.kernel.io.msfs import WAIT_FOREVER
from winhatch.win32.api import api
from winhatch.win32.kernel32.common import K32, cwd

MAILSLOT_WAIT_FOREVER = 0xFFFFFFFF
ERROR_INVALID_NAME = 123
ERROR_PATH_NOT_FOUND = 3
INVALID = 0xFFFFFFFF_FFFFFFFF
GENERIC_READ_SYNC = 0x80000000 | 0x00100000 | 0x00040000 | 0x00010000   # + SYNCHRONIZE, WRITE_DAC, DELETE


def _timeout(c, ms: int) -> int:
    p = c.stack_alloc(8, 8)
    t = WAIT_FOREVER if ms == MAILSLOT_WAIT_FOREVER else -10_000 * (ms & 0xFFFFFFFF)
    c.write(p, struct.pack("<q", t))
    return p


@api(K32, "HANDLE WINAPI CreateMailslot%(LPCTSTR lpName, DWORD nMaxMessageSize, DWORD lReadTimeout, "
          "LPSECURITY_ATTRIBUTES lpSecurityAttributes)")
def CreateMailslot(c, name, max_size, timeout_ms, sa):
    """The server end of \\\\.\\mailslot\\name (a local mailslot: a name of another form is ERROR_INVALID_NAME,
    NULL ERROR_PATH_NOT_FOUND)."""
    if name is None:
        c.set_last_error(ERROR_PATH_NOT_FOUND)
        return INVALID
    try:
        nt = P.to_nt_path(name, cwd(c))
    except Exception:       # noqa: BLE001 - the path syntax refused it
        nt = ""
    if not nt.upper().startswith("\\??\\MAILSLOT\\"):
        c.set_last_error(ERROR_INVALID_NAME)
        return INVALID
    inherit = 0
    if sa:
        n = c.u32(sa)
        if n >= (12 if c.ptr_size == 4 else 24):
            inherit = c.u32(sa + (8 if c.ptr_size == 4 else 16))
    hp = c.stack_alloc(c.ptr_size, 8)
    iosb = c.stack_alloc(2 * c.ptr_size, 8)
    oa = c.object_attributes(c.unicode_string(nt), 0x40 | (0x2 if inherit else 0))
    st = c.nt("NtCreateMailslotFile", hp, GENERIC_READ_SYNC, oa, iosb, 0x20, 0, max_size, _timeout(c, timeout_ms))
    if st >= 0xC0000000:
        c.set_last_nt_error(st)
        return INVALID
    return c.ptr(hp)


@api(K32, "BOOL WINAPI GetMailslotInfo(HANDLE hMailslot, LPDWORD lpMaxMessageSize, LPDWORD lpNextSize, "
          "LPDWORD lpMessageCount, LPDWORD lpReadTimeout)")
def GetMailslotInfo(c, h, pmax, pnext, pcount, ptimeout):
    iosb = c.stack_alloc(2 * c.ptr_size, 8)
    buf = c.stack_alloc(24, 8)
    st = c.nt("NtQueryInformationFile", h, iosb, buf, 24, 26)
    if st >= 0xC0000000:
        c.set_last_nt_error(st)
        return 0
    mx, _quota, nxt, count, t = struct.unpack("<IIIIq", c.read(buf, 24))
    ms = MAILSLOT_WAIT_FOREVER if t == WAIT_FOREVER else (-t) // 10_000
    for p, v in ((pmax, mx), (pnext, nxt), (pcount, count), (ptimeout, ms)):
        if p:
            c.write_u32(p, v & 0xFFFFFFFF)
    return 1


@api(K32, "BOOL WINAPI SetMailslotInfo(HANDLE hMailslot, DWORD lReadTimeout)")
def SetMailslotInfo(c, h, timeout_ms):
    iosb = c.stack_alloc(2 * c.ptr_size, 8)
    info = c.stack_alloc(c.ptr_size, 8)
    c.write_ptr(info, _timeout(c, timeout_ms))
    st = c.nt("NtSetInformationFile", h, iosb, info, c.ptr_size, 27)
    if st >= 0xC0000000:
        c.set_last_nt_error(st)
        return 0
    return 1
