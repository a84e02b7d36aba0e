"""Share access lives with a file's handles, not with its file object (IRP_MJ_CLEANUP): once the handle that
made a section is closed, the section keeps the file object but not its sharing mode. A read/write section
is a writer every later open must share write with; a file with a section cannot be truncated
(ERROR_USER_MAPPED_FILE, after the share check). CopyFile opens the source sharing read and delete (write too
when another handle writes it) and the destination sharing read and write. Wine's kernel32/tests/file.c
test_file_sharing and test_CopyFileA (written on Windows); wine64 prints exactly these lines for
file_share_sections.c."""
import shutil

from winhatch import runner

EXPECTED = """\
readonly mapping made
  read share-read opened 0
  read share-read-write opened 0
  write share-all opened 0
  create-always failed 1224
  after close: read share-read opened 0
readwrite mapping made
  read share-read failed 32
  read share-read-write opened 0
  write share-all opened 0
  create-always failed 1224
  after close: read share-read opened 0
copy from r+w source 1 0
copy onto itself 0 32
copy to shared reader 1 0
copy to delete-locked 0 32
copy from NULL 0 3
"""


def test_sharing_with_sections_and_copyfile(build_fixture, tmp_path, arch):
    exe = tmp_path / "fss.exe"
    shutil.copy(build_fixture("file_share_sections.c", arch), exe)
    res = runner.run(exe, timeout=60)
    assert res.error is None and res.exit_status == 0, res.error
    assert res.stdout.decode().replace("\r\n", "\n") == EXPECTED
