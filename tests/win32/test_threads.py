"""Threads, scheduling and waitable objects (issue 8): fixture programs on x86 and x64, compared with what
Wine prints for the same build (tools/record_expected.py: wine64, and 32-bit Wine under WoW64 for x86); a
deadlock, which Wine cannot show (it hangs), is checked against winhatch's report."""
import shutil
from pathlib import Path

import pytest

from winhatch import runner
from winhatch.ntstatus import STATUS_POSSIBLE_DEADLOCK

EXPECTED = Path(__file__).resolve().parents[1] / "fixtures" / "expected"


def expected(name, arch):
    """What Wine printed for this architecture's build, byte for byte (text-mode CRLFs included), and its
    exit code."""
    return (EXPECTED / f"{name}.{arch}.txt").read_bytes()


def transcript(res):
    assert res.error is None, res.error
    return res.stdout + f"exit={res.exit_status & 0xFF}\n".encode()


@pytest.fixture
def run_fixture(build_fixture, tmp_path):
    def go(src, arch, args=(), dlls=(), **kw):
        libs = []
        for d in dlls:
            built = build_fixture(d, arch, dll=True)
            shutil.copy(built, tmp_path / built.name)
            libs.append(built)
        exe = build_fixture(src, arch, libs=[str(x) for x in libs], extra_inputs=libs) if libs else \
            build_fixture(src, arch)
        shutil.copy(exe, tmp_path / exe.name)
        return runner.run(tmp_path / exe.name, list(args), **kw)
    return go


@pytest.mark.parametrize("name", ["thr_basic", "thr_sum", "thr_objects"])
def test_fixture_matches_wine(run_fixture, arch, name):
    res = run_fixture(f"{name}.c", arch)
    assert transcript(res) == expected(name, arch)


def test_dll_thread_attach_detach_order(run_fixture, arch):
    res = run_fixture("thr_attach.c", arch, dlls=["thr_dll.c"])
    assert transcript(res) == expected("thr_attach", arch)


def test_suspended_thread_does_not_run_and_exit_code_is_still_active(run_fixture, arch):
    res = run_fixture("thr_basic.c", arch)
    out = res.stdout.decode().splitlines()
    assert "exit code while suspended: 259" in out and "ran while suspended: 0" in out
    created = [e for e in res.events if e.category == "thread" and e.name == "thread_create"]
    exits = {e.tid: e.data["exit_status"] for e in res.events if e.category == "thread" and e.name == "thread_exit"}
    workers = [e.tid for e in created][1:]  # the first is the initial thread
    assert sorted(exits[t] for t in workers) == [77, 1234]


def test_critical_section_really_excludes(run_fixture, arch):
    res = run_fixture("thr_sum.c", arch)
    last = res.stdout.decode().splitlines()[-1]
    assert last == "total=201000 expected=201000 overlap=0"
    # the four workers really interleaved: the scheduler switched threads many times
    assert res.machine.dispatcher.switches > 20


def test_schedule_is_deterministic(run_fixture, arch):
    a = run_fixture("thr_sum.c", arch)
    b = run_fixture("thr_sum.c", arch)
    da, db = a.machine.dispatcher, b.machine.dispatcher
    assert a.stdout == b.stdout
    assert (da.switches, da.api_calls) == (db.switches, db.api_calls)
    assert [(e.name, e.tid) for e in a.events if e.category == "thread"] == \
           [(e.name, e.tid) for e in b.events if e.category == "thread"]


def test_seeded_interleavings_vary_but_stay_correct(run_fixture, arch):
    def seeded(seed):
        def setup(m):
            m.dispatcher.seed = seed
        return run_fixture("thr_sum.c", arch, setup_machine=setup)
    runs = [seeded(s) for s in (1, 2, 3)]
    for r in runs:
        assert r.stdout.decode().splitlines()[-1] == "total=201000 expected=201000 overlap=0"
    assert len({r.machine.dispatcher.switches for r in runs}) > 1  # different interleavings
    again = seeded(2)
    assert again.machine.dispatcher.switches == runs[1].machine.dispatcher.switches  # reproducible


def test_deadlock_is_reported(run_fixture, arch):
    res = run_fixture("thr_deadlock.c", arch)
    assert res.stdout.decode().replace("\r\n", "\n") == "waiting for both threads\n"
    assert res.exit_status == STATUS_POSSIBLE_DEADLOCK
    assert res.error.startswith("deadlock: no thread can run")
    dl = [e for e in res.events if e.category == "thread" and e.name == "deadlock"]
    assert len(dl) == 1
    states = {t["tid"]: t["state"] for t in dl[0].data["threads"]}
    assert len(states) == 3
    main_tid = min(states)
    assert "WaitForMultipleObjects (all)" in states[main_tid]
    workers = sorted(t for t in states if t != main_tid)
    # each worker waits for the mutex the other one owns
    assert f"owned by thread {workers[1]}" in states[workers[0]]
    assert f"owned by thread {workers[0]}" in states[workers[1]]
    assert res.machine.dispatcher.deadlock["message"] == res.error


def test_single_thread_program_runs_unsliced(run_fixture, arch):
    res = run_fixture("hello.c", arch)
    assert res.exit_status == 42
    d = res.machine.dispatcher
    assert d.switches == 1  # one thread, switched to once, never preempted
    assert not d.waiting and not d.timers


def test_thread_limit_fails_cleanly(run_fixture, arch):
    def setup(m):
        m.limits["max_threads"] = 8
    res = run_fixture("proc_bomb.c", arch, args=["threads"], setup_machine=setup)
    assert res.error is None
    assert res.stdout.decode().replace("\r\n", "\n") == "threads: created 7, then error 8\n"
    assert res.exit_status == 0
    hits = [e for e in res.events if e.name == "limit_reached"]
    assert hits and hits[0].data["what"] == "threads" and hits[0].data["limit"] == 8


def test_thread_blocked_inside_dllmain_lets_others_run(build_fixture, tmp_path, arch):
    dll = build_fixture("thr_ndll.c", arch, dll=True)
    exe = build_fixture("thr_nested.c", arch, libs=[str(dll)], extra_inputs=[dll])
    for f in (dll, exe):
        shutil.copy(f, tmp_path / f.name)
    res = runner.run(tmp_path / exe.name)
    assert transcript(res) == expected("thr_nested", arch)
    waits = [e for e in res.events if e.name == "deadlock"]
    assert not waits


def test_disable_thread_library_calls(run_fixture, arch):
    """thr_nocallout.c, recorded from wine64 (the x86 file is the same: the program prints nothing
    architecture-dependent). A DLL built by mingw has static TLS (its CRT's TLS directory), so
    DisableThreadLibraryCalls fails for it (ERROR_MOD_NOT_FOUND) and it keeps its thread notifications; kernel32
    has none and succeeds. A desktop process has no app package (APPMODEL_ERROR_NO_PACKAGE)."""
    res = run_fixture("thr_nocallout.c", arch, dlls=["thr_dll.c"])
    assert transcript(res) == expected("thr_nocallout", arch)


def test_threads_preempted_by_the_wall_clock_resume_exactly(run_fixture, arch):
    """Four workers compute without API calls (only the wall-clock slice of the default "traps" mode switches
    them, made 2 ms here so a run has hundreds of preemptions) and check lock-prefixed counters, two spin
    locks, plain read-modify-writes, rep movsb copies, XMM and x87 state. Before the preemption hook
    (winhatch.cpu.core._Watchdog) every run ended with a spin lock held by nobody: a `lock cmpxchg`/`xchg`
    stopped after its store ran again on resumption. wine64 prints the same lines for the x64 build."""
    def setup(m):
        assert m.dispatcher.mode == "traps"
        m.dispatcher.slice_wall_s = 0.002
    # 100,000 iterations: since the engine's TLB fill hook (winhatch.cpu.core._add_tlb_fill_hook) 5,000 took
    # 12 slices instead of 217
    res = run_fixture("thr_preempt.c", arch, args=["100000"], setup_machine=setup, timeout=120)
    n = 4 * 100000
    assert res.error is None, res.error
    assert res.stdout.decode().replace("\r\n", "\n") == (
        f"lock xadd total={3 * n} expected={3 * n}\n"
        f"lock inc total={n} expected={n}\n"
        f"lock cmpxchg total={2 * n} expected={2 * n}\n"
        f"lock bts/btr total={n} expected={n}\n"
        f"cmpxchg-locked total={n} expected={n}\n"
        f"xchg-locked total={2 * n} expected={2 * n}\n"
        "violations=0\n")
    assert res.exit_status == 0
    assert res.machine.dispatcher.switches > 50   # the workers really were preempted
