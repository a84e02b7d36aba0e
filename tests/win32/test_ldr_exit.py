"""Thread and process exit, ldr_exit.c: a thread's FLS callback runs before DLL_THREAD_DETACH, where
FlsGetValue answers NULL with ERROR_SUCCESS (its block is still there — Wine's kernel32/tests/loader.c on
Windows); in ExitProcess's DLL_PROCESS_DETACH an EnterCriticalSection that would block (its owner thread was
terminated) ends the process at once with ExitProcess's code ("While a process is exiting, if a call to
EnterCriticalSection would block, it will instead terminate the process immediately": Microsoft's
EnterCriticalSection documentation). wine64 8.0 prints the same and exits 42, except that it does not call
the program's own TLS callback with DLL_PROCESS_DETACH, which Windows does (the PE format's TLS callbacks are
called for process detach too)."""
import shutil

from winhatch import runner


def test_exit_paths(build_fixture, arch, tmp_path):
    exe = tmp_path / "ldr_exit.exe"
    shutil.copy(build_fixture("ldr_exit.c", arch), exe)
    res = runner.run(exe, [])
    assert res.error is None, res.error
    null, value = ("0" * 16, "0000000000001234") if arch == "x64" else ("0" * 8, "00001234")
    assert res.stdout.decode().replace("\r\n", "\n").splitlines() == [
        f"fls callback {value}",
        f"thread detach: callbacks=1 value={null} error=0",
        "exiting",
        "process detach: entering",           # and not "entered": the process ended there
    ]
    assert res.exit_status == 42
