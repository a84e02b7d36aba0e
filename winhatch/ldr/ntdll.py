"""ntdll's entry points that the kernel and the loader reach through traps, and thread start and exit.

- LdrInitializeThunk: the first user-mode code of every thread (Stage 7) — runs the loader (process
  initialisation for the first thread, DLL_THREAD_ATTACH for the others) under the loader lock, then NtContinue.
- RtlUserThreadStart: calls the thread's start address; when it returns the thread exits with its value.
- WhThreadReturn (internal, not exported): where a start routine returns to → RtlExitUserThread.
- WhFiberReturn (internal): where a fiber routine returns to → RtlExitUserThread(1).
- WhCallReturn (internal): where a guest function called from Python returns to.

Thread exit (RtlExitUserThread → LdrShutdownThread): the thread's fiber-local storage callbacks run first, then
DLL_THREAD_DETACH in reverse initialisation order, the program's own TLS callbacks last (Windows and Wine keep
the program out of the initialisation-order list and call its TLS callbacks after the DLLs). A process exit
(RtlExitUserProcess) first ends every other thread (NtTerminateProcess(NULL): no detach for them), then runs
DLL_PROCESS_DETACH in the exiting thread.
"""
from __future__ import annotations

from winhatch.kernel import events as ev
from winhatch.kernel.ke.dispatcher import ProcessExit, ThreadExit
from winhatch.kernel.ke.sync import KeyedLock
from winhatch.kernel.ke.wait import WaitBlock, WouldBlock
from winhatch.ldr import loader


# ------------------------------------------------------------------------------------------ the loader lock
class LoaderLock:
    """PEB.LoaderLock as the scheduler sees it: held by one thread (recursively) during loader work."""

    def __init__(self, proc):
        self.proc = proc
        self.owner = None
        self.count = 0
        self.waitable = KeyedLock(self._what, lambda t: self.owner is None or self.owner is t)

    def _what(self) -> str:
        who = f"held by thread {self.owner.tid}" if self.owner is not None else "free"
        return f"the loader lock of {self.proc.image_name} ({who})"

    def enter(self, thread, reason: str) -> None:
        if self.owner is not None and self.owner is not thread and not self.owner.terminated:
            raise WouldBlock(WaitBlock([self.waitable], reason=reason))
        if self.owner is not thread:
            self.owner, self.count = thread, 0
        self.count += 1

    def leave(self, machine, thread) -> None:
        if self.owner is thread:
            self.count -= 1
            if self.count <= 0:
                self.owner, self.count = None, 0
                machine.dispatcher.signal_waiters()


def loader_lock(proc) -> LoaderLock:
    lk = proc.subsystem.get("loader_lock_py")
    if lk is None:
        lk = proc.subsystem["loader_lock_py"] = LoaderLock(proc)
    return lk


def LdrInitializeThunk(machine, thread) -> None:
    lock = loader_lock(thread.process)
    lock.enter(thread, "LdrInitializeThunk (loader lock)")
    try:
        from winhatch.ldr import fls
        fls.thread_start(thread)      # a new thread of a process using FLS gets its (empty) FLS data block
        loader.LdrInitializeThunk(machine, thread)
    finally:
        lock.leave(machine, thread)


# ------------------------------------------------------------------------------------------ start
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


# ------------------------------------------------------------------------------------------ exit
def run_fls_callbacks(machine, thread) -> None:
    """RtlProcessFlsData(TEB.FlsData, 3): the callbacks of this thread's (or its current fiber's) non-NULL
    fiber-local values, then the block is freed (winhatch.ldr.fls)."""
    from winhatch.ldr import fls
    fls.thread_exit(machine, thread)


def LdrShutdownThread(machine, thread) -> None:
    """The thread's FLS values' callbacks (its block leaves the list but stays), DLL_THREAD_DETACH under the
    loader lock, then the FLS block is freed."""
    from winhatch.ldr import fls
    st = thread.process.subsystem.get("ldr")
    if st is None:
        run_fls_callbacks(machine, thread)
        return
    if not getattr(thread, "fls_exit_begun", False):
        # before the loader lock (an FLS callback that never returns must not keep ExitProcess from taking
        # it: Wine's kernel32/tests/fiber.c test_fls_exit_deadlock); once, as the lock may make this re-run
        thread.fls_exit_begun = True
        fls.thread_exit_begin(machine, thread)
    lock = loader_lock(thread.process)
    lock.enter(thread, "LdrShutdownThread (loader lock)")
    try:
        loader.LdrpCallThreadDetachRoutines(machine, thread)
    finally:
        lock.leave(machine, thread)
    fls.thread_exit_end(machine, thread)


def RtlExitUserThread(machine, thread, status: int) -> None:
    """The thread ends; if it is the process's last thread, the process exits (RtlExitUserProcess)."""
    proc = thread.process
    others = [t for t in proc.threads if t is not thread and not t.terminated]
    if not others:
        RtlExitUserProcess(machine, thread, status)
    LdrShutdownThread(machine, thread)
    raise ThreadExit(status)


def RtlExitUserProcess(machine, thread, status: int) -> None:
    """ExitProcess: NtTerminateProcess(NULL) ends the other threads, DLL_PROCESS_DETACH runs here, then the
    process ends."""
    proc = thread.process
    proc.exiting = True      # NtTerminateProcess(NULL): no thread may start in the process any more
    proc.subsystem["exit_code"] = status & 0xFFFFFFFF
    for t in list(proc.threads):
        if t is not thread and not t.terminated:
            machine.terminate_thread(t, status)
    from winhatch.ldr import fls
    fls.process_exit(machine, thread)
    loader.LdrShutdownProcess(machine, thread)
    raise ProcessExit(status)


def register(machine) -> None:
    """Register ntdll's loader entry points with the machine's trap table."""
    t = machine.traps
    t.register("ntdll.dll", "LdrInitializeThunk", lambda th, va: LdrInitializeThunk(machine, th), calls_guest=True)
    t.register("ntdll.dll", "RtlUserThreadStart", lambda th, va: RtlUserThreadStart(machine, th), calls_guest=True)

    def thread_return(th, va):
        # a C runtime _beginthread routine returns void: its thread ends with _endthread's code 0
        code = 0 if getattr(th, "crt_endthread", False) else th.process.cpu.retval & 0xFFFFFFFF
        RtlExitUserThread(machine, th, code)

    t.register("ntdll.dll", "WhThreadReturn", thread_return, calls_guest=True)
    # a fiber routine (void) returned: its thread ends with code 1 (kernel32's fiber start does that)
    t.register("ntdll.dll", "WhFiberReturn", lambda th, va: RtlExitUserThread(machine, th, 1), calls_guest=True)
    t.register("ntdll.dll", "WhCallReturn", lambda th, va: None, calls_guest=True)

