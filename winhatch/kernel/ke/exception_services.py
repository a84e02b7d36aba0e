"""The kernel's exception services: NtContinue (resume a CONTEXT) and NtRaiseException (dispatch an
exception record with a CONTEXT, as KiDispatchException does: first chance to the user-mode dispatcher —
KiUserExceptionDispatcher, installed by the loader layer as the dispatcher's callback — second chance to
the unhandled-exception end, there being no debugger).

CONTEXT records are read in the caller's layout (CONTEXT_AMD64 / the WoW64 CONTEXT_X86) and applied onto the
thread's registers by the groups their ContextFlags name (winhatch.kernel.ke.context)."""
from __future__ import annotations

from winhatch.kernel.ke.context import X64_CONTEXT_SIZE, X86_CONTEXT_SIZE, context_from_guest
from winhatch.kernel.ke.services import kernel_service, user_read
from winhatch.kernel.structs import EXCEPTION_RECORD

EXCEPTION_MAXIMUM_PARAMETERS = 15


def _context(thread, addr: int, *, debug_registers: bool = False):
    proc = thread.process
    size = X64_CONTEXT_SIZE if proc.arch == "x64" else X86_CONTEXT_SIZE
    data = user_read(proc, addr, size)
    if debug_registers:      # NtContinue: a CONTEXT with CONTEXT_DEBUG_REGISTERS sets the thread's
        from winhatch.kernel.ke import hwbp
        hwbp.from_guest(thread, data, proc.arch)
    return context_from_guest(data, proc.cpu.save_context())


@kernel_service("NtContinue")
def NtContinue(machine, thread, ContextRecord, TestAlert):
    """The thread continues with the registers of the CONTEXT (the status register is the CONTEXT's).
    TestAlert: the user APCs queued to the thread run first, as KiDeliverApc runs them on the way back to user
    mode: KiUserApcDispatcher gets the CONTEXT just loaded (its NtContinue resumes it once they have run)."""
    from winhatch.kernel.ke import apc
    from winhatch.kernel.ke.wait import pending_apcs
    ctx = _context(thread, ContextRecord, debug_registers=True)
    cpu = thread.process.cpu
    cpu.restore_context(ctx)
    if TestAlert & 0xFF and pending_apcs(thread):
        apc.deliver_user_apcs(machine, thread, cpu, None, 0, None)
    return 0


@kernel_service("NtRaiseException")
def NtRaiseException(machine, thread, ExceptionRecord, ContextRecord, FirstChance):
    """Dispatch the exception described by the record with the CONTEXT: first chance to the user-mode
    handlers (vectored, frame-based), whose EXCEPTION_CONTINUE_EXECUTION resumes the (possibly changed)
    context; a second chance (FirstChance FALSE, or nothing handled it) ends the process with the code."""
    from winhatch.kernel.ke.dispatcher import ExceptionInfo
    proc = thread.process
    arch = proc.arch
    rec = EXCEPTION_RECORD.unpack(arch, user_read(proc, ExceptionRecord, EXCEPTION_RECORD.size(arch)))
    n = min(rec["NumberParameters"], EXCEPTION_MAXIMUM_PARAMETERS)
    ctx = _context(thread, ContextRecord)
    info = ExceptionInfo(rec["ExceptionCode"], rec["ExceptionAddress"], None, None, "NtRaiseException",
                         tuple(rec["ExceptionInformation"][:n]))
    info.flags = rec["ExceptionFlags"]
    info.record_chain = rec["ExceptionRecord"]
    info.context = ctx
    if FirstChance & 0xFF:
        machine.dispatcher.raise_exception(thread, info)
    else:
        info.first_chance = False
        machine.dispatcher.unhandled_exception(thread, info)
    return 0


STATUS_NO_CALLBACK_ACTIVE = 0xC0000258


@kernel_service("NtCallbackReturn")
def NtCallbackReturn(machine, thread, OutputBuffer, OutputLength, Status):
    """The end of a kernel-to-user callback (KeUserModeCallback → KiUserCallbackDispatcher): the kernel's call
    returns with the buffer and status. winhatch's kernel makes no user-mode callbacks (there is no win32k
    calling into user32), so a thread never has one active: STATUS_NO_CALLBACK_ACTIVE, as Windows answers a
    thread outside a callback."""
    return STATUS_NO_CALLBACK_ACTIVE
