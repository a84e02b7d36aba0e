"""ntdll's DLL load notifications: LdrRegisterDllNotification / LdrUnregisterDllNotification.

The loader (winhatch.ldr.loader) owns the list: a registration block per callback in the process heap, linked
into a guest list, its address the cookie. The loader calls the callbacks as guest code, under the loader lock,
with LDR_DLL_NOTIFICATION_REASON_LOADED (1) once a DLL is mapped and its imports snapped, before its DllMain,
and LDR_DLL_NOTIFICATION_REASON_UNLOADED (2) after its DllMain's detach, before it is unmapped."""
from __future__ import annotations

from winhatch.ntstatus import NtStatusError
from winhatch.win32.api import api
from winhatch.win32.ntdll.ldr import NT, STATUS_INVALID_PARAMETER

STATUS_DLL_NOT_FOUND = 0xC0000135


@api(NT, "NTSTATUS NTAPI LdrRegisterDllNotification(ULONG Flags, PVOID NotificationFunction, PVOID Context, "
         "PVOID *Cookie)")
def LdrRegisterDllNotification(c, flags, function, context, pcookie):
    """Registers `NotificationFunction(reason, data, Context)` for every later DLL load and unload; the
    cookie in *Cookie unregisters it. Flags must be zero, and a callback and a Cookie are required
    (STATUS_INVALID_PARAMETER otherwise)."""
    from winhatch.ldr import loader as _loader
    from winhatch.ldr.ntdll import loader_lock
    if flags or not function or not pcookie:
        return STATUS_INVALID_PARAMETER
    lock = loader_lock(c.proc)
    lock.enter(c.thread, "LdrRegisterDllNotification")     # the list changes under the loader lock
    try:
        cookie = _loader.register_dll_notification(_loader.state_of(c.proc), function, context)
    except NtStatusError as e:          # the registrations' bound, or the process heap exhausted
        return e.status
    finally:
        lock.leave(c.machine, c.thread)
    c.write_ptr(pcookie, cookie)
    return 0


@api(NT, "NTSTATUS NTAPI LdrUnregisterDllNotification(PVOID Cookie)")
def LdrUnregisterDllNotification(c, cookie):
    """Removes the registration `Cookie` names; one that is not registered (already removed, never made):
    STATUS_DLL_NOT_FOUND, as Microsoft documents."""
    from winhatch.ldr import loader as _loader
    from winhatch.ldr.ntdll import loader_lock
    lock = loader_lock(c.proc)
    lock.enter(c.thread, "LdrUnregisterDllNotification")
    try:
        ok = _loader.unregister_dll_notification(_loader.state_of(c.proc), cookie)
    finally:
        lock.leave(c.machine, c.thread)
    return 0 if ok else STATUS_DLL_NOT_FOUND
