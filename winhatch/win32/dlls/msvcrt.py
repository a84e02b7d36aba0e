"""msvcrt.dll: the C runtime that mingw-w64 programs link against (start-up, stdio, heap, strings).

Stream state (buffers, modes) is per process in Python; the FILE structures the program can see live in the
DLL's `_iob` data export in guest memory with their `_file` and `_flag` fields filled as msvcrt fills them.
"""
from __future__ import annotations

import struct

from winhatch.ldr import loader, ntdll
from winhatch.win32.api import api, data_exports, data_export, dll_init
from winhatch.win32.crt.format import Flavor, format_printf
from winhatch.win32.va import VaArgs

CRT = "msvcrt.dll"
IOB_ENTRIES = 20
_IOREAD, _IOWRT, _IONBF, _IOMYBUF, _IOEOF, _IOERR, _IOSTRG, _IORW = 0x1, 0x2, 0x4, 0x8, 0x10, 0x20, 0x40, 0x80
BUFSIZ = 4096


def file_size(ptr_size: int) -> int:
    return 48 if ptr_size == 8 else 32


data_export(CRT, "_iob", IOB_ENTRIES * 48)
for _n in ("_acmdln", "_wcmdln", "__initenv", "__winitenv", "_environ", "_wenviron", "__argv", "__wargv",
           "_pgmptr", "_wpgmptr"):
    data_export(CRT, _n, 8)
for _n in ("_commode", "_fmode", "__mb_cur_max", "__argc", "_osver", "_winver", "_winmajor", "_winminor"):
    data_export(CRT, _n, 8)


class Stream:
    __slots__ = ("fd", "buf", "mode", "flags")

    def __init__(self, fd: int, mode: str):
        self.fd = fd
        self.buf = bytearray()
        self.mode = mode  # "none" | "full"
        self.flags = 0


class CrtState:
    def __init__(self, c):
        self.iob = _data_addr(c, "_iob")
        self.fsize = file_size(c.ptr_size)
        self.streams: dict[int, Stream] = {}
        self.fds: dict[int, int] = {}  # fd -> OS handle
        self.onexit: list[int] = []
        self.errno_addr: dict[int, int] = {}
        self.lconv = 0
        self.strbuf = 0
        self.locale_c = 0


def _data_addr(c, name: str) -> int:
    st = loader.state_of(c.proc)
    m = st.by_name.get(CRT)
    e = m.pe.exports.lookup(name).entry
    return m.base + e.rva


def crt(c) -> CrtState:
    s = c.proc.subsystem.get("msvcrt")
    if s is None:
        s = c.proc.subsystem["msvcrt"] = CrtState(c)
    return s


def _alloc(c, size: int) -> int:
    return loader.state_of(c.proc).heaps.process_heap.alloc(size, 0x8)


def _host_kind(c, fd: int) -> str:
    console = c.proc.console
    if console is None:
        return "disk"
    return getattr(console, {0: "stdin", 1: "stdout", 2: "stderr"}.get(fd, "stdout")).kind


@dll_init(CRT)
def _msvcrt_init(c, base, reason, reserved):
    if reason != 1:
        if reason == 0:
            flush_all(c)
        return 1
    s = crt(c)
    from winhatch.win32.dlls.kernel32 import GetStdHandle
    for fd, which in ((0, 0xFFFFFFF6), (1, 0xFFFFFFF5), (2, 0xFFFFFFF4)):
        s.fds[fd] = GetStdHandle(c, which)
        f = s.iob + fd * s.fsize
        flag = _IOREAD if fd == 0 else _IOWRT
        mode = "full" if fd == 1 and _host_kind(c, fd) != "char" else "none"
        _write_file_fields(c, f, fd, flag)
        s.streams[f] = Stream(fd, mode)
    cmd = c.proc.command_line.encode("cp1252", "replace") + b"\0"
    a = _alloc(c, len(cmd))
    c.write(a, cmd)
    c.write_ptr(_data_addr(c, "_acmdln"), a)
    c.write_u32(_data_addr(c, "__mb_cur_max"), 1)
    return 1


def _write_file_fields(c, f: int, fd: int, flag: int) -> None:
    if c.ptr_size == 8:
        c.write_u32(f + 24, flag)
        c.write_u32(f + 28, fd)
    else:
        c.write_u32(f + 12, flag)
        c.write_u32(f + 16, fd)


def stream(c, f: int) -> Stream | None:
    return crt(c).streams.get(f)


def _os_write(c, fd: int, data: bytes) -> int:
    s = crt(c)
    h = s.fds.get(fd)
    if h is None:
        return -1
    try:
        obj = c.proc.handles.lookup(h)
    except Exception:
        return -1
    obj.write(data)
    return len(data)


def stream_write(c, f: int, data: bytes) -> int:
    st = stream(c, f)
    if st is None:
        return -1
    if st.mode == "none":
        return _os_write(c, st.fd, data) if data else 0
    st.buf += data
    if len(st.buf) >= BUFSIZ:
        flush(c, st)
    return len(data)


def flush(c, st: Stream) -> None:
    if st.buf:
        _os_write(c, st.fd, bytes(st.buf))
        st.buf.clear()


def flush_all(c) -> None:
    s = c.proc.subsystem.get("msvcrt")
    if s is None:
        return
    for st in s.streams.values():
        flush(c, st)


# ------------------------------------------------------------------------------------------ start-up
def parse_command_line(cmd: str) -> list[str]:
    """The C runtime's argv parsing (documented "Parsing C command-line arguments" rules)."""
    args: list[str] = []
    i, n = 0, len(cmd)
    # argv[0]: up to the next whitespace, quotes delimit but are removed, no backslash escapes
    cur = []
    inq = False
    while i < n:
        ch = cmd[i]
        if ch == '"':
            inq = not inq
        elif ch in " \t" and not inq:
            break
        else:
            cur.append(ch)
        i += 1
    args.append("".join(cur))
    while True:
        while i < n and cmd[i] in " \t":
            i += 1
        if i >= n:
            return args
        cur = []
        inq = False
        while i < n:
            ch = cmd[i]
            if ch == "\\":
                j = i
                while j < n and cmd[j] == "\\":
                    j += 1
                nb = j - i
                if j < n and cmd[j] == '"':
                    cur.append("\\" * (nb // 2))
                    if nb % 2:
                        cur.append('"')
                        i = j + 1
                    else:
                        i = j
                    continue
                cur.append("\\" * nb)
                i = j
                continue
            if ch == '"':
                if inq and i + 1 < n and cmd[i + 1] == '"':
                    cur.append('"')
                    i += 2
                    continue
                inq = not inq
                i += 1
                continue
            if ch in " \t" and not inq:
                break
            cur.append(ch)
            i += 1
        args.append("".join(cur))


def _build_argv(c, args: list[str], env: dict[str, str]) -> tuple[int, int]:
    ps = c.ptr_size
    argv = _alloc(c, (len(args) + 1) * ps)
    for i, a in enumerate(args):
        b = a.encode("cp1252", "replace") + b"\0"
        p = _alloc(c, len(b))
        c.write(p, b)
        c.write_ptr(argv + i * ps, p)
    items = [f"{k}={v}" for k, v in env.items()]
    envp = _alloc(c, (len(items) + 1) * ps)
    for i, e in enumerate(items):
        b = e.encode("cp1252", "replace") + b"\0"
        p = _alloc(c, len(b))
        c.write(p, b)
        c.write_ptr(envp + i * ps, p)
    return argv, envp


@api(CRT, "int __cdecl __getmainargs(int *argc, char ***argv, char ***env, int doWildCard, void *si)")
def __getmainargs(c, pargc, pargv, penv, wild, si):
    args = parse_command_line(c.proc.command_line)
    argv, envp = _build_argv(c, args, c.proc.subsystem.get("environment", {}))
    c.write_u32(pargc, len(args))
    c.write_ptr(pargv, argv)
    c.write_ptr(penv, envp)
    c.write_u32(_data_addr(c, "__argc"), len(args))
    c.write_ptr(_data_addr(c, "__argv"), argv)
    c.write_ptr(_data_addr(c, "_environ"), envp)
    c.write_ptr(_data_addr(c, "__initenv"), envp)
    return 0


@api(CRT, "void __cdecl __set_app_type(int type)")
def __set_app_type(c, t):
    crt(c)


@api(CRT, "void __cdecl __setusermatherr(void *fn)")
def __setusermatherr(c, fn):
    pass


@api(CRT, "void __cdecl _initterm(void *begin, void *end)", calls_guest=True)
def _initterm(c, begin, end):
    ps = c.ptr_size
    for a in range(begin, end, ps):
        fn = c.ptr(a)
        if fn:
            c.machine.dispatcher.call_guest(c.thread, fn, [])


@api(CRT, "int __cdecl _initterm_e(void *begin, void *end)", calls_guest=True)
def _initterm_e(c, begin, end):
    ps = c.ptr_size
    for a in range(begin, end, ps):
        fn = c.ptr(a)
        if fn:
            r = c.machine.dispatcher.call_guest(c.thread, fn, []) & 0xFFFFFFFF
            if r:
                return r
    return 0


def _p(name):
    def fn(c):
        return _data_addr(c, name)
    return fn


for _n in ("_acmdln", "_commode", "_fmode", "__argc", "__argv", "_environ", "__initenv", "_pgmptr", "_wcmdln",
           "__wargv", "_wenviron"):
    api(CRT, f"void * __cdecl __p_{_n}(void)")(_p(_n))


@api(CRT, "FILE * __cdecl __iob_func(void)")
def __iob_func(c):
    return crt(c).iob


@api(CRT, "FILE * __cdecl __acrt_iob_func(unsigned index)")
def __acrt_iob_func(c, i):
    s = crt(c)
    return s.iob + i * s.fsize


@api(CRT, "int * __cdecl _errno(void)")
def _errno(c):
    s = crt(c)
    a = s.errno_addr.get(c.thread.tid)
    if a is None:
        a = s.errno_addr[c.thread.tid] = _alloc(c, 8)
    return a


@api(CRT, "int __cdecl ___lc_codepage_func(void)")
def ___lc_codepage_func(c):
    return 0


@api(CRT, "int __cdecl ___mb_cur_max_func(void)")
def ___mb_cur_max_func(c):
    return 1


@api(CRT, "void __cdecl _lock(int locknum)")
def _lock(c, n):
    pass


@api(CRT, "void __cdecl _unlock(int locknum)")
def _unlock(c, n):
    pass


@api(CRT, "void * __cdecl _onexit(void *fn)")
def _onexit(c, fn):
    crt(c).onexit.append(fn)
    return fn


@api(CRT, "int __cdecl atexit(void *fn)")
def atexit(c, fn):
    crt(c).onexit.append(fn)
    return 0


def _run_onexit(c) -> None:
    s = crt(c)
    while s.onexit:
        fn = s.onexit.pop()
        c.machine.dispatcher.call_guest(c.thread, fn, [])


@api(CRT, "void __cdecl _cexit(void)", calls_guest=True)
def _cexit(c):
    _run_onexit(c)
    flush_all(c)


@api(CRT, "void __cdecl _c_exit(void)")
def _c_exit(c):
    flush_all(c)


@api(CRT, "void __cdecl exit(int status)", calls_guest=True)
def exit(c, status):
    _run_onexit(c)
    flush_all(c)
    ntdll.RtlExitUserProcess(c.machine, c.thread, status & 0xFFFFFFFF)


@api(CRT, "void __cdecl _exit(int status)", calls_guest=True)
def _exit(c, status):
    flush_all(c)
    ntdll.RtlExitUserProcess(c.machine, c.thread, status & 0xFFFFFFFF)


@api(CRT, "void __cdecl _amsg_exit(int rterrnum)", calls_guest=True)
def _amsg_exit(c, n):
    flush_all(c)
    _os_write(c, 2, f"\nruntime error R60{n:02d}\n".encode())
    ntdll.RtlExitUserProcess(c.machine, c.thread, 255)


ABORT_MESSAGE = (b"\nThis application has requested the Runtime to terminate it in an unusual way.\n"
                 b"Please contact the application's support team for more information.\n")


@api(CRT, "void __cdecl abort(void)", calls_guest=True)
def abort(c):
    flush_all(c)
    _os_write(c, 2, ABORT_MESSAGE)
    ntdll.RtlExitUserProcess(c.machine, c.thread, 3)


@api(CRT, "void * __cdecl signal(int sig, void *handler)")
def signal(c, sig, handler):
    tab = c.proc.subsystem.setdefault("signals", {})
    old = tab.get(sig, 0)
    tab[sig] = handler
    return old


# ------------------------------------------------------------------------------------------ heap
@api(CRT, "void * __cdecl malloc(size_t size)")
def malloc(c, size):
    return loader.state_of(c.proc).heaps.process_heap.alloc(size)


@api(CRT, "void * __cdecl calloc(size_t n, size_t size)")
def calloc(c, n, size):
    return loader.state_of(c.proc).heaps.process_heap.alloc(n * size, 0x8)


@api(CRT, "void * __cdecl realloc(void *p, size_t size)")
def realloc(c, p, size):
    heap = loader.state_of(c.proc).heaps.process_heap
    if not p:
        return heap.alloc(size)
    if size == 0:
        heap.free_block(p)
        return 0
    return heap.realloc(p, size)


@api(CRT, "void __cdecl free(void *p)")
def free(c, p):
    if p:
        loader.state_of(c.proc).heaps.process_heap.free_block(p)


# ------------------------------------------------------------------------------------------ strings and memory
@api(CRT, "void * __cdecl memcpy(void *dst, const void *src, size_t n)")
def memcpy(c, d, s, n):
    if n:
        c.write(d, c.read(s, n))
    return d


@api(CRT, "void * __cdecl memmove(void *dst, const void *src, size_t n)")
def memmove(c, d, s, n):
    return memcpy(c, d, s, n)


@api(CRT, "void * __cdecl memset(void *dst, int ch, size_t n)")
def memset(c, d, ch, n):
    if n:
        c.write(d, bytes([ch & 0xFF]) * n)
    return d


@api(CRT, "int __cdecl memcmp(const void *a, const void *b, size_t n)")
def memcmp(c, a, b, n):
    x, y = c.read(a, n), c.read(b, n)
    return 0 if x == y else (-1 if x < y else 1)


@api(CRT, "size_t __cdecl strlen(const void *s)")
def strlen(c, s):
    return len(c.cstr(s))


@api(CRT, "size_t __cdecl wcslen(const void *s)")
def wcslen(c, s):
    return len(c.wstr(s).encode("utf-16-le")) // 2


@api(CRT, "int __cdecl strcmp(const void *a, const void *b)")
def strcmp(c, a, b):
    x, y = c.cstr(a), c.cstr(b)
    return 0 if x == y else (-1 if x < y else 1)


@api(CRT, "int __cdecl strncmp(const void *a, const void *b, size_t n)")
def strncmp(c, a, b, n):
    x, y = c.cstr(a, n)[:n], c.cstr(b, n)[:n]
    return 0 if x == y else (-1 if x < y else 1)


@api(CRT, "char * __cdecl strchr(const void *s, int ch)")
def strchr(c, s, ch):
    data = c.cstr(s) + b"\0"
    i = data.find(bytes([ch & 0xFF]))
    return 0 if i < 0 else s + i


@api(CRT, "int __cdecl atoi(const char *s)")
def atoi(c, s):
    import re
    m = re.match(r"\s*([+-]?\d+)", s or "")
    if not m:
        return 0
    return int(m.group(1)) & 0xFFFFFFFF


@api(CRT, "char * __cdecl strerror(int errnum)")
def strerror(c, n):
    s = crt(c)
    if not s.strbuf:
        s.strbuf = _alloc(c, 256)
    msg = ERRNO_MESSAGES.get(n, "Unknown error")
    c.write(s.strbuf, msg.encode() + b"\0")
    return s.strbuf


ERRNO_MESSAGES = {0: "No error", 1: "Operation not permitted", 2: "No such file or directory", 3: "No such process",
                  4: "Interrupted function call", 5: "Input/output error", 9: "Bad file descriptor",
                  12: "Not enough space", 13: "Permission denied", 17: "File exists", 22: "Invalid argument",
                  24: "Too many open files", 28: "No space left on device", 33: "Domain error", 34: "Result too large"}


@api(CRT, "char * __cdecl setlocale(int category, const char *locale)")
def setlocale(c, cat, loc):
    s = crt(c)
    if not s.locale_c:
        s.locale_c = _alloc(c, 4)
        c.write(s.locale_c, b"C\0")
    if loc is None or loc in ("C", ""):
        return s.locale_c
    return 0


@api(CRT, "void * __cdecl localeconv(void)")
def localeconv(c):
    s = crt(c)
    if not s.lconv:
        ps = c.ptr_size
        strings = _alloc(c, 8)
        c.write(strings, b".\0\0\0")
        s.lconv = _alloc(c, 10 * ps + 8 + 6 * ps)
        c.write_ptr(s.lconv, strings)
        for i in range(1, 10):
            c.write_ptr(s.lconv + i * ps, strings + 2)
        c.write(s.lconv + 10 * ps, bytes([127] * 8))
    return s.lconv


# ------------------------------------------------------------------------------------------ stdio
def _printf(c, f: int, fmt_ptr: int, va: VaArgs) -> int:
    fmt = c.cstr(fmt_ptr)
    out = format_printf(fmt, va, wide=False, flavor=Flavor.MSVCRT, ptr_size=c.ptr_size)
    r = stream_write(c, f, out)
    return len(out) if r >= 0 else -1


@api(CRT, "int __cdecl printf(const void *fmt, ...)")
def printf(c, fmt):
    return _printf(c, crt(c).iob + crt(c).fsize, fmt, VaArgs.after_params(c))


@api(CRT, "int __cdecl fprintf(FILE *f, const void *fmt, ...)")
def fprintf(c, f, fmt):
    return _printf(c, f, fmt, VaArgs.after_params(c))


@api(CRT, "int __cdecl vfprintf(FILE *f, const void *fmt, va_list args)")
def vfprintf(c, f, fmt, args):
    return _printf(c, f, fmt, VaArgs(c, args))


@api(CRT, "int __cdecl vprintf(const void *fmt, va_list args)")
def vprintf(c, fmt, args):
    return _printf(c, crt(c).iob + crt(c).fsize, fmt, VaArgs(c, args))


@api(CRT, "int __cdecl sprintf(char *buf, const void *fmt, ...)")
def sprintf(c, buf, fmt):
    out = format_printf(c.cstr(fmt), VaArgs.after_params(c), wide=False, flavor=Flavor.MSVCRT,
                        ptr_size=c.ptr_size)
    c.write(buf, out + b"\0")
    return len(out)


@api(CRT, "int __cdecl fputc(int ch, FILE *f)")
def fputc(c, ch, f):
    return ch & 0xFF if stream_write(c, f, bytes([ch & 0xFF])) >= 0 else 0xFFFFFFFF


@api(CRT, "int __cdecl putchar(int ch)")
def putchar(c, ch):
    return fputc(c, ch, crt(c).iob + crt(c).fsize)


@api(CRT, "int __cdecl fputs(const void *s, FILE *f)")
def fputs(c, s, f):
    return 0 if stream_write(c, f, c.cstr(s)) >= 0 else 0xFFFFFFFF


@api(CRT, "int __cdecl puts(const void *s)")
def puts(c, s):
    return 0 if stream_write(c, crt(c).iob + crt(c).fsize, c.cstr(s) + b"\n") >= 0 else 0xFFFFFFFF


@api(CRT, "size_t __cdecl fwrite(const void *p, size_t size, size_t count, FILE *f)")
def fwrite(c, p, size, count, f):
    n = size * count
    if n == 0:
        return 0
    return count if stream_write(c, f, c.read(p, n)) >= 0 else 0


@api(CRT, "int __cdecl fflush(FILE *f)")
def fflush(c, f):
    if not f:
        flush_all(c)
        return 0
    st = stream(c, f)
    if st is not None:
        flush(c, st)
    return 0


@api(CRT, "int __cdecl setvbuf(FILE *f, char *buf, int mode, size_t size)")
def setvbuf(c, f, buf, mode, size):
    st = stream(c, f)
    if st is None:
        return 0xFFFFFFFF
    flush(c, st)
    st.mode = "none" if mode == _IONBF else "full"
    return 0
