"""SECTION_IMAGE_INFORMATION as Windows 10 fills it from an image's headers (NtQuerySection(SectionImageInformation),
NtQueryInformationProcess(ProcessImageInformation)): the facts Wine's kernel32/tests/loader.c query_image_section
checks on Windows — TransferAddress is ImageBase + AddressOfEntryPoint even without an entry point;
ImageContainsCode from SizeOfCode / the entry point, else an executable section or a sub-page SectionAlignment;
LoaderFlags 1 for an image with a COM descriptor; the ComPlus* ImageFlags from an IL-only COR20 header."""
import struct

import pytest

from winhatch.kernel.mm.section_services import image_information
from winhatch.pe import PEFile
from winhatch.pe.builder import IMAGE_SCN_CNT_CODE, IMAGE_SCN_MEM_READ, SCN_CODE, SCN_RDATA, ImageBuilder

BASE = {"x86": 0x10000000, "x64": 0x180000000}


def _info(arch, data):
    ps = 8 if arch == "x64" else 4
    raw = image_information(PEFile(data), ps)
    P = "Q" if ps == 8 else "I"
    transfer = struct.unpack_from(f"<{P}", raw, 0)[0]
    tail = 8 + 3 * ps + 4 if ps == 8 else 4 * ps + 4     # after SubSystemType
    (_minor, _major, _osmaj, _osmin, _chars, _dllch, _machine, code, flags, loader_flags, _size,
     _sum) = struct.unpack_from("<HHHHHHHBBIII", raw, tail)
    return transfer, code, flags, loader_flags


def _image(arch, *, code_chars=SCN_CODE, entry=False, cor=None):
    b = ImageBuilder(arch=arch, dll=True, image_base=BASE[arch])
    text = b.add_section(".text", b"\xc3" * 16, code_chars)
    if entry:
        b.entry_point_rva = text.rva
    if cor is not None:
        sec = b.add_section(".cor", cor, SCN_RDATA)
        b.set_directory(14, sec.rva, len(cor))
    return b.build()


def _cor20(major, minor, flags):
    return struct.pack("<IHHIII", 0x48, major, minor, 0, 0, flags).ljust(0x48, b"\0")


@pytest.mark.parametrize("arch", ["x86", "x64"])
def test_transfer_address_and_contains_code(arch):
    assert _info(arch, _image(arch, entry=True))[:2] == (BASE[arch] + 0x1000, 1)
    # no entry point: TransferAddress is the image base; SizeOfCode (a code section) says it has code
    assert _info(arch, _image(arch))[:2] == (BASE[arch], 1)
    # a readable, non-executable "code" section counted in SizeOfCode still makes the image contain code
    assert _info(arch, _image(arch, code_chars=IMAGE_SCN_CNT_CODE | IMAGE_SCN_MEM_READ))[1] == 1
    # no code declared, no entry point, nothing executable: no code
    assert _info(arch, _image(arch, code_chars=SCN_RDATA))[1] == 0


@pytest.mark.parametrize("arch", ["x86", "x64"])
def test_com_descriptor_sets_loader_flags_and_complus_image_flags(arch):
    pe32 = arch == "x86"
    assert _info(arch, _image(arch))[2:] == (0, 0)                                  # native: neither
    assert _info(arch, _image(arch, cor=_cor20(2, 4, 1)))[2:] == (0, 1)             # IL-only before 2.5
    assert _info(arch, _image(arch, cor=_cor20(2, 5, 1)))[2:] == ((0x03 if pe32 else 0x02), 1)
    assert _info(arch, _image(arch, cor=_cor20(2, 5, 1 | 2)))[2:] == (0x02, 1)      # 32BITREQUIRED
    assert _info(arch, _image(arch, cor=_cor20(2, 5, 1 | 0x20000)))[2:] == ((0x23 if pe32 else 0x02), 1)
    assert _info(arch, _image(arch, cor=_cor20(2, 5, 0)))[2:] == (0, 1)             # mixed-mode: flag only


def test_image_section_maximum_size(tmp_path, arch):
    """NtCreateSection(SEC_IMAGE) with a maximum size (wine64 prints the same for the x64 build)."""
    import shutil

    import fixturebuild
    from winhatch import runner
    exe = tmp_path / "mm_image_section_size.exe"
    shutil.copy(fixturebuild.build("mm_image_section_size.c", arch), exe)
    res = runner.run(exe, [])
    assert res.exit_status == 0, (res.error, res.stdout)
    lines = res.stdout.decode().splitlines()
    image = lines[-1].split("=")[1]
    assert lines[:-1] == [f"none: status=00000000 size={image}", f"image: status=00000000 size={image}",
                          "image+1: status=c0000040 size=0", "one: status=00000000 size=1"]
