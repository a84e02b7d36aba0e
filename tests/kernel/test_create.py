"""Process creation: the stages, their rules and what the creator sees (issue: the seven stages)."""
import shutil

import pytest

from winhatch import runner
from winhatch.kernel.machine import Machine
from winhatch.kernel.ps import flags as F
from winhatch.kernel.ps.create import CreateProcessInternalW, StartupInfo
from winhatch.ntstatus import (ERROR_BAD_EXE_FORMAT, ERROR_FILE_NOT_FOUND, ERROR_INVALID_PARAMETER,
                               STATUS_ACCESS_DENIED, STATUS_INVALID_IMAGE_FORMAT, STATUS_INVALID_IMAGE_NOT_MZ,
                               STATUS_PENDING)
from winhatch.win32 import subsystem

REQUIRED_ORDER = ["CreateProcessInternalW", "NtCreateUserProcess", "PspAllocateProcess", "MmCreatePeb",
                  "PspInsertProcess", "PspCreateThread", "CsrCreateProcess", "LdrInitializeThunk",
                  "RtlUserThreadStart"]


def make_machine(tmp_path, arch, *programs):
    """A machine with the subsystem installed and C:\\app holding copies of the given host files."""
    import io
    from winhatch.kernel.io.console import Console
    app = tmp_path / "app"
    app.mkdir(exist_ok=True)
    for p in programs:
        shutil.copy(p, app / p.name)
    m = Machine(console=Console(io.BytesIO(), io.BytesIO()))
    subsystem.setup(m, arches=(arch,))
    m.vfs.mount("C:\\app", app)
    return m


def create(m, cmd, **kw):
    return CreateProcessInternalW(m, None, None, cmd, current_directory="C:\\app",
                                  environment=m.default_environment(), **kw)


def stage_names(events):
    return [e.name for e in events if e.category == "stage"]


def test_stage_trace_order(build_fixture, arch):
    exe = build_fixture("hello.c", arch)
    res = runner.run(exe)
    assert res.exit_status == 42, res.error
    names = stage_names(res.events)
    positions = [names.index(n) for n in REQUIRED_ORDER]
    assert positions == sorted(positions), names
    # sub-steps carry their Windows names too
    for n in ("MmCreateProcessAddressSpace", "KeInitializeProcess", "MmInitializeProcessAddressSpace"
              if False else "MmMapViewOfSection", "PspMapSystemDll", "PspAllocateThread", "PspInsertThread",
              "KiStartUserThread", "PspUserThreadStartup"):
        assert n in names


def test_ids_are_multiples_of_four(build_fixture, tmp_path, arch):
    m = make_machine(tmp_path, arch, build_fixture("hello.c", arch))
    ids = []
    for _ in range(3):
        r = create(m, "C:\\app\\hello.exe")
        assert r.ok, r.message
        ids += [r.pid, r.tid]
    assert all(i % 4 == 0 and i > 0 for i in ids)
    assert len(set(ids)) == len(ids)


def test_priority_class_lowest_wins_and_realtime_downgrade(build_fixture, tmp_path):
    m = make_machine(tmp_path, "x64", build_fixture("hello.c", "x64"))
    r = create(m, "C:\\app\\hello.exe", creation_flags=F.HIGH_PRIORITY_CLASS | F.IDLE_PRIORITY_CLASS)
    assert r.ok and r.process.priority_class == "idle" and r.process.base_priority == 4
    r = create(m, "C:\\app\\hello.exe", creation_flags=F.REALTIME_PRIORITY_CLASS)
    assert r.process.priority_class == "high" and r.process.base_priority == 13  # no SeIncreaseBasePriorityPrivilege
    m.shell_process.token = dict(m.shell_process.token, privileges={"SeIncreaseBasePriorityPrivilege"})
    r = create(m, "C:\\app\\hello.exe", creation_flags=F.REALTIME_PRIORITY_CLASS)
    assert r.process.priority_class == "realtime" and r.process.base_priority == 24
    r = create(m, "C:\\app\\hello.exe", creation_flags=F.ABOVE_NORMAL_PRIORITY_CLASS)
    assert r.process.base_priority == 10
    r = create(m, "C:\\app\\hello.exe")
    assert r.process.base_priority == 8


@pytest.mark.parametrize("flags", [F.DETACHED_PROCESS | F.CREATE_NEW_CONSOLE,
                                   F.CREATE_SEPARATE_WOW_VDM | F.CREATE_SHARED_WOW_VDM, 0x00000100 << 24 | 0x2000])
def test_invalid_flag_combinations(build_fixture, tmp_path, flags):
    m = make_machine(tmp_path, "x64", build_fixture("hello.c", "x64"))
    r = create(m, "C:\\app\\hello.exe", creation_flags=flags)
    assert not r.ok and r.error == ERROR_INVALID_PARAMETER


def test_suspended_then_resumed_and_exit_status_pending(build_fixture, tmp_path, arch):
    m = make_machine(tmp_path, arch, build_fixture("hello.c", arch))
    r = create(m, "C:\\app\\hello.exe", creation_flags=F.CREATE_SUSPENDED)
    assert r.ok and r.thread.suspend_count == 1
    assert r.process.exit_status == STATUS_PENDING == 259  # GetExitCodeProcess: STILL_ACTIVE
    m.dispatcher.run(until=lambda: r.process.exited)
    assert not r.process.exited and r.process.exit_status == 259  # nothing ran while suspended
    r.thread.suspend_count = 0  # ResumeThread
    m.dispatcher.run(until=lambda: r.process.exited)
    assert r.process.exit_status == 42
    names = stage_names(m.events.events)
    assert "CreateSuspended" in names


def test_veto_by_process_notify_routine(build_fixture, tmp_path):
    m = make_machine(tmp_path, "x64", build_fixture("hello.c", "x64"))
    seen = []

    def veto(process, pid, info):
        if info is not None:
            seen.append((pid, info.image_file_name, info.command_line, info.parent_process_id))
            info.creation_status = STATUS_ACCESS_DENIED

    m.notify.PsSetCreateProcessNotifyRoutineEx(veto)
    r = create(m, "C:\\app\\hello.exe one")
    assert not r.ok and r.status == STATUS_ACCESS_DENIED and r.error == 5
    assert seen == [(seen[0][0], "C:\\app\\hello.exe", "C:\\app\\hello.exe one", m.shell_process.pid)]
    assert all(p.image_name != "hello.exe" for p in m.processes)


def test_inherited_handles_keep_their_values(build_fixture, tmp_path):
    from winhatch.kernel.ob import KObject

    class Event(KObject):
        type_name = "Event"

    m = make_machine(tmp_path, "x64", build_fixture("hello.c", "x64"))
    parent = m.shell_process
    keep, skip = Event(), Event()
    h_skip = parent.handles.insert(skip, 0x1F0003, inherit=False)
    h_keep = parent.handles.insert(keep, 0x1F0003, inherit=True)
    r = create(m, "C:\\app\\hello.exe", inherit_handles=True)
    assert r.process.handles.lookup(h_keep) is keep  # the same handle value in the child
    child_objects = [e.obj for _h, e in r.process.handles.entries()]
    assert skip not in child_objects
    r2 = create(m, "C:\\app\\hello.exe", inherit_handles=False)
    assert keep not in [e.obj for _h, e in r2.process.handles.entries()]


def test_decision_matrix(build_fixture, tmp_path):
    hello = build_fixture("hello.c", "x64")
    m = make_machine(tmp_path, "x64", hello)
    app = tmp_path / "app"
    (app / "script.bat").write_text("@echo hi\r\n")
    (app / "notmz.exe").write_bytes(b"#!/bin/sh\nexit 0\n" * 10)
    dos = bytearray(b"MZ" + bytes(126))
    dos[0x3C:0x40] = (0x40).to_bytes(4, "little")
    (app / "dos.exe").write_bytes(bytes(dos) + b"\xb4\x4c\xcd\x21" * 16)
    arm = bytearray(hello.read_bytes())
    e_lfanew = int.from_bytes(arm[0x3C:0x40], "little")
    arm[e_lfanew + 4:e_lfanew + 6] = (0xAA64).to_bytes(2, "little")
    (app / "arm64.exe").write_bytes(bytes(arm))
    dll = build_fixture("ldr_dlla.c", "x64", dll=True)
    shutil.copy(dll, app / "lib.dll")
    r = create(m, "C:\\app\\script.bat")  # a batch file runs as cmd.exe /c "the command line"
    assert r.ok and r.process.image_path.lower() == "c:\\windows\\system32\\cmd.exe"
    assert r.process.command_line == 'C:\\Windows\\System32\\cmd.exe /c "C:\\app\\script.bat"'
    r = create(m, "C:\\app\\notmz.exe")
    assert not r.ok and r.error == ERROR_BAD_EXE_FORMAT and r.status == STATUS_INVALID_IMAGE_NOT_MZ
    r = create(m, "C:\\app\\dos.exe")
    assert not r.ok and r.error == ERROR_BAD_EXE_FORMAT
    r = create(m, "C:\\app\\arm64.exe")
    assert not r.ok and r.error == ERROR_BAD_EXE_FORMAT and r.status == STATUS_INVALID_IMAGE_FORMAT
    r = create(m, "C:\\app\\lib.dll")
    assert not r.ok and r.error == ERROR_BAD_EXE_FORMAT
    r = create(m, "C:\\app\\nothere.exe")
    assert not r.ok and r.error == ERROR_FILE_NOT_FOUND


def test_application_name_resolution(build_fixture, tmp_path):
    hello = build_fixture("hello.c", "x64")
    m = make_machine(tmp_path, "x64", hello)
    sub = tmp_path / "app" / "my dir"
    sub.mkdir()
    shutil.copy(hello, sub / "prog.exe")
    # unquoted path with a space: "C:\app\my" is tried first, then "C:\app\my dir\prog.exe"
    r = create(m, "C:\\app\\my dir\\prog arg")
    assert r.ok and r.process.image_path == "C:\\app\\my dir\\prog.exe"
    r = create(m, '"C:\\app\\my dir\\prog.exe" x')
    assert r.ok and r.process.command_line == '"C:\\app\\my dir\\prog.exe" x'
    r = create(m, "hello")  # bare name: .exe appended, found in the current directory
    assert r.ok and r.process.image_path.lower() == "c:\\app\\hello.exe"
    r = CreateProcessInternalW(m, None, "hello", None, current_directory="C:\\app")  # no extension added
    assert not r.ok and r.error == ERROR_FILE_NOT_FOUND


def test_ifeo_debugger_redirect(build_fixture, tmp_path):
    from winhatch.kernel.cm import REG_SZ, encode
    m = make_machine(tmp_path, "x64", build_fixture("hello.c", "x64"), build_fixture("cmdline.c", "x64"))
    key, _ = m.registry.create_key(r"HKLM\SOFTWARE\Microsoft\Windows NT\CurrentVersion"
                                   r"\Image File Execution Options\hello.exe")
    key.set_value("Debugger", REG_SZ, encode(REG_SZ, "C:\\app\\cmdline.exe -dbg"))
    r = create(m, "C:\\app\\hello.exe a b")
    assert r.ok and r.process.image_name == "cmdline.exe"
    assert r.process.command_line == "C:\\app\\cmdline.exe -dbg C:\\app\\hello.exe a b"
    assert "IFEO" in stage_names(m.events.events)
    r = create(m, "C:\\app\\hello.exe a b", creation_flags=F.DEBUG_PROCESS)  # a debugger is not redirected
    assert r.ok and r.process.image_name == "hello.exe"


def test_ifeo_perf_options_cpu_priority(build_fixture, tmp_path):
    from winhatch.kernel.cm import REG_DWORD, encode
    m = make_machine(tmp_path, "x64", build_fixture("hello.c", "x64"))
    key, _ = m.registry.create_key(r"HKLM\SOFTWARE\Microsoft\Windows NT\CurrentVersion"
                                   r"\Image File Execution Options\hello.exe\PerfOptions", intermediates=True)
    key.set_value("CpuPriorityClass", REG_DWORD, encode(REG_DWORD, 3))
    r = create(m, "C:\\app\\hello.exe")
    assert r.ok and r.process.priority_class == "high"


def test_notify_routines_see_process_thread_and_images(build_fixture, arch):
    seen = {"process": [], "thread": [], "image": []}
    res = runner.run(build_fixture("hello.c", arch), notify={
        "process": lambda p, pid, info: seen["process"].append((pid, info is not None)),
        "thread": lambda pid, tid, create: seen["thread"].append((pid, tid, create)),
        "image": lambda name, pid, info: seen["image"].append((name.rsplit("\\", 1)[-1].lower(), info.image_base)),
    })
    pid = res.process.pid
    assert seen["process"] == [(pid, True), (pid, False)]
    assert seen["thread"][0][2] is True and seen["thread"][-1][2] is False
    names = [n for n, _ in seen["image"]]
    assert names[:2] == ["hello.exe", "ntdll.dll"]  # the process image first, then ntdll (PspUserThreadStartup)
    assert "kernel32.dll" in names and "msvcrt.dll" in names


def test_peb_parameters_in_guest_memory(build_fixture, tmp_path, arch):
    from winhatch.kernel.structs import PEB, RTL_USER_PROCESS_PARAMETERS
    m = make_machine(tmp_path, arch, build_fixture("hello.c", arch))
    r = create(m, "C:\\app\\hello.exe x y")
    p = r.process
    peb = PEB.read(p.aspace, p.peb, arch, "ImageBaseAddress", "ProcessParameters", "OSMajorVersion",
                   "OSBuildNumber", "ApiSetMap", "NumberOfProcessors")
    assert peb["ImageBaseAddress"] == p.image_base and peb["OSMajorVersion"] == 10
    assert peb["OSBuildNumber"] == 19045 and peb["ApiSetMap"] and peb["NumberOfProcessors"] == m.profile.cpu_count == 6
    params = RTL_USER_PROCESS_PARAMETERS.read(p.aspace, peb["ProcessParameters"], arch, "CommandLine",
                                              "ImagePathName", "Flags")
    cl = params["CommandLine"]
    text = p.aspace.read(cl["Buffer"], cl["Length"]).decode("utf-16-le")
    assert text == "C:\\app\\hello.exe x y" and params["Flags"] & 1  # normalised


def test_creator_receives_process_and_thread_handles(build_fixture, tmp_path):
    m = make_machine(tmp_path, "x64", build_fixture("hello.c", "x64"))
    r = create(m, "C:\\app\\hello.exe")
    shell = m.shell_process
    assert r.process_handle % 4 == 0 and r.thread_handle % 4 == 0 and r.process_handle != r.thread_handle
    assert shell.handles.lookup(r.process_handle, "Process") is r.process
    assert shell.handles.lookup(r.thread_handle, "Thread") is r.thread
    info = [e for e in m.events.events if e.name == "ProcessInformation"][-1].data
    assert (info["hProcess"], info["hThread"], info["dwProcessId"]) == (r.process_handle, r.thread_handle, r.pid)
