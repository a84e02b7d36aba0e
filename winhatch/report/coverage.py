"""`winhatch coverage PATH...`: which Windows functions a corpus of PE files imports, and which of them
winhatch implements.

Every PE file under the paths (directories are walked recursively; a file that does not start with "MZ" is
skipped quietly, one that does but does not parse is counted as malformed) has its imports resolved as
`winhatch deps` resolves them (winhatch.report.deps.DependencyWalker.resolve_descriptor: API sets through the
schema, ordinals named by the export table, forwarders followed), against winhatch's synthetic system
directory of the file's architecture. Delay-load imports count like the others. Each function is named by
where its code is, "dll!name" (lower-case DLL file name), and is implemented when winhatch serves it: a
declared Python handler, native code at the export, an Nt*/Zw* system-service stub whose service the kernel
implements, or a declared data export (a data export winhatch does not declare is not implemented). Imports of DLLs that are not in the system directory (the program's own
DLLs, or system DLLs winhatch has no export surface for) are counted per DLL but are not functions of the
coverage figure.

The coverage figure: implemented functions / imported functions (each function once), and weighted by
files: the (file, function) import pairs whose function is implemented / all pairs.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

from winhatch.pe import PEFile, PEFormatError

SCHEMA = "winhatch-coverage/1"
MAX_FILES = 200_000          # a walk is bounded: more files than this is an error, not a hang
MAX_FILE_SIZE = 1 << 30      # a PE file larger than this is counted as malformed without being read


class CoverageError(Exception):
    pass


# ------------------------------------------------------------------------------------------ implemented?
class Implementation:
    """What winhatch serves, from the registration itself: a machine whose subsystem is set up for both
    architectures has one trap handler per declared API at the place its code lives (forwarders followed,
    ntdll's C runtime names served by msvcrt's handlers); the user-mode functions have native code at their
    export; declared data exports are initialised by winhatch."""

    def __init__(self) -> None:
        from winhatch.kernel.machine import Machine
        from winhatch.win32 import api, subsystem
        self.machine = Machine()
        subsystem.setup(self.machine, arches=("x64", "x86"))
        self._data = {(dll.lower(), name) for dll, name, _size, _init in api.data_exports()}
        from winhatch.win32.data import load_exports
        self._is_data: dict[str, dict[tuple[str, str], bool]] = {}
        for arch in ("x64", "x86"):
            self._is_data[arch] = {(dll.lower(), e[1]): bool(e[3]) for dll, info in load_exports(arch).items()
                                   for e in info["exports"] if e[1] is not None and not e[2]}

    def system_dir(self, arch: str) -> Path:
        from winhatch.win32.subsystem import _system_dir
        return _system_dir(self.machine, arch)

    def kind(self, arch: str, dll: str, name: str) -> str:
        return "data" if self._is_data[arch].get((dll, name)) else "code"

    def implemented(self, arch: str, dll: str, name: str) -> bool:
        from winhatch.win32.native import native_code
        if self.kind(arch, dll, name) == "data":
            return (dll, name) in self._data
        if dll == "ntdll.dll" and name[:2] in ("Nt", "Zw") and self.machine.services.implemented("Nt" + name[2:]):
            return True       # a system-service stub: the kernel's implementation of the service serves it
        return self.machine.traps.get(dll, name) is not None or native_code(arch, dll, name) is not None


# ------------------------------------------------------------------------------------------ the scan
@dataclass
class FunctionUse:
    dll: str
    name: str
    kind: str = "code"
    implemented: bool = False
    exported: bool = True            # False: the DLL exists but does not export it (the loader would fail)
    files: int = 0
    arches: dict = field(default_factory=dict)   # {"x64": files, "x86": files}
    delay_only: bool = True           # every file that imports it does so through a delay-load descriptor

    @property
    def key(self) -> str:
        return f"{self.dll}!{self.name}"

    def to_dict(self) -> dict:
        return {"function": self.key, "dll": self.dll, "name": self.name, "kind": self.kind,
                "implemented": self.implemented, "exported": self.exported, "files": self.files,
                "arches": dict(sorted(self.arches.items())), "delay_only": self.delay_only}


@dataclass
class FileResult:
    path: str
    arch: str | None = None
    status: str = "ok"          # ok | malformed | unsupported
    error: str | None = None
    functions: int = 0          # distinct system functions imported
    implemented: int = 0

    def to_dict(self) -> dict:
        return {"path": self.path, "arch": self.arch, "status": self.status, "error": self.error,
                "functions": self.functions, "implemented": self.implemented}


def iter_files(paths: Iterable[str | os.PathLike]) -> list[Path]:
    """The regular files named or found under the paths (recursively; symlinked directories are not followed),
    sorted, each once."""
    out: dict[str, Path] = {}
    for p in paths:
        p = Path(p)
        if p.is_file():
            out.setdefault(str(p.resolve()), p)
        elif p.is_dir():
            for root, dirs, files in os.walk(p):
                dirs.sort()
                for f in sorted(files):
                    fp = Path(root) / f
                    if fp.is_file() and not fp.is_symlink():
                        out.setdefault(str(fp.resolve()), fp)
                        if len(out) > MAX_FILES:
                            raise CoverageError(f"more than {MAX_FILES} files under {p}")
        else:
            raise CoverageError(f"{p}: no such file or directory")
    return sorted(out.values(), key=lambda q: str(q))


def _is_pe_candidate(path: Path) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(2) == b"MZ"
    except OSError:
        return False


def scan(paths: Iterable[str | os.PathLike], *, progress: Callable[[int, int, str], None] | None = None,
         impl: Implementation | None = None) -> dict:
    """The coverage of the PE files under `paths`, as one JSON-ready dict (schema SCHEMA)."""
    from winhatch.report.deps import DependencyWalker
    files = iter_files(paths)
    impl = impl or Implementation()
    walkers: dict[str, DependencyWalker] = {}
    functions: dict[tuple[str, str], FunctionUse] = {}
    other_dlls: dict[str, dict] = {}     # DLLs outside the system directory: {name: {"files": n, "status": s}}
    results: list[FileResult] = []
    skipped = 0
    try:
        for i, path in enumerate(files):
            if progress:
                progress(i, len(files), str(path))
            if not _is_pe_candidate(path):
                skipped += 1
                continue
            fr = FileResult(str(path))
            results.append(fr)
            try:
                if path.stat().st_size > MAX_FILE_SIZE:
                    raise PEFormatError(f"larger than {MAX_FILE_SIZE} bytes")
                pe = PEFile.open(str(path))
            except (PEFormatError, OSError) as e:
                fr.status, fr.error = "malformed", str(e)
                continue
            try:
                try:
                    fr.arch = pe.arch
                    if fr.arch not in ("x86", "x64"):
                        fr.status, fr.error = "unsupported", f"machine {fr.arch}"
                        continue
                    groups = [(d, False) for d in pe.imports] + [(d, True) for d in pe.delay_imports]
                except PEFormatError as e:
                    fr.status, fr.error = "malformed", str(e)
                    continue
                w = walkers.get(fr.arch)
                if w is None:
                    w = walkers[fr.arch] = DependencyWalker.system_only(fr.arch, system_dir=impl.system_dir(fr.arch))
                seen: dict[tuple[str, str], bool] = {}     # this file's functions: delay-only so far?
                dlls_here: dict[str, str] = {}
                for desc, delay in groups:
                    node, _cpe = w.resolve_descriptor(desc, path.name, delay)
                    if node.path is None or node.status != "ok":
                        dlls_here.setdefault(node.file_name.lower(), node.status)
                        continue
                    for imp in node.imports:
                        if imp.resolved is not None:
                            dll, _, name = imp.resolved.partition("!")
                            key, exported = (dll.lower(), name), True
                        else:   # the DLL is there, the function is not (or a forwarder leads nowhere)
                            key, exported = (node.file_name.lower(), imp.symbol), False
                        seen[key] = seen.get(key, True) and delay
                        if key not in functions:
                            k = impl.kind(fr.arch, *key)
                            functions[key] = FunctionUse(key[0], key[1], k, exported and
                                                         impl.implemented(fr.arch, *key), exported)
                for key, delay_only in seen.items():
                    fu = functions[key]
                    fu.files += 1
                    fu.arches[fr.arch] = fu.arches.get(fr.arch, 0) + 1
                    fu.delay_only = fu.delay_only and delay_only
                    fr.functions += 1
                    fr.implemented += fu.implemented
                for dll, status in dlls_here.items():
                    o = other_dlls.setdefault(dll, {"dll": dll, "files": 0, "status": status})
                    o["files"] += 1
                w.missing_dlls.clear()
                w.missing_exports.clear()
            finally:
                pe.close()
    finally:
        for w in walkers.values():
            w.close()
    if progress:
        progress(len(files), len(files), "")
    return _summary(functions, other_dlls, results, skipped, len(files))


def _summary(functions, other_dlls, results, skipped, total) -> dict:
    fl = sorted(functions.values(), key=lambda f: (-f.files, f.key))
    n_impl = sum(f.implemented for f in fl)
    pairs = sum(f.files for f in fl)
    pairs_impl = sum(f.files for f in fl if f.implemented)
    ok = [r for r in results if r.status == "ok"]
    full = sum(1 for r in ok if r.implemented == r.functions)
    return {
        "schema": SCHEMA,
        "summary": {
            "files_seen": total, "pe_files": len(ok), "skipped_not_pe": skipped,
            "malformed": sum(r.status == "malformed" for r in results),
            "unsupported": sum(r.status == "unsupported" for r in results),
            "functions": len(fl), "implemented": n_impl,
            "coverage": round(n_impl / len(fl), 4) if fl else None,
            "import_pairs": pairs, "import_pairs_implemented": pairs_impl,
            "weighted_coverage": round(pairs_impl / pairs, 4) if pairs else None,
            "files_fully_covered": full,
        },
        "functions": [f.to_dict() for f in fl],
        "other_dlls": sorted(other_dlls.values(), key=lambda d: (-d["files"], d["dll"])),
        "files": [r.to_dict() for r in results],
    }


# ------------------------------------------------------------------------------------------ for people
def render(info: dict, console, *, missing_only: bool = False, limit: int | None = 50) -> None:
    from rich.markup import escape
    from rich.table import Table
    s = info["summary"]
    rows = [f for f in info["functions"] if not (missing_only and f["implemented"])]
    shown = rows if limit is None or limit <= 0 else rows[:limit]
    t = Table(title=("missing functions" if missing_only else "imported functions") + " by files importing them")
    t.add_column("files", justify="right")
    t.add_column("function")
    t.add_column("winhatch")
    for f in shown:
        if f["implemented"]:
            state = "[green]implemented[/]"
        elif not f["exported"]:
            state = "[red]not exported[/]"
        else:
            state = "[bold red]missing[/]"
        extra = " [dim](data)[/]" if f["kind"] == "data" else ""
        extra += " [dim](delay-load)[/]" if f["delay_only"] else ""
        t.add_row(str(f["files"]), escape(f["function"]) + extra, state)
    if shown:
        console.print(t)
    if len(rows) > len(shown):
        console.print(f"[dim]… {len(rows) - len(shown)} more (--limit 0 shows all, --json gives everything)[/]")
    if info["other_dlls"]:
        top = ", ".join(f"{escape(d['dll'])} ({d['files']})" for d in info["other_dlls"][:8])
        console.print(f"[dim]DLLs outside the system directory, not counted: {top}"
                      f"{' …' if len(info['other_dlls']) > 8 else ''}[/]")
    console.print(summary_line(s))


def summary_line(s: dict) -> str:
    if not s["functions"]:
        cov = "no imported system functions"
    else:
        cov = (f"coverage {s['implemented']}/{s['functions']} functions ({100 * s['coverage']:.1f}%), "
               f"weighted by files {s['import_pairs_implemented']}/{s['import_pairs']} "
               f"({100 * s['weighted_coverage']:.1f}%); {s['files_fully_covered']} of {s['pe_files']} files "
               f"have every import implemented")
    extra = []
    if s["malformed"]:
        extra.append(f"{s['malformed']} malformed")
    if s["unsupported"]:
        extra.append(f"{s['unsupported']} of another machine")
    if s["skipped_not_pe"]:
        extra.append(f"{s['skipped_not_pe']} not PE, skipped")
    return f"{s['pe_files']} PE files: {cov}" + (f" ({', '.join(extra)})" if extra else "")
