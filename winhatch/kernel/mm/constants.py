"""Memory-manager constants: PAGE_* protections, MEM_* types/states, and layout numbers.

Values are the documented ones from winnt.h.  A few NTSTATUS values the memory manager returns that
``winhatch.ntstatus`` does not define (yet) are defined here with their documented values.
"""
from __future__ import annotations

PAGE_SIZE = 0x1000
PAGE_SHIFT = 12
ALLOCATION_GRANULARITY = 0x10000

# --- page protections -----------------------------------------------------------------------------
PAGE_NOACCESS = 0x01
PAGE_READONLY = 0x02
PAGE_READWRITE = 0x04
PAGE_WRITECOPY = 0x08
PAGE_EXECUTE = 0x10
PAGE_EXECUTE_READ = 0x20
PAGE_EXECUTE_READWRITE = 0x40
PAGE_EXECUTE_WRITECOPY = 0x80
PAGE_GUARD = 0x100
PAGE_NOCACHE = 0x200
PAGE_WRITECOMBINE = 0x400

PAGE_BASE_MASK = 0xFF
PAGE_MODIFIER_MASK = PAGE_GUARD | PAGE_NOCACHE | PAGE_WRITECOMBINE

# --- allocation types / states / region types -------------------------------------------------------
MEM_COMMIT = 0x00001000
MEM_RESERVE = 0x00002000
MEM_DECOMMIT = 0x00004000
MEM_RELEASE = 0x00008000
MEM_FREE = 0x00010000
MEM_PRIVATE = 0x00020000
MEM_MAPPED = 0x00040000
MEM_RESET = 0x00080000
MEM_TOP_DOWN = 0x00100000
MEM_WRITE_WATCH = 0x00200000
MEM_PHYSICAL = 0x00400000
MEM_RESET_UNDO = 0x01000000
MEM_LARGE_PAGES = 0x20000000
# placeholders (VirtualAlloc2 / VirtualFreeEx / MapViewOfFile3 / UnmapViewOfFile2, Windows 10 1803)
MEM_COALESCE_PLACEHOLDERS = 0x00000001   # free type
MEM_PRESERVE_PLACEHOLDER = 0x00000002    # free / unmap flag
MEM_REPLACE_PLACEHOLDER = 0x00004000     # allocation type / map flag
MEM_RESERVE_PLACEHOLDER = 0x00040000     # allocation type
MEM_IMAGE = 0x01000000

# --- section attributes (NtCreateSection AllocationAttributes) --------------------------------------
SEC_IMAGE = 0x01000000
SEC_COMMIT = 0x08000000
SEC_RESERVE = 0x04000000

# --- unicorn-style permission bits the backend speaks -----------------------------------------------
PROT_NONE = 0
PROT_READ = 1
PROT_WRITE = 2
PROT_EXEC = 4

# --- NTSTATUS values not (yet) in winhatch.ntstatus -------------------------------------------------
from winhatch.ntstatus import (STATUS_IMAGE_NOT_AT_BASE, STATUS_MAPPED_ALIGNMENT,  # noqa: F401,E402
                               STATUS_NOT_COMMITTED, STATUS_SECTION_PROTECTION,
                               STATUS_UNABLE_TO_DELETE_SECTION)

# --- user address-space layout ----------------------------------------------------------------------
LOWEST_USER_ADDRESS = 0x10000
#: exclusive upper bounds of the user address space (highest user address + 1)
USER_END_X64 = 0x7FFF_FFFF_0000             # MmHighestUserAddress 0x7FFF_FFFE_FFFF
USER_END_X86 = 0x7FFF_0000                  # WoW64 process without /LARGEADDRESSAWARE: 0x7FFE_FFFF
USER_END_X86_LAA = 0xFFFF_0000              # WoW64 process with /LARGEADDRESSAWARE: 0xFFFE_FFFF
