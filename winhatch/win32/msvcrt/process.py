"""C runtime process functions shared by msvcrt.dll and ucrtbase.dll: initialisers, exit, abort, errno,
signal, floating-point control, locale basics."""
from __future__ import annotations

from winhatch.kernel.ke.traps import DEFER_SPECULATIVE
from winhatch.win32.msvcrt.runtime import crt_api as api
from winhatch.win32.msvcrt import runtime as R
from winhatch.win32.msvcrt import streams as S
from winhatch.win32.msvcrt import locale as L

BOTH = R.BOTH


@api(BOTH, "void __cdecl _initterm(void *begin, void *end)", calls_guest=True)
def _initterm(c, begin, end):
    ps = c.ptr_size
    for a in range(begin, end, ps):
        fn = c.ptr(a)
        if fn:
            c.machine.dispatcher.call_guest(c.thread, fn, [], stdcall=False)


@api(BOTH, "int __cdecl _initterm_e(void *begin, void *end)", calls_guest=True)
def _initterm_e(c, begin, end):
    ps = c.ptr_size
    for a in range(begin, end, ps):
        fn = c.ptr(a)
        if fn:
            r = c.machine.dispatcher.call_guest(c.thread, fn, [], stdcall=False) & 0xFFFFFFFF
            if r:
                return r
    return 0


@api(BOTH, "void __cdecl exit(int status)", calls_guest=True)
def exit(c, status):
    R.crt_exit(c, status)


@api(BOTH, "void __cdecl _exit(int status)", calls_guest=True)
def _exit(c, status):
    # no atexit handlers, no flushing of stream buffers (the documented difference from exit)
    from winhatch.ldr import ntdll
    ntdll.RtlExitUserProcess(c.machine, c.thread, status & 0xFFFFFFFF)


api(BOTH, "void __cdecl _Exit(int status)", calls_guest=True)(_exit)


@api(BOTH, "void __cdecl _cexit(void)", calls_guest=True)
def _cexit(c):
    s = R.state(c)
    if not s.exiting:
        s.exiting = True
        R.run_onexit(c, s)
    R.flush_all(c, s)


@api(BOTH, "void __cdecl _c_exit(void)")
def _c_exit(c):
    pass   # terminates the runtime without running atexit handlers or flushing


ABORT_MESSAGE = (b"\nThis application has requested the Runtime to terminate it in an unusual way.\n"
                 b"Please contact the application's support team for more information.\n")


#: _set_abort_behavior's flags; both are set by default (the message, and in release builds the fault report)
WRITE_ABORT_MSG = 0x1
CALL_REPORTFAULT = 0x2
DEFAULT_ABORT_BEHAVIOR = WRITE_ABORT_MSG | CALL_REPORTFAULT
FAST_FAIL_FATAL_APP_EXIT = 7


@api(BOTH, "void __cdecl abort(void)", calls_guest=True)
def abort(c):
    """msvcrt (Windows' own): SIGABRT's handler, the message on stderr, exit code 3.
    ucrtbase (a release build): SIGABRT's handler if one is set (raise(SIGABRT)); then, with _CALL_REPORTFAULT
    (the default), __fastfail(FAST_FAIL_FATAL_APP_EXIT): the process ends at once with
    STATUS_STACK_BUFFER_OVERRUN (0xC0000409), no exception handler, no message (it is written only by debug
    builds), no stream flushed; without it, _exit(3)."""
    s = R.state(c)
    tab = c.proc.subsystem.setdefault("crt_signals", {})
    handler = tab.get(22, 0)   # SIGABRT
    if handler not in (0, 1):
        tab[22] = 0            # as raise() does: the handler is reset to SIG_DFL before it runs
        c.machine.dispatcher.call_guest(c.thread, handler, [22], stdcall=False)
    from winhatch.ldr import ntdll
    if s.flavor == R.MSVCRT:
        S.os_write(c, s, 2, ABORT_MESSAGE)
        ntdll.RtlExitUserProcess(c.machine, c.thread, 3)
        return
    if getattr(s, "abort_behavior", DEFAULT_ABORT_BEHAVIOR) & CALL_REPORTFAULT:
        from winhatch.kernel.ke.dispatcher import ProcessExit
        from winhatch.ntstatus import STATUS_STACK_BUFFER_OVERRUN
        c.proc.stop_message = f"abort(): __fastfail({FAST_FAIL_FATAL_APP_EXIT}) (FAST_FAIL_FATAL_APP_EXIT)"
        raise ProcessExit(STATUS_STACK_BUFFER_OVERRUN)
    ntdll.RtlExitUserProcess(c.machine, c.thread, 3)


@api(BOTH, "void * __cdecl signal(int sig, void *handler)")
def signal(c, sig, handler):
    s = R.state(c)
    if sig not in (2, 4, 8, 11, 15, 21, 22, 6):
        R.invalid_parameter(c, R.EINVAL, s)
        return (1 << (8 * c.ptr_size)) - 1    # SIG_ERR
    tab = c.proc.subsystem.setdefault("crt_signals", {})
    old = tab.get(sig, 0)
    tab[sig] = handler
    return old


@api(BOTH, "int __cdecl raise(int sig)", calls_guest=True)
def raise_(c, sig):
    tab = c.proc.subsystem.setdefault("crt_signals", {})
    h = tab.get(sig, 0)
    if h == 1:        # SIG_IGN
        return 0
    if h:
        tab[sig] = 0
        c.machine.dispatcher.call_guest(c.thread, h, [sig], stdcall=False)
        return 0
    if sig in (2, 21, 22):    # SIGINT, SIGBREAK, SIGABRT default: _exit(3)
        R.flush_all(c)
        from winhatch.ldr import ntdll
        ntdll.RtlExitUserProcess(c.machine, c.thread, 3)
    R.not_implemented(c, f"raise({sig}) with the default action")


@api(BOTH, "int * __cdecl _errno(void)")
def _errno(c):
    return R.errno_address(c)


@api(BOTH, "unsigned long * __cdecl __doserrno(void)")
def __doserrno(c):
    return R.errno_address(c) + 4


@api(BOTH, "int __cdecl _get_errno(int *p)")
def _get_errno(c, p):
    if not p:   # documented: the invalid-parameter handler, then errno = EINVAL and EINVAL returned
        R.invalid_parameter(c, R.EINVAL)
        return R.EINVAL
    c.write_u32(p, R.get_errno(c))
    return 0


@api(BOTH, "int __cdecl _set_errno(int v)")
def _set_errno(c, v):
    R.set_errno(c, v)
    return 0


@api(BOTH, "void __cdecl __setusermatherr(void *fn)")
def __setusermatherr(c, fn):
    R.state(c).user_matherr = fn


@api(BOTH, "unsigned int __cdecl _controlfp(unsigned int new, unsigned int mask)")
def _controlfp(c, new, mask):
    s = R.state(c)
    mask &= ~0x00080000   # _EM_DENORMAL is not changeable through _controlfp
    s.fpcw = (s.fpcw & ~mask) | (new & mask)
    return s.fpcw


@api(BOTH, "unsigned int __cdecl _control87(unsigned int new, unsigned int mask)")
def _control87(c, new, mask):
    s = R.state(c)
    s.fpcw = (s.fpcw & ~mask) | (new & mask)
    return s.fpcw


@api(BOTH, "int __cdecl _controlfp_s(unsigned int *cur, unsigned int new, unsigned int mask)")
def _controlfp_s(c, cur, new, mask):
    s = R.state(c)
    if mask & ~0x8B371F:      # bits outside _MCW_EM|_MCW_RC|_MCW_PC|_MCW_DN|_MCW_IC
        R.invalid_parameter(c, R.EINVAL, s)
        if cur:
            c.write_u32(cur, s.fpcw)
        return R.EINVAL
    v = _controlfp(c, new, mask)
    if cur:
        c.write_u32(cur, v)
    return 0


@api(BOTH, "unsigned int __cdecl _clearfp(void)")
def _clearfp(c):
    return 0


@api(BOTH, "unsigned int __cdecl _statusfp(void)")
def _statusfp(c):
    return 0


@api(BOTH, "void __cdecl _fpreset(void)")
def _fpreset(c):
    R.state(c).fpcw = 0x9001F


@api(BOTH, "int * __cdecl __fpecode(void)")
def __fpecode(c):
    s = R.state(c)
    return R.static_buffer(c, s, "fpecode", 4)


@api(BOTH, "void __cdecl _lock(int locknum)")
def _lock(c, n):
    pass    # one emulated thread runs at a time; the CRT locks cannot be contended


@api(BOTH, "void __cdecl _unlock(int locknum)")
def _unlock(c, n):
    pass


@api(BOTH, "void __cdecl _lock_file(FILE *f)")
def _lock_file(c, f):
    pass


@api(BOTH, "void __cdecl _unlock_file(FILE *f)")
def _unlock_file(c, f):
    pass


@api(BOTH, "int __cdecl ___lc_codepage_func(void)")
def ___lc_codepage_func(c):
    return L.codepage_number(R.state(c))


@api(BOTH, "int __cdecl ___mb_cur_max_func(void)")
def ___mb_cur_max_func(c):
    return 1


@api(BOTH, "unsigned short * __cdecl __pctype_func(void)")
def __pctype_func(c):
    s = R.state(c)
    if s.flavor == R.MSVCRT:
        from winhatch.win32.msvcrt.exports import data_addr
        return data_addr(c, "_ctype") + 2
    a = s.statics.get("ctype")
    if a is None:
        a = s.statics["ctype"] = R.alloc(c, 514)
        c.write(a, L.ctype_table_bytes(s))
    return a + 2


@api(BOTH, "unsigned short * __cdecl __pwctype_func(void)")
def __pwctype_func(c):
    s = R.state(c)
    if s.flavor == R.MSVCRT:
        from winhatch.win32.msvcrt.exports import data_addr
        return data_addr(c, "_wctype") + 2
    from winhatch.win32.msvcrt.startup import wctype_table_bytes
    a = s.statics.get("wctype")
    if a is None:
        a = s.statics["wctype"] = R.alloc(c, 514)
        c.write(a, wctype_table_bytes())
    return a + 2


def _apply_ctype(c, s) -> None:
    """LC_CTYPE changed: rewrite the runtime's ctype table and code page where the program can read them."""
    table = L.ctype_table_bytes(s)
    if s.flavor == R.MSVCRT:
        from winhatch.win32.msvcrt.exports import data_addr
        c.write(data_addr(c, "_ctype"), table)
        c.write_u32(data_addr(c, "__lc_codepage"), L.codepage_number(s))
    elif "ctype" in s.statics:
        c.write(s.statics["ctype"], table)
    # the DLL's native ctype functions (winhatch/win32/native_src/ctype.c) serve only the "C" locale
    from winhatch.win32 import native
    a = native.state_address(c, R._caller_dll(c))
    if a is not None:
        c.write_u32(a + native.STATE_CTYPE_NOT_C, 0 if L.codepage(s) is None else 1)


def _setlocale(c, cat: int, loc: str | None) -> str | None:
    """setlocale's work for both character widths: the locale's name now in effect, None on failure."""
    s = R.state(c)
    if not 0 <= cat <= 5:
        R.invalid_parameter(c, R.EINVAL, s)
        return None
    if loc is not None:
        name = L.resolve(loc)
        if name is None:
            return None        # a locale this machine does not have: NULL, the locale unchanged
        before = L.codepage(s)
        L.set_category(s, cat, name)
        if L.codepage(s) != before:
            _apply_ctype(c, s)
    return L.query(s, cat)


@api(BOTH, "char * __cdecl setlocale(int category, const char *locale)")
def setlocale(c, cat, loc):
    cat = cat - (1 << 32) if cat & 0x80000000 else cat
    name = _setlocale(c, cat, loc)
    if name is None:
        return 0
    s = R.state(c)
    buf = R.static_buffer(c, s, "setlocale", 256)
    c.write(buf, name.encode("ascii") + b"\0")
    return buf


@api(BOTH, "wchar_t * __cdecl _wsetlocale(int category, const wchar_t *locale)")
def _wsetlocale(c, cat, loc):
    cat = cat - (1 << 32) if cat & 0x80000000 else cat
    name = _setlocale(c, cat, loc)
    if name is None:
        return 0
    s = R.state(c)
    buf = R.static_buffer(c, s, "wsetlocale", 512)
    c.write(buf, (name + "\0").encode("utf-16-le"))
    return buf


@api(BOTH, "void * __cdecl localeconv(void)")
def localeconv(c):
    """struct lconv of the LC_NUMERIC and LC_MONETARY locales: 10 char* and 8 chars, then (ucrt) 8 wchar_t*
    (decimal_point, thousands_sep, int_curr_symbol, currency_symbol, mon_decimal_point, mon_thousands_sep,
    positive_sign, negative_sign). Rewritten in place on each call, as the CRT's own static one is."""
    s = R.state(c)
    lc = L.state_of(s)
    dec, thou, grp = L.NUMERIC[lc[L.LC_NUMERIC]]
    intl, cur, mdec, mthou, mgrp, pos, neg, chars = L.MONETARY[lc[L.LC_MONETARY]]
    strs = [dec, thou, grp, intl, cur, mdec, mthou, mgrp, pos, neg]
    ps = c.ptr_size
    a = s.statics.get("lconv")
    if a is None:
        a = s.statics["lconv"] = R.alloc(c, 18 * ps + 8)
        s.statics["lconv_str"] = R.alloc(c, 10 * 8)
        s.statics["lconv_wstr"] = R.alloc(c, 8 * 16)
    sa, wa = s.statics["lconv_str"], s.statics["lconv_wstr"]
    for i, text in enumerate(strs):
        c.write(sa + i * 8, text.encode("ascii").ljust(8, b"\0"))
        c.write_ptr(a + i * ps, sa + i * 8)
    c.write(a + 10 * ps, bytes(chars))
    base = a + 10 * ps + 8
    for i, text in enumerate((dec, thou, intl, cur, mdec, mthou, pos, neg)):
        c.write(wa + i * 16, text.encode("utf-16-le").ljust(16, b"\0"))
        c.write_ptr(base + i * ps, wa + i * 16)
    return a


@api(BOTH, "int __cdecl _configthreadlocale(int type)")
def _configthreadlocale(c, t):
    s = R.state(c)
    old = getattr(s, "thread_locale", 2)
    if t not in (0, 1, 2, 0xFFFFFFFF):
        R.invalid_parameter(c, R.EINVAL, s)
        return 0xFFFFFFFF
    if t in (1, 2):
        s.thread_locale = t
    return old


@api(BOTH, "int __cdecl _set_new_mode(int mode)")
def _set_new_mode(c, mode):
    s = R.state(c)
    if mode not in (0, 1):
        R.invalid_parameter(c, R.EINVAL, s)
        return 0xFFFFFFFF
    old = s.new_mode
    s.new_mode = mode
    return old


@api(BOTH, "int __cdecl _query_new_mode(void)")
def _query_new_mode(c):
    return R.state(c).new_mode


@api(BOTH, "void * __cdecl _set_invalid_parameter_handler(void *handler)")
def _set_invalid_parameter_handler(c, handler):
    s = R.state(c)
    old = s.invalid_parameter_handler
    s.invalid_parameter_handler = handler
    if handler:   # CRT calls that may reach it run deferred from now on (runtime.crt_api)
        c.proc.subsystem[DEFER_SPECULATIVE] = True
    return old


@api(BOTH, "void * __cdecl _get_invalid_parameter_handler(void)")
def _get_invalid_parameter_handler(c):
    return R.state(c).invalid_parameter_handler


@api(BOTH, "void __cdecl _invalid_parameter_noinfo(void)", calls_guest=True)
def _invalid_parameter_noinfo(c):
    R.invalid_parameter(c, R.EINVAL)


@api(BOTH, "void __cdecl _invalid_parameter_noinfo_noreturn(void)", calls_guest=True)
def _invalid_parameter_noinfo_noreturn(c):
    s = R.state(c)
    if s.invalid_parameter_handler:
        c.machine.dispatcher.call_guest(c.thread, s.invalid_parameter_handler, [0, 0, 0, 0, 0])
    R.flush_all(c, s)
    from winhatch.kernel.ke.dispatcher import ProcessExit
    from winhatch.ntstatus import STATUS_STACK_BUFFER_OVERRUN
    c.proc.stop_message = "invalid parameter passed to a C runtime function (_invalid_parameter_noinfo_noreturn)"
    raise ProcessExit(STATUS_STACK_BUFFER_OVERRUN)


@api(BOTH, "void __cdecl _invalid_parameter(const wchar_t *expr, const wchar_t *func, const wchar_t *file, "
           "unsigned int line, uintptr_t reserved)", calls_guest=True)
def _invalid_parameter(c, expr, func, file, line, reserved):
    R.invalid_parameter(c, R.EINVAL)


@api(BOTH, "int __cdecl _set_fmode(int mode)")
def _set_fmode(c, mode):
    s = R.state(c)
    if mode not in (S.O_TEXT, S.O_BINARY, S.O_WTEXT):
        R.invalid_parameter(c, R.EINVAL, s)
        return R.EINVAL
    s.fmode = mode
    if s.flavor == R.MSVCRT:
        from winhatch.win32.msvcrt.exports import data_addr
        c.write_u32(data_addr(c, "_fmode"), mode)
    elif "fmode" in s.statics:
        c.write_u32(s.statics["fmode"], mode)
    return 0


@api(BOTH, "int __cdecl _get_fmode(int *p)")
def _get_fmode(c, p):
    if not p:
        return R.EINVAL
    c.write_u32(p, _fmode_value(c))
    return 0


def _fmode_value(c) -> int:
    return R.current_fmode(c, R.state(c))


@api(BOTH, "int __cdecl _setmaxstdio(int n)")
def _setmaxstdio(c, n):
    if not 20 <= n <= 8192:
        return 0xFFFFFFFF
    return n


@api(BOTH, "int __cdecl _getmaxstdio(void)")
def _getmaxstdio(c):
    return 512


@api(BOTH, "void __cdecl _lock_locales(void)")
def _lock_locales(c):
    pass    # one emulated thread runs at a time: the locale lock cannot be contended


@api(BOTH, "void __cdecl _unlock_locales(void)")
def _unlock_locales(c):
    pass


@api(BOTH, "unsigned int __cdecl ___lc_collate_cp_func(void)")
def ___lc_collate_cp_func(c):
    """The LC_COLLATE locale's code page: 0 in "C"."""
    s = R.state(c)
    cp = L._CODEPAGE[L.state_of(s)[L.LC_COLLATE]]
    return 0 if cp is None else int(cp[2:])


@api(BOTH, "wchar_t ** __cdecl ___lc_locale_name_func(void)")
def ___lc_locale_name_func(c):
    """The locale names (LCID-style names, "en-US") of LC_ALL..LC_TIME: NULL for a category in "C"."""
    s = R.state(c)
    ps = c.ptr_size
    a = s.statics.get("lc_locale_names")
    if a is None:
        a = s.statics["lc_locale_names"] = R.alloc(c, 6 * ps)
        s.statics["lc_locale_name_enus"] = R.new_wstr(c, "en-US")
    names = L.state_of(s)
    for i in range(6):
        c.write_ptr(a + i * ps, 0 if i == 0 or names[i] == L.C else s.statics["lc_locale_name_enus"])
    return a
