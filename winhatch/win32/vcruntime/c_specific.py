"""__C_specific_handler (x64): the language handler of __try/__except/__finally scopes.

HandlerData is a SCOPE_TABLE: Count, then Count records {BeginAddress, EndAddress, HandlerAddress, JumpTarget}
(image RVAs). JumpTarget 0 marks a __finally (HandlerAddress is the termination handler, called with
AbnormalTermination=TRUE during unwinding); otherwise HandlerAddress is the filter (or 1: EXCEPTION_EXECUTE_HANDLER
without a filter) and JumpTarget the __except block, reached through RtlUnwindEx with the exception code in rax.
"""
from __future__ import annotations

import struct

from winhatch.win32.ntdll import exceptions as X
from winhatch.win32.ntdll.exceptions import GuestCall, Mem
from winhatch.win32.api import api
from winhatch.win32.ntdll.seh import run_api_coroutine

M64 = 0xFFFFFFFFFFFFFFFF


def _dc(mem, dc_addr):
    v = struct.unpack("<QQQQQQQQQII", mem.read(dc_addr, X.DISPATCHER_CONTEXT_SIZE))
    return {"ControlPc": v[0], "ImageBase": v[1], "FunctionEntry": v[2], "EstablisherFrame": v[3],
            "TargetIp": v[4], "ContextRecord": v[5], "LanguageHandler": v[6], "HandlerData": v[7],
            "HistoryTable": v[8], "ScopeIndex": v[9]}


def c_specific_gen(c, co, rec_addr, frame, ctx_addr, dc_addr):
    thread = c.thread
    mem = Mem(c.proc)
    if not c.cpu.is64:
        return X.ExceptionContinueSearch
    dc = _dc(mem, dc_addr)
    base = dc["ImageBase"]
    table = dc["HandlerData"]
    count = mem.u32(table)
    pc = dc["ControlPc"] - base
    rec = X.read_record(mem, rec_addr, "x64")
    flags = rec["ExceptionFlags"]
    scopes = [struct.unpack("<IIII", mem.read(table + 4 + 16 * i, 16)) for i in range(min(count, 0x10000))]
    if not flags & X.EXCEPTION_UNWIND:
        for begin, end, handler, target in scopes[dc["ScopeIndex"]:]:
            if not (begin <= pc < end) or target == 0:
                continue
            if handler == 1:
                verdict = X.EXCEPTION_EXECUTE_HANDLER
            else:
                ep = (co.sp - 0x20) & ~0xF
                co.sp = ep - 0x10
                mem.w64(ep, rec_addr)
                mem.w64(ep + 8, ctx_addr)
                verdict = X._signed32((yield GuestCall(base + handler, (ep, frame))))
            if verdict < 0:
                return X.ExceptionContinueExecution
            if verdict > 0:
                # the __except block runs: unwind to this frame, rax = the exception code
                scratch = (co.sp - X.X64_CONTEXT_SIZE - 0x10) & ~0xF
                co.sp = scratch - 0x10
                start = X.context_from_guest(mem.read(ctx_addr, X.X64_CONTEXT_SIZE), c.cpu.save_context())
                entry = co.resume_ctx.copy()  # our caller: the dispatcher's handler call
                final = yield from X.rtl_unwind_x64_gen(thread, co, frame, base + target, rec_addr,
                                                        rec["ExceptionCode"], scratch, entry)
                _ = start
                return final
        return X.ExceptionContinueSearch
    # unwinding: run the __finally blocks of the scopes that contain pc (innermost first)
    target_ip = dc["TargetIp"] - base
    for i in range(dc["ScopeIndex"], len(scopes)):
        begin, end, handler, target = scopes[i]
        if not (begin <= pc < end):
            continue
        if flags & X.EXCEPTION_TARGET_UNWIND and target == target_ip and target:
            break  # reached the __except block the unwind is going to
        if target == 0:
            mem.write(dc_addr + 0x48, struct.pack("<I", i + 1))  # ScopeIndex: a collided unwind resumes after it
            yield GuestCall(base + handler, (1, frame))
    return X.ExceptionContinueSearch


@api(("ntdll.dll", "msvcrt.dll"), "EXCEPTION_DISPOSITION __cdecl __C_specific_handler(PEXCEPTION_RECORD ExceptionRecord, "
     "void *EstablisherFrame, PCONTEXT ContextRecord, PDISPATCHER_CONTEXT DispatcherContext)")
def __C_specific_handler(c, rec, frame, ctx, dc):
    run_api_coroutine(c, lambda co, entry: c_specific_gen(c, co, rec, frame, ctx, dc))
