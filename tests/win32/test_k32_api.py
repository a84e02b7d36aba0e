"""kernel32 behaviour that the conformance fixtures cannot show from inside the guest: the one-line stop on an
unimplemented API, the guest-memory side of the environment and current directory, deterministic randomness."""
from __future__ import annotations

import subprocess

import pytest

from winhatch import runner
from winhatch.kernel.structs import PEB, RTL_USER_PROCESS_PARAMETERS

import fixturebuild

STATUS_NOT_IMPLEMENTED = 0xC0000002

PROGRAM = r"""
#include <windows.h>
#include <stdio.h>
typedef BOOLEAN (WINAPI *prng_t)(PVOID, ULONG);
int main(void)
{
    SetEnvironmentVariableA("WH_UNIT", "value-1");
    SetEnvironmentVariableA("AAA_FIRST", "x");
    SetEnvironmentVariableA("PATH", NULL);
    CreateDirectoryA("C:\\whunit", NULL);
    SetCurrentDirectoryA("c:\\WHUNIT");
    unsigned char r[8];
    /* RtlGenRandom; ProcessPrng (bcryptprimitives.dll) shares its generator */
    prng_t prng = (prng_t)GetProcAddress(LoadLibraryA("advapi32.dll"), "SystemFunction036");
    prng(r, sizeof r);
    printf("prng %02x%02x%02x%02x%02x%02x%02x%02x\n", r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7]);
    fflush(stdout);
    Beep(440, 10);   /* not implemented: the run stops here */
    printf("not reached\n");
    return 0;
}
"""


@pytest.fixture(scope="module")
def programs(tmp_path_factory):
    d = tmp_path_factory.mktemp("k32")
    src = d / "k32unit.c"
    src.write_text(PROGRAM)
    out = {}
    for arch in ("x86", "x64"):
        exe = d / f"k32unit-{arch}.exe"
        subprocess.run([fixturebuild.compiler(arch), "-O1", "-o", str(exe), str(src)], check=True,
                       capture_output=True)
        out[arch] = exe
    return out


@pytest.fixture(scope="module")
def results(programs):
    return {arch: runner.run(exe, []) for arch, exe in programs.items()}


def test_unimplemented_api_stops_with_one_line(results, arch):
    res = results[arch]
    assert res.exit_status == STATUS_NOT_IMPLEMENTED
    assert res.error is not None and "\n" not in res.error
    assert res.error.startswith("unimplemented API kernel32.dll!Beep called from k32unit-")
    assert "+0x" in res.error
    assert b"not reached" not in res.stdout
    assert [u["api"] for u in res.unimplemented] == ["kernel32.dll!Beep"]


def test_environment_block_in_guest_memory(results, arch):
    res = results[arch]
    proc = res.process
    env = proc.subsystem["environment"]
    assert env["WH_UNIT"] == "value-1"
    assert not any(k.upper() == "PATH" for k in env)
    keys = [k.upper() for k in env]
    assert keys == sorted(keys), "new variables are inserted in sorted order"
    params = PEB.read(proc.aspace, proc.peb, proc.arch, "ProcessParameters")["ProcessParameters"]
    v = RTL_USER_PROCESS_PARAMETERS.read(proc.aspace, params, proc.arch, "Environment", "EnvironmentSize")
    block = proc.aspace.read(v["Environment"], v["EnvironmentSize"]).decode("utf-16-le")
    # EnvironmentSize is the block's heap allocation, which a removal leaves as it was (as on Windows, where
    # RtlSetEnvironmentVariable edits the block in place): the entries end at the first empty string
    assert "\0\0" in block
    entries = block[:block.index("\0\0")].split("\0")
    assert entries == [f"{k}={val}" for k, val in env.items()]


def test_current_directory_in_process_parameters(results, arch):
    proc = results[arch].process
    # the case as given to SetCurrentDirectory (Windows; Wine's ntdll path.c tests)
    assert proc.subsystem["cwd"] == "c:\\WHUNIT"
    params = PEB.read(proc.aspace, proc.peb, proc.arch, "ProcessParameters")["ProcessParameters"]
    us = RTL_USER_PROCESS_PARAMETERS.read(proc.aspace, params, proc.arch,
                                         "CurrentDirectory.DosPath")["CurrentDirectory.DosPath"]
    text = proc.aspace.read(us["Buffer"], us["Length"]).decode("utf-16-le")
    assert text == "c:\\WHUNIT\\"
    assert us["MaximumLength"] >= 520


def test_process_prng_is_deterministic(programs, results, arch):
    again = runner.run(programs[arch], [])
    first = [l for l in results[arch].stdout.splitlines() if l.startswith(b"prng ")]
    second = [l for l in again.stdout.splitlines() if l.startswith(b"prng ")]
    assert first and first == second
    assert first[0] != b"prng 0000000000000000"
