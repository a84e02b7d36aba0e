"""C runtime strings, memory and ctype, shared by msvcrt.dll and ucrtbase.dll (vcruntime140's mem*/str* exports
forward to ucrtbase). Narrow and wide versions share one implementation over a "unit" abstraction: bytes for
char strings, 16-bit code units for wchar_t strings. The "C" locale: case mapping is ASCII only."""
from __future__ import annotations

import struct

from winhatch.win32.msvcrt.runtime import crt_api as api
from winhatch.win32.msvcrt import runtime as R
from winhatch.win32.msvcrt import locale as L
from winhatch.win32.msvcrt.startup import c_locale_ctype, wide_ctype

BOTH = R.BOTH
LIMIT = 1 << 24


def _sz(c, v: int) -> int:
    return v & ((1 << (8 * c.ptr_size)) - 1)


# ------------------------------------------------------------------------------------------ unit helpers
class _Units:
    """Read/write NUL-terminated strings of 1-byte (narrow) or 2-byte (wide) units as lists of ints."""

    def __init__(self, wide: bool):
        self.wide = wide
        self.size = 2 if wide else 1

    def read(self, c, addr: int, limit: int = LIMIT) -> list[int]:
        if self.wide:
            raw = (c.wstr(addr, limit) or "").encode("utf-16-le", "surrogatepass")
            return [raw[i] | raw[i + 1] << 8 for i in range(0, len(raw), 2)]
        return list(c.cstr(addr, limit) or b"")

    def key(self, c, addr: int):
        """The string as a value that compares (==, <) as its units do: its bytes for narrow strings (no list
        of ints per call), the units for wide ones (UTF-16LE bytes do not compare as units)."""
        if self.wide:
            return self.read(c, addr)
        return c.cstr(addr, LIMIT) or b""

    def count(self, c, addr: int) -> int:
        """The number of units before the terminator."""
        if self.wide:
            return len(self.read(c, addr))
        return len(c.cstr(addr, LIMIT) or b"")

    def readn(self, c, addr: int, n: int) -> list[int]:
        """Up to n units, stopping at a NUL (not included)."""
        return self.read(c, addr, n)[:n]

    def encode(self, units: list[int]) -> bytes:
        if self.wide:
            return b"".join((u & 0xFFFF).to_bytes(2, "little") for u in units)
        return bytes(u & 0xFF for u in units)

    def write(self, c, addr: int, units: list[int], nul: bool = True) -> None:
        data = self.encode(units + ([0] if nul else []))
        if data:
            c.write(addr, data)


A, W = _Units(False), _Units(True)


def _lower(u: int) -> int:
    return u + 32 if 65 <= u <= 90 else u


def _upper(u: int) -> int:
    return u - 32 if 97 <= u <= 122 else u


def _cmp(x: list[int], y: list[int]) -> int:
    return 0 if x == y else (-1 if x < y else 1)


def _icmp(x: list[int], y: list[int]) -> int:
    """_stricmp: the difference of the first differing lower-cased units."""
    for a, b in zip(x + [0], y + [0]):
        la, lb = _lower(a), _lower(b)
        if la != lb:
            return la - lb
        if a == 0:
            return 0
    return 0


def _r(v: int) -> int:
    return v & 0xFFFFFFFF


# ------------------------------------------------------------------------------------------ memory
@api(BOTH, "void * __cdecl memcpy(void *dst, const void *src, size_t n)")
def memcpy(c, d, s, n):
    n = _sz(c, n)
    if n:
        c.write(d, c.read(s, n))
    return d


api(BOTH, "void * __cdecl memmove(void *dst, const void *src, size_t n)")(memcpy)


@api(BOTH, "void * __cdecl memset(void *dst, int ch, size_t n)")
def memset(c, d, ch, n):
    n = _sz(c, n)
    if n:
        c.write(d, bytes([ch & 0xFF]) * n)
    return d


@api(BOTH, "int __cdecl memcmp(const void *a, const void *b, size_t n)")
def memcmp(c, a, b, n):
    n = _sz(c, n)
    if not n:
        return 0
    x, y = c.read(a, n), c.read(b, n)
    return _r(_cmp(list(x), list(y)))


@api(BOTH, "int __cdecl _memicmp(const void *a, const void *b, size_t n)")
def _memicmp(c, a, b, n):
    n = _sz(c, n)
    for i, (p, q) in enumerate(zip(c.read(a, n), c.read(b, n))):
        if _lower(p) != _lower(q):
            return _r(_lower(p) - _lower(q))
    return 0


@api(BOTH, "void * __cdecl memchr(const void *p, int ch, size_t n)")
def memchr(c, p, ch, n):
    n = _sz(c, n)
    if not n:
        return 0
    i = c.read(p, n).find(bytes([ch & 0xFF]))
    return 0 if i < 0 else p + i


@api(BOTH, "int __cdecl memcpy_s(void *dst, size_t size, const void *src, size_t n)")
def memcpy_s(c, d, size, s, n):
    size, n = _sz(c, size), _sz(c, n)
    if n == 0:
        return 0
    if not d:
        R.invalid_parameter(c, R.EINVAL)
        return R.EINVAL
    if not s or size < n:
        c.write(d, bytes(size))
        R.invalid_parameter(c, R.EINVAL if not s else R.ERANGE)
        return R.EINVAL if not s else R.ERANGE
    c.write(d, c.read(s, n))
    return 0


@api(BOTH, "int __cdecl memmove_s(void *dst, size_t size, const void *src, size_t n)")
def memmove_s(c, d, size, s, n):
    size, n = _sz(c, size), _sz(c, n)
    if n == 0:
        return 0
    if not d or not s or size < n:
        R.invalid_parameter(c, R.EINVAL if (not d or not s) else R.ERANGE)
        return R.EINVAL if (not d or not s) else R.ERANGE
    c.write(d, c.read(s, n))
    return 0


# ------------------------------------------------------------------------------------------ strings (both widths)
def _declare(proto_a: str, proto_w: str | None, fn_factory):
    api(BOTH, proto_a)(fn_factory(A))
    if proto_w:
        api(BOTH, proto_w)(fn_factory(W))


def _len(U):
    def fn(c, s):
        return U.count(c, s)
    return fn


_declare("size_t __cdecl strlen(const void *s)", "size_t __cdecl wcslen(const void *s)", _len)


def _nlen(U):
    def fn(c, s, n):
        n = _sz(c, n)
        return len(U.readn(c, s, min(n, LIMIT))) if s else 0
    return fn


_declare("size_t __cdecl strnlen(const void *s, size_t n)", "size_t __cdecl wcsnlen(const void *s, size_t n)", _nlen)


def _cpy(U):
    def fn(c, d, s):
        U.write(c, d, U.read(c, s))
        return d
    return fn


_declare("char * __cdecl strcpy(void *dst, const void *src)", "wchar_t * __cdecl wcscpy(void *dst, const void *src)",
         _cpy)


def _ncpy(U):
    def fn(c, d, s, n):
        n = _sz(c, n)
        src = U.readn(c, s, n)
        U.write(c, d, src + [0] * (n - len(src)), nul=False)
        return d
    return fn


_declare("char * __cdecl strncpy(void *dst, const void *src, size_t n)",
         "wchar_t * __cdecl wcsncpy(void *dst, const void *src, size_t n)", _ncpy)


def _cat(U):
    def fn(c, d, s):
        end = d + len(U.read(c, d)) * U.size
        U.write(c, end, U.read(c, s))
        return d
    return fn


_declare("char * __cdecl strcat(void *dst, const void *src)", "wchar_t * __cdecl wcscat(void *dst, const void *src)",
         _cat)


def _ncat(U):
    def fn(c, d, s, n):
        end = d + len(U.read(c, d)) * U.size
        U.write(c, end, U.readn(c, s, _sz(c, n)))
        return d
    return fn


_declare("char * __cdecl strncat(void *dst, const void *src, size_t n)",
         "wchar_t * __cdecl wcsncat(void *dst, const void *src, size_t n)", _ncat)


def _strcmp(U):
    def fn(c, a, b):
        return _r(_cmp(U.key(c, a), U.key(c, b)))
    return fn


_declare("int __cdecl strcmp(const void *a, const void *b)", "int __cdecl wcscmp(const void *a, const void *b)",
         _strcmp)
api(BOTH, "int __cdecl strcoll(const void *a, const void *b)")(_strcmp(A))
api(BOTH, "int __cdecl wcscoll(const void *a, const void *b)")(_strcmp(W))


def _strncmp(U):
    def fn(c, a, b, n):
        n = _sz(c, n)
        return _r(_cmp(U.readn(c, a, n), U.readn(c, b, n)))
    return fn


_declare("int __cdecl strncmp(const void *a, const void *b, size_t n)",
         "int __cdecl wcsncmp(const void *a, const void *b, size_t n)", _strncmp)


def _stricmp(U):
    def fn(c, a, b):
        if not a or not b:
            R.invalid_parameter(c, R.EINVAL)
            return 0x7FFFFFFF
        return _r(_icmp(U.read(c, a), U.read(c, b)))
    return fn


_declare("int __cdecl _stricmp(const void *a, const void *b)", "int __cdecl _wcsicmp(const void *a, const void *b)",
         _stricmp)
api(BOTH, "int __cdecl _strcmpi(const void *a, const void *b)")(_stricmp(A))
api(BOTH, "int __cdecl _stricoll(const void *a, const void *b)")(_stricmp(A))
api(BOTH, "int __cdecl _wcsicoll(const void *a, const void *b)")(_stricmp(W))


def _strnicmp(U):
    def fn(c, a, b, n):
        n = _sz(c, n)
        if not n:
            return 0
        if not a or not b:
            R.invalid_parameter(c, R.EINVAL)
            return 0x7FFFFFFF
        return _r(_icmp(U.readn(c, a, n), U.readn(c, b, n)))
    return fn


_declare("int __cdecl _strnicmp(const void *a, const void *b, size_t n)",
         "int __cdecl _wcsnicmp(const void *a, const void *b, size_t n)", _strnicmp)


def _chr(U):
    def fn(c, s, ch):
        units = U.read(c, s)
        ch &= 0xFFFF if U.wide else 0xFF
        if ch == 0:
            return s + len(units) * U.size
        try:
            return s + units.index(ch) * U.size
        except ValueError:
            return 0
    return fn


_declare("char * __cdecl strchr(const void *s, int ch)", "wchar_t * __cdecl wcschr(const void *s, wchar_t ch)", _chr)


def _rchr(U):
    def fn(c, s, ch):
        units = U.read(c, s)
        ch &= 0xFFFF if U.wide else 0xFF
        if ch == 0:
            return s + len(units) * U.size
        for i in range(len(units) - 1, -1, -1):
            if units[i] == ch:
                return s + i * U.size
        return 0
    return fn


_declare("char * __cdecl strrchr(const void *s, int ch)", "wchar_t * __cdecl wcsrchr(const void *s, wchar_t ch)",
         _rchr)


def _str(U):
    def fn(c, s, sub):
        hay, needle = U.read(c, s), U.read(c, sub)
        if not needle:
            return s
        n = len(needle)
        for i in range(len(hay) - n + 1):
            if hay[i:i + n] == needle:
                return s + i * U.size
        return 0
    return fn


_declare("char * __cdecl strstr(const void *s, const void *sub)",
         "wchar_t * __cdecl wcsstr(const void *s, const void *sub)", _str)


def _spn(U, accept: bool):
    def fn(c, s, chars):
        units, cs = U.read(c, s), set(U.read(c, chars))
        i = 0
        while i < len(units) and ((units[i] in cs) == accept):
            i += 1
        return i
    return fn


api(BOTH, "size_t __cdecl strspn(const void *s, const void *accept)")(_spn(A, True))
api(BOTH, "size_t __cdecl wcsspn(const void *s, const void *accept)")(_spn(W, True))
api(BOTH, "size_t __cdecl strcspn(const void *s, const void *reject)")(_spn(A, False))
api(BOTH, "size_t __cdecl wcscspn(const void *s, const void *reject)")(_spn(W, False))


def _pbrk(U):
    def fn(c, s, chars):
        units, cs = U.read(c, s), set(U.read(c, chars))
        for i, u in enumerate(units):
            if u in cs:
                return s + i * U.size
        return 0
    return fn


_declare("char * __cdecl strpbrk(const void *s, const void *chars)",
         "wchar_t * __cdecl wcspbrk(const void *s, const void *chars)", _pbrk)


def _dup(U):
    def fn(c, s):
        if not s:
            return 0
        units = U.read(c, s)
        p = R.alloc(c, (len(units) + 1) * U.size, zero=False)
        U.write(c, p, units)
        return p
    return fn


_declare("char * __cdecl _strdup(const void *s)", "wchar_t * __cdecl _wcsdup(const void *s)", _dup)


def _case(U, f):
    def fn(c, s):
        if not s:
            R.invalid_parameter(c, R.EINVAL)
            return 0
        U.write(c, s, [f(u) for u in U.read(c, s)])
        return s
    return fn


api(BOTH, "char * __cdecl _strlwr(void *s)")(_case(A, _lower))
api(BOTH, "char * __cdecl _strupr(void *s)")(_case(A, _upper))
api(BOTH, "wchar_t * __cdecl _wcslwr(void *s)")(_case(W, _lower))
api(BOTH, "wchar_t * __cdecl _wcsupr(void *s)")(_case(W, _upper))


def _rev(U):
    def fn(c, s):
        U.write(c, s, list(reversed(U.read(c, s))))
        return s
    return fn


api(BOTH, "char * __cdecl _strrev(void *s)")(_rev(A))
api(BOTH, "wchar_t * __cdecl _wcsrev(void *s)")(_rev(W))


def _set(U):
    def fn(c, s, ch):
        units = U.read(c, s)
        U.write(c, s, [ch & (0xFFFF if U.wide else 0xFF)] * len(units))
        return s
    return fn


api(BOTH, "char * __cdecl _strset(void *s, int ch)")(_set(A))
api(BOTH, "wchar_t * __cdecl _wcsset(void *s, wchar_t ch)")(_set(W))


# strtok: a per-thread context (the next position), separate for narrow and wide
def _tok(U, key: str, ctx_param: bool):
    def body(c, s, delim, ctx_ptr):
        st = R.state(c).thread(c.thread.tid)
        if s:
            pos = s
        elif ctx_param:
            pos = c.ptr(ctx_ptr) if ctx_ptr else 0
        else:
            pos = st[key]
        if not pos:
            return 0
        ds = set(U.read(c, delim)) if delim else set()
        units = U.read(c, pos)
        i = 0
        while i < len(units) and units[i] in ds:
            i += 1
        if i == len(units):
            nxt, result = 0, 0
        else:
            start = i
            while i < len(units) and units[i] not in ds:
                i += 1
            result = pos + start * U.size
            if i < len(units):
                U.write(c, pos + i * U.size, [0], nul=False)
                nxt = pos + (i + 1) * U.size
            else:
                nxt = pos + i * U.size
        if ctx_param:
            if ctx_ptr:
                c.write_ptr(ctx_ptr, nxt)
        else:
            st[key] = nxt
        return result

    if ctx_param:
        def fn(c, s, delim, ctx):
            if not ctx or not delim or (not s and not c.ptr(ctx)):
                R.invalid_parameter(c, R.EINVAL)
                return 0
            return body(c, s, delim, ctx)
    else:
        def fn(c, s, delim):
            return body(c, s, delim, 0)
    return fn


api(BOTH, "char * __cdecl strtok(void *s, const void *delim)")(_tok(A, "strtok", False))
api(BOTH, "char * __cdecl strtok_s(void *s, const void *delim, char **ctx)")(_tok(A, "strtok", True))
api(BOTH, "wchar_t * __cdecl wcstok_s(void *s, const void *delim, wchar_t **ctx)")(_tok(W, "wcstok", True))


@api(R.MSVCRT_DLL, "wchar_t * __cdecl wcstok(void *s, const void *delim)")
def wcstok_msvcrt(c, s, delim):
    return _tok(W, "wcstok", False)(c, s, delim)


@api(R.UCRT_DLL, "wchar_t * __cdecl wcstok(void *s, const void *delim, wchar_t **ctx)")
def wcstok_ucrt(c, s, delim, ctx):
    # ucrt's wcstok is the ISO three-argument form; a NULL context uses the per-thread one
    if ctx:
        return _tok(W, "wcstok", True)(c, s, delim, ctx)
    return _tok(W, "wcstok", False)(c, s, delim)


# --- secure versions ---------------------------------------------------------------------------------------
def _secure_fail(c, U, d: int, size: int, err: int) -> int:
    if d and size:
        U.write(c, d, [], nul=True)
    R.invalid_parameter(c, err)
    return err


def _cpy_s(U):
    def fn(c, d, size, s):
        size = _sz(c, size)
        if not d or size == 0:
            R.invalid_parameter(c, R.EINVAL)
            return R.EINVAL
        if not s:
            return _secure_fail(c, U, d, size, R.EINVAL)
        src = U.read(c, s)
        if len(src) >= size:
            return _secure_fail(c, U, d, size, R.ERANGE)
        U.write(c, d, src)
        return 0
    return fn


_declare("int __cdecl strcpy_s(void *dst, size_t size, const void *src)",
         "int __cdecl wcscpy_s(void *dst, size_t size, const void *src)", _cpy_s)


def _cat_s(U):
    def fn(c, d, size, s):
        size = _sz(c, size)
        if not d or size == 0:
            R.invalid_parameter(c, R.EINVAL)
            return R.EINVAL
        if not s:
            return _secure_fail(c, U, d, size, R.EINVAL)
        cur = U.readn(c, d, size)
        if len(cur) >= size:     # not terminated within the buffer
            return _secure_fail(c, U, d, size, R.EINVAL)
        src = U.read(c, s)
        if len(cur) + len(src) >= size:
            return _secure_fail(c, U, d, size, R.ERANGE)
        U.write(c, d + len(cur) * U.size, src)
        return 0
    return fn


_declare("int __cdecl strcat_s(void *dst, size_t size, const void *src)",
         "int __cdecl wcscat_s(void *dst, size_t size, const void *src)", _cat_s)


def _ncpy_s(U):
    def fn(c, d, size, s, n):
        size, n = _sz(c, size), _sz(c, n)
        trunc = n == _sz(c, -1)
        if n == 0 and not d and size == 0:
            return 0
        if not d or size == 0:
            R.invalid_parameter(c, R.EINVAL)
            return R.EINVAL
        if n == 0:
            U.write(c, d, [])
            return 0
        if not s:
            return _secure_fail(c, U, d, size, R.EINVAL)
        src = U.readn(c, s, size if trunc else n)
        if trunc and len(src) >= size:
            U.write(c, d, src[:size - 1])
            return R.STRUNCATE
        if len(src) >= size:
            return _secure_fail(c, U, d, size, R.ERANGE)
        U.write(c, d, src)
        return 0
    return fn


_declare("int __cdecl strncpy_s(void *dst, size_t size, const void *src, size_t n)",
         "int __cdecl wcsncpy_s(void *dst, size_t size, const void *src, size_t n)", _ncpy_s)


def _ncat_s(U):
    def fn(c, d, size, s, n):
        size, n = _sz(c, size), _sz(c, n)
        trunc = n == _sz(c, -1)
        if not d or size == 0:
            R.invalid_parameter(c, R.EINVAL)
            return R.EINVAL
        cur = U.readn(c, d, size)
        if len(cur) >= size:
            return _secure_fail(c, U, d, size, R.EINVAL)
        if n == 0:
            return 0
        if not s:
            return _secure_fail(c, U, d, size, R.EINVAL)
        room = size - len(cur) - 1
        src = U.readn(c, s, room + 1 if trunc else n)
        if trunc and len(src) > room:
            U.write(c, d + len(cur) * U.size, src[:room])
            return R.STRUNCATE
        if len(src) > room:
            return _secure_fail(c, U, d, size, R.ERANGE)
        U.write(c, d + len(cur) * U.size, src)
        return 0
    return fn


_declare("int __cdecl strncat_s(void *dst, size_t size, const void *src, size_t n)",
         "int __cdecl wcsncat_s(void *dst, size_t size, const void *src, size_t n)", _ncat_s)


def _case_s(U, f):
    def fn(c, s, size):
        size = _sz(c, size)
        if not s or size == 0:
            R.invalid_parameter(c, R.EINVAL)
            return R.EINVAL
        units = U.readn(c, s, size)
        if len(units) >= size:
            return _secure_fail(c, U, s, size, R.EINVAL)
        U.write(c, s, [f(u) for u in units])
        return 0
    return fn


api(BOTH, "int __cdecl _strlwr_s(void *s, size_t size)")(_case_s(A, _lower))
api(BOTH, "int __cdecl _strupr_s(void *s, size_t size)")(_case_s(A, _upper))
api(BOTH, "int __cdecl _wcslwr_s(void *s, size_t size)")(_case_s(W, _lower))
api(BOTH, "int __cdecl _wcsupr_s(void *s, size_t size)")(_case_s(W, _upper))


@api(BOTH, "char * __cdecl strerror(int errnum)")
def strerror(c, n):
    s = R.state(c)
    buf = R.static_buffer(c, s, "strerror", 256)
    c.write(buf, R.errno_message(n).encode() + b"\0")
    return buf


@api(BOTH, "char * __cdecl _strerror(const char *msg)")
def _strerror(c, msg):
    s = R.state(c)
    buf = R.static_buffer(c, s, "_strerror", 512)
    text = R.errno_message(R.get_errno(c, s))
    out = f"{msg}: {text}\n" if msg else f"{text}\n"
    c.write(buf, out.encode("cp1252", "replace")[:510] + b"\0")
    return buf


@api(BOTH, "int __cdecl strerror_s(char *buf, size_t size, int errnum)")
def strerror_s(c, buf, size, n):
    size = _sz(c, size)
    if not buf or size == 0:
        R.invalid_parameter(c, R.EINVAL)
        return R.EINVAL
    msg = R.errno_message(n).encode()[:size - 1]
    c.write(buf, msg + b"\0")
    return 0


@api(BOTH, "wchar_t * __cdecl _wcserror(int errnum)")
def _wcserror(c, n):
    s = R.state(c)
    buf = R.static_buffer(c, s, "wcserror", 512)
    c.write(buf, R.errno_message(n).encode("utf-16-le") + b"\0\0")
    return buf


# ------------------------------------------------------------------------------------------ ctype
_CTYPE_BITS = {"isalpha": 0x103, "isupper": 0x1, "islower": 0x2, "isdigit": 0x4, "isxdigit": 0x80,
               "isspace": 0x8, "ispunct": 0x10, "isalnum": 0x107, "isprint": 0x157, "isgraph": 0x117,
               "iscntrl": 0x20, "isblank": 0x40}


def _isfn(bits: int, wide: bool, name: str):
    def fn(c, ch):
        if wide:
            ch &= 0xFFFF
            if ch == 0xFFFF:
                return 0
            if name == "isblank" and ch == 0x09:
                return 0x40
            v = wide_ctype(ch)
        else:
            ch = ch - (1 << 32) if ch & 0x80000000 else ch
            if ch == -1:
                return 0
            if not -1 <= ch <= 255:
                R.not_implemented(c, f"{name}({ch}) outside the EOF..255 domain (a debug assertion)")
            ch &= 0xFF
            v = L.byte_ctype(R.state(c), ch)
            if name == "isblank" and ch == 0x09:
                v |= 0x40
        return v & bits
    return fn


for _n, _bits in _CTYPE_BITS.items():
    api(BOTH, f"int __cdecl {_n}(int ch)")(_isfn(_bits, False, _n))
    api(BOTH, f"int __cdecl isw{_n[2:]}(wint_t ch)")(_isfn(_bits, True, _n))


@api(BOTH, "int __cdecl _isctype(int ch, int mask)")
def _isctype(c, ch, mask):
    ch = ch - (1 << 32) if ch & 0x80000000 else ch
    if ch == -1:
        return 0
    return L.byte_ctype(R.state(c), ch & 0xFF) & mask


@api(BOTH, "int __cdecl iswctype(wint_t ch, unsigned short mask)")
def iswctype(c, ch, mask):
    ch &= 0xFFFF
    if ch == 0xFFFF:
        return 0
    return wide_ctype(ch) & mask


@api(BOTH, "int __cdecl isascii(int ch)")
def isascii(c, ch):
    return 1 if (ch & 0xFFFFFFFF) < 0x80 else 0


api(BOTH, "int __cdecl __isascii(int ch)")(isascii)


@api(BOTH, "int __cdecl toupper(int ch)")
def toupper(c, ch):
    v = ch - (1 << 32) if ch & 0x80000000 else ch
    return _r(L.toupper(R.state(c), v)) if 0 <= v <= 255 else ch


@api(BOTH, "int __cdecl tolower(int ch)")
def tolower(c, ch):
    v = ch - (1 << 32) if ch & 0x80000000 else ch
    return _r(L.tolower(R.state(c), v)) if 0 <= v <= 255 else ch


@api(BOTH, "int __cdecl _toupper(int ch)")
def _toupper_(c, ch):
    return _r(ch - 32)


@api(BOTH, "int __cdecl _tolower(int ch)")
def _tolower_(c, ch):
    return _r(ch + 32)


@api(BOTH, "wint_t __cdecl towupper(wint_t ch)")
def towupper(c, ch):
    return _upper(ch & 0xFFFF)


@api(BOTH, "wint_t __cdecl towlower(wint_t ch)")
def towlower(c, ch):
    return _lower(ch & 0xFFFF)


@api(BOTH, "int __cdecl __iscsym(int ch)")
def __iscsym(c, ch):
    ch &= 0xFF
    return 1 if (L.byte_ctype(R.state(c), ch) & 0x107) or ch == 0x5F else 0


@api(BOTH, "int __cdecl __iscsymf(int ch)")
def __iscsymf(c, ch):
    ch &= 0xFF
    return 1 if (L.byte_ctype(R.state(c), ch) & 0x103) or ch == 0x5F else 0


# ------------------------------------------------------------------------------------------ multibyte
# The LC_CTYPE locale's code page: in "C" a byte is the code point U+0000..U+00FF, in the user locale (1252, a
# single-byte code page) a byte is its 1252 character; a character with no byte fails with EILSEQ.
def _mb_decode(c, data: bytes) -> list[int]:
    from winhatch.win32.msvcrt.format import _narrow_to_wide
    return [ord(ch) for ch in _narrow_to_wide(data.decode("latin-1"), L.codepage(R.state(c)))]


def _mb_encode_unit(c, u: int) -> int | None:
    from winhatch.win32.msvcrt.format import _wide_to_narrow_char
    if 0xD800 <= u <= 0xDFFF:
        return None
    b = _wide_to_narrow_char(chr(u), L.codepage(R.state(c)))
    return None if b is None or len(b) != 1 else ord(b)


@api(BOTH, "size_t __cdecl mbstowcs(wchar_t *dst, const void *src, size_t n)")
def mbstowcs(c, d, s, n):
    data = _mb_decode(c, c.cstr(s, LIMIT) or b"")
    n = _sz(c, n)
    if not d:
        return len(data)
    out = data[:n]
    W.write(c, d, out, nul=len(out) < n)
    return len(out)


@api(BOTH, "size_t __cdecl wcstombs(char *dst, const void *src, size_t n)")
def wcstombs(c, d, s, n):
    units = [_mb_encode_unit(c, u) for u in W.read(c, s)]
    if any(u is None for u in units):
        R.set_errno(c, R.EILSEQ)
        return _sz(c, -1)
    n = _sz(c, n)
    if not d:
        return len(units)
    out = units[:n]
    A.write(c, d, out, nul=len(out) < n)
    return len(out)


@api(BOTH, "int __cdecl mbtowc(wchar_t *dst, const void *src, size_t n)")
def mbtowc(c, d, s, n):
    if not s:
        return 0
    if not _sz(c, n):
        return _r(-1)
    b = c.read(s, 1)[0]
    if d:
        c.write(d, struct.pack("<H", _mb_decode(c, bytes([b]))[0]))
    return 0 if b == 0 else 1


@api(BOTH, "int __cdecl wctomb(char *dst, wchar_t ch)")
def wctomb(c, d, ch):
    if not d:
        return 0
    b = _mb_encode_unit(c, ch & 0xFFFF)
    if b is None:
        R.set_errno(c, R.EILSEQ)
        return _r(-1)
    c.write(d, bytes([b]))
    return 1


@api(BOTH, "int __cdecl mblen(const void *s, size_t n)")
def mblen(c, s, n):
    if not s:
        return 0
    if not _sz(c, n):
        return _r(-1)
    return 0 if c.read(s, 1)[0] == 0 else 1


@api(BOTH, "wint_t __cdecl btowc(int ch)")
def btowc(c, ch):
    return 0xFFFF if ch & 0x80000000 else _mb_decode(c, bytes([ch & 0xFF]))[0]
