"""Real programs no one here wrote: Wine's own PE command-line tools (from Debian's wine64), run under
winhatch and under Wine, compared byte for byte (stdout and exit status)."""
import os
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
]


def under_wine(exe: Path, args) -> tuple[bytes, int]:
    env = dict(os.environ, WINEDEBUG="-all", WINEPREFIX=str(PREFIX))
    r = subprocess.run([str(WINE), str(exe), *args], capture_output=True, env=env, timeout=120)
    return r.stdout, r.returncode


@pytest.mark.parametrize("name, args", CASES, ids=[c[0] for c in CASES])
def test_wine_tool_prints_what_wine_prints(tmp_path, name, args):
    exe = tmp_path / name
    shutil.copy(WINE_DIR / name, exe)
    res = runner.run(exe, args)
    assert res.error is None and res.exit_status is not None, res.error
    expected_out, expected_code = under_wine(exe, args)
    assert res.stdout == expected_out
    assert res.exit_status & 0xFF == expected_code


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
    assert res.stdout == b"WINHATCH\\user\r\n" and res.exit_status == 0, res.error
    wine_out, wine_code = under_wine(exe, [])
    assert re.fullmatch(rb"[^\\\r\n]+\\[^\\\r\n]+\r\n", wine_out) and wine_code == 0
