"""Tests for winhatch.pe.builder: round-trips through pefile, LIEF and the project's own parser,
execution of built images under Unicorn, and a hypothesis property test for export tables."""
from __future__ import annotations

import struct

import lief
import pefile
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from winhatch.pe.builder import (
    DIR_BASERELOC, DIR_EXPORT, DIR_IAT, DIR_IMPORT, DIR_TLS, IMAGE_REL_BASED_ABSOLUTE,
    IMAGE_REL_BASED_DIR64, IMAGE_REL_BASED_HIGHLOW, SCN_BSS, SCN_CODE, SCN_DATA, SCN_RDATA,
    BuildError, ImageBuilder, pe_checksum,
)

lief.logging.disable()

RELOC_TYPE = {"x86": IMAGE_REL_BASED_HIGHLOW, "x64": IMAGE_REL_BASED_DIR64}
PTR = {"x86": 4, "x64": 8}


# --- a representative DLL description ------------------------------------------------------------
def make_dll(arch: str) -> tuple[ImageBuilder, dict]:
    base = 0x180000000 if arch == "x64" else 0x10000000
    b = ImageBuilder(arch=arch, dll=True, image_base=base, name="kernel32.dll", timestamp=0x12345678)
    ntdll_iat = b.add_import("ntdll.dll", ["RtlAllocateHeap", 23, ("NtClose", 7)])
    api_iat = b.add_import("api-ms-win-core-synch-l1-1-0.dll", ["Sleep"])
    text = b.add_section(".text", b"\xcc" * 0x1800, SCN_CODE)       # spans two pages
    data = b.add_section(".data", bytes(0x40), SCN_DATA)
    bss = b.reserve_section(".bss", 0x2345, SCN_BSS)
    f = text.rva
    b.add_export("HeapAlloc", forwarder="NTDLL.RtlAllocateHeap")
    b.add_export("CreateFileW", f + 0x10)
    b.add_export("Beep", f + 0x20, ordinal=5)
    b.add_export(None, f + 0x30, ordinal=9)                            # NONAME
    b.add_export("_lowercase_after_upper", f + 0x40)
    b.add_export("aaa", f + 0x50)
    b.add_export("Zzz", f + 0x60)
    b.add_export("Sleep", forwarder="api-ms-win-core-synch-l1-1-0.Sleep")
    b.add_export(None, forwarder="NTDLL.#123", ordinal=12)               # NONAME forwarder by ordinal
    b.add_pointer(data.rva + 0x8, text.rva + 0x10)                      # function-pointer table
    b.add_pointer(data.rva + 0x10, data.rva)
    b.add_relocation(text.rva + 0x1200)                                  # second page of .text
    tls = b.set_tls(b"TLS-template", zero_fill=0x20, callbacks=[f + 0x70, f + 0x80])
    b.entry_point_rva = f
    facts = dict(text=text, data=data, bss=bss, tls=tls, ntdll_iat=ntdll_iat, api_iat=api_iat)
    return b, facts


# expected export table: ordinal -> (name, rva or None, forwarder or None)
def expected_exports(facts) -> dict:
    f = facts["text"].rva
    # ordinals: explicit 5, 9, 12; auto ones fill the lowest free from 5 upwards, in insertion order
    return {
        6: ("HeapAlloc", None, "NTDLL.RtlAllocateHeap"),
        7: ("CreateFileW", f + 0x10, None),
        5: ("Beep", f + 0x20, None),
        9: (None, f + 0x30, None),
        8: ("_lowercase_after_upper", f + 0x40, None),
        10: ("aaa", f + 0x50, None),
        11: ("Zzz", f + 0x60, None),
        13: ("Sleep", None, "api-ms-win-core-synch-l1-1-0.Sleep"),
        12: (None, None, "NTDLL.#123"),
    }


@pytest.fixture(scope="module", params=["x86", "x64"])
def built(request):
    b, facts = make_dll(request.param)
    image = b.build()
    return request.param, b, facts, image


# --- pefile ---------------------------------------------------------------------------------------
def test_pefile_headers_and_sections(built):
    arch, b, facts, image = built
    pe = pefile.PE(data=image)
    assert pe.FILE_HEADER.Machine == (0x8664 if arch == "x64" else 0x14C)
    assert pe.OPTIONAL_HEADER.Magic == (0x20B if arch == "x64" else 0x10B)
    assert pe.is_dll()
    assert pe.FILE_HEADER.TimeDateStamp == 0x12345678
    assert pe.OPTIONAL_HEADER.ImageBase == b.image_base
    assert pe.OPTIONAL_HEADER.AddressOfEntryPoint == facts["text"].rva
    assert pe.OPTIONAL_HEADER.CheckSum == pe.generate_checksum() != 0
    assert pe.verify_checksum()
    names = [s.Name.rstrip(b"\0").decode() for s in pe.sections]
    assert names == [".idata", ".text", ".data", ".bss", ".tls", ".rdata", ".reloc"]
    text = pe.sections[1]
    assert (text.VirtualAddress, text.Misc_VirtualSize, text.SizeOfRawData) == (facts["text"].rva, 0x1800, 0x1800)
    assert text.Characteristics == SCN_CODE
    assert pe.sections[1].get_data()[:0x1800] == b"\xcc" * 0x1800
    bss = pe.sections[3]
    assert (bss.VirtualAddress, bss.Misc_VirtualSize, bss.SizeOfRawData, bss.PointerToRawData) == \
        (facts["bss"].rva, 0x2345, 0, 0)
    # sequential, section-aligned layout; raw data file-aligned and in order
    prev_end = 0
    for s in pe.sections:
        assert s.VirtualAddress % 0x1000 == 0 and s.VirtualAddress >= prev_end
        prev_end = s.VirtualAddress + s.Misc_VirtualSize
        assert s.PointerToRawData % 0x200 == 0 and s.SizeOfRawData % 0x200 == 0
    last = pe.sections[-1]
    assert pe.OPTIONAL_HEADER.SizeOfImage == (last.VirtualAddress + last.Misc_VirtualSize + 0xFFF) & ~0xFFF
    assert pe.OPTIONAL_HEADER.SizeOfHeaders == pe.sections[0].PointerToRawData
    assert pe.OPTIONAL_HEADER.SizeOfCode == 0x1800
    assert pe.OPTIONAL_HEADER.BaseOfCode == facts["text"].rva
    assert pe.OPTIONAL_HEADER.SizeOfUninitializedData == 0x2400
    assert pe.OPTIONAL_HEADER.SizeOfInitializedData == sum(
        s.SizeOfRawData for s in pe.sections if s.Characteristics & 0x40)
    assert len(image) == last.PointerToRawData + last.SizeOfRawData
    assert image[:2] == b"MZ" and b"This program cannot be run in DOS mode." in image[:0x80]
    assert not [w for w in pe.get_warnings() if "makes up" not in w]   # byte-statistics noise only


def test_pefile_exports(built):
    arch, b, facts, image = built
    pe = pefile.PE(data=image)
    exp = pe.DIRECTORY_ENTRY_EXPORT
    assert exp.struct.Base == 5 and exp.struct.NumberOfFunctions == 9 and exp.struct.NumberOfNames == 7
    assert pe.get_string_at_rva(exp.struct.Name) == b"kernel32.dll"
    got = {}
    for s in exp.symbols:
        got[s.ordinal] = (s.name.decode() if s.name else None,
                          None if s.forwarder else s.address,
                          s.forwarder.decode() if s.forwarder else None)
    assert got == expected_exports(facts)
    # the name pointer table is sorted by byte value, the ordinal table is parallel to it
    npt, ot = exp.struct.AddressOfNames, exp.struct.AddressOfNameOrdinals
    names = [pe.get_string_at_rva(pe.get_dword_at_rva(npt + 4 * i)) for i in range(7)]
    assert names == sorted(names) == [b"Beep", b"CreateFileW", b"HeapAlloc", b"Sleep", b"Zzz",
                                       b"_lowercase_after_upper", b"aaa"]
    exp_ord = {n: o for o, (n, _, _) in expected_exports(facts).items() if n}
    for i, n in enumerate(names):
        assert pe.get_word_at_rva(ot + 2 * i) + 5 == exp_ord[n.decode()]
    # forwarder strings lie inside the export directory range (that is what makes them forwarders)
    d = pe.OPTIONAL_HEADER.DATA_DIRECTORY[DIR_EXPORT]
    eat = exp.struct.AddressOfFunctions
    for o, (_, rva, fwd) in expected_exports(facts).items():
        value = pe.get_dword_at_rva(eat + 4 * (o - 5))
        if fwd:
            assert d.VirtualAddress <= value < d.VirtualAddress + d.Size
            assert pe.get_string_at_rva(value) == fwd.encode()
        else:
            assert value == rva and not d.VirtualAddress <= value < d.VirtualAddress + d.Size


def test_pefile_imports(built):
    arch, b, facts, image = built
    pe = pefile.PE(data=image)
    ps = PTR[arch]
    imps = {i.dll.decode(): i for i in pe.DIRECTORY_ENTRY_IMPORT}
    assert list(imps) == ["ntdll.dll", "api-ms-win-core-synch-l1-1-0.dll"]
    nt = imps["ntdll.dll"].imports
    assert [(i.name, i.ordinal, i.import_by_ordinal) for i in nt] == \
        [(b"RtlAllocateHeap", None, False), (None, 23, True), (b"NtClose", None, False)]
    assert [i.hint for i in nt if not i.import_by_ordinal] == [0, 7]
    assert [i.address - b.image_base for i in nt] == facts["ntdll_iat"]
    assert facts["ntdll_iat"] == [facts["ntdll_iat"][0] + k * ps for k in range(3)]
    api = imps["api-ms-win-core-synch-l1-1-0.dll"].imports
    assert [(i.name, i.address - b.image_base) for i in api] == [(b"Sleep", facts["api_iat"][0])]
    # on disk the IAT equals the ILT; ordinal thunks carry the high bit
    flag = 1 << (8 * ps - 1)
    for desc in pe.DIRECTORY_ENTRY_IMPORT:
        s = desc.struct
        assert s.OriginalFirstThunk and s.OriginalFirstThunk != s.FirstThunk
        n = len(desc.imports) + 1
        ilt = pe.get_data(s.OriginalFirstThunk, n * ps)
        iat = pe.get_data(s.FirstThunk, n * ps)
        assert ilt == iat and ilt.endswith(bytes(ps))
    raw = pe.get_data(facts["ntdll_iat"][1], ps)
    assert int.from_bytes(raw, "little") == flag | 23
    # the import directory is exactly the descriptor array with its null terminator
    d = pe.OPTIONAL_HEADER.DATA_DIRECTORY[DIR_IMPORT]
    assert d.Size == 20 * 3 and pe.get_data(d.VirtualAddress + 40, 20) == bytes(20)
    # the IAT directory covers every IAT
    d = pe.OPTIONAL_HEADER.DATA_DIRECTORY[DIR_IAT]
    assert d.VirtualAddress == facts["ntdll_iat"][0]
    assert d.VirtualAddress + d.Size >= facts["api_iat"][0] + 2 * ps


def expected_relocs(arch, facts) -> list[int]:
    ps = PTR[arch]
    t, d, tls = facts["text"], facts["data"], facts["tls"]
    return sorted([d.rva + 8, d.rva + 0x10, t.rva + 0x1200]
                  + [tls.directory_rva + k * ps for k in range(4)]
                  + [tls.callbacks_rva, tls.callbacks_rva + ps])


def test_pefile_relocations(built):
    arch, b, facts, image = built
    pe = pefile.PE(data=image)
    entries, blocks = [], []
    for block in pe.DIRECTORY_ENTRY_BASERELOC:
        blocks.append(block.struct.VirtualAddress)
        assert block.struct.VirtualAddress % 0x1000 == 0
        assert block.struct.SizeOfBlock % 4 == 0
        for e in block.entries:
            assert e.rva & ~0xFFF == block.struct.VirtualAddress
            if e.type == IMAGE_REL_BASED_ABSOLUTE:
                continue
            assert e.type == RELOC_TYPE[arch]
            entries.append(e.rva)
    assert entries == expected_relocs(arch, facts)
    assert blocks == sorted({r & ~0xFFF for r in entries})
    # the relocated fields hold VAs inside the image
    ps = PTR[arch]
    for rva in entries:
        if rva == facts["text"].rva + 0x1200:
            continue
        va = int.from_bytes(pe.get_data(rva, ps), "little")
        assert b.image_base <= va < b.image_base + pe.OPTIONAL_HEADER.SizeOfImage
    assert int.from_bytes(pe.get_data(facts["data"].rva + 8, ps), "little") == b.image_base + facts["text"].rva + 0x10


def test_pefile_tls(built):
    arch, b, facts, image = built
    pe = pefile.PE(data=image)
    tls = pe.DIRECTORY_ENTRY_TLS.struct
    info = facts["tls"]
    base = b.image_base
    assert tls.StartAddressOfRawData == base + info.template_rva
    assert tls.EndAddressOfRawData == base + info.template_rva + len(b"TLS-template")
    assert pe.get_data(info.template_rva, 12) == b"TLS-template"
    assert tls.AddressOfIndex == base + info.index_rva
    assert tls.SizeOfZeroFill == 0x20
    assert tls.AddressOfCallBacks == base + info.callbacks_rva
    ps = PTR[arch]
    raw = pe.get_data(info.callbacks_rva, 3 * ps)
    cbs = [int.from_bytes(raw[i:i + ps], "little") for i in range(0, 3 * ps, ps)]
    assert cbs == [base + facts["text"].rva + 0x70, base + facts["text"].rva + 0x80, 0]
    d = pe.OPTIONAL_HEADER.DATA_DIRECTORY[DIR_TLS]
    assert (d.VirtualAddress, d.Size) == (info.directory_rva, 40 if arch == "x64" else 24)


# --- LIEF -----------------------------------------------------------------------------------------
def test_lief_round_trip(built):
    arch, b, facts, image = built
    binary = lief.PE.parse(image)
    assert binary is not None
    assert binary.optional_header.imagebase == b.image_base
    assert binary.optional_header.checksum == binary.compute_checksum() == pe_checksum(image)
    assert binary.optional_header.addressof_entrypoint == facts["text"].rva
    secs = [(s.name, s.virtual_address, s.virtual_size) for s in binary.sections]
    assert secs[1:4] == [(".text", facts["text"].rva, 0x1800), (".data", facts["data"].rva, 0x40),
                         (".bss", facts["bss"].rva, 0x2345)]
    exp = binary.get_export()
    assert exp.name == "kernel32.dll" and exp.ordinal_base == 5
    got = {}
    for e in exp.entries:
        if e.is_forwarded:
            fi = e.forward_information
            got[e.ordinal] = (e.name or None, None, f"{fi.library}.{fi.function}")
        elif e.address == 0 and e.name and "." in e.name:
            # LIEF reports a NONAME forwarder as an entry named after the forwarder string
            got[e.ordinal] = (None, None, e.name)
        else:
            got[e.ordinal] = (e.name or None, e.address, None)
    assert got == expected_exports(facts)
    imps = {i.name: [(x.name if not x.is_ordinal else x.ordinal, x.iat_address) for x in i.entries]
            for i in binary.imports}
    assert imps == {
        "ntdll.dll": list(zip(["RtlAllocateHeap", 23, "NtClose"], facts["ntdll_iat"])),
        "api-ms-win-core-synch-l1-1-0.dll": [("Sleep", facts["api_iat"][0])],
    }
    relocs = sorted(e.address for r in binary.relocations for e in r.entries
                    if e.type != lief.PE.RelocationEntry.BASE_TYPES.ABS)
    assert relocs == expected_relocs(arch, facts)
    assert list(binary.tls.callbacks) == [b.image_base + facts["text"].rva + 0x70,
                                          b.image_base + facts["text"].rva + 0x80]
    assert binary.tls.addressof_index == b.image_base + facts["tls"].index_rva
    assert bytes(binary.tls.data_template) == b"TLS-template"


# --- the project's own parser (winhatch.pe, written concurrently) -------------------------------
def test_own_parser_round_trip(built):
    from winhatch.pe import PEFile

    arch, b, facts, image = built
    pe = PEFile(image)
    got = {}
    for e in pe.exports.functions:
        got[e.ordinal] = (e.name, None if e.forwarder else e.rva, e.forwarder)
    assert got == expected_exports(facts)
    imps = [(d.dll, [(f.name, f.ordinal, f.iat_rva) for f in d.functions]) for d in pe.imports]
    assert imps == [
        ("ntdll.dll", [("RtlAllocateHeap", None, facts["ntdll_iat"][0]), (None, 23, facts["ntdll_iat"][1]),
                       ("NtClose", None, facts["ntdll_iat"][2])]),
        ("api-ms-win-core-synch-l1-1-0.dll", [("Sleep", None, facts["api_iat"][0])]),
    ]
    assert [f.hint for f in pe.imports[0].functions if f.name] == [0, 7]
    relocs = sorted(blk.page_rva + off for blk in pe.relocations for (typ, off) in blk.entries
                    if typ != IMAGE_REL_BASED_ABSOLUTE)
    assert relocs == expected_relocs(arch, facts)
    assert all(typ in (IMAGE_REL_BASED_ABSOLUTE, RELOC_TYPE[arch])
               for blk in pe.relocations for (typ, _) in blk.entries)
    assert list(pe.tls.callbacks) == [b.image_base + facts["text"].rva + 0x70,
                                      b.image_base + facts["text"].rva + 0x80]
    ref = pefile.PE(data=image)
    assert [(s.name, s.virtual_address, s.virtual_size, s.raw_pointer, s.raw_size, s.characteristics)
            for s in pe.sections] == \
        [(s.Name.rstrip(b"\0").decode(), s.VirtualAddress, s.Misc_VirtualSize, s.PointerToRawData,
          s.SizeOfRawData, s.Characteristics) for s in ref.sections]


# --- properties of the builder itself -------------------------------------------------------------
def test_deterministic_and_repeatable(arch):
    b1, _ = make_dll(arch)
    b2, _ = make_dll(arch)
    img = b1.build()
    assert img == b2.build() == b1.build()


def test_checksum_matches_pefile_and_changes_with_content(arch):
    b, facts = make_dll(arch)
    img1 = b.build()
    facts["text"].data[0] = 0x90
    img2 = b.build()
    assert img1 != img2
    for img in (img1, img2):
        pe = pefile.PE(data=img)
        assert pe.OPTIONAL_HEADER.CheckSum == pe.generate_checksum() == pe_checksum(img)
    assert pefile.PE(data=img1).OPTIONAL_HEADER.CheckSum != pefile.PE(data=img2).OPTIONAL_HEADER.CheckSum


def test_reloc_blocks_padded_with_absolute():
    b = ImageBuilder(arch="x86", dll=True)
    t = b.add_section(".data", bytes(0x3000), SCN_DATA)
    for off in (0x0, 0x10, 0x20, 0x1004, 0x2FFC):        # 3 entries, 1 entry, 1 entry
        b.add_relocation(t.rva + off)
    img = b.build()
    rva, size = b.layout.directories[DIR_BASERELOC]
    pe = pefile.PE(data=img)
    raw = pe.get_data(rva, size)
    blocks = []
    pos = 0
    while pos < len(raw):
        page, bsize = struct.unpack_from("<II", raw, pos)
        entries = struct.unpack_from(f"<{(bsize - 8) // 2}H", raw, pos + 8)
        blocks.append((page, [(e >> 12, e & 0xFFF) for e in entries]))
        pos += bsize
    assert pos == size
    assert blocks == [
        (t.rva, [(3, 0x0), (3, 0x10), (3, 0x20), (0, 0)]),
        (t.rva + 0x1000, [(3, 0x4), (0, 0)]),
        (t.rva + 0x2000, [(3, 0xFFC), (0, 0)]),
    ]


def test_iat_rvas_known_before_build_and_sections_after_follow():
    b = ImageBuilder(arch="x64")
    a = b.add_import("a.dll", ["f", "g"])
    c = b.add_import("c.dll", [1])          # appended to the same .idata section
    assert c[0] == a[1] + 16 and len(b.sections) == 1
    text = b.add_section(".text", b"\xc3", SCN_CODE)
    assert text.rva > c[0]
    late = b.add_import("late.dll", ["h"])   # a new .idata after .text
    assert late[0] >= text.rva + 0x1000 and len(b.sections) == 3
    pe = pefile.PE(data=b.build())
    got = {(d.dll.decode(), (i.name.decode() if i.name else i.ordinal), i.address - b.image_base)
           for d in pe.DIRECTORY_ENTRY_IMPORT for i in d.imports}
    assert got == {("a.dll", "f", a[0]), ("a.dll", "g", a[1]), ("c.dll", 1, c[0]), ("late.dll", "h", late[0])}


def test_errors():
    b = ImageBuilder(arch="x64", dll=True)
    t = b.add_section(".text", b"\xc3" * 16, SCN_CODE)
    b.add_export("A", t.rva, ordinal=3)
    with pytest.raises(BuildError):
        b.add_export("A", t.rva)                        # duplicate name
    with pytest.raises(BuildError):
        b.add_export("B", t.rva, ordinal=3)             # duplicate ordinal
    with pytest.raises(BuildError):
        b.add_export("C")                               # neither rva nor forwarder
    with pytest.raises(BuildError):
        b.add_export("D", forwarder="nodot")
    with pytest.raises(BuildError):
        b.add_section(".waytoolongname", b"x")
    with pytest.raises(BuildError):
        ImageBuilder(arch="arm")
    with pytest.raises(BuildError):
        b.add_export("Zero", 0)                         # RVA 0 would read as an unused slot
    b3 = ImageBuilder(arch="x64", dll=True)
    b3.add_section(".text", b"\xc3", SCN_CODE)
    b3.entry_point_rva = 0x5000                         # outside every section
    with pytest.raises(BuildError):
        b3.build()
    b3.entry_point_rva = 0x1000
    b3.add_export("Far", 0x9000)                        # beyond SizeOfImage
    with pytest.raises(BuildError):
        b3.build()
    b.add_section(".data", b"x", SCN_DATA)
    t.data.extend(bytes(0x1000))                        # grows into .data
    with pytest.raises(BuildError):
        b.build()
    b2 = ImageBuilder(arch="x86")
    b2.add_section(".text", b"\xc3", SCN_CODE)
    b2.add_relocation(0x9000)                           # not inside any section
    with pytest.raises(BuildError):
        b2.build()


def test_last_section_may_grow():
    b = ImageBuilder(arch="x86")
    t = b.add_section(".text", b"\x90", SCN_CODE)
    t.data.extend(b"\x90" * 0x2000)
    pe = pefile.PE(data=b.build())
    assert pe.sections[0].Misc_VirtualSize == 0x2001
    assert pe.OPTIONAL_HEADER.SizeOfImage == 0x1000 + 0x3000


def test_2000_export_dll_round_trips():
    """Speed is measured in bench/, not here; this checks a kernel32-sized export set is built correctly."""
    def build():
        b = ImageBuilder(arch="x64", dll=True, name="kernel32.dll")
        t = b.add_section(".text", b"\xcc" * 0x4000, SCN_CODE)
        for i in range(2000):
            if i % 10 == 0:
                b.add_export(f"Fwd{i}", forwarder=f"api-ms-win-core-x-l1-1-0.Fwd{i}")
            elif i % 7 == 0:
                b.add_export(None, t.rva + i, ordinal=3000 + i)
            else:
                b.add_export(f"Function{i:05d}", t.rva + i)
        return b.build()

    pe = pefile.PE(data=build())
    assert len(pe.DIRECTORY_ENTRY_EXPORT.symbols) == 2000


# --- execution under Unicorn ----------------------------------------------------------------------
def _x64_program():
    """fib(10) -> add7 via a function pointer (relocated) -> triple via the IAT -> store to a
    global through a relocated pointer.  Expected result (55 + 7) * 3 = 186."""
    b = ImageBuilder(arch="x64", dll=False, image_base=0x140000000)
    iat = b.add_import("helper.dll", ["Triple"])
    data = b.add_section(".data", bytes(0x20), SCN_DATA)
    T = b.next_rva
    D = data.rva
    code = bytearray(0x50)

    def rel(at_next, target):
        return struct.pack("<i", target - (T + at_next))

    code[0:13] = bytes.fromhex("B90A000000" "31D2" "41B801000000")        # ecx=10, edx=0, r8d=1
    code[13:27] = bytes.fromhex("428D0402" "4489C2" "4189C0" "FFC9" "75F2")  # loop
    code[27:34] = bytes.fromhex("488B05") + rel(34, D + 0x10)              # mov rax,[rip+fnptr]
    code[34:38] = bytes.fromhex("89D1" "FFD0")                             # mov ecx,edx; call rax
    code[38:40] = bytes.fromhex("89C1")                                    # mov ecx,eax
    code[40:46] = bytes.fromhex("FF15") + rel(46, iat[0])                  # call [rip+IAT]
    code[46:53] = bytes.fromhex("488B15") + rel(53, D + 0x08)              # mov rdx,[rip+ptr]
    code[53:56] = bytes.fromhex("8902" "F4")                               # mov [rdx],eax; hlt
    code[64:68] = bytes.fromhex("8D4107C3")                                # add7
    code[72:76] = bytes.fromhex("8D0449C3")                                # triple
    assert len(code) == 0x50
    text = b.add_section(".text", code, SCN_CODE)
    assert text.rva == T
    b.add_pointer(D + 0x08, D)
    b.add_pointer(D + 0x10, T + 64)
    b.entry_point_rva = T
    return b.build(), dict(stop=T + 55, result=D, triple=T + 72, iat=iat[0])


def _x86_program():
    b = ImageBuilder(arch="x86", dll=False, image_base=0x400000)
    iat = b.add_import("helper.dll", ["Triple"])
    data = b.add_section(".data", bytes(0x20), SCN_DATA)
    T = b.next_rva
    D = data.rva
    code = bytearray(0x50)
    code[0:12] = bytes.fromhex("B90A000000" "31D2" "BB01000000")          # ecx=10, edx=0, ebx=1
    code[12:22] = bytes.fromhex("8D041A" "89DA" "89C3" "49" "75F6")        # loop
    code[22:27] = bytes.fromhex("A1") + bytes(4)                           # mov eax,[fnptr]
    code[27:33] = bytes.fromhex("52" "FFD0" "83C404")                      # push edx; call eax; add esp,4
    code[33:40] = bytes.fromhex("50" "FF15") + bytes(4)                    # push eax; call [IAT]
    code[40:43] = bytes.fromhex("83C404")
    code[43:49] = bytes.fromhex("8B15") + bytes(4)                         # mov edx,[ptr]
    code[49:52] = bytes.fromhex("8902" "F4")                               # mov [edx],eax; hlt
    code[64:72] = bytes.fromhex("8B442404" "83C007" "C3")                  # add7 (cdecl)
    code[72:80] = bytes.fromhex("8B442404" "8D0440" "C3")                  # triple (cdecl)
    assert len(code) == 0x50
    text = b.add_section(".text", code, SCN_CODE)
    assert text.rva == T
    b.add_pointer(T + 23, D + 0x10)      # absolute operands in code, relocated
    b.add_pointer(T + 36, iat[0])
    b.add_pointer(T + 45, D + 0x08)
    b.add_pointer(D + 0x08, D)
    b.add_pointer(D + 0x10, T + 64)
    b.entry_point_rva = T
    return b.build(), dict(stop=T + 51, result=D, triple=T + 72, iat=iat[0])


def _load_and_run(arch: str, image: bytes, info: dict, load_base: int) -> int:
    """Map the image by hand at load_base, apply base relocations if it moved, bind the one
    import to an in-image function, run from the entry point to the hlt, return the global."""
    from unicorn import UC_ARCH_X86, UC_MODE_32, UC_MODE_64, Uc
    from unicorn.x86_const import UC_X86_REG_ESP, UC_X86_REG_RSP

    pe = pefile.PE(data=image)
    oh = pe.OPTIONAL_HEADER
    mem = bytearray(oh.SizeOfImage)
    mem[:oh.SizeOfHeaders] = image[:oh.SizeOfHeaders]
    for s in pe.sections:
        raw = image[s.PointerToRawData:s.PointerToRawData + min(s.SizeOfRawData, s.Misc_VirtualSize)]
        mem[s.VirtualAddress:s.VirtualAddress + len(raw)] = raw
    delta = load_base - oh.ImageBase
    ps = PTR[arch]
    if delta:
        rva, size = (oh.DATA_DIRECTORY[DIR_BASERELOC].VirtualAddress, oh.DATA_DIRECTORY[DIR_BASERELOC].Size)
        pos = rva
        while pos < rva + size:
            page, bsize = struct.unpack_from("<II", mem, pos)
            for k in range((bsize - 8) // 2):
                e = struct.unpack_from("<H", mem, pos + 8 + 2 * k)[0]
                typ, off = e >> 12, e & 0xFFF
                if typ == IMAGE_REL_BASED_ABSOLUTE:
                    continue
                assert typ == RELOC_TYPE[arch]
                fmt = "<Q" if ps == 8 else "<I"
                old = struct.unpack_from(fmt, mem, page + off)[0]
                struct.pack_into(fmt, mem, page + off, (old + delta) & ((1 << (8 * ps)) - 1))
            pos += bsize
    # bind the IAT slot: on disk it holds the hint/name RVA, the loader replaces it with the VA
    fmt = "<Q" if ps == 8 else "<I"
    assert struct.unpack_from(fmt, mem, info["iat"])[0] == pe.DIRECTORY_ENTRY_IMPORT[0].imports[0].struct_table.AddressOfData
    struct.pack_into(fmt, mem, info["iat"], load_base + info["triple"])

    uc = Uc(UC_ARCH_X86, UC_MODE_64 if arch == "x64" else UC_MODE_32)
    uc.mem_map(load_base, len(mem))
    uc.mem_write(load_base, bytes(mem))
    stack = 0x10000
    uc.mem_map(stack, 0x10000)
    uc.reg_write(UC_X86_REG_RSP if arch == "x64" else UC_X86_REG_ESP, stack + 0x8000)
    uc.emu_start(load_base + oh.AddressOfEntryPoint, load_base + info["stop"], count=1000)
    return struct.unpack("<I", uc.mem_read(load_base + info["result"], 4))[0]


@pytest.mark.parametrize("rebase", [False, True], ids=["preferred-base", "rebased"])
def test_execute_x64(rebase):
    image, info = _x64_program()
    base = 0x140000000 + (0x7F000000 if rebase else 0)
    assert _load_and_run("x64", image, info, base) == 186


@pytest.mark.parametrize("rebase", [False, True], ids=["preferred-base", "rebased"])
def test_execute_x86(rebase):
    image, info = _x86_program()
    base = 0x400000 + (0x1230000 if rebase else 0)
    assert _load_and_run("x86", image, info, base) == 186


# --- hypothesis: random export sets round-trip through pefile -----------------------------------
_name_chars = st.sampled_from("abcXYZ_019@?$")
_export_spec = st.tuples(
    st.one_of(st.none(), st.text(_name_chars, min_size=1, max_size=8)),     # name (None = NONAME)
    st.one_of(st.none(), st.integers(1, 300)),                              # explicit ordinal
    st.one_of(st.none(), st.sampled_from(["NTDLL.RtlAllocateHeap", "api-ms-win-core-x.dll.Name",
                                          "DLL.#123", "kernelbase.Foo"])),   # forwarder
    st.integers(0, 0xFFF),                                                  # rva offset
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(arch=st.sampled_from(["x86", "x64"]), specs=st.lists(_export_spec, min_size=1, max_size=40))
def test_random_exports_round_trip_pefile(arch, specs):
    b = ImageBuilder(arch=arch, dll=True, name="rand.dll")
    text = b.add_section(".text", bytes(0x1000), SCN_CODE)
    seen_names, seen_ords, model = set(), set(), []
    for name, ordinal, fwd, off in specs:
        if name in seen_names or ordinal in seen_ords:
            continue
        if name is not None:
            seen_names.add(name)
        if ordinal is not None:
            seen_ords.add(ordinal)
        b.add_export(name, None if fwd else text.rva + off, ordinal=ordinal, forwarder=fwd)
        model.append([name, ordinal, None if fwd else text.rva + off, fwd])
    # independent model of the ordinal assignment
    start = min(seen_ords) if seen_ords else 1
    nxt = start
    for m in model:
        if m[1] is None:
            while nxt in seen_ords:
                nxt += 1
            m[1] = nxt
            nxt += 1
    expected = {o: (n, rva, f) for n, o, rva, f in model}
    pe = pefile.PE(data=b.build())
    exp = pe.DIRECTORY_ENTRY_EXPORT
    assert exp.struct.Base == min(expected)
    assert exp.struct.NumberOfFunctions == max(expected) - min(expected) + 1
    got = {s.ordinal: (s.name.decode() if s.name else None, None if s.forwarder else s.address,
                       s.forwarder.decode() if s.forwarder else None) for s in exp.symbols}
    assert got == expected
    # gaps in the export address table are zero; names sorted by bytes
    eat = pe.get_data(exp.struct.AddressOfFunctions, 4 * exp.struct.NumberOfFunctions)
    for i in range(exp.struct.NumberOfFunctions):
        if exp.struct.Base + i not in expected:
            assert eat[4 * i:4 * i + 4] == bytes(4)
    names = [pe.get_string_at_rva(pe.get_dword_at_rva(exp.struct.AddressOfNames + 4 * i))
             for i in range(exp.struct.NumberOfNames)]
    assert names == sorted(n.encode() for n in seen_names)
    assert pe.OPTIONAL_HEADER.CheckSum == pe.generate_checksum()


# --- a real loader: Wine (x64) --------------------------------------------------------------------
def _wine_pair() -> tuple[bytes, bytes]:
    """whtest.dll (same preferred base as the EXE, so it must be relocated) exporting Seven by
    name, a NONAME function at ordinal 9 that multiplies by a constant reached through a
    relocated pointer, and Fwd forwarded to KERNEL32.ExitProcess.  main.exe calls all three
    through its IAT: exit code 7 * 6 = 42 only if names, ordinals, forwarders and relocs work."""
    d = ImageBuilder(arch="x64", dll=True, image_base=0x140000000, name="whtest.dll")
    T = d.next_rva
    text = d.add_section(".text", bytes(0x30), SCN_CODE)
    data = d.add_section(".data", struct.pack("<I", 6) + bytes(12), SCN_DATA)
    text.write(0, bytes.fromhex("B807000000C3"))                                 # Seven: return 7
    text.write(16, bytes.fromhex("488B05") + struct.pack("<i", data.rva + 8 - (T + 23))
               + bytes.fromhex("0FAF08" "89C8" "C3"))                          # ecx * [[ptr]]
    text.write(32, bytes.fromhex("B801000000C3"))                                # DllMain: TRUE
    d.add_pointer(data.rva + 8, data.rva)
    d.add_export("Seven", T)
    d.add_export(None, T + 16, ordinal=9)
    d.add_export("Fwd", forwarder="KERNEL32.ExitProcess")
    d.entry_point_rva = T + 32
    e = ImageBuilder(arch="x64")
    iat = e.add_import("whtest.dll", ["Seven", 9, "Fwd"])
    T = e.next_rva
    c = bytearray(bytes.fromhex("4883EC28"))                                     # sub rsp, 40
    for k, nxt in ((0, 10), (1, 18), (2, 26)):
        c += bytes.fromhex("FF15") + struct.pack("<i", iat[k] - (T + nxt))       # call [rip+IAT]
        if k < 2:
            c += bytes.fromhex("89C1")                                           # mov ecx, eax
    c += b"\xcc"
    e.add_section(".text", c, SCN_CODE)
    e.entry_point_rva = T
    return d.build(), e.build()


@pytest.mark.wine
def test_wine_loads_built_images(tmp_path, tmp_path_factory):
    import os
    import shutil
    import subprocess

    wine = shutil.which("wine") or shutil.which("wine64")
    if wine is None:
        pytest.skip("wine is not installed")
    dll, exe = _wine_pair()
    (tmp_path / "whtest.dll").write_bytes(dll)
    (tmp_path / "main.exe").write_bytes(exe)
    env = dict(os.environ, WINEDEBUG="-all")
    env.setdefault("WINEPREFIX", str(tmp_path_factory.mktemp("wineprefix")))
    proc = subprocess.run([wine, str(tmp_path / "main.exe")], cwd=tmp_path, env=env,
                          capture_output=True, timeout=300)
    assert proc.returncode == 42, proc.stderr.decode(errors="replace")[-2000:]


def test_low_alignment_image():
    b = ImageBuilder(arch="x86", section_alignment=0x200, file_alignment=0x200)
    t = b.add_section(".text", b"\x90" * 0x300, SCN_CODE)
    bss = b.reserve_section(".bss", 0x10)
    r = b.add_section(".rdata", b"hello", SCN_RDATA, size=0x10)
    b.add_pointer(r.rva + 8, t.rva)  # inside the reserved virtual size: the raw data grows
    img = b.build()
    pe = pefile.PE(data=img)
    assert pe.OPTIONAL_HEADER.CheckSum == pe.generate_checksum()
    for s in pe.sections:
        assert s.PointerToRawData == s.VirtualAddress and s.VirtualAddress % 0x200 == 0
    assert [s.VirtualAddress for s in pe.sections[:3]] == [t.rva, bss.rva, r.rva]
    assert pe.get_data(t.rva, 0x300) == b"\x90" * 0x300
    assert pe.get_data(r.rva, 5) == b"hello"
    assert pe.get_dword_at_rva(r.rva + 8) == b.image_base + t.rva
    assert pe.sections[2].Misc_VirtualSize == 0x10
    b.add_pointer(r.rva + 0x10, t.rva)  # past the section's end
    with pytest.raises(BuildError):
        b.build()
