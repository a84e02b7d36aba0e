"""C runtime handlers are SPECULATIVE (winhatch.kernel.ke.traps): served inside the CPU hook, and served again,
deferred, from their start when they reach guest code there. conf_crt_msvcr100 installs an invalid-parameter
handler and then calls fclose(NULL), whose handler calls it: normally the installation makes such calls
deferred from the start; with that switch hidden, the call runs in the hook, reaches the guest handler, is
abandoned and served again — and the program must still print exactly what Windows prints (the handler ran
once, errno set once)."""
from __future__ import annotations

import shutil

import pytest

from winhatch import runner
from winhatch.kernel.ke import traps
from test_conformance import record_expected, FIXTURES

FX = next(f for f in FIXTURES if f.name == "crt_msvcr100")


@pytest.mark.parametrize("hide_switch", [False, True], ids=["deferred-after-install", "abandoned-and-rerun"])
def test_invalid_parameter_handler_reached_from_the_hook(arch, build_fixture, tmp_path, monkeypatch, hide_switch):
    if hide_switch:
        monkeypatch.setattr(traps, "DEFER_SPECULATIVE", "no such key")
    built = build_fixture(FX.source.name, arch, flags=FX.flags, libs=FX.libs)
    exe = tmp_path / built.name
    shutil.copy2(built, exe)
    res = runner.run(exe, FX.args, max_instructions=200_000_000)
    assert res.error is None, res.error
    assert record_expected.expected_bytes(res.stdout, res.exit_status) == FX.expected_path(arch).read_bytes()
    respins = res.machine.dispatcher.respins
    assert respins == (1 if hide_switch else 0)
