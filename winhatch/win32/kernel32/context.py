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
