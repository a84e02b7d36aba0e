"""Debug objects (the Dbgk component): NtCreateDebugObject.

A debug object is the kernel object a debugger waits on for its debuggees' events. winhatch creates them
(named or not, in the object namespace, with Windows's access rights and generic mapping: DebugObject read
0x20001, write 0x20002, execute 0x120000, all 0x1F000F), and they can be waited on (signalled while debug
events are queued: none are queued yet). Attaching a process to one (NtDebugActiveProcess), the debug event
loop (NtWaitForDebugEvent, NtDebugContinue) and NtSetInformationDebugObject are not implemented: they stop
the guest loudly as any unimplemented service does.

Flags: DEBUG_KILL_ON_CLOSE (1) is the only valid one; any other bit is STATUS_INVALID_PARAMETER.
"""
from __future__ import annotations

from winhatch.kernel.ke.services import kernel_service
from winhatch.kernel.ob import KObject
from winhatch.kernel.ob.services import insert_object
from winhatch.ntstatus import STATUS_INVALID_PARAMETER

DEBUG_KILL_ON_CLOSE = 0x1


class DebugObject(KObject):
    type_name = "DebugObject"

    def __init__(self, flags: int, name: str | None = None):
        super().__init__(name)
        self.flags = flags
        self.events: list = []

    def signaled(self) -> bool:
        return bool(self.events)


@kernel_service("NtCreateDebugObject")
def NtCreateDebugObject(machine, thread, DebugObjectHandle, DesiredAccess, ObjectAttributes, Flags):
    from winhatch.kernel.ob.services import write_handle
    if Flags & ~DEBUG_KILL_ON_CLOSE & 0xFFFFFFFF:
        write_handle(thread, DebugObjectHandle, 0)
        return STATUS_INVALID_PARAMETER
    return insert_object(machine, thread, DebugObject(Flags & DEBUG_KILL_ON_CLOSE), ObjectAttributes,
                         DesiredAccess & 0xFFFFFFFF, DebugObjectHandle)
