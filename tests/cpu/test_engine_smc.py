"""The engine's self-modifying-code bug that winhatch works around (winhatch.kernel.mm.aspace NATIVE_JIT_TABLE),
reproduced on a bare Unicorn engine in the TLB mode winhatch uses (UC_TLB_VIRTUAL), and how far winhatch's
engine (winhatch.cpu.core._new_engine, with its TLB fill hook) avoids it.

A block translated from a page, a guest store to the same page beside the block, then a guest store over the
block: the block must be dropped and the new code run.  In UC_TLB_VIRTUAL mode without a fill hook the store
beside the block refills the page's entry for stores only, which drops the page's code mark (until the entry
is refilled: a TLB flush, as the control shows), so the store over the block goes unseen and the old code
runs.  Whether the first store straddles two pages does not matter.  winhatch's hook fills an instruction
fetch's entry for every access, which keeps the mark while that entry lives; an entry filled by a load or a
store (after a TLB flush, say) still loses it (core._add_tlb_fill_hook)."""
from __future__ import annotations

import struct

import pytest
import unicorn
from unicorn import x86_const as X

from winhatch.cpu.core import _new_engine

BASE, CODE, DRIVER, STACK = 0x100000, 0x101000, 0x108000, 0x20F000


def _bare_engine():
    uc = unicorn.Uc(unicorn.UC_ARCH_X86, unicorn.UC_MODE_64)
    uc.ctl_set_tlb_mode(unicorn.UC_TLB_VIRTUAL)
    return uc


def _winhatch_engine():
    return _new_engine(unicorn.UC_MODE_64)


def _rounds(beside: int | None, flush_tlb: bool = False, engine=_bare_engine, flush_first: bool = False) -> list[int]:
    """Five rounds of: run `mov eax, 40+r ; ret` at CODE, store beside it (at CODE+beside), store the next
    round's immediate over it.  Returns what each round's call returned.  flush_first: flush the TLB between
    the call and the store beside the code (the page's entry is then filled by that store)."""
    uc = engine()
    uc.mem_map(BASE, 0x10000, unicorn.UC_PROT_ALL)
    uc.mem_map(0x200000, 0x10000, unicorn.UC_PROT_ALL)
    uc.reg_write(X.UC_X86_REG_RSP, STACK)
    uc.mem_write(CODE, b"\xB8\x28\x00\x00\x00\xC3")

    def run(code: bytes) -> None:
        uc.mem_write(DRIVER, code)
        uc.emu_start(DRIVER, DRIVER + len(code))

    out = []
    for r in range(5):
        run(b"\x48\xB8" + struct.pack("<Q", CODE) + b"\xFF\xD0")                          # call CODE
        out.append(uc.reg_read(X.UC_X86_REG_RAX))
        if flush_first:
            uc.ctl(unicorn.UC_CTL_TLB_FLUSH, unicorn.UC_CTL_IO_WRITE)
        if beside is not None:                                                              # mov [rdi], rcx (0)
            run(b"\x48\xBF" + struct.pack("<Q", CODE + beside) + b"\x31\xC9\x48\x89\x0F")
        if flush_tlb:
            uc.ctl(unicorn.UC_CTL_TLB_FLUSH, unicorn.UC_CTL_IO_WRITE)
        run(b"\x48\xBE" + struct.pack("<Q", CODE + 1) + b"\xC6\x06" + bytes([41 + r]))   # mov byte [CODE+1], n
    return out


def test_store_over_translated_code_is_seen():
    assert _rounds(None) == [40, 41, 42, 43, 44]


def test_a_store_on_another_page_does_not_matter():
    assert _rounds(0x1FFD) == [40, 41, 42, 43, 44]         # straddles the next two pages


def test_a_tlb_refill_brings_the_code_mark_back():
    assert _rounds(0x800, flush_tlb=True) == [40, 41, 42, 43, 44]


@pytest.mark.xfail(strict=True, reason="Unicorn 2.1 bug (virtual TLB mode, no TLB fill hook): a store beside "
                                       "translated code on its page hides later stores over that code")
@pytest.mark.parametrize("beside", [0x800, 0xFF8, 0xFFD], ids=["aligned", "page-end", "straddling"])
def test_a_store_beside_the_code_hides_the_next_store_over_it(beside):
    assert _rounds(beside) == [40, 41, 42, 43, 44]


@pytest.mark.parametrize("beside", [None, 0x800, 0xFF8, 0xFFD], ids=["none", "aligned", "page-end", "straddling"])
def test_winhatchs_engine_sees_the_store_while_the_fetch_entry_lives(beside):
    assert _rounds(beside, engine=_winhatch_engine) == [40, 41, 42, 43, 44]


@pytest.mark.xfail(strict=True, reason="Unicorn 2.1 bug, left with the fill hook: a page entry filled by a store "
                                       "(here after a TLB flush) has no code permission, and the first store "
                                       "clears its not-dirty mark although translated code is on the page")
@pytest.mark.parametrize("beside", [0x800, 0xFFD], ids=["aligned", "straddling"])
def test_winhatchs_engine_after_a_flush_before_the_store_beside(beside):
    assert _rounds(beside, engine=_winhatch_engine, flush_first=True) == [40, 41, 42, 43, 44]
