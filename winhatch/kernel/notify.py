"""Notify routines, modelled on the kernel's callback registration APIs.

- PsSetCreateProcessNotifyRoutineEx: `fn(process, pid, create_info | None)`; on creation `create_info` is a
  PsCreateNotifyInfo (parent, creating thread, image file name, command line) and the callback may veto by
  setting `create_info.creation_status` to a failure NTSTATUS, which the creator receives as its error.
  On exit `create_info` is None.
- PsSetCreateThreadNotifyRoutine: `fn(pid, tid, create: bool)`.
- PsSetLoadImageNotifyRoutine: `fn(full_image_name, pid, image_info)` with ImageInfo (base, size,
  system_mode_image=False, image_signature_level...).
"""
from __future__ import annotations

from typing import Any, Callable

from winhatch._record import Record


class PsCreateNotifyInfo(Record):
    _fields = ("parent_process_id", "creating_process_id", "creating_thread_id", "image_file_name",
               "command_line", "file_open_name_available", "creation_status")

    def __init__(self, parent_process_id: int, creating_process_id: int, creating_thread_id: int,
                 image_file_name: str, command_line: str, file_open_name_available: bool = True,
                 creation_status: int = 0) -> None:
        self.parent_process_id = parent_process_id
        self.creating_process_id = creating_process_id
        self.creating_thread_id = creating_thread_id
        self.image_file_name = image_file_name
        self.command_line = command_line
        self.file_open_name_available = file_open_name_available
        self.creation_status = creation_status  # STATUS_SUCCESS; a callback sets a failure status to veto


class ImageInfo(Record):
    _fields = ("image_base", "image_size", "image_name", "arch", "system_mode_image")

    def __init__(self, image_base: int, image_size: int, image_name: str, arch: str,
                 system_mode_image: bool = False) -> None:
        self.image_base = image_base
        self.image_size = image_size
        self.image_name = image_name
        self.arch = arch
        self.system_mode_image = system_mode_image


class NotifyRoutines:
    """The registered callbacks. Registration order is call order, as on Windows."""

    MAX_ROUTINES = 64  # Windows allows 64 of each kind

    def __init__(self) -> None:
        self.process: list[Callable[[Any, int, PsCreateNotifyInfo | None], None]] = []
        self.thread: list[Callable[[int, int, bool], None]] = []
        self.image: list[Callable[[str, int, ImageInfo], None]] = []

    def _add(self, lst: list, fn, remove: bool) -> None:
        if remove:
            lst.remove(fn)
        elif len(lst) >= self.MAX_ROUTINES:
            raise RuntimeError("too many notify routines (Windows allows 64)")
        else:
            lst.append(fn)

    def PsSetCreateProcessNotifyRoutineEx(self, fn, remove: bool = False) -> None:
        self._add(self.process, fn, remove)

    def PsSetCreateThreadNotifyRoutine(self, fn, remove: bool = False) -> None:
        self._add(self.thread, fn, remove)

    def PsSetLoadImageNotifyRoutine(self, fn, remove: bool = False) -> None:
        self._add(self.image, fn, remove)

    # -- called by the kernel ------------------------------------------------------------------------------
    def process_create(self, process, info: PsCreateNotifyInfo) -> int:
        for fn in list(self.process):
            fn(process, process.pid, info)
            if info.creation_status & 0x80000000:
                return info.creation_status
        return 0

    def process_exit(self, process) -> None:
        for fn in list(self.process):
            fn(process, process.pid, None)

    def thread_event(self, pid: int, tid: int, create: bool) -> None:
        for fn in list(self.thread):
            fn(pid, tid, create)

    def image_load(self, name: str, pid: int, info: ImageInfo) -> None:
        for fn in list(self.image):
            fn(name, pid, info)
