"""kernel32 / kernelbase: the processor topology programs size their thread pools from — the active
processor counts and GetLogicalProcessorInformationEx (QueryInformationJobObject lives with the job objects,
kernel32/job.py).

The machine has the profile's processors (machine.profile.cpu_count) in one group: one package of that
many cores, one logical processor each (what Wine reports on a machine without SMT). Records are laid out as winnt.h lays out
SYSTEM_LOGICAL_PROCESSOR_INFORMATION_EX (offsets checked with mingw for x86 and x64): Relationship, Size,
then PROCESSOR_RELATIONSHIP { Flags, EfficiencyClass, Reserved[20], GroupCount @22, GroupMask[] @24 } with
GROUP_AFFINITY { KAFFINITY Mask, WORD Group, WORD Reserved[3] } (16 bytes on x64, 12 on x86); a record's
Size is its header plus the processor relationship with its one GROUP_AFFINITY (48 on x64, as Windows and
Wine report). The records come from NtQuerySystemInformationEx (winhatch.kernel.ex.sysinfo); the cache, NUMA
and group relations are not modelled: asking for them stops loudly.
"""
from __future__ import annotations

import struct

from winhatch.ntstatus import ERROR_INVALID_PARAMETER
from winhatch.win32.api import api

from winhatch.win32.kernel32.common import K32, ERROR_INSUFFICIENT_BUFFER

ALL_PROCESSOR_GROUPS = 0xFFFF
RelationProcessorCore, RelationNumaNode, RelationCache, RelationProcessorPackage, RelationGroup = 0, 1, 2, 3, 4
RelationAll = 0xFFFF
ERROR_INVALID_HANDLE = 6


def _nproc(c) -> int:
    return c.machine.profile.cpu_count


@api(K32, "DWORD WINAPI GetActiveProcessorCount(WORD GroupNumber)")
def GetActiveProcessorCount(c, group):
    """Every processor is in group 0; another group has none (0, ERROR_INVALID_PARAMETER)."""
    if group in (0, ALL_PROCESSOR_GROUPS):
        return _nproc(c)
    c.set_last_error(ERROR_INVALID_PARAMETER)
    return 0


@api(K32, "DWORD WINAPI GetMaximumProcessorCount(WORD GroupNumber)")
def GetMaximumProcessorCount(c, group):
    return GetActiveProcessorCount(c, group)


@api(K32, "WORD WINAPI GetActiveProcessorGroupCount(void)")
def GetActiveProcessorGroupCount(c):
    return 1


@api(K32, "WORD WINAPI GetMaximumProcessorGroupCount(void)")
def GetMaximumProcessorGroupCount(c):
    return 1


@api(K32, "BOOL WINAPI GetLogicalProcessorInformationEx(LOGICAL_PROCESSOR_RELATIONSHIP RelationshipType, "
     "PSYSTEM_LOGICAL_PROCESSOR_INFORMATION_EX Buffer, PDWORD ReturnedLength)")
def GetLogicalProcessorInformationEx(c, rel, buf, plen):
    """NtQuerySystemInformationEx(SystemLogicalProcessorInformationEx, &RelationshipType): the core and
    package records. A buffer smaller than the records: ERROR_INSUFFICIENT_BUFFER with the size needed in
    *ReturnedLength; an unknown relationship: ERROR_INVALID_PARAMETER."""
    if not plen:
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    inp = c.stack_alloc(4)
    c.write_u32(inp, rel)
    ret = c.stack_alloc(4)
    st = c.nt("NtQuerySystemInformationEx", 0x6B, inp, 4, buf, c.u32(plen) if buf else 0, ret)
    if st == 0xC0000004:                # STATUS_INFO_LENGTH_MISMATCH
        c.write_u32(plen, c.u32(ret))
        c.set_last_error(ERROR_INSUFFICIENT_BUFFER)
        return 0
    if st & 0x80000000:
        c.set_last_nt_error(st)
        return 0
    c.write_u32(plen, c.u32(ret))
    return 1


# ------------------------------------------------------------------------------------------ version checks
VER_EQUAL, VER_GREATER, VER_GREATER_EQUAL, VER_LESS, VER_LESS_EQUAL, VER_AND, VER_OR = range(1, 8)
# type bits in priority order (highest first) with the shift of their 3-bit condition in the mask
_VER_FIELDS = ((0x80, 21), (0x40, 18), (0x20, 15), (0x10, 12), (0x08, 9), (0x04, 6), (0x02, 3), (0x01, 0))
VER_MINORVERSION, VER_MAJORVERSION, VER_BUILDNUMBER, VER_PLATFORMID = 0x1, 0x2, 0x4, 0x8
VER_SERVICEPACKMINOR, VER_SERVICEPACKMAJOR, VER_SUITENAME, VER_PRODUCT_TYPE = 0x10, 0x20, 0x40, 0x80
STATUS_INVALID_PARAMETER, STATUS_REVISION_MISMATCH = 0xC000000D, 0xC0000059
ERROR_BAD_ARGUMENTS, ERROR_OLD_WIN_VERSION = 160, 1150


@api("ntdll.dll", "ULONGLONG NTAPI VerSetConditionMask(ULONGLONG ConditionMask, DWORD TypeMask, BYTE Condition)")
def VerSetConditionMask(c, mask, types, cond):
    """Put the 3-bit condition in the field of the highest-priority type bit given (one type per call is the
    documented use); a zero TypeMask or Condition leaves the mask unchanged."""
    cond &= 0xFF
    if not types or not cond:
        return mask
    for bit, shift in _VER_FIELDS:
        if types & bit:
            return mask | ((cond & 7) << shift)
    return mask


def _cond(mask: int, bit: int) -> int:
    return (mask >> dict(_VER_FIELDS)[bit]) & 7


def _compare(actual, wanted, cond) -> bool:
    if cond == VER_EQUAL:
        return actual == wanted
    if cond == VER_GREATER:
        return actual > wanted
    if cond == VER_GREATER_EQUAL:
        return actual >= wanted
    if cond == VER_LESS:
        return actual < wanted
    if cond == VER_LESS_EQUAL:
        return actual <= wanted
    return False


def verify_version(c, info: int, types: int, mask: int, *, wide: bool, truthful: bool) -> int:
    """RtlVerifyVersionInfo: STATUS_SUCCESS, STATUS_REVISION_MISMATCH or STATUS_INVALID_PARAMETER.

    Major, minor and the service pack numbers are one hierarchical version: compared field by field (those
    the type mask names), with the condition of the most significant one given; the build number, platform
    and product type each with their own condition; the suite mask with VER_AND (all bits) or VER_OR (any)."""
    from winhatch.win32.kernel32.sysinfo import os_version
    if not types or not mask:
        return STATUS_INVALID_PARAMETER
    major, minor, build = os_version(c, truthful=truthful)
    sp_off = 276 if wide else 148
    w_major, w_minor, w_build, w_platform = struct.unpack("<IIII", c.read(info + 4, 16))
    w_spmaj, w_spmin, w_suite, w_ptype = struct.unpack("<HHHB", c.read(info + sp_off, 7))
    have = {"platform": 2, "spmaj": 0, "spmin": 0, "suite": 0x100, "ptype": 1}
    if types & VER_PRODUCT_TYPE and not _compare(have["ptype"], w_ptype, _cond(mask, VER_PRODUCT_TYPE)):
        return STATUS_REVISION_MISMATCH
    if types & VER_SUITENAME:
        cond = _cond(mask, VER_SUITENAME)
        ok = (have["suite"] & w_suite) == w_suite if cond == VER_AND else bool(have["suite"] & w_suite) \
            if cond == VER_OR else False
        if not ok:
            return STATUS_REVISION_MISMATCH
    if types & VER_PLATFORMID and not _compare(have["platform"], w_platform, _cond(mask, VER_PLATFORMID)):
        return STATUS_REVISION_MISMATCH
    if types & VER_BUILDNUMBER and not _compare(build, w_build, _cond(mask, VER_BUILDNUMBER)):
        return STATUS_REVISION_MISMATCH
    levels = [(VER_MAJORVERSION, major, w_major), (VER_MINORVERSION, minor, w_minor),
              (VER_SERVICEPACKMAJOR, have["spmaj"], w_spmaj), (VER_SERVICEPACKMINOR, have["spmin"], w_spmin)]
    given = [(bit, a, w) for bit, a, w in levels if types & bit]
    if given:
        cond = _cond(mask, given[0][0])
        if not _compare(tuple(a for _, a, _ in given), tuple(w for _, _, w in given), cond):
            return STATUS_REVISION_MISMATCH
    return 0


@api("ntdll.dll", "NTSTATUS NTAPI RtlVerifyVersionInfo(PRTL_OSVERSIONINFOEXW VersionInfo, ULONG TypeMask, "
     "ULONGLONG ConditionMask)")
def RtlVerifyVersionInfo(c, info, types, mask):
    return verify_version(c, info, types, mask, wide=True, truthful=True)


@api(K32, "BOOL WINAPI VerifyVersionInfo%(LPOSVERSIONINFOEX lpVersionInformation, DWORD dwTypeMask, "
     "DWORDLONG dwlConditionMask)")
def VerifyVersionInfo(c, info, types, mask):
    """As RtlVerifyVersionInfo, against the version the program's manifest lets it see (6.2 without a
    Windows 10 compatibility entry, as GetVersionEx); fails with ERROR_OLD_WIN_VERSION when the system
    does not match, ERROR_BAD_ARGUMENTS for an empty type or condition mask."""
    status = verify_version(c, info, types, mask, wide=c.wide, truthful=False)
    if status == 0:
        return 1
    c.set_last_error(ERROR_OLD_WIN_VERSION if status == STATUS_REVISION_MISMATCH else ERROR_BAD_ARGUMENTS)
    return 0


# ------------------------------------------------------------------------------------------ affinity
def _system_mask(c) -> int:
    return (1 << _nproc(c)) - 1


def _process_mask(c, proc) -> int:
    return proc.subsystem.get("affinity", _system_mask(c))


@api(K32, "BOOL WINAPI GetProcessAffinityMask(HANDLE hProcess, PDWORD_PTR lpProcessAffinityMask, "
     "PDWORD_PTR lpSystemAffinityMask)")
def GetProcessAffinityMask(c, hproc, pmask, psys):
    from winhatch.win32.kernel32.common import lookup
    proc = lookup(c, hproc, "Process", 0x1000)        # PROCESS_QUERY_LIMITED_INFORMATION
    if proc is None:
        return 0
    c.write_ptr(pmask, _process_mask(c, proc))
    c.write_ptr(psys, _system_mask(c))
    return 1


@api(K32, "BOOL WINAPI SetProcessAffinityMask(HANDLE hProcess, DWORD_PTR dwProcessAffinityMask)")
def SetProcessAffinityMask(c, hproc, mask):
    """The mask must be non-zero and name only processors of the system (ERROR_INVALID_PARAMETER)."""
    from winhatch.win32.kernel32.common import lookup
    proc = lookup(c, hproc, "Process", 0x0200)        # PROCESS_SET_INFORMATION
    if proc is None:
        return 0
    if not mask or mask & ~_system_mask(c):
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    proc.subsystem["affinity"] = mask
    return 1


@api(K32, "DWORD_PTR WINAPI SetThreadAffinityMask(HANDLE hThread, DWORD_PTR dwThreadAffinityMask)")
def SetThreadAffinityMask(c, hthread, mask):
    """Returns the thread's previous mask; the new one must be non-zero and within the process's mask
    (0, ERROR_INVALID_PARAMETER)."""
    from winhatch.win32.kernel32.common import lookup
    th = lookup(c, hthread, "Thread", 0x0060)         # THREAD_SET_INFORMATION | THREAD_QUERY_INFORMATION
    if th is None:
        return 0
    pmask = _process_mask(c, th.process)
    if not mask or mask & ~pmask:
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    old = th.process.subsystem.setdefault("thread_affinity", {}).get(th.tid, pmask)
    th.process.subsystem["thread_affinity"][th.tid] = mask
    return old


# ------------------------------------------------------------------------------------------ memory status
MEM_FREE = 0x10000


def _memory_figures(c) -> dict:
    """The machine's memory as kernelbase computes it: the physical pages (SystemBasicInformation), the
    available and committed pages and the commit limit (SystemPerformanceInformation); the user address
    space is this process's (its size, and what no allocation reserves)."""
    from winhatch.kernel.structs import SYSTEM_BASIC_INFORMATION
    from winhatch.win32.kernel32.sysinfo import query_system
    sbi = SYSTEM_BASIC_INFORMATION.unpack(c.arch, query_system(c, 0, SYSTEM_BASIC_INFORMATION.size(c.arch)))
    page = sbi["PageSize"]
    avail_pages, committed, limit = struct.unpack_from("<IIII", query_system(c, 2, 0x158), 0x2C)[:3]
    total_phys = sbi["NumberOfPhysicalPages"] * page
    lo, hi = sbi["MinimumUserModeAddress"], sbi["MaximumUserModeAddress"]
    total_virtual = hi + 1 - lo
    used = sum(min(r.BaseAddress + r.RegionSize, hi + 1) - max(r.BaseAddress, lo)
               for r in c.proc.aspace.regions()
               if r.State != MEM_FREE and r.BaseAddress + r.RegionSize > lo and r.BaseAddress <= hi)
    return {"load": (total_phys - avail_pages * page) * 100 // total_phys, "total_phys": total_phys,
            "avail_phys": avail_pages * page, "total_pf": limit * page, "avail_pf": (limit - committed) * page,
            "total_virtual": total_virtual, "avail_virtual": total_virtual - used}


@api(K32, "BOOL WINAPI GlobalMemoryStatusEx(LPMEMORYSTATUSEX lpBuffer)")
def GlobalMemoryStatusEx(c, buf):
    """dwLength must be sizeof(MEMORYSTATUSEX) (64): ERROR_INVALID_PARAMETER otherwise."""
    if c.u32(buf) != 64:
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    f = _memory_figures(c)
    c.write(buf + 4, struct.pack("<I7Q", f["load"], f["total_phys"], f["avail_phys"], f["total_pf"], f["avail_pf"],
                                 f["total_virtual"], f["avail_virtual"], 0))
    return 1


@api(K32, "void WINAPI GlobalMemoryStatus(LPMEMORYSTATUS lpBuffer)")
def GlobalMemoryStatus(c, buf):
    """MEMORYSTATUS (SIZE_T fields): dwLength is set to the structure's size; an x86 program sees the figures
    capped at 2 GiB - 1, or 4 GiB - 1 when it is large-address aware (as the documentation describes)."""
    f = _memory_figures(c)
    vals = [f["total_phys"], f["avail_phys"], f["total_pf"], f["avail_pf"], f["total_virtual"], f["avail_virtual"]]
    if c.ptr_size == 8:
        c.write(buf, struct.pack("<II6Q", 56, f["load"], *vals))
        return
    from winhatch.win32.kernel32.sysinfo import _large_address_aware
    cap = 0xFFFFFFFF if _large_address_aware(c) else 0x7FFFFFFF
    c.write(buf, struct.pack("<II6I", 32, f["load"], *(min(v, cap) for v in vals)))


# ============================================================================================ NUMA
# One NUMA node (0) holding every processor, as on a non-NUMA machine.
def _all_mask(c) -> int:
    return (1 << _nproc(c)) - 1


@api(K32, "BOOL WINAPI GetNumaHighestNodeNumber(PULONG HighestNodeNumber)")
def GetNumaHighestNodeNumber(c, p):
    if not p:
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    c.write_u32(p, 0)
    return 1


@api(K32, "BOOL WINAPI GetNumaNodeProcessorMask(UCHAR Node, PULONGLONG ProcessorMask)")
def GetNumaNodeProcessorMask(c, node, p):
    if node != 0 or not p:
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    c.write(p, struct.pack("<Q", _all_mask(c)))
    return 1


@api(K32, "BOOL WINAPI GetNumaNodeProcessorMaskEx(USHORT Node, PGROUP_AFFINITY ProcessorMask)")
def GetNumaNodeProcessorMaskEx(c, node, p):
    if node != 0 or not p:
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    c.write(p, struct.pack("<QH6x", _all_mask(c), 0) if c.ptr_size == 8 else struct.pack("<IH6x", _all_mask(c), 0))
    return 1


@api(K32, "BOOL WINAPI GetNumaProcessorNode(UCHAR Processor, PUCHAR NodeNumber)")
def GetNumaProcessorNode(c, cpu, p):
    if cpu < _nproc(c):
        c.write(p, b"\0")
        return 1
    c.write(p, b"\xff")
    c.set_last_error(ERROR_INVALID_PARAMETER)
    return 0
