"""iphlpapi: the machine's network configuration as winhatch.kernel.net describes it — one Ethernet adapter
(the profile's address, netmask, gateway, DHCP and DNS server — by default 192.168.1.104/24 behind a home router at
192.168.1.1 —, MAC and adapter name, interface index 7) and the loopback pseudo-interface (127.0.0.1/8, index 1), IPv4 only.

Layouts (checked with mingw-w64's headers, x64 / x86): IP_ADAPTER_INFO 704 / 640, IP_ADDR_STRING 48 / 40,
FIXED_INFO 600 / 584, IP_ADAPTER_ADDRESSES (the LH form) 448 / 376, IP_ADAPTER_UNICAST_ADDRESS 64 / 48,
IP_ADAPTER_DNS_SERVER_ADDRESS and IP_ADAPTER_GATEWAY_ADDRESS 32 / 24, SOCKET_ADDRESS 16 / 8.
"""
from __future__ import annotations

import socket as _pysocket
import struct

from winhatch.kernel.net import internet as inet
from winhatch.kernel.profile import ADAPTER_GUID
from winhatch.win32.api import api

IPH = "iphlpapi.dll"
ERROR_SUCCESS, ERROR_INVALID_PARAMETER, ERROR_BUFFER_OVERFLOW, ERROR_NO_DATA = 0, 87, 111, 232
ETH_INDEX, LOOPBACK_INDEX = 7, 1
FRIENDLY = "Ethernet"
MIB_IF_TYPE_ETHERNET, IF_TYPE_SOFTWARE_LOOPBACK = 6, 24
GAA_FLAG_SKIP_UNICAST, GAA_FLAG_SKIP_ANYCAST, GAA_FLAG_SKIP_MULTICAST = 0x1, 0x2, 0x4
GAA_FLAG_SKIP_DNS_SERVER, GAA_FLAG_INCLUDE_PREFIX, GAA_FLAG_SKIP_FRIENDLY_NAME = 0x8, 0x10, 0x20
GAA_FLAG_INCLUDE_GATEWAYS = 0x80


def _addr_string(c, at: int, ip: str, mask: str, nxt: int = 0) -> None:
    ps = c.ptr_size
    c.write_ptr(at, nxt)
    c.write(at + ps, ip.encode().ljust(16, b"\0"))
    c.write(at + ps + 16, mask.encode().ljust(16, b"\0"))
    c.write(at + ps + 32, struct.pack("<I", 0))


def _unix_now(c) -> int:
    return max(0, (c.machine.clock.system_time() - 116444736000000000) // 10_000_000)


@api(IPH, "ULONG WINAPI GetAdaptersInfo(PIP_ADAPTER_INFO AdapterInfo, PULONG SizePointer)")
def GetAdaptersInfo(c, buf, plen):
    if not plen:
        return ERROR_INVALID_PARAMETER
    ps = c.ptr_size
    size = 704 if ps == 8 else 640
    have = struct.unpack("<I", c.read(plen, 4))[0]
    if not buf or have < size:
        c.write(plen, struct.pack("<I", size))
        return ERROR_BUFFER_OVERFLOW
    c.write(buf, bytes(size))
    o = {"combo": ps, "name": ps + 4, "desc": ps + 264, "alen": ps + 396, "addr": ps + 400, "index": ps + 408,
         "type": ps + 412, "dhcp": ps + 416}
    c.write(buf + o["combo"], struct.pack("<I", ETH_INDEX))
    c.write(buf + o["name"], ADAPTER_GUID.encode())
    c.write(buf + o["desc"], c.machine.profile.adapter_description.encode()[:131])
    c.write(buf + o["alen"], struct.pack("<I", 6))
    c.write(buf + o["addr"], c.machine.profile.mac)
    c.write(buf + o["index"], struct.pack("<III", ETH_INDEX, MIB_IF_TYPE_ETHERNET, 1))
    lists = (440, 488, 536, 592, 640) if ps == 8 else (428, 468, 508, 552, 592)
    ip_list, gw, dhcp, wins1, wins2 = lists
    net = inet.internet_of(c.machine)
    _addr_string(c, buf + ip_list, net.ip, net.netmask)
    _addr_string(c, buf + gw, net.gateway, "255.255.255.255")
    _addr_string(c, buf + dhcp, net.dhcp_server, "255.255.255.255")
    _addr_string(c, buf + wins1, "", "")
    _addr_string(c, buf + wins2, "", "")
    now = _unix_now(c)
    lease = (688, 696) if ps == 8 else (632, 636)
    fmt = "<q" if ps == 8 else "<i"        # time_t: 64-bit on x64, 32-bit in mingw's x86 layout
    c.write(buf + lease[0], struct.pack(fmt, now - 3600))
    c.write(buf + lease[1], struct.pack(fmt, now + 86400 - 3600))
    return ERROR_SUCCESS


@api(IPH, "DWORD WINAPI GetNetworkParams(PFIXED_INFO pFixedInfo, PULONG pOutBufLen)")
def GetNetworkParams(c, buf, plen):
    if not plen:
        return ERROR_INVALID_PARAMETER
    from winhatch.win32.ws2_32.names import computer_name
    ps = c.ptr_size
    size = 600 if ps == 8 else 584
    have = struct.unpack("<I", c.read(plen, 4))[0]
    if not buf or have < size:
        c.write(plen, struct.pack("<I", size))
        return ERROR_BUFFER_OVERFLOW
    c.write(buf, bytes(size))
    c.write(buf, computer_name(c).encode()[:131])
    dns_list = 272 if ps == 8 else 268
    c.write_ptr(buf + 264, buf + dns_list)          # CurrentDnsServer
    _addr_string(c, buf + dns_list, inet.internet_of(c.machine).dns_server, "")
    node = 320 if ps == 8 else 308
    c.write(buf + node, struct.pack("<I", 1))       # NodeType: BROADCAST_NODETYPE (no WINS server)
    return ERROR_SUCCESS


@api(IPH, "DWORD WINAPI GetBestInterface(IPAddr dwDestAddr, PDWORD pdwBestIfIndex)")
def GetBestInterface(c, dest, out):
    if not out:
        return ERROR_INVALID_PARAMETER
    ip = _pysocket.inet_ntoa((dest & 0xFFFFFFFF).to_bytes(4, "little"))
    c.write(out, struct.pack("<I", LOOPBACK_INDEX if inet.is_loopback(ip) else ETH_INDEX))
    return ERROR_SUCCESS


class _Heap:
    """Space handed out from the caller's buffer, in order (GetAdaptersAddresses' one contiguous block)."""

    def __init__(self, base: int):
        self.base = base
        self.used = 0

    def take(self, n: int, align: int = 8) -> int:
        self.used = (self.used + align - 1) & ~(align - 1)
        at = self.base + self.used
        self.used += n
        return at


def _adapters_addresses(c, base: int, flags: int, write: bool) -> int:
    """Lay the two adapters out from `base` (write: store them; else only measure). Returns the size."""
    ps = c.ptr_size
    L = {"size": 448 if ps == 8 else 376, "uni": 64 if ps == 8 else 48, "dns": 32 if ps == 8 else 24}
    h = _Heap(base)
    net = inet.internet_of(c.machine)
    adapters = [
        (ETH_INDEX, ADAPTER_GUID, c.machine.profile.adapter_description, FRIENDLY, c.machine.profile.mac,
         MIB_IF_TYPE_ETHERNET, net.ip, net.prefix_length,
         net.dns_server, net.gateway, 1500, 1_000_000_000),
        (LOOPBACK_INDEX, "{3B1C2D4E-0000-0000-0000-4C4F4F504241}", "Software Loopback Interface 1",
         "Loopback Pseudo-Interface 1", b"", IF_TYPE_SOFTWARE_LOOPBACK, "127.0.0.1", 8, None, None, 0xFFFFFFFF,
         1_073_741_824),
    ]
    prev = 0
    for (idx, name, desc, friendly, mac, iftype, ip, prefix, dns, gw, mtu, speed) in adapters:
        a = h.take(L["size"])
        name_p = h.take(len(name) + 1, 1)
        desc_p = h.take(2 * len(desc) + 2, 2)
        fr_p = h.take(2 * len(friendly) + 2, 2)
        suffix_p = h.take(2, 2)
        uni = sa_u = dns_p = sa_d = gw_p = sa_g = 0
        if not flags & GAA_FLAG_SKIP_UNICAST:
            uni = h.take(L["uni"])
            sa_u = h.take(16)
        if dns and not flags & GAA_FLAG_SKIP_DNS_SERVER:
            dns_p = h.take(L["dns"])
            sa_d = h.take(16)
        if gw and flags & GAA_FLAG_INCLUDE_GATEWAYS:
            gw_p = h.take(L["dns"])
            sa_g = h.take(16)
        if not write:
            continue
        c.write(a, bytes(L["size"]))
        c.write(a, struct.pack("<II", L["size"], idx))
        if prev:
            c.write_ptr(prev + 8, a)
        prev = a
        c.write(name_p, name.encode() + b"\0")
        c.write(desc_p, desc.encode("utf-16-le") + b"\0\0")
        c.write(fr_p, (b"" if flags & GAA_FLAG_SKIP_FRIENDLY_NAME else friendly.encode("utf-16-le")) + b"\0\0")
        c.write(suffix_p, b"\0\0")
        o = (16, 24, 32, 40, 48, 56, 64, 72, 80, 88) if ps == 8 else (12, 16, 20, 24, 28, 32, 36, 40, 44, 52)
        o_name, o_uni, _o_any, _o_multi, o_dns, o_suffix, o_desc, o_friendly, o_phys, o_physlen = o
        c.write_ptr(a + o_name, name_p)
        c.write_ptr(a + o_uni, uni)
        c.write_ptr(a + o_dns, dns_p)
        c.write_ptr(a + o_suffix, suffix_p)
        c.write_ptr(a + o_desc, desc_p)
        c.write_ptr(a + o_friendly, fr_p)
        c.write(a + o_phys, mac.ljust(8, b"\0"))
        # PhysicalAddressLength, Flags (IP_ADAPTER_DHCP_ENABLED 0x4 | IPV4_ENABLED 0x80), Mtu, IfType,
        # OperStatus (IfOperStatusUp), Ipv6IfIndex
        aflags = (0x4 if iftype == MIB_IF_TYPE_ETHERNET else 0) | 0x80
        c.write(a + o_physlen, struct.pack("<IIIIII", len(mac), aflags, mtu, iftype, 1, 0))
        speeds = 184 if ps == 8 else 144
        c.write(a + speeds, struct.pack("<QQ", speed, speed))
        if gw_p:
            c.write_ptr(a + (208 if ps == 8 else 164), gw_p)
        metric = 216 if ps == 8 else 168
        c.write(a + metric, struct.pack("<II", 25 if iftype == MIB_IF_TYPE_ETHERNET else 75, 0))
        luid = 224 if ps == 8 else 176
        c.write(a + luid, struct.pack("<Q", (iftype << 48) | (idx << 24)))
        c.write(a + (248 if ps == 8 else 192), struct.pack("<I", 1))   # CompartmentId
        c.write(a + (268 if ps == 8 else 212), struct.pack("<I", 1))   # ConnectionType: NET_IF_CONNECTION_DEDICATED
        if uni:
            c.write(uni, bytes(L["uni"]))
            c.write(uni, struct.pack("<II", L["uni"], 0))
            c.write(sa_u, struct.pack("<H", 2) + bytes(2) + _pysocket.inet_aton(ip) + bytes(8))
            c.write_ptr(uni + (16 if ps == 8 else 12), sa_u)
            c.write(uni + (16 + ps if ps == 8 else 12 + ps), struct.pack("<i", 16))
            dhcp = iftype == MIB_IF_TYPE_ETHERNET
            tail = 32 if ps == 8 else 20
            # PrefixOrigin, SuffixOrigin (dhcp 3 / well-known 2 / manual 1), DadState (preferred 4),
            # ValidLifetime, PreferredLifetime, LeaseLifetime, OnLinkPrefixLength
            c.write(uni + tail, struct.pack("<IIIIIIB", 3 if dhcp else 2, 3 if dhcp else 2, 4,
                                            86400 if dhcp else 0xFFFFFFFF, 86400 if dhcp else 0xFFFFFFFF,
                                            86400 if dhcp else 0xFFFFFFFF, prefix))
        for p, sa, addr in ((dns_p, sa_d, dns), (gw_p, sa_g, gw)):
            if p:
                c.write(p, bytes(L["dns"]))
                c.write(p, struct.pack("<II", L["dns"], 0))
                c.write(sa, struct.pack("<H", 2) + bytes(2) + _pysocket.inet_aton(addr) + bytes(8))
                c.write_ptr(p + (16 if ps == 8 else 12), sa)
                c.write(p + (16 + ps if ps == 8 else 12 + ps), struct.pack("<i", 16))
    return h.used


@api(IPH, "ULONG WINAPI GetAdaptersAddresses(ULONG Family, ULONG Flags, PVOID Reserved, "
          "PIP_ADAPTER_ADDRESSES AdapterAddresses, PULONG SizePointer)")
def GetAdaptersAddresses(c, family, flags, reserved, buf, plen):
    if not plen or reserved:
        return ERROR_INVALID_PARAMETER
    if family not in (0, 2, 23):
        return ERROR_INVALID_PARAMETER
    if flags & GAA_FLAG_INCLUDE_PREFIX:
        from winhatch.win32.ws2_32.sockets import unsupported
        unsupported(c, "GetAdaptersAddresses with GAA_FLAG_INCLUDE_PREFIX")
    if family == 23:
        return ERROR_NO_DATA           # the machine has no IPv6 stack
    need = _adapters_addresses(c, 0, flags, False) + 8
    have = struct.unpack("<I", c.read(plen, 4))[0]
    if not buf or have < need:
        c.write(plen, struct.pack("<I", need))
        return ERROR_BUFFER_OVERFLOW
    _adapters_addresses(c, buf, flags, True)
    return ERROR_SUCCESS


# --- the IPv4 address and route tables (MIB_IPADDRTABLE, MIB_IPFORWARDTABLE: DWORD fields, the same on x86
# and x64; addresses in network byte order) ------------------------------------------------------------------
ERROR_INSUFFICIENT_BUFFER = 122
MIB_IPROUTE_TYPE_DIRECT, MIB_IPROUTE_TYPE_INDIRECT = 3, 4
MIB_IPPROTO_LOCAL, MIB_IPPROTO_NETMGMT = 2, 3
#: the metrics Windows 10 gives the routes of a 1 Gbit/s Ethernet interface (interface metric 25) and of the
#: loopback (interface metric 75): route metric + interface metric, as `route print` shows them
ETH_METRIC, ETH_DEFAULT_METRIC, LOOPBACK_METRIC = 281, 25, 331


def _ip(a: str) -> int:
    """A dotted address as the DWORD the MIB tables hold (network byte order in memory)."""
    return int.from_bytes(_pysocket.inet_aton(a), "little")


def _table_out(c, buf: int, psize: int, rows: list[bytes]) -> int:
    """Store a MIB table (a DWORD count, then the rows) in the caller's buffer of *psize bytes."""
    if not psize:
        return ERROR_INVALID_PARAMETER
    size = 4 + sum(len(r) for r in rows)
    have = struct.unpack("<I", c.read(psize, 4))[0]
    if not buf or have < size:
        c.write(psize, struct.pack("<I", size))
        return ERROR_INSUFFICIENT_BUFFER
    c.write(buf, struct.pack("<I", len(rows)) + b"".join(rows))
    return ERROR_SUCCESS


@api(IPH, "DWORD WINAPI GetIpAddrTable(PMIB_IPADDRTABLE pIpAddrTable, PULONG pdwSize, BOOL bOrder)")
def GetIpAddrTable(c, buf, psize, order):
    net = inet.internet_of(c.machine)
    # MIB_IPADDRROW: dwAddr, dwIndex, dwMask, dwBCastAddr (1: the broadcast address's low bit), dwReasmSize,
    # unused1, wType (MIB_IPADDR_PRIMARY 1)
    rows = sorted([(_pysocket.inet_aton("127.0.0.1"), LOOPBACK_INDEX, "127.0.0.1", "255.0.0.0"),
                   (_pysocket.inet_aton(net.ip), ETH_INDEX, net.ip, net.netmask)])
    out = [struct.pack("<IIIIIHH", _ip(a), idx, _ip(m), 1, 65535, 0, 1) for _k, idx, a, m in rows]
    return _table_out(c, buf, psize, out)


def _routes(net) -> list[tuple[str, str, str, int, int, int, int]]:
    """(destination, mask, next hop, interface, type, protocol, metric): Windows 10's IPv4 routing table for
    the adapter's network and the loopback, sorted by destination as `route print` and bOrder list them."""
    import ipaddress
    lan = ipaddress.IPv4Network(f"{net.ip}/{net.netmask}", strict=False)
    d, loc, ind, mgmt = MIB_IPROUTE_TYPE_DIRECT, MIB_IPPROTO_LOCAL, MIB_IPROUTE_TYPE_INDIRECT, MIB_IPPROTO_NETMGMT
    lo, eth = LOOPBACK_INDEX, ETH_INDEX
    routes = [
        ("0.0.0.0", "0.0.0.0", net.gateway, eth, ind, mgmt, ETH_DEFAULT_METRIC),
        ("127.0.0.0", "255.0.0.0", "127.0.0.1", lo, d, loc, LOOPBACK_METRIC),
        ("127.0.0.1", "255.255.255.255", "127.0.0.1", lo, d, loc, LOOPBACK_METRIC),
        ("127.255.255.255", "255.255.255.255", "127.0.0.1", lo, d, loc, LOOPBACK_METRIC),
        (str(lan.network_address), net.netmask, net.ip, eth, d, loc, ETH_METRIC),
        (net.ip, "255.255.255.255", net.ip, eth, d, loc, ETH_METRIC),
        (str(lan.broadcast_address), "255.255.255.255", net.ip, eth, d, loc, ETH_METRIC),
        ("224.0.0.0", "240.0.0.0", "127.0.0.1", lo, d, loc, LOOPBACK_METRIC),
        ("224.0.0.0", "240.0.0.0", net.ip, eth, d, loc, ETH_METRIC),
        ("255.255.255.255", "255.255.255.255", "127.0.0.1", lo, d, loc, LOOPBACK_METRIC),
        ("255.255.255.255", "255.255.255.255", net.ip, eth, d, loc, ETH_METRIC),
    ]
    return sorted(routes, key=lambda r: (_pysocket.inet_aton(r[0]), _pysocket.inet_aton(r[1]), r[3]))


@api(IPH, "DWORD WINAPI GetIpForwardTable(PMIB_IPFORWARDTABLE pIpForwardTable, PULONG pdwSize, BOOL bOrder)")
def GetIpForwardTable(c, buf, psize, order):
    net = inet.internet_of(c.machine)
    age = c.machine.clock.now() // 10_000_000         # seconds since the routes were made (at boot)
    # MIB_IPFORWARDROW: dest, mask, policy, next hop, ifindex, type, proto, age, next-hop AS, metric1-5
    rows = [struct.pack("<14I", _ip(dst), _ip(mask), 0, _ip(hop), idx, typ, proto, age & 0xFFFFFFFF, 0, metric,
                        0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF)
            for dst, mask, hop, idx, typ, proto, metric in _routes(net)]
    return _table_out(c, buf, psize, rows)
