"""ntdll: code page tables from an NLS file's image — RtlInitCodePageTable fills a CPTABLEINFO from a view of
c_NNN.nls (NtGetNlsSectionPtr(11, cp), winhatch.kernel.ex.nls_files describes the layout) and
RtlCustomCPToUnicodeN converts through such a table, reading the guest's tables as Windows does.

CPTABLEINFO (offsets from a mingw offsetof program, x86 / x64): CodePage 0, MaximumCharacterSize 2, DefaultChar 4,
UniDefaultChar 6, TransDefaultChar 8, TransUniDefaultChar 10, DBCSCodePage 12, LeadByte[12] 14, then the
pointers MultiByteTable 28/32, WideCharTable 32/40, DBCSRanges 36/48, DBCSOffsets 40/56; 44/64 bytes.
"""
from __future__ import annotations

import struct

from winhatch.ntstatus import STATUS_SUCCESS
from winhatch.win32.api import api

NT = "ntdll.dll"
CP_UTF8 = 65001


def _ptrs_at(c) -> int:
    return 32 if c.ptr_size == 8 else 28


@api(NT, "void NTAPI RtlInitCodePageTable(USHORT *TableBase, CPTABLEINFO *CodePageTable)")
def RtlInitCodePageTable(c, base, info):
    """The header's fields, then the tables' addresses in the image: the multi-byte table after the header and
    the word giving the wide-char table's distance, the DBCS word after it (and after the glyph table when the
    file has one), the DBCS offsets after a non-zero DBCS word. An image naming CP_UTF8 (no file holds one: a
    caller passes { 0, CP_UTF8 }) gives the UTF-8 table: four bytes at most, no tables."""
    ps = c.ptr_size
    head = c.read(base, 28)
    words = struct.unpack("<14H", head)
    if words[1] == CP_UTF8:
        fixed = struct.pack("<7H", CP_UTF8, 4, ord("?"), 0xFFFD, ord("?"), ord("?"), 0) + bytes(12)
        c.write(info, fixed.ljust(_ptrs_at(c), b"\0") + bytes(4 * ps))
        return 0
    hdr = words[0]
    mb = base + 2 * (hdr + 1)
    wide = base + 2 * (hdr + 1 + struct.unpack("<H", c.read(base + 2 * hdr, 2))[0])
    glyphs = struct.unpack("<H", c.read(mb + 2 * 256, 2))[0]
    ranges = mb + 2 * (256 + 1 + (256 if glyphs else 0))
    dbcs = struct.unpack("<H", c.read(ranges, 2))[0] != 0
    fields = struct.pack("<6H", *words[1:7]) + struct.pack("<H", 1 if dbcs else 0) + c.read(base + 14, 12)
    fmt = "<4Q" if ps == 8 else "<4I"
    c.write(info, fields.ljust(_ptrs_at(c), b"\0") + struct.pack(fmt, mb, wide, ranges, ranges + 2 if dbcs else 0))
    return 0


@api(NT, "NTSTATUS NTAPI RtlCustomCPToUnicodeN(CPTABLEINFO *CustomCP, PWCH UnicodeString, "
         "ULONG MaxBytesInUnicodeString, PULONG BytesInUnicodeString, PCH CustomCPString, "
         "ULONG BytesInCustomCPString)")
def RtlCustomCPToUnicodeN(c, info, dst, dmax, res, src, slen):
    """Each byte through the table's multi-byte table; in a double-byte code page a lead byte and the byte
    after it through the lead byte's table of the DBCS offsets, and a lead byte that ends the input gives
    U+0000. At most MaxBytesInUnicodeString / 2 units are written; BytesInUnicodeString: the bytes written."""
    ps = c.ptr_size
    at = _ptrs_at(c)
    raw = c.read(info, at + 4 * ps)
    cp = struct.unpack_from("<H", raw, 0)[0]
    is_dbcs = struct.unpack_from("<H", raw, 12)[0]
    mb_ptr, _wide, _ranges, offs_ptr = struct.unpack_from("<4Q" if ps == 8 else "<4I", raw, at)
    if not mb_ptr:
        from winhatch.win32.kernel32.locale import _stop
        _stop(c, f"RtlCustomCPToUnicodeN through a table without a multi-byte table (code page {cp})")
    room = dmax // 2
    data = c.read(src, min(slen, 2 * room if is_dbcs else room)) if slen and room else b""
    mb = struct.unpack("<256H", c.read(mb_ptr, 512))
    out: list[int] = []
    if not is_dbcs:
        out = [mb[b] for b in data[:room]]
    else:
        offsets = struct.unpack("<256H", c.read(offs_ptr, 512))
        i, n = 0, len(data)
        while i < n and len(out) < room:
            b = data[i]
            off = offsets[b]
            if not off:
                out.append(mb[b])
                i += 1
            elif i + 1 >= n:
                out.append(0)               # a lead byte that ends the input
                i += 1
            else:
                out.append(struct.unpack("<H", c.read(offs_ptr + 2 * (off + data[i + 1]), 2))[0])
                i += 2
    if out:
        c.write(dst, struct.pack(f"<{len(out)}H", *out))
    if res:
        c.write_u32(res, 2 * len(out))
    return STATUS_SUCCESS
