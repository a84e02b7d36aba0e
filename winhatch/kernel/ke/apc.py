"""User-mode APC delivery on the return from a system service (KiDeliverApc → KiInitializeUserApc).

A guest system call that ends an alertable wait with STATUS_USER_APC (or NtTestAlert with APCs queued) does not
return to its caller directly: as on Windows the kernel lays the caller's return CONTEXT (the service's status
in eax/rax) on the user stack and continues at ntdll!KiUserApcDispatcher, whose implementation in ntdll's
layer runs the queued APC routines and resumes the CONTEXT (NtContinue). A Win32 handler that calls the
service through `c.nt` gets STATUS_USER_APC back and runs the APCs itself (kernelbase's alertable waits see
the same status)."""
from __future__ import annotations

from winhatch.kernel.ke.context import X64_CONTEXT_SIZE, X86_CONTEXT_SIZE, context_to_guest
from winhatch.kernel.ke.wait import pending_apcs

STATUS_USER_APC = 0xC0
USER_APC_DISPATCHER = "KiUserApcDispatcher"


def _commit_stack(machine, thread, low: int) -> None:
    """Commit the thread's stack down to `low` (the guard page moves as MiCheckForUserStackOverflow moves it),
    as the kernel probes the user stack before it builds the APC frame."""
    from winhatch.ntstatus import STATUS_GUARD_PAGE_VIOLATION
    st = thread.stack
    if st is None:
        return
    target = max(low & ~0xFFF, st.reserve_base + 0x2000)
    for _ in range(4096):
        if st.limit <= target:
            return
        guard = st.limit - 0x1000
        if thread.process.aspace.handle_fault(guard, 1) != STATUS_GUARD_PAGE_VIOLATION:
            return
        if not machine.dispatcher._grow_stack(thread, guard):
            return


def wants_delivery(thread, status: int | None) -> bool:
    if not pending_apcs(thread):
        thread.deliver_apcs = False
        return False
    return status == STATUS_USER_APC or bool(getattr(thread, "deliver_apcs", False))


def deliver_user_apcs(machine, thread, cpu, kind: str | None, site: int, status: int | None) -> None:
    """Continue the thread at KiUserApcDispatcher(CONTEXT *) with the system call's return context on its
    stack (x64: rcx = the CONTEXT, shadow space and a zero return address below it; x86: the CONTEXT pointer as
    the argument of a stdcall frame). `kind` None and `status` None: the context is the thread's registers as
    they are (NtContinue with TestAlert has just loaded them from its CONTEXT record)."""
    thread.deliver_apcs = False
    ctx = cpu.save_context()
    if kind in ("syscall", "sysenter"):
        ctx.pc = site + 2                      # the hook runs before the pc moves past the instruction
    if status is not None:
        ctx.set("rax" if cpu.is64 else "eax", status & 0xFFFFFFFF)
    size = X64_CONTEXT_SIZE if cpu.is64 else X86_CONTEXT_SIZE
    ctx_addr = (ctx.sp - size - 0x80) & ~0xF
    low = ctx_addr - 0x40
    _commit_stack(machine, thread, low)
    cpu.mem_write(ctx_addr, context_to_guest(ctx))
    target = machine.ntdll_export(thread.process, USER_APC_DISPATCHER)
    if cpu.is64:
        sp = ctx_addr - 0x28
        cpu.write_u64(sp, 0)
        cpu.set_reg("rcx", ctx_addr)
    else:
        sp = ctx_addr - 8
        cpu.write_u32(sp, 0)
        cpu.write_u32(sp + 4, ctx_addr)
    cpu.sp = sp
    cpu.pc = target
