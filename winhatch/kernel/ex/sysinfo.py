"""What NtQuerySystemInformation reports about the emulated machine, one builder per information class.

Every builder returns the record(s) in the caller's layout (an x64 process gets the 64-bit structures, a WoW64
process the 32-bit ones its WoW64 layer hands back). The facts come from the machine itself:

- processes and threads: ``machine.processes`` (PsActiveProcessHead) with their threads, ids, times,
  handle tables and address spaces; the list starts with the System Idle Process (pid 0, one thread per
  processor), which Windows lists first although it is no process object;
- handles: every process's handle table;
- processor, memory, clock: the machine's profile (machine.profile: its processors and RAM, what the rest of
  the system uses of that RAM), the emulated clock and its registry's hardware description (HKLM\\HARDWARE\\DESCRIPTION\\System: the Dell OptiPlex 7060
  with an the processor of its profile), from which the SMBIOS firmware table is built;
- kernel modules: the drivers of a Windows 10 22H2 desktop (KERNEL_MODULES below: the names are those
  a Windows 10 22H2 machine loads — ntoskrnl.exe, hal.dll, the boot-start drivers of its Services key and the
  drivers the service control manager lists running (winhatch/win32/advapi32/service_scm.py) — and
  the sizes are rounded values of that build; winhatch runs no kernel-mode code).
"""
from __future__ import annotations

import struct

from winhatch.kernel.structs import (RTL_PROCESS_MODULE_INFORMATION, SYSTEM_HANDLE_TABLE_ENTRY_INFO,
                                     SYSTEM_HANDLE_TABLE_ENTRY_INFO_EX, SYSTEM_PROCESS_INFORMATION,
                                     SYSTEM_PROCESSOR_PERFORMANCE_INFORMATION, SYSTEM_THREAD_INFORMATION)



def commit_limit(machine) -> int:
    return 2 * machine.profile.memory      # RAM plus a page file of the same size
PAGE = 0x1000
#: the clock interrupt period in 100 ns units (Windows' default 15.625 ms)
TIMER_RESOLUTION = 156250
PROCESSOR_ARCHITECTURE_INTEL, PROCESSOR_ARCHITECTURE_AMD64 = 0, 9
PROCESSOR_LEVEL, PROCESSOR_REVISION = 6, 0x9E0A        # Family 6 Model 158 Stepping 10 (Coffee Lake: the i5-8500 and i7-8700)
#: KeFeatureBits of an x64 Windows 10 on that processor (KF_* of the WDK: RDTSC, CR4, CMOV, GLOBAL_PAGE,
#: LARGE_PAGE, MTRR, CMPXCHG8B, MMX, PAT, FXSR, FAST_SYSCALL, XMMI, XMMI64, DTS, NOEXECUTE, RDWRFSGSBASE,
#: XSTATE, CMPXCHG16B, SMEP, ...)
FEATURE_BITS = 0x3D1B2FFF
STATUS_SUCCESS = 0

# ---------------------------------------------------------------------------------------------- basic
def max_user_address(proc) -> int:
    if proc.arch == "x64":
        return 0x7FFFFFFEFFFF
    return 0xFFFEFFFF if large_address_aware(proc) else 0x7FFEFFFF


def large_address_aware(proc) -> bool:
    try:   # IMAGE_FILE_LARGE_ADDRESS_AWARE in the image's file header
        base = proc.image_base
        lfanew = struct.unpack("<I", proc.aspace.read(base + 0x3C, 4))[0]
        chars = struct.unpack("<H", proc.aspace.read(base + lfanew + 0x16, 2))[0]
    except Exception:
        return False
    return bool(chars & 0x20)


def basic_information(machine, proc) -> bytes:
    """SYSTEM_BASIC_INFORMATION (x64: 0x40 bytes, WoW64: 0x2C)."""
    from winhatch.kernel.structs import SYSTEM_BASIC_INFORMATION
    pages = machine.profile.memory // PAGE
    n = machine.profile.cpu_count
    return SYSTEM_BASIC_INFORMATION.pack(
        proc.arch, TimerResolution=TIMER_RESOLUTION, PageSize=PAGE, NumberOfPhysicalPages=pages,
        LowestPhysicalPageNumber=1, HighestPhysicalPageNumber=pages, AllocationGranularity=0x10000,
        MinimumUserModeAddress=0x10000, MaximumUserModeAddress=max_user_address(proc),
        ActiveProcessorsAffinityMask=(1 << n) - 1, NumberOfProcessors=n)


def processor_information(machine, proc, *, emulation: bool = False) -> bytes:
    """SYSTEM_PROCESSOR_INFORMATION: the processor as the caller sees it (a WoW64 process: x86; the emulation
    class asks for the view of a 32-bit process)."""
    arch = PROCESSOR_ARCHITECTURE_INTEL if (proc.arch == "x86" or emulation) else PROCESSOR_ARCHITECTURE_AMD64
    return struct.pack("<HHHHI", arch, PROCESSOR_LEVEL, PROCESSOR_REVISION, machine.profile.cpu_count, FEATURE_BITS)


# ---------------------------------------------------------------------------------------------- time
def _since_boot(machine) -> int:
    return max(0, machine.clock.system_time() - machine.clock.boot_filetime)


def _busy(machine) -> tuple[int, int]:
    """(user, kernel) time of every process's threads, 100 ns units."""
    machine.dispatcher.account_running()
    user = kernel = 0
    for p in machine.processes:     # a process's times include its threads', exited ones too
        u, k = _busy_of(p)
        user += u
        kernel += k
    return user, kernel


def timeofday_information(machine) -> bytes:
    """SYSTEM_TIMEOFDAY_INFORMATION (0x30 bytes): boot time, now, the time-zone bias in effect now (100 ns
    units, UTC - local) and its TIME_ZONE_ID_*, BootTimeBias and SleepTimeBias 0."""
    from winhatch.kernel.structs import SYSTEM_TIMEOFDAY_INFORMATION
    now = machine.clock.system_time()
    bias, zid = machine.time_zone.state(now)
    return SYSTEM_TIMEOFDAY_INFORMATION.pack("x64", BootTime=machine.clock.boot_filetime, CurrentTime=now,
                                             TimeZoneBias=bias * 600_000_000, TimeZoneId=zid)


def processor_performance(machine) -> list[bytes]:
    """One SYSTEM_PROCESSOR_PERFORMANCE_INFORMATION per processor: the guests' user and kernel time spread
    over the processors, the rest of the time since boot idle (KernelTime includes IdleTime, as on
    Windows)."""
    since = _since_boot(machine)
    user, kernel = _busy(machine)
    out = []
    n = machine.profile.cpu_count
    for i in range(n):
        u = user // n
        k = kernel // n
        idle = max(0, since - u - k)
        out.append(SYSTEM_PROCESSOR_PERFORMANCE_INFORMATION.pack(
            "x64", IdleTime=idle, KernelTime=idle + k, UserTime=u, InterruptCount=since // TIMER_RESOLUTION))
    return out


def system_times(machine) -> tuple[int, int, int]:
    """(idle, kernel, user) summed over the processors — GetSystemTimes's figures."""
    recs = [struct.unpack_from("<qqq", r) for r in processor_performance(machine)]
    return sum(r[0] for r in recs), sum(r[1] for r in recs), sum(r[2] for r in recs)


# ---------------------------------------------------------------------------------------------- memory
def commit_figures(machine) -> tuple[int, int]:
    """(bytes committed: what the rest of the system uses (the profile's memory_used) and every live process,
    the peak)."""
    ram = machine.profile.memory
    used = peak = machine.profile.memory_used
    for p in machine.processes:
        if p.exited or p.aspace is None:
            continue
        used += p.aspace.commit_charge
        peak += p.aspace.counters["peak_commit"]
    return min(used, ram), min(peak, ram)


PERFORMANCE_SIZE = 0x158
PERFORMANCE_MIN_SIZE = 0x138


def performance_information(machine) -> bytes:
    """SYSTEM_PERFORMANCE_INFORMATION (0x158 bytes on x64 and WoW64): idle time, the commit figures and the
    system-call count the machine keeps; the cache-manager, pool and paging counters stay 0 (winhatch has no
    cache manager, pool or pager to count)."""
    idle, _, _ = system_times(machine)
    used, peak = commit_figures(machine)
    ram = machine.profile.memory
    buf = bytearray(PERFORMANCE_SIZE)
    struct.pack_into("<q", buf, 0, idle)
    # after the four LARGE_INTEGERs: Io{Read,Write,Other}OperationCount, AvailablePages, CommittedPages,
    # CommitLimit, PeakCommitment
    struct.pack_into("<7I", buf, 0x20, 0, 0, 0, (ram - used) // PAGE, used // PAGE,
                     commit_limit(machine) // PAGE, peak // PAGE)
    struct.pack_into("<I", buf, 0x134, machine.services.calls & 0xFFFFFFFF)    # SystemCalls
    struct.pack_into("<q", buf, 0x148, (ram - used) // PAGE)       # ResidentAvailablePages
    return bytes(buf)


# ---------------------------------------------------------------------------------------------- processes
# KTHREAD_STATE and KWAIT_REASON values (wdm.h)
THREAD_READY, THREAD_RUNNING, THREAD_TERMINATED, THREAD_WAITING = 1, 2, 4, 5
WAIT_EXECUTIVE, WAIT_SUSPENDED, WAIT_USER_REQUEST = 0, 5, 6


def _thread_state(thread, running) -> tuple[int, int]:
    if thread.terminated:
        return THREAD_TERMINATED, WAIT_EXECUTIVE
    if thread is running:
        return THREAD_RUNNING, WAIT_EXECUTIVE
    if thread.suspend_count:
        return THREAD_WAITING, WAIT_SUSPENDED
    if thread.wait is not None:
        return THREAD_WAITING, WAIT_USER_REQUEST
    return THREAD_READY, WAIT_EXECUTIVE


def process_list(machine, caller_thread) -> list[tuple[dict, list[dict], str]]:
    """(process fields, thread field dicts, image name) for the Idle process and every live process."""
    machine.dispatcher.account_running()
    since = _since_boot(machine)
    out = []
    # the idle threads (one per processor) have client id (0, 0)
    n = machine.profile.cpu_count
    # each idle thread runs ntoskrnl's idle loop on its processor's kernel stack (KERNEL_STACK_SIZE 0x6000), in
    # the kernel address range of the module list below; it has no TEB
    idle_threads = [dict(KernelTime=since, CreateTime=0, ClientId={"UniqueProcess": 0, "UniqueThread": 0},
                         ThreadState=THREAD_RUNNING if i else THREAD_READY, WaitReason=WAIT_EXECUTIVE,
                         StartAddress=KERNEL_BASE + KI_IDLE_LOOP_RVA,
                         _extended=dict(StackBase=IDLE_STACKS + (i + 1) * KERNEL_STACK_SIZE,
                                        StackLimit=IDLE_STACKS + i * KERNEL_STACK_SIZE,
                                        Win32StartAddress=KERNEL_BASE + KI_IDLE_LOOP_RVA, TebBase=0))
                    for i in range(n)]
    out.append((dict(KernelTime=since * n), idle_threads, ""))
    for p in machine.processes:
        if p.exited:
            continue
        threads = []
        for t in p.threads:
            if t.terminated:
                continue
            state, reason = _thread_state(t, caller_thread)
            threads.append(dict(
                KernelTime=t.kernel_time, UserTime=t.user_ns // 100, CreateTime=t.creation_time,
                StartAddress=t.start_address, ClientId={"UniqueProcess": p.pid, "UniqueThread": t.tid},
                Priority=t.priority, BasePriority=p.base_priority, ThreadState=state, WaitReason=reason,
                _extended=dict(StackBase=t.stack.base if t.stack else 0, StackLimit=t.stack.limit if t.stack else 0,
                               Win32StartAddress=t.start_address,
                               TebBase=getattr(t, "teb64", 0) if p.arch == "x86" else t.teb)))
        a = p.aspace
        if a is not None:
            virtual = sum(r.RegionSize for r in a.regions() if r.State != 0x10000)
            private = a.commit_charge
            peak = a.counters["peak_commit"]
        else:
            virtual = private = peak = 0
        user, kernel = _busy_of(p)
        fields = dict(
            NumberOfThreadsHighWatermark=len(p.threads), CreateTime=p.creation_time, UserTime=user,
            KernelTime=kernel, BasePriority=p.base_priority, UniqueProcessId=p.pid,
            InheritedFromUniqueProcessId=p.inherited_from_pid, HandleCount=len(p.handles),
            SessionId=0 if p.parent is None else p.session_id, UniqueProcessKey=p.pid,
            PeakVirtualSize=virtual, VirtualSize=virtual, PeakWorkingSetSize=peak, WorkingSetSize=private,
            WorkingSetPrivateSize=private, PagefileUsage=private, PeakPagefileUsage=peak, PrivatePageCount=private)
        out.append((fields, threads, p.image_name or ""))
    return out


def _busy_of(p) -> tuple[int, int]:
    return p.user_ns // 100, p.kernel_time


def process_information(machine, thread, base: int, *, extended: bool = False) -> bytes:
    """SYSTEM_PROCESS_INFORMATION records laid out for a buffer at guest address `base`: each record, its
    SYSTEM_THREAD_INFORMATION array (SYSTEM_EXTENDED_THREAD_INFORMATION for SystemExtendedProcessInformation:
    stack, Win32 start address, TEB), then its image name (UTF-16, NUL-terminated); records 8-aligned,
    NextEntryOffset 0 in the last."""
    from winhatch.kernel.structs import SYSTEM_EXTENDED_THREAD_INFORMATION
    arch = thread.process.arch
    psize = SYSTEM_PROCESS_INFORMATION.size(arch)
    tstruct = SYSTEM_EXTENDED_THREAD_INFORMATION if extended else SYSTEM_THREAD_INFORMATION
    tsize = tstruct.size(arch)
    recs = process_list(machine, thread)
    out = bytearray()
    for i, (fields, threads, name) in enumerate(recs):
        start = len(out)
        name_off = psize + tsize * len(threads)
        raw_name = name.encode("utf-16-le")
        size = (name_off + (len(raw_name) + 2 if name else 0) + 7) & ~7
        fields = dict(fields, NumberOfThreads=len(threads),
                      ImageName={"Length": len(raw_name), "MaximumLength": len(raw_name) + 2,
                                 "Buffer": base + start + name_off} if name else {},
                      NextEntryOffset=size if i + 1 < len(recs) else 0)
        rec = bytearray(size)
        rec[:psize] = SYSTEM_PROCESS_INFORMATION.pack(arch, **fields)
        for j, t in enumerate(threads):
            t = dict(t)
            ext = t.pop("_extended", {})
            if arch == "x86":   # kernel addresses as a WoW64 caller's 32-bit fields hold them
                ext = {k: v & 0xFFFFFFFF for k, v in ext.items()}
                t["StartAddress"] = t.get("StartAddress", 0) & 0xFFFFFFFF
            packed = tstruct.pack(arch, ThreadInfo=t, **ext) if extended else tstruct.pack(arch, **t)
            rec[psize + j * tsize: psize + (j + 1) * tsize] = packed
        if name:
            rec[name_off:name_off + len(raw_name)] = raw_name
        out += rec
    return bytes(out)


# ---------------------------------------------------------------------------------------------- handles
#: object type indices of Windows 10 22H2 (ObTypeIndexTable order: ObjectTypesInformation lists them from 2)
TYPE_INDEX = {"Type": 2, "Directory": 3, "SymbolicLink": 4, "Token": 5, "Job": 6, "Process": 7, "Thread": 8,
              "Partition": 9, "UserApcReserve": 10, "IoCompletionReserve": 11, "ActivityReference": 12,
              "PsSiloContextPaged": 13, "PsSiloContextNonPaged": 14, "DebugObject": 15, "Event": 16,
              "Mutant": 17, "Callback": 18, "Semaphore": 19, "Timer": 20, "IRTimer": 21, "Profile": 22,
              "KeyedEvent": 23, "WindowStation": 24, "Desktop": 25, "Composition": 26, "RawInputManager": 27,
              "CoreMessaging": 28, "TpWorkerFactory": 30, "Adapter": 31, "Controller": 32, "Device": 33,
              "Driver": 34, "IoCompletion": 35, "WaitCompletionPacket": 36, "File": 37, "TmTm": 38, "TmTx": 39,
              "TmRm": 40, "TmEn": 41, "Section": 42, "Session": 43, "Key": 44, "RegistryTransaction": 45,
              "ALPC Port": 46}
OBJ_INHERIT, OBJ_PROTECT_CLOSE = 0x2, 0x1
_KERNEL_OBJECT_BASE = 0xFFFFA50000000000


def object_address(machine, obj) -> int:
    """A stable kernel address for an object (its OBJECT_HEADER body), unique in the machine: what the
    handle lists show as Object. A WoW64 caller gets it truncated to 32 bits, as WoW64 hands it back."""
    addr = getattr(obj, "_kernel_address", None)
    if addr is None:
        n = machine.subsystem_counter = getattr(machine, "subsystem_counter", 0) + 1
        addr = _KERNEL_OBJECT_BASE + n * 0x80 + 0x30
        obj._kernel_address = addr
    return addr


def handle_entries(machine) -> list[dict]:
    out = []
    for p in machine.processes:
        if p.exited:
            continue
        for h, e in p.handles.entries():
            out.append(dict(UniqueProcessId=p.pid, HandleValue=h, Object=object_address(machine, e.obj),
                            GrantedAccess=e.access, ObjectTypeIndex=TYPE_INDEX.get(e.obj.type_name, 0),
                            HandleAttributes=(OBJ_INHERIT if e.inherit else 0)
                            | (OBJ_PROTECT_CLOSE if e.protect_from_close else 0)))
    return out


def handle_information(machine, arch: str) -> bytes:
    """SYSTEM_HANDLE_INFORMATION: ULONG NumberOfHandles, then the entries (pointer-aligned)."""
    ents = handle_entries(machine)
    mask = (1 << (32 if arch == "x86" else 64)) - 1
    head = struct.pack("<I", len(ents)) + (b"\0" * 4 if arch == "x64" else b"")
    return head + b"".join(SYSTEM_HANDLE_TABLE_ENTRY_INFO.pack(
        arch, **dict(e, UniqueProcessId=e["UniqueProcessId"] & 0xFFFF, HandleValue=e["HandleValue"] & 0xFFFF,
                     Object=e["Object"] & mask)) for e in ents)


def extended_handle_information(machine, arch: str) -> bytes:
    """SYSTEM_HANDLE_INFORMATION_EX: ULONG_PTR NumberOfHandles, ULONG_PTR Reserved, then the entries."""
    ents = handle_entries(machine)
    mask = (1 << (32 if arch == "x86" else 64)) - 1
    head = struct.pack("<QQ" if arch == "x64" else "<II", len(ents), 0)
    return head + b"".join(SYSTEM_HANDLE_TABLE_ENTRY_INFO_EX.pack(arch, **dict(e, Object=e["Object"] & mask))
                           for e in ents)


# ---------------------------------------------------------------------------------------------- modules
#: the kernel modules of a Windows 10 22H2 (19045) desktop in load order: (path, size)
KERNEL_MODULES = [
    ("\\SystemRoot\\system32\\ntoskrnl.exe", 0x1047000), ("\\SystemRoot\\system32\\hal.dll", 0xA6000),
    ("\\SystemRoot\\system32\\kd.dll", 0xB000), ("\\SystemRoot\\system32\\mcupdate_GenuineIntel.dll", 0x3A8000),
    ("\\SystemRoot\\System32\\drivers\\msrpc.sys", 0x60000), ("\\SystemRoot\\System32\\drivers\\ksecdd.sys", 0x2B000),
    ("\\SystemRoot\\System32\\drivers\\werkernel.sys", 0x11000), ("\\SystemRoot\\System32\\drivers\\CLFS.SYS", 0x6A000),
    ("\\SystemRoot\\System32\\drivers\\tm.sys", 0x27000), ("\\SystemRoot\\system32\\PSHED.dll", 0x19000),
    ("\\SystemRoot\\system32\\BOOTVID.dll", 0xB000), ("\\SystemRoot\\System32\\drivers\\FLTMGR.SYS", 0x6E000),
    ("\\SystemRoot\\System32\\drivers\\cmimcext.sys", 0xE000), ("\\SystemRoot\\System32\\drivers\\ntosext.sys", 0xC000),
    ("\\SystemRoot\\system32\\CI.dll", 0xD4000), ("\\SystemRoot\\System32\\drivers\\cng.sys", 0xBA000),
    ("\\SystemRoot\\system32\\drivers\\Wdf01000.sys", 0xD4000), ("\\SystemRoot\\System32\\drivers\\ACPI.sys", 0xD3000),
    ("\\SystemRoot\\System32\\drivers\\WMILIB.SYS", 0xC000), ("\\SystemRoot\\System32\\drivers\\pci.sys", 0x73000),
    ("\\SystemRoot\\System32\\drivers\\volmgr.sys", 0x1B000), ("\\SystemRoot\\System32\\drivers\\volmgrx.sys", 0x63000),
    ("\\SystemRoot\\System32\\drivers\\storport.sys", 0xBC000), ("\\SystemRoot\\System32\\drivers\\stornvme.sys", 0x31000),
    ("\\SystemRoot\\System32\\drivers\\disk.sys", 0x1D000), ("\\SystemRoot\\System32\\Drivers\\mup.sys", 0x27000),
    ("\\SystemRoot\\system32\\drivers\\wd\\WdFilter.sys", 0x6F000),
    ("\\SystemRoot\\System32\\Drivers\\Ntfs.sys", 0x2F3000), ("\\SystemRoot\\System32\\Drivers\\NDIS.SYS", 0x165000),
    ("\\SystemRoot\\System32\\drivers\\tcpip.sys", 0x2D6000), ("\\SystemRoot\\System32\\DRIVERS\\e1i65x64.sys", 0xCD000),
    ("\\SystemRoot\\System32\\drivers\\dxgkrnl.sys", 0x3D4000), ("\\SystemRoot\\System32\\DriverStore\\FileRepository"
                                                                  "\\iigd_dch.inf_amd64_b2e1a0b4e4e1a2e9\\igdkmd64.sys",
                                                                  0x1295000),
    ("\\SystemRoot\\System32\\win32k.sys", 0x92000), ("\\SystemRoot\\System32\\win32kbase.sys", 0x2A5000),
    ("\\SystemRoot\\System32\\win32kfull.sys", 0x3B9000),
    # the drivers started after boot that the services list shows running (winhatch/kernel/cm/scm_services.json)
    ("\\SystemRoot\\system32\\drivers\\nsiproxy.sys", 0x13000), ("\\SystemRoot\\system32\\DRIVERS\\rdbss.sys", 0x7E000),
    ("\\SystemRoot\\system32\\drivers\\afd.sys", 0xA5000), ("\\SystemRoot\\system32\\DRIVERS\\mrxsmb20.sys", 0x47000),
    ("\\SystemRoot\\system32\\DRIVERS\\bowser.sys", 0x27000), ("\\SystemRoot\\System32\\drivers\\mpsdrv.sys", 0x18000),
    ("\\SystemRoot\\system32\\drivers\\HTTP.sys", 0x1A0000), ("\\SystemRoot\\System32\\DRIVERS\\srvnet.sys", 0x67000),
    ("\\SystemRoot\\System32\\DRIVERS\\srv2.sys", 0xD5000), ("\\SystemRoot\\system32\\drivers\\wd\\WdNisDrv.sys", 0x1E000),
]
KERNEL_BASE = 0xFFFFF80562000000
#: where ntoskrnl's idle loop lies in its image, and the idle threads' kernel stacks (one per processor)
KI_IDLE_LOOP_RVA = 0x1FD430
IDLE_STACKS = 0xFFFFF8056B200000
KERNEL_STACK_SIZE = 0x6000


def module_information_ex(arch: str) -> bytes:
    """RTL_PROCESS_MODULE_INFORMATION_EX records (SystemModuleInformationEx): USHORT NextOffset, the
    RTL_PROCESS_MODULE_INFORMATION (pointer-aligned), ImageChecksum, TimeDateStamp, DefaultBase; the list
    ends with a lone NextOffset of 0 (its size counts in the length)."""
    plain = module_information(arch)
    ps = 8 if arch == "x64" else 4
    rsize = RTL_PROCESS_MODULE_INFORMATION.size(arch)
    base_off = ps                                            # NextOffset, then pointer alignment
    size = (base_off + rsize + 8 + ps + ps - 1) & ~(ps - 1)
    out = bytearray()
    for i in range(len(KERNEL_MODULES)):
        info = plain[ps + i * rsize: ps + (i + 1) * rsize]
        image_base = int.from_bytes(info[2 * ps:3 * ps], "little")
        rec = bytearray(size)
        struct.pack_into("<H", rec, 0, size)
        rec[base_off:base_off + rsize] = info
        struct.pack_into("<II", rec, base_off + rsize, 0, 0)
        rec[base_off + rsize + 8:base_off + rsize + 8 + ps] = image_base.to_bytes(ps, "little")
        out += rec
    return bytes(out) + struct.pack("<H", 0)


def module_information(arch: str) -> bytes:
    """RTL_PROCESS_MODULES: ULONG NumberOfModules, then RTL_PROCESS_MODULE_INFORMATION each (pointer-aligned).
    A WoW64 caller gets the image bases as 0 (its layer cannot represent kernel addresses)."""
    recs = []
    addr = KERNEL_BASE
    for i, (path, size) in enumerate(KERNEL_MODULES):
        raw = path.encode("ascii")
        recs.append(RTL_PROCESS_MODULE_INFORMATION.pack(
            arch, ImageBase=addr if arch == "x64" else 0, ImageSize=size, Flags=0x08804000,
            LoadOrderIndex=i, InitOrderIndex=0, LoadCount=1, OffsetToFileName=raw.rfind(b"\\") + 1,
            FullPathName=raw))
        addr = (addr + size + 0x1FFFFF) & ~0xFFFFF
    head = struct.pack("<I", len(recs)) + (b"\0" * 4 if arch == "x64" else b"")
    return head + b"".join(recs)


# ---------------------------------------------------------------------------------------------- firmware
def _reg(machine, path: str, name: str, default: str) -> str:
    v = machine.registry.get(path, name, None)
    return v if isinstance(v, str) and v else default


def _smbios_struct(stype: int, handle: int, formatted: bytes, strings: list[str]) -> bytes:
    body = struct.pack("<BBH", stype, 4 + len(formatted), handle) + formatted
    if not strings:
        return body + b"\0\0"
    return body + b"".join(s.encode("ascii", "replace") + b"\0" for s in strings) + b"\0"


def smbios_tables(machine) -> bytes:
    """The SMBIOS 3.1 structure table of the machine the registry describes (HKLM\\HARDWARE\\DESCRIPTION\\
    System\\BIOS, ...\\CentralProcessor\\0): BIOS (type 0), system (1), baseboard (2), chassis (3), processor
    (4), one DDR4 module holding the machine's memory (17), end (127)."""
    bios = "HKLM\\HARDWARE\\DESCRIPTION\\System\\BIOS"
    cpu = "HKLM\\HARDWARE\\DESCRIPTION\\System\\CentralProcessor\\0"
    vendor = _reg(machine, bios, "BIOSVendor", "Dell Inc.")
    version = _reg(machine, bios, "BIOSVersion", "1.22.0")
    maker = _reg(machine, bios, "SystemManufacturer", "Dell Inc.")
    product = _reg(machine, bios, "SystemProductName", "OptiPlex 7060")
    cpu_name = _reg(machine, cpu, "ProcessorNameString", machine.profile.cpu_brand)
    mhz = machine.registry.get(cpu, "~MHz", machine.profile.cpu_mhz)
    n = machine.profile.cpu_count
    serial = "7H2KQ92"
    uuid = bytes.fromhex("4c4c4544003710488038b7c04f4b5132")   # Dell's service-tag derived form
    t = [
        _smbios_struct(0, 0x0000, struct.pack("<BBHBBQBBBBBB", 1, 2, 0xF000, 3, 0xFF, 0x0B_9813_9A90, 0x03, 0x0D,
                                              1, 22, 0xFF, 0xFF) + struct.pack("<H", 32),
                       [vendor, version, "07/13/2021"]),
        _smbios_struct(1, 0x0100, struct.pack("<BBBB", 1, 2, 0, 3) + uuid + struct.pack("<BBB", 6, 4, 5),
                       [maker, product, serial, "085A", "OptiPlex"]),
        _smbios_struct(2, 0x0200, struct.pack("<BBBBBBBHBB", 1, 2, 3, 4, 0, 0x09, 0, 0x0300, 0x0A, 0),
                       [maker, "0C96W1", "A02", "/7H2KQ92/CNCMK0098J00S9/"]),
        _smbios_struct(3, 0x0300, struct.pack("<BBBBBBBBBIBBBB", 1, 0x03, 0, 2, 0, 3, 3, 3, 3, 0x01010101, 0, 1, 0, 3),
                       [maker, serial]),
        _smbios_struct(4, 0x0400, struct.pack("<BBBBQBBHHHBBHHHBBBBBBHHHHH", 1, 3, 0xC6, 2, 0xBFEBFBFF000906EA, 3,
                                              0x8B, 100, 4600, int(mhz), 0x41, 0x2C, 0x0700, 0x0701, 0x0702, 0, 0,
                                              0, n, n, n, 0x00FC, 0xC6, n, n, n),
                       ["U3E1", "Intel(R) Corporation", cpu_name]),
        _smbios_struct(17, 0x1100, struct.pack("<HHHHHBBBBBHH", 0x1000, 0xFFFE, 64, 64, machine.profile.memory >> 20,
                                               0x09, 0, 1, 2, 0x1A,
                                               0x0080, 2666) + struct.pack("<BBBB", 3, 4, 5, 6),
                       ["DIMM1", "Not Specified", "SK Hynix", "62E1A3F2", "01234567", "HMA81GU6CJR8N-VK"]),
        _smbios_struct(127, 0x7F00, b"", []),
    ]
    return b"".join(t)


def raw_smbios(machine) -> bytes:
    """RawSMBIOSData: Used20CallingMethod, SMBIOSMajorVersion, SMBIOSMinorVersion, DmiRevision, Length,
    then the structure table — what GetSystemFirmwareTable('RSMB', 0, ...) returns."""
    table = smbios_tables(machine)
    return struct.pack("<BBBBI", 0, 3, 1, 0, len(table)) + table


def _acpi_table(sig: bytes, revision: int, body: bytes) -> bytes:
    length = 36 + len(body)
    head = bytearray(sig + struct.pack("<IB", length, revision) + b"\0" + b"DELL  " + b"CBX3    "
                     + struct.pack("<I", 0x01072009) + b"AMI " + struct.pack("<I", 0x00010013))
    data = head + body
    data[9] = (-sum(data)) & 0xFF      # the checksum makes the table's bytes sum to 0
    return bytes(data)


def acpi_tables(machine) -> dict[bytes, bytes]:
    """The ACPI tables the ACPI provider serves, by signature: FACP, APIC (one local APIC per processor and
    an I/O APIC), HPET, MCFG. Their headers name the machine's firmware (OEM "DELL  ", table "CBX3")."""
    apic = struct.pack("<II", 0xFEE00000, 1)
    for i in range(machine.profile.cpu_count):
        apic += struct.pack("<BBBBI", 0, 8, i + 1, i * 2, 1)
    apic += struct.pack("<BBBBII", 1, 12, 2, 0, 0xFEC00000, 0)
    return {
        b"FACP": _acpi_table(b"FACP", 6, bytes(244)),
        b"APIC": _acpi_table(b"APIC", 4, apic),
        b"HPET": _acpi_table(b"HPET", 1, struct.pack("<IBBBQHB", 0x8086A201, 0, 0, 0, 0xFED00000, 0x37EE, 0)),
        b"MCFG": _acpi_table(b"MCFG", 1, bytes(8) + struct.pack("<QHBBI", 0xE0000000, 0, 0, 0xFF, 0)),
    }


# ---------------------------------------------------------------------------------------------- topology
RelationProcessorCore, RelationNumaNode, RelationCache, RelationProcessorPackage, RelationGroup = 0, 1, 2, 3, 4
RelationAll = 0xFFFF


def _group_affinity(arch: str, mask: int) -> bytes:
    return struct.pack("<QH6x", mask, 0) if arch == "x64" else struct.pack("<IH6x", mask, 0)


def _processor_ex(arch: str, relationship: int, mask: int) -> bytes:
    body = struct.pack("<BB20xH", 0, 0, 1) + _group_affinity(arch, mask)
    return struct.pack("<II", relationship, 8 + len(body)) + body


CacheUnified, CacheInstruction, CacheData = 0, 1, 2


def caches(machine) -> list[tuple[int, int, int, int, int, int]]:
    """The caches of the profile's Coffee Lake processor (one logical processor per core): (level,
    associativity, line size, size, PROCESSOR_CACHE_TYPE, processor mask) — per core a 32 KB 8-way L1 data
    and L1 instruction cache and a 256 KB 4-way L2, and one 12-way L3 of 1.5 MB per core shared by all."""
    n = machine.profile.cpu_count
    out = []
    for i in range(n):
        out += [(1, 8, 64, 32 << 10, CacheData, 1 << i), (1, 8, 64, 32 << 10, CacheInstruction, 1 << i),
                (2, 4, 64, 256 << 10, CacheUnified, 1 << i)]
    out.append((3, 12, 64, n * (1536 << 10), CacheUnified, (1 << n) - 1))
    return out


def _ex_record(relationship: int, body: bytes) -> bytes:
    return struct.pack("<II", relationship, 8 + len(body)) + body


def logical_processor_ex(machine, arch: str, relationship: int) -> bytes | None:
    """SYSTEM_LOGICAL_PROCESSOR_INFORMATION_EX records for a relationship, in the order Windows lists them
    for RelationAll (cores, NUMA nodes, caches, packages, groups): one core record per processor (one
    logical processor each), NUMA node 0 holding every processor, the caches above, one package, one group.
    The relationships Windows 11 added (die, NUMA node ex, module: 5-7) select nothing on Windows 10 (an
    empty answer); None for any other value (STATUS_INVALID_PARAMETER)."""
    n = machine.profile.cpu_count
    everyone = (1 << n) - 1
    if relationship == RelationAll:
        return b"".join(logical_processor_ex(machine, arch, r) for r in
                        (RelationProcessorCore, RelationNumaNode, RelationCache, RelationProcessorPackage,
                         RelationGroup))
    if relationship == RelationProcessorCore:
        return b"".join(_processor_ex(arch, relationship, 1 << i) for i in range(n))
    if relationship == RelationProcessorPackage:
        return _processor_ex(arch, relationship, everyone)
    if relationship == RelationNumaNode:
        # NodeNumber, Reserved[20] (19041: no GroupCount yet), GroupMask
        return _ex_record(relationship, struct.pack("<I20x", 0) + _group_affinity(arch, everyone))
    if relationship == RelationCache:
        return b"".join(_ex_record(relationship, struct.pack("<BBHII20x", lvl, assoc, line, size, typ)
                                   + _group_affinity(arch, mask))
                        for lvl, assoc, line, size, typ, mask in caches(machine))
    if relationship == RelationGroup:
        # MaximumGroupCount, ActiveGroupCount, Reserved[20], PROCESSOR_GROUP_INFO {MaximumProcessorCount,
        # ActiveProcessorCount, Reserved[38], ActiveProcessorMask}
        info = struct.pack("<BB38x", n, n) + (struct.pack("<Q", everyone) if arch == "x64"
                                               else struct.pack("<I", everyone))
        return _ex_record(relationship, struct.pack("<HH20x", 1, 1) + info)
    if relationship in (5, 6, 7):
        return b""
    return None


def logical_processor(machine, arch: str) -> bytes:
    """SYSTEM_LOGICAL_PROCESSOR_INFORMATION array (x64: 32 bytes each, x86: 24): the cores, the package,
    the NUMA node 0 holding every processor and the caches."""
    n = machine.profile.cpu_count
    pf = "<QI4x" if arch == "x64" else "<II"

    def rec(mask: int, rel: int, payload: bytes) -> bytes:
        return struct.pack(pf, mask, rel) + payload.ljust(16, b"\0")
    out = [rec(1 << i, RelationProcessorCore, b"\0") for i in range(n)]
    out.append(rec((1 << n) - 1, RelationProcessorPackage, b""))
    out.append(rec((1 << n) - 1, RelationNumaNode, struct.pack("<I", 0)))
    out += [rec(mask, RelationCache, struct.pack("<BBHII", lvl, assoc, line, size, typ))
            for lvl, assoc, line, size, typ, mask in caches(machine)]
    return b"".join(out)


# ---------------------------------------------------------------------------------------------- cpu sets
CPU_SET_SIZE = 32


def cpu_set_information(machine) -> bytes:
    """SYSTEM_CPU_SET_INFORMATION per logical processor (32 bytes each): Size, Type CpuSetInformation (0), then
    the set: Id 0x100 + index, group 0, the logical processor's index, its core (one logical processor per
    core in winhatch's topology), last-level cache 0, NUMA node 0, efficiency class 0, no flags, no tag."""
    out = []
    for i in range(machine.profile.cpu_count):
        out.append(struct.pack("<IIIHBBBBBBIQ", CPU_SET_SIZE, 0, 0x100 + i, 0, i, i, 0, 0, 0, 0, 0, 0))
    return b"".join(out)


# ---------------------------------------------------------------------------------------------- small records
SESSION_MANAGER = "HKLM\\SYSTEM\\CurrentControlSet\\Control\\Session Manager"


def global_flag(machine) -> int:
    """NtGlobalFlag: the Session Manager's GlobalFlag value the kernel read at boot (0 when absent)."""
    v = machine.registry.get(SESSION_MANAGER, "GlobalFlag", 0)
    return v & 0xFFFFFFFF if isinstance(v, int) else 0


def file_cache_information(arch: str) -> bytes:
    """SYSTEM_FILECACHE_INFORMATION (x64 0x40 bytes, WoW64 0x24): the system cache's working set. winhatch
    has no cache manager: nothing is cached (sizes, faults and transition counts 0) and no limits are set
    (Flags 0)."""
    if arch == "x64":
        return struct.pack("<QQI4xQQQQII", 0, 0, 0, 0, 0, 0, 0, 0, 0)
    return struct.pack("<9I", 0, 0, 0, 0, 0, 0, 0, 0, 0)


def interrupt_information(machine) -> bytes:
    """SYSTEM_INTERRUPT_INFORMATION per processor (24 bytes): context switches (the dispatcher's count spread
    over the processors), no DPCs (winhatch runs no drivers), the clock's time increment."""
    n = machine.profile.cpu_count
    switches = getattr(machine.dispatcher, "switches", 0)
    return b"".join(struct.pack("<6I", (switches // n) & 0xFFFFFFFF, 0, 0, TIMER_RESOLUTION, 0, 0)
                    for _ in range(n))


def time_adjustment_information(machine) -> bytes:
    """SYSTEM_QUERY_TIME_ADJUST_INFORMATION (12 bytes): TimeAdjustment, TimeIncrement (both the clock period:
    no adjustment is applied), TimeAdjustmentDisabled TRUE (the clock is not adjusted; SetSystemTimeAdjustment
    needs SeSystemtimePrivilege)."""
    return struct.pack("<IIB3x", TIMER_RESOLUTION, TIMER_RESOLUTION, 1)


def registry_size(machine) -> int:
    """The size of the machine's hives as cells: a key node (0x50 bytes and its name), a value (0x18 bytes,
    its name and its data) each rounded to 8 — what CmpGlobalQuotaUsed counts."""
    total = 0
    reg = machine.registry
    for key in reg.iter_keys():
        total += (0x50 + 2 * len(key.name) + 7) & ~7
        for name in key.value_names():
            try:
                _typ, data = key.query_value(name)
            except Exception:
                data = b""
            total += (0x18 + 2 * len(name) + 7) & ~7
            if len(data) > 4:
                total += (len(data) + 7) & ~7
    return total


def registry_quota_information(machine, arch: str) -> bytes:
    """SYSTEM_REGISTRY_QUOTA_INFORMATION: RegistryQuotaAllowed (no quota since Windows Vista: 0xFFFFFFFF),
    RegistryQuotaUsed (the hives' cells), PagedPoolSize (the paged pool's limit: the commit limit, below
    Windows 10's 384 GB ceiling; a WoW64 caller gets it truncated to its ULONG_PTR)."""
    used = min(registry_size(machine), 0xFFFFFFFF)
    pool = commit_limit(machine)
    if arch == "x64":
        return struct.pack("<IIQ", 0xFFFFFFFF, used, pool)
    return struct.pack("<III", 0xFFFFFFFF, used, pool & 0xFFFFFFFF)


# ---------------------------------------------------------------------------------------------- time zone
def time_zone_information(machine) -> bytes:
    """RTL_TIME_ZONE_INFORMATION (172 bytes) of the machine's zone (winhatch.kernel.ex.timezone), the rule of
    the current year; the names as the kernel keeps them (Windows 10: tzres.dll indirect strings where known)."""
    tz = machine.time_zone
    return tz.rtl_information(tz.year_of(machine.clock.system_time()))


def dynamic_time_zone_information(machine) -> bytes:
    """RTL_DYNAMIC_TIME_ZONE_INFORMATION (432 bytes): the above, TimeZoneKeyName, DynamicDaylightTimeDisabled."""
    tz = machine.time_zone
    return tz.rtl_dynamic_information(tz.year_of(machine.clock.system_time()))
