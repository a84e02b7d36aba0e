"""Generate winhatch/kernel/ex/locale_data.py: each modelled locale's GetLocaleInfo data (LCTYPE -> string)
from the Unicode CLDR, as the `babel` package ships it (pin: babel==2.18.0, CLDR 47).

    .venv/bin/pip install babel==2.18.0 && .venv/bin/python tools/gen_locale_data.py [--check]

Where each datum comes from:
- CLDR (babel.Locale): native language/country/display names (LOCALE_SNATIVELANGNAME, SNATIVECTRYNAME,
  SNATIVEDISPLAYNAME), day and month names (SDAYNAME*, SABBREVDAYNAME*, SSHORTESTDAYNAME*: the "format" context;
  SMONTHNAME*, SABBREVMONTHNAME*: the "stand-alone" context, and with LOCALE_RETURN_GENITIVE_NAMES the "format"
  context), the number symbols (SDECIMAL, STHOUSAND, SNEGATIVESIGN, SPERCENT, SPERMILLE, SNAN, SPOSINFINITY,
  SNEGINFINITY), the grouping of the decimal and currency patterns (SGROUPING, SMONGROUPING), the territory's
  currency (SCURRENCY, SINTLSYMBOL, SENGCURRNAME, SNATIVECURRNAME, ICURRDIGITS), the week data
  (IFIRSTDAYOFWEEK; IFIRSTWEEKOFYEAR from minDays: 1 -> 0 "the week of 1 January", 4 -> 2 "the first week of
  four days", 7 -> 1 "the first full week"), the AM/PM designators, the script (SSCRIPTS, from the likely
  subtags), the text direction (IREADINGLAYOUT).
- Microsoft's NLS documentation, applied to the CLDR patterns: the date and time format pictures are CLDR's
  converted to Windows pictures (y -> yyyy, E -> ddd/dddd, L -> M, a -> tt; SSHORTDATE from the "short"
  date format with a four-digit year, SLONGDATE from "full", STIMEFORMAT from "medium" time, SSHORTTIME from
  "short", SYEARMONTH and SMONTHDAY from the yMMMM and MMMMd skeletons); the LOCALE_I* values documented as
  derived from those pictures/patterns (IDATE/ILDATE order, ICENTURY, IDAYLZERO, IMONLZERO, ITIME, ITLZERO,
  ITIMEMARKPOSN, SDATE/STIME separators, ICURRENCY/INEGCURR, IPOSSYMPRECEDES..., IPOSITIVEPERCENT/
  INEGATIVEPERCENT, INEGNUMBER) follow the tables of the LOCALE_I* constants' documentation.
- Windows conventions where CLDR has no datum (checked with wine64 on this machine): SLIST is ";" where the
  decimal separator is "," and "," otherwise; IDIGITS and ILZERO are 2 and 1; SPOSITIVESIGN is empty;
  IMEASURE and IPAPERSIZE follow CLDR's measurementData/paperSize territories (US system: US, LR, MM; Letter:
  the Americas listed below); the calendar is the Gregorian (ICALENDARTYPE 1, IOPTIONALCALENDAR 0);
  SMONTHNAME13/SABBREVMONTHNAME13 are empty; IOPTIONALCALENDAR is not modelled.
The locale's identity (LCID, code pages, abbreviations, English names, ISO codes, GeoID) is not here: it is
Microsoft's [MS-LCID] data in winhatch/kernel/ex/nls.py. A datum not produced here is not modelled: asking
for it stops the program loudly.
"""
from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
OUT = ROOT / "winhatch" / "kernel" / "ex" / "locale_data.py"

# CLDR measurementData (US system) and paperSize (US-Letter) territories
US_MEASURE = {"US", "LR", "MM"}
# the digits of CLDR's native numbering systems (LOCALE_SNATIVEDIGITS)
NATIVE_DIGITS = {"arab": "\u0660\u0661\u0662\u0663\u0664\u0665\u0666\u0667\u0668\u0669",
                 "deva": "\u0966\u0967\u0968\u0969\u096a\u096b\u096c\u096d\u096e\u096f"}
# Windows' default calendar where it is not the Gregorian (ICALENDARTYPE; checked with wine64): Saudi Arabia's is
# the Um Al-Qura calendar (CAL_UMALQURA 23)
CALENDAR_TYPE = {"ar-SA": "23"}
LETTER = {"US", "CA", "MX", "BZ", "CL", "CO", "CR", "GT", "NI", "PA", "PH", "PR", "SV", "VE"}


def picture(pattern: str, four_digit_year: bool = True) -> str:
    """A CLDR date/time pattern as a Windows format picture."""
    out = []
    i, n = 0, len(pattern)
    while i < n:
        ch = pattern[i]
        if ch == "'":
            j = i + 1
            while j < n:
                if pattern[j] == "'":
                    if j + 1 < n and pattern[j + 1] == "'":
                        j += 2
                        continue
                    break
                j += 1
            out.append(pattern[i:j + 1])
            i = j + 1
            continue
        j = i
        while j < n and pattern[j] == ch:
            j += 1
        cnt = j - i
        if ch == "y":
            out.append("yyyy" if four_digit_year or cnt != 2 else "yy")
        elif ch in "ML":
            out.append("M" * min(cnt, 4))
        elif ch in "Ec":
            out.append("dddd" if cnt >= 4 else "ddd")
        elif ch == "d":
            out.append("d" * min(cnt, 2))
        elif ch in "hHms":
            out.append(ch * min(cnt, 2))
        elif ch in "aBb":
            out.append("tt")
        elif ch == "G":
            out.append("gg")
        elif ch.isascii() and ch.isalpha():
            raise ValueError(f"unhandled CLDR pattern letter {ch!r} in {pattern!r}")
        else:
            out.append(ch * cnt)
        i = j
    # CLDR 42's narrow no-break space before the AM/PM designator is a plain space in Windows' time formats
    return "".join(out).replace("\u202ftt", " tt").strip()


def _letters(pic: str) -> str:
    return re.sub(r"'[^']*'", "", pic)


def _order(pic: str) -> str:
    p = _letters(pic)
    pos = {k: p.find(k) for k in "dMy"}
    order = "".join(sorted((k for k in pos if pos[k] >= 0), key=lambda k: pos[k]))
    return {"Mdy": "0", "dMy": "1", "yMd": "2"}.get(order, "1")


def _grouping(pattern: str) -> str:
    num = pattern.split(";")[0]
    num = re.sub(r"[^#0,.]", "", num).split(".")[0]
    parts = num.split(",")
    if len(parts) == 1:
        return "0"
    primary = len(parts[-1])
    if len(parts) > 2 and len(parts[-2]) != primary:
        return f"{primary};{len(parts[-2])};0"
    return f"{primary};0"


def _currency_layout(pattern: str) -> tuple[bool, bool]:
    """(symbol precedes, separated by a space) of a CLDR currency pattern."""
    p = pattern.split(";")[0].replace("\u200f", "").replace("\u200e", "")
    s = p.index("\u00a4")
    num = re.search(r"[#0]", p).start()
    precedes = s < num
    between = p[s + 1:num] if precedes else p[p.rindex("0") + 1:s]
    return precedes, any(ch in between for ch in " \u00a0\u202f")


def _icurrency(pre: bool, space: bool) -> int:
    return {(True, False): 0, (False, False): 1, (True, True): 2, (False, True): 3}[(pre, space)]


def _inegcurr(pre: bool, space: bool) -> int:
    """The negative currency format of a pattern with no explicit negative part: the minus sign before it all
    (Microsoft's INEGCURR table: 1 "-$1.1", 5 "-1.1$", 9 "-$ 1.1", 8 "-1.1 $")."""
    return {(True, False): 1, (False, False): 5, (True, True): 9, (False, True): 8}[(pre, space)]


def _percent(pattern: str) -> tuple[str, str]:
    p = pattern.split(";")[0].replace("\u200f", "").replace("\u200e", "")
    s = p.index("%")
    num = re.search(r"[#0]", p).start()
    space = any(ch in (p[s + 1:num] if s < num else p[p.rindex("0") + 1:s]) for ch in " \u00a0\u202f")
    # IPOSITIVEPERCENT: 0 "# %", 1 "#%", 2 "%#", 3 "% #"; INEGATIVEPERCENT: 0 "-# %", 1 "-#%", 2 "-%#", 7 "-% #"
    if s > num:
        return ("0", "0") if space else ("1", "1")
    return ("3", "7") if space else ("2", "2")


def locale_entry(name: str) -> dict[int, str]:
    from babel import Locale
    from babel.core import get_global
    from babel.numbers import get_currency_precision, get_territory_currencies

    parts = name.split("-")
    lang, terr = parts[0], parts[-1]
    script = parts[1] if len(parts) == 3 else None
    loc = Locale.parse(name.replace("-", "_"))
    script = script or loc.script
    en = Locale("en")
    d: dict[int, str] = {}
    d[0x04] = loc.languages[lang]
    d[0x08] = loc.territories[terr]
    d[0x73] = loc.get_display_name(loc)
    sym = loc.number_symbols["latn"]
    d[0x0E] = sym["decimal"]
    d[0x0F] = sym["group"].replace("\u202f", "\u00a0")
    d[0x0C] = ";" if sym["decimal"] == "," else ","
    d[0x0D] = "1" if terr in US_MEASURE else "0"
    d[0x10] = _grouping(loc.decimal_formats[None].pattern)
    d[0x11], d[0x12] = "2", "1"
    native = loc.other_numbering_systems.get("native", "latn")
    d[0x13] = NATIVE_DIGITS.get(native, "0123456789")
    d[0x1014] = "0" if native in NATIVE_DIGITS else "1"      # IDIGITSUBSTITUTION: context (0) or none (1)
    cur = get_territory_currencies(terr)[0]
    d[0x14] = loc.currency_symbols.get(cur, cur)
    d[0x15] = cur
    d[0x16], d[0x17] = d[0x0E], d[0x0F]
    cpat = loc.currency_formats["standard"].pattern
    d[0x18] = _grouping(cpat)
    d[0x19] = d[0x1A] = str(get_currency_precision(cur))
    pre, space = _currency_layout(cpat)
    d[0x1B] = str(_icurrency(pre, space))
    d[0x1C] = str(_inegcurr(pre, space))
    d[0x54] = d[0x56] = "1" if pre else "0"
    d[0x55] = d[0x57] = "1" if space else "0"
    d[0x52], d[0x53] = "1", "1"      # the sign precedes the amount and the symbol
    d[0x50] = ""
    # Windows 10's minus is the ASCII hyphen-minus (CLDR has U+2212 for some languages, with bidi marks)
    d[0x51] = sym["minusSign"].replace("\u200e", "").replace("\u200f", "").replace("\u2212", "-")
    d[0x1010] = "1"
    # dates and times
    short = picture(loc.date_formats["short"].pattern)
    longd = picture(loc.date_formats["full"].pattern)
    stime = picture(loc.time_formats["medium"].pattern)
    sshort = picture(loc.time_formats["short"].pattern)
    d[0x1F], d[0x20], d[0x1003], d[0x79] = short, longd, stime, sshort
    d[0x1006] = picture(loc.datetime_skeletons["yMMMM"].pattern)
    d[0x78] = picture(loc.datetime_skeletons["MMMMd"].pattern)
    sep = re.search(r"[^dMy' ]", _letters(short))
    d[0x1D] = sep.group(0) if sep else "/"
    tsep = re.search(r"[hH]+(.)m", stime)
    d[0x1E] = tsep.group(1) if tsep else ":"
    d[0x21], d[0x22] = _order(short), _order(longd)
    d[0x23] = "1" if "H" in _letters(stime) else "0"
    d[0x24] = "1" if "yyyy" in short else "0"
    d[0x25] = "1" if re.search(r"(HH|hh)", stime) else "0"
    d[0x26] = "1" if "dd" in _letters(short) else "0"
    d[0x27] = "1" if "MM" in _letters(short) else "0"
    lt = _letters(stime)
    d[0x1005] = "1" if "t" in lt and lt.find("t") < min(x for x in (lt.find("h"), lt.find("H")) if x >= 0) else "0"
    fmt_periods = loc.day_periods["format"] if "format" in loc.day_periods else {}
    for key, lctype in (("am", 0x28), ("pm", 0x29)):
        d[lctype] = next((fmt_periods[w][key] for w in ("abbreviated", "wide") if w in fmt_periods
                          and key in fmt_periods[w]), key.upper())
    days = loc.days["format"]
    for i in range(7):          # CLDR's 0 is Monday, LOCALE_SDAYNAME1's day
        d[0x2A + i] = days["wide"][i]
        d[0x31 + i] = days["abbreviated"][i]
        d[0x60 + i] = days["short"][i]
    months_sa, months_f = loc.months["stand-alone"], loc.months["format"]
    for i in range(12):
        d[0x38 + i] = months_sa["wide"][i + 1]
        d[0x44 + i] = months_sa["abbreviated"][i + 1]
    d[0x100E] = d[0x100F] = ""
    d[0x1009] = CALENDAR_TYPE.get(name, "1")       # IOPTIONALCALENDAR is not modelled (CLDR lacks it)
    d[0x100A] = "1" if terr in LETTER else "9"
    d[0x100C] = str(loc.first_week_day)
    d[0x100D] = {1: "0", 4: "2", 7: "1"}.get(loc.min_week_days, "0")
    d[0x1007] = en.currencies.get(cur, cur)
    d[0x1008] = loc.currencies.get(cur, cur)
    d[0x69] = sym["nan"]
    d[0x6A] = sym["infinity"]
    d[0x6B] = d[0x51] + sym["infinity"]
    likely = get_global("likely_subtags").get(lang, "")
    lscript = script or (likely.split("_")[1] if likely.count("_") >= 2 else "Latn")
    d[0x6C] = f"{lscript};"
    # IREADINGLAYOUT: 1 right to left; 2 "vertically, or horizontally left to right, as for Japanese" (the
    # constant's documentation; the CJK languages, as wine64 reports)
    d[0x70] = "1" if loc.text_direction == "rtl" else "2" if lang in ("ja", "zh", "ko") else "0"
    d[0x71] = "0"
    d[0x75], d[0x74] = _percent(loc.percent_formats[None].pattern)
    d[0x76], d[0x77] = sym["percentSign"], sym["perMille"]
    return d


def genitive_entry(name: str) -> dict[int, str]:
    """LOCALE_RETURN_GENITIVE_NAMES: the "format" context month names, where they differ from the stand-alone."""
    from babel import Locale
    parts = name.split("-")
    loc = Locale.parse(name.replace("-", "_"))
    out = {}
    for i in range(12):
        for base, width in ((0x38, "wide"), (0x44, "abbreviated")):
            g = loc.months["format"][width][i + 1]
            if g != loc.months["stand-alone"][width][i + 1]:
                out[base + i] = g
    return out


def _isolated(name: str) -> tuple[dict[int, str], dict[int, str]]:
    """One locale's data, computed in a process of its own: babel 2.18 resolves CLDR's aliases (the stand-alone
    month names of a locale that inherits them from root) by writing into root's shared data, so the next
    locale read in the same process would see the previous one's names."""
    import json
    import subprocess
    out = subprocess.run([sys.executable, __file__, "--entry", name], check=True, capture_output=True, text=True,
                         encoding="utf-8").stdout
    e, g = json.loads(out)
    return {int(k): v for k, v in e.items()}, {int(k): v for k, v in g.items()}


def render() -> str:
    import babel
    from winhatch.kernel.ex.nls import LOCALES
    names = sorted(x.name for x in LOCALES.values() if x.name != "en-US")
    lines = ['"""GENERATED by tools/gen_locale_data.py from the Unicode CLDR (babel ' + babel.__version__ + '): do not',
             'edit; the generator\'s docstring says where each datum comes from. LOCALE_DATA[name][LCTYPE] is',
             "GetLocaleInfo's string; GENITIVE[name][LCTYPE] the month names LOCALE_RETURN_GENITIVE_NAMES returns",
             'where they differ from the nominative ones."""', "", "LOCALE_DATA: dict[str, dict[int, str]] = {"]
    gen = {}
    entries = {n: _isolated(n) for n in names}
    for n in names:
        e, gen[n] = entries[n]
        lines.append(f"    {n!r}: {{")
        for k in sorted(e):
            lines.append(f"        0x{k:04X}: {e[k]!r},")
        lines.append("    },")
    lines.append("}")
    lines.append("")
    lines.append("GENITIVE: dict[str, dict[int, str]] = {")
    for n in names:
        if gen[n]:
            lines.append(f"    {n!r}: {{" + ", ".join(f"0x{k:04X}: {v!r}" for k, v in sorted(gen[n].items())) + "},")
    lines.append("}")
    lines.append("")
    from babel.localedata import locale_identifiers
    known = sorted({i.replace("_", "-").lower() for i in locale_identifiers() if i != "root"})
    lines.append("#: every locale name CLDR knows (lower case): a name outside it is not a locale (invalid); a name in it")
    lines.append("#: that winhatch does not model is a real locale, and asking for it stops loudly")
    lines.append("CLDR_NAMES: frozenset[str] = frozenset(\"\"\"")
    row: list[str] = []
    for n in known:
        if sum(len(x) + 1 for x in row) + len(n) > 110:
            lines.append(" ".join(row))
            row = []
        row.append(n)
    lines.append(" ".join(row))
    lines.append('""".split())')
    return "\n".join(lines) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--check", action="store_true", help="compare with the committed file, write nothing")
    ap.add_argument("--entry", help=argparse.SUPPRESS)
    ns = ap.parse_args()
    if ns.entry:
        import json
        sys.stdout.write(json.dumps([locale_entry(ns.entry), genitive_entry(ns.entry)], ensure_ascii=True))
        return 0
    text = render()
    if ns.check:
        same = OUT.exists() and OUT.read_text(encoding="utf-8") == text
        print("up to date" if same else f"{OUT.relative_to(ROOT)} differs from the generator's output")
        return 0 if same else 1
    OUT.write_text(text, encoding="utf-8")
    print(f"wrote {OUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
