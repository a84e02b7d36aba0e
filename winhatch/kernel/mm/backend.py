"""The CPU-side memory interface the address space drives, and a Unicorn adapter implementing it."""
from __future__ import annotations

import ctypes
from typing import Any, Protocol, runtime_checkable

from .constants import PROT_EXEC, PROT_NONE, PROT_READ, PROT_WRITE  # noqa: F401  (re-export)


@runtime_checkable
class MemoryBackend(Protocol):
    """What an :class:`~winhatch.kernel.mm.AddressSpace` needs from the CPU.

    ``perms`` are ``1 READ | 2 WRITE | 4 EXEC`` (0 = mapped but no access, so the CPU reports a
    "protected" fault).  ``host`` is ``None`` (the backend owns zero-filled memory) or a ctypes object
    (``ctypes.addressof(host)`` is the first byte, it is at least ``size`` long and page aligned) whose
    memory must be used directly — that is how section pages are shared between address spaces.
    The caller keeps ``host`` alive as long as the range stays mapped.
    Ranges are page aligned; unmap/protect may cover part of, or several, earlier mappings.
    ``mem_map`` raises NtStatusError(STATUS_COMMITMENT_LIMIT) when the host cannot give the memory.
    """

    def mem_map(self, addr: int, size: int, perms: int, host: Any = None) -> None: ...
    def mem_unmap(self, addr: int, size: int) -> None: ...
    def mem_protect(self, addr: int, size: int, perms: int) -> None: ...
    def mem_read(self, addr: int, size: int) -> bytes: ...
    def mem_write(self, addr: int, data: bytes) -> None: ...


class UnicornBackend:
    """:class:`MemoryBackend` over a bare engine (winhatch.cpu.ucbind.Engine; used by the tests and the bench)."""

    def __init__(self, uc=None, arch: str = "x64"):
        if uc is None:
            from winhatch.cpu.ucbind import Engine
            from winhatch.cpu.ucconst import UC_ARCH_X86, UC_MODE_32, UC_MODE_64

            uc = Engine(UC_ARCH_X86, UC_MODE_64 if arch == "x64" else UC_MODE_32)
        self.uc = uc
        self.calls = {"map": 0, "unmap": 0, "protect": 0}

    def mem_map(self, addr: int, size: int, perms: int, host: Any = None) -> None:
        from winhatch.cpu.ucbind import UcError
        from winhatch.cpu.ucconst import UC_ERR_NOMEM

        from ...ntstatus import STATUS_COMMITMENT_LIMIT, NtStatusError
        self.calls["map"] += 1
        try:
            if host is None:
                self.uc.mem_map(addr, size, perms)
            else:
                self.uc.mem_map_ptr(addr, size, perms, ctypes.addressof(host))
        except UcError as e:
            if e.errno == UC_ERR_NOMEM:
                raise NtStatusError(STATUS_COMMITMENT_LIMIT, f"mem_map({addr:#x}, {size:#x}): {e}") from None
            raise

    def mem_unmap(self, addr: int, size: int) -> None:
        self.calls["unmap"] += 1
        self.uc.mem_unmap(addr, size)

    def mem_protect(self, addr: int, size: int, perms: int) -> None:
        self.calls["protect"] += 1
        self.uc.mem_protect(addr, size, perms)

    def mem_read(self, addr: int, size: int) -> bytes:
        return bytes(self.uc.mem_read(addr, size))

    def mem_write(self, addr: int, data: bytes) -> None:
        self.uc.mem_write(addr, bytes(data))

    def regions(self) -> list[tuple[int, int, int]]:
        """Unicorn's own view: ``(start, end_exclusive, perms)`` sorted."""
        return sorted((b, e + 1, p) for b, e, p in self.uc.mem_regions())
