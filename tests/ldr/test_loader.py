"""The image loader: from LdrInitializeThunk to the entry point, and LoadLibrary at run time (issue 5)."""
from winhatch import runner
from winhatch.kernel.structs import LDR_DATA_TABLE_ENTRY, PEB, PEB_LDR_DATA
from winhatch.ntstatus import (STATUS_DLL_INIT_FAILED, STATUS_DLL_NOT_FOUND, STATUS_ENTRYPOINT_NOT_FOUND,
                               STATUS_INVALID_IMAGE_FORMAT)


def run_in(app_dir, exe, *dlls, args=()):
    for d in dlls:
        app_dir(d)
    return runner.run(app_dir(exe), list(args))


def loader_events(res, name):
    return [e for e in res.events if e.category == "loader" and e.name == name]


def test_relocated_dll_and_dependency_order(ldr_bins, app_dir, arch):
    b = ldr_bins[arch]
    res = run_in(app_dir, b["main"], b["a"], b["b"], b["c"])
    assert res.exit_status == 0, (res.error, res.stdout, res.startup_error)
    out = res.stdout.decode().splitlines()
    # DllMains run in dependency order (A before B, which imports A), then main; detach in reverse order.
    assert out[:2] == ["A: attach static=1", "B: attach"]
    assert out[2] == "main: a=1001 name=alpha b=1002"
    assert out[3:6] == ["main: secret=4242", "main: fwd_pid_ok=1", "main: distinct_bases=1"]
    assert out[6:] == ["B: detach", "A: detach"]
    maps = {e.data["module"]: e.data for e in loader_events(res, "LdrpMapDll")}
    relocated = [m for m in ("ldr_dlla.dll", "ldr_dllb.dll") if maps[m]["relocated"]]
    assert len(relocated) == 1  # same preferred base: exactly one of the two moved, and both work


def test_forwarder_and_ordinal_import_are_followed(ldr_bins, app_dir, arch):
    b = ldr_bins[arch]
    res = run_in(app_dir, b["main"], b["a"], b["b"], b["c"])
    fwd = [e.data for e in loader_events(res, "LdrpForwarder")]
    assert any(f["frm"] == "ldr_dllc.dll!fwd_pid" and f["to"].upper() == "KERNEL32.GETCURRENTPROCESSID" for f in fwd)


def test_hint_hits_and_misses_are_counted(ldr_bins, app_dir, arch):
    b = ldr_bins[arch]
    res = run_in(app_dir, b["main"], b["a"], b["b"], b["c"])
    snaps = [e.data for e in loader_events(res, "LdrpSnapThunk")]
    assert snaps and all("hint_hit" in s and "steps" in s for s in snaps)
    mods = {m["name"]: m for m in res.modules}
    total = sum(m["hint_hits"] + m["hint_misses"] for m in mods.values())
    assert total == len(snaps)
    # imports of our own DLLs carry the linker's hint, which is exact: all hits
    a = mods["ldr_dlla.dll"]
    assert a["hint_hits"] >= 2 and a["hint_misses"] == 0


def test_load_order_lists_in_guest_memory(ldr_bins, app_dir, arch):
    b = ldr_bins[arch]
    res = run_in(app_dir, b["main"], b["a"], b["b"], b["c"])
    p = res.process
    ldr = PEB.read(p.aspace, p.peb, arch, "Ldr")["Ldr"]
    ps = 8 if arch == "x64" else 4

    def walk(list_name, link_name):
        head = ldr + PEB_LDR_DATA.offset(arch, list_name)
        off = LDR_DATA_TABLE_ENTRY.offset(arch, link_name)
        names, e = [], int.from_bytes(p.aspace.read(head, ps), "little")
        while e != head and len(names) < 100:
            entry = e - off
            us = LDR_DATA_TABLE_ENTRY.read(p.aspace, entry, arch, "BaseDllName")["BaseDllName"]
            names.append(p.aspace.read(us["Buffer"], us["Length"]).decode("utf-16-le").lower())
            e = int.from_bytes(p.aspace.read(e, ps), "little")
        return names

    load = walk("InLoadOrderModuleList", "InLoadOrderLinks")
    assert load[0] == "ldr_main.exe" and load[1] == "ntdll.dll"  # the exe first, ntdll second, as on Windows
    assert {"ldr_dlla.dll", "ldr_dllb.dll", "ldr_dllc.dll", "kernel32.dll", "msvcrt.dll"} <= set(load)
    assert sorted(walk("InMemoryOrderModuleList", "InMemoryOrderLinks")) == sorted(load)
    init = walk("InInitializationOrderModuleList", "InInitializationOrderLinks")
    assert init.index("ldr_dlla.dll") < init.index("ldr_dllb.dll")  # a DLL after the DLLs it imports


def test_program_walks_peb_ldr_itself(ldr_bins, app_dir, arch):
    res = run_in(app_dir, ldr_bins[arch]["pebwalk"])
    lines = res.stdout.decode().splitlines()
    # Windows 10: the exe, ntdll, then KERNEL32.DLL and KERNELBASE.dll (named as their files are), which
    # ntdll's LdrpInitializeProcess loads for every Win32 process before the image's own imports (Wine 8
    # agrees on the order, with lower-case names); msvcrt, the program's other import, after them
    assert lines[:5] == ["0 ldr_pebwalk.exe base_ok=1", "1 ntdll.dll base_ok=1", "2 KERNEL32.DLL base_ok=1",
                         "3 KERNELBASE.dll base_ok=1", "4 msvcrt.dll base_ok=1"]
    assert "exe_base_matches=1" in lines
    assert "memory: ldr_pebwalk.exe ntdll.dll KERNEL32.DLL KERNELBASE.dll" in lines
    # ntdll heads the initialisation order, kernelbase is initialised before kernel32, which imports it
    assert "init: ntdll.dll KERNELBASE.dll KERNEL32.DLL" in lines
    assert "kernelbase_handle=1 third_is_kernel32=1 fourth_is_kernelbase=1" in lines
    assert "kernelbase_GetProcAddress=1" in lines
    assert res.exit_status == 5   # the number of modules in load order


def test_tls_callbacks_and_thread_variables(ldr_bins, app_dir, arch):
    res = run_in(app_dir, ldr_bins[arch]["tls"])
    # the per-thread copy changes, the template in the image does not
    assert res.stdout.decode().splitlines() == ["tls callback: attach (counter=40)",
                                                "main: counter=42 template=40 callbacks=1"]
    assert res.exit_status == 42
    assert loader_events(res, "LdrpInitializeTls")


def test_loadlibrary_refcounts_and_errors(ldr_bins, app_dir, arch):
    b = ldr_bins[arch]
    res = run_in(app_dir, b["loadlib"], b["a"], b["c"])
    assert res.stdout.decode().splitlines() == [
        "A: attach static=0",
        "load: same=1",
        "proc: a_value=1001",
        "proc: missing=1 error=127",  # ERROR_PROC_NOT_FOUND
        "proc: ordinal6=7 ordinal5=4242 ordinal99_null=1 error=127",
        "free1=1 still_loaded=1",
        "A: detach",
        "free2=1 still_loaded=0",
        "missing: null=1 error=126",  # ERROR_MOD_NOT_FOUND
    ]
    loads = [e.data for e in res.events if e.category == "image"]
    assert [e["name"] for e in loads if e.get("name") == "ldr_dlla.dll"] == ["ldr_dlla.dll", "ldr_dlla.dll"]


def test_missing_dll_fails_startup(ldr_bins, app_dir, arch):
    res = run_in(app_dir, ldr_bins[arch]["missing"])  # ldr_dlla.dll is not next to it
    assert res.exit_status == STATUS_DLL_NOT_FOUND == 0xC0000135
    assert res.startup_error["dll"] == "ldr_dlla.dll"
    assert res.stdout == b""  # no initialiser and no entry point ran


def test_missing_export_fails_startup_as_windows_does(ldr_bins, app_dir, arch, build_fixture):
    """Windows fails start-up with STATUS_ENTRYPOINT_NOT_FOUND; Wine is lenient here (it binds a stub)."""
    b = ldr_bins[arch]
    stripped = build_fixture("ldr_initfail.c", arch, dll=True)  # a DLL without a_value / a_name
    app_dir(b["missing"])
    app_dir(stripped, "ldr_dlla.dll")
    res = runner.run(app_dir.dir / b["missing"].name)
    assert res.exit_status == STATUS_ENTRYPOINT_NOT_FOUND == 0xC0000139
    assert res.startup_error["symbol"] in ("a_value", "a_name") and res.startup_error["dll"] == "ldr_dlla.dll"
    assert res.stdout == b""


def test_dllmain_false_fails_with_dll_init_failed(ldr_bins, app_dir, arch):
    b = ldr_bins[arch]
    res = run_in(app_dir, b["useinit"], b["fail"])
    assert res.exit_status == STATUS_DLL_INIT_FAILED == 0xC0000142
    assert res.stdout == b""


def test_bad_image_dll_fails_with_invalid_image_format(ldr_bins, app_dir, arch):
    b = ldr_bins[arch]
    app_dir(b["missing"])
    (app_dir.dir / "ldr_dlla.dll").write_bytes(b"MZ" + b"\0" * 58 + b"\x40\0\0\0" + b"garbage" * 20)
    res = runner.run(app_dir.dir / b["missing"].name)
    assert res.exit_status in (STATUS_INVALID_IMAGE_FORMAT, 0xC0000130)  # not a PE: bad image
    assert res.startup_error["dll"] == "ldr_dlla.dll"


def test_wrong_architecture_dll_is_refused(ldr_bins, app_dir, arch):
    other = "x64" if arch == "x86" else "x86"
    b = ldr_bins[arch]
    app_dir(b["missing"])
    app_dir(ldr_bins[other]["a"])
    res = runner.run(app_dir.dir / b["missing"].name)
    assert res.exit_status == STATUS_INVALID_IMAGE_FORMAT


def _iat_slot_in_file(exe, arch, symbol):
    import subprocess

    import pefile
    import fixturebuild
    nm = subprocess.run([f"{fixturebuild.TRIPLES[arch]}-nm", str(exe)], capture_output=True, text=True).stdout
    addr = next(int(ln.split()[0], 16) for ln in nm.splitlines() if ln.split()[-1] == symbol)
    pe = pefile.PE(str(exe), fast_load=True)
    size = 8 if arch == "x64" else 4
    return int.from_bytes(pe.get_data(addr - pe.OPTIONAL_HEADER.ImageBase, size), "little")


def test_delay_load_resolves_on_first_call(ldr_bins, app_dir, arch):
    """The delay helper (linked into the program) calls LoadLibrary/GetProcAddress on the first call."""
    import pytest
    b = ldr_bins[arch]
    symbol = "__imp__a_value" if arch == "x86" else "__imp_a_value"
    if _iat_slot_in_file(b["delay"], arch, symbol) == 0:
        pytest.skip("this binutils' i386 `dlltool -y` leaves the delay-load IAT slot 0 in the file: the program "
                    "would jump to 0 on Windows too")
    res = run_in(app_dir, b["delay"], b["a"])
    assert res.stdout.decode().splitlines() == [
        "main: before, loaded=0", "A: attach static=0", "main: a_value=1001 loaded=1", "main: again=1001",
        "A: detach"]
    loads = [e.data for e in loader_events(res, "LdrLoadDll")]
    assert [d["module"] for d in loads] == ["ldr_dlla.dll"]  # loaded once, at run time


def test_thread_variables_are_per_thread(app_dir, arch, build_fixture):
    res = run_in(app_dir, build_fixture("ldr_threadvar.c", arch))
    assert res.stdout.decode().splitlines() == ["main copy=101 worker copy=150"], res.error


# what wine64 8.0 prints for ldr_apiset_image.exe (x64), which is also what Windows 10 answers for the API set
# names (Wine's kernel32/tests/module.c test_apisets, run on Windows); x86 prints its NULLs with 8 digits
APISET_IMAGE_WINE_X64 = """\
api-ms-win-core-console-l1-1-0             0 present=1 | ex 00000000 in_schema=0x1 present=0x1 | implemented=1
api-ms-win-core-console-l1-1-0.dll         0 present=1 | ex c000000d in_schema=0x55 present=0x55 | implemented=0
api-ms-win-core-console-l1-1-9             0 present=1 | ex 00000000 in_schema=0 present=0 | implemented=0
api-ms-win-core-console-l1-1               0 present=0 | ex 00000000 in_schema=0 present=0 | implemented=0
api-ms-win-core-console-l1-1-0.fake        0 present=1 | ex c000000d in_schema=0x55 present=0x55 | implemented=0
api-ms-win-foo-bar-l1-1-0                  0 present=0 | ex 00000000 in_schema=0 present=0 | implemented=0
ext-ms-win-gdi-draw-l1-1-1                 0 present=1 | ex 00000000 in_schema=0x1 present=0x1 | implemented=1
api-ms-win-deprecated-apis-advapi-l1-1-0   0 present=0 | ex 00000000 in_schema=0x1 present=0 | implemented=0
API-MS-WIN-CORE-CONSOLE-L1-1-0             0 present=1 | ex 00000000 in_schema=0x1 present=0x1 | implemented=1
foo                                        0 present=0 | ex c000000d in_schema=0x55 present=0x55 | implemented=0
                                           0 present=0 | ex c000000d in_schema=0x55 present=0x55 | implemented=0
import: at_rva=1 size_ok=1
entry 16: 0000000000000000 size_untouched=1
security (none): 0000000000000000
as file: section_found=1 matches=1 low_bit=1
rva2va: 1 last_set=1 past_end=0000000000000000
headers rva: 1
find exe: 0 base_ok=1
find kernel32: 0
find nothing: 8000001a
"""


def test_apiset_presence_and_image_directory_lookups(app_dir, arch):
    """ApiSetQueryApiSetPresence(Ex), IsApiSetImplemented, RtlImageDirectoryEntryToData (as image, as file,
    LDR_IS_DATAFILE), RtlImageRvaToSection/RtlImageRvaToVa and LdrFindEntryForAddress, against wine64's run."""
    import fixturebuild
    exe = fixturebuild.build("ldr_apiset_image.c", arch)
    res = run_in(app_dir, exe)
    assert res.exit_status == 0, (res.error, res.stdout)
    expected = APISET_IMAGE_WINE_X64
    if arch == "x86":
        expected = expected.replace("0000000000000000", "00000000")
    assert res.stdout.decode().replace("\r\n", "\n") == expected


def test_load_failures_from_the_file_and_exe_as_module(app_dir, arch):
    """ldr_loadfail.c, as wine64 prints it (and Wine's kernel32/tests/module.c and loader.c record on Windows):
    a DLL file open for writing is a sharing violation (32), an empty file as a data file ERROR_FILE_INVALID
    (1006), FreeLibrary of a data-file handle + 0x1230 ERROR_BAD_EXE_FORMAT (193); LoadLibrary of an .exe maps
    it as a module at another base without running it."""
    import fixturebuild
    res = run_in(app_dir, fixturebuild.build("ldr_loadfail.c", arch))
    assert res.exit_status == 0, (res.error, res.stdout)
    null = "0" * (16 if arch == "x64" else 8)
    assert res.stdout.decode().replace("\r\n", "\n").splitlines() == [
        f"locked: {null} 32", f"empty datafile: {null} 1006", "datafile: 1", "free bad datafile handle: 0 193",
        "free datafile: 1", "exe as module: 1 other_base=1 same_again=1", "free exe module: 1"]
