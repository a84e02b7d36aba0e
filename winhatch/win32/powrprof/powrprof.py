"""powrprof: suspend/resume notifications. The emulated machine never sleeps or hibernates, so a registered
callback is never called; registering and unregistering work as on Windows (the registration handle is a
block of the process heap holding the subscription, freed by the unregistration)."""
from __future__ import annotations

from winhatch.ntstatus import ERROR_INVALID_HANDLE, ERROR_INVALID_PARAMETER
from winhatch.win32.api import api

from winhatch.win32.kernel32.common import heap_alloc, heap_free

DEVICE_NOTIFY_WINDOW_HANDLE, DEVICE_NOTIFY_CALLBACK = 0, 2


def _registrations(c) -> set:
    return c.proc.subsystem.setdefault("power_notify", set())


@api("powrprof.dll", "DWORD WINAPI PowerRegisterSuspendResumeNotification(DWORD Flags, HANDLE Recipient, "
                     "PHPOWERNOTIFY RegistrationHandle)")
def PowerRegisterSuspendResumeNotification(c, flags, recipient, out):
    """Flags DEVICE_NOTIFY_CALLBACK: Recipient is a DEVICE_NOTIFY_SUBSCRIBE_PARAMETERS (Callback, Context).
    A window recipient (DEVICE_NOTIFY_WINDOW_HANDLE) needs a desktop winhatch does not have: it stops."""
    if flags == DEVICE_NOTIFY_WINDOW_HANDLE:
        from winhatch.win32.ntdll.seh import raise_unsupported
        raise_unsupported(c, "PowerRegisterSuspendResumeNotification to a window")
    if flags != DEVICE_NOTIFY_CALLBACK or not recipient or not out:
        return ERROR_INVALID_PARAMETER
    params = c.read(recipient, 2 * c.ptr_size)
    if not int.from_bytes(params[:c.ptr_size], "little"):   # no callback
        return ERROR_INVALID_PARAMETER
    h = heap_alloc(c, len(params))
    c.write(h, params)
    _registrations(c).add(h)
    c.write_ptr(out, h)
    return 0


@api("powrprof.dll", "DWORD WINAPI PowerUnregisterSuspendResumeNotification(HPOWERNOTIFY RegistrationHandle)")
def PowerUnregisterSuspendResumeNotification(c, h):
    regs = _registrations(c)
    if h not in regs:
        return ERROR_INVALID_HANDLE
    regs.discard(h)
    heap_free(c, h)
    return 0
