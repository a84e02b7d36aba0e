"""The machine's national-language settings (the profile's `[locale]` table): the user and system default
locales, the UI language, the keyboard layouts and the code pages they imply.

The kernel keeps the default locales and UI language (NtQueryDefaultLocale, NtQueryDefaultUILanguage,
NtQueryInstallUILanguage); the system locale fixes the ANSI, OEM and Mac code pages (the registry's
Control\\Nls\\CodePage, GetACP/GetOEMCP, the ANSI strings of every ...A function); the user locale is
HKCU\\Control Panel\\International and the keyboard layouts HKCU\\Keyboard Layout\\Preload.

The table below holds, for each locale winhatch models, the facts Microsoft documents for it ([MS-LCID]'s
LCID, the locale's default ANSI/OEM/Mac code pages from the "Code Page Identifiers" and NLS tables
(LOCALE_IDEFAULTANSICODEPAGE, LOCALE_IDEFAULTCODEPAGE, LOCALE_IDEFAULTMACCODEPAGE), its keyboard layout
identifier (the KLID, "00000419" for Russian), and its English names.
"""
from __future__ import annotations

from winhatch._record import FrozenRecord


class LocaleInfo(FrozenRecord):
    name: str           # "ru-RU"
    lcid: int           # 0x419
    acp: int            # LOCALE_IDEFAULTANSICODEPAGE (0: a Unicode-only locale)
    oemcp: int          # LOCALE_IDEFAULTCODEPAGE
    maccp: int          # LOCALE_IDEFAULTMACCODEPAGE
    language: str       # LOCALE_SENGLISHLANGUAGENAME
    country: str        # LOCALE_SENGLISHCOUNTRYNAME
    lang3: str | None   # LOCALE_SABBREVLANGNAME ("RUS"; None: not recorded, asking for it stops loudly)
    ctry3: str          # LOCALE_SABBREVCTRYNAME ("RUS")
    iso3_lang: str      # LOCALE_SISO639LANGNAME2 ("rus")
    iso3_ctry: str      # LOCALE_SISO3166CTRYNAME2 ("RUS")
    country_code: int   # LOCALE_ICOUNTRY (the international dialling code)
    geo_id: int         # LOCALE_IGEOID
    klid: int = 0       # the default keyboard layout (0: the LCID's language)

    _fields = ('name', 'lcid', 'acp', 'oemcp', 'maccp', 'language', 'country', 'lang3', 'ctry3', 'iso3_lang',
                'iso3_ctry', 'country_code', 'geo_id', 'klid')

    # (a default is the class attribute of the same name: the signature is evaluated in the class body)
    def __init__(self, name, lcid, acp, oemcp, maccp, language, country, lang3, ctry3, iso3_lang, iso3_ctry,
                 country_code, geo_id, klid=klid) -> None:
        vars(self).update(name=name, lcid=lcid, acp=acp, oemcp=oemcp, maccp=maccp, language=language, country=country,
                          lang3=lang3, ctry3=ctry3, iso3_lang=iso3_lang, iso3_ctry=iso3_ctry,
                          country_code=country_code, geo_id=geo_id, klid=klid)

    @property
    def langid(self) -> int:
        return self.lcid & 0xFFFF

    @property
    def keyboard(self) -> int:
        return self.klid or self.langid

    @property
    def english_name(self) -> str:
        return f"{self.language} ({self.country})"

    @property
    def iso_lang(self) -> str:
        return self.name.split("-")[0]

    @property
    def iso_ctry(self) -> str:
        return self.name.split("-")[-1]


def _l(name, lcid, acp, oemcp, maccp, language, country, lang3, ctry3, iso3_lang, iso3_ctry, code, geo, klid=0):
    return LocaleInfo(name, lcid, acp, oemcp, maccp, language, country, lang3, ctry3, iso3_lang, iso3_ctry, code,
                      geo, klid)


LOCALES: dict[str, LocaleInfo] = {x.name.lower(): x for x in (
    _l("en-US", 0x0409, 1252, 437, 10000, "English", "United States", "ENU", "USA", "eng", "USA", 1, 244),
    _l("en-GB", 0x0809, 1252, 850, 10000, "English", "United Kingdom", "ENG", "GBR", "eng", "GBR", 44, 242),
    _l("de-DE", 0x0407, 1252, 850, 10000, "German", "Germany", "DEU", "DEU", "deu", "DEU", 49, 94),
    _l("fr-FR", 0x040C, 1252, 850, 10000, "French", "France", "FRA", "FRA", "fra", "FRA", 33, 84),
    _l("es-ES", 0x0C0A, 1252, 850, 10000, "Spanish", "Spain", "ESN", "ESP", "spa", "ESP", 34, 217, 0x040A),
    _l("it-IT", 0x0410, 1252, 850, 10000, "Italian", "Italy", "ITA", "ITA", "ita", "ITA", 39, 118),
    _l("pt-BR", 0x0416, 1252, 850, 10000, "Portuguese", "Brazil", "PTB", "BRA", "por", "BRA", 55, 32),
    _l("pl-PL", 0x0415, 1250, 852, 10029, "Polish", "Poland", "PLK", "POL", "pol", "POL", 48, 191),
    _l("tr-TR", 0x041F, 1254, 857, 10081, "Turkish", "Turkey", "TRK", "TUR", "tur", "TUR", 90, 235),
    _l("ru-RU", 0x0419, 1251, 866, 10007, "Russian", "Russia", "RUS", "RUS", "rus", "RUS", 7, 203),
    _l("uk-UA", 0x0422, 1251, 866, 10017, "Ukrainian", "Ukraine", "UKR", "UKR", "ukr", "UKR", 380, 241),
    _l("be-BY", 0x0423, 1251, 866, 10007, "Belarusian", "Belarus", "BEL", "BLR", "bel", "BLR", 375, 29),
    _l("kk-KZ", 0x043F, 1251, 866, 10007, "Kazakh", "Kazakhstan", "KKZ", "KAZ", "kaz", "KAZ", 7, 137),
    _l("ja-JP", 0x0411, 932, 932, 10001, "Japanese", "Japan", "JPN", "JPN", "jpn", "JPN", 81, 122),
    _l("zh-CN", 0x0804, 936, 936, 10008, "Chinese", "China", "CHS", "CHN", "zho", "CHN", 86, 45),
    _l("zh-HK", 0x0C04, 950, 950, 10002, "Chinese (Traditional)", "Hong Kong SAR", "ZHH", "HKG", "zho", "HKG", 852,
       104),
    _l("zh-TW", 0x0404, 950, 950, 10002, "Chinese", "Taiwan", "CHT", "TWN", "zho", "TWN", 886, 237),
    _l("ko-KR", 0x0412, 949, 949, 10003, "Korean", "Korea", "KOR", "KOR", "kor", "KOR", 82, 134),
    _l("ar-SA", 0x0401, 1256, 720, 10004, "Arabic", "Saudi Arabia", "ARA", "SAU", "ara", "SAU", 966, 205),
    _l("he-IL", 0x040D, 1255, 862, 10005, "Hebrew", "Israel", "HEB", "ISR", "heb", "ISR", 972, 117),
    # Unicode-only locales: no ANSI code page (LOCALE_IDEFAULTANSICODEPAGE 0, OEM 1, Mac 2: CP_OEMCP/CP_MACCP);
    # they cannot be the system locale
    _l("hi-IN", 0x0439, 0, 1, 2, "Hindi", "India", "HIN", "IND", "hin", "IND", 91, 113),
    _l("ka-GE", 0x0437, 0, 1, 2, "Georgian", "Georgia", "KAT", "GEO", "kat", "GEO", 995, 88),
    _l("nl-NL", 0x0413, 1252, 850, 10000, "Dutch", "Netherlands", "NLD", "NLD", "nld", "NLD", 31, 176),
    _l("sv-SE", 0x041D, 1252, 850, 10000, "Swedish", "Sweden", "SVE", "SWE", "swe", "SWE", 46, 221),
    _l("hr-HR", 0x041A, 1250, 852, 10082, "Croatian", "Croatia", "HRV", "HRV", "hrv", "HRV", 385, 108),
    _l("ga-IE", 0x083C, 1252, 850, 10000, "Irish", "Ireland", None, "IRL", "gle", "IRL", 353, 68),
    _l("ms-MY", 0x043E, 1252, 850, 10000, "Malay", "Malaysia", "MSL", "MYS", "msa", "MYS", 60, 167),
    _l("az-Latn-AZ", 0x042C, 1254, 857, 10081, "Azerbaijani", "Azerbaijan", "AZE", "AZE", "aze", "AZE", 994, 5),
    _l("sr-Latn-RS", 0x241A, 1250, 852, 10029, "Serbian (Latin)", "Serbia", "SRM", "SRB", "srp", "SRB", 381, 271),
    _l("uz-Latn-UZ", 0x0443, 1254, 857, None, "Uzbek", "Uzbekistan", "UZB", "UZB", "uzb", "UZB", 998, 247),
)}
BY_LCID: dict[int, LocaleInfo] = {x.lcid: x for x in LOCALES.values()}
#: a neutral (language-only) LCID's default locale ([MS-LCID]; LOCALE_ILANGUAGE of the neutral LCID): mostly the
#: language's primary sublanguage, otherwise as listed (Spanish: modern sort, Irish: Ireland, Chinese:
#: PRC, LANG_SERBIAN 0x1A: Croatian)
NEUTRAL_DEFAULTS: dict[int, int] = {x.lcid & 0x3FF: x.lcid for x in LOCALES.values() if x.lcid >> 10 == 1}
NEUTRAL_DEFAULTS.update({0x0A: 0x0C0A, 0x3C: 0x083C, 0x04: 0x0804, 0x1A: 0x041A})
#: a neutral locale NAME's default locale (LOCALE_ILANGUAGE of "sr" is Serbian (Latin, Serbia), while the neutral
#: LCID 0x1A's default is Croatian): the language's default locale, Serbian's as listed
NEUTRAL_NAME_DEFAULTS: dict[str, str] = {x.iso_lang: x.name for x in LOCALES.values()
                         if NEUTRAL_DEFAULTS.get(x.lcid & 0x3FF, x.lcid) == x.lcid}
NEUTRAL_NAME_DEFAULTS["sr"] = "sr-Latn-RS"
#: names and LCIDs of a language-and-script ([MS-LCID] "zh-Hant" 0x7C04, "zh-Hans" 0x0004) that name their
#: default locale: LocaleNameToLCID("zh-Hant") is Hong Kong's 0x0C04, LCIDToLocaleName(0x7C04) "zh-HK"
NAME_ALIASES: dict[str, str] = {"zh-hant": "zh-HK", "zh-hans": "zh-CN"}
LCID_ALIASES: dict[int, int] = {0x7C04: 0x0C04}
#: the alternate sort orders winhatch names ([MS-LCID]: the sort ID in bits 16-19 of the LCID); their data are
#: the locale's, their sort order is not modelled
ALT_SORTS: dict[str, int] = {"de-DE_phoneb": 0x10407}
DEFAULT_LOCALE = "en-US"


def find_locale(name_or_lcid) -> LocaleInfo | None:
    """A modelled locale by name ("ru-RU", any case) or LCID (0x419, or "0x419")."""
    if isinstance(name_or_lcid, int):
        return BY_LCID.get(name_or_lcid)
    s = str(name_or_lcid).strip()
    if s.lower().startswith("0x"):
        try:
            return BY_LCID.get(int(s, 16))
        except ValueError:
            return None
    return LOCALES.get(s.lower().replace("_", "-"))


def _norm(name: str) -> str:
    return name.lower().replace("_", "-")


def is_locale_name(name: str) -> bool:
    """Whether CLDR knows the name as a locale (language[-Script][-REGION], any case, '_' or '-'), or it names an
    alternate sort winhatch models: a name that is not one is invalid, not an unmodelled locale."""
    from winhatch.kernel.ex.locale_data import CLDR_NAMES
    n = _norm(name)
    if n in CLDR_NAMES or n in NAME_ALIASES or any(_norm(a) == n for a in ALT_SORTS):
        return True
    parts = n.split("-")
    if len(parts) == 2:      # "zh-sg": CLDR lists the region under its script ("zh-hans-sg")
        return any(x.startswith(parts[0] + "-") and x.endswith("-" + parts[1]) and x.count("-") == 2
                   for x in CLDR_NAMES)
    return False


def lookup_name(name: str) -> tuple[str, int]:
    """A locale name's LCID: ("ok", lcid) for a modelled locale (an alias or neutral name: its default locale;
    an alternate sort: its LCID with the sort ID), ("invalid", 0) for a name that is no locale, ("unknown", 0) for
    a real locale winhatch does not model."""
    n = _norm(name)
    sort = next((lcid for a, lcid in ALT_SORTS.items() if _norm(a) == n), None)
    if sort is not None:
        return "ok", sort
    n = _norm(NAME_ALIASES.get(n) or NEUTRAL_NAME_DEFAULTS.get(n) or n)
    info = LOCALES.get(n)
    if info is not None:
        return "ok", info.lcid
    return ("unknown", 0) if is_locale_name(name) else ("invalid", 0)


#: RtlLocaleNameToLcid's LCID of a neutral name ([MS-LCID]: the neutral LCID of the language, "sr" the Serbian
#: (Latin) neutral 0x7C1A and "zh" Chinese (Simplified)'s 0x7804)
NEUTRAL_NAME_LCIDS: dict[str, int] = {"sr": 0x7C1A, "zh": 0x7804}


class Nls(FrozenRecord):
    """The machine's locale settings (`machine.nls`)."""
    user: LocaleInfo            # the user default locale (formats: GetUserDefaultLCID)
    system: LocaleInfo          # the system locale (the code pages of non-Unicode programs)
    ui: LocaleInfo              # the UI language
    keyboards: tuple[LocaleInfo, ...]   # the installed keyboard layouts, the default first

    _fields = ('user', 'system', 'ui', 'keyboards')

    def __init__(self, user, system, ui, keyboards) -> None:
        vars(self).update(user=user, system=system, ui=ui, keyboards=keyboards)

    @property
    def acp(self) -> int:
        return self.system.acp

    @property
    def oemcp(self) -> int:
        return self.system.oemcp

    @property
    def maccp(self) -> int:
        return self.system.maccp

    @property
    def ansi_codec(self) -> str:
        return f"cp{self.system.acp}"

    @property
    def oem_codec(self) -> str:
        return f"cp{self.system.oemcp}"

    def hkls(self) -> list[int]:
        """The keyboard layout handles (GetKeyboardLayoutList): a layout's HKL is the layout's language in
        the high word and the input language in the low word (0x04190419 for Russian)."""
        return [(k.keyboard << 16) | k.langid for k in self.keyboards]

    @classmethod
    def from_profile(cls, p) -> "Nls":
        user = find_locale(p.locale)
        system = find_locale(p.system_locale or p.locale)
        ui = find_locale(p.ui_language or p.locale)
        kbd = tuple(find_locale(k) for k in (p.keyboards or _default_keyboards(p.locale)))
        return cls(user, system, ui, kbd)


def _default_keyboards(locale: str) -> tuple[str, ...]:
    """The user locale's layout; a machine set up in another language also has the US layout (what Windows
    setup installs for a non-Latin keyboard)."""
    return (locale,) if locale.lower() == "en-us" else (locale, "en-US")


def registry_description(nls: Nls) -> dict:
    """The registry's locale facts: Control\\Nls\\CodePage and Language, HKCU\\Control Panel\\International
    (the user locale), HKCU\\Keyboard Layout\\Preload (the layouts in order) and Control Panel\\Desktop's
    PreferredUILanguages."""
    keys: dict[str, dict] = {}

    def put(path: str, name: str, type_: str, data) -> None:
        keys.setdefault(path, {"values": {}})["values"][name] = {"type": type_, "data": data}

    nls_key = "HKLM\\SYSTEM\\ControlSet001\\Control\\Nls"
    put(f"{nls_key}\\CodePage", "ACP", "REG_SZ", str(nls.acp))
    put(f"{nls_key}\\CodePage", "OEMCP", "REG_SZ", str(nls.oemcp))
    put(f"{nls_key}\\CodePage", "MACCP", "REG_SZ", str(nls.maccp))
    put(f"{nls_key}\\Language", "Default", "REG_SZ", f"{nls.system.langid:04x}")
    put(f"{nls_key}\\Language", "InstallLanguage", "REG_SZ", f"{nls.ui.langid:04x}")
    put(f"{nls_key}\\Locale", "", "REG_SZ", f"{nls.system.lcid:08x}")
    intl = "HKCU\\Control Panel\\International"
    put(intl, "Locale", "REG_SZ", f"{nls.user.lcid:08X}")
    put(intl, "LocaleName", "REG_SZ", nls.user.name)
    put(intl, "iCountry", "REG_SZ", str(nls.user.country_code))
    if nls.user.name == "en-US":
        put(intl, "sShortDate", "REG_SZ", "M/d/yyyy")
    put(f"{intl}\\Geo", "Nation", "REG_SZ", str(nls.user.geo_id))
    if nls.user.iso_ctry:      # the geo name Windows 10 1709 on keeps beside the GEOID (GetUserDefaultGeoName)
        put(f"{intl}\\Geo", "Name", "REG_SZ", nls.user.iso_ctry)
    put("HKCU\\Control Panel\\Desktop", "PreferredUILanguages", "REG_MULTI_SZ", [nls.ui.name])
    for i, k in enumerate(nls.keyboards, 1):
        put("HKCU\\Keyboard Layout\\Preload", str(i), "REG_SZ", f"{k.keyboard:08x}")
    return {"keys": keys}


__all__ = ["lookup_name", "is_locale_name", "NEUTRAL_NAME_LCIDS", "NAME_ALIASES", "LCID_ALIASES", "ALT_SORTS", "NEUTRAL_NAME_DEFAULTS", "LocaleInfo", "Nls", "LOCALES", "BY_LCID", "DEFAULT_LOCALE", "find_locale", "registry_description"]
