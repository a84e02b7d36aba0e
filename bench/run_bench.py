"""End-to-end speed of winhatch against its anchors, on the same machine and run.

    python bench/run_bench.py [--no-speakeasy] [--no-wine]

Runs three fixture programs (x64), built from tests/fixtures/src with mingw-w64:
- bench_sieve: compute-bound (a sieve, no API calls)   -> guest instructions per second
- bench_api:   400,000 API calls (SetLastError/GetLastError) -> API calls per second
- hello:       start-to-exit of a console hello world, including the interpreter's start
Anchors: Speakeasy (speakeasy-emulator, installed into its own venv under build/bench-speakeasy by this
script) and Wine (when /usr/lib/wine/wine64 exists). Prints one line per measurement and ratios; the last
lines are `ratio_sieve_vs_speakeasy=…`, `api_calls_per_s=…` and `hello_seconds=…`.
Targets (issue 6): sieve >= 30x Speakeasy, >= 500k API calls/s, hello <= 0.25 s.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
import fixturebuild  # noqa: E402

PY = sys.executable
SPEAKEASY_VENV = ROOT / "build" / "bench-speakeasy"


def timed(cmd, **kw) -> tuple[float, subprocess.CompletedProcess]:
    t0 = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, **kw)
    return time.perf_counter() - t0, r


def speakeasy_python() -> Path | None:
    py = SPEAKEASY_VENV / "bin" / "python"
    if py.exists():
        return py
    print("bench: creating the Speakeasy venv (once) ...", file=sys.stderr)
    subprocess.run([sys.executable, "-m", "venv", str(SPEAKEASY_VENV)], check=True)
    r = subprocess.run([str(py), "-m", "pip", "install", "-q", "speakeasy-emulator"], capture_output=True, text=True)
    if r.returncode != 0:
        print(f"bench: speakeasy-emulator could not be installed: {r.stderr.strip()[-300:]}", file=sys.stderr)
        return None
    return py


def run_speakeasy(py: Path, exe: Path, timeout: float = 600) -> float | None:
    script = ("import speakeasy, sys\n"
              "se = speakeasy.Speakeasy()\n"
              "m = se.load_module(sys.argv[1])\n"
              "se.run_module(m)\n")
    try:
        t, r = timed([str(py), "-c", script, str(exe)], timeout=timeout)
    except subprocess.TimeoutExpired:
        return None
    return t if r.returncode == 0 else None


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--no-speakeasy", action="store_true")
    ap.add_argument("--no-wine", action="store_true")
    args = ap.parse_args()
    sieve = fixturebuild.build("bench_sieve.c", "x64")
    apiloop = fixturebuild.build("bench_api.c", "x64")
    hello = ROOT / "examples" / "hello" / "hello-x64.exe"
    wh = [str(ROOT / ".venv" / "bin" / "winhatch"), "run"]
    # warm the system DLL cache so it is not measured
    subprocess.run(wh + [str(hello)], capture_output=True)

    t_sieve, r = timed(wh + [str(sieve)])
    assert r.returncode == 197, (r.returncode, r.stderr[-500:])
    t_hello_empty, _ = timed(wh + [str(hello)])
    t_api, r = timed(wh + [str(apiloop)])
    assert r.returncode == 7, (r.returncode, r.stderr[-500:])
    api_calls = 400_000
    t_api_net = max(t_api - t_hello_empty, 1e-6)
    hellos = [timed(wh + [str(hello)])[0] for _ in range(3)]
    t_hello = min(hellos)
    print(f"winhatch sieve: {t_sieve:.2f} s")
    print(f"winhatch api loop: {t_api:.2f} s ({api_calls / t_api_net:,.0f} API calls/s after start-up)")
    print(f"winhatch hello start-to-exit: {t_hello:.3f} s (best of 3)")

    ratio = None
    if not args.no_speakeasy:
        py = speakeasy_python()
        if py is not None:
            t_se = run_speakeasy(py, sieve)
            if t_se is None:
                print("speakeasy sieve: did not finish (timeout or error)")
            else:
                ratio = t_se / t_sieve
                print(f"speakeasy sieve: {t_se:.2f} s")
            t_se_api = run_speakeasy(py, apiloop)
            if t_se_api is not None:
                print(f"speakeasy api loop: {t_se_api:.2f} s")
    wine = Path("/usr/lib/wine/wine64")
    if not args.no_wine and wine.exists():
        env = dict(os.environ, WINEDEBUG="-all", WINEPREFIX=str(ROOT / "build" / "wineprefix"))
        for name, exe in (("sieve", sieve), ("api loop", apiloop), ("hello", hello)):
            t, _ = timed([str(wine), str(exe)], env=env)
            print(f"wine {name}: {t:.3f} s")
    print(f"ratio_sieve_vs_speakeasy={ratio:.1f}" if ratio else "ratio_sieve_vs_speakeasy=n/a")
    print(f"api_calls_per_s={api_calls / t_api_net:.0f}")
    print(f"hello_seconds={t_hello:.3f}")


if __name__ == "__main__":
    main()
