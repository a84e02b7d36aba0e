"""C runtime stdlib shared by msvcrt.dll and ucrtbase.dll: heap, number conversions, qsort/bsearch, rand,
environment, integer helpers, C++ operator new/delete (msvcrt's exports).

The heap: both runtimes allocate from the process heap here (real msvcrt.dll uses its own _crtheap; ucrtbase
uses the process heap)."""
from __future__ import annotations

import functools
import struct

from winhatch.win32.msvcrt.runtime import crt_api as api
from winhatch.win32.msvcrt import numparse as NP
from winhatch.win32.msvcrt import runtime as R
from winhatch.win32.msvcrt import startup

BOTH = R.BOTH
M = R.MSVCRT_DLL
U = R.UCRT_DLL


def _i32(v: int) -> int:
    return v & 0xFFFFFFFF


def _sz(c, v: int) -> int:
    return v & ((1 << (8 * c.ptr_size)) - 1)


def _signed(v: int, bits: int = 32) -> int:
    return NP.to_signed(v & ((1 << bits) - 1), bits)


# ============================================================================================ heap
def _malloc(c, size: int) -> int:
    size = _sz(c, size)
    if size > (0xFFFFFFE0 if c.ptr_size == 4 else 0xFFFFFFFFFFFFFFE0):
        R.set_errno(c, R.ENOMEM)
        return 0
    try:
        p = R.heap(c).alloc(max(size, 1))
    except Exception:
        p = 0
    if not p:
        R.set_errno(c, R.ENOMEM)
    return p


@api(BOTH, "void * __cdecl malloc(size_t size)")
def malloc(c, size):
    return _malloc(c, size)


@api(BOTH, "void * __cdecl calloc(size_t n, size_t size)")
def calloc(c, n, size):
    n, size = _sz(c, n), _sz(c, size)
    total = n * size
    if size and total // size != n or total >= 1 << (8 * c.ptr_size):
        R.set_errno(c, R.ENOMEM)
        return 0
    try:
        p = R.heap(c).alloc(max(total, 1), 0x8)
    except Exception:
        p = 0
    if not p:
        R.set_errno(c, R.ENOMEM)
    return p


@api(BOTH, "void * __cdecl realloc(void *p, size_t size)")
def realloc(c, p, size):
    size = _sz(c, size)
    heap = R.heap(c)
    if not p:
        return _malloc(c, size)
    if size == 0:
        heap.free_block(p)
        return 0
    try:
        q = heap.realloc(p, size)
    except Exception:
        q = 0
    if not q:
        R.set_errno(c, R.ENOMEM)
    return q


@api(BOTH, "void * __cdecl _recalloc(void *p, size_t n, size_t size)")
def _recalloc(c, p, n, size):
    total = _sz(c, n) * _sz(c, size)
    old = R.heap(c).size_of(p) if p else 0
    q = realloc(c, p, total)
    if q and total > (old or 0):
        c.write(q + (old or 0), bytes(total - (old or 0)))
    return q


@api(BOTH, "void __cdecl free(void *p)")
def free(c, p):
    if p:
        R.heap(c).free_block(p)


api(BOTH, "void __cdecl _free_base(void *p)")(free)
api(BOTH, "void * __cdecl _malloc_base(size_t size)")(malloc)
api(BOTH, "void * __cdecl _calloc_base(size_t n, size_t size)")(calloc)
api(BOTH, "void * __cdecl _realloc_base(void *p, size_t size)")(realloc)


@api(BOTH, "size_t __cdecl _msize(void *p)")
def _msize(c, p):
    if not p:
        R.invalid_parameter(c, R.EINVAL)
        return _sz(c, -1)
    n = R.heap(c).size_of(p)
    return _sz(c, -1) if n is None else n


api(BOTH, "size_t __cdecl _msize_base(void *p)")(_msize)


@api(BOTH, "void * __cdecl _expand(void *p, size_t size)")
def _expand(c, p, size):
    n = R.heap(c).size_of(p) if p else None
    if n is not None and _sz(c, size) <= n:
        return p
    R.set_errno(c, R.ENOMEM)
    return 0


@api(BOTH, "void * __cdecl _aligned_malloc(size_t size, size_t alignment)")
def _aligned_malloc(c, size, alignment):
    return _aligned_offset_malloc(c, size, alignment, 0)


@api(BOTH, "void * __cdecl _aligned_offset_malloc(size_t size, size_t alignment, size_t offset)")
def _aligned_offset_malloc(c, size, alignment, offset):
    ps = c.ptr_size
    size, alignment, offset = _sz(c, size), _sz(c, alignment), _sz(c, offset)
    if alignment & (alignment - 1) or (offset and offset >= size):
        R.invalid_parameter(c, R.EINVAL)
        return 0
    alignment = max(alignment, ps)
    raw = _malloc(c, size + alignment + ps)
    if not raw:
        return 0
    user = ((raw + ps + offset + alignment - 1) & ~(alignment - 1)) - offset
    c.write_ptr((user - ps) & ~(ps - 1), raw)
    return user


@api(BOTH, "void __cdecl _aligned_free(void *p)")
def _aligned_free(c, p):
    if p:
        ps = c.ptr_size
        R.heap(c).free_block(c.ptr((p - ps) & ~(ps - 1)))


@api(BOTH, "void * __cdecl _aligned_realloc(void *p, size_t size, size_t alignment)")
def _aligned_realloc(c, p, size, alignment):
    if not p:
        return _aligned_malloc(c, size, alignment)
    if not _sz(c, size):
        _aligned_free(c, p)
        return 0
    ps = c.ptr_size
    raw = c.ptr((p - ps) & ~(ps - 1))
    old = (R.heap(c).size_of(raw) or 0) - (p - raw)
    q = _aligned_malloc(c, size, alignment)
    if q:
        n = min(max(old, 0), _sz(c, size))
        if n:
            c.write(q, c.read(p, n))
        _aligned_free(c, p)
    return q


def new_handlers(c) -> dict:
    """The process's new handlers: "crt", the C runtime's _PNH (int (*)(size_t), _set_new_handler), and "std", the
    C++ library's std::new_handler (void (*)(), msvcp140's std::set_new_handler). On Windows the C++ library
    installs an adapter as the C runtime's handler that calls its own; _callnewh calls either the same way."""
    return c.proc.subsystem.setdefault("new_handlers", {"crt": 0, "std": 0})


@api(U, "void * __cdecl _set_new_handler(void *pnh)")
def _set_new_handler(c, pnh):
    """Returns the previous C runtime new handler."""
    h = new_handlers(c)
    old, h["crt"] = h["crt"], pnh
    return old


@api(U, "void * __cdecl _query_new_handler(void)")
def _query_new_handler(c):
    return new_handlers(c)["crt"]


@api(BOTH, "int __cdecl _callnewh(size_t size)", calls_guest=True)
def _callnewh(c, size):
    """operator new calls this when an allocation fails: 0 when no handler is installed (operator new then
    throws std::bad_alloc), else the handler runs and the allocation is retried (1) — for the C runtime's
    handler only when it returns nonzero."""
    h = new_handlers(c)
    if h["crt"]:
        ret = c.machine.dispatcher.call_guest(c.thread, h["crt"], [size], stdcall=False)
        return 1 if ret & 0xFFFFFFFF else 0
    if h["std"]:
        c.machine.dispatcher.call_guest(c.thread, h["std"], [], stdcall=False)
        return 1
    return 0


@api(BOTH, "int __cdecl _heapchk(void)")
def _heapchk(c):
    return 0xFFFFFFFE   # _HEAPOK


# C++ operator new / delete (msvcrt exports them; MSVC programs link their own)
def _op_new(c, size):
    p = _malloc(c, size)
    if not p:
        R.not_implemented(c, "operator new failing (throwing std::bad_alloc)")
    return p


def _declare_mangled(dlls, mangled: str, proto: str, fn) -> None:
    """A C++-mangled export: the prototype names it `operator_fn`, the registered name is the mangled one."""
    from winhatch.win32 import api as api_mod
    api(dlls, proto)(fn)
    api_mod._REGISTRY[-1].name = mangled


for _name in ("??2@YAPAXI@Z", "??_U@YAPAXI@Z", "??2@YAPEAX_K@Z", "??_U@YAPEAX_K@Z"):
    _declare_mangled(M, _name, "void * __cdecl operator_new(size_t size)", _op_new)
for _name in ("??3@YAXPAX@Z", "??_V@YAXPAX@Z", "??3@YAXPEAX@Z", "??_V@YAXPEAX@Z"):
    _declare_mangled(M, _name, "void __cdecl operator_delete(void *p)", free)


# ============================================================================================ conversions
def _narrow(c, p: int) -> str:
    return (c.cstr(p, 1 << 20) or b"").decode("latin-1")


def _wide(c, p: int) -> str:
    return c.wstr(p, 1 << 20) or ""


def _strto_int(c, p: int, endp: int, base: int, bits: int, signed: bool, wide: bool) -> int:
    s = R.state(c)
    if not p:
        R.invalid_parameter(c, R.EINVAL, s)
        return 0
    text = _wide(c, p) if wide else _narrow(c, p)
    v, used, err = NP.strtoint(text, _signed(base), bits, signed)
    if err == NP.EINVAL:
        R.invalid_parameter(c, R.EINVAL, s)
    elif err:
        R.set_errno(c, err, s)
    if endp:
        c.write_ptr(endp, p + used * (2 if wide else 1))
    return v


def _ptr_arg(c, index: int) -> int:
    cpu = c.cpu
    if cpu.is64:
        return cpu.reg(("rcx", "rdx", "r8", "r9")[index])
    return cpu.read_u32(cpu.sp + 4 + 4 * index)


@api(BOTH, "long __cdecl strtol(const void *s, char **end, int base)")
def strtol(c, p, end, base):
    return _strto_int(c, p, end, base, 32, True, False)


@api(BOTH, "unsigned long __cdecl strtoul(const void *s, char **end, int base)")
def strtoul(c, p, end, base):
    return _strto_int(c, p, end, base, 32, False, False)


@api(BOTH, "__int64 __cdecl _strtoi64(const void *s, char **end, int base)")
def _strtoi64(c, p, end, base):
    return _strto_int(c, p, end, base, 64, True, False)


@api(BOTH, "unsigned __int64 __cdecl _strtoui64(const void *s, char **end, int base)")
def _strtoui64(c, p, end, base):
    return _strto_int(c, p, end, base, 64, False, False)


api(U, "long long __cdecl strtoll(const void *s, char **end, int base)")(_strtoi64)
api(U, "unsigned long long __cdecl strtoull(const void *s, char **end, int base)")(_strtoui64)


@api(BOTH, "long __cdecl wcstol(const void *s, wchar_t **end, int base)")
def wcstol(c, p, end, base):
    return _strto_int(c, p, end, base, 32, True, True)


@api(BOTH, "unsigned long __cdecl wcstoul(const void *s, wchar_t **end, int base)")
def wcstoul(c, p, end, base):
    return _strto_int(c, p, end, base, 32, False, True)


@api(BOTH, "__int64 __cdecl _wcstoi64(const void *s, wchar_t **end, int base)")
def _wcstoi64(c, p, end, base):
    return _strto_int(c, p, end, base, 64, True, True)


@api(BOTH, "unsigned __int64 __cdecl _wcstoui64(const void *s, wchar_t **end, int base)")
def _wcstoui64(c, p, end, base):
    return _strto_int(c, p, end, base, 64, False, True)


api(U, "long long __cdecl wcstoll(const void *s, wchar_t **end, int base)")(_wcstoi64)
api(U, "unsigned long long __cdecl wcstoull(const void *s, wchar_t **end, int base)")(_wcstoui64)


def _ato(c, p: int, bits: int, wide: bool) -> int:
    s = R.state(c)
    if not p:
        R.invalid_parameter(c, R.EINVAL, s)
        return 0
    text = _wide(c, p) if wide else _narrow(c, p)
    v, _used, err = NP.strtoint(text, 10, 64, True)
    v = NP.to_signed(v, 64)
    if bits == 32:
        if v > 0x7FFFFFFF:
            v, err = 0x7FFFFFFF, NP.ERANGE
        elif v < -0x80000000:
            v, err = -0x80000000, NP.ERANGE
    if err:
        R.set_errno(c, err, s)
    return v & ((1 << bits) - 1)


@api(BOTH, "int __cdecl atoi(const void *s)")
def atoi(c, p):
    return _ato(c, p, 32, False)


api(BOTH, "long __cdecl atol(const void *s)")(atoi)


@api(BOTH, "__int64 __cdecl _atoi64(const void *s)")
def _atoi64(c, p):
    return _ato(c, p, 64, False)


api(U, "long long __cdecl atoll(const void *s)")(_atoi64)


@api(BOTH, "int __cdecl _wtoi(const void *s)")
def _wtoi(c, p):
    return _ato(c, p, 32, True)


api(BOTH, "long __cdecl _wtol(const void *s)")(_wtoi)


@api(BOTH, "__int64 __cdecl _wtoi64(const void *s)")
def _wtoi64(c, p):
    return _ato(c, p, 64, True)


def _strtod(c, p: int, endp: int, wide: bool) -> float:
    s = R.state(c)
    if not p:
        R.invalid_parameter(c, R.EINVAL, s)
        return 0.0
    text = _wide(c, p) if wide else _narrow(c, p)
    v, used, err = NP.strtod(text, s.flavor == R.UCRT)
    if err:
        R.set_errno(c, err, s)
    if endp:
        c.write_ptr(endp, p + used * (2 if wide else 1))
    return v


@api(BOTH, "double __cdecl strtod(const void *s, char **end)")
def strtod(c, p, end):
    return _strtod(c, p, end, False)


@api(BOTH, "double __cdecl wcstod(const void *s, wchar_t **end)")
def wcstod(c, p, end):
    return _strtod(c, p, end, True)


@api(BOTH, "double __cdecl atof(const void *s)")
def atof(c, p):
    return _strtod(c, p, 0, False)


@api(BOTH, "double __cdecl _wtof(const void *s)")
def _wtof(c, p):
    return _strtod(c, p, 0, True)


@api(U, "float __cdecl strtof(const void *s, char **end)")
def strtof(c, p, end):
    v = _strtod(c, p, end, False)
    try:
        f = struct.unpack("<f", struct.pack("<f", v))[0]
    except OverflowError:
        R.set_errno(c, R.ERANGE)
        f = float("inf") if v > 0 else float("-inf")
    return _float_ret(c, f)


def _float_ret(c, f: float):
    """A float result: x64 in xmm0 as a single; x86 in st(0) (any precision). Returned via the mechanism as a
    double on x86; on x64 the low 32 bits of xmm0 must hold the single."""
    if c.cpu.is64:
        c.cpu.set_reg("xmm0", struct.unpack("<I", struct.pack("<f", f))[0])
        return None
    return f


def _itoa_common(c, value: int, buf: int, radix: int, bits: int, signed: bool, wide: bool) -> int:
    s = R.state(c)
    text = NP.itoa(value, _signed(radix), bits, signed)
    if text is None or not buf:
        R.invalid_parameter(c, R.EINVAL, s)
        if buf:
            c.write(buf, b"\0\0" if wide else b"\0")
        return buf
    c.write(buf, text.encode("utf-16-le") + b"\0\0" if wide else text.encode() + b"\0")
    return buf


@api(BOTH, "char * __cdecl _itoa(int value, char *buf, int radix)")
def _itoa(c, v, buf, radix):
    return _itoa_common(c, v, buf, radix, 32, True, False)


api(BOTH, "char * __cdecl _ltoa(long value, char *buf, int radix)")(_itoa)


@api(BOTH, "char * __cdecl _ultoa(unsigned long value, char *buf, int radix)")
def _ultoa(c, v, buf, radix):
    return _itoa_common(c, v, buf, radix, 32, False, False)


@api(BOTH, "char * __cdecl _i64toa(__int64 value, char *buf, int radix)")
def _i64toa(c, v, buf, radix):
    return _itoa_common(c, v, buf, radix, 64, True, False)


@api(BOTH, "char * __cdecl _ui64toa(unsigned __int64 value, char *buf, int radix)")
def _ui64toa(c, v, buf, radix):
    return _itoa_common(c, v, buf, radix, 64, False, False)


@api(BOTH, "wchar_t * __cdecl _itow(int value, wchar_t *buf, int radix)")
def _itow(c, v, buf, radix):
    return _itoa_common(c, v, buf, radix, 32, True, True)


api(BOTH, "wchar_t * __cdecl _ltow(long value, wchar_t *buf, int radix)")(_itow)


@api(BOTH, "wchar_t * __cdecl _ultow(unsigned long value, wchar_t *buf, int radix)")
def _ultow(c, v, buf, radix):
    return _itoa_common(c, v, buf, radix, 32, False, True)


@api(BOTH, "wchar_t * __cdecl _i64tow(__int64 value, wchar_t *buf, int radix)")
def _i64tow(c, v, buf, radix):
    return _itoa_common(c, v, buf, radix, 64, True, True)


@api(BOTH, "wchar_t * __cdecl _ui64tow(unsigned __int64 value, wchar_t *buf, int radix)")
def _ui64tow(c, v, buf, radix):
    return _itoa_common(c, v, buf, radix, 64, False, True)


def _itoa_s_common(c, value, buf, size, radix, bits, signed, wide) -> int:
    s = R.state(c)
    size = _sz(c, size)
    text = NP.itoa(value, _signed(radix), bits, signed)
    if not buf or size == 0 or text is None:
        if buf and size:
            c.write(buf, b"\0\0" if wide else b"\0")
        R.invalid_parameter(c, R.EINVAL, s)
        return R.EINVAL
    if len(text) + 1 > size:
        c.write(buf, b"\0\0" if wide else b"\0")
        R.invalid_parameter(c, R.ERANGE, s)
        return R.ERANGE
    c.write(buf, text.encode("utf-16-le") + b"\0\0" if wide else text.encode() + b"\0")
    return 0


@api(BOTH, "int __cdecl _itoa_s(int value, char *buf, size_t size, int radix)")
def _itoa_s(c, v, buf, size, radix):
    return _itoa_s_common(c, v, buf, size, radix, 32, True, False)


api(BOTH, "int __cdecl _ltoa_s(long value, char *buf, size_t size, int radix)")(_itoa_s)


@api(BOTH, "int __cdecl _ultoa_s(unsigned long value, char *buf, size_t size, int radix)")
def _ultoa_s(c, v, buf, size, radix):
    return _itoa_s_common(c, v, buf, size, radix, 32, False, False)


@api(BOTH, "int __cdecl _i64toa_s(__int64 value, char *buf, size_t size, int radix)")
def _i64toa_s(c, v, buf, size, radix):
    return _itoa_s_common(c, v, buf, size, radix, 64, True, False)


@api(BOTH, "int __cdecl _itow_s(int value, wchar_t *buf, size_t size, int radix)")
def _itow_s(c, v, buf, size, radix):
    return _itoa_s_common(c, v, buf, size, radix, 32, True, True)


# ============================================================================================ integer helpers
@api(BOTH, "int __cdecl abs(int v)")
def abs_(c, v):
    return abs(_signed(v)) & 0xFFFFFFFF


api(BOTH, "long __cdecl labs(long v)")(abs_)


@api(BOTH, "__int64 __cdecl _abs64(__int64 v)")
def _abs64(c, v):
    return abs(_signed(v, 64)) & ((1 << 64) - 1)


api(U, "long long __cdecl llabs(long long v)")(_abs64)
api(U, "long long __cdecl imaxabs(long long v)")(_abs64)   # intmax_t is 64 bits on both architectures


@api(BOTH, "__int64 __cdecl div(int a, int b)")
def div(c, a, b):
    """div_t {quot, rem} is 8 bytes: returned in edx:eax (x86) / rax (x64)."""
    a, b = _signed(a), _signed(b)
    if b == 0:
        R.not_implemented(c, "div by zero (integer divide-by-zero exception from the CRT)")
    q = abs(a) // abs(b) * (1 if (a < 0) == (b < 0) else -1)
    r = a - q * b
    return (q & 0xFFFFFFFF) | ((r & 0xFFFFFFFF) << 32)


api(BOTH, "__int64 __cdecl ldiv(long a, long b)")(div)


@api(BOTH, "unsigned int __cdecl _rotl(unsigned int v, int n)")
def _rotl(c, v, n):
    n &= 31
    return ((v << n) | (v >> (32 - n))) & 0xFFFFFFFF


@api(BOTH, "unsigned int __cdecl _rotr(unsigned int v, int n)")
def _rotr(c, v, n):
    n &= 31
    return ((v >> n) | (v << (32 - n))) & 0xFFFFFFFF


@api(BOTH, "unsigned short __cdecl _byteswap_ushort(unsigned short v)")
def _byteswap_ushort(c, v):
    return int.from_bytes((v & 0xFFFF).to_bytes(2, "little"), "big")


@api(BOTH, "unsigned long __cdecl _byteswap_ulong(unsigned long v)")
def _byteswap_ulong(c, v):
    return int.from_bytes((v & 0xFFFFFFFF).to_bytes(4, "little"), "big")


@api(BOTH, "unsigned __int64 __cdecl _byteswap_uint64(unsigned __int64 v)")
def _byteswap_uint64(c, v):
    return int.from_bytes((v & ((1 << 64) - 1)).to_bytes(8, "little"), "big")


# ============================================================================================ rand
@api(BOTH, "void __cdecl srand(unsigned int seed)")
def srand(c, seed):
    R.state(c).thread(c.thread.tid)["seed"] = seed & 0xFFFFFFFF


@api(BOTH, "int __cdecl rand(void)")
def rand(c):
    t = R.state(c).thread(c.thread.tid)
    t["seed"] = (t["seed"] * 214013 + 2531011) & 0xFFFFFFFF
    return (t["seed"] >> 16) & 0x7FFF


@api(BOTH, "int __cdecl rand_s(unsigned int *randomValue)")
def rand_s(c, out):
    """A value from the system's random number generator (RtlGenRandom, the same stream as ProcessPrng and
    CryptGenRandom), not from rand's seed. NULL: the invalid-parameter path, EINVAL."""
    if not out:
        R.invalid_parameter(c, R.EINVAL)
        return R.EINVAL
    from winhatch.win32.kernel32.sysinfo import _prng_bytes
    c.write(out, _prng_bytes(c, 4))
    return 0


# ============================================================================================ qsort / bsearch
@api(BOTH, "void __cdecl qsort(void *base, size_t num, size_t width, void *compare)", calls_guest=True)
def qsort(c, base, num, width, compare):
    num, width = _sz(c, num), _sz(c, width)
    if not base and num or not width or not compare:
        if num > 1 or not compare:
            R.invalid_parameter(c, R.EINVAL)
        return
    if num < 2:
        return
    _sort(c, base, num, width, lambda a, b: c.machine.dispatcher.call_guest(c.thread, compare, [a, b],
                                                                          stdcall=False))


@api(BOTH, "void __cdecl qsort_s(void *base, size_t num, size_t width, void *compare, void *context)",
     calls_guest=True)
def qsort_s(c, base, num, width, compare, ctx):
    num, width = _sz(c, num), _sz(c, width)
    if num < 2 or not width:
        return
    _sort(c, base, num, width, lambda a, b: c.machine.dispatcher.call_guest(c.thread, compare, [ctx, a, b],
                                                                          stdcall=False))


def _sort(c, base: int, num: int, width: int, call) -> None:
    """Sort the elements in place, comparing them where they lie (the comparator sees the array's addresses);
    elements are moved only once the order is known. Two scratch slots hold elements being compared."""
    data = c.read(base, num * width)
    elems = [data[i * width:(i + 1) * width] for i in range(num)]
    scratch = R.alloc(c, 2 * width)
    try:
        def cmp(i, j):
            c.write(scratch, elems[i])
            c.write(scratch + width, elems[j])
            r = call(scratch, scratch + width) & 0xFFFFFFFF
            return NP.to_signed(r, 32)
        order = sorted(range(num), key=functools.cmp_to_key(cmp))
    finally:
        R.heap(c).free_block(scratch)
    c.write(base, b"".join(elems[i] for i in order))


@api(BOTH, "void * __cdecl bsearch(const void *key, const void *base, size_t num, size_t width, void *compare)",
     calls_guest=True)
def bsearch(c, key, base, num, width, compare):
    num, width = _sz(c, num), _sz(c, width)
    lo, hi = 0, num - 1
    while lo <= hi:
        mid = (lo + hi) // 2
        r = NP.to_signed(c.machine.dispatcher.call_guest(c.thread, compare, [key, base + mid * width],
                                                         stdcall=False) & 0xFFFFFFFF, 32)
        if r == 0:
            return base + mid * width
        if r < 0:
            hi = mid - 1
        else:
            lo = mid + 1
    return 0


@api(BOTH, "void * __cdecl _lfind(const void *key, const void *base, unsigned int *num, size_t width, "
           "void *compare)", calls_guest=True)
def _lfind(c, key, base, pnum, width, compare):
    n = c.u32(pnum)
    for i in range(n):
        e = base + i * _sz(c, width)
        if not c.machine.dispatcher.call_guest(c.thread, compare, [key, e], stdcall=False) & 0xFFFFFFFF:
            return e
    return 0


# ============================================================================================ environment
def _find_env(items: list[str], name: str) -> int:
    key = name.upper()
    for i, e in enumerate(items):
        k, sep, _ = e.partition("=")
        if sep and k.upper() == key:
            return i
    return -1


def _getenv(c, name: str | None, wide: bool) -> int:
    s = R.state(c)
    if name is None:
        R.invalid_parameter(c, R.EINVAL, s)
        return 0
    arr = startup.environ_ptr(c, s, wide)
    items = startup.crt_environ(c, s)
    i = _find_env(items, name)
    if i < 0 or not name:
        return 0
    entry = c.ptr(arr + i * c.ptr_size)
    k = items[i].partition("=")[0]
    return entry + (len(k) + 1) * (2 if wide else 1)


@api(BOTH, "char * __cdecl getenv(const char *name)")
def getenv(c, name):
    return _getenv(c, name, False)


@api(BOTH, "wchar_t * __cdecl _wgetenv(const wchar_t *name)")
def _wgetenv(c, name):
    return _getenv(c, name, True)


@api(BOTH, "int __cdecl getenv_s(size_t *required, char *buf, size_t size, const char *name)")
def getenv_s(c, req, buf, size, name):
    s = R.state(c)
    size = _sz(c, size)
    if not req or name is None or (not buf and size):
        R.invalid_parameter(c, R.EINVAL, s)
        return R.EINVAL
    items = startup.crt_environ(c, s)
    i = _find_env(items, name)
    if i < 0:
        c.write_ptr(req, 0)
        if buf and size:
            c.write(buf, b"\0")
        return 0
    val = items[i].partition("=")[2].encode("cp1252", "replace")
    c.write_ptr(req, len(val) + 1)
    if not buf:
        return 0
    if len(val) + 1 > size:
        R.invalid_parameter(c, R.ERANGE, s)
        return R.ERANGE
    c.write(buf, val + b"\0")
    return 0


@api(U, "int __cdecl _dupenv_s(char **pbuf, size_t *plen, const char *name)")
def _dupenv_s(c, pbuf, plen, name):
    s = R.state(c)
    if not pbuf or name is None:
        R.invalid_parameter(c, R.EINVAL, s)
        return R.EINVAL
    items = startup.crt_environ(c, s)
    i = _find_env(items, name)
    c.write_ptr(pbuf, 0)
    if plen:
        c.write_ptr(plen, 0)
    if i < 0:
        return 0
    val = items[i].partition("=")[2].encode("cp1252", "replace")
    c.write_ptr(pbuf, R.new_cstr(c, val))
    if plen:
        c.write_ptr(plen, len(val) + 1)
    return 0


def _putenv(c, name: str, value: str) -> int:
    s = R.state(c)
    if not name or "=" in name:
        R.invalid_parameter(c, R.EINVAL, s)
        return -1
    items = startup.crt_environ(c, s)
    i = _find_env(items, name)
    if value:
        if i >= 0:
            items[i] = f"{name}={value}"
        else:
            items.append(f"{name}={value}")
    elif i >= 0:
        del items[i]
    startup.rebuild_environ(c, s)
    # the runtime also sets the process environment (SetEnvironmentVariable)
    env = c.proc.subsystem.setdefault("environment", {})
    for k in [k for k in env if k.upper() == name.upper()]:
        del env[k]
    if value:
        env[name] = value
    return 0


@api(BOTH, "int __cdecl _putenv(const char *option)")
def _putenv_(c, option):
    s = R.state(c)
    if option is None or "=" not in option:
        R.invalid_parameter(c, R.EINVAL, s)
        return 0xFFFFFFFF
    name, _, value = option.partition("=")
    return _i32(_putenv(c, name, value))


api(BOTH, "int __cdecl _wputenv(const wchar_t *option)")(_putenv_)


@api(BOTH, "int __cdecl _putenv_s(const char *name, const char *value)")
def _putenv_s(c, name, value):
    if name is None or value is None:
        R.invalid_parameter(c, R.EINVAL)
        return R.EINVAL
    return 0 if _putenv(c, name, value) == 0 else R.EINVAL


api(BOTH, "int __cdecl _wputenv_s(const wchar_t *name, const wchar_t *value)")(_putenv_s)


@api(BOTH, "int __cdecl system(const char *command)")
def system(c, command):
    if command is None:
        return 0     # no command processor in the sandbox
    R.not_implemented(c, "system() (running a command processor)")
