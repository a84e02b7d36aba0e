"""kernel32 / kernelbase / ntdll: file mappings — CreateFileMapping, OpenFileMapping, MapViewOfFile(Ex),
UnmapViewOfFile(Ex), FlushViewOfFile, and the ntdll calls under them (NtCreateSection, NtOpenSection,
NtMapViewOfSection, NtUnmapViewOfSection, NtFlushVirtualMemory).

The logic lives in the nt_* functions below; the ntdll handlers decode their arguments (OBJECT_ATTRIBUTES,
LARGE_INTEGER sizes and offsets) into them, and the kernel32 handlers reach them as kernelbase does: the
object name under the session's BaseNamedObjects, INVALID_HANDLE_VALUE as "no file", FILE_MAP_* as a page
protection, NTSTATUS turned into the last error (BaseSetLastNTError).

Sections are winhatch.kernel.mm sections (one shared host buffer; every view of it, in any process, is that
memory), named in the object namespace. A view references its section (as a VAD does its control area), so the
data, and the file of a file-backed section, live as long as a view or a handle does; the name goes with the
last handle.

Access, as Windows (documented for CreateFileMapping / MapViewOfFile, checked against Wine by conf_mapping):
- CreateFileMapping's handle gets SECTION_QUERY | SECTION_MAP_READ, plus SECTION_MAP_WRITE for PAGE_READWRITE /
  PAGE_EXECUTE_READWRITE and SECTION_MAP_EXECUTE for the PAGE_EXECUTE_* protections; a view needing a right the
  handle lacks (FILE_MAP_WRITE of a PAGE_READONLY or PAGE_WRITECOPY mapping, FILE_MAP_EXECUTE of a mapping
  without execute) fails with ERROR_ACCESS_DENIED; so does one reaching past the end of the section.
- A file-backed mapping needs the file handle's rights for its protection (read; write for the *READWRITE
  ones; FILE_EXECUTE for the PAGE_EXECUTE_* ones): ERROR_ACCESS_DENIED otherwise.

File-backed sections: the section's contents are read from the file when it is created (size 0 = the file's
size; ERROR_FILE_INVALID for an empty file; a larger size extends the file when the mapping is writable, and is
ERROR_NOT_ENOUGH_MEMORY, STATUS_SECTION_TOO_BIG, when it is not). The views share the section's memory, so
what one view writes every other view sees at once. Modified pages reach the file (only the part within the
file's size; only the pages that differ from what the file last gave or got, so a WriteFile to other parts of
the file is not undone) at FlushViewOfFile, when the last view of the section is unmapped, when the section
object dies, and at process exit for the views the exiting process still has (the modified-page writer's
work). Between those points ReadFile does not see view writes (on Windows the cache manager makes them
coherent at once), and a WriteFile does not reach existing views. FILE_MAP_COPY views are private copies:
nothing of them reaches the section or the file.
Not done: SEC_IMAGE through these calls (the loader makes image sections), SEC_RESERVE (treated as
SEC_COMMIT), large pages, NtExtendSection.
"""
from __future__ import annotations

from winhatch.kernel.fileobj import FileObject
from winhatch.kernel.mm import (MEM_MAPPED, MEM_TOP_DOWN, PAGE_EXECUTE, PAGE_EXECUTE_READ, PAGE_EXECUTE_READWRITE,
                                PAGE_EXECUTE_WRITECOPY, PAGE_READONLY, PAGE_READWRITE, PAGE_SIZE, PAGE_WRITECOPY,
                                SEC_IMAGE, Section)
from winhatch.kernel.ob import KObject
from winhatch.kernel.ob.access import (FILE_EXECUTE, FILE_READ_DATA, FILE_WRITE_DATA, PROCESS_VM_OPERATION,
                                       SECTION_MAP_EXECUTE, SECTION_MAP_READ, SECTION_MAP_WRITE,
                                       SECTION_QUERY, STANDARD_RIGHTS_REQUIRED)
from winhatch.ntstatus import (STATUS_ACCESS_DENIED, STATUS_INVALID_PAGE_PROTECTION,
                               STATUS_INVALID_PARAMETER, STATUS_NOT_MAPPED_VIEW, STATUS_NOT_SUPPORTED,
                               STATUS_OBJECT_NAME_COLLISION, STATUS_OBJECT_NAME_NOT_FOUND,
                               STATUS_OBJECT_TYPE_MISMATCH, STATUS_SUCCESS, NtStatusError, nt_to_win32)
from winhatch.win32.api import api

from winhatch.win32.kernel32.common import K32, invalid_handle, sa_inherit
from winhatch.win32.kernel32.sync import object_path

NTDLL = "ntdll.dll"
STATUS_OBJECT_NAME_EXISTS = 0x40000035
STATUS_SECTION_TOO_BIG = 0xC0000040
STATUS_MAPPED_FILE_SIZE_ZERO = 0xC000011E
STATUS_INVALID_FILE_FOR_SECTION = 0xC0000020
ERROR_ALREADY_EXISTS = 183
ERROR_INVALID_PARAMETER = 87
OBJ_INHERIT, OBJ_OPENIF = 0x2, 0x80
FILE_MAP_COPY, FILE_MAP_WRITE, FILE_MAP_READ = 0x1, 0x2, 0x4
FILE_MAP_EXECUTE = 0x20
FILE_MAP_RESERVE, FILE_MAP_TARGETS_INVALID, FILE_MAP_LARGE_PAGES = 0x80000000, 0x40000000, 0x20000000
SEC_RESERVE, SEC_COMMIT = 0x04000000, 0x08000000
SEC_FLAGS = 0xFFFFFF00  # SEC_* bits of CreateFileMapping's flProtect
_SECTION_PROTECTIONS = {PAGE_READONLY, PAGE_READWRITE, PAGE_WRITECOPY, PAGE_EXECUTE, PAGE_EXECUTE_READ,
                        PAGE_EXECUTE_READWRITE, PAGE_EXECUTE_WRITECOPY}
_WRITABLE = {PAGE_READWRITE, PAGE_EXECUTE_READWRITE}
_EXECUTABLE = {PAGE_EXECUTE, PAGE_EXECUTE_READ, PAGE_EXECUTE_READWRITE, PAGE_EXECUTE_WRITECOPY}
#: the section rights a view with this protection needs (MiMapViewOfSection's check of the handle)
_VIEW_ACCESS = {0x01: SECTION_MAP_READ, PAGE_READONLY: SECTION_MAP_READ, PAGE_READWRITE: SECTION_MAP_WRITE,
                PAGE_WRITECOPY: SECTION_MAP_READ, PAGE_EXECUTE: SECTION_MAP_EXECUTE,
                PAGE_EXECUTE_READ: SECTION_MAP_EXECUTE | SECTION_MAP_READ,
                PAGE_EXECUTE_READWRITE: SECTION_MAP_EXECUTE | SECTION_MAP_WRITE,
                PAGE_EXECUTE_WRITECOPY: SECTION_MAP_EXECUTE | SECTION_MAP_READ}
MAX_FLUSH_PAGES = 1 << 20  # one flush compares at most 4 GiB of pages (bounds the loop)


def _page_up(n: int) -> int:
    return (n + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1)


# ================================================================================ the section object
class FileSection(Section):
    """A data section, optionally backed by a file (``file``: the FileObject, referenced while the section
    lives).  Its views reference it; :meth:`flush` writes the modified pages to the file."""

    def __init__(self, size: int, protect: int, attributes: int, name: str | None = None):
        super().__init__(size, protect, attributes, name)
        self.file: FileObject | None = None
        self.file_bytes = 0          # bytes of the section the file holds (the file's size at creation)
        self._clean = b""            # what the file holds there, as last read or written
        self._view_refs = 0

    @classmethod
    def create(cls, size: int, protect: int, file: FileObject | None) -> "FileSection":
        sec = cls.create_data(size, protect)
        if file is not None:
            vf = file.file
            n = min(size, vf.size)
            pos = vf.position
            try:
                data = vf.read(n, 0) if n else b""
            finally:
                vf.position = pos
            sec.write(0, data)
            sec._clean = bytes(data)
            sec.file_bytes = len(data)
            sec.file = file
            file.reference()
        return sec

    @property
    def writable(self) -> bool:
        return (self.protect & 0xFF) in _WRITABLE

    def flush(self, offset: int = 0, size: int | None = None) -> None:
        """Write the pages of ``[offset, offset+size)`` that differ from the file's last known contents."""
        f = self.file
        if f is None or not self.writable or f.file.closed:
            return
        end = self.file_bytes if size is None else min(self.file_bytes, offset + size)
        start = max(0, offset) & ~(PAGE_SIZE - 1)
        if start >= end:
            return
        vf = f.file
        pos = vf.position
        clean = bytearray(self._clean)
        try:
            page = start
            for _ in range(MAX_FLUSH_PAGES):
                if page >= end:
                    break
                stop = min(page + PAGE_SIZE, end)
                data = self.read(page, stop - page)
                if data != clean[page:stop]:
                    vf.write(data, page)
                    clean[page:stop] = data
                page = stop
        finally:
            vf.position = pos
            self._clean = bytes(clean)

    def on_view_mapped(self, view) -> None:
        self.reference()
        self._view_refs += 1

    def on_view_unmapped(self, view) -> None:
        if self._view_refs <= 0:
            return
        self._view_refs -= 1
        if self.views == 0:
            self.flush()
        self.dereference()

    def on_delete(self) -> None:
        self.flush()
        f, self.file = self.file, None
        if f is not None:
            f.dereference()


# ================================================================================ the kernel side
def _handle_access(protect: int) -> int:
    """The rights CreateFileMapping asks for its handle."""
    base = protect & 0xFF
    access = STANDARD_RIGHTS_REQUIRED | SECTION_QUERY | SECTION_MAP_READ
    if base in _WRITABLE:
        access |= SECTION_MAP_WRITE
    if base in _EXECUTABLE:
        access |= SECTION_MAP_EXECUTE
    return access


def _file_access(protect: int) -> int:
    base = protect & 0xFF
    access = FILE_READ_DATA
    if base in _WRITABLE:
        access |= FILE_WRITE_DATA
    if base in _EXECUTABLE:
        access |= FILE_EXECUTE
    return access


def _lookup(c, h: int, type_name: str, access: int = 0) -> KObject:
    return c.proc.handles.lookup(h, type_name, access, current_process=c.proc, current_thread=c.thread)


def _target_process(c, h: int):
    proc = _lookup(c, h, "Process", PROCESS_VM_OPERATION)
    if proc.cpu is None or proc.exited:
        raise NtStatusError(STATUS_ACCESS_DENIED, "the process has no user address space")
    return proc


def nt_create_section(c, access: int, path: str | None, max_size: int, protect: int, attributes: int,
                      file_handle: int, *, inherit: bool = False, openif: bool = False) -> tuple[int, int]:
    """NtCreateSection: ``(handle, status)`` — STATUS_OBJECT_NAME_EXISTS when OBJ_OPENIF opened an existing
    section of that name.  ``path`` is the full object name (None: unnamed), ``max_size`` 0 = the file's size,
    ``file_handle`` 0 = pagefile-backed.  Raises NtStatusError."""
    base = protect & 0xFF
    if protect & ~0xFF or base not in _SECTION_PROTECTIONS:
        raise NtStatusError(STATUS_INVALID_PAGE_PROTECTION, f"section protection 0x{protect:X}")
    if attributes & SEC_IMAGE:
        raise NtStatusError(STATUS_NOT_SUPPORTED, "SEC_IMAGE sections are made by the loader only")
    ns = c.machine.namespace
    if path:
        existing = ns.find(path)
        if existing is not None:
            if not openif:
                raise NtStatusError(STATUS_OBJECT_NAME_COLLISION, f"{path} exists")
            if existing.type_name != "Section":
                raise NtStatusError(STATUS_OBJECT_TYPE_MISMATCH, f"{path} is a {existing.type_name}")
            return c.proc.handles.insert(existing, access, inherit=inherit), STATUS_OBJECT_NAME_EXISTS
    fobj = None
    if file_handle:
        fobj = _lookup(c, file_handle, "File", _file_access(protect))
        if not isinstance(fobj, FileObject) or fobj.file.is_dir or fobj.file.device is not None:
            raise NtStatusError(STATUS_INVALID_FILE_FOR_SECTION, "not a disk file")
        fsize = fobj.size
        size = max_size or fsize
        if size == 0:
            raise NtStatusError(STATUS_MAPPED_FILE_SIZE_ZERO, "empty file, size 0")
        if size > fsize:
            if base not in _WRITABLE:
                raise NtStatusError(STATUS_SECTION_TOO_BIG, "a read-only section larger than its file")
            fobj.file.set_size(size)  # as Windows: a writable mapping extends the file
    else:
        size = max_size
        if size == 0:
            raise NtStatusError(STATUS_INVALID_PARAMETER, "a pagefile-backed section needs a size")
    if size >> 44:
        raise NtStatusError(STATUS_SECTION_TOO_BIG, "section too large")
    sec = FileSection.create(size, base, fobj)
    try:
        if path:
            ns.insert(path, sec)
        h = c.proc.handles.insert(sec, access, inherit=inherit)
    except NtStatusError:
        sec.reference()
        sec.dereference()  # nobody holds it: release the file
        raise
    return h, STATUS_SUCCESS


def nt_open_section(c, access: int, path: str, *, inherit: bool = False) -> int:
    """NtOpenSection: a handle to the section named ``path``.  Raises NtStatusError."""
    obj = c.machine.namespace.lookup(path, "Section")
    return c.proc.handles.insert(obj, access, inherit=inherit)


def nt_map_view(c, section_handle: int, process_handle: int, base: int, offset: int, size: int,
                alloc_type: int, protect: int) -> tuple[int, int, int]:
    """NtMapViewOfSection: ``(base, view size, status)`` (STATUS_IMAGE_NOT_AT_BASE for a relocated image).
    The section handle needs the rights the protection implies; the process handle PROCESS_VM_OPERATION."""
    pbase = protect & 0xFF
    if protect & ~0xFF & ~0x700 or pbase not in _VIEW_ACCESS:
        raise NtStatusError(STATUS_INVALID_PAGE_PROTECTION, f"view protection 0x{protect:X}")
    sec = _lookup(c, section_handle, "Section", _VIEW_ACCESS[pbase])
    proc = _target_process(c, process_handle)
    tag = None
    if getattr(sec, "file", None) is not None:
        tag = ("mapped_file", sec.file.path)
    elif sec.name:
        tag = ("section", sec.name)
    r = proc.aspace.map_view(sec, base or None, offset=offset, size=size,
                             protect=None if sec.is_image else protect, tag=tag,
                             top_down=bool(alloc_type & MEM_TOP_DOWN))
    return r.base, r.size, r.status


def nt_unmap_view(c, process_handle: int, base: int) -> None:
    """NtUnmapViewOfSection (any address inside the view)."""
    proc = _target_process(c, process_handle)
    proc.aspace.unmap_view(base)


def nt_flush_view(c, process_handle: int, base: int, size: int) -> tuple[int, int]:
    """NtFlushVirtualMemory: write the view's modified pages in ``[base, base+size)`` (size 0: to the end of
    the view) to the file; returns the flushed ``(base, size)``."""
    proc = _target_process(c, process_handle)
    a = proc.aspace.allocation_at(base)
    if a is None or a.type != MEM_MAPPED:
        raise NtStatusError(STATUS_NOT_MAPPED_VIEW, f"0x{base:X} is not in a mapped view")
    start = base & ~(PAGE_SIZE - 1)
    end = a.end if size == 0 else min(a.end, _page_up(base + size))
    a.section.flush(a.offset + (start - a.base), end - start)
    return start, end - start


# ================================================================================ ntdll
def _read_u64(c, addr: int) -> int:
    return c.u32(addr) | (c.u32(addr + 4) << 32)


def _object_attributes(c, oa: int) -> tuple[str | None, int]:
    """(full object name or None, Attributes) of an OBJECT_ATTRIBUTES."""
    if not oa:
        return None, 0
    ps = c.ptr_size
    root = c.ptr(oa + ps)
    pname = c.ptr(oa + 2 * ps)
    attrs = c.u32(oa + 3 * ps)
    if not pname:
        return None, attrs
    length = c.read(pname, 2)
    n = int.from_bytes(length, "little") & ~1
    buf = c.ptr(pname + ps)
    name = c.read(buf, n).decode("utf-16-le", "replace") if n and buf else ""
    if not name:
        return None, attrs
    if root:
        d = _lookup(c, root, "Directory")
        name = (d.name.rstrip("\\") if d.name else "") + "\\" + name
    return name, attrs


@api(NTDLL, "NTSTATUS NTAPI NtCreateSection(PHANDLE SectionHandle, ACCESS_MASK DesiredAccess, "
            "POBJECT_ATTRIBUTES ObjectAttributes, PLARGE_INTEGER MaximumSize, ULONG SectionPageProtection, "
            "ULONG AllocationAttributes, HANDLE FileHandle)")
@api(NTDLL, "NTSTATUS NTAPI ZwCreateSection(PHANDLE SectionHandle, ACCESS_MASK DesiredAccess, "
            "POBJECT_ATTRIBUTES ObjectAttributes, PLARGE_INTEGER MaximumSize, ULONG SectionPageProtection, "
            "ULONG AllocationAttributes, HANDLE FileHandle)")
def NtCreateSection(c, phandle, access, oa, psize, protect, attributes, file_handle):
    try:
        path, attrs = _object_attributes(c, oa)
        size = _read_u64(c, psize) if psize else 0
        h, status = nt_create_section(c, access, path, size, protect, attributes, file_handle,
                                      inherit=bool(attrs & OBJ_INHERIT), openif=bool(attrs & OBJ_OPENIF))
    except NtStatusError as e:
        return e.status
    c.write_ptr(phandle, h)
    return status


@api(NTDLL, "NTSTATUS NTAPI NtOpenSection(PHANDLE SectionHandle, ACCESS_MASK DesiredAccess, "
            "POBJECT_ATTRIBUTES ObjectAttributes)")
@api(NTDLL, "NTSTATUS NTAPI ZwOpenSection(PHANDLE SectionHandle, ACCESS_MASK DesiredAccess, "
            "POBJECT_ATTRIBUTES ObjectAttributes)")
def NtOpenSection(c, phandle, access, oa):
    try:
        path, attrs = _object_attributes(c, oa)
        if path is None:
            raise NtStatusError(STATUS_OBJECT_NAME_NOT_FOUND, "no name")
        h = nt_open_section(c, access, path, inherit=bool(attrs & OBJ_INHERIT))
    except NtStatusError as e:
        return e.status
    c.write_ptr(phandle, h)
    return STATUS_SUCCESS


@api(NTDLL, "NTSTATUS NTAPI NtMapViewOfSection(HANDLE SectionHandle, HANDLE ProcessHandle, PVOID *BaseAddress, "
            "ULONG_PTR ZeroBits, SIZE_T CommitSize, PLARGE_INTEGER SectionOffset, PSIZE_T ViewSize, "
            "DWORD InheritDisposition, ULONG AllocationType, ULONG Win32Protect)")
@api(NTDLL, "NTSTATUS NTAPI ZwMapViewOfSection(HANDLE SectionHandle, HANDLE ProcessHandle, PVOID *BaseAddress, "
            "ULONG_PTR ZeroBits, SIZE_T CommitSize, PLARGE_INTEGER SectionOffset, PSIZE_T ViewSize, "
            "DWORD InheritDisposition, ULONG AllocationType, ULONG Win32Protect)")
def NtMapViewOfSection(c, hsec, hproc, pbase, zero_bits, commit, poffset, psize, inherit, alloc_type, protect):
    try:
        if not pbase or not psize:
            raise NtStatusError(STATUS_INVALID_PARAMETER, "BaseAddress and ViewSize are required")
        base = c.ptr(pbase)
        offset = _read_u64(c, poffset) if poffset else 0
        size = c.ptr(psize)
        vbase, vsize, status = nt_map_view(c, hsec, hproc, base, offset, size, alloc_type, protect)
    except NtStatusError as e:
        return e.status
    c.write_ptr(pbase, vbase)
    c.write_ptr(psize, vsize)
    return status


@api(NTDLL, "NTSTATUS NTAPI NtUnmapViewOfSection(HANDLE ProcessHandle, PVOID BaseAddress)")
@api(NTDLL, "NTSTATUS NTAPI ZwUnmapViewOfSection(HANDLE ProcessHandle, PVOID BaseAddress)")
def NtUnmapViewOfSection(c, hproc, base):
    try:
        nt_unmap_view(c, hproc, base)
    except NtStatusError as e:
        return e.status
    return STATUS_SUCCESS


@api(NTDLL, "NTSTATUS NTAPI NtFlushVirtualMemory(HANDLE ProcessHandle, PVOID *BaseAddress, PSIZE_T RegionSize, "
            "PIO_STATUS_BLOCK IoStatus)")
def NtFlushVirtualMemory(c, hproc, pbase, psize, iosb):
    try:
        base, size = nt_flush_view(c, hproc, c.ptr(pbase), c.ptr(psize))
    except NtStatusError as e:
        return e.status
    c.write_ptr(pbase, base)
    c.write_ptr(psize, size)
    if iosb:
        c.write_ptr(iosb, 0)
        c.write_ptr(iosb + c.ptr_size, 0)
    return STATUS_SUCCESS


# ================================================================================ kernel32 / kernelbase
def _fail(c, e: NtStatusError, value: int = 0) -> int:
    c.set_last_error(nt_to_win32(e.status))
    return value


def _create_mapping(c, hfile, sa, protect, size_high, size_low, name):
    if hfile & ((1 << (8 * c.ptr_size)) - 1) == invalid_handle(c):
        hfile = 0  # the pagefile (NULL is passed on as it is: NtCreateSection's "no file", as Wine does too)
    sec_flags = protect & SEC_FLAGS
    base = protect & 0xFF
    path = None
    if name:
        path = object_path(c, name)
    try:
        h, status = nt_create_section(c, _handle_access(base), path, (size_high << 32) | size_low, base,
                                      sec_flags or SEC_COMMIT, hfile, inherit=sa_inherit(c, sa), openif=True)
    except NtStatusError as e:
        return _fail(c, e)
    c.set_last_error(ERROR_ALREADY_EXISTS if status == STATUS_OBJECT_NAME_EXISTS else 0)
    return h


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
    try:
        return nt_open_section(c, access, object_path(c, name), inherit=bool(inherit))
    except NtStatusError as e:
        return _fail(c, e)


@api(K32, "HANDLE WINAPI OpenFileMapping%(DWORD dwDesiredAccess, BOOL bInheritHandle, LPCTSTR lpName)")
def OpenFileMapping(c, access, inherit, name):
    return _open_mapping(c, access, inherit, name)


@api(K32, "HANDLE WINAPI OpenFileMappingFromApp(ULONG DesiredAccess, BOOL InheritHandle, PCWSTR Name)")
def OpenFileMappingFromApp(c, access, inherit, name):
    return _open_mapping(c, access, inherit, c.wstr(name) if name else None)


def view_protection(access: int) -> int | None:
    """MapViewOfFile's dwDesiredAccess as a page protection (kernelbase's translation); None if invalid."""
    execute = bool(access & FILE_MAP_EXECUTE)
    if access & FILE_MAP_COPY and not access & FILE_MAP_WRITE:
        return PAGE_EXECUTE_WRITECOPY if execute else PAGE_WRITECOPY
    if access & FILE_MAP_WRITE:
        return PAGE_EXECUTE_READWRITE if execute else PAGE_READWRITE
    if access & FILE_MAP_READ:
        return PAGE_EXECUTE_READ if execute else PAGE_READONLY
    return None


def _map(c, h, access, off_high, off_low, size, base):
    prot = view_protection(access & ~(FILE_MAP_RESERVE | FILE_MAP_TARGETS_INVALID | FILE_MAP_LARGE_PAGES))
    if prot is None:
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    try:
        vbase, _size, _status = nt_map_view(c, h, -1, base, (off_high << 32) | off_low, size, 0, prot)
    except NtStatusError as e:
        return _fail(c, e)
    return vbase


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
    try:
        nt_unmap_view(c, -1, base)
    except NtStatusError as e:
        return _fail(c, e)
    return 1


@api(K32, "BOOL WINAPI UnmapViewOfFileEx(PVOID BaseAddress, ULONG UnmapFlags)")
def UnmapViewOfFileEx(c, base, flags):
    if flags & ~0x3:  # MEM_UNMAP_WITH_TRANSIENT_BOOST | MEM_PRESERVE_PLACEHOLDER
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    return UnmapViewOfFile(c, base)


@api(K32, "BOOL WINAPI FlushViewOfFile(LPCVOID lpBaseAddress, SIZE_T dwNumberOfBytesToFlush)")
def FlushViewOfFile(c, base, size):
    try:
        nt_flush_view(c, -1, base, size)
    except NtStatusError as e:
        return _fail(c, e)
    return 1


__all__ = ["FileSection", "nt_create_section", "nt_open_section", "nt_map_view", "nt_unmap_view", "nt_flush_view",
           "view_protection"]
