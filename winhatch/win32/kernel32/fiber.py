"""kernel32 / kernelbase: fibers and fiber-local storage, and ntdll's Rtl FLS functions.

A fiber is a block of the process heap laid out as Windows's FIBER: FiberData (the parameter: GetFiberData()
is *(PVOID *)GetCurrentFiber()), ExceptionList, StackBase, StackLimit, DeallocationStack, the CONTEXT of the
fiber while it is not running (x64 at +0x30, x86 at +0x14), then Wx86Tib, ActivationContextStackPointer,
FlsData, GuaranteedStackBytes and TebFlags. The running fiber is TEB.NtTib.FiberData and TEB.SameTebFlags'
HasFiberData bit says the thread is a fiber (IsThreadAFiber, ConvertThreadToFiber's ERROR_ALREADY_FIBER).

SwitchToFiber saves the caller's registers as they are when SwitchToFiber returns, with the TEB's stack
fields, exception list and FlsData, into the current fiber, and loads the target's. A new fiber (CreateFiber(Ex):
its own stack reserved and committed as a thread's, with the image's sizes by default) starts in
the fiber routine with its parameter, returning to ntdll's WhFiberReturn: a fiber routine that returns ends
the thread with exit code 1, as on Windows (Wine's fiber start does the same). DeleteFiber of another fiber releases its stack and runs its FLS callbacks
(RtlProcessFlsData); deleting the running fiber ends the thread. Each fiber starts with no FLS data
(TEB.FlsData NULL): FLS values are per fiber (winhatch.ldr.fls).
"""
from __future__ import annotations

from winhatch.kernel.ke.context import X64_CONTEXT_SIZE, X86_CONTEXT_SIZE, context_from_guest, context_to_guest
from winhatch.kernel.structs import PEB, TEB
from winhatch.ldr import fls as F
from winhatch.ldr import ntdll
from winhatch.ntstatus import NtStatusError, nt_to_win32
from winhatch.win32.api import api

K32 = ("kernel32.dll", "kernelbase.dll")
NT = "ntdll.dll"
ERROR_INVALID_PARAMETER = 87
ERROR_NO_MORE_ITEMS = 259
ERROR_ALREADY_FIBER = 1280
ERROR_ALREADY_THREAD = 1281
FLS_OUT_OF_INDEXES = 0xFFFFFFFF
HAS_FIBER_DATA = 0x4            # TEB.SameTebFlags bit 2
MEM_RELEASE = 0x8000


def _layout(c) -> dict:
    ps = c.ptr_size
    ctx = 0x30 if ps == 8 else 0x14
    after = ctx + (X64_CONTEXT_SIZE if ps == 8 else X86_CONTEXT_SIZE)
    after = (after + ps - 1) & ~(ps - 1)
    return {"FiberData": 0, "ExceptionList": ps, "StackBase": 2 * ps, "StackLimit": 3 * ps,
            "DeallocationStack": 4 * ps, "Context": ctx, "Wx86Tib": after, "ActivationContextStackPointer": after + ps,
            "FlsData": after + 2 * ps, "GuaranteedStackBytes": after + 3 * ps, "TebFlags": after + 3 * ps + 4,
            "size": after + 3 * ps + 8}


def _teb(c, field: str) -> int:
    return c.thread.teb + TEB.offset(c.arch, field)


def _is_fiber(c) -> bool:
    return bool(c.read(_teb(c, "SameTebFlags"), 2)[0] & HAS_FIBER_DATA)


def _set_fiber_flag(c, on: bool) -> None:
    at = _teb(c, "SameTebFlags")
    v = int.from_bytes(c.read(at, 2), "little")
    v = v | HAS_FIBER_DATA if on else v & ~HAS_FIBER_DATA
    c.write(at, v.to_bytes(2, "little"))


def _stacks(c) -> dict:
    """fiber address -> the kernel's record of its stack (ThreadStack), for the fibers not running."""
    return c.proc.subsystem.setdefault("fiber_stacks", {})


def _use_stack(c, st) -> None:
    """The thread now runs on `st`: the kernel's stack record and its host view follow (guard-page growth,
    API scratch)."""
    t = c.thread
    t.stack = st
    sh = c.proc.aspace.host_memory(st.reserve_base)
    t.stack_host = (sh[0], sh[1] - st.reserve_base, st.reserve_base, st.base) if sh is not None else None


def _save_teb(c, fiber: int, lay: dict) -> None:
    c.write_ptr(fiber + lay["ExceptionList"], c.ptr(_teb(c, "NtTib.ExceptionList")))
    c.write_ptr(fiber + lay["StackBase"], c.ptr(_teb(c, "NtTib.StackBase")))
    c.write_ptr(fiber + lay["StackLimit"], c.ptr(_teb(c, "NtTib.StackLimit")))
    c.write_ptr(fiber + lay["DeallocationStack"], c.ptr(_teb(c, "DeallocationStack")))
    c.write_ptr(fiber + lay["FlsData"], c.ptr(_teb(c, "FlsData")))
    c.write_ptr(fiber + lay["ActivationContextStackPointer"], c.ptr(_teb(c, "ActivationContextStackPointer")))
    c.write_u32(fiber + lay["GuaranteedStackBytes"], c.u32(_teb(c, "GuaranteedStackBytes")))


def _load_teb(c, fiber: int, lay: dict) -> None:
    c.write_ptr(_teb(c, "NtTib.ExceptionList"), c.ptr(fiber + lay["ExceptionList"]))
    c.write_ptr(_teb(c, "NtTib.StackBase"), c.ptr(fiber + lay["StackBase"]))
    c.write_ptr(_teb(c, "NtTib.StackLimit"), c.ptr(fiber + lay["StackLimit"]))
    c.write_ptr(_teb(c, "DeallocationStack"), c.ptr(fiber + lay["DeallocationStack"]))
    c.write_ptr(_teb(c, "FlsData"), c.ptr(fiber + lay["FlsData"]))
    c.write_ptr(_teb(c, "ActivationContextStackPointer"), c.ptr(fiber + lay["ActivationContextStackPointer"]))
    c.write_u32(_teb(c, "GuaranteedStackBytes"), c.u32(fiber + lay["GuaranteedStackBytes"]))
    c.write_ptr(_teb(c, "NtTib.FiberData"), fiber)


# ------------------------------------------------------------------------------------------ fibers
@api(K32, "LPVOID WINAPI ConvertThreadToFiberEx(LPVOID lpParameter, DWORD dwFlags)")
def ConvertThreadToFiberEx(c, param, flags):
    from winhatch.win32.kernel32.common import heap_alloc
    if _is_fiber(c):
        c.set_last_error(ERROR_ALREADY_FIBER)
        return 0
    lay = _layout(c)
    fiber = heap_alloc(c, lay["size"], 0x8)
    if not fiber:
        c.set_last_error(8)
        return 0
    c.write_ptr(fiber, param)
    c.write_u32(fiber + lay["TebFlags"], flags)
    _save_teb(c, fiber, lay)
    c.write_ptr(_teb(c, "NtTib.FiberData"), fiber)
    _set_fiber_flag(c, True)
    c.proc.subsystem.setdefault("thread_fibers", {})[c.thread.tid] = fiber
    return fiber


@api(K32, "LPVOID WINAPI ConvertThreadToFiber(LPVOID lpParameter)")
def ConvertThreadToFiber(c, param):
    return ConvertThreadToFiberEx(c, param, 0)


@api(K32, "BOOL WINAPI ConvertFiberToThread(void)")
def ConvertFiberToThread(c):
    from winhatch.win32.kernel32.common import heap_free
    if not _is_fiber(c):
        c.set_last_error(ERROR_ALREADY_THREAD)
        return 0
    fiber = c.ptr(_teb(c, "NtTib.FiberData"))
    _set_fiber_flag(c, False)
    c.write_ptr(_teb(c, "NtTib.FiberData"), 0)
    c.proc.subsystem.setdefault("thread_fibers", {}).pop(c.thread.tid, None)
    if fiber:
        heap_free(c, fiber)
    return 1


@api(K32, "LPVOID WINAPI CreateFiberEx(SIZE_T dwStackCommitSize, SIZE_T dwStackReserveSize, DWORD dwFlags, "
          "LPFIBER_START_ROUTINE lpStartAddress, LPVOID lpParameter)")
def CreateFiberEx(c, commit, reserve, flags, start, param):
    from winhatch.win32.kernel32.common import heap_alloc
    lay = _layout(c)
    pe = getattr(c.proc.image_section, "pe", None)
    if pe is not None:
        reserve = reserve or pe.size_of_stack_reserve
        commit = commit or pe.size_of_stack_commit
    reserve = max(reserve or 0x100000, 0x10000)
    commit = max(commit or 0x1000, 0x1000)
    if commit > reserve:
        reserve = (commit + 0xFFFFF) & ~0xFFFFF
    fiber = heap_alloc(c, lay["size"], 0x8)
    if not fiber:
        c.set_last_error(8)
        return 0
    try:
        st = c.machine.create_user_stack(c.thread, reserve, commit)
    except NtStatusError as e:      # no room or no commit left: the documented failure
        from winhatch.win32.kernel32.common import heap_free
        heap_free(c, fiber)
        c.set_last_nt_error(e.status)
        return 0
    c.write_ptr(fiber, param)
    c.write_ptr(fiber + lay["ExceptionList"], 0xFFFFFFFF if c.ptr_size == 4 else 0)
    c.write_ptr(fiber + lay["StackBase"], st.base)
    c.write_ptr(fiber + lay["StackLimit"], st.limit)
    c.write_ptr(fiber + lay["DeallocationStack"], st.reserve_base)
    c.write_u32(fiber + lay["TebFlags"], flags)
    # the first switch enters lpStartAddress(lpParameter) at the top of the new stack, returning to
    # ntdll's WhFiberReturn (the thread ends with code 1, as kernel32's fiber start ends it)
    ctx = c.cpu.save_context()
    ret = c.machine.ntdll_export(c.proc, "WhFiberReturn")
    top = (st.base - 0x100) & ~0xF
    if c.cpu.is64:
        for r in ("rax", "rbx", "rdx", "rsi", "rdi", "rbp", "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15"):
            ctx.set(r, 0)
        sp = top - 0x20 - 8             # home space, then the return address: rsp % 16 == 8 at entry
        c.write_ptr(sp, ret)
        ctx.set("rsp", sp)
        ctx.set("rip", start)
        ctx.set("rcx", param)
        ctx.set("rflags", 0x202)
    else:
        for r in ("eax", "ebx", "ecx", "edx", "esi", "edi", "ebp"):
            ctx.set(r, 0)
        sp = top - 8
        c.write_ptr(sp + 4, param)
        c.write_ptr(sp, ret)
        ctx.set("esp", sp)
        ctx.set("eip", start)
        ctx.set("eflags", 0x202)
    c.write(fiber + lay["Context"], context_to_guest(ctx))
    _stacks(c)[fiber] = st
    return fiber


@api(K32, "LPVOID WINAPI CreateFiber(SIZE_T dwStackSize, LPFIBER_START_ROUTINE lpStartAddress, LPVOID lpParameter)")
def CreateFiber(c, size, start, param):
    return CreateFiberEx(c, size, 0, 0, start, param)


@api(K32, "void WINAPI SwitchToFiber(LPVOID lpFiber)", calls_guest=True)
def SwitchToFiber(c, target):
    from winhatch.win32.ntdll.seh import caller_context
    lay = _layout(c)
    cur = c.ptr(_teb(c, "NtTib.FiberData"))
    ctx = caller_context(c)
    if cur == target:
        c.cpu.restore_context(ctx)
        return
    if cur:
        c.write(cur + lay["Context"], context_to_guest(ctx))
        _save_teb(c, cur, lay)
        _stacks(c)[cur] = c.thread.stack
    size = X64_CONTEXT_SIZE if c.cpu.is64 else X86_CONTEXT_SIZE
    new = context_from_guest(c.read(target + lay["Context"], size), ctx)
    _load_teb(c, target, lay)
    st = _stacks(c).pop(target, None)
    if st is not None:
        _use_stack(c, st)
    c.cpu.restore_context(new)


@api(K32, "void WINAPI DeleteFiber(LPVOID lpFiber)", calls_guest=True)
def DeleteFiber(c, fiber):
    from winhatch.win32.kernel32.common import heap_free
    if not fiber:
        return
    if fiber == c.ptr(_teb(c, "NtTib.FiberData")):
        ntdll.RtlExitUserThread(c.machine, c.thread, 1)
        return
    lay = _layout(c)
    st = _stacks(c).pop(fiber, None)
    if st is not None:
        base = c.stack_alloc(2 * c.ptr_size)
        c.write_ptr(base, st.reserve_base)
        c.write_ptr(base + c.ptr_size, 0)
        c.nt("NtFreeVirtualMemory", (1 << (8 * c.ptr_size)) - 1, base, base + c.ptr_size, MEM_RELEASE)
    data = c.ptr(fiber + lay["FlsData"])
    if data:
        F.state(c.proc).process(c.machine, c.thread, data, 3)
    heap_free(c, fiber)


@api(K32, "BOOL WINAPI IsThreadAFiber(void)")
def IsThreadAFiber(c):
    return int(_is_fiber(c))


# ------------------------------------------------------------------------------------------ FLS (ntdll)
@api(NT, "NTSTATUS NTAPI RtlFlsAlloc(PFLS_CALLBACK_FUNCTION Callback, PULONG Index)")
def RtlFlsAlloc(c, cb, out):
    index = F.state(c.proc).alloc(cb)
    if index is None:
        return F.STATUS_NO_MEMORY
    c.write_u32(out, index)
    return 0


@api(NT, "NTSTATUS NTAPI RtlFlsFree(ULONG Index)", calls_guest=True)
def RtlFlsFree(c, index):
    return F.state(c.proc).free(c.machine, c.thread, index)


@api(NT, "NTSTATUS NTAPI RtlFlsSetValue(ULONG Index, PVOID Data)")
def RtlFlsSetValue(c, index, value):
    return F.state(c.proc).set_value(c.thread, index, value)


@api(NT, "NTSTATUS NTAPI RtlFlsGetValue(ULONG Index, PVOID *Data)")
def RtlFlsGetValue(c, index, out):
    st, value = F.state(c.proc).get_value(c.thread, index)
    if not st:
        c.write_ptr(out, value)
    return st


@api(NT, "void NTAPI RtlProcessFlsData(PVOID FlsData, ULONG Flags)", calls_guest=True)
def RtlProcessFlsData(c, data, flags):
    F.state(c.proc).process(c.machine, c.thread, data, flags)


# ------------------------------------------------------------------------------------------ FLS (kernel32)
@api(K32, "DWORD WINAPI FlsAlloc(PFLS_CALLBACK_FUNCTION lpCallback)")
def FlsAlloc(c, cb):
    index = F.state(c.proc).alloc(cb)
    if index is None:
        c.set_last_error(ERROR_NO_MORE_ITEMS)
        return FLS_OUT_OF_INDEXES
    return index


@api(K32, "PVOID WINAPI FlsGetValue(DWORD dwFlsIndex)")
def FlsGetValue(c, i):
    st, value = F.state(c.proc).get_value(c.thread, i)
    if st:
        c.set_last_error(nt_to_win32(st))
        return 0
    c.set_last_error(0)
    return value


@api(K32, "BOOL WINAPI FlsSetValue(DWORD dwFlsIndex, PVOID lpFlsData)")
def FlsSetValue(c, i, v):
    st = F.state(c.proc).set_value(c.thread, i, v)
    if st:
        c.set_last_error(nt_to_win32(st))
        return 0
    return 1


@api(K32, "BOOL WINAPI FlsFree(DWORD dwFlsIndex)", calls_guest=True)
def FlsFree(c, i):
    st = F.state(c.proc).free(c.machine, c.thread, i)
    if st:
        c.set_last_error(nt_to_win32(st))
        return 0
    return 1


# ------------------------------------------------------------------------------------------ the PEB lock
@api(NT, "void NTAPI RtlAcquirePebLock(void)")
def RtlAcquirePebLock(c):
    """EnterCriticalSection(PEB.FastPebLock); the critical section is created at the first use."""
    from winhatch.win32.kernel32 import sync
    from winhatch.win32.kernel32.common import heap_alloc
    at = c.proc.peb + PEB.offset(c.arch, "FastPebLock")
    cs = c.ptr(at)
    if not cs:
        cs = heap_alloc(c, 40 if c.ptr_size == 8 else 24, 0x8)
        sync.InitializeCriticalSection(c, cs)
        c.write_ptr(at, cs)
    sync.EnterCriticalSection(c, cs)


@api(NT, "void NTAPI RtlReleasePebLock(void)")
def RtlReleasePebLock(c):
    from winhatch.win32.kernel32 import sync
    cs = c.ptr(c.proc.peb + PEB.offset(c.arch, "FastPebLock"))
    if cs:
        sync.LeaveCriticalSection(c, cs)
