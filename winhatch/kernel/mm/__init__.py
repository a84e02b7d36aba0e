"""Memory manager: a process's user address space (VADs, commit/protect/query, sections and views)
kept in sync with the CPU backend's mappings."""
from .aspace import AddressSpace, Allocation, CommitPool, MemoryBasicInformation, ViewResult
from .backend import MemoryBackend, UnicornBackend
from .constants import *  # noqa: F401,F403
from .protect import to_perms, validate_protect
from .runs import RunMap
from .section import Section

__all__ = [
    "AddressSpace", "Allocation", "CommitPool", "MemoryBasicInformation", "ViewResult", "MemoryBackend",
    "UnicornBackend", "Section", "RunMap", "to_perms", "validate_protect",
    "MEM_COMMIT", "MEM_RESERVE", "MEM_DECOMMIT", "MEM_RELEASE", "MEM_FREE", "MEM_PRIVATE", "MEM_MAPPED",
    "MEM_IMAGE", "MEM_TOP_DOWN", "MEM_RESET", "PAGE_NOACCESS", "PAGE_READONLY", "PAGE_READWRITE",
    "PAGE_WRITECOPY", "PAGE_EXECUTE", "PAGE_EXECUTE_READ", "PAGE_EXECUTE_READWRITE",
    "PAGE_EXECUTE_WRITECOPY", "PAGE_GUARD", "PAGE_NOCACHE", "PAGE_WRITECOMBINE", "PAGE_SIZE",
    "ALLOCATION_GRANULARITY", "SEC_IMAGE", "SEC_COMMIT", "STATUS_IMAGE_NOT_AT_BASE",
    "STATUS_MAPPED_ALIGNMENT", "STATUS_NOT_COMMITTED", "STATUS_SECTION_PROTECTION",
    "STATUS_UNABLE_TO_DELETE_SECTION",
]
