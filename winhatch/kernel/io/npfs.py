"""Named pipes (the named-pipe file system, \\Device\\NamedPipe): CreateNamedPipe's server instances, clients
opening `\\\\.\\pipe\\name`, byte and message modes, listen/disconnect/peek/wait.

- A `NamedPipe` is one name with its instances (at most MaximumInstances, 255 = unlimited). Each
  `PipeInstance` has a server end and, once a client opened the name, a client end (both FILE_OBJECTs,
  `NamedPipeEnd`), and two `Channel`s: inbound (client → server) and outbound (server → client).
- Instance states as NPFS reports them: listening (a new instance, or after FSCTL_PIPE_LISTEN of a
  disconnected one) — a client's open connects it; connected; closing (the other end closed: what is buffered
  can still be read, then STATUS_PIPE_BROKEN; writes fail with STATUS_PIPE_CLOSING); disconnected
  (FSCTL_PIPE_DISCONNECT: the buffers are discarded, the client's I/O fails with STATUS_PIPE_DISCONNECTED).
- Message-type pipes keep message boundaries; a message-mode read returns one message, or the start of it
  with STATUS_BUFFER_OVERFLOW (ERROR_MORE_DATA) when the buffer is smaller — the rest stays for the next read.
  A byte-mode read takes what is there across messages. A zero-length write queues an empty message on a
  message pipe and does nothing on a byte pipe.
- Writes never block: the buffer is not bounded here (the quotas are reported, not enforced).
- A read with nothing buffered blocks (synchronous handle, the dispatcher's restart protocol), fails with
  STATUS_PIPE_EMPTY (PIPE_NOWAIT), or pends (asynchronous handle: an `Irp` completed by the next write, by the
  other end's close or disconnect, or by a cancel). FSCTL_PIPE_LISTEN pends the same way until a client opens.
"""
from __future__ import annotations

import itertools
import struct
from collections import deque

from winhatch.kernel.fileobj import FILE_TYPE_PIPE
from winhatch.kernel.io import completion as io
from winhatch.kernel.ob import KObject
from winhatch.ntstatus import STATUS_PIPE_BROKEN, STATUS_PIPE_CLOSING, STATUS_PIPE_EMPTY, NtStatusError

STATUS_SUCCESS = 0
STATUS_BUFFER_OVERFLOW = 0x80000005
STATUS_INVALID_PARAMETER = 0xC000000D
STATUS_ACCESS_DENIED = 0xC0000022
STATUS_OBJECT_NAME_NOT_FOUND = 0xC0000034
STATUS_OBJECT_NAME_INVALID = 0xC0000033
STATUS_INSTANCE_NOT_AVAILABLE = 0xC00000AB
STATUS_PIPE_NOT_AVAILABLE = 0xC00000AC
STATUS_INVALID_PIPE_STATE = 0xC00000AD
STATUS_PIPE_DISCONNECTED = 0xC00000B0
STATUS_PIPE_CONNECTED = 0xC00000B2
STATUS_PIPE_LISTENING = 0xC00000B3
STATUS_INVALID_READ_MODE = 0xC00000B4
STATUS_BUFFER_TOO_SMALL = 0xC0000023

FILE_PIPE_BYTE_STREAM_TYPE, FILE_PIPE_MESSAGE_TYPE = 0, 1
FILE_PIPE_BYTE_STREAM_MODE, FILE_PIPE_MESSAGE_MODE = 0, 1
FILE_PIPE_QUEUE_OPERATION, FILE_PIPE_COMPLETE_OPERATION = 0, 1
FILE_PIPE_INBOUND, FILE_PIPE_OUTBOUND, FILE_PIPE_FULL_DUPLEX = 0, 1, 2
FILE_PIPE_DISCONNECTED_STATE, FILE_PIPE_LISTENING_STATE = 1, 2
FILE_PIPE_CONNECTED_STATE, FILE_PIPE_CLOSING_STATE = 3, 4
FILE_PIPE_CLIENT_END, FILE_PIPE_SERVER_END = 0, 1
UNLIMITED_INSTANCES = 0xFFFFFFFF
FILE_READ_DATA, FILE_WRITE_DATA = 0x1, 0x2
DEFAULT_TIMEOUT_TICKS = 50 * 10_000   # 50 ms, what CreateNamedPipe's nDefaultTimeOut = 0 means

_serial = itertools.count(1)


def fold(name: str) -> str:
    return name.upper()


def pipe_name(nt_path: str) -> str | None:
    """The pipe's name when `nt_path` names one (\\??\\pipe\\x, \\Device\\NamedPipe\\x, \\\\.\\pipe\\x,
    \\\\?\\pipe\\x); '' for the file system's root (\\Device\\NamedPipe\\); None for other paths."""
    p = nt_path.replace("/", "\\")
    low = p.lower()
    for pre in ("\\??\\pipe\\", "\\device\\namedpipe\\", "\\\\.\\pipe\\", "\\\\?\\pipe\\", "\\dosdevices\\pipe\\",
                "\\global??\\pipe\\"):
        if low.startswith(pre):
            # past the prefix a '/' is a character of the pipe's name (Wine's ntdll/tests/pipe.c
            # test_pipe_names: \\Device\\NamedPipe\\wine/test is not ...\\wine\\test)
            return nt_path[len(pre):]
    if low in ("\\device\\namedpipe", "\\??\\pipe", "\\\\.\\pipe"):
        return ""
    return None


class Npfs:
    """The named-pipe file system of one machine: the names in \\Device\\NamedPipe."""

    def __init__(self, machine):
        self.machine = machine
        self.pipes: dict[str, NamedPipe] = {}

    def lookup(self, name: str) -> "NamedPipe | None":
        p = self.pipes.get(fold(name))
        if p is not None and not p.instances:
            del self.pipes[fold(name)]
            return None
        return p


def npfs_of(machine) -> Npfs:
    fs = getattr(machine, "npfs", None)
    if fs is None:
        fs = machine.npfs = Npfs(machine)
    return fs


class NamedPipe:
    """The FCB: one name, its configuration and instances; waitable for FSCTL_PIPE_WAIT (an instance listens)."""
    type_name = "NamedPipe"

    def __init__(self, fs: Npfs, name: str, pipe_type: int, max_instances: int, in_quota: int, out_quota: int,
                 timeout_ticks: int, direction: int):
        self.fs = fs
        self.name = name
        self.security = None       # its SECURITY_DESCRIPTOR (winhatch.kernel.se.descriptor.Security)
        self.pipe_type = pipe_type
        self.max_instances = max_instances
        self.in_quota = in_quota
        self.out_quota = out_quota
        self.timeout_ticks = timeout_ticks or DEFAULT_TIMEOUT_TICKS
        self.direction = direction
        self.instances: list[PipeInstance] = []

    def listening(self) -> "PipeInstance | None":
        """The instance a client's open connects: the one that began listening first (Wine's pipe tests,
        test_multiple_instances)."""
        ready = [inst for inst in self.instances if inst.state == FILE_PIPE_LISTENING_STATE]
        return min(ready, key=lambda inst: inst.listen_seq) if ready else None

    def is_signaled_for(self, thread) -> bool:
        return self.listening() is not None or not self.instances

    def describe(self) -> str:
        return f"named pipe \\\\.\\pipe\\{self.name} (an instance to listen)"


class Channel:
    """One direction's buffer: a queue of messages (byte pipes too, their writes merged by byte reads)."""

    def __init__(self, instance: "PipeInstance", quota: int):
        self.instance = instance
        self.quota = quota                    # the reading end's buffer size (CreateNamedPipe's nIn/OutBufferSize)
        self.messages: deque[bytearray] = deque()
        self.reads: deque[io.Irp] = deque()   # pending reads (asynchronous handles)
        self.writes: deque[PendingWrite] = deque()   # writes whose data is queued but not within the quota
        self.discards = 0

    def release_writes(self) -> None:
        """Complete the writes whose data, with everything queued before it, now fits the quota."""
        if not self.writes:
            return
        ends = {}
        acc = 0
        for m in self.messages:
            acc += len(m)
            ends[id(m)] = acc
        while self.writes:
            w = self.writes[0]
            if ends.get(id(w.message), 0) > self.quota:
                break
            self.writes.popleft()
            w.finish(STATUS_SUCCESS)

    def fail_writes(self, status: int) -> None:
        while self.writes:
            self.writes.popleft().finish(status)

    def available(self) -> int:
        return sum(len(m) for m in self.messages)

    def has_data(self) -> bool:
        return bool(self.messages)

    def take(self, n: int, message_mode: bool) -> tuple[int, bytes]:
        """Remove what a read of `n` bytes returns: (status, data)."""
        if self is self.instance.inbound:
            self.instance.server_has_read = True     # a read by the server end (FSCTL_PIPE_IMPERSONATE)
        if message_mode:
            m = self.messages[0]
            if len(m) > n:
                data = bytes(m[:n])
                del m[:n]
                self.release_writes()
                return STATUS_BUFFER_OVERFLOW, data
            self.messages.popleft()
            self.release_writes()
            return STATUS_SUCCESS, bytes(m)
        out = bytearray()
        while self.messages and len(out) < n:
            m = self.messages[0]
            k = min(n - len(out), len(m))
            out += m[:k]
            del m[:k]
            if not m:
                self.messages.popleft()
        # an empty message at the head (a zero-length write on a message pipe) is consumed by one read
        if not out and self.messages and not self.messages[0]:
            self.messages.popleft()
        self.release_writes()
        return STATUS_SUCCESS, bytes(out)

    def clear(self) -> None:
        if self.messages:
            self.discards += 1      # data dropped unread (a close or disconnect): a waiting flush fails
        self.messages.clear()

    # a sync reader blocks on the channel: it is signalled when a read would not block
    def is_signaled_for(self, thread) -> bool:
        inst = self.instance
        return bool(self.messages) or inst.state != FILE_PIPE_CONNECTED_STATE

    def describe(self) -> str:
        return f"named pipe \\\\.\\pipe\\{self.instance.pipe.name} (data to read)"


class PendingWrite:
    """A write whose data is queued beyond the reader's quota: it completes when what is queued up to and
    including its data fits the quota (NPFS's write quota), fails when the connection ends, or is cancelled
    (its unread data leaves the pipe)."""
    type_name = "PipeWrite"

    def __init__(self, channel: "Channel", message: bytearray, count: int):
        self.channel = channel
        self.message = message
        self.count = count
        self.irp: io.Irp | None = None       # an asynchronous write's request; None: a blocked synchronous writer
        self.done = False
        self.status = STATUS_SUCCESS

    def finish(self, status: int) -> None:
        if self.done:
            return
        self.done = True
        self.status = status
        if self.irp is not None:
            self.irp.complete(status, self.count if status == STATUS_SUCCESS else 0)
        self.channel.instance.changed()

    def is_signaled_for(self, thread) -> bool:
        return self.done

    def describe(self) -> str:
        return f"named pipe \\\\.\\pipe\\{self.channel.instance.pipe.name} (the reader to make room)"


class _Drained:
    """Waitable: a channel's data has all been read (or the connection ended)."""

    def __init__(self, channel: Channel):
        self.channel = channel

    def is_signaled_for(self, thread) -> bool:
        return not self.channel.messages or self.channel.instance.state != FILE_PIPE_CONNECTED_STATE

    def describe(self) -> str:
        return f"named pipe \\\\.\\pipe\\{self.channel.instance.pipe.name} (the other end to read)"


class PipeInstance:
    """The CCB: one server instance and its connection."""

    def __init__(self, pipe: NamedPipe):
        self.pipe = pipe
        self.machine = pipe.fs.machine
        self.number = next(_serial)
        self.state = FILE_PIPE_LISTENING_STATE
        self.listen_seq = next(_serial)      # when it began listening (clients connect in this order)
        self.server: NamedPipeEnd | None = None
        self.client: NamedPipeEnd | None = None
        self.inbound = Channel(self, pipe.in_quota)     # client → server
        self.outbound = Channel(self, pipe.out_quota)   # server → client
        self.listens: list[io.Irp] = []
        self.closed_by: str | None = None    # the end whose handles are all closed (closing state)
        self.server_process = None           # (pid, session) of the process that created the instance
        self.client_process = None           # (pid, session) of the connected client's process
        # the connected client's security context (a Token of the client's identity at its open) and whether
        # the server has read from the pipe since it connected: FSCTL_PIPE_IMPERSONATE needs both
        self.client_context = None
        self.server_has_read = False

    @property
    def message_type(self) -> bool:
        return self.pipe.pipe_type == FILE_PIPE_MESSAGE_TYPE

    def changed(self) -> None:
        self.machine.dispatcher.signal_waiters()

    # sync listeners block on the instance until it is no longer listening
    def is_signaled_for(self, thread) -> bool:
        return self.state != FILE_PIPE_LISTENING_STATE

    def describe(self) -> str:
        return f"named pipe \\\\.\\pipe\\{self.pipe.name} (a client to connect)"

    def connect(self, client: "NamedPipeEnd") -> None:
        self.client = client
        self.state = FILE_PIPE_CONNECTED_STATE
        self.closed_by = None
        for irp in list(self.listens):
            self.listens.remove(irp)
            irp.complete(STATUS_SUCCESS, 0)
        self.changed()

    def fail_reads(self, channel: Channel, status: int) -> None:
        while channel.reads:
            channel.reads.popleft().complete(status, 0)
        channel.fail_writes(status)

    def disconnect(self) -> int:
        if self.state == FILE_PIPE_DISCONNECTED_STATE:
            return STATUS_PIPE_DISCONNECTED
        for irp in list(self.listens):
            self.listens.remove(irp)
            irp.complete(STATUS_PIPE_DISCONNECTED, 0)
        self.inbound.clear()
        self.outbound.clear()
        self.fail_reads(self.inbound, STATUS_PIPE_DISCONNECTED)
        self.fail_reads(self.outbound, STATUS_PIPE_DISCONNECTED)
        if self.client is not None:
            self.client.instance_state = FILE_PIPE_DISCONNECTED_STATE
            self.client.detached = True
            self.client = None
        self.client_process = None
        self.client_context = None
        self.server_has_read = False
        self.state = FILE_PIPE_DISCONNECTED_STATE
        self.changed()
        return STATUS_SUCCESS


class NamedPipeEnd(KObject):
    """A FILE_OBJECT of a named pipe: the server end (one per instance) or a client end."""
    type_name = "File"
    file_type = FILE_TYPE_PIPE

    def security_target(self):
        """The pipe's security descriptor, shared by its instances and clients; a client whose server
        disconnected it has none any more (STATUS_PIPE_DISCONNECTED)."""
        if self.detached:
            raise NtStatusError(STATUS_PIPE_DISCONNECTED, "the client was disconnected")
        return self.instance.pipe

    def __init__(self, instance: PipeInstance, end: int, access: int, synchronous: bool):
        super().__init__(name=None)
        self.instance = instance
        self.end = end
        self.access = access
        self.synchronous = synchronous
        self.read_mode = FILE_PIPE_BYTE_STREAM_MODE
        self.completion_mode = FILE_PIPE_QUEUE_OPERATION
        self.io_signalled = True       # a new pipe handle is signalled (Wine's pipe tests, test_signaled)
        self.detached = False          # a client end after the server disconnected it
        self.instance_state = None
        self.path = f"\\Device\\NamedPipe\\{instance.pipe.name}"

    @property
    def machine(self):
        return self.instance.machine

    @property
    def is_server(self) -> bool:
        return self.end == FILE_PIPE_SERVER_END

    def _rx(self) -> Channel:
        return self.instance.inbound if self.is_server else self.instance.outbound

    def _tx(self) -> Channel:
        return self.instance.outbound if self.is_server else self.instance.inbound

    def _state_error(self, reading: bool) -> int | None:
        """The status an I/O gets from the instance's state (None: it may proceed)."""
        inst = self.instance
        if self.detached:
            return STATUS_PIPE_DISCONNECTED
        if inst.state == FILE_PIPE_LISTENING_STATE:
            return STATUS_PIPE_LISTENING
        if inst.state == FILE_PIPE_DISCONNECTED_STATE:
            return STATUS_PIPE_DISCONNECTED
        if inst.state == FILE_PIPE_CLOSING_STATE:
            if reading:
                return None if self._rx().has_data() else STATUS_PIPE_BROKEN
            return STATUS_PIPE_CLOSING
        return None

    # -- reads ------------------------------------------------------------------------------------------------
    def try_read(self, n: int) -> tuple[int, bytes] | None:
        """(status, data) of a read of up to `n` bytes now, or None when it has to wait for data."""
        if not self.access & FILE_READ_DATA:
            return STATUS_ACCESS_DENIED, b""
        err = self._state_error(True)
        if err is not None:
            return err, b""
        rx = self._rx()
        if not rx.has_data():
            if self.completion_mode == FILE_PIPE_COMPLETE_OPERATION:
                return STATUS_PIPE_EMPTY, b""
            return None
        return rx.take(n, self.read_mode == FILE_PIPE_MESSAGE_MODE and self.instance.message_type)

    def read(self, n: int) -> bytes:
        """The synchronous path of ReadFile (winhatch's file-object protocol): blocks on an empty pipe. A
        message cut short is returned without its STATUS_BUFFER_OVERFLOW (use read_request for it)."""
        from winhatch.kernel.ke.wait import block_on
        r = self.try_read(n)
        if r is None:
            block_on(self._rx(), "ReadFile (named pipe)")
        st, data = r
        if io.nt_error(st):
            raise NtStatusError(st, "named pipe read")
        return data

    def start_read(self, irp: io.Irp) -> None:
        self._rx().reads.append(irp)

    # -- writes -----------------------------------------------------------------------------------------------
    def write(self, data: bytes) -> int:
        """winhatch's file-object protocol (a caller that cannot wait): the data is queued whatever the quota."""
        st, count, _ = self.submit_write(data)
        if io.nt_error(st):
            raise NtStatusError(st, "named pipe write")
        return len(data)

    def submit_write(self, data: bytes) -> tuple[int, int, "PendingWrite | None"]:
        """Queue a write: (status, count, None) when it completes now, (STATUS_PENDING, 0, the PendingWrite)
        when its data is beyond the reader's quota (the caller waits for it or makes it an Irp)."""
        if not self.access & FILE_WRITE_DATA:
            return STATUS_ACCESS_DENIED, 0, None
        err = self._state_error(False)
        if err is not None:
            return err, 0, None
        tx = self._tx()
        if not data and not self.instance.message_type:
            return STATUS_SUCCESS, 0, None
        if data and self.completion_mode == FILE_PIPE_COMPLETE_OPERATION:
            data = self._nowait_part(tx, data)
            if not data:
                return STATUS_SUCCESS, 0, None
        msg = bytearray(data)
        tx.messages.append(msg)
        self._pump(tx)
        self.instance.changed()
        if not data:
            return STATUS_SUCCESS, 0, None      # an empty write never waits
        w = PendingWrite(tx, msg, len(data))
        tx.writes.append(w)
        tx.release_writes()
        if w.done:
            return STATUS_SUCCESS, len(data), None
        return 0x103, 0, w

    def _nowait_part(self, tx: Channel, data: bytes) -> bytes:
        """PIPE_NOWAIT: what of a write goes in without waiting — all of it when it fits the reader's pending
        reads and free quota; otherwise, on a byte pipe, what the pending reads take, on a message pipe
        nothing (Wine's pipe tests, test_nowait)."""
        free = max(0, tx.quota - tx.available())
        reads = sum(irp.length for irp in tx.reads)
        if len(data) <= free + reads:
            return data
        return b"" if self.instance.message_type else data[:reads]

    def _pump(self, ch: Channel) -> None:
        """Complete pending reads from what the channel holds."""
        while ch.reads and ch.messages:
            irp = ch.reads.popleft()
            reader = irp.file_object
            st, data = ch.take(irp.length, reader.read_mode == FILE_PIPE_MESSAGE_MODE and self.instance.message_type)
            if data:
                proc = irp.thread.process
                if proc.aspace.accessible(irp.buffer, len(data), True):
                    proc.cpu.mem_write(irp.buffer, data)
                    if proc.aspace.watched:   # the completion's copy is a write (MEM_WRITE_WATCH)
                        proc.aspace.note_write(irp.buffer, len(data))
            irp.complete(st, len(data))

    def flush(self, thread=None, key: tuple | None = None) -> int:
        """FlushFileBuffers: wait until the other end has read everything this end wrote (restart protocol:
        `key`, the caller's API and stack pointer, marks the thread so that the call run again after the
        wait knows it waited); the status: success when the data was read, STATUS_PIPE_BROKEN once the
        other end is closed, STATUS_PIPE_DISCONNECTED after a disconnect."""
        from winhatch.kernel.ke.wait import block_on
        inst = self.instance
        tx = self._tx()
        mark = getattr(thread, "npfs_flush", None) if thread is not None else None
        if mark is not None and mark[0] == key:
            thread.npfs_flush = None
            if tx.discards == mark[1] and not tx.messages:
                return STATUS_SUCCESS      # everything written was read
            if inst.state == FILE_PIPE_CLOSING_STATE:
                return STATUS_PIPE_BROKEN  # the other end closed with data unread
        if self.detached or inst.state == FILE_PIPE_DISCONNECTED_STATE:
            return STATUS_PIPE_DISCONNECTED
        if tx.messages and inst.state == FILE_PIPE_CONNECTED_STATE:
            if thread is not None:
                thread.npfs_flush = (key, tx.discards)
            block_on(_Drained(tx), "FlushFileBuffers (named pipe)")
        return STATUS_SUCCESS

    # -- peek (FSCTL_PIPE_PEEK) ---------------------------------------------------------------------------------
    def peek_info(self, n: int) -> tuple[int, int, int, int, int, bytes]:
        """(status, state, bytes available, messages, first message length, data up to n)."""
        inst = self.instance
        if self.detached:
            raise NtStatusError(STATUS_PIPE_DISCONNECTED, "peek on a disconnected pipe")
        if inst.state in (FILE_PIPE_LISTENING_STATE, FILE_PIPE_DISCONNECTED_STATE):
            raise NtStatusError(STATUS_INVALID_PIPE_STATE, "peek on a pipe with no client")
        rx = self._rx()
        if inst.state == FILE_PIPE_CLOSING_STATE and not rx.has_data():
            raise NtStatusError(STATUS_PIPE_BROKEN, "the other end of the pipe is closed")
        avail = rx.available()
        if inst.message_type:
            first = len(rx.messages[0]) if rx.messages else 0
            data = bytes(rx.messages[0][:n]) if rx.messages else b""
            st = STATUS_BUFFER_OVERFLOW if first > n else STATUS_SUCCESS
            return st, inst.state, avail, len(rx.messages), first, data
        data = b"".join(bytes(m) for m in rx.messages)[:n]
        return STATUS_SUCCESS, inst.state, avail, 0, 0, data

    def peek(self, n: int) -> tuple[bytes, int]:
        """(up to n bytes without consuming them, bytes available): the anonymous pipe's interface (the C
        runtime's _fstat reports a pipe's st_size with it)."""
        _st, _state, avail, _msgs, _first, data = self.peek_info(n)
        return data, avail

    # -- waits on the handle (the file object's event) ---------------------------------------------------------
    def is_signaled_for(self, thread) -> bool:
        return self.io_signalled

    def attribute(self, name: str) -> int:
        """FSCTL_PIPE_GET_PIPE_ATTRIBUTE / GET_CONNECTION_ATTRIBUTE: ClientProcessId, ServerProcessId,
        ClientSessionId, ServerSessionId (kept after the other end's handle is closed)."""
        inst = self.instance
        if self.detached:
            raise NtStatusError(STATUS_PIPE_DISCONNECTED, "the pipe was disconnected")
        which = {"clientprocessid": ("client", 0), "clientsessionid": ("client", 1),
                 "serverprocessid": ("server", 0), "serversessionid": ("server", 1)}.get(name.lower())
        if which is None:
            raise NtStatusError(STATUS_INVALID_PARAMETER, f"pipe attribute {name!r}")
        rec = inst.client_process if which[0] == "client" else inst.server_process
        if rec is None:
            raise NtStatusError(0xC0000225, f"no {which[0]} process")   # STATUS_NOT_FOUND
        return rec[which[1]]

    def cancel_irp(self, irp: io.Irp) -> None:
        inst = self.instance
        for ch in (inst.inbound, inst.outbound):
            if irp in ch.reads:
                ch.reads.remove(irp)
            for w in list(ch.writes):
                if w.irp is irp:          # a cancelled write takes its unread data out of the pipe
                    ch.writes.remove(w)
                    w.irp = None
                    w.done = True
                    for i, m in enumerate(ch.messages):
                        if m is w.message:
                            del ch.messages[i]
                            break
                    ch.release_writes()
        if irp in inst.listens:
            inst.listens.remove(irp)

    def describe(self) -> str:
        st = {1: "disconnected", 2: "listening", 3: "connected", 4: "closing"}.get(self.instance.state, "?")
        end = "server" if self.is_server else "client"
        return f"named pipe \\\\.\\pipe\\{self.instance.pipe.name} {end} end ({st})"

    # -- lifetime ---------------------------------------------------------------------------------------------
    def on_last_handle_close(self) -> None:
        inst = self.instance
        if self.is_server:
            for irp in list(inst.listens):
                inst.listens.remove(irp)
                irp.complete(STATUS_PIPE_BROKEN, 0)
            if inst in inst.pipe.instances:
                inst.pipe.instances.remove(inst)
            if inst.client is not None and inst.state == FILE_PIPE_CONNECTED_STATE:
                inst.state = FILE_PIPE_CLOSING_STATE
                inst.closed_by = "server"
                inst.inbound.clear()
                inst.inbound.fail_writes(STATUS_PIPE_BROKEN)
                inst.fail_reads(inst.outbound, STATUS_PIPE_BROKEN)
            elif inst.state != FILE_PIPE_CLOSING_STATE:
                inst.state = FILE_PIPE_DISCONNECTED_STATE
            # the end's own reads still pending end with it (the cleanup of its file object)
            while inst.inbound.reads:
                inst.inbound.reads.popleft().complete(STATUS_PIPE_BROKEN, 0)
            inst.server = None
        elif not self.detached and inst.client is self:
            if inst.state == FILE_PIPE_CONNECTED_STATE:
                inst.state = FILE_PIPE_CLOSING_STATE
                inst.closed_by = "client"
                inst.outbound.clear()
                inst.outbound.fail_writes(STATUS_PIPE_BROKEN)
                inst.fail_reads(inst.inbound, STATUS_PIPE_BROKEN)
            while inst.outbound.reads:
                inst.outbound.reads.popleft().complete(STATUS_PIPE_BROKEN, 0)
        inst.changed()


def _process_record(thread) -> tuple[int, int]:
    proc = thread.process
    return proc.pid, getattr(proc, "session_id", 1)


def create_instance(machine, name: str, *, access: int, disposition_create: bool, pipe_type: int, read_mode: int,
                    completion_mode: int, max_instances: int, in_quota: int, out_quota: int, timeout_ticks: int,
                    direction: int, synchronous: bool, thread=None) -> NamedPipeEnd:
    """NtCreateNamedPipeFile: a new instance of `name` (the pipe is created with its first instance)."""
    if not name:
        raise NtStatusError(STATUS_OBJECT_NAME_INVALID, "an empty pipe name")
    if pipe_type == FILE_PIPE_BYTE_STREAM_TYPE and read_mode == FILE_PIPE_MESSAGE_MODE:
        raise NtStatusError(STATUS_INVALID_PARAMETER, "message read mode on a byte-stream pipe")
    if max_instances == 0:
        raise NtStatusError(STATUS_INVALID_PARAMETER, "MaximumInstances 0")
    fs = npfs_of(machine)
    pipe = fs.lookup(name)
    if pipe is None:
        pipe = NamedPipe(fs, name, pipe_type, max_instances, in_quota, out_quota, timeout_ticks, direction)
        fs.pipes[fold(name)] = pipe
    else:
        # a later instance takes the pipe's configuration (type, quotas, limit) from the first
        if pipe.max_instances != UNLIMITED_INSTANCES and len(pipe.instances) >= pipe.max_instances:
            raise NtStatusError(STATUS_INSTANCE_NOT_AVAILABLE, f"pipe {name!r}: all instances in use")
        if disposition_create:
            raise NtStatusError(STATUS_ACCESS_DENIED, f"pipe {name!r} exists (FILE_FLAG_FIRST_PIPE_INSTANCE)")
        if direction != pipe.direction:
            raise NtStatusError(STATUS_ACCESS_DENIED, f"pipe {name!r} exists with another direction")
    inst = PipeInstance(pipe)
    if thread is not None:
        inst.server_process = _process_record(thread)
    end = NamedPipeEnd(inst, FILE_PIPE_SERVER_END, access, synchronous)
    end.read_mode = read_mode
    end.completion_mode = completion_mode
    inst.server = end
    pipe.instances.append(inst)
    machine.dispatcher.signal_waiters()   # FSCTL_PIPE_WAIT waiters
    return end


def open_client(machine, name: str, access: int, synchronous: bool, thread=None) -> NamedPipeEnd:
    """A client's open of \\\\.\\pipe\\name: connects a listening instance."""
    pipe = npfs_of(machine).lookup(name)
    if pipe is None:
        raise NtStatusError(STATUS_OBJECT_NAME_NOT_FOUND, f"no pipe named {name!r}")
    inst = pipe.listening()
    if inst is None:
        raise NtStatusError(STATUS_PIPE_NOT_AVAILABLE, f"pipe {name!r}: no instance is listening")
    if pipe.direction == FILE_PIPE_INBOUND and access & FILE_READ_DATA or \
            pipe.direction == FILE_PIPE_OUTBOUND and access & FILE_WRITE_DATA:
        raise NtStatusError(STATUS_ACCESS_DENIED, f"pipe {name!r}: direction does not allow this access")
    end = NamedPipeEnd(inst, FILE_PIPE_CLIENT_END, access, synchronous)
    if thread is not None:
        inst.client_process = _process_record(thread)
        inst.client_context = client_security_context(machine, thread)
    inst.connect(end)
    return end


def client_security_context(machine, thread):
    """SeCreateClientSecurity at the client's open: its thread's impersonation token, else its process's primary
    token, captured as an impersonation token of level SecurityImpersonation (the level a client that passes no
    SECURITY_QUALITY_OF_SERVICE grants; Wine's kernel32/tests/pipe.c, test_ImpersonateNamedPipeClient)."""
    from winhatch.kernel.se.token import SecurityImpersonation, TokenImpersonation, primary_token
    tok = getattr(thread, "impersonation_token", None) or primary_token(thread.process, machine.registry.user_sid)
    return tok.duplicate(TokenImpersonation, SecurityImpersonation, False)


STATUS_CANNOT_IMPERSONATE = 0xC000010D
STATUS_ILLEGAL_FUNCTION = 0xC00000AF


def impersonate_client(thread, end: "NamedPipeEnd") -> int:
    """FSCTL_PIPE_IMPERSONATE: the calling thread impersonates the connected client (a copy of its captured
    context). Only the server end, connected, after it has read from the pipe (STATUS_CANNOT_IMPERSONATE, as
    ImpersonateNamedPipeClient documents: "until data has been read from that pipe")."""
    inst = end.instance
    if not end.is_server:
        return STATUS_ILLEGAL_FUNCTION
    if inst.state != FILE_PIPE_CONNECTED_STATE and not (inst.state == FILE_PIPE_CLOSING_STATE
                                                        and inst.client_context is not None):
        return STATUS_CANNOT_IMPERSONATE
    if inst.client_context is None or not inst.server_has_read:
        return STATUS_CANNOT_IMPERSONATE
    from winhatch.kernel.se.token import TokenImpersonation
    ctx = inst.client_context
    tok = ctx.duplicate(TokenImpersonation, ctx.impersonation_level, False)
    tok.reference()                   # held by the thread (as NtSetInformationThread(ThreadImpersonationToken))
    old = getattr(thread, "impersonation_token", None)
    thread.impersonation_token = tok
    if old is not None:
        old.dereference()
    return STATUS_SUCCESS


class NpfsRoot(KObject):
    """A handle to \\Device\\NamedPipe\\ itself (what WaitNamedPipe opens to send FSCTL_PIPE_WAIT)."""
    type_name = "File"
    file_type = FILE_TYPE_PIPE
    npfs_root = True

    def __init__(self):
        super().__init__(name=None)
        self.path = "\\Device\\NamedPipe\\"


def pack_peek(arch_unused, state: int, avail: int, messages: int, length: int, data: bytes) -> bytes:
    """FILE_PIPE_PEEK_BUFFER {NamedPipeState, ReadDataAvailable, NumberOfMessages, MessageLength, Data[]}."""
    return struct.pack("<IIII", state, avail, messages, length) + data
