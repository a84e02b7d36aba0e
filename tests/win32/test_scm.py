"""The service control manager and the event log (issue 16): the machine's services are a coherent Windows 10
set, and what a sample hiding its tracks attempts as a standard user — a fake event, clearing logs, stopping the
anti-virus, installing a service — fails as on Windows and is listed in the report's behaviour summary.
(conf_scm.c and conf_eventlog.c check each API's answers against Windows.)"""
from __future__ import annotations

import json

from click.testing import CliRunner

from winhatch.cli import main
from winhatch.kernel.machine import Machine
from winhatch.win32.advapi32 import service_scm as scm


def test_services_are_coherent():
    m = Machine()
    db = scm.database(m)
    names = [r.name for r in db.records]
    assert len(names) > 40 and names == sorted(names, key=str.lower)
    for r in db.records:
        win32 = bool(r.type & scm.SERVICE_WIN32)
        assert r.display and (r.image or r.name == "Ntfs")
        if win32:
            assert r.image[1:3] == ":\\" or r.image.startswith('"'), r.image      # expanded: a full path
            assert r.start >= scm.SERVICE_AUTO_START                                # boot/system: drivers only
            assert (r.pid != 0) == (r.state == scm.SERVICE_RUNNING)
        else:
            assert r.pid == 0 and r.account == ""
        if r.start == scm.SERVICE_AUTO_START:
            assert r.state == scm.SERVICE_RUNNING, r.name
        if r.start == scm.SERVICE_DISABLED:
            assert r.state == scm.SERVICE_STOPPED, r.name
        if r.state == scm.SERVICE_RUNNING:       # what a running service depends on exists and runs
            for dep in r.depends:
                d = db.find(dep)
                assert d is not None and d.state == scm.SERVICE_RUNNING, (r.name, dep)
    # services sharing a svchost group share its process, an own-process service has its own
    shared = [r for r in db.records if r.image.endswith("-k netsvcs -p") and r.state == scm.SERVICE_RUNNING]
    assert len(shared) > 3 and len({r.pid for r in shared}) == 1
    assert db.find("windefend").pid not in {r.pid for r in shared}
    # the anti-virus an analyst (and malware) looks for, running with its network inspection
    assert db.find("WinDefend").state == scm.SERVICE_RUNNING and db.find("WdFilter").state == scm.SERVICE_RUNNING
    # nothing that names a virtual machine or sandbox
    assert not [n for n in names if any(v in n.lower() for v in ("vbox", "vmware", "vmtools", "qemu", "sbie", "xen"))]


#: kernel modules that are libraries or session drivers, not services of their own
NOT_SERVICES = {"ntoskrnl.exe", "hal.dll", "kd.dll", "mcupdate_genuineintel.dll", "pshed.dll", "bootvid.dll", "ci.dll",
                "werkernel.sys", "tm.sys", "cmimcext.sys", "ntosext.sys", "wmilib.sys", "storport.sys", "win32k.sys",
                "win32kbase.sys", "win32kfull.sys"}


def test_running_drivers_are_the_loaded_kernel_modules():
    """The drivers the SCM shows running are the kernel modules NtQuerySystemInformation(SystemModuleInformation)
    lists, and every listed driver is a running driver service: the two views agree."""
    from winhatch.kernel.ex.sysinfo import KERNEL_MODULES
    db = scm.database(Machine())
    modules = {path.rsplit("\\", 1)[-1].lower() for path, _size in KERNEL_MODULES}
    running = {(r.image or r.name + ".sys").rsplit("\\", 1)[-1].lower(): r for r in db.records
               if r.type & scm.SERVICE_DRIVER and r.state == scm.SERVICE_RUNNING}
    assert set(running) <= modules, set(running) - modules
    assert modules - NOT_SERVICES <= set(running), modules - NOT_SERVICES - set(running)
    assert db.find("WdBoot").state == scm.SERVICE_STOPPED and "wdboot.sys" not in modules


def test_tracks_hidden_as_standard_user_are_reported(build_fixture, arch, tmp_path):
    exe = build_fixture("beh_scm.c", arch, libs=["-ladvapi32"])
    rep, page = tmp_path / "r.json", tmp_path / "r.html"
    r = CliRunner().invoke(main, ["run", "--report", str(rep), "--html", str(page), str(exe)])
    assert r.exit_code == 0, r.output
    assert "wrote 1 cleared 0/5 security 0/5 av 1 stop 0/5 create 0/5" in r.output
    b = json.loads(rep.read_text())["behaviour"]
    [write, clear] = b["event_log"]
    assert (write["action"], write["log"], write["source"], write["event_id"], write["type"], write["strings"]) == \
        ("write", "Application", "beh source", 4242, 1, ["malware was here"])
    assert (clear["action"], clear["log"], clear["error"]) == ("clear", "Application", 5)
    acts = [(s["action"], s["service"], s["error"]) for s in b["services"]]
    assert acts == [("open to stop", "WinDefend", 5), ("create", "evilsvc", 5)]
    assert b["services"][1]["binary_path"] == "C:\\evil.exe"
    assert not [p for p in b["persistence"] if "service" in p["kind"]]     # nothing was installed
    assert {"check": "service list", "api": "EnumServicesStatusExA"} in \
        [{k: a[k] for k in ("check", "api")} for a in b["anti_analysis"]]
    html = page.read_text()
    assert "event log clear attempted" in html and "malware was here" in html and "service create attempted" in html


def test_an_administrator_may_more_and_what_is_not_modelled_stops(build_fixture, arch):
    """A token in Administrators (LocalSystem's here: the machine profile has no administrator user) may clear
    the logs, open the Security log and open a service to stop it; installing a service is not modelled and
    stops loudly instead of pretending."""
    from winhatch import runner

    def admin(m):
        m.shell_process.token = dict(m.shell_process.token, integrity="system")

    exe = build_fixture("beh_scm.c", arch, libs=["-ladvapi32"])
    res = runner.run(exe, ["install"], setup_machine=admin)
    assert b"wrote 1 cleared 1/0 security 1/0 av 1 stop 1/0 create 0/5" in res.stdout   # the handle's rights
    assert b"manager for creating: 1/0" in res.stdout
    assert res.error and "CreateService('evilsvc') by an administrator" in res.error, res.error
    clears = [e for e in res.events if e.category == "behaviour" and e.name == "eventlog_clear"]
    assert [(e.data["log"], e.data["error"]) for e in clears] == [("Application", 0)]
    changes = [e.data for e in res.events if e.category == "behaviour" and e.name == "service_change"]
    assert [(d["action"], d["error"]) for d in changes] == [("create", 5)]
    # a standard user may not ask for that handle at all
    res = runner.run(exe, ["install"])
    assert b"manager for creating: 0/5" in res.stdout and res.error is None


WINE_NET = "/usr/lib/x86_64-linux-gnu/wine/x86_64-windows/net.exe"


def test_wines_net_start_lists_the_running_services(tmp_path):
    """A third-party program: Wine's own net.exe (the wine64 package's PE build) lists the running services with
    EnumServicesStatusW. It asks for SC_MANAGER_ALL_ACCESS, so only an administrator gets the list (as on Windows
    for a tool asking that much); the list is the database's running Win32 services, by display name."""
    import shutil
    from pathlib import Path

    import pytest

    from winhatch import runner
    if not Path(WINE_NET).exists():
        pytest.skip("wine64 is not installed")
    exe = tmp_path / "net.exe"
    shutil.copy(WINE_NET, exe)
    r = runner.run(exe, ["start"])
    assert r.error is None and b"Could not get handle to service control manager" in r.stdout

    def admin(m):
        m.shell_process.token = dict(m.shell_process.token, integrity="system")

    r = runner.run(exe, ["start"], setup_machine=admin)
    assert r.error is None, r.error
    listed = [line.strip() for line in r.stdout.decode().splitlines()[1:] if line.strip()]
    db = scm.database(r.machine)
    running = [x.display for x in db.records if x.type & scm.SERVICE_WIN32 and x.state == scm.SERVICE_RUNNING]
    assert listed == running and "Print Spooler" in listed and "Microsoft Defender Antivirus Service" in listed
    assert "Windows Update" not in listed          # demand-start, stopped
