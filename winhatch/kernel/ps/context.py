"""Thread contexts: NtGetContextThread / NtSetContextThread (and the WoW64 forms kernel32 and ntdll reach through
them: Wow64Get/SetThreadContext, RtlWow64Get/SetThreadContext).

Where a thread's registers are (the scheduler, winhatch.kernel.ke.dispatcher): the thread its process's CPU
last ran (`running_thread`) has them on that CPU; any other thread has them saved in `thread.context`. A
thread of another process still sitting on its CPU is parked first (its registers saved into
`thread.context`, the CPU marked free, as thread exit does), so reads and writes always go to
`thread.context` and the scheduler restores that on the thread's next switch. A thread that never ran holds
the context the kernel prepared (`thread.user_context`, the same object: winhatch.kernel.ps.peb
initial_user_context): the pc at ntdll!RtlUserThreadStart, the start routine and parameter in rcx/rdx (x64)
or eax/ebx (x86), for the initial thread the image entry point and the PEB — what Windows reports for a
thread created suspended. The thread first enters ntdll!LdrInitializeThunk, which ends by resuming that
context (NtContinue), so a SetThreadContext before the first run redirects it as on Windows (process
hollowing).

Only the ContextFlags groups requested are copied (a group counts when all its bits, the architecture bit
included, are set, as the Windows kernel tests them):

    x64  CONTROL SegCs SegSs EFlags Rsp Rip   INTEGER Rax..R15 with Rbp   SEGMENTS SegDs/Es/Fs/Gs
         FLOATING_POINT MxCsr FltSave   DEBUG_REGISTERS Dr0-3 Dr6 Dr7
    x86  CONTROL Ebp Eip SegCs EFlags Esp SegSs   INTEGER Eax..Edi   SEGMENTS SegGs/Fs/Es/Ds
         FLOATING_POINT FloatSave   DEBUG_REGISTERS Dr0-3 Dr6 Dr7   EXTENDED_REGISTERS (FXSAVE image)

Differences from Windows, documented: the segment selectors reported are Windows' user-mode ones (x64 cs 0x33,
x86 (WoW64) cs 0x23, ss/ds/es/gs 0x2B, fs 0x53), whatever winhatch's own GDT numbers them, and selectors
written are ignored (Windows forces the user-mode selectors too); debug registers are stored per thread and
read back but hardware breakpoints are not emulated; the calling thread's own context is its state at the
return from the call (Windows reports the system-call return inside the ntdll stub); setting the calling
thread's context continues there like NtContinue (the return register is STATUS_SUCCESS unless
CONTEXT_INTEGER was set). An x64 caller's CONTEXT for a thread of an x86 process is the WoW64 view
(winhatch.kernel.ps.wow64): in 32-bit mode the x86 registers zero-extended with cs 0x23, in 64-bit mode (not
started, blocked in a system call) the WoW64 layer's 64-bit registers with cs 0x33, which a 64-bit
SetThreadContext changes without touching the 32-bit context; an x86 caller cannot read an x64 thread
(STATUS_INVALID_PARAMETER).
"""
from __future__ import annotations

import struct

from winhatch.cpu.context import Context
from winhatch.kernel.ke.context import context_from_guest, context_to_guest
from winhatch.kernel.ke.services import user_read, user_write
from winhatch.kernel.ps import wow64
from winhatch.kernel.structs import CONTEXT_AMD64, CONTEXT_X86
from winhatch.ntstatus import STATUS_INVALID_PARAMETER, STATUS_UNSUCCESSFUL

AMD64_FLAG, X86_FLAG = 0x100000, 0x10000
CONTROL, INTEGER, SEGMENTS, FLOATING_POINT, DEBUG_REGISTERS, EXTENDED_REGISTERS = 0x1, 0x2, 0x4, 0x8, 0x10, 0x20
DEBUG_NAMES = ("Dr0", "Dr1", "Dr2", "Dr3", "Dr6", "Dr7")

# the CONTEXT fields of each ContextFlags group
_GROUPS = {
    "x64": {
        CONTROL: ("SegCs", "SegSs", "EFlags", "Rsp", "Rip"),
        INTEGER: ("Rax", "Rcx", "Rdx", "Rbx", "Rbp", "Rsi", "Rdi", "R8", "R9", "R10", "R11", "R12", "R13",
                  "R14", "R15"),
        SEGMENTS: ("SegDs", "SegEs", "SegFs", "SegGs"),
        FLOATING_POINT: ("MxCsr", "FltSave"),
        DEBUG_REGISTERS: DEBUG_NAMES,
    },
    "x86": {
        CONTROL: ("Ebp", "Eip", "SegCs", "EFlags", "Esp", "SegSs"),
        INTEGER: ("Edi", "Esi", "Ebx", "Edx", "Ecx", "Eax"),
        SEGMENTS: ("SegGs", "SegFs", "SegEs", "SegDs"),
        FLOATING_POINT: ("FloatSave",),
        DEBUG_REGISTERS: DEBUG_NAMES,
        EXTENDED_REGISTERS: ("ExtendedRegisters",),
    },
}
# the user-mode selectors Windows reports (x86: a WoW64 thread's); winhatch's own GDT numbers them otherwise
_SELECTORS = {"x64": {"SegCs": 0x33, "SegSs": 0x2B, "SegDs": 0x2B, "SegEs": 0x2B, "SegFs": 0x53, "SegGs": 0x2B},
              "x86": {"SegCs": 0x23, "SegSs": 0x2B, "SegDs": 0x2B, "SegEs": 0x2B, "SegFs": 0x53, "SegGs": 0x2B}}
_LAYOUT = {"x64": (CONTEXT_AMD64, AMD64_FLAG), "x86": (CONTEXT_X86, X86_FLAG)}


def _groups(layout: str, flags: int) -> int:
    """The groups requested: each counts only with the architecture bit set, as the kernel tests them."""
    _, arch_flag = _LAYOUT[layout]
    if not flags & arch_flag:
        return 0
    return sum(g for g in _GROUPS[layout] if flags & g)


def _ranges(layout: str, groups: int):
    st = _LAYOUT[layout][0]
    for g, names in _GROUPS[layout].items():
        if groups & g:
            for n in names:
                yield st.offset(layout, n), st.field_size(layout, n)


def _park(t) -> None:
    """A thread of another process still on its process's CPU: save its registers into thread.context and
    free the CPU (the scheduler restores thread.context when it next switches to the thread)."""
    proc = t.process
    if proc.subsystem.get("running_thread") is t:
        t.context = proc.cpu.save_context()
        proc.subsystem["running_thread"] = None


def caller_return_context(thread, caller_sp: int, argc: int) -> Context:
    """The calling thread's registers as they are when the system service returns to its caller: pc the return
    address at the caller's stack pointer, the stack popped (x86: the stdcall arguments too)."""
    cpu = thread.process.cpu
    ctx = cpu.save_context()
    if cpu.is64:
        ctx.regs["rip"] = cpu.read_ptr(caller_sp)
        ctx.regs["rsp"] = caller_sp + 8
    else:
        ctx.regs["eip"] = cpu.read_ptr(caller_sp)
        ctx.regs["esp"] = caller_sp + 4 + 4 * argc
    return ctx


def _regs_of(thread, t, caller_sp: int) -> Context:
    if t is thread:
        return caller_return_context(thread, caller_sp, 2)
    _park(t)
    return t.context


def _debug_regs(t) -> dict:
    d = getattr(t, "debug_registers", None)
    if d is None:
        d = t.debug_registers = dict.fromkeys(DEBUG_NAMES, 0)
    return d


def _widen(ctx: Context) -> Context:
    """An x86 register snapshot as an x64 one (registers zero-extended) for an x64 caller's CONTEXT."""
    r = ctx.regs
    names = {"rax": "eax", "rbx": "ebx", "rcx": "ecx", "rdx": "edx", "rsi": "esi", "rdi": "edi", "rbp": "ebp",
             "rsp": "esp", "rip": "eip", "rflags": "eflags"}
    regs = {k: r[v] for k, v in names.items()}
    regs.update({f"r{i}": 0 for i in range(8, 16)})
    for k in ("cs", "ss", "ds", "es", "fs", "gs", "fpcw", "fpsw", "fptag", "mxcsr", *(f"fp{i}" for i in range(8)),
              *(f"xmm{i}" for i in range(8))):
        if k in r:
            regs[k] = r[k]
    regs.update({f"xmm{i}": 0 for i in range(8, 16)})
    regs.setdefault("gs_base", 0)
    return Context("x64", regs)


def _narrow(wide: Context, base: Context) -> Context:
    out = base.copy()
    names = {"rax": "eax", "rbx": "ebx", "rcx": "ecx", "rdx": "edx", "rsi": "esi", "rdi": "edi", "rbp": "ebp",
             "rsp": "esp", "rip": "eip", "rflags": "eflags"}
    for k, v in names.items():
        out.regs[v] = wide.regs[k] & 0xFFFFFFFF
    for k in ("fpcw", "fpsw", "fptag", "mxcsr", *(f"fp{i}" for i in range(8)), *(f"xmm{i}" for i in range(8))):
        if k in wide.regs:
            out.regs[k] = wide.regs[k]
    return out


def _usable(t) -> bool:
    return not (t.terminated or t.process.cpu is None or t.process.exited)


def get_context(thread, t, addr: int, layout: str, caller_sp: int) -> int:
    """NtGetContextThread of thread `t` into the CONTEXT of `layout` ("x64" or "x86") at addr."""
    if not _usable(t):
        return STATUS_UNSUCCESSFUL
    if layout == "x86" and t.process.arch != "x86":
        return STATUS_INVALID_PARAMETER
    st_, _ = _LAYOUT[layout]
    size = st_.size(layout)
    proc = thread.process
    buf = bytearray(user_read(proc, addr, size))
    flags = struct.unpack_from("<I", buf, st_.offset(layout, "ContextFlags"))[0]
    groups = _groups(layout, flags)
    regs = _regs_of(thread, t, caller_sp)
    wow = layout == "x64" and wow64.is_wow64_thread(t)     # a 64-bit caller's view of a WoW64 thread
    if wow and wow64.in_native_mode(t):
        regs = wow64.native_registers(t)
    elif layout == "x64" and not regs.is64:
        regs = _widen(regs)
        if wow:
            regs = wow64.running_32bit_view(t, regs)
    full = bytearray(context_to_guest(regs))
    if not wow:
        for n, v in _SELECTORS[layout].items():
            struct.pack_into("<H", full, st_.offset(layout, n), v)
    if groups & DEBUG_REGISTERS:
        for n, v in _debug_regs(t).items():
            struct.pack_into("<Q" if layout == "x64" else "<I", full, st_.offset(layout, n), v)
    for off, n in _ranges(layout, groups):
        buf[off:off + n] = full[off:off + n]
    user_write(proc, addr, bytes(buf))
    return 0


def _apply(layout: str, data: bytes, groups: int, base: Context) -> Context:
    """The registers of `base` with the requested groups of the CONTEXT `data` applied (context_from_guest
    does the register groups; the x64 Rbp belongs to INTEGER and the x87 registers to FLOATING_POINT)."""
    st_, arch_flag = _LAYOUT[layout]
    data = bytearray(data)
    struct.pack_into("<I", data, st_.offset(layout, "ContextFlags"), arch_flag | (groups & ~SEGMENTS))
    new = context_from_guest(bytes(data), base)
    r = new.regs
    if layout == "x64":
        rbp = struct.unpack_from("<Q", data, st_.offset(layout, "Rbp"))[0]
        r["rbp"] = rbp if groups & INTEGER else base.regs["rbp"]
        if groups & FLOATING_POINT:
            fo = st_.offset(layout, "FltSave")
            abridged = data[fo + 4]
            r["fptag"] = sum((0 if abridged >> i & 1 else 3) << (2 * i) for i in range(8))
            for i in range(8):
                r[f"fp{i}"] = int.from_bytes(data[fo + 32 + 16 * i: fo + 42 + 16 * i], "little")
    elif groups & FLOATING_POINT:
        fs = st_.offset(layout, "FloatSave")
        r["fptag"] = struct.unpack_from("<I", data, fs + 8)[0] & 0xFFFF
        ra = st_.offset(layout, "FloatSave.RegisterArea")
        for i in range(8):
            r[f"fp{i}"] = int.from_bytes(data[ra + 10 * i: ra + 10 * i + 10], "little")
    return new


def set_context(thread, t, addr: int, layout: str, caller_sp: int) -> int:
    """NtSetContextThread of thread `t` from the CONTEXT of `layout` at addr."""
    if not _usable(t):
        return STATUS_UNSUCCESSFUL
    if layout == "x86" and t.process.arch != "x86":
        return STATUS_INVALID_PARAMETER
    st_, _ = _LAYOUT[layout]
    data = user_read(thread.process, addr, st_.size(layout))
    flags = struct.unpack_from("<I", data, st_.offset(layout, "ContextFlags"))[0]
    groups = _groups(layout, flags)
    if groups & DEBUG_REGISTERS:
        d = _debug_regs(t)
        for n in DEBUG_NAMES:
            v = struct.unpack_from("<Q" if layout == "x64" else "<I", data, st_.offset(layout, n))[0]
            d[n] = v & ~0x2000 if n == "Dr7" else v    # Dr7.GD (general detect) is the kernel's
        if t is thread:
            from winhatch.kernel.ke import hwbp
            hwbp.sync(t)                                # armed at once for the calling thread
    wow = wow64.is_wow64_thread(t) and wow64.in_native_mode(t)
    if wow and layout == "x64":
        # a WoW64 thread in 64-bit mode: the WoW64 layer's registers change, its 32-bit context does not
        if groups & ~(DEBUG_REGISTERS | SEGMENTS):
            wow64.set_native_registers(t, _apply(layout, data, groups, wow64.native_registers(t)))
        return 0
    if not groups & ~(DEBUG_REGISTERS | SEGMENTS):
        if wow and groups & DEBUG_REGISTERS:
            wow64.save_cpu_area(t)
        return 0
    base = _regs_of(thread, t, caller_sp)
    if layout == "x64" and not base.is64:
        new = _narrow(_apply(layout, data, groups, _widen(base)), base)
    else:
        new = _apply(layout, data, groups, base)
    if t is thread:
        if not groups & INTEGER:
            new.set("rax" if new.is64 else "eax", 0)
        thread.process.cpu.restore_context(new)     # continues there, as NtContinue does
        return 0
    if not t.started and t.context is getattr(t, "user_context", None):
        t.user_context = new   # what LdrInitializeThunk resumes (NtContinue) on the first run
    t.context = new
    if wow:
        wow64.save_cpu_area(t, new)             # the WoW64 layer holds the 32-bit context in the CPU area
    if t.wait is not None and not t.wait.extra.get("keep_pc"):
        t.context_set_in_wait = True    # the wait returns into this context (the dispatcher's wake)
    return 0
