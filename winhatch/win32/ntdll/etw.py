"""Event Tracing for Windows, a provider's side: EtwEventRegister and its relatives (advapi32's EventRegister,
EventWrite … are the same functions, forwarded to ntdll on Windows).

No trace session runs on this machine, so no provider is ever enabled: registration succeeds and hands out a
handle, EventEnabled / EventProviderEnabled answer FALSE, the enable callback is never called, and an event
written is dropped with ERROR_SUCCESS — what Windows does for a provider no session has enabled. The
registrations are per process, each with its GUID (an invalid handle is ERROR_INVALID_HANDLE).
"""
from __future__ import annotations

import uuid

from winhatch.win32.api import api

NT, ADV = "ntdll.dll", "advapi32.dll"
ERROR_INVALID_HANDLE, ERROR_INVALID_PARAMETER = 6, 87


def _providers(c) -> dict:
    return c.proc.subsystem.setdefault("etw_providers", {})


def _register(c, guid, callback, context, out):
    if not guid or not out:
        return ERROR_INVALID_PARAMETER
    provs = _providers(c)
    handle = 0x0000_1000_0000_0000 | (len(provs) + 1) << 4 | (c.proc.pid & 0xF)
    provs[handle] = {"guid": str(uuid.UUID(bytes_le=bytes(c.read(guid, 16)))), "callback": callback,
                     "context": context}
    c.write(out, handle.to_bytes(8, "little"))
    return 0


def _known(c, handle) -> bool:
    return handle in _providers(c)


def _unregister(c, handle):
    return 0 if _providers(c).pop(handle, None) is not None else ERROR_INVALID_HANDLE


def _write(c, handle, *_event):
    """EventWrite and its Transfer/Ex/String forms: no session enabled the provider, so the event is dropped
    (ERROR_SUCCESS) for a registered handle."""
    return 0 if _known(c, handle) else ERROR_INVALID_HANDLE


def _enabled(c, handle, *_what):
    """EventEnabled / EventProviderEnabled: no trace session, never enabled."""
    return 0


def _set_information(c, handle, cls, info, length):
    """EventProviderSetTraits (2) and the other documented classes are accepted for a registered provider;
    an unknown class is ERROR_NOT_SUPPORTED, an unknown handle ERROR_INVALID_HANDLE."""
    if not _known(c, handle):
        return ERROR_INVALID_HANDLE
    return 0 if cls in (0, 1, 2, 3) else 50


# ntdll's Etw* names and advapi32's names without the prefix: one implementation each
for dll, p in ((NT, "Etw"), (ADV, "")):
    api(dll, f"ULONG WINAPI {p}EventRegister(LPCGUID ProviderId, PVOID EnableCallback, PVOID CallbackContext, "
             "PVOID RegHandle)")(_register)
    api(dll, f"ULONG WINAPI {p}EventUnregister(ULONGLONG RegHandle)")(_unregister)
    api(dll, f"ULONG WINAPI {p}EventWrite(ULONGLONG RegHandle, PVOID EventDescriptor, ULONG UserDataCount, "
             "PVOID UserData)")(_write)
    api(dll, f"ULONG WINAPI {p}EventWriteTransfer(ULONGLONG RegHandle, PVOID EventDescriptor, LPCGUID ActivityId, "
             "LPCGUID RelatedActivityId, ULONG UserDataCount, PVOID UserData)")(_write)
    api(dll, f"ULONG WINAPI {p}EventWriteEx(ULONGLONG RegHandle, PVOID EventDescriptor, ULONG64 Filter, ULONG Flags, "
             "LPCGUID ActivityId, LPCGUID RelatedActivityId, ULONG UserDataCount, PVOID UserData)")(_write)
    api(dll, f"ULONG WINAPI {p}EventWriteString(ULONGLONG RegHandle, UCHAR Level, ULONGLONG Keyword, "
             "PVOID String)")(_write)
    api(dll, f"BOOLEAN WINAPI {p}EventEnabled(ULONGLONG RegHandle, PVOID EventDescriptor)")(_enabled)
    api(dll, f"BOOLEAN WINAPI {p}EventProviderEnabled(ULONGLONG RegHandle, UCHAR Level, "
             "ULONGLONG Keyword)")(_enabled)
    api(dll, f"ULONG WINAPI {p}EventSetInformation(ULONGLONG RegHandle, ULONG InformationClass, "
             "PVOID EventInformation, ULONG InformationLength)")(_set_information)
