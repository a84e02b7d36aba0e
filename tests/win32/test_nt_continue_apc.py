"""ntdll behaviours Wine's ntdll/exception.c and ntdll/wow64.c check, each in a small program of its own.

tests/fixtures/src/nt_continue_apc.c (x64 and x86; the x64 output is what wine64 prints for the same program):
- NtCallbackReturn outside a kernel-to-user callback is STATUS_NO_CALLBACK_ACTIVE (test_user_callback);
- NtContinue(context, TestAlert=TRUE) runs the user APCs queued to the thread, then resumes the context
  (test_user_apc): the program resumes once, with both APCs run;
- x86 RtlCaptureContext captures its caller's frame as the caller's return would leave it (Eip = [ebp+4],
  Ebp = [ebp], Esp = ebp+8; ContextFlags CONTROL|INTEGER|SEGMENTS) — test_thread_context's expectations and
  test_user_apc's thunk: the context resumes main right after capture() returned, so the "flags" line after
  that call is printed twice, once on the way in and once when NtContinue resumes it;
- the loader's unload event trace (RtlGetUnloadEventTrace/Ex, test_unload_trace): a DLL loaded and freed is in
  the ring with its base and size; the ring has RTL_UNLOAD_EVENT_TRACE_NUMBER (64) elements.

tests/fixtures/src/wow64_above4g.c (x86 only; a WoW64 process, the facts of ntdll/wow64.c test_nt_wow64 and
test_init_block as they pass on Windows 10): NtWow64AllocateVirtualMemory64 at 0x9876543210 reserves at the
64 KB boundary below it, above 4 GB, where NtWow64Write/ReadVirtualMemory64 reach; a second reservation inside
it is STATUS_CONFLICTING_ADDRESSES, an unallocated address STATUS_PARTIAL_COPY; ZeroBits 0x3fffffff keeps the
allocation below 1 GB; the 32-bit view still ends at its own limit (VirtualQuery above it: ERROR_INVALID_PARAMETER);
LdrSystemDllInitBlock is Windows 10 2004's 0xF0-byte PS_SYSTEM_DLL_INIT_BLOCK whose Wow64SharedInformation
holds the 32-bit ntdll's entry points and the block's own address.
"""
from __future__ import annotations

import pytest

from winhatch import runner

COMMON = """callback return: c0000258
resumed: pass=2 apc=11
loaded: 1
trace: size ok=1 count=64 same=1
msxml3 unloaded: base=1 size=1
found=1
"""
EXPECTED = {
    "x64": COMMON,
    "x86": COMMON.replace("resumed:", "flags: 00010007\nflags: 00010007\nresumed:"),
}

WOW64 = """alloc above 4 GB: 00000000 ptr=9876540000 size=6000
write: 00000000 done=6
read: 00000000 done=6 [above]
again inside it: c0000018
read unallocated: 8000000d done=0
zero bits: 00000000 below 1 GB=1
VirtualQuery(0x80000000)=0 err=87
init block size=f0
LdrInitializeThunk=1 KiUserExceptionDispatcher=1 KiUserApcDispatcher=1 RtlUserThreadStart=1 block=1
"""


def test_ntcontinue_testalert_callback_capture_unload_trace(arch, build_fixture, tmp_path):
    exe = build_fixture("nt_continue_apc.c", arch)
    res = runner.run(exe, [], max_instructions=200_000_000)
    assert res.error is None, res.error
    assert res.stdout.decode().replace("\r\n", "\n") == EXPECTED[arch]
    assert res.exit_status == 0


def test_wow64_address_space_above_4gb_and_init_block(build_fixture):
    exe = build_fixture("wow64_above4g.c", "x86")
    res = runner.run(exe, [], max_instructions=200_000_000)
    assert res.error is None, res.error
    assert res.stdout.decode().replace("\r\n", "\n") == WOW64
    assert res.exit_status == 0


def test_32bit_view_of_a_wow64_address_space():
    """A WoW64 process's address space with an allocation above 4 GB: allocations without a base never land
    there, the free region after the 32-bit allocations ends at the 32-bit limit (VirtualQuery's walk), between
    that limit and 4 GB is no user space, and above 4 GB the allocation is found."""
    from winhatch.kernel.mm.aspace import AddressSpace
    from winhatch.kernel.mm.constants import USER_END_X86
    from winhatch.ntstatus import NtStatusError

    class Backend:            # the CPU side of the mappings: nothing to do for this test
        def __getattr__(self, name):
            return lambda *a, **k: None

    aspace = AddressSpace(Backend(), "x86", large_address_aware=False)
    base, size = aspace.allocate(0x9876543210, 0x1000, 0x2000, 0x04)       # MEM_RESERVE
    assert (base, size) == (0x9876540000, 0x5000)
    free = aspace.query(0x10000)
    assert free.State == 0x10000 and free.BaseAddress + free.RegionSize == USER_END_X86
    b2, _ = aspace.allocate(None, 0x10000, 0x2000, 0x04, top_down=True)
    assert USER_END_X86 - 0x10000 <= b2 < USER_END_X86
    with pytest.raises(NtStatusError):
        aspace.query(USER_END_X86 + 0x10000)
    with pytest.raises(NtStatusError):
        aspace.allocate(0xC0000000, 0x1000, 0x2000, 0x04)
    above = aspace.query(0x9876541000)
    assert above.AllocationBase == 0x9876540000 and above.State == 0x2000


HW_BREAKPOINT = """set: 1
read back: dr0 ok=1 dr7=1
result=13 hits=1 steps=1
dr0 in handler ok=1
again: result=16 hits=1
after: dr7=0
"""


def test_hardware_execution_breakpoint(arch, build_fixture):
    """tests/fixtures/src/hw_breakpoint.c: Dr0/Dr7 set with SetThreadContext arm an execution breakpoint; it fires
    once before the function runs (STATUS_SINGLE_STEP, Dr6.B0, the registers in the handler's CONTEXT); the
    handler's Dr7 = 0 disarms it; the TF step it asks for traps with Dr6.BS. wine64 prints the same except
    steps=0 (its single-step CONTEXT lacks Dr6.BS); Windows sets BS (ntdll/exception.c bpx_handler: "BS flag is
    not set in Dr6")."""
    exe = build_fixture("hw_breakpoint.c", arch)
    res = runner.run(exe, [], max_instructions=200_000_000)
    assert res.error is None, res.error
    assert res.stdout.decode().replace("\r\n", "\n") == HW_BREAKPOINT
    assert res.exit_status == 0


DEBUG_INFO = """create: 00000000
set, wrong length: c0000004 len=4
set: 00000000 len=0
convert idle: c0000001 code=cccccccc pid=dddddddd tid=dddddddd
image information, one byte more: c0000004
debug flags of a DEBUG_PROCESS debuggee: 00000000 1
"""


def test_debug_object_and_process_information_details(arch, build_fixture, tmp_path):
    """tests/fixtures/src/nt_debug_info.c (x64 output identical under wine64; the facts of ntdll/info.c
    test_debug_object, test_query_process_image_info, test_query_process_debug_flags): NtSetInformationDebugObject
    writes ReturnLength only for a wrong length; DbgUiConvertStateChangeStructure of DbgIdle is
    STATUS_UNSUCCESSFUL with the client id copied; ProcessImageInformation wants its exact length; a DEBUG_PROCESS
    debuggee's ProcessDebugFlags is 1 (NoDebugInherit clear)."""
    import shutil
    exe = tmp_path / "nt_debug_info.exe"
    shutil.copy2(build_fixture("nt_debug_info.c", arch), exe)
    res = runner.run(exe, [], max_instructions=200_000_000)
    assert res.error is None, res.error
    assert res.stdout.decode().replace("\r\n", "\n") == DEBUG_INFO


STATUS_DETAILS = """directory: 00000000
empty: 8000001a context=deadbeef size ok=1 cleared=1
duplicate of a bad handle: c0000008 handle={null}
thread token to a bad pointer: c0000005
alert of an exited thread: 00000000
read into NULL: 0 err=998
"""


def test_status_details_of_om_sync_threadpool(arch, build_fixture):
    """tests/fixtures/src/nt_status_details.c (x64 output identical under wine64; the facts of ntdll/om.c
    test_query_directory and test_token, sync.c test_tid_alert, threadpool.c test_tp_io): the end of an object
    directory reports one cleared empty entry and its size; a failed NtDuplicateObject leaves NULL; NtOpenThreadToken
    probes its output first; an exited thread with an open handle can still be alerted by id; ReadFile into a NULL
    buffer fails at once with ERROR_NOACCESS."""
    exe = build_fixture("nt_status_details.c", arch)
    res = runner.run(exe, [], max_instructions=200_000_000)
    assert res.error is None, res.error
    null = "0000000000000000" if arch == "x64" else "00000000"
    assert res.stdout.decode().replace("\r\n", "\n") == STATUS_DETAILS.format(null=null)
