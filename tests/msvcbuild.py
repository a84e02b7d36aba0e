"""Build MSVC-ABI fixtures with Debian's clang and lld (no MSVC, no MSVC headers or libraries).

`clang --target={i686,x86_64}-pc-windows-msvc` emits what cl.exe emits for C++ exceptions (calls to
_CxxThrowException, the __CxxFrameHandler3 personality with FuncInfo/ThrowInfo/RTTI tables) and for
__try/__except/__finally (x86: _except_handler3 frames with scope tables; x64: __C_specific_handler scope
tables). The fixtures declare the few CRT functions they use themselves and provide their own entry point;
import libraries for vcruntime140.dll, ucrtbase.dll and kernel32.dll are made here from small .def texts
with llvm-dlltool, and lld-link links with /nodefaultlib.

x86 _except_handler4: clang's front end only ever chooses _except_handler3 for x86 SEH, but LLVM's back end
emits complete EH4 frames (encoded scope table, the __security_cookie XOR, EH4_SCOPETABLE cookie offsets)
when the personality is _except_handler4. `build(..., seh4=True)` compiles a C source to LLVM IR, renames
the personality and compiles the IR (x86 only). As with cl.exe, the fixture itself provides the
`_except_handler4` stub that calls vcruntime's `_except_handler4_common` (that stub lives in the static part
of MSVC's CRT library, not in the DLL), and `__security_cookie`.

Outputs are cached by a hash of the sources, options and .def texts in build/fixtures/msvc-<arch>/.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent
SRC = ROOT / "fixtures" / "src"
CACHE = Path(os.environ.get("WINHATCH_FIXTURE_CACHE", ROOT.parent / "build" / "fixtures"))

TRIPLES = {"x86": "i686-pc-windows-msvc", "x64": "x86_64-pc-windows-msvc"}
MACHINES = {"x86": ("i386", "x86"), "x64": ("i386:x86-64", "x64")}

# name -> (x86 decorated symbol or None for cdecl) per DLL; data exports marked DATA
DEFS = {
    "vcruntime140.dll": [
        ("_CxxThrowException", "_CxxThrowException@8"),       # __stdcall on x86
        ("__CxxFrameHandler3", None),
        ("__C_specific_handler", None),                       # x64 only (ignored on x86 by the linker)
        ("_except_handler3", None),
        ("_except_handler4_common", None),
        ("_local_unwind2", None),
        ("_global_unwind2", "_global_unwind2@4"),
        ("_local_unwind4", None),
        ("__std_terminate", None),
        ("memset", None),
        ("memcpy", None),
    ],
    "ucrtbase.dll": [
        ("puts", None), ("exit", None), ("_exit", None), ("abort", None), ("terminate", None),
        ("malloc", None), ("free", None), ("_set_abort_behavior", None), ("strlen", None),
    ],
    "kernel32.dll": [
        ("SetUnhandledExceptionFilter", "SetUnhandledExceptionFilter@4"),
        ("ExitProcess", "ExitProcess@4"),
        ("RaiseException", "RaiseException@16"),
        ("GetCurrentThreadId", "GetCurrentThreadId@0"),
    ],
}


class ToolchainMissing(RuntimeError):
    pass


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise ToolchainMissing(f"{name} not found: run `make test-deps` (installs clang, lld, llvm)")
    return path


def _def_text(dll: str, arch: str) -> str:
    lines = [f"LIBRARY {dll}", "EXPORTS"]
    for name, x86sym in DEFS[dll]:
        if arch == "x86" and x86sym and "@" in x86sym:
            lines.append(f"  {x86sym}")          # llvm-dlltool -k strips the @n from the export name
        else:
            lines.append(f"  {name}")
    return "\n".join(lines) + "\n"


def _run(cmd: list[str]) -> None:
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"msvc fixture build failed: {' '.join(cmd)}\n{r.stdout}{r.stderr}")


def import_libs(arch: str, outdir: Path) -> list[Path]:
    dlltool = _tool("llvm-dlltool")
    libs = []
    for dll in DEFS:
        d = outdir / (Path(dll).stem + ".def")
        d.write_text(_def_text(dll, arch))
        lib = outdir / (Path(dll).stem + ".lib")
        cmd = [dlltool, "-m", MACHINES[arch][0], "-d", str(d), "-l", str(lib)]
        if arch == "x86":
            cmd.append("-k")
        _run(cmd)
        libs.append(lib)
    return libs


def build(source: str, arch: str, *, opt: str = "-O1", seh4: bool = False, out_name: str | None = None) -> Path:
    """Compile and link tests/fixtures/src/<source> for the MSVC ABI; returns the .exe path (cached)."""
    if seh4 and arch != "x86":
        raise ValueError("_except_handler4 frames exist on x86 only")
    src = SRC / source
    out_name = out_name or (src.stem + (".seh4" if seh4 else "") + ".exe")
    h = hashlib.sha256(src.read_bytes())
    h.update(Path(__file__).read_bytes())    # the build recipe itself (flags, .def texts)
    h.update((SRC / "msvc_loadcfg.c").read_bytes())
    h.update(repr((arch, opt, seh4, out_name, sorted((k, tuple(v)) for k, v in DEFS.items()))).encode())
    outdir = CACHE / f"msvc-{arch}" / h.hexdigest()[:16]
    out = outdir / out_name
    if out.exists():
        return out
    clang = _tool("clang")
    lld = _tool("lld-link")
    outdir.mkdir(parents=True, exist_ok=True)
    scratch = outdir / f".build-{os.getpid()}"
    scratch.mkdir(exist_ok=True)
    try:
        libs = import_libs(arch, scratch)
        obj = scratch / (src.stem + ".obj")
        cxx = src.suffix in (".cpp", ".cc")
        base = [clang, f"--target={TRIPLES[arch]}", opt, "-fno-stack-protector", "-ffreestanding",
                "-fno-builtin", "-fms-extensions", "-fasynchronous-unwind-tables"]
        if cxx:
            base[0:1] = [clang, "-x", "c++"]
            base += ["-fexceptions", "-fcxx-exceptions", "-std=c++17", "-fno-threadsafe-statics"]
        if seh4:
            ll = scratch / (src.stem + ".ll")
            _run(base + ["-S", "-emit-llvm", "-o", str(ll), str(src)])
            # the personality becomes the fixture's own _except_handler4 (defined with a C prototype)
            lines = [ln for ln in ll.read_text().splitlines() if not ln.startswith("declare")
                     or "@_except_handler3(" not in ln]
            text = "\n".join(lines).replace("i32 (...)* @_except_handler3",
                                              "i32 (i8*, i8*, i8*, i8*)* @_except_handler4")
            ll.write_text(text + "\n")
            _run([clang, f"--target={TRIPLES[arch]}", opt, "-c", "-o", str(obj), str(ll)])
        else:
            _run(base + ["-c", "-o", str(obj), str(src)])
        objs = [obj]
        if arch == "x86":
            lc = scratch / "msvc_loadcfg.obj"
            _run([clang, f"--target={TRIPLES[arch]}", "-O1", "-c", "-o", str(lc), str(SRC / "msvc_loadcfg.c")])
            objs.append(lc)
        tmp = scratch / out_name
        _run([lld, f"/out:{tmp}", "/entry:mainCRTStartup", "/subsystem:console", "/nodefaultlib",
              f"/machine:{MACHINES[arch][1]}", "/dynamicbase", "/nxcompat",
              *(["/safeseh"] if arch == "x86" else []), *map(str, objs), *map(str, libs)])
        tmp.replace(out)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return out
