"""x64 RtlUnwind out of a guest function a handler called (call_guest): a user APC that unwinds to a frame of
the code that waited (SleepEx) or continued (NtContinue with TestAlert, through KiUserApcDispatcher's CONTEXT).
The handler's Python frames are left (kernel.ke.dispatcher.GuestUnwind) and the thread continues at the target,
as on Windows; tests/fixtures/src/apc_unwind.c, whose output is Wine 8's."""
from __future__ import annotations

from winhatch import runner


def test_unwind_out_of_an_apc(build_fixture):
    res = runner.run(build_fixture("apc_unwind.c", "x64"), [])
    assert res.error is None and res.exit_status == 0, res.stdout
    assert res.stdout == b"queue 0\r\npass 3 called=1\r\npass=4 called=1\r\n"
