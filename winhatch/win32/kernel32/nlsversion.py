"""kernel32 / kernelbase: the versions of the sorting data — GetNLSVersion(Ex), IsValidNLSVersion,
IsNLSDefinedString.

An NLSVERSIONINFO(EX) is { DWORD dwNLSVersionInfoSize, dwNLSVersion, dwDefinedVersion, dwEffectiveId;
GUID guidCustomVersion } (32 bytes); Windows 10 also takes the size of its first three fields (12 bytes, the
version numbers only) and refuses any other size with ERROR_INSUFFICIENT_BUFFER. Only COMPARE_STRING (1) is a
function (another: ERROR_INVALID_FLAGS, but IsValidNLSVersion's ERROR_INVALID_PARAMETER).

The data (winhatch.win32.kernel32.nlsversion_data): every locale's LCID and its sort, whose GUID is
{000000XX-57ee-1e5c-00b4-d0000bb1e11e}; the NLS and defined versions are 0x00060305 for every locale.
IsValidNLSVersion takes a version whose major and minor parts (all but the low byte) are the current ones, and
a GUID that is null or one of the sorts'; an invalid version returns FALSE with ERROR_SUCCESS."""
from __future__ import annotations

import struct
import unicodedata

from winhatch.ntstatus import ERROR_INSUFFICIENT_BUFFER, ERROR_INVALID_PARAMETER
from winhatch.win32.api import api
from winhatch.win32.kernel32.common import K32, signed32
from winhatch.win32.kernel32.nlsversion_data import SORT_TABLE

ERROR_INVALID_FLAGS = 1004
COMPARE_STRING = 1
NLS_VERSION = DEFINED_VERSION = 0x00060305
#: the fixed part of every sort GUID (all but its first field)
SORT_GUID_TAIL = struct.pack("<HH8s", 0x57EE, 0x1E5C, bytes([0x00, 0xB4, 0xD0, 0x00, 0x0B, 0xB1, 0xE1, 0x1E]))
SIZE_V1, SIZE_EX = 12, 32


def _table():
    by_name: dict[str, tuple[int, int]] = {}
    by_lcid: dict[int, int] = {}
    for line in SORT_TABLE.split("\n"):
        if not line:
            continue
        name, lcid, sort = line.split(" ")
        name = "" if name == "-" else name
        by_name[name.lower()] = (int(lcid, 16), int(sort, 16))
        if int(lcid, 16) != 0x1000:
            by_lcid.setdefault(int(lcid, 16), int(sort, 16))
    return by_name, by_lcid


BY_NAME, BY_LCID_SORT = _table()
SORT_IDS = frozenset(s for _, s in BY_NAME.values())


def _from_lcid(c, lcid: int) -> tuple[int, int] | None:
    """(effective LCID, sort) of an LCID; None for one that is not a locale."""
    from winhatch.win32.kernel32.locale import (LOCALE_NEUTRAL, LOCALE_SYSTEM_DEFAULT, LOCALE_USER_DEFAULT,
                                                resolve_lcid)
    lcid &= 0xFFFFFFFF
    if lcid in (LOCALE_NEUTRAL, LOCALE_USER_DEFAULT, LOCALE_SYSTEM_DEFAULT):
        lcid = resolve_lcid(c, lcid)
    if lcid is not None and lcid == lcid & 0x3FF and lcid not in BY_LCID_SORT:
        # a neutral LCID: its language's default locale (SUBLANG_DEFAULT)
        lcid = next((x for x in BY_LCID_SORT if x == 0x400 | lcid), lcid)
    if lcid is None or lcid not in BY_LCID_SORT:
        return None
    return lcid, BY_LCID_SORT[lcid]


def _from_name(c, name: str | None) -> tuple[int, int] | None:
    from winhatch.win32.kernel32.locale import LOCALE_NAME_SYSTEM_DEFAULT, default_lcid
    if name is None or name == LOCALE_NAME_SYSTEM_DEFAULT:
        return _from_lcid(c, default_lcid(c, name is None))
    hit = BY_NAME.get(name.lower())
    if hit is None:
        from winhatch.kernel.ex.nls import lookup_name
        if lookup_name(name)[0] == "ok":
            from winhatch.win32.msvcrt.runtime import not_implemented
            not_implemented(c, f"the sort version of the locale {name!r} (not in winhatch's sort table)")
        return None
    return hit


def _info_size(c, info: int) -> int | None:
    size = c.u32(info) if info else 0
    return size if size in (SIZE_V1, SIZE_EX) else None


def _put_version(c, info: int, loc: tuple[int, int]) -> int:
    size = _info_size(c, info)
    if size is None:
        c.set_last_error(ERROR_INSUFFICIENT_BUFFER)
        return 0
    c.write(info + 4, struct.pack("<II", NLS_VERSION, DEFINED_VERSION))
    if size == SIZE_EX:
        c.write(info + 12, struct.pack("<II", loc[0], loc[1]) + SORT_GUID_TAIL)
    return 1


def _get_version(c, function, info, locale) -> int:
    """GetNLSVersion(Ex): the checks in Windows's order, `locale()` resolving the locale argument last."""
    if function != COMPARE_STRING:
        c.set_last_error(ERROR_INVALID_FLAGS)
        return 0
    if _info_size(c, info) is None:
        c.set_last_error(ERROR_INSUFFICIENT_BUFFER)
        return 0
    loc = locale()
    if loc is None:
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    return _put_version(c, info, loc)


@api(K32, "BOOL WINAPI GetNLSVersion(NLS_FUNCTION Function, LCID Locale, LPNLSVERSIONINFO lpVersionInformation)")
def GetNLSVersion(c, function, lcid, info):
    return _get_version(c, function, info, lambda: _from_lcid(c, lcid))


@api(K32, "BOOL WINAPI GetNLSVersionEx(NLS_FUNCTION function, LPCWSTR lpLocaleName, "
          "LPNLSVERSIONINFOEX lpVersionInformation)")
def GetNLSVersionEx(c, function, name, info):
    return _get_version(c, function, info, lambda: _from_name(c, name))


@api(K32, "DWORD WINAPI IsValidNLSVersion(NLS_FUNCTION function, LPCWSTR lpLocaleName, "
          "LPNLSVERSIONINFOEX lpVersionInformation)")
def IsValidNLSVersion(c, function, name, info):
    if function != COMPARE_STRING or _from_name(c, name) is None or not info:
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    size = _info_size(c, info)
    if size is None:
        c.set_last_error(ERROR_INSUFFICIENT_BUFFER)
        return 0
    version = c.u32(info + 4)
    valid = version & ~0xFF == NLS_VERSION & ~0xFF
    if valid and size == SIZE_EX:
        guid = c.read(info + 16, 16)
        valid = guid == bytes(16) or (guid[4:] == SORT_GUID_TAIL and struct.unpack_from("<I", guid)[0] in SORT_IDS)
    if not valid:
        c.set_last_error(0)
        return 0
    return 1


@api(K32, "BOOL WINAPI IsNLSDefinedString(NLS_FUNCTION Function, DWORD dwFlags, "
          "LPNLSVERSIONINFO lpVersionInformation, LPCWSTR_RAW lpString, INT cchStr)")
def IsNLSDefinedString(c, function, flags, info, s, n):
    """TRUE when every character of the string is assigned in Unicode (a lone surrogate or an unassigned code
    point is not); a negative count reads to the NUL. FALSE for an undefined character leaves the last error."""
    from winhatch.win32.kernel32.codepages import _read_t
    if function != COMPARE_STRING:
        c.set_last_error(ERROR_INVALID_FLAGS)
        return 0
    if info and _info_size(c, info) is None:
        c.set_last_error(ERROR_INSUFFICIENT_BUFFER)
        return 0
    if not s:
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    n = signed32(n)
    text = _read_t(c, s, -1 if n < 0 else n, True)
    for ch in text:
        if unicodedata.category(ch) in ("Cn", "Cs"):
            return 0
    return 1
