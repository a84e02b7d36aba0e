"""Mailslots (the mailslot file system, \\Device\\Mailslot): NtCreateMailslotFile's server end, which only reads,
and the clients CreateFile opens on \\\\.\\mailslot\\name, which only write. Each write is one message, queued
whole; a read takes the oldest message whole (a buffer too small for it: STATUS_BUFFER_TOO_SMALL, the message
stays). An empty mailslot makes a read wait up to the mailslot's read time-out (0: at once; -1 / no time-out:
forever), then STATUS_IO_TIMEOUT (ERROR_SEM_TIMEOUT).

FileMailslotQueryInformation (26): MaximumMessageSize, MailslotQuota, NextMessageSize (MAILSLOT_NO_MESSAGE =
-1 when empty), MessagesAvailable, ReadTimeout (LARGE_INTEGER, relative 100 ns units, negative; -1 = none):
24 bytes. FileMailslotSetInformation (27): ReadTimeout (a pointer to the LARGE_INTEGER, pointer-sized).
"""
from __future__ import annotations

from collections import deque

from winhatch.kernel.ob import KObject
from winhatch.ntstatus import NtStatusError

STATUS_ACCESS_DENIED = 0xC0000022
STATUS_INVALID_PARAMETER = 0xC000000D
STATUS_BUFFER_TOO_SMALL = 0xC0000023
STATUS_IO_TIMEOUT = 0xC00000B5
STATUS_OBJECT_NAME_COLLISION = 0xC0000035
STATUS_OBJECT_NAME_NOT_FOUND = 0xC0000034
STATUS_OBJECT_NAME_INVALID = 0xC0000033
MAILSLOT_NO_MESSAGE = 0xFFFFFFFF
FileMailslotQueryInformation = 26
FileMailslotSetInformation = 27
#: the ReadTimeout that means "wait forever" (MAILSLOT_WAIT_FOREVER as kernelbase passes it)
WAIT_FOREVER = -(1 << 63)


def mailslot_name(nt_name: str) -> str | None:
    """The mailslot's name in an NT path (\\??\\MAILSLOT\\x and \\Device\\Mailslot\\x), or None."""
    up = nt_name.upper()
    for pre in ("\\??\\MAILSLOT\\", "\\GLOBAL??\\MAILSLOT\\", "\\DEVICE\\MAILSLOT\\"):
        if up.startswith(pre):
            rest = nt_name[len(pre):]
            return rest if rest else None
    return None


class Mailslot:
    def __init__(self, fs: dict, name: str, max_message: int, quota: int, timeout_ticks: int | None):
        self.fs = fs
        self.name = name
        self.max_message = max_message          # 0: any size
        self.quota = quota
        self.timeout_ticks = timeout_ticks      # None: wait forever
        self.messages: deque[bytes] = deque()
        self.server = None
        self.clients = 0
        self.waiters_changed = None


class MailslotEnd(KObject):
    type_name = "File"
    file_type = 1     # FILE_TYPE_DISK: GetFileType of a mailslot handle
    message_writes = True   # every write, even of no bytes, is a message

    def __init__(self, machine, slot: Mailslot, is_server: bool, access: int):
        super().__init__()
        self.machine = machine
        self.slot = slot
        self.is_server = is_server
        self.access = access
        self.path = "\\Device\\Mailslot\\" + slot.name
        self.synchronous = True

    # the server reads, clients write
    def take(self, n: int) -> bytes | None:
        """The next message (None: none queued); STATUS_BUFFER_TOO_SMALL leaves it queued."""
        if not self.is_server:
            raise NtStatusError(STATUS_ACCESS_DENIED, "a mailslot client cannot read")
        q = self.slot.messages
        if not q:
            return None
        if len(q[0]) > n:
            raise NtStatusError(STATUS_BUFFER_TOO_SMALL, "the message is longer than the buffer")
        return q.popleft()

    def read(self, n: int) -> bytes:
        data = self.take(n)
        if data is None:
            raise NtStatusError(STATUS_IO_TIMEOUT, "no message")
        return data

    def write(self, data: bytes) -> int:
        if self.is_server:
            raise NtStatusError(STATUS_ACCESS_DENIED, "the mailslot server cannot write")
        s = self.slot
        if s.server is None:
            raise NtStatusError(STATUS_OBJECT_NAME_NOT_FOUND, "the mailslot is gone")
        if s.max_message and len(data) > s.max_message:
            raise NtStatusError(STATUS_INVALID_PARAMETER, "message longer than the mailslot's maximum")
        s.messages.append(bytes(data))
        self.machine.dispatcher.signal_waiters()
        return len(data)

    def is_signaled_for(self, thread) -> bool:
        return bool(self.slot.messages) if self.is_server else True

    def describe(self) -> str:
        return f"mailslot {self.slot.name} ({'server' if self.is_server else 'client'}, " \
               f"{len(self.slot.messages)} messages)"

    def on_last_handle_close(self) -> None:
        s = self.slot
        if self.is_server:
            s.server = None
            s.messages.clear()
            s.fs.pop(s.name.upper(), None)
        else:
            s.clients -= 1


def _fs(machine) -> dict:
    fs = getattr(machine, "_msfs", None)
    if fs is None:
        fs = machine._msfs = {}
    return fs


def create_server(machine, name: str, max_message: int, quota: int, timeout_ticks: int | None,
                  access: int) -> MailslotEnd:
    if not name:
        raise NtStatusError(STATUS_OBJECT_NAME_INVALID, "no mailslot name")
    fs = _fs(machine)
    if name.upper() in fs:
        raise NtStatusError(STATUS_OBJECT_NAME_COLLISION, f"mailslot {name} exists")
    slot = Mailslot(fs, name, max_message, quota, timeout_ticks)
    end = MailslotEnd(machine, slot, True, access)
    slot.server = end
    fs[name.upper()] = slot
    return end


class MsfsRoot(KObject):
    """A handle to the mailslot file system itself (\\\\.\\mailslot, \\Device\\Mailslot): it names no
    mailslot (FileNameInformation is STATUS_INVALID_PARAMETER; Wine's ntdll/tests/file.c test_mailslot_name,
    as on Windows)."""
    type_name = "File"
    file_type = 0                   # FILE_TYPE_UNKNOWN

    def __init__(self):
        super().__init__(name=None)
        self.path = "\\Device\\Mailslot"


def open_client(machine, name: str, access: int) -> MailslotEnd:
    slot = _fs(machine).get(name.upper())
    if slot is None or slot.server is None:
        raise NtStatusError(STATUS_OBJECT_NAME_NOT_FOUND, f"no mailslot {name}")
    slot.clients += 1
    return MailslotEnd(machine, slot, False, access)


def query_info(end: MailslotEnd) -> bytes:
    import struct
    s = end.slot
    nxt = len(s.messages[0]) if s.messages else MAILSLOT_NO_MESSAGE
    timeout = WAIT_FOREVER if s.timeout_ticks is None else -s.timeout_ticks
    return struct.pack("<IIIIq", s.max_message, s.quota, nxt, len(s.messages), timeout)
