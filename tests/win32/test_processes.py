"""Processes created by the guest (issue 8): the real creation stages for a child in the same machine, pipes,
waits on processes, exit codes, OpenProcess, TerminateProcess, the notify routines' veto and the limits."""
import shutil
from pathlib import Path

import pytest

from winhatch import runner
from winhatch.ntstatus import STATUS_ACCESS_DENIED

EXPECTED = Path(__file__).resolve().parents[1] / "fixtures" / "expected"


@pytest.fixture
def pipe_exe(build_fixture, tmp_path, arch):
    exe = build_fixture("proc_pipe.c", arch)
    dst = tmp_path / exe.name
    shutil.copy(exe, dst)
    return dst


def test_child_through_pipe_matches_wine(pipe_exe, arch):
    res = runner.run(pipe_exe)
    assert res.error is None, res.error
    got = res.stdout + f"exit={res.exit_status}\n".encode()
    assert got == (EXPECTED / f"proc_pipe.{arch}.txt").read_bytes()  # byte for byte, text-mode CRLFs included


def test_process_tree_and_events(pipe_exe):
    res = runner.run(pipe_exe)
    parent = res.process
    creates = [e for e in res.events if e.category == "process" and e.name == "process_create"]
    assert len(creates) == 4  # the program and its three children
    children = [e for e in creates if e.data["parent_pid"] == parent.pid]
    assert len(children) == 3
    assert [c.data["command_line"].split()[-1] for c in children] == ["child", "quiet", "sleeper"]
    procs = {p.pid: p for p in res.machine.processes}
    for c in children:
        p = procs[c.pid]
        assert p.parent is parent and p.exited
    assert sorted(procs[c.pid].exit_status for c in children) == [7, 9, 99]
    # the child's initial thread went through the same stages as the first process's
    stage_names = {e.name for e in res.events if e.category == "stage" and e.pid == children[0].pid}
    assert {"LdrInitializeThunk", "RtlUserThreadStart", "KiStartUserThread"} <= stage_names


def test_notify_routine_veto_reaches_the_creator(pipe_exe):
    seen = []

    def routine(process, pid, info):
        if info is not None and info.parent_process_id != res_shell[0]:
            seen.append(info.command_line)
            info.creation_status = STATUS_ACCESS_DENIED

    res_shell = []

    def setup(m):
        res_shell.append(m.shell_process.pid)
        m.notify.PsSetCreateProcessNotifyRoutineEx(routine)
    res = runner.run(pipe_exe, setup_machine=setup)
    assert res.stdout.decode().replace("\r\n", "\n") == "CreateProcess failed 5\n"
    assert res.exit_status == 1
    assert len(seen) == 1 and seen[0].endswith(" child")


def test_fork_bomb_ends_in_a_clean_error(build_fixture, tmp_path, arch):
    exe = build_fixture("proc_bomb.c", arch)
    shutil.copy(exe, tmp_path / exe.name)

    def setup(m):
        m.limits["max_processes"] = 4
    res = runner.run(tmp_path / exe.name, setup_machine=setup)
    assert res.error is None
    assert res.stdout.decode().splitlines() == [
        "depth 3: CreateProcess failed, error 8",
        "depth 2: child exited with 103",
        "depth 1: child exited with 103",
        "depth 0: child exited with 103",
    ]
    assert res.exit_status == 103
    hits = [e for e in res.events if e.name == "limit_reached"]
    assert len(hits) == 1 and hits[0].data["what"] == "processes"
    assert res.machine.subsystem["limits_hit"][0]["limit"] == 4
