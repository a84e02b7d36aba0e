"""kernel32 / kernelbase: date and time formatting over the locale data of locale.py — GetTimeFormat(A/W/Ex),
GetDateFormat(A/W/Ex), EnumTimeFormats(A/W/Ex) and EnumDateFormats(A/W/ExA/ExW/ExEx).

Format pictures (Microsoft's "Hour, Minute, and Second Format Pictures" and "Day, Month, Year, and Era Format
Pictures"): h/hh (12-hour), H/HH (24-hour), m/mm, s/ss, t/tt (the first character of / the whole AM-PM
designator); d/dd, ddd, dddd (day, abbreviated and full day name), M/MM, MMM, MMMM, y/yy/yyyy, g/gg (era).
A letter repeated more than the longest picture is the longest picture ("hhh" is "hh", "ddddd" "dddd");
other letters and every character between single quotes are copied ('' is one quote).

The TIME_NOSECONDS / TIME_NOMINUTESORSECONDS / TIME_NOTIMEMARKER flags drop the picture and the text around it
as Windows does (the checks of Wine's locale test, written to pass on Windows): the literal text since the
previous picture that is kept, and the text after it up to the next picture or a space — "h:mm:ss tt" without
seconds is "h:mm tt", "h.@:m.@:s.@:tt" is "h.@:mAM".

Conventions of every function here: the count of characters written including the NUL; a buffer of 0
characters asks for that count (nothing is written); a NULL buffer with a size, or a negative size:
ERROR_INVALID_PARAMETER; too small: ERROR_INSUFFICIENT_BUFFER. LOCALE_NOUSEROVERRIDE is refused with an
explicit format (ERROR_INVALID_FLAGS), as documented.
"""
from __future__ import annotations

import struct
from datetime import date

from winhatch.ntstatus import ERROR_INVALID_PARAMETER
from winhatch.win32.api import api

from winhatch.win32.kernel32.common import K32, ERROR_INSUFFICIENT_BUFFER, heap_alloc, heap_free
from winhatch.win32.kernel32.locale import (EN_US, ERROR_INVALID_FLAGS, GREGORIAN_INFO, LOCALE_INVARIANT,
                                            LOCALE_NOUSEROVERRIDE, LOCALE_USE_CP_ACP, _stop, formats_locale,
                                            ansi_codec, genitive_month, locale_name, locale_table, resolve_lcid, resolve_name)

TIME_NOMINUTESORSECONDS, TIME_NOSECONDS, TIME_NOTIMEMARKER, TIME_FORCE24HOURFORMAT = 0x1, 0x2, 0x4, 0x8
DATE_SHORTDATE, DATE_LONGDATE, DATE_USE_ALT_CALENDAR, DATE_YEARMONTH = 0x1, 0x2, 0x4, 0x8
DATE_LTRREADING, DATE_RTLREADING, DATE_AUTOLAYOUT, DATE_MONTHDAY = 0x10, 0x20, 0x40, 0x80
_TIME_FLAGS = (TIME_NOMINUTESORSECONDS | TIME_NOSECONDS | TIME_NOTIMEMARKER | TIME_FORCE24HOURFORMAT
               | LOCALE_NOUSEROVERRIDE | LOCALE_USE_CP_ACP)
_DATE_KINDS = DATE_SHORTDATE | DATE_LONGDATE | DATE_YEARMONTH | DATE_MONTHDAY
_DATE_FLAGS = (_DATE_KINDS | DATE_USE_ALT_CALENDAR | DATE_LTRREADING | DATE_RTLREADING | DATE_AUTOLAYOUT
               | LOCALE_NOUSEROVERRIDE | LOCALE_USE_CP_ACP)
LOCALE_STIMEFORMAT, LOCALE_SSHORTTIME = 0x1003, 0x79
LOCALE_SSHORTDATE, LOCALE_SLONGDATE, LOCALE_SYEARMONTH, LOCALE_SMONTHDAY = 0x1F, 0x20, 0x1006, 0x78
CAL_GREGORIAN = 1
MAX_FORMAT = 1 << 12        # characters of a format picture read from the guest

# the formats the Region settings offer for each locale (the first is the locale's own, GetLocaleInfo's)
TIME_FORMATS = {
    EN_US: {0: ("h:mm:ss tt", "hh:mm:ss tt", "H:mm:ss", "HH:mm:ss"),
            TIME_NOSECONDS: ("h:mm tt", "hh:mm tt", "H:mm", "HH:mm")},
}
DATE_FORMATS = {
    EN_US: {DATE_SHORTDATE: ("M/d/yyyy", "M/d/yy", "MM/dd/yy", "MM/dd/yyyy", "yy/MM/dd", "yyyy-MM-dd", "dd-MMM-yy"),
            DATE_LONGDATE: ("dddd, MMMM d, yyyy", "MMMM d, yyyy", "dddd, d MMMM, yyyy", "d MMMM, yyyy"),
            DATE_YEARMONTH: ("MMMM yyyy",),
            DATE_MONTHDAY: ("MMMM d",)},
}


def _enum_list(c, loc: int, table: dict, kind: int, own: str) -> tuple[str, ...]:
    """The formats Windows offers for a locale: its list where winhatch has it (en-US); the invariant locale
    offers its own format only; another locale's list (its Region settings' alternatives) is not modelled and
    stops loudly rather than enumerating only part of it."""
    if loc in table:
        return table[loc].get(kind, (own,))
    if loc != LOCALE_INVARIANT:
        _stop(c, f"the list of formats of the locale {locale_name(loc)} (EnumDateFormats/EnumTimeFormats: only "
                 f"en-US's and the invariant locale's are modelled)")
    return (own,)


def time_formats(c, loc: int, kind: int) -> tuple[str, ...]:
    t = locale_table(c, loc)
    own = t[LOCALE_SSHORTTIME if kind == TIME_NOSECONDS else LOCALE_STIMEFORMAT]
    return _enum_list(c, loc, TIME_FORMATS, kind, own)


def own_date_format(c, loc: int, kind: int) -> str:
    """The locale's own format of a kind (GetLocaleInfo's SSHORTDATE, SLONGDATE, SYEARMONTH or SMONTHDAY)."""
    return locale_table(c, loc)[{DATE_SHORTDATE: LOCALE_SSHORTDATE, DATE_LONGDATE: LOCALE_SLONGDATE,
                                 DATE_YEARMONTH: LOCALE_SYEARMONTH, DATE_MONTHDAY: LOCALE_SMONTHDAY}[kind]]


def date_formats(c, loc: int, kind: int) -> tuple[str, ...]:
    return _enum_list(c, loc, DATE_FORMATS, kind, own_date_format(c, loc, kind))


# ------------------------------------------------------------------------------------------ the pictures
def tokenize(fmt: str, letters: str) -> list[tuple[str, int] | str]:
    """The picture as a list of (letter, count) and literal strings (quotes resolved)."""
    out: list = []
    i, n = 0, len(fmt)
    lit = []
    while i < n:
        ch = fmt[i]
        if ch == "'":
            i += 1
            while i < n:
                if fmt[i] == "'":
                    if i + 1 < n and fmt[i + 1] == "'":
                        lit.append("'")
                        i += 2
                        continue
                    i += 1
                    break
                lit.append(fmt[i])
                i += 1
            continue
        if ch in letters:
            j = i
            while j < n and fmt[j] == ch:
                j += 1
            if lit:
                out.append("".join(lit))
                lit = []
            out.append((ch, j - i))
            i = j
            continue
        lit.append(ch)
        i += 1
    if lit:
        out.append("".join(lit))
    return out


def format_time(fmt: str, hour: int, minute: int, second: int, flags: int, info: dict) -> str:
    drop = set()
    if flags & TIME_NOMINUTESORSECONDS:
        drop |= {"m", "s"}
    if flags & TIME_NOSECONDS:
        drop.add("s")
    if flags & TIME_NOTIMEMARKER:
        drop.add("t")
    marker = info[0x28] if hour < 12 else info[0x29]
    out: list[str] = []
    pending: list[str] = []      # literal text since the last picture written
    skipping = False             # after a dropped picture: its trailing separator, up to a space
    for tok in tokenize(fmt, "hHmst"):
        if isinstance(tok, str):
            if skipping:
                k = 0
                while k < len(tok) and tok[k] != " ":
                    k += 1
                tok = tok[k:]
                if not tok:
                    continue
                skipping = False
            pending.append(tok)
            continue
        ch, cnt = tok
        if ch in drop:
            pending = []
            skipping = True
            continue
        skipping = False
        if ch == "h" and not flags & TIME_FORCE24HOURFORMAT:
            v = hour % 12 or 12
        elif ch in "hH":
            v = hour
        elif ch == "m":
            v = minute
        elif ch == "s":
            v = second
        else:
            v = None
        text = (marker[:1] if cnt == 1 else marker) if v is None else (f"{v:02d}" if cnt >= 2 else str(v))
        out.extend(pending)
        pending = []
        out.append(text)
    out.extend(pending)
    return "".join(out)


def format_date(fmt: str, year: int, month: int, day: int, info: dict, genitive=None) -> str:
    """genitive(LCTYPE, nominative): the genitive month name, used for MMMM/MMM when the nearest day picture
    before or after it is the day's number (d or dd), as in "d MMMM yyyy" ("6 декабря 2026"); next to a day
    name (ddd, dddd) the month keeps its nominative form."""
    dow = date(year, month, day).weekday()        # Monday = 0, the order of LOCALE_SDAYNAME1..7
    out: list[str] = []
    toks = tokenize(fmt, "dMyg")
    days = [(i, t[1]) for i, t in enumerate(toks) if not isinstance(t, str) and t[0] == "d"]

    def with_day(i: int) -> bool:
        before = [cnt for j, cnt in days if j < i]
        after = [cnt for j, cnt in days if j > i]
        return bool(before and before[-1] <= 2) or bool(after and after[0] <= 2)
    for idx, tok in enumerate(toks):
        if isinstance(tok, str):
            out.append(tok)
            continue
        ch, cnt = tok
        if ch == "d":
            out.append(str(day) if cnt == 1 else f"{day:02d}" if cnt == 2 else
                       info[0x31 + dow] if cnt == 3 else info[0x2A + dow])
        elif ch == "M":
            if cnt <= 2:
                out.append(str(month) if cnt == 1 else f"{month:02d}")
            else:
                kind = (0x44 if cnt == 3 else 0x38) + month - 1
                out.append(genitive(kind, info[kind]) if genitive and with_day(idx) else info[kind])
        elif ch == "y":
            out.append(str(year % 100) if cnt == 1 else f"{year % 100:02d}" if cnt == 2 else str(year))
        else:
            out.append(GREGORIAN_INFO[0x04])       # CAL_SERASTRING: "A.D."
    return "".join(out)


# ------------------------------------------------------------------------------------------ helpers
def _out(c, buf: int, cch: int, text: str, wide: bool, codec: str = "cp1252") -> int:
    data = text.encode("utf-16-le") + b"\0\0" if wide else text.encode(codec, "replace") + b"\0"
    n = len(data) // (2 if wide else 1)
    if cch == 0:
        return n
    if cch < n:
        c.set_last_error(ERROR_INSUFFICIENT_BUFFER)
        return 0
    c.write(buf, data)
    return n


def _read_format(c, addr: int, wide: bool, codec: str = "cp1252") -> str | None:
    if not addr:
        return None
    if wide:
        return c.wstr(addr, MAX_FORMAT)
    return c.cstr(addr, MAX_FORMAT).decode(codec, "replace")


def _systemtime(c, p: int) -> tuple[int, ...]:
    """(year, month, dow, day, hour, minute, second, ms): *lpTime, or the current local time for NULL."""
    if p:
        return struct.unpack("<8H", c.read(p, 16))
    from winhatch.win32.kernel32.time import filetime_to_fields, system_filetime
    return filetime_to_fields(system_filetime(c))


def _bad_buffer(c, buf: int, cch: int) -> bool:
    if cch < 0 or (cch and not buf):
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return True
    return False


def _time(c, loc, flags, ptime, pfmt, buf, cch, wide) -> int:
    loc = formats_locale(c, loc)
    if loc is None or _bad_buffer(c, buf, cch):
        if loc is None:
            c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    if flags & ~_TIME_FLAGS or (pfmt and flags & LOCALE_NOUSEROVERRIDE):
        c.set_last_error(ERROR_INVALID_FLAGS)
        return 0
    _y, _mo, _dw, _d, hour, minute, second, ms = _systemtime(c, ptime)
    if hour > 23 or minute > 59 or second > 59 or ms > 999:
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    codec = ansi_codec(c, loc, flags)
    fmt = _read_format(c, pfmt, wide, codec)
    if fmt is None:
        fmt = locale_table(c, loc)[LOCALE_STIMEFORMAT]
    return _out(c, buf, cch, format_time(fmt, hour, minute, second, flags, locale_table(c, loc)), wide, codec)


def _date(c, loc, flags, pdate, pfmt, buf, cch, wide) -> int:
    loc = formats_locale(c, loc)
    if loc is None or _bad_buffer(c, buf, cch):
        if loc is None:
            c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    kinds = flags & _DATE_KINDS
    if (flags & ~_DATE_FLAGS or kinds & (kinds - 1) or (pfmt and flags & (LOCALE_NOUSEROVERRIDE | _DATE_KINDS))
            or (flags & DATE_LTRREADING and flags & DATE_RTLREADING)):
        c.set_last_error(ERROR_INVALID_FLAGS)
        return 0
    if flags & DATE_USE_ALT_CALENDAR and loc in (EN_US, LOCALE_INVARIANT):
        flags &= ~DATE_USE_ALT_CALENDAR      # en-US has only the Gregorian calendar: the alternate is the same
    elif flags & DATE_USE_ALT_CALENDAR:
        _stop(c, f"the alternate calendar of the locale {locale_name(loc)} (not modelled)")
    year, month, _dw, day = _systemtime(c, pdate)[:4]
    try:
        if not 1601 <= year <= 30827:
            raise ValueError
        date(year, month, day)
    except ValueError:
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    codec = ansi_codec(c, loc, flags)
    fmt = _read_format(c, pfmt, wide, codec)
    if fmt is None:
        fmt = own_date_format(c, loc, kinds or DATE_SHORTDATE)
    if loc not in (EN_US, LOCALE_INVARIANT) and any(not isinstance(t, str) and t[0] == "g" for t in tokenize(fmt, "g")):
        _stop(c, f"the era (g) of the locale {locale_name(loc)}'s calendar (only en-US's is modelled)")
    text = format_date(fmt, year, month, day, locale_table(c, loc), lambda k, v: genitive_month(loc, k, v))
    if flags & (DATE_LTRREADING | DATE_RTLREADING):
        text = ("\u200e" if flags & DATE_LTRREADING else "\u200f") + text
    return _out(c, buf, cch, text, wide, codec)


# ------------------------------------------------------------------------------------------ the APIs
@api(K32, "int WINAPI GetTimeFormatA(LCID Locale, DWORD dwFlags, const SYSTEMTIME *lpTime, LPVOID lpFormat, "
     "LPSTR lpTimeStr, int cchTime)")
def GetTimeFormatA(c, lcid, flags, ptime, pfmt, buf, cch):
    return _time(c, resolve_lcid(c, lcid), flags, ptime, pfmt, buf, cch, False)


@api(K32, "int WINAPI GetTimeFormatW(LCID Locale, DWORD dwFlags, const SYSTEMTIME *lpTime, LPVOID lpFormat, "
     "LPWSTR lpTimeStr, int cchTime)")
def GetTimeFormatW(c, lcid, flags, ptime, pfmt, buf, cch):
    return _time(c, resolve_lcid(c, lcid), flags, ptime, pfmt, buf, cch, True)


@api(K32, "int WINAPI GetTimeFormatEx(LPCWSTR lpLocaleName, DWORD dwFlags, const SYSTEMTIME *lpTime, "
     "LPVOID lpFormat, LPWSTR lpTimeStr, int cchTime)")
def GetTimeFormatEx(c, name, flags, ptime, pfmt, buf, cch):
    return _time(c, resolve_name(c, name), flags, ptime, pfmt, buf, cch, True)


@api(K32, "int WINAPI GetDateFormatA(LCID Locale, DWORD dwFlags, const SYSTEMTIME *lpDate, LPVOID lpFormat, "
     "LPSTR lpDateStr, int cchDate)")
def GetDateFormatA(c, lcid, flags, pdate, pfmt, buf, cch):
    return _date(c, resolve_lcid(c, lcid), flags, pdate, pfmt, buf, cch, False)


@api(K32, "int WINAPI GetDateFormatW(LCID Locale, DWORD dwFlags, const SYSTEMTIME *lpDate, LPVOID lpFormat, "
     "LPWSTR lpDateStr, int cchDate)")
def GetDateFormatW(c, lcid, flags, pdate, pfmt, buf, cch):
    return _date(c, resolve_lcid(c, lcid), flags, pdate, pfmt, buf, cch, True)


@api(K32, "int WINAPI GetDateFormatEx(LPCWSTR lpLocaleName, DWORD dwFlags, const SYSTEMTIME *lpDate, "
     "LPVOID lpFormat, LPWSTR lpDateStr, int cchDate, LPCWSTR lpCalendar)")
def GetDateFormatEx(c, name, flags, pdate, pfmt, buf, cch, calendar):
    """lpCalendar is reserved: it must be NULL (ERROR_INVALID_PARAMETER otherwise)."""
    if calendar is not None:
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    return _date(c, resolve_name(c, name), flags, pdate, pfmt, buf, cch, True)


# ------------------------------------------------------------------------------------------ enumeration
def _enum(c, formats, wide: bool, call) -> int:
    """Each format in a heap buffer handed to call(addr); stops when the callback returns FALSE."""
    for fmt in formats:
        data = fmt.encode("utf-16-le") + b"\0\0" if wide else fmt.encode("cp1252", "replace") + b"\0"
        p = heap_alloc(c, len(data))
        if not p:
            return 0
        try:
            c.write(p, data)
            keep = c.machine.dispatcher.call_guest(c.thread, *call(p)) & 0xFFFFFFFF
        finally:
            heap_free(c, p)
        if not keep:
            break
    return 1


def _enum_time(c, proc, loc, flags, wide, args) -> int:
    loc = formats_locale(c, loc)
    allowed = LOCALE_USE_CP_ACP | (TIME_NOSECONDS if wide else 0)
    if flags & ~allowed:
        c.set_last_error(ERROR_INVALID_FLAGS)
        return 0
    if not proc or loc is None:
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    return _enum(c, time_formats(c, loc, flags & TIME_NOSECONDS), wide, lambda p: (proc, [p, *args]))


@api(K32, "BOOL WINAPI EnumTimeFormatsA(TIMEFMT_ENUMPROCA lpTimeFmtEnumProc, LCID Locale, DWORD dwFlags)",
     calls_guest=True)
def EnumTimeFormatsA(c, proc, lcid, flags):
    """TIME_NOSECONDS is a flag of the W forms only (ERROR_INVALID_FLAGS here, checked before the callback)."""
    if flags & ~LOCALE_USE_CP_ACP:
        c.set_last_error(ERROR_INVALID_FLAGS)
        return 0
    return _enum_time(c, proc, resolve_lcid(c, lcid), flags, False, [])


@api(K32, "BOOL WINAPI EnumTimeFormatsW(TIMEFMT_ENUMPROCW lpTimeFmtEnumProc, LCID Locale, DWORD dwFlags)",
     calls_guest=True)
def EnumTimeFormatsW(c, proc, lcid, flags):
    return _enum_time(c, proc, resolve_lcid(c, lcid), flags, True, [])


@api(K32, "BOOL WINAPI EnumTimeFormatsEx(TIMEFMT_ENUMPROCEX lpTimeFmtEnumProcEx, LPCWSTR lpLocaleName, "
     "DWORD dwFlags, LPARAM lParam)", calls_guest=True)
def EnumTimeFormatsEx(c, proc, name, flags, lparam):
    return _enum_time(c, proc, resolve_name(c, name), flags, True, [lparam])


def _enum_date(c, proc, loc, flags, wide, args) -> int:
    loc = formats_locale(c, loc)
    kinds = flags & _DATE_KINDS
    if flags & ~(_DATE_KINDS | LOCALE_USE_CP_ACP | DATE_USE_ALT_CALENDAR) or kinds & (kinds - 1):
        c.set_last_error(ERROR_INVALID_FLAGS)
        return 0
    if not proc or loc is None:
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    return _enum(c, date_formats(c, loc, kinds or DATE_SHORTDATE), wide, lambda p: (proc, [p, *args]))


@api(K32, "BOOL WINAPI EnumDateFormatsA(DATEFMT_ENUMPROCA lpDateFmtEnumProc, LCID Locale, DWORD dwFlags)",
     calls_guest=True)
def EnumDateFormatsA(c, proc, lcid, flags):
    return _enum_date(c, proc, resolve_lcid(c, lcid), flags, False, [])


@api(K32, "BOOL WINAPI EnumDateFormatsW(DATEFMT_ENUMPROCW lpDateFmtEnumProc, LCID Locale, DWORD dwFlags)",
     calls_guest=True)
def EnumDateFormatsW(c, proc, lcid, flags):
    return _enum_date(c, proc, resolve_lcid(c, lcid), flags, True, [])


@api(K32, "BOOL WINAPI EnumDateFormatsExA(DATEFMT_ENUMPROCEXA lpDateFmtEnumProcEx, LCID Locale, DWORD dwFlags)",
     calls_guest=True)
def EnumDateFormatsExA(c, proc, lcid, flags):
    """The callback also receives the calendar of the format (CAL_GREGORIAN)."""
    return _enum_date(c, proc, resolve_lcid(c, lcid), flags, False, [CAL_GREGORIAN])


@api(K32, "BOOL WINAPI EnumDateFormatsExW(DATEFMT_ENUMPROCEXW lpDateFmtEnumProcEx, LCID Locale, DWORD dwFlags)",
     calls_guest=True)
def EnumDateFormatsExW(c, proc, lcid, flags):
    return _enum_date(c, proc, resolve_lcid(c, lcid), flags, True, [CAL_GREGORIAN])


@api(K32, "BOOL WINAPI EnumDateFormatsExEx(DATEFMT_ENUMPROCEXEX lpDateFmtEnumProcExEx, LPCWSTR lpLocaleName, "
     "DWORD dwFlags, LPARAM lParam)", calls_guest=True)
def EnumDateFormatsExEx(c, proc, name, flags, lparam):
    return _enum_date(c, proc, resolve_name(c, name), flags, True, [CAL_GREGORIAN, lparam])
