"""Reading a guest's variable arguments (`...` and va_list) for the printf/scanf families."""
from __future__ import annotations

import struct


class VaArgs:
    """Sequential reader over guest argument slots: 8-byte slots on x64, 4-byte (doubles and 64-bit
    integers take two) on x86 — the Microsoft va_list layout on both."""

    def __init__(self, c, address: int):
        self.c = c
        self.cpu = c.cpu
        self.addr = address
        self.is64 = self.cpu.is64

    @classmethod
    def after_params(cls, c) -> "VaArgs":
        """The varargs of the current call, after its declared parameters (x64: spill the registers into
        the caller's home space first, so every argument is in memory)."""
        cpu = c.cpu
        n = len(c.spec.params)
        if cpu.is64:
            sp = cpu.sp
            for i, r in enumerate(("rcx", "rdx", "r8", "r9")):
                cpu.write_u64(sp + 8 + i * 8, cpu.reg(r))
            return cls(c, sp + 8 + n * 8)
        slots = sum(2 if p.kind in ("wide64", "float") else 1 for p in c.spec.params)
        return cls(c, cpu.sp + 4 + slots * 4)

    def int32(self) -> int:
        if self.is64:
            v = self.cpu.read_u64(self.addr) & 0xFFFFFFFF
            self.addr += 8
        else:
            v = self.cpu.read_u32(self.addr)
            self.addr += 4
        return v

    def int64(self) -> int:
        v = self.cpu.read_u64(self.addr)
        self.addr += 8
        return v

    def ptr(self) -> int:
        return self.int64() if self.is64 else self.int32()

    def double(self) -> float:
        raw = self.cpu.mem_read(self.addr, 8)
        self.addr += 8
        return struct.unpack("<d", raw)[0]

    def cstr(self, ptr: int) -> bytes | None:
        return None if not ptr else self.cpu.read_cstr(ptr, 1 << 20)

    def wstr(self, ptr: int) -> str | None:
        return None if not ptr else self.cpu.read_wstr(ptr, 1 << 20)

    def read(self, ptr: int, size: int) -> bytes:
        return self.cpu.mem_read(ptr, size)

    def write_int(self, ptr: int, value: int, size: int) -> None:
        self.cpu.mem_write(ptr, (value & ((1 << (8 * size)) - 1)).to_bytes(size, "little"))
