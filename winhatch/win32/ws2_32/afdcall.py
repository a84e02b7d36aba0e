"""How ws2_32's handlers reach the sockets driver (winhatch.kernel.io.afd): NtCreateFile on \\Device\\Afd\\Endpoint
for a new socket, NtDeviceIoControlFile with the driver's control codes for everything else; and the one
NTSTATUS -> Winsock error table (the WSAE* codes Windows gives for each driver status)."""
from __future__ import annotations

import struct

from winhatch.kernel.io import afd

WSA_IO_PENDING = 997
WSA_OPERATION_ABORTED = 995
WSAEINTR, WSAEBADF, WSAEACCES, WSAEFAULT, WSAEINVAL = 10004, 10009, 10013, 10014, 10022
WSAEWOULDBLOCK, WSAEINPROGRESS, WSAEALREADY, WSAENOTSOCK, WSAEDESTADDRREQ = 10035, 10036, 10037, 10038, 10039
WSAEMSGSIZE, WSAEPROTOTYPE, WSAENOPROTOOPT, WSAEPROTONOSUPPORT, WSAESOCKTNOSUPPORT = 10040, 10041, 10042, 10043, 10044
WSAEOPNOTSUPP, WSAEAFNOSUPPORT, WSAEADDRINUSE, WSAEADDRNOTAVAIL = 10045, 10047, 10048, 10049
WSAENETUNREACH, WSAECONNABORTED, WSAECONNRESET, WSAENOBUFS, WSAEISCONN, WSAENOTCONN = 10051, 10053, 10054, 10055, 10056, 10057
WSAESHUTDOWN, WSAETIMEDOUT, WSAECONNREFUSED, WSAEHOSTUNREACH = 10058, 10060, 10061, 10065
WSANOTINITIALISED, WSATYPE_NOT_FOUND = 10093, 10109
WSAHOST_NOT_FOUND, WSATRY_AGAIN, WSANO_RECOVERY, WSANO_DATA = 11001, 11002, 11003, 11004

STATUS_TO_WSA = {
    afd.STATUS_CANT_WAIT: WSAEWOULDBLOCK,
    afd.STATUS_INVALID_CONNECTION: WSAENOTCONN,
    afd.STATUS_CONNECTION_REFUSED: WSAECONNREFUSED,
    afd.STATUS_CONNECTION_RESET: WSAECONNRESET,
    afd.STATUS_LOCAL_DISCONNECT: WSAESHUTDOWN,
    afd.STATUS_CONNECTION_ACTIVE: WSAEISCONN,
    afd.STATUS_INVALID_ADDRESS_COMPONENT: WSAEADDRNOTAVAIL,
    afd.STATUS_ADDRESS_ALREADY_EXISTS: WSAEADDRINUSE,
    afd.STATUS_INVALID_PARAMETER: WSAEINVAL,
    afd.STATUS_NOT_SUPPORTED: WSAEOPNOTSUPP,
    afd.STATUS_BUFFER_OVERFLOW: WSAEMSGSIZE,
    afd.STATUS_IO_TIMEOUT: WSAETIMEDOUT,
    afd.STATUS_INVALID_HANDLE: WSAENOTSOCK,
    afd.STATUS_INVALID_DEVICE_REQUEST: WSAENOTSOCK,
    0xC0000024: WSAENOTSOCK,            # STATUS_OBJECT_TYPE_MISMATCH
    0xC0000005: WSAEFAULT,              # STATUS_ACCESS_VIOLATION
    afd.STATUS_BUFFER_TOO_SMALL: WSAEFAULT,
    0xC0000120: WSA_OPERATION_ABORTED,  # STATUS_CANCELLED
    afd.STATUS_HOST_UNREACHABLE: WSAEHOSTUNREACH,
    0xC0000206: WSAENOBUFS,             # STATUS_TOO_MANY_ADDRESSES
    0xC000009A: WSAENOBUFS,             # STATUS_INSUFFICIENT_RESOURCES
    0xC0000043: WSAEACCES,              # STATUS_SHARING_VIOLATION
    0xC0000022: WSAEACCES,              # STATUS_ACCESS_DENIED
}


def wsa_error(status: int) -> int:
    return STATUS_TO_WSA.get(status & 0xFFFFFFFF, WSAEINVAL if status >= 0xC0000000 else 0)


def fail(c, err: int) -> int:
    """Set the thread's Winsock error and return SOCKET_ERROR (-1 as an int)."""
    c.set_last_error(err)
    return 0xFFFFFFFF


def invalid_socket(c) -> int:
    return (1 << (8 * c.ptr_size)) - 1


def started(c) -> bool:
    return c.proc.subsystem.get("wsa_startups", 0) > 0


def create(c, family: int, stype: int, protocol: int, flags: int = 0) -> tuple[int, int]:
    """A new socket handle: (status, handle)."""
    value = struct.pack("<IIII", family, stype, protocol, flags)
    name = b"AfdOpenPacketXX"
    ea = struct.pack("<IBBH", 0, 0, len(name), len(value)) + name + b"\0" + value
    ea_buf = c.stack_alloc(len(ea), 8)
    c.write(ea_buf, ea)
    h_out = c.stack_alloc(8, 8)
    iosb = c.stack_alloc(16, 8)
    oa = c.object_attributes(c.unicode_string("\\Device\\Afd\\Endpoint"), 0x40)
    st = c.nt("NtCreateFile", h_out, 0xC0100000, oa, iosb, 0, 0, 3, 3, 0, ea_buf, len(ea))
    return st, (c.ptr(h_out) if st == 0 else 0)


def ioctl(c, s: int, code: int, inp: bytes = b"", outlen: int = 0, *, event: int = 0, apc_ctx: int = 0,
          iosb: int = 0, out: int = 0) -> tuple[int, int, bytes]:
    """NtDeviceIoControlFile on socket `s`: (status, Information, output bytes). `out`: the guest's own output
    buffer (else scratch of `outlen` bytes); `iosb`: the caller's IO_STATUS_BLOCK (an OVERLAPPED)."""
    inp_addr = 0
    if inp:
        inp_addr = c.stack_alloc(len(inp), 8)
        c.write(inp_addr, inp)
    out_addr = out or (c.stack_alloc(outlen, 8) if outlen else 0)
    own_iosb = iosb or c.stack_alloc(16, 8)
    st = c.nt("NtDeviceIoControlFile", s, event, 0, apc_ctx, own_iosb, code, inp_addr, len(inp), out_addr, outlen)
    info = 0
    if st == 0 or st == afd.STATUS_BUFFER_OVERFLOW:
        raw = c.read(own_iosb + c.ptr_size, c.ptr_size)
        info = int.from_bytes(raw, "little")
    data = c.read(out_addr, outlen) if (outlen and not out and st in (0, afd.STATUS_BUFFER_OVERFLOW)) else b""
    return st, info, data


def sockaddr(c, addr: int, length: int) -> bytes | None:
    """The SOCKADDR bytes a caller passed (None: too short or not readable: WSAEFAULT)."""
    if not addr or length < 16:
        return None
    try:
        return c.read(addr, 16)
    except Exception:
        return None
