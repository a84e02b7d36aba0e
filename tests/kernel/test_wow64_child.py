"""A 32-bit process started by a 64-bit one (WoW64), as Windows 10 lays it out, and the cmd.exe the machine's
System32 / SysWOW64 hold (winhatch/hosts/src/cmd.c).

tests/fixtures/src/wow64_child.c (x64) starts C:\\Windows\\SysWOW64\\cmd.exe suspended and reads its thread:
the expectations are what Windows documents and Wine's ntdll/exception test_wow64_context checks on Windows
(the 64-bit TEB's WowTebOffset to the TEB32, the CPU area at the top of the 64-bit stack named by
TlsSlots[WOW64_TLS_CPURESERVED], its i386 context, cs 0x33 while the thread is in the WoW64 layer, cs 0x23
with r12/r13/r14 = 64-bit TEB / CPU area / 64-bit stack while it runs 32-bit code)."""
from __future__ import annotations

import pytest

from winhatch import runner


def _lines(res) -> dict[str, str]:
    out = {}
    for line in res.stdout.decode("latin-1").splitlines():
        key, _, rest = line.partition("=") if " " not in line.split("=")[0] else line.partition(" ")
        out[key] = rest
    return out


def test_wow64_child_thread_layout(build_fixture):
    res = runner.run(build_fixture("wow64_child.c", "x64"), [], max_instructions=400_000_000)
    assert res.error is None, res.stdout
    text = res.stdout.decode("latin-1")
    expected = [
        "self=0xc000000d",                      # RtlWow64GetThreadContext of a 64-bit thread
        "iswow64=1",
        "get=0 flags=0x1003f",
        "ebp=0 ecx=0 edx=0 esi=0 edi=0 eflags=200 cw=27f sse_cw=27f cs=23 ss=2b fs=53",
        "teb_read=1 wowteboffset=0x2000",
        "esp_at_top=1", "stacks_apart=1", "cpureserved_is_stackbase=1",
        "area_read=1 machine=0x14c", "areainfo=0",
        "area ctx_off=0x4 flags=0x1003f contextex0=1 same_eip=1 same_esp=1 same_eax=1 same_ebx=1 cs=23",
        "set=0", "area_ecx=12345678",           # RtlWow64SetThreadContext writes the CPU area (64-bit mode)
        "get64=0 cs=33 rsp_page_is_stackbase_page=1 rax=0 rsi=0 r8=0 r15=0 eflags=200 mxcsr=1f80 cw=27f "
        "ds=2b fs=53",
        "apart ecx_kept=1 rcx=fedcba987654321",  # 64-bit mode: the two contexts are apart
        "cs32 eip=1 esp=1 eax=1 r12_teb=1 r13_area=1 r14_stack64=1 esp_in_stack32=1",
        "cs32 ecx=87654321",                     # 32-bit mode: a 64-bit rcx is the thread's ecx
        "got32=1",
        "cs64 eip_apart=1 area_eip=1 area_esp=1 area_eax=1 started=1",  # switched out in a system call
        "got64=1 seen32=1", "exit=3",           # a loop of calls is seen in both modes
    ]
    assert text.splitlines() == expected, text


@pytest.mark.parametrize("arch", ["x64", "x86"])
def test_cmd_runs_a_command_line(arch, build_fixture, tmp_path):
    """cmd /c: &, &&, ||, @, echo (its trailing blank kept, as cmd's), for /l with the rest of the line as its
    body, redirection to nul and to a file, %VAR% expansion, exit /b; what it lacks fails loudly (9009)."""
    from importlib import resources
    exe = tmp_path / "cmd.exe"
    exe.write_bytes(resources.files("winhatch.hosts").joinpath(f"cmd-{arch}.exe").read_bytes())
    res = runner.run(exe, ["/c", "echo one & for /l %n in (3,-1,2) do @echo n=%n & echo x>nul"])
    assert res.error is None and res.exit_status == 0
    assert res.stdout == b"one \r\nn=3 \r\nn=2 \r\n"
    res = runner.run(exe, ["/c", "echo %OS%>%TEMP%\\o.txt && echo ok || echo never"])
    assert res.stdout == b"ok \r\n" and res.exit_status == 0
    res = runner.run(exe, ["/c", "echo a & exit /b 5 & echo b"])
    assert res.stdout == b"a \r\n" and res.exit_status == 5
    res = runner.run(exe, ["/c", "dir"])
    assert res.exit_status == 9009 and b"not implemented" in res.stderr
    res = runner.run(exe, ["/c", "nosuchprogram"])
    assert res.exit_status == 9009 and b"is not recognized" in res.stderr



def test_wow64_child_debug_registers(build_fixture):
    """Dr0-Dr3/Dr7 of a WoW64 thread are one set: a 64-bit SetThreadContext is what RtlWow64GetThreadContext
    reads and the other way round (the thread's hardware breakpoints, whichever view sets them)."""
    res = runner.run(build_fixture("wow64_debugregs.c", "x64"), [], max_instructions=400_000_000)
    assert res.error is None, res.stdout
    assert res.stdout.decode("latin-1").splitlines() == [
        "wow=1 set=1 dr0=12340000 dr7=155 w=0 wdr0=12340000 wdr7=155",
        "set=0 wdr0=56780000 wdr7=101 dr0=56780000 dr7=101"]
