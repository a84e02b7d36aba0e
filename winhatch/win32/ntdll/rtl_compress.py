"""ntdll's compression API: RtlGetCompressionWorkSpaceSize, RtlCompressBuffer, RtlDecompressBuffer,
RtlDecompressFragment (RtlDecompressBufferEx is not in the export surface taken from Wine 8), over the guest's buffers, for COMPRESSION_FORMAT_LZNT1, XPRESS and XPRESS_HUFF
(the codecs: winhatch/win32/compression.py, MS-XCA).

Format/engine checks as Microsoft documents them (and Wine's rtl.c checks): NONE or DEFAULT is
STATUS_INVALID_PARAMETER, any other unknown format (XP10 included: not implemented here) or an engine other
than STANDARD/MAXIMUM is STATUS_UNSUPPORTED_COMPRESSION (HIBER only with the XPRESS formats). The work space
is the caller's and is not needed by these codecs; the sizes reported are the ones callers must allocate
(LZNT1 decompression: 0x1000, as Wine's test requires of Windows). Both engines produce the same output here
(one greedy matcher). Malformed input gives STATUS_BAD_COMPRESSION_BUFFER; a short output buffer fails
compression with STATUS_BUFFER_TOO_SMALL and truncates decompression, except that LZNT1's RtlDecompressBuffer
fails when the buffer ends inside a back-reference (Windows's stricter LZNT1 checks: _lznt1_decompress).
"""
from __future__ import annotations

from winhatch.win32 import compression as codec
from winhatch.win32.api import api

NT = "ntdll.dll"
STATUS_SUCCESS = 0
STATUS_INVALID_PARAMETER = 0xC000000D
STATUS_BUFFER_TOO_SMALL = 0xC0000023
STATUS_BAD_COMPRESSION_BUFFER = 0xC0000242
STATUS_UNSUPPORTED_COMPRESSION = 0xC000025F

LZNT1, XPRESS, XPRESS_HUFF = 2, 3, 4
ENGINE_MAXIMUM, ENGINE_HIBER = 0x100, 0x200
MAX_BUFFER = 1 << 30          # a bound on what one call reads from the guest

_CODECS = {
    LZNT1: (codec.lznt1_compress, codec.lznt1_decompress),
    XPRESS: (codec.xpress_compress, codec.xpress_decompress),
    XPRESS_HUFF: (codec.xpress_huff_compress, codec.xpress_huff_decompress),
}
# (compress work space, decompress work space)
_WORKSPACE = {LZNT1: (0x10000, 0x1000), XPRESS: (0x10000, 0), XPRESS_HUFF: (0x20000, 0x1000)}


def _check(fmt_engine: int, engines_ok: tuple[int, ...] = (0, ENGINE_MAXIMUM)) -> int:
    """0 when supported, else the status to return."""
    fmt, engine = fmt_engine & 0xFF, fmt_engine & 0xFF00
    if fmt in (0, 1):
        return STATUS_INVALID_PARAMETER
    if fmt not in _CODECS:
        return STATUS_UNSUPPORTED_COMPRESSION
    allowed = engines_ok + ((ENGINE_HIBER,) if fmt != LZNT1 and engines_ok else ())
    if engine not in allowed:
        return STATUS_UNSUPPORTED_COMPRESSION
    return 0


def _read(c, addr: int, size: int) -> bytes:
    return c.read(addr, min(size, MAX_BUFFER)) if size else b""


@api(NT, "NTSTATUS NTAPI RtlGetCompressionWorkSpaceSize(USHORT CompressionFormatAndEngine, "
         "PULONG CompressBufferWorkSpaceSize, PULONG CompressFragmentWorkSpaceSize)")
def RtlGetCompressionWorkSpaceSize(c, fmt_engine, pcomp, pfrag):
    st = _check(fmt_engine)
    if st:
        return st
    comp, frag = _WORKSPACE[fmt_engine & 0xFF]
    if pcomp:
        c.write_u32(pcomp, comp)
    if pfrag:
        c.write_u32(pfrag, frag)
    return STATUS_SUCCESS


@api(NT, "NTSTATUS NTAPI RtlCompressBuffer(USHORT CompressionFormatAndEngine, PUCHAR UncompressedBuffer, "
         "ULONG UncompressedBufferSize, PUCHAR CompressedBuffer, ULONG CompressedBufferSize, "
         "ULONG UncompressedChunkSize, PULONG FinalCompressedSize, PVOID WorkSpace)")
def RtlCompressBuffer(c, fmt_engine, src, src_size, dst, dst_size, chunk, pfinal, work):
    st = _check(fmt_engine)
    if st:
        return st
    data = _read(c, src, src_size)
    try:
        out = _CODECS[fmt_engine & 0xFF][0](data, dst_size)
    except codec.OutputTooSmall:
        return STATUS_BUFFER_TOO_SMALL
    if len(out) > dst_size:
        return STATUS_BUFFER_TOO_SMALL
    if out:
        c.write(dst, out)
    if pfinal:
        c.write_u32(pfinal, len(out))
    return STATUS_SUCCESS


class _Bad(Exception):
    """STATUS_BAD_COMPRESSION_BUFFER."""


CHUNK = 4096        # an LZNT1 chunk's uncompressed size


def _lznt1_chunk(data: bytes, limit: int) -> bytes:
    """One compressed LZNT1 chunk (MS-XCA 2.5: flag bytes, literals, back-references whose offset/length split
    narrows as the output grows), decoded up to `limit` bytes. Output that ends inside a back-reference is
    malformed for Windows (STATUS_BAD_COMPRESSION_BUFFER, Wine's ntdll/tests/rtl.c test_RtlDecompressBuffer,
    "broken on all machines"); ending between tokens truncates."""
    out = bytearray()
    i = 0
    while i < len(data):
        flags = data[i]
        i += 1
        for bit in range(8):
            if i >= len(data) or len(out) >= limit:
                return bytes(out)
            if flags >> bit & 1:
                if i + 2 > len(data):
                    raise _Bad("truncated back-reference")
                tok = data[i] | data[i + 1] << 8
                i += 2
                pos = len(out)
                shift, mask = codec._lznt1_split(pos)
                off, n = (tok >> shift) + 1, (tok & mask) + 3
                if off > pos or pos + n > CHUNK:
                    raise _Bad("back-reference outside the chunk")
                if pos + n > limit:
                    raise _Bad("output ends inside a back-reference")
                for _ in range(n):
                    out.append(out[-off])
            else:
                out.append(data[i])
                i += 1
    return bytes(out)


def _lznt1_header(src: bytes, i: int) -> tuple[int, int] | None:
    """(header, data size) of the chunk at `i`; None at the end of the stream (a zero header, or fewer than
    two bytes left); a chunk whose data runs past the input is malformed."""
    if i + 2 > len(src):
        return None
    hdr = src[i] | src[i + 1] << 8
    if hdr == 0:
        return None
    size = (hdr & 0xFFF) + 1
    if i + 2 + size > len(src):
        raise _Bad("chunk past the end of the input")
    return hdr, size


def _lznt1_decompress(src: bytes, limit: int, offset: int = 0, fragment: bool = False) -> bytes:
    """RtlDecompressBuffer (fragment=False) and RtlDecompressFragment over an LZNT1 stream, `limit` bytes at
    most. Each chunk's header is checked before the output limit is (a zero-size buffer still needs a
    complete first chunk); a short chunk that is not the last is padded with zeros to 4096 bytes.

    RtlDecompressBuffer: output that ends inside a back-reference is malformed (see _lznt1_chunk).
    A fragment (Windows 7 and later, as Wine's test records it): the chunks wholly before FragmentOffset are
    skipped by their headers without being decoded (a bad back-reference there is not seen); a stored
    (uncompressed) chunk shorter than 4096 bytes is malformed; from the chunk holding the offset, a non-zero
    offset past what the chunk decodes to gives the rest of its 4096 bytes as zeros (one just at its end,
    nothing)."""
    if len(src) < 2:
        raise _Bad("no chunk header")
    out = bytearray()
    i = 0
    first = True
    while True:
        h = _lznt1_header(src, i)
        if h is None:
            break
        hdr, size = h
        if fragment and offset >= CHUNK:
            offset -= CHUNK
            i += 2 + size
            continue
        if len(out) >= limit:
            break
        data = src[i + 2:i + 2 + size]
        i += 2 + size
        room = limit - len(out)
        skip = offset if first else 0
        if hdr & 0x8000:
            # a fragment decodes its chunks whole (its buffer may end anywhere); a buffer stops at its end
            piece = _lznt1_chunk(data, CHUNK if fragment else min(CHUNK, room))
        else:
            if fragment and size < CHUNK:
                raise _Bad("a stored chunk shorter than 4096 bytes in a fragment")
            piece = data[:skip + room]
        last = i + 2 > len(src) or not (src[i] | src[i + 1] << 8)     # no chunk follows
        if not last and len(piece) < CHUNK:
            piece += bytes(min(CHUNK, skip + room) - len(piece))
        if skip:
            piece = piece[skip:] if skip <= len(piece) else bytes(CHUNK - skip)
        out += piece[:room]
        first = False
    return bytes(out)


def _decompress(c, fmt, dst, dst_size, src, src_size, pfinal, offset=0, fragment=False):
    st = _check(fmt & 0xFF)
    if st:
        return st
    data = _read(c, src, src_size)
    try:
        if fmt & 0xFF == LZNT1:
            out = _lznt1_decompress(data, min(dst_size, MAX_BUFFER), offset, fragment)
        else:
            out = _CODECS[fmt & 0xFF][1](data, min(offset + dst_size, MAX_BUFFER))[offset:offset + dst_size]
    except (codec.BadCompression, _Bad):
        return STATUS_BAD_COMPRESSION_BUFFER
    if out:
        c.write(dst, out)
    if pfinal:
        c.write_u32(pfinal, len(out))
    return STATUS_SUCCESS


@api(NT, "NTSTATUS NTAPI RtlDecompressBuffer(USHORT CompressionFormat, PUCHAR UncompressedBuffer, "
         "ULONG UncompressedBufferSize, PUCHAR CompressedBuffer, ULONG CompressedBufferSize, "
         "PULONG FinalUncompressedSize)")
def RtlDecompressBuffer(c, fmt, dst, dst_size, src, src_size, pfinal):
    return _decompress(c, fmt, dst, dst_size, src, src_size, pfinal)


@api(NT, "NTSTATUS NTAPI RtlDecompressFragment(USHORT CompressionFormat, PUCHAR UncompressedFragment, "
         "ULONG UncompressedFragmentSize, PUCHAR CompressedBuffer, ULONG CompressedBufferSize, "
         "ULONG FragmentOffset, PULONG FinalUncompressedSize, PVOID WorkSpace)")
def RtlDecompressFragment(c, fmt, dst, dst_size, src, src_size, offset, pfinal, work):
    if fmt & 0xFF != LZNT1 and not _check(fmt & 0xFF):
        return STATUS_UNSUPPORTED_COMPRESSION     # fragments are LZNT1's (its chunks are independent)
    return _decompress(c, fmt, dst, dst_size, src, src_size, pfinal, offset, fragment=True)
