"""The event log: one structured stream of everything the emulated machine does.

Every component emits here (process and thread create/exit, each creation stage and sub-step, image
load/unload, API calls, memory and handle operations, file and registry access, exceptions). Each event
carries the process and thread ids it happened in, the emulated time (100 ns units since boot) and the host
time. Subscribers (the trace printers, the report builder, a `--events FILE.jsonl` writer, the Python API)
receive every event as it is emitted; the log also keeps them, up to a bound, for reports.
"""
from __future__ import annotations

import time
from typing import Any, Callable, Iterable

from winhatch._record import NEW, Record

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
BEHAVIOUR = "behaviour"  # what an analyst wants summarised (winhatch.kernel.behaviour): cross-process acts, code
SYSCALL = "syscall"   # system services (winhatch.kernel.ke.services): number, name, arguments, NTSTATUS


class Event(Record):
    """One event of the log."""

    __slots__ = _fields = ("seq", "category", "name", "pid", "tid", "time", "host_time", "data", "depth")
    seq: int
    category: str
    name: str
    pid: int
    tid: int
    time: int  # emulated, 100 ns since boot
    host_time: float  # seconds since the log started
    data: dict[str, Any]
    depth: int  # nesting of sub-steps (a stage's sub-step has depth 1)

    def __init__(self, seq: int, category: str, name: str, pid: int, tid: int, time: int, host_time: float,
                 data: dict[str, Any] = NEW, depth: int = 0) -> None:
        self.seq = seq
        self.category = category
        self.name = name
        self.pid = pid
        self.tid = tid
        self.time = time
        self.host_time = host_time
        self.data = {} if data is NEW else data
        self.depth = depth

    HEADER = ("seq", "category", "name", "pid", "tid", "time", "host_time", "depth")

    def to_dict(self) -> dict[str, Any]:
        """The header fields, then the data; a data key that would shadow a header field (an image event's
        ``name``) is written as ``data_<key>`` so neither is lost."""
        d = {"seq": self.seq, "category": self.category, "name": self.name, "pid": self.pid, "tid": self.tid,
             "time": self.time, "host_time": round(self.host_time, 6), "depth": self.depth}
        for k, v in self.data.items():
            d[f"data_{k}" if k in d else k] = v
        return d

    def matches(self, *, category=None, name=None, pid=None, tid=None, since=None, until=None,
                where: Callable[["Event"], bool] | None = None) -> bool:
        """True when the event passes every given criterion. ``category``/``name``: a string or a collection
        of strings; ``since``/``until``: emulated-time bounds (100 ns units, inclusive)."""
        if category is not None and not _one_of(self.category, category):
            return False
        if name is not None and not _one_of(self.name, name):
            return False
        if pid is not None and self.pid != pid:
            return False
        if tid is not None and self.tid != tid:
            return False
        if since is not None and self.time < since:
            return False
        if until is not None and self.time > until:
            return False
        return where is None or bool(where(self))


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
        # categories nobody listens to and the log does not keep are skipped cheaply: API calls (a hot loop
        # makes millions) are kept only when asked for (`record(API)`: a trace, a report, an events file)
        self.skip: set[str] = {API, SYSCALL}
        #: wants(API), kept up to date by record() and subscribe(): the API trap path reads only this;
        #: on_api_wanted: callables told the new value when it changes
        self.api_wanted = False
        self.on_api_wanted: list[Callable[[bool], None]] = []

    def record(self, *categories: str) -> None:
        """Keep these categories in the log too (all of them: `record()` with no argument)."""
        if not categories:
            self.skip.clear()
        else:
            self.skip.difference_update(categories)
        self._api_wanted_changed()

    def set_clock(self, clock: Callable[[], int]) -> None:
        self._clock = clock

    def subscribe(self, fn: Callable[[Event], None], categories: Iterable[str] | None = None) -> None:
        self._subscribers.append((fn, frozenset(categories) if categories is not None else None))
        self._api_wanted_changed()

    def _api_wanted_changed(self) -> None:
        wanted = self.wants(API)
        if wanted != self.api_wanted:
            self.api_wanted = wanted
            for fn in list(self.on_api_wanted):
                fn(wanted)

    def wants(self, category: str) -> bool:
        """True when someone would see an event of this category (lets hot paths skip building one)."""
        if category not in self.skip:
            return True
        return any(cats is None or category in cats for _, cats in self._subscribers)

    def emit(self, category: str, name: str, pid: int = 0, tid: int = 0, /, **data: Any) -> Event:
        self._seq += 1
        ev = Event(self._seq, category, name, pid, tid, self._clock(), time.perf_counter() - self._t0, data,
                   self._depth)
        if category not in self.skip:
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

    def filter(self, category: str | Iterable[str] | None = None, name: str | Iterable[str] | None = None,
               pid: int | None = None, *, tid: int | None = None, since: int | None = None,
               until: int | None = None, where: Callable[[Event], bool] | None = None) -> list[Event]:
        """The kept events matching every given criterion (see `Event.matches`)."""
        return [e for e in self.events
                if e.matches(category=category, name=name, pid=pid, tid=tid, since=since, until=until, where=where)]

    def counts(self, by: str = "category") -> dict[str, int]:
        """How many kept events per ``category``, ``name`` or ``pid``."""
        out: dict = {}
        for e in self.events:
            k = getattr(e, by)
            out[k] = out.get(k, 0) + 1
        return out

    def write_jsonl(self, path) -> None:
        import json   # (not at import: json is off a plain run's start path)
        with open(path, "w", encoding="utf-8") as f:
            for e in self.events:
                f.write(json.dumps(e.to_dict(), default=_json_default) + "\n")


def _one_of(value: str, wanted) -> bool:
    return value == wanted if isinstance(wanted, str) else value in wanted


def _json_default(o: Any):
    if isinstance(o, (bytes, bytearray)):
        return o.hex()
    if isinstance(o, (set, frozenset, tuple)):
        return list(o)
    return str(o)


class JsonlWriter:
    """A subscriber that streams events to a .jsonl file as they happen."""

    def __init__(self, path):
        import json
        self._dumps = json.dumps
        self.f = open(path, "w", encoding="utf-8")

    def __call__(self, ev: Event) -> None:
        self.f.write(self._dumps(ev.to_dict(), default=_json_default) + "\n")

    def close(self) -> None:
        self.f.close()
