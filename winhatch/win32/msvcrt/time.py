"""C runtime time functions, shared by msvcrt.dll and ucrtbase.dll. The time comes from the machine's emulated
clock (deterministic); the sandbox's time zone is UTC with no daylight saving, so localtime == gmtime."""
from __future__ import annotations

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
def tm_fields(t: int) -> list[int]:
    g = _t.gmtime(t)
    return [g.tm_sec, g.tm_min, g.tm_hour, g.tm_mday, g.tm_mon - 1, g.tm_year - 1900, (g.tm_wday + 1) % 7,
            g.tm_yday - 1, 0]


def _tm_buffer(c) -> int:
    s = R.state(c)
    return R.static_buffer(c, s, "tm", 36)


def _read_time(c, p: int, bits: int) -> int | None:
    if not p:
        return None
    raw = c.read(p, bits // 8)
    return int.from_bytes(raw, "little", signed=True)


def _to_tm(c, p: int, bits: int, limit: int) -> int:
    t = _read_time(c, p, bits)
    if t is None or t < 0 or t > limit:
        R.invalid_parameter(c, R.EINVAL)
        return 0
    buf = _tm_buffer(c)
    c.write(buf, struct.pack("<9i", *tm_fields(t)))
    return buf


for _name, _bits, _limit in (("_gmtime64", 64, MAX_TIME64), ("_localtime64", 64, MAX_TIME64),
                             ("_gmtime32", 32, MAX_TIME32), ("_localtime32", 32, MAX_TIME32)):
    def _mk(bits, limit):
        return lambda c, p: _to_tm(c, p, bits, limit)
    api(BOTH, f"void * __cdecl {_name}(const void *t)")(_mk(_bits, _limit))


@api(M, "void * __cdecl gmtime(const void *t)")
def gmtime(c, p):
    return _to_tm(c, p, 8 * c.ptr_size, MAX_TIME64 if c.ptr_size == 8 else MAX_TIME32)


api(M, "void * __cdecl localtime(const void *t)")(gmtime)


def _to_tm_s(c, tm: int, p: int, bits: int, limit: int) -> int:
    if not tm or not p:
        R.invalid_parameter(c, R.EINVAL)
        return R.EINVAL
    t = _read_time(c, p, bits)
    if t < 0 or t > limit:
        c.write(tm, struct.pack("<9i", *([-1] * 9)))
        R.invalid_parameter(c, R.EINVAL)
        return R.EINVAL
    c.write(tm, struct.pack("<9i", *tm_fields(t)))
    return 0


for _name, _bits, _limit in (("_gmtime64_s", 64, MAX_TIME64), ("_localtime64_s", 64, MAX_TIME64),
                             ("_gmtime32_s", 32, MAX_TIME32), ("_localtime32_s", 32, MAX_TIME32)):
    def _mks(bits, limit):
        return lambda c, tm, p: _to_tm_s(c, tm, p, bits, limit)
    api(BOTH, f"int __cdecl {_name}(void *tm, const void *t)")(_mks(_bits, _limit))


def _mktime(c, tm: int, bits: int) -> int:
    """mktime (UTC zone): normalise the struct tm in place, return the time (or -1)."""
    if not tm:
        R.invalid_parameter(c, R.EINVAL)
        return (1 << bits) - 1
    sec, mn, hour, mday, mon, year = struct.unpack("<6i", c.read(tm, 24))
    y = year + 1900 + mon // 12
    mon %= 12
    import calendar   # here: importing it costs every start-up ~1 ms, few programs call mktime
    days = calendar.timegm((y, mon + 1, 1, 0, 0, 0)) // 86400 + mday - 1
    t = days * 86400 + hour * 3600 + mn * 60 + sec
    limit = MAX_TIME64 if bits == 64 else MAX_TIME32
    if t < 0 or t > limit:
        return (1 << bits) - 1
    c.write(tm, struct.pack("<9i", *tm_fields(t)))
    return t & ((1 << bits) - 1)


@api(BOTH, "__int64 __cdecl _mktime64(void *tm)")
def _mktime64(c, tm):
    return _mktime(c, tm, 64)


@api(BOTH, "long __cdecl _mktime32(void *tm)")
def _mktime32(c, tm):
    return _mktime(c, tm, 32)


api(BOTH, "__int64 __cdecl _mkgmtime64(void *tm)")(_mktime64)
api(BOTH, "long __cdecl _mkgmtime32(void *tm)")(_mktime32)


@api(M, "intptr_t __cdecl mktime(void *tm)")
def mktime(c, tm):
    return _mktime(c, tm, 8 * c.ptr_size)


api(M, "intptr_t __cdecl _mkgmtime(void *tm)")(mktime)


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
    c.write(buf, asctime_text(tm_fields(t)).encode() + b"\0")
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


@api(BOTH, "void __cdecl _tzset(void)")
def _tzset(c):
    pass     # TZ is not set; the zone is the system's (UTC): nothing changes


@api(U, "int * __cdecl __daylight(void)")
def __daylight(c):
    return R.static_buffer(c, R.state(c), "daylight", 4)


@api(U, "long * __cdecl __timezone(void)")
def __timezone(c):
    return R.static_buffer(c, R.state(c), "timezone", 4)


@api(U, "long * __cdecl __dstbias(void)")
def __dstbias(c):
    s = R.state(c)
    a = s.statics.get("dstbias")
    if a is None:
        a = R.static_buffer(c, s, "dstbias", 4)
        c.write_u32(a, (-3600) & 0xFFFFFFFF)
    return a


@api(U, "char ** __cdecl __tzname(void)")
def __tzname(c):
    s = R.state(c)
    a = s.statics.get("tzname")
    if a is None:
        a = R.static_buffer(c, s, "tzname", 2 * c.ptr_size)
        c.write_ptr(a, R.new_cstr(c, b"Coordinated Universal Time"))
        c.write_ptr(a + c.ptr_size, R.new_cstr(c, b"Coordinated Universal Time"))
    return a


@api(BOTH, "void __cdecl _ftime64(void *tb)")
def _ftime64(c, tb):
    ft = c.machine.clock.system_time() - FILETIME_UNIX_EPOCH
    c.write(tb, struct.pack("<qHhh", ft // 10_000_000, (ft // 10_000) % 1000, 0, 0))


@api(BOTH, "char * __cdecl _strdate(char *buf)")
def _strdate(c, buf):
    f = tm_fields(now(c))
    c.write(buf, f"{f[4] + 1:02d}/{f[3]:02d}/{(f[5] + 1900) % 100:02d}".encode() + b"\0")
    return buf


@api(BOTH, "char * __cdecl _strtime(char *buf)")
def _strtime(c, buf):
    f = tm_fields(now(c))
    c.write(buf, f"{f[2]:02d}:{f[1]:02d}:{f[0]:02d}".encode() + b"\0")
    return buf
