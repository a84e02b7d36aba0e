"""`winhatch run --report out.json`: one versioned report, validated by docs/report-schema.json."""
import copy
import json

import jsonschema
import pytest
from report_helpers import ROOT, cli

from winhatch.report import jsonreport


@pytest.fixture(scope="module")
def schema():
    return json.loads((ROOT / "docs" / "report-schema.json").read_text())


def test_report_file_is_valid_and_complete(build_fixture, arch, tmp_path, schema):
    exe = build_fixture("hello.c", arch)
    out = tmp_path / "r.json"
    r = cli("run", "--report", out, exe, "a b", "c")
    assert r.returncode == 42, r.stderr
    doc = json.loads(out.read_text())
    jsonschema.validate(doc, schema)
    assert doc["schema_version"] == jsonreport.SCHEMA_VERSION
    assert doc["program"]["args"] == ["a b", "c"] and doc["result"]["exit_status"] == 42
    (p,) = doc["processes"]
    assert p["exit_status"] == 42 and p["arch"] == arch
    assert p["image"] == "C:\\app\\hello.exe" and p["command_line"] == 'C:\\app\\hello.exe "a b" c'
    tree = {t["pid"]: t for t in doc["process_tree"]}
    assert tree[p["pid"]]["parent_pid"] == p["parent_pid"] and p["parent_pid"] in tree
    names = [s["name"] for s in p["stages"]]
    assert names[0] == "CreateProcessInternalW"  # the parent-side stages belong to the process they create
    for n in ("NtCreateUserProcess", "PspAllocateProcess", "MmCreatePeb", "PspInsertProcess", "PspCreateThread",
              "LdrInitializeThunk", "RtlUserThreadStart"):
        assert n in names
    assert names.index("NtCreateUserProcess") < names.index("LdrInitializeThunk") < names.index("RtlUserThreadStart")
    mods = {m["name"].lower(): m for m in p["modules"]}
    assert {"hello.exe", "ntdll.dll", "kernel32.dll", "msvcrt.dll"} <= set(mods)
    for m in p["modules"]:
        img = [r for r in p["memory_map"] if r["module"] == m["name"]]
        assert img and img[0]["base"] == m["base"]
    assert p["threads"][0]["exit_status"] == 42
    assert any(r["type"] == "Stack" and r["thread"] == p["threads"][0]["tid"] for r in p["memory_map"])
    apis = {c["api"] for c in p["api_calls"]}
    assert "msvcrt.dll!__getmainargs" in apis
    assert all(c["caller"] for c in p["api_calls"])
    assert sum(p["api_summary"].values()) == len(p["api_calls"]) + p["api_calls_dropped"]
    assert any("Image File Execution Options" in e["path"] for e in p["registry"])  # stage 2 looked there
    assert p["unimplemented_apis"] == []
    assert any(e["name"] == "LdrpSnapThunk" for e in p["loader"])


def test_report_records_unimplemented_and_startup_errors(tmp_path, arch, schema):
    from winhatch.pe.builder import SCN_CODE, ImageBuilder
    b = ImageBuilder(arch)
    text = b.add_section(".text", b"\xc3" * 16, SCN_CODE)
    b.entry_point = text.rva
    b.add_import("nothere.dll", ["f"])
    exe = tmp_path / "needs.exe"
    exe.write_bytes(b.build())
    out = tmp_path / "r.json"
    r = cli("run", "--report", out, exe)
    assert r.returncode != 0
    doc = json.loads(out.read_text())
    jsonschema.validate(doc, schema)
    (p,) = doc["processes"]
    assert p["startup_error"] and "nothere.dll" in p["startup_error"]["message"]


def test_schema_rejects_broken_reports(hello_runs, schema):
    _, res = hello_runs("x64")
    doc = res.report()
    jsonschema.validate(doc, schema)
    for breakage in (lambda d: d.pop("schema_version"),
                     lambda d: d["processes"][0].pop("memory_map"),
                     lambda d: d["processes"][0]["memory_map"][0].update(type="Bogus"),
                     lambda d: d["processes"][0]["modules"][0].update(base=-1),
                     lambda d: d["processes"][0]["api_calls"][0].update(api="no-bang"),
                     lambda d: d.update(extra=1)):
        bad = copy.deepcopy(doc)
        breakage(bad)
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(bad, schema)


def test_load_refuses_non_reports(tmp_path):
    p = tmp_path / "x.json"
    p.write_text("[1, 2]")
    with pytest.raises(ValueError, match="not a winhatch report"):
        jsonreport.load(p)
    p.write_text("{not json")
    with pytest.raises(ValueError, match="not JSON"):
        jsonreport.load(p)
    p.write_text(json.dumps({"schema_version": "9.0", "processes": []}))
    with pytest.raises(ValueError, match="not supported"):
        jsonreport.load(p)
    r = cli("report", p, "--html", tmp_path / "o.html")
    assert r.returncode == 1 and b"Traceback" not in r.stderr and b"not supported" in r.stderr
    r = cli("run", "--report", tmp_path / "no" / "dir" / "r.json", "whatever.exe")
    assert r.returncode == 2 and b"does not exist" in r.stderr and b"Traceback" not in r.stderr
