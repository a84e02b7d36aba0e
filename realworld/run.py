"""Run the real-world corpus under winhatch and compare every invocation with its recorded expectation.

Each invocation runs in its own child process (a hard time limit, no state shared between programs) in a fresh
temporary folder holding the program and copies of its inputs, which winhatch mounts as C:\\app (the program's
folder and current directory). Output is compared after turning \\ into / and dropping CRs. One line per
invocation, then `N passed, M failed` (entries: an entry passes when all its invocations do), and for each
failure its first stop: a start-up failure (missing DLL or export), the first unimplemented API, a crash, a
time-out, or the first difference in the output.

    python realworld/run.py [--only ID]... [--ci] [--json FILE] [--timeout S] [-j N]
"""
from __future__ import annotations

import argparse
import base64
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from realworld import harness  # noqa: E402
from realworld.corpus import Entry, Run, load  # noqa: E402
from realworld.fetch import FetchError, fetch, fetch_entry, read_lock, select  # noqa: E402


# --- the child: one guest run ----------------------------------------------------------------------
def child(spec: dict) -> dict:
    from winhatch import runner
    from winhatch.ntstatus import status_name
    stdin = None
    if spec.get("stdin"):
        import io
        stdin = io.BytesIO(Path(spec["stdin"]).read_bytes())
    try:
        # writable: the invocation's output files are compared in its host folder, as under Wine (the corpus
        # checks the emulation, not the sandbox: `winhatch run` keeps a sample's folder copy-on-write)
        # the machine's time zone is UTC: the expectations were recorded on machines in UTC (TZ=UTC, the
        # Linux builds' and Wine's references), and a Windows program reads the zone from the system, not TZ
        from winhatch.kernel.profile import Profile
        res = runner.run(spec["exe"], spec["args"], timeout=spec["timeout"], env=spec["env"], stdin=stdin,
                         writable=True, profile=Profile.default().with_(time_zone="UTC"))
    except Exception as e:  # noqa: BLE001 - a winhatch bug is a result too
        return {"exit": None, "stdout": "", "stderr": "", "stop": f"winhatch internal error: {type(e).__name__}: {e}"}
    stop = None
    if res.startup_error:
        se = res.startup_error
        if se.get("status_name") == "STATUS_DLL_NOT_FOUND" and se.get("dll"):
            stop = f"missing DLL {se['dll']}"
        elif se.get("status_name") == "STATUS_ENTRYPOINT_NOT_FOUND" and se.get("symbol"):
            stop = f"missing export {se.get('dll')}!{se['symbol']}"
        else:
            stop = f"start-up failure {se.get('status_name')}: {se.get('message')}"
    elif res.unimplemented:
        stop = f"unimplemented API {res.unimplemented[0]['api']}"
    elif res.crash:
        c = res.crash
        code = c.get("code") or 0
        stop = f"crash 0x{code:08X} {c.get('code_name') or status_name(code)} at {c.get('where')}" + \
            (f" ({c['instruction']})" if c.get("instruction") else "")
    elif res.error:
        stop = res.error
    return {"exit": res.exit_status, "stdout": base64.b64encode(res.stdout).decode(),
            "stderr": base64.b64encode(res.stderr).decode(), "stop": stop}


# --- the parent ------------------------------------------------------------------------------------
def wine_child(spec: dict) -> dict:
    """The same invocation under wine64 (x64 only here): `--wine` checks that an expectation is reachable by a
    Windows build at all (e.g. that the Linux build's output is also the Windows build's)."""
    import os
    env = {**os.environ, "WINEDEBUG": "-all", **spec["env"]}
    exe = Path(spec["exe"])
    inp = Path(spec["stdin"]).read_bytes() if spec.get("stdin") else b""
    try:
        p = subprocess.run([shutil.which("wine64") or "wine", exe.name, *spec["args"]], cwd=exe.parent, input=inp,
                           capture_output=True, timeout=spec["timeout"], env=env)
    except subprocess.TimeoutExpired:
        return {"exit": None, "stdout": "", "stderr": "", "stop": f"wine: no answer within {spec['timeout']:.0f} s"}
    return {"exit": p.returncode, "stdout": base64.b64encode(p.stdout).decode(),
            "stderr": base64.b64encode(p.stderr).decode(), "stop": None}


def run_one(e: Entry, run: Run, exe: Path, linux_exe: Path | None, timeout: float, wine: bool = False) -> dict:
    want = harness.load_expected(e, run)
    if want is None:
        return {"ok": False, "stop": f"no expectation recorded (python realworld/record.py --only {e.program})"}
    d = harness.prepare(run, exe, e.extra)
    t0 = time.monotonic()
    try:
        spec = {"exe": str(d / exe.name), "args": run.args, "timeout": timeout, "env": {**harness.COMMON_ENV, **e.env},
                "stdin": str(d / run.stdin) if run.stdin else None}
        try:
            if wine:
                p = subprocess.CompletedProcess([], 0, (json.dumps(wine_child(spec)) + "\n").encode(), b"")
            else:
                p = subprocess.run([sys.executable, __file__, "--child", json.dumps(spec)], capture_output=True,
                                   timeout=timeout + 60, cwd=ROOT)
            try:
                got = json.loads(p.stdout.decode().strip().splitlines()[-1])
            except (ValueError, IndexError):
                tail = p.stderr.decode(errors="replace").strip().splitlines()[-1:] or [f"exit {p.returncode}"]
                return {"ok": False, "stop": f"winhatch died: {tail[0][:200]}", "secs": time.monotonic() - t0}
        except subprocess.TimeoutExpired:
            return {"ok": False, "stop": f"no answer within {timeout + 60:.0f} s", "secs": time.monotonic() - t0}
        out, err = base64.b64decode(got["stdout"]), base64.b64decode(got["stderr"])
        obs = harness.observe(run, d, got["exit"], out, err, linux_exe)
        diffs = harness.differences(run, obs, want)
        stop = got["stop"] or (diffs[0] if diffs else None)
        if not got["stop"] and diffs and err.strip() and obs["stderr"] != want.get("stderr"):
            first = next(ln for ln in err.decode("utf-8", "replace").splitlines() if ln.strip())
            stop += f"; stderr: {first.strip()[:120]}"
        # a run stopped by winhatch always fails, even where the compared parts happen to match
        return {"ok": not diffs and not got["stop"], "stop": stop, "exit": got["exit"], "secs": time.monotonic() - t0}
    finally:
        shutil.rmtree(d, ignore_errors=True)


def markdown(results: list[dict]) -> str:
    rows = ["| id | toolchain | arch | ci | status | first stop |", "|---|---|---|---|---|---|"]
    # ci: "yes" runs in `make test`, "cand." is meant to once it passes
    for r in results:
        stop = (r.get("stop") or "").replace("|", "\\|")
        rows.append(f"| {r['id']} | {r['toolchain']} | {r['arch']} | {'yes' if r['ci'] else 'cand.' if r.get('ci_candidate') else ''} | "
                    f"{'pass' if r['ok'] else 'FAIL'} | {stop} |")
    passed = sum(r["ok"] for r in results)
    return "\n".join(rows) + f"\n\n{passed} passed, {len(results) - passed} failed\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", action="append", help="entry id (ruff.x64) or program id (ruff); repeatable")
    ap.add_argument("--ci", action="store_true", help="only the CI subset (ci = true)")
    ap.add_argument("--ci-candidates", action="store_true",
                    help="only the entries meant for the CI subset (ci or ci_candidate = true)")
    ap.add_argument("--json", metavar="FILE", help="write the results as JSON")
    ap.add_argument("--markdown", metavar="FILE", help="write the results as a Markdown table")
    ap.add_argument("--timeout", type=float, default=None, help="seconds per invocation (default: the corpus's, 180)")
    ap.add_argument("--wine", action="store_true",
                    help="run the x64 entries under wine64 instead of winhatch (checks the expectations themselves)")
    ap.add_argument("-j", "--jobs", type=int, default=1, metavar="N",
                    help="run N entries at once (each invocation is its own child process; default 1). On a loaded "
                         "machine raise --timeout with it")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.jobs < 1:
        ap.error("--jobs must be at least 1")
    if a.child:
        print(json.dumps(child(json.loads(a.child))))
        return 0
    entries = select(load(), a.only, a.ci, a.ci_candidates)
    if a.wine:
        entries = [e for e in entries if e.arch == "x64"]
    lock = read_lock()
    def run_entry(e: Entry) -> dict:
        r = {"id": e.id, "program": e.program, "arch": e.arch, "toolchain": e.toolchain, "ci": e.ci,
             "ci_candidate": e.ci_candidate, "runs": []}
        try:
            exe, _ = fetch_entry(e, lock, linux=False, log=lambda m: print(m, flush=True))
            need_linux = any(run.check and "{linux}" in " ".join(run.check) for run in e.runs)
            linux_exe = fetch(e.linux, lock) if (need_linux and e.linux) else None
        except FetchError as err:
            r.update(ok=False, stop=f"fetch failed: {err}")
            print(f"FAIL {e.id:22} fetch failed: {err}", flush=True)
            return r
        for run in e.runs:
            rr = run_one(e, run, exe, linux_exe, a.timeout or run.timeout, wine=a.wine)
            r["runs"].append({"run": run.index, **rr})
            print(f"{'ok  ' if rr['ok'] else 'FAIL'} {e.id:22} #{run.index} {e.toolchain:18} "
                  f"{rr.get('secs', 0):6.1f}s {'' if rr['ok'] else rr['stop']}", flush=True)
        r["ok"] = all(x["ok"] for x in r["runs"])
        r["stop"] = next((x["stop"] for x in r["runs"] if not x["ok"]), None)
        return r

    if a.jobs == 1:
        results = [run_entry(e) for e in entries]
    else:
        from concurrent.futures import ThreadPoolExecutor
        with ThreadPoolExecutor(a.jobs) as pool:      # results keep the corpus's order
            results = list(pool.map(run_entry, entries))
    passed = sum(r["ok"] for r in results)
    failed = len(results) - passed
    if failed:
        print("\nfirst stop of each failure:")
        for r in results:
            if not r["ok"]:
                print(f"  {r['id']:22} {r['toolchain']:18} {r['stop']}")
    if a.json:
        Path(a.json).write_text(json.dumps(results, indent=1) + "\n")
    if a.markdown:
        Path(a.markdown).write_text(markdown(results))
    print(f"\n{passed} passed, {failed} failed")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
