"""The Python API mirrors the CLI: winhatch.run(path, args=…, trace=…), notify callbacks, report()."""
import io

import winhatch


def test_run_with_trace_notify_and_report(build_fixture, arch):
    exe = build_fixture("hello.c", arch)
    seen = {"process": [], "thread": [], "image": []}
    trace = io.StringIO()
    res = winhatch.run(exe, ["x", "y z"], trace="loader", trace_stream=trace, record=("api",), notify={
        "process": lambda proc, pid, info: seen["process"].append((pid, info is not None)),
        "thread": lambda pid, tid, create: seen["thread"].append((pid, tid, create)),
        "image": lambda name, pid, info: seen["image"].append(name.rsplit("\\", 1)[-1].lower()),
    })
    assert res.exit_status == 42
    assert res.stdout.replace(b"\r\n", b"\n") == b"Hello from winhatch! argc=3\nargv[1]=[x]\nargv[2]=[y z]\n"
    pid = res.process.pid
    assert (pid, True) in seen["process"] and (pid, False) in seen["process"]  # create, then exit
    assert (pid, res.process.threads[0].tid, True) in seen["thread"]
    assert {"hello.exe", "ntdll.dll", "kernel32.dll", "msvcrt.dll"} <= set(seen["image"])
    text = trace.getvalue()
    assert "map msvcrt.dll" in text and "DllMain msvcrt.dll(DLL_PROCESS_ATTACH)" in text
    assert {m["name"].lower() for m in res.modules} >= {"hello.exe", "ntdll.dll"}
    assert any(r["type"] == "Image" and r["module"] == "hello.exe" for r in res.memory_map)
    assert res.filter_events(category="api", pid=pid)
    assert all(e.category == "loader" for e in res.filter_events(category="loader"))
    doc = res.report()
    assert doc["processes"][0]["pid"] == pid and doc["processes"][0]["api_calls"]
    assert doc["program"]["args"] == ["x", "y z"]


def test_run_missing_file_is_an_error_not_an_exception(tmp_path):
    res = winhatch.run(tmp_path / "none.exe")
    assert res.exit_status is None and "no such file" in res.error
    assert res.memory_map == [] and res.modules == []
    assert winhatch.run(tmp_path / "none.exe").report()["processes"] == []


def test_deps_api(build_fixture, arch):
    info = winhatch.deps(build_fixture("hello.c", arch))
    assert info["ok"] and info["arch"] == arch
