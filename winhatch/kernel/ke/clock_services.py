"""The kernel's time services (NtQuerySystemTime, NtQueryPerformanceCounter), called by the system-service
dispatcher (winhatch.kernel.ke.services). One emulated clock serves them, kernel32's time functions and
KUSER_SHARED_DATA: the performance counter runs at 10 MHz (100 ns units of interrupt time since boot)."""
from __future__ import annotations

import struct

from winhatch.kernel.ke.services import kernel_service, user_read, user_write

QPC_FREQUENCY = 10_000_000


@kernel_service("NtQuerySystemTime")
def NtQuerySystemTime(machine, thread, SystemTime):
    machine.sync_kuser_times()      # KUSER_SHARED_DATA.SystemTime is never behind what this returns
    user_write(thread.process, SystemTime, struct.pack("<Q", machine.clock.system_time()))
    return 0


@kernel_service("NtQueryPerformanceCounter")
def NtQueryPerformanceCounter(machine, thread, PerformanceCounter, PerformanceFrequency):
    proc = thread.process
    user_write(proc, PerformanceCounter, struct.pack("<Q", machine.clock.now()))
    if PerformanceFrequency:
        user_write(proc, PerformanceFrequency, struct.pack("<Q", QPC_FREQUENCY))
    return 0


@kernel_service("NtDelayExecution")
def NtDelayExecution(machine, thread, Alertable, DelayInterval, *, caller_sp=0):
    """KeDelayExecutionThread: a negative interval is relative (100 ns units), a positive one an absolute
    system time. The thread blocks (the system call is re-run when the time is up and finds its result)."""
    from winhatch.kernel.ke import wait as kwait
    key = ("NtDelayExecution", caller_sp)
    done = kwait.take_done(thread, key)
    if done is not None:
        return 0 if done.status == kwait.WAIT_TIMEOUT else done.status
    if Alertable & 0xFF and kwait.pending_apcs(thread):
        return 0xC0   # STATUS_USER_APC: the APCs run on the return to user mode
    (interval,) = struct.unpack("<q", user_read(thread.process, DelayInterval, 8))
    now = machine.clock.now()
    ticks = -interval if interval <= 0 else max(0, interval - machine.clock.system_time())
    if ticks == 0:
        machine.dispatcher.end_slice()   # a zero delay yields the rest of the quantum
        return 0
    raise kwait.WouldBlock(kwait.WaitBlock([], False, now + ticks, "NtDelayExecution", key, bool(Alertable & 0xFF)))


@kernel_service("NtGetCurrentProcessorNumber")
def NtGetCurrentProcessorNumber(machine, thread):
    """The processor the thread runs on (kernel32!GetCurrentProcessorNumber forwards here). winhatch runs one
    guest thread at a time; the scheduler places it on its ideal processor when its affinity allows it, else on
    the lowest processor of its affinity."""
    aff = getattr(thread, "affinity", None) or getattr(thread.process, "affinity", 1) or 1
    ideal = getattr(thread, "ideal_processor", 0)
    if aff >> ideal & 1:
        return ideal
    return (aff & -aff).bit_length() - 1


STATUS_PRIVILEGE_NOT_HELD = 0xC0000061


@kernel_service("NtSetSystemTime")
def NtSetSystemTime(machine, thread, SystemTime, PreviousTime):
    """Setting the clock needs SeSystemtimePrivilege enabled in the caller's token. A standard user's token
    does not hold it (Windows grants it to Administrators and LOCAL SERVICE), so the answer is
    STATUS_PRIVILEGE_NOT_HELD; a token that holds and enables it would move the machine's clock, which winhatch
    does not model (its clock is deterministic): that case stops loudly."""
    from winhatch.kernel.ke.services import unsupported
    from winhatch.kernel.se.token import PRIVILEGES, primary_token
    token = getattr(thread, "impersonation_token", None) or primary_token(thread.process, machine.registry.user_sid)
    if PRIVILEGES["SeSystemtimePrivilege"] not in token.enabled:
        return STATUS_PRIVILEGE_NOT_HELD
    unsupported(thread, "NtSetSystemTime", "moving the machine's clock")
