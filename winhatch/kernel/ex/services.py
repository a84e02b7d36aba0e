"""Executive system services: NtQuerySystemInformation, called by the system-service dispatcher
(winhatch.kernel.ke.services).

Only the information classes written here are served; any other class stops the guest loudly (never a
silent success), a class number beyond the last one Windows 10 22H2 defines returns STATUS_INVALID_INFO_CLASS.
"""
from __future__ import annotations

import struct

from winhatch.kernel.ke.services import unsupported, kernel_service, user_write
from winhatch.kernel.ps.peb import NUMBER_OF_PROCESSORS
from winhatch.ntstatus import STATUS_INFO_LENGTH_MISMATCH, STATUS_INVALID_INFO_CLASS

#: the emulated machine's physical memory (a machine fact like its processor count)
PHYSICAL_MEMORY = 8 << 30
PAGE = 0x1000
#: the clock interrupt period in 100 ns units (Windows' default 15.625 ms)
TIMER_RESOLUTION = 156250
#: one past the last SYSTEM_INFORMATION_CLASS of Windows 10 22H2 (SystemPoolLimitInformation = 0xD4 …);
#: classes at or above it are STATUS_INVALID_INFO_CLASS
MAX_SYSTEM_INFO_CLASS = 0xD5
SystemBasicInformation = 0


def _max_user_address(proc) -> int:
    if proc.arch == "x64":
        return 0x7FFFFFFEFFFF
    try:   # a WoW64 process sees 2 GiB, or 4 GiB when its image is large-address aware
        base = proc.image_base
        lfanew = struct.unpack("<I", proc.aspace.read(base + 0x3C, 4))[0]
        chars = struct.unpack("<H", proc.aspace.read(base + lfanew + 0x16, 2))[0]
    except Exception:
        return 0x7FFEFFFF
    return 0xFFFEFFFF if chars & 0x20 else 0x7FFEFFFF


def basic_information(proc) -> bytes:
    """SYSTEM_BASIC_INFORMATION as the caller's architecture lays it out (x64: 0x40 bytes, WoW64: 0x2C)."""
    pages = PHYSICAL_MEMORY // PAGE
    head = struct.pack("<7I", 0, TIMER_RESOLUTION, PAGE, pages, 1, pages, 0x10000)
    mask = (1 << NUMBER_OF_PROCESSORS) - 1
    if proc.arch == "x64":
        return head + struct.pack("<4xQQQB7x", 0x10000, _max_user_address(proc), mask, NUMBER_OF_PROCESSORS)
    return head + struct.pack("<IIIB3x", 0x10000, _max_user_address(proc), mask, NUMBER_OF_PROCESSORS)


@kernel_service("NtQuerySystemInformation")
def NtQuerySystemInformation(machine, thread, SystemInformationClass, SystemInformation, SystemInformationLength,
                             ReturnLength):
    cls = SystemInformationClass & 0xFFFFFFFF
    length = SystemInformationLength & 0xFFFFFFFF
    proc = thread.process
    if cls >= MAX_SYSTEM_INFO_CLASS:
        return STATUS_INVALID_INFO_CLASS
    if cls != SystemBasicInformation:
        unsupported(thread, "NtQuerySystemInformation", f"information class {cls:#x}")
    data = basic_information(proc)
    if length != len(data):   # this class wants exactly its size
        if ReturnLength:
            user_write(proc, ReturnLength, struct.pack("<I", len(data)))
        return STATUS_INFO_LENGTH_MISMATCH
    user_write(proc, SystemInformation, data)
    if ReturnLength:
        user_write(proc, ReturnLength, struct.pack("<I", len(data)))
    return 0
