"""winhatch.Session: per-run instrumentation hooks and guest access (tests/fixtures/src/hook_demo.c).

hook_demo prints, without hooks (both architectures, as under wine64 for x64):
    ticks=<GetTickCount>  lasterror=1234  strlen=5  open=failed error=2  secret=<3*(argc+4)+1>
    buffer=abcd at <g_buffer>  sum=394  [veh saw 0xe0000001 / after raise] [thread=42]  done   (exit code 7)
"""
from __future__ import annotations

import pytest

import winhatch
from winhatch.session import DBG_TERMINATE_PROCESS

STATUS_ACCESS_DENIED = 0xC0000022


@pytest.fixture
def demo(build_fixture, arch, tmp_path):
    """The fixture program copied to a folder of its own (its directory is the guest's C:\\app)."""
    exe = tmp_path / "hook_demo.exe"
    exe.write_bytes(build_fixture("hook_demo.c", arch).read_bytes())
    return exe


def lines(result) -> list[str]:
    return result.stdout.decode().splitlines()


def test_unhooked_run_is_the_program(demo):
    r = winhatch.Session(demo).run()
    out = lines(r)
    assert out[1:5] == ["lasterror=1234", "strlen=5", "open=failed error=2", "secret=16"]
    assert r.exit_status == 7 and r.outcome == "exited"


def test_api_after_changes_result_and_native_exports_trap(demo):
    s = winhatch.Session(demo)
    seen = []
    s.hook_api("kernel32!GetTickCount", after=lambda call: setattr(call, "result", 1234))

    def last_error(call):          # GetLastError is machine code in winhatch's kernel32 unless hooked
        seen.append(call.result)
        call.result = 77
    s.hook_api("KERNEL32.DLL!GetLastError", after=last_error)
    out = lines(s.run())
    assert out[0] == "ticks=1234"
    assert out[1] == "lasterror=77"
    assert out[3] == "open=failed error=77"
    assert seen[:2] == [1234, 2]       # the real values the handler returned


def test_two_sessions_do_not_share_hooks(demo):
    s1 = winhatch.Session(demo)
    s1.hook_api("kernel32!GetTickCount", after=lambda call: setattr(call, "result", 1234))
    s2 = winhatch.Session(demo)
    assert lines(s1.run())[0] == "ticks=1234"
    ticks = lines(s2.run())[0]
    assert ticks.startswith("ticks=") and ticks != "ticks=1234"
    assert lines(winhatch.run(str(demo)))[1] == "lasterror=1234"


def test_before_rewrites_string_argument_str_and_address(demo):
    s = winhatch.Session(demo)
    seen = {}

    def as_str(call):
        seen["orig"] = call.args["lpFileName"]
        seen["read"] = s.read_string(call.raw["lpFileName"])
        call.args["lpFileName"] = "hook_demo.exe"
    h = s.hook_api("kernel32!CreateFileA", before=as_str)
    out = lines(s.run())
    assert out[3] == "open=ok error=0"
    assert seen["orig"] == seen["read"] == "missing.txt"
    h.remove()

    # an int: a guest address holding the name (written into the program's exported buffer's tail)
    s = winhatch.Session(demo)

    def as_addr(call):
        addr = s.address("hook_demo.exe!g_buffer") + 32
        s.write(addr, b"hook_demo.exe\0")
        call.args["lpFileName"] = addr
    s.hook_api("kernel32!CreateFileA", before=as_addr)
    assert lines(s.run())[3] == "open=ok error=0"


def test_register_argument_seen_in_before(demo):
    s = winhatch.Session(demo)
    regs = {}

    def before(call):
        regs["raw"] = call.raw["lpFileName"]
        regs["rcx" if s.process.arch == "x64" else "stack"] = (
            s.reg("rcx") if s.process.arch == "x64"
            else int.from_bytes(s.read(call.regs.esp + 4, 4), "little"))
        regs["sp"] = (call.regs.sp, s.reg("sp"))
    s.hook_api("kernel32!CreateFileA", before=before)
    s.run()
    assert regs["raw"] == regs.get("rcx", regs.get("stack"))
    assert regs["sp"][0] == regs["sp"][1] and int.from_bytes(s.read(regs["sp"][0], 4), "little") != 0


def test_skip_cleans_the_stack_as_the_prototype_says(demo):
    """stdcall CreateFileA (7 arguments, 28 bytes popped on x86) skipped: the program continues normally."""
    s = winhatch.Session(demo)
    ran = []

    def skip(call):
        call.skip(-1)                      # INVALID_HANDLE_VALUE
        call.set_last_error(5)
    s.hook_api("kernel32!CreateFileA", before=skip)
    s.hook_service("NtCreateFile", before=lambda call: ran.append(call))
    r = s.run()
    out = lines(r)
    assert out[3] == "open=failed error=5"
    assert out[-1] == "done" and r.exit_status == 7
    assert ran == []                    # the handler (and so its NtCreateFile) did not run


def test_wildcard_and_filter_targets(demo):
    s = winhatch.Session(demo)
    names = []
    s.hook_api("*!strlen", before=lambda call: names.append(call.api))
    s.hook_api(lambda dll, name: name == "GetTickCount", after=lambda call: setattr(call, "result", 5))
    out = lines(s.run())
    assert out[0] == "ticks=5"
    assert any(n.endswith("!strlen") for n in names)


def test_service_hooks_change_and_skip_status(demo):
    s = winhatch.Session(demo)
    seen = []

    def after(call):
        seen.append((call.name, call.status, call.kind, call.caller))
        call.status = STATUS_ACCESS_DENIED
    s.hook_service("NtCreateFile", after=after)
    assert lines(s.run())[3] == "open=failed error=5"
    assert seen[0][:3] == ("NtCreateFile", 0xC0000034, "api")        # STATUS_OBJECT_NAME_NOT_FOUND
    assert seen[0][3].endswith("!CreateFileA")

    s = winhatch.Session(demo)
    from winhatch.kernel.ke.services import BY_NAME
    s.hook_service(BY_NAME["NtCreateFile"].number, before=lambda call: call.skip(STATUS_ACCESS_DENIED))
    assert lines(s.run())[3] == "open=failed error=5"
    with pytest.raises(ValueError):
        s.hook_service("NtNoSuchService")


def test_address_hook_changes_registers(demo):
    s = winhatch.Session(demo)
    hits = []

    def at_secret(event):
        hits.append(event.address)
        if event.process.arch == "x64":
            event.regs.rcx = 10                                   # secret(10)
        else:
            s.write(event.regs.esp + 4, (10).to_bytes(4, "little"))
    s.hook_address("hook_demo.exe!secret", at_secret)
    out = lines(s.run())
    assert out[4] == "secret=31"
    assert len(hits) == 1 and hits[0] == s.address("hook_demo.exe!secret")
    mod = next(m for m in s.modules() if m["name"].lower() == "hook_demo.exe")
    assert mod["base"] <= hits[0] < mod["base"] + mod["size"]


def test_code_range_hook_sees_only_its_range(demo):
    s = winhatch.Session(demo)
    seen = []

    def on_image(event):
        if event.name.lower() == "hook_demo.exe" and not seen:
            begin = s.address("hook_demo.exe!secret", event.process)
            seen.append(("range", begin))
            s.hook_code(begin, begin + 0x40, fn=lambda e: seen.append(e.address))
    s.on_image(on_image)
    s.run()
    begin = seen[0][1]
    addrs = seen[1:]
    assert begin in addrs            # secret ran (the range also covers the functions after it)
    assert all(begin <= a < begin + 0x40 for a in addrs)


def test_whole_module_code_hook(demo):
    s = winhatch.Session(demo, args=[])
    count = [0]
    s.hook_code("hook_demo.exe", fn=lambda e: count.__setitem__(0, count[0] + 1))
    r = s.run()
    assert r.exit_status == 7 and count[0] > 100


def test_memory_write_hook(demo):
    s = winhatch.Session(demo)
    writes = []

    def on_image(event):
        if event.name.lower() == "hook_demo.exe":
            a = s.address("hook_demo.exe!g_buffer", event.process)
            s.hook_memory(a, a + 4, lambda e: writes.append((e.address - a, e.value, e.size)), access="write")
    s.on_image(on_image)
    r = s.run()
    assert writes == [(0, ord("a"), 1), (1, ord("b"), 1), (2, ord("c"), 1), (3, ord("d"), 1)]
    assert lines(r)[5].startswith("buffer=abcd")

    s = winhatch.Session(demo)
    reads = []

    def on_image2(event):
        if event.name.lower() == "hook_demo.exe":
            a = s.address("hook_demo.exe!g_buffer", event.process)
            s.hook_memory(a, a + 4, lambda e: reads.append((e.access, e.address - a, e.size)), access="read")
    s.on_image(on_image2)
    r = s.run()
    # printf("%.4s") reads the bytes first (msvcrt's string functions are machine code: guest reads), then the
    # program's own loop reads each byte once
    assert reads[-4:] == [("read", i, 1) for i in range(4)]
    assert all(acc == "read" and 0 <= off < 4 for acc, off, _ in reads)
    assert lines(r)[6] == "sum=%d" % sum(b"abcd")
    with pytest.raises(ValueError):
        s.hook_memory(0, 1, lambda e: None, access="bogus")


def test_exceptions_first_and_second_chance(demo):
    s = winhatch.Session(demo, args=["crash"])
    seen, pcs = [], []

    def on_exception(e):
        seen.append((e.code, e.first_chance, e.access, e.fault_address, e.record["parameters"]))
        if e.first_chance:                 # the thread stands at the faulting instruction
            pcs.append(e.regs.pc == e.address)
        pc_module = [m for m in s.modules() if m["base"] <= e.address < m["base"] + m["size"]]
        assert pc_module and pc_module[0]["name"].lower() == "hook_demo.exe"
    s.hook_exception(on_exception)
    r = s.run()
    assert r.outcome == "crashed" and r.exit_status == 0xC0000005
    assert seen == [(0xC0000005, True, "write", 16, [1, 16]), (0xC0000005, False, "write", 16, [1, 16])]
    assert pcs == [True]


def test_exception_handled_at_first_chance(demo):
    s = winhatch.Session(demo, args=["raise"])
    seen = []

    def handle(event):
        seen.append(hex(event.code))
        if event.code == 0xE0000001:
            event.handle()             # the guest's vectored handler does not run
    s.hook_exception(handle)
    out = lines(s.run())
    assert "0xe0000001" in seen
    assert "after raise" in out and not any(x.startswith("veh saw") for x in out)
    # without the hook the program's handler runs
    assert "veh saw 0xe0000001" in lines(winhatch.Session(demo, args=["raise"]).run())


def test_stop_from_a_hook(demo):
    s = winhatch.Session(demo)
    s.hook_address("hook_demo.exe!secret", lambda e: s.stop("found it"))
    r = s.run()
    assert r.outcome == "stopped" and r.error == "found it"
    assert r.exit_status == DBG_TERMINATE_PROCESS
    with pytest.raises(RuntimeError):
        winhatch.Session(demo).stop()


def test_remove_before_and_during_the_run(demo):
    s = winhatch.Session(demo)
    h = s.hook_api("kernel32!GetTickCount", after=lambda call: setattr(call, "result", 1))
    h.remove()
    h.remove()
    calls = []

    def once(call):                    # removes itself at its first call: the next GetLastError is real
        calls.append(call.result)
        call.result = 77
        me.remove()
    me = s.hook_api("kernel32!GetLastError", after=once)
    out = lines(s.run())
    assert not out[0].endswith("=1")
    assert out[1] == "lasterror=77" and out[3] == "open=failed error=2"
    assert calls == [1234] and s.hooks == []


def test_process_thread_image_events_and_listings(demo):
    s = winhatch.Session(demo, args=["thread"])
    events = []
    s.on_process(lambda e: events.append(("process", e.created, e.pid)))
    s.on_thread(lambda e: events.append(("thread", e.created, e.tid)))
    s.on_image(lambda e: events.append(("image", e.name.lower(), e.base)))
    snap = {}

    def at_secret(e):
        snap["threads"] = [t["tid"] for t in s.threads()]
        snap["handles"] = s.handles()
        snap["memory"] = s.memory()
        snap["processes"] = s.processes()
    s.hook_address("hook_demo.exe!secret", at_secret)
    r = s.run()
    assert "thread=42" in lines(r)
    pid = r.process.pid
    assert events[0] == ("process", True, pid) and events[-1] == ("process", False, pid)
    created = [e[2] for e in events if e[0] == "thread" and e[1]]
    ended = [e[2] for e in events if e[0] == "thread" and not e[1]]
    assert len(created) == 2 and sorted(created) == sorted(ended)
    images = {e[1]: e[2] for e in events if e[0] == "image"}
    assert {"hook_demo.exe", "ntdll.dll", "kernel32.dll", "msvcrt.dll"} <= set(images)
    mods = {m["name"].lower(): m for m in s.modules()}
    assert mods["hook_demo.exe"]["base"] == images["hook_demo.exe"]
    assert mods["kernel32.dll"]["path"].lower().endswith("\\kernel32.dll")
    assert snap["threads"] == [created[0]]
    assert [p["pid"] for p in snap["processes"]] == [pid]
    types = {h["type"] for h in snap["handles"]}
    assert "File" in types and all(h["value"] % 4 == 0 for h in snap["handles"])
    assert any(r_.type == "Image" and (r_.module or "").lower() == "hook_demo.exe" for r_ in snap["memory"])
    assert any(r_.type == "Stack" for r_ in snap["memory"])
    # after the run: the memory is still readable
    assert s.read(mods["hook_demo.exe"]["base"], 2) == b"MZ"


def test_process_veto(demo):
    """A process-creation callback refuses the program itself: CreateProcess fails with the status."""
    s = winhatch.Session(demo)
    s.on_process(lambda e: e.veto(STATUS_ACCESS_DENIED) if e.created else None)
    r = s.run()
    assert r.process is None and "CreateProcess failed" in (r.error or "")


def test_bad_targets_are_clear_errors(demo):
    s = winhatch.Session(demo)
    with pytest.raises(ValueError):
        s.hook_api("GetTickCount")
    with pytest.raises(ValueError, match="implements no"):
        s.hook_api("kernel32!GetTickCnt")
    with pytest.raises(ValueError):
        s.hook_service(0xFFFFF)


def test_a_blocking_call_runs_its_before_hooks_once(demo):
    """WaitForSingleObject on the worker thread blocks, and is served again when the thread ends: the API's
    and the service's `before` callbacks run once, their `after` once, with the final result."""
    s = winhatch.Session(demo, args=["thread"])
    api, svc = [], []
    s.hook_api("kernel32!WaitForSingleObject", before=lambda c: api.append(c.args["dwMilliseconds"]),
               after=lambda c: api.append(("ret", c.result)))
    s.hook_service("NtWaitForSingleObject", before=lambda c: svc.append("before"),
                   after=lambda c: svc.append(("after", c.status)))
    assert "thread=42" in lines(s.run())
    assert api == [0xFFFFFFFF, ("ret", 0)]
    assert svc == ["before", ("after", 0)]


def test_hooks_added_and_removed_from_callbacks_during_the_run(demo):
    """From a code hook (inside the CPU's run): a memory hook added, the code hook removing itself; from an API
    hook (served inside the trap): another API hook added.  Each fires exactly as often as it should."""
    s = winhatch.Session(demo)
    hits, writes = [], []

    def at_secret(event):
        hits.append(event.address)
        a = s.address("hook_demo.exe!g_buffer")
        s.hook_memory(a, a + 4, lambda e: writes.append(e.value), access="write")
        me.remove()
    me = s.hook_address("hook_demo.exe!secret", at_secret)

    def add_one(call):
        s.hook_api("kernel32!GetLastError", after=lambda c: setattr(c, "result", 99))
    s.hook_api("kernel32!CreateFileA", before=add_one)
    out = lines(s.run())
    assert out[3] == "open=failed error=99" and out[4] == "secret=16"
    assert len(hits) == 1
    assert writes == [ord(ch) for ch in "abcd"]


def test_a_code_hook_that_adds_a_hook_fires_once_per_execution(demo):
    """Adding a hook ends the CPU's run before the hooked instruction executes; when the thread resumes there,
    the hooks that already ran for it do not run again."""
    s = winhatch.Session(demo)
    hits, extra = [], []

    def at_secret(event):
        hits.append(event.address)
        if len(hits) == 1:
            s.hook_code(event.address + 1, event.address + 2, fn=lambda e: extra.append(e.address))
    s.hook_address("hook_demo.exe!secret", at_secret)
    out = lines(s.run())
    assert out[4] == "secret=16"
    assert len(hits) == 1


def test_a_session_runs_again_with_its_hooks(demo):
    s = winhatch.Session(demo)
    s.hook_api("kernel32!GetTickCount", after=lambda call: setattr(call, "result", 3))
    first = s.run()
    second = s.run()
    assert first is not second and first.machine is not second.machine
    assert lines(first)[0] == lines(second)[0] == "ticks=3"


def test_the_machine_registry_without_a_session(demo):
    """What another tool (a debugger stub, a snapshotter) uses: machine.hooks with explicit ranges."""
    from winhatch.kernel.hooks import HookEntry
    from winhatch.pe import PEFile
    rva = next(e.rva for e in PEFile.open(str(demo)).exports.functions if e.name == "secret")
    hits = []

    def on_image(name, pid, info):
        if info.image_name.lower() == "hook_demo.exe":
            machine = state["machine"]
            a = info.image_base + rva
            machine.hooks.add(HookEntry(machine.hooks, "code", [(a, a)],
                                        fn=lambda proc, address, size: hits.append(address)))
    state = {}
    r = winhatch.run(str(demo), setup_machine=lambda m: state.update(machine=m), notify={"image": on_image})
    assert r.exit_status == 7 and len(hits) == 1


def test_code_hook_returns_from_the_function_by_writing_pc(demo):
    """At secret's first instruction: return 100 to its caller without running it (pc, sp, eax/rax)."""
    from winhatch.pe import PEFile
    rva = next(e.rva for e in PEFile.open(str(demo)).exports.functions if e.name == "secret")
    s = winhatch.Session(demo)
    hits = []

    def ret100(event):
        regs = event.regs
        hits.append(event.address)
        ptr = event.process.cpu.ptr_size
        regs.pc = int.from_bytes(s.read(regs.sp, ptr), "little")      # the return address
        regs.sp = regs.sp + ptr                                          # cdecl: the caller pops its argument
        regs["rax" if ptr == 8 else "eax"] = 100
    s.hook_address(f"hook_demo.exe+{rva:#x}", ret100)
    r = s.run()
    out = lines(r)
    assert out[4] == "secret=100" and out[-1] == "done" and r.exit_status == 7
    assert hits == [s.address("hook_demo.exe!secret")]


def test_a_callback_that_raises_ends_the_run(demo):
    class Boom(Exception):
        pass

    def boom(call):
        raise Boom("from the hook")
    s = winhatch.Session(demo)
    s.hook_api("kernel32!GetTickCount", after=boom)
    with pytest.raises(Boom):
        s.run()
    s = winhatch.Session(demo)
    s.hook_address("hook_demo.exe!secret", boom)
    with pytest.raises(Boom):
        s.run()


def test_integer_arguments_are_written_back(demo):
    """CreateFileA's dwCreationDisposition changed from OPEN_EXISTING (3) to CREATE_ALWAYS (2): the file is
    created (a DWORD argument: on x64 in a register or on the stack, on x86 a stack slot). The run writes the
    host folder (writable=True) so the created file is seen there."""
    s = winhatch.Session(demo, writable=True)
    seen = []

    def before(call):
        seen.append(call.args["dwCreationDisposition"])
        call.args["dwCreationDisposition"] = 2
    s.hook_api("kernel32!CreateFileA", before=before)
    where = []

    def after(call):    # the caller's argument slot (the fifth argument) holds the new value
        sp = call.regs.sp
        slot = sp + 0x28 if call.process.arch == "x64" else sp + 4 + 4 * 4
        where.append(int.from_bytes(s.read(slot, 4), "little"))
    s.hook_api("kernel32!CreateFileA", after=after)
    out = lines(s.run())
    assert seen == [3] and out[3] == "open=ok error=0"
    assert where == [2]
    assert (demo.parent / "missing.txt").exists()
