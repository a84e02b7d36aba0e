"""Record the expected output of the fixture programs from Wine, for x64 and x86.

    .venv/bin/python tools/record_expected.py                  # every conf_*.c and every program below
    .venv/bin/python tools/record_expected.py argv thr_basic   # only conf_argv.c and thr_basic
    .venv/bin/python tools/record_expected.py --arch x86       # only the x86 expectations
    .venv/bin/python tools/record_expected.py --check          # run them again, compare, write nothing

Adding a conformance test is adding `tests/fixtures/src/conf_<name>.c` and running this tool: it builds the
fixture with mingw-w64 (tests/fixturebuild.py, cached), runs each build under Wine and writes

    tests/fixtures/expected/conf_<name>.x64.txt   the x64 program's stdout, byte for byte, then `exit=<code>`
    tests/fixtures/expected/conf_<name>.x86.txt   the same for the x86 build

tests/win32/test_conformance.py runs every fixture for both architectures under winhatch and compares.
The hand-written tests of threads, processes, exceptions and the C++ runtime read the expectations of the
programs in PROGRAMS below (tests/fixtures/expected/<out>.<arch>.txt), recorded the same way.

Both architectures are real Wine runs, each in its own 64-bit Windows 10 prefix:
    x64   /usr/lib/wine/wine64 (Debian's wine64) in build/wineprefix
    x86   /usr/lib/wine/wine   (Debian's wine32, an i386 package) in build/wineprefix32, a 64-bit prefix
          created with wine32 installed, so the program runs under WoW64 as an x86 program on 64-bit Windows
          does (and as winhatch runs it). One-time install, only for recording (tests read the files):
              dpkg --add-architecture i386 && apt-get update && apt-get install wine32
          `--wine32 PATH` names another 32-bit loader.

Directives, in `//` comment lines of a conformance fixture's source (each may repeat):

    // winhatch-fixture: flags=-D__USE_MINGW_ANSI_STDIO=0 -O2     compiler flags (shell words)
    // winhatch-fixture: libs=-lshlwapi                            libraries (shell words)
    // winhatch-fixture: args=plain "with space" 'back\\slash'     program arguments (shell words, POSIX rules)
    // winhatch-fixture: display=xvfb                              Wine runs it under Xvfb (xvfb-run, package
                                                                   xvfb): a Wine without a display fails to
                                                                   create windows (user32 fixtures)
    // winhatch-windows: "wine text" -> "windows text"  why        where Wine differs from Windows

A `winhatch-windows` rule replaces text in Wine's output, for both architectures, by what Windows prints (the
reason is required and should cite documentation or Wine's own conformance tests); a rule that matches nothing
is an error, so stale rules are noticed. (Before 32-bit Wine was used here, `winhatch-x86` rules derived the x86
expectation from the x64 one; they are gone, and one left in a source is an error.)
"""
from __future__ import annotations

import argparse
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "tests" / "fixtures" / "src"
EXPECTED = ROOT / "tests" / "fixtures" / "expected"
ARCHES = ("x64", "x86")
WINE64 = "/usr/lib/wine/wine64"
WINE32 = "/usr/lib/wine/wine"
PREFIXES = {"x64": ROOT / "build" / "wineprefix", "x86": ROOT / "build" / "wineprefix32"}
TIMEOUT = 120


class FixtureError(Exception):
    pass


@dataclass
class Rule:
    old: str
    new: str
    reason: str


@dataclass
class Fixture:
    name: str                      # "argv" for conf_argv.c
    source: Path
    flags: list[str] = field(default_factory=list)
    libs: list[str] = field(default_factory=list)
    args: list[str] = field(default_factory=list)
    windows_rules: list[Rule] = field(default_factory=list)
    display: str | None = None     # "xvfb": Wine runs the program under Xvfb (windows need a display)

    def expected_path(self, arch: str) -> Path:
        return EXPECTED / f"conf_{self.name}.{arch}.txt"


@dataclass
class Program:
    """A fixture program whose expectation a hand-written test reads (not a conf_*.c): its output is Wine's,
    unchanged; the test itself says where Windows differs."""
    out: str                       # tests/fixtures/expected/<out>.<arch>.txt
    source: str                    # under tests/fixtures/src
    args: list[str] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)
    dlls: list[str] = field(default_factory=list)   # companion DLL sources, linked and copied beside the program
    exit_line: bool = True         # False: the file is stdout only (the exceptions tests check the exit code)

    def expected_path(self, arch: str) -> Path:
        return EXPECTED / f"{self.out}.{arch}.txt"


STATIC = ["-static"]  # the C++ runtime inside the program, as tests/win32/test_exceptions.py builds it
PROGRAMS = [
    Program("thr_basic", "thr_basic.c"),
    Program("thr_sum", "thr_sum.c"),
    Program("thr_objects", "thr_objects.c"),
    Program("thr_attach", "thr_attach.c", dlls=["thr_dll.c"]),
    Program("thr_nocallout", "thr_nocallout.c", dlls=["thr_dll.c"]),
    Program("thr_nested", "thr_nested.c", dlls=["thr_ndll.c"]),
    Program("proc_pipe", "proc_pipe.c"),
    Program("exc_seh", "exc_seh.c", exit_line=False),
    *(Program(f"exc_filter.{mode}", "exc_filter.c", args=[mode], exit_line=False)
      for mode in ("execute", "continue", "search", "divide")),
    Program("exc_cxx", "exc_cxx.cpp", flags=STATIC, exit_line=False),
    Program("crt_iostream", "crt_iostream.cpp", flags=STATIC, args=["arg"]),
]


_DIRECTIVE = re.compile(r"^\s*//\s*winhatch-([\w-]+):\s*(.*?)\s*$")


_RULE = re.compile(r'^"((?:[^"\\]|\\.)*)"\s*->\s*"((?:[^"\\]|\\.)*)"\s*(.*)$')


def _unescape(s: str) -> str:
    return re.sub(r"\\(.)", r"\1", s)


def _rule(text: str, where: str) -> Rule:
    """`"old" -> "new" reason` (inside the quotes, \\" is a quote and \\\\ a backslash)."""
    m = _RULE.match(text)
    if not m:
        raise FixtureError(f'{where}: a rule is "old" -> "new" reason; got {text!r}')
    return Rule(_unescape(m[1]), _unescape(m[2]), m[3].strip())


def parse_fixture(source: Path) -> Fixture:
    """Read a conf_*.c fixture's directives."""
    name = source.stem[len("conf_"):]
    fx = Fixture(name, source)
    for lineno, line in enumerate(source.read_text(errors="replace").splitlines(), 1):
        m = _DIRECTIVE.match(line)
        if not m:
            continue
        kind, rest = m.groups()
        where = f"{source.name}:{lineno}"
        if kind == "fixture":
            key, sep, value = rest.partition("=")
            if sep and key.strip() == "display":
                if value.strip() != "xvfb":
                    raise FixtureError(f"{where}: display= takes xvfb, got {value.strip()!r}")
                fx.display = "xvfb"
                continue
            if not sep or key.strip() not in ("flags", "libs", "args"):
                raise FixtureError(f"{where}: expected flags=, libs= or args=, got {rest!r}")
            try:
                words = shlex.split(value)
            except ValueError as e:
                raise FixtureError(f"{where}: {e}") from None
            getattr(fx, key.strip()).extend(words)
        elif kind == "windows":
            r = _rule(rest, where)
            if not r.reason:
                raise FixtureError(f"{where}: a winhatch-windows rule needs a reason")
            fx.windows_rules.append(r)
        elif kind == "x86":
            raise FixtureError(f"{where}: winhatch-x86 rules are gone: the x86 expectation is recorded from "
                               f"32-bit Wine (delete the line and re-record)")
        else:
            raise FixtureError(f"{where}: unknown directive winhatch-{kind} (fixture or windows)")
    return fx


def fixtures(names: list[str] | None = None) -> list[Fixture]:
    out = [parse_fixture(p) for p in sorted(SRC.glob("conf_*.c"))]
    if names:
        want = {n.removeprefix("conf_").removesuffix(".c") for n in names}
        missing = want - {f.name for f in out}
        if missing:
            raise FixtureError(f"no such conformance fixture: {', '.join(sorted(missing))}")
        out = [f for f in out if f.name in want]
    return out


def select(names: list[str]) -> list[Fixture | Program]:
    """Conformance fixtures and programs by name (`argv`, `conf_argv.c`, `thr_basic`, `exc_filter` for all
    its modes, `exc_filter.search`); everything when no name is given."""
    confs = fixtures()
    if not names:
        return [*confs, *PROGRAMS]
    chosen: list[Fixture | Program] = []
    for n in names:
        stem = n.removesuffix(".c")
        hits = [f for f in confs if f.name == stem.removeprefix("conf_")] or \
               [p for p in PROGRAMS if stem in (p.out, p.out.split(".")[0])]
        if not hits:
            raise FixtureError(f"no conformance fixture or program called {n!r}")
        chosen += [h for h in hits if h not in chosen]
    return chosen


def expected_bytes(stdout: bytes, exit_code: int) -> bytes:
    """The expected-file format: stdout as written, then a line `exit=<code & 0xFF>`."""
    sep = b"" if not stdout or stdout.endswith(b"\n") else b"\n"
    return stdout + sep + f"exit={exit_code & 0xFF}\n".encode()


def apply_rules(data: bytes, rules: list[Rule], what: str) -> bytes:
    for r in rules:
        old, new = r.old.encode("utf-8"), r.new.encode("utf-8")
        if old not in data:
            raise FixtureError(f"{what}: rule {r.old!r} -> {r.new!r} matches nothing (stale rule?)")
        data = data.replace(old, new)
    return data


# ------------------------------------------------------------------------------------------ Wine
@dataclass
class Wine:
    arch: str
    loader: str
    prefix: Path

    def env(self) -> dict:
        # winedbg.exe disabled: on an unhandled exception Wine starts `winedbg --auto` (AeDebug), which writes
        # its crash dump into the program's stdout; Windows' error reporting writes nothing there
        return dict(os.environ, WINEPREFIX=str(self.prefix), WINEDEBUG="-all",
                    WINEDLLOVERRIDES="mscoree,mshtml=;winedbg.exe=d")

    def ensure_prefix(self) -> None:
        """A 64-bit Windows 10 prefix, created on first use; the x86 one must have its WoW64 half."""
        if not (self.prefix / "system.reg").exists():
            self.prefix.parent.mkdir(parents=True, exist_ok=True)
            print(f"creating the Wine prefix {self.prefix} (Windows 10) ...", file=sys.stderr)
            subprocess.run([self.loader, "winecfg", "-v", "win10"], env=self.env(), capture_output=True,
                           timeout=300)
            # the registry reaches the disk when the wineserver exits
            subprocess.run([str(Path(self.loader).with_name("wineserver")), "-w"], env=self.env(),
                           capture_output=True, timeout=300)
        head = (self.prefix / "system.reg").read_text(errors="replace")[:4096] \
            if (self.prefix / "system.reg").exists() else ""
        if "#arch=win64" not in head:
            raise FixtureError(f"{self.prefix} is not a 64-bit Wine prefix (remove it to have it created again)")
        if self.arch == "x86" and not (self.prefix / "drive_c/windows/syswow64/kernel32.dll").exists():
            raise FixtureError(f"{self.prefix} has no WoW64 half (syswow64): it was created without wine32; "
                               f"remove it to have it created again")

    def run(self, exe: Path, args: list[str], companions: list[Path] = (), display: str | None = None
            ) -> tuple[bytes, int]:
        """Run a private copy of the program (and its DLLs) in a scratch directory, as the tests do."""
        self.ensure_prefix()
        wrap = []
        if display == "xvfb":
            if shutil.which("xvfb-run") is None:
                raise FixtureError("this fixture needs a display for Wine: apt-get install xvfb (xvfb-run)")
            wrap = ["xvfb-run", "-a"]
        with tempfile.TemporaryDirectory(prefix="whconf-") as d:
            for f in (exe, *companions):
                shutil.copy2(f, Path(d) / f.name)
            r = subprocess.run([*wrap, self.loader, str(Path(d) / exe.name), *args], env=self.env(), cwd=d,
                               capture_output=True, timeout=TIMEOUT, stdin=subprocess.DEVNULL)
        return r.stdout, r.returncode


def wines(arches: list[str], wine32: str | None) -> dict[str, Wine]:
    """The Wine for each architecture asked for; FixtureError naming the package when one is missing."""
    out = {}
    for arch in arches:
        loader = WINE64 if arch == "x64" else (wine32 or WINE32)
        if not Path(loader).exists():
            pkg = "wine64" if arch == "x64" else \
                "wine32 (dpkg --add-architecture i386 && apt-get update && apt-get install wine32)"
            raise FixtureError(f"{loader} not found: the {arch} expectations need {pkg}; "
                               f"--arch {'x86' if arch == 'x64' else 'x64'} records the other one only")
        out[arch] = Wine(arch, loader, PREFIXES[arch])
    return out


# ------------------------------------------------------------------------------------------ recording
def _fixturebuild():
    if str(ROOT / "tests") not in sys.path:
        sys.path.insert(0, str(ROOT / "tests"))
    import fixturebuild
    return fixturebuild


def build(fx: Fixture, arch: str) -> Path:
    return _fixturebuild().build(fx.source.name, arch, flags=fx.flags, libs=fx.libs)


def build_program(p: Program, arch: str) -> tuple[Path, list[Path]]:
    """The program and its companion DLLs, built as the tests build them (same cache entries)."""
    fb = _fixturebuild()
    dlls = [fb.build(d, arch, dll=True) for d in p.dlls]
    if dlls:
        exe = fb.build(p.source, arch, flags=p.flags, libs=[str(x) for x in dlls], extra_inputs=dlls)
    else:
        exe = fb.build(p.source, arch, flags=p.flags)
    return exe, dlls


def expectation(item: Fixture | Program, wine: Wine) -> bytes:
    """What the expected file for this architecture should hold, from a fresh Wine run."""
    if isinstance(item, Fixture):
        out, code = wine.run(build(item, wine.arch), item.args, display=item.display)
        return apply_rules(expected_bytes(out, code), item.windows_rules, f"conf_{item.name} (windows rules)")
    exe, dlls = build_program(item, wine.arch)
    out, code = wine.run(exe, item.args, dlls)
    return expected_bytes(out, code) if item.exit_line else out


def record(item: Fixture | Program, wine: Wine, *, check: bool = False) -> tuple[Path, bool]:
    """Record one expectation (or, with check, only compare); returns (path, whether it changed)."""
    path = item.expected_path(wine.arch)
    data = expectation(item, wine)
    changed = not path.exists() or path.read_bytes() != data
    if changed and not check:
        EXPECTED.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return path, changed


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("names", nargs="*", help="fixture or program names (argv for conf_argv.c, thr_basic, "
                                             "exc_filter); all when none")
    ap.add_argument("--arch", action="append", choices=ARCHES, help="only this architecture (repeatable)")
    ap.add_argument("--wine32", metavar="WINE", help=f"the 32-bit Wine loader for x86 (default {WINE32})")
    ap.add_argument("--check", action="store_true", help="run under Wine and compare with the committed "
                                                         "files; write nothing, exit 1 on a difference")
    ns = ap.parse_args(argv)
    arches = [a for a in ARCHES if a in (ns.arch or ARCHES)]
    differ = []
    try:
        by_arch = wines(arches, ns.wine32)
        for item in select(ns.names):
            for arch in arches:
                path, changed = record(item, by_arch[arch], check=ns.check)
                rel = path.relative_to(ROOT)
                if ns.check:
                    print(f"{'DIFFERS' if changed else 'same   '} {rel}")
                    if changed:
                        differ.append(rel)
                else:
                    print(f"{'written' if changed else 'same   '} {rel}")
    except (FixtureError, RuntimeError, subprocess.TimeoutExpired) as e:
        print(f"record_expected: {e}", file=sys.stderr)
        return 1
    if differ:
        print(f"record_expected: {len(differ)} expectation(s) differ from Wine today", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
