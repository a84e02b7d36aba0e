"""What record.py and run.py share: a fresh folder per invocation, the normalisation of outputs, the
Linux-side execution (oracle and round-trip checks) and the comparison with an expectation."""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from realworld.corpus import EXPECTED, INPUTS, Entry, Run

HERE = Path(__file__).resolve().parent
# The same small environment for the Linux build and the guest (which also gets winhatch's defaults).
COMMON_ENV = {"NO_COLOR": "1", "TERM": "dumb", "TZ": "UTC", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8",
              "SENTRY_DISABLE_UPDATE_CHECK": "true", "CLICOLOR": "0"}


def prepare(run: Run, exe: Path | None = None, extra: list[str] = (), extra_base: Path | None = None) -> Path:
    """A fresh temporary folder holding the run's inputs (at their relative paths) and, when given, the program
    and the files it needs next to it. The caller removes it."""
    d = Path(tempfile.mkdtemp(prefix="winhatch-rw-"))
    for rel in run.inputs + ([run.stdin] if run.stdin and run.stdin not in run.inputs else []):
        src = INPUTS / rel
        if not src.is_file():
            raise FileNotFoundError(f"input {rel} is not in {INPUTS}")
        (d / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, d / rel)
    if exe is not None:
        shutil.copyfile(exe, d / exe.name)
    if extra:
        copy_extra(extra_base or exe.parent, extra, d)
    return d


def copy_extra(base: Path, extra: list[str], d: Path) -> None:
    """Files or folders of the package the program needs in its folder: "PATH" (relative to the program's own
    folder, copied under its base name) or "PATH:NAME"."""
    for item in extra:
        src, _, name = item.partition(":")
        s = (base / src).resolve()
        dst = d / (name or Path(src).name)
        if s.is_dir():
            shutil.copytree(s, dst)
        else:
            shutil.copyfile(s, dst)


def is_text(b: bytes) -> bool:
    if b"\0" in b:
        return False
    try:
        b.decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False


def normalize(b: bytes, filt: str | None = None) -> str:
    """Text as compared: CRs dropped, backslashes turned into slashes, and only the lines `filt` matches."""
    s = b.decode("utf-8", "replace").replace("\r", "").replace("\\", "/")
    if filt:
        rx = re.compile(filt)
        s = "".join(ln + "\n" for ln in s.split("\n") if rx.search(ln))
    return s


def digest_output(b: bytes, filt: str | None = None) -> dict:
    """{'text': ...} for text, {'sha256': ..., 'size': ...} for binary output."""
    if is_text(b):
        return {"text": normalize(b, filt)}
    return {"sha256": hashlib.sha256(b).hexdigest(), "size": len(b)}


def file_digest(p: Path) -> str | None:
    if not p.is_file():
        return None
    b = p.read_bytes()
    if is_text(b):
        b = b.replace(b"\r", b"")
    return hashlib.sha256(b).hexdigest()


def linux_env(d: Path, extra_env: dict | None = None) -> dict:
    return {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(d), **COMMON_ENV, **(extra_env or {})}


def run_linux(argv: list[str], d: Path, stdin: str | None, timeout: float,
              extra_env: dict | None = None) -> tuple[int, bytes, bytes]:
    inp = (d / stdin).read_bytes() if stdin else b""
    try:
        p = subprocess.run(argv, cwd=d, input=inp, capture_output=True, timeout=timeout,
                           env=linux_env(d, extra_env))
    except subprocess.TimeoutExpired:
        return -1, b"", b"timed out"
    return p.returncode, p.stdout, p.stderr


def check_argv(run: Run, linux_exe: Path | None) -> list[str]:
    subst = {"{linux}": str(linux_exe) if linux_exe else "", "{python}": sys.executable, "{realworld}": str(HERE)}
    out = []
    for a in run.check or []:
        for k, v in subst.items():
            a = a.replace(k, v)
        out.append(a)
    return out


def run_check(run: Run, d: Path, linux_exe: Path | None) -> dict:
    rc, out, _err = run_linux(check_argv(run, linux_exe), d, None, 120)
    return {"exit": rc, "stdout": digest_output(out)}


def observe(run: Run, d: Path, rc: int | None, out: bytes, err: bytes, linux_exe: Path | None) -> dict:
    """What an invocation produced, in the form the expectations are stored in."""
    obs = {"exit": rc, "stdout": digest_output(out, run.filter), "stderr": digest_output(err, run.filter),
           "files": {name: file_digest(d / name) for name in run.outputs}}
    if run.check:
        obs["check"] = run_check(run, d, linux_exe)
    return obs


def recorded_form(run: Run, obs: dict) -> dict:
    """What an expectation keeps of an observation: the exit code and the parts the run compares (not, say, a
    timing line or a temporary path that the comparison leaves out)."""
    return {k: v for k, v in obs.items() if k == "exit" or k in run.compare}


def expected_path(e: Entry, run: Run) -> Path:
    return EXPECTED / f"{e.program}.{run.index}.json"


def load_expected(e: Entry, run: Run) -> dict | None:
    p = expected_path(e, run)
    return json.loads(p.read_text()) if p.is_file() else None


def _first_diff(got: str, want: str) -> str:
    g, w = got.split("\n"), want.split("\n")
    for i, (a, b) in enumerate(zip(g, w), 1):
        if a != b:
            return f"line {i}: got {a[:80]!r}, expected {b[:80]!r}"
    return f"{len(g)} lines, expected {len(w)}"


def differences(run: Run, got: dict, want: dict) -> list[str]:
    """Human-readable differences in the compared parts (empty: the invocation passed)."""
    out = []
    for what in run.compare:
        if what == "exit" and got["exit"] != want["exit"]:
            out.append(f"exit code {got['exit']} (expected {want['exit']})")
        elif what in ("stdout", "stderr") and got[what] != want.get(what):
            g, w = got[what], want[what]
            if "text" in g and "text" in w:
                out.append(f"{what} differs at {_first_diff(g['text'], w['text'])}")
            else:
                out.append(f"{what} differs ({g.get('size', len(g.get('text', '')))} bytes, expected "
                           f"{w.get('size', len(w.get('text', '')))})")
        elif what == "files":
            for name, h in want.get("files", {}).items():
                if got["files"].get(name) != h:
                    out.append(f"output file {name} " + ("missing" if got["files"].get(name) is None else "differs"))
        elif what == "check" and got.get("check") != want.get("check"):
            c = got.get("check") or {}
            out.append(f"Linux-side check failed (exit {c.get('exit')})" if c.get("exit") != want["check"]["exit"]
                       else "Linux-side check output differs")
    return out
