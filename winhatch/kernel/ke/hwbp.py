"""A thread's debug registers (Dr0-Dr3, Dr6, Dr7) and the hardware execution breakpoints they arm.

The registers are per thread (thread.debug_registers, what NtGetContextThread / NtSetContextThread read and
write): they also travel in the CONTEXT an exception handler gets and continues with, and in the CONTEXT of
NtContinue — a handler that sets context->Dr0..Dr7 and continues arms them, as on Windows.

An execution breakpoint (Dr7 enables slot n locally or globally with R/Wn = 00) is a fault before the
instruction at Drn runs: STATUS_SINGLE_STEP at that address, with Dr6's Bn bit set. The emulated CPU has no debug
registers of its own, so an armed slot becomes a Unicorn code hook on that one address, installed while the
thread that armed it runs and removed when it no longer is: code runs unhooked unless a debug register is
armed. The resume flag is modelled as x86 has it: continuing at the address whose breakpoint just fired runs
that instruction once without firing again. A TF single-step trap sets Dr6.BS (0x4000).

Data breakpoints (R/Wn = 01 write, 11 read/write) and I/O breakpoints are held in the registers (a debugger or
the thread reads back what it set) but do not fire: winhatch models execution breakpoints only. Known gap (a
data breakpoint needs a memory hook on its range; none of the programs run so far relies on one firing)."""
from __future__ import annotations

import struct

DEBUG_NAMES = ("Dr0", "Dr1", "Dr2", "Dr3", "Dr6", "Dr7")
DEBUG_REGISTERS_FLAG = 0x10
DR6_BS = 0x4000


def registers(thread) -> dict:
    d = getattr(thread, "debug_registers", None)
    if d is None:
        d = thread.debug_registers = dict.fromkeys(DEBUG_NAMES, 0)
    return d


def _offsets(arch: str) -> dict:
    from winhatch.kernel.structs import CONTEXT_AMD64, CONTEXT_X86
    st = CONTEXT_AMD64 if arch == "x64" else CONTEXT_X86
    return {n: st.offset(arch, n) for n in DEBUG_NAMES}


def to_guest(thread, buf: bytearray, arch: str) -> None:
    """Put the thread's debug registers into a CONTEXT being handed to user mode (CONTEXT_ALL includes them)."""
    d = getattr(thread, "debug_registers", None)
    if not d:
        return
    fmt = "<Q" if arch == "x64" else "<I"
    mask = (1 << (64 if arch == "x64" else 32)) - 1
    for n, off in _offsets(arch).items():
        struct.pack_into(fmt, buf, off, d[n] & mask)


def from_guest(thread, data: bytes, arch: str) -> None:
    """A CONTEXT user mode continues with (exception continuation, NtContinue): its debug registers, when its
    ContextFlags include CONTEXT_DEBUG_REGISTERS, become the thread's (Dr7.GD is the kernel's)."""
    flags = struct.unpack_from("<I", data, 0x30 if arch == "x64" else 0)[0]
    if not flags & DEBUG_REGISTERS_FLAG:
        return
    d = registers(thread)
    fmt = "<Q" if arch == "x64" else "<I"
    for n, off in _offsets(arch).items():
        v = struct.unpack_from(fmt, data, off)[0]
        d[n] = v & ~0x2000 if n == "Dr7" else v
    sync(thread)


def armed(thread) -> dict[int, int]:
    """{address: slot} of the thread's enabled execution breakpoints."""
    d = getattr(thread, "debug_registers", None)
    if not d:
        return {}
    dr7 = d["Dr7"]
    out = {}
    for n in range(4):
        if not (dr7 >> (2 * n)) & 3:
            continue
        rw = (dr7 >> (16 + 4 * n)) & 3
        if rw != 0:      # a data or I/O breakpoint: held, not fired (see above)
            continue
        out.setdefault(d[f"Dr{n}"], n)
    return out


def note_single_step(thread) -> None:
    """A TF single-step trap: Dr6.BS is set (the handler sees it in its CONTEXT)."""
    d = registers(thread)
    d["Dr6"] |= DR6_BS


def sync(thread) -> None:
    """Make the process CPU's breakpoint hooks those of `thread` (called when a thread is about to run and when
    its debug registers change)."""
    cpu = thread.process.cpu
    current = getattr(cpu, "hw_breakpoints", None)
    want = armed(thread) if getattr(thread, "debug_registers", None) else {}
    if current is None:
        if not want:
            return
        current = cpu.hw_breakpoints = {"thread": None, "hooks": {}}
    if current["thread"] is thread and set(current["hooks"]) == set(want):
        current["slots"] = want
        return
    for addr, h in list(current["hooks"].items()):
        if addr not in want:
            cpu.remove_hook(h)
            del current["hooks"][addr]
    for addr in want:
        if addr not in current["hooks"]:
            current["hooks"][addr] = cpu.add_code_hook(addr, addr, _make_hook(cpu))
    current["thread"] = thread
    current["slots"] = want


def _make_hook(cpu):
    def hook(address: int, _size: int) -> None:
        state = cpu.hw_breakpoints
        thread = state["thread"]
        slot = state.get("slots", {}).get(address)
        if thread is None or slot is None:
            return
        if getattr(thread, "hw_resume", None) == address:   # the resume flag: this instruction runs once
            thread.hw_resume = None
            return
        thread.hw_resume = address
        d = registers(thread)
        d["Dr6"] = (d["Dr6"] & ~0xF & ~DR6_BS) | (1 << slot)
        cpu.stop_with_fault_at(address, "hw-breakpoint", f"hardware breakpoint Dr{slot}")
    return hook


def ran_elsewhere(thread, pc: int) -> None:
    """The thread goes on somewhere other than the address whose breakpoint fired: the resume flag is spent."""
    if getattr(thread, "hw_resume", None) not in (None, pc):
        thread.hw_resume = None
