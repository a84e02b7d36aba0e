"""ntdll's RtlSetIoCompletionCallback — kernel32's BindIoCompletionCallback: a file opened for overlapped I/O is
associated (NtSetInformationFile, FileCompletionInformation) with the process's thread-pool I/O completion port,
the callback as the completion key; a pool I/O thread (ntdll's internal RtlpIoCompletionWorker, started once
through NtCreateThreadEx) takes each packet with NtRemoveIoCompletion and calls
Function(RtlNtStatusToDosError(Status), Information, lpOverlapped)."""
from __future__ import annotations

import struct

from winhatch.ntstatus import nt_to_win32
from winhatch.win32 import api as api_mod
from winhatch.win32.api import api, internal_function

NT = "ntdll.dll"
WORKER_FN = "RtlpIoCompletionWorker"
internal_function(NT, WORKER_FN)
FileCompletionInformation = 30
STATUS_INVALID_PARAMETER = 0xC000000D
IO_COMPLETION_ALL_ACCESS = 0x1F0003
THREAD_ALL_ACCESS = 0x1FFFFF


def _port(c) -> tuple[int, int]:
    """(the pool's completion port, NTSTATUS): created with its I/O thread on first use."""
    st = c.proc.subsystem.setdefault("tp_io_port", {})
    if st.get("port"):
        return st["port"], 0
    ps = c.ptr_size
    out = c.stack_alloc(ps)
    status = c.nt("NtCreateIoCompletion", out, IO_COMPLETION_ALL_ACCESS, 0, 0)
    if status & 0x80000000:
        return 0, status
    port = c.ptr(out)
    try:
        start = c.machine.ntdll_export(c.proc, WORKER_FN)      # ntdll's internal function (a trap stub)
    except KeyError:
        from winhatch.win32.msvcrt.runtime import not_implemented
        not_implemented(c, f"ntdll's {WORKER_FN} stub is missing")
    th = c.stack_alloc(ps)
    status = c.nt("NtCreateThreadEx", th, THREAD_ALL_ACCESS, 0, (1 << (8 * ps)) - 1, start, port, 0, 0, 0, 0, 0)
    if status & 0x80000000:
        c.nt("NtClose", port)
        return 0, status
    c.nt("NtClose", c.ptr(th))
    st["port"] = port
    return port, 0


@api(NT, "NTSTATUS NTAPI RtlSetIoCompletionCallback(HANDLE FileHandle, PVOID Function, ULONG Flags)")
def RtlSetIoCompletionCallback(c, h, fn, flags):
    """A NULL Function: STATUS_INVALID_PARAMETER; a file not opened for overlapped I/O or already bound: the
    association's STATUS_INVALID_PARAMETER; a bad handle: STATUS_INVALID_HANDLE."""
    if not fn:
        return STATUS_INVALID_PARAMETER
    port, status = _port(c)
    if status:
        return status
    ps = c.ptr_size
    info = c.stack_alloc(2 * ps, 8)
    c.write_ptr(info, port)
    c.write_ptr(info + ps, fn)
    iosb = c.stack_alloc(2 * ps, 8)
    return c.nt("NtSetInformationFile", h, iosb, info, 2 * ps, FileCompletionInformation)


def _worker(c, port):
    """The pool's I/O thread: each pass waits for a packet (a blocked wait re-runs this handler, so a pass starts
    with the wait) and calls the packet's callback."""
    ps = c.ptr_size
    for _ in range(1 << 30):
        key, apc, iosb = c.stack_alloc(ps), c.stack_alloc(ps), c.stack_alloc(2 * ps, 8)
        st = c.nt("NtRemoveIoCompletion", port, key, apc, iosb, 0)
        if st & 0x80000000:
            return 0                          # the port is gone
        fn, overlapped = c.ptr(key), c.ptr(apc)
        status = struct.unpack("<I", c.read(iosb, 4))[0]
        info = c.ptr(iosb + ps)
        c._scratch = None                      # the callback may use this stack: the next pass starts afresh
        c.machine.dispatcher.call_guest(c.thread, fn, [nt_to_win32(status), info & 0xFFFFFFFF, overlapped])
    return 0


api(NT, f"DWORD WINAPI {WORKER_FN}(LPVOID lpParameter)", calls_guest=True)(_worker)
api_mod._REGISTRY[-1].name = WORKER_FN
