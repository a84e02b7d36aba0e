"""C runtime time functions, shared by msvcrt.dll and ucrtbase.dll. The time comes from the machine's emulated
clock (deterministic); local time follows the machine's time zone as the CRT learns it (without TZ in the
environment): _tzset reads GetTimeZoneInformation (_timezone = (Bias + StandardBias) * 60, _daylight when the
zone has daylight time, _dstbias = DaylightBias * 60 (ucrt; msvcrt: -3600), _tzname the zone's names in the
ANSI code page), and localtime/mktime apply that zone's rule to the year converted (kernel32.time.convert)."""
from __future__ import annotations

import re
import struct
import time as _t

from winhatch.win32.msvcrt.runtime import crt_api as api
from winhatch.win32.msvcrt import runtime as R

BOTH = R.BOTH
M = R.MSVCRT_DLL
U = R.UCRT_DLL
FILETIME_UNIX_EPOCH = 116444736000000000
_DAYS = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"]
_MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December"]
MAX_TIME32 = 0x7FFFFFFF
MAX_TIME64 = 32535215999   # 3000-12-31 23:59:59, the CRT's _MAX__TIME64_T


def now(c) -> int:
    return (c.machine.clock.system_time() - FILETIME_UNIX_EPOCH) // 10_000_000


def _time_common(c, p: int, bits: int) -> int:
    t = now(c)
    if p:
        c.write(p, t.to_bytes(bits // 8, "little", signed=True))
    return t & ((1 << bits) - 1)


@api(BOTH, "__int64 __cdecl _time64(void *p)")
def _time64(c, p):
    return _time_common(c, p, 64)


@api(BOTH, "long __cdecl _time32(void *p)")
def _time32(c, p):
    return _time_common(c, p, 32)


@api(M, "intptr_t __cdecl time(void *p)")
def time_(c, p):
    # msvcrt.dll's time(): 32-bit time_t on x86, 64-bit on x64
    return _time_common(c, p, 8 * c.ptr_size)


@api(BOTH, "long __cdecl clock(void)")
def clock(c):
    s = R.state(c)
    start = getattr(s, "clock_start", None)
    if start is None:
        start = s.clock_start = c.machine.clock.now()
    return ((c.machine.clock.now() - start) // 10_000) & 0xFFFFFFFF


@api(BOTH, "double __cdecl _difftime64(__int64 a, __int64 b)")
def _difftime64(c, a, b):
    return float(_s(a, 64) - _s(b, 64))


@api(BOTH, "double __cdecl _difftime32(long a, long b)")
def _difftime32(c, a, b):
    return float(_s(a, 32) - _s(b, 32))


@api(M, "double __cdecl difftime(intptr_t a, intptr_t b)")
def difftime(c, a, b):
    bits = 8 * c.ptr_size
    return float(_s(a, bits) - _s(b, bits))


def _s(v: int, bits: int) -> int:
    v &= (1 << bits) - 1
    return v - (1 << bits) if v >> (bits - 1) else v


# --- struct tm ------------------------------------------------------------------------------------------------
def tm_fields(t: int, isdst: int = 0) -> list[int]:
    g = _t.gmtime(t)
    return [g.tm_sec, g.tm_min, g.tm_hour, g.tm_mday, g.tm_mon - 1, g.tm_year - 1900, (g.tm_wday + 1) % 7,
            g.tm_yday - 1, isdst]


_TZ = re.compile(r"^([A-Za-z]{1,16})([+-]?)(\d{1,2})?(?::(\d{1,2})(?::(\d{1,2}))?)?([A-Za-z]{1,16})?$")
#: the daylight rule the CRT applies to a TZ variable naming a daylight zone: the US rule (second Sunday of
#: March 02:00 to the first Sunday of November 02:00, Microsoft's _tzset documentation)
_US_DST = ((0, 11, 0, 1, 2, 0, 0, 0), (0, 3, 0, 2, 2, 0, 0, 0))


def _tz_variable(c) -> tuple | None:
    """The zone the TZ environment variable gives (the CRT's format: tzn[+|-]hh[:mm[:ss]][dzn], the offset
    being UTC - local); None when TZ is not set or not in that format (the system's zone then)."""
    from winhatch.win32.msvcrt import startup
    from winhatch.win32.msvcrt.stdlib import _find_env
    items = startup.crt_environ(c, R.state(c))
    i = _find_env(items, "TZ")
    m = _TZ.match(items[i].partition("=")[2].strip()) if i >= 0 else None
    if m is None:
        return None
    std, sign, hh, mm, ss, dlt = m.groups()
    secs = int(hh or 0) * 3600 + int(mm or 0) * 60 + int(ss or 0)     # "UTC": no offset, 0
    minutes = -(secs // 60) if sign == "-" else secs // 60
    std_date, dl_date = _US_DST if dlt else ((0,) * 8, (0,) * 8)
    return (minutes, std_date, 0, dl_date, -60), std, dlt or ""


def _zone(c):
    """The zone the CRT converts with, read once per process as _tzset does: TZ's when the environment sets it,
    else the machine's TIME_ZONE_INFORMATION."""
    s = R.state(c)
    z = getattr(s, "tz_info", None)
    if z is None:
        z = _tz_variable(c)
        if z is None:
            from winhatch.win32.kernel32.time import machine_tzi, unpack_tzi
            raw, _key = machine_tzi(c)
            std = raw[4:68].decode("utf-16-le", "replace").split("\0", 1)[0]
            dlt = raw[88:152].decode("utf-16-le", "replace").split("\0", 1)[0]
            z = (unpack_tzi(raw), std, dlt)
        s.tz_info = z
        _publish(c)     # the first conversion sets the globals, as the CRT's internal _tzset does
    return z


def local_fields(c, t: int) -> list[int]:
    """struct tm fields of a time_t in the machine's zone, tm_isdst set."""
    from winhatch.win32.kernel32.time import convert
    ft = t * 10_000_000 + FILETIME_UNIX_EPOCH
    local, dst = convert(_zone(c)[0], ft, True)
    return tm_fields((local - FILETIME_UNIX_EPOCH) // 10_000_000, 1 if dst else 0)


def local_to_time(c, t_local: int, isdst: int) -> int:
    """A local time (seconds as if UTC) to a time_t: tm_isdst < 0 lets the zone's rule decide, else it says
    which bias applies (a zone without daylight time has only its Bias)."""
    from winhatch.win32.kernel32.time import convert
    tzi = _zone(c)[0]
    bias, std_date, std_bias, dl_date, dl_bias = tzi
    if isdst < 0 or not (std_date[1] and dl_date[1]):
        ft, _dst = convert(tzi, t_local * 10_000_000 + FILETIME_UNIX_EPOCH, False)
        return (ft - FILETIME_UNIX_EPOCH) // 10_000_000
    return t_local + (bias + (dl_bias if isdst > 0 else std_bias)) * 60


def _tm_buffer(c) -> int:
    s = R.state(c)
    return R.static_buffer(c, s, "tm", 36)


def _read_time(c, p: int, bits: int) -> int | None:
    if not p:
        return None
    raw = c.read(p, bits // 8)
    return int.from_bytes(raw, "little", signed=True)


def _to_tm(c, p: int, bits: int, limit: int, local: bool = False) -> int:
    t = _read_time(c, p, bits)
    if t is None or t < 0 or t > limit:
        R.invalid_parameter(c, R.EINVAL)
        return 0
    buf = _tm_buffer(c)
    c.write(buf, struct.pack("<9i", *(local_fields(c, t) if local else tm_fields(t))))
    return buf


for _name, _bits, _limit in (("_gmtime64", 64, MAX_TIME64), ("_localtime64", 64, MAX_TIME64),
                             ("_gmtime32", 32, MAX_TIME32), ("_localtime32", 32, MAX_TIME32)):
    def _mk(bits, limit, local):
        return lambda c, p: _to_tm(c, p, bits, limit, local)
    api(BOTH, f"void * __cdecl {_name}(const void *t)")(_mk(_bits, _limit, "local" in _name))


@api(M, "void * __cdecl gmtime(const void *t)")
def gmtime(c, p):
    return _to_tm(c, p, 8 * c.ptr_size, MAX_TIME64 if c.ptr_size == 8 else MAX_TIME32)


@api(M, "void * __cdecl localtime(const void *t)")
def localtime(c, p):
    return _to_tm(c, p, 8 * c.ptr_size, MAX_TIME64 if c.ptr_size == 8 else MAX_TIME32, True)


def _to_tm_s(c, tm: int, p: int, bits: int, limit: int, local: bool = False) -> int:
    if not tm or not p:
        R.invalid_parameter(c, R.EINVAL)
        return R.EINVAL
    t = _read_time(c, p, bits)
    if t < 0 or t > limit:
        c.write(tm, struct.pack("<9i", *([-1] * 9)))
        R.invalid_parameter(c, R.EINVAL)
        return R.EINVAL
    c.write(tm, struct.pack("<9i", *(local_fields(c, t) if local else tm_fields(t))))
    return 0


for _name, _bits, _limit in (("_gmtime64_s", 64, MAX_TIME64), ("_localtime64_s", 64, MAX_TIME64),
                             ("_gmtime32_s", 32, MAX_TIME32), ("_localtime32_s", 32, MAX_TIME32)):
    def _mks(bits, limit, local):
        return lambda c, tm, p: _to_tm_s(c, tm, p, bits, limit, local)
    api(BOTH, f"int __cdecl {_name}(void *tm, const void *t)")(_mks(_bits, _limit, "local" in _name))


def _days_from_civil(y: int, m: int, d: int) -> int:
    """Days since 1970-01-01 of a proleptic Gregorian date, for any year (a struct tm's tm_year is any int: the
    result is then out of mktime's range, never an error)."""
    y -= m <= 2
    era = y // 400
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def _mktime(c, tm: int, bits: int, local: bool = True) -> int:
    """mktime (the machine's zone; _mkgmtime: UTC): normalise the struct tm in place, return the time (or -1)."""
    if not tm:
        R.invalid_parameter(c, R.EINVAL)
        return (1 << bits) - 1
    sec, mn, hour, mday, mon, year, _wd, _yd, isdst = struct.unpack("<9i", c.read(tm, 36))
    y = year + 1900 + mon // 12
    mon %= 12
    days = _days_from_civil(y, mon + 1, 1) + mday - 1
    t = days * 86400 + hour * 3600 + mn * 60 + sec
    if local and 0 <= t <= MAX_TIME64 + 86400:
        t = local_to_time(c, t, isdst)
    limit = MAX_TIME64 if bits == 64 else MAX_TIME32
    if t < 0 or t > limit:
        return (1 << bits) - 1
    c.write(tm, struct.pack("<9i", *(local_fields(c, t) if local else tm_fields(t))))
    return t & ((1 << bits) - 1)


@api(BOTH, "__int64 __cdecl _mktime64(void *tm)")
def _mktime64(c, tm):
    return _mktime(c, tm, 64)


@api(BOTH, "long __cdecl _mktime32(void *tm)")
def _mktime32(c, tm):
    return _mktime(c, tm, 32)


api(BOTH, "__int64 __cdecl _mkgmtime64(void *tm)")(lambda c, tm: _mktime(c, tm, 64, False))
api(BOTH, "long __cdecl _mkgmtime32(void *tm)")(lambda c, tm: _mktime(c, tm, 32, False))


@api(M, "intptr_t __cdecl mktime(void *tm)")
def mktime(c, tm):
    return _mktime(c, tm, 8 * c.ptr_size)


api(M, "intptr_t __cdecl _mkgmtime(void *tm)")(lambda c, tm: _mktime(c, tm, 8 * c.ptr_size, False))


def asctime_text(f: list[int]) -> str:
    sec, mn, hour, mday, mon, year, wday = f[:7]
    return f"{_DAYS[wday % 7][:3]} {_MONTHS[mon % 12][:3]} {mday:2d} {hour:02d}:{mn:02d}:{sec:02d} {year + 1900}\n"


@api(BOTH, "char * __cdecl asctime(const void *tm)")
def asctime(c, tm):
    if not tm:
        R.invalid_parameter(c, R.EINVAL)
        return 0
    f = list(struct.unpack("<9i", c.read(tm, 36)))
    s = R.state(c)
    buf = R.static_buffer(c, s, "asctime", 32)
    c.write(buf, asctime_text(f).encode() + b"\0")
    return buf


def _ctime(c, p, bits):
    t = _read_time(c, p, bits)
    if t is None or t < 0:
        R.invalid_parameter(c, R.EINVAL)
        return 0
    s = R.state(c)
    buf = R.static_buffer(c, s, "asctime", 32)
    c.write(buf, asctime_text(local_fields(c, t)).encode() + b"\0")
    return buf


@api(BOTH, "char * __cdecl _ctime64(const void *t)")
def _ctime64(c, p):
    return _ctime(c, p, 64)


@api(BOTH, "char * __cdecl _ctime32(const void *t)")
def _ctime32(c, p):
    return _ctime(c, p, 32)


@api(M, "char * __cdecl ctime(const void *t)")
def ctime(c, p):
    return _ctime(c, p, 8 * c.ptr_size)


def strftime_text(fmt: str, f: list[int], ucrt: bool) -> str | None:
    """The "C" locale strftime; None for an invalid conversion (ucrt: invalid parameter)."""
    sec, mn, hour, mday, mon, year, wday, yday, _dst = f
    Y = year + 1900
    out = []
    i = 0
    while i < len(fmt):
        ch = fmt[i]
        if ch != "%":
            out.append(ch)
            i += 1
            continue
        i += 1
        alt = False
        if i < len(fmt) and fmt[i] == "#":
            alt = True
            i += 1
        if i >= len(fmt):
            return None
        k = fmt[i]
        i += 1

        def num(v, w):
            return str(v) if alt else str(v).rjust(w, "0")
        h12 = hour % 12 or 12
        if k == "a":
            out.append(_DAYS[wday][:3])
        elif k == "A":
            out.append(_DAYS[wday])
        elif k in "bh" and (k == "b" or ucrt):
            out.append(_MONTHS[mon][:3])
        elif k == "B":
            out.append(_MONTHS[mon])
        elif k == "c":
            out.append(f"{_DAYS[wday]}, {_MONTHS[mon]} {num(mday, 2)}, {Y} {num(hour, 2)}:{mn:02d}:{sec:02d}"
                       if alt else f"{mon + 1:02d}/{mday:02d}/{Y % 100:02d} {hour:02d}:{mn:02d}:{sec:02d}")
        elif k == "d":
            out.append(num(mday, 2))
        elif k == "H":
            out.append(num(hour, 2))
        elif k == "I":
            out.append(num(h12, 2))
        elif k == "j":
            out.append(num(yday + 1, 3))
        elif k == "m":
            out.append(num(mon + 1, 2))
        elif k == "M":
            out.append(num(mn, 2))
        elif k == "p":
            out.append("AM" if hour < 12 else "PM")
        elif k == "S":
            out.append(num(sec, 2))
        elif k == "U":
            out.append(num((yday + 7 - wday) // 7, 2))
        elif k == "w":
            out.append(str(wday))
        elif k == "W":
            out.append(num((yday + 7 - (wday - 1) % 7) // 7, 2))
        elif k == "x":
            out.append(f"{_DAYS[wday]}, {_MONTHS[mon]} {num(mday, 2)}, {Y}" if alt
                       else f"{mon + 1:02d}/{mday:02d}/{Y % 100:02d}")
        elif k == "X":
            out.append(f"{hour:02d}:{mn:02d}:{sec:02d}")
        elif k == "y":
            out.append(num(Y % 100, 2))
        elif k == "Y":
            out.append(str(Y))
        elif k == "Z":
            out.append("Coordinated Universal Time")
        elif k == "z":
            out.append("+0000" if ucrt else "Coordinated Universal Time")
        elif k == "%":
            out.append("%")
        elif ucrt and k == "C":
            out.append(num(Y // 100, 2))
        elif ucrt and k == "D":
            out.append(f"{mon + 1:02d}/{mday:02d}/{Y % 100:02d}")
        elif ucrt and k == "e":
            out.append(str(mday) if alt else f"{mday:2d}")
        elif ucrt and k == "F":
            out.append(f"{Y}-{mon + 1:02d}-{mday:02d}")
        elif ucrt and k in "gGV":
            iy, iw, _ = __import__("datetime").date(Y, mon + 1, mday).isocalendar()
            out.append({"g": num(iy % 100, 2), "G": str(iy), "V": num(iw, 2)}[k])
        elif ucrt and k == "n":
            out.append("\n")
        elif ucrt and k == "t":
            out.append("\t")
        elif ucrt and k == "r":
            out.append(f"{h12:02d}:{mn:02d}:{sec:02d} {'AM' if hour < 12 else 'PM'}")
        elif ucrt and k == "R":
            out.append(f"{hour:02d}:{mn:02d}")
        elif ucrt and k == "T":
            out.append(f"{hour:02d}:{mn:02d}:{sec:02d}")
        elif ucrt and k == "u":
            out.append(str(wday or 7))
        else:
            return None
    return "".join(out)


def _strftime(c, buf, size, fmt_ptr, tm, wide: bool) -> int:
    s = R.state(c)
    size = size & ((1 << (8 * c.ptr_size)) - 1)
    if not buf or not size or not fmt_ptr or not tm:
        R.invalid_parameter(c, R.EINVAL, s)
        return 0
    fmt = c.wstr(fmt_ptr, 1 << 16) if wide else c.cstr(fmt_ptr, 1 << 16).decode("latin-1")
    text = strftime_text(fmt, list(struct.unpack("<9i", c.read(tm, 36))), s.flavor == R.UCRT)
    if text is None:
        c.write(buf, b"\0\0" if wide else b"\0")
        R.invalid_parameter(c, R.EINVAL, s)
        return 0
    if len(text) + 1 > size:
        c.write(buf, b"\0\0" if wide else b"\0")
        R.set_errno(c, R.ERANGE, s)
        return 0
    c.write(buf, text.encode("utf-16-le") + b"\0\0" if wide else text.encode("latin-1", "replace") + b"\0")
    return len(text)


@api(BOTH, "size_t __cdecl strftime(char *buf, size_t size, const void *fmt, const void *tm)")
def strftime(c, buf, size, fmt, tm):
    return _strftime(c, buf, size, fmt, tm, False)


@api(BOTH, "size_t __cdecl wcsftime(wchar_t *buf, size_t size, const void *fmt, const void *tm)")
def wcsftime(c, buf, size, fmt, tm):
    return _strftime(c, buf, size, fmt, tm, True)


def tz_globals(c) -> tuple[int, int, int, bytes, bytes]:
    """(_timezone, _daylight, _dstbias, tzname[0], tzname[1]) of the machine's zone (TZ is not set)."""
    (bias, std_date, std_bias, dl_date, dl_bias), std, dlt = _zone(c)
    has_dst = bool(std_date[1] and dl_date[1])
    enc = c.machine.nls.ansi_codec
    return ((bias + std_bias) * 60, 1 if has_dst else 0, (dl_bias - std_bias) * 60 if has_dst else 0,
            std.encode(enc, "replace"), dlt.encode(enc, "replace"))


def _set_globals(c, tz_addr: int, dl_addr: int, dst_addr: int, names_addr: int) -> None:
    tz, dl, dstb, std, dlt = tz_globals(c)
    c.write_u32(tz_addr, tz & 0xFFFFFFFF)
    c.write_u32(dl_addr, dl)
    if dst_addr:
        c.write_u32(dst_addr, dstb & 0xFFFFFFFF)
    if names_addr:
        c.write_ptr(names_addr, R.new_cstr(c, std))
        c.write_ptr(names_addr + c.ptr_size, R.new_cstr(c, dlt))


@api(BOTH, "void __cdecl _tzset(void)")
def _tzset(c):
    """The zone is read again (TZ may have changed) and the globals get its values: TZ's, else the
    system's (GetTimeZoneInformation)."""
    R.state(c).tz_info = None
    _zone(c)


def _publish(c) -> None:
    if c.dll.startswith("ucrtbase") or c.dll.startswith("api-ms-win-crt"):
        _set_globals(c, __timezone(c), __daylight(c), __dstbias(c), __tzname(c))   # the accessors' statics
        return
    from winhatch.win32.msvcrt.exports import data_addr
    _set_globals(c, data_addr(c, "_timezone"), data_addr(c, "_daylight"), data_addr(c, "_dstbias"),
                 data_addr(c, "_tzname"))


def _static_u32(c, name: str, value) -> int:
    s = R.state(c)
    a = s.statics.get(name)
    if a is None:
        a = R.static_buffer(c, s, name, 4)
        c.write_u32(a, value(c) & 0xFFFFFFFF)
    return a


@api(U, "int * __cdecl __daylight(void)")
def __daylight(c):
    return _static_u32(c, "daylight", lambda c: tz_globals(c)[1])


@api(U, "long * __cdecl __timezone(void)")
def __timezone(c):
    return _static_u32(c, "timezone", lambda c: tz_globals(c)[0])


@api(U, "long * __cdecl __dstbias(void)")
def __dstbias(c):
    return _static_u32(c, "dstbias", lambda c: tz_globals(c)[2])


@api(U, "char ** __cdecl __tzname(void)")
def __tzname(c):
    s = R.state(c)
    a = s.statics.get("tzname")
    if a is None:
        a = R.static_buffer(c, s, "tzname", 2 * c.ptr_size)
        _tz, _dl, _dst, std, dlt = tz_globals(c)
        c.write_ptr(a, R.new_cstr(c, std))
        c.write_ptr(a + c.ptr_size, R.new_cstr(c, dlt))
    return a


@api(BOTH, "void __cdecl _ftime64(void *tb)")
def _ftime64(c, tb):
    ft = c.machine.clock.system_time() - FILETIME_UNIX_EPOCH
    c.write(tb, struct.pack("<qHhh", ft // 10_000_000, (ft // 10_000) % 1000, 0, 0))


@api(BOTH, "char * __cdecl _strdate(char *buf)")
def _strdate(c, buf):
    f = local_fields(c, now(c))
    c.write(buf, f"{f[4] + 1:02d}/{f[3]:02d}/{(f[5] + 1900) % 100:02d}".encode() + b"\0")
    return buf


@api(BOTH, "char * __cdecl _strtime(char *buf)")
def _strtime(c, buf):
    f = local_fields(c, now(c))
    c.write(buf, f"{f[2]:02d}:{f[1]:02d}:{f[0]:02d}".encode() + b"\0")
    return buf
