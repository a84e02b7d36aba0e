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


#: the CPU area of each guest machine WoW64 knows (machine -> context alignment, context size, offset of its
#: ContextFlags, the machine's CONTEXT_* architecture flag): i386 CONTEXT, AMD64 CONTEXT, ARM CONTEXT, ARM64
#: CONTEXT as Windows 10 lays out a thread's WOW64_CPURESERVED area
CPU_AREAS = {0x014C: (4, 0x2CC, 0x00, 0x00010000), 0x8664: (16, 0x4D0, 0x30, 0x00100000),
             0x01C4: (8, 0x1A0, 0x00, 0x00200000), 0xAA64: (16, 0x390, 0x00, 0x00400000)}
STATUS_INVALID_PARAMETER = 0xC000000D


@api(NT, "NTSTATUS NTAPI RtlWow64GetCpuAreaInfo(WOW64_CPURESERVED *CpuReserved, ULONG Flags, "
         "WOW64_CPU_AREA_INFO *CpuAreaInfo)")
def RtlWow64GetCpuAreaInfo(c, cpu, flags, info):
    """Where the guest CONTEXT lives in a WOW64_CPURESERVED area {USHORT Flags; USHORT Machine;}: right after
    it at the machine's context alignment, the CONTEXT_EX after the context (pointer-aligned), the context's
    ContextFlags; WOW64_CPU_AREA_INFO { Context, ContextEx, ContextFlagsLocation, CpuReserved, ContextFlag,
    Machine }. A machine WoW64 does not emulate is STATUS_INVALID_PARAMETER."""
    machine = int.from_bytes(c.read(cpu + 2, 2), "little")
    area = CPU_AREAS.get(machine)
    if area is None:
        return STATUS_INVALID_PARAMETER
    align, size, flags_off, flag = area
    ps = c.ptr_size
    ctx = (cpu + 4 + align - 1) & ~(align - 1)
    ctx_ex = (ctx + size + ps - 1) & ~(ps - 1)
    for i, v in enumerate((ctx, ctx_ex, ctx + flags_off, cpu)):
        c.write_ptr(info + i * ps, v)
    c.write(info + 4 * ps, flag.to_bytes(4, "little") + machine.to_bytes(2, "little"))
    return 0


# ------------------------------------------------------------------------------------------ WoW64's 64-bit calls
# 32-bit ntdll's NtWow64* exports reach the native (64-bit) services through WoW64: the arguments are 64-bit and
# so are the ULONG64s the service reads and writes (c.nt_native). A WoW64 process's address space is 64-bit: above
# 4 GB is user space that 32-bit code cannot address but these calls can (winhatch.kernel.mm.aspace native_low).


@api(NT, "NTSTATUS NTAPI NtWow64ReadVirtualMemory64(HANDLE ProcessHandle, ULONG64 BaseAddress, PVOID Buffer, "
         "ULONG64 BufferSize, PULONG64 NumberOfBytesRead)")
def NtWow64ReadVirtualMemory64(c, process, addr, buf, size, pdone):
    return c.nt_native("NtReadVirtualMemory", process, addr, buf, size, pdone)


@api(NT, "NTSTATUS NTAPI NtWow64WriteVirtualMemory64(HANDLE ProcessHandle, ULONG64 BaseAddress, PVOID Buffer, "
         "ULONG64 BufferSize, PULONG64 NumberOfBytesWritten)")
def NtWow64WriteVirtualMemory64(c, process, addr, buf, size, pdone):
    return c.nt_native("NtWriteVirtualMemory", process, addr, buf, size, pdone)


@api(NT, "NTSTATUS NTAPI NtWow64AllocateVirtualMemory64(HANDLE ProcessHandle, PULONG64 BaseAddress, "
         "ULONG64 ZeroBits, PULONG64 RegionSize, ULONG AllocationType, ULONG Protect)")
def NtWow64AllocateVirtualMemory64(c, process, pbase, zero_bits, psize, alloc_type, protect):
    return c.nt_native("NtAllocateVirtualMemory", process, pbase, zero_bits, psize, alloc_type, protect)


@api(NT, "NTSTATUS NTAPI NtWow64GetNativeSystemInformation(ULONG SystemInformationClass, PVOID SystemInformation, "
         "ULONG SystemInformationLength, PULONG ReturnLength)")
def NtWow64GetNativeSystemInformation(c, cls, buf, length, pret):
    """WoW64's native system information (what RtlGetNativeSystemInformation calls in a WoW64 process)."""
    from winhatch.win32.kernel32.sysinfo import RtlGetNativeSystemInformation
    return RtlGetNativeSystemInformation(c, cls, buf, length, pret)


# ntdll!Wow64Transition (32-bit ntdll only; the 64-bit ntdll does not export it): a pointer-sized variable holding
# the address the system-service stubs reach to enter the 64-bit kernel. The image builder (winhatch.win32.sysdlls)
# stores the relocated address of ntdll's transition routine (Wow64SystemServiceCall's int 2Eh) in it.
from winhatch.kernel.ke.services import WOW64_TRANSITION_VARIABLE as _WOW64_TRANSITION  # noqa: E402
from winhatch.win32.api import data_export as _data_export  # noqa: E402

_data_export(NT, _WOW64_TRANSITION, 4)
