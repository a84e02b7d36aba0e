"""The object manager's system services, called by the system-service dispatcher
(winhatch.kernel.ke.services)."""
from __future__ import annotations

from winhatch.kernel.ke.services import kernel_service


@kernel_service("NtClose")
def NtClose(machine, thread, Handle):
    # an invalid handle is STATUS_INVALID_HANDLE (no exception is raised unless a debugger is attached or the
    # process enabled strict handle checks, neither of which winhatch models)
    thread.process.handles.close(Handle)
    return 0
