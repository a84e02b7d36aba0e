"""ntdll's time conversions: RtlTimeToTimeFields, RtlTimeFieldsToTime, RtlTimeToSecondsSince1970/1980,
RtlSecondsSince1970/1980ToTime.

A time is a LARGE_INTEGER of 100 ns intervals since 1601-01-01 (the FILETIME epoch), read from and written to
the guest's own LARGE_INTEGER. TIME_FIELDS (ntddk.h) is eight CSHORTs, the same 16 bytes on x86 and x64
(checked with offsetof in tests/fixtures/src/conf_rtl_time.c):
    +0 Year  +2 Month  +4 Day  +6 Hour  +8 Minute  +10 Second  +12 Milliseconds  +14 Weekday (0 = Sunday)
The proleptic Gregorian calendar throughout (Python's datetime.date covers years 1601-9999; the arithmetic
below covers all 64-bit times).
"""
from __future__ import annotations

import struct

from winhatch.win32.api import api

NT = "ntdll.dll"
TICKS_PER_SEC = 10_000_000
TICKS_PER_DAY = 86400 * TICKS_PER_SEC
SECS_1601_TO_1970 = 11_644_473_600
SECS_1601_TO_1980 = 11_960_006_400
_DAYS_BEFORE = (0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334)


def _leap(y: int) -> bool:
    return y % 4 == 0 and (y % 100 != 0 or y % 400 == 0)


def _days_from_civil(y: int, m: int, d: int) -> int:
    """Days since 1601-01-01 of a Gregorian date (Howard Hinnant's days_from_civil, shifted)."""
    y -= m <= 2
    era = y // 400
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 584694     # 584694 = days from 0000-03-01 to 1601-01-01


def _civil_from_days(z: int) -> tuple[int, int, int]:
    z += 584694
    era = z // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    y = yoe + era * 400
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d = doy - (153 * mp + 2) // 5 + 1
    m = mp + (3 if mp < 10 else -9)
    return y + (m <= 2), m, d


def time_to_fields(t: int) -> tuple[int, ...]:
    days, rem = divmod(t, TICKS_PER_DAY)
    y, m, d = _civil_from_days(days)
    secs, ticks = divmod(rem, TICKS_PER_SEC)
    return (y, m, d, secs // 3600, secs // 60 % 60, secs % 60, ticks // 10_000, (days + 1) % 7)  # 1601-01-01: Monday


@api(NT, "void NTAPI RtlTimeToTimeFields(const LARGE_INTEGER *Time, PTIME_FIELDS TimeFields)")
def RtlTimeToTimeFields(c, ptime, pfields):
    t = struct.unpack("<q", c.read(ptime, 8))[0]
    c.write(pfields, struct.pack("<8H", *[v & 0xFFFF for v in time_to_fields(t)]))


@api(NT, "BOOLEAN NTAPI RtlTimeFieldsToTime(PTIME_FIELDS TimeFields, PLARGE_INTEGER Time)")
def RtlTimeFieldsToTime(c, pfields, ptime):
    """FALSE (and *Time untouched) for a field out of range; Weekday is ignored."""
    y, m, d, hh, mm, ss, ms, _ = struct.unpack("<8h", c.read(pfields, 16))
    if not (1601 <= y and 1 <= m <= 12 and 0 <= hh <= 23 and 0 <= mm <= 59 and 0 <= ss <= 59
            and 0 <= ms <= 999):
        return 0
    mdays = 29 if m == 2 and _leap(y) else (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)[m - 1]
    if not 1 <= d <= mdays:
        return 0
    t = ((_days_from_civil(y, m, d) * 86400 + hh * 3600 + mm * 60 + ss) * 1000 + ms) * 10_000
    c.write(ptime, struct.pack("<q", t))
    return 1


def _to_seconds(c, ptime, pres, epoch: int) -> int:
    secs = struct.unpack("<q", c.read(ptime, 8))[0] // TICKS_PER_SEC - epoch
    if not 0 <= secs <= 0xFFFFFFFF:
        return 0
    c.write_u32(pres, secs)
    return 1


@api(NT, "BOOLEAN NTAPI RtlTimeToSecondsSince1970(const LARGE_INTEGER *Time, PULONG ElapsedSeconds)")
def RtlTimeToSecondsSince1970(c, ptime, pres):
    return _to_seconds(c, ptime, pres, SECS_1601_TO_1970)


@api(NT, "BOOLEAN NTAPI RtlTimeToSecondsSince1980(const LARGE_INTEGER *Time, PULONG ElapsedSeconds)")
def RtlTimeToSecondsSince1980(c, ptime, pres):
    return _to_seconds(c, ptime, pres, SECS_1601_TO_1980)


@api(NT, "void NTAPI RtlSecondsSince1970ToTime(ULONG ElapsedSeconds, PLARGE_INTEGER Time)")
def RtlSecondsSince1970ToTime(c, secs, ptime):
    c.write(ptime, struct.pack("<q", (secs + SECS_1601_TO_1970) * TICKS_PER_SEC))


@api(NT, "void NTAPI RtlSecondsSince1980ToTime(ULONG ElapsedSeconds, PLARGE_INTEGER Time)")
def RtlSecondsSince1980ToTime(c, secs, ptime):
    c.write(ptime, struct.pack("<q", (secs + SECS_1601_TO_1980) * TICKS_PER_SEC))


SystemTimeZoneInformation = 0x2C
SystemDynamicTimeZoneInformation = 0x66


def _query_zone(c, cls: int, buf: int, size: int) -> int:
    out = c.stack_alloc(4)
    return c.nt("NtQuerySystemInformation", cls, buf, size, out)


@api(NT, "NTSTATUS NTAPI RtlQueryTimeZoneInformation(PVOID TimeZoneInformation)")
def RtlQueryTimeZoneInformation(c, buf):
    """RTL_TIME_ZONE_INFORMATION from the kernel (NtQuerySystemInformation(SystemTimeZoneInformation))."""
    return _query_zone(c, SystemTimeZoneInformation, buf, 172)


@api(NT, "NTSTATUS NTAPI RtlQueryDynamicTimeZoneInformation(PVOID TimeZoneInformation)")
def RtlQueryDynamicTimeZoneInformation(c, buf):
    """RTL_DYNAMIC_TIME_ZONE_INFORMATION from the kernel (SystemDynamicTimeZoneInformation)."""
    return _query_zone(c, SystemDynamicTimeZoneInformation, buf, 432)
