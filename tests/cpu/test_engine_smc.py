"""The engine's self-modifying-code bug that winhatch works around (winhatch.kernel.mm.aspace NATIVE_JIT_TABLE),
reproduced on a bare Unicorn engine in the TLB mode winhatch uses (winhatch.cpu.core._new_engine).

A block translated from a page, a guest store to the same page beside the block, then a guest store over the
block: the block must be dropped and the new code run.  In UC_TLB_VIRTUAL mode the store beside the block makes
the page's TLB entry forget that the page holds code (until the entry is refilled: a TLB flush, as the test's
control shows), so the store over the block goes unseen and the old code runs.  Whether the first store
straddles two pages does not matter."""
from __future__ import annotations

import struct

import pytest
import unicorn
from unicorn import x86_const as X

from winhatch.cpu.core import _new_engine

BASE, CODE, DRIVER, STACK = 0x100000, 0x101000, 0x108000, 0x20F000


def _rounds(beside: int | None, flush_tlb: bool = False) -> list[int]:
    """Five rounds of: run `mov eax, 40+r ; ret` at CODE, store beside it (at CODE+beside), store the next
    round's immediate over it.  Returns what each round's call returned."""
    uc = _new_engine(unicorn.UC_MODE_64)
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


@pytest.mark.xfail(strict=True, reason="Unicorn 2.1 bug (virtual TLB mode): a store beside translated code on its "
                                       "page hides later stores over that code")
@pytest.mark.parametrize("beside", [0x800, 0xFF8, 0xFFD], ids=["aligned", "page-end", "straddling"])
def test_a_store_beside_the_code_hides_the_next_store_over_it(beside):
    assert _rounds(beside) == [40, 41, 42, 43, 44]
