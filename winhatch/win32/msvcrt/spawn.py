"""The C runtimes' _spawn and _exec families and _cwait: a program started with CreateProcess (kernel32's, over
the process services) from an argument list.

- The command line is the arguments joined with spaces, as given: the CRT does not quote them (an argument
  with a space arrives as two; checked with Wine's msvcrt, as Microsoft's documentation of _spawn warns).
- The program: a name without an extension is tried with .com, .exe, .bat and .cmd (Microsoft's
  documentation); the p-variants (_spawnlp, _spawnvp...) look for a name without a directory in the current
  directory and then in each directory of PATH.
- Modes: _P_WAIT waits and returns the exit code; _P_NOWAIT and _P_NOWAITO return the process handle (_cwait
  waits on it); _P_DETACH starts it without a console and returns 0; _P_OVERLAY (the _exec family) starts it
  and ends the caller with _exit(0). Another mode: EINVAL before anything starts.
- Errors: -1 with errno ENOENT when no program is found, from the Win32 error otherwise.
- The environment: the process's own, or the envp list of the e-variants.
- Streams are flushed before the program starts (Wine's msvcrt: a parent's buffered output comes first).
- Handles are inherited; the CRT's lpReserved2 table of file descriptors beyond the standard handles is not
  passed (a child's descriptors 3 and up are not its parent's).

A _P_WAIT call waits with NtWaitForSingleObject, which blocks by running the handler again when the child has
ended: a mark on the thread (the API and its stack pointer) holds the started child, so it starts only once."""
from __future__ import annotations

from winhatch.win32.msvcrt import runtime as R
from winhatch.win32.msvcrt.runtime import crt_api as api
from winhatch.win32.va import VaArgs

BOTH = R.BOTH
P_WAIT, P_NOWAIT, P_OVERLAY, P_NOWAITO, P_DETACH = range(5)
ECHILD = 10
DETACHED_PROCESS = 0x8
CREATE_UNICODE_ENVIRONMENT = 0x400
ERROR_FILE_NOT_FOUND, ERROR_PATH_NOT_FOUND = 2, 3
INVALID_FILE_ATTRIBUTES = 0xFFFFFFFF
FILE_ATTRIBUTE_DIRECTORY = 0x10
MAX_ARGS = 4096             # a bound on a guest's argument list
EXTENSIONS = (".com", ".exe", ".bat", ".cmd")


def _text(c, p: int, wide: bool) -> str:
    return c.wstr(p) if wide else c.cstr(p).decode("cp1252", "replace")


def _list(c, va_or_array, wide: bool, from_va: bool) -> tuple[list[str], int]:
    """The strings of an argument list up to its NULL; with from_va, also the pointer after the NULL (the
    envp of _spawnle/_spawnlpe)."""
    out = []
    for _ in range(MAX_ARGS):
        if from_va:
            p = va_or_array.ptr()
        else:
            p = c.ptr(va_or_array)
            va_or_array += c.ptr_size
        if not p:
            break
        out.append(_text(c, p, wide))
    else:
        R.not_implemented(c, f"{c.name} with more than {MAX_ARGS} arguments")
    after = va_or_array.ptr() if from_va else 0
    return out, after


def _is_file(c, path: str) -> bool:
    from winhatch.win32.kernel32.ntfile import GetFileAttributes
    a = GetFileAttributes(c, path)
    return a != INVALID_FILE_ATTRIBUTES and not a & FILE_ATTRIBUTE_DIRECTORY


def _with_extensions(c, path: str) -> str | None:
    base = path.rsplit("\\", 1)[-1].rsplit("/", 1)[-1]
    if "." in base:
        return path if _is_file(c, path) else None
    for ext in EXTENSIONS:
        if _is_file(c, path + ext):
            return path + ext
    return None


def _find(c, name: str, search: bool) -> str | None:
    found = _with_extensions(c, name)
    if found or not search or any(ch in name for ch in "\\/:"):
        return found
    from winhatch.win32.kernel32.env import environment
    path = next((v for k, v in environment(c).items() if k.upper() == "PATH"), "")
    for d in path.split(";")[:1024]:
        d = d.strip().strip('"')
        if d:
            found = _with_extensions(c, d.rstrip("\\/") + "\\" + name)
            if found:
                return found
    return None


def spawn(c, mode: int, name_p: int, args: list[str], envp: list[str] | None, search: bool, wide: bool) -> int:
    s = R.state(c)
    key = (c.name, c._sp)
    mark = getattr(c.thread, "crt_spawn_wait", None)
    if mark is not None and mark[0] == key:
        return _wait_child(c, mark[1])
    if not name_p or not args or mode not in (P_WAIT, P_NOWAIT, P_OVERLAY, P_NOWAITO, P_DETACH):
        R.invalid_parameter(c, R.EINVAL, s)
        return -1
    name = _text(c, name_p, wide)
    program = _find(c, name, search)
    if program is None:
        R.set_errno(c, R.ENOENT, s)
        return -1
    from winhatch.kernel.ps.create import CreateProcessInternalW
    from winhatch.ntstatus import NtStatusError, nt_to_win32
    env = None
    if envp is not None:
        env = {}
        for item in envp:
            k, _, v = item.partition("=")
            env[k] = v
    R.flush_all(c, s)
    try:
        res = CreateProcessInternalW(c.machine, c.thread, program, " ".join(args), inherit_handles=True,
                                     creation_flags=DETACHED_PROCESS if mode == P_DETACH else 0,
                                     environment=env)
        ok, err = res.ok, res.error
    except NtStatusError as e:
        ok, err = False, nt_to_win32(e.status)
    if not ok:
        R.set_errno(c, R.dosmaperr(err), s)
        return -1
    if res.thread is not None and res.thread.runnable:
        c.machine.dispatcher.thread_ready(res.thread)
    c.nt("NtClose", res.thread_handle)
    if mode == P_OVERLAY:
        c.nt("NtClose", res.process_handle)
        from winhatch.ldr import ntdll
        ntdll.RtlExitUserProcess(c.machine, c.thread, 0)     # _exit(0): the caller ends, the program goes on
    if mode == P_DETACH:
        c.nt("NtClose", res.process_handle)
        return 0
    if mode in (P_NOWAIT, P_NOWAITO):
        return res.process_handle
    c.thread.crt_spawn_wait = (key, res.process_handle)
    return _wait_child(c, res.process_handle)


def _exit_code(c, h: int) -> int | None:
    from winhatch.win32.kernel32.process import process_basic
    buf = process_basic(c, h)               # PROCESS_BASIC_INFORMATION: ExitStatus first
    return None if buf is None else c.u32(buf)


def _wait_child(c, h: int) -> int:
    c.nt("NtWaitForSingleObject", h, 0, 0)       # blocks: the handler runs again when the child has ended
    c.thread.crt_spawn_wait = None
    code = _exit_code(c, h)
    c.nt("NtClose", h)
    return -1 if code is None else code


def _mode(v: int) -> int:
    return v if v < 1 << 31 else v - (1 << 32)


# ------------------------------------------------------------------------------------------- the exports
def _l(search: bool, env: bool, wide: bool, exec_: bool):
    def handler(c, *params):
        mode, at = (P_OVERLAY, 0) if exec_ else (_mode(params[0]), 1)
        args, after = _list(c, VaArgs.after_params(c), wide, True)
        envp = _list(c, after, wide, False)[0] if env and after else None
        return spawn(c, mode, _arg(c, at), args, envp, search, wide)
    return handler


def _v(search: bool, env: bool, wide: bool, exec_: bool):
    def handler(c, *params):
        mode, at = (P_OVERLAY, 0) if exec_ else (_mode(params[0]), 1)
        argv = params[at + 1]
        args = _list(c, argv, wide, False)[0] if argv else []
        envp = _list(c, params[at + 2], wide, False)[0] if env and params[at + 2] else None
        return spawn(c, mode, _arg(c, at), args, envp, search, wide)
    return handler


def _arg(c, i: int) -> int:
    """The raw pointer of parameter i (the program name, decoded for the trace)."""
    cpu = c.cpu
    if cpu.is64:
        return cpu.reg(("rcx", "rdx", "r8", "r9")[i])
    return cpu.read_u32(c._sp + 4 + 4 * i)


for _w, _ch in ((False, "char"), (True, "wchar_t")):
    _x = "w" if _w else ""
    for _suffix, _search, _env in (("", False, False), ("e", False, True), ("p", True, False), ("pe", True, True)):
        _extra = f", const {_ch} *const *envp" if _env else ""
        api(BOTH, f"intptr_t __cdecl _{_x}spawnl{_suffix}(int mode, const {_ch} *cmdname, ...)")(
            _l(_search, _env, _w, False))
        api(BOTH, f"intptr_t __cdecl _{_x}spawnv{_suffix}(int mode, const {_ch} *cmdname, "
                  f"const {_ch} *const *argv{_extra})")(_v(_search, _env, _w, False))
        # the _exec family ends the caller (DLL detach runs guest code): served outside the CPU hook from the start
        api(BOTH, f"intptr_t __cdecl _{_x}execl{_suffix}(const {_ch} *cmdname, ...)", calls_guest=True)(
            _l(_search, _env, _w, True))
        api(BOTH, f"intptr_t __cdecl _{_x}execv{_suffix}(const {_ch} *cmdname, const {_ch} *const *argv{_extra})",
            calls_guest=True)(_v(_search, _env, _w, True))


@api(BOTH, "intptr_t __cdecl _cwait(int *termstat, intptr_t procHandle, int action)")
def _cwait(c, termstat, h, action):
    s = R.state(c)
    code = None
    if h:
        st = c.nt("NtWaitForSingleObject", h, 0, 0)      # blocks: runs again when the process has ended
        if not st >> 31:
            code = _exit_code(c, h)
    if code is None:
        R.set_errno(c, ECHILD if h else R.EINVAL, s)
        return -1
    if termstat:
        c.write_u32(termstat, code)
    return h
