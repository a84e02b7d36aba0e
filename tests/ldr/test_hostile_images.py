"""Malformed images found by the mutation fuzzer (issue 14): each ended in winhatch's internal error and
must behave as Windows does. The images are made here with winhatch.pe.builder and patched."""
import shutil
import struct

import pytest

from winhatch import runner
from winhatch.pe import PEFile
from winhatch.pe.builder import SCN_CODE, ImageBuilder

STATUS_ACCESS_VIOLATION = 0xC0000005
STATUS_ENTRYPOINT_NOT_FOUND = 0xC0000139
ERROR_PROC_NOT_FOUND = 127


def exit_exe(arch, code=42, **kw):
    """An exe whose entry point calls kernel32!ExitProcess(code); returns (builder, .text section)."""
    b = ImageBuilder(arch=arch, **kw)
    (iat,) = b.add_import("kernel32.dll", ["ExitProcess"])
    text = b.add_section(".text", bytes(64), SCN_CODE)
    if arch == "x64":
        disp = iat - (text.rva + 4 + 5 + 6)
        c = b"\x48\x83\xec\x28" + b"\xb9" + struct.pack("<I", code) + b"\xff\x15" + struct.pack("<i", disp)
    else:
        c = b"\x68" + struct.pack("<I", code) + b"\xff\x15" + struct.pack("<I", b.image_base + iat)
        b.add_relocation(text.rva + 7)
    text.data[:len(c)] = c
    b.entry_point_rva = text.rva
    return b, text


def patch_entry_point(image: bytes, rva: int) -> bytes:
    img = bytearray(image)
    pe = PEFile(bytes(img))
    off = pe.dos_header.e_lfanew + 24 + 16       # OptionalHeader.AddressOfEntryPoint
    img[off:off + 4] = struct.pack("<I", rva)
    return bytes(img)


_PLACEHOLDER = "placeholderplaceholder.real"


def forwarder_dll(arch, forwarders: dict[str, str], name="fwd.dll") -> bytes:
    """A DLL exporting `real` (code) and each name of `forwarders` as a forwarder string, written into the
    image as given, malformed ones included (the builder itself refuses them)."""
    d = ImageBuilder(arch=arch, dll=True, name=name)
    tx = d.add_section(".text", b"\xc3" * 16, SCN_CODE)
    d.add_export("real", tx.rva)
    for i, export in enumerate(forwarders):
        d.add_export(export, forwarder=f"{_PLACEHOLDER}{i:02d}")
    img = bytearray(d.build())
    for i, fwd in enumerate(forwarders.values()):
        ph = f"{_PLACEHOLDER}{i:02d}".encode() + b"\0"
        at = img.find(ph)
        new = fwd.encode() + b"\0"
        assert at > 0 and len(new) <= len(ph)
        img[at:at + len(ph)] = new.ljust(len(ph), b"\0")
    return bytes(img)


def test_entry_point_past_4gib_wraps_on_x86(tmp_path):
    """An x86 AddressOfEntryPoint of 0xFFFFFFF0 (0x400000 + it overflows 32 bits): the address wraps as
    ntdll's 32-bit arithmetic does (0x3FFFF0, unmapped) and the program dies of an access violation."""
    b, _ = exit_exe("x86")
    (tmp_path / "ep.exe").write_bytes(patch_entry_point(b.build(), 0xFFFFFFF0))
    res = runner.run(tmp_path / "ep.exe", timeout=60)
    assert res.exit_status == STATUS_ACCESS_VIOLATION, res.error
    assert res.crash["address"] == 0x3FFFF0, res.crash


def test_entry_point_beyond_image_on_x64(tmp_path):
    b, _ = exit_exe("x64")
    (tmp_path / "ep.exe").write_bytes(patch_entry_point(b.build(), 0xFFFFFFF0))
    res = runner.run(tmp_path / "ep.exe", timeout=60)
    assert res.exit_status == STATUS_ACCESS_VIOLATION, res.error
    assert res.crash["address"] == 0x140000000 + 0xFFFFFFF0, res.crash


MALFORMED = {"empty ordinal": "fwd.#", "empty string": "", "no dot": "fwd", "empty symbol": "fwd.",
             "ordinal not a number": "fwd.#x1"}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_forwarder_fails_a_static_import(tmp_path, arch, case):
    """Importing a malformed forwarder fails the start-up as a missing entry point (0xC0000139)."""
    (tmp_path / "fwd.dll").write_bytes(forwarder_dll(arch, {"f": MALFORMED[case]}))
    b, _ = exit_exe(arch)
    b.add_import("fwd.dll", ["f"])
    (tmp_path / "imp.exe").write_bytes(b.build())
    res = runner.run(tmp_path / "imp.exe", timeout=60)
    assert res.exit_status == STATUS_ENTRYPOINT_NOT_FOUND, res.error
    assert res.startup_error["symbol"] == "f" and "malformed forwarder" in res.startup_error["message"]


def getproc(build_fixture, tmp_path, arch, dll: bytes, *names):
    shutil.copy(build_fixture("ldr_getproc.c", arch), tmp_path / "getproc.exe")
    (tmp_path / "t.dll").write_bytes(dll)
    res = runner.run(tmp_path / "getproc.exe", ["t.dll", *names], timeout=60)
    assert res.exit_status == 0, (res.error, res.stdout)
    return res.stdout.decode().splitlines()


def test_malformed_forwarder_getprocaddress(build_fixture, tmp_path, arch):
    """GetProcAddress of a malformed forwarder: NULL with ERROR_PROC_NOT_FOUND; the rest of the DLL works."""
    names = sorted(MALFORMED)
    dll = forwarder_dll(arch, {f"f{i}": MALFORMED[n] for i, n in enumerate(names)} | {"good": "t.real"})
    out = getproc(build_fixture, tmp_path, arch, dll, *[f"f{i}" for i in range(len(names))], "good")
    assert out[:-1] == [f"f{i} null error {ERROR_PROC_NOT_FOUND}" for i in range(len(names))]
    assert out[-1].startswith("good found offset ")


def test_export_rva_past_4gib_wraps_on_x86(build_fixture, tmp_path):
    """An x86 export whose RVA overflows 32 bits when added to the base: the address wraps (base - 0x10),
    for a static import (the IAT gets it; the program never calls it) and for GetProcAddress."""
    d = ImageBuilder(arch="x86", dll=True, name="t.dll")
    tx = d.add_section(".text", b"\xc3" * 16, SCN_CODE)
    d.add_export("real", tx.rva)
    d.add_export("far", tx.rva + 8)
    dll = bytearray(d.build())
    pe = PEFile(bytes(dll))
    exp_dir = pe.rva_to_offset(pe.directory(0).rva)
    eat = pe.rva_to_offset(struct.unpack_from("<I", dll, exp_dir + 0x1C)[0])   # AddressOfFunctions
    assert struct.unpack_from("<I", dll, eat + 4)[0] == tx.rva + 8
    struct.pack_into("<I", dll, eat + 4, 0xFFFFFFF0)                          # the builder refuses it
    dll = bytes(dll)
    assert getproc(build_fixture, tmp_path, "x86", dll, "far") == ["far found offset -16"]
    b, _ = exit_exe("x86")
    b.add_import("t.dll", ["far"])
    (tmp_path / "imp.exe").write_bytes(b.build())
    res = runner.run(tmp_path / "imp.exe", timeout=60)
    assert res.exit_status == 42, res.error


def test_long_forwarder_chain_is_followed(build_fixture, tmp_path, arch):
    """f0 → t.f1 → … → t.f40 → t.real: Windows follows a chain of any length (the loader resolves each
    forwarder in turn); only a cycle is refused, as a missing procedure."""
    chain = {f"f{i}": f"t.f{i + 1}" for i in range(40)} | {"f40": "t.real"}
    chain |= {"c0": "t.c1", "c1": "t.c2", "c2": "t.c0"}
    dll = forwarder_dll(arch, chain, name="t.dll")
    real = PEFile(dll).exports.lookup("real").entry.rva
    out = getproc(build_fixture, tmp_path, arch, dll, "f0", "c0")
    assert out == [f"f0 found offset {real}", f"c0 null error {ERROR_PROC_NOT_FOUND}"]
    b, _ = exit_exe(arch)
    b.add_import("t.dll", ["f0"])
    (tmp_path / "imp.exe").write_bytes(b.build())
    assert runner.run(tmp_path / "imp.exe", timeout=60).exit_status == 42


@pytest.mark.parametrize("callback", [0xFFFFFFFFFFFFFFF0, 0x0000800000000000, 0xFFFF800000000000])
def test_tls_callback_at_non_canonical_address(tmp_path, callback):
    """A TLS callback at a non-canonical (or the topmost) x64 address: an access violation in the guest, then
    the ordinary unhandled-exception path (exit status 0xC0000005), never an engine error."""
    b, text = exit_exe("x64")
    info = b.set_tls(callbacks=[text.rva])
    img = bytearray(b.build())
    off = PEFile(bytes(img)).rva_to_offset(info.callbacks_rva)
    img[off:off + 8] = struct.pack("<Q", callback)
    (tmp_path / "tls.exe").write_bytes(img)
    res = runner.run(tmp_path / "tls.exe", timeout=60)
    assert res.exit_status == STATUS_ACCESS_VIOLATION, res.error
    assert res.crash["address"] == callback, res.crash
