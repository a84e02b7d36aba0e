"""msvcrt / ucrtbase: _beginthread(ex) and _endthread(ex).

_beginthreadex is CreateThread with the C runtime's error conventions (0 and errno on failure); _beginthread
starts a cdecl `void fn(void *)` routine, returns -1 on failure, and its thread ends with exit code 0 (the
runtime's _endthread), whatever the routine left in eax.
"""
from __future__ import annotations

from winhatch.ldr import ntdll
from winhatch.win32.api import api

from winhatch.win32.kernel32.threads import create_thread

CRTS = ("msvcrt.dll", "ucrtbase.dll")
EAGAIN, EINVAL = 11, 22


def _set_errno(c, value: int) -> None:
    from winhatch.win32.msvcrt import runtime
    runtime.set_errno(c, value)


@api(CRTS, "uintptr_t __cdecl _beginthreadex(void *security, unsigned stack_size, void *start_address, "
           "void *arglist, unsigned initflag, unsigned *thrdaddr)")
def _beginthreadex(c, sa, stack, start, arg, flags, ptid):
    if not start:
        _set_errno(c, EINVAL)
        return 0
    h = create_thread(c, c.proc, sa, stack, start, arg, flags, ptid, api_name="_beginthreadex")
    if not h:
        _set_errno(c, EAGAIN)
    return h


@api(CRTS, "uintptr_t __cdecl _beginthread(void *start_address, unsigned stack_size, void *arglist)")
def _beginthread(c, start, stack, arg):
    if not start:
        _set_errno(c, EINVAL)
        return (1 << (8 * c.ptr_size)) - 1
    h = create_thread(c, c.proc, 0, stack, start, arg, 0, 0, api_name="_beginthread")
    if not h:
        _set_errno(c, EAGAIN)
        return (1 << (8 * c.ptr_size)) - 1
    thread = c.proc.handles.lookup(h, "Thread")
    thread.crt_endthread = True  # returning from the routine is _endthread(): exit code 0
    return h


@api(CRTS, "void __cdecl _endthreadex(unsigned retval)", calls_guest=True)
def _endthreadex(c, code):
    ntdll.RtlExitUserThread(c.machine, c.thread, code)


@api(CRTS, "void __cdecl _endthread(void)", calls_guest=True)
def _endthread(c):
    ntdll.RtlExitUserThread(c.machine, c.thread, 0)
