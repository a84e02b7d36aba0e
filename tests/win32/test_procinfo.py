"""NtQuery/SetInformationProcess's PROCESSINFOCLASS table (winhatch/kernel/ps/procinfo_classes.py) and the
kernel32 process functions written over it (tests/fixtures/src/proc_info.c, x64 and x86).

The expected lines are Windows 10's answers. The x64 build was run under wine64 too: Wine agrees on every line
except where it is lenient or incomplete, and there winhatch follows Windows as Wine's own conformance tests
(kernel32/tests/process.c, which pass on Windows) show it:
- Wine answers STATUS_INVALID_INFO_CLASS for ProcessQuotaLimits, LUIDDeviceMapsEnabled, IoPriority,
  PagePriority, PriorityBoost, Wx86Information, WorkingSetWatch, HandleTracing, DeviceMap,
  PooledUsageAndLimits and CycleTime (classes Windows serves: test_process_info expects STATUS_SUCCESS or the
  access / length checks), and STATUS_NOT_IMPLEMENTED where Windows's NtSetInformationProcess refuses a
  query-only class with STATUS_INVALID_INFO_CLASS;
- Wine lets a PROCESS_QUERY_LIMITED_INFORMATION handle query ProcessCookie (STATUS_INVALID_PARAMETER),
  ProcessExecuteFlags and ProcessDebugPort, where Windows needs PROCESS_VM_WRITE / PROCESS_QUERY_INFORMATION
  (STATUS_ACCESS_DENIED: test_process_info, a todo_wine there);
- Wine's QueryFullProcessImageNameW accepts flags other than PROCESS_NAME_NATIVE (todo_wine in
  test_QueryFullProcessImageNameW: Windows fails with ERROR_INVALID_PARAMETER);
- Wine does not nest job objects: assigning a process to a job of its own hierarchy succeeds on Windows 8+
  (test_nested_jobs_child).
"""
from __future__ import annotations

from winhatch import runner

EXPECTED = [
    "query set-only 5: c0000003",
    "query set-only 6: c0000003",
    "query set-only 8: c0000003",
    "query set-only 9: c0000003",
    "query set-only 11: c0000003",
    "query set-only 13: c0000003",
    "query set-only 16: c0000003",
    "query set-only 17: c0000003",
    "query set-only 25: c0000003",
    "query set-only 35: c0000003",
    "query set-only 40: c0000003",
    "query set-only 41: c0000003",
    "query set-only 48: c0000003",
    "query set-only 53: c0000003",
    "query set-only 56: c0000003",
    "query set-only 57: c0000003",
    "query set-only 62: c0000003",
    "query set-only 63: c0000003",
    "set query-only 0: c0000003",
    "set query-only 2: c0000003",
    "set query-only 3: c0000003",
    "set query-only 4: c0000003",
    "set query-only 7: c0000003",
    "set query-only 20: c0000003",
    "set query-only 26: c0000003",
    "set query-only 27: c0000003",
    "set query-only 30: c0000003",
    "set query-only 36: c0000003",
    "set query-only 37: c0000003",
    "set query-only 43: c0000003",
    "query past the last: c0000003",
    "QuotaLimits: 00000000 min=204800 max=1413120",
    "QuotaLimits short: c0000004",
    "LUIDDeviceMapsEnabled: 00000000 1",
    "IoPriority: 00000000 2",
    "PagePriority: 00000000 5",
    "PriorityBoost: 00000000 0",
    "SessionInformation: 00000000 same=1",
    "AffinityMask: 00000000 same=1",
    "Wx86Information: 00000000 0",
    "Wx86Information limited: c0000022",
    "WorkingSetWatch: c0000001",
    "WorkingSetWatch limited: c0000022",
    "HandleTracing: c000000d",
    "Cookie limited: c0000022",
    "ExecuteFlags limited: c0000022",
    "DebugPort limited: c0000022",
    "DeviceMap empty: c0000004",
    "PooledUsageAndLimits empty: c0000004",
    "CycleTime empty: c0000004",
    "QueryFullProcessImageNameW: 1 len_ok=1 same=1",
    "no room for the NUL: 0 122 size_kept=1",
    "flags 2: 0 87",
    "native: 1 device=1",
    "A NULL buffer: 0 87 1024",
    "K32GetProcessImageFileNameA: len_ok=1 harddisk=1",
    "K32GetProcessImageFileNameA no buffer: 0 122",
    "GetProcessVersion: own=1 nonzero=1 bad id=0 87",
    "close source: 1 same=1 inherit=1",
    "protected source: 1 same=0 still_open=1",
    "init: 1 mask=0 size=4 count=0 pad=cccccccc",
    "unknown: 0 50",
    "parent, two handles: 0 24",
    "parent: 1",
    "parent again: 0 698",
    "handle list: 1 mask=5 count=2 attr0=20000 attr1=20002",
    "empty application name: 0 3 zeroed=1",
    "GetSystemRegistryQuota: 1 1",
    "GetLargePageMinimum: 1",
    "GetCommandLineW kept: 1",
    "child: title=[] x=1234 y=2345 xs=3456 ys=4567 cx=80 cy=25 fill=1f",
    "suspended child with no handle left: open=1 exit=7",
    "job wait with a member: 258",
    "job terminated: wait=0 again=0 member exit=123",
    "job wait before: 258",
    "assign outer: 1",
    "assign empty inner: 1",
    "in outer: 1 in inner: 1",
    "assign outer again: 1",
]


def test_process_information_classes_and_process_functions(arch, build_fixture):
    res = runner.run(build_fixture("proc_info.c", arch), [], max_instructions=400_000_000)
    assert res.error is None, res.error
    assert res.exit_status == 0
    assert res.stdout.decode("latin-1").replace("\r\n", "\n").splitlines() == EXPECTED


def test_class_table_covers_windows_10():
    from winhatch.kernel.ps import procinfo_classes as pic
    assert pic.MAX_PROCESS_INFO_CLASS == 0x67          # ProcessDynamicEnforcedCetCompatibleRanges = 102 is the last
    assert pic.name_of(0x25) == "ProcessImageInformation" and pic.name_of(0x3C) == "ProcessCommandLineInformation"
    assert pic.CLASSES[0x05][1:3] == (pic.INVALID, pic.LOUD)      # ProcessBasePriority: set only
    assert pic.CLASSES[0x00][1:3] == (pic.IMPL, pic.INVALID)      # ProcessBasicInformation: query only
    assert pic.CLASSES[0x0E] == ("ProcessPooledUsageAndLimits", pic.FIXED, pic.INVALID, (72, 36))
