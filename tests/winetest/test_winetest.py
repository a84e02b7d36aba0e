"""Wine's kernel32/ntdll conformance tests run under winhatch (tools/winetest.py), against the committed
baseline (tests/winetest/baseline-ARCH.json).

`make test` builds and runs a few files that complete, for x86 and x64, so the whole mechanism (Debian's
source package, the per-file test list, Wine's headers, the resources, the run, the summary line, the
baseline comparison) is exercised; `make winetest` runs every file (WINHATCH_WINETEST_FULL=1 here runs
the same sweep as a pytest test).
"""
from __future__ import annotations

import gzip
import json
import os
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))
import winetest  # noqa: E402

# the quick check in `make test`: a file that completes on both architectures (its summary line is printed)
# and one that runs a thousand checks before it stops (its checks are counted from test.h's lines)
QUICK_COMPLETE = [("ntdll", "port"), ("ntdll", "large_int"), ("ntdll", "env"), ("kernel32", "toolhelp")]
QUICK_PARTIAL = [("kernel32", "locale")]   # 2.3 M checks in about a minute to its end: cut at 30 s, a partial run


@pytest.fixture(scope="module")
def wine_source():
    try:
        winetest.fetch(verbose=False)
        winetest.generated_headers()
    except winetest.WinetestError as e:
        pytest.fail(f"Wine's source package could not be prepared: {e}")
    return winetest.src_root()


# ---------------------------------------------------------------------------------------------- parsing

def test_summary_line_format():
    out = ("0030:port: 2 tests executed (0 marked as todo, 0 as flaky, 1 failure), 0 skipped.\n")
    m = winetest.SUMMARY.search(out)
    assert m and m.group(2) == "port" and m.group(3) == "2" and m.group(6) == "1"
    with_time = "0030:port:1.250 17 tests executed (3 marked as todo, 0 as flaky, 4 failures), 5 skipped.\n"
    m = winetest.SUMMARY.search(with_time)
    assert (m.group(3), m.group(4), m.group(6), m.group(7)) == ("17", "3", "4", "5")


def test_check_lines_are_counted():
    out = "\n".join([
        "path.c:10: Test succeeded",
        "path.c:11: Test failed: got 3",
        "path.c:12: Test marked todo: not yet",
        "path.c:13: Test succeeded inside todo block: fixed",
        "path.c:14: some trace",
        "0030:path: 4 tests executed",
    ])
    assert winetest.count_checks(out) == (4, 2)


def test_failing_checks_are_listed_by_place():
    out = "\n".join([
        "path.c:10: Test succeeded",
        "path.c:11: Test failed: got 3",
        "path.c:11: Test failed: got 4",
        "0a4:file.c:7: Test succeeded inside todo block: fixed",
        "path.c:12: Test marked todo: not yet",
        "0030:path: 4 tests executed (0 marked as todo, 0 as flaky, 3 failures), 0 skipped.",
    ])
    assert winetest.failed_checks(out) == [{"at": "path.c:11", "count": 2, "message": "got 3"},
                                           {"at": "file.c:7", "count": 1, "message": "fixed"}]


def test_every_failure_gets_its_reason(tmp_path, monkeypatch):
    """The baseline lists each failing check with the reason from tests/winetest/reasons/: a place, a
    range of lines or a whole source file; none found is said as such."""
    (tmp_path / "reasons").mkdir()
    (tmp_path / "reasons" / "kernel32-path.toml").write_text('"path.c:11" = "eleven"\n"path.c:100-200" = "range"\n'
                                                             '"file.c" = "the whole file"\n')
    monkeypatch.setattr(winetest, "REASONS", tmp_path / "reasons")
    monkeypatch.setattr(winetest, "BASELINE_DIR", tmp_path)
    fc = [{"at": a, "count": 1, "message": "m"} for a in ("path.c:11", "path.c:150", "file.c:3", "path.c:99")]
    winetest.write_baseline([winetest.Result("kernel32/path", "x64", True, executed=9, failures=4,
                                             past_harness=True, failed_checks=fc)])
    got = json.loads((tmp_path / "baseline-x64.json").read_text())["files"]["kernel32/path"]["failed_checks"]
    assert [f["reason"] for f in got] == ["eleven", "range", "the whole file", winetest.UNEXPLAINED]


def test_the_committed_reasons_files_parse():
    import tomllib
    files = sorted(winetest.REASONS.glob("*.toml"))
    assert files
    for f in files:
        dll, _, name = f.stem.partition("-")
        assert dll in {"kernel32", "ntdll"} and name, f.name
        for key, text in tomllib.loads(f.read_text()).items():
            assert re.fullmatch(r"\w+\.[ch](:\d+(-\d+)?)?", key), (f.name, key)
            assert isinstance(text, str) and text.strip(), (f.name, key)


def test_regressions_are_reported(tmp_path, monkeypatch):
    monkeypatch.setattr(winetest, "BASELINE_DIR", tmp_path)
    base = [winetest.Result("kernel32/a", "x64", True, executed=10, failures=1, past_harness=True),
            winetest.Result("kernel32/b", "x64", True, executed=10, failures=0, past_harness=True),
            winetest.Result("kernel32/c", "x64", False, stop="unimplemented API x", past_harness=True),
            winetest.Result("kernel32/d", "x64", False, stop="unimplemented API x", past_harness=True)]
    winetest.write_baseline(base)
    doc = json.loads((tmp_path / "baseline-x64.json").read_text())
    assert doc["files"]["kernel32/a"]["completed"] is True
    now = [winetest.Result("kernel32/a", "x64", True, executed=10, failures=2),     # more failures
           winetest.Result("kernel32/b", "x64", False, stop="timeout"),              # stops completing
           winetest.Result("kernel32/c", "x64", False, stop="unimplemented API y",  # never completed
                           past_harness=True),
           winetest.Result("kernel32/d", "x64", False, stop="unimplemented API z",  # stops in test.h
                           past_harness=False)]
    bad = winetest.regressions(now)
    assert len(bad) == 3, bad
    assert "failures 1 -> 2" in bad[0] and "now stops: timeout" in bad[1] and "past the harness" in bad[2]
    assert winetest.regressions(base) == []


def test_no_wine_exports_in_the_system_dlls():
    """test.h decides it runs under Wine when ntdll exports wine_server_call: no wine_* export may exist."""
    from winhatch.win32.data import load_exports
    for arch in ("x64", "x86"):
        names = [(dll, e[1]) for dll, mod in load_exports(arch).items() for e in mod["exports"] if e[1]]
        assert not [n for n in names if re.match(r"_*wine_", n[1], re.I)], arch
        assert "RtlInitUnicodeString" in {n for dll, n in names if dll == "ntdll.dll"}


# ---------------------------------------------------------------------------------------------- runs

@pytest.mark.parametrize("arch", winetest.ARCHES)
@pytest.mark.parametrize("dll,name", QUICK_COMPLETE)
def test_quick_files_complete_as_in_the_baseline(wine_source, dll, name, arch):
    base = winetest.load_baseline(arch).get(f"{dll}/{name}")
    assert base and base["completed"], "the quick files must be recorded as completing in the baseline"
    r = winetest.run_one(dll, name, arch, timeout=90)
    assert r.completed, f"{dll}/{name} ({arch}) stopped: {r.stop}"
    assert (r.executed, r.skipped) == (base["executed"], base["skipped"]), (r, base)
    assert winetest.regressions([r]) == []


@pytest.mark.parametrize("arch", winetest.ARCHES)
@pytest.mark.parametrize("dll,name", QUICK_PARTIAL)
def test_quick_partial_run_is_counted(wine_source, dll, name, arch):
    """A file that stops midway — here one cut by its time limit (every file completes in the baselines since
    the eleventh session) — has its stop named, is past test.h's harness, and the checks it ran before are
    counted; against a baseline where the file completes, the cut run is a regression that names the stop."""
    r = winetest.run_one(dll, name, arch, timeout=30)
    assert r.past_harness is True, r
    assert not r.completed and r.stop and r.executed > 100, r
    assert winetest.regressions([r]) == [f"{dll}/{name} ({arch}) completed in the baseline, now stops: {r.stop}"]


@pytest.mark.skipif(not os.environ.get("WINHATCH_WINETEST_FULL"), reason="the full sweep: make winetest")
def test_full_sweep_against_the_baseline(wine_source):
    results = winetest.run_many(winetest.all_files(), winetest.ARCHES, jobs=2, timeout=120, progress=False)
    assert winetest.regressions(results) == []


# ---------------------------------------------------------------------------------------------- the harness

HARNESS_SRC = Path(__file__).resolve().parent / "src"


@pytest.mark.parametrize("arch", winetest.ARCHES)
def test_harness_believes_it_runs_on_windows(wine_source, arch):
    """tests/winetest/src/harness.c, built with the recipe: argc == 2 as runtest passes it, platform
    "windows" (no ntdll!wine_server_call), the error mode test.h sets, a skip, a deliberate failure,
    todo_wine as a plain check, and a child process (the program itself) whose one failure becomes the
    parent's: 9 checks executed, 2 failures, 1 skip."""
    r = winetest.run_one("ntdll", "harness", arch, timeout=90, source=HARNESS_SRC / "harness.c")
    assert r.completed, r
    assert (r.executed, r.failures, r.todo, r.skipped) == (9, 2, 0, 1), r
    assert r.exit_status == 2      # test.h: the exit code is the number of failures
    # both failures are listed by their place in the source (the child's included), with their messages
    assert sorted((f["at"], f["count"], f["message"]) for f in r.failed_checks) == [
        ("harness.c:19", 1, "deliberate failure in the child"), ("harness.c:27", 1, "deliberate failure")], r


@pytest.mark.parametrize("arch", winetest.ARCHES)
def test_harness_exception_filter_names_the_crash(wine_source, arch):
    """An access violation in a test reaches test.h's unhandled-exception filter, which prints it; the
    runner records it as the stop, in the test's own function, with the one check that ran before."""
    r = winetest.run_one("ntdll", "harness_crash", arch, timeout=90,
                         source=HARNESS_SRC / "harness_crash.c")
    assert not r.completed
    assert re.search(r"unhandled exception c0000005 at", r.stop), r
    assert r.stop_in == "func_harness_crash" and r.past_harness is True, r
    assert (r.executed, r.failures) == (1, 0) and r.exit_status == 0xC0000005, r


@pytest.mark.parametrize("arch", winetest.ARCHES)
def test_wow64_machine_queries_pass(wine_source, arch):
    """ntdll/wow64 begins with NtQuerySystemInformationEx(SystemSupportedProcessorArchitectures) for the current
    process (AMD64 native, I386 in the WoW64 container, the process's own marked; a short buffer is
    STATUS_BUFFER_TOO_SMALL): it gets past its harness, those checks pass, and the file completes."""
    r = winetest.run_one("ntdll", "wow64", arch, timeout=90)
    assert r.past_harness is True and r.executed >= 14, r
    assert r.completed, r
    if arch == "x86":
        # the WoW64 process's 64-bit side: its module list names 64-bit DLLs (wow64cpu.dll, wow64win.dll...) the
        # emulated machine does not have; every such failure is one of the explained places, none is a machine query
        why = winetest.reasons("ntdll/wow64")
        assert all(winetest.reason_for(why, f["at"]) != winetest.UNEXPLAINED for f in r.failed_checks), r
    else:
        assert r.failures == 0, r
