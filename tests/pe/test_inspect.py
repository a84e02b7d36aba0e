"""`winhatch inspect`: tables, --json checked against pefile, and one-line errors."""
from __future__ import annotations

import json
import struct

import pefile
import pytest
from click.testing import CliRunner

from oracle import facts_pefile
from winhatch.cli import main


def _runner() -> CliRunner:
    try:
        return CliRunner(mix_stderr=False)      # click < 8.2
    except TypeError:
        return CliRunner()                      # click >= 8.2 keeps stderr apart by default


def _run(*args):
    return _runner().invoke(main, ["inspect", *map(str, args)])


@pytest.mark.parametrize("which", ["exports", "imports"])
def test_json_matches_pefile(pe_fixtures, which):
    path = pe_fixtures[which]
    r = _run("--json", path)
    assert r.exit_code == 0, r.stderr
    assert r.stdout.count("\n") == 1                      # exactly one JSON object
    got = json.loads(r.stdout)
    ref = facts_pefile(path)
    for key in ("machine", "image_base", "entry_point_rva", "size_of_image", "subsystem", "dll_characteristics"):
        assert got[key] == ref[key], key
    pe = pefile.PE(str(path), fast_load=True)
    assert got["is_pe32_plus"] == (pe.PE_TYPE == pefile.OPTIONAL_HEADER_MAGIC_PE_PLUS)
    assert [(s["name"], s["virtual_address"], s["virtual_size"], s["raw_pointer"], s["raw_size"],
             s["characteristics"]) for s in got["sections"]] == ref["sections"]
    for key in ("imports", "delay_imports"):
        assert [(d["dll"], [(f["name"], f["ordinal"], f["hint"], f["iat_rva"]) for f in d["functions"]])
                for d in got[key]] == ref[key]
    if ref["exports"] is None:
        assert got["exports"] is None
    else:
        e = got["exports"]
        assert (e["dll_name"], e["ordinal_base"]) == (ref["exports"]["dll_name"], ref["exports"]["ordinal_base"])
        assert {f["ordinal"]: (f["rva"], f["forwarder"]) for f in e["functions"]} == ref["exports"]["by_ordinal"]
    assert got["relocations"] == {"blocks": ref["reloc_blocks"], "entries": ref["reloc_entries"]}
    assert got["tls"]["callbacks"] == ref["tls_callbacks"]
    assert "pdb" in got and got["pdb"] is None             # mingw writes no CodeView record by default


def test_json_for_an_msvc_launcher_has_pdb():
    from pefixtures import launcher_exes
    path = next(p for p in launcher_exes() if p.name in ("cli-64.exe", "t64.exe", "w64.exe"))
    got = json.loads(_run("--json", path).stdout)
    assert got["pdb"] is None or (got["pdb"]["path"] and isinstance(got["pdb"]["age"], int))
    assert got["arch"] == "x64" and got["is_pe32_plus"] is True


def test_tables(pe_fixtures):
    r = _run(pe_fixtures["exports"])
    assert r.exit_code == 0, r.stderr
    out = r.stdout
    for needle in ("Sections", ".text", "Imports", "KERNEL32.dll", "Exports of pe_exports.dll", "pe_add",
                   "[NONAME]", "kernel32.HeapAlloc", "TLS callbacks", "Base relocations"):
        assert needle in out, needle


def test_malformed_file_one_line_exit_1(tmp_path, pe_fixtures):
    data = bytearray(pe_fixtures["plain"].read_bytes())
    lfanew = struct.unpack_from("<I", data, 0x3C)[0]
    struct.pack_into("<H", data, lfanew + 6, 200)              # NumberOfSections = 200
    bad = tmp_path / "bad.exe"
    bad.write_bytes(bytes(data))
    r = _run(bad)
    assert r.exit_code == 1 and r.stdout == ""
    lines = r.stderr.splitlines()
    assert len(lines) == 1
    assert lines[0] == (f"error: NumberOfSections 200 > 96 at offset 0x{lfanew + 6:x} "
                        f"(STATUS_INVALID_IMAGE_FORMAT, 0xC000007B)")


def test_not_mz_and_missing_file(tmp_path):
    f = tmp_path / "text.exe"
    f.write_text("hello, I am not a program\n")
    r = _run("--json", f)
    assert r.exit_code == 1 and r.stdout == ""
    assert r.stderr == "error: no MZ signature at offset 0x0 (STATUS_INVALID_IMAGE_NOT_MZ, 0xC000012F)\n"
    r = _run(tmp_path / "missing.exe")
    assert r.exit_code == 1 and "no such file" in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.splitlines()) == 1


def test_malformed_directory_found_late(tmp_path, pe_fixtures):
    """Headers fine, import directory pointing outside the image: still one line, exit 1."""
    data = bytearray(pe_fixtures["plain"].read_bytes())
    lfanew = struct.unpack_from("<I", data, 0x3C)[0]
    opt = lfanew + 24
    dd = opt + (112 if data[opt:opt + 2] == b"\x0b\x02" else 96)
    struct.pack_into("<I", data, dd + 8, 0x7FFF0000)
    bad = tmp_path / "bad_imports.exe"
    bad.write_bytes(bytes(data))
    r = _run("--json", bad)
    assert r.exit_code == 1 and r.stdout == ""
    assert len(r.stderr.splitlines()) == 1 and r.stderr.startswith("error: ") and "0xC000007B" in r.stderr
