"""Section objects: pagefile-backed data sections and SEC_IMAGE sections.

A section owns one host buffer (an anonymous ``mmap``: untouched pages cost no RSS).  Views map its
pages into address spaces through ``MemoryBackend.mem_map(host=...)``, so every view of a data
section, and the read-only/executable pages of every view of an image section, are the same host
memory.
"""
from __future__ import annotations

import ctypes
import mmap
import os
import sys

from ...ntstatus import STATUS_INVALID_PAGE_PROTECTION, STATUS_INVALID_PARAMETER, NtStatusError
from ..ob.object import KObject
from .constants import (
    PAGE_EXECUTE,
    PAGE_EXECUTE_READ,
    PAGE_EXECUTE_READWRITE,
    PAGE_EXECUTE_WRITECOPY,
    PAGE_NOACCESS,
    PAGE_READONLY,
    PAGE_READWRITE,
    PAGE_SIZE,
    PAGE_WRITECOPY,
    SEC_COMMIT,
    SEC_IMAGE,
)
from .protect import validate_protect
from .runs import RunMap

#: SEC_IMAGE pages: writable section protections are shown (and behave) as copy-on-write
_IMAGE_COW = {PAGE_READWRITE: PAGE_WRITECOPY, PAGE_EXECUTE_READWRITE: PAGE_EXECUTE_WRITECOPY}


def _page_up(n: int) -> int:
    return (n + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1)


#: <sys/mman.h> on Linux (the mmap module names it from Python 3.12 on)
_LINUX_MAP_NORESERVE = 0x4000 if sys.platform.startswith("linux") else 0


_HOST_COMMIT_LIMIT: list[int] = []


def host_commit_limit() -> int:
    """What one commit may take on this host: its memory plus swap.  Backend-owned pages are refused beyond it
    by the host itself (Unicorn's mapping fails: STATUS_COMMITMENT_LIMIT); host-backed ones, reserved with
    MAP_NORESERVE, are checked against it so a 64 GiB stack commit fails the same way."""
    if not _HOST_COMMIT_LIMIT:
        try:
            total = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError, AttributeError):
            total = 1 << 40
        try:
            with open("/proc/meminfo") as f:
                for line in f:
                    if line.startswith("SwapTotal:"):
                        total += int(line.split()[1]) * 1024
        except (OSError, ValueError, IndexError):
            pass
        _HOST_COMMIT_LIMIT.append(total)
    return _HOST_COMMIT_LIMIT[0]


class HostMemory:
    """Host memory behind a private allocation the kernel wants to reach without going through the CPU
    (a TEB: the API trap frame lives there, see winhatch.cpu.core; a thread's stack).  Guest-visible
    behaviour is that of ordinary private memory; only the backing differs.  ``buf`` is a private
    anonymous ``mmap`` made with MAP_NORESERVE: like a Windows reservation it takes address space
    only, so a 64 GiB stack reservation costs nothing until its pages are touched (a shared or
    accounted mapping of that size fails with ENOMEM under the host's overcommit heuristic).  Raises
    OSError when the host cannot even reserve the range."""

    __slots__ = ("buf",)

    _FLAGS = mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS | getattr(mmap, "MAP_NORESERVE", _LINUX_MAP_NORESERVE)

    def __init__(self, size: int):
        self.buf = mmap.mmap(-1, max(_page_up(size), PAGE_SIZE), flags=self._FLAGS)

    def host_view(self, offset: int, size: int):
        """A ctypes object over ``size`` bytes at ``offset`` (for mem_map(host=))."""
        return (ctypes.c_char * size).from_buffer(self.buf, offset)

    def zero(self, offset: int, size: int) -> None:
        """Zero ``[offset, offset+size)``; whole pages are given back to the host (they read as zero
        again), so decommitting a huge range neither writes nor allocates it."""
        lo, hi = _page_up(offset), (offset + size) & ~(PAGE_SIZE - 1)
        if hi > lo and hasattr(self.buf, "madvise"):
            self.buf[offset: lo] = bytes(lo - offset)
            self.buf.madvise(mmap.MADV_DONTNEED, lo, hi - lo)
            self.buf[hi: offset + size] = bytes(offset + size - hi)
        else:
            self.buf[offset: offset + size] = bytes(size)


class Section(KObject):
    """A section object (``type_name == "Section"``); create with :meth:`create_data` or
    :meth:`create_image`."""

    type_name = "Section"

    def __init__(self, size: int, protect: int, attributes: int, name: str | None = None):
        super().__init__(name)
        self.size = size                 # bytes (page multiple)
        self.protect = protect           # section protection (maximum for views)
        self.attributes = attributes     # SEC_COMMIT / SEC_IMAGE
        self._mm = mmap.mmap(-1, max(size, PAGE_SIZE))
        self.host_bytes = len(self._mm)  # host memory reserved for the section (one copy)
        self.image_base = 0
        self.page_protect: RunMap | None = None  # SEC_IMAGE: per-page protection
        self.views = 0
        #: SEC_IMAGE: the byte ranges ``[start, end)`` that may hold non-zero data (what the file backs, and
        #: what the kernel wrote since); every other page is demand-zero and never touched on the host.
        #: None: unknown (data sections: their views write the host memory directly)
        self.content: list[tuple[int, int]] | None = None

    @property
    def is_image(self) -> bool:
        return bool(self.attributes & SEC_IMAGE)

    # --- constructors --------------------------------------------------------------------------
    @classmethod
    def create_data(cls, size: int, protect: int = PAGE_READWRITE, name: str | None = None) -> "Section":
        """NtCreateSection(SEC_COMMIT, no file): a zero-filled, shareable pagefile-backed section."""
        if size <= 0:
            raise NtStatusError(STATUS_INVALID_PARAMETER, "section size must be > 0")
        validate_protect(protect)
        if protect & ~0xFF or protect in (PAGE_NOACCESS,):
            raise NtStatusError(STATUS_INVALID_PAGE_PROTECTION, "invalid section protection")
        return cls(_page_up(size), protect, SEC_COMMIT, name)

    @classmethod
    def create_image(cls, image: bytes | bytearray | memoryview, protections: list[tuple[int, int, int]],
                     name: str, image_base: int) -> "Section":
        """NtCreateSection(SEC_IMAGE): ``image`` is laid out as in memory (SizeOfImage bytes);
        ``protections`` gives ``(rva, size, PAGE_*)`` per PE section; pages not covered (the headers)
        are PAGE_READONLY.  Writable protections become their WRITECOPY forms."""
        return cls.create_image_sparse(len(image), [(0, image)], protections, name, image_base)

    @classmethod
    def create_image_sparse(cls, image_size: int, parts, protections: list[tuple[int, int, int]], name: str,
                            image_base: int) -> "Section":
        """NtCreateSection(SEC_IMAGE) from what the file backs: ``parts`` are ``(rva, bytes)`` (the headers,
        each section's raw data), the rest of the ``image_size`` bytes is demand-zero — as on Windows, a
        large SizeOfImage or a huge uninitialised section costs nothing until its pages are written."""
        size = _page_up(image_size)
        if size == 0:
            raise NtStatusError(STATUS_INVALID_PARAMETER, "empty image")
        sec = cls(size, PAGE_EXECUTE_WRITECOPY, SEC_IMAGE, name)
        sec.content = []
        for rva, data in parts:
            n = min(len(data), size - rva)
            if n > 0:
                sec.write(rva, bytes(memoryview(data)[:n]))
        sec.image_base = image_base
        pages = RunMap(size // PAGE_SIZE, PAGE_READONLY)
        for rva, length, prot in protections:
            validate_protect(prot)
            prot = _IMAGE_COW.get(prot & 0xFF, prot & 0xFF)
            a = rva // PAGE_SIZE
            b = min(_page_up(rva + max(length, 1)) // PAGE_SIZE, size // PAGE_SIZE)
            pages.set(a, b, prot)
        sec.page_protect = pages
        return sec

    # --- host memory -----------------------------------------------------------------------------
    def host_view(self, offset: int, size: int):
        """A ctypes object over ``size`` bytes of the section at ``offset`` (for mem_map(host=))."""
        return (ctypes.c_char * size).from_buffer(self._mm, offset)

    def read(self, offset: int, size: int) -> bytes:
        return bytes(self._mm[offset: offset + size])

    def write(self, offset: int, data: bytes) -> None:
        """Write section contents directly (kernel/file-system use; every view sees it)."""
        self._mm[offset: offset + len(data)] = data
        if self.content is not None and data:
            self._add_content(offset, offset + len(data))

    def _add_content(self, a: int, b: int) -> None:
        a, b = a & ~(PAGE_SIZE - 1), _page_up(b)
        out = []
        for s, e in self.content:
            if e < a or s > b:
                out.append((s, e))
            else:
                a, b = min(a, s), max(b, e)
        out.append((a, b))
        out.sort()
        self.content = out

    def content_ranges(self, offset: int, size: int) -> list[tuple[int, int]]:
        """The parts ``(offset, length)`` of ``[offset, offset+size)`` that may hold non-zero bytes (pages
        outside them are zero): what a private copy of those pages needs to copy."""
        end = offset + size
        if self.content is None:
            return [(offset, size)]
        out = []
        for s, e in self.content:
            lo, hi = max(s, offset), min(e, end)
            if lo < hi:
                out.append((lo, hi - lo))
        return out

    # --- hooks for the owners of special sections (file-backed mappings: winhatch.win32.kernel32.mapping) ------
    def on_view_mapped(self, view) -> None:
        """A view of this section was mapped (``view``: its Allocation).  Default: nothing."""

    def on_view_unmapped(self, view) -> None:
        """A view of this section was unmapped (``view``: its Allocation).  Default: nothing."""

    def flush(self, offset: int = 0, size: int | None = None) -> None:
        """Write modified pages of ``[offset, offset+size)`` to the backing file.  Default (pagefile-backed
        and image sections): nothing to write."""

    def max_view_protect_ok(self, protect: int) -> bool:
        """May a view of this data section be mapped/protected with ``protect``?"""
        base = protect & 0xFF
        sec = self.protect & 0xFF
        writable = sec in (PAGE_READWRITE, PAGE_EXECUTE_READWRITE)
        executable = sec in (PAGE_EXECUTE, PAGE_EXECUTE_READ, PAGE_EXECUTE_READWRITE, PAGE_EXECUTE_WRITECOPY)
        if base == PAGE_NOACCESS:
            return True
        if base in (PAGE_READONLY,):
            return True
        if base == PAGE_WRITECOPY:
            return True
        if base == PAGE_READWRITE:
            return writable
        if base in (PAGE_EXECUTE, PAGE_EXECUTE_READ, PAGE_EXECUTE_WRITECOPY):
            return executable
        if base == PAGE_EXECUTE_READWRITE:
            return writable and executable
        return False

    def __repr__(self) -> str:
        kind = "image" if self.is_image else "data"
        return f"<Section {kind} {self.name or ''} size=0x{self.size:X}>"
