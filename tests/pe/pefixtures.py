"""Fixtures for the winhatch.pe tests: compiled sample images and hypothesis profiles."""
from __future__ import annotations

import glob
import importlib.util
import os
import subprocess
from pathlib import Path

from hypothesis import HealthCheck, settings

import fixturebuild

settings.register_profile("default", max_examples=60, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.register_profile("long", max_examples=3000, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

WINE_DIR = Path("/usr/lib/x86_64-linux-gnu/wine/x86_64-windows")


def wine_corpus() -> list[Path]:
    return sorted(p for p in WINE_DIR.iterdir() if p.is_file()) if WINE_DIR.is_dir() else []


def launcher_exes() -> list[Path]:
    """The MSVC-built launchers pip (distlib) and setuptools ship (real-world MSVC images with Rich headers)."""
    out = []
    for pkg, pattern in (("pip._vendor.distlib", "*.exe"), ("setuptools", "*.exe")):
        spec = importlib.util.find_spec(pkg)
        if spec and spec.submodule_search_locations:
            for d in spec.submodule_search_locations:
                out += [Path(p) for p in glob.glob(os.path.join(d, pattern))]
    return sorted(out)


def _dlltool(arch: str) -> str:
    return f"{fixturebuild.TRIPLES[arch]}-dlltool"


def _implib(def_name: str, arch: str, delay: bool) -> Path:
    """An import library (or a delay-load one) made by dlltool from a .def file in tests/fixtures/src."""
    src = fixturebuild.SRC / def_name
    key = fixturebuild.hashlib.sha256(src.read_bytes() + repr((arch, delay, "-D")).encode()).hexdigest()[:16]
    out = fixturebuild.CACHE / arch / key / (f"lib{src.stem}{'_delay' if delay else ''}.a")
    if not out.exists():
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_suffix(f".{os.getpid()}.tmp")
        cmd = [_dlltool(arch), "-d", str(src), "-D", src.stem + ".dll", "-y" if delay else "-l", str(tmp)]
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode:
            raise RuntimeError(f"{' '.join(cmd)} failed: {r.stderr}")
        tmp.replace(out)
    return out


_build = fixturebuild.build


def build_pe_fixtures(arch: str) -> dict[str, Path]:
    exports_dll = _build(["pe_exports.c", "pe_exports.def"], arch, dll=True, flags=["-DPE_FIXTURE_DLL"])
    delay_dll = _build(["pe_delaydll.c", "pe_delaydll.def"], arch, dll=True, flags=["-DPE_FIXTURE_DLL"])
    libs = [_implib("pe_exports.def", arch, False), _implib("pe_delaydll.def", arch, True)]
    imports_exe = _build("pe_imports.c", arch, flags=["-DPE_FIXTURE_LINKED", "-Wl,--dynamicbase"], libs=[str(p) for p in libs],
                                     extra_inputs=libs)
    plain = _build("pe_plain.c", arch)
    return {"exports": exports_dll, "delaydll": delay_dll, "imports": _with_delay_directory(imports_exe, arch),
            "plain": plain}


def _with_delay_directory(exe: Path, arch: str) -> Path:
    """GNU ld 2.40 links dlltool's delay-load descriptors but leaves data directory 13 empty; point it at the
    descriptor (found through the image's COFF symbol table) so the fixture carries a real delay-import table.
    ld emits no all-zero terminator after it, so the directory's size (one descriptor) bounds the table."""
    out = exe.with_name(exe.stem + "_delay" + exe.suffix)
    if out.exists():
        return out
    nm = subprocess.run([f"{fixturebuild.TRIPLES[arch]}-nm", str(exe)], capture_output=True, text=True, check=True)
    va = next(int(line.split()[0], 16) for line in nm.stdout.splitlines() if "__DELAY_IMPORT_DESCRIPTOR_" in line)
    data = bytearray(exe.read_bytes())
    lfanew = int.from_bytes(data[0x3C:0x40], "little")
    opt = lfanew + 24
    pe32plus = data[opt:opt + 2] == b"\x0b\x02"
    base = int.from_bytes(data[opt + 24:opt + 32], "little") if pe32plus else int.from_bytes(data[opt + 28:opt + 32], "little")
    dd = opt + (112 if pe32plus else 96) + 8 * 13
    data[dd:dd + 8] = (va - base).to_bytes(4, "little") + (32).to_bytes(4, "little")
    tmp = out.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_bytes(data)
    tmp.replace(out)
    return out
