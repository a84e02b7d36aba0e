"""One HTTP exchange over the sockets driver, shared by WinINet, WinHTTP and URLMon: resolve the host (a DNS
question, as getaddrinfo asks it), connect, send the request, read the response until the server closes (or its
Content-Length is complete), parse it. On the fake internet https:// is terminated inside the emulator: the
request goes as plain HTTP to port 443, where the fake internet's HTTP responder answers (the guest's TLS is not
emulated); with `--net host` an https:// URL stops loudly.

The exchange is resumable: a receive that must wait (a real server, `--net host`) blocks the thread, and the
API handler runs again when the data is there — the `Exchange` keeps what was done (connected, sent, what was
received), so nothing is sent twice.
"""
from __future__ import annotations

import struct

from winhatch.kernel.io import afd
from winhatch.kernel.net import internet as inet
from winhatch.win32.ws2_32 import afdcall as A

MAX_RESPONSE = 64 << 20
CHUNK = 0x8000
ERROR_INTERNET_NAME_NOT_RESOLVED = 12007
ERROR_INTERNET_CANNOT_CONNECT = 12029
ERROR_INTERNET_CONNECTION_RESET = 12031
ERROR_HTTP_INVALID_SERVER_RESPONSE = 12152


class Response:
    def __init__(self, version: str, status: int, reason: str, headers: list[tuple[str, str]], body: bytes):
        self.version, self.status, self.reason, self.headers, self.body = version, status, reason, headers, body

    def header(self, name: str, index: int = 0) -> str | None:
        vals = [v for k, v in self.headers if k.lower() == name.lower()]
        return vals[index] if index < len(vals) else None

    def raw_headers(self) -> str:
        return f"{self.version} {self.status} {self.reason}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in self.headers) \
            + "\r\n"


class Exchange:
    """One request on the wire: state kept across a handler's re-runs."""

    def __init__(self, host: str, port: int, secure: bool, request: bytes):
        self.host, self.port, self.secure, self.request = host, port, secure, request
        self.sock = 0
        self.sent = False
        self.data = bytearray()
        self.response: Response | None = None
        self.error = 0

    def run(self, c) -> int:
        """Drive the exchange to its end: 0, or the WinINet error (ERROR_INTERNET_*). May block (re-run)."""
        if self.response is not None or self.error:
            return self.error
        if not self.sock:
            if self.secure and inet.internet_of(c.machine).mode == "host":
                from winhatch.win32.ws2_32.sockets import unsupported
                unsupported(c, "https:// with --net host (TLS is not emulated)")
            from winhatch.win32.ws2_32 import names
            addrs = names.resolve(c, self.host)
            if not addrs:
                self.error = ERROR_INTERNET_NAME_NOT_RESOLVED
                return self.error
            st, s = A.create(c, 2, 1, 6)
            if st:
                self.error = ERROR_INTERNET_CANNOT_CONNECT
                return self.error
            st, _i, _o = A.ioctl(c, s, afd.IOCTL_WHAFD_CONNECT, afd.sockaddr_in(addrs[0], self.port))
            if st:
                c.nt("NtClose", s)
                self.error = ERROR_INTERNET_CANNOT_CONNECT
                return self.error
            self.sock = s
        if not self.sent:
            buf = c.stack_alloc(min(len(self.request), CHUNK) or 1, 8)
            for i in range(0, len(self.request), CHUNK):
                part = self.request[i:i + CHUNK]
                c.write(buf, part)
                st, _n, _o = A.ioctl(c, self.sock, afd.IOCTL_WHAFD_SEND, struct.pack("<IIQ", 0, len(part), buf))
                if st:
                    return self._fail(c, ERROR_INTERNET_CONNECTION_RESET)
            self.sent = True
        buf = c.stack_alloc(CHUNK, 8)
        for _ in range(MAX_RESPONSE // CHUNK + 1):
            if self._complete():
                break
            st, n, _o = A.ioctl(c, self.sock, afd.IOCTL_WHAFD_RECV, struct.pack("<IIQ", 0, CHUNK, buf), 16)
            if st:
                return self._fail(c, ERROR_INTERNET_CONNECTION_RESET)
            if n == 0:
                break
            self.data += c.read(buf, n)
            if len(self.data) > MAX_RESPONSE:
                break
        c.nt("NtClose", self.sock)
        self.sock = 0
        self.response = parse(bytes(self.data))
        if self.response is None:
            self.error = ERROR_HTTP_INVALID_SERVER_RESPONSE
        return self.error

    def _complete(self) -> bool:
        end = self.data.find(b"\r\n\r\n")
        if end < 0:
            return False
        head = bytes(self.data[:end]).decode("latin-1").lower()
        for line in head.split("\r\n")[1:]:
            k, _, v = line.partition(":")
            if k.strip() == "content-length":
                try:
                    return len(self.data) - end - 4 >= int(v.strip())
                except ValueError:
                    return False
        return False

    def _fail(self, c, err: int) -> int:
        if self.sock:
            c.nt("NtClose", self.sock)
            self.sock = 0
        self.error = err
        return err

    def close(self, c) -> None:
        if self.sock:
            c.nt("NtClose", self.sock)
            self.sock = 0


def read_body(c, req, body: bytes, buf: int, n: int, nread: int) -> int:
    """InternetReadFile / WinHttpReadData: the next n bytes of the response body at the request's read position
    into buf, the count into *nread (0 at the end of the body); TRUE."""
    data = body[req.pos:req.pos + n]
    if data:
        c.write(buf, data)
    req.pos += len(data)
    if nread:
        c.write(nread, struct.pack("<I", len(data)))
    return 1


def parse(data: bytes) -> Response | None:
    end = data.find(b"\r\n\r\n")
    if end < 0 or not data.startswith(b"HTTP/"):
        return None
    lines = data[:end].decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    try:
        status = int(parts[1])
    except (IndexError, ValueError):
        return None
    headers = []
    for ln in lines[1:]:
        k, _, v = ln.partition(":")
        headers.append((k.strip(), v.strip()))
    body = data[end + 4:]
    hmap = {k.lower(): v for k, v in headers}
    if "chunked" in hmap.get("transfer-encoding", "").lower():
        body = inet._dechunk(body)[0] or b""
    elif "content-length" in hmap:
        try:
            body = body[:int(hmap["content-length"])]
        except ValueError:
            pass
    return Response(parts[0], status, parts[2] if len(parts) > 2 else "", headers, body)


def build_request(method: str, host: str, port: int, secure: bool, path: str, headers: list[tuple[str, str]],
                  body: bytes, version: str = "HTTP/1.1") -> bytes:
    default = 443 if secure else 80
    hostval = host if port == default else f"{host}:{port}"
    names = {k.lower() for k, _v in headers}
    out = [f"{method} {path or '/'} {version}"]
    if "host" not in names:
        out.append(f"Host: {hostval}")
    out += [f"{k}: {v}" for k, v in headers]
    if body and "content-length" not in names:
        out.append(f"Content-Length: {len(body)}")
    if "connection" not in names:
        out.append("Connection: close")
    return ("\r\n".join(out) + "\r\n\r\n").encode("latin-1", "replace") + body


def split_url(url: str) -> tuple[str, str, int, str, str, str, str] | None:
    """(scheme, host, port, user, password, path, extra) of an absolute http(s)/ftp URL; None if it is not one."""
    if "://" not in url:
        return None
    scheme, rest = url.split("://", 1)
    scheme = scheme.lower()
    if scheme not in ("http", "https", "ftp"):
        return None
    cut = min([i for i in (rest.find("/"), rest.find("?"), rest.find("#")) if i >= 0] or [len(rest)])
    authority, tail = rest[:cut], rest[cut:]
    user = password = ""
    if "@" in authority:
        cred, authority = authority.rsplit("@", 1)
        user, _, password = cred.partition(":")
    host, port = authority, {"http": 80, "https": 443, "ftp": 21}[scheme]
    if ":" in authority:
        host, _, p = authority.rpartition(":")
        if not p.isdigit() or int(p) > 65535:
            return None
        port = int(p)
    if not host:
        return None
    q = min([i for i in (tail.find("?"), tail.find("#")) if i >= 0] or [len(tail)])
    return scheme, host, port, user, password, tail[:q], tail[q:]
