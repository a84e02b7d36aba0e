"""OpenFileById (NtCreateFile with FILE_OPEN_BY_FILE_ID relative to a volume handle) opens the file whose
64-bit file index GetFileInformationByHandle reported; no descriptor is ERROR_INVALID_PARAMETER. wine64 prints
the same lines for open_by_id.c (Wine's kernel32/tests/file.c test_OpenFileById, written on Windows)."""
import shutil

from winhatch import runner


def test_open_file_by_id(build_fixture, tmp_path, arch):
    exe = tmp_path / "byid.exe"
    shutil.copy(build_fixture("open_by_id.c", arch), exe)
    res = runner.run(exe, timeout=60)
    assert res.error is None and res.exit_status == 0, res.error
    assert res.stdout.decode().replace("\r\n", "\n") == "by id: opened\ncontents: hello\nno descriptor: failed 87\n"
