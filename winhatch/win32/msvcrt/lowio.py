"""The C runtimes' _pipe (an anonymous pipe as two file descriptors, read end first), _getdrive and
_set_error_mode."""
from __future__ import annotations

from winhatch.kernel.io import vfs as V
from winhatch.kernel.io.pipe import create_pipe
from winhatch.ntstatus import NtStatusError, nt_to_win32
from winhatch.win32.msvcrt import runtime as R
from winhatch.win32.msvcrt import streams as S
from winhatch.win32.msvcrt.runtime import crt_api as api

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
    from winhatch.win32.kernel32.common import cwd
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


# ------------------------------------------------------------------------------------------ current directory
def _put_dir(c, s, text: str, buf: int, maxlen: int) -> int:
    """_getcwd's result convention: into buf (maxlen characters with the NUL) or, for a NULL buf, a malloc'd
    buffer of max(length + 1, maxlen) characters; too small: ERANGE and NULL."""
    wide = c.name.startswith("_w")     # _wgetcwd, _wgetdcwd, _wfullpath share their narrow twin's handler
    data = text.encode("utf-16-le", "surrogatepass") if wide else text.encode("cp1252", "replace")
    unit = 2 if wide else 1
    n = len(data) // unit + 1
    maxlen = maxlen - (1 << 32) if maxlen & 0x80000000 else maxlen
    if not buf:
        buf = R.alloc(c, max(n, maxlen) * unit)
        if not buf:
            R.set_errno(c, R.ENOMEM, s)
            return 0
    elif maxlen <= 0:
        R.invalid_parameter(c, R.EINVAL, s)
        return 0
    elif n > maxlen:
        R.set_errno(c, R.ERANGE, s)
        return 0
    c.write(buf, data + b"\0" * unit)
    return buf


@api(R.BOTH, "char * __cdecl _getcwd(char *buffer, int maxlen)")
def _getcwd(c, buf, maxlen):
    """The current directory (no trailing backslash but for a root), in the ANSI code page (_wgetcwd: UTF-16)."""
    from winhatch.win32.kernel32.common import cwd
    return _put_dir(c, R.state(c), cwd(c), buf, maxlen)


api(R.BOTH, "wchar_t * __cdecl _wgetcwd(wchar_t *buffer, int maxlen)")(_getcwd)


@api(R.BOTH, "char * __cdecl _getdcwd(int drive, char *buffer, int maxlen)")
def _getdcwd(c, drive, buf, maxlen):
    """The current directory of drive `drive` (1 = A:, 0 = the current drive): the process's own for its
    drive, the drive's root for another one that exists (winhatch keeps no per-drive directories: the
    "=X:" environment variables cmd.exe sets are not modelled); a drive that does not exist: EACCES with
    _doserrno ERROR_INVALID_DRIVE (15)."""
    from winhatch.win32.kernel32.common import cwd
    s = R.state(c)
    drive = drive - (1 << 32) if drive & 0x80000000 else drive
    cur = cwd(c)
    if drive == 0 or (cur[1:2] == ":" and ord(cur[0].upper()) - ord("A") + 1 == drive):
        return _put_dir(c, s, cur, buf, maxlen)
    if not 1 <= drive <= 26:
        R.set_doserrno(c, 15, s)
        R.set_errno(c, R.EACCES, s)
        return 0
    root = chr(ord("A") + drive - 1) + ":\\"
    try:
        if not c.machine.vfs.stat(root, cur).is_dir:
            raise LookupError
    except (LookupError, NtStatusError):
        R.set_doserrno(c, 15, s)
        R.set_errno(c, R.EACCES, s)
        return 0
    return _put_dir(c, s, root, buf, maxlen)


api(R.BOTH, "wchar_t * __cdecl _wgetdcwd(int drive, wchar_t *buffer, int maxlen)")(_getdcwd)


@api(R.BOTH, "int __cdecl _chdir(const char *dirname)")
def _chdir(c, path):
    """SetCurrentDirectory; 0, or -1 with errno from the Win32 error (ENOENT for a missing directory)."""
    from winhatch.win32.kernel32.files import SetCurrentDirectory
    s = R.state(c)
    if path is None:
        R.invalid_parameter(c, R.EINVAL, s)
        return -1
    if SetCurrentDirectory(c, path):
        return 0
    R.set_doserrno(c, c.last_error(), s)
    return -1


api(R.BOTH, "int __cdecl _wchdir(const wchar_t *dirname)")(_chdir)


@api(R.BOTH, "char * __cdecl _fullpath(char *absPath, const char *relPath, size_t maxLength)")
def _fullpath(c, buf, rel, maxlen):
    """GetFullPathName of relPath (the current directory for NULL or ""), with _getcwd's buffer rules
    (NULL absPath: a malloc'd buffer of _MAX_PATH (260) characters or more; too small: ERANGE)."""
    from winhatch.win32.kernel32.common import cwd
    s = R.state(c)
    cur = cwd(c)
    try:
        full = c.machine.vfs.full_path(rel, cur) if rel else cur
    except NtStatusError as e:
        R.set_doserrno(c, nt_to_win32(e.status), s)
        return 0
    if not buf:
        maxlen = max(maxlen, 260)
    return _put_dir(c, s, full, buf, min(maxlen, 0x7FFFFFFF))


api(R.BOTH, "wchar_t * __cdecl _wfullpath(wchar_t *absPath, const wchar_t *relPath, size_t maxLength)")(_fullpath)
