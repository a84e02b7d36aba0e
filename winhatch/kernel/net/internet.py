"""The fake internet the guest's sockets reach (nothing leaves the host), and `--net host`.

What a program receives:
- the machine has one adapter, "Ethernet", configured from the machine's profile (by default 192.168.1.104/24,
  gateway, DHCP and DNS server 192.168.1.1: a home router's network; the MAC and adapter name), and the loopback
  127.0.0.1 — the profile is the one source of these addresses (Internet.ip, .netmask, .gateway, .dns_server);
- every DNS name resolves: the configured answers, else `localhost` → 127.0.0.1, the computer's own name → the
  adapter's address, an address literal → itself, else one deterministic address per name in 198.18.0.0/15
  (the range RFC 2544 reserves for benchmarks: never a real host), the same in every run;
- a TCP connection to 127.0.0.1 (or the adapter's address) reaches the guest's own listening socket on that
  port, or is refused (WSAECONNREFUSED) when none listens;
- a TCP connection to any other address is accepted. What the program sends decides the responder: a request
  beginning with an HTTP method gets the HTTP responder (a configured response for the host and path, else the
  default page, `200 OK`, `Connection: close`: the server closes after each response); anything else reaches a
  sink that keeps the data and answers nothing (after the port's banner, when one is configured, sent as soon as
  the connection is made). TLS is not terminated: port 443 behaves like any other port;
- UDP to port 53 of any address is the DNS server (A questions answered as above, other types with no
  answer); UDP to the guest's own bound port (loopback) is delivered; any other datagram is captured and gets
  no answer.

The configuration (`--net-config FILE.toml`):

    [dns]
    "evil.example" = ["203.0.113.7"]          # answers per name (a list of IPv4 addresses)
    [http]
    default_page = "page.html"                # a file, relative to the configuration file
    default_content_type = "text/html"
    [[http.response]]                         # per host ("*": any host) and path ("/x", or "/x?query")
    host = "evil.example"
    path = "/payload.bin"
    file = "payload.bin"
    status = 200
    content_type = "application/octet-stream"
    [tcp.banners]
    "21" = "220 ftp ready\\r\\n"                 # sent when a connection to the port is made
"""
from __future__ import annotations

import hashlib
import ipaddress
import socket as _pysocket
import tomllib
from pathlib import Path

from winhatch.kernel.net.capture import Capture

MAX_HTTP_HEAD = 64 * 1024
MAX_HTTP_BODY = 16 * 1024 * 1024
HTTP_METHODS = (b"GET ", b"POST ", b"HEAD ", b"PUT ", b"DELETE ", b"OPTIONS ", b"PATCH ", b"CONNECT ", b"TRACE ")
DEFAULT_PAGE = (b"<!DOCTYPE html>\n<html><head><title>winhatch</title></head>"
                b"<body><p>winhatch fake internet</p></body></html>\n")
REASONS = {200: "OK", 201: "Created", 204: "No Content", 301: "Moved Permanently", 302: "Found",
           304: "Not Modified", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
           500: "Internal Server Error", 503: "Service Unavailable"}


class NetConfigError(ValueError):
    """A configuration file that cannot be used (the message says why)."""


class NetConfig:
    def __init__(self, answers: dict[str, list[str]] | None = None, responses: dict | None = None,
                 default_page: bytes = DEFAULT_PAGE, default_content_type: str = "text/html",
                 banners: dict[int, bytes] | None = None):
        self.answers = {k.lower().rstrip("."): v for k, v in (answers or {}).items()}
        self.responses = responses or {}        # (host|"*", path) -> (status, content_type, body)
        self.default_page = default_page
        self.default_content_type = default_content_type
        self.banners = banners or {}

    @classmethod
    def load(cls, path) -> "NetConfig":
        p = Path(path)
        try:
            doc = tomllib.loads(p.read_text(encoding="utf-8"))
        except OSError as e:
            raise NetConfigError(f"{p}: {e.strerror}") from None
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
            raise NetConfigError(f"{p}: not valid TOML: {e}") from None
        base = p.parent

        def read(rel, where):
            if not isinstance(rel, str):
                raise NetConfigError(f"{p}: {where}: a file name is expected")
            try:
                return (base / rel).read_bytes()
            except OSError as e:
                raise NetConfigError(f"{p}: {where}: {base / rel}: {e.strerror}") from None

        answers = {}
        for name, v in (doc.get("dns") or {}).items():
            v = [v] if isinstance(v, str) else v
            if not isinstance(v, list) or not all(isinstance(a, str) for a in v):
                raise NetConfigError(f"{p}: dns.{name}: a list of IPv4 addresses is expected")
            for a in v:
                try:
                    ipaddress.IPv4Address(a)
                except ValueError:
                    raise NetConfigError(f"{p}: dns.{name}: {a!r} is not an IPv4 address") from None
            answers[name] = v
        http = doc.get("http") or {}
        page = read(http["default_page"], "http.default_page") if "default_page" in http else DEFAULT_PAGE
        responses = {}
        for i, r in enumerate(http.get("response") or []):
            where = f"http.response[{i}]"
            if not isinstance(r, dict) or "path" not in r:
                raise NetConfigError(f"{p}: {where}: needs a path")
            body = read(r["file"], where) if "file" in r else str(r.get("body", "")).encode()
            status = r.get("status", 200)
            if not isinstance(status, int) or not 100 <= status <= 999:
                raise NetConfigError(f"{p}: {where}: status must be an integer 100-999")
            responses[(str(r.get("host", "*")).lower(), str(r["path"]))] = (
                status, str(r.get("content_type", "application/octet-stream")), body)
        banners = {}
        for port, text in ((doc.get("tcp") or {}).get("banners") or {}).items():
            try:
                n = int(port)
            except ValueError:
                raise NetConfigError(f"{p}: tcp.banners: {port!r} is not a port number") from None
            banners[n] = str(text).encode("utf-8")
        return cls(answers, responses, page, str(http.get("default_content_type", "text/html")), banners)


def default_address(name: str) -> str:
    """The deterministic address of a name nobody configured: 198.18.0.0/15, from a hash of the name."""
    h = int.from_bytes(hashlib.sha256(name.lower().rstrip(".").encode("utf-8", "surrogatepass")).digest()[:4], "big")
    n = h % (2 * 65536 - 2) + 1          # 198.18.0.1 .. 198.19.255.254
    return str(ipaddress.IPv4Address((198 << 24) | (18 << 16)) + n)


def is_loopback(ip: str) -> bool:
    return ip.startswith("127.")


def is_own(machine, ip: str) -> bool:
    """Is `ip` one of the machine's own addresses (the loopback, or the adapter's)?"""
    return is_loopback(ip) or ip == internet_of(machine).ip


class Internet:
    """The network of one machine: name resolution, the responders and the capture."""

    def __init__(self, config: NetConfig | None = None, mode: str = "fake", clock=None, profile=None):
        from winhatch.kernel.profile import Profile
        prof = profile or Profile.default()
        self.config = config or NetConfig()
        self.mode = mode            # "fake" | "host"
        # the adapter's addresses, from the profile (every layer reads them here: iphlpapi, the sockets
        # driver, name resolution, the capture, the report)
        self.ip = prof.ip_address
        self.netmask = prof.netmask
        self.prefix_length = prof.prefix_length
        self.gateway = prof.gateway
        self.dns_server = prof.dns_server
        self.dhcp_server = prof.dhcp_server
        self.capture = Capture(clock)
        self.capture.guest_ip = self.ip
        self.capture.mac_guest = prof.mac
        self.capture.mac_net = prof.gateway_mac
        self.hostname = prof.host_name
        self.names: dict[str, str] = {}     # address -> the name it was resolved from (for the report)
        self.ports: dict[tuple[str, int], object] = {}   # (proto, port) -> the endpoint bound to it
        self.next_port = 49152

    # -- names ----------------------------------------------------------------------------------------------
    def resolve(self, name: str, via: str) -> list[str]:
        """The IPv4 addresses of `name` (recorded as a DNS question of the guest)."""
        key = name.lower().rstrip(".")
        try:
            ipaddress.IPv4Address(key)
            return [key]
        except ValueError:
            pass
        if key in self.config.answers:
            answers = list(self.config.answers[key])
        elif key == "localhost":
            answers = ["127.0.0.1"]
        elif key == self.hostname.lower():
            answers = [self.ip]
        elif self.mode == "host":
            try:
                answers = sorted({ai[4][0] for ai in _pysocket.getaddrinfo(key, None, _pysocket.AF_INET)})
            except (OSError, UnicodeError):
                answers = []
        else:
            answers = [default_address(key)]
        for a in answers:
            self.names.setdefault(a, name)
        if key not in ("localhost", self.hostname.lower()):
            self.capture.dns_query(name, "A", answers, via)
        return answers

    # -- ports ----------------------------------------------------------------------------------------------
    def ephemeral_port(self, proto: str) -> int:
        for _ in range(65536 - 49152):
            p = self.next_port
            self.next_port = 49152 if p >= 65535 else p + 1
            if (proto, p) not in self.ports:
                return p
        return 0

    # -- responders -----------------------------------------------------------------------------------------
    def tcp_responder(self, server: tuple[str, int]) -> "Responder":
        return Responder(self, server)

    def dns_answer(self, query: bytes, client) -> bytes | None:
        """The DNS server's answer to one query over UDP (None: not a DNS message, no answer)."""
        import dpkt
        try:
            q = dpkt.dns.DNS(query)
        except (dpkt.UnpackError, IndexError, ValueError):
            return None
        if q.qr != dpkt.dns.DNS_Q or not q.qd:
            return None
        r = dpkt.dns.DNS(id=q.id, qr=dpkt.dns.DNS_R, opcode=q.opcode, rd=q.rd, ra=1, rcode=dpkt.dns.DNS_RCODE_NOERR)
        r.qd = q.qd[:1]
        question = q.qd[0]
        r.an = []
        if question.type == dpkt.dns.DNS_A and question.cls == dpkt.dns.DNS_IN:
            for a in self.resolve(question.name, "udp"):
                r.an.append(dpkt.dns.DNS.RR(name=question.name, type=dpkt.dns.DNS_A, cls=dpkt.dns.DNS_IN, ttl=300,
                                            rlen=4, ip=_pysocket.inet_aton(a)))
        else:
            qt = {28: "AAAA", 15: "MX", 16: "TXT", 12: "PTR", 5: "CNAME", 33: "SRV"}.get(question.type,
                                                                                     str(question.type))
            self.capture.dns_query(question.name, qt, [], "udp")
        return bytes(r)


class Responder:
    """The far end of one TCP connection on the fake internet: the HTTP responder or the sink."""

    def __init__(self, net: Internet, server: tuple[str, int]):
        self.net = net
        self.server = server
        self.kind = "sink"
        self.buf = bytearray()
        self.flow = None
        self.closed = False
        self.seen = False            # data arrived that did not begin an HTTP request

    @property
    def host(self) -> str | None:
        return self.net.names.get(self.server[0])

    def on_connect(self) -> bytes:
        return self.net.config.banners.get(self.server[1], b"")

    def on_data(self, data: bytes) -> tuple[bytes, bool]:
        """The guest sent `data`: (what the responder answers, whether it closes the connection after)."""
        if self.closed:
            return b"", False
        if self.kind == "http" or (not self.seen and data.startswith(HTTP_METHODS)):
            self.kind = "http"
            self.buf += data
            return self._http()
        self.seen = True             # the sink: kept in the capture, never answered
        return b"", False

    def _http(self) -> tuple[bytes, bool]:
        out = bytearray()
        for _ in range(64):                               # pipelined requests, bounded
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                if len(self.buf) > MAX_HTTP_HEAD:
                    out += self._respond(None, 400, "text/plain", b"request head too long\n")
                    self.closed = True
                return bytes(out), self.closed
            head = bytes(self.buf[:end]).decode("latin-1")
            lines = head.split("\r\n")
            parts = lines[0].split(" ")
            headers = []
            for ln in lines[1:]:
                k, _, v = ln.partition(":")
                headers.append([k.strip(), v.strip()])
            hmap = {k.lower(): v for k, v in headers}
            body_start = end + 4
            if "chunked" in hmap.get("transfer-encoding", "").lower():
                body, used = _dechunk(bytes(self.buf[body_start:]))
                if body is None:
                    return bytes(out), False
            else:
                try:
                    n = int(hmap.get("content-length", "0"))
                except ValueError:
                    n = 0
                n = max(0, min(n, MAX_HTTP_BODY))
                if len(self.buf) - body_start < n:
                    return bytes(out), False
                body, used = bytes(self.buf[body_start:body_start + n]), n
            del self.buf[:body_start + used]
            method = parts[0] if parts else ""
            target = parts[1] if len(parts) > 1 else "/"
            version = parts[2] if len(parts) > 2 else "HTTP/0.9"
            host = hmap.get("host") or self.host or self.server[0]
            hostname = host.rsplit(":", 1)[0] if not host.startswith("[") else host
            path = target
            if target.startswith(("http://", "https://")):       # a proxy-style absolute target
                rest = target.split("://", 1)[1]
                hostname, _, p2 = rest.partition("/")
                path = "/" + p2
            status, ctype, payload = self._lookup(hostname.lower(), path)
            resp = self._respond(method, status, ctype, payload)
            self.net.capture.http_exchange({
                "time": self.net.capture.now(), "connection": self.flow.id if self.flow else None,
                "server": f"{self.server[0]}:{self.server[1]}", "host": hostname, "method": method, "path": path,
                "version": version, "headers": headers, "body_bytes": len(body), "body_preview":
                body[:2048].decode("utf-8", "backslashreplace"), "status": status, "content_type": ctype,
                "response_bytes": len(payload)})
            out += resp
            self.closed = True                             # Connection: close
            return bytes(out), True
        return bytes(out), self.closed

    def _lookup(self, host: str, path: str) -> tuple[int, str, bytes]:
        r = self.net.config.responses
        bare = path.split("?", 1)[0]
        for key in ((host, path), (host, bare), ("*", path), ("*", bare)):
            if key in r:
                return r[key]
        return 200, self.net.config.default_content_type, self.net.config.default_page

    def _respond(self, method, status: int, ctype: str, payload: bytes) -> bytes:
        head = (f"HTTP/1.1 {status} {REASONS.get(status, 'Status')}\r\n"
                f"Server: winhatch\r\nContent-Type: {ctype}\r\nContent-Length: {len(payload)}\r\n"
                f"Connection: close\r\n\r\n").encode("latin-1")
        return head + (b"" if method == "HEAD" else payload)


def _dechunk(data: bytes) -> tuple[bytes | None, int]:
    out = bytearray()
    pos = 0
    for _ in range(100_000):
        eol = data.find(b"\r\n", pos)
        if eol < 0:
            return None, 0
        try:
            n = int(data[pos:eol].split(b";")[0], 16)
        except ValueError:
            return bytes(out), len(data)
        pos = eol + 2
        if n == 0:
            end = data.find(b"\r\n", pos)
            return (bytes(out), end + 2) if end >= 0 else (None, 0)
        if len(data) < pos + n + 2:
            return None, 0
        out += data[pos:pos + n]
        pos += n + 2
    return bytes(out), pos


def internet_of(machine) -> Internet:
    """The machine's network (the fake internet unless the run configured another)."""
    net = getattr(machine, "net", None)
    if net is None:
        prof = machine.profile
        net = machine.net = Internet(clock=getattr(machine, "clock", None), profile=prof)
    return net
