"""Win32 and NT path syntax: what RtlGetFullPathName_U / RtlDosPathNameToNtPathName_U do, name validation,
and the wildcard matching of FsRtlIsNameInExpression (with the DOS wildcards FindFirstFile produces).

Everything here is pure string work: no host file system access. The VFS (vfs.py) builds on it.
"""
from __future__ import annotations

import re
from functools import lru_cache

from winhatch._record import NEW, Record
from winhatch.ntstatus import (
    NtStatusError,
    STATUS_NAME_TOO_LONG,
    STATUS_OBJECT_NAME_INVALID,
    STATUS_OBJECT_NAME_NOT_FOUND,
    STATUS_OBJECT_PATH_NOT_FOUND,
)

MAX_COMPONENT = 255        # NTFS file name limit (UTF-16 units)
MAX_NT_PATH = 32767        # UNICODE_STRING limit (characters)

# Win32 DOS device names (RtlIsDosDeviceName_U); CONIN$/CONOUT$ are matched only as exact names.
DOS_DEVICES = frozenset(["CON", "PRN", "AUX", "NUL"] + [f"COM{i}" for i in range(1, 10)]
                        + [f"LPT{i}" for i in range(1, 10)])
CONSOLE_DEVICES = frozenset(["CONIN$", "CONOUT$"])

# characters NTFS refuses in a name (plus 0x00-0x1F); ':' separates an alternate data stream.
_BAD_NAME_CHARS = frozenset('<>"/|?*\\') | frozenset(chr(i) for i in range(0x20))

# DOS wildcards (ntifs.h)
DOS_STAR = "<"
DOS_QM = ">"
DOS_DOT = '"'


def fold(name: str) -> str:
    """Upcase as the NTFS upcase table does: per character, never changing the length (so 'ß' stays)."""
    if name.isascii():  # every ASCII character upcases to exactly one character
        return name.upper()
    out = []
    for c in name:
        u = c.upper()
        out.append(u if len(u) == 1 else c)
    return "".join(out)


def _err(status: int, msg: str) -> NtStatusError:
    return NtStatusError(status, msg)


# ---------------------------------------------------------------------------------------------------
# Win32 → full path (GetFullPathNameW)
# ---------------------------------------------------------------------------------------------------
def _is_sep(c: str) -> bool:
    return c == "\\" or c == "/"


def _normalize(components: list[str], *, trailing: bool, keep_first: bool = False) -> tuple[list[str], bool]:
    """Lexical '.'/'..' resolution (never above the root), runs of separators collapsed, a single trailing
    period stripped from inner segments, trailing periods/spaces stripped from the final segment."""
    out: list[str] = []
    n = len(components)
    for i, seg in enumerate(components):
        last = i == n - 1
        if seg == "":
            continue
        if seg == ".":
            continue
        if seg == "..":
            if out and not (keep_first and len(out) == 1):
                out.pop()
            continue
        if last and not trailing:
            seg = seg.rstrip(". ")
            if seg == "":
                trailing = True  # "C:\foo\..." → "C:\foo\"
                continue
        elif seg.endswith(".") and not seg.endswith(".."):
            seg = seg[:-1]
        out.append(seg)
    return out, trailing


def _device_name(segment: str) -> str | None:
    """RtlIsDosDeviceName_U (Windows 10 behaviour): 'nul', 'NUL.txt', 'con:', 'com1 .log' are devices."""
    if fold(segment) in CONSOLE_DEVICES:
        return segment
    base = re.split(r"[.:]", segment, maxsplit=1)[0].rstrip(" ")
    if fold(base) in DOS_DEVICES:
        return base
    return None


device_name = _device_name     # RtlIsDosDeviceName_U (ntdll_rtl_path) shares the rule


def _split(rest: str) -> tuple[list[str], bool]:
    trailing = rest.endswith("\\") or rest.endswith("/")
    parts = re.split(r"[\\/]", rest)
    return parts, trailing


def full_path(path: str, cwd: str | None = None) -> str:
    """GetFullPathNameW: the normalised absolute Win32 path. `cwd` is the current directory (a full path)."""
    if not isinstance(path, str):
        raise TypeError("path must be str")
    if "\x00" in path:
        raise _err(STATUS_OBJECT_NAME_INVALID, "embedded NUL in path")
    if path == "":
        raise _err(STATUS_OBJECT_NAME_INVALID, "empty path")
    # \\?\ is passed through without any normalisation; \??\ means nothing to the Win32 path syntax: a path
    # rooted on the current drive (Wine's ntdll path.c: "\??\foo" → "C:\??\foo", as on Windows)
    if path.startswith("\\\\?\\"):
        return path
    if len(path) > MAX_NT_PATH:
        raise _err(STATUS_NAME_TOO_LONG, "path too long")
    cwd = cwd or "C:\\"
    p = path
    if len(p) >= 2 and _is_sep(p[0]) and _is_sep(p[1]):
        if len(p) >= 3 and p[2] in ".?" and (len(p) == 3 or _is_sep(p[3])):
            # local device path \\.\X (also //./X and //?/X, which are normalised like \\.\)
            prefix = "\\\\" + p[2] + "\\"
            parts, trailing = _split(p[4:])
            # ".." may take a device name away ("\\\\.\\foo\\.." → "\\\\.\\", Wine's ntdll path.c), not a volume
            first = next((x for x in parts if x), "")
            keep = len(first) == 2 and first[1] == ":" or fold(first) == "UNC"
            comps, trailing = _normalize(parts, trailing=trailing, keep_first=keep)
            return prefix + "\\".join(comps) + ("\\" if trailing and comps else "")
        # UNC: \\server\share\rest ; the root is \\server\share
        parts, trailing = _split(p[2:])
        server = parts[0] if parts else ""
        share = parts[1] if len(parts) > 1 else ""
        rest = parts[2:]
        comps, trailing = _normalize(rest, trailing=trailing)
        root = "\\\\" + server + ("\\" + share if share else "")
        if not comps:
            return root + ("\\" if trailing or len(parts) > 2 else "")
        return root + "\\" + "\\".join(comps) + ("\\" if trailing else "")
    if len(p) >= 2 and p[1] == ":" and not _is_sep(p[0]):
        drive = p[0]            # any character names a drive ("?:" → "?:\\")
        if len(p) >= 3 and _is_sep(p[2]):
            root, rest = drive + ":", p[3:]
        else:
            # drive-relative "C:foo": against the cwd if it is on that drive, else that drive's root
            cwd_full = full_path(cwd, "C:\\")
            if fold(cwd_full[:2]) == fold(drive + ":") and not cwd_full.startswith("\\\\"):
                cwd_rest = cwd_full[3:].rstrip("\\")
                root, rest = cwd_full[:2], (cwd_rest + "\\" + p[2:] if p[2:] else cwd_rest)
            else:
                root, rest = drive + ":", p[2:]
        return _dos_result(root, rest)
    cwd_full = full_path(cwd, "C:\\")
    if cwd_full.startswith("\\\\?\\") or cwd_full.startswith("\\??\\"):
        cwd_full = cwd_full[4:]
    if _is_sep(p[0]):
        # rooted: the root of the current directory's drive (or its UNC share)
        if cwd_full.startswith("\\\\"):
            parts = cwd_full[2:].split("\\")
            root = "\\\\" + "\\".join(parts[:2])
            parts, trailing = _split(p)
            comps, trailing = _normalize(parts, trailing=trailing)
            return root + "\\" + "\\".join(comps) + ("\\" if trailing and comps else "")
        return _dos_result(cwd_full[:2], p[1:])
    # relative
    if cwd_full.startswith("\\\\"):
        return full_path(cwd_full.rstrip("\\") + "\\" + p, "C:\\")
    return _dos_result(cwd_full[:2], cwd_full[3:].rstrip("\\") + "\\" + p if len(cwd_full) > 3 else p)


def _dos_result(root: str, rest: str) -> str:
    parts, trailing = _split(rest)
    comps, trailing = _normalize(parts, trailing=trailing)
    if comps and not trailing:
        dev = _device_name(comps[-1])
        if dev is not None:
            return "\\\\.\\" + dev
    if not comps:
        return root + "\\"
    return root + "\\" + "\\".join(comps) + ("\\" if trailing else "")


def to_nt_path(path: str, cwd: str | None = None) -> str:
    """RtlDosPathNameToNtPathName_U: Win32 path → NT path in the \\??\\ namespace."""
    if isinstance(path, str) and path.startswith("\\??\\") and len(path) > 4:
        if "\x00" in path:
            raise _err(STATUS_OBJECT_NAME_INVALID, "embedded NUL in path")
        return path
    if isinstance(path, str) and path.startswith("\\\\?\\"):
        if "\x00" in path:
            raise _err(STATUS_OBJECT_NAME_INVALID, "embedded NUL in path")
        return "\\??\\" + path[4:]
    full = full_path(path, cwd)
    if full.startswith("\\\\.\\") or full.startswith("\\\\?\\"):
        return "\\??\\" + full[4:]
    if full.startswith("\\\\"):
        return "\\??\\UNC\\" + full[2:]
    return "\\??\\" + full


# ---------------------------------------------------------------------------------------------------
# NT path parsing
# ---------------------------------------------------------------------------------------------------
class NtTarget(Record):
    """What an NT path names: a path on a drive, a device, or a UNC share."""

    _fields = ("kind", "drive", "components", "trailing", "device", "nt_path")

    def __init__(self, kind: str, drive: str = "", components: list[str] = NEW, trailing: bool = False,
                 device: str = "", nt_path: str = "") -> None:
        self.kind = kind                # "drive" | "device" | "unc"
        self.drive = drive              # "C" for kind == "drive"
        self.components = [] if components is NEW else components
        self.trailing = trailing        # the path ended with a separator
        self.device = device            # for kind == "device": "NUL", "CON", "PhysicalDrive0", "C:" ...
        self.nt_path = nt_path

    @property
    def win32(self) -> str:
        if self.kind == "drive":
            return f"{self.drive}:\\" + "\\".join(self.components) + \
                ("\\" if self.trailing and self.components else "")
        if self.kind == "device":
            return "\\\\.\\" + self.device
        return "\\\\" + "\\".join(self.components)


_NT_PREFIXES = ("\\??\\", "\\DOSDEVICES\\", "\\GLOBAL??\\")


def validate_component(name: str) -> None:
    """A name NTFS accepts in NtCreateFile: no wildcards or <>:"/|, no control characters, not '.'/'..',
    at most 255 characters. ':' (an alternate data stream) is refused: the sandbox has no streams."""
    if name in ("", ".", ".."):
        raise _err(STATUS_OBJECT_NAME_INVALID, f"invalid name component {name!r}")
    if len(name) > MAX_COMPONENT:
        raise _err(STATUS_OBJECT_NAME_INVALID, "name component longer than 255 characters")
    for c in name:
        if c in _BAD_NAME_CHARS:
            raise _err(STATUS_OBJECT_NAME_INVALID, f"invalid character {c!r} in {name!r}")
        if c == ":":
            raise _err(STATUS_OBJECT_NAME_INVALID, f"alternate data streams are not supported: {name!r}")
        if 0xD800 <= ord(c) <= 0xDFFF:
            raise _err(STATUS_OBJECT_NAME_INVALID, f"unpaired surrogate in {name!r}")


def parse_nt(nt: str, *, volume_devices: dict[str, str] | None = None, system_root: str = "C:\\Windows") -> NtTarget:
    """Split an NT path into what it names. Drive paths have their components validated (NT paths are
    not normalised: '.' and '..' components are invalid names, as NTFS says)."""
    if "\x00" in nt:
        raise _err(STATUS_OBJECT_NAME_INVALID, "embedded NUL in path")
    if len(nt) > MAX_NT_PATH:
        raise _err(STATUS_NAME_TOO_LONG, "path too long")
    up = fold(nt)
    rest = None
    for pre in _NT_PREFIXES:
        if up.startswith(pre):
            rest = nt[len(pre):]
            break
    if rest is None:
        if up.startswith("\\SYSTEMROOT\\") or up == "\\SYSTEMROOT":
            rest = system_root + nt[len("\\SystemRoot"):]
        elif up.startswith("\\DEVICE\\"):
            tail = nt[len("\\Device\\"):]
            dev, _, sub = tail.partition("\\")
            if fold(dev) == "NULL" and not sub:
                return NtTarget("device", device="NUL", nt_path=nt)
            for drive, vol in (volume_devices or {}).items():
                if fold(dev) == fold(vol):
                    rest = drive + ":" + ("\\" + sub if sub or tail.endswith("\\") else "")
                    break
            if rest is None:
                raise _err(STATUS_OBJECT_PATH_NOT_FOUND if sub else STATUS_OBJECT_NAME_NOT_FOUND, f"no such device {nt!r}")
        else:
            raise _err(STATUS_OBJECT_PATH_NOT_FOUND if nt.count("\\") > 1 else STATUS_OBJECT_NAME_NOT_FOUND,
                       f"not a file system path: {nt!r}")
    first, sep, tail = rest.partition("\\")
    if re.fullmatch(r"[A-Za-z]:", first):
        drive = first[0].upper()
        if not sep:
            return NtTarget("device", device=first, nt_path=nt)  # the volume itself
        if tail == "":
            return NtTarget("drive", drive=drive, components=[], trailing=False, nt_path=nt)
        parts = tail.split("\\")
        trailing = parts[-1] == ""
        if trailing:
            parts = parts[:-1]
        for c in parts:
            validate_component(c)
        return NtTarget("drive", drive=drive, components=parts, trailing=trailing, nt_path=nt)
    if fold(first) == "UNC":
        parts = [p for p in tail.split("\\")]
        return NtTarget("unc", components=parts, nt_path=nt)
    return NtTarget("device", device=first, components=tail.split("\\") if sep else [], nt_path=nt)


# ---------------------------------------------------------------------------------------------------
# Wildcards (FsRtlIsNameInExpression with the DOS wildcards kernelbase's FindFirstFileExW produces)
# ---------------------------------------------------------------------------------------------------
def dos_pattern(pattern: str) -> str:
    """FindFirstFileExW's translation: '?' → DOS_QM; '.' followed by '?', '*' or the end → DOS_DOT;
    '*' followed by '.' → DOS_STAR. ('*.*' thereby matches names without a dot too.)"""
    out = []
    n = len(pattern)
    for i, c in enumerate(pattern):
        nxt = pattern[i + 1] if i + 1 < n else ""
        if c == "?":
            out.append(DOS_QM)
        elif c == "." and (nxt in ("?", "*") or nxt == ""):
            out.append(DOS_DOT)
        elif c == "*" and nxt == ".":
            out.append(DOS_STAR)
        else:
            out.append(c)
    return "".join(out)


def name_in_expression(expression: str, name: str, ignore_case: bool = True) -> bool:
    """FsRtlIsNameInExpression: '*', '?', DOS_STAR '<', DOS_QM '>', DOS_DOT '"'."""
    if ignore_case:
        expression, name = fold(expression), fold(name)
    return _match(expression, name)


@lru_cache(maxsize=4096)
def _match(p: str, n: str) -> bool:
    last_dot = n.rfind(".")
    memo: dict[tuple[int, int], bool] = {}

    def m(pi: int, ni: int) -> bool:
        key = (pi, ni)
        if key in memo:
            return memo[key]
        r = _m(pi, ni)
        memo[key] = r
        return r

    def _m(pi: int, ni: int) -> bool:
        if pi == len(p):
            return ni == len(n)
        c = p[pi]
        if c == "*":
            return any(m(pi + 1, k) for k in range(ni, len(n) + 1))
        if c == "?":
            return ni < len(n) and m(pi + 1, ni + 1)
        if c == DOS_STAR:
            # zero or more characters, but never past the name's final '.'
            limit = last_dot if last_dot >= ni else len(n)
            return any(m(pi + 1, k) for k in range(ni, limit + 1))
        if c == DOS_QM:
            if ni < len(n) and n[ni] != ".":
                return m(pi + 1, ni + 1)
            # at a '.' or the end: skip the whole run of DOS_QMs
            pj = pi
            while pj < len(p) and p[pj] == DOS_QM:
                pj += 1
            return m(pj, ni)
        if c == DOS_DOT:
            if ni < len(n) and n[ni] == ".":
                return m(pi + 1, ni + 1)
            return ni == len(n) and m(pi + 1, ni)
        return ni < len(n) and n[ni] == c and m(pi + 1, ni + 1)

    return m(0, 0)


def find_match(pattern: str, name: str) -> bool:
    """Does a FindFirstFile pattern ('*.txt', '*.*', 'a?c') match a directory entry name?"""
    if pattern in ("", "*", "*.*"):
        return True
    return name_in_expression(dos_pattern(pattern), name)
