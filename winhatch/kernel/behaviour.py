"""Behaviour notes: events the kernel emits where an act an analyst looks for happens, so the report's behaviour
summary (winhatch.report.behaviour) does not have to guess from handles after the fact.

- ``cross_process``: a thread acts on another process's memory or threads — NtWriteVirtualMemory,
  NtAllocateVirtualMemory, NtProtectVirtualMemory, NtMapViewOfSection into it; NtCreateThreadEx in it;
  NtQueueApcThread and NtSetContextThread on one of its threads (the injection primitives). The source and
  target pids, the service, the address and size.
- ``executable_memory``: memory that is not an image becomes executable — allocated or re-protected with a
  PAGE_EXECUTE* protection (where unpackers and shellcode put generated code).
- ``executed_written``: a page of such memory runs after being written (decoded shellcode, an unpacked
  stage, code a loader copied there) — each write-then-run round of a page once (AddressSpace's
  executed-after-written tracking, kernel/mm/aspace.py ExecTrack).

Both are category ``behaviour`` events (kept in the log by default: they are rare).
"""
from __future__ import annotations

from winhatch.kernel import events as ev

EXECUTABLE = 0x10 | 0x20 | 0x40 | 0x80


def cross_process(machine, thread, target, service: str, **data) -> None:
    """Note `service` acting on process `target` when it is not the caller's own process."""
    if target is None or target is thread.process:
        return
    machine.events.emit(ev.BEHAVIOUR, "cross_process", thread.process.pid, thread.tid, service=service,
                        source_pid=thread.process.pid, target_pid=getattr(target, "pid", None),
                        target_image=getattr(target, "image_name", None), **data)


def executed_written(machine, thread, rec: dict) -> None:
    """Note a page of non-image memory that ran after being written (``rec``: an AddressSpace.executed_written
    record; ``thread`` is the one that ran it)."""
    proc = thread.process
    machine.events.emit(ev.BEHAVIOUR, "executed_written", proc.pid, thread.tid, base=rec["base"],
                        size=rec["size"], page=rec["page"], address=rec["address"], round=rec["round"],
                        protect=rec["protect"], untracked=bool(rec.get("untracked")))


def executable_memory(machine, thread, target, service: str, base: int, size: int, protect: int) -> None:
    """Note non-image memory made executable (allocated or protected with PAGE_EXECUTE*)."""
    if not protect & EXECUTABLE or target is None:
        return
    try:
        mbi = target.aspace.query(base)
    except Exception:  # noqa: BLE001 — the note is best effort; the service has already succeeded
        return
    if mbi.Type == 0x1000000:          # MEM_IMAGE: the loader's and the program's own sections
        return
    machine.events.emit(ev.BEHAVIOUR, "executable_memory", thread.process.pid, thread.tid, service=service,
                        target_pid=target.pid, base=base, size=size, protect=protect)
