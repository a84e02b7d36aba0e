"""Record what each invocation of the corpus must produce, from its oracle, into realworld/expected/<id>.<n>.json
(committed):

- "linux": the same package version's Linux build, run on the same inputs in a fresh folder;
- "roundtrip": the same invocation by the Linux build (or, without one, the expectation the check itself
  defines: exit 0), then the Linux-side check on what it produced;
- "wine": the x64 program under wine64 (WINEDEBUG=-all).

    python realworld/record.py [--only ID] [--force]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from realworld import harness  # noqa: E402
from realworld.corpus import EXPECTED, Entry, load, programs  # noqa: E402
from realworld.fetch import FetchError, fetch, fetch_entry, read_lock, select  # noqa: E402


def record_run(e: Entry, run, linux_exe: Path | None, win_exe: Path | None) -> dict:
    if run.oracle == "wine":
        d = harness.prepare(run, win_exe, e.extra)
        try:
            env = {**os.environ, "WINEDEBUG": "-all", **harness.COMMON_ENV, **e.env}
            inp = (d / run.stdin).read_bytes() if run.stdin else b""
            p = subprocess.run(["wine64" if shutil.which("wine64") else "wine", win_exe.name, *run.args], cwd=d,
                               input=inp, capture_output=True, timeout=run.timeout, env=env)
            obs = harness.observe(run, d, p.returncode, p.stdout, p.stderr, linux_exe)
        finally:
            shutil.rmtree(d, ignore_errors=True)
        source = "wine64"
    elif linux_exe is not None:
        d = harness.prepare(run, extra=e.linux_extra, extra_base=linux_exe.parent)
        try:
            rc, out, err = harness.run_linux([str(linux_exe), *run.args], d, run.stdin, run.timeout, e.env)
            obs = harness.observe(run, d, rc, out, err, linux_exe)
        finally:
            shutil.rmtree(d, ignore_errors=True)
        source = e.linux.key
    elif run.oracle == "roundtrip":
        # no Linux build: the check states what the program must have produced; the program itself must
        # succeed silently (as rcedit does)
        empty = {"text": ""}
        return {"program": e.program, "run": run.index, "oracle": run.oracle, "recorded_with": "the check itself",
                "args": run.args, **harness.recorded_form(run, {"exit": 0, "stdout": empty, "stderr": empty,
                                                                 "files": {}, "check": {"exit": 0,
                                                                                        "stdout": {"text": "ok\n"}}})}
    else:
        raise SystemExit(f"{e.program} run {run.index}: no Linux build to record a {run.oracle} expectation from")
    if run.oracle == "roundtrip" and obs.get("check", {}).get("exit") != 0:
        raise SystemExit(f"{e.program} run {run.index}: the Linux-side check fails on the Linux build's own output: "
                         f"{obs.get('check')}")
    return {"program": e.program, "run": run.index, "oracle": run.oracle, "recorded_with": source,
            "args": run.args, **harness.recorded_form(run, obs)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", action="append")
    ap.add_argument("--force", action="store_true", help="record again what is already recorded")
    a = ap.parse_args(argv)
    lock = read_lock()
    EXPECTED.mkdir(parents=True, exist_ok=True)
    n = 0
    for pid, e in programs(select(load(), a.only, False)).items():
        todo = [r for r in e.runs if a.force or not harness.expected_path(e, r).is_file()]
        if not todo:
            continue
        try:
            linux_exe = fetch(e.linux, lock) if e.linux else None
            win_exe = fetch_entry(e, lock, linux=False)[0] if any(r.oracle == "wine" for r in todo) else None
        except FetchError as err:
            print(f"{pid}: cannot record: {err}", file=sys.stderr)
            continue
        for run in todo:
            rec = record_run(e, run, linux_exe, win_exe)
            harness.expected_path(e, run).write_text(json.dumps(rec, indent=1, ensure_ascii=False) + "\n")
            n += 1
            so = rec.get("stdout") or rec.get("check", {}).get("stdout") or {}
            out = so.get("text", f"<{so.get('size')} bytes>")
            print(f"{pid}.{run.index} [{run.oracle}]: exit {rec['exit']}, stdout {out[:70]!r}")
    print(f"{n} expectations recorded")
    return 0


if __name__ == "__main__":
    sys.exit(main())
