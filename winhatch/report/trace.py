"""The `--trace` timeline: a readable, coloured line per event on a stream (stderr for `winhatch run`).

Each line: host milliseconds since the machine booted, emulated time, pid/tid, then the event indented by
its nesting depth. Loader events get sentences of their own — which file satisfied an import (API sets
with their host), hint hit or miss and how many binary-search steps the name lookup took, forwarders,
relocations, TLS callbacks and DllMain calls in order. API calls show their arguments, their caller and,
when the API layer records it on the event (``ret``), the return value.
"""
from __future__ import annotations

from typing import Iterable

# --trace choices → event categories (None: every category)
TRACE_CATEGORIES: dict[str, set[str] | None] = {
    "stages": {"stage", "process", "thread"},
    "loader": {"stage", "loader", "image"},
    "api": {"api"},
    "syscalls": {"syscall"},
    "all": None,
}

COLOURS = {"stage": "bold cyan", "loader": "green", "image": "magenta", "api": "yellow", "process": "bold",
           "thread": "bold", "exception": "bold red", "file": "blue", "registry": "blue", "memory": "dim",
           "handle": "dim", "console": "dim",
           "syscall": "bold yellow"}


def categories_for(choices: Iterable[str]) -> set[str] | None:
    """The union of the categories of several --trace choices (None = everything)."""
    cats: set[str] | None = set()
    for t in choices:
        if t not in TRACE_CATEGORIES:
            raise ValueError(f"unknown trace {t!r} (one of {', '.join(sorted(TRACE_CATEGORIES))})")
        c = TRACE_CATEGORIES[t]
        cats = None if c is None or cats is None else cats | c
    return cats


def fmt_value(v) -> str:
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, int) and v > 0xFFFF:
        return f"0x{v:x}"
    if isinstance(v, int) and v < 0:
        return str(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(fmt_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k}={fmt_value(x)}" for k, x in v.items()) + "}"
    if isinstance(v, (bytes, bytearray)):
        return v[:32].hex() + ("…" if len(v) > 32 else "")
    if isinstance(v, str):
        return repr(v) if (" " in v or not v) and len(v) < 200 else v[:200]
    return str(v)


def _esc(s: str) -> str:
    return s.replace("[", "\\[")


def describe(ev) -> str:
    """The rich-markup text of one event (without the time/pid prefix)."""
    d = ev.data
    colour = COLOURS.get(ev.category, "white")
    n = ev.name
    if ev.category == "loader":
        if n == "LdrpMapDll":
            where = (f"at [bold]{d.get('base')}[/] [red]relocated[/] from its preferred base {d.get('preferred')}"
                     if d.get("relocated") else f"at its preferred base {d.get('base')}")
            imp = f" (needed by {_esc(str(d['importer']))})" if d.get("importer") else ""
            return f"[{colour}]map[/] [bold]{_esc(str(d.get('module')))}[/] from {_esc(str(d.get('path')))} {where}{imp}"
        if n == "ApiSetResolve":
            return (f"[{colour}]API set[/] {_esc(str(d.get('name')))} → [bold]{_esc(str(d.get('host')))}[/] "
                    f"(its host DLL)")
        if n == "LdrpSnapModule":
            return (f"[{colour}]snap[/] {_esc(str(d.get('module')))}'s {d.get('imports')} imports from "
                    f"[bold]{_esc(str(d.get('dll')))}[/]")
        if n == "LdrpSnapThunk":
            sym = d.get("symbol")
            hint = d.get("hint")
            if d.get("hint_hit"):
                how = f"[green]hint {hint} hit[/]"
            elif hint is None:
                how = "by ordinal" if sym is None else "no hint"
            else:
                how = f"[yellow]hint {hint} miss[/], {d.get('steps')} binary-search steps"
            if sym is None and "ordinal" in d:
                sym = f"#{d['ordinal']}"
            step_list = d.get("step_list")
            extra = ("\n" + "\n".join("      · " + _esc(str(s)) for s in step_list)) if step_list else ""
            imp = f"{_esc(str(d['importer']))} ← " if d.get("importer") else ""
            return f"[{colour}]import[/] {imp}[bold]{_esc(str(d.get('module')))}!{_esc(str(sym))}[/] {how}{extra}"
        if n == "LdrpForwarder":
            return f"[{colour}]forwarder[/] {_esc(str(d.get('frm')))} → [bold]{_esc(str(d.get('to')))}[/]"
        if n == "LdrpCallTlsInitializers":
            return (f"[bold {colour}]TLS callback[/] {_esc(str(d.get('module')))} {d.get('callback')} "
                    f"reason {d.get('reason')}")
        if n == "LdrpCallInitRoutine":
            return (f"[bold {colour}]DllMain[/] {_esc(str(d.get('module')))}({d.get('reason')}) "
                    f"at {d.get('entry')}")
    if ev.category == "api" and "api" in d:
        args = ", ".join(f"{k}={_esc(fmt_value(v))}" for k, v in (d.get("args") or {}).items())
        ret = f" → [bold]{_esc(fmt_value(d['ret']))}[/]" if "ret" in d else ""
        caller = f"  [dim]from {_esc(str(d.get('caller')))}[/]" if d.get("caller") else ""
        return f"[{colour}]{_esc(str(d['api']))}[/]({args}){ret}{caller}"
    if ev.category == "syscall" and "number" in d:
        num = d.get("number")
        svc = d.get("service") or "<invalid service>"
        a = d.get("args") or []
        args = (", ".join(f"{k}={_esc(fmt_value(v))}" for k, v in a.items()) if isinstance(a, dict)
                else ", ".join(_esc(fmt_value(v)) for v in a))
        st = d.get("status")
        if ev.name == "unimplemented":
            ret = " → [bold red]unimplemented[/]"
        elif st is None:
            ret = ""
        else:
            from winhatch.ntstatus import status_name
            ret = f" → [bold]{st:#010x}[/] {_esc(status_name(st))}"
        caller = f"  [dim]from {_esc(str(d.get('caller')))}[/]" if d.get("caller") else ""
        kind = f" [dim]{d.get('kind')}[/]" if d.get("kind") else ""
        return f"[{colour}]{_esc(svc)}[/] [dim]({num:#x})[/]{kind}({args}){ret}{caller}"
    if ev.category == "exception":
        colour = COLOURS["exception"]
    vals = " ".join(f"{k}={_esc(fmt_value(v))}" for k, v in d.items() if v is not None and v != "")
    return f"[{colour}]{_esc(n)}[/] {vals}".rstrip()


class TracePrinter:
    """An event-log subscriber printing the timeline. API calls are printed when the next event arrives
    (or on `flush()`), so a return value recorded on the event after the handler ran is shown."""

    def __init__(self, stream, categories: set[str] | None = None, *, colour: bool | None = None):
        from rich.console import Console

        # colour=None: colours on a terminal unless NO_COLOR is set (rich reads it)
        self.console = Console(file=stream, highlight=False, soft_wrap=True, force_terminal=colour,
                               no_color=True if colour is False else None)
        self._header = False
        self.categories = categories
        self._held = None
        self.lines = 0

    def wants(self, ev) -> bool:
        return self.categories is None or ev.category in self.categories

    def __call__(self, ev) -> None:
        if self._held is not None:
            self._print(self._held)
            self._held = None
        if not self.wants(ev):
            return
        if ev.category in ("api", "syscall"):
            self._held = ev
            return
        self._print(ev)

    def flush(self) -> None:
        if self._held is not None:
            self._print(self._held)
            self._held = None

    close = flush

    HEADER = f"{'host ms':>11} {'emulated':>13} {'pid/tid':<10} event"

    def _print(self, ev) -> None:
        if not self._header:           # the columns, named once
            self._header = True
            self.console.print(f"[bold]{self.HEADER}[/]", markup=True, highlight=False)
        ind = "  " * ev.depth
        tid = f"/{ev.tid}" if ev.tid else ""
        self.console.print(f"[dim]{ev.host_time * 1000:9.3f}ms {ev.time / 10:11.1f}µs {ev.pid}{tid:<6}[/] "
                           f"{ind}{describe(ev)}", markup=True, highlight=False)
        self.lines += 1
