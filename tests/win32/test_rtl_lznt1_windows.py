"""RtlDecompressBuffer / RtlDecompressFragment on LZNT1 where Windows is stricter than Wine (Wine's
ntdll/tests/rtl.c test_RtlDecompressBuffer, written on Windows: its todo_wine checks are what Windows does)."""
import pytest

from winhatch.win32.ntdll.rtl_compress import _Bad, _lznt1_decompress

WINE = bytes([0x04, 0xB0, 0x00]) + b"Wine"                          # a compressed chunk of literals
BACKREF = bytes([0x06, 0xB0, 0x10]) + b"Wine" + bytes([0x01, 0x30])  # "Wine" + a back-reference: "WineWine"
BAD_REF = bytes([0x06, 0xB0, 0x10]) + b"Wine" + bytes([0x05, 0x40])  # a back-reference before the chunk
STORED = bytes([0x03, 0x30]) + b"Wine"                                # a stored chunk of 4 bytes
EMPTY = bytes([0x00, 0xB0, 0x00])                                     # a compressed chunk decoding to nothing


def test_buffer_truncation():
    assert _lznt1_decompress(BACKREF, 0x2000) == b"WineWine"
    assert _lznt1_decompress(WINE, 3) == b"Win"          # ending between literals truncates
    with pytest.raises(_Bad):
        _lznt1_decompress(BACKREF, 7)                      # ending inside a back-reference is malformed
    assert _lznt1_decompress(BAD_REF, 0) == b""           # a zero-size buffer: only the first header is checked
    with pytest.raises(_Bad):
        _lznt1_decompress(bytes([0x00, 0x30]), 0)          # ... and it must be complete
    assert _lznt1_decompress(STORED, 0x2000) == b"Wine"   # RtlDecompressBuffer takes a short stored chunk


def test_fragments():
    with pytest.raises(_Bad):
        _lznt1_decompress(STORED, 0x2000, 0, fragment=True)   # a short stored chunk in a fragment
    assert _lznt1_decompress(WINE, 0x2000, 1, fragment=True) == b"ine"
    assert _lznt1_decompress(WINE, 0x2000, 4, fragment=True) == b""
    assert _lznt1_decompress(WINE, 0x2000, 4095, fragment=True) == b"\0"      # the chunk's 4096 bytes
    assert _lznt1_decompress(EMPTY, 0x2000, 0, fragment=True) == b""
    assert len(_lznt1_decompress(EMPTY, 0x2000, 1, fragment=True)) == 4095
    # an offset of 4096 skips the first chunk by its header, without decoding it
    assert _lznt1_decompress(BAD_REF, 0x2000, 4096, fragment=True) == b""
    with pytest.raises(_Bad):
        _lznt1_decompress(EMPTY + bytes([0x00, 0xB0]), 0x2000, 4096, fragment=True)   # the next one incomplete
    # two chunks: the first padded to 4096 bytes, the fragment from inside it
    two = bytes([0x04, 0xB0, 0x00]) + b"abcd" + WINE
    assert _lznt1_decompress(two, 0x2000, 4094, fragment=True) == b"\0\0Wine"
    assert _lznt1_decompress(two, 0x2000, 4097, fragment=True) == b"ine"


def test_fragment_buffer_ends_anywhere():
    # a fragment's buffer may end inside a back-reference: the chunk is decoded whole, then cut
    assert _lznt1_decompress(BACKREF, 7, 0, fragment=True) == b"WineWin"
    assert _lznt1_decompress(BACKREF, 3, 2, fragment=True) == b"neW"
