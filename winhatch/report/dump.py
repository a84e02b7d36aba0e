"""`winhatch run --dump DIR`: what an analyst takes away from a run, written when the process has ended.

    DIR/manifest.json                       what was written, with sizes and sha256
    DIR/<image>-<pid>.dmp                   a Windows minidump of the process (full memory: every committed,
                                            readable page), readable by WinDbg and the `minidump` package
    DIR/modules/<name>-<base>.bin           each loaded module's image as it lies in memory (SizeOfImage bytes;
                                            pages that cannot be read are zeros)
    DIR/unpacked/<name>-<base>.<ext>        a PE file rebuilt from memory for each image whose code or data
                                            differs from its file (an unpacked or patched image), and always for
                                            the program itself: sections laid out as in memory (raw = virtual),
                                            ImageBase = where it was loaded, and an import table rebuilt from the
                                            import address table found in memory
    DIR/regions/<base>.bin                  private (non-image) memory that is executable at exit: code the
                                            process generated or unpacked outside an image

The minidump holds the streams a debugger opens first (MSDN, "MINIDUMP_STREAM_TYPE"): SystemInfo, ThreadList
(each thread's CONTEXT and stack), ModuleList (name, base, size, checksum, timestamp), MemoryInfoList (every
region as VirtualQuery returns it), Memory64List (the memory) and, after an unhandled exception, Exception.
"""
from __future__ import annotations

import hashlib
import json
import struct
import time
from pathlib import Path

PAGE = 0x1000
MEM_COMMIT, MEM_PRIVATE, MEM_IMAGE = 0x1000, 0x20000, 0x1000000
PAGE_NOACCESS, PAGE_GUARD = 0x01, 0x100
EXECUTABLE = 0x10 | 0x20 | 0x40 | 0x80

# MINIDUMP_STREAM_TYPE
THREAD_LIST, MODULE_LIST, EXCEPTION, SYSTEM_INFO, MEMORY64_LIST, MEMORY_INFO_LIST = 3, 4, 6, 7, 9, 16
MINIDUMP_SIGNATURE, MINIDUMP_VERSION = 0x504D444D, 0xA793


# ------------------------------------------------------------------------------------------- memory access
def _readable(mbi) -> bool:
    return mbi.State == MEM_COMMIT and not (mbi.Protect & PAGE_GUARD) and (mbi.Protect & 0xFF) not in (0,
                                                                                                      PAGE_NOACCESS)


def _read(aspace, addr: int, size: int) -> bytes:
    """size bytes at addr; pages that are not committed and readable read as zeros."""
    out = bytearray(size)
    a, end = addr, addr + size
    while a < end:
        mbi = aspace.query(a)
        r_end = min(end, mbi.BaseAddress + mbi.RegionSize)
        if r_end <= a:
            break
        if _readable(mbi):
            try:
                out[a - addr:r_end - addr] = aspace.read(a, r_end - a)
            except Exception:  # noqa: BLE001 — a page that vanished reads as zeros
                pass
        a = r_end
    return bytes(out)


def _committed_ranges(aspace) -> list[tuple[int, int, object]]:
    return [(m.BaseAddress, m.RegionSize, m) for m in aspace.regions() if _readable(m)]


# ------------------------------------------------------------------------------------------- minidump
class _Writer:
    def __init__(self):
        self.buf = bytearray()

    def add(self, data: bytes, align: int = 4) -> int:
        while len(self.buf) % align:
            self.buf.append(0)
        rva = len(self.buf)
        self.buf += data
        return rva

    def string(self, text: str) -> int:
        """A MINIDUMP_STRING: its length in bytes, the UTF-16 text and a terminating NUL."""
        b = text.encode("utf-16-le")
        return self.add(struct.pack("<I", len(b)) + b + b"\0\0")


def _context_bytes(thread) -> bytes:
    from winhatch.kernel.ke.context import context_to_guest
    ctx = getattr(thread, "context", None)
    if ctx is None:
        return b""
    try:
        return context_to_guest(ctx)
    except Exception:  # noqa: BLE001 — a thread that never ran has no register snapshot
        return b""


def _version_info(pe) -> bytes:
    """VS_FIXEDFILEINFO (52 bytes) from the module's version resource, zeros when it has none."""
    try:
        vi = pe.version_info() if pe is not None else None
    except Exception:  # noqa: BLE001
        vi = None
    fixed = (vi or {}).get("fixed") if isinstance(vi, dict) else None
    if not fixed:
        return bytes(52)
    keys = ("signature", "struc_version", "file_version_ms", "file_version_ls", "product_version_ms",
            "product_version_ls", "file_flags_mask", "file_flags", "file_os", "file_type", "file_subtype")
    try:
        date = int(fixed.get("file_date", 0))
        return struct.pack("<13I", *(int(fixed.get(k, 0)) & 0xFFFFFFFF for k in keys), date >> 32 & 0xFFFFFFFF,
                           date & 0xFFFFFFFF)
    except (TypeError, ValueError):
        return bytes(52)


def write_minidump(process, modules, path: Path, crash: dict | None = None, profile=None) -> int:
    """Write the minidump; returns its size."""
    aspace = process.aspace
    is64 = process.arch == "x64"
    w = _Writer()
    streams: list[tuple[int, int, int]] = []          # (type, size, rva)
    w.add(bytes(32))                                    # header, written last
    n_streams = 5 + (1 if crash and getattr(process, "threads", None) else 0)
    dir_rva = w.add(bytes(12 * n_streams))             # the stream directory, filled in last

    # SystemInfo: the Windows version and processors of the machine's profile, as the machine reports itself
    from winhatch.kernel.profile import Profile
    profile = profile or Profile.default()
    csd = w.string("")
    ncpu = profile.cpu_count
    if is64:
        cpu = struct.pack("<QQ", 0x0000_0000_0000_0000, 0)      # ProcessorFeatures
        arch = 9                                               # PROCESSOR_ARCHITECTURE_AMD64
    else:
        cpu = b"GenuineIntel" + struct.pack("<III", 0x000906EA, 0xBFEBFBFF, 0)
        arch = 0                                               # PROCESSOR_ARCHITECTURE_INTEL
    si = struct.pack("<HHHBBIIIIIHH", arch, 6, 0x9E0A, ncpu & 0xFF, 1, profile.os_major, profile.os_minor,
                     profile.os_build, 2, csd, 0x100, 0) + cpu
    streams.append((SYSTEM_INFO, len(si), w.add(si)))

    # Memory64List: every committed readable region's bytes, one after the other at the end of the file
    ranges = _committed_ranges(aspace)

    # ModuleList
    mod_entries = []
    for m in modules:
        name_rva = w.string(m.path or m.name)
        checksum = timestamp = 0
        pe = getattr(m, "pe", None)
        if pe is not None:
            try:
                timestamp = pe.timestamp
                checksum = pe.checksum
            except Exception:  # noqa: BLE001
                pass
        mod_entries.append(struct.pack("<QIIII", m.base, m.size, checksum & 0xFFFFFFFF, timestamp & 0xFFFFFFFF,
                                       name_rva) + _version_info(pe) + bytes(8 + 8 + 8 + 8))
    ml = struct.pack("<I", len(mod_entries)) + b"".join(mod_entries)
    streams.append((MODULE_LIST, len(ml), w.add(ml)))

    # MemoryInfoList: the regions as VirtualQuery gives them
    regions = aspace.regions()
    mi = bytearray(struct.pack("<IIQ", 16, 48, len(regions)))
    for r in regions:
        mi += struct.pack("<QQIIQIIII", r.BaseAddress, r.AllocationBase, r.AllocationProtect, 0, r.RegionSize,
                          r.State, r.Protect, r.Type, 0)
    streams.append((MEMORY_INFO_LIST, len(mi), w.add(bytes(mi))))

    # ThreadList (the stack descriptors point into the Memory64 data, laid out below)
    threads = [t for t in getattr(process, "threads", [])]
    ctx_rvas = []
    for t in threads:
        cb = _context_bytes(t)
        ctx_rvas.append((w.add(cb, 16) if cb else 0, len(cb)))
    thread_list_at = len(w.buf) + (-len(w.buf)) % 4
    thread_size = 4 + 48 * len(threads)
    w.add(bytes(thread_size))

    exc_rva = exc_size = 0
    if crash and threads:
        rec_d = crash.get("record") or {}
        code = int(rec_d.get("code", crash.get("code", 0)) or 0) & 0xFFFFFFFF
        addr = int(rec_d.get("address", crash.get("address", 0)) or 0)
        params = [int(p) for p in (rec_d.get("parameters") or [])][:15]
        rec = struct.pack("<IIQQII", code, int(rec_d.get("flags", 0) or 0), 0, addr, len(params), 0) + b"".join(
            struct.pack("<Q", p & 0xFFFFFFFFFFFFFFFF) for p in params) + bytes(8 * (15 - len(params)))
        tid = crash.get("tid") or getattr(threads[0], "tid", 0)
        ctx = (0, 0)
        regs = crash.get("context")
        if regs:           # the registers at the fault, not the thread's last ones
            from winhatch.cpu.context import Context
            from winhatch.kernel.ke.context import context_to_guest
            full = dict(getattr(getattr(threads[0], "context", None), "regs", None) or {})
            full.update(regs)
            try:
                cb = context_to_guest(Context(process.arch, full))
                ctx = (w.add(cb, 16), len(cb))
            except Exception:  # noqa: BLE001 — then the exception has no context of its own
                ctx = (0, 0)
        ex = struct.pack("<II", tid, 0) + rec + struct.pack("<II", ctx[1], ctx[0])
        exc_size = len(ex)
        exc_rva = w.add(ex)
        streams.append((EXCEPTION, exc_size, exc_rva))

    # the Memory64List header, then the data
    m64_header_size = 16 + 16 * len(ranges)
    m64_rva = w.add(bytes(m64_header_size), 8)
    base_rva = len(w.buf) + (-len(w.buf)) % 8
    offsets = {}
    hdr = bytearray(struct.pack("<QQ", len(ranges), base_rva))
    pos = base_rva
    for base, size, _ in ranges:
        hdr += struct.pack("<QQ", base, size)
        offsets[base] = (pos, size)
        pos += size
    w.buf[m64_rva:m64_rva + len(hdr)] = hdr
    streams.append((MEMORY64_LIST, m64_header_size, m64_rva))

    # now the thread entries: their stacks are the committed part of [StackLimit, StackBase)
    tl = bytearray(struct.pack("<I", len(threads)))
    for t, (crva, csize) in zip(threads, ctx_rvas):
        teb = getattr(t, "teb", 0) or 0
        st_start, st_rva, st_size = 0, 0, 0
        for base, size, _ in ranges:
            sp = _stack_pointer(t, is64)
            if sp and base <= sp < base + size:
                st_start, st_size = sp, base + size - sp
                st_rva = offsets[base][0] + (sp - base)
                break
        prio = int(getattr(t, "priority", 0) or 0)
        tl += struct.pack("<IIIIQQIIII", t.tid, int(getattr(t, "suspend_count", 0) or 0), 0x20, prio & 0xFFFFFFFF,
                          teb, st_start, st_size, st_rva, csize, crva)
    w.buf[thread_list_at:thread_list_at + len(tl)] = tl
    streams.append((THREAD_LIST, len(tl), thread_list_at))

    # the stream directory, then the header
    assert len(streams) == n_streams
    directory = b"".join(struct.pack("<III", t, s, r) for t, s, r in streams)
    w.buf[dir_rva:dir_rva + len(directory)] = directory
    header = struct.pack("<IIIIIIQ", MINIDUMP_SIGNATURE, MINIDUMP_VERSION, len(streams), dir_rva, 0,
                         int(time.time()) & 0xFFFFFFFF, 0x2)  # MiniDumpWithFullMemory
    w.buf[0:32] = header
    while len(w.buf) < base_rva:
        w.buf.append(0)
    with open(path, "wb") as f:
        f.write(w.buf)
        for base, size, _ in ranges:
            f.write(_read(aspace, base, size))
        return f.tell()


def _stack_pointer(thread, is64: bool) -> int:
    ctx = getattr(thread, "context", None)
    regs = getattr(ctx, "regs", None) or {}
    return int(regs.get("rsp" if is64 else "esp", 0) or 0)


# ------------------------------------------------------------------------------------------- rebuilt PEs
def _export_map(modules) -> dict[int, tuple[str, str | None, int]]:
    """address -> (dll, name, ordinal) for every export of every loaded module (forwarders skipped)."""
    out: dict[int, tuple[str, str | None, int]] = {}
    for m in modules:
        pe = getattr(m, "pe", None)
        if pe is None:
            continue
        try:
            exp = pe.exports
        except Exception:  # noqa: BLE001
            continue
        if exp is None:
            continue
        for e in exp.functions:
            if e.forwarder or e.rva is None:
                continue
            addr = m.base + e.rva
            prev = out.get(addr)
            if prev is None or (prev[1] is None and e.name):
                out[addr] = (m.name.lower(), e.name, e.ordinal)
    return out


def _find_iat_runs(image: bytes, ptr: int, exports: dict, lo: int, hi: int) -> list[tuple[int, str, list]]:
    """Runs of consecutive pointer-sized slots in [lo, hi) that hold export addresses of one DLL (a run ends at a
    zero slot, a slot of another DLL or anything else): [(rva, dll, [(name, ordinal), ...])]."""
    fmt = "<Q" if ptr == 8 else "<I"
    runs = []
    cur = None
    for off in range(lo - lo % ptr, min(hi, len(image)) - ptr + 1, ptr):
        v = struct.unpack_from(fmt, image, off)[0]
        hit = exports.get(v) if v else None
        if hit is not None and cur is not None and cur[1] == hit[0]:
            cur[2].append((hit[1], hit[2]))
            continue
        if cur is not None and len(cur[2]) >= 1:
            runs.append(cur)
        cur = (off, hit[0], [(hit[1], hit[2])]) if hit is not None else None
    if cur is not None:
        runs.append(cur)
    return runs


def rebuild_pe(image: bytearray, base: int, modules, own_name: str) -> bytes | None:
    """A PE file from a module's memory image (None when its headers are not a PE any more)."""
    if image[:2] != b"MZ":
        return None
    e_lfanew = struct.unpack_from("<I", image, 0x3C)[0]
    if e_lfanew + 24 > len(image) or image[e_lfanew:e_lfanew + 4] != b"PE\0\0":
        return None
    fh = e_lfanew + 4
    nsec, opt_size = struct.unpack_from("<H", image, fh + 2)[0], struct.unpack_from("<H", image, fh + 16)[0]
    oh = fh + 20
    magic = struct.unpack_from("<H", image, oh)[0]
    is64 = magic == 0x20B
    ptr = 8 if is64 else 4
    sec_align = struct.unpack_from("<I", image, oh + 32)[0] or PAGE
    size_of_image = len(image)
    dd = oh + (112 if is64 else 96)
    sec_table = oh + opt_size
    if sec_table + 40 * nsec > len(image) or nsec == 0:
        return None

    # sections: raw = virtual
    secs = []
    for i in range(nsec):
        s = sec_table + 40 * i
        vsize, va = struct.unpack_from("<II", image, s + 8)
        raw_size = struct.unpack_from("<I", image, s + 16)[0]
        size = min(max(vsize, raw_size), max(0, size_of_image - va))
        size = (size + sec_align - 1) // sec_align * sec_align if va + size < size_of_image else size
        size = min(size, max(0, size_of_image - va))
        struct.pack_into("<II", image, s + 16, size, va)
        secs.append((va, size))
    # ImageBase = where it was, FileAlignment = SectionAlignment (raw offsets are now virtual ones), no checksum
    if is64:
        struct.pack_into("<Q", image, oh + 24, base)
    else:
        struct.pack_into("<I", image, oh + 28, base)
    struct.pack_into("<I", image, oh + 36, sec_align)
    struct.pack_into("<I", image, oh + 64, 0)

    # the import table, rebuilt from the IAT slots found in the sections
    exports = _export_map([m for m in modules if m.name.lower() != own_name.lower()])
    runs = []
    for va, size in secs:
        runs += _find_iat_runs(image, ptr, exports, va, va + size)
    first_sec_va = min(va for va, _ in secs)
    if runs and sec_table + 40 * (nsec + 1) <= first_sec_va:
        new_va = (size_of_image + sec_align - 1) // sec_align * sec_align
        blob = bytearray()
        desc_size = 20 * (len(runs) + 1)
        blob += bytes(desc_size)
        strings = bytearray()
        thunks = bytearray()
        str_base = None
        # layout: descriptors | INT arrays | hint/name + dll names
        int_off = len(blob)
        int_size = sum((len(r[2]) + 1) * ptr for r in runs)
        str_off = int_off + int_size
        descs = bytearray()
        pos_int = int_off
        for rva, dll, funcs in runs:
            dll_rva = new_va + str_off + len(strings)
            strings += dll.encode("ascii", "replace") + b"\0"
            if len(strings) % 2:
                strings += b"\0"
            int_rva = new_va + pos_int
            for name, ordinal in funcs:
                if name:
                    hn_rva = new_va + str_off + len(strings)
                    strings += struct.pack("<H", 0) + name.encode("ascii", "replace") + b"\0"
                    if len(strings) % 2:
                        strings += b"\0"
                    thunks += struct.pack("<Q" if is64 else "<I", hn_rva)
                else:
                    flag = (1 << 63) if is64 else (1 << 31)
                    thunks += struct.pack("<Q" if is64 else "<I", flag | (ordinal & 0xFFFF))
                pos_int += ptr
            thunks += bytes(ptr)
            pos_int += ptr
            descs += struct.pack("<IIIII", int_rva, 0, 0, dll_rva, rva)
        del str_base
        blob[0:len(descs)] = descs
        blob += thunks
        blob += strings
        raw = (len(blob) + sec_align - 1) // sec_align * sec_align
        blob += bytes(raw - len(blob))
        s = sec_table + 40 * nsec
        image[s:s + 40] = struct.pack("<8sIIIIIIHHI", b".rimport", len(blob), new_va, raw, new_va, 0, 0, 0, 0,
                                      0xC0000040)     # initialized data, read/write
        struct.pack_into("<H", image, fh + 2, nsec + 1)
        if len(image) < new_va:
            image += bytes(new_va - len(image))
        image += blob
        struct.pack_into("<I", image, oh + 56, new_va + raw)                 # SizeOfImage
        struct.pack_into("<II", image, dd + 8 * 1, new_va, desc_size)         # imports
        struct.pack_into("<II", image, dd + 8 * 11, 0, 0)                     # no bound imports
        struct.pack_into("<II", image, dd + 8 * 12, 0, 0)                     # the IAT: found by the descriptors
    return bytes(image)


def _image_differs(m, image: bytes) -> bool:
    """Whether a module's memory differs from its file, outside what the loader itself writes (relocations,
    the IAT): the executable sections are compared after relocating the file's image to the module's base."""
    pe = getattr(m, "pe", None)
    if pe is None:
        return False
    try:
        ref = pe.map_image()
        if m.base != pe.image_base:
            pe.apply_relocations(ref, m.base)
        for s in pe.sections:
            if not (s.characteristics & 0x20000000):      # IMAGE_SCN_MEM_EXECUTE
                continue
            a, b = s.virtual_address, s.virtual_address + max(s.virtual_size, 0)
            if bytes(ref[a:b]) != bytes(image[a:b]):
                return True
    except Exception:  # noqa: BLE001 — a module we cannot compare is not called unpacked
        return False
    return False


# ------------------------------------------------------------------------------------------- the folder
def _write_executed(aspace, out: Path, record) -> None:
    """executed/: the memory outside images that ran after being written (the kernel's executed-after-written
    tracking, AddressSpace.executed_written): each page as it ran, one file per round
    (<base>-<page>-r<round>.bin), and each such allocation as it is at exit (<base>.bin)."""
    recs = getattr(aspace, "executed_written", None) or []
    if not recs:
        return
    (out / "executed").mkdir(exist_ok=True)
    bases: dict[int, int] = {}
    for rec in recs:
        bases.setdefault(rec["base"], rec["size"])
        if rec.get("data") is not None:
            p = out / "executed" / f"{rec['base']:x}-{rec['page']:x}-r{rec['round']}.bin"
            p.write_bytes(rec["data"])
            record("executed", p, base=rec["base"], page=rec["page"], address=rec["address"], round=rec["round"],
                   protect=rec["protect"], when="as it ran")
    for base, size in bases.items():
        try:
            data = _read(aspace, base, size)        # pages not readable (or freed since) read as zeros
        except Exception:  # noqa: BLE001 — an allocation freed before the exit: its snapshots are what is left
            data = b""
        if data:
            p = out / "executed" / f"{base:x}.bin"
            p.write_bytes(data)
            record("executed", p, base=base, size=size, when="at exit")


def write_dumps(result, out_dir) -> dict:
    """Write every dump of `result` (a runner.RunResult) under out_dir; returns the manifest."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    proc = result.process
    manifest = {"process": None, "minidump": None, "modules": [], "unpacked": [], "regions": [], "executed": []}
    if proc is None or proc.aspace is None:
        (out / "manifest.json").write_text(json.dumps(manifest, indent=1))
        return manifest
    aspace = proc.aspace
    ldr = proc.subsystem.get("ldr")
    modules = list(ldr.modules) if ldr is not None else []
    manifest["process"] = {"pid": proc.pid, "image": proc.image_path, "arch": proc.arch}

    def record(kind: str, file: Path, **extra) -> None:
        data = file.read_bytes()
        manifest[kind].append({"file": str(file.relative_to(out)), "size": len(data),
                               "sha256": hashlib.sha256(data).hexdigest(), **extra})

    stem = Path(proc.image_name or "process").stem
    dmp = out / f"{stem}-{proc.pid}.dmp"
    write_minidump(proc, modules, dmp, crash=result.crash, profile=getattr(result.machine, "profile", None))
    data = dmp.read_bytes()
    manifest["minidump"] = {"file": dmp.name, "size": len(data), "sha256": hashlib.sha256(data).hexdigest()}

    (out / "modules").mkdir(exist_ok=True)
    for m in modules:
        image = _read(aspace, m.base, m.size)
        p = out / "modules" / f"{m.name}-{m.base:x}.bin"
        p.write_bytes(image)
        record("modules", p, name=m.name, base=m.base, size=m.size, guest_path=m.path)
        differs = _image_differs(m, image)
        if m.is_exe or differs:
            rebuilt = rebuild_pe(bytearray(image), m.base, modules, m.name)
            if rebuilt is not None:
                (out / "unpacked").mkdir(exist_ok=True)
                ext = Path(m.name).suffix or (".exe" if m.is_exe else ".dll")
                q = out / "unpacked" / f"{Path(m.name).stem}-{m.base:x}{ext}"
                q.write_bytes(rebuilt)
                record("unpacked", q, name=m.name, base=m.base, differs=differs)

    for r in aspace.regions():
        if r.Type == MEM_PRIVATE and r.State == MEM_COMMIT and (r.Protect & EXECUTABLE) and _readable(r):
            (out / "regions").mkdir(exist_ok=True)
            p = out / "regions" / f"{r.BaseAddress:x}.bin"
            p.write_bytes(_read(aspace, r.BaseAddress, r.RegionSize))
            record("regions", p, base=r.BaseAddress, size=r.RegionSize, protect=r.Protect)
    _write_executed(aspace, out, record)
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1))
    return manifest
