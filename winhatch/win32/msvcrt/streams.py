"""The C runtime's I/O: low-level file descriptors (lowio: _open/_read/_write over Win32 handles) and FILE
streams (buffering, text mode, ungetc, positioning), shared by msvcrt.dll and ucrtbase.dll.

Windows semantics:
- text mode is a property of the file descriptor: `_write` turns "\\n" into "\\r\\n"; reading turns "\\r\\n" into
  "\\n" (a lone "\\r" stays) and Ctrl-Z (0x1A) ends the file;
- stdin/stdout/stderr start in text mode (_fmode); `fopen` takes "b"/"t" or the _fmode default;
- buffering: a stream to a character device (the console) is written at the end of each call (the CRT's
  temporary _stbuf buffering), stderr is unbuffered, everything else (files, pipes) is fully buffered with a
  4096-byte buffer and flushed when full, by fflush, fclose, exit, or at process detach. _IOLBF is _IOFBF.
- files are kernel objects: `fopen` opens through the virtual file system and puts a FileObject in the
  process handle table, so `_get_osfhandle(_fileno(f))` is a real handle.
"""
from __future__ import annotations

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


class Stream:
    """A FILE: the guest sees the FILE structure (its _flag and _file fields are kept current); the buffers
    live here."""

    __slots__ = ("addr", "fd", "flags", "nbf", "bufsize", "rbuf", "rpos", "wbuf", "ungot", "tmpname", "std",
                 "user_buf")

    def __init__(self, addr: int, fd: int, flags: int, std: bool = False):
        self.addr = addr
        self.fd = fd
        self.flags = flags
        self.nbf = False
        self.bufsize = BUFSIZ
        self.rbuf = bytearray()
        self.rpos = 0
        self.wbuf = bytearray()
        self.ungot = bytearray()
        self.tmpname: str | None = None
        self.std = std
        self.user_buf = 0


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
        st = Stream(addr, fd if obj is not None else -2, flag, std=True)
        if fd == 2:
            st.nbf = True
        s.streams[addr] = st
        write_file_fields(c, s, st)


def write_file_fields(c, s: R.CrtState, st: Stream) -> None:
    """Keep the guest FILE's _flag and _file current (msvcrt layout; ucrt's FILE is opaque, same offsets)."""
    flag = st.flags | (_IONBF if st.nbf else 0)
    if s.ptr_size == 8:
        c.write(st.addr + 24, struct_pack_ii(flag, st.fd))
    else:
        c.write(st.addr + 12, struct_pack_ii(flag, st.fd))


def struct_pack_ii(a: int, b: int) -> bytes:
    return (a & 0xFFFFFFFF).to_bytes(4, "little") + (b & 0xFFFFFFFF).to_bytes(4, "little")


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


def os_read(c, s: R.CrtState, fd: int, n: int) -> int | bytes:
    """_read: up to n bytes, translated in text mode; -1 on error."""
    f = get_fd(c, s, fd)
    if f is None:
        return -1
    raw = os_read_raw(c, s, f, n)
    if raw is None:
        return -1
    if not f.text:
        return raw
    z = raw.find(b"\x1a")
    if z >= 0:
        raw = raw[:z]
        f.flags |= FEOFLAG
    elif raw.endswith(b"\r") and f.ftype == FILE_TYPE_DISK:
        nxt = f.obj.read(1)
        if nxt == b"\n":
            raw = raw[:-1] + b"\n"
        elif nxt:
            f.obj.seek(-1, 1)
    return raw.replace(b"\r\n", b"\n")


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
    write_file_fields(c, s, st)
    return st


def stream_of(c, s: R.CrtState, fp: int) -> Stream | None:
    st = s.streams.get(fp)
    if st is None:
        # a FILE of the other CRT (a DLL on ucrt given a msvcrt FILE*) or garbage
        for other in R.states(c.proc):
            if other is not s and fp in other.streams:
                R.not_implemented(c, "a FILE* of the other C runtime passed across runtimes")
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


def flush(c, s: R.CrtState, st: Stream) -> int:
    """Write out the buffered output; 0, or EOF with the error flag set."""
    if st.wbuf:
        data = bytes(st.wbuf)
        st.wbuf.clear()
        f = s.fds.get(st.fd)
        if f is None or os_write_raw(c, s, f, data) < 0:
            st.flags |= _IOERR
            write_file_fields(c, s, st)
            return EOF
    return 0


def flush_all_streams(c, s: R.CrtState) -> int:
    n = 0
    for st in list(s.streams.values()):
        if st.wbuf:
            flush(c, s, st)
            n += 1
    return n


def _drop_read_buffer(c, s: R.CrtState, st: Stream) -> None:
    """Switching from reading to writing: move the OS position back to the logical one."""
    unread = len(st.rbuf) - st.rpos + len(st.ungot)
    if unread:
        f = s.fds.get(st.fd)
        if f is not None and f.ftype == FILE_TYPE_DISK:
            try:
                f.obj.seek(-(len(st.rbuf) - st.rpos) - len(st.ungot), 1)
            except Exception:
                pass
    st.rbuf.clear()
    st.rpos = 0
    st.ungot.clear()


def write(c, s: R.CrtState, st: Stream, data: bytes) -> int:
    """fwrite/fputs/printf output to a stream: the number of bytes accepted, or -1 (error flag set)."""
    if not (st.flags & (_IOWRT | _IORW)) or st.fd < 0:
        st.flags |= _IOERR
        write_file_fields(c, s, st)
        R.set_errno(c, R.EBADF, s)
        return -1
    f = s.fds.get(st.fd)
    if f is None:
        st.flags |= _IOERR
        R.set_errno(c, R.EBADF, s)
        return -1
    if st.rbuf or st.ungot:
        _drop_read_buffer(c, s, st)
    st.flags &= ~_IOEOF
    if not data:
        return 0
    raw = data.replace(b"\n", b"\r\n") if f.text else data
    if st.nbf:
        if st.wbuf and flush(c, s, st) < 0:
            return -1
        if os_write_raw(c, s, f, raw) < 0:
            st.flags |= _IOERR
            write_file_fields(c, s, st)
            return -1
        return len(data)
    st.wbuf += raw
    if len(st.wbuf) >= st.bufsize:
        if flush(c, s, st) < 0:
            return -1
    return len(data)


def end_of_call(c, s: R.CrtState, st: Stream) -> None:
    """After an output call: streams to a character device are written now (_ftbuf)."""
    if st.wbuf and _tty(s, st) and not st.user_buf:
        flush(c, s, st)


def _fill(c, s: R.CrtState, st: Stream) -> bool:
    """Read more raw bytes into the read buffer; False at end of file / error."""
    f = s.fds.get(st.fd)
    if f is None or not (st.flags & (_IOREAD | _IORW)):
        st.flags |= _IOERR
        R.set_errno(c, R.EBADF, s)
        return False
    if st.wbuf:
        flush(c, s, st)
    if st.rpos and st.rpos >= len(st.rbuf):
        st.rbuf.clear()
        st.rpos = 0
    n = 1 if st.nbf and f.ftype == FILE_TYPE_DISK else max(st.bufsize, 2)
    raw = os_read_raw(c, s, f, n)
    if raw is None:
        st.flags |= _IOERR
        return False
    if not raw:
        return False
    st.rbuf += raw
    return True


def getc(c, s: R.CrtState, st: Stream) -> int:
    if st.ungot:
        return st.ungot.pop()
    f = s.fds.get(st.fd)
    text = f.text if f is not None else False
    while True:
        if st.rpos >= len(st.rbuf):
            if (text and f.flags & FEOFLAG) or not _fill(c, s, st):
                st.flags |= _IOEOF if not st.flags & _IOERR else 0
                write_file_fields(c, s, st)
                return EOF
        b = st.rbuf[st.rpos]
        if text:
            if b == 0x1A:
                f.flags |= FEOFLAG
                st.rbuf = st.rbuf[:st.rpos]
                continue
            if b == 0x0D:
                if st.rpos + 1 >= len(st.rbuf) and ((f.flags & FEOFLAG) or not _fill(c, s, st)):
                    st.rpos += 1
                    return 0x0D
                if st.rbuf[st.rpos + 1] == 0x0A:
                    st.rpos += 2
                    return 0x0A
        st.rpos += 1
        return b


def read(c, s: R.CrtState, st: Stream, n: int) -> bytes:
    f = s.fds.get(st.fd)
    if f is not None and not f.text and not st.ungot:
        out = bytearray()
        while len(out) < n:
            if st.rpos >= len(st.rbuf):
                if not _fill(c, s, st):
                    st.flags |= _IOEOF if not st.flags & _IOERR else 0
                    write_file_fields(c, s, st)
                    break
            take = st.rbuf[st.rpos:st.rpos + n - len(out)]
            out += take
            st.rpos += len(take)
        return bytes(out)
    out = bytearray()
    while len(out) < n:
        ch = getc(c, s, st)
        if ch == EOF:
            break
        out.append(ch)
    return bytes(out)


def readline(c, s: R.CrtState, st: Stream, limit: int) -> bytes:
    """fgets: up to limit bytes, stopping after a newline."""
    out = bytearray()
    while len(out) < limit:
        ch = getc(c, s, st)
        if ch == EOF:
            break
        out.append(ch)
        if ch == 0x0A:
            break
    return bytes(out)


def ungetc(c, s: R.CrtState, st: Stream, ch: int) -> int:
    if ch == EOF or ch == 0xFFFFFFFF:
        return EOF
    st.ungot.append(ch & 0xFF)
    st.flags &= ~_IOEOF
    write_file_fields(c, s, st)
    return ch & 0xFF


def peek_available(c, s: R.CrtState, st: Stream, want_more: bool) -> bytes:
    """For fscanf: the translated text available without consuming it (disk files: the rest of the file;
    devices/pipes: what has been read so far, reading one more chunk when `want_more`)."""
    f = s.fds.get(st.fd)
    if f is not None and f.ftype == FILE_TYPE_DISK:
        while _fill(c, s, st):
            pass
    elif want_more:
        _fill(c, s, st)
    raw = bytes(reversed(st.ungot)) + bytes(st.rbuf[st.rpos:])
    if f is not None and f.text:
        z = raw.find(b"\x1a")
        if z >= 0:
            raw = raw[:z]
        raw = raw.replace(b"\r\n", b"\n")
    return raw


def consume(c, s: R.CrtState, st: Stream, n: int) -> None:
    for _ in range(n):
        if getc(c, s, st) == EOF:
            break


def tell(c, s: R.CrtState, st: Stream) -> int:
    f = s.fds.get(st.fd)
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
    if st.wbuf:
        # the OS position plus what is buffered (append mode included: the file pointer moves to the end only
        # when the buffer is written)
        return pos + len(st.wbuf)
    pos -= len(st.rbuf) - st.rpos
    pos -= len(st.ungot)
    return max(pos, 0)


def seek(c, s: R.CrtState, st: Stream, offset: int, whence: int) -> int:
    if whence not in (0, 1, 2):
        R.invalid_parameter(c, R.EINVAL, s)
        return -1
    f = s.fds.get(st.fd)
    if f is None:
        R.set_errno(c, R.EBADF, s)
        return -1
    if whence == 1:
        cur = tell(c, s, st)
        if cur < 0:
            return -1
        offset, whence = cur + offset, 0
    if flush(c, s, st) < 0:
        return -1
    st.rbuf.clear()
    st.rpos = 0
    st.ungot.clear()
    st.flags &= ~_IOEOF
    if st.flags & _IORW:
        pass
    r = os_lseek(c, s, st.fd, offset, whence)
    write_file_fields(c, s, st)
    return 0 if r >= 0 else -1


def close(c, s: R.CrtState, st: Stream) -> int:
    r = 0
    if st.wbuf and flush(c, s, st) < 0:
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
    if st.std:
        st.fd = -1
        st.flags = 0
        write_file_fields(c, s, st)
    else:
        c.write(st.addr, bytes(s.fsize))
        R.heap(c).free_block(st.addr)
    return r


def setvbuf(c, s: R.CrtState, st: Stream, buf: int, mode: int, size: int) -> int:
    if mode not in (_IOFBF, _IOLBF, _IONBF) or (mode != _IONBF and not (2 <= size <= 0x7FFFFFFF)):
        R.invalid_parameter(c, R.EINVAL, s)
        return -1
    flush(c, s, st)
    if mode == _IONBF:
        st.nbf = True
        st.bufsize = 2
    else:
        st.nbf = False
        st.bufsize = size & ~1
        st.user_buf = buf
    write_file_fields(c, s, st)
    return 0
