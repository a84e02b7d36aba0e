"""The C runtime's locale (setlocale and what depends on it), for msvcrt.dll and ucrtbase.dll.

Two locales exist in winhatch's machine: "C" (the start-up locale) and the user default, English (United
States) with the ANSI code page 1252, which setlocale names "English_United States.1252" (the name Windows'
CRTs return for setlocale(LC_ALL, "") and ".ACP" on an en-US system). Any other locale name fails as an
unknown one does on Windows: setlocale returns NULL and leaves the locale unchanged.

Per category (LC_COLLATE .. LC_TIME) the runtime keeps the locale name; LC_CTYPE decides the multibyte code
page (none in "C": bytes are code points U+0000..U+00FF), the ctype table and toupper/tolower; LC_NUMERIC and
LC_MONETARY decide localeconv's strings. The tables are computed as the CRT computes them: the ctype flags of
a byte are GetStringTypeW's CT_CTYPE1 flags of its code page character, its case mapping is the character's
(when the mapped character exists in the code page as one byte).
"""
from __future__ import annotations

import struct

from winhatch.win32.msvcrt.startup import c_locale_ctype

LC_ALL, LC_COLLATE, LC_CTYPE, LC_MONETARY, LC_NUMERIC, LC_TIME = range(6)
CATEGORY_NAMES = ("LC_ALL", "LC_COLLATE", "LC_CTYPE", "LC_MONETARY", "LC_NUMERIC", "LC_TIME")
C = "C"
USER = "English_United States.1252"
OEM = "English_United States.437"     # ".OCP": the OEM code page
# names that select the user default locale (country/language names as Windows' CRT spells them)
_USER_NAMES = {"", ".acp", ".1252", "english_united states.1252", "english_united states", "english",
               "english_usa.1252", "english_usa", "american", "american english", "american_usa", "usa"}
_OEM_NAMES = {".ocp", ".437", "english_united states.437"}
_CODEPAGE = {C: None, USER: "cp1252", OEM: "cp437"}


def resolve(name: str) -> str | None:
    """A setlocale locale argument -> the locale's canonical name, None for a locale this machine lacks."""
    if name == C:
        return C
    if name.strip().lower() in _USER_NAMES:
        return USER
    if name.strip().lower() in _OEM_NAMES:
        return OEM
    return None


def state_of(s) -> list[str]:
    lc = getattr(s, "locale_names", None)
    if lc is None:
        lc = s.locale_names = [C] * 6
    return lc


def query(s, cat: int) -> str:
    """setlocale(cat, NULL): the category's locale, LC_ALL's is one name or the composite "LC_COLLATE=...;..."."""
    lc = state_of(s)
    if cat != LC_ALL:
        return lc[cat]
    if len(set(lc[1:])) == 1:
        return lc[1]
    return ";".join(f"{CATEGORY_NAMES[i]}={lc[i]}" for i in range(1, 6))


def set_category(s, cat: int, name: str) -> None:
    lc = state_of(s)
    for i in (range(1, 6) if cat == LC_ALL else (cat,)):
        lc[i] = name


def codepage(s) -> str | None:
    """The LC_CTYPE multibyte code page as a Python codec name, None in the "C" locale."""
    return _CODEPAGE[state_of(s)[LC_CTYPE]]


def codepage_number(s) -> int:
    cp = codepage(s)
    return 0 if cp is None else int(cp[2:])


def _char(b: int, cp: str) -> int:
    try:
        return ord(bytes([b]).decode(cp))
    except UnicodeDecodeError:
        return b     # the undefined bytes of 1252 (0x81, 0x8D, 0x8F, 0x90, 0x9D) are U+0081.. as on Windows


def byte_ctype(s, b: int) -> int:
    """The ctype flags of byte b (0..255) in the runtime's LC_CTYPE locale: in a code-page locale the CRT's
    table is GetStringTypeA's CT_CTYPE1 of the byte (C1_DEFINED, 0x200, included), as the CRT builds it."""
    cp = codepage(s)
    if cp is None:
        return c_locale_ctype(b)
    from winhatch.win32.kernel32.codepages import ctype1
    return ctype1(chr(_char(b, cp)))


def ctype_table_bytes(s) -> bytes:
    return struct.pack("<257H", 0, *(byte_ctype(s, i) for i in range(256)))


def _map_case(s, b: int, upper: bool) -> int:
    cp = codepage(s)
    if b < 0x80 or cp is None:
        if upper:
            return b - 32 if 97 <= b <= 122 else b
        return b + 32 if 65 <= b <= 90 else b
    ch = chr(_char(b, cp))
    m = ch.upper() if upper else ch.lower()
    if len(m) != 1 or m == ch:
        return b
    try:
        out = m.encode(cp)
    except UnicodeEncodeError:
        return b
    return out[0] if len(out) == 1 else b


def toupper(s, b: int) -> int:
    return _map_case(s, b, True)


def tolower(s, b: int) -> int:
    return _map_case(s, b, False)


# struct lconv's strings per locale: decimal_point, thousands_sep, grouping, int_curr_symbol, currency_symbol,
# mon_decimal_point, mon_thousands_sep, mon_grouping, positive_sign, negative_sign; then the 8 char fields
# int_frac_digits, frac_digits, p_cs_precedes, p_sep_by_space, n_cs_precedes, n_sep_by_space, p_sign_posn,
# n_sign_posn ("C": CHAR_MAX each). en-US: LOCALE_SDECIMAL ".", LOCALE_STHOUSAND ",", LOCALE_SGROUPING "3;0",
# LOCALE_SINTLSYMBOL "USD", LOCALE_SCURRENCY "$", LOCALE_ICURRDIGITS 2, LOCALE_ICURRENCY 0 ($1.1),
# LOCALE_INEGCURR 0 (($1.1)), LOCALE_IPOSSIGNPOSN 3, LOCALE_INEGSIGNPOSN 0.
NUMERIC = {C: (".", "", ""), USER: (".", ",", "\x03"), OEM: (".", ",", "\x03")}
MONETARY = {C: ("", "", "", "", "", "", "", (127,) * 8),
            USER: ("USD", "$", ".", ",", "\x03", "", "-", (2, 2, 1, 0, 1, 0, 3, 0))}
MONETARY[OEM] = MONETARY[USER]
