"""ntdll's IP address text conversions: RtlIpv4AddressToString(Ex)A/W, RtlIpv4StringToAddress(Ex)A/W,
RtlIpv6AddressToString(Ex)A/W. Addresses are in network byte order (IN_ADDR, IN6_ADDR), ports too.

IPv4 text (RtlIpv4StringToAddress): one to four parts separated by dots, the last filling the remaining bytes
("1.2" is 1.0.0.2, "1" is 0.0.0.1); a part is decimal, octal after a leading 0 or hexadecimal after 0x, except
with Strict, which takes four decimal parts only. Parsing stops at the first character that cannot continue
the address, which *Terminator receives (STATUS_SUCCESS: the address ends there); the Ex forms take the whole
string, with an optional ":port" (decimal or 0x hex, 1-65535). Checked against the reference ntdll
(tests/fixtures/src/conf_rtl_ipaddr.c).

IPv6 text follows RFC 5952's shape as Windows writes it: lowercase hexadecimal groups without leading zeros,
the longest run of two or more zero groups as "::" (the first of equal runs), the IPv4-mapped (::ffff:a.b.c.d),
SIIT (::ffff:0:a.b.c.d) and IPv4-compatible (::a.b.c.d) forms in dotted decimal; the Ex form adds "%scope"
and "[...]:port".
"""
from __future__ import annotations

from winhatch.win32.api import api

NT = "ntdll.dll"
STATUS_SUCCESS = 0
STATUS_INVALID_PARAMETER = 0xC000000D
MAX_TEXT = 256


def _read_text(c, p: int) -> str:
    """The string at p (narrow or wide by the call), up to MAX_TEXT characters."""
    w = 2 if c.wide else 1
    out = []
    for i in range(MAX_TEXT):
        ch = int.from_bytes(c.read(p + w * i, w), "little")
        if not ch:
            break
        out.append(chr(ch))
    return "".join(out)


def _write_text(c, buf: int, s: str) -> None:
    c.write(buf, (s.encode("utf-16-le") + b"\0\0") if c.wide else (s.encode("latin-1") + b"\0"))


# ------------------------------------------------------------------------------------------ IPv4
def v4_text(b: bytes) -> str:
    return ".".join(str(x) for x in b[:4])


def _number(s: str, i: int, strict: bool):
    """(value, next index) of a part at s[i], or (None, error index)."""
    n = len(s)
    if i >= n or not s[i].isdigit() or ord(s[i]) > 0x7F:
        return None, i
    base, start = 10, i
    if s[i] == "0" and i + 1 < n and s[i + 1] in "xX":
        base, start = 16, i + 2
    elif s[i] == "0" and i + 1 < n and s[i + 1].isdigit():
        base, start = 8, i + 1
    if strict and base != 10:
        return None, start
    j, v = start, 0
    digits = "0123456789abcdef"[:base]
    while j < n and s[j].lower() in digits and s[j] != "":
        v = v * base + int(s[j], 16)
        if v > 0xFFFFFFFF:
            return None, j
        j += 1
    if base == 8 and j < n and s[j] in "89":
        return None, j
    if j == start and base == 16:
        return None, j
    return v, j


def parse_v4(s: str, strict: bool):
    """(status, end index, address bytes or None)."""
    parts, i = [], 0
    while True:
        v, j = _number(s, i, strict)
        if v is None:
            return STATUS_INVALID_PARAMETER, (j + 1 if j == i and i < len(s) and s[i] == "." else j), None
        parts.append(v)
        i = j
        if i < len(s) and s[i] == "." and len(parts) < 4:
            i += 1
            continue
        if i < len(s) and s[i] == "." and len(parts) == 4:
            return STATUS_INVALID_PARAMETER, i, None
        break
    if strict and len(parts) != 4:
        return STATUS_INVALID_PARAMETER, i, None
    head, last = parts[:-1], parts[-1]
    if any(p > 255 for p in head) or last >= 1 << (8 * (4 - len(head))):
        return STATUS_INVALID_PARAMETER, i, None
    return STATUS_SUCCESS, i, bytes(head) + last.to_bytes(4 - len(head), "big")


@api(NT, "PVOID NTAPI RtlIpv4AddressToString%(const PVOID Addr, PVOID S)")
def RtlIpv4AddressToString(c, paddr, buf):
    if not buf:                      # no buffer: nothing written, (PSTR)~0 back (Wine's ntdll rtl test, on Windows)
        return (1 << (8 * c.ptr_size)) - 1
    text = v4_text(c.read(paddr, 4))
    _write_text(c, buf, text)
    return buf + len(text) * (2 if c.wide else 1)


@api(NT, "NTSTATUS NTAPI RtlIpv4AddressToStringEx%(const PVOID Address, USHORT Port, PVOID AddressString, "
         "PULONG AddressStringLength)")
def RtlIpv4AddressToStringEx(c, paddr, port, buf, plen):
    if not paddr or not buf or not plen:
        return STATUS_INVALID_PARAMETER
    text = v4_text(c.read(paddr, 4))
    if port:
        text += f":{int.from_bytes((port & 0xFFFF).to_bytes(2, 'little'), 'big')}"
    need = len(text) + 1
    if c.u32(plen) < need:
        c.write_u32(plen, need)
        return STATUS_INVALID_PARAMETER
    _write_text(c, buf, text)
    c.write_u32(plen, need)
    return STATUS_SUCCESS


@api(NT, "NTSTATUS NTAPI RtlIpv4StringToAddress%(PVOID String, BOOLEAN Strict, PVOID *Terminator, PVOID Addr)")
def RtlIpv4StringToAddress(c, ps, strict, pterm, paddr):
    s = _read_text(c, ps)
    st, end, addr = parse_v4(s, bool(strict & 0xFF))
    if pterm:
        c.write_ptr(pterm, ps + end * (2 if c.wide else 1))
    if addr is not None:
        c.write(paddr, addr)
    return st


@api(NT, "NTSTATUS NTAPI RtlIpv4StringToAddressEx%(PVOID AddressString, BOOLEAN Strict, PVOID Address, "
         "PUSHORT Port)")
def RtlIpv4StringToAddressEx(c, ps, strict, paddr, pport):
    if not ps or not paddr or not pport:
        return STATUS_INVALID_PARAMETER
    s = _read_text(c, ps)
    st, end, addr = parse_v4(s, bool(strict & 0xFF))
    if st:
        return st
    c.write(paddr, addr)
    if end == len(s):
        return STATUS_SUCCESS           # no port: *Port is left as it was
    if True:
        if s[end] != ":":
            return STATUS_INVALID_PARAMETER
        v, j = _number(s, end + 1, False)
        if v is None or j != len(s) or not 0 < v <= 0xFFFF or (s[end + 1] == "0" and not s[end + 1:].lower().startswith("0x")):
            return STATUS_INVALID_PARAMETER
        c.write(pport, v.to_bytes(2, "big"))
    return STATUS_SUCCESS


# ------------------------------------------------------------------------------------------ IPv6
def v6_text(b: bytes) -> str:
    g = [int.from_bytes(b[2 * i:2 * i + 2], "big") for i in range(8)]
    if g[:5] == [0] * 5 and g[5] == 0xFFFF:
        return "::ffff:" + v4_text(b[12:])
    if g[:4] == [0] * 4 and g[4] == 0xFFFF and g[5] == 0:
        return "::ffff:0:" + v4_text(b[12:])
    if g[:6] == [0] * 6 and g[6]:
        return "::" + v4_text(b[12:])
    best, best_len, i = -1, 1, 0
    while i < 8:
        if g[i] == 0:
            j = i
            while j < 8 and g[j] == 0:
                j += 1
            if j - i > best_len:
                best, best_len = i, j - i
            i = j
        else:
            i += 1
    if best < 0:
        return ":".join(f"{x:x}" for x in g)
    left = ":".join(f"{x:x}" for x in g[:best])
    right = ":".join(f"{x:x}" for x in g[best + best_len:])
    return f"{left}::{right}"


@api(NT, "PVOID NTAPI RtlIpv6AddressToString%(const PVOID Addr, PVOID S)")
def RtlIpv6AddressToString(c, paddr, buf):
    if not buf:                      # as RtlIpv4AddressToString: (PSTR)~0
        return (1 << (8 * c.ptr_size)) - 1
    text = v6_text(c.read(paddr, 16))
    _write_text(c, buf, text)
    return buf + len(text) * (2 if c.wide else 1)


@api(NT, "NTSTATUS NTAPI RtlIpv6AddressToStringEx%(const PVOID Address, ULONG ScopeId, USHORT Port, "
         "PVOID AddressString, PULONG AddressStringLength)")
def RtlIpv6AddressToStringEx(c, paddr, scope, port, buf, plen):
    if not paddr or not buf or not plen:
        return STATUS_INVALID_PARAMETER
    text = v6_text(c.read(paddr, 16))
    if scope:
        text += f"%{scope}"
    if port:
        text = f"[{text}]:{int.from_bytes((port & 0xFFFF).to_bytes(2, 'little'), 'big')}"
    need = len(text) + 1
    if c.u32(plen) < need:
        c.write_u32(plen, need)
        return STATUS_INVALID_PARAMETER
    _write_text(c, buf, text)
    c.write_u32(plen, need)
    return STATUS_SUCCESS
