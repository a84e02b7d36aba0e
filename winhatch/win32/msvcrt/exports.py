"""msvcrt.dll: start-up, exit and the exported data of the C runtime that mingw-w64 programs link against.

The rest of the runtime (stdio, strings, stdlib, math, time) is shared with ucrtbase.dll: the crt_*.py modules.
A stream's state is its FILE in guest memory (winhatch.win32.msvcrt.streams): stdin/stdout/stderr are the first
entries of the DLL's `_iob` data export, with `_ptr`/`_cnt`/`_base`/`_flag`/`_file`/`_bufsiz` kept as msvcrt keeps
them and the buffer in the CRT heap.
"""
from __future__ import annotations

from winhatch.win32.api import data_export, data_exports, dll_init
from winhatch.win32.msvcrt.runtime import crt_api as api
from winhatch.win32.msvcrt import runtime as R
from winhatch.win32.msvcrt.cmdline import parse_command_line  # noqa: F401  (re-exported: the CRT's argv rules)

CRT = R.MSVCRT_DLL
IOB_ENTRIES = 20

# msvcrt.dll's exported data, and the same data of the older CRTs msvcrt's handlers serve (runtime.OLD_CRTS)
for _dll in (CRT, *R.OLD_CRTS):
    data_export(_dll, "_iob", IOB_ENTRIES * 48)
    for _n in ("_acmdln", "_wcmdln", "__initenv", "__winitenv", "_environ", "_wenviron", "__argv", "__wargv",
               "_pgmptr", "_wpgmptr", "_pctype", "_pwctype", "_aexit_rtn", "__pioinfo"):
        data_export(_dll, _n, 8)
    for _n in ("_commode", "_fmode", "__mb_cur_max", "__argc", "_osver", "_winver", "_winmajor", "_winminor",
               "_osplatform", "__lc_codepage", "__lc_collate_cp", "_daylight", "_dstbias", "_timezone", "_sys_nerr",
               "__setlc_active", "__unguarded_readlc_active", "__badioinfo"):
        data_export(_dll, _n, 8)
    data_export(_dll, "_ctype", 257 * 2)
    data_export(_dll, "_wctype", 257 * 2)
    data_export(_dll, "_mbctype", 257)
    data_export(_dll, "_HUGE", 8)
    data_export(_dll, "_tzname", 16)
    data_export(_dll, "_sys_errlist", 8 * 44)
    data_export(_dll, "__lc_handle", 4 * 6)
    # x86 only: the flag the start-up code of Visual C++ 6-era programs reads to decide on the Pentium FDIV
    # workaround; 0 (not needed) on every processor since, and its zero-filled data is that value
    data_export(_dll, "_adjust_fdiv", 4)


_SIZES = {n: size for d, n, size, _ in data_exports() if d == CRT}


def data_addr(c, name: str) -> int:
    """The address of a runtime variable msvcrt.dll exports, in the calling runtime: msvcrt.dll's export, an
    older CRT's own export, or, where that CRT does not export the variable, its private copy."""
    from winhatch.ldr import loader
    s = R.state(c)
    dll = s.dll if s.dll in R.OLD_CRTS else CRT
    m = loader.state_of(c.proc).by_name.get(dll)
    e = m.pe.exports.lookup(name).entry if m is not None else None
    if e is not None:
        return m.base + e.rva
    return R.static_buffer(c, s, "data:" + name, _SIZES[name])


def _crt_init(c, base, reason, reserved):
    """The DLL entry point of msvcrt.dll and of each older CRT: fill the runtime's exported data at
    process attach, flush its streams at detach."""
    dll = R._caller_dll(c)
    if reason == 0:      # DLL_PROCESS_DETACH: the runtime flushes its streams
        s = c.proc.subsystem.get("crt:" + (dll if dll in R.OLD_CRTS else R.MSVCRT))
        if s is not None:
            R.flush_all(c, s)
        return 1
    if reason != 1:
        return 1
    s = R.state(c, R.MSVCRT)
    from winhatch.win32.msvcrt import startup
    startup.init_runtime_data(c, s, data_addr)
    return 1


for _dll in (CRT, *R.OLD_CRTS):
    dll_init(_dll)(_crt_init)


# ------------------------------------------------------------------------------------------ start-up
@api(CRT, "int __cdecl __getmainargs(int *argc, char ***argv, char ***env, int doWildCard, void *si)")
def __getmainargs(c, pargc, pargv, penv, wild, si):
    from winhatch.win32.msvcrt import startup
    s = R.state(c)
    startup.configure_argv(c, s, wide=False, wildcard=bool(wild))
    env = startup.environ_ptr(c, s, wide=False)
    c.write_u32(pargc, s.argc)
    c.write_ptr(pargv, s.argv)
    c.write_ptr(penv, env)
    c.write_u32(data_addr(c, "__argc"), s.argc)
    c.write_ptr(data_addr(c, "__argv"), s.argv)
    c.write_ptr(data_addr(c, "__initenv"), env)
    return 0


@api(CRT, "int __cdecl __wgetmainargs(int *argc, wchar_t ***argv, wchar_t ***env, int doWildCard, void *si)")
def __wgetmainargs(c, pargc, pargv, penv, wild, si):
    from winhatch.win32.msvcrt import startup
    s = R.state(c)
    startup.configure_argv(c, s, wide=True, wildcard=bool(wild))
    env = startup.environ_ptr(c, s, wide=True)
    c.write_u32(pargc, s.argc)
    c.write_ptr(pargv, s.wargv)
    c.write_ptr(penv, env)
    c.write_u32(data_addr(c, "__argc"), s.argc)
    c.write_ptr(data_addr(c, "__wargv"), s.wargv)
    c.write_ptr(data_addr(c, "__winitenv"), env)
    return 0


@api(CRT, "void __cdecl __set_app_type(int type)")
def __set_app_type(c, t):
    R.state(c).app_type = t


def _p(name):
    def fn(c):
        return data_addr(c, name)
    return fn


for _n in ("_acmdln", "_commode", "_fmode", "__argc", "__argv", "__initenv", "_pgmptr", "_wcmdln", "__wargv",
           "__winitenv", "_wpgmptr", "_pctype", "_pwctype", "__mb_cur_max", "_daylight", "_dstbias", "_timezone",
           "_tzname", "_mbctype", "_osver", "_winver", "_winmajor", "_winminor"):
    api(CRT, f"void * __cdecl __p_{_n}(void)")(_p(_n))


@api(CRT, "void * __cdecl __p__environ(void)")
def __p__environ(c):
    from winhatch.win32.msvcrt import startup
    s = R.state(c)
    startup.environ_ptr(c, s, wide=False)
    return data_addr(c, "_environ")


@api(CRT, "void * __cdecl __p__wenviron(void)")
def __p__wenviron(c):
    from winhatch.win32.msvcrt import startup
    s = R.state(c)
    startup.environ_ptr(c, s, wide=True)
    return data_addr(c, "_wenviron")


@api(CRT, "void __cdecl __lconv_init(void)")
def __lconv_init(c):
    R.state(c)


@api(CRT, "int __cdecl _XcptFilter(unsigned long code, void *pointers)")
def _XcptFilter(c, code, ptrs):
    # no signal handler is installed for the exception (SIGSEGV/SIGFPE/SIGILL set to SIG_DFL): let the
    # exception continue to the unhandled-exception filter, as msvcrt does
    return 0   # EXCEPTION_CONTINUE_SEARCH


@api(CRT, "void * __cdecl _onexit(void *fn)")
def _onexit(c, fn):
    R.state(c).onexit.append(fn)
    return fn


@api(CRT, "void * __cdecl __dllonexit(void *fn, void **pbegin, void **pend)", calls_guest=False)
def __dllonexit(c, fn, pbegin, pend):
    """A DLL's own onexit table (mingw's DLL CRT start-up): append fn to the table [*pbegin, *pend)."""
    ps = c.ptr_size
    begin = c.ptr(pbegin)
    end = c.ptr(pend)
    n = (end - begin) // ps if begin else 0
    heap = R.heap(c)
    new = heap.alloc((n + 1) * ps) if not begin else heap.realloc(begin, (n + 1) * ps)
    if not new:
        return 0
    c.write_ptr(new + n * ps, fn)
    c.write_ptr(pbegin, new)
    c.write_ptr(pend, new + (n + 1) * ps)
    return fn


@api(CRT, "int __cdecl atexit(void *fn)")
def atexit(c, fn):
    R.state(c).onexit.append(fn)
    return 0


@api(CRT, "void __cdecl _amsg_exit(int rterrnum)", calls_guest=True)
def _amsg_exit(c, n):
    from winhatch.win32.msvcrt import streams as S
    s = R.state(c)
    R.flush_all(c, s)
    S.os_write(c, s, 2, f"\nruntime error R60{n:02d}\n".encode())
    R.crt_exit(c, 255, run_handlers=False)


@api(CRT, "int __cdecl _get_osplatform(unsigned int *p)")
def _get_osplatform(c, p):
    if not p:
        return R.EINVAL
    c.write_u32(p, 2)   # VER_PLATFORM_WIN32_NT
    return 0
