"""The generated export-surface data (winhatch/win32/data, tools/gen_exports.py)."""
import gzip
import json
import sys
from pathlib import Path

import pytest

from winhatch.win32.data import (dll_names, find_export, generated_exports, load_exports, module_exports,
                                 supplement)

ROOT = Path(__file__).resolve().parents[2]
WINE_X64 = Path("/usr/lib/x86_64-linux-gnu/wine/x86_64-windows")
ARCHES = ["x64", "x86"]


def names(arch, dll):
    return {e[1]: e for e in load_exports(arch)[dll]["exports"] if e[1] is not None}


@pytest.mark.parametrize("arch", ARCHES)
def test_loads(arch):
    t = load_exports(arch)
    assert load_exports(arch) is t  # cached
    assert len(t) > 500
    assert dll_names(arch) == sorted(t)
    for dll in ("ntdll.dll", "kernel32.dll", "kernelbase.dll", "msvcrt.dll", "ucrtbase.dll", "vcruntime140.dll",
                "msvcp140.dll", "advapi32.dll", "user32.dll", "gdi32.dll", "ws2_32.dll", "bcrypt.dll", "sechost.dll",
                "shell32.dll", "ole32.dll", "oleaut32.dll", "rpcrt4.dll", "crypt32.dll", "version.dll"):
        m = t[dll]
        assert m["machine"] == arch
        assert m["exports"], dll
        assert m["image_base"] % 0x10000 == 0 and m["size_of_image"] % 0x1000 == 0
        assert (m["image_base"] < 2**32) if arch == "x86" else True
    for dll, m in t.items():
        ords = [e[0] for e in m["exports"]]
        assert ords == sorted(ords), dll
        assert all(o >= m["ordinal_base"] for o in ords), dll
        for o, n, fwd, data in m["exports"]:
            assert data in (0, 1) and not (fwd and data)
            assert fwd is None or "." in fwd


@pytest.mark.parametrize("arch", ARCHES)
def test_kernel32(arch):
    k = names(arch, "kernel32.dll")
    for fn in ("CreateProcessW", "CreateProcessA", "GetProcAddress", "ExitProcess", "LoadLibraryA", "GetModuleHandleW"):
        assert fn in k
    assert k["HeapAlloc"][2].lower() == "ntdll.rtlallocateheap"
    assert k["ExitProcess"][2] is None and k["ExitProcess"][3] == 0
    assert find_export(arch, "KERNEL32", "HeapAlloc") == tuple(k["HeapAlloc"])
    assert find_export(arch, "kernel32.dll", k["GetProcAddress"][0])[1] == "GetProcAddress"
    assert find_export(arch, "kernel32.dll", "NoSuchFunction") is None
    assert module_exports(arch, "nosuch.dll") is None


@pytest.mark.parametrize("arch", ARCHES)
def test_ntdll(arch):
    n = names(arch, "ntdll.dll")
    for fn in ("LdrInitializeThunk", "RtlUserThreadStart", "NtCreateUserProcess", "KiUserExceptionDispatcher",
               "KiUserApcDispatcher", "KiUserCallbackDispatcher", "RtlAllocateHeap", "LdrLoadDll", "NtTerminateProcess"):
        assert fn in n and n[fn][2] is None and n[fn][3] == 0, fn
    if arch == "x64":
        for fn in ("RtlAddFunctionTable", "RtlLookupFunctionEntry", "RtlVirtualUnwind", "__C_specific_handler"):
            assert fn in n
        assert "_alldiv" not in n and "KiFastSystemCall" not in n
    else:
        for fn in ("_alldiv", "_aullrem", "_chkstk", "RtlUlongByteSwap"):
            assert fn in n
        assert "RtlAddFunctionTable" not in n and "__C_specific_handler" not in n
    assert n["LdrSystemDllInitBlock"][3] == 1  # a data export


@pytest.mark.parametrize("arch", ARCHES)
def test_no_wine_internals(arch):
    for dll, m in load_exports(arch).items():
        for o, n, fwd, data in m["exports"]:
            assert not (n or "").startswith(("__wine_", "wine_")), (dll, n)


@pytest.mark.parametrize("arch", ARCHES)
def test_msvcrt_ucrt(arch):
    m = names(arch, "msvcrt.dll")
    assert m["printf"][3] == 0 and m["__getmainargs"][3] == 0
    for data in ("_iob", "_environ", "_acmdln", "_commode", "_fmode", "__argc", "__argv", "_wenviron"):
        assert m[data][3] == 1, data
    u = names(arch, "ucrtbase.dll")
    assert "__stdio_common_vfprintf" in u and u["__stdio_common_vfprintf"][3] == 0
    if arch == "x86":
        for fn in ("_CIpow", "_EH_prolog", "_ftol", "_global_unwind2", "_local_unwind2"):
            assert fn in m, fn
        assert "__C_specific_handler" not in m
        assert m["_adjust_fdiv"][3] == 1
    else:
        assert m["__C_specific_handler"][2].lower() == "ntdll.__c_specific_handler"
        assert "_CIpow" not in m and "_EH_prolog" not in m
        assert "sqrtf" in m


def test_arch_differences():
    x64, x86 = load_exports("x64"), load_exports("x86")
    assert "wow64.dll" in x64 and "wow64.dll" not in x86
    assert "InterlockedIncrement" in names("x86", "kernel32.dll")
    assert "InterlockedIncrement" not in names("x64", "kernel32.dll")
    assert x86["ntdll.dll"]["image_base"] < 2**32 < x64["ntdll.dll"]["image_base"]


@pytest.mark.parametrize("arch", ARCHES)
def test_apiset_forwarder_dlls(arch):
    t = load_exports(arch)
    crt = t["api-ms-win-crt-stdio-l1-1-0.dll"]
    assert crt.get("synthetic") == 1
    fwd = {e[1]: e[2] for e in crt["exports"]}
    assert fwd["__stdio_common_vfprintf"] == "ucrtbase.__stdio_common_vfprintf"
    assert fwd["__acrt_iob_func"] == "ucrtbase.__acrt_iob_func"
    rt = {e[1]: e[2] for e in t["api-ms-win-crt-runtime-l1-1-0.dll"]["exports"]}
    assert rt["_initterm"] == "ucrtbase._initterm"
    synch = {e[1]: e[2] for e in t["api-ms-win-core-synch-l1-2-0.dll"]["exports"]}
    assert synch["Sleep"] == "kernelbase.Sleep"
    # every forwarder of an api-set DLL lands on a module we know, and nearly always on an export of it
    total = dangling = 0
    for dll, m in t.items():
        if not m.get("synthetic"):
            continue
        assert dll.startswith(("api-ms-", "ext-ms-"))
        for o, n, f, d in m["exports"]:
            host, fn = f.split(".", 1)
            hm = t.get(host.lower() + ".dll") or t.get(host.lower())
            assert hm is not None, f
            total += 1
            dangling += fn not in {e[1] for e in hm["exports"]}
    assert total > 4000 and dangling < total * 0.1


def test_reader_matches_pefile():
    pefile = pytest.importorskip("pefile")
    if not WINE_X64.is_dir():
        pytest.skip("wine64 not installed")
    sys.path.insert(0, str(ROOT / "tools"))
    import gen_exports
    for dll in ("kernel32.dll", "msvcrt.dll", "ntdll.dll"):
        data = (WINE_X64 / dll).read_bytes()
        ours = gen_exports.PEExports(data)
        pe = pefile.PE(data=data)
        assert ours.image_base == pe.OPTIONAL_HEADER.ImageBase
        assert ours.size_of_image == pe.OPTIONAL_HEADER.SizeOfImage
        base, exps = ours.exports()
        assert base == pe.DIRECTORY_ENTRY_EXPORT.struct.Base
        theirs = sorted((s.ordinal, s.name.decode() if s.name else None,
                         s.forwarder.decode() if s.forwarder else None) for s in pe.DIRECTORY_ENTRY_EXPORT.symbols
                        if s.address or s.forwarder)
        assert sorted((o, n, f) for o, n, f, _ in exps) == theirs


def test_regeneration_matches(tmp_path):
    """Regenerating the x64 data from the installed Wine gives the committed file."""
    if not WINE_X64.is_dir():
        pytest.skip("wine64 not installed")
    sys.path.insert(0, str(ROOT / "tools"))
    import gen_exports
    args = ["--arch", "x64", "--out", str(tmp_path)]
    if not gen_exports.MINGW_LIB["x64"].is_dir():
        args.append("--no-apiset-dlls")
    assert gen_exports.main(args) == 0
    fresh = json.loads(gzip.decompress((tmp_path / "exports-x64.json.gz").read_bytes()))
    committed = generated_exports("x64")
    if "--no-apiset-dlls" in args:
        committed = {k: v for k, v in committed.items() if not v.get("synthetic")}
    assert sorted(fresh) == sorted(committed)
    for dll in committed:
        assert fresh[dll] == committed[dll], dll


# ------------------------------------------------------------------------------------------ supplement.json
@pytest.mark.parametrize("arch", ARCHES)
def test_supplement_merged(arch):
    """Windows DLLs Wine lacks come from supplement.json, each with its sources, never shadowing Wine's data."""
    sup = supplement(arch)
    gen = generated_exports(arch)
    assert "bcryptprimitives.dll" in sup and "bcryptprimitives.dll" not in gen
    for dll, m in sup.items():
        assert dll not in gen, dll
        assert m["sources"] and all(isinstance(s, str) and s for s in m["sources"])
        assert load_exports(arch)[dll] is m
        names_ = [e[1] for e in m["exports"]]
        assert len(set(names_)) == len(names_)
        assert [e[0] for e in m["exports"]] == list(range(1, len(names_) + 1))
    bp = names(arch, "bcryptprimitives.dll")
    assert bp["ProcessPrng"][2] is None and bp["ProcessPrng"][3] == 0   # code, not forwarded
    assert {"GetCipherInterface", "GetHashInterface", "GetRngInterface"} <= set(bp)
    assert find_export(arch, "BCRYPTPRIMITIVES", "ProcessPrng") == tuple(bp["ProcessPrng"])
    assert set(dll_names(arch)) == set(gen) | set(sup)


def test_supplement_every_export_has_provenance():
    doc = json.loads((ROOT / "winhatch" / "win32" / "data" / "supplement.json").read_text())
    for dll, d in doc["dlls"].items():
        assert dll == dll.lower() and dll.endswith(".dll")
        assert set(d["arches"]) <= {"x64", "x86"} and set(d["image_base"]) >= set(d["arches"])
        for e in d["exports"]:
            assert len(e) == 2 and e[0] and e[1], (dll, e)
