"""Shadow of the CPU backend's mappings, so the address space can drive it with few calls and keep
the number of backend regions small (neighbours with equal permissions are merged)."""
from __future__ import annotations

from bisect import bisect_left, bisect_right
from typing import Any

#: backend-owned neighbours are merged (by copying) only while the result stays this small
MERGE_LIMIT = 2 << 20
_ZERO = bytes(0x10000)


class _Region:
    __slots__ = ("start", "end", "perms", "section", "hoff", "hostobj")

    def __init__(self, start: int, end: int, perms: int, section: Any = None, hoff: int = 0, hostobj: Any = None):
        self.start, self.end, self.perms = start, end, perms
        self.section, self.hoff, self.hostobj = section, hoff, hostobj


class UcShadow:
    """Tracks every region mapped in the backend: ``section`` is None for backend-owned memory or
    the Section whose host buffer (at ``hoff``) backs the region."""

    def __init__(self, backend):
        self.backend = backend
        self.starts: list[int] = []
        self.regs: dict[int, _Region] = {}

    def __len__(self) -> int:
        return len(self.starts)

    def regions(self) -> list[tuple[int, int, int, bool]]:
        return [(r.start, r.end, r.perms, r.section is not None) for r in (self.regs[s] for s in self.starts)]

    # --- internals -----------------------------------------------------------------------------
    def _overlapping(self, a: int, b: int) -> list[_Region]:
        k = max(bisect_right(self.starts, a) - 1, 0)
        out = []
        while k < len(self.starts):
            r = self.regs[self.starts[k]]
            if r.start >= b:
                break
            if r.end > a:
                out.append(r)
            k += 1
        return out

    def _add(self, r: _Region) -> None:
        self.starts.insert(bisect_left(self.starts, r.start), r.start)
        self.regs[r.start] = r

    def _drop(self, r: _Region) -> None:
        del self.starts[bisect_left(self.starts, r.start)]
        del self.regs[r.start]

    def _piece(self, r: _Region, a: int, b: int, perms: int | None = None) -> _Region:
        return _Region(a, b, r.perms if perms is None else perms, r.section, r.hoff + (a - r.start), None)

    def _backend_map(self, r: _Region) -> None:
        host = None
        if r.section is not None:
            host = r.section.host_view(r.hoff, r.end - r.start)
        r.hostobj = host
        self.backend.mem_map(r.start, r.end - r.start, r.perms, host)

    def _replace(self, r: _Region, pieces: list[_Region]) -> None:
        self._drop(r)
        for p in pieces:
            if p.end > p.start:
                if p.section is not None and p.hostobj is None:
                    p.hostobj = r.hostobj  # keep the original ctypes view alive
                self._add(p)

    # --- operations ----------------------------------------------------------------------------
    def map(self, a: int, b: int, perms: int, section: Any = None, hoff: int = 0) -> None:
        if a >= b:
            return
        assert not self._overlapping(a, b), "UcShadow.map over a mapped range"
        r = _Region(a, b, perms, section, hoff)
        self._backend_map(r)
        self._add(r)

    def unmap(self, a: int, b: int) -> None:
        for r in self._overlapping(a, b):
            lo, hi = max(r.start, a), min(r.end, b)
            self.backend.mem_unmap(lo, hi - lo)
            self._replace(r, [self._piece(r, r.start, lo), self._piece(r, hi, r.end)])

    def protect(self, a: int, b: int, perms: int) -> None:
        for r in self._overlapping(a, b):
            if r.perms == perms:
                continue
            lo, hi = max(r.start, a), min(r.end, b)
            self.backend.mem_protect(lo, hi - lo, perms)
            self._replace(r, [self._piece(r, r.start, lo), self._piece(r, lo, hi, perms), self._piece(r, hi, r.end)])

    def is_mapped(self, a: int, b: int) -> bool:
        cur = a
        for r in self._overlapping(a, b):
            if r.start > cur:
                return False
            cur = r.end
        return cur >= b

    def coalesce(self, a: int, b: int, lo: int, hi: int) -> None:
        """Merge neighbouring regions touching ``[a, b)`` that lie within ``[lo, hi)``."""
        regs = self._overlapping(max(a - 1, lo), min(b + 1, hi))
        if len(regs) < 2:
            return
        run = [regs[0]]
        for r in regs[1:]:
            prev = run[-1]
            if r.start == prev.end and r.perms == prev.perms and r.start >= lo and r.end <= hi and \
                    ((r.section is None and prev.section is None and r.end - run[0].start <= MERGE_LIMIT) or
                     (r.section is not None and r.section is prev.section and prev.hoff + (prev.end - prev.start) == r.hoff)):
                run.append(r)
            else:
                self._merge(run)
                run = [r]
        self._merge(run)

    def _merge(self, run: list[_Region]) -> None:
        if len(run) < 2:
            return
        first, last = run[0], run[-1]
        data = None
        if first.section is None:
            data = self.backend.mem_read(first.start, last.end - first.start)
        for r in run:
            self.backend.mem_unmap(r.start, r.end - r.start)
            self._drop(r)
        m = _Region(first.start, last.end, first.perms, first.section, first.hoff)
        self._backend_map(m)
        self._add(m)
        if data is not None:
            write_nonzero(self.backend, first.start, data)


def write_nonzero(backend, addr: int, data: bytes) -> None:
    """Write ``data`` to freshly mapped (zero) backend memory, skipping all-zero 64 KiB chunks so
    untouched pages stay unbacked on the host."""
    n = len(data)
    step = len(_ZERO)
    mv = memoryview(data)
    for off in range(0, n, step):
        chunk = mv[off: off + step]
        if chunk != _ZERO[: len(chunk)]:
            backend.mem_write(addr + off, bytes(chunk))
