"""kernel32 / kernelbase: time, from the machine's emulated clock (deterministic: it advances with executed
instructions and Sleep). Local time follows the machine's time zone (the profile's [locale] time_zone,
winhatch.kernel.ex.timezone) the way kernelbase reads it: the bias in effect now from KUSER_SHARED_DATA's
TimeZoneBias (GetLocalTime, FileTimeToLocalFileTime), the zone's rule from NtQuerySystemInformation
(GetTimeZoneInformation, SystemTimeToTzSpecificLocalTime(NULL, ...)), other years' rules and other zones
from the registry's time-zone database (GetTimeZoneInformationForYear, the ...Ex conversions,
EnumDynamicTimeZoneInformation)."""
from __future__ import annotations

import struct
from datetime import datetime, timedelta, timezone

from winhatch.kernel.ex.timezone import transition
from winhatch.ntstatus import ERROR_INVALID_PARAMETER
from winhatch.win32.api import api

from winhatch.win32.kernel32.common import K32, read_u64, write_filetime

EPOCH_1601 = datetime(1601, 1, 1, tzinfo=timezone.utc)
QPC_FREQUENCY = 10_000_000
TIME_ZONE_ID_UNKNOWN = 0


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


KUSER_SHARED_DATA = 0x7FFE0000
KUSER_TIME_ZONE_BIAS, KUSER_TIME_ZONE_ID = 0x20, 0x240


def current_bias(c) -> int:
    """KUSER_SHARED_DATA.TimeZoneBias (100 ns, UTC - local) as user mode reads a KSYSTEM_TIME: High1Time,
    LowPart, then High2Time again until the two high parts agree."""
    raw = c.read(KUSER_SHARED_DATA + KUSER_TIME_ZONE_BIAS, 12)
    low, high1, _high2 = struct.unpack("<IiI", raw)
    return (high1 << 32) | low


def current_zone_id(c) -> int:
    return c.u32(KUSER_SHARED_DATA + KUSER_TIME_ZONE_ID)


def local_filetime(c) -> int:
    return system_filetime(c) - current_bias(c)


@api(K32, "void WINAPI GetLocalTime(LPSYSTEMTIME lpSystemTime)")
def GetLocalTime(c, p):
    c.write(p, pack_systemtime(filetime_to_fields(local_filetime(c))))


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
    c.machine.sync_kuser_times()    # the page's InterruptTime is never behind this value
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


def _shift_ft(c, src, dst, delta: int):
    """FileTimeToLocalFileTime / LocalFileTimeToFileTime: the bias in effect NOW, whatever the date converted
    (Microsoft's documentation: "uses the current settings for the time zone and daylight saving time")."""
    ft = read_u64(c, src)
    if ft >= 0x8000000000000000:
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    out = ft + delta
    if not 0 <= out < 0x8000000000000000:
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    write_filetime(c, dst, out)
    return 1


@api(K32, "BOOL WINAPI FileTimeToLocalFileTime(const FILETIME *lpFileTime, LPFILETIME lpLocalFileTime)")
def FileTimeToLocalFileTime(c, src, dst):
    return _shift_ft(c, src, dst, -current_bias(c))


@api(K32, "BOOL WINAPI LocalFileTimeToFileTime(const FILETIME *lpLocalFileTime, LPFILETIME lpFileTime)")
def LocalFileTimeToFileTime(c, src, dst):
    return _shift_ft(c, src, dst, current_bias(c))


def _read_tz(c, tz: int):
    """(Bias, StandardDate, StandardBias, DaylightDate, DaylightBias) of a TIME_ZONE_INFORMATION."""
    return unpack_tzi(c.read(tz, 172))


def unpack_tzi(raw: bytes):
    bias, = struct.unpack_from("<i", raw, 0)
    std_date = struct.unpack_from("<8H", raw, 68)
    std_bias, = struct.unpack_from("<i", raw, 84)
    dl_date = struct.unpack_from("<8H", raw, 152)
    dl_bias, = struct.unpack_from("<i", raw, 168)
    return bias, std_date, std_bias, dl_date, dl_bias


def _in_daylight(t: datetime, start: datetime, end: datetime) -> bool:
    if start < end:
        return start <= t < end
    return not end <= t < start


def _naive(ft: int) -> datetime:
    return datetime(1601, 1, 1) + timedelta(microseconds=ft // 10)


def convert(tzi, ft: int, to_local: bool) -> tuple[int, bool]:
    """(converted FILETIME, daylight?) of a UTC (to_local) or local FILETIME under a TIME_ZONE_INFORMATION's
    (Bias, StandardDate, StandardBias, DaylightDate, DaylightBias). Daylight time starts at DaylightDate in
    standard local time and ends at StandardDate in daylight local time; a zone without both dates has no
    daylight time and its Bias alone counts. The rule is taken as holding for the year converted."""
    bias, std_date, std_bias, dl_date, dl_bias = tzi
    minutes, dst = bias, False      # without transition dates neither StandardBias nor DaylightBias applies
    if std_date[1] and dl_date[1]:
        minutes = bias + std_bias
        t = _naive(ft)
        if to_local:
            t = t - timedelta(minutes=bias + std_bias)      # standard local time
        start, end = transition(t.year, dl_date), transition(t.year, std_date)
        if start is not None and end is not None:
            if to_local:
                # the end is in daylight local time: compare in standard local time
                end = end + timedelta(minutes=dl_bias - std_bias)
            if _in_daylight(t, start, end):
                minutes, dst = bias + dl_bias, True
    return (ft - minutes * 600_000_000 if to_local else ft + minutes * 600_000_000), dst


def _tz_convert(c, tz: int, src: int, dst: int, to_local: bool, tzi=None) -> int:
    """SystemTimeToTzSpecificLocalTime / TzSpecificLocalTimeToSystemTime with a zone (NULL: the machine's,
    its current rule as GetTimeZoneInformation gives it)."""
    fields = struct.unpack("<8H", c.read(src, 16))
    ft = fields_to_filetime(*fields)
    if ft is None:
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    if tzi is None:
        tzi = _read_tz(c, tz) if tz else unpack_tzi(machine_tzi(c)[0])
    out = filetime_to_fields(convert(tzi, ft, to_local)[0])
    if out is None:
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    c.write(dst, pack_systemtime(out))
    return 1


@api(K32, "BOOL WINAPI SystemTimeToTzSpecificLocalTime(const void *lpTimeZoneInformation, "
          "const SYSTEMTIME *lpUniversalTime, LPSYSTEMTIME lpLocalTime)")
def SystemTimeToTzSpecificLocalTime(c, tz, src, dst):
    return _tz_convert(c, tz, src, dst, True)


@api(K32, "BOOL WINAPI TzSpecificLocalTimeToSystemTime(const void *lpTimeZoneInformation, "
          "const SYSTEMTIME *lpLocalTime, LPSYSTEMTIME lpUniversalTime)")
def TzSpecificLocalTimeToSystemTime(c, tz, src, dst):
    return _tz_convert(c, tz, src, dst, False)


def _dynamic_tzi(c, pdtzi: int, src: int):
    """The TIME_ZONE_INFORMATION of a DYNAMIC_TIME_ZONE_INFORMATION for the year of a SYSTEMTIME: the
    registry's rule of that year for the zone it names (DynamicDaylightTimeDisabled: its own fields)."""
    raw = c.read(pdtzi, 432)
    if struct.unpack_from("<B", raw, 428)[0]:
        return unpack_tzi(raw[:172])
    key = raw[172:428].decode("utf-16-le", "replace").split("\0", 1)[0]
    year = struct.unpack("<H", c.read(src, 2))[0]
    found, _err = _zone_for_year(c, key, year)
    if found is None or len(found[2]) < 44:
        return unpack_tzi(raw[:172])
    tzi = found[2]
    bias, std_bias, dl_bias = struct.unpack_from("<3i", tzi)
    return bias, struct.unpack_from("<8H", tzi, 12), std_bias, struct.unpack_from("<8H", tzi, 28), dl_bias


@api(K32, "BOOL WINAPI SystemTimeToTzSpecificLocalTimeEx(const void *lpTimeZoneInformation, "
          "const SYSTEMTIME *lpUniversalTime, LPSYSTEMTIME lpLocalTime)")
def SystemTimeToTzSpecificLocalTimeEx(c, tz, src, dst):
    """A DYNAMIC_TIME_ZONE_INFORMATION: the zone's rule for the year converted (NULL: the machine's zone)."""
    return _tz_convert(c, tz, src, dst, True, _dynamic_tzi(c, tz or machine_dtzi_scratch(c), src))


@api(K32, "BOOL WINAPI TzSpecificLocalTimeToSystemTimeEx(const void *lpTimeZoneInformation, "
          "const SYSTEMTIME *lpLocalTime, LPSYSTEMTIME lpUniversalTime)")
def TzSpecificLocalTimeToSystemTimeEx(c, tz, src, dst):
    return _tz_convert(c, tz, src, dst, False, _dynamic_tzi(c, tz or machine_dtzi_scratch(c), src))


SystemCurrentTimeZoneInformation = 0x2C
SystemDynamicTimeZoneInformation = 0x66


def _query_kernel_zone(c, cls: int, size: int) -> int:
    buf = c.stack_alloc(size, 8)
    ret = c.stack_alloc(4)
    st = c.nt("NtQuerySystemInformation", cls, buf, size, ret)
    if st & 0x80000000:
        from winhatch.win32.msvcrt.runtime import not_implemented
        not_implemented(c, f"the machine's time zone (NtQuerySystemInformation: {st:#x})")
    return buf


def machine_dtzi_scratch(c) -> int:
    """The kernel's RTL_DYNAMIC_TIME_ZONE_INFORMATION in scratch memory (its address)."""
    return _query_kernel_zone(c, SystemDynamicTimeZoneInformation, 432)


def _resolve_names(c, raw: bytearray, key: str) -> None:
    """Indirect names ("@tzres.dll,-932", Windows 10's form of the kernel's names) as kernelbase resolves them:
    the zone's display strings, here its registry key's Std and Dlt values (tzres.dll's strings)."""
    std = raw[4:68].decode("utf-16-le", "replace").split("\0", 1)[0]
    dlt = raw[88:152].decode("utf-16-le", "replace").split("\0", 1)[0]
    if not (std.startswith("@") or dlt.startswith("@")):
        return
    found, _err = _zone_for_year(c, key, 0)
    if found is None:
        return
    raw[4:68] = found[0][:31].encode("utf-16-le").ljust(64, b"\0")
    raw[88:152] = found[1][:31].encode("utf-16-le").ljust(64, b"\0")


def machine_tzi(c) -> tuple[bytes, str]:
    """(TIME_ZONE_INFORMATION with the names resolved, TimeZoneKeyName) of the machine's zone."""
    raw = bytearray(c.read(machine_dtzi_scratch(c), 432))
    key = raw[172:428].decode("utf-16-le", "replace").split("\0", 1)[0]
    _resolve_names(c, raw, key)
    return bytes(raw[:172]), key


@api(K32, "DWORD WINAPI GetTimeZoneInformation(LPTIME_ZONE_INFORMATION lpTimeZoneInformation)")
def GetTimeZoneInformation(c, p):
    """The machine's zone and TIME_ZONE_ID_UNKNOWN (no daylight time), _STANDARD or _DAYLIGHT now."""
    tzi, _key = machine_tzi(c)
    c.write(p, tzi)
    return current_zone_id(c)


@api(K32, "DWORD WINAPI GetDynamicTimeZoneInformation(PDYNAMIC_TIME_ZONE_INFORMATION p)")
def GetDynamicTimeZoneInformation(c, p):
    tzi, key = machine_tzi(c)
    c.write(p, tzi + key.encode("utf-16-le").ljust(256, b"\0") + struct.pack("<I", 0))
    return current_zone_id(c)


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
    NtSetSystemTime decides (a standard user lacks SeSystemtimePrivilege: ERROR_PRIVILEGE_NOT_HELD). A local
    time is made UTC with the bias in effect now."""
    fields = struct.unpack("<8H", c.read(pst, 16))
    ft = fields_to_filetime(*fields)
    if ft is None:
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    if local:
        ft += current_bias(c)
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


@api(K32, "BOOL WINAPI DosDateTimeToFileTime(WORD wFatDate, WORD wFatTime, LPFILETIME lpFileTime)")
def DosDateTimeToFileTime(c, fat_date, fat_time, pft):
    """The MS-DOS date (year since 1980:7, month:4, day:5) and time (hour:5, minute:6, seconds/2:5), a local
    time, as a local FILETIME (no conversion: the result is a local file time); fields out of range (day 0,
    month 13, 62 seconds...) fail with the last error untouched (as Wine does; Windows's documentation says
    nothing of it)."""
    fat_date &= 0xFFFF
    fat_time &= 0xFFFF
    ft = fields_to_filetime(1980 + (fat_date >> 9), (fat_date >> 5) & 15, 0, fat_date & 31, fat_time >> 11,
                            (fat_time >> 5) & 63, (fat_time & 31) * 2, 0)
    if ft is None:
        return 0
    write_filetime(c, pft, ft)
    return 1


TIME_ZONES_KEY = "\\Registry\\Machine\\SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion\\Time Zones\\"
ERROR_FILE_NOT_FOUND = 2
KEY_READ = 0x20019


def _zone_for_year(c, key_name: str, year: int):
    """(Std, Dlt, TZI bytes) of time zone `key_name` for `year` from the registry's time-zone database (its
    "Dynamic DST" subkey's value for the year when it has one, else its TZI); None with the Win32 error when
    the zone is not in the database."""
    from winhatch.win32.advapi32 import reg
    st, h = reg._nt_open(c, 0, TIME_ZONES_KEY + key_name, KEY_READ, 0)
    if st & 0x80000000:
        return None, reg.nt_to_win32(st)
    try:
        try:
            std = reg._query_value(c, h, "Std")[1].decode("utf-16-le").rstrip("\0")
            dlt = reg._query_value(c, h, "Dlt")[1].decode("utf-16-le").rstrip("\0")
            tzi = reg._query_value(c, h, "TZI")[1]
        except reg._Fail as e:
            return None, e.args[0] if e.args else ERROR_FILE_NOT_FOUND
        st2, hd = reg._nt_open(c, h, "Dynamic DST", KEY_READ, 0)
        if not st2 & 0x80000000:
            try:
                tzi = reg._query_value(c, hd, str(year))[1]
            except reg._Fail:
                pass
            finally:
                reg._close(c, hd)
        return (std, dlt, tzi), 0
    finally:
        reg._close(c, h)


@api(K32, "BOOL WINAPI GetTimeZoneInformationForYear(USHORT wYear, PDYNAMIC_TIME_ZONE_INFORMATION pdtzi, "
          "LPTIME_ZONE_INFORMATION ptzi)")
def GetTimeZoneInformationForYear(c, year, pdtzi, ptzi):
    """The rules of a time zone (by its TimeZoneKeyName; NULL: the machine's) in effect in `year`, from the
    time-zone database: a zone it does not hold is ERROR_FILE_NOT_FOUND."""
    if pdtzi:
        key = c.read(pdtzi + 172, 256).decode("utf-16-le", "replace").split("\0", 1)[0]
    else:
        key = machine_tzi(c)[1]
    found, err = _zone_for_year(c, key, year & 0xFFFF)
    if found is None:
        c.set_last_error(err or ERROR_FILE_NOT_FOUND)
        return 0
    std, dlt, tzi = found
    if len(tzi) < 44:
        c.set_last_error(ERROR_FILE_NOT_FOUND)
        return 0
    bias, std_bias, dl_bias = struct.unpack_from("<3i", tzi)
    out = struct.pack("<i", bias) + std[:31].encode("utf-16-le").ljust(64, b"\0") + tzi[12:28] + \
        struct.pack("<i", std_bias) + dlt[:31].encode("utf-16-le").ljust(64, b"\0") + tzi[28:44] + \
        struct.pack("<i", dl_bias)
    c.write(ptzi, out)
    return 1


ERROR_NO_MORE_ITEMS = 259
TZ_ADV = ("advapi32.dll", "kernelbase.dll")     # advapi32's exports (timezoneapi.h, Advapi32.lib)


@api(TZ_ADV, "DWORD WINAPI EnumDynamicTimeZoneInformation(DWORD dwIndex, PDYNAMIC_TIME_ZONE_INFORMATION "
          "lpTimeZoneInformation)")
def EnumDynamicTimeZoneInformation(c, index, p):
    """The index-th zone of the registry's time-zone database (its subkeys in order): the zone's TZI, its Std
    and Dlt names, its key name; past the last: ERROR_NO_MORE_ITEMS; a NULL buffer: ERROR_INVALID_PARAMETER."""
    from winhatch.win32.advapi32 import reg
    if not p:
        return ERROR_INVALID_PARAMETER
    st, h = reg._nt_open(c, 0, TIME_ZONES_KEY.rstrip("\\"), KEY_READ, 0)
    if st & 0x80000000:
        return reg.nt_to_win32(st)
    try:
        try:
            rec = reg._query(c, "NtEnumerateKey", (h, index & 0xFFFFFFFF), 0)   # KeyBasicInformation
        except reg._Fail as e:
            return ERROR_NO_MORE_ITEMS if e.code == ERROR_NO_MORE_ITEMS else e.code
    finally:
        reg._close(c, h)
    nlen, = struct.unpack_from("<I", rec, 12)
    key = rec[16:16 + nlen].decode("utf-16-le", "surrogatepass")
    found, err = _zone_for_year(c, key, 0)
    if found is None or len(found[2]) < 44:
        return err or ERROR_FILE_NOT_FOUND
    std, dlt, tzi = found
    bias, std_bias, dl_bias = struct.unpack_from("<3i", tzi)
    out = struct.pack("<i", bias) + std[:31].encode("utf-16-le").ljust(64, b"\0") + tzi[12:28] + \
        struct.pack("<i", std_bias) + dlt[:31].encode("utf-16-le").ljust(64, b"\0") + tzi[28:44] + \
        struct.pack("<i", dl_bias) + key[:127].encode("utf-16-le").ljust(256, b"\0") + struct.pack("<I", 0)
    c.write(p, out)
    return 0


@api(TZ_ADV, "DWORD WINAPI GetDynamicTimeZoneInformationEffectiveYears(const void *lpTimeZoneInformation, "
          "LPDWORD FirstYear, LPDWORD LastYear)")
def GetDynamicTimeZoneInformationEffectiveYears(c, pdtzi, pfirst, plast):
    """The first and last year of a zone's Dynamic DST table (its FirstEntry/LastEntry); a zone without one:
    ERROR_FILE_NOT_FOUND."""
    from winhatch.win32.advapi32 import reg
    if not pdtzi or not pfirst or not plast:
        return ERROR_INVALID_PARAMETER
    key = c.read(pdtzi + 172, 256).decode("utf-16-le", "replace").split("\0", 1)[0]
    st, h = reg._nt_open(c, 0, TIME_ZONES_KEY + key + "\\Dynamic DST", KEY_READ, 0)
    if st & 0x80000000:
        return ERROR_FILE_NOT_FOUND
    try:
        try:
            first = struct.unpack("<I", reg._query_value(c, h, "FirstEntry")[1][:4])[0]
            last = struct.unpack("<I", reg._query_value(c, h, "LastEntry")[1][:4])[0]
        except reg._Fail:
            return ERROR_FILE_NOT_FOUND
    finally:
        reg._close(c, h)
    c.write_u32(pfirst, first)
    c.write_u32(plast, last)
    return 0
