"""The C runtime's I/O: low-level file descriptors (lowio: _open/_read/_write over Win32 handles) and FILE
streams (buffering, text mode, ungetc, positioning), shared by msvcrt.dll and ucrtbase.dll.

Windows semantics:
- text mode is a property of the file descriptor: `_write` turns "\\n" into "\\r\\n"; reading turns "\\r\\n" into
  "\\n" (a lone "\\r" stays) and Ctrl-Z (0x1A) ends the file;
- stdin/stdout/stderr start in text mode (_fmode); `fopen` takes "b"/"t" or the _fmode default;
- buffering: a stream to a character device (the console) is written at the end of each call (the CRT's
  temporary _stbuf buffering), stderr is unbuffered, everything else (files, pipes) is fully buffered with a
  4096-byte buffer and flushed when full, by fflush, fclose, exit, or at process detach. _IOLBF is _IOFBF.
- the FILE is the one state: its buffer is allocated in the guest (the CRT heap) and `_ptr`/`_cnt`/`_base`/
  `_flag`/`_file`/`_bufsiz` are kept as msvcrt keeps them (offsets checked with mingw: x86 0/4/8/12/16/20/24/28,
  size 32; x64 0/8/16/24/28/32/36/40, size 48), so the getc/putc macros old MSVC programs inline
  (`--f->_cnt >= 0 ? *f->_ptr++ : _filbuf(f)`) and the machine-code fast paths (native_src/stdio.c) work on
  the same buffer as the Python code here, which loads the fields at the start of each operation and stores
  them at its end.  As in msvcrt, the buffer holds the program's bytes: text mode is translated between the
  buffer and the file (_read/_write), so a read buffer holds "\n" where the file has "\r\n", and `_cnt` is the
  count of bytes left to read (read direction) or the room left (write direction).  ucrtbase's FILE is opaque
  to programs; it uses the same layout.
- files are kernel objects: `fopen` opens through the virtual file system and puts a FileObject in the
  process handle table, so `_get_osfhandle(_fileno(f))` is a real handle.
"""
from __future__ import annotations

import struct

from winhatch.kernel.fileobj import FILE_TYPE_CHAR, FILE_TYPE_DISK, FILE_TYPE_PIPE, FileObject
from winhatch.kernel.io import vfs as V
from winhatch.ntstatus import NtStatusError, nt_to_win32
from winhatch.win32.msvcrt import runtime as R

# FILE._flag bits (msvcrt layout)
_IOREAD, _IOWRT, _IONBF, _IOMYBUF, _IOEOF, _IOERR, _IOSTRG, _IORW = 0x1, 0x2, 0x4, 0x8, 0x10, 0x20, 0x40, 0x80
_IOFBF, _IOLBF = 0x0, 0x40
BUFSIZ = 4096
EOF = -1

# lowio fd flags
FOPEN, FEOFLAG, FCRLF, FPIPE, FNOINHERIT, FAPPEND, FDEV, FTEXT = 0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80

# _open flags
O_RDONLY, O_WRONLY, O_RDWR, O_APPEND = 0x0, 0x1, 0x2, 0x8
O_CREAT, O_TRUNC, O_EXCL = 0x100, 0x200, 0x400
O_TEXT, O_BINARY, O_WTEXT, O_U16TEXT, O_U8TEXT = 0x4000, 0x8000, 0x10000, 0x20000, 0x40000
O_NOINHERIT, O_TEMPORARY, O_SHORT_LIVED, O_SEQUENTIAL, O_RANDOM = 0x80, 0x40, 0x1000, 0x20, 0x10

MAX_FDS = 8192


class Fd:
    __slots__ = ("handle", "flags", "obj", "ftype")

    def __init__(self, handle: int, flags: int, obj, ftype: int):
        self.handle = handle
        self.flags = flags
        self.obj = obj
        self.ftype = ftype

    @property
    def text(self) -> bool:
        return bool(self.flags & FTEXT)


#: msvcrt's FILE (struct _iobuf): _ptr, _cnt, _base, _flag, _file, _charbuf, _bufsiz, _tmpfname
_FILE_FMT = {8: struct.Struct("<Qi4xQiiiiQ"), 4: struct.Struct("<IiIiiiiI")}
_CHARBUF_OFF = {8: 32, 4: 20}
_IOYOURBUF, _IOSETVBUF = 0x100, 0x400


class Stream:
    """A FILE.  Its state is the guest's FILE structure (and the buffer it points to); the attributes mirror
    the fields between `load` (start of an operation) and `save` (its end)."""

    __slots__ = ("addr", "fd", "flags", "ptr", "cnt", "base", "charbuf", "bufsiz", "tmpfname_ptr", "tmpname", "std")

    def __init__(self, addr: int, fd: int, flags: int, std: bool = False):
        self.addr = addr
        self.fd = fd
        self.flags = flags
        self.ptr = self.cnt = self.base = self.charbuf = self.bufsiz = self.tmpfname_ptr = 0
        self.tmpname: str | None = None
        self.std = std

    def load(self, c) -> None:
        if self.addr:
            fmt = _FILE_FMT[c.ptr_size]
            (self.ptr, cnt, self.base, self.flags, self.fd, self.charbuf, self.bufsiz,
             self.tmpfname_ptr) = fmt.unpack(c.read(self.addr, fmt.size))
            self.cnt = cnt if cnt > 0 else 0     # the inlined macros leave -1 before _filbuf/_flsbuf

    def save(self, c) -> None:
        if self.addr:
            fmt = _FILE_FMT[c.ptr_size]
            c.write(self.addr, fmt.pack(self.ptr, self.cnt, self.base, _s32(self.flags), _s32(self.fd),
                                        _s32(self.charbuf), _s32(self.bufsiz), self.tmpfname_ptr))

    @property
    def nbf(self) -> bool:
        return bool(self.flags & _IONBF)

    def reading(self) -> bool:
        """The buffer holds input (read direction)."""
        return bool(self.flags & _IOREAD) and not self.flags & _IOWRT

    def pending(self) -> int:
        """Bytes of output waiting in the buffer."""
        if self.flags & _IOWRT and not self.flags & _IOREAD and self.base and self.ptr > self.base:
            return self.ptr - self.base
        return 0


def _s32(v: int) -> int:
    v &= 0xFFFFFFFF
    return v - (1 << 32) if v & 0x80000000 else v


# ============================================================================================ file descriptors
def _file_type(obj) -> int:
    try:
        return obj.file_type
    except Exception:
        return FILE_TYPE_DISK


def fd_for_handle(s: R.CrtState, handle: int, obj, flags: int, fd: int | None = None) -> int:
    if fd is None:
        fd = 0
        while fd in s.fds:
            fd += 1
        if fd >= MAX_FDS:
            return -1
    ft = _file_type(obj)
    flags |= FOPEN
    if ft == FILE_TYPE_CHAR:
        flags |= FDEV
    elif ft == FILE_TYPE_PIPE:
        flags |= FPIPE
    s.fds[fd] = Fd(handle, flags, obj, ft)
    return fd


def init_std_streams(c, s: R.CrtState) -> None:
    """The CRT's start-up I/O initialisation: fds 0-2 from the process's standard handles, and the three
    FILE structures (msvcrt: the first entries of the exported _iob array)."""
    from winhatch.kernel.structs import PEB, RTL_USER_PROCESS_PARAMETERS
    if s.flavor == R.MSVCRT and s.dll in R.MSVCRT_LIKE:     # msvcrt.dll and the older CRTs export _iob
        from winhatch.ldr import loader
        m = loader.state_of(c.proc).by_name.get(s.dll)
        e = m.pe.exports.lookup("_iob").entry if m is not None else None
        s.iob = m.base + e.rva if e is not None else 0
    if not s.iob:
        s.iob = R.alloc(c, 3 * s.fsize)
    params = PEB.read(c.proc.aspace, c.proc.peb, c.arch, "ProcessParameters")["ProcessParameters"]
    fields = ("StandardInput", "StandardOutput", "StandardError")
    vals = RTL_USER_PROCESS_PARAMETERS.read(c.proc.aspace, params, c.arch, *fields)
    for fd, field in enumerate(fields):
        h = vals[field]
        obj = None
        if h and h not in (0xFFFFFFFF, 0xFFFFFFFFFFFFFFFF):
            try:
                obj = c.proc.handles.lookup(h)
            except NtStatusError:
                obj = None
        addr = s.iob + fd * s.fsize
        if obj is not None:
            fd_for_handle(s, h, obj, FTEXT, fd)
        else:
            # no standard handle: the CRT marks fd -2 in _file (ucrt) / leaves it unopened
            pass
        flag = _IOREAD if fd == 0 else _IOWRT
        if fd == 2:
            flag |= _IONBF
        st = Stream(addr, fd if obj is not None else -2, flag, std=True)
        s.streams[addr] = st
        st.save(c)
    publish_iob(c, s)


def publish_iob(c, s: R.CrtState) -> None:
    """The address of stdin's FILE in the native state of the DLL(s) whose getchar/putchar are machine code."""
    from winhatch.win32 import native
    for dll in {s.dll, R._caller_dll(c)}:
        if "getchar" in native.NATIVE_EXPORTS.get(dll, ()):
            a = native.state_address(c, dll)
            if a is not None:
                c.write_ptr(a + native.STATE_IOB, s.iob)


def write_file_fields(c, s: R.CrtState, st: Stream) -> None:
    """Store the stream's fields into the guest FILE."""
    st.save(c)


def get_fd(c, s: R.CrtState, fd: int) -> Fd | None:
    f = s.fds.get(fd)
    if f is None:
        R.set_errno(c, R.EBADF, s)
        a = R.errno_address(c, s)
        c.write_u32(a + 4, 0)
    return f


def _status_to_errno(c, s, e: NtStatusError) -> None:
    w = nt_to_win32(e.status)
    c.set_last_error(w)
    R.set_doserrno(c, w, s)


def os_open(c, s: R.CrtState, path: str, oflag: int, share: int = V.FILE_SHARE_READ | V.FILE_SHARE_WRITE) -> int:
    """_open / _wopen / _sopen: returns the fd, or -1 with errno set."""
    acc = oflag & 3
    if acc == 3:
        R.set_errno(c, R.EINVAL, s)
        return -1
    access = {O_RDONLY: V.GENERIC_READ, O_WRONLY: V.GENERIC_WRITE, O_RDWR: V.GENERIC_READ | V.GENERIC_WRITE}[acc]
    if oflag & (O_WTEXT | O_U16TEXT | O_U8TEXT):
        R.not_implemented(c, "Unicode text-mode files (_O_WTEXT/_O_U16TEXT/_O_U8TEXT, ccs=)")
    cr = oflag & (O_CREAT | O_EXCL | O_TRUNC)
    disposition = {0: V.FILE_OPEN, O_EXCL: V.FILE_OPEN, O_CREAT: V.FILE_OPEN_IF, O_CREAT | O_EXCL: V.FILE_CREATE,
                   O_CREAT | O_TRUNC | O_EXCL: V.FILE_CREATE, O_TRUNC: V.FILE_OVERWRITE,
                   O_TRUNC | O_EXCL: V.FILE_OVERWRITE, O_CREAT | O_TRUNC: V.FILE_OVERWRITE_IF}[cr]
    options = V.FILE_SYNCHRONOUS_IO_NONALERT | V.FILE_NON_DIRECTORY_FILE
    if oflag & O_TEMPORARY:
        options |= V.FILE_DELETE_ON_CLOSE
        access |= V.DELETE
        share |= V.FILE_SHARE_DELETE
    cwd = c.proc.subsystem.get("cwd")
    if c.arch == "x86":     # the WoW64 file system redirector (System32 -> SysWOW64)
        path = c.machine.vfs.wow64_redirect(path, "x86", cwd)
    try:
        vf = c.machine.vfs.open(path, access=access | V.SYNCHRONIZE | V.FILE_READ_ATTRIBUTES,
                                disposition=disposition, options=options, share=share, cwd=cwd)
    except NtStatusError as e:
        _status_to_errno(c, s, e)
        return -1
    obj = FileObject(vf, vf.path)
    h = c.proc.handles.insert(obj, access, inherit=not (oflag & O_NOINHERIT))
    flags = 0
    text = (oflag & O_TEXT) or (not (oflag & O_BINARY) and R.current_fmode(c, s) != O_BINARY)
    if text:
        flags |= FTEXT
    if oflag & O_APPEND:
        flags |= FAPPEND
    if oflag & O_NOINHERIT:
        flags |= FNOINHERIT
    fd = fd_for_handle(s, h, obj, flags)
    if fd < 0:
        c.proc.handles.close(h)
        R.set_errno(c, R.EMFILE, s)
        return -1
    return fd


def os_close(c, s: R.CrtState, fd: int) -> int:
    f = get_fd(c, s, fd)
    if f is None:
        return -1
    del s.fds[fd]
    try:
        c.proc.handles.close(f.handle)
    except NtStatusError as e:
        _status_to_errno(c, s, e)
        return -1
    return 0


def os_write_raw(c, s: R.CrtState, f: Fd, data: bytes) -> int:
    if f.flags & FAPPEND:
        try:
            f.obj.seek(0, 2)
        except Exception:
            pass
    try:
        n = f.obj.write(data)
    except NtStatusError as e:
        _status_to_errno(c, s, e)
        return -1
    return len(data) if n is None else n


def os_write(c, s: R.CrtState, fd: int, data: bytes) -> int:
    """_write: text mode turns LF into CR LF; returns the count of the caller's bytes written."""
    f = get_fd(c, s, fd)
    if f is None:
        return -1
    raw = data.replace(b"\n", b"\r\n") if f.text else data
    n = os_write_raw(c, s, f, raw)
    if n < 0:
        return -1
    return len(data) if n >= len(raw) else n


def os_read_raw(c, s: R.CrtState, f: Fd, n: int) -> bytes | None:
    if f.flags & FEOFLAG and f.text:
        return b""
    try:
        return f.obj.read(n)
    except NtStatusError as e:
        if nt_to_win32(e.status) == 109:   # ERROR_BROKEN_PIPE: end of the pipe
            return b""
        _status_to_errno(c, s, e)
        return None


def read_text(c, s: R.CrtState, f: Fd, n: int) -> tuple[bytes | None, int, list[int]]:
    """Up to n bytes from the descriptor, translated in text mode: (bytes, the count of file bytes they came
    from, the indices in the result of the "\n"s that were "\r\n"); (None, 0, []) on error."""
    raw = os_read_raw(c, s, f, n)
    if raw is None:
        return None, 0, []
    if not f.text or not raw:
        return raw, len(raw), []
    rawlen = len(raw)
    z = raw.find(b"\x1a")
    if z >= 0:
        raw = raw[:z]
        f.flags |= FEOFLAG
    elif raw.endswith(b"\r") and f.ftype == FILE_TYPE_DISK:
        nxt = f.obj.read(1)
        if nxt == b"\n":
            raw += b"\n"
            rawlen += 1
        elif nxt:
            f.obj.seek(-1, 1)
    crlf: list[int] = []
    i = raw.find(b"\r\n")
    while i >= 0:
        crlf.append(i - len(crlf))
        i = raw.find(b"\r\n", i + 2)
    return (raw.replace(b"\r\n", b"\n") if crlf else raw), rawlen, crlf


def os_read(c, s: R.CrtState, fd: int, n: int) -> int | bytes:
    """_read: up to n bytes, translated in text mode; -1 on error."""
    f = get_fd(c, s, fd)
    if f is None:
        return -1
    data = read_text(c, s, f, n)[0]
    return -1 if data is None else data


def os_lseek(c, s: R.CrtState, fd: int, offset: int, whence: int) -> int:
    f = get_fd(c, s, fd)
    if f is None:
        return -1
    if whence not in (0, 1, 2):
        R.set_errno(c, R.EINVAL, s)
        return -1
    if f.ftype != FILE_TYPE_DISK or not hasattr(f.obj, "seek"):
        # SetFilePointer on a console or pipe handle fails: ERROR_INVALID_HANDLE -> EBADF... the CRT reports ESPIPE
        R.set_errno(c, R.ESPIPE if f.ftype == FILE_TYPE_PIPE else R.EBADF, s)
        return -1
    try:
        base = {0: 0, 1: f.obj.tell(), 2: f.obj.size}[whence]
        target = base + offset
        if target < 0:
            c.set_last_error(131)     # ERROR_NEGATIVE_SEEK
            R.set_doserrno(c, 131, s)
            return -1
        pos = f.obj.seek(target, 0)
    except NtStatusError as e:
        _status_to_errno(c, s, e)
        return -1
    f.flags &= ~FEOFLAG
    return target if pos is None else pos


# ============================================================================================ streams
def new_stream(c, s: R.CrtState, fd: int, flags: int) -> Stream:
    addr = R.alloc(c, s.fsize)
    st = Stream(addr, fd, flags)
    s.streams[addr] = st
    st.save(c)
    return st


def stream_of(c, s: R.CrtState, fp: int) -> Stream | None:
    st = s.streams.get(fp)
    if st is None:
        # a FILE of the other CRT (a DLL on ucrt given a msvcrt FILE*) or garbage
        for other in R.states(c.proc):
            if other is not s and fp in other.streams:
                R.not_implemented(c, "a FILE* of the other C runtime passed across runtimes")
    else:
        st.load(c)
    return st


def std_stream(c, s: R.CrtState, i: int) -> Stream:
    """stdin (0), stdout (1), stderr (2), loaded; a stream with no descriptor when the CRT has none."""
    st = s.streams.get(s.iob + i * s.fsize)
    if st is None:
        return Stream(0, -1, 0)
    st.load(c)
    return st


def parse_mode(mode: str, fmode: int) -> tuple[int, int] | None:
    """fopen mode string -> (_open flags, stream flags), None when invalid (EINVAL)."""
    mode = mode.lstrip(" ")
    if not mode or mode[0] not in "rwa":
        return None
    first = mode[0]
    oflag = {"r": O_RDONLY, "w": O_WRONLY | O_CREAT | O_TRUNC, "a": O_WRONLY | O_CREAT | O_APPEND}[first]
    sflag = _IOREAD if first == "r" else _IOWRT
    seen_plus = seen_bt = False
    rest = mode[1:]
    i = 0
    while i < len(rest):
        ch = rest[i]
        if ch == "+":
            if seen_plus:
                return None
            seen_plus = True
            oflag = (oflag & ~3) | O_RDWR
            sflag = _IORW
        elif ch in "bt":
            if seen_bt:
                return None
            seen_bt = True
            oflag |= O_BINARY if ch == "b" else O_TEXT
        elif ch == "c" or ch == "n":
            pass     # commit / no-commit to disk: no effect here
        elif ch == "S":
            oflag |= O_SEQUENTIAL
        elif ch == "R":
            oflag |= O_RANDOM
        elif ch == "T":
            oflag |= O_SHORT_LIVED
        elif ch == "D":
            oflag |= O_TEMPORARY
        elif ch == "N":
            oflag |= O_NOINHERIT
        elif ch == "x":
            if first != "w":
                return None
            oflag |= O_EXCL
        elif ch == " ":
            pass
        elif ch == ",":
            tail = rest[i + 1:].replace(" ", "")
            if tail.lower().startswith("ccs="):
                return (oflag | O_WTEXT, sflag)
            return None
        else:
            return None
        i += 1
    if not oflag & (O_BINARY | O_TEXT):
        oflag |= O_BINARY if fmode == O_BINARY else O_TEXT
    return oflag, sflag


def fopen(c, s: R.CrtState, path: str | None, mode: str | None, share: int | None = None) -> tuple[int, int]:
    """(FILE*, errno): FILE* 0 on failure."""
    if path is None or mode is None:
        R.invalid_parameter(c, R.EINVAL, s)
        return 0, R.EINVAL
    pm = parse_mode(mode, R.current_fmode(c, s))
    if pm is None:
        R.invalid_parameter(c, R.EINVAL, s)
        return 0, R.EINVAL
    if not path:
        R.set_errno(c, R.ENOENT, s)
        return 0, R.ENOENT
    oflag, sflag = pm
    fd = os_open(c, s, path, oflag, share if share is not None else V.FILE_SHARE_READ | V.FILE_SHARE_WRITE)
    if fd < 0:
        return 0, R.get_errno(c, s)
    st = new_stream(c, s, fd, sflag)
    return st.addr, 0


def _tty(s: R.CrtState, st: Stream) -> bool:
    f = s.fds.get(st.fd)
    return f is not None and f.ftype == FILE_TYPE_CHAR


def _write_through(s: R.CrtState, st: Stream) -> bool:
    """Output not kept in the buffer between calls: unbuffered streams, and the console unless the program
    gave the stream a buffer of its own (the CRT buffers console output only within one call: _stbuf/_ftbuf)."""
    return bool(st.flags & _IONBF) or (not st.flags & _IOYOURBUF and _tty(s, st))


def _out(c, s: R.CrtState, f: Fd, data: bytes) -> int:
    """_write of the buffer's bytes: text mode turns "\\n" into "\\r\\n"."""
    return os_write_raw(c, s, f, data.replace(b"\n", b"\r\n") if f.text else data)


def _getbuf(c, s: R.CrtState, st: Stream) -> None:
    """The CRT's _getbuf: a 4096-byte buffer from the CRT heap, or the one-character _charbuf when unbuffered."""
    if st.base:
        return
    if st.flags & _IONBF:
        st.base = st.addr + _CHARBUF_OFF[c.ptr_size]
        st.bufsiz = 2
    else:
        st.base = R.alloc(c, BUFSIZ, zero=False)
        st.bufsiz = BUFSIZ
        st.flags |= _IOMYBUF
    st.ptr = st.base
    st.cnt = 0


def _flush(c, s: R.CrtState, st: Stream) -> int:
    """Write out the buffered output (a loaded stream); 0, or EOF with the error flag set."""
    n = st.pending()
    r = 0
    if n:
        data = c.read(st.base, n)
        st.ptr = st.base
        st.cnt = 0
        f = s.fds.get(st.fd)
        if f is None or _out(c, s, f, data) < 0:
            st.flags |= _IOERR
            r = EOF
    elif st.flags & _IOWRT:
        st.cnt = 0
    if st.flags & _IORW and st.flags & _IOWRT:
        st.flags &= ~_IOWRT       # an update stream may change direction after fflush
        st.ptr = st.base
        st.cnt = 0
    return r


def flush(c, s: R.CrtState, st: Stream) -> int:
    """fflush of one stream."""
    st.load(c)
    r = _flush(c, s, st)
    st.save(c)
    return r


def flush_all_streams(c, s: R.CrtState) -> int:
    n = 0
    for st in list(s.streams.values()):
        st.load(c)
        if st.pending():
            _flush(c, s, st)
            st.save(c)
            n += 1
    return n


def _unread_raw(c, s: R.CrtState, st: Stream) -> int:
    """The count of file bytes behind the unread part of the read buffer: as msvcrt's ftell counts them, each
    "\n" of a text stream's buffer stands for "\r\n" (so a text file with bare "\n" line ends gives the
    same off-by-the-newlines positions as on Windows)."""
    if not st.reading() or st.cnt <= 0:
        return 0
    f = s.fds.get(st.fd)
    if f is not None and f.text:
        return st.cnt + c.read(st.ptr, st.cnt).count(b"\n")
    return st.cnt


def _drop_read_buffer(c, s: R.CrtState, st: Stream) -> None:
    """An update stream switching from reading to writing: move the OS position back to the logical one."""
    unread = _unread_raw(c, s, st)
    if unread:
        f = s.fds.get(st.fd)
        if f is not None and f.ftype == FILE_TYPE_DISK:
            try:
                f.obj.seek(-unread, 1)
            except Exception:
                pass
    st.ptr = st.base
    st.cnt = 0
    st.flags &= ~_IOREAD


def write(c, s: R.CrtState, st: Stream, data: bytes) -> int:
    """fwrite/fputs/printf output to a stream: the number of bytes accepted, or -1 (error flag set)."""
    st.load(c)
    try:
        return _write(c, s, st, data)
    finally:
        st.save(c)


def _write(c, s: R.CrtState, st: Stream, data: bytes) -> int:
    f = s.fds.get(st.fd) if st.fd >= 0 else None
    if not (st.flags & (_IOWRT | _IORW)) or (st.flags & _IOREAD and not st.flags & _IORW) or f is None:
        st.flags |= _IOERR
        R.set_errno(c, R.EBADF, s)
        return -1
    if st.flags & _IOREAD:
        _drop_read_buffer(c, s, st)
    st.flags &= ~_IOEOF
    st.flags |= _IOWRT
    if not data:
        return 0
    if _write_through(s, st):
        if st.pending() and _flush(c, s, st) < 0:
            return -1
        st.flags |= _IOWRT
        st.cnt = 0
        if _out(c, s, f, data) < 0:
            st.flags |= _IOERR
            return -1
        return len(data)
    # msvcrt's fwrite: fill the buffer; a buffer that is full when more comes is written out (_flsbuf); with
    # the buffer empty, whole multiples of its size go straight to the file
    _getbuf(c, s, st)
    n = len(data)
    i = 0
    while i < n:
        if st.cnt > 0:
            k = min(st.cnt, n - i)
            c.write(st.ptr, data[i:i + k])
            st.ptr += k
            st.cnt -= k
            i += k
            continue
        if not _spill(c, s, st, f):
            return -1
        if n - i >= st.bufsiz:
            k = (n - i) - (n - i) % st.bufsiz
            if _out(c, s, f, data[i:i + k]) < 0:
                st.flags |= _IOERR
                return -1
            i += k
        else:
            st.cnt = st.bufsiz    # (the next round stores the rest)
    return n


def _spill(c, s: R.CrtState, st: Stream, f: Fd) -> bool:
    """Write out the buffer's pending output (write direction); False on error (flag set)."""
    n = st.ptr - st.base
    st.ptr = st.base
    st.cnt = 0
    if n > 0 and _out(c, s, f, c.read(st.base, n)) < 0:
        st.flags |= _IOERR
        return False
    return True


def end_of_call(c, s: R.CrtState, st: Stream) -> None:
    """After an output call: streams to a character device are written now (_ftbuf)."""
    if st.pending() and _write_through(s, st):
        flush(c, s, st)


def _fill(c, s: R.CrtState, st: Stream) -> bytes:
    """_filbuf's refill (a loaded stream with nothing left to read): the new buffer's bytes, b"" at end of
    file or on error (the error flag set)."""
    f = s.fds.get(st.fd) if st.fd >= 0 else None
    if f is None or not (st.flags & (_IOREAD | _IORW)):
        st.flags |= _IOERR
        R.set_errno(c, R.EBADF, s)
        return b""
    if st.flags & _IOWRT:
        if not st.flags & _IORW:
            st.flags |= _IOERR
            R.set_errno(c, R.EBADF, s)
            return b""
        _flush(c, s, st)
        st.flags &= ~_IOWRT
    st.flags |= _IOREAD
    _getbuf(c, s, st)
    n = 1 if st.flags & _IONBF and f.ftype == FILE_TYPE_DISK else st.bufsiz
    data = read_text(c, s, f, n)[0]
    st.ptr = st.base
    st.cnt = 0
    if data is None:
        st.flags |= _IOERR
        return b""
    if data:
        c.write(st.base, data)
        st.cnt = len(data)
    return data


def _at_end(st: Stream) -> int:
    if not st.flags & _IOERR:
        st.flags |= _IOEOF
    return EOF


def getc(c, s: R.CrtState, st: Stream) -> int:
    """fgetc (and _filbuf: the inlined getc found the buffer empty)."""
    st.load(c)
    try:
        if st.reading() and st.cnt > 0:
            ch = c.read(st.ptr, 1)[0]
        else:
            data = _fill(c, s, st)
            if not data:
                return _at_end(st)
            ch = data[0]
        st.ptr += 1
        st.cnt -= 1
        return ch
    finally:
        st.save(c)


def read(c, s: R.CrtState, st: Stream, n: int) -> bytes:
    """fread's bytes."""
    st.load(c)
    out = bytearray()
    f = s.fds.get(st.fd) if st.fd >= 0 else None
    while len(out) < n:
        if not st.reading() or st.cnt <= 0:
            want = n - len(out)
            size = st.bufsiz or BUFSIZ
            if f is not None and want >= size and st.reading():
                # with the buffer empty, whole multiples of its size go straight to the caller (msvcrt's fread)
                raw = read_text(c, s, f, want - want % size)[0]
                if raw is None:
                    st.flags |= _IOERR
                    break
                if raw:
                    out += raw
                    continue
                _at_end(st)
                break
            if not _fill(c, s, st):
                _at_end(st)
                break
        take = min(st.cnt, n - len(out))
        out += c.read(st.ptr, take)
        st.ptr += take
        st.cnt -= take
    st.save(c)
    return bytes(out)


def readline(c, s: R.CrtState, st: Stream, limit: int) -> bytes:
    """fgets: up to limit bytes, stopping after a newline."""
    st.load(c)
    out = bytearray()
    while len(out) < limit:
        if not st.reading() or st.cnt <= 0:
            if not _fill(c, s, st):
                _at_end(st)
                break
        chunk = c.read(st.ptr, min(st.cnt, limit - len(out)))
        i = chunk.find(b"\n")
        if i >= 0:
            chunk = chunk[:i + 1]
        out += chunk
        st.ptr += len(chunk)
        st.cnt -= len(chunk)
        if i >= 0:
            break
    st.save(c)
    return bytes(out)


def ungetc(c, s: R.CrtState, st: Stream, ch: int) -> int:
    """msvcrt's ungetc: the character goes back into the buffer before _ptr; at the buffer's start only when
    the buffer is empty (one character of push-back is guaranteed, more fail with EOF)."""
    if ch == EOF or ch == 0xFFFFFFFF:
        return EOF
    st.load(c)
    if not (st.flags & _IOREAD or (st.flags & _IORW and not st.flags & _IOWRT)):
        return EOF
    _getbuf(c, s, st)
    if st.ptr == st.base:
        if st.cnt:
            return EOF
        st.ptr += 1
    st.ptr -= 1
    c.write(st.ptr, bytes([ch & 0xFF]))
    st.cnt += 1
    st.flags &= ~_IOEOF
    st.flags |= _IOREAD
    st.save(c)
    return ch & 0xFF


def peek_available(c, s: R.CrtState, st: Stream, want_more: bool) -> bytes:
    """For fscanf: the translated text available without consuming it (disk files: the rest of the file;
    devices/pipes: what has been read so far, reading one more chunk when `want_more`)."""
    st.load(c)
    f = s.fds.get(st.fd) if st.fd >= 0 else None
    if f is None:
        return b""
    if not st.reading() or st.cnt <= 0:
        if f.ftype == FILE_TYPE_DISK or want_more:
            _fill(c, s, st)
    elif want_more and f.ftype != FILE_TYPE_DISK and st.cnt < st.bufsiz:
        # keep what is unread at the start of the buffer and read more after it
        keep = c.read(st.ptr, st.cnt)
        more = read_text(c, s, f, st.bufsiz - st.cnt)[0]
        if more:
            c.write(st.base, keep + more)
            st.ptr = st.base
            st.cnt = len(keep) + len(more)
    buffered = c.read(st.ptr, st.cnt) if st.reading() and st.cnt > 0 else b""
    rest = b""
    if f.ftype == FILE_TYPE_DISK and not (f.text and f.flags & FEOFLAG):
        try:
            pos = f.obj.tell()
            raw = f.obj.read(max(f.obj.size - pos, 0))
            f.obj.seek(pos, 0)
        except NtStatusError:
            raw = b""
        if f.text:
            z = raw.find(b"\x1a")
            if z >= 0:
                raw = raw[:z]
            if buffered.endswith(b"\r") and raw.startswith(b"\n"):
                raw = raw[1:]       # (read_text keeps a "\r\n" that straddles two reads together)
            raw = raw.replace(b"\r\n", b"\n")
        rest = raw
    st.save(c)
    return buffered + rest


def consume(c, s: R.CrtState, st: Stream, n: int) -> None:
    st.load(c)
    while n > 0:
        if st.reading() and st.cnt > 0:
            take = min(st.cnt, n)
            st.ptr += take
            st.cnt -= take
            n -= take
            continue
        if not _fill(c, s, st):
            _at_end(st)
            break
    st.save(c)


def tell(c, s: R.CrtState, st: Stream) -> int:
    st.load(c)
    f = s.fds.get(st.fd) if st.fd >= 0 else None
    if f is None:
        R.set_errno(c, R.EBADF, s)
        return -1
    if f.ftype != FILE_TYPE_DISK:
        R.set_errno(c, R.EINVAL, s)
        return -1
    try:
        pos = f.obj.tell()
    except NtStatusError as e:
        _status_to_errno(c, s, e)
        return -1
    n = st.pending()
    if n:
        # the OS position plus what is buffered, as it will be written (append mode included: the file
        # pointer moves to the end only when the buffer is written)
        return pos + n + (c.read(st.base, n).count(b"\n") if f.text else 0)
    return max(pos - _unread_raw(c, s, st), 0)


def seek(c, s: R.CrtState, st: Stream, offset: int, whence: int) -> int:
    if whence not in (0, 1, 2):
        R.invalid_parameter(c, R.EINVAL, s)
        return -1
    st.load(c)
    f = s.fds.get(st.fd) if st.fd >= 0 else None
    if f is None:
        R.set_errno(c, R.EBADF, s)
        return -1
    if whence == 1:
        cur = tell(c, s, st)
        if cur < 0:
            return -1
        offset, whence = cur + offset, 0
    if _flush(c, s, st) < 0:
        st.save(c)
        return -1
    st.ptr = st.base
    st.cnt = 0
    st.flags &= ~_IOEOF
    if st.flags & _IORW:
        st.flags &= ~(_IOREAD | _IOWRT)
    r = os_lseek(c, s, st.fd, offset, whence)
    st.save(c)
    return 0 if r >= 0 else -1


def close(c, s: R.CrtState, st: Stream) -> int:
    st.load(c)
    r = 0
    if _flush(c, s, st) < 0:
        r = EOF
    if st.fd >= 0 and st.fd in s.fds:
        if os_close(c, s, st.fd) < 0:
            r = EOF
    if st.tmpname:
        try:
            c.machine.vfs.delete(st.tmpname, c.proc.subsystem.get("cwd"))
        except NtStatusError:
            pass
    s.streams.pop(st.addr, None)
    if st.flags & _IOMYBUF and st.base:
        R.heap(c).free_block(st.base)
    if st.std:
        st.fd = -1
        st.flags = 0
        st.ptr = st.base = st.cnt = st.bufsiz = 0
        st.save(c)
    else:
        c.write(st.addr, bytes(s.fsize))
        R.heap(c).free_block(st.addr)
    return r


def setvbuf(c, s: R.CrtState, st: Stream, buf: int, mode: int, size: int) -> int:
    if mode not in (_IOFBF, _IOLBF, _IONBF) or (mode != _IONBF and not (2 <= size <= 0x7FFFFFFF)):
        R.invalid_parameter(c, R.EINVAL, s)
        return -1
    st.load(c)
    _flush(c, s, st)
    if st.flags & _IOMYBUF and st.base:
        R.heap(c).free_block(st.base)
    st.flags &= ~(_IOMYBUF | _IOYOURBUF | _IONBF | _IOSETVBUF)
    if mode == _IONBF:
        st.flags |= _IONBF
        st.base = st.addr + _CHARBUF_OFF[c.ptr_size]
        st.bufsiz = 2
    else:
        st.bufsiz = size & ~1
        if buf:
            st.base = buf
            st.flags |= _IOYOURBUF | _IOSETVBUF
        else:
            st.base = R.alloc(c, st.bufsiz, zero=False)
            st.flags |= _IOMYBUF | _IOSETVBUF
    st.ptr = st.base
    st.cnt = 0
    st.save(c)
    return 0
