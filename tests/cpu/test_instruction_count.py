"""A run with an instruction budget reports how many instructions it executed, however it ended (the engine's
counter, found by winhatch.cpu.core._calibrate_emu_counter), and the machine's budget is exact."""
from __future__ import annotations

from pathlib import Path

from cpuhelp import CODE, STUBS, rel32

import winhatch
from winhatch.cpu import TRAP_STUB, Cpu, core

ROOT = Path(__file__).resolve().parents[2]


def test_counter_found():
    assert core._calibrate_emu_counter() is not None


def test_count_until_trap_fault_and_budget(cpu):
    nops = 37
    cpu.mem_write(CODE, b"\x90" * nops + b"\xcc" * 4)
    r = cpu.run(CODE, until=CODE + nops, max_instructions=1000)
    assert (r.kind, r.instructions) == ("until", nops)
    # a deferred trap after 12 instructions (the int counts)
    cpu.mem_write(STUBS, TRAP_STUB)
    cpu.mem_write(CODE, b"\x90" * 11 + b"\xe8" + rel32(CODE + 16, STUBS))
    cpu.set_trap_handler(lambda c, va: Cpu.DEFER)
    r = cpu.run(CODE, max_instructions=1000)
    assert (r.kind, r.instructions) == ("trap", 13)   # 11 nops, the call, the int
    # a fault (each case at its own address: code the engine translated is not rewritten in place)
    at = CODE + 0x100
    cpu.mem_write(at, b"\x90" * 20 + b"\x31\xc9\xf7\xf1")   # xor ecx, ecx ; div ecx
    r = cpu.run(at, max_instructions=1000)
    assert r.kind == "fault" and r.instructions in (21, 22)
    # the budget used up
    at = CODE + 0x200
    cpu.mem_write(at, b"\xeb\xfe")                            # jmp $
    r = cpu.run(at, max_instructions=500)
    assert (r.kind, r.instructions) == ("budget", 500)
    # without a budget nothing is counted
    at = CODE + 0x300
    cpu.mem_write(at, b"\x90" * 5)
    assert cpu.run(at, until=at + 5).instructions == 0


def test_machine_budget_is_exact():
    """hello-x64 executes the same number of guest instructions every run; one fewer is over budget."""
    hello = ROOT / "examples" / "hello" / "hello-x64.exe"
    r = winhatch.run(hello, max_instructions=10**9)
    n = r.machine.dispatcher.instructions
    assert r.exit_status == 42 and 1000 < n < 10**6
    assert winhatch.run(hello, max_instructions=10**9).machine.dispatcher.instructions == n
    assert winhatch.run(hello, max_instructions=n).exit_status == 42
    short = winhatch.run(hello, max_instructions=n - 1)
    assert short.exit_status != 42 and "budget" in (short.error or "")
