"""ntdll's loader exports that programs call directly."""
from __future__ import annotations

from winhatch.ldr.delayload import resolve_delay_loaded_api
from winhatch.win32.api import api


@api("ntdll.dll", "PVOID NTAPI LdrResolveDelayLoadedAPI(PVOID ParentModuleBase, PVOID DelayloadDescriptor, "
                  "PVOID FailureDllHook, PVOID FailureSystemHook, PVOID ThunkAddress, ULONG Flags)",
     calls_guest=True)
def LdrResolveDelayLoadedAPI(c, parent, descriptor, failure_dll_hook, failure_system_hook, thunk, flags):
    return resolve_delay_loaded_api(c.machine, c.thread, parent, descriptor, failure_dll_hook, thunk)
