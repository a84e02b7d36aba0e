"""Structured exception handling APIs: raising, vectored handlers, the unhandled-exception filter, contexts,
unwinding and the x64 function tables. The machinery is winhatch/win32/ntdll/exceptions.py; APIs that call guest
code (RtlUnwind(Ex), UnhandledExceptionFilter, RtlRestoreContext with a consolidation callback, …) run as
its coroutines and return to their caller when done.
"""
from __future__ import annotations

import struct

from winhatch.kernel.ke.dispatcher import ExceptionInfo
from winhatch.kernel.structs import EXCEPTION_RECORD
from winhatch.win32.ntdll import exceptions as X
from winhatch.win32.ntdll.exceptions import Coroutine, GuestCall, Mem
from winhatch.win32.api import api

K32 = ("kernel32.dll", "kernelbase.dll")
M64 = 0xFFFFFFFFFFFFFFFF


# ------------------------------------------------------------------------------------------ helpers
def caller_context(c):
    """The caller's registers as they will be after this API returns (pc = return address, stack popped)."""
    cpu = c.cpu
    ctx = cpu.save_context()
    sp = cpu.sp
    ret = cpu.read_ptr(sp)
    if cpu.is64:
        ctx.regs["rip"], ctx.regs["rsp"] = ret, sp + 8
    else:
        slots = 0 if c.spec.cdecl else len(c.spec.params)
        ctx.regs["eip"], ctx.regs["esp"] = ret, sp + 4 + 4 * slots
    return ctx


def run_api_coroutine(c, gen_fn, kind: str = "api"):
    """Run gen_fn(co, entry_ctx) as a coroutine; its return value (int or Context) ends the API."""
    entry = caller_context(c)
    co = Coroutine(c.thread, None, kind, (c.cpu.sp - 0x100) & ~0xF, resume_ctx=entry.copy())

    def wrapper():
        result = yield from gen_fn(co, entry)
        if isinstance(result, X.Context):
            return result
        ctx = entry.copy()
        if result is not None:
            ctx.regs["rax" if c.cpu.is64 else "eax"] = result & (M64 if c.cpu.is64 else 0xFFFFFFFF)
        return ctx

    co.gen = wrapper()
    X.start(c.thread, co)


def _raise(c, rec: dict, ctx, description: str = ""):
    info = ExceptionInfo(rec["ExceptionCode"], rec["ExceptionAddress"], None, None, description,
                         tuple(rec["ExceptionInformation"]))
    info.flags = rec["ExceptionFlags"]
    info.record_chain = rec.get("ExceptionRecord", 0)
    info.context = ctx
    c.machine.dispatcher.raise_exception(c.thread, info)


# ------------------------------------------------------------------------------------------ raising
@api(K32, "void WINAPI RaiseException(DWORD dwExceptionCode, DWORD dwExceptionFlags, DWORD nNumberOfArguments, "
          "const ULONG_PTR *lpArguments)")
def RaiseException(c, code, flags, nargs, args):
    params = []
    if nargs and args:
        n = min(nargs, 15)  # EXCEPTION_MAXIMUM_PARAMETERS
        params = [c.ptr(args + i * c.ptr_size) for i in range(n)]
    va = c.cpu.pc
    rec = X.build_record(code, flags & X.EXCEPTION_NONCONTINUABLE, va, params)
    _raise(c, rec, caller_context(c), "RaiseException")


@api("ntdll.dll", "void NTAPI RtlRaiseException(PEXCEPTION_RECORD ExceptionRecord)")
def RtlRaiseException(c, rec_addr):
    mem = Mem(c.proc)
    try:
        rec = X.read_record(mem, rec_addr, c.arch)
        readable = True
    except X.ExceptionError:
        rec = X.build_record(0xC0000005, X.EXCEPTION_NONCONTINUABLE, c.cpu.pc, (0, rec_addr))
        readable = False
    ctx = caller_context(c)
    rec["ExceptionAddress"] = ctx.pc
    if readable:
        # RtlRaiseException stores the caller's return address in the caller's own record before it raises
        # (ntdll/exception.c run_rtlraiseexception_test: the record reads it after the handler continued)
        at = rec_addr + EXCEPTION_RECORD.offset(c.arch, "ExceptionAddress")
        if c.proc.aspace.accessible(at, c.ptr_size, True):
            c.write_ptr(at, ctx.pc)
    _raise(c, rec, ctx, "RtlRaiseException")


# ------------------------------------------------------------------------------------------ vectored handlers
def _add_vectored(c, first, handler, lst):
    from winhatch.ldr import loader
    h = loader.state_of(c.proc).heaps.process_heap.alloc(16)
    entry = (h, handler)
    if first:
        lst.insert(0, entry)
    else:
        lst.append(entry)
    return h


def _remove_vectored(lst, h):
    for i, (eh, _fn) in enumerate(lst):
        if eh == h:
            del lst[i]
            return 1
    return 0


@api(("ntdll.dll",), "PVOID NTAPI RtlAddVectoredExceptionHandler(ULONG First, PVECTORED_EXCEPTION_HANDLER Handler)")
def RtlAddVectoredExceptionHandler(c, first, handler):
    return _add_vectored(c, first, handler, X.state_of(c.proc).vectored)


@api(K32, "PVOID WINAPI AddVectoredExceptionHandler(ULONG First, PVECTORED_EXCEPTION_HANDLER Handler)")
def AddVectoredExceptionHandler(c, first, handler):
    return _add_vectored(c, first, handler, X.state_of(c.proc).vectored)


@api(("ntdll.dll",), "ULONG NTAPI RtlRemoveVectoredExceptionHandler(PVOID Handle)")
def RtlRemoveVectoredExceptionHandler(c, h):
    return _remove_vectored(X.state_of(c.proc).vectored, h)


@api(K32, "ULONG WINAPI RemoveVectoredExceptionHandler(PVOID Handle)")
def RemoveVectoredExceptionHandler(c, h):
    return _remove_vectored(X.state_of(c.proc).vectored, h)


@api(("ntdll.dll",), "PVOID NTAPI RtlAddVectoredContinueHandler(ULONG First, PVECTORED_EXCEPTION_HANDLER Handler)")
def RtlAddVectoredContinueHandler(c, first, handler):
    return _add_vectored(c, first, handler, X.state_of(c.proc).continue_handlers)


@api(K32, "PVOID WINAPI AddVectoredContinueHandler(ULONG First, PVECTORED_EXCEPTION_HANDLER Handler)")
def AddVectoredContinueHandler(c, first, handler):
    return _add_vectored(c, first, handler, X.state_of(c.proc).continue_handlers)


@api(("ntdll.dll",), "ULONG NTAPI RtlRemoveVectoredContinueHandler(PVOID Handle)")
def RtlRemoveVectoredContinueHandler(c, h):
    return _remove_vectored(X.state_of(c.proc).continue_handlers, h)


@api(K32, "ULONG WINAPI RemoveVectoredContinueHandler(PVOID Handle)")
def RemoveVectoredContinueHandler(c, h):
    return _remove_vectored(X.state_of(c.proc).continue_handlers, h)


# ------------------------------------------------------------------------------------------ unhandled filter
@api(K32, "LPTOP_LEVEL_EXCEPTION_FILTER WINAPI SetUnhandledExceptionFilter(LPTOP_LEVEL_EXCEPTION_FILTER f)")
def SetUnhandledExceptionFilter(c, f):
    st = X.state_of(c.proc)
    old = st.unhandled_filter
    st.unhandled_filter = f
    return old


@api("ntdll.dll", "void NTAPI RtlSetUnhandledExceptionFilter(PVOID Filter)")
def RtlSetUnhandledExceptionFilter(c, f):
    """The filter RtlUserThreadStart's __except calls for an exception no frame handled (kernel32 sets
    UnhandledExceptionFilter there at start-up; this replaces it, NULL removes it)."""
    X.state_of(c.proc).rtl_filter = f


@api(K32, "LONG WINAPI UnhandledExceptionFilter(struct _EXCEPTION_POINTERS *ExceptionInfo)")
def UnhandledExceptionFilter(c, ep):
    def gen(co, entry):
        r = yield from X.unhandled_exception_filter_gen(c.thread, ep)
        if r == X.EXCEPTION_CONTINUE_SEARCH and not X.state_of(c.proc).unhandled_filter:
            # no debugger, no application filter: Windows reports the fault and the handler runs
            r = X.EXCEPTION_EXECUTE_HANDLER
        return r
    run_api_coroutine(c, gen)


# ------------------------------------------------------------------------------------------ contexts
@api(("kernel32.dll", "ntdll.dll"), "void NTAPI RtlCaptureContext(PCONTEXT ContextRecord)")
def RtlCaptureContext(c, ctx_addr):
    """x64: the caller's registers as they are after the call returns (CONTEXT_FULL | CONTEXT_SEGMENTS).
    x86: the context of the caller's own frame as its return would leave it, through the caller's ebp frame:
    Eip = [ebp+4], Ebp = [ebp], Esp = ebp + 8, the other registers as they are; ContextFlags
    CONTEXT_CONTROL | CONTEXT_INTEGER | CONTEXT_SEGMENTS (0x10007) — what Windows' x86 ntdll captures."""
    ctx = caller_context(c)
    if c.cpu.is64:
        # Windows x64 stores ContextFlags CONTEXT_FULL | CONTEXT_SEGMENTS (0x10000F) and leaves the home slots
        # (P1Home-P6Home) and the debug registers as they were (ntdll/exception.c test_thread_context)
        from winhatch.kernel.structs import CONTEXT_AMD64
        data = bytearray(X.context_to_guest(ctx))
        old = c.read(ctx_addr, len(data))
        flags = CONTEXT_AMD64.offset("x64", "ContextFlags")
        data[:flags] = old[:flags]
        data[flags:flags + 4] = (0x10000F).to_bytes(4, "little")
        d0, d7 = CONTEXT_AMD64.offset("x64", "Dr0"), CONTEXT_AMD64.offset("x64", "Dr7")
        data[d0:d7 + 8] = old[d0:d7 + 8]
        c.write(ctx_addr, bytes(data))
        return
    r = ctx.regs
    ebp = r["ebp"] & 0xFFFFFFFF
    frame = c.read(ebp, 8)
    r["ebp"], r["eip"] = int.from_bytes(frame[:4], "little"), int.from_bytes(frame[4:], "little")
    r["esp"] = (ebp + 8) & 0xFFFFFFFF
    data = bytearray(X.context_to_guest(ctx))
    data[0:4] = (0x10007).to_bytes(4, "little")
    # the selectors are stored as 16-bit values: the upper half of each DWORD field keeps what it held
    # (ntdll/exception.c test_thread_context compares them with the test's own 16-bit stores)
    from winhatch.kernel.structs import CONTEXT_X86
    old = c.read(ctx_addr, len(data))
    for name in ("SegGs", "SegFs", "SegEs", "SegDs", "SegCs", "SegSs"):
        off = CONTEXT_X86.offset("x86", name)
        data[off + 2:off + 4] = old[off + 2:off + 4]
    c.write(ctx_addr, bytes(data))


def _restore(c, ctx_addr, base=None):
    mem = Mem(c.proc)
    size = X.X64_CONTEXT_SIZE if c.cpu.is64 else X.X86_CONTEXT_SIZE
    base = base or c.cpu.save_context()
    return X.context_from_guest(mem.read(ctx_addr, size), base)


# NtContinue is the kernel's service (winhatch.kernel.ke.exception_services)


@api(("kernel32.dll", "ntdll.dll"), "void NTAPI RtlRestoreContext(PCONTEXT ContextRecord, "
                                   "PEXCEPTION_RECORD ExceptionRecord)")
def RtlRestoreContext(c, ctx_addr, rec_addr):
    mem = Mem(c.proc)
    ctx = _restore(c, ctx_addr)
    rec = X.read_record(mem, rec_addr, c.arch) if rec_addr else None
    if rec and c.cpu.is64 and rec["ExceptionCode"] == X.STATUS_LONGJUMP and rec["NumberParameters"] >= 1:
        _jump_buffer_to_context(mem, ctx_addr, rec["ExceptionInformation"][0])
        ctx = _restore(c, ctx_addr)
    elif rec and c.cpu.is64 and rec["ExceptionCode"] == X.STATUS_UNWIND_CONSOLIDATE and rec["NumberParameters"] >= 1:
        callback = rec["ExceptionInformation"][0]

        def gen(co, entry):
            # the consolidation callback (e.g. a C++ catch block) runs on the target frame's stack
            co.sp = min(co.sp, ctx.regs["rsp"])
            rip = yield GuestCall(callback, (rec_addr,))
            final = ctx.copy()
            final.regs["rip"] = rip & M64
            return final
        run_api_coroutine(c, gen)
        return
    c.cpu.restore_context(ctx)


def _jump_buffer_to_context(mem, ctx_addr: int, jb: int) -> None:
    """RtlRestoreContext of a STATUS_LONGJUMP: the _JUMP_BUFFER's registers go into the caller's CONTEXT record
    itself (nonvolatile integer registers, Rsp, Rip, MxCsr — also FltSave.MxCsr —, the x87 control word from
    FpCsr, Xmm6-15), which is then restored (ntdll/exception.c test_restore_context, on Windows)."""
    from winhatch.kernel.structs import CONTEXT_AMD64
    vals = struct.unpack("<11Q", mem.read(jb, 88))
    off = lambda f: CONTEXT_AMD64.offset("x64", f)   # noqa: E731
    for name, v in zip(("Rbx", "Rsp", "Rbp", "Rsi", "Rdi", "R12", "R13", "R14", "R15", "Rip"), vals[1:]):
        mem.write(ctx_addr + off(name), struct.pack("<Q", v))
    mxcsr, fpcsr = mem.u32(jb + 88), mem.u32(jb + 92) & 0xFFFF
    flt = ctx_addr + off("FltSave")
    mem.write(ctx_addr + off("MxCsr"), struct.pack("<I", mxcsr))
    mem.write(flt + 24, struct.pack("<I", mxcsr))          # XSAVE_FORMAT.MxCsr
    mem.write(flt, struct.pack("<H", fpcsr))               # XSAVE_FORMAT.ControlWord
    mem.write(flt + 160 + 16 * 6, mem.read(jb + 96, 160))  # Xmm6..Xmm15


def _apply_jump_buffer(mem, ctx, jb):
    """_JUMP_BUFFER (x64): Frame, Rbx, Rsp, Rbp, Rsi, Rdi, R12-R15, Rip, MxCsr, FpCsr, Spare, Xmm6-15."""
    vals = struct.unpack("<11Q", mem.read(jb, 88))
    r = ctx.regs
    for name, v in zip(("rbx", "rsp", "rbp", "rsi", "rdi", "r12", "r13", "r14", "r15", "rip"), vals[1:]):
        r[name] = v
    r["mxcsr"] = mem.u32(jb + 88)
    r["fpcw"] = mem.u32(jb + 92) & 0xFFFF
    for i in range(10):
        r[f"xmm{6 + i}"] = int.from_bytes(mem.read(jb + 96 + 16 * i, 16), "little")


# ------------------------------------------------------------------------------------------ unwinding
@api("ntdll.dll", "void NTAPI RtlUnwindEx(PVOID TargetFrame, PVOID TargetIp, PEXCEPTION_RECORD ExceptionRecord, "
                  "PVOID ReturnValue, PCONTEXT ContextRecord, PUNWIND_HISTORY_TABLE HistoryTable)")
def RtlUnwindEx(c, target_frame, target_ip, rec_addr, retval, ctx_addr, history):
    if not c.cpu.is64:
        raise_unsupported(c, "RtlUnwindEx is x64-only")
        return
    _unwind_x64(c, target_frame, target_ip, rec_addr, retval, ctx_addr)


def raise_unsupported(c, what):
    from winhatch.kernel.ke.dispatcher import ProcessExit
    from winhatch.ntstatus import STATUS_NOT_IMPLEMENTED
    c.proc.stop_message = f"unimplemented: {what}"
    raise ProcessExit(STATUS_NOT_IMPLEMENTED)


def _local_record(c, mem, sp, code, address):
    size = EXCEPTION_RECORD.size(c.arch)
    addr = (sp - size) & ~0xF
    mem.write(addr, EXCEPTION_RECORD.pack(c.arch, **X.build_record(code, 0, address)))
    return addr


def _unwind_x64(c, target_frame, target_ip, rec_addr, retval, ctx_addr):
    thread = c.thread
    mem = Mem(c.proc)

    def gen(co, entry):
        sp = co.sp
        nonlocal rec_addr, ctx_addr
        if not rec_addr:
            rec_addr = _local_record(c, mem, sp, X.STATUS_UNWIND, entry.pc)
            sp = rec_addr - 0x10
        if not ctx_addr:
            ctx_addr = (sp - X.X64_CONTEXT_SIZE) & ~0xF
            sp = ctx_addr - 0x10
        co.sp = sp
        result = yield from X.rtl_unwind_x64_gen(thread, co, target_frame, target_ip, rec_addr, retval, ctx_addr,
                                                 entry)
        if result is None:
            # an exit unwind reached the end of the stack: the record is raised (second chance)
            rec = X.read_record(mem, rec_addr, "x64")
            X.dispatch(thread, rec, entry, description="exit unwind")
            return None
        return result

    _run_unwind(c, gen)


def _run_unwind(c, gen_fn):
    entry = caller_context(c)
    co = Coroutine(c.thread, None, "unwind", (c.cpu.sp - 0x100) & ~0xF, resume_ctx=entry.copy())

    def wrapper():
        result = yield from gen_fn(co, entry)
        return result
    co.gen = wrapper()
    X.start(c.thread, co)


@api("ntdll.dll", "void NTAPI RtlUnwind(PVOID TargetFrame, PVOID TargetIp, PEXCEPTION_RECORD ExceptionRecord, "
                  "PVOID ReturnValue)")
def RtlUnwind(c, target_frame, target_ip, rec_addr, retval):
    if c.cpu.is64:
        _unwind_x64(c, target_frame, target_ip, rec_addr, retval, 0)
        return
    thread = c.thread
    mem = Mem(c.proc)

    def gen(co, entry):
        nonlocal rec_addr
        sp = co.sp
        if not rec_addr:
            rec_addr = _local_record(c, mem, sp, X.STATUS_UNWIND, entry.pc)
            sp = rec_addr - 0x10
        ctx_addr = (sp - X.X86_CONTEXT_SIZE) & ~0xF
        dc_addr = ctx_addr - 0x10
        co.sp = dc_addr - 0x10
        ctx = entry.copy()
        ctx.regs["eax"] = retval & 0xFFFFFFFF
        mem.write(ctx_addr, X.context_to_guest(ctx))
        yield from X.rtl_unwind_x86_gen(thread, co, target_frame, rec_addr, ctx_addr, dc_addr)
        if not target_frame:
            rec = X.read_record(mem, rec_addr, "x86")
            X.dispatch(thread, rec, ctx, description="exit unwind")
            return None
        return ctx

    _run_unwind(c, gen)


# ------------------------------------------------------------------------------------------ x64 function tables
@api("ntdll.dll", "PRUNTIME_FUNCTION NTAPI RtlLookupFunctionEntry(DWORD64 ControlPc, PDWORD64 ImageBase, "
                  "PUNWIND_HISTORY_TABLE HistoryTable)")
def RtlLookupFunctionEntry(c, pc, base_out, history):
    def gen(co, entry):
        r = yield from X.lookup_function_entry_gen(c.thread, pc)
        if r is None:
            if base_out:
                c.write_u64(base_out, 0)
            return 0
        if base_out:
            c.write_u64(base_out, r[1])
        return r[0]
    run_api_coroutine(c, gen)


@api("ntdll.dll", "PEXCEPTION_ROUTINE NTAPI RtlVirtualUnwind(ULONG HandlerType, DWORD64 ImageBase, DWORD64 ControlPc, "
                  "PRUNTIME_FUNCTION FunctionEntry, PCONTEXT ContextRecord, PVOID *HandlerData, "
                  "PDWORD64 EstablisherFrame, PKNONVOLATILE_CONTEXT_POINTERS ContextPointers)")
def RtlVirtualUnwind(c, htype, base, pc, entry, ctx_addr, data_out, frame_out, ptrs_addr):
    # the record's registers are used whatever its ContextFlags say, and only the integer registers, Rip and the
    # XMM registers the unwind restores are written back (the rest of the caller's CONTEXT is left alone)
    from winhatch.kernel.structs import CONTEXT_AMD64
    raw = bytearray(Mem(c.proc).read(ctx_addr, X.X64_CONTEXT_SIZE))
    flags_off = CONTEXT_AMD64.offset("x64", "ContextFlags")
    whole = bytearray(raw)
    whole[flags_off:flags_off + 4] = (0x10000B).to_bytes(4, "little")   # CONTEXT_AMD64 | CONTROL | INTEGER | FLOAT
    ctx = X.context_from_guest(bytes(whole), c.cpu.save_context())
    ptrs, xptrs = {}, {}
    try:
        res = X.virtual_unwind(c.thread, htype, base, pc, entry, ctx, ptrs, xptrs)
    except X.ExceptionError as e:
        _raise(c, X.build_record(e.status, X.EXCEPTION_NONCONTINUABLE, c.cpu.pc), caller_context(c), str(e))
        return None
    new = X.context_to_guest(ctx)
    lo, hi = CONTEXT_AMD64.offset("x64", "Rax"), CONTEXT_AMD64.offset("x64", "Rip") + 8
    raw[lo:hi] = new[lo:hi]
    xmm0 = CONTEXT_AMD64.offset("x64", "FltSave") + 160
    for i in xptrs:
        raw[xmm0 + 16 * i:xmm0 + 16 * i + 16] = new[xmm0 + 16 * i:xmm0 + 16 * i + 16]
    c.write(ctx_addr, bytes(raw))
    if data_out and res.handler:
        c.write_u64(data_out, res.handler_data)
    if frame_out:
        c.write_u64(frame_out, res.establisher)
    if ptrs_addr:
        for i, a in xptrs.items():
            c.write_u64(ptrs_addr + 8 * i, a)
        for i, a in ptrs.items():
            c.write_u64(ptrs_addr + 0x80 + 8 * i, a)
    return res.handler


@api("ntdll.dll", "BOOLEAN NTAPI RtlAddFunctionTable(PRUNTIME_FUNCTION FunctionTable, DWORD EntryCount, "
                  "DWORD64 BaseAddress)")
def RtlAddFunctionTable(c, table, count, base):
    """An empty table (EntryCount 0) is registered too (Windows: TRUE, and RtlDeleteFunctionTable removes it
    once); it covers no code and nothing of it is read (a NULL one too)."""
    if not count:
        X.state_of(c.proc).function_tables.append({"table": table, "count": 0, "base": base, "low": base,
                                                   "high": base, "callback": False})
        return 1
    mem = Mem(c.proc)
    try:
        raw = mem.read(table, 12 * count)
    except X.ExceptionError:
        return 0
    begins = [struct.unpack_from("<II", raw, 12 * i) for i in range(count)]
    low = base + min(b for b, _ in begins)
    high = base + max(e for _, e in begins)
    X.state_of(c.proc).function_tables.append({"table": table, "count": count, "base": base, "low": low,
                                               "high": high, "callback": False})
    return 1


@api("ntdll.dll", "BOOLEAN NTAPI RtlInstallFunctionTableCallback(DWORD64 TableIdentifier, DWORD64 BaseAddress, "
                  "DWORD Length, PGET_RUNTIME_FUNCTION_CALLBACK Callback, PVOID Context, "
                  "PCWSTR OutOfProcessCallbackDll)")
def RtlInstallFunctionTableCallback(c, ident, base, length, callback, context, dll):
    if ident & 3 != 3 or not callback:
        return 0
    X.state_of(c.proc).function_tables.append({"table": ident, "count": 0, "base": base, "low": base,
                                               "high": base + length, "callback": True, "callback_fn": callback,
                                               "context": context})
    return 1


@api("ntdll.dll", "BOOLEAN NTAPI RtlDeleteFunctionTable(PRUNTIME_FUNCTION FunctionTable)")
def RtlDeleteFunctionTable(c, table):
    tabs = X.state_of(c.proc).function_tables
    for i, t in enumerate(tabs):
        if t["table"] == table:
            del tabs[i]
            return 1
    return 0


@api("ntdll.dll", "DWORD NTAPI RtlAddGrowableFunctionTable(PVOID *DynamicTable, PRUNTIME_FUNCTION FunctionTable, "
                  "DWORD EntryCount, DWORD MaximumEntryCount, ULONG_PTR RangeBase, ULONG_PTR RangeEnd)")
def RtlAddGrowableFunctionTable(c, out, table, count, maximum, range_base, range_end):
    """A function table a JIT grows in place (V8, .NET): RUNTIME_FUNCTIONs relative to RangeBase, sorted, the
    first EntryCount valid; *DynamicTable receives the handle RtlGrowFunctionTable and
    RtlDeleteGrowableFunctionTable take (a block of ntdll's heap, as on Windows)."""
    from winhatch.ntstatus import STATUS_INVALID_PARAMETER, STATUS_NO_MEMORY
    from winhatch.win32.kernel32.common import heap_alloc
    if c.arch != "x64":
        return STATUS_INVALID_PARAMETER
    if not out or not table or count > maximum or range_end <= range_base:
        return STATUS_INVALID_PARAMETER
    handle = heap_alloc(c, 0x40)
    if not handle:
        return STATUS_NO_MEMORY
    c.write(handle, struct.pack("<QQIIQQ", table, range_base, count, maximum, range_base, range_end))
    X.state_of(c.proc).function_tables.append({"table": table, "count": count, "maximum": maximum,
                                               "base": range_base, "low": range_base, "high": range_end,
                                               "callback": False, "growable": handle})
    c.write_ptr(out, handle)
    return 0


def _growable(c, handle):
    for t in X.state_of(c.proc).function_tables:
        if t.get("growable") == handle and handle:
            return t
    return None


@api("ntdll.dll", "void NTAPI RtlGrowFunctionTable(PVOID DynamicTable, DWORD NewEntryCount)")
def RtlGrowFunctionTable(c, handle, count):
    """The table's valid entries become NewEntryCount (never beyond its maximum, never fewer than before)."""
    t = _growable(c, handle)
    if t is None:
        return
    if t["count"] <= count <= t["maximum"]:
        t["count"] = count
        c.write_u32(handle + 16, count)


@api("ntdll.dll", "void NTAPI RtlDeleteGrowableFunctionTable(PVOID DynamicTable)")
def RtlDeleteGrowableFunctionTable(c, handle):
    from winhatch.win32.kernel32.common import heap_free
    t = _growable(c, handle)
    if t is None:
        return
    X.state_of(c.proc).function_tables.remove(t)
    heap_free(c, handle)


@api("ntdll.dll", "PVOID NTAPI RtlPcToFileHeader(PVOID PcValue, PVOID *BaseOfImage)")
def RtlPcToFileHeader(c, pc, base_out):
    img = c.proc.subsystem["images"].find(pc)
    base = img.base if img is not None else 0
    if base_out:
        c.write_ptr(base_out, base)
    return base


@api(K32, "BOOL WINAPI SetThreadStackGuarantee(PULONG StackSizeInBytes)")
def SetThreadStackGuarantee(c, size_ptr):
    """The guarantee is the TEB's GuaranteedStackBytes: *StackSizeInBytes gets the previous one; a larger size
    raises it (rounded up to pages, at least a page per 4 bytes of pointer: 8 KiB in a 64-bit process), a
    smaller one or 0 leaves it; more than half the stack's reserve is ERROR_INVALID_PARAMETER (the previous
    size is still returned). Kernel32/thread.c test_thread_stack_guarantee, written on Windows."""
    if not size_ptr:
        c.set_last_error(87)
        return 0
    from winhatch.kernel.structs import TEB
    field = c.thread.teb + TEB.offset(c.arch, "GuaranteedStackBytes")
    old = c.u32(field)
    new = c.u32(size_ptr)
    c.write_u32(size_ptr, old)
    stack = c.thread.stack
    if stack is not None and new > (stack.base - stack.reserve_base) // 2:
        c.set_last_error(87)  # ERROR_INVALID_PARAMETER: more than the stack can give
        return 0
    if new:
        new = max((new + 0xFFF) & ~0xFFF, 0x1000 * c.ptr_size // 4)
        if new > old:
            c.write_u32(field, new)
    return 1



@api(("kernel32.dll", "ntdll.dll"), "USHORT NTAPI RtlCaptureStackBackTrace(ULONG FramesToSkip, "
     "ULONG FramesToCapture, PVOID *BackTrace, PULONG BackTraceHash)")
def RtlCaptureStackBackTrace(c, skip, count, out, hash_out):
    """The return addresses of the caller's stack, from its own frame up (frame 0: where the caller goes on after
    this call), FramesToSkip of them skipped: x64 by the unwinder over the images' unwind data, x86 along the EBP
    chain. The hash (when asked) is the sum of the addresses captured, in 32 bits. Returns how many were written."""
    from winhatch.win32.ntdll.exceptions import stack_walk
    if not out or count == 0:
        return 0
    count = min(count, 0xFFFF)
    frames = stack_walk(c.thread, caller_context(c), limit=min(skip + count, 1024))[skip:skip + count]
    ps = c.ptr_size
    for i, f in enumerate(frames):
        c.write_ptr(out + i * ps, f["pc"])
    if hash_out:
        c.write_u32(hash_out, sum(f["pc"] for f in frames) & 0xFFFFFFFF)
    return len(frames)
