"""How CreateProcess turns lpApplicationName / lpCommandLine into the image to run.

Documented rules (CreateProcessW, "lpApplicationName" and "lpCommandLine"):
- With an application name, it is the module: completed against the current directory, never searched,
  no extension appended.
- Without one, the module is the first token of the command line. A quoted token ends at its closing quote.
  An unquoted token containing spaces is ambiguous: `c:\\program files\\sub dir\\program name` is tried as
  `c:\\program`, `c:\\program files\\sub`, `c:\\program files\\sub dir\\program`, then the whole string.
  Each candidate without an extension gets `.exe` appended. A candidate without a path is searched for in:
  the directory the creating application was loaded from, the current directory, the 32-bit system
  directory, the 16-bit system directory, the Windows directory, then the PATH directories.
"""
from __future__ import annotations

from typing import Callable


def _has_path(name: str) -> bool:
    return "\\" in name or "/" in name or (len(name) >= 2 and name[1] == ":")


def _with_ext(name: str) -> str:
    base = name.replace("/", "\\").rsplit("\\", 1)[-1]
    return name if "." in base else name + ".exe"


def candidates_from_command_line(command_line: str) -> list[str]:
    s = command_line.lstrip(" \t")
    if s.startswith('"'):
        end = s.find('"', 1)
        return [s[1:end] if end >= 0 else s[1:]]
    out = []
    i = 0
    while True:
        j = s.find(" ", i)
        while j >= 0 and s[j - 1:j] == " ":  # runs of spaces belong to the token boundary
            j = s.find(" ", j + 1)
        if j < 0:
            out.append(s.rstrip(" \t"))
            return [c for c in out if c]
        out.append(s[:j])
        i = j + 1
        if "\t" in s[:j]:
            return [c for c in out if c]


def search_order(creator_dir: str | None, cwd: str, system32: str, windir: str, path_env: str) -> list[str]:
    dirs = []
    if creator_dir:
        dirs.append(creator_dir)
    dirs += [cwd, system32, windir + "\\System", windir]
    dirs += [d for d in path_env.split(";") if d]
    return dirs


def resolve(application_name: str | None, command_line: str | None, *, exists: Callable[[str], bool],
            full_path: Callable[[str], str], dirs: list[str]) -> tuple[str | None, list[str]]:
    """Return (resolved Win32 path or None, the names tried)."""
    tried: list[str] = []
    if application_name:
        p = full_path(application_name)
        tried.append(p)
        return (p if exists(p) else None), tried
    for cand in candidates_from_command_line(command_line or ""):
        name = _with_ext(cand)
        if _has_path(name):
            p = full_path(name)
            tried.append(p)
            if exists(p):
                return p, tried
            continue
        for d in dirs:
            p = full_path(d.rstrip("\\") + "\\" + name)
            tried.append(p)
            if exists(p):
                return p, tried
    return None, tried
