"""The conformance suite: every tests/fixtures/src/conf_*.c, built for x86 and x64, runs under winhatch and
must print exactly what Windows prints (recorded from Wine by tools/record_expected.py — wine64 for x64,
32-bit Wine under WoW64 for x86 — corrected where Wine differs from Windows by the fixture's own
`winhatch-windows` rules) and exit with the same code.

Adding a case: write tests/fixtures/src/conf_<name>.c, run `.venv/bin/python tools/record_expected.py <name>`,
commit both files. Directives (flags, args, rules) are documented in tools/record_expected.py.
"""
from __future__ import annotations

import difflib
import importlib.util
import shutil
import sys
from pathlib import Path

import pytest

from winhatch import runner

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("record_expected", ROOT / "tools" / "record_expected.py")
record_expected = importlib.util.module_from_spec(_spec)
sys.modules.setdefault("record_expected", record_expected)
_spec.loader.exec_module(record_expected)

FIXTURES = record_expected.fixtures()


def _diff(expected: bytes, actual: bytes) -> str:
    lines = difflib.unified_diff(expected.decode("latin-1").splitlines(keepends=True),
                                 actual.decode("latin-1").splitlines(keepends=True), "expected (Windows)",
                                 "winhatch", n=2)
    return "".join(lines)[:6000]


@pytest.mark.parametrize("fx", FIXTURES, ids=[f.name for f in FIXTURES])
def test_conformance(fx, arch, build_fixture, tmp_path):
    expected_file = fx.expected_path(arch)
    if not expected_file.exists():
        pytest.fail(f"{expected_file.relative_to(ROOT)} is missing: run tools/record_expected.py {fx.name}")
    expected = expected_file.read_bytes()
    built = build_fixture(fx.source.name, arch, flags=fx.flags, libs=fx.libs)
    # as the recorder runs it under Wine: a private, writable copy of the program's directory
    exe = tmp_path / built.name
    shutil.copy2(built, exe)
    res = runner.run(exe, fx.args, max_instructions=200_000_000)
    assert res.error is None, f"{fx.name}/{arch}: {res.error}\nstdout so far:\n{res.stdout.decode('latin-1')}"
    actual = record_expected.expected_bytes(res.stdout, res.exit_status)
    assert actual == expected, f"{fx.name}/{arch} differs from Windows:\n{_diff(expected, actual)}"


def test_every_fixture_has_expectations():
    missing = [f"conf_{f.name}.{a}.txt" for f in FIXTURES for a in ("x64", "x86") if not f.expected_path(a).exists()]
    assert not missing, f"record them with tools/record_expected.py: {missing}"


# ------------------------------------------------------------------------------------------ the recorder itself
def test_directives_parse(tmp_path):
    src = tmp_path / "conf_demo.c"
    src.write_text('// winhatch-fixture: flags=-DX=1 -O0\n'
                   '// winhatch-fixture: args=a "b c" \'d\\e\'\n'
                   '// winhatch-windows: "wine \\"q\\"" -> "windows"  because\n'
                   'int main(void) { return 0; }\n')
    fx = record_expected.parse_fixture(src)
    assert fx.name == "demo"
    assert fx.flags == ["-DX=1", "-O0"]
    assert fx.args == ["a", "b c", "d\\e"]
    assert [(r.old, r.new, r.reason) for r in fx.windows_rules] == [('wine "q"', "windows", "because")]


def test_directive_errors(tmp_path):
    src = tmp_path / "conf_bad.c"
    src.write_text('// winhatch-windows: "a" -> "b"\n')
    with pytest.raises(record_expected.FixtureError, match="reason"):
        record_expected.parse_fixture(src)
    src.write_text("// winhatch-fixture: color=blue\n")
    with pytest.raises(record_expected.FixtureError, match="flags="):
        record_expected.parse_fixture(src)
    # x86 is recorded from 32-bit Wine, not derived from x64 by substitutions
    src.write_text('// winhatch-x86: "=8" -> "=4"  pointer size\n')
    with pytest.raises(record_expected.FixtureError, match="32-bit Wine"):
        record_expected.parse_fixture(src)
    src.write_text('// winhatch-windos: "a" -> "b"  typo\n')
    with pytest.raises(record_expected.FixtureError, match="unknown directive"):
        record_expected.parse_fixture(src)


def test_rules_must_match():
    rules = [record_expected.Rule("x", "y", "r")]
    assert record_expected.apply_rules(b"axb", rules, "t") == b"ayb"
    with pytest.raises(record_expected.FixtureError, match="matches nothing"):
        record_expected.apply_rules(b"abc", rules, "t")


def test_expected_format():
    assert record_expected.expected_bytes(b"a\n", 3) == b"a\nexit=3\n"
    assert record_expected.expected_bytes(b"a", 0x1FF) == b"a\nexit=255\n"
    assert record_expected.expected_bytes(b"", 0) == b"exit=0\n"


def test_every_program_has_expectations():
    """The hand-written tests' programs (thr_*, proc_*, exc_*, crt_*) are recorded for both architectures."""
    missing = [str(p.expected_path(a).name) for p in record_expected.PROGRAMS for a in ("x64", "x86")
               if not p.expected_path(a).exists()]
    assert not missing, f"record them with tools/record_expected.py: {missing}"


def test_select_by_name():
    sel = record_expected.select(["conf_argv.c", "exc_filter", "thr_basic", "exc_filter.search"])
    assert [getattr(i, "name", None) or i.out for i in sel] == [
        "argv", "exc_filter.execute", "exc_filter.continue", "exc_filter.search", "exc_filter.divide", "thr_basic"]
    everything = record_expected.select([])
    assert len(everything) == len(FIXTURES) + len(record_expected.PROGRAMS)
    with pytest.raises(record_expected.FixtureError, match="no conformance fixture or program"):
        record_expected.select(["nonesuch"])


def test_x86_needs_32bit_wine(tmp_path):
    with pytest.raises(record_expected.FixtureError, match="apt-get install wine32"):
        record_expected.wines(["x86"], str(tmp_path / "no-such-wine"))
