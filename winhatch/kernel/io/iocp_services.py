"""The I/O manager's system services for completion ports, named pipes and cancellation, and the request
paths (`read_request`, `write_request`) an asynchronous ReadFile/WriteFile takes.

Pointer-sized fields (IO_STATUS_BLOCK, FILE_IO_COMPLETION_INFORMATION, FILE_COMPLETION_INFORMATION) are the
caller's pointer size: 8 bytes in an x64 process, 4 in a WoW64 one.

The information classes this component owns (`SET_INFORMATION`, `QUERY_INFORMATION`: completion ports,
notification modes, pipe information) are served by `set_information` / `query_information`, which the general
NtSetInformationFile / NtQueryInformationFile are to call first. NtSetInformationFile is registered here for
these classes only (every other class stops loudly) until the general one exists.
"""
from __future__ import annotations

import struct

from winhatch.kernel.io import completion as io
from winhatch.kernel.io import npfs
from winhatch.kernel.ke import wait as kwait
from winhatch.kernel.ob import services as ob_services
from winhatch.kernel.ke.services import kernel_service, unsupported, user_read, user_write
from winhatch.kernel.ob.access import EVENT_MODIFY_STATE, SYNCHRONIZE
from winhatch.ntstatus import NtStatusError

STATUS_SUCCESS = 0
STATUS_TIMEOUT = 0x102
STATUS_PENDING = 0x103
STATUS_USER_APC = 0xC0
STATUS_ABANDONED_WAIT_0 = 0x80
STATUS_INVALID_HANDLE = 0xC0000008
STATUS_INVALID_PARAMETER = 0xC000000D
STATUS_INVALID_DEVICE_REQUEST = 0xC0000010
FILE_DEVICE_FILE_SYSTEM = 0x9
STATUS_END_OF_FILE = 0xC0000011
STATUS_BUFFER_TOO_SMALL = 0xC0000023
STATUS_OBJECT_NAME_NOT_FOUND = 0xC0000034
STATUS_INFO_LENGTH_MISMATCH = 0xC0000004
STATUS_IO_TIMEOUT = 0xC00000B5
STATUS_NOT_FOUND = 0xC0000225
STATUS_CANCELLED = 0xC0000120
STATUS_INVALID_INFO_CLASS = 0xC0000003

IO_COMPLETION_QUERY_STATE = 0x1
IO_COMPLETION_MODIFY_STATE = 0x2
FILE_READ_DATA, FILE_WRITE_DATA = 0x1, 0x2
FILE_WRITE_ATTRIBUTES = 0x100
FILE_CREATE = 2
FILE_SYNCHRONOUS_IO_ALERT, FILE_SYNCHRONOUS_IO_NONALERT = 0x10, 0x20

FSCTL_PIPE_DISCONNECT = 0x110004
FSCTL_PIPE_LISTEN = 0x110008
FSCTL_PIPE_PEEK = 0x11400C
FSCTL_PIPE_WAIT = 0x110018
FSCTL_PIPE_IMPERSONATE = 0x11001C
FSCTL_PIPE_TRANSCEIVE = 0x11C017
FSCTL_PIPE_GET_PIPE_ATTRIBUTE = 0x110028
FSCTL_PIPE_GET_CONNECTION_ATTRIBUTE = 0x110030

FilePipeInformation = 23
FilePipeLocalInformation = 24
FileCompletionInformation = 30
FileIoCompletionNotificationInformation = 41
FileReplaceCompletionInformation = 61


# -- helpers ----------------------------------------------------------------------------------------------------
def _psize(thread) -> int:
    return 8 if thread.process.arch == "x64" else 4


def _get_ptr(thread, addr: int) -> int:
    n = _psize(thread)
    return int.from_bytes(user_read(thread.process, addr, n), "little")


def _put_ptr(thread, addr: int, v: int) -> None:
    n = _psize(thread)
    user_write(thread.process, addr, (v & ((1 << (8 * n)) - 1)).to_bytes(n, "little"))


def _put_u32(thread, addr: int, v: int) -> None:
    user_write(thread.process, addr, struct.pack("<I", v & 0xFFFFFFFF))


def _lookup(thread, handle: int, type_name: str | None = None, access: int = 0):
    proc = thread.process
    return proc.handles.lookup(handle, type_name, access, current_process=proc, current_thread=thread)


def _read_unicode_string(thread, us: int) -> str:
    n = _psize(thread)
    raw = user_read(thread.process, us, 2 * n)
    length = struct.unpack_from("<H", raw)[0]
    buf = int.from_bytes(raw[n:2 * n], "little")
    if length & 1:
        raise NtStatusError(STATUS_INVALID_PARAMETER, "odd UNICODE_STRING length")
    return user_read(thread.process, buf, length).decode("utf-16-le", "surrogatepass") if length else ""


def object_name(thread, oa: int, service: str) -> tuple[str | None, int]:
    """(ObjectName or None, Attributes) of an OBJECT_ATTRIBUTES; a RootDirectory stops loudly."""
    if not oa:
        return None, 0
    n = _psize(thread)
    raw = user_read(thread.process, oa, 4 * n)
    root = int.from_bytes(raw[n:2 * n], "little")
    name_ptr = int.from_bytes(raw[2 * n:3 * n], "little")
    attrs = struct.unpack_from("<I", raw, 3 * n)[0]
    if root:
        unsupported(thread, service, "an OBJECT_ATTRIBUTES with a RootDirectory")
    return (_read_unicode_string(thread, name_ptr) if name_ptr else None), attrs


def _event(thread, handle: int):
    return _lookup(thread, handle, "Event", EVENT_MODIFY_STATE) if handle else None


def _timeout_deadline(machine, thread, timeout_ptr: int) -> int | None:
    """None: no time-out (NULL); else the emulated time the wait ends (negative: relative 100 ns)."""
    if not timeout_ptr:
        return None
    (t,) = struct.unpack("<q", user_read(thread.process, timeout_ptr, 8))
    now = machine.clock.now()
    return now + (-t if t <= 0 else max(0, t - machine.clock.system_time()))


# -- completion ports -------------------------------------------------------------------------------------------
@kernel_service("NtCreateIoCompletion")
def NtCreateIoCompletion(machine, thread, IoCompletionHandle, DesiredAccess, ObjectAttributes, Count):
    # named through the object manager like every other object (RootDirectory, OBJ_OPENIF, collisions)
    port = io.IoCompletion(machine, Count & 0xFFFFFFFF)
    return ob_services.insert_object(machine, thread, port, ObjectAttributes, DesiredAccess & 0xFFFFFFFF,
                                     IoCompletionHandle)


@kernel_service("NtOpenIoCompletion")
def NtOpenIoCompletion(machine, thread, IoCompletionHandle, DesiredAccess, ObjectAttributes):
    return ob_services.open_object(machine, thread, ObjectAttributes, "IoCompletion", DesiredAccess & 0xFFFFFFFF,
                                   IoCompletionHandle)


@kernel_service("NtSetIoCompletion")
def NtSetIoCompletion(machine, thread, IoCompletionHandle, KeyContext, ApcContext, IoStatus, IoStatusInformation):
    port = _lookup(thread, IoCompletionHandle, "IoCompletion", IO_COMPLETION_MODIFY_STATE)
    port.insert(io.Packet(KeyContext, ApcContext, IoStatus, IoStatusInformation))
    return 0


def _remove(machine, thread, handle: int, count: int, timeout_ptr: int, alertable: bool, caller_sp: int,
            service: str) -> tuple[int, list]:
    """KeRemoveQueueEx on the port: (status, packets). Blocks (the restart protocol) when nothing can be
    taken now and the time-out allows."""
    key = (service, caller_sp)
    done = kwait.take_done(thread, key)
    if done is not None:
        if done.extra.get("abandoned"):
            return STATUS_ABANDONED_WAIT_0, []
        if done.status == kwait.WAIT_TIMEOUT:
            return STATUS_TIMEOUT, []
        if done.status == kwait.WAIT_IO_COMPLETION:
            return STATUS_USER_APC, []
        return STATUS_SUCCESS, done.extra.get("packets") or []
    port = _lookup(thread, handle, "IoCompletion", IO_COMPLETION_MODIFY_STATE)
    got = port.remove_now(thread, count)
    if got:
        return STATUS_SUCCESS, got
    if alertable and kwait.pending_apcs(thread):
        return STATUS_USER_APC, []
    deadline = _timeout_deadline(machine, thread, timeout_ptr)
    if deadline is not None and deadline <= machine.clock.now():
        return STATUS_TIMEOUT, []
    raise kwait.WouldBlock(kwait.WaitBlock([port], False, deadline, service, key, alertable,
                                           extra={"port": port, "count": count}))


@kernel_service("NtRemoveIoCompletion")
def NtRemoveIoCompletion(machine, thread, IoCompletionHandle, KeyContext, ApcContext, IoStatusBlock, Timeout, *,
                         caller_sp=0):
    st, packets = _remove(machine, thread, IoCompletionHandle, 1, Timeout, False, caller_sp, "NtRemoveIoCompletion")
    if packets:
        p = packets[0]
        _put_ptr(thread, KeyContext, p.key)
        _put_ptr(thread, ApcContext, p.apc_context)
        io.write_iosb(thread.process, IoStatusBlock, p.status, p.information)
    return st


@kernel_service("NtRemoveIoCompletionEx")
def NtRemoveIoCompletionEx(machine, thread, IoCompletionHandle, IoCompletionInformation, Count, NumEntriesRemoved,
                           Timeout, Alertable, *, caller_sp=0):
    """FILE_IO_COMPLETION_INFORMATION[Count] {KeyContext, ApcContext, IO_STATUS_BLOCK} (the layout of
    OVERLAPPED_ENTRY, which GetQueuedCompletionStatusEx passes straight through)."""
    count = Count & 0xFFFFFFFF
    if not count:
        return STATUS_INVALID_PARAMETER
    st, packets = _remove(machine, thread, IoCompletionHandle, count, Timeout, bool(Alertable & 0xFF), caller_sp,
                          "NtRemoveIoCompletionEx")
    n = _psize(thread)
    fmt = "<QQQQ" if n == 8 else "<IIII"
    mask = (1 << (8 * n)) - 1
    for i, p in enumerate(packets):
        user_write(thread.process, IoCompletionInformation + i * 4 * n,
                   struct.pack(fmt, p.key & mask, p.apc_context & mask, p.status, p.information & mask))
    if NumEntriesRemoved:
        _put_u32(thread, NumEntriesRemoved, len(packets))
    return st


@kernel_service("NtQueryIoCompletion")
def NtQueryIoCompletion(machine, thread, IoCompletionHandle, IoCompletionInformationClass, IoCompletionInformation,
                        IoCompletionInformationLength, ResultLength):
    port = _lookup(thread, IoCompletionHandle, "IoCompletion", IO_COMPLETION_QUERY_STATE)
    if IoCompletionInformationClass & 0xFFFFFFFF != 0:   # IoCompletionBasicInformation {LONG Depth}
        return STATUS_INVALID_INFO_CLASS
    if IoCompletionInformationLength & 0xFFFFFFFF < 4:
        return STATUS_INFO_LENGTH_MISMATCH
    _put_u32(thread, IoCompletionInformation, len(port.queue))
    if ResultLength:
        _put_u32(thread, ResultLength, 4)
    return 0


# -- the request paths of ReadFile / WriteFile ---------------------------------------------------------------------
PIPE_READ_WAIT = "NtReadFile (named pipe)"


def read_request(machine, thread, file_object, buffer: int, length: int, offset: int | None, iosb: int, event,
                 apc_routine: int, apc_context: int, win32_routine: int = 0) -> int:
    """NtReadFile's path for one file object: completes now (complete_request), pends (STATUS_PENDING, an
    Irp the device completes later) or, on a synchronous handle that must wait, blocks (restart protocol).
    The I/O manager probes the caller's buffer first (ProbeForWrite): a buffer the caller cannot write is
    STATUS_ACCESS_VIOLATION before anything is queued (ReadFile of a NULL buffer: ERROR_NOACCESS at once,
    ntdll/threadpool.c test_tp_io)."""
    if length and (not buffer or not thread.process.aspace.accessible(buffer, length, True)):
        return 0xC0000005
    if event is not None:
        event.reset()
    done = getattr(thread, "wait_done", None)
    rerun = done is not None and done.reason == PIPE_READ_WAIT and done.extra.get("iosb") == iosb
    if rerun:
        thread.wait_done = None      # the blocked synchronous read run again after its wait
    elif length and thread.process.aspace.watched:
        # ProbeForWrite writes to every page of the buffer, once, when the request is made: MEM_WRITE_WATCH sees
        # it written even while the read pends (kernel32/virtual.c test_write_watch, on Windows)
        thread.process.aspace.note_write(buffer, length)
    io.reset_file(file_object)
    if hasattr(file_object, "try_read"):      # a named pipe end
        if io.take_sync_cancel(thread):
            return STATUS_CANCELLED
        r = file_object.try_read(length)
        if r is None:
            if io.is_synchronous(file_object):
                raise kwait.WouldBlock(kwait.WaitBlock([file_object._rx()], False, None, PIPE_READ_WAIT,
                                                       None, extra={"iosb": iosb}))
            irp = io.start_pending(machine, thread, file_object, "read", buffer, length, iosb, event, apc_routine,
                                   apc_context, win32_routine)
            file_object.start_read(irp)
            return STATUS_PENDING
        st, data = r
    else:
        pos = _position(file_object)
        try:
            if offset is not None and hasattr(file_object, "seek"):
                file_object.seek(offset)
            data = file_object.read(length) if length else b""
            st = STATUS_END_OF_FILE if length and not data and hasattr(file_object, "seek") else STATUS_SUCCESS
        except NtStatusError as e:
            st, data = e.status, b""
        finally:
            _keep_position(file_object, pos)
    if data:
        user_write(thread.process, buffer, data)
    return io.complete_request(machine, thread, file_object, iosb, event, apc_routine, apc_context, st, len(data),
                               win32_routine=win32_routine)


def _position(file_object) -> int | None:
    """The file pointer of an asynchronous disk file (None for a synchronous one or another object)."""
    if hasattr(file_object, "seek") and hasattr(file_object, "tell") and not io.is_synchronous(file_object):
        return file_object.tell()
    return None


def _keep_position(file_object, pos: int | None) -> None:
    """An asynchronous file's reads and writes do not move its file pointer (only a synchronous file has one
    the I/O manager maintains; Wine's ntdll/tests/file.c test_read_write, as on Windows)."""
    if pos is not None:
        file_object.seek(pos)


def write_request(machine, thread, file_object, data: bytes, offset: int | None, iosb: int, event,
                  apc_routine: int, apc_context: int, win32_routine: int = 0, key: tuple | None = None) -> int:
    """NtWriteFile's path. A named pipe write beyond the reader's quota pends (asynchronous handle) or blocks
    (synchronous handle: `key`, the calling API and its stack pointer, marks the thread so that the call run
    again after the wait finds its queued write instead of writing again); files and other objects complete
    at once."""
    if hasattr(file_object, "submit_write"):
        mark = getattr(thread, "npfs_write", None)
        if key is not None and mark is not None and mark[0] == key:
            w = mark[1]
            if io.take_sync_cancel(thread) and not w.done:   # cancelled: its unread data leaves the pipe
                thread.npfs_write = None
                w.channel.writes.remove(w)
                w.done = True
                for i, m in enumerate(w.channel.messages):
                    if m is w.message:
                        del w.channel.messages[i]
                        break
                return STATUS_CANCELLED
            if not w.done:
                raise kwait.WouldBlock(kwait.WaitBlock([w], False, None, "NtWriteFile (named pipe)", None))
            thread.npfs_write = None
            return io.complete_request(machine, thread, file_object, iosb, event, apc_routine, apc_context,
                                       w.status, w.count if w.status == STATUS_SUCCESS else 0,
                                       win32_routine=win32_routine)
        if event is not None:
            event.reset()
        io.reset_file(file_object)
        st, count, w = file_object.submit_write(data)
        if w is None:
            return io.complete_request(machine, thread, file_object, iosb, event, apc_routine, apc_context, st,
                                       count, win32_routine=win32_routine)
        if io.is_synchronous(file_object) and key is not None:
            thread.npfs_write = (key, w)
            raise kwait.WouldBlock(kwait.WaitBlock([w], False, None, "NtWriteFile (named pipe)", None))
        if io.is_synchronous(file_object):       # a caller that cannot wait: the data stays queued
            return io.complete_request(machine, thread, file_object, iosb, event, apc_routine, apc_context,
                                       STATUS_SUCCESS, len(data), win32_routine=win32_routine)
        w.irp = io.start_pending(machine, thread, file_object, "write", 0, len(data), iosb, event, apc_routine,
                                 apc_context, win32_routine)
        return STATUS_PENDING
    if event is not None:
        event.reset()
    io.reset_file(file_object)
    pos = _position(file_object)
    try:
        if offset is not None and hasattr(file_object, "seek"):
            file_object.seek(offset)
        count = file_object.write(data) if data or hasattr(file_object, "try_read") else 0
        st = STATUS_SUCCESS
        count = len(data) if count is None else count
    except NtStatusError as e:
        st, count = e.status, 0
    finally:
        _keep_position(file_object, pos)
    return io.complete_request(machine, thread, file_object, iosb, event, apc_routine, apc_context, st, count,
                               win32_routine=win32_routine)


# -- named pipes ----------------------------------------------------------------------------------------------------
def _pipe_create_name(thread, oa: int) -> tuple[str, int]:
    """(the pipe's name, Attributes) of NtCreateNamedPipeFile's OBJECT_ATTRIBUTES, captured by the object
    manager: an absolute name under \\Device\\NamedPipe (or a link to it), or a name relative to a handle of
    the file system's root (what CreateNamedPipeW passes)."""
    if not oa:
        raise NtStatusError(STATUS_INVALID_PARAMETER, "no OBJECT_ATTRIBUTES")
    root, name, attrs = ob_services.capture_object_attributes(thread, oa)
    if root:
        d = _lookup(thread, root)
        if not getattr(d, "npfs_root", False):
            unsupported(thread, "NtCreateNamedPipeFile", f"a name relative to a {d.type_name} object")
        pname = name or ""
    else:
        if not name or not name.startswith("\\"):
            raise NtStatusError(0xC000003B, "no absolute pipe name")      # STATUS_OBJECT_PATH_SYNTAX_BAD
        pname = npfs.pipe_name(name)
    if not pname:
        raise NtStatusError(0xC0000033, f"{name!r} names no pipe")       # STATUS_OBJECT_NAME_INVALID
    return pname, attrs


@kernel_service("NtCreateNamedPipeFile")
def NtCreateNamedPipeFile(machine, thread, FileHandle, DesiredAccess, ObjectAttributes, IoStatusBlock, ShareAccess,
                          CreateDisposition, CreateOptions, NamedPipeType, ReadMode, CompletionMode,
                          MaximumInstances, InboundQuota, OutboundQuota, DefaultTimeout):
    _put_ptr(thread, FileHandle, 0)          # probed first: a bad pointer creates nothing
    pname, attrs = _pipe_create_name(thread, ObjectAttributes)
    disposition = CreateDisposition & 0xFFFFFFFF
    if disposition not in (1, 2, 3):          # FILE_OPEN, FILE_CREATE, FILE_OPEN_IF
        return STATUS_INVALID_PARAMETER       # (overwrite / supersede: Wine's ntdll pipe tests, as on Windows)
    if disposition == 1 and npfs.npfs_of(machine).lookup(pname) is None:
        return STATUS_OBJECT_NAME_NOT_FOUND
    share = ShareAccess & 0xFFFFFFFF
    if share & 3 == 3:
        direction = npfs.FILE_PIPE_FULL_DUPLEX
    elif share & 2:      # the client may write: the server reads
        direction = npfs.FILE_PIPE_INBOUND
    elif share & 1:
        direction = npfs.FILE_PIPE_OUTBOUND
    else:
        return STATUS_INVALID_PARAMETER
    timeout = 0
    if DefaultTimeout:
        (t,) = struct.unpack("<q", user_read(thread.process, DefaultTimeout, 8))
        timeout = -t if t < 0 else 0
    access = DesiredAccess & 0xFFFFFFFF
    from winhatch.kernel.ob.access import object_type
    access = object_type("File").map_access(access)
    end = npfs.create_instance(
        machine, pname, access=access, disposition_create=disposition == FILE_CREATE,
        pipe_type=NamedPipeType & 1, read_mode=ReadMode & 1, completion_mode=CompletionMode & 1,
        max_instances=MaximumInstances & 0xFFFFFFFF, in_quota=InboundQuota & 0xFFFFFFFF,
        out_quota=OutboundQuota & 0xFFFFFFFF, timeout_ticks=timeout, direction=direction,
        synchronous=bool(CreateOptions & (FILE_SYNCHRONOUS_IO_ALERT | FILE_SYNCHRONOUS_IO_NONALERT)), thread=thread)
    end.alertable = bool(CreateOptions & FILE_SYNCHRONOUS_IO_ALERT)   # its synchronous waits are alertable
    pipe = end.instance.pipe
    if getattr(pipe, "security", None) is None:        # a new pipe: its descriptor (SeAssignSecurity)
        from winhatch.kernel.se.descriptor import assign
        from winhatch.kernel.se.token import primary_token
        sd = _get_ptr(thread, ObjectAttributes + 4 * _psize(thread))
        pipe.security = assign(thread.process, primary_token(thread.process, machine.registry.user_sid), sd)
    h = thread.process.handles.insert(end, access | SYNCHRONIZE, inherit=bool(attrs & 0x2))
    _put_ptr(thread, FileHandle, h)
    io.write_iosb(thread.process, IoStatusBlock, 0, 2)    # FILE_CREATED
    return 0


def open_pipe_client(machine, name: str, access: int, synchronous: bool, thread=None):
    """What NtCreateFile does for \\Device\\NamedPipe\\name: the client end (a FILE_OBJECT)."""
    return npfs.open_client(machine, name, access, synchronous, thread)


def _pipe_end(thread, handle: int):
    obj = _lookup(thread, handle)
    from winhatch.kernel.io.pipe import PipeEnd
    if isinstance(obj, (npfs.NamedPipeEnd, PipeEnd)):
        return obj
    return None


STATUS_NOT_SUPPORTED, STATUS_PIPE_DISCONNECTED, STATUS_ILLEGAL_FUNCTION = 0xC00000BB, 0xC00000B0, 0xC00000AF
# what the pipe controls give on a handle to the named-pipe file system rather than to a pipe
_NPFS_ROOT_FSCTL = {
    0x110000: STATUS_NOT_SUPPORTED,        # FSCTL_PIPE_ASSIGN_EVENT
    0x110004: STATUS_PIPE_DISCONNECTED,    # FSCTL_PIPE_DISCONNECT
    0x110008: STATUS_ILLEGAL_FUNCTION,     # FSCTL_PIPE_LISTEN
    FSCTL_PIPE_PEEK: STATUS_INVALID_PARAMETER,
    0x110010: STATUS_NOT_SUPPORTED,        # FSCTL_PIPE_QUERY_EVENT
    FSCTL_PIPE_TRANSCEIVE: STATUS_PIPE_DISCONNECTED,
    0x11001C: STATUS_ILLEGAL_FUNCTION,     # FSCTL_PIPE_IMPERSONATE
    0x110020: STATUS_NOT_SUPPORTED,        # FSCTL_PIPE_SET_CLIENT_PROCESS
    0x110024: STATUS_INVALID_PARAMETER,    # FSCTL_PIPE_QUERY_CLIENT_PROCESS
    FSCTL_PIPE_GET_PIPE_ATTRIBUTE: STATUS_INVALID_PARAMETER,
    FSCTL_PIPE_GET_CONNECTION_ATTRIBUTE: STATUS_INVALID_PARAMETER,
}


@kernel_service("NtFsControlFile")
def NtFsControlFile(machine, thread, FileHandle, Event, ApcRoutine, ApcContext, IoStatusBlock, FsControlCode,
                    InputBuffer, InputBufferLength, OutputBuffer, OutputBufferLength, *, caller_sp=0):
    code = FsControlCode & 0xFFFFFFFF
    obj = _lookup(thread, FileHandle)
    if getattr(obj, "npfs_root", False):
        # the named-pipe file system itself: FSCTL_PIPE_WAIT on its root directory ("\\Device\\NamedPipe\\"),
        # not on the device ("\\Device\\NamedPipe"); the pipe controls have no pipe to act on (Wine's
        # ntdll/tests/pipe.c subtest_empty_name_pipe_operations, as on Windows)
        if code == FSCTL_PIPE_WAIT:
            if not obj.path.endswith("\\"):
                return 0xC00000AF                           # STATUS_ILLEGAL_FUNCTION
            return _pipe_wait(machine, thread, InputBuffer, InputBufferLength & 0xFFFFFFFF, caller_sp)
        st = _NPFS_ROOT_FSCTL.get(code)
        if st is None:
            unsupported(thread, "NtFsControlFile", f"control code {code:#x} on the named-pipe file system")
        return st
    from winhatch.kernel.fileobj import FILE_TYPE_DISK, FileObject
    if isinstance(obj, FileObject) and obj.file_type == FILE_TYPE_DISK:
        # a file of a disk volume: its file system answers only file-system controls (device type
        # FILE_DEVICE_FILE_SYSTEM); any other code (a pipe's, a made-up one) is STATUS_INVALID_DEVICE_REQUEST;
        # the I/O manager resets the request's event before the file system refuses it (Wine's
        # ntdll/tests/file.c test_ioctl, as on Windows)
        ev = _event(thread, Event)            # a bad event handle is STATUS_INVALID_HANDLE first
        if ev is not None:
            ev.reset()
        if code >> 16 != FILE_DEVICE_FILE_SYSTEM:
            return STATUS_INVALID_DEVICE_REQUEST
        if code in (FSCTL_SET_REPARSE_POINT, FSCTL_GET_REPARSE_POINT, FSCTL_DELETE_REPARSE_POINT):
            return _reparse_fsctl(machine, thread, obj, code, Event, ApcRoutine, ApcContext, IoStatusBlock,
                                  InputBuffer, InputBufferLength & 0xFFFFFFFF, OutputBuffer,
                                  OutputBufferLength & 0xFFFFFFFF)
        unsupported(thread, "NtFsControlFile", f"file-system control code {code:#x} on a disk file")
    if code == FSCTL_PIPE_PEEK:
        return _pipe_peek(machine, thread, obj, Event, ApcRoutine, ApcContext, IoStatusBlock, OutputBuffer,
                          OutputBufferLength & 0xFFFFFFFF)
    if code == FSCTL_PIPE_TRANSCEIVE:
        return _pipe_transceive(machine, thread, obj, Event, ApcRoutine, ApcContext, IoStatusBlock, InputBuffer,
                                InputBufferLength & 0xFFFFFFFF, OutputBuffer, OutputBufferLength & 0xFFFFFFFF,
                                caller_sp)
    if code in (FSCTL_PIPE_GET_PIPE_ATTRIBUTE, FSCTL_PIPE_GET_CONNECTION_ATTRIBUTE):
        if not isinstance(obj, npfs.NamedPipeEnd):
            return STATUS_INVALID_PARAMETER
        name = user_read(thread.process, InputBuffer, InputBufferLength & 0xFFFFFFFF).split(b"\0")[0]
        value = obj.attribute(name.decode("ascii", "replace"))
        if (OutputBufferLength & 0xFFFFFFFF) < 4 or not OutputBuffer:
            return STATUS_BUFFER_TOO_SMALL
        _put_u32(thread, OutputBuffer, value)
        return io.complete_request(machine, thread, obj, IoStatusBlock, _event(thread, Event), ApcRoutine,
                                   ApcContext, STATUS_SUCCESS, 4)
    if code == FSCTL_PIPE_IMPERSONATE:
        if not isinstance(obj, npfs.NamedPipeEnd):
            return STATUS_INVALID_PARAMETER if getattr(obj, "type_name", "") == "File" else STATUS_INVALID_HANDLE
        st = npfs.impersonate_client(thread, obj)
        if st:
            return st
        return io.complete_request(machine, thread, obj, IoStatusBlock, _event(thread, Event), ApcRoutine,
                                   ApcContext, STATUS_SUCCESS, 0)
    if code in (FSCTL_PIPE_LISTEN, FSCTL_PIPE_DISCONNECT):
        if not isinstance(obj, npfs.NamedPipeEnd):
            return STATUS_INVALID_PARAMETER if getattr(obj, "type_name", "") == "File" else STATUS_INVALID_HANDLE
        if not obj.is_server:
            return 0xC00000AF   # STATUS_ILLEGAL_FUNCTION: a client end cannot listen or disconnect
        ev = _event(thread, Event)
        if code == FSCTL_PIPE_DISCONNECT:
            st = obj.instance.disconnect()
            return io.complete_request(machine, thread, obj, IoStatusBlock, ev, ApcRoutine, ApcContext, st, 0)
        return _pipe_listen(machine, thread, obj, ev, ApcRoutine, ApcContext, IoStatusBlock, caller_sp)
    if code in (FSCTL_SET_REPARSE_POINT, FSCTL_GET_REPARSE_POINT, FSCTL_DELETE_REPARSE_POINT):
        return _reparse_fsctl(machine, thread, obj, code, Event, ApcRoutine, ApcContext, IoStatusBlock, InputBuffer,
                              InputBufferLength & 0xFFFFFFFF, OutputBuffer, OutputBufferLength & 0xFFFFFFFF)
    unsupported(thread, "NtFsControlFile", f"control code {code:#x}")


FSCTL_SET_REPARSE_POINT = 0x900A4
FSCTL_GET_REPARSE_POINT = 0x900A8
FSCTL_DELETE_REPARSE_POINT = 0x900AC
SE_CREATE_SYMBOLIC_LINK_PRIVILEGE = 35


def may_create_symlink(machine, process) -> bool:
    """May this process make a symbolic link? Its token holds SeCreateSymbolicLinkPrivilege (an administrator's
    elevated token), or the machine is in developer mode (Windows 10 1703+: any user, with
    SYMBOLIC_LINK_FLAG_ALLOW_UNPRIVILEGED_CREATE). The default profile's user is a standard user without
    developer mode: ERROR_PRIVILEGE_NOT_HELD, as on a default Windows 10."""
    from winhatch.kernel.se.token import primary_token
    if getattr(machine.profile, "developer_mode", False):
        return True
    return SE_CREATE_SYMBOLIC_LINK_PRIVILEGE in primary_token(process).held


def _reparse_fsctl(machine, thread, obj, code: int, Event, apc, ctx, iosb, inp: int, inlen: int, out: int,
                   outlen: int) -> int:
    """FSCTL_SET/GET/DELETE_REPARSE_POINT on a file or directory of the sandbox (winhatch.kernel.io.vfs keeps
    the reparse points in the guest's namespace)."""
    from winhatch.kernel.io.file_services import _vfile
    vf = _vfile(obj)
    if vf is None or vf.device is not None:
        return STATUS_INVALID_PARAMETER if obj is not None else 0xC0000008      # STATUS_INVALID_HANDLE
    ev = _event(thread, Event)
    if code == FSCTL_GET_REPARSE_POINT:
        data = machine.vfs.get_reparse_point(vf)
        if outlen < 8 or not out:
            return STATUS_BUFFER_TOO_SMALL
        n = min(len(data), outlen)
        user_write(thread.process, out, data[:n])
        st = STATUS_SUCCESS if n == len(data) else 0x80000005           # STATUS_BUFFER_OVERFLOW
        return io.complete_request(machine, thread, obj, iosb, ev, apc, ctx, st, n)
    if inlen and not inp:
        return 0xC0000005
    buf = user_read(thread.process, inp, min(inlen, 16 * 1024 + 1)) if inlen else b""
    if code == FSCTL_SET_REPARSE_POINT:
        machine.vfs.set_reparse_point(vf, buf, may_symlink=may_create_symlink(machine, thread.process))
    else:
        machine.vfs.delete_reparse_point(vf, buf)
    return io.complete_request(machine, thread, obj, iosb, ev, apc, ctx, STATUS_SUCCESS, 0)


def _pipe_transceive(machine, thread, end, Event, apc, ctx, iosb, inp: int, inlen: int, out: int, outlen: int,
                     caller_sp: int) -> int:
    """FSCTL_PIPE_TRANSCEIVE (TransactNamedPipe): write one message (it never waits for the reader's quota),
    then read one message as ReadFile does. A message-mode handle only (STATUS_INVALID_PIPE_STATE), and
    nothing may be waiting to be read (STATUS_PIPE_BUSY). A synchronous caller that blocks on the read runs the
    service again after the wait: a mark on the thread says the message is already written."""
    if not isinstance(end, npfs.NamedPipeEnd):
        return STATUS_INVALID_PARAMETER if getattr(end, "type_name", "") == "File" else STATUS_INVALID_HANDLE
    key = ("NtFsControlFile", caller_sp)
    ev = _event(thread, Event)
    if getattr(thread, "npfs_transact", None) != key:
        if end.detached:                     # a client its server disconnected
            return npfs.STATUS_PIPE_DISCONNECTED
        if end.read_mode != npfs.FILE_PIPE_MESSAGE_MODE or not end.instance.message_type:
            return npfs.STATUS_INVALID_PIPE_STATE
        err = end._state_error(True)
        if err is not None:
            return err
        if end._rx().has_data():
            return 0xC00000AE   # STATUS_PIPE_BUSY
        data = user_read(thread.process, inp, inlen) if inlen else b""
        st, _count, w = end.submit_write(data)
        if io.nt_error(st):
            return st
        if w is not None:           # queued beyond the quota: the transaction does not wait for it
            w.channel.writes.remove(w)
            w.done = True
        thread.npfs_transact = key
    try:
        st = read_request(machine, thread, end, out, outlen, None, iosb, ev, apc, ctx)
    except kwait.WouldBlock:
        raise                       # the mark stays: the re-run only reads
    thread.npfs_transact = None
    return st


def _pipe_listen(machine, thread, end, ev, apc, ctx, iosb, caller_sp) -> int:
    inst = end.instance
    if ev is not None:
        ev.reset()
    io.reset_file(end)
    key = ("NtFsControlFile", caller_sp)
    done = kwait.take_done(thread, key)
    if done is not None and io.take_sync_cancel(thread):
        return STATUS_CANCELLED
    if done is not None and done.status == kwait.WAIT_IO_COMPLETION and \
            inst.state == npfs.FILE_PIPE_LISTENING_STATE:
        # the alertable wait of a FILE_SYNCHRONOUS_IO_ALERT handle ran a user APC: the listen is cancelled
        inst.state = npfs.FILE_PIPE_DISCONNECTED_STATE
        thread.deliver_apcs = True        # the APCs run on the return from the service
        return STATUS_CANCELLED
    if done is None and io.is_synchronous(end) and getattr(end, "alertable", False) and \
            kwait.pending_apcs(thread) and inst.state not in (npfs.FILE_PIPE_CONNECTED_STATE,
                                                             npfs.FILE_PIPE_CLOSING_STATE):
        thread.deliver_apcs = True        # an alertable wait with APCs queued ends at once
        return STATUS_CANCELLED
    if done is not None and inst.state in (npfs.FILE_PIPE_CONNECTED_STATE, npfs.FILE_PIPE_CLOSING_STATE):
        return io.complete_request(machine, thread, end, iosb, ev, apc, ctx, STATUS_SUCCESS, 0)
    if inst.state == npfs.FILE_PIPE_CONNECTED_STATE:
        return io.complete_request(machine, thread, end, iosb, ev, apc, ctx, npfs.STATUS_PIPE_CONNECTED, 0)
    if inst.state == npfs.FILE_PIPE_CLOSING_STATE:
        return io.complete_request(machine, thread, end, iosb, ev, apc, ctx, 0xC00000B1, 0)   # STATUS_PIPE_CLOSING
    if inst.state != npfs.FILE_PIPE_LISTENING_STATE:
        inst.state = npfs.FILE_PIPE_LISTENING_STATE
        inst.listen_seq = next(npfs._serial)
    machine.dispatcher.signal_waiters()   # FSCTL_PIPE_WAIT waiters
    if end.completion_mode == npfs.FILE_PIPE_COMPLETE_OPERATION:
        return io.complete_request(machine, thread, end, iosb, ev, apc, ctx, npfs.STATUS_PIPE_LISTENING, 0)
    if io.is_synchronous(end):
        raise kwait.WouldBlock(kwait.WaitBlock([inst], False, None, "NtFsControlFile (FSCTL_PIPE_LISTEN)", key,
                                               getattr(end, "alertable", False)))
    irp = io.start_pending(machine, thread, end, "listen", 0, 0, iosb, ev, apc, ctx)
    inst.listens.append(irp)
    return STATUS_PENDING


def _pipe_peek(machine, thread, obj, Event, apc, ctx, iosb, out: int, out_len: int) -> int:
    from winhatch.kernel.io.pipe import PipeEnd
    if out_len < 16:
        return STATUS_BUFFER_TOO_SMALL
    n = out_len - 16
    if isinstance(obj, npfs.NamedPipeEnd):
        st, state, avail, msgs, first, data = obj.peek_info(n)
    elif isinstance(obj, PipeEnd):
        data, avail = obj.peek(n)
        st, state, msgs, first = STATUS_SUCCESS, npfs.FILE_PIPE_CONNECTED_STATE, 0, 0
    else:
        return STATUS_INVALID_PARAMETER if getattr(obj, "type_name", "") == "File" else STATUS_INVALID_HANDLE
    user_write(thread.process, out, npfs.pack_peek(None, state, avail, msgs, first, data))
    ev = _event(thread, Event)
    return io.complete_request(machine, thread, obj, iosb, ev, apc, ctx, st, 16 + len(data))


def _pipe_wait(machine, thread, inp: int, inp_len: int, caller_sp: int) -> int:
    """FSCTL_PIPE_WAIT: FILE_PIPE_WAIT_FOR_BUFFER {LARGE_INTEGER Timeout; ULONG NameLength; BOOLEAN
    TimeoutSpecified; WCHAR Name[]}."""
    key = ("NtFsControlFile", caller_sp)
    done = kwait.take_done(thread, key)
    if done is not None:
        if io.take_sync_cancel(thread):
            return STATUS_CANCELLED
        return STATUS_IO_TIMEOUT if done.status == kwait.WAIT_TIMEOUT else STATUS_SUCCESS
    if inp_len < 14:
        return STATUS_INVALID_PARAMETER
    raw = user_read(thread.process, inp, 14)
    timeout, name_len, specified = struct.unpack_from("<qIB", raw)
    if 14 + name_len > inp_len + 2 or name_len & 1:
        return STATUS_INVALID_PARAMETER
    name = user_read(thread.process, inp + 14, name_len).decode("utf-16-le", "surrogatepass") if name_len else ""
    pipe = npfs.npfs_of(machine).lookup(name)
    if pipe is None:
        return STATUS_OBJECT_NAME_NOT_FOUND
    if pipe.listening() is not None:
        return STATUS_SUCCESS
    now = machine.clock.now()
    if specified:
        if timeout == -(1 << 63):      # NMPWAIT_WAIT_FOREVER
            deadline = None
        else:
            deadline = now + (-timeout if timeout < 0 else max(0, timeout - machine.clock.system_time()))
    else:
        deadline = now + pipe.timeout_ticks
    if deadline is not None and deadline <= now:
        return STATUS_IO_TIMEOUT
    raise kwait.WouldBlock(kwait.WaitBlock([pipe], False, deadline, "NtFsControlFile (FSCTL_PIPE_WAIT)", key))


@kernel_service("NtDeviceIoControlFile")
def NtDeviceIoControlFile(machine, thread, FileHandle, Event, ApcRoutine, ApcContext, IoStatusBlock, IoControlCode,
                          InputBuffer, InputBufferLength, OutputBuffer, OutputBufferLength, *, caller_sp=0):
    obj = _lookup(thread, FileHandle)
    code = IoControlCode & 0xFFFFFFFF
    from winhatch.kernel.io import afd
    if isinstance(obj, afd.Endpoint):
        return afd.device_control(machine, thread, FileHandle, _event(thread, Event), ApcRoutine, ApcContext,
                                  IoStatusBlock, code, InputBuffer,
                                  InputBufferLength & 0xFFFFFFFF, OutputBuffer, OutputBufferLength & 0xFFFFFFFF,
                                  caller_sp)
    from winhatch.kernel import condrv
    if isinstance(obj, condrv.ConsoleFile):
        inlen, outlen = InputBufferLength & 0xFFFFFFFF, OutputBufferLength & 0xFFFFFFFF
        data = user_read(thread.process, InputBuffer, inlen) if inlen else b""
        try:
            st, out = condrv.device_control(machine, thread, obj, code, data, outlen if OutputBuffer else 0,
                                            caller_sp, granted=thread.process.handles.entry(FileHandle).access)
        except NtStatusError as e:
            return e.status
        if len(out) > outlen:
            return condrv.STATUS_BUFFER_TOO_SMALL
        if out:
            user_write(thread.process, OutputBuffer, out)
        return io.complete_request(machine, thread, obj, IoStatusBlock, _event(thread, Event), ApcRoutine,
                                   ApcContext, st, len(out))
    control = getattr(obj, "device_control", None)
    if control is not None:
        inlen, outlen = InputBufferLength & 0xFFFFFFFF, OutputBufferLength & 0xFFFFFFFF
        data = user_read(thread.process, InputBuffer, inlen) if inlen else b""
        try:
            res = control(code, data, outlen if OutputBuffer else 0)
        except NtStatusError as e:
            return e.status
        if res is not None:
            st, out = res
            if out:
                user_write(thread.process, OutputBuffer, out)
            return io.complete_request(machine, thread, obj, IoStatusBlock, _event(thread, Event), ApcRoutine,
                                       ApcContext, st, len(out))
    if code >> 16 == condrv.FILE_DEVICE_CONSOLE:
        # a console request on a handle that is not a console's (a file, a pipe, a device): what kernelbase
        # reports as ERROR_INVALID_HANDLE
        return condrv.STATUS_INVALID_HANDLE
    if code >> 16 == FILE_DEVICE_SERIAL_PORT:
        # the machine has no serial port, so no handle is one: the driver behind it (file system, pipe, console)
        # rejects a serial request
        return STATUS_INVALID_DEVICE_REQUEST
    unsupported(thread, "NtDeviceIoControlFile", f"control code {code:#x} on {getattr(obj, 'path', obj)}")


FILE_DEVICE_SERIAL_PORT = 0x1B
STATUS_INVALID_DEVICE_REQUEST = 0xC0000010


# -- cancellation -----------------------------------------------------------------------------------------------------
@kernel_service("NtCancelIoFile")
def NtCancelIoFile(machine, thread, FileHandle, IoStatusBlock):
    obj = _lookup(thread, FileHandle)
    io.cancel_requests(obj, thread=thread)
    io.write_iosb(thread.process, IoStatusBlock, 0, 0)
    return 0


@kernel_service("NtCancelIoFileEx")
def NtCancelIoFileEx(machine, thread, FileHandle, IoRequestToCancel, IoStatusBlock):
    obj = _lookup(thread, FileHandle)
    n = io.cancel_requests(obj, process=thread.process, iosb=IoRequestToCancel or None)
    if not n:
        return STATUS_NOT_FOUND
    io.write_iosb(thread.process, IoStatusBlock, 0, 0)
    return 0


@kernel_service("NtCancelSynchronousIoFile")
def NtCancelSynchronousIoFile(machine, thread, ThreadHandle, IoRequestToCancel, IoStatusBlock):
    target = _lookup(thread, ThreadHandle, "Thread", 0x1)   # THREAD_TERMINATE
    n = _psize(thread)
    if not IoStatusBlock or not thread.process.aspace.accessible(IoStatusBlock, 2 * n, True):
        return 0xC0000005          # the IO_STATUS_BLOCK is probed first
    if not io.cancel_synchronous_io(machine, target, IoRequestToCancel or None):
        io.write_iosb(thread.process, IoStatusBlock, STATUS_NOT_FOUND, 0)
        return STATUS_NOT_FOUND
    io.write_iosb(thread.process, IoStatusBlock, 0, 0)
    return 0


# -- information classes ----------------------------------------------------------------------------------------------
def _set_completion(machine, thread, obj, data: bytes, replace: bool) -> int:
    n = _psize(thread)
    if len(data) < 2 * n:
        return STATUS_INFO_LENGTH_MISMATCH
    port_h = int.from_bytes(data[:n], "little")
    key = int.from_bytes(data[n:2 * n], "little")
    if replace:
        if port_h:
            return STATUS_INVALID_PARAMETER      # only removing the association is documented
        io.associate(obj, None, 0)
        return 0
    if getattr(obj, "completion_port", None) is not None or io.is_synchronous(obj):
        return STATUS_INVALID_PARAMETER
    port = _lookup(thread, port_h, "IoCompletion", IO_COMPLETION_MODIFY_STATE)
    io.associate(obj, port, key)
    return 0


def _set_notification(machine, thread, obj, data: bytes) -> int:
    if len(data) < 4:
        return STATUS_INFO_LENGTH_MISMATCH
    (flags,) = struct.unpack_from("<I", data)
    if flags & ~(io.FILE_SKIP_COMPLETION_PORT_ON_SUCCESS | io.FILE_SKIP_SET_EVENT_ON_HANDLE |
                 io.FILE_SKIP_SET_USER_EVENT_ON_FAST_IO):
        return STATUS_INVALID_PARAMETER
    obj.completion_modes = getattr(obj, "completion_modes", 0) | flags   # the modes cannot be turned off
    return 0


def _anonymous_pipe(obj) -> bool:
    """An anonymous pipe end (CreatePipe), or the host pipe standard output is when winhatch's own stdout is one:
    on Windows both are byte-type pipes of the named-pipe file system, so the pipe classes answer for them."""
    from winhatch.kernel.condrv import ConsoleFile
    from winhatch.kernel.io.pipe import PipeEnd
    return isinstance(obj, PipeEnd) or (isinstance(obj, ConsoleFile) and obj.file_type == 3)


def _set_pipe(machine, thread, obj, data: bytes) -> int:
    anonymous = _anonymous_pipe(obj)
    if not anonymous and not isinstance(obj, npfs.NamedPipeEnd):
        return STATUS_INVALID_PARAMETER
    if len(data) < 8:
        return STATUS_INFO_LENGTH_MISMATCH
    read_mode, completion_mode = struct.unpack_from("<II", data)
    if read_mode > 1 or completion_mode > 1:
        return STATUS_INVALID_PARAMETER
    if anonymous:
        if read_mode == npfs.FILE_PIPE_MESSAGE_MODE:
            return STATUS_INVALID_PARAMETER                       # a byte-type pipe has no message mode
        if completion_mode != getattr(obj, "completion_mode", 0):
            unsupported(thread, "NtSetInformationFile", "FILE_PIPE_COMPLETE_OPERATION on an anonymous pipe")
        return 0
    if read_mode == npfs.FILE_PIPE_MESSAGE_MODE and not obj.instance.message_type:
        return npfs.STATUS_INVALID_PARAMETER
    obj.read_mode = read_mode
    obj.completion_mode = completion_mode
    return 0


SET_INFORMATION = {
    FileCompletionInformation: lambda m, t, o, d: _set_completion(m, t, o, d, False),
    FileReplaceCompletionInformation: lambda m, t, o, d: _set_completion(m, t, o, d, True),
    FileIoCompletionNotificationInformation: _set_notification,
    FilePipeInformation: _set_pipe,
}


def _query_pipe_local(machine, thread, obj) -> bytes:
    from winhatch.kernel.io.pipe import PipeEnd
    if isinstance(obj, PipeEnd):
        p = obj.pipe
        avail = len(p.buffer) if obj.role == "read" else 0
        return struct.pack("<10I", 0, npfs.FILE_PIPE_INBOUND, 1, 1, p.size, avail, p.size, p.size,
                           npfs.FILE_PIPE_CONNECTED_STATE if p.readers_open and p.writers_open
                           else npfs.FILE_PIPE_CLOSING_STATE,
                           npfs.FILE_PIPE_SERVER_END if obj.role == "read" else npfs.FILE_PIPE_CLIENT_END)
    if not isinstance(obj, npfs.NamedPipeEnd):
        raise NtStatusError(STATUS_INVALID_PARAMETER, "not a pipe")
    if obj.detached:
        raise NtStatusError(npfs.STATUS_PIPE_DISCONNECTED, "a client its server disconnected")
    inst = obj.instance
    pipe = inst.pipe
    rx = inst.inbound if obj.is_server else inst.outbound
    state = npfs.FILE_PIPE_DISCONNECTED_STATE if obj.detached else inst.state
    return struct.pack("<10I", pipe.pipe_type, pipe.direction, pipe.max_instances, len(pipe.instances),
                       pipe.in_quota, rx.available(), pipe.out_quota,
                       pipe.out_quota if obj.is_server else pipe.in_quota, state, obj.end)


def _query_pipe(machine, thread, obj) -> bytes:
    if _anonymous_pipe(obj):
        return struct.pack("<II", 0, getattr(obj, "completion_mode", 0))      # byte read mode, blocking
    if not isinstance(obj, npfs.NamedPipeEnd):
        raise NtStatusError(STATUS_INVALID_PARAMETER, "not a named pipe")
    if obj.detached:
        raise NtStatusError(npfs.STATUS_PIPE_DISCONNECTED, "a client its server disconnected")
    return struct.pack("<II", obj.read_mode, obj.completion_mode)


def _query_notification(machine, thread, obj) -> bytes:
    return struct.pack("<I", getattr(obj, "completion_modes", 0))


QUERY_INFORMATION = {
    FilePipeLocalInformation: _query_pipe_local,
    FilePipeInformation: _query_pipe,
    FileIoCompletionNotificationInformation: _query_notification,
}
#: the handle access a query of these classes needs (FILE_READ_ATTRIBUTES)
QUERY_ACCESS = {FilePipeLocalInformation: 0x80, FilePipeInformation: 0x80}
SET_ACCESS = {FilePipeInformation: FILE_WRITE_ATTRIBUTES}


def set_information(machine, thread, FileHandle, IoStatusBlock, FileInformation, Length, cls) -> int | None:
    """NtSetInformationFile for the classes of SET_INFORMATION (None: another class, not this component's)."""
    fn = SET_INFORMATION.get(cls)
    if fn is None:
        return None
    obj = _lookup(thread, FileHandle, None, SET_ACCESS.get(cls, 0))
    if getattr(obj, "type_name", "") != "File":
        return 0xC0000024   # STATUS_OBJECT_TYPE_MISMATCH
    data = user_read(thread.process, FileInformation, Length & 0xFFFFFFFF) if Length else b""
    st = fn(machine, thread, obj, data)
    if st == 0:
        io.write_iosb(thread.process, IoStatusBlock, 0, 0)
    return st


def query_information(machine, thread, FileHandle, IoStatusBlock, FileInformation, Length, cls) -> int | None:
    """NtQueryInformationFile for the classes of QUERY_INFORMATION (None: another class). The general file
    service (NtQueryInformationFile) serves the others and is to consult this first; until it does, kernel32's
    GetNamedPipeInfo calls this directly."""
    fn = QUERY_INFORMATION.get(cls)
    if fn is None:
        return None
    try:
        obj = _lookup(thread, FileHandle, None, QUERY_ACCESS.get(cls, 0))
        if getattr(obj, "type_name", "") != "File":
            return 0xC0000024   # STATUS_OBJECT_TYPE_MISMATCH: an event, a directory... (Wine's om.c test_no_file_info)
        data = fn(machine, thread, obj)
    except NtStatusError as e:
        return e.status
    if Length & 0xFFFFFFFF < len(data):
        return STATUS_INFO_LENGTH_MISMATCH
    try:
        user_write(thread.process, FileInformation, data)
    except NtStatusError as e:
        return e.status
    io.write_iosb(thread.process, IoStatusBlock, 0, len(data))
    return 0
