"""The CLR (.NET) header: IMAGE_COR20_HEADER and its metadata root, parsed as pefile does, shown by inspect,
and malformed headers refused or tolerated as the loader would."""
from __future__ import annotations

import json
import struct

import dnfile
import pytest
from click.testing import CliRunner

from winhatch.cli import main
from winhatch.pe import PEFile, PEFormatError
from winhatch.pe.builder import SCN_RDATA, ImageBuilder

STREAMS = [("#~", 0x6C, 0x100), ("#Strings", 0x16C, 0x40), ("#US", 0x1AC, 0x10), ("#GUID", 0x1BC, 0x10),
           ("#Blob", 0x1CC, 0x20)]


def _metadata(version: bytes = b"v4.0.30319", streams=STREAMS, signature: int = 0x424A5342) -> bytes:
    vlen = (len(version) + 1 + 3) & ~3
    out = struct.pack("<IHHII", signature, 1, 1, 0, vlen) + version.ljust(vlen, b"\0")
    out += struct.pack("<HH", 0, len(streams))
    for name, off, size in streams:
        n = name.encode() + b"\0"
        out += struct.pack("<II", off, size) + n.ljust((len(n) + 3) & ~3, b"\0")
    return out.ljust(0x200, b"\0")


def _image(arch: str, flags: int = 0x1, entry: int = 0x06000001, cb: int = 72, metadata: bytes | None = None) -> bytes:
    b = ImageBuilder(arch=arch, dll=False)
    md = metadata if metadata is not None else _metadata()
    sec = b.add_section(".text", bytes(0x48) + md, SCN_RDATA)
    header = struct.pack("<IHHIIII", cb, 2, 5, sec.rva + 0x48, len(md), flags, entry) + bytes(72 - 24)
    b.write(sec.rva, header)
    b.set_directory(14, sec.rva, 72)
    return b.build()


@pytest.mark.parametrize("arch", ["x86", "x64"])
def test_clr_header_matches_pefile(tmp_path, arch):
    path = tmp_path / f"managed-{arch}.exe"
    path.write_bytes(_image(arch, flags=0x1 | 0x8 | 0x20000))
    h = PEFile.open(str(path)).clr
    net = dnfile.dnPE(str(path)).net      # dnfile: pefile's .NET extension, the oracle
    st = net.struct
    assert h.cb == st.cb
    assert h.runtime_version == (st.MajorRuntimeVersion, st.MinorRuntimeVersion)
    assert (h.metadata_rva, h.metadata_size) == (st.MetaDataRva, st.MetaDataSize)
    assert h.flags == st.Flags and h.entry_point == st.EntryPointTokenOrRva
    assert h.resources == (st.ResourcesRva, st.ResourcesSize)
    assert h.strong_name_signature == (st.StrongNameSignatureRva, st.StrongNameSignatureSize)
    assert h.flag_names == ["ILONLY", "STRONGNAMESIGNED", "32BITPREFERRED"]
    assert h.metadata_version == net.metadata.struct.Version.rstrip(b"\0").decode()
    assert [(s.name, s.offset, s.size) for s in h.streams] == \
        [(s.struct.Name.decode(), s.struct.Offset, s.struct.Size) for s in net.metadata.streams_list] == STREAMS


def test_inspect_shows_it(tmp_path):
    path = tmp_path / "managed.exe"
    path.write_bytes(_image("x86"))
    r = CliRunner().invoke(main, ["inspect", "--json", str(path)])
    assert r.exit_code == 0
    clr = json.loads(r.stdout)["clr"]
    assert clr["metadata_version"] == "v4.0.30319" and clr["flag_names"] == ["ILONLY"]
    assert [s["name"] for s in clr["streams"]] == ["#~", "#Strings", "#US", "#GUID", "#Blob"]
    r = CliRunner().invoke(main, ["inspect", str(path)])
    assert ".NET (CLR header)" in r.stdout and "v4.0.30319" in r.stdout and "token 0x06000001" in r.stdout


def test_native_image_has_none(tmp_path):
    path = tmp_path / "native.exe"
    path.write_bytes(ImageBuilder(arch="x64").build())
    assert PEFile.open(str(path)).clr is None


def test_malformed(tmp_path):
    path = tmp_path / "bad.exe"
    path.write_bytes(_image("x64", cb=16))
    with pytest.raises(PEFormatError, match="smaller than IMAGE_COR20_HEADER"):
        PEFile.open(str(path)).clr
    # a wrong metadata signature, an absurd stream count: the header stands, the root is not trusted
    path.write_bytes(_image("x64", metadata=_metadata(signature=0x12345678)))
    h = PEFile.open(str(path)).clr
    assert h.metadata_version is None and h.streams == []
    many = [(f"#s{i}", 0, 0) for i in range(200)]
    path.write_bytes(_image("x64", metadata=_metadata(streams=many).ljust(0x1000, b"\0")))
    assert len(PEFile.open(str(path)).clr.streams) == 64
