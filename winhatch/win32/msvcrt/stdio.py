"""C runtime stdio, shared by msvcrt.dll and ucrtbase.dll: FILE streams, the printf and scanf families, lowio.

The machinery (buffers, text mode, descriptors) is winhatch.win32.msvcrt.streams; formatting is crt/format.py and
parsing crt/scan.py. Handlers are declared on both DLLs where both export the function; each finds its own
runtime's state (runtime.state).
"""
from __future__ import annotations

import struct

from winhatch.kernel.io import vfs as V
from winhatch.ntstatus import NtStatusError, nt_to_win32
from winhatch.win32.msvcrt.runtime import crt_api as api
from winhatch.win32.msvcrt import runtime as R
from winhatch.win32.msvcrt import streams as S
from winhatch.win32.msvcrt import locale as L
from winhatch.win32.msvcrt.format import (PRINTF_LEGACY_VSPRINTF_NULL_TERMINATION, PRINTF_STANDARD_SNPRINTF_BEHAVIOR,
                                       Flavor, PrintfInvalidParameter, format_printf)
from winhatch.win32.msvcrt.scan import format_scanf
from winhatch.win32.va import VaArgs

BOTH = R.BOTH
M = R.MSVCRT_DLL
U = R.UCRT_DLL
EOF32 = 0xFFFFFFFF


# ============================================================================================ helpers
def _flavor(s: R.CrtState) -> Flavor:
    return Flavor.MSVCRT if s.flavor == R.MSVCRT else Flavor.UCRT


def fmt_text(c, s: R.CrtState, fmt_ptr: int, va, *, wide: bool, options: int | None = None):
    """Format with the runtime's flavour; returns bytes/str, or None after an invalid-parameter failure."""
    if not fmt_ptr:
        R.invalid_parameter(c, R.EINVAL, s)
        return None
    fmt = R.read_wstr_raw(c, fmt_ptr) if wide else c.cstr(fmt_ptr, 1 << 20)
    try:
        return format_printf(fmt, va, wide=wide, flavor=_flavor(s), ptr_size=c.ptr_size, options=options,
                             codepage=L.codepage(s),
                             count_output=bool(s.printf_count_output),
                             two_digit_exponent=bool(s.output_format & 1))
    except PrintfInvalidParameter:
        R.invalid_parameter(c, R.EINVAL, s)
        return None


def wide_to_stream_bytes(c, text: str) -> bytes | None:
    """wprintf to a narrow stream: wctomb per character in the LC_CTYPE locale ("C": U+0000..U+00FF), None
    (EILSEQ) for a character the locale's code page lacks."""
    from winhatch.win32.msvcrt.format import _wide_to_narrow_char
    cp = L.codepage(R.state(c))
    if cp is None:
        try:
            return text.encode("latin-1")
        except UnicodeEncodeError:
            return None
    out = []
    for ch in text:
        b = _wide_to_narrow_char(ch, cp)
        if b is None:
            return None
        out.append(b)
    return "".join(out).encode("latin-1")


def stream_or_fail(c, s: R.CrtState, fp: int) -> S.Stream | None:
    if not fp:
        R.invalid_parameter(c, R.EINVAL, s)
        return None
    st = S.stream_of(c, s, fp)
    if st is None:
        R.invalid_parameter(c, R.EINVAL, s)
    return st


def stdout_stream(c, s: R.CrtState) -> S.Stream:
    return S.std_stream(c, s, 1)


def stdin_stream(c, s: R.CrtState) -> S.Stream:
    return S.std_stream(c, s, 0)


def print_to(c, s: R.CrtState, st: S.Stream | None, text, wide: bool) -> int:
    """Write formatted text to a stream; the character count or -1."""
    if st is None or text is None:
        return -1
    if wide:
        data = wide_to_stream_bytes(c, text)
        if data is None:
            # the characters are converted and written one at a time: those before the first one the
            # locale's code page lacks reach the stream
            lo, hi = 0, len(text)
            while lo < hi:
                mid = (lo + hi + 1) // 2
                if wide_to_stream_bytes(c, text[:mid]) is None:
                    hi = mid - 1
                else:
                    lo = mid
            if lo:
                S.write(c, s, st, wide_to_stream_bytes(c, text[:lo]))
                S.end_of_call(c, s, st)
            R.set_errno(c, R.EILSEQ, s)
            return -1
    else:
        data = text
    r = S.write(c, s, st, data)
    S.end_of_call(c, s, st)
    if r < 0:
        return -1
    return len(text)


def vprint(c, fp: int, fmt: int, va, wide: bool, options: int | None = None) -> int:
    s = R.state(c)
    st = stream_or_fail(c, s, fp)
    if st is None:
        return -1
    return print_to(c, s, st, fmt_text(c, s, fmt, va, wide=wide, options=options), wide)


def store(c, buf: int, text, wide: bool, n: int | None = None, nul: bool = True) -> None:
    """Write the first n characters of text (and a NUL) at buf."""
    if n is None:
        n = len(text)
    if wide:
        data = text[:n].encode("utf-16-le", "surrogatepass") + (b"\0\0" if nul else b"")
    else:
        data = bytes(text[:n]) + (b"\0" if nul else b"")
    if data:
        c.write(buf, data)


def legacy_snprintf(c, s, buf: int, count: int, text, wide: bool) -> int:
    """_snprintf / _vsnprintf / _snwprintf: fits -> NUL-terminated (if room), length; else count chars, -1."""
    if text is None:
        return -1
    n = len(text)
    if n <= count:
        store(c, buf, text, wide, n, nul=n < count)
        return n
    store(c, buf, text, wide, count, nul=False)
    return -1


def _i32(v: int) -> int:
    return v & 0xFFFFFFFF


def _size(c, v: int) -> int:
    """A size_t argument as a Python int (-1 stays huge: _TRUNCATE is (size_t)-1)."""
    return v & ((1 << (8 * c.ptr_size)) - 1)


def _truncate_value(c) -> int:
    return (1 << (8 * c.ptr_size)) - 1


# ============================================================================================ printf family
@api(BOTH, "int __cdecl printf(const void *fmt, ...)", wide="wprintf")
def printf(c, fmt):
    s = R.state(c)
    text = fmt_text(c, s, fmt, VaArgs.after_params(c), wide=c.wide)
    return _i32(print_to(c, s, stdout_stream(c, s), text, c.wide))


@api(BOTH, "int __cdecl vprintf(const void *fmt, va_list args)", wide="vwprintf")
def vprintf(c, fmt, args):
    s = R.state(c)
    return _i32(print_to(c, s, stdout_stream(c, s), fmt_text(c, s, fmt, VaArgs(c, args), wide=c.wide), c.wide))


@api(BOTH, "int __cdecl fprintf(FILE *f, const void *fmt, ...)", wide="fwprintf")
def fprintf(c, f, fmt):
    return _i32(vprint(c, f, fmt, VaArgs.after_params(c), c.wide))


@api(BOTH, "int __cdecl vfprintf(FILE *f, const void *fmt, va_list args)", wide="vfwprintf")
def vfprintf(c, f, fmt, args):
    return _i32(vprint(c, f, fmt, VaArgs(c, args), c.wide))


@api(BOTH, "int __cdecl sprintf(char *buf, const void *fmt, ...)")
def sprintf(c, buf, fmt):
    s = R.state(c)
    text = fmt_text(c, s, fmt, VaArgs.after_params(c), wide=False)
    if text is None or not buf:
        if text is not None:
            R.invalid_parameter(c, R.EINVAL, s)
        return EOF32
    store(c, buf, text, False)
    return len(text)


@api(BOTH, "int __cdecl vsprintf(char *buf, const void *fmt, va_list args)")
def vsprintf(c, buf, fmt, args):
    s = R.state(c)
    text = fmt_text(c, s, fmt, VaArgs(c, args), wide=False)
    if text is None:
        return EOF32
    store(c, buf, text, False)
    return len(text)


@api(BOTH, "int __cdecl _snprintf(void *buf, size_t count, const void *fmt, ...)", wide="_snwprintf")
def _snprintf(c, buf, count, fmt):
    s = R.state(c)
    text = fmt_text(c, s, fmt, VaArgs.after_params(c), wide=c.wide)
    return _i32(legacy_snprintf(c, s, buf, _size(c, count), text, c.wide))


@api(BOTH, "int __cdecl _vsnprintf(void *buf, size_t count, const void *fmt, va_list args)", wide="_vsnwprintf")
def _vsnprintf(c, buf, count, fmt, args):
    s = R.state(c)
    return _i32(legacy_snprintf(c, s, buf, _size(c, count), fmt_text(c, s, fmt, VaArgs(c, args), wide=c.wide), c.wide))


api(M, "int __cdecl vsnprintf(char *buf, size_t count, const void *fmt, va_list args)")(_vsnprintf)


@api(M, "int __cdecl swprintf(wchar_t *buf, const void *fmt, ...)")
def swprintf(c, buf, fmt):
    s = R.state(c)
    text = fmt_text(c, s, fmt, VaArgs.after_params(c), wide=True)
    if text is None:
        return EOF32
    store(c, buf, text, True)
    return len(text)


api(M, "int __cdecl _swprintf(wchar_t *buf, const void *fmt, ...)")(swprintf)


@api(M, "int __cdecl vswprintf(wchar_t *buf, const void *fmt, va_list args)")
def vswprintf(c, buf, fmt, args):
    s = R.state(c)
    text = fmt_text(c, s, fmt, VaArgs(c, args), wide=True)
    if text is None:
        return EOF32
    store(c, buf, text, True)
    return len(text)


@api(M, "int __cdecl _scprintf(const void *fmt, ...)")
def _scprintf(c, fmt):
    s = R.state(c)
    text = fmt_text(c, s, fmt, VaArgs.after_params(c), wide=False)
    return EOF32 if text is None else len(text)


@api(M, "int __cdecl _vscprintf(const void *fmt, va_list args)")
def _vscprintf(c, fmt, args):
    s = R.state(c)
    text = fmt_text(c, s, fmt, VaArgs(c, args), wide=False)
    return EOF32 if text is None else len(text)


@api(M, "int __cdecl _scwprintf(const void *fmt, ...)")
def _scwprintf(c, fmt):
    s = R.state(c)
    text = fmt_text(c, s, fmt, VaArgs.after_params(c), wide=True)
    return EOF32 if text is None else len(text)


def sprintf_s_common(c, s, buf: int, size: int, text, wide: bool) -> int:
    if text is None:
        return -1
    if not buf or size == 0:
        R.invalid_parameter(c, R.EINVAL, s)
        return -1
    if len(text) >= size:
        store(c, buf, text[:0], wide)
        R.invalid_parameter(c, R.ERANGE, s)
        return -1
    store(c, buf, text, wide)
    return len(text)


def snprintf_s_common(c, s, buf: int, size: int, count: int, text, wide: bool) -> int:
    if text is None:
        return -1
    if not buf or size == 0:
        R.invalid_parameter(c, R.EINVAL, s)
        return -1
    if count == _truncate_value(c):
        if len(text) < size:
            store(c, buf, text, wide)
            return len(text)
        store(c, buf, text, wide, size - 1)
        return -1
    limit = min(count, size - 1) if count < size else None
    if limit is None:   # count >= size: like sprintf_s
        return sprintf_s_common(c, s, buf, size, text, wide)
    if len(text) <= limit:
        store(c, buf, text, wide)
        return len(text)
    store(c, buf, text, wide, limit)
    return -1


@api(M, "int __cdecl sprintf_s(char *buf, size_t size, const void *fmt, ...)")
def sprintf_s(c, buf, size, fmt):
    s = R.state(c)
    return _i32(sprintf_s_common(c, s, buf, _size(c, size), fmt_text(c, s, fmt, VaArgs.after_params(c), wide=False),
                                 False))


@api(M, "int __cdecl vsprintf_s(char *buf, size_t size, const void *fmt, va_list args)")
def vsprintf_s(c, buf, size, fmt, args):
    s = R.state(c)
    return _i32(sprintf_s_common(c, s, buf, _size(c, size), fmt_text(c, s, fmt, VaArgs(c, args), wide=False), False))


@api(M, "int __cdecl _snprintf_s(char *buf, size_t size, size_t count, const void *fmt, ...)")
def _snprintf_s(c, buf, size, count, fmt):
    s = R.state(c)
    return _i32(snprintf_s_common(c, s, buf, _size(c, size), _size(c, count),
                                  fmt_text(c, s, fmt, VaArgs.after_params(c), wide=False), False))


@api(M, "int __cdecl _vsnprintf_s(char *buf, size_t size, size_t count, const void *fmt, va_list args)")
def _vsnprintf_s(c, buf, size, count, fmt, args):
    s = R.state(c)
    return _i32(snprintf_s_common(c, s, buf, _size(c, size), _size(c, count),
                                  fmt_text(c, s, fmt, VaArgs(c, args), wide=False), False))


@api(M, "int __cdecl _snwprintf_s(wchar_t *buf, size_t size, size_t count, const void *fmt, ...)")
def _snwprintf_s(c, buf, size, count, fmt):
    s = R.state(c)
    return _i32(snprintf_s_common(c, s, buf, _size(c, size), _size(c, count),
                                  fmt_text(c, s, fmt, VaArgs.after_params(c), wide=True), True))


@api(M, "int __cdecl _vsnwprintf_s(wchar_t *buf, size_t size, size_t count, const void *fmt, va_list args)")
def _vsnwprintf_s(c, buf, size, count, fmt, args):
    s = R.state(c)
    return _i32(snprintf_s_common(c, s, buf, _size(c, size), _size(c, count),
                                  fmt_text(c, s, fmt, VaArgs(c, args), wide=True), True))


@api(M, "int __cdecl swprintf_s(wchar_t *buf, size_t size, const void *fmt, ...)")
def swprintf_s(c, buf, size, fmt):
    s = R.state(c)
    return _i32(sprintf_s_common(c, s, buf, _size(c, size), fmt_text(c, s, fmt, VaArgs.after_params(c), wide=True),
                                 True))


@api(M, "int __cdecl _set_printf_count_output(int enable)")
def _set_printf_count_output(c, enable):
    s = R.state(c)
    old = s.printf_count_output
    s.printf_count_output = 1 if enable else 0
    return old


@api(M, "unsigned int __cdecl _set_output_format(unsigned int format)")
def _set_output_format(c, fmt):
    s = R.state(c)
    old = s.output_format
    s.output_format = fmt & 1
    return old


@api(M, "unsigned int __cdecl _get_output_format(void)")
def _get_output_format(c):
    return R.state(c).output_format


# --- ucrt's __stdio_common_* (the headers' inline printf/scanf call these) ----------------------------------
def _opts(v: int) -> int:
    return v & 0xFFFFFFFF


@api(U, "int __cdecl __stdio_common_vfprintf(unsigned __int64 options, FILE *f, const void *fmt, void *locale, "
        "va_list args)")
def __stdio_common_vfprintf(c, options, f, fmt, locale, args):
    return _i32(vprint(c, f, fmt, VaArgs(c, args), False, _opts(options)))


@api(U, "int __cdecl __stdio_common_vfwprintf(unsigned __int64 options, FILE *f, const void *fmt, void *locale, "
        "va_list args)")
def __stdio_common_vfwprintf(c, options, f, fmt, locale, args):
    return _i32(vprint(c, f, fmt, VaArgs(c, args), True, _opts(options)))


api(U, "int __cdecl __stdio_common_vfprintf_s(unsigned __int64 options, FILE *f, const void *fmt, void *locale, "
       "va_list args)")(__stdio_common_vfprintf)
api(U, "int __cdecl __stdio_common_vfwprintf_s(unsigned __int64 options, FILE *f, const void *fmt, void *locale, "
       "va_list args)")(__stdio_common_vfwprintf)


def _common_vsprintf(c, options, buf, count, fmt, args, wide: bool) -> int:
    s = R.state(c)
    opts = _opts(options)
    text = fmt_text(c, s, fmt, VaArgs(c, args), wide=wide, options=opts)
    if text is None:
        return -1
    n = len(text)
    count = _size(c, count)
    if not buf:
        if count and not (opts & PRINTF_STANDARD_SNPRINTF_BEHAVIOR):
            R.invalid_parameter(c, R.EINVAL, s)
            return -1
        return n
    if opts & PRINTF_LEGACY_VSPRINTF_NULL_TERMINATION:
        store(c, buf, text, wide, min(n, count), nul=n < count)
        return -1 if n > count else n
    if n >= count:
        if count:
            store(c, buf, text, wide, count - 1)
        if opts & PRINTF_STANDARD_SNPRINTF_BEHAVIOR:
            return n
        return -2 if count else -1
    store(c, buf, text, wide)
    return n


@api(U, "int __cdecl __stdio_common_vsprintf(unsigned __int64 options, char *buf, size_t count, const void *fmt, "
        "void *locale, va_list args)")
def __stdio_common_vsprintf(c, options, buf, count, fmt, locale, args):
    return _i32(_common_vsprintf(c, options, buf, count, fmt, args, False))


@api(U, "int __cdecl __stdio_common_vswprintf(unsigned __int64 options, wchar_t *buf, size_t count, "
        "const void *fmt, void *locale, va_list args)")
def __stdio_common_vswprintf(c, options, buf, count, fmt, locale, args):
    return _i32(_common_vsprintf(c, options, buf, count, fmt, args, True))


@api(U, "int __cdecl __stdio_common_vsprintf_s(unsigned __int64 options, char *buf, size_t size, const void *fmt, "
        "void *locale, va_list args)")
def __stdio_common_vsprintf_s(c, options, buf, size, fmt, locale, args):
    s = R.state(c)
    return _i32(sprintf_s_common(c, s, buf, _size(c, size), fmt_text(c, s, fmt, VaArgs(c, args), wide=False,
                                                                      options=_opts(options)), False))


@api(U, "int __cdecl __stdio_common_vswprintf_s(unsigned __int64 options, wchar_t *buf, size_t size, "
        "const void *fmt, void *locale, va_list args)")
def __stdio_common_vswprintf_s(c, options, buf, size, fmt, locale, args):
    s = R.state(c)
    return _i32(sprintf_s_common(c, s, buf, _size(c, size), fmt_text(c, s, fmt, VaArgs(c, args), wide=True,
                                                                      options=_opts(options)), True))


@api(U, "int __cdecl __stdio_common_vsnprintf_s(unsigned __int64 options, char *buf, size_t size, size_t count, "
        "const void *fmt, void *locale, va_list args)")
def __stdio_common_vsnprintf_s(c, options, buf, size, count, fmt, locale, args):
    s = R.state(c)
    return _i32(snprintf_s_common(c, s, buf, _size(c, size), _size(c, count),
                                  fmt_text(c, s, fmt, VaArgs(c, args), wide=False, options=_opts(options)), False))


@api(U, "int __cdecl __stdio_common_vsnwprintf_s(unsigned __int64 options, wchar_t *buf, size_t size, "
        "size_t count, const void *fmt, void *locale, va_list args)")
def __stdio_common_vsnwprintf_s(c, options, buf, size, count, fmt, locale, args):
    s = R.state(c)
    return _i32(snprintf_s_common(c, s, buf, _size(c, size), _size(c, count),
                                  fmt_text(c, s, fmt, VaArgs(c, args), wide=True, options=_opts(options)), True))


# ============================================================================================ scanf family
class GuestSink:
    """scan.ScanSink over guest memory, destinations from a VaArgs."""

    def __init__(self, c, va: VaArgs):
        self.c = c
        self.va = va

    def next_ptr(self) -> int:
        return self.va.ptr()

    def write_int(self, ptr: int, value: int, size: int) -> None:
        self.c.write(ptr, (value & ((1 << (8 * size)) - 1)).to_bytes(size, "little"))

    def write_float(self, ptr: int, value: float, size: int) -> None:
        self.c.write(ptr, struct.pack("<f" if size == 4 else "<d", value))

    def write_bytes(self, ptr: int, data: bytes) -> None:
        if data:
            self.c.write(ptr, data)

    def write_wchars(self, ptr: int, data: str) -> None:
        if data:
            self.c.write(ptr, data.encode("utf-16-le", "surrogatepass"))


def _scan_string(c, data_ptr: int, fmt_ptr: int, va: VaArgs, wide: bool, count: int | None = None,
                 secure: bool = False) -> int:
    s = R.state(c)
    if not data_ptr or not fmt_ptr:
        R.invalid_parameter(c, R.EINVAL, s)
        return -1
    if wide:
        data = R.read_wstr_raw(c, data_ptr)
        fmt = R.read_wstr_raw(c, fmt_ptr)
    else:
        data = c.cstr(data_ptr, 1 << 20)
        fmt = c.cstr(fmt_ptr, 1 << 20)
    if count is not None:
        data = data[:count]
    # ntdll's sscanf/swscanf have no floating-point conversions: a %f, %e, %g... ends the scan there (Wine's
    # ntdll string test, which passes on Windows: "10" with "%f" assigns nothing)
    return format_scanf(fmt, data, GuestSink(c, va), wide=wide, flavor=_flavor(s), ptr_size=c.ptr_size,
                        codepage=L.codepage(s), floats=s.dll != "ntdll.dll", secure=secure)


def scan_stream(c, fp: int, fmt_ptr: int, va: VaArgs, wide: bool, secure: bool = False) -> int:
    s = R.state(c)
    st = stream_or_fail(c, s, fp)
    if st is None or not fmt_ptr:
        if st is not None:
            R.invalid_parameter(c, R.EINVAL, s)
        return -1
    fmt = R.read_wstr_raw(c, fmt_ptr) if wide else c.cstr(fmt_ptr, 1 << 20)
    data = S.peek_available(c, s, st, want_more=False)
    while True:
        # the destinations are re-read from the start each try, so a retry with more input is idempotent
        start = VaArgs(c, va.addr)
        text = data.decode("latin-1")
        r, used = format_scanf(fmt, text, GuestSink(c, start), wide=wide, flavor=_flavor(s), ptr_size=c.ptr_size,
                               codepage=L.codepage(s),
                               return_consumed=True, secure=secure)
        if used < len(text) or st.flags & S._IOEOF:
            break
        more = S.peek_available(c, s, st, want_more=True)
        if len(more) == len(data):
            if r == -1 and not data:
                st.flags |= S._IOEOF
                S.write_file_fields(c, s, st)
            break
        data = more
    S.consume(c, s, st, used)
    return r


@api(BOTH, "int __cdecl sscanf(const char *s, const void *fmt, ...)")
def sscanf(c, data, fmt):
    return _i32(_scan_string(c, _arg0(c), fmt, VaArgs.after_params(c), False))


def _arg0(c) -> int:
    """The raw pointer of the first parameter (declared as a decoded string for the trace)."""
    cpu = c.cpu
    return cpu.reg("rcx") if cpu.is64 else cpu.read_u32(cpu.sp + 4)


@api(BOTH, "int __cdecl swscanf(const wchar_t *s, const void *fmt, ...)")
def swscanf(c, data, fmt):
    return _i32(_scan_string(c, _arg0(c), fmt, VaArgs.after_params(c), True))


@api(BOTH, "int __cdecl scanf(const void *fmt, ...)", wide="wscanf")
def scanf(c, fmt):
    s = R.state(c)
    return _i32(scan_stream(c, stdin_stream(c, s).addr, fmt, VaArgs.after_params(c), c.wide))


@api(BOTH, "int __cdecl fscanf(FILE *f, const void *fmt, ...)", wide="fwscanf")
def fscanf(c, f, fmt):
    return _i32(scan_stream(c, f, fmt, VaArgs.after_params(c), c.wide))


# the secure forms: a size (unsigned, in characters) follows each %c, %s and %[ destination
@api(BOTH, "int __cdecl sscanf_s(const char *s, const void *fmt, ...)")
def sscanf_s(c, data, fmt):
    return _i32(_scan_string(c, _arg0(c), fmt, VaArgs.after_params(c), False, secure=True))


@api(BOTH, "int __cdecl swscanf_s(const wchar_t *s, const void *fmt, ...)")
def swscanf_s(c, data, fmt):
    return _i32(_scan_string(c, _arg0(c), fmt, VaArgs.after_params(c), True, secure=True))


@api(M, "int __cdecl _snscanf_s(const char *s, size_t count, const void *fmt, ...)")
def _snscanf_s(c, data, count, fmt):
    return _i32(_scan_string(c, _arg0(c), fmt, VaArgs.after_params(c), False, _size(c, count), secure=True))


@api(M, "int __cdecl _snwscanf_s(const wchar_t *s, size_t count, const void *fmt, ...)")
def _snwscanf_s(c, data, count, fmt):
    return _i32(_scan_string(c, _arg0(c), fmt, VaArgs.after_params(c), True, _size(c, count), secure=True))


@api(BOTH, "int __cdecl scanf_s(const void *fmt, ...)", wide="wscanf_s")
def scanf_s(c, fmt):
    s = R.state(c)
    return _i32(scan_stream(c, stdin_stream(c, s).addr, fmt, VaArgs.after_params(c), c.wide, secure=True))


@api(BOTH, "int __cdecl fscanf_s(FILE *f, const void *fmt, ...)", wide="fwscanf_s")
def fscanf_s(c, f, fmt):
    return _i32(scan_stream(c, f, fmt, VaArgs.after_params(c), c.wide, secure=True))


@api(M, "int __cdecl vsscanf(const void *s, const void *fmt, va_list args)")
def vsscanf(c, data, fmt, args):
    return _i32(_scan_string(c, data, fmt, VaArgs(c, args), False))


@api(M, "int __cdecl vfscanf(FILE *f, const void *fmt, va_list args)")
def vfscanf(c, f, fmt, args):
    return _i32(scan_stream(c, f, fmt, VaArgs(c, args), False))


@api(U, "int __cdecl __stdio_common_vsscanf(unsigned __int64 options, const void *s, size_t count, const void *fmt, "
        "void *locale, va_list args)")
def __stdio_common_vsscanf(c, options, data, count, fmt, locale, args):
    count = _size(c, count)
    return _i32(_scan_string(c, data, fmt, VaArgs(c, args), False, None if count == _truncate_value(c) else count,
                             secure=bool(options & _SCANF_SECURECRT)))


@api(U, "int __cdecl __stdio_common_vswscanf(unsigned __int64 options, const void *s, size_t count, "
        "const void *fmt, void *locale, va_list args)")
def __stdio_common_vswscanf(c, options, data, count, fmt, locale, args):
    count = _size(c, count)
    return _i32(_scan_string(c, data, fmt, VaArgs(c, args), True, None if count == _truncate_value(c) else count,
                             secure=bool(options & _SCANF_SECURECRT)))


@api(U, "int __cdecl __stdio_common_vfscanf(unsigned __int64 options, FILE *f, const void *fmt, void *locale, "
        "va_list args)")
def __stdio_common_vfscanf(c, options, f, fmt, locale, args):
    return _i32(scan_stream(c, f, fmt, VaArgs(c, args), False, secure=bool(options & _SCANF_SECURECRT)))


@api(U, "int __cdecl __stdio_common_vfwscanf(unsigned __int64 options, FILE *f, const void *fmt, void *locale, "
        "va_list args)")
def __stdio_common_vfwscanf(c, options, f, fmt, locale, args):
    return _i32(scan_stream(c, f, fmt, VaArgs(c, args), True, secure=bool(options & _SCANF_SECURECRT)))


_SCANF_SECURECRT = 1        # _CRT_INTERNAL_SCANF_SECURECRT: the _s forms' buffer sizes


# ============================================================================================ FILE streams
@api(M, "FILE * __cdecl __iob_func(void)")
def __iob_func(c):
    return R.state(c).iob


@api(BOTH, "FILE * __cdecl __acrt_iob_func(unsigned index)")
def __acrt_iob_func(c, i):
    s = R.state(c)
    if i > 2:
        R.invalid_parameter(c, R.EINVAL, s)
        return 0
    return s.iob + i * s.fsize


@api(M, "FILE * __cdecl __p__iob(void)")
def __p__iob(c):
    return R.state(c).iob


@api(BOTH, "FILE * __cdecl fopen(const char *path, const char *mode)")
def fopen(c, path, mode):
    s = R.state(c)
    fp, _err = S.fopen(c, s, path, mode)
    return fp


@api(BOTH, "FILE * __cdecl _wfopen(const wchar_t *path, const wchar_t *mode)")
def _wfopen(c, path, mode):
    s = R.state(c)
    fp, _err = S.fopen(c, s, path, mode)
    return fp


@api(BOTH, "int __cdecl fopen_s(FILE **pf, const char *path, const char *mode)")
def fopen_s(c, pf, path, mode):
    s = R.state(c)
    if not pf:
        R.invalid_parameter(c, R.EINVAL, s)
        return R.EINVAL
    fp, err = S.fopen(c, s, path, mode, share=0)   # the _s version opens without sharing (_SH_SECURE)
    c.write_ptr(pf, fp)
    return err


@api(BOTH, "int __cdecl _wfopen_s(FILE **pf, const wchar_t *path, const wchar_t *mode)")
def _wfopen_s(c, pf, path, mode):
    return fopen_s(c, pf, path, mode)


@api(BOTH, "FILE * __cdecl _fsopen(const char *path, const char *mode, int shflag)")
def _fsopen(c, path, mode, shflag):
    s = R.state(c)
    share = {0x10: 0, 0x20: V.FILE_SHARE_READ, 0x30: V.FILE_SHARE_WRITE,
             0x40: V.FILE_SHARE_READ | V.FILE_SHARE_WRITE}.get(shflag & 0xFFFFFFFF, V.FILE_SHARE_READ | V.FILE_SHARE_WRITE)
    fp, _err = S.fopen(c, s, path, mode, share=share)
    return fp


@api(BOTH, "FILE * __cdecl _fdopen(int fd, const char *mode)")
def _fdopen(c, fd, mode):
    s = R.state(c)
    pm = S.parse_mode(mode or "", s.fmode)
    if pm is None or fd not in s.fds:
        R.set_errno(c, R.EINVAL if pm is None else R.EBADF, s)
        return 0
    return S.new_stream(c, s, fd, pm[1]).addr


@api(BOTH, "FILE * __cdecl freopen(const char *path, const char *mode, FILE *f)")
def freopen(c, path, mode, f):
    s = R.state(c)
    st = stream_or_fail(c, s, f)
    if st is None:
        return 0
    S.close(c, s, st)
    pm = S.parse_mode(mode or "", s.fmode)
    if pm is None or path is None:
        R.invalid_parameter(c, R.EINVAL, s)
        return 0
    fd = S.os_open(c, s, path, pm[0])
    if fd < 0:
        return 0
    new = S.Stream(f, fd, pm[1], std=st.std)
    s.streams[f] = new
    S.write_file_fields(c, s, new)
    return f


@api(BOTH, "int __cdecl fclose(FILE *f)")
def fclose(c, f):
    s = R.state(c)
    st = stream_or_fail(c, s, f)
    if st is None:
        return EOF32
    return _i32(S.close(c, s, st))


@api(BOTH, "int __cdecl _fcloseall(void)")
def _fcloseall(c):
    s = R.state(c)
    n = 0
    for st in list(s.streams.values()):
        if not st.std:
            S.close(c, s, st)
            n += 1
    return n


@api(BOTH, "size_t __cdecl fread(void *p, size_t size, size_t count, FILE *f)")
def fread(c, p, size, count, f):
    s = R.state(c)
    st = stream_or_fail(c, s, f)
    if st is None:
        return 0
    total = size * count
    if total == 0:
        return 0
    if not p:
        R.invalid_parameter(c, R.EINVAL, s)
        return 0
    data = S.read(c, s, st, total)
    if data:
        c.write(p, data)
    return len(data) // size


@api(BOTH, "size_t __cdecl fwrite(const void *p, size_t size, size_t count, FILE *f)")
def fwrite(c, p, size, count, f):
    s = R.state(c)
    st = stream_or_fail(c, s, f)
    if st is None:
        return 0
    total = size * count
    if total == 0:
        return 0
    r = S.write(c, s, st, c.read(p, total))
    S.end_of_call(c, s, st)
    return count if r >= 0 else 0


@api(BOTH, "int __cdecl fputc(int ch, FILE *f)")
def fputc(c, ch, f):
    s = R.state(c)
    st = stream_or_fail(c, s, f)
    if st is None:
        return EOF32
    r = S.write(c, s, st, bytes([ch & 0xFF]))
    S.end_of_call(c, s, st)
    return ch & 0xFF if r >= 0 else EOF32


api(BOTH, "int __cdecl putc(int ch, FILE *f)")(fputc)
api(BOTH, "int __cdecl _fputc_nolock(int ch, FILE *f)")(fputc)
api(BOTH, "int __cdecl _putc_nolock(int ch, FILE *f)")(fputc)


@api(BOTH, "int __cdecl putchar(int ch)")
def putchar(c, ch):
    s = R.state(c)
    return fputc(c, ch, stdout_stream(c, s).addr)


@api(BOTH, "int __cdecl _putchar_nolock(int ch)")
def _putchar_nolock(c, ch):
    return putchar(c, ch)


@api(BOTH, "wint_t __cdecl fputwc(wchar_t ch, FILE *f)")
def fputwc(c, ch, f):
    s = R.state(c)
    st = stream_or_fail(c, s, f)
    if st is None:
        return 0xFFFF
    data = wide_to_stream_bytes(c, chr(ch & 0xFFFF))
    if data is None:
        R.set_errno(c, R.EILSEQ, s)
        return 0xFFFF
    r = S.write(c, s, st, data)
    S.end_of_call(c, s, st)
    return ch & 0xFFFF if r >= 0 else 0xFFFF


api(BOTH, "wint_t __cdecl putwc(wchar_t ch, FILE *f)")(fputwc)


@api(BOTH, "wint_t __cdecl putwchar(wchar_t ch)")
def putwchar(c, ch):
    return fputwc(c, ch, stdout_stream(c, R.state(c)).addr)


@api(BOTH, "int __cdecl fputs(const char *str, FILE *f)")
def fputs(c, text, f):
    s = R.state(c)
    st = stream_or_fail(c, s, f)
    if st is None:
        return EOF32
    if text is None:
        R.invalid_parameter(c, R.EINVAL, s)
        return EOF32
    r = S.write(c, s, st, c.cstr(_arg0(c), 1 << 20))
    S.end_of_call(c, s, st)
    return 0 if r >= 0 else EOF32


@api(BOTH, "int __cdecl fputws(const wchar_t *str, FILE *f)")
def fputws(c, text, f):
    s = R.state(c)
    st = stream_or_fail(c, s, f)
    if st is None or text is None:
        return EOF32
    data = wide_to_stream_bytes(c, text)
    if data is None:
        R.set_errno(c, R.EILSEQ, s)
        return EOF32
    r = S.write(c, s, st, data)
    S.end_of_call(c, s, st)
    return 0 if r >= 0 else EOF32


@api(BOTH, "int __cdecl puts(const char *str)")
def puts(c, text):
    s = R.state(c)
    st = stdout_stream(c, s)
    if text is None:
        R.invalid_parameter(c, R.EINVAL, s)
        return EOF32
    r = S.write(c, s, st, c.cstr(_arg0(c), 1 << 20) + b"\n")
    S.end_of_call(c, s, st)
    return 0 if r >= 0 else EOF32


@api(BOTH, "int __cdecl _putws(const wchar_t *str)")
def _putws(c, text):
    s = R.state(c)
    st = stdout_stream(c, s)
    data = wide_to_stream_bytes(c, (text or "") + "\n")
    if data is None:
        return 0xFFFF
    r = S.write(c, s, st, data)
    S.end_of_call(c, s, st)
    return 0 if r >= 0 else 0xFFFF


@api(BOTH, "int __cdecl fgetc(FILE *f)")
def fgetc(c, f):
    s = R.state(c)
    st = stream_or_fail(c, s, f)
    if st is None:
        return EOF32
    return _i32(S.getc(c, s, st))


api(BOTH, "int __cdecl getc(FILE *f)")(fgetc)
api(BOTH, "int __cdecl _fgetc_nolock(FILE *f)")(fgetc)
api(BOTH, "int __cdecl _getc_nolock(FILE *f)")(fgetc)


@api(BOTH, "int __cdecl getchar(void)")
def getchar(c):
    s = R.state(c)
    return _i32(S.getc(c, s, stdin_stream(c, s)))


@api(M, "int __cdecl _filbuf(FILE *f)")
def _filbuf(c, f):
    """What the getc macro of msvcrt's stdio.h calls when `--f->_cnt` went negative: refill the buffer and
    return its first character (the FILE's _ptr/_cnt then count the rest)."""
    return fgetc(c, f)


@api(M, "int __cdecl _flsbuf(int ch, FILE *f)")
def _flsbuf(c, ch, f):
    """What the putc macro calls when the buffer is full (`--f->_cnt` went negative): write out the buffer and
    store the character."""
    return fputc(c, ch, f)


@api(BOTH, "wint_t __cdecl fgetwc(FILE *f)")
def fgetwc(c, f):
    r = fgetc(c, f)
    return 0xFFFF if r == EOF32 else r


api(BOTH, "wint_t __cdecl getwc(FILE *f)")(fgetwc)


@api(BOTH, "wint_t __cdecl getwchar(void)")
def getwchar(c):
    r = getchar(c)
    return 0xFFFF if r == EOF32 else r


@api(BOTH, "char * __cdecl fgets(char *buf, int n, FILE *f)")
def fgets(c, buf, n, f):
    s = R.state(c)
    st = stream_or_fail(c, s, f)
    n = n - (1 << 32) if n & 0x80000000 else n
    if st is None or not buf or n <= 0:
        if st is not None:
            R.invalid_parameter(c, R.EINVAL, s)
        return 0
    line = S.readline(c, s, st, n - 1)
    if not line and n > 1:
        return 0
    c.write(buf, line + b"\0")
    return buf


@api(BOTH, "wchar_t * __cdecl fgetws(wchar_t *buf, int n, FILE *f)")
def fgetws(c, buf, n, f):
    s = R.state(c)
    st = stream_or_fail(c, s, f)
    n = n - (1 << 32) if n & 0x80000000 else n
    if st is None or not buf or n <= 0:
        return 0
    line = S.readline(c, s, st, n - 1)
    if not line and n > 1:
        return 0
    c.write(buf, line.decode("latin-1").encode("utf-16-le") + b"\0\0")
    return buf


@api(M, "char * __cdecl gets(char *buf)")
def gets(c, buf):
    s = R.state(c)
    st = stdin_stream(c, s)
    line = S.readline(c, s, st, 1 << 20)
    if not line:
        return 0
    if line.endswith(b"\n"):
        line = line[:-1]
    c.write(buf, line + b"\0")
    return buf


@api(BOTH, "int __cdecl ungetc(int ch, FILE *f)")
def ungetc(c, ch, f):
    s = R.state(c)
    st = stream_or_fail(c, s, f)
    if st is None:
        return EOF32
    return _i32(S.ungetc(c, s, st, ch))


@api(BOTH, "wint_t __cdecl ungetwc(wint_t ch, FILE *f)")
def ungetwc(c, ch, f):
    s = R.state(c)
    st = stream_or_fail(c, s, f)
    if st is None or (ch & 0xFFFF) == 0xFFFF:
        return 0xFFFF
    S.ungetc(c, s, st, ch & 0xFF)
    return ch & 0xFFFF


@api(BOTH, "int __cdecl fflush(FILE *f)")
def fflush(c, f):
    s = R.state(c)
    if not f:
        S.flush_all_streams(c, s)
        return 0
    st = stream_or_fail(c, s, f)
    if st is None:
        return EOF32
    return _i32(S.flush(c, s, st))


api(BOTH, "int __cdecl _fflush_nolock(FILE *f)")(fflush)


@api(BOTH, "int __cdecl _flushall(void)")
def _flushall(c):
    s = R.state(c)
    S.flush_all_streams(c, s)
    return len(s.streams)


@api(BOTH, "int __cdecl setvbuf(FILE *f, char *buf, int mode, size_t size)")
def setvbuf(c, f, buf, mode, size):
    s = R.state(c)
    st = stream_or_fail(c, s, f)
    if st is None:
        return EOF32
    return _i32(S.setvbuf(c, s, st, buf, mode & 0xFFFFFFFF, _size(c, size)))


@api(BOTH, "void __cdecl setbuf(FILE *f, char *buf)")
def setbuf(c, f, buf):
    s = R.state(c)
    st = stream_or_fail(c, s, f)
    if st is not None:
        S.setvbuf(c, s, st, buf, S._IOFBF if buf else S._IONBF, S.BUFSIZ)


@api(BOTH, "int __cdecl fseek(FILE *f, long offset, int whence)")
def fseek(c, f, offset, whence):
    s = R.state(c)
    st = stream_or_fail(c, s, f)
    if st is None:
        return EOF32
    off = offset - (1 << 32) if offset & 0x80000000 else offset
    return _i32(S.seek(c, s, st, off, whence & 0xFFFFFFFF))


@api(BOTH, "int __cdecl _fseeki64(FILE *f, __int64 offset, int whence)")
def _fseeki64(c, f, offset, whence):
    s = R.state(c)
    st = stream_or_fail(c, s, f)
    if st is None:
        return EOF32
    off = offset - (1 << 64) if offset & (1 << 63) else offset
    return _i32(S.seek(c, s, st, off, whence & 0xFFFFFFFF))


@api(BOTH, "long __cdecl ftell(FILE *f)")
def ftell(c, f):
    s = R.state(c)
    st = stream_or_fail(c, s, f)
    if st is None:
        return EOF32
    r = S.tell(c, s, st)
    if r > 0x7FFFFFFF:
        R.set_errno(c, R.EINVAL, s)   # the position does not fit a long
        return EOF32
    return _i32(r)


@api(BOTH, "__int64 __cdecl _ftelli64(FILE *f)")
def _ftelli64(c, f):
    s = R.state(c)
    st = stream_or_fail(c, s, f)
    if st is None:
        return (1 << 64) - 1
    return S.tell(c, s, st) & ((1 << 64) - 1)


@api(BOTH, "int __cdecl fgetpos(FILE *f, void *pos)")
def fgetpos(c, f, pos):
    s = R.state(c)
    st = stream_or_fail(c, s, f)
    if st is None or not pos:
        return EOF32
    r = S.tell(c, s, st)
    if r < 0:
        return EOF32
    c.write(pos, struct.pack("<q", r))
    return 0


@api(BOTH, "int __cdecl fsetpos(FILE *f, const void *pos)")
def fsetpos(c, f, pos):
    s = R.state(c)
    st = stream_or_fail(c, s, f)
    if st is None or not pos:
        return EOF32
    (off,) = struct.unpack("<q", c.read(pos, 8))
    return _i32(S.seek(c, s, st, off, 0))


@api(BOTH, "void __cdecl rewind(FILE *f)")
def rewind(c, f):
    s = R.state(c)
    st = stream_or_fail(c, s, f)
    if st is not None:
        S.seek(c, s, st, 0, 0)
        st.flags &= ~(S._IOERR | S._IOEOF)
        S.write_file_fields(c, s, st)


@api(BOTH, "int __cdecl feof(FILE *f)")
def feof(c, f):
    s = R.state(c)
    st = stream_or_fail(c, s, f)
    return 0 if st is None else st.flags & S._IOEOF


@api(BOTH, "int __cdecl ferror(FILE *f)")
def ferror(c, f):
    s = R.state(c)
    st = stream_or_fail(c, s, f)
    return 0 if st is None else st.flags & S._IOERR


@api(BOTH, "void __cdecl clearerr(FILE *f)")
def clearerr(c, f):
    s = R.state(c)
    st = stream_or_fail(c, s, f)
    if st is not None:
        st.flags &= ~(S._IOERR | S._IOEOF)
        fd = s.fds.get(st.fd)
        if fd is not None:
            fd.flags &= ~S.FEOFLAG
        S.write_file_fields(c, s, st)


@api(BOTH, "int __cdecl _fileno(FILE *f)")
def _fileno(c, f):
    s = R.state(c)
    st = stream_or_fail(c, s, f)
    return EOF32 if st is None else _i32(st.fd)


@api(BOTH, "FILE * __cdecl tmpfile(void)")
def tmpfile(c):
    s = R.state(c)
    fp, _ = _tmpfile(c, s)
    return fp


def _tmp_dir(c) -> str:
    env = c.proc.subsystem.get("environment") or {}
    for k in ("TMP", "TEMP"):
        for name, v in env.items():
            if name.upper() == k and v:
                return v.rstrip("\\")
    return "C:\\Windows\\Temp"


def _tmpfile(c, s) -> tuple[int, int]:
    d = _tmp_dir(c)
    for i in range(1, 1 << 16):
        name = f"{d}\\t{i:x}."
        if not c.machine.vfs.exists(name, c.proc.subsystem.get("cwd")):
            fd = S.os_open(c, s, name, S.O_RDWR | S.O_CREAT | S.O_EXCL | S.O_BINARY | S.O_TEMPORARY)
            if fd < 0:
                return 0, R.get_errno(c, s)
            st = S.new_stream(c, s, fd, S._IORW)
            return st.addr, 0
    R.set_errno(c, R.EEXIST, s)
    return 0, R.EEXIST


@api(BOTH, "int __cdecl tmpfile_s(FILE **pf)")
def tmpfile_s(c, pf):
    s = R.state(c)
    if not pf:
        R.invalid_parameter(c, R.EINVAL, s)
        return R.EINVAL
    fp, err = _tmpfile(c, s)
    c.write_ptr(pf, fp)
    return err


@api(BOTH, "void __cdecl perror(const char *msg)")
def perror(c, msg):
    s = R.state(c)
    text = R.errno_message(R.get_errno(c, s))
    out = (f"{msg}: {text}\n" if msg else f"{text}\n").encode("cp1252", "replace")
    st = s.streams.get(s.iob + 2 * s.fsize)
    if st is not None:
        S.flush(c, s, st)
    S.os_write(c, s, 2, out)


@api(BOTH, "void __cdecl _wperror(const wchar_t *msg)")
def _wperror(c, msg):
    perror(c, msg)


# ============================================================================================ files by name
def _cwd(c):
    return c.proc.subsystem.get("cwd")


def _fs_fail(c, s, e: NtStatusError) -> int:
    w = nt_to_win32(e.status)
    c.set_last_error(w)
    R.set_doserrno(c, w, s)
    return EOF32


@api(BOTH, "int __cdecl remove(const char *path)")
def remove(c, path):
    s = R.state(c)
    if path is None:
        R.invalid_parameter(c, R.EINVAL, s)
        return EOF32
    try:
        c.machine.vfs.delete(path, _cwd(c))
    except NtStatusError as e:
        return _fs_fail(c, s, e)
    return 0


api(BOTH, "int __cdecl _unlink(const char *path)")(remove)
api(BOTH, "int __cdecl _wremove(const wchar_t *path)")(remove)
api(BOTH, "int __cdecl _wunlink(const wchar_t *path)")(remove)


@api(BOTH, "int __cdecl rename(const char *src, const char *dst)")
def rename(c, src, dst):
    s = R.state(c)
    if src is None or dst is None:
        R.invalid_parameter(c, R.EINVAL, s)
        return EOF32
    try:
        c.machine.vfs.rename(src, dst, replace=False, cwd=_cwd(c))
    except NtStatusError as e:
        return _fs_fail(c, s, e)
    return 0


api(BOTH, "int __cdecl _wrename(const wchar_t *src, const wchar_t *dst)")(rename)


@api(BOTH, "int __cdecl _access(const char *path, int mode)")
def _access(c, path, mode):
    s = R.state(c)
    if path is None or mode & ~6:
        R.invalid_parameter(c, R.EINVAL, s)
        return EOF32
    try:
        info = c.machine.vfs.stat(path, _cwd(c))
    except NtStatusError as e:
        return _fs_fail(c, s, e)
    if mode & 2 and getattr(info, "attributes", 0) & V.FILE_ATTRIBUTE_READONLY:
        R.set_errno(c, R.EACCES, s)
        return EOF32
    return 0


api(BOTH, "int __cdecl _waccess(const wchar_t *path, int mode)")(_access)


# ============================================================================================ lowio
@api(BOTH, "int __cdecl _open(const char *path, int oflag, ...)")
def _open(c, path, oflag):
    s = R.state(c)
    if path is None:
        R.invalid_parameter(c, R.EINVAL, s)
        return EOF32
    return _i32(S.os_open(c, s, path, oflag))


api(BOTH, "int __cdecl _wopen(const wchar_t *path, int oflag, ...)")(_open)


@api(BOTH, "int __cdecl _sopen(const char *path, int oflag, int shflag, ...)")
def _sopen(c, path, oflag, shflag):
    s = R.state(c)
    share = {0x10: 0, 0x20: V.FILE_SHARE_READ, 0x30: V.FILE_SHARE_WRITE}.get(shflag, V.FILE_SHARE_READ
                                                                             | V.FILE_SHARE_WRITE)
    return _i32(S.os_open(c, s, path, oflag, share))


api(BOTH, "int __cdecl _wsopen(const wchar_t *path, int oflag, int shflag, ...)")(_sopen)


@api(BOTH, "int __cdecl _sopen_s(int *pfd, const char *path, int oflag, int shflag, int pmode)")
def _sopen_s(c, pfd, path, oflag, shflag, pmode):
    s = R.state(c)
    if not pfd or path is None:
        R.invalid_parameter(c, R.EINVAL, s)
        return R.EINVAL
    fd = _sopen(c, path, oflag, shflag)
    c.write_u32(pfd, fd)
    return 0 if fd != EOF32 else R.get_errno(c, s)


api(BOTH, "int __cdecl _wsopen_s(int *pfd, const wchar_t *path, int oflag, int shflag, int pmode)")(_sopen_s)


@api(BOTH, "int __cdecl _close(int fd)")
def _close(c, fd):
    s = R.state(c)
    fd = fd - (1 << 32) if fd & 0x80000000 else fd
    # a stream on this fd is left with a dead descriptor, as on Windows
    return _i32(S.os_close(c, s, fd))


@api(BOTH, "int __cdecl _read(int fd, void *buf, unsigned int n)")
def _read(c, fd, buf, n):
    s = R.state(c)
    r = S.os_read(c, s, fd, n)
    if isinstance(r, int):
        return _i32(r)
    if r:
        c.write(buf, r)
    return len(r)


@api(BOTH, "int __cdecl _write(int fd, const void *buf, unsigned int n)")
def _write(c, fd, buf, n):
    s = R.state(c)
    data = c.read(buf, n) if n else b""
    return _i32(S.os_write(c, s, fd, data))


@api(BOTH, "long __cdecl _lseek(int fd, long offset, int whence)")
def _lseek(c, fd, offset, whence):
    s = R.state(c)
    off = offset - (1 << 32) if offset & 0x80000000 else offset
    return _i32(S.os_lseek(c, s, fd, off, whence))


@api(BOTH, "__int64 __cdecl _lseeki64(int fd, __int64 offset, int whence)")
def _lseeki64(c, fd, offset, whence):
    s = R.state(c)
    off = offset - (1 << 64) if offset & (1 << 63) else offset
    return S.os_lseek(c, s, fd, off, whence) & ((1 << 64) - 1)


@api(BOTH, "long __cdecl _tell(int fd)")
def _tell(c, fd):
    return _lseek(c, fd, 0, 1)


@api(BOTH, "int __cdecl _eof(int fd)")
def _eof(c, fd):
    s = R.state(c)
    f = S.get_fd(c, s, fd)
    if f is None:
        return EOF32
    try:
        return 1 if f.obj.tell() >= f.obj.size else 0
    except Exception:
        return EOF32


@api(BOTH, "errno_t __cdecl _chsize_s(int fd, __int64 size)")
def _chsize_s(c, fd, size):
    """The file's new length (NtSetInformationFile's end of file: zeros when it grows); the file pointer does
    not move. A bad descriptor is EBADF and a negative size EINVAL, both through the invalid-parameter path;
    a refusal of the system (a read-only handle) is its errno through _dosmaperr."""
    s = R.state(c)
    if size & (1 << 63):
        R.invalid_parameter(c, R.EINVAL, s)
        return R.EINVAL
    f = s.fds.get(fd)
    if f is None:
        R.invalid_parameter(c, R.EBADF, s)
        return R.EBADF
    iosb = c.stack_alloc(2 * c.ptr_size, 8)
    info = c.stack_alloc(8, 8)
    c.write(info, struct.pack("<Q", size))
    st = c.nt("NtSetInformationFile", f.handle, iosb, info, 8, 20)     # FileEndOfFileInformation
    if st & 0x80000000:
        w = nt_to_win32(st)
        c.set_last_error(w)
        R.set_doserrno(c, w, s)
        return R.dosmaperr(w)
    return 0


@api(BOTH, "int __cdecl _chsize(int fd, long size)")
def _chsize(c, fd, size):
    """_chsize_s with a 32-bit size: 0, or -1 with errno set."""
    size = size - (1 << 32) if size & 0x80000000 else size
    return 0 if _chsize_s(c, fd, size & ((1 << 64) - 1)) == 0 else EOF32


@api(BOTH, "long __cdecl _filelength(int fd)")
def _filelength(c, fd):
    s = R.state(c)
    f = S.get_fd(c, s, fd)
    if f is None:
        return EOF32
    try:
        return _i32(f.obj.size)
    except Exception:
        R.set_errno(c, R.EBADF, s)
        return EOF32


@api(BOTH, "int __cdecl _setmode(int fd, int mode)")
def _setmode(c, fd, mode):
    s = R.state(c)
    f = S.get_fd(c, s, fd)
    if f is None:
        return EOF32
    if mode in (S.O_WTEXT, S.O_U16TEXT, S.O_U8TEXT):
        R.not_implemented(c, "_setmode to a Unicode text mode")
    if mode not in (S.O_TEXT, S.O_BINARY):
        R.invalid_parameter(c, R.EINVAL, s)
        return EOF32
    old = S.O_TEXT if f.flags & S.FTEXT else S.O_BINARY
    # a stream's buffer holds the program's bytes: they are translated when written, in the mode of then
    if mode == S.O_TEXT:
        f.flags |= S.FTEXT
    else:
        f.flags &= ~S.FTEXT
    return old


@api(BOTH, "int __cdecl _isatty(int fd)")
def _isatty(c, fd):
    s = R.state(c)
    f = s.fds.get(fd - (1 << 32) if fd & 0x80000000 else fd)
    if f is None:
        R.set_errno(c, R.EBADF, s)
        return 0
    return S.FDEV if f.flags & S.FDEV else 0


@api(BOTH, "intptr_t __cdecl _get_osfhandle(int fd)")
def _get_osfhandle(c, fd):
    s = R.state(c)
    f = s.fds.get(fd - (1 << 32) if fd & 0x80000000 else fd)
    if f is None:
        R.set_errno(c, R.EBADF, s)
        return (1 << (8 * c.ptr_size)) - 1
    return f.handle


@api(BOTH, "int __cdecl _open_osfhandle(intptr_t h, int flags)")
def _open_osfhandle(c, h, flags):
    s = R.state(c)
    try:
        obj = c.proc.handles.lookup(h)
    except NtStatusError:
        R.set_errno(c, R.EBADF, s)
        return EOF32
    fl = 0
    if not (flags & S.O_BINARY) and (flags & S.O_TEXT or s.fmode != S.O_BINARY):
        fl |= S.FTEXT
    if flags & S.O_APPEND:
        fl |= S.FAPPEND
    return _i32(S.fd_for_handle(s, h, obj, fl))


@api(BOTH, "int __cdecl _dup(int fd)")
def _dup(c, fd):
    s = R.state(c)
    f = S.get_fd(c, s, fd)
    if f is None:
        return EOF32
    h = c.proc.handles.duplicate(f.handle, c.proc.handles)
    return _i32(S.fd_for_handle(s, h, f.obj, f.flags & ~S.FNOINHERIT))


@api(BOTH, "int __cdecl _dup2(int fd, int fd2)")
def _dup2(c, fd, fd2):
    s = R.state(c)
    f = S.get_fd(c, s, fd)
    if f is None or fd2 & 0x80000000:
        return EOF32
    if fd2 in s.fds:
        S.os_close(c, s, fd2)
    h = c.proc.handles.duplicate(f.handle, c.proc.handles)
    S.fd_for_handle(s, h, f.obj, f.flags & ~S.FNOINHERIT, fd2)
    return 0


@api(BOTH, "int __cdecl _umask(int mode)")
def _umask(c, mode):
    """The file-permission mask _open/_creat apply to a new file's pmode: only _S_IWRITE (0x80) has an effect
    on Windows (a new file without it is read-only), _S_IREAD (0x100) is kept, other bits are ignored.
    Returns the previous mask."""
    s = R.state(c)
    mode &= 0x180
    if mode & 0x80:
        # files created read-only are not emulated: _open ignores pmode
        R.not_implemented(c, "_umask(_S_IWRITE) (new files created read-only)")
    old = getattr(s, "umask", 0)
    s.umask = mode
    return old
