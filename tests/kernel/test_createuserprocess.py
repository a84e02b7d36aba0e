"""NtCreateUserProcess as a system service (kernel/ps/services.py over the creation stages of kernel/ps/create.py),
through ntdll's export (tests/fixtures/src/sys_createuserprocess.c): the initial thread may not be hidden from
the debugger (STATUS_INVALID_PARAMETER, Windows's answer in Wine's ntdll/thread.c), a suspended child waits for
NtResumeThread, PS_ATTRIBUTE_CLIENT_ID and PS_CREATE_INFO.State (PsCreateSuccess) are filled, the child runs its
command line and its exit code reaches the parent."""
from __future__ import annotations

from winhatch import runner


def test_create_user_process(build_fixture, arch):
    res = runner.run(build_fixture("sys_createuserprocess.c", arch), [], max_instructions=100_000_000)
    assert res.error is None, res.error
    out = res.stdout.decode("latin-1").replace("\r\n", "\n").splitlines()
    assert res.exit_status == 0, out
    for want in ("params: 00000000", "hidden initial thread: c000000d", "create: 00000000 state=6 cid=1",
                 "still suspended: 1", "child: running", "child exit: 42"):
        assert want in out, "\n".join(out)
