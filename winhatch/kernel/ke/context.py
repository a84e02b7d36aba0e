"""CONTEXT records in guest memory: a register snapshot (winhatch.cpu.context.Context) as the CONTEXT structure
of its architecture (x64 CONTEXT_AMD64, x86 CONTEXT) and back. Used wherever the kernel hands a context to
user mode or takes one from it: NtGetContextThread / NtSetContextThread, the user-APC frame
(KiUserApcDispatcher), exception dispatch (winhatch.win32.ntdll.exceptions), NtContinue and NtRaiseException."""
from __future__ import annotations

import struct

from winhatch.cpu.context import Context
from winhatch.kernel.structs import CONTEXT_AMD64, CONTEXT_X86

X64_CONTEXT_SIZE = CONTEXT_AMD64.size("x64")
X86_CONTEXT_SIZE = CONTEXT_X86.size("x86")
X64_GPRS = ("rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi",
            "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15")  # unwind-code register numbers
M64 = 0xFFFFFFFFFFFFFFFF
M32 = 0xFFFFFFFF


def context_to_guest(ctx: Context) -> bytes:
    """The guest CONTEXT (CONTEXT_ALL) for a register snapshot."""
    r = ctx.regs
    if ctx.is64:
        vals = {_amd64_name(n): r[n] & M64 for n in X64_GPRS}
        vals.update(ContextFlags=0x10001F, MxCsr=r.get("mxcsr", 0x1F80), Rip=r["rip"] & M64,
                    EFlags=r["rflags"] & M32, SegCs=r.get("cs", 0x33), SegSs=r.get("ss", 0x2B),
                    SegDs=r.get("ds", 0x2B), SegEs=r.get("es", 0x2B), SegFs=r.get("fs", 0x53),
                    SegGs=r.get("gs", 0x2B))
        buf = bytearray(CONTEXT_AMD64.pack("x64", **vals))
        fo = CONTEXT_AMD64.offset("x64", "FltSave")
        tag = r.get("fptag", 0xFFFF)
        abridged = sum(1 << i for i in range(8) if (tag >> (2 * i)) & 3 != 3)
        struct.pack_into("<HHB", buf, fo, r.get("fpcw", 0x27F) & 0xFFFF, r.get("fpsw", 0) & 0xFFFF, abridged)
        struct.pack_into("<II", buf, fo + 24, r.get("mxcsr", 0x1F80) & M32, 0xFFFF)
        for i in range(8):
            buf[fo + 32 + 16 * i: fo + 32 + 16 * i + 10] = (r.get(f"fp{i}", 0) & ((1 << 80) - 1)).to_bytes(10, "little")
        for i in range(16):
            buf[fo + 160 + 16 * i: fo + 176 + 16 * i] = (r.get(f"xmm{i}", 0) & ((1 << 128) - 1)).to_bytes(16, "little")
        return bytes(buf)
    vals = {"Eax": r["eax"], "Ebx": r["ebx"], "Ecx": r["ecx"], "Edx": r["edx"], "Esi": r["esi"], "Edi": r["edi"],
            "Ebp": r["ebp"], "Esp": r["esp"], "Eip": r["eip"], "EFlags": r["eflags"] & M32,
            "SegCs": r.get("cs", 0x23), "SegSs": r.get("ss", 0x2B), "SegDs": r.get("ds", 0x2B),
            "SegEs": r.get("es", 0x2B), "SegFs": r.get("fs", 0x53), "SegGs": r.get("gs", 0x2B)}
    vals = {k: v & M32 for k, v in vals.items()}
    buf = bytearray(CONTEXT_X86.pack("x86", ContextFlags=0x1003F, **vals))
    fs = CONTEXT_X86.offset("x86", "FloatSave")
    # the 32-bit context of a WoW64 thread: Windows x64 keeps its x87 state as an FXSAVE image and fills the
    # FNSAVE-style DWORDs with the words zero-extended (Wine's ntdll/exception test_wow64_context compares the
    # DWORD ControlWord with the word)
    struct.pack_into("<III", buf, fs, r.get("fpcw", 0x27F) & 0xFFFF, r.get("fpsw", 0) & 0xFFFF,
                     r.get("fptag", 0xFFFF) & 0xFFFF)
    ra = CONTEXT_X86.offset("x86", "FloatSave.RegisterArea")
    for i in range(8):
        buf[ra + 10 * i: ra + 10 * i + 10] = (r.get(f"fp{i}", 0) & ((1 << 80) - 1)).to_bytes(10, "little")
    xo = CONTEXT_X86.offset("x86", "ExtendedRegisters")
    struct.pack_into("<HH", buf, xo, r.get("fpcw", 0x27F) & 0xFFFF, r.get("fpsw", 0) & 0xFFFF)
    struct.pack_into("<II", buf, xo + 24, r.get("mxcsr", 0x1F80) & M32, 0xFFFF)
    for i in range(8):
        buf[xo + 160 + 16 * i: xo + 176 + 16 * i] = (r.get(f"xmm{i}", 0) & ((1 << 128) - 1)).to_bytes(16, "little")
    return bytes(buf)


def _amd64_name(reg: str) -> str:
    return reg[0].upper() + reg[1:]


def context_from_guest(data: bytes, base: Context) -> Context:
    """Apply a guest CONTEXT onto a register snapshot (its ContextFlags say which parts are valid)."""
    ctx = base.copy()
    r = ctx.regs
    if base.is64:
        v = CONTEXT_AMD64.unpack("x64", data[:X64_CONTEXT_SIZE])
        flags = v["ContextFlags"]
        if flags & 0x1 or not flags & 0x100000:
            r["rip"], r["rsp"], r["rbp"] = v["Rip"], v["Rsp"], v["Rbp"]
            r["rflags"] = (v["EFlags"] & 0x3F7FD7) | 0x2
        if flags & 0x2 or not flags & 0x100000:
            for n in X64_GPRS:
                if n not in ("rsp", "rbp"):
                    r[n] = v[_amd64_name(n)]
        if flags & 0x8:
            fo = CONTEXT_AMD64.offset("x64", "FltSave")
            r["mxcsr"] = struct.unpack_from("<I", data, fo + 24)[0] & 0xFFFF
            cw, sw = struct.unpack_from("<HH", data, fo)
            r["fpcw"], r["fpsw"] = cw, sw
            for i in range(16):
                r[f"xmm{i}"] = int.from_bytes(data[fo + 160 + 16 * i: fo + 176 + 16 * i], "little")
        return ctx
    v = CONTEXT_X86.unpack("x86", data[:X86_CONTEXT_SIZE])
    flags = v["ContextFlags"]
    if flags & 0x1 or not flags & 0x10000:
        r["eip"], r["esp"], r["ebp"] = v["Eip"], v["Esp"], v["Ebp"]
        r["eflags"] = (v["EFlags"] & 0x3F7FD7) | 0x2
    if flags & 0x2 or not flags & 0x10000:
        for n in ("eax", "ebx", "ecx", "edx", "esi", "edi"):
            r[n] = v[n.capitalize()]
    if flags & 0x20:
        xo = CONTEXT_X86.offset("x86", "ExtendedRegisters")
        r["mxcsr"] = struct.unpack_from("<I", data, xo + 24)[0] & 0xFFFF
        for i in range(8):
            r[f"xmm{i}"] = int.from_bytes(data[xo + 160 + 16 * i: xo + 176 + 16 * i], "little")
    if flags & 0x8:
        fs = CONTEXT_X86.offset("x86", "FloatSave")
        cw, sw, tw = struct.unpack_from("<III", data, fs)
        r["fpcw"], r["fpsw"] = cw & 0xFFFF, sw & 0xFFFF
    return ctx
