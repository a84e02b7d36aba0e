"""Compile the repo's C/C++ fixture sources with mingw-w64, for x86 and x64, cached by source hash.

Used by tests (the `fixture` pytest fixture in conftest.py) and by `make fixtures`.
"""
from __future__ import annotations

import hashlib
import re
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
SRC = ROOT / "fixtures" / "src"
CACHE = Path(os.environ.get("WINHATCH_FIXTURE_CACHE", ROOT.parent / "build" / "fixtures"))

TRIPLES = {"x86": "i686-w64-mingw32", "x64": "x86_64-w64-mingw32"}


class ToolchainMissing(RuntimeError):
    pass


def compiler(arch: str, cxx: bool = False) -> str:
    tool = f"{TRIPLES[arch]}-{'g++' if cxx else 'gcc'}"
    if shutil.which(tool) is None:
        raise ToolchainMissing(f"{tool} not found: run `make test` (installs gcc-mingw-w64 / g++-mingw-w64)")
    return tool


def _local_includes(paths: list[Path]) -> list[Path]:
    """The fixture sources a source includes with #include "name" (one level: a variant of a fixture built
    with other flags includes it), so that an edit of the included file rebuilds the variant too."""
    out = []
    for p in paths:
        for m in re.finditer(r'^\s*#\s*include\s+"([^"]+)"', p.read_text(errors="replace"), re.M):
            q = p.parent / m[1]
            if q.is_file():
                out.append(q)
    return out


def build(sources: str | list[str], arch: str, *, out_name: str | None = None, dll: bool = False,
          flags: list[str] | None = None, libs: list[str] | None = None, extra_inputs: list[Path] | None = None) -> Path:
    """Build fixture(s) under tests/fixtures/src into an .exe/.dll; returns its path.

    The output lives in build/fixtures/<arch>/<hash>/<out_name>; the hash covers the sources, flags, arch and
    any extra inputs (import libraries, .def files), so an edit rebuilds and nothing is rebuilt twice.
    """
    if isinstance(sources, str):
        sources = [sources]
    paths = [SRC / s for s in sources]
    flags = list(flags or [])
    libs = list(libs or [])
    cxx = any(p.suffix in (".cpp", ".cc", ".cxx") for p in paths)
    stem = Path(sources[0]).stem
    out_name = out_name or (stem + (".dll" if dll else ".exe"))
    # a source's resource script (name.rc next to name.c) is compiled with windres and linked in
    rcs = [p.with_suffix(".rc") for p in paths if p.with_suffix(".rc").is_file()]
    h = hashlib.sha256()
    for p in paths + rcs + _local_includes(paths) + [Path(x) for x in (extra_inputs or [])]:
        h.update(p.name.encode())
        h.update(p.read_bytes())
    h.update(repr((arch, dll, flags, libs, out_name)).encode())
    key = h.hexdigest()[:16]
    outdir = CACHE / arch / key
    out = outdir / out_name
    if out.exists():
        return out
    outdir.mkdir(parents=True, exist_ok=True)
    cmd = [compiler(arch, cxx), "-O1", "-o", str(out), *map(str, paths), *flags]
    if dll:
        cmd.insert(1, "-shared")
    cmd += libs
    # build under the final file name (a DLL records its own name in its export directory), in a
    # per-process scratch directory, then move into place: concurrent test workers never collide
    scratch = outdir / f".build-{os.getpid()}"
    scratch.mkdir(exist_ok=True)
    tmp = scratch / out_name
    cmd[cmd.index("-o") + 1] = str(tmp)
    for rc in rcs:
        obj = scratch / (rc.stem + ".res.o")
        rcmd = [f"{TRIPLES[arch]}-windres", str(rc), "-O", "coff", "-o", str(obj)]
        r = subprocess.run(rcmd, capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError(f"fixture resource build failed: {' '.join(rcmd)}\n{r.stderr}")
        cmd.insert(cmd.index("-o") + 2, str(obj))
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"fixture build failed: {' '.join(cmd)}\n{r.stderr}")
    tmp.replace(out)
    shutil.rmtree(scratch, ignore_errors=True)
    return out


def is_dll_source(src: Path) -> bool:
    """A fixture source without a main() is a DLL (its .def file, if any, is used by the tests that need it)."""
    return "main(" not in src.read_text(errors="replace")


def _directives(src: Path) -> tuple[list[str], list[str]]:
    """A conf_*.c fixture's own flags= and libs= (its `// winhatch-fixture:` lines, read by the conformance
    recorder's parser), so the build here is the one its test makes (the same cache key) and links."""
    if "// winhatch-fixture:" not in src.read_text(errors="replace"):
        return [], []
    import importlib.util
    spec = importlib.util.spec_from_file_location("record_expected", ROOT.parent / "tools" / "record_expected.py")
    mod = sys.modules.get("record_expected")
    if mod is None:
        mod = importlib.util.module_from_spec(spec)
        sys.modules["record_expected"] = mod
        spec.loader.exec_module(mod)
    fx = mod.parse_fixture(src)
    return list(fx.flags), list(fx.libs)


if __name__ == "__main__":  # `python tests/fixturebuild.py` builds every single-file fixture for both arches
    # Sources that import from other fixture DLLs are built by their tests, which know the companions.
    n = 0
    deferred = []
    failed = []
    for src in sorted(SRC.glob("*.c*")):
        if src.name.startswith(("msvc_", "msvcp_")):  # MSVC-ABI programs: clang and lld build them
            # (tests/msvcbuild.py; the msvcp_ ones against Microsoft's STL, tests/msvcstl.py)
            deferred.append(src.name)
            continue
        if "__declspec(dllimport)" in src.read_text(errors="replace") or src.with_suffix(".def").exists():
            deferred.append(src.name)
            continue
        flags, libs = _directives(src)
        for arch in TRIPLES:
            try:
                build(src.name, arch, dll=is_dll_source(src), flags=flags, libs=libs)
            except RuntimeError as e:
                failed.append(f"{src.name} ({arch}): {str(e).splitlines()[-1][:160]}")
                continue
            n += 1
    if failed:   # a fixture that needs libraries must name them: // winhatch-fixture: libs=...
        print("fixtures that do not build on their own:\n  " + "\n  ".join(failed), file=sys.stderr)
        sys.exit(1)
    print(f"built {n} fixtures into {CACHE}; {len(deferred)} (with companion DLLs, or MSVC-ABI) are built by "
          f"their tests",
          file=sys.stderr)
