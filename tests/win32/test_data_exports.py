"""Data exports of the system DLLs: one winhatch does not implement is not readable zero memory. Its import
binds (the loader writes its address), but the guest's first access stops the run as an unimplemented API
does, naming dll!name and the accessing module+offset, with STATUS_NOT_IMPLEMENTED."""
from __future__ import annotations

import pytest

from winhatch import runner

STATUS_NOT_IMPLEMENTED = 0xC0000002


@pytest.mark.parametrize("args", [[], ["getprocaddress"]], ids=["import", "getprocaddress"])
def test_unimplemented_data_export_stops(build_fixture, arch, args):
    exe = build_fixture("data_unimpl.c", arch, libs=["-lntdll"])
    res = runner.run(exe, args, max_instructions=50_000_000)
    assert res.exit_status == STATUS_NOT_IMPLEMENTED, (res.error, res.stdout)
    assert res.stdout.startswith(b"bound 1\r\n")
    if args:
        assert b"found 1\r\n" in res.stdout
    assert b"value" not in res.stdout and b"not reached" not in res.stdout
    assert res.error is not None and "\n" not in res.error
    assert res.error.startswith(
        "unimplemented data export ntdll.dll!NlsMbCodePageTag accessed from data_unimpl.exe+0x"), \
        res.error
    assert [u["api"] for u in res.unimplemented] == ["ntdll.dll!NlsMbCodePageTag"]


def test_unimplemented_data_is_no_access(build_fixture, arch):
    """The export's page is PAGE_NOACCESS in the guest (what VirtualQuery reports), inside ntdll's image."""
    from winhatch.kernel.mm import PAGE_NOACCESS
    exe = build_fixture("data_unimpl.c", arch, libs=["-lntdll"])
    res = runner.run(exe, [], max_instructions=50_000_000)
    proc = res.process
    from winhatch.ldr import loader
    m = loader.state_of(proc).by_name["ntdll.dll"]
    va = m.base + m.pe.exports.lookup("NlsMbCodePageTag").entry.rva
    info = proc.aspace.query(va)
    assert info.Protect == PAGE_NOACCESS, info
