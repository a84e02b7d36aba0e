"""Build winhatch's host programs (winhatch/hosts/src/*.c) for x86 and x64 with mingw-w64.

    python tools/build_hosts.py            # rebuild winhatch/hosts/<name>-<arch>.exe and SOURCES.sha256
    python tools/build_hosts.py --check    # rebuild into a temporary folder; exit 1 if a byte differs

The hosts are tiny programs without a C runtime (kernel32 and shell32, and what a source's first line
`/* winhatch-host: libs=user32 subsystem=windows */` adds) that `winhatch run` starts in place of a program —
the shellcode host (`--shellcode`) and rundll32 (a DLL, with or without `--export`) — or that the machine's
System32 and SysWOW64 hold under Windows's names (cmd.exe, notepad.exe: winhatch.win32.sysdlls). Their
binaries are committed, so a user's machine needs no compiler; SOURCES.sha256 records the sha256 of each source
they were built from, and the build is reproducible (no timestamp, stripped), which the test suite checks
wherever mingw-w64 is installed.
"""
from __future__ import annotations

import argparse
import hashlib
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HOSTS = ROOT / "winhatch" / "hosts"
TRIPLES = {"x64": "x86_64-w64-mingw32", "x86": "i686-w64-mingw32"}
FLAGS = ["-Os", "-s", "-nostdlib", "-ffreestanding", "-fno-asynchronous-unwind-tables", "-fno-stack-protector",
         "-mno-stack-arg-probe", "-fno-ident", "-Wl,--no-insert-timestamp", "-Wl,--build-id=none"]
DIRECTIVE = re.compile(r"/\*\s*winhatch-host:(.*?)\*/")


def options(src: Path) -> tuple[list[str], str]:
    """A source's extra libraries and subsystem, from its first line's `winhatch-host:` directive."""
    first = src.read_text().split("\n", 1)[0]
    m = DIRECTIVE.search(first)
    kv = dict(w.split("=", 1) for w in m.group(1).split() if "=" in w) if m else {}
    libs = [f"-l{x}" for x in kv.get("libs", "").split(",") if x]
    return libs, kv.get("subsystem", "console")


def build(out_dir: Path) -> dict[str, str]:
    sums = {}
    for src in sorted((HOSTS / "src").glob("*.c")):
        sums[src.name] = hashlib.sha256(src.read_bytes()).hexdigest()
        libs, subsystem = options(src)
        for arch, triple in TRIPLES.items():
            entry = "start" if arch == "x64" else "_start"
            out = out_dir / f"{src.stem}-{arch}.exe"
            cmd = [f"{triple}-gcc", *FLAGS, f"-Wl,--subsystem,{subsystem}", "-e", entry, "-o", str(out), str(src),
                   *libs, "-lkernel32", "-lshell32"]
            r = subprocess.run(cmd, capture_output=True, text=True)
            if r.returncode != 0 or "warning" in r.stderr:
                raise SystemExit(f"build failed: {' '.join(cmd)}\n{r.stderr}")
    return sums


def write_sums(path: Path, sums: dict[str, str]) -> None:
    path.write_text("".join(f"{h}  src/{n}\n" for n, h in sorted(sums.items())))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--check", action="store_true")
    a = ap.parse_args()
    if not a.check:
        sums = build(HOSTS)
        write_sums(HOSTS / "SOURCES.sha256", sums)
        print(f"built {len(sums) * 2} hosts into {HOSTS}")
        return 0
    with tempfile.TemporaryDirectory() as d:
        build(Path(d))
        bad = [p.name for p in sorted(Path(d).glob("*.exe")) if p.read_bytes() != (HOSTS / p.name).read_bytes()]
    if bad:
        print("differ from the committed binaries: " + ", ".join(bad))
        return 1
    print("the committed hosts are what their sources build")
    return 0


if __name__ == "__main__":
    sys.exit(main())
