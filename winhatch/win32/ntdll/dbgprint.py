"""ntdll's debug print routines: DbgPrint, DbgPrintEx, vDbgPrintEx, vDbgPrintExWithPrefix.

User-mode ntdll formats the message (printf syntax, at most 512 bytes with the NUL, a prefix first for
vDbgPrintExWithPrefix) and, for the Ex forms, asks the kernel's debug filter whether the component and level
are shown (NtQueryDebugFilterState). With no kernel debugger and the filter masks as Windows starts (every
component mask 0, the system-wide mask enabling DPFLTR_ERROR_LEVEL), a message is shown when its level mask
has bit 0: a Level of 0..31 is the bit 1 << Level, a larger one is itself the mask (DPFLTR_MASK, bit 31,
ignored) — so DPFLTR_ERROR_LEVEL and 0xFFFFFFFF are shown, DPFLTR_WARNING_LEVEL is not. DbgPrint is not
filtered. A shown message, in a process whose PEB says BeingDebugged, is raised as DBG_PRINTEXCEPTION_C
(parameters: its length with the NUL, the ANSI string) inside the routine's own __try/__except: vectored
handlers see it first (EXCEPTION_CONTINUE_EXECUTION ends the raise), then the routine's own frame catches it,
so the caller's frame-based handlers never do; otherwise it goes to the kernel debugger service, which
without a kernel debugger does nothing. Every routine returns STATUS_SUCCESS.
(Facts: Microsoft's "Reading and filtering debugging messages"; Wine's ntdll/tests/rtl.c test_DbgPrint,
written on Windows.)

Here: the message is recorded as a `console` event `debug_string`; a process with a debug port stops loudly
(the debug event of a DbgPrint is not modelled).
"""
from __future__ import annotations

from winhatch.kernel import events as ev
from winhatch.kernel.structs import EXCEPTION_RECORD, PEB
from winhatch.win32.api import api
from winhatch.win32.ntdll import exceptions as X

NT = "ntdll.dll"
DBG_PRINTEXCEPTION_C = 0x40010006
DPFLTR_MASK = 0x80000000
BUFFER = 512                    # bytes of the formatted message, its NUL included


def _shown(level: int) -> bool:
    """NtQueryDebugFilterState with the filter masks Windows starts with: only DPFLTR_ERROR_LEVEL (bit 0)."""
    level &= 0xFFFFFFFF
    mask = (1 << level) if level < 32 else level & ~DPFLTR_MASK
    return bool(mask & 1)


def _format(c, fmt: int, args) -> bytes:
    from winhatch.win32.msvcrt import runtime as R
    from winhatch.win32.msvcrt.stdio import fmt_text
    text = fmt_text(c, R.state(c), fmt, args, wide=False) if fmt else b""
    if isinstance(text, str):
        return text.encode("cp1252", "replace")
    return text or b""


def _gen(c, entry_ctx, rec_addr, ctx_addr, ep_addr, params):
    mem = X.Mem(c.proc)
    st = X.state_of(c.proc)
    is64 = c.arch == "x64"
    rec = X.build_record(DBG_PRINTEXCEPTION_C, 0, c.cpu.pc, params)
    mem.write(ctx_addr, X.context_to_guest(entry_ctx))
    mem.write(rec_addr, EXCEPTION_RECORD.pack(c.arch, **rec))
    mem.wptr(ep_addr, rec_addr, is64)
    mem.wptr(ep_addr + (8 if is64 else 4), ctx_addr, is64)
    for _h, fn in list(st.vectored):
        res = X._signed32((yield X.GuestCall(fn, (ep_addr,))))
        if res == X.EXCEPTION_CONTINUE_EXECUTION:
            yield from X._call_continue_handlers(st, ep_addr)
            break
    return None


def _print(c, message: bytes) -> int:
    """The message (already filtered) to the debugger: the event, then the exception when BeingDebugged."""
    from winhatch.win32.ntdll.seh import caller_context
    proc = c.proc
    message = message[:BUFFER - 1]
    c.machine.events.emit(ev.CONSOLE, "debug_string", proc.pid, c.thread.tid,
                          text=message.decode("cp1252", "replace"))
    if not PEB.read(proc.aspace, proc.peb, c.arch, "BeingDebugged")["BeingDebugged"]:
        return 0            # the kernel debugger service: no kernel debugger, nothing happens
    if proc.debug_port is not None:
        from winhatch.win32.msvcrt.runtime import not_implemented
        not_implemented(c, f"{c.name} in a process with a debugger attached (its debug event)")
    if not X.state_of(proc).vectored:
        return 0            # no vectored handler: the routine's own __except catches the exception
    entry = caller_context(c)
    entry.regs["rax" if c.cpu.is64 else "eax"] = 0          # STATUS_SUCCESS
    csize = X.X64_CONTEXT_SIZE if c.cpu.is64 else X.X86_CONTEXT_SIZE
    str_addr = (c.cpu.sp - 0x100 - BUFFER) & ~0xF
    ctx_addr = (str_addr - csize) & ~0xF
    rec_addr = (ctx_addr - EXCEPTION_RECORD.size(c.arch)) & ~0xF
    ep_addr = rec_addr - 0x20
    low = ep_addr - 0x40
    X.ensure_stack(c.thread, low - X.HANDLER_STACK_MARGIN)
    c.write(str_addr, message + b"\0")
    co = X.Coroutine(c.thread, None, "api", low, resume_ctx=entry.copy())

    def wrapper():
        yield from _gen(c, entry, rec_addr, ctx_addr, ep_addr, (len(message) + 1, str_addr))
        return entry.copy()

    co.gen = wrapper()
    X.start(c.thread, co)
    return 0


@api(NT, "ULONG __cdecl DbgPrint(const void *Format, ...)", calls_guest=True)
def DbgPrint(c, fmt):
    from winhatch.win32.va import VaArgs
    return _print(c, _format(c, fmt, VaArgs.after_params(c)))


@api(NT, "ULONG __cdecl DbgPrintEx(ULONG ComponentId, ULONG Level, const void *Format, ...)", calls_guest=True)
def DbgPrintEx(c, component, level, fmt):
    from winhatch.win32.va import VaArgs
    if not _shown(level):
        return 0
    return _print(c, _format(c, fmt, VaArgs.after_params(c)))


@api(NT, "ULONG NTAPI vDbgPrintEx(ULONG ComponentId, ULONG Level, const void *Format, va_list arglist)",
     calls_guest=True)
def vDbgPrintEx(c, component, level, fmt, args):
    from winhatch.win32.va import VaArgs
    if not _shown(level):
        return 0
    return _print(c, _format(c, fmt, VaArgs(c, args)))


@api(NT, "ULONG NTAPI vDbgPrintExWithPrefix(const void *Prefix, ULONG ComponentId, ULONG Level, const void *Format, "
         "va_list arglist)", calls_guest=True)
def vDbgPrintExWithPrefix(c, prefix, component, level, fmt, args):
    from winhatch.win32.va import VaArgs
    if not _shown(level):
        return 0
    pre = c.cstr(prefix, BUFFER) if prefix else b""
    return _print(c, pre + _format(c, fmt, VaArgs(c, args)))
