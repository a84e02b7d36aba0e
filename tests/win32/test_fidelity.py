"""Fidelity details that programs (anti-debug checks, installers, CRT start-up) rely on: the trap flag in
exception dispatch, the functions Windows guards against bad pointers, abort(), ERROR_PATH_NOT_FOUND, TLS
slots, the machine's uptime. Each expectation comes from Windows' documentation and, for x64, was checked
against Wine (wine64) with the same build; where Wine differs the test says so and follows Windows."""
from __future__ import annotations

from pathlib import Path

import pytest

from winhatch import runner

EXPECTED = Path(__file__).resolve().parents[1] / "fixtures" / "expected"


def run(path, args=(), **kw):
    res = runner.run(path, list(args), max_instructions=50_000_000, **kw)
    assert res.error is None, res.error
    return res


def out(res) -> str:
    return res.stdout.decode("latin-1").replace("\r\n", "\n")


# ---------------------------------------------------------------------------------------------- trap flag
@pytest.mark.parametrize("mode", ["veh", "filter", "seh"])
def test_single_step_traps_once(build_fixture, arch, mode):
    """`pushf; or [sp],0x100; popf` raises STATUS_SINGLE_STEP once: the handler runs with TF clear and the
    CONTEXT it continues with has TF clear (Windows' debug-trap handler clears it; wine64 prints the same)."""
    if mode == "seh" and arch == "x64":
        pytest.skip("an FS:[0] frame exists on x86 only (x64's frame path is covered by 'filter')")
    res = run(build_fixture("fid_trapflag.c", arch), [mode])
    assert out(res) == f"{mode}: single steps 1, handler TF 0, context TF 0\nflags TF after 0\n"
    assert res.exit_status == 0


def test_fault_with_trap_flag_keeps_it_in_context(build_fixture, arch):
    """An access violation while TF is set: the handler runs with TF clear, the CONTEXT keeps TF (wine64 too)."""
    res = run(build_fixture("fid_trapflag.c", arch), ["av"])
    assert out(res) == "av: context TF 1, handler TF 0\nflags TF after 0\n"


# ---------------------------------------------------------------------------------------------- path not found
def test_path_not_found(build_fixture, arch, tmp_path):
    """Every path API: a missing directory on the way is ERROR_PATH_NOT_FOUND (3), a missing last component
    ERROR_FILE_NOT_FOUND (2); CreateProcess with lpApplicationName opens that file (3), with only a command
    line it searches (2). Recorded from wine64 (tests/fixtures/expected/fid_paths.x64.txt); the program prints
    nothing that depends on the architecture, so x86 must print the same."""
    import shutil
    exe = tmp_path / "fid_paths.exe"
    shutil.copy(build_fixture("fid_paths.c", arch), exe)
    res = run(exe)
    expected = (EXPECTED / "fid_paths.x64.txt").read_text()
    assert out(res) + f"exit={res.exit_status}\n" == expected


# ---------------------------------------------------------------------------------------------- TLS
def test_tls_slots(build_fixture, arch):
    """TlsAlloc/Get/Set/Free over the PEB's bitmaps and the TEB's slots (1088 indexes: 64 in the TEB, 1024
    expansion slots in an array made on first use), TlsGetValue of a never-allocated index (its cell, last
    error 0), index 1088 (ERROR_INVALID_PARAMETER), exhaustion (ERROR_NO_MORE_ITEMS). Recorded from wine64;
    the output does not depend on the architecture."""
    res = run(build_fixture("fid_tls.c", arch))
    assert out(res) + f"exit={res.exit_status}\n" == (EXPECTED / "fid_tls.x64.txt").read_text()


# ---------------------------------------------------------------------------------------------- uptime
def test_uptime_and_clocks_agree(build_fixture, arch):
    """A machine has been up for a while: the tick count, QPC, the interrupt time (QueryUnbiasedInterruptTime,
    KUSER_SHARED_DATA) do not start at 0 and agree with each other, and so do the system time sources.
    The facts printed hold on any machine (recorded from wine64)."""
    exe = build_fixture("fid_uptime.c", arch)
    res = run(exe)
    assert out(res) + f"exit={res.exit_status}\n" == (EXPECTED / "fid_uptime.x64.txt").read_text()
    # winhatch's documented default: 3 h 25 min 17.3125 s of uptime when the machine is created, at the
    # system time 2026-01-01 00:00:00 UTC; the boot time (system time - interrupt time) is fixed
    from winhatch.kernel.machine import BOOT_UNIX_TIME, DEFAULT_UPTIME, FILETIME_UNIX_EPOCH
    raw = out(run(exe, ["raw"])).splitlines()[-1].split()
    tick, qpc, interrupt, boot = map(int, raw[1:])
    assert DEFAULT_UPTIME // 10_000 <= tick < DEFAULT_UPTIME // 10_000 + 1000
    # (the page's interrupt time is read after QPC, and the page is current as on Windows: a little later)
    assert DEFAULT_UPTIME <= qpc < DEFAULT_UPTIME + 10_000_000
    assert DEFAULT_UPTIME <= interrupt < DEFAULT_UPTIME + 10_000_000 and abs(interrupt - qpc) < 100_000
    # (KUSER_SHARED_DATA's fields move each emulated millisecond: the two reads are up to 1 ms apart)
    assert 0 <= boot - (FILETIME_UNIX_EPOCH + BOOT_UNIX_TIME * 10_000_000 - DEFAULT_UPTIME) < 10_000


# ---------------------------------------------------------------------------------------------- abort()
UCRT = dict(flags=["-D__USE_MINGW_ANSI_STDIO=0", "-D__MSVCRT_VERSION__=0xE00", "-DUSE_UCRT"],
            libs=["-nodefaultlibs", "-lmingw32", "-lgcc", "-lmingwex", "-lucrt", "-lkernel32"])
ABORT_MESSAGE = ("\nThis application has requested the Runtime to terminate it in an unusual way.\n"
                 "Please contact the application's support team for more information.\n")


@pytest.mark.parametrize("mode", ["plain", "handler"])
def test_ucrt_abort_fails_fast(build_fixture, arch, mode):
    """ucrtbase's abort() (release build, default _CALL_REPORTFAULT): SIGABRT's handler if any, then
    __fastfail(FAST_FAIL_FATAL_APP_EXIT): the process ends with 0xC0000409, no message, no handler.
    Wine 8 exits with 3 here instead; Windows' ucrt fails fast (documented: _set_abort_behavior, abort)."""
    res = runner.run(build_fixture("fid_abort.c", arch, out_name="fid_abort_ucrt.exe", **UCRT), [mode])
    assert out(res) == "aborting\n" + ("SIGABRT handler: 22\n" if mode == "handler" else "")
    assert res.exit_status == 0xC0000409
    assert res.stderr == b""
    assert "FAST_FAIL_FATAL_APP_EXIT" in res.error   # winhatch's one-line reason


def test_ucrt_abort_without_reportfault_exits_3(build_fixture, arch):
    """_set_abort_behavior(0, _CALL_REPORTFAULT): abort() is _exit(3); the old flags were both set
    (_WRITE_ABORT_MSG | _CALL_REPORTFAULT = 3, as wine64 prints)."""
    res = run(build_fixture("fid_abort.c", arch, out_name="fid_abort_ucrt.exe", **UCRT), ["behavior"])
    assert out(res) == "old behavior 3\naborting\n"
    assert res.exit_status == 3


@pytest.mark.parametrize("mode", ["plain", "handler"])
def test_msvcrt_abort_message_and_exit_3(build_fixture, arch, mode):
    """msvcrt's abort(): SIGABRT's handler, the message on stderr, exit code 3 (wine64: exit 3)."""
    res = run(build_fixture("fid_abort.c", arch), [mode])
    assert out(res) == "aborting\n" + ("SIGABRT handler: 22\n" if mode == "handler" else "")
    assert res.stderr.decode().replace("\r\n", "\n") == ABORT_MESSAGE
    assert res.exit_status == 3


def test_fastfail_reaches_no_handler(build_fixture, arch):
    """__fastfail (int 0x29): the process ends with STATUS_STACK_BUFFER_OVERRUN; neither a vectored handler
    nor the unhandled-exception filter runs (wine64 prints the same)."""
    res = runner.run(build_fixture("fid_abort.c", arch), ["fastfail"])
    assert out(res) == "failing fast\n"
    assert res.exit_status == 0xC0000409
    assert res.crash["code"] == 0xC0000409 and res.crash["record"]["parameters"] == [7]


# ---------------------------------------------------------------------------------------------- bad pointers
def test_guarded_apis_survive_bad_pointers(build_fixture, arch):
    """lstrlen returns 0 and lstrcpy/lstrcpyn/lstrcat return NULL for an unmapped, no-access or read-only
    pointer instead of killing the program (the functions run inside an exception handler on Windows);
    IsBad*Ptr report such pointers. Recorded from wine64, which also sets ERROR_INVALID_PARAMETER in these
    functions' handler; Microsoft documents lstrcpy's as returning "without notifying the caller of the
    error" (and lstrlen(NULL) as simply returning 0), so winhatch leaves the last error alone: 57005 is the
    0xdead the program set before each call."""
    res = runner.run(build_fixture("fid_badptr.c", arch), [], record=("api",))
    assert res.error is None, res.error
    wine = (EXPECTED / "fid_badptr.x64.txt").read_text()
    lines = [ln.replace("error 87", "error 57005") if ln.startswith("lstr") else ln for ln in wine.splitlines()]
    assert wine.count("error 87") == 14
    assert out(res) + f"exit={res.exit_status}\n" == "\n".join(lines) + "\n"
    faults = [e for e in res.events if e.category == "api" and e.name == "guarded_fault"]
    assert {e.data["api"] for e in faults} >= {"lstrlenA", "lstrlenW", "lstrcpyA", "lstrcatW", "lstrcpynW"}
