"""Per-process handle tables, the CID table, and the pseudo-handles."""
from __future__ import annotations

import heapq
from collections import deque
from typing import Iterator

from winhatch._record import Record

from ...ntstatus import (
    STATUS_ACCESS_DENIED,
    STATUS_INVALID_HANDLE,
    STATUS_INVALID_PARAMETER,
    STATUS_OBJECT_TYPE_MISMATCH,
    NtStatusError,
)
from .access import object_type
from .object import KObject

from winhatch.ntstatus import STATUS_HANDLE_NOT_CLOSABLE  # noqa: E402

#: NtCurrentProcess() / NtCurrentThread() (also accepted as 32- and 64-bit unsigned values)
CURRENT_PROCESS = -1
CURRENT_THREAD = -2

#: DuplicateHandle options
DUPLICATE_CLOSE_SOURCE = 0x1
DUPLICATE_SAME_ACCESS = 0x2
#: OBJ_* handle attributes (NtSetInformationObject ObjectHandleFlagInformation)
OBJ_INHERIT = 0x2
OBJ_PROTECT_CLOSE = 0x1

#: handle tables grow to at most this many entries (Windows' per-process limit is 2^24)
MAX_HANDLES = 1 << 24
#: the default cap on open handles per process (`winhatch run --max-handles`, machine.limits["max_handles"]).
#: Each handle to a new object costs the host about 0.5 KB of Python objects, so Windows' own 2^24 would let a
#: CreateEvent loop take ~8 GB of host memory; 2^18 (262,144) keeps that near 130 MB (measured: a CreateEvent
#: loop to the cap peaks at 171 MB, 44 MB of it the start-up) and is far above what
#: programs hold (thousands; more is a leak).  Reaching it fails the call with STATUS_INSUFFICIENT_RESOURCES
#: (ERROR_NO_SYSTEM_RESOURCES, 1450), what Windows returns at its own limit.
DEFAULT_MAX_HANDLES = 1 << 18


def normalize_handle(h: int) -> int:
    """Signed value of a handle given as int or pointer-sized unsigned (0xFFFFFFFF… → -1)."""
    if h >= 1 << 63:
        return h - (1 << 64)
    if 0xFFFF_FF00 <= h <= 0xFFFF_FFFF:
        return h - (1 << 32)
    return h


def is_pseudo_handle(h: int) -> bool:
    return normalize_handle(h) in (CURRENT_PROCESS, CURRENT_THREAD)


class HandleEntry(Record):
    _fields = ("obj", "access", "inherit", "protect_from_close")

    def __init__(self, obj: KObject, access: int, inherit: bool = False, protect_from_close: bool = False) -> None:
        self.obj = obj
        self.access = access
        self.inherit = inherit
        self.protect_from_close = protect_from_close


class HandleTable:
    """A process handle table.

    Handle values are multiples of 4 starting at 4; the low two bits of a value are ignored on
    lookup (they are free for applications, as in Windows).  After a close, the lowest free value is
    the next one handed out.
    """

    def __init__(self):
        self._entries: dict[int, HandleEntry] = {}
        self._free: list[int] = []  # heap of freed values below _next
        self._next = 4
        self.limit = MAX_HANDLES      # open handles at most (the machine's cap: DEFAULT_MAX_HANDLES)

    # --- allocation --------------------------------------------------------------------------------
    def _alloc_value(self) -> int:
        if len(self._entries) >= self.limit:
            raise NtStatusError(0xC000009A, f"the process has {len(self._entries)} open handles, its limit "
                                            f"(winhatch run --max-handles)")  # STATUS_INSUFFICIENT_RESOURCES
        while self._free:
            h = heapq.heappop(self._free)
            if h not in self._entries:
                return h
        if self._next >= MAX_HANDLES * 4:
            raise NtStatusError(0xC000009A, "handle table full")  # STATUS_INSUFFICIENT_RESOURCES
        h = self._next
        self._next += 4
        return h

    def insert(self, obj: KObject, access: int, inherit: bool = False, protect_from_close: bool = False) -> int:
        """ObInsertObject/ObOpenObjectByPointer: a new handle to ``obj`` (generic rights mapped)."""
        if not isinstance(obj, KObject):
            raise NtStatusError(STATUS_INVALID_PARAMETER, "not a kernel object")
        access = object_type(obj.type_name).map_access(access)
        h = self._alloc_value()
        obj._open_handle()
        self._entries[h] = HandleEntry(obj, access, bool(inherit), bool(protect_from_close))
        return h

    # --- lookup ------------------------------------------------------------------------------------
    @staticmethod
    def _key(handle: int) -> int:
        return handle & ~3

    def entry(self, handle: int) -> HandleEntry:
        h = normalize_handle(handle)
        if h <= 0:
            raise NtStatusError(STATUS_INVALID_HANDLE, f"invalid handle 0x{handle & 0xFFFFFFFFFFFFFFFF:X}")
        e = self._entries.get(self._key(h))
        if e is None:
            raise NtStatusError(STATUS_INVALID_HANDLE, f"invalid handle 0x{h:X}")
        return e

    def lookup(self, handle: int, type_name: str | None = None, access: int = 0, *,
               current_process: KObject | None = None, current_thread: KObject | None = None) -> KObject:
        """ObReferenceObjectByHandle (without taking a reference): the object behind ``handle``.

        Pseudo-handles resolve to ``current_process`` / ``current_thread`` with full access.
        """
        h = normalize_handle(handle)
        if h in (CURRENT_PROCESS, CURRENT_THREAD):
            obj = current_process if h == CURRENT_PROCESS else current_thread
            if obj is None:
                raise NtStatusError(STATUS_INVALID_HANDLE, "pseudo-handle without a current object")
            granted = object_type(obj.type_name).mapping.all | 0x001F0000
        else:
            e = self.entry(h)
            obj, granted = e.obj, e.access
        if type_name is not None and obj.type_name != type_name:
            raise NtStatusError(STATUS_OBJECT_TYPE_MISMATCH, f"handle is a {obj.type_name}, not a {type_name}")
        if access:
            want = object_type(obj.type_name).map_access(access)
            if want & ~granted:
                raise NtStatusError(STATUS_ACCESS_DENIED,
                                    f"access 0x{want:X} not granted (handle has 0x{granted:X})")
        return obj

    # --- close / flags -----------------------------------------------------------------------------
    def close(self, handle: int) -> None:
        """NtClose."""
        e = self.entry(handle)
        if e.protect_from_close:
            raise NtStatusError(STATUS_HANDLE_NOT_CLOSABLE, "handle is protected from close")
        self._remove(self._key(normalize_handle(handle)))

    def _remove(self, h: int) -> None:
        e = self._entries.pop(h)
        heapq.heappush(self._free, h)
        e.obj._close_handle()

    def close_all(self) -> None:
        """Process rundown: close every handle (protection does not matter then)."""
        for h in sorted(self._entries, reverse=True):
            self._remove(h)

    def set_information(self, handle: int, inherit: bool | None = None, protect: bool | None = None) -> None:
        """NtSetInformationObject(ObjectHandleFlagInformation) / SetHandleInformation."""
        e = self.entry(handle)
        if inherit is not None:
            e.inherit = bool(inherit)
        if protect is not None:
            e.protect_from_close = bool(protect)

    # --- duplication / inheritance -----------------------------------------------------------------
    def duplicate(self, handle: int, target_table: "HandleTable", access: int | None = None,
                  inherit: bool = False, same_access: bool = True, close_source: bool = False, *,
                  current_process: KObject | None = None, current_thread: KObject | None = None) -> int:
        """NtDuplicateObject: a handle in ``target_table`` to the object behind ``handle``.

        ``same_access`` (DUPLICATE_SAME_ACCESS) copies the source's access, otherwise ``access`` is
        mapped and granted (there is no security descriptor to check it against).  ``close_source``
        (DUPLICATE_CLOSE_SOURCE) closes the source handle, even when the duplication fails.
        A pseudo-handle duplicates to a real handle to the current process/thread.
        """
        h = normalize_handle(handle)
        try:
            if h in (CURRENT_PROCESS, CURRENT_THREAD):
                obj = self.lookup(h, current_process=current_process, current_thread=current_thread)
                src_access = object_type(obj.type_name).mapping.all
                close_source = False
            else:
                e = self.entry(h)
                obj, src_access = e.obj, e.access
            if same_access or access is None:
                new_access = src_access
            else:
                new_access = access
            if close_source and target_table is self and not self._entries[self._key(h)].protect_from_close:
                # within one table the source's entry becomes the duplicate: the same value, the new access
                # and attributes, the object's handle count unchanged (Wine's kernel32/tests/process.c
                # test_DuplicateHandle on Windows)
                e = self._entries[self._key(h)]
                e.access = object_type(obj.type_name).map_access(new_access)
                e.inherit = bool(inherit)
                close_source = False
                return self._key(h)
            new = target_table.insert(obj, new_access, inherit=inherit)
        finally:
            if close_source and h > 0 and self._key(h) in self._entries and \
                    not self._entries[self._key(h)].protect_from_close:
                self._remove(self._key(h))     # after the target's handle exists: no last-handle cleanup
        return new

    @classmethod
    def inherit(cls, parent_table: "HandleTable", only: set[int] | None = None) -> "HandleTable":
        """CreateProcess(bInheritHandles=TRUE): every inheritable handle, at the same value (with
        PROC_THREAD_ATTRIBUTE_HANDLE_LIST, `only`: those of the list that are inheritable)."""
        t = cls()
        for h, e in sorted(parent_table._entries.items()):
            if e.inherit and (only is None or h in only):
                e.obj._open_handle()
                t._entries[h] = HandleEntry(e.obj, e.access, True, e.protect_from_close)
        if t._entries:
            t._next = max(t._entries) + 4
            t._free = [v for v in range(4, t._next, 4) if v not in t._entries]
            heapq.heapify(t._free)
        return t

    # --- introspection -----------------------------------------------------------------------------
    def entries(self) -> list[tuple[int, HandleEntry]]:
        return sorted(self._entries.items())

    def __iter__(self) -> Iterator[int]:
        return iter(sorted(self._entries))

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, handle: int) -> bool:
        h = normalize_handle(handle)
        return h > 0 and self._key(h) in self._entries


class CidTable:
    """Client IDs (process and thread ids) — one table for both, as PspCidTable.

    Ids are multiples of 4, handed out from ``first`` upward.  A freed id is never given out while
    its object lives; freed ids go into a FIFO and are reused only once more than ``reuse_delay``
    of them are waiting (Windows reuses ids, but not immediately).
    """

    def __init__(self, first: int = 0x1000, reuse_delay: int = 32):
        if first <= 0 or first % 4:
            raise NtStatusError(STATUS_INVALID_PARAMETER, "first CID must be a positive multiple of 4")
        self._next = first
        self._objs: dict[int, KObject] = {}
        self._freed: deque[int] = deque()
        self.reuse_delay = reuse_delay

    def allocate(self, obj: KObject) -> int:
        if len(self._freed) > self.reuse_delay:
            cid = self._freed.popleft()
        else:
            cid = self._next
            self._next += 4
        self._objs[cid] = obj
        return cid

    def lookup(self, cid: int) -> KObject | None:
        """The object of an id; as in every handle table the low two bits are tag bits the lookup ignores
        (NtOpenProcess of pid + 1 opens pid)."""
        cid &= ~3
        if cid <= 0:
            return None
        return self._objs.get(cid)

    def free(self, cid: int) -> None:
        if cid not in self._objs:
            raise NtStatusError(STATUS_INVALID_PARAMETER, f"CID {cid} not allocated")
        del self._objs[cid]
        self._freed.append(cid)

    def __len__(self) -> int:
        return len(self._objs)

    def items(self) -> list[tuple[int, KObject]]:
        return sorted(self._objs.items())
