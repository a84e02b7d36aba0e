"""The C runtimes' _stat / _wstat / _fstat family, every variant with its own structure.

The four layouts (checked with a mingw offsetof program, identical on x86 and x64):

    variant    time    size    sizeof   st_size  st_atime st_mtime st_ctime
    _stat32    32-bit  32-bit  36       20       24       28       32
    _stat32i64 32-bit  64-bit  48       24       32       36       40
    _stat64i32 64-bit  32-bit  48       20       24       32       40
    _stat64    64-bit  64-bit  56       24       32       40       48
    (all: st_dev @0 (unsigned), st_ino @4, st_mode @6, st_nlink @8, st_uid @10, st_gid @12 (shorts),
     st_rdev @16)

msvcrt.dll's own names pick by architecture, as its headers do: _stat/_wstat/_fstat are _stat32 on x86 and
_stat64i32 on x64; _stati64/_wstati64/_fstati64 are _stat32i64 on x86 and _stat64 on x64; _stat64 is
_stat64. ucrtbase names each variant (_stat32, _stat32i64, _stat64, _stat64i32 and the _w/_f forms).

What the fields hold (the CRT's documented behaviour):
- st_mode: _S_IFDIR (with _S_IEXEC) for a directory or a drive root, _S_IFREG for a file; _S_IREAD, and
  _S_IWRITE unless FILE_ATTRIBUTE_READONLY; _S_IEXEC for .exe .com .bat .cmd; the owner bits copied to
  the group and other bits. _fstat: _S_IFCHR for a character device, _S_IFIFO for a pipe, without
  permission bits; a pipe's st_size is the bytes waiting in it (PeekNamedPipe).
- st_dev = st_rdev = the drive number (A: = 0) of the path; for _fstat, the descriptor of a device or
  pipe and 0 for a file. st_nlink 1 (_fstat of a file: the file's link count). st_ino, st_uid, st_gid 0.
- times as time_t from the FILETIMEs (the access and creation times fall back to the write time when the
  file system has none); st_ctime is the creation time. A size or time that does not fit a 32-bit field:
  EOVERFLOW (ucrt); msvcrt truncates.
- a NULL path or buffer: the invalid-parameter path (EINVAL); a path with a wildcard (* or ?): ENOENT; a
  trailing separator (other than a root's): ENOENT in msvcrt (as documented for _stat), while ucrt accepts
  it after a directory (ENOENT after a file); a path that does not exist: ENOENT. _fstat of a descriptor that is not open: EBADF (invalid parameter).
"""
from __future__ import annotations

import struct

from winhatch.kernel.fileobj import FILE_TYPE_CHAR, FILE_TYPE_DISK, FILE_TYPE_PIPE
from winhatch.kernel.io import vfs as V
from winhatch.ntstatus import NtStatusError, nt_to_win32
from winhatch.win32.msvcrt import runtime as R
from winhatch.win32.msvcrt.runtime import crt_api as api

from winhatch.win32.kernel32.common import cwd as _cwd_of

_S_IFIFO, _S_IFCHR, _S_IFDIR, _S_IFREG = 0x1000, 0x2000, 0x4000, 0x8000
_S_IREAD, _S_IWRITE, _S_IEXEC = 0o400, 0o200, 0o100
EOVERFLOW = 132
EXEC_EXTENSIONS = (".exe", ".com", ".bat", ".cmd")
EPOCH_AS_FILETIME = 116444736000000000

# variant -> (64-bit time?, 64-bit size?)
VARIANTS = {"32": (False, False), "32i64": (False, True), "64i32": (True, False), "64": (True, True)}


def _variant(c) -> str:
    """The structure the called export fills, from its name (msvcrt's names by architecture)."""
    name = c.name
    base = name[name.index("stat") + 4:]
    if base in VARIANTS:
        return base
    if base == "i64":                    # _stati64, _wstati64, _fstati64 (msvcrt)
        return "64" if c.ptr_size == 8 else "32i64"
    return "64i32" if c.ptr_size == 8 else "32"     # _stat, _wstat, _fstat (msvcrt)


def _time_t(ft: int) -> int:
    return (ft - EPOCH_AS_FILETIME) // 10_000_000


def _pack(c, s, variant: str, dev: int, mode: int, nlink: int, size: int, atime: int, mtime: int,
          ctime: int) -> bytes | None:
    """The structure's bytes, or None (errno EOVERFLOW) when a value does not fit (ucrt)."""
    t64, s64 = VARIANTS[variant]
    fits = (s64 or size <= 0x7FFFFFFF) and (t64 or all(-0x80000000 <= t <= 0x7FFFFFFF for t in (atime, mtime, ctime)))
    if not fits:
        if s.flavor == R.UCRT:
            R.set_errno(c, EOVERFLOW, s)
            return None
        size &= 0xFFFFFFFF
        atime, mtime, ctime = (t & 0xFFFFFFFF for t in (atime, mtime, ctime))
    head = struct.pack("<IHHhhh2xI", dev, 0, mode, nlink, 0, 0, dev)
    if variant == "32":
        return head + struct.pack("<Iiii", size & 0xFFFFFFFF, *(_s32(t) for t in (atime, mtime, ctime)))
    if variant == "32i64":
        return head + struct.pack("<4xqiii4x", size, *(_s32(t) for t in (atime, mtime, ctime)))
    if variant == "64i32":
        return head + struct.pack("<Iqqq", size & 0xFFFFFFFF, atime, mtime, ctime)
    return head + struct.pack("<4xqqqq", size, atime, mtime, ctime)


def _s32(t: int) -> int:
    t &= 0xFFFFFFFF
    return t - (1 << 32) if t & 0x80000000 else t


def _replicate(mode: int) -> int:
    return mode | ((mode & 0o700) >> 3) | ((mode & 0o700) >> 6)


def _times(info) -> tuple[int, int, int]:
    m = info.last_write_time
    return (_time_t(info.last_access_time or m), _time_t(m), _time_t(info.creation_time or m))


def _drive_number(c, path: str) -> int:
    if len(path) >= 2 and path[1] == ":" and path[0].isalpha():
        return ord(path[0].upper()) - ord("A")
    if path.startswith(("\\\\", "//")):
        return 0
    cur = _cwd_of(c)
    return ord(cur[0].upper()) - ord("A") if cur and cur[1:2] == ":" else 2


def _fail(c, s, e: NtStatusError) -> int:
    R.set_doserrno(c, nt_to_win32(e.status), s)
    return -1


def _stat_impl(c, path, buf):
    s = R.state(c)
    if buf:
        c.write(buf, bytes({"32": 36, "32i64": 48, "64i32": 48, "64": 56}[_variant(c)]))
    if path is None or not buf:
        R.invalid_parameter(c, R.EINVAL, s)
        return -1
    stripped = path.rstrip("\\/")
    root = stripped == "" or (len(stripped) == 2 and stripped[1] == ":")
    trailing = path[-1:] in ("\\", "/") and not root
    if "*" in path or "?" in path or (trailing and s.flavor == R.MSVCRT):
        R.set_errno(c, R.ENOENT, s)      # wildcards; msvcrt: a trailing separator except on a root
        return -1
    try:
        info = c.machine.vfs.stat(stripped if trailing else path, c.proc.subsystem.get("cwd"))
    except NtStatusError as e:
        return _fail(c, s, e)
    if trailing and not info.is_dir:     # ucrt: a directory may end with a separator, a file may not
        R.set_errno(c, R.ENOENT, s)
        return -1
    is_dir = info.is_dir or root
    mode = _S_IFDIR | _S_IEXEC if is_dir else _S_IFREG
    mode |= _S_IREAD if info.attributes & V.FILE_ATTRIBUTE_READONLY else _S_IREAD | _S_IWRITE
    if not is_dir and path.lower().endswith(EXEC_EXTENSIONS):
        mode |= _S_IEXEC
    data = _pack(c, s, _variant(c), _drive_number(c, path), _replicate(mode), 1, 0 if is_dir else info.size,
                 *_times(info))
    if data is None:
        return -1
    c.write(buf, data)
    return 0


def _fstat_impl(c, fd, buf):
    s = R.state(c)
    fd = fd - (1 << 32) if fd & 0x80000000 else fd
    if not buf:
        R.invalid_parameter(c, R.EINVAL, s)
        return -1
    c.write(buf, bytes({"32": 36, "32i64": 48, "64i32": 48, "64": 56}[_variant(c)]))
    f = s.fds.get(fd)
    if f is None:
        R.invalid_parameter(c, R.EBADF, s)
        return -1
    variant = _variant(c)
    if f.ftype in (FILE_TYPE_CHAR, FILE_TYPE_PIPE):
        size = 0
        if f.ftype == FILE_TYPE_PIPE and hasattr(f.obj, "peek"):
            try:
                size = f.obj.peek(0)[1]
            except NtStatusError:
                size = 0
        mode = _S_IFCHR if f.ftype == FILE_TYPE_CHAR else _S_IFIFO   # no permission bits
        data = _pack(c, s, variant, fd, mode, 1, size, 0, 0, 0)
    elif f.ftype == FILE_TYPE_DISK and hasattr(f.obj, "file"):
        try:
            info = f.obj.file.info
        except NtStatusError as e:
            return _fail(c, s, e)
        mode = _S_IFDIR | _S_IEXEC if info.is_dir else _S_IFREG
        mode |= _S_IREAD if info.attributes & V.FILE_ATTRIBUTE_READONLY else _S_IREAD | _S_IWRITE
        data = _pack(c, s, variant, 0, _replicate(mode), 1, info.size, *_times(info))
    else:
        R.not_implemented(c, f"{c.name} of a descriptor of file type {f.ftype}")
    if data is None:
        return -1
    c.write(buf, data)
    return 0


# msvcrt's names (their structure by architecture) and ucrtbase's explicit variants; _stat64 is in both
for _n in ("_stat", "_stati64"):
    api(R.MSVCRT_DLL, f"int __cdecl {_n}(const char *path, void *buffer)")(_stat_impl)
    api(R.MSVCRT_DLL, f"int __cdecl _w{_n[1:]}(const wchar_t *path, void *buffer)")(_stat_impl)
    api(R.MSVCRT_DLL, f"int __cdecl _f{_n[1:]}(int fd, void *buffer)")(_fstat_impl)
for _n in ("_stat32", "_stat32i64", "_stat64i32"):
    api(R.UCRT_DLL, f"int __cdecl {_n}(const char *path, void *buffer)")(_stat_impl)
    api(R.UCRT_DLL, f"int __cdecl _w{_n[1:]}(const wchar_t *path, void *buffer)")(_stat_impl)
    api(R.UCRT_DLL, f"int __cdecl _f{_n[1:]}(int fd, void *buffer)")(_fstat_impl)
api(R.BOTH, "int __cdecl _stat64(const char *path, void *buffer)")(_stat_impl)
api(R.BOTH, "int __cdecl _wstat64(const wchar_t *path, void *buffer)")(_stat_impl)
api(R.BOTH, "int __cdecl _fstat64(int fd, void *buffer)")(_fstat_impl)


@api(R.BOTH, "int __cdecl _chmod(const char *path, int pmode)")
def _chmod(c, path, pmode):
    """The file's read-only attribute from pmode: _S_IWRITE (0x80) clears it, its absence sets it (the only
    permission Windows files have); the other attributes are kept. 0, or -1 with errno (ENOENT)."""
    s = R.state(c)
    if path is None:
        R.invalid_parameter(c, R.EINVAL, s)
        return -1
    vfs, cwd = c.machine.vfs, c.proc.subsystem.get("cwd")
    try:
        attrs = vfs.stat(path, cwd).attributes
        attrs = attrs & ~V.FILE_ATTRIBUTE_READONLY if pmode & _S_IWRITE else attrs | V.FILE_ATTRIBUTE_READONLY
        vfs.set_attributes(path, attrs, cwd)
    except NtStatusError as e:
        return _fail(c, s, e)
    return 0


api(R.BOTH, "int __cdecl _wchmod(const wchar_t *path, int pmode)")(_chmod)
