"""winhatch's compiled user-mode code (winhatch/win32/native_src → tools/build_native.py →
winhatch/win32/data/native.json, placed by winhatch.win32.sysdlls): the committed build matches its sources,
the exports are machine code behind the API-trace gate, and programs print the same natively and traced."""
from __future__ import annotations

import importlib.util
import json
import shutil
import sys
from pathlib import Path

import capstone
import pytest

from winhatch import runner
from winhatch.kernel.structs.kuser import KUSER_API_TRACE, KUSER_SHARED_DATA_ADDRESS
from winhatch.pe import PEFile
from winhatch.win32 import native, sysdlls

ROOT = Path(__file__).resolve().parents[2]
FLAG = KUSER_SHARED_DATA_ADDRESS + KUSER_API_TRACE


def _load(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules.setdefault(name, mod)
    spec.loader.exec_module(mod)
    return sys.modules[name]


build_native = _load("build_native", ROOT / "tools" / "build_native.py")
record_expected = _load("record_expected", ROOT / "tools" / "record_expected.py")


def test_committed_build_matches_its_sources():
    """An edit of native_src without running tools/build_native.py fails here (no compiler needed)."""
    committed = json.loads(native.BLOB_PATH.read_text())
    assert committed["source_sha256"] == build_native.source_hash()


@pytest.mark.skipif(not all(shutil.which(c) for c in build_native.CC.values()), reason="mingw-w64 not installed")
def test_rebuild_gives_the_committed_bytes():
    committed = json.loads(native.BLOB_PATH.read_text())
    for arch in build_native.CC:
        if build_native.compiler_version(arch) != committed["compiler"][arch]:
            pytest.skip(f"another compiler ({build_native.compiler_version(arch)}) than the committed build's")
        assert build_native.build(arch) == committed["arches"][arch], arch


def test_build_rejects_imports_and_writable_data(tmp_path, monkeypatch):
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.c").write_text("extern int puts(const char *); int f(void) { return puts(\"x\"); }\n")
    monkeypatch.setattr(build_native, "SRC", src)
    with pytest.raises(build_native.BuildError, match="undefined symbol puts"):
        build_native.build("x64")
    (src / "a.c").write_text("int counter; int f(void) { return ++counter; }\n")
    with pytest.raises(build_native.BuildError, match="not code or constant data|undefined symbol"):
        build_native.build("x86")
    (src / "a.c").write_text("extern int __wh_py_f(int); int f(int x) { return __wh_py_f(x) + 1; }\n")
    with pytest.raises(build_native.BuildError, match="tail jump"):
        build_native.build("x64")


def _disasm(arch: str, dll: str, name: str, n: int = 4):
    path = sysdlls.ensure_installed(arch) / dll
    pe = PEFile.open(str(path))
    exp = next(e for e in pe.exports.functions if e.name == name)
    md = capstone.Cs(capstone.CS_ARCH_X86, capstone.CS_MODE_64 if arch == "x64" else capstone.CS_MODE_32)
    return pe, list(md.disasm(pe.read_rva(exp.rva, 64), pe.image_base + exp.rva, n))


@pytest.mark.parametrize("arch", ["x64", "x86"])
@pytest.mark.parametrize("dll", ["msvcrt.dll", "ucrtbase.dll", "ntdll.dll", "msvcr100.dll"])
def test_string_exports_jump_into_the_native_code(arch, dll):
    pe, ins = _disasm(arch, dll, "strlen")
    assert f"{ins[0].mnemonic} {ins[0].op_str}" == f"test byte ptr [{FLAG:#x}], 1"
    assert ins[1].mnemonic == "jne" and ins[2].mnemonic == "jmp"
    target = int(ins[2].op_str, 16) - pe.image_base
    assert pe.read_rva(target, 16) == bytes.fromhex(native.blob(arch).code.hex())[
        native.blob(arch).symbols["strlen"]:][:16]
    # the gate's jump lands on the framed stub of the same export (the Python handler)
    stub = int(ins[1].op_str, 16)
    assert stub == ins[2].address + ins[2].size


def test_gate_takes_a_near_jump_past_a_long_body():
    assert native.gate("x64", 127)[-2:] == b"\x75\x7f"
    g = native.gate("x86", 300)
    assert g[-6:-4] == b"\x0f\x85" and int.from_bytes(g[-4:], "little") == 300


def test_native_and_traced_string_runs_agree(arch, build_fixture):
    """conf_native_string runs natively, then with API calls recorded (every call reaches its Python handler):
    both print what Wine prints; the native run makes thousands fewer traps."""
    expected = (ROOT / "tests" / "fixtures" / "expected" / f"conf_native_string.{arch}.txt").read_bytes()
    exe = build_fixture("conf_native_string.c", arch, flags=["-D__USE_MINGW_ANSI_STDIO=0", "-fno-builtin"])
    plain = runner.run(exe, max_instructions=200_000_000)
    assert plain.error is None and plain.exit_status == 0
    assert record_expected.expected_bytes(plain.stdout, plain.exit_status) == expected
    traced = runner.run(exe, max_instructions=200_000_000, record=("api",))
    assert traced.stdout == plain.stdout and traced.exit_status == 0
    calls = [e.data["api"] for e in traced.events if e.category == "api" and e.name == "call"]
    for name in ("msvcrt.dll!strlen", "ucrtbase.dll!memmove", "ntdll.dll!wcsstr", "msvcrt.dll!_stricmp"):
        assert name in calls, name
    assert calls.count("msvcrt.dll!strcmp") >= 3000
    assert plain.machine.dispatcher.api_calls < traced.machine.dispatcher.api_calls - 8000


@pytest.mark.parametrize("arch", ["x64", "x86"])
def test_every_blob_export_has_its_handler(arch):
    """The traced path (and the __wh_py_ fallback) of a blob export is its Python handler."""
    from winhatch.kernel.machine import Machine
    from winhatch.win32 import subsystem
    from winhatch.win32.data import load_exports
    m = Machine()
    subsystem.setup(m, arches=(arch,))
    seen = 0
    for dll, info in load_exports(arch).items():
        for _o, name, fwd, is_data in info["exports"]:
            if fwd or is_data or native.blob_symbol(arch, dll, name) is None:
                continue
            seen += 1
            h = m.traps.get(dll, name) or m.traps.unimplemented_factory(dll, name)
            assert h is not None and h.implemented, f"{dll}!{name}"
    assert seen >= 41 * 3


def _both_ways(exe):
    plain = runner.run(exe, max_instructions=500_000_000)
    traced = runner.run(exe, max_instructions=500_000_000, record=("api",))
    assert plain.error is None and plain.exit_status == 0 and traced.exit_status == 0
    assert traced.stdout == plain.stdout
    calls = [e.data["api"] for e in traced.events if e.category == "api" and e.name == "call"]
    return plain, traced, plain.stdout.decode().splitlines(), calls


def test_native_and_traced_ctype_runs_agree(arch, build_fixture):
    """native_ctype: every ctype export over EOF..255 and U+0000..U+012F, natively and traced, in the "C"
    locale and in the user's (where the native code takes the Python path)."""
    exe = build_fixture("native_ctype.c", arch, flags=["-D__USE_MINGW_ANSI_STDIO=0", "-fno-builtin"])
    plain, traced, lines, calls = _both_ways(exe)
    out = {ln.rsplit(" ", 3)[0] if ln.count(" ") >= 3 else ln: ln for ln in lines}
    # 'q' is lower case in every CRT; 0xE9 (é) is a letter only in the user's locale (code page 1252)
    assert out["msvcrt.dll isalpha"].endswith(" 0 258")
    assert out["msvcrt.dll(user locale) isalpha"].endswith(" 258 258")
    assert out["msvcrt.dll(user locale) toupper"].endswith(" 201 81")
    assert out["msvcrt.dll(C again) toupper"].endswith(" 233 81")
    assert "locale set" in lines and lines[-1].startswith("loop ")
    assert calls.count("msvcrt.dll!isalnum") >= 20000 and "ntdll.dll!iswalpha" in calls
    # natively, only the user-locale pass and the wide functions past U+00FF trap
    assert plain.machine.dispatcher.api_calls < traced.machine.dispatcher.api_calls - 40000


def test_ctype_table_is_the_python_reference():
    assert build_native.TABLES.read_text() == build_native.tables_text()


def test_native_and_traced_tls_runs_agree(arch, build_fixture):
    """conf_native_tls: TLS slots (TEB and expansion) in two threads and errno, natively and traced."""
    expected = (ROOT / "tests" / "fixtures" / "expected" / f"conf_native_tls.{arch}.txt").read_bytes()
    exe = build_fixture("conf_native_tls.c", arch, flags=["-D__USE_MINGW_ANSI_STDIO=0"])
    plain, traced, lines, calls = _both_ways(exe)
    assert record_expected.expected_bytes(plain.stdout, plain.exit_status) == expected
    assert calls.count("kernel32.dll!TlsGetValue") >= 50000 and "msvcrt.dll!_errno" in calls
    assert plain.machine.dispatcher.api_calls < 1000


def test_teb_offsets_of_the_native_code():
    from winhatch.kernel.structs import TEB
    import re
    text = (build_native.SRC / "native.h").read_text()
    for macro, field in (("TEB_LAST_ERROR", "LastErrorValue"), ("TEB_TLS_SLOTS", "TlsSlots"),
                         ("TEB_TLS_EXPANSION", "TlsExpansionSlots"), ("TEB_CLIENT_TID", "ClientId.UniqueThread")):
        x64, x86 = (int(v, 16) for v in re.findall(rf"#define {macro} (0x[0-9A-Fa-f]+)", text))   # x64 first
        assert (x64, x86) == (TEB.offset("x64", field), TEB.offset("x86", field)), macro


def test_native_and_traced_slist_runs_agree(arch, build_fixture):
    """conf_native_slist: SList push/pop/flush/depth/chain, and two threads pushing and popping one list."""
    expected = (ROOT / "tests" / "fixtures" / "expected" / f"conf_native_slist.{arch}.txt").read_bytes()
    exe = build_fixture("conf_native_slist.c", arch, flags=["-D__USE_MINGW_ANSI_STDIO=0"])
    plain, traced, lines, calls = _both_ways(exe)
    assert record_expected.expected_bytes(plain.stdout, plain.exit_status) == expected
    assert calls.count("ntdll.dll!RtlInterlockedPushEntrySList") >= 40000
    assert plain.machine.dispatcher.api_calls < 1000


def test_native_and_traced_critical_sections_agree(arch, build_fixture):
    """conf_native_critsec: recursion, TryEnter from another thread, and three threads contending (the waits are
    the Python path; a blocked EnterCriticalSection is re-run from its framed stub, not from the native code)."""
    expected = (ROOT / "tests" / "fixtures" / "expected" / f"conf_native_critsec.{arch}.txt").read_bytes()
    exe = build_fixture("conf_native_critsec.c", arch, flags=["-D__USE_MINGW_ANSI_STDIO=0"])
    plain, traced, lines, calls = _both_ways(exe)
    assert record_expected.expected_bytes(plain.stdout, plain.exit_status) == expected
    assert calls.count("ntdll.dll!RtlEnterCriticalSection") >= 100000
    # the 100000 uncontended Enter/Leave pairs stay in machine code
    assert plain.machine.dispatcher.api_calls < traced.machine.dispatcher.api_calls - 80000


def test_native_and_traced_rtl_basics_agree(arch, build_fixture):
    """conf_native_rtl: RtlMoveMemory/Fill/Zero/Compare and the Init*String functions, natively and traced."""
    expected = (ROOT / "tests" / "fixtures" / "expected" / f"conf_native_rtl.{arch}.txt").read_bytes()
    exe = build_fixture("conf_native_rtl.c", arch, flags=["-D__USE_MINGW_ANSI_STDIO=0"])
    plain, traced, lines, calls = _both_ways(exe)
    assert record_expected.expected_bytes(plain.stdout, plain.exit_status) == expected
    assert calls.count("ntdll.dll!RtlInitUnicodeString") >= 50000
    assert plain.machine.dispatcher.api_calls < 1000


def test_native_and_traced_heaps_agree(arch, build_fixture):
    """conf_heap_stress: churn with realloc and zeroing, HeapWalk/HeapValidate over what is live, double free,
    several segments and large blocks, HeapLock held while four threads allocate, the CRT's malloc family — the
    heap functions in machine code (native_src/heap.c) and their Python handlers (ldr/heap.py) over the same
    structures, natively and traced."""
    expected = (ROOT / "tests" / "fixtures" / "expected" / f"conf_heap_stress.{arch}.txt").read_bytes()
    exe = build_fixture("conf_heap_stress.c", arch, flags=["-O2"])
    plain, traced, lines, calls = _both_ways(exe)
    assert record_expected.expected_bytes(plain.stdout, plain.exit_status) == expected
    n_heap = sum(1 for a in calls if a.endswith(("!RtlAllocateHeap", "!RtlFreeHeap", "!RtlReAllocateHeap",
                                                  "!RtlSizeHeap", "!HeapFree")))
    assert n_heap >= 30000
    # the heap calls stay in machine code: what reaches Python are the new segments, large blocks, the lock
    # waits and the rest of the program
    assert plain.machine.dispatcher.api_calls < 5000


def test_native_and_traced_srw_locks_agree(arch, build_fixture):
    """conf_srw: SRW locks uncontended (machine code) and contended by eight threads (the kernel wait in Python,
    with the waiters bit in the lock word), a condition variable over an SRW lock, InitOnce's done path."""
    expected = (ROOT / "tests" / "fixtures" / "expected" / f"conf_srw.{arch}.txt").read_bytes()
    exe = build_fixture("conf_srw.c", arch, flags=["-O2"])
    plain, traced, lines, calls = _both_ways(exe)
    assert record_expected.expected_bytes(plain.stdout, plain.exit_status) == expected
    assert calls.count("kernelbase.dll!InitOnceExecuteOnce") >= 1000
    assert plain.machine.dispatcher.api_calls < traced.machine.dispatcher.api_calls - 1000


@pytest.mark.parametrize("arch", ["x64", "x86"])
def test_heap_layout_of_the_machine_code_is_the_python_one(arch):
    """heap.c's constants (block header, bins, control block, the Windows fields) are ldr/heap.py's."""
    import re
    from winhatch.ldr import heap
    src = (ROOT / "winhatch" / "win32" / "native_src" / "heap.c").read_text()
    block = src.split("#if defined(__x86_64__)", 1)[1].split("#endif", 1)[0]
    part = block.split("#else")[0 if arch == "x64" else 1]
    d = {m.group(1): int(m.group(2), 0) for m in re.finditer(r"#define (\w+) (0x[0-9A-Fa-f]+|\d+)\b", src + part)}
    lay = heap.layout(arch)
    assert (d["W"], d["HDR"], d["SIG_OFF"], d["FLAGS_OFF"], d["FORCE_OFF"]) == \
        (lay["W"], lay["HDR"], lay["SIG"], lay["FLAGS"], lay["FORCE"])
    assert (d["CTL"], d["SEG_TABLE"], d["MAX_SEGMENTS"], d["NSMALL"], d["NB"], d["SEG_FIRST"], d["LARGE_BLOCK"],
            d["MAGIC"]) == (heap.CTL, heap.SEG_TABLE, heap.MAX_SEGMENTS, heap.NSMALL, heap.NB, heap.SEG_FIRST,
                            heap.LARGE_BLOCK, heap.MAGIC)


def test_process_heap_header_fields(build_fixture, arch):
    """The fields anti-analysis code reads at the process heap's base (Windows 10 offsets): the segment
    signature, Flags = HEAP_GROWABLE, ForceFlags = 0 (no debugger)."""
    exe = build_fixture("hello.c", arch)
    res = runner.run(exe, max_instructions=50_000_000)
    from winhatch.ldr import heap, loader
    proc = res.process
    st = loader.state_of(proc)
    lay = heap.layout(arch)
    base = st.heaps.process_heap.base
    mem = proc.aspace
    assert int.from_bytes(mem.read(base + lay["SIG"], 4), "little") == 0xFFEEFFEE
    assert int.from_bytes(mem.read(base + lay["FLAGS"], 4), "little") == heap.HEAP_GROWABLE
    assert int.from_bytes(mem.read(base + lay["FORCE"], 4), "little") == 0


def test_jit_code_over_code_that_ran(arch, build_fixture):
    """conf_smc (also a conformance fixture): new code stored over code that already ran, through the W^X
    cycle too (VirtualProtect to an executable protection drops the blocks translated there: winhatch.cpu)."""
    expected = (ROOT / "tests" / "fixtures" / "expected" / f"conf_smc.{arch}.txt").read_bytes()
    exe = build_fixture("conf_smc.c", arch, flags=["-fno-builtin"])
    res = runner.run(exe, max_instructions=50_000_000)
    assert record_expected.expected_bytes(res.stdout, res.exit_status) == expected


def test_code_stored_after_a_page_straddling_store(arch, build_fixture):
    """New code over code that ran, after a store straddling two pages: right for a page the executed-after-
    written tracking follows (its first 16 rounds withhold write access once the page ran)."""
    exe = build_fixture("smc_straddle.c", arch)
    res = runner.run(exe, max_instructions=50_000_000)
    assert res.stdout.split() == [b"40", b"41", b"42"]     # as on Windows (wine64 prints the same)


# not strict: whether the old code runs depends on when the engine's TLB is flushed (every 50 ms of host time,
# winhatch.cpu.core.TLB_RESIZE_PERIOD) and on which access filled the page's entry, so some runs print it right
@pytest.mark.xfail(strict=False, reason="engine bug (Unicorn 2.1, virtual TLB mode): a store beside translated code "
                                        "on its page (here one straddling two pages) makes later stores over that "
                                        "code go unseen — past the tracking's 16 rounds (smc_jit_page.c)")
def test_code_stored_after_a_page_straddling_store_past_tracking(arch, build_fixture):
    exe = build_fixture("smc_straddle.c", arch)
    res = runner.run(exe, ["24"], max_instructions=200_000_000)
    assert res.stdout.split() == [str(40 + i).encode() for i in range(24)]


def _jit_table(res, dll: str) -> tuple[int, list[tuple[int, int]]]:
    """The JIT page table in dll's native state (winhatch.kernel.mm.aspace NATIVE_JIT_TABLE)."""
    import struct
    from winhatch.kernel.mm import aspace as A
    from winhatch.ldr import loader
    m = loader.state_of(res.process).by_name[dll]
    sec = next(x for x in m.pe.sections if x.name == native.STATE_SECTION)
    raw = res.process.aspace.read(m.base + sec.virtual_address + A.NATIVE_JIT_TABLE, A.JIT_TABLE_SIZE)
    count = struct.unpack_from("<I", raw)[0]
    runs = [struct.unpack_from("<QQ", raw, 8 + 16 * i) for i in range(min(count, A.JIT_TABLE_RUNS))]
    return count, runs


@pytest.mark.parametrize("how", ["memcpy", "memmove"])
def test_copies_into_a_jit_code_page_past_tracking(arch, build_fixture, how):
    """smc_jit_page: new code copied by msvcrt's memcpy/memmove over code that ran, on a page that also takes
    data stores, for more rounds than the tracking follows a page: the kernel lists the page in the system
    DLLs' JIT page table, and the machine-code copy leaves that destination to its Python handler, whose host
    writes drop the old code (the engine would miss the machine code's stores: see the store case below).
    Windows and wine64 print 40..63."""
    exe = build_fixture("smc_jit_page.c", arch, flags=["-fno-builtin"])
    res = runner.run(exe, ["24", how], max_instructions=200_000_000)
    assert res.stdout.split() == [str(40 + i).encode() for i in range(24)]
    count, runs = _jit_table(res, "msvcrt.dll")
    assert count == 1 and runs[0][1] - runs[0][0] == 0x1000          # the one page that went round
    assert _jit_table(res, "ntdll.dll") == (count, runs)             # every DLL with the machine code has it


@pytest.mark.xfail(strict=False, reason="engine bug (Unicorn 2.1, virtual TLB mode): the program's own stores over "
                                        "translated code go unseen after a store beside it on the page, past the "
                                        "tracking's 16 rounds (timing-dependent: see above)")
def test_stores_into_a_jit_code_page_past_tracking(arch, build_fixture):
    exe = build_fixture("smc_jit_page.c", arch, flags=["-fno-builtin"])
    res = runner.run(exe, ["24", "store"], max_instructions=200_000_000)
    assert res.stdout.split() == [str(40 + i).encode() for i in range(24)]


def test_no_jit_pages_in_a_program_without_a_jit(arch, build_fixture):
    res = runner.run(build_fixture("hello.c", arch), max_instructions=50_000_000)
    assert _jit_table(res, "ntdll.dll") == (0, [])


def test_native_and_traced_memmove_runs_agree(arch, build_fixture):
    """conf_memmove (every overlap direction and distance, lengths around the word size, unaligned ends, copies
    ending at a committed page's end) natively and traced: memcpy/memmove are machine code, the same bytes."""
    expected = (ROOT / "tests" / "fixtures" / "expected" / f"conf_memmove.{arch}.txt").read_bytes()
    exe = build_fixture("conf_memmove.c", arch, flags=["-O2"])
    plain, traced, lines, calls = _both_ways(exe)
    assert record_expected.expected_bytes(plain.stdout, plain.exit_status) == expected
    assert calls.count("msvcrt.dll!memmove") >= 9 * 41 * 48 and calls.count("msvcrt.dll!memcpy") >= 9 * 41 * 48
    assert plain.machine.dispatcher.api_calls < 1000


_STDIO_FAST = ("fgetc", "getc", "_fgetc_nolock", "_getc_nolock", "getchar", "fputc", "putc", "_fputc_nolock",
               "_putc_nolock", "putchar", "fread", "fwrite", "fgets", "fputs")


@pytest.mark.parametrize("src,flags,libs", [
    ("conf_crt_stdio_buf.c", ["-D__USE_MINGW_ANSI_STDIO=0"], None),
    ("conf_crt_stdio_buf_ucrt.c", ["-D__USE_MINGW_ANSI_STDIO=0", "-D__MSVCRT_VERSION__=0xE00", "-DNO_FILE_FIELDS"],
     ["-nodefaultlibs", "-lmingw32", "-lgcc", "-lmingwex", "-lucrt", "-lkernel32"]),
], ids=["msvcrt", "ucrtbase"])
def test_native_and_traced_stdio_runs_agree(arch, build_fixture, src, flags, libs):
    """conf_crt_stdio_buf(_ucrt): the FILE's buffer and fields live in guest memory; getc/putc/fread/fwrite/
    fgets/fputs run as machine code over them while the buffer has data or room (native_src/stdio.c), and
    the Python handlers refill, write out, seek and translate text over the same fields.  Natively and traced
    (every call reaching its Python handler) the program prints what Wine prints; the plain run keeps the
    calls the buffer serves out of Python."""
    expected = (ROOT / "tests" / "fixtures" / "expected" / f"{Path(src).stem}.{arch}.txt").read_bytes()
    exe = build_fixture(src, arch, flags=flags, libs=libs)
    plain, traced, lines, calls = _both_ways(exe)
    assert record_expected.expected_bytes(plain.stdout, plain.exit_status) == expected
    n_io = sum(1 for a in calls if a.split("!")[-1] in _STDIO_FAST)
    assert n_io >= 10000
    # what still traps: refills and writes of a full buffer, the console, positioning, printf, the rest
    assert plain.machine.dispatcher.api_calls < traced.machine.dispatcher.api_calls - 0.9 * n_io
