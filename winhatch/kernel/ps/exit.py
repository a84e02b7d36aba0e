"""Thread and process exit: PspExitThread / PspExitProcess.

Exit paths (ExitThread, ExitProcess, return from the entry point, an unhandled exception, TerminateThread,
TerminateProcess) end here: the exit status is set, the thread's wait is cancelled and the mutexes it owns are
abandoned, thread and process notify routines run, the handle table is closed, and the thread or process
object is signalled (its waiters are released). The address space is kept until the process object goes
away, so reports can show the memory map at exit. DLL detach notifications run before this, in user mode
(LdrShutdownThread / LdrShutdownProcess).
"""
from __future__ import annotations

from winhatch.kernel import events as ev
from winhatch.kernel.io.completion import cancel_thread_requests


def PspExitThread(machine, thread, status: int) -> None:
    if thread.terminated:
        return
    proc = thread.process
    if proc.debug_port is not None and any(not t.terminated for t in proc.threads if t is not thread):
        from winhatch.kernel.ps import dbgk
        dbgk.on_thread_exit(machine, thread, status, False)       # DbgkExitThread
    _end_thread(machine, thread, status)
    machine.events.emit(ev.THREAD, "thread_exit", proc.pid, thread.tid, exit_status=thread.exit_status)
    if all(t.terminated for t in proc.threads) and not proc.exited:
        # the last thread's exit status becomes the process's
        PspExitProcess(machine, proc, thread.exit_status)
    machine.dispatcher.signal_waiters()


def _end_thread(machine, thread, status: int) -> None:
    proc = thread.process
    thread.terminated = True
    thread.exit_status = status & 0xFFFFFFFF
    thread.exit_time = machine.clock.system_time()
    cancel_thread_requests(thread)
    machine.dispatcher.thread_gone(thread)
    machine.notify.thread_event(proc.pid, thread.tid, False)
    if proc.subsystem.get("running_thread") is thread:
        proc.subsystem["running_thread"] = None
    if thread.refcount > 0:
        thread.dereference()   # the reference PspCreateThread took for the running thread


def PspExitProcess(machine, proc, status: int) -> None:
    if proc.exited:
        return
    proc.exit_status = status & 0xFFFFFFFF
    if proc.debug_port is not None:
        from winhatch.kernel.ps import dbgk
        cur = machine.dispatcher.current
        last = cur if cur is not None and cur.process is proc else next(iter(proc.threads), None)
        if last is not None:
            dbgk.on_thread_exit(machine, last, status, True)       # DbgkExitProcess
        port = dbgk.port_of(proc)
        if port is not None:        # the events it waits on go with it, but EXIT_PROCESS stays to be reported
            for e in [e for e in port.events if e.process is proc and not e.reported
                      and e.code != dbgk.EXIT_PROCESS]:
                port.events.remove(e)
                if e.reply is not None and e.reply.status is None:
                    e.reply.status = dbgk.DBG_CONTINUE
    proc.exited = True
    for t in proc.threads:
        if not t.terminated:
            _end_thread(machine, t, proc.exit_status)
            machine.events.emit(ev.THREAD, "thread_exit", proc.pid, t.tid, exit_status=t.exit_status,
                                terminated_by="process exit")
    for t in proc.threads:
        cancel_thread_requests(t, process_exit=True)   # thread-agnostic I/O ends with its process
    proc.exit_time = machine.clock.system_time()
    machine.notify.process_exit(proc)
    job = getattr(proc, "job", None)
    if job is not None:
        job.process_exited(proc)
    _write_mapped_files(proc)
    aspace = getattr(proc, "aspace", None)
    if aspace is not None and aspace.commit_pool is not None:
        aspace.commit_pool.release(aspace)   # its memory no longer counts against the machine's limit
    closed = 0
    for h, _entry in list(proc.handles.entries()):
        try:
            proc.handles.close(h)
            closed += 1
        except Exception:  # a protected handle: closed anyway at rundown
            pass
    machine.events.emit(ev.PROCESS, "process_exit", proc.pid, 0, exit_status=proc.exit_status,
                        handles_closed=closed, parent_pid=proc.inherited_from_pid)
    machine.dispatcher.signal_waiters()


def _write_mapped_files(proc) -> None:
    """The modified pages of the file-backed views the process still has reach their files (the views stay, like
    the rest of the address space, for the reports)."""
    aspace = getattr(proc, "aspace", None)
    if aspace is None:
        return
    for a in aspace.allocations():
        if a.section is not None and not a.section.is_image:
            a.section.flush()
