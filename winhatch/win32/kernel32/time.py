"""kernel32 / kernelbase: time, from the machine's emulated clock (deterministic: it advances with executed
instructions and Sleep). The emulated machine's time zone is UTC: local time equals system time."""
from __future__ import annotations

import struct
from datetime import datetime, timedelta, timezone

from winhatch.ntstatus import ERROR_INVALID_PARAMETER
from winhatch.win32.api import api

from winhatch.win32.kernel32.common import K32, read_u64, write_filetime

EPOCH_1601 = datetime(1601, 1, 1, tzinfo=timezone.utc)
QPC_FREQUENCY = 10_000_000
TIME_ZONE_ID_UNKNOWN = 0
UTC_NAME = "Coordinated Universal Time"


def system_filetime(c) -> int:
    return c.machine.clock.system_time()


def filetime_to_fields(ft: int) -> tuple[int, ...] | None:
    """(year, month, day_of_week, day, hour, minute, second, ms) or None if out of SYSTEMTIME's range."""
    if ft < 0 or ft >= 0x8000000000000000:
        return None
    try:
        d = EPOCH_1601 + timedelta(microseconds=ft // 10)
    except OverflowError:
        return None
    if d.year > 30827:
        return None
    dow = (d.weekday() + 1) % 7  # SYSTEMTIME: Sunday = 0
    return d.year, d.month, dow, d.day, d.hour, d.minute, d.second, d.microsecond // 1000


def pack_systemtime(fields) -> bytes:
    return struct.pack("<8H", *fields)


def fields_to_filetime(year, month, dow, day, hour, minute, second, ms) -> int | None:
    if not (1601 <= year <= 30827 and 1 <= month <= 12 and 0 <= hour < 24 and 0 <= minute < 60
            and 0 <= second < 60 and 0 <= ms < 1000):
        return None
    try:
        d = datetime(year, month, day, hour, minute, second, ms * 1000, tzinfo=timezone.utc)
    except ValueError:
        return None
    delta = d - EPOCH_1601
    return (delta.days * 86400 + delta.seconds) * 10_000_000 + delta.microseconds * 10


@api(K32, "void WINAPI GetSystemTimeAsFileTime(LPFILETIME lpSystemTimeAsFileTime)")
def GetSystemTimeAsFileTime(c, p):
    write_filetime(c, p, system_filetime(c))


@api(K32, "void WINAPI GetSystemTimePreciseAsFileTime(LPFILETIME lpSystemTimeAsFileTime)")
def GetSystemTimePreciseAsFileTime(c, p):
    write_filetime(c, p, system_filetime(c))


@api(K32, "void WINAPI GetSystemTime(LPSYSTEMTIME lpSystemTime)")
def GetSystemTime(c, p):
    c.write(p, pack_systemtime(filetime_to_fields(system_filetime(c))))


@api(K32, "void WINAPI GetLocalTime(LPSYSTEMTIME lpSystemTime)")
def GetLocalTime(c, p):
    c.write(p, pack_systemtime(filetime_to_fields(system_filetime(c))))


@api(K32, "DWORD WINAPI GetTickCount(void)")
def GetTickCount(c):
    return (c.machine.clock.now() // 10_000) & 0xFFFFFFFF


@api(K32, "ULONGLONG WINAPI GetTickCount64(void)")
def GetTickCount64(c):
    return c.machine.clock.now() // 10_000


@api(K32, "BOOL WINAPI QueryPerformanceCounter(LARGE_INTEGER *lpPerformanceCount)")
def QueryPerformanceCounter(c, p):
    c.write_u64(p, c.machine.clock.now())
    return 1


@api(K32, "BOOL WINAPI QueryPerformanceFrequency(LARGE_INTEGER *lpFrequency)")
def QueryPerformanceFrequency(c, p):
    c.write_u64(p, QPC_FREQUENCY)
    return 1


@api("ntdll.dll", "NTSTATUS NTAPI RtlQueryPerformanceCounter(LARGE_INTEGER *Counter)")
def RtlQueryPerformanceCounter(c, p):
    c.write_u64(p, c.machine.clock.now())
    return 1


@api("ntdll.dll", "NTSTATUS NTAPI RtlQueryPerformanceFrequency(LARGE_INTEGER *Frequency)")
def RtlQueryPerformanceFrequency(c, p):
    c.write_u64(p, QPC_FREQUENCY)
    return 1


# ntdll's clock queries NtQuerySystemTime / NtQueryPerformanceCounter are system services
# (winhatch.kernel.ke.clock_services): the same emulated clock as the kernel32 functions above and KUSER_SHARED_DATA.
@api("ntdll.dll", "ULONG NTAPI NtGetTickCount(void)")
def NtGetTickCount(c):
    return (c.machine.clock.now() // 10_000) & 0xFFFFFFFF


@api("ntdll.dll", "BOOL NTAPI RtlQueryUnbiasedInterruptTime(ULONGLONG *UnbiasedTime)")
def RtlQueryUnbiasedInterruptTime(c, p):
    """The interrupt time without the time spent asleep: the emulated machine never sleeps."""
    if not p:
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    c.write_u64(p, c.machine.clock.now())
    return 1


@api(K32, "BOOL WINAPI QueryUnbiasedInterruptTime(ULONGLONG *UnbiasedTime)")
def QueryUnbiasedInterruptTime(c, p):
    return RtlQueryUnbiasedInterruptTime(c, p)


@api(K32, "BOOL WINAPI FileTimeToSystemTime(const FILETIME *lpFileTime, LPSYSTEMTIME lpSystemTime)")
def FileTimeToSystemTime(c, pft, pst):
    fields = filetime_to_fields(read_u64(c, pft))
    if fields is None:
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    c.write(pst, pack_systemtime(fields))
    return 1


@api(K32, "BOOL WINAPI SystemTimeToFileTime(const SYSTEMTIME *lpSystemTime, LPFILETIME lpFileTime)")
def SystemTimeToFileTime(c, pst, pft):
    fields = struct.unpack("<8H", c.read(pst, 16))
    ft = fields_to_filetime(*fields)
    if ft is None:
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    write_filetime(c, pft, ft)
    return 1


def _copy_ft(c, src, dst):
    ft = read_u64(c, src)
    if ft >= 0x8000000000000000:
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    write_filetime(c, dst, ft)
    return 1


@api(K32, "BOOL WINAPI FileTimeToLocalFileTime(const FILETIME *lpFileTime, LPFILETIME lpLocalFileTime)")
def FileTimeToLocalFileTime(c, src, dst):
    return _copy_ft(c, src, dst)


@api(K32, "BOOL WINAPI LocalFileTimeToFileTime(const FILETIME *lpLocalFileTime, LPFILETIME lpFileTime)")
def LocalFileTimeToFileTime(c, src, dst):
    return _copy_ft(c, src, dst)


@api(K32, "BOOL WINAPI SystemTimeToTzSpecificLocalTime(const void *lpTimeZoneInformation, "
          "const SYSTEMTIME *lpUniversalTime, LPSYSTEMTIME lpLocalTime)")
def SystemTimeToTzSpecificLocalTime(c, tz, src, dst):
    fields = struct.unpack("<8H", c.read(src, 16))
    ft = fields_to_filetime(*fields)
    if ft is None:
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    bias = 0
    if tz:
        bias = struct.unpack("<i", c.read(tz, 4))[0]
    out = filetime_to_fields(ft - bias * 600_000_000)
    if out is None:
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    c.write(dst, pack_systemtime(out))
    return 1


def _tz_info() -> bytes:
    name = UTC_NAME.encode("utf-16-le").ljust(64, b"\0")
    return struct.pack("<i", 0) + name + bytes(16) + struct.pack("<i", 0) + name + bytes(16) + struct.pack("<i", 0)


@api(K32, "DWORD WINAPI GetTimeZoneInformation(LPTIME_ZONE_INFORMATION lpTimeZoneInformation)")
def GetTimeZoneInformation(c, p):
    c.write(p, _tz_info())
    return TIME_ZONE_ID_UNKNOWN


@api(K32, "DWORD WINAPI GetDynamicTimeZoneInformation(PDYNAMIC_TIME_ZONE_INFORMATION p)")
def GetDynamicTimeZoneInformation(c, p):
    key = "UTC".encode("utf-16-le").ljust(256, b"\0")
    c.write(p, _tz_info() + key + struct.pack("<I", 0))  # TimeZoneKeyName, DynamicDaylightTimeDisabled
    return TIME_ZONE_ID_UNKNOWN


@api(K32, "BOOL WINAPI FileTimeToDosDateTime(const FILETIME *lpFileTime, LPWORD lpFatDate, LPWORD lpFatTime)")
def FileTimeToDosDateTime(c, pft, pdate, ptime):
    f = filetime_to_fields(read_u64(c, pft))
    if f is None or not 1980 <= f[0] <= 2107:
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    y, mo, _dow, d, h, mi, s, _ms = f
    c.write(pdate, struct.pack("<H", ((y - 1980) << 9) | (mo << 5) | d))
    c.write(ptime, struct.pack("<H", (h << 11) | (mi << 5) | (s // 2)))
    return 1


@api(K32, "LONG WINAPI CompareFileTime(const FILETIME *lpFileTime1, const FILETIME *lpFileTime2)")
def CompareFileTime(c, a, b):
    x, y = read_u64(c, a), read_u64(c, b)
    return 0xFFFFFFFF if x < y else (1 if x > y else 0)


def _set_time(c, pst, local: bool) -> int:
    """SetSystemTime / SetLocalTime: the SYSTEMTIME is validated first (ERROR_INVALID_PARAMETER), then
    NtSetSystemTime decides (a standard user lacks SeSystemtimePrivilege: ERROR_PRIVILEGE_NOT_HELD). Local time
    is UTC on the emulated machine."""
    fields = struct.unpack("<8H", c.read(pst, 16))
    ft = fields_to_filetime(*fields)
    if ft is None:
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    buf = c.stack_alloc(8)
    c.write(buf, struct.pack("<Q", ft))
    st = c.nt("NtSetSystemTime", buf, 0)
    if st:
        c.set_last_nt_error(st)
        return 0
    return 1


@api(K32, "BOOL WINAPI SetSystemTime(const SYSTEMTIME *lpSystemTime)")
def SetSystemTime(c, pst):
    return _set_time(c, pst, False)


@api(K32, "BOOL WINAPI SetLocalTime(const SYSTEMTIME *lpSystemTime)")
def SetLocalTime(c, pst):
    return _set_time(c, pst, True)
