"""The WoW64 file system redirector's per-thread switch lives where Windows keeps it, in the 64-bit TEB's
TlsSlots[WOW64_TLS_FILESYSREDIR] (TEB32.GdiBatchCount points at the TEB64): RtlWow64EnableFsRedirectionEx
stores the value it is given there (123, 0xdeadbeef as they are) and reads it back (Wine's
ntdll/tests/directory.c test_redirection, written on Windows)."""
import shutil

from winhatch import runner


def test_redirection_switch_is_the_teb64_tls_slot(build_fixture, tmp_path, arch):
    exe = tmp_path / "tls.exe"
    shutil.copy(build_fixture("wow64_fsredir_tls.c", arch), exe)
    res = runner.run(exe, timeout=60)
    assert res.error is None and res.exit_status == 0, res.error
    out = res.stdout.decode().replace("\r\n", "\n")
    if arch == "x64":
        assert out == "no 64-bit TEB\n"
        return
    assert out == ("set 1: status 0 old 0 slot 1\n"
                   "set 0: status 0 old 1 slot 0\n"
                   "set 7b: status 0 old 0 slot 7b\n"
                   "set deadbeef: status 0 old 7b slot deadbeef\n"
                   "set 0: status 0 old deadbeef slot 0\n"
                   "after writing the slot: old 1\n")
