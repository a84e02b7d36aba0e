"""WriteFileGather / ReadFileScatter over NtWriteFileGather / NtReadFileScatter (page-sized segments, an
overlapped unbuffered handle only, the request pending with its completion packet queued), DuplicateHandle of
a file handle (only a narrower access), SetFileValidData's errors. Wine's kernel32/tests/file.c
test_WriteFileGather, test_file_access and test_SetFileValidData, written on Windows, check them; wine64
prints the same lines for file_gather_dup.c except where Wine is lenient: it completes WriteFileGather at
once (Windows may too; the test accepts both) and a read at the end with ERROR_IO_PENDING (the test accepts
ERROR_HANDLE_EOF), it lets a duplicate widen a file handle's access (Windows: ERROR_ACCESS_DENIED) and it
sets the valid data length without SeManageVolumePrivilege (Windows: ERROR_PRIVILEGE_NOT_HELD, a todo_wine).
GetFileType takes STD_OUTPUT_HANDLE for the standard output's handle and answers FILE_TYPE_UNKNOWN with
ERROR_INVALID_HANDLE for an object that is no file (test_GetFileType)."""
import shutil

from winhatch import runner

EXPECTED = """\
gather: 0 997
packet: 1 8192 7 1
written 8192
scatter at 0x1000: 0 997 read 4096: a .
scatter at the end: 0 38
scatter on a synchronous handle: 0 87
duplicate for more access: 0 5
duplicate for less access: 1
valid data, read handle: 0 5
valid data, no privilege: 0 1314
file type of STD_OUTPUT_HANDLE is its handle's: 1
file type of a mutex: 0 6
"""


def test_gather_scatter_duplicate_valid_data(build_fixture, tmp_path, arch):
    exe = tmp_path / "fgd.exe"
    shutil.copy(build_fixture("file_gather_dup.c", arch), exe)
    res = runner.run(exe, timeout=60)
    assert res.error is None and res.exit_status == 0, res.error
    assert res.stdout.decode().replace("\r\n", "\n") == EXPECTED
