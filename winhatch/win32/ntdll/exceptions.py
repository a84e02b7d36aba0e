"""User-mode exception dispatch: KiUserExceptionDispatcher, RtlDispatchException, RtlUnwind(Ex), the x64 unwinder.

How it runs. Exception dispatch calls guest code (vectored handlers, frame handlers, filters, termination
handlers) and guest handlers call back into it (RtlUnwindEx from a language handler, RaiseException from an
unwind handler, …), often never returning (a handler that unwinds transfers control to the target frame).
So dispatch is never a nested Python call: each dispatch, unwind or API that calls guest code is a Python
*generator* (a coroutine) that yields `GuestCall`s. A guest call is made for real on the guest stack — the
arguments, a return address into ntdll's internal stub `WhExcReturn` (x86: plus an EXCEPTION_REGISTRATION
whose handler is ntdll's internal `WhExcNested`, as RtlpExecuteHandler2 does) — and the thread simply runs on.
When the handler returns to the stub, the coroutine owning that stack frame is resumed with the return value.
A handler that never returns leaves its coroutine behind; coroutines whose frames the stack has unwound
past are dropped. A coroutine finishes by restoring a CONTEXT (NtContinue / RtlRestoreContext).

Stack walks follow Windows: the x86 FS:[0] registration chain (SafeSEH-checked as RtlIsValidHandler does),
and the x64 table-based unwinder (RtlLookupFunctionEntry over .pdata and dynamic function tables,
RtlVirtualUnwind interpreting every unwind code, chained unwind info, epilogue detection). A walk that
reaches a `WhExcReturn` frame continues as a walk through RtlpExecuteHandlerForException /
RtlpExecuteHandlerForUnwind would: nested exceptions get EXCEPTION_NESTED_CALL, a second unwind that meets an
unwind in progress is a collided unwind. The end of the stack is RtlUserThreadStart's frame: its filter is
UnhandledExceptionFilter (SetUnhandledExceptionFilter's function, then the default: the process ends with the
exception code, with a crash record holding the exception record and a stack walk).
"""
from __future__ import annotations

import struct
from typing import Any, Generator

from winhatch._record import NEW, Record
from winhatch.cpu.context import Context
from winhatch.kernel import events as ev
from winhatch.kernel.ke import hwbp
from winhatch.kernel.ke.context import _amd64_name, context_from_guest, context_to_guest  # noqa: F401
from winhatch.kernel.ke.dispatcher import call_guards
from winhatch.kernel.ke.dispatcher import fault_parameters as _ke_fault_parameters
from winhatch.kernel.structs import CONTEXT_AMD64, CONTEXT_X86, EXCEPTION_RECORD, TEB
from winhatch.ntstatus import STATUS_ACCESS_VIOLATION, STATUS_GUARD_PAGE_VIOLATION, STATUS_SINGLE_STEP, status_name

# EFLAGS bits
EFLAGS_TF = 0x100
EFLAGS_DF = 0x400

# ExceptionFlags
EXCEPTION_NONCONTINUABLE = 0x01
EXCEPTION_UNWINDING = 0x02
EXCEPTION_EXIT_UNWIND = 0x04
EXCEPTION_STACK_INVALID = 0x08
EXCEPTION_NESTED_CALL = 0x10
EXCEPTION_TARGET_UNWIND = 0x20
EXCEPTION_COLLIDED_UNWIND = 0x40
EXCEPTION_UNWIND = EXCEPTION_UNWINDING | EXCEPTION_EXIT_UNWIND | EXCEPTION_TARGET_UNWIND | EXCEPTION_COLLIDED_UNWIND

# EXCEPTION_DISPOSITION
ExceptionContinueExecution = 0
ExceptionContinueSearch = 1
ExceptionNestedException = 2
ExceptionCollidedUnwind = 3

# filter results
EXCEPTION_EXECUTE_HANDLER = 1
EXCEPTION_CONTINUE_SEARCH = 0
EXCEPTION_CONTINUE_EXECUTION = -1

STATUS_NONCONTINUABLE_EXCEPTION = 0xC0000025
STATUS_INVALID_DISPOSITION = 0xC0000026
STATUS_UNWIND = 0xC0000027
STATUS_BAD_STACK = 0xC0000028
STATUS_INVALID_UNWIND_TARGET = 0xC0000029
STATUS_UNWIND_CONSOLIDATE = 0x80000029
STATUS_LONGJUMP = 0x80000026

UNW_FLAG_NHANDLER = 0
UNW_FLAG_EHANDLER = 1
UNW_FLAG_UHANDLER = 2
UNW_FLAG_CHAININFO = 4

X86_CHAIN_END = 0xFFFFFFFF
RETURN_STUB = "WhExcReturn"
NESTED_STUB = "WhExcNested"
#: a guarded guest call's frame (winhatch.kernel.ke.dispatcher.call_guest(guard=True)): its return address, and
#: on x86 the handler of its EXCEPTION_REGISTRATION
CALL_RETURN_STUB = "WhCallReturn"
GUARD_STUB = "WhCallGuard"
INTERNAL_STUBS = (RETURN_STUB, NESTED_STUB)

DISPATCHER_CONTEXT_SIZE = 0x50
# CONTEXT sizes, the x64 registers in unwind-code order, masks (shared with the kernel's NtContinue)
from winhatch.kernel.ke.context import M32, M64, X64_CONTEXT_SIZE, X64_GPRS, X86_CONTEXT_SIZE  # noqa: E402


class ExceptionError(Exception):
    """A condition in the exception machinery itself that Windows reports by raising a status."""

    def __init__(self, status: int, message: str = ""):
        super().__init__(message or status_name(status))
        self.status = status


class GuestCall(Record):
    _fields = ("fn", "args", "x86_nested", "regs")

    def __init__(self, fn: int, args: tuple, x86_nested: bool = True, regs: dict | None = None) -> None:
        self.fn = fn
        self.args = args
        # x86: the coroutine asks for a nested-handler registration on FS:[0] during the call
        self.x86_nested = x86_nested
        # registers set for the call besides the arguments (x86 thiscall's ecx, a funclet's ebp)
        self.regs = regs


class Coroutine(Record):
    _fields = ("thread", "gen", "kind", "sp", "resume_ctx", "current", "crossed")

    def __init__(self, thread: Any, gen: Generator, kind: str, sp: int, resume_ctx: Context | None = None,
                 current: dict = NEW) -> None:
        self.thread = thread
        self.gen = gen
        self.kind = kind                # "dispatch" | "unwind" | "api"
        self.sp = sp                    # lowest guest stack address this coroutine uses
        self.resume_ctx = resume_ctx    # x64 unwinding through its stub frame continues here
        # the frame whose handler is being called (for nested / collided handling)
        self.current = {} if current is NEW else current
        self.guard = None               # the guarded call's frame the walk stopped at (dispatch)
        # an unwind that left a handler's nested guest call (call_guest): the nesting depth of the outermost
        # one, where the thread continues (kernel.ke.dispatcher.GuestUnwind); None while it left none
        self.crossed = None


class _PendingCall(Record):
    _fields = ("slot", "co", "registration", "saved_list")

    def __init__(self, slot: int, co: Coroutine, registration: int | None = None,
                 saved_list: int | None = None) -> None:
        self.slot = slot                  # address of the return-address slot
        self.co = co
        self.registration = registration  # x86: the nested registration pushed for the call
        self.saved_list = saved_list


# ================================================================================================ state
class ExceptionState:
    """Per process: vectored handler lists, the unhandled-exception filter, function tables, pending calls."""

    def __init__(self) -> None:
        self.vectored: list[tuple[int, int]] = []       # (entry handle, guest handler)
        self.continue_handlers: list[tuple[int, int]] = []
        self.unhandled_filter = 0
        #: ntdll's top-level filter (RtlSetUnhandledExceptionFilter): None is kernelbase's UnhandledExceptionFilter,
        #: which kernel32 installs at start-up; a program may replace it (0: none at all)
        self.rtl_filter: int | None = None
        self.function_tables: list[dict] = []          # RtlAddFunctionTable / RtlInstallFunctionTableCallback
        self.pending: dict[int, list[_PendingCall]] = {}  # tid -> pending guest calls, by slot
        self.images: dict[int, dict] = {}              # image base -> header facts (exception dir, load config)
        self.stack_guarantee: dict[int, int] = {}
        self.in_top_filter: set[int] = set()           # tids running the application's top-level filter


def state_of(proc) -> ExceptionState:
    st = proc.subsystem.get("exceptions")
    if st is None:
        st = proc.subsystem["exceptions"] = ExceptionState()
        old = proc.subsystem.get("unhandled_filter")
        if old:
            st.unhandled_filter = old
    return st


def _machine(thread):
    return thread.process.subsystem["machine"]


def stub_address(thread, name: str) -> int:
    proc = thread.process
    key = f"exc_stub_{name}"
    va = proc.subsystem.get(key)
    if va is None:
        va = proc.subsystem[key] = _machine(thread).ntdll_export(proc, name)
    return va


# ================================================================================================ memory
class Mem:
    """Kernel-side access to a process's memory (page protection ignored; unmapped → ExceptionError)."""

    def __init__(self, proc):
        self.proc = proc
        self.aspace = proc.aspace

    def read(self, addr: int, n: int) -> bytes:
        try:
            return self.aspace.read(addr, n)
        except Exception as e:
            raise ExceptionError(STATUS_ACCESS_VIOLATION, f"cannot read {n} bytes at 0x{addr:x}: {e}") from None

    def write(self, addr: int, data: bytes) -> None:
        try:
            self.aspace.write(addr, bytes(data))
        except Exception as e:
            raise ExceptionError(STATUS_ACCESS_VIOLATION, f"cannot write {len(data)} bytes at 0x{addr:x}: {e}") \
                from None

    def u8(self, a): return self.read(a, 1)[0]
    def u16(self, a): return struct.unpack("<H", self.read(a, 2))[0]
    def u32(self, a): return struct.unpack("<I", self.read(a, 4))[0]
    def u64(self, a): return struct.unpack("<Q", self.read(a, 8))[0]
    def w32(self, a, v): self.write(a, struct.pack("<I", v & M32))
    def w64(self, a, v): self.write(a, struct.pack("<Q", v & M64))

    def ptr(self, a, is64):
        return self.u64(a) if is64 else self.u32(a)

    def wptr(self, a, v, is64):
        (self.w64 if is64 else self.w32)(a, v)


# ================================================================================================ CONTEXT
# ================================================================================================ records
def build_record(code: int, flags: int, address: int, params=(), chain: int = 0) -> dict:
    params = list(params)[:15]
    return {"ExceptionCode": code & M32, "ExceptionFlags": flags & M32, "ExceptionRecord": chain,
            "ExceptionAddress": address, "NumberParameters": len(params), "ExceptionInformation": params}


def read_record(mem: Mem, addr: int, arch: str) -> dict:
    rec = EXCEPTION_RECORD.unpack(arch, mem.read(addr, EXCEPTION_RECORD.size(arch)))
    n = min(rec["NumberParameters"], 15)
    rec["ExceptionInformation"] = rec["ExceptionInformation"][:n]
    return rec


fault_parameters = _ke_fault_parameters   # the record's parameters (winhatch.kernel.ke.dispatcher)


# ================================================================================================ images
def image_facts(thread, va: int) -> dict | None:
    """Base, size, exception directory and SafeSEH facts of the image holding va (read from guest memory)."""
    proc = thread.process
    img = proc.subsystem["images"].find(va)
    if img is None:
        return None
    st = state_of(proc)
    facts = st.images.get(img.base)
    if facts is not None and facts["size"] == img.size:
        return facts
    mem = Mem(proc)
    base = img.base
    facts = {"base": base, "size": img.size, "name": img.name, "pdata": (0, 0), "no_seh": False,
             "seh_table": None, "synthetic": img.traps is not None}
    try:
        lfanew = mem.u32(base + 0x3C)
        opt = base + lfanew + 24
        magic = mem.u16(opt)
        is64 = magic == 0x20B
        facts["no_seh"] = bool(mem.u16(opt + 70) & 0x400)
        dd = opt + (112 if is64 else 96)
        ndirs = mem.u32(opt + (108 if is64 else 92))
        if ndirs > 3:
            facts["pdata"] = (mem.u32(dd + 3 * 8), mem.u32(dd + 3 * 8 + 4))
        if ndirs > 10 and not is64:
            lc_rva = mem.u32(dd + 80)
            if lc_rva:
                size = mem.u32(base + lc_rva)
                if size >= 0x48:
                    table, count = mem.u32(base + lc_rva + 0x40), mem.u32(base + lc_rva + 0x44)
                    if table:
                        raw = mem.read(table, 4 * min(count, 0x100000)) if count else b""
                        facts["seh_table"] = sorted(struct.unpack(f"<{len(raw) // 4}I", raw))
    except ExceptionError:
        pass
    st.images[base] = facts
    return facts


def lookup_function_entry(thread, pc: int) -> tuple[int, int] | None:
    """RtlLookupFunctionEntry without callbacks: (address of the RUNTIME_FUNCTION, image base) or None.

    Returns ("callback", table) through `callback_for` when a dynamic table's callback must be asked."""
    facts = image_facts(thread, pc)
    mem = Mem(thread.process)
    if facts is not None and facts["pdata"][0]:
        base = facts["base"]
        rva = pc - base
        start = base + facts["pdata"][0]
        n = facts["pdata"][1] // 12
        lo, hi = 0, n - 1
        while lo <= hi:
            mid = (lo + hi) // 2
            b, e = struct.unpack("<II", mem.read(start + mid * 12, 8))
            if rva < b:
                hi = mid - 1
            elif rva >= e:
                lo = mid + 1
            else:
                return _primary_entry(mem, start + mid * 12, base), base
        return None
    for t in state_of(thread.process).function_tables:
        if t["callback"] or not (t["low"] <= pc < t["high"]):
            continue
        base = t["base"]
        for i in range(t["count"]):
            a = t["table"] + i * 12
            b, e = struct.unpack("<II", mem.read(a, 8))
            if base + b <= pc < base + e:
                return _primary_entry(mem, a, base), base
    return None


def callback_table_for(thread, pc: int) -> dict | None:
    for t in state_of(thread.process).function_tables:
        if t["callback"] and t["low"] <= pc < t["high"]:
            return t
    return None


def _primary_entry(mem: Mem, entry: int, base: int) -> int:
    for _ in range(32):
        unwind = mem.u32(entry + 8)
        if not unwind & 1:
            return entry
        entry = base + (unwind & ~1)
    raise ExceptionError(STATUS_BAD_STACK, "RUNTIME_FUNCTION indirection loop")


def lookup_function_entry_gen(thread, pc: int):
    """RtlLookupFunctionEntry including RtlInstallFunctionTableCallback tables (calls the guest callback)."""
    r = lookup_function_entry(thread, pc)
    if r is not None:
        return r
    t = callback_table_for(thread, pc)
    if t is None:
        return None
    entry = yield GuestCall(t["callback_fn"], (pc, t["context"]))
    entry &= M64
    if not entry:
        return None
    return _primary_entry(Mem(thread.process), entry, t["base"]), t["base"]


# ================================================================================================ x64 unwinder
class UnwindResult(Record):
    _fields = ("handler", "handler_data", "establisher", "machine_frame")

    def __init__(self, handler: int = 0, handler_data: int = 0, establisher: int = 0,
                 machine_frame: bool = False) -> None:
        self.handler = handler
        self.handler_data = handler_data
        self.establisher = establisher
        self.machine_frame = machine_frame


def _epilog_unwind(mem: Mem, ctx: Context, pc: int, begin: int, end: int, frame_reg: int, ptrs) -> bool:
    """If pc is inside an epilogue (add/lea rsp; pops; ret/jmp), simulate the rest of it and return True."""
    try:
        code = mem.read(pc, 64)
    except ExceptionError:
        return False
    r = ctx.regs
    i = 0
    rsp = r["rsp"]
    # optional stack release
    rex = code[i] if code[i] & 0xF8 == 0x48 else None
    if rex is not None and code[i + 1] == 0x83 and code[i + 2] == 0xC4:
        rsp += code[i + 3]
        i += 4
    elif rex is not None and code[i + 1] == 0x81 and code[i + 2] == 0xC4:
        rsp += struct.unpack_from("<i", code, i + 3)[0]
        i += 7
    elif rex is not None and code[i + 1] == 0x8D:
        modrm = code[i + 2]
        reg = (modrm >> 3) & 7
        rm = (modrm & 7) | ((rex & 1) << 3)
        mod = modrm >> 6
        if reg != 4 or rm != frame_reg or frame_reg == 0 or (modrm & 7) == 4:
            return False
        if mod == 1:
            disp, ln = struct.unpack_from("<b", code, i + 3)[0], 4
        elif mod == 2:
            disp, ln = struct.unpack_from("<i", code, i + 3)[0], 7
        else:
            return False
        rsp = r[X64_GPRS[frame_reg]] + disp
        i += ln
    j = i
    pops = []
    while True:
        b = code[j]
        if 0x58 <= b <= 0x5F:
            pops.append(b - 0x58)
            j += 1
        elif b & 0xF0 == 0x40 and 0x58 <= code[j + 1] <= 0x5F:
            pops.append((code[j + 1] - 0x58) | ((b & 1) << 3))
            j += 2
        else:
            break
    b = code[j]
    is_ret = b == 0xC3 or (b == 0xF3 and code[j + 1] == 0xC3) or b == 0xC2
    is_jmp = False
    if b == 0xE9:
        target = (pc + j + 5 + struct.unpack_from("<i", code, j + 1)[0]) & M64
        is_jmp = not (begin <= target < end)
    elif b == 0xEB:
        target = (pc + j + 2 + struct.unpack_from("<b", code, j + 1)[0]) & M64
        is_jmp = not (begin <= target < end)
    elif b == 0xFF and code[j + 1] == 0x25 or (b & 0xF8 == 0x48 and code[j + 1] == 0xFF and code[j + 2] == 0x25):
        is_jmp = True
    if not (is_ret or is_jmp):
        return False
    if i == 0 and not pops and is_jmp:
        return False  # a bare jump inside a body is not an epilogue
    for reg in pops:
        if ptrs is not None:
            ptrs[reg] = rsp
        r[X64_GPRS[reg]] = mem.u64(rsp)
        rsp += 8
    r["rip"] = mem.u64(rsp)
    r["rsp"] = rsp + 8
    return True


def _opcode_slots(op: int, info: int, version: int) -> int:
    if op == 1:
        return 2 if info == 0 else 3
    if op in (4, 8):
        return 2
    if op == 6:
        return 2
    if op in (5, 9):
        return 3
    if op == 7:
        return 3
    return 1


def virtual_unwind(thread, handler_type: int, image_base: int, pc: int, entry: int, ctx: Context,
                   ptrs: dict | None = None, xmm_ptrs: dict | None = None) -> UnwindResult:
    """RtlVirtualUnwind: turn `ctx` (the frame of the function at `entry`) into its caller's context."""
    mem = Mem(thread.process)
    r = ctx.regs
    begin, end, unwind = struct.unpack("<III", mem.read(entry, 12))
    func_begin, func_end = image_base + begin, image_base + end
    info_addr = image_base + unwind
    hdr = mem.read(info_addr, 4)
    version, flags = hdr[0] & 7, hdr[0] >> 3
    if version not in (1, 2):
        raise ExceptionError(STATUS_BAD_STACK, f"unwind info version {version} at 0x{info_addr:x}")
    prolog_size, ncodes = hdr[1], hdr[2]
    frame_reg, frame_off = hdr[3] & 0xF, hdr[3] >> 4
    offset = pc - func_begin
    res = UnwindResult()
    # establisher frame
    if frame_reg == 0:
        res.establisher = r["rsp"]
    elif offset >= prolog_size or flags & UNW_FLAG_CHAININFO:
        res.establisher = (r[X64_GPRS[frame_reg]] - frame_off * 16) & M64
    else:
        codes = mem.read(info_addr + 4, 2 * ncodes)
        executed = False
        k = 0
        while k < ncodes:
            off_in, op = codes[2 * k], codes[2 * k + 1] & 0xF
            if op == 3 and offset >= off_in:
                executed = True
            k += _opcode_slots(op, codes[2 * k + 1] >> 4, version)
        res.establisher = ((r[X64_GPRS[frame_reg]] - frame_off * 16) & M64) if executed else r["rsp"]
    # epilogue: only for the primary function, outside the prologue
    if offset >= prolog_size and _epilog_unwind(mem, ctx, pc, func_begin, func_end, frame_reg, ptrs):
        return res
    cur_info, cur_offset, chained = info_addr, offset, False
    for _depth in range(32):
        hdr = mem.read(cur_info, 4)
        version, flags = hdr[0] & 7, hdr[0] >> 3
        prolog_size, ncodes = hdr[1], hdr[2]
        frame_reg, frame_off = hdr[3] & 0xF, hdr[3] >> 4
        codes = mem.read(cur_info + 4, 2 * ncodes)
        k = 0
        while k < ncodes:
            off_in, opb = codes[2 * k], codes[2 * k + 1]
            op, info = opb & 0xF, opb >> 4
            n = _opcode_slots(op, info, version)
            if k + n > ncodes:
                raise ExceptionError(STATUS_BAD_STACK, f"truncated unwind code at 0x{cur_info:x}")
            if not chained and cur_offset < prolog_size and off_in > cur_offset:
                k += n  # not executed yet (we are inside the prologue)
                continue
            rsp = r["rsp"]
            if op == 0:      # UWOP_PUSH_NONVOL
                if ptrs is not None:
                    ptrs[info] = rsp
                r[X64_GPRS[info]] = mem.u64(rsp)
                r["rsp"] = rsp + 8
            elif op == 1:    # UWOP_ALLOC_LARGE
                size = struct.unpack_from("<H", codes, 2 * k + 2)[0] * 8 if info == 0 else \
                    struct.unpack_from("<I", codes, 2 * k + 2)[0]
                r["rsp"] = rsp + size
            elif op == 2:    # UWOP_ALLOC_SMALL
                r["rsp"] = rsp + info * 8 + 8
            elif op == 3:    # UWOP_SET_FPREG
                r["rsp"] = (r[X64_GPRS[frame_reg]] - frame_off * 16) & M64
            elif op in (4, 5):   # UWOP_SAVE_NONVOL(_FAR)
                off = struct.unpack_from("<H", codes, 2 * k + 2)[0] * 8 if op == 4 else \
                    struct.unpack_from("<I", codes, 2 * k + 2)[0]
                a = res.establisher + off
                if ptrs is not None:
                    ptrs[info] = a
                r[X64_GPRS[info]] = mem.u64(a)
            elif op == 6:    # v2 UWOP_EPILOG (descriptor only); v1 UWOP_SAVE_XMM (obsolete, 64-bit)
                if version == 1:
                    a = res.establisher + struct.unpack_from("<H", codes, 2 * k + 2)[0] * 8
                    r[f"xmm{info}"] = mem.u64(a)
            elif op == 7:    # v1 UWOP_SAVE_XMM_FAR (obsolete)
                a = res.establisher + struct.unpack_from("<I", codes, 2 * k + 2)[0]
                r[f"xmm{info}"] = mem.u64(a)
            elif op in (8, 9):   # UWOP_SAVE_XMM128(_FAR)
                off = struct.unpack_from("<H", codes, 2 * k + 2)[0] * 16 if op == 8 else \
                    struct.unpack_from("<I", codes, 2 * k + 2)[0]
                a = res.establisher + off
                if xmm_ptrs is not None:
                    xmm_ptrs[info] = a
                r[f"xmm{info}"] = int.from_bytes(mem.read(a, 16), "little")
            elif op == 10:   # UWOP_PUSH_MACHFRAME
                if info:
                    rsp += 8
                r["rip"] = mem.u64(rsp)
                r["cs"] = mem.u64(rsp + 8) & 0xFFFF
                r["rflags"] = mem.u64(rsp + 16) & M32
                r["rsp"] = mem.u64(rsp + 24)
                r["ss"] = mem.u64(rsp + 32) & 0xFFFF
                res.machine_frame = True
            else:
                raise ExceptionError(STATUS_BAD_STACK, f"unknown unwind code {op} at 0x{cur_info:x}")
            k += n
        if not flags & UNW_FLAG_CHAININFO:
            if not chained and flags & handler_type and offset >= prolog_size:
                tail = cur_info + 4 + 2 * ((ncodes + 1) & ~1)
                res.handler = image_base + mem.u32(tail)
                res.handler_data = tail + 4
            break
        tail = cur_info + 4 + 2 * ((ncodes + 1) & ~1)
        _b, _e, nxt = struct.unpack("<III", mem.read(tail, 12))
        cur_info = image_base + (nxt & ~1 if not nxt & 1 else mem.u32(image_base + (nxt & ~1) + 8))
        chained = True
    else:
        raise ExceptionError(STATUS_BAD_STACK, "chained unwind info too deep")
    if not res.machine_frame:
        rsp = r["rsp"]
        r["rip"] = mem.u64(rsp)
        r["rsp"] = rsp + 8
    return res


def _x64_step(thread, ctx: Context) -> tuple[UnwindResult, int, int | None, int]:
    """Unwind one frame (no callbacks): (result, pc, function entry or None, image base)."""
    pc = ctx.regs["rip"]
    fe = lookup_function_entry(thread, pc)
    if fe is None:
        mem = Mem(thread.process)
        rsp = ctx.regs["rsp"]
        ctx.regs["rip"] = mem.u64(rsp)
        ctx.regs["rsp"] = rsp + 8
        return UnwindResult(establisher=rsp), pc, None, 0
    entry, base = fe
    return virtual_unwind(thread, UNW_FLAG_NHANDLER, base, pc, entry, ctx), pc, entry, base


def stack_limits(thread) -> tuple[int, int]:
    proc = thread.process
    arch = proc.arch
    mem = Mem(proc)
    is64 = arch == "x64"
    base = mem.ptr(thread.teb + TEB.offset(arch, "NtTib.StackBase"), is64)
    limit = mem.ptr(thread.teb + TEB.offset(arch, "NtTib.StackLimit"), is64)
    if thread.stack is not None:
        limit = min(limit, thread.stack.reserve_base)
    return limit, base



def _stack_top(thread, pc: int) -> bool:
    """pc is where a thread's or a fiber's start routine returns to: the end of the stack walk."""
    return pc == stub_address(thread, "WhThreadReturn") or pc == stub_address(thread, "WhFiberReturn")


# ================================================================================================ coroutine engine
HANDLER_STACK_MARGIN = 0x10000


def ensure_stack(thread, low: int) -> None:
    """Commit the thread's stack down to `low` (moving the guard page as MiCheckForUserStackOverflow does),
    so the records the dispatcher lays down and the handlers it calls have room, as the kernel probes the
    user stack before it delivers an exception."""
    st = thread.stack
    if st is None:
        return
    proc = thread.process
    from winhatch.ntstatus import STATUS_GUARD_PAGE_VIOLATION as GUARD
    target = max(low & ~0xFFF, st.reserve_base + 0x2000)
    disp = _machine(thread).dispatcher
    for _ in range(4096):
        if st.limit <= target:
            return
        guard = st.limit - 0x1000
        if proc.aspace.handle_fault(guard, 1) != GUARD:
            return
        if not disp._grow_stack(thread, guard):
            return


def _pending_list(thread) -> list[_PendingCall]:
    return state_of(thread.process).pending.setdefault(thread.tid, [])


#: exceptions raised by the dispatch machinery while it dispatches one it raised itself, before the exception
#: is taken as one that cannot be dispatched (unhandled)
MAX_NESTED_MACHINERY_FAULTS = 8


def start(thread, co: Coroutine) -> None:
    """Run a coroutine until its first guest call (or to its end)."""
    _drive(thread, co, None)


def _drive(thread, co: Coroutine, value) -> None:
    cpu = thread.process.cpu
    while True:
        try:
            req = co.gen.send(value)
        except StopIteration as stop:
            result = stop.value
            if isinstance(result, Context):
                if co.crossed is not None:      # the target is outside a handler's guest call: leave it
                    from winhatch.kernel.ke.dispatcher import GuestUnwind
                    raise GuestUnwind(result, co.crossed)
                cpu.restore_context(result)
            return
        except ExceptionError as e:
            # the machinery itself raises (STATUS_INVALID_DISPOSITION, STATUS_BAD_STACK, …): a new exception
            # from where the guest is now, chained to nothing.  When dispatching that one fails the same way
            # (unreadable unwind data, a broken stack), the exception cannot be dispatched at all: it is
            # unhandled and the process ends with it, instead of raising forever.
            depth = getattr(thread, "machinery_faults", 0)
            if depth >= MAX_NESTED_MACHINERY_FAULTS:
                from winhatch.kernel.ke.dispatcher import ExceptionInfo
                _machine(thread).dispatcher.unhandled_exception(
                    thread, ExceptionInfo(e.status, cpu.pc, description=f"{e} (while dispatching an exception)"))
            thread.machinery_faults = depth + 1
            try:
                raise_status(thread, e.status, cpu.save_context(), description=str(e))
            finally:
                thread.machinery_faults = depth
            return
        if isinstance(req, GuestCall):
            _make_call(thread, co, req)
            return
        raise TypeError(f"exception coroutine yielded {req!r}")


def _make_call(thread, co: Coroutine, req: GuestCall) -> None:
    proc = thread.process
    cpu = proc.cpu
    mem = Mem(proc)
    stub = stub_address(thread, RETURN_STUB)
    sp = min(co.sp, cpu.sp) - 0x40
    pend = _PendingCall(0, co)
    if cpu.is64:
        nargs = max(4, len(req.args))
        sp = (sp - 8 * nargs) & ~0xF
        for i, a in enumerate(req.args):
            if i >= 4:
                mem.w64(sp + 8 * i, a)
        for reg, a in zip(("rcx", "rdx", "r8", "r9"), req.args):
            cpu.set_reg(reg, a & M64)
        sp -= 8
        mem.w64(sp, stub)
    else:
        arch = "x86"
        if req.x86_nested:
            sp = (sp - 16) & ~0xF
            list_addr = thread.teb + TEB.offset(arch, "NtTib.ExceptionList")
            pend.saved_list = mem.u32(list_addr)
            mem.w32(sp, pend.saved_list)
            mem.w32(sp + 4, stub_address(thread, NESTED_STUB))
            pend.registration = sp
            mem.w32(list_addr, sp)
        sp = (sp - 4 * len(req.args)) & ~0xF
        for i, a in enumerate(req.args):
            mem.w32(sp + 4 * i, a)
        sp -= 4
        mem.w32(sp, stub)
    for reg, v in (req.regs or {}).items():
        cpu.set_reg(reg, v & (M64 if cpu.is64 else M32))
    pend.slot = sp
    lst = _pending_list(thread)
    # frames at or below this one are dead; the list is ordered by slot, highest first (every call is pushed
    # below the live ones), so they are at its end: popping keeps deep nesting linear
    while lst and lst[-1].slot <= sp:
        lst.pop()
    lst.append(pend)
    # the handler runs as KiUserExceptionDispatcher's callee does: DF clear (CLD) and TF clear (the CPU clears
    # TF when it enters the kernel; the saved CONTEXT keeps the program's flags)
    flags_reg = "rflags" if cpu.is64 else "eflags"
    cpu.set_reg(flags_reg, cpu.reg(flags_reg) & ~(EFLAGS_DF | EFLAGS_TF))
    ensure_stack(thread, sp - HANDLER_STACK_MARGIN)
    cpu.sp = sp
    cpu.pc = req.fn & (M64 if cpu.is64 else M32)


def on_return_stub(thread, va) -> None:
    """ntdll!WhExcReturn: a handler called by a coroutine returned: resume the coroutine."""
    cpu = thread.process.cpu
    sp = cpu.sp
    lst = _pending_list(thread)
    # the pending call with the highest slot below sp: the list is ordered by slot, highest first, so the
    # calls below sp are its tail and the first of them is the one
    k = len(lst)
    while k and lst[k - 1].slot < sp:
        k -= 1
    if k == len(lst):
        raise_status(thread, STATUS_BAD_STACK, cpu.save_context(), description="return to the exception "
                     "dispatcher without a pending handler call")
        return
    pend = lst[k]
    del lst[k:]
    if pend.registration is not None:
        Mem(thread.process).w32(thread.teb + TEB.offset("x86", "NtTib.ExceptionList"), pend.saved_list)
    value = cpu.retval
    _drive(thread, pend.co, value)


def on_nested_stub(thread, va) -> None:
    """ntdll!WhExcNested is a registration handler the walkers recognise; it is never called as code."""
    raise_status(thread, STATUS_INVALID_DISPOSITION, thread.process.cpu.save_context(),
                 description="internal nested-exception handler called directly")


def on_guard_stub(thread, va) -> None:
    """ntdll!WhCallGuard is a guarded call's registration handler the walkers recognise; it is never called as
    code."""
    raise_status(thread, STATUS_INVALID_DISPOSITION, thread.process.cpu.save_context(),
                 description="internal guarded-call handler called directly")


def _guard_for_registration(thread, reg: int):
    for g in call_guards(thread):
        if g.registration == reg:
            return g
    return None


def _guard_for_frame(thread, ctx: Context):
    """x64: the guarded call whose frame the walk has reached at ctx — at its return address (rsp just past the
    slot), or already above it (a callee frame without unwind data made the walk step over the return address):
    the innermost such call."""
    guards = call_guards(thread)
    if not guards:
        return None
    rsp = ctx.regs["rsp"]
    passed = [g for g in guards if g.slot and g.slot + 8 <= rsp]
    return min(passed, key=lambda g: g.slot) if passed else None


def pending_for_slot(thread, slot: int) -> _PendingCall | None:
    for p in _pending_list(thread):
        if p.slot == slot:
            return p
    return None


def pending_for_registration(thread, reg: int) -> _PendingCall | None:
    for p in _pending_list(thread):
        if p.registration == reg:
            return p
    return None


# ================================================================================================ dispatch
def user_exception_dispatcher(thread, info) -> bool:
    """Installed as the kernel dispatcher's user-mode exception dispatcher (KiUserExceptionDispatcher)."""
    proc = thread.process
    cpu = proc.cpu
    ctx = info.context if getattr(info, "context", None) is not None else cpu.save_context()
    if getattr(info, "context", None) is None:
        ctx.pc = info.address
    params = tuple(info.parameters) if getattr(info, "context", None) is not None else fault_parameters(info)
    rec = build_record(info.code, getattr(info, "flags", 0), info.address, params,
                       getattr(info, "record_chain", 0))
    if info.code == STATUS_SINGLE_STEP and getattr(info, "context", None) is None:
        # the debug trap: the kernel clears TF in the trap frame before dispatching STATUS_SINGLE_STEP, so the
        # CONTEXT the handlers see (and continue with) has it clear and the step traps once
        ctx = ctx.copy()
        flags_reg = "rflags" if ctx.is64 else "eflags"
        ctx.regs[flags_reg] = ctx.regs[flags_reg] & ~EFLAGS_TF
    return dispatch(thread, rec, ctx, description=info.description, info=info)


def dispatch(thread, rec: dict, ctx: Context, *, description: str = "", info=None, nested_in: int = 0) -> bool:
    """Lay the EXCEPTION_RECORD and CONTEXT on the guest stack (as the kernel does before
    KiUserExceptionDispatcher) and run RtlDispatchException."""
    proc = thread.process
    arch = proc.arch
    is64 = arch == "x64"
    mem = Mem(proc)
    rsize = EXCEPTION_RECORD.size(arch)
    csize = X64_CONTEXT_SIZE if is64 else X86_CONTEXT_SIZE
    sp = min(ctx.sp, proc.cpu.sp)
    ctx_addr = (sp - csize - 0x40) & ~0xF
    rec_addr = (ctx_addr - rsize) & ~0xF
    ep_addr = rec_addr - 0x20        # EXCEPTION_POINTERS
    dc_addr = (ep_addr - DISPATCHER_CONTEXT_SIZE) & ~0xF
    low = dc_addr - 0x10
    ensure_stack(thread, low - HANDLER_STACK_MARGIN)
    try:
        guest_ctx = bytearray(context_to_guest(ctx))
        hwbp.to_guest(thread, guest_ctx, arch)          # CONTEXT_ALL: the thread's debug registers too
        mem.write(ctx_addr, bytes(guest_ctx))
        mem.write(rec_addr, EXCEPTION_RECORD.pack(arch, **rec))
        mem.wptr(ep_addr, rec_addr, is64)
        mem.wptr(ep_addr + (8 if is64 else 4), ctx_addr, is64)
    except ExceptionError:
        # no room on the stack for the records: Windows cannot deliver it either; the process ends
        _unhandled(thread, rec, ctx, description or "no stack space to dispatch the exception", rec_addr=None)
    co = Coroutine(thread, None, "dispatch", low, resume_ctx=ctx.copy())
    co.gen = _dispatch_gen(thread, co, rec_addr, ctx_addr, ep_addr, dc_addr, ctx, description)
    start(thread, co)
    return True


def _dispatch_gen(thread, co: Coroutine, rec_addr, ctx_addr, ep_addr, dc_addr, ctx: Context, description):
    proc = thread.process
    arch = proc.arch
    is64 = arch == "x64"
    mem = Mem(proc)
    st = state_of(proc)
    machine = _machine(thread)

    def current_record():
        return read_record(mem, rec_addr, arch)

    def read_ctx():
        return context_from_guest(mem.read(ctx_addr, X64_CONTEXT_SIZE if is64 else X86_CONTEXT_SIZE), ctx)

    def continue_execution():
        rec = current_record()
        if rec["ExceptionFlags"] & EXCEPTION_NONCONTINUABLE:
            new = build_record(STATUS_NONCONTINUABLE_EXCEPTION, EXCEPTION_NONCONTINUABLE, rec["ExceptionAddress"],
                               (), rec_addr)
            dispatch(thread, new, read_ctx(), description="a handler continued a noncontinuable exception")
            return None
        # the debug registers of the CONTEXT the handler continues with become the thread's
        hwbp.from_guest(thread, mem.read(ctx_addr, X64_CONTEXT_SIZE if is64 else X86_CONTEXT_SIZE), arch)
        return read_ctx()

    # 1. vectored exception handlers
    for _h, fn in list(st.vectored):
        res = yield GuestCall(fn, (ep_addr,))
        res = _signed32(res)
        if res == EXCEPTION_CONTINUE_EXECUTION:
            yield from _call_continue_handlers(st, ep_addr)
            return continue_execution()
    # 2. frame-based handlers
    if is64:
        outcome = yield from _dispatch_x64(thread, co, rec_addr, ctx_addr, dc_addr, ctx)
    else:
        outcome = yield from _dispatch_x86(thread, co, rec_addr, ctx_addr, dc_addr, ctx)
    if outcome == "continue":
        yield from _call_continue_handlers(st, ep_addr)
        return continue_execution()
    if outcome == "guard":
        # a guarded call's frame (ntdll's LdrpCallInitRoutine around a DLL's entry point): its __except filter
        # takes every exception; the callee's frames are unwound (their termination handlers run) and the call
        # ends there, its caller learning the exception code
        g = co.guard
        code = current_record()["ExceptionCode"]
        resume = yield from _unwind_to_guard(thread, co, rec_addr, ctx, g)
        g.caught = code
        machine.events.emit(ev.EXCEPTION, "caught_by_caller", proc.pid, thread.tid, code=code,
                            code_name=status_name(code))
        return resume
    if outcome == "top":
        # 3. RtlUserThreadStart's frame: __except (RtlpUnhandledExceptionFilter(GetExceptionInformation())) —
        # kernelbase's UnhandledExceptionFilter unless the program set its own with RtlSetUnhandledExceptionFilter
        if st.rtl_filter is None:
            r = yield from unhandled_exception_filter_gen(thread, ep_addr)
        elif st.rtl_filter:
            r = _signed32((yield GuestCall(st.rtl_filter, (ep_addr,), x86_nested=True)))
        else:
            r = EXCEPTION_CONTINUE_SEARCH
        if r == EXCEPTION_CONTINUE_EXECUTION:
            return continue_execution()
        if r == EXCEPTION_EXECUTE_HANDLER:
            # the top-level handler runs: unwind every frame (termination handlers run), then the process ends
            code = current_record()["ExceptionCode"]
            yield from _unwind_to_top(thread, co, rec_addr, ctx)
            machine.events.emit(ev.EXCEPTION, "unhandled", proc.pid, thread.tid, code=code,
                                code_name=status_name(code), filter="execute_handler")
            _unhandled(thread, current_record(), ctx, description, rec_addr=rec_addr, kill_only=True)
    # 4. second chance: nobody handled it
    _unhandled(thread, current_record(), ctx, description, rec_addr=rec_addr)


def _signed32(v: int) -> int:
    v &= M32
    return v - (1 << 32) if v & 0x80000000 else v


def _call_continue_handlers(st: ExceptionState, ep_addr: int):
    for _h, fn in list(st.continue_handlers):
        res = yield GuestCall(fn, (ep_addr,))
        if _signed32(res) == EXCEPTION_CONTINUE_EXECUTION:
            break


def _dispatch_x86(thread, co, rec_addr, ctx_addr, dc_addr, ctx):
    proc = thread.process
    mem = Mem(proc)
    low, high = stack_limits(thread)
    list_addr = thread.teb + TEB.offset("x86", "NtTib.ExceptionList")
    reg = mem.u32(list_addr)
    nested_reg = 0
    nested_stub = stub_address(thread, NESTED_STUB)
    guard_stub = stub_address(thread, GUARD_STUB)
    for _ in range(100000):
        if reg in (X86_CHAIN_END, 0):
            return "top"
        if reg < low or reg + 8 > high or reg & 3:
            _set_flags(mem, rec_addr, "x86", EXCEPTION_STACK_INVALID)
            return "unhandled"
        handler = mem.u32(reg + 4)
        if handler == guard_stub:
            g = _guard_for_registration(thread, reg)
            if g is not None:
                co.guard = g
                return "guard"
        if handler == nested_stub:
            pend = pending_for_registration(thread, reg)
            if pend is not None and pend.co.kind == "dispatch" and pend.co.current.get("registration"):
                # RtlpExecuteHandler2's handler: ExceptionNestedException
                _set_flags(mem, rec_addr, "x86", EXCEPTION_NESTED_CALL)
                nested_reg = max(nested_reg, pend.co.current["registration"])
            reg = mem.u32(reg)
            continue
        if not _x86_handler_valid(thread, handler):
            _set_flags(mem, rec_addr, "x86", EXCEPTION_STACK_INVALID)
            return "unhandled"
        co.current = {"registration": reg}
        disp = yield GuestCall(handler, (rec_addr, reg, ctx_addr, dc_addr))
        disp = _signed32(disp)
        if nested_reg == reg:
            _clear_flags(mem, rec_addr, "x86", EXCEPTION_NESTED_CALL)
            nested_reg = 0
        if disp == ExceptionContinueExecution:
            return "continue"
        if disp == ExceptionContinueSearch:
            if read_record(mem, rec_addr, "x86")["ExceptionFlags"] & EXCEPTION_STACK_INVALID:
                return "unhandled"
        elif disp == ExceptionNestedException:
            _set_flags(mem, rec_addr, "x86", EXCEPTION_NESTED_CALL)
            nested_reg = max(nested_reg, mem.u32(dc_addr))
        else:
            raise ExceptionError(STATUS_INVALID_DISPOSITION, f"handler 0x{handler:x} returned {disp}")
        reg = mem.u32(reg)
    raise ExceptionError(STATUS_BAD_STACK, "exception registration chain does not end")


def _x86_handler_valid(thread, handler: int) -> bool:
    """RtlIsValidHandler: SafeSEH tables, /NO_SEH images, and handlers outside images in executable memory."""
    facts = image_facts(thread, handler)
    if facts is None:
        try:
            info = thread.process.aspace.query(handler)
            prot = getattr(info, "protect", getattr(info, "Protect", 0x20))
            return bool(prot & 0xF0)  # PAGE_EXECUTE*
        except Exception:
            return False
    if facts["no_seh"]:
        return False
    table = facts["seh_table"]
    if table is not None:
        return (handler - facts["base"]) in table
    return True


def _set_flags(mem, rec_addr, arch, bits):
    off = EXCEPTION_RECORD.offset(arch, "ExceptionFlags")
    mem.w32(rec_addr + off, mem.u32(rec_addr + off) | bits)


def _clear_flags(mem, rec_addr, arch, bits):
    off = EXCEPTION_RECORD.offset(arch, "ExceptionFlags")
    mem.w32(rec_addr + off, mem.u32(rec_addr + off) & ~bits)


def _write_dc(mem, dc_addr, *, pc, base, entry, establisher, target_ip, ctx_addr, handler, data, scope=0):
    mem.write(dc_addr, struct.pack("<QQQQQQQQQII", pc, base, entry or 0, establisher, target_ip, ctx_addr,
                                   handler, data, 0, scope, 0))


def _x64_walk_through_stub(thread, ctx: Context) -> tuple[str, _PendingCall | None]:
    """ctx is at a WhExcReturn frame: which coroutine's handler call is it?"""
    pend = pending_for_slot(thread, ctx.regs["rsp"] - 8)   # the stub's return slot was just popped
    return ("unknown", None) if pend is None else (pend.co.kind, pend)


def _dispatch_x64(thread, co, rec_addr, ctx_addr, dc_addr, ctx):
    proc = thread.process
    mem = Mem(proc)
    low, high = stack_limits(thread)
    stub = stub_address(thread, RETURN_STUB)
    cur = ctx.copy()
    nested_frame = 0
    for _ in range(100000):
        pc = cur.regs["rip"]
        if pc == stub:
            kind, pend = _x64_walk_through_stub(thread, cur)
            if pend is None or pend.co.resume_ctx is None:
                return "top"
            if kind == "dispatch":
                _set_flags(mem, rec_addr, "x64", EXCEPTION_NESTED_CALL)
                nested_frame = max(nested_frame, pend.co.current.get("establisher", 0))
            cur = pend.co.resume_ctx.copy()
            continue
        g = _guard_for_frame(thread, cur)
        if g is not None:
            co.guard = g
            return "guard"
        if pc == 0 or not (low <= cur.regs["rsp"] < high):
            return "top"
        if _stack_top(thread, pc):
            return "top"
        fe = yield from lookup_function_entry_gen(thread, pc)
        frame_ctx = cur.copy()
        if fe is None:
            rsp = cur.regs["rsp"]
            cur.regs["rip"] = mem.u64(rsp)
            cur.regs["rsp"] = rsp + 8
            continue
        entry, base = fe
        res = virtual_unwind(thread, UNW_FLAG_EHANDLER, base, pc, entry, cur)
        est = res.establisher
        if est < low or est > high or est & 7:
            _set_flags(mem, rec_addr, "x64", EXCEPTION_STACK_INVALID)
            return "unhandled"
        if res.handler:
            # DispatcherContext.ContextRecord: the unwound (caller's) context
            walk_ctx_addr = (dc_addr - X64_CONTEXT_SIZE - 0x10) & ~0xF
            mem.write(walk_ctx_addr, context_to_guest(cur))
            _write_dc(mem, dc_addr, pc=pc, base=base, entry=entry, establisher=est, target_ip=0,
                      ctx_addr=walk_ctx_addr, handler=res.handler, data=res.handler_data)
            co.sp = min(co.sp, walk_ctx_addr - 0x10)
            co.current = {"establisher": est, "pc": pc, "frame_ctx": frame_ctx, "entry": entry, "base": base,
                          "handler": res.handler, "data": res.handler_data}
            disp = yield GuestCall(res.handler, (rec_addr, est, ctx_addr, dc_addr))
            disp = _signed32(disp)
            if nested_frame == est:
                _clear_flags(mem, rec_addr, "x64", EXCEPTION_NESTED_CALL)
                nested_frame = 0
            if disp == ExceptionContinueExecution:
                return "continue"
            if disp == ExceptionContinueSearch:
                pass
            elif disp == ExceptionNestedException:
                _set_flags(mem, rec_addr, "x64", EXCEPTION_NESTED_CALL)
                nested_frame = max(nested_frame, mem.u64(dc_addr + 0x18))
            else:
                raise ExceptionError(STATUS_INVALID_DISPOSITION, f"handler 0x{res.handler:x} returned {disp}")
    raise ExceptionError(STATUS_BAD_STACK, "stack walk does not end")


# ================================================================================================ unwinding
def rtl_unwind_x64_gen(thread, co: Coroutine, target_frame: int, target_ip: int, rec_addr: int, retval: int,
                       ctx_addr: int, start_ctx: Context, *, to_top: bool = False, guard=None):
    """RtlUnwindEx: call every frame's unwind handler up to target_frame, then continue at target_ip."""
    proc = thread.process
    mem = Mem(proc)
    low, high = stack_limits(thread)
    stub = stub_address(thread, RETURN_STUB)
    flags_off = EXCEPTION_RECORD.offset("x64", "ExceptionFlags")
    base_flags = EXCEPTION_UNWINDING | (EXCEPTION_EXIT_UNWIND if not target_frame and not to_top and guard is None
                                        else 0)
    mem.w32(rec_addr + flags_off, (mem.u32(rec_addr + flags_off) & ~EXCEPTION_UNWIND) | base_flags)
    dc_addr = (ctx_addr - DISPATCHER_CONTEXT_SIZE - 0x10) & ~0xF
    co.sp = min(co.sp, dc_addr - 0x10)
    call_stub = stub_address(thread, "WhCallReturn")
    apc_stub = stub_address(thread, "KiUserApcDispatcher")
    cur = start_ctx.copy()          # the frame being unwound
    collided = None
    for _ in range(100000):
        if collided is not None:
            new, est, handler, data, pc, entry, base = collided
            collided = None
            extra = EXCEPTION_COLLIDED_UNWIND
        else:
            pc = cur.regs["rip"]
            if guard is not None and cur.regs["rsp"] >= guard.slot + 8:
                # the guarded call's frame: the unwind ends here (its caller's __except runs)
                mem.w32(rec_addr + flags_off, mem.u32(rec_addr + flags_off) & ~EXCEPTION_UNWIND)
                return cur
            if pc == stub:
                kind, pend = _x64_walk_through_stub(thread, cur)
                if pend is None or pend.co.resume_ctx is None:
                    break
                if kind == "unwind" and pend.co.current:
                    # a collided unwind: take over the unwind in progress at the frame it was processing
                    c = pend.co.current
                    cur = c["frame_ctx"].copy()
                    new = cur.copy()
                    virtual_unwind(thread, UNW_FLAG_NHANDLER, c["base"], c["pc"], c["entry"], new)
                    collided = (new, c["establisher"], c["handler"], c["data"], c["pc"], c["entry"], c["base"])
                    continue
                cur = pend.co.resume_ctx.copy()
                continue
            if pc == call_stub:
                # the return of a guest function a handler called (call_guest: an APC, a callback): the next
                # frame is the API's caller, as the handler's trap left it (sp at the API's return address)
                call = next((g for g in getattr(thread, "guest_calls", ()) if g[0] == cur.regs["rsp"] - 8), None)
                if call is None:
                    break
                _slot, level, saved = call
                if apc_stub <= saved.regs["rip"] < apc_stub + 0x50:
                    # KiUserApcDispatcher(CONTEXT *): its caller is the CONTEXT the kernel laid on the stack
                    # (kernel.ke.apc), which its NtContinue would resume — as its unwind data says on Windows
                    cur = context_from_guest(mem.read(saved.regs["rcx"], X64_CONTEXT_SIZE), saved)
                else:
                    cur = saved.copy()
                    cur.regs["rip"] = mem.u64(saved.regs["rsp"])
                    cur.regs["rsp"] = saved.regs["rsp"] + 8
                co.crossed = level if co.crossed is None else min(co.crossed, level)
                continue
            if pc == 0 or not (low <= cur.regs["rsp"] <= high) or _stack_top(thread, pc):
                break
            fe = yield from lookup_function_entry_gen(thread, pc)
            new = cur.copy()
            if fe is None:
                est = cur.regs["rsp"]
                new.regs["rip"] = mem.u64(est)
                new.regs["rsp"] = est + 8
                handler = data = 0
                entry = base = 0
            else:
                entry, base = fe
                res = virtual_unwind(thread, UNW_FLAG_UHANDLER, base, pc, entry, new)
                est, handler, data = res.establisher, res.handler, res.handler_data
            extra = 0
        if est < low or est > high or est & 7:
            raise ExceptionError(STATUS_BAD_STACK, f"establisher frame 0x{est:x} outside the stack")
        if handler:
            if target_frame and est > target_frame:
                raise ExceptionError(STATUS_INVALID_UNWIND_TARGET, f"unwind target 0x{target_frame:x} not on the stack")
            flags = base_flags | extra | (EXCEPTION_TARGET_UNWIND if est == target_frame else 0)
            mem.w32(rec_addr + flags_off, (mem.u32(rec_addr + flags_off) & ~EXCEPTION_UNWIND) | flags)
            mem.write(ctx_addr, context_to_guest(cur))
            _write_dc(mem, dc_addr, pc=pc, base=base, entry=entry, establisher=est, target_ip=target_ip,
                      ctx_addr=ctx_addr, handler=handler, data=data)
            co.current = {"establisher": est, "pc": pc, "frame_ctx": cur.copy(), "entry": entry, "base": base,
                          "handler": handler, "data": data}
            disp = _signed32((yield GuestCall(handler, (rec_addr, est, ctx_addr, dc_addr))))
            co.current = {}
            cur = context_from_guest(mem.read(ctx_addr, X64_CONTEXT_SIZE), cur)
            if disp == ExceptionCollidedUnwind:
                # the handler's DispatcherContext now describes the unwind it collided with
                d = struct.unpack("<QQQQQQQQQII", mem.read(dc_addr, DISPATCHER_CONTEXT_SIZE))
                cptr = d[5]
                cur = context_from_guest(mem.read(cptr, X64_CONTEXT_SIZE), cur)
                new = cur.copy()
                if d[2]:
                    virtual_unwind(thread, UNW_FLAG_NHANDLER, d[1], d[0], d[2], new)
                collided = (new, d[3], d[6], d[7], d[0], d[2], d[1])
                continue
            if disp != ExceptionContinueSearch:
                raise ExceptionError(STATUS_INVALID_DISPOSITION, f"unwind handler 0x{handler:x} returned {disp}")
        if target_frame and est == target_frame:
            cur.regs["rax"] = retval & M64
            cur.regs["rip"] = target_ip & M64
            mem.w32(rec_addr + flags_off, mem.u32(rec_addr + flags_off) & ~EXCEPTION_UNWIND)
            rec = read_record(mem, rec_addr, "x64")
            if rec["ExceptionCode"] == STATUS_LONGJUMP and rec["NumberParameters"] >= 1:
                # the unwind ends as RtlRestoreContext(Context, Record) does: a longjmp continues from the
                # jump buffer (its Rip, not TargetIp)
                from winhatch.win32.ntdll.seh import _apply_jump_buffer
                _apply_jump_buffer(mem, cur, rec["ExceptionInformation"][0])
            return cur
        cur = new
    if to_top:
        return None
    if target_frame:
        raise ExceptionError(STATUS_INVALID_UNWIND_TARGET, f"unwind target 0x{target_frame:x} not found")
    return None  # exit unwind: the caller raises the record


def rtl_unwind_x86_gen(thread, co: Coroutine, target_frame: int, rec_addr: int, ctx_addr: int, dc_addr: int,
                       *, to_top: bool = False):
    """x86 RtlUnwind: call the unwind handlers of the registrations above target_frame and unlink them."""
    proc = thread.process
    mem = Mem(proc)
    low, high = stack_limits(thread)
    list_addr = thread.teb + TEB.offset("x86", "NtTib.ExceptionList")
    flags_off = EXCEPTION_RECORD.offset("x86", "ExceptionFlags")
    base_flags = EXCEPTION_UNWINDING | (EXCEPTION_EXIT_UNWIND if not target_frame and not to_top else 0)
    mem.w32(rec_addr + flags_off, (mem.u32(rec_addr + flags_off) & ~EXCEPTION_UNWIND) | base_flags)
    nested_stub = stub_address(thread, NESTED_STUB)
    reg = mem.u32(list_addr)
    for _ in range(100000):
        if reg in (X86_CHAIN_END, 0) or reg == target_frame:
            break
        if target_frame and target_frame != X86_CHAIN_END and reg > target_frame:
            raise ExceptionError(STATUS_INVALID_UNWIND_TARGET, f"unwind target 0x{target_frame:x} not on the stack")
        if reg < low or reg + 8 > high or reg & 3:
            raise ExceptionError(STATUS_BAD_STACK, f"registration 0x{reg:x} outside the stack")
        handler = mem.u32(reg + 4)
        if handler == nested_stub:
            pend = pending_for_registration(thread, reg)
            if pend is not None and pend.co.kind == "unwind" and pend.co.current.get("registration"):
                reg = pend.co.current["registration"]   # collided: the other unwind's frame is done
        else:
            co.current = {"registration": reg}
            disp = _signed32((yield GuestCall(handler, (rec_addr, reg, ctx_addr, dc_addr))))
            co.current = {}
            if disp == ExceptionCollidedUnwind:
                reg = mem.u32(dc_addr)
            elif disp != ExceptionContinueSearch:
                raise ExceptionError(STATUS_INVALID_DISPOSITION, f"unwind handler 0x{handler:x} returned {disp}")
        nxt = mem.u32(reg)
        mem.w32(list_addr, nxt)
        reg = nxt
    mem.w32(rec_addr + flags_off, mem.u32(rec_addr + flags_off) & ~EXCEPTION_UNWIND)
    return reg


def _unwind_to_guard(thread, co: Coroutine, rec_addr: int, ctx: Context, g):
    """Unwind the frames below a guarded call's frame (RtlUnwind to it: termination handlers run) and return the
    CONTEXT that resumes at the call's return address (ntdll!WhCallReturn), where the call ends."""
    proc = thread.process
    mem = Mem(proc)
    stub = stub_address(thread, CALL_RETURN_STUB)
    if proc.arch == "x64":
        ctx_addr = (co.sp - X64_CONTEXT_SIZE - 0x20) & ~0xF
        co.sp = ctx_addr - 0x10
        cur = yield from rtl_unwind_x64_gen(thread, co, 0, 0, rec_addr, 0, ctx_addr, ctx, guard=g)
        resume = cur if cur is not None else ctx.copy()
        resume.regs["rip"] = stub
        resume.regs["rsp"] = g.slot + 8
    else:
        ctx_addr = (co.sp - X86_CONTEXT_SIZE - 0x20) & ~0xF
        dc_addr = ctx_addr - 0x10
        co.sp = dc_addr - 0x10
        mem.write(ctx_addr, context_to_guest(ctx))
        yield from rtl_unwind_x86_gen(thread, co, g.registration, rec_addr, ctx_addr, dc_addr)
        resume = ctx.copy()
        resume.regs["eip"] = stub
        resume.regs["esp"] = g.slot + 4
    return resume


def _unwind_to_top(thread, co: Coroutine, rec_addr: int, ctx: Context):
    """The top-level __except of RtlUnwind­ThreadStart runs its handler: unwind all frames first."""
    proc = thread.process
    mem = Mem(proc)
    try:
        if proc.arch == "x64":
            ctx_addr = (co.sp - X64_CONTEXT_SIZE - 0x20) & ~0xF
            co.sp = ctx_addr - 0x10
            yield from rtl_unwind_x64_gen(thread, co, 0, 0, rec_addr, 0, ctx_addr, ctx, to_top=True)
        else:
            ctx_addr = (co.sp - X86_CONTEXT_SIZE - 0x20) & ~0xF
            dc_addr = ctx_addr - 0x10
            co.sp = dc_addr - 0x10
            mem.write(ctx_addr, context_to_guest(ctx))
            yield from rtl_unwind_x86_gen(thread, co, X86_CHAIN_END, rec_addr, ctx_addr, dc_addr, to_top=True)
    except ExceptionError:
        pass  # a broken frame stops the unwind; the process ends anyway


# ================================================================================================ unhandled
def unhandled_exception_filter_gen(thread, ep_addr: int):
    """kernelbase!UnhandledExceptionFilter: the application's top-level filter, then the default action."""
    proc = thread.process
    st = state_of(proc)
    fn = st.unhandled_filter
    if proc.debug_port is not None:
        # a process being debugged: the exception goes to the debugger (second chance), not to the filter
        return EXCEPTION_CONTINUE_SEARCH
    if fn and thread.tid not in st.in_top_filter:
        # an exception that reaches the top while the filter itself runs (a filter at a bad address faults
        # at once) gets the default action — the process ends with that exception's code — instead of the
        # filter again: no endless re-entry, as on Windows, where such a process dies of 0xC0000005
        st.in_top_filter.add(thread.tid)
        try:
            r = _signed32((yield GuestCall(fn, (ep_addr,), x86_nested=True)))
        finally:
            st.in_top_filter.discard(thread.tid)
        if r in (EXCEPTION_EXECUTE_HANDLER, EXCEPTION_CONTINUE_EXECUTION):
            return r
    yield from _aedebug_gen(thread)
    return EXCEPTION_CONTINUE_SEARCH


AEDEBUG_KEY = r"HKLM\SOFTWARE\Microsoft\Windows NT\CurrentVersion\AeDebug"
EVENT_ALL_ACCESS = 0x1F0003
INFINITE = 0xFFFFFFFF


def _aedebug_command(template: str, pid: int, event: int) -> str:
    """The AeDebug Debugger value is a printf format taking the process id and the event handle."""
    import re
    args = iter((pid, event))

    def one(m):
        spec = m.group(0)
        if spec == "%%":
            return "%"
        v = next(args, 0)
        return f"{v:x}" if spec[-1] in "xX" else f"{v:X}" if spec[-1] == "X" else str(v)
    return re.sub(r"%%|%[-+ #0]*\d*(?:l|ll|I64|h)?[dIiuxXp]", one, template)


def _aedebug_gen(thread):
    """The just-in-time debugger (the AeDebug key: Auto "1" and a Debugger command line): started with the
    crashing process's id and an inheritable event, which the debugger sets once it has attached; the thread
    waits for the event or the debugger's end, then lets the exception go on (its second chance then reaches
    the debugger). Windows 10's default has no Debugger value: nothing is started."""
    machine = _machine(thread)
    proc = thread.process
    try:
        key = machine.registry.open_key(AEDEBUG_KEY, wow64=proc.arch == "x86")
        debugger = key.get("Debugger")
        auto = key.get("Auto")
    except Exception:  # no key, or an unreadable value: no JIT debugger
        return
    if not isinstance(debugger, str) or not debugger.strip() or str(auto).strip() != "1":
        return
    from winhatch.kernel.ke.sync import Event
    from winhatch.kernel.ps.create import CreateProcessInternalW, StartupInfo
    from winhatch.ldr import loader
    event = Event(machine, True, False)
    hev = proc.handles.insert(event, EVENT_ALL_ACCESS, inherit=True)
    res = CreateProcessInternalW(machine, thread, None, _aedebug_command(debugger, proc.pid, hev),
                                 inherit_handles=True, startup=StartupInfo())
    if not res.ok:
        proc.handles.close(hev)
        return
    if res.thread is not None and res.thread.runnable:
        machine.dispatcher.thread_ready(res.thread)
    st = loader.state_of(proc)
    heap = st.heaps.process_heap
    ps = 8 if proc.arch == "x64" else 4
    arr = heap.alloc(2 * ps)
    mem = Mem(proc)
    mem.wptr(arr, hev, ps == 8)
    mem.wptr(arr + ps, res.process_handle, ps == 8)
    wait = loader._export_address(st, st.by_name["kernel32.dll"], name="WaitForMultipleObjects")
    try:
        yield GuestCall(wait, (2, arr, 0, INFINITE), x86_nested=True)
    finally:
        heap.free_block(arr)
        for h in (hev, res.process_handle, res.thread_handle):
            try:
                proc.handles.close(h)
            except Exception:  # closed by the guest meanwhile
                pass


def _unhandled(thread, rec: dict, ctx: Context, description: str, *, rec_addr, kill_only: bool = False):
    from winhatch.kernel.ke.dispatcher import ExceptionInfo
    machine = _machine(thread)
    params = tuple(rec.get("ExceptionInformation", ()))
    info = ExceptionInfo(rec["ExceptionCode"], rec["ExceptionAddress"], None, None, description, params)
    info.flags = rec.get("ExceptionFlags", 0)
    info.context = ctx          # a debugger's second chance continued with DBG_CONTINUE resumes it
    if kill_only:
        # a top-level filter chose EXCEPTION_EXECUTE_HANDLER: RtlUserThreadStart's __except ends the process
        from winhatch.kernel.ke.dispatcher import ProcessExit
        raise ProcessExit(rec["ExceptionCode"])
    if rec["ExceptionCode"] in (STATUS_ACCESS_VIOLATION, STATUS_GUARD_PAGE_VIOLATION) and len(params) >= 2:
        info.access = {0: "read", 1: "write", 8: "execute"}.get(params[0], "read")
        info.fault_address = params[1]
    record = {"code": rec["ExceptionCode"], "flags": rec["ExceptionFlags"], "address": rec["ExceptionAddress"],
              "parameters": list(params), "chained_record": rec.get("ExceptionRecord", 0),
              "record_address": rec_addr}
    machine.dispatcher.unhandled_exception(thread, info, record=record, stack=stack_walk(thread, ctx),
                                           context={k: v for k, v in ctx.regs.items() if not k.startswith(("fp", "xmm"))})


def stack_walk(thread, ctx: Context, limit: int = 64) -> list[dict]:
    """Frames from ctx upwards (x64: the unwinder; x86: the EBP chain), each {"pc", "where"}."""
    proc = thread.process
    images = proc.subsystem["images"]
    out = []
    try:
        low, high = stack_limits(thread)
    except ExceptionError:
        return out
    mem = Mem(proc)
    c = ctx.copy()
    if proc.arch == "x64":
        for _ in range(limit):
            pc = c.regs["rip"]
            if not pc:
                break
            out.append({"pc": pc, "where": images.describe(pc), "sp": c.regs["rsp"]})
            try:
                if pc == stub_address(thread, RETURN_STUB):
                    pend = pending_for_slot(thread, c.regs["rsp"] - 8)
                    if pend is None or pend.co.resume_ctx is None:
                        break
                    c = pend.co.resume_ctx.copy()
                    continue
                if _stack_top(thread, pc):
                    break
                _x64_step(thread, c)
            except ExceptionError:
                break
            if not (low <= c.regs["rsp"] <= high):
                break
        return out
    pc, ebp = c.regs["eip"], c.regs["ebp"]
    out.append({"pc": pc, "where": images.describe(pc), "sp": c.regs["esp"]})
    for _ in range(limit - 1):
        if not (low <= ebp < high - 8) or ebp & 3:
            break
        try:
            ret, nxt = mem.u32(ebp + 4), mem.u32(ebp)
        except ExceptionError:
            break
        if not ret:
            break
        out.append({"pc": ret, "where": images.describe(ret), "sp": ebp + 8})
        if nxt <= ebp:
            break
        ebp = nxt
    return out


def raise_status(thread, code: int, ctx: Context, *, flags: int = EXCEPTION_NONCONTINUABLE, chain: int = 0,
                 params=(), description: str = "") -> None:
    """RtlRaiseStatus from inside the exception machinery (through the kernel, so it is logged)."""
    from winhatch.kernel.ke.dispatcher import ExceptionInfo
    info = ExceptionInfo(code, ctx.pc, None, None, description, tuple(params))
    info.flags = flags
    info.record_chain = chain
    info.context = ctx
    _machine(thread).dispatcher.raise_exception(thread, info)


# ================================================================================================ registration
def install(machine) -> None:
    """Wire the dispatcher and ntdll's internal stubs into a machine (called from the subsystem setup)."""
    machine.dispatcher.user_exception_dispatcher = user_exception_dispatcher
    machine.traps.register("ntdll.dll", RETURN_STUB, on_return_stub)
    machine.traps.register("ntdll.dll", NESTED_STUB, on_nested_stub)
    machine.traps.register("ntdll.dll", GUARD_STUB, on_guard_stub)
