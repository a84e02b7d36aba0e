"""Why winhatch.cpu flushes the engine's TLB now and then (Cpu._tlb_tick): Unicorn's TLB starts at 256 entries
and grows only when it is flushed while well used.  Without flushes a loop over more pages than that misses on
every access (each miss a costly refill in the virtual TLB mode); with a few flushes the TLB grows to hold
them."""
from __future__ import annotations

import struct
import time

import unicorn
from unicorn import x86_const as X

from winhatch.cpu import core
from winhatch.cpu.core import _new_engine

CODE, DATA, PAGES = 0x100000, 0x10000000, 1024


def _ns_per_access(flushes: int, rounds: int = 4000) -> float:
    uc = _new_engine(unicorn.UC_MODE_64)
    uc.mem_map(CODE, 0x1000)
    uc.mem_map(DATA, PAGES * 0x1000)
    code = (b"\x48\xBE" + struct.pack("<Q", DATA)        # outer: mov rsi, DATA
            + b"\x48\xBA" + struct.pack("<Q", PAGES)     # mov rdx, PAGES
            + b"\x48\x8B\x06"                            # inner: mov rax, [rsi]
            + b"\x48\x81\xC6\x00\x10\x00\x00"            # add rsi, 4096
            + b"\x48\xFF\xCA\x75\xF1"                    # dec rdx ; jnz inner
            + b"\x48\xFF\xC9\x75\xD8")                   # dec rcx ; jnz outer
    uc.mem_write(CODE, code)
    per = rounds // (flushes + 1)
    t0 = time.process_time()
    for _ in range(flushes + 1):
        uc.reg_write(X.UC_X86_REG_RCX, per)
        uc.emu_start(CODE, CODE + len(code))
        if flushes:
            uc.ctl(unicorn.UC_CTL_TLB_FLUSH, unicorn.UC_CTL_IO_WRITE)
    return (time.process_time() - t0) / (per * (flushes + 1) * PAGES) * 1e9


def test_flushes_let_the_tlb_grow_past_256_pages():
    slow, fast = _ns_per_access(0), _ns_per_access(20)
    assert fast * 2 < slow, (slow, fast)         # measured 55 → 10 ns per access


def test_the_cpu_flushes_its_tlb_once_per_period(monkeypatch):
    cpu = core.Cpu("x64")
    flushes = []
    real = cpu.uc.ctl
    monkeypatch.setattr(cpu.uc, "ctl", lambda *a: flushes.append(a) or real(*a))
    now = [1000.0]
    monkeypatch.setattr(core, "_monotonic", lambda: now[0])
    cpu._tlb_tick()
    cpu._tlb_tick()
    assert len(flushes) == 1
    now[0] += core.TLB_RESIZE_PERIOD
    cpu._tlb_tick()
    assert len(flushes) == 2 and flushes[-1][0] == unicorn.UC_CTL_TLB_FLUSH
