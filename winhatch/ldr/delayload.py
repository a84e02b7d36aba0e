"""Delay-load resolution: ntdll!LdrResolveDelayLoadedAPI and the delay helpers that call it.

MSVC's delay-load helper (and Wine's programs) call
    PVOID LdrResolveDelayLoadedAPI(PVOID ParentModuleBase, PCIMAGE_DELAYLOAD_DESCRIPTOR Descriptor,
                                   PDELAYLOAD_FAILURE_DLL_CALLBACK FailureDllHook, PVOID FailureSystemHook,
                                   PIMAGE_THUNK_DATA ThunkAddress, ULONG Flags)
on the first call through a delay-load IAT slot: load the DLL (once: the module handle is stored at the
descriptor's ModuleHandleRVA), find the function named by the matching Import Name Table entry, write it into
the IAT slot and return it. IMAGE_DELAYLOAD_DESCRIPTOR: Attributes, DllNameRVA, ModuleHandleRVA,
ImportAddressTableRVA, ImportNameTableRVA, BoundImportAddressTableRVA, UnloadInformationTableRVA,
TimeDateStamp (all u32; RVAs relative to the module when Attributes.RvaBased is set).
On failure the guest's FailureDllHook is called with the notification delayimp.h names dliFailLoadLib (3) or
dliFailGetProc (4) and a DELAYLOAD_INFO, as Windows does; when there is none or it returns NULL, the
FailureSystemHook (PDELAYLOAD_FAILURE_SYSTEM_ROUTINE: the DLL name and the function's name or ordinal, as the
image holds them; kernelbase's DelayLoadFailureHook in Windows's own callers) is asked; a hook's non-NULL
result is written into the IAT slot and returned. With neither, the failure is raised as the exception
Windows raises (VcppException(ERROR_SEVERITY_ERROR, ERROR_MOD_NOT_FOUND / ERROR_PROC_NOT_FOUND)).
"""
from __future__ import annotations

import struct

from winhatch.ldr import loader

DELAYLOAD_DESCRIPTOR_SIZE = 32
VCPP_EXCEPTION_MOD_NOT_FOUND = 0xC06D007E   # VcppException(ERROR_SEVERITY_ERROR, ERROR_MOD_NOT_FOUND)
VCPP_EXCEPTION_PROC_NOT_FOUND = 0xC06D007F  # VcppException(ERROR_SEVERITY_ERROR, ERROR_PROC_NOT_FOUND)


DLI_FAIL_LOAD_LIB, DLI_FAIL_GET_PROC = 3, 4   # delayimp.h's notifications for the failure hook


def resolve_delay_loaded_api(machine, thread, parent_base: int, descriptor: int, failure_dll_hook: int,
                             thunk_address: int, failure_system_hook: int = 0) -> int:
    proc = thread.process
    aspace = proc.aspace
    ps = 8 if proc.arch == "x64" else 4
    attrs, name_rva, hmod_rva, iat_rva, int_rva = struct.unpack("<5I", aspace.read(descriptor, 20))
    rel = parent_base if attrs & 1 else 0  # RvaBased: RVAs; otherwise (old VC6 style) virtual addresses
    dll = aspace.read(rel + name_rva, 260).split(b"\0", 1)[0].decode("ascii", "replace")
    index = (thunk_address - (rel + iat_rva)) // ps
    entry = int.from_bytes(aspace.read(rel + int_rva + index * ps, ps), "little")
    ordinal_flag = 1 << (ps * 8 - 1)
    if entry & ordinal_flag:
        name, ordinal = None, entry & 0xFFFF
        name_va = ordinal
    else:
        name_va = (rel + (entry & 0x7FFFFFFF) + 2) & ((1 << (8 * ps)) - 1)
        name = aspace.read(rel + (entry & 0x7FFFFFFF) + 2, 512).split(b"\0", 1)[0].decode("ascii", "replace")
        ordinal = None
    st = loader.state_of(proc)
    st.emit("LdrResolveDelayLoadedAPI", module=dll, symbol=name if name is not None else f"#{ordinal}",
            importer=loader.module_at(proc, parent_base).name if loader.module_at(proc, parent_base) else None)
    hmod_slot = rel + hmod_rva if hmod_rva else 0
    base = int.from_bytes(aspace.read(hmod_slot, ps), "little") if hmod_slot else 0
    try:
        if not base:
            base = loader.LdrLoadDll(machine, thread, dll, 0)
            if hmod_slot:
                aspace.write(hmod_slot, base.to_bytes(ps, "little"))
        addr = loader.LdrGetProcedureAddress(machine, proc, base, name, ordinal)
    except loader.LoaderError as e:
        code = VCPP_EXCEPTION_MOD_NOT_FOUND if not base else VCPP_EXCEPTION_PROC_NOT_FOUND
        if failure_dll_hook:
            addr = _call_failure_hook(machine, thread, failure_dll_hook, code, descriptor, dll, name, ordinal,
                                      thunk_address, base)
            if addr:
                aspace.write(thunk_address, addr.to_bytes(ps, "little"))
                return addr
        if failure_system_hook:
            addr = machine.dispatcher.call_guest(thread, failure_system_hook, [(rel + name_rva) & ((1 << (8 * ps)) - 1),
                                                                                name_va])
            addr &= (1 << (8 * ps)) - 1
            if addr:
                aspace.write(thunk_address, addr.to_bytes(ps, "little"))
                return addr
        from winhatch.kernel.ke.dispatcher import ExceptionInfo
        machine.dispatcher.raise_exception(thread, ExceptionInfo(code, thread.process.cpu.pc, None, None,
                                                                 f"delay load of {dll}: {e.message}"))
        return 0
    aspace.write(thunk_address, addr.to_bytes(ps, "little"))
    return addr


def _call_failure_hook(machine, thread, hook, code, descriptor, dll, name, ordinal, thunk, base) -> int:
    """PDELAYLOAD_FAILURE_DLL_CALLBACK(ULONG NotificationReason, PDELAYLOAD_INFO DelayloadInfo)."""
    proc = thread.process
    st = loader.state_of(proc)
    ps = 8 if proc.arch == "x64" else 4
    dll_bytes = dll.encode() + b"\0"
    name_buf = st.alloc(len(dll_bytes) + 600)
    proc.aspace.write(name_buf, dll_bytes)
    proc_name = 0
    if name is not None:
        proc_name = name_buf + len(dll_bytes)
        proc.aspace.write(proc_name, name.encode() + b"\0")
    # DELAYLOAD_INFO: Size, DelayloadDescriptor, ThunkAddress, TargetDllName, TargetApiDescriptor
    # {ImportDescribedByName, (Ordinal | ProcName)}, TargetModuleBase, Unused, LastError
    fmt = "<I" + ("4x" if ps == 8 else "") + ("QQQ" if ps == 8 else "III") + ("I" + ("4x" if ps == 8 else "")) + \
          ("Q" if ps == 8 else "I") + ("QQ" if ps == 8 else "II") + "I"
    size = -(-struct.calcsize(fmt) // ps) * ps    # sizeof(DELAYLOAD_INFO): 72 on x64, 36 on x86 (tail padding)
    info = st.alloc(size + 8)
    proc.aspace.write(info, struct.pack(fmt, size, descriptor, thunk, name_buf, 1 if name is not None else 0,
                                        proc_name if name is not None else (ordinal or 0), base, 0,
                                        126 if not base else 127))
    reason = DLI_FAIL_LOAD_LIB if not base else DLI_FAIL_GET_PROC
    return machine.dispatcher.call_guest(thread, hook, [reason, info]) & ((1 << (8 * ps)) - 1)
