"""The command line's own contract: help, exit statuses, one-line errors."""
from click.testing import CliRunner

from winhatch import cli, runner


def test_help_explains_every_command():
    r = CliRunner().invoke(cli.main, ["--help"])
    assert r.exit_code == 0
    for cmd in ("run", "inspect", "vmmap", "deps", "report"):
        assert cmd in r.output


def test_exit_status_is_guest_exit_code_and_0xff(build_fixture):
    r = CliRunner().invoke(cli.main, ["run", str(build_fixture("hello.c", "x64"))])
    assert r.exit_code == 42


def test_internal_error_is_one_line_not_a_traceback(monkeypatch):
    def broken(*a, **k):
        raise KeyError("something winhatch did not expect")

    monkeypatch.setattr(runner, "run", broken)
    monkeypatch.delenv("WINHATCH_DEBUG", raising=False)
    r = CliRunner().invoke(cli.main, ["run", "whatever.exe"])
    assert r.exit_code == cli.EXIT_INTERNAL_ERROR
    assert "Traceback" not in r.output
    lines = [ln for ln in r.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("winhatch: internal error: KeyError")


def test_a_report_without_its_api_calls(build_fixture, tmp_path):
    """--no-report-apis: the report keeps the process tree and exit, without the calls — so the system DLLs'
    machine code is not sent to Python (the hot C runtime exports are not counted)."""
    import json
    exe = str(build_fixture("hello.c", "x64"))
    with_calls, without = tmp_path / "with.json", tmp_path / "without.json"
    r = CliRunner().invoke(cli.main, ["run", "--report", str(with_calls), exe])
    assert r.exit_code == 42
    r = CliRunner().invoke(cli.main, ["run", "--report", str(without), "--no-report-apis", exe])
    assert r.exit_code == 42
    a, b = json.loads(with_calls.read_text()), json.loads(without.read_text())
    guest = [p for p in b["process_tree"] if p.get("guest")]
    assert guest and guest[0]["exit_status"] == 42
    pa = [p for p in a["processes"] if p["image_name"].lower() == "hello.exe"][0]
    pb = [p for p in b["processes"] if p["image_name"].lower() == "hello.exe"][0]
    assert pa["api_summary"] and not pb["api_summary"] and not pb["api_calls"]
