"""The machine's time zone (the profile's `[locale] time_zone`, a Windows time-zone key name).

One object, `machine.time_zone` (a `TimeZone`), answers every question about local time: the bias in effect
at a moment of system time (KUSER_SHARED_DATA TimeZoneBias/TimeZoneId, SystemTimeOfDayInformation), the
zone's rule for a year (RTL_TIME_ZONE_INFORMATION, the registry's TZI), and the conversions kernel32 and the
C runtime make (their code reads the kernel's answers: KUSER_SHARED_DATA, NtQuerySystemInformation, the
registry), so every way a program asks sees one zone.

The zones are Windows's, not IANA's: a zone is one rule (a bias, and for a zone with daylight time the two
transitions as SYSTEMTIME rules: month, day of week, week 1-5 where 5 is the last, local time of day) plus
the "Dynamic DST" years whose rule differed, exactly what Windows's registry holds under
HKLM\\SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion\\Time Zones\\<key>. The values below are Microsoft's
published TZI values for Windows 10 (the registry's TZI blobs, "Default Time Zones" documentation). The IANA
name each zone corresponds to (CLDR's windowsZones.xml) is kept for the tests, which check every conversion
against Python's zoneinfo for the years the Windows rule covers.

Conventions (Microsoft's TIME_ZONE_INFORMATION documentation): UTC = local time + bias; the bias in effect is
Bias + StandardBias in standard time and Bias + DaylightBias in daylight time. DaylightDate is given in
standard local time, StandardDate in daylight local time. A zone without transition dates has no daylight
time: its id is TIME_ZONE_ID_UNKNOWN and Bias alone counts.
"""
from __future__ import annotations

import struct
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from datetime import datetime

from winhatch._record import NEW, FrozenRecord

TIME_ZONE_ID_UNKNOWN, TIME_ZONE_ID_STANDARD, TIME_ZONE_ID_DAYLIGHT = 0, 1, 2
FILETIME_TICKS_PER_MINUTE = 600_000_000

#: a transition rule as a SYSTEMTIME's 8 fields (wYear 0: month, day of week, week, hour, minute, ...)
Rule = tuple[int, int, int, int, int, int, int, int]
NO_DATE: Rule = (0, 0, 0, 0, 0, 0, 0, 0)


def rule(month: int, week: int, hour: int, dow: int = 0, minute: int = 0) -> Rule:
    """The `week`-th (5: the last) `dow` (0 Sunday) of `month`, at hour:minute local time."""
    return (0, month, dow, week, hour, minute, 0, 0)


class YearRule(FrozenRecord):
    bias: int                     # minutes: UTC = local + bias
    std_bias: int = 0
    dlt_bias: int = -60
    std_date: Rule = NO_DATE      # when daylight time ends (daylight local time)
    dlt_date: Rule = NO_DATE      # when daylight time starts (standard local time)

    _fields = ('bias', 'std_bias', 'dlt_bias', 'std_date', 'dlt_date')

    # (a default is the class attribute of the same name: the signature is evaluated in the class body)
    def __init__(self, bias, std_bias=std_bias, dlt_bias=dlt_bias, std_date=std_date, dlt_date=dlt_date) -> None:
        vars(self).update(bias=bias, std_bias=std_bias, dlt_bias=dlt_bias, std_date=std_date, dlt_date=dlt_date)

    @property
    def has_daylight(self) -> bool:
        return bool(self.std_date[1] and self.dlt_date[1])

    def tzi(self) -> bytes:
        """REG_TZI_FORMAT (44 bytes): Bias, StandardBias, DaylightBias, StandardDate, DaylightDate."""
        return struct.pack("<3i8H8H", self.bias, self.std_bias, self.dlt_bias, *self.std_date, *self.dlt_date)


class Zone(FrozenRecord):
    key: str                      # the registry key name, TimeZoneKeyName ("W. Europe Standard Time")
    display: str                  # "(UTC+01:00) Amsterdam, Berlin, ..."
    std: str                      # the standard-time name ("W. Europe Standard Time")
    dlt: str                      # the daylight-time name
    current: YearRule             # the rule in force now (the TZI value)
    iana: str                     # the corresponding IANA zone (CLDR windowsZones), for the tests
    dynamic: dict[int, YearRule]   # "Dynamic DST": years whose rule differed
    mui: tuple[int, int] | None = None    # tzres.dll string ids (daylight, standard) when known

    _fields = ('key', 'display', 'std', 'dlt', 'current', 'iana', 'dynamic', 'mui')

    # (a default is the class attribute of the same name: the signature is evaluated in the class body)
    def __init__(self, key, display, std, dlt, current, iana, dynamic=NEW, mui=mui) -> None:
        vars(self).update(key=key, display=display, std=std, dlt=dlt, current=current, iana=iana,
                          dynamic={} if dynamic is NEW else dynamic, mui=mui)

    def rule_for(self, year: int) -> YearRule:
        """The rule of `year`: the Dynamic DST entry of that year, the first entry before FirstEntry, the
        last after LastEntry (Windows's lookup), the current rule for a zone without a table."""
        if not self.dynamic:
            return self.current
        years = sorted(self.dynamic)
        if year <= years[0]:
            return self.dynamic[years[0]]
        if year >= years[-1]:
            return self.dynamic[years[-1]]
        while year not in self.dynamic:    # a year between two entries that did not change: the one before
            year -= 1
        return self.dynamic[year]

    @property
    def std_name(self) -> str:
        """The standard name as the kernel keeps it: tzres.dll's indirect string when the zone's id is
        known (Windows 10's form), else the plain name."""
        return f"@tzres.dll,-{self.mui[1]}" if self.mui else self.std

    @property
    def dlt_name(self) -> str:
        return f"@tzres.dll,-{self.mui[0]}" if self.mui else self.dlt


_EU = dict(std_date=rule(10, 5, 3), dlt_date=rule(3, 5, 2))       # last Sunday of March 02:00 -> October 03:00
_US = dict(std_date=rule(11, 1, 2), dlt_date=rule(3, 2, 2))       # 2nd Sunday of March -> 1st of November
_US_2006 = dict(std_date=rule(10, 5, 2), dlt_date=rule(4, 1, 2))  # before the Energy Policy Act of 2005


def _us(key: str, display: str, bias: int, iana: str) -> Zone:
    name = key.replace(" Standard Time", "")
    return Zone(key, display, key, f"{name} Daylight Time", YearRule(bias, **_US), iana,
                {2006: YearRule(bias, **_US_2006), 2007: YearRule(bias, **_US)})


def _fixed(key: str, display: str, bias: int, iana: str, std: str | None = None, dlt: str | None = None,
           dlt_bias: int = -60) -> Zone:
    std = std or key
    dlt = dlt or std.replace("Standard Time", "Daylight Time")
    return Zone(key, display, std, dlt, YearRule(bias, dlt_bias=dlt_bias), iana)


def _dst(key: str, display: str, bias: int, iana: str, **dates) -> Zone:
    return Zone(key, display, key, key.replace("Standard Time", "Daylight Time"), YearRule(bias, **dates), iana)


ZONES: dict[str, Zone] = {z.key.lower(): z for z in (
    Zone("UTC", "(UTC) Coordinated Universal Time", "Coordinated Universal Time", "Coordinated Universal Time",
         YearRule(0, dlt_bias=0), "UTC", mui=(931, 932)),
    _dst("GMT Standard Time", "(UTC+00:00) Dublin, Edinburgh, Lisbon, London", 0, "Europe/London",
         std_date=rule(10, 5, 2), dlt_date=rule(3, 5, 1)),
    _dst("W. Europe Standard Time", "(UTC+01:00) Amsterdam, Berlin, Bern, Rome, Stockholm, Vienna", -60,
         "Europe/Berlin", **_EU),
    _dst("Romance Standard Time", "(UTC+01:00) Brussels, Copenhagen, Madrid, Paris", -60, "Europe/Paris", **_EU),
    _dst("Central European Standard Time", "(UTC+01:00) Sarajevo, Skopje, Warsaw, Zagreb", -60, "Europe/Warsaw",
         **_EU),
    _dst("FLE Standard Time", "(UTC+02:00) Helsinki, Kyiv, Riga, Sofia, Tallinn, Vilnius", -120,
         "Europe/Helsinki", std_date=rule(10, 5, 4), dlt_date=rule(3, 5, 3)),
    _fixed("Russian Standard Time", "(UTC+03:00) Moscow, St. Petersburg", -180, "Europe/Moscow",
           std="Russia TZ 2 Standard Time"),
    _fixed("Arab Standard Time", "(UTC+03:00) Kuwait, Riyadh", -180, "Asia/Riyadh"),
    _fixed("India Standard Time", "(UTC+05:30) Chennai, Kolkata, Mumbai, New Delhi", -330, "Asia/Kolkata"),
    _fixed("China Standard Time", "(UTC+08:00) Beijing, Chongqing, Hong Kong, Urumqi", -480, "Asia/Shanghai"),
    _fixed("Tokyo Standard Time", "(UTC+09:00) Osaka, Sapporo, Tokyo", -540, "Asia/Tokyo"),
    _fixed("Korea Standard Time", "(UTC+09:00) Seoul", -540, "Asia/Seoul"),
    _dst("AUS Eastern Standard Time", "(UTC+10:00) Canberra, Melbourne, Sydney", -600, "Australia/Sydney",
         std_date=rule(4, 1, 3), dlt_date=rule(10, 1, 2)),
    _fixed("E. South America Standard Time", "(UTC-03:00) Brasilia", 180, "America/Sao_Paulo"),
    _us("Eastern Standard Time", "(UTC-05:00) Eastern Time (US & Canada)", 300, "America/New_York"),
    _us("Central Standard Time", "(UTC-06:00) Central Time (US & Canada)", 360, "America/Chicago"),
    _us("Mountain Standard Time", "(UTC-07:00) Mountain Time (US & Canada)", 420, "America/Denver"),
    _us("Pacific Standard Time", "(UTC-08:00) Pacific Time (US & Canada)", 480, "America/Los_Angeles"),
)}

#: the default machine's zone: an office desktop on the US east coast (the default locale is en-US)
DEFAULT_ZONE = "Eastern Standard Time"


def find_zone(key: str) -> Zone | None:
    return ZONES.get(key.lower())


# ---------------------------------------------------------------------------------------------- conversions
def transition(year: int, st: tuple) -> datetime | None:
    """The local date and time of a transition in `year`: a SYSTEMTIME with wYear 0 is a rule (month, day of
    week, week 1-5 where 5 is the last), otherwise an absolute date. None: no valid date."""
    from datetime import datetime   # (datetime is imported when a date is computed: off the start path)
    y, month, dow, day, hour, minute, second, ms = st
    if not 1 <= month <= 12:
        return None
    try:
        if y:
            return datetime(year, month, day, hour, minute, second, ms * 1000)
        first = datetime(year, month, 1)
        d = 1 + (dow - (first.weekday() + 1) % 7) % 7 + (max(min(day, 5), 1) - 1) * 7
        nxt = datetime(year + (month == 12), month % 12 + 1, 1)
        while d > (nxt - first).days:
            d -= 7
        return datetime(year, month, d, hour, minute, second, ms * 1000)
    except ValueError:
        return None


def to_datetime(ft: int) -> datetime:
    from datetime import datetime, timedelta
    return datetime(1601, 1, 1) + timedelta(microseconds=ft // 10)


def to_filetime(d: datetime) -> int:
    from datetime import datetime
    delta = d - datetime(1601, 1, 1)
    return (delta.days * 86400 + delta.seconds) * 10_000_000 + delta.microseconds * 10


def daylight_period(r: YearRule, year: int) -> tuple[int, int] | None:
    """(start, end) of daylight time in `year` as UTC FILETIMEs (start > end in the southern hemisphere: daylight
    time spans the new year); None for a rule without daylight time."""
    if not r.has_daylight:
        return None
    start, end = transition(year, r.dlt_date), transition(year, r.std_date)
    if start is None or end is None:
        return None
    minute = FILETIME_TICKS_PER_MINUTE
    return (to_filetime(start) + (r.bias + r.std_bias) * minute,    # standard local time -> UTC
            to_filetime(end) + (r.bias + r.dlt_bias) * minute)       # daylight local time -> UTC


def in_daylight(r: YearRule, year: int, utc_ft: int) -> bool:
    p = daylight_period(r, year)
    if p is None:
        return False
    start, end = p
    return start <= utc_ft < end if start < end else not end <= utc_ft < start


class TimeZone:
    """A zone and the machine's questions about it."""

    def __init__(self, zone: Zone):
        self.zone = zone
        self._cache: tuple[int, int, int, int] | None = None    # (from, to, bias, id) valid in [from, to)

    def year_of(self, utc_ft: int) -> int:
        """The local year of a moment (the year whose rule applies), from the standard bias."""
        r = self.zone.current
        return to_datetime(utc_ft - (r.bias + r.std_bias) * FILETIME_TICKS_PER_MINUTE).year

    def state(self, utc_ft: int) -> tuple[int, int]:
        """(bias in minutes, TIME_ZONE_ID_*) in effect at a UTC FILETIME."""
        cache = self._cache
        if cache is not None and cache[0] <= utc_ft < cache[1]:
            return cache[2], cache[3]
        year = self.year_of(utc_ft)
        r = self.zone.rule_for(year)
        if not r.has_daylight:
            bias, zid = r.bias, TIME_ZONE_ID_UNKNOWN
        elif in_daylight(r, year, utc_ft):
            bias, zid = r.bias + r.dlt_bias, TIME_ZONE_ID_DAYLIGHT
        else:
            bias, zid = r.bias + r.std_bias, TIME_ZONE_ID_STANDARD
        # valid until the next transition or the next new year, whichever comes first (cheap to recompute)
        from datetime import datetime
        bounds = [to_filetime(datetime(year, 1, 1)) + (r.bias + r.std_bias) * FILETIME_TICKS_PER_MINUTE,
                  to_filetime(datetime(year + 1, 1, 1)) + (r.bias + r.std_bias) * FILETIME_TICKS_PER_MINUTE]
        p = daylight_period(r, year)
        if p is not None:
            bounds += list(p)
        lo = max((b for b in bounds if b <= utc_ft), default=utc_ft)
        hi = min((b for b in bounds if b > utc_ft), default=utc_ft + 1)
        self._cache = (lo, hi, bias, zid)
        return bias, zid

    def bias_100ns(self, utc_ft: int) -> int:
        return self.state(utc_ft)[0] * FILETIME_TICKS_PER_MINUTE

    def to_local(self, utc_ft: int) -> int:
        return utc_ft - self.bias_100ns(utc_ft)

    # ------------------------------------------------------------------------------------------ structures
    def rtl_information(self, year: int) -> bytes:
        """RTL_TIME_ZONE_INFORMATION (172 bytes) for `year`: Bias, StandardName[32], StandardDate, StandardBias,
        DaylightName[32], DaylightDate, DaylightBias (the names as the kernel keeps them)."""
        z, r = self.zone, self.zone.rule_for(year)
        std = z.std_name[:31].encode("utf-16-le").ljust(64, b"\0")
        dlt = z.dlt_name[:31].encode("utf-16-le").ljust(64, b"\0")
        return (struct.pack("<i", r.bias) + std + struct.pack("<8H", *r.std_date) + struct.pack("<i", r.std_bias)
                + dlt + struct.pack("<8H", *r.dlt_date) + struct.pack("<i", r.dlt_bias))

    def rtl_dynamic_information(self, year: int) -> bytes:
        """RTL_DYNAMIC_TIME_ZONE_INFORMATION (432 bytes): the above, TimeZoneKeyName[128],
        DynamicDaylightTimeDisabled (FALSE) and its padding."""
        return self.rtl_information(year) + self.zone.key.encode("utf-16-le").ljust(256, b"\0") + bytes(4)


# ---------------------------------------------------------------------------------------------- registry
def registry_description(tz: Zone) -> dict:
    """The registry's time-zone facts (Registry.merge's JSON form): the database of the modelled zones under
    Time Zones\\<key> and the machine's zone under Control\\TimeZoneInformation."""
    keys: dict[str, dict] = {}

    def put(path: str, name: str, type_: str, data) -> None:
        v = {"type": type_}
        if type_ == "REG_BINARY":
            v["hex"] = data.hex()
        else:
            v["data"] = data
        keys.setdefault(path, {"values": {}})["values"][name] = v

    base = "HKLM\\SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion\\Time Zones"
    for z in ZONES.values():
        k = f"{base}\\{z.key}"
        put(k, "Display", "REG_SZ", z.display)
        put(k, "Std", "REG_SZ", z.std)
        put(k, "Dlt", "REG_SZ", z.dlt)
        if z.mui:
            put(k, "MUI_Dlt", "REG_SZ", z.dlt_name)
            put(k, "MUI_Std", "REG_SZ", z.std_name)
        put(k, "TZI", "REG_BINARY", z.current.tzi())
        if z.dynamic:
            years = sorted(z.dynamic)
            put(f"{k}\\Dynamic DST", "FirstEntry", "REG_DWORD", years[0])
            put(f"{k}\\Dynamic DST", "LastEntry", "REG_DWORD", years[-1])
            for y in years:
                put(f"{k}\\Dynamic DST", str(y), "REG_BINARY", z.dynamic[y].tzi())
    cur = "HKLM\\SYSTEM\\ControlSet001\\Control\\TimeZoneInformation"
    r = tz.current
    put(cur, "Bias", "REG_DWORD", r.bias & 0xFFFFFFFF)
    put(cur, "StandardBias", "REG_DWORD", r.std_bias & 0xFFFFFFFF)
    put(cur, "DaylightBias", "REG_DWORD", r.dlt_bias & 0xFFFFFFFF)
    put(cur, "StandardName", "REG_SZ", tz.std_name)
    put(cur, "DaylightName", "REG_SZ", tz.dlt_name)
    put(cur, "StandardStart", "REG_BINARY", struct.pack("<8H", *r.std_date))
    put(cur, "DaylightStart", "REG_BINARY", struct.pack("<8H", *r.dlt_date))
    put(cur, "TimeZoneKeyName", "REG_SZ", tz.key)
    put(cur, "DynamicDaylightTimeDisabled", "REG_DWORD", 0)
    put(cur, "ActiveTimeBias", "REG_DWORD", 0)     # replaced by the machine with the bias at its start
    return {"keys": keys}


__all__ = ["Zone", "YearRule", "TimeZone", "ZONES", "DEFAULT_ZONE", "find_zone", "transition", "registry_description",
           "TIME_ZONE_ID_UNKNOWN", "TIME_ZONE_ID_STANDARD", "TIME_ZONE_ID_DAYLIGHT"]
