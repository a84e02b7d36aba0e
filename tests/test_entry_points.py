"""Entry points other than an EXE (issue 18): a DLL under rundll32's semantics (with and without --export) and
raw shellcode in a loader process, on both architectures; the host programs are what their committed sources
build."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _run(*args):
    return subprocess.run([sys.executable, "-m", "winhatch.cli", "run", *map(str, args)], capture_output=True,
                          timeout=120)


@pytest.fixture
def rundll(build_fixture, arch, tmp_path):
    dll = tmp_path / "entry_rundll.dll"
    # rundll32 looks exports up by their plain names: stdcall ones are exported without @N (as a .def does)
    shutil.copy(build_fixture("entry_rundll.c", arch, dll=True, flags=["-Wl,--kill-at"]), dll)
    return dll


def test_dll_without_export_runs_attach_and_detach(rundll):
    p = _run(rundll)
    assert p.returncode == 0, p.stderr
    assert p.stdout.replace(b"\r\n", b"\n") == b"DllMain attach\nDllMain detach\n"


def test_dll_export_called_as_rundll32_calls_it(rundll):
    p = _run("--export", "Hello", rundll, "one", "two words")
    assert p.returncode == 0, p.stderr
    out = p.stdout.decode().replace("\r\n", "\n").splitlines()
    assert out[0] == "DllMain attach" and out[-1] == "DllMain detach"
    hwnd = out[1].split("hwnd=")[1].split()[0]
    assert int(hwnd, 16) == 0                                  # rundll32 passes no window
    assert out[1] == f'Hello hwnd={hwnd} own=1 cmd=[one "two words"] show=10'   # SW_SHOWDEFAULT
    p = _run("--export", "Greet", rundll, "wide")             # the W form wins, as in rundll32
    assert b"GreetW [wide]" in p.stdout and b"ANSI" not in p.stdout
    p = _run("--export", "Missing", rundll)
    assert p.returncode == 0xC0000139 & 0xFF                   # STATUS_ENTRYPOINT_NOT_FOUND
    p = _run(rundll.with_name("nothere.dll"))
    assert p.returncode == 1


def test_export_needs_a_dll(build_fixture, arch):
    p = _run("--export", "x", build_fixture("hello.c", arch))
    assert p.returncode == 1 and b"--export needs a DLL" in p.stderr


def test_shellcode_runs_in_a_loader(arch, tmp_path):
    if arch == "x64":
        # mov rax, gs:[60h] (PEB) ; movzx eax, byte [rax+2] (BeingDebugged) ; add eax, 7 ; ret
        code = bytes.fromhex("65488b042560000000") + bytes.fromhex("0fb64002") + bytes.fromhex("83c007") + b"\xc3"
    else:
        # mov eax, fs:[30h] (PEB) ; movzx eax, byte [eax+2] ; add eax, 7 ; ret
        code = bytes.fromhex("64a130000000") + bytes.fromhex("0fb64002") + bytes.fromhex("83c007") + b"\xc3"
    sc = tmp_path / "payload.bin"
    sc.write_bytes(code)
    p = _run("--shellcode", sc, "--arch", arch)
    assert p.returncode == 7, p.stderr                         # not being debugged: 0 + 7
    p = _run("--shellcode", sc)
    assert p.returncode == 2 and b"--arch" in p.stderr
    p = _run("--arch", arch, sc)
    assert p.returncode == 2


def test_hosts_are_what_their_sources_build():
    if not shutil.which("x86_64-w64-mingw32-gcc") or not shutil.which("i686-w64-mingw32-gcc"):
        pytest.skip("mingw-w64 is not installed")
    import hashlib
    hosts = ROOT / "winhatch" / "hosts"
    for line in (hosts / "SOURCES.sha256").read_text().splitlines():
        digest, name = line.split()
        assert hashlib.sha256((hosts / name).read_bytes()).hexdigest() == digest, name
    r = subprocess.run([sys.executable, str(ROOT / "tools" / "build_hosts.py"), "--check"], capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
