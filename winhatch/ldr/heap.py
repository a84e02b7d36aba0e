"""RtlCreateHeap / RtlAllocateHeap / RtlFreeHeap / RtlReAllocateHeap / RtlSizeHeap over structures in guest memory.

The whole state of a heap lives in the guest, at and after its base, and is shared by two implementations of one
algorithm: the machine code at ntdll's exports (winhatch/win32/native_src/heap.c: the common paths, no trip to
Python) and this module (the Python handlers of the traced path, the paths the machine code leaves to Python —
committing more memory, a new segment, large blocks, a lock another thread holds — and winhatch's own
allocations for guest structures).  Both must keep the layout below; tests run programs both ways.

At the heap base (the first page), the fields a guest reads at their Windows 10 offsets:
    x86 +0x08 / x64 +0x10  SegmentSignature 0xFFEEFFEE
    x86 +0x40 / x64 +0x70  Flags        (the process heap: HEAP_GROWABLE)
    x86 +0x44 / x64 +0x74  ForceFlags   (0 without a debugger; HeapCreate's HEAP_NO_SERIALIZE and
                                         HEAP_GENERATE_EXCEPTIONS, which every call then gets)
then winhatch's control block at +0x400 (W = the pointer size):
    +0*W magic 'WHHP'   +1*W lock owner (thread ID)   +2*W lock recursion   +3*W top (the bump pointer of the
    current segment)   +4*W its committed end   +5*W its reserved end   +6*W number of segments
    +7*W first large block   +8*W version (bumped by every change of the block layout)
    +16*W       bitmap of non-empty bins (u32 words)
    +16*W+32    NB bin heads (the first free block of each bin)
and at +0xA00 the segment table: (base, reserved end, committed end) per segment, at most MAX_SEGMENTS.

Blocks: HDR bytes of header (8 on x86, 16 on x64) then the user data, GRAN-aligned:
    u32 size | BUSY 1 | PREV_BUSY 2 | LARGE 4     (size: the whole block, a multiple of GRAN)
    u8  unused bytes (size - HDR - the size asked for)   u8 kind (0 a block, 1 the sentinel closing a segment)
    u8  user information: EXTRA 0x01 (the block carries a user value) | the settable user flags 0x20/0x40/0x80
        (HEAP_SETTABLE_USER_FLAG1..3 >> 4), as the NT heap keeps them in its entry's flags
A block allocated with HEAP_SETTABLE_USER_VALUE carries a pointer-sized user value in its last W bytes (a large
block: the last W bytes of its allocation), counted in its unused bytes; the machine code leaves such blocks,
and allocations that ask for user information, to this module.
A free block has the next and previous free block of its bin at +HDR and +HDR+W and its size in its last four
bytes (the boundary tag the following block's PREV_BUSY refers to).  Free neighbours are always merged; the
block before `top` is never free (it merges into top).  Bins: GRAN-sized exact bins up to 128*GRAN, then one bin
per power of two.  A block of LARGE_BLOCK bytes or more is its own virtual allocation (reserve and commit):
a header of four words (next, previous, size asked for, size of the allocation) then the block header with
LARGE|BUSY.
"""
from __future__ import annotations

import struct

from winhatch.kernel.mm import MEM_COMMIT, MEM_RELEASE, MEM_RESERVE, PAGE_READWRITE
from winhatch.ntstatus import STATUS_NO_MEMORY, NtStatusError

HEAP_NO_SERIALIZE = 0x1
HEAP_GROWABLE = 0x2
HEAP_GENERATE_EXCEPTIONS = 0x4
HEAP_ZERO_MEMORY = 0x8
HEAP_REALLOC_IN_PLACE_ONLY = 0x10
HEAP_CREATE_ENABLE_EXECUTE = 0x40000
HEAP_SETTABLE_USER_VALUE = 0x100
HEAP_SETTABLE_USER_FLAGS = 0xE00
UI_EXTRA = 0x01

SEGMENT_RESERVE = 0x100000
LARGE_BLOCK = 0x7F000  # blocks of this size or more get their own virtual allocation (the NT heap's VirtualAlloc'd blocks)
COMMIT_CHUNK = 0x10000

SEGMENT_SIGNATURE = 0xFFEEFFEE
MAGIC = 0x50484857      # 'WHHP'
CTL = 0x400
SEG_TABLE = 0xA00
MAX_SEGMENTS = 64
NSMALL = 128
NB = 160
_BITMAP = struct.Struct(f"<{(NB + 31) >> 5}I")   # the bins' bitmap: one bit a bin
SEG_FIRST = 0x40        # the first block of a segment after the first (its header holds the signature)

BUSY, PREV_BUSY, LARGE = 1, 2, 4
KIND_SENTINEL = 1

# control block fields (word indices)
F_MAGIC, F_OWNER, F_COUNT, F_TOP, F_COMMITTED, F_SEG_END, F_NSEGS, F_LARGE, F_VERSION = range(9)


class HeapBusy(Exception):
    """Another thread holds the heap's lock (it is inside the machine code of a heap function, or HeapLock) and
    the heap has no machine to wait on (a heap outside a running process)."""


def _wait_for_lock(machine, heap: "Heap", owner: int) -> None:
    """The calling thread waits a millisecond of emulated time and its call is re-run (the restart protocol of
    winhatch.kernel.ke.wait); the lock's owner runs meanwhile and leaves the heap in a consistent state."""
    if machine is None:
        raise HeapBusy(f"heap 0x{heap.base:x} is locked by thread {owner}")
    from winhatch.kernel.ke.wait import WaitBlock, WouldBlock, deadline_after
    raise WouldBlock(WaitBlock([], False, deadline_after(machine, 1), f"heap 0x{heap.base:x} lock", None))


def layout(arch: str) -> dict:
    """The numbers heap.c is compiled with (tests/win32/test_native_blob.py compares them)."""
    w = 8 if arch == "x64" else 4
    hdr = 16 if arch == "x64" else 8
    return dict(W=w, HDR=hdr, GRAN=hdr, MIN=hdr + 2 * w + hdr, SIG=0x10 if arch == "x64" else 0x8,
                FLAGS=0x70 if arch == "x64" else 0x40, FORCE=0x74 if arch == "x64" else 0x44)


class Heap:
    def __init__(self, aspace, arch: str, *, reserve: int = 0, commit: int = 0, flags: int = 0, tag="heap",
                 current=None, machine=None):
        self.aspace = aspace
        self.arch = arch
        lay = layout(arch)
        self.W = lay["W"]
        self.gran = lay["GRAN"]
        self.header = lay["HDR"]
        self.min = lay["MIN"]
        self._lay = lay
        self._pf = "<Q" if self.W == 8 else "<I"
        self._current = current or (lambda: 0)
        self._machine = machine
        self.flags = flags
        self.force_flags = flags & (HEAP_NO_SERIALIZE | HEAP_GENERATE_EXCEPTIONS)
        self.tag = tag
        reserve = max(reserve, SEGMENT_RESERVE)
        reserve = (reserve + 0xFFFF) & ~0xFFFF
        self.base, _ = aspace.allocate(None, reserve, MEM_RESERVE, PAGE_READWRITE, tag=(tag,))
        self.handle = self.base
        self.ctl = self.base + CTL
        first_commit = max(0x2000, (commit + 0xFFF) & ~0xFFF)
        first_commit = min(first_commit, reserve)
        aspace.allocate(self.base, first_commit, MEM_COMMIT, PAGE_READWRITE)
        aspace.write(self.base + lay["SIG"], struct.pack("<II", SEGMENT_SIGNATURE, 0))
        aspace.write(self.base + lay["FLAGS"], struct.pack("<II", flags, self.force_flags))
        self._set(F_MAGIC, MAGIC)
        self._set(F_NSEGS, 1)
        self._seg_write(0, self.base, self.base + reserve, self.base + first_commit)
        self._set(F_TOP, self.base + 0x1000)
        self._set(F_COMMITTED, self.base + first_commit)
        self._set(F_SEG_END, self.base + reserve)
        self._walk: tuple | None = None

    # ---- guest memory ------------------------------------------------------------------------------------------
    def _rp(self, a: int) -> int:
        return struct.unpack(self._pf, self.aspace.read(a, self.W))[0]

    def _wp(self, a: int, v: int) -> None:
        self.aspace.write(a, struct.pack(self._pf, v & ((1 << (8 * self.W)) - 1)))

    def _r32(self, a: int) -> int:
        return struct.unpack("<I", self.aspace.read(a, 4))[0]

    def _w32(self, a: int, v: int) -> None:
        self.aspace.write(a, struct.pack("<I", v & 0xFFFFFFFF))

    def _get(self, f: int) -> int:
        return self._rp(self.ctl + f * self.W)

    def _set(self, f: int, v: int) -> None:
        self._wp(self.ctl + f * self.W, v)

    def _seg_at(self, i: int) -> int:
        return self.base + SEG_TABLE + i * 3 * self.W

    def _seg_write(self, i: int, base: int, end: int, committed: int) -> None:
        a = self._seg_at(i)
        self._wp(a, base)
        self._wp(a + self.W, end)
        self._wp(a + 2 * self.W, committed)

    def _seg(self, i: int) -> tuple[int, int, int]:
        a = self._seg_at(i)
        return self._rp(a), self._rp(a + self.W), self._rp(a + 2 * self.W)

    @property
    def segments(self) -> list[tuple[int, int]]:
        return [(b, e - b) for b, e, _ in (self._seg(i) for i in range(self._get(F_NSEGS)))]

    @property
    def version(self) -> int:
        return self._get(F_VERSION)

    def _bump_version(self) -> None:
        self._set(F_VERSION, self._get(F_VERSION) + 1)

    def _hdr(self, b: int) -> tuple[int, int, int]:
        """(size, flags, unused) of the block at b."""
        v, unused, kind = struct.unpack("<IBB", self.aspace.read(b, 6))
        return v & ~7, v & 7, unused | (kind << 8)

    def _set_hdr(self, b: int, size: int, flags: int, unused: int = 0, kind: int = 0) -> None:
        self.aspace.write(b, struct.pack("<IBBH", size | flags, unused, kind, 0))

    def _set_flag(self, b: int, bit: int, on: bool) -> None:
        v = self._r32(b)
        self._w32(b, (v | bit) if on else (v & ~bit))

    # ---- the lock ----------------------------------------------------------------------------------------------
    def _check_lock(self, flags: int = 0) -> None:
        if (flags | self.force_flags) & HEAP_NO_SERIALIZE:
            return
        owner = self._get(F_OWNER)
        if owner and owner != self._current():
            _wait_for_lock(self._machine, self, owner)

    def lock(self) -> None:
        """HeapLock: the caller's thread owns the heap (recursively) until HeapUnlock."""
        self._check_lock()
        self._set(F_OWNER, self._current())
        self._set(F_COUNT, self._get(F_COUNT) + 1)

    def unlock(self) -> bool:
        if self._get(F_OWNER) != self._current() or self._get(F_COUNT) == 0:
            return False
        n = self._get(F_COUNT) - 1
        self._set(F_COUNT, n)
        if n == 0:
            self._set(F_OWNER, 0)
        return True

    # ---- bins --------------------------------------------------------------------------------------------------
    def _bin(self, size: int) -> int:
        q = size // self.gran
        if q < NSMALL:
            return q
        k = size.bit_length() - 1 - (NSMALL * self.gran).bit_length() + 1
        return min(NSMALL + k, NB - 1)

    def _bin_head_at(self, i: int) -> int:
        return self.ctl + 16 * self.W + 32 + i * self.W

    def _bitmap_at(self, i: int) -> int:
        return self.ctl + 16 * self.W + 4 * (i >> 5)

    def _insert(self, b: int, size: int) -> None:
        i = self._bin(size)
        ha = self._bin_head_at(i)
        head = self._rp(ha)
        self._wp(b + self.header, head)
        self._wp(b + self.header + self.W, 0)
        if head:
            self._wp(head + self.header + self.W, b)
        self._wp(ha, b)
        ba = self._bitmap_at(i)
        self._w32(ba, self._r32(ba) | (1 << (i & 31)))

    def _remove(self, b: int, size: int) -> None:
        nxt = self._rp(b + self.header)
        prv = self._rp(b + self.header + self.W)
        if prv:
            self._wp(prv + self.header, nxt)
        else:
            i = self._bin(size)
            self._wp(self._bin_head_at(i), nxt)
            if not nxt:
                ba = self._bitmap_at(i)
                self._w32(ba, self._r32(ba) & ~(1 << (i & 31)))
        if nxt:
            self._wp(nxt + self.header + self.W, prv)

    def _find_free(self, size: int) -> int:
        """The first free block of `size` bytes or more (bins upward), or 0."""
        i = self._bin(size)
        # the whole bitmap in one read (it is 20 bytes): most searches of a young heap find every word empty
        words = _BITMAP.unpack(self.aspace.read(self._bitmap_at(0), _BITMAP.size))
        while i < NB:
            word = words[i >> 5] >> (i & 31)
            if not word:
                i = (i | 31) + 1
                continue
            i += (word & -word).bit_length() - 1
            b = self._rp(self._bin_head_at(i))
            for _ in range(1 << 20):
                if not b:
                    break
                if self._hdr(b)[0] >= size:
                    return b
                b = self._rp(b + self.header)
            i += 1
        return 0

    def _mark_free(self, b: int, size: int) -> None:
        """b..b+size becomes one free block (its previous block is busy): header, footer, bin, the next block's
        PREV_BUSY cleared."""
        self._set_hdr(b, size, PREV_BUSY)
        self._w32(b + size - 4, size)
        self._insert(b, size)
        self._set_flag(b + size, PREV_BUSY, False)

    def _release(self, b: int, size: int) -> None:
        """The range b..b+size (its previous block busy) is free: merge it with a free next block or with top."""
        n = b + size
        if n == self._get(F_TOP):
            self._set(F_TOP, b)
            return
        nsize, nflags, _ = self._hdr(n)
        if not nflags & BUSY:
            self._remove(n, nsize)
            size += nsize
            if b + size == self._get(F_TOP):
                self._set(F_TOP, b)
                return
        self._mark_free(b, size)

    # ---- blocks ------------------------------------------------------------------------------------------------
    def _need(self, size: int) -> int:
        g = self.gran
        return max(self.min, (size + self.header + g - 1) & ~(g - 1))

    def _segment_of(self, b: int) -> int | None:
        top = self._get(F_TOP)
        n = self._get(F_NSEGS)
        for i in range(n - 1, -1, -1):
            base, end, committed = self._seg(i)
            first = base + (0x1000 if i == 0 else SEG_FIRST)
            limit = top if i == n - 1 else committed
            if first <= b < limit:
                return i
        return None

    def _block_of(self, p: int) -> tuple[int, int, int, int] | None:
        """(block address, size, flags, unused) of the busy block whose user address is p, else None.  A large
        block: size 0, flags LARGE|BUSY."""
        if not p or p % self.gran:
            return None
        b = p - self.header
        i = self._segment_of(b)
        if i is not None:
            size, flags, unused = self._hdr(b)
            if not flags & BUSY or unused > 0xFF or size < self.min:
                return None
            return b, size, flags, unused
        if self._large_of(p):
            return b, 0, LARGE | BUSY, 0
        return None

    def _large_of(self, p: int) -> int:
        r = self._get(F_LARGE)
        for _ in range(1 << 20):
            if not r:
                return 0
            if r + 4 * self.W + self.header == p:
                return r
            r = self._rp(r)
        return 0

    def alloc(self, size: int, flags: int = 0) -> int:
        if flags & (HEAP_SETTABLE_USER_VALUE | HEAP_SETTABLE_USER_FLAGS):
            extra = self.W if flags & HEAP_SETTABLE_USER_VALUE else 0
            p = self._alloc(size + extra, flags & ~(HEAP_SETTABLE_USER_VALUE | HEAP_SETTABLE_USER_FLAGS))
            if p:
                self._attach_user_info(p, size, ((flags & HEAP_SETTABLE_USER_FLAGS) >> 4) | (UI_EXTRA if extra else 0), 0)
            return p
        return self._alloc(size, flags)

    # ---- user information (RtlGetUserInfoHeap, RtlSetUserValueHeap, RtlSetUserFlagsHeap) ----------------------
    def _ui_at(self, b: int) -> int:
        return self.aspace.read(b + 6, 1)[0]

    def _value_slot(self, b: int, bsize: int, bflags: int) -> int:
        if bflags & LARGE:
            r = b - 4 * self.W
            return r + self._rp(r + 3 * self.W) - self.W
        return b + bsize - self.W

    def _attach_user_info(self, p: int, size: int, ui: int, value: int) -> None:
        """The block at p (just allocated or reallocated with room for the value when EXTRA) holds `size` bytes
        for its user and the user information `ui` (and the value)."""
        b = p - self.header
        bsize, bflags, _ = self._hdr(b)
        if bflags & LARGE:
            self._wp(b - 2 * self.W, size)
        else:
            self.aspace.write(b + 4, bytes([bsize - self.header - size]))
        self.aspace.write(b + 6, bytes([ui]))
        if ui & UI_EXTRA:
            self._wp(self._value_slot(b, bsize, bflags), value)

    def user_info(self, p: int) -> tuple[int, int] | None:
        """(user value, user flags as HEAP_SETTABLE_USER_FLAG bits) of a busy block, or None."""
        blk = self._block_of(p)
        if blk is None:
            return None
        b, bsize, bflags, _ = blk
        ui = self._ui_at(b)
        value = self._rp(self._value_slot(b, bsize, bflags)) if ui & UI_EXTRA else 0
        return value, (ui & 0xE0) << 4

    def has_user_value(self, p: int) -> bool:
        blk = self._block_of(p)
        return blk is not None and bool(self._ui_at(blk[0]) & UI_EXTRA)

    def set_user_value(self, p: int, value: int) -> bool:
        blk = self._block_of(p)
        if blk is None:
            return False
        b, bsize, bflags, _ = blk
        if not self._ui_at(b) & UI_EXTRA:
            return False
        self._wp(self._value_slot(b, bsize, bflags), value)
        return True

    def set_user_flags(self, p: int, reset: int, set_: int) -> bool:
        if (reset | set_) & ~HEAP_SETTABLE_USER_FLAGS:
            return False
        blk = self._block_of(p)
        if blk is None:
            return False
        b = blk[0]
        ui = self._ui_at(b)
        ui = (ui & ~(reset >> 4)) | (set_ >> 4)
        self.aspace.write(b + 6, bytes([ui & 0xFF]))
        return True

    def _alloc(self, size: int, flags: int = 0) -> int:
        flags |= self.force_flags
        self._check_lock(flags)
        self._bump_version()
        if size >= LARGE_BLOCK:
            return self._alloc_large(size, flags)
        need = self._need(size)
        b = self._find_free(need)
        if b:
            bsize = self._hdr(b)[0]
            self._remove(b, bsize)
            if bsize - need >= self.min:
                self._set_hdr(b, need, BUSY | PREV_BUSY, need - self.header - size)
                self._release(b + need, bsize - need)
            else:
                self._set_hdr(b, bsize, BUSY | PREV_BUSY, bsize - self.header - size)
                self._set_flag(b + bsize, PREV_BUSY, True)
        else:
            b = self._from_top(need)
            if not b:
                return 0
            self._set_hdr(b, need, BUSY | PREV_BUSY, need - self.header - size)
        p = b + self.header
        if flags & HEAP_ZERO_MEMORY:
            self.aspace.write(p, bytes(size))
        return p

    def _from_top(self, need: int) -> int:
        top = self._get(F_TOP)
        committed = self._get(F_COMMITTED)
        end = self._get(F_SEG_END)
        if top + need + self.header > committed:
            if top + need + self.header <= end:
                self._commit(min(end, (top + need + self.header + COMMIT_CHUNK - 1) & ~(COMMIT_CHUNK - 1)))
            elif not self._new_segment(need):
                return 0
            top = self._get(F_TOP)
        self._set(F_TOP, top + need)
        return top

    def _commit(self, new_end: int) -> None:
        committed = self._get(F_COMMITTED)
        if new_end > committed:
            self.aspace.allocate(committed, new_end - committed, MEM_COMMIT, PAGE_READWRITE)
            self._set(F_COMMITTED, new_end)
            n = self._get(F_NSEGS)
            base, end, _ = self._seg(n - 1)
            self._seg_write(n - 1, base, end, new_end)

    def _new_segment(self, need: int) -> bool:
        n = self._get(F_NSEGS)
        if n >= MAX_SEGMENTS:
            return False
        # close the current segment: what is left of its committed part becomes a free block and a sentinel
        top, committed = self._get(F_TOP), self._get(F_COMMITTED)
        rest = committed - top
        if rest >= self.min + self.header:
            self._set_hdr(committed - self.header, self.header, BUSY, 0, KIND_SENTINEL)
            self._set(F_TOP, committed)        # so that _mark_free sees a real next block
            self._mark_free(top, rest - self.header)
        else:
            self._set_hdr(top, rest, BUSY | PREV_BUSY, 0, KIND_SENTINEL)
        size = max(SEGMENT_RESERVE << min(n, 6), (need + SEG_FIRST + 2 * self.header + 0xFFFF) & ~0xFFFF)
        try:
            base, size = self.aspace.allocate(None, size, MEM_RESERVE, PAGE_READWRITE, tag=(self.tag,))
        except NtStatusError:
            return False
        first_commit = min(size, (SEG_FIRST + need + self.header + COMMIT_CHUNK - 1) & ~(COMMIT_CHUNK - 1))
        self.aspace.allocate(base, first_commit, MEM_COMMIT, PAGE_READWRITE)
        self._w32(base + self._lay["SIG"], SEGMENT_SIGNATURE)
        self._seg_write(n, base, base + size, base + first_commit)
        self._set(F_NSEGS, n + 1)
        self._set(F_TOP, base + SEG_FIRST)
        self._set(F_COMMITTED, base + first_commit)
        self._set(F_SEG_END, base + size)
        return True

    def _alloc_large(self, size: int, flags: int) -> int:
        W = self.W
        total = 4 * W + self.header + size
        try:
            r, rs = self.aspace.allocate(None, (total + 0xFFF) & ~0xFFF, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE,
                                         tag=(self.tag,))
        except NtStatusError:
            return 0
        head = self._get(F_LARGE)
        self._wp(r, head)
        self._wp(r + W, 0)
        self._wp(r + 2 * W, size)
        self._wp(r + 3 * W, rs)
        if head:
            self._wp(head + W, r)
        self._set(F_LARGE, r)
        b = r + 4 * W
        self._set_hdr(b, 0, LARGE | BUSY)
        return b + self.header          # fresh memory: already zero

    def free_block(self, p: int, flags: int = 0) -> bool:
        blk = self._block_of(p)
        if blk is None:
            return False
        self._check_lock(flags)
        self._bump_version()
        b, size, bflags, _ = blk
        if bflags & LARGE:
            r = self._large_of(p)
            nxt, prv = self._rp(r), self._rp(r + self.W)
            if prv:
                self._wp(prv, nxt)
            else:
                self._set(F_LARGE, nxt)
            if nxt:
                self._wp(nxt + self.W, prv)
            self.aspace.free(r, 0, MEM_RELEASE)
            return True
        if not bflags & PREV_BUSY:
            psize = self._r32(b - 4)
            b -= psize
            self._remove(b, psize)
            size += psize
        self._release(b, size)
        return True

    def size_of(self, p: int) -> int | None:
        blk = self._block_of(p)
        if blk is None:
            return None
        b, size, flags, unused = blk
        if flags & LARGE:
            return self._rp(b - 2 * self.W)
        return size - self.header - unused

    def realloc(self, p: int, size: int, flags: int = 0) -> int:
        """The block keeps its user information (value and flags) wherever it ends up."""
        blk = self._block_of(p)
        if blk is None:
            return 0
        ui = self._ui_at(blk[0])
        if not ui:
            return self._realloc(p, size, flags)
        value = self.user_info(p)[0]
        extra = self.W if ui & UI_EXTRA else 0
        q = self._realloc(p, size + extra, flags)
        if q:
            self._attach_user_info(q, size, ui, value)
        return q

    def _realloc(self, p: int, size: int, flags: int = 0) -> int:
        blk = self._block_of(p)
        if blk is None:
            return 0
        flags |= self.force_flags
        self._check_lock(flags)
        b, bsize, bflags, unused = blk
        old = self.size_of(p)
        if not bflags & LARGE and size < LARGE_BLOCK:
            self._bump_version()
            need = self._need(size)
            if need <= bsize:                                 # shrink in place
                if bsize - need >= self.min:
                    self._set_hdr(b, need, bflags)
                    self._release_after(b + need, bsize - need)
                    bsize = need
                self._set_hdr(b, bsize, bflags, bsize - self.header - size)
                self._zero_growth(p, old, size, flags)
                return p
            n = b + bsize
            top = self._get(F_TOP)
            if n == top and top - bsize + need + self.header <= self._get(F_COMMITTED):
                self._set(F_TOP, b + need)                    # grow into top
                self._set_hdr(b, need, bflags, need - self.header - size)
                self._zero_growth(p, old, size, flags)
                return p
            if n != top:
                nsize, nflags, _ = self._hdr(n)
                if not nflags & BUSY and bsize + nsize >= need:  # grow into the next free block
                    self._remove(n, nsize)
                    total = bsize + nsize
                    if total - need >= self.min:
                        self._set_hdr(b, need, bflags, need - self.header - size)
                        self._release_after(b + need, total - need)
                    else:
                        self._set_hdr(b, total, bflags, total - self.header - size)
                        self._set_flag(b + total, PREV_BUSY, True)
                    self._zero_growth(p, old, size, flags)
                    return p
        elif bflags & LARGE and size <= old:
            self._wp(b - 2 * self.W, size)
            return p
        if flags & HEAP_REALLOC_IN_PLACE_ONLY:
            return 0
        q = self._alloc(size, flags & ~(HEAP_ZERO_MEMORY | HEAP_SETTABLE_USER_VALUE | HEAP_SETTABLE_USER_FLAGS))
        if not q:
            return 0
        self.aspace.write(q, self.aspace.read(p, min(old, size)))
        self._zero_growth(q, old, size, flags)
        self.free_block(p, flags)
        return q

    def _release_after(self, f: int, size: int) -> None:
        """f..f+size, cut from the end of a busy block, is free."""
        self._release(f, size)

    def _zero_growth(self, p: int, old: int, size: int, flags: int) -> None:
        if flags & HEAP_ZERO_MEMORY and size > old:
            self.aspace.write(p + old, bytes(size - old))

    # ---- reading the structures (walks, validation, debug information) ----------------------------------------
    def blocks_in_order(self):
        """(segment index, block address, size, flags, unused, kind) of every block of every segment, in address
        order (sentinels included), bounded by the segments' sizes."""
        n = self._get(F_NSEGS)
        top = self._get(F_TOP)
        for i in range(n):
            base, end, committed = self._seg(i)
            b = base + (0x1000 if i == 0 else SEG_FIRST)
            limit = top if i == n - 1 else committed
            while b < limit:
                size, flags, unused = self._hdr(b)
                kind = unused >> 8
                yield i, b, size, flags, unused & 0xFF, kind
                if size < self.header or kind == KIND_SENTINEL:
                    break
                b += size

    def large_blocks(self) -> list[tuple[int, int]]:
        """(user address, size asked for) of each large block."""
        out = []
        r = self._get(F_LARGE)
        for _ in range(1 << 20):
            if not r:
                break
            out.append((r + 4 * self.W + self.header, self._rp(r + 2 * self.W)))
            r = self._rp(r)
        return out

    def busy_blocks(self) -> list[tuple[int, int]]:
        """(user address, size asked for) of every allocated block, large ones included."""
        out = [(b + self.header, size - self.header - unused)
               for _i, b, size, flags, unused, kind in self.blocks_in_order() if flags & BUSY and kind == 0]
        return out + self.large_blocks()

    def validate(self) -> bool:
        """The structures are consistent: every block inside its segment, sizes aligned, PREV_BUSY and the
        boundary tags agree, no two free blocks adjacent, every free block in its bin."""
        free_seen = set()
        prev_free = False
        cur_seg = -1
        for i, b, size, flags, unused, kind in self.blocks_in_order():
            if i != cur_seg:
                cur_seg, prev_free = i, False
            if size % self.gran or size < self.header:
                return False
            if bool(flags & PREV_BUSY) == prev_free and kind == 0:
                return False
            if not flags & BUSY:
                if prev_free or self._r32(b + size - 4) != size:
                    return False
                free_seen.add(b)
            prev_free = not flags & BUSY
        in_bins = set()
        for i in range(NB):
            b = self._rp(self._bin_head_at(i))
            for _ in range(1 << 20):
                if not b:
                    break
                in_bins.add(b)
                b = self._rp(b + self.header)
        return in_bins == free_seen

    def walk(self, ptr_size: int) -> list[dict]:
        return self.walk_indexed(ptr_size)[0]

    def walk_indexed(self, ptr_size: int) -> tuple[list[dict], dict[int, list[int]]]:
        """HeapWalk's view, (the walk, lpData -> the indices of the entries with it); built once per layout."""
        key = (self.version, ptr_size, self._get(F_TOP))
        cached = self._walk
        if cached is not None and cached[0] == key:
            return cached[1], cached[2]
        out = self._build_walk(ptr_size)
        index: dict[int, list[int]] = {}
        for i, e in enumerate(out):
            index.setdefault(e["data"], []).append(i)
        self._walk = (key, out, index)
        return out, index

    def _build_walk(self, ptr_size: int) -> list[dict]:
        """Per segment a region entry, its blocks in address order (busy, free), the free space left in the
        current segment's committed part as one free block, then its uncommitted range (less the last page).
        Large blocks (their own virtual allocations) are not listed."""
        out = []
        n = self._get(F_NSEGS)
        by_seg: dict[int, list] = {}
        for i, b, size, flags, unused, kind in self.blocks_in_order():
            if kind == 0:
                by_seg.setdefault(i, []).append((b, size, flags, unused))
        top = self._get(F_TOP)
        for idx in range(n):
            base, end, committed = self._seg(idx)
            first = base + (0x1000 if idx == 0 else SEG_FIRST)
            last = end - 0x1000
            out.append(dict(kind="region", data=base, size=first - base, overhead=0, index=idx,
                            committed=committed - base, uncommitted=end - committed, first=first, last=last))
            for b, size, flags, unused in by_seg.get(idx, ()):
                busy = bool(flags & BUSY)
                out.append(dict(kind="busy" if busy else "free", data=b + self.header,
                                size=size - self.header - unused if busy else size - self.header,
                                overhead=self.header, index=idx))
            if idx == n - 1:
                ov = 4 * ptr_size
                if committed - top > 2 * ov:
                    out.append(dict(kind="free", data=top + ov, size=committed - top - 2 * ov, overhead=ov,
                                    index=idx))
            if last > committed:
                out.append(dict(kind="uncommitted", data=committed, size=last - committed, overhead=0, index=idx))
        return out

    def destroy(self) -> None:
        for r in [p - 4 * self.W - self.header for p, _ in self.large_blocks()]:
            self.aspace.free(r, 0, MEM_RELEASE)
        segs = self.segments
        for base, _ in reversed(segs):
            self.aspace.free(base, 0, MEM_RELEASE)


class HeapManager:
    """The heaps of one process (PEB.ProcessHeaps); handles are the heap base addresses."""

    def __init__(self, aspace, arch: str, machine=None):
        self.aspace = aspace
        self.arch = arch
        self.machine = machine          # the calling thread (the heap lock's owner) is its dispatcher's current
        self.heaps: dict[int, Heap] = {}
        self.process_heap: Heap | None = None

    def create(self, flags: int = 0, reserve: int = 0, commit: int = 0) -> Heap:
        h = Heap(self.aspace, self.arch, reserve=reserve, commit=commit, flags=flags, current=self.current_tid,
                 machine=self.machine)
        self.heaps[h.handle] = h
        return h

    def current_tid(self) -> int:
        t = self.machine.dispatcher.current if self.machine is not None else None
        return t.tid if t is not None else 0

    def get(self, handle: int) -> Heap | None:
        return self.heaps.get(handle)

    def destroy(self, handle: int) -> bool:
        h = self.heaps.get(handle)
        if h is None or h is self.process_heap:
            return False
        h._check_lock()
        del self.heaps[handle]
        h.destroy()
        return True

    def alloc_or_raise(self, heap: Heap, size: int, flags: int = 0) -> int:
        addr = heap.alloc(size, flags)
        if not addr:
            raise NtStatusError(STATUS_NO_MEMORY, "heap allocation failed")
        return addr
