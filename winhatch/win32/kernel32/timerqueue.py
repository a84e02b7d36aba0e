"""kernel32 timer queues and thread-pool I/O callbacks: CreateTimerQueue, CreateTimerQueueTimer, ChangeTimerQueueTimer, DeleteTimerQueueTimer,
DeleteTimerQueue(Ex) — over ntdll's RtlCreateTimerQueue, RtlCreateTimer, RtlUpdateTimer, RtlDeleteTimer and
RtlDeleteTimerQueueEx (win32/ntdll/timerqueue.py), their NTSTATUS mapped to the last error as kernelbase does
(STATUS_PENDING: ERROR_IO_PENDING)."""
from __future__ import annotations

from winhatch.win32.api import api
from winhatch.win32.ntdll import timerqueue as T

from winhatch.win32.kernel32.common import K32

ERROR_INVALID_HANDLE, ERROR_INVALID_PARAMETER = 6, 87


def _bool(c, st: int) -> int:
    if st:
        c.set_last_nt_error(st)
        return 0
    return 1


def _errors(st: int) -> int:
    """kernelbase's view of the first/second-parameter statuses: the queue or timer handle is invalid."""
    return {T.STATUS_INVALID_PARAMETER_1: T.STATUS_INVALID_HANDLE,
            T.STATUS_INVALID_PARAMETER_2: T.STATUS_INVALID_PARAMETER}.get(st, st)


@api(K32, "HANDLE WINAPI CreateTimerQueue(void)")
def CreateTimerQueue(c):
    h = T.create_queue(c)
    if not h:
        c.set_last_nt_error(T.STATUS_NO_MEMORY)
    return h


@api(K32, "BOOL WINAPI CreateTimerQueueTimer(PHANDLE phNewTimer, HANDLE TimerQueue, WAITORTIMERCALLBACK Callback, "
          "PVOID Parameter, DWORD DueTime, DWORD Period, ULONG Flags)")
def CreateTimerQueueTimer(c, ph, qh, cb, param, due_ms, period_ms, flags):
    return _bool(c, T.create_timer(c, qh, ph, cb, param, due_ms, period_ms, flags))


@api(K32, "BOOL WINAPI ChangeTimerQueueTimer(HANDLE TimerQueue, HANDLE Timer, ULONG DueTime, ULONG Period)")
def ChangeTimerQueueTimer(c, qh, th, due_ms, period_ms):
    return _bool(c, T.update_timer(c, qh, th, due_ms, period_ms))


@api(K32, "BOOL WINAPI DeleteTimerQueueTimer(HANDLE TimerQueue, HANDLE Timer, HANDLE CompletionEvent)")
def DeleteTimerQueueTimer(c, qh, th, ev):
    if not qh and not T._queues(c).get(0):
        c.set_last_error(ERROR_INVALID_HANDLE)
        return 0
    return _bool(c, _errors(T.delete_timer(c, qh, th, ev)))


@api(K32, "BOOL WINAPI DeleteTimerQueueEx(HANDLE TimerQueue, HANDLE CompletionEvent)")
def DeleteTimerQueueEx(c, qh, ev):
    return _bool(c, T.delete_queue(c, qh, ev))


@api(K32, "BOOL WINAPI DeleteTimerQueue(HANDLE TimerQueue)")
def DeleteTimerQueue(c, qh):
    return DeleteTimerQueueEx(c, qh, 0)


@api(K32, "BOOL WINAPI BindIoCompletionCallback(HANDLE FileHandle, LPOVERLAPPED_COMPLETION_ROUTINE Function, "
          "ULONG Flags)")
def BindIoCompletionCallback(c, h, fn, flags):
    """RtlSetIoCompletionCallback (win32/ntdll/iocallback.py): the thread pool calls Function when an overlapped
    operation on the file completes."""
    from winhatch.win32.ntdll.iocallback import RtlSetIoCompletionCallback
    return _bool(c, RtlSetIoCompletionCallback(c, h, fn, flags))
