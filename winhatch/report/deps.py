"""`winhatch deps FILE`: the dependency tree of a PE file, like Dependencies / Dependency Walker, without
running it.

Each imported DLL is found as the loader would find it: an API set name (api-ms-…, ext-ms-…) is first
resolved through the API set schema to its host DLL (with the importing module's exceptions); a name in
KnownDLLs comes from the system directory; any other name is looked for in the program's directory and then
in the synthetic System32 (x64) or SysWOW64 (x86) that winhatch mounts for the guest. Every imported symbol
is looked up in the DLL's export table as LdrpSnapThunk does (hint first, then binary search); forwarders
are followed to their final DLL (whose file joins the tree, as the loader loads it), and missing DLLs,
missing exports and architecture mismatches are flagged. Each DLL is expanded once (later occurrences are
marked ``seen``), an import that leads back to an ancestor is marked ``cycle``, and the depth is bounded.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from winhatch.ntstatus import NtStatusError
from winhatch.pe import PEFile, PEFormatError

MAX_DEPTH = 24
#: forwarder chains are followed as the loader follows them (to any length, a cycle refused); this only bounds
#: the walk itself
MAX_FORWARD_HOPS = 1 << 16


@dataclass
class ImportCheck:
    """One imported symbol and what satisfies it."""
    name: str | None
    ordinal: int | None
    hint: int | None
    found: bool = False
    hint_hit: bool = False
    steps: int = 0
    forwarded: list[str] = field(default_factory=list)  # the chain: "KERNEL32.dll!HeapAlloc" → "NTDLL.RtlAllocateHeap"
    resolved: str | None = None  # the final "dll!symbol" that satisfies it
    error: str | None = None

    @property
    def symbol(self) -> str:
        return self.name if self.name is not None else f"#{self.ordinal}"

    def to_dict(self) -> dict:
        return {"name": self.name, "ordinal": self.ordinal, "hint": self.hint, "found": self.found,
                "hint_hit": self.hint_hit, "steps": self.steps, "forwarded": self.forwarded,
                "resolved": self.resolved, "error": self.error}


@dataclass
class DepNode:
    """A module in the tree. ``status``: ok, missing, arch_mismatch, invalid, no_host (an API set without a
    host), seen (expanded elsewhere in the tree), cycle, depth (the bound was reached)."""
    name: str  # as imported (or the file name for the root)
    host: str | None = None  # the DLL an API set resolved to
    path: str | None = None  # the host file that satisfies it
    guest_path: str | None = None  # where the guest sees it (C:\app\… or C:\Windows\System32\…)
    location: str | None = None  # "root", "app", "system"
    status: str = "ok"
    arch: str | None = None
    delay: bool = False
    via: str = "import"  # "import", "delay", "forwarder"
    error: str | None = None
    imports: list[ImportCheck] = field(default_factory=list)  # what the parent imports from this module
    children: list["DepNode"] = field(default_factory=list)

    @property
    def file_name(self) -> str:
        return self.host or self.name

    def to_dict(self) -> dict:
        return {"name": self.name, "host": self.host, "path": self.path, "guest_path": self.guest_path, "location": self.location,
                "status": self.status, "arch": self.arch, "via": self.via, "error": self.error,
                "imports": [i.to_dict() for i in self.imports], "children": [c.to_dict() for c in self.children]}


class _Dir:
    """A host directory searched case-insensitively (Windows names, case-sensitive host file system)."""

    def __init__(self, path: Path):
        self.path = path
        try:
            self.names = {n.lower(): n for n in os.listdir(path)}
        except OSError:
            self.names = {}

    @classmethod
    def empty(cls) -> "_Dir":
        d = cls.__new__(cls)
        d.path, d.names = None, {}
        return d

    def find(self, name: str) -> Path | None:
        n = self.names.get(name.lower())
        if n is None:
            return None
        p = self.path / n
        return p if p.is_file() else None


def _known_dlls() -> set[str]:
    try:
        from winhatch.kernel.cm import Registry, decode
        key = Registry.default().open_key(r"HKLM\SYSTEM\CurrentControlSet\Control\Session Manager\KnownDLLs")
        out = set()
        for n in key.value_names():
            t, d = key.query_value(n)
            v = decode(t, d)
            if isinstance(v, str) and v.lower().endswith(".dll"):
                out.add(v.lower())
        return out
    except (NtStatusError, ImportError):
        return set()


class DependencyWalker:
    def __init__(self, root: str | os.PathLike, *, system_dir: str | os.PathLike | None = None,
                 max_depth: int = MAX_DEPTH, schema=None):
        self.root_path = Path(root)
        self.max_depth = max_depth
        self._pe_cache: dict[Path, PEFile | Exception] = {}
        self._system_dir = Path(system_dir) if system_dir is not None else None
        if schema is None:
            from winhatch.kernel.apiset import schema as apiset
            schema = apiset.default_schema()
        self.schema = schema
        self.known = _known_dlls()
        self.expanded: set[str] = set()
        self.missing_dlls: list[dict] = []
        self.missing_exports: list[dict] = []
        self.arch: str | None = None

    @classmethod
    def system_only(cls, arch: str, *, system_dir: str | os.PathLike | None = None, schema=None) -> "DependencyWalker":
        """A walker without a program: every DLL is looked for in the system directory alone (winhatch's
        synthetic System32/SysWOW64 unless `system_dir` names another), for resolve_descriptor()."""
        w = cls(os.devnull, system_dir=system_dir, schema=schema)
        w.arch = arch
        if w._system_dir is None:
            from winhatch.win32 import sysdlls
            w._system_dir = sysdlls.ensure_installed(arch)
        w.app_dir = _Dir.empty()
        w.sys_dir = _Dir(w._system_dir)
        return w

    # -- finding files -------------------------------------------------------------------------------------
    def _pe(self, path: Path) -> PEFile:
        got = self._pe_cache.get(path)
        if got is None:
            try:
                got = PEFile.open(str(path))
            except (PEFormatError, OSError) as e:
                got = e
            self._pe_cache[path] = got
        if isinstance(got, Exception):
            raise got
        return got

    def resolve_name(self, name: str, importer: str | None) -> tuple[str, str | None]:
        """(DLL file name, API set host or None) — api-ms-/ext-ms- names go through the schema."""
        n = name if "." in name.rsplit("\\", 1)[-1] else name + ".dll"
        if n.lower().startswith(("api-", "ext-")):
            host = self.schema.resolve(n.lower(), importer.lower() if importer else None)
            return n, host
        return n, None

    def guest_path(self, path: Path, location: str | None) -> str:
        from winhatch.kernel.io.vfs import APP_DIR
        return (APP_DIR if location in ("app", "root") else self.sys_label) + "\\" + path.name

    def locate(self, file_name: str) -> tuple[Path | None, str | None]:
        """The host file for a DLL name and where it was found ("app" or "system")."""
        if file_name.lower() not in self.known:
            p = self.app_dir.find(file_name)
            if p is not None:
                return p, "app"
        p = self.sys_dir.find(file_name)
        if p is not None:
            return p, "system"
        return None, None

    # -- the walk ------------------------------------------------------------------------------------------
    def walk(self) -> DepNode:
        root_pe = PEFile.open(str(self.root_path))  # errors reach the caller (a clear one-line message)
        self._pe_cache[self.root_path] = root_pe
        self.arch = root_pe.arch
        if self.arch not in ("x86", "x64"):
            raise PEFormatError(f"{self.root_path.name}: unsupported machine ({self.arch})")
        if self._system_dir is None:
            from winhatch.win32 import sysdlls
            self._system_dir = sysdlls.ensure_installed(self.arch)
        self.app_dir = _Dir(self.root_path.resolve().parent)
        self.sys_dir = _Dir(self._system_dir)
        root = DepNode(self.root_path.name, path=str(self.root_path), location="root", arch=self.arch,
                       guest_path=self.guest_path(self.root_path, "root"))
        self.expanded.add(str(self.root_path.resolve()).lower())
        self._expand(root, root_pe, [str(self.root_path.resolve()).lower()], 0)
        return root

    def _expand(self, node: DepNode, pe: PEFile, chain: list[str], depth: int) -> None:
        importer = node.file_name
        groups = [(d, False) for d in pe.imports] + [(d, True) for d in pe.delay_imports]
        for desc, delay in groups:
            forwarded_to: dict[str, None] = {}
            child, cpe = self.resolve_descriptor(desc, importer, delay, forwarded_to, importer_label=node.name)
            node.children.append(child)
            if cpe is None:
                continue
            self._recurse(child, cpe, chain, depth)
            self._add_forwarded(child, forwarded_to, chain, depth + 1)

    def resolve_descriptor(self, desc, importer: str, delay: bool, forwarded_to: dict | None = None, *,
                           importer_label: str | None = None) -> tuple[DepNode, PEFile | None]:
        """One import descriptor (regular or delay-load) of `importer`: the node of the DLL it names (API set
        resolved, file located) with every imported function looked up as the loader does (ordinals named by
        the export table, forwarders followed: ImportCheck.resolved is the final "dll!symbol"), and the DLL's
        parsed file, or None when the DLL is missing, invalid or of the other architecture."""
        child = self._node_for(desc.dll, importer, delay)
        child.imports = [ImportCheck(f.name, f.ordinal, f.hint) for f in desc.functions]
        if child.path is None:
            return child, None
        try:
            cpe = self._pe(Path(child.path))
        except (PEFormatError, OSError) as e:
            child.status, child.error = "invalid", str(e)
            return child, None
        if cpe.arch != self.arch:
            child.status = "arch_mismatch"
            child.error = f"{child.file_name} is {cpe.arch}, {importer_label or importer} is {self.arch}"
            return child, None
        forwarded_to = {} if forwarded_to is None else forwarded_to
        for imp in child.imports:
            self._check_import(imp, child, cpe, importer, delay, forwarded_to)
        return child, cpe

    def _add_forwarded(self, node: DepNode, targets: dict, chain: list[str], depth: int) -> None:
        """Modules that the node's forwarders lead to join the tree under it: the loader loads them while
        snapping (unless the node already imports them)."""
        have = {c.path.lower() for c in node.children if c.path}
        for fname in targets:
            path, loc = self.locate(fname)
            if path is None or str(path).lower() in have or str(path).lower() == (node.path or "").lower():
                continue
            have.add(str(path).lower())
            child = DepNode(fname, path=str(path), location=loc, via="forwarder", arch=self.arch,
                            guest_path=self.guest_path(path, loc))
            node.children.append(child)
            try:
                self._recurse(child, self._pe(path), chain + [node.path.lower()], depth)
            except (PEFormatError, OSError) as e:
                child.status, child.error = "invalid", str(e)

    def _recurse(self, child: DepNode, cpe: PEFile, chain: list[str], depth: int) -> None:
        key = child.path.lower()
        if key in chain:
            child.status = "cycle"
        elif key in self.expanded:
            child.status = "seen"
        elif depth + 1 >= self.max_depth:
            child.status = "depth"
        else:
            self.expanded.add(key)
            self._expand(child, cpe, chain + [key], depth + 1)

    def _node_for(self, dll: str, importer: str, delay: bool) -> DepNode:
        name, host = self.resolve_name(dll, importer)
        is_set = name.lower().startswith(("api-", "ext-"))
        node = DepNode(name, host=host, delay=delay, via="delay" if delay else "import", arch=self.arch)
        if is_set and host is None:
            if name.lower().startswith("ext-"):
                node.status, node.error = "no_host", "the extension API set has no host"
                self.missing_dlls.append({"dll": name, "importer": importer, "delay": delay,
                                          "reason": node.error})
                return node
        path, loc = self.locate(host or name)
        if path is None:
            node.status = "missing"
            node.error = f"{host or name} was not found in the program's directory or {self.sys_label}"
            self.missing_dlls.append({"dll": host or name, "importer": importer, "delay": delay,
                                      "reason": node.error})
            return node
        node.path, node.location, node.guest_path = str(path), loc, self.guest_path(path, loc)
        return node

    @property
    def sys_label(self) -> str:
        return "C:\\Windows\\System32" if self.arch == "x64" else "C:\\Windows\\SysWOW64"

    def _check_import(self, imp: ImportCheck, child: DepNode, cpe: PEFile, importer: str, delay: bool,
                      forwarded_to: dict) -> None:
        exports = cpe.exports
        module = child.file_name
        sym = imp.name if imp.name is not None else imp.ordinal
        hint = imp.hint
        seen: set[tuple[str, str | int]] = set()
        for hop in range(MAX_FORWARD_HOPS + 1):
            if (module.lower(), sym) in seen:
                imp.error = f"forwarder cycle at {module}!{sym if isinstance(sym, str) else '#%d' % sym}"
                break
            seen.add((module.lower(), sym))
            if exports is None:
                imp.error = f"{module} has no export table"
                break
            if isinstance(sym, str):
                r = exports.lookup(sym, hint)
                entry = r.entry
                if hop == 0:
                    imp.hint_hit, imp.steps = r.hint_hit, len(r.steps)
            else:
                entry = exports.by_ordinal(sym)
            if entry is None:
                imp.error = f"{module}!{sym if isinstance(sym, str) else '#%d' % sym} not found"
                break
            if entry.forwarder is None:
                imp.found = True
                imp.resolved = f"{module}!{entry.name or '#%d' % entry.ordinal}"
                return
            imp.forwarded.append(f"{module}!{entry.name or '#%d' % entry.ordinal} → {entry.forwarder}")
            try:
                fdll, sym = entry.split_forwarder()
            except PEFormatError as e:
                imp.error = str(e)
                break
            hint = None
            fname, host = self.resolve_name(fdll, module)
            target = host or fname
            path, _ = self.locate(target)
            if path is None:
                imp.error = f"forwarder target {target} not found"
                break
            forwarded_to.setdefault(target, None)
            try:
                fpe = self._pe(path)
            except (PEFormatError, OSError) as e:
                imp.error = f"forwarder target {target}: {e}"
                break
            exports, module = fpe.exports, path.name
        else:
            imp.error = f"more than {MAX_FORWARD_HOPS} forwarder hops"
        self.missing_exports.append({"dll": child.file_name, "symbol": imp.symbol, "importer": importer,
                                     "delay": delay, "reason": imp.error})

    def close(self) -> None:
        for pe in self._pe_cache.values():
            if isinstance(pe, PEFile):
                pe.close()
        self._pe_cache.clear()


def dependency_tree(path, **kw) -> dict:
    """The tree and the problems found, as one JSON-ready dict."""
    w = DependencyWalker(path, **kw)
    try:
        root = w.walk()
        modules = sorted({n.path for n in _iter(root) if n.path})
        return {"file": str(path), "arch": w.arch, "system_dir": w.sys_label, "tree": root.to_dict(),
                "modules": modules, "missing_dlls": w.missing_dlls, "missing_exports": w.missing_exports,
                "ok": not any(not m["delay"] for m in w.missing_dlls)
                and not any(not m["delay"] for m in w.missing_exports)}
    finally:
        w.close()


def _iter(node: DepNode):
    yield node
    for c in node.children:
        yield from _iter(c)


_STATUS_STYLE = {"ok": "green", "missing": "bold red", "arch_mismatch": "bold red", "invalid": "bold red",
                 "no_host": "bold red", "seen": "dim", "cycle": "yellow", "depth": "yellow"}


def render(info: dict, console, *, show_imports: bool = False) -> None:
    from rich.markup import escape
    from rich.tree import Tree

    def label(n: dict) -> str:
        name = escape(n["name"])
        if n["host"]:
            name += f" → [bold]{escape(n['host'])}[/]"
        where = f" [dim]{escape(n['guest_path'])}[/]" if n["guest_path"] and n["location"] != "root" else ""
        tag = "" if n["status"] == "ok" else f" [{_STATUS_STYLE.get(n['status'], 'red')}]\\[{n['status']}][/]"
        via = f" [cyan]({n['via']})[/]" if n["via"] != "import" else ""
        bad = [i for i in n["imports"] if not i["found"]]
        miss = f" [bold red]{len(bad)} missing export(s): " + ", ".join(
            escape(i["name"] or f"#{i['ordinal']}") for i in bad[:8]) + "[/]" if bad and n["path"] else ""
        return f"{name}{via}{tag}{where}{miss}"

    def add(tree, n: dict) -> None:
        t = tree.add(label(n))
        if show_imports:
            for i in n["imports"]:
                style = "green" if i["found"] else "red"
                fwd = f" via {escape(' ; '.join(i['forwarded']))}" if i["forwarded"] else ""
                t.add(f"[{style}]{escape(i['name'] or '#%d' % i['ordinal'])}[/]{fwd}")
        for c in n["children"]:
            add(t, c)

    root = info["tree"]
    tree = Tree(f"[bold]{escape(root['name'])}[/] ({info['arch']})")
    for c in root["children"]:
        add(tree, c)
    console.print(tree)
    if info["missing_dlls"] or info["missing_exports"]:
        for m in info["missing_dlls"]:
            console.print(f"[bold red]missing DLL[/] {escape(m['dll'])} (imported by {escape(m['importer'])}"
                          f"{', delay-load' if m['delay'] else ''})")
        for m in info["missing_exports"]:
            console.print(f"[bold red]missing export[/] {escape(m['dll'])}!{escape(str(m['symbol']))} "
                          f"(imported by {escape(m['importer'])}): {escape(str(m['reason']))}")
    else:
        console.print(f"[green]all {len(info['modules'])} modules and their imports resolved[/]")
