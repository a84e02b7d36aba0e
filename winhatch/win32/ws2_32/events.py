"""ws2_32's event objects and WSAEventSelect: WSACreateEvent / WSACloseEvent / WSASetEvent / WSAResetEvent /
WSAWaitForMultipleEvents are kernel events and waits (NtCreateEvent: manual-reset, non-signalled, as
documented); WSAEventSelect and WSAEnumNetworkEvents go to the sockets driver (winhatch.kernel.io.afd:
IOCTL_WHAFD_EVENT_SELECT, IOCTL_WHAFD_ENUM_EVENTS), which records the FD_* events and sets the event."""
from __future__ import annotations

import struct

from winhatch.kernel.io import afd
from winhatch.win32.api import api
from winhatch.win32.ws2_32 import afdcall as A
from winhatch.win32.ws2_32.afdcall import WSAEFAULT, WSAEINVAL, WSANOTINITIALISED, fail

WS2 = "ws2_32.dll"
WSA_INVALID_HANDLE = 6
WSA_WAIT_FAILED = 0xFFFFFFFF


@api(WS2, "WSAEVENT WINAPI WSACreateEvent(void)")
def WSACreateEvent(c):
    out = c.stack_alloc(8, 8)
    st = c.nt("NtCreateEvent", out, 0x1F0003, 0, 0, 0)      # EVENT_ALL_ACCESS, NotificationEvent, not signalled
    if st:
        c.set_last_nt_error(st)
        return 0
    return c.ptr(out)


@api(WS2, "BOOL WINAPI WSACloseEvent(WSAEVENT hEvent)")
def WSACloseEvent(c, h):
    if c.nt("NtClose", h):
        c.set_last_error(WSA_INVALID_HANDLE)
        return 0
    return 1


@api(WS2, "BOOL WINAPI WSASetEvent(WSAEVENT hEvent)")
def WSASetEvent(c, h):
    if c.nt("NtSetEvent", h, 0):
        c.set_last_error(WSA_INVALID_HANDLE)
        return 0
    return 1


@api(WS2, "BOOL WINAPI WSAResetEvent(WSAEVENT hEvent)")
def WSAResetEvent(c, h):
    if c.nt("NtResetEvent", h, 0):
        c.set_last_error(WSA_INVALID_HANDLE)
        return 0
    return 1


@api(WS2, "DWORD WINAPI WSAWaitForMultipleEvents(DWORD cEvents, const WSAEVENT *lphEvents, BOOL fWaitAll, "
          "DWORD dwTimeout, BOOL fAlertable)")
def WSAWaitForMultipleEvents(c, n, events, wait_all, timeout, alertable):
    if n == 0 or n > 64:
        c.set_last_error(WSAEINVAL)
        return WSA_WAIT_FAILED
    t = 0
    if timeout != 0xFFFFFFFF:
        t = c.stack_alloc(8, 8)
        c.write(t, struct.pack("<q", -timeout * 10_000))
    st = c.nt("NtWaitForMultipleObjects", n, events, 0 if wait_all else 1, 1 if alertable else 0, t)
    if st >= 0xC0000000:
        c.set_last_nt_error(st)
        return WSA_WAIT_FAILED
    return st     # WSA_WAIT_EVENT_0 + i, WSA_WAIT_IO_COMPLETION (0xC0), WSA_WAIT_TIMEOUT (0x102)


@api(WS2, "int WINAPI WSAEventSelect(SOCKET s, WSAEVENT hEventObject, long lNetworkEvents)")
def WSAEventSelect(c, s, h, events):
    if not A.started(c):
        return fail(c, WSANOTINITIALISED)
    st, _i, _o = A.ioctl(c, s, afd.IOCTL_WHAFD_EVENT_SELECT, struct.pack("<QI", h, events & 0xFFFFFFFF))
    if st == afd.STATUS_INVALID_HANDLE and h:
        return fail(c, WSAEINVAL)
    if st:
        return fail(c, A.wsa_error(st))
    return 0


@api(WS2, "int WINAPI WSAEnumNetworkEvents(SOCKET s, WSAEVENT hEventObject, LPWSANETWORKEVENTS lpNetworkEvents)")
def WSAEnumNetworkEvents(c, s, h, out):
    if not A.started(c):
        return fail(c, WSANOTINITIALISED)
    if not out:
        return fail(c, WSAEFAULT)
    st, _i, data = A.ioctl(c, s, afd.IOCTL_WHAFD_ENUM_EVENTS, struct.pack("<Q", h), 44)
    if st:
        return fail(c, A.wsa_error(st))
    c.write(out, data)
    return 0
