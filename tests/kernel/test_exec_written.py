"""Executed-after-written (issue 18): the kernel notes each page of non-image memory that runs after being
written — without hooking instructions: a written executable page is mapped without execute access and a page
that ran without write access, so the transitions fault once each (kernel/mm/aspace.py ExecTrack).
beh_xorcode.c decodes XOR'd code into an RWX buffer and calls it, rewrites it with another payload and calls
it again, and writes code into an RW buffer it then makes PAGE_EXECUTE_READ."""
from __future__ import annotations

import json

from click.testing import CliRunner

from winhatch import runner
from winhatch.cli import main

STAGE = bytes([0xB8])      # mov eax, imm32


def _run(build_fixture, arch):
    exe = build_fixture("beh_xorcode.c", arch)
    res = runner.run(exe)
    out = res.stdout.decode()
    assert res.exit_status == 0, (res.error, out)
    # the program computes what Windows computes: the rewritten buffer runs its new code
    assert "stage 1: 1234\nstage 1 again: 1234\nstage 2: 5678\nstage 3: 9abc\n" in out.replace("\r\n", "\n")
    rwx, rw = (int(x, 16) for x in out.split("buffers: ")[1].split())
    return exe, res, rwx, rw


def test_pages_that_ran_after_being_written(build_fixture, arch):
    _exe, res, rwx, rw = _run(build_fixture, arch)
    recs = [(e["base"], e["page"], e["address"], e["round"], e["protect"])
            for e in (ev.data for ev in res.events if ev.category == "behaviour" and ev.name == "executed_written")]
    # the RWX page ran twice after a write (stage 1, stage 2 — not "stage 1 again"), the RW→RX page once
    assert recs == [(rwx, rwx, rwx, 1, 0x40), (rwx, rwx, rwx, 2, 0x40), (rw, rw, rw, 1, 0x20)]
    snaps = [r["data"] for r in res.process.aspace.executed_written]
    assert snaps[0][:6] == bytes([0xB8, 0x34, 0x12, 0, 0, 0xC3])       # the page as each round ran
    assert snaps[1][:6] == bytes([0xB8, 0x78, 0x56, 0, 0, 0xC3])
    assert snaps[2][:6] == bytes([0xB8, 0xBC, 0x9A, 0, 0, 0xC3])
    b = res.report()["behaviour"]
    assert [(c["page"], c["round"]) for c in b["executed_code"]] == [(rwx, 1), (rwx, 2), (rw, 1)]


def test_nothing_noted_for_ordinary_programs(build_fixture, arch):
    res = runner.run(build_fixture("hello.c", arch))
    assert res.exit_status == 42 and b"Hello from winhatch" in res.stdout     # hello.c's own exit code
    assert not [ev for ev in res.events if ev.name == "executed_written"]
    assert res.process.aspace.executed_written == []


def test_dump_writes_the_code_that_ran(build_fixture, arch, tmp_path):
    exe = build_fixture("beh_xorcode.c", arch)
    out = tmp_path / "d"
    r = CliRunner().invoke(main, ["run", "--dump", str(out), str(exe)])
    assert r.exit_code == 0, r.output
    man = json.loads((out / "manifest.json").read_text())
    ran = [e for e in man["executed"] if e["when"] == "as it ran"]
    assert [(e["round"], (out / e["file"]).read_bytes()[:3]) for e in ran] == [
        (1, bytes([0xB8, 0x34, 0x12])), (2, bytes([0xB8, 0x78, 0x56])), (1, bytes([0xB8, 0xBC, 0x9A]))]
    at_exit = [e for e in man["executed"] if e["when"] == "at exit"]
    assert len(at_exit) == 2 and {e["size"] for e in at_exit} == {0x2000, 0x1000}
    assert all((out / e["file"]).stat().st_size == e["size"] for e in at_exit)
