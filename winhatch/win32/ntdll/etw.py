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


for dll, prefix in ((NT, "Etw"), (ADV, "")):
    name = f"{prefix}EventRegister" if prefix else "EventRegister"
    api(dll, f"ULONG WINAPI {name}(LPCGUID ProviderId, PVOID EnableCallback, PVOID CallbackContext, "
             "PVOID RegHandle)")(lambda c, g, cb, ctx, out: _register(c, g, cb, ctx, out))

    def _unregister(c, handle):
        return 0 if _providers(c).pop(handle, None) is not None else ERROR_INVALID_HANDLE
    api(dll, f"ULONG WINAPI {prefix or ''}{'EventUnregister'}(ULONGLONG RegHandle)")(_unregister)

    def _write(c, handle, desc, count, data):
        """No session enabled the provider: the event is dropped (ERROR_SUCCESS)."""
        return 0 if _known(c, handle) else ERROR_INVALID_HANDLE
    api(dll, f"ULONG WINAPI {prefix}EventWrite(ULONGLONG RegHandle, PVOID EventDescriptor, ULONG UserDataCount, "
             "PVOID UserData)")(_write)

    def _write_transfer(c, handle, desc, activity, related, count, data):
        return 0 if _known(c, handle) else ERROR_INVALID_HANDLE
    api(dll, f"ULONG WINAPI {prefix}EventWriteTransfer(ULONGLONG RegHandle, PVOID EventDescriptor, "
             "LPCGUID ActivityId, LPCGUID RelatedActivityId, ULONG UserDataCount, PVOID UserData)")(_write_transfer)

    def _write_ex(c, handle, desc, filt, flags, activity, related, count, data):
        return 0 if _known(c, handle) else ERROR_INVALID_HANDLE
    api(dll, f"ULONG WINAPI {prefix}EventWriteEx(ULONGLONG RegHandle, PVOID EventDescriptor, ULONG64 Filter, "
             "ULONG Flags, LPCGUID ActivityId, LPCGUID RelatedActivityId, ULONG UserDataCount, "
             "PVOID UserData)")(_write_ex)

    def _write_string(c, handle, level, keyword, text):
        return 0 if _known(c, handle) else ERROR_INVALID_HANDLE
    api(dll, f"ULONG WINAPI {prefix}EventWriteString(ULONGLONG RegHandle, UCHAR Level, ULONGLONG Keyword, "
             "PVOID String)")(_write_string)

    def _enabled(c, handle, desc):
        """No trace session: never enabled."""
        return 0
    api(dll, f"BOOLEAN WINAPI {prefix}EventEnabled(ULONGLONG RegHandle, PVOID EventDescriptor)")(_enabled)

    def _provider_enabled(c, handle, level, keyword):
        return 0
    api(dll, f"BOOLEAN WINAPI {prefix}EventProviderEnabled(ULONGLONG RegHandle, UCHAR Level, "
             "ULONGLONG Keyword)")(_provider_enabled)

    def _set_information(c, handle, cls, info, length):
        """EventProviderSetTraits (2) and the other documented classes are accepted for a registered provider;
        an unknown class is ERROR_NOT_SUPPORTED, an unknown handle ERROR_INVALID_HANDLE."""
        if not _known(c, handle):
            return ERROR_INVALID_HANDLE
        return 0 if cls in (0, 1, 2, 3) else 50
    api(dll, f"ULONG WINAPI {prefix}EventSetInformation(ULONGLONG RegHandle, ULONG InformationClass, "
             "PVOID EventInformation, ULONG InformationLength)")(_set_information)
