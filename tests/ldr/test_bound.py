"""Bound imports: honoured when the bound timestamp matches the DLL and the DLL is at its preferred base,
re-snapped otherwise. The images are built here with winhatch.pe.builder and bound by hand: the binding
deliberately points at a *different* export (g) than the import names (f), so which one the program calls
shows whether the loader trusted the binding."""
import struct

import pytest

from winhatch import runner
from winhatch.pe import PEFile
from winhatch.ntstatus import STATUS_CONFLICTING_ADDRESSES
from winhatch.pe.builder import SCN_CODE, SCN_DATA, SCN_RDATA, ImageBuilder

DLL_TS = 0x5F000000
BASES = {"x64": (0x140000000, 0x7F000000), "x86": (0x400000, 0x5F000000)}


def build_dll(arch, base, ts, relocations=True):
    b = ImageBuilder(arch=arch, dll=True, image_base=base, name="bnd.dll", timestamp=ts)
    code = b"\xb8\x0b\x00\x00\x00\xc3" + b"\xcc" * 10 + b"\xb8\x16\x00\x00\x00\xc3"  # f: return 11; g: return 22
    t = b.add_section(".text", code, SCN_CODE)
    b.add_export("f", t.rva)
    b.add_export("g", t.rva + 16)
    if relocations:   # a pointer to f: a base relocation directory, so the DLL can be moved
        d = b.add_section(".data", bytes(16), SCN_DATA)
        b.add_pointer(d.rva, t.rva)
    return b.build(), t.rva + 16


def build_exe(arch, bound_ts, dll_base, g_rva):
    exe_base = BASES[arch][0]
    b = ImageBuilder(arch=arch, dll=False, image_base=exe_base, name="bound.exe")
    (iat,) = b.add_import("bnd.dll", ["f"])
    text = b.add_section(".text", bytes(32), SCN_CODE)
    if arch == "x64":
        disp = iat - (text.rva + 4 + 6)
        code = b"\x48\x83\xec\x28" + b"\xff\x15" + struct.pack("<i", disp) + b"\x48\x83\xc4\x28\xc3"
    else:
        code = b"\xff\x15" + struct.pack("<I", exe_base + iat) + b"\xc3"
        b.add_relocation(text.rva + 2)
    text.data[:len(code)] = code
    b.entry_point_rva = text.rva
    bnd = b.add_section(".bnd", bytes(32), SCN_RDATA)
    # IMAGE_BOUND_IMPORT_DESCRIPTOR {TimeDateStamp, OffsetModuleName, NumberOfModuleForwarderRefs}, terminator, name
    bnd.data[:8] = struct.pack("<IHH", bound_ts, 16, 0)
    bnd.data[16:24] = b"bnd.dll\0"
    b.set_directory(11, bnd.rva, 24)
    image = bytearray(b.build())
    pe = PEFile(bytes(image))
    desc = pe.imports[0]
    image[pe.rva_to_offset(desc.rva) + 4:pe.rva_to_offset(desc.rva) + 8] = b"\xff\xff\xff\xff"  # bound (new style)
    ps = 8 if arch == "x64" else 4
    off = pe.rva_to_offset(iat)
    image[off:off + ps] = (dll_base + g_rva).to_bytes(ps, "little")  # the binder's address: g, not f
    return bytes(image)


@pytest.mark.parametrize("case, bound_ts, dll_base_of, expected", [
    ("timestamps match", DLL_TS, "own", 22),       # the binding is trusted: the program calls g
    ("stale binding", DLL_TS + 1, "own", 11),      # re-snapped: f
    ("DLL relocated", DLL_TS, "exe", 11),          # the DLL could not sit at its base: re-snapped
])
def test_bound_imports(tmp_path, arch, case, bound_ts, dll_base_of, expected):
    exe_base, dll_base = BASES[arch]
    if dll_base_of == "exe":
        dll_base = exe_base  # the exe occupies it: the DLL is mapped elsewhere
    dll, g_rva = build_dll(arch, dll_base, DLL_TS)
    (tmp_path / "bnd.dll").write_bytes(dll)
    (tmp_path / "bound.exe").write_bytes(build_exe(arch, bound_ts, dll_base, g_rva))
    res = runner.run(tmp_path / "bound.exe")
    assert res.exit_status == expected, (case, res.error, res.startup_error)
    snaps = [e.data for e in res.events if e.name == "LdrpSnapModule" and e.data.get("dll") == "bnd.dll"]
    assert [s.get("bound", False) for s in snaps] == [expected == 22]


def test_dll_without_relocations_cannot_be_moved(tmp_path, arch):
    """A DLL without a base relocation directory whose preferred base is taken (here by the exe) is not loaded
    elsewhere: STATUS_CONFLICTING_ADDRESSES (ERROR_INVALID_ADDRESS from LoadLibrary), as Wine's
    kernel32/tests/loader.c test_image_mapping records on Windows."""
    exe_base, _ = BASES[arch]
    dll, g_rva = build_dll(arch, exe_base, DLL_TS, relocations=False)
    (tmp_path / "bnd.dll").write_bytes(dll)
    (tmp_path / "bound.exe").write_bytes(build_exe(arch, DLL_TS, exe_base, g_rva))
    res = runner.run(tmp_path / "bound.exe")
    assert res.startup_error and res.startup_error["status"] == STATUS_CONFLICTING_ADDRESSES
    assert res.startup_error["dll"] == "bnd.dll"
