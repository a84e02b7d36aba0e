"""The kernel's time services (NtQuerySystemTime, NtQueryPerformanceCounter), called by the system-service
dispatcher (winhatch.kernel.ke.services). One emulated clock serves them, kernel32's time functions and
KUSER_SHARED_DATA: the performance counter runs at 10 MHz (100 ns units of interrupt time since boot)."""
from __future__ import annotations

import struct

from winhatch.kernel.ke.services import kernel_service, user_write

QPC_FREQUENCY = 10_000_000


@kernel_service("NtQuerySystemTime")
def NtQuerySystemTime(machine, thread, SystemTime):
    user_write(thread.process, SystemTime, struct.pack("<Q", machine.clock.system_time()))
    return 0


@kernel_service("NtQueryPerformanceCounter")
def NtQueryPerformanceCounter(machine, thread, PerformanceCounter, PerformanceFrequency):
    proc = thread.process
    user_write(proc, PerformanceCounter, struct.pack("<Q", machine.clock.now()))
    if PerformanceFrequency:
        user_write(proc, PerformanceFrequency, struct.pack("<Q", QPC_FREQUENCY))
    return 0
