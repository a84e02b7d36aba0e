"""The sockets driver (\\Device\\Afd): a socket is a FILE_OBJECT on \\Device\\Afd\\Endpoint in the process's
handle table, and every operation is an NtDeviceIoControlFile on its handle, as mswsock/ws2_32 drive AFD on
Windows.

The control codes and buffers are winhatch's own, simpler than AFD's (whose TDI address and WSABUF-array layouts
are undocumented): CTL_CODE(FILE_DEVICE_NETWORK, 0x800 + n, METHOD_NEITHER, FILE_ANY_ACCESS), the buffers
packed little-endian with pointers and handles as 64-bit fields in both architectures, addresses as the
guest's SOCKADDR_IN bytes:

    IOCTL_WHAFD_BIND      in: SOCKADDR                           out: the bound SOCKADDR (16 bytes, optional)
    IOCTL_WHAFD_CONNECT   in: SOCKADDR
    IOCTL_WHAFD_LISTEN    in: ULONG Backlog
    IOCTL_WHAFD_ACCEPT    out: ULONG64 NewHandle, SOCKADDR Peer (16)
    IOCTL_WHAFD_SEND      in: ULONG Flags, ULONG Length, ULONG64 Buffer [, SOCKADDR To]   Information: bytes sent
    IOCTL_WHAFD_RECV      in: ULONG Flags, ULONG Length, ULONG64 Buffer   out: SOCKADDR From (16, optional)
                          Information: bytes received
    IOCTL_WHAFD_POLL      in: LONG64 Timeout (100 ns; -1: none), ULONG Count, ULONG pad,
                              Count x {ULONG64 Handle, ULONG Events, ULONG REvents}
                          out: the same array with REvents set; Information: the entries with events
    IOCTL_WHAFD_SET_OPT   in: ULONG Level, ULONG Name, value bytes
    IOCTL_WHAFD_GET_OPT   in: ULONG Level, ULONG Name   out: value bytes; Information: their length
    IOCTL_WHAFD_GET_NAME  in: ULONG Which (0: local, 1: peer)   out: SOCKADDR (16)
    IOCTL_WHAFD_SHUTDOWN  in: ULONG How (SD_RECEIVE 0, SD_SEND 1, SD_BOTH 2)
    IOCTL_WHAFD_EVENT_SELECT  in: ULONG64 Event (0: none), ULONG NetworkEvents (FD_*): WSAEventSelect
    IOCTL_WHAFD_ENUM_EVENTS   in: ULONG64 Event to reset (0: none)   out: WSANETWORKEVENTS {LONG Events,
                          INT ErrorCode[10]}: the events recorded since the last call (WSAEnumNetworkEvents)

WSAEventSelect's events are recorded as Windows documents them: FD_READ / FD_ACCEPT once until the next
recv / accept, FD_WRITE after a connection is made (or at the call when the socket can send), FD_CONNECT once
with the connection's result, FD_CLOSE once when the other end closed; the event is set when one is recorded.

A socket is created by NtCreateFile on \\Device\\Afd\\Endpoint with one extended attribute named
"AfdOpenPacketXX" whose value is {ULONG AddressFamily, SocketType, Protocol, Flags}.

Blocking: a request with neither an event nor an APC context (the blocking ws2_32 calls) waits in the
scheduler when it cannot complete (the caller's handler runs again when the socket is ready); with an event or
an APC context (overlapped: WSARecv with an OVERLAPPED, a completion port) a receive or an accept that cannot
complete is pending (an Irp) and completes when data or a connection arrives; a non-blocking socket (FIONBIO)
fails with STATUS_CANT_WAIT (WSAEWOULDBLOCK).
"""
from __future__ import annotations

import socket as _pysocket
import struct
from collections import deque

from winhatch.kernel.fileobj import FILE_TYPE_PIPE
from winhatch.kernel.io import completion as io
from winhatch.kernel.ke import wait as kwait
from winhatch.kernel.ke.services import user_read, user_write
from winhatch.kernel.net import internet as inet
from winhatch.kernel.ob import KObject
from winhatch.ntstatus import NtStatusError

STATUS_SUCCESS = 0
STATUS_PENDING = 0x103
STATUS_BUFFER_OVERFLOW = 0x80000005
STATUS_INVALID_HANDLE = 0xC0000008
STATUS_INVALID_PARAMETER = 0xC000000D
STATUS_BUFFER_TOO_SMALL = 0xC0000023
STATUS_NOT_SUPPORTED = 0xC00000BB
STATUS_CANT_WAIT = 0xC00000D8
STATUS_INVALID_CONNECTION = 0xC0000140
STATUS_INVALID_ADDRESS_COMPONENT = 0xC0000207
STATUS_ADDRESS_ALREADY_EXISTS = 0xC000020A
STATUS_CONNECTION_ACTIVE = 0xC000023B
STATUS_CONNECTION_REFUSED = 0xC0000236
STATUS_CONNECTION_RESET = 0xC000020D
STATUS_LOCAL_DISCONNECT = 0xC000013B
STATUS_HOST_UNREACHABLE = 0xC000023D
STATUS_IO_TIMEOUT = 0xC00000B5
STATUS_INVALID_DEVICE_REQUEST = 0xC0000010

FILE_DEVICE_NETWORK = 0x12


def _ctl(n: int) -> int:
    return (FILE_DEVICE_NETWORK << 16) | ((0x800 + n) << 2) | 3


IOCTL_WHAFD_BIND, IOCTL_WHAFD_CONNECT, IOCTL_WHAFD_LISTEN, IOCTL_WHAFD_ACCEPT = _ctl(0), _ctl(1), _ctl(2), _ctl(3)
IOCTL_WHAFD_SEND, IOCTL_WHAFD_RECV, IOCTL_WHAFD_POLL = _ctl(4), _ctl(5), _ctl(6)
IOCTL_WHAFD_SET_OPT, IOCTL_WHAFD_GET_OPT, IOCTL_WHAFD_GET_NAME, IOCTL_WHAFD_SHUTDOWN = _ctl(7), _ctl(8), _ctl(9), _ctl(10)
IOCTL_WHAFD_EVENT_SELECT, IOCTL_WHAFD_ENUM_EVENTS = _ctl(11), _ctl(12)
FD_READ, FD_WRITE, FD_OOB, FD_ACCEPT, FD_CONNECT, FD_CLOSE = 0x1, 0x2, 0x4, 0x8, 0x10, 0x20
FD_BITS = (FD_READ, FD_WRITE, FD_OOB, FD_ACCEPT, FD_CONNECT, FD_CLOSE)

AF_INET, AF_INET6 = 2, 23
SOCK_STREAM, SOCK_DGRAM, SOCK_RAW = 1, 2, 3
IPPROTO_TCP, IPPROTO_UDP = 6, 17
MSG_OOB, MSG_PEEK, MSG_WAITALL = 0x1, 0x2, 0x8

# AFD_POLL_* bits
POLL_RECEIVE, POLL_SEND, POLL_DISCONNECT, POLL_ABORT = 0x1, 0x4, 0x8, 0x10
POLL_LOCAL_CLOSE, POLL_CONNECT, POLL_ACCEPT, POLL_CONNECT_FAIL = 0x20, 0x40, 0x80, 0x100

# option levels and names (ws2def.h / winsock2.h)
SOL_SOCKET = 0xFFFF
LEVEL_IOCTL = 0x7F000000      # winhatch's: ioctlsocket's commands
FIONBIO, FIONREAD = 0x8004667E, 0x4004667F
SO_DEBUG, SO_ACCEPTCONN, SO_REUSEADDR, SO_KEEPALIVE = 0x1, 0x2, 0x4, 0x8
SO_DONTROUTE, SO_BROADCAST, SO_LINGER, SO_OOBINLINE = 0x10, 0x20, 0x80, 0x100
SO_SNDBUF, SO_RCVBUF, SO_SNDTIMEO, SO_RCVTIMEO, SO_ERROR, SO_TYPE = 0x1001, 0x1002, 0x1005, 0x1006, 0x1007, 0x1008
SO_EXCLUSIVEADDRUSE = 0xFFFFFFFB

MAX_DGRAM = 65507
MAX_BACKLOG = 200
MAX_RX = 1 << 24              # what a stream socket buffers before the peer's sends stop being accepted


def sockaddr_in(ip: str, port: int) -> bytes:
    return struct.pack("<H", AF_INET) + struct.pack(">H", port) + _pysocket.inet_aton(ip) + bytes(8)


def parse_sockaddr(raw: bytes) -> tuple[str, int]:
    if len(raw) < 16:
        raise NtStatusError(STATUS_INVALID_PARAMETER, "a SOCKADDR shorter than 16 bytes")
    (fam,) = struct.unpack_from("<H", raw)
    if fam != AF_INET:
        raise NtStatusError(0xC0000207 if fam else STATUS_INVALID_PARAMETER, f"address family {fam}")
    (port,) = struct.unpack_from(">H", raw, 2)
    return _pysocket.inet_ntoa(raw[4:8]), port


class Ready:
    """A waitable condition on an endpoint (what a blocked call waits for)."""

    def __init__(self, ep: "Endpoint", mask: int):
        self.ep, self.mask = ep, mask

    def is_signaled_for(self, thread) -> bool:
        return bool(self.ep.poll() & self.mask)

    def describe(self) -> str:
        return f"socket {self.ep.describe()} ({'read' if self.mask & (POLL_RECEIVE | POLL_ACCEPT) else 'write'})"


class Endpoint(KObject):
    """A socket (AFD's endpoint): its addresses, state, buffers and the far end."""
    type_name = "File"
    file_type = FILE_TYPE_PIPE

    def __init__(self, machine, family: int, stype: int, protocol: int):
        super().__init__(name="\\Device\\Afd\\Endpoint")
        self.machine = machine
        self.net = inet.internet_of(machine)
        self.family, self.stype, self.protocol = family, stype, protocol
        self.proto = "tcp" if stype == SOCK_STREAM else "udp"
        self.synchronous = False
        self.io_signalled = True
        self.local: tuple[str, int] | None = None
        self.remote: tuple[str, int] | None = None
        self.state = "open"          # open | listening | connected | refused | closed
        self.nonblocking = False
        self.rx = bytearray()
        self.rx_dgrams: deque[tuple[tuple[str, int], bytes]] = deque()
        self.rx_eof = False          # the far end closed (or the responder finished)
        self.shut_rd = self.shut_wr = False
        self.peer: "Endpoint | None" = None
        self.side = 0                # 0: the connecting end of `flow`, 1: the accepting end
        self.responder = None
        self.host_sock = None
        self.flow = None
        self.backlog: deque[Endpoint] = deque()
        self.max_backlog = 0
        self.so_error = 0
        self.options: dict[tuple[int, int], bytes] = {}
        self.irps: list = []         # pending overlapped requests: (irp, kind, params)
        self.deferred_kick: list = []   # endpoints a send gave data to: their requests complete after it
        self.ev_event = None         # WSAEventSelect: the Event (referenced), the FD_* mask, what is recorded
        self.ev_mask = 0
        self.ev_pending = 0
        self.ev_errors: dict[int, int] = {}
        self.ev_reported = 0         # FD_* recorded and not re-enabled since
        self.ev_write_armed = False
        self.ev_connect = 0          # a connect finished: 1 made, 2 refused (FD_CONNECT not yet recorded)

    # -- naming ----------------------------------------------------------------------------------------------
    def describe(self) -> str:
        loc = f"{self.local[0]}:{self.local[1]}" if self.local else "unbound"
        rem = f" -> {self.remote[0]}:{self.remote[1]}" if self.remote else ""
        return f"{self.proto} {loc}{rem}"

    def is_signaled_for(self, thread) -> bool:
        return self.io_signalled

    # -- addresses -------------------------------------------------------------------------------------------
    def bind(self, ip: str, port: int) -> int:
        if self.local is not None:
            return STATUS_INVALID_PARAMETER
        if ip not in ("0.0.0.0", self.net.ip) and not inet.is_loopback(ip):
            return STATUS_INVALID_ADDRESS_COMPONENT
        if port == 0:
            port = self.net.ephemeral_port(self.proto)
            if not port:
                return 0xC0000206   # STATUS_TOO_MANY_ADDRESSES
        elif (self.proto, port) in self.net.ports:
            return STATUS_ADDRESS_ALREADY_EXISTS
        self.net.ports[(self.proto, port)] = self
        self.local = (ip, port)
        return STATUS_SUCCESS

    def _implicit_bind(self, toward: str) -> None:
        if self.local is None:
            self.bind("0.0.0.0", 0)
        if self.local[0] == "0.0.0.0":
            self.local = ("127.0.0.1" if inet.is_loopback(toward) else self.net.ip, self.local[1])

    def _release_port(self) -> None:
        if self.local is not None and self.net.ports.get((self.proto, self.local[1])) is self:
            del self.net.ports[(self.proto, self.local[1])]

    # -- connections -----------------------------------------------------------------------------------------
    def listen(self, backlog: int) -> int:
        if self.stype != SOCK_STREAM:
            return STATUS_NOT_SUPPORTED
        if self.local is None or self.state == "connected":
            return STATUS_INVALID_PARAMETER
        self.state = "listening"
        self.max_backlog = max(1, min(backlog if backlog > 0 else 1, MAX_BACKLOG))
        return STATUS_SUCCESS

    def connect(self, ip: str, port: int) -> int:
        if self.state == "listening":
            return STATUS_INVALID_PARAMETER
        if self.stype != SOCK_STREAM:
            if ip == "0.0.0.0" and port == 0:
                self.remote = None
                return STATUS_SUCCESS
            self._implicit_bind(ip)
            self.remote = (ip, port)
            return STATUS_SUCCESS
        if self.state == "connected":
            return STATUS_CONNECTION_ACTIVE
        if ip == "0.0.0.0" or port == 0:
            return STATUS_INVALID_ADDRESS_COMPONENT
        self._implicit_bind(ip)
        self.remote = (ip, port)
        cap = self.net.capture
        local_target = inet.is_loopback(ip) or ip == self.net.ip
        lst = self.net.ports.get(("tcp", port)) if local_target else None
        if local_target and self.net.mode == "host" and (lst is None or lst.state != "listening"):
            return self._connect_host(ip, port)     # a server of the host's own loopback
        if local_target:
            self.flow = cap.tcp_open(self.local, (ip, port), None, "guest")
            if lst is None or lst.state != "listening" or len(lst.backlog) >= lst.max_backlog:
                cap.tcp_refused(self.flow)
                return self._refused()
            srv = Endpoint(self.machine, self.family, self.stype, self.protocol)
            srv.local = (ip, port)
            srv.remote = self.local
            srv.state = "connected"
            srv.peer, self.peer = self, srv
            srv.flow, srv.side = self.flow, 1
            cap.tcp_accepted(self.flow)
            self.state = "connected"
            self.ev_connect = 1
            srv.ev_write_armed = True
            lst.backlog.append(srv)
            lst.kick()
            self.machine.dispatcher.signal_waiters()
            return STATUS_SUCCESS
        if self.net.mode == "host":
            return self._connect_host(ip, port)
        r = self.net.tcp_responder((ip, port))
        self.responder = r
        self.flow = r.flow = cap.tcp_open(self.local, (ip, port), r.host, "fake")
        cap.tcp_accepted(self.flow)
        self.state = "connected"
        self.ev_connect = 1
        banner = r.on_connect()
        if banner:
            self._from_far(banner)
        return STATUS_SUCCESS

    def _refused(self) -> int:
        self.state = "refused"
        self.so_error = 10061
        self.ev_connect = 2
        return STATUS_CONNECTION_REFUSED

    def _connect_host(self, ip: str, port: int) -> int:
        s = _pysocket.socket(_pysocket.AF_INET, _pysocket.SOCK_STREAM)
        s.settimeout(10)
        self.flow = self.net.capture.tcp_open(self.local, (ip, port), self.net.names.get(ip), "host")
        try:
            s.connect((ip, port))
        except OSError:
            s.close()
            self.net.capture.tcp_refused(self.flow)
            return self._refused()
        s.setblocking(False)
        self.host_sock = s
        self.net.capture.tcp_accepted(self.flow)
        self.state = "connected"
        self.ev_connect = 1
        return STATUS_SUCCESS

    def _pump_host(self, wait: float = 0.0) -> None:
        """Bring what the real peer sent into the receive buffer (--net host)."""
        if self.host_sock is None or self.rx_eof:
            return
        import select
        for _ in range(64):
            r, _w, _x = select.select([self.host_sock], [], [], wait)
            if not r:
                return
            try:
                data = self.host_sock.recv(65536)
            except BlockingIOError:
                return
            except OSError:
                data = b""
            if not data:
                self.rx_eof = True
                self.net.capture.tcp_fin(self.flow, 1)
                return
            self.rx += data
            self.net.capture.tcp_data(self.flow, 1, data)
            wait = 0.0

    def adopt(self, other: "Endpoint") -> None:
        """AcceptEx: this (unbound) socket becomes the accepted connection `other`."""
        for k in ("local", "remote", "state", "rx", "rx_eof", "peer", "side", "flow", "responder", "host_sock",
                  "ev_write_armed"):
            setattr(self, k, getattr(other, k))
        if self.peer is not None:
            self.peer.peer = self
        other.peer = other.flow = other.responder = other.host_sock = None
        other.state = "closed"

    def accept(self) -> "Endpoint | None":
        return self.backlog.popleft() if self.backlog else None

    # -- data ------------------------------------------------------------------------------------------------
    def _from_far(self, data: bytes) -> None:
        """Data the far end (a responder) sends to this endpoint."""
        self.rx += data
        self.net.capture.tcp_data(self.flow, 1 - self.side, data)

    def send(self, data: bytes, to: tuple[str, int] | None) -> tuple[int, int]:
        if self.stype == SOCK_STREAM:
            if self.state != "connected":
                return STATUS_INVALID_CONNECTION, 0
            if self.shut_wr:
                return STATUS_LOCAL_DISCONNECT, 0
            cap = self.net.capture
            if self.peer is not None:
                if self.peer.deleted or self.peer.shut_rd:
                    return STATUS_CONNECTION_RESET, 0
                cap.tcp_data(self.flow, self.side, data)
                self.peer.rx += data
                self.deferred_kick.append(self.peer)   # after the send itself completes
                return STATUS_SUCCESS, len(data)
            if self.host_sock is not None:
                try:
                    self.host_sock.setblocking(True)
                    self.host_sock.sendall(data)
                    self.host_sock.setblocking(False)
                except OSError:
                    return STATUS_CONNECTION_RESET, 0
                cap.tcp_data(self.flow, self.side, data)
                return STATUS_SUCCESS, len(data)
            if self.responder is not None:
                cap.tcp_data(self.flow, self.side, data)
                reply, close = self.responder.on_data(data)
                if reply:
                    self._from_far(reply)
                if close and not self.rx_eof:
                    self.rx_eof = True
                    cap.tcp_fin(self.flow, 1 - self.side)
                self.kick()
                return STATUS_SUCCESS, len(data)
            return STATUS_INVALID_CONNECTION, 0
        # datagrams
        dst = to or self.remote
        if dst is None:
            return 0xC0000207, 0     # WSAEDESTADDRREQ is ws2_32's own check; the driver: no address
        if len(data) > MAX_DGRAM:
            return STATUS_BUFFER_OVERFLOW, 0
        self._implicit_bind(dst[0])
        src = self.local
        cap = self.net.capture
        local_target = inet.is_loopback(dst[0]) or dst[0] == self.net.ip
        note = None
        target = self.net.ports.get(("udp", dst[1])) if local_target else None
        if target is not None and not target.deleted:
            target.rx_dgrams.append((src, bytes(data)))
            self.deferred_kick.append(target)
            note = "guest"
            cap.udp_datagram(src, dst, data, note)
        elif dst[1] == 53 and not local_target:
            cap.udp_datagram(src, dst, data, "dns query")
            ans = self.net.dns_answer(bytes(data), src)
            if ans is not None:
                cap.udp_datagram(dst, src, ans, "dns answer")
                self.rx_dgrams.append((dst, ans))
                self.kick()
        else:
            cap.udp_datagram(src, dst, data, "no listener" if local_target else "fake")
        return STATUS_SUCCESS, len(data)

    def recv(self, n: int, flags: int) -> tuple[int, bytes, tuple[str, int] | None] | None:
        """(status, data, from) or None: nothing yet (the caller waits)."""
        peek = bool(flags & MSG_PEEK)
        if self.stype == SOCK_STREAM:
            if self.state != "connected":
                return STATUS_INVALID_CONNECTION, b"", None
            self._pump_host()
            if self.rx:
                if flags & MSG_WAITALL and len(self.rx) < n and not (self.rx_eof or self._peer_gone()):
                    return None
                data = bytes(self.rx[:n])
                if not peek:
                    del self.rx[:n]
                return STATUS_SUCCESS, data, self.remote
            if self.rx_eof or self.shut_rd or self._peer_gone():
                return STATUS_SUCCESS, b"", self.remote
            return None
        if self.local is None:
            return STATUS_INVALID_PARAMETER, b"", None
        if self.rx_dgrams:
            src, data = self.rx_dgrams[0] if peek else self.rx_dgrams.popleft()
            if len(data) > n:
                return STATUS_BUFFER_OVERFLOW, data[:n], src
            return STATUS_SUCCESS, data, src
        return None

    def _peer_gone(self) -> bool:
        p = self.peer
        return p is not None and (p.deleted or p.shut_wr or p.state == "closed")

    def poll(self) -> int:
        m = 0
        if self.state == "listening":
            return POLL_ACCEPT if self.backlog else 0
        if self.state == "refused":
            return POLL_CONNECT_FAIL
        if self.stype == SOCK_STREAM:
            if self.state == "connected":
                self._pump_host()
                m |= POLL_SEND | POLL_CONNECT
                if self.rx:
                    m |= POLL_RECEIVE
                if self.rx_eof or self._peer_gone():
                    m |= POLL_DISCONNECT
            return m
        m |= POLL_SEND
        if self.rx_dgrams:
            m |= POLL_RECEIVE
        return m

    def shutdown(self, how: int) -> int:
        if how not in (0, 1, 2):
            return STATUS_INVALID_PARAMETER
        if self.stype == SOCK_STREAM and self.state != "connected":
            return STATUS_INVALID_CONNECTION
        if how in (0, 2):
            self.shut_rd = True
        if how in (1, 2) and not self.shut_wr:
            self.shut_wr = True
            if self.flow is not None:
                self.net.capture.tcp_fin(self.flow, self.side)
            if self.host_sock is not None:
                try:
                    self.host_sock.shutdown(_pysocket.SHUT_WR)
                except OSError:
                    pass
            if self.peer is not None:
                self.peer.kick()
        self.machine.dispatcher.signal_waiters()
        return STATUS_SUCCESS

    # -- overlapped requests ---------------------------------------------------------------------------------
    def event_check(self) -> None:
        """Record the FD_* events that became true (WSAEventSelect) and set the event when one was."""
        if self.ev_event is None or not self.ev_mask:
            return
        new = 0
        stream = self.stype == SOCK_STREAM
        if (stream and self.state == "connected" and self.rx) or (not stream and self.rx_dgrams):
            new |= FD_READ
        if self.state == "listening" and self.backlog:
            new |= FD_ACCEPT
        if self.ev_connect:
            new |= FD_CONNECT
            if self.ev_connect == 2:
                self.ev_errors[FD_CONNECT] = 10061
            else:
                self.ev_write_armed = True
            self.ev_connect = 0
            self.ev_reported &= ~FD_CONNECT
        if self.ev_write_armed:
            new |= FD_WRITE
        if stream and self.state == "connected" and (self.rx_eof or self._peer_gone()):
            new |= FD_CLOSE
        new &= ~self.ev_reported
        self.ev_write_armed = False if new & FD_WRITE else self.ev_write_armed
        self.ev_reported |= new & (FD_READ | FD_ACCEPT | FD_CLOSE | FD_CONNECT | FD_WRITE)
        self.ev_pending |= new
        if self.ev_pending & self.ev_mask:
            self.ev_event.set()

    def rearm(self, bit: int) -> None:
        """recv re-enables FD_READ, accept FD_ACCEPT (the next one is recorded if the condition holds)."""
        self.ev_reported &= ~bit
        self.event_check()

    def kick(self) -> None:
        """Complete the pending requests that can complete now."""
        self.event_check()
        for entry in list(self.irps):
            irp, kind, params = entry
            if irp.done:
                self.irps.remove(entry)
                continue
            if kind == "recv":
                buf, n, flags = params
                r = self.recv(n, flags)
                if r is None:
                    continue
                st, data, _src = r
                self.irps.remove(entry)
                if data:
                    try:
                        user_write(irp.thread.process, buf, data)
                    except NtStatusError as e:
                        st = e.status
                irp.complete(st, len(data))
            elif kind == "accept":
                new = self.accept()
                if new is None:
                    continue
                self.irps.remove(entry)
                out, _outlen, into = params
                try:
                    st, info = _deliver_accept(irp.thread.process, new, out, into)
                except NtStatusError as e:
                    st, info = e.status, 0
                irp.complete(st, info)

    def cancel_irp(self, irp) -> None:
        self.irps = [e for e in self.irps if e[0] is not irp]

    # -- lifetime --------------------------------------------------------------------------------------------
    def on_last_handle_close(self) -> None:
        self.close()

    def close(self) -> None:
        if self.state == "closed":
            return
        was = self.state
        self.state = "closed"
        self._release_port()
        for entry in list(self.irps):
            entry[0].complete(0xC0000120, 0)   # STATUS_CANCELLED
        self.irps.clear()
        if was == "listening":
            for pending in self.backlog:
                pending.rx_eof = True
                if pending.peer is not None:
                    pending.peer.rx_eof = True
                    pending.peer.kick()
                pending.close()
            self.backlog.clear()
        if self.flow is not None and was == "connected":
            self.net.capture.tcp_fin(self.flow, self.side)
            if self.responder is not None:
                self.net.capture.tcp_fin(self.flow, 1 - self.side)
        if self.host_sock is not None:
            try:
                self.host_sock.close()
            except OSError:
                pass
            self.host_sock = None
        if self.peer is not None:
            self.peer.kick()
        self.set_event(None, 0)
        self.machine.dispatcher.signal_waiters()

    def set_event(self, event, mask: int) -> None:
        if self.ev_event is not None:
            self.ev_event.dereference()
        self.ev_event = event.reference() if event is not None else None
        self.ev_mask = mask if event is not None else 0
        self.ev_pending = 0
        self.ev_errors.clear()
        self.ev_reported = 0
        if event is not None:
            self.nonblocking = True
            # FD_WRITE is recorded at once when the socket can send (connected, or a datagram socket)
            self.ev_write_armed = self.state == "connected" if self.stype == SOCK_STREAM else True
            self.event_check()


# =================================================================================================== requests
def create_endpoint(machine, thread, ea: bytes) -> Endpoint:
    """NtCreateFile on \\Device\\Afd\\Endpoint: the EA "AfdOpenPacketXX" = {Family, Type, Protocol, Flags}."""
    if len(ea) < 8:
        raise NtStatusError(STATUS_INVALID_PARAMETER, "no AfdOpenPacketXX extended attribute")
    name_len, value_len = ea[5], struct.unpack_from("<H", ea, 6)[0]
    name = ea[8:8 + name_len]
    value = ea[8 + name_len + 1:8 + name_len + 1 + value_len]
    if name != b"AfdOpenPacketXX" or len(value) < 16:
        raise NtStatusError(STATUS_INVALID_PARAMETER, "no AfdOpenPacketXX extended attribute")
    family, stype, protocol, _flags = struct.unpack_from("<IIII", value)
    if family != AF_INET:
        raise NtStatusError(0xC0000207, f"address family {family} (the machine has an IPv4 stack only)")
    if stype == SOCK_STREAM and protocol in (0, IPPROTO_TCP):
        protocol = IPPROTO_TCP
    elif stype == SOCK_DGRAM and protocol in (0, IPPROTO_UDP):
        protocol = IPPROTO_UDP
    else:
        raise NtStatusError(STATUS_NOT_SUPPORTED, f"socket type {stype} protocol {protocol}")
    return Endpoint(machine, family, stype, protocol)


def _endpoint(thread, handle: int) -> Endpoint:
    proc = thread.process
    obj = proc.handles.lookup(handle, None, 0, current_process=proc, current_thread=thread)
    if not isinstance(obj, Endpoint):
        raise NtStatusError(STATUS_INVALID_DEVICE_REQUEST if obj.type_name == "File" else 0xC0000024,
                            "not a socket")
    return obj


def device_control(machine, thread, handle: int, event, apc: int, ctx: int, iosb: int, code: int, inp: int,
                   inlen: int, out: int, outlen: int, caller_sp: int) -> int:
    """NtDeviceIoControlFile on a socket handle."""
    ep = _endpoint(thread, handle)
    proc = thread.process
    key = ("NtDeviceIoControlFile", caller_sp)
    done = kwait.take_done(thread, key)
    overlapped = event is not None or bool(ctx) or bool(apc)
    raw = user_read(proc, inp, inlen) if inlen else b""
    io.reset_file(ep)
    if event is not None:
        event.reset()

    def finish(st: int, info: int = 0) -> int:
        return io.complete_request(machine, thread, ep, iosb, event, apc, ctx, st, info)

    def wait_or_pend(mask: int, kind: str, params, deadline=None) -> int:
        if ep.nonblocking and not overlapped:
            return STATUS_CANT_WAIT
        if overlapped:
            irp = io.start_pending(machine, thread, ep, kind, 0, 0, iosb, event, apc, ctx)
            ep.irps.append((irp, kind, params))
            return STATUS_PENDING
        extra = {"deadline": deadline}
        if ep.host_sock is not None:
            ep._pump_host(0.05)                      # the outside world: let real time pass
            tick = machine.clock.now() + 100_000     # and look again in 10 ms of emulated time
            deadline = tick if deadline is None else min(deadline, tick)
        raise kwait.WouldBlock(kwait.WaitBlock([Ready(ep, mask)], False, deadline, f"socket {kind}", key,
                                               extra=extra))

    if code == IOCTL_WHAFD_BIND:
        ip, port = parse_sockaddr(raw)
        st = ep.bind(ip, port)
        if st == 0 and out and outlen >= 16:
            user_write(proc, out, sockaddr_in(*ep.local))
        return finish(st, 16 if st == 0 else 0)
    if code == IOCTL_WHAFD_LISTEN:
        (backlog,) = struct.unpack_from("<i", raw.ljust(4, b"\0"))
        return finish(ep.listen(backlog))
    if code == IOCTL_WHAFD_CONNECT:
        ip, port = parse_sockaddr(raw)
        if done is not None:
            return finish(STATUS_SUCCESS if ep.state == "connected" else STATUS_CONNECTION_REFUSED)
        st = ep.connect(ip, port)
        ep.event_check()
        if ep.nonblocking and not overlapped and ep.stype == SOCK_STREAM:
            return STATUS_CANT_WAIT              # WSAEWOULDBLOCK: the result shows in select/SO_ERROR
        return finish(st)
    if code == IOCTL_WHAFD_ACCEPT:
        if ep.state != "listening":
            return STATUS_INVALID_PARAMETER
        if outlen < 24:
            return STATUS_BUFFER_TOO_SMALL
        into = None
        if len(raw) >= 24:        # AcceptEx: {ULONG64 AcceptHandle, ULONG64 Buffer, ULONG LocalLen, RemoteLen}
            target = _endpoint(thread, struct.unpack_from("<Q", raw)[0])
            if target.state != "open" or target.stype != SOCK_STREAM:
                return STATUS_INVALID_PARAMETER
            into = (target,) + struct.unpack_from("<QII", raw, 8)
        new = ep.accept()
        if new is None:
            return wait_or_pend(POLL_ACCEPT, "accept", (out, outlen, into))
        result = _deliver_accept(proc, new, out, into)
        ep.rearm(FD_ACCEPT)
        return finish(*result)
    if code == IOCTL_WHAFD_SEND:
        if len(raw) < 16:
            return STATUS_INVALID_PARAMETER
        flags, length, buf = struct.unpack_from("<IIQ", raw)
        to = parse_sockaddr(raw[16:]) if len(raw) > 16 else None
        data = user_read(proc, buf, length) if length else b""
        st, n = ep.send(data, to)
        st = finish(st, n)
        others, ep.deferred_kick = ep.deferred_kick, []
        for other in others:
            other.kick()
        if others:
            machine.dispatcher.signal_waiters()
        return st
    if code == IOCTL_WHAFD_RECV:
        if len(raw) < 16:
            return STATUS_INVALID_PARAMETER
        flags, length, buf = struct.unpack_from("<IIQ", raw)
        if ep.stype == SOCK_STREAM and ep.state != "connected":
            return STATUS_INVALID_CONNECTION
        if ep.stype != SOCK_STREAM and ep.local is None:
            return STATUS_INVALID_PARAMETER
        r = ep.recv(length, flags)
        if r is None:
            timeout = _timeout_of(ep, SO_RCVTIMEO)
            deadline = machine.clock.now() + timeout * 10_000 if timeout else None
            if done is not None and done.extra.get("deadline", None) is not None and \
                    (done.extra.get("deadline") or 0) <= machine.clock.now():
                return STATUS_IO_TIMEOUT             # SO_RCVTIMEO ran out (not a look at the outside world)
            if done is not None and "deadline" in done.extra:
                deadline = done.extra["deadline"]    # the same time-out across the looks
            return wait_or_pend(POLL_RECEIVE | POLL_DISCONNECT, "recv", (buf, length, flags), deadline)
        st, data, src = r
        if data:
            user_write(proc, buf, data)
        if out and outlen >= 16 and src is not None:
            user_write(proc, out, sockaddr_in(*src))
        ep.rearm(FD_READ)
        return finish(st, len(data))
    if code == IOCTL_WHAFD_POLL:
        return _poll(machine, thread, raw, out, outlen, done, key, finish)
    if code == IOCTL_WHAFD_SET_OPT:
        if len(raw) < 8:
            return STATUS_INVALID_PARAMETER
        level, name = struct.unpack_from("<II", raw)
        return finish(_set_opt(ep, level, name, raw[8:]))
    if code == IOCTL_WHAFD_GET_OPT:
        if len(raw) < 8:
            return STATUS_INVALID_PARAMETER
        level, name = struct.unpack_from("<II", raw)
        st, value = _get_opt(ep, level, name)
        if st:
            return st
        if outlen < len(value):
            return STATUS_BUFFER_TOO_SMALL
        user_write(proc, out, value)
        return finish(STATUS_SUCCESS, len(value))
    if code == IOCTL_WHAFD_GET_NAME:
        (which,) = struct.unpack_from("<I", raw.ljust(4, b"\0"))
        addr = ep.local if which == 0 else (ep.remote if ep.stype != SOCK_STREAM or ep.state == "connected"
                                             else None)
        if addr is None:
            return STATUS_INVALID_PARAMETER if which == 0 else STATUS_INVALID_CONNECTION
        if outlen < 16:
            return STATUS_BUFFER_TOO_SMALL
        user_write(proc, out, sockaddr_in(*addr))
        return finish(STATUS_SUCCESS, 16)
    if code == IOCTL_WHAFD_EVENT_SELECT:
        if len(raw) < 12:
            return STATUS_INVALID_PARAMETER
        h, mask = struct.unpack_from("<QI", raw)
        ev = None
        if h:
            from winhatch.kernel.ke.sync import Event
            ev = proc.handles.lookup(h, None, 0x2, current_process=proc, current_thread=thread)  # EVENT_MODIFY_STATE
            if not isinstance(ev, Event):
                return STATUS_INVALID_HANDLE
        ep.set_event(ev, mask & 0x3FF)
        return finish(STATUS_SUCCESS)
    if code == IOCTL_WHAFD_ENUM_EVENTS:
        if outlen < 44:
            return STATUS_BUFFER_TOO_SMALL
        h = struct.unpack_from("<Q", raw.ljust(8, b"\0"))[0]
        if h:
            from winhatch.kernel.ke.sync import Event
            ev = proc.handles.lookup(h, None, 0x2, current_process=proc, current_thread=thread)
            if not isinstance(ev, Event):
                return STATUS_INVALID_HANDLE
            ev.reset()
        events = ep.ev_pending & ep.ev_mask
        errors = [ep.ev_errors.get(bit, 0) if events & bit else 0 for bit in FD_BITS] + [0] * 4
        user_write(proc, out, struct.pack("<i10i", events, *errors))
        ep.ev_pending &= ~events
        for bit in FD_BITS:
            if events & bit:
                ep.ev_errors.pop(bit, None)
        return finish(STATUS_SUCCESS, 44)
    if code == IOCTL_WHAFD_SHUTDOWN:
        (how,) = struct.unpack_from("<I", raw.ljust(4, b"\0"))
        return finish(ep.shutdown(how))
    return STATUS_INVALID_DEVICE_REQUEST


def _deliver_accept(proc, new: Endpoint, out: int, into) -> tuple[int, int]:
    """An accepted connection to the caller: a new handle (accept), or moved into the caller's socket with
    the local and remote addresses written to its buffer (AcceptEx)."""
    if into is None:
        h = proc.handles.insert(new, 0x1F01FF)
        user_write(proc, out, struct.pack("<Q", h) + sockaddr_in(*new.remote))
        return STATUS_SUCCESS, 24
    target, buf, local_len, _remote_len = into
    target.adopt(new)
    user_write(proc, buf, sockaddr_in(*target.local))
    user_write(proc, buf + local_len, sockaddr_in(*target.remote))
    return STATUS_SUCCESS, 0


def _timeout_of(ep: Endpoint, name: int) -> int:
    v = ep.options.get((SOL_SOCKET, name))
    return struct.unpack("<I", v[:4])[0] if v and len(v) >= 4 else 0


BOOL_OPTS = {SO_DEBUG, SO_REUSEADDR, SO_KEEPALIVE, SO_DONTROUTE, SO_BROADCAST, SO_OOBINLINE, SO_EXCLUSIVEADDRUSE}
DEFAULT_BUF = 65536


def _set_opt(ep: Endpoint, level: int, name: int, value: bytes) -> int:
    if level == LEVEL_IOCTL:
        if name == FIONBIO:
            ep.nonblocking = bool(struct.unpack_from("<I", value.ljust(4, b"\0"))[0])
            return STATUS_SUCCESS
        return STATUS_INVALID_PARAMETER
    if level == SOL_SOCKET and name in (SO_ACCEPTCONN, SO_TYPE, SO_ERROR):
        return STATUS_INVALID_PARAMETER if name != SO_ERROR else STATUS_SUCCESS
    ep.options[(level, name)] = bytes(value[:64])
    return STATUS_SUCCESS


def _get_opt(ep: Endpoint, level: int, name: int) -> tuple[int, bytes]:
    if level == LEVEL_IOCTL:
        if name == FIONREAD:
            n = len(ep.rx) if ep.stype == SOCK_STREAM else (len(ep.rx_dgrams[0][1]) if ep.rx_dgrams else 0)
            return STATUS_SUCCESS, struct.pack("<I", n)
        return STATUS_INVALID_PARAMETER, b""
    if level == SOL_SOCKET:
        if name == SO_TYPE:
            return STATUS_SUCCESS, struct.pack("<I", ep.stype)
        if name == SO_ACCEPTCONN:
            return STATUS_SUCCESS, struct.pack("<I", 1 if ep.state == "listening" else 0)
        if name == SO_ERROR:
            v, ep.so_error = ep.so_error, 0
            return STATUS_SUCCESS, struct.pack("<I", v)
        if name in (SO_SNDBUF, SO_RCVBUF):
            return STATUS_SUCCESS, ep.options.get((level, name), struct.pack("<I", DEFAULT_BUF))
    v = ep.options.get((level, name))
    if v is not None:
        return STATUS_SUCCESS, v
    if level == SOL_SOCKET and name in BOOL_OPTS | {SO_SNDTIMEO, SO_RCVTIMEO}:
        return STATUS_SUCCESS, struct.pack("<I", 0)
    if level == SOL_SOCKET and name == SO_LINGER:
        return STATUS_SUCCESS, struct.pack("<HH", 0, 0)
    if level == IPPROTO_TCP and name == 1:    # TCP_NODELAY
        return STATUS_SUCCESS, struct.pack("<I", 0)
    return STATUS_NOT_SUPPORTED, b""


def _poll(machine, thread, raw: bytes, out: int, outlen: int, done, key, finish) -> int:
    if len(raw) < 16:
        return STATUS_INVALID_PARAMETER
    timeout, count = struct.unpack_from("<qI", raw)
    if count > 4096 or len(raw) < 16 + 16 * count or outlen < 16 + 16 * count:
        return STATUS_INVALID_PARAMETER
    entries = []
    for i in range(count):
        h, ev, _r = struct.unpack_from("<QII", raw, 16 + 16 * i)
        try:
            ep = _endpoint(thread, h)
        except NtStatusError:
            return STATUS_INVALID_HANDLE
        entries.append((h, ev, ep))
    ready = 0
    res = bytearray(raw[:16 + 16 * count])
    for i, (h, ev, ep) in enumerate(entries):
        r = ep.poll() & (ev | POLL_CONNECT_FAIL | POLL_DISCONNECT | POLL_ABORT)
        struct.pack_into("<QII", res, 16 + 16 * i, h, ev, r)
        if r:
            ready += 1
    now = machine.clock.now()
    deadline = None if timeout < 0 else now + timeout
    if done is not None and "deadline" in done.extra:
        deadline = done.extra["deadline"]            # a wait that looked at the outside world: the same end
    timed_out = deadline is not None and deadline <= now
    if ready or timeout == 0 or timed_out:
        user_write(thread.process, out, bytes(res))
        return finish(STATUS_SUCCESS, ready)
    objs = [Ready(ep, ev | POLL_CONNECT_FAIL | POLL_DISCONNECT) for _h, ev, ep in entries]
    wake = deadline
    if any(ep.host_sock is not None for _h, _e, ep in entries):
        for _h, _e, ep in entries:
            ep._pump_host(0.02)
        tick = now + 100_000
        wake = tick if wake is None else min(wake, tick)
    raise kwait.WouldBlock(kwait.WaitBlock(objs, False, wake, "socket select", key, extra={"deadline": deadline}))
