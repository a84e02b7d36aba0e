#!/usr/bin/env python3
"""Build winhatch's user-mode machine code (winhatch/win32/native_src/*.c) into winhatch/win32/data/native.json.

Each source is compiled with mingw-w64 for x86 and x64 (freestanding, no C runtime, no unwind tables) into a
COFF object; this script links the objects' code and read-only data into one position-independent blob per
architecture:
  - a PC-relative reference (x64 REL32*, x86 REL32) to a symbol of the blob is resolved here;
  - an absolute reference to the blob (x64 ADDR64, x86 DIR32 — x86 has no PC-relative data addressing) is
    kept as `abs`: the system DLL that places the blob stores the address there and adds a base relocation;
  - a reference to __wh_py_NAME (the framed API stub of export NAME: the Python path) or __wh_data_NAME (the
    DLL's internal data NAME) is kept as `ext`, resolved when the DLL is built (winhatch.win32.sysdlls);
    __wh_py_ references must be jumps (tail calls), never calls;
  - anything else (writable data, an import, an unknown relocation type) is an error.
The output records the sha256 of the sources and of this script's compiler flags; tests/win32/test_native.py
checks the hash, and rebuilds and compares the bytes wherever the same compiler is installed.  A user's
machine needs no compiler.

    python tools/build_native.py            # rebuild and write the JSON
    python tools/build_native.py --check    # rebuild and compare with the committed JSON (exit 1 if different)
"""
from __future__ import annotations

import argparse
import hashlib
import json
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "winhatch" / "win32" / "native_src"
OUT = ROOT / "winhatch" / "win32" / "data" / "native.json"
CC = {"x64": "x86_64-w64-mingw32-gcc", "x86": "i686-w64-mingw32-gcc"}
CFLAGS = ["-O2", "-ffreestanding", "-fno-builtin", "-nostdlib", "-fno-asynchronous-unwind-tables",
          "-fno-unwind-tables", "-fno-exceptions", "-fno-stack-protector", "-fno-stack-check",
          "-fno-tree-loop-distribute-patterns", "-fno-jump-tables", "-fno-pic", "-mno-stack-arg-probe",
          "-fomit-frame-pointer", "-Wall", "-Werror", "-std=gnu11"]
ARCH_FLAGS = {"x64": [], "x86": ["-march=i686", "-mno-sse"]}

# COFF relocation types
X64_ADDR64, X64_REL32 = 0x0001, 0x0004          # REL32_1..5 = 5..9
I386_DIR32, I386_REL32 = 0x0006, 0x0014
CODE_SECTIONS = (".text", ".rdata")


class BuildError(Exception):
    pass


def source_files() -> list[Path]:
    return sorted(p for p in SRC.iterdir() if p.suffix in (".c", ".h", ".S"))


def source_hash() -> str:
    """sha256 over the sources (names and bytes) and the compiler flags."""
    h = hashlib.sha256()
    h.update(json.dumps([CFLAGS, ARCH_FLAGS], sort_keys=True).encode())
    for p in source_files():
        h.update(p.name.encode() + b"\0" + p.read_bytes() + b"\0")
    return h.hexdigest()


def compiler_version(arch: str) -> str:
    out = subprocess.run([CC[arch], "--version"], capture_output=True, text=True, check=True).stdout
    return out.splitlines()[0].strip()


# ------------------------------------------------------------------------------------------ COFF reading
class Obj:
    def __init__(self, path: Path, data: bytes):
        self.path = path
        machine, nsec, _ts, symptr, nsym, opt, _ch = struct.unpack_from("<HHIIIHH", data, 0)
        self.machine = machine
        strtab = symptr + nsym * 18
        self.sections = []
        for i in range(nsec):
            o = 20 + opt + i * 40
            raw_name = data[o:o + 8]
            name = raw_name.rstrip(b"\0").decode()
            if name.startswith("/"):
                so = strtab + int(name[1:])
                name = data[so:data.index(b"\0", so)].decode()
            _vs, _va, size, rawptr, relptr, _ln, nrel, _nln, ch = struct.unpack_from("<IIIIIIHHI", data, o + 8)
            body = data[rawptr:rawptr + size] if rawptr else bytes(size)
            relocs = [struct.unpack_from("<IIH", data, relptr + k * 10) for k in range(nrel)]
            align = 1 << (((ch >> 20) & 0xF) - 1) if (ch >> 20) & 0xF else 16
            self.sections.append({"name": name, "data": body, "relocs": relocs, "align": align, "ch": ch})
        self.symbols: dict[int, tuple[str, int, int, int]] = {}   # index → (name, value, section#, class)
        i = 0
        while i < nsym:
            o = symptr + i * 18
            raw = data[o:o + 8]
            if raw[:4] == b"\0\0\0\0":
                so = strtab + struct.unpack_from("<I", raw, 4)[0]
                name = data[so:data.index(b"\0", so)].decode()
            else:
                name = raw.rstrip(b"\0").decode()
            value, secno, _typ, cls, naux = struct.unpack_from("<IhHBB", data, o + 8)
            self.symbols[i] = (name, value, secno, cls)
            i += 1 + naux


def _plain(arch: str, name: str) -> str:
    """The C name of a COFF symbol: x86 prefixes '_' and decorates stdcall names with '@N'."""
    if arch == "x86":
        if name.startswith("_"):
            name = name[1:]
        if "@" in name:
            name = name.split("@", 1)[0]
    return name


def link(arch: str, objs: list[Obj]) -> dict:
    blob = bytearray()
    where: dict[tuple[int, int], int] = {}        # (object#, section#) → offset in blob
    for kind in CODE_SECTIONS:
        for oi, ob in enumerate(objs):
            for si, sec in enumerate(ob.sections, 1):
                nm = sec["name"]
                if nm == kind or nm.startswith(kind + "$") or nm.startswith(kind + "."):
                    if not sec["data"]:
                        continue
                    pad = -len(blob) % max(sec["align"], 1)
                    blob += (b"\xcc" if kind == ".text" else b"\0") * pad
                    where[(oi, si)] = len(blob)
                    blob += sec["data"]
    for oi, ob in enumerate(objs):
        for si, sec in enumerate(ob.sections, 1):
            nm = sec["name"]
            if (oi, si) in where or not sec["data"] and not sec["relocs"]:
                continue
            if nm in (".text", ".data", ".bss") and not sec["data"]:
                continue
            if nm.startswith((".drectve", ".xdata", ".pdata", ".comment", ".debug", ".note")) \
                    or nm.startswith(".rdata$zzz"):
                continue   # the compiler's ident string and linker directives: not code
            raise BuildError(f"{ob.path.name}: section {nm} ({len(sec['data'])} bytes) is not code or constant data")
    symbols: dict[str, int] = {}
    for oi, ob in enumerate(objs):
        for name, value, secno, cls in ob.symbols.values():
            if secno > 0 and cls == 2 and (oi, secno) in where:     # IMAGE_SYM_CLASS_EXTERNAL, defined
                pn = _plain(arch, name)
                if pn in symbols:
                    raise BuildError(f"{pn} defined twice")
                symbols[pn] = where[(oi, secno)] + value
    abs_relocs: list[list[int]] = []
    ext: list[list] = []
    for oi, ob in enumerate(objs):
        for si, sec in enumerate(ob.sections, 1):
            base = where.get((oi, si))
            if base is None:
                continue
            for va, symi, typ in sec["relocs"]:
                name, value, secno, cls = ob.symbols[symi]
                at = base + va
                if secno > 0:
                    if (oi, secno) not in where:
                        raise BuildError(f"{ob.path.name}: reference to {name} in a section that is not linked")
                    target = where[(oi, secno)] + value   # a section or static symbol of a linked section
                else:
                    pn = _plain(arch, name)
                    target = symbols.get(pn)
                    if target is None and not pn.startswith(("__wh_py_", "__wh_data_")):
                        raise BuildError(f"{ob.path.name}: undefined symbol {pn} (imports are not allowed)")
                if arch == "x64" and X64_REL32 <= typ <= X64_REL32 + 5:
                    k = typ - X64_REL32
                    addend = struct.unpack_from("<i", blob, at)[0]
                    bias = addend - 4 - k
                elif arch == "x86" and typ == I386_REL32:
                    addend = struct.unpack_from("<i", blob, at)[0]
                    bias = addend - 4
                elif (arch == "x64" and typ == X64_ADDR64) or (arch == "x86" and typ == I386_DIR32):
                    size = 8 if arch == "x64" else 4
                    addend = int.from_bytes(blob[at:at + size], "little", signed=True)
                    if target is None:
                        if not pn.startswith("__wh_data_"):
                            raise BuildError(f"{pn}: the Python path is reached by a jump, not through a pointer")
                        ext.append([at, pn, "abs", addend])
                    else:
                        abs_relocs.append([at, target + addend])
                    blob[at:at + size] = bytes(size)
                    continue
                else:
                    raise BuildError(f"{ob.path.name}: relocation type {typ:#x} against {name} is not supported")
                if target is None:
                    if pn.startswith("__wh_py_"):
                        op = blob[at - 1]
                        if not (op == 0xE9 or (blob[at - 2] == 0x0F and 0x80 <= op <= 0x8F)):
                            raise BuildError(f"{ob.path.name}: {pn} is not reached by a tail jump (compiler made "
                                             "a call): restructure the function")
                    ext.append([at, pn, "rel32", bias])
                    blob[at:at + 4] = bytes(4)
                else:
                    blob[at:at + 4] = struct.pack("<i", target - at + bias)
    return {"code": blob.hex(), "symbols": dict(sorted(symbols.items())), "abs": abs_relocs, "ext": ext}


def build(arch: str) -> dict:
    with tempfile.TemporaryDirectory() as td:
        objs = []
        for src in source_files():
            if src.suffix not in (".c", ".S"):
                continue
            out = Path(td) / (src.stem + ".o")
            cmd = [CC[arch], *CFLAGS, *ARCH_FLAGS[arch], "-I", str(SRC), "-c", str(src), "-o", str(out)]
            r = subprocess.run(cmd, capture_output=True, text=True)
            if r.returncode:
                raise BuildError(f"{' '.join(cmd)}\n{r.stderr}")
            objs.append(Obj(out, out.read_bytes()))
        return link(arch, objs)


def build_all() -> dict:
    return {"source_sha256": source_hash(),
            "compiler": {a: compiler_version(a) for a in CC},
            "arches": {a: build(a) for a in CC}}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check", action="store_true", help="compare with the committed output instead of writing")
    args = ap.parse_args(argv)
    try:
        out = build_all()
    except BuildError as e:
        print(f"build_native: {e}", file=sys.stderr)
        return 2
    text = json.dumps(out, indent=1, sort_keys=True) + "\n"
    if args.check:
        same = OUT.exists() and OUT.read_text() == text
        print("native code is up to date" if same else "native code differs from the committed build")
        return 0 if same else 1
    OUT.write_text(text)
    for a, d in out["arches"].items():
        print(f"{a}: {len(d['code']) // 2} bytes, {len(d['symbols'])} functions, {len(d['ext'])} external references")
    return 0


if __name__ == "__main__":
    sys.exit(main())
