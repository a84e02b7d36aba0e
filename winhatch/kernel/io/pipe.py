"""Anonymous pipes (CreatePipe, NtCreateNamedPipeFile under \\Device\\NamedPipe): two file objects over one
buffer.

- ReadFile on the read end returns what is buffered (up to the request); on an empty pipe it blocks until data
  arrives or every handle to the write end is closed, then fails with STATUS_PIPE_BROKEN (ERROR_BROKEN_PIPE).
  Blocking uses the dispatcher's restart protocol (`winhatch.kernel.ke.wait.block_on`): nothing is consumed
  before the wait, so re-running ReadFile after the wake reads the data.
- WriteFile on the write end appends; once every read handle is closed it fails with STATUS_PIPE_CLOSING
  (ERROR_NO_DATA). The buffer is not bounded here (a writer never blocks): `size` is the quota CreatePipe was
  given, reported by PeekNamedPipe/GetNamedPipeInfo only.
- Each end is signalled (WaitForSingleObject) when a read would not block.
"""
from __future__ import annotations

import itertools

from winhatch.kernel.fileobj import FILE_TYPE_PIPE
from winhatch.kernel.ke.wait import block_on
from winhatch.kernel.ob import KObject
from winhatch.ntstatus import STATUS_INVALID_DEVICE_REQUEST, STATUS_PIPE_BROKEN, STATUS_PIPE_CLOSING, NtStatusError

DEFAULT_PIPE_SIZE = 4096
_serial = itertools.count(1)


class Pipe:
    """The shared state of one anonymous pipe."""

    def __init__(self, machine, size: int = 0):
        self.machine = machine
        self.size = size or DEFAULT_PIPE_SIZE
        self.buffer = bytearray()
        self.readers_open = True
        self.writers_open = True
        self.bytes_written = 0
        self.number = next(_serial)
        self.read_end = PipeEnd(self, "read")
        self.write_end = PipeEnd(self, "write")

    def _changed(self) -> None:
        self.machine.dispatcher.signal_waiters()


class PipeEnd(KObject):
    """One end's FILE_OBJECT; `read`/`write` as every file object in winhatch."""
    type_name = "File"
    file_type = FILE_TYPE_PIPE

    def __init__(self, pipe: Pipe, role: str):
        super().__init__(name=None)
        self.pipe = pipe
        self.role = role  # "read" | "write"
        self.path = f"\\Device\\NamedPipe\\Win32Pipes.{pipe.number:08x}"

    # -- I/O --------------------------------------------------------------------------------------------
    def read(self, n: int) -> bytes:
        p = self.pipe
        if self.role != "read":
            raise NtStatusError(STATUS_INVALID_DEVICE_REQUEST, "read from the write end of a pipe")
        if p.buffer:
            data = bytes(p.buffer[:n])
            del p.buffer[:n]
            return data
        if not p.writers_open:
            raise NtStatusError(STATUS_PIPE_BROKEN, "the write end of the pipe is closed")
        block_on(self, "ReadFile (pipe)")
        raise AssertionError("unreachable")

    def write(self, data: bytes) -> int:
        p = self.pipe
        if self.role != "write":
            raise NtStatusError(STATUS_INVALID_DEVICE_REQUEST, "write to the read end of a pipe")
        if not p.readers_open:
            raise NtStatusError(STATUS_PIPE_CLOSING, "the read end of the pipe is closed")
        p.buffer += data
        p.bytes_written += len(data)
        if data:
            p._changed()
        return len(data)

    def peek(self, n: int) -> tuple[bytes, int]:
        """PeekNamedPipe: (up to n bytes without consuming them, bytes available)."""
        p = self.pipe
        if not p.buffer and not p.writers_open and self.role == "read":
            raise NtStatusError(STATUS_PIPE_BROKEN, "the write end of the pipe is closed")
        return bytes(p.buffer[:n]), len(p.buffer)

    # -- waits -----------------------------------------------------------------------------------------
    def is_signaled_for(self, thread) -> bool:
        p = self.pipe
        if self.role == "read":
            return bool(p.buffer) or not p.writers_open
        return True

    def describe(self) -> str:
        p = self.pipe
        state = "writers closed" if not p.writers_open else f"{len(p.buffer)} bytes buffered"
        return f"anonymous pipe #{p.number} {self.role} end ({state})"

    # -- lifetime ----------------------------------------------------------------------------------------
    def on_last_handle_close(self) -> None:
        p = self.pipe
        if self.role == "write":
            p.writers_open = False
        else:
            p.readers_open = False
            p.buffer.clear()
        p._changed()


def create_pipe(machine, size: int = 0) -> Pipe:
    return Pipe(machine, size)
