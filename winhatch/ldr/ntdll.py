"""ntdll's entry points that the kernel and the loader reach through traps.

- LdrInitializeThunk: the first user-mode code of every thread (Stage 7) — runs the loader, then NtContinue.
- RtlUserThreadStart: calls the thread's start address; when it returns the thread exits with its value.
- WhThreadReturn (internal, not exported): where a start routine returns to → RtlExitUserThread.
- WhCallReturn (internal): where a guest function called from Python returns to.
"""
from __future__ import annotations

from winhatch.kernel import events as ev
from winhatch.kernel.ke.dispatcher import ProcessExit, ThreadExit
from winhatch.ldr import loader


def RtlUserThreadStart(machine, thread) -> None:
    proc = thread.process
    cpu = proc.cpu
    if cpu.is64:
        start, param = cpu.reg("rcx"), cpu.reg("rdx")
    else:
        start, param = cpu.reg("eax"), cpu.reg("ebx")
    machine.events.emit(ev.STAGE, "RtlUserThreadStart", proc.pid, thread.tid, start=f"0x{start:x}",
                        where=proc.subsystem["images"].describe(start), parameter=f"0x{param:x}")
    ret = machine.ntdll_export(proc, "WhThreadReturn")
    if cpu.is64:
        sp = (thread.stack.base - 0x100) & ~0xF
        sp -= 0x20  # home space for the callee
        sp -= 8
        cpu.write_u64(sp, ret)
        cpu.set_reg("rcx", param)
    else:
        sp = (thread.stack.base - 0x100) & ~0xF
        sp -= 4
        cpu.write_u32(sp, param)
        sp -= 4
        cpu.write_u32(sp, ret)
    cpu.sp = sp
    cpu.pc = start


def RtlExitUserThread(machine, thread, status: int) -> None:
    """The thread ends; if it is the process's last thread, the process exits (RtlExitUserProcess)."""
    proc = thread.process
    others = [t for t in proc.threads if t is not thread and not t.terminated]
    if not others:
        RtlExitUserProcess(machine, thread, status)
    loader.LdrShutdownThread(machine, thread)
    raise ThreadExit(status)


def RtlExitUserProcess(machine, thread, status: int) -> None:
    loader.LdrShutdownProcess(machine, thread)
    raise ProcessExit(status)


def register(machine) -> None:
    """Register ntdll's loader entry points with the machine's trap table."""
    t = machine.traps
    t.register("ntdll.dll", "LdrInitializeThunk", lambda th, va: loader.LdrInitializeThunk(machine, th),
               calls_guest=True)
    t.register("ntdll.dll", "RtlUserThreadStart", lambda th, va: RtlUserThreadStart(machine, th), calls_guest=True)

    def thread_return(th, va):
        RtlExitUserThread(machine, th, th.process.cpu.retval & 0xFFFFFFFF)

    t.register("ntdll.dll", "WhThreadReturn", thread_return, calls_guest=True)
    t.register("ntdll.dll", "WhCallReturn", lambda th, va: None, calls_guest=True)
