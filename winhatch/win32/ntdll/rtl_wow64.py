"""ntdll's WoW64 machine queries over NtQuerySystemInformationEx(SystemSupportedProcessorArchitectures): the
list of SYSTEM_SUPPORTED_PROCESSOR_ARCHITECTURES_INFORMATION entries (ULONG: machine in the low word; flags
in the high word, 4 = the native machine, 8 = the process's own), zero-terminated.

RtlWow64GetProcessMachines(Process, *ProcessMachine, *NativeMachine): the process's machine, or 0
(IMAGE_FILE_MACHINE_UNKNOWN) when it runs natively; RtlWow64GetCurrentMachine: the calling process's machine;
RtlWow64IsWowGuestMachineSupported: a listed machine that is not the native one."""
from __future__ import annotations

from winhatch.win32.api import api

NT = "ntdll.dll"
SystemSupportedProcessorArchitectures = 181


def process_machines(c, process: int) -> tuple[int, list[tuple[int, int]]]:
    """(NTSTATUS, [(machine, flags), ...]) of `process`."""
    ps = c.ptr_size
    ph = c.stack_alloc(ps)
    c.write_ptr(ph, process)
    buf = c.stack_alloc(4 * 16)
    out = c.stack_alloc(4)
    st = c.nt("NtQuerySystemInformationEx", SystemSupportedProcessorArchitectures, ph, ps, buf, 4 * 16, out)
    if st:
        return st, []
    entries = []
    for i in range(16):
        v = c.u32(buf + 4 * i)
        if not v:
            break
        entries.append((v & 0xFFFF, v >> 16))
    return 0, entries


@api(NT, "NTSTATUS NTAPI RtlWow64GetProcessMachines(HANDLE Process, USHORT *ProcessMachine, USHORT *NativeMachine)")
def RtlWow64GetProcessMachines(c, process, pcurrent, pnative):
    st, entries = process_machines(c, process)
    if st:
        return st
    current = next((m for m, f in entries if f & 8), 0)
    native = next((m for m, f in entries if f & 4), 0)
    if pcurrent:
        c.write(pcurrent, (0 if current == native else current).to_bytes(2, "little"))
    if pnative:
        c.write(pnative, native.to_bytes(2, "little"))
    return 0


@api(NT, "USHORT NTAPI RtlWow64GetCurrentMachine(void)")
def RtlWow64GetCurrentMachine(c):
    st, entries = process_machines(c, (1 << 8 * c.ptr_size) - 1)
    return next((m for m, f in entries if f & 8), 0)


@api(NT, "NTSTATUS NTAPI RtlWow64IsWowGuestMachineSupported(USHORT Machine, BOOLEAN *Supported)")
def RtlWow64IsWowGuestMachineSupported(c, machine, psupported):
    st, entries = process_machines(c, (1 << 8 * c.ptr_size) - 1)
    if st:
        return st
    ok = any(m == machine & 0xFFFF and not f & 4 for m, f in entries)
    if psupported:
        c.write(psupported, b"\x01" if ok else b"\x00")
    return 0
