"""What the guest did on the network: DNS questions and answers, TCP connections with their data, UDP
datagrams, HTTP exchanges — kept as records for the JSON report (`to_report`) and as synthesized packets for a
pcap file (`write_pcap`, dpkt's writer).

The fake flows never touch a wire, so their IP/TCP/UDP headers are made up here the way a capture on the
guest's adapter would show them: a TCP connection gets its three-way handshake, one segment per send (split at
the MSS), pure ACKs are left out, and FIN/ACK when an end closes. Times are the emulated clock (100 ns since
boot) on top of a fixed epoch, so two runs of one program give the same file.
"""
from __future__ import annotations

import itertools
import socket as _pysocket

MAX_PREVIEW = 2048          # bytes of a flow's data kept in the report (the pcap has them all)
MAX_RECORDS = 10_000        # per list of the report; more are counted as dropped
MAX_PACKETS = 200_000
MSS = 1460
EPOCH = 1_700_000_000      # the capture's time origin (seconds since 1970) at emulated time 0


def preview(data: bytes) -> str:
    """The start of a flow's data as text (undecodable bytes as \\xNN escapes)."""
    return bytes(data[:MAX_PREVIEW]).decode("utf-8", "backslashreplace")


class TcpFlow:
    """One TCP connection as the capture sees it (client = the side that connected)."""
    _ids = itertools.count(1)

    def __init__(self, capture: "Capture", client: tuple[str, int], server: tuple[str, int], host: str | None,
                 responder: str, time: int):
        self.id = next(self._ids)
        self.capture = capture
        self.client, self.server = client, server
        self.host = host
        self.responder = responder
        self.opened = time
        self.closed: int | None = None
        self.sent = bytearray()       # client → server (kept up to MAX_PREVIEW)
        self.received = bytearray()   # server → client
        self.bytes_sent = self.bytes_received = 0
        self.seq = {0: 1000, 1: 5000}   # next sequence number of each side (0: client, 1: server)
        self.fin = {0: False, 1: False}
        self.refused = False

    def record(self) -> dict:
        return {"id": self.id, "protocol": "tcp", "client": f"{self.client[0]}:{self.client[1]}",
                "server": f"{self.server[0]}:{self.server[1]}", "host": self.host, "responder": self.responder,
                "refused": self.refused, "opened": self.opened, "closed": self.closed,
                "bytes_sent": self.bytes_sent, "bytes_received": self.bytes_received,
                "sent_preview": preview(self.sent), "received_preview": preview(self.received)}


class Capture:
    def __init__(self, clock):
        self.clock = clock
        self.dns: list[dict] = []
        self.flows: list[TcpFlow] = []
        self.udp: list[dict] = []
        self.http: list[dict] = []
        self.packets: list[tuple[int, bytes]] = []
        self.dropped = 0
        # the adapter's and the gateway's MACs (set by Internet from the profile)
        self.mac_guest = bytes(6)
        self.mac_net = bytes(6)

    def now(self) -> int:
        return self.clock.now() if self.clock is not None else 0

    def _add(self, lst: list, rec) -> None:
        if len(lst) >= MAX_RECORDS:
            self.dropped += 1
            return
        lst.append(rec)

    # -- records --------------------------------------------------------------------------------------------
    def dns_query(self, name: str, qtype: str, answers: list[str], via: str) -> None:
        self._add(self.dns, {"time": self.now(), "name": name, "type": qtype, "answers": list(answers), "via": via})

    def tcp_open(self, client, server, host, responder: str) -> TcpFlow:
        f = TcpFlow(self, client, server, host, responder, self.now())
        self._add(self.flows, f)
        self._segment(f, 0, "S", b"")
        return f

    def tcp_accepted(self, f: TcpFlow) -> None:
        self._segment(f, 1, "SA", b"")
        self._segment(f, 0, "A", b"")

    def tcp_refused(self, f: TcpFlow) -> None:
        f.refused = True
        f.closed = self.now()
        self._segment(f, 1, "RA", b"")

    def tcp_data(self, f: TcpFlow, side: int, data: bytes) -> None:
        if not data:
            return
        if side == 0:
            f.bytes_sent += len(data)
            if len(f.sent) < MAX_PREVIEW:
                f.sent += data[:MAX_PREVIEW - len(f.sent)]
        else:
            f.bytes_received += len(data)
            if len(f.received) < MAX_PREVIEW:
                f.received += data[:MAX_PREVIEW - len(f.received)]
        for i in range(0, len(data), MSS):
            self._segment(f, side, "PA", data[i:i + MSS])

    def tcp_fin(self, f: TcpFlow, side: int) -> None:
        if f.fin[side] or f.refused:
            return
        f.fin[side] = True
        self._segment(f, side, "FA", b"")
        if f.fin[0] and f.fin[1] and f.closed is None:
            f.closed = self.now()

    def udp_datagram(self, src, dst, data: bytes, note: str | None = None) -> None:
        self._add(self.udp, {"time": self.now(), "src": f"{src[0]}:{src[1]}", "dst": f"{dst[0]}:{dst[1]}",
                             "bytes": len(data), "preview": preview(data), "note": note})
        self._udp_packet(src, dst, data)

    def http_exchange(self, rec: dict) -> None:
        self._add(self.http, rec)

    # -- packets --------------------------------------------------------------------------------------------
    def _frame(self, src_ip: str, dst_ip: str, l4, proto: int) -> None:
        if len(self.packets) >= MAX_PACKETS:
            self.dropped += 1
            return
        import dpkt
        ip = dpkt.ip.IP(src=_pysocket.inet_aton(src_ip), dst=_pysocket.inet_aton(dst_ip), p=proto, ttl=128, data=l4)
        ip.len = len(ip)   # header and payload; dpkt fills the checksum when packed
        outbound = not src_ip.startswith("127.") and src_ip == self.guest_ip
        eth = dpkt.ethernet.Ethernet(src=self.mac_guest if outbound else self.mac_net,
                                     dst=self.mac_net if outbound else self.mac_guest,
                                     type=dpkt.ethernet.ETH_TYPE_IP, data=ip)
        self.packets.append((self.now(), bytes(eth)))

    guest_ip = ""          # the adapter's address (set by Internet from the profile)

    def _segment(self, f: TcpFlow, side: int, flags: str, data: bytes) -> None:
        import dpkt
        bits = {"S": dpkt.tcp.TH_SYN, "A": dpkt.tcp.TH_ACK, "P": dpkt.tcp.TH_PUSH, "F": dpkt.tcp.TH_FIN,
                "R": dpkt.tcp.TH_RST}
        fl = 0
        for ch in flags:
            fl |= bits[ch]
        src, dst = (f.client, f.server) if side == 0 else (f.server, f.client)
        seq = f.seq[side]
        ack = f.seq[1 - side] if fl & dpkt.tcp.TH_ACK else 0
        tcp = dpkt.tcp.TCP(sport=src[1], dport=dst[1], seq=seq & 0xFFFFFFFF, ack=ack & 0xFFFFFFFF, flags=fl,
                           win=65535, data=data)
        f.seq[side] = seq + len(data) + (1 if fl & (dpkt.tcp.TH_SYN | dpkt.tcp.TH_FIN) else 0)
        self._frame(src[0], dst[0], tcp, dpkt.ip.IP_PROTO_TCP)

    def _udp_packet(self, src, dst, data: bytes) -> None:
        import dpkt
        udp = dpkt.udp.UDP(sport=src[1], dport=dst[1], data=data)
        udp.ulen = len(udp)
        self._frame(src[0], dst[0], udp, dpkt.ip.IP_PROTO_UDP)

    def write_pcap(self, path) -> None:
        """The synthesized packets as a classic pcap file (Ethernet link type), written by dpkt."""
        import dpkt
        with open(path, "wb") as fh:
            w = dpkt.pcap.Writer(fh, linktype=dpkt.pcap.DLT_EN10MB)
            for t, frame in self.packets:
                w.writepkt(frame, ts=EPOCH + t / 10_000_000)

    def to_report(self) -> dict:
        return {"dns": list(self.dns), "connections": [f.record() for f in self.flows], "udp": list(self.udp),
                "http": list(self.http), "packets": len(self.packets), "dropped": self.dropped}
