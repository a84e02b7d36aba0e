"""What the corpus imports that winhatch has no handler for, found without running anything: the dependency
tree of each fetched program (`winhatch.deps`, as the loader resolves it: API sets, forwarders, the
program's own DLLs) and, for every function it imports from a system DLL, whether winhatch registers a handler
for the place that function resolves to. A direction for the API work, not a verdict: a program may never call
an import (and calls what it finds with GetProcAddress, as Go and Rust's standard library do, unseen here);
a handler may still stop on a case it does not implement.

    python realworld/missing.py [--only ID]... [--top N] [--markdown FILE]
"""
from __future__ import annotations

import argparse
import collections
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from realworld.corpus import load  # noqa: E402
from realworld.fetch import FetchError, fetch_entry, read_lock, select  # noqa: E402


def _machine(arch: str):
    from winhatch.kernel.machine import Machine
    from winhatch.win32 import subsystem
    m = Machine()
    subsystem.setup(m, arches=(arch,))
    return m


def _data_exports() -> set[tuple[str, str]]:
    """Exports winhatch serves as data (msvcrt!__initenv, ...): an import of one is no call."""
    global _DATA
    if _DATA is None:
        from winhatch.win32 import api
        _DATA = {(dll.lower(), name) for dll, name, _size, _init in api.data_exports()}
    return _DATA


_DATA: set[tuple[str, str]] | None = None


def unhandled_imports(exe: Path, machine) -> tuple[list[str], list[str]]:
    """(missing DLLs or exports, imported system functions without a handler), each as 'dll!name'."""
    import winhatch
    d = winhatch.deps(str(exe))
    missing = [f"missing DLL {m.get('dll')}" + (" (delay-loaded)" if m.get("delay") else "") for m in d["missing_dlls"]]
    missing += [f"missing export {m.get('dll')}!{m.get('name') or m.get('symbol') or m.get('ordinal')}"
                + (" (delay-loaded)" if m.get("delay") else "") for m in d["missing_exports"]]
    out: set[str] = set()
    stack = [d["tree"]]
    seen = 0
    while stack and seen < 100_000:
        n = stack.pop()
        seen += 1
        for c in n.get("children", []):
            stack.append(c)
            if c.get("location") != "system":
                continue
            for imp in c.get("imports", []):
                res = imp.get("resolved")
                if not res or "!" not in res:
                    continue
                dll, name = res.split("!", 1)
                if machine.traps.get(dll, name) is None and (dll.lower(), name) not in _data_exports():
                    out.add(f"{dll.lower()}!{name}")
    return missing, sorted(out)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", action="append")
    ap.add_argument("--top", type=int, default=40, help="how many of the most-imported unhandled APIs to list")
    ap.add_argument("--markdown", metavar="FILE")
    a = ap.parse_args(argv)
    lock = read_lock()
    machines: dict[str, object] = {}
    per: dict[str, list[str]] = {}
    lines = []
    count: collections.Counter = collections.Counter()
    for e in select(load(), a.only, False):
        try:
            exe, _ = fetch_entry(e, lock, linux=False, log=lambda m: None)
        except FetchError as err:
            print(f"{e.id}: {err}", file=sys.stderr)
            continue
        if e.arch not in machines:
            machines[e.arch] = _machine(e.arch)
        missing, unhandled = unhandled_imports(exe, machines[e.arch])
        per[e.id] = unhandled
        for api in unhandled:
            count[api] += 1
        line = f"{e.id:18} {len(unhandled):4} unhandled imports" + (f"; {', '.join(missing)}" if missing else "")
        print(line)
        lines.append(f"| {e.id} | {e.toolchain} | {len(unhandled)} | {', '.join(missing)} |")
    print(f"\nthe {a.top} unhandled imports most programs need:")
    top = count.most_common(a.top)
    for api, n in top:
        print(f"  {n:3}  {api}")
    if a.markdown:
        md = ["| id | toolchain | unhandled imports | missing |", "|---|---|---|---|", *lines, "",
              "| API | programs importing it |", "|---|---|", *[f"| {api} | {n} |" for api, n in top]]
        Path(a.markdown).write_text("\n".join(md) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
