"""The handler index: which handler module declares what, so a run imports only the modules whose APIs it calls.

The ~190 modules of the DLL packages under winhatch.win32 (kernel32/, ntdll/, msvcrt/, ...) declare ~2,000
APIs with @api (winhatch.win32.api), plus data exports, DLL initialisers and internal functions and data.
Importing them all took ~0.12 s of every start (a hello world calls a few dozen APIs from a dozen modules).
The index holds what those imports would declare, each declaration with the module whose import makes it
(api.declaring_module) and its position among that module's declarations:

- `apis`: (module, seq, dlls, name, tchar, wide twin, calls_guest) in declaration order;
- `data`: (module, dll, name, size, has an initialiser); `inits`: (module, dll);
- `internal_functions`, `internal_data`: the facts the system DLL images are built from.

It is built by importing every handler module (once, in a fresh interpreter started by whichever process first
needs it, so its order never depends on what that process had imported) and kept in the cache directory (winhatch.win32.startup_cache), keyed by the identity (path, size, modification time) of
every source file of the winhatch package: a change to any of them builds it again, so it cannot go stale.

With it the subsystem registers every declared export without importing its module
(winhatch.win32.subsystem: a trap handler is made when an export is first looked up, its module imported
when it is first called); `spec(i)` is the real declaration of entry i, importing its module.
"""
from __future__ import annotations

import importlib
import os
import sys

from winhatch.win32 import api

#: bump when the layout of the index changes
FORMAT = 3

_LOADED_ALL = False
_CURRENT: "Index | None" = None
#: the modules the index imported in this process, in order (a called API's, a DLL initialiser's, ...)
IMPORTED: list[str] = []


def _import(origin: str) -> None:
    if origin not in sys.modules:
        IMPORTED.append(origin)
        importlib.import_module(origin)


def handler_modules() -> list[str]:
    """Every module of every DLL package under winhatch.win32, in the order a full import takes them."""
    import pkgutil

    import winhatch.win32 as w32
    out = []
    for pkg in sorted(m.name for m in pkgutil.iter_modules(w32.__path__) if m.ispkg and m.name != "data"):
        package = importlib.import_module(f"winhatch.win32.{pkg}")
        out += [f"winhatch.win32.{pkg}.{mod}" for mod in sorted(m.name for m in pkgutil.iter_modules(package.__path__))]
    return out


def load_all() -> None:
    """Import every handler module: every declaration registered (what a start-up did before the index)."""
    global _LOADED_ALL
    if not _LOADED_ALL:
        for mod in handler_modules():
            importlib.import_module(mod)
        _LOADED_ALL = True


def source_identity() -> str:
    """Path, size and modification time of every .py file of the winhatch package (sorted): the index's key.
    A declaration's name, DLLs or prototype may come from any module (a constant of the kernel), so every
    source file is part of it (~1.5 ms to stat them)."""
    import winhatch
    root = os.path.dirname(os.path.realpath(winhatch.__file__))
    out = []
    stack = [root]
    for _ in range(10_000):   # bounded walk (the package has a few dozen directories)
        if not stack:
            break
        d = stack.pop()
        with os.scandir(d) as it:
            for e in it:
                if e.is_dir(follow_symlinks=False):
                    if e.name != "__pycache__" and not e.name.startswith("."):
                        stack.append(e.path)
                elif e.name.endswith(".py"):
                    st = e.stat()
                    out.append(f"{e.path}:{st.st_size}:{st.st_mtime_ns}:{st.st_ino}")
    out.sort()
    return "\n".join(out)


def declarations() -> dict:
    """What the handler modules declare, from their imported registries (imports them all)."""
    load_all()
    seq: dict[str, int] = {}
    apis = []
    for spec in api._REGISTRY:
        origin = spec._origin
        if not origin.startswith("winhatch."):
            continue   # a foreign declaration is not the handler modules'
        n = seq[origin] = seq.get(origin, -1) + 1
        apis.append((origin, n, spec.dlls, spec.name, spec.tchar, spec.wide_name, spec.calls_guest))
    data = [(origin, d, n, size, init is not None)
            for origin, (d, n, size, init) in zip(api._DATA_ORIGIN, api._DATA) if origin.startswith("winhatch.")]
    inits = [(api._INIT_ORIGIN[dll], dll) for dll in api._INIT if api._INIT_ORIGIN[dll].startswith("winhatch.")]
    raw = {"format": FORMAT, "apis": apis, "data": data, "inits": inits,
           "internal_functions": list(api._INTERNAL_FN), "internal_data": list(api._INTERNAL_DATA)}
    # what the entries are, in their order: the key of what is computed from entry numbers (the subsystem's
    # declared-trap table).  Two processes may build the index of the same sources with their handler modules
    # imported in other orders (one had imported some before), the last to store it wins: a table computed
    # from the other's numbering must not be used with it.
    raw["digest"] = content_digest(raw)
    return raw


FRESH_TIMEOUT_S = 300


def fresh_declarations() -> dict:
    """declarations() as a fresh interpreter makes them: the order of the entries is the order a full import
    takes, whatever this process imported before (a test worker, a script that imported handler modules), so
    every process that builds the index of the same sources stores the same one. In this process when a
    child interpreter cannot be run."""
    import marshal
    import subprocess
    import winhatch
    root = os.path.dirname(os.path.dirname(os.path.realpath(winhatch.__file__)))
    code = ("import sys, marshal; sys.path.insert(0, sys.argv[1]); "
            "from winhatch.win32 import handler_index as h; sys.stdout.buffer.write(marshal.dumps(h.declarations()))")
    try:
        r = subprocess.run([sys.executable, "-c", code, root], capture_output=True, timeout=FRESH_TIMEOUT_S)
        if r.returncode == 0:
            raw = marshal.loads(r.stdout)
            if isinstance(raw, dict) and raw.get("format") == FORMAT:
                return raw
    except (OSError, subprocess.SubprocessError, EOFError, ValueError, TypeError):
        pass
    return declarations()


def content_digest(raw: dict) -> str:
    """SHA-256 of the index's entries in their order (its "digest" excluded), as declarations() builds them."""
    from winhatch._hash import sha256
    return sha256(repr([raw[k] for k in sorted(raw) if k != "digest"]).encode()).hexdigest()[:32]


class Index:
    """The loaded index (see the module docstring)."""

    def __init__(self, raw: dict, key: str) -> None:
        self.key = key
        self.apis: list[tuple] = raw["apis"]      # lists of tuples, as stored (marshal keeps tuples)
        self.data: list[tuple] = raw["data"]
        self.inits: list[tuple] = raw["inits"]
        self.internal_functions: list[tuple] = raw["internal_functions"]
        self.internal_data: list[tuple] = raw["internal_data"]
        self.digest: str = raw["digest"]          # of the content (declarations())
        self._specs: dict[int, api.ApiSpec] = {}

    # -- entry i's facts (no import)
    def dlls(self, i: int) -> tuple[str, ...]:
        return self.apis[i][2]

    def names(self, i: int) -> list[tuple[str, bool]]:
        """(export name, wide) of entry i, as ApiSpec.names gives them."""
        _o, _s, _d, name, tchar, wide_name, _cg = self.apis[i]
        if tchar:
            return [(name + "A", False), (name + "W", True)]
        if wide_name:
            return [(name, False), (wide_name, True)]
        return [(name, False)]

    def calls_guest(self, i: int):
        return self.apis[i][6]

    # -- entry i's real declaration (imports its module)
    def spec(self, i: int) -> api.ApiSpec:
        """The ApiSpec that entry i describes: its module imported (once), its seq-th declaration."""
        spec = self._specs.get(i)
        if spec is not None:
            return spec
        origin, seq, dlls, name, tchar, wide_name, calls_guest = self.apis[i]
        _import(origin)
        declared = api._BY_ORIGIN.get(origin) or []
        spec = declared[seq] if seq < len(declared) else None
        if spec is None or (spec.dlls, spec.name, spec.tchar, spec.wide_name) != (dlls, name, tchar, wide_name):
            raise RuntimeError(f"the handler index does not match what {origin} declares (entry {name}): "
                               f"its source changed during the run?")
        self._specs[i] = spec
        return spec

    def deferred(self, origin: str, kind: str, key):
        return _Deferred(origin, kind, key)


class _Deferred:
    """A data export's initialiser or a DLL's dll_init whose module is not imported yet: imports it when
    called, then calls the real function."""

    __slots__ = ("origin", "kind", "key", "fn")

    def __init__(self, origin: str, kind: str, key) -> None:
        self.origin = origin
        self.kind = kind
        self.key = key
        self.fn = None

    def __call__(self, *args):
        fn = self.fn
        if fn is None:
            _import(self.origin)
            if self.kind == "init":
                fn = api._INIT[self.key]
            else:
                fn = next(init for d, n, _s, init in api._DATA if (d, n) == self.key)
            self.fn = fn
        return fn(*args)

    def __repr__(self) -> str:
        return f"<deferred {self.kind} {self.key!r} of {self.origin}>"


def load() -> Index:
    """The index of the current sources (built and stored on first use), made the one api answers from."""
    global _CURRENT
    from winhatch.win32 import startup_cache
    ident = source_identity()
    if _CURRENT is not None and _CURRENT.key == ident:
        return _CURRENT
    raw = startup_cache.cached("handler-index", f"{FORMAT}\n{ident}", fresh_declarations)
    _CURRENT = Index(raw, ident)
    api._INDEX = _CURRENT
    return _CURRENT


def current() -> Index | None:
    return _CURRENT


def ensure() -> Index:
    """The index loaded in this process, or load()'s."""
    return _CURRENT if _CURRENT is not None else load()
