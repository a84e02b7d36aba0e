"""File objects: the executive object a file handle refers to (FILE_OBJECT over a VfsFile).

Every handle to a file, a console or a pipe refers to a KObject of type "File" with at least
`read(n) -> bytes` and `write(data) -> int`; ConsoleFile (condrv.py) is the console's. `FileObject` wraps a
file of the virtual file system; the file is closed when the object's last reference goes.
"""
from __future__ import annotations

from winhatch.kernel.ob import KObject

FILE_TYPE_UNKNOWN, FILE_TYPE_DISK, FILE_TYPE_CHAR, FILE_TYPE_PIPE = 0, 1, 2, 3


class FileObject(KObject):
    type_name = "File"
    file_type = FILE_TYPE_DISK
    #: the file object's own event: reset when a request starts, set when one completes without an event of
    #: its own (what a wait on the file handle sees: FindFirstChangeNotification's handle)
    io_signalled = True

    def __init__(self, vfs_file, path: str):
        super().__init__(name=path)
        self.file = vfs_file
        self.path = path

    def read(self, n: int) -> bytes:
        return self.file.read(n)

    def write(self, data: bytes) -> int:
        return self.file.write(data)

    def seek(self, offset: int, whence: int = 0) -> int:
        return self.file.seek(offset, whence)

    def tell(self) -> int:
        return self.file.tell()

    @property
    def size(self) -> int:
        return self.file.size

    def is_signaled_for(self, thread) -> bool:
        return self.io_signalled

    def on_last_handle_close(self) -> None:
        w = getattr(self, "notify_watch", None)     # its change notification requests end (STATUS_NOTIFY_CLEANUP)
        if w is not None:
            w.close()
        cleanup = getattr(self.file, "cleanup", None)   # IRP_MJ_CLEANUP: share access and locks go now
        if cleanup is not None:
            cleanup()

    def on_delete(self) -> None:
        self.file.close()
