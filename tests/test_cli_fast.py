"""The console script serves a plain `winhatch run PROGRAM [ARGS...]` without click (winhatch.runcmd.fast_main):
the same work as the click command with every option at its default, the same output and exit status."""
from __future__ import annotations

import inspect
import subprocess
import sys
from pathlib import Path

from winhatch import cli, runcmd

ROOT = Path(__file__).resolve().parent.parent
HELLO = ROOT / "examples" / "hello" / "hello-x64.exe"

# the console script's code (what pip writes into .venv/bin/winhatch), and a probe of whether click was imported
SCRIPT = ("import atexit, sys\n"
          "atexit.register(lambda: print('click imported:', 'click' in sys.modules, file=sys.stderr))\n"
          "from winhatch.runcmd import main\n"
          "sys.argv[0] = 'winhatch'\n"
          "sys.exit(main())\n")


def test_the_defaults_are_the_click_commands():
    ctx = cli.run.make_context("run", ["prog.exe", "-x", "--help"])
    assert ctx.params == {**runcmd.RUN_DEFAULTS, "program": "prog.exe", "args": ("-x", "--help")}
    # the click command hands its parameters on in its own order
    assert list(inspect.signature(runcmd.run_program).parameters)[:-1] == \
        list(inspect.signature(cli.run.callback).parameters)
    assert {p.name for p in cli.run.params} == set(runcmd.RUN_DEFAULTS) | {"program", "args"}


def test_plain_run():
    assert runcmd.plain_run(["run", "a.exe"]) and runcmd.plain_run(["run", "a.exe", "--trace", "x"])
    assert not runcmd.plain_run(["run"]) and not runcmd.plain_run(["run", "--trace", "api", "a.exe"])
    assert not runcmd.plain_run(["inspect", "a.exe"]) and not runcmd.plain_run(["run", str(ROOT)])


def _both(*args):
    fast = subprocess.run([sys.executable, "-c", SCRIPT, *args], capture_output=True, cwd=ROOT, timeout=600)
    slow = subprocess.run([sys.executable, "-m", "winhatch.cli", *args], capture_output=True, cwd=ROOT, timeout=600)
    return fast, slow


def test_the_plain_form_runs_without_click_as_the_click_command_does():
    # (a message on stderr is written by click.echo: click is imported for it)
    for args, status, click_used in (((str(HELLO), "-x", "--help", "a b"), 42, False),
                                     (("no-such-file.exe",), 1, True)):
        fast, slow = _both("run", *args)
        assert fast.returncode == slow.returncode == status, (fast.stderr, slow.stderr)
        assert fast.stdout == slow.stdout
        err = fast.stderr.decode().splitlines()
        assert err[-1] == f"click imported: {click_used}", err
        assert "\n".join(err[:-1]) == slow.stderr.decode().rstrip("\n")
    # anything else goes to the click group: an option, a directory, another command
    fast, slow = _both("run", str(ROOT / "examples"))
    assert fast.returncode == slow.returncode == 2
    assert fast.stderr.decode().splitlines()[-1] == "click imported: True"
    fast, _ = _both("run", "--timeout", "100", str(HELLO))
    assert fast.returncode == 42 and fast.stderr.decode().splitlines()[-1] == "click imported: True"


def test_the_console_script_ends_with_its_sandbox_removed_and_its_output_flushed(tmp_path):
    """The console script's process ends with os._exit once the run is over (runcmd._end_command_process):
    the sandbox is removed, atexit functions run, buffered output is written, the status is the guest's."""
    env = {**__import__("os").environ, "TMPDIR": str(tmp_path)}
    script = SCRIPT.replace("from winhatch", "atexit.register(lambda: print('atexit ran'))\nfrom winhatch")
    for args in (("run", str(HELLO), "a"), ("run", "--timeout", "100", str(HELLO))):
        p = subprocess.run([sys.executable, "-c", script, *args], capture_output=True, cwd=ROOT, timeout=600, env=env)
        assert p.returncode == 42, p.stderr
        lines = p.stdout.replace(b"\r\n", b"\n").splitlines()
        assert lines[0] == b"Hello from winhatch! argc=" + (b"2" if "a" in args else b"1") and lines[-1] == b"atexit ran"
        assert list(tmp_path.iterdir()) == [], "the sandbox folder is left behind"
