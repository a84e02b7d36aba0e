"""Loader fixtures: programs and DLLs built together (DLLs first, programs linked against them)."""
import os
import shutil

import pytest

import fixturebuild

# Both DLLs get the same preferred base, so the loader must relocate one of them.
SHARED_BASE = {"x86": "0x10000000", "x64": "0x3f000000"}


def implib(def_name, arch, delay=False):
    """An import library made from a .def file with dlltool (needed to import NONAME exports by ordinal);
    delay=True makes a delay-load import library (dlltool -y)."""
    import hashlib
    import subprocess
    src = fixturebuild.SRC / def_name
    key = hashlib.sha256(src.read_bytes() + arch.encode() + bytes([delay])).hexdigest()[:16]
    out = fixturebuild.CACHE / arch / key / ("lib" + src.stem + ("_delay" if delay else "") + ".a")
    if not out.exists():
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(f".{os.getpid()}.{out.name}")  # concurrent workers never share a temp file
        subprocess.run([f"{fixturebuild.TRIPLES[arch]}-dlltool", "-d", str(src), "-y" if delay else "-l", str(tmp)],
                       check=True)
        tmp.replace(out)
    return out


def _dll(src, arch, extra=(), def_file=None):
    flags = [f"-Wl,--image-base={SHARED_BASE[arch]}", *extra]
    srcs = [src] + ([def_file] if def_file else [])
    return fixturebuild.build(srcs, arch, dll=True, flags=flags)


@pytest.fixture(scope="session")
def ldr_bins():
    """{arch: {name: Path}} for every loader fixture, each app with its DLLs in one directory."""
    out = {}
    for arch in ("x86", "x64"):
        a = _dll("ldr_dlla.c", arch)
        b = fixturebuild.build("ldr_dllb.c", arch, dll=True, flags=[f"-Wl,--image-base={SHARED_BASE[arch]}"],
                               libs=[str(a)], extra_inputs=[a])
        c = fixturebuild.build(["ldr_dllc.c", "ldr_dllc.def"], arch, dll=True)
        fail = fixturebuild.build("ldr_initfail.c", arch, dll=True)
        libc = implib("ldr_dllc.def", arch)
        main = fixturebuild.build("ldr_main.c", arch, libs=[str(a), str(b), str(libc)], extra_inputs=[a, b, libc])
        loadlib = fixturebuild.build("ldr_loadlib.c", arch)
        useinit = fixturebuild.build("ldr_useinitfail.c", arch, libs=[str(fail)], extra_inputs=[fail])
        missing = fixturebuild.build("ldr_missing.c", arch, libs=[str(a)], extra_inputs=[a])
        delay = fixturebuild.build("ldr_delay.c", arch, libs=[str(implib("ldr_dlla.def", arch, delay=True))],
                                   extra_inputs=[implib("ldr_dlla.def", arch, delay=True)])
        out[arch] = {"a": a, "delay": delay, "b": b, "c": c, "fail": fail, "main": main, "loadlib": loadlib, "useinit": useinit,
                     "missing": missing, "tls": fixturebuild.build("ldr_tls.c", arch),
                     "pebwalk": fixturebuild.build("ldr_pebwalk.c", arch)}
    return out


@pytest.fixture
def app_dir(tmp_path):
    """A fresh application directory; copy(path, name=None) puts a built file in it and returns its path."""
    def copy(path, name=None):
        dst = tmp_path / (name or path.name)
        shutil.copy(path, dst)
        return dst
    copy.dir = tmp_path
    return copy
