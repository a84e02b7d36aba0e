"""ws2_32: Windows Sockets start-up and clean-up. There is no network stack in winhatch: the socket calls
themselves are not implemented (a program that opens a socket stops as unimplemented), but a program may
initialise Winsock, as every Go program does at start-up.

WSAStartup negotiates version 2.2 as Windows 10 does: a request for 1.0 or later gets min(request, 2.2),
a request below 1.0 WSAVERNOTSUPPORTED; each successful call must be matched by a WSACleanup.
"""
from __future__ import annotations

import struct

from winhatch.win32.api import api

WS2 = "ws2_32.dll"
WSAEFAULT, WSAVERNOTSUPPORTED, WSANOTINITIALISED = 10014, 10092, 10093
HIGH_VERSION = 0x0202
DESCRIPTION, SYSTEM_STATUS = b"WinSock 2.0", b"Running"


def _wsadata(c, version: int) -> bytes:
    """WSADATA: x64 keeps iMaxSockets, iMaxUdpDg and lpVendorInfo before the strings, x86 after them."""
    desc = DESCRIPTION.ljust(257, b"\0")
    status = SYSTEM_STATUS.ljust(129, b"\0")
    if c.ptr_size == 8:
        return struct.pack("<HHHHQ", version, HIGH_VERSION, 0, 0, 0) + desc + status + bytes(6)
    return struct.pack("<HH", version, HIGH_VERSION) + desc + status + struct.pack("<HHxxI", 0, 0, 0)   # 400


@api(WS2, "int WINAPI WSAStartup(WORD wVersionRequested, LPWSADATA lpWSAData)")
def WSAStartup(c, requested, data):
    major, minor = requested & 0xFF, (requested >> 8) & 0xFF
    if not data:
        return WSAEFAULT
    if major < 1:
        c.write(data, _wsadata(c, HIGH_VERSION))
        return WSAVERNOTSUPPORTED
    version = HIGH_VERSION if (major, minor) > (2, 2) else (requested & 0xFFFF)
    c.write(data, _wsadata(c, version))
    c.proc.subsystem["wsa_startups"] = c.proc.subsystem.get("wsa_startups", 0) + 1
    return 0


@api(WS2, "int WINAPI WSACleanup(void)")
def WSACleanup(c):
    n = c.proc.subsystem.get("wsa_startups", 0)
    if n <= 0:
        c.set_last_error(WSANOTINITIALISED)
        return 0xFFFFFFFF   # SOCKET_ERROR
    c.proc.subsystem["wsa_startups"] = n - 1
    return 0


@api(WS2, "int WINAPI WSAEnumProtocols%(LPINT lpiProtocols, LPWSAPROTOCOL_INFO lpProtocolBuffer, "
          "LPDWORD lpdwBufferLength)")
def WSAEnumProtocols(c, protocols, buf, plen):
    """The transport protocols installed: none (winhatch's machine has no network stack), so the catalogue
    is empty whatever is asked; the buffer length is left as it is."""
    if not c.proc.subsystem.get("wsa_startups"):
        c.set_last_error(WSANOTINITIALISED)
        return 0xFFFFFFFF
    if not plen:
        c.set_last_error(WSAEFAULT)
        return 0xFFFFFFFF
    return 0


@api(WS2, "int WINAPI WSAGetLastError(void)")
def WSAGetLastError(c):
    """The thread's last error (Winsock keeps its errors there: WSAGetLastError is GetLastError)."""
    return c.last_error()


@api(WS2, "void WINAPI WSASetLastError(int iError)")
def WSASetLastError(c, err):
    c.set_last_error(err & 0xFFFFFFFF)
