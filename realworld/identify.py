"""Which toolchain built a PE program, read from the binary itself (not guessed from the package):

- Go: the build-info magic (``\\xff Go buildinf:``) or a ``Go build ID:`` note;
- Rust: the standard library's panic machinery strings (``rust_panic``, ``/rustc/<hash>/``), then the
  target's ABI from the imports (MSVC: vcruntime/ucrt or a Rich header; GNU: libgcc/msvcrt);
- MSYS2 / Cygwin: the POSIX layer DLL it imports (``msys-2.0.dll`` / ``cygwin1.dll``); a program of MSYS2's
  native environments (MINGW64, UCRT64) by its gcc's ident string ``Built by MSYS2 project``;
- GHC: its runtime's strings (it links with mingw-w64's gcc and ld, but the code is GHC's);
- Zig: its panic strings with a non-GNU linker version (Zig links with its own lld, a mingw-w64 CRT);
- MSVC: a Rich header (only Microsoft's linker writes one), then the C runtime from the imports:
  ``vcruntime140``/``msvcp140``/``ucrtbase`` (dynamic), ``msvcr90``/``msvcr100``/… (older), none (static);
- clang-cl + lld: no Rich header, linker version 14.0 (lld-link's), MSVC ABI imports or none;
- mingw-w64 gcc: no Rich header, a GNU ld linker version (2.x), msvcrt.dll or the UCRT through
  api-ms-win-crt-*, often libgcc/libwinpthread/libstdc++ DLLs.

    python realworld/identify.py FILE.exe...   # one line per file: arch, toolchain, evidence
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from winhatch.pe import PEFile  # noqa: E402

OLD_MSVCRT = re.compile(r"^msvcr(70|71|80|90|100|110|120)\.dll$")
DYN_MSVC = ("vcruntime140.dll", "vcruntime140_1.dll", "msvcp140.dll", "ucrtbase.dll")


def identify(path: str | Path) -> dict:
    """{'arch', 'toolchain', 'evidence': [...], 'imports': [...], 'linker': 'MAJ.MIN', 'rich': bool}."""
    data = Path(path).read_bytes()
    pe = PEFile.open(str(path))
    try:
        dlls = sorted({d.dll.lower() for d in pe.imports} | {d.dll.lower() for d in pe.delay_imports})
        linker = f"{pe.optional_header.MajorLinkerVersion}.{pe.optional_header.MinorLinkerVersion}"
        rich = pe.rich_header is not None
        arch = pe.arch
    finally:
        pe.close()
    ev: list[str] = [f"linker {linker}", "Rich header" if rich else "no Rich header"]
    crt_dyn = [d for d in dlls if d in DYN_MSVC or d.startswith("api-ms-win-crt-")]
    crt_old = [d for d in dlls if OLD_MSVCRT.match(d)]

    def msvc_crt() -> str:
        if crt_old:
            ev.append("imports " + ", ".join(crt_old))
            return "msvc-old"
        if any(d in DYN_MSVC for d in dlls):
            ev.append("imports " + ", ".join(d for d in dlls if d in DYN_MSVC))
            return "msvc-dynamic"
        if "msvcrt.dll" in dlls:
            ev.append("imports the system msvcrt.dll")
            return "msvc-msvcrt"
        ev.append("no C runtime DLL imported")
        return "msvc-static"

    if b"\xff Go buildinf:" in data or b"Go build ID: \"" in data:
        ev.insert(0, "Go build info" if b"\xff Go buildinf:" in data else "Go build ID")
        tc = "go"
    elif b"rust_panic" in data or re.search(rb"/rustc/[0-9a-f]{40}/", data):
        ev.insert(0, "Rust panic runtime strings")
        if "msys-2.0.dll" in dlls:
            tc = "rust-msys2"
        elif rich or any(d in DYN_MSVC for d in dlls):
            tc = "rust-msvc"
            msvc_crt()
        else:
            tc = "rust-gnu"
    elif "msys-2.0.dll" in dlls:
        ev.insert(0, "imports msys-2.0.dll")
        tc = "msys2"
    elif "cygwin1.dll" in dlls:
        ev.insert(0, "imports cygwin1.dll")
        tc = "cygwin"
    elif b"GHC RTS" in data or b"Glasgow Haskell" in data:
        ev.insert(0, "GHC runtime strings")
        tc = "ghc"
    elif rich:
        tc = msvc_crt()
    elif b"reached unreachable code" in data and b"zig" in data and not linker.startswith("2."):
        ev.insert(0, "Zig runtime panic strings")
        tc = "zig-lld"
    elif not linker.startswith("2.") and "msvcrt.dll" not in dlls and not any(d.startswith("libgcc") for d in dlls):
        # an MSVC-ABI image that Microsoft's linker did not write (it always writes a Rich header): lld-link
        ev.insert(0, "MSVC-ABI image without a Rich header (lld-link)")
        tc = "clang-lld-" + msvc_crt().split("-", 1)[1]
    elif linker.startswith("2.") or "msvcrt.dll" in dlls or any(d.startswith(("libgcc", "libwinpthread", "libstdc++")) for d in dlls):
        ev.insert(0, "GNU ld linker version" if linker.startswith("2.") else "mingw runtime imports")
        tc = "mingw-gcc"
        if b"Built by MSYS2 project" in data:
            # gcc of one of MSYS2's native environments (MINGW64 / UCRT64 / CLANG64): its ident string
            ev.insert(0, "GCC ident 'Built by MSYS2 project'")
            tc = "msys2-mingw"
        if crt_dyn:
            ev.append("UCRT")
        elif "msvcrt.dll" in dlls:
            ev.append("imports msvcrt.dll")
    else:
        tc = "unknown"
    return {"arch": arch, "toolchain": tc, "evidence": ev, "imports": dlls, "linker": linker, "rich": rich}


def main(argv: list[str]) -> int:
    for p in argv:
        try:
            r = identify(p)
        except Exception as e:  # noqa: BLE001 - one line per bad file
            print(f"{p}: cannot identify: {e}")
            continue
        print(f"{p}: {r['arch']} {r['toolchain']} ({'; '.join(r['evidence'])}) imports={','.join(r['imports'])}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
