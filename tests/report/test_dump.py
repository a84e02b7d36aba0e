"""`winhatch run --dump DIR` and the report's sample facts, checked with the field's own readers: the `minidump`
package reads the minidump (its PEB walk, threads, modules, memory and exception record), pefile and
winhatch's parser accept the PE files rebuilt from memory, and pefile's imphash is the oracle of ours."""
from __future__ import annotations

import hashlib
import json

import pytest
from click.testing import CliRunner

from winhatch.cli import main

minidumpfile = pytest.importorskip("minidump.minidumpfile")
pefile = pytest.importorskip("pefile")


def _dump(exe, tmp_path, *args):
    out = tmp_path / "dump"
    rep = tmp_path / "report.json"
    r = CliRunner().invoke(main, ["run", "--dump", str(out), "--report", str(rep), str(exe), *args])
    return r, out, json.loads(rep.read_text())


def test_minidump_is_read_by_the_minidump_package(build_fixture, arch, tmp_path):
    exe = build_fixture("hello.c", arch)
    r, out, rep = _dump(exe, tmp_path)
    assert r.exit_code == 42, r.output
    man = json.loads((out / "manifest.json").read_text())
    mf = minidumpfile.MinidumpFile.parse(str(out / man["minidump"]["file"]))
    assert mf.sysinfo.ProcessorArchitecture.name == ("AMD64" if arch == "x64" else "INTEL")
    assert mf.sysinfo.BuildNumber == 19045
    proc = rep["processes"][0]
    mods = {m.name.lower(): m for m in mf.modules.modules}
    for m in proc["modules"]:
        dm = mods[m["path"].lower()]
        assert (dm.baseaddress, dm.size) == (m["base"], m["size"])
    reader = mf.get_reader()
    base = proc["modules"][0]["base"]
    assert reader.read(base, 2) == b"MZ"
    # the package walks the guest's own PEB (TEB -> PEB -> process parameters) from the dumped memory
    assert mf.peb.image_base_address == base
    assert "hello.exe" in mf.peb.image_path.lower()
    th = mf.threads.threads
    assert [t.ThreadId for t in th] == [t["tid"] for t in proc["threads"]]
    assert th[0].Teb == proc["threads"][0]["teb"]
    # every committed region of the report's memory map is in the dump
    segs = [(s.start_virtual_address, s.size) for s in mf.memory_segments_64.memory_segments]
    for reg in proc["memory_map"]:
        if reg["state"] == "MEM_COMMIT" and reg["protect"] & 0xFF not in (0, 1) and not reg["protect"] & 0x100:
            assert any(a <= reg["base"] and reg["base"] + reg["size"] <= a + n for a, n in segs), reg
    info = {i.BaseAddress: i for i in mf.memory_info.infos}
    assert info[base].Type.name == "MEM_IMAGE" and info[base].AllocationBase == base
    data = (out / man["minidump"]["file"]).read_bytes()
    assert man["minidump"]["sha256"] == hashlib.sha256(data).hexdigest()
    # every loaded module is written as its memory image: the bytes the minidump holds at its base
    dumped = {m["base"]: m for m in man["modules"]}
    assert set(dumped) == {m["base"] for m in proc["modules"]}
    for m in proc["modules"]:
        d = dumped[m["base"]]
        blob = (out / d["file"]).read_bytes()
        assert d["guest_path"].lower() == m["path"].lower() and d["size"] == len(blob)
        assert d["sha256"] == hashlib.sha256(blob).hexdigest()
        assert blob[:2] == b"MZ" and reader.read(m["base"], 0x400) == blob[:0x400]


def test_crash_dump_has_the_exception_record(build_fixture, arch, tmp_path):
    exe = build_fixture("crash.c", arch)
    r, out, rep = _dump(exe, tmp_path)
    crash = rep["processes"][0]["crash"]
    man = json.loads((out / "manifest.json").read_text())
    mf = minidumpfile.MinidumpFile.parse(str(out / man["minidump"]["file"]))
    e = mf.exception.exception_records[0]
    assert e.ExceptionRecord.ExceptionCode.value == 0xC0000005
    assert e.ExceptionRecord.ExceptionAddress == crash["address"]
    assert list(e.ExceptionRecord.ExceptionInformation[:2]) == [1, 0]     # a write to address 0
    assert e.ThreadContext.DataSize == (0x4D0 if arch == "x64" else 0x2CC)


def test_unpacked_image_and_generated_code(build_fixture, arch, tmp_path):
    exe = build_fixture("dump_selfmod.c", arch)
    r, out, rep = _dump(exe, tmp_path)
    assert r.exit_code == 0 and "patched 42 generated 7" in r.output, r.output
    man = json.loads((out / "manifest.json").read_text())
    [u] = [u for u in man["unpacked"] if u["name"].lower() == "dump_selfmod.exe"]
    assert u["differs"] is True
    assert not [u for u in man["unpacked"] if u["name"].lower() != "dump_selfmod.exe"]   # system DLLs unchanged
    [reg] = man["regions"]
    blob = (out / reg["file"]).read_bytes()
    assert blob.startswith(bytes([0xB8, 7, 0, 0, 0, 0xC3]))
    # the rebuilt PE: pefile and winhatch parse it; sections at their virtual offsets; the patched code is there;
    # its import table names what the program imports (found from the IAT)
    rebuilt = (out / u["file"]).read_bytes()
    pe = pefile.PE(data=rebuilt)
    assert pe.OPTIONAL_HEADER.ImageBase == u["base"]
    for s in pe.sections:
        assert s.PointerToRawData == s.VirtualAddress
    names = {(e.dll.decode().lower(), i.name.decode()) for e in pe.DIRECTORY_ENTRY_IMPORT for i in e.imports
             if i.name}
    assert ("kernel32.dll", "VirtualProtect") in names and ("kernel32.dll", "VirtualAlloc") in names
    orig = pefile.PE(str(exe))
    text = next(s for s in orig.sections if s.Name.rstrip(b"\0") == b".text")
    va = text.VirtualAddress
    assert rebuilt[va:va + text.Misc_VirtualSize] != orig.get_memory_mapped_image()[va:va + text.Misc_VirtualSize]
    from winhatch.pe import PEFile
    assert PEFile(rebuilt).arch == arch
    r = CliRunner().invoke(main, ["inspect", "--json", str(out / u["file"])])
    assert r.exit_code == 0, r.output


def test_sample_facts_and_imphash_match_pefile(build_fixture, arch, tmp_path):
    exe = build_fixture("dump_selfmod.c", arch)
    rep = tmp_path / "r.json"
    CliRunner().invoke(main, ["run", "--report", str(rep), str(exe)])
    s = json.loads(rep.read_text())["sample"]
    data = exe.read_bytes()
    pe = pefile.PE(data=data)
    assert s["sha256"] == hashlib.sha256(data).hexdigest() and s["md5"] == hashlib.md5(data).hexdigest()
    assert s["sha1"] == hashlib.sha1(data).hexdigest() and s["size"] == len(data)
    assert s["imphash"] == pe.get_imphash()
    assert s["timestamp"] == pe.FILE_HEADER.TimeDateStamp and s["compile_time"].endswith("Z")
    assert s["arch"] == arch and s["is_dll"] is False


def test_imphash_names_the_ordinals_pefile_names():
    """pefile's tables are the imphash's reference. Winsock 1.1's ordinals agree everywhere; ws2_32's later
    ordinals moved between Windows versions (winhatch leaves them `ordN`); for oleaut32 winhatch's Windows 10
    table differs from pefile's older one in a handful of ordinals, listed here."""
    from pefile import ordlookup

    from winhatch.report.sample import _WINSOCK_FIXED, _ordinal_name
    ws = ordlookup.ords[b"ws2_32.dll"]
    for ordinal in _WINSOCK_FIXED:
        assert _ordinal_name("ws2_32.dll", ordinal).lower() == ws[ordinal].decode().lower(), ordinal
    assert _ordinal_name("ws2_32.dll", 24) is None
    ole = ordlookup.ords[b"oleaut32.dll"]
    differ = {o for o, n in ole.items()
              if _ordinal_name("oleaut32.dll", o) and _ordinal_name("oleaut32.dll", o).lower() != n.decode().lower()}
    assert differ == {144, 145, 151, 300, 301, 380, 381}
    assert sum(1 for o in ole if _ordinal_name("oleaut32.dll", o)) >= 390
    assert _ordinal_name("kernel32.dll", 1) is None
