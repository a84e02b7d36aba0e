"""kernel32 / kernelbase / ntdll / advapi32: what a program learns about its process and the system.

Windows 10 22H2 (10.0.19045), two processors, 4 KiB pages. GetVersion / GetVersionEx apply Windows's
compatibility rule: a program whose manifest does not declare Windows 10 support is told 6.2.9200
(Windows 8); RtlGetVersion always tells the truth. An x86 program runs under WoW64 on an AMD64 machine.
"""
from __future__ import annotations

import hashlib
import struct

from winhatch.kernel.machine import KUSER_SHARED_DATA
from winhatch.kernel.structs import RTL_USER_PROCESS_PARAMETERS
from winhatch.ntstatus import (ERROR_INSUFFICIENT_BUFFER, ERROR_INVALID_PARAMETER,
                               NtStatusError)
from winhatch.win32.api import api

from winhatch.win32.kernel32.common import K32, heap_alloc, lookup, params_address

PROCESS_QUERY_LIMITED_INFORMATION = 0x1000

PROCESSOR_ARCHITECTURE_INTEL, PROCESSOR_ARCHITECTURE_AMD64 = 0, 9
PROCESSOR_INTEL_PENTIUM, PROCESSOR_AMD_X8664 = 586, 8664
IMAGE_FILE_MACHINE_UNKNOWN, IMAGE_FILE_MACHINE_I386, IMAGE_FILE_MACHINE_AMD64 = 0, 0x14C, 0x8664
STARTF_USESTDHANDLES = 0x100
KUSER_PROCESSOR_FEATURES = 0x274


# ============================================================================================ startup info
@api(K32, "void WINAPI GetStartupInfo%(LPSTARTUPINFO lpStartupInfo)")
def GetStartupInfo(c, si):
    """STARTUPINFO from the process parameters (what the creator passed to CreateProcess)."""
    aspace = c.proc.aspace
    p = params_address(c)
    names = ("WindowFlags", "ShowWindowFlags", "StartingX", "StartingY", "CountX", "CountY", "CountCharsX",
             "CountCharsY", "FillAttribute", "StandardInput", "StandardOutput", "StandardError",
             "DesktopInfo", "WindowTitle", "ShellInfo", "RuntimeData")
    v = RTL_USER_PROCESS_PARAMETERS.read(aspace, p, c.arch, *names)
    ps = c.ptr_size
    st = c.proc.subsystem.setdefault("kernel32_startup", {})

    def text(field) -> int:
        us = v[field]
        if not us["Buffer"]:
            return 0
        if c.wide:
            return us["Buffer"]
        key = ("a", field)
        if key not in st:
            s = aspace.read(us["Buffer"], us["Length"]).decode("utf-16-le", "replace")
            data = s.encode("cp1252", "replace") + b"\0"
            st[key] = heap_alloc(c, len(data))
            c.write(st[key], data)
        return st[key]

    flags = v["WindowFlags"]
    runtime = v["RuntimeData"]
    std = (v["StandardInput"], v["StandardOutput"], v["StandardError"]) if flags & STARTF_USESTDHANDLES \
        else (0, 0, 0)
    if ps == 8:
        c.write(si, struct.pack("<I4xQQQ8IHH4xQQQQ", 104, 0, text("DesktopInfo"), text("WindowTitle"),
                                v["StartingX"], v["StartingY"], v["CountX"], v["CountY"], v["CountCharsX"],
                                v["CountCharsY"], v["FillAttribute"], flags, v["ShowWindowFlags"],
                                runtime["Length"], runtime["Buffer"] if runtime["Length"] else 0, *std))
    else:
        c.write(si, struct.pack("<IIIIIIIIIIIIHHIIII", 68, 0, text("DesktopInfo"), text("WindowTitle"),
                                v["StartingX"], v["StartingY"], v["CountX"], v["CountY"], v["CountCharsX"],
                                v["CountCharsY"], v["FillAttribute"], flags, v["ShowWindowFlags"],
                                runtime["Length"], runtime["Buffer"] if runtime["Length"] else 0, *std))


# ============================================================================================ versions
def os_version(c, *, truthful: bool) -> tuple[int, int, int]:
    """The version a program is told: the truth (RtlGetVersion), or GetVersion(Ex)'s compatibility answer
    (winhatch.win32.kernel32.manifest.reported_version: the manifest's supportedOS, else the image's OS
    version, never below 6.2) — with the build number of that version (9200, 9600 or the real one)."""
    prof = c.machine.profile
    if truthful:
        return prof.os_major, prof.os_minor, prof.os_build
    st = c.proc.subsystem.setdefault("kernel32_version", {})
    if "reported" not in st:
        from winhatch.win32.kernel32 import manifest
        try:
            major, minor = manifest.reported_version(c, manifest.image_os_version(c))
        except NtStatusError:
            major, minor = 6, 2
        build = {(6, 2): 9200, (6, 3): 9600}.get((major, minor), prof.os_build)
        st["reported"] = (major, minor, build)
    return st["reported"]


@api(K32, "DWORD WINAPI GetVersion(void)")
def GetVersion(c):
    major, minor, build = os_version(c, truthful=False)
    return (build << 16) | (minor << 8) | major


def _fill_version(c, p, major, minor, build, *, wide: bool) -> bool:
    size = c.u32(p)
    base = 276 if wide else 148
    if size not in (base, base + 8):
        c.set_last_error(ERROR_INSUFFICIENT_BUFFER)
        return False
    c.write(p + 4, struct.pack("<IIII", major, minor, build, 2))
    c.write(p + 20, bytes(256 if wide else 128))
    if size == base + 8:
        # service pack 0.0, VER_SUITE_SINGLEUSERTS, VER_NT_WORKSTATION
        c.write(p + base, struct.pack("<HHHBB", 0, 0, 0x100, 1, 0))
    return True


@api(K32, "BOOL WINAPI GetVersionEx%(LPOSVERSIONINFO lpVersionInformation)")
def GetVersionEx(c, p):
    major, minor, build = os_version(c, truthful=False)
    return 1 if _fill_version(c, p, major, minor, build, wide=c.wide) else 0


@api("ntdll.dll", "NTSTATUS NTAPI RtlGetVersion(PRTL_OSVERSIONINFOW lpVersionInformation)")
def RtlGetVersion(c, p):
    size = c.u32(p)
    if size not in (276, 284):
        return 0xC000000D  # STATUS_INVALID_PARAMETER
    _fill_version(c, p, *os_version(c, truthful=True), wide=True)
    return 0


@api("ntdll.dll", "void NTAPI RtlGetNtVersionNumbers(LPDWORD major, LPDWORD minor, LPDWORD build)")
def RtlGetNtVersionNumbers(c, pmaj, pmin, pbuild):
    if pmaj:
        c.write_u32(pmaj, c.machine.profile.os_major)
    if pmin:
        c.write_u32(pmin, c.machine.profile.os_minor)
    if pbuild:
        c.write_u32(pbuild, c.machine.profile.os_build | 0xF0000000)  # free build flag in the top nibble


# ============================================================================================ system
@api(K32, "BOOL WINAPI IsProcessorFeaturePresent(DWORD ProcessorFeature)")
def IsProcessorFeaturePresent(c, feature):
    if feature >= 64:
        return 0
    return c.proc.aspace.read(KUSER_SHARED_DATA + KUSER_PROCESSOR_FEATURES + feature, 1)[0]


def _large_address_aware(c) -> bool:
    base = c.proc.image_base
    try:
        lfanew = struct.unpack("<I", c.proc.aspace.read(base + 0x3C, 4))[0]
        chars = struct.unpack("<H", c.proc.aspace.read(base + lfanew + 0x16, 2))[0]
    except NtStatusError:
        return False
    return bool(chars & 0x20)


def query_system(c, cls: int, size: int) -> bytes:
    """NtQuerySystemInformation(cls) into scratch of `size` bytes: the record (a failure is raised as its
    NTSTATUS: these classes cannot fail for a correct size)."""
    buf = c.stack_alloc(size, 8)
    st = c.nt("NtQuerySystemInformation", cls, buf, size, 0)
    if st & 0x80000000:
        raise NtStatusError(st, f"NtQuerySystemInformation({cls:#x})")
    return c.read(buf, size)


def _system_info(c, native: bool) -> bytes:
    """SYSTEM_INFO from SystemBasicInformation and SystemProcessorInformation (as kernelbase builds it);
    GetNativeSystemInfo in a WoW64 process reports the AMD64 processor."""
    from winhatch.kernel.structs import SYSTEM_BASIC_INFORMATION
    sbi = SYSTEM_BASIC_INFORMATION.unpack(c.arch, query_system(c, 0, SYSTEM_BASIC_INFORMATION.size(c.arch)))
    arch, level, revision, _, _ = struct.unpack("<HHHHI", query_system(c, 1, 12))
    if native:
        arch = PROCESSOR_ARCHITECTURE_AMD64
    ptype = PROCESSOR_AMD_X8664 if arch == PROCESSOR_ARCHITECTURE_AMD64 else PROCESSOR_INTEL_PENTIUM
    fmt = "<HHIQQQIIIHH" if c.arch == "x64" else "<HHIIIIIIIHH"
    return struct.pack(fmt, arch, 0, sbi["PageSize"], sbi["MinimumUserModeAddress"],
                       sbi["MaximumUserModeAddress"], sbi["ActiveProcessorsAffinityMask"], sbi["NumberOfProcessors"],
                       ptype, sbi["AllocationGranularity"], level, revision)


@api(K32, "BOOL WINAPI GetSystemTimes(PFILETIME lpIdleTime, PFILETIME lpKernelTime, PFILETIME lpUserTime)")
def GetSystemTimes(c, pidle, pkernel, puser):
    """The sums over the processors of SystemProcessorPerformanceInformation (kernel time includes idle)."""
    from winhatch.kernel.structs import SYSTEM_BASIC_INFORMATION
    n = SYSTEM_BASIC_INFORMATION.unpack(c.arch, query_system(c, 0, SYSTEM_BASIC_INFORMATION.size(c.arch)))[
        "NumberOfProcessors"]
    raw = query_system(c, 8, 0x30 * n)
    recs = [struct.unpack_from("<qqq", raw, 0x30 * i) for i in range(n)]
    for ptr, v in ((pidle, sum(r[0] for r in recs)), (pkernel, sum(r[1] for r in recs)),
                   (puser, sum(r[2] for r in recs))):
        if ptr:
            c.write(ptr, struct.pack("<Q", v))
    return 1


@api(K32, "void WINAPI GetSystemInfo(LPSYSTEM_INFO lpSystemInfo)")
def GetSystemInfo(c, p):
    c.write(p, _system_info(c, native=False))


@api(K32, "void WINAPI GetNativeSystemInfo(LPSYSTEM_INFO lpSystemInfo)")
def GetNativeSystemInfo(c, p):
    c.write(p, _system_info(c, native=True))


def _process(c, h):
    return lookup(c, h, "Process", PROCESS_QUERY_LIMITED_INFORMATION)


# ============================================================================================ firmware tables
def _firmware(c, provider: int, action: int, table_id: int, buf: int, size: int) -> int:
    """NtQuerySystemInformation(SystemFirmwareTableInformation) with a SYSTEM_FIRMWARE_TABLE_INFORMATION in
    scratch, as kernelbase does: the table's size (the bytes copied, or the size needed when `size` is too
    small); 0 and the last error on failure."""
    head = 16
    ret = c.stack_alloc(4)
    info = c.stack_alloc(head, 8)
    c.write(info, struct.pack("<IIII", provider, action, table_id, 0))
    st = c.nt("NtQuerySystemInformation", 0x4C, info, head, ret)
    needed = c.u32(info + 12)
    if st not in (0, 0xC0000023):          # STATUS_BUFFER_TOO_SMALL: the size is in TableBufferLength
        c.set_last_nt_error(st)
        return 0
    if not buf or size < needed:
        return needed
    info = c.stack_alloc(head + needed, 8)
    c.write(info, struct.pack("<IIII", provider, action, table_id, needed))
    st = c.nt("NtQuerySystemInformation", 0x4C, info, head + needed, ret)
    if st & 0x80000000:
        c.set_last_nt_error(st)
        return 0
    c.write(buf, c.read(info + head, needed))
    return needed


@api(K32, "UINT WINAPI GetSystemFirmwareTable(DWORD FirmwareTableProviderSignature, DWORD FirmwareTableID, "
          "PVOID pFirmwareTableBuffer, DWORD BufferSize)")
def GetSystemFirmwareTable(c, provider, table_id, buf, size):
    return _firmware(c, provider, 1, table_id, buf, size)


@api(K32, "UINT WINAPI EnumSystemFirmwareTables(DWORD FirmwareTableProviderSignature, "
          "PVOID pFirmwareTableEnumBuffer, DWORD BufferSize)")
def EnumSystemFirmwareTables(c, provider, buf, size):
    return _firmware(c, provider, 0, 0, buf, size)


@api(K32, "BOOL WINAPI IsWow64Process(HANDLE hProcess, PBOOL Wow64Process)")
def IsWow64Process(c, h, p):
    """NtQueryInformationProcess(ProcessWow64Information): a WoW64 process has its 32-bit PEB's address there."""
    from winhatch.win32.kernel32.threads import nt_failed
    ps = c.ptr_size
    buf = c.stack_alloc(ps)
    if nt_failed(c, c.nt("NtQueryInformationProcess", h, 26, buf, ps, 0)):
        return 0
    c.write_u32(p, 1 if c.ptr(buf) else 0)
    return 1


@api(K32, "BOOL WINAPI IsWow64Process2(HANDLE hProcess, USHORT *pProcessMachine, USHORT *pNativeMachine)")
def IsWow64Process2(c, h, pproc, pnative):
    proc = _process(c, h)
    if proc is None:
        return 0
    c.write(pproc, struct.pack("<H", IMAGE_FILE_MACHINE_I386 if proc.arch == "x86" else IMAGE_FILE_MACHINE_UNKNOWN))
    if pnative:
        c.write(pnative, struct.pack("<H", IMAGE_FILE_MACHINE_AMD64))
    return 1


@api(K32, "BOOL WINAPI GetComputerName%(LPTSTR lpBuffer, LPDWORD nSize)")
def GetComputerName(c, buf, psize):
    if not psize:
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    name = c.machine.subsystem.get("computer_name", c.machine.profile.host_name.upper())
    size = c.u32(psize)
    data = c.encode_t(name)
    n = len(data) // c.tchar_size()
    if size <= n or not buf:
        c.write_u32(psize, n + 1)
        c.set_last_error(111)  # ERROR_BUFFER_OVERFLOW
        return 0
    c.write(buf, data + bytes(c.tchar_size()))
    c.write_u32(psize, n)
    return 1


@api("advapi32.dll", "BOOL WINAPI GetUserName%(LPTSTR lpBuffer, LPDWORD pcbBuffer)")
def GetUserName(c, buf, psize):
    if not psize:
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    name = c.machine.username
    size = c.u32(psize)
    data = c.encode_t(name)
    n = len(data) // c.tchar_size() + 1  # GetUserName counts the NUL
    if size < n or not buf:
        c.write_u32(psize, n)
        c.set_last_error(ERROR_INSUFFICIENT_BUFFER)
        return 0
    c.write(buf, data + bytes(c.tchar_size()))
    c.write_u32(psize, n)
    return 1


NAME_SAM_COMPATIBLE, NAME_DISPLAY = 2, 3
ERROR_NONE_MAPPED = 1332


@api("secur32.dll", "BOOLEAN WINAPI GetUserNameEx%(EXTENDED_NAME_FORMAT NameFormat, LPTSTR lpNameBuffer, "
                    "PULONG nSize)")
def GetUserNameEx(c, fmt, buf, psize):
    """NameSamCompatible is DOMAIN\\user (the computer name for a local account, the domain's NetBIOS name
    when the profile puts the machine in a domain); NameDisplay the account name; the other formats need a
    directory to ask: ERROR_NONE_MAPPED, as on a workgroup machine."""
    if not psize:
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    user = c.machine.username
    if fmt == NAME_SAM_COMPATIBLE:
        prof = c.machine.profile
        dom = prof.netbios_domain if prof.domain else c.machine.subsystem.get("computer_name",
                                                                              prof.host_name.upper())
        name = dom + "\\" + user
    elif fmt == NAME_DISPLAY:
        name = user
    else:
        c.set_last_error(ERROR_NONE_MAPPED)
        return 0
    data = c.encode_t(name)
    n = len(data) // c.tchar_size()
    if c.u32(psize) <= n or not buf:
        c.write_u32(psize, n + 1)
        c.set_last_error(234)  # ERROR_MORE_DATA
        return 0
    c.write(buf, data + bytes(c.tchar_size()))
    c.write_u32(psize, n)
    return 1


# ============================================================================================ randomness
def _prng_bytes(c, n: int) -> bytes:
    """A deterministic stream per process (SHA-256 in counter mode over a fixed seed and the pid)."""
    st = c.proc.subsystem.setdefault("prng", {"counter": 0, "pool": b""})
    seed = f"winhatch-prng:{c.machine.clock.start_filetime}".encode()
    while len(st["pool"]) < n:
        st["pool"] += hashlib.sha256(seed + st["counter"].to_bytes(8, "little")).digest()
        st["counter"] += 1
    out, st["pool"] = st["pool"][:n], st["pool"][n:]
    return out


@api("bcryptprimitives.dll", "BOOL WINAPI ProcessPrng(PBYTE pbData, SIZE_T cbData)")
def ProcessPrng(c, buf, n):
    if n:
        c.write(buf, _prng_bytes(c, n))
    return 1


# BCryptGenRandom is in bcrypt.py, with the rest of bcrypt's CNG functions.


@api("advapi32.dll", "BOOLEAN WINAPI SystemFunction036(PVOID RandomBuffer, ULONG RandomBufferLength)")
def SystemFunction036(c, buf, n):
    """RtlGenRandom."""
    if n:
        c.write(buf, _prng_bytes(c, n))
    return 1


# ============================================================================================ NUMA and processors
# The machine has one NUMA node (0) holding its NUMBER_OF_PROCESSORS processors, all in processor group 0 (the
# node queries are in k32_topology).
# winhatch runs one guest thread at a time, on processor 0: that is the processor a thread finds itself on.
def _nprocs(c) -> int:
    return c.machine.profile.cpu_count


@api(K32, "BOOL WINAPI GetNumaProcessorNodeEx(PPROCESSOR_NUMBER Processor, PUSHORT NodeNumber)")
def GetNumaProcessorNodeEx(c, pn, p):
    group, number = struct.unpack("<HB", c.read(pn, 3))
    ok = group == 0 and number < _nprocs(c)
    c.write(p, struct.pack("<H", 0 if ok else 0xFFFF))
    if not ok:
        c.set_last_error(ERROR_INVALID_PARAMETER)
    return int(ok)


@api(K32, "void WINAPI GetCurrentProcessorNumberEx(PPROCESSOR_NUMBER ProcNumber)")
def GetCurrentProcessorNumberEx(c, p):
    c.write(p, struct.pack("<HBB", 0, 0, 0))


# ============================================================================================ memory size
@api(K32, "BOOL WINAPI GetPhysicallyInstalledSystemMemory(PULONGLONG TotalMemoryInKilobytes)")
def GetPhysicallyInstalledSystemMemory(c, out):
    """The machine's RAM in KiB (what its firmware tables report; KUSER_SHARED_DATA says the same in pages)."""
    if not out:
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    c.write_u64(out, c.machine.profile.memory // 1024)
    return 1


@api("ntdll.dll", "NTSTATUS NTAPI RtlGetNativeSystemInformation(ULONG SystemInformationClass, "
                  "PVOID SystemInformation, ULONG SystemInformationLength, PULONG ReturnLength)")
def RtlGetNativeSystemInformation(c, cls, buf, length, pret):
    """The system information of the native (64-bit) system. In an x64 process: NtQuerySystemInformation
    itself. In a WoW64 process: WoW64's NtWow64GetNativeSystemInformation, which serves only the basic and
    processor classes (others: STATUS_INVALID_INFO_CLASS) — the basic record with the native system's user
    address limit (0x7FFFFFFEFFFF seen through the 32-bit record: 0xFFFEFFFF), the processor record with
    the native architecture (AMD64), SystemNativeBasicInformation as the 64-bit record."""
    if c.arch == "x64":
        return c.nt("NtQuerySystemInformation", cls, buf, length, pret)
    cls &= 0xFFFFFFFF
    if cls not in _WOW64_NATIVE_CLASSES:
        return STATUS_INVALID_INFO_CLASS
    if cls == SYSTEM_NATIVE_BASIC:
        return _native_basic64(c, buf, length, pret)
    st = c.nt("NtQuerySystemInformation", cls, buf, length, pret)
    if st == 0 and cls == 0x00:                      # SYSTEM_BASIC_INFORMATION: HighestUserAddress at +0x20
        # (SystemEmulationBasicInformation is the emulated 32-bit view: the process's own limit, as
        # NtQuerySystemInformation(SystemBasicInformation) gives it — ntdll/wow64.c test_nt_wow64)
        c.write_u32(buf + 0x20, 0xFFFEFFFF)
    elif st == 0 and cls == 0x01:                    # SYSTEM_PROCESSOR_INFORMATION: ProcessorArchitecture
        c.write(buf, struct.pack("<H", 9))           # PROCESSOR_ARCHITECTURE_AMD64
    return st


STATUS_INVALID_INFO_CLASS = 0xC0000003
SYSTEM_NATIVE_BASIC = 0x72
#: the classes WoW64's native query serves: basic, processor, the two emulation classes, native basic
_WOW64_NATIVE_CLASSES = (0x00, 0x01, 0x3E, 0x3F, SYSTEM_NATIVE_BASIC)
NATIVE_BASIC_SIZE = 0x40


def _native_basic64(c, buf, length, pret):
    """SYSTEM_BASIC_INFORMATION in its 64-bit layout (0x40 bytes), built from the 32-bit record the kernel
    gives this process with the native address limits."""
    if length != NATIVE_BASIC_SIZE:
        if pret:
            c.write_u32(pret, NATIVE_BASIC_SIZE)
        return 0xC0000004                           # STATUS_INFO_LENGTH_MISMATCH
    tmp = c.stack_alloc(0x2C)
    st = c.nt("NtQuerySystemInformation", 0, tmp, 0x2C, 0)
    if st:
        return st
    (reserved, timer, page, pages, low, high, gran, min_addr, _max_addr, affinity,
     nproc) = struct.unpack("<11I", c.read(tmp, 0x2C))
    nproc &= 0xFF
    c.write(buf, struct.pack("<6IQQQQB7x", reserved, timer, page, pages, low, high, gran, min_addr,
                             0x7FFFFFFEFFFF, affinity, nproc))
    if pret:
        c.write_u32(pret, NATIVE_BASIC_SIZE)
    return 0


BATTERY_FLAG_HIGH, BATTERY_FLAG_LOW, BATTERY_FLAG_CRITICAL, BATTERY_FLAG_CHARGING = 1, 2, 4, 8
BATTERY_FLAG_NO_BATTERY = 128


@api(K32, "BOOL WINAPI GetSystemPowerStatus(LPSYSTEM_POWER_STATUS lpSystemPowerStatus)")
def GetSystemPowerStatus(c, p):
    """SYSTEM_POWER_STATUS from NtPowerInformation(SystemBatteryState): AC line status, the battery flags
    (no battery: 128, life percent 255 and life times 0xFFFFFFFF unknown)."""
    bs = c.stack_alloc(0x20)
    st = c.nt("NtPowerInformation", 5, 0, 0, bs, 0x20)
    if st:
        c.set_last_nt_error(st)
        return 0
    ac, present, charging, _dis = c.read(bs, 4)
    max_cap, remaining, _rate, est = struct.unpack("<4I", c.read(bs + 8, 16))
    if not present:
        flag, percent, life, full = BATTERY_FLAG_NO_BATTERY, 255, 0xFFFFFFFF, 0xFFFFFFFF
    else:
        percent = min(100, remaining * 100 // max_cap) if max_cap else 255
        flag = (BATTERY_FLAG_HIGH if percent > 66 else 0) | (BATTERY_FLAG_LOW if percent < 33 else 0) | \
            (BATTERY_FLAG_CRITICAL if percent < 5 else 0) | (BATTERY_FLAG_CHARGING if charging else 0)
        life = 0xFFFFFFFF if charging or ac else est
        full = 0xFFFFFFFF
    c.write(p, struct.pack("<4B2I", 1 if ac else 0, flag, percent, 0, life, full))
    return 1


@api("ntdll.dll", "BOOLEAN NTAPI RtlGetProductInfo(DWORD OSMajorVersion, DWORD OSMinorVersion, "
     "DWORD SpMajorVersion, DWORD SpMinorVersion, PDWORD ReturnedProductType)")
def RtlGetProductInfo(c, major, minor, spmaj, spmin, out):
    """The product type (PRODUCT_*) of the installed edition, from the license value Kernel-ProductInfo. A
    NULL output is FALSE; a version before 6.0 (no product types) is FALSE with PRODUCT_UNDEFINED. The last
    error is never touched."""
    if not out:
        return 0
    if major < 6:
        c.write_u32(out, 0)
        return 0
    name = c.unicode_string("Kernel-ProductInfo")
    typ, data, size = c.stack_alloc(4), c.stack_alloc(4), c.stack_alloc(4)
    st = c.nt("NtQueryLicenseValue", name, typ, data, 4, size)
    product = c.u32(data) if st == 0 and c.u32(typ) == 4 else 0xABCDABCD   # PRODUCT_UNLICENSED
    c.write_u32(out, product)
    return 1


@api(K32, "BOOL WINAPI GetProductInfo(DWORD dwOSMajorVersion, DWORD dwOSMinorVersion, DWORD dwSpMajorVersion, "
     "DWORD dwSpMinorVersion, PDWORD pdwReturnedProductType)")
def GetProductInfo(c, major, minor, spmaj, spmin, out):
    return RtlGetProductInfo(c, major, minor, spmaj, spmin, out)


ERROR_MORE_DATA = 234


@api(K32, "BOOL WINAPI GetComputerNameEx%(COMPUTER_NAME_FORMAT NameType, LPTSTR lpBuffer, LPDWORD nSize)")
def GetComputerNameEx(c, fmt, buf, psize):
    """The NetBIOS name (GetComputerName's), the DNS host name (the same name), the DNS domain (the profile's; none
    for a workgroup machine, so "") and the fully qualified name (the host name, no domain); the Physical* forms are
    the same (no cluster). Too small a buffer: ERROR_MORE_DATA with the size needed (with the NUL); success
    stores the length without it."""
    if not psize:
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    host = c.machine.subsystem.get("computer_name", c.machine.profile.host_name.upper())
    domain = c.machine.profile.domain
    names = {0: host.upper(), 1: host, 2: domain, 3: host + ("." + domain if domain else "")}
    fmt &= 0xFFFFFFFF
    if fmt > 7:
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    name = names[fmt & 3]
    data = c.encode_t(name)
    n = len(data) // c.tchar_size()
    if c.u32(psize) <= n or not buf:
        c.write_u32(psize, n + 1)
        c.set_last_error(ERROR_MORE_DATA)
        return 0
    c.write(buf, data + bytes(c.tchar_size()))
    c.write_u32(psize, n)
    return 1


# ============================================================================================ registry quota
@api(K32, "BOOL WINAPI GetSystemRegistryQuota(PDWORD pdwQuotaAllowed, PDWORD pdwQuotaUsed)")
def GetSystemRegistryQuota(c, allowed, used):
    """NtQuerySystemInformation(SystemRegistryQuotaInformation): RegistryQuotaAllowed and RegistryQuotaUsed into
    whichever pointers are given (SYSTEM_REGISTRY_QUOTA_INFORMATION { ULONG; ULONG; SIZE_T PagedPoolSize })."""
    from winhatch.win32.kernel32.threads import nt_failed
    size = 8 + c.ptr_size
    buf = c.stack_alloc(size)
    if nt_failed(c, c.nt("NtQuerySystemInformation", 0x25, buf, size, 0)):
        return 0
    if allowed:
        c.write_u32(allowed, c.u32(buf))
    if used:
        c.write_u32(used, c.u32(buf + 4))
    return 1


# ============================================================================================ sessions
@api(K32, "DWORD WINAPI WTSGetActiveConsoleSessionId(void)")
def WTSGetActiveConsoleSessionId(c):
    """The session attached to the physical console: KUSER_SHARED_DATA.ActiveConsoleId, as kernel32 reads it."""
    from winhatch.kernel.structs import KUSER_SHARED_DATA as KUSD
    return c.u32(KUSER_SHARED_DATA + KUSD.offset(c.arch, "ActiveConsoleId"))


# ============================================================================================ CPU sets
@api(K32, "BOOL WINAPI GetSystemCpuSetInformation(PVOID Information, ULONG BufferLength, PULONG ReturnedLength, "
          "HANDLE Process, ULONG Flags)")
def GetSystemCpuSetInformation(c, info, length, pret, process, flags):
    """NtQuerySystemInformationEx(SystemCpuSetInformation) with the process handle as its input; *ReturnedLength
    is what the service reported (0 when it failed before the output), the status mapped to the last error
    (STATUS_BUFFER_TOO_SMALL: ERROR_INSUFFICIENT_BUFFER). Flags must be 0."""
    if flags:
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    ps = c.ptr_size
    inp, rl = c.stack_alloc(ps), c.stack_alloc(4)
    c.write_ptr(inp, process)
    c.write_u32(rl, 0)
    st = c.nt("NtQuerySystemInformationEx", 0xAF, inp, ps, info, length, rl)
    c.write_u32(pret, c.u32(rl))
    if st & 0x80000000:
        c.set_last_nt_error(st)
        return 0
    return 1


@api(K32, "SIZE_T WINAPI GetLargePageMinimum(void)")
def GetLargePageMinimum(c):
    """KUSER_SHARED_DATA.LargePageMinimum, as kernelbase reads it (2 MiB on an x64 machine)."""
    from winhatch.kernel.structs import KUSER_SHARED_DATA as KUSD
    return c.u32(KUSER_SHARED_DATA + KUSD.offset(c.arch, "LargePageMinimum"))
