"""`winhatch run --coverage FILE` (issue 20): a drcov file parsed back — its blocks fall inside the modules it
lists, the program's entry block is among them, and a module's offsets fit its size."""
from __future__ import annotations

import pefile
from click.testing import CliRunner

from winhatch.cli import main
from winhatch.report.drcov import parse_drcov


def test_drcov_blocks_fall_inside_their_modules(build_fixture, arch, tmp_path):
    exe = build_fixture("hello.c", arch)
    cov = tmp_path / "hello.drcov"
    r = CliRunner().invoke(main, ["run", "--coverage", str(cov), str(exe)])
    assert r.exit_code == 42, r.output
    d = parse_drcov(cov.read_bytes())
    assert cov.read_bytes().startswith(b"DRCOV VERSION: 2\n")
    mods = {m["id"]: m for m in d["modules"]}
    assert any(m["path"].lower().endswith("hello.exe") for m in mods.values())
    assert len(d["blocks"]) > 50
    for off, size, mid in d["blocks"]:
        m = mods[mid]
        assert 0 <= off < m["end"] - m["base"] and off + size <= m["end"] - m["base"] + 16
    main_mod = next(m for m in mods.values() if m["path"].lower().endswith("hello.exe"))
    entry_rva = pefile.PE(str(exe), fast_load=True).OPTIONAL_HEADER.AddressOfEntryPoint
    assert any(mid == main_mod["id"] and off == entry_rva for off, _size, mid in d["blocks"])
    assert "blocks in" in r.output
