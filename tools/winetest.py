"""Wine's conformance tests for kernel32 and ntdll, built with mingw-w64 and run under winhatch as an oracle
of Windows behaviour.

Wine's test code is not part of this repository: it comes from Debian's source package of Wine (pinned
below), fetched with `apt-get source` into a cache directory and used as it is. Each test file
(dlls/kernel32/tests/*.c, dlls/ntdll/tests/*.c) becomes one standalone program, for x86 and x64, the way
Wine's makedep builds its test modules (tools/makedep.c):

* a generated testlist.c with one `{ "name", func_name }` row per START_TEST of that file, compiled with
  STANDALONE defined so that include/wine/test.h supplies main();
* Wine's own headers (include/msvcrt, include) with __WINESRC__ and __WINE_PE_BUILD, as makedep compiles
  PE modules, plus the headers Wine's build generates from include/*.idl (made here with mingw-w64's widl);
* linked against mingw-w64's import libraries with the IMPORTS of the directory's Makefile.in
  (user32 advapi32) and ntdll (a default import of Wine's test modules), and tools/winetest_support.c
  for the functions of Wine's start-up library that wine/debug.h expects;
* kernel32's resources as Wine links them into kernel32_test.exe: resource.rc (compiled with windres)
  and the helper DLL built from dummy.c/dummy.spec, embedded as resource `dummy.dll` of type TESTDLL.

Each program is run under winhatch as Wine's runtest runs it (`winhatch run PROG TESTNAME`) with a
time limit. A run completes when test.h prints its summary line
"PID:name: N tests executed (T marked as todo, F as flaky, E failures), S skipped."; otherwise the first
reason it stopped is recorded (an unimplemented API, an unhandled exception, a timeout...), with the
program's function where it happened: in the test's own code ("past the harness") or in test.h's.
A program runs first as runtest runs it on Windows (test.h prints failures and the summary, not each
passing check); one that stops before its summary runs again with WINETEST_REPORT_SUCCESS=1, where test.h
prints every check, so a stopped run still counts its checks and failures (its child processes' lines
included). The program's own summary is told from its children's by
the pid winhatch's run report gives it. The baseline check (`--check`, `make winetest`): a file that
completed stops completing, its failures increase, or a file stops getting past the harness.

    python tools/winetest.py fetch
    python tools/winetest.py run [--arch x64] [--jobs 2] [FILE...]     # prints the table
    python tools/winetest.py run --write-baseline                         # tests/winetest/baseline-ARCH.json
    python tools/winetest.py run --check                                  # compare with the baseline
    python tools/winetest.py run --wine                                   # the same programs under wine64
"""
from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SUPPORT_C = ROOT / "tools" / "winetest_support.c"
BASELINE_DIR = ROOT / "tests" / "winetest"

WINE_PACKAGE = "wine"
WINE_VERSION = "8.0~repack-4"          # Debian bookworm's Wine, the version the baselines were recorded with
WINE_TREE = "wine-8.0"
DLLS = ("kernel32", "ntdll")
IMPORTS = ("user32", "advapi32")       # IMPORTS of both tests/Makefile.in
TRIPLES = {"x86": "i686-w64-mingw32", "x64": "x86_64-w64-mingw32"}
ARCHES = ("x64", "x86")
# the source subtrees the tests need (the whole tree is not extracted)
SUBTREES = ("include", "dlls/kernel32/tests", "dlls/ntdll/tests")
CFLAGS = ["-O2", "-w", "-fno-strict-aliasing", "-D__WINESRC__", "-D__WINE_PE_BUILD", "-D_MSVCR_VER=0",
          "-DWINE_NO_DEBUG_MSGS", "-DWINE_NO_TRACE_MSGS"]
BUILD_VERSION = "2"                    # bump when the build recipe changes (part of every cache key)

DEBSRC_FILE = Path("/etc/apt/sources.list.d/winhatch-debsrc.sources")
DEBSRC = """Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
"""


class WinetestError(RuntimeError):
    pass


def cache_dir() -> Path:
    base = os.environ.get("WINHATCH_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "winhatch")
    return Path(base) / "winetest"


def src_root() -> Path:
    return cache_dir() / "src" / WINE_TREE


# ---------------------------------------------------------------------------------------------- fetching

def _have_debsrc() -> bool:
    paths = [Path("/etc/apt/sources.list"), *Path("/etc/apt/sources.list.d").glob("*")]
    for p in paths:
        try:
            text = p.read_text()
        except OSError:
            continue
        if re.search(r"^\s*(Types:.*\bdeb-src\b|deb-src\s)", text, re.M):
            return True
    return False


@contextlib.contextmanager
def _locked():
    """One fetcher at a time (parallel test workers share the cache)."""
    cache_dir().mkdir(parents=True, exist_ok=True)
    with open(cache_dir() / ".lock", "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def fetch(verbose: bool = True) -> Path:
    """Download Debian's source package of Wine (pinned) and extract the test and header subtrees."""
    root = src_root()
    if (root / ".extracted").exists():
        return root
    with _locked():
        return _fetch(verbose)


def _fetch(verbose: bool) -> Path:
    root = src_root()
    stamp = root / ".extracted"
    if stamp.exists():
        return root
    dl = cache_dir() / "src"
    dl.mkdir(parents=True, exist_ok=True)
    orig = dl / f"{WINE_PACKAGE}_{WINE_VERSION.split('-')[0]}.orig.tar.xz"
    if not orig.exists():
        if not _have_debsrc():
            if os.geteuid() != 0:
                raise WinetestError("no deb-src entry in APT's sources and not root to add one")
            DEBSRC_FILE.write_text(DEBSRC)
            subprocess.run(["apt-get", "update", "-qq"], check=True)
        if verbose:
            print(f"apt-get source {WINE_PACKAGE}={WINE_VERSION} into {dl}", file=sys.stderr)
        r = subprocess.run(["apt-get", "source", "--download-only", f"{WINE_PACKAGE}={WINE_VERSION}"],
                           cwd=dl, capture_output=True, text=True)
        if r.returncode != 0 or not orig.exists():
            # the index may predate the deb-src entry: refresh once
            subprocess.run(["apt-get", "update", "-qq"], check=False)
            r = subprocess.run(["apt-get", "source", "--download-only", f"{WINE_PACKAGE}={WINE_VERSION}"],
                               cwd=dl, capture_output=True, text=True)
        if r.returncode != 0 or not orig.exists():
            raise WinetestError(f"apt-get source {WINE_PACKAGE}={WINE_VERSION} failed:\n{r.stderr[-2000:]}")
    # Debian's patches (the .debian.tar.xz) touch neither the tests nor the headers they use: the upstream
    # tarball's subtrees are the tests as Debian ships them.
    members = [f"{WINE_TREE}/{s}" for s in SUBTREES]
    subprocess.run(["tar", "-xJf", str(orig), "-C", str(dl), *members], check=True)
    stamp.write_text(WINE_VERSION + "\n")
    return root


def generated_headers() -> Path:
    """The headers Wine's build generates from its .idl files (oleidl.h, objidl.h...: the source package
    has only the .idl), generated with mingw-w64's widl (the Debian package mingw-w64-tools) as Wine's
    build does with its own. A .idl that widl cannot compile alone (an import-only fragment, WinRT) is
    left out: no kernel32/ntdll test includes one."""
    gen = cache_dir() / "src" / f"{WINE_TREE}-generated-include"
    if (gen / ".generated").exists():
        return gen
    with _locked():
        return _generate_headers(gen)


def _generate_headers(gen: Path) -> Path:
    inc = src_root() / "include"
    stamp = gen / ".generated"
    if stamp.exists():
        return gen
    widl = shutil.which("x86_64-w64-mingw32-widl")
    if widl is None:
        raise WinetestError("x86_64-w64-mingw32-widl not found: apt-get install mingw-w64-tools")
    tmp = Path(tempfile.mkdtemp(prefix=gen.name + "-", dir=gen.parent))
    for idl in sorted(inc.glob("*.idl")):
        header = idl.with_suffix(".h").name
        if (inc / header).exists():
            continue
        subprocess.run([widl, "-h", "--nostdinc", "-I", ".", "-D__WIDL__", "-o", str(tmp / header), idl.name],
                       cwd=inc, capture_output=True)
    (tmp / ".generated").write_text(WINE_VERSION + "\n")
    try:
        tmp.rename(gen)
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)
        if not stamp.exists():
            raise
    return gen


def test_files(dll: str) -> list[str]:
    """The test files of a DLL's tests directory: every .c with a START_TEST (dummy.c is a helper DLL)."""
    d = src_root() / "dlls" / dll / "tests"
    return sorted(p.stem for p in d.glob("*.c") if _start_tests(p))


def _start_tests(path: Path) -> list[str]:
    return re.findall(r"^\s*START_TEST\s*\(\s*(\w+)\s*\)", path.read_text(errors="replace"), re.M)


# ---------------------------------------------------------------------------------------------- building

def _run(cmd: list[str], **kw) -> None:
    r = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if r.returncode != 0:
        raise WinetestError(f"build failed: {' '.join(map(str, cmd))}\n{r.stderr[-3000:]}")


def _hash(*parts) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(p.read_bytes() if isinstance(p, Path) else repr(p).encode())
        h.update(b"\0")
    return h.hexdigest()[:16]


def _atomic_dir(final: Path, make) -> Path:
    """Build into a scratch directory next to `final`, then rename it into place (concurrent builders)."""
    if final.exists():
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{final.name}-", dir=final.parent))
    try:
        make(scratch)
        try:
            scratch.rename(final)
        except OSError:
            if not final.exists():
                raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return final


def _common_key(arch: str) -> list:
    w = src_root()
    return [BUILD_VERSION, WINE_VERSION, arch, CFLAGS, SUPPORT_C, w / "include/wine/test.h",
            w / "include/wine/debug.h"]


def build_dummy_dll(arch: str) -> Path:
    """kernel32's tests/dummy.c + dummy.spec: a DLL exporting get_path (the spec's `stdcall get_path`,
    undecorated as a Wine spec file exports it)."""
    t = src_root() / "dlls/kernel32/tests"
    key = _hash(*_common_key(arch), t / "dummy.c", t / "dummy.spec")
    final = cache_dir() / "build" / arch / f"dummy-{key}"

    def make(d: Path):
        exports = []
        for line in (t / "dummy.spec").read_text().splitlines():
            m = re.match(r"\s*@\s+(stdcall|cdecl)\s+(\w+)\s*\(([^)]*)\)", line)
            if m:
                nargs = len(m.group(3).split())
                size = nargs * (4 if arch == "x86" else 8)
                if arch == "x86" and m.group(1) == "stdcall":
                    exports.append(f"{m.group(2)}={m.group(2)}@{size}")  # undecorated export name
                else:
                    exports.append(m.group(2))
        (d / "dummy.def").write_text("LIBRARY dummy.dll\nEXPORTS\n" + "".join(f"    {e}\n" for e in exports))
        _run([f"{TRIPLES[arch]}-gcc", "-shared", "-s", "-O2", "-w", "-o", str(d / "dummy.dll"),
              str(t / "dummy.c"), str(d / "dummy.def")])
    return _atomic_dir(final, make) / "dummy.dll"


def build_resources(arch: str) -> Path:
    """kernel32's resource object: resource.rc plus dummy.dll as resource `dummy.dll` of type TESTDLL."""
    t = src_root() / "dlls/kernel32/tests"
    dummy = build_dummy_dll(arch)
    key = _hash(*_common_key(arch), t / "resource.rc", t / "wine_test.manifest", dummy)
    final = cache_dir() / "build" / arch / f"k32res-{key}"

    def make(d: Path):
        shutil.copy(t / "wine_test.manifest", d / "wine_test.manifest")
        shutil.copy(dummy, d / "dummy.dll")
        rc = (t / "resource.rc").read_text() + '\ndummy.dll TESTDLL "dummy.dll"\n'
        (d / "all.rc").write_text(rc)
        target = "pe-i386" if arch == "x86" else "pe-x86-64"
        # mingw-w64's headers: windres parses only what RC_INVOKED leaves of them. Resources without a
        # LANGUAGE statement are language-neutral, as Wine's wrc makes them (windres would say en-US)
        _run([f"{TRIPLES[arch]}-windres", "-F", target, "-l", "0", "-I", str(t), "-i", "all.rc",
              "-O", "coff", "-o", "res.o"], cwd=d)
    return _atomic_dir(final, make) / "res.o"


def _source(dll: str, name: str, source: Path | None = None) -> Path:
    return source if source is not None else src_root() / "dlls" / dll / "tests" / f"{name}.c"


def build(dll: str, name: str, arch: str, source: Path | None = None) -> Path:
    """One test file as a standalone program <dll>_test.exe (the name Wine gives its test module).
    `source`: another file written against wine/test.h, built as one of `dll`'s tests (winhatch's own tests
    of the harness use it)."""
    w = src_root()
    tdir = w / "dlls" / dll / "tests"
    src = _source(dll, name, source)
    tests = _start_tests(src)
    if not tests:
        raise WinetestError(f"{src} has no START_TEST")
    local_headers = sorted(tdir.glob("*.h"))
    extra = [build_resources(arch)] if dll == "kernel32" else []
    key = _hash(*_common_key(arch), dll, src, *local_headers, *extra)
    final = cache_dir() / "build" / arch / f"{dll}-{name}-{key}"

    def make(d: Path):
        testlist = ["#define WIN32_LEAN_AND_MEAN", "#include <windows.h>", "", "#define STANDALONE",
                    '#include "wine/test.h"', ""]
        testlist += [f"extern void func_{t}(void);" for t in tests]
        testlist += ["", "const struct test winetest_testlist[] =", "{"]
        testlist += [f'    {{ "{t}", func_{t} }},' for t in tests]
        testlist += ["    { 0, 0 }", "};", ""]
        (d / "testlist.c").write_text("\n".join(testlist))
        cc = f"{TRIPLES[arch]}-gcc"
        inc = ["-I", str(src.parent), "-I", str(tdir), "-I", str(w / "include/msvcrt"), "-I", str(w / "include"),
               "-I", str(generated_headers())]
        objs = []
        for i, c in enumerate((src, d / "testlist.c")):
            o = d / f"{i}.o"
            _run([cc, "-c", *CFLAGS, *inc, "-o", str(o), str(c)])
            objs.append(str(o))
        o = d / "support.o"
        _run([cc, "-c", "-O2", "-w", "-o", str(o), str(SUPPORT_C)])
        objs.append(str(o))
        _run([cc, "-o", str(d / f"{dll}_test.exe"), *objs, *map(str, extra),
              *[f"-l{lib}" for lib in IMPORTS], "-lntdll"])
    return _atomic_dir(final, make) / f"{dll}_test.exe"


# ---------------------------------------------------------------------------------------------- running

SUMMARY = re.compile(r"^([0-9a-f]+):(\w+):\S*\s*(\d+) tests executed \((\d+) marked as todo, (\d+) as flaky, "
                     r"(\d+) failures?\), (\d+) skipped\.", re.M)
STOP_PATTERNS = [
    re.compile(r"unimplemented API \S+( called from \S+)?"),
    re.compile(r"unhandled exception \S+.*"),
    re.compile(r"^.*STATUS_\w+.*$", re.M),
    re.compile(r"^.*deadlock.*$", re.M | re.I),
    re.compile(r"^.*internal error.*$", re.M | re.I),
]


@dataclass
class Result:
    file: str            # "kernel32/atom"
    arch: str
    completed: bool
    executed: int = 0
    failures: int = 0
    todo: int = 0
    skipped: int = 0
    exit_status: int | None = None
    seconds: float = 0.0
    stop: str = ""       # why it did not reach its summary line
    stop_in: str = ""    # the program's function where it stopped (test.h's main/run_test: the harness)
    past_harness: bool | None = None   # did the test function itself run? (None: unknown, a timeout)
    # the failing checks by place: [{"at": "directory.c:377", "count": 1, "message": "..."}]
    failed_checks: list = None

    def row(self, wine: str | None = None) -> str:
        state = "yes" if self.completed else "no"
        past = {True: "yes", False: "NO", None: "?"}[self.past_harness]
        where = f" [in {self.stop_in}]" if self.stop_in else ""
        return (f"{self.file:24} {self.arch:4} {state:4} {past:4} {self.executed:7} {self.failures:6} "
                f"{self.seconds:6.1f}s " + ("" if wine is None else f"{wine:>8} ") + f" {self.stop}{where}")


def _stop_reason(stdout: str, stderr: str, status: int | None, timed_out: bool) -> str:
    if timed_out:
        return "timeout"
    for pat in STOP_PATTERNS:
        m = pat.search(stderr)
        if m:
            return " ".join(m.group(0).split())[:200]
    # test.h's own fatal exits and exception filter print on stdout
    for line in stdout.splitlines():
        if "unhandled exception" in line or line.startswith("Fatal:"):
            return " ".join(line.split())[:200]
    tail = [ln for ln in stderr.strip().splitlines() if ln.strip()]
    if tail:
        return " ".join(tail[-1].split())[:200]
    return f"exited with status {status} before its summary line"


CHECK_LINE = re.compile(r"^\S+:\d+:\S* ?(Test succeeded inside (?:flaky )?todo block|Test succeeded|Test failed|"
                        r"Test marked todo|Test marked flaky)", re.M)


FAIL_LINE = re.compile(r"^(?:[0-9a-f]+:)?(\S+?\.[ch]):(\d+):\S* ?(Test failed|Test succeeded inside todo block)"
                       r"(?::\s?(.*))?$", re.M)


def failed_checks(stdout: str) -> list[dict]:
    """The failing checks grouped by their place in the test's source, in order of first appearance, with
    the first message each printed (test.h prints failures whether or not WINETEST_REPORT_SUCCESS is set)."""
    seen: dict[str, dict] = {}
    for m in FAIL_LINE.finditer(stdout):
        at = f"{m.group(1)}:{m.group(2)}"
        e = seen.get(at)
        if e is None:
            msg = (m.group(4) or m.group(3)).strip()
            seen[at] = {"at": at, "count": 1, "message": " ".join(msg.split())[:160]}
        else:
            e["count"] += 1
    return list(seen.values())


def count_checks(stdout: str) -> tuple[int, int]:
    """Checks executed and failed, from the lines test.h prints with WINETEST_REPORT_SUCCESS=1 (a run that
    did not reach its summary; the lines of its child processes are included)."""
    executed = failed = 0
    for m in CHECK_LINE.finditer(stdout):
        executed += 1
        if m.group(1) in ("Test failed", "Test succeeded inside todo block"):
            failed += 1
    return executed, failed


def _symbols(exe: Path, arch: str) -> tuple[int, list[tuple[int, str]]]:
    """The image base and the sorted code symbols of a test program (it is linked unstripped)."""
    r = subprocess.run([f"{TRIPLES[arch]}-nm", "-n", str(exe)], capture_output=True, text=True)
    base, syms = None, []
    for line in r.stdout.splitlines():
        parts = line.split()
        if len(parts) != 3:
            continue
        addr, kind, name = int(parts[0], 16), parts[1], parts[2]
        if arch == "x86" and name.startswith("_"):
            name = name[1:]
        name = name.split("@")[0].split(".")[0]   # gcc clones: test_x.constprop.0, .isra.0, .part.0, .cold
        if name in ("__ImageBase", "_ImageBase"):
            base = addr
        elif kind in "Tt":
            syms.append((addr, name))
    if base is None:
        data = exe.read_bytes()[:4096]
        pe = int.from_bytes(data[0x3C:0x40], "little")
        opt = pe + 24
        if data[opt:opt + 2] == b"\x0b\x02":      # PE32+
            base = int.from_bytes(data[opt + 24:opt + 32], "little")
        else:
            base = int.from_bytes(data[opt + 28:opt + 32], "little")
    return base, syms


def locate(exe: Path, arch: str, stop: str) -> str:
    """The function of the test program where a stop happened ("called from X.exe+0x1f5e", "at X.exe+0x..."),
    or "" when the stop names no place in the program itself."""
    base, syms = None, None
    m = re.search(re.escape(exe.name) + r"\+0x([0-9a-fA-F]+)", stop, re.I)
    if m:
        base, syms = _symbols(exe, arch)
        va = base + int(m.group(1), 16)
    else:
        # test.h's exception filter: "PID:test: unhandled exception C0000005 at 0000000140001562"
        m = re.search(r"unhandled exception [0-9a-fA-F]+ at ([0-9a-fA-F]{8,16})\b", stop)
        if not m:
            return ""
        base, syms = _symbols(exe, arch)
        va = int(m.group(1), 16)
        if not syms or va < base or va >= syms[-1][0] + 0x100000:
            return ""
    best = ""
    for addr, name in syms:
        if addr > va:
            break
        best = name
    return best


def _defined_in(name: str, paths: list[Path]) -> bool:
    """Is the function defined in these sources? (func_NAME is the body of START_TEST(NAME).)"""
    if name.startswith("func_"):
        return any(name[5:] in _start_tests(p) for p in paths if p.suffix == ".c")
    pat = re.compile(r"^[A-Za-z_][\w \t\*]*\b" + re.escape(name) + r"\s*\(", re.M)
    return any(pat.search(p.read_text(errors="replace")) for p in paths)


def winhatch_cmd() -> list[str]:
    exe = Path(sys.executable).parent / "winhatch"
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "winhatch.cli"]


def _run_guest(exe: Path, tests: list[str], timeout: float, report_success: bool):
    """One run of a test program under winhatch in a scratch folder: (stdout, stderr, host status, timed out,
    seconds, the root process's pid and exit status)."""
    with tempfile.TemporaryDirectory(prefix=f"winetest-{exe.stem}-") as tmp:
        run_exe = Path(tmp) / exe.name
        shutil.copy(exe, run_exe)
        t0 = time.monotonic()
        timed_out = False
        env = ["--env", "WINETEST_REPORT_SUCCESS=1"] if report_success else []
        try:
            # winhatch's own --timeout stops the machine; the host timeout is the backstop
            # the report names the program's own process: a child's summary line is not the program's
            # --no-report-apis: the report is read for the process tree only; recording every API call would
            # send the system DLLs' machine code (memcpy, TlsGetValue, the heap...) to Python on each call
            p = subprocess.run([*winhatch_cmd(), "run", "--timeout", str(timeout), "--report", "report.json",
                                "--no-report-apis",
                                *env, str(run_exe), *tests],
                               capture_output=True, timeout=timeout + 30, cwd=tmp)
            out, err, status = p.stdout, p.stderr, p.returncode
        except subprocess.TimeoutExpired as e:
            out, err, status, timed_out = e.stdout or b"", e.stderr or b"", None, True
        secs = time.monotonic() - t0
        root_pid, root_status = _root_process(Path(tmp) / "report.json")
    out = out.decode("utf-8", "replace")
    err = err.decode("utf-8", "replace")
    if not timed_out and re.search(r"time ?out|timed out|--timeout", err, re.I) and not SUMMARY.search(out):
        timed_out = True
    return out, err, status, timed_out, secs, root_pid, root_status


def run_one(dll: str, name: str, arch: str, timeout: float = 120.0, source: Path | None = None) -> Result:
    exe = build(dll, name, arch, source)
    fid = f"{dll}/{name}"
    # as Wine's runtest does: `prog.exe testname` (tests that start themselves again count on argc == 2)
    src = _source(dll, name, source)
    tests = _start_tests(src)[:1]
    # First as runtest runs it on Windows: test.h prints failures, todos and the summary line, not every
    # passing check (some files execute a million checks: printing each one costs more than the checks).
    out, err, status, timed_out, secs, root_pid, root_status = _run_guest(exe, tests, timeout, False)
    # the program's own summary (its children, started with more arguments, print theirs too)
    summaries = [m for m in SUMMARY.finditer(out)
                 if m.group(2) in tests and root_pid is not None and int(m.group(1), 16) == root_pid]
    if root_status is not None and root_status > 0xFF:
        status = root_status       # the full NTSTATUS of an abnormal end (the host status keeps 8 bits)
    if summaries:
        m = summaries[-1]
        return Result(fid, arch, True, executed=int(m.group(3)), todo=int(m.group(4)),
                      failures=int(m.group(6)), skipped=int(m.group(7)), exit_status=status,
                      seconds=round(secs, 1), past_harness=True, failed_checks=failed_checks(out))
    stop = _stop_reason(out, err, status, timed_out)
    # It stopped before its summary: again with WINETEST_REPORT_SUCCESS=1, where test.h prints every check,
    # so the checks it executed before the stop and their failures can be counted (its children's included).
    # A run that reached the time limit is counted over the same limit.
    vout, verr, vstatus, vtimed, vsecs, _, _ = _run_guest(exe, tests, timeout, True)
    executed, failures = count_checks(vout)
    where = locate(exe, arch, stop)
    tdir = src_root() / "dlls" / dll / "tests"
    if where:
        past = _defined_in(where, [src, *tdir.glob("*.h")])
    else:
        # no place in the program: a timeout, a deadlock, a stop inside a system DLL. The test function has
        # run if the program printed anything of its own before its summary (test.h prints nothing earlier)
        past = True if (out.strip() or vout.strip()) else (None if timed_out else False)
    return Result(fid, arch, False, executed=executed, failures=failures, exit_status=status,
                  seconds=round(secs, 1), stop=stop, stop_in=where, past_harness=past,
                  failed_checks=failed_checks(vout))


def _root_process(report: Path) -> tuple[int | None, int | None]:
    """The pid and exit status of the process winhatch started (the first guest process of the report's
    process tree), or (None, None) when no report was written."""
    try:
        tree = json.loads(report.read_text())["process_tree"]
    except (OSError, ValueError, KeyError):
        return None, None
    for p in tree:
        if p.get("guest"):
            return p["pid"], p.get("exit_status")
    return None, None


WINE64 = "/usr/lib/wine/wine64"


def run_one_wine(dll: str, name: str, arch: str, timeout: float = 120.0) -> Result:
    """The same program under Wine (Debian's wine64, x64 only here), as a reference for the build recipe and
    for what a file does when its APIs exist. Under Wine, test.h sees ntdll!wine_server_call and applies
    its todo_wine rules. Only the summary line is read (no per-check lines: millions on some files)."""
    if arch != "x64" or not os.path.exists(WINE64):
        raise WinetestError(f"no Wine for {arch} here ({WINE64})")
    exe = build(dll, name, arch)
    tests = _start_tests(src_root() / "dlls" / dll / "tests" / f"{name}.c")[:1]
    prefix = cache_dir() / "wineprefix"
    prefix.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, WINEPREFIX=str(prefix), WINEDEBUG="-all")
    with tempfile.TemporaryDirectory(prefix=f"winetest-wine-{dll}-{name}-") as tmp:
        shutil.copy(exe, Path(tmp) / exe.name)
        t0 = time.monotonic()
        try:
            p = subprocess.run([WINE64, exe.name, *tests], cwd=tmp, env=env, capture_output=True,
                               timeout=timeout)
            out, status, timed_out = p.stdout.decode("utf-8", "replace"), p.returncode, False
        except subprocess.TimeoutExpired as e:
            out, status, timed_out = (e.stdout or b"").decode("utf-8", "replace"), None, True
        secs = time.monotonic() - t0
    summaries = [m for m in SUMMARY.finditer(out) if m.group(2) in tests]
    fid = f"{dll}/{name}"
    if summaries and not timed_out:
        m = summaries[-1]      # the parent waits for its children: its line is the last one
        return Result(fid, arch, True, executed=int(m.group(3)), todo=int(m.group(4)),
                      failures=int(m.group(6)), skipped=int(m.group(7)), exit_status=status,
                      seconds=round(secs, 1), past_harness=True)
    return Result(fid, arch, False, exit_status=status, seconds=round(secs, 1),
                  stop="timeout" if timed_out else f"exited with status {status} before its summary line")


def all_files() -> list[tuple[str, str]]:
    return [(dll, name) for dll in DLLS for name in test_files(dll)]


# Files that need more than the sweep's limit, with the limit they get and why (the limit is the larger of the two):
# "dll/name": (seconds, "why"). None now: kernel32/debugger had 400 s (it ran 220-460 s, nearly all of it in one
# loop of test_debugger where a new debuggee thread never got to start: the dispatcher's rounds went in list order,
# so the other thread, hitting a breakpoint at each slice, always ran first and froze the process); since the
# dispatcher's ready queue is FIFO it completes in about 16 s per architecture, at load 6 on 2 cores.
LONG_FILES: dict[str, tuple[float, str]] = {}


def file_timeout(dll: str, name: str, timeout: float) -> float:
    return max(timeout, LONG_FILES.get(f"{dll}/{name}", (0.0, ""))[0])


def run_many(files: list[tuple[str, str]], arches, jobs: int, timeout: float, progress=True,
             runner=None) -> list[Result]:
    runner = runner or run_one
    # build first (the compiler runs in parallel with itself, not with guests)
    todo = [(d, n, a) for a in arches for d, n in files]
    with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as ex:
        list(ex.map(lambda t: build(*t), todo))
    results = []
    with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as ex:
        futs = {ex.submit(runner, d, n, a, file_timeout(d, n, timeout)): (d, n, a) for d, n, a in todo}
        for f in concurrent.futures.as_completed(futs):
            r = f.result()
            results.append(r)
            if progress:
                print(r.row(), file=sys.stderr, flush=True)
    results.sort(key=lambda r: (r.arch, r.file))
    return results


def table(results: list[Result]) -> str:
    """The results; `wine` is what the same program does under wine64 (tests/winetest/wine-reference-*.json):
    its checks executed, or `-` where it does not complete there either."""
    lines = [f"{'file':24} {'arch':4} {'done':4} {'body':4} {'checks':>7} {'fails':>6} {'time':>7} "
             f"{'wine':>8}  first stop"]
    for r in results:
        ref = load_baseline(r.arch, wine=True).get(r.file)
        wine = "" if ref is None else (str(ref["executed"]) if ref["completed"] else "-")
        lines.append(r.row(wine))
    for arch in sorted({r.arch for r in results}):
        rs = [r for r in results if r.arch == arch]
        lines.append(f"{arch}: {sum(r.completed for r in rs)}/{len(rs)} files completed, "
                     f"{sum(r.past_harness is True for r in rs)}/{len(rs)} past the harness, "
                f"{sum(r.executed for r in rs)} checks executed, {sum(r.failures for r in rs)} failures")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------- baseline

def baseline_path(arch: str, wine: bool = False) -> Path:
    return BASELINE_DIR / (f"wine-reference-{arch}.json" if wine else f"baseline-{arch}.json")


def write_baseline(results: list[Result], wine: bool = False) -> None:
    for arch in sorted({r.arch for r in results}):
        path = baseline_path(arch, wine)
        old = json.loads(path.read_text())["files"] if path.exists() else {}
        for r in results:
            if r.arch == arch:
                d = asdict(r)
                for k in ("file", "arch", "seconds", "exit_status"):
                    d.pop(k)
                if wine:
                    d.pop("failed_checks")
                else:
                    # every remaining failure with its reason (tests/winetest/reasons/)
                    why = reasons(r.file)
                    d["failed_checks"] = [dict(f, reason=reason_for(why, f["at"])) for f in (r.failed_checks or [])]
                old[r.file] = d
        doc = {"wine": f"{WINE_PACKAGE} {WINE_VERSION}", "arch": arch,
               "runner": "wine64 (Debian), reference only" if wine else "winhatch",
               "files": dict(sorted(old.items()))}
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(doc, indent=1) + "\n")


REASONS = BASELINE_DIR / "reasons"
UNEXPLAINED = "not yet explained"


def reasons(fid: str) -> dict[str, str]:
    """Why checks of a file fail under winhatch: tests/winetest/reasons/DLL-NAME.toml, mapping a place
    ("file.c:123"), a range of lines ("file.c:100-180") or a whole source ("file.c") to the reason."""
    import tomllib
    dll, name = fid.split("/", 1)
    try:
        return dict(tomllib.loads((REASONS / f"{dll}-{name}.toml").read_text()))
    except FileNotFoundError:
        return {}


def reason_for(why: dict[str, str], at: str) -> str:
    src, _, line = at.rpartition(":")
    if at in why:
        return why[at]
    n = int(line) if line.isdigit() else -1
    for key, text in why.items():
        ksrc, _, rng = key.rpartition(":")
        if ksrc == src and "-" in rng:
            lo, _, hi = rng.partition("-")
            if lo.isdigit() and hi.isdigit() and int(lo) <= n <= int(hi):
                return text
    return why.get(src, UNEXPLAINED)


def load_baseline(arch: str, wine: bool = False) -> dict:
    path = baseline_path(arch, wine)
    return json.loads(path.read_text())["files"] if path.exists() else {}


def regressions(results: list[Result]) -> list[str]:
    """A file that completed in the baseline and no longer does, or whose failures increased; a file whose
    test function ran in the baseline and no longer does (it stops in the harness)."""
    bad = []
    for r in results:
        b = load_baseline(r.arch).get(r.file)
        if not b:
            continue
        if b.get("past_harness") is True and r.past_harness is False:
            bad.append(f"{r.file} ({r.arch}) no longer gets past the harness: {r.stop}")
            continue
        if not b["completed"]:
            continue
        if not r.completed:
            bad.append(f"{r.file} ({r.arch}) completed in the baseline, now stops: {r.stop}")
        elif r.failures > b["failures"]:
            bad.append(f"{r.file} ({r.arch}) failures {b['failures']} -> {r.failures}")
    return bad


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("fetch", help="download and extract Wine's source package")
    for name in ("build", "run"):
        p = sub.add_parser(name)
        p.add_argument("files", nargs="*", help="kernel32/atom, ntdll/rtlstr... (default: all)")
        p.add_argument("--arch", action="append", choices=ARCHES)
        p.add_argument("--jobs", "-j", type=int, default=2)
        if name == "run":
            p.add_argument("--timeout", type=float, default=120.0,
                           help="seconds per file (files in LONG_FILES get their longer limit)")
            p.add_argument("--json", type=Path, help="write the results as JSON")
            p.add_argument("--write-baseline", action="store_true",
                           help="record the results (with --wine: tests/winetest/wine-reference-ARCH.json)")
            p.add_argument("--check", action="store_true", help="exit 1 on a regression against the baseline")
            p.add_argument("--wine", action="store_true",
                           help="run under Wine instead (x64), the reference for the build; no baseline")
    a = ap.parse_args(argv)
    try:
        fetch()
        generated_headers()
        if a.cmd == "fetch":
            print(src_root())
            return 0
        files = [tuple(f.split("/", 1)) for f in a.files] or all_files()
        arches = a.arch or list(ARCHES)
        if a.cmd == "build":
            for d, n in files:
                for arch in arches:
                    print(build(d, n, arch))
            return 0
        if a.wine:
            if a.check:
                raise WinetestError("--wine runs are a reference: nothing to check")
            arches = a.arch or ["x64"]
        results = run_many(files, arches, a.jobs, a.timeout, runner=run_one_wine if a.wine else run_one)
    except WinetestError as e:
        print(f"winetest: {e}", file=sys.stderr)
        return 2
    print(table(results))
    if a.json:
        a.json.write_text(json.dumps([asdict(r) for r in results], indent=1) + "\n")
    if a.write_baseline:
        write_baseline(results, wine=a.wine)
    if a.check:
        bad = regressions(results)
        for b in bad:
            print("REGRESSION:", b)
        return 1 if bad else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
