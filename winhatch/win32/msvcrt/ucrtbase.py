"""ucrtbase.dll (and the api-ms-win-crt-* API sets that forward to it): the Universal CRT's start-up and exit
interface that MSVC's (and mingw-w64's ucrt) start-up code calls. The C library functions are shared with
msvcrt (crt_*.py)."""
from __future__ import annotations

from winhatch.win32.api import dll_init
from winhatch.win32.msvcrt.runtime import crt_api as api
from winhatch.win32.msvcrt import runtime as R
from winhatch.win32.msvcrt import startup

U = R.UCRT_DLL


@dll_init(U)
def _ucrtbase_init(c, base, reason, reserved):
    if reason == 0:
        s = c.proc.subsystem.get("crt:" + R.UCRT)
        if s is not None:
            R.flush_all(c, s)
    return 1


# ------------------------------------------------------------------------------------------ argv / environment
@api(U, "int __cdecl _configure_narrow_argv(int mode)")
def _configure_narrow_argv(c, mode):
    s = R.state(c)
    if mode not in (0, 1, 2):      # _crt_argv_no_arguments, _unexpanded_arguments, _expanded_arguments
        R.invalid_parameter(c, R.EINVAL, s)
        return R.EINVAL
    if mode == 0:
        return 0
    startup.configure_argv(c, s, wide=False, wildcard=(mode == 2))
    return 0


@api(U, "int __cdecl _configure_wide_argv(int mode)")
def _configure_wide_argv(c, mode):
    s = R.state(c)
    if mode not in (0, 1, 2):
        R.invalid_parameter(c, R.EINVAL, s)
        return R.EINVAL
    if mode == 0:
        return 0
    startup.configure_argv(c, s, wide=True, wildcard=(mode == 2))
    return 0


def _slot(c, s, name: str, value: int | None = None) -> int:
    a = s.statics.get(name)
    if a is None:
        a = s.statics[name] = R.alloc(c, 8)
    if value is not None:
        c.write_ptr(a, value)
    return a


@api(U, "int * __cdecl __p___argc(void)")
def __p___argc(c):
    s = R.state(c)
    a = _slot(c, s, "argc")
    c.write_u32(a, s.argc)
    return a


@api(U, "char *** __cdecl __p___argv(void)")
def __p___argv(c):
    s = R.state(c)
    return _slot(c, s, "argv", s.argv)


@api(U, "wchar_t *** __cdecl __p___wargv(void)")
def __p___wargv(c):
    s = R.state(c)
    return _slot(c, s, "wargv", s.wargv)


@api(U, "char ** __cdecl __p__acmdln(void)")
def __p__acmdln(c):
    s = R.state(c)
    a = s.statics.get("acmdln")
    if a is None:
        a = _slot(c, s, "acmdln", R.new_cstr(c, startup.process_command_line(c).encode("cp1252", "replace")))
    return a


@api(U, "wchar_t ** __cdecl __p__wcmdln(void)")
def __p__wcmdln(c):
    s = R.state(c)
    a = s.statics.get("wcmdln")
    if a is None:
        a = _slot(c, s, "wcmdln", R.new_wstr(c, startup.process_command_line(c)))
    return a


@api(U, "char * __cdecl _get_narrow_winmain_command_line(void)")
def _get_narrow_winmain_command_line(c):
    return startup_winmain_cmdline(c, False)


@api(U, "wchar_t * __cdecl _get_wide_winmain_command_line(void)")
def _get_wide_winmain_command_line(c):
    return startup_winmain_cmdline(c, True)


def startup_winmain_cmdline(c, wide: bool) -> int:
    """The command line after the program name (WinMain's lpCmdLine), blanks skipped."""
    cmd = startup.process_command_line(c)
    i, inq = 0, False
    while i < len(cmd) and (inq or cmd[i] not in " \t"):
        if cmd[i] == '"':
            inq = not inq
        i += 1
    while i < len(cmd) and cmd[i] in " \t":
        i += 1
    rest = cmd[i:]
    return R.new_wstr(c, rest) if wide else R.new_cstr(c, rest.encode("cp1252", "replace"))


@api(U, "int __cdecl _initialize_narrow_environment(void)")
def _initialize_narrow_environment(c):
    s = R.state(c)
    startup.environ_ptr(c, s, wide=False)
    return 0


@api(U, "int __cdecl _initialize_wide_environment(void)")
def _initialize_wide_environment(c):
    s = R.state(c)
    startup.environ_ptr(c, s, wide=True)
    return 0


@api(U, "char ** __cdecl _get_initial_narrow_environment(void)")
def _get_initial_narrow_environment(c):
    return startup.environ_ptr(c, R.state(c), wide=False)


@api(U, "wchar_t ** __cdecl _get_initial_wide_environment(void)")
def _get_initial_wide_environment(c):
    return startup.environ_ptr(c, R.state(c), wide=True)


@api(U, "char *** __cdecl __p__environ(void)")
def __p__environ(c):
    s = R.state(c)
    startup.environ_ptr(c, s, wide=False)
    return startup.env_slot(c, s, "_environ")


@api(U, "wchar_t *** __cdecl __p__wenviron(void)")
def __p__wenviron(c):
    s = R.state(c)
    startup.environ_ptr(c, s, wide=True)
    return startup.env_slot(c, s, "_wenviron")


@api(U, "char ** __cdecl __p__pgmptr(void)")
def __p__pgmptr(c):
    s = R.state(c)
    a = s.statics.get("pgmptr")
    if a is None:
        a = _slot(c, s, "pgmptr", R.new_cstr(c, startup.process_image_path(c).encode("cp1252", "replace")))
    return a


@api(U, "wchar_t ** __cdecl __p__wpgmptr(void)")
def __p__wpgmptr(c):
    s = R.state(c)
    a = s.statics.get("wpgmptr")
    if a is None:
        a = _slot(c, s, "wpgmptr", R.new_wstr(c, startup.process_image_path(c)))
    return a


@api(U, "int __cdecl _get_pgmptr(char **p)")
def _get_pgmptr(c, p):
    if not p:
        return R.EINVAL
    c.write_ptr(p, c.ptr(__p__pgmptr(c)))
    return 0


@api(U, "int __cdecl _get_wpgmptr(wchar_t **p)")
def _get_wpgmptr(c, p):
    if not p:
        return R.EINVAL
    c.write_ptr(p, c.ptr(__p__wpgmptr(c)))
    return 0


@api(U, "int * __cdecl __p__fmode(void)")
def __p__fmode(c):
    s = R.state(c)
    a = s.statics.get("fmode")
    if a is None:
        a = s.statics["fmode"] = R.alloc(c, 4)
        c.write_u32(a, s.fmode)
    return a


@api(U, "int * __cdecl __p__commode(void)")
def __p__commode(c):
    s = R.state(c)
    a = s.statics.get("commode")
    if a is None:
        a = s.statics["commode"] = R.alloc(c, 4)
    return a


@api(U, "void __cdecl _set_app_type(int type)")
def _set_app_type(c, t):
    R.state(c).app_type = t


@api(U, "int __cdecl _query_app_type(void)")
def _query_app_type(c):
    return R.state(c).app_type


# ------------------------------------------------------------------------------------------ onexit tables
# _onexit_table_t: { _PVFV *_first, *_last, *_end }
def _table(c, t: int) -> tuple[int, int, int]:
    ps = c.ptr_size
    return c.ptr(t), c.ptr(t + ps), c.ptr(t + 2 * ps)


@api(U, "int __cdecl _initialize_onexit_table(void *table)")
def _initialize_onexit_table(c, t):
    if not t:
        return 0xFFFFFFFF
    first, _last, _end = _table(c, t)
    if first:
        return 0     # already initialised
    ps = c.ptr_size
    c.write(t, bytes(3 * ps))
    return 0


@api(U, "int __cdecl _register_onexit_function(void *table, void *fn)")
def _register_onexit_function(c, t, fn):
    if not t:
        return 0xFFFFFFFF
    ps = c.ptr_size
    first, last, end = _table(c, t)
    heap = R.heap(c)
    if not first:
        first = heap.alloc(32 * ps, 0x8)
        last, end = first, first + 32 * ps
    elif last >= end:
        n = (end - first) // ps
        new = heap.realloc(first, 2 * n * ps)
        if not new:
            return 0xFFFFFFFF
        last = new + (last - first)
        first, end = new, new + 2 * n * ps
    c.write_ptr(last, fn)
    last += ps
    c.write_ptr(t, first)
    c.write_ptr(t + ps, last)
    c.write_ptr(t + 2 * ps, end)
    return 0


@api(U, "int __cdecl _execute_onexit_table(void *table)", calls_guest=True)
def _execute_onexit_table(c, t):
    if not t:
        return 0xFFFFFFFF
    ps = c.ptr_size
    first, last, _end = _table(c, t)
    if not first:
        return 0
    # the table is emptied before the calls (a function registered while running goes to a fresh table)
    c.write(t, bytes(3 * ps))
    fns = [c.ptr(a) for a in range(first, last, ps)]
    for fn in reversed(fns):
        if fn:
            c.machine.dispatcher.call_guest(c.thread, fn, [], stdcall=False)
    R.heap(c).free_block(first)
    return 0


@api(U, "int __cdecl _crt_atexit(void *fn)")
def _crt_atexit(c, fn):
    R.state(c).onexit.append(fn)
    return 0


@api(U, "int __cdecl _crt_at_quick_exit(void *fn)")
def _crt_at_quick_exit(c, fn):
    R.state(c).quick_exit.append(fn)
    return 0


@api(U, "void __cdecl quick_exit(int status)", calls_guest=True)
def quick_exit(c, status):
    R.crt_exit(c, status, quick=True)


@api(U, "int __cdecl _seh_filter_exe(unsigned long code, void *pointers)")
def _seh_filter_exe(c, code, ptrs):
    # no C signal handler claims the exception: EXCEPTION_CONTINUE_SEARCH
    return 0


@api(U, "int __cdecl _seh_filter_dll(unsigned long code, void *pointers)")
def _seh_filter_dll(c, code, ptrs):
    return 0


@api(U, "void __cdecl _register_thread_local_exe_atexit_callback(void *fn)")
def _register_thread_local_exe_atexit_callback(c, fn):
    R.state(c).tls_atexit = fn


@api(U, "void __cdecl terminate(void)", calls_guest=True)
def terminate(c):
    handler = getattr(R.state(c), "terminate_handler", 0)
    if handler:
        c.machine.dispatcher.call_guest(c.thread, handler, [], stdcall=False)
    from winhatch.win32.msvcrt.process import abort
    abort(c)


@api(U, "void * __cdecl set_terminate(void *fn)")
def set_terminate(c, fn):
    s = R.state(c)
    old = getattr(s, "terminate_handler", 0)
    s.terminate_handler = fn
    return old


@api(U, "void * __cdecl _get_terminate(void)")
def _get_terminate(c):
    return getattr(R.state(c), "terminate_handler", 0)


@api(U, "int __cdecl _set_abort_behavior(unsigned int flags, unsigned int mask)")
def _set_abort_behavior(c, flags, mask):
    from winhatch.win32.msvcrt.process import DEFAULT_ABORT_BEHAVIOR
    s = R.state(c)
    old = getattr(s, "abort_behavior", DEFAULT_ABORT_BEHAVIOR)
    s.abort_behavior = (old & ~mask) | (flags & mask)
    return old


@api(U, "int __cdecl __stdio_common_vfprintf_p(unsigned __int64 options, FILE *f, const void *fmt, void *locale, "
        "va_list args)")
def __stdio_common_vfprintf_p(c, options, f, fmt, locale, args):
    R.not_implemented(c, "positional printf parameters (_printf_p family)")
