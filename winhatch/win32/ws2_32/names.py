"""ws2_32's names and addresses: getaddrinfo / GetAddrInfoW / freeaddrinfo, getnameinfo, gethostbyname,
gethostname, and the inet_* conversions.

A name is resolved as Windows' resolver does it for a host without a hosts file entry: "localhost" and the
computer's own name locally, an address literal as itself, anything else by a DNS query (over UDP, through the
sockets driver, to the adapter's DNS server, the profile's) — so the question and the answer are in the capture.
"""
from __future__ import annotations

import ipaddress
import socket as _pysocket
import struct

from winhatch.kernel.io import afd
from winhatch.kernel.net import internet as inet
from winhatch.win32.api import api
from winhatch.win32.ws2_32 import afdcall as A
from winhatch.win32.ws2_32.afdcall import (WSAEAFNOSUPPORT, WSAEFAULT, WSAEINVAL, WSAHOST_NOT_FOUND, WSANO_DATA,
                                           WSANOTINITIALISED, WSATYPE_NOT_FOUND, fail)

WS2 = "ws2_32.dll"
AF_UNSPEC, AF_INET, AF_INET6 = 0, 2, 23
AI_PASSIVE, AI_CANONNAME, AI_NUMERICHOST, AI_NUMERICSERV = 0x1, 0x2, 0x4, 0x8
NI_NOFQDN, NI_NUMERICHOST, NI_NAMEREQD, NI_NUMERICSERV, NI_DGRAM = 0x1, 0x2, 0x4, 0x8, 0x10
SERVICES = {"echo": 7, "ftp-data": 20, "ftp": 21, "ssh": 22, "telnet": 23, "smtp": 25, "domain": 53, "http": 80,
            "www": 80, "pop3": 110, "ntp": 123, "imap": 143, "snmp": 161, "ldap": 389, "https": 443,
            "microsoft-ds": 445, "imaps": 993, "pop3s": 995, "ms-sql-s": 1433, "rdp": 3389}
MAX_ANSWERS = 32


def computer_name(c) -> str:
    return c.machine.subsystem.get("computer_name", c.machine.profile.host_name)


def dns_query(c, name: str, qtype: int = 1) -> list[str] | None:
    return _dns_query(c, name, qtype)


def resolve(c, name: str) -> list[str] | None:
    """The IPv4 addresses of `name` (None: the name does not resolve)."""
    key = name.rstrip(".").lower()
    try:
        return [str(ipaddress.IPv4Address(key))]
    except ValueError:
        pass
    if not key or len(key) > 255:
        return None
    if key == "localhost":
        return ["127.0.0.1"]
    if key == computer_name(c).lower():
        return [inet.internet_of(c.machine).ip]
    return _dns_query(c, name.rstrip("."))


def _dns_query(c, name: str, qtype: int = 1) -> list[str] | None:
    """Ask the adapter's DNS server (UDP, through the driver): the A answers (None: none, or no answer)."""
    import dpkt
    try:
        q = dpkt.dns.DNS(id=0x5748 ^ (len(name) << 4), qr=dpkt.dns.DNS_Q, rd=1,
                         qd=[dpkt.dns.DNS.Q(name=name, type=qtype, cls=dpkt.dns.DNS_IN)])
        query = bytes(q)
    except (dpkt.PackError, ValueError, UnicodeError):
        return None
    st, s = A.create(c, AF_INET, 2, 17)
    if st:
        return None
    try:
        buf = c.stack_alloc(len(query), 8)
        c.write(buf, query)
        to = afd.sockaddr_in(inet.internet_of(c.machine).dns_server, 53)
        st, _i, _o = A.ioctl(c, s, afd.IOCTL_WHAFD_SEND, struct.pack("<IIQ", 0, len(query), buf) + to)
        if st:
            return None
        rbuf = c.stack_alloc(1500, 8)
        # the fake DNS server answers at once: a receive that would block means no answer (non-blocking)
        A.ioctl(c, s, afd.IOCTL_WHAFD_SET_OPT, struct.pack("<III", afd.LEVEL_IOCTL, afd.FIONBIO, 1))
        st, n, _o = A.ioctl(c, s, afd.IOCTL_WHAFD_RECV, struct.pack("<IIQ", 0, 1500, rbuf), 16)
        if st:
            return None
        try:
            r = dpkt.dns.DNS(c.read(rbuf, n))
        except (dpkt.UnpackError, IndexError, ValueError):
            return None
        out = [_pysocket.inet_ntoa(rr.ip) for rr in r.an if rr.type == dpkt.dns.DNS_A][:MAX_ANSWERS]
        return out or None
    finally:
        c.nt("NtClose", s)


# -- getaddrinfo ----------------------------------------------------------------------------------------------
def _layout(c):
    """ADDRINFO field offsets: (ai_addrlen, ai_canonname, ai_addr, ai_next, size)."""
    return (16, 24, 32, 40, 48) if c.ptr_size == 8 else (16, 20, 24, 28, 32)


def _service_port(serv: str | None, numeric_only: bool) -> int | None:
    if serv is None or serv == "":
        return 0
    if serv.isdigit():
        n = int(serv)
        return n if n <= 65535 else None
    if numeric_only:
        return None
    return SERVICES.get(serv.lower())


def _getaddrinfo(c, node, serv, hints, res, wide):
    from winhatch.win32.kernel32.common import heap_alloc
    if not A.started(c):
        c.set_last_error(WSANOTINITIALISED)
        return WSANOTINITIALISED
    if not res:
        c.set_last_error(WSAEINVAL)
        return WSAEINVAL
    c.write_ptr(res, 0)
    flags = family = stype = proto = 0
    if hints:
        flags, family, stype, proto = struct.unpack("<iiii", c.read(hints, 16))
    if node is None and serv is None:
        c.set_last_error(WSAHOST_NOT_FOUND)
        return WSAHOST_NOT_FOUND
    if family not in (AF_UNSPEC, AF_INET, AF_INET6):
        c.set_last_error(WSAEAFNOSUPPORT)
        return WSAEAFNOSUPPORT
    if stype not in (0, 1, 2, 3, 4, 5):
        c.set_last_error(A.WSAESOCKTNOSUPPORT)
        return A.WSAESOCKTNOSUPPORT
    port = _service_port(serv, bool(flags & AI_NUMERICSERV))
    if port is None:
        c.set_last_error(WSATYPE_NOT_FOUND)
        return WSATYPE_NOT_FOUND
    if node is None or node == "":
        addrs = ["0.0.0.0" if flags & AI_PASSIVE else "127.0.0.1"]
    elif flags & AI_NUMERICHOST:
        try:
            addrs = [str(ipaddress.IPv4Address(node))]
        except ValueError:
            c.set_last_error(WSAHOST_NOT_FOUND)
            return WSAHOST_NOT_FOUND
    else:
        addrs = resolve(c, node)
    if not addrs:
        c.set_last_error(WSAHOST_NOT_FOUND)
        return WSAHOST_NOT_FOUND
    if family == AF_INET6:         # an IPv4-only stack has no IPv6 address for any name
        c.set_last_error(A.WSANO_DATA)
        return A.WSANO_DATA
    o_len, o_canon, o_addr, o_next, size = _layout(c)
    canon = None
    if flags & AI_CANONNAME and node:
        canon = node
    prev = 0
    head = 0
    for i, a in enumerate(addrs):
        cname = canon if i == 0 else None
        cbytes = (cname.encode("utf-16-le") + b"\0\0" if wide else cname.encode() + b"\0") if cname else b""
        blk = heap_alloc(c, size + 16 + len(cbytes), 0x8)
        if not blk:
            c.set_last_error(A.WSAENOBUFS)
            return A.WSAENOBUFS
        c.write(blk, struct.pack("<iiii", 0, AF_INET, stype, proto))   # the hints' protocol, 0 included
        c.write_ptr(blk + o_len, 16)
        c.write_ptr(blk + o_addr, blk + size)
        c.write(blk + size, afd.sockaddr_in(a, port))
        if cbytes:
            c.write(blk + size + 16, cbytes)
            c.write_ptr(blk + o_canon, blk + size + 16)
        if prev:
            c.write_ptr(prev + o_next, blk)
        else:
            head = blk
        prev = blk
    c.write_ptr(res, head)
    c.set_last_error(0)
    return 0


@api(WS2, "INT WINAPI getaddrinfo(PCSTR pNodeName, PCSTR pServiceName, const ADDRINFOA *pHints, "
          "PADDRINFOA *ppResult)")
def getaddrinfo(c, node, serv, hints, res):
    return _getaddrinfo(c, node, serv, hints, res, False)


@api(WS2, "INT WINAPI GetAddrInfoW(PCWSTR pNodeName, PCWSTR pServiceName, const ADDRINFOW *pHints, "
          "PADDRINFOW *ppResult)")
def GetAddrInfoW(c, node, serv, hints, res):
    return _getaddrinfo(c, node, serv, hints, res, True)


def _free(c, ai):
    from winhatch.win32.kernel32.common import heap_free
    o_next = _layout(c)[3]
    for _ in range(100_000):
        if not ai:
            return
        nxt = c.ptr(ai + o_next)
        heap_free(c, ai)
        ai = nxt


@api(WS2, "void WINAPI freeaddrinfo(PADDRINFOA pAddrInfo)")
def freeaddrinfo(c, ai):
    _free(c, ai)


@api(WS2, "void WINAPI FreeAddrInfoW(PADDRINFOW pAddrInfo)")
def FreeAddrInfoW(c, ai):
    _free(c, ai)


# -- getnameinfo ----------------------------------------------------------------------------------------------
def _getnameinfo(c, sa, salen, host, hostlen, serv, servlen, flags, wide):
    if not A.started(c):
        c.set_last_error(WSANOTINITIALISED)
        return WSANOTINITIALISED
    raw = A.sockaddr(c, sa, salen)
    if raw is None:
        c.set_last_error(WSAEFAULT)
        return WSAEFAULT
    fam, = struct.unpack_from("<H", raw)
    if fam != AF_INET:
        c.set_last_error(WSAEAFNOSUPPORT)
        return WSAEAFNOSUPPORT
    ip, port = afd.parse_sockaddr(raw)
    hname = None
    if not flags & NI_NUMERICHOST:
        if inet.is_own(c.machine, ip):
            hname = computer_name(c)
        else:
            hname = inet.internet_of(c.machine).names.get(ip)
        if hname is None and flags & NI_NAMEREQD:
            c.set_last_error(WSAHOST_NOT_FOUND)
            return WSAHOST_NOT_FOUND
    hname = hname or ip
    if flags & NI_NOFQDN:
        hname = hname.split(".")[0] if not hname[0].isdigit() else hname
    sname = str(port)
    if not flags & NI_NUMERICSERV:
        sname = next((k for k, v in SERVICES.items() if v == port), sname)
    unit = 2 if wide else 1
    for text, buf, n in ((hname, host, hostlen), (sname, serv, servlen)):
        if not buf:
            continue
        data = text.encode("utf-16-le") if wide else text.encode()
        if len(data) // unit + 1 > n:
            c.set_last_error(WSAEFAULT)
            return WSAEFAULT
        c.write(buf, data + bytes(unit))
    c.set_last_error(0)
    return 0


@api(WS2, "INT WINAPI getnameinfo(const SOCKADDR *pSockaddr, socklen_t SockaddrLength, PCHAR pNodeBuffer, "
          "DWORD NodeBufferSize, PCHAR pServiceBuffer, DWORD ServiceBufferSize, INT Flags)")
def getnameinfo(c, sa, salen, host, hostlen, serv, servlen, flags):
    return _getnameinfo(c, sa, salen, host, hostlen, serv, servlen, flags, False)


@api(WS2, "INT WINAPI GetNameInfoW(const SOCKADDR *pSockaddr, socklen_t SockaddrLength, PWCHAR pNodeBuffer, "
          "DWORD NodeBufferSize, PWCHAR pServiceBuffer, DWORD ServiceBufferSize, INT Flags)")
def GetNameInfoW(c, sa, salen, host, hostlen, serv, servlen, flags):
    return _getnameinfo(c, sa, salen, host, hostlen, serv, servlen, flags, True)


# -- gethostbyname / gethostname --------------------------------------------------------------------------
def _thread_buffer(c, key: str, size: int) -> int:
    """ws2_32's per-thread buffer (hostent, inet_ntoa's string): one heap block per thread, reused."""
    from winhatch.win32.kernel32.common import heap_alloc
    bufs = c.proc.subsystem.setdefault("ws2_thread_buffers", {})
    k = (c.thread.tid, key)
    if k not in bufs:
        bufs[k] = heap_alloc(c, size, 0x8)
    return bufs[k]


@api(WS2, "struct hostent * WINAPI gethostbyname(const char *name)")
def gethostbyname(c, name):
    if not A.started(c):
        c.set_last_error(WSANOTINITIALISED)
        return 0
    if name is None:
        name = computer_name(c)
    addrs = resolve(c, name)
    if not addrs:
        c.set_last_error(WSAHOST_NOT_FOUND)
        return 0
    c.set_last_error(0)
    return _hostent(c, name, addrs[:MAX_ANSWERS])


@api(WS2, "int WINAPI gethostname(char *name, int namelen)")
def gethostname(c, buf, n):
    if not A.started(c):
        return fail(c, WSANOTINITIALISED)
    data = computer_name(c).encode() + b"\0"
    if not buf or n < len(data):
        return fail(c, WSAEFAULT)
    c.write(buf, data)
    return 0


@api(WS2, "int WINAPI GetHostNameW(PWSTR name, int namelen)")
def GetHostNameW(c, buf, n):
    if not A.started(c):
        return fail(c, WSANOTINITIALISED)
    data = computer_name(c).encode("utf-16-le") + b"\0\0"
    if not buf or n < len(data) // 2:
        return fail(c, WSAEFAULT)
    c.write(buf, data)
    return 0


# -- inet_* ---------------------------------------------------------------------------------------------------
def parse_inet_addr(text: str) -> int | None:
    """inet_addr's forms: a.b.c.d, a.b.c (c 16 bits), a.b (b 24 bits), a (32 bits); each part decimal, octal
    (leading 0) or hexadecimal (0x); trailing blanks end the address. Returns the address in host order."""
    s = text.split(" ")[0] if " " in text else text
    parts = s.split(".")
    if not s or len(parts) > 4:
        return None
    vals = []
    for p in parts:
        if not p:
            return None
        try:
            if p.lower().startswith("0x"):
                v = int(p[2:], 16) if p[2:] else 0
            elif p.startswith("0") and len(p) > 1:
                v = int(p, 8)
            else:
                v = int(p, 10) if p.isdigit() else None
        except ValueError:
            return None
        if v is None:
            return None
        vals.append(v)
    limits = {1: [0xFFFFFFFF], 2: [0xFF, 0xFFFFFF], 3: [0xFF, 0xFF, 0xFFFF], 4: [0xFF] * 4}[len(vals)]
    if any(v > m for v, m in zip(vals, limits)):
        return None
    if len(vals) == 1:
        return vals[0]
    if len(vals) == 2:
        return (vals[0] << 24) | vals[1]
    if len(vals) == 3:
        return (vals[0] << 24) | (vals[1] << 16) | vals[2]
    return (vals[0] << 24) | (vals[1] << 16) | (vals[2] << 8) | vals[3]


@api(WS2, "unsigned long WINAPI inet_addr(const char *cp)")
def inet_addr(c, cp):
    if cp is None:
        return 0xFFFFFFFF
    v = parse_inet_addr(cp)
    if v is None:
        return 0xFFFFFFFF            # INADDR_NONE
    return int.from_bytes(v.to_bytes(4, "big"), "little")


@api(WS2, "char * WINAPI inet_ntoa(ULONG in)")
def inet_ntoa(c, addr):
    text = _pysocket.inet_ntoa((addr & 0xFFFFFFFF).to_bytes(4, "little")).encode() + b"\0"
    buf = _thread_buffer(c, "ntoa", 16)
    c.write(buf, text)
    return buf


def _pton(c, family, text, dst) -> int:
    if family == AF_INET:
        try:
            ipaddress.IPv4Address(text)      # dotted decimal only, as inet_pton documents
        except ValueError:
            return 0
        c.write(dst, _pysocket.inet_aton(text))
        return 1
    if family == AF_INET6:
        try:
            a = ipaddress.IPv6Address(text)
        except ValueError:
            return 0
        c.write(dst, a.packed)
        return 1
    c.set_last_error(WSAEAFNOSUPPORT)
    return 0xFFFFFFFF


@api(WS2, "INT WINAPI inet_pton(INT Family, PCSTR pszAddrString, PVOID pAddrBuf)")
def inet_pton(c, family, text, dst):
    if text is None or not dst:
        c.set_last_error(WSAEFAULT)
        return 0xFFFFFFFF
    return _pton(c, family, text, dst)


@api(WS2, "INT WINAPI InetPtonW(INT Family, PCWSTR pszAddrString, PVOID pAddrBuf)")
def InetPtonW(c, family, text, dst):
    if text is None or not dst:
        c.set_last_error(WSAEFAULT)
        return 0xFFFFFFFF
    return _pton(c, family, text, dst)


def _ntop(c, family, src, buf, size, wide):
    if family == AF_INET:
        text = _pysocket.inet_ntoa(c.read(src, 4))
    elif family == AF_INET6:
        text = str(ipaddress.IPv6Address(c.read(src, 16)))
    else:
        c.set_last_error(WSAEAFNOSUPPORT)
        return 0
    data = text.encode("utf-16-le") + b"\0\0" if wide else text.encode() + b"\0"
    if not buf or size < len(text) + 1:
        c.set_last_error(WSAEINVAL)
        return 0
    c.write(buf, data)
    return buf


@api(WS2, "PCSTR WINAPI inet_ntop(INT Family, const VOID *pAddr, PSTR pStringBuf, size_t StringBufSize)")
def inet_ntop(c, family, src, buf, size):
    return _ntop(c, family, src, buf, size, False)


@api(WS2, "PCWSTR WINAPI InetNtopW(INT Family, const VOID *pAddr, PWSTR pStringBuf, size_t StringBufSize)")
def InetNtopW(c, family, src, buf, size):
    return _ntop(c, family, src, buf, size, True)


# -- reverse names, services, protocols ----------------------------------------------------------------------
def _hostent(c, name: str, addrs: list[str]) -> int:
    ps = c.ptr_size
    buf = _thread_buffer(c, "hostent", 4096)
    hsize = 32 if ps == 8 else 16
    aliases = buf + hsize
    alist = aliases + ps
    data = alist + ps * (len(addrs) + 1)
    hname = data + 4 * len(addrs)
    c.write(buf, bytes(hsize))
    c.write_ptr(buf, hname)
    c.write_ptr(buf + ps, aliases)
    c.write(buf + 2 * ps, struct.pack("<hh", AF_INET, 4))
    c.write_ptr(buf + 2 * ps + (8 if ps == 8 else 4), alist)
    c.write_ptr(aliases, 0)
    for i, a in enumerate(addrs):
        c.write(data + 4 * i, _pysocket.inet_aton(a))
        c.write_ptr(alist + ps * i, data + 4 * i)
    c.write_ptr(alist + ps * len(addrs), 0)
    c.write(hname, name.encode("cp1252", "replace")[:1024] + b"\0")
    return buf


@api(WS2, "struct hostent * WINAPI gethostbyaddr(const CHAR *addr, int len, int type)")
def gethostbyaddr(c, addr, length, family):
    """The name of an address: the computer's own for the loopback and the adapter, the name an address of the
    fake internet was resolved from; else WSAHOST_NOT_FOUND (no PTR record)."""
    if not A.started(c):
        c.set_last_error(WSANOTINITIALISED)
        return 0
    if family != AF_INET:
        c.set_last_error(WSAEAFNOSUPPORT)
        return 0
    if length < 4 or not addr:
        c.set_last_error(WSAEFAULT)
        return 0
    ip = _pysocket.inet_ntoa(c.read(addr, 4))
    if inet.is_own(c.machine, ip):
        name = computer_name(c)
    else:
        name = inet.internet_of(c.machine).names.get(ip)
    if name is None:
        c.set_last_error(WSAHOST_NOT_FOUND)
        return 0
    c.set_last_error(0)
    return _hostent(c, name, [ip])


#: the services file of Windows (%SystemRoot%\System32\drivers\etc\services), the common entries: name, port,
#: protocols
SERVICE_TABLE = [("echo", 7, "tcp udp"), ("ftp-data", 20, "tcp"), ("ftp", 21, "tcp"), ("ssh", 22, "tcp"),
                 ("telnet", 23, "tcp"), ("smtp", 25, "tcp"), ("domain", 53, "tcp udp"), ("bootps", 67, "udp"),
                 ("bootpc", 68, "udp"), ("tftp", 69, "udp"), ("http", 80, "tcp"), ("kerberos", 88, "tcp udp"),
                 ("pop3", 110, "tcp"), ("ntp", 123, "udp"), ("imap", 143, "tcp"), ("snmp", 161, "udp"),
                 ("ldap", 389, "tcp"), ("https", 443, "tcp udp"), ("microsoft-ds", 445, "tcp"),
                 ("imaps", 993, "tcp"), ("pop3s", 995, "tcp"), ("ms-sql-s", 1433, "tcp"), ("rdp", 3389, "tcp")]


def _servent(c, name: str, port: int, proto: str) -> int:
    ps = c.ptr_size
    buf = _thread_buffer(c, "servent", 256)
    size = 32 if ps == 8 else 16
    aliases = buf + size
    sname = aliases + ps
    sproto = sname + len(name) + 1
    c.write(buf, bytes(size))
    c.write_ptr(buf, sname)
    c.write_ptr(buf + ps, aliases)
    if ps == 8:
        c.write_ptr(buf + 16, sproto)
        c.write(buf + 24, struct.pack(">H", port))
    else:
        c.write(buf + 8, struct.pack(">H", port))
        c.write_ptr(buf + 12, sproto)
    c.write_ptr(aliases, 0)
    c.write(sname, name.encode() + b"\0")
    c.write(sproto, proto.encode() + b"\0")
    return buf


@api(WS2, "struct servent * WINAPI getservbyname(const char *name, const char *proto)")
def getservbyname(c, name, proto):
    if not A.started(c):
        c.set_last_error(WSANOTINITIALISED)
        return 0
    for sname, port, protos in SERVICE_TABLE:
        if name is not None and sname == name.lower() and (proto is None or proto.lower() in protos.split()):
            return _servent(c, sname, port, proto.lower() if proto else protos.split()[0])
    c.set_last_error(WSANO_DATA)
    return 0


@api(WS2, "struct servent * WINAPI getservbyport(int port, const char *proto)")
def getservbyport(c, port, proto):
    if not A.started(c):
        c.set_last_error(WSANOTINITIALISED)
        return 0
    p = int.from_bytes((port & 0xFFFF).to_bytes(2, "little"), "big")   # network order
    for sname, sport, protos in SERVICE_TABLE:
        if sport == p and (proto is None or proto.lower() in protos.split()):
            return _servent(c, sname, sport, proto.lower() if proto else protos.split()[0])
    c.set_last_error(WSANO_DATA)
    return 0


PROTOCOL_TABLE = [("ip", 0), ("icmp", 1), ("ggp", 3), ("tcp", 6), ("pup", 12), ("udp", 17), ("idp", 22),
                  ("ipv6", 41), ("ipv6-icmp", 58), ("nd", 77), ("raw", 255)]


def _protoent(c, name: str, number: int) -> int:
    ps = c.ptr_size
    buf = _thread_buffer(c, "protoent", 128)
    size = 24 if ps == 8 else 12
    aliases = buf + size
    pname = aliases + ps
    c.write(buf, bytes(size))
    c.write_ptr(buf, pname)
    c.write_ptr(buf + ps, aliases)
    c.write(buf + 2 * ps, struct.pack("<h", number))
    c.write_ptr(aliases, 0)
    c.write(pname, name.encode() + b"\0")
    return buf


@api(WS2, "struct protoent * WINAPI getprotobyname(const char *name)")
def getprotobyname(c, name):
    if not A.started(c):
        c.set_last_error(WSANOTINITIALISED)
        return 0
    for pname, num in PROTOCOL_TABLE:
        if name is not None and pname == name.lower():
            return _protoent(c, pname, num)
    c.set_last_error(WSANO_DATA)
    return 0


@api(WS2, "struct protoent * WINAPI getprotobynumber(int number)")
def getprotobynumber(c, number):
    if not A.started(c):
        c.set_last_error(WSANOTINITIALISED)
        return 0
    for pname, num in PROTOCOL_TABLE:
        if num == number:
            return _protoent(c, pname, num)
    c.set_last_error(WSANO_DATA)
    return 0


# -- WSAStringToAddress / WSAAddressToString ---------------------------------------------------------------------
@api(WS2, "INT WINAPI WSAStringToAddress%(LPTSTR AddressString, INT AddressFamily, LPWSAPROTOCOL_INFO lpProtocolInfo, "
          "LPSOCKADDR lpAddress, LPINT lpAddressLength)")
def WSAStringToAddress(c, text_p, family, info, addr, plen):
    if not A.started(c):
        return fail(c, WSANOTINITIALISED)
    if not text_p or not plen:
        return fail(c, WSAEFAULT)
    text = (c.wstr(text_p) if c.wide else c.astr(text_p)) or ""
    have = struct.unpack("<i", c.read(plen, 4))[0]
    if family == AF_INET:
        host, port = text, 0
        if ":" in text:
            host, _, p = text.rpartition(":")
            if not p.isdigit() or int(p) > 65535:
                return fail(c, WSAEINVAL)
            port = int(p)
        v = parse_inet_addr(host)
        if v is None:                     # the forms inet_addr accepts (a.b.c, a.b, a) — as Wine's tests show
            return fail(c, WSAEINVAL)
        data = struct.pack("<H", AF_INET) + struct.pack(">HI", port, v) + bytes(8)
    elif family == AF_INET6:
        host, port = text, 0
        if text.startswith("["):
            host, _, rest = text[1:].partition("]")
            if rest:
                if not rest.startswith(":") or not rest[1:].isdigit() or int(rest[1:]) > 65535:
                    return fail(c, WSAEINVAL)
                port = int(rest[1:])
        scope = 0
        if "%" in host:
            host, _, sc = host.partition("%")
            if not sc.isdigit():
                return fail(c, WSAEINVAL)
            scope = int(sc)
        try:
            packed = ipaddress.IPv6Address(host).packed
        except ValueError:
            return fail(c, WSAEINVAL)
        data = struct.pack("<H", AF_INET6) + struct.pack(">H", port) + bytes(4) + packed + struct.pack("<I", scope)
    else:
        return fail(c, WSAEAFNOSUPPORT)
    if not addr or have < len(data):
        c.write(plen, struct.pack("<i", len(data)))
        return fail(c, WSAEFAULT)
    c.write(addr, data)
    c.write(plen, struct.pack("<i", len(data)))
    return 0


@api(WS2, "INT WINAPI WSAAddressToString%(LPSOCKADDR lpsaAddress, DWORD dwAddressLength, "
          "LPWSAPROTOCOL_INFO lpProtocolInfo, LPTSTR lpszAddressString, LPDWORD lpdwAddressStringLength)")
def WSAAddressToString(c, sa, salen, info, out, plen):
    if not A.started(c):
        return fail(c, WSANOTINITIALISED)
    if not sa or not plen:
        return fail(c, WSAEFAULT)
    raw = c.read(sa, min(salen, 28)) if salen >= 2 else b""
    fam = struct.unpack_from("<H", raw)[0] if len(raw) >= 2 else 0
    if fam == AF_INET and salen >= 16:
        port = struct.unpack_from(">H", raw, 2)[0]
        text = _pysocket.inet_ntoa(raw[4:8]) + (f":{port}" if port else "")
    elif fam == AF_INET6 and salen >= 28:
        port = struct.unpack_from(">H", raw, 2)[0]
        a = str(ipaddress.IPv6Address(raw[8:24]))
        scope = struct.unpack_from("<I", raw, 24)[0]
        a += f"%{scope}" if scope else ""
        text = f"[{a}]:{port}" if port else a
    elif fam in (AF_INET, AF_INET6):
        return fail(c, WSAEFAULT)
    else:
        return fail(c, WSAEINVAL)
    have = struct.unpack("<I", c.read(plen, 4))[0]
    if not out or have < len(text) + 1:
        c.write(plen, struct.pack("<I", len(text) + 1))
        return fail(c, WSAEFAULT)
    c.write(out, (text.encode("utf-16-le") + b"\0\0") if c.wide else (text.encode() + b"\0"))
    c.write(plen, struct.pack("<I", len(text) + 1))
    return 0
