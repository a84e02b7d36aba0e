"""The handler index (winhatch.win32.handler_index): a run registers every declared export from it and imports a
handler module only when one of its APIs (or its DLL initialiser) is first called.

These tests pin the mechanism, not a time (bench/run_bench.py measures the start-up):
- the index is what importing every handler module declares (compared with a fresh interpreter's import);
- each entry's real declaration is found where the index says (its module, its position there);
- a hello world imports no handler module beyond the ones the subsystem needs to start and those of the APIs
  it calls (and what those import);
- a declaration made outside winhatch still replaces a handler (every module imported, as before the index).
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from winhatch.win32 import api, handler_index, subsystem

ROOT = Path(__file__).resolve().parents[2]
HELLO = ROOT / "examples" / "hello"


def _python(code: str, *args) -> str:
    r = subprocess.run([sys.executable, "-c", code, *map(str, args)], capture_output=True, text=True, timeout=600,
                       cwd=ROOT)
    assert r.returncode == 0, r.stderr[-3000:]
    return r.stdout


def test_declared_traps_are_keyed_by_the_index_content():
    """Entry numbers index the declared-trap table: an index of the same sources built in another order (a
    process that had imported some handler modules first) has another digest, which keys that table."""
    index = handler_index.load()
    raw = {"format": handler_index.FORMAT, "apis": index.apis, "data": index.data, "inits": index.inits,
           "internal_functions": index.internal_functions, "internal_data": index.internal_data}
    fresh = handler_index.declarations()
    assert handler_index.content_digest(fresh) == fresh["digest"]
    reordered = dict(raw, apis=list(reversed(raw["apis"])))
    assert handler_index.content_digest(reordered) != handler_index.content_digest(raw)
    import inspect
    assert "index.digest" in inspect.getsource(subsystem._declared_table)


def test_index_is_what_the_modules_declare():
    """The stored index equals the declarations of a full import in a fresh interpreter (the same modules,
    the same order), and every entry resolves to the declaration it describes."""
    index = handler_index.load()
    fresh = json.loads(_python(
        "import json, sys\n"
        "from winhatch.win32 import handler_index as h\n"
        "json.dump(h.declarations(), sys.stdout)\n"))
    assert fresh["apis"] and fresh["data"] and fresh["inits"]
    assert [list(map(lambda v: list(v) if isinstance(v, tuple) else v, a)) for a in index.apis] == fresh["apis"]
    assert [list(d) for d in index.data] == fresh["data"]
    assert [list(i) for i in index.inits] == fresh["inits"]
    assert [list(x) for x in index.internal_functions] == fresh["internal_functions"]
    assert [list(x) for x in index.internal_data] == fresh["internal_data"]
    # every declaration of the handler modules is in it, under the module that makes it
    subsystem.load_handler_modules()
    entries = {(a[0], a[1]): a for a in index.apis}
    for origin, specs in api._BY_ORIGIN.items():
        if not origin.startswith("winhatch."):
            continue
        for seq, spec in enumerate(specs):
            a = entries.get((origin, seq))
            assert a is not None and a[2:4] == (spec.dlls, spec.name), (origin, seq, spec.name)
    for i in range(len(index.apis)):
        spec = index.spec(i)
        assert spec.names() == index.names(i) and spec.dlls == index.dlls(i) and spec.calls_guest == \
            index.calls_guest(i)
    # the facts the system DLLs are built from are the complete ones, whatever is imported
    assert api.internal_data_items() == index.internal_data
    assert sorted(api.internal_functions()) == sorted(index.internal_functions)
    assert {(d, n) for d, n, _s, _i in api.data_exports()} == {(d, n) for _o, d, n, _s, _h in index.data}


_RUN = """
import json, sys
import winhatch
from winhatch.win32 import handler_index
res = winhatch.run(sys.argv[1])
assert res.exit_status == 42, res
mods = set(handler_index.handler_modules())
json.dump({"imported": sorted(m for m in sys.modules if m in mods), "by_index": handler_index.IMPORTED,
           "handler_modules": len(mods)}, sys.stdout)
"""

_IMPORT = """
import importlib, json, sys
from winhatch.kernel.machine import Machine
from winhatch.win32 import handler_index, subsystem
import winhatch.runner
subsystem.setup(Machine(), arches=(sys.argv[1],))   # what the start-up imports, before any API is called
for m in json.loads(sys.argv[2]):
    importlib.import_module(m)
mods = set(handler_index.handler_modules())
json.dump(sorted(m for m in sys.modules if m in mods), sys.stdout)
"""


def _imports_of(module: str) -> set[str]:
    """The winhatch.win32 modules a module's source imports anywhere (a handler imports some when it runs)."""
    import ast
    import importlib.util
    path = importlib.util.find_spec(module).origin
    out = set()
    for node in ast.walk(ast.parse(Path(path).read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
            out.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
    return {m for m in out if m.startswith("winhatch.win32.")}


def _closure(modules) -> set[str]:
    seen, todo = set(), list(modules)
    while todo:
        m = todo.pop()
        if m in seen:
            continue
        seen.add(m)
        try:
            todo += _imports_of(m)
        except (AttributeError, ValueError, ModuleNotFoundError):   # a name imported from a module, not one
            pass
    return seen


def test_hello_imports_only_the_modules_it_calls():
    for arch in ("x64", "x86"):
        run = json.loads(_python(_RUN, HELLO / f"hello-{arch}.exe"))
        assert run["by_index"], "the run imported no module through the index"
        # the subsystem's own imports, then each module the index imported for the run, and what their code
        # imports (at the top or in a function that ran)
        expected = _closure(json.loads(_python(_IMPORT, arch, json.dumps(run["by_index"]))))
        extra = sorted(set(run["imported"]) - expected)
        assert not extra, f"{arch}: imported without a call needing them: {extra}"
        # a dozen or two of the ~160 modules (a full import was every one of them)
        assert len(run["imported"]) < run["handler_modules"] // 4, run["imported"]
        for unrelated in ("winhatch.win32.user32.window", "winhatch.win32.ws2_32.sockets",
                          "winhatch.win32.msvcp140.msvcp140", "winhatch.win32.advapi32.reg",
                          "winhatch.win32.kernel32.locale"):
            assert unrelated not in run["imported"], (arch, unrelated)


def test_a_foreign_declaration_replaces_a_handler():
    """A script's own @api declaration (winhatch.session: it replaces the handler for the whole Python
    process) serves the export on the machines set up after it: with one, every handler module is imported
    and every declaration registered up front, in declaration order, as before the index."""
    out = _python(
        "from winhatch.kernel.machine import Machine\n"
        "from winhatch.win32 import subsystem\n"
        "from winhatch.win32.api import api\n"
        "m = Machine()\n"
        "subsystem.setup(m, arches=('x64',))\n"
        "lazy = m.traps.resolver is not None\n"
        "@api('kernel32.dll', 'DWORD WINAPI GetTickCount(void)')\n"
        "def GetTickCount(c):\n"
        "    return 1234\n"
        "m = Machine()\n"
        "subsystem.setup(m, arches=('x64',))\n"
        "h = m.traps.get('kernel32.dll', 'GetTickCount')\n"
        "print(lazy, m.traps.resolver is None, h.fn.args[1].fn is GetTickCount)\n")
    assert out.split() == ["True", "True", "True"], out
