"""Validation of PAGE_* values and their translation to CPU permissions."""
from __future__ import annotations

from ...ntstatus import STATUS_INVALID_PAGE_PROTECTION, NtStatusError
from .constants import (
    PAGE_EXECUTE,
    PAGE_EXECUTE_READ,
    PAGE_EXECUTE_READWRITE,
    PAGE_EXECUTE_WRITECOPY,
    PAGE_GUARD,
    PAGE_NOACCESS,
    PAGE_NOCACHE,
    PAGE_READONLY,
    PAGE_READWRITE,
    PAGE_WRITECOMBINE,
    PAGE_WRITECOPY,
    PROT_EXEC,
    PROT_NONE,
    PROT_READ,
    PROT_WRITE,
)

BASE_PROTECTIONS = (PAGE_NOACCESS, PAGE_READONLY, PAGE_READWRITE, PAGE_WRITECOPY, PAGE_EXECUTE,
                    PAGE_EXECUTE_READ, PAGE_EXECUTE_READWRITE, PAGE_EXECUTE_WRITECOPY)

_PERMS = {
    PAGE_NOACCESS: PROT_NONE,
    PAGE_READONLY: PROT_READ,
    PAGE_READWRITE: PROT_READ | PROT_WRITE,
    PAGE_WRITECOPY: PROT_READ | PROT_WRITE,
    PAGE_EXECUTE: PROT_READ | PROT_EXEC,          # x86 cannot make execute-only pages
    PAGE_EXECUTE_READ: PROT_READ | PROT_EXEC,
    PAGE_EXECUTE_READWRITE: PROT_READ | PROT_WRITE | PROT_EXEC,
    PAGE_EXECUTE_WRITECOPY: PROT_READ | PROT_WRITE | PROT_EXEC,
}

# PAGE_TARGETS_INVALID (VirtualAlloc) and PAGE_TARGETS_NO_UPDATE (VirtualProtect) share this bit: Control Flow
# Guard's instruction for the new executable pages' call targets (documented for use with an executable
# protection; Wine accepts it with any). It is not part of the protection the pages keep: VirtualQuery does not
# show it.
PAGE_TARGETS = 0x40000000

WRITABLE = (PAGE_READWRITE, PAGE_WRITECOPY, PAGE_EXECUTE_READWRITE, PAGE_EXECUTE_WRITECOPY)
WRITECOPY = (PAGE_WRITECOPY, PAGE_EXECUTE_WRITECOPY)


def validate_protect(protect: int) -> int:
    """MiMakeProtectionMask's checks: one base protection, modifiers only with an accessible base,
    NOCACHE and WRITECOMBINE not together.  Returns the protection
    the pages keep (without PAGE_TARGETS_*); raises STATUS_INVALID_PAGE_PROTECTION."""
    protect &= ~PAGE_TARGETS
    base = protect & 0xFF
    mods = protect & ~0xFF
    if base not in BASE_PROTECTIONS:
        raise NtStatusError(STATUS_INVALID_PAGE_PROTECTION, f"invalid protection 0x{protect:X}")
    if mods & ~(PAGE_GUARD | PAGE_NOCACHE | PAGE_WRITECOMBINE):
        raise NtStatusError(STATUS_INVALID_PAGE_PROTECTION, f"invalid protection 0x{protect:X}")
    if mods and base == PAGE_NOACCESS:
        raise NtStatusError(STATUS_INVALID_PAGE_PROTECTION, "PAGE_NOACCESS takes no modifiers")
    if (mods & PAGE_NOCACHE) and (mods & (PAGE_WRITECOMBINE | PAGE_GUARD)):
        raise NtStatusError(STATUS_INVALID_PAGE_PROTECTION, "PAGE_NOCACHE with GUARD/WRITECOMBINE")
    if (mods & PAGE_WRITECOMBINE) and (mods & PAGE_GUARD):
        raise NtStatusError(STATUS_INVALID_PAGE_PROTECTION, "PAGE_WRITECOMBINE with PAGE_GUARD")
    return protect


def to_perms(protect: int) -> int:
    """CPU permissions for a committed page: guard pages are mapped with no access, so the CPU
    reports a protection fault the kernel turns into STATUS_GUARD_PAGE_VIOLATION."""
    if protect & PAGE_GUARD:
        return PROT_NONE
    return _PERMS[protect & 0xFF]


def with_base(protect: int, base: int) -> int:
    return (protect & ~0xFF) | base


def writecopy_form(protect: int) -> int:
    """RW → WRITECOPY, ERW → EWC (used for image views)."""
    b = protect & 0xFF
    if b == PAGE_READWRITE:
        return with_base(protect, PAGE_WRITECOPY)
    if b == PAGE_EXECUTE_READWRITE:
        return with_base(protect, PAGE_EXECUTE_WRITECOPY)
    return protect


def written_form(protect: int) -> int:
    """WRITECOPY → RW, EWC → ERW: what a copy-on-write page shows once it has been copied."""
    b = protect & 0xFF
    if b == PAGE_WRITECOPY:
        return with_base(protect, PAGE_READWRITE)
    if b == PAGE_EXECUTE_WRITECOPY:
        return with_base(protect, PAGE_EXECUTE_READWRITE)
    return protect
