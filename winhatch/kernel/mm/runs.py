"""RunMap: an interval map over page indexes (runs of equal values), so a 100s-of-MB allocation costs a
handful of Python objects, not one per page."""
from __future__ import annotations

from bisect import bisect_right
from typing import Any, Callable, Iterator


class RunMap:
    """Maps every integer in ``[0, length)`` to a value, stored as maximal runs of equal values."""

    __slots__ = ("starts", "vals", "length")

    def __init__(self, length: int, value: Any):
        self.length = length
        self.starts: list[int] = [0]
        self.vals: list[Any] = [value]

    def __len__(self) -> int:  # number of runs
        return len(self.starts)

    def get(self, i: int) -> Any:
        return self.vals[bisect_right(self.starts, i) - 1]

    def _split(self, i: int) -> int:
        """Make ``i`` a run boundary; return the index of the run starting at ``i`` (== len for length)."""
        if i >= self.length:
            return len(self.starts)
        k = bisect_right(self.starts, i) - 1
        if self.starts[k] == i:
            return k
        self.starts.insert(k + 1, i)
        self.vals.insert(k + 1, self.vals[k])
        return k + 1

    def _coalesce(self, lo: int, hi: int) -> None:
        """Merge equal neighbouring runs with run indexes in ``[lo, hi]``."""
        lo = max(lo, 1)
        hi = min(hi, len(self.starts) - 1)
        k = hi
        while k >= lo:
            if self.vals[k] == self.vals[k - 1]:
                del self.starts[k]
                del self.vals[k]
            k -= 1

    def set(self, a: int, b: int, value: Any) -> None:
        if a >= b:
            return
        ka = self._split(a)
        kb = self._split(b)
        self.starts[ka:kb] = [a]
        self.vals[ka:kb] = [value]
        self._coalesce(ka, ka + 1)

    def update(self, a: int, b: int, fn: Callable[[Any], Any]) -> None:
        """Replace the value of every run piece in ``[a, b)`` by ``fn(value)``."""
        if a >= b:
            return
        ka = self._split(a)
        kb = self._split(b)
        for k in range(ka, kb):
            self.vals[k] = fn(self.vals[k])
        self._coalesce(ka, kb)

    def iter(self, a: int = 0, b: int | None = None) -> Iterator[tuple[int, int, Any]]:
        """Yield ``(start, end, value)`` for the run pieces covering ``[a, b)`` (clipped)."""
        if b is None:
            b = self.length
        if a >= b:
            return
        k = bisect_right(self.starts, a) - 1
        n = len(self.starts)
        while k < n:
            s = self.starts[k]
            if s >= b:
                break
            e = self.starts[k + 1] if k + 1 < n else self.length
            yield max(s, a), min(e, b), self.vals[k]
            k += 1

    def run_end(self, i: int) -> int:
        """End (exclusive) of the run containing ``i``."""
        k = bisect_right(self.starts, i)
        return self.starts[k] if k < len(self.starts) else self.length

    def slice(self, a: int, b: int) -> "RunMap":
        """A new RunMap for ``[a, b)`` re-based to 0."""
        r = RunMap(b - a, None)
        r.starts = []
        r.vals = []
        for s, e, v in self.iter(a, b):
            r.starts.append(s - a)
            r.vals.append(v)
        return r
