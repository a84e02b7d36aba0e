"""winhatch.pe.rsrcwrite: the resource tree and VS_VERSIONINFO it writes, and a file whose resources it
replaced, read back by pefile and LIEF (the oracles) and by winhatch's own parser."""
from __future__ import annotations

import pefile
import pytest

from winhatch.pe import PEFile
from winhatch.pe.rsrcwrite import build_version_info, replace_resources

lief = pytest.importorskip("lief")


def _leaves(pe: PEFile) -> dict:
    return {p: (pe.read_rva(d.rva, d.size), d.codepage) for p, d in pe.resources.leaves()}


@pytest.mark.parametrize("source", ["conf_verinfo.c", "hello.c"])
def test_replace_resources_oracles(arch, build_fixture, source, tmp_path):
    exe = build_fixture(source, arch, libs=["-lversion"] if source == "conf_verinfo.c" else None)
    data = exe.read_bytes()
    pe = PEFile(data)
    leaves = _leaves(pe) if pe.resources is not None else {}
    vi = build_version_info(file_version=(1, 2, 3, 4), product_version=(5, 6, 7, 8),
                            strings={"FileDescription": "rewritten", "ProductName": "oracle test"})
    leaves[(16, 1, 0x409)] = (vi, 0)
    leaves[("MYTYPE", "Second", 0x407)] = (b"zweite", 0)
    leaves[("MYTYPE", "FIRST", 0)] = (b"first", 1252)
    leaves[(10, 7, 0)] = (b"\x00" * 33, 0)
    new = replace_resources(data, leaves)
    # winhatch's parser
    p2 = PEFile(new)
    assert _leaves(p2) == leaves
    assert p2.version_info["fixed"]["file_version"] == "1.2.3.4"
    assert p2.version_info["strings"] == {"FileDescription": "rewritten", "ProductName": "oracle test"}
    assert p2.version_info["translations"] == [(0x409, 1200)]
    # pefile
    pf = pefile.PE(data=new)
    assert pf.VS_FIXEDFILEINFO[0].FileVersionMS == 0x00010002 and pf.VS_FIXEDFILEINFO[0].ProductVersionLS == 0x00070008
    strings = {k.decode(): v.decode() for fi in pf.FileInfo[0] if hasattr(fi, "StringTable")
               for st in fi.StringTable for k, v in st.entries.items()}
    assert strings == {"FileDescription": "rewritten", "ProductName": "oracle test"}
    got = {}
    for t in pf.DIRECTORY_ENTRY_RESOURCE.entries:
        for n in t.directory.entries:
            for lang in n.directory.entries:
                key = (str(t.name) if t.name else t.id, str(n.name) if n.name else n.id, lang.id)
                got[key] = pf.get_data(lang.data.struct.OffsetToData, lang.data.struct.Size)
    assert got == {k: v[0] for k, v in leaves.items()}
    # names before ids, names in case-insensitive order (the loader's binary search relies on it)
    assert [str(t.name) if t.name else t.id for t in pf.DIRECTORY_ENTRY_RESOURCE.entries][0] == "MYTYPE"
    if pf.OPTIONAL_HEADER.CheckSum:
        assert pf.verify_checksum()
    # LIEF
    lp = lief.parse(list(new))
    assert lp.has_resources
    v = lp.resources_manager.version
    if isinstance(v, list):
        v = v[0]
    fixed = v.file_info if hasattr(v, "file_info") else v.fixed_file_info
    assert (fixed.file_version_ms, fixed.product_version_ls) == (0x00010002, 0x00070008)
    # the COFF symbol table and its string table (long section names) moved with the overlay
    sym, nsym = pe.file_header.PointerToSymbolTable, pe.file_header.NumberOfSymbols
    if sym:
        sym2 = p2.file_header.PointerToSymbolTable
        n = 18 * nsym + int.from_bytes(data[sym + 18 * nsym:sym + 18 * nsym + 4], "little")
        assert new[sym2:sym2 + n] == data[sym:sym + n]
    # the program still runs
    out = tmp_path / exe.name
    out.write_bytes(new)
    from winhatch import runner
    res = runner.run(out, [], max_instructions=50_000_000)
    assert res.error is None


def test_remove_all_resources(arch, build_fixture):
    """Windows leaves the resource section with an empty root directory (Wine's resource.c test, chk_delete:
    the section is kept, no named or id entries)."""
    data = build_fixture("conf_verinfo.c", arch, libs=["-lversion"]).read_bytes()
    old = PEFile(data)
    new = replace_resources(data, {})
    p2 = PEFile(new)
    assert p2.resources is not None and not p2.resources.entries
    rsrc = next(s for s in p2.sections if s.name == ".rsrc")
    assert pefile.PE(data=new).OPTIONAL_HEADER.DATA_DIRECTORY[2].VirtualAddress == rsrc.virtual_address
    assert [s.name for s in p2.sections] == [s.name for s in old.sections]
