"""`winhatch run`'s exit status tells winhatch's own endings (refused, unimplemented, limit, deadlock) apart from
the guest's, the report's result.outcome names each case, and the command-line habits an analyst expects:
samples named by hash (no extension) run, a --cwd that is not a directory fails as CreateProcess does, and
negative budgets are refused."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys

import pytest


def _run(tmp_path, *args):
    rep = tmp_path / "r.json"
    p = subprocess.run([sys.executable, "-m", "winhatch.cli", "run", "--report", str(rep), *map(str, args)],
                       capture_output=True, timeout=120)
    doc = json.loads(rep.read_text()) if rep.exists() else None
    return p, doc


def _outcome(doc):
    return doc["result"]["outcome"]


def test_exit_statuses_and_outcomes(build_fixture, tmp_path):
    p, doc = _run(tmp_path, build_fixture("hello.c", "x64"))
    assert (p.returncode, _outcome(doc)) == (42, "exited")
    p, doc = _run(tmp_path, build_fixture("crash.c", "x86"))
    assert (p.returncode, _outcome(doc)) == (0x05, "crashed")              # 0xC0000005 & 0xFF
    p, doc = _run(tmp_path, build_fixture("data_unimpl.c", "x64", libs=["-lntdll"]))
    assert (p.returncode, _outcome(doc)) == (125, "unimplemented")
    p, doc = _run(tmp_path, "--max-instructions", "200000", build_fixture("busyloop.c", "x64"))
    assert (p.returncode, _outcome(doc)) == (124, "limit")
    p, doc = _run(tmp_path, build_fixture("thr_deadlock.c", "x86"))
    assert (p.returncode, _outcome(doc)) == (126, "deadlock"), p.stderr
    bad = tmp_path / "bad.exe"
    bad.write_bytes(build_fixture("hello.c", "x64").read_bytes()[:3000])
    p, doc = _run(tmp_path, bad)
    assert (p.returncode, _outcome(doc)) == (1, "refused")
    assert b"STATUS_INVALID_IMAGE_FORMAT" in p.stderr


def test_startup_failure_is_the_guest_status(build_fixture, tmp_path):
    import fixturebuild
    a = build_fixture("ldr_dlla.c", "x64", dll=True)
    exe = fixturebuild.build("ldr_missing.c", "x64", libs=[str(a)], extra_inputs=[a])
    d = tmp_path / "app"
    d.mkdir()
    shutil.copy(exe, d / "missing.exe")          # without ldr_dlla.dll beside it
    p, doc = _run(tmp_path, d / "missing.exe")
    assert _outcome(doc) == "startup-failed"
    assert p.returncode == 0xC0000135 & 0xFF     # STATUS_DLL_NOT_FOUND, as the process exits on Windows


def test_a_sample_named_by_its_hash_runs(build_fixture, tmp_path):
    exe = tmp_path / "5d41402abc4b2a76b9719d911017c592"
    shutil.copy(build_fixture("hello.c", "x86"), exe)
    p, doc = _run(tmp_path, exe)
    assert p.returncode == 42 and b"Hello from winhatch!" in p.stdout, p.stderr


def test_cwd_must_be_a_directory_and_budgets_not_negative(build_fixture, tmp_path):
    exe = build_fixture("hello.c", "x64")
    p, doc = _run(tmp_path, "--cwd", r"C:\no\such\dir", exe)
    assert p.returncode == 1 and b"error 267" in p.stderr and b"directory name is invalid" in p.stderr
    p, _ = _run(tmp_path, "--cwd", r"C:\Windows\System32\ntdll.dll", exe)
    assert p.returncode == 1 and b"error 267" in p.stderr
    p, _ = _run(tmp_path, "--cwd", r"C:\Windows", exe)
    assert p.returncode == 42
    for opt in ("--timeout", "--max-instructions"):
        p, _ = _run(tmp_path, opt, "-1", exe)
        assert p.returncode == 2 and b"range" in p.stderr, opt


@pytest.mark.parametrize("help_of", ["run", "batch"])
def test_help_documents_the_exit_statuses(help_of):
    from click.testing import CliRunner

    from winhatch.cli import main
    r = CliRunner().invoke(main, [help_of, "--help"])
    assert r.exit_code == 0
    text = " ".join(r.output.split())
    if help_of == "run":
        for code in ("124", "125", "126", "130", "70"):
            assert code in text
    else:
        assert "Exit status" in text and "internal-error" in text


def test_drivers_and_dotnet_assemblies_are_refused_with_those_words(build_fixture, tmp_path):
    import struct
    data = bytearray(build_fixture("hello.c", "x64").read_bytes())
    oh = struct.unpack_from("<I", data, 0x3C)[0] + 24
    drv = bytearray(data)
    struct.pack_into("<H", drv, oh + 68, 1)                          # Subsystem = IMAGE_SUBSYSTEM_NATIVE
    (tmp_path / "drv.sys").write_bytes(drv)
    p, doc = _run(tmp_path, tmp_path / "drv.sys")
    assert p.returncode == 1 and b"kernel driver" in p.stderr and _outcome(doc) == "refused"
    net = bytearray(data)
    struct.pack_into("<II", net, oh + 112 + 8 * 14, 0x1000, 0x48)    # a CLR (COM descriptor) directory
    (tmp_path / "net.exe").write_bytes(net)
    p, doc = _run(tmp_path, tmp_path / "net.exe")
    assert p.returncode == 1 and b".NET assembly" in p.stderr


def test_a_child_stopped_at_an_unimplemented_api_is_said(build_fixture, tmp_path):
    d = tmp_path / "app"
    d.mkdir()
    shutil.copy(build_fixture("proc_otherarch.c", "x64"), d / "parent.exe")
    shutil.copy(build_fixture("data_unimpl.c", "x86", libs=["-lntdll"]), d / "child.exe")
    p, doc = _run(tmp_path, d / "parent.exe", "child.exe")
    assert b"in child child.exe" in p.stderr and b"NlsMbCodePageTag" in p.stderr, p.stderr


def test_piped_tables_are_not_cut_to_80_columns(build_fixture, tmp_path):
    long = tmp_path / ("a-rather-long-folder-name-for-a-sample-" * 3)
    long.mkdir()
    exe = long / "hello.exe"
    shutil.copy(build_fixture("hello.c", "x64"), exe)
    env = {k: v for k, v in __import__("os").environ.items() if k != "COLUMNS"}
    p = subprocess.run([sys.executable, "-m", "winhatch.cli", "inspect", str(exe)], capture_output=True, env=env,
                       timeout=60)
    assert p.returncode == 0
    assert str(exe) in p.stdout.decode()                  # the title in one piece
    assert max(len(ln) for ln in p.stdout.decode().splitlines()) > 80


@pytest.mark.parametrize("no_color", [False, True])
def test_trace_colours_follow_no_color_and_name_the_columns(build_fixture, no_color):
    import os
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR")}
    env["FORCE_COLOR"] = "1"
    if no_color:
        env["NO_COLOR"] = "1"
    p = subprocess.run([sys.executable, "-m", "winhatch.cli", "run", "--trace", "stages",
                        str(build_fixture("hello.c", "x64"))], capture_output=True, env=env, timeout=120)
    assert p.returncode == 42
    colours = re.findall(rb"\x1b\[[0-9;]*m", p.stderr)
    coloured = any(re.search(rb"(^|;)(3[0-7]|9[0-7]|38)(;|m)", c[2:]) for c in colours)
    assert coloured is (not no_color)          # NO_COLOR: no colours (bold and dim may stay, as the convention says)
    first = p.stderr.decode().splitlines()[0]
    assert "host ms" in first and "emulated" in first and "pid/tid" in first


def test_api_call_and_emulated_time_budgets(build_fixture, tmp_path):
    p, doc = _run(tmp_path, "--max-api-calls", "3000", build_fixture("busyloop.c", "x64"), "api")
    assert (p.returncode, _outcome(doc)) == (124, "limit") and "API call budget" in doc["result"]["error"]
    p, doc = _run(tmp_path, "--max-emulated-time", "600", build_fixture("sleeploop.c", "x86"))
    assert (p.returncode, _outcome(doc)) == (124, "limit") and "emulated time" in doc["result"]["error"]
    wakes = p.stdout.decode().split()
    assert wakes.count("awake") in (10, 11)            # 600 emulated seconds of one-minute sleeps
    p, doc = _run(tmp_path, "--max-emulated-time", "0", "--timeout", "3", build_fixture("sleeploop.c", "x86"))
    assert _outcome(doc) == "limit" and "time limit reached" in doc["result"]["error"]   # 0: no emulated budget
