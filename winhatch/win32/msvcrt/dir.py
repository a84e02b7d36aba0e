"""The C runtimes' directory and process-identity functions (_mkdir, _rmdir, _getpid, _tempnam; _chdir,
_getcwd and _fullpath are in lowio), the restartable multibyte conversions (mbrtowc, mbrlen, wcrtomb), _timespec_get and the
single-byte core of the _mbs* family, shared by msvcrt.dll and ucrtbase.dll.

Errors follow the documented CRT contract: the Win32 error of the underlying kernel32 operation becomes errno
through _dosmaperr (_doserrno keeps the Win32 code), a NULL path is an invalid parameter (EINVAL).

_tempnam (Microsoft's documentation): the directory is TMP when it names an existing directory, else `dir`
when it does, else P_tmpdir ("\\", the root of the current drive); the name is the directory, a separator,
the prefix and a sequential decimal number, the first that names no existing file; no extension; the
result is allocated with malloc.

The _mbs* functions use the multibyte code page the runtime sets at start-up (_setmbcp(_MB_CP_ANSI): the
ANSI code page, 1252 on this machine), a single-byte code page: no byte is a lead byte, so a multibyte
character is one byte and these functions are their str* counterparts.
"""
from __future__ import annotations

from winhatch.kernel.ob import KObject

import struct

from winhatch.win32.msvcrt import runtime as R
from winhatch.win32.msvcrt.runtime import crt_api as api

BOTH = R.BOTH
U = R.UCRT_DLL
EOF32 = 0xFFFFFFFF
ERANGE = R.ERANGE


def _i32(v: int) -> int:
    return v & 0xFFFFFFFF


def _fail_last_error(c, s) -> int:
    R.set_doserrno(c, c.last_error(), s)
    return EOF32


# ------------------------------------------------------------------------------------------ directories
@api(BOTH, "int __cdecl _mkdir(const char *path)")
def _mkdir(c, path):
    from winhatch.win32.kernel32.ntfile import CreateDirectory
    s = R.state(c)
    if path is None:
        R.invalid_parameter(c, R.EINVAL, s)
        return EOF32
    return 0 if CreateDirectory(c, path, 0) else _fail_last_error(c, s)


api(BOTH, "int __cdecl _wmkdir(const wchar_t *path)")(_mkdir)


@api(BOTH, "int __cdecl _rmdir(const char *path)")
def _rmdir(c, path):
    from winhatch.win32.kernel32.ntfile import RemoveDirectory
    s = R.state(c)
    if path is None:
        R.invalid_parameter(c, R.EINVAL, s)
        return EOF32
    return 0 if RemoveDirectory(c, path) else _fail_last_error(c, s)


api(BOTH, "int __cdecl _wrmdir(const wchar_t *path)")(_rmdir)


# ------------------------------------------------------------------------------------------ the process
@api(BOTH, "int __cdecl _getpid(void)")
def _getpid(c):
    return c.proc.pid


# ------------------------------------------------------------------------------------------ temporary names
def _env(c, s, name: str) -> str | None:
    """getenv(name): the runtime's own copy of the environment (what _putenv changes)."""
    from winhatch.win32.msvcrt import startup
    for item in startup.crt_environ(c, s):
        k, _, v = item.partition("=")
        if k.upper() == name:
            return v
    return None


def _is_dir(c, path: str | None) -> bool:
    from winhatch.win32.kernel32.common import cwd, guest_path
    from winhatch.ntstatus import NtStatusError
    if not path:
        return False
    try:
        return bool(c.machine.vfs.stat(guest_path(c, path), cwd(c)).is_dir)
    except NtStatusError:
        return False


@api(BOTH, "char * __cdecl _tempnam(const void *dir, const void *prefix)", wide="_wtempnam")
def _tempnam(c, dir_, prefix):
    from winhatch.win32.kernel32.common import cwd, guest_path
    s = R.state(c)
    if c.wide:
        dir_ = c.wstr(dir_) if dir_ else None
        prefix = c.wstr(prefix) if prefix else None
    else:
        dir_ = c.astr(dir_) if dir_ else None
        prefix = c.astr(prefix) if prefix else None
    tmp = _env(c, s, "TMP")
    if _is_dir(c, tmp):
        d = tmp
    elif _is_dir(c, dir_):
        d = dir_
    else:
        d = "\\"                                   # P_tmpdir: the root of the current drive
    sep = "" if d.endswith(("\\", "/", ":")) else "\\"
    base = d + sep + (prefix or "")
    n = getattr(s, "tempnam_counter", 0)
    for _ in range(1 << 20):
        n += 1
        name = f"{base}{n}"
        if not c.machine.vfs.exists(guest_path(c, name), cwd(c)):
            s.tempnam_counter = n
            if c.wide:
                return R.new_wstr(c, name)
            return R.new_cstr(c, name.encode("cp1252", "replace"))
    R.set_errno(c, R.EEXIST, s)
    return 0


# ------------------------------------------------------------------------------------------ restartable multibyte
def _mbstate_clear(c, ps: int) -> None:
    if ps:
        c.write_u32(ps, 0)


@api(BOTH, "size_t __cdecl mbrtowc(wchar_t *dst, const void *src, size_t n, void *state)")
def mbrtowc(c, dst, src, n, ps):
    """One character of the LC_CTYPE locale's single-byte code page: 0 for the NUL, 1 otherwise. n = 0:
    msvcrt reports an incomplete character ((size_t)-2), ucrt examines nothing and returns 0 (as Wine's
    ucrtbase does). A NULL src resets the state (returns 0)."""
    from winhatch.win32.msvcrt.string import _mb_decode
    mask = (1 << (8 * c.ptr_size)) - 1
    if not src:
        _mbstate_clear(c, ps)
        return 0
    if not n & mask:
        return 0 if R.flavor_of(c) == R.UCRT else mask - 1
    b = c.read(src, 1)[0]
    if dst:
        c.write(dst, struct.pack("<H", _mb_decode(c, bytes([b]))[0]))
    return 0 if b == 0 else 1


@api(BOTH, "size_t __cdecl mbrlen(const void *src, size_t n, void *state)")
def mbrlen(c, src, n, ps):
    return mbrtowc(c, 0, src, n, ps)


@api(BOTH, "size_t __cdecl wcrtomb(char *dst, wchar_t ch, void *state)")
def wcrtomb(c, dst, ch, ps):
    """The character's byte in the LC_CTYPE locale (1); a character the code page lacks: EILSEQ, (size_t)-1.
    A NULL dst: the length of the reset sequence (1, for L'\\0')."""
    from winhatch.win32.msvcrt.string import _mb_encode_unit
    mask = (1 << (8 * c.ptr_size)) - 1
    if not dst:
        _mbstate_clear(c, ps)
        return 1
    b = _mb_encode_unit(c, ch & 0xFFFF)
    if b is None:
        R.set_errno(c, R.EILSEQ)
        return mask
    c.write(dst, bytes([b]))
    return 1


# ------------------------------------------------------------------------------------------ timespec_get
TIME_UTC = 1


def _timespec_get(c, ts, base, bits: int):
    s = R.state(c)
    if not ts or base != TIME_UTC:
        if not ts:
            R.invalid_parameter(c, R.EINVAL, s)
        return 0
    ft = c.machine.clock.system_time() - 116444736000000000
    sec, frac = divmod(ft, 10_000_000)
    c.write(ts, sec.to_bytes(bits // 8, "little", signed=True) + struct.pack("<i", frac * 100))
    return base


@api(U, "int __cdecl _timespec64_get(void *ts, int base)")
def _timespec64_get(c, ts, base):
    return _timespec_get(c, ts, base, 64)


@api(U, "int __cdecl _timespec32_get(void *ts, int base)")
def _timespec32_get(c, ts, base):
    return _timespec_get(c, ts, base, 32)


# ------------------------------------------------------------------------------------------ _mbs* (single-byte)
@api(BOTH, "unsigned char * __cdecl _mbsrchr(const unsigned char *s, unsigned int ch)")
def _mbsrchr(c, p, ch):
    """The last occurrence of ch (the terminating NUL counts: ch 0 finds it)."""
    s = R.state(c)
    if not p:
        R.invalid_parameter(c, R.EINVAL, s)
        return 0
    data = c.cstr(p, 1 << 24) or b""
    ch &= 0xFFFF
    if ch == 0:
        return p + len(data)
    if ch > 0xFF:
        return 0                      # a two-byte character cannot occur in a single-byte code page
    i = data.rfind(bytes([ch]))
    return 0 if i < 0 else p + i


@api(BOTH, "unsigned char * __cdecl _mbschr(const unsigned char *s, unsigned int ch)")
def _mbschr(c, p, ch):
    s = R.state(c)
    if not p:
        R.invalid_parameter(c, R.EINVAL, s)
        return 0
    data = c.cstr(p, 1 << 24) or b""
    ch &= 0xFFFF
    if ch == 0:
        return p + len(data)
    if ch > 0xFF:
        return 0
    i = data.find(bytes([ch]))
    return 0 if i < 0 else p + i


# ------------------------------------------------------------------------------------------ _findfirst / _findnext
# struct _finddata*_t (offsetof checked with mingw-w64, identical on x86 and x64):
#   variant   time    size   attrib time_create time_access time_write size  name  sizeof (wide)
#   32        32-bit  32-bit 0      4           8           12         16    20    280 (540)
#   32i64     32-bit  64-bit 0      4           8           12         16    24    288 (544)
#   64i32     64-bit  32-bit 0      8           16          24         32    36    296 (560)
#   64        64-bit  64-bit 0      8           16          24         32    40    304 (560)
# msvcrt's own names pick by architecture: _findfirst is 32 on x86 and 64i32 on x64, _findfirsti64 is 32i64 on
# x86 and 64 on x64. attrib is the file's attributes, 0 (_A_NORMAL) for FILE_ATTRIBUTE_NORMAL; a time the file
# system does not keep is -1. The search handle is the FindFirstFile handle.
FIND_VARIANTS = {"32": (False, False), "32i64": (False, True), "64i32": (True, False), "64": (True, True)}
FILE_ATTRIBUTE_NORMAL = 0x80
MAX_PATH = 260


def _find_variant(c) -> str:
    name = c.name
    tail = name[name.index("find") + 4:].removeprefix("first").removeprefix("next")
    if tail in FIND_VARIANTS:
        return tail
    if tail == "i64":
        return "64" if c.ptr_size == 8 else "32i64"
    return "64i32" if c.ptr_size == 8 else "32"


def _write_finddata(c, buf: int, fi, variant: str) -> None:
    from winhatch.win32.msvcrt.stat import _time_t
    t64, s64 = FIND_VARIANTS[variant]

    def t(ft: int) -> int:
        v = _time_t(ft) if ft else -1
        return v if t64 else (v if -0x80000000 <= v <= 0x7FFFFFFF else -1)
    attrib = 0 if fi.attributes == FILE_ATTRIBUTE_NORMAL else fi.attributes
    times = (t(fi.creation_time), t(fi.last_access_time), t(fi.last_write_time))
    if t64:
        head = struct.pack("<I4xqqq", attrib, *times)
    else:
        head = struct.pack("<Iiii", attrib, *times)
    head += struct.pack("<Q", fi.size) if s64 else struct.pack("<I", fi.size & 0xFFFFFFFF)
    if c.wide:
        name = fi.name.encode("utf-16-le")[:2 * (MAX_PATH - 1)].ljust(2 * MAX_PATH, b"\0")
    else:
        name = fi.name.encode("cp1252", "replace")[:MAX_PATH - 1].ljust(MAX_PATH, b"\0")
    c.write(buf, head + name)


class _CrtFind(KObject):
    """The entries behind a _findfirst handle (the C runtime's own search; kernel32's FindFirstFile keeps a
    directory handle instead)."""
    type_name = "FindFile"

    def __init__(self, entries):
        super().__init__()
        self.entries = list(entries)
        self.index = 0


@api(BOTH, "intptr_t __cdecl _findfirst(const void *spec, void *data)", wide="_wfindfirst")
def _findfirst(c, spec, data):
    from winhatch.win32.kernel32.common import cwd, guest_path
    from winhatch.ntstatus import NtStatusError
    s = R.state(c)
    mask = (1 << (8 * c.ptr_size)) - 1
    if not spec or not data:
        R.invalid_parameter(c, R.EINVAL, s)
        return mask
    text = c.tstr(spec) or ""
    try:
        entries = c.machine.vfs.find(guest_path(c, text), cwd(c)) if text and not text.endswith(("\\", "/")) \
            else []
    except NtStatusError:
        entries = []
    if not entries:
        c.set_last_error(2)   # FindFirstFile: ERROR_FILE_NOT_FOUND
        R.set_doserrno(c, 2, s)
        return mask
    fh = _CrtFind(entries)
    _write_finddata(c, data, fh.entries[0], _find_variant(c))
    fh.index = 1
    return c.proc.handles.insert(fh, 0x1F01FF)


@api(BOTH, "int __cdecl _findnext(intptr_t handle, void *data)", wide="_wfindnext")
def _findnext(c, h, data):
    from winhatch.ntstatus import NtStatusError
    s = R.state(c)
    if not data:
        R.invalid_parameter(c, R.EINVAL, s)
        return EOF32
    try:
        fh = c.proc.handles.lookup(h, "FindFile")
    except NtStatusError:
        R.invalid_parameter(c, R.EINVAL, s)
        return EOF32
    if fh.index >= len(fh.entries):
        # FindNextFile's end: the last error is ERROR_NO_MORE_FILES (mingw-w64's readdir tests it to tell the
        # end of a directory from an error), _doserrno likewise, errno ENOENT (_dosmaperr)
        c.set_last_error(18)
        R.set_doserrno(c, 18, s)
        return EOF32
    _write_finddata(c, data, fh.entries[fh.index], _find_variant(c))
    fh.index += 1
    return 0


@api(BOTH, "int __cdecl _findclose(intptr_t handle)")
def _findclose(c, h):
    from winhatch.ntstatus import NtStatusError
    s = R.state(c)
    try:
        c.proc.handles.lookup(h, "FindFile")
        c.proc.handles.close(h)
    except NtStatusError:
        R.set_errno(c, R.ENOENT, s)
        return EOF32
    return 0


for _v in ("i64", "32", "32i64", "64", "64i32"):
    api(BOTH, f"intptr_t __cdecl _findfirst{_v}(const void *spec, void *data)", wide=f"_wfindfirst{_v}")(_findfirst)
    api(BOTH, f"int __cdecl _findnext{_v}(intptr_t handle, void *data)", wide=f"_wfindnext{_v}")(_findnext)


# ------------------------------------------------------------------------------------------ _splitpath / _makepath
# Microsoft's documentation: the drive is a letter and a colon; the directory runs to the last '\' or '/'
# (kept); the extension starts at the last '.' after it (kept); the file name is what lies between. The
# unchecked forms assume buffers of _MAX_DRIVE (3), _MAX_DIR, _MAX_FNAME and _MAX_EXT (256) characters.
_MAX_DRIVE, _MAX_DIR = 3, 256


def _split(path: str) -> tuple[str, str, str, str]:
    drive = ""
    if len(path) >= 2 and path[1] == ":":
        drive, path = path[:2], path[2:]
    cut = max(path.rfind("\\"), path.rfind("/")) + 1
    directory, name = path[:cut], path[cut:]
    dot = name.rfind(".")
    if dot < 0:
        return drive, directory, name, ""
    return drive, directory, name[:dot], name[dot:]


def _wide(c) -> bool:
    return c.name.startswith("_w")


def _put(c, addr: int, text: str) -> None:
    if addr:
        c.write(addr, text.encode("utf-16-le", "surrogatepass") + b"\0\0" if _wide(c)
                else text.encode("cp1252", "replace") + b"\0")


@api(BOTH, "void __cdecl _splitpath(const char *path, char *drive, char *dir, char *fname, char *ext)")
def _splitpath(c, path, drive, directory, fname, ext):
    if path is None:
        R.invalid_parameter(c, R.EINVAL)
        return
    parts = _split(path)
    parts = (parts[0], parts[1][:_MAX_DIR - 1], parts[2][:255], parts[3][:255])
    for addr, text in zip((drive, directory, fname, ext), parts):
        _put(c, addr, text)


api(BOTH, "void __cdecl _wsplitpath(const wchar_t *path, wchar_t *drive, wchar_t *dir, wchar_t *fname, "
          "wchar_t *ext)")(_splitpath)


@api(BOTH, "errno_t __cdecl _splitpath_s(const char *path, char *drive, size_t driveNumberOfElements, char *dir, "
           "size_t dirNumberOfElements, char *fname, size_t nameNumberOfElements, char *ext, "
           "size_t extNumberOfElements)")
def _splitpath_s(c, path, drive, ndrive, directory, ndir, fname, nfname, ext, next_):
    """The checked form: a NULL buffer must come with size 0 and a buffer with a size; a result too long for
    its buffer empties every buffer and is ERANGE."""
    bufs = ((drive, ndrive), (directory, ndir), (fname, nfname), (ext, next_))
    if path is None or any((a == 0) != (n == 0) for a, n in bufs):
        for a, n in bufs:
            if a and n:
                _put(c, a, "")
        R.invalid_parameter(c, R.EINVAL)
        return R.EINVAL
    parts = _split(path)
    if any(a and len(t) + 1 > n for (a, n), t in zip(bufs, parts)):
        for a, n in bufs:
            if a:
                _put(c, a, "")
        R.invalid_parameter(c, R.ERANGE)
        return R.ERANGE
    for (a, _n), t in zip(bufs, parts):
        _put(c, a, t)
    return 0


api(BOTH, "errno_t __cdecl _wsplitpath_s(const wchar_t *path, wchar_t *drive, size_t driveNumberOfElements, "
          "wchar_t *dir, size_t dirNumberOfElements, wchar_t *fname, size_t nameNumberOfElements, wchar_t *ext, "
          "size_t extNumberOfElements)")(_splitpath_s)


def _join(drive, directory, fname, ext) -> str:
    out = ""
    if drive:
        out += drive[0] + ":"
    if directory:
        out += directory if directory[-1] in "\\/" else directory + "\\"
    if fname:
        out += fname
    if ext:
        out += ext if ext[0] == "." else "." + ext
    return out


@api(BOTH, "void __cdecl _makepath(char *path, const char *drive, const char *dir, const char *fname, "
           "const char *ext)")
def _makepath(c, path, drive, directory, fname, ext):
    """The path from its parts: a drive letter and ':', the directory and a '\\' unless it ends with one, the
    name, and the extension with a '.' unless it starts with one (empty or NULL parts are left out)."""
    if not path:
        R.invalid_parameter(c, R.EINVAL)
        return
    _put(c, path, _join(drive, directory, fname, ext))


api(BOTH, "void __cdecl _wmakepath(wchar_t *path, const wchar_t *drive, const wchar_t *dir, const wchar_t *fname, "
          "const wchar_t *ext)")(_makepath)


@api(BOTH, "errno_t __cdecl _makepath_s(char *path, size_t sizeInCharacters, const char *drive, const char *dir, "
           "const char *fname, const char *ext)")
def _makepath_s(c, path, size, drive, directory, fname, ext):
    if not path or not size:
        R.invalid_parameter(c, R.EINVAL)
        return R.EINVAL
    text = _join(drive, directory, fname, ext)
    if len(text) + 1 > size:
        _put(c, path, "")
        R.invalid_parameter(c, R.ERANGE)
        return R.ERANGE
    _put(c, path, text)
    return 0


api(BOTH, "errno_t __cdecl _wmakepath_s(wchar_t *path, size_t sizeInCharacters, const wchar_t *drive, "
          "const wchar_t *dir, const wchar_t *fname, const wchar_t *ext)")(_makepath_s)
