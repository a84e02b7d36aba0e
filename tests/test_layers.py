"""The architecture's one rule about imports: layers import only downward.

pe → cpu → kernel → ldr → win32 → report → the command line (cli, runner, session). A module may import its own
layer and the layers below it, never one above: the kernel never calls up into the loader or the subsystem, the loader
never into win32. Every import is checked, the ones inside functions too (a deferred import is still a
dependency). The bottom modules (ntstatus, cache, _record, _hash) belong to no layer and may be imported by all."""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "winhatch"
LAYERS = ["pe", "cpu", "kernel", "ldr", "win32", "report", "cli"]
TOP = {"cli": "cli", "runner": "cli", "batch": "cli", "session": "cli", "__main__": "cli",
       "debug": "report"}   # winhatch.debug (the GDB stub) sits beside report
BOTTOM = {"ntstatus", "cache", "_record", "_hash", "__init__"}


def _layer(parts: list[str]) -> int | None:
    head = parts[0] if parts else ""
    if head in BOTTOM:
        return None
    if head in TOP:
        return LAYERS.index(TOP[head])
    return LAYERS.index(head) if head in LAYERS else None


def _imports(path: Path, modparts: list[str]):
    tree = ast.parse(path.read_text(), str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.name.startswith("winhatch."):
                    yield node.lineno, a.name.split(".")[1:]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = modparts[:len(modparts) - node.level]
                target = base + (node.module.split(".") if node.module else [])
            elif node.module and node.module.startswith("winhatch"):
                target = node.module.split(".")[1:]
            else:
                continue
            if not target:   # from winhatch import x
                for a in node.names:
                    yield node.lineno, [a.name]
            else:
                yield node.lineno, target


def test_layers_import_only_downward():
    bad = []
    for path in sorted(ROOT.rglob("*.py")):
        rel = path.relative_to(ROOT).with_suffix("")
        parts = list(rel.parts)
        pkgparts = parts if parts[-1] != "__init__" else parts[:-1]
        me = _layer(parts)
        if me is None:
            continue
        for line, target in _imports(path, pkgparts if parts[-1] == "__init__" else parts):
            them = _layer(target)
            if them is not None and them > me:
                bad.append(f"{path.relative_to(ROOT.parent)}:{line} ({LAYERS[me]}) imports "
                           f"winhatch.{'.'.join(target)} ({LAYERS[them]})")
    assert not bad, "imports that go up a layer:\n" + "\n".join(bad)
