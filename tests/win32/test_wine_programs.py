"""Real programs no one here wrote: Wine's own PE command-line tools (from Debian's wine64), run under
winhatch and under Wine, compared byte for byte (stdout and exit status)."""
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from winhatch import runner

WINE_DIR = Path("/usr/lib/x86_64-linux-gnu/wine/x86_64-windows")
WINE = Path("/usr/lib/wine/wine64")
PREFIX = Path(__file__).resolve().parents[2] / "build" / "wineprefix"

CASES = [
    ("hostname.exe", ["/?"]),     # string table (LoadStringW) reached through a delay-loaded user32
    ("find.exe", ["/?"]),
    ("attrib.exe", ["/?"]),
    ("xcopy.exe", ["/?"]),
    ("cmd.exe", ["/c", "echo", "hello", "from", "cmd"]),
    # reads HKLM through advapi32 (RegOpenKeyExW, RegQueryValueExW with a size probe first)
    ("reg.exe", ["query", r"HKLM\Software\Microsoft\Windows NT\CurrentVersion", "/v", "CurrentBuild"]),
    ("reg.exe", ["query", r"HKCU\Software\winhatch-absent"]),   # the error message and exit status 1
    # Wine's cmd treats "/?" as no command: it reads HKCU\Software\Microsoft\Command Processor (absent),
    # prints the banner and a prompt, tries ReadConsoleW (stdin is not a console), reads EOF and exits
    ("cmd.exe", ["/?"]),
]

# Where what a line says depends on the system rather than on the program, the line is compared with that
# part masked (the same regular expression applied to Wine's output and to winhatch's), so every other byte
# is still compared; what winhatch prints there is asserted by the tests further down.
VARIES = [
    # the build number: Wine 8 calls itself Windows 10 build 18362 (1903), winhatch is build 19045 (22H2),
    # both in the registry's CurrentBuild and in what RtlGetVersion answers (cmd's banner)
    (rb"(    CurrentBuild    REG_SZ    )\d+", rb"\1<build>"),
    (rb"^(Microsoft Windows 10\.0\.)\d+", rb"\1<build>"),
    # cmd's prompt names the current directory: under Wine the host directory the test runs in (Z:\...),
    # under winhatch the program's directory C:\app
    (rb"^[A-Z]:\\[^\r\n>]*>$", rb"<cwd>>"),
]


def masked(out: bytes) -> bytes:
    lines = out.split(b"\n")
    for pattern, repl in VARIES:
        lines = [re.sub(pattern, repl, line) for line in lines]
    return b"\n".join(lines)


def _wine():
    """wine64 with the recorder's Windows 10 prefix (a default prefix says Windows 7 in cmd's banner),
    created once even when test workers race for it."""
    import fcntl
    import sys
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tools"))
    from record_expected import Wine
    wine = Wine("x64", str(WINE), PREFIX)
    PREFIX.parent.mkdir(parents=True, exist_ok=True)
    with open(PREFIX.parent / ".wineprefix.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        wine.ensure_prefix()
    return wine


def under_wine(exe: Path, args) -> tuple[bytes, int]:
    r = subprocess.run([str(WINE), str(exe), *args], capture_output=True, env=_wine().env(), timeout=120,
                       stdin=subprocess.DEVNULL)
    return r.stdout, r.returncode


@pytest.mark.parametrize("name, args", CASES, ids=[" ".join([c[0], *c[1]])[:60] for c in CASES])
def test_wine_tool_prints_what_wine_prints(tmp_path, name, args):
    exe = tmp_path / name
    shutil.copy(WINE_DIR / name, exe)
    res = runner.run(exe, args)
    assert res.error is None and res.exit_status is not None, res.error
    expected_out, expected_code = under_wine(exe, args)
    assert masked(res.stdout) == masked(expected_out)
    assert res.exit_status & 0xFF == expected_code


def test_masked_lines_say_what_windows_10_22h2_says(tmp_path):
    exe = tmp_path / "reg.exe"
    shutil.copy(WINE_DIR / "reg.exe", exe)
    res = runner.run(exe, ["query", r"HKLM\Software\Microsoft\Windows NT\CurrentVersion", "/v", "CurrentBuild"])
    assert res.stdout == (b"\r\nHKEY_LOCAL_MACHINE\\Software\\Microsoft\\Windows NT\\CurrentVersion\r\n"
                          b"    CurrentBuild    REG_SZ    19045\r\n\r\n")
    exe = tmp_path / "cmd.exe"
    shutil.copy(WINE_DIR / "cmd.exe", exe)
    res = runner.run(exe, ["/?"])
    assert res.stdout == b"Microsoft Windows 10.0.19045\r\n\r\nC:\\app>"
    assert res.exit_status == 0


def test_reg_add_then_query_sees_the_value(tmp_path):
    """`reg add` and then `reg query` as two runs on one registry (as two commands on one Windows machine),
    compared with the same two commands under Wine."""
    from winhatch.kernel.cm import Registry
    exe = tmp_path / "reg.exe"
    shutil.copy(WINE_DIR / "reg.exe", exe)
    registry = Registry.default()

    def share(machine):
        machine.registry = registry

    add = ["add", r"HKCU\Software\wh", "/v", "x", "/t", "REG_SZ", "/d", "hi", "/f"]
    query = ["query", r"HKCU\Software\wh", "/v", "x"]
    for args in (add, query):
        res = runner.run(exe, args, setup_machine=share)
        assert res.error is None, res.error
        expected_out, expected_code = under_wine(exe, args)
        assert res.stdout == expected_out
        assert res.exit_status & 0xFF == expected_code
    assert registry.get(r"HKCU\Software\wh", "x") == "hi"
    assert registry.open_key(r"HKCU\Software\wh").query_value("x") == (1, "hi\0".encode("utf-16-le"))
    ops = [(e["op"], e["path"], e.get("value"), e["status"]) for e in registry.log]
    user = rf"\REGISTRY\USER\{registry.user_sid}"
    assert ("create_key", user + r"\Software\wh", None, 0) in ops
    assert ("set_value", user + r"\Software\wh", "x", 0) in ops
    assert ("query_value", user + r"\Software\wh", "x", 0) in ops


def test_delay_loaded_user32_is_resolved_through_ldr_resolve_delay_loaded_api(tmp_path):
    exe = tmp_path / "hostname.exe"
    shutil.copy(WINE_DIR / "hostname.exe", exe)
    res = runner.run(exe, ["/?"])
    resolved = [e.data for e in res.events if e.name == "LdrResolveDelayLoadedAPI"]
    assert {"module": "user32.dll", "symbol": "LoadStringW"}.items() <= resolved[0].items()
    assert "user32.dll" in [m["name"] for m in res.modules]


def test_whoami_prints_the_sandbox_account(tmp_path):
    """whoami formats through ntdll's own C runtime (_vsnprintf) and asks secur32 for DOMAIN\\user: the
    sandbox's computer and user (Wine prints the host's, so only the shape is compared with Wine)."""
    import re
    exe = tmp_path / "whoami.exe"
    shutil.copy(WINE_DIR / "whoami.exe", exe)
    res = runner.run(exe)
    assert res.stdout == b"DESKTOP-4N7RQ2K\\jmorgan\r\n" and res.exit_status == 0, res.error
    wine_out, wine_code = under_wine(exe, [])
    assert re.fullmatch(rb"[^\\\r\n]+\\[^\\\r\n]+\r\n", wine_out) and wine_code == 0
