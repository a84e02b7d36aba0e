"""`winhatch run --trace stages|loader|api|all`: the timeline on stderr."""
import io
import re

from report_helpers import cli

from winhatch.kernel.events import Event
from winhatch.report.trace import TracePrinter, categories_for, describe


def _lines(r):
    return r.stderr.decode("utf-8", "replace").splitlines()


def _bodies(r):
    """Each line without its time/pid prefix and indentation."""
    out = []
    for line in _lines(r):
        m = re.match(r"\s*\d+\.\d{3}ms\s+\d+\.\dµs \S+\s+(.*)$", line)
        out.append(m.group(1).strip() if m else line.strip())
    return out


def _first(bodies, prefix):
    return next((i for i, b in enumerate(bodies) if b.startswith(prefix)), -1)


def test_trace_stages_in_order(build_fixture, arch):
    exe = build_fixture("hello.c", arch)
    r = cli("run", "--trace", "stages", exe)
    assert r.returncode == 42
    assert r.stdout.startswith(b"Hello from winhatch! argc=1")  # the guest's stdout is untouched
    text = "\n".join(_lines(r))
    bodies = _bodies(r)
    order = ["CreateProcessInternalW", "NtCreateUserProcess", "PspAllocateProcess", "MmCreatePeb",
             "PspInsertProcess", "PspCreateThread", "CsrCreateProcess", "NtResumeThread", "LdrInitializeThunk",
             "RtlUserThreadStart", "process_exit"]
    pos = [_first(bodies, n) for n in order]
    assert all(p >= 0 for p in pos), dict(zip(order, pos))
    assert pos == sorted(pos)
    assert "LdrpSnapThunk" not in text and "import " not in text  # loader detail is not part of "stages"
    # a header names the columns; then each line: host ms, emulated µs, pid
    lines = [ln for ln in _lines(r) if ln.strip()]
    assert lines[0].split() == ["host", "ms", "emulated", "pid/tid", "event"]
    assert all(re.match(r"\s*\d+\.\d{3}ms\s+\d+\.\dµs \d+", line) for line in lines[1:])


def test_trace_loader_explains_every_import(build_fixture, arch):
    exe = build_fixture("hello.c", arch)
    r = cli("run", "--trace", "loader", exe)
    assert r.returncode == 42
    text = "\n".join(_lines(r))
    sysdir = "System32" if arch == "x64" else "SysWOW64"
    # ntdll's LdrpInitializeProcess maps KERNEL32.DLL itself (named as Windows 10's file), then what it imports
    assert re.search(rf"map KERNEL32\.DLL from C:\\Windows\\{sysdir}\\KERNEL32\.DLL at (its preferred base|0x)",
                     text)
    assert re.search(rf"map KERNELBASE\.dll from C:\\Windows\\{sysdir}\\KERNELBASE\.dll at (its preferred base|0x)"
                     r"[^\n]*needed by KERNEL32\.DLL", text)
    # every import of hello.exe from msvcrt.dll is shown with its hint outcome
    snaps = re.findall(r"import hello\.exe ← msvcrt\.dll!(\S+) (hint \d+ (?:hit|miss)[^\n]*)", text)
    assert len(snaps) >= 20
    for sym, how in snaps:
        assert "hit" in how or re.search(r"miss, \d+ binary-search steps", how), (sym, how)
    assert re.search(r"forwarder KERNEL32\.DLL!\w+ → NTDLL\.Rtl\w+", text)
    assert re.search(r"import KERNEL32\.DLL ← ntdll\.dll!Rtl\w+", text)  # the forwarder's target resolved
    # DllMain and TLS callbacks, in the order they ran
    bodies = _bodies(r)
    attach = _first(bodies, "DllMain msvcrt.dll(DLL_PROCESS_ATTACH)")
    tls = _first(bodies, "TLS callback hello.exe")
    start = _first(bodies, "RtlUserThreadStart")
    detach = _first(bodies, "DllMain msvcrt.dll(DLL_PROCESS_DETACH)")
    assert 0 <= attach < tls < start < detach


def test_trace_api_shows_calls_with_callers(build_fixture, arch):
    exe = build_fixture("hello.c", arch)
    r = cli("run", "--trace", "api", exe)
    assert r.returncode == 42
    calls = [line for line in _lines(r) if "!" in line]
    assert len(calls) > 10
    # arguments, the return value (0: success) and the caller as module+offset
    assert any(re.search(r"msvcrt\.dll!__getmainargs\(.*\) → 0\s+from hello\.exe\+0x[0-9a-f]+", c) for c in calls)
    assert not any("LdrpSnapThunk" in c or "CreateProcessInternalW" in c for c in calls)


def test_printer_holds_api_calls_until_the_next_event_and_shows_ret():
    buf = io.StringIO()
    p = TracePrinter(buf, categories_for(["api"]), colour=False)
    call = Event(1, "api", "call", 5, 6, 0, 0.001, {"api": "kernel32.dll!GetTickCount", "args": {},
                                                    "caller": "a.exe+0x10"})
    p(call)
    assert buf.getvalue() == ""  # held: the handler may still record its return value
    p(Event(2, "stage", "Other", 5, 6, 0, 0.002, {}))  # not shown: what the call did inside; still held
    assert buf.getvalue() == ""
    call.data["ret"] = 0x12345678                      # the handler returned
    p(Event(3, "api", "call", 5, 6, 0, 0.003, {"api": "k!Last", "args": {"x": 1}}))   # the next shown event
    out = buf.getvalue()
    assert "kernel32.dll!GetTickCount() → 0x12345678" in out and "Other" not in out
    p.flush()
    assert "k!Last(x=1)" in buf.getvalue()


def test_categories_and_descriptions():
    assert categories_for(["all"]) is None
    assert categories_for(["api", "stages"]) == {"api", "stage", "process", "thread"}
    try:
        categories_for(["bogus"])
    except ValueError as e:
        assert "bogus" in str(e)
    else:
        raise AssertionError("unknown trace accepted")
    ev = Event(1, "loader", "LdrpMapDll", 1, 1, 0, 0.0, {"module": "b.dll", "path": "C:\\app\\b.dll",
                                                          "base": "0x20000000", "preferred": "0x10000000",
                                                          "relocated": True, "importer": "a.exe"})
    assert "relocated" in describe(ev) and "0x10000000" in describe(ev)
    ev = Event(1, "loader", "ApiSetResolve", 1, 1, 0, 0.0, {"name": "api-ms-win-core-synch-l1-2-0.dll",
                                                             "host": "kernelbase.dll"})
    assert "api-ms-win-core-synch-l1-2-0.dll → [bold]kernelbase.dll" in describe(ev)


# -- trace habits: flag names, strings as printed, per-character output folded -------------------------------
def test_trace_names_flags_quotes_strings_and_folds_characters(build_fixture, arch):
    exe = build_fixture("trace_habits.c", arch)
    r = cli("run", "--trace", "api", exe)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.replace(b"\r\n", b"\n").startswith(b"hello world\n")
    bodies = _bodies(r)
    [fold] = [b for b in bodies if "putchar" in b]     # twelve calls from one place: one line
    assert re.fullmatch(r'msvcrt\.dll!putchar × 12 → "hello world\\n"  from trace_habits\.exe\+0x[0-9a-f]+', fold), fold
    [cf] = [b for b in bodies if "!CreateFileA(" in b]
    assert re.search(r'lpFileName="C:\\Users\\[^\\"]+\\AppData\\Local\\Temp\\trace "habits"\.txt"', cf), cf
    assert ("dwDesiredAccess=GENERIC_READ|GENERIC_WRITE, dwShareMode=FILE_SHARE_READ, lpSecurityAttributes=0, "
            "dwCreationDisposition=CREATE_ALWAYS, dwFlagsAndAttributes=FILE_ATTRIBUTE_NORMAL") in cf, cf
    [va] = [b for b in bodies if "!VirtualAlloc(" in b]
    assert "flAllocationType=MEM_COMMIT|MEM_RESERVE, flProtect=PAGE_EXECUTE_READWRITE) → 0x" in va, va
    [vp] = [b for b in bodies if "!VirtualProtect(" in b]
    assert "flNewProtect=PAGE_READONLY|PAGE_GUARD" in vp and ") → 1" in vp, vp
    [env] = [b for b in bodies if "!SetEnvironmentVariableA(" in b]
    assert 'lpName="TRACE_TEXT", lpValue="tab\\there\\r\\n") → 1' in env, env


def _api(seq, api, caller, **data):
    return Event(seq, "api", "call", 5, 6, 0, seq / 1000, dict({"api": api, "caller": caller}, **data))


def test_printer_folds_runs_of_one_character_writes():
    buf = io.StringIO()
    p = TracePrinter(buf, categories_for(["api"]), colour=False)
    for i, ch in enumerate("ok!"):     # WriteConsoleW of one character: the text the call wrote
        p(_api(i, "kernel32.dll!WriteConsoleW", "a.exe+0x20", args={"nNumberOfCharsToWrite": 1}, text=ch))
        p(Event(100 + i, "syscall", "call", 5, 6, 0, 0.0, {}))     # not shown: does not end the run
    p(_api(10, "msvcrt.dll!putchar", "a.exe+0x30", args={"ch": 0x41}, ret=0x41))   # another API: ends it
    p(_api(11, "msvcrt.dll!putchar", "a.exe+0x34", args={"ch": 0x42}, ret=0x42))   # another caller: no run
    p(_api(12, "msvcrt.dll!putwchar", "a.exe+0x40", args={"ch": 0x20AC}, ret=0x20AC))
    p(_api(13, "msvcrt.dll!putwchar", "a.exe+0x40", args={"ch": 0x0A}, ret=0x0A))
    p.flush()
    lines = [ln.split("  ", 1)[1].strip() if "  " in ln else ln for ln in buf.getvalue().splitlines()[1:]]
    text = "\n".join(lines)
    assert 'kernel32.dll!WriteConsoleW × 3 → "ok!"  from a.exe+0x20' in text
    assert "msvcrt.dll!putchar(ch=65) → 65  from a.exe+0x30" in text
    assert "msvcrt.dll!putchar(ch=66) → 66  from a.exe+0x34" in text
    assert 'msvcrt.dll!putwchar × 2 → "€\\n"  from a.exe+0x40' in text
    assert len(buf.getvalue().splitlines()) == 1 + 4      # the header and four lines


def test_flag_families():
    from winhatch.win32.flagnames import annotate, flag_text
    assert annotate("VirtualAllocEx", "flProtect", 0x40) == "PAGE_EXECUTE_READWRITE"
    assert annotate("VirtualFree", "dwFreeType", 0x8000) == "MEM_RELEASE"
    assert annotate("CreateFileW", "dwCreationDisposition", 9) == "0x9"          # not a disposition: the value
    assert annotate("OpenProcess", "dwDesiredAccess", 0x1FFFFF) == "STANDARD_RIGHTS_REQUIRED|SYNCHRONIZE|0xffff"
    assert annotate("HeapAlloc", "dwFlags", 8) == "HEAP_ZERO_MEMORY"
    assert annotate("GetModuleHandleExA", "dwFlags", 8) is None                  # a family only where it is one
    assert annotate("SetFileAttributesW", "dwFileAttributes", 0x22) == "FILE_ATTRIBUTE_HIDDEN|FILE_ATTRIBUTE_ARCHIVE"
    assert flag_text("file_attributes", 0xFFFFFFFF) == "INVALID_FILE_ATTRIBUTES"
    assert flag_text("share", 0) == "0"
