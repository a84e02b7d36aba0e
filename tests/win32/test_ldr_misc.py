"""Loader details, ldr_misc.c — the same output as wine64 8.0 on x64: the first thread has its FLS data block
(TEB.FlsData) from the start and FlsGetValue answers NULL with ERROR_SUCCESS in it; LdrLockLoaderLock with
LDR_LOCK_LOADER_LOCK_FLAG_TRY_ONLY takes a free lock (disposition 1) and LdrUnlockLoaderLock refuses a cookie
that is not the caller's (STATUS_INVALID_PARAMETER_2), bad flags and a missing cookie are
STATUS_INVALID_PARAMETER_1/_3; LoadLibrary of an executable image leaves its imports unresolved;
GetModuleHandle of a hard link to a loaded module's file finds that module; ReadProcessMemory reads a
PAGE_EXECUTE page; LdrLoadDll along a DllPath (System32 is SysWOW64 for an x86 process) and
STATUS_DLL_NOT_FOUND; after NtTerminateProcess(NULL) CreateThread fails with ERROR_ACCESS_DENIED."""
import shutil

from winhatch import runner


def _expected(null: str) -> list[str]:
    return [
        "fls data at start: 1",
        f"FlsGetValue: {null} 0",
        "lock try: 0 disp=1 cookie=1",
        "unlock bad cookie: c00000f0",
        "unlock: 0",
        "lock bad flags: c00000ef",
        "lock no cookie: c00000f1",
        "exe loaded: 1 main iat resolved: 1 copy iat resolved: 0",
        "hard link: 1",
        "by link: 1",
        "read PAGE_EXECUTE: 1 5 1",
        "LdrLoadDll: 0 1",
        "LdrLoadDll missing: c0000135",
        "terminate others: 0",
        "thread after: 0 5",
    ]


def test_loader_details(build_fixture, arch, tmp_path):
    exe = tmp_path / "ldr_misc.exe"
    shutil.copy(build_fixture("ldr_misc.c", arch, libs=["-lntdll"]), exe)
    res = runner.run(exe, [])
    assert res.error is None and res.exit_status == 0, (res.error, res.stdout)
    null = "0" * (16 if arch == "x64" else 8)
    assert res.stdout.decode().replace("\r\n", "\n").splitlines() == _expected(null)
