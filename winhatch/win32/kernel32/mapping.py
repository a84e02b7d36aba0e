"""kernel32 / kernelbase: file mappings — CreateFileMapping, OpenFileMapping, MapViewOfFile(Ex),
UnmapViewOfFile(Ex), FlushViewOfFile — as kernelbase writes them over the section services
(winhatch/kernel/mm/section_services.py: NtCreateSection, NtOpenSection, NtMapViewOfSection,
NtUnmapViewOfSection, NtFlushVirtualMemory): the object name under the session's BaseNamedObjects,
INVALID_HANDLE_VALUE as "no file", FILE_MAP_* as a page protection, the handle's rights from the protection,
NTSTATUS turned into the last error (BaseSetLastNTError).

Access, as Windows (documented for CreateFileMapping / MapViewOfFile, checked against Wine by conf_mapping):
- CreateFileMapping's handle gets SECTION_QUERY | SECTION_MAP_READ, plus SECTION_MAP_WRITE for PAGE_READWRITE /
  PAGE_EXECUTE_READWRITE and SECTION_MAP_EXECUTE for the PAGE_EXECUTE_* protections; a view needing a right the
  handle lacks (FILE_MAP_WRITE of a PAGE_READONLY or PAGE_WRITECOPY mapping, FILE_MAP_EXECUTE of a mapping
  without execute) fails with ERROR_ACCESS_DENIED; so does one reaching past the end of the section.
- A file-backed mapping needs the file handle's rights for its protection: ERROR_ACCESS_DENIED otherwise.
"""
from __future__ import annotations

from winhatch.kernel.mm import (PAGE_EXECUTE, PAGE_EXECUTE_READ, PAGE_EXECUTE_READWRITE, PAGE_EXECUTE_WRITECOPY,
                                PAGE_NOACCESS, PAGE_READONLY, PAGE_READWRITE, PAGE_WRITECOPY)
from winhatch.kernel.ob.access import (SECTION_MAP_EXECUTE, SECTION_MAP_READ, SECTION_MAP_WRITE, SECTION_QUERY,
                                       STANDARD_RIGHTS_REQUIRED)
from winhatch.win32.api import api

from winhatch.win32.kernel32.common import K32, invalid_handle, sa_inherit
from winhatch.win32.kernel32.sync import object_path

STATUS_OBJECT_NAME_EXISTS = 0x40000000
ERROR_ALREADY_EXISTS = 183
ERROR_INVALID_PARAMETER = 87
OBJ_CASE_INSENSITIVE, OBJ_INHERIT, OBJ_OPENIF = 0x40, 0x2, 0x80
FILE_MAP_COPY, FILE_MAP_WRITE, FILE_MAP_READ = 0x1, 0x2, 0x4
FILE_MAP_EXECUTE = 0x20
FILE_MAP_RESERVE, FILE_MAP_TARGETS_INVALID, FILE_MAP_LARGE_PAGES = 0x80000000, 0x40000000, 0x20000000
SEC_COMMIT = 0x08000000
SEC_FLAGS = 0xFFFFFF00  # SEC_* bits of CreateFileMapping's flProtect
_WRITABLE = {PAGE_READWRITE, PAGE_EXECUTE_READWRITE}
_MAPPING_PROTECTIONS = {PAGE_READONLY, PAGE_READWRITE, PAGE_WRITECOPY, PAGE_EXECUTE_READ, PAGE_EXECUTE_READWRITE,
                        PAGE_EXECUTE_WRITECOPY}
_EXECUTABLE = {PAGE_EXECUTE, PAGE_EXECUTE_READ, PAGE_EXECUTE_READWRITE, PAGE_EXECUTE_WRITECOPY}


def _handle_access(protect: int) -> int:
    """The rights CreateFileMapping asks for its handle."""
    base = protect & 0xFF
    access = STANDARD_RIGHTS_REQUIRED | SECTION_QUERY | SECTION_MAP_READ
    if base in _WRITABLE:
        access |= SECTION_MAP_WRITE
    if base in _EXECUTABLE:
        access |= SECTION_MAP_EXECUTE
    return access


# ================================================================================ kernel32 / kernelbase
def _failed(c, st: int) -> bool:
    if st & 0x80000000:
        c.set_last_nt_error(st)
        return True
    return False


def _name_attributes(c, path: str | None, attributes: int) -> int:
    """An OBJECT_ATTRIBUTES for `path` (an object name; None: unnamed) in the API's scratch."""
    return c.object_attributes(c.unicode_string(path) if path else 0, attributes)


def _create_mapping(c, hfile, sa, protect, size_high, size_low, name):
    if hfile & ((1 << (8 * c.ptr_size)) - 1) == invalid_handle(c):
        hfile = 0  # the pagefile (NULL is passed on as it is: NtCreateSection's "no file", as Wine does too)
    sec_flags = protect & SEC_FLAGS
    base = protect & 0xFF
    if base not in _MAPPING_PROTECTIONS:
        # kernelbase takes only the six documented protections: PAGE_EXECUTE, PAGE_NOACCESS, a combination or
        # none is ERROR_INVALID_PARAMETER before the section service (kernel32/virtual.c test_mapping, on Windows)
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    path = object_path(c, name) if name else None
    attrs = OBJ_OPENIF | (OBJ_INHERIT if sa_inherit(c, sa) else 0)
    oa = _name_attributes(c, path, attrs)
    size = (size_high << 32) | size_low
    psize = c.stack_alloc(8)
    c.write_u64(psize, size)
    out = c.stack_alloc(c.ptr_size)
    st = c.nt("NtCreateSection", out, _handle_access(base), oa, psize if size else 0, base, sec_flags or SEC_COMMIT,
              hfile)
    if _failed(c, st):
        return 0
    c.set_last_error(ERROR_ALREADY_EXISTS if st == STATUS_OBJECT_NAME_EXISTS else 0)
    return c.ptr(out)

@api(K32, "HANDLE WINAPI CreateFileMapping%(HANDLE hFile, LPSECURITY_ATTRIBUTES lpFileMappingAttributes, "
          "DWORD flProtect, DWORD dwMaximumSizeHigh, DWORD dwMaximumSizeLow, LPCTSTR lpName)")
def CreateFileMapping(c, hfile, sa, protect, size_high, size_low, name):
    return _create_mapping(c, hfile, sa, protect, size_high, size_low, name)


@api(K32, "HANDLE WINAPI CreateFileMappingNuma%(HANDLE hFile, LPSECURITY_ATTRIBUTES lpFileMappingAttributes, "
          "DWORD flProtect, DWORD dwMaximumSizeHigh, DWORD dwMaximumSizeLow, LPCTSTR lpName, DWORD nndPreferred)")
def CreateFileMappingNuma(c, hfile, sa, protect, size_high, size_low, name, node):
    return _create_mapping(c, hfile, sa, protect, size_high, size_low, name)


@api(K32, "HANDLE WINAPI CreateFileMappingFromApp(HANDLE hFile, PSECURITY_ATTRIBUTES SecurityAttributes, "
          "ULONG PageProtection, DWORD64 MaximumSize, PCWSTR Name)")
def CreateFileMappingFromApp(c, hfile, sa, protect, size, name):
    name = c.wstr(name) if name else None
    return _create_mapping(c, hfile, sa, protect, size >> 32, size & 0xFFFFFFFF, name)


def _open_mapping(c, access, inherit, name):
    if not name:
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    if access == FILE_MAP_COPY:
        access = SECTION_MAP_READ  # kernelbase: a copy view needs only read access to the section
    # without OBJ_CASE_INSENSITIVE: Win32 object names are case-sensitive (kernel32/virtual.c test_CreateFileMapping)
    oa = _name_attributes(c, object_path(c, name), OBJ_INHERIT if inherit else 0)
    out = c.stack_alloc(c.ptr_size)
    if _failed(c, c.nt("NtOpenSection", out, access, oa)):
        return 0
    return c.ptr(out)


@api(K32, "HANDLE WINAPI OpenFileMapping%(DWORD dwDesiredAccess, BOOL bInheritHandle, LPCTSTR lpName)")
def OpenFileMapping(c, access, inherit, name):
    return _open_mapping(c, access, inherit, name)


@api(K32, "HANDLE WINAPI OpenFileMappingFromApp(ULONG DesiredAccess, BOOL InheritHandle, PCWSTR Name)")
def OpenFileMappingFromApp(c, access, inherit, name):
    return _open_mapping(c, access, inherit, c.wstr(name) if name else None)


def view_protection(access: int) -> int:
    """MapViewOfFile's dwDesiredAccess as a page protection (kernelbase's translation). FILE_MAP_COPY gives a
    copy-on-write view only alone (with FILE_MAP_EXECUTE at most): combined with FILE_MAP_READ or
    FILE_MAP_WRITE it is ignored; an access with neither read nor write (0, SECTION_MAP_EXECUTE) maps a
    PAGE_NOACCESS view (kernel32/virtual.c's table, written on Windows)."""
    execute = bool(access & FILE_MAP_EXECUTE)
    if access & ~FILE_MAP_EXECUTE == FILE_MAP_COPY:
        return PAGE_EXECUTE_WRITECOPY if execute else PAGE_WRITECOPY
    if access & FILE_MAP_WRITE:
        return PAGE_EXECUTE_READWRITE if execute else PAGE_READWRITE
    if access & FILE_MAP_READ:
        return PAGE_EXECUTE_READ if execute else PAGE_READONLY
    return PAGE_NOACCESS


def _map(c, h, access, off_high, off_low, size, base):
    prot = view_protection(access & ~(FILE_MAP_RESERVE | FILE_MAP_TARGETS_INVALID | FILE_MAP_LARGE_PAGES))
    ps = c.ptr_size
    io = c.stack_alloc(2 * ps + 8)
    c.write_ptr(io, base)
    c.write_ptr(io + ps, size)
    c.write_u64(io + 2 * ps, (off_high << 32) | off_low)
    st = c.nt("NtMapViewOfSection", h, -1, io, 0, 0, io + 2 * ps, io + ps, 1, 0, prot)   # ViewShare
    if _failed(c, st):
        return 0
    return c.ptr(io)


@api(K32, "LPVOID WINAPI MapViewOfFile(HANDLE hFileMappingObject, DWORD dwDesiredAccess, DWORD dwFileOffsetHigh, "
          "DWORD dwFileOffsetLow, SIZE_T dwNumberOfBytesToMap)")
def MapViewOfFile(c, h, access, off_high, off_low, size):
    return _map(c, h, access, off_high, off_low, size, 0)


@api(K32, "LPVOID WINAPI MapViewOfFileEx(HANDLE hFileMappingObject, DWORD dwDesiredAccess, DWORD dwFileOffsetHigh, "
          "DWORD dwFileOffsetLow, SIZE_T dwNumberOfBytesToMap, LPVOID lpBaseAddress)")
def MapViewOfFileEx(c, h, access, off_high, off_low, size, base):
    return _map(c, h, access, off_high, off_low, size, base)


@api(K32, "LPVOID WINAPI MapViewOfFileExNuma(HANDLE hFileMappingObject, DWORD dwDesiredAccess, "
          "DWORD dwFileOffsetHigh, DWORD dwFileOffsetLow, SIZE_T dwNumberOfBytesToMap, LPVOID lpBaseAddress, "
          "DWORD nndPreferred)")
def MapViewOfFileExNuma(c, h, access, off_high, off_low, size, base, node):
    return _map(c, h, access, off_high, off_low, size, base)


@api(K32, "PVOID WINAPI MapViewOfFileFromApp(HANDLE hFileMappingObject, ULONG DesiredAccess, DWORD64 FileOffset, "
          "SIZE_T NumberOfBytesToMap)")
def MapViewOfFileFromApp(c, h, access, offset, size):
    return _map(c, h, access, offset >> 32, offset & 0xFFFFFFFF, size, 0)


@api(K32, "BOOL WINAPI UnmapViewOfFile(LPCVOID lpBaseAddress)")
def UnmapViewOfFile(c, base):
    return 0 if _failed(c, c.nt("NtUnmapViewOfSection", -1, base)) else 1


@api(K32, "BOOL WINAPI UnmapViewOfFileEx(PVOID BaseAddress, ULONG UnmapFlags)")
def UnmapViewOfFileEx(c, base, flags):
    if flags & ~0x3:  # MEM_UNMAP_WITH_TRANSIENT_BOOST | MEM_PRESERVE_PLACEHOLDER
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    return 0 if _failed(c, c.nt("NtUnmapViewOfSectionEx", -1, base, flags)) else 1


@api(K32, "BOOL WINAPI FlushViewOfFile(LPCVOID lpBaseAddress, SIZE_T dwNumberOfBytesToFlush)")
def FlushViewOfFile(c, base, size):
    ps = c.ptr_size
    io = c.stack_alloc(4 * ps)
    c.write_ptr(io, base)
    c.write_ptr(io + ps, size)
    return 0 if _failed(c, c.nt("NtFlushVirtualMemory", -1, io, io + ps, io + 2 * ps)) else 1


__all__ = ["view_protection"]
