"""kernel32 / kernelbase: I/O completion ports, overlapped results, cancellation, named pipes.

Each handler does what kernelbase does: it builds the native arguments (IO_STATUS_BLOCK, OBJECT_ATTRIBUTES,
time-outs) in stack scratch, calls the system service (winhatch.kernel.io.iocp_services) through `c.nt` and
maps the NTSTATUS to the Win32 error in one place (`c.set_last_nt_error`). The overlapped ReadFile/WriteFile
path (`overlapped_read`/`overlapped_write`, called by kernel32/files.py for asynchronous handles and named pipes)
passes OVERLAPPED as the IO_STATUS_BLOCK (Internal = Status, InternalHigh = Information), hEvent as the event
and, unless hEvent's low bit is set, the OVERLAPPED address as the completion packet's ApcContext.
"""
from __future__ import annotations

import struct

from winhatch.kernel.io import completion as kio
from winhatch.kernel.io import iocp_services as svc
from winhatch.kernel.io import npfs
from winhatch.kernel.ke import wait as kwait
from winhatch.ntstatus import NtStatusError
from winhatch.win32.api import api

from winhatch.win32.kernel32.common import K32, heap_alloc, heap_free, invalid_handle, nt_error, sa_inherit

STATUS_PENDING = 0x103
STATUS_TIMEOUT = 0x102
STATUS_USER_APC = 0xC0
STATUS_ABANDONED_WAIT_0 = 0x80
STATUS_BUFFER_OVERFLOW = 0x80000005
ERROR_INVALID_PARAMETER = 87
ERROR_INVALID_NAME = 123
ERROR_IO_PENDING = 997
ERROR_IO_INCOMPLETE = 996
ERROR_ABANDONED_WAIT_0 = 735
WAIT_TIMEOUT = 258
WAIT_IO_COMPLETION = 0xC0
INFINITE = 0xFFFFFFFF
IO_COMPLETION_ALL_ACCESS = 0x001F0003
GENERIC_READ, GENERIC_WRITE = 0x80000000, 0x40000000
SYNCHRONIZE = 0x00100000
FILE_FLAG_OVERLAPPED = 0x40000000
FILE_FLAG_WRITE_THROUGH = 0x80000000
FILE_FLAG_FIRST_PIPE_INSTANCE = 0x00080000
PIPE_ACCESS_INBOUND, PIPE_ACCESS_OUTBOUND = 0x1, 0x2
PIPE_NOWAIT, PIPE_READMODE_MESSAGE, PIPE_TYPE_MESSAGE, PIPE_REJECT_REMOTE_CLIENTS = 0x1, 0x2, 0x4, 0x8
PIPE_UNLIMITED_INSTANCES = 255
PIPE_SERVER_END = 1
NMPWAIT_WAIT_FOREVER = 0xFFFFFFFF
WRITE_DAC, WRITE_OWNER, ACCESS_SYSTEM_SECURITY = 0x00040000, 0x00080000, 0x01000000
FILE_OPEN_IF, FILE_CREATE = 3, 2
FILE_SYNCHRONOUS_IO_NONALERT, FILE_WRITE_THROUGH = 0x20, 0x2
FILE_DEVICE_FILE_SYSTEM = 0x9


# -- scratch helpers ---------------------------------------------------------------------------------------------
def _iosb(c) -> int:
    return c.stack_alloc(2 * c.ptr_size, 8)


def _iosb_read(c, iosb: int) -> tuple[int, int]:
    return c.ptr(iosb) & 0xFFFFFFFF, c.ptr(iosb + c.ptr_size)


def _timeout(c, ms: int) -> int:
    """A relative LARGE_INTEGER time-out in scratch (NULL for INFINITE), as BaseFormatTimeOut builds it."""
    if ms == INFINITE:
        return 0
    p = c.stack_alloc(8, 8)
    c.write(p, struct.pack("<q", -ms * 10_000))
    return p


def _ptr_out(c) -> int:
    return c.stack_alloc(c.ptr_size, 8)


def _nt_success(st: int) -> bool:
    return st < 0x80000000


def _sync_wait(c, h: int, issue) -> tuple[int, int]:
    """A request on an asynchronous handle made without an OVERLAPPED: kernelbase issues it with an
    IO_STATUS_BLOCK of its own and, when it pends, waits on the file handle, then takes the IO_STATUS_BLOCK's
    status. `issue()` -> (status, iosb). Under the restart protocol the handler runs again after the wait: a
    mark on the thread (keyed by the API and its stack pointer) says the request is already issued, and its
    IO_STATUS_BLOCK is read before any new scratch is taken (scratch is handed out again at the same
    addresses). Returns (status, iosb)."""
    key = (c.name, c._sp)
    mark = getattr(c.thread, "k32_pending_io", None)
    if mark is not None and mark[0] == key:
        iosb = mark[1]
        # the run again after the wait: the wait's result is taken here (the IO_STATUS_BLOCK says it all), so
        # that it is not left for a later NtWaitForSingleObject at the same stack depth to take as its own
        c.thread.wait_done = None
    else:
        st, iosb = issue()
        if st != STATUS_PENDING:
            return st, iosb
        c.write_ptr(iosb, STATUS_PENDING)    # the request writes its IO_STATUS_BLOCK when it completes
        c.thread.k32_pending_io = (key, iosb)
    status = c.ptr(iosb) & 0xFFFFFFFF
    if status == STATUS_PENDING:
        wst = c.nt("NtWaitForSingleObject", h, 0, 0)     # blocks: the handler runs again
        status = c.ptr(iosb) & 0xFFFFFFFF if _nt_success(wst) else wst
    c.thread.k32_pending_io = None
    return status, iosb


def _fail(c, st: int) -> int:
    c.set_last_nt_error(st)
    return 0


# ================================================================================ completion ports
@api(K32, "HANDLE WINAPI CreateIoCompletionPort(HANDLE FileHandle, HANDLE ExistingCompletionPort, "
          "ULONG_PTR CompletionKey, DWORD NumberOfConcurrentThreads)")
def CreateIoCompletionPort(c, fh, existing, key, nthreads):
    bad = invalid_handle(c)
    if fh == bad and existing:
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    port = existing
    if not existing:
        out = _ptr_out(c)
        st = c.nt("NtCreateIoCompletion", out, IO_COMPLETION_ALL_ACCESS, 0, nthreads)
        if not _nt_success(st):
            return _fail(c, st)
        port = c.ptr(out)
    if fh != bad:
        info = c.stack_alloc(2 * c.ptr_size, 8)     # FILE_COMPLETION_INFORMATION {Port, Key}
        c.write_ptr(info, port)
        c.write_ptr(info + c.ptr_size, key)
        st = c.nt("NtSetInformationFile", fh, _iosb(c), info, 2 * c.ptr_size, svc.FileCompletionInformation)
        if not _nt_success(st):
            if not existing:
                c.nt("NtClose", port)
            return _fail(c, st)
    return port


@api(K32, "BOOL WINAPI GetQueuedCompletionStatus(HANDLE CompletionPort, LPDWORD lpNumberOfBytesTransferred, "
          "PULONG_PTR lpCompletionKey, LPOVERLAPPED *lpOverlapped, DWORD dwMilliseconds)")
def GetQueuedCompletionStatus(c, port, pbytes, pkey, pov, ms):
    key_out, ov_out, iosb = _ptr_out(c), _ptr_out(c), _iosb(c)
    st = c.nt("NtRemoveIoCompletion", port, key_out, ov_out, iosb, _timeout(c, ms))
    if st in (STATUS_TIMEOUT, STATUS_ABANDONED_WAIT_0) or not _nt_success(st):
        if pov:
            c.write_ptr(pov, 0)
        if st == STATUS_TIMEOUT:
            c.set_last_error(WAIT_TIMEOUT)
        elif st == STATUS_ABANDONED_WAIT_0:
            c.set_last_error(ERROR_ABANDONED_WAIT_0)
        else:
            c.set_last_nt_error(st)
        return 0
    status, info = _iosb_read(c, iosb)
    if pkey:
        c.write_ptr(pkey, c.ptr(key_out))
    if pov:
        c.write_ptr(pov, c.ptr(ov_out))
    if pbytes:
        c.write_u32(pbytes, info)
    if not _nt_success(status):
        return _fail(c, status)
    return 1


@api(K32, "BOOL WINAPI GetQueuedCompletionStatusEx(HANDLE CompletionPort, LPOVERLAPPED_ENTRY lpCompletionPortEntries, "
          "ULONG ulCount, PULONG ulNumEntriesRemoved, DWORD dwMilliseconds, BOOL fAlertable)", calls_guest=True)
def GetQueuedCompletionStatusEx(c, port, entries, count, pnum, ms, alertable):
    num = c.stack_alloc(4, 4)
    st = c.nt("NtRemoveIoCompletionEx", port, entries, count, num, _timeout(c, ms), 1 if alertable else 0)
    if st == STATUS_USER_APC:
        from winhatch.win32.kernel32.threads import run_apcs
        run_apcs(c)
        if pnum:
            c.write_u32(pnum, 0)
        c.set_last_error(WAIT_IO_COMPLETION)
        return 0
    if st == STATUS_TIMEOUT:
        if pnum:
            c.write_u32(pnum, 0)
        c.set_last_error(WAIT_TIMEOUT)
        return 0
    if st == STATUS_ABANDONED_WAIT_0:
        if pnum:
            c.write_u32(pnum, 0)
        c.set_last_error(ERROR_ABANDONED_WAIT_0)
        return 0
    if not _nt_success(st):
        if pnum:
            c.write_u32(pnum, 0)
        return _fail(c, st)
    if pnum:
        c.write_u32(pnum, c.u32(num))
    return 1


@api(K32, "BOOL WINAPI PostQueuedCompletionStatus(HANDLE CompletionPort, DWORD dwNumberOfBytesTransferred, "
          "ULONG_PTR dwCompletionKey, LPOVERLAPPED lpOverlapped)")
def PostQueuedCompletionStatus(c, port, nbytes, key, ov):
    st = c.nt("NtSetIoCompletion", port, key, ov, 0, nbytes)
    if not _nt_success(st):
        return _fail(c, st)
    return 1


@api(K32, "BOOL WINAPI SetFileCompletionNotificationModes(HANDLE FileHandle, UCHAR Flags)")
def SetFileCompletionNotificationModes(c, fh, flags):
    info = c.stack_alloc(4, 4)
    c.write_u32(info, flags & 0xFF)
    st = c.nt("NtSetInformationFile", fh, _iosb(c), info, 4, svc.FileIoCompletionNotificationInformation)
    if not _nt_success(st):
        return _fail(c, st)
    return 1


# ================================================================================ overlapped results
def _ov_status(c, ov: int) -> tuple[int, int]:
    return c.ptr(ov) & 0xFFFFFFFF, c.ptr(ov + c.ptr_size)


def _ov_event(c, ov: int) -> int:
    return c.ptr(ov + 2 * c.ptr_size + 8)   # OVERLAPPED.hEvent after Internal, InternalHigh, Offset, OffsetHigh


@api(K32, "BOOL WINAPI GetOverlappedResultEx(HANDLE hFile, LPOVERLAPPED lpOverlapped, "
          "LPDWORD lpNumberOfBytesTransferred, DWORD dwMilliseconds, BOOL bAlertable)", calls_guest=True)
def GetOverlappedResultEx(c, h, ov, pn, ms, alertable):
    return _overlapped_result(c, h, ov, pn, ms, alertable)


@api(K32, "BOOL WINAPI GetOverlappedResult(HANDLE hFile, LPOVERLAPPED lpOverlapped, "
          "LPDWORD lpNumberOfBytesTransferred, BOOL bWait)")
def GetOverlappedResult(c, h, ov, pn, wait):
    return _overlapped_result(c, h, ov, pn, INFINITE if wait else 0, False)


def _overlapped_result(c, h, ov, pn, ms, alertable) -> int:
    status, info = _ov_status(c, ov)
    if status == STATUS_PENDING:
        if ms == 0:
            c.set_last_error(ERROR_IO_INCOMPLETE)
            return 0
        ev = _ov_event(c, ov) & ~1
        if alertable and kwait.pending_apcs(c.thread):
            st = STATUS_USER_APC         # the APCs already queued run before any wait
        else:
            st = c.nt("NtWaitForSingleObject", ev or h, 1 if alertable else 0, _timeout(c, ms))
        if st == STATUS_TIMEOUT:
            c.set_last_error(WAIT_TIMEOUT)
            return 0
        if st == STATUS_USER_APC:
            from winhatch.win32.kernel32.threads import run_apcs
            run_apcs(c)
            c.set_last_error(WAIT_IO_COMPLETION)
            return 0
        if not _nt_success(st):
            return _fail(c, st)
        status, info = _ov_status(c, ov)
        if status == STATUS_PENDING:
            c.set_last_error(ERROR_IO_INCOMPLETE)
            return 0
    if pn:
        c.write_u32(pn, info)
    if not _nt_success(status):
        return _fail(c, status)
    return 1


# ================================================================================ cancellation
@api(K32, "BOOL WINAPI CancelIo(HANDLE hFile)")
def CancelIo(c, h):
    st = c.nt("NtCancelIoFile", h, _iosb(c))
    return 1 if _nt_success(st) else _fail(c, st)


@api(K32, "BOOL WINAPI CancelIoEx(HANDLE hFile, LPOVERLAPPED lpOverlapped)")
def CancelIoEx(c, h, ov):
    st = c.nt("NtCancelIoFileEx", h, ov, _iosb(c))
    return 1 if _nt_success(st) else _fail(c, st)


@api(K32, "BOOL WINAPI CancelSynchronousIo(HANDLE hThread)")
def CancelSynchronousIo(c, h):
    st = c.nt("NtCancelSynchronousIoFile", h, 0, _iosb(c))
    return 1 if _nt_success(st) else _fail(c, st)


# ================================================================================ ReadFile / WriteFile
def _request_args(c, obj, ov: int):
    """(iosb, event object, ApcContext, offset) of a request; raises NtStatusError for a bad hEvent."""
    if ov:
        ev_h = _ov_event(c, ov)
        event = c.proc.handles.lookup(ev_h & ~1, "Event") if ev_h & ~1 else None
        ctx = 0 if ev_h & 1 else ov
        offset = None
        if hasattr(obj, "seek"):
            offset = c.u32(ov + 2 * c.ptr_size) | (c.u32(ov + 2 * c.ptr_size + 4) << 32)
        c.write_ptr(ov, STATUS_PENDING)     # InternalHigh is left alone until the request completes
        return ov, event, ctx, offset
    return _iosb(c), None, 0, None


def wants_request_path(obj, ov: int) -> bool:
    """Whether ReadFile/WriteFile take the request path here: an asynchronous file object with an OVERLAPPED,
    or a named pipe end (message boundaries, pending reads)."""
    return isinstance(obj, npfs.NamedPipeEnd) or bool(ov) and not kio.is_synchronous(obj)


def overlapped_read(c, h: int, obj, buf: int, n: int, pread: int, ov: int) -> int:
    def issue():
        iosb, event, ctx, offset = _request_args(c, obj, ov)
        return svc.read_request(c.machine, c.thread, obj, buf, n, offset, iosb, event, 0, ctx), iosb
    try:
        st, iosb = issue() if ov or kio.is_synchronous(obj) else _sync_wait(c, h, issue)
    except NtStatusError as e:
        nt_error(c, e)
        return 0
    return _request_result(c, st, iosb, pread, ov)


def overlapped_write(c, h: int, obj, buf: int, n: int, pwritten: int, ov: int) -> int:
    def issue():
        data = c.read(buf, n) if n else b""
        iosb, event, ctx, offset = _request_args(c, obj, ov)
        return svc.write_request(c.machine, c.thread, obj, data, offset, iosb, event, 0, ctx,
                                 key=(c.name, c._sp)), iosb
    try:
        st, iosb = issue() if ov or kio.is_synchronous(obj) else _sync_wait(c, h, issue)
    except NtStatusError as e:
        nt_error(c, e)
        return 0
    return _request_result(c, st, iosb, pwritten, ov)


def _file_object(c, h):
    try:
        obj = c.proc.handles.lookup(h)
    except NtStatusError as e:
        nt_error(c, e)
        return None
    if getattr(obj, "type_name", "") != "File":
        c.set_last_error(6)     # ERROR_INVALID_HANDLE
        return None
    return obj


def _ex_request(c, h, ov, routine, issue) -> int:
    """ReadFileEx / WriteFileEx: OVERLAPPED as the IO_STATUS_BLOCK, no event, no completion packet; the
    routine runs as an APC when the thread next waits alertably, whether the request completed at once or
    later. A request that fails at once returns FALSE and queues nothing."""
    obj = _file_object(c, h)
    if obj is None:
        return 0
    if getattr(obj, "completion_port", None) is not None or kio.is_synchronous(obj) and \
            not isinstance(obj, npfs.NamedPipeEnd):
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    offset = None
    if hasattr(obj, "seek"):
        offset = c.u32(ov + 2 * c.ptr_size) | (c.u32(ov + 2 * c.ptr_size + 4) << 32)
    c.write_ptr(ov, STATUS_PENDING)
    try:
        st = issue(obj, offset)
    except NtStatusError as e:
        nt_error(c, e)
        return 0
    if kio.nt_error(st):
        return _fail(c, st)
    c.set_last_error(0)
    return 1


@api(K32, "BOOL WINAPI ReadFileEx(HANDLE hFile, LPVOID lpBuffer, DWORD nNumberOfBytesToRead, "
          "LPOVERLAPPED lpOverlapped, LPOVERLAPPED_COMPLETION_ROUTINE lpCompletionRoutine)")
def ReadFileEx(c, h, buf, n, ov, routine):
    return _ex_request(c, h, ov, routine, lambda obj, off: svc.read_request(
        c.machine, c.thread, obj, buf, n, off, ov, None, 0, 0, win32_routine=routine))


@api(K32, "BOOL WINAPI WriteFileEx(HANDLE hFile, LPCVOID lpBuffer, DWORD nNumberOfBytesToWrite, "
          "LPOVERLAPPED lpOverlapped, LPOVERLAPPED_COMPLETION_ROUTINE lpCompletionRoutine)")
def WriteFileEx(c, h, buf, n, ov, routine):
    return _ex_request(c, h, ov, routine, lambda obj, off: svc.write_request(
        c.machine, c.thread, obj, c.read(buf, n) if n else b"", off, ov, None, 0, 0, win32_routine=routine))


def _request_result(c, st: int, iosb: int, pcount: int, ov: int) -> int:
    if st == STATUS_PENDING:
        c.set_last_error(ERROR_IO_PENDING)
        return 0
    if kio.nt_error(st):
        return _fail(c, st)
    _, info = _iosb_read(c, iosb)
    if pcount and (not ov or _nt_success(st)):
        # the count of a warning (STATUS_BUFFER_OVERFLOW: ERROR_MORE_DATA with the bytes read) is written for a
        # synchronous call only; with an OVERLAPPED it is in InternalHigh (Wine's pipe tests, test_readfileex)
        c.write_u32(pcount, info)
    if not _nt_success(st):
        return _fail(c, st)
    return 1


# ================================================================================ named pipes
def _pipe_nt_name(name: str | None) -> str | None:
    """\\\\.\\pipe\\x → \\??\\pipe\\x (RtlDosPathNameToNtPathName_U); None for a name that is no local pipe."""
    if not name:
        return None
    n = name.replace("/", "\\")
    if n[:9].lower() in ("\\\\.\\pipe\\", "\\\\?\\pipe\\") and len(n) > 9:
        return "\\??\\pipe\\" + n[9:]
    return None


@api(K32, "HANDLE WINAPI CreateNamedPipe%(LPCTSTR lpName, DWORD dwOpenMode, DWORD dwPipeMode, DWORD nMaxInstances, "
          "DWORD nOutBufferSize, DWORD nInBufferSize, DWORD nDefaultTimeOut, "
          "LPSECURITY_ATTRIBUTES lpSecurityAttributes)")
def CreateNamedPipe(c, name, open_mode, pipe_mode, max_inst, out_size, in_size, timeout_ms, sa):
    bad = invalid_handle(c)
    nt_name = _pipe_nt_name(name)
    if nt_name is None:
        if name is None or name[:4].replace("/", "\\") in ("\\\\.\\", "\\\\?\\"):
            c.set_last_error(3)     # \\.\other\x: \??\other does not exist (ERROR_PATH_NOT_FOUND)
        elif name and name[:2] in ("\\\\", "//"):
            from winhatch.win32.ntdll.seh import raise_unsupported
            raise_unsupported(c, f"CreateNamedPipe of a pipe on another machine ({name!r})")
        else:
            c.set_last_error(ERROR_INVALID_NAME)
        return bad
    if not 0 < max_inst <= PIPE_UNLIMITED_INSTANCES or \
            pipe_mode & ~(PIPE_NOWAIT | PIPE_READMODE_MESSAGE | PIPE_TYPE_MESSAGE | PIPE_REJECT_REMOTE_CLIENTS) or \
            not open_mode & (PIPE_ACCESS_INBOUND | PIPE_ACCESS_OUTBOUND):
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return bad
    access = SYNCHRONIZE | (open_mode & (WRITE_DAC | WRITE_OWNER | ACCESS_SYSTEM_SECURITY))
    share = 0
    if open_mode & PIPE_ACCESS_INBOUND:
        access |= GENERIC_READ
        share |= 0x2       # FILE_SHARE_WRITE: the client writes
    if open_mode & PIPE_ACCESS_OUTBOUND:
        access |= GENERIC_WRITE
        share |= 0x1
    options = 0 if open_mode & FILE_FLAG_OVERLAPPED else FILE_SYNCHRONOUS_IO_NONALERT
    if open_mode & FILE_FLAG_WRITE_THROUGH:
        options |= FILE_WRITE_THROUGH
    disposition = FILE_CREATE if open_mode & FILE_FLAG_FIRST_PIPE_INSTANCE else FILE_OPEN_IF
    tmo = c.stack_alloc(8, 8)
    c.write(tmo, struct.pack("<q", -(timeout_ms or 50) * 10_000))
    out = _ptr_out(c)
    from winhatch.win32.kernel32.common import sa_descriptor
    oa = c.object_attributes(c.unicode_string(nt_name), attributes=0x40 | (0x2 if sa_inherit(c, sa) else 0),
                             sd=sa_descriptor(c, sa))
    st = c.nt("NtCreateNamedPipeFile", out, access, oa, _iosb(c), share, disposition, options,
              1 if pipe_mode & PIPE_TYPE_MESSAGE else 0, 1 if pipe_mode & PIPE_READMODE_MESSAGE else 0,
              1 if pipe_mode & PIPE_NOWAIT else 0,
              0xFFFFFFFF if max_inst == PIPE_UNLIMITED_INSTANCES else max_inst, in_size, out_size, tmo)
    if not _nt_success(st):
        c.set_last_nt_error(st)
        return bad
    c.set_last_error(0)
    return c.ptr(out)


def open_pipe_client(c, name: str, access: int, flags: int, inherit: bool) -> int | None:
    """CreateFile of \\\\.\\pipe\\x: the client end of a listening instance (what NtCreateFile does for a path
    under \\Device\\NamedPipe). Returns the handle, or None with the last error set; -1: not a pipe name."""
    nt_name = _pipe_nt_name(name)
    if nt_name is None:
        return -1
    from winhatch.kernel.ob.access import object_type
    want = object_type("File").map_access(access)
    try:
        end = svc.open_pipe_client(c.machine, npfs.pipe_name(nt_name), want, not flags & FILE_FLAG_OVERLAPPED,
                                   c.thread)
    except NtStatusError as e:
        nt_error(c, e)
        return None
    c.set_last_error(0)
    return c.proc.handles.insert(end, want | SYNCHRONIZE | 0x80, inherit=inherit)   # + FILE_READ_ATTRIBUTES


def _fsctl(c, h, ov, code, inp=0, inlen=0, out=0, outlen=0) -> tuple[int, int]:
    """NtFsControlFile as kernelbase issues it (OVERLAPPED as the IO_STATUS_BLOCK when given): (status, iosb)."""
    if ov:
        ev_h = _ov_event(c, ov)
        c.write_ptr(ov, STATUS_PENDING)
        st = c.nt("NtFsControlFile", h, ev_h & ~1, 0, 0 if ev_h & 1 else ov, ov, code, inp, inlen, out, outlen)
        return st, ov
    iosb = _iosb(c)
    st = c.nt("NtFsControlFile", h, 0, 0, 0, iosb, code, inp, inlen, out, outlen)
    return st, iosb


@api(K32, "BOOL WINAPI ConnectNamedPipe(HANDLE hNamedPipe, LPOVERLAPPED lpOverlapped)")
def ConnectNamedPipe(c, h, ov):
    if ov:
        st, _ = _fsctl(c, h, ov, svc.FSCTL_PIPE_LISTEN)
        if st == STATUS_PENDING:
            c.set_last_error(ERROR_IO_PENDING)
            return 0
    else:
        st, _ = _sync_wait(c, h, lambda: _fsctl(c, h, 0, svc.FSCTL_PIPE_LISTEN))
    return 1 if _nt_success(st) else _fail(c, st)


@api(K32, "BOOL WINAPI TransactNamedPipe(HANDLE hNamedPipe, LPVOID lpInBuffer, DWORD nInBufferSize, "
          "LPVOID lpOutBuffer, DWORD nOutBufferSize, LPDWORD lpBytesRead, LPOVERLAPPED lpOverlapped)")
def TransactNamedPipe(c, h, inp, inlen, out, outlen, pread, ov):
    code = svc.FSCTL_PIPE_TRANSCEIVE
    if ov:
        st, iosb = _fsctl(c, h, ov, code, inp, inlen, out, outlen)
        if st == STATUS_PENDING:
            c.set_last_error(ERROR_IO_PENDING)
            return 0
    else:
        st, iosb = _sync_wait(c, h, lambda: _fsctl(c, h, 0, code, inp, inlen, out, outlen))
    return _request_result(c, st, iosb, pread, ov)


def _pipe_attribute(c, h, name: bytes, out: int) -> int:
    inp = c.stack_alloc(len(name) + 1, 8)
    c.write(inp, name + b"\0")
    st, _ = _fsctl(c, h, 0, svc.FSCTL_PIPE_GET_PIPE_ATTRIBUTE, inp, len(name) + 1, out, 4 if out else 0)
    return 1 if _nt_success(st) else _fail(c, st)


@api(K32, "BOOL WINAPI GetNamedPipeClientProcessId(HANDLE Pipe, PULONG ClientProcessId)")
def GetNamedPipeClientProcessId(c, h, out):
    return _pipe_attribute(c, h, b"ClientProcessId", out)


@api(K32, "BOOL WINAPI GetNamedPipeServerProcessId(HANDLE Pipe, PULONG ServerProcessId)")
def GetNamedPipeServerProcessId(c, h, out):
    return _pipe_attribute(c, h, b"ServerProcessId", out)


@api(K32, "BOOL WINAPI GetNamedPipeClientSessionId(HANDLE Pipe, PULONG ClientSessionId)")
def GetNamedPipeClientSessionId(c, h, out):
    return _pipe_attribute(c, h, b"ClientSessionId", out)


@api(K32, "BOOL WINAPI GetNamedPipeServerSessionId(HANDLE Pipe, PULONG ServerSessionId)")
def GetNamedPipeServerSessionId(c, h, out):
    return _pipe_attribute(c, h, b"ServerSessionId", out)


@api(K32, "BOOL WINAPI DisconnectNamedPipe(HANDLE hNamedPipe)")
def DisconnectNamedPipe(c, h):
    st, _ = _fsctl(c, h, 0, svc.FSCTL_PIPE_DISCONNECT)
    return 1 if _nt_success(st) else _fail(c, st)


@api(K32, "BOOL WINAPI PeekNamedPipe(HANDLE hNamedPipe, LPVOID lpBuffer, DWORD nBufferSize, LPDWORD lpBytesRead, "
          "LPDWORD lpTotalBytesAvail, LPDWORD lpBytesLeftThisMessage)")
def PeekNamedPipe(c, h, buf, size, pread, pavail, pleft):
    want = size if buf else 0
    scratch = heap_alloc(c, 16 + want)
    if not scratch:
        c.set_last_error(8)   # ERROR_NOT_ENOUGH_MEMORY
        return 0
    try:
        st, iosb = _fsctl(c, h, 0, svc.FSCTL_PIPE_PEEK, out=scratch, outlen=16 + want)
        if st == svc.STATUS_INVALID_PARAMETER and getattr(_object(c, h), "type_name", "") == "File":
            st = 0xC0000010   # not a pipe: STATUS_INVALID_DEVICE_REQUEST (ERROR_INVALID_FUNCTION)
        if not _nt_success(st) and st != STATUS_BUFFER_OVERFLOW:
            return _fail(c, st)
        state, avail, nmsg, msglen = struct.unpack("<IIII", c.read(scratch, 16))
        got = max(0, _iosb_read(c, iosb)[1] - 16)
        if buf and got:
            c.write(buf, c.read(scratch + 16, got))
        if pread:
            c.write_u32(pread, got)
        if pavail:
            c.write_u32(pavail, avail)
        if pleft:
            c.write_u32(pleft, (msglen - got) & 0xFFFFFFFF)   # a byte pipe: 0 - bytes read, as Windows gives
        return 1
    finally:
        heap_free(c, scratch)


def _object(c, h):
    try:
        return c.proc.handles.lookup(h)
    except NtStatusError:
        return None


@api(K32, "BOOL WINAPI WaitNamedPipe%(LPCTSTR lpNamedPipeName, DWORD nTimeOut)")
def WaitNamedPipe(c, name, timeout_ms):
    nt_name = _pipe_nt_name(name)
    if nt_name is None:
        if name and name[:2] in ("\\\\", "//"):
            from winhatch.win32.ntdll.seh import raise_unsupported
            raise_unsupported(c, f"WaitNamedPipe for a pipe on another machine ({name!r})")
        c.set_last_error(161)   # ERROR_BAD_PATHNAME
        return 0
    pname = npfs.pipe_name(nt_name).encode("utf-16-le")
    buf = c.stack_alloc(16 + len(pname), 8)   # FILE_PIPE_WAIT_FOR_BUFFER
    if timeout_ms == 0:          # NMPWAIT_USE_DEFAULT_WAIT
        head = struct.pack("<qIB", 0, len(pname), 0)
    elif timeout_ms == NMPWAIT_WAIT_FOREVER:
        head = struct.pack("<qIB", -(1 << 63), len(pname), 1)
    else:
        head = struct.pack("<qIB", -timeout_ms * 10_000, len(pname), 1)
    c.write(buf, head + b"\0" + pname)
    # kernelbase opens \Device\NamedPipe\ (the file system's root) and sends it FSCTL_PIPE_WAIT
    root = c.proc.handles.insert(npfs.NpfsRoot(), SYNCHRONIZE | 0x80)
    try:
        st = c.nt("NtFsControlFile", root, 0, 0, 0, _iosb(c), svc.FSCTL_PIPE_WAIT, buf, 14 + len(pname), 0, 0)
    finally:
        c.proc.handles.close(root)
    return 1 if _nt_success(st) else _fail(c, st)


@api(K32, "BOOL WINAPI SetNamedPipeHandleState(HANDLE hNamedPipe, LPDWORD lpMode, LPDWORD lpMaxCollectionCount, "
          "LPDWORD lpCollectDataTimeout)")
def SetNamedPipeHandleState(c, h, pmode, pmax, ptimeout):
    if pmax or ptimeout:
        from winhatch.win32.ntdll.seh import raise_unsupported
        raise_unsupported(c, "SetNamedPipeHandleState's collection count and time-out (remote pipes)")
    if pmode:
        mode = c.u32(pmode)
        if mode & ~(PIPE_READMODE_MESSAGE | PIPE_NOWAIT):
            c.set_last_error(ERROR_INVALID_PARAMETER)
            return 0
        info = c.stack_alloc(8, 8)    # FILE_PIPE_INFORMATION {ReadMode, CompletionMode}
        c.write(info, struct.pack("<II", 1 if mode & PIPE_READMODE_MESSAGE else 0, 1 if mode & PIPE_NOWAIT else 0))
        st = c.nt("NtSetInformationFile", h, _iosb(c), info, 8, svc.FilePipeInformation)
        if not _nt_success(st):
            return _fail(c, st)
    return 1


@api(K32, "BOOL WINAPI GetNamedPipeHandleState%(HANDLE hNamedPipe, LPDWORD lpState, LPDWORD lpCurInstances, "
          "LPDWORD lpMaxCollectionCount, LPDWORD lpCollectDataTimeout, LPTSTR lpUserName, DWORD nMaxUserNameSize)")
def GetNamedPipeHandleState(c, h, pstate, pcur, pmax, ptimeout, puser, usersize):
    if pmax or ptimeout:
        # the collection count and time-out exist for the client end of a remote pipe only
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    if puser:
        from winhatch.win32.ntdll.seh import raise_unsupported
        raise_unsupported(c, "GetNamedPipeHandleState's client user name (impersonation)")
    if pstate:
        info = c.stack_alloc(8, 8)
        st = svc.query_information(c.machine, c.thread, h, _iosb(c), info, 8, svc.FilePipeInformation)
        if st != 0:
            return _fail(c, st)
        read_mode, completion_mode = struct.unpack("<II", c.read(info, 8))
        c.write_u32(pstate, (PIPE_READMODE_MESSAGE if read_mode else 0) | (PIPE_NOWAIT if completion_mode else 0))
    if pcur:
        info = c.stack_alloc(40, 8)
        st = svc.query_information(c.machine, c.thread, h, _iosb(c), info, 40, svc.FilePipeLocalInformation)
        if st != 0:
            return _fail(c, st)
        c.write_u32(pcur, struct.unpack_from("<I", c.read(info, 40), 12)[0])
    return 1


@api(K32, "BOOL WINAPI GetNamedPipeInfo(HANDLE hNamedPipe, LPDWORD lpFlags, LPDWORD lpOutBufferSize, "
          "LPDWORD lpInBufferSize, LPDWORD lpMaxInstances)")
def GetNamedPipeInfo(c, h, pflags, pout, pin, pmax):
    info = c.stack_alloc(40, 8)    # FILE_PIPE_LOCAL_INFORMATION
    # NtQueryInformationFile(FilePipeLocalInformation): the pipe classes' part of the service, called directly
    # while NtQueryInformationFile is still ntdll's handler
    st = svc.query_information(c.machine, c.thread, h, _iosb(c), info, 40, svc.FilePipeLocalInformation)
    if not _nt_success(st):
        return _fail(c, st)
    (ptype, _config, maxi, _cur, inq, _avail, outq, _wq, _state, end) = struct.unpack("<10I", c.read(info, 40))
    if pflags:
        c.write_u32(pflags, (PIPE_SERVER_END if end == 1 else 0) | (PIPE_TYPE_MESSAGE if ptype == 1 else 0))
    if pout:
        c.write_u32(pout, outq)
    if pin:
        c.write_u32(pin, inq)
    if pmax:
        c.write_u32(pmax, maxi)     # unlimited is 0xFFFFFFFF here, as wine64 reports it
    return 1


# ================================================================================ DeviceIoControl
@api(K32, "BOOL WINAPI DeviceIoControl(HANDLE hDevice, DWORD dwIoControlCode, LPVOID lpInBuffer, "
          "DWORD nInBufferSize, LPVOID lpOutBuffer, DWORD nOutBufferSize, LPDWORD lpBytesReturned, "
          "LPOVERLAPPED lpOverlapped)")
def DeviceIoControl(c, h, code, inp, inlen, out, outlen, pret, ov):
    """File-system control codes go to NtFsControlFile, the others to NtDeviceIoControlFile (each stops
    loudly for a code it does not model)."""
    service = "NtFsControlFile" if code >> 16 == FILE_DEVICE_FILE_SYSTEM else "NtDeviceIoControlFile"
    if ov:
        ev_h = _ov_event(c, ov)
        c.write_ptr(ov, STATUS_PENDING)
        st = c.nt(service, h, ev_h & ~1, 0, 0 if ev_h & 1 else ov, ov, code, inp, inlen, out, outlen)
        if st == STATUS_PENDING:
            c.set_last_error(ERROR_IO_PENDING)
            return 0
        iosb = ov
    else:
        iosb = _iosb(c)
        st = c.nt(service, h, 0, 0, 0, iosb, code, inp, inlen, out, outlen)
    if kio.nt_error(st):
        return _fail(c, st)
    if pret:
        c.write_u32(pret, _iosb_read(c, iosb)[1])
    return 1 if _nt_success(st) else _fail(c, st)




# ================================================================================ sessions (the pipe tests' neighbour)
@api(K32, "BOOL WINAPI ProcessIdToSessionId(DWORD dwProcessId, DWORD *pSessionId)")
def ProcessIdToSessionId(c, pid, psession):
    """The session of a process by id: NtOpenProcess(PROCESS_QUERY_LIMITED_INFORMATION) and
    NtQueryInformationProcess(ProcessSessionInformation); an unknown id is ERROR_INVALID_PARAMETER (the open's
    STATUS_INVALID_CID)."""
    if not psession:
        c.set_last_error(998)   # ERROR_NOACCESS
        return 0
    ps = c.ptr_size
    out, cid, info = c.stack_alloc(ps), c.stack_alloc(2 * ps), c.stack_alloc(4)
    c.write_ptr(cid, pid)
    c.write_ptr(cid + ps, 0)
    st = c.nt("NtOpenProcess", out, 0x1000, c.object_attributes(0, 0), cid)
    if st & 0x80000000:
        c.set_last_nt_error(st)
        return 0
    h = c.ptr(out)
    st = c.nt("NtQueryInformationProcess", h, 24, info, 4, 0)    # ProcessSessionInformation
    c.nt("NtClose", h)
    if st & 0x80000000:
        c.set_last_nt_error(st)
        return 0
    c.write_u32(psession, c.u32(info))
    return 1


@api(("advapi32.dll", "kernelbase.dll"), "BOOL WINAPI ImpersonateNamedPipeClient(HANDLE hNamedPipe)")
def ImpersonateNamedPipeClient(c, h):
    """NtFsControlFile(FSCTL_PIPE_IMPERSONATE) on the server end: the calling thread impersonates the pipe's
    client (RevertToSelf ends it). Before the server has read from a connected client: ERROR_CANNOT_IMPERSONATE."""
    st, _ = _fsctl(c, h, 0, svc.FSCTL_PIPE_IMPERSONATE)
    return 1 if _nt_success(st) else _fail(c, st)


@api(K32, "BOOL WINAPI CallNamedPipe%(LPCTSTR lpNamedPipeName, LPVOID lpInBuffer, DWORD nInBufferSize, "
          "LPVOID lpOutBuffer, DWORD nOutBufferSize, LPDWORD lpBytesRead, DWORD nTimeOut)")
def CallNamedPipe(c, name, inp, inlen, out, outlen, pread, timeout_ms):
    """kernelbase's composition: open the pipe's client end (GENERIC_READ | GENERIC_WRITE); while every instance
    is busy (ERROR_PIPE_BUSY) WaitNamedPipe(nTimeOut) and open again; message read mode; TransactNamedPipe; close.
    Under the restart protocol (a wait or the transaction blocks and the handler runs again) a mark on the
    thread, keyed by the API and its stack pointer, keeps the handle already opened."""
    key = (c.name, c._sp)
    mark = getattr(c.thread, "k32_call_pipe", None)
    if mark is not None and mark[0] == key:
        h = mark[1]
    else:
        for _ in range(64):
            h = open_pipe_client(c, name, 0xC0000000, 0, False)
            if h == -1:
                c.set_last_error(161)          # ERROR_BAD_PATHNAME: not a pipe name
                return 0
            if h is not None:
                break
            if c.last_error() != 231:      # ERROR_PIPE_BUSY
                return 0
            if not WaitNamedPipe(c, name, timeout_ms):
                if c.last_error() == 2:    # the pipe went away meanwhile: the wait timed out
                    c.set_last_error(121)      # ERROR_SEM_TIMEOUT
                return 0
        else:
            c.set_last_error(231)
            return 0
        c.thread.k32_call_pipe = (key, h)
    try:
        mode = c.stack_alloc(4)
        c.write_u32(mode, PIPE_READMODE_MESSAGE)
        ok = SetNamedPipeHandleState(c, h, mode, 0, 0) and \
            TransactNamedPipe(c, h, inp, inlen, out, outlen, pread, 0)
    except BaseException as e:
        from winhatch.kernel.ke.wait import WouldBlock
        if isinstance(e, WouldBlock):
            raise                              # the transaction waits: the handle stays for the re-run
        c.thread.k32_call_pipe = None
        c.proc.handles.close(h)
        raise
    c.thread.k32_call_pipe = None
    err = c.last_error()
    c.nt("NtClose", h)
    c.set_last_error(err)
    return 1 if ok else 0
