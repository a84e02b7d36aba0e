"""kernelbase's newer memory APIs over the memory manager's services (winhatch/kernel/mm): GetWriteWatch /
ResetWriteWatch (NtGetWriteWatch / NtResetWriteWatch), PrefetchVirtualMemory (NtSetInformationVirtualMemory
VmPrefetchInformation), MapViewOfFile3 (NtMapViewOfSectionEx: placeholders, address requirements) and
UnmapViewOfFile2 (NtUnmapViewOfSectionEx)."""
from __future__ import annotations

from winhatch.win32.api import api

K32 = ("kernel32.dll", "kernelbase.dll")
ERROR_INVALID_PARAMETER = 87


def _failed(c, st: int) -> bool:
    if st & 0x80000000:
        c.set_last_nt_error(st)
        return True
    return False


def _self(c) -> int:
    return (1 << 8 * c.ptr_size) - 1


@api(K32, "UINT WINAPI GetWriteWatch(DWORD dwFlags, PVOID lpBaseAddress, SIZE_T dwRegionSize, PVOID *lpAddresses, "
          "ULONG_PTR *lpdwCount, LPDWORD lpdwGranularity)")
def GetWriteWatch(c, flags, base, size, addresses, pcount, pgran):
    """0, or ~0 with the last error set."""
    if _failed(c, c.nt("NtGetWriteWatch", _self(c), flags, base, size, addresses, pcount, pgran)):
        return 0xFFFFFFFF
    return 0


@api(K32, "UINT WINAPI ResetWriteWatch(LPVOID lpBaseAddress, SIZE_T dwRegionSize)")
def ResetWriteWatch(c, base, size):
    if _failed(c, c.nt("NtResetWriteWatch", _self(c), base, size)):
        return 0xFFFFFFFF
    return 0


@api(K32, "BOOL WINAPI PrefetchVirtualMemory(HANDLE hProcess, ULONG_PTR NumberOfEntries, PVOID VirtualAddresses, "
          "ULONG Flags)")
def PrefetchVirtualMemory(c, h, count, entries, flags):
    """NtSetInformationVirtualMemory(VmPrefetchInformation) with the flags as its ULONG of information."""
    pflags = c.stack_alloc(4)
    c.write_u32(pflags, flags)
    return 0 if _failed(c, c.nt("NtSetInformationVirtualMemory", h, 0, count, entries, pflags, 4)) else 1


@api("kernelbase.dll", "PVOID WINAPI MapViewOfFile3(HANDLE FileMapping, HANDLE Process, PVOID BaseAddress, "
                       "ULONG64 Offset, SIZE_T ViewSize, ULONG AllocationType, ULONG PageProtection, "
                       "PVOID ExtendedParameters, ULONG ParameterCount)")
def MapViewOfFile3(c, h, process, base, offset, size, atype, prot, params, count):
    ps = c.ptr_size
    io = c.stack_alloc(2 * ps + 8)
    c.write_ptr(io, base)
    c.write_ptr(io + ps, size)
    c.write(io + 2 * ps, offset.to_bytes(8, "little"))
    st = c.nt("NtMapViewOfSectionEx", h, process, io, io + 2 * ps, io + ps, atype, prot, params, count)
    if _failed(c, st):
        return 0
    return c.ptr(io)


@api("kernelbase.dll", "BOOL WINAPI UnmapViewOfFile2(HANDLE Process, PVOID BaseAddress, ULONG UnmapFlags)")
def UnmapViewOfFile2(c, process, base, flags):
    return 0 if _failed(c, c.nt("NtUnmapViewOfSectionEx", process, base, flags)) else 1
