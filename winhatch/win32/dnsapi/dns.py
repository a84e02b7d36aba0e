"""dnsapi: DnsQuery_A/W/UTF8 and the record lists they return, over the same path as getaddrinfo: a DNS
question over UDP to the adapter's DNS server (winhatch.kernel.net: every name has an A record; other types
have no records). The records are DNS_RECORD structures (x64 88 bytes with the name pointer at 8, x86 64) in
one process-heap block each, the owner name after the record; DnsRecordListFree / DnsFree free them."""
from __future__ import annotations

import ipaddress
import socket as _pysocket
import struct

from winhatch.win32.api import api

DNS = "dnsapi.dll"
DNS_TYPE_A = 1
DNS_ERROR_RCODE_NAME_ERROR = 9003
DNS_INFO_NO_RECORDS = 9501
DNS_ERROR_INVALID_NAME = 123   # ERROR_INVALID_NAME
DNS_QUERY_NO_WIRE_QUERY = 0x10
DNS_CHARSET_UNICODE, DNS_CHARSET_UTF8, DNS_CHARSET_ANSI = 1, 2, 3
DnsFreeFlat, DnsFreeRecordList = 0, 1


def _query(c, name, qtype, options, results, charset):
    from winhatch.win32.ws2_32 import names
    if not results:
        return 87      # ERROR_INVALID_PARAMETER
    c.write_ptr(results, 0)
    if not name or len(name) > 255:
        return DNS_ERROR_INVALID_NAME
    qtype &= 0xFFFF
    if options & DNS_QUERY_NO_WIRE_QUERY:
        return DNS_INFO_NO_RECORDS
    literal = None
    try:
        literal = str(ipaddress.IPv4Address(name))
    except ValueError:
        pass
    if literal is not None:
        answers = [literal] if qtype == DNS_TYPE_A else []
    else:
        answers = names.dns_query(c, name.rstrip("."), qtype) or []
    if qtype != DNS_TYPE_A or not answers:
        return DNS_INFO_NO_RECORDS
    from winhatch.win32.kernel32.common import heap_alloc
    ps = c.ptr_size
    size = 88 if ps == 8 else 64
    data_off = 32 if ps == 8 else 24
    enc = name.encode("utf-16-le") + b"\0\0" if charset == DNS_CHARSET_UNICODE else name.encode() + b"\0"
    prev = head = 0
    for a in answers[:32]:
        blk = heap_alloc(c, size + len(enc), 0x8)
        if not blk:
            return 14    # ERROR_OUTOFMEMORY
        c.write(blk + size, enc)
        c.write_ptr(blk + ps, blk + size)
        flags = 1 | (charset << 3)          # Section: answer; CharSet
        c.write(blk + 2 * ps, struct.pack("<HHII", DNS_TYPE_A, 4, flags, 300))
        c.write(blk + data_off, _pysocket.inet_aton(a))
        if prev:
            c.write_ptr(prev, blk)
        else:
            head = blk
        prev = blk
    c.write_ptr(results, head)
    return 0


@api(DNS, "DNS_STATUS WINAPI DnsQuery_A(PCSTR pszName, WORD wType, DWORD Options, PVOID pExtra, "
          "PDNS_RECORD *ppQueryResults, PVOID *pReserved)")
def DnsQuery_A(c, name, qtype, options, extra, results, reserved):
    return _query(c, name, qtype, options, results, DNS_CHARSET_ANSI)


@api(DNS, "DNS_STATUS WINAPI DnsQuery_UTF8(PCSTR pszName, WORD wType, DWORD Options, PVOID pExtra, "
          "PDNS_RECORD *ppQueryResults, PVOID *pReserved)")
def DnsQuery_UTF8(c, name, qtype, options, extra, results, reserved):
    return _query(c, name, qtype, options, results, DNS_CHARSET_UTF8)


@api(DNS, "DNS_STATUS WINAPI DnsQuery_W(PCWSTR pszName, WORD wType, DWORD Options, PVOID pExtra, "
          "PDNS_RECORD *ppQueryResults, PVOID *pReserved)")
def DnsQuery_W(c, name, qtype, options, extra, results, reserved):
    return _query(c, name, qtype, options, results, DNS_CHARSET_UNICODE)


def _free_list(c, p):
    from winhatch.win32.kernel32.common import heap_free
    for _ in range(100_000):
        if not p:
            return
        nxt = c.ptr(p)
        heap_free(c, p)
        p = nxt


@api(DNS, "void WINAPI DnsRecordListFree(PDNS_RECORD pRecordList, DNS_FREE_TYPE FreeType)")
def DnsRecordListFree(c, p, free_type):
    _free_list(c, p)


@api(DNS, "void WINAPI DnsFree(PVOID pData, DNS_FREE_TYPE FreeType)")
def DnsFree(c, p, free_type):
    from winhatch.win32.kernel32.common import heap_free
    if free_type == DnsFreeRecordList:
        _free_list(c, p)
    elif free_type == DnsFreeFlat:
        if p:
            heap_free(c, p)
    else:
        from winhatch.win32.ws2_32.sockets import unsupported
        unsupported(c, f"DnsFree of type {free_type} (parsed message fields)")
