"""Record the expected output of the conformance fixtures (tests/fixtures/src/conf_*.c) from Wine.

    .venv/bin/python tools/record_expected.py            # every conf_*.c
    .venv/bin/python tools/record_expected.py argv files # only conf_argv.c and conf_files.c

Adding a conformance test is adding `tests/fixtures/src/conf_<name>.c` and running this tool: it builds the
fixture with mingw-w64 (tests/fixturebuild.py, cached), runs the x64 build under wine64 in a private Windows 10
prefix (build/wineprefix, created on first use), and writes

    tests/fixtures/expected/conf_<name>.x64.txt   the program's stdout, byte for byte, then `exit=<code>`
    tests/fixtures/expected/conf_<name>.x86.txt   the same for the x86 build (see below)

tests/win32/test_conformance.py runs every fixture for both architectures under winhatch and compares.

Directives, in `//` comment lines of the fixture source (each may repeat):

    // winhatch-fixture: flags=-D__USE_MINGW_ANSI_STDIO=0 -O2     compiler flags (shell words)
    // winhatch-fixture: libs=-lshlwapi                            libraries (shell words)
    // winhatch-fixture: args=plain "with space" 'back\\slash'     program arguments (shell words, POSIX rules)
    // winhatch-windows: "wine text" -> "windows text"  why        where Wine differs from Windows
    // winhatch-x86: "x64 text" -> "x86 text"  why                 how the x86 output differs from x64

A `winhatch-windows` rule replaces text in Wine's output by what Windows prints (the reason is required
and should cite documentation or Wine's own conformance tests); a rule that matches nothing is an error,
so stale rules are noticed.

x86: this machine has no 32-bit Wine (wine32 is an i386 package), so the x86 expectation is derived from the
x64 recording plus the fixture's `winhatch-x86` rules. That is only valid for programs whose output does not
depend on pointer size except through those rules; a fixture that prints pointer-size-dependent values must
carry a rule for each. If 32-bit Wine is available (`wine` able to run PE32), `--wine32` records x86 directly.
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
PREFIX = ROOT / "build" / "wineprefix"
WINE64 = "/usr/lib/wine/wine64"
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
    x86_rules: list[Rule] = field(default_factory=list)

    def expected_path(self, arch: str) -> Path:
        return EXPECTED / f"conf_{self.name}.{arch}.txt"


_DIRECTIVE = re.compile(r"^\s*//\s*winhatch-(fixture|windows|x86):\s*(.*?)\s*$")


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
        else:
            fx.x86_rules.append(_rule(rest, where))
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
def ensure_prefix(wine: str) -> dict:
    env = dict(os.environ, WINEPREFIX=str(PREFIX), WINEDEBUG="-all", WINEDLLOVERRIDES="mscoree,mshtml=")
    if not (PREFIX / "system.reg").exists():
        PREFIX.parent.mkdir(parents=True, exist_ok=True)
        print(f"creating the Wine prefix {PREFIX} (Windows 10) ...", file=sys.stderr)
        subprocess.run([wine, "winecfg", "-v", "win10"], env=env, capture_output=True, timeout=300)
    return env


def run_wine(wine: str, exe: Path, args: list[str]) -> tuple[bytes, int]:
    env = ensure_prefix(wine)
    with tempfile.TemporaryDirectory(prefix="whconf-") as d:
        local = Path(d) / exe.name
        shutil.copy2(exe, local)
        r = subprocess.run([wine, str(local), *args], env=env, cwd=d, capture_output=True, timeout=TIMEOUT,
                           stdin=subprocess.DEVNULL)
    return r.stdout, r.returncode


def build(fx: Fixture, arch: str) -> Path:
    sys.path.insert(0, str(ROOT / "tests"))
    import fixturebuild
    return fixturebuild.build(fx.source.name, arch, flags=fx.flags, libs=fx.libs)


def record(fx: Fixture, *, wine32: str | None = None) -> list[Path]:
    written = []
    exe = build(fx, "x64")
    out, code = run_wine(WINE64, exe, fx.args)
    x64 = apply_rules(expected_bytes(out, code), fx.windows_rules, f"conf_{fx.name} (windows rules)")
    EXPECTED.mkdir(parents=True, exist_ok=True)
    fx.expected_path("x64").write_bytes(x64)
    written.append(fx.expected_path("x64"))
    if wine32:
        out32, code32 = run_wine(wine32, build(fx, "x86"), fx.args)
        x86 = apply_rules(expected_bytes(out32, code32), fx.windows_rules, f"conf_{fx.name} (windows rules)")
    else:
        x86 = apply_rules(x64, fx.x86_rules, f"conf_{fx.name} (x86 rules)")
    fx.expected_path("x86").write_bytes(x86)
    written.append(fx.expected_path("x86"))
    return written


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("names", nargs="*", help="fixture names (argv for conf_argv.c); all when none")
    ap.add_argument("--wine32", metavar="WINE", help="a Wine able to run 32-bit programs: record x86 with it")
    ns = ap.parse_args(argv)
    if not Path(WINE64).exists():
        print(f"record_expected: {WINE64} not found (apt-get install wine64)", file=sys.stderr)
        return 2
    try:
        for fx in fixtures(ns.names):
            for p in record(fx, wine32=ns.wine32):
                print(p.relative_to(ROOT))
    except (FixtureError, RuntimeError, subprocess.TimeoutExpired) as e:
        print(f"record_expected: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
