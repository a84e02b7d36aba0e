"""The C++ runtime's exceptions and RTTI with a real MSVC-STL program (tests/fixtures/src/msvcp_throw.cpp, built
against Microsoft's STL headers: tests/msvcstl.py), x86 and x64: msvcp140's _X* functions throw std::
exception objects (vftable, RTTI, ThrowInfo in msvcp140's own image) that the program catches by type, by base
and by value and rethrows; type_info::name, dynamic_cast through single, multiple and virtual inheritance
(__RTDynamicCast walking the Complete Object Locator, Class Hierarchy Descriptor and Base Class Array), std::
bad_cast for a reference, typeid of polymorphic objects and std::bad_typeid.

EXPECTED was recorded from wine64 with its own msvcp140 and vcruntime140 (`wine64 msvcp_throw.exe skip`), except
the "empty function" line: Wine 8's msvcp140 does not implement _Xbad_function_call (the program skips it when
given an argument); that line is what Microsoft's STL throws: std::bad_function_call, what() "bad function call".
"""
from __future__ import annotations

import io
import struct

import pytest

from winhatch import runner

import msvcstl

EXPECTED = (
    "string reserve: length_error [string too long] class std::length_error\r\n"
    "vector reserve: length_error [vector too long] class std::length_error\r\n"
    "string at: out_of_range [invalid string position] class std::out_of_range\r\n"
    "vector at: out_of_range [invalid vector subscript] class std::out_of_range\r\n"
    "stoi letters: logic_error [invalid stoi argument] class std::invalid_argument\r\n"
    "stoi range: out_of_range [stoi argument out of range] class std::out_of_range\r\n"
    "empty function: exception [bad function call] class std::bad_function_call\r\n"   # not from Wine (above)
    "_Xbad_alloc: bad_alloc [bad allocation] class std::bad_alloc\r\n"
    "_Xruntime_error: exception [custom runtime] class std::runtime_error\r\n"
    "_Xinvalid_argument null: logic_error [Unknown exception] class std::invalid_argument\r\n"
    "by value: [invalid string position]\r\n"
    "rethrown: [invalid string position] class std::out_of_range\r\n"
    "SI down: 1\r\nSI wrong: 1\r\nMI down: 1\r\nMI cross: 1\r\nMI void: 1\r\nVI down: 1\r\nVI cross: 1\r\n"
    "VI void: 1\r\nunrelated: 1\r\n"
    "reference: bad_cast [Bad dynamic_cast!] class std::bad_cast\r\n"
    "typeid: struct Multi | struct Diamond | class std::vector<int,class std::allocator<int> >\r\n"
    "typeid equal: 1 0\r\n"
    "typeid null: bad_typeid class std::bad_typeid\r\n"
).encode()


@pytest.fixture
def program(arch):
    try:
        return msvcstl.build("msvcp_throw.cpp", arch)
    except msvcstl.Unavailable as e:
        pytest.skip(str(e))


def _run(program):
    return runner.run(program, [], stdin=io.BytesIO(b""), stdout=io.BytesIO(), stderr=io.BytesIO(),
                      max_instructions=200_000_000)


def test_throw_catch_rtti_program(program):
    res = _run(program)
    assert res.error is None, res.error
    assert not res.unimplemented, res.unimplemented
    assert res.stdout == EXPECTED, res.stdout.decode("latin-1")
    assert res.exit_status == 0


def test_exception_classes_in_msvcp140_image(program, arch):
    """std::length_error as the compiler would have emitted it in msvcp140: the ThrowInfo, its
    CatchableTypeArray (length_error, logic_error, exception), the vftable's Complete Object Locator (x64:
    signature 1 and its own RVA) and the TypeDescriptor's name, all inside msvcp140's image."""
    from winhatch.ldr import loader
    from winhatch.win32.vcruntime import cxx_classes as X
    res = _run(program)
    proc = res.process
    m = loader.state_of(proc).by_name["msvcp140.dll"]
    k = proc.subsystem["cxx_classes:msvcp140.dll"]
    a = proc.aspace
    is64 = arch == "x64"
    P = 8 if is64 else 4

    def u32(x):
        return struct.unpack("<I", a.read(x, 4))[0]

    def ptr(x):
        return struct.unpack("<Q" if is64 else "<I", a.read(x, P))[0]

    def ref(x):
        return m.base + u32(x) if is64 else u32(x)

    inside = range(m.base, m.base + m.size)
    ti = k.ti["length_error"]
    assert ti in inside
    cta = ref(ti + 12)
    names = []
    for i in range(u32(cta)):
        ct = ref(cta + 4 + 4 * i)
        td = ref(ct + 4)
        assert td in inside
        names.append(a.read(td + 2 * P, 40).split(b"\0")[0])
    assert names == [b".?AVlength_error@std@@", b".?AVlogic_error@std@@", b".?AVexception@std@@"]
    col = ptr(k.vftable["length_error"] - P)
    assert col in inside
    assert u32(col) == (1 if is64 else 0)
    if is64:
        assert m.base + u32(col + 20) == col
    chd = ref(col + 16)
    assert u32(chd + 8) == 3                       # numBaseClasses
    assert ref(col + 12) == k.td["length_error"]
    assert X.undecorate_type(".?AV?$basic_string@DU?$char_traits@D@std@@V?$allocator@D@2@@std@@", is64) == \
        "class std::basic_string<char,struct std::char_traits<char>,class std::allocator<char> >"
