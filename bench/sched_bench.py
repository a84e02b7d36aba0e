"""Scheduler slicing: API-call (trap) quanta vs counted instruction budgets (see winhatch/kernel/ke/dispatcher.py).

    .venv/bin/python bench/sched_bench.py [x64|x86]

Runs a single-thread program (hello.c) and a four-thread program (thr_sum.c: a critical section, Sleep(0)
inside it) in both modes and prints wall time, thread switches and API calls. Timing is for humans: the
tests never assert on speed.
"""
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
import fixturebuild  # noqa: E402

from winhatch import runner  # noqa: E402


def measure(exe: Path, mode: str, repeat: int = 3):
    best = None
    for _ in range(repeat):
        def setup(m):
            m.dispatcher.mode = mode
        t0 = time.perf_counter()
        res = runner.run(exe, setup_machine=setup)
        dt = time.perf_counter() - t0
        assert res.error is None, res.error
        best = dt if best is None or dt < best else best
    d = res.machine.dispatcher
    return best, d.switches, d.api_calls, d.instructions


def main():
    arch = sys.argv[1] if len(sys.argv) > 1 else "x64"
    with tempfile.TemporaryDirectory() as tmp:
        for src in ("hello.c", "thr_sum.c"):
            built = fixturebuild.build(src, arch)
            exe = Path(tmp) / built.name
            shutil.copy(built, exe)
            for mode in ("traps", "instructions"):
                dt, sw, calls, insns = measure(exe, mode)
                print(f"{arch} {src:10} {mode:12} {dt * 1000:8.1f} ms  switches={sw:5}  api_calls={calls:6}  "
                      f"counted_instructions={insns}")


if __name__ == "__main__":
    main()
