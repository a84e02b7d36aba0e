"""The report's behaviour summary (issue 18): beh_sample.c does, harmlessly, what it must catch — and a plain
hello world shows nothing, so the summary has no false alarms from winhatch's own start-up."""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from winhatch.cli import main
from winhatch.kernel.profile import Profile

USER = Profile().user_profile     # the default machine's user profile folder (C:\Users\<user>)


@pytest.fixture
def behaviour(build_fixture, arch, tmp_path):
    exe = build_fixture("beh_sample.c", arch, libs=["-ladvapi32"])
    rep, page = tmp_path / "r.json", tmp_path / "r.html"
    r = CliRunner().invoke(main, ["run", "--out", str(tmp_path / "out"), "--report", str(rep), "--html", str(page),
                                  str(exe)])
    assert r.exit_code == 0, r.output
    assert "mutex 1 dbg 0 port 0 window 0 bad 0 wrote 6 child 7" in r.output
    doc = json.loads(rep.read_text())
    return doc, page.read_text()


def test_processes_files_registry_objects(behaviour):
    from winhatch.kernel.profile import Profile
    home = Profile.default().user_profile      # the default machine's user (C:\\Users\\jmorgan)
    doc, _ = behaviour
    b = doc["behaviour"]
    [child] = b["processes"]["started"]
    assert child["command_line"].endswith("beh_sample.exe child") and child["exit_status"] == 7
    assert [f["command_line"] for f in b["processes"]["failed"]] == ["C:\\no\\such\\program.exe"]
    [dropped] = b["files"]["written"]
    assert dropped["path"] == home + "\\AppData\\Roaming\\dropped.txt" and dropped["how"] == "created"
    assert dropped["size"] == 7
    assert dropped["sha256"] == "239f59ed55e737c77147cf55ad0c1b030b6d7ee748a7426952f9b852d5a935e5"  # "payload"
    assert [d["path"] for d in b["files"]["deleted"]] == [home + "\\AppData\\Local\\Temp\\gone.tmp"]
    [val] = b["registry"]["set"]
    assert val["key"].endswith("\\Software\\Microsoft\\Windows\\CurrentVersion\\Run")
    assert (val["value"], val["type"], val["data"]) == ("updater", 1, home + "\\AppData\\Roaming\\dropped.exe")
    assert [(o["type"], o["name"]) for o in b["named_objects"]] == [("Mutex", "Local\\winhatch-beh-mutex")]
    assert [p["kind"] for p in b["persistence"]] == ["Run key"]


def test_dropped_files_listed_hashed_and_kept(behaviour, tmp_path):
    """Every file the guest created or deleted, with its sha256; a copy of each in --out DIR/dropped/ (the one
    deleted during the run too: its content was kept before the deletion)."""
    doc, page = behaviour
    files = {f["path"]: f for f in doc["dropped_files"]["files"]}
    drop = files[USER + "\\AppData\\Roaming\\dropped.txt"]
    assert (drop["state"], drop["size"]) == ("created", 7)
    assert drop["sha256"] == "239f59ed55e737c77147cf55ad0c1b030b6d7ee748a7426952f9b852d5a935e5"
    gone = files[USER + "\\AppData\\Local\\Temp\\gone.tmp"]
    assert gone["state"] == "deleted" and gone["transient"]
    out = tmp_path / "out" / "dropped" / "C" / "Users" / Profile().user_name / "AppData"
    assert (out / "Roaming" / "dropped.txt").read_bytes() == b"payload"
    assert (out / "Local" / "Temp" / "gone.tmp").stat().st_size == gone["size"]
    assert not doc["dropped_files"]["truncated"]
    assert [d["path"] for d in doc["behaviour"]["dropped"]] == sorted(files, key=str.upper)
    assert "dropped file created" in page and f"kept as dropped/C/Users/{Profile().user_name}/AppData/Roaming/dropped.txt" in page


def test_injection_generated_code_anti_analysis(behaviour):
    doc, _ = behaviour
    b = doc["behaviour"]
    child = b["processes"]["started"][0]["pid"]
    services = [i["service"] for i in b["injection"]]
    assert services == ["NtAllocateVirtualMemory", "NtWriteVirtualMemory", "NtCreateThreadEx",
                        "NtSetContextThread", "NtQueueApcThread"]
    assert all(i["target_pid"] == child for i in b["injection"])
    [gen] = b["generated_code"]
    assert gen["service"] == "NtProtectVirtualMemory" and gen["protect"] == 0x20       # PAGE_EXECUTE_READ
    checks = {(a["check"], a["api"]) for a in b["anti_analysis"]}
    assert ("debugger", "IsDebuggerPresent") in checks
    assert ("debugger", "NtQueryInformationProcess(ProcessDebugPort)") in checks
    assert ("analysis DLL loaded", "GetModuleHandleA") in checks


def test_html_shows_the_summary_first(behaviour):
    _, page = behaviour
    top = page.index('id="summary"')
    assert top < page.index("Process tree")
    assert "persistence: Run key" in page and "dropped.txt" in page and "injection" in page


def test_nothing_of_note_for_hello(build_fixture, arch, tmp_path):
    rep = tmp_path / "r.json"
    CliRunner().invoke(main, ["run", "--report", str(rep), str(build_fixture("hello.c", arch))])
    b = json.loads(rep.read_text())["behaviour"]
    assert b == {"processes": {"started": [], "failed": []},
                 "files": {"written": [], "deleted": [], "renamed": [], "links": []},
                 "registry": {"set": [], "deleted": []}, "named_objects": [], "persistence": [], "injection": [],
                 "generated_code": [], "executed_code": [], "anti_analysis": [],
                 "event_log": [], "services": []}


def test_crash_page_has_registers_stack_and_record(build_fixture, arch, tmp_path):
    page = tmp_path / "c.html"
    CliRunner().invoke(main, ["run", "--html", str(page), str(build_fixture("crash.c", arch))])
    text = page.read_text()
    assert "Crash in crash.exe" in text and "EXCEPTION_RECORD" in text and "0xC0000005" in text
    assert ">rip<" in text if arch == "x64" else ">eip<" in text
    # the stack walk: frame 0 is the faulting instruction in the program, and the walk goes on past it
    stack = text[text.index('id="crash-stack-'):]
    stack = stack[:stack.index("</table>")]
    assert stack.count("<tr") >= 3 and "crash.exe+0x" in stack
