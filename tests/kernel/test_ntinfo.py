"""Issue 15's native services through ntdll's exports (tests/fixtures/src/sys_ntinfo.c): NtQuerySystemInformation's
classes, the token services (kernel/se) and the registry services (kernel/cm), NtRaiseHardError.

Wine answers these from its own emulation (its process list, no SMBIOS of its own, other kernel modules), so the
expectations are Windows's documented behaviour: STATUS_INFO_LENGTH_MISMATCH / STATUS_BUFFER_TOO_SMALL /
STATUS_BUFFER_OVERFLOW with the size needed, the record layouts of winternl.h, STATUS_NOT_ALL_ASSIGNED for a
privilege not held, STATUS_NO_TOKEN for a thread that does not impersonate, WoW64 registry redirection."""
from __future__ import annotations

from winhatch import runner


def _lines(build_fixture, arch) -> list[str]:
    res = runner.run(build_fixture("sys_ntinfo.c", arch), [], max_instructions=50_000_000)
    assert res.error is None, res.error
    assert res.exit_status == 0
    return res.stdout.decode("latin-1").replace("\r\n", "\n").splitlines()


COMMON = [
    "modules size: c0000004 nonzero=1",
    "modules: 00000000 len=1 count>10=1 first=\\SystemRoot\\system32\\ntoskrnl.exe name=ntoskrnl.exe "
    "base kernel=1 size=1",
    "extended process list: 00000000 self thread=1",   # stack, Win32 start address, TEB of this thread
    "handles short: c0000004",
    "handles: 00000000 event found=1",              # type Event (16), OBJ_INHERIT|OBJ_PROTECT_CLOSE, access
    "extended handles: 00000000 len=1 event found=1",
    "performance short: c0000004 len=344",       # below the Windows 2000 record (0x138 bytes)
    "performance 0x13a: 00000000 len=314",
    "performance: 00000000 len=344",
    "timeofday 24: 00000000 len=24 untouched=1",   # a partial copy, ReturnLength the length asked
    "timeofday 49: c0000004 len=0",
    "timeofday now: 1",
    "procperf one: 00000000 len=48",              # as many whole records as fit
    "procperf: 00000000 len=240 kernel>=idle=1",  # 5 of the default profile's 6 processors fit 0x100
    "kerneldebugger 0: c0000004",
    "kerneldebugger: 00000000 len=2 enabled=0 notpresent=1",
    "range start: 00000000 value=ok",
    "code integrity: 00000000 options=1",
    "class 0xfff: c0000003",
    "firmware provider 0: c0000002 len=0",
    "RSMB small: c0000023 consistent=1",
    "RSMB: 00000000 smbios 3.1 system=Dell Inc. OptiPlex 7060",   # a physical machine, not a VM vendor
    "ACPI FACP: 00000000 sig=FACP checksum=1",
    "GetSystemFirmwareTable RSMB size agrees=1",
    "NtRaiseHardError: 00000000 response=1",     # no desktop: ResponseNotHandled
    "NtRaiseHardError shutdown: c0000061",       # SeShutdownPrivilege held but not enabled
    "NtOpenProcessToken: 00000000",
    "NtOpenThreadToken: c000007c",
    "TokenUser small: c0000023 needed=1",
    "TokenUser: 00000000 S-1-5-21 count=5",
    "TokenIntegrityLevel: 00000000 rid=2000",
    "TokenGroups: 00000000 count>5=1",
    "TokenElevation: 00000000 elevated=0",
    "TokenType: 00000000 type=1",
    "TokenImpersonationLevel (primary): c0000003",
    "TokenStatistics: 00000000 len=56",
    "adjust held: 00000000",
    "adjust not held: 00000106",
    "NtDuplicateToken: 00000000",
    "duplicate level: 00000000 level=2",
    "advapi32 token user: 1",
    # a DACL denying Everyone 4 then allowing it 5: read (1) granted, 4 denied, MAXIMUM_ALLOWED gives 1
    "NtAccessCheck read: 00000000 granted=1 access=00000000",
    "NtAccessCheck denied: 00000000 granted=0 access=c0000022",
    "NtAccessCheck maximum: 00000000 granted=1 access=00000000",
    "NtAccessCheck primary token: c000005c",
    "NtOpenKey CurrentVersion: 00000000",
    "build partial header only: 80000005 len=24",
    "build: 00000000 type=1 19045",
    "NtOpenKey User: 00000000",
    "NtCreateKey: 00000000 disposition=1",
    "NtSetValueKey: 00000000",
    "basic header: 80000005 len=32 namelen=20",
    "full: 00000000 len=44 data=711",
    "partial too small: c0000023",
    "subkey: 00000000 disposition=1",
    "enum 0: 00000000 sub",
    "enum 1: 8000001a",
    "name header: 80000005",
    "full info: 00000000 subkeys=1 values=1",
    "delete with subkey: c0000121",
    "delete sub: 00000000",
    "delete value: 00000000",
    "deleted value: c0000034",
    "delete: 00000000",
    "deleted key: c000017c",
    # Tool Help over the process list (a section the process maps while reading it)
    "snapshot: 1",
    "processes: more than 2=1 self=1 idle=1 end=18",
    "ansi: 1",
    "threads: mine=1",
    "modules: 0 err=18",
    "small dwSize: 0 err=122",
    "EnumProcesses: self=1",
]


def test_native_services(build_fixture, arch):
    lines = _lines(build_fixture, arch)
    missing = [want for want in COMMON if want not in lines]
    assert not missing, "\n".join(missing)
    if arch == "x64":
        assert "logical processors: c0000004" in lines
        assert "name: 00000000 \\REGISTRY\\MACHINE\\SOFTWARE\\winhatch-test\\sub" in lines
    else:   # Windows 8+ refuses the class to WoW64; the WoW64 registry view redirects HKLM\Software
        assert "logical processors: c0000003" in lines
        assert "name: 00000000 \\REGISTRY\\MACHINE\\SOFTWARE\\WOW6432Node\\winhatch-test\\sub" in lines


def test_structures_windows_sizes():
    """The records mingw does not declare, pinned to their documented sizes."""
    from winhatch.kernel import structs as S
    assert (S.RTL_PROCESS_MODULE_INFORMATION.size("x64"), S.RTL_PROCESS_MODULE_INFORMATION.size("x86")) == (0x128, 0x11C)
    assert (S.SYSTEM_HANDLE_TABLE_ENTRY_INFO_EX.size("x64"), S.SYSTEM_HANDLE_TABLE_ENTRY_INFO_EX.size("x86")) == (40, 28)
    assert (S.SYSTEM_PROCESS_INFORMATION.size("x64"), S.SYSTEM_PROCESS_INFORMATION.size("x86")) == (0x100, 0xB8)
    assert (S.SYSTEM_THREAD_INFORMATION.size("x64"), S.SYSTEM_THREAD_INFORMATION.size("x86")) == (0x50, 0x40)


def test_exception_services(build_fixture, arch):
    """NtRaiseException (first chance: the vectored handler sees the record and continues the context) and
    NtContinue as kernel services; NtSetDebugFilterState needs SeDebugPrivilege (a standard user: denied)."""
    exe = build_fixture("sys_except.c", arch)
    res = runner.run(exe, [], max_instructions=50_000_000)
    assert res.error is None, res.error
    assert res.stdout.decode().replace("\r\n", "\n") == (
        "NtRaiseException: handler saw e0001234 params=1\nNtContinue: resumed=1\nNtSetDebugFilterState: c0000022\n")
    res = runner.run(exe, ["second"], max_instructions=50_000_000)
    assert res.stdout.decode().replace("\r\n", "\n") == "raising second chance\n"     # never "not reached"
    assert res.exit_status == 0xE0001234
    assert res.process.crash["code"] == 0xE0001234     # an unhandled exception, not an exit
