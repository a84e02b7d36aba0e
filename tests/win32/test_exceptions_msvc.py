"""MSVC C++ exceptions (_CxxThrowException, __CxxFrameHandler3) and MSVC's x86 SEH frame handler
(_except_handler3), on programs clang builds for the MSVC ABI (tests/msvcbuild.py).

Expected outputs were recorded under Wine (x64) in tests/fixtures/expected/msvc_*.x64.txt. There is no 32-bit
Wine here: the x86 builds of the same sources must print exactly the x64 recording (the fixtures print no
pointers or sizes, so nothing differs between the two).
"""
from pathlib import Path

import pytest

import msvcbuild
from winhatch import runner

EXPECTED = Path(__file__).resolve().parents[1] / "fixtures" / "expected"


def build(source, arch, **kw):
    try:
        return msvcbuild.build(source, arch, **kw)
    except msvcbuild.ToolchainMissing as e:
        pytest.skip(str(e))


def out(res) -> str:
    return res.stdout.decode("cp1252").replace("\r\n", "\n")


def expected(name: str) -> str:
    return (EXPECTED / name).read_bytes().decode("cp1252").replace("\r\n", "\n")


def test_cxx_exceptions(arch):
    """throw int / class / derived caught as Base& and by value / Base* / catch(...) / rethrow / nested try,
    try in a catch block, throw from a catch block, destructors during unwinding, the catch object's copy
    constructor, every exception object destroyed."""
    res = runner.run(build("msvc_cxx.cpp", arch), [])
    assert res.exit_status == 0, (res.crash, getattr(res.process, "stop_message", None))
    text = out(res)
    assert text == expected("msvc_cxx.x64.txt")
    # the copy constructor runs before the nested frames are unwound (as the CRT builds the catch object)
    assert "enter thrower\nErr copied 7\n~Guard thrower\n~Guard middle\ncaught Err by value 7\n" in text
    assert "inner caught Err 7, rethrowing\nouter caught rethrown Err 8\nlive after rethrow 0\n" in text
    assert text.endswith("done, live 0\n")


def test_cxx_uncaught_terminates(arch):
    """No catch: phase 1 finds nothing, no destructor runs; the CRT's unhandled-exception filter calls
    terminate() -> abort() -> exit status 3."""
    res = runner.run(build("msvc_cxx_unhandled.cpp", arch), [])
    assert out(res) == expected("msvc_cxx_unhandled.x64.txt")
    assert out(res) == "throwing\nunhandled C++ exception: terminate\n"
    assert res.exit_status == 3
    assert res.crash is None


def test_seh_try_except_finally(arch):
    """__try/__except with filters that accept and decline, __try/__finally run normally and during
    unwinding (x86: _except_handler3 scope tables; x64: __C_specific_handler)."""
    res = runner.run(build("msvc_seh.c", arch, opt="-O0"), [])
    assert res.exit_status == 0, (res.crash, getattr(res.process, "stop_message", None))
    assert out(res) == expected("msvc_seh.x64.txt")


def test_x86_seh_frames_are_except_handler3():
    """The x86 build really goes through vcruntime140!_except_handler3 (and C++ through __CxxFrameHandler3)."""
    res = runner.run(build("msvc_seh.c", "x86", opt="-O0"), [], record=("api",))
    apis = {e.data["api"] for e in res.events if e.category == "api" and "api" in e.data}
    assert any(a.endswith("!_except_handler3") for a in apis), sorted(apis)
    res = runner.run(build("msvc_cxx.cpp", "x86"), [], record=("api",))
    apis = {e.data["api"] for e in res.events if e.category == "api" and "api" in e.data}
    assert any(a.endswith("!__CxxFrameHandler3") for a in apis)
    assert any(a.endswith("!_CxxThrowException") for a in apis)
