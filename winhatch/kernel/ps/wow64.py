"""A WoW64 thread's 64-bit side, as Windows 10 lays it out for a 32-bit (x86) process.

Every thread of a WoW64 process has two stacks and two TEBs: the 32-bit ones its code uses, and the 64-bit
ones of the WoW64 layer (ntdll64, wow64.dll, wow64cpu.dll) that runs the system calls. The 64-bit TEB
(winhatch.kernel.ps.peb.create_teb) describes the 64-bit stack: NtTib.StackBase / StackLimit,
DeallocationStack. At the top of that stack sits the thread's CPU area, WOW64_CPURESERVED { USHORT Flags;
USHORT Machine; } followed by the guest's CONTEXT (for i386 a WOW64_CONTEXT at +4) and a CONTEXT_EX after it
(RtlWow64GetCpuAreaInfo, winhatch.win32.ntdll.rtl_wow64, finds them); TEB64.TlsSlots[WOW64_TLS_CPURESERVED]
and the lowered StackBase both point at it.

A WoW64 thread is in one of two modes. In 32-bit mode it runs its own code and its 32-bit registers are the
CPU's; in 64-bit mode (a thread that has not run yet: it starts in the 64-bit LdrInitializeThunk; a thread
blocked in a system call) the WoW64 layer has saved them in the CPU area and the CPU's registers are the
layer's. winhatch's WoW64 layer is its Python kernel: no 64-bit code is mapped in a WoW64 process (PEB64.Ldr is
empty), so the 64-bit registers a thread has in 64-bit mode are the layer's entry state, kept per thread
(`wow64_native`): Rip 0 (no 64-bit code), Rsp near the top of the 64-bit stack, the other integer registers
0, EFLAGS 0x200, the initial x87/SSE control words. NtGetContextThread from a 64-bit caller reports those in
64-bit mode (cs 0x33) and the 32-bit registers zero-extended in 32-bit mode (cs 0x23), with what wow64cpu
keeps in r12-r14 while 32-bit code runs: r12 the 64-bit TEB, r13 the CPU area, r14 the 64-bit stack pointer.
The 32-bit context a thread in 64-bit mode has is written to its CPU area when the thread is created, when it
blocks in a system call, when the scheduler switches it out inside one, and whenever it is changed
(RtlWow64SetThreadContext, Wow64SetThreadContext); the area keeps the last saved one while the thread runs
32-bit code, as on Windows. Not modelled: a change the 64-bit side makes to the area itself
(WriteProcessMemory into it) is not what the thread resumes (the kernel keeps the registers it resumes).
"""
from __future__ import annotations

import struct

from winhatch.cpu.context import Context
from winhatch.kernel.structs import CONTEXT_X86, TEB

#: TEB64.TlsSlots index of the CPU area (WOW64_TLS_CPURESERVED)
WOW64_TLS_CPURESERVED = 1
IMAGE_FILE_MACHINE_I386 = 0x014C
#: WOW64_CONTEXT_ALL: i386 | CONTROL | INTEGER | SEGMENTS | FLOATING_POINT | DEBUG_REGISTERS | EXTENDED_REGISTERS
WOW64_CONTEXT_ALL = 0x1003F
#: CONTEXT_EX { CONTEXT_CHUNK All, Legacy, XState; } (LONG Offset; ULONG Length each)
CONTEXT_EX_SIZE = 0x18
#: the CPU area: the header, the i386 context at +4, the CONTEXT_EX pointer-aligned after it, 16-aligned
CPU_AREA_SIZE = (4 + CONTEXT_X86.size("x86") + 7 & ~7) + CONTEXT_EX_SIZE + 15 & ~15
#: the 64-bit stack of a WoW64 thread (the WoW64 layer's own stack)
NATIVE_STACK_RESERVE = 0x40000
NATIVE_STACK_COMMIT = 0x4000
SELECTORS32 = {"cs": 0x23, "ss": 0x2B, "ds": 0x2B, "es": 0x2B, "fs": 0x53, "gs": 0x2B}


def create_native_side(thread, teb64: int) -> None:
    """The 64-bit stack and CPU area of a WoW64 thread, recorded in its 64-bit TEB."""
    from winhatch.kernel.ps.peb import create_user_stack
    aspace = thread.process.aspace
    st = create_user_stack(thread, NATIVE_STACK_RESERVE, NATIVE_STACK_COMMIT)
    area = st.base - CPU_AREA_SIZE
    aspace.write(area, bytes(CPU_AREA_SIZE))
    aspace.write(area, struct.pack("<HH", 0, IMAGE_FILE_MACHINE_I386))
    slots = TEB.offset("x64", "TlsSlots")
    aspace.write(teb64 + slots + 8 * WOW64_TLS_CPURESERVED, struct.pack("<Q", area))
    TEB.write(aspace, teb64, "x64", NtTib={"StackBase": area, "StackLimit": st.limit},
              DeallocationStack=st.reserve_base)
    thread.wow64_cpu_area = area
    thread.wow64_native_stack = st


def is_wow64_thread(t) -> bool:
    return getattr(t, "wow64_cpu_area", None) is not None


def in_native_mode(t) -> bool:
    """Is the thread in the WoW64 layer's 64-bit code: not started yet, blocked in a system call, or switched
    out by the scheduler inside one (its quantum ran out in a system service, kernel.ke.dispatcher)?"""
    return not t.started or t.wait is not None or getattr(t, "slice_ended_in_service", False)


def native_registers(t) -> Context:
    """The WoW64 layer's 64-bit registers of a thread in 64-bit mode (see the module's docstring)."""
    ctx = getattr(t, "wow64_native", None)
    if ctx is None:
        regs = {n: 0 for n in ("rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rbp", "rip", "r8", "r9", "r10", "r11",
                               "r12", "r13", "r14", "r15", "fpsw", *(f"fp{i}" for i in range(8)),
                               *(f"xmm{i}" for i in range(16)))}
        regs.update(rsp=t.wow64_cpu_area - 0x28, rflags=0x200, fpcw=0x27F, fptag=0xFFFF, mxcsr=0x1F80,
                    cs=0x33, ss=0x2B, ds=0x2B, es=0x2B, fs=0x53, gs=0x2B, gs_base=t.teb64)
        ctx = t.wow64_native = Context("x64", regs)
    return ctx


def set_native_registers(t, ctx: Context) -> None:
    t.wow64_native = ctx


def running_32bit_view(t, wide: Context) -> Context:
    """A thread in 32-bit mode as a 64-bit caller sees it: its 32-bit registers zero-extended (`wide`), cs
    0x23, and what wow64cpu keeps in r12-r14 (the 64-bit TEB, the CPU area, the 64-bit stack pointer)."""
    wide.regs.update(r12=t.teb64, r13=t.wow64_cpu_area, r14=native_registers(t).regs["rsp"])
    wide.regs.update(SELECTORS32)
    return wide


def save_cpu_area(t, ctx: Context | None = None) -> None:
    """Store the thread's 32-bit registers (`ctx`, else its saved context) as the i386 CONTEXT of its CPU area:
    every group (WOW64_CONTEXT_ALL), the WoW64 selectors, its debug registers."""
    from winhatch.kernel.ke.context import context_to_guest
    if ctx is None:
        ctx = t.context
    buf = bytearray(context_to_guest(ctx))
    struct.pack_into("<I", buf, CONTEXT_X86.offset("x86", "ContextFlags"), WOW64_CONTEXT_ALL)
    for name, sel in (("SegCs", 0x23), ("SegSs", 0x2B), ("SegDs", 0x2B), ("SegEs", 0x2B), ("SegFs", 0x53),
                      ("SegGs", 0x2B)):
        struct.pack_into("<I", buf, CONTEXT_X86.offset("x86", name), sel)
    for name, v in (getattr(t, "debug_registers", None) or {}).items():
        struct.pack_into("<I", buf, CONTEXT_X86.offset("x86", name), v & 0xFFFFFFFF)
    t.process.aspace.write(t.wow64_cpu_area + 4, bytes(buf))
