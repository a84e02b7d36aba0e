"""The machine profile (winhatch.kernel.profile, `winhatch run --profile`, docs/profile.md): anti_vm.c makes
the checks malware makes to spot a sandbox; with the default machine none of them gives it away, and a
profile changes what every one of them reads."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from winhatch import runner
from winhatch.cli import main
from winhatch.kernel.profile import Profile, ProfileError

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "profile-example.toml"
LIBS = ["-liphlpapi", "-ladvapi32"]


def _lines(res) -> dict[str, str]:
    assert res.exit_status == 0, (res.error, res.stderr)
    return dict(line.split(": ", 1) for line in res.stdout.decode().splitlines())


def test_default_machine_gives_nothing_away(build_fixture, arch):
    out = _lines(runner.run(build_fixture("anti_vm.c", arch, libs=LIBS)))
    assert out["cpuid hypervisor bit"] == "0"
    assert out["cpuid hypervisor vendor named"] == "0"
    assert out["cpuid family/model/stepping"] == "6/158/10"
    brand = out["cpu brand"]
    assert brand == Profile.default().cpu_brand and not re.search(r"(?i)qemu|virtual|kvm|tcg|epyc", brand)
    assert re.fullmatch(r"DESKTOP-[0-9A-Z]{7}", out["computer name"])
    assert out["dns domain"] == ""                      # a workgroup machine
    assert out["user name"].lower() not in ("user", "sandbox", "winhatch", "admin", "malware", "virus", "test",
                                            "john", "currentuser", "administrator")
    assert int(out["processors"]) >= 4
    mem = re.fullmatch(r"(\d+) MiB, load >= 10%: (\d)", out["memory"])
    assert int(mem.group(1)) >= 8192 and mem.group(2) == "1"
    assert out["uptime >= 10 minutes"] == "1"
    assert int(out["disk"].split()[0]) >= 100
    w, h = map(int, out["screen"].split("x"))
    assert w >= 1366 and h >= 768
    assert out["mac prefix"] == "90-E2-BA" and out["vm mac vendor"] == "0"
    assert out["windows"] == "10.0.19045"
    # a 32-bit program reads the WOW6432Node view: the 32-bit programs
    assert int(out["installed programs"]) == (6 if arch == "x64" else 3)
    assert out["vm registry keys"] == "0" and out["vm files"] == "0"
    assert out["notes.txt"] == "none"


def test_profile_changes_what_the_checks_read(build_fixture, arch):
    exe = build_fixture("anti_vm.c", arch, libs=LIBS)
    res = runner.run(exe, profile=EXAMPLE)
    out = _lines(res)
    assert out["cpu brand"] == "Intel(R) Core(TM) i7-10510U CPU @ 1.80GHz"
    assert out["cpuid hypervisor bit"] == "0"
    assert out["computer name"] == "LAPTOP-J8D2M4QX"
    assert out["user name"] == "priya.shah"
    assert out["processors"] == "8"
    assert out["memory"] == "16384 MiB, load >= 10%: 1"
    assert out["uptime >= 10 minutes"] == "1"
    assert out["disk"] == f"{(476 << 30) // 10**9} GB"
    assert out["screen"] == "2560x1440"
    assert out["mac prefix"] == "00-E0-4C"
    assert out["installed programs"] == "1"          # Slack (x64) or KeePass (x86), in their views
    assert out["notes.txt"] == "quarterly figures"   # seeded into the user's (new) Documents folder
    m = res.machine
    assert out["dns domain"] == "corp.example.com"      # what the guest reads (GetComputerNameEx)
    assert m.registry.get("HKCU\\Software\\ExampleCorp\\Agent", "ServerUrl") == "https://agent.corp.example.com/"
    assert m.registry.get("HKLM\\SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion", "ProductName") == \
        "Windows 10 Enterprise"
    assert m.registry.get("HKLM\\SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion", "UBR") == 4170
    iface = "HKLM\\SYSTEM\\ControlSet001\\Services\\Tcpip\\Parameters\\Interfaces\\{8f2c6a4b-3e17-4b9d-a5c2-1d7e90b3f468}"
    assert m.registry.get(iface, "DhcpIPAddress") == "10.20.31.57"
    assert m.registry.get(iface, "DhcpNameServer") == "10.20.28.10"
    assert res.report()["network"]["adapter"]["gateway"] == "10.20.28.1"
    # seeded before the start: not the program's behaviour
    beh = res.report()["behaviour"]
    assert not beh["files"]["written"] and not beh["registry"]["set"]


def test_profile_cli_and_errors(build_fixture, tmp_path):
    exe = build_fixture("anti_vm.c", "x64", libs=LIBS)
    r = CliRunner().invoke(main, ["run", "--profile", str(EXAMPLE), str(exe)])
    assert r.exit_code == 0 and "computer name: LAPTOP-J8D2M4QX" in r.output, r.output
    bad = tmp_path / "bad.toml"
    for text, message in (
            ('[cpu]\ncount = "8"\n', "[cpu] count: expected an integer, got str '8'"),
            ('[machine]\nhostname = "X"\n', "[machine]: unknown key 'hostname'"),
            ('[gpu]\n', "unknown key 'gpu'"),
            ('[machine]\nhost_name = "THIS-NAME-IS-TOO-LONG"\n', "[machine] host_name: 'THIS-NAME-IS-TOO-LONG'"),
            ('[network]\nmac = "01-00-5E-00-00-01"\n', "[network] mac: '01-00-5E-00-00-01' is a multicast"),
            ('[machine]\nmemory = "lots"\n', "[machine] memory: expected a size"),
            ('[[registry]]\nkey = "HKLM\\\\X"\ntype = "REG_DWORD"\ndata = "1"\n', "REG_DWORD needs an integer"),
            ('[[files]]\npath = "C:\\\\a.txt"\n', "needs 'path' and one of 'host'"),
            ('[machine\n', "not valid TOML")):
        bad.write_text(text)
        with pytest.raises(ProfileError) as e:
            Profile.load(bad)
        assert message in str(e.value) and str(bad) in str(e.value), (text, str(e.value))
    bad.write_text('[cpu]\ncount = 0\n')
    r = CliRunner().invoke(main, ["run", "--profile", str(bad), str(exe)])
    assert r.exit_code == 2 and "--profile:" in r.output and "[cpu] count: between 1 and 32" in r.output
    assert "Traceback" not in r.output


def test_help_names_the_profile_keys():
    r = CliRunner().invoke(main, ["run", "--help"])
    assert "--profile" in r.output and "docs/profile.md" in r.output
