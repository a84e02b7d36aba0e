"""A program starting a program of the other architecture: the second architecture's system DLLs and handlers
are made ready when that process is created (machine.add_architecture)."""
from __future__ import annotations

import shutil

from winhatch import runner


def test_child_of_the_other_architecture(arch, build_fixture, tmp_path):
    other = "x86" if arch == "x64" else "x64"
    parent = tmp_path / "parent.exe"
    shutil.copy2(build_fixture("proc_otherarch.c", arch), parent)
    shutil.copy2(build_fixture("hello.c", other), tmp_path / "child.exe")
    res = runner.run(parent, ["child.exe"], max_instructions=50_000_000)
    assert res.error is None, res.error
    assert res.exit_status == 0
    assert res.stdout.replace(b"\r\n", b"\n") == b"Hello from winhatch! argc=1\nchild exit 42\n"
    procs = {p.image_name: p.arch for p in res.machine.processes if p.cpu is not None}
    assert procs == {"parent.exe": arch, "child.exe": other}
    assert set(res.machine.subsystem_arches) == {"x86", "x64"}
