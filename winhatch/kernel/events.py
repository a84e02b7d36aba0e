"""The event log: one structured stream of everything the emulated machine does.

Every component emits here (process and thread create/exit, each creation stage and sub-step, image
load/unload, API calls, memory and handle operations, file and registry access, exceptions). Each event
carries the process and thread ids it happened in, the emulated time (100 ns units since boot) and the host
time. Subscribers (the trace printers, the report builder, a `--events FILE.jsonl` writer, the Python API)
receive every event as it is emitted; the log also keeps them, up to a bound, for reports.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

# Event categories, used for filtering (`--trace stages|loader|api|all`).
STAGE = "stage"
PROCESS = "process"
THREAD = "thread"
IMAGE = "image"
LOADER = "loader"
API = "api"
MEMORY = "memory"
HANDLE = "handle"
FILE = "file"
REGISTRY = "registry"
EXCEPTION = "exception"
CONSOLE = "console"


@dataclass(slots=True)
class Event:
    seq: int
    category: str
    name: str
    pid: int
    tid: int
    time: int  # emulated, 100 ns since boot
    host_time: float  # seconds since the log started
    data: dict[str, Any] = field(default_factory=dict)
    depth: int = 0  # nesting of sub-steps (a stage's sub-step has depth 1)

    def to_dict(self) -> dict[str, Any]:
        return {"seq": self.seq, "category": self.category, "name": self.name, "pid": self.pid, "tid": self.tid,
                "time": self.time, "host_time": round(self.host_time, 6), "depth": self.depth, **self.data}


class EventLog:
    """Append-only, bounded log with subscribers."""

    def __init__(self, clock: Callable[[], int] | None = None, keep: int = 1_000_000):
        self._clock = clock or (lambda: 0)
        self._t0 = time.perf_counter()
        self._subscribers: list[tuple[Callable[[Event], None], frozenset[str] | None]] = []
        self.events: list[Event] = []
        self.keep = keep
        self.dropped = 0
        self._seq = 0
        self._depth = 0
        # categories nobody listens to and the log does not keep are skipped cheaply (API calls in a hot loop)
        self.keep_categories: frozenset[str] | None = None

    def set_clock(self, clock: Callable[[], int]) -> None:
        self._clock = clock

    def subscribe(self, fn: Callable[[Event], None], categories: Iterable[str] | None = None) -> None:
        self._subscribers.append((fn, frozenset(categories) if categories is not None else None))

    def wants(self, category: str) -> bool:
        """True when someone would see an event of this category (lets hot paths skip building one)."""
        if self.keep_categories is None or category in self.keep_categories:
            return True
        return any(cats is None or category in cats for _, cats in self._subscribers)

    def emit(self, category: str, name: str, pid: int = 0, tid: int = 0, /, **data: Any) -> Event:
        self._seq += 1
        ev = Event(self._seq, category, name, pid, tid, self._clock(), time.perf_counter() - self._t0, data,
                   self._depth)
        if self.keep_categories is None or category in self.keep_categories:
            if len(self.events) < self.keep:
                self.events.append(ev)
            else:
                self.dropped += 1
        for fn, cats in self._subscribers:
            if cats is None or category in cats:
                fn(ev)
        return ev

    class _Nest:
        def __init__(self, log: "EventLog"):
            self.log = log

        def __enter__(self):
            self.log._depth += 1

        def __exit__(self, *exc):
            self.log._depth -= 1

    def nested(self) -> "EventLog._Nest":
        """`with log.nested(): ...` — events emitted inside are sub-steps of the last one."""
        return EventLog._Nest(self)

    def filter(self, category: str | None = None, name: str | None = None, pid: int | None = None) -> list[Event]:
        return [e for e in self.events
                if (category is None or e.category == category) and (name is None or e.name == name)
                and (pid is None or e.pid == pid)]

    def write_jsonl(self, path) -> None:
        with open(path, "w", encoding="utf-8") as f:
            for e in self.events:
                f.write(json.dumps(e.to_dict(), default=_json_default) + "\n")


def _json_default(o: Any):
    if isinstance(o, (bytes, bytearray)):
        return o.hex()
    if isinstance(o, (set, frozenset, tuple)):
        return list(o)
    return str(o)


class JsonlWriter:
    """A subscriber that streams events to a .jsonl file as they happen."""

    def __init__(self, path):
        self.f = open(path, "w", encoding="utf-8")

    def __call__(self, ev: Event) -> None:
        self.f.write(json.dumps(ev.to_dict(), default=_json_default) + "\n")

    def close(self) -> None:
        self.f.close()
