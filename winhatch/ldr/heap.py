"""RtlCreateHeap / RtlAllocateHeap / RtlFreeHeap / RtlReAllocateHeap / RtlSizeHeap.

Blocks live in guest memory (segments reserved and committed through the memory manager, tagged as heap
for the memory map); each block is preceded by a small header holding its size, as a guest inspecting
memory would expect something there. The free lists are kept in Python for speed: size classes of the
allocation granularity (8 bytes on x86, 16 on x64), first fit over a class, bump allocation at the end.
"""
from __future__ import annotations

import struct

from winhatch.kernel.mm import MEM_COMMIT, MEM_RELEASE, MEM_RESERVE, PAGE_READWRITE
from winhatch.ntstatus import STATUS_NO_MEMORY, NtStatusError

HEAP_NO_SERIALIZE = 0x1
HEAP_GENERATE_EXCEPTIONS = 0x4
HEAP_ZERO_MEMORY = 0x8
HEAP_REALLOC_IN_PLACE_ONLY = 0x10
HEAP_CREATE_ENABLE_EXECUTE = 0x40000

SEGMENT_RESERVE = 0x100000
LARGE_BLOCK = 0x7F000  # blocks above this get their own virtual allocation (like the NT heap's VirtualAlloc'd blocks)


class Heap:
    def __init__(self, aspace, arch: str, *, reserve: int = 0, commit: int = 0, flags: int = 0, tag="heap"):
        self.aspace = aspace
        self.arch = arch
        self.gran = 16 if arch == "x64" else 8
        self.header = self.gran
        self.flags = flags
        reserve = max(reserve, SEGMENT_RESERVE)
        reserve = (reserve + 0xFFFF) & ~0xFFFF
        self.base, _ = aspace.allocate(None, reserve, MEM_RESERVE, PAGE_READWRITE, tag=(tag,))
        self.segments = [(self.base, reserve)]
        self._seg_end = self.base + reserve
        self._committed_end = self.base
        self._commit(self.base + 0x1000)  # the heap header page (HEAP structure lives at the heap base)
        aspace.write(self.base, struct.pack("<II", 0xFFEEFFEE, flags))  # the NT heap's segment signature
        self._top = self.base + 0x1000
        self.blocks: dict[int, int] = {}  # user address -> usable size (rounded)
        self.requested: dict[int, int] = {}  # user address -> size asked for (RtlSizeHeap)
        self.free: dict[int, list[int]] = {}  # rounded size -> user addresses
        self.large: dict[int, int] = {}
        self.seg_committed: dict[int, int] = {}   # segment base -> committed end, for segments left behind
        self.handle = self.base
        self.version = 0          # bumped by every change of the block layout: the walk below is cached on it
        self._walk: tuple | None = None

    def _commit(self, end: int) -> None:
        end = (end + 0xFFFF) & ~0xFFFF if end - self._committed_end > 0x10000 else (end + 0xFFF) & ~0xFFF
        end = min(end, self._seg_end)
        if end > self._committed_end:
            self.aspace.allocate(self._committed_end, end - self._committed_end, MEM_COMMIT, PAGE_READWRITE)
            self._committed_end = end

    def _new_segment(self, need: int) -> None:
        self.seg_committed[self.segments[-1][0]] = self._committed_end     # the segment being left
        size = max(SEGMENT_RESERVE, (need + 0x2000 + 0xFFFF) & ~0xFFFF)
        base, size = self.aspace.allocate(None, size, MEM_RESERVE, PAGE_READWRITE, tag=("heap",))
        self.segments.append((base, size))
        self._seg_end = base + size
        self._committed_end = base
        self._top = base

    def alloc(self, size: int, flags: int = 0) -> int:
        self.version += 1
        g = self.gran
        rounded = max(g, (size + g - 1) & ~(g - 1))
        if rounded >= LARGE_BLOCK:
            base, rs = self.aspace.allocate(None, rounded + 0x1000, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE,
                                            tag=("heap",))
            addr = base + self.header
            self.large[addr] = base
            self.blocks[addr] = rounded
            self.requested[addr] = size
            return addr
        lst = self.free.get(rounded)
        if lst:
            addr = lst.pop()
            if flags & HEAP_ZERO_MEMORY or self.flags & HEAP_ZERO_MEMORY:
                self.aspace.write(addr, bytes(rounded))
        else:
            need = self.header + rounded
            if self._top + need > self._seg_end:
                self._new_segment(need)
            addr = self._top + self.header
            self._top += need
            self._commit(self._top)
            # fresh committed memory is already zero
        self.aspace.write(addr - self.header, struct.pack("<II", rounded // g, 1) + bytes(self.header - 8))
        self.blocks[addr] = rounded
        self.requested[addr] = size
        return addr

    def free_block(self, addr: int) -> bool:
        size = self.blocks.pop(addr, None)
        if size is None:
            return False
        self.version += 1
        self.requested.pop(addr, None)
        if addr in self.large:
            self.aspace.free(self.large.pop(addr), 0, MEM_RELEASE)
            return True
        self.aspace.write(addr - self.header + 4, b"\0\0\0\0")
        self.free.setdefault(size, []).append(addr)
        return True

    def walk(self, ptr_size: int) -> list[dict]:
        """HeapWalk's view: per segment a region entry, its blocks in address order (busy, free), the free
        space left in its committed part as one free block, then its uncommitted range (less the last page).
        Large blocks (their own virtual allocations) are not listed.  Built once per layout (``version``): a
        walk of n entries is n HeapWalk calls, each of which looks its entry up here."""
        return self.walk_indexed(ptr_size)[0]

    def walk_indexed(self, ptr_size: int) -> tuple[list[dict], dict[int, list[int]]]:
        """(the walk, lpData -> the indices of the entries with it)."""
        cached = self._walk
        if cached is not None and cached[0] == (self.version, ptr_size):
            return cached[1], cached[2]
        out = self._build_walk(ptr_size)
        index: dict[int, list[int]] = {}
        for i, e in enumerate(out):
            index.setdefault(e["data"], []).append(i)
        self._walk = ((self.version, ptr_size), out, index)
        return out, index

    def _build_walk(self, ptr_size: int) -> list[dict]:
        out = []
        free_addrs = {a for lst in self.free.values() for a in lst}
        small = sorted(a for a in self.blocks if a not in self.large)
        current = self.segments[-1][0]
        for idx, (base, size) in enumerate(self.segments):
            end = base + size
            committed_end = self._committed_end if base == current else self.seg_committed.get(base, end)
            first = base + (0x1000 if idx == 0 else 0)
            last = end - 0x1000
            out.append(dict(kind="region", data=base, size=first - base, overhead=0, index=idx,
                            committed=committed_end - base, uncommitted=end - committed_end,
                            first=first, last=last))
            top = first
            for a in small:
                if base <= a < end:
                    busy = a not in free_addrs
                    out.append(dict(kind="busy" if busy else "free", data=a,
                                    size=self.requested.get(a, self.blocks[a]) if busy else self.blocks[a],
                                    overhead=self.header, index=idx))
                    top = max(top, a + self.blocks[a])
            if base == current:
                top = max(top, self._top)
            ov = 4 * ptr_size
            if committed_end - top > 2 * ov:
                out.append(dict(kind="free", data=top + ov, size=committed_end - top - 2 * ov, overhead=ov,
                                index=idx))
            if last > committed_end:
                out.append(dict(kind="uncommitted", data=committed_end, size=last - committed_end, overhead=0,
                                index=idx))
        return out

    def size_of(self, addr: int) -> int | None:
        return self.requested.get(addr)

    def realloc(self, addr: int, size: int, flags: int = 0) -> int:
        old = self.blocks.get(addr)
        if old is None:
            return 0
        if size <= old:
            self.requested[addr] = size
            self.version += 1
            return addr
        if flags & HEAP_REALLOC_IN_PLACE_ONLY:
            return 0
        new = self.alloc(size, flags)
        keep = self.requested.get(addr, old)
        self.aspace.write(new, self.aspace.read(addr, keep))
        if flags & HEAP_ZERO_MEMORY and size > keep:
            self.aspace.write(new + keep, bytes(size - keep))
        self.free_block(addr)
        return new

    def destroy(self) -> None:
        for base, _ in self.segments:
            self.aspace.free(base, 0, MEM_RELEASE)
        for base in self.large.values():
            self.aspace.free(base, 0, MEM_RELEASE)
        self.segments.clear()


class HeapManager:
    """The heaps of one process (PEB.ProcessHeaps); handles are the heap base addresses."""

    def __init__(self, aspace, arch: str):
        self.aspace = aspace
        self.arch = arch
        self.heaps: dict[int, Heap] = {}
        self.process_heap: Heap | None = None

    def create(self, flags: int = 0, reserve: int = 0, commit: int = 0) -> Heap:
        h = Heap(self.aspace, self.arch, reserve=reserve, commit=commit, flags=flags)
        self.heaps[h.handle] = h
        return h

    def get(self, handle: int) -> Heap | None:
        return self.heaps.get(handle)

    def destroy(self, handle: int) -> bool:
        h = self.heaps.pop(handle, None)
        if h is None or h is self.process_heap:
            return False
        h.destroy()
        return True

    def alloc_or_raise(self, heap: Heap, size: int, flags: int = 0) -> int:
        addr = heap.alloc(size, flags)
        if not addr:
            raise NtStatusError(STATUS_NO_MEMORY, "heap allocation failed")
        return addr
