"""The real-world corpus: `realworld/corpus.toml` read into one `Entry` per program and architecture.

A [[program]] names the package (source, package, version, the path of the exe inside it), one table per
architecture under [program.arch.<x64|x86>] (which may override any of those fields, e.g. a platform tag or an
npm package per architecture, and says the toolchain and whether the CI subset runs it), the Linux counterpart
under [program.linux] and its invocations as [[program.run]].
"""
from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
CORPUS = HERE / "corpus.toml"
INPUTS = HERE / "inputs"
EXPECTED = HERE / "expected"
ORACLES = ("linux", "roundtrip", "wine")
SOURCES = ("pypi", "npm", "deb")
TOOLCHAINS = ("msvc-static", "msvc-dynamic", "msvc-old", "msvc-msvcrt", "clang-lld-static", "clang-lld-dynamic",
              "rust-msvc", "rust-gnu", "go", "mingw-gcc", "msys2-mingw", "msys2", "cygwin", "ghc", "zig-lld")


def cache_dir() -> Path:
    return Path(os.environ.get("WINHATCH_REALWORLD_CACHE") or Path.home() / ".cache" / "winhatch" / "realworld")


@dataclass(frozen=True)
class Package:
    source: str      # pypi | npm | deb
    package: str
    version: str
    platform: str    # pypi: wheel platform tag; deb: architecture; npm: "" (the package name says it)
    exe: str         # path of the program inside the extracted package

    @property
    def key(self) -> str:
        safe = self.package.replace("/", "+").replace("@", "")
        return f"{self.source}/{safe}-{self.version}" + (f"-{self.platform}" if self.platform else "")


@dataclass
class Run:
    index: int
    args: list[str]
    oracle: str
    inputs: list[str] = field(default_factory=list)   # files under realworld/inputs/, copied flat into the run dir
    stdin: str | None = None                           # an input file fed to stdin
    outputs: list[str] = field(default_factory=list)  # files the program writes, compared by SHA-256
    compare: list[str] = field(default_factory=lambda: ["exit", "stdout"])  # of exit, stdout, stderr, files, check
    filter: str | None = None                          # a regex: compare only the stdout/stderr lines it matches
    check: list[str] | None = None                     # roundtrip: the Linux-side check ({linux} = Linux build)
    timeout: float = 180.0


@dataclass
class Entry:
    id: str            # program id + "." + arch, e.g. "ruff.x64"
    program: str       # program id, e.g. "ruff": names realworld/expected/<program>.<n>.json
    arch: str
    toolchain: str
    ci: bool           # in the CI subset `make test` runs (it passes now)
    ci_candidate: bool  # meant for the CI subset once winhatch runs it (covers every toolchain)
    pkg: Package
    linux: Package | None
    runs: list[Run]
    extra: list[str]   # other files of the package the program needs next to it (DLLs), relative to the exe's dir
    note: str = ""
    env: dict = field(default_factory=dict)          # environment variables for both builds
    linux_extra: list[str] = field(default_factory=list)  # the same for the Linux build


class CorpusError(Exception):
    pass


def _pkg(d: dict, where: str) -> Package:
    try:
        p = Package(d["source"], d["package"], str(d["version"]), d.get("platform", ""), d["exe"])
    except KeyError as e:
        raise CorpusError(f"{where}: missing {e.args[0]}") from None
    if p.source not in SOURCES:
        raise CorpusError(f"{where}: source {p.source!r} is not one of {SOURCES}")
    return p


def load(path: Path = CORPUS) -> list[Entry]:
    with open(path, "rb") as f:
        data = tomllib.load(f)
    entries: list[Entry] = []
    seen: set[str] = set()
    for prog in data.get("program", []):
        pid = prog.get("id")
        if not pid or pid in seen:
            raise CorpusError(f"program without an id or id used twice: {pid!r}")
        seen.add(pid)
        runs = []
        for i, r in enumerate(prog.get("run", []), 1):
            run = Run(index=i, args=list(r["args"]), oracle=r["oracle"], inputs=list(r.get("inputs", [])),
                      stdin=r.get("stdin"), outputs=list(r.get("outputs", [])),
                      compare=list(r.get("compare", ["exit", "stdout"] + (["files"] if r.get("outputs") else [])
                                         + (["check"] if r.get("check") else []))),
                      filter=r.get("filter"), check=r.get("check"), timeout=float(r.get("timeout", 180)))
            if run.oracle not in ORACLES:
                raise CorpusError(f"{pid} run {i}: oracle {run.oracle!r} is not one of {ORACLES}")
            if run.oracle == "roundtrip" and not run.check:
                raise CorpusError(f"{pid} run {i}: a round trip needs a Linux-side check")
            runs.append(run)
        if not runs:
            raise CorpusError(f"{pid}: no invocations")
        linux = _pkg(prog["linux"], f"{pid}.linux") if "linux" in prog else None
        if any(r.oracle == "linux" or (r.check and "{linux}" in r.check) for r in runs) and linux is None:
            raise CorpusError(f"{pid}: its oracle is the Linux build but [program.linux] is missing")
        base = {k: prog[k] for k in ("source", "package", "version", "platform", "exe") if k in prog}
        for arch, a in prog.get("arch", {}).items():
            if arch not in ("x64", "x86"):
                raise CorpusError(f"{pid}: unknown architecture {arch!r}")
            tc = a.get("toolchain", prog.get("toolchain"))
            if tc not in TOOLCHAINS:
                raise CorpusError(f"{pid}.{arch}: toolchain {tc!r} is not one of {TOOLCHAINS}")
            entries.append(Entry(id=f"{pid}.{arch}", program=pid, arch=arch, toolchain=tc, ci=bool(a.get("ci", False)),
                                 ci_candidate=bool(a.get("ci", False) or a.get("ci_candidate", False)),
                                 pkg=_pkg({**base, **{k: v for k, v in a.items() if k in
                                                      ("source", "package", "version", "platform", "exe")}},
                                          f"{pid}.{arch}"),
                                 linux=linux, runs=runs, extra=list(a.get("extra", prog.get("extra", []))),
                                 note=a.get("note", prog.get("note", "")), env=dict(prog.get("env", {})),
                                 linux_extra=list(prog.get("linux", {}).get("extra", []))))
    return entries


def programs(entries: list[Entry]) -> dict[str, Entry]:
    """The first entry of each program (the expectations are per program, not per architecture)."""
    out: dict[str, Entry] = {}
    for e in entries:
        out.setdefault(e.program, e)
    return out
