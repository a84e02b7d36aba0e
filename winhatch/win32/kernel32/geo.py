"""kernel32 / kernelbase: geographical locations — GetGeoInfo(A/W), GetGeoInfoEx, EnumSystemGeoID and the user's
location (GetUserGeoID, SetUserGeoID, GetUserDefaultGeoName, SetUserGeoName). (EnumSystemGeoNames is not here:
kernel32's export table, Wine 8's, has no such export, so no program can reach it.)

The data: winhatch.win32.kernel32.geo_data (tools/gen_geo.py: Microsoft's table of GEOIDs and their names, the
codes read from the reference), ~300 GEOIDs, each a nation (GEOCLASS_NATION) or a region (GEOCLASS_REGION).

A location's name (GEO_NAME, GetGeoInfoEx, the user's geo name) is its ISO 3166-1 alpha-2 code, for a region
its UN M.49 number ("001" the World); a name is looked up case-insensitively: two letters an alpha-2 code ("XX",
the code of no nation, is the World; "SJ" Svalbard), three digits a region's M.49 number; anything else is no
location.

GetGeoInfo conventions (as GetLocaleInfo's): the count of characters written with the NUL; cchData 0 asks for
that count; a buffer too small gets what fits and ERROR_INSUFFICIENT_BUFFER; an unknown GEOID is
ERROR_INVALID_PARAMETER (checked before the type), a type outside GEO_NATION..GEO_ID ERROR_INVALID_FLAGS, as are
GEO_NATION, GEO_RFC1766 and GEO_LCID for GetGeoInfoEx (documented as not supported there since Windows 10 1709).
GEO_NATION of a region is 0 with the last error untouched. GEO_RFC1766 is the language's ISO 639 code (LangId,
else the user's default language) and the location's alpha-2 code ("en-US", Microsoft's GetGeoInfo remarks).
The names (GEO_FRIENDLYNAME, GEO_OFFICIALNAME) are Microsoft's English ones: another UI language, or a name the
table does not give, stops the program loudly, as do GEO_LATITUDE/GEO_LONGITUDE (Windows' coordinates are not
published), GEO_LCID and GEO_TIMEZONES/GEO_OFFICIALLANGUAGES (documented "Not implemented").

The user's location lives in the registry, HKCU\\Control Panel\\International\\Geo (read and written through the
registry services): "Nation" (the nation's GEOID), "Region" (a region's GEOID) and "Name" (the geo name Windows
10 1709 on keeps); SetUserGeoID/SetUserGeoName set Nation or Region by the location's class, and Name.
GetUserDefaultGeoName gives Name as it is, else the name of Nation, else "001" (the World). GetUserGeoID gives
Nation (GEOCLASS_NATION) or Region (GEOCLASS_REGION), the World when unset, GEOID_NOT_AVAILABLE for another class.
"""
from __future__ import annotations

import struct

from winhatch.ntstatus import ERROR_INVALID_FLAGS, ERROR_INVALID_PARAMETER
from winhatch.win32.api import api
from winhatch.win32.kernel32.common import K32, ERROR_INSUFFICIENT_BUFFER
from winhatch.win32.kernel32.geo_data import GEO

GEO_NATION, GEO_LATITUDE, GEO_LONGITUDE, GEO_ISO2, GEO_ISO3, GEO_RFC1766, GEO_LCID = 1, 2, 3, 4, 5, 6, 7
GEO_FRIENDLYNAME, GEO_OFFICIALNAME, GEO_TIMEZONES, GEO_OFFICIALLANGUAGES = 8, 9, 10, 11
GEO_ISO_UN_NUMBER, GEO_PARENT, GEO_DIALINGCODE, GEO_CURRENCYCODE, GEO_CURRENCYSYMBOL = 12, 13, 14, 15, 16
GEO_NAME, GEO_ID = 17, 18
GEOCLASS_ALL, GEOCLASS_REGION, GEOCLASS_NATION = 0, 14, 16
GEOID_NOT_AVAILABLE = 0xFFFFFFFF        # -1
WORLD = 39070
#: the names several locations have: "XX" (the code of no nation) is the World's; "SJ" (ISO 3166's Svalbard and
#: Jan Mayen, two GEOIDs) is Svalbard's, 220 (as the reference answers GetGeoInfoEx)
_NAME_OWNER = {"XX": WORLD, "SJ": 220}
_NOT_MODELLED = {GEO_LATITUDE: "GEO_LATITUDE", GEO_LONGITUDE: "GEO_LONGITUDE", GEO_LCID: "GEO_LCID",
                 GEO_TIMEZONES: "GEO_TIMEZONES", GEO_OFFICIALLANGUAGES: "GEO_OFFICIALLANGUAGES"}
_COLUMN = {GEO_ISO2: 1, GEO_ISO3: 2, GEO_ISO_UN_NUMBER: 3, GEO_PARENT: 4, GEO_DIALINGCODE: 5,
           GEO_CURRENCYCODE: 6, GEO_CURRENCYSYMBOL: 7}
GEO_KEY = "Control Panel\\International\\Geo"
REG_SZ = 1
KEY_QUERY_VALUE, KEY_SET_VALUE = 0x1, 0x2
STATUS_OBJECT_NAME_NOT_FOUND = 0xC0000034


def _stop(c, what: str):
    from winhatch.win32.msvcrt.runtime import not_implemented
    not_implemented(c, what)


def _signed(v: int) -> int:
    v &= 0xFFFFFFFF
    return v - (1 << 32) if v & 0x80000000 else v


def is_nation(gid: int) -> bool:
    return GEO[gid][0]


def geo_name(gid: int) -> str:
    """GEO_NAME: the alpha-2 code; a region's M.49 number; "XX" for a nation without a code."""
    nation, iso2, _iso3, un = GEO[gid][:4]
    return iso2 if iso2 != "XX" or nation else un


def find_name(name: str | None) -> int | None:
    """The GEOID a geo name stands for (None: no location)."""
    if not name:
        return None
    key = name.upper()
    if len(key) == 2 and key.isascii() and key.isalpha():
        if key in _NAME_OWNER:
            return _NAME_OWNER[key]
        return next((g for g, row in sorted(GEO.items()) if row[1] == key), None)
    if len(key) == 3 and key.isascii() and key.isdigit():
        return next((g for g, row in sorted(GEO.items()) if not row[0] and row[3] == key), None)
    return None


def _put(c, buf: int, cch: int, text: str, wide: bool) -> int:
    """The GetLocaleInfo-like copy: `text` and its NUL; cch 0 asks for the count; too small: what fits."""
    if wide:
        data, unit = text.encode("utf-16-le") + b"\0\0", 2
    else:
        data, unit = text.encode(c.machine.nls.ansi_codec, "replace") + b"\0", 1
    n = len(data) // unit
    if cch == 0:
        return n
    if cch < n:
        c.write(buf, data[:cch * unit])
        c.set_last_error(ERROR_INSUFFICIENT_BUFFER)
        return 0
    c.write(buf, data)
    return n


def _rfc1766(c, gid: int, lang: int) -> str:
    from winhatch.kernel.ex.nls import BY_LCID, NEUTRAL_DEFAULTS
    from winhatch.win32.kernel32.locale import default_lcid
    if not is_nation(gid) or GEO[gid][1] == "XX":
        _stop(c, f"GetGeoInfo GEO_RFC1766 of the region {gid}")
    lang = (lang or default_lcid(c, True)) & 0x3FF
    loc = BY_LCID.get(NEUTRAL_DEFAULTS.get(lang, lang | 0x400))
    if loc is None or not loc.iso_lang:
        _stop(c, f"GetGeoInfo GEO_RFC1766 of the language 0x{lang:x} (not a modelled language)")
    return f"{loc.iso_lang}-{GEO[gid][1]}"


def _names_in_english(c) -> None:
    from winhatch.win32.kernel32.locale import ui_language
    if ui_language(c) & 0x3FF != 0x09:
        _stop(c, "GetGeoInfo GEO_FRIENDLYNAME/GEO_OFFICIALNAME in a UI language other than English "
                 "(only Microsoft's English names are modelled)")


def geo_value(c, gid: int, gtype: int, lang: int = 0) -> str | None:
    """The datum of a (valid) GEOID; None: GEO_NATION of a region (no datum, no error)."""
    row = GEO[gid]
    if gtype in _NOT_MODELLED:
        _stop(c, f"GetGeoInfo {_NOT_MODELLED[gtype]} (no data: not modelled)")
    if gtype == GEO_NATION:
        return str(gid) if row[0] else None
    if gtype in _COLUMN:
        return row[_COLUMN[gtype]]
    if gtype == GEO_RFC1766:
        return _rfc1766(c, gid, lang)
    if gtype in (GEO_FRIENDLYNAME, GEO_OFFICIALNAME):
        _names_in_english(c)
        value = row[8] if gtype == GEO_FRIENDLYNAME else row[9]
        if value is None:
            _stop(c, f"GetGeoInfo {'GEO_FRIENDLYNAME' if gtype == GEO_FRIENDLYNAME else 'GEO_OFFICIALNAME'} of "
                     f"{gid} (Microsoft's table gives no such name)")
        return value
    if gtype == GEO_NAME:
        return geo_name(gid)
    return str(gid)     # GEO_ID


def _info(c, gid: int | None, gtype: int, buf: int, cch: int, lang: int, wide: bool) -> int:
    cch = _signed(cch)
    if gid is None or gid not in GEO:
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    if not GEO_NATION <= gtype <= GEO_ID:
        c.set_last_error(ERROR_INVALID_FLAGS)
        return 0
    if cch < 0 or (cch and not buf):
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    value = geo_value(c, gid, gtype, lang)
    if value is None:
        return 0
    return _put(c, buf, cch, value, wide)


@api(K32, "int WINAPI GetGeoInfo%(LONG Location, DWORD GeoType, LPTSTR lpGeoData, int cchData, LANGID LangId)")
def GetGeoInfo(c, location, gtype, buf, cch, lang):
    return _info(c, _signed(location), gtype, buf, cch, lang, c.wide)


@api(K32, "int WINAPI GetGeoInfoEx(LPCWSTR location, DWORD geoType, PWSTR geoData, int geoDataCount)")
def GetGeoInfoEx(c, location, gtype, buf, cch):
    """By geo name; GEO_NATION, GEO_RFC1766 and GEO_LCID are not supported (ERROR_INVALID_FLAGS). A NULL
    buffer asks for the count, as cchData 0 does (as the reference does)."""
    gid = find_name(location)
    if gid is None:
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    if gtype in (GEO_NATION, GEO_RFC1766, GEO_LCID):
        c.set_last_error(ERROR_INVALID_FLAGS)
        return 0
    return _info(c, gid, gtype, buf, cch if buf else 0, 0, True)


def _members(cls: int, parent: int = 0) -> list[int]:
    out = []
    for gid, row in sorted(GEO.items()):
        if (cls == GEOCLASS_NATION and not row[0]) or (cls == GEOCLASS_REGION and row[0]):
            continue
        if parent and row[4] != str(parent):
            continue
        out.append(gid)
    return out


@api(K32, "BOOL WINAPI EnumSystemGeoID(DWORD GeoClass, LONG ParentGeoId, PVOID lpGeoEnumProc)", calls_guest=True)
def EnumSystemGeoID(c, cls, parent, proc):
    """The GEOIDs of a class (GEOCLASS_NATION, GEOCLASS_REGION or GEOCLASS_ALL), in ascending order; with a
    parent, only those whose parent region (GEO_PARENT) it is. The callback returns FALSE to stop."""
    if not proc:
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    if cls not in (GEOCLASS_NATION, GEOCLASS_REGION, GEOCLASS_ALL):
        c.set_last_error(ERROR_INVALID_FLAGS)
        return 0
    for gid in _members(cls, _signed(parent)):
        if not c.machine.dispatcher.call_guest(c.thread, proc, [gid]) & 0xFFFFFFFF:
            break
    return 1


# ============================================================================== the user's location
def _open_geo_key(c, access: int, create: bool = False) -> int:
    from winhatch.win32.advapi32.reg import current_user_key_path
    path = current_user_key_path(c) + "\\" + GEO_KEY
    ph = c.stack_alloc(c.ptr_size)
    oa = c.object_attributes(c.unicode_string(path), 0x40, 0)      # OBJ_CASE_INSENSITIVE
    if create:
        st = c.nt("NtCreateKey", ph, access, oa, 0, 0, 0, 0)
    else:
        st = c.nt("NtOpenKeyEx", ph, access, oa, 0)
    return c.ptr(ph) if not st & 0x80000000 else 0


def _read_values(c) -> dict[str, str]:
    """The Geo key's REG_SZ values Nation, Region and Name (lower-case names) that are set."""
    from winhatch.win32.advapi32.reg import _Fail, _query
    h = _open_geo_key(c, KEY_QUERY_VALUE)
    out: dict[str, str] = {}
    if not h:
        return out
    try:
        for name in ("Nation", "Region", "Name"):
            try:
                rec = _query(c, "NtQueryValueKey", (h, c.unicode_string(name)), 2)   # KeyValuePartialInformation
            except _Fail:
                continue
            _ti, typ, n = struct.unpack_from("<III", rec)
            if typ == REG_SZ:
                out[name.lower()] = rec[12:12 + n][:n & ~1].decode("utf-16-le", "replace").split("\0", 1)[0]
    finally:
        c.nt("NtClose", h)
    return out


def _geoid_value(text: str | None) -> int | None:
    if text is None or not text.strip().isdigit() or len(text.strip()) > 10:
        return None
    gid = int(text.strip())
    return gid if gid in GEO else None


def _set_user_geo(c, gid: int) -> int:
    """Nation or Region (by the location's class) and Name; 1, or 0 with the last error."""
    h = _open_geo_key(c, KEY_QUERY_VALUE | KEY_SET_VALUE, create=True)
    if not h:
        _stop(c, "SetUserGeoID: HKCU\\Control Panel\\International\\Geo cannot be created")
    try:
        for name, value in (("Nation" if is_nation(gid) else "Region", str(gid)), ("Name", geo_name(gid))):
            data = (value + "\0").encode("utf-16-le")
            p = c.stack_alloc(len(data), 8)
            c.write(p, data)
            st = c.nt("NtSetValueKey", h, c.unicode_string(name), 0, REG_SZ, p, len(data))
            if st & 0x80000000:
                c.set_last_nt_error(st)
                return 0
    finally:
        c.nt("NtClose", h)
    return 1


@api(K32, "LONG WINAPI GetUserGeoID(DWORD GeoClass)")
def GetUserGeoID(c, cls):
    """The number stored in Nation or Region as it is (the reference does not check it against the table),
    the World where none is; GEOID_NOT_AVAILABLE for another class."""
    if cls not in (GEOCLASS_NATION, GEOCLASS_REGION):
        return GEOID_NOT_AVAILABLE
    text = _read_values(c).get("nation" if cls == GEOCLASS_NATION else "region", "").strip()
    if not text.isdigit() or len(text) > 9:
        return WORLD
    return int(text)


@api(K32, "BOOL WINAPI SetUserGeoID(LONG GeoId)")
def SetUserGeoID(c, gid):
    gid = _signed(gid)
    if gid not in GEO:
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    return _set_user_geo(c, gid)


@api(K32, "BOOL WINAPI SetUserGeoName(LPCWSTR geoName)")
def SetUserGeoName(c, name):
    gid = find_name(name)
    if gid is None:
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    return _set_user_geo(c, gid)


@api(K32, "int WINAPI GetUserDefaultGeoName(LPWSTR geoName, int geoNameCount)")
def GetUserDefaultGeoName(c, buf, cch):
    """Name as it is stored, else the name of Nation, else "001" (the World)."""
    cch = _signed(cch)
    if cch < 0 or (cch and not buf):
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    values = _read_values(c)
    name = values.get("name")
    if name is None:
        gid = _geoid_value(values.get("nation"))
        name = geo_name(gid) if gid is not None else geo_name(WORLD)
    return _put(c, buf, cch, name, True)
