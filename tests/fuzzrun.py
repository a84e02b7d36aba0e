"""The full-run fuzzer: mutated images of the repo's fixture programs (x86 and x64) run through the whole
`winhatch run` path, each in its own process with a time-out and its peak host memory measured.

    python tests/fuzzrun.py --runs 1000 --arch x86 --arch x64 --jobs 2     # what `make fuzz` runs
    python tests/fuzzrun.py --reproduce build/fuzz-failures/x64-1234.exe    # run one saved input again

Mutations (1–3 per input, chosen by a `random.Random(seed)`): header fields (DOS, file and optional header),
section-table fields, data-directory entries (imports, exports, relocations, TLS, load config, …), bytes
inside those directories' data, and random byte flips.  Input number i of a run with base seed S has seed
S * 1_000_003 + i, so every input is reproducible from its seed alone (`--only SEED`).

Each outcome is classified: a clean refusal (the image does not load: a one-line error, a start-up failure),
a guest exit, a guest crash (an unhandled exception), a stop (unimplemented API, deadlock, the instruction
budget), a time-out, an internal error (exit status 70, a Python traceback) or host memory above the bound.
The last two are failures: the input is saved to the failure folder with its seed and what happened, to
become a regression test.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))

#: the guest's commit limit in a fuzz run (`winhatch run --max-memory`): what the guest may legitimately make the
#: host hold.  Below the bound, so a run past the bound is winhatch's own memory (materialising what a file only
#: declares, a leak), never a guest that asked for it: the bound = this cap + the emulator's own ~50–100 MB + room
GUEST_MAX_MEMORY = 768 << 20
#: the documented bound on a run's peak host memory (VmHWM); a run above it is a failure
RSS_BOUND = 1 << 30
#: a run that grows past this is killed at once (the host's safety, not the classification)
RSS_KILL = 2 << 30
GUEST_TIMEOUT = 10.0      # winhatch run --timeout
HARD_TIMEOUT = 30.0       # then SIGINT, then SIGKILL 2 s later
SEED_SOURCES = ["hello.c", "ldr_tls.c", "exc_seh.c", "ldr_threadvar.c", "conf_heap.c", "conf_vm.c", "ldr_loadlib.c"]
FAILURES = ("internal", "memory")
OUTCOMES = ("refusal", "exit", "crash", "stopped", "timeout", "internal", "memory")

INTERESTING = [0, 1, 2, 0x7F, 0x80, 0xFF, 0x100, 0x1000, 0x7FFF, 0x8000, 0xFFFF, 0x10000, 0x100000, 0x7FFFFFFF,
               0x80000000, 0xFFFFFFFF, 0xFFFFFFF0, 0x40000000]
DIR_NAMES = {0: "exports", 1: "imports", 5: "relocs", 9: "tls", 10: "load_config", 13: "delay_imports",
             12: "iat", 2: "resources", 3: "exceptions", 6: "debug", 11: "bound_imports"}


# ------------------------------------------------------------------------------------------- seeds
def seed_images(arch: str) -> list[tuple[str, bytes]]:
    """The fixture programs for `arch`, stripped (the symbol table is dead weight for the loader)."""
    import fixturebuild
    out = []
    strip = shutil.which(f"{fixturebuild.TRIPLES[arch]}-strip")
    for src in SEED_SOURCES:
        exe = fixturebuild.build(src, arch)
        data = exe.read_bytes()
        if strip:
            with tempfile.TemporaryDirectory() as d:
                tmp = Path(d) / exe.name
                tmp.write_bytes(data)
                if subprocess.run([strip, str(tmp)], capture_output=True).returncode == 0:
                    data = _keep_stamps(data, tmp.read_bytes())
        out.append((f"{arch}/{exe.stem}", data))
    return out


def _keep_stamps(original: bytes, stripped: bytes) -> bytes:
    """strip writes the current time into TimeDateStamp (and recomputes CheckSum): put the original's back, so
    a seed names the same input on every run."""
    b = bytearray(stripped)
    lf_o, lf_s = struct.unpack_from("<I", original, 0x3C)[0], struct.unpack_from("<I", b, 0x3C)[0]
    b[lf_s + 8:lf_s + 12] = original[lf_o + 8:lf_o + 12]             # FileHeader.TimeDateStamp
    b[lf_s + 24 + 64:lf_s + 24 + 68] = original[lf_o + 24 + 64:lf_o + 24 + 68]   # OptionalHeader.CheckSum
    return bytes(b)


# ------------------------------------------------------------------------------------------- mutations
class _Layout:
    def __init__(self, b: bytes):
        self.ok = False
        if len(b) < 0x40:
            return
        self.lfanew = struct.unpack_from("<I", b, 0x3C)[0]
        if self.lfanew + 0x200 > len(b):
            return
        fh = self.fh = self.lfanew + 4
        self.nsec = struct.unpack_from("<H", b, fh + 2)[0]
        self.opt = fh + 20
        self.plus = b[self.opt:self.opt + 2] == b"\x0b\x02"
        self.dd = self.opt + (112 if self.plus else 96)
        self.st = self.opt + struct.unpack_from("<H", b, fh + 16)[0]
        self.sections = []
        for i in range(min(self.nsec, 40)):
            o = self.st + 40 * i
            if o + 40 > len(b):
                break
            vs, va, rs, ro = struct.unpack_from("<IIII", b, o + 8)
            self.sections.append((o, vs, va, rs, ro))
        self.ok = True

    def rva_to_off(self, rva: int) -> int | None:
        for _o, vs, va, rs, ro in self.sections:
            if va <= rva < va + max(vs, rs) and rva - va < rs:
                return ro + rva - va
        return None


def _put(b: bytearray, off: int, width: int, value: int) -> None:
    if 0 <= off and off + width <= len(b):
        b[off:off + width] = (value & ((1 << (8 * width)) - 1)).to_bytes(width, "little")


def _value(rng: random.Random, old: int, width: int) -> int:
    r = rng.random()
    if r < 0.5:
        return rng.choice(INTERESTING)
    if r < 0.8:
        return old + rng.choice([-1, 1]) * rng.choice([1, 2, 4, 8, 0x10, 0x100, 0x1000, 0x10000])
    return rng.getrandbits(8 * width)


def mutate(data: bytes, rng: random.Random) -> tuple[bytes, list[str]]:
    b = bytearray(data)
    lay = _Layout(b)
    what = []
    for _ in range(rng.randint(1, 3)):
        kind = rng.choice(["header", "section", "directory", "dirdata", "dirdata", "flip"]) if lay.ok else "flip"
        if kind == "header":
            fields = [(0x3C, 4), (lay.fh + 2, 2), (lay.fh + 16, 2), (lay.fh + 18, 2), (lay.opt, 2),
                      (lay.opt + 16, 4), (lay.opt + 32, 4), (lay.opt + 36, 4), (lay.opt + 56, 4),
                      (lay.opt + 60, 4), (lay.opt + 70, 2), (lay.opt + (108 if lay.plus else 92), 4),
                      (lay.opt + 24, 8 if lay.plus else 4), (lay.opt + (72 if lay.plus else 72), 8 if lay.plus else 4),
                      (lay.opt + (80 if lay.plus else 76), 8 if lay.plus else 4)]
            off, w = rng.choice(fields)
            _put(b, off, w, _value(rng, int.from_bytes(b[off:off + w], "little"), w))
            what.append(f"header@0x{off:x}")
        elif kind == "section" and lay.sections:
            o = rng.choice(lay.sections)[0]
            k = rng.choice([8, 12, 16, 20, 36])
            _put(b, o + k, 4, _value(rng, struct.unpack_from("<I", b, o + k)[0], 4))
            what.append(f"section@0x{o:x}+{k}")
        elif kind == "directory":
            i = rng.choice(list(DIR_NAMES))
            k = rng.choice([0, 4])
            off = lay.dd + 8 * i + k
            _put(b, off, 4, _value(rng, struct.unpack_from("<I", b, off)[0], 4))
            what.append(f"dir:{DIR_NAMES[i]}{'.size' if k else '.rva'}")
        elif kind == "dirdata":
            present = [(i, struct.unpack_from("<II", b, lay.dd + 8 * i)) for i in DIR_NAMES
                       if lay.dd + 8 * i + 8 <= len(b)]
            present = [(i, rva, size) for i, (rva, size) in present if rva and lay.rva_to_off(rva) is not None]
            if not present:
                continue
            i, rva, size = rng.choice(present)
            base = lay.rva_to_off(rva)
            span = max(8, min(size or 64, 4096))
            off = base + rng.randrange(span)
            w = rng.choice([1, 2, 4, 8])
            if off + w <= len(b):
                _put(b, off, w, _value(rng, int.from_bytes(b[off:off + w], "little"), w))
                what.append(f"data:{DIR_NAMES[i]}+0x{off - base:x}")
        else:
            n = rng.randint(1, 16)
            for _ in range(n):
                off = rng.randrange(len(b))
                b[off] ^= 1 << rng.randrange(8)
            what.append(f"flip×{n}")
    return bytes(b), what


def make_input(images: list[tuple[str, bytes]], seed: int) -> tuple[str, bytes, list[str]]:
    rng = random.Random(seed)
    name, data = rng.choice(images)
    mutated, what = mutate(data, rng)
    return name, mutated, what


# ------------------------------------------------------------------------------------------- one run
def _rss_kb(pid: int, field: str = "VmRSS") -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def run_one(path: Path, guest_timeout: float = GUEST_TIMEOUT, hard_timeout: float = HARD_TIMEOUT) -> dict:
    """Run `winhatch run` on `path` in a child process; its peak RSS is the high-water mark of its own address
    space (/proc's VmHWM, sampled while it runs). wait4's ru_maxrss is not used: Linux counts in it the memory
    the child had before exec — a copy of this (test) process's, which a long pytest worker can have grown past
    the bound."""
    env = dict(os.environ)
    env.pop("WINHATCH_DEBUG", None)
    env["TMPDIR"] = str(path.parent)
    cmd = [sys.executable, "-m", "winhatch.cli", "run", "--timeout", str(guest_timeout),
           "--max-memory", f"{GUEST_MAX_MEMORY >> 20}M", str(path)]
    t0 = time.monotonic()
    with open(path.parent / "out", "wb") as out, open(path.parent / "err", "wb") as err:
        p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=err, env=env, cwd=path.parent)
        killed = None
        peak_seen = 0
        while True:
            pid, status, ru = os.wait4(p.pid, os.WNOHANG)
            if pid:
                break
            el = time.monotonic() - t0
            rss = _rss_kb(p.pid)
            peak_seen = max(peak_seen, rss, _rss_kb(p.pid, "VmHWM"))
            if rss * 1024 > RSS_KILL and killed is None:
                killed = "memory"
                p.kill()
            elif el > hard_timeout and killed is None:
                killed = "timeout"
                p.send_signal(signal.SIGINT)
            elif el > hard_timeout + 2 and killed == "timeout":
                p.kill()
                killed = "timeout-kill"
            time.sleep(0.02)
        p.returncode = os.waitstatus_to_exitcode(status)
    stderr = (path.parent / "err").read_bytes().decode("utf-8", "replace")
    rss = peak_seen * 1024
    rc = p.returncode
    if killed == "memory" or rss > RSS_BOUND:
        outcome = "memory"
    elif rc == 70 or "Traceback" in stderr or "internal error" in stderr:
        outcome = "internal"
    elif killed or "time limit reached" in stderr:
        outcome = "timeout"
    elif "unhandled exception" in stderr:
        outcome = "crash"
    elif ("start-up failed" in stderr or "CreateProcess failed" in stderr or
          (rc == 1 and "winhatch:" in stderr and "unimplemented" not in stderr)):
        outcome = "refusal"
    elif "winhatch:" in stderr:
        outcome = "stopped"   # unimplemented API, deadlock, budget, …
    else:
        outcome = "exit"
    return {"outcome": outcome, "rc": rc, "rss_mb": rss >> 20, "seconds": round(time.monotonic() - t0, 2),
            "stderr_tail": stderr[-600:]}


def _work(args) -> dict:
    images, seed, fail_dir = args
    name, data, what = make_input(images, seed)
    with tempfile.TemporaryDirectory(prefix="fuzzrun-") as d:
        exe = Path(d) / "fuzz.exe"
        exe.write_bytes(data)
        r = run_one(exe)
        leftovers = [p.name for p in Path(d).iterdir() if p.name.startswith("winhatch-")]
    r.update(seed=seed, image=name, mutations=what)
    if leftovers and r["outcome"] not in FAILURES:
        r["leftover_sandbox"] = leftovers
    if r["outcome"] in FAILURES and fail_dir:
        fail_dir.mkdir(parents=True, exist_ok=True)
        stem = f"{name.replace('/', '-')}-{seed}"
        (fail_dir / f"{stem}.exe").write_bytes(data)
        (fail_dir / f"{stem}.json").write_text(json.dumps(r, indent=1))
    return r


# ------------------------------------------------------------------------------------------- the campaign
def campaign(runs: int, arches=("x86", "x64"), base_seed: int = 1, jobs: int = 2, fail_dir: Path | None = None,
             progress=sys.stderr, only: int | None = None, stream: Path | None = None) -> dict:
    """`runs` mutated inputs per architecture.  Returns {"counts": {...}, "failures": [...], "results": [...]}.
    With `stream`, each result is also appended to that file as one JSON line as soon as it is known (a campaign
    stopped part-way still leaves its figures)."""
    from multiprocessing import get_context
    tasks = []
    for k, arch in enumerate(arches):
        images = seed_images(arch)
        if only is not None:
            tasks.append((images, only, fail_dir))
            continue
        for i in range(runs):
            tasks.append((images, (base_seed * 1_000_003 + k * 10_000_000 + i), fail_dir))
    counts = {o: 0 for o in OUTCOMES}
    results = []
    t0 = time.monotonic()
    with get_context("spawn").Pool(jobs) as pool:
        for n, r in enumerate(pool.imap_unordered(_work, tasks), 1):
            counts[r["outcome"]] += 1
            results.append(r)
            if stream is not None:
                with open(stream, "a") as f:
                    f.write(json.dumps(r) + "\n")
            if progress is not None and (n % 25 == 0 or n == len(tasks) or r["outcome"] in FAILURES):
                flag = f"  FAILURE {r['outcome']} seed {r['seed']}" if r["outcome"] in FAILURES else ""
                peak = max(x["rss_mb"] for x in results)
                print(f"[{n}/{len(tasks)} {time.monotonic() - t0:.0f}s] " +
                      " ".join(f"{k}={v}" for k, v in counts.items()) + f" peak={peak}MB" + flag,
                      file=progress, flush=True)
    peak = max((r["rss_mb"] for r in results), default=0)
    return {"counts": counts, "failures": [r for r in results if r["outcome"] in FAILURES],
            "results": results, "peak_rss_mb": peak, "seconds": round(time.monotonic() - t0, 1)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=1000, help="mutated runs per architecture")
    ap.add_argument("--arch", action="append", choices=["x86", "x64"], help="default: both")
    ap.add_argument("--seed", type=int, default=1, help="base seed (inputs are seed*1000003 + i)")
    ap.add_argument("--only", type=int, help="run the one input with this seed")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--failures", default=str(ROOT / "build" / "fuzz-failures"),
                    help="folder for failing inputs (with their seed and outcome)")
    ap.add_argument("--json", help="write every result to this file")
    ap.add_argument("--stream", help="append each result to this file as a JSON line as it comes")
    ap.add_argument("--reproduce", help="run one saved input and print its outcome")
    a = ap.parse_args(argv)
    if a.reproduce:
        with tempfile.TemporaryDirectory(prefix="fuzzrun-") as d:
            exe = Path(d) / "fuzz.exe"
            shutil.copyfile(a.reproduce, exe)
            print(json.dumps(run_one(exe), indent=1))
        return 0
    res = campaign(a.runs, tuple(a.arch or ("x86", "x64")), a.seed, a.jobs, Path(a.failures), only=a.only,
                   stream=Path(a.stream) if a.stream else None)
    if a.json:
        Path(a.json).write_text(json.dumps(res, indent=1))
    slow = sorted(res["results"], key=lambda r: -r["seconds"])[:3]
    print(json.dumps({"counts": res["counts"], "peak_rss_mb": res["peak_rss_mb"], "seconds": res["seconds"],
                      "slowest": [(r["seed"], r["image"], r["seconds"], r["outcome"]) for r in slow]}))
    for f in res["failures"]:
        print(f"FAILURE {f['outcome']} seed={f['seed']} image={f['image']} mutations={f['mutations']}: "
              f"{f['stderr_tail'].strip().splitlines()[-1:] if f['stderr_tail'].strip() else ''}")
    return 1 if res["failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
