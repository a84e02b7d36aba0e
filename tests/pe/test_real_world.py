"""Directories the differential test does not cover, checked against pefile on real files:
Rich header, CodeView/PDB, load config, checksum, version resources, debug directory."""
from __future__ import annotations

import pefile
import pytest

from pefixtures import WINE_DIR, launcher_exes
from winhatch.pe import PEFile

LAUNCHERS = [p for p in launcher_exes() if "arm" not in p.name]


def _pefile(path, *names):
    pe = pefile.PE(str(path), fast_load=True)
    pe.parse_data_directories(directories=[pefile.DIRECTORY_ENTRY[n] for n in names])
    return pe


@pytest.mark.parametrize("path", LAUNCHERS, ids=[p.name for p in LAUNCHERS])
def test_rich_header(path):
    ref = pefile.PE(str(path), fast_load=True).parse_rich_header()
    ours = PEFile.open(path).rich_header
    if ref is None:
        assert ours is None
        return
    vals = ref["values"]
    assert ours == [(vals[i], vals[i + 1]) for i in range(0, len(vals), 2)]
    assert ours and all(count > 0 for _, count in ours)


@pytest.mark.parametrize("path", LAUNCHERS, ids=[p.name for p in LAUNCHERS])
def test_pdb_and_debug(path):
    ref = _pefile(path, "IMAGE_DIRECTORY_ENTRY_DEBUG")
    pe = PEFile.open(path)
    ref_debug = getattr(ref, "DIRECTORY_ENTRY_DEBUG", [])
    assert [(d.type, d.size_of_data, d.address_of_raw_data, d.pointer_to_raw_data) for d in pe.debug] == \
        [(d.struct.Type, d.struct.SizeOfData, d.struct.AddressOfRawData, d.struct.PointerToRawData) for d in ref_debug]
    cv = next((d.entry for d in ref_debug if d.struct.Type == 2 and d.entry is not None), None)
    if cv is None:
        assert pe.pdb is None
        return
    assert pe.pdb["signature"] == cv.CvSignature.decode()
    assert pe.pdb["path"] == cv.PdbFileName.rstrip(b"\0").decode()
    assert pe.pdb["age"] == cv.Age
    if pe.pdb["signature"] == "RSDS":
        want = f"{cv.Signature_Data1:08X}-{cv.Signature_Data2:04X}-{cv.Signature_Data3:04X}-" \
               f"{cv.Signature_Data4:02X}{cv.Signature_Data5:02X}-{cv.Signature_Data6.hex().upper()}"
        assert pe.pdb["guid"] == want


@pytest.mark.parametrize("path", LAUNCHERS, ids=[p.name for p in LAUNCHERS])
def test_load_config_and_checksum(path):
    ref = _pefile(path, "IMAGE_DIRECTORY_ENTRY_LOAD_CONFIG")
    pe = PEFile.open(path)
    assert pe.compute_checksum() == ref.generate_checksum()
    lc = getattr(ref, "DIRECTORY_ENTRY_LOAD_CONFIG", None)
    if lc is None:
        assert pe.load_config is None
        return
    s = lc.struct
    ours = pe.load_config
    assert ours.size == s.Size
    assert ours.security_cookie == s.SecurityCookie and ours.security_cookie != 0
    assert ours.se_handler_table == s.SEHandlerTable and ours.se_handler_count == s.SEHandlerCount
    assert ours.guard_cf_check_function_pointer == getattr(s, "GuardCFCheckFunctionPointer", 0)
    assert ours.guard_cf_function_table == getattr(s, "GuardCFFunctionTable", 0)
    assert ours.guard_cf_function_count == getattr(s, "GuardCFFunctionCount", 0)
    assert ours.guard_flags == getattr(s, "GuardFlags", 0)


@pytest.mark.skipif(not WINE_DIR.is_dir(), reason="wine64 PE DLLs not installed")
@pytest.mark.parametrize("name", ["kernel32.dll", "user32.dll", "notepad.exe", "msvcrt.dll"])
def test_version_info_and_resources(name):
    path = WINE_DIR / name
    ref = pefile.PE(str(path))
    pe = PEFile.open(path)
    ref_strings = {}
    for fi in getattr(ref, "FileInfo", []):
        for entry in fi:
            if entry.Key == b"StringFileInfo":
                for st in entry.StringTable:
                    ref_strings.update({k.decode(): v.decode() for k, v in st.entries.items()})
    vi = pe.version_info
    if not hasattr(ref, "VS_FIXEDFILEINFO"):                   # notepad.exe carries no RT_VERSION
        assert vi is None and 16 not in pe.resources.types
    else:
        assert vi["strings"] == ref_strings and vi["strings"]
        ff = ref.VS_FIXEDFILEINFO[0]
        assert (vi["fixed"]["file_version_ms"], vi["fixed"]["file_version_ls"]) == (ff.FileVersionMS, ff.FileVersionLS)
        assert vi["fixed"]["file_type"] == ff.FileType
    # the resource tree's leaves agree with pefile's
    ref_leaves = sorted((t.id if t.id is not None else str(t.name), n.id if n.id is not None else str(n.name),
                         lang.id, lang.data.struct.OffsetToData, lang.data.struct.Size)
                        for t in ref.DIRECTORY_ENTRY_RESOURCE.entries for n in t.directory.entries
                        for lang in n.directory.entries)
    ours = sorted((p[0], p[1], p[2], d.rva, d.size) for p, d in pe.resources.leaves())
    assert ours == ref_leaves


@pytest.mark.skipif(not WINE_DIR.is_dir(), reason="wine64 PE DLLs not installed")
@pytest.mark.parametrize("name", ["kernel32.dll", "ntdll.dll", "msvcrt.dll"])
def test_export_directory_from_stored_facts_answers_as_the_parsed_one(name):
    """ExportDirectory.from_facts (the start-up cache's form: entries made when looked up) answers every name,
    hint and ordinal lookup as the directory parsed from the file, and lists the same functions."""
    from winhatch.pe.directories import ExportDirectory
    e = PEFile.open(WINE_DIR / name).exports
    d = ExportDirectory.from_facts(e.dll_name, e.ordinal_base, e.timestamp, e.characteristics, e.major_version,
                                   e.minor_version, [tuple(x) for x in e.functions], e.names, e.number_of_functions,
                                   e.rva, e.size, tuple(e._name_indexes))
    for slot, (nm, _ordinal) in enumerate(e.names):
        assert d.lookup(nm).entry == e.lookup(nm).entry, nm
        assert d.lookup(nm, hint=slot).hint_hit
    assert d.lookup("NoSuchExport").entry is None
    first = d.by_ordinal(e.functions[0].ordinal)
    for o in range(e.ordinal_base - 2, e.ordinal_base + e.number_of_functions + 3):
        assert d.by_ordinal(o) == e.by_ordinal(o), o
    assert d.functions == e.functions and d.by_ordinal(first.ordinal) is first   # an entry made once stays
