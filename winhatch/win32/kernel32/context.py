"""kernel32 / kernelbase / ntdll: thread contexts and the debugger query — Get/SetThreadContext over
NtGet/SetContextThread, Wow64Get/SetThreadContext and RtlWow64Get/SetThreadContext over
NtQuery/SetInformationThread(ThreadWow64Context), CheckRemoteDebuggerPresent over
NtQueryInformationProcess(ProcessDebugPort). The contexts themselves (where a thread's registers are, which
ContextFlags groups are copied, what differs from Windows) are the kernel's: winhatch.kernel.ps.context.
"""
from __future__ import annotations

from winhatch.kernel.structs import CONTEXT_AMD64, CONTEXT_X86
from winhatch.win32.api import api

from winhatch.win32.kernel32.threads import nt_failed

K32 = ("kernel32.dll", "kernelbase.dll")
ERROR_INVALID_PARAMETER = 87
CONTEXT_INTEGER = 0x2
ThreadWow64Context = 29
ProcessDebugPort = 7


def _flags(c, ctx: int, layout: str) -> int:
    st = CONTEXT_AMD64 if layout == "x64" else CONTEXT_X86
    return c.u32(ctx + st.offset(layout, "ContextFlags"))


def _after_set_self(c, h: int, ctx: int, layout: str) -> None:
    """SetThreadContext of the calling thread continued at the new context (the service restored it): the
    return register holds TRUE unless CONTEXT_INTEGER set it, as if kernelbase had returned."""
    if c.cpu._pc_written and not _flags(c, ctx, layout) & CONTEXT_INTEGER:
        c.cpu.set_reg("rax" if c.cpu.is64 else "eax", 1)


@api(K32, "BOOL WINAPI GetThreadContext(HANDLE hThread, LPCONTEXT lpContext)")
def GetThreadContext(c, h, ctx):
    return 0 if nt_failed(c, c.nt("NtGetContextThread", h, ctx)) else 1


@api(K32, "BOOL WINAPI SetThreadContext(HANDLE hThread, const CONTEXT *lpContext)")
def SetThreadContext(c, h, ctx):
    if nt_failed(c, c.nt("NtSetContextThread", h, ctx)):
        return 0
    _after_set_self(c, h, ctx, "x64" if c.cpu.is64 else "x86")
    return 1


def _wow64(c, service: str, h, ctx) -> int:
    return c.nt(service, h, ThreadWow64Context, ctx, CONTEXT_X86.size("x86"), *(() if "Set" in service else (0,)))


@api("kernel32.dll", "BOOL WINAPI Wow64GetThreadContext(HANDLE hThread, PWOW64_CONTEXT lpContext)")
def Wow64GetThreadContext(c, h, ctx):
    return 0 if nt_failed(c, _wow64(c, "NtQueryInformationThread", h, ctx)) else 1


@api("kernel32.dll", "BOOL WINAPI Wow64SetThreadContext(HANDLE hThread, const WOW64_CONTEXT *lpContext)")
def Wow64SetThreadContext(c, h, ctx):
    if nt_failed(c, _wow64(c, "NtSetInformationThread", h, ctx)):
        return 0
    _after_set_self(c, h, ctx, "x86")
    return 1


@api("ntdll.dll", "NTSTATUS NTAPI RtlWow64GetThreadContext(HANDLE Thread, PWOW64_CONTEXT Context)")
def RtlWow64GetThreadContext(c, h, ctx):
    return _wow64(c, "NtQueryInformationThread", h, ctx)


@api("ntdll.dll", "NTSTATUS NTAPI RtlWow64GetThreadSelectorEntry(HANDLE Thread, "
                  "PWOW64_DESCRIPTOR_TABLE_ENTRY DescriptorTableEntry, ULONG Length, PULONG ReturnLength)")
def RtlWow64GetThreadSelectorEntry(c, h, entry, length, pret):
    """A selector's descriptor as the thread's WoW64 side sees it: NtQueryInformationThread
    (ThreadDescriptorTableEntry) — WOW64_DESCRIPTOR_TABLE_ENTRY { ULONG Selector; WOW64_LDT_ENTRY }."""
    return c.nt("NtQueryInformationThread", h, 6, entry, length, pret)


@api("ntdll.dll", "NTSTATUS NTAPI RtlWow64SetThreadContext(HANDLE Thread, const WOW64_CONTEXT *Context)")
def RtlWow64SetThreadContext(c, h, ctx):
    return _wow64(c, "NtSetInformationThread", h, ctx)


@api(K32, "BOOL WINAPI CheckRemoteDebuggerPresent(HANDLE hProcess, PBOOL pbDebuggerPresent)")
def CheckRemoteDebuggerPresent(c, h, out):
    """NtQueryInformationProcess(ProcessDebugPort): a debugger is present when the port is not 0."""
    if not h or not out:
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    ps = c.ptr_size
    port = c.stack_alloc(ps)
    if nt_failed(c, c.nt("NtQueryInformationProcess", h, ProcessDebugPort, port, ps, 0)):
        return 0
    c.write_u32(out, 1 if c.ptr(port) else 0)
    return 1


# ============================================================================================ XSTATE contexts
# kernelbase's functions over ntdll's CONTEXT_EX ones (winhatch.win32.ntdll.rtl_xstate). The CONTEXT they take
# is the process's own architecture's; another architecture's is refused (FALSE / NULL, the last error kept).
ERROR_INSUFFICIENT_BUFFER = 122
XSAVE_LEGACY_LENGTH = 0xA0          # offsetof(XSAVE_FORMAT, XmmRegisters)


def _native(c):
    from winhatch.win32.ntdll import rtl_xstate as rx
    return rx.LAYOUTS[rx.CONTEXT_AMD64_FLAG if c.arch == "x64" else rx.CONTEXT_X86_FLAG]


def _native_flags(c, ctx: int) -> int | None:
    lay = _native(c)
    flags = c.u32(ctx + lay.flags_off)
    return flags if flags & lay.flag else None


@api(K32, "BOOL WINAPI InitializeContext(PVOID Buffer, DWORD ContextFlags, PVOID *Context, PDWORD ContextLength)")
def InitializeContext(c, buf, flags, pctx, plen):
    return InitializeContext2(c, buf, flags, pctx, plen, 0)


@api(K32, "BOOL WINAPI InitializeContext2(PVOID Buffer, DWORD ContextFlags, PVOID *Context, PDWORD ContextLength, "
          "ULONG64 XStateCompactionMask)")
def InitializeContext2(c, buf, flags, pctx, plen, compaction):
    """The context's length in *ContextLength; with a buffer that large, the CONTEXT_EX initialised in it and the
    CONTEXT's address in *Context. CONTEXT_XSTATE without XSTATE features is dropped from the flags (the
    context is still made); bad flags are ERROR_INVALID_PARAMETER, a NULL or short buffer
    ERROR_INSUFFICIENT_BUFFER."""
    from winhatch.win32.ntdll import rtl_xstate as rx
    if flags & rx.CONTEXT_XSTATE_BIT and not rx.enabled_xstate_features(c) & ~3:
        flags &= ~rx.CONTEXT_XSTATE_BIT
    st, length = rx.extended_context_length(c, flags)
    if st:
        c.set_last_nt_error(st)
        return 0
    have = c.u32(plen)
    c.write_u32(plen, length)
    if not buf or have < length:
        c.set_last_error(ERROR_INSUFFICIENT_BUFFER)
        return 0
    st, ex = rx.initialize_extended_context(c, buf, flags)
    if st:
        c.set_last_nt_error(st)
        return 0
    c.write_ptr(pctx, rx.legacy_context(c, ex)[0])
    return 1


@api(K32, "BOOL WINAPI GetXStateFeaturesMask(PVOID Context, PDWORD64 FeatureMask)")
def GetXStateFeaturesMask(c, ctx, pmask):
    """The XSTATE features the context holds: x87 and SSE (bits 0 and 1) with its floating-point group (x86:
    CONTEXT_EXTENDED_REGISTERS, x64: CONTEXT_FLOATING_POINT)."""
    flags = _native_flags(c, ctx)
    if flags is None:
        return 0
    lay = _native(c)
    c.write(pmask, (3 if flags & lay.fpx else 0).to_bytes(8, "little"))
    return 1


@api(K32, "BOOL WINAPI SetXStateFeaturesMask(PVOID Context, DWORD64 FeatureMask)")
def SetXStateFeaturesMask(c, ctx, mask):
    """Bits 0-1 (x87, SSE) add the floating-point group to the ContextFlags; a feature the system does not
    enable is FALSE (nothing changed)."""
    from winhatch.win32.ntdll import rtl_xstate as rx
    flags = _native_flags(c, ctx)
    if flags is None or mask & ~(3 | rx.enabled_xstate_features(c)):
        return 0
    lay = _native(c)
    if mask & 3:
        c.write_u32(ctx + lay.flags_off, flags | lay.fpx)
    if mask & ~3:
        from winhatch.win32.ntdll.seh import raise_unsupported
        raise_unsupported(c, "SetXStateFeaturesMask of an extended XSTATE feature (winhatch's CPU enables none)")
    return 1


@api(K32, "PVOID WINAPI LocateXStateFeature(PVOID Context, DWORD FeatureId, PDWORD Length)")
def LocateXStateFeature(c, ctx, fid, plen):
    """Feature 0 (x87) is the legacy part of the context's XSAVE image, feature 1 (SSE) its XMM registers;
    an extended feature is in the XSTATE area, which no context has here (no feature is enabled): NULL."""
    if _native_flags(c, ctx) is None:
        return 0
    lay = _native(c)
    if fid == 0:
        addr, length = ctx + lay.xsave_off, XSAVE_LEGACY_LENGTH
    elif fid == 1:
        addr, length = ctx + lay.xsave_off + XSAVE_LEGACY_LENGTH, 16 * lay.vectors
    else:
        return 0
    if plen:
        c.write_u32(plen, length)
    return addr


@api(K32, "BOOL WINAPI CopyContext(PVOID Destination, DWORD ContextFlags, PVOID Source)")
def CopyContext(c, dst, flags, src):
    from winhatch.win32.ntdll import rtl_xstate as rx
    st = rx.RtlCopyContext(c, dst, flags, src)
    if st:
        c.set_last_nt_error(st)
        return 0
    return 1
