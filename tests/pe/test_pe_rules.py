"""Loader/memory-manager rules and strictness, on hand-made images (tests/pe/minipe.py)."""
from __future__ import annotations

import struct

import pytest

from minipe import MiniPE, Sec, simple
from winhatch.ntstatus import (STATUS_INVALID_IMAGE_FORMAT, STATUS_INVALID_IMAGE_NE_FORMAT,
                               STATUS_INVALID_IMAGE_NOT_MZ, STATUS_INVALID_IMAGE_PROTECT,
                               STATUS_INVALID_IMAGE_WIN_16)
from winhatch.pe import (PAGE_EXECUTE_READ, PAGE_EXECUTE_WRITECOPY, PAGE_READONLY, PAGE_WRITECOPY, PEFile,
                         PEFormatError)


def refuse(data, status=STATUS_INVALID_IMAGE_FORMAT, offset=None) -> PEFormatError:
    with pytest.raises(PEFormatError) as ei:
        PEFile(bytes(data))
    assert ei.value.status == status, str(ei.value)
    if offset is not None:
        assert ei.value.offset == offset, str(ei.value)
    return ei.value


@pytest.mark.parametrize("plus", [False, True])
def test_minimal_image_parses(plus):
    pe = PEFile(simple(plus).build())
    assert pe.is_pe32_plus == plus and [s.name for s in pe.sections] == [".text", ".data"]
    assert pe.imports == [] and pe.exports is None and pe.tls is None and pe.relocations == []
    assert pe.resources is None and pe.version_info is None and pe.pdb is None and pe.load_config is None
    assert pe.certificate is None and pe.rich_header is None and pe.debug == []


# --- DOS / NT header ----------------------------------------------------------------------------------
def test_not_mz_and_truncated_dos_header():
    e = refuse(b"ZM" + bytes(100), STATUS_INVALID_IMAGE_NOT_MZ, 0)
    assert "MZ" in e.reason
    refuse(b"MZ" + bytes(20), STATUS_INVALID_IMAGE_NOT_MZ, 0)
    refuse(b"", STATUS_INVALID_IMAGE_NOT_MZ, 0)


def test_error_string_has_reason_offset_and_status():
    e = refuse(b"XX" + bytes(100), STATUS_INVALID_IMAGE_NOT_MZ)
    assert str(e) == f"{e.reason} at offset 0x0 (STATUS_INVALID_IMAGE_NOT_MZ, 0xC000012F)"


def test_e_lfanew_outside_file_or_misaligned():
    b = simple().build()
    struct.pack_into("<I", b, 0x3C, len(b) + 0x100)
    refuse(b, STATUS_INVALID_IMAGE_PROTECT, 0x3C)
    struct.pack_into("<I", b, 0x3C, 0xFFFFFFF0)             # negative LONG
    refuse(b, STATUS_INVALID_IMAGE_PROTECT, 0x3C)
    struct.pack_into("<I", b, 0x3C, 0x82)
    refuse(b, STATUS_INVALID_IMAGE_PROTECT, 0x3C)


def test_dos_program_ne_and_le_signatures():
    b = simple().build()
    b[0x80:0x84] = b"\0\0\0\0"
    refuse(b, STATUS_INVALID_IMAGE_PROTECT, 0x80)             # plain DOS program: NTVDM's business
    b[0x80:0x82] = b"NE"
    b[0x80 + 0x36] = 2                                        # ne_exetyp = Windows
    refuse(b, STATUS_INVALID_IMAGE_WIN_16, 0x80)
    b[0x80 + 0x36] = 1                                        # OS/2
    refuse(b, STATUS_INVALID_IMAGE_NE_FORMAT, 0x80)
    for exetyp in (0, 3, 4, 6, 15):                           # unknown, DOS 4.x, Windows/386, ...: not Win16
        b[0x80 + 0x36] = exetyp
        refuse(b, STATUS_INVALID_IMAGE_NE_FORMAT, 0x80)
    b[0x80 + 0x36] = 5                                        # BOSS: refused as a DOS program is (Windows)
    refuse(b, STATUS_INVALID_IMAGE_PROTECT, 0x80)
    b[0x80:0x82] = b"LE"
    refuse(b, STATUS_INVALID_IMAGE_WIN_16, 0x80)


def test_truncated_headers():
    b = simple().build()
    refuse(b[:0x80 + 10], offset=0x84)                        # file header cut
    refuse(b[:0x80 + 24 + 50], offset=0x98)                   # optional header cut
    m = simple()
    refuse(m.build()[:m.offsets()["section_table"] + 40], offset=m.offsets()["section_table"])


def test_bad_optional_magic():
    b = simple().build()
    b[0x98:0x9A] = b"\x07\x01"                                # ROM image
    refuse(b, offset=0x98)


@pytest.mark.parametrize("field,value", [("section_alignment", 0x1001), ("file_alignment", 0x300),
                                         ("file_alignment", 0x2000), ("file_alignment", 0x100),
                                         ("image_base", 0x401000), ("size_of_image", 0)])
def test_header_field_rules(field, value):
    m = simple()
    setattr(m, field, value)
    refuse(m.build())


def test_too_many_sections():
    m = simple()
    m.sections = [Sec(b".s%d" % i, 0x1000 * (i + 1), 0x1000, 0, 0, 0x40000040) for i in range(97)]
    m.size_of_headers = 0x1000
    e = refuse(m.build(), offset=0x86)
    assert "96" in e.reason


def test_overlapping_and_gapped_sections():
    m = simple()
    m.sections[1].va = 0x1800                                  # inside .text's page
    e = refuse(m.build(), offset=m.offsets()["section_table"] + 40 + 12)
    assert "overlaps" in e.reason
    m.sections[1].va = 0x3000                                  # a hole after .text
    assert "gap" in refuse(m.build()).reason


def test_section_beyond_file_and_beyond_image():
    m = simple()
    m.sections[1].raw_size = 0x10000                           # raw data past EOF
    m.file_size = 0x800
    refuse(m.build(), offset=m.offsets()["section_table"] + 40 + 16)
    m = simple(size_of_image=0x2000)                           # .data ends at 0x4000
    assert "SizeOfImage" in refuse(m.build()).reason


# --- mapping rules ------------------------------------------------------------------------------------
def test_raw_pointer_rounded_down_to_0x200():
    m = simple()
    data = bytearray(0x400)
    data[0:4] = b"HEAD"
    data[0x10:0x14] = b"BODY"
    m.sections[0] = Sec(b".text", 0x1000, 0x300, 0x410, 0x200, 0x60000020)
    m.sections[1].raw_ptr = 0x800
    b = m.build()
    b[0x400:0x800] = data
    pe = PEFile(bytes(b))
    img = pe.map_image()
    assert img[0x1000:0x1004] == b"HEAD"                       # read from 0x400, not 0x410
    assert pe.rva_to_offset(0x1010) == 0x410


def test_read_size_is_min_of_aligned_raw_and_aligned_virtual():
    m = simple()
    # VirtualSize 0x10 -> the whole first page of raw data is visible; raw 0x1400 -> only one page is mapped
    m.sections = [Sec(b".text", 0x1000, 0x10, 0x400, 0x1400, 0x60000020, bytes([0xAA]) * 0x1400),
                  Sec(b".data", 0x2000, 0x100, 0x1800, 0x200, 0xC0000040, b"D" * 0x200)]
    pe = PEFile(bytes(m.build()))
    s = pe.sections[0]
    assert (s.mapped_size, s.read_size) == (0x1000, 0x1000)
    img = pe.map_image()
    assert img[0x1000:0x2000] == bytes([0xAA]) * 0x1000
    assert img[0x2000:0x2200] == b"D" * 0x200


def test_virtual_size_zero_uses_raw_size_and_zero_fill():
    m = simple()
    m.sections[1] = Sec(b".data", 0x2000, 0, 0x600, 0x200, 0xC0000040, b"Z" * 0x200)
    pe = PEFile(bytes(m.build()))
    assert pe.sections[1].mapped_size == 0x1000 and pe.sections[1].read_size == 0x200
    assert pe.read_rva(0x21F0, 0x20) == b"Z" * 0x10 + bytes(0x10)      # zero fill past the raw data
    assert pe.rva_to_offset(0x2200) is None


def test_low_alignment_image_is_flat():
    m = MiniPE(section_alignment=0x200, file_alignment=0x200, size_of_headers=0x200, entry=0x200)
    m.sections = [Sec(b".text", 0x200, 0x200, 0x200, 0x200, 0x60000020, b"\xC3" * 0x200),
                  Sec(b".data", 0x400, 0x200, 0x400, 0x200, 0xC0000040, b"d" * 0x200)]
    b = m.build()
    pe = PEFile(bytes(b))
    assert pe.low_alignment
    img = pe.map_image()
    assert img[:len(b)] == b
    assert pe.section_protections() == [(0, 0x1000, PAGE_EXECUTE_WRITECOPY)]
    m.sections[1].raw_ptr = 0x600                              # file offset != RVA: refused
    m.sections[1].data = b""
    assert "PointerToRawData" in refuse(m.build()).reason
    m2 = MiniPE(section_alignment=0x200, file_alignment=0x100)  # below a page, alignments must match
    refuse(m2.build())


def test_protections_from_characteristics():
    m = simple()
    m.sections.append(Sec(b".rdata", 0x4000, 0x100, 0x800, 0x200, 0x40000040, b"r"))
    m.sections.append(Sec(b".shr", 0x5000, 0x100, 0xA00, 0x200, 0xF0000040, b"s"))  # shared RWX
    m.sections.append(Sec(b".none", 0x6000, 0x100, 0xC00, 0x200, 0x00000040, b"n"))
    prot = PEFile(bytes(m.build())).section_protections()
    assert [p for _, _, p in prot] == [PAGE_READONLY, PAGE_EXECUTE_READ, PAGE_WRITECOPY, PAGE_READONLY, 0x40, 0x01]


# --- relocation arithmetic ---------------------------------------------------------------------------
def _reloc_image(entries: list[int], payload: bytes) -> PEFile:
    block = struct.pack("<II", 0x1000, 8 + 2 * len(entries)) + struct.pack(f"<{len(entries)}H", *entries)
    m = simple()
    m.sections[0].data = payload
    m.sections.append(Sec(b".reloc", 0x4000, len(block), 0x800, 0x200, 0x42000040, block))
    m.dirs = {5: (0x4000, len(block))}
    return PEFile(bytes(m.build()))


def test_high_low_highadj_highlow_dir64_arithmetic():
    payload = struct.pack("<HHHIQ", 0x1234, 0x8765, 0x1234, 0x11223344, 0x1122334455667788)
    entries = [(1 << 12) | 0, (2 << 12) | 2, (4 << 12) | 4, 0x9000, (3 << 12) | 6, (10 << 12) | 10, 0]
    pe = _reloc_image(entries, payload)
    assert [t for t, _ in pe.relocations[0].entries] == [1, 2, 4, 9, 3, 10, 0]
    image = pe.map_image()
    delta = 0x12348000
    n = pe.apply_relocations(image, pe.image_base + delta)
    assert n == 5                                              # ABSOLUTE and HIGHADJ's low half are not fixups
    high, low, adj, hl, d64 = struct.unpack_from("<HHHIQ", image, 0x1000)
    assert high == (0x1234 + (delta >> 16)) & 0xFFFF           # HIGH: high half of delta, no carry from low
    assert low == (0x8765 + delta) & 0xFFFF
    want_adj = (((0x1234 << 16) + struct.unpack("<h", struct.pack("<H", 0x9000))[0] + delta + 0x8000)
                & 0xFFFFFFFF) >> 16
    assert adj == want_adj
    assert hl == (0x11223344 + delta) & 0xFFFFFFFF
    assert d64 == (0x1122334455667788 + delta) & 0xFFFFFFFFFFFFFFFF


def test_unknown_relocation_type_and_bad_block():
    pe = _reloc_image([(7 << 12) | 0], b"x" * 16)
    with pytest.raises(PEFormatError):
        pe.apply_relocations(pe.map_image(), pe.image_base + 0x10000)
    m = simple()
    m.sections.append(Sec(b".reloc", 0x4000, 16, 0x800, 0x200, 0x42000040, struct.pack("<II", 0x1000, 0) + bytes(8)))
    m.dirs = {5: (0x4000, 16)}
    with pytest.raises(PEFormatError) as ei:
        PEFile(bytes(m.build())).relocations
    assert "SizeOfBlock" in ei.value.reason


# --- export / import / resource bounds -------------------------------------------------------------
def _with_rdata(blob: bytes, dirs: dict) -> PEFile:
    m = simple()
    m.sections.append(Sec(b".rdata", 0x4000, len(blob), 0x800, (len(blob) + 0x1FF) & ~0x1FF, 0x40000040, blob))
    m.dirs = dirs
    return PEFile(bytes(m.build()))


def test_export_counts_and_name_rvas_are_bounded():
    hdr = struct.pack("<IIHHIIIIIII", 0, 0, 0, 0, 0x4100, 1, 0xFFFFFFF, 0, 0x4040, 0, 0)
    pe = _with_rdata(hdr.ljust(0x100, b"\0") + b"x.dll\0", {0: (0x4000, 40)})
    with pytest.raises(PEFormatError) as ei:
        pe.exports
    assert "NumberOfFunctions" in ei.value.reason
    # one name whose RVA is far outside the image
    hdr = struct.pack("<IIHHIIIIIII", 0, 0, 0, 0, 0x4100, 1, 1, 1, 0x4040, 0x4050, 0x4060)
    blob = bytearray(hdr.ljust(0x100, b"\0") + b"x.dll\0")
    struct.pack_into("<I", blob, 0x40, 0x1000)
    struct.pack_into("<I", blob, 0x50, 0x7FFF0000)
    pe = _with_rdata(bytes(blob), {0: (0x4000, 40)})
    with pytest.raises(PEFormatError) as ei:
        pe.exports
    assert "outside the image" in ei.value.reason


def test_forwarder_without_a_dot_is_refused_on_use():
    hdr = struct.pack("<IIHHIIIIIII", 0, 0, 0, 0, 0x4100, 1, 1, 0, 0x4040, 0, 0)
    blob = bytearray(hdr.ljust(0x100, b"\0") + b"x.dll\0".ljust(0x20, b"\0") + b"NODOT\0")
    struct.pack_into("<I", blob, 0x40, 0x4120)                 # inside the export directory: a forwarder
    pe = _with_rdata(bytes(blob), {0: (0x4000, 0x200)})
    (e,) = pe.exports.functions
    assert e.forwarder == "NODOT"
    with pytest.raises(PEFormatError):
        e.split_forwarder()


def test_import_name_outside_image_refused():
    blob = bytearray(0x200)
    struct.pack_into("<IIIII", blob, 0, 0x4080, 0, 0, 0x40C0, 0x40A0)
    struct.pack_into("<II", blob, 0x80, 0x7000000, 0)            # thunk -> name RVA far away
    struct.pack_into("<II", blob, 0xA0, 0x7000000, 0)
    blob[0xC0:0xC6] = b"a.dll\0"
    pe = _with_rdata(bytes(blob), {1: (0x4000, 40)})
    with pytest.raises(PEFormatError) as ei:
        pe.imports
    assert "outside the image" in ei.value.reason


def test_import_by_ordinal_thunk():
    blob = bytearray(0x200)
    struct.pack_into("<IIIII", blob, 0, 0x4080, 0, 0, 0x40C0, 0x40A0)
    struct.pack_into("<II", blob, 0x80, 0x80000010, 0)
    struct.pack_into("<II", blob, 0xA0, 0x80000010, 0)
    blob[0xC0:0xC6] = b"a.dll\0"
    (d,) = _with_rdata(bytes(blob), {1: (0x4000, 40)}).imports
    assert d.dll == "a.dll" and [(f.name, f.ordinal, f.iat_rva) for f in d.functions] == [(None, 16, 0x40A0)]


def test_resource_cycle_and_depth_are_refused():
    blob = bytearray(0x100)
    struct.pack_into("<IIHHHH", blob, 0, 0, 0, 0, 0, 0, 1)
    struct.pack_into("<II", blob, 16, 3, 0x80000000)            # subdirectory at offset 0: itself
    pe = _with_rdata(bytes(blob), {2: (0x4000, 0x100)})
    with pytest.raises(PEFormatError) as ei:
        pe.resources
    assert "cycle" in ei.value.reason
    # a chain deeper than type/name/language
    blob = bytearray(0x100)
    for level in range(4):
        o = 0x18 * level
        struct.pack_into("<IIHHHH", blob, o, 0, 0, 0, 0, 0, 1)
        struct.pack_into("<II", blob, o + 16, 1, 0x80000000 | (o + 0x18))
    pe = _with_rdata(bytes(blob), {2: (0x4000, 0x100)})
    with pytest.raises(PEFormatError) as ei:
        pe.resources
    assert "deeper" in ei.value.reason


def test_resource_tree_and_names():
    blob = bytearray(0x100)
    struct.pack_into("<IIHHHH", blob, 0, 0, 0, 4, 0, 1, 0)       # root: one named entry
    struct.pack_into("<II", blob, 16, 0x80000000 | 0x80, 0x80000000 | 0x20)
    struct.pack_into("<IIHHHH", blob, 0x20, 0, 0, 0, 0, 0, 1)   # names: id 1
    struct.pack_into("<II", blob, 0x30, 1, 0x80000000 | 0x40)
    struct.pack_into("<IIHHHH", blob, 0x40, 0, 0, 0, 0, 0, 1)   # languages: 0x409 -> data
    struct.pack_into("<II", blob, 0x50, 0x409, 0x60)
    struct.pack_into("<IIII", blob, 0x60, 0x40C0, 4, 1252, 0)
    name = "MYTYPE".encode("utf-16-le")
    struct.pack_into("<H", blob, 0x80, 6)
    blob[0x82:0x82 + len(name)] = name
    blob[0xC0:0xC4] = b"DATA"
    res = _with_rdata(bytes(blob), {2: (0x4000, 0x100)}).resources
    assert res.types == ["MYTYPE"]
    ((path, data),) = list(res.leaves())
    assert path == ("MYTYPE", 1, 0x409) and (data.rva, data.size, data.codepage) == (0x40C0, 4, 1252)
    assert res.find("MYTYPE", 1, 0x409).data == data
