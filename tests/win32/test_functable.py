"""RtlAddFunctionTable with an empty table (x64): registered (TRUE), deleted once, covering no code —
tests/fixtures/src/functable_empty.c, whose output Wine 8 gives the same (Wine's ntdll/exception
test_dynamic_unwind checks it on Windows)."""
from __future__ import annotations

from winhatch import runner


def test_empty_function_table(build_fixture):
    res = runner.run(build_fixture("functable_empty.c", "x64"), [])
    assert res.error is None and res.exit_status == 0
    assert res.stdout == b"add=1 del1=1 del2=0 add_null=1 lookup=0\r\n"
