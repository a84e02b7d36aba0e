"""--events FILE.jsonl and the event log's query helpers."""
import json

from report_helpers import cli

from winhatch.kernel.events import EventLog


def test_events_jsonl_has_ids_and_both_timestamps(build_fixture, arch, tmp_path):
    exe = build_fixture("hello.c", arch)
    out = tmp_path / "ev.jsonl"
    r = cli("run", "--events", out, exe, "x")
    assert r.returncode == 42, r.stderr
    lines = out.read_text().splitlines()
    evs = [json.loads(line) for line in lines]
    assert len(evs) > 50
    for e in evs:
        for k in ("seq", "category", "name", "pid", "tid", "time", "host_time", "depth"):
            assert k in e, (k, e)
        assert isinstance(e["pid"], int) and isinstance(e["tid"], int)
        assert isinstance(e["time"], int) and e["time"] >= 0
        assert isinstance(e["host_time"], float) and e["host_time"] >= 0
    seqs = [e["seq"] for e in evs]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    hosts = [e["host_time"] for e in evs]
    assert hosts == sorted(hosts)
    emu = [e["time"] for e in evs]
    assert emu == sorted(emu)  # emulated time never goes backwards
    # the child's events carry its pid, thread events its tid
    create = next(e for e in evs if e["name"] == "process_create")
    child = create["pid"]
    snaps = [e for e in evs if e["name"] == "LdrpSnapThunk"]
    assert snaps and all(e["pid"] == child and e["tid"] != 0 for e in snaps)
    # an event's own name survives a data field called "name" (image loads)
    loads = [e for e in evs if e["category"] == "image"]
    assert {e["name"] for e in loads} == {"image_load"}
    assert {"hello.exe", "ntdll.dll"} <= {e["data_name"] for e in loads}


def test_filter_and_matches():
    log = EventLog(clock=iter(range(0, 1000, 10)).__next__)
    log.record("api")  # API calls are kept only when asked for
    log.emit("stage", "A", 1, 0)
    log.emit("api", "call", 1, 7, api="k32!X")
    log.emit("api", "call", 2, 8, api="k32!Y")
    log.emit("loader", "LdrpMapDll", 1, 7, module="m.dll")
    assert [e.name for e in log.filter("api")] == ["call", "call"]
    assert [e.data["api"] for e in log.filter(category="api", pid=2)] == ["k32!Y"]
    assert [e.name for e in log.filter(category={"stage", "loader"})] == ["A", "LdrpMapDll"]
    assert [e.name for e in log.filter(tid=7)] == ["call", "LdrpMapDll"]
    assert [e.seq for e in log.filter(since=10, until=20)] == [2, 3]
    assert [e.data["api"] for e in log.filter(where=lambda e: e.data.get("api", "").endswith("X"))] == ["k32!X"]
    assert log.filter(name="nothing") == []
    assert log.counts() == {"stage": 1, "api": 2, "loader": 1}
    assert log.counts("pid") == {1: 3, 2: 1}
