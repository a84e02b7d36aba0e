"""Traps into Python: how an emulated instruction in a system DLL reaches its Python implementation.

The subsystem's synthetic DLLs (ntdll, kernel32, …) have, at each code export, a stub made of the CPU
backend's TRAP_STUB. Each such image carries a `.whtrap` section listing (RVA, name) for every stub — the
exports and ntdll's internal entry points — so the kernel can tell, from the address that trapped, which
function of which DLL was called, for any process, at any base. Handlers are registered by name by the layers
above (the loader registers ntdll!LdrInitializeThunk, the subsystem its APIs); the kernel never imports them.

Wire format of `.whtrap` (little-endian): u32 count, then per entry: u32 rva, u16 length, name bytes (ASCII).
"""
from __future__ import annotations

import bisect
import struct
from typing import Callable

from winhatch._record import Record

TRAP_SECTION = ".whtrap"


def encode_trap_table(entries: list[tuple[int, str]]) -> bytes:
    out = bytearray(struct.pack("<I", len(entries)))
    for rva, name in entries:
        b = name.encode("ascii")
        out += struct.pack("<IH", rva, len(b)) + b
    return bytes(out)


def decode_trap_table(data: bytes) -> dict[int, str]:
    if len(data) < 4:
        return {}
    (count,) = struct.unpack_from("<I", data, 0)
    off = 4
    table: dict[int, str] = {}
    for _ in range(min(count, 1 << 20)):
        if off + 6 > len(data):
            break
        rva, n = struct.unpack_from("<IH", data, off)
        off += 6
        table[rva] = data[off:off + n].decode("ascii", "replace")
        off += n
    return table


#: TrapHandler.calls_guest for a handler that needs guest code only on a rare path (a C runtime function reaching
#: the guest's invalid-parameter handler): served inside the CPU hook like plain Python; when it does reach
#: call_guest there, the call is abandoned and served again, deferred, from its start (the rule of a blocking
#: handler: nothing irreversible before the guest call).  While the process's subsystem has
#: "defer_speculative" set (a guest handler such a path calls is installed) or API tracing is on, it is
#: deferred from the start.
SPECULATIVE = "speculative"
#: the key in a process's subsystem dict that, set, makes SPECULATIVE handlers deferred from the start
DEFER_SPECULATIVE = "defer_speculative"


class TrapHandler(Record):
    __slots__ = _fields = ("dll", "name", "fn", "calls_guest", "implemented")
    dll: str  # lower-case file name, e.g. "kernel32.dll"
    name: str
    fn: Callable  # fn(thread, trap) -> None; see Dispatcher
    calls_guest: bool | str  # needs to run guest code (DllMain, callbacks): dispatched outside the CPU hook;
    # SPECULATIVE: only on a rare path (see SPECULATIVE)
    implemented: bool

    def __init__(self, dll: str, name: str, fn: Callable, calls_guest: bool = False, implemented: bool = True):
        self.dll = dll
        self.name = name
        self.fn = fn
        self.calls_guest = calls_guest
        self.implemented = implemented


class MappedImage(Record):
    """An image view in a process: what MmMapViewOfSection records for a SEC_IMAGE mapping."""
    __slots__ = _fields = ("base", "size", "name", "path", "traps")
    base: int
    size: int
    name: str  # base name, e.g. kernel32.dll
    path: str  # Win32 full path
    traps: dict[int, str] | None  # rva -> name for synthetic system DLLs, None for ordinary images

    def __init__(self, base: int, size: int, name: str, path: str, traps: dict[int, str] | None):
        self.base = base
        self.size = size
        self.name = name
        self.path = path
        self.traps = traps


class TrapTable:
    """Machine-wide registry of trap handlers by (dll, function name).

    `resolver(dll, name)`, when set, is asked for a name not registered yet: it registers the handler and
    returns it, or returns None (nothing serves the name).  The subsystem registers its ~5,000 declared
    exports that way, each when it is first looked up, instead of all of them at every start."""

    def __init__(self) -> None:
        self._by_name: dict[tuple[str, str], TrapHandler] = {}
        self.unimplemented_factory: Callable[[str, str], TrapHandler] | None = None
        self.resolver: Callable[[str, str], TrapHandler | None] | None = None

    def register(self, dll: str, name: str, fn: Callable, *, calls_guest: bool = False) -> TrapHandler:
        h = TrapHandler(dll.lower(), name, fn, calls_guest)
        self._by_name[(h.dll, name)] = h
        return h

    def get(self, dll: str, name: str) -> TrapHandler | None:
        key = (dll.lower(), name)
        h = self._by_name.get(key)
        if h is None and self.resolver is not None:
            h = self.resolver(*key)
        return h

    def handler_for(self, dll: str, name: str) -> TrapHandler:
        h = self.get(dll, name)
        if h is None:
            if self.unimplemented_factory is None:
                raise KeyError(f"{dll}!{name}")
            h = self.unimplemented_factory(dll.lower(), name)
        return h

    def registered(self) -> list[tuple[str, str]]:
        """The names registered so far (a resolver's are added as they are looked up)."""
        return sorted(self._by_name)


class ImageMap:
    """The image views of one process, sorted by base, for address → module look-ups."""

    def __init__(self) -> None:
        self._bases: list[int] = []
        self._images: list[MappedImage] = []

    def add(self, img: MappedImage) -> None:
        i = bisect.bisect_left(self._bases, img.base)
        self._bases.insert(i, img.base)
        self._images.insert(i, img)

    def remove(self, base: int) -> MappedImage | None:
        i = bisect.bisect_left(self._bases, base)
        if i < len(self._bases) and self._bases[i] == base:
            self._bases.pop(i)
            return self._images.pop(i)
        return None

    def find(self, va: int) -> MappedImage | None:
        i = bisect.bisect_right(self._bases, va) - 1
        if i >= 0:
            img = self._images[i]
            if va < img.base + img.size:
                return img
        return None

    def by_name(self, name: str) -> MappedImage | None:
        name = name.lower()
        for img in self._images:
            if img.name.lower() == name:
                return img
        return None

    def __iter__(self):
        return iter(list(self._images))

    def describe(self, va: int) -> str:
        """'kernel32.dll+0x1234', or the bare address when no image holds it."""
        img = self.find(va)
        if img is None:
            return f"0x{va:x}"
        return f"{img.name}+0x{va - img.base:x}"
