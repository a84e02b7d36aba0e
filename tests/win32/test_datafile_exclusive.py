"""LoadLibraryEx(LOAD_LIBRARY_AS_DATAFILE_EXCLUSIVE) keeps the file open (reading, sharing reading and deletion)
until FreeLibrary, as kernelbase does: no writer meanwhile, and no exclusive load of a file being written
(ERROR_SHARING_VIOLATION); a plain data-file load holds nothing. wine64 prints the same lines (x64 build)."""
import shutil

import fixturebuild
from winhatch import runner


def test_exclusive_datafile_holds_the_file(tmp_path, arch):
    exe = tmp_path / "ldr_datafile_exclusive.exe"
    shutil.copy(fixturebuild.build("ldr_datafile_exclusive.c", arch), exe)
    shutil.copy(fixturebuild.build("ldr_initfault.c", arch, dll=True), tmp_path / "some.dll")
    res = runner.run(exe, ["some.dll"])
    assert res.exit_status == 0, (res.error, res.stdout)
    assert res.stdout.decode().splitlines() == [
        "datafile: tag=1", "datafile write: opened=1 err=0",
        "exclusive: tag=1", "exclusive write: opened=0 err=32", "exclusive read+delete: opened=1 err=0",
        "freed write: opened=1 err=0", "exclusive while written: loaded=0 err=32", "deleted=1"]
