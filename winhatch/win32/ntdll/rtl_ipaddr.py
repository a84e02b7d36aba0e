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
    """(value, next index) of a part at s[i], or (None, error index). A part is decimal, octal after a leading 0
    followed by a digit (at least one octal digit: "08" is an error at the 8, "008" is 0 ending at the 8), or
    hexadecimal after 0x (at least one digit). Overflow is found as Windows finds it, by the 32-bit value
    wrapping below its previous value ("4294967296" is an error at its last digit; "0x123456789" wraps to
    0x23456789 unnoticed)."""
    n = len(s)
    if i >= n or not ("0" <= s[i] <= "9"):
        return None, i
    base, start = 10, i
    if s[i] == "0" and i + 1 < n and s[i + 1] in "xX":
        base, start = 16, i + 2
    elif s[i] == "0" and i + 1 < n and "0" <= s[i + 1] <= "9":
        base, start = 8, i + 1
    if strict and base != 10:
        return None, start
    j, v = start, 0
    digits = "0123456789abcdef"[:base]
    while j < n and s[j].lower() in digits and s[j] != "" and ord(s[j]) < 0x80:
        w = (v * base + int(s[j], 16)) & 0xFFFFFFFF
        if w < v:
            return None, j
        v = w
        j += 1
    if j == start and base != 10:
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


def parse_port(s: str, i: int):
    """The port (1-65535) that is all of s[i:], a number as the address parts are, or None."""
    if i >= len(s):
        return None
    v, j = _number(s, i, False)
    if v is None or j != len(s) or not 0 < v <= 0xFFFF:
        return None
    return v


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
    port = parse_port(s, end + 1) if s[end] == ":" else None
    if port is None:
        return STATUS_INVALID_PARAMETER
    c.write(pport, port.to_bytes(2, "big"))
    return STATUS_SUCCESS


# ------------------------------------------------------------------------------------------ IPv6
def v6_text(b: bytes) -> str:
    g = [int.from_bytes(b[2 * i:2 * i + 2], "big") for i in range(8)]
    # the forms whose last 32 bits Windows writes in dotted decimal: IPv4-compatible (::a.b.c.d) and
    # IPv4-mapped (::ffff:a.b.c.d) and SIIT (::ffff:0:a.b.c.d) when the address's seventh group is not zero
    # (::ffff:0:4403 stays hexadecimal), and ISATAP (an interface identifier 0:5efe or 200:5efe) always
    dotted = ((g[:5] == [0] * 5 and g[5] in (0, 0xFFFF) and g[6] != 0)
              or (g[:4] == [0] * 4 and g[4] == 0xFFFF and g[5] == 0 and g[6] != 0)
              or (g[4] in (0, 0x200) and g[5] == 0x5EFE))
    hexg = g[:6] if dotted else g
    best, best_len, i = -1, 1, 0          # the longest run of two or more zero groups (the first of equal runs)
    while i < len(hexg):
        if hexg[i] == 0:
            j = i
            while j < len(hexg) and hexg[j] == 0:
                j += 1
            if j - i > best_len:
                best, best_len = i, j - i
            i = j
        else:
            i += 1
    tail = [v4_text(b[12:])] if dotted else []
    if best < 0:
        return ":".join([f"{x:x}" for x in hexg] + tail)
    left = ":".join(f"{x:x}" for x in hexg[:best])
    right = ":".join([f"{x:x}" for x in hexg[best + best_len:]] + tail)
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


_HEX = "0123456789abcdefABCDEF"


def _hex_run(s: str, i: int) -> int:
    j = i
    while j < len(s) and s[j] in _HEX:
        j += 1
    return j


def _c_strtol16(s: str, i: int) -> int:
    """The value C's strtol(s + i, NULL, 16) gives for a group that starts with a hex digit: an optional 0x
    prefix, then hexadecimal digits, clamped to LONG_MAX."""
    j = i
    if s[i] == "0" and i + 2 < len(s) and s[i + 1] in "xX" and s[i + 2] in _HEX:
        j = i + 2
    k = _hex_run(s, j)
    return min(int(s[j:k], 16), 0x7FFFFFFF)


class _V6:
    """The state of one IPv6 text parse: the groups written so far, in order, as Windows writes them into the
    caller's IN6_ADDR while it reads (a failed parse leaves those bytes behind), and where '::' stood."""

    def __init__(self):
        self.written: dict[int, int] = {}     # byte offset in the IN6_ADDR -> value
        self.groups: list[int] = []
        self.dcolon = -1                      # the group index where '::' stands
        self.reserved = 0                     # 1 when a '::' in the middle stands for at least one group

    def put(self, value: int) -> None:
        at = 2 * len(self.groups)
        self.written[at], self.written[at + 1] = (value >> 8) & 0xFF, value & 0xFF
        self.groups.append(value & 0xFFFF)

    def room(self) -> int:
        return 8 - len(self.groups) - self.reserved

    def address(self) -> bytes:
        g = self.groups
        if self.dcolon >= 0:
            g = g[:self.dcolon] + [0] * (8 - len(g)) + g[self.dcolon:]
        return b"".join(x.to_bytes(2, "big") for x in g)


def parse_v6(s: str):
    """(status, terminator index or None, bytes written into the IN6_ADDR {offset: value}) of RtlIpv6String-
    ToAddress over s, following Windows (the results Wine's ntdll rtl test records from Windows):
    - groups of one to four hexadecimal digits separated by ':'; one '::' stands for one or more zero groups
      (a leading '::' writes the first zero group at once); a second '::' ends the address at its first ':',
      as does reaching eight groups;
    - a run of decimal digits followed by '.' where two or more groups are left is an IPv4 address in dotted
      decimal (four parts of up to three digits, each at most 255) filling the last two groups;
    - anything else ends the address (the terminator); it is valid when it has eight groups or a '::';
    - a group of more than four digits where the address could not have ended yet, or an IPv4 part of more than
      three digits or above 255 followed by '.', fails without a terminator;
    - the value of a group is what C's strtol(group, NULL, 16) reads, 16 bits of it ("0x88" ends at the x but
      is 0x88), while the terminator is where the hexadecimal digits end.
    Each group is written when the ':' after it is read; the rest of the address on success."""
    st = _V6()
    n = len(s)
    i = 0
    if s.startswith("::"):
        st.put(0)
        st.dcolon = 1
        i = 2
        if i >= n or s[i] not in _HEX:
            return STATUS_SUCCESS, i, _full(st)
    pending = None                            # the last group read, written at the end on success

    def finish(at: int, ok_shape: bool = True):
        groups = len(st.groups) + (pending is not None)
        if ok_shape and (st.dcolon >= 0 or groups == 8):
            if pending is not None:
                st.put(pending)
            return STATUS_SUCCESS, at, _full(st)
        return STATUS_INVALID_PARAMETER, at, dict(st.written)

    for _ in range(16):                       # at most 8 groups and one '::'
        j = _hex_run(s, i)
        if j == i:                            # no group here
            return finish(i, ok_shape=False)
        digits = s[i:j]
        if j < n and s[j] == "." and digits.isdigit() and st.room() >= 2:
            return _v6_ipv4(s, i, st)
        if j - i > 4:
            if st.dcolon >= 0 or st.room() == 1:
                return STATUS_INVALID_PARAMETER, j, dict(st.written)
            return STATUS_INVALID_PARAMETER, None, dict(st.written)
        value = _c_strtol16(s, i) & 0xFFFF
        if st.room() == 1 or j >= n or s[j] != ":":
            pending = value
            return finish(j)
        # a ':' follows
        if j + 1 < n and s[j + 1] == ":":
            if st.dcolon >= 0:                # a second '::' ends the address at its first ':'
                pending = value
                return finish(j)
            st.put(value)
            st.dcolon, st.reserved = len(st.groups), 1
            i = j + 2
            if st.room() == 0 or i >= n or s[i] not in _HEX:
                return STATUS_SUCCESS, i, _full(st)
            continue
        st.put(value)
        i = j + 1
    return STATUS_INVALID_PARAMETER, i, dict(st.written)


def _full(st: _V6) -> dict[int, int]:
    return dict(enumerate(st.address()))


def _v6_ipv4(s: str, i: int, st: _V6):
    """The dotted-decimal IPv4 address at s[i] that ends an IPv6 address (see parse_v6)."""
    n = len(s)
    base = 2 * len(st.groups)
    for part in range(4):
        j = i
        while j < n and "0" <= s[j] <= "9":
            j += 1
        value = int(s[i:j]) if j > i else 0
        if part < 3:
            if j == i or j >= n or s[j] != ".":
                return STATUS_INVALID_PARAMETER, j, dict(st.written)
            if j - i > 3 or value > 255:
                return STATUS_INVALID_PARAMETER, None, dict(st.written)
            st.written[base + part] = value
            i = j + 1
            continue
        if j == i or j - i > 3 or value > 255:
            return STATUS_INVALID_PARAMETER, j, dict(st.written)
        if st.dcolon < 0 and len(st.groups) + 2 != 8:
            return STATUS_INVALID_PARAMETER, j, dict(st.written)
        b = bytes(st.written[base + k] for k in range(3)) + bytes([value])
        st.groups += [int.from_bytes(b[:2], "big"), int.from_bytes(b[2:], "big")]
        return STATUS_SUCCESS, j, _full(st)
    raise AssertionError("unreachable")


def _write_partial(c, paddr: int, written: dict[int, int]) -> None:
    for off, v in sorted(written.items()):
        c.write(paddr + off, bytes([v]))


@api(NT, "NTSTATUS NTAPI RtlIpv6StringToAddress%(PVOID String, PVOID *Terminator, PVOID Addr)")
def RtlIpv6StringToAddress(c, ps, pterm, paddr):
    s = _read_text(c, ps)
    st, end, written = parse_v6(s)
    _write_partial(c, paddr, written)
    if end is not None:
        c.write_ptr(pterm, ps + end * (2 if c.wide else 1))
    return st


def _decimal(s: str, i: int, limit: int):
    """(value, end) of the decimal number at s[i] (at most `limit`), or (None, i)."""
    j, v = i, 0
    while j < len(s) and "0" <= s[j] <= "9":
        v = v * 10 + ord(s[j]) - 48
        if v > limit:
            return None, i
        j += 1
    return (v, j) if j > i else (None, i)


@api(NT, "NTSTATUS NTAPI RtlIpv6StringToAddressEx%(PVOID AddressString, PVOID Address, PULONG ScopeId, "
         "PUSHORT Port)")
def RtlIpv6StringToAddressEx(c, ps, paddr, pscope, pport):
    """The address, optionally in brackets with a ":port" after them, with an optional "%scope" (decimal)
    after the address; the whole string must be taken. Scope and port are written only on success (0 when
    absent); the address is written as RtlIpv6StringToAddress writes it."""
    if not ps or not paddr or not pscope or not pport:
        return STATUS_INVALID_PARAMETER
    s = _read_text(c, ps)
    bracket = s.startswith("[")
    i = 1 if bracket else 0
    st, end, written = parse_v6(s[i:])
    _write_partial(c, paddr, written)
    if st:
        return st
    i += end
    scope = port = 0
    if i < len(s) and s[i] == "%":
        scope, i = _decimal(s, i + 1, 0xFFFFFFFF)
        if scope is None:
            return STATUS_INVALID_PARAMETER
    if bracket:
        if i >= len(s) or s[i] != "]":
            return STATUS_INVALID_PARAMETER
        i += 1
        if i < len(s):
            if s[i] != ":":
                return STATUS_INVALID_PARAMETER
            port = parse_port(s, i + 1)
            if port is None:
                return STATUS_INVALID_PARAMETER
            i = len(s)
    if i != len(s):
        return STATUS_INVALID_PARAMETER
    c.write_u32(pscope, scope)
    c.write(pport, port.to_bytes(2, "big"))
    return STATUS_SUCCESS
