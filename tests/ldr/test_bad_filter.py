"""Exception handlers at invalid addresses (issue 14): the dispatcher must not recurse without end (x64 hit
Python's RecursionError, x86 re-faulted until the time limit). Windows ends such a process with 0xC0000005."""
import pytest

from winhatch import runner

STATUS_ACCESS_VIOLATION = 0xC0000005


@pytest.mark.parametrize("filter_address", ["0x10", "top"])
def test_unhandled_exception_filter_at_invalid_address(build_fixture, arch, filter_address):
    """SetUnhandledExceptionFilter(0x10 or the top of the address space), then an access violation: the
    filter faults when it is called; that exception reaches the top while the filter runs, so it gets the
    default action and the process ends with 0xC0000005 (the fault at the filter's address)."""
    addr = {"0x10": 0x10, "top": 0xFFFFFFF0 if arch == "x86" else 0xFFFFFFFFFFFFFFF0}[filter_address]
    res = runner.run(build_fixture("rob_badfilter.c", arch), [hex(addr)], timeout=60)
    assert res.exit_status == STATUS_ACCESS_VIOLATION, res.error
    assert res.stdout.decode().splitlines() == ["faulting"]
    assert res.crash["code"] == STATUS_ACCESS_VIOLATION and res.crash["address"] == addr, res.crash


def test_vectored_handler_at_invalid_address(build_fixture, arch):
    """A vectored handler at 0x10 faults for every exception, its own included: the nested exceptions use up
    the stack and the process ends with an access violation, in bounded time."""
    res = runner.run(build_fixture("rob_badfilter.c", arch), ["0x10", "veh"], timeout=60)
    assert res.exit_status == STATUS_ACCESS_VIOLATION, res.error
    assert res.stdout.decode().splitlines() == ["faulting"]
