"""The memory manager's section services: NtCreateSection, NtOpenSection, NtMapViewOfSection,
NtUnmapViewOfSection(Ex), NtFlushVirtualMemory, NtQuerySection — data sections, optionally backed by a file
(image sections are made by the loader).

Sections are winhatch.kernel.mm sections (one shared host buffer; every view of it, in any process, is that
memory), named in the object namespace. A view references its section (as a VAD does its control area), so the
data, and the file of a file-backed section, live as long as a view or a handle does; the name goes with the
last handle.

Access (documented for CreateFileMapping / MapViewOfFile, checked against Wine by conf_mapping): a view needing
a right the section handle lacks fails with STATUS_ACCESS_DENIED, and so does one reaching past the end of the
section; a file-backed section needs the file handle's rights for its protection (read; write for the
*READWRITE ones; FILE_EXECUTE for the PAGE_EXECUTE_* ones).

File-backed sections: the section's contents are read from the file when it is created (size 0 = the file's
size; STATUS_MAPPED_FILE_SIZE_ZERO for an empty file; a larger size extends the file when the section is
writable, STATUS_SECTION_TOO_BIG when it is not). The views share the section's memory, so what one view writes
every other view sees at once. Modified pages reach the file (only the part within the file's size; only the
pages that differ from what the file last gave or got, so a WriteFile to other parts of the file is not undone)
at NtFlushVirtualMemory, when the last view of the section is unmapped, when the section object dies, and at
process exit for the views the exiting process still has (the modified-page writer's work). Between those
points ReadFile does not see view writes (on Windows the cache manager makes them coherent at once), and a
WriteFile does not reach existing views. Copy-on-write views are private copies: nothing of them reaches the
section or the file.
Not done: SEC_IMAGE through these services (the loader makes image sections), SEC_RESERVE (treated as
SEC_COMMIT), large pages, NtExtendSection.
"""
from __future__ import annotations

import struct

from winhatch.kernel.fileobj import FileObject
from winhatch.kernel.ke.services import kernel_service, unsupported, user_read, user_write
from winhatch.kernel.mm.constants import MEM_REPLACE_PLACEHOLDER
from winhatch.kernel.mm.services import extended_parameters, zero_bits_limit
from winhatch.kernel.mm import (MEM_MAPPED, MEM_TOP_DOWN, PAGE_EXECUTE, PAGE_EXECUTE_READ, PAGE_EXECUTE_READWRITE,
                                PAGE_EXECUTE_WRITECOPY, PAGE_READONLY, PAGE_READWRITE, PAGE_SIZE, PAGE_WRITECOPY,
                                SEC_IMAGE, Section)
from winhatch.kernel.ob import KObject
from winhatch.kernel.ob.access import (FILE_EXECUTE, FILE_READ_DATA, FILE_WRITE_DATA, PROCESS_VM_OPERATION,
                                       SECTION_MAP_EXECUTE, SECTION_MAP_READ, SECTION_MAP_WRITE,
                                       SECTION_QUERY, STANDARD_RIGHTS_REQUIRED)
from winhatch.ntstatus import (STATUS_ACCESS_DENIED, STATUS_ACCESS_VIOLATION, STATUS_INVALID_PAGE_PROTECTION,
                               STATUS_INVALID_PARAMETER, STATUS_NOT_MAPPED_VIEW, STATUS_NOT_SUPPORTED,
                               STATUS_OBJECT_NAME_COLLISION, STATUS_OBJECT_NAME_NOT_FOUND,
                               STATUS_OBJECT_TYPE_MISMATCH, STATUS_SUCCESS, NtStatusError,
                               STATUS_INVALID_IMAGE_FORMAT)

STATUS_OBJECT_NAME_EXISTS = 0x40000000
STATUS_SECTION_TOO_BIG = 0xC0000040
STATUS_MAPPED_FILE_SIZE_ZERO = 0xC000011E
STATUS_INVALID_FILE_FOR_SECTION = 0xC0000020
ERROR_ALREADY_EXISTS = 183
ERROR_INVALID_PARAMETER = 87
OBJ_INHERIT, OBJ_OPENIF, OBJ_CASE_INSENSITIVE = 0x2, 0x80, 0x40
FILE_MAP_COPY, FILE_MAP_WRITE, FILE_MAP_READ = 0x1, 0x2, 0x4
FILE_MAP_EXECUTE = 0x20
FILE_MAP_RESERVE, FILE_MAP_TARGETS_INVALID, FILE_MAP_LARGE_PAGES = 0x80000000, 0x40000000, 0x20000000
SEC_RESERVE, SEC_COMMIT, SEC_NOCACHE = 0x04000000, 0x08000000, 0x10000000
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
            # a file's section keeps its size to the byte (NtQuerySection's MaximumSize; a view reaching past it
            # is STATUS_INVALID_VIEW_SIZE); a pagefile one is whole pages (kernel32/virtual.c test_NtQuerySection)
            sec.limit = size
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


def _lookup(thread, h: int, type_name: str, access: int = 0) -> KObject:
    return thread.process.handles.lookup(h, type_name, access, current_process=thread.process, current_thread=thread)


def _target_process(thread, h: int):
    proc = _lookup(thread, h, "Process", PROCESS_VM_OPERATION)
    if proc.exited:
        # STATUS_PROCESS_IS_TERMINATING (Wine's kernel32/tests/loader.c, NtMapViewOfSection into a process
        # that has ended, on Windows)
        raise NtStatusError(0xC000010A, "the process has ended")
    if proc.cpu is None:
        raise NtStatusError(STATUS_ACCESS_DENIED, "the process has no user address space")
    return proc


def create_section(machine, thread, access: int, path: str | None, max_size: int, protect: int, attributes: int,
                      file_handle: int, *, inherit: bool = False, openif: bool = False,
                      case_insensitive: bool = True) -> tuple[int, int]:
    """NtCreateSection: ``(handle, status)`` — STATUS_OBJECT_NAME_EXISTS when OBJ_OPENIF opened an existing
    section of that name.  ``path`` is the full object name (None: unnamed), ``max_size`` 0 = the file's size,
    ``file_handle`` 0 = pagefile-backed.  Raises NtStatusError."""
    base = protect & 0xFF
    if protect & ~0xFF or base not in _SECTION_PROTECTIONS:
        raise NtStatusError(STATUS_INVALID_PAGE_PROTECTION, f"section protection 0x{protect:X}")
    if attributes & SEC_IMAGE:
        if attributes & _NOT_WITH_IMAGE:
            raise NtStatusError(STATUS_INVALID_PARAMETER, f"SEC_IMAGE with 0x{attributes & _NOT_WITH_IMAGE:X}")
    else:
        _check_data_attributes(attributes)
    ns = machine.namespace
    if path:
        existing = ns.find(path, case_insensitive=case_insensitive)   # OBJ_CASE_INSENSITIVE or the exact name
        if existing is not None:
            if not openif:
                raise NtStatusError(STATUS_OBJECT_NAME_COLLISION, f"{path} exists")
            if existing.type_name != "Section":
                raise NtStatusError(STATUS_OBJECT_TYPE_MISMATCH, f"{path} is a {existing.type_name}")
            return thread.process.handles.insert(existing, access, inherit=inherit), STATUS_OBJECT_NAME_EXISTS
    fobj = None
    if attributes & SEC_IMAGE:
        sec = create_image_file_section(machine, thread, path, protect, attributes, file_handle, max_size)
    elif file_handle:
        fobj = _lookup(thread, file_handle, "File", _file_access(protect))
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
    if attributes & SEC_IMAGE:
        size = sec.size
    if size >> 44:
        raise NtStatusError(STATUS_SECTION_TOO_BIG, "section too large")
    if not attributes & SEC_IMAGE:
        sec = FileSection.create(size, base, fobj)
        if fobj is not None:
            machine.vfs.register_data_section(fobj.file.host_path, sec)   # the file cannot be deleted meanwhile
        # what NtQuerySection reports: a file's section is SEC_FILE, a pagefile one keeps SEC_RESERVE/SEC_COMMIT;
        # both keep the caching attribute
        sec.attributes = (SEC_FILE if fobj is not None else attributes & (SEC_RESERVE | SEC_COMMIT)) \
            | (attributes & (SEC_NOCACHE | SEC_WRITECOMBINE))
    try:
        if path:
            ns.insert(path, sec, case_insensitive=case_insensitive)
        h = thread.process.handles.insert(sec, access, inherit=inherit)
    except NtStatusError:
        sec.reference()
        sec.dereference()  # nobody holds it: release the file
        raise
    return h, STATUS_SUCCESS


class ImageFileSection(Section):
    """NtCreateSection(SEC_IMAGE) of a file: the image laid out as the loader lays it out (headers and each
    section's raw data at their RVAs, the rest demand-zero, per-page protections from the section headers),
    with the file object referenced while the section lives.  Views are MEM_IMAGE; one away from the image base
    is STATUS_IMAGE_NOT_AT_BASE and not relocated (the mapper relocates, as for a second view on Windows)."""

    image_file: FileObject | None = None

    def on_delete(self) -> None:
        f, self.image_file = self.image_file, None
        if f is not None:
            f.dereference()


def _check_data_attributes(attributes: int) -> None:
    """A data section needs exactly one of SEC_RESERVE / SEC_COMMIT, optionally SEC_NOCACHE or SEC_WRITECOMBINE;
    SEC_FILE and SEC_LARGE_PAGES (without the privilege) are refused (kernel32/virtual.c test_CreateFileMapping,
    written on Windows)."""
    kind = attributes & (SEC_RESERVE | SEC_COMMIT)
    if kind not in (SEC_RESERVE, SEC_COMMIT) or attributes & (SEC_FILE | SEC_LARGE_PAGES) \
            or attributes & ~(SEC_RESERVE | SEC_COMMIT | SEC_NOCACHE | SEC_WRITECOMBINE) & 0xFFFFFF00:
        raise NtStatusError(STATUS_INVALID_PARAMETER, f"section attributes 0x{attributes:X}")


#: SEC_* attributes SEC_IMAGE cannot be combined with (kernel32/virtual.c test_CreateFileMapping, on Windows)
SEC_FILE, SEC_LARGE_PAGES, SEC_WRITECOMBINE = 0x00800000, 0x80000000, 0x40000000
_NOT_WITH_IMAGE = SEC_RESERVE | SEC_COMMIT | SEC_FILE | SEC_LARGE_PAGES | SEC_WRITECOMBINE


def create_image_file_section(machine, thread, name: str | None, protect: int, attributes: int,
                              file_handle: int, max_size: int = 0) -> "ImageFileSection":
    """The image section of the file behind ``file_handle``: STATUS_INVALID_FILE_FOR_SECTION without a file or
    for an empty one, the PE parser's status (STATUS_INVALID_IMAGE_NOT_MZ, ...) for a file that is no image.
    A maximum size is the section's size as NtQuerySection reports it; one above the image's page-rounded size
    is STATUS_SECTION_TOO_BIG (Wine's kernel32/tests/loader.c, on Windows); without one the size is the image's."""
    from winhatch.pe import PEFile, PEFormatError
    if attributes & _NOT_WITH_IMAGE:
        raise NtStatusError(STATUS_INVALID_PARAMETER, f"SEC_IMAGE with 0x{attributes & _NOT_WITH_IMAGE:X}")
    if not file_handle:
        raise NtStatusError(STATUS_INVALID_FILE_FOR_SECTION, "SEC_IMAGE needs a file")
    access = FILE_READ_DATA | (FILE_EXECUTE if protect & 0xFF in _EXECUTABLE else 0)
    fobj = _lookup(thread, file_handle, "File", access)
    if not isinstance(fobj, FileObject) or fobj.file.is_dir or fobj.file.device is not None:
        raise NtStatusError(STATUS_INVALID_FILE_FOR_SECTION, "not a disk file")
    vf = fobj.file
    if vf.size == 0:
        raise NtStatusError(STATUS_INVALID_FILE_FOR_SECTION, "an empty file is no image")
    if vf.size > MAX_IMAGE_FILE:
        raise NtStatusError(STATUS_INVALID_IMAGE_FORMAT, f"a {vf.size:#x}-byte image file")
    pos = vf.position
    try:
        data = vf.read(vf.size, 0)
    finally:
        vf.position = pos
    try:
        pe = PEFile(data, name=fobj.path)
        pe.sections
        parts, protections = pe.image_parts(), pe.section_protections()
    except PEFormatError as e:
        raise NtStatusError(e.status, f"{fobj.path}: {e.reason}")
    if pe.arch not in ("x86", "x64"):
        raise NtStatusError(STATUS_INVALID_IMAGE_FORMAT, f"{fobj.path}: machine 0x{pe.machine:04x}")
    if (pe.arch == "x64") != pe.is_pe32_plus:
        # a 64-bit machine with a PE32 optional header, or i386 with PE32+: Windows's image section refuses it
        raise NtStatusError(STATUS_INVALID_IMAGE_FORMAT, f"{fobj.path}: machine 0x{pe.machine:04x} with a "
                            f"{'PE32+' if pe.is_pe32_plus else 'PE32'} optional header")
    image_size = (pe.size_of_image + 0xFFF) & ~0xFFF
    if max_size > image_size:
        raise NtStatusError(STATUS_SECTION_TOO_BIG, f"{fobj.path}: maximum size 0x{max_size:x} above the image's "
                            f"0x{image_size:x}")
    sec = ImageFileSection.create_image_sparse(pe.size_of_image, parts, protections, name, pe.image_base)
    sec.attributes |= attributes & SEC_NOCACHE
    sec.pe = pe
    sec.path = fobj.path
    sec.traps = None
    sec.image_file = fobj
    if max_size:
        sec.limit = max_size
    fobj.reference()
    machine.vfs.register_image_section(vf.host_path, sec)   # the file is in use while a view is mapped
    return sec


MAX_IMAGE_FILE = 1 << 31   # an image file is read whole: larger ones are refused


def open_section(machine, thread, access: int, path: str, *, inherit: bool = False) -> int:
    """NtOpenSection: a handle to the section named ``path``.  Raises NtStatusError."""
    obj = machine.namespace.lookup(path, "Section")
    return thread.process.handles.insert(obj, access, inherit=inherit)


def map_view(machine, thread, section_handle: int, process_handle: int, base: int, offset: int, size: int,
                alloc_type: int, protect: int, highest: int | None = None, lowest: int | None = None,
                align: int | None = None) -> tuple[int, int, int]:
    """NtMapViewOfSection: ``(base, view size, status)`` (STATUS_IMAGE_NOT_AT_BASE for a relocated image).
    The section handle needs the rights the protection implies; the process handle PROCESS_VM_OPERATION."""
    pbase = protect & 0xFF
    if protect & ~0xFF & ~0x700 or pbase not in _VIEW_ACCESS:
        raise NtStatusError(STATUS_INVALID_PAGE_PROTECTION, f"view protection 0x{protect:X}")
    sec = _lookup(thread, section_handle, "Section", _VIEW_ACCESS[pbase])
    proc = _target_process(thread, process_handle)
    tag = None
    if getattr(sec, "image_file", None) is not None:
        tag = ("image", sec.path.rsplit("\\", 1)[-1])
    elif getattr(sec, "file", None) is not None:
        tag = ("mapped_file", sec.file.path)
    elif sec.name:
        tag = ("section", sec.name)
    r = proc.aspace.map_view(sec, base or None, offset=offset, size=size,
                             protect=None if sec.is_image else protect, tag=tag,
                             top_down=bool(alloc_type & MEM_TOP_DOWN), highest=None if base else highest,
                             lowest=lowest, align=align or 0x10000,
                             replace_placeholder=bool(alloc_type & MEM_REPLACE_PLACEHOLDER))
    if not sec.is_image and protect & 0xF0:      # PAGE_EXECUTE*: which pages run after being written
        proc.aspace.track_execution(r.base, r.size)
    if sec.is_image and proc.debug_port is not None:
        from winhatch.kernel.ps import dbgk
        dbgk.on_image_map(proc, r.base)            # DbgkMapViewOfSection: LOAD_DLL
    return r.base, r.size, r.status


def unmap_view(machine, thread, process_handle: int, base: int, preserve_placeholder: bool = False) -> None:
    """NtUnmapViewOfSection (any address inside the view)."""
    proc = _target_process(thread, process_handle)
    if proc.debug_port is not None:
        a = proc.aspace.allocation_at(base)
        if a is not None and a.section is not None and a.section.is_image:
            from winhatch.kernel.ps import dbgk
            dbgk.on_image_unmap(proc, a.base)      # DbgkUnMapViewOfSection: UNLOAD_DLL
    proc.aspace.unmap_view(base, preserve_placeholder)


def flush_view(machine, thread, process_handle: int, base: int, size: int) -> tuple[int, int]:
    """NtFlushVirtualMemory: write the view's modified pages in ``[base, base+size)`` (size 0: to the end of
    the view) to the file; returns the flushed ``(base, size)``."""
    proc = _target_process(thread, process_handle)
    a = proc.aspace.allocation_at(base)
    if a is None or a.type != MEM_MAPPED:
        raise NtStatusError(STATUS_NOT_MAPPED_VIEW, f"0x{base:X} is not in a mapped view")
    start = base & ~(PAGE_SIZE - 1)
    end = a.end if size == 0 else min(a.end, _page_up(base + size))
    a.section.flush(a.offset + (start - a.base), end - start)
    return start, end - start




# ================================================================================ the system services
def _ptr_size(thread) -> int:
    return 8 if thread.process.arch == "x64" else 4


def _get_ptr(thread, addr: int) -> int:
    n = _ptr_size(thread)
    return int.from_bytes(user_read(thread.process, addr, n), "little")


def _put_ptr(thread, addr: int, v: int) -> None:
    n = _ptr_size(thread)
    user_write(thread.process, addr, (v & ((1 << (8 * n)) - 1)).to_bytes(n, "little"))


def _get_u64(thread, addr: int) -> int:
    return struct.unpack("<Q", user_read(thread.process, addr, 8))[0]


def object_attributes(machine, thread, oa: int) -> tuple[str | None, int]:
    """(full object name or None, Attributes) of the caller's OBJECT_ATTRIBUTES for a create, captured and
    resolved (RootDirectory) by the object manager."""
    from winhatch.kernel.ob.services import read_object_attributes
    return read_object_attributes(machine, thread, oa, create=True)


@kernel_service("NtCreateSection")
def NtCreateSection(machine, thread, SectionHandle, DesiredAccess, ObjectAttributes, MaximumSize,
                    SectionPageProtection, AllocationAttributes, FileHandle):
    _put_ptr(thread, SectionHandle, 0)   # probed first, NULL when the create fails
    protect = SectionPageProtection & 0xFFFFFFFF
    if protect & ~0xFF or (protect & 0xFF) not in _SECTION_PROTECTIONS:   # before the name is captured
        return STATUS_INVALID_PAGE_PROTECTION
    path, attrs = object_attributes(machine, thread, ObjectAttributes)
    size = _get_u64(thread, MaximumSize) if MaximumSize else 0
    h, status = create_section(machine, thread, DesiredAccess & 0xFFFFFFFF, path, size,
                               SectionPageProtection & 0xFFFFFFFF, AllocationAttributes & 0xFFFFFFFF, FileHandle,
                               inherit=bool(attrs & OBJ_INHERIT), openif=bool(attrs & OBJ_OPENIF),
                               case_insensitive=bool(attrs & OBJ_CASE_INSENSITIVE))
    try:
        _put_ptr(thread, SectionHandle, h)
    except NtStatusError:
        thread.process.handles.close(h)
        raise
    return status


@kernel_service("NtOpenSection")
def NtOpenSection(machine, thread, SectionHandle, DesiredAccess, ObjectAttributes):
    from winhatch.kernel.ob.services import open_object
    return open_object(machine, thread, ObjectAttributes, "Section", DesiredAccess & 0xFFFFFFFF, SectionHandle)


@kernel_service("NtMapViewOfSection")
def NtMapViewOfSection(machine, thread, SectionHandle, ProcessHandle, BaseAddress, ZeroBits, CommitSize,
                       SectionOffset, ViewSize, InheritDisposition, AllocationType, Win32Protect):
    if not BaseAddress or not ViewSize:
        raise NtStatusError(STATUS_INVALID_PARAMETER, "BaseAddress and ViewSize are required")
    alloc_type = AllocationType & 0xFFFFFFFF
    if alloc_type & AT_ROUND_TO_PAGE:   # 32-bit Windows only: in a 64-bit (or WoW64) process it is refused
        return STATUS_INVALID_PARAMETER_9
    if alloc_type & ~(MEM_TOP_DOWN | MEM_LARGE_PAGES | MEM_COMMIT_VIEW):
        unsupported(thread, "NtMapViewOfSection", f"AllocationType {alloc_type:#x}")
    base = _get_ptr(thread, BaseAddress)
    try:
        highest = zero_bits_limit(thread, ZeroBits)
    except NtStatusError:
        return STATUS_INVALID_PARAMETER_4
    if base and highest is not None and base > highest:   # a given address must satisfy the ZeroBits
        return STATUS_INVALID_PARAMETER_4
    offset = _get_u64(thread, SectionOffset) if SectionOffset else 0
    size = _get_ptr(thread, ViewSize)
    vbase, vsize, status = map_view(machine, thread, SectionHandle, ProcessHandle, base, offset, size,
                                    alloc_type, Win32Protect & 0xFFFFFFFF, highest)
    _put_ptr(thread, BaseAddress, vbase)
    _put_ptr(thread, ViewSize, vsize)
    return status


@kernel_service("NtMapViewOfSectionEx")
def NtMapViewOfSectionEx(machine, thread, SectionHandle, ProcessHandle, BaseAddress, SectionOffset, ViewSize,
                         AllocationType, Win32Protect, ExtendedParameters, ExtendedParameterCount):
    """NtMapViewOfSection with MEM_EXTENDED_PARAMETERs (MEM_ADDRESS_REQUIREMENTS) in place of ZeroBits, and
    MEM_REPLACE_PLACEHOLDER (MapViewOfFile3)."""
    if not BaseAddress or not ViewSize:
        raise NtStatusError(STATUS_INVALID_PARAMETER, "BaseAddress and ViewSize are required")
    alloc_type = AllocationType & 0xFFFFFFFF
    if alloc_type & AT_ROUND_TO_PAGE:   # 32-bit Windows only: in a 64-bit (or WoW64) process it is refused
        return STATUS_INVALID_PARAMETER_9
    if alloc_type & ~(MEM_TOP_DOWN | MEM_LARGE_PAGES | MEM_COMMIT_VIEW | MEM_REPLACE_PLACEHOLDER):
        unsupported(thread, "NtMapViewOfSectionEx", f"AllocationType {alloc_type:#x}")
    base = _get_ptr(thread, BaseAddress)
    proc = _target_process(thread, ProcessHandle)
    lowest, highest, align = extended_parameters(thread, proc, "NtMapViewOfSectionEx", ExtendedParameters,
                                                 ExtendedParameterCount, placing=not base)
    offset = _get_u64(thread, SectionOffset) if SectionOffset else 0
    size = _get_ptr(thread, ViewSize)
    vbase, vsize, status = map_view(machine, thread, SectionHandle, ProcessHandle, base, offset, size,
                                    alloc_type, Win32Protect & 0xFFFFFFFF, highest, lowest, align)
    _put_ptr(thread, BaseAddress, vbase)
    _put_ptr(thread, ViewSize, vsize)
    if ProcessHandle not in (0xFFFFFFFFFFFFFFFF, 0xFFFFFFFF, -1):
        from winhatch.kernel import behaviour
        behaviour.cross_process(machine, thread, _target_process(thread, ProcessHandle), "NtMapViewOfSection",
                                base=vbase, size=vsize, protect=Win32Protect & 0xFFFFFFFF)
    return status


@kernel_service("NtUnmapViewOfSection")
def NtUnmapViewOfSection(machine, thread, ProcessHandle, BaseAddress):
    unmap_view(machine, thread, ProcessHandle, BaseAddress)
    return STATUS_SUCCESS


@kernel_service("NtUnmapViewOfSectionEx")
def NtUnmapViewOfSectionEx(machine, thread, ProcessHandle, BaseAddress, Flags):
    if Flags & ~0x3:   # MEM_UNMAP_WITH_TRANSIENT_BOOST | MEM_PRESERVE_PLACEHOLDER
        return STATUS_INVALID_PARAMETER
    unmap_view(machine, thread, ProcessHandle, BaseAddress, preserve_placeholder=bool(Flags & 0x2))
    return STATUS_SUCCESS


@kernel_service("NtFlushVirtualMemory")
def NtFlushVirtualMemory(machine, thread, ProcessHandle, BaseAddress, RegionSize, IoStatus):
    base, size = flush_view(machine, thread, ProcessHandle, _get_ptr(thread, BaseAddress),
                            _get_ptr(thread, RegionSize))
    _put_ptr(thread, BaseAddress, base)
    _put_ptr(thread, RegionSize, size)
    if IoStatus:
        _put_ptr(thread, IoStatus, 0)
        _put_ptr(thread, IoStatus + _ptr_size(thread), 0)
    return STATUS_SUCCESS


AT_ROUND_TO_PAGE = 0x40000000
MEM_COMMIT_VIEW = 0x1000      # MEM_COMMIT: accepted, a view's pages are committed by its section anyway
MEM_LARGE_PAGES = 0x20000000
STATUS_INVALID_PARAMETER_4 = 0xC00000F2
STATUS_INVALID_PARAMETER_9 = 0xC00000F7
SectionBasicInformation = 0
STATUS_INFO_LENGTH_MISMATCH = 0xC0000004
STATUS_INVALID_INFO_CLASS = 0xC0000003


@kernel_service("NtQuerySection")
def NtQuerySection(machine, thread, SectionHandle, SectionInformationClass, SectionInformation,
                   SectionInformationLength, ResultLength):
    """SectionBasicInformation (SECTION_BASIC_INFORMATION: BaseAddress, AllocationAttributes, MaximumSize);
    the image class stops loudly (image sections are the loader's)."""
    cls = SectionInformationClass & 0xFFFFFFFF
    sec = _lookup(thread, SectionHandle, "Section", SECTION_QUERY)
    length = SectionInformationLength & ((1 << 8 * _ptr_size(thread)) - 1)
    if length and (not SectionInformation or not thread.process.aspace.accessible(SectionInformation, length, True)):
        return STATUS_ACCESS_VIOLATION     # the output buffer is probed first (ProbeForWrite)
    if cls == SectionImageInformation:
        return _query_image_information(thread, sec, SectionInformation, SectionInformationLength, ResultLength)
    if cls != SectionBasicInformation:
        return STATUS_INVALID_INFO_CLASS
    ps = _ptr_size(thread)
    size = ps + 4 + (4 if ps == 8 else 0) + 8
    if (SectionInformationLength & 0xFFFFFFFF) < size:
        return STATUS_INFO_LENGTH_MISMATCH
    attrs = getattr(sec, "attributes", 0) or 0x08000000   # SEC_COMMIT
    if getattr(sec, "file", None) is not None or getattr(sec, "image_file", None) is not None:
        attrs = attrs & ~(SEC_RESERVE | SEC_COMMIT) | SEC_FILE
    if sec.is_image:
        attrs &= ~SEC_NOCACHE   # SEC_IMAGE_NO_EXECUTE is not reported (kernel32/virtual.c, on Windows)
    data = (0).to_bytes(ps, "little") + struct.pack("<I", attrs & 0xFFFFFFFF) + (b"\0" * 4 if ps == 8 else b"")
    data += struct.pack("<Q", getattr(sec, "limit", sec.size))
    user_write(thread.process, SectionInformation, data)
    if ResultLength:
        _put_ptr(thread, ResultLength, size)     # a SIZE_T
    return STATUS_SUCCESS


SectionImageInformation = 1
STATUS_SECTION_NOT_IMAGE = 0xC0000049


def _query_image_information(thread, sec, buf: int, length: int, ret_len: int) -> int:
    """SECTION_IMAGE_INFORMATION of an image section, from its PE headers (x64 0x40 bytes, x86 0x30)."""
    ps = _ptr_size(thread)
    size = 0x40 if ps == 8 else 0x30
    if length & 0xFFFFFFFF < size:
        return STATUS_INFO_LENGTH_MISMATCH
    if not sec.is_image or getattr(sec, "pe", None) is None:
        return STATUS_SECTION_NOT_IMAGE
    user_write(thread.process, buf, image_information(sec.pe, ps))
    if ret_len:
        _put_ptr(thread, ret_len, size)          # a SIZE_T
    return STATUS_SUCCESS


def image_information(pe, ps: int) -> bytes:
    """SECTION_IMAGE_INFORMATION (x64 0x40 bytes, x86 0x30) from an image's PE headers (also what
    NtQueryInformationProcess(ProcessImageInformation) returns for a process's image)."""
    oh, fh = pe.optional_header, pe.file_header
    # TransferAddress: the entry point's address, the image base itself for an image without one
    entry = pe.image_base + oh.AddressOfEntryPoint
    # ImageContainsCode, as Windows 10 sets it (Wine's kernel32/tests/loader.c query_image_section): headers
    # declaring code (SizeOfCode) or an entry point; else an image mapped flat (SectionAlignment below a page) or
    # one with an executable section
    code = bool(oh.SizeOfCode or oh.AddressOfEntryPoint or oh.SectionAlignment % 0x1000
                or any(s.characteristics & IMAGE_SCN_MEM_EXECUTE for s in pe.sections))
    cor_flags, image_flags = _com_image_flags(pe)
    P = "Q" if ps == 8 else "I"
    data = struct.pack(f"<{P}I{'4x' if ps == 8 else ''}{P}{P}I", entry, 0, oh.SizeOfStackReserve,
                       oh.SizeOfStackCommit, oh.Subsystem)
    # LoaderFlags: 1 for an image with a COM descriptor (a .NET image), as Windows reports it
    data += struct.pack("<HHHHHHHBBII I", oh.MinorSubsystemVersion, oh.MajorSubsystemVersion,
                        oh.MajorOperatingSystemVersion, oh.MinorOperatingSystemVersion, fh.Characteristics,
                        oh.DllCharacteristics, fh.Machine, 1 if code else 0, image_flags,
                        1 if cor_flags is not None else 0, pe.file_size, oh.CheckSum)
    return data


IMAGE_SCN_MEM_EXECUTE = 0x20000000
IMAGE_DIRECTORY_ENTRY_COM_DESCRIPTOR = 14
COMIMAGE_FLAGS_ILONLY = 0x1
COMIMAGE_FLAGS_32BITREQUIRED = 0x2
COMIMAGE_FLAGS_32BITPREFERRED = 0x20000
#: SECTION_IMAGE_INFORMATION.ImageFlags bits
IMAGE_FLAG_COMPLUS_NATIVE_READY = 0x01
IMAGE_FLAG_COMPLUS_IL_ONLY = 0x02
IMAGE_FLAG_COMPLUS_PREFER_32BIT = 0x20


def _com_image_flags(pe) -> tuple[int | None, int]:
    """(the IMAGE_COR20_HEADER's Flags or None without a COM descriptor, the ImageFlags its .NET bits make).
    A descriptor counts when the optional header is whole and directory 14 has an address and a size; an IL-only
    image of runtime 2.5 or later is ComPlusILOnly, a PE32 one ComPlusNativeReady unless it requires 32 bits,
    and a PE32 one asking for 32 bits preferred ComPlusPrefer32bit."""
    full = 0xF0 if pe.is_pe32_plus else 0xE0       # the optional header with its 16 data directories
    d = pe.data_directories[IMAGE_DIRECTORY_ENTRY_COM_DESCRIPTOR]
    if pe.file_header.SizeOfOptionalHeader < full or not d.rva or not d.size:
        return None, 0
    try:
        raw = pe.read_rva(d.rva, 20) if d.size >= 20 else b""
    except Exception:           # the descriptor is outside the file: no .NET flags
        raw = b""
    if len(raw) < 20:
        return 0, 0
    _cb, major, minor, _md_rva, _md_size, flags = struct.unpack("<IHHIII", raw)
    image_flags = 0
    if flags & COMIMAGE_FLAGS_ILONLY and (major, minor) >= (2, 5):
        image_flags |= IMAGE_FLAG_COMPLUS_IL_ONLY
        if not pe.is_pe32_plus and not flags & COMIMAGE_FLAGS_32BITREQUIRED:
            image_flags |= IMAGE_FLAG_COMPLUS_NATIVE_READY
        if not pe.is_pe32_plus and flags & COMIMAGE_FLAGS_32BITPREFERRED:
            image_flags |= IMAGE_FLAG_COMPLUS_PREFER_32BIT
    return flags, image_flags


STATUS_NOT_SAME_DEVICE = 0xC00000D4
STATUS_INVALID_ADDRESS = 0xC0000141
STATUS_CONFLICTING_ADDRESSES = 0xC0000018


def _view_file_identity(machine, a):
    """The file a view's section comes from, as a host identity (device, inode), None for a pagefile section."""
    import os
    sec = a.section
    f = getattr(sec, "image_file", None) or getattr(sec, "file", None)
    host = getattr(getattr(f, "file", None), "host_path", None) if f is not None else None
    if host is None and getattr(sec, "path", None):
        try:
            host, _ro = machine.vfs.resolve(sec.path)
        except (NtStatusError, OSError, ValueError):
            return ("path", sec.path.lower())
    if host is None:
        return None
    try:
        st = os.stat(host)
    except OSError:
        return ("host", str(host))
    return (st.st_dev, st.st_ino)


@kernel_service("NtAreMappedFilesTheSame")
def NtAreMappedFilesTheSame(machine, thread, File1MappedAsAnImage, File2MappedAsFile):
    """Whether two addresses lie in views of the same file: the same view, or — the first being an image view —
    any view of the same file (Wine's kernel32/virtual.c records this on Windows: two data views of one file,
    even of one section, are "not the same device").  An address in no allocation is STATUS_INVALID_ADDRESS,
    one in private memory STATUS_CONFLICTING_ADDRESSES."""
    aspace = thread.process.aspace
    views = []
    for addr in (File1MappedAsAnImage, File2MappedAsFile):
        a = aspace.allocation_at(addr) if addr else None
        if a is None:
            return STATUS_INVALID_ADDRESS
        if a.section is None:
            return STATUS_CONFLICTING_ADDRESSES
        views.append(a)
    first, second = views
    if first is second:
        return STATUS_SUCCESS
    if first.section.is_image:
        ident = _view_file_identity(machine, first)
        if ident is not None and ident == _view_file_identity(machine, second):
            return STATUS_SUCCESS
    return STATUS_NOT_SAME_DEVICE
