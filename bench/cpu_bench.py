"""Benchmark of winhatch.cpu: trap round trips and raw guest speed, x86 and x64.

    .venv/bin/python bench/cpu_bench.py [--quick]

1. traps/s through the real Cpu API: guest `push 3 ; call stub ; add ebx,eax ; dec ecx ; jnz` with
   stub = TRAP_STUB and a Python handler emulating a 1-argument stdcall `ret` (pop, pop, set eax, set pc).
2. instructions/s of a tight 4-instruction guest loop (no traps), free-running and with an
   instruction budget (max_instructions, which turns on Unicorn's per-instruction counter).
3. the raw cost of candidate trap mechanisms on a bare Unicorn engine with an *empty* Python handler
   (guest: call stub; stub: <trap insn> ; ret), which isolates the mechanism from handler work.
Best of 3 repetitions is printed (the dev box is shared, numbers are noisy).
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import unicorn  # noqa: E402
import unicorn.x86_const as X  # noqa: E402

from winhatch.cpu import PROT_ALL, PROT_READ, PROT_WRITE, TRAP_STUB, Cpu  # noqa: E402

CODE, STUB, STACK = 0x400000, 0x500000, 0x100000
QUICK = "--quick" in sys.argv
REPS = 1 if QUICK else 3


def rel32(nxt: int, dst: int) -> bytes:
    return (dst - nxt).to_bytes(4, "little", signed=True)


def make(arch: str) -> Cpu:
    cpu = Cpu(arch)
    cpu.mem_map(CODE, 0x1000, PROT_ALL)
    cpu.mem_map(STUB, 0x1000, PROT_ALL)
    cpu.mem_map(STACK, 0x10000, PROT_READ | PROT_WRITE)
    gdt = 0xFFFF0000 if arch == "x86" else 0x7FFFFFFF0000
    cpu.mem_map(gdt, 0x1000, PROT_READ | PROT_WRITE)
    cpu.mem_map(0x7FFD0000, 0x1000, PROT_READ | PROT_WRITE)
    cpu.sp = STACK + 0xF000
    cpu.setup_segments(0x7FFD0000, gdt)
    return cpu


def bench_traps(arch: str, n: int) -> float:
    cpu = make(arch)
    cpu.mem_write(STUB, TRAP_STUB)
    code = bytearray(b"\xb9" + n.to_bytes(4, "little") + b"\x31\xdb")
    loop = len(code)
    code += b"\x6a\x03" + b"\xe8" + rel32(CODE + len(code) + 7, STUB) + b"\x01\xc3\xff\xc9"
    code += b"\x75" + bytes([(loop - (len(code) + 2)) & 0xFF])
    end = CODE + len(code)
    cpu.mem_write(CODE, bytes(code) + b"\x90")

    def handler(c: Cpu, va: int) -> None:
        ra = c.pop()
        c.retval = c.pop() * 2
        c.pc = ra
    cpu.set_trap_handler(handler)
    t = time.perf_counter()
    r = cpu.run(CODE, until=end)
    dt = time.perf_counter() - t
    assert r.kind == "until" and cpu.reg("ebx") == 6 * n, r
    return n / dt


LOOP = b"\x01\xc8\x31\xc2\xff\xc9\x75\xf8"   # L: add eax,ecx ; xor edx,eax ; dec ecx ; jnz L


def bench_loop(arch: str, n: int, budget: bool) -> float:
    cpu = make(arch)
    cpu.mem_write(CODE, b"\xb9" + n.to_bytes(4, "little") + LOOP + b"\x90")
    end = CODE + 5 + len(LOOP)
    t = time.perf_counter()
    r = cpu.run(CODE, until=end, max_instructions=10 ** 12 if budget else 0)
    dt = time.perf_counter() - t
    assert r.kind == "until", r
    return (4 * n + 1) / dt


def bench_mechanism(arch: str, kind: str, n: int) -> float:
    mode = unicorn.UC_MODE_64 if arch == "x64" else unicorn.UC_MODE_32
    uc = unicorn.Uc(unicorn.UC_ARCH_X86, mode)
    uc.mem_map(CODE, 0x1000)
    uc.mem_map(STUB, 0x1000)
    uc.mem_map(STACK, 0x10000)
    insn = {"int 0x2e + HOOK_INTR": b"\xcd\x2e", "syscall + HOOK_INSN": b"\x0f\x05",
            "sysenter + HOOK_INSN": b"\x0f\x34", "nop + HOOK_CODE(stub range)": b"\x90"}[kind]
    uc.mem_write(STUB, insn + b"\xc3")
    code = b"\xe8" + rel32(CODE + 5, STUB) + b"\xff\xc9\x75\xf7"
    uc.mem_write(CODE, code)
    uc.reg_write(X.UC_X86_REG_RSP if arch == "x64" else X.UC_X86_REG_ESP, STACK + 0xF000)
    uc.reg_write(X.UC_X86_REG_ECX, n)
    if kind.startswith("int"):
        uc.hook_add(unicorn.UC_HOOK_INTR, lambda u, i, d: None)
    elif kind.startswith("sys"):
        uc.hook_add(unicorn.UC_HOOK_INSN, lambda u, d: None, None, 1, 0,
                    X.UC_X86_INS_SYSCALL if kind.startswith("syscall") else X.UC_X86_INS_SYSENTER)
    else:
        uc.hook_add(unicorn.UC_HOOK_CODE, lambda u, a, s, d: None, None, STUB, STUB + len(insn) - 1)
    t = time.perf_counter()
    uc.emu_start(CODE, CODE + len(code))
    dt = time.perf_counter() - t
    assert uc.reg_read(X.UC_X86_REG_ECX) == 0
    return n / dt


def best(fn, *a) -> float:
    return max(fn(*a) for _ in range(REPS))


def main() -> None:
    nt = 20_000 if QUICK else 100_000
    nl = 2_000_000 if QUICK else 20_000_000
    print(f"unicorn {unicorn.__version__}; best of {REPS}")
    for arch in ("x86", "x64"):
        print(f"\n[{arch}]")
        print(f"  trap round trip (Cpu API, stdcall ret handler): {best(bench_traps, arch, nt):>12,.0f} traps/s")
        print(f"  tight loop, free running:                      {best(bench_loop, arch, nl, False):>12,.0f} insn/s")
        print(f"  tight loop, with max_instructions budget:      "
              f"{best(bench_loop, arch, nl // 10, True):>12,.0f} insn/s")
        for kind in ("int 0x2e + HOOK_INTR", "syscall + HOOK_INSN", "sysenter + HOOK_INSN",
                     "nop + HOOK_CODE(stub range)"):
            print(f"  raw mechanism, empty handler: {kind:28s} {best(bench_mechanism, arch, kind, nt):>10,.0f} traps/s")


if __name__ == "__main__":
    main()
