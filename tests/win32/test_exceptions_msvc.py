"""MSVC C++ exceptions (_CxxThrowException, __CxxFrameHandler3, x64 __CxxFrameHandler4) and MSVC's x86 SEH
frame handlers (_except_handler3, _except_handler4), on programs clang builds for the MSVC ABI
(tests/msvcbuild.py).

Expected outputs were recorded under Wine (x64) in tests/fixtures/expected/msvc_*.x64.txt; the x86 builds of
the same sources must print exactly the x64 recording (the fixtures print no pointers or sizes, so nothing
differs between the two). The x86-only EH4 fixture's expected text is below, compared with 32-bit Wine.
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


def run_apis(res) -> set:
    return {e.data["api"] for e in res.events if e.category == "api" and "api" in e.data}


def test_cxx_frame_handler4_x64(tmp_path):
    """FH4 (vcruntime140_1!__CxxFrameHandler4): the x64 msvc_cxx build with every FuncInfo rewritten into
    the compressed FH4 encoding (catch funclets with FuncInfo4s of their own: isCatch + the parent frame's
    offset; unwind entries chained by backward offsets; per-function IP maps) prints exactly what the FH3
    build prints under Wine, and only __CxxFrameHandler4 handles its frames."""
    exe = build("msvc_cxx.cpp", "x64")
    fh4 = tmp_path / "msvc_cxx.fh4.exe"
    info = msvcbuild.to_fh4(exe, fh4)
    assert info["catch_funclets"] > 0 and info["functions"] > info["catch_funclets"]
    res = runner.run(fh4, [], record=("api",))
    assert res.exit_status == 0, (res.crash, getattr(res.process, "stop_message", None))
    assert out(res) == expected("msvc_cxx.x64.txt")
    apis = run_apis(res)
    assert "vcruntime140_1.dll!__CxxFrameHandler4" in apis
    assert not any(a.endswith("!__CxxFrameHandler3") for a in apis)


class _Bytes:
    def __init__(self, data: bytes):
        self.data = data + bytes(8)

    def read(self, a, n):
        return self.data[a:a + n]

    def u8(self, a):
        return self.data[a]

    def u32(self, a):
        return int.from_bytes(self.data[a:a + 4], "little")


@pytest.mark.parametrize("raw,value,length", [
    (b"\x00", 0, 1), (b"\xfe", 127, 1),                       # xxxxxxx0: 7 bits
    (b"\x01\x02", 128, 2), (b"\xfd\xff", 0x3FFF, 2),            # ...01: 14 bits
    (b"\x03\x00\x02", 0x4000, 3),                              # ..011: 21 bits
    (b"\x07\x00\x00\x08", 0x800000, 4),                         # .0111: 28 bits
    (b"\x0f\x78\x56\x34\x12", 0x12345678, 5),                    # 1111 + the 32-bit value
])
def test_fh4_compressed_unsigned(raw, value, length):
    from winhatch.win32.vcruntime.cxx_eh import Reader4
    r = Reader4(_Bytes(raw + b"\xaa"), 0)
    assert r.unsigned() == value
    assert r.a == length
    assert msvcbuild.enc_u(value) == raw


# The documented behaviour of MSVC's _except_handler4 (chandler4.c): the frame's cookies are checked
# (GS if GSCookieOffset != -2, then EH; cookie = *(fp + offset) ^ (fp + XOR offset), fp = node + 0x10)
# on every call; search phase: the scopes from TryLevel outwards, __finally scopes skipped, filters run with
# ebp = fp; EXECUTE_HANDLER: global unwind (the frames above run their __finally blocks), local unwind of
# this frame's inner scopes, TryLevel = the scope's EnclosingLevel, the __except block runs with ebp = fp.
# 32-bit Wine prints the same for modes 0-2; its _except_handler4_common never checks cookies, so it
# prints "cookies checked 0" and survives mode 3.
EH4_EXPECTED = """\
-- mode 0
B body
finally B
finally A
A: no exception
eh4_a returned 0
-- mode 1
B body
raising e0000042
B filter sees e0000042 -> CONTINUE_SEARCH
A inner filter sees e0000042 -> CONTINUE_SEARCH
A outer filter sees e0000042 -> EXECUTE_HANDLER
finally B
finally A
A __except e0000042, trylevel -2, FS:[0] is A's node 1
eh4_a returned 1
-- mode 2
B body
writing through NULL
B filter sees c0000005 -> CONTINUE_SEARCH
A inner filter sees c0000005 -> CONTINUE_SEARCH
A outer filter sees c0000005 -> EXECUTE_HANDLER
finally B
finally A
A __except c0000005, trylevel -2, FS:[0] is A's node 1
eh4_a returned 1
cookies checked 1
-- mode 3
B body
raising e0000042
B filter sees e0000042 -> CONTINUE_SEARCH
security cookie mismatch
"""


def test_except_handler4_frames():
    """Hand-made EH4 frames (tests/fixtures/src/msvc_eh4.c) as cl.exe lays them out: encoded scope tables,
    a GS and an EH cookie, filters declining and accepting, __finally blocks during the global and the local
    unwind, TryLevel and FS:[0] at the __except block; a damaged GS cookie stops the process in
    __security_check_cookie before any of that frame's filters runs."""
    res = runner.run(build("msvc_eh4.c", "x86"), [], record=("api",))
    assert out(res) == EH4_EXPECTED
    assert res.exit_status == 99, (res.crash, getattr(res.process, "stop_message", None))
    assert any(a.endswith("!_except_handler4_common") for a in run_apis(res))
