"""ntdll's DbgPrint, DbgPrintEx, vDbgPrintEx, vDbgPrintExWithPrefix (tests/fixtures/src/dbg_print.c): the
expected lines are wine64's output of the x64 build (Wine's ntdll/tests/rtl.c test_DbgPrint, written on
Windows, checks the same), except the last one: Microsoft documents that one call transmits at most 512 bytes
(DbgPrintEx), which Wine does not enforce."""
from winhatch import runner

EXPECTED = [
    "not debugged: ret=0 seen=0",
    "debugged: ret=0 seen=1 len=11 text=[value 42 x]",
    "continue: ret=0 seen=1 len=6 text=[again]",
    "search: ret=0 seen=1 len=7 text=[search]",
    "ex error: ret=0 seen=1 len=3 text=[e0]",
    "ex warning: ret=0 seen=0",
    "ex info: ret=0 seen=0",
    "ex mask error: ret=0 seen=1 len=3 text=[me]",
    "ex mask warning: ret=0 seen=0",
    "v all: ret=0 seen=1 len=5 text=[vall]",
    "v warning: ret=0 seen=0",
    "prefix: ret=0 seen=1 len=10 text=[pre_fix 7]",
    "long: ret=0 seen=1 len=512 text=[" + "a" * 511 + "]",
]


def test_dbgprint(arch, build_fixture):
    res = runner.run(build_fixture("dbg_print.c", arch), [])
    assert res.stdout.decode().splitlines() == EXPECTED
    assert res.exit_status == 0
    texts = [e.data["text"] for e in res.events if e.category == "console" and e.name == "debug_string"]
    assert texts[:2] == ["plain 1", "value 42 x"]
