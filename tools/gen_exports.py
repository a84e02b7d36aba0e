#!/usr/bin/env python3
"""Generate winhatch/win32/data/exports-{x64,x86}.json.gz from Wine's PE DLLs.

Only *facts* are extracted (DLL names, ordinals, export names, forwarder strings,
whether an export points into data, image base / size); no Wine code or binary
is shipped.

x64:  /usr/lib/x86_64-linux-gnu/wine/x86_64-windows (the installed wine64).
x86:  Debian's libwine:i386, fetched with ``apt-get download`` into a temporary
      directory and unpacked with ``dpkg -x`` (nothing is installed; the i386
      foreign architecture is added for the download and removed afterwards).
      ``--x86-dir DIR`` points at an already-unpacked i386-windows directory.

Usage:
    python tools/gen_exports.py [--arch x64|x86|both] [--x64-dir DIR] [--x86-dir DIR] [--out DIR]
"""
from __future__ import annotations

import argparse
import gzip
import io
import json
import re
import shutil
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT_DIR = ROOT / "winhatch" / "win32" / "data"
WINE_X64_DIR = Path("/usr/lib/x86_64-linux-gnu/wine/x86_64-windows")
X86_SUBDIR = "usr/lib/i386-linux-gnu/wine/i386-windows"

# Besides *.dll, a few non-.dll modules that ordinary programs import.
EXTRA_MODULES = {"winspool.drv"}
DROP_PREFIXES = ("__wine_", "wine_")

IMAGE_FILE_MACHINE = {0x14C: "x86", 0x8664: "x64", 0xAA64: "arm64", 0x1C4: "arm"}
IMAGE_SCN_CNT_CODE = 0x00000020
IMAGE_SCN_MEM_EXECUTE = 0x20000000


class PEError(ValueError):
    pass


# --------------------------------------------------------------------------
# A tiny self-contained PE export reader.
# --------------------------------------------------------------------------
class PEExports:
    def __init__(self, data: bytes):
        self.data = data
        if data[:2] != b"MZ":
            raise PEError("no MZ header")
        (lfanew,) = struct.unpack_from("<I", data, 0x3C)
        if data[lfanew:lfanew + 4] != b"PE\0\0":
            raise PEError("no PE signature")
        coff = lfanew + 4
        machine, nsect, _ts, _sym, _nsym, opt_size, _chars = struct.unpack_from("<HHIIIHH", data, coff)
        self.machine = IMAGE_FILE_MACHINE.get(machine, hex(machine))
        opt = coff + 20
        (magic,) = struct.unpack_from("<H", data, opt)
        if magic == 0x10B:
            (self.image_base,) = struct.unpack_from("<I", data, opt + 28)
            ndirs_off = opt + 92
        elif magic == 0x20B:
            (self.image_base,) = struct.unpack_from("<Q", data, opt + 24)
            ndirs_off = opt + 108
        else:
            raise PEError(f"bad optional header magic {magic:#x}")
        (self.size_of_image,) = struct.unpack_from("<I", data, opt + 56)
        (ndirs,) = struct.unpack_from("<I", data, ndirs_off)
        dirs = ndirs_off + 4
        if ndirs >= 1:
            self.export_rva, self.export_size = struct.unpack_from("<II", data, dirs)
        else:
            self.export_rva = self.export_size = 0
        self.sections = []
        sec = opt + opt_size
        for i in range(nsect):
            name, vsize, va, rawsize, rawptr = struct.unpack_from("<8sIIII", data, sec + 40 * i)
            (chars,) = struct.unpack_from("<I", data, sec + 40 * i + 36)
            self.sections.append((name.rstrip(b"\0").decode("latin-1"), va, max(vsize, rawsize), rawptr, rawsize, chars))

    def section_of(self, rva):
        for s in self.sections:
            if s[1] <= rva < s[1] + s[2]:
                return s
        return None

    def is_exec(self, rva) -> bool:
        s = self.section_of(rva)
        return bool(s and s[5] & (IMAGE_SCN_MEM_EXECUTE | IMAGE_SCN_CNT_CODE))

    def off(self, rva) -> int:
        s = self.section_of(rva)
        if s is None or rva - s[1] >= s[4]:
            raise PEError(f"rva {rva:#x} not backed by file data")
        return s[3] + rva - s[1]

    def u32(self, rva) -> int:
        return struct.unpack_from("<I", self.data, self.off(rva))[0]

    def u16(self, rva) -> int:
        return struct.unpack_from("<H", self.data, self.off(rva))[0]

    def cstr(self, rva) -> str:
        o = self.off(rva)
        return self.data[o:self.data.index(b"\0", o)].decode("ascii")

    def exports(self):
        """-> (ordinal_base, [(ordinal, name|None, forwarder|None, is_data)])"""
        if not self.export_rva:
            return None, []
        (_chars, _ts, _maj, _min, _name, base, nfuncs, nnames, a_funcs, a_names, a_ords) = \
            struct.unpack_from("<IIHHIIIIIII", self.data, self.off(self.export_rva))
        funcs = struct.unpack_from(f"<{nfuncs}I", self.data, self.off(a_funcs)) if nfuncs else ()
        name_rvas = struct.unpack_from(f"<{nnames}I", self.data, self.off(a_names)) if nnames else ()
        name_ords = struct.unpack_from(f"<{nnames}H", self.data, self.off(a_ords)) if nnames else ()
        names = {}
        for nrva, idx in zip(name_rvas, name_ords):
            names.setdefault(idx, []).append(self.cstr(nrva))
        out = []
        lo, hi = self.export_rva, self.export_rva + self.export_size
        for idx, rva in enumerate(funcs):
            if rva == 0:
                continue
            fwd = self.cstr(rva) if lo <= rva < hi else None
            data = 0 if fwd is not None or self.is_exec(rva) else 1
            for nm in names.get(idx, [None]):
                out.append((base + idx, nm, fwd, data))
        return base, out


def dropped(name) -> bool:
    return name is not None and name.startswith(DROP_PREFIXES)


def scan_dir(directory: Path, want_machine: str) -> dict:
    result = {}
    for path in sorted(directory.iterdir()):
        fname = path.name.lower()
        if not (fname.endswith(".dll") or fname in EXTRA_MODULES) or not path.is_file():
            continue
        try:
            pe = PEExports(path.read_bytes())
        except (PEError, struct.error) as e:
            print(f"skip {fname}: {e}", file=sys.stderr)
            continue
        if pe.machine != want_machine:
            print(f"skip {fname}: machine {pe.machine}", file=sys.stderr)
            continue
        base, exps = pe.exports()
        exps = [[o, n, f, d] for (o, n, f, d) in exps
                if not dropped(n) and not (f and f.split(".", 1)[-1].startswith(DROP_PREFIXES))]
        exps.sort(key=lambda e: (e[0], e[1] or ""))
        result[fname] = {
            "machine": pe.machine,
            "ordinal_base": base if base is not None else 1,
            "image_base": pe.image_base,
            "size_of_image": pe.size_of_image,
            "exports": exps,
        }
    return result


# --------------------------------------------------------------------------
# API set forwarder DLLs.  Wine 8 no longer ships api-ms-win-*/ext-ms-win-* DLLs (its loader
# resolves them through apisetschema.dll), so their export surface is taken from the
# mingw-w64 import libraries (libucrt.a, libmincore.a, libwindowsapp.a, ...: the names each
# contract DLL exports) and every export is forwarded to the contract's host from the API set
# schema (winhatch/kernel/apiset/apiset.json), as the downlevel forwarder DLLs on Windows do.
# --------------------------------------------------------------------------
MINGW_LIB = {"x64": Path("/usr/x86_64-w64-mingw32/lib"), "x86": Path("/usr/i686-w64-mingw32/lib")}
APISET_DLL_BASE = {"x64": 0x180000000, "x86": 0x10000000}


def ar_members(blob: bytes):
    """(name, data) of each member of a System V / GNU ar archive."""
    if blob[:8] != b"!<arch>\n":
        return
    pos, longnames = 8, b""
    while pos + 60 <= len(blob):
        hdr = blob[pos:pos + 60]
        name = hdr[:16].decode("latin-1").rstrip()
        size = int(hdr[48:58].decode().strip())
        data = blob[pos + 60:pos + 60 + size]
        pos += 60 + size + (size & 1)
        if name == "//":
            longnames = data
            continue
        if name in ("/", "/SYM64/"):
            continue
        if name.startswith("/") and name[1:].isdigit():
            off = int(name[1:])
            name = longnames[off:longnames.index(b"\n", off)].decode("latin-1")
        yield name.rstrip("/"), data


def coff_section(obj: bytes, want: bytes):
    """Raw data of section ``want`` of a COFF object (None if absent)."""
    if len(obj) < 20:
        return None
    _machine, nsect, _ts, _sym, _nsym, opt_size, _chars = struct.unpack_from("<HHIIIHH", obj, 0)
    if _machine == 0 and nsect == 0xFFFF:     # short import object: not produced by GNU dlltool
        return None
    for i in range(nsect):
        off = 20 + opt_size + 40 * i
        name, _vs, _va, rawsize, rawptr = struct.unpack_from("<8sIIII", obj, off)
        if name.rstrip(b"\0") == want:
            return obj[rawptr:rawptr + rawsize]
    return None


def apiset_names_from_importlibs(libdir: Path) -> dict:
    """{contract dll: {export name}} from GNU dlltool import libraries in ``libdir``."""
    member_re = re.compile(r"^(.*?)(s\d{5}|t)\.o$")
    found: dict[str, set] = {}
    if not libdir.is_dir():
        return found
    for lib in sorted(libdir.glob("*.a")):
        dllname, names = {}, {}
        blob = lib.read_bytes()
        if b"libapi-ms-" not in blob and b"libext-ms-" not in blob:
            continue
        for mname, data in ar_members(blob):
            m = member_re.match(mname)
            if not m or not re.match(r"^lib(api|ext)-ms-", m.group(1), re.I):
                continue
            if m.group(2) == "t":
                sec = coff_section(data, b".idata$7")
                if sec:
                    dllname[m.group(1)] = sec.split(b"\0", 1)[0].decode("ascii").lower()
            else:
                sec = coff_section(data, b".idata$6")
                if sec and len(sec) > 2:
                    nm = sec[2:].split(b"\0", 1)[0].decode("ascii")
                    if not nm.startswith("?"):
                        # a few i686 .def entries keep a stray stdcall "@" / "@N" suffix
                        nm = re.sub(r"@\d*$", "", nm)
                    names.setdefault(m.group(1), set()).add(nm)
        for prefix, ns in names.items():
            dll = dllname.get(prefix)
            if dll and dll.endswith(".dll"):
                found.setdefault(dll, set()).update(ns)
    return found


def apiset_modules(arch: str, wine_table: dict, libdir: Path | None = None) -> dict:
    sys.path.insert(0, str(ROOT))
    from winhatch.kernel.apiset.schema import resolve

    out = {}
    for dll, names in sorted(apiset_names_from_importlibs(libdir or MINGW_LIB[arch]).items()):
        if dll in wine_table:
            continue
        host = resolve(dll)
        if host is None:
            continue
        target = host[:-4] if host.lower().endswith(".dll") else host
        exps = [[i + 1, n, f"{target}.{n}", 0] for i, n in enumerate(sorted(names)) if not dropped(n)]
        # a realistic, small image: headers page + the export directory
        edata = 40 + 10 * len(exps) + len(dll) + 1 + sum(len(e[1]) + len(e[2]) + 2 for e in exps)
        out[dll] = {
            "machine": arch,
            "ordinal_base": 1,
            "image_base": APISET_DLL_BASE[arch],
            "size_of_image": 0x1000 + ((edata + 0xFFF) & ~0xFFF),
            "exports": exps,
            "synthetic": 1,
        }
    return out


def dumps(table: dict) -> bytes:
    """Deterministic gzip JSON (sorted keys, compact, mtime 0, no file name)."""
    raw = json.dumps(table, sort_keys=True, separators=(",", ":")).encode()
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, mtime=0, compresslevel=9) as gz:
        gz.write(raw)
    return buf.getvalue()


def fetch_x86(tmp: Path) -> Path:
    """Download libwine:i386 with apt, unpack it (no install), restore dpkg's arch list."""
    had_i386 = "i386" in subprocess.run(["dpkg", "--print-foreign-architectures"],
                                        capture_output=True, text=True, check=True).stdout.split()
    if not had_i386:
        subprocess.run(["dpkg", "--add-architecture", "i386"], check=True)
    try:
        subprocess.run(["apt-get", "update", "-qq"], check=False)
        subprocess.run(["apt-get", "download", "libwine:i386"], cwd=tmp, check=True)
    finally:
        if not had_i386:
            subprocess.run(["dpkg", "--remove-architecture", "i386"], check=True)
            subprocess.run(["apt-get", "update", "-qq"], check=False)
    deb = next(tmp.glob("libwine_*_i386.deb"))
    subprocess.run(["dpkg", "-x", str(deb), str(tmp / "x")], check=True)
    return tmp / "x" / X86_SUBDIR


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--arch", choices=["x64", "x86", "both"], default="both")
    ap.add_argument("--x64-dir", type=Path, default=WINE_X64_DIR)
    ap.add_argument("--x86-dir", type=Path, default=None, help="already-unpacked .../wine/i386-windows")
    ap.add_argument("--out", type=Path, default=OUT_DIR)
    ap.add_argument("--no-apiset-dlls", action="store_true",
                    help="don't synthesise api-ms-win-*/ext-ms-win-* forwarder DLLs from mingw-w64 import libs")
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)

    jobs = []
    if args.arch in ("x64", "both"):
        jobs.append(("x64", args.x64_dir))
    tmp = None
    if args.arch in ("x86", "both"):
        x86 = args.x86_dir
        if x86 is None:
            tmp = Path(tempfile.mkdtemp(prefix="winhatch-wine86-"))
            x86 = fetch_x86(tmp)
        jobs.append(("x86", x86))
    try:
        for arch, d in jobs:
            table = scan_dir(d, arch)
            if not args.no_apiset_dlls:
                table.update(apiset_modules(arch, table))
            blob = dumps(table)
            dest = args.out / f"exports-{arch}.json.gz"
            dest.write_bytes(blob)
            n = sum(len(v["exports"]) for v in table.values())
            print(f"{arch}: {len(table)} modules, {n} exports, {len(blob)} bytes -> {dest}")
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
