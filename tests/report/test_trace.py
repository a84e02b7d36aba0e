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
    assert re.search(rf"map KERNEL32\.dll from C:\\Windows\\{sysdir}\\KERNEL32\.dll at (its preferred base|0x)",
                     text)
    # every import of hello.exe from msvcrt.dll is shown with its hint outcome
    snaps = re.findall(r"import hello\.exe ← msvcrt\.dll!(\S+) (hint \d+ (?:hit|miss)[^\n]*)", text)
    assert len(snaps) >= 20
    for sym, how in snaps:
        assert "hit" in how or re.search(r"miss, \d+ binary-search steps", how), (sym, how)
    assert re.search(r"forwarder KERNEL32\.dll!\w+ → NTDLL\.Rtl\w+", text)
    assert re.search(r"import KERNEL32\.dll ← ntdll\.dll!Rtl\w+", text)  # the forwarder's target resolved
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
    call.data["ret"] = 0x12345678
    p(Event(2, "stage", "Other", 5, 6, 0, 0.002, {}))  # not an api event: flushes, is not printed
    out = buf.getvalue()
    assert "kernel32.dll!GetTickCount() → 0x12345678" in out and "Other" not in out
    p(Event(3, "api", "call", 5, 6, 0, 0.003, {"api": "k!Last", "args": {"x": 1}}))
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
