"""ntdll's compression API: RtlGetCompressionWorkSpaceSize, RtlCompressBuffer, RtlDecompressBuffer,
RtlDecompressFragment (RtlDecompressBufferEx is not in the export surface taken from Wine 8), over the guest's buffers, for COMPRESSION_FORMAT_LZNT1, XPRESS and XPRESS_HUFF
(the codecs: winhatch/win32/compression.py, MS-XCA).

Format/engine checks as Microsoft documents them (and Wine's rtl.c checks): NONE or DEFAULT is
STATUS_INVALID_PARAMETER, any other unknown format (XP10 included: not implemented here) or an engine other
than STANDARD/MAXIMUM is STATUS_UNSUPPORTED_COMPRESSION (HIBER only with the XPRESS formats). The work space
is the caller's and is not needed by these codecs; the sizes reported are the ones callers must allocate
(LZNT1 decompression: 0x1000, as Wine's test requires of Windows). Both engines produce the same output here
(one greedy matcher). Malformed input gives STATUS_BAD_COMPRESSION_BUFFER; a short output buffer truncates
decompression as on Windows and fails compression with STATUS_BUFFER_TOO_SMALL.
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


def _decompress(c, fmt, dst, dst_size, src, src_size, pfinal, offset=0):
    st = _check(fmt & 0xFF)
    if st:
        return st
    data = _read(c, src, src_size)
    try:
        out = _CODECS[fmt & 0xFF][1](data, min(offset + dst_size, MAX_BUFFER))
    except codec.BadCompression:
        return STATUS_BAD_COMPRESSION_BUFFER
    out = out[offset:offset + dst_size]
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
    return _decompress(c, fmt, dst, dst_size, src, src_size, pfinal, offset)
