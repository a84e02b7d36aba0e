"""NtQuerySystemInformation's explicit class table (winhatch/kernel/ex/sysinfo_classes.py) and the records and
services added with it (tests/fixtures/src/sys_sysclasses.c): every class's size probe is answered (the set-only
classes STATUS_INVALID_INFO_CLASS, the obsolete ones STATUS_NOT_IMPLEMENTED), the records Windows 10 returns for
flags / file cache / interrupts / time adjustment / registry quota / shared-data alignment / module list ex / CPU
sets / logical-processor caches and groups, NtSetSystemInformation's privilege check, NtPowerInformation's
processor records, ProcessIoCounters, client ids with tag bits, the WoW64 native view, GDT selector entries.
The expectations are Windows 10's answers as recorded by Wine's conformance tests (ntdll/info.c, ntdll/wow64.c;
Wine itself differs in places: SystemKernelDebuggerInformationEx, the WoW64 native view, selector statuses)."""
from __future__ import annotations

from winhatch import runner
from winhatch.kernel.ex import sysinfo_classes as T


def _lines(build_fixture, arch) -> list[str]:
    res = runner.run(build_fixture("sys_sysclasses.c", arch), [], max_instructions=50_000_000)
    assert res.error is None, res.error
    assert res.exit_status == 0
    return res.stdout.decode("latin-1").replace("\r\n", "\n").splitlines()


COMMON = [
    "probe: mismatch>150=1 invalid>60=1 notimpl=14",
    "set-only 0x26: c0000003",
    "obsolete 0x04: c0000002",
    "context switch short: c0000004 len=48",
    "null buffer: c0000005",
    "flags: 00000000 len=4 value=0",
    "interrupts: 00000000 increment=156250",
    "time adjustment: 00000000 len=12 adjust=156250 incr=156250 disabled=1",
    "time adjustment 13: c0000004 len=12",
    "set time adjustment: c0000061",            # a standard user lacks SeSystemtimePrivilege
    "set time adjustment 7: c0000004",
    "alignment: 00000000 len=4 value=64",
    "modules ex probe: c0000004",
    "modules ex: 00000000 n>10=1 size ok=1",
    "cpu sets small: c0000023 len=192",         # the default profile's 6 processors, 32 bytes each
    "cpu sets: 00000000 size=32 id=100 lp1=1",
    "cpu sets bad handle: c0000008",
    "cpu sets plain: c000000d",
    "lpi ex: all=sum 1 cache>0=1 group>0=1 die=00000000 len=0",
    "lpi ex first cache: level=1 assoc=8 line=64 size=32768 type=2",
    "processor power short: c0000023",
    "processor power: 00000000 number1=1 mhz=3000",
    "io counters bad length null handle: c0000004",
    "io counters: 00000000 len=48",
    "open pid+3: 00000000 same=1",
    "native cpu: 00000000 arch=9",
    "selector 0x23: 00000000 len=8 type=1b",
    "selector 0x63: c0000001 len=dead",
    "selector 0x0f: c0000117",
    "selector size 13: c0000004",
    "priority null buffer: c0000005",           # the output is probed before the handle
    "priority 4: c0000004",
    "priority: 00000000 class=5",               # PROCESS_PRIOCLASS_BELOW_NORMAL
    "image info: 00000000 subsystem=1",
    "image info short: c0000004",
    "stack allocation: 00000000 reserved=1 size=1",
    "stack allocation short: c0000004",
    "instrumentation 0: c0000004",
    "instrumentation clear: 00000000",
    "process affinity 2: 00000000 cpu=1",       # the thread follows the process's affinity
    "thread affinity outside: c000000d",
    "process affinity 0: c000000d",
    "thread on processor 3: cpu=3",
    "kuser: 00000000 type=20000",               # KUSER_SHARED_DATA is reported MEM_PRIVATE
    "mapped name 4: c0000004 needed=1",        # short of the UNICODE_STRING, the size needed returned
    "ideal processor query: c0000003",          # set-only
    "alignment fixup null: c0000005",           # the input is probed before the handle
    "handle count 8: c0000004",                 # a ULONG only on Windows 10
    "wow64 info 3 null handle: c0000004",       # the length before the handle
    "read unmapped: 8000000d got=0",            # STATUS_PARTIAL_COPY, nothing read
]


def test_system_information_classes(build_fixture, arch):
    lines = _lines(build_fixture, arch)
    missing = [want for want in COMMON if want not in lines]
    assert not missing, "\n".join(missing) + "\n---\n" + "\n".join(lines)
    if arch == "x64":
        assert "file cache: 00000000 len=64" in lines and "file cache short: c0000004 len=64" in lines
        assert "interrupts probe: c0000004 len=144" in lines
        assert "registry quota: 00000000 len=16 allowed=ffffffff used>0=1" in lines
        assert "kernel debugger ex: 00000000 len=3" in lines
        assert "native 0x2c: same" in lines
        assert "native basic64: 00000000 len=64 limit=7ffffffeffff" in lines
    else:   # WoW64: the 32-bit records; WoW64's native query serves only the basic and processor classes
        assert "file cache: 00000000 len=36" in lines and "file cache short: c0000004 len=36" in lines
        assert "registry quota: 00000000 len=12 allowed=ffffffff used>0=1" in lines
        assert any(line.startswith("kernel debugger ex: c0000003") for line in lines)
        assert "native 0x2c: invalid" in lines
        # Windows 10's WoW64 TEB/PEB pair (offsets of winnt.h's TEB32/TEB64/PEB64, Wine's ntdll/wow64.c checks)
        assert "teb64: below=1 offset=-8192 back=8192 exlist=1 self=1 static=1 tid=1" in lines
        assert "peb64: below=1 image=1 build=19045" in lines
        assert "native basic64: 00000000 len=64 limit=7ffffffeffff" in lines


def test_class_table_is_complete():
    """One row per class 0 .. the last, each with its Windows name; the fixed rows carry both sizes."""
    assert sorted(T.CLASSES) == list(range(T.MAX_SYSTEM_INFO_CLASS))
    assert T.MAX_SYSTEM_INFO_CLASS == 0xD5
    names = [row[0] for row in T.CLASSES.values()]
    assert len(set(names)) == len(names) and all(n.startswith("System") for n in names)
    assert T.CLASSES[0x33][0] == "SystemVerifierInformation"
    assert T.CLASSES[0xB5][0] == "SystemSupportedProcessorArchitectures"
    assert all(row[2] and len(row[2]) == 2 for row in T.CLASSES.values() if row[1] == T.FIXED)
