"""Shared helpers for the winhatch.cpu tests."""
import struct

from winhatch.cpu import PROT_ALL, PROT_READ, PROT_WRITE, Cpu

CODE = 0x400000
STUBS = 0x500000          # one page of trap stubs
DATA = 0x600000
STACK_LO, STACK_HI = 0x100000, 0x110000
TEB = {"x86": 0x7FFDE000, "x64": 0x7FF7FFFDE000}
TEB2 = {"x86": 0x7FFDD000, "x64": 0x7FF7FFFDD000}
GDT = {"x86": 0xFFFF0000, "x64": 0x7FFFFFFF0000}
TEB_SELF = {"x86": 0x18, "x64": 0x30}


def make_cpu(arch: str, user: bool = True) -> Cpu:
    cpu = Cpu(arch)
    cpu.mem_map(CODE, 0x10000, PROT_ALL)
    cpu.mem_map(STUBS, 0x1000, PROT_READ | 0x4)     # r-x
    cpu.mem_map(DATA, 0x10000, PROT_READ | PROT_WRITE)
    cpu.mem_map(STACK_LO, STACK_HI - STACK_LO, PROT_READ | PROT_WRITE)
    for teb in (TEB[arch], TEB2[arch]):
        cpu.mem_map(teb, 0x1000, PROT_READ | PROT_WRITE)
        cpu.write_ptr(teb + TEB_SELF[arch], teb)
    cpu.sp = STACK_HI - 0x100
    if user:
        cpu.mem_map(GDT[arch], 0x1000, PROT_READ | PROT_WRITE)
        cpu.setup_segments(TEB[arch], GDT[arch])
    return cpu


def rel32(src_next: int, dst: int) -> bytes:
    return struct.pack("<i", dst - src_next)


def stdcall_ret_handler(nargs: int, result=None):
    """Handler emulating a stdcall API: pop return address, drop nargs stack args, set eax, ret."""
    calls = []

    def h(cpu, trap_va):
        ra = cpu.pop()
        args = [cpu.pop() for _ in range(nargs)]
        calls.append((trap_va, args))
        if result is not None:
            cpu.retval = result(trap_va, args)
        cpu.pc = ra
    h.calls = calls
    return h
