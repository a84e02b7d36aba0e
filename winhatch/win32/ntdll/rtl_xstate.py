"""RtlGetEnabledExtendedFeatures: the XSTATE features the system enables, as ntdll answers it — from
KUSER_SHARED_DATA.XState.EnabledFeatures in the guest's shared page, masked with the caller's FeatureMask."""
from __future__ import annotations

import struct

from winhatch.kernel.structs import KUSER_SHARED_DATA, KUSER_SHARED_DATA_ADDRESS, XSTATE_CONFIGURATION
from winhatch.win32.api import api

NT = "ntdll.dll"


def enabled_xstate_features(c) -> int:
    arch = c.arch
    off = KUSER_SHARED_DATA.offset(arch, "XState") + XSTATE_CONFIGURATION.offset(arch, "EnabledFeatures")
    return int.from_bytes(c.read(KUSER_SHARED_DATA_ADDRESS + off, 8), "little")


@api(NT, "ULONG64 NTAPI RtlGetEnabledExtendedFeatures(ULONG64 FeatureMask)")
def RtlGetEnabledExtendedFeatures(c, mask):
    return enabled_xstate_features(c) & mask


# ============================================================================================ CONTEXT_EX
# A context with its extension: the CONTEXT of an architecture (AMD64 or x86, whichever the process is: the
# functions take either), then a CONTEXT_EX { CONTEXT_CHUNK All, Legacy, XState } (CONTEXT_CHUNK: LONG Offset,
# ULONG Length, relative to the CONTEXT_EX), then, with CONTEXT_XSTATE, the XSAVE area. The sizes and rules are
# Windows 10's as Wine's ntdll/tests/exception.c test_extended_context / test_copy_context record them
# (sizeof CONTEXT 0x4d0 / 0x2cc, the x86 legacy part 0xcc without CONTEXT_EXTENDED_REGISTERS, CONTEXT_EX 0x20 /
# 0x18, the slack RtlGetExtendedContextLength adds, the 16 / 4 bytes the buffer is aligned to); winhatch's
# CPU enables no XSTATE feature (KUSER_SHARED_DATA.XState.EnabledFeatures is 0), so CONTEXT_XSTATE is
# STATUS_NOT_SUPPORTED as on a processor without XSAVE.
CONTEXT_AMD64_FLAG, CONTEXT_X86_FLAG = 0x100000, 0x10000
CONTEXT_XSTATE_BIT = 0x40
STATUS_INVALID_PARAMETER, STATUS_NOT_SUPPORTED = 0xC000000D, 0xC00000BB


class _Layout:
    def __init__(self, flag, supported, length, legacy, ex_length, slack, align, flags_off, xsave_off, vectors,
                 fpx, copy_ranges):
        self.flag, self.supported, self.length, self.legacy = flag, supported, length, legacy
        self.ex_length, self.slack, self.align, self.flags_off = ex_length, slack, align, flags_off
        self.xsave_off, self.vectors, self.fpx, self.copy_ranges = xsave_off, vectors, fpx, copy_ranges


# (start, end, ContextFlags group) of the CONTEXT bytes RtlCopyContext copies for each group
_AMD64_COPY = [(0x38, 0x3A, 0x1), (0x3A, 0x42, 0x4), (0x42, 0x48, 0x1), (0x48, 0x78, 0x10),
               (0x78, 0x98, 0x2), (0x98, 0xA0, 0x1), (0xA0, 0xF8, 0x2), (0xF8, 0x100, 0x1), (0x100, 0x2A0, 0x8),
               (0x4B0, 0x4D0, 0x10)]
_X86_COPY = [(0x4, 0x1C, 0x10), (0x1C, 0x8C, 0x8), (0x8C, 0x9C, 0x4), (0x9C, 0xB4, 0x2), (0xB4, 0xCC, 0x1),
             (0xCC, 0x1EC, 0x20)]
LAYOUTS = {
    CONTEXT_AMD64_FLAG: _Layout(CONTEXT_AMD64_FLAG, 0xD800005F, 0x4D0, 0x4D0, 0x20, 7, 16, 0x30, 0x100, 16, 0x8,
                                _AMD64_COPY),
    CONTEXT_X86_FLAG: _Layout(CONTEXT_X86_FLAG, 0xD800007F, 0x2CC, 0xCC, 0x18, 3, 4, 0, 0xCC, 8, 0x20, _X86_COPY),
}
CHUNK_SIZE = 0x18          # All, Legacy, XState: what a CONTEXT_EX holds (AMD64 pads it to 0x20)
NO_XSTATE_OFFSET = 25      # CONTEXT_EX.XState.Offset of a context without CONTEXT_XSTATE


def context_layout(flags: int) -> _Layout | None:
    """The layout ContextFlags names: exactly one architecture bit and only that architecture's flags."""
    arch = flags & (CONTEXT_AMD64_FLAG | CONTEXT_X86_FLAG)
    lay = LAYOUTS.get(arch)
    if lay is None or flags & ~(lay.flag | lay.supported):
        return None
    return lay


def extended_context_length(c, flags: int, features: int = ~0) -> tuple[int, int]:
    """(status, length) of RtlGetExtendedContextLength2."""
    lay = context_layout(flags)
    if lay is None:
        return STATUS_INVALID_PARAMETER, 0
    if flags & CONTEXT_XSTATE_BIT:
        if not enabled_xstate_features(c) & features & ~3:
            return STATUS_NOT_SUPPORTED, 0
        from winhatch.win32.ntdll.seh import raise_unsupported
        raise_unsupported(c, "CONTEXT_XSTATE with enabled XSTATE features (winhatch's CPU enables none)")
    return 0, lay.length + lay.ex_length + lay.slack


def initialize_extended_context(c, buf: int, flags: int, features: int = ~0) -> tuple[int, int]:
    """(status, CONTEXT_EX address) of RtlInitializeExtendedContext2: the CONTEXT at the buffer aligned to
    the layout's alignment gets its ContextFlags (nothing else of it is written), the CONTEXT_EX after it its
    chunks."""
    st, _ = extended_context_length(c, flags, features)
    if st:
        return st, 0
    lay = context_layout(flags)
    ctx = (buf + lay.align - 1) & -lay.align
    c.write_u32(ctx + lay.flags_off, flags)
    ex = ctx + lay.length
    legacy = lay.length if (lay.flag == CONTEXT_X86_FLAG and flags & 0x20) else lay.legacy
    c.write(ex, struct.pack("<iIiIiI", -lay.length, lay.length + CHUNK_SIZE, -lay.length, legacy,
                            NO_XSTATE_OFFSET, 0))
    return 0, ex


def legacy_context(c, ex: int) -> tuple[int, int]:
    """(address, length) of the legacy CONTEXT of a CONTEXT_EX."""
    off, length = struct.unpack("<iI", c.read(ex + 8, 8))
    return (ex + off) & ((1 << 8 * c.ptr_size) - 1), length


def copy_context_groups(c, dst: int, src: int, flags: int) -> None:
    """The CONTEXT bytes of the groups `flags` names copied from src to dst; dst's ContextFlags = flags."""
    lay = context_layout(flags)
    for start, end, group in lay.copy_ranges:
        if flags & group:
            c.write(dst + start, c.read(src + start, end - start))
    c.write_u32(dst + lay.flags_off, flags)


@api(NT, "NTSTATUS NTAPI RtlGetExtendedContextLength(ULONG ContextFlags, PULONG ContextLength)")
def RtlGetExtendedContextLength(c, flags, plen):
    return RtlGetExtendedContextLength2(c, flags, plen, (1 << 64) - 1)


@api(NT, "NTSTATUS NTAPI RtlGetExtendedContextLength2(ULONG ContextFlags, PULONG ContextLength, "
         "ULONG64 EnabledExtendedFeatures)")
def RtlGetExtendedContextLength2(c, flags, plen, features):
    st, length = extended_context_length(c, flags, features)
    if not st:
        c.write_u32(plen, length)
    return st


@api(NT, "NTSTATUS NTAPI RtlInitializeExtendedContext(PVOID Context, ULONG ContextFlags, PVOID *ContextEx)")
def RtlInitializeExtendedContext(c, buf, flags, pex):
    return RtlInitializeExtendedContext2(c, buf, flags, pex, (1 << 64) - 1)


@api(NT, "NTSTATUS NTAPI RtlInitializeExtendedContext2(PVOID Context, ULONG ContextFlags, PVOID *ContextEx, "
         "ULONG64 EnabledExtendedFeatures)")
def RtlInitializeExtendedContext2(c, buf, flags, pex, features):
    st, ex = initialize_extended_context(c, buf, flags, features)
    if not st:
        c.write_ptr(pex, ex)
    return st


@api(NT, "PVOID NTAPI RtlLocateLegacyContext(PVOID ContextEx, PULONG Length)")
def RtlLocateLegacyContext(c, ex, plen):
    addr, length = legacy_context(c, ex)
    if plen:
        c.write_u32(plen, length)
    return addr


@api(NT, "NTSTATUS NTAPI RtlCopyExtendedContext(PVOID Destination, ULONG ContextFlags, PVOID Source)")
def RtlCopyExtendedContext(c, dst_ex, flags, src_ex):
    """The groups of `flags` from the source CONTEXT_EX's context to the destination's."""
    if context_layout(flags) is None:
        return STATUS_INVALID_PARAMETER
    if flags & CONTEXT_XSTATE_BIT and not enabled_xstate_features(c) & ~3:
        return STATUS_NOT_SUPPORTED
    copy_context_groups(c, legacy_context(c, dst_ex)[0], legacy_context(c, src_ex)[0], flags)
    return 0


@api(NT, "NTSTATUS NTAPI RtlCopyContext(PVOID Context, ULONG ContextFlags, PVOID Source)")
def RtlCopyContext(c, dst, flags, src):
    """RtlCopyExtendedContext of two plain CONTEXTs (a CONTEXT_XSTATE copy needs their CONTEXT_EX:
    STATUS_NOT_SUPPORTED without XSTATE features); the destination's ContextFlags must name the
    architecture (STATUS_INVALID_PARAMETER otherwise, as under Wine; Windows's test sets it first)."""
    if context_layout(flags) is None:
        return STATUS_INVALID_PARAMETER
    if flags & CONTEXT_XSTATE_BIT:
        return STATUS_INVALID_PARAMETER if enabled_xstate_features(c) & ~3 else STATUS_NOT_SUPPORTED
    lay = context_layout(flags)
    if c.u32(dst + lay.flags_off) & (CONTEXT_AMD64_FLAG | CONTEXT_X86_FLAG) != lay.flag:
        return STATUS_INVALID_PARAMETER       # the destination must already be a context of that architecture
    copy_context_groups(c, dst, src, flags)
    return 0
