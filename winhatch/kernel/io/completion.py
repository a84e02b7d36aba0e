"""I/O completion: how a request ends (IoCompleteRequest's user-visible half) and I/O completion ports
(the IoCompletion object, a KQUEUE).

`complete_request` is the one place a request completes, whatever the device: it writes the caller's
IO_STATUS_BLOCK, signals the caller's event (or the file object), queues a completion packet to the file's
port, and queues the caller's APC routine to the thread that issued the request — in the order and with the
exceptions Windows documents:

- a request that fails at once (an error status, not pending) writes nothing and queues nothing: the status
  is the service's return value only (Wine's pipe tests: OVERLAPPED.Internal stays STATUS_PENDING and
  InternalHigh untouched after a ReadFile on a disconnected pipe);
- FILE_SKIP_COMPLETION_PORT_ON_SUCCESS (SetFileCompletionNotificationModes) keeps a request that succeeded
  at once out of the port; FILE_SKIP_SET_EVENT_ON_HANDLE keeps the file object unsignalled;
- a packet is queued only when the request carried an ApcContext (kernelbase passes NULL when the low bit of
  OVERLAPPED.hEvent is set: "a valid event handle whose low-order bit is set keeps I/O completion from being
  queued to the completion port").

Requests that cannot complete at once (a read on an empty named pipe, a listen) are `Irp`s kept by their
device until it completes or cancels them (NtCancelIoFile / NtCancelIoFileEx: STATUS_CANCELLED).

The port: packets are taken FIFO; waiting threads are released LIFO (the thread that began waiting last gets
the next packet, as Windows documents for GetQueuedCompletionStatus), and no more threads associated with the
port run at once than its concurrency value (0: the number of processors): a thread becomes associated with a
port when it removes a packet from it and counts as running while it does not wait.
"""
from __future__ import annotations

import struct
from collections import deque

from winhatch._record import ReprRecord
from winhatch.kernel.ob import KObject

STATUS_SUCCESS = 0
STATUS_PENDING = 0x103
STATUS_CANCELLED = 0xC0000120
FILE_SKIP_COMPLETION_PORT_ON_SUCCESS = 0x1
FILE_SKIP_SET_EVENT_ON_HANDLE = 0x2
FILE_SKIP_SET_USER_EVENT_ON_FAST_IO = 0x4
FILE_SYNCHRONOUS_IO_ALERT = 0x10
FILE_SYNCHRONOUS_IO_NONALERT = 0x20


def nt_error(status: int) -> bool:
    return (status & 0xFFFFFFFF) >= 0xC0000000


class Packet(ReprRecord):
    """A completion packet (FILE_IO_COMPLETION_INFORMATION: KeyContext, ApcContext, IoStatusBlock)."""
    _fields = ("key", "apc_context", "status", "information")

    def __init__(self, key: int, apc_context: int, status: int, information: int) -> None:
        self.key = key
        self.apc_context = apc_context
        self.status = status & 0xFFFFFFFF
        self.information = information


class IoCompletion(KObject):
    """An I/O completion port (KQUEUE): a FIFO of packets, LIFO release of waiters, a concurrency limit."""
    type_name = "IoCompletion"

    def __init__(self, machine, concurrency: int = 0, name: str | None = None):
        super().__init__(name)
        self.machine = machine
        if not concurrency:
            concurrency = machine.profile.cpu_count
        self.concurrency = concurrency & 0xFFFFFFFF
        self.queue: deque[Packet] = deque()
        self.closed = False

    # -- packets -------------------------------------------------------------------------------------------
    def insert(self, packet: Packet) -> None:
        """KeInsertQueue: append the packet and release a waiter if one may run."""
        self.queue.append(packet)
        self.machine.dispatcher.signal_waiters()

    def _active(self, exclude=None) -> int:
        """Threads associated with this port that run (do not wait), `exclude` not counted."""
        n = 0
        for t in self.machine.dispatcher.alive_threads():
            if t is not exclude and getattr(t, "io_completion_port", None) is self and t.wait is None:
                n += 1
        return n

    def remove_now(self, thread, count: int = 1) -> list[Packet] | None:
        """KeRemoveQueue without waiting: up to `count` packets when one is queued and the concurrency
        limit lets `thread` run, else None (the caller waits)."""
        if self.queue and self._active(exclude=thread) < self.concurrency:
            return self._take(thread, count)
        return None

    def _take(self, thread, count: int) -> list[Packet]:
        out = []
        while self.queue and len(out) < max(1, count):
            out.append(self.queue.popleft())
        thread.io_completion_port = self
        return out

    # -- waits (winhatch.kernel.ke.wait) ---------------------------------------------------------------------
    def _port_waiters(self) -> list:
        """Threads blocked removing packets from this port, the latest to begin waiting first (LIFO)."""
        ws = [t for t in self.machine.dispatcher.waiting
              if t.wait is not None and t.wait.extra.get("port") is self and not t.terminated]
        ws.sort(key=lambda t: -t.wait.seq)
        return ws

    def is_signaled_for(self, thread) -> bool:
        w = thread.wait
        if w is None or w.extra.get("port") is not self:
            return bool(self.queue)   # a plain wait on the port handle (KQUEUE's signal state)
        if self.closed:
            return True
        if not self.queue or self._active(exclude=thread) >= self.concurrency:
            return False
        # LIFO: the waiters that began later are served first, one packet each
        ws = self._port_waiters()
        return thread in ws and ws.index(thread) < len(self.queue)

    def acquire(self, thread) -> bool:
        w = thread.wait
        if w is not None and w.extra.get("port") is self:
            if self.closed and not self.queue:
                w.extra["abandoned"] = True
            else:
                w.extra["packets"] = self._take(thread, w.extra.get("count", 1))
        return False

    # -- lifetime --------------------------------------------------------------------------------------------
    def on_last_handle_close(self) -> None:
        """Closing the port releases its waiters (GetQueuedCompletionStatus fails with ERROR_ABANDONED_WAIT_0)."""
        self.closed = True
        self.machine.dispatcher.signal_waiters()

    def describe(self) -> str:
        return f"I/O completion port ({len(self.queue)} packets queued)"


# -- completing a request ---------------------------------------------------------------------------------------
def write_iosb(process, iosb: int, status: int, information: int) -> None:
    """IO_STATUS_BLOCK {Status/Pointer; ULONG_PTR Information} in the caller's pointer size. A bad pointer at
    completion time is ignored (the I/O manager writes it under an exception handler)."""
    if not iosb:
        return
    fmt = "<QQ" if process.arch == "x64" else "<II"
    mask = 0xFFFFFFFFFFFFFFFF if process.arch == "x64" else 0xFFFFFFFF
    size = struct.calcsize(fmt)
    if not process.aspace.accessible(iosb, size, True):
        return
    process.cpu.mem_write(iosb, struct.pack(fmt, status & 0xFFFFFFFF, information & mask))
    if process.aspace.watched:   # MEM_WRITE_WATCH sees the I/O manager's write
        process.aspace.note_write(iosb, size)


def is_synchronous(file_object) -> bool:
    """A file object opened for synchronous I/O (FILE_SYNCHRONOUS_IO_*): the I/O manager waits for each
    request. Objects without the notion (consoles, anonymous pipes) are synchronous."""
    f = getattr(file_object, "synchronous", None)
    if f is not None:
        return bool(f)
    vf = getattr(file_object, "file", None)
    opts = getattr(vf, "options", None)
    if opts is not None:
        return bool(opts & (FILE_SYNCHRONOUS_IO_ALERT | FILE_SYNCHRONOUS_IO_NONALERT))
    return True


def complete_request(machine, thread, file_object, iosb: int, event, apc_routine: int, apc_context: int,
                     status: int, information: int, *, pending: bool = False, win32_routine: int = 0) -> int:
    """Complete an I/O request as the I/O manager does (see the module's docstring) and return its status.

    thread: the thread that issued the request (its process's memory gets the IO_STATUS_BLOCK; the APC goes
    to it); event: the Event object named by the request, or None; pending: the request had returned
    STATUS_PENDING (it completes later, e.g. from another thread's write); win32_routine: a ReadFileEx /
    WriteFileEx completion routine, queued as the APC kernelbase's own IO_APC_ROUTINE would run it with
    (dwErrorCode, dwNumberOfBytesTransfered, lpOverlapped)."""
    status &= 0xFFFFFFFF
    process = thread.process
    if not pending and nt_error(status):
        return status    # failed at once: the status is the service's return value only
    write_iosb(process, iosb, status, information)
    modes = getattr(file_object, "completion_modes", 0)
    if event is not None:
        event.set()
    elif not modes & FILE_SKIP_SET_EVENT_ON_HANDLE:
        signal_file(machine, file_object)
    port = getattr(file_object, "completion_port", None)
    if port is not None and apc_context and not port.deleted:
        if pending or nt_error(status) or not modes & FILE_SKIP_COMPLETION_PORT_ON_SUCCESS:
            port.insert(Packet(file_object.completion_key, apc_context, status, information))
    if apc_routine and not thread.terminated:
        from winhatch.kernel.ke.wait import queue_apc
        # PIO_APC_ROUTINE(ApcContext, IoStatusBlock, Reserved)
        queue_apc(machine, thread, apc_routine, [apc_context, iosb, 0])
    if win32_routine and not thread.terminated:
        from winhatch.kernel.ke.wait import queue_apc
        from winhatch.ntstatus import nt_to_win32
        queue_apc(machine, thread, win32_routine, [nt_to_win32(status), information & 0xFFFFFFFF, iosb])
    return status


def signal_file(machine, file_object) -> None:
    """The file object's own event (what a wait on the file handle sees) becomes signalled."""
    if hasattr(file_object, "io_signalled"):
        file_object.io_signalled = True
        machine.dispatcher.signal_waiters()


def reset_file(file_object) -> None:
    """A new request on the file object: its event is reset (the I/O manager does this for each request)."""
    if hasattr(file_object, "io_signalled"):
        file_object.io_signalled = False


def associate(file_object, port: IoCompletion | None, key: int) -> None:
    """FileCompletionInformation / FileReplaceCompletionInformation."""
    file_object.completion_port = port
    file_object.completion_key = key


class Irp(ReprRecord):
    """A request pending on a device (an IRP the driver queued): enough to complete or cancel it later."""
    _fields = ("machine", "thread", "file_object", "kind", "buffer", "length", "iosb", "event", "apc_routine",
               "apc_context", "done", "win32_routine")

    def __init__(self, machine, thread, file_object, kind: str, buffer: int, length: int, iosb: int, event,
                 apc_routine: int, apc_context: int, win32_routine: int = 0) -> None:
        self.machine = machine
        self.win32_routine = win32_routine
        self.thread = thread
        self.file_object = file_object
        self.kind = kind                # "read" | "listen" | …
        self.buffer = buffer
        self.length = length
        self.iosb = iosb
        self.event = event              # a referenced Event, or None
        self.apc_routine = apc_routine
        self.apc_context = apc_context
        self.done = False

    def complete(self, status: int, information: int = 0) -> None:
        if self.done:
            return
        self.done = True
        pending_list(self.thread).discard_irp(self)
        complete_request(self.machine, self.thread, self.file_object, self.iosb, self.event, self.apc_routine, self.apc_context,
                         status, information, pending=True, win32_routine=self.win32_routine)
        if self.event is not None:
            self.event.dereference()
            self.event = None

    def cancel(self) -> None:
        """IoCancelIrp: the device's cancel routine drops it; it completes with STATUS_CANCELLED."""
        on_cancel = getattr(self.file_object, "cancel_irp", None)
        if on_cancel is not None:
            on_cancel(self)
        self.complete(STATUS_CANCELLED, 0)


class _PendingList(list):
    def discard_irp(self, irp) -> None:
        if irp in self:
            self.remove(irp)


def pending_list(thread) -> _PendingList:
    """The thread's pending requests (ETHREAD.IrpList): CancelIo cancels the caller's own."""
    lst = getattr(thread, "irp_list", None)
    if lst is None:
        lst = thread.irp_list = _PendingList()
    return lst


def start_pending(machine, thread, file_object, kind: str, buffer: int, length: int, iosb: int, event, apc_routine: int,
                  apc_context: int, win32_routine: int = 0) -> Irp:
    """A request the device cannot complete now: it becomes pending (the service returns STATUS_PENDING)."""
    if event is not None:
        event.reference()
    irp = Irp(machine, thread, file_object, kind, buffer, length, iosb, event, apc_routine, apc_context,
              win32_routine)
    pending_list(thread).append(irp)
    return irp   # the IO_STATUS_BLOCK is not written until the request completes


def cancel_requests(file_object, *, thread=None, process=None, iosb: int | None = None) -> int:
    """Cancel the pending requests on `file_object` issued by `thread` (NtCancelIoFile) or by any thread of
    `process`, optionally only the one with this IO_STATUS_BLOCK (NtCancelIoFileEx). Returns how many."""
    threads = [thread] if thread is not None else list(process.threads)
    victims = []
    for t in threads:
        for irp in list(getattr(t, "irp_list", None) or []):
            if irp.file_object is file_object and (iosb is None or irp.iosb == iosb):
                victims.append(irp)
    for irp in victims:
        irp.cancel()
    return len(victims)


def cancel_thread_requests(thread, process_exit: bool = False) -> None:
    """A thread ends: its pending requests are cancelled (IoCancelThreadIo), except those on files associated
    with a completion port, which since Windows Vista outlive their thread — until the process ends."""
    for irp in list(getattr(thread, "irp_list", None) or []):
        if process_exit or getattr(irp.file_object, "completion_port", None) is None:
            irp.cancel()


#: the waits of a thread blocked in synchronous I/O (NtCancelSynchronousIoFile can end them)
SYNCHRONOUS_IO_WAITS = ("NtReadFile (named pipe)", "NtWriteFile (named pipe)", "NtFsControlFile (FSCTL_PIPE_LISTEN)",
                        "NtFsControlFile (FSCTL_PIPE_WAIT)")


def cancel_synchronous_io(machine, thread, iosb: int | None = None) -> bool:
    """NtCancelSynchronousIoFile: end `thread`'s blocked synchronous request (only the one whose
    IO_STATUS_BLOCK is `iosb`, when given); the request, run again when the thread wakes, finds the mark
    (`take_sync_cancel`) and returns STATUS_CANCELLED. False: nothing to cancel."""
    w = thread.wait
    if w is None or w.reason not in SYNCHRONOUS_IO_WAITS:
        return False
    if iosb is not None and (w.extra or {}).get("iosb") != iosb:
        return False
    thread.sync_io_cancelled = True
    machine.dispatcher.wake(thread, 0)
    return True


def take_sync_cancel(thread) -> bool:
    """Whether this thread's synchronous request was cancelled while it waited (consumed once)."""
    if getattr(thread, "sync_io_cancelled", False):
        thread.sync_io_cancelled = False
        return True
    return False
