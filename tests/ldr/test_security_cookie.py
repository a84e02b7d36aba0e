"""The /GS security cookie (issue 14): the loader initialises IMAGE_LOAD_CONFIG_DIRECTORY.SecurityCookie when
it still holds the default value, as Windows' loader does (LdrpInitSecurityCookie): a per-process value, on
x64 with the high 16 bits zero; a cookie the image already set is left alone. The images are built here: their
entry point reads the cookie and exits with what it found."""
import struct

import pytest

from winhatch import runner
from winhatch.pe.builder import SCN_CODE, ImageBuilder

DEFAULT = {"x86": 0xBB40E64E, "x64": 0x00002B992DDFA232}
SCN_DATA = 0xC0000040   # initialised data, read/write


def cookie_exe(arch, value, lc_size=None):
    """Exit status: bit 0 = the cookie differs from the default; bit 1 (x64) = its high 16 bits are zero."""
    b = ImageBuilder(arch=arch)
    (iat,) = b.add_import("kernel32.dll", ["ExitProcess"])
    ps = 8 if arch == "x64" else 4
    data = b.add_section(".data", struct.pack("<Q" if ps == 8 else "<I", value) + bytes(16), SCN_DATA)
    cookie_rva = data.rva
    lc = bytearray(0x70 if arch == "x64" else 0x48)
    lc_size = lc_size or len(lc)
    struct.pack_into("<I", lc, 0, lc_size)
    lc_sec = b.add_section(".lcfg", bytes(lc), SCN_DATA)
    cookie_field = 0x58 if arch == "x64" else 0x3C
    b.add_pointer(lc_sec.rva + cookie_field, cookie_rva)
    b.set_directory(10, lc_sec.rva, lc_size)
    text = b.add_section(".text", bytes(96), SCN_CODE)
    if arch == "x64":
        c = b"\x48\x8b\x05" + struct.pack("<i", cookie_rva - (text.rva + 7))        # mov rax, [cookie]
        c += b"\x48\xba" + struct.pack("<Q", DEFAULT["x64"])                        # mov rdx, default
        c += b"\x31\xc9\x48\x39\xd0\x0f\x95\xc1"                                    # xor ecx,ecx; cmp; setne cl
        c += b"\x48\xc1\xe8\x30\x48\x85\xc0\x75\x03\x83\xc1\x02"                    # shr rax,48; test; jnz; add ecx,2
        c += b"\x48\x83\xec\x28\xff\x15"
        c += struct.pack("<i", iat - (text.rva + len(c) + 4))                       # call [ExitProcess]
    else:
        c = b"\xa1" + struct.pack("<I", b.image_base + cookie_rva)                   # mov eax, [cookie]
        b.add_relocation(text.rva + 1)
        c += b"\x31\xc9\x3d" + struct.pack("<I", DEFAULT["x86"]) + b"\x0f\x95\xc1"   # xor; cmp eax, default; setne cl
        c += b"\x51\xff\x15"
        b.add_relocation(text.rva + len(c))
        c += struct.pack("<I", b.image_base + iat)                                   # push ecx; call [ExitProcess]
    text.data[:len(c)] = c
    b.entry_point_rva = text.rva
    return b.build()


def test_default_cookie_is_initialised(tmp_path, arch):
    (tmp_path / "gs.exe").write_bytes(cookie_exe(arch, DEFAULT[arch]))
    res = runner.run(tmp_path / "gs.exe", timeout=60)
    assert res.exit_status == (3 if arch == "x64" else 1), res.error


def test_cookie_set_by_the_image_is_kept(tmp_path, arch):
    (tmp_path / "gs.exe").write_bytes(cookie_exe(arch, DEFAULT[arch] ^ 0x1234 if arch == "x86" else 0x1234))
    res = runner.run(tmp_path / "gs.exe", timeout=60)
    assert res.exit_status == (3 if arch == "x64" else 1), res.error
    # ... and the value itself is untouched: the program compares with the default only, so check the log
    assert not [e for e in res.events if e.name == "LdrpInitSecurityCookie"]


def test_load_config_too_short_for_the_cookie(tmp_path, arch):
    """A load configuration whose Size ends before SecurityCookie: nothing is initialised."""
    (tmp_path / "gs.exe").write_bytes(cookie_exe(arch, DEFAULT[arch], lc_size=0x40 if arch == "x64" else 0x3C))
    res = runner.run(tmp_path / "gs.exe", timeout=60)
    assert res.exit_status == (2 if arch == "x64" else 0), res.error
