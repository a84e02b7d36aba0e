"""Access masks: standard and generic rights, and the per-type generic mappings (as the object
types of Windows 10 report them)."""
from __future__ import annotations

from winhatch._record import FrozenRecord

DELETE = 0x00010000
READ_CONTROL = 0x00020000
WRITE_DAC = 0x00040000
WRITE_OWNER = 0x00080000
SYNCHRONIZE = 0x00100000
STANDARD_RIGHTS_REQUIRED = 0x000F0000
STANDARD_RIGHTS_READ = READ_CONTROL
STANDARD_RIGHTS_WRITE = READ_CONTROL
STANDARD_RIGHTS_EXECUTE = READ_CONTROL
STANDARD_RIGHTS_ALL = 0x001F0000
SPECIFIC_RIGHTS_ALL = 0x0000FFFF
ACCESS_SYSTEM_SECURITY = 0x01000000
MAXIMUM_ALLOWED = 0x02000000
GENERIC_ALL = 0x10000000
GENERIC_EXECUTE = 0x20000000
GENERIC_WRITE = 0x40000000
GENERIC_READ = 0x80000000
GENERIC_MASK = GENERIC_ALL | GENERIC_EXECUTE | GENERIC_WRITE | GENERIC_READ

# process rights
PROCESS_TERMINATE = 0x0001
PROCESS_CREATE_THREAD = 0x0002
PROCESS_SET_SESSIONID = 0x0004
PROCESS_VM_OPERATION = 0x0008
PROCESS_VM_READ = 0x0010
PROCESS_VM_WRITE = 0x0020
PROCESS_DUP_HANDLE = 0x0040
PROCESS_CREATE_PROCESS = 0x0080
PROCESS_SET_QUOTA = 0x0100
PROCESS_SET_INFORMATION = 0x0200
PROCESS_QUERY_INFORMATION = 0x0400
PROCESS_SUSPEND_RESUME = 0x0800
PROCESS_QUERY_LIMITED_INFORMATION = 0x1000
PROCESS_SET_LIMITED_INFORMATION = 0x2000
PROCESS_ALL_ACCESS = 0x001FFFFF
# thread rights
THREAD_TERMINATE = 0x0001
THREAD_SUSPEND_RESUME = 0x0002
THREAD_ALERT = 0x0004
THREAD_GET_CONTEXT = 0x0008
THREAD_SET_CONTEXT = 0x0010
THREAD_SET_INFORMATION = 0x0020
THREAD_QUERY_INFORMATION = 0x0040
THREAD_SET_THREAD_TOKEN = 0x0080
THREAD_IMPERSONATE = 0x0100
THREAD_DIRECT_IMPERSONATION = 0x0200
THREAD_SET_LIMITED_INFORMATION = 0x0400
THREAD_QUERY_LIMITED_INFORMATION = 0x0800
THREAD_RESUME = 0x1000
THREAD_ALL_ACCESS = 0x001FFFFF
# synchronisation objects
EVENT_QUERY_STATE = 0x0001
EVENT_MODIFY_STATE = 0x0002
EVENT_ALL_ACCESS = 0x001F0003
MUTANT_QUERY_STATE = 0x0001
MUTANT_ALL_ACCESS = 0x001F0001
SEMAPHORE_QUERY_STATE = 0x0001
SEMAPHORE_MODIFY_STATE = 0x0002
SEMAPHORE_ALL_ACCESS = 0x001F0003
TIMER_QUERY_STATE = 0x0001
TIMER_MODIFY_STATE = 0x0002
TIMER_ALL_ACCESS = 0x001F0003
IO_COMPLETION_ALL_ACCESS = 0x001F0003
# sections
SECTION_QUERY = 0x0001
SECTION_MAP_WRITE = 0x0002
SECTION_MAP_READ = 0x0004
SECTION_MAP_EXECUTE = 0x0008
SECTION_EXTEND_SIZE = 0x0010
SECTION_ALL_ACCESS = 0x000F001F
# files
FILE_READ_DATA = 0x0001
FILE_WRITE_DATA = 0x0002
FILE_APPEND_DATA = 0x0004
FILE_READ_EA = 0x0008
FILE_WRITE_EA = 0x0010
FILE_EXECUTE = 0x0020
FILE_READ_ATTRIBUTES = 0x0080
FILE_WRITE_ATTRIBUTES = 0x0100
FILE_GENERIC_READ = 0x00120089
FILE_GENERIC_WRITE = 0x00120116
FILE_GENERIC_EXECUTE = 0x001200A0
FILE_ALL_ACCESS = 0x001F01FF
# registry keys
KEY_READ = 0x00020019
KEY_WRITE = 0x00020006
KEY_EXECUTE = 0x00020019
KEY_ALL_ACCESS = 0x000F003F
# jobs / tokens / directories / links
JOB_OBJECT_ALL_ACCESS = 0x001F003F
TOKEN_READ = 0x00020008
TOKEN_WRITE = 0x000200E0
TOKEN_EXECUTE = 0x00020000
TOKEN_ALL_ACCESS = 0x000F01FF
DIRECTORY_QUERY = 0x0001
DIRECTORY_TRAVERSE = 0x0002
DIRECTORY_CREATE_OBJECT = 0x0004
DIRECTORY_CREATE_SUBDIRECTORY = 0x0008
DIRECTORY_ALL_ACCESS = 0x000F000F
SYMBOLIC_LINK_QUERY = 0x0001
SYMBOLIC_LINK_ALL_ACCESS = 0x000F0001
DESKTOP_ALL_ACCESS = 0x000F01FF
WINSTA_ALL_ACCESS = 0x000F037F


class GenericMapping(FrozenRecord):
    _fields = ("read", "write", "execute", "all")
    read: int
    write: int
    execute: int
    all: int

    def __init__(self, read: int, write: int, execute: int, all: int) -> None:  # noqa: A002 (the field name)
        object.__setattr__(self, "read", read)
        object.__setattr__(self, "write", write)
        object.__setattr__(self, "execute", execute)
        object.__setattr__(self, "all", all)


class ObjectType(FrozenRecord):
    """An object type: its name, generic mapping and the access bits that are valid for it."""

    _fields = ("name", "mapping")
    name: str
    mapping: GenericMapping

    def __init__(self, name: str, mapping: GenericMapping) -> None:
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "mapping", mapping)

    @property
    def valid_access(self) -> int:
        return self.mapping.all | STANDARD_RIGHTS_ALL | ACCESS_SYSTEM_SECURITY

    def map_access(self, access: int) -> int:
        """RtlMapGenericMask plus MAXIMUM_ALLOWED (granted as everything: there is no security model)."""
        m = self.mapping
        out = access & ~(GENERIC_MASK | MAXIMUM_ALLOWED)
        if access & GENERIC_READ:
            out |= m.read
        if access & GENERIC_WRITE:
            out |= m.write
        if access & GENERIC_EXECUTE:
            out |= m.execute
        if access & (GENERIC_ALL | MAXIMUM_ALLOWED):
            out |= m.all
        return out & self.valid_access


def _t(name: str, r: int, w: int, e: int, a: int) -> ObjectType:
    return ObjectType(name, GenericMapping(r, w, e, a))


# The generic mappings are the object types' own (ObjectTypesInformation on Windows 10, as Wine's ntdll/tests/om.c
# test_object_types checks them).
OBJECT_TYPES: dict[str, ObjectType] = {
    t.name: t
    for t in (
        _t("Process", 0x00020410, 0x00020BEA, 0x00121001, PROCESS_ALL_ACCESS),
        _t("Thread", 0x00020048, 0x00020437, 0x00121800, THREAD_ALL_ACCESS),
        _t("File", FILE_GENERIC_READ, FILE_GENERIC_WRITE, FILE_GENERIC_EXECUTE, FILE_ALL_ACCESS),
        _t("Section", 0x00020005, 0x00020002, 0x00020008, SECTION_ALL_ACCESS),
        _t("Event", 0x00020001, 0x00020002, 0x00120000, EVENT_ALL_ACCESS),
        _t("Mutant", 0x00020001, 0x00020000, 0x00120000, MUTANT_ALL_ACCESS),
        _t("Semaphore", 0x00020001, 0x00020002, 0x00120000, SEMAPHORE_ALL_ACCESS),
        _t("Timer", 0x00020001, 0x00020002, 0x00120000, TIMER_ALL_ACCESS),
        _t("Key", KEY_READ, KEY_WRITE, 0x00020039, KEY_ALL_ACCESS),
        _t("Job", 0x00020004, 0x0002000B, 0x00120000, JOB_OBJECT_ALL_ACCESS),
        _t("Token", 0x0002001A, 0x000201E0, 0x00020005, TOKEN_ALL_ACCESS),
        _t("Directory", 0x00020003, 0x0002000C, 0x00020003, DIRECTORY_ALL_ACCESS),
        _t("SymbolicLink", 0x00020001, 0x00020000, 0x00020001, SYMBOLIC_LINK_ALL_ACCESS),
        _t("IoCompletion", 0x00020001, 0x00020002, 0x00120000, IO_COMPLETION_ALL_ACCESS),
        _t("Desktop", 0x00020041, 0x000200BE, 0x00020100, DESKTOP_ALL_ACCESS),
        _t("WindowStation", 0x00020303, 0x0002001C, 0x00020060, WINSTA_ALL_ACCESS),
        _t("DebugObject", 0x00020001, 0x00020002, 0x00120000, 0x001F000F),
        _t("KeyedEvent", 0x00020001, 0x00020002, 0x00020000, 0x000F0003),
        _t("Session", 0x00020001, 0x00020000, 0x00020000, 0x000F0003),
        _t("Type", 0x00020000, 0x00020000, 0x00020000, 0x000F0001),
        _t("Device", FILE_GENERIC_READ, FILE_GENERIC_WRITE, FILE_GENERIC_EXECUTE, FILE_ALL_ACCESS),
        _t("Driver", 0x00020000, 0x00020000, 0x00020000, 0x001F01FF),
        _t("Object", 0x00020000, 0x00020000, 0x00020000, 0x001F0001),  # fallback for unknown types
    )
}


# types whose ValidAccessMask has SYNCHRONIZE beyond their ALL_ACCESS (the others' is exactly their ALL_ACCESS)
_VALID_EXTRA = {"Key": 0x00100000, "KeyedEvent": 0x00100000, "Section": 0x00100000, "Token": 0x00100000,
                "Type": 0x00100000}


def type_valid_mask(name: str) -> int:
    """The ValidAccessMask an object type reports (OBJECT_TYPE_INFORMATION)."""
    return object_type(name).mapping.all | _VALID_EXTRA.get(name, 0)


def object_type(name: str) -> ObjectType:
    """The ObjectType for ``name``; an unknown name gets a permissive generic type."""
    t = OBJECT_TYPES.get(name)
    if t is None:
        t = _t(name, STANDARD_RIGHTS_READ, STANDARD_RIGHTS_WRITE, STANDARD_RIGHTS_EXECUTE,
               STANDARD_RIGHTS_ALL | SPECIFIC_RIGHTS_ALL)
        OBJECT_TYPES[name] = t
    return t
