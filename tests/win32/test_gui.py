"""user32 without a desktop (issue 16): a program waiting for a user who never comes is stopped with that
reason, not left spinning; a dialog whose loop waits on a timer runs on the emulated clock to its end.
The message sequences themselves are compared with Wine by the conformance fixtures conf_window and
conf_dialog."""
from __future__ import annotations

import pytest

from winhatch import runner


@pytest.mark.parametrize("arg", ["", "getmessage"])
def test_waiting_for_a_user_stops_loudly(arg, arch, build_fixture):
    exe = build_fixture("gui_wait.c", arch, libs=["-luser32"])
    res = runner.run(exe, [arg] if arg else [], max_instructions=50_000_000)
    assert res.stdout == (b"loop\r\n" if arg else b"init\r\n")
    assert res.error is not None and "waits for input that never comes" in res.error, res.error
    assert ("DialogBox" if not arg else "GetMessage") in res.error


def test_dialog_ended_by_its_timer(arch, build_fixture):
    exe = build_fixture("gui_wait.c", arch, libs=["-luser32"])
    res = runner.run(exe, ["timer"], max_instructions=50_000_000)
    assert res.error is None, res.error
    assert res.stdout == b"init\r\nended 42 after >= 1500 ms: 1\r\n"
    assert res.exit_status == 0


def test_display_directive(tmp_path):
    """The user32 fixtures are recorded from a Wine with a display (Xvfb): `display=xvfb`."""
    import importlib.util
    import sys
    from pathlib import Path
    root = Path(__file__).resolve().parents[2]
    spec = importlib.util.spec_from_file_location("record_expected", root / "tools" / "record_expected.py")
    mod = sys.modules.get("record_expected") or importlib.util.module_from_spec(spec)
    if "record_expected" not in sys.modules:
        sys.modules["record_expected"] = mod
        spec.loader.exec_module(mod)
    src = tmp_path / "conf_demo.c"
    src.write_text("// winhatch-fixture: display=xvfb\nint main(void) { return 0; }\n")
    assert mod.parse_fixture(src).display == "xvfb"
    src.write_text("int main(void) { return 0; }\n")
    assert mod.parse_fixture(src).display is None
    src.write_text("// winhatch-fixture: display=x11\n")
    with pytest.raises(mod.FixtureError, match="xvfb"):
        mod.parse_fixture(src)
    assert mod.parse_fixture(root / "tests/fixtures/src/conf_dialog.c").display == "xvfb"


def test_sent_message_deadlock_is_reported(arch, build_fixture):
    """A thread waiting in SendMessage for a thread that never looks at its queue: the machine's deadlock
    report names the reply it waits for (user32.sent), rather than hanging."""
    exe = build_fixture("gui_sendmsg.c", arch, libs=["-luser32"])
    res = runner.run(exe, ["deadlock"], max_instructions=50_000_000)
    assert res.stdout == b"waiting\r\n"
    assert res.error is not None and "deadlock" in res.error, res.error
    assert "in SendMessage waits for the reply to message 0x407 sent to window" in res.error, res.error


def test_send_message_timeout_abort_if_hung(arch, build_fixture):
    """SMTO_ABORTIFHUNG: a receiver that has not looked at its queue for more than 5 s fails the call at once
    with ERROR_TIMEOUT (Microsoft's SendMessageTimeout and IsHungAppWindow); SMTO_NORMAL waits out the
    time-out."""
    exe = build_fixture("gui_sendmsg.c", arch, libs=["-luser32"])
    res = runner.run(exe, [], max_instructions=50_000_000)
    assert res.error is None, res.error
    assert res.stdout == b"hung: 0 err=1460 res=0 quick=1\r\nnormal: 0 err=1460 waited=1\r\n"
