"""kernel32 / kernelbase: EnumCalendarInfo(A/W), EnumCalendarInfoEx(A/W) and EnumCalendarInfoExEx — a datum of
each calendar of a locale (ENUM_ALL_CALENDARS) or of one of its calendars, handed to the callback until it
returns FALSE.

A locale's calendars (winhatch.win32.kernel32.nlsversion_data.CALENDAR_TABLE: Wine 8's record of Windows' lists,
the default calendar first; a locale not listed there has the Gregorian calendar alone). CAL_ICALINTVALUE is the
calendar's identifier itself; another CALTYPE is GetCalendarInfo's datum (winhatch.win32.kernel32.locale), which
stops loudly for a calendar or a locale winhatch has no data for. With CAL_RETURN_NUMBER the callback receives a
pointer to the DWORD, else to the string (the A forms in the locale's code page). The Ex callbacks also receive
the calendar's identifier, EnumCalendarInfoExEx's the reserved NULL and the caller's lParam.
A NULL callback or an LCID (name) that is no locale: ERROR_INVALID_PARAMETER; a calendar the locale does not
have: TRUE without a call."""
from __future__ import annotations

from winhatch.ntstatus import ERROR_INVALID_PARAMETER
from winhatch.win32.api import api
from winhatch.win32.kernel32.common import K32, heap_alloc, heap_free
from winhatch.win32.kernel32.nlsversion_data import CALENDAR_TABLE

ENUM_ALL_CALENDARS = 0xFFFFFFFF
CAL_ICALINTVALUE, CAL_RETURN_NUMBER = 0x01, 0x20000000
#: the most calendars a locale has (the enumeration's bound)
MAX_CALENDARS = 16


def _calendars():
    by_lcid: dict[int, list[int]] = {}
    by_name: dict[str, list[int]] = {}
    for line in CALENDAR_TABLE.split("\n"):
        if line:
            name, lcid, cals = line.split(" ")
            ids = [int(x) for x in cals.split(",")][:MAX_CALENDARS]
            by_name[name.lower()] = ids
            if int(lcid, 16) != 0x1000:
                by_lcid.setdefault(int(lcid, 16), ids)
    return by_lcid, by_name


CALENDARS_BY_LCID, CALENDARS_BY_NAME = _calendars()


def _enum(c, proc, lcid: int | None, cals: list[int], calendar: int, caltype: int, wide: bool, make_args) -> int:
    from winhatch.win32.kernel32 import locale as k32loc
    calendar &= 0xFFFFFFFF
    chosen = cals if calendar == ENUM_ALL_CALENDARS else [x for x in cals if x == calendar]
    kind = caltype & ~(k32loc.CAL_NOUSEROVERRIDE | k32loc.CAL_USE_CP_ACP | CAL_RETURN_NUMBER
                       | k32loc.CAL_RETURN_GENITIVE_NAMES)
    for cal in chosen:
        if kind == CAL_ICALINTVALUE:
            if caltype & CAL_RETURN_NUMBER:
                data = cal.to_bytes(4, "little")
            else:
                data = str(cal).encode("utf-16-le") + b"\0\0" if wide else str(cal).encode("ascii") + b"\0"
        else:
            data = _datum(c, lcid, cal, caltype, wide)
            if data is None:
                return 0
        p = heap_alloc(c, max(len(data), 4))
        if not p:
            return 0
        try:
            c.write(p, data)
            keep = c.machine.dispatcher.call_guest(c.thread, proc, make_args(p, cal)) & 0xFFFFFFFF
        finally:
            heap_free(c, p)
        if not keep:
            break
    return 1


def _datum(c, lcid: int | None, cal: int, caltype: int, wide: bool) -> bytes | None:
    """GetCalendarInfo's datum of the calendar, as the callback receives it."""
    from winhatch.win32.kernel32 import locale as k32loc
    loc = k32loc.resolve_lcid(c, lcid) if lcid is not None else None
    unit = 2 if wide else 1
    scratch = c.stack_alloc(4)
    if caltype & CAL_RETURN_NUMBER:
        if not k32loc._calendar_info(c, loc, cal, caltype, 0, 0, scratch, wide):
            return None
        return c.read(scratch, 4)
    n = k32loc._calendar_info(c, loc, cal, caltype, 0, 0, 0, wide)
    if not n:
        return None
    buf = c.stack_alloc(n * unit)
    if not k32loc._calendar_info(c, loc, cal, caltype, buf, n, 0, wide):
        return None
    return c.read(buf, n * unit)


def _by_lcid(c, proc, lcid, calendar, caltype, wide, make_args) -> int:
    from winhatch.win32.kernel32.nlsversion import _from_lcid
    loc = _from_lcid(c, lcid) if proc else None
    if loc is None:
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    cals = CALENDARS_BY_LCID.get(loc[0], [1])
    return _enum(c, proc, loc[0], cals, calendar, caltype, wide, make_args)


@api(K32, "BOOL WINAPI EnumCalendarInfo%(CALINFO_ENUMPROC lpCalInfoEnumProc, LCID Locale, CALID Calendar, "
          "CALTYPE CalType)", calls_guest=True)
def EnumCalendarInfo(c, proc, lcid, calendar, caltype):
    return _by_lcid(c, proc, lcid, calendar, caltype, c.wide, lambda p, cal: [p])


@api(K32, "BOOL WINAPI EnumCalendarInfoEx%(CALINFO_ENUMPROCEX lpCalInfoEnumProcEx, LCID Locale, CALID Calendar, "
          "CALTYPE CalType)", calls_guest=True)
def EnumCalendarInfoEx(c, proc, lcid, calendar, caltype):
    return _by_lcid(c, proc, lcid, calendar, caltype, c.wide, lambda p, cal: [p, cal])


@api(K32, "BOOL WINAPI EnumCalendarInfoExEx(CALINFO_ENUMPROCEXEX pCalInfoEnumProcExEx, LPCWSTR lpLocaleName, "
          "CALID Calendar, LPCWSTR_RAW lpReserved, CALTYPE CalType, LPARAM lParam)", calls_guest=True)
def EnumCalendarInfoExEx(c, proc, name, calendar, reserved, caltype, lparam):
    from winhatch.win32.kernel32.nlsversion import _from_name
    loc = _from_name(c, name) if proc else None
    if loc is None:
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    cals = CALENDARS_BY_NAME.get((name or "").lower()) if name else None
    if cals is None:
        cals = CALENDARS_BY_LCID.get(loc[0], [1])
    lcid = loc[0] if loc[0] != 0x1000 else None
    return _enum(c, proc, lcid, cals, calendar, caltype, True, lambda p, cal: [p, cal, 0, lparam])
