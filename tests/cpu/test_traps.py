"""Traps into Python: int 0x2e stubs, handlers emulating ret, DEFER, stop(), handler errors."""
import pytest

from cpuhelp import CODE, STUBS, rel32, stdcall_ret_handler
from winhatch.cpu import TRAP_STUB, Cpu


def trap_loop(cpu, n, stub_va, arg=3):
    """mov ecx,n ; xor ebx,ebx ; L: push arg ; call stub ; add ebx,eax ; dec ecx ; jnz L ; nop"""
    code = bytearray(b"\xb9" + n.to_bytes(4, "little") + b"\x31\xdb")
    loop = len(code)
    code += b"\x6a" + bytes([arg])
    code += b"\xe8" + rel32(CODE + len(code) + 5, stub_va)
    code += b"\x01\xc3\xff\xc9"
    code += b"\x75" + bytes([(loop - (len(code) + 2)) & 0xFF])
    end = CODE + len(code)
    code += b"\x90"
    cpu.mem_write(CODE, bytes(code))
    return end


def test_trap_stub_is_int_2e():
    assert TRAP_STUB == b"\xcd\x2e"


@pytest.mark.parametrize("stub_off", [0x10, 0x1000 - len(TRAP_STUB)], ids=["mid-page", "page-end"])
def test_handler_emulating_ret_many_times(cpu, stub_off):
    stub = STUBS + stub_off
    cpu.mem_protect(STUBS, 0x1000, 7)
    cpu.mem_write(stub, TRAP_STUB)
    h = stdcall_ret_handler(1, lambda va, a: a[0] * 2)
    cpu.set_trap_handler(h)
    sp0 = cpu.sp
    end = trap_loop(cpu, 2000, stub)
    r = cpu.run(CODE, until=end)
    assert r.kind == "until" and r.pc == end
    assert cpu.reg("ebx") == 2000 * 6
    assert len(h.calls) == 2000 and all(va == stub for va, _ in h.calls)
    assert cpu.sp == sp0            # stdcall args dropped, return addresses popped
    assert cpu.stats["traps"] == 2000


def test_trap_inline_after_other_instructions_in_block(cpu):
    """The trap is the last instruction of a block that starts earlier; the handler moves pc."""
    # mov eax,7 ; mov edx,1 ; int 0x2e ; (skipped: ud2) ; target: add eax,edx ; nop
    code = b"\xb8\x07\x00\x00\x00\xba\x01\x00\x00\x00" + TRAP_STUB + b"\x0f\x0b" + b"\x01\xd0\x90"
    cpu.mem_write(CODE, code)
    seen = []

    def h(c, va):
        seen.append(va)
        c.retval = c.retval * 10
        c.pc = va + len(TRAP_STUB) + 2      # skip the ud2
    cpu.set_trap_handler(h)
    for _ in range(50):
        r = cpu.run(CODE, until=CODE + len(code) - 1)
        assert r.kind == "until"
        assert cpu.retval == 71
    assert seen == [CODE + 10] * 50


def test_defer_stops_and_resumes(cpu):
    stub = STUBS + 0x40
    cpu.mem_write(stub, TRAP_STUB)
    cpu.set_trap_handler(lambda c, va: Cpu.DEFER)
    end = trap_loop(cpu, 5, stub, arg=4)
    emulate = stdcall_ret_handler(1, lambda va, a: a[0] + 1)
    pc, n = CODE, 0
    while True:
        r = cpu.run(pc, until=end)
        if r.kind == "until":
            break
        assert r.kind == "trap" and r.trap_va == stub
        assert cpu.pc == stub                        # left at the stub: resuming re-traps
        n += 1
        emulate(cpu, r.trap_va)                      # handled outside the hook
        pc = cpu.pc
    assert n == 5 and cpu.reg("ebx") == 25


def test_no_handler_defers(cpu):
    cpu.mem_write(STUBS, TRAP_STUB)
    cpu.mem_write(CODE, b"\xe8" + rel32(CODE + 5, STUBS))
    r = cpu.run(CODE)
    assert r.kind == "trap" and r.trap_va == STUBS


def test_stop_from_handler(cpu):
    cpu.mem_write(STUBS, TRAP_STUB)
    end = trap_loop(cpu, 100, STUBS)
    count = [0]

    def h(c, va):
        count[0] += 1
        stdcall_ret_handler(1, lambda *_: 1)(c, va)
        if count[0] == 10:
            c.stop()
    cpu.set_trap_handler(h)
    r = cpu.run(CODE, until=end)
    assert r.kind == "stopped" and count[0] == 10
    r = cpu.run(cpu.pc, until=end)          # resume continues exactly
    assert r.kind == "until" and count[0] == 100 and cpu.reg("ebx") == 100


def test_handler_exception_propagates_and_cpu_stays_usable(cpu):
    cpu.mem_write(STUBS, TRAP_STUB)

    def bad(c, va):
        raise RuntimeError("handler bug")
    cpu.set_trap_handler(bad)
    cpu.mem_write(CODE, b"\xe8" + rel32(CODE + 5, STUBS) + b"\x90")
    with pytest.raises(RuntimeError, match="handler bug"):
        cpu.run(CODE, until=CODE + 5)
    cpu.set_trap_handler(stdcall_ret_handler(0))
    assert cpu.run(CODE, until=CODE + 5).kind == "until"
