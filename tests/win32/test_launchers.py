"""The MSVC-built launchers pip (distlib t32/t64/w64) and setuptools (cli, cli-32, cli-64) ship: real programs
with a statically linked MSVC C runtime, run alone (no script or archive next to them).

Reference behaviour:
- x64 (cli-64.exe, t64.exe, w64.exe): recorded once with wine64 (each copied alone into a temp dir) into
  tests/fixtures/expected/launcher.<name>.x64.json — stdout, stderr (the directory as <APPDIR>) and the exit
  code; `python tests/win32/test_launchers.py --record` records them again:
    cli-64.exe -> stderr "Cannot open <APPDIR>\\cli-64-script.py\\r\\n", stdout empty, exit 2
    t64.exe, w64.exe -> no output, exit 1 (w64, the GUI launcher, reports "Unable to find an appended
    archive." with user32!MessageBoxTimeoutA before exiting; t64 exits silently)
- x86 (cli-32.exe, cli.exe, t32.exe): there is no 32-bit Wine on this machine; the expectation is the
  launcher's own source logic: setuptools' launcher.c opens "<exe minus .exe>-script.py" and on failure
  prints "Cannot open %s\\n" to stderr and returns 2.
"""
from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from winhatch import runner

EXPECTED = Path(__file__).resolve().parents[1] / "fixtures" / "expected"
X64_LAUNCHERS = [("setuptools", "cli-64.exe"), ("pip._vendor.distlib", "t64.exe"), ("pip._vendor.distlib", "w64.exe")]


def _launcher(pkg: str, name: str) -> Path:
    spec = importlib.util.find_spec(pkg)
    if spec is None or not spec.submodule_search_locations:
        pytest.skip(f"{pkg} is not installed")
    p = Path(list(spec.submodule_search_locations)[0]) / name
    if not p.is_file():
        pytest.skip(f"{p} not shipped by this {pkg}")
    return p


def _run_alone(tmp_path: Path, src: Path) -> runner.RunResult:
    exe = tmp_path / src.name
    shutil.copyfile(src, exe)
    return runner.run(exe, [], timeout=300)


@pytest.mark.parametrize("name", ["cli-32.exe", "cli.exe"])
def test_setuptools_cli_x86_without_script(tmp_path, name):
    res = _run_alone(tmp_path, _launcher("setuptools", name))
    assert res.error is None and res.crash is None, (res.error, res.crash)
    stem = name[:-4]
    assert res.stderr == f"Cannot open {runner.APP_DIR}\\{stem}-script.py\r\n".encode()
    assert res.stdout == b""
    assert res.exit_status == 2


def _wine_expected(name: str) -> dict:
    rec = json.loads((EXPECTED / f"launcher.{name}.x64.json").read_text())
    return {"stdout": rec["stdout"].replace("<APPDIR>", runner.APP_DIR).encode("latin-1"),
            "stderr": rec["stderr"].replace("<APPDIR>", runner.APP_DIR).encode("latin-1"),
            "exit": rec["exit"]}


def _assert_as_wine(res: runner.RunResult, name: str) -> None:
    want = _wine_expected(name)
    assert res.error is None and res.crash is None, (res.error, res.crash)
    assert res.stdout == want["stdout"]
    assert res.stderr == want["stderr"]
    assert res.exit_status == want["exit"]


def test_setuptools_cli64_without_script(tmp_path):
    """Its static CRT's __chkstk probes the stack guard page right after API calls: this needs precise
    guard-page faults (see tests/cpu/test_precise_faults.py)."""
    _assert_as_wine(_run_alone(tmp_path, _launcher("setuptools", "cli-64.exe")), "cli-64.exe")


def test_distlib_t64_without_archive(tmp_path):
    """t64 reads its own image (SetFilePointer to the end, back, ReadFile) looking for an appended zip; the same
    API sequence as under Wine. It used to jump to address 0 after a guard-page fault reported at the wrong
    instruction (a stack store in a function prologue re-executed from the block start)."""
    _assert_as_wine(_run_alone(tmp_path, _launcher("pip._vendor.distlib", "t64.exe")), "t64.exe")


def test_distlib_w64_without_archive(tmp_path):
    """w64 (the GUI launcher) takes the same path as t64, then reports "Unable to find an appended archive."
    with user32!MessageBoxTimeoutA (as under Wine, whose message box has no display) and exits 1."""
    res = _run_alone(tmp_path, _launcher("pip._vendor.distlib", "w64.exe"))
    _assert_as_wine(res, "w64.exe")
    boxes = [e.data for e in res.events if e.name == "message_box"]  # no desktop: recorded, answered with OK
    assert [(b["caption"], b["text"], b["answer"]) for b in boxes] == [
        ("Fatal Error in Launcher", "Unable to find an appended archive.", 1)]


def _record() -> None:  # pragma: no cover - run by hand, needs wine64
    """Record each x64 launcher's output under wine64, run alone in a temp dir (see the module docstring)."""
    prefix = Path(__file__).resolve().parents[2] / "build" / "wineprefix"
    env = dict(os.environ, WINEDEBUG="-all", WINEPREFIX=str(prefix))
    for pkg, name in X64_LAUNCHERS:
        with tempfile.TemporaryDirectory() as d:
            spec = importlib.util.find_spec(pkg)
            shutil.copyfile(Path(list(spec.submodule_search_locations)[0]) / name, Path(d) / name)
            r = subprocess.run(["/usr/lib/wine/wine64", name], cwd=d, env=env, capture_output=True, timeout=120)
            wine_dir = "Z:" + d.replace("/", "\\")
            rec = {"program": f"{pkg}/{name}, copied alone into an empty directory",
                   "recorded_with": subprocess.run(["/usr/lib/wine/wine64", "--version"], capture_output=True,
                                                   text=True).stdout.strip(),
                   "stdout": r.stdout.decode("latin-1").replace(wine_dir, "<APPDIR>"),
                   "stderr": r.stderr.decode("latin-1").replace(wine_dir, "<APPDIR>"),
                   "exit": r.returncode}
            (EXPECTED / f"launcher.{name}.x64.json").write_text(json.dumps(rec, indent=2) + "\n")
            print(name, rec)


if __name__ == "__main__" and "--record" in sys.argv:
    _record()
