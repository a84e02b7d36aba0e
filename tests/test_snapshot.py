"""Snapshots (winhatch/snapshot.py, issue 20): a running machine saved to a file and continued from it.

The reference is the same program's uninterrupted run: a run that writes a snapshot prints what the plain run
prints; a run stopped at the snapshot prints the first part, the restored run the rest, and the two together
are the plain run's output, with the same exit code.  tests/fixtures/src/snap_loop.c prints in a loop, keeps
a file it wrote in %TEMP% (inside the sandbox) open and reads it back after the loop, uses the process heap, an
event and a second thread waiting on it, and reads an input file (fork test) at the end.
"""
import json
import subprocess
import sys
import zipfile

import pytest

from winhatch.kernel.profile import Profile

from winhatch import runner, snapshot
from winhatch.pe import PEFile

INPUT = Profile().user_profile + "\\AppData\\Local\\Temp\\snap_input.txt"   # the default machine's user


@pytest.fixture(scope="module")
def programs(build_fixture):
    return {a: build_fixture("snap_loop.c", a) for a in ("x86", "x64")}


@pytest.fixture(scope="module")
def plain(programs):
    out = {}
    for a, exe in programs.items():
        r = runner.run(exe)
        assert r.exit_status == 7 and b"worker 42 total 165" in r.stdout, r.stdout
        out[a] = r
    return out


def _take(exe, when, path, stop):
    r = runner.run(exe, snapshot_at=when, snapshot_file=str(path), snapshot_stop=stop)
    return r


@pytest.mark.parametrize("when", ["api:Sleep#5", "api:kernel32.dll!Sleep#3", "icount:12000"])
def test_snapshot_mid_run_continues_to_the_same_output(arch, programs, plain, tmp_path, when):
    exe, ref = programs[arch], plain[arch]
    snap = tmp_path / "run.whsnap"
    # a run that writes a snapshot and goes on prints what the plain run prints
    going_on = _take(exe, when, snap, stop=False)
    assert going_on.stdout == ref.stdout and going_on.exit_status == 7
    info = going_on.machine.snapshot_info
    assert info["bytes"] == snap.stat().st_size > 0
    # stopped at the snapshot: the first part; restored: the rest, same exit code
    snap2 = tmp_path / "stop.whsnap"
    first = _take(exe, when, snap2, stop=True)
    assert first.outcome == "snapshot" and first.exit_status is None
    rest = runner.run(None, from_snapshot=snap2)
    assert rest.error is None, rest.error
    assert rest.exit_status == ref.exit_status == 7
    assert rest.outcome == "exited"
    assert first.stdout + rest.stdout == ref.stdout
    assert first.stdout and rest.stdout          # the point is mid-run: both parts print something
    # the file written before the snapshot, open across it, is read back whole after it
    assert b"file 60 bytes: line 0" in rest.stdout
    assert b"worker 42 total 165" in rest.stdout   # the second thread, blocked on the event at the snapshot


def test_snapshot_at_an_address_before_the_entry_point(arch, programs, plain, tmp_path):
    exe = programs[arch]
    pe = PEFile.open(str(exe))
    when = f"addr:{exe.name}+{pe.entry_point_rva:#x}"
    snap = tmp_path / "entry.whsnap"
    first = _take(exe, when, snap, stop=True)
    assert first.outcome == "snapshot" and first.stdout == b""
    rest = runner.run(None, from_snapshot=snap)
    assert rest.stdout == plain[arch].stdout and rest.exit_status == 7


def test_restoring_twice_gives_identical_runs(arch, programs, tmp_path):
    snap = tmp_path / "det.whsnap"
    _take(programs[arch], "api:Sleep#6", snap, stop=True)
    a = runner.run(None, from_snapshot=snap)
    b = runner.run(None, from_snapshot=snap)
    assert a.stdout == b.stdout and a.stdout
    assert a.exit_status == b.exit_status == 7
    assert a.machine.clock.now() == b.machine.clock.now()
    assert a.machine.dispatcher.api_calls == b.machine.dispatcher.api_calls
    # each restore has its own sandbox
    assert a.machine.sandbox != b.machine.sandbox


def test_fork_runs_differ_only_by_their_answer(arch, programs, tmp_path):
    snap = tmp_path / "fork.whsnap"
    _take(programs[arch], "api:Sleep#5", snap, stop=True)

    def answer(text):
        return lambda machine: machine.vfs.write_file(INPUT, text.encode())
    def later(machine):       # GetTickCount answers 5 s later in this fork (the loop measured it from before)
        machine.clock.advance(5 * 10_000_000)
    one, two, three = snapshot.fork(snap, [answer("first answer"), answer("second answer"), later])
    assert b"input: first answer" in one.stdout
    assert b"input: second answer" in two.stdout
    assert one.stdout.replace(b"first", b"second") == two.stdout
    assert b"ticks 80\r\n" in one.stdout and b"ticks 5080\r\n" in three.stdout
    assert one.exit_status == two.exit_status == three.exit_status == 7


def test_request_from_a_callback(programs, plain, tmp_path):
    """snapshot.request: a callback (here an event subscriber on file writes' API calls) asks for a snapshot;
    it is taken after the call in progress."""
    exe = programs["x64"]
    snap = tmp_path / "req.whsnap"
    seen = {"n": 0, "info": None}
    holder = {}

    def setup(machine):
        holder["m"] = machine

    def on_event(ev):
        if ev.category == "api" and ev.name == "call" and ev.data.get("api", "").endswith("!WriteFile"):
            seen["n"] += 1
            if seen["n"] == 4:
                snapshot.request(holder["m"], snap, on_saved=lambda info: seen.update(info=info), stop=True)
    first = runner.run(exe, setup_machine=setup, subscribers=[on_event])
    assert first.outcome == "snapshot" and seen["info"]["path"] == str(snap)
    rest = runner.run(None, from_snapshot=snap)
    assert first.stdout + rest.stdout == plain["x64"].stdout
    assert rest.exit_status == 7


def _damaged(tmp_path, good):
    out = {}
    p = tmp_path / "garbage.whsnap"
    p.write_bytes(b"MZ this is not a snapshot" * 10)
    out["garbage"] = (p, "is not a winhatch snapshot")
    p = tmp_path / "truncated.whsnap"
    p.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    out["truncated"] = (p, "is not a winhatch snapshot")
    p = tmp_path / "foreign.zip"
    with zipfile.ZipFile(p, "w") as z:
        z.writestr("meta.json", json.dumps({"hello": 1}))
    out["foreign"] = (p, "no snapshot header")
    # another winhatch build: the same file with another code digest
    p = tmp_path / "other-build.whsnap"
    with zipfile.ZipFile(good) as zin, zipfile.ZipFile(p, "w") as zout:
        for item in zin.infolist():
            data = zin.read(item.filename)
            if item.filename == "meta.json":
                meta = json.loads(data)
                meta["code"] = "0" * 16
                data = json.dumps(meta).encode()
            zout.writestr(item.filename, data)
    out["other-build"] = (p, "was written by another winhatch build")
    # a damaged state: the pickled graph cut short
    p = tmp_path / "damaged.whsnap"
    with zipfile.ZipFile(good) as zin, zipfile.ZipFile(p, "w") as zout:
        for item in zin.infolist():
            data = zin.read(item.filename)
            if item.filename == "graph.pickle":
                data = data[: len(data) // 3]
            zout.writestr(item.filename, data)
    out["damaged"] = (p, "is damaged")
    return out


def test_bad_snapshot_files_are_refused_with_a_message(programs, tmp_path):
    good = tmp_path / "good.whsnap"
    _take(programs["x64"], "api:Sleep#2", good, stop=True)
    missing = tmp_path / "nope.whsnap"
    r = runner.run(None, from_snapshot=missing)
    assert r.outcome == "refused" and r.error.startswith("snapshot:") and "no such file" in r.error
    for kind, (path, words) in _damaged(tmp_path, good).items():
        r = runner.run(None, from_snapshot=path)
        assert r.outcome == "refused", kind
        assert r.error.startswith("snapshot:") and words in r.error, (kind, r.error)


def test_cli_snapshot_round_trip_and_refusal(programs, plain, tmp_path):
    exe = programs["x86"]
    snap = tmp_path / "cli.whsnap"
    wh = [sys.executable, "-m", "winhatch.cli"]
    first = subprocess.run(wh + ["run", "--snapshot-at", "api:Sleep#4", "--snapshot-file", str(snap),
                                 "--snapshot-stop", str(exe)], capture_output=True, timeout=300)
    assert first.returncode == 0, first.stderr
    assert b"snapshot written to" in first.stderr
    rest = subprocess.run(wh + ["run", "--from-snapshot", str(snap)], capture_output=True, timeout=300)
    assert rest.returncode == 7, rest.stderr
    assert first.stdout + rest.stdout == plain["x86"].stdout
    bad = tmp_path / "bad.whsnap"
    bad.write_bytes(b"\0" * 100)
    r = subprocess.run(wh + ["run", "--from-snapshot", str(bad)], capture_output=True, timeout=120)
    assert r.returncode == 1
    assert r.stderr.decode().strip().splitlines() == [f"winhatch: snapshot: {bad} is not a winhatch snapshot "
                                                      f"(File is not a zip file)"]
    r = subprocess.run(wh + ["run", "--snapshot-at", "when:ever", "--snapshot-file", str(bad), str(exe)],
                       capture_output=True, timeout=120)
    assert r.returncode == 2 and b"bad --snapshot-at" in r.stderr


def test_what_cannot_be_saved_is_refused(programs, tmp_path):
    """A machine on the host's network holds host sockets: refused with one line, the run stops."""
    r = runner.run(programs["x64"], net="host", snapshot_at="api:Sleep#2", snapshot_file=str(tmp_path / "n.whsnap"))
    assert r.outcome == "snapshot"
    assert r.error.startswith("snapshot: cannot save") and "--net host" in r.error
    assert not (tmp_path / "n.whsnap").exists()


def test_snapshot_of_a_small_process_is_quick_and_small(programs, tmp_path):
    r = _take(programs["x64"], "api:Sleep#2", tmp_path / "s.whsnap", stop=True)
    info = r.machine.snapshot_info
    assert info["seconds"] < 1.0
    assert info["bytes"] < 4 << 20


def test_a_session_hook_forks_runs_from_its_snapshot(arch, programs, tmp_path):
    """Issue 20: a hook takes a snapshot (Session.snapshot from an API hook), and two Sessions continued from it
    with different hook answers print different values; the snapshot-taker's own hook is not carried over."""
    import winhatch
    snap = tmp_path / "session.whsnap"
    taker = winhatch.Session(programs[arch])
    saved = {}
    sleeps = {"n": 0}

    def at_sleep(call):
        sleeps["n"] += 1
        if sleeps["n"] == 3:
            taker.snapshot(snap, stop=True, on_saved=lambda info: saved.update(info))
    taker.hook_api("kernel32!Sleep", before=at_sleep)
    taker.hook_api("kernel32!GetTickCount", after=lambda call: setattr(call, "result", 1))
    first = taker.run()
    assert first.outcome == "snapshot" and saved["path"] == str(snap)

    outs = []
    for delta in (100, 7000):
        s = winhatch.Session.from_snapshot(snap)
        s.hook_api("kernel32!GetTickCount", after=lambda call, d=delta: setattr(call, "result", d))
        r = s.run()
        assert r.exit_status == 7, r.error
        outs.append(r.stdout)
    # the start was read before the snapshot (1, the taker's answer); the end by each fork's own hook
    assert b"ticks 99\r\n" in outs[0] and b"ticks 6999\r\n" in outs[1]
    assert outs[0].replace(b"ticks 99", b"ticks 6999") == outs[1]
