"""The Winsock extension functions (mswsock.h): what WSAIoctl(SIO_GET_EXTENSION_FUNCTION_POINTER) returns.
On Windows they live in mswsock.dll; here they are functions of ws2_32 itself (internal functions of the
synthetic DLL, so a pointer to them is callable guest code), and mswsock's exports of the same names
(AcceptEx, GetAcceptExSockaddrs) are served by the same implementations.

AcceptEx without a receive (dwReceiveDataLength 0) and ConnectEx are implemented over the sockets driver;
the others (DisconnectEx, TransmitFile, TransmitPackets, WSARecvMsg, WSASendMsg) stop loudly when called.
AcceptEx's address areas: the local then the remote SOCKADDR_IN at the start of each (dwLocalAddressLength,
dwRemoteAddressLength, each at least 16 + 16 bytes as documented) — GetAcceptExSockaddrs reads them back.
"""
from __future__ import annotations

import struct

from winhatch.kernel.io import afd
from winhatch.win32 import api as api_mod
from winhatch.win32.api import api, internal_function
from winhatch.win32.ws2_32 import afdcall as A
from winhatch.win32.ws2_32.afdcall import WSAEFAULT, WSAEINVAL, fail

WS2 = "ws2_32.dll"
MSW = "mswsock.dll"
NAMES = ("AcceptEx", "ConnectEx", "DisconnectEx", "GetAcceptExSockaddrs", "TransmitFile", "TransmitPackets",
         "WSARecvMsg", "WSASendMsg")
for _n in NAMES:
    internal_function(WS2, "WhExt" + _n)


def extension_address(c, name: str) -> int:
    """The address of ws2_32's internal function serving extension `name`."""
    from winhatch.ldr import loader
    m = loader.state_of(c.proc).by_name.get(WS2)
    img = c.proc.subsystem["images"].find(m.base) if m is not None else None
    want = "WhExt" + name
    va = next((m.base + rva for rva, n in ((img.traps or {}).items() if img else ()) if n == want), None)
    if va is None:
        from winhatch.win32.ws2_32.sockets import unsupported
        unsupported(c, f"the extension function {name}: ws2_32's stub is missing")
    return va


def _declare(proto_tail: str, name: str, fn, also_export: bool = False):
    api(WS2, proto_tail.replace("NAME", "WhExt" + name))(fn)
    api_mod._REGISTRY[-1].name = "WhExt" + name
    if also_export:
        api(MSW, proto_tail.replace("NAME", name))(fn)


def _ov_args(c, ov):
    ev = c.ptr(ov + 2 * c.ptr_size + 8)
    return ev & ~1, (0 if ev & 1 else ov), ov


def accept_ex(c, listen_s, accept_s, out, recv_len, local_len, remote_len, received, ov):
    if not A.started(c):
        return fail(c, A.WSANOTINITIALISED) and 0
    if recv_len:
        from winhatch.win32.ws2_32.sockets import unsupported
        unsupported(c, "AcceptEx receiving the first data (dwReceiveDataLength != 0)")
    if local_len < 32 or remote_len < 32 or not out:
        c.set_last_error(WSAEINVAL if out else WSAEFAULT)
        return 0
    if not ov:
        c.set_last_error(WSAEINVAL)
        return 0
    ev, ctx, iosb = _ov_args(c, ov)
    inp = struct.pack("<QQII", accept_s, out, local_len, remote_len)
    st, info, _o = A.ioctl(c, listen_s, afd.IOCTL_WHAFD_ACCEPT, inp, 24, event=ev, apc_ctx=ctx, iosb=iosb,
                           out=c.stack_alloc(24, 8))
    if st == afd.STATUS_PENDING:
        c.set_last_error(A.WSA_IO_PENDING)
        return 0
    if st:
        c.set_last_error(A.wsa_error(st))
        return 0
    if received:
        c.write(received, struct.pack("<I", 0))
    return 1


_declare("BOOL WINAPI NAME(SOCKET sListenSocket, SOCKET sAcceptSocket, PVOID lpOutputBuffer, "
         "DWORD dwReceiveDataLength, DWORD dwLocalAddressLength, DWORD dwRemoteAddressLength, "
         "LPDWORD lpdwBytesReceived, LPOVERLAPPED lpOverlapped)", "AcceptEx", accept_ex, True)


def get_acceptex_sockaddrs(c, buf, recv_len, local_len, remote_len, local, local_n, remote, remote_n):
    base = buf + recv_len
    for dst, dst_n, area in ((local, local_n, base), (remote, remote_n, base + local_len)):
        if dst:
            c.write_ptr(dst, area)
        if dst_n:
            c.write(dst_n, struct.pack("<i", 16))
    return None


_declare("void WINAPI NAME(PVOID lpOutputBuffer, DWORD dwReceiveDataLength, DWORD dwLocalAddressLength, "
         "DWORD dwRemoteAddressLength, struct sockaddr **LocalSockaddr, LPINT LocalSockaddrLength, "
         "struct sockaddr **RemoteSockaddr, LPINT RemoteSockaddrLength)", "GetAcceptExSockaddrs",
         get_acceptex_sockaddrs, True)


def connect_ex(c, s, name, namelen, send_buf, send_len, sent, ov):
    if not A.started(c):
        c.set_last_error(A.WSANOTINITIALISED)
        return 0
    raw = A.sockaddr(c, name, namelen)
    if raw is None:
        c.set_last_error(WSAEFAULT)
        return 0
    st, _i, _o = A.ioctl(c, s, afd.IOCTL_WHAFD_GET_NAME, struct.pack("<I", 0), 16)
    if st:     # ConnectEx needs a bound socket
        c.set_last_error(WSAEINVAL if st == afd.STATUS_INVALID_PARAMETER else A.wsa_error(st))
        return 0
    if not ov:
        c.set_last_error(WSAEINVAL)
        return 0
    ev, ctx, iosb = _ov_args(c, ov)
    if send_len:
        st, _i, _o = A.ioctl(c, s, afd.IOCTL_WHAFD_CONNECT, raw)
        if st == 0:
            st, info, _o = A.ioctl(c, s, afd.IOCTL_WHAFD_SEND, struct.pack("<IIQ", 0, send_len, send_buf),
                                   event=ev, apc_ctx=ctx, iosb=iosb)
            if st == 0 and sent:
                c.write(sent, struct.pack("<I", info))
    else:
        st, _i, _o = A.ioctl(c, s, afd.IOCTL_WHAFD_CONNECT, raw, event=ev, apc_ctx=ctx, iosb=iosb)
    if st == afd.STATUS_PENDING:
        c.set_last_error(A.WSA_IO_PENDING)
        return 0
    if st:
        c.set_last_error(A.wsa_error(st))
        return 0
    return 1


_declare("BOOL WINAPI NAME(SOCKET s, const struct sockaddr *name, int namelen, PVOID lpSendBuffer, "
         "DWORD dwSendDataLength, LPDWORD lpdwBytesSent, LPOVERLAPPED lpOverlapped)", "ConnectEx", connect_ex)


def _not_here(name):
    def fn(c, *args):
        from winhatch.win32.ws2_32.sockets import unsupported
        unsupported(c, f"the extension function {name}")
    return fn


_declare("BOOL WINAPI NAME(SOCKET s, LPOVERLAPPED lpOverlapped, DWORD dwFlags, DWORD dwReserved)",
         "DisconnectEx", _not_here("DisconnectEx"))
_declare("BOOL WINAPI NAME(SOCKET hSocket, HANDLE hFile, DWORD nNumberOfBytesToWrite, DWORD nNumberOfBytesPerSend, "
         "LPOVERLAPPED lpOverlapped, LPVOID lpTransmitBuffers, DWORD dwReserved)", "TransmitFile",
         _not_here("TransmitFile"))
_declare("BOOL WINAPI NAME(SOCKET hSocket, LPVOID lpPacketArray, DWORD nElementCount, DWORD nSendSize, "
         "LPOVERLAPPED lpOverlapped, DWORD dwFlags)", "TransmitPackets", _not_here("TransmitPackets"))
_declare("INT WINAPI NAME(SOCKET s, LPVOID lpMsg, LPDWORD lpdwNumberOfBytesRecvd, LPOVERLAPPED lpOverlapped, "
         "LPVOID lpCompletionRoutine)", "WSARecvMsg", _not_here("WSARecvMsg"))
_declare("INT WINAPI NAME(SOCKET s, LPVOID lpMsg, DWORD dwFlags, LPDWORD lpNumberOfBytesSent, "
         "LPOVERLAPPED lpOverlapped, LPVOID lpCompletionRoutine)", "WSASendMsg", _not_here("WSASendMsg"))
