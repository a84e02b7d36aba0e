"""Mutation fuzzing: byte flips, truncations and header-field overwrites of real images. Parsing and touching every
property must either work or raise PEFormatError — no other exception, no hang.

Short by default (`make test`); `make fuzz` runs the slow-marked copy under HYPOTHESIS_PROFILE=long (profiles are
registered in tests/pe/conftest.py)."""
from __future__ import annotations

import functools
import struct
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

import fixturebuild
from pefixtures import WINE_DIR, build_pe_fixtures, launcher_exes
from winhatch.pe import PEFile, PEFormatError

TIME_LIMIT = 10.0   # seconds for one example (parse + every property)


@functools.lru_cache(maxsize=None)
def seeds() -> tuple[bytes, ...]:
    out = []
    for arch in ("x86", "x64"):
        try:
            fx = build_pe_fixtures(arch)
        except fixturebuild.ToolchainMissing:
            continue
        out += [fx["exports"].read_bytes(), fx["imports"].read_bytes()]
    for p in launcher_exes()[:2]:
        out.append(p.read_bytes())
    for name in ("version.dll", "msimg32.dll"):          # small real DLLs with resources and exports
        if (WINE_DIR / name).is_file():
            out.append((WINE_DIR / name).read_bytes())
    return tuple(out)

INTERESTING = [0, 1, 2, 0x7F, 0x80, 0xFF, 0x1000, 0x7FFF, 0xFFFF, 0x10000, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF,
               0xFFFFFFF0]


def _header_fields(data: bytes) -> list[tuple[int, int]]:
    """(offset, width) of the header fields worth overwriting: DOS, file, optional header, directories, sections."""
    fields = [(0x3C, 4)]
    lfanew = struct.unpack_from("<I", data, 0x3C)[0]
    if lfanew + 0x200 > len(data):
        return fields
    fh = lfanew + 4
    fields += [(fh + 2, 2), (fh + 16, 2), (fh + 18, 2)]
    opt = fh + 20
    plus = data[opt:opt + 2] == b"\x0b\x02"
    fields += [(opt, 2), (opt + 16, 4), (opt + 32, 4), (opt + 36, 4), (opt + 56, 4), (opt + 60, 4),
               (opt + (24 if plus else 28), 4), (opt + (108 if plus else 92), 4)]
    dd = opt + (112 if plus else 96)
    fields += [(dd + 8 * i + k, 4) for i in range(16) for k in (0, 4)]
    nsec = struct.unpack_from("<H", data, fh + 2)[0]
    st = opt + struct.unpack_from("<H", data, fh + 16)[0]
    for i in range(min(nsec, 20)):
        fields += [(st + 40 * i + k, 4) for k in (8, 12, 16, 20, 36)]
    return [(o, w) for o, w in fields if o + w <= len(data)]


@st.composite
def mutated(draw) -> bytes:
    pool = seeds()
    data = bytearray(pool[draw(st.integers(0, 255)) % len(pool)])
    fields = _header_fields(bytes(data))
    for _ in range(draw(st.integers(1, 6))):
        if not data:
            break
        op = draw(st.sampled_from(["field", "field", "flip", "flip_header", "truncate"]))
        if op == "field" and fields:
            off, width = draw(st.sampled_from(fields))
            value = draw(st.one_of(st.sampled_from(INTERESTING), st.integers(0, 2 ** (8 * width) - 1)))
            data[off:off + width] = (value & (2 ** (8 * width) - 1)).to_bytes(width, "little")
        elif op == "flip":
            i = draw(st.integers(0, len(data) - 1))
            data[i] ^= 1 << draw(st.integers(0, 7))
        elif op == "flip_header":
            i = draw(st.integers(0, min(len(data), 0x1000) - 1))
            data[i] = draw(st.integers(0, 255))
        elif op == "truncate":
            del data[draw(st.integers(0, len(data))):]
    return bytes(data)


def touch_everything(data: bytes) -> None:
    def attempt(fn):
        try:
            fn()
        except PEFormatError as e:
            assert isinstance(e.reason, str) and (e.offset is None or isinstance(e.offset, int))
            str(e)

    try:
        pe = PEFile(data)
    except PEFormatError as e:
        assert str(e)
        return
    for name in ("imports", "delay_imports", "bound_imports", "exports", "relocations", "tls", "debug", "pdb",
                 "load_config", "exception_entries", "certificate", "rich_header", "resources", "version_info"):
        attempt(lambda name=name: getattr(pe, name))
    attempt(pe.compute_checksum)
    attempt(pe.section_protections)
    pe.rva_to_offset(pe.entry_point_rva)

    def exports_deep():
        exp = pe.exports
        if exp:
            for n, _ in exp.names[:20]:
                exp.lookup(n, hint=0)
            for e in exp.functions[:50]:
                exp.by_ordinal(e.ordinal)
                if e.forwarder is not None:
                    attempt(e.split_forwarder)
    attempt(exports_deep)

    def resources_deep():
        if pe.resources:
            list(pe.resources.leaves())
    attempt(resources_deep)
    if pe.size_of_image <= 0x4000000:
        def rebase():
            image = pe.map_image()
            pe.apply_relocations(image, pe.image_base + 0x10000)
        attempt(rebase)


def _check(data: bytes) -> None:
    t0 = time.monotonic()
    touch_everything(data)
    assert time.monotonic() - t0 < TIME_LIMIT


@pytest.fixture(scope="module")
def have_seeds():
    if not seeds():
        pytest.skip("no seed images (mingw-w64 missing and no Wine DLLs)")


@given(data=mutated())
def test_mutations_parse_or_raise_pe_format_error(have_seeds, data):
    _check(data)


@pytest.mark.slow
@given(data=mutated())
def test_mutations_long(have_seeds, data):
    _check(data)


@pytest.mark.parametrize("cut", [0, 1, 2, 0x3C, 0x40, 0x84, 0x98, 0x100, 0x178, 0x200, 0x400, 0x1000])
def test_every_truncation_point_of_a_fixture(have_seeds, cut):
    for seed in seeds()[:2]:
        _check(seed[:cut])
