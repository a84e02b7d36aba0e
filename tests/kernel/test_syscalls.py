"""The system-service path: ntdll's Nt*/Zw* stubs as on Windows 10 22H2 (build 19045) with that build's service
numbers, the dispatcher (syscall / int 2Eh / the WoW64 form), unknown numbers, unimplemented services, the trace.

Wine's ntdll has other stubs and other numbers, so nothing here is recorded from Wine: the expectations are
Windows' published service numbers for 19045 and its documented results (STATUS_INVALID_HANDLE for NtClose of a
bad handle, STATUS_INVALID_SYSTEM_SERVICE for an unknown number, STATUS_INFO_LENGTH_MISMATCH for a
SystemBasicInformation buffer of the wrong size)."""
from __future__ import annotations

import pytest

from winhatch import runner
from winhatch.kernel.ke import services as S

# the numbers the issue and every published table give for Windows 10 22H2 x64
WINDOWS_10_22H2 = {"NtClose": 0x0F, "NtAllocateVirtualMemory": 0x18, "NtQuerySystemInformation": 0x36,
                   "NtQueryVirtualMemory": 0x23, "NtProtectVirtualMemory": 0x50, "NtFreeVirtualMemory": 0x1E,
                   "NtWriteFile": 0x08, "NtReadFile": 0x06, "NtCreateFile": 0x55, "NtOpenFile": 0x33,
                   "NtQueryInformationProcess": 0x19, "NtTerminateProcess": 0x2C, "NtDelayExecution": 0x34,
                   "NtWaitForSingleObject": 0x04, "NtCreateEvent": 0x48, "NtSetEvent": 0x0E,
                   "NtQueryPerformanceCounter": 0x31}


def _out(res) -> str:
    return res.stdout.decode("latin-1").replace("\r\n", "\n")


def test_table_has_windows_numbers():
    for name, num in WINDOWS_10_22H2.items():
        assert S.BY_NAME[name].number == num, name
    assert S.BY_NUMBER[0x0F].name == "NtClose"
    assert S.service_for_export("ZwClose") is S.BY_NAME["NtClose"]
    assert S.service_for_export("NtGetTickCount") is None   # user mode on Windows 10 x64: no service


def test_every_numbered_ntdll_export_is_a_stub_with_its_number():
    """ntdll's code exports named like a service are Windows 10's stub carrying the table's number."""
    from winhatch.pe import PEFile
    from winhatch.win32 import sysdlls
    for arch in ("x64", "x86"):
        pe = PEFile((sysdlls.ensure_installed(arch) / "ntdll.dll").read_bytes())
        seen = 0
        for exp in pe.exports.functions:
            svc = S.service_for_export(exp.name)
            if svc is None or exp.forwarder:
                continue
            code = pe.read_rva(exp.rva, 24)
            want, _ = S.ntdll_stub(arch, svc)
            if arch == "x64":
                assert code == want, exp.name
            else:   # the Wow64SystemServiceCall address is relocated
                assert code[:5] == want[:5] and code[10:15] == want[10:15], exp.name
            seen += 1
        assert seen >= 2 * 200, (arch, seen)


def test_service_prototypes_match_the_table():
    """Every implementation's declared parameters (kernel services and the ntdll handlers serving a service)
    are the table's argument count: the x86 stub pops exactly that many."""
    from winhatch.win32 import api, subsystem
    subsystem.load_handler_modules()   # every declaration (a run imports only the modules it calls)
    for name, fn in S.kernel_services().items():   # (kernel_service checks this when it is declared)
        assert fn.__code__.co_argcount == 2 + S.BY_NAME[name].argc, name
    for spec in api.specs():
        if "ntdll.dll" in spec.dlls:
            for name, _ in spec.names():
                svc = S.service_for_export(name)
                if svc is not None:
                    assert len(spec.params) == svc.argc, name


def test_kernel_service_index_names_each_implementation_and_imports_on_first_call(tmp_path, monkeypatch):
    """The table holds every kernel service without importing the components' modules: the stored index
    (service -> module) is what importing them declares, rebuilt when it is missing, and an entry's module
    is imported and its implementation bound when the service is first served."""
    declared = {name: fn.__module__ for name, fn in S.kernel_services().items()}
    assert set(fn_mod for fn_mod in declared.values()) == set(S.SERVICE_MODULES)
    assert S.kernel_service_index() == declared
    monkeypatch.setenv("WINHATCH_CACHE", str(tmp_path))        # no stored index: computed and stored
    monkeypatch.setattr(S, "_SERVICE_INDEX", None)
    assert S.kernel_service_index() == declared
    assert list(tmp_path.glob("sysdlls/kernel-services-*.marshal"))
    monkeypatch.setattr(S, "_SERVICE_INDEX", None)
    assert S.kernel_service_index() == declared                 # read back
    table = S.ServiceTable(machine=None)
    assert all(table.implemented(name) for name in declared)
    entry = table.impls[S.BY_NAME["NtClose"].number]
    assert isinstance(entry, S._LazyService) and entry.module == declared["NtClose"]
    served = table._resolve(S.BY_NAME["NtClose"], entry.module)
    assert table.impls[S.BY_NAME["NtClose"].number] is served and served.__name__ == S.kernel_services()["NtClose"].__name__


def test_system_services(build_fixture, arch):
    res = runner.run(build_fixture("sys_services.c", arch), [], max_instructions=50_000_000)
    assert res.error is None, res.error
    lines = _out(res).splitlines()
    nums = dict(line.split(" = ") for line in lines if " = 0x" in line)
    assert nums.pop("ZwClose") == "0x0f"
    assert {k: int(v, 16) for k, v in nums.items()} == WINDOWS_10_22H2
    info_len = 64 if arch == "x64" else 44
    assert ("export NtAllocateVirtualMemory: 00000000 aligned=1 size=3000" in lines
            and "export NtFreeVirtualMemory: 00000000 size=3000" in lines)
    basic = (f"NtQuerySystemInformation(SystemBasicInformation): 00000000 len={info_len} page=4096 gran=65536 "
             f"cpus=6 agrees with GetSystemInfo=1")
    assert "export " + basic in lines
    assert f"export short buffer: c0000004 len={info_len}" in lines
    assert "export NtClose(bad handle): c0000008" in lines
    # the process list: the Idle process first, this process with its image name (the buffer inside the
    # caller's buffer) and its one thread's client id; a 16-byte buffer gets the size needed
    hows = ("export", "syscall") if arch == "x64" else ("export",)
    for how in hows:
        assert f"{how} SystemProcessInformation(16 bytes): c0000004 needed>16=1" in lines
        assert (f"{how} SystemProcessInformation: 00000000 len=1 idle first=1 self=1 thread=1 processes>=3=1"
                in lines)
    assert "export NtDelayExecution(50 ms): 00000000 slept=1" in lines   # blocks in the system call
    # waits and events: STATUS_TIMEOUT (a poll, and a 10 ms wait that blocks and times out), PreviousState
    for line in ("NtWaitForSingleObject(unsignalled, 0): 00000102",
                 "NtWaitForSingleObject(unsignalled, 10 ms): 00000102", "NtSetEvent: 00000000 previous=0",
                 "NtWaitForSingleObject(signalled, NULL): 00000000", "NtResetEvent: 00000000 previous=1",
                 "NtSetEvent(bad handle): c0000008",
                 f"NtQueryVirtualMemory: 00000000 ret={48 if arch == 'x64' else 28} same=1",
                 "NtQueryVirtualMemory short: c0000004"):
        assert line in lines, line
    if arch == "x64":   # direct syscall with the numbers read from the stubs
        assert "syscall NtAllocateVirtualMemory: 00000000 aligned=1 size=2000" in lines
        assert "syscall " + basic in lines
        assert "syscall NtClose(bad handle): c0000008" in lines
        assert "syscall 0xfff: c000001c" in lines
        assert "syscall NtDelayExecution(50 ms): 00000000 slept=1" in lines
        assert "int2e NtClose(bad handle): c0000008" in lines          # the stub's int 2Eh path
        assert "int2e NtQuerySystemInformation: 00000000 len=64" in lines
    else:   # the classic 32-bit entries: int 2Eh (edx = arguments) and sysenter (KiFastSystemCall's edx)
        for how in ("int2e", "sysenter"):
            assert f"{how} NtClose(bad handle): c0000008" in lines
            assert f"{how} NtQuerySystemInformation: 00000000 len=44" in lines
        assert "int2e 0xfff: c000001c" in lines
    assert res.exit_status == 0


def test_unimplemented_service_stops_loudly(build_fixture, arch):
    res = runner.run(build_fixture("sys_services.c", arch), ["unimplemented"], max_instructions=50_000_000)
    assert _out(res) == "calling NtSystemDebugControl\n"   # never "returned …"
    assert res.error.startswith("unimplemented system service NtSystemDebugControl (0x1bf) called from "
                                "sys_services.exe+"), res.error
    assert res.exit_status == 0xC0000002


def test_trace_and_report_count_services(build_fixture, arch):
    from winhatch.kernel import events as ev
    seen = []
    res = runner.run(build_fixture("sys_services.c", arch), [], max_instructions=50_000_000,
                     subscribers=[lambda e: e.category == ev.SYSCALL and seen.append(e)], record=("syscall",))
    assert res.error is None, res.error
    every = [e for e in seen if e.name == "call"]
    calls = [e for e in every if e.data["kind"] != "api"]     # the program's own system calls
    # the services kernel32's handlers called (as kernelbase calls ntdll's stubs) are counted too, their
    # caller the API (mingw's start-up code calls VirtualQuery / VirtualProtect)
    through_api = [e for e in every if e.data["kind"] == "api"]
    assert through_api and all(e.data["caller"].startswith(("kernel32.dll!", "kernelbase.dll!"))
                               for e in through_api)
    by = {}
    for e in calls:
        by[e.data["service"]] = by.get(e.data["service"], 0) + 1
    assert by["NtQuerySystemInformation"] == (8 if arch == "x64" else 6)
    assert by["NtClose"] >= 3
    # a call that blocked and was re-run after its wait is one call, with its final status
    delays = [e for e in calls if e.data["service"] == "NtDelayExecution"]
    assert len(delays) == (2 if arch == "x64" else 1) and all(e.data["status"] == 0 for e in delays)
    close = next(e for e in calls if e.data["service"] == "NtClose" and e.data["args"] == {"Handle": 0x12344})
    assert close.data["status"] == 0xC0000008 and close.data["number"] == 0x0F
    assert close.data["caller"].startswith("sys_services.exe+")
    assert any(e.data["service"] is None and e.data["status"] == 0xC000001C for e in calls)
    assert {e.data["kind"] for e in calls} == ({"syscall", "int2e"} if arch == "x64" else {"int2e", "sysenter"})


def test_report_counts_services_per_name(build_fixture, arch):
    import json
    from pathlib import Path

    import jsonschema
    from winhatch.kernel import events as ev
    seen = []
    res = runner.run(build_fixture("sys_services.c", arch), [], max_instructions=50_000_000, record=("syscall",),
                     subscribers=[lambda e: e.category == ev.SYSCALL and e.name == "call" and seen.append(e)])
    doc = res.report()
    schema = json.loads((Path(__file__).resolve().parents[2] / "docs" / "report-schema.json").read_text())
    jsonschema.validate(doc, schema)
    summary = doc["processes"][0]["syscall_summary"]
    # the guest's own calls (x64: 8, x86: 6) and GetSystemInfo's two (basic, processor) per basic_info check
    assert summary["NtQuerySystemInformation"] == (12 if arch == "x64" else 8)
    direct = sum(1 for e in seen if e.data["service"] == "NtAllocateVirtualMemory" and e.data["kind"] != "api")
    assert direct == (2 if arch == "x64" else 1)
    # every system service is counted, the program's own and those kernel32's functions made for it
    assert summary["NtAllocateVirtualMemory"] == sum(1 for e in seen if e.data["service"] == "NtAllocateVirtualMemory")
    assert summary["<invalid service 0xfff>"] == 1


def test_api_locals_grow_the_stack(build_fixture, arch):
    """A kernel32 function called with the stack pointer just above StackLimit: the locals it passes to its
    system service (below the stack pointer) lie in the guard page, so the stack grows as on Windows."""
    res = runner.run(build_fixture("sys_api_scratch.c", arch), [], max_instructions=50_000_000)
    assert res.error is None, res.error
    assert _out(res) == "VirtualAlloc: ok\nStackLimit moved down: 1\nVirtualFree: 1\n"
