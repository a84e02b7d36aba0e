"""The user stack grows through its guard page as on Windows, and guard-page faults are precise.

`create_user_stack` reserves the stack, commits the top and puts one PAGE_GUARD page below; a touch of the
guard page (MiCheckForUserStackOverflow) commits it, moves the guard one page down and lowers the TEB's
StackLimit; when no page is left for a new guard page the thread gets STATUS_STACK_OVERFLOW.

stack_guard.c touches the guard page right after an API call — by the implicit push of a `call`, by a
`push`, and by MSVC's __chkstk / _chkstk probe loop — after register updates that must happen exactly once.
Its expected output is what the instructions compute on a CPU (see the fixture's comments). The x64
`chkstk guard` line is cli-64.exe's first __chkstk: one probe whose target is the guard page itself; with an
imprecise fault the loop's `lea r11,[r11-0x1000]` ran twice, r11 stepped past r10 and the probe walked down
to STATUS_STACK_OVERFLOW. Wine cannot record this output, because Wine commits the main thread's whole stack and puts StackLimit at
the bottom of the reserve, so "the page below StackLimit" is not a guard page there.
"""
import struct

from winhatch import runner
from winhatch.kernel.mm import MEM_COMMIT, MEM_RESERVE, PAGE_GUARD, PAGE_READWRITE
from winhatch.ntstatus import STATUS_STACK_OVERFLOW

PAGE = 0x1000
GUARD_EXPECTED = b"chkstk guard ok\r\ncall 2\r\npush 0x1111\r\nchkstk 0x8000 ok\r\nchkstk 0x20000 ok\r\n"


def _stack_layout(res):
    """(thread stack, TEB StackLimit, MEMORY_BASIC_INFORMATION of the limit page, of the page below, of the
    page below that) of the main thread after the run."""
    proc = res.process
    t = proc.threads[0]
    st = t.stack
    off = 0x10 if proc.arch == "x64" else 0x8
    fmt = "<Q" if proc.arch == "x64" else "<I"
    teb_limit = struct.unpack(fmt, proc.aspace.read(t.teb + off, struct.calcsize(fmt)))[0]
    q = proc.aspace.query
    return st, teb_limit, q(st.limit), q(st.limit - PAGE), q(st.limit - 2 * PAGE)


def _assert_windows_layout(res):
    st, teb_limit, at, guard, below = _stack_layout(res)
    assert teb_limit == st.limit
    assert (at.State, at.Protect) == (MEM_COMMIT, PAGE_READWRITE)
    assert (guard.State, guard.Protect) == (MEM_COMMIT, PAGE_READWRITE | PAGE_GUARD)
    assert guard.BaseAddress == st.limit - PAGE and guard.RegionSize == PAGE
    assert below.State == MEM_RESERVE and below.AllocationBase == st.reserve_base
    return st


def test_guard_page_touches_are_precise(build_fixture, arch):
    exe = build_fixture("stack_guard.c", arch)
    res = runner.run(exe, [], timeout=120)
    assert res.error is None and res.crash is None, (res.error, res.crash)
    assert res.stdout == GUARD_EXPECTED
    assert res.exit_status == 0
    st = _assert_windows_layout(res)
    # the probes committed the stack page by page, well below the initial commit (> 0x20000 bytes)
    assert st.base - st.limit > 0x20000


def test_deep_recursion_grows_the_stack(build_fixture, arch):
    exe = build_fixture("stack_deep.c", arch)
    res = runner.run(exe, ["500"], timeout=300)
    assert res.error is None and res.crash is None, (res.error, res.crash)
    # sum over n=500..1 of ((n+250)&0xff) + ((n+750)&0xff), plus (0 & 0xff) at the bottom
    want = sum(((n + 250) & 0xFF) + ((n + 750) & 0xFF) for n in range(1, 501))
    assert res.stdout == f"depth 500 sum {want}\r\n".encode()
    assert res.exit_status == 0
    st = _assert_windows_layout(res)
    assert st.base - st.limit >= 500 * 1000      # ~500 KB committed by the guard page moving down
    assert st.limit - st.reserve_base > PAGE      # and the reserve was not exhausted


def test_stack_overflow_ends_the_process(build_fixture, arch):
    exe = build_fixture("stack_deep.c", arch)
    res = runner.run(exe, ["100000"], timeout=300)      # ~100 MB of frames in a 2 MB reserve
    assert res.error is None
    assert res.stdout == b""
    assert res.exit_status == STATUS_STACK_OVERFLOW
    assert res.crash is not None and res.crash["code"] == STATUS_STACK_OVERFLOW
    assert res.crash["where"].startswith("stack_deep.exe+")
    st = res.process.threads[0].stack
    # the whole reserve but its last pages was committed before the overflow was raised
    assert st.limit - st.reserve_base <= 2 * PAGE
    assert st.base - st.reserve_base == st.reserve
