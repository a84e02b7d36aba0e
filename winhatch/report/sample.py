"""Facts about a sample file, as an analyst's report opens with them: size, hashes, imphash, compile time.

The imphash is the one malware analysts exchange (Mandiant's definition, computed by pefile and shown by
VirusTotal): the import table in order, each entry written `dll.function` in lower case (the DLL's .dll, .ocx
or .sys extension dropped), joined with commas, then MD5.  An import by ordinal is written `ordN`, except for
ws2_32, wsock32 and oleaut32, whose ordinals are replaced by the function's name (their ordinals are fixed,
documented parts of their ABI); winhatch takes those names from its own export tables of the Windows DLLs.
"""
from __future__ import annotations

import datetime
import hashlib

#: DLLs whose ordinal imports the imphash names (the definition's own list)
_ORDINAL_NAMED = ("ws2_32.dll", "wsock32.dll", "oleaut32.dll")
_ord_cache: dict[str, dict[int, str]] = {}


#: the Winsock 1.1 ordinals, fixed since Windows 95 (ws2_32 and wsock32 agree on them); ws2_32's later
#: ordinals moved between Windows versions, so they stay `ordN`
_WINSOCK_FIXED = frozenset([*range(1, 24), *range(51, 58), *range(101, 117), 151, 500])


def _ordinal_name(dll: str, ordinal: int) -> str | None:
    dll = dll.lower()
    if dll not in _ORDINAL_NAMED:
        return None
    if dll != "oleaut32.dll" and ordinal not in _WINSOCK_FIXED:
        return None
    table = _ord_cache.get(dll)
    if table is None:
        import gzip
        import json
        from importlib import resources
        table = {}
        try:
            with resources.files("winhatch.win32.data").joinpath("exports-x86.json.gz").open("rb") as f:
                data = json.load(gzip.open(f))
            # wsock32's ordinals forward to ws2_32's functions of the same numbers for the classic set
            src = data.get("ws2_32.dll" if dll == "wsock32.dll" else dll, {})
            table = {int(e[0]): e[1] for e in src.get("exports", []) if e[1]}
        except (OSError, ValueError):
            table = {}
        _ord_cache[dll] = table
    return table.get(ordinal)


def imphash(pe) -> str | None:
    """The imphash of a parsed `winhatch.pe.PEFile` (None when it imports nothing)."""
    parts = []
    try:
        descs = pe.imports
    except Exception:  # noqa: BLE001 — a malformed import table: no imphash, as pefile gives none
        return None
    for d in descs:
        lib = (d.dll or "").lower()
        stem, dot, ext = lib.rpartition(".")
        if dot and ext in ("ocx", "sys", "dll"):
            lib_name = stem
        else:
            lib_name = lib
        for f in d.functions:
            if f.name is not None:
                fn = f.name.lower()
            else:
                named = _ordinal_name(lib, f.ordinal or 0)
                fn = named.lower() if named else f"ord{f.ordinal}"
            parts.append(f"{lib_name}.{fn}")
    if not parts:
        return None
    return hashlib.md5(",".join(parts).encode()).hexdigest()


def sample_facts(path) -> dict:
    """{"size", "md5", "sha1", "sha256", "imphash", "compile_time", "timestamp", "machine", "arch",
    "characteristics"} of the file at `path` (the header fields are None when it does not parse)."""
    with open(path, "rb") as f:
        data = f.read()
    out = {"size": len(data), "md5": hashlib.md5(data).hexdigest(), "sha1": hashlib.sha1(data).hexdigest(),
           "sha256": hashlib.sha256(data).hexdigest(), "imphash": None, "compile_time": None, "timestamp": None,
           "arch": None, "is_dll": None}
    try:
        from winhatch.pe import PEFile
        pe = PEFile(data, name=str(path))
    except Exception:  # noqa: BLE001 — a refused image still has its hashes
        return out
    out["timestamp"] = pe.timestamp
    out["compile_time"] = datetime.datetime.fromtimestamp(pe.timestamp, datetime.timezone.utc) \
        .strftime("%Y-%m-%dT%H:%M:%SZ")
    out["arch"] = pe.arch
    out["is_dll"] = pe.is_dll
    out["imphash"] = imphash(pe)
    return out
