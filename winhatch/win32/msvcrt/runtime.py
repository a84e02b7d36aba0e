"""Per-process state of the two C runtimes (msvcrt.dll and ucrtbase.dll) and what every CRT handler shares.

One implementation serves both DLLs: a handler declared on ("msvcrt.dll", "ucrtbase.dll") finds out which
one the guest called from the address of the trap stub that is executing (the api-ms-win-crt-* and
vcruntime140 exports are forwarders, so their code is ucrtbase's), and gets that CRT's own state — its
streams, file descriptors, errno, atexit list, environment copy, rand seed. A program that loads both
CRTs (a mingw exe on msvcrt with a DLL on ucrt) has two independent runtimes, as on Windows.

The heap: msvcrt.dll and ucrtbase.dll allocate from their own heap (msvcrt: _crtheap; ucrt: the process heap
since Windows 8). Here both use the process heap (ntdll's RtlAllocateHeap equivalent in winhatch.ldr.heap).
"""
from __future__ import annotations

import struct

from winhatch.kernel.ke.dispatcher import ProcessExit
from winhatch.ldr import loader, ntdll
from winhatch.ntstatus import STATUS_NOT_IMPLEMENTED, STATUS_STACK_BUFFER_OVERRUN
from winhatch.win32 import api as _api
from winhatch.kernel.ke.traps import SPECULATIVE

MSVCRT, UCRT = "msvcrt", "ucrt"
MSVCRT_DLL, UCRT_DLL = "msvcrt.dll", "ucrtbase.dll"
BOTH = (MSVCRT_DLL, UCRT_DLL)
# The C runtimes of Visual C++ .NET 2002 to 2013. On Windows they are built from the same sources as
# msvcrt.dll; here msvcrt's handlers serve their exports too (winhatch.win32.subsystem._serve_crt_subset),
# each DLL with its own runtime state (its own streams, descriptors, errno, atexit list), as two DLLs are
# two runtimes. What differs from msvcrt.dll and matters to a program: from msvcr80 on, an invalid
# parameter without a handler ends the process (_invoke_watson), as in ucrt; msvcrt.dll and msvcr70/71
# set errno and return. printf keeps msvcrt's forms (three-digit exponents, 1.#INF) up to msvcr120.
OLD_CRTS = ("msvcr70.dll", "msvcr71.dll", "msvcr80.dll", "msvcr90.dll", "msvcr100.dll", "msvcr110.dll",
            "msvcr120.dll")
WATSON_CRTS = frozenset(("msvcr80.dll", "msvcr90.dll", "msvcr100.dll", "msvcr110.dll", "msvcr120.dll"))
MSVCRT_LIKE = frozenset((MSVCRT_DLL, *OLD_CRTS))

# errno values (errno.h)
EPERM, ENOENT, ESRCH, EINTR, EIO, ENXIO, E2BIG, ENOEXEC, EBADF, ECHILD, EAGAIN, ENOMEM, EACCES, EFAULT = range(1, 15)
EBUSY, EEXIST, EXDEV, ENODEV, ENOTDIR, EISDIR, EINVAL, ENFILE, EMFILE, ENOTTY = range(16, 26)
EFBIG, ENOSPC, ESPIPE, EROFS, EMLINK, EPIPE, EDOM, ERANGE = range(27, 35)
EDEADLK, ENAMETOOLONG, ENOLCK, ENOSYS, ENOTEMPTY, EILSEQ = 36, 38, 39, 40, 41, 42
STRUNCATE = 80

# the CRT's own message table (_sys_errlist)
ERRNO_MESSAGES = [
    "No error", "Operation not permitted", "No such file or directory", "No such process",
    "Interrupted function call", "Input/output error", "No such device or address", "Arg list too long",
    "Exec format error", "Bad file descriptor", "No child processes", "Resource temporarily unavailable",
    "Not enough space", "Permission denied", "Bad address", "Unknown error", "Resource device", "File exists",
    "Improper link", "No such device", "Not a directory", "Is a directory", "Invalid argument",
    "Too many open files in system", "Too many open files", "Inappropriate I/O control operation",
    "Unknown error", "File too large", "No space left on device", "Invalid seek", "Read-only file system",
    "Too many links", "Broken pipe", "Domain error", "Result too large", "Unknown error",
    "Resource deadlock avoided", "Unknown error", "Filename too long", "No locks available",
    "Function not implemented", "Directory not empty", "Illegal byte sequence",
]


def errno_message(n: int) -> str:
    if 0 <= n < len(ERRNO_MESSAGES):
        return ERRNO_MESSAGES[n]
    if n == STRUNCATE:
        return "Unknown error"
    return "Unknown error"


# _dosmaperr: Win32 error -> errno (the documented table; everything else is EINVAL)
_DOSMAP = {1: EINVAL, 2: ENOENT, 3: ENOENT, 4: EMFILE, 5: EACCES, 6: EBADF, 7: ENOMEM, 8: ENOMEM, 9: ENOMEM,
           10: E2BIG, 11: ENOEXEC, 12: EINVAL, 13: EINVAL, 15: ENOENT, 16: EACCES, 17: EXDEV, 18: ENOENT,
           33: EACCES, 53: ENOENT, 65: EACCES, 67: ENOENT, 80: EEXIST, 82: EACCES, 83: EACCES, 87: EINVAL,
           89: EAGAIN, 108: EACCES, 109: EPIPE, 112: ENOSPC, 114: EBADF, 128: ECHILD, 129: ECHILD, 130: EBADF,
           131: EINVAL, 132: EACCES, 145: ENOTEMPTY, 158: EACCES, 161: ENOENT, 164: EAGAIN, 167: EACCES,
           183: EEXIST, 206: ENOENT, 215: EAGAIN, 1816: ENOMEM}


def dosmaperr(win32: int) -> int:
    if win32 in _DOSMAP:
        return _DOSMAP[win32]
    if 19 <= win32 <= 36:
        return EACCES
    if 188 <= win32 <= 202:
        return ENOEXEC
    return EINVAL


class CrtState:
    """One C runtime's state in one process."""

    def __init__(self, c, flavor: str):
        self.flavor = flavor
        self.dll = MSVCRT_DLL if flavor == MSVCRT else UCRT_DLL
        self.ptr_size = c.ptr_size
        self.fsize = 48 if c.ptr_size == 8 else 32
        self.iob = 0                 # address of the FILE array of stdin/stdout/stderr (+ msvcrt's _iob rest)
        self.streams: dict = {}      # FILE address -> stdio.Stream
        self.fds: dict = {}          # fd -> stdio.Fd
        self.onexit: list[int] = []  # atexit / _onexit / _crt_atexit functions, in registration order
        self.quick_exit: list[int] = []
        self.per_thread: dict[int, dict] = {}
        self.environ: list[str] | None = None   # the CRT's copy of the environment ("NAME=value")
        self.environ_ptr = 0         # guest char** (_environ)
        self.wenviron_ptr = 0
        self.statics: dict[str, int] = {}       # named static guest buffers (strerror's, asctime's, ...)
        self.fmode = 0x4000          # _O_TEXT
        self.commode = 0
        self.app_type = 0
        self.invalid_parameter_handler = 0
        self.new_mode = 0
        self.exiting = False
        self.argc = 0
        self.argv = 0
        self.wargv = 0
        self.started = False
        self.user_matherr = 0
        self.fpcw = 0x9001F          # _controlfp default: _CW_DEFAULT (all masked, 53-bit, round nearest)
        self.printf_count_output = 0
        self.output_format = 0

    def thread(self, tid: int) -> dict:
        d = self.per_thread.get(tid)
        if d is None:
            d = self.per_thread[tid] = {"seed": 1, "strtok": 0, "wcstok": 0, "errno_addr": 0}
        return d


NTDLL_DLL = "ntdll.dll"


def _caller_dll(c) -> str:
    dll = c.dll     # the DLL whose stub the trap came through (winhatch.win32.api.call_class)
    if dll:
        return dll
    img = c.proc.subsystem["images"].find(c.cpu.pc)
    return img.name.lower() if img is not None else ""


def flavor_of(c) -> str:
    """Which CRT the guest called: the module holding the executing trap stub (ntdll's C runtime subset
    behaves as msvcrt's)."""
    dll = _caller_dll(c)
    return MSVCRT if dll in MSVCRT_LIKE or dll == NTDLL_DLL else UCRT


def state(c, flavor: str | None = None) -> CrtState:
    dll = _caller_dll(c)
    if flavor is None:
        flavor = MSVCRT if dll in MSVCRT_LIKE or dll == NTDLL_DLL else UCRT
    elif dll not in OLD_CRTS:
        dll = ""
    # ntdll's subset and each older CRT keep their own state
    key = "crt:" + ("ntdll" if dll == NTDLL_DLL else dll if dll in OLD_CRTS else flavor)
    s = c.proc.subsystem.get(key)
    if s is None:
        s = c.proc.subsystem[key] = CrtState(c, flavor)
        if dll == NTDLL_DLL:
            s.dll = NTDLL_DLL  # no exported _iob: its FILE structures (never used by ntdll) are private
        elif dll in OLD_CRTS:
            s.dll = dll
        from winhatch.win32.msvcrt import streams as stdio
        stdio.init_std_streams(c, s)
    return s


def states(proc) -> list[CrtState]:
    return [s for k, s in proc.subsystem.items() if isinstance(k, str) and k.startswith("crt:")]


def current_fmode(c, s: CrtState) -> int:
    """The default file translation mode: the program may have written the runtime's _fmode variable."""
    if s.flavor == MSVCRT:
        from winhatch.win32.msvcrt.exports import data_addr
        v = c.u32(data_addr(c, "_fmode"))
    else:
        a = s.statics.get("fmode")
        v = c.u32(a) if a else s.fmode
    return v or 0x4000


# ------------------------------------------------------------------------------------------ memory
def heap(c):
    return loader.state_of(c.proc).heaps.process_heap


def alloc(c, size: int, zero: bool = True) -> int:
    return heap(c).alloc(max(size, 1), 0x8 if zero else 0)


def static_buffer(c, s: CrtState, name: str, size: int) -> int:
    a = s.statics.get(name)
    if a is None:
        a = s.statics[name] = alloc(c, size)
    return a


def write_cstr(c, addr: int, data: bytes) -> None:
    c.write(addr, data + b"\0")


def new_cstr(c, data: bytes) -> int:
    a = alloc(c, len(data) + 1)
    c.write(a, data + b"\0")
    return a


def new_wstr(c, text: str) -> int:
    raw = text.encode("utf-16-le", "surrogatepass")
    a = alloc(c, len(raw) + 2)
    c.write(a, raw + b"\0\0")
    return a


def read_wstr_raw(c, addr: int) -> str:
    return c.wstr(addr, 1 << 20) or ""


# ------------------------------------------------------------------------------------------ errno
def errno_address(c, s: CrtState | None = None) -> int:
    s = s or state(c)
    t = s.thread(c.thread.tid)
    if not t["errno_addr"]:
        t["errno_addr"] = alloc(c, 16)   # errno, _doserrno
        _publish_errno(c, s, t["errno_addr"])
    return t["errno_addr"]


def _publish_errno(c, s: CrtState, addr: int) -> None:
    """The CRT keeps the address of each thread's errno block in a TLS slot of its own (msvcrt's _tiddata is
    found the same way), so that its native _errno/__doserrno (winhatch/win32/native_src/tls.c) read it: the
    index (+1) is in the DLL's native state."""
    from winhatch.win32 import native
    idx = getattr(s, "errno_tls", None)
    if idx is None:
        idx = -1
        dll = _caller_dll(c)
        st = native.state_address(c, dll) if "_errno" in native.NATIVE_EXPORTS.get(dll, ()) else None
        if st is not None:
            from winhatch.win32.kernel32.threads import TLS_MINIMUM_AVAILABLE, TlsAlloc, TlsFree
            from winhatch.kernel.structs import TEB
            last = c.u32(c.thread.teb + TEB.offset(c.arch, "LastErrorValue"))
            i = TlsAlloc(c)
            if i < TLS_MINIMUM_AVAILABLE:
                idx = i
                c.write_u32(st + native.STATE_ERRNO_TLS, i + 1)
            elif i != 0xFFFFFFFF:
                TlsFree(c, i)    # only the TEB's own slots are read natively
            c.set_last_error(last)
        s.errno_tls = idx
    if idx >= 0:
        from winhatch.kernel.structs import TEB
        c.write_ptr(c.thread.teb + TEB.offset(c.arch, "TlsSlots") + idx * c.ptr_size, addr)


def set_errno(c, value: int, s: CrtState | None = None) -> None:
    c.write_u32(errno_address(c, s), value)


def get_errno(c, s: CrtState | None = None) -> int:
    return c.u32(errno_address(c, s))


def set_doserrno(c, win32: int, s: CrtState | None = None) -> None:
    """_dosmaperr: _doserrno = the Win32 error, errno = its C equivalent."""
    a = errno_address(c, s)
    c.write_u32(a + 4, win32)
    c.write_u32(a, dosmaperr(win32))


# ------------------------------------------------------------------------------------------ failures
def not_implemented(c, what: str):
    """A CRT feature winhatch does not emulate: stop the guest loudly, as an unimplemented API does."""
    proc = c.proc
    where = proc.subsystem["images"].describe(c.cpu.read_ptr(c.cpu.sp))
    msg = f"unimplemented CRT feature: {what} (in {c.name} called from {where})"
    proc.subsystem.setdefault("unimplemented", []).append({"api": f"crt!{c.name}", "caller": where,
                                                           "feature": what})
    proc.stop_message = msg
    raise ProcessExit(STATUS_NOT_IMPLEMENTED)


def invalid_parameter(c, err: int = EINVAL, s: CrtState | None = None) -> None:
    """The CRT's invalid-parameter path. ucrt: call the handler set with _set_invalid_parameter_handler, or
    without one, _invoke_watson (fail fast: STATUS_STACK_BUFFER_OVERRUN). msvcrt: errno only (its default
    handler returns; msvcr80 to msvcr120 are as ucrt). The caller then returns its error value."""
    s = s or state(c)
    handler = s.invalid_parameter_handler
    if handler:
        c.machine.dispatcher.call_guest(c.thread, handler, [0, 0, 0, 0, 0])
    elif s.flavor == UCRT or s.dll in WATSON_CRTS:
        flush_all(c, s)
        c.proc.stop_message = f"invalid parameter passed to a C runtime function ({c.name})"
        raise ProcessExit(STATUS_STACK_BUFFER_OVERRUN)
    set_errno(c, err, s)


# ------------------------------------------------------------------------------------------ exit
def flush_all(c, s: CrtState | None = None) -> None:
    from winhatch.win32.msvcrt import streams as stdio
    for st in ([s] if s is not None else states(c.proc)):
        stdio.flush_all_streams(c, st)


def run_onexit(c, s: CrtState) -> None:
    while s.onexit:
        fn = s.onexit.pop()
        c.machine.dispatcher.call_guest(c.thread, fn, [], stdcall=False)


def crt_exit(c, status: int, *, run_handlers: bool = True, quick: bool = False) -> None:
    """exit / _exit / quick_exit: atexit handlers (LIFO), flush every stream, terminate the process."""
    s = state(c)
    if run_handlers and not s.exiting:
        s.exiting = True
        if quick:
            while s.quick_exit:
                c.machine.dispatcher.call_guest(c.thread, s.quick_exit.pop(), [], stdcall=False)
        else:
            run_onexit(c, s)
    if not quick:
        flush_all(c)
    ntdll.RtlExitUserProcess(c.machine, c.thread, status & 0xFFFFFFFF)


# ------------------------------------------------------------------------------------------ floating point
def double_to_ext80(value: float) -> int:
    """An IEEE double as the x87 80-bit extended value (exponent << 64 | mantissa)."""
    bits = struct.unpack("<Q", struct.pack("<d", value))[0]
    sign = bits >> 63
    exp = (bits >> 52) & 0x7FF
    frac = bits & ((1 << 52) - 1)
    if exp == 0 and frac == 0:
        e80, m = 0, 0
    elif exp == 0x7FF:
        e80, m = 0x7FFF, (1 << 63) | (frac << 11)
    elif exp == 0:  # subnormal double: normal in the extended format
        shift = 64 - frac.bit_length()
        m = frac << shift
        e80 = 16383 - 1022 - (shift - 11)
    else:
        e80, m = exp - 1023 + 16383, (1 << 63) | (frac << 11)
    return ((e80 | (sign << 15)) << 64) | m


def push_x87(cpu, value: float) -> None:
    """fld: push `value` on the x87 register stack (how x86 cdecl functions return a double in st(0))."""
    fpsw = cpu.reg("fpsw")
    top = ((fpsw >> 11) - 1) & 7
    cpu.set_reg(f"fp{top}", double_to_ext80(value))
    cpu.set_reg("fpsw", (fpsw & ~0x3800) | (top << 11))
    cpu.set_reg("fptag", cpu.reg("fptag") & ~(3 << (2 * top)))


def crt_api(dlls, proto: str, *, calls_guest: bool | str = SPECULATIVE, wide: str | None = None):
    """@api for C runtime handlers: SPECULATIVE by default (winhatch.kernel.ke.traps), because almost every CRT
    function can reach the invalid-parameter handler (guest code, once the program installed one): served in
    the CPU hook, and again deferred from its start when it does reach guest code — so a CRT handler does
    nothing irreversible before it calls invalid_parameter (validation comes first, as in the CRT's own
    _VALIDATE_RETURN). Functions that call guest code by design (exit, qsort, _initterm …) pass
    calls_guest=True."""
    return _api.api(dlls, proto, calls_guest=calls_guest, wide=wide)
