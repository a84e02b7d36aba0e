"""C runtime odds and ends shared by msvcrt.dll and ucrtbase.dll: _assert/_wassert, _filelengthi64,
strxfrm/wcsxfrm in the "C" collation, and msvcrt.dll's C++ support exports that ucrt programs find in
vcruntime140 (the mangled terminate/set_terminate, _purecall, type_info's destructor)."""
from __future__ import annotations

from winhatch.win32 import api as api_mod
from winhatch.win32.api import api as plain_api
from winhatch.win32.msvcrt import locale as L
from winhatch.win32.msvcrt import runtime as R
from winhatch.win32.msvcrt.runtime import crt_api as api

BOTH = R.BOTH
M = R.MSVCRT_DLL
EOF32 = 0xFFFFFFFF


# ------------------------------------------------------------------------------------------ _assert
@api(BOTH, "void __cdecl _assert(const void *expr, const void *file, unsigned int line)", calls_guest=True)
def _assert(c, expr, file, line):
    """A failed assert() of a console program: "Assertion failed: EXPR, file FILE, line N" on stderr (the
    streams flushed first), then abort()."""
    from winhatch.win32.msvcrt import streams as S
    from winhatch.win32.msvcrt.process import abort
    s = R.state(c)
    if c.name == "_wassert":
        e, f = c.wstr(expr) if expr else "", c.wstr(file) if file else ""
    else:
        e = (c.cstr(expr, 1 << 16) or b"").decode("cp1252", "replace") if expr else ""
        f = (c.cstr(file, 1 << 16) or b"").decode("cp1252", "replace") if file else ""
    R.flush_all(c, s)
    S.os_write(c, s, 2, f"Assertion failed: {e}, file {f}, line {line}\n".encode("cp1252", "replace"))
    abort(c)


api(BOTH, "void __cdecl _wassert(const void *expr, const void *file, unsigned int line)", calls_guest=True)(_assert)


# ------------------------------------------------------------------------------------------ _filelengthi64
@api(BOTH, "__int64 __cdecl _filelengthi64(int fd)")
def _filelengthi64(c, fd):
    from winhatch.win32.msvcrt import streams as S
    s = R.state(c)
    f = S.get_fd(c, s, fd)
    if f is None:
        return (1 << 64) - 1
    try:
        return f.obj.size
    except Exception:  # noqa: BLE001 - a descriptor of a device or pipe
        R.set_errno(c, R.EBADF, s)
        return (1 << 64) - 1


# ------------------------------------------------------------------------------------------ strxfrm
@api(BOTH, "size_t __cdecl strxfrm(void *dst, const void *src, size_t n)", wide="wcsxfrm")
def strxfrm(c, dst, src, n):
    """In the "C" collation the transformed string is the string itself: copied when n holds it and its NUL,
    and its length returned either way. Another LC_COLLATE locale (sort keys) is not implemented."""
    s = R.state(c)
    if not src or (dst == 0 and n):
        R.invalid_parameter(c, R.EINVAL, s)
        return (1 << (8 * c.ptr_size)) - 1
    if L.state_of(s)[L.LC_COLLATE] != L.C:
        R.not_implemented(c, f"{c.name} in the {L.state_of(s)[L.LC_COLLATE]} collation")
    unit = 2 if c.wide else 1
    raw = (c.wstr(src, 1 << 24) or "").encode("utf-16-le") if c.wide else (c.cstr(src, 1 << 24) or b"")
    length = len(raw) // unit
    n &= (1 << (8 * c.ptr_size)) - 1
    if length < n:
        c.write(dst, raw + bytes(unit))
    return length


# ------------------------------------------------------------------------------------------ msvcrt's C++ support
def _declare(name: str, proto: str, fn, calls_guest: bool = False) -> None:
    plain_api(M, proto, calls_guest=calls_guest)(fn)
    api_mod._REGISTRY[-1].name = name


def _terminate(c):
    from winhatch.win32.msvcrt.ucrtbase import terminate
    terminate(c)


def _set_terminate(c, fn):
    from winhatch.win32.msvcrt.ucrtbase import set_terminate
    return set_terminate(c, fn)


def _type_info_dtor(c, this):
    """type_info::~type_info (msvcrt's type_info: vfptr, the cached undecorated name, the decorated name):
    free the cached name."""
    p = c.ptr(this + c.ptr_size)
    if p:
        R.heap(c).free_block(p)
        c.write_ptr(this + c.ptr_size, 0)


_declare("?terminate@@YAXXZ", "void __cdecl terminate(void)", _terminate, calls_guest=True)
_declare("?set_terminate@@YAP6AXXZP6AXXZ@Z", "void * __cdecl set_terminate(void *fn)", _set_terminate)
_declare("??1type_info@@UEAA@XZ", "void __thiscall type_info_dtor(void *this_)", _type_info_dtor)
_declare("??1type_info@@UAE@XZ", "void __thiscall type_info_dtor(void *this_)", _type_info_dtor)


def _purecall(c):
    from winhatch.win32.vcruntime.runtime import _purecall as purecall
    purecall(c)


plain_api(M, "int __cdecl _purecall(void)", calls_guest=True)(_purecall)


# ------------------------------------------------------------------------------------------ FILE buffer pointers
@api(R.UCRT_DLL, "int __cdecl _get_stream_buffer_pointers(FILE *f, void *base, void *ptr, void *count)")
def _get_stream_buffer_pointers(c, f, base, ptr, count):
    """The addresses of the FILE's buffer fields, which basic_filebuf takes as its get and put areas and then
    uses inline: the stream's buffer is in the FILE as msvcrt lays it out (winhatch.win32.msvcrt.streams:
    _ptr at 0, _cnt at one pointer, _base at two pointers — ucrtbase's FILE has the same shape here)."""
    s = R.state(c)
    if not f:
        R.invalid_parameter(c, R.EINVAL, s)
        return R.EINVAL
    P = c.ptr_size
    if base:
        c.write_ptr(base, f + 2 * P)
    if ptr:
        c.write_ptr(ptr, f)
    if count:
        c.write_ptr(count, f + P)
    return 0
