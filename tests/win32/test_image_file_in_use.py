"""A running program's image file (issue 14): Windows refuses to delete a file mapped as an image section
(DeleteFile, FILE_FLAG_DELETE_ON_CLOSE: ERROR_ACCESS_DENIED from STATUS_CANNOT_DELETE) or to open it for
writing (ERROR_SHARING_VIOLATION), but lets it be renamed; winhatch let the guest delete its own executable."""
import shutil

from winhatch import runner


def test_running_executable_cannot_be_deleted(build_fixture, tmp_path, arch):
    exe = tmp_path / "selfdel.exe"
    shutil.copy(build_fixture("rob_selfdelete.c", arch), exe)
    res = runner.run(exe, timeout=60)
    assert res.exit_status == 0, res.error
    assert res.stdout.decode().splitlines() == [
        "DeleteFile 0 5",
        "delete-on-close failed 5",
        "open for writing failed 32",
        "open for reading opened",
        "MoveFile 1 0",                      # renaming a running image is allowed
        "DeleteFile renamed 0 5",            # ... and it is still the running image
    ]
    vfs = res.machine.vfs
    assert [f.name for f in vfs.listdir("C:\\app") if f.name not in (".", "..")] == ["selfdel.exe.old"]
    # the rename happened in C:\app's copy-on-write layer: the host folder is as it was
    assert sorted(p.name for p in tmp_path.iterdir()) == ["selfdel.exe"]
    # once the process is gone, its image file is an ordinary file again
    vfs.delete("C:\\app\\selfdel.exe.old")
    assert [f.name for f in vfs.listdir("C:\\app") if f.name not in (".", "..")] == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["selfdel.exe"]
