"""ntdll's generic tables and splay links (tests/fixtures/src/rtl_gentable.c): every value below follows from
the documented semantics (ordered keys, NewElement, insertion order of RtlGetElementGenericTable, the AVL
invariants), not from a recording: Wine 8 has only stubs for most of these."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from winhatch import runner

import fixturebuild

SRC = Path(__file__).resolve().parents[1] / "fixtures" / "src" / "rtl_gentable.c"

EXPECTED = """splay: new 211 count 211 allocs 211
  lookup 50: 50 lookup 999: {null}
  enumerate: 211 sorted 1
  without splaying: 211 sorted 1
  element 0: 0 element 5: 138 element 211: {null}
  deleted 106 again 0 count 105 frees 106
  after delete: 105 odd and sorted 1
  splay links ok 1 nodes 105 root is own parent 1
  real successors: 105
  real predecessors: 105
  splayed root is the smallest 1
  emptied: count 0 allocs-frees 0
avl: new 211 count 211 allocs 211
  inserted: avl depth 10 (table says 10) invariants broken: 0
  deleted 106 again 0 count 105 frees 106
  avl depth 7 (table says 7) invariants broken: 0 parent ok 1
  emptied: count 0 allocs-frees 0
"""


@pytest.fixture(scope="module")
def programs(tmp_path_factory):
    d = tmp_path_factory.mktemp("gentable")
    out = {}
    for arch in ("x86", "x64"):
        exe = d / f"gentable-{arch}.exe"
        subprocess.run([fixturebuild.compiler(arch), "-O1", "-w", "-o", str(exe), str(SRC)], check=True,
                       capture_output=True)
        out[arch] = exe
    return out


def test_generic_tables(programs, arch):
    res = runner.run(programs[arch], [])
    null = "0" * (16 if arch == "x64" else 8)
    assert res.stdout.decode().replace("\r\n", "\n") == EXPECTED.format(null=null)
    assert res.exit_status == 0
