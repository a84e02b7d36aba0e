"""Cross-check winhatch.kernel.structs against mingw-w64's own headers, for x86 and x64.

tests/fixtures/structs/*.c declare `const unsigned int OFF__<struct>__<member> = offsetof(...)` (and SIZE__...)
for every member mingw's headers name in the structures we model; they are compiled with -S (nothing is linked
or run) and the numbers are read back out of the assembly.  Where mingw's declaration is partial (winternl.h
hides most of PEB/TEB behind Reserved arrays) or older than Windows 10 (ntddk.h's KUSER_SHARED_DATA is the
Windows 7 one), the probe lists only the members both agree on, and says why for the rest; the members mingw
cannot confirm are pinned by literal anchors in test_structs.py.
"""
from __future__ import annotations

import re
import shutil
import subprocess
from functools import lru_cache
from pathlib import Path

import pytest

from winhatch.kernel import structs as S

PROBES = Path(__file__).resolve().parent.parent / "fixtures" / "structs"
TRIPLE = {"x86": "i686-w64-mingw32", "x64": "x86_64-w64-mingw32"}


def _gcc(arch: str) -> str:
    tool = f"{TRIPLE[arch]}-gcc"
    if shutil.which(tool) is None:
        pytest.skip(f"{tool} not installed")
    return tool


@lru_cache(maxsize=None)
def _ddk_include(arch: str) -> str:
    """The mingw include directory holding ddk/ (ntddk.h includes <wdm.h> without the ddk/ prefix)."""
    r = subprocess.run([_gcc(arch), "-xc", "-E", "-v", "-"], input="", capture_output=True, text=True)
    dirs, on = [], False
    for line in r.stderr.splitlines():
        if line.startswith("#include <...> search starts here"):
            on = True
        elif line.startswith("End of search list"):
            break
        elif on:
            dirs.append(line.strip())
    for d in dirs:
        if (Path(d) / "ddk" / "ntddk.h").exists():
            return str(Path(d) / "ddk")
    pytest.skip("mingw ddk headers not found")


_LABEL = re.compile(r"^_?((?:OFFA?|SIZEA?)__\w+):\s*$")
_VALUE = re.compile(r"^\s*\.(long|quad|space|zero)\s+(\S+)")


def parse_asm(text: str) -> dict[str, int]:
    out: dict[str, int] = {}
    lines = text.splitlines()
    for i, line in enumerate(lines):
        m = _LABEL.match(line)
        if not m:
            continue
        v = _VALUE.match(lines[i + 1])
        assert v, f"cannot read the value of {m.group(1)}: {lines[i + 1]!r}"
        out[m.group(1)] = 0 if v.group(1) in ("space", "zero") else int(v.group(2), 0)
    return out


@lru_cache(maxsize=None)
def probe(name: str, arch: str) -> dict[str, int]:
    cmd = [_gcc(arch), "-S", "-O1", "-o", "-", str(PROBES / name)]
    if name == "structs_kuser.c":
        cmd.insert(1, "-I" + _ddk_include(arch))
    r = subprocess.run(cmd, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    vals = parse_asm(r.stdout)
    assert vals, "no constants found in the compiler output"
    return vals


def _entries(arch: str):
    """(struct name, arch the number describes, member or None for sizeof, mingw's number)."""
    for probe_name in ("structs_winternl.c", "structs_kuser.c"):
        for sym, val in probe(probe_name, arch).items():
            kind, rest = sym.split("__", 1)
            parts = rest.split("__")
            if kind == "OFF":
                yield parts[0], arch, parts[1], val
            elif kind == "SIZE":
                yield parts[0], arch, None, val
            elif kind == "OFFA":
                yield parts[0], parts[1], parts[2], val
            elif kind == "SIZEA":
                yield parts[0], parts[1], None, val


def _ours(struct_name: str):
    obj = getattr(S, struct_name, None)
    assert obj is not None, f"winhatch.kernel.structs has no {struct_name}"
    return obj


@pytest.mark.parametrize("arch", ["x86", "x64"])
def test_every_member_mingw_declares_matches(arch):
    entries = list(_entries(arch))
    assert len(entries) > 250
    bad = []
    for sname, a, member, want in entries:
        s = _ours(sname)
        got = s.size(a) if member is None else s.offset(a, member)
        if got != want:
            bad.append(f"{sname}.{member or 'sizeof'} ({a}): ours {got:#x}, mingw {want:#x}")
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("arch", ["x86", "x64"])
def test_probe_covers_the_structures(arch):
    """The probes must keep covering every structure the module exports that mingw declares."""
    seen = {(s, a) for s, a, _, _ in _entries(arch)}
    expect_both = {"UNICODE_STRING", "STRING", "CLIENT_ID", "PEB_LDR_DATA", "LDR_DATA_TABLE_ENTRY",
                   "RTL_USER_PROCESS_PARAMETERS", "PEB", "TEB", "LIST_ENTRY", "LARGE_INTEGER", "NT_TIB",
                   "EXCEPTION_RECORD", "MEMORY_BASIC_INFORMATION", "RTL_CRITICAL_SECTION",
                   "RTL_CRITICAL_SECTION_DEBUG", "OSVERSIONINFOEXW", "IMAGE_TLS_DIRECTORY", "CONTEXT_X86",
                   "FLOATING_SAVE_AREA", "FILETIME", "SYSTEMTIME", "SYSTEM_INFO", "STARTUPINFOW", "STARTUPINFOA",
                   "PROCESS_INFORMATION", "KUSER_SHARED_DATA", "KSYSTEM_TIME", "GUID", "PROCESSOR_NUMBER"}
    missing = {n for n in expect_both if not any(s == n for s, _ in seen)}
    assert not missing
    if arch == "x64":
        assert ("CONTEXT_AMD64", "x64") in seen and ("XMM_SAVE_AREA32", "x64") in seen
        assert ("NT_TIB", "x86") in seen and ("IMAGE_TLS_DIRECTORY", "x86") in seen  # the explicit 32-bit kinds


def test_parse_asm_zero_and_long():
    text = "\t.align 4\n_OFF__A__b:\n\t.space 4\nOFF__A__c:\n\t.long\t12\n"
    assert parse_asm(text) == {"OFF__A__b": 0, "OFF__A__c": 12}
