"""OpenFileById (NtCreateFile with FILE_OPEN_BY_FILE_ID relative to a volume handle) opens the file whose
64-bit file index GetFileInformationByHandle reported; no descriptor is ERROR_INVALID_PARAMETER.
FindFirstStreamW / FindNextStreamW list the streams NtQueryInformationFile(FileStreamInformation) gives: a
file's unnamed data stream ::$DATA, none for a directory (ERROR_HANDLE_EOF, Wine's kernel32/tests/file.c
test_find_file_stream, written on Windows). wine64 prints the same lines for open_by_id.c but for the file's
streams, where Wine's FindFirstStreamW finds none (an NTFS file on Windows has its ::$DATA stream)."""
import shutil

from winhatch import runner


def test_open_file_by_id(build_fixture, tmp_path, arch):
    exe = tmp_path / "byid.exe"
    shutil.copy(build_fixture("open_by_id.c", arch), exe)
    res = runner.run(exe, timeout=60)
    assert res.error is None and res.exit_status == 0, res.error
    assert res.stdout.decode().replace("\r\n", "\n") == (
        "by id: opened\ncontents: hello\nno descriptor: failed 87\n"
        "streams of the file: ::$DATA 5, next 0 38, close 1\n"
        "streams of the directory: none 38\n")
