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

Correct EH4 frames (frame pointer = registration node + 0x10, GS and EH cookies) are made by hand in
tests/fixtures/src/msvc_eh4.c. FH4 (__CxxFrameHandler4, which no compiler here emits): `to_fh4` converts
an x64 FH3 image (see below).

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


# ================================================================================================ FH3 -> FH4
# No compiler here emits __CxxFrameHandler4 data (clang 14 emits FH3 only). `to_fh4` rewrites the FuncInfo
# of every x64 function whose handler is __CxxFrameHandler3 into the documented FH4 encoding (FuncInfo4
# header, compressed integers, per-function IP-to-state maps, an unwind map of funclet entries with
# backward next-offsets, try-block and handler maps) in a new section, and points those functions'
# UNWIND_INFO at vcruntime140_1.dll!__CxxFrameHandler4 (a new import descriptor and a `jmp [iat]` thunk in
# the same section). Catch funclets get a FuncInfo4 of their own with isCatch and the parent frame's
# offset, as cl.exe emits them.

def enc_u(v: int) -> bytes:
    """FH4's compressed unsigned integer."""
    if v < 0:
        raise ValueError(v)
    if v < 1 << 7:
        return bytes([v << 1])
    if v < 1 << 14:
        return ((v << 2) | 1).to_bytes(2, "little")
    if v < 1 << 21:
        return ((v << 3) | 3).to_bytes(3, "little")
    if v < 1 << 28:
        return ((v << 4) | 7).to_bytes(4, "little")
    return b"\x0f" + v.to_bytes(4, "little")


def _i32(v: int) -> bytes:
    return (v & 0xFFFFFFFF).to_bytes(4, "little")


class _Pe:
    def __init__(self, data: bytes):
        import struct
        self.st = struct
        self.d = bytearray(data)
        self.lfanew = self.u32(0x3C)
        self.nsec = self.u16(self.lfanew + 6)
        opt_size = self.u16(self.lfanew + 20)
        self.opt = self.lfanew + 24
        if self.u16(self.opt) != 0x20B:
            raise ValueError("not a PE32+ image")
        self.sec_table = self.opt + opt_size
        self.sections = [self.st.unpack_from("<8sIIII", self.d, self.sec_table + 40 * i) for i in range(self.nsec)]

    def u16(self, o): return self.st.unpack_from("<H", self.d, o)[0]
    def u32(self, o): return self.st.unpack_from("<I", self.d, o)[0]
    def w32(self, o, v): self.st.pack_into("<I", self.d, o, v & 0xFFFFFFFF)

    def directory(self, i: int) -> tuple[int, int]:
        return self.st.unpack_from("<II", self.d, self.opt + 112 + 8 * i)

    def off(self, rva: int) -> int:
        for _, vsize, va, rawsize, raw in self.sections:
            if va <= rva < va + max(vsize, rawsize):
                return raw + rva - va
        raise ValueError(f"rva {rva:#x} outside the sections")

    def cstr(self, rva: int) -> bytes:
        o = self.off(rva)
        return bytes(self.d[o:self.d.index(0, o)])


def _fh3(pe: _Pe, rva: int) -> dict:
    o = pe.off(rva)
    magic, max_state, um, ntry, tm, nip, ipm = pe.st.unpack_from("<IiIIIII", pe.d, o)
    unwind = [pe.st.unpack_from("<iI", pe.d, pe.off(um) + 8 * i) for i in range(max_state)]
    tries = []
    for i in range(ntry):
        low, high, chigh, n, harr = pe.st.unpack_from("<iiiII", pe.d, pe.off(tm) + 20 * i)
        hs = [pe.st.unpack_from("<IIiII", pe.d, pe.off(harr) + 20 * j) for j in range(n)]
        tries.append((low, high, chigh, hs))
    ips = [pe.st.unpack_from("<Ii", pe.d, pe.off(ipm) + 8 * i) for i in range(nip)]
    return {"unwind": unwind, "tries": tries, "ips": ips}


def to_fh4(src: Path, dst: Path) -> dict:
    """Write an FH4 copy of the x64 image `src` to `dst`; returns what was converted."""
    pe = _Pe(src.read_bytes())
    st = pe.st
    # the import of __CxxFrameHandler3 and the thunk the UNWIND_INFOs name
    imp_rva, _ = pe.directory(1)
    descs, slot = [], None
    o = pe.off(imp_rva)
    while any(pe.d[o:o + 20]):
        descs.append(bytes(pe.d[o:o + 20]))
        ilt, _, _, name, iat = st.unpack_from("<IIIII", pe.d, o)
        if pe.cstr(name).lower() == b"vcruntime140.dll":
            for i in range(0x1000):
                e = st.unpack_from("<Q", pe.d, pe.off(ilt or iat) + 8 * i)[0]
                if not e:
                    break
                if not e >> 63 and pe.cstr((e & 0x7FFFFFFF) + 2) == b"__CxxFrameHandler3":
                    slot = iat + 8 * i
        o += 20
    if slot is None:
        raise ValueError("no import of __CxxFrameHandler3")
    # the new section
    salign, falign = pe.u32(pe.opt + 32), pe.u32(pe.opt + 36)
    last = max(pe.sections, key=lambda s: s[2])
    base = (last[2] + max(last[1], last[3]) + salign - 1) // salign * salign
    blob = bytearray()

    def put(b: bytes, align: int = 4) -> int:
        blob.extend(b"\0" * (-len(blob) % align))
        r = base + len(blob)
        blob.extend(b)
        return r

    # import: the old descriptors, vcruntime140_1.dll's, the terminator
    hint = put(b"\0\0__CxxFrameHandler4\0", 2)
    dll = put(b"vcruntime140_1.dll\0")
    new_ilt = put(st.pack("<QQ", hint, 0), 8)
    # the new IAT goes next to the others, in the slack at the end of their section (the loader makes the
    # span of IAT pages it writes writable, then gives it back the first page's protection)
    for i, (name, vsize, va, rawsize, raw) in enumerate(pe.sections):
        if va <= slot < va + vsize:
            new_iat = va + ((vsize + 7) & ~7)
            if new_iat + 16 > va + rawsize:
                raise ValueError("no room for another IAT")
            pe.d[pe.off(new_iat):pe.off(new_iat) + 16] = st.pack("<QQ", hint, 0)
            st.pack_into("<I", pe.d, pe.sec_table + 40 * i + 8, new_iat + 16 - va)
            break
    new_imp = put(b"".join(descs) + st.pack("<IIIII", new_ilt, 0, 0, dll, new_iat) + b"\0" * 20)
    thunk = put(b"", 16)
    put(b"\xff\x25" + _i32(new_iat - (thunk + 6)) + b"\xcc\xcc", 1)

    # every RUNTIME_FUNCTION whose handler jumps through the __CxxFrameHandler3 slot
    exc_rva, exc_size = pe.directory(3)
    funcs = []
    for i in range(exc_size // 12):
        begin, end, ui = st.unpack_from("<III", pe.d, pe.off(exc_rva) + 12 * i)
        if ui & 1:
            continue
        uo = pe.off(ui)
        flags, ncodes = pe.d[uo] >> 3, pe.d[uo + 2]
        if not flags & 3 or flags & 4:
            continue
        h_off = uo + 4 + 2 * (ncodes + (ncodes & 1))
        handler = pe.u32(h_off)
        ho = pe.off(handler)
        if pe.d[ho:ho + 2] != b"\xff\x25" or handler + 6 + st.unpack_from("<i", pe.d, ho + 2)[0] != slot:
            continue
        funcs.append((begin, end, h_off, pe.u32(h_off + 4)))
    if not funcs:
        raise ValueError("no function has __CxxFrameHandler3 data")

    shared = {}     # FH3 FuncInfo RVA -> (FH3 tables, unwind map RVA, try map RVA)
    for _, _, _, fi in funcs:
        if fi in shared:
            continue
        t = _fh3(pe, fi)
        um = 0
        if t["unwind"]:
            starts, body = [], bytearray()
            for i, (to, action) in enumerate(t["unwind"]):
                starts.append(len(body))
                if to >= i:
                    raise ValueError("an unwind entry leads to a later state")
                back = starts[i] - starts[to] if to >= 0 else 0
                kind = 3 if action else 0
                body += enc_u((back << 2) | kind) + (_i32(action) if action else b"")
            um = put(enc_u(len(t["unwind"])) + bytes(body), 1)
        tm = 0
        if t["tries"]:
            tb = bytearray(enc_u(len(t["tries"])))
            for low, high, chigh, hs in t["tries"]:
                hb = bytearray(enc_u(len(hs)))
                for adj, td, disp_obj, hnd, _frame in hs:
                    if disp_obj < 0:
                        raise ValueError("negative catch object offset")
                    hdr = (1 if adj else 0) | (2 if td else 0) | (4 if disp_obj else 0)
                    hb += bytes([hdr]) + (enc_u(adj) if adj else b"") + (_i32(td) if td else b"") \
                        + (enc_u(disp_obj) if disp_obj else b"") + _i32(hnd)
                harr = put(bytes(hb), 1)
                tb += enc_u(low) + enc_u(high) + enc_u(chigh) + _i32(harr)
            tm = put(bytes(tb), 1)
        shared[fi] = (t, um, tm)

    catches = 0
    for begin, end, h_off, fi in funcs:
        t, um, tm = shared[fi]
        # this function's (or funclet's) part of the IP-to-state map, relative to its start
        state = -1
        for ip, stt in t["ips"]:
            if ip <= begin:
                state = stt
        entries = [(begin, state)] + [(ip, stt) for ip, stt in t["ips"] if begin < ip < end]
        ib, prev = bytearray(enc_u(len(entries))), begin
        for ip, stt in entries:
            ib += enc_u(ip - prev) + enc_u(stt + 1)
            prev = ip
        ipm = put(bytes(ib), 1)
        disp_frame = [h[4] for _, _, _, hs in t["tries"] for h in hs if h[3] == begin]
        header = (0x08 if um else 0) | (0x10 if tm else 0) | (0x01 if disp_frame else 0)
        body = bytes([header]) + (_i32(um) if um else b"") + (_i32(tm) if tm else b"") + _i32(ipm)
        if disp_frame:
            body += enc_u(disp_frame[0])
            catches += 1
        fi4 = put(body)
        pe.w32(h_off, thunk)
        pe.w32(h_off + 4, fi4)

    # the section header, the directories, SizeOfImage
    hdr_end = pe.sec_table + 40 * (pe.nsec + 1)
    if hdr_end > min(s[4] for s in pe.sections if s[4]):
        raise ValueError("no room for another section header")
    raw = (len(pe.d) + falign - 1) // falign * falign
    size = (len(blob) + falign - 1) // falign * falign
    pe.d.extend(b"\0" * (raw - len(pe.d)))
    pe.d.extend(bytes(blob) + b"\0" * (size - len(blob)))
    st.pack_into("<8sIIIIIIHHI", pe.d, pe.sec_table + 40 * pe.nsec, b".fh4", len(blob), base, size, raw, 0, 0,
                 0, 0, 0x60000060)     # code, initialized data, execute/read
    st.pack_into("<H", pe.d, pe.lfanew + 6, pe.nsec + 1)
    pe.w32(pe.opt + 56, (base + len(blob) + salign - 1) // salign * salign)
    st.pack_into("<II", pe.d, pe.opt + 112 + 8 * 1, new_imp, 20 * (len(descs) + 2))
    dst.write_bytes(bytes(pe.d))
    return {"functions": len(funcs), "catch_funclets": catches, "func_infos": len(shared)}
