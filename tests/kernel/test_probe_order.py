"""A system service probes its user buffers before it references its handle: NtCancelTimer with a bad
CurrentState pointer and a bad handle is STATUS_ACCESS_VIOLATION (tests/fixtures/src/cancel_timer_probe.c; the
same output as Wine 8, which Wine's ntdll/exception test checks on Windows)."""
from __future__ import annotations

import pytest

from winhatch import runner


@pytest.mark.parametrize("arch", ["x64", "x86"])
def test_cancel_timer_probes_before_the_handle(arch, build_fixture):
    res = runner.run(build_fixture("cancel_timer_probe.c", arch), [])
    assert res.error is None
    assert res.stdout == b"c0000008 c0000005 c0000008\r\n"
