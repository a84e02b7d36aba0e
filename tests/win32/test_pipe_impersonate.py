"""ImpersonateNamedPipeClient over NtFsControlFile(FSCTL_PIPE_IMPERSONATE), RevertToSelf, DuplicateToken(Ex)
over NtDuplicateToken: pipe_impersonate.c, compared with what wine64 8.0 prints."""
import shutil

from winhatch import runner

# wine64's output, but for the first line: Wine lets the server impersonate before any client has connected
# (as Windows Server 2003 did); Windows answers ERROR_CANNOT_IMPERSONATE (1368) until the server has read
# from a connected client (ImpersonateNamedPipeClient's documentation; Wine's kernel32/tests/pipe.c accepts both)
EXPECTED = [
    "before connect: 0 1368",
    "read 5",
    "after read: 1",
    "impersonating: type=2 level=2",          # TokenImpersonation, SecurityImpersonation
    "revert: 1",
    "reverted: no thread token (1008)",       # ERROR_NO_TOKEN
    "bad handle: 0 6",
    "duplicate primary: 1 type=1",
    "duplicate impersonation: 1 type=2 level=3",
    "bad level: 0 1346",                      # ERROR_BAD_IMPERSONATION_LEVEL
]


def test_impersonate_named_pipe_client_and_duplicate_token(build_fixture, arch, tmp_path):
    exe = tmp_path / "pipe_impersonate.exe"
    shutil.copy(build_fixture("pipe_impersonate.c", arch, libs=["-ladvapi32"]), exe)
    res = runner.run(exe, [])
    assert res.error is None and res.exit_status == 0, (res.error, res.stdout)
    assert res.stdout.decode().replace("\r\n", "\n").splitlines() == EXPECTED
