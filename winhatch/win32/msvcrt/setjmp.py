"""setjmp / longjmp of msvcrt.dll and ucrtbase.dll, on the guest's _JUMP_BUFFER.

x64 (_setjmp, _setjmpex, ucrt's __intrinsic_setjmp/__intrinsic_setjmpex: (buf, frame)): the buffer is
{Frame, Rbx, Rsp, Rbp, Rsi, Rdi, R12-R15, Rip, MxCsr, FpCsr, Spare, Xmm6-Xmm15}: the caller's nonvolatile
registers as they are after the call returns (Rsp past the return address, Rip the return address) and the
frame the caller passed. longjmp(buf, value) with a Frame unwinds the stack to that frame as RtlUnwindEx does
(each frame's unwind handler runs with STATUS_LONGJUMP, whose parameter is the buffer) and then continues from
the buffer's registers; without a Frame it restores them directly. setjmp returns 0; the jump makes it return
`value` (1 for 0).

x86 (_setjmp(buf), _setjmp3(buf, count, ...), ucrt's __intrinsic_setjmp): {Ebp, Ebx, Edi, Esi, Esp, Eip,
Registration (the head of the thread's SEH chain), TryLevel, Cookie "VC20" (0x56433230), UnwindFunc,
UnwindData[6]}. longjmp restores the registers; a jump across SEH registrations (Registration no longer the
chain's head: a __try frame between) would need their unwind, which is not implemented and stops loudly.
"""
from __future__ import annotations

import struct

from winhatch.win32.msvcrt import runtime as R
from winhatch.win32.msvcrt.runtime import crt_api as api

BOTH = R.BOTH
U = R.UCRT_DLL
M64 = (1 << 64) - 1
SETJMP3_COOKIE = 0x56433230
X64_NAMES = ("rbx", "rsp", "rbp", "rsi", "rdi", "r12", "r13", "r14", "r15", "rip")
X86_NAMES = ("ebp", "ebx", "edi", "esi", "esp", "eip")


def _save(c, buf: int, frame: int) -> int:
    from winhatch.win32.ntdll.seh import caller_context
    ctx = caller_context(c)
    r = ctx.regs
    if c.cpu.is64:
        data = struct.pack("<11Q", frame & M64, *(r[n] & M64 for n in X64_NAMES))
        data += struct.pack("<IHH", r.get("mxcsr", 0x1F80) & 0xFFFFFFFF, r.get("fpcw", 0x27F) & 0xFFFF, 0)
        data += b"".join((r[f"xmm{i}"] & ((1 << 128) - 1)).to_bytes(16, "little") for i in range(6, 16))
        c.write(buf, data)
    else:
        head = c.u32(c.thread.teb)                 # NT_TIB.ExceptionList
        data = struct.pack("<6I", *(r[n] & 0xFFFFFFFF for n in X86_NAMES))
        data += struct.pack("<IiII", head, -1, SETJMP3_COOKIE, 0) + bytes(24)
        c.write(buf, data)
    return 0


@api(BOTH, "int __cdecl _setjmp(void *buf, void *frame)", calls_guest=True)
def _setjmp(c, buf, frame):
    return _save(c, buf, frame if c.cpu.is64 else 0)


for _n in ("_setjmpex", "__intrinsic_setjmp", "__intrinsic_setjmpex"):
    api(BOTH, f"int __cdecl {_n}(void *buf, void *frame)", calls_guest=True)(_setjmp)


@api(BOTH, "int __cdecl _setjmp3(void *buf, int count, ...)", calls_guest=True)
def _setjmp3(c, buf, count):
    if count:
        R.not_implemented(c, f"_setjmp3 with {count} try-level arguments")
    return _save(c, buf, 0)


def _apply_x86(c, ctx, buf: int, value: int):
    vals = struct.unpack("<6I", c.read(buf, 24))
    for n, v in zip(X86_NAMES, vals):
        ctx.regs[n] = v
    ctx.regs["eax"] = value


@api(BOTH, "void __cdecl longjmp(void *buf, int value)", calls_guest=True)
def longjmp(c, buf, value):
    from winhatch.win32.ntdll import exceptions as X
    from winhatch.win32.ntdll.exceptions import Mem
    from winhatch.win32.ntdll.seh import _apply_jump_buffer, _local_record, _run_unwind, caller_context
    value = (value & 0xFFFFFFFF) or 1
    mem = Mem(c.proc)
    if not c.cpu.is64:
        registration = c.u32(buf + 24)
        if registration != c.u32(c.thread.teb):
            R.not_implemented(c, "longjmp across x86 SEH registrations (their unwind)")
        ctx = caller_context(c)
        _apply_x86(c, ctx, buf, value)
        c.cpu.restore_context(ctx)
        return
    frame = c.ptr(buf)
    if not frame:
        ctx = caller_context(c)
        _apply_jump_buffer(mem, ctx, buf)
        ctx.regs["rax"] = value
        c.cpu.restore_context(ctx)
        return
    target_ip = c.ptr(buf + 80)
    thread = c.thread

    def gen(co, entry):
        sp = co.sp
        rec_addr = _local_record(c, mem, sp, X.STATUS_LONGJUMP, entry.pc)
        from winhatch.kernel.structs import EXCEPTION_RECORD
        rec = X.build_record(X.STATUS_LONGJUMP, 0, entry.pc, [buf])
        mem.write(rec_addr, EXCEPTION_RECORD.pack("x64", **rec))
        ctx_addr = (rec_addr - 0x10 - X.X64_CONTEXT_SIZE) & ~0xF
        co.sp = ctx_addr - 0x10
        result = yield from X.rtl_unwind_x64_gen(thread, co, frame, target_ip, rec_addr, value, ctx_addr, entry)
        if result is None:
            return None
        _apply_jump_buffer(mem, result, buf)     # RtlRestoreContext with STATUS_LONGJUMP
        result.regs["rax"] = value
        return result

    _run_unwind(c, gen)
