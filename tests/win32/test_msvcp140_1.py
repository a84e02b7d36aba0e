"""msvcp140_1.dll's memory resources with a real MSVC-STL program (tests/fixtures/src/msvcp_pmr.cpp, built against
Microsoft's STL: tests/msvcstl.py), x86 and x64: new_delete_resource allocating through its virtual functions at
alignments up to 4096, null_memory_resource throwing std::bad_alloc, a monotonic_buffer_resource and a
pmr::vector on it, get/set_default_resource. EXPECTED is wine64's output of the same x64 program."""
from __future__ import annotations

import io

import pytest

from winhatch import runner

import msvcstl

EXPECTED = (
    "default is new_delete: 1\r\n"
    "equal: 1 0\r\n"
    + "".join(f"align {a}: aligned=1\r\n" for a in (1, 8, 16, 64, 256, 4096))
    + "null: bad_alloc [bad allocation]\r\n"
    "monotonic vector: 1000 499500 upstream is default: 1\r\n"
    "set: old is new_delete 1, now null 1\r\n"
    "reset: old is null 1, now new_delete 1\r\n"
).encode()


@pytest.fixture
def program(arch):
    try:
        return msvcstl.build("msvcp_pmr.cpp", arch)
    except msvcstl.Unavailable as e:
        pytest.skip(str(e))


def test_memory_resources(program):
    res = runner.run(program, [], stdin=io.BytesIO(b""), stdout=io.BytesIO(), stderr=io.BytesIO(),
                     max_instructions=200_000_000)
    assert res.error is None, res.error
    assert not res.unimplemented, res.unimplemented
    assert res.stdout == EXPECTED, res.stdout.decode("latin-1")
    assert res.exit_status == 0


def test_resource_objects_in_image(program, arch):
    """The resources are objects in msvcp140_1's own image whose vfptr leads to four slots, each a function of
    the DLL."""
    import struct
    from winhatch.ldr import loader
    res = runner.run(program, [], stdin=io.BytesIO(b""), stdout=io.BytesIO(), stderr=io.BytesIO(),
                     max_instructions=200_000_000)
    proc = res.process
    m = loader.state_of(proc).by_name["msvcp140_1.dll"]
    r = proc.subsystem["msvcp140_1"]
    P = 8 if arch == "x64" else 4
    fmt = "<Q" if P == 8 else "<I"
    inside = range(m.base, m.base + m.size)
    for kind in ("aligned", "unaligned", "null"):
        obj = r.obj[kind]
        assert obj in inside
        vft = struct.unpack(fmt, proc.aspace.read(obj, P))[0]
        slots = [struct.unpack(fmt, proc.aspace.read(vft + i * P, P))[0] for i in range(4)]
        assert all(s in inside for s in slots)
        assert len(set(slots)) == 4
