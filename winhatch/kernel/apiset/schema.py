"""API set schema, version 6 (Windows 10 and later).

Layout (all little-endian ULONGs, offsets relative to the start of the blob, names UTF-16LE
without a terminator, lengths in bytes)::

    API_SET_NAMESPACE      { Version=6, Size, Flags, Count, EntryOffset, HashOffset, HashFactor }
    API_SET_NAMESPACE_ENTRY{ Flags, NameOffset, NameLength, HashedLength, ValueOffset, ValueCount }
    API_SET_VALUE_ENTRY    { Flags, NameOffset, NameLength, ValueOffset, ValueLength }
    API_SET_HASH_ENTRY     { Hash, Index }

An entry's name is the contract name without ".dll" (``api-ms-win-core-file-l1-2-4``);
NameLength covers all of it, HashedLength only the part before the last hyphen
(``api-ms-win-core-file-l1-2``), so every minor version of a contract resolves the same way.
The hash table is sorted by hash; hash = hash * HashFactor + lowercase(c) over the hashed part.
Value 0 is the default host; values 1.. are exceptions keyed by the importing module
(NameOffset/NameLength), sorted case-insensitively, and searched with a binary search.
"""
from __future__ import annotations

import struct
from functools import lru_cache
from pathlib import Path


__all__ = [
    "API_SET_SCHEMA_VERSION", "HASH_FACTOR", "ApiSetSchema", "api_set_hash", "encode_v6",
    "load_mapping", "default_blob", "default_schema", "resolve",
]

API_SET_SCHEMA_VERSION = 6
HASH_FACTOR = 31
API_SET_SCHEMA_ENTRY_FLAGS_SEALED = 1

_NS = struct.Struct("<7I")       # API_SET_NAMESPACE
_ENTRY = struct.Struct("<6I")    # API_SET_NAMESPACE_ENTRY
_VALUE = struct.Struct("<5I")    # API_SET_VALUE_ENTRY
_HASH = struct.Struct("<2I")     # API_SET_HASH_ENTRY

_JSON = Path(__file__).with_name("apiset.json")


def _lower(s: str) -> str:
    # RtlDowncaseUnicodeChar on the ASCII range is all that API set names use.
    return s.translate(_LOWER)


_LOWER = {c: c + 32 for c in range(ord("A"), ord("Z") + 1)}
_UPPER = {c + 32: c for c in range(ord("A"), ord("Z") + 1)}


def _upper(s: str) -> str:
    # Case-insensitive ordering as RtlCompareUnicodeStrings does it: on upcased characters.
    return s.translate(_UPPER)


def api_set_hash(hashed_name: str, factor: int = HASH_FACTOR) -> int:
    h = 0
    for ch in _lower(hashed_name):
        h = (h * factor + ord(ch)) & 0xFFFFFFFF
    return h


def _strip_dll(name: str) -> str:
    return name[:-4] if name[-4:].lower() == ".dll" else name


def _hashed_part(name: str) -> str:
    i = name.rfind("-")
    return name[:i] if i > 0 else name


# ----------------------------------------------------------------------------------------------
# mapping
# ----------------------------------------------------------------------------------------------
@lru_cache(maxsize=1)
def _load_mapping_cached() -> str:
    return _JSON.read_text()


def load_mapping() -> dict:
    """{api set name (no .dll): [default host | None, {importing module: host}]} (a fresh copy)."""
    import json   # (a start reads the encoded blob from the cache: json is not on its path)
    return json.loads(_load_mapping_cached())


# ----------------------------------------------------------------------------------------------
# encoder
# ----------------------------------------------------------------------------------------------
def encode_v6(mapping: dict, hash_factor: int = HASH_FACTOR, flags: int = 0) -> bytes:
    """Build a version-6 API set schema blob from ``mapping`` (see load_mapping())."""
    names = sorted((_strip_dll(n) for n in mapping), key=_lower)
    if len({_lower(n) for n in names}) != len(names):
        raise ValueError("duplicate API set names")
    src = {_lower(_strip_dll(n)): v for n, v in mapping.items()}
    count = len(names)

    entry_off = _NS.size
    values_off = entry_off + count * _ENTRY.size
    # values: per entry, default (may be empty) + sorted exceptions
    values = []         # (entry index, importing name, host)
    per_entry = []      # (first value index, count)
    for n in names:
        default, exceptions = (list(src[_lower(n)]) + [None, {}])[:2]
        exceptions = exceptions or {}
        first = len(values)
        if default is None and not exceptions:
            per_entry.append((first, 0))
            continue
        values.append(("", default or ""))
        for imp in sorted(exceptions, key=_upper):
            values.append((imp, exceptions[imp] or ""))
        per_entry.append((first, len(values) - first))
    hash_off = values_off + len(values) * _VALUE.size
    str_off = hash_off + count * _HASH.size

    strings = bytearray()
    pool: dict[str, tuple[int, int]] = {}

    def put(s: str) -> tuple[int, int]:
        if not s:
            return 0, 0
        if s not in pool:
            b = s.encode("utf-16le")
            pool[s] = (str_off + len(strings), len(b))
            strings.extend(b)
        return pool[s]

    out = bytearray(str_off)
    hashes = []
    for i, n in enumerate(names):
        no, nl = put(n)
        hashed = _hashed_part(n)
        first, vc = per_entry[i]
        sealed = API_SET_SCHEMA_ENTRY_FLAGS_SEALED if _lower(n).startswith("api-") else 0
        _ENTRY.pack_into(out, entry_off + i * _ENTRY.size, sealed, no, nl, len(hashed) * 2,
                         values_off + first * _VALUE.size if vc else 0, vc)
        hashes.append((api_set_hash(hashed, hash_factor), i))
    for j, (imp, host) in enumerate(values):
        ino, inl = put(imp)
        hvo, hvl = put(host)
        _VALUE.pack_into(out, values_off + j * _VALUE.size, 0, ino, inl, hvo, hvl)
    hashes.sort()
    for k in range(1, len(hashes)):
        if hashes[k][0] == hashes[k - 1][0]:
            raise ValueError(f"API set hash collision: {names[hashes[k][1]]} / {names[hashes[k - 1][1]]}")
    for k, (h, i) in enumerate(hashes):
        _HASH.pack_into(out, hash_off + k * _HASH.size, h, i)
    out += strings
    out += b"\0" * (-len(out) % 4)
    _NS.pack_into(out, 0, API_SET_SCHEMA_VERSION, len(out), flags, count, entry_off, hash_off, hash_factor)
    return bytes(out)


# ----------------------------------------------------------------------------------------------
# decoder / resolver
# ----------------------------------------------------------------------------------------------
class ApiSetSchema:
    """A version-6 API set schema blob, read the way ntdll reads PEB.ApiSetMap."""

    def __init__(self, blob: bytes):
        self.blob = bytes(blob)
        if len(self.blob) < _NS.size:
            raise ValueError("API set schema too short")
        (self.version, self.size, self.flags, self.count, self.entry_offset,
         self.hash_offset, self.hash_factor) = _NS.unpack_from(self.blob, 0)
        if self.version != API_SET_SCHEMA_VERSION:
            raise ValueError(f"unsupported API set schema version {self.version}")
        end = max(self.entry_offset + self.count * _ENTRY.size, self.hash_offset + self.count * _HASH.size)
        if end > len(self.blob):
            raise ValueError("API set schema truncated")

    # -- raw access -----------------------------------------------------------------------
    def _str(self, off: int, length: int) -> str:
        return self.blob[off:off + length].decode("utf-16le")

    def entry(self, i: int) -> tuple:
        """(flags, name, hashed_length_in_chars, value_offset, value_count)"""
        f, no, nl, hl, vo, vc = _ENTRY.unpack_from(self.blob, self.entry_offset + i * _ENTRY.size)
        return f, self._str(no, nl), hl // 2, vo, vc

    def values(self, i: int) -> list[tuple[str, str]]:
        """[(importing module, host)] of entry i; value 0 has no importing module."""
        _f, _n, _h, vo, vc = self.entry(i)
        out = []
        for j in range(vc):
            _vf, no, nl, ho, hl = _VALUE.unpack_from(self.blob, vo + j * _VALUE.size)
            out.append((self._str(no, nl), self._str(ho, hl)))
        return out

    def hash_entry(self, k: int) -> tuple[int, int]:
        return _HASH.unpack_from(self.blob, self.hash_offset + k * _HASH.size)

    def names(self) -> list[str]:
        """Contract names as stored (without ".dll")."""
        return [self.entry(i)[1] for i in range(self.count)]

    def mapping(self) -> dict:
        """The same shape as load_mapping()."""
        out = {}
        for i in range(self.count):
            vals = self.values(i)
            default = vals[0][1] or None if vals else None
            out[self.entry(i)[1]] = [default, {imp: host for imp, host in vals[1:]}]
        return out

    # -- resolution -----------------------------------------------------------------------
    def find(self, name: str) -> int | None:
        """Index of the entry for ``name`` (with or without .dll), or None."""
        name = _strip_dll(name)
        if len(name) < 4 or _lower(name[:4]) not in ("api-", "ext-"):
            return None
        hashed = _lower(_hashed_part(name))
        h = api_set_hash(hashed, self.hash_factor)
        lo, hi = 0, self.count - 1
        while lo <= hi:
            mid = (lo + hi) // 2
            mh, idx = self.hash_entry(mid)
            if h < mh:
                hi = mid - 1
            elif h > mh:
                lo = mid + 1
            else:
                _f, ename, hlen, _vo, _vc = self.entry(idx)
                if hlen == len(hashed) and _lower(ename[:hlen]) == hashed:
                    return idx
                return None
        return None

    def resolve(self, name: str, parent: str | None = None) -> str | None:
        """Host DLL for API set ``name`` imported by ``parent`` (a module name), or None."""
        idx = self.find(name)
        if idx is None:
            return None
        vals = self.values(idx)
        if not vals:
            return None
        host = vals[0][1]
        if parent and len(vals) > 1:
            p = _upper(parent.replace("/", "\\").rsplit("\\", 1)[-1])
            lo, hi = 1, len(vals) - 1
            while lo <= hi:
                mid = (lo + hi) // 2
                m = _upper(vals[mid][0])
                if p < m:
                    hi = mid - 1
                elif p > m:
                    lo = mid + 1
                else:
                    host = vals[mid][1]
                    break
        return host or None


def _valid_blob(blob: bytes) -> bool:
    if len(blob) < _NS.size:
        return False
    version, size, _flags, _count, _eo, _ho, factor = _NS.unpack_from(blob, 0)
    return version == API_SET_SCHEMA_VERSION and size == len(blob) and factor == HASH_FACTOR


@lru_cache(maxsize=1)
def default_blob() -> bytes:
    """encode_v6(load_mapping()), kept in the cache directory (keyed by the mapping and the encoder) so that
    a process start reads it instead of encoding it again."""
    from winhatch.cache import cached, file_identity
    inputs = f"{API_SET_SCHEMA_VERSION}:{HASH_FACTOR}\n{file_identity(str(_JSON))}\n{file_identity(__file__)}"
    return cached("apiset-v6", inputs, lambda: encode_v6(load_mapping()),
                  keep=lambda blob: isinstance(blob, bytes) and _valid_blob(blob))


@lru_cache(maxsize=1)
def default_schema() -> ApiSetSchema:
    """The schema built from the shipped mapping (what a new process gets)."""
    return ApiSetSchema(default_blob())


def resolve(name: str, parent: str | None = None) -> str | None:
    return default_schema().resolve(name, parent)
