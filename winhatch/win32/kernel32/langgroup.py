"""kernel32 / kernelbase: language groups (EnumSystemLanguageGroups, IsValidLanguageGroup,
EnumLanguageGroupLocales), the installed UI languages (EnumUILanguages) and SetLocaleInfo.

Language groups are Microsoft's documented LGRPID_* 1..17 (all installed, as on Windows 10). A locale's group is
the one of its ANSI code page (the groups are the script families of the code pages: 1252 Western Europe, 1250
Central Europe ... 1258 Vietnamese); a Unicode-only locale is Indic, Georgian or Armenian by its language.
"""
from __future__ import annotations

from winhatch.kernel.ex.nls import BY_LCID
from winhatch.ntstatus import ERROR_INVALID_FLAGS, ERROR_INVALID_PARAMETER
from winhatch.win32.api import api
from winhatch.win32.kernel32.common import K32

LGRPID_INSTALLED, LGRPID_SUPPORTED = 1, 2
LANGUAGE_GROUPS = {1: "Western Europe and United States", 2: "Central Europe", 3: "Baltic", 4: "Greek",
                   5: "Cyrillic", 6: "Turkic", 7: "Japanese", 8: "Korean", 9: "Traditional Chinese",
                   10: "Simplified Chinese", 11: "Thai", 12: "Hebrew", 13: "Arabic", 14: "Vietnamese",
                   15: "Indic", 16: "Georgian", 17: "Armenian"}
_GROUP_OF_ACP = {1252: 1, 1250: 2, 1257: 3, 1253: 4, 1251: 5, 1254: 6, 932: 7, 949: 8, 950: 9, 936: 10,
                 874: 11, 1255: 12, 1256: 13, 1258: 14}
#: the Unicode-only languages of the Indic group ([MS-LCID] primary languages: Hindi, Bengali, Punjabi, Gujarati,
#: Odia, Tamil, Telugu, Kannada, Malayalam, Assamese, Marathi, Sanskrit, Konkani, Nepali, Sinhala)
_INDIC = {0x39, 0x45, 0x46, 0x47, 0x48, 0x49, 0x4A, 0x4B, 0x4C, 0x4D, 0x4E, 0x4F, 0x57, 0x61, 0x5B}
MUI_LANGUAGE_ID, MUI_LANGUAGE_NAME = 0x4, 0x8


def language_group(info) -> int | None:
    if info.acp in _GROUP_OF_ACP:
        return _GROUP_OF_ACP[info.acp]
    lang = info.lcid & 0x3FF
    if lang == 0x37:
        return 16
    if lang == 0x2B:
        return 17
    return 15 if lang in _INDIC else None


def _call_with_strings(c, proc, strings: list[str], make_args, wide: bool) -> int:
    """Each entry's strings in a heap buffer, the callback called with make_args(addresses); stops on FALSE."""
    from winhatch.win32.kernel32.common import heap_alloc, heap_free
    for entry in strings:
        addrs = []
        try:
            for text in entry[0]:
                data = text.encode("utf-16-le") + b"\0\0" if wide else text.encode("cp1252") + b"\0"
                p = heap_alloc(c, len(data))
                if not p:
                    return 0
                addrs.append(p)
                c.write(p, data)
            keep = c.machine.dispatcher.call_guest(c.thread, proc, make_args(addrs, entry[1])) & 0xFFFFFFFF
        finally:
            for p in addrs:
                heap_free(c, p)
        if not keep:
            break
    return 1


@api(K32, "BOOL WINAPI EnumSystemLanguageGroups%(LANGUAGEGROUP_ENUMPROC lpLanguageGroupEnumProc, DWORD dwFlags, "
          "LONG_PTR lParam)", calls_guest=True)
def EnumSystemLanguageGroups(c, proc, flags, lparam):
    """Each language group: its LGRPID, the identifier as a hexadecimal string ("11" for 17), its name, LGRPID_INSTALLED (every
    group is installed; flags 0 is LGRPID_INSTALLED) and lParam."""
    if not proc:
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    if flags not in (0, LGRPID_INSTALLED, LGRPID_SUPPORTED):
        c.set_last_error(ERROR_INVALID_FLAGS)
        return 0
    report = flags or LGRPID_INSTALLED
    entries = [((f"{g:x}", name), g) for g, name in LANGUAGE_GROUPS.items()]
    return _call_with_strings(c, proc, entries, lambda a, g: [g, a[0], a[1], report, lparam], c.wide)


@api(K32, "BOOL WINAPI IsValidLanguageGroup(LGRPID LanguageGroup, DWORD dwFlags)")
def IsValidLanguageGroup(c, lgrpid, flags):
    if flags not in (LGRPID_INSTALLED, LGRPID_SUPPORTED):
        return 0
    return 1 if lgrpid in LANGUAGE_GROUPS else 0


@api(K32, "BOOL WINAPI EnumLanguageGroupLocales%(LANGGROUPLOCALE_ENUMPROC lpLangGroupLocaleEnumProc, "
          "LGRPID LanguageGroup, DWORD dwFlags, LONG_PTR lParam)", calls_guest=True)
def EnumLanguageGroupLocales(c, proc, lgrpid, flags, lparam):
    """The machine's locales of a language group: the group, the LCID, the LCID as 8 hexadecimal digits and
    lParam. dwFlags is reserved (ERROR_INVALID_PARAMETER), as is a group outside 1..17."""
    if not proc or flags or lgrpid not in LANGUAGE_GROUPS:
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    entries = [((f"{x.lcid:08x}",), x.lcid) for x in sorted(BY_LCID.values(), key=lambda x: x.lcid)
               if language_group(x) == lgrpid]
    return _call_with_strings(c, proc, entries, lambda a, lcid: [lgrpid, lcid, a[0], lparam], c.wide)


@api(K32, "BOOL WINAPI EnumUILanguages%(UILANGUAGE_ENUMPROC lpUILanguageEnumProc, DWORD dwFlags, "
          "LONG_PTR lParam)", calls_guest=True)
def EnumUILanguages(c, proc, flags, lparam):
    """The installed UI languages (the machine's UI language): as a 4-digit hexadecimal LANGID (flags 0 or
    MUI_LANGUAGE_ID) or a name (MUI_LANGUAGE_NAME)."""
    from winhatch.win32.kernel32.locale import locale_name, ui_language
    if not proc:
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    if flags & ~(MUI_LANGUAGE_ID | MUI_LANGUAGE_NAME) or flags == MUI_LANGUAGE_ID | MUI_LANGUAGE_NAME:
        c.set_last_error(ERROR_INVALID_FLAGS)
        return 0
    ui = ui_language(c)
    text = locale_name(ui) if flags & MUI_LANGUAGE_NAME and ui in BY_LCID else f"{ui:04x}"
    return _call_with_strings(c, proc, [((text,), 0)], lambda a, _x: [a[0], lparam], c.wide)


#: the LCTYPEs SetLocaleInfo accepts (Microsoft's SetLocaleInfo documentation: the user-settable values)
SETTABLE = {0x1009, 0x19, 0x1B, 0x11, 0x1014, 0x100C, 0x100D, 0x12, 0x0D, 0x1C, 0x1010, 0x100A, 0x23, 0x28, 0x29,
            0x14, 0x1D, 0x0E, 0x10, 0x0C, 0x20, 0x16, 0x18, 0x17, 0x13, 0x51, 0x50, 0x1F, 0x79, 0x0F, 0x1E,
            0x1003, 0x1006, 0x15}


def _set_locale_info(c, lcid, lctype, value: str | None) -> int:
    from winhatch.win32.kernel32.locale import locale_table, resolve_lcid
    if value is None:
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    kind = lctype & ~0x40000000                     # LOCALE_USE_CP_ACP
    if kind not in SETTABLE:
        c.set_last_error(ERROR_INVALID_FLAGS)
        return 0
    loc = resolve_lcid(c, lcid)
    if loc is None:
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    if locale_table(c, loc).get(kind) != value:
        from winhatch.win32.msvcrt.runtime import not_implemented
        not_implemented(c, f"SetLocaleInfo changing LCTYPE 0x{kind:x} (the user's overrides of the locale's "
                           f"data are not modelled: only setting a value to what it is)")
    return 1


@api(K32, "BOOL WINAPI SetLocaleInfoW(LCID Locale, LCTYPE LCType, LPCWSTR lpLCData)")
def SetLocaleInfoW(c, lcid, lctype, value):
    return _set_locale_info(c, lcid, lctype, value)


@api(K32, "BOOL WINAPI SetLocaleInfoA(LCID Locale, LCTYPE LCType, LPCSTR lpLCData)")
def SetLocaleInfoA(c, lcid, lctype, value):
    return _set_locale_info(c, lcid, lctype, value)
