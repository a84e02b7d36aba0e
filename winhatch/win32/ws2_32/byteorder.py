"""ws2_32's byte-order conversions (host is little-endian, network order big-endian)."""
from __future__ import annotations

from winhatch.win32.api import api

WS = "ws2_32.dll"


@api(WS, "u_short WINAPI htons(u_short hostshort)")
def htons(c, v):
    v &= 0xFFFF
    return ((v & 0xFF) << 8) | (v >> 8)


@api(WS, "u_short WINAPI ntohs(u_short netshort)")
def ntohs(c, v):
    return htons(c, v)


@api(WS, "u_long WINAPI htonl(u_long hostlong)")
def htonl(c, v):
    return int.from_bytes((v & 0xFFFFFFFF).to_bytes(4, "little"), "big")


@api(WS, "u_long WINAPI ntohl(u_long netlong)")
def ntohl(c, v):
    return htonl(c, v)
