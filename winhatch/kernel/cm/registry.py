"""The configuration manager: an in-memory registry with NtOpenKey / NtCreateKey / NtQueryValueKey /
NtEnumerateKey semantics.

Names: NT paths ("\\Registry\\Machine\\SOFTWARE\\...") or Win32 roots ("HKEY_LOCAL_MACHINE\\...", "HKLM\\...",
HKCU, HKCR, HKU, HKCC). HKCU is \\Registry\\User\\<user SID>; HKCR is \\Registry\\Machine\\SOFTWARE\\Classes
(the per-user merge of real Windows is not modelled); HKCC is the CurrentControlSet hardware profile.

Lookups are case-insensitive; stored names keep their case. Subkeys enumerate in case-insensitive sorted
order (as the hive's index does), values in creation order. Symbolic-link keys (REG_LINK
"SymbolicLinkValue", e.g. CurrentControlSet → ControlSet001) are followed.

WoW64 view (`wow64=True`, i.e. KEY_WOW64_32KEY or a 32-bit process): HKLM\\SOFTWARE\\X → HKLM\\SOFTWARE\\
WOW6432Node\\X except the shared keys of Microsoft's "Registry Keys Affected by WOW64" list (Image File
Execution Options, Classes except CLSID/Interface/..., ProfileList, Time Zones, Policies, ...).
HKLM\\SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion is *redirected* (as on Windows); the default data
carries a WOW6432Node copy of its values, made at load time with the "$copy_values" directive.
Classes\\CLSID (and Interface, DirectShow, Media Type, MediaFoundation) go to Classes\\WOW6432Node\\...
"""
from __future__ import annotations

import copy
import struct
import time
from pathlib import Path
from typing import Any, Callable, Iterable

from winhatch.ntstatus import (
    NtStatusError,
    STATUS_ACCESS_DENIED,
    STATUS_CANNOT_DELETE,
    STATUS_INVALID_PARAMETER,
    STATUS_KEY_DELETED,
    STATUS_NO_MORE_ENTRIES,
    STATUS_OBJECT_NAME_INVALID,
    STATUS_OBJECT_NAME_COLLISION,
    STATUS_OBJECT_NAME_NOT_FOUND,
    STATUS_OBJECT_PATH_NOT_FOUND,
    STATUS_OBJECT_PATH_SYNTAX_BAD,
)

REG_NONE = 0
REG_SZ = 1
REG_EXPAND_SZ = 2
REG_BINARY = 3
REG_DWORD = 4
REG_DWORD_LITTLE_ENDIAN = 4
REG_DWORD_BIG_ENDIAN = 5
REG_LINK = 6
REG_MULTI_SZ = 7
REG_RESOURCE_LIST = 8
REG_FULL_RESOURCE_DESCRIPTOR = 9
REG_RESOURCE_REQUIREMENTS_LIST = 10
REG_QWORD = 11
REG_QWORD_LITTLE_ENDIAN = 11

TYPE_NAMES = {REG_NONE: "REG_NONE", REG_SZ: "REG_SZ", REG_EXPAND_SZ: "REG_EXPAND_SZ", REG_BINARY: "REG_BINARY",
              REG_DWORD: "REG_DWORD", REG_DWORD_BIG_ENDIAN: "REG_DWORD_BIG_ENDIAN", REG_LINK: "REG_LINK",
              REG_MULTI_SZ: "REG_MULTI_SZ", REG_RESOURCE_LIST: "REG_RESOURCE_LIST",
              REG_FULL_RESOURCE_DESCRIPTOR: "REG_FULL_RESOURCE_DESCRIPTOR",
              REG_RESOURCE_REQUIREMENTS_LIST: "REG_RESOURCE_REQUIREMENTS_LIST", REG_QWORD: "REG_QWORD"}
TYPES_BY_NAME = {v: k for k, v in TYPE_NAMES.items()}

MAX_KEY_NAME = 256      # characters of one component (Wine's ntdll/tests/om.c: 256 is created, 257 refused)
MAX_VALUE_NAME = 16383
LINK_VALUE = "SymbolicLinkValue"
DEFAULT_USER_SID = "S-1-5-21-3623811015-3361044348-30300820-1001"
# 2023-01-10 09:00:00 UTC: the last-write time of everything the default data loads
DEFAULT_TIMESTAMP = 133177860000000000
EPOCH_AS_FILETIME = 116444736000000000

_ROOT_ALIASES = {
    "HKEY_LOCAL_MACHINE": ["MACHINE"], "HKLM": ["MACHINE"],
    "HKEY_USERS": ["USER"], "HKU": ["USER"],
    "HKEY_CLASSES_ROOT": ["MACHINE", "SOFTWARE", "Classes"], "HKCR": ["MACHINE", "SOFTWARE", "Classes"],
    "HKEY_CURRENT_CONFIG": ["MACHINE", "SYSTEM", "CurrentControlSet", "Hardware Profiles", "Current"],
    "HKCC": ["MACHINE", "SYSTEM", "CurrentControlSet", "Hardware Profiles", "Current"],
}

# Microsoft, "Registry Keys Affected by WOW64" (Windows 7 and later): shared below HKLM\SOFTWARE
_WOW64_SHARED = [
    "Classes", "Clients", "Microsoft\\COM3", "Microsoft\\Cryptography\\Calais\\Current",
    "Microsoft\\Cryptography\\Calais\\Readers", "Microsoft\\Cryptography\\Services", "Microsoft\\CTF\\SystemShared",
    "Microsoft\\CTF\\TIP", "Microsoft\\DFS", "Microsoft\\Driver Signing", "Microsoft\\EnterpriseCertificates",
    "Microsoft\\EventSystem", "Microsoft\\MSMQ", "Microsoft\\Non-Driver Signing", "Microsoft\\Notepad\\DefaultFonts",
    "Microsoft\\OLE", "Microsoft\\RAS", "Microsoft\\RPC", "Microsoft\\SOFTWARE\\Microsoft\\Shared Tools\\MSInfo",
    "Microsoft\\SystemCertificates", "Microsoft\\TermServLicensing", "Microsoft\\TransactionServer",
    "Microsoft\\Windows\\CurrentVersion\\App Paths", "Microsoft\\Windows\\CurrentVersion\\Control Panel\\Cursors\\Schemes",
    "Microsoft\\Windows\\CurrentVersion\\Explorer\\AutoplayHandlers",
    "Microsoft\\Windows\\CurrentVersion\\Explorer\\DriveIcons", "Microsoft\\Windows\\CurrentVersion\\Explorer\\KindMap",
    "Microsoft\\Windows\\CurrentVersion\\Group Policy", "Microsoft\\Windows\\CurrentVersion\\Policies",
    "Microsoft\\Windows\\CurrentVersion\\PreviewHandlers", "Microsoft\\Windows\\CurrentVersion\\Setup",
    "Microsoft\\Windows\\CurrentVersion\\Telephony\\Locations", "Microsoft\\Windows NT\\CurrentVersion\\Console",
    "Microsoft\\Windows NT\\CurrentVersion\\FontDpi", "Microsoft\\Windows NT\\CurrentVersion\\FontLink",
    "Microsoft\\Windows NT\\CurrentVersion\\FontMapper", "Microsoft\\Windows NT\\CurrentVersion\\Fonts",
    "Microsoft\\Windows NT\\CurrentVersion\\FontSubstitutes", "Microsoft\\Windows NT\\CurrentVersion\\Gre_Initialize",
    "Microsoft\\Windows NT\\CurrentVersion\\Image File Execution Options",
    "Microsoft\\Windows NT\\CurrentVersion\\LanguagePack", "Microsoft\\Windows NT\\CurrentVersion\\NetworkCards",
    "Microsoft\\Windows NT\\CurrentVersion\\Perflib", "Microsoft\\Windows NT\\CurrentVersion\\Ports",
    "Microsoft\\Windows NT\\CurrentVersion\\Print", "Microsoft\\Windows NT\\CurrentVersion\\ProfileList",
    "Microsoft\\Windows NT\\CurrentVersion\\Time Zones", "Policies", "RegisteredApplications",
]
_WOW64_SHARED_KEYS = [tuple(s.upper().split("\\")) for s in _WOW64_SHARED]
# below ...\Classes these are redirected to Classes\WOW6432Node\...
_WOW64_CLASSES_REDIRECTED = {"CLSID", "DIRECTSHOW", "INTERFACE", "MEDIA TYPE", "MEDIAFOUNDATION"}
WOW64_NODE = "WOW6432Node"


def _fold(s: str) -> str:
    if s.isascii():  # every ASCII character upcases to exactly one character: one call instead of a loop
        return s.upper()
    # the registry upcases UTF-16 code units: characters beyond the BMP (surrogate pairs) keep their case
    return "".join(c.upper() if len(c.upper()) == 1 and ord(c) < 0x10000 else c for c in s)


def filetime_now() -> int:
    return time.time_ns() // 100 + EPOCH_AS_FILETIME


# ---------------------------------------------------------------------------------------------------
# value encodings
# ---------------------------------------------------------------------------------------------------
def encode(type_: int, value: Any) -> bytes:
    """Python value → the raw data RegSetValueEx stores (REG_SZ: UTF-16LE with its NUL, ...)."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    if type_ in (REG_SZ, REG_EXPAND_SZ):
        return str(value).encode("utf-16-le", "surrogatepass") + b"\0\0"
    if type_ == REG_LINK:
        return str(value).encode("utf-16-le", "surrogatepass")
    if type_ == REG_MULTI_SZ:
        if isinstance(value, str):
            raise TypeError("REG_MULTI_SZ takes a list of strings")
        items = list(value)
        if not items:
            return b"\0\0"
        for s in items:
            if s == "":
                raise ValueError("REG_MULTI_SZ cannot hold an empty string (it would end the list)")
        return b"".join(s.encode("utf-16-le", "surrogatepass") + b"\0\0" for s in items) + b"\0\0"
    if type_ in (REG_DWORD, REG_DWORD_BIG_ENDIAN):
        v = int(value)
        if not -0x80000000 <= v <= 0xFFFFFFFF:
            raise ValueError("REG_DWORD out of range")
        return struct.pack(">I" if type_ == REG_DWORD_BIG_ENDIAN else "<I", v & 0xFFFFFFFF)
    if type_ == REG_QWORD:
        v = int(value)
        if not -(1 << 63) <= v < (1 << 64):
            raise ValueError("REG_QWORD out of range")
        return struct.pack("<Q", v & 0xFFFFFFFFFFFFFFFF)
    if value is None:
        return b""
    if isinstance(value, str):
        return bytes.fromhex(value)
    raise TypeError(f"cannot encode {type(value).__name__} as {TYPE_NAMES.get(type_, type_)}")


def _utf16(data: bytes) -> str:
    if len(data) % 2:
        data = data[:-1]
    return data.decode("utf-16-le", "surrogatepass")


def decode(type_: int, data: bytes) -> Any:
    """Raw data → Python value: str for REG_SZ/EXPAND_SZ/LINK (up to the first NUL), list[str] for
    REG_MULTI_SZ, int for a 4-byte REG_DWORD / 8-byte REG_QWORD, bytes otherwise (and for odd sizes)."""
    data = bytes(data)
    if type_ in (REG_SZ, REG_EXPAND_SZ):
        return _utf16(data).split("\0", 1)[0]
    if type_ == REG_LINK:
        return _utf16(data)
    if type_ == REG_MULTI_SZ:
        out = []
        for s in _utf16(data).split("\0"):
            if s == "":
                break
            out.append(s)
        return out
    if type_ == REG_DWORD and len(data) == 4:
        return struct.unpack("<I", data)[0]
    if type_ == REG_DWORD_BIG_ENDIAN and len(data) == 4:
        return struct.unpack(">I", data)[0]
    if type_ == REG_QWORD and len(data) == 8:
        return struct.unpack("<Q", data)[0]
    return data


def _type_of(t: Any) -> int:
    if isinstance(t, int):
        return t
    name = str(t).upper()
    if not name.startswith("REG_"):
        name = "REG_" + name
    if name not in TYPES_BY_NAME:
        raise ValueError(f"unknown registry type {t!r}")
    return TYPES_BY_NAME[name]


# ---------------------------------------------------------------------------------------------------
# the WoW64 view
def _wow64_point(up: list[str]) -> tuple[int | None, str]:
    """Where a WOW6432Node is inserted in a path (upper-cased components below \\REGISTRY) and which rule
    says whether it is: "software" (HKLM\\SOFTWARE\\X, except the shared keys) or "classes" (a classes root:
    only CLSID, Interface, ... are redirected)."""
    if len(up) >= 3 and up[0] == "MACHINE" and up[1] == "SOFTWARE":
        return (3, "classes") if up[2] == "CLASSES" else (2, "software")
    if len(up) >= 4 and up[0] == "USER" and up[2] == "SOFTWARE" and up[3] == "CLASSES":
        return 4, "classes"
    if len(up) >= 2 and up[0] == "USER" and up[1].endswith("_CLASSES"):
        return 2, "classes"
    return None, ""


def _wow64_redirected(kind: str, rest: list[str]) -> bool:
    if kind == "classes":
        return rest[0] in _WOW64_CLASSES_REDIRECTED
    return not any(tuple(rest[:len(shared)]) == shared for shared in _WOW64_SHARED_KEYS)


def wow64_view(comps: list[str], fixed: int = 0, handle32: bool = False, view32: bool = True) -> list[str]:
    """The 32-bit view of a path below \\REGISTRY (components), as a WoW64 process's opens see it (Windows 10;
    Wine's ntdll/tests/reg.c test_redirection, which passes on Windows):

    - below a redirection point (HKLM\\SOFTWARE, a classes root) a name the shared-key list does not hold gets a
      WOW6432Node: SOFTWARE\\X → SOFTWARE\\WOW6432Node\\X, Classes\\CLSID → Classes\\WOW6432Node\\CLSID;
    - a WOW6432Node the name already holds at that point is the 32-bit view spelled out: it is taken away and
      the rule applied again (SOFTWARE\\WOW6432Node\\X stays, Classes\\WOW6432Node\\X is the shared Classes\\X);
    - comps[:fixed] is the key of the handle a relative open starts from; when that handle was itself opened
      in the 32-bit view (handle32) at the redirection point, it stands for the point's WOW6432Node: the
      relative name goes below the node as written (a "WOW6432Node\\X" below it is the node's own
      WOW6432Node\\X, not found on Windows) — even for an open asking for the 64-bit view (view32 False: only
      this rule applies)."""
    up = [_fold(c) for c in comps]
    node = _fold(WOW64_NODE)
    for _ in range(len(comps) + 1):
        point, kind = _wow64_point(up)
        if point is None or len(comps) <= point:
            return comps
        rest = up[point:]
        if handle32 and fixed == point:
            return comps[:point] + [WOW64_NODE] + comps[point:] if _wow64_redirected(kind, rest) else comps
        if not view32:
            return comps
        if rest[0] == node:
            if len(comps) == point + 1 or (handle32 and fixed > point):
                return comps             # the node itself, or a key below a handle already in the node
            comps, up = comps[:point] + comps[point + 1:], up[:point] + up[point + 1:]
            fixed = max(0, fixed - 1) if fixed > point else fixed
            continue
        return comps[:point] + [WOW64_NODE] + comps[point:] if _wow64_redirected(kind, rest) else comps
    return comps


# ---------------------------------------------------------------------------------------------------
class RegKey:
    """One key: its name, values (creation order) and subkeys (looked up case-insensitively)."""

    def __init__(self, registry: "Registry", name: str, parent: "RegKey | None", timestamp: int):
        self.registry = registry
        self.name = name
        self.parent = parent
        self._subkeys: dict[str, RegKey] = {}
        self._sorted: list[str] | None = None
        self._values: dict[str, tuple[str, int, bytes]] = {}
        self.last_write_time = timestamp
        self.is_link = False
        self.volatile = False
        self.class_name = ""
        self.deleted = False

    def __repr__(self) -> str:
        return f"<RegKey {self.path}>"

    # --- identity -----------------------------------------------------------------------------------
    @property
    def path(self) -> str:
        """The full NT name as NtQueryKey(KeyNameInformation) gives it: \\REGISTRY\\MACHINE\\SOFTWARE\\..."""
        parts = []
        k: RegKey | None = self
        while k is not None and k.parent is not None:
            parts.append(k.name)
            k = k.parent
        return "\\REGISTRY" + "".join("\\" + p for p in reversed(parts))

    def _alive(self) -> None:
        if self.deleted:
            raise NtStatusError(STATUS_KEY_DELETED, f"key was deleted: {self.name}")

    def _touch(self) -> None:
        self.last_write_time = self.registry.clock()

    # --- subkeys ------------------------------------------------------------------------------------
    def subkey(self, name: str) -> "RegKey | None":
        return self._subkeys.get(_fold(name))

    def subkey_names(self) -> list[str]:
        self._alive()
        if self._sorted is None:
            self._sorted = sorted((k.name for k in self._subkeys.values()),
                                  key=lambda s: _fold(s).encode("utf-16-be"))
        return list(self._sorted)

    def subkeys(self) -> list["RegKey"]:
        return [self._subkeys[_fold(n)] for n in self.subkey_names()]

    def enumerate_key(self, index: int) -> str:
        """NtEnumerateKey: the index-th subkey name in sorted order; STATUS_NO_MORE_ENTRIES past the end."""
        names = self.subkey_names()
        if index < 0 or index >= len(names):
            raise NtStatusError(STATUS_NO_MORE_ENTRIES, "no more subkeys")
        return names[index]

    def _add_subkey(self, name: str, timestamp: int | None = None) -> "RegKey":
        if not name or "\\" in name or len(name) > MAX_KEY_NAME:
            raise NtStatusError(STATUS_INVALID_PARAMETER if len(name) > MAX_KEY_NAME else STATUS_OBJECT_NAME_INVALID,
                                f"invalid key name {name!r}")
        k = RegKey(self.registry, name, self, self.registry.clock() if timestamp is None else timestamp)
        self._subkeys[_fold(name)] = k
        self._sorted = None
        self.last_write_time = k.last_write_time
        return k

    def rename(self, new_name: str) -> None:
        """NtRenameKey: a new last component; a sibling (or the key itself) of that name is
        STATUS_CANNOT_DELETE, a hive root cannot be renamed."""
        self._alive()
        parent = self.parent
        if parent is None or parent.parent is None or parent is self.registry.root:
            raise NtStatusError(STATUS_ACCESS_DENIED, "a hive cannot be renamed")
        if not new_name or "\\" in new_name or len(new_name) > MAX_KEY_NAME:
            raise NtStatusError(STATUS_INVALID_PARAMETER, f"invalid key name {new_name!r}")
        if parent.subkey(new_name) is not None:
            raise NtStatusError(0xC0000121, f"{new_name!r} exists")     # STATUS_CANNOT_DELETE
        del parent._subkeys[_fold(self.name)]
        self.name = new_name
        parent._subkeys[_fold(new_name)] = self
        parent._sorted = None
        parent._touch()

    def open(self, path: str, wow64: bool = False) -> "RegKey":
        return self.registry.open_key(path, self, wow64=wow64)

    def create(self, path: str, wow64: bool = False, intermediates: bool = True) -> "RegKey":
        return self.registry.create_key(path, self, wow64=wow64, intermediates=intermediates)[0]

    # --- values -------------------------------------------------------------------------------------
    def value_names(self) -> list[str]:
        self._alive()
        return [v[0] for v in self._values.values()]

    def query_value(self, name: str) -> tuple[int, bytes]:
        """NtQueryValueKey: (type, raw data); STATUS_OBJECT_NAME_NOT_FOUND if absent. "" is the default value."""
        self._alive()
        v = self._values.get(_fold(name or ""))
        if v is None:
            raise NtStatusError(STATUS_OBJECT_NAME_NOT_FOUND, f"no value {name!r} in {self.path}")
        return v[1], v[2]

    def get(self, name: str, default: Any = None) -> Any:
        """The decoded value, or default."""
        try:
            return decode(*self.query_value(name))
        except NtStatusError:
            return default

    def set_value(self, name: str, type_: int, data: bytes) -> None:
        """NtSetValueKey: raw data stored as given (a new value goes last in enumeration order)."""
        self._alive()
        name = name or ""
        if len(name) > MAX_VALUE_NAME:
            raise NtStatusError(STATUS_INVALID_PARAMETER, "value name too long")
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError("set_value takes raw bytes; use encode(type, value) or set()")
        key = _fold(name)
        old = self._values.get(key)
        self._values[key] = (old[0] if old else name, int(type_) & 0xFFFFFFFF, bytes(data))
        self._touch()

    def set(self, name: str, type_: int, value: Any) -> None:
        """set_value with encode(): key.set("Debugger", REG_SZ, "ntsd.exe")."""
        self.set_value(name, type_, encode(type_, value))

    def delete_value(self, name: str) -> None:
        """NtDeleteValueKey: STATUS_OBJECT_NAME_NOT_FOUND if absent."""
        self._alive()
        key = _fold(name or "")
        if key not in self._values:
            raise NtStatusError(STATUS_OBJECT_NAME_NOT_FOUND, f"no value {name!r} in {self.path}")
        del self._values[key]
        self._touch()

    def enumerate_value(self, index: int) -> tuple[str, int, bytes]:
        """NtEnumerateValueKey: (name, type, data) in creation order; STATUS_NO_MORE_ENTRIES past the end."""
        self._alive()
        vals = list(self._values.values())
        if index < 0 or index >= len(vals):
            raise NtStatusError(STATUS_NO_MORE_ENTRIES, "no more values")
        return vals[index]

    def values(self) -> dict[str, Any]:
        """{name: decoded value} in enumeration order."""
        return {n: decode(t, d) for n, t, d in self._values.values()}

    # --- NtQueryKey(KeyFullInformation) -------------------------------------------------------------
    def query_info(self) -> dict:
        self._alive()
        vals = list(self._values.values())
        return {
            "last_write_time": self.last_write_time,
            "subkeys": len(self._subkeys),
            "max_name_len": max((len(k.name) * 2 for k in self._subkeys.values()), default=0),
            "max_class_len": max((len(k.class_name) * 2 for k in self._subkeys.values()), default=0),
            "values": len(vals),
            "max_value_name_len": max((len(v[0]) * 2 for v in vals), default=0),
            "max_value_data_len": max((len(v[2]) for v in vals), default=0),
            "class_name": self.class_name,
        }


# ---------------------------------------------------------------------------------------------------
class Registry:
    """The registry: \\REGISTRY with MACHINE and USER below it."""

    def __init__(self, *, user_sid: str = DEFAULT_USER_SID, clock: Callable[[], int] | None = None):
        self.clock = clock or filetime_now
        self.user_sid = user_sid
        self.log: list[dict] = []
        self.log_limit = 100_000
        ts = DEFAULT_TIMESTAMP
        self.root = RegKey(self, "REGISTRY", None, ts)
        machine = self.root._add_subkey("MACHINE", ts)
        user = self.root._add_subkey("USER", ts)
        self.root._add_subkey("A", ts)
        self.root._add_subkey("WC", ts)
        for hive in ("BCD00000000", "HARDWARE", "SAM", "SECURITY", "SOFTWARE", "SYSTEM"):
            machine._add_subkey(hive, ts)
        for hive in (".DEFAULT", "S-1-5-18", "S-1-5-19", "S-1-5-20", user_sid, user_sid + "_Classes"):
            user._add_subkey(hive, ts)

    # --- construction -------------------------------------------------------------------------------
    @classmethod
    def default(cls, **kw) -> "Registry":
        """The Windows 10 22H2 registry the process-creation stages read (winhatch/kernel/cm/registry.json), with
        the machine's services and event logs (scm_services.json: what the service control manager lists).

        Both files are compiled (_compile: JSON parsed, values encoded) once and kept in the start-up cache
        by the identity of the files and of this module: parsing and encoding them was ~5 ms of every start."""
        from winhatch.cache import cached, file_identity
        here = Path(__file__)
        files = (here.with_name("registry.json"), here.with_name("scm_services.json"))

        def compile_both():
            base = cls._read(files[0])
            return base.get("user_sid"), cls._compile(base), cls._compile(cls._read(files[1]))

        inputs = "\n".join(file_identity(str(f)) for f in (*files, here))
        user_sid, base, services = cached("registry-default", inputs, compile_both,
                                          keep=lambda v: isinstance(v, tuple) and len(v) == 3)
        if user_sid is not None and "user_sid" not in kw:
            kw["user_sid"] = user_sid
        reg = cls(**kw)
        reg._apply_compiled(base, timestamp=DEFAULT_TIMESTAMP)
        reg._apply_compiled(services, timestamp=DEFAULT_TIMESTAMP)
        return reg

    @classmethod
    def load(cls, source: str | Path | dict, **kw) -> "Registry":
        data = cls._read(source)
        if "user_sid" in data and "user_sid" not in kw:
            kw["user_sid"] = data["user_sid"]
        reg = cls(**kw)
        reg._apply(data, timestamp=DEFAULT_TIMESTAMP)
        return reg

    @staticmethod
    def _read(source: str | Path | dict) -> dict:
        if isinstance(source, dict):
            return source
        import json   # (a start reads the compiled registry from the cache: json is not on its path)
        return json.loads(Path(source).read_text(encoding="utf-8"))

    def merge(self, overrides: str | Path | dict) -> None:
        """Apply another description on top: keys are created, values replaced; a value given as null is
        deleted, a key given as null is deleted with its subtree."""
        self._apply(self._read(overrides), timestamp=None)

    def _apply(self, data: dict, timestamp: int | None) -> None:
        self._apply_compiled(self._compile(data), timestamp)

    @staticmethod
    def _compile(data: dict) -> list:
        """A registry description as plain data _apply_compiled applies (and marshal stores): per key, None
        (delete it with its subtree) or (link target | None, key to copy missing values from | None,
        [(value name, type, raw data) | (value name, None, None) to delete it])."""
        out = []
        for path, spec in data.get("keys", {}).items():
            if spec is None:
                out.append((path, None))
                continue
            values = []
            for name, v in (spec.get("values") or {}).items():
                if v is None:
                    values.append((name, None, None))
                    continue
                t = _type_of(v["type"])
                values.append((name, t, bytes.fromhex(v["hex"]) if "hex" in v else encode(t, v.get("data"))))
            link = spec.get("link")
            out.append((path, (str(link) if link else None, spec.get("$copy_values") or None, values)))
        return out

    def _apply_compiled(self, ops: list, timestamp: int | None) -> None:
        copies = []
        for path, spec in ops:
            if spec is None:
                try:
                    self.delete_key(path, recursive=True)
                except NtStatusError:
                    pass
                continue
            link, copy_from, values = spec
            key = self._create_raw(path, timestamp)
            if link:
                key.is_link = True
                key._values[_fold(LINK_VALUE)] = (LINK_VALUE, REG_LINK, encode(REG_LINK, link))
            if copy_from:
                copies.append((key, copy_from))
            for name, t, raw in values:
                if t is None:
                    key._values.pop(_fold(name), None)
                else:
                    key._values[_fold(name)] = (name, t, raw)
            if timestamp is not None:
                key.last_write_time = timestamp
        for key, src in copies:
            other = self.open_key(src)
            for k, v in other._values.items():
                key._values.setdefault(k, v)

    def _create_raw(self, path: str, timestamp: int | None) -> RegKey:
        comps = self._absolute(path)
        k = self.root
        for c in comps:
            nxt = k.subkey(c)
            if nxt is None:
                nxt = k._add_subkey(c, timestamp)
            k = nxt
        return k

    # --- names --------------------------------------------------------------------------------------
    def _absolute(self, path: str) -> list[str]:
        """Components below \\REGISTRY for an absolute NT or Win32-root path. A NUL is an ordinary character of
        a counted key name (Wine's ntdll/tests/om.c test_null_in_object_name, as on Windows)."""
        if path.startswith("\\"):
            parts = [p for p in path.split("\\") if p]
            if not parts or _fold(parts[0]) != "REGISTRY":
                raise NtStatusError(STATUS_OBJECT_PATH_NOT_FOUND if len(parts) > 1 else STATUS_OBJECT_NAME_NOT_FOUND,
                                    f"not a registry path: {path!r}")
            return parts[1:]
        parts = [p for p in path.split("\\") if p]
        if not parts:
            raise NtStatusError(STATUS_OBJECT_PATH_SYNTAX_BAD, "empty key name")
        root = _fold(parts[0])
        if root in ("HKEY_CURRENT_USER", "HKCU"):
            return ["USER", self.user_sid] + parts[1:]
        if root in _ROOT_ALIASES:
            return list(_ROOT_ALIASES[root]) + parts[1:]
        raise NtStatusError(STATUS_OBJECT_PATH_SYNTAX_BAD, f"relative key name without a root: {path!r}")

    def _components(self, path: str, parent: RegKey | None) -> list[str]:
        comps = self._components_unchecked(path, parent)
        if any(len(c) > MAX_KEY_NAME for c in comps):
            # a component too long is refused by an open as by a create (Wine's ntdll/tests/om.c)
            raise NtStatusError(STATUS_INVALID_PARAMETER, "a key name component longer than 256 characters")
        return comps

    def _components_unchecked(self, path: str, parent: RegKey | None) -> list[str]:
        if parent is None:
            return self._absolute(path)
        parent._alive()
        if path.startswith("\\"):
            raise NtStatusError(STATUS_OBJECT_PATH_SYNTAX_BAD, "a name relative to a key must not start with '\\'")
        base = []
        k = parent
        while k.parent is not None:
            base.append(k.name)
            k = k.parent
        return list(reversed(base)) + [p for p in path.split("\\") if p]

    def wow64_components(self, comps: list[str], fixed: int = 0, handle32: bool = False,
                         view32: bool = True) -> list[str]:
        """The 32-bit view of a path below \\REGISTRY (components): see wow64_view."""
        return wow64_view(comps, fixed, handle32, view32)

    def _walk(self, comps: list[str], *, create: bool, intermediates: bool, open_link: bool,
              depth: int = 0) -> tuple[RegKey, bool]:
        if depth > 16:
            # a link loop (Windows 10: STATUS_INVALID_PARAMETER, Wine's ntdll/tests/reg.c test_symlinks)
            raise NtStatusError(STATUS_INVALID_PARAMETER, "too many registry link hops")
        k = self.root
        created = False
        for i, c in enumerate(comps):
            last = i == len(comps) - 1
            nxt = k.subkey(c)
            if nxt is None:
                if not create or (not last and not intermediates):
                    raise NtStatusError(STATUS_OBJECT_NAME_NOT_FOUND, f"no key {c!r} below {k.path}")
                if k is self.root or k.parent is self.root:
                    raise NtStatusError(STATUS_ACCESS_DENIED, "cannot create a hive")
                nxt = k._add_subkey(c)
                created = True
            if nxt.is_link and not (last and open_link):
                target = decode(REG_LINK, nxt._values.get(_fold(LINK_VALUE), ("", REG_LINK, b""))[2])
                if not target:
                    raise NtStatusError(STATUS_OBJECT_NAME_NOT_FOUND, f"{nxt.path}: a link without a target")
                if not target.startswith("\\"):
                    # a relative target (Windows 10 1607 and later: STATUS_OBJECT_NAME_INVALID)
                    raise NtStatusError(STATUS_OBJECT_NAME_INVALID, f"{nxt.path}: a relative link target")
                return self._walk(self._absolute(target) + comps[i + 1:], create=create,
                                  intermediates=intermediates, open_link=open_link, depth=depth + 1)
            k = nxt
        return k, created

    # --- the API ------------------------------------------------------------------------------------
    def _logged(self, op: str, path: str, fn):
        status = 0
        try:
            return fn()
        except NtStatusError as e:
            status = e.status
            raise
        finally:
            if len(self.log) < self.log_limit:
                self.log.append({"op": op, "path": path, "status": status})

    def open_key(self, path: str, parent: RegKey | None = None, *, wow64: bool = False,
                 open_link: bool = False, handle32: bool = False) -> RegKey:
        """NtOpenKey: STATUS_OBJECT_NAME_NOT_FOUND if any component is missing. wow64: the 32-bit view;
        handle32: `parent` is a handle opened in that view (wow64_view)."""
        def go():
            comps = self._components(path, parent)
            if wow64 or handle32:
                comps = self.wow64_components(comps, self._depth(parent), handle32, wow64)
            return self._walk(comps, create=False, intermediates=False, open_link=open_link)[0]
        return self._logged("open_key", self._shown(path, parent), go)

    def create_key(self, path: str, parent: RegKey | None = None, *, wow64: bool = False,
                   intermediates: bool = False, volatile: bool = False, link: bool = False,
                   open_link: bool = False, handle32: bool = False) -> tuple[RegKey, bool]:
        """NtCreateKey: (key, created). Like NtCreateKey only the last component is created
        (STATUS_OBJECT_NAME_NOT_FOUND if its parent is missing) unless intermediates=True (RegCreateKeyEx)."""
        def go():
            comps = self._components(path, parent)
            if not comps:
                raise NtStatusError(STATUS_ACCESS_DENIED, "cannot create the registry root")
            if wow64 or handle32:
                comps = self.wow64_components(comps, self._depth(parent), handle32, wow64)
            key, created = self._walk(comps, create=True, intermediates=intermediates, open_link=link or open_link)
            if link and not created:
                # REG_OPTION_CREATE_LINK of a name that exists (Wine's ntdll/tests/reg.c test_symlinks)
                raise NtStatusError(STATUS_OBJECT_NAME_COLLISION, f"{key.path} exists")
            if created:
                key.volatile = volatile
                key.is_link = link      # REG_OPTION_CREATE_LINK: its SymbolicLinkValue names the target
            return key, created
        return self._logged("create_key", self._shown(path, parent), go)

    def delete_key(self, path: str | RegKey, parent: RegKey | None = None, *, recursive: bool = False,
                   wow64: bool = False) -> None:
        """NtDeleteKey: STATUS_CANNOT_DELETE if the key has subkeys (unless recursive); hives cannot go."""
        key = path if isinstance(path, RegKey) else self.open_key(path, parent, wow64=wow64, open_link=True)

        def go():
            key._alive()
            if key.parent is None or key.parent is self.root or key.parent.parent is self.root:
                raise NtStatusError(STATUS_ACCESS_DENIED, "cannot delete a hive root")
            if key._subkeys and not recursive:
                raise NtStatusError(STATUS_CANNOT_DELETE, f"{key.path} has subkeys")
            self._mark_deleted(key)
            del key.parent._subkeys[_fold(key.name)]
            key.parent._sorted = None
            key.parent._touch()
        self._logged("delete_key", key.path, go)

    def _mark_deleted(self, key: RegKey) -> None:
        for k in list(key._subkeys.values()):
            self._mark_deleted(k)
        key.deleted = True

    @staticmethod
    def _depth(parent: RegKey | None) -> int:
        n = 0
        while parent is not None and parent.parent is not None:
            n += 1
            parent = parent.parent
        return n

    @staticmethod
    def _shown(path: str, parent: RegKey | None) -> str:
        return path if parent is None else parent.path + "\\" + path

    # --- conveniences -------------------------------------------------------------------------------
    def get(self, path: str, name: str, default: Any = None, *, wow64: bool = False) -> Any:
        """The decoded value `name` of key `path`, or default."""
        try:
            return self.open_key(path, wow64=wow64).get(name, default)
        except NtStatusError:
            return default

    def set(self, path: str, name: str, type_: int, value: Any, *, wow64: bool = False) -> None:
        key, _ = self.create_key(path, wow64=wow64, intermediates=True)
        key.set(name, type_, value)

    def to_dict(self, key: RegKey | None = None) -> dict:
        """The registry (or a subtree) in the JSON description format."""
        out: dict[str, dict] = {}

        def visit(k: RegKey):
            spec: dict[str, Any] = {}
            if k.is_link:
                spec["link"] = decode(REG_LINK, k._values[_fold(LINK_VALUE)][2])
            vals = {}
            for n, t, d in k._values.values():
                if k.is_link and n == LINK_VALUE:
                    continue
                v = decode(t, d)
                vals[n] = {"type": TYPE_NAMES.get(t, t), **({"hex": d.hex()} if isinstance(v, bytes) else {"data": v})}
            if vals:
                spec["values"] = vals
            out["\\Registry" + k.path[len("\\REGISTRY"):]] = spec
            if not k.is_link:
                for s in k.subkeys():
                    visit(s)
        visit(key or self.root)
        return {"user_sid": self.user_sid, "keys": out}

    def iter_keys(self, key: RegKey | None = None) -> Iterable[RegKey]:
        k = key or self.root
        yield k
        if not k.is_link:
            for s in k.subkeys():
                yield from self.iter_keys(s)

    def snapshot(self) -> "Registry":
        """An independent copy (for a run that must not change the template)."""
        return copy.deepcopy(self)
