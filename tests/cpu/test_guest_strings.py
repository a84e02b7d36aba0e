"""Guest strings are read in growing chunks that stop at the terminator (Cpu._str_scan): what is returned is
exactly the string, wherever it lies relative to chunk and page boundaries, and nothing past its terminator
is read (a string right before an unmapped page), while a missing terminator is bounded by `limit`."""
import pytest

from cpuhelp import DATA
from winhatch import ntstatus as nt
from winhatch.cpu import CpuError

END = DATA + 0x10000      # the first unmapped address after the data mapping (see cpuhelp)


def test_string_right_before_an_unmapped_page(cpu):
    for n in (0, 1, 63, 64, 65, 300, 4095):
        s = bytes((i % 250) + 1 for i in range(n))
        cpu.mem_write(END - n - 1, s + b"\0")
        assert cpu.read_cstr(END - n - 1, 1 << 16) == s
    for n in (0, 1, 31, 32, 33, 2047):
        s = "".join(chr(0x100 + i % 0x500) for i in range(n))
        cpu.mem_write(END - 2 * n - 2, s.encode("utf-16-le") + b"\0\0")
        assert cpu.read_wstr(END - 2 * n - 2, 1 << 16) == s


@pytest.mark.parametrize("n", [63, 64, 65, 255, 256, 257, 1400, 5000, 9000])
def test_strings_longer_than_a_chunk(cpu, n):
    # across chunk sizes and page boundaries, from an address a little before a page boundary
    base = DATA + 0x2000 - 37
    s = bytes(b"abcdefghijklmnopqrstuvwxyz"[i % 26] for i in range(n))
    cpu.mem_write(base, s + b"\0" + b"tail")
    assert cpu.read_cstr(base, 1 << 16) == s
    w = "".join(chr(0x3041 + i % 80) for i in range(n))
    cpu.mem_write(base + 1, w.encode("utf-16-le") + b"\0\0tail")   # odd address: units straddle pages
    assert cpu.read_wstr(base + 1, 1 << 16) == w


def test_wide_terminator_is_a_whole_unit(cpu):
    # b"\x00\x01\x00\x00..." has a zero pair at an odd offset (1-2) inside the units 0x0100, 0x0000
    cpu.mem_write(DATA + 0x100, bytes([0x41, 0x00, 0x00, 0x01, 0x00, 0x00]))
    assert cpu.read_wstr(DATA + 0x100) == "A\u0100"
    data = "x".encode("utf-16-le") * 40 + b"\x00\x02\x00\x00"   # the same across a chunk boundary (64)
    cpu.mem_write(DATA + 0x200, data)
    assert cpu.read_wstr(DATA + 0x200) == "x" * 40 + "\u0200"


def test_missing_terminator_is_bounded(cpu):
    cpu.mem_write(DATA + 0x4000, b"y" * 0x3000)
    assert cpu.read_cstr(DATA + 0x4000, limit=10) == b"y" * 10
    assert cpu.read_cstr(DATA + 0x4000, limit=5000) == b"y" * 5000
    cpu.mem_write(DATA + 0x8000, "z".encode("utf-16-le") * 0x1800)
    assert cpu.read_wstr(DATA + 0x8000, limit=3000) == "z" * 3000
    # no terminator before the mapping ends: the read faults there (a guest access violation)
    cpu.mem_write(END - 0x1800, b"q" * 0x1800)
    with pytest.raises(CpuError) as ei:
        cpu.read_cstr(END - 0x1800, 1 << 16)
    assert ei.value.status == nt.STATUS_ACCESS_VIOLATION
