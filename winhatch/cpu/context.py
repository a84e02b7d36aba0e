"""Saved CPU state of one thread (what the scheduler swaps and exception dispatch builds CONTEXT from)."""
from __future__ import annotations

from winhatch._record import NEW, Record

GPR32 = ("eax", "ebx", "ecx", "edx", "esi", "edi", "ebp", "esp")
GPR64 = ("rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rbp", "rsp",
         "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15")
SEGS = ("cs", "ss", "ds", "es", "fs", "gs")
FPU_CTRL = ("fpcw", "fpsw", "fptag")
FPREGS = tuple(f"fp{i}" for i in range(8))          # 80-bit values as ints: exponent << 64 | mantissa
XMM32 = tuple(f"xmm{i}" for i in range(8))            # 128-bit ints
XMM64 = tuple(f"xmm{i}" for i in range(16))


def context_fields(is64: bool) -> tuple[str, ...]:
    if is64:
        return GPR64 + ("rip", "rflags") + SEGS + ("fs_base", "gs_base") + FPU_CTRL + FPREGS + ("mxcsr",) + XMM64
    # x86: no gs_base (Unicorn has none in 32-bit mode); fs_base is the TEB (from the FS descriptor)
    return GPR32 + ("eip", "eflags") + SEGS + ("fs_base",) + FPU_CTRL + FPREGS + ("mxcsr",) + XMM32


class Context(Record):
    """Register snapshot.  Names are lower-case Unicorn register names (``eax``, ``rip``, ``xmm3``,
    ``fp0``..``fp7``, ``fpcw``/``fpsw``/``fptag``, ``mxcsr``, ``fs_base``/``gs_base``, segment selectors)."""

    _fields = ("arch", "regs")

    def __init__(self, arch: str, regs: dict[str, int] = NEW) -> None:
        self.arch = arch
        self.regs = {} if regs is NEW else regs

    @property
    def is64(self) -> bool:
        return self.arch == "x64"

    def get(self, name: str) -> int:
        return self.regs[_alias(name, self.is64)]

    def set(self, name: str, value: int) -> None:
        key = _alias(name, self.is64)
        if key not in self.regs:
            raise KeyError(f"no register {name!r} in a {self.arch} context")
        self.regs[key] = int(value)

    @property
    def pc(self) -> int:
        return self.get("pc")

    @pc.setter
    def pc(self, v: int) -> None:
        self.set("pc", v)

    @property
    def sp(self) -> int:
        return self.get("sp")

    @sp.setter
    def sp(self, v: int) -> None:
        self.set("sp", v)

    def to_dict(self) -> dict[str, int]:
        return dict(self.regs)

    def copy(self) -> "Context":
        return Context(self.arch, dict(self.regs))


def _alias(name: str, is64: bool) -> str:
    name = name.lower()
    if name == "pc":
        return "rip" if is64 else "eip"
    if name == "sp":
        return "rsp" if is64 else "esp"
    if name in ("flags", "eflags", "rflags"):
        return "rflags" if is64 else "eflags"
    return name
