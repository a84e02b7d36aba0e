"""The names of the flags and enumerations Win32 parameters carry, for the API trace (report/trace.py):
`flProtect=PAGE_EXECUTE_READWRITE`, `flAllocationType=MEM_COMMIT|MEM_RESERVE`,
`dwDesiredAccess=GENERIC_READ|GENERIC_WRITE`, `dwCreationDisposition=OPEN_EXISTING`.

One table per flag family (winnt.h / fileapi.h / memoryapi.h values); a parameter gets its family from its
name in the prototypes (PARAMS: the names the Windows SDK gives them, the same in every API that takes that
family), so a new API declared with those names is shown with flag names without a line here.
"""
from __future__ import annotations

#: family -> ("bits" | "enum", [(value, name)] in the order names are shown)
FAMILIES: dict[str, tuple[str, list[tuple[int, str]]]] = {
    "page": ("bits", [
        (0x01, "PAGE_NOACCESS"), (0x02, "PAGE_READONLY"), (0x04, "PAGE_READWRITE"), (0x08, "PAGE_WRITECOPY"),
        (0x10, "PAGE_EXECUTE"), (0x20, "PAGE_EXECUTE_READ"), (0x40, "PAGE_EXECUTE_READWRITE"),
        (0x80, "PAGE_EXECUTE_WRITECOPY"), (0x100, "PAGE_GUARD"), (0x200, "PAGE_NOCACHE"),
        (0x400, "PAGE_WRITECOMBINE"), (0x40000000, "PAGE_TARGETS_INVALID"),
        # CreateFileMapping's flProtect carries the section attributes too
        (0x100000, "SEC_64K_PAGES"), (0x800000, "SEC_FILE"), (0x1000000, "SEC_IMAGE"),
        (0x2000000, "SEC_PROTECTED_IMAGE"), (0x4000000, "SEC_RESERVE"), (0x8000000, "SEC_COMMIT"),
        (0x10000000, "SEC_NOCACHE"), (0x20000000, "SEC_WRITECOMBINE"), (0x80000000, "SEC_LARGE_PAGES")]),
    "mem_alloc": ("bits", [
        (0x1000, "MEM_COMMIT"), (0x2000, "MEM_RESERVE"), (0x4000, "MEM_REPLACE_PLACEHOLDER"),
        (0x40000, "MEM_RESERVE_PLACEHOLDER"), (0x80000, "MEM_RESET"), (0x100000, "MEM_TOP_DOWN"),
        (0x200000, "MEM_WRITE_WATCH"), (0x400000, "MEM_PHYSICAL"), (0x1000000, "MEM_RESET_UNDO"),
        (0x20000000, "MEM_LARGE_PAGES")]),
    "mem_free": ("bits", [
        (0x1, "MEM_COALESCE_PLACEHOLDERS"), (0x2, "MEM_PRESERVE_PLACEHOLDER"), (0x4000, "MEM_DECOMMIT"),
        (0x8000, "MEM_RELEASE")]),
    "access": ("bits", [
        (0x80000000, "GENERIC_READ"), (0x40000000, "GENERIC_WRITE"), (0x20000000, "GENERIC_EXECUTE"),
        (0x10000000, "GENERIC_ALL"), (0x02000000, "MAXIMUM_ALLOWED"), (0x01000000, "ACCESS_SYSTEM_SECURITY"),
        (0x000F0000, "STANDARD_RIGHTS_REQUIRED"), (0x00010000, "DELETE"), (0x00020000, "READ_CONTROL"),
        (0x00040000, "WRITE_DAC"), (0x00080000, "WRITE_OWNER"), (0x00100000, "SYNCHRONIZE")]),
    "share": ("bits", [(0x1, "FILE_SHARE_READ"), (0x2, "FILE_SHARE_WRITE"), (0x4, "FILE_SHARE_DELETE")]),
    "disposition": ("enum", [
        (1, "CREATE_NEW"), (2, "CREATE_ALWAYS"), (3, "OPEN_EXISTING"), (4, "OPEN_ALWAYS"),
        (5, "TRUNCATE_EXISTING")]),
    "file_attributes": ("bits", [
        (0x1, "FILE_ATTRIBUTE_READONLY"), (0x2, "FILE_ATTRIBUTE_HIDDEN"), (0x4, "FILE_ATTRIBUTE_SYSTEM"),
        (0x10, "FILE_ATTRIBUTE_DIRECTORY"), (0x20, "FILE_ATTRIBUTE_ARCHIVE"), (0x40, "FILE_ATTRIBUTE_DEVICE"),
        (0x80, "FILE_ATTRIBUTE_NORMAL"), (0x100, "FILE_ATTRIBUTE_TEMPORARY"),
        (0x200, "FILE_ATTRIBUTE_SPARSE_FILE"), (0x400, "FILE_ATTRIBUTE_REPARSE_POINT"),
        (0x800, "FILE_ATTRIBUTE_COMPRESSED"), (0x1000, "FILE_ATTRIBUTE_OFFLINE"),
        (0x2000, "FILE_ATTRIBUTE_NOT_CONTENT_INDEXED"), (0x4000, "FILE_ATTRIBUTE_ENCRYPTED"),
        (0x80000, "FILE_FLAG_FIRST_PIPE_INSTANCE"), (0x100000, "FILE_FLAG_OPEN_NO_RECALL"),
        (0x200000, "FILE_FLAG_OPEN_REPARSE_POINT"), (0x1000000, "FILE_FLAG_POSIX_SEMANTICS"),
        (0x2000000, "FILE_FLAG_BACKUP_SEMANTICS"), (0x4000000, "FILE_FLAG_DELETE_ON_CLOSE"),
        (0x8000000, "FILE_FLAG_SEQUENTIAL_SCAN"), (0x10000000, "FILE_FLAG_RANDOM_ACCESS"),
        (0x20000000, "FILE_FLAG_NO_BUFFERING"), (0x40000000, "FILE_FLAG_OVERLAPPED"),
        (0x80000000, "FILE_FLAG_WRITE_THROUGH")]),
    "heap": ("bits", [
        (0x1, "HEAP_NO_SERIALIZE"), (0x4, "HEAP_GENERATE_EXCEPTIONS"), (0x8, "HEAP_ZERO_MEMORY"),
        (0x10, "HEAP_REALLOC_IN_PLACE_ONLY"), (0x40000, "HEAP_CREATE_ENABLE_EXECUTE")]),
    "move_method": ("enum", [(0, "FILE_BEGIN"), (1, "FILE_CURRENT"), (2, "FILE_END")]),
}

#: parameter name (as the prototypes spell it) -> family
PARAMS: dict[str, str] = {
    "flProtect": "page", "flNewProtect": "page", "Protect": "page", "NewProtect": "page",
    "Win32Protect": "page", "PageProtection": "page", "SectionPageProtection": "page",
    "flAllocationType": "mem_alloc", "AllocationType": "mem_alloc",
    "dwFreeType": "mem_free", "FreeType": "mem_free",
    "dwDesiredAccess": "access", "DesiredAccess": "access", "samDesired": "access",
    "dwShareMode": "share", "ShareAccess": "share",
    "dwCreationDisposition": "disposition",
    "dwFlagsAndAttributes": "file_attributes", "dwFileAttributes": "file_attributes",
    "FileAttributes": "file_attributes",
    "dwMoveMethod": "move_method",
}
#: parameters whose family depends on the API (the same name means another family elsewhere)
API_PARAMS: dict[tuple[str, str], str] = {
    ("HeapAlloc", "dwFlags"): "heap", ("HeapReAlloc", "dwFlags"): "heap", ("HeapFree", "dwFlags"): "heap",
    ("HeapSize", "dwFlags"): "heap", ("HeapCreate", "flOptions"): "heap",
    ("RtlAllocateHeap", "Flags"): "heap", ("RtlFreeHeap", "Flags"): "heap", ("RtlReAllocateHeap", "Flags"): "heap",
}
_ALL_BITS = {"file_attributes": (0xFFFFFFFF, "INVALID_FILE_ATTRIBUTES")}


def family_of(api: str, param: str) -> str | None:
    fam = API_PARAMS.get((api, param))
    if fam is None:
        fam = PARAMS.get(param)
    return fam


def flag_text(family: str, value: int) -> str:
    """`value` spelled with the family's names: bits joined with |, what no name covers as a hex remainder."""
    kind, table = FAMILIES[family]
    value &= 0xFFFFFFFF
    special = _ALL_BITS.get(family)
    if special and value == special[0]:
        return special[1]
    if kind == "enum":
        for v, name in table:
            if v == value:
                return name
        return f"{value:#x}"
    if value == 0:
        return "0"
    names, rest = [], value
    for v, name in table:
        if v and rest & v == v:
            names.append(name)
            rest &= ~v
    if rest:
        names.append(f"{rest:#x}")
    return "|".join(names)


def annotate(api: str, param: str, value) -> str | None:
    """The flag spelling of an API argument, or None when the parameter carries no known family."""
    if not isinstance(value, int) or isinstance(value, bool):
        return None
    fam = family_of(api, param)
    if fam is None and api.endswith(("A", "W")):      # CreateFileA / CreateFileW: the family of CreateFile
        fam = API_PARAMS.get((api[:-1], param))
    if fam is None:
        return None
    return flag_text(fam, value)
