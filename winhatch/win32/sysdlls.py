"""Synthetic system DLL images: the real export surface, a trap stub behind every code export.

Each DLL of the export data (generated from Wine's PE DLLs by tools/gen_exports.py, plus the Windows DLLs
Wine lacks from winhatch/win32/data/supplement.json) becomes a real PE
image built with winhatch.pe.builder: the same names, ordinals and forwarders; at each code export a trap
stub; data exports winhatch implements (declared with winhatch.win32.api.data_export) as data of their
declared size, filled by the DLL's initialiser; every other data export in a no-access section (`.whnone`),
where a read or write by the guest stops it as an unimplemented API does (subsystem._data_export_fault);
functions a DLL has without exporting them (api.internal_function: msvcp140's filebuf virtual functions) as
framed stubs; a `.whtrap` section naming every stub (and ntdll's internal entry points) so the kernel can
dispatch a trap to its Python handler. The images are
written once into a cache directory keyed by everything that shapes them, and that directory is mounted
read-only as the sandbox's C:\\Windows\\System32 (x64) and C:\\Windows\\SysWOW64 (x86). The loader finds
and maps them like any other DLL: there is no special path.

Each image also carries a version resource (`.rsrc`, VS_VERSIONINFO in U.S. English / Unicode) as Windows 10
22H2's system files do: file and product version 10.0.19041.3636 (22H2 keeps the 19041 file versions of its
20H1 base; 3636 is the November 2023 cumulative update), Microsoft's company, copyright and product strings,
the file's name as InternalName (without extension) and OriginalFilename, VFT_DLL, VOS_NT_WINDOWS32 —
what GetFileVersionInfo of kernel32.dll gives a program that checks the Windows version that way.
"""
from __future__ import annotations

import os
import struct
from pathlib import Path

from winhatch._hash import sha256
from winhatch.cache import cache_root  # noqa: F401 (the cache directory; re-exported)

from winhatch.kernel.ke.traps import TRAP_SECTION, encode_trap_table
from winhatch.win32 import api
from winhatch.win32.data import load_exports

FORMAT_VERSION = 11  # 10: kernel32 and kernelbase carry import directories, as Windows 10's do (SYSTEM_IMPORTS);
                    # 11: nsi.dll and wintrust.dll too
#: the file version of the synthetic system DLLs (Windows 10 22H2 files, November 2023 update level)
SYSTEM_FILE_VERSION = (10, 0, 19041, 3636)
#: bytes per stub: winhatch.cpu.api_stub (73 bytes x64, 45 x86) rounded up
STUB_STRIDE = {"x64": 80, "x86": 48}
INTERNAL = {"ntdll.dll": ["WhCallReturn", "WhThreadReturn", "WhExcReturn", "WhExcNested", "WhFiberReturn",
                         "LdrpDoDebuggerBreak", "WhCallGuard"]}
ENTRY_NAME = "DllEntryPoint"
#: the import directories of the system DLLs whose imports shape every process: Windows 10's kernel32.dll
#: imports KERNELBASE.dll (directly and through api-ms-win-core-* sets) and ntdll.dll, kernelbase imports
#: ntdll.dll only — which is how ntdll's loader comes to map kernelbase into every Win32 process once it loads
#: kernel32 (winhatch.ldr.loader.LdrpInitializeProcess). A few functions each: the stubs trap to Python, so
#: the IAT slots are the real structure (what `winhatch deps` and a guest parsing the image see), not a path.
SYSTEM_IMPORTS = {
    "kernel32.dll": (("KERNELBASE.dll", ("CloseHandle", "CreateFileW", "GetLastError", "GetModuleHandleW",
                                         "GetProcAddress", "LoadLibraryExW")),
                     ("ntdll.dll", ("NtClose", "NtQueryInformationProcess", "RtlAllocateHeap", "RtlFreeHeap",
                                    "RtlNtStatusToDosError"))),
    "kernelbase.dll": (("ntdll.dll", ("LdrLoadDll", "NtClose", "NtQueryInformationProcess", "RtlAllocateHeap",
                                      "RtlFreeHeap", "RtlNtStatusToDosError")),),
    # nsi.dll (the network store interface, over the NSI driver) imports ntdll.dll; wintrust.dll imports
    # crypt32.dll, so LoadLibrary("wintrust.dll") maps crypt32 with it and a DLL notification callback sees both
    # (Wine's ntdll/tests/rtl.c test_LdrRegisterDllNotification, written on Windows)
    "nsi.dll": (("ntdll.dll", ("NtClose", "NtCreateFile", "NtDeviceIoControlFile", "RtlAllocateHeap",
                               "RtlFreeHeap", "RtlInitUnicodeString")),),
    "wintrust.dll": (("crypt32.dll", ("CertCloseStore", "CertFreeCertificateContext", "CertOpenStore",
                                      "CryptDecodeObjectEx", "CryptMsgClose")),
                     ("ntdll.dll", ("RtlAllocateHeap", "RtlFreeHeap"))),
}
#: the no-access section holding the data exports winhatch does not implement, and each one's slot in it:
#: an access up to this far past the export is attributed to it
NONE_SECTION = ".whnone"
#: the Windows programs the machine's System32 / SysWOW64 hold beside the DLLs: winhatch's own builds
#: (winhatch/hosts, each from its committed source) under Windows's file names
SYSTEM_PROGRAMS = {"cmd.exe": "cmd", "notepad.exe": "notepad"}
NONE_SLOT = 0x100


def _bases(arch: str, dlls: dict) -> dict[str, int]:
    """Deterministic, non-overlapping preferred bases in the system DLL range of each architecture."""
    out = {}
    if arch == "x64":
        addr = 0x7FF800000000
        for name in sorted(dlls):
            out[name] = addr
            addr += 0x200000
    else:
        addr = 0x70000000
        for name in sorted(dlls):
            out[name] = addr
            n = len(dlls[name]["exports"])
            addr += (0x4000 + n * STUB_STRIDE[arch] + n * 16 + 0x10000 + 0xFFFF) & ~0xFFFF
    return out


def _data_sizes() -> dict[tuple[str, str], int]:
    return {(d, n): s for d, n, s, _ in api.data_exports()}


def _entry_dlls() -> set[str]:
    s = set(api.dll_initializers())
    s.update(d for d, _, _, init in api.data_exports() if init is not None)
    return s


def cache_key(arch: str) -> str:
    """The name of the directory that holds `arch`'s synthetic DLLs: a digest of everything they are built
    from.  That is a function of winhatch's sources (the handler index's key: every .py file's identity) and
    of its data files, so it is kept in the start-up cache by those identities (computing it read and hashed
    the native blob and built its code, ~5 ms of every start)."""
    from winhatch.cache import cached, file_identity
    from winhatch.kernel.ke import services
    from winhatch.win32 import data as data_pkg
    from winhatch.win32 import handler_index, native
    index = handler_index.ensure()   # the declarations are every handler module's, whichever are imported
    files = [str(Path(data_pkg.__file__).parent / f"exports-{arch}.json.gz"), str(data_pkg.SUPPLEMENT),
             str(Path(services.__file__).with_name("services.tsv")), str(native.BLOB_PATH)]
    files += [_system_program_path(host, arch) for _name, host in sorted(SYSTEM_PROGRAMS.items())]
    inputs = "\n".join([arch, index.key, *map(file_identity, files)])
    return cached("sysdll-cache-key", inputs, lambda: _cache_key(arch))


def _cache_key(arch: str) -> str:
    from winhatch.cpu import TRAP_STUB, api_stub
    from winhatch.win32 import data as data_pkg
    from winhatch.win32 import native
    h = sha256()
    h.update(f"{FORMAT_VERSION}:{arch}:{TRAP_STUB.hex()}:{api_stub(arch)[0].hex()}:{native.signature()}".encode())
    h.update(_content_digest(Path(data_pkg.__file__).parent / f"exports-{arch}.json.gz"))
    h.update(_content_digest(data_pkg.SUPPLEMENT))
    h.update(repr(sorted(_data_sizes().items())).encode())
    h.update(repr(sorted(_entry_dlls())).encode())
    h.update(repr(sorted(INTERNAL.items())).encode())
    h.update(repr(sorted(SYSTEM_IMPORTS.items())).encode())
    h.update(repr(sorted(api.internal_functions())).encode())
    h.update(repr(api.internal_data_items()).encode())
    from winhatch.kernel.ke import services
    h.update(Path(services.__file__).with_name("services.tsv").read_bytes())
    h.update(services.WOW64_TRANSITION_X86)
    for name, host in sorted(SYSTEM_PROGRAMS.items()):
        h.update(name.encode() + _content_digest(_system_program_path(host, arch)))
    return h.hexdigest()[:16]


def _content_digest(path) -> bytes:
    """SHA-256 of a file's bytes, kept in the start-up cache by the file's identity: cache_key reads its
    inputs at every start, and hashing them again (the ~650 kB export data) was ~3 ms of it."""
    from winhatch.win32 import startup_cache
    return startup_cache.cached("content-sha256", startup_cache.file_identity(str(path)),
                                lambda: sha256(Path(path).read_bytes()).digest())


def _system_program_path(host: str, arch: str) -> str:
    import winhatch.hosts
    return os.path.join(os.path.dirname(winhatch.hosts.__file__), f"{host}-{arch}.exe")


def _system_program(host: str, arch: str) -> bytes:
    from importlib import resources
    return resources.files("winhatch.hosts").joinpath(f"{host}-{arch}.exe").read_bytes()


def build_dll(arch: str, name: str, info: dict, base: int) -> bytes:
    """Code exports get the framed API stub (winhatch.cpu.api_stub); ntdll's internal entry points and the
    DLL entry point get a bare trap (they are reached by returns and by the loader, with live registers).
    The exports Windows runs in user mode get their machine code in front of a framed stub
    (winhatch.win32.native)."""
    # (the builder is imported here: a start with the DLLs already in the cache never needs it)
    from winhatch.pe.builder import IMAGE_SCN_CNT_UNINITIALIZED_DATA, SCN_CODE, SCN_DATA, SCN_RDATA, ImageBuilder
    from winhatch.cpu import TRAP_STUB, api_stub
    from winhatch.win32 import native as nat
    from winhatch.win32.native import gate, native_code
    sizes = _data_sizes()
    entry_dlls = _entry_dlls()
    exports = info["exports"]
    code_names: list[tuple[int | None, str | None, str]] = []  # (ordinal or None: internal, export name, trap name)
    data_items: list[tuple[int, str | None, int]] = []
    none_items: list[tuple[int, str | None]] = []   # data exports without an implementation
    forwarders: list[tuple[int, str | None, str]] = []
    for ordinal, ename, fwd, is_data in exports:
        if fwd:
            forwarders.append((ordinal, ename, fwd))
        elif is_data:
            if (name, ename) in sizes:
                data_items.append((ordinal, ename, sizes[(name, ename)]))
            else:
                none_items.append((ordinal, ename))
        else:
            code_names.append((ordinal, ename, ename or f"#{ordinal}"))
    # functions the DLL has but does not export (reached through its data: vftables): framed stubs, no export
    code_names += [(None, None, iname) for d, iname in api.internal_functions() if d == name]
    internal = list(INTERNAL.get(name, []))
    if name in entry_dlls:
        internal.append(ENTRY_NAME)
    stride = STUB_STRIDE[arch]
    code, va_at, _ = api_stub(arch)
    framed = code.ljust(stride, b"\xcc")
    bare = TRAP_STUB.ljust(stride, b"\xcc")
    body = bytearray()
    # per code export: (offset in .text, offset of its x86 stub VA, offset of its framed stub from the entry)
    placed: list[tuple[int, int | None, int]] = []
    # ntdll's system-service stubs (winhatch.kernel.ke.services): Windows 10's code, no trap; x86 stubs call
    # Wow64SystemServiceCall, placed first
    from winhatch.kernel.ke import services
    is_ntdll = name == "ntdll.dll"
    syscall_stubs: dict[int, int] = {}   # offset in .text of an x86 stub's Wow64SystemServiceCall VA
    wow64_off = None
    if is_ntdll and arch == "x86":
        wow64_off = 0
        body += services.WOW64_TRANSITION_X86.ljust(16, b"\xcc")
    # the compiled native code (winhatch.win32.native.blob), once per DLL that exports one of its functions
    blob = blob_off = None
    stubs: dict[str, int] = {}      # export name -> offset in .text of its framed stub (the Python path)
    if any(nat.blob_symbol(arch, name, en) is not None for _o, en, _t in code_names):
        blob = nat.blob(arch)
        body += b"\xcc" * (-len(body) % 16)
        blob_off = len(body)
        body += blob.code
        body += b"\xcc" * (-len(body) % 16)
        trap_pad = len(body)        # a __wh_py_ target whose export this DLL lacks (unreachable): int3
        body += b"\xcc" * 16
    for _ordinal, ename, _tname in code_names:
        svc = services.service_for_export(ename) if is_ntdll else None
        if svc is not None:
            stub, at = services.ntdll_stub(arch, svc)
            if at is not None:
                syscall_stubs[len(body) + at] = wow64_off
            placed.append((len(body), None, 0))
            body += stub.ljust(32, b"\xcc")
            continue
        raw = nat.raw_code(name, ename)
        if raw is not None:          # machine code only (DbgBreakPoint): no trap, no gate
            placed.append((len(body), None, 0))
            body += raw.ljust(16, b"\xcc")
            continue
        native = native_code(arch, name, ename)
        sym = nat.blob_symbol(arch, name, ename) if blob is not None else None
        if sym is not None:   # gate ; jmp <blob function>
            g_len = len(gate(arch, 5))
            native = b"\xe9" + struct.pack("<i", blob_off + sym - (len(body) + g_len + 5))
        if native is None:
            placed.append((len(body), va_at, 0))
            body += framed
            continue
        g = gate(arch, len(native))   # traced calls jump past the native body to a framed stub
        back = len(g) + len(native)
        # the framed stub names itself (not the export): a call that blocks is re-run from the trap's VA
        # (winhatch.kernel.ke.wait), which must be the Python path, not the native code again
        stub, stub_va_at, _ = api_stub(arch)
        placed.append((len(body), None if stub_va_at is None else back + stub_va_at, back))
        if ename:
            stubs[ename] = len(body) + back
        body += (g + native + stub).ljust(-(-(back + len(stub)) // 16) * 16, b"\xcc")
    data_refs = []
    if blob is not None:
        for at, sym, kind, bias in blob.ext:
            p = blob_off + at
            if sym.startswith("__wh_py_"):
                target = stubs.get(sym[len("__wh_py_"):], trap_pad)
                body[p:p + 4] = struct.pack("<i", target - p + bias)
            else:
                data_refs.append((p, sym[len("__wh_data_"):], kind, bias))
    first_internal = len(body)
    body += bare * max(len(internal), 1)
    for j, iname in enumerate(internal):
        raw = nat.raw_code(name, iname)
        if raw is not None:          # machine code only (LdrpDoDebuggerBreak)
            at = first_internal + j * stride
            body[at:at + stride] = raw.ljust(stride, b"\xcc")
    b = ImageBuilder(arch=arch, dll=True, image_base=base, name=name, timestamp=0)
    text = b.add_section(".text", bytes(body), SCN_CODE)
    if blob is not None:
        for at, target in blob.abs:
            b.add_pointer(text.rva + blob_off + at, text.rva + blob_off + target)
    traps: list[tuple[int, str]] = []
    for at, target in syscall_stubs.items():
        b.add_pointer(text.rva + at, text.rva + target)   # mov edx, Wow64SystemServiceCall (relocated)
    for (ordinal, ename, tname), (off, va_off, back) in zip(code_names, placed):
        rva = text.rva + off
        if ordinal is not None:
            b.add_export(ename, rva, ordinal=ordinal)
        if is_ntdll and services.service_for_export(ename) is not None:
            continue   # a system-service stub: machine code, not a trap
        traps.append((rva, tname))
        if back:
            traps.append((rva + back, tname))   # the framed stub behind a native export's gate
        if va_off is not None:
            b.add_pointer(rva + va_off, rva + back)   # the stub's VA in its code, relocated with the image
    entry_rva = 0
    for j, iname in enumerate(internal):
        rva = text.rva + first_internal + j * stride
        traps.append((rva, iname))
        if iname == ENTRY_NAME:
            entry_rva = rva
    if data_items:
        layout = []
        off = 0
        for ordinal, ename, size in data_items:
            off = (off + 15) & ~15
            layout.append((ordinal, ename, off))
            off += size
        data = b.add_section(".data", bytes(max(off, 16)), SCN_DATA)
        for ordinal, ename, o in layout:
            b.add_export(ename, data.rva + o, ordinal=ordinal)
            if ename == services.WOW64_TRANSITION_VARIABLE and wow64_off is not None:
                # 32-bit ntdll!Wow64Transition: the address its system-service stubs reach to leave 32-bit code
                # (on Windows a wow64cpu.dll thunk stored there when WoW64 starts; in winhatch the int 2Eh
                # transition routine at the head of ntdll's .text, relocated with the image)
                b.add_pointer(data.rva + o, text.rva + wow64_off)
    _layout, internal_size = api.internal_data_layout(name)
    if internal_size:
        whdata = b.add_section(api.INTERNAL_DATA, bytes(internal_size), SCN_DATA)
    if blob is not None:
        nstate = b.add_section(nat.STATE_SECTION, bytes(nat.STATE_SIZE), SCN_DATA)
    for p, dname, kind, bias in data_refs:
        if dname != "native_state":
            raise ValueError(f"{name}: the native code refers to {dname!r}, which no DLL provides")
        target = nstate.rva
        if kind == "rel32":
            b.write(text.rva + p, struct.pack("<i", target - (text.rva + p) + bias))
        else:
            b.add_pointer(text.rva + p, target + bias)
    if none_items:
        # no IMAGE_SCN_MEM_READ/WRITE: mapped PAGE_NOACCESS; the loader still binds imports to these addresses
        none = b.reserve_section(NONE_SECTION, len(none_items) * NONE_SLOT, IMAGE_SCN_CNT_UNINITIALIZED_DATA)
        for j, (ordinal, ename) in enumerate(none_items):
            b.add_export(ename, none.rva + j * NONE_SLOT, ordinal=ordinal)
    for ordinal, ename, fwd in forwarders:
        b.add_export(ename, ordinal=ordinal, forwarder=fwd)
    for dll, symbols in SYSTEM_IMPORTS.get(name, ()):
        b.add_import(dll, list(symbols))
    b.add_section(TRAP_SECTION, encode_trap_table(traps), SCN_RDATA)
    rsrc = version_resource(name, b.next_rva)
    sec = b.add_section(".rsrc", rsrc, SCN_RDATA)
    b.set_directory(2, sec.rva, len(rsrc))
    b.entry_point_rva = entry_rva
    return b.build()


def version_resource(name: str, rva: int) -> bytes:
    """The .rsrc bytes (placed at `rva`) holding a system DLL's VS_VERSIONINFO."""
    from winhatch.pe.rsrcwrite import build_resource_tree, build_version_info
    v = ".".join(map(str, SYSTEM_FILE_VERSION))
    vi = build_version_info(file_version=SYSTEM_FILE_VERSION, product_version=SYSTEM_FILE_VERSION, strings={
        "CompanyName": "Microsoft Corporation",
        "FileVersion": f"{v} (WinBuild.160101.0800)",
        "InternalName": name.rsplit(".", 1)[0],
        "LegalCopyright": "\u00a9 Microsoft Corporation. All rights reserved.",
        "OriginalFilename": name,
        "ProductName": "Microsoft\u00ae Windows\u00ae Operating System",
        "ProductVersion": v})
    return build_resource_tree({(16, 1, 0x409): (vi, 0)}, rva)


def forwarders(arch: str) -> dict[tuple[str, str], str]:
    """{(dll, export name): forwarder string} for `arch`, from the index written next to the built DLLs."""
    import pickle
    path = ensure_installed(arch) / "forwarders.pickle"
    with open(path, "rb") as f:
        return pickle.load(f)


def _write_forwarders(d: Path, dlls: dict) -> None:
    import pickle
    idx = {(name, en): f for name, info in dlls.items() for _o, en, f, _is_data in info["exports"] if f and en}
    tmp = d / f".forwarders.{os.getpid()}.tmp"
    tmp.write_bytes(pickle.dumps(idx, protocol=pickle.HIGHEST_PROTOCOL))
    os.replace(tmp, d / "forwarders.pickle")


def ensure_installed(arch: str, progress=None) -> Path:
    """Build (once) every synthetic DLL of `arch` into the cache; returns the directory."""
    key = cache_key(arch)
    d = cache_root() / f"{arch}-{key}"
    done = d / ".complete"
    if done.exists():
        return d
    d.mkdir(parents=True, exist_ok=True)
    dlls = load_exports(arch)
    bases = _bases(arch, dlls)
    items = sorted(dlls.items())
    for i, (name, info) in enumerate(items):
        out = d / name
        if out.exists():
            continue
        img = build_dll(arch, name, info, bases[name])
        tmp = d / f".{name}.{os.getpid()}.tmp"
        tmp.write_bytes(img)
        os.replace(tmp, out)
        if progress:
            progress(i + 1, len(items), name)
    for name, host in sorted(SYSTEM_PROGRAMS.items()):
        tmp = d / f".{name}.{os.getpid()}.tmp"
        tmp.write_bytes(_system_program(host, arch))
        os.replace(tmp, d / name)
    _write_forwarders(d, dlls)
    done.write_text(key)
    return d


def install(machine, arches=("x64", "x86"), progress=None) -> None:
    """Mount the synthetic DLL directories as the sandbox's System32 and SysWOW64."""
    for arch in arches:
        d = ensure_installed(arch, progress)
        machine.vfs.mount(machine.system_dir(arch), d, readonly=True)
