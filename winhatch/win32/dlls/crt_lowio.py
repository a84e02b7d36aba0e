"""The C runtimes' _pipe (an anonymous pipe as two file descriptors, read end first), _getdrive and
_set_error_mode."""
from __future__ import annotations

from winhatch.kernel.io import vfs as V
from winhatch.kernel.io.pipe import create_pipe
from winhatch.win32.crt import runtime as R
from winhatch.win32.crt import stdio as S
from winhatch.win32.crt.runtime import crt_api as api

_O_TEXT, _O_BINARY, _O_NOINHERIT = 0x4000, 0x8000, 0x80
_O_WTEXT, _O_U16TEXT, _O_U8TEXT = 0x10000, 0x20000, 0x40000


@api(R.BOTH, "int __cdecl _pipe(int *pfds, unsigned int psize, int textmode)")
def _pipe(c, pfds, psize, textmode):
    """pfds[0] reads, pfds[1] writes; `textmode` is _O_BINARY, _O_TEXT (or 0: the default _fmode), with
    _O_NOINHERIT for handles a child does not inherit. A NULL array or another flag: the invalid-parameter
    path (EINVAL); no free descriptors: EMFILE. The Unicode text modes stop loudly (not implemented)."""
    s = R.state(c)
    if not pfds or textmode & ~(_O_NOINHERIT | _O_BINARY | _O_TEXT | _O_WTEXT | _O_U16TEXT | _O_U8TEXT):
        R.invalid_parameter(c, R.EINVAL, s)
        return -1
    if textmode & (_O_WTEXT | _O_U16TEXT | _O_U8TEXT):
        R.not_implemented(c, "_pipe in a Unicode text mode")
    pipe = create_pipe(c.machine, psize)
    inherit = not textmode & _O_NOINHERIT
    hr = c.proc.handles.insert(pipe.read_end, V.FILE_GENERIC_READ | V.FILE_WRITE_ATTRIBUTES, inherit=inherit)
    hw = c.proc.handles.insert(pipe.write_end, V.FILE_GENERIC_WRITE | V.FILE_READ_ATTRIBUTES, inherit=inherit)
    text = textmode & _O_TEXT or (not textmode & _O_BINARY and R.current_fmode(c, s) != _O_BINARY)
    flags = (S.FTEXT if text else 0) | (S.FNOINHERIT if not inherit else 0)
    fr = S.fd_for_handle(s, hr, pipe.read_end, flags)
    fw = S.fd_for_handle(s, hw, pipe.write_end, flags) if fr >= 0 else -1
    if fr < 0 or fw < 0:
        if fr >= 0:
            del s.fds[fr]
        c.proc.handles.close(hr)
        c.proc.handles.close(hw)
        R.set_errno(c, R.EMFILE, s)
        return -1
    c.write_u32(pfds, fr)
    c.write_u32(pfds + 4, fw)
    return 0


@api(R.BOTH, "int __cdecl _getdrive(void)")
def _getdrive(c):
    """The current drive (1 = A:), 0 when the current directory is a UNC path."""
    from .k32_common import cwd
    cur = cwd(c)
    return ord(cur[0].upper()) - ord("A") + 1 if cur[1:2] == ":" and cur[0].isalpha() else 0


@api(R.BOTH, "int __cdecl _set_error_mode(int mode)")
def _set_error_mode(c, mode):
    """Where the runtime reports a fatal error (assert, abort, runtime errors): _OUT_TO_DEFAULT (0),
    _OUT_TO_STDERR (1), _OUT_TO_MSGBOX (2); returns the previous mode. _REPORT_ERRMODE (3) only returns
    the current one; another value: the invalid-parameter path (EINVAL), -1. (winhatch writes such
    reports to stderr: a console program's default.)"""
    s = R.state(c)
    mode = mode - (1 << 32) if mode & 0x80000000 else mode
    old = getattr(s, "error_mode", 0)
    if mode == 3:
        return old
    if mode not in (0, 1, 2):
        R.invalid_parameter(c, R.EINVAL, s)
        return -1
    s.error_mode = mode
    return old
