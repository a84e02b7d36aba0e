"""`winhatch coverage PATH...`: the imported functions of a corpus, resolved as `deps` resolves them, counted
per file and checked against what winhatch implements. The corpus here is made of images whose imports are
known exactly (pe.builder) and one mingw program with a delay-load import."""
import json
import os
import shutil
import subprocess

import pytest
from report_helpers import cli

import fixturebuild
from winhatch.pe.builder import SCN_CODE, ImageBuilder
from winhatch.report import coverage
from winhatch.win32 import api, subsystem
from winhatch.win32.data import load_exports


def _ordinal(arch, dll, name):
    return next(e[0] for e in load_exports(arch)[dll]["exports"] if e[1] == name)


def _image(path, arch, imports):
    b = ImageBuilder(arch)
    b.add_section(".text", b"\xc3" * 16, SCN_CODE)
    for d, syms in imports:
        b.add_import(d, syms)
    path.write_bytes(b.build())
    return path


def _declared(dll, name):
    """Whether a handler is declared for dll!name: read from the declarations, not from the machine that
    the coverage command asks."""
    subsystem.load_handler_modules()   # every declaration (a run imports only the modules it calls)
    return any(dll in s.dlls and name in [n for n, _w in s.names()] for s in api.specs())


def _delay_program(tmp_path):
    """cov_delay.c for x64, linked by lld-link with /delayload:version.dll (an import library from llvm-dlltool)."""
    for tool in ("clang", "lld-link", "llvm-dlltool"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed (make test installs clang, lld and llvm)")
    (tmp_path / "v.def").write_text("LIBRARY version.dll\nEXPORTS\nGetFileVersionInfoSizeA\n")
    run = lambda *cmd: subprocess.run(cmd, check=True, cwd=tmp_path, capture_output=True)  # noqa: E731
    run("llvm-dlltool", "-m", "i386:x86-64", "-d", "v.def", "-l", "v.lib")
    run("clang", "--target=x86_64-pc-windows-msvc", "-O1", "-c", str(fixturebuild.SRC / "cov_delay.c"), "-o", "d.obj")
    run("lld-link", "/nologo", "/nodefaultlib", "/entry:mainCRTStartup", "/subsystem:console",
        "/delayload:version.dll", "d.obj", "v.lib", "/out:delay.exe")
    return tmp_path / "delay.exe"


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    d = tmp_path_factory.mktemp("corpus")
    sub = d / "sub" / "deeper"
    sub.mkdir(parents=True)
    a_imports = [("KERNEL32.dll", ["HeapAlloc", "GetLastError", "BaseCheckAppcompatCache", "NoSuchFunction",
                                   _ordinal("x64", "kernel32.dll", "ExitProcess")]),
                 ("api-ms-win-core-synch-l1-2-0.dll", ["Sleep"]),
                 ("myown.dll", ["Foo", "Bar"])]
    _image(d / "a.exe", "x64", a_imports)
    shutil.copy(d / "a.exe", sub / "a_copy.exe")
    _image(d / "b.exe", "x86", [("kernel32.dll", ["HeapAlloc", "Sleep",
                                                  _ordinal("x86", "kernel32.dll", "ExitProcess")])])
    (d / "notes.txt").write_text("not a PE file")
    (sub / "broken.dll").write_bytes(b"MZ" + b"\0" * 100)
    return d


@pytest.fixture(scope="module")
def result(corpus):
    return coverage.scan([corpus])


def _fn(result, key):
    return next(f for f in result["functions"] if f["function"] == key)


def test_counts(result):
    s = result["summary"]
    assert (s["files_seen"], s["pe_files"], s["skipped_not_pe"], s["malformed"]) == (5, 3, 1, 1)
    broken = [f for f in result["files"] if f["status"] == "malformed"]
    assert [os.path.basename(f["path"]) for f in broken] == ["broken.dll"]
    # kernel32!HeapAlloc is a forwarder to ntdll: the function is where its code is
    heap = _fn(result, "ntdll.dll!RtlAllocateHeap")
    assert (heap["files"], heap["arches"], heap["implemented"]) == (3, {"x64": 2, "x86": 1}, True)
    # an API set import and kernel32's own Sleep (a function of kernel32, not a forwarder, in this surface)
    assert _fn(result, "kernelbase.dll!Sleep")["files"] == 2
    assert _fn(result, "kernel32.dll!Sleep")["files"] == 1
    # an ordinal import is named by the export table (a different ordinal on each architecture)
    assert _fn(result, "kernel32.dll!ExitProcess")["files"] == 3
    assert _fn(result, "kernel32.dll!GetLastError") == {
        "function": "kernel32.dll!GetLastError", "dll": "kernel32.dll", "name": "GetLastError", "kind": "code",
        "implemented": True, "exported": True, "files": 2, "arches": {"x64": 2}, "delay_only": False}
    nosuch = _fn(result, "kernel32.dll!NoSuchFunction")
    assert (nosuch["exported"], nosuch["implemented"], nosuch["files"]) == (False, False, 2)
    compat = _fn(result, "kernel32.dll!BaseCheckAppcompatCache")
    assert compat["implemented"] == _declared("kernel32.dll", "BaseCheckAppcompatCache")
    # a DLL outside the system directory is counted per file, its functions are not in the figure
    assert {"dll": "myown.dll", "files": 2, "status": "missing"} in result["other_dlls"]
    assert not any(f["dll"] == "myown.dll" for f in result["functions"])
    # the sort: most files first
    files = [f["files"] for f in result["functions"]]
    assert files == sorted(files, reverse=True)


def test_delay_load_imports_count(tmp_path):
    result = coverage.scan([_delay_program(tmp_path)])
    v = _fn(result, "version.dll!GetFileVersionInfoSizeA")
    assert v["files"] == 1 and v["delay_only"] and v["arches"] == {"x64": 1}
    assert v["implemented"] == _declared("version.dll", "GetFileVersionInfoSizeA")


def test_figures(result):
    s = result["summary"]
    fl = result["functions"]
    assert s["functions"] == len(fl) and s["implemented"] == sum(f["implemented"] for f in fl)
    assert s["import_pairs"] == sum(f["files"] for f in fl)
    assert s["import_pairs_implemented"] == sum(f["files"] for f in fl if f["implemented"])
    assert s["coverage"] == round(s["implemented"] / s["functions"], 4)
    assert s["weighted_coverage"] == round(s["import_pairs_implemented"] / s["import_pairs"], 4)
    per_file = {os.path.basename(f["path"]): f for f in result["files"]}
    # HeapAlloc, GetLastError, BaseCheckAppcompatCache, NoSuchFunction, ExitProcess, the API set's Sleep
    assert per_file["a.exe"]["functions"] == 6 and per_file["b.exe"]["functions"] == 3
    assert per_file["a.exe"]["implemented"] < 6      # NoSuchFunction
    assert s["files_fully_covered"] == sum(1 for f in result["files"]
                                           if f["status"] == "ok" and f["functions"] == f["implemented"])


def test_json_schema_is_stable(corpus):
    """Programs read this: the keys and the schema name change only with a new schema version."""
    r = cli("coverage", "--json", corpus)
    assert r.returncode == 0, r.stderr
    info = json.loads(r.stdout)
    assert info["schema"] == "winhatch-coverage/1"
    assert set(info) == {"schema", "summary", "functions", "other_dlls", "files"}
    assert set(info["summary"]) == {"files_seen", "pe_files", "skipped_not_pe", "malformed", "unsupported",
                                    "functions", "implemented", "coverage", "import_pairs",
                                    "import_pairs_implemented", "weighted_coverage", "files_fully_covered"}
    for f in info["functions"]:
        assert set(f) == {"function", "dll", "name", "kind", "implemented", "exported", "files", "arches",
                          "delay_only"}
    for f in info["files"]:
        assert set(f) == {"path", "arch", "status", "error", "functions", "implemented"}
    for d in info["other_dlls"]:
        assert set(d) == {"dll", "files", "status"}


def test_table_and_missing(corpus):
    r = cli("coverage", corpus)
    out = r.stdout.decode()
    assert r.returncode == 0, r.stderr
    assert "ntdll.dll!RtlAllocateHeap" in out and "3 PE files: coverage" in out
    assert "1 malformed" in out and "1 not PE, skipped" in out
    out = cli("coverage", "--missing", "--limit", "0", corpus).stdout.decode()
    assert "kernel32.dll!NoSuchFunction" in out and "RtlAllocateHeap" not in out


def test_bad_paths(tmp_path):
    r = cli("coverage", tmp_path / "nonesuch")
    assert r.returncode == 1 and b"no such file or directory" in r.stderr and b"Traceback" not in r.stderr
    r = cli("coverage", "--help")
    assert r.returncode == 0 and b"implemented" in r.stdout


def test_system_service_stubs_count_as_their_service(tmp_path):
    """ntdll's Nt*/Zw* exports are syscall stubs: implemented when the kernel implements the service (there is no
    handler at the export), missing when it does not."""
    from winhatch.kernel.ke.services import BY_NAME
    from winhatch.kernel.machine import Machine
    services = Machine().services
    unimplemented = next(n for n in sorted(BY_NAME) if n.startswith("Nt") and not services.implemented(n)
                         and _ordinal_or_none("x64", "ntdll.dll", n) is not None)
    _image(tmp_path / "n.exe", "x64", [("ntdll.dll", ["NtWriteFile", "ZwQueryVirtualMemory", unimplemented])])
    result = coverage.scan([tmp_path])
    assert services.implemented("NtWriteFile") and services.implemented("NtQueryVirtualMemory")
    assert _fn(result, "ntdll.dll!NtWriteFile")["implemented"]
    assert _fn(result, "ntdll.dll!ZwQueryVirtualMemory")["implemented"]
    assert not _fn(result, f"ntdll.dll!{unimplemented}")["implemented"]


def _ordinal_or_none(arch, dll, name):
    return next((e[0] for e in load_exports(arch)[dll]["exports"] if e[1] == name), None)
