"""MSVC C++ exceptions (_CxxThrowException, __CxxFrameHandler3, x64 __CxxFrameHandler4) and the x86 SEH frame
handlers of MSVC's CRT (_except_handler3, _except_handler4_common, _local_unwind2/4, _global_unwind2).

C++ exceptions. `throw x` builds x in the thrower's frame and calls _CxxThrowException(&x, &ThrowInfo), which
raises 0xE06D7363 (noncontinuable) with the parameters magic 0x19930520, the object, the ThrowInfo and on x64
the image base the ThrowInfo's RVAs are relative to. Each function with try blocks or objects to destroy
has __CxxFrameHandler3 as its frame handler (x86: a per-function thunk loads the FuncInfo into eax; x64: the
FuncInfo RVA is the unwind info's handler data). FuncInfo: magic, maxState, the unwind map (per state: the
state before it and the destructor funclet), the try-block map (tryLow, tryHigh, catchHigh, the catch
handlers: adjectives, type descriptor, catch-object offset, handler funclet, x64: the offset where a catch
funclet keeps its parent's frame) and on x64 the IP-to-state map (x86 keeps the state in the registration
node: [node+8]).

Search (dispatch phase): the frame's current state picks the try blocks (tryLow <= state <= tryHigh, inner
ones first); a handler matches a CatchableType of the ThrowInfo by type descriptor (same descriptor or same
decorated name), catch(...) matches everything; by-reference-only types need a reference, a const object a
const handler. Catching (as the CRT does, in this order): the catch object is built (reference: the adjusted
address; simple types: a copy with pointers adjusted; classes: the copy constructor with the adjusted
source), the nested frames are unwound (RtlUnwind(Ex): their destructors run), this frame is unwound to the
try's state, the catch funclet runs (x86: with ebp = the node + 0xC; x64: rdx = the parent's establisher
frame) on the stack below the thrower (so the exception object stays valid), returns the continuation
address, the exception object is destroyed (ThrowInfo's destructor) and the frame continues there (x86:
esp = the node's saved esp). `throw;` (_CxxThrowException(NULL, NULL)) raises the innermost caught
exception again, which then stays alive for its new catch.

x64 catch funclets are frames of their own: a walk from inside one reaches, through the call's return stub,
the catching frame at its throw site (as through RtlRestoreContext's consolidation frame on Windows). The
funclet frame's state (from the IP map) already covers the enclosing try blocks of the same function, so the
catching frame itself is passed over while one of its catches runs.

FH4 (x64 __CxxFrameHandler4, vcruntime140_1.dll): the same tables in a compressed encoding, one FuncInfo4
per function or funclet (HandlerData: its RVA): a header byte (isCatch, isSeparated, BBT, unwind map, try
map, EHs, noexcept), then the unwind map, try map and IP-to-state map RVAs and for a catch funclet the
offset of its parent's frame pointer. Unwind entries chain to the next state by a backward byte offset and
are funclets or destructors of a frame object (or of the object a frame slot points to); IP maps are
deltas from the function's start (isSeparated: per code segment); handlers may list continuation
addresses (a catch funclet then returns an index). Tables4 decodes it into the FH3 shapes, so search,
catch objects, unwinding and catching are the FH3 code.

x86 SEH frames (cl.exe's __try): the registration is {Next, Handler, ScopeTable, TryLevel} with the saved
esp and the EXCEPTION_POINTERS slot below it; filters, __except blocks and __finally blocks run with
ebp = node + 0x10. _except_handler3 scope records are {EnclosingLevel, Filter, Handler} (Filter 0: a
__finally); _except_handler4's scope table is encoded (XOR __security_cookie) and starts with the GS and EH
cookie offsets the handler checks with __security_check_cookie before it does anything.
"""
from __future__ import annotations

import struct

from winhatch.kernel.structs import EXCEPTION_RECORD, TEB
from winhatch.win32.ntdll import exceptions as X
from winhatch.win32.ntdll.exceptions import GuestCall, Mem
from winhatch.win32.api import api
from winhatch.win32.ntdll.seh import _raise, caller_context, run_api_coroutine

CXX_CODE = 0xE06D7363
CXX_MAGICS = (0x19930520, 0x19930521, 0x19930522)
THROW_MAGIC = 0x19930520

HT_IsConst, HT_IsVolatile, HT_IsUnaligned, HT_IsReference = 1, 2, 4, 8
HT_IsStdDotDot = 0x40
CT_IsSimpleType, CT_ByReferenceOnly, CT_HasVirtualBase = 1, 2, 4
TI_IsConst, TI_IsVolatile, TI_IsUnaligned = 1, 2, 4

EH_EMPTY_STATE = -1
M32 = 0xFFFFFFFF
M64 = 0xFFFFFFFFFFFFFFFF

VC = ("vcruntime140.dll", "msvcrt.dll")


def _s32(v: int) -> int:
    v &= M32
    return v - (1 << 32) if v & 0x80000000 else v


# ================================================================================================ state
def _catches(thread) -> list[dict]:
    """The catch blocks running on a thread, outermost first."""
    st = thread.process.subsystem.setdefault("msvc_eh", {})
    return st.setdefault(thread.tid, [])


# ================================================================================================ tables
class Tables:
    """Reads the MSVC EH data of one image (x86: pointers; x64: RVAs from `base`)."""

    def __init__(self, mem: Mem, is64: bool, base: int):
        self.mem, self.is64, self.base = mem, is64, base

    def p(self, a: int) -> int:
        v = self.mem.u32(a)
        if self.is64:
            return self.base + v if v else 0
        return v

    def func_info(self, fi: int) -> dict:
        m = self.mem
        d = {"magic": m.u32(fi) & 0x1FFFFFFF, "max_state": _s32(m.u32(fi + 4)), "unwind_map": self.p(fi + 8),
             "n_try": m.u32(fi + 12), "try_map": self.p(fi + 16), "n_ip": m.u32(fi + 20),
             "ip_map": self.p(fi + 24) if self.is64 else 0, "eh_flags": 0}
        if d["magic"] >= 0x19930522:
            d["eh_flags"] = m.u32(fi + (36 if self.is64 else 32))
        return d

    def unwind_entry(self, fi: dict, state: int) -> tuple[int, int, int, int]:
        """(the state before it, kind, action, object offset); FH3 actions are funclets."""
        a = fi["unwind_map"] + 8 * state
        action = self.p(a + 4)
        return _s32(self.mem.u32(a)), (UW_FUNCLET if action else UW_NONE), action, 0

    def try_blocks(self, fi: dict) -> list[dict]:
        out = []
        hsize = 20 if self.is64 else 16
        for i in range(min(fi["n_try"], 0x10000)):
            a = fi["try_map"] + 20 * i
            low, high, chigh, n = struct.unpack("<iiiI", self.mem.read(a, 16))
            harr = self.p(a + 16)
            handlers = []
            for j in range(min(n, 0x1000)):
                h = harr + hsize * j
                ht = {"adj": self.mem.u32(h), "type": self.p(h + 4), "disp_obj": _s32(self.mem.u32(h + 8)),
                      "handler": self.p(h + 12), "disp_frame": self.mem.u32(h + 16) if self.is64 else 0}
                handlers.append(ht)
            out.append({"index": i, "low": low, "high": high, "catch_high": chigh, "handlers": handlers})
        return out

    def ip_state(self, fi: dict, pc: int) -> int:
        state = EH_EMPTY_STATE
        rva = pc - self.base
        for i in range(min(fi["n_ip"], 0x100000)):
            ip, st = struct.unpack("<Ii", self.mem.read(fi["ip_map"] + 8 * i, 8))
            if ip > rva:
                break
            state = st
        return state

    def type_name(self, td: int) -> bytes:
        ps = 8 if self.is64 else 4
        return _cstr(self.mem, td + 2 * ps)


# FH4 (x64 __CxxFrameHandler4, vcruntime140_1.dll): the same tables, compressed. Integers are either RVAs
# (4 bytes) or compressed unsigned values whose first byte's low bits give the length: ...0 one byte (7
# bits), ..01 two (14), .011 three (21), 0111 four (28), 1111 five (the 32-bit value follows).
FI4_IS_CATCH, FI4_IS_SEPARATED, FI4_BBT, FI4_UNWIND_MAP, FI4_TRY_MAP, FI4_EHS, FI4_NOEXCEPT = \
    0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40
HT4_ADJECTIVES, HT4_DISP_TYPE, HT4_DISP_CATCH_OBJ, HT4_CONT_IS_RVA = 0x01, 0x02, 0x04, 0x08
UW_NONE, UW_DTOR_OBJ, UW_DTOR_PTR_OBJ, UW_FUNCLET = 0, 1, 2, 3     # UnwindMapEntry4 types (low 2 bits)


class Reader4:
    """A cursor over FH4 data in guest memory."""

    def __init__(self, mem: Mem, a: int):
        self.mem, self.a = mem, a

    def unsigned(self) -> int:
        b = self.mem.read(self.a, 5)
        first = b[0]
        if not first & 1:
            n, v = 1, first >> 1
        elif first & 3 == 1:
            n, v = 2, int.from_bytes(b[:2], "little") >> 2
        elif first & 7 == 3:
            n, v = 3, int.from_bytes(b[:3], "little") >> 3
        elif first & 15 == 7:
            n, v = 4, int.from_bytes(b[:4], "little") >> 4
        else:
            n, v = 5, int.from_bytes(b[1:5], "little")
        self.a += n
        return v

    def int32(self) -> int:
        v = _s32(self.mem.u32(self.a))
        self.a += 4
        return v

    def byte(self) -> int:
        v = self.mem.u8(self.a)
        self.a += 1
        return v


class Tables4(Tables):
    """FH4 FuncInfo4 of one function (or funclet) of an x64 image: decoded into the FH3 shapes, so the frame
    handler's search, catch and unwind code is the same."""

    def __init__(self, mem: Mem, base: int, func_begin_rva: int):
        super().__init__(mem, True, base)
        self.func_begin = func_begin_rva

    def rva(self, v: int) -> int:
        return self.base + (v & M32) if v else 0

    def func_info(self, fi: int) -> dict:
        r = Reader4(self.mem, fi)
        header = r.byte()
        d = {"magic": THROW_MAGIC, "header": header, "eh_flags": 0, "unwind": [], "tries": [], "ips": [],
             "disp_frame": None}
        if header & FI4_BBT:
            r.unsigned()
        if header & FI4_UNWIND_MAP:
            d["unwind"] = self._unwind_map(self.rva(r.int32()))
        if header & FI4_TRY_MAP:
            d["tries"] = self._try_map(self.rva(r.int32()))
        d["ips"] = self._ip_map(self.rva(r.int32()), header & FI4_IS_SEPARATED)
        if header & FI4_IS_CATCH:
            d["disp_frame"] = r.unsigned()
        d["max_state"] = len(d["unwind"])
        d["n_try"] = len(d["tries"])
        return d

    def _unwind_map(self, a: int) -> list[tuple[int, int, int, int]]:
        if not a:
            return []
        r = Reader4(self.mem, a)
        n = r.unsigned()
        raw, starts = [], {}
        for i in range(min(n, 0x10000)):
            start = r.a
            starts[start] = i
            v = r.unsigned()
            kind, back = v & 3, v >> 2
            action = obj = 0
            if kind in (UW_DTOR_OBJ, UW_DTOR_PTR_OBJ):
                action = self.rva(r.int32())
                obj = r.unsigned()
            elif kind == UW_FUNCLET:
                action = self.rva(r.int32())
            raw.append((start, back, kind, action, obj))
        # the next state's entry is `back` bytes before this entry's start; none there: the empty state
        return [((starts.get(start - back, EH_EMPTY_STATE) if back else EH_EMPTY_STATE), kind, action, obj)
                for start, back, kind, action, obj in raw]

    def _try_map(self, a: int) -> list[dict]:
        if not a:
            return []
        r = Reader4(self.mem, a)
        out = []
        for i in range(min(r.unsigned(), 0x10000)):
            low, high, chigh = r.unsigned(), r.unsigned(), r.unsigned()
            harr = self.rva(r.int32())
            handlers = []
            if harr:
                h = Reader4(self.mem, harr)
                for _ in range(min(h.unsigned(), 0x1000)):
                    hdr = h.byte()
                    ht = {"adj": h.unsigned() if hdr & HT4_ADJECTIVES else 0,
                          "type": self.rva(h.int32()) if hdr & HT4_DISP_TYPE else 0,
                          "disp_obj": h.unsigned() if hdr & HT4_DISP_CATCH_OBJ else 0,
                          "handler": self.rva(h.int32()), "disp_frame": 0, "conts": []}
                    for _ in range((hdr >> 4) & 3):
                        ht["conts"].append(self.rva(h.int32()) if hdr & HT4_CONT_IS_RVA
                                           else self.base + self.func_begin + h.unsigned())
                    handlers.append(ht)
            out.append({"index": i, "low": low, "high": high, "catch_high": chigh, "handlers": handlers})
        return out

    def _ip_map(self, a: int, separated: bool) -> list[tuple[int, int]]:
        """[(rva, state)] of this function: offsets are deltas from the function start (a separated map
        first lists {segment start RVA, its map} pairs: the segment that starts this function)."""
        if not a:
            return []
        if separated:
            r = Reader4(self.mem, a)
            for _ in range(min(r.unsigned(), 0x10000)):
                seg, m = r.int32(), r.int32()
                if seg == self.func_begin:
                    a = self.rva(m)
                    break
            else:
                return []
        r = Reader4(self.mem, a)
        out, ip = [], self.func_begin
        for _ in range(min(r.unsigned(), 0x100000)):
            ip += r.unsigned()
            out.append((ip, r.unsigned() - 1))
        return out

    def unwind_entry(self, fi: dict, state: int) -> tuple[int, int, int, int]:
        return fi["unwind"][state]

    def try_blocks(self, fi: dict) -> list[dict]:
        return fi["tries"]

    def ip_state(self, fi: dict, pc: int) -> int:
        state = EH_EMPTY_STATE
        rva = pc - self.base
        for ip, st in fi["ips"]:
            if ip > rva:
                break
            state = st
        return state


def _cstr(mem: Mem, a: int, limit: int = 4096) -> bytes:
    out = bytearray()
    while len(out) < limit:
        try:
            chunk = mem.read(a + len(out), 64)
        except X.ExceptionError:       # the name ends near the end of a mapping: byte by byte
            chunk = mem.read(a + len(out), 1)
        i = chunk.find(b"\0")
        if i >= 0:
            out += chunk[:i]
            break
        out += chunk
    return bytes(out)


class Throw:
    """The C++ exception of an EXCEPTION_RECORD: object, ThrowInfo and its catchable types."""

    def __init__(self, mem: Mem, is64: bool, rec: dict):
        params = rec["ExceptionInformation"]
        self.obj = params[1]
        self.ti = params[2]
        self.base = params[3] if is64 and len(params) > 3 else 0
        t = Tables(mem, is64, self.base)
        self.tables = t
        self.attributes = mem.u32(self.ti)
        self.dtor = t.p(self.ti + 4)
        cta = t.p(self.ti + 12)
        self.types = []
        for i in range(min(mem.u32(cta), 0x1000)):
            ct = t.p(cta + 4 + 4 * i)
            props, ptype, mdisp, pdisp, vdisp, size = struct.unpack("<IIiiii", mem.read(ct, 24))
            self.types.append({"props": props, "type": t.p(ct + 4), "mdisp": mdisp, "pdisp": pdisp,
                               "vdisp": vdisp, "size": size, "copy": t.p(ct + 24)})


def is_cxx(rec: dict) -> bool:
    return (rec["ExceptionCode"] == CXX_CODE and rec["NumberParameters"] >= 3
            and rec["ExceptionInformation"][0] in CXX_MAGICS and rec["ExceptionInformation"][2] != 0)


def _type_matches(mem: Mem, fi_tables: Tables, ht: dict, thr: Throw) -> dict | bool | None:
    """The CatchableType a handler catches (True for catch(...)), or None."""
    if not ht["type"] or ht["adj"] & HT_IsStdDotDot:
        return True
    name = fi_tables.type_name(ht["type"])
    if not name:
        return True
    for ct in thr.types:
        if ct["type"] != ht["type"] and thr.tables.type_name(ct["type"]) != name:
            continue
        if ct["props"] & CT_ByReferenceOnly and not ht["adj"] & HT_IsReference:
            continue
        if thr.attributes & TI_IsConst and not ht["adj"] & HT_IsConst:
            continue
        if thr.attributes & TI_IsVolatile and not ht["adj"] & HT_IsVolatile:
            continue
        if thr.attributes & TI_IsUnaligned and not ht["adj"] & HT_IsUnaligned:
            continue
        return ct
    return None


def adjust_pointer(mem: Mem, is64: bool, p: int, ct: dict) -> int:
    r = p + ct["mdisp"]
    if ct["pdisp"] >= 0:
        vbtable = mem.ptr(p + ct["pdisp"], is64)
        r += _s32(mem.u32(vbtable + ct["vdisp"])) + ct["pdisp"]
    return r & (M64 if is64 else M32)


def _thiscall(is64: bool, fn: int, this: int, *args) -> GuestCall:
    if is64:
        return GuestCall(fn, (this, *args))
    return GuestCall(fn, tuple(args), regs={"ecx": this})


def build_catch_object(mem: Mem, is64: bool, ht: dict, ct, thr: Throw, dest: int):
    """__BuildCatchObject: the catch parameter, before anything is unwound."""
    if ct is True or not ht["disp_obj"]:
        return
    ps = 8 if is64 else 4
    if ht["adj"] & HT_IsReference:
        mem.wptr(dest, adjust_pointer(mem, is64, thr.obj, ct), is64)
    elif ct["props"] & CT_IsSimpleType:
        data = mem.read(thr.obj, ct["size"])
        mem.write(dest, data)
        if ct["size"] == ps:
            v = mem.ptr(dest, is64)
            if v:
                mem.wptr(dest, adjust_pointer(mem, is64, v, ct), is64)
    else:
        src = adjust_pointer(mem, is64, thr.obj, ct)
        if ct["copy"]:
            if ct["props"] & CT_HasVirtualBase:
                yield _thiscall(is64, ct["copy"], dest, src, 1)
            else:
                yield _thiscall(is64, ct["copy"], dest, src)
        else:
            mem.write(dest, mem.read(src, ct["size"]))


def destroy_object(is64: bool, obj: int, dtor: int):
    if obj and dtor:
        yield _thiscall(is64, dtor, obj)


# ================================================================================================ throw
@api(VC, "void WINAPI _CxxThrowException(void *pExceptionObject, void *pThrowInfo)", calls_guest=True)
def _CxxThrowException(c, obj, ti):
    params = None
    if not obj and not ti:
        live = _catches(c.thread)
        if not live:
            from winhatch.win32.msvcrt.ucrtbase import terminate
            terminate(c)       # `throw;` outside a catch block
            return
        r = live[-1]
        r["rethrown"] = True
        params = [THROW_MAGIC, r["obj"], r["ti"]] + ([r["base"]] if c.cpu.is64 else [])
    if params is None:
        params = [THROW_MAGIC, obj, ti]
        if c.cpu.is64:
            img = c.proc.subsystem["images"].find(ti)
            params.append(img.base if img is not None else 0)
    rec = X.build_record(CXX_CODE, X.EXCEPTION_NONCONTINUABLE, c.cpu.pc, params)
    _raise(c, rec, caller_context(c), "C++ exception")


# ================================================================================================ frame handler
def _dc(mem: Mem, dc_addr: int) -> dict:
    v = struct.unpack("<QQQQQQQQQII", mem.read(dc_addr, X.DISPATCHER_CONTEXT_SIZE))
    return {"ControlPc": v[0], "ImageBase": v[1], "FunctionEntry": v[2], "EstablisherFrame": v[3],
            "TargetIp": v[4], "ContextRecord": v[5], "HandlerData": v[7]}


class Frame:
    """One frame __CxxFrameHandler3 was called for."""

    def __init__(self, c, rec_addr: int, frame: int, dc_addr: int, fi_addr: int | None, fh4: bool = False):
        self.c = c
        self.thread = c.thread
        self.is64 = c.cpu.is64
        self.mem = mem = Mem(c.proc)
        self.rec_addr = rec_addr
        self.frame = frame
        self.rec = X.read_record(mem, rec_addr, c.arch)
        if self.is64:
            dc = self.dc = _dc(mem, dc_addr)
            begin_rva = mem.u32(dc["FunctionEntry"]) if dc["FunctionEntry"] else 0
            self.tables = Tables4(mem, dc["ImageBase"], begin_rva) if fh4 else Tables(mem, True, dc["ImageBase"])
            self.fi_addr = dc["ImageBase"] + mem.u32(dc["HandlerData"])
        else:
            self.dc = None
            self.tables = Tables(mem, False, 0)
            self.fi_addr = fi_addr
        self.fi = self.tables.func_info(self.fi_addr)
        self.tries = self.tables.try_blocks(self.fi)
        self.parent = frame          # the establisher frame of the function (catch funclets: their parent's)
        self.funclet = None          # x64: the HandlerType whose funclet this frame is
        if fh4:
            if self.fi["disp_frame"] is not None:      # a catch funclet: its parent's frame is kept here
                self.funclet = True
                self.parent = mem.u64(frame + self.fi["disp_frame"])
        elif self.is64:
            begin = dc["ImageBase"] + mem.u32(dc["FunctionEntry"]) if dc["FunctionEntry"] else 0
            for t in self.tries:
                for ht in t["handlers"]:
                    if ht["handler"] == begin:
                        self.funclet = ht
                        self.parent = mem.u64(frame + ht["disp_frame"])

    # -------------------------------------------------------------------------------- state
    def state(self) -> int:
        if self.is64:
            return self.tables.ip_state(self.fi, self.dc["ControlPc"])
        return _s32(self.mem.u32(self.frame + 8))

    def unwind_to(self, cur: int, target: int):
        """__FrameUnwindToState: run the destructor funclets from state `cur` down to `target`."""
        n = self.fi["max_state"]
        for _ in range(n + 1):
            if cur <= target or cur < 0 or cur >= n:
                break
            to, kind, action, obj = self.tables.unwind_entry(self.fi, cur)
            if not self.is64:
                self.mem.w32(self.frame + 8, to)
            if action and kind == UW_FUNCLET:
                if self.is64:
                    yield GuestCall(action, (action, self.parent))
                else:
                    yield GuestCall(action, (), regs={"ebp": self.frame + 0xC})
            elif action and kind == UW_DTOR_OBJ:                 # FH4: the destructor of a frame object
                yield _thiscall(True, action, (self.parent + obj) & M64)
            elif action and kind == UW_DTOR_PTR_OBJ:             # FH4: ... of the object a frame slot points to
                yield _thiscall(True, action, self.mem.u64(self.parent + obj))
            cur = to
        if not self.is64:
            self.mem.w32(self.frame + 8, cur)


def cxx_frame_handler_gen(c, co, rec_addr, frame, ctx_addr, dc_addr, fi_addr, fh4=False):
    f = Frame(c, rec_addr, frame, dc_addr, fi_addr, fh4)
    if f.fi["magic"] not in CXX_MAGICS:
        return X.ExceptionContinueSearch
    flags = f.rec["ExceptionFlags"]
    live = _catches(c.thread)
    if f.is64 and any(r["frame"] == frame for r in live):
        # one of this frame's catch blocks is running: its funclet frame has handled the states
        return X.ExceptionContinueSearch
    if flags & X.EXCEPTION_UNWIND:
        if flags & X.EXCEPTION_TARGET_UNWIND:
            return X.ExceptionContinueSearch    # the catching handler unwinds its own frame
        yield from f.unwind_to(f.state(), EH_EMPTY_STATE)
        if not f.is64:
            # the frame goes away with the catch blocks running in it: their exception objects too, unless
            # one is the exception leaving (a rethrow)
            inflight = f.rec["ExceptionInformation"][1] if is_cxx(f.rec) else None
            for r in reversed(list(live)):
                if r["frame"] == frame:
                    live.remove(r)
                    if r["obj"] != inflight and not any(o["obj"] == r["obj"] for o in live):
                        yield from destroy_object(False, r["obj"], r["dtor"])
        return X.ExceptionContinueSearch
    if not is_cxx(f.rec) or not f.tries:
        return X.ExceptionContinueSearch
    thr = Throw(f.mem, f.is64, f.rec)
    state = f.state()
    for t in f.tries:
        if not (t["low"] <= state <= t["high"]):
            continue
        for ht in t["handlers"]:
            ct = _type_matches(f.mem, f.tables, ht, thr)
            if ct is None:
                continue
            result = yield from _catch_it(c, co, f, t, ht, ct, thr, ctx_addr)
            return result
    return X.ExceptionContinueSearch


def _catch_it(c, co, f: Frame, t: dict, ht: dict, ct, thr: Throw, ctx_addr: int):
    thread = c.thread
    mem = f.mem
    is64 = f.is64
    live = _catches(thread)
    # 1. the catch object
    dest = (f.parent if is64 else f.frame + 0xC) + ht["disp_obj"]
    yield from build_catch_object(mem, is64, ht, ct, thr, dest)
    # 2. the nested frames (RtlUnwind(Ex) to this frame)
    entry = co.resume_ctx.copy()
    if is64:
        scratch = (co.sp - X.X64_CONTEXT_SIZE - 0x20) & ~0xF
        co.sp = scratch - 0x10
        frame_ctx = yield from X.rtl_unwind_x64_gen(thread, co, f.frame, f.dc["ControlPc"], f.rec_addr, 0,
                                                    scratch, entry)
    else:
        cx = (co.sp - X.X86_CONTEXT_SIZE - 0x20) & ~0xF
        dca = cx - 0x10
        co.sp = dca - 0x10
        mem.write(cx, X.context_to_guest(entry))
        yield from X.rtl_unwind_x86_gen(thread, co, f.frame, f.rec_addr, cx, dca)
        frame_ctx = entry
    # 3. this frame, to the try's state
    yield from f.unwind_to(f.state(), t["low"])
    # catch blocks of this frame the exception leaves (x86: the try that catches is not inside them) end
    # here, as their CallCatchBlock's __finally does on Windows: the node's saved esp comes back
    if not is64:
        for r in reversed(list(live)):
            if r["frame"] != f.frame or (r["try"]["high"] < t["low"] and t["high"] <= r["try"]["catch_high"]):
                continue
            mem.w32(f.frame - 4, r["saved_esp"])
            live.remove(r)
            if r["obj"] != thr.obj and not any(o["obj"] == r["obj"] for o in live):
                yield from destroy_object(is64, r["obj"], r["dtor"])
    # 4. the catch block
    record = {"frame": f.frame, "obj": thr.obj, "ti": thr.ti, "base": thr.base, "dtor": thr.dtor,
              "ctx": frame_ctx.copy(), "sp": min(co.sp, c.cpu.sp), "rethrown": False, "try": t,
              "saved_esp": 0 if is64 else mem.u32(f.frame - 4)}
    live.append(record)
    if is64:
        co.resume_ctx = frame_ctx.copy()     # a walk from the funclet continues in this frame
        k = yield GuestCall(ht["handler"], (ht["handler"], f.parent))
        k &= M64
        conts = ht.get("conts")
        if conts and k < len(conts):        # FH4: a catch funclet may return the index of a continuation
            k = conts[k]
        final = _continuation_frame(thread, k, frame_ctx, live, record)
        final.regs["rip"] = k
    else:
        saved_esp = mem.u32(f.frame - 4)
        k = yield GuestCall(ht["handler"], (), regs={"ebp": f.frame + 0xC})
        k &= M32
        mem.w32(f.frame - 4, saved_esp)
        mem.w32(thread.teb + TEB.offset("x86", "NtTib.ExceptionList"), f.frame)
        final = c.cpu.save_context()
        final.regs.update(eip=k, esp=saved_esp, ebp=f.frame + 0xC)
    # 5. the exception is over: destroy its object and those of catch blocks the continuation leaves
    sp_final = final.regs["rsp" if is64 else "esp"]
    ended = [r for r in live if r is record or r["sp"] < sp_final]
    live[:] = [r for r in live if not (r is record or r["sp"] < sp_final)]
    done = set()
    for r in reversed(ended):
        if r["obj"] in done or any(o["obj"] == r["obj"] for o in live):
            continue
        done.add(r["obj"])
        yield from destroy_object(is64, r["obj"], r["dtor"])
    return final


def _continuation_frame(thread, k: int, frame_ctx, live: list[dict], record: dict):
    """x64: the continuation address is in the catching frame's function or, for a try inside a catch
    block, in an enclosing frame whose catch funclet this frame is: the frame whose function holds it."""
    want = X.lookup_function_entry(thread, k)
    cands = [frame_ctx] + [r["ctx"] for r in reversed(live) if r is not record]
    for ctx in cands:
        fe = X.lookup_function_entry(thread, ctx.regs["rip"])
        if fe is not None and want is not None and fe[0] == want[0]:
            return ctx.copy()
    return frame_ctx.copy()


@api(VC, "EXCEPTION_DISPOSITION __cdecl __CxxFrameHandler3(PEXCEPTION_RECORD rec, void *frame, PCONTEXT ctx, "
         "void *dc)", calls_guest=True)
def __CxxFrameHandler3(c, rec, frame, ctx, dc):
    fi = None if c.cpu.is64 else c.cpu.reg("eax")
    run_api_coroutine(c, lambda co, entry: cxx_frame_handler_gen(c, co, rec, frame, ctx, dc, fi))


@api("vcruntime140_1.dll", "EXCEPTION_DISPOSITION __cdecl __CxxFrameHandler4(PEXCEPTION_RECORD rec, void *frame, "
                           "PCONTEXT ctx, void *dc)", calls_guest=True)
def __CxxFrameHandler4(c, rec, frame, ctx, dc):
    """x64 only: HandlerData is the RVA of the function's (or funclet's) FuncInfo4."""
    run_api_coroutine(c, lambda co, entry: cxx_frame_handler_gen(c, co, rec, frame, ctx, dc, None, True))


api(VC, "EXCEPTION_DISPOSITION __cdecl __CxxFrameHandler(PEXCEPTION_RECORD rec, void *frame, PCONTEXT ctx, "
        "void *dc)", calls_guest=True)(__CxxFrameHandler3)
api(VC, "EXCEPTION_DISPOSITION __cdecl __CxxFrameHandler2(PEXCEPTION_RECORD rec, void *frame, PCONTEXT ctx, "
        "void *dc)", calls_guest=True)(__CxxFrameHandler3)


# ================================================================================================ x86 SEH frames
EH3_NONE = -1
EH4_NONE = -2


class SehFrame:
    """An x86 __try registration: {Next, Handler, ScopeTable, TryLevel}; saved esp at -8, the
    EXCEPTION_POINTERS slot at -4; filters and handlers run with ebp = node + 0x10."""

    def __init__(self, c, reg: int, cookie_ptr: int = 0):
        self.c = c
        self.mem = Mem(c.proc)
        self.reg = reg
        self.fp = reg + 0x10
        self.eh4 = bool(cookie_ptr)
        raw = self.mem.u32(reg + 8)
        if self.eh4:
            self.scope = (raw ^ self.mem.u32(cookie_ptr)) & M32
            self.records = self.scope + 16
            self.none = EH4_NONE
        else:
            self.scope = self.records = raw
            self.none = EH3_NONE

    def level(self) -> int:
        return _s32(self.mem.u32(self.reg + 12))

    def entry(self, level: int) -> tuple[int, int, int]:
        enclosing, filt, handler = struct.unpack("<iII", self.mem.read(self.records + 12 * level, 12))
        return enclosing, filt, handler

    def local_unwind(self, stop: int):
        """Run the __finally blocks of the scopes from the current level out to `stop` (innermost first)."""
        for _ in range(0x10000):
            level = self.level()
            if level == self.none or level == stop or level < 0:
                return
            enclosing, filt, handler = self.entry(level)
            self.mem.w32(self.reg + 12, enclosing)
            if not filt and handler:
                yield GuestCall(handler, (), regs={"ebp": self.fp})

    def check_cookies(self, check_fn: int):
        """_except_handler4: the frame's GS and EH cookies through __security_check_cookie (fastcall)."""
        gs_off, gs_xor, eh_off, eh_xor = struct.unpack("<iiii", self.mem.read(self.scope, 16))
        if gs_off != -2:
            v = self.mem.u32(self.fp + gs_off) ^ ((self.fp + gs_xor) & M32)
            yield GuestCall(check_fn, (), regs={"ecx": v})
        v = self.mem.u32(self.fp + eh_off) ^ ((self.fp + eh_xor) & M32)
        yield GuestCall(check_fn, (), regs={"ecx": v})


def except_handler_gen(c, co, rec_addr, reg, ctx_addr, dc_addr, cookie_ptr=0, check_fn=0):
    thread = c.thread
    f = SehFrame(c, reg, cookie_ptr)
    mem = f.mem
    if f.eh4 and check_fn:
        yield from f.check_cookies(check_fn)
    rec = X.read_record(mem, rec_addr, "x86")
    if rec["ExceptionFlags"] & X.EXCEPTION_UNWIND:
        yield from f.local_unwind(f.none)
        return X.ExceptionContinueSearch
    # EXCEPTION_POINTERS for GetExceptionInformation/GetExceptionCode in the filters
    ep = (co.sp - 0x10) & ~0xF
    co.sp = ep - 0x10
    mem.w32(ep, rec_addr)
    mem.w32(ep + 4, ctx_addr)
    mem.w32(reg - 4, ep)
    level = f.level()
    for _ in range(0x10000):
        if level == f.none or level < 0:
            break
        enclosing, filt, handler = f.entry(level)
        if filt:
            verdict = X.EXCEPTION_EXECUTE_HANDLER if filt == 1 and not f.eh4 else \
                _s32((yield GuestCall(filt, (), regs={"ebp": f.fp})))
            if verdict < 0:
                return X.ExceptionContinueExecution
            if verdict > 0:
                # the __except block runs: unwind the frames above, then this frame's inner scopes
                cx = (co.sp - X.X86_CONTEXT_SIZE - 0x20) & ~0xF
                dca = cx - 0x10
                co.sp = dca - 0x10
                entry = co.resume_ctx.copy()
                mem.write(cx, X.context_to_guest(entry))
                yield from X.rtl_unwind_x86_gen(thread, co, reg, rec_addr, cx, dca)
                yield from f.local_unwind(level)
                mem.w32(reg + 12, enclosing)
                mem.w32(thread.teb + TEB.offset("x86", "NtTib.ExceptionList"), reg)
                final = c.cpu.save_context()
                final.regs.update(eip=handler, esp=mem.u32(reg - 8), ebp=f.fp, eax=rec["ExceptionCode"])
                return final
        level = enclosing
    return X.ExceptionContinueSearch


X86_ONLY = ("vcruntime140.dll", "msvcrt.dll")


@api(X86_ONLY, "EXCEPTION_DISPOSITION __cdecl _except_handler3(PEXCEPTION_RECORD rec, void *frame, PCONTEXT ctx, "
               "void *dc)", calls_guest=True)
def _except_handler3(c, rec, frame, ctx, dc):
    run_api_coroutine(c, lambda co, entry: except_handler_gen(c, co, rec, frame, ctx, dc))


api(X86_ONLY, "EXCEPTION_DISPOSITION __cdecl _except_handler2(PEXCEPTION_RECORD rec, void *frame, PCONTEXT ctx, "
              "void *dc)", calls_guest=True)(_except_handler3)


@api(X86_ONLY, "EXCEPTION_DISPOSITION __cdecl _except_handler4_common(unsigned int *cookie, void *check, "
               "PEXCEPTION_RECORD rec, void *frame, PCONTEXT ctx, void *dc)", calls_guest=True)
def _except_handler4_common(c, cookie, check, rec, frame, ctx, dc):
    run_api_coroutine(c, lambda co, entry: except_handler_gen(c, co, rec, frame, ctx, dc, cookie or 1, check))


@api(X86_ONLY, "void __cdecl _local_unwind2(void *frame, int stop)", calls_guest=True)
def _local_unwind2(c, frame, stop):
    f = SehFrame(c, frame)
    run_api_coroutine(c, lambda co, entry: f.local_unwind(_s32(stop)))


@api(X86_ONLY, "void __cdecl _local_unwind4(unsigned int *cookie, void *frame, int stop)", calls_guest=True)
def _local_unwind4(c, cookie, frame, stop):
    f = SehFrame(c, frame, cookie)
    run_api_coroutine(c, lambda co, entry: f.local_unwind(_s32(stop)))


@api(X86_ONLY, "void WINAPI _global_unwind2(void *frame)", calls_guest=True)
def _global_unwind2(c, frame):
    thread = c.thread
    mem = Mem(c.proc)

    def gen(co, entry):
        rec = (co.sp - 0x60) & ~0xF
        mem.write(rec, EXCEPTION_RECORD.pack("x86", **X.build_record(X.STATUS_UNWIND, 0, entry.pc)))
        cx = (rec - X.X86_CONTEXT_SIZE - 0x20) & ~0xF
        dca = cx - 0x10
        co.sp = dca - 0x10
        mem.write(cx, X.context_to_guest(entry))
        yield from X.rtl_unwind_x86_gen(thread, co, frame, rec, cx, dca)
        return None
    run_api_coroutine(c, gen)
