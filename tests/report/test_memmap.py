"""The VMMap view of the address space: `winhatch vmmap`, `run --vmmap`, RunResult.memory_map."""
import json

from report_helpers import cli

from winhatch.kernel.mm.constants import MEM_COMMIT, MEM_FREE, MEM_IMAGE, MEM_MAPPED, MEM_PRIVATE
from winhatch.report import memmap
from winhatch.report.memmap import classify, protection_constant, protection_string


def test_protection_strings_read_as_vmmap():
    assert protection_string(0x20) == "Execute/Read"
    assert protection_string(0x02) == "Read"
    assert protection_string(0x04) == "Read/Write"
    assert protection_string(0x40) == "Execute/Read/Write"
    assert protection_string(0x08) == "Copy on write"
    assert protection_string(0x80) == "Execute/Copy on write"
    assert protection_string(0x01) == "No access"
    assert protection_string(0x104) == "Read/Write/Guard"
    assert protection_string(0) == ""
    assert protection_constant(0x104) == "PAGE_READWRITE|PAGE_GUARD"
    assert protection_constant(0x20) == "PAGE_EXECUTE_READ"


def test_classify_by_tag_and_type():
    class M:
        def __init__(self, typ, tag, state=MEM_COMMIT):
            self.Type, self.tag, self.State = typ, tag, state
    assert classify(M(MEM_IMAGE, ("image", "a.dll"))) == ("Image", "a.dll", None, "a.dll")
    assert classify(M(MEM_PRIVATE, ("stack", 12)))[:3] == ("Stack", None, 12)
    assert classify(M(MEM_PRIVATE, ("teb", 12)))[:3] == ("TEB", None, 12)
    assert classify(M(MEM_PRIVATE, ("peb",)))[0] == "PEB"
    assert classify(M(MEM_PRIVATE, ("heap",)))[0] == "Heap"
    assert classify(M(MEM_PRIVATE, ("process_parameters",))) == ("Private Data", None, None, "Process Parameters")
    assert classify(M(MEM_PRIVATE, None)) == ("Private Data", None, None, "")
    assert classify(M(MEM_MAPPED, ("kuser_shared_data",))) == ("Shareable", None, None, "KUSER_SHARED_DATA")
    assert classify(M(MEM_MAPPED, None), "C:\\data.bin")[0] == "Mapped File"
    assert classify(M(0, None, MEM_FREE))[0] == "Free"


def test_memory_map_at_exit(hello_runs, arch):
    exe, res = hello_runs(arch)
    proc = res.process
    mm = res.memory_map
    # the regions tile the whole user address space, in order
    assert mm[0]["base"] == 0
    for a, b in zip(mm, mm[1:]):
        assert a["base"] + a["size"] == b["base"]
    assert mm[-1]["base"] + mm[-1]["size"] == proc.aspace.end
    by_type = {}
    for r in mm:
        by_type.setdefault(r["type"], []).append(r)
    # every loaded module is an Image region carrying its name, within the module's range
    for m in res.modules:
        imgs = [r for r in by_type["Image"] if r["module"] == m["name"]]
        assert imgs, m["name"]
        assert imgs[0]["base"] == m["base"] and sum(r["size"] for r in imgs) == m["size"]
        assert imgs[0]["protection"] == "Read"  # the headers
        assert any(r["protection"] == "Execute/Read" for r in imgs)  # .text
    tid = proc.threads[0].tid
    stack = by_type["Stack"]
    assert {r["thread"] for r in stack} == {tid}
    assert any(r["protection"] == "Read/Write/Guard" for r in stack)  # the guard page below the committed top
    assert any(r["state"] == "MEM_RESERVE" for r in stack)
    teb = by_type["TEB"]
    # a WoW64 thread's TEB allocation starts at its 64-bit TEB, the PEB's at the 64-bit PEB
    t0 = proc.threads[0]
    assert teb[0]["base"] == getattr(t0, "teb64", t0.teb) and teb[0]["thread"] == tid
    assert by_type["PEB"][0]["base"] == getattr(proc, "peb64", proc.peb)
    kuser = by_type["Shareable"][0]
    assert kuser["base"] == 0x7FFE0000 and kuser["details"] == "KUSER_SHARED_DATA" and kuser["protection"] == "Read"
    assert any(r["details"] == "Process Parameters" for r in by_type["Private Data"])
    assert by_type["Heap"]
    # free space: "Unusable" only up to the next 64 KiB boundary, "Free" from a boundary
    for r in by_type["Unusable"]:
        assert (r["base"] + r["size"]) % 0x10000 == 0 and r["size"] < 0x10000
    for r in by_type["Free"]:
        assert r["base"] % 0x10000 == 0
    # the MEMORY_BASIC_INFORMATION fields are still there
    assert all(r["RegionSize"] == r["size"] and r["BaseAddress"] == r["base"] for r in mm)


def test_totals_add_up(hello_runs, arch):
    _, res = hello_runs(arch)
    regions = res.regions
    tot = memmap.totals(regions)
    assert tot["Image"]["committed"] == sum(m["size"] for m in res.modules)
    used = [r for r in regions if r.type not in ("Free", "Unusable")]
    assert tot["Total"]["size"] == sum(r.size for r in used)
    assert tot["Total"]["committed"] == sum(r.size for r in used if r.state == MEM_COMMIT)
    assert tot["Total"]["size"] == tot["Total"]["committed"] + tot["Total"]["reserved"]
    assert tot["Image"]["blocks"] == len(res.modules)
    assert sum(t["size"] for n, t in tot.items() if n != "Total") == res.process.aspace.end


def test_vmmap_command_json_matches_api(hello_runs, arch):
    exe, res = hello_runs(arch)
    r = cli("vmmap", "--json", exe, "a", "b")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["arch"] == arch and doc["exit_status"] == 42
    assert b"Hello from winhatch" in r.stderr  # the guest's output is kept off the JSON
    api = [(x["base"], x["size"], x["type"], x["protection"], x["module"]) for x in res.memory_map]
    got = [(x["base"], x["size"], x["type"], x["protection"], x["module"]) for x in doc["regions"]]
    assert got == api
    assert doc["totals"]["Image"]["blocks"] == len(res.modules)


def test_vmmap_tables_and_run_option(build_fixture, arch):
    exe = build_fixture("hello.c", arch)
    r = cli("vmmap", exe)
    text = r.stdout.decode()
    assert r.returncode == 0
    for word in ("summary", "details", "Image", "Stack", "Execute/Read", "KUSER_SHARED_DATA", "Thread ID:", "hello.exe",
                 "msvcrt.dll"):
        assert word in text, word
    r = cli("run", "--vmmap", exe)
    assert r.returncode == 42 and r.stdout.startswith(b"Hello")
    assert b"Execute/Read" in r.stderr and b"ntdll.dll" in r.stderr


def test_vmmap_missing_program_is_one_line(tmp_path):
    r = cli("vmmap", tmp_path / "nope.exe")
    assert r.returncode == 1
    assert b"Traceback" not in r.stderr and b"no such file" in r.stderr
