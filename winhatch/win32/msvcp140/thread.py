"""msvcp140.dll: the clocks and condition variables of the C++ threads library, and std::random_device.

_Query_perf_counter / _Query_perf_frequency are QueryPerformanceCounter/Frequency (std::chrono::steady_clock);
_Xtime_get_ticks is the system time in 100-ns ticks since 1970-01-01 (std::chrono::system_clock, the
FILETIME less the Unix epoch); std::_Random_device is rand_s (the system's random number generator).

_Cnd_* (std::condition_variable, std::condition_variable_any's core): a condition variable over a _Mtx_t
(msvcp140.py: _Mtx_*). struct _Cnd_internal_imp_t is storage of 72 bytes (x86 40) holding the runtime's
CONDITION_VARIABLE; waiters are kept by the condition variable's address as kernel32's CONDITION_VARIABLEs
are (k32_sync), and a wait is a real guest wait: the mutex is released (owner -1, count 0, waiters woken),
the thread blocks until _Cnd_signal/_Cnd_broadcast (or the time-out of _Cnd_timedwait, an absolute UTC
_timespec64), then takes the mutex back (waiting for it if another thread holds it) with its count restored.
_Thrd_result: _Success 0, _Timedout 2.
"""
from __future__ import annotations

import struct

from winhatch.win32 import api as api_mod
from winhatch.win32.api import api
from winhatch.win32.msvcp140 import msvcp140 as P

DLL = "msvcp140.dll"
THRD_SUCCESS, THRD_TIMEDOUT = 0, 2
FILETIME_UNIX_EPOCH = 116444736000000000
INFINITE = 0xFFFFFFFF


def _cnd_size(c) -> int:
    return 72 if c.ptr_size == 8 else 40


# ------------------------------------------------------------------------------------------ clocks, random
@api(DLL, "__int64 __cdecl _Query_perf_counter(void)")
def _Query_perf_counter(c):
    return c.machine.clock.now()


@api(DLL, "__int64 __cdecl _Query_perf_frequency(void)")
def _Query_perf_frequency(c):
    from winhatch.win32.kernel32.time import QPC_FREQUENCY
    return QPC_FREQUENCY


@api(DLL, "__int64 __cdecl _Xtime_get_ticks(void)")
def _Xtime_get_ticks(c):
    return c.machine.clock.system_time() - FILETIME_UNIX_EPOCH


def _random_device(c):
    from winhatch.win32.kernel32.sysinfo import _prng_bytes
    return struct.unpack("<I", _prng_bytes(c, 4))[0]


api(DLL, "unsigned int __cdecl std_Random_device(void)")(_random_device)
api_mod._REGISTRY[-1].name = "?_Random_device@std@@YAIXZ"


@api(DLL, "int __cdecl _Thrd_yield(void)")
def _Thrd_yield(c):
    """std::this_thread::yield(): end the time slice (SwitchToThread)."""
    c.machine.dispatcher.end_slice()
    return 0


# ------------------------------------------------------------------------------------------ condition variables
@api(DLL, "int __cdecl _Cnd_init_in_situ(void *cnd)")
def _Cnd_init_in_situ(c, cnd):
    from winhatch.win32.kernel32.sync import _locks
    c.write(cnd, bytes(_cnd_size(c)))
    _locks(c).pop(("cv", cnd), None)
    return THRD_SUCCESS


@api(DLL, "void __cdecl _Cnd_destroy_in_situ(void *cnd)")
def _Cnd_destroy_in_situ(c, cnd):
    from winhatch.win32.kernel32.sync import _locks
    _locks(c).pop(("cv", cnd), None)


@api(DLL, "int __cdecl _Cnd_init(void **pcnd)")
def _Cnd_init(c, pcnd):
    """Allocate and construct a condition variable (the runtime's own heap block)."""
    from winhatch.win32.msvcrt import runtime as R
    cnd = R.alloc(c, _cnd_size(c))
    _Cnd_init_in_situ(c, cnd)
    c.write_ptr(pcnd, cnd)
    return THRD_SUCCESS


@api(DLL, "void __cdecl _Cnd_destroy(void *cnd)")
def _Cnd_destroy(c, cnd):
    from winhatch.win32.msvcrt import runtime as R
    if cnd:
        _Cnd_destroy_in_situ(c, cnd)
        R.heap(c).free_block(cnd)


@api(DLL, "int __cdecl _Cnd_signal(void *cnd)")
def _Cnd_signal(c, cnd):
    from winhatch.win32.kernel32.sync import WakeConditionVariable
    WakeConditionVariable(c, cnd)
    return THRD_SUCCESS


@api(DLL, "int __cdecl _Cnd_broadcast(void *cnd)")
def _Cnd_broadcast(c, cnd):
    from winhatch.win32.kernel32.sync import WakeAllConditionVariable
    WakeAllConditionVariable(c, cnd)
    return THRD_SUCCESS


def _wait(c, cnd, mtx, ms: int, reason: str) -> int:
    from winhatch.win32.kernel32.sync import _sleep_cv
    tid_at, count_at = P._mtx_at(c, mtx)

    def release():
        saved = c.u32(count_at)
        c.write_u32(tid_at, 0xFFFFFFFF)
        c.write_u32(count_at, 0)
        c.machine.dispatcher.signal_waiters()
        return saved

    def reacquire(saved):
        if P._mtx_try(c, mtx) == P.THRD_SUCCESS:
            return None
        return P._mtx_lock_object(c, mtx)

    def restore(saved):
        c.write_u32(count_at, max(saved, 1))

    ok = _sleep_cv(c, cnd, ms, reason, release, reacquire, restore)
    return THRD_SUCCESS if ok else THRD_TIMEDOUT


@api(DLL, "int __cdecl _Cnd_wait(void *cnd, void *mtx)")
def _Cnd_wait(c, cnd, mtx):
    return _wait(c, cnd, mtx, INFINITE, "_Cnd_wait")


@api(DLL, "int __cdecl _Cnd_timedwait(void *cnd, void *mtx, const void *target)")
def _Cnd_timedwait(c, cnd, mtx, target):
    """Wait until `target` (a _timespec64: seconds and nanoseconds since 1970, UTC) at the latest."""
    sec, nsec = struct.unpack("<qi", c.read(target, 12))
    now_100ns = c.machine.clock.system_time() - FILETIME_UNIX_EPOCH
    left = (sec * 10_000_000 + nsec // 100) - now_100ns
    ms = max(0, min(-(-left // 10_000), INFINITE - 1))
    return _wait(c, cnd, mtx, ms, "_Cnd_timedwait")



# ------------------------------------------------------------------------------------------ std::thread's runtime part
# struct _Thrd_t { void *_Hnd; _Thrd_id_t _Id; } is passed by value: on x64 (16 bytes) as a pointer to a copy,
# on x86 as its two 32-bit fields on the stack. std::thread's constructor starts the thread with _beginthreadex
# (header code); join and detach come here. _Thrd_result: _Success 0, _Error 4.
THRD_ERROR = 4


def _thrd_handle(c, a, b) -> int:
    return c.ptr(a) if c.ptr_size == 8 else a


@api(DLL, "int __cdecl _Thrd_join(void *thr_or_hnd, void *res_or_id, void *res_x86)", calls_guest=True)
def _Thrd_join(c, a, b, x86_res):
    """Wait for the thread (WaitForSingleObject), store its exit code in *res, close its handle."""
    from winhatch.win32.kernel32.files import CloseHandle
    from winhatch.win32.kernel32.sync import WaitForSingleObject
    from winhatch.win32.kernel32.threads import GetExitCodeThread
    h = _thrd_handle(c, a, b)
    res = b if c.ptr_size == 8 else x86_res
    if WaitForSingleObject(c, h, INFINITE) != 0:
        return THRD_ERROR
    if res:
        tmp = c.proc.subsystem.setdefault("msvcp140_thrd_tmp", {})
        buf = tmp.get(c.thread.tid)
        if buf is None:
            from winhatch.win32.msvcrt import runtime as R
            buf = tmp[c.thread.tid] = R.alloc(c, 4)
        if not GetExitCodeThread(c, h, buf):
            return THRD_ERROR
        c.write_u32(res, c.u32(buf))
    return THRD_SUCCESS if CloseHandle(c, h) else THRD_ERROR


@api(DLL, "int __cdecl _Thrd_detach(void *thr_or_hnd, void *id_x86)")
def _Thrd_detach(c, a, b):
    """Let the thread run on its own: close its handle."""
    from winhatch.win32.kernel32.files import CloseHandle
    return THRD_SUCCESS if CloseHandle(c, _thrd_handle(c, a, b)) else THRD_ERROR


@api(DLL, "unsigned int __cdecl _Thrd_id(void)")
def _Thrd_id(c):
    return c.thread.tid


@api(DLL, "unsigned int __cdecl _Thrd_hardware_concurrency(void)")
def _Thrd_hardware_concurrency(c):
    """The number of logical processors (GetSystemInfo's dwNumberOfProcessors)."""
    return c.machine.profile.cpu_count


# ------------------------------------------------------------------------------------------ notify_all_at_thread_exit
# std::notify_all_at_thread_exit(cv, lock) registers (cv, its mutex, which stays locked, a result flag) for the
# calling thread; std::thread's start routine calls _Cnd_do_broadcast_at_thread_exit when the thread's function
# returns: for each registration of this thread the flag is set, the mutex unlocked and the cv broadcast.
def _at_exit(c) -> list:
    return c.proc.subsystem.setdefault("msvcp140_cnd_at_exit", [])


@api(DLL, "void __cdecl _Cnd_register_at_thread_exit(void *cnd, void *mtx, int *res)")
def _Cnd_register_at_thread_exit(c, cnd, mtx, res):
    _at_exit(c).append((c.thread.tid, cnd, mtx, res))


@api(DLL, "void __cdecl _Cnd_unregister_at_thread_exit(void *mtx)")
def _Cnd_unregister_at_thread_exit(c, mtx):
    lst = _at_exit(c)
    lst[:] = [e for e in lst if e[2] != mtx]


@api(DLL, "void __cdecl _Cnd_do_broadcast_at_thread_exit(void)")
def _Cnd_do_broadcast_at_thread_exit(c):
    lst = _at_exit(c)
    mine = [e for e in lst if e[0] == c.thread.tid]
    lst[:] = [e for e in lst if e[0] != c.thread.tid]
    for _tid, cnd, mtx, res in mine:
        if res:
            c.write_u32(res, 1)
        P._mtx_unlock(c, mtx)
        _Cnd_broadcast(c, cnd)
