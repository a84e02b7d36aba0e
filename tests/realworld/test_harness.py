"""The corpus machinery itself, without fetching anything: the corpus file's consistency, the comparison
rules (path separators and CRs), the first-difference report, and toolchain identification on programs built
here (mingw-w64 gcc; clang + lld-link for the MSVC ABI)."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from realworld import corpus, harness  # noqa: E402
from realworld.identify import identify  # noqa: E402

ENTRIES = corpus.load()


def test_corpus_is_big_enough_and_every_run_is_recorded():
    assert len(ENTRIES) >= 40
    for e in ENTRIES:
        for run in e.runs:
            rec = harness.load_expected(e, run)
            assert rec is not None, f"{e.program}.{run.index}: no recorded expectation"
            assert rec["args"] == run.args, f"{e.program}.{run.index}: recorded with other arguments"
            assert rec["oracle"] == run.oracle


def test_ci_candidates_cover_every_toolchain():
    cands = [e for e in ENTRIES if e.ci_candidate]
    assert len({e.program for e in cands}) >= 12
    assert {e.toolchain for e in ENTRIES} == {e.toolchain for e in cands}
    for e in ENTRIES:  # both architectures where the corpus has both
        if e.ci:
            assert e.ci_candidate


def test_no_invocation_is_only_a_version_query():
    for e in ENTRIES:
        for run in e.runs:
            assert not {"--version", "-V", "version", "--help", "-h"} & set(run.args), (e.id, run.args)


def test_normalize_drops_crs_and_unifies_separators():
    assert harness.normalize(b"a\\b.c:1: x\r\nnext\r\n") == "a/b.c:1: x\nnext\n"
    assert harness.normalize(b"keep 1\nskip\nkeep 2\n", "keep") == "keep 1\nkeep 2\n"
    assert harness.digest_output(b"\x00\x01") == {"sha256": harness.hashlib.sha256(b"\x00\x01").hexdigest(), "size": 2}


def test_differences_names_the_first_differing_line():
    run = corpus.Run(index=1, args=["x"], oracle="linux")
    want = {"exit": 0, "stdout": {"text": "a\nb\nc\n"}, "stderr": {"text": ""}, "files": {}}
    got = {"exit": 0, "stdout": {"text": "a\nB\nc\n"}, "stderr": {"text": ""}, "files": {}}
    assert harness.differences(run, got, want) == ["stdout differs at line 2: got 'B', expected 'b'"]
    got["exit"] = 3
    assert harness.differences(run, got, want)[0] == "exit code 3 (expected 0)"
    assert harness.differences(run, want, want) == []


def test_identify_mingw_program():
    r = identify(ROOT / "examples" / "hello" / "hello-x64.exe")
    assert r["toolchain"] == "mingw-gcc" and r["arch"] == "x64", r


@pytest.mark.skipif(not (ROOT / "tests" / "msvcbuild.py").is_file(), reason="no MSVC-ABI build helper")
def test_identify_clang_lld_program(tmp_path):
    """clang targeting the MSVC ABI, linked by lld-link: no Rich header (only Microsoft's linker writes one)."""
    import shutil
    import subprocess
    if not (shutil.which("clang") and shutil.which("lld-link")):
        pytest.skip("clang/lld not installed")
    src = tmp_path / "t.c"
    src.write_text("int main(void) { return 0; }\n")
    exe = tmp_path / "t.exe"
    p = subprocess.run(["clang", "--target=x86_64-pc-windows-msvc", "-fuse-ld=lld", "-nostdlib", "-Wl,/entry:main",
                        "-Wl,/subsystem:console", "-o", str(exe), str(src)], capture_output=True, text=True)
    if p.returncode != 0:
        pytest.skip(f"cannot build with clang/lld here: {p.stderr[-200:]}")
    r = identify(exe)
    assert r["toolchain"] == "clang-lld-static" and not r["rich"], r
