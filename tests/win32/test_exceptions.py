"""Exceptions: SEH on x86 (FS:[0] frames) and x64 (table-based, __C_specific_handler), vectored and continue
handlers, unhandled-exception filters, unhandled exceptions, and mingw C++ exceptions (x64: libgcc's
SEH personality over RaiseException/RtlUnwindEx; x86: DWARF unwinding inside the program).

Outputs are compared with what Wine prints for the same build (tests/fixtures/expected/exc_*.<arch>.txt,
tools/record_expected.py: wine64, and 32-bit Wine under WoW64 for x86); where Wine differs from Windows'
documented behaviour the test says so and follows Windows.
"""
from pathlib import Path

import pytest

from winhatch import runner

EXPECTED = Path(__file__).resolve().parents[1] / "fixtures" / "expected"
STATIC = ["-static"]  # the C++ runtime inside the program (no libstdc++-6.dll in the sandbox)


def run(path, args=()):
    res = runner.run(path, list(args))
    msg = getattr(res.process, "stop_message", None) or ""
    if msg.startswith("unimplemented API") and not any(k in msg for k in ("Exception", "Unwind", "Context",
                                                                            "FunctionEntry", "specific_handler")):
        pytest.skip(f"needs an API outside the exceptions issue: {msg}")
    return res


def out(res) -> str:
    return res.stdout.decode("cp1252").replace("\r\n", "\n")


def expected(name: str) -> str:
    return (EXPECTED / name).read_bytes().decode("cp1252").replace("\r\n", "\n")


def test_seh_vectored_frames_and_raise(build_fixture, arch):
    res = run(build_fixture("exc_seh.c", arch))
    assert res.exit_status == 0, (res.crash, out(res))
    text = out(res)
    ptr = "0" * (16 if arch == "x64" else 8)
    assert f"vectored: AV read at {ptr}\n" in text
    # Windows calls the vectored continue handlers after a vectored handler continued execution
    # (Wine 8 does not: its recorded output says 0 here)
    assert "after fault: 42, handler calls 1, continue handler calls 1\n" in text
    assert "vectored: code e0001234 flags 0 nparams 3 params 1 2 3\nafter RaiseException\n" in text
    if arch == "x86":  # an FS:[0] frame handler; x64 has a table-based __try/__except instead
        assert text.endswith("frame handler: code c0000005 flags 0\nseh frame: 7, calls 1\n")
    wine = expected(f"exc_seh.{arch}.txt")
    assert "continue handler calls 0" in wine
    assert text == wine.replace("continue handler calls 0", "continue handler calls 1")


@pytest.mark.parametrize("mode", ["execute", "continue", "search", "divide"])
def test_top_level_filter(build_fixture, arch, mode):
    res = run(build_fixture("exc_filter.c", arch), [mode])
    want = expected(f"exc_filter.{mode}.{arch}.txt")
    assert out(res) == want
    if mode in ("continue", "divide"):
        assert res.exit_status == 0
        assert res.crash is None
    else:
        assert res.exit_status == 0xC0000005
    if mode == "search":  # the filter declined: an unhandled access violation with a crash record
        assert res.crash["code"] == 0xC0000005
        assert res.crash["record"]["parameters"] == [0, 0]
        assert res.crash["where"].startswith("exc_filter.exe+")
        assert len(res.crash["stack"]) >= 2 and all("where" in f for f in res.crash["stack"])
        assert res.crash["stack"][0]["pc"] == res.crash["address"]


def test_noncontinuable(build_fixture, arch):
    # Windows: continuing a noncontinuable exception raises STATUS_NONCONTINUABLE_EXCEPTION (Wine 8 returns)
    res = run(build_fixture("exc_filter.c", arch), ["noncontinuable"])
    assert out(res) == ("mode noncontinuable\nvectored: code e0000001 flags 1\n"
                        "vectored: code c0000025 flags 1\n")
    assert res.exit_status == 0xC0000025
    assert res.crash["record"]["chained_record"] != 0


@pytest.mark.parametrize("mode,code", [("breakpoint", 0x80000003), ("raise", 0xE0424242)])
def test_unhandled_codes(build_fixture, arch, mode, code):
    res = run(build_fixture("exc_filter.c", arch), [mode])
    assert out(res) == f"mode {mode}\n"
    assert res.exit_status == code
    assert res.crash["code"] == code
    if mode == "raise":
        assert res.crash["where"].lower().startswith(("kernel32.dll+", "kernelbase.dll+"))  # in RaiseException
        assert any(f["where"].startswith("exc_filter.exe+") for f in res.crash["stack"])


def test_cxx_exceptions(build_fixture, arch):
    res = run(build_fixture("exc_cxx.cpp", arch, flags=STATIC))
    assert res.exit_status == 0, (res.crash, out(res)[-400:])
    assert out(res) == expected(f"exc_cxx.{arch}.txt")


def test_cxx_unhandled_terminates(build_fixture, arch):
    res = run(build_fixture("exc_cxx_unhandled.cpp", arch, flags=STATIC))
    assert out(res) == "throwing\n"  # no handler: phase 1 fails, no destructor runs
    err = res.stderr.decode("cp1252").replace("\r\n", "\n")
    assert "terminate called after throwing an instance of 'int'\n" in err
    assert "This application has requested the Runtime to terminate it in an unusual way." in err
    assert res.exit_status == 3
    assert res.crash is None


def test_unhandled_crash_record_x86_ebp_chain(build_fixture):
    res = run(build_fixture("crash.c", "x86"))
    assert res.exit_status == 0xC0000005
    st = res.crash["stack"]
    assert st[0]["where"] == res.crash["where"]
    assert res.crash["record"]["parameters"] == [1, 0]  # write to address 0


def test_guard_page_and_breakpoint_reach_the_program_handler(build_fixture, arch):
    """STATUS_GUARD_PAGE_VIOLATION is raised once (the guard is cleared) and a breakpoint is continuable;
    the output is what wine64 and 32-bit Wine print for the same program."""
    from winhatch import runner
    res = runner.run(build_fixture("exc_guard.c", arch))
    assert res.stdout.decode().splitlines() == [
        "before: guard=1", "after: guard=0 value=7 exceptions=1", "second touch: exceptions=1", "breakpoints=1"]
    assert res.exit_status == 0
