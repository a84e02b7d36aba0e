"""ws2_32: Windows Sockets over the sockets driver (winhatch.kernel.io.afd; the network below it is
winhatch.kernel.net.internet's fake internet unless the run says `--net host`).

WSAStartup negotiates version 2.2 as Windows 10 does: a request for 1.0 or later gets min(request, 2.2),
a request below 1.0 WSAVERNOTSUPPORTED; each successful call must be matched by a WSACleanup; a socket call
before it fails with WSANOTINITIALISED. The machine has an IPv4 stack only: AF_INET6 sockets fail with
WSAEAFNOSUPPORT, as on a Windows whose IPv6 protocol is uninstalled. Raw sockets need an administrator
(WSAEACCES).
"""
from __future__ import annotations

import struct

from winhatch.kernel.io import afd
from winhatch.win32.api import api
from winhatch.win32.ws2_32 import afdcall as A
from winhatch.win32.ws2_32.afdcall import (WSAEAFNOSUPPORT, WSAEFAULT, WSAEINVAL, WSAENOTCONN, WSAENOTSOCK,
                                           WSANOTINITIALISED, fail)

WS2 = "ws2_32.dll"
WSAVERNOTSUPPORTED = 10092
HIGH_VERSION = 0x0202
DESCRIPTION, SYSTEM_STATUS = b"WinSock 2.0", b"Running"
AF_UNSPEC, AF_INET, AF_INET6 = 0, 2, 23
SOCK_STREAM, SOCK_DGRAM, SOCK_RAW = 1, 2, 3
IPPROTO_TCP, IPPROTO_UDP = 6, 17
SO_PROTOCOL_INFOA, SO_PROTOCOL_INFOW = 0x2004, 0x2005
WSA_FLAG_OVERLAPPED = 0x1


def unsupported(c, what: str):
    """A Winsock feature winhatch does not emulate: stop the guest loudly, as an unimplemented API does."""
    from winhatch.kernel.ke.dispatcher import ProcessExit
    from winhatch.ntstatus import STATUS_NOT_IMPLEMENTED
    proc = c.proc
    where = proc.subsystem["images"].describe(c.cpu.read_ptr(c.cpu.sp))
    proc.subsystem.setdefault("unimplemented", []).append({"api": f"ws2_32!{c.name}", "caller": where,
                                                           "feature": what})
    proc.stop_message = f"unimplemented Winsock feature: {what} (in {c.name} called from {where})"
    raise ProcessExit(STATUS_NOT_IMPLEMENTED)


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


# ----------------------------------------------------------------------------------------- protocol catalogue
#: the base providers of Windows 10's catalogue for IPv4 (MSAFD Tcpip): (type, protocol, service flags,
#: catalog id, message size, name)
PROVIDER_ID = bytes.fromhex("a01a0fe78babcf118ca300805f48a192")   # {E70F1AA0-AB8B-11CF-8CA3-00805F48A192}
PROTOCOLS = [
    (SOCK_STREAM, IPPROTO_TCP, 0x20066, 1001, 0, "MSAFD Tcpip [TCP/IP]"),
    (SOCK_DGRAM, IPPROTO_UDP, 0x20609, 1002, 65527, "MSAFD Tcpip [UDP/IP]"),
]
PROTOCOL_INFO_W = 628
PROTOCOL_INFO_A = 372


def protocol_info(stype: int, wide: bool) -> bytes:
    """WSAPROTOCOL_INFOW/A of the base provider for the socket type."""
    for t, proto, flags1, cat, msg, name in PROTOCOLS:
        if t == stype:
            head = struct.pack("<IIIII", flags1, 0, 0, 0, 0x8) + PROVIDER_ID + struct.pack("<I", cat)
            chain = struct.pack("<i7I", 1, 0, 0, 0, 0, 0, 0, 0)
            tail = struct.pack("<iiiiiiiiiII", 2, AF_INET, 16, 16, t, proto, 0, 0, 0, msg, 0)
            text = name.encode("utf-16-le").ljust(512, b"\0") if wide else name.encode().ljust(256, b"\0")
            return head + chain + tail + text
    raise ValueError(stype)


@api(WS2, "int WINAPI WSAEnumProtocols%(LPINT lpiProtocols, LPWSAPROTOCOL_INFO lpProtocolBuffer, "
          "LPDWORD lpdwBufferLength)")
def WSAEnumProtocols(c, protocols, buf, plen):
    """The transport protocols installed: TCP and UDP over IPv4 (the base providers of MSAFD Tcpip), those
    whose protocol is in the zero-terminated lpiProtocols list when it is given."""
    if not A.started(c):
        return fail(c, WSANOTINITIALISED)
    if not plen:
        return fail(c, WSAEFAULT)
    wanted = None
    if protocols:
        wanted = set()
        for i in range(64):
            (p,) = struct.unpack("<i", c.read(protocols + 4 * i, 4))
            if p == 0:
                break
            wanted.add(p)
    infos = [protocol_info(t, c.wide) for t, proto, *_ in PROTOCOLS if wanted is None or proto in wanted]
    need = sum(len(i) for i in infos)
    have = struct.unpack("<I", c.read(plen, 4))[0]
    if not buf or have < need:
        c.write(plen, struct.pack("<I", need))
        return fail(c, 10055)    # WSAENOBUFS
    c.write(buf, b"".join(infos))
    return len(infos)


@api(WS2, "int WINAPI WSAGetLastError(void)")
def WSAGetLastError(c):
    """The thread's last error (Winsock keeps its errors there: WSAGetLastError is GetLastError)."""
    return c.last_error()


@api(WS2, "void WINAPI WSASetLastError(int iError)")
def WSASetLastError(c, err):
    c.set_last_error(err & 0xFFFFFFFF)


# ------------------------------------------------------------------------------------------------- sockets
def _new_socket(c, af, stype, proto, flags=0):
    if not A.started(c):
        c.set_last_error(WSANOTINITIALISED)
        return A.invalid_socket(c)
    af, stype, proto = af & 0xFFFFFFFF, stype & 0xFFFFFFFF, proto & 0xFFFFFFFF
    if af == AF_UNSPEC:
        af = AF_INET
    if af != AF_INET:
        c.set_last_error(WSAEAFNOSUPPORT)
        return A.invalid_socket(c)
    if stype == SOCK_RAW:
        c.set_last_error(A.WSAEACCES)
        return A.invalid_socket(c)
    if stype not in (SOCK_STREAM, SOCK_DGRAM):
        c.set_last_error(A.WSAESOCKTNOSUPPORT)
        return A.invalid_socket(c)
    if proto not in (0, IPPROTO_TCP, IPPROTO_UDP):
        c.set_last_error(A.WSAEPROTONOSUPPORT)
        return A.invalid_socket(c)
    if (stype == SOCK_STREAM and proto == IPPROTO_UDP) or (stype == SOCK_DGRAM and proto == IPPROTO_TCP):
        c.set_last_error(A.WSAEPROTOTYPE)
        return A.invalid_socket(c)
    st, h = A.create(c, af, stype, proto, flags)
    if st:
        c.set_last_error(A.wsa_error(st))
        return A.invalid_socket(c)
    c.set_last_error(0)
    return h


@api(WS2, "SOCKET WINAPI socket(int af, int type, int protocol)")
def socket(c, af, stype, proto):
    return _new_socket(c, af, stype, proto, WSA_FLAG_OVERLAPPED)


@api(WS2, "SOCKET WINAPI WSASocket%(int af, int type, int protocol, LPWSAPROTOCOL_INFO lpProtocolInfo, "
          "GROUP g, DWORD dwFlags)")
def WSASocket(c, af, stype, proto, info, group, flags):
    if info:
        size = PROTOCOL_INFO_W if c.wide else PROTOCOL_INFO_A
        raw = c.read(info, size)
        af, stype, proto = struct.unpack_from("<iiiii", raw, 72)[1], struct.unpack_from("<i", raw, 88)[0], \
            struct.unpack_from("<i", raw, 92)[0]
    if group:
        unsupported(c, "socket groups (g != 0)")
    return _new_socket(c, af, stype, proto, flags)


def _check(c, s) -> int | None:
    """WSANOTINITIALISED before WSAStartup (the error code), else None."""
    if not A.started(c):
        return WSANOTINITIALISED
    return None


def _call(c, s, code, inp=b"", outlen=0, **kw):
    return A.ioctl(c, s, code, inp, outlen, **kw)


@api(WS2, "int WINAPI closesocket(SOCKET s)")
def closesocket(c, s):
    if not A.started(c):
        return fail(c, WSANOTINITIALISED)
    st, _i, _o = _call(c, s, afd.IOCTL_WHAFD_GET_OPT, struct.pack("<II", afd.SOL_SOCKET, afd.SO_TYPE), 4)
    if st:
        return fail(c, WSAENOTSOCK)
    st = c.nt("NtClose", s)
    if st:
        return fail(c, WSAENOTSOCK)
    return 0


def _status_result(c, st, ok=0):
    if st:
        return fail(c, A.wsa_error(st))
    return ok


@api(WS2, "int WINAPI bind(SOCKET s, const struct sockaddr *name, int namelen)")
def bind(c, s, name, namelen):
    if not A.started(c):
        return fail(c, WSANOTINITIALISED)
    raw = A.sockaddr(c, name, namelen)
    if raw is None:
        return fail(c, WSAEFAULT)
    if struct.unpack_from("<H", raw)[0] != AF_INET:
        return fail(c, WSAEAFNOSUPPORT)
    st, _i, _o = _call(c, s, afd.IOCTL_WHAFD_BIND, raw, 16)
    return _status_result(c, st)


@api(WS2, "int WINAPI listen(SOCKET s, int backlog)")
def listen(c, s, backlog):
    if not A.started(c):
        return fail(c, WSANOTINITIALISED)
    st, _i, _o = _call(c, s, afd.IOCTL_WHAFD_LISTEN, struct.pack("<i", min(backlog & 0xFFFFFFFF, 0x7FFFFFFF)))
    return _status_result(c, st)


def _accept(c, s, addr, addrlen):
    if not A.started(c):
        c.set_last_error(WSANOTINITIALISED)
        return A.invalid_socket(c)
    if addr and (not addrlen or struct.unpack("<i", c.read(addrlen, 4))[0] < 16):
        c.set_last_error(WSAEFAULT)
        return A.invalid_socket(c)
    st, _i, out = _call(c, s, afd.IOCTL_WHAFD_ACCEPT, b"", 24)
    if st:
        c.set_last_error(A.wsa_error(st))
        return A.invalid_socket(c)
    (h,) = struct.unpack_from("<Q", out)
    if addr:
        c.write(addr, out[8:24])
        c.write(addrlen, struct.pack("<i", 16))
    c.set_last_error(0)
    return h


@api(WS2, "SOCKET WINAPI accept(SOCKET s, struct sockaddr *addr, int *addrlen)")
def accept(c, s, addr, addrlen):
    return _accept(c, s, addr, addrlen)


@api(WS2, "SOCKET WINAPI WSAAccept(SOCKET s, struct sockaddr *addr, LPINT addrlen, "
          "LPCONDITIONPROC lpfnCondition, DWORD_PTR dwCallbackData)")
def WSAAccept(c, s, addr, addrlen, cond, data):
    if cond:
        unsupported(c, "WSAAccept with a condition function")
    return _accept(c, s, addr, addrlen)


@api(WS2, "int WINAPI connect(SOCKET s, const struct sockaddr *name, int namelen)")
def connect(c, s, name, namelen):
    if not A.started(c):
        return fail(c, WSANOTINITIALISED)
    raw = A.sockaddr(c, name, namelen)
    if raw is None:
        return fail(c, WSAEFAULT)
    if struct.unpack_from("<H", raw)[0] != AF_INET:
        return fail(c, WSAEAFNOSUPPORT)
    st, _i, _o = _call(c, s, afd.IOCTL_WHAFD_CONNECT, raw)
    return _status_result(c, st)


@api(WS2, "int WINAPI WSAConnect(SOCKET s, const struct sockaddr *name, int namelen, LPWSABUF lpCallerData, "
          "LPWSABUF lpCalleeData, LPQOS lpSQOS, LPQOS lpGQOS)")
def WSAConnect(c, s, name, namelen, caller, callee, sqos, gqos):
    if caller or sqos or gqos:
        unsupported(c, "WSAConnect with connect data or QOS")
    return _connect_plain(c, s, name, namelen)


def _connect_plain(c, s, name, namelen):
    if not A.started(c):
        return fail(c, WSANOTINITIALISED)
    raw = A.sockaddr(c, name, namelen)
    if raw is None:
        return fail(c, WSAEFAULT)
    st, _i, _o = _call(c, s, afd.IOCTL_WHAFD_CONNECT, raw)
    return _status_result(c, st)


# -- data ---------------------------------------------------------------------------------------------------
def _send(c, s, buf, length, flags, to=None):
    if not A.started(c):
        return fail(c, WSANOTINITIALISED)
    if flags & afd.MSG_OOB:
        unsupported(c, "out-of-band data (MSG_OOB)")
    length &= 0xFFFFFFFF
    if length >= 0x80000000:
        return fail(c, WSAEFAULT)
    inp = struct.pack("<IIQ", flags & 0xFFFFFFFF, length, buf) + (to or b"")
    st, info, _o = _call(c, s, afd.IOCTL_WHAFD_SEND, inp)
    if st:
        return fail(c, A.wsa_error(st))
    return info


@api(WS2, "int WINAPI send(SOCKET s, const CHAR *buf, int len, int flags)")
def send(c, s, buf, length, flags):
    return _send(c, s, buf, length, flags)


@api(WS2, "int WINAPI sendto(SOCKET s, const CHAR *buf, int len, int flags, const struct sockaddr *to, "
          "int tolen)")
def sendto(c, s, buf, length, flags, to, tolen):
    dest = None
    if to:
        dest = A.sockaddr(c, to, tolen)
        if dest is None:
            return fail(c, WSAEFAULT)
    return _send(c, s, buf, length, flags, dest)


def _recv(c, s, buf, length, flags, from_addr=0, fromlen=0):
    if not A.started(c):
        return fail(c, WSANOTINITIALISED)
    if flags & afd.MSG_OOB:
        unsupported(c, "out-of-band data (MSG_OOB)")
    if from_addr and (not fromlen or struct.unpack("<i", c.read(fromlen, 4))[0] < 16):
        return fail(c, WSAEFAULT)
    length &= 0xFFFFFFFF
    if length >= 0x80000000:
        return fail(c, WSAEFAULT)
    inp = struct.pack("<IIQ", flags & 0xFFFFFFFF, length, buf)
    st, info, out = _call(c, s, afd.IOCTL_WHAFD_RECV, inp, 16)
    if st not in (0, afd.STATUS_BUFFER_OVERFLOW):
        return fail(c, A.wsa_error(st))
    if from_addr and out:
        c.write(from_addr, out[:16])
        c.write(fromlen, struct.pack("<i", 16))
    if st:
        return fail(c, A.WSAEMSGSIZE)
    return info


@api(WS2, "int WINAPI recv(SOCKET s, char *buf, int len, int flags)")
def recv(c, s, buf, length, flags):
    return _recv(c, s, buf, length, flags)


@api(WS2, "int WINAPI recvfrom(SOCKET s, char *buf, int len, int flags, struct sockaddr *from, int *fromlen)")
def recvfrom(c, s, buf, length, flags, frm, fromlen):
    return _recv(c, s, buf, length, flags, frm, fromlen)


def _wsabufs(c, bufs, count) -> list[tuple[int, int]]:
    size = 16 if c.ptr_size == 8 else 8
    out = []
    for i in range(min(count, 1024)):
        raw = c.read(bufs + i * size, size)
        n = struct.unpack_from("<I", raw)[0]
        p = int.from_bytes(raw[c.ptr_size:2 * c.ptr_size], "little")
        out.append((p, n))
    return out


def _overlapped_args(c, ov):
    """(event handle, ApcContext, IO_STATUS_BLOCK) of a request with an OVERLAPPED, as kernelbase passes them:
    the OVERLAPPED's Internal/InternalHigh are the IO_STATUS_BLOCK; an event whose low bit is set keeps the
    completion out of the port (ApcContext NULL)."""
    ev = c.ptr(ov + 2 * c.ptr_size + 8)     # OVERLAPPED.hEvent
    ctx = 0 if ev & 1 else ov
    return ev & ~1, ctx, ov


@api(WS2, "int WINAPI WSASend(SOCKET s, LPWSABUF lpBuffers, DWORD dwBufferCount, LPDWORD lpNumberOfBytesSent, "
          "DWORD dwFlags, LPWSAOVERLAPPED lpOverlapped, LPWSAOVERLAPPED_COMPLETION_ROUTINE lpCompletionRoutine)")
def WSASend(c, s, bufs, count, sent, flags, ov, routine):
    return _wsasend(c, s, bufs, count, sent, flags, ov, routine, None)


@api(WS2, "int WINAPI WSASendTo(SOCKET s, LPWSABUF lpBuffers, DWORD dwBufferCount, LPDWORD lpNumberOfBytesSent, "
          "DWORD dwFlags, const struct sockaddr *lpTo, int iTolen, LPWSAOVERLAPPED lpOverlapped, "
          "LPWSAOVERLAPPED_COMPLETION_ROUTINE lpCompletionRoutine)")
def WSASendTo(c, s, bufs, count, sent, flags, to, tolen, ov, routine):
    dest = None
    if to:
        dest = A.sockaddr(c, to, tolen)
        if dest is None:
            return fail(c, WSAEFAULT)
    return _wsasend(c, s, bufs, count, sent, flags, ov, routine, dest)


def _wsasend(c, s, bufs, count, sent, flags, ov, routine, dest):
    if not A.started(c):
        return fail(c, WSANOTINITIALISED)
    if routine:
        unsupported(c, "a completion routine")
    parts = _wsabufs(c, bufs, count)
    if len(parts) == 1:
        buf, n = parts[0]
    else:
        data = b"".join(c.read(p, n) for p, n in parts if n)
        buf = c.stack_alloc(max(len(data), 1), 8)
        c.write(buf, data)
        n = len(data)
    inp = struct.pack("<IIQ", flags & 0xFFFFFFFF, n, buf) + (dest or b"")
    if ov:
        ev, ctx, iosb = _overlapped_args(c, ov)
        st, info, _o = A.ioctl(c, s, afd.IOCTL_WHAFD_SEND, inp, event=ev, apc_ctx=ctx, iosb=iosb)
    else:
        st, info, _o = A.ioctl(c, s, afd.IOCTL_WHAFD_SEND, inp)
    if st == afd.STATUS_PENDING:
        return fail(c, A.WSA_IO_PENDING)
    if st:
        return fail(c, A.wsa_error(st))
    if sent:
        c.write(sent, struct.pack("<I", info))
    c.set_last_error(0)
    return 0


@api(WS2, "int WINAPI WSARecv(SOCKET s, LPWSABUF lpBuffers, DWORD dwBufferCount, LPDWORD lpNumberOfBytesRecvd, "
          "LPDWORD lpFlags, LPWSAOVERLAPPED lpOverlapped, LPWSAOVERLAPPED_COMPLETION_ROUTINE lpCompletionRoutine)")
def WSARecv(c, s, bufs, count, got, lpflags, ov, routine):
    return _wsarecv(c, s, bufs, count, got, lpflags, ov, routine, 0, 0)


@api(WS2, "int WINAPI WSARecvFrom(SOCKET s, LPWSABUF lpBuffers, DWORD dwBufferCount, "
          "LPDWORD lpNumberOfBytesRecvd, LPDWORD lpFlags, struct sockaddr *lpFrom, LPINT lpFromlen, "
          "LPWSAOVERLAPPED lpOverlapped, LPWSAOVERLAPPED_COMPLETION_ROUTINE lpCompletionRoutine)")
def WSARecvFrom(c, s, bufs, count, got, lpflags, frm, fromlen, ov, routine):
    return _wsarecv(c, s, bufs, count, got, lpflags, ov, routine, frm, fromlen)


def _wsarecv(c, s, bufs, count, got, lpflags, ov, routine, frm, fromlen):
    if not A.started(c):
        return fail(c, WSANOTINITIALISED)
    if routine:
        unsupported(c, "a completion routine")
    if not lpflags:
        return fail(c, WSAEFAULT)
    flags = struct.unpack("<I", c.read(lpflags, 4))[0]
    parts = _wsabufs(c, bufs, count)
    if not parts:
        return fail(c, WSAEINVAL)
    if len(parts) > 1:
        if ov:
            unsupported(c, "an overlapped receive into several buffers")
        total = sum(n for _p, n in parts)
        buf = c.stack_alloc(max(total, 1), 8)
    else:
        buf, total = parts[0]
    if frm and ov:
        unsupported(c, "an overlapped WSARecvFrom")
    inp = struct.pack("<IIQ", flags, total, buf)
    if ov:
        ev, ctx, iosb = _overlapped_args(c, ov)
        st, info, out = A.ioctl(c, s, afd.IOCTL_WHAFD_RECV, inp, 0, event=ev, apc_ctx=ctx, iosb=iosb)
    else:
        st, info, out = A.ioctl(c, s, afd.IOCTL_WHAFD_RECV, inp, 16)
    if st == afd.STATUS_PENDING:
        return fail(c, A.WSA_IO_PENDING)
    if st not in (0, afd.STATUS_BUFFER_OVERFLOW):
        return fail(c, A.wsa_error(st))
    if len(parts) > 1:
        data = c.read(buf, info)
        pos = 0
        for p, n in parts:
            k = min(n, len(data) - pos)
            if k > 0:
                c.write(p, data[pos:pos + k])
            pos += max(k, 0)
    if frm and out:
        c.write(frm, out[:16])
        if fromlen:
            c.write(fromlen, struct.pack("<i", 16))
    if got:
        c.write(got, struct.pack("<I", info))
    c.write(lpflags, struct.pack("<I", 0))
    if st:
        return fail(c, A.WSAEMSGSIZE)
    c.set_last_error(0)
    return 0


@api(WS2, "BOOL WINAPI WSAGetOverlappedResult(SOCKET s, LPWSAOVERLAPPED lpOverlapped, LPDWORD lpcbTransfer, "
          "BOOL fWait, LPDWORD lpdwFlags)")
def WSAGetOverlappedResult(c, s, ov, transfer, wait, lpflags):
    st = c.ptr(ov) & 0xFFFFFFFF
    if st == afd.STATUS_PENDING:
        if not wait:
            c.set_last_error(996)   # WSA_IO_INCOMPLETE
            return 0
        from winhatch.kernel.ke import wait as kwait
        ev = c.ptr(ov + 2 * c.ptr_size + 8) & ~1
        target = ev or s
        obj = c.proc.handles.lookup(target, None, 0, current_process=c.proc, current_thread=c.thread)
        kwait.wait_for(c, [obj], False, kwait.INFINITE, reason="WSAGetOverlappedResult")
        st = c.ptr(ov) & 0xFFFFFFFF
    info = c.ptr(ov + c.ptr_size)
    if transfer:
        c.write(transfer, struct.pack("<I", info & 0xFFFFFFFF))
    if lpflags:
        c.write(lpflags, struct.pack("<I", 0))
    if st:
        c.set_last_error(A.wsa_error(st))
        return 0
    return 1


# -- select / poll ------------------------------------------------------------------------------------------
READ_EVENTS = afd.POLL_RECEIVE | afd.POLL_ACCEPT | afd.POLL_DISCONNECT | afd.POLL_ABORT
WRITE_EVENTS = afd.POLL_SEND | afd.POLL_CONNECT
EXCEPT_EVENTS = afd.POLL_CONNECT_FAIL


def _fdset_read(c, p) -> list[int]:
    if not p:
        return []
    (n,) = struct.unpack("<I", c.read(p, 4))
    base = p + (8 if c.ptr_size == 8 else 4)
    n = min(n, 1024)
    return [c.ptr(base + i * c.ptr_size) for i in range(n)]


def _fdset_write(c, p, socks: list[int]) -> None:
    if not p:
        return
    c.write(p, struct.pack("<I", len(socks)))
    base = p + (8 if c.ptr_size == 8 else 4)
    for i, s in enumerate(socks):
        c.write_ptr(base + i * c.ptr_size, s)


def _poll(c, entries: list[tuple[int, int]], timeout_100ns: int) -> tuple[int, list[int]]:
    """IOCTL_WHAFD_POLL over the handles: (status, revents per entry)."""
    first = entries[0][0]
    inp = struct.pack("<qII", timeout_100ns, len(entries), 0) + b"".join(
        struct.pack("<QII", h, ev, 0) for h, ev in entries)
    st, _info, out = A.ioctl(c, first, afd.IOCTL_WHAFD_POLL, inp, len(inp))
    if st:
        return st, []
    return 0, [struct.unpack_from("<QII", out, 16 + 16 * i)[2] for i in range(len(entries))]


@api(WS2, "int WINAPI select(int nfds, fd_set *readfds, fd_set *writefds, fd_set *exceptfds, "
          "const struct timeval *timeout)")
def select(c, nfds, rfds, wfds, xfds, timeout):
    if not A.started(c):
        return fail(c, WSANOTINITIALISED)
    sets = [_fdset_read(c, rfds), _fdset_read(c, wfds), _fdset_read(c, xfds)]
    masks = [READ_EVENTS, WRITE_EVENTS, EXCEPT_EVENTS]
    if not any(sets):
        return fail(c, WSAEINVAL)
    if timeout:
        sec, usec = struct.unpack("<ii", c.read(timeout, 8))
        t = max(0, sec) * 10_000_000 + max(0, usec) * 10
    else:
        t = -1
    want: dict[int, int] = {}
    for lst, m in zip(sets, masks):
        for s in lst:
            want[s] = want.get(s, 0) | m
    handles = list(want)
    st, rev = _poll(c, [(h, want[h]) for h in handles], t)
    if st:
        return fail(c, WSAENOTSOCK if st in (afd.STATUS_INVALID_HANDLE, 0xC0000024) else A.wsa_error(st))
    got = dict(zip(handles, rev))
    total = 0
    for p, lst, m in zip((rfds, wfds, xfds), sets, masks):
        ready = [s for s in lst if got.get(s, 0) & m]
        _fdset_write(c, p, ready)
        total += len(ready)
    return total


@api(WS2, "int WINAPI __WSAFDIsSet(SOCKET fd, fd_set *set)")
def WSAFDIsSet(c, s, p):
    return 1 if s in _fdset_read(c, p) else 0


POLLRDNORM, POLLRDBAND, POLLPRI, POLLWRNORM, POLLWRBAND = 0x100, 0x200, 0x400, 0x10, 0x20
POLLERR, POLLHUP, POLLNVAL = 0x1, 0x2, 0x4


@api(WS2, "int WINAPI WSAPoll(LPWSAPOLLFD fdArray, ULONG fds, INT timeout)")
def WSAPoll(c, arr, n, timeout):
    if not A.started(c):
        return fail(c, WSANOTINITIALISED)
    size = 16 if c.ptr_size == 8 else 8
    if not arr or n == 0 or n > 4096:
        return fail(c, WSAEINVAL)
    items = []
    for i in range(n):
        raw = c.read(arr + i * size, size)
        s = int.from_bytes(raw[:c.ptr_size], "little")
        (ev,) = struct.unpack_from("<h", raw, c.ptr_size)
        items.append((s, ev & 0xFFFF))
    if any(ev & ~(POLLRDNORM | POLLRDBAND | POLLPRI | POLLWRNORM | POLLWRBAND) for _s, ev in items):
        return fail(c, WSAEINVAL)
    valid = []
    nval = set()
    for s, ev in items:
        st, _i, _o = _call(c, s, afd.IOCTL_WHAFD_GET_OPT, struct.pack("<II", afd.SOL_SOCKET, afd.SO_TYPE), 4)
        if st:
            nval.add(s)
        else:
            m = (READ_EVENTS if ev & (POLLRDNORM | POLLRDBAND) else 0) | (WRITE_EVENTS if ev & POLLWRNORM else 0)
            valid.append((s, m | afd.POLL_DISCONNECT | afd.POLL_CONNECT_FAIL))
    t = -1 if timeout < 0 else timeout * 10_000
    got = {}
    if valid:
        st, rev = _poll(c, valid, 0 if nval else t)
        if st:
            return fail(c, A.wsa_error(st))
        got = {s: r for (s, _m), r in zip(valid, rev)}
    count = 0
    for i, (s, ev) in enumerate(items):
        r = 0
        if s in nval:
            r = POLLNVAL
        else:
            a = got.get(s, 0)
            if a & (afd.POLL_RECEIVE | afd.POLL_ACCEPT) and ev & POLLRDNORM:
                r |= POLLRDNORM
            if a & afd.POLL_SEND and ev & POLLWRNORM:
                r |= POLLWRNORM
            if a & afd.POLL_DISCONNECT:
                r |= POLLHUP
            if a & afd.POLL_CONNECT_FAIL:
                r |= POLLERR | POLLHUP
        c.write(arr + i * size + c.ptr_size + 2, struct.pack("<H", r))
        if r:
            count += 1
    return count


# -- control and options --------------------------------------------------------------------------------------
SIOCATMARK = 0x40047307


@api(WS2, "int WINAPI ioctlsocket(SOCKET s, long cmd, u_long *argp)")
def ioctlsocket(c, s, cmd, argp):
    if not A.started(c):
        return fail(c, WSANOTINITIALISED)
    cmd &= 0xFFFFFFFF
    if not argp:
        return fail(c, WSAEFAULT)
    if cmd == afd.FIONBIO:
        st, _i, _o = _call(c, s, afd.IOCTL_WHAFD_SET_OPT, struct.pack("<II", afd.LEVEL_IOCTL, cmd) + c.read(argp, 4))
        return _status_result(c, st if st not in (afd.STATUS_INVALID_DEVICE_REQUEST, afd.STATUS_INVALID_HANDLE,
                                                  0xC0000024) else afd.STATUS_INVALID_HANDLE)
    if cmd == afd.FIONREAD:
        st, _i, out = _call(c, s, afd.IOCTL_WHAFD_GET_OPT, struct.pack("<II", afd.LEVEL_IOCTL, cmd), 4)
        if st:
            return fail(c, A.wsa_error(st))
        c.write(argp, out[:4])
        return 0
    if cmd == SIOCATMARK:
        st, _i, _o = _call(c, s, afd.IOCTL_WHAFD_GET_OPT, struct.pack("<II", afd.SOL_SOCKET, afd.SO_TYPE), 4)
        if st:
            return fail(c, A.wsa_error(st))
        c.write(argp, struct.pack("<I", 1))   # no out-of-band data is ever pending
        return 0
    return fail(c, WSAEINVAL)


SIO_GET_EXTENSION_FUNCTION_POINTER = 0xC8000006
SIO_BASE_HANDLE = 0x48000022
SIO_BSP_HANDLE, SIO_BSP_HANDLE_SELECT, SIO_BSP_HANDLE_POLL = 0x4800001B, 0x4800001C, 0x4800001D
SIO_LOOPBACK_FAST_PATH = 0x98000010
#: the extension functions by GUID (mswsock.h), served by functions of ws2_32 (winhatch.win32.ws2_32.mswsock)
EXTENSIONS = {
    "b5367df1-cbac-11cf-95ca-00805f48a192": "AcceptEx",
    "25a207b9-ddf3-4660-8ee9-76e58c74063e": "ConnectEx",
    "7fda2e11-8630-436f-a031-f536a6eec157": "DisconnectEx",
    "b5367df2-cbac-11cf-95ca-00805f48a192": "GetAcceptExSockaddrs",
    "b5367df0-cbac-11cf-95ca-00805f48a192": "TransmitFile",
    "d9689da0-1f90-11d3-9971-00c04f68c876": "TransmitPackets",
    "f689d7c8-6f1f-436b-8a53-e54fe351c322": "WSARecvMsg",
    "a441e712-754f-43ca-84a7-0dee44cf606d": "WSASendMsg",
}


def _guid(raw: bytes) -> str:
    import uuid
    return str(uuid.UUID(bytes_le=raw[:16]))


@api(WS2, "int WINAPI WSAIoctl(SOCKET s, DWORD dwIoControlCode, LPVOID lpvInBuffer, DWORD cbInBuffer, "
          "LPVOID lpvOutBuffer, DWORD cbOutBuffer, LPDWORD lpcbBytesReturned, LPWSAOVERLAPPED lpOverlapped, "
          "LPWSAOVERLAPPED_COMPLETION_ROUTINE lpCompletionRoutine)")
def WSAIoctl(c, s, code, inb, inlen, outb, outlen, returned, ov, routine):
    if not A.started(c):
        return fail(c, WSANOTINITIALISED)
    st, _i, _o = _call(c, s, afd.IOCTL_WHAFD_GET_OPT, struct.pack("<II", afd.SOL_SOCKET, afd.SO_TYPE), 4)
    if st:
        return fail(c, WSAENOTSOCK)
    if routine:
        unsupported(c, "WSAIoctl with a completion routine")

    def done(data: bytes) -> int:
        if outlen < len(data) or not outb:
            return fail(c, WSAEFAULT)
        c.write(outb, data)
        if returned:
            c.write(returned, struct.pack("<I", len(data)))
        c.set_last_error(0)
        return 0

    if code == SIO_GET_EXTENSION_FUNCTION_POINTER:
        if inlen < 16 or not inb:
            return fail(c, WSAEFAULT)
        name = EXTENSIONS.get(_guid(c.read(inb, 16)))
        if name is None:
            return fail(c, WSAEINVAL)
        from winhatch.win32.ws2_32 import mswsock
        va = mswsock.extension_address(c, name)
        return done(va.to_bytes(c.ptr_size, "little"))
    if code in (SIO_BASE_HANDLE, SIO_BSP_HANDLE, SIO_BSP_HANDLE_SELECT, SIO_BSP_HANDLE_POLL):
        return done(s.to_bytes(c.ptr_size, "little"))   # no layered provider: the socket is its own base
    if code == afd.FIONBIO:
        if inlen < 4 or not inb:
            return fail(c, WSAEFAULT)
        st, _i, _o = _call(c, s, afd.IOCTL_WHAFD_SET_OPT, struct.pack("<II", afd.LEVEL_IOCTL, code) + c.read(inb, 4))
        if st:
            return fail(c, A.wsa_error(st))
        if returned:
            c.write(returned, struct.pack("<I", 0))
        return 0
    if code == afd.FIONREAD:
        st, _i, out = _call(c, s, afd.IOCTL_WHAFD_GET_OPT, struct.pack("<II", afd.LEVEL_IOCTL, code), 4)
        if st:
            return fail(c, A.wsa_error(st))
        return done(out[:4])
    unsupported(c, f"WSAIoctl control code {code:#x}")


@api(WS2, "int WINAPI setsockopt(SOCKET s, int level, int optname, const CHAR *optval, int optlen)")
def setsockopt(c, s, level, name, val, vlen):
    if not A.started(c):
        return fail(c, WSANOTINITIALISED)
    vlen &= 0xFFFFFFFF
    if vlen >= 0x80000000 or (vlen and not val):
        return fail(c, WSAEFAULT)
    if level & 0xFFFFFFFF == afd.SOL_SOCKET and name in (SO_PROTOCOL_INFOA, SO_PROTOCOL_INFOW):
        return fail(c, A.WSAENOPROTOOPT)
    value = c.read(val, min(vlen, 64)) if vlen else b""
    st, _i, _o = _call(c, s, afd.IOCTL_WHAFD_SET_OPT, struct.pack("<II", level & 0xFFFFFFFF, name & 0xFFFFFFFF) + value)
    if st == afd.STATUS_INVALID_PARAMETER and level == afd.SOL_SOCKET:
        return fail(c, A.WSAENOPROTOOPT)
    return _status_result(c, st)


@api(WS2, "int WINAPI getsockopt(SOCKET s, int level, int optname, char *optval, int *optlen)")
def getsockopt(c, s, level, name, val, plen):
    if not A.started(c):
        return fail(c, WSANOTINITIALISED)
    if not plen or not val:
        return fail(c, WSAEFAULT)
    (have,) = struct.unpack("<i", c.read(plen, 4))
    level &= 0xFFFFFFFF
    name &= 0xFFFFFFFF
    if level == afd.SOL_SOCKET and name in (SO_PROTOCOL_INFOA, SO_PROTOCOL_INFOW):
        st, _i, out = _call(c, s, afd.IOCTL_WHAFD_GET_OPT, struct.pack("<II", afd.SOL_SOCKET, afd.SO_TYPE), 4)
        if st:
            return fail(c, A.wsa_error(st))
        data = protocol_info(struct.unpack("<I", out)[0], name == SO_PROTOCOL_INFOW)
    else:
        st, info, out = _call(c, s, afd.IOCTL_WHAFD_GET_OPT, struct.pack("<II", level, name), 64)
        if st == afd.STATUS_NOT_SUPPORTED:
            return fail(c, A.WSAENOPROTOOPT)
        if st:
            return fail(c, A.wsa_error(st))
        data = out[:info]
    if have < len(data):
        return fail(c, WSAEFAULT)
    c.write(val, data)
    c.write(plen, struct.pack("<i", len(data)))
    return 0


def _name(c, s, addr, plen, which):
    if not A.started(c):
        return fail(c, WSANOTINITIALISED)
    if not addr or not plen or struct.unpack("<i", c.read(plen, 4))[0] < 16:
        return fail(c, WSAEFAULT)
    st, _i, out = _call(c, s, afd.IOCTL_WHAFD_GET_NAME, struct.pack("<I", which), 16)
    if st:
        return fail(c, A.wsa_error(st))
    c.write(addr, out)
    c.write(plen, struct.pack("<i", 16))
    return 0


@api(WS2, "int WINAPI getsockname(SOCKET s, struct sockaddr *name, int *namelen)")
def getsockname(c, s, addr, plen):
    return _name(c, s, addr, plen, 0)


@api(WS2, "int WINAPI getpeername(SOCKET s, struct sockaddr *name, int *namelen)")
def getpeername(c, s, addr, plen):
    return _name(c, s, addr, plen, 1)


@api(WS2, "int WINAPI shutdown(SOCKET s, int how)")
def shutdown(c, s, how):
    if not A.started(c):
        return fail(c, WSANOTINITIALISED)
    st, _i, _o = _call(c, s, afd.IOCTL_WHAFD_SHUTDOWN, struct.pack("<I", how & 0xFFFFFFFF))
    return _status_result(c, st)
