"""Real third-party workloads end to end, under winhatch and under Wine in the same run (issue 17).

    python bench/realworld_bench.py [--only NAME]... [--json FILE] [--no-wine] [--no-trap-all] [--no-anchors]
                                    [--no-percall] [--timeout S]

Each workload is a program of the real-world corpus (realworld/corpus.toml, fetched by package name and
pinned version into ~/.cache/winhatch/realworld; ripgrep, which the corpus does not hold, from PyPI the same
way) run on inputs this script generates deterministically (a few MB) in a fresh folder per run:

    swig        SWIG 4.3.0 (mingw) -python on a generated interface file
    cmake-sha   cmake 3.31.2 -E sha256sum over the data files
    cmake-tar   cmake -E tar cf (pax) of the data files
    7za-a       7-Zip 16.02 (7zip-bin) compress (-mx=5, one thread)
    7za-x       7-Zip extract of an archive made by the Linux build of the same 7za
    rg          ripgrep 14.1.0 over a generated source tree (--sort path: one deterministic order)
    esbuild     esbuild 0.24.2 bundling a generated module graph
    ninja-n     ninja 1.11.1 -n over a generated build.ninja

Every run's output is checked (against Python's own sha256/tarfile, the input data, or the Linux build's
output) under winhatch and under Wine alike, so a failing run cannot be timed as a result: a wrong result
prints `WRONG: …`, a run that stops prints `blocked: <the stop>` (an unimplemented API, a crash …).

Columns: winhatch wall seconds (the whole `winhatch run`-equivalent child process, interpreter start
included), Wine wall seconds (/usr/lib/wine/wine64, WINEDEBUG=-all, x64, a prefix under build/), their
ratio, the same for CPU time (user+sys of the child processes: on a loaded machine the stable figure; Wine's
excludes its wineserver), the trapped calls (the dispatcher's api_calls: API calls that reached a Python handler,
and system calls) and their rate per host CPU second of the guest's run, and the calls that stayed in machine code: the calls counted
by a second run with every native export forced to trap (WINHATCH_TRAP_ALL_APIS=1, as API tracing does)
minus those of the plain run (an estimate: a program whose path depends on timing may differ by a few).
Then the per-call cost of the Python path (tests/fixtures/src/bench_calls.c, every call trapped) and the
anchors of bench/run_bench.py (sieve vs Speakeasy >= 30x, hello world start to exit <= 0.15 s).
"""
from __future__ import annotations

import argparse
import base64
import hashlib
import io
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from realworld import harness  # noqa: E402
from realworld.corpus import Package, load  # noqa: E402
from realworld.fetch import FetchError, fetch, fetch_entry, read_lock  # noqa: E402

PY = sys.executable
WINE = Path("/usr/lib/wine/wine64")
WINEPREFIX = ROOT / "build" / "wineprefix"
RIPGREP = Package("pypi", "ripgrep", "14.1.0", "win_amd64", "ripgrep-14.1.0.data/scripts/rg.exe")

# the child: one guest run, timed from inside (the guest's own run) and reported as JSON
CHILD = r"""
import base64, json, sys, time
from winhatch import runner
spec = json.loads(sys.argv[1])
t0, c0 = time.perf_counter(), time.process_time()
stop = None
try:
    # writable: the workload's output files are checked on the host, as under Wine (the default sandbox would
    # keep them in its copy-on-write overlay)
    res = runner.run(spec["exe"], spec["args"], timeout=spec["timeout"], env=spec["env"], writable=True)
except Exception as e:  # a winhatch bug is a result too
    print(json.dumps({"exit": None, "stop": f"winhatch internal error: {type(e).__name__}: {e}", "calls": 0,
                      "secs": time.perf_counter() - t0, "stdout": "", "stderr": ""}))
    sys.exit(0)
secs = time.perf_counter() - t0
guest_cpu = time.process_time() - c0
if res.startup_error:
    se = res.startup_error
    stop = f"start-up failure {se.get('status_name')}: {se.get('dll') or ''}{'!' + se['symbol'] if se.get('symbol') else ''}"
elif res.unimplemented:
    stop = f"unimplemented API {res.unimplemented[0]['api']}"
elif res.crash:
    stop = f"crash 0x{(res.crash.get('code') or 0):08X} at {res.crash.get('where')}"
elif res.error:
    stop = res.error
calls = res.machine.dispatcher.api_calls if res.machine is not None else 0
print(json.dumps({"exit": res.exit_status, "stop": stop, "calls": calls, "secs": secs, "guest_cpu": guest_cpu,
                  "stdout": base64.b64encode(res.stdout).decode(), "stderr": base64.b64encode(res.stderr).decode()}))
"""


# ------------------------------------------------------------------------------------------ inputs
def _words(rng: random.Random, n: int) -> list[str]:
    syll = ["ka", "lo", "ri", "tan", "mee", "so", "vu", "pel", "dra", "ix", "on", "qua", "zen", "bo", "thi"]
    return ["".join(rng.choice(syll) for _ in range(rng.randint(1, 4))) for _ in range(n)]


def gen_data(d: Path) -> None:
    """data.bin: 2 MB of text-like bytes (compressible, not trivially); hello.txt: a line."""
    rng = random.Random(17)
    vocab = _words(rng, 3000)
    out = bytearray()
    while len(out) < 2 * 1024 * 1024:
        line = " ".join(rng.choice(vocab) for _ in range(rng.randint(4, 16)))
        out += line.encode() + (b"\r\n" if rng.random() < 0.1 else b"\n")
        if rng.random() < 0.02:
            out += bytes(rng.getrandbits(8) for _ in range(64))
    (d / "data.bin").write_bytes(bytes(out[:2 * 1024 * 1024]))
    (d / "hello.txt").write_bytes(b"hello from the winhatch bench\n")


def gen_swig(d: Path) -> None:
    """bench.i: a module of structs, functions, enums and constants (SWIG's parser and its type system)."""
    rng = random.Random(23)
    lines = ["%module bench", "%{", '#include "bench.h"', "%}", "%include <stdint.i>", '%include "bench.h"']
    h = ["#pragma once", "#include <stdint.h>"]
    types = ["int", "double", "const char *", "uint32_t", "int64_t", "float"]
    for i in range(40):
        h.append(f"typedef struct Rec{i} {{")
        for j in range(rng.randint(2, 6)):
            h.append(f"    {rng.choice(types)} field{j};")
        h.append(f"}} Rec{i};")
        h.append(f"enum Kind{i} {{ K{i}_A = {i}, K{i}_B, K{i}_C = {i * 7} }};")
        args = ", ".join(f"{rng.choice(types)} a{k}" for k in range(rng.randint(0, 4))) or "void"
        h.append(f"{rng.choice(types)} func{i}(Rec{i} *r, {args});" if args != "void" else
                 f"{rng.choice(types)} func{i}(Rec{i} *r);")
        h.append(f"#define CONST{i} {rng.randint(0, 1 << 20)}")
    (d / "bench.h").write_text("\n".join(h) + "\n")
    (d / "bench.i").write_text("\n".join(lines) + "\n")


def gen_tree(d: Path) -> None:
    """src/: 240 C-like files in 12 folders (~2.5 MB) for ripgrep."""
    rng = random.Random(31)
    vocab = _words(rng, 800)
    for i in range(240):
        p = d / "src" / f"mod{i % 12:02d}" / f"file{i:03d}.c"
        p.parent.mkdir(parents=True, exist_ok=True)
        body = []
        for j in range(rng.randint(150, 260)):
            name = f"fn_{rng.choice(vocab)}_{rng.randint(0, 999)}"
            body.append(f"static int {name}(int x) {{ return x * {rng.randint(1, 99)} + {rng.choice(vocab)}_{j}; }}")
            if rng.random() < 0.05:
                body.append(f"/* TODO({rng.choice(vocab)}): {' '.join(rng.choice(vocab) for _ in range(8))} */")
        p.write_text("\n".join(body) + "\n")


def gen_esbuild(d: Path) -> None:
    """app/: 400 modules importing each other (a DAG), bundled from entry.js."""
    rng = random.Random(41)
    n = 400
    app = d / "app"
    app.mkdir()
    for i in range(n):
        deps = sorted({rng.randrange(i + 1, n) for _ in range(rng.randint(0, 3))} if i < n - 1 else set())
        src = [f'import {{ v{k} }} from "./m{k}.js";' for k in deps]
        expr = " + ".join([f"v{k}" for k in deps] + [str(rng.randint(1, 100))])
        src.append(f"export const v{i} = {expr};")
        src.append(f"export function f{i}(x) {{ return x.map((y) => y * {i} + v{i}).filter(Boolean); }}")
        (app / f"m{i}.js").write_text("\n".join(src) + "\n")
    (app / "entry.js").write_text('import { v0, f0 } from "./m0.js";\nconsole.log(v0, f0([1, 2, 3]));\n')


def gen_ninja(d: Path) -> None:
    """build.ninja: 3000 compile edges over 3000 small sources, 30 libraries, one link (no output exists:
    everything is dirty)."""
    rng = random.Random(53)
    out = ["rule cc", "  command = cc -c $in -o $out $cflags", "rule ar", "  command = ar rcs $out $in",
           "rule link", "  command = ld -o $out $in"]
    libs = []
    for lib in range(30):
        objs = []
        for i in range(100):
            src = f"src/lib{lib}/f{i}.c"
            (d / src).parent.mkdir(parents=True, exist_ok=True)
            (d / src).write_text(f"int f{i}(void) {{ return {i}; }}\n")
            obj = f"obj/lib{lib}/f{i}.o"
            out.append(f"build {obj}: cc {src}\n  cflags = -O{rng.randint(0, 3)} -DLIB={lib}")
            objs.append(obj)
        out.append(f"build lib/lib{lib}.a: ar {' '.join(objs)}")
        libs.append(f"lib/lib{lib}.a")
    out.append(f"build app: link {' '.join(libs)}")
    out.append("default app")
    (d / "build.ninja").write_text("\n".join(out) + "\n")


# ------------------------------------------------------------------------------------------ workloads
class Workload:
    def __init__(self, name, program, args, gen, check, extra_env=None, needs=()):
        self.name = name
        self.program = program      # corpus program id, or "ripgrep"
        self.args = args
        self.gen = gen              # fn(dir) -> None: the inputs
        self.check = check          # fn(dir, stdout bytes, ref) -> None | "what is wrong"
        self.extra_env = extra_env or {}
        self.needs = needs          # things the check needs: "linux" (the Linux build)


def _norm(b: bytes) -> str:
    return b.decode("utf-8", "replace").replace("\r\n", "\n").replace("\\", "/")


def check_sha(d: Path, out: bytes, _ref) -> str | None:
    want = "".join(f"{hashlib.sha256((d / f).read_bytes()).hexdigest()}  {f}\n" for f in ("data.bin", "hello.txt"))
    return None if _norm(out) == want else f"sha256sum printed {_norm(out)[:120]!r}"


def check_tar(d: Path, _out: bytes, _ref) -> str | None:
    try:
        with tarfile.open(d / "out.tar") as t:
            got = {m.name: t.extractfile(m).read() for m in t.getmembers() if m.isfile()}
    except (OSError, tarfile.TarError) as e:
        return f"out.tar does not read back: {e}"
    for f in ("data.bin", "hello.txt"):
        if got.get(f) != (d / f).read_bytes():
            return f"out.tar's {f} differs from the input"
    return None


def check_7z_a(d: Path, _out: bytes, ref) -> str | None:
    linux = ref.get("linux")
    if linux is None:
        return None if (d / "out.7z").is_file() and (d / "out.7z").stat().st_size > 1000 else "no out.7z"
    p = subprocess.run([str(linux), "x", "-so", "out.7z", "data.bin"], cwd=d, capture_output=True, timeout=300)
    return None if p.returncode == 0 and p.stdout == (d / "data.bin").read_bytes() else \
        f"the Linux 7za does not extract data.bin from out.7z (exit {p.returncode})"


def check_7z_x(d: Path, _out: bytes, _ref) -> str | None:
    got = d / "out" / "data.bin"
    return None if got.is_file() and got.read_bytes() == (d / "data.bin").read_bytes() else \
        "the extracted data.bin differs from the original"


def prep_7z_x(d: Path, ref) -> None:
    gen_data(d)
    linux = ref["linux"]
    subprocess.run([str(linux), "a", "-bd", "-mx=5", "-mmt=1", "in.7z", "data.bin", "hello.txt"], cwd=d,
                   check=True, capture_output=True, timeout=300)


def check_against_ref(d: Path, out: bytes, ref) -> str | None:
    want = ref.get("stdout")
    if want is None:
        return None
    return None if _norm(out) == _norm(want) else \
        f"output differs from the Linux build's ({len(out)} vs {len(want)} bytes)"


def check_rg(d: Path, out: bytes, _ref) -> str | None:
    # ripgrep's answer computed here: the count of matching lines per file, in path order
    import re
    rx = re.compile(r"TODO\([a-z]+\)")
    want = []
    for p in sorted((d / "src").rglob("*.c"), key=lambda p: p.relative_to(d).as_posix()):
        n = sum(1 for ln in p.read_text().splitlines() if rx.search(ln))
        if n:
            want.append(f"{p.relative_to(d).as_posix()}:{n}")
    got = [ln for ln in _norm(out).splitlines() if ln.strip()]
    return None if got == want else f"rg printed {len(got)} lines, {len(want)} expected (first: {got[:1]})"


def check_esbuild(d: Path, _out: bytes, ref) -> str | None:
    p = d / "out.js"
    if not p.is_file():
        return "no out.js"
    want = ref.get("file")
    if want is not None and p.read_bytes().replace(b"\r\n", b"\n") != want.replace(b"\r\n", b"\n"):
        return "out.js differs from the Linux esbuild's bundle"
    return None


def check_swig(d: Path, _out: bytes, ref) -> str | None:
    p = d / "bench_wrap.c"
    if not p.is_file():
        return "no bench_wrap.c"
    want = ref.get("file")
    if want is not None and _norm(p.read_bytes()) != _norm(want):
        return "bench_wrap.c differs from the Linux build's"
    return None


def gen_all_data(d):
    gen_data(d)


WORKLOADS = [
    Workload("swig", "swig", ["-python", "-o", "bench_wrap.c", "bench.i"], gen_swig, check_swig,
             {"SWIG_LIB": "swiglib"}, needs=("linux-file:bench_wrap.c",)),
    Workload("cmake-sha", "cmake", ["-E", "sha256sum", "data.bin", "hello.txt"], gen_data, check_sha),
    Workload("cmake-tar", "cmake", ["-E", "tar", "cf", "out.tar", "--format=pax", "hello.txt", "data.bin"],
             gen_data, check_tar),
    Workload("7za-a", "7za", ["a", "-bd", "-mx=5", "-mmt=1", "out.7z", "data.bin", "hello.txt"], gen_data, check_7z_a,
             needs=("linux",)),
    Workload("7za-x", "7za", ["x", "-bd", "-y", "-oout", "in.7z"], None, check_7z_x, needs=("linux",)),
    Workload("rg", "ripgrep", ["--no-config", "--sort", "path", "-c", r"TODO\([a-z]+\)", "src"], gen_tree, check_rg),
    Workload("esbuild", "esbuild", ["app/entry.js", "--bundle", "--outfile=out.js", "--log-level=warning"],
             gen_esbuild, check_esbuild, needs=("linux-file:out.js",)),
    Workload("ninja-n", "ninja", ["-n"], gen_ninja, check_against_ref, needs=("linux-stdout",)),
]


# ------------------------------------------------------------------------------------------ running
def programs() -> dict[str, tuple]:
    """program id -> (Windows exe, Linux exe or None, extra files, env, Linux extra files) for the workloads'
    programs."""
    out = {}
    lock = read_lock()
    wanted = {w.program for w in WORKLOADS}
    for e in load():
        if e.arch != "x64" or e.program not in wanted or e.program in out:
            continue
        exe, _ = fetch_entry(e, lock, linux=False, log=lambda m: print(m, file=sys.stderr, flush=True))
        linux = fetch(e.linux, lock, log=lambda m: print(m, file=sys.stderr, flush=True)) if e.linux else None
        out[e.program] = (exe, linux, list(e.extra), dict(e.env), list(e.linux_extra))
    out["ripgrep"] = (fetch(RIPGREP, None, log=lambda m: print(m, file=sys.stderr, flush=True)), None, [], {}, [])
    return out


def stage(w: Workload, prog, ref: dict) -> Path:
    exe, _linux, extra, _env, _lextra = prog
    d = Path(tempfile.mkdtemp(prefix="winhatch-bench-"))
    if w.name == "7za-x":
        prep_7z_x(d, ref)
    else:
        w.gen(d)
    shutil.copyfile(exe, d / exe.name)
    if extra:
        harness.copy_extra(exe.parent, extra, d)
    return d


def linux_reference(w: Workload, prog) -> dict:
    """What the check compares with: the Linux build's output on the same inputs, where the check needs it."""
    exe, linux, extra, env, lextra = prog
    ref: dict = {"linux": linux}
    wanted = [n for n in w.needs if n.startswith("linux-")]
    if not wanted or linux is None:
        return ref
    d = Path(tempfile.mkdtemp(prefix="winhatch-bench-ref-"))
    try:
        w.gen(d)
        if lextra:
            harness.copy_extra(linux.parent, lextra, d)
        p = subprocess.run([str(linux), *w.args], cwd=d, capture_output=True, timeout=600,
                           env=harness.linux_env(d, {**env, **w.extra_env}))
        for n in wanted:
            if n == "linux-stdout":
                ref["stdout"] = p.stdout
            elif n.startswith("linux-file:"):
                f = d / n.split(":", 1)[1]
                ref["file"] = f.read_bytes() if f.is_file() else None
    finally:
        shutil.rmtree(d, ignore_errors=True)
    return ref


def _children_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def run_winhatch(d: Path, exe_name: str, w: Workload, env: dict, timeout: float, trap_all: bool) -> dict:
    spec = {"exe": str(d / exe_name), "args": w.args, "timeout": timeout,
            "env": {**harness.COMMON_ENV, **env, **w.extra_env}}
    penv = dict(os.environ)
    if trap_all:
        penv["WINHATCH_TRAP_ALL_APIS"] = "1"
    else:
        penv.pop("WINHATCH_TRAP_ALL_APIS", None)
    t0, c0 = time.perf_counter(), _children_cpu()
    try:
        p = subprocess.run([PY, "-c", CHILD, json.dumps(spec)], capture_output=True, timeout=timeout + 60,
                           cwd=ROOT, env=penv)
    except subprocess.TimeoutExpired:
        return {"stop": f"no answer within {timeout + 60:.0f} s", "wall": time.perf_counter() - t0}
    wall = time.perf_counter() - t0
    cpu = _children_cpu() - c0
    try:
        got = json.loads(p.stdout.decode().strip().splitlines()[-1])
    except (ValueError, IndexError):
        tail = p.stderr.decode(errors="replace").strip().splitlines()[-1:] or [f"exit {p.returncode}"]
        return {"stop": f"winhatch died: {tail[0][:160]}", "wall": wall}
    got["wall"] = wall
    got["cpu"] = cpu
    got["stdout"] = base64.b64decode(got["stdout"])
    return got


def run_wine(d: Path, exe_name: str, w: Workload, env: dict, timeout: float) -> dict:
    wenv = {**os.environ, "WINEDEBUG": "-all", "WINEPREFIX": str(WINEPREFIX), **harness.COMMON_ENV, **env,
            **w.extra_env}
    t0, c0 = time.perf_counter(), _children_cpu()
    try:
        p = subprocess.run([str(WINE), exe_name, *w.args], cwd=d, capture_output=True, timeout=timeout, env=wenv)
    except subprocess.TimeoutExpired:
        return {"stop": f"no answer within {timeout:.0f} s", "wall": time.perf_counter() - t0}
    return {"exit": p.returncode, "stdout": p.stdout, "wall": time.perf_counter() - t0,
            "cpu": _children_cpu() - c0, "stop": None}


def one(w: Workload, prog, args) -> dict:
    exe = prog[0]
    env = prog[3]
    row: dict = {"workload": w.name, "program": w.program, "args": w.args}
    ref = linux_reference(w, prog)
    # winhatch, plain
    d = stage(w, prog, ref)
    try:
        r = run_winhatch(d, exe.name, w, env, args.timeout, False)
        row["winhatch_s"] = round(r["wall"], 3)
        row["winhatch_cpu_s"] = round(r.get("cpu", 0.0), 3)
        row["guest_s"] = round(r.get("secs", 0.0), 3)
        row["guest_cpu_s"] = round(r.get("guest_cpu", 0.0), 3)
        row["calls"] = r.get("calls", 0)
        if r.get("stop"):
            row["blocked"] = r["stop"]
        else:
            bad = (f"exit {r['exit']}" if r["exit"] != 0 else None) or w.check(d, r["stdout"], ref)
            if bad:
                row["wrong"] = bad
    finally:
        shutil.rmtree(d, ignore_errors=True)
    # winhatch with every native export trapping: the calls that otherwise stay in machine code
    if args.trap_all and "blocked" not in row and "wrong" not in row:
        d = stage(w, prog, ref)
        try:
            r = run_winhatch(d, exe.name, w, env, args.timeout, True)
            if not r.get("stop") and r.get("exit") == 0:
                row["calls_all"] = r.get("calls", 0)
                row["native_calls"] = max(row["calls_all"] - row["calls"], 0)
        finally:
            shutil.rmtree(d, ignore_errors=True)
    # Wine
    if args.wine:
        d = stage(w, prog, ref)
        try:
            r = run_wine(d, exe.name, w, env, args.timeout)
            row["wine_s"] = round(r["wall"], 3)
            row["wine_cpu_s"] = round(r.get("cpu", 0.0), 3)
            if r.get("stop"):
                row["wine_wrong"] = r["stop"]
            else:
                bad = (f"exit {r['exit']}" if r["exit"] != 0 else None) or w.check(d, r["stdout"], ref)
                if bad:
                    row["wine_wrong"] = bad
        finally:
            shutil.rmtree(d, ignore_errors=True)
    if "wine_s" in row and "winhatch_s" in row and "blocked" not in row and "wrong" not in row:
        row["ratio"] = round(row["winhatch_s"] / max(row["wine_s"], 1e-3), 1)
        if row.get("wine_cpu_s"):
            row["cpu_ratio"] = round(row["winhatch_cpu_s"] / max(row["wine_cpu_s"], 1e-3), 1)
    if row.get("guest_cpu_s"):   # per second of host CPU (the wall clock of a shared machine says little)
        row["calls_per_s"] = round(row["calls"] / row["guest_cpu_s"])
    return row


def fmt(row: dict) -> str:
    name = f"{row['workload']:10}"
    if "blocked" in row:
        return f"{name} blocked: {row['blocked']}"
    if "wrong" in row:
        return f"{name} WRONG: {row['wrong']}"
    wine = f"{row['wine_s']:7.2f}" if "wine_s" in row else "      -"
    ratio = f"{row['ratio']:6.1f}x" if "ratio" in row else "      -"
    wcpu = f"{row['wine_cpu_s']:7.2f}" if "wine_cpu_s" in row else "      -"
    cratio = f"{row['cpu_ratio']:6.1f}x" if "cpu_ratio" in row else "      -"
    native = f"{row['native_calls']:>12,}" if "native_calls" in row else "           -"
    note = f"  (wine: {row['wine_wrong']})" if "wine_wrong" in row else ""
    return (f"{name} {row['winhatch_s']:7.2f} {wine} {ratio} {row['winhatch_cpu_s']:7.2f} {wcpu} {cratio} "
            f"{row['calls']:>10,} {row.get('calls_per_s', 0):>9,} {native}{note}")


HEADER = (f"{'workload':10} {'wh wall':>7} {'wine':>7} {'ratio':>7} {'wh cpu':>7} {'wine':>7} {'ratio':>7} "
          f"{'API calls':>10} {'calls/s':>9} {'in mach.code':>12}\n"
          "(seconds; wall = elapsed, cpu = user+sys of the process and its children: on a loaded machine the cpu "
          "ratio is the stable one)")


PERCALL = r"""
import os, sys, time
os.environ["WINHATCH_TRAP_ALL_APIS"] = "1"
import winhatch
exe, n = sys.argv[1], int(sys.argv[2])
def t(mode, k):
    c0 = time.process_time()
    r = winhatch.run(exe, [mode, str(k)])
    assert r.exit_status == 7, (mode, r.exit_status, r.error)
    return time.process_time() - c0
for mode in ("cheap", "strcmp", "astr", "wstr"):
    t(mode, 10)
    best = min(t(mode, n) - t(mode, 0) for _ in range(3))
    print(f"{mode}={n / best:.0f}")
"""


def percall() -> dict:
    """Calls per second of the Python path (every call trapped) for a call without arguments, msvcrt strcmp,
    and a decoded ANSI and wide string argument: the loop minus an empty run, in host CPU seconds."""
    import fixturebuild
    exe = fixturebuild.build("bench_calls.c", "x64")
    p = subprocess.run([PY, "-c", PERCALL, str(exe), "100000"], capture_output=True, text=True, timeout=900)
    return {k: float(v) for k, v in (ln.split("=") for ln in p.stdout.split())}


def anchors() -> dict:
    p = subprocess.run([PY, str(ROOT / "bench" / "run_bench.py")], capture_output=True, text=True, timeout=3600)
    print("\n" + p.stdout.strip(), flush=True)   # bench/run_bench.py's own lines
    vals = dict(ln.split("=", 1) for ln in p.stdout.splitlines() if "=" in ln and " " not in ln)
    return vals


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", action="append", help="workload name; repeatable")
    ap.add_argument("--json", metavar="FILE", help="write the rows as JSON")
    ap.add_argument("--timeout", type=float, default=1800.0, help="wall seconds per run (default 1800)")
    ap.add_argument("--no-wine", dest="wine", action="store_false")
    ap.add_argument("--no-trap-all", dest="trap_all", action="store_false",
                    help="skip the second winhatch run that counts the calls staying in machine code")
    ap.add_argument("--no-anchors", dest="anchors", action="store_false")
    ap.add_argument("--no-percall", dest="percall", action="store_false")
    a = ap.parse_args(argv)
    if a.wine and not WINE.exists():
        print(f"bench: {WINE} is not installed: no Wine column", file=sys.stderr)
        a.wine = False
    todo = [w for w in WORKLOADS if not a.only or w.name in a.only]
    try:
        progs = programs()
    except FetchError as e:
        print(f"bench: fetch failed: {e}", file=sys.stderr)
        return 1
    if a.wine:   # the prefix is created once, untimed: the recorder's Windows 10 prefix, which the tests share
        import fcntl
        sys.path.insert(0, str(ROOT / "tools"))
        from record_expected import Wine
        WINEPREFIX.parent.mkdir(parents=True, exist_ok=True)
        with open(WINEPREFIX.parent / ".wineprefix.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            Wine("x64", str(WINE), WINEPREFIX).ensure_prefix()
        subprocess.run([str(WINE), str(progs["ninja"][0]), "--version"], capture_output=True, timeout=600,
                       env={**os.environ, "WINEDEBUG": "-all", "WINEPREFIX": str(WINEPREFIX)})
    print(HEADER, flush=True)
    rows = []
    for w in todo:
        row = one(w, progs[w.program], a)
        rows.append(row)
        print(fmt(row), flush=True)
    out: dict = {"workloads": rows}
    if a.percall:
        pc = percall()
        out["python_path_calls_per_s"] = pc
        print("\nPython path, every call trapped (calls/s): " +
              ", ".join(f"{k} {v:,.0f}" for k, v in pc.items()), flush=True)
    if a.anchors:
        an = anchors()
        out["anchors"] = an
        ratio = an.get("ratio_sieve_vs_speakeasy", "n/a")
        hello = an.get("hello_seconds", "n/a")
        try:
            ok_r = float(ratio) >= 30
        except ValueError:
            ok_r = None
        try:
            ok_h = float(hello) <= 0.15
        except ValueError:
            ok_h = None
        print(f"anchor sieve vs Speakeasy: {ratio}x (bar >= 30x: {'ok' if ok_r else 'MISSED' if ok_r is False else 'n/a'})")
        print(f"anchor hello start to exit: {hello} s (bar <= 0.15 s: {'ok' if ok_h else 'MISSED' if ok_h is False else 'n/a'})")
    if a.json:
        Path(a.json).write_text(json.dumps(out, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
