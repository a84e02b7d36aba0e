"""`winhatch batch`: mixed samples (programs of both architectures, a DLL, a crash, a hang, an unimplemented
data export, malformed and non-PE files) each get one report and one summary line, a second run skips them,
and the same batch as Ray tasks on a local Ray head (127.0.0.1) gives identical results."""
from __future__ import annotations

import importlib.util
import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from winhatch import batch as B

# what each sample must end as (name -> status, exit code or None)
EXPECT = {
    "hello-x64.exe": ("exited", 42), "hello-x86.exe": ("exited", 42),
    "crash-x64.exe": ("crashed", 0xC0000005), "crash-x86.exe": ("crashed", 0xC0000005),
    "spin-x64.exe": ("limit", None),
    "data_unimpl-x86.exe": ("unimplemented", None),
    "ldr_dlla-x64.dll": ("exited", 0),          # rundll32: DllMain attach and detach
    "truncated.exe": ("refused", None),
    "notes.txt": ("refused", None),
}
COMPARED = ("name", "sha256", "size", "status", "exit_code", "first_unimplemented", "error", "arch", "iocs")


@pytest.fixture(scope="module")
def samples(tmp_path_factory, build_fixture):
    d = tmp_path_factory.mktemp("samples")
    for arch in ("x64", "x86"):
        shutil.copy(build_fixture("hello.c", arch), d / f"hello-{arch}.exe")
        shutil.copy(build_fixture("crash.c", arch), d / f"crash-{arch}.exe")
    shutil.copy(build_fixture("busyloop.c", "x64"), d / "spin-x64.exe")
    shutil.copy(build_fixture("data_unimpl.c", "x86", libs=["-lntdll"]), d / "data_unimpl-x86.exe")
    shutil.copy(build_fixture("ldr_dlla.c", "x64", dll=True), d / "ldr_dlla-x64.dll")
    (d / "truncated.exe").write_bytes((d / "hello-x64.exe").read_bytes()[:3000])
    (d / "notes.txt").write_bytes(b"not a program\n")
    return d


def _by_name(lines):
    return {ln["name"]: ln for ln in lines}


def _check(lines):
    got = _by_name(lines)
    assert set(got) == set(EXPECT)
    for name, (status, code) in EXPECT.items():
        ln = got[name]
        assert ln["status"] == status, (name, ln)
        if code is not None:
            assert ln["exit_code"] == code, (name, ln)


def test_collect_takes_files_given_and_mz_files_under_directories(samples, tmp_path):
    found = {p.name for p in B.collect([str(samples)])}
    assert "notes.txt" not in found and "hello-x64.exe" in found and "ldr_dlla-x64.dll" in found
    lst = tmp_path / "list.txt"
    lst.write_text(f"# a comment\n\n{samples / 'notes.txt'}\n{samples / 'hello-x86.exe'}\n")
    assert [p.name for p in B.collect([], str(lst))] == ["notes.txt", "hello-x86.exe"]
    with pytest.raises(FileNotFoundError):
        B.collect([str(tmp_path / "nothing")])


def test_batch_local_then_cached_then_ray(samples, tmp_path):
    paths = [str(samples), str(samples / "notes.txt")]
    opts = B.Options(timeout=4.0)
    out = tmp_path / "local"
    lines = B.run_batch(paths, out, jobs=2, opts=opts, progress=False)
    _check(lines)
    for ln in lines:                                   # one report each, where a process was created or refused
        d = out / ln["dir"]
        assert json.loads((d / "result.json").read_text())["status"] == ln["status"]
        rep = json.loads((d / "report.json").read_text())
        assert rep["schema_version"]
    hello = _by_name(lines)["hello-x64.exe"]
    assert (out / hello["dir"] / "stdout.txt").read_bytes().startswith(b"Hello from winhatch!")
    assert _by_name(lines)["data_unimpl-x86.exe"]["first_unimplemented"] == "ntdll.dll!NlsMbCodePageTag"
    assert "STATUS_INVALID_IMAGE_FORMAT" in _by_name(lines)["truncated.exe"]["error"]
    summary = [json.loads(s) for s in (out / "summary.jsonl").read_text().splitlines()]
    assert [s["name"] for s in summary] == [ln["name"] for ln in lines]

    again = B.run_batch(paths, out, jobs=2, opts=opts, progress=False)   # nothing new: every sample cached
    assert all(ln["cached"] for ln in again)
    assert [{k: ln[k] for k in COMPARED} for ln in again] == [{k: ln[k] for k in COMPARED} for ln in lines]

    if importlib.util.find_spec("ray") is None:
        pytest.skip("ray is not installed")
    port = _free_port()
    env = dict(os.environ, RAY_USAGE_STATS_ENABLED="0")
    ray_bin = str(Path(sys.executable).with_name("ray"))
    subprocess.run([ray_bin, "start", "--head", "--node-ip-address=127.0.0.1", f"--port={port}", "--num-cpus=2",
                    "--include-dashboard=false", "--disable-usage-stats"], check=True, env=env,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=180)
    try:
        on_ray = B.run_batch(paths, tmp_path / "ray", ray_address=f"127.0.0.1:{port}", opts=opts, progress=False)
    finally:
        subprocess.run([ray_bin, "stop", "--force"], env=env, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, timeout=120)
    assert [{k: ln[k] for k in COMPARED} for ln in on_ray] == [{k: ln[k] for k in COMPARED} for ln in lines]


def test_cli_batch_table_json_and_exit_codes(samples, tmp_path):
    from click.testing import CliRunner

    from winhatch.cli import main
    r = CliRunner().invoke(main, ["batch", str(samples / "hello-x86.exe"), str(samples / "truncated.exe"),
                                  "--out", str(tmp_path / "o"), "-j", "1", "--json", "--no-progress"])
    assert r.exit_code == 0, r.output
    lines = [json.loads(s) for s in r.output.splitlines() if s.startswith("{")]
    assert [(ln["name"], ln["status"]) for ln in lines] == [("hello-x86.exe", "exited"), ("truncated.exe", "refused")]
    r = CliRunner().invoke(main, ["batch", str(tmp_path / "empty-dir-missing"), "--out", str(tmp_path / "o2")])
    assert r.exit_code == 1 and "no such file" in r.output
    (tmp_path / "empty").mkdir()
    r = CliRunner().invoke(main, ["batch", str(tmp_path / "empty"), "--out", str(tmp_path / "o3")])
    assert r.exit_code == 1 and "no samples found" in r.output


def test_a_worker_past_its_memory_bound_is_recorded_not_fatal(samples, tmp_path):
    opts = B.Options(timeout=4.0, worker_memory=1 << 20)     # 1 MiB: any winhatch process is past it
    lines = B.run_batch([str(samples / "hello-x64.exe")], tmp_path / "m", jobs=1, opts=opts, progress=False)
    assert [ln["status"] for ln in lines] == ["memory"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
