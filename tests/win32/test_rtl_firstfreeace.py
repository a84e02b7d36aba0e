"""RtlFirstFreeAce (tests/fixtures/src/acl_firstfree.c): the lines are wine64's output of the x64 build, the
cases of Wine's ntdll/tests/rtl.c test_RtlFirstFreeAce (written on Windows) and a real ACE."""
from winhatch import runner

EXPECTED = [
    "empty: found=1 first=after-header",
    "empty, size 7: found=1 first=null",
    "empty, size 8: found=1 first=after-header",
    "one zero-size ace: found=1 first=after-header",
    "one ace, size 8: found=0 first=null",
    "one real ace: found=1 first=after-ace",
    "one real ace past the size: found=1 first=null",
]


def test_rtl_first_free_ace(arch, build_fixture):
    res = runner.run(build_fixture("acl_firstfree.c", arch), [])
    assert res.stdout.decode().splitlines() == EXPECTED
    assert res.exit_status == 0
