"""Directory change notifications (NtNotifyChangeDirectoryFile, what FindFirstChangeNotification and
ReadDirectoryChangesW are built on).

The file system (vfs.Vfs) reports every change the guest makes — a name added, removed or renamed, a file
written, attributes set — to its listeners; each directory handle with a notification request has a Watch:
its filter (FILE_NOTIFY_CHANGE_*), whether the subtree counts, the changes recorded since the first request
(as NTFS keeps them between requests) and the requests waiting. A change completes the oldest waiting
request with FILE_NOTIFY_INFORMATION records (NextEntryOffset, Action, FileNameLength, the name relative to
the directory; records 4-aligned); records that do not fit the request's buffer: STATUS_NOTIFY_ENUM_DIR (the
caller must enumerate the directory). Closing the handle completes its requests with STATUS_NOTIFY_CLEANUP.
Changes made by the host outside the guest are not seen (the sandbox's files change only through the guest).
"""
from __future__ import annotations

import struct

from winhatch.kernel.io.paths import fold

FILE_ACTION_ADDED, FILE_ACTION_REMOVED, FILE_ACTION_MODIFIED = 1, 2, 3
FILE_ACTION_RENAMED_OLD_NAME, FILE_ACTION_RENAMED_NEW_NAME = 4, 5
FILE_NOTIFY_CHANGE_FILE_NAME = 0x1
FILE_NOTIFY_CHANGE_DIR_NAME = 0x2
FILE_NOTIFY_CHANGE_ATTRIBUTES = 0x4
FILE_NOTIFY_CHANGE_SIZE = 0x8
FILE_NOTIFY_CHANGE_LAST_WRITE = 0x10
STATUS_NOTIFY_CLEANUP = 0x0000010B
STATUS_NOTIFY_ENUM_DIR = 0x0000010C
STATUS_DELETE_PENDING = 0xC0000056
MAX_RECORDS = 4096          # changes kept per watch between requests (beyond: STATUS_NOTIFY_ENUM_DIR)


class Watch:
    """The notification state of one directory file object."""

    def __init__(self, machine, file_object, directory: str, filt: int, tree: bool, capacity: int):
        self.machine = machine
        #: the first request's buffer size: the size of the buffer the file system keeps the changes in for
        #: this handle (a first request with no buffer: every later change is reported as STATUS_NOTIFY_ENUM_DIR)
        self.capacity = capacity
        self.file_object = file_object
        self.directory = directory.rstrip("\\")
        self.key = fold(self.directory) + "\\"
        self.filter = filt
        self.tree = tree
        self.changes: list[tuple[int, str]] = []
        self.overflow = False
        self.irps: list = []
        self.closed = False

    # a synchronous request waits on the watch
    def is_signaled_for(self, thread) -> bool:
        return bool(self.changes) or self.overflow or self.closed

    def describe(self) -> str:
        return f"changes in {self.directory}"

    def in_scope(self, path: str) -> bool:
        if not fold(path).startswith(self.key):
            return False
        rel = path[len(self.key):]
        return bool(rel) and (self.tree or "\\" not in rel)

    def record(self, action: int, path: str, is_dir: bool, filt: int) -> bool:
        """Keep a change under this directory that the filter selects; True when kept."""
        if not fold(path).startswith(self.key):
            return False
        rel = path[len(self.key):]
        if not rel or (not self.tree and "\\" in rel):
            return False
        if action in (FILE_ACTION_ADDED, FILE_ACTION_REMOVED, FILE_ACTION_RENAMED_OLD_NAME,
                      FILE_ACTION_RENAMED_NEW_NAME):
            want = FILE_NOTIFY_CHANGE_DIR_NAME if is_dir else FILE_NOTIFY_CHANGE_FILE_NAME
        else:
            want = filt
        if not self.filter & want:
            return False
        if len(self.changes) >= MAX_RECORDS:
            self.overflow = True
        else:
            self.changes.append((action, rel))
        return True

    def take(self, length: int) -> tuple[int, bytes]:
        """(status, records) for a request with `length` bytes of buffer; the recorded changes go."""
        changes, over = self.changes, self.overflow
        self.changes, self.overflow = [], False
        if over:
            return STATUS_NOTIFY_ENUM_DIR, b""
        out = bytearray()
        last = 0
        for action, rel in changes:
            name = rel.encode("utf-16-le")
            rec = struct.pack("<III", 0, action, len(name)) + name
            if out:     # the previous record is padded to 4 bytes and points here; the last one is not padded
                out += bytes(-len(out) % 4)
                struct.pack_into("<I", out, last, len(out) - last)
            last = len(out)
            out += rec
        if len(out) > min(length, self.capacity):
            return STATUS_NOTIFY_ENUM_DIR, b""
        return 0, bytes(out)

    def pump(self) -> None:
        """Complete the oldest waiting request if there is something to report."""
        self.irps = [i for i in self.irps if not i.done]
        while self.irps and (self.changes or self.overflow):
            irp = self.irps.pop(0)
            st, data = self.take(irp.length)
            if data:
                from winhatch.kernel.ke.services import user_write
                user_write(irp.thread.process, irp.buffer, data)
            irp.complete(st, len(data))
        if self.changes or self.overflow:
            self.machine.dispatcher.signal_waiters()

    def deleted(self) -> None:
        """The directory is deleted: its waiting requests end (STATUS_DELETE_PENDING)."""
        for irp in self.irps:
            if not irp.done:
                irp.complete(STATUS_DELETE_PENDING, 0)
        self.irps = []
        self.machine.dispatcher.signal_waiters()

    def close(self) -> None:
        self.closed = True
        for irp in self.irps:
            if not irp.done:
                irp.complete(STATUS_NOTIFY_CLEANUP, 0)
        self.irps = []
        watches(self.machine).discard(self)
        self.machine.dispatcher.signal_waiters()


class _Watches(set):
    pass


def watches(machine) -> _Watches:
    w = getattr(machine, "_notify_watches", None)
    if w is None:
        w = machine._notify_watches = _Watches()

        def listener(action: int, path: str, is_dir: bool, filt: int, new_path: str | None = None) -> None:
            for watch in list(w):
                if action == FILE_ACTION_REMOVED and fold(path) + "\\" == watch.key:
                    watch.deleted()          # the watched directory itself is gone
                elif action == FILE_ACTION_RENAMED_OLD_NAME and new_path is not None:
                    # a rename within the watched scope is an old/new pair (one completion); out of it or into
                    # it, a removal or an addition
                    old_in, new_in = watch.in_scope(path), watch.in_scope(new_path)
                    kept = False
                    if old_in:
                        kept |= watch.record(FILE_ACTION_RENAMED_OLD_NAME if new_in else FILE_ACTION_REMOVED,
                                             path, is_dir, filt)
                    if new_in:
                        kept |= watch.record(FILE_ACTION_RENAMED_NEW_NAME if old_in else FILE_ACTION_ADDED,
                                             new_path, is_dir, filt)
                    if kept:
                        watch.pump()
                elif watch.record(action, path, is_dir, filt):
                    watch.pump()
        machine.vfs.change_listeners.append(listener)
    return w


def watch_of(machine, file_object, directory: str, filt: int, tree: bool, length: int) -> Watch:
    w = getattr(file_object, "notify_watch", None)
    if w is None or w.closed:
        w = Watch(machine, file_object, directory, filt, tree, length)
        file_object.notify_watch = w
        watches(machine).add(w)
    return w
