"""ntdll's loader exports over the loader's module list: LdrAddRefDll (a reference more, or pinned) and
LdrEnumerateLoadedModules (a callback per module of the PEB's load-order list)."""
from __future__ import annotations

from winhatch.win32.api import api

NT = "ntdll.dll"


LDR_ADDREF_DLL_PIN = 0x1


@api(NT, "NTSTATUS NTAPI LdrAddRefDll(ULONG Flags, PVOID DllHandle)")
def LdrAddRefDll(c, flags, base):
    """One more reference to a loaded module (a FreeLibrary more before it unloads), or with LDR_ADDREF_DLL_PIN
    none counted any more: it stays until the process ends (GetModuleHandleEx's PIN is this). Another flag is
    STATUS_INVALID_PARAMETER; a handle that is no loaded module STATUS_DLL_NOT_FOUND."""
    from winhatch.ldr import loader
    if flags & ~LDR_ADDREF_DLL_PIN:
        return 0xC000000D          # STATUS_INVALID_PARAMETER
    if not loader.LdrAddRefDll(c.proc, base, bool(flags & LDR_ADDREF_DLL_PIN)):
        return 0xC0000135          # STATUS_DLL_NOT_FOUND
    return 0


@api(NT, "NTSTATUS NTAPI LdrEnumerateLoadedModules(PVOID Reserved, PVOID CallbackFunction, PVOID Context)",
     calls_guest=True)
def LdrEnumerateLoadedModules(c, reserved, callback, context):
    """Calls CallbackFunction(LDR_DATA_TABLE_ENTRY *, Context, BOOLEAN *Stop) for each loaded module in load
    order (the PEB's InLoadOrderModuleList) until the callback sets *Stop. Reserved must be NULL and the callback
    given: STATUS_INVALID_PARAMETER otherwise."""
    from winhatch.ldr.loader import state_of
    from winhatch.win32.kernel32.common import heap_alloc, heap_free
    if reserved or not callback:
        return 0xC000000D          # STATUS_INVALID_PARAMETER
    from winhatch.kernel.structs import PEB_LDR_DATA
    from winhatch.ldr.loader import MAX_MODULES
    head = state_of(c.proc).ldr_data + PEB_LDR_DATA.offset(c.arch, "InLoadOrderModuleList")
    stop = heap_alloc(c, 8)
    try:
        entry = c.ptr(head)              # InLoadOrderLinks is the entry's first field
        for _ in range(MAX_MODULES + 1):
            if entry == head or not entry:
                break
            nxt = c.ptr(entry)
            c.write(stop, b"\0")
            c.machine.dispatcher.call_guest(c.thread, callback, [entry, context, stop])
            if c.read(stop, 1)[0]:
                break
            entry = nxt
    finally:
        heap_free(c, stop)
    return 0
