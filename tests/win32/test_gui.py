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
