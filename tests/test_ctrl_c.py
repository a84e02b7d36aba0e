"""Ctrl-C (SIGINT) during a run: the engine stops at once (even in a CPU-bound guest), the guest ends with
STATUS_CONTROL_C_EXIT as a console process does on Windows, the report is written, the sandbox is removed."""
import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from winhatch import cli, runner

STATUS_CONTROL_C_EXIT = 0xC000013A
WINHATCH = [sys.executable, "-m", "winhatch.cli"]


def _start(tmp_path, exe, mode):
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    report = tmp_path / "r.json"
    env = dict(os.environ, TMPDIR=str(tmpdir))
    env.pop("WINHATCH_DEBUG", None)
    p = subprocess.Popen(WINHATCH + ["run", "--report", str(report), str(exe), mode], env=env,
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    line = p.stdout.readline()   # the guest runs once it printed this
    assert line.startswith(b"started " + mode.encode()), (line, p.stderr.read() if p.poll() is not None else b"")
    return p, report, tmpdir


@pytest.mark.parametrize("mode", ["cpu", "api", "wait"])
def test_ctrl_c_stops_the_guest_and_reports(tmp_path, build_fixture, arch, mode):
    exe = build_fixture("busyloop.c", arch)
    p, report, tmpdir = _start(tmp_path, exe, mode)
    try:
        time.sleep(0.3)
        assert p.poll() is None      # still running: nothing but the signal ends it
        t0 = time.monotonic()
        p.send_signal(signal.SIGINT)
        rc = p.wait(timeout=10)
        took = time.monotonic() - t0
    finally:
        if p.poll() is None:
            p.kill()
        p.stdin.close()
    err = p.stderr.read().decode()
    assert rc == cli.EXIT_INTERRUPTED, err
    assert took < 1.0, f"took {took:.2f} s"
    assert "interrupted (Ctrl-C)" in err and "Traceback" not in err and "Exception ignored" not in err
    doc = json.loads(report.read_text())
    assert doc["result"]["exit_status"] == STATUS_CONTROL_C_EXIT
    assert doc["processes"][0]["exit_status"] == STATUS_CONTROL_C_EXIT
    assert list(tmpdir.iterdir()) == []   # the sandbox's temporary folder is gone


def test_python_api_raises_keyboard_interrupt_after_clean_up(build_fixture, tmp_path, monkeypatch):
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    exe = build_fixture("busyloop.c", "x64")
    timer = threading.Timer(0.3, lambda: os.kill(os.getpid(), signal.SIGINT))

    class Out(io.BytesIO):   # the guest printed "started": Ctrl-C a little later, while it computes
        def write(self, data):
            if not timer.is_alive() and not self.getvalue():
                timer.start()
            return super().write(data)
    try:
        with pytest.raises(KeyboardInterrupt) as ei:
            runner.run(exe, ["cpu"], stdout=Out())
    finally:
        timer.cancel()
    assert isinstance(ei.value, runner.Interrupted)
    res = ei.value.result
    assert res.exit_status == STATUS_CONTROL_C_EXIT and res.interrupted
    assert res.stdout == b"started cpu\r\n"   # the CRT's text mode
    assert res.report()["result"]["exit_status"] == STATUS_CONTROL_C_EXIT
    assert list(Path(tmp_path).iterdir()) == []
    # the host's own SIGINT handling is back
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


@pytest.mark.parametrize("mode", ["cpu", "wait"])
def test_sigterm_ends_the_run_as_ctrl_c_does(tmp_path, build_fixture, mode):
    exe = build_fixture("busyloop.c", "x64")
    p, report, tmpdir = _start(tmp_path, exe, mode)
    try:
        time.sleep(0.3)
        t0 = time.monotonic()
        p.send_signal(signal.SIGTERM)
        rc = p.wait(timeout=10)
        took = time.monotonic() - t0
    finally:
        if p.poll() is None:
            p.kill()
        p.stdin.close()
    err = p.stderr.read().decode()
    assert rc == 128 + signal.SIGTERM, err
    assert took < 3.0 and "Traceback" not in err      # the Ctrl-C test holds the one-second bar; same path
    doc = json.loads(report.read_text())
    assert doc["result"]["outcome"] == "interrupted"
    assert doc["result"]["exit_status"] == STATUS_CONTROL_C_EXIT
    assert list(tmpdir.iterdir()) == []
