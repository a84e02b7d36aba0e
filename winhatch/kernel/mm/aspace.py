"""The user address space of one process: VADs (allocations), per-page state as runs, and the
CPU backend kept in sync with them.

Page values inside an allocation are ``(state, protect, copy)``:

* ``state``   MEM_COMMIT or MEM_RESERVE (``protect`` is 0 for reserved pages)
* ``protect`` the PAGE_* value as stored (views: writable image pages are stored in WRITECOPY form)
* ``copy``    views only: 0 = the page is the section's shared host memory, 1 = this view's private
  copy, 2 = private copy that has been written (a WRITECOPY page then shows as READWRITE), 3 = an image
  page's private copy the program made copy-on-write (VirtualProtect): mapped without write access until its
  first write, like the WRITECOPY pages of data views (see _page_perms)

In the backend: committed pages are mapped with the permissions of their protection (guard and
NOACCESS pages mapped with no access, so the CPU reports a protection fault), reserved pages are
not mapped.  Shared section pages are mapped from the section's host buffer.
"""
from __future__ import annotations

import struct
from bisect import bisect_left, bisect_right
from typing import Any

from winhatch._record import Record

from ...ntstatus import (
    STATUS_ACCESS_DENIED,
    STATUS_ACCESS_VIOLATION,
    STATUS_ALREADY_COMMITTED,
    STATUS_COMMITMENT_LIMIT,
    STATUS_CONFLICTING_ADDRESSES,
    STATUS_FREE_VM_NOT_AT_BASE,
    STATUS_GUARD_PAGE_VIOLATION,
    STATUS_INVALID_PAGE_PROTECTION,
    STATUS_INVALID_PARAMETER,
    STATUS_INVALID_VIEW_SIZE,
    STATUS_MEMORY_NOT_ALLOCATED,
    STATUS_NO_MEMORY,
    STATUS_NOT_MAPPED_VIEW,
    STATUS_SUCCESS,
    STATUS_UNABLE_TO_FREE_VM,
    NtStatusError,
)
from .constants import (
    ALLOCATION_GRANULARITY,
    LOWEST_USER_ADDRESS,
    MEM_COMMIT,
    MEM_DECOMMIT,
    MEM_FREE,
    MEM_IMAGE,
    MEM_LARGE_PAGES,
    MEM_MAPPED,
    MEM_COALESCE_PLACEHOLDERS,
    MEM_PRESERVE_PLACEHOLDER,
    MEM_PRIVATE,
    MEM_RELEASE,
    MEM_REPLACE_PLACEHOLDER,
    MEM_RESERVE,
    MEM_RESERVE_PLACEHOLDER,
    MEM_RESET,
    MEM_TOP_DOWN,
    MEM_WRITE_WATCH,
    PAGE_EXECUTE,
    PAGE_EXECUTE_READ,
    PAGE_EXECUTE_READWRITE,
    PAGE_EXECUTE_WRITECOPY,
    PAGE_GUARD,
    PAGE_NOACCESS,
    PAGE_READONLY,
    PAGE_READWRITE,
    PAGE_SIZE,
    PAGE_WRITECOPY,
    STATUS_IMAGE_NOT_AT_BASE,
    STATUS_MAPPED_ALIGNMENT,
    STATUS_NOT_COMMITTED,
    STATUS_SECTION_PROTECTION,
    STATUS_UNABLE_TO_DELETE_SECTION,
    USER_END_X64,
    USER_END_X86,
    USER_END_X86_LAA,
)
from .constants import PROT_EXEC, PROT_WRITE
from .protect import WRITABLE, WRITECOPY, to_perms, validate_protect, writecopy_form, written_form
from .runs import RunMap
from .section import HostMemory, Section, host_commit_limit
from .ucmap import UcShadow, write_nonzero

P = PAGE_SIZE
G = ALLOCATION_GRANULARITY


def _down(x: int, a: int) -> int:
    return x & ~(a - 1)


def _up(x: int, a: int) -> int:
    return (x + a - 1) & ~(a - 1)


# rights a view protection grants / a requested protection needs (MiIsProtectionCompatible): copy-on-write needs
# only read access — a read-only view may be made PAGE_WRITECOPY, an execute one PAGE_EXECUTE_WRITECOPY
# (kernel32/virtual.c test_mapping, written on Windows)
_R, _W, _C, _X = 1, 2, 4, 8
_GRANTS = {PAGE_NOACCESS: 0, PAGE_READONLY: _R | _C, PAGE_READWRITE: _R | _W | _C, PAGE_WRITECOPY: _R | _C,
           PAGE_EXECUTE: _R | _X | _C, PAGE_EXECUTE_READ: _R | _X | _C, PAGE_EXECUTE_READWRITE: _R | _W | _C | _X,
           PAGE_EXECUTE_WRITECOPY: _R | _C | _X}
_NEEDS = {PAGE_NOACCESS: 0, PAGE_READONLY: _R, PAGE_READWRITE: _R | _W, PAGE_WRITECOPY: _R | _C,
          PAGE_EXECUTE: _X, PAGE_EXECUTE_READ: _R | _X, PAGE_EXECUTE_READWRITE: _R | _W | _X,
          PAGE_EXECUTE_WRITECOPY: _R | _C | _X}


_SEC_NOCACHE, _SEC_WRITECOMBINE = 0x10000000, 0x40000000
_PAGE_NOCACHE, _PAGE_WRITECOMBINE = 0x200, 0x400


def _cache_form(section, protect: int) -> int:
    """A data view's protection with its section's caching: the pages of a SEC_NOCACHE section are PAGE_NOCACHE,
    of a SEC_WRITECOMBINE one PAGE_WRITECOMBINE, whatever protection the view or VirtualProtect gives them
    (kernel32/virtual.c test_MapViewOfFile, written on Windows)."""
    attrs = getattr(section, "attributes", 0) or 0
    if section is None or section.is_image or protect & 0xFF == 0x01 or protect & 0x100:   # NOACCESS, GUARD
        return protect
    if attrs & _SEC_NOCACHE:
        return protect & ~_PAGE_WRITECOMBINE | _PAGE_NOCACHE
    if attrs & _SEC_WRITECOMBINE:
        return protect & ~_PAGE_NOCACHE | _PAGE_WRITECOMBINE
    return protect


def _compatible(view_protect: int, new_protect: int) -> bool:
    need = _NEEDS[new_protect & 0xFF]
    return need & ~_GRANTS[view_protect & 0xFF] == 0


class MemoryBasicInformation(Record):
    """MEMORY_BASIC_INFORMATION, plus ``tag`` (the allocation's tag; None for free regions)."""

    _fields = ("BaseAddress", "AllocationBase", "AllocationProtect", "RegionSize", "State", "Protect", "Type",
               "tag")

    def __init__(self, BaseAddress: int, AllocationBase: int, AllocationProtect: int, RegionSize: int,  # noqa: N803
                 State: int, Protect: int, Type: int, tag: Any = None) -> None:  # noqa: N803
        self.BaseAddress = BaseAddress
        self.AllocationBase = AllocationBase
        self.AllocationProtect = AllocationProtect
        self.RegionSize = RegionSize
        self.State = State
        self.Protect = Protect
        self.Type = Type
        self.tag = tag

    def as_tuple(self) -> tuple[int, int, int, int, int, int, int]:
        return (self.BaseAddress, self.AllocationBase, self.AllocationProtect, self.RegionSize,
                self.State, self.Protect, self.Type)


class Allocation(Record):
    """One VAD: a reservation (MEM_PRIVATE) or a view (MEM_MAPPED / MEM_IMAGE)."""

    _fields = ("base", "size", "type", "protect", "tag", "section", "offset", "relocated", "pages", "host",
               "host_off", "placeholder", "replaced", "watch", "xtrack")
    _repr_fields = ("base", "size", "type", "protect", "tag", "section", "offset", "relocated", "host_off")

    def __init__(self, base: int, size: int, type: int, protect: int, tag: Any = None,  # noqa: A002
                 section: Section | None = None, offset: int = 0, relocated: bool = False,
                 pages: RunMap = None, host: HostMemory | None = None, host_off: int = 0,
                 placeholder: bool = False, replaced: bool = False, watch: set | None = None,
                 xtrack: "ExecTrack | None" = None) -> None:
        self.base = base
        self.size = size
        self.type = type
        self.protect = protect          # AllocationProtect
        self.tag = tag
        self.section = section
        self.offset = offset            # view: offset in the section
        self.relocated = relocated      # image view not at the image base
        self.pages = pages
        self.host = host                # private memory the kernel reaches directly
        self.host_off = host_off        # offset of ``base`` in ``host``
        self.placeholder = placeholder  # a placeholder reservation (MEM_RESERVE_PLACEHOLDER): only replaced or split
        self.replaced = replaced        # made by MEM_REPLACE_PLACEHOLDER: MEM_PRESERVE_PLACEHOLDER turns it back
        self.watch = watch              # MEM_WRITE_WATCH: the addresses of the pages written since the last reset
        self.xtrack = xtrack            # executed-after-written tracking (AddressSpace.track_execution)

    @property
    def end(self) -> int:
        return self.base + self.size

    def committed_pages(self) -> int:
        return sum(e - s for s, e, v in self.pages.iter() if v[0] == MEM_COMMIT)

    def copied_pages(self) -> int:
        return sum(e - s for s, e, v in self.pages.iter() if v[2])


class ExecTrack:
    """Which pages of a non-image allocation the guest made executable ran after being written.

    A page is *dirty* (written, or never run, since tracking began) or *clean* (run, not written since). The
    CPU maps a dirty executable page without execute access and a clean page without write access, so the
    first execution of a dirty page and the first write to a clean page fault (AddressSpace.handle_fault):
    the execution is recorded and the page becomes clean, the write makes it dirty again, and the access is
    retried. No instruction is hooked; a page costs one fault per write-then-run round. A page that goes
    round more than MAX_ROUNDS times (a JIT compiler's code cache) is no longer tracked: it keeps its full
    access and its last record says so."""

    MAX_ROUNDS = 16
    SNAPSHOT_LIMIT = 64 << 20     # bytes of page snapshots an address space keeps (AddressSpace.executed_written)
    __slots__ = ("clean", "rounds", "untracked")

    def __init__(self) -> None:
        self.clean: set[int] = set()          # page addresses run and not written since
        self.rounds: dict[int, int] = {}      # page address -> how many times it ran after a write
        self.untracked: set[int] = set()      # pages given up (more than MAX_ROUNDS rounds)


#: JIT code pages published to the system DLLs' machine code (AddressSpace.publish_jit_pages).
#: Unicorn 2.1 in its virtual TLB mode forgets that a page holds translated code once a guest store lands on
#: the page beside that code (the page's TLB entry loses its not-dirty mark until it is refilled), so later
#: guest stores over the code no longer drop it and the old code runs (tests/fixtures/src/smc_jit_page.c,
#: smc_straddle.c).  While the executed-after-written tracking follows a page the engine never holds it
#: writable and executable at once, so no store goes unseen; past ExecTrack.MAX_ROUNDS it does.  The C
#: runtime's memcpy/memmove/memset run as machine code (winhatch/win32/native_src/string.c) except into these
#: pages, which they leave to their Python handlers, whose host writes always drop the code they overwrite.
#: The table lives in each system DLL that carries that code (its native state section, NATIVE_STATE_SECTION,
#: at NATIVE_JIT_TABLE): u32 count (JIT_TABLE_ALL: more runs than the table holds, every destination is
#: treated as JIT code), u32 0, then count {u64 start, u64 end} runs of pages.
NATIVE_STATE_SECTION = ".whnat"
NATIVE_JIT_TABLE = 64
JIT_TABLE_RUNS = 16
JIT_TABLE_ALL = 0xFFFFFFFF
JIT_TABLE_SIZE = 8 + 16 * JIT_TABLE_RUNS


class ViewResult(tuple):
    """``(base, view_size)`` from :meth:`AddressSpace.map_view`, with ``.status``: STATUS_SUCCESS, or
    STATUS_IMAGE_NOT_AT_BASE (an informational status, as NtMapViewOfSection returns) when an image
    view could not be placed at its preferred image base and the caller must relocate it."""

    status: int

    def __new__(cls, base: int, size: int, status: int = STATUS_SUCCESS):
        t = super().__new__(cls, (base, size))
        t.status = status
        return t

    @property
    def base(self) -> int:
        return self[0]

    @property
    def size(self) -> int:
        return self[1]


class CommitPool:
    """The machine's commit limit, shared by the address spaces of every process (the system commit limit:
    RAM plus page files on Windows).  A charge that would pass ``limit`` bytes fails with
    STATUS_COMMITMENT_LIMIT, what Windows returns when the system's commit limit is reached
    (ERROR_COMMITMENT_LIMIT, 1455, to Win32 callers).  ``limit`` 0 or None: no cap.  An exited process's
    address space stays for reports but no longer counts (``release``)."""

    def __init__(self, limit: int | None):
        self.limit = limit or None
        self.spaces: list["AddressSpace"] = []
        self.peak = 0

    def used(self) -> int:
        return sum(a.commit_charge for a in self.spaces)

    def add(self, space: "AddressSpace") -> None:
        self.spaces.append(space)

    def release(self, space: "AddressSpace") -> None:
        if space in self.spaces:
            self.spaces.remove(space)

    def check(self, nbytes: int) -> None:
        if self.limit is None:
            return
        new = self.used() + nbytes
        if new > self.limit:
            from ...ntstatus import STATUS_COMMITMENT_LIMIT
            raise NtStatusError(STATUS_COMMITMENT_LIMIT,
                                f"the machine's commit limit 0x{self.limit:X} would be exceeded (0x{new:X}; "
                                f"winhatch run --max-memory)")


class AddressSpace:
    """A process's user address space driven through a :class:`MemoryBackend`.

    ``arch`` "x64": 0x10000 … 0x7FFF_FFFE_FFFF; "x86" (a WoW64 process): up to 0x7FFE_FFFF, or
    0xFFFE_FFFF when ``large_address_aware``.  ``commit_limit`` (bytes) caps the commit charge:
    private committed pages plus private (copy-on-write) copies of view pages.
    """

    def __init__(self, backend, arch: str = "x64", commit_limit: int | None = None, large_address_aware: bool = True,
                 commit_pool: CommitPool | None = None):
        if arch not in ("x64", "x86"):
            raise NtStatusError(STATUS_INVALID_PARAMETER, f"unknown arch {arch!r}")
        self.backend = backend
        self.arch = arch
        self.lowest = LOWEST_USER_ADDRESS
        if arch == "x64":
            self.end = USER_END_X64
        else:
            self.end = USER_END_X86_LAA if large_address_aware else USER_END_X86
        self.highest_user_address = self.end - 1
        # a WoW64 (x86) process lives in a 64-bit address space: above 4 GB is user space too (the 64-bit ntdll,
        # PEB64 and TEB64 are there on Windows), which 32-bit code cannot address; only WoW64's 64-bit calls
        # (NtWow64AllocateVirtualMemory64, NtWow64Read/WriteVirtualMemory64) reach it. Between the 32-bit
        # highest address and 4 GB is not user space for either.
        self.native_low = 1 << 32 if arch == "x86" else None
        self.native_end = USER_END_X64
        self.commit_limit = commit_limit
        self.commit_pool = commit_pool    # the machine-wide limit (CommitPool), if any
        if commit_pool is not None:
            commit_pool.add(self)
        self._bases: list[int] = []
        self._allocs: dict[int, Allocation] = {}
        self.uc = UcShadow(backend)
        self._private_pages = 0     # committed MEM_PRIVATE pages
        self._copy_pages = 0        # private copies of view pages
        self._image_bytes = 0
        self._mapped_bytes = 0
        self._peak_commit = 0
        self.watched = 0            # MEM_WRITE_WATCH allocations alive (writes by the kernel are recorded in them)
        #: pages of non-image memory that ran after being written (track_execution): one record per round,
        #: {"base": allocation base, "page", "address": the first instruction run, "round", "size": the
        #: allocation's size, "protect": the page's protection, "untracked": True when tracking stopped,
        #: "data": the page's bytes as they ran (up to ExecTrack.SNAPSHOT_LIMIT in all)}
        self.executed_written: list[dict] = []
        self._snapshot_bytes = 0
        self.jit_mirrors: list[int] = []      # guest addresses of the JIT page tables (publish_jit_pages)
        self._jit_table = bytes(JIT_TABLE_SIZE)

    # =========================================================================================
    # lookup helpers
    # =========================================================================================
    def _find(self, addr: int) -> Allocation | None:
        k = bisect_right(self._bases, addr) - 1
        if k < 0:
            return None
        a = self._allocs[self._bases[k]]
        return a if addr < a.end else None

    def allocation_at(self, addr: int) -> Allocation | None:
        """The allocation (VAD) containing ``addr``: base, size, type, protect, tag, section…"""
        return self._find(addr)

    def allocations(self) -> list[Allocation]:
        return [self._allocs[b] for b in self._bases]

    def _is_free(self, a: int, b: int) -> bool:
        k = bisect_left(self._bases, b) - 1
        return k < 0 or self._allocs[self._bases[k]].end <= a

    def _next_base(self, addr: int) -> int:
        k = bisect_right(self._bases, addr)
        if self.native_low is not None and addr >= self.native_low:
            return self._bases[k] if k < len(self._bases) else self.native_end
        return min(self._bases[k], self.end) if k < len(self._bases) else self.end

    def _user_range(self, a: int, b: int) -> bool:
        """[a, b) lies in user space: below the highest user address, or (a WoW64 process) in its 64-bit
        space above 4 GB."""
        if self.lowest <= a < b <= self.end:
            return True
        return self.native_low is not None and self.native_low <= a < b <= self.native_end

    def _find_free(self, size: int, top_down: bool, align: int = G, lowest: int | None = None,
                   highest: int | None = None) -> int:
        """A free range of `size` bytes starting at a multiple of `align`, inside [lowest, highest] (the
        user address space by default)."""
        floor = max(self.lowest, lowest or 0)
        ceil = self.end if highest is None else min(self.end, highest + 1)
        gaps = []
        prev = self.lowest
        for b in self._bases:
            a = self._allocs[b]
            if a.base >= self.end:          # a WoW64 process's allocations above 4 GB
                break
            if a.base > prev:
                gaps.append((prev, a.base))
            prev = max(prev, a.end)
        if self.end > prev:
            gaps.append((prev, self.end))
        if top_down:
            for lo, hi in reversed(gaps):
                lo, hi = max(lo, floor), min(hi, ceil)
                if hi - size < 0:
                    continue
                cand = _down(hi - size, align)
                if cand >= lo and cand >= self.lowest:
                    return cand
        else:
            for lo, hi in gaps:
                lo, hi = max(lo, floor), min(hi, ceil)
                cand = _up(lo, align)
                if cand + size <= hi:
                    return cand
        raise NtStatusError(STATUS_NO_MEMORY, f"no free 0x{size:X}-byte range in the address space")

    def _insert(self, a: Allocation) -> None:
        self._bases.insert(bisect_left(self._bases, a.base), a.base)
        self._allocs[a.base] = a

    def _remove(self, a: Allocation) -> None:
        del self._bases[bisect_left(self._bases, a.base)]
        del self._allocs[a.base]
        if self.jit_mirrors and (a.xtrack is not None and a.xtrack.untracked
                                 or any(a.base <= m < a.end for m in self.jit_mirrors)):
            self.jit_mirrors = [m for m in self.jit_mirrors if not a.base <= m < a.end]
            self.publish_jit_pages()

    # -- JIT code pages for the native memcpy ------------------------------------------------------------
    def add_jit_mirror(self, addr: int) -> None:
        """A system DLL's native state holds a JIT page table at ``addr`` (winhatch.kernel.ps.mapping.map_image):
        it gets the current table now and every change from now on."""
        if addr not in self.jit_mirrors:
            self.jit_mirrors.append(addr)
            self._jit_table = b""          # written to every mirror again, this one included
            self.publish_jit_pages()

    def jit_runs(self) -> list[tuple[int, int]]:
        """The runs of pages the tracking gave up on (a JIT's code cache), merged: ``[(start, end), ...]``,
        one run per allocation from its first to its last such page."""
        runs = []
        for a in self._allocs.values():
            xt = a.xtrack
            if xt is not None and xt.untracked:
                pages = [p for p in xt.untracked if a.base <= p < a.end]
                if pages:
                    runs.append((min(pages), max(pages) + P))
        runs.sort()
        merged: list[tuple[int, int]] = []
        for lo, hi in runs:
            if merged and lo <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(hi, merged[-1][1]))
            else:
                merged.append((lo, hi))
        return merged

    def publish_jit_pages(self) -> None:
        """Write the JIT page table (NATIVE_JIT_TABLE) into every mirror when it changed."""
        runs = self.jit_runs()
        count = len(runs) if len(runs) <= JIT_TABLE_RUNS else JIT_TABLE_ALL
        table = struct.pack("<II", count, 0) + b"".join(
            struct.pack("<QQ", lo, hi) for lo, hi in runs[:JIT_TABLE_RUNS])
        table = table.ljust(JIT_TABLE_SIZE, b"\0")
        if table == self._jit_table:
            return
        self._jit_table = table
        for m in self.jit_mirrors:
            self._write_jit_table(m, table)

    def _write_jit_table(self, addr: int, table: bytes) -> None:
        try:
            self.write(addr, table)
        except NtStatusError:    # the DLL's section went away under it: nothing to keep up to date there
            pass

    def _check_range(self, a: int, b: int) -> None:
        if not self._user_range(a, b):
            raise NtStatusError(STATUS_INVALID_PARAMETER,
                                f"range 0x{a:X}-0x{b:X} is outside the user address space")

    # =========================================================================================
    # commit accounting
    # =========================================================================================
    @property
    def commit_charge(self) -> int:
        return (self._private_pages + self._copy_pages) * P

    def _charge(self, pages: int) -> None:
        if pages <= 0:
            return
        new = self.commit_charge + pages * P
        if self.commit_limit is not None and new > self.commit_limit:
            raise NtStatusError(STATUS_COMMITMENT_LIMIT,
                                f"commit limit 0x{self.commit_limit:X} would be exceeded (0x{new:X})")
        if self.commit_pool is not None:
            self.commit_pool.check(pages * P)

    def _note_peak(self) -> None:
        self._peak_commit = max(self._peak_commit, self.commit_charge)

    @property
    def counters(self) -> dict[str, int]:
        return {
            "private_bytes": self._private_pages * P,
            "image_bytes": self._image_bytes,
            "mapped_bytes": self._mapped_bytes,
            "commit_charge": self.commit_charge,
            "peak_commit": self._peak_commit,
            "backend_regions": len(self.uc),
        }

    # =========================================================================================
    # NtAllocateVirtualMemory
    # =========================================================================================
    def allocate(self, base: int | None, size: int, alloc_type: int, protect: int, *,
                 top_down: bool = False, tag: Any = None, host: bool = False, align: int = G,
                 lowest: int | None = None, highest: int | None = None) -> tuple[int, int]:
        """NtAllocateVirtualMemory: returns the rounded ``(base, size)``.

        MEM_RESERVE (with or without MEM_COMMIT): a new private allocation; an explicit ``base`` is
        rounded down to 64 KiB, the end up to a page.  MEM_COMMIT alone with a base commits pages
        (rounded to pages) inside an existing reservation; already committed pages take the new
        protection.  MEM_COMMIT without a base reserves and commits.  MEM_RESET accepts committed or
        reserved pages of one allocation and changes nothing.  ``host`` (a new reservation only): the pages live in a
        :class:`HostMemory` the kernel can read and write directly (:meth:`host_memory`).
        ``align``, ``lowest``, ``highest`` (MEM_ADDRESS_REQUIREMENTS of NtAllocateVirtualMemoryEx): where a
        new reservation without a ``base`` may be placed.
        """
        if alloc_type & MEM_TOP_DOWN:
            top_down = True
        t = alloc_type & ~MEM_TOP_DOWN
        if t & ~(MEM_COMMIT | MEM_RESERVE | MEM_RESET | MEM_WRITE_WATCH | MEM_LARGE_PAGES | MEM_RESERVE_PLACEHOLDER
                 | MEM_REPLACE_PLACEHOLDER):
            raise NtStatusError(STATUS_INVALID_PARAMETER, f"invalid allocation type 0x{alloc_type:X}")
        placeholder = replaced = False
        if t & MEM_RESERVE_PLACEHOLDER:
            # a placeholder is a bare reservation with no access: it is only ever replaced, split or released
            if t != MEM_RESERVE | MEM_RESERVE_PLACEHOLDER or protect != PAGE_NOACCESS:
                raise NtStatusError(STATUS_INVALID_PARAMETER, "MEM_RESERVE_PLACEHOLDER needs MEM_RESERVE alone and "
                                                              "PAGE_NOACCESS")
            placeholder = True
            t = MEM_RESERVE
        elif t & MEM_REPLACE_PLACEHOLDER:
            # the range must be exactly one placeholder, which becomes an ordinary allocation
            t &= ~MEM_REPLACE_PLACEHOLDER
            if not base or not t & MEM_RESERVE or t & (MEM_RESET | MEM_LARGE_PAGES):
                raise NtStatusError(STATUS_INVALID_PARAMETER, "MEM_REPLACE_PLACEHOLDER needs MEM_RESERVE and a base")
            replaced = True
        if t & MEM_RESET:
            if t & (MEM_COMMIT | MEM_RESERVE):
                raise NtStatusError(STATUS_INVALID_PARAMETER, "MEM_RESET must be used alone")
            return self._reset(base, size)
        if not t & (MEM_COMMIT | MEM_RESERVE):
            raise NtStatusError(STATUS_INVALID_PARAMETER, "MEM_COMMIT or MEM_RESERVE required")
        if size <= 0:
            raise NtStatusError(STATUS_INVALID_PARAMETER, "size must be > 0")
        if not placeholder:
            protect = validate_protect(protect)
        if not base:
            base = None
        if base is not None and base < 0:
            raise NtStatusError(STATUS_INVALID_PARAMETER, "negative base")
        commit = bool(t & MEM_COMMIT)

        if base is not None and not t & MEM_RESERVE:
            return self._commit(base, size, protect)
        if replaced:
            self._take_placeholder(base, size)
            try:
                return self._reserve(base, size, commit, protect, top_down, tag, host, align, lowest, highest,
                                     replaced=True, watch=bool(t & MEM_WRITE_WATCH))
            except NtStatusError:
                self._restore_placeholder(base, size)
                raise
        return self._reserve(base, size, commit, protect, top_down, tag, host, align, lowest, highest,
                             placeholder=placeholder, watch=bool(t & MEM_WRITE_WATCH))

    def _take_placeholder(self, base: int, size: int) -> None:
        """MEM_REPLACE_PLACEHOLDER: remove the placeholder that is exactly ``[base, base+size)``."""
        a = self._find(base)
        if a is None or not a.placeholder or a.base != base or a.size != _up(size, P):
            raise NtStatusError(STATUS_INVALID_PARAMETER, f"0x{base:X}+0x{size:X} is not exactly one placeholder")
        self._remove(a)

    def _placeholder_gap(self, base: int) -> bool:
        """Whether ``base`` starts a placeholder (split placeholders start at any page)."""
        a = self._find(base)
        return a is not None and a.placeholder and a.base == base

    def _restore_placeholder(self, base: int, size: int) -> None:
        self._insert(Allocation(base, _up(size, P), MEM_PRIVATE, PAGE_NOACCESS,
                                pages=RunMap(_up(size, P) // P, (MEM_RESERVE, 0, 0)), placeholder=True))

    def _reserve(self, base, size, commit, protect, top_down, tag, host, align, lowest, highest, *,
                 placeholder: bool = False, replaced: bool = False, watch: bool = False) -> tuple[int, int]:
        """A new private reservation (committed when ``commit``); ``watch``: MEM_WRITE_WATCH."""
        if (protect & 0xFF) in WRITECOPY:
            raise NtStatusError(STATUS_INVALID_PAGE_PROTECTION, "WRITECOPY is not valid for private memory")
        if base is None:
            rsize = _up(size, P)
            if rsize > self.end - self.lowest:
                raise NtStatusError(STATUS_NO_MEMORY, "allocation larger than the address space")
            # the address space first, then the commit charge: a range that cannot fit is STATUS_NO_MEMORY
            start = self._find_free(rsize, top_down, align, lowest, highest)
            end = start + rsize
            if commit:
                self._charge(rsize // P)
        else:
            start = _down(base, P if replaced else G)   # a split placeholder may start at any page
            end = _up(base + size, P)
            self._check_range(start, end)
            if not self._is_free(start, end):
                raise NtStatusError(STATUS_CONFLICTING_ADDRESSES, f"0x{start:X}-0x{end:X} is not free")
            if commit:
                self._charge((end - start) // P)
        npages = (end - start) // P
        val = (MEM_COMMIT, protect, 0) if commit else (MEM_RESERVE, 0, 0)
        hmem = None
        if host:
            try:
                hmem = HostMemory(end - start)
            except OSError:   # the host cannot reserve that much: backend-owned pages behave the same
                hmem = None
        if hmem is not None and commit and end - start > host_commit_limit():
            raise NtStatusError(STATUS_COMMITMENT_LIMIT, f"a 0x{end - start:X}-byte commit exceeds the host's memory")
        a = Allocation(start, end - start, MEM_PRIVATE, protect, tag, pages=RunMap(npages, val), host=hmem,
                       placeholder=placeholder, replaced=replaced, watch=set() if watch else None)
        self.watched += 1 if watch else 0
        self._insert(a)
        if commit:
            try:
                self.uc.map(start, end, to_perms(protect), a.host, a.host_off)
            except NtStatusError:
                self._remove(a)   # nothing half-done
                raise
            self._private_pages += npages
            self._note_peak()
            self._withhold(a, start, end)
        return start, end - start

    def _commit(self, base: int, size: int, protect: int) -> tuple[int, int]:
        start = _down(base, P)
        end = _up(base + size, P)
        a = self._find(start)
        if a is None or end > a.end:
            raise NtStatusError(STATUS_CONFLICTING_ADDRESSES,
                                f"0x{start:X}-0x{end:X} is not inside one reserved allocation")
        if a.type == MEM_MAPPED:
            # a view's pages are committed by its section: MEM_COMMIT only sets a protection the view allows
            # (a pagefile-backed section); a file-backed view refuses it (kernel32/virtual.c, written on Windows)
            if getattr(a.section, "file", None) is not None:
                raise NtStatusError(STATUS_ACCESS_DENIED, "MEM_COMMIT in a view of a file")
            self.protect(start, end - start, protect)
            return start, end - start
        if a.type != MEM_PRIVATE:
            raise NtStatusError(STATUS_ALREADY_COMMITTED, "view pages are committed by their section")
        if a.placeholder:
            raise NtStatusError(STATUS_CONFLICTING_ADDRESSES, "a placeholder must be replaced before it is committed")
        if (protect & 0xFF) in WRITECOPY:
            raise NtStatusError(STATUS_INVALID_PAGE_PROTECTION, "WRITECOPY is not valid for private memory")
        pa, pb = (start - a.base) // P, (end - a.base) // P
        runs = list(a.pages.iter(pa, pb))
        new_pages = sum(e - s for s, e, v in runs if v[0] != MEM_COMMIT)
        self._charge(new_pages)
        if a.host is not None and new_pages * P > host_commit_limit():
            raise NtStatusError(STATUS_COMMITMENT_LIMIT, f"a 0x{new_pages * P:X}-byte commit exceeds the host's memory")
        perms = to_perms(protect)
        # the backend may refuse new pages (the host is out of memory: STATUS_COMMITMENT_LIMIT): new pages
        # are mapped first and undone on failure, so nothing is half-done
        mapped: list[tuple[int, int]] = []
        try:
            for s, e, v in runs:
                if v[0] != MEM_COMMIT:
                    lo, hi = a.base + s * P, a.base + e * P
                    self.uc.map(lo, hi, perms, a.host, a.host_off + (lo - a.base))
                    mapped.append((lo, hi))
        except NtStatusError:
            for lo, hi in mapped:
                self.uc.unmap(lo, hi)
            raise
        for s, e, v in runs:
            if v[0] == MEM_COMMIT:
                self.uc.protect(a.base + s * P, a.base + e * P, perms)
        a.pages.set(pa, pb, (MEM_COMMIT, protect, 0))
        self._private_pages += new_pages
        self._note_peak()
        self.uc.coalesce(start, end, a.base, a.end)
        self._withhold(a, start, end)
        return start, end - start

    def _reset(self, base: int | None, size: int) -> tuple[int, int]:
        if not base or size <= 0:
            raise NtStatusError(STATUS_INVALID_PARAMETER, "MEM_RESET needs a base and a size")
        start, end = _down(base, P), _up(base + size, P)
        a = self._find(start)
        if a is None or end > a.end:
            raise NtStatusError(STATUS_CONFLICTING_ADDRESSES, "MEM_RESET outside one allocation")
        # reserved pages are accepted too (nothing to discard) and stay reserved (kernel32/virtual.c
        # test_VirtualAlloc, written on Windows)
        return start, end - start

    # =========================================================================================
    # NtFreeVirtualMemory
    # =========================================================================================
    def free(self, base: int, size: int, free_type: int) -> tuple[int, int]:
        """NtFreeVirtualMemory: returns the ``(base, size)`` freed.

        MEM_RELEASE with size 0 needs the allocation base (STATUS_FREE_VM_NOT_AT_BASE) and releases
        the whole allocation; with a size it releases that page range (splitting the allocation).
        MEM_DECOMMIT with size 0 likewise needs the base and decommits the whole allocation.  A range
        running past its allocation gives STATUS_UNABLE_TO_FREE_VM; views cannot be freed
        (STATUS_UNABLE_TO_DELETE_SECTION: use unmap_view).
        """
        if free_type in (MEM_RELEASE | MEM_PRESERVE_PLACEHOLDER, MEM_RELEASE | MEM_COALESCE_PLACEHOLDERS):
            return self._free_placeholder(base, size, free_type)
        if free_type not in (MEM_DECOMMIT, MEM_RELEASE):
            raise NtStatusError(STATUS_INVALID_PARAMETER, f"invalid free type 0x{free_type:X}")
        if size < 0 or base is None:
            raise NtStatusError(STATUS_INVALID_PARAMETER, "bad base/size")
        a = self._find(base)
        if a is None:
            raise NtStatusError(STATUS_MEMORY_NOT_ALLOCATED, f"0x{base:X} is not allocated")
        if a.type != MEM_PRIVATE:
            raise NtStatusError(STATUS_UNABLE_TO_DELETE_SECTION, "cannot free a section view")
        if a.placeholder and free_type == MEM_DECOMMIT:
            raise NtStatusError(STATUS_CONFLICTING_ADDRESSES, "a placeholder has nothing committed to decommit")
        start = _down(base, P)
        if size == 0:
            if start != a.base:   # size 0 means "the whole allocation": the base is required
                raise NtStatusError(STATUS_FREE_VM_NOT_AT_BASE, f"0x{base:X} is not the allocation base 0x{a.base:X}")
            end = a.end
        else:
            end = _up(base + size, P)
            if end > a.end:
                raise NtStatusError(STATUS_UNABLE_TO_FREE_VM, "range runs past the end of its allocation")
        pa, pb = (start - a.base) // P, (end - a.base) // P
        committed = sum(e - s for s, e, v in a.pages.iter(pa, pb) if v[0] == MEM_COMMIT)
        self.uc.unmap(start, end)
        self._private_pages -= committed
        if a.host is not None:   # decommitted pages come back zero, as backend-owned ones do
            a.host.zero(a.host_off + (start - a.base), end - start)
        if free_type == MEM_DECOMMIT:
            a.pages.set(pa, pb, (MEM_RESERVE, 0, 0))
            return start, end - start
        # release
        self._remove(a)
        if a.watch is not None:
            self.watched -= 1
        for lo, hi in ((a.base, start), (end, a.end)):
            if hi > lo:
                piece = Allocation(lo, hi - lo, a.type, a.protect, a.tag,
                                   pages=a.pages.slice((lo - a.base) // P, (hi - a.base) // P),
                                   host=a.host, host_off=a.host_off + (lo - a.base), placeholder=a.placeholder,
                                   watch=None if a.watch is None else {p for p in a.watch if lo <= p < hi},
                                   xtrack=a.xtrack)   # the tracking's withheld accesses stay its own
                self._insert(piece)
                self.watched += 1 if piece.watch is not None else 0
        if self.jit_mirrors and a.xtrack is not None and a.xtrack.untracked:
            self.publish_jit_pages()       # the pieces' JIT pages (_remove dropped the whole allocation's)
        return start, end - start

    def _free_placeholder(self, base: int, size: int, free_type: int) -> tuple[int, int]:
        """MEM_RELEASE | MEM_PRESERVE_PLACEHOLDER: split ``[base, base+size)`` out of a placeholder as a placeholder
        of its own, or turn an allocation that replaced a placeholder (all of it) back into one.
        MEM_RELEASE | MEM_COALESCE_PLACEHOLDERS: ``[base, base+size)`` must be exactly a run of adjacent
        placeholders, which become one."""
        if not size or size < 0:
            raise NtStatusError(STATUS_INVALID_PARAMETER, "placeholder operations need a size")
        start, end = _down(base, P), _up(base + size, P)
        a = self._find(start)
        if a is None:
            raise NtStatusError(STATUS_MEMORY_NOT_ALLOCATED, f"0x{base:X} is not allocated")
        if free_type & MEM_COALESCE_PLACEHOLDERS:
            run, at = [], start
            for _ in range(1 << 20):   # bounded walk over adjacent allocations
                p = self._allocs.get(at)
                if p is None or not p.placeholder or p.end > end:
                    break
                run.append(p)
                at = p.end
                if at == end:
                    break
            if at != end or not run:
                raise NtStatusError(STATUS_CONFLICTING_ADDRESSES, "the range is not exactly adjacent placeholders")
            for p in run:
                self._remove(p)
            self._restore_placeholder(start, end - start)
            return start, end - start
        if a.type != MEM_PRIVATE or end > a.end:
            raise NtStatusError(STATUS_CONFLICTING_ADDRESSES, "the range is not inside one placeholder")
        if a.placeholder:
            if start == a.base and end == a.end:
                raise NtStatusError(STATUS_CONFLICTING_ADDRESSES, "the range is the whole placeholder: nothing to split")
            self._remove(a)
            for lo, hi in ((a.base, start), (start, end), (end, a.end)):
                if hi > lo:
                    self._restore_placeholder(lo, hi - lo)
            return start, end - start
        if not a.replaced or start != a.base or end != a.end:
            raise NtStatusError(STATUS_CONFLICTING_ADDRESSES, "MEM_PRESERVE_PLACEHOLDER needs a whole allocation "
                                                              "that replaced a placeholder")
        self.free(a.base, 0, MEM_RELEASE)
        self._restore_placeholder(a.base, a.size)
        return a.base, a.size

    # =========================================================================================
    # NtProtectVirtualMemory
    # =========================================================================================
    def protect(self, base: int, size: int, new_protect: int) -> int:
        """NtProtectVirtualMemory: returns the old protection of the first page.

        The range must lie in one allocation (STATUS_CONFLICTING_ADDRESSES) and be committed
        (STATUS_NOT_COMMITTED).  In image views writable protections become copy-on-write (shown as
        WRITECOPY) and the pages get a private copy; in data views the protection must be allowed by
        the view's (STATUS_SECTION_PROTECTION).
        """
        new_protect = validate_protect(new_protect)
        if size <= 0:
            raise NtStatusError(STATUS_INVALID_PARAMETER, "size must be > 0")
        start, end = _down(base, P), _up(base + size, P)
        a = self._find(start)
        if a is None:
            raise NtStatusError(STATUS_MEMORY_NOT_ALLOCATED, f"0x{base:X} is not allocated")
        if end > a.end:
            raise NtStatusError(STATUS_CONFLICTING_ADDRESSES, "range spans more than one allocation")
        pa, pb = (start - a.base) // P, (end - a.base) // P
        runs = list(a.pages.iter(pa, pb))
        if any(v[0] != MEM_COMMIT for _, _, v in runs):
            raise NtStatusError(STATUS_NOT_COMMITTED, "range contains uncommitted pages")
        b = new_protect & 0xFF
        if a.type == MEM_PRIVATE:
            if b in WRITECOPY:
                raise NtStatusError(STATUS_INVALID_PAGE_PROTECTION, "WRITECOPY is not valid for private memory")
        elif a.type == MEM_IMAGE:
            new_protect = writecopy_form(new_protect)
        else:
            if not _compatible(a.protect, new_protect):
                raise NtStatusError(STATUS_SECTION_PROTECTION,
                                    f"0x{new_protect:X} not allowed in a view mapped 0x{a.protect:X}")
            new_protect = _cache_form(a.section, new_protect)
        old = self._shown(runs[0][2])
        if a.type != MEM_PRIVATE:
            needs_copy = (new_protect & 0xFF) in (WRITABLE if a.type == MEM_IMAGE else WRITECOPY)
            if needs_copy:
                self._make_private(a, pa, pb)
        if a.type == MEM_IMAGE and (new_protect & 0xFF) in WRITECOPY:
            # made copy-on-write by the program: its first write is tracked (copy state 3, see _page_perms)
            a.pages.update(pa, pb, lambda v: (v[0], new_protect, 3 if v[2] == 1 else v[2]))
        else:
            a.pages.update(pa, pb, lambda v: (v[0], new_protect, v[2]))
        self._sync_perms(a, pa, pb)
        return old

    # =========================================================================================
    # NtQueryVirtualMemory (MemoryBasicInformation)
    # =========================================================================================
    @staticmethod
    def _shown(v: tuple) -> int:
        state, prot, copy = v
        if state != MEM_COMMIT:
            return 0
        return written_form(prot) if copy == 2 else prot

    def accessible(self, addr: int, size: int, write: bool = False) -> bool:
        """Whether user-mode code could read (or write) every byte of [addr, addr+size): each page committed,
        not PAGE_GUARD or PAGE_NOACCESS, and writable when asked (what IsBadReadPtr/IsBadWritePtr probe).
        Every system service's user_read/user_write asks: the allocations' page runs are read directly (the
        protection as NtQueryVirtualMemory shows it), without building a MEMORY_BASIC_INFORMATION per region."""
        end = addr + max(size, 1)
        cur = addr
        for _ in range(1 << 16):  # bounded walk over allocations
            if cur >= end:
                return True
            if cur < 0 or cur >= self.end:
                return False
            a = self._find(cur)
            if a is None:
                return False
            hi = min(end, a.end)
            for _s, _e, v in a.pages.iter((cur - a.base) // P, (hi - a.base + P - 1) // P):
                if v[0] != MEM_COMMIT:
                    return False
                prot = written_form(v[1]) if v[2] == 2 else v[1]
                if prot & PAGE_GUARD or prot & 0xFF == PAGE_NOACCESS:
                    return False
                if write and prot & 0xFF not in WRITABLE:
                    return False
            cur = a.end
        return False

    def query(self, addr: int) -> MemoryBasicInformation:
        """MEMORY_BASIC_INFORMATION for ``addr`` as Windows fills it (STATUS_INVALID_PARAMETER above
        the highest user address)."""
        if addr < 0 or not (addr < self.end or self._user_range(addr, addr + 1)):
            raise NtStatusError(STATUS_INVALID_PARAMETER, f"0x{addr:X} is beyond the user address space")
        start = _down(addr, P)
        a = self._find(addr)
        if a is None:
            return MemoryBasicInformation(start, 0, 0, self._next_base(addr) - start, MEM_FREE, PAGE_NOACCESS, 0)
        pa = (start - a.base) // P
        first = None
        end = a.size // P
        for s, e, v in a.pages.iter(pa):
            key = (v[0], self._shown(v))
            if first is None:
                first = key
            elif key != first:
                end = s
                break
        # KUSER_SHARED_DATA is a view of one machine-wide page, but the kernel maps it outside any section
        # view: Windows reports it MEM_PRIVATE (ntdll/info.c test_queryvirtualmemory)
        typ = MEM_PRIVATE if a.tag == ("kuser_shared_data",) else a.type
        return MemoryBasicInformation(start, a.base, a.protect, a.base + end * P - start, first[0], first[1],
                                      typ, a.tag)

    def regions(self) -> list[MemoryBasicInformation]:
        """Every region of the user address space from 0 to the highest user address, free ones
        included (a VirtualQuery walk), each with its allocation's tag."""
        out = []
        addr = 0
        while addr < self.end:
            mbi = self.query(addr)
            out.append(mbi)
            addr = mbi.BaseAddress + mbi.RegionSize
        return out

    # =========================================================================================
    # sections
    # =========================================================================================
    def map_view(self, section: Section, base: int | None = None, *, offset: int = 0, size: int = 0,
                 protect: int | None = None, tag: Any = None, top_down: bool = False,
                 highest: int | None = None, lowest: int | None = None, align: int = G,
                 replace_placeholder: bool = False, _any_page: bool = False) -> ViewResult:
        """NtMapViewOfSection: returns ``ViewResult(base, view_size)`` (a 2-tuple with ``.status``).

        Data sections: ``offset`` and ``base`` must be 64 KiB aligned (STATUS_MAPPED_ALIGNMENT);
        ``size`` 0 maps to the end of the section; ``protect`` (default: the section's) must be
        allowed by the section (STATUS_SECTION_PROTECTION); a WRITECOPY view gets private copies.
        Image sections: the whole image; without ``base`` it goes to the image base, or — if that is
        taken or outside the address space — to the lowest free range, with ``.status`` ==
        STATUS_IMAGE_NOT_AT_BASE (the loader must then apply relocations).  ``highest`` (a ZeroBits limit): the
        last address a view placed without ``base`` may use (``lowest``, ``align``: MEM_ADDRESS_REQUIREMENTS).
        ``replace_placeholder`` (MEM_REPLACE_PLACEHOLDER): the view takes the place of the placeholder that is
        exactly its range.
        """
        if not isinstance(section, Section):
            raise NtStatusError(STATUS_INVALID_PARAMETER, "not a section")
        if replace_placeholder:
            if not base or section.is_image:
                raise NtStatusError(STATUS_INVALID_PARAMETER, "MEM_REPLACE_PLACEHOLDER needs a base and a data view")
            vsize = _up(size or section.size - offset, P)
            self._take_placeholder(base, vsize)
            try:
                r = self.map_view(section, base, offset=offset, size=size, protect=protect, tag=tag, _any_page=True)
            except NtStatusError:
                self._restore_placeholder(base, vsize)
                raise
            self._find(base).replaced = True
            return r
        if base is not None and base and base % (P if _any_page or self._placeholder_gap(base) else G):
            raise NtStatusError(STATUS_MAPPED_ALIGNMENT, f"view base 0x{base:X} is not 64 KiB aligned")
        status = STATUS_SUCCESS
        if section.is_image:
            vsize = section.size
            if base:
                self._check_range(base, base + vsize)
                if not self._is_free(base, base + vsize):
                    raise NtStatusError(STATUS_CONFLICTING_ADDRESSES, f"0x{base:X} is not free")
                start = base
            else:
                ib = section.image_base
                if (ib and ib % G == 0 and ib >= self.lowest and ib + vsize <= self.end and self._is_free(ib, ib + vsize)
                        and (highest is None or ib + vsize - 1 <= highest)):
                    start = ib
                else:
                    start = self._find_free(vsize, top_down, align, lowest, highest)
                    status = STATUS_IMAGE_NOT_AT_BASE
            pages = RunMap(vsize // P, None)
            pages.starts, pages.vals = [], []
            for s, e, prot in section.page_protect.iter():
                pages.starts.append(s)
                pages.vals.append((MEM_COMMIT, prot, 1 if (prot & 0xFF) in WRITABLE else 0))
            a = Allocation(start, vsize, MEM_IMAGE, PAGE_EXECUTE_WRITECOPY, tag, section, 0,
                           status == STATUS_IMAGE_NOT_AT_BASE, pages)
        else:
            if protect is None:
                protect = section.protect
            protect = validate_protect(protect)
            if not section.max_view_protect_ok(protect):
                raise NtStatusError(STATUS_SECTION_PROTECTION, f"0x{protect:X} exceeds the section's protection")
            protect = _cache_form(section, protect)
            if offset < 0 or offset % G:
                raise NtStatusError(STATUS_MAPPED_ALIGNMENT, f"section offset 0x{offset:X} is not 64 KiB aligned")
            limit = getattr(section, "limit", section.size)   # a file's section: its size to the byte
            if offset >= limit:
                raise NtStatusError(STATUS_INVALID_VIEW_SIZE, "offset beyond the end of the section")
            if size == 0:
                size = limit - offset
            if size < 0 or offset + size > limit:
                raise NtStatusError(STATUS_INVALID_VIEW_SIZE, "view runs past the end of the section")
            vsize = _up(size, P)
            if base:
                self._check_range(base, base + vsize)
                if not self._is_free(base, base + vsize):
                    raise NtStatusError(STATUS_CONFLICTING_ADDRESSES, f"0x{base:X} is not free")
                start = base
            else:
                start = self._find_free(vsize, top_down, align, lowest, highest)
            copy = 1 if (protect & 0xFF) in WRITECOPY else 0
            a = Allocation(start, vsize, MEM_MAPPED, protect, tag, section, offset,
                           pages=RunMap(vsize // P, (MEM_COMMIT, protect, copy)))
        copies = a.copied_pages()
        self._charge(copies)
        self._insert(a)
        for s, e, v in a.pages.iter():
            lo, hi = a.base + s * P, a.base + e * P
            perms = self._page_perms(v, a)
            if v[2]:
                self.uc.map(lo, hi, perms)
                self._copy_section(section, a.offset + s * P, lo, (e - s) * P)
            else:
                self.uc.map(lo, hi, perms, section, a.offset + s * P)
        self.uc.coalesce(a.base, a.end, a.base, a.end)
        self._copy_pages += copies
        if a.type == MEM_IMAGE:
            self._image_bytes += vsize
        else:
            self._mapped_bytes += vsize
        section.views += 1
        self._note_peak()
        section.on_view_mapped(a)
        return ViewResult(start, vsize, status)

    def unmap_view(self, base: int, preserve_placeholder: bool = False) -> None:
        """NtUnmapViewOfSection: ``base`` may be any address inside the view.  ``preserve_placeholder``
        (MEM_PRESERVE_PLACEHOLDER): a view that replaced a placeholder becomes that placeholder again."""
        a = self._find(base)
        if a is None or a.type == MEM_PRIVATE:
            raise NtStatusError(STATUS_NOT_MAPPED_VIEW, f"0x{base:X} is not in a mapped view")
        if preserve_placeholder and not a.replaced:
            raise NtStatusError(STATUS_CONFLICTING_ADDRESSES, "the view did not replace a placeholder")
        self.uc.unmap(a.base, a.end)
        self._remove(a)
        self._copy_pages -= a.copied_pages()
        if a.type == MEM_IMAGE:
            self._image_bytes -= a.size
        else:
            self._mapped_bytes -= a.size
        a.section.views -= 1
        a.section.on_view_unmapped(a)
        if preserve_placeholder:
            self._restore_placeholder(a.base, a.size)

    def _make_private(self, a: Allocation, pa: int, pb: int) -> None:
        """Give view pages ``[pa, pb)`` this process's own copy (copy-on-write)."""
        runs = [(s, e, v) for s, e, v in a.pages.iter(pa, pb) if v[2] == 0 and v[0] == MEM_COMMIT]
        n = sum(e - s for s, e, _ in runs)
        if not n:
            return
        self._charge(n)
        for s, e, v in runs:
            lo, hi = a.base + s * P, a.base + e * P
            self.uc.unmap(lo, hi)
            self.uc.map(lo, hi, self._page_perms((v[0], v[1], v[2] or 1), a))
            self._copy_section(a.section, a.offset + s * P, lo, (e - s) * P)
        a.pages.update(pa, pb, lambda v: (v[0], v[1], v[2] or 1))
        self._copy_pages += n
        self._note_peak()
        self.uc.coalesce(a.base + pa * P, a.base + pb * P, a.base, a.end)

    _COPY_CHUNK = 16 << 20

    def _copy_section(self, section: Section, offset: int, addr: int, size: int) -> None:
        """Fill freshly mapped (zero) pages at ``addr`` with the section's bytes ``[offset, offset+size)``:
        only the parts that may be non-zero, a bounded chunk at a time (host memory stays bounded
        whatever the view's size)."""
        for off, n in section.content_ranges(offset, size):
            for c in range(0, n, self._COPY_CHUNK):
                k = min(self._COPY_CHUNK, n - c)
                write_nonzero(self.backend, addr + (off - offset) + c, section.read(off + c, k))

    @staticmethod
    def _page_perms(v: tuple, a: Allocation | None = None) -> int:
        """The CPU permissions of a committed page: a copy-on-write page of a data view (``a`` MEM_MAPPED) not yet
        written is mapped without write access, so its first write faults (handle_fault) and the page then shows
        its written form (WRITECOPY → READWRITE), as VirtualQuery reports on Windows once a page has been copied.
        Image pages are tracked only once the program made them copy-on-write itself (VirtualProtect: copy state 3)
        — not as mapped (their first writes would fault in every program, and a retried write fault is not exact
        for every instruction: a Go x86 runtime counted one twice); they show as written once the kernel writes
        them."""
        perms = to_perms(v[1])
        if (v[1] & 0xFF) in WRITECOPY and (v[2] == 3 or (a is not None and a.type == MEM_MAPPED and v[2] != 2)):
            perms &= ~PROT_WRITE
        return perms

    def _sync_perms(self, a: Allocation, pa: int, pb: int) -> None:
        for s, e, v in a.pages.iter(pa, pb):
            if v[0] == MEM_COMMIT:
                self.uc.protect(a.base + s * P, a.base + e * P, self._page_perms(v, a))
        self.uc.coalesce(a.base + pa * P, a.base + pb * P, a.base, a.end)
        self._withhold(a, a.base + pa * P, a.base + pb * P)

    def _withhold(self, a: Allocation, lo: int, hi: int) -> None:
        """The accesses withheld from the CPU so that they fault and are noted: MEM_WRITE_WATCH's first writes,
        executed-after-written tracking's first executions and writes."""
        self._watch_protect(a, lo, hi)
        self._xtrack_protect(a, lo, hi)

    # -- executed after written --------------------------------------------------------------------------
    def track_execution(self, base: int, size: int) -> None:
        """The guest made [base, base+size) executable (NtAllocateVirtualMemory, NtProtectVirtualMemory,
        NtMapViewOfSection with PAGE_EXECUTE*): from now on, note which of its non-image pages run after being
        written (ExecTrack). Image views are the loader's business and are not tracked."""
        cur, end = _down(base, P), _up(base + max(size, 1), P)
        while cur < end:
            a = self._find(cur)
            if a is None:
                cur = self._next_base(cur)
                continue
            if a.type != MEM_IMAGE:
                if a.xtrack is None:
                    a.xtrack = ExecTrack()
                    own = getattr(self.backend, "own_code_runs", None)
                    if own is not None:
                        own()
                self._xtrack_protect(a, max(cur, a.base), min(end, a.end))
            cur = a.end

    def _xtrack_protect(self, a: Allocation, lo: int, hi: int) -> None:
        xt = a.xtrack
        if xt is None:
            return
        lo, hi = max(lo, a.base), min(hi, a.end)
        for s, e, v in a.pages.iter((lo - a.base) // P, (_up(hi, P) - a.base) // P):
            if v[0] != MEM_COMMIT or v[1] & PAGE_GUARD:
                continue
            base_perms = self._page_perms(v, a)
            for page in range(a.base + s * P, a.base + e * P, P):
                if page in xt.untracked:
                    continue
                perms = base_perms
                if a.watch is not None and page not in a.watch:
                    perms &= ~PROT_WRITE
                if page in xt.clean:
                    if not perms & PROT_WRITE:
                        continue
                    perms &= ~PROT_WRITE          # its next write makes it dirty
                elif perms & PROT_EXEC:
                    perms &= ~PROT_EXEC           # its next execution is noted
                else:
                    continue
                self.uc.protect(page, page + P, perms)

    def _xtrack_fault(self, a: Allocation, v: tuple, addr: int, access) -> bool:
        """A fault the tracking caused: note it, give the page the access, and say so (the access is retried)."""
        xt = a.xtrack
        page = _down(addr, P)
        if xt is None or v[0] != MEM_COMMIT or v[1] & PAGE_GUARD or page in xt.untracked:
            return False
        perms = to_perms(v[1])
        i = (page - a.base) // P
        if access in (8, "execute") and perms & PROT_EXEC and page not in xt.clean:
            n = xt.rounds.get(page, 0) + 1
            xt.rounds[page] = n
            rec = {"base": a.base, "size": a.size, "page": page, "address": addr, "round": n,
                   "protect": v[1], "type": a.type}
            if self._snapshot_bytes < ExecTrack.SNAPSHOT_LIMIT:     # the page as it ran (for --dump)
                rec["data"] = self.backend.mem_read(page, P)
                self._snapshot_bytes += P
            if n > ExecTrack.MAX_ROUNDS:
                xt.untracked.add(page)
                xt.clean.discard(page)
                rec["untracked"] = True
                if self.jit_mirrors:
                    self.publish_jit_pages()
            else:
                xt.clean.add(page)
            self.executed_written.append(rec)
            self._sync_perms(a, i, i + 1)
            return True
        if access in (1, "write") and perms & PROT_WRITE and page in xt.clean:
            xt.clean.discard(page)
            self._sync_perms(a, i, i + 1)
            self._drop_code(page, page + P)
            return True
        return False

    def _drop_code(self, lo: int, hi: int) -> None:
        """A page made dirty loses its translated code: the engine does not check a cached block's page
        access again, so without this the next run of the page would neither fault nor see the new bytes."""
        flush = getattr(self.backend, "flush_code", None)
        if flush is not None:
            flush(lo, hi - lo)

    def _xtrack_written(self, a: Allocation, lo: int, hi: int) -> None:
        """A kernel-mode write (WriteProcessMemory, ReadFile into the buffer): the pages it reached are dirty."""
        xt = a.xtrack
        if xt is None or not xt.clean:
            return
        hit = [p for p in range(_down(lo, P), hi, P) if p in xt.clean]
        if hit:
            xt.clean.difference_update(hit)
            self._sync_perms(a, (hit[0] - a.base) // P, (hit[-1] + P - a.base) // P)
            self._drop_code(hit[0], hit[-1] + P)

    def _watch_protect(self, a: Allocation, lo: int, hi: int) -> None:
        """MEM_WRITE_WATCH: committed pages of [lo, hi) not written since the last reset are mapped without write
        access, so the first write faults and is recorded (handle_fault)."""
        if a.watch is None:
            return
        for s, e, v in a.pages.iter((lo - a.base) // P, (hi - a.base) // P):
            perms = to_perms(v[1])
            if v[0] != MEM_COMMIT or not perms & PROT_WRITE:
                continue
            for page in range(a.base + s * P, a.base + e * P, P):
                if page not in a.watch:
                    self.uc.protect(page, page + P, perms & ~PROT_WRITE)

    def write_watch(self, base: int, size: int, reset: bool = False, limit: int | None = None) -> list[int]:
        """NtGetWriteWatch: the pages of [base, base+size) written since the last reset, in address order (at most
        ``limit``); ``reset``: those reported become clean again.  The range must lie in one MEM_WRITE_WATCH
        allocation (STATUS_INVALID_PARAMETER)."""
        a = self._find(base)
        if a is None or a.watch is None or size <= 0 or base + size > a.end:
            raise NtStatusError(STATUS_INVALID_PARAMETER, "not in a MEM_WRITE_WATCH allocation")
        lo, hi = _down(base, P), base + size
        pages = sorted(p for p in a.watch if lo <= p < hi)
        if limit is not None:
            pages = pages[:limit]
        if reset and pages:
            a.watch.difference_update(pages)
            self._withhold(a, pages[0], pages[-1] + P)
        return pages

    def note_write(self, addr: int, size: int) -> None:
        """A write made for the guest outside the CPU (an API's result): recorded in MEM_WRITE_WATCH allocations."""
        try:
            spans = self._spans(addr, size)
        except NtStatusError:   # memory outside the user allocations (the shared page, ...): nothing watched
            return
        for a, pa, pb in spans:
            if a.watch is not None:
                self._watch_mark(a, max(addr, a.base + pa * P), min(addr + size, a.base + pb * P))

    def _watch_mark(self, a: Allocation, lo: int, hi: int) -> None:
        new = [p for p in range(_down(lo, P), hi, P) if p not in a.watch]
        if new:
            a.watch.update(new)
            pa, pb = (new[0] - a.base) // P, (new[-1] + P - a.base) // P
            for s, e, v in a.pages.iter(pa, pb):
                if v[0] == MEM_COMMIT:
                    self.uc.protect(a.base + s * P, a.base + e * P, self._page_perms(v, a))
            self._withhold(a, new[0], new[-1] + P)

    # =========================================================================================
    # faults and kernel-mode access
    # =========================================================================================
    def handle_fault(self, addr: int, access: int = 0) -> int:
        """The CPU reported a protection fault at ``addr`` (``access``: 0 read, 1 write, 8 execute).

        A guard page loses PAGE_GUARD (one-shot) and STATUS_GUARD_PAGE_VIOLATION is returned — the
        access can then be retried; the first write to a copy-on-write page makes it written (STATUS_SUCCESS:
        retry); anything else is STATUS_ACCESS_VIOLATION.
        """
        a = self._find(addr)
        if a is None:
            return STATUS_ACCESS_VIOLATION
        i = (addr - a.base) // P
        v = a.pages.get(i)
        if a.xtrack is not None and self._xtrack_fault(a, v, addr, access):
            return STATUS_SUCCESS       # executed-after-written tracking: noted, the access is retried
        if (a.watch is not None and v[0] == MEM_COMMIT and access in (1, "write") and not v[1] & PAGE_GUARD
                and to_perms(v[1]) & PROT_WRITE and _down(addr, P) not in a.watch):
            self._watch_mark(a, addr, addr + 1)   # a watched page's first write since the last reset
            return STATUS_SUCCESS
        if (v[0] == MEM_COMMIT and access in (1, "write") and not v[1] & PAGE_GUARD and (v[1] & 0xFF) in WRITECOPY
                and v[2] != 2):
            # the first write to a copy-on-write page: it becomes this process's written copy; the access is
            # retried (STATUS_SUCCESS)
            if v[2] == 0:
                self._make_private(a, i, i + 1)
            a.pages.update(i, i + 1, lambda w: (w[0], w[1], 2))
            self._sync_perms(a, i, i + 1)
            return STATUS_SUCCESS
        if v[0] != MEM_COMMIT or not v[1] & PAGE_GUARD:
            return STATUS_ACCESS_VIOLATION
        a.pages.set(i, i + 1, (v[0], v[1] & ~PAGE_GUARD, v[2]))
        self._sync_perms(a, i, i + 1)
        return STATUS_GUARD_PAGE_VIOLATION

    def host_memory(self, addr: int) -> tuple[Any, int] | None:
        """``(buffer, offset)`` of ``addr`` when it lies in a host-backed private allocation."""
        a = self._find(addr)
        if a is None or a.host is None:
            return None
        return a.host.buf, a.host_off + (addr - a.base)

    def _spans(self, addr: int, size: int):
        """Yield ``(alloc, pa, pb)`` covering ``[addr, addr+size)``; AV if any page is not committed."""
        if addr < 0 or not (addr + size <= self.end or self._user_range(addr, addr + max(size, 1))):
            raise NtStatusError(STATUS_ACCESS_VIOLATION, f"0x{addr:X} is outside the user address space")
        cur, end = addr, addr + size
        if size > 0 and addr // P == (end - 1) // P:
            # one page (the loader's and the heap's field reads and writes): one lookup of its state
            a = self._find(addr)
            if a is not None:
                pa = (addr - a.base) // P
                if a.pages.get(pa)[0] != MEM_COMMIT:
                    raise NtStatusError(STATUS_ACCESS_VIOLATION, f"0x{a.base + pa * P:X} is not committed")
                return [(a, pa, pa + 1)]
        out = []
        while cur < end:
            a = self._find(cur)
            if a is None:
                raise NtStatusError(STATUS_ACCESS_VIOLATION, f"0x{cur:X} is not allocated")
            pa = (cur - a.base) // P
            pb = (_up(min(end, a.end), P) - a.base) // P
            for s, e, v in a.pages.iter(pa, pb):
                if v[0] != MEM_COMMIT:
                    raise NtStatusError(STATUS_ACCESS_VIOLATION, f"0x{a.base + s * P:X} is not committed")
            out.append((a, pa, pb))
            cur = a.end
        return out

    def read(self, addr: int, size: int) -> bytes:
        """Kernel-mode read: ignores page protection, needs committed memory (else an
        NtStatusError STATUS_ACCESS_VIOLATION)."""
        if size <= 0:
            return b""
        self._spans(addr, size)
        return self.backend.mem_read(addr, size)

    def write(self, addr: int, data: bytes) -> None:
        """Kernel-mode write: ignores page protection, needs committed memory.  Shared image pages
        get a private copy first; WRITECOPY pages become (and show as) READWRITE."""
        if not data:
            return
        for a, pa, pb in self._spans(addr, len(data)):
            if a.xtrack is not None:
                self._xtrack_written(a, max(addr, a.base + pa * P), min(addr + len(data), a.base + pb * P))
            if a.type == MEM_PRIVATE:
                if a.watch is not None:   # a kernel write is a write too (ReadFile into a watched buffer)
                    self._watch_mark(a, max(addr, a.base + pa * P), min(addr + len(data), a.base + pb * P))
                continue
            if a.type == MEM_IMAGE:
                self._make_private(a, pa, pb)
            elif any((v[1] & 0xFF) in WRITECOPY for _, _, v in a.pages.iter(pa, pb)):
                self._make_private(a, pa, pb)  # no-op: WRITECOPY view pages are copies already
            unwritten = any(v[2] in (1, 3) for _, _, v in a.pages.iter(pa, pb))
            a.pages.update(pa, pb, lambda v: (v[0], v[1], 2 if v[2] else 0))
            if unwritten:   # now written copies: a copy-on-write page gets its write access
                self._sync_perms(a, pa, pb)
        self.backend.mem_write(addr, bytes(data))

    def read_str(self, addr: int, max_len: int = 0x10000, wide: bool = False) -> str:
        """A NUL-terminated ANSI/UTF-16 string (kernel-mode read)."""
        unit = 2 if wide else 1
        out = bytearray()
        while len(out) < max_len * unit:
            ch = self.read(addr + len(out), unit)
            if ch == b"\0" * unit:
                break
            out += ch
        return out.decode("utf-16-le" if wide else "latin-1", errors="replace")

    # =========================================================================================
    def destroy(self) -> None:
        """Process teardown: unmap every view and release every allocation."""
        for a in list(self.allocations()):
            if a.type == MEM_PRIVATE:
                self.free(a.base, 0, MEM_RELEASE)
            else:
                self.unmap_view(a.base)

    def __repr__(self) -> str:
        return f"<AddressSpace {self.arch} allocations={len(self._bases)} commit=0x{self.commit_charge:X}>"
