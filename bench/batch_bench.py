"""`winhatch batch` throughput: samples per minute with 1 and 2 local workers and on a local Ray cluster, on
one mixed set of samples, and a check that all three give identical results.

    python bench/batch_bench.py [--samples N] [--no-ray] [--timeout S]

The set (built deterministically): the repo's fixture programs of both architectures and fixture DLLs (built
from tests/fixtures/src with mingw-w64), third-party programs from the real-world corpus cache
(~/.cache/winhatch/realworld, when `make realworld` has fetched it), and malformed images (truncations and
header corruptions of fixtures, seeded).  Every sample runs without arguments, standard input empty.
Prints one line per mode (samples, seconds, samples/min, statuses) and `identical_results=yes|no`.
"""
from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))
import fixturebuild  # noqa: E402

from winhatch import batch as B  # noqa: E402

#: fixture programs that end by themselves without arguments (most print and exit, some crash on purpose)
FIXTURES = ["hello.c", "crash.c", "exc_seh.c", "exc_filter.c", "ldr_tls.c", "ldr_threadvar.c", "ldr_delay.c",
            "ldr_pebwalk.c", "conf_heap.c", "conf_vm.c", "conf_env.c", "conf_time.c", "conf_errors.c",
            "conf_crt_string.c", "conf_crt_printf.c", "conf_crt_strtol.c", "conf_crt_qsort.c", "conf_crt_math.c",
            "conf_sysinfo.c", "conf_rtl_basics.c", "conf_rtl_compress.c", "thr_basic.c", "thr_sum.c",
            "thr_objects.c", "fid_uptime.c", "fid_tls.c", "stack_deep.c", "sys_ntinfo.c", "conf_codepages.c",
            "conf_leaf.c"]
DLLS = ["ldr_dlla.c", "thr_dll.c", "pe_exports.c"]
COMPARED = ("name", "sha256", "size", "status", "exit_code", "first_unimplemented", "error", "arch", "iocs")


def build_set(d: Path, want: int) -> list[Path]:
    out = []
    for arch in ("x64", "x86"):
        for src in FIXTURES:
            try:
                flags, libs = fixturebuild._directives(fixturebuild.SRC / src)     # its own libs= line
                p = fixturebuild.build(src, arch, flags=flags, libs=libs)
            except Exception as e:  # noqa: BLE001 — a fixture that does not build is left out, said once
                print(f"  (skipped {src} {arch}: {str(e).splitlines()[0][:80]})", file=sys.stderr)
                continue
            dst = d / f"{Path(src).stem}-{arch}.exe"
            shutil.copy(p, dst)
            out.append(dst)
        for src in DLLS:
            try:
                p = fixturebuild.build(src, arch, dll=True)
            except Exception:  # noqa: BLE001
                continue
            dst = d / f"{Path(src).stem}-{arch}.dll"
            shutil.copy(p, dst)
            out.append(dst)
    cache = Path.home() / ".cache" / "winhatch" / "realworld"
    third = sorted(p for p in cache.rglob("*.exe") if p.is_file() and p.stat().st_size < 40 << 20)[:25] \
        if cache.is_dir() else []
    for p in third:
        dst = d / f"tp-{p.parent.name[:20]}-{p.name}"
        shutil.copy(p, dst)
        out.append(dst)
    rng = random.Random(1)
    seeds = [p for p in out if p.suffix == ".exe" and not p.name.startswith("tp-")]
    k = 0
    while len(out) < want and seeds:
        src = rng.choice(seeds).read_bytes()
        b = bytearray(src)
        kind = k % 3
        if kind == 0:
            b = b[: rng.randrange(64, len(b) // 2)]
        elif kind == 1:
            pe = int.from_bytes(b[0x3C:0x40], "little")
            off = pe + rng.randrange(4, 0xF8)
            b[off:off + 4] = rng.getrandbits(32).to_bytes(4, "little")
        else:
            b[0x3C:0x40] = rng.getrandbits(32).to_bytes(4, "little")
        dst = d / f"malformed-{k:03d}.exe"
        dst.write_bytes(bytes(b))
        out.append(dst)
        k += 1
    return out


def run_mode(label, paths, out, **kw) -> tuple[list[dict], float]:
    t0 = time.perf_counter()
    lines = B.run_batch([str(p) for p in paths], out, progress=False, rerun=True, **kw)
    dt = time.perf_counter() - t0
    counts: dict[str, int] = {}
    for ln in lines:
        counts[ln["status"]] = counts.get(ln["status"], 0) + 1
    print(f"{label:<10} samples={len(lines)} seconds={dt:.1f} samples_per_min={len(lines) / dt * 60:.1f} "
          + " ".join(f"{k}={v}" for k, v in sorted(counts.items())), flush=True)
    return lines, dt


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--samples", type=int, default=110, help="at least this many (malformed images fill up)")
    ap.add_argument("--timeout", type=float, default=20.0, help="guest budget per sample")
    ap.add_argument("--no-ray", action="store_true")
    ap.add_argument("--json", help="write the three summaries here")
    a = ap.parse_args()
    opts = B.Options(timeout=a.timeout)
    with tempfile.TemporaryDirectory(prefix="batch-bench-") as td:
        td = Path(td)
        (td / "s").mkdir()
        paths = build_set(td / "s", a.samples)
        kinds = {"fixture": sum(1 for p in paths if not p.name.startswith(("tp-", "malformed-"))),
                 "third_party": sum(1 for p in paths if p.name.startswith("tp-")),
                 "malformed": sum(1 for p in paths if p.name.startswith("malformed-")),
                 "dll": sum(1 for p in paths if p.suffix == ".dll")}
        print(f"set: {len(paths)} samples " + " ".join(f"{k}={v}" for k, v in kinds.items()), flush=True)
        results = {}
        results["j1"], t1 = run_mode("local -j1", paths, td / "o1", jobs=1, opts=opts)
        results["j2"], t2 = run_mode("local -j2", paths, td / "o2", jobs=2, opts=opts)
        print(f"speedup_j2_over_j1={t1 / t2:.2f}")
        if not a.no_ray:
            results["ray"], tr = run_mode("ray local", paths, td / "o3", ray_address="local", opts=opts)
        norm = {k: [{f: ln.get(f) for f in COMPARED} for ln in v] for k, v in results.items()}
        same = all(v == norm["j1"] for v in norm.values())
        if not same:
            for k, v in norm.items():
                for x, y in zip(norm["j1"], v):
                    if x != y:
                        print(f"  differs in {k}: {x['name']}: {x['status']}/{x.get('error')} vs "
                              f"{y['status']}/{y.get('error')}")
        print(f"identical_results={'yes' if same else 'no'}")
        if a.json:
            Path(a.json).write_text(json.dumps(results, indent=1))
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
