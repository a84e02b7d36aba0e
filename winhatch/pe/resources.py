"""The resource directory tree (type / name / language) and VS_VERSIONINFO.

The walk is bounded: at most MAX_DEPTH levels (the loader's resource functions use three), every directory visited
once (a cycle is refused), and the total number of entries is capped by the directory's size.
"""
from __future__ import annotations

import struct
from typing import TYPE_CHECKING, Iterator, NamedTuple

from .constants import RT_NAMES, RT_VERSION
from .errors import PEFormatError

if TYPE_CHECKING:
    from .image import PEFile

MAX_DEPTH = 3
MAX_ENTRIES = 0x10000
_DIR_HDR = struct.Struct("<IIHHHH")
_ENTRY = struct.Struct("<II")
_DATA = struct.Struct("<IIII")


class ResourceData(NamedTuple):
    rva: int
    size: int
    codepage: int
    reserved: int


class ResourceEntry:
    """One directory entry: ``id`` (int) or ``name`` (str), and either ``directory`` or ``data``."""

    __slots__ = ("id", "name", "directory", "data")

    def __init__(self, id_, name, directory, data):
        self.id, self.name, self.directory, self.data = id_, name, directory, data

    @property
    def key(self) -> int | str:
        return self.name if self.name is not None else self.id

    def __repr__(self) -> str:
        what = f"dir({len(self.directory.entries)})" if self.directory else repr(self.data)
        return f"ResourceEntry({self.key!r}, {what})"


class ResourceDirectory:
    __slots__ = ("characteristics", "timestamp", "major_version", "minor_version", "entries", "rva")

    def __init__(self, characteristics, timestamp, major, minor, entries, rva):
        self.characteristics, self.timestamp = characteristics, timestamp
        self.major_version, self.minor_version = major, minor
        self.entries: list[ResourceEntry] = entries
        self.rva = rva

    @property
    def types(self) -> list[int | str]:
        return [e.key for e in self.entries]

    def find(self, *path: int | str) -> ResourceEntry | None:
        """Follow keys (type, name, language) down the tree."""
        d: ResourceDirectory | None = self
        entry = None
        for key in path:
            if d is None:
                return None
            entry = next((e for e in d.entries if e.key == key), None)
            if entry is None:
                return None
            d = entry.directory
        return entry

    def leaves(self) -> Iterator[tuple[tuple, ResourceData]]:
        """((type, name, language), ResourceData) for every data entry, depth-first."""
        stack = [((), self)]
        while stack:
            path, d = stack.pop()
            for e in reversed(d.entries):
                if e.data is not None:
                    yield path + (e.key,), e.data
                elif e.directory is not None:
                    stack.append((path + (e.key,), e.directory))

    def __repr__(self) -> str:
        names = [RT_NAMES.get(t, t) if isinstance(t, int) else t for t in self.types]
        return f"ResourceDirectory({names})"


def parse_resources(pe: "PEFile", directory) -> ResourceDirectory | None:
    root_rva, size = directory
    if root_rva == 0:
        return None
    if root_rva + 16 > pe.extent:
        raise PEFormatError(f"resource directory at RVA 0x{root_rva:x} outside the image")
    limit = size if size else pe.extent - root_rva
    visited: set[int] = set()
    budget = [MAX_ENTRIES]
    names: dict[int, str] = {}

    def name_at(off: int) -> str:
        if off in names:
            return names[off]
        if off + 2 > limit:
            raise PEFormatError(f"resource name offset 0x{off:x} outside the resource directory")
        n = struct.unpack("<H", pe.read_rva(root_rva + off, 2))[0]
        if off + 2 + 2 * n > limit:
            raise PEFormatError(f"resource name at 0x{off:x} runs past the resource directory")
        budget[0] -= n // 64 + 1      # names count against the entry budget too (bounded total work)
        if budget[0] < 0:
            raise PEFormatError(f"resource tree has more than {MAX_ENTRIES} entries' worth of names")
        names[off] = s = pe.read_rva(root_rva + off + 2, 2 * n).decode("utf-16-le", "replace")
        return s

    def walk(off: int, depth: int) -> ResourceDirectory:
        if off in visited:
            raise PEFormatError(f"resource directory cycle at offset 0x{off:x}", pe.rva_to_offset(root_rva + off))
        visited.add(off)
        if off + 16 > limit:
            raise PEFormatError(f"resource directory at offset 0x{off:x} outside the resource section")
        chars, ts, major, minor, nnamed, nids = _DIR_HDR.unpack(pe.read_rva(root_rva + off, 16))
        count = nnamed + nids
        if off + 16 + 8 * count > limit:
            raise PEFormatError(f"resource directory at offset 0x{off:x} has {count} entries past its end",
                                pe.rva_to_offset(root_rva + off + 12))
        budget[0] -= count
        if budget[0] < 0:
            raise PEFormatError(f"resource tree has more than {MAX_ENTRIES} entries")
        raw = pe.read_rva(root_rva + off + 16, 8 * count)
        entries = []
        for i in range(count):
            name_field, target = _ENTRY.unpack_from(raw, 8 * i)
            if name_field & 0x80000000:
                rid, rname = None, name_at(name_field & 0x7FFFFFFF)
            else:
                rid, rname = name_field & 0xFFFF, None
            if target & 0x80000000:
                if depth + 1 >= MAX_DEPTH:
                    raise PEFormatError(f"resource tree deeper than {MAX_DEPTH} levels",
                                        pe.rva_to_offset(root_rva + off + 16 + 8 * i))
                entries.append(ResourceEntry(rid, rname, walk(target & 0x7FFFFFFF, depth + 1), None))
            else:
                if target + 16 > limit:
                    raise PEFormatError(f"resource data entry at offset 0x{target:x} outside the resource directory")
                data = ResourceData(*_DATA.unpack(pe.read_rva(root_rva + target, 16)))
                entries.append(ResourceEntry(rid, rname, None, data))
        return ResourceDirectory(chars, ts, major, minor, entries, root_rva + off)

    return walk(0, 0)


# --- VS_VERSIONINFO --------------------------------------------------------------------------------
def _align4(v: int) -> int:
    return (v + 3) & ~3


def _block(data: bytes, pos: int, end: int):
    """(wLength, wValueLength, wType, key, value_pos, children_end) of a version block at pos."""
    if pos + 6 > end:
        raise PEFormatError("truncated VERSIONINFO block")
    length, vlen, vtype = struct.unpack_from("<HHH", data, pos)
    if length < 6 or pos + length > end:
        raise PEFormatError(f"bad VERSIONINFO block length {length}")
    kend = pos + 6
    while kend + 1 < pos + length and data[kend:kend + 2] != b"\0\0":
        kend += 2
    key = data[pos + 6:kend].decode("utf-16-le", "replace")
    return length, vlen, vtype, key, _align4(kend + 2), pos + length


def parse_version_info(pe: "PEFile") -> dict | None:
    res = pe.resources
    if res is None:
        return None
    leaf = None
    for path, d in res.leaves():
        if path and path[0] == RT_VERSION:
            leaf = d
            break
    if leaf is None:
        return None
    if leaf.rva + leaf.size > pe.extent or leaf.size > 0x100000:
        raise PEFormatError(f"VERSIONINFO resource 0x{leaf.rva:x}+0x{leaf.size:x} outside the image")
    data = pe.read_rva(leaf.rva, leaf.size)
    length, vlen, _t, key, vpos, end = _block(data, 0, len(data))
    if key != "VS_VERSION_INFO":
        raise PEFormatError(f"VERSIONINFO key is {key!r}")
    out: dict = {"fixed": None, "strings": {}, "translations": []}
    if vlen >= 52 and vpos + 52 <= end:
        f = struct.unpack_from("<13I", data, vpos)
        if f[0] == 0xFEEF04BD:
            out["fixed"] = {
                "signature": f[0], "struc_version": f[1],
                "file_version": f"{f[2] >> 16}.{f[2] & 0xFFFF}.{f[3] >> 16}.{f[3] & 0xFFFF}",
                "product_version": f"{f[4] >> 16}.{f[4] & 0xFFFF}.{f[5] >> 16}.{f[5] & 0xFFFF}",
                "file_version_ms": f[2], "file_version_ls": f[3], "product_version_ms": f[4],
                "product_version_ls": f[5], "file_flags_mask": f[6], "file_flags": f[7], "file_os": f[8],
                "file_type": f[9], "file_subtype": f[10], "file_date": (f[11] << 32) | f[12]}
    pos = _align4(vpos + vlen)
    guard = 0
    while pos < end and guard < 64:
        guard += 1
        clen, _cv, _ct, ckey, cvpos, cend = _block(data, pos, end)
        if ckey == "StringFileInfo":
            tpos = cvpos
            while tpos < cend:
                _tl, _tv, _tt, _tkey, spos, tend = _block(data, tpos, cend)
                while spos < tend:
                    _sl, svlen, _st, skey, svpos, send = _block(data, spos, tend)
                    raw = data[svpos:min(send, svpos + 2 * svlen)] if svlen else b""
                    out["strings"][skey] = raw.decode("utf-16-le", "replace").split("\0", 1)[0]
                    spos = _align4(send)
                tpos = _align4(tend)
        elif ckey == "VarFileInfo":
            vpos2 = cvpos
            while vpos2 < cend:
                _vl, vvlen, _vt, _vkey, vv, vend = _block(data, vpos2, cend)
                for i in range(0, min(vvlen, vend - vv) - 3, 4):
                    out["translations"].append(struct.unpack_from("<HH", data, vv + i))
                vpos2 = _align4(vend)
        pos = _align4(cend)
    return out
