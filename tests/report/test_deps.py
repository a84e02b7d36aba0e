"""`winhatch deps FILE`: the dependency tree, found as the loader would, without running anything."""
import json

import pytest
from report_helpers import cli

from winhatch.pe.builder import SCN_CODE, ImageBuilder
from winhatch.report.deps import dependency_tree


def _image(path, arch, *, dll=False, imports=(), exports=(), forwarders=(), image_base=None):
    """A small PE: `imports` [(dll, [symbols])], `exports` [names], `forwarders` [(name, "DLL.Target")]."""
    b = ImageBuilder(arch, dll=dll, image_base=image_base)
    text = b.add_section(".text", b"\xc3" * 16, SCN_CODE)
    for name in exports:
        b.add_export(name, text.rva)
    for name, fwd in forwarders:
        b.add_export(name, forwarder=fwd)
    for d, syms in imports:
        b.add_import(d, syms)
    path.write_bytes(b.build())
    return path


def _nodes(tree):
    yield tree
    for c in tree["children"]:
        yield from _nodes(c)


def test_hello_tree(build_fixture, arch):
    exe = build_fixture("hello.c", arch)
    info = dependency_tree(exe)
    assert info["ok"] and info["arch"] == arch
    assert not info["missing_dlls"] and not info["missing_exports"]
    top = {c["name"].lower(): c for c in info["tree"]["children"]}
    sysdir = "System32" if arch == "x64" else "SysWOW64"
    assert top["kernel32.dll"]["guest_path"].lower() == f"c:\\windows\\{sysdir}\\kernel32.dll".lower()
    assert top["kernel32.dll"]["location"] == "system"
    imps = {i["name"]: i for i in top["msvcrt.dll"]["imports"]}
    assert "printf" in imps or "__getmainargs" in imps
    assert all(i["found"] for i in imps.values())
    # kernel32's critical-section functions are forwarded to ntdll: followed
    dcs = {i["name"]: i for i in top["kernel32.dll"]["imports"]}["DeleteCriticalSection"]
    assert dcs["forwarded"] and dcs["resolved"].lower() == "ntdll.dll!rtldeletecriticalsection"
    # kernel32 imports KERNELBASE.dll and ntdll.dll itself, as Windows 10's does (kernelbase imports ntdll)
    kids = {c["name"].lower(): c for c in top["kernel32.dll"]["children"]}
    assert kids["kernelbase.dll"]["via"] == "import" and kids["kernelbase.dll"]["status"] == "ok"
    assert kids["ntdll.dll"]["via"] == "import" and kids["ntdll.dll"]["status"] in ("ok", "seen")
    assert [c["name"].lower() for c in kids["kernelbase.dll"]["children"]] == ["ntdll.dll"]


def test_api_sets_missing_exports_and_app_dir(tmp_path, arch):
    _image(tmp_path / "mine.dll", arch, dll=True, exports=["present"], forwarders=[("fwd", "mine2.real")])
    _image(tmp_path / "mine2.dll", arch, dll=True, exports=["real"])
    exe = _image(tmp_path / "app.exe", arch, imports=[
        ("api-ms-win-core-processthreads-l1-1-0.dll", ["GetCurrentProcessId"]),
        ("mine.dll", ["present", "absent", "fwd"]),
    ])
    info = dependency_tree(exe)
    assert not info["ok"]
    kids = {c["name"]: c for c in info["tree"]["children"]}
    aps = kids["api-ms-win-core-processthreads-l1-1-0.dll"]
    assert aps["host"].lower() == "kernel32.dll"  # resolved through the API set schema, as the loader does
    assert aps["status"] == "ok" and aps["imports"][0]["found"]
    mine = kids["mine.dll"]
    assert mine["location"] == "app" and mine["guest_path"] == "C:\\app\\mine.dll"
    imps = {i["name"]: i for i in mine["imports"]}
    assert imps["present"]["found"] and not imps["absent"]["found"]
    assert imps["fwd"]["found"] and imps["fwd"]["resolved"] == "mine2.dll!real"
    assert info["missing_exports"] == [{"dll": "mine.dll", "symbol": "absent", "importer": "app.exe",
                                        "delay": False, "reason": "mine.dll!absent not found"}]
    assert any(n["name"] == "mine2.dll" and n["via"] == "forwarder" for n in _nodes(mine))


def test_missing_dll_cycle_and_wrong_arch(tmp_path, arch):
    other = "x86" if arch == "x64" else "x64"
    _image(tmp_path / "cyca.dll", arch, dll=True, exports=["a"], imports=[("cycb.dll", ["b"])])
    _image(tmp_path / "cycb.dll", arch, dll=True, exports=["b"], imports=[("cyca.dll", ["a"])])
    _image(tmp_path / "alien.dll", other, dll=True, exports=["x"])
    exe = _image(tmp_path / "app.exe", arch, imports=[("cyca.dll", ["a"]), ("gone.dll", ["f"]),
                                                       ("alien.dll", ["x"]), ("cycb.dll", ["b"])])
    info = dependency_tree(exe)
    kids = {c["name"]: c for c in info["tree"]["children"]}
    assert kids["gone.dll"]["status"] == "missing"
    assert [m["dll"] for m in info["missing_dlls"]] == ["gone.dll"]
    assert kids["alien.dll"]["status"] == "arch_mismatch"
    cycb = kids["cyca.dll"]["children"][0]
    assert cycb["name"] == "cycb.dll" and cycb["children"][0]["status"] == "cycle"  # cyca → cycb → cyca
    assert kids["cycb.dll"]["status"] == "seen"  # expanded once in the tree
    assert not info["ok"]


def test_depth_bound(tmp_path, arch):
    prev = None
    for i in range(6):
        _image(tmp_path / f"d{i}.dll", arch, dll=True, exports=["f"],
               imports=[(f"d{i + 1}.dll", ["f"])] if i < 5 else [])
    exe = _image(tmp_path / "app.exe", arch, imports=[("d0.dll", ["f"])])
    info = dependency_tree(exe, max_depth=3)
    depth, node = 0, info["tree"]
    while node["children"]:
        node = node["children"][0]
        depth += 1
    assert node["status"] == "depth" and depth == 3
    assert dependency_tree(exe)["ok"]


def test_deps_cli(build_fixture, arch, tmp_path):
    exe = build_fixture("hello.c", arch)
    r = cli("deps", exe)
    assert r.returncode == 0, r.stderr
    out = r.stdout.decode()
    # kernel32 imports KERNELBASE.dll (which imports ntdll): both in the tree under it
    assert "KERNEL32.dll" in out and "msvcrt.dll" in out and "KERNELBASE.dll" in out and "resolved" in out
    r = cli("deps", "--json", exe)
    assert json.loads(r.stdout)["ok"] is True
    _image(tmp_path / "app.exe", arch, imports=[("gone.dll", ["f"])])
    r = cli("deps", tmp_path / "app.exe")
    assert r.returncode == 1 and b"missing DLL" in r.stdout and b"gone.dll" in r.stdout


@pytest.mark.parametrize("content", [b"", b"MZ" + b"\0" * 100, b"not a pe at all" * 10])
def test_deps_bad_input_is_one_line(tmp_path, content):
    bad = tmp_path / "bad.exe"
    bad.write_bytes(content)
    r = cli("deps", bad)
    assert r.returncode == 1
    err = r.stderr.decode()
    assert "Traceback" not in err and err.count("\n") == 1 and "bad.exe" in err
    r = cli("deps", tmp_path / "missing.exe")
    assert r.returncode == 1 and b"no such file" in r.stderr and b"Traceback" not in r.stderr


def test_long_forwarder_chain_and_cycle(tmp_path, arch):
    """As the loader does (issue 14): a 40-hop forwarder chain is followed; only a cycle is reported."""
    chain = [(f"f{i}", f"t.f{i + 1}") for i in range(40)] + [("f40", "t.real")]
    chain += [("c0", "t.c1"), ("c1", "t.c0")]
    _image(tmp_path / "t.dll", arch, dll=True, exports=["real"], forwarders=chain)
    exe = _image(tmp_path / "app.exe", arch, imports=[("t.dll", ["f0", "c0"])])
    info = dependency_tree(exe)
    imps = {i["name"]: i for i in {c["name"]: c for c in info["tree"]["children"]}["t.dll"]["imports"]}
    assert imps["f0"]["found"] and imps["f0"]["resolved"] == "t.dll!real"
    assert not imps["c0"]["found"] and "cycle" in imps["c0"]["error"]
