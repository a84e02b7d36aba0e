"""A tiny hand-rolled PE writer for parser tests: exact control over every header field, including wrong ones.

Written from the PE/COFF specification for these tests only (the project's real builder is winhatch.pe.builder).
"""
from __future__ import annotations

import struct
from dataclasses import dataclass, field


@dataclass
class Sec:
    name: bytes
    va: int
    vsize: int
    raw_ptr: int
    raw_size: int
    chars: int = 0x60000020   # code | execute | read
    data: bytes = b""          # written at raw_ptr


@dataclass
class MiniPE:
    pe32plus: bool = False
    sections: list = field(default_factory=list)
    dirs: dict = field(default_factory=dict)
    section_alignment: int = 0x1000
    file_alignment: int = 0x200
    image_base: int | None = None
    size_of_image: int | None = None
    size_of_headers: int = 0x400
    e_lfanew: int = 0x80
    entry: int = 0x1000
    characteristics: int = 0x0102
    dll_characteristics: int = 0x0140
    machine: int | None = None
    opt_size: int | None = None
    number_of_rva_and_sizes: int = 16
    file_size: int | None = None

    def offsets(self) -> dict:
        opt = self.e_lfanew + 24
        return {"file_header": self.e_lfanew + 4, "optional_header": opt,
                "section_table": opt + (self.opt_size if self.opt_size is not None else (240 if self.pe32plus else 224))}

    def build(self) -> bytearray:
        end = max([self.size_of_headers] + [s.raw_ptr + max(s.raw_size, len(s.data)) for s in self.sections])
        size = self.file_size if self.file_size is not None else end
        buf = bytearray(max(size, 0x40))
        buf[0:2] = b"MZ"
        struct.pack_into("<I", buf, 0x3C, self.e_lfanew)
        off = self.offsets()
        base = self.image_base if self.image_base is not None else (0x140000000 if self.pe32plus else 0x400000)
        soi = self.size_of_image
        if soi is None:
            soi = self.size_of_headers
            for s in self.sections:
                soi = max(soi, s.va + (s.vsize or s.raw_size))
            soi = (soi + self.section_alignment - 1) & ~(self.section_alignment - 1)
        machine = self.machine if self.machine is not None else (0x8664 if self.pe32plus else 0x14C)
        opt_size = self.opt_size if self.opt_size is not None else (240 if self.pe32plus else 224)
        hdr = bytearray(off["section_table"] - self.e_lfanew + 40 * len(self.sections) + 256)
        hdr[0:4] = b"PE\0\0"
        struct.pack_into("<HHIIIHH", hdr, 4, machine, len(self.sections), 0, 0, 0, opt_size, self.characteristics)
        o = 24
        if self.pe32plus:
            struct.pack_into("<HBBIIIII", hdr, o, 0x20B, 14, 0, 0, 0, 0, self.entry, 0x1000)
            struct.pack_into("<Q", hdr, o + 24, base)
            tail = 32
        else:
            struct.pack_into("<HBBIIIIII", hdr, o, 0x10B, 14, 0, 0, 0, 0, self.entry, 0x1000, 0)
            struct.pack_into("<I", hdr, o + 28, base)
            tail = 32
        struct.pack_into("<IIHHHHHHIIIIHH", hdr, o + tail, self.section_alignment, self.file_alignment, 6, 0, 0, 0,
                         6, 0, 0, soi, self.size_of_headers, 0, 3, self.dll_characteristics)
        if self.pe32plus:
            struct.pack_into("<QQQQII", hdr, o + 72, 0x100000, 0x1000, 0x100000, 0x1000, 0,
                             self.number_of_rva_and_sizes)
            dd = o + 112
        else:
            struct.pack_into("<IIIIII", hdr, o + 72, 0x100000, 0x1000, 0x100000, 0x1000, 0,
                             self.number_of_rva_and_sizes)
            dd = o + 96
        for idx, (rva, sz) in self.dirs.items():
            struct.pack_into("<II", hdr, dd + 8 * idx, rva, sz)
        st = off["section_table"] - self.e_lfanew
        for i, s in enumerate(self.sections):
            struct.pack_into("<8sIIIIIIHHI", hdr, st + 40 * i, s.name, s.vsize, s.va, s.raw_size, s.raw_ptr,
                             0, 0, 0, 0, s.chars)
        n = min(len(hdr), len(buf) - self.e_lfanew)
        buf[self.e_lfanew:self.e_lfanew + n] = hdr[:n]
        for s in self.sections:
            if s.data:
                buf[s.raw_ptr:s.raw_ptr + len(s.data)] = s.data
        return buf


def simple(pe32plus: bool = False, **kw) -> MiniPE:
    """Headers + .text (0x1000, file 0x400) + .data (0x2000, file 0x600)."""
    m = MiniPE(pe32plus=pe32plus, **kw)
    m.sections = [Sec(b".text", 0x1000, 0x100, 0x400, 0x200, 0x60000020, b"\xC3" + bytes(range(1, 200))),
                  Sec(b".data", 0x2000, 0x1800, 0x600, 0x200, 0xC0000040, b"DATA" * 128)]
    return m
