"""kernel32 / kernelbase: locales — the user and system default locale (the profile's [locale], kept by the
kernel: NtQueryDefaultLocale, NtQueryDefaultUILanguage; en-US, LCID 0x409, by default), LCID <-> name
conversions, IsValidLocale(Name) and GetLocaleInfo(A/W/Ex) with the values Windows 10 gives for en-US and
for the invariant locale.

The machine knows en-US and the invariant locale (LCID 0x7F, name "") fully, and the other locales of
winhatch.kernel.ex.nls by their identity (names, LCID, ISO codes, code pages, country code, English names;
LOCALE_SLANGUAGE/SCOUNTRY when the UI language is English). Windows has hundreds more; asking for another
one — or for a locale datum not in the tables — stops the program loudly (an unimplemented locale), never a
made-up answer. Enumerating the system's locales (EnumSystemLocales(Ex))
lists the machine's own: en-US (and its neutral "en" by name), as a Windows with one locale would.

GetLocaleInfo conventions: the count of characters written including the NUL; a buffer of 0 characters
asks for that count; a buffer too small: ERROR_INSUFFICIENT_BUFFER; LOCALE_RETURN_NUMBER returns a
numeric datum as a DWORD (its size in TCHARs: 2 for W, 4 for A); LOCALE_NOUSEROVERRIDE and
LOCALE_USE_CP_ACP change nothing here (no user overrides; the ANSI code page is 1252).
"""
from __future__ import annotations

from winhatch.kernel.ex.locale_data import GENITIVE, LOCALE_DATA
from winhatch.kernel.ex.nls import (ALT_SORTS, BY_LCID, LCID_ALIASES, NEUTRAL_DEFAULTS, NEUTRAL_NAME_DEFAULTS,
                                    lookup_name)
from winhatch.ntstatus import ERROR_INVALID_PARAMETER
from winhatch.win32.api import api

from winhatch.win32.kernel32.common import K32, ERROR_INSUFFICIENT_BUFFER

ERROR_INVALID_FLAGS = 1004
LOCALE_NEUTRAL, LOCALE_INVARIANT, LOCALE_USER_DEFAULT, LOCALE_SYSTEM_DEFAULT = 0x0, 0x7F, 0x400, 0x800
LOCALE_CUSTOM_DEFAULT, LOCALE_CUSTOM_UNSPECIFIED, LOCALE_CUSTOM_UI_DEFAULT = 0xC00, 0x1000, 0x1400
EN_US = 0x409
LOCALE_NOUSEROVERRIDE, LOCALE_USE_CP_ACP, LOCALE_RETURN_NUMBER = 0x80000000, 0x40000000, 0x20000000
LOCALE_RETURN_GENITIVE_NAMES, LOCALE_ALLOW_NEUTRAL_NAMES = 0x10000000, 0x08000000
LOCALE_NAME_SYSTEM_DEFAULT = "!x-sys-default-locale"
LCID_INSTALLED, LCID_SUPPORTED, LCID_ALTERNATE_SORTS = 1, 2, 4
LOCALE_SSHORTTIME = 0x79

_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December")

EN_US_INFO: dict[int, str] = {
    0x01: "0409", 0x02: "English (United States)", 0x03: "ENU", 0x04: "English", 0x05: "1",
    0x06: "United States", 0x07: "USA", 0x08: "United States", 0x09: "0409", 0x0A: "1", 0x0B: "437",
    0x0C: ",", 0x0D: "1", 0x0E: ".", 0x0F: ",", 0x10: "3;0", 0x11: "2", 0x12: "1", 0x13: "0123456789",
    0x14: "$", 0x15: "USD", 0x16: ".", 0x17: ",", 0x18: "3;0", 0x19: "2", 0x1A: "2", 0x1B: "0", 0x1C: "0",
    0x1D: "/", 0x1E: ":", 0x1F: "M/d/yyyy", 0x20: "dddd, MMMM d, yyyy", 0x21: "0", 0x22: "0", 0x23: "0",
    0x24: "1", 0x25: "0", 0x26: "0", 0x27: "0", 0x28: "AM", 0x29: "PM",
    0x50: "", 0x51: "-", 0x52: "3", 0x53: "0", 0x54: "0", 0x55: "1", 0x56: "0", 0x57: "1",
    0x59: "en", 0x5A: "US", 0x5C: "en-US", 0x67: "eng", 0x68: "USA", 0x69: "NaN", 0x6A: "\u221e",
    0x6B: "-\u221e", 0x6C: "Latn;", 0x6D: "en", 0x6E: "English (United States)", 0x6F: "English (United States)",
    0x70: "0", 0x71: "0", 0x72: "English (United States)", 0x73: "English (United States)", 0x74: "1",
    0x75: "1", 0x76: "%", 0x77: "\u2030", 0x78: "MMMM d", 0x79: "h:mm tt", 0x7A: "dflt", 0x7B: "en-US",
    0x1001: "English", 0x1002: "United States", 0x1003: "h:mm:ss tt", 0x1004: "1252", 0x1005: "0",
    0x1006: "MMMM yyyy", 0x1007: "US Dollar", 0x1008: "US Dollar", 0x1009: "1", 0x100A: "1", 0x100B: "0",
    0x100C: "6", 0x100D: "0", 0x100E: "", 0x100F: "", 0x1010: "1", 0x1011: "10000", 0x1012: "037",
    0x1014: "0", 0x1015: "0", 0x1016: "1", 0x1017: "0", 0x1018: "1",
}
EN_US_INFO.update({0x2A + i: d for i, d in enumerate(_DAYS)})
EN_US_INFO.update({0x31 + i: d[:3] for i, d in enumerate(_DAYS)})
EN_US_INFO.update({0x38 + i: m for i, m in enumerate(_MONTHS)})
EN_US_INFO.update({0x44 + i: m[:3] for i, m in enumerate(_MONTHS)})
EN_US_INFO.update({0x60 + i: d[:2] for i, d in enumerate(_DAYS)})

# the invariant locale: what differs from en-US, and the data en-US has that it does not replace
INVARIANT_INFO = dict(EN_US_INFO)
INVARIANT_INFO.update({
    0x01: "007f", 0x02: "Invariant Language (Invariant Country)", 0x03: "IVL", 0x04: "Invariant Language",
    0x06: "Invariant Country", 0x07: "IVC", 0x08: "Invariant Country", 0x09: "007f", 0x14: "\u00a4",
    0x15: "XDR", 0x1B: "0", 0x1C: "0", 0x1F: "MM/dd/yyyy", 0x20: "dddd, dd MMMM yyyy", 0x23: "1", 0x25: "1",
    0x26: "1", 0x27: "1", 0x59: "iv", 0x5A: "IV", 0x5C: "", 0x67: "ivl", 0x68: "ivc", 0x6D: "",
    0x6E: "Invariant Language (Invariant Country)", 0x6F: "Invariant Language (Invariant Country)",
    0x72: "Invariant Language (Invariant Country)", 0x73: "Invariant Language (Invariant Country)",
    0x74: "0", 0x75: "0", 0x78: "MMMM dd", 0x79: "HH:mm", 0x7B: "",
    0x1001: "Invariant Language", 0x1002: "Invariant Country", 0x1003: "HH:mm:ss", 0x1006: "yyyy MMMM",
    0x1007: "International Monetary Fund", 0x1008: "International Monetary Fund", 0x100C: "0", 0x1010: "1",
})
_NUMERIC = {0x01, 0x05, 0x09, 0x0A, 0x0B, 0x0D, 0x11, 0x12, 0x19, 0x1A, 0x1B, 0x1C, 0x21, 0x22, 0x23, 0x24,
            0x25, 0x26, 0x27, 0x52, 0x53, 0x54, 0x55, 0x56, 0x57, 0x70, 0x71, 0x74, 0x75, 0x1004, 0x1005, 0x1009,
            0x100A, 0x100B, 0x100C, 0x100D, 0x1010, 0x1011, 0x1012, 0x1014, 0x1015, 0x1016, 0x1017, 0x1018}


def _stop(c, what: str):
    from winhatch.win32.msvcrt.runtime import not_implemented
    not_implemented(c, what)


def default_lcid(c, user: bool = True) -> int:
    """The user's (or the system's) default LCID from the kernel (NtQueryDefaultLocale)."""
    out = c.stack_alloc(4)
    st = c.nt("NtQueryDefaultLocale", 1 if user else 0, out)
    if st & 0x80000000:
        _stop(c, f"NtQueryDefaultLocale: {st:#x}")
    return c.u32(out)


def ui_language(c) -> int:
    out = c.stack_alloc(4)
    st = c.nt("NtQueryDefaultUILanguage", out)
    if st & 0x80000000:
        _stop(c, f"NtQueryDefaultUILanguage: {st:#x}")
    return c.u32(out) & 0xFFFF


def _modelled(c, lcid: int, what) -> int | None:
    if lcid in BY_LCID:
        return lcid
    if lcid == lcid & 0x3FF and lcid in NEUTRAL_DEFAULTS:     # a neutral LCID: its language's default locale
        return NEUTRAL_DEFAULTS[lcid]
    _stop(c, f"the locale {what} (modelled: {', '.join(sorted(x.name for x in BY_LCID.values()))} and the "
             f"invariant locale)")
    return None


def resolve_lcid(c, lcid: int) -> int | None:
    """The locale an LCID names (a modelled LCID or LOCALE_INVARIANT); None for an LCID that is not a locale;
    a real locale this machine does not model stops loudly."""
    lcid &= 0xFFFFFFFF
    if lcid in LCID_ALIASES:
        return LCID_ALIASES[lcid]
    if lcid in (LOCALE_USER_DEFAULT, LOCALE_NEUTRAL, LOCALE_CUSTOM_DEFAULT, LOCALE_CUSTOM_UI_DEFAULT):
        return default_lcid(c, True) if lcid != LOCALE_CUSTOM_UI_DEFAULT else _modelled(c, ui_language(c), "UI")
    if lcid == LOCALE_SYSTEM_DEFAULT:
        return default_lcid(c, False)
    if lcid in (EN_US, 0x9):
        return EN_US
    if lcid == LOCALE_INVARIANT:
        return LOCALE_INVARIANT
    lang = lcid & 0x3FF
    if lcid > 0xFFFFF or lang == 0 or lcid == LOCALE_CUSTOM_UNSPECIFIED:
        return None
    return _modelled(c, lcid & 0xFFFF, f"0x{lcid:x}")


def resolve_name(c, name: str | None) -> int | None:
    if name is None or name == LOCALE_NAME_SYSTEM_DEFAULT:
        return default_lcid(c, name is None)
    if name.lower() in ("en-us", "en"):
        return EN_US
    if name == "":
        return LOCALE_INVARIANT
    if len(name) > 84 or not all(ch.isalnum() or ch in "-_" for ch in name):
        return None
    first = name.replace("_", "-").split("-")[0]
    if not (2 <= len(first) <= 3 and first.isascii() and first.isalpha()):
        return None         # not a locale name at all (BCP 47: a 2- or 3-letter language first): invalid
    status, lcid = lookup_name(name)
    if status == "ok":
        return lcid & 0xFFFF           # an alternate sort: the locale's data (LocaleNameToLCID keeps its sort ID)
    if status == "unknown":
        _stop(c, f"the locale {name!r} (modelled: {', '.join(sorted(x.name for x in BY_LCID.values()))} and the "
                 f"invariant locale)")
    return None


def formats_locale(c, loc: int | None) -> int | None:
    """The locales whose formats, names of days and months winhatch holds: en-US, the invariant locale and every
    locale of the generated CLDR table (winhatch.kernel.ex.locale_data) whose calendar is the Gregorian; another
    stops loudly there."""
    if loc is not None and loc not in (EN_US, LOCALE_INVARIANT):
        data = LOCALE_DATA.get(locale_name(loc))
        if data is None:
            _stop(c, f"the formats of the locale {locale_name(loc)} (not in winhatch's locale table)")
        elif data.get(0x1009) != "1":
            _stop(c, f"the calendar {data.get(0x1009)} of the locale {locale_name(loc)} (only the Gregorian "
                     f"calendar is modelled)")
    return loc


def locale_table(c, loc: int) -> dict[int, str]:
    """Every datum winhatch holds for a locale (LCTYPE -> string): en-US's and the invariant locale's Windows 10
    values; for another locale its identity (winhatch.kernel.ex.nls) over its CLDR data (locale_data)."""
    if loc == EN_US:
        return EN_US_INFO
    if loc == LOCALE_INVARIANT:
        return INVARIANT_INFO
    out = dict(LOCALE_DATA.get(locale_name(loc), {}))
    out.update(identity_info(c, loc))
    return out


def genitive_month(loc: int, kind: int, nominative: str) -> str:
    """The genitive form of a month name (LOCALE_RETURN_GENITIVE_NAMES; the form a date uses after or before the
    day's number), the nominative one where the language has none."""
    if loc in (EN_US, LOCALE_INVARIANT):
        return nominative
    return GENITIVE.get(locale_name(loc), {}).get(kind, nominative)


def locale_name(lcid: int) -> str:
    if lcid == LOCALE_INVARIANT:
        return ""
    return BY_LCID[lcid].name


def identity_info(c, lcid: int) -> dict[int, str]:
    """What winhatch knows of a locale other than en-US: its identity (winhatch.kernel.ex.nls)."""
    x = BY_LCID[lcid]
    out = {0x01: f"{x.langid:04x}", 0x03: x.lang3, 0x05: str(x.country_code), 0x07: x.ctry3,
           0x09: f"{x.langid:04x}", 0x0A: str(x.country_code), 0x0B: str(x.oemcp), 0x1004: str(x.acp), 0x1011: str(x.maccp),
           0x59: x.iso_lang, 0x5A: x.iso_ctry, 0x5B: str(x.geo_id), 0x5C: x.name, 0x67: x.iso3_lang,
           0x68: x.iso3_ctry, 0x6D: x.iso_lang, 0x72: x.english_name, 0x1001: x.language, 0x1002: x.country,
           0x7B: x.name}
    # a fact not recorded for the locale (None) is left out: asking for it stops loudly
    out = {k: v for k, v in out.items() if v is not None and "None" not in v}
    if ui_language(c) & 0x3FF == 0x09:     # an English UI: the display names are the English ones
        out.update({0x02: x.english_name, 0x06: x.country, 0x6F: x.language})
    return out


def ansi_codec(c, loc: int | None, flags: int = 0) -> str:
    """The code page an ...A function of the locale functions converts with: the locale's own ANSI code page
    (LOCALE_IDEFAULTANSICODEPAGE), the system's with LOCALE_USE_CP_ACP or for a Unicode-only locale."""
    x = BY_LCID.get(loc) if loc not in (None, EN_US, LOCALE_INVARIANT) else None
    if loc in (EN_US, LOCALE_INVARIANT) and not flags & LOCALE_USE_CP_ACP:
        return "cp1252"
    if x is None or not x.acp or flags & LOCALE_USE_CP_ACP:
        return c.machine.nls.ansi_codec
    return f"cp{x.acp}"


def _put(c, buf: int, cch: int, text: str, wide: bool | None = None, codec: str | None = None) -> int:
    """Copy `text` and its NUL (wide: UTF-16, the W and Ex functions; else the caller's ...A/...W form, in
    `codec`, the system's ANSI code page by default)."""
    unit = 2 if (c.wide if wide is None else wide) else 1
    if unit == 2:
        data = text.encode("utf-16-le") + b"\0\0"
    else:
        data = text.encode(codec or c.machine.nls.ansi_codec, "replace") + b"\0"
    n = len(data) // unit
    if cch == 0:
        return n
    if not buf or cch < n:
        if buf and unit == 1:
            c.write(buf, data[:cch])    # the A forms convert into the caller's buffer: what fits is written
        c.set_last_error(ERROR_INSUFFICIENT_BUFFER)
        return 0
    c.write(buf, data)
    return n


def _info(c, loc: int | None, lctype: int, buf: int, cch: int, wide: bool | None = None,
          neutral: str | None = None) -> int:
    """neutral: the neutral locale name asked for ("ar"): its data are its default locale's but for its own name
    (LOCALE_SNAME), its parent (LOCALE_SPARENT: none) and LOCALE_INEUTRAL."""
    if loc is None:
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    if (cch & 0x80000000) or (cch and not buf):
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    kind = lctype & ~(LOCALE_NOUSEROVERRIDE | LOCALE_USE_CP_ACP | LOCALE_RETURN_NUMBER | LOCALE_RETURN_GENITIVE_NAMES
                      | LOCALE_ALLOW_NEUTRAL_NAMES)
    if kind == LOCALE_SSHORTTIME and not (c.wide if wide is None else wide):
        c.set_last_error(ERROR_INVALID_FLAGS)     # a datum of the W forms only (Windows 7 on)
        return 0
    if lctype & LOCALE_RETURN_GENITIVE_NAMES:
        # the genitive month names: a flag of the W forms, with a month name only
        if not (c.wide if wide is None else wide) or not (0x38 <= kind <= 0x4F or kind in (0x100E, 0x100F)):
            c.set_last_error(ERROR_INVALID_FLAGS)
            return 0
    value = locale_table(c, loc).get(kind)
    if neutral is not None:
        value = {0x5C: neutral, 0x6D: "", 0x71: "1"}.get(kind, value)
    if value is None:
        _stop(c, f"GetLocaleInfo LCTYPE 0x{kind:x}" + (f" of the locale {locale_name(loc)}" if loc in BY_LCID else ""))
    if lctype & LOCALE_RETURN_GENITIVE_NAMES:
        value = genitive_month(loc, kind, value)
    if lctype & LOCALE_RETURN_NUMBER:
        if kind not in _NUMERIC:
            c.set_last_error(ERROR_INVALID_FLAGS)
            return 0
        size = 2 if (c.wide if wide is None else wide) else 4
        if cch == 0:
            return size
        if cch < size:
            c.set_last_error(ERROR_INSUFFICIENT_BUFFER)
            return 0
        c.write_u32(buf, int(value, 16) if kind in (0x01, 0x09) else int(value))
        return size
    return _put(c, buf, cch, value, wide, ansi_codec(c, loc, lctype))


@api(K32, "int WINAPI GetLocaleInfo%(LCID Locale, LCTYPE LCType, LPTSTR lpLCData, int cchData)")
def GetLocaleInfo(c, lcid, lctype, buf, cch):
    return _info(c, resolve_lcid(c, lcid), lctype, buf, cch)


@api(K32, "int WINAPI GetLocaleInfoEx(LPCWSTR lpLocaleName, LCTYPE LCType, LPWSTR lpLCData, int cchData)")
def GetLocaleInfoEx(c, name, lctype, buf, cch):
    if name is not None and name.lower() in NEUTRAL_NAME_DEFAULTS:
        default = NEUTRAL_NAME_DEFAULTS[name.lower()]
        return _info(c, resolve_name(c, default), lctype, buf, cch, True, name.lower())
    return _info(c, resolve_name(c, name), lctype, buf, cch, True)


@api(K32, "LCID WINAPI GetUserDefaultLCID(void)")
def GetUserDefaultLCID(c):
    return default_lcid(c, True)


@api(K32, "LCID WINAPI GetSystemDefaultLCID(void)")
def GetSystemDefaultLCID(c):
    return default_lcid(c, False)


@api(K32, "LANGID WINAPI GetUserDefaultLangID(void)")
def GetUserDefaultLangID(c):
    return default_lcid(c, True) & 0xFFFF


@api(K32, "LANGID WINAPI GetSystemDefaultLangID(void)")
def GetSystemDefaultLangID(c):
    return default_lcid(c, False) & 0xFFFF


@api(K32, "LANGID WINAPI GetUserDefaultUILanguage(void)")
def GetUserDefaultUILanguage(c):
    return ui_language(c)


@api(K32, "LANGID WINAPI GetSystemDefaultUILanguage(void)")
def GetSystemDefaultUILanguage(c):
    """The install language (NtQueryInstallUILanguage)."""
    out = c.stack_alloc(4)
    st = c.nt("NtQueryInstallUILanguage", out)
    if st & 0x80000000:
        _stop(c, f"NtQueryInstallUILanguage: {st:#x}")
    return c.u32(out) & 0xFFFF


@api(K32, "LANGID WINAPI GetThreadUILanguage(void)")
def GetThreadUILanguage(c):
    return ui_language(c)


def _default_name(c, buf, cch, user: bool) -> int:
    """The name and its NUL; a buffer too small: 0, ERROR_INSUFFICIENT_BUFFER."""
    if cch <= 0 or not buf:
        c.set_last_error(ERROR_INVALID_PARAMETER if cch < 0 or not buf else ERROR_INSUFFICIENT_BUFFER)
        return 0
    return _put(c, buf, cch, locale_name(default_lcid(c, user)), True)


@api(K32, "int WINAPI GetUserDefaultLocaleName(LPWSTR lpLocaleName, int cchLocaleName)")
def GetUserDefaultLocaleName(c, buf, cch):
    return _default_name(c, buf, cch, True)


@api(K32, "int WINAPI GetSystemDefaultLocaleName(LPWSTR lpLocaleName, int cchLocaleName)")
def GetSystemDefaultLocaleName(c, buf, cch):
    return _default_name(c, buf, cch, False)


@api(K32, "int WINAPI LCIDToLocaleName(LCID Locale, LPWSTR lpName, int cchName, DWORD dwFlags)")
def LCIDToLocaleName(c, lcid, buf, cch, flags):
    loc = resolve_lcid(c, lcid)
    if loc is None or flags & ~LOCALE_ALLOW_NEUTRAL_NAMES or cch < 0:
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    name = locale_name(loc)
    if lcid == 0x9 and flags & LOCALE_ALLOW_NEUTRAL_NAMES:
        name = "en"
    name = next((n for n, sl in ALT_SORTS.items() if sl == lcid & 0xFFFFF), name)     # "de-DE_phoneb"
    return _put(c, buf, cch, name, True)


@api(K32, "LCID WINAPI LocaleNameToLCID(LPCWSTR lpName, DWORD dwFlags)")
def LocaleNameToLCID(c, name, flags):
    if flags & ~LOCALE_ALLOW_NEUTRAL_NAMES:
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    if name is not None and name.lower() == "en":
        return 0x9 if flags & LOCALE_ALLOW_NEUTRAL_NAMES else EN_US
    if name == LOCALE_NAME_SYSTEM_DEFAULT:
        c.set_last_error(ERROR_INVALID_PARAMETER)     # not a name LocaleNameToLCID resolves
        return 0
    loc = resolve_name(c, name)
    if loc is None:
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    if name is not None and lookup_name(name)[1] >> 16:        # an alternate sort keeps its sort ID
        return lookup_name(name)[1]
    return loc


@api(K32, "BOOL WINAPI IsValidLocale(LCID Locale, DWORD dwFlags)")
def IsValidLocale(c, lcid, flags):
    """LCID_INSTALLED, LCID_SUPPORTED or 0 (Wine's locale test, written to pass on Windows, asks with 0); the
    default pseudo-LCIDs (LOCALE_USER_DEFAULT ...) are not locales themselves (FALSE), nor is LOCALE_NEUTRAL."""
    if flags not in (0, LCID_INSTALLED, LCID_SUPPORTED):
        return 0
    if lcid in (LOCALE_USER_DEFAULT, LOCALE_SYSTEM_DEFAULT, LOCALE_NEUTRAL, LOCALE_CUSTOM_DEFAULT,
                LOCALE_CUSTOM_UI_DEFAULT, LOCALE_CUSTOM_UNSPECIFIED):
        return 0
    return 1 if resolve_lcid(c, lcid) is not None else 0


@api(K32, "BOOL WINAPI IsValidLocaleName(LPCWSTR lpLocaleName)")
def IsValidLocaleName(c, name):
    if name == LOCALE_NAME_SYSTEM_DEFAULT or name is None:
        return 0
    return 1 if resolve_name(c, name) is not None else 0


# ============================================================================================ enumeration
# EnumSystemLocalesEx's kinds of locale
LOCALE_ALL, LOCALE_WINDOWS, LOCALE_SUPPLEMENTAL, LOCALE_ALTERNATE_SORTS = 0x0, 0x1, 0x2, 0x4
LOCALE_REPLACEMENT, LOCALE_NEUTRALDATA, LOCALE_SPECIFICDATA = 0x8, 0x10, 0x20
#: the locales installed on this machine: (name, LCID, flags EnumSystemLocalesEx reports)
SYSTEM_LOCALES = (("en", 0x9, LOCALE_WINDOWS | LOCALE_NEUTRALDATA),
                  ("en-US", EN_US, LOCALE_WINDOWS | LOCALE_SPECIFICDATA))


def _enum_locales(c, items, wide: bool, call) -> int:
    """Each item's string in a heap buffer handed to call(addr, item); stops when the callback returns FALSE."""
    from winhatch.win32.kernel32.common import heap_alloc, heap_free
    for text, item in items:
        data = text.encode("utf-16-le") + b"\0\0" if wide else text.encode("cp1252") + b"\0"
        p = heap_alloc(c, len(data))
        if not p:
            return 0
        try:
            c.write(p, data)
            keep = c.machine.dispatcher.call_guest(c.thread, *call(p, item)) & 0xFFFFFFFF
        finally:
            heap_free(c, p)
        if not keep:
            break
    return 1


@api(K32, "BOOL WINAPI EnumSystemLocales%(LOCALE_ENUMPROC lpLocaleEnumProc, DWORD dwFlags)", calls_guest=True)
def EnumSystemLocales(c, proc, flags):
    """The machine's specific locales as 8-digit hexadecimal LCIDs ("00000409"), with LCID_INSTALLED or
    LCID_SUPPORTED alike (every locale here is installed); LCID_ALTERNATE_SORTS: none (en-US has no alternate
    sort). A NULL callback: ERROR_INVALID_PARAMETER."""
    if not proc:
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    if flags & ~(LCID_INSTALLED | LCID_SUPPORTED | LCID_ALTERNATE_SORTS):
        c.set_last_error(ERROR_INVALID_FLAGS)
        return 0
    items = [] if flags & LCID_ALTERNATE_SORTS else \
        [(f"{lcid:08X}", lcid) for _name, lcid, kind in SYSTEM_LOCALES if kind & LOCALE_SPECIFICDATA]
    return _enum_locales(c, items, c.wide, lambda p, _item: (proc, [p]))


@api(K32, "BOOL WINAPI EnumSystemLocalesEx(LOCALE_ENUMPROCEX lpLocaleEnumProcEx, DWORD dwFlags, LPARAM lParam, "
     "LPVOID lpReserved)", calls_guest=True)
def EnumSystemLocalesEx(c, proc, flags, lparam, reserved):
    """The machine's locales by name: LOCALE_ALL (0) every one, else those with one of the kinds asked
    (LOCALE_WINDOWS, LOCALE_NEUTRALDATA, LOCALE_SPECIFICDATA...). The callback gets the name, the locale's
    flags and lParam. lpReserved must be NULL (ERROR_INVALID_PARAMETER)."""
    if reserved or not proc:
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    known = (LOCALE_WINDOWS | LOCALE_SUPPLEMENTAL | LOCALE_ALTERNATE_SORTS | LOCALE_REPLACEMENT | LOCALE_NEUTRALDATA
             | LOCALE_SPECIFICDATA)
    if flags & ~known:
        c.set_last_error(ERROR_INVALID_FLAGS)
        return 0
    items = [(name, kind) for name, _lcid, kind in SYSTEM_LOCALES if flags == LOCALE_ALL or kind & flags]
    return _enum_locales(c, items, True, lambda p, kind: (proc, [p, kind, lparam]))


# ============================================================================================ calendars
CAL_GREGORIAN, CAL_GREGORIAN_US = 1, 2
CAL_NOUSEROVERRIDE, CAL_USE_CP_ACP, CAL_RETURN_NUMBER, CAL_RETURN_GENITIVE_NAMES = \
    0x80000000, 0x40000000, 0x20000000, 0x10000000
CAL_ITWODIGITYEARMAX = 0x30
#: the Gregorian calendar of en-US (CALTYPE -> datum), Windows 10's values
GREGORIAN_INFO: dict[int, str] = {
    0x01: "1", 0x02: "Gregorian Calendar", 0x03: "0", 0x04: "A.D.", 0x05: "M/d/yyyy",
    0x06: "dddd, MMMM d, yyyy", 0x2F: "MMMM yyyy", CAL_ITWODIGITYEARMAX: "2049", 0x38: "MMMM d",
}
GREGORIAN_INFO.update({0x07 + i: d for i, d in enumerate(_DAYS)})
GREGORIAN_INFO.update({0x0E + i: d[:3] for i, d in enumerate(_DAYS)})
GREGORIAN_INFO.update({0x15 + i: m for i, m in enumerate(_MONTHS)})
GREGORIAN_INFO[0x21] = ""
GREGORIAN_INFO.update({0x22 + i: m[:3] for i, m in enumerate(_MONTHS)})
GREGORIAN_INFO[0x2E] = ""
GREGORIAN_INFO.update({0x31 + i: d[:2] for i, d in enumerate(_DAYS)})
_CAL_NUMERIC = {0x01, 0x03, CAL_ITWODIGITYEARMAX}


def _calendar_info(c, loc, calendar: int, caltype: int, buf: int, cch: int, pvalue: int, wide: bool) -> int:
    """GetCalendarInfo(A/W/Ex): a datum of a calendar of the locale, as a string (count of TCHARs with the NUL;
    cch 0 asks for it) or, with CAL_RETURN_NUMBER, a DWORD in *lpValue (the return is its size in TCHARs)."""
    loc = formats_locale(c, loc)
    if loc is None or (cch & 0x80000000):
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    if calendar not in (CAL_GREGORIAN, CAL_GREGORIAN_US):
        _stop(c, f"GetCalendarInfo calendar {calendar} (only the Gregorian calendar is modelled)")
    kind = caltype & ~(CAL_NOUSEROVERRIDE | CAL_USE_CP_ACP | CAL_RETURN_NUMBER | CAL_RETURN_GENITIVE_NAMES)
    value = GREGORIAN_INFO.get(kind)
    if value is None:
        _stop(c, f"GetCalendarInfo CALTYPE 0x{kind:x}")
    if caltype & CAL_RETURN_NUMBER:
        if not pvalue or kind not in _CAL_NUMERIC:
            c.set_last_error(ERROR_INVALID_PARAMETER if not pvalue else ERROR_INVALID_FLAGS)
            return 0
        c.write_u32(pvalue, int(value))
        return 2 if wide else 4
    return _put(c, buf, cch, value, wide)


@api(K32, "int WINAPI GetCalendarInfoA(LCID Locale, CALID Calendar, CALTYPE CalType, LPSTR lpCalData, int cchData, "
     "LPDWORD lpValue)")
def GetCalendarInfoA(c, lcid, cal, caltype, buf, cch, pvalue):
    return _calendar_info(c, resolve_lcid(c, lcid), cal, caltype, buf, cch, pvalue, False)


@api(K32, "int WINAPI GetCalendarInfoW(LCID Locale, CALID Calendar, CALTYPE CalType, LPWSTR lpCalData, int cchData, "
     "LPDWORD lpValue)")
def GetCalendarInfoW(c, lcid, cal, caltype, buf, cch, pvalue):
    return _calendar_info(c, resolve_lcid(c, lcid), cal, caltype, buf, cch, pvalue, True)


@api(K32, "int WINAPI GetCalendarInfoEx(LPCWSTR lpLocaleName, CALID Calendar, LPCWSTR lpReserved, CALTYPE CalType, "
     "LPWSTR lpCalData, int cchData, LPDWORD lpValue)")
def GetCalendarInfoEx(c, name, cal, reserved, caltype, buf, cch, pvalue):
    return _calendar_info(c, resolve_name(c, name), cal, caltype, buf, cch, pvalue, True)
