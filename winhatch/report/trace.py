r"""The `--trace` timeline: a readable, coloured line per event on a stream (stderr for `winhatch run`).

Each line: host milliseconds since the machine booted, emulated time, pid/tid, then the event indented by
its nesting depth. Loader events get sentences of their own — which file satisfied an import (API sets
with their host), hint hit or miss and how many binary-search steps the name lookup took, forwarders,
relocations, TLS callbacks and DllMain calls in order. API calls show their arguments, their caller and,
when the API layer records it on the event (``ret``), the return value.

How API arguments read: flags and enumerations by name (`flProtect=PAGE_EXECUTE_READWRITE`,
`dwDesiredAccess=GENERIC_READ|GENERIC_WRITE`: winhatch.win32.flagnames, one table per flag family, found from
the parameter's name in the prototype); strings as the program would print them, in double quotes, with only
control characters escaped (`"C:\Users\x\a.txt"` shows one backslash per separator, `"hi\n"` its newline);
and a run of per-character output calls — putchar, fputc, putwchar …, WriteConsole of one character — made
one after another by the same caller folds into one line: `putchar × 12 → "hello world\n"`.
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


_CONTROL = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\0": "\\0"}


def quote(s: str, limit: int = 200) -> str:
    """A string as printed: in double quotes, control characters escaped (\\n, \\t, \\xNN), nothing else."""
    cut = len(s) > limit
    s = s[:limit]
    out = "".join(_CONTROL.get(ch) or (f"\\x{ord(ch):02x}" if ord(ch) < 0x20 or ord(ch) == 0x7F else ch)
                  for ch in s)
    return f'"{out}"' + ("…" if cut else "")


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
        if not v or any(ch in v for ch in " \"") or any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in v):
            return quote(v)
        return v[:200]
    return str(v)


def fmt_arg(api: str, name: str, v) -> str:
    """One API argument: a flag family's names, a string in quotes, else the value."""
    if isinstance(v, str):
        return quote(v)
    if isinstance(v, int) and not isinstance(v, bool):
        from winhatch.win32.flagnames import annotate
        named = annotate(api.rsplit("!", 1)[-1], name, v)
        if named is not None:
            return named
    return fmt_value(v)


#: per-character output functions: the parameter holding the character
PER_CHAR = {"putchar": "ch", "_putchar_nolock": "ch", "putc": "ch", "fputc": "ch", "_fputc_nolock": "ch",
            "_putc_nolock": "ch", "putwchar": "ch", "fputwc": "ch", "putwc": "ch", "_fputwc_nolock": "ch",
            "_putwc_nolock": "ch", "_putch": "ch", "_putwch": "ch", "_fputchar": "ch", "_fputwchar": "ch"}


def char_of(ev) -> str | None:
    """The one character a per-character output call wrote (None: not such a call)."""
    d = ev.data
    if ev.category != "api" or "api" not in d:
        return None
    api = str(d["api"]).rsplit("!", 1)[-1]       # "msvcrt.dll!putchar"
    param = PER_CHAR.get(api)
    if param is not None:
        v = (d.get("args") or {}).get(param)
        if isinstance(v, int):
            try:
                return chr(v & (0xFF if not api.endswith(("wchar", "wc", "wch", "wc_nolock")) else 0xFFFF))
            except ValueError:
                return None
        return None
    if api in ("WriteConsoleA", "WriteConsoleW"):
        t = d.get("text")
        if isinstance(t, str) and len(t) == 1:
            return t
    return None


def describe_fold(events: list) -> str:
    """A run of per-character output calls as one line: `putchar × 12 → "hello world\n"`."""
    first = events[0]
    d = first.data
    colour = COLOURS["api"]
    text = "".join(char_of(e) or "" for e in events)
    caller = f"  [dim]from {_esc(str(d.get('caller')))}[/]" if d.get("caller") else ""
    return f"[{colour}]{_esc(str(d['api']))}[/] × {len(events)} → {_esc(quote(text, 2000))}{caller}"


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
        api = str(d["api"])
        args = ", ".join(f"{k}={_esc(fmt_arg(api, k, v))}" for k, v in (d.get("args") or {}).items())
        if isinstance(d.get("text"), str):
            args += f"  [dim]text[/] {_esc(quote(d['text']))}"
        ret = f" → [bold]{_esc(fmt_value(d['ret']))}[/]" if "ret" in d else ""
        caller = f"  [dim]from {_esc(str(d.get('caller')))}[/]" if d.get("caller") else ""
        return f"[{colour}]{_esc(api)}[/]({args}){ret}{caller}"
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

    #: the longest run of per-character calls folded into one line (a longer one continues on the next)
    MAX_FOLD = 4096

    def __init__(self, stream, categories: set[str] | None = None, *, colour: bool | None = None):
        from rich.console import Console

        # colour=None: colours on a terminal unless NO_COLOR is set (rich reads it)
        self.console = Console(file=stream, highlight=False, soft_wrap=True, force_terminal=colour,
                               no_color=True if colour is False else None)
        self._header = False
        self.categories = categories
        self._held = None
        self._fold: list = []      # a run of per-character output calls being folded (the held one last)
        self.lines = 0

    def wants(self, ev) -> bool:
        return self.categories is None or ev.category in self.categories

    @staticmethod
    def _same_run(a, b) -> bool:
        return (a.pid, a.tid, a.data.get("api"), a.data.get("caller")) == \
            (b.pid, b.tid, b.data.get("api"), b.data.get("caller"))

    def __call__(self, ev) -> None:
        wanted = self.wants(ev)
        if self._fold:
            # a run of per-character calls goes on while the same call comes from the same place; events
            # the trace does not show (the system services the call made) do not end it
            if not wanted:
                return
            if char_of(ev) is not None and self._same_run(self._fold[-1], ev) and len(self._fold) < self.MAX_FOLD:
                self._fold.append(ev)
                return
            self._print_fold()
        if self._held is not None:
            if not wanted:
                return          # what the held call does inside is not shown: it is printed (with its return
                                # value) when the next shown event comes, or at the end
            held, self._held = self._held, None
            if wanted and char_of(held) is not None and char_of(ev) is not None and self._same_run(held, ev):
                self._fold = [held, ev]
                return
            self._print(held)
        if not wanted:
            return
        if ev.category in ("api", "syscall"):
            self._held = ev
            return
        self._print(ev)

    def _print_fold(self) -> None:
        run, self._fold = self._fold, []
        if len(run) == 1:
            self._print(run[0])
        else:
            self._print(run[0], text=describe_fold(run))

    def flush(self) -> None:
        if self._fold:
            self._print_fold()
        if self._held is not None:
            self._print(self._held)
            self._held = None

    close = flush

    HEADER = f"{'host ms':>11} {'emulated':>13} {'pid/tid':<10} event"

    def _print(self, ev, text: str | None = None) -> None:
        if not self._header:           # the columns, named once
            self._header = True
            self.console.print(f"[bold]{self.HEADER}[/]", markup=True, highlight=False)
        ind = "  " * ev.depth
        tid = f"/{ev.tid}" if ev.tid else ""
        self.console.print(f"[dim]{ev.host_time * 1000:9.3f}ms {ev.time / 10:11.1f}µs {ev.pid}{tid:<6}[/] "
                           f"{ind}{describe(ev) if text is None else text}", markup=True, highlight=False)
        self.lines += 1
