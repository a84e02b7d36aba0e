"""The registry functions seen from outside the guest: key handles are real entries of the process handle table
(type "Key", their granted access, inheritable, closable with CloseHandle, duplicable), predefined keys in
both spellings on x64, the registry events and the report's `registry` list, the 32-bit view of an x64
program (the conformance fixture cannot record it: the x64 Wine prefix has no Wow6432Node keys), and the
loud stop where winhatch does not emulate a behaviour (a synchronous RegNotifyChangeKeyValue)."""
from __future__ import annotations

import subprocess

import pytest

from winhatch import runner
from winhatch.kernel.cm import REG_DWORD, Registry
from winhatch.win32.advapi32.reg import KeyObject

import fixturebuild

STATUS_NOT_IMPLEMENTED = 0xC0000002
KEY_QUERY_VALUE, KEY_SET_VALUE = 0x1, 0x2
KEY_READ = 0x20019

PROGRAM = r"""
#include <windows.h>
#include <stdio.h>
int main(int argc, char **argv)
{
    HKEY k, dup, lm;
    DWORD disp = 0, v = 7, size;
    char buf[MAX_PATH];
    SECURITY_ATTRIBUTES sa = {sizeof sa, NULL, TRUE};
    LONG rc = RegCreateKeyExA(HKEY_CURRENT_USER, "Software\\whunit", 0, NULL, 0, KEY_READ | KEY_SET_VALUE, &sa,
                              &k, &disp);
    printf("create %ld disp=%lu low bits=%d\n", rc, disp, (int)((ULONG_PTR)k & 3));
    printf("set %ld\n", RegSetValueExA(k, "v", 0, REG_DWORD, (const BYTE *)&v, 4));
    DuplicateHandle(GetCurrentProcess(), (HANDLE)k, GetCurrentProcess(), (HANDLE *)&dup, 0, FALSE,
                    DUPLICATE_SAME_ACCESS);
    printf("CloseHandle on a key %d\n", CloseHandle((HANDLE)k));
    printf("RegCloseKey after it %ld\n", RegCloseKey(k));
    size = sizeof v;
    printf("query through the duplicate %ld\n", RegQueryValueExA(dup, "v", NULL, NULL, (BYTE *)&v, &size));
    RegCloseKey(dup);
    HANDLE ev = CreateEventA(NULL, FALSE, FALSE, NULL);
    printf("an event is no key %ld\n", RegQueryValueExA((HKEY)ev, "v", NULL, NULL, NULL, NULL));
    /* HKEY_LOCAL_MACHINE zero-extended, as a program may cast it on x64 */
    rc = RegOpenKeyExA((HKEY)(ULONG_PTR)0x80000002u, "SOFTWARE\\Microsoft\\Windows\\CurrentVersion", 0,
                       KEY_QUERY_VALUE | KEY_WOW64_32KEY, &lm);
    size = sizeof buf;
    rc = rc ? rc : RegQueryValueExA(lm, "ProgramFilesDir", NULL, NULL, (BYTE *)buf, &size);
    printf("32-bit view %ld [%s]\n", rc, rc ? "" : buf);
    RegCloseKey(lm);
    if (argc > 1) {
        HKEY w;
        RegOpenKeyExA(HKEY_CURRENT_USER, "Software", 0, KEY_NOTIFY, &w);
        fflush(stdout);
        RegNotifyChangeKeyValue(w, TRUE, REG_NOTIFY_CHANGE_LAST_SET, NULL, FALSE);
        printf("not reached\n");
    }
    return 0;
}
"""


@pytest.fixture(scope="module")
def programs(tmp_path_factory):
    d = tmp_path_factory.mktemp("regapi")
    src = d / "regunit.c"
    src.write_text(PROGRAM)
    out = {}
    for arch in ("x86", "x64"):
        exe = d / f"regunit-{arch}.exe"
        subprocess.run([fixturebuild.compiler(arch), "-O1", "-o", str(exe), str(src)], check=True,
                       capture_output=True)
        out[arch] = exe
    return out


def run_capturing_handles(exe, args=()):
    """Run, and snapshot the Key entries of the guest's handle table when the value is set."""
    seen = {}
    machine_box = {}

    def setup(machine):
        machine_box["m"] = machine

    def on_event(e):
        if e.category == "registry" and e.data.get("op") == "set_value" and "keys" not in seen:
            proc = next(p for p in machine_box["m"].processes if p.pid == e.pid)
            seen["keys"] = [(h, ent.obj, ent.access, ent.inherit) for h, ent in proc.handles.entries()
                            if ent.obj.type_name == "Key"]
    res = runner.run(exe, list(args), setup_machine=setup, subscribers=[on_event])
    return res, seen


@pytest.fixture(scope="module")
def results(programs):
    return {arch: run_capturing_handles(exe) for arch, exe in programs.items()}


def test_key_handles_are_handle_table_entries(results, arch):
    res, seen = results[arch]
    assert res.error is None, res.error
    assert b"create 0 disp=1 low bits=0\r\n" in res.stdout
    [(h, obj, access, inherit)] = seen["keys"]
    assert h % 4 == 0
    assert isinstance(obj, KeyObject) and obj.type_name == "Key"
    assert obj.key.path.endswith(r"\Software\whunit")
    assert access == KEY_READ | KEY_SET_VALUE
    assert inherit is True                       # SECURITY_ATTRIBUTES.bInheritHandle


def test_close_duplicate_and_type_checks(results, arch):
    out = results[arch][0].stdout.decode()
    assert "set 0\r\n" in out
    assert "CloseHandle on a key 1\r\n" in out
    assert "RegCloseKey after it 6\r\n" in out          # ERROR_INVALID_HANDLE: the handle is gone
    assert "query through the duplicate 0\r\n" in out   # the duplicate keeps the key object alive
    assert "an event is no key 6\r\n" in out            # STATUS_OBJECT_TYPE_MISMATCH → ERROR_INVALID_HANDLE


def test_32_bit_view_and_zero_extended_predefined_key(results, arch):
    assert "32-bit view 0 [C:\\Program Files (x86)]\r\n" in results[arch][0].stdout.decode()


def test_registry_events_and_report(results, arch):
    res, _ = results[arch]
    evs = [e.data for e in res.events if e.category == "registry"]
    user_key = r"\Software\whunit"
    assert any(d["op"] == "create_key" and d["path"].endswith(user_key) and d["status"] == 0 for d in evs)
    assert any(d["op"] == "set_value" and d["path"].endswith(user_key) and d["value"] == "v" and d["status"] == 0
               for d in evs)
    assert any(d["op"] == "query_value" and d["value"] == "ProgramFilesDir" and d["status"] == 0
               and "WOW6432Node" in d["path"] for d in evs)
    report = res.report()
    reg = report["processes"][0]["registry"]
    assert {"op": "set_value", "value": "v", "status": 0}.items() <= next(
        r for r in reg if r["op"] == "set_value").items()
    assert any(r["op"] == "create_key" and r["path"].endswith(user_key) for r in reg)
    # a failure: the NTSTATUS as in the registry's own entries, and the Win32 code the function returned
    assert {"op": "query_value", "value": "v", "status": 0xC0000008, "error": 6}.items() <= next(
        r for r in reg if r["op"] == "query_value" and r["status"]).items()


def test_synchronous_notification_stops_loudly(programs, arch):
    res = runner.run(programs[arch], ["wait"])
    assert res.exit_status == STATUS_NOT_IMPLEMENTED
    assert b"not reached" not in res.stdout
    assert "RegNotifyChangeKeyValue" in res.error and "fAsynchronous=FALSE" in res.error
    assert [u["api"] for u in res.unimplemented] == ["advapi32.dll!RegNotifyChangeKeyValue"]


def test_a_run_changes_its_own_registry_only(programs):
    """Each run gets a copy of the default registry: what one program writes is gone for the next."""
    for _ in range(2):   # REG_CREATED_NEW_KEY both times
        assert b"create 0 disp=1 " in runner.run(programs["x64"], []).stdout
    shared = Registry.default()   # unless a caller gives both runs one registry
    first = runner.run(programs["x64"], [], setup_machine=lambda m: setattr(m, "registry", shared))
    second = runner.run(programs["x64"], [], setup_machine=lambda m: setattr(m, "registry", shared))
    assert b"create 0 disp=1 " in first.stdout and b"create 0 disp=2 " in second.stdout
    key = shared.open_key(r"HKCU\Software\whunit")
    assert key.query_value("v") == (REG_DWORD, (7).to_bytes(4, "little"))
