"""winhatch.pe on images compiled at test time (mingw-w64, x86 and x64)."""
from __future__ import annotations

import struct

import pefile
import pytest

from winhatch.ntstatus import STATUS_INVALID_IMAGE_FORMAT
from winhatch.pe import (DIR_BASERELOC, DIR_DELAY_IMPORT, DIR_EXPORT, DIR_IMPORT, DIR_TLS, PAGE_EXECUTE_READ,
                         PAGE_READONLY, PAGE_WRITECOPY, PEFile, PEFormatError)


def test_headers_match_the_toolchain(pe_fixtures, arch):
    pe = PEFile.open(pe_fixtures["exports"])
    assert pe.arch == arch
    assert pe.machine == (0x14C if arch == "x86" else 0x8664)
    assert pe.is_pe32_plus == (arch == "x64")
    assert pe.is_dll
    assert not PEFile.open(pe_fixtures["plain"]).is_dll
    ref = pefile.PE(str(pe_fixtures["exports"]), fast_load=True)
    oh = ref.OPTIONAL_HEADER
    assert pe.image_base == oh.ImageBase
    assert pe.entry_point_rva == oh.AddressOfEntryPoint
    assert pe.size_of_image == oh.SizeOfImage
    assert pe.size_of_headers == oh.SizeOfHeaders
    assert (pe.section_alignment, pe.file_alignment) == (oh.SectionAlignment, oh.FileAlignment)
    assert pe.size_of_stack_reserve == oh.SizeOfStackReserve
    assert pe.size_of_heap_commit == oh.SizeOfHeapCommit
    assert pe.checksum == oh.CheckSum
    assert pe.timestamp == ref.FILE_HEADER.TimeDateStamp
    assert pe.dos_header.e_lfanew == ref.DOS_HEADER.e_lfanew
    assert pe.file_header.NumberOfSections == len(pe.sections) == ref.FILE_HEADER.NumberOfSections
    assert pe.optional_header.AddressOfEntryPoint == oh.AddressOfEntryPoint
    assert len(pe.data_directories) == 16
    assert pe.data_directories[DIR_EXPORT].rva != 0 and pe.data_directories[DIR_IMPORT].rva != 0


def test_exports_by_name_ordinal_noname_forwarder(pe_fixtures):
    exp = PEFile.open(pe_fixtures["exports"]).exports
    assert exp.dll_name == "pe_exports.dll"
    assert exp.ordinal_base == 1
    by_ord = {e.ordinal: e for e in exp.functions}
    assert by_ord[1].name == "pe_add" and by_ord[1].rva
    assert by_ord[7].name is None and by_ord[7].rva            # NONAME: reachable by ordinal only
    assert by_ord[3].name == "pe_alias"
    assert by_ord[11].rva == by_ord[2].rva                     # zz_last = pe_sub: two ordinals, one address
    fwd = by_ord[10]
    assert fwd.name == "pe_heapalloc" and fwd.rva is None and fwd.forwarder == "kernel32.HeapAlloc"
    assert fwd.split_forwarder() == ("kernel32", "HeapAlloc")
    assert exp.by_ordinal(7) is by_ord[7]
    assert exp.by_ordinal(5) is None and exp.by_ordinal(0) is None and exp.by_ordinal(99) is None
    names = [n for n, _ in exp.names]
    assert names == sorted(names)                               # the name pointer table is sorted (strcmp order)
    assert "pe_hidden" not in names


def test_export_lookup_hint_and_binary_search(pe_fixtures):
    exp = PEFile.open(pe_fixtures["exports"]).exports
    slot = [n for n, _ in exp.names].index("pe_sub")
    hit = exp.lookup("pe_sub", hint=slot)
    assert hit.hint_hit and hit.entry.ordinal == 2 and len(hit.steps) == 1
    assert (exp.hint_hits, exp.hint_misses) == (1, 0)
    miss = exp.lookup(b"pe_sub", hint=0 if slot else 1)
    assert not miss.hint_hit and miss.entry.ordinal == 2
    assert miss.steps[0].startswith("hint") and miss.steps[-1].endswith("found")
    assert (exp.hint_hits, exp.hint_misses) == (1, 1)
    # a binary search over n names never needs more than ceil(log2(n+1)) probes
    assert len(miss.steps) - 1 <= len(exp.names).bit_length()
    none = exp.lookup("pe_nope")
    assert none.entry is None and none.steps[-1] == "not found"
    for name, ordinal in exp.names:
        assert exp.lookup(name).entry.ordinal == ordinal


def test_imports_by_name_and_ordinal(pe_fixtures, arch):
    pe = PEFile.open(pe_fixtures["imports"])
    dlls = {d.dll.lower(): d for d in pe.imports}
    assert {"kernel32.dll", "msvcrt.dll", "pe_exports.dll"} <= set(dlls)
    ours = dlls["pe_exports.dll"]
    assert ("pe_add", None) in [(f.name, f.ordinal) for f in ours.functions]
    by_ordinal = [f for f in ours.functions if f.ordinal is not None]
    assert [(f.name, f.ordinal, f.hint) for f in by_ordinal] == [(None, 7, None)]
    ptr = 8 if arch == "x64" else 4
    for d in pe.imports:
        for i, f in enumerate(d.functions):
            assert f.iat_rva == d.first_thunk + i * ptr
            assert f.thunk_rva == (d.original_first_thunk or d.first_thunk) + i * ptr
    k32 = dlls["kernel32.dll"]
    assert "GetCurrentProcessId" in [f.name for f in k32.functions]


def test_delay_imports(pe_fixtures, arch):
    pe = PEFile.open(pe_fixtures["imports"])
    assert pe.data_directories[DIR_DELAY_IMPORT].rva
    (d,) = pe.delay_imports
    assert d.dll == "pe_delaydll.dll"
    assert d.attributes & 1                                    # RVA-based descriptor
    assert [f.name for f in d.functions] == ["pe_delayed", "pe_delayed2"]
    assert d.module_handle_rva and pe.section_for_rva(d.module_handle_rva).is_writable
    ptr = 8 if arch == "x64" else 4
    assert [f.iat_rva for f in d.functions] == [d.first_thunk, d.first_thunk + ptr]


def test_tls_callbacks(pe_fixtures, arch):
    pe = PEFile.open(pe_fixtures["imports"])
    tls = pe.tls
    assert pe.data_directories[DIR_TLS].rva == tls.rva
    assert tls.end_address_of_raw_data > tls.start_address_of_raw_data
    assert len(tls.callbacks) >= 2
    text = pe.sections[0]
    for va in tls.callbacks:                                    # callbacks are VAs into executable code
        s = pe.section_for_rva(va - pe.image_base)
        assert s is not None and s.is_executable
    # the callback array in the image holds exactly these pointers, then a NULL
    ptr = 8 if arch == "x64" else 4
    raw = pe.read_rva(tls.address_of_callbacks - pe.image_base, ptr * (len(tls.callbacks) + 1))
    vals = struct.unpack(f"<{len(tls.callbacks) + 1}{'Q' if ptr == 8 else 'I'}", raw)
    assert list(vals[:-1]) == tls.callbacks and vals[-1] == 0
    assert text.name == ".text"


def test_relocations_rebase_the_mapped_image(pe_fixtures, arch):
    pe = PEFile.open(pe_fixtures["imports"])
    assert pe.data_directories[DIR_BASERELOC].size
    blocks = pe.relocations
    assert blocks and all(b.page_rva % 0x1000 == 0 for b in blocks)
    want = 10 if arch == "x64" else 3
    fixups = [(b.page_rva + o) for b in blocks for t, o in b.entries if t == want]
    assert fixups and all(t in (0, want) for b in blocks for t, _ in b.entries)
    image = pe.map_image()
    orig = bytes(image)
    delta = 0x10000000
    assert pe.apply_relocations(image, pe.image_base + delta) == len(fixups)
    fmt, width = ("<Q", 8) if arch == "x64" else ("<I", 4)
    touched = set()
    for a in fixups:
        old = struct.unpack_from(fmt, orig, a)[0]
        assert struct.unpack_from(fmt, image, a)[0] == (old + delta) & ((1 << (8 * width)) - 1)
        touched.update(range(a, a + width))
    assert all(image[i] == orig[i] for i in range(len(orig)) if i not in touched)
    # applying the opposite delta restores the original bytes exactly
    pe.apply_relocations(image, pe.image_base - delta)
    assert image == orig


def test_greeting_pointer_is_relocated(pe_fixtures, arch):
    """The `greeting` global points into .rdata: after rebasing it still points at the string."""
    pe = PEFile.open(pe_fixtures["imports"])
    image = pe.map_image()
    new_base = pe.image_base + 0x20000000
    pe.apply_relocations(image, new_base)
    needle = image.find(b"hello from winhatch\0")
    assert needle > 0
    ptr = 8 if arch == "x64" else 4
    target = (new_base + needle).to_bytes(ptr, "little")
    assert target in image


def test_map_image_layout(pe_fixtures):
    pe = PEFile.open(pe_fixtures["imports"])
    image = pe.map_image()
    assert len(image) == pe.size_of_image
    assert image[:pe.size_of_headers] == pe.get_data(0, pe.size_of_headers)
    for s in pe.sections:
        if s.raw_size:
            n = min(s.raw_size, s.virtual_size or s.raw_size)
            assert image[s.virtual_address:s.virtual_address + n] == pe.get_data(s.raw_pointer, n)
        for rva in (s.virtual_address, s.virtual_address + s.mapped_size - 1):
            assert pe.read_rva(rva, 1) == image[rva:rva + 1]
    bss = [s for s in pe.sections if s.raw_size == 0 and s.virtual_size]
    assert bss and all(not any(image[s.virtual_address:s.virtual_address + s.virtual_size]) for s in bss)
    ref = pefile.PE(str(pe_fixtures["imports"])).get_memory_mapped_image()
    assert image[:len(ref)] == ref and not any(image[len(ref):])  # pefile does not pad the tail to SizeOfImage


def test_section_protections(pe_fixtures):
    pe = PEFile.open(pe_fixtures["imports"])
    prot = pe.section_protections()
    assert prot[0] == (0, pe.sections[0].virtual_address, PAGE_READONLY)
    by_rva = {rva: (size, p) for rva, size, p in prot}
    names = {s.name: s for s in pe.sections}
    assert by_rva[names[".text"].virtual_address][1] == PAGE_EXECUTE_READ
    assert by_rva[names[".rdata"].virtual_address][1] == PAGE_READONLY
    assert by_rva[names[".data"].virtual_address][1] == PAGE_WRITECOPY
    # contiguous, page-aligned, covering the image
    end = 0
    for rva, size, _ in prot:
        assert rva == end and size % 0x1000 == 0
        end = rva + size
    assert end >= pe.size_of_image


def test_checksum_matches_pefile(pe_fixtures):
    for p in pe_fixtures.values():
        pe = PEFile.open(p)
        assert pe.compute_checksum() == pefile.PE(str(p), fast_load=True).generate_checksum()


def test_rva_offset_round_trip(pe_fixtures):
    pe = PEFile.open(pe_fixtures["exports"])
    for s in pe.sections:
        if s.raw_size:
            assert pe.rva_to_offset(s.virtual_address) == s.raw_pointer
            assert pe.offset_to_rva(s.raw_pointer) == s.virtual_address
    assert pe.rva_to_offset(0) == 0
    assert pe.rva_to_offset(pe.size_of_image + 0x10000) is None
    with pytest.raises(PEFormatError) as ei:
        pe.read_rva(pe.size_of_image + 0x1000, 4)
    assert ei.value.status == STATUS_INVALID_IMAGE_FORMAT
    name_rva = pe.exports.names[0]
    assert pe.read_cstring_rva(pe.imports[0].name_rva) == pe.imports[0].dll.encode()
    assert name_rva


def test_exception_table_x64(pe_fixtures, arch):
    pe = PEFile.open(pe_fixtures["imports"])
    entries = pe.exception_entries
    if arch == "x86":
        assert entries == []
        return
    ref = pefile.PE(str(pe_fixtures["imports"]), fast_load=True)
    ref.parse_data_directories(directories=[pefile.DIRECTORY_ENTRY["IMAGE_DIRECTORY_ENTRY_EXCEPTION"]])
    want = [(e.struct.BeginAddress, e.struct.EndAddress, e.struct.UnwindData) for e in ref.DIRECTORY_ENTRY_EXCEPTION]
    assert [tuple(e) for e in entries] == want and entries
    assert all(b < e for b, e, _ in entries)


def test_lazy_parsing_and_caching(pe_fixtures):
    pe = PEFile.open(pe_fixtures["exports"])
    assert "exports" not in pe.__dict__ and "imports" not in pe.__dict__
    first = pe.exports
    assert pe.__dict__["exports"] is first and pe.exports is first
    assert "relocations" not in pe.__dict__


def test_open_in_memory_equals_mmap(pe_fixtures):
    p = pe_fixtures["imports"]
    a, b = PEFile.open(p), PEFile(memoryview(p.read_bytes()), name="mem")
    assert [s.to_dict() for s in a.sections] == [s.to_dict() for s in b.sections]
    assert [(d.dll, d.functions) for d in a.imports] == [(d.dll, d.functions) for d in b.imports]
    with PEFile.open(p) as c:
        assert c.size_of_image == a.size_of_image
