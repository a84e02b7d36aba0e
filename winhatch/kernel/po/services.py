"""Power-manager system services: NtPowerInformation, called by the system-service dispatcher
(winhatch.kernel.ke.services).

The emulated machine is a desktop on mains power with no battery. The information levels served are those a
user-mode program queries for that state; any other level stops the guest loudly."""
from __future__ import annotations

import struct

from winhatch.kernel.ke.services import kernel_service, unsupported, user_write

SystemBatteryState = 5
STATUS_BUFFER_TOO_SMALL = 0xC0000023
STATUS_INVALID_PARAMETER = 0xC000000D

#: SYSTEM_BATTERY_STATE: AcOnLine, BatteryPresent, Charging, Discharging, Spare1[3], Tag, then MaxCapacity,
#: RemainingCapacity, Rate, EstimatedTime, DefaultAlert1, DefaultAlert2 (ULONG each) — 0x20 bytes
BATTERY_STATE_SIZE = 0x20


def battery_state() -> bytes:
    """On mains power, no battery: capacities 0, no rate and no estimated time (0, as Windows reports it
    without a battery)."""
    return struct.pack("<4B3BB6I", 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)


ProcessorInformation = 11
#: PROCESSOR_POWER_INFORMATION: Number, MaxMhz, CurrentMhz, MhzLimit, MaxIdleState, CurrentIdleState
PROCESSOR_POWER_SIZE = 24


def processor_power(machine) -> bytes:
    """One PROCESSOR_POWER_INFORMATION per processor: the profile's clock as maximum, current and limit (no
    throttling), C-states C0..C1 (the processor running: current idle state 0)."""
    mhz = int(machine.profile.cpu_mhz)
    return b"".join(struct.pack("<6I", i, mhz, mhz, mhz, 1, 0) for i in range(machine.profile.cpu_count))


@kernel_service("NtPowerInformation")
def NtPowerInformation(machine, thread, InformationLevel, InputBuffer, InputBufferLength, OutputBuffer,
                       OutputBufferLength):
    level = InformationLevel & 0xFFFFFFFF
    if level == SystemBatteryState:
        if not OutputBuffer:
            return STATUS_INVALID_PARAMETER
        if (OutputBufferLength & 0xFFFFFFFF) < BATTERY_STATE_SIZE:
            return STATUS_BUFFER_TOO_SMALL
        user_write(thread.process, OutputBuffer, battery_state())
        return 0
    if level == ProcessorInformation:
        # Windows 7 and later: the whole array or nothing (too small: STATUS_BUFFER_TOO_SMALL, the buffer
        # untouched); no buffer: STATUS_INVALID_PARAMETER
        data = processor_power(machine)
        if (OutputBufferLength & 0xFFFFFFFF) < len(data):
            return STATUS_BUFFER_TOO_SMALL
        if not OutputBuffer:
            return STATUS_INVALID_PARAMETER
        user_write(thread.process, OutputBuffer, data)
        return 0
    unsupported(thread, "NtPowerInformation", f"information level {level}")
