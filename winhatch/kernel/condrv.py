"""\\Device\\ConDrv: the console's file objects (what a console program's std handles refer to)."""
from __future__ import annotations

from winhatch.kernel.ob import KObject


class ConsoleFile(KObject):
    type_name = "File"

    @property
    def file_type(self) -> int:
        """GetFileType: FILE_TYPE_CHAR for a real console, PIPE/DISK when the host stream is redirected."""
        return getattr(self.console, self.stream).file_type

    def __init__(self, console, stream: str):
        super().__init__(name=f"\\Device\\ConDrv\\{stream}")
        self.console = console
        self.stream = stream  # "stdin" | "stdout" | "stderr"

    def write(self, data: bytes) -> int:
        return self.console.write(self.stream, data)

    def read(self, n: int) -> bytes:
        return self.console.stdin.read(n)


def attach_std_handles(proc, console) -> tuple[int, int, int]:
    """Create the three console handles in the process (Stage 5's console attachment)."""
    if console is None:
        return 0, 0, 0
    GENERIC_READ, GENERIC_WRITE = 0x80000000, 0x40000000
    h_in = proc.handles.insert(ConsoleFile(console, "stdin"), GENERIC_READ | 0x100000 | 0x1, inherit=True)
    h_out = proc.handles.insert(ConsoleFile(console, "stdout"), GENERIC_WRITE | 0x100000 | 0x2, inherit=True)
    h_err = proc.handles.insert(ConsoleFile(console, "stderr"), GENERIC_WRITE | 0x100000 | 0x2, inherit=True)
    return h_in, h_out, h_err
