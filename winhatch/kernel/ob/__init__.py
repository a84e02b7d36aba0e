"""Object manager: kernel objects, access masks, handle tables, the CID table and the namespace."""
from .access import *  # noqa: F401,F403  (access-right constants)
from .access import OBJECT_TYPES, GenericMapping, ObjectType, object_type
from .handles import (
    CURRENT_PROCESS,
    CURRENT_THREAD,
    DUPLICATE_CLOSE_SOURCE,
    DUPLICATE_SAME_ACCESS,
    STATUS_HANDLE_NOT_CLOSABLE,
    CidTable,
    HandleEntry,
    HandleTable,
    is_pseudo_handle,
    normalize_handle,
)
from .namespace import Device, Directory, ObNamespace, SymbolicLink
from .object import KObject

__all__ = [
    "KObject", "ObjectType", "GenericMapping", "OBJECT_TYPES", "object_type",
    "HandleTable", "HandleEntry", "CidTable", "CURRENT_PROCESS", "CURRENT_THREAD",
    "DUPLICATE_CLOSE_SOURCE", "DUPLICATE_SAME_ACCESS", "STATUS_HANDLE_NOT_CLOSABLE",
    "is_pseudo_handle", "normalize_handle", "ObNamespace", "Directory", "SymbolicLink", "Device",
]
