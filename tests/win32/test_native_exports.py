"""The exports Windows runs in user mode (winhatch.win32.native): machine code in the synthetic DLLs, the same
results as their Python handlers, and still seen by the API trace when calls are traced."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import capstone
import pytest

from winhatch import runner
from winhatch.kernel.structs.kuser import KUSER_API_TRACE, KUSER_SHARED_DATA_ADDRESS
from winhatch.pe import PEFile
from winhatch.win32 import sysdlls

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("record_expected", ROOT / "tools" / "record_expected.py")
record_expected = importlib.util.module_from_spec(_spec)
sys.modules.setdefault("record_expected", record_expected)
_spec.loader.exec_module(record_expected)
FLAG = KUSER_SHARED_DATA_ADDRESS + KUSER_API_TRACE


def _export_code(arch: str, dll: str, name: str, n: int = 6) -> list[str]:
    path = sysdlls.ensure_installed(arch) / dll
    pe = PEFile.open(str(path))
    exp = next(e for e in pe.exports.functions if e.name == name)
    data = pe.read_rva(exp.rva, 96)
    md = capstone.Cs(capstone.CS_ARCH_X86, capstone.CS_MODE_64 if arch == "x64" else capstone.CS_MODE_32)
    return [f"{i.mnemonic} {i.op_str}".strip() for i in md.disasm(data, pe.image_base + exp.rva, n)]


@pytest.mark.parametrize("arch", ["x64", "x86"])
def test_user_mode_exports_are_machine_code(arch):
    seg = "gs" if arch == "x64" else "fs"
    le = 0x68 if arch == "x64" else 0x34
    get = _export_code(arch, "kernel32.dll", "GetLastError")
    assert get[0] == f"test byte ptr [{FLAG:#x}], 1"
    assert get[1].startswith("jne ")
    assert get[2] == f"mov eax, dword ptr {seg}:[{le:#x}]" and get[3] == "ret"
    put = _export_code(arch, "ntdll.dll", "RtlSetLastWin32Error")
    if arch == "x64":
        assert put[2:4] == [f"mov dword ptr gs:[{le:#x}], ecx", "ret"]
    else:   # stdcall: one argument popped
        assert put[2:5] == ["mov eax, dword ptr [esp + 4]", f"mov dword ptr fs:[{le:#x}], eax", "ret 4"]
    # past the native body: an ordinary framed trap stub
    assert any(i.startswith("int 0x2e") for i in _export_code(arch, "kernel32.dll", "GetLastError", 20))
    # an export without native code is the framed stub itself
    assert _export_code(arch, "kernel32.dll", "CloseHandle", 1)[0].startswith(("lea rax", "mov dword ptr fs:"))


def test_native_and_traced_runs_agree(arch, build_fixture, tmp_path):
    """conf_leaf runs natively (few traps), then with API calls recorded (every call traps and is an event):
    both print what Windows prints."""
    expected = (ROOT / "tests" / "fixtures" / "expected" / f"conf_leaf.{arch}.txt").read_bytes()
    exe = build_fixture("conf_leaf.c", arch)
    plain = runner.run(exe, max_instructions=50_000_000)
    assert plain.error is None and plain.exit_status == 0
    assert record_expected.expected_bytes(plain.stdout, plain.exit_status) == expected
    traced = runner.run(exe, max_instructions=50_000_000, record=("api",))
    assert traced.stdout == plain.stdout and traced.exit_status == 0
    calls = [e.data["api"] for e in traced.events if e.category == "api" and e.name == "call"]
    n_set = sum(1 for a in calls if a.lower().endswith("!setlasterror") or a.endswith("!RtlSetLastWin32Error"))
    assert n_set >= 5000
    assert plain.machine.dispatcher.api_calls < traced.machine.dispatcher.api_calls - 15000


@pytest.mark.parametrize("arch", ["x64", "x86"])
def test_every_native_export_has_its_handler(arch):
    """The traced path of a native export is its Python handler: each one must exist."""
    from winhatch.kernel.machine import Machine
    from winhatch.win32 import native, subsystem
    from winhatch.win32.data import load_exports
    m = Machine()
    subsystem.setup(m, arches=(arch,))
    seen = 0
    for dll, info in load_exports(arch).items():
        for _o, name, fwd, is_data in info["exports"]:
            if fwd or is_data or native.native_code(arch, dll, name) is None:
                continue
            seen += 1
            h = m.traps.get(dll, name)
            # served in the CPU hook when traced (a SPECULATIVE C runtime handler is too: runtime.crt_api)
            assert h is not None and h.implemented and h.calls_guest is not True, f"{dll}!{name}"
    assert seen >= 14   # kernel32 6, kernelbase 5 or 6 (its SetLastError may forward to ntdll), ntdll 3
