"""The object manager's system services, called by the system-service dispatcher
(winhatch.kernel.ke.services): NtClose, NtDuplicateObject, NtQueryObject, NtMakeTemporaryObject, and the
helpers other components' Create/Open services use to decode OBJECT_ATTRIBUTES and insert named objects
(ObInsertObject / ObOpenObjectByName).

Guest structures read and written here are the caller's pointer size: OBJECT_ATTRIBUTES {ULONG Length; HANDLE
RootDirectory; PUNICODE_STRING ObjectName; ULONG Attributes; PVOID SecurityDescriptor, SecurityQualityOfService}
(x64 48 bytes, x86 24), UNICODE_STRING {USHORT Length, MaximumLength; PWSTR Buffer} (16 / 8)."""
from __future__ import annotations

import struct

from winhatch.kernel.ke.services import kernel_service, process_from_handle, unsupported, user_read, user_write
from winhatch.kernel.ob.access import PROCESS_DUP_HANDLE, object_type, type_valid_mask
from winhatch.kernel.ob.handles import (CURRENT_PROCESS, CURRENT_THREAD, DUPLICATE_CLOSE_SOURCE,
                                        DUPLICATE_SAME_ACCESS, normalize_handle)
from winhatch.ntstatus import (STATUS_ACCESS_DENIED, STATUS_INFO_LENGTH_MISMATCH, STATUS_INVALID_HANDLE,
                               STATUS_INVALID_INFO_CLASS, STATUS_INVALID_PARAMETER, STATUS_OBJECT_NAME_COLLISION,
                               STATUS_OBJECT_NAME_INVALID,
                               STATUS_OBJECT_PATH_SYNTAX_BAD, STATUS_OBJECT_TYPE_MISMATCH, STATUS_PRIVILEGE_NOT_HELD,
                               NtStatusError)

STATUS_OBJECT_NAME_EXISTS = 0x40000000
OBJ_INHERIT = 0x2
OBJ_PERMANENT = 0x10
OBJ_CASE_INSENSITIVE = 0x40
OBJ_OPENIF = 0x80
OBJ_OPENLINK = 0x100
DUPLICATE_SAME_ATTRIBUTES = 0x4
ObjectBasicInformation, ObjectNameInformation, ObjectTypeInformation = 0, 1, 2


# ------------------------------------------------------------------------------------------ guest structures
def ptr_size(thread) -> int:
    return 8 if thread.process.arch == "x64" else 4


def read_ptr(thread, addr: int) -> int:
    ps = ptr_size(thread)
    return int.from_bytes(user_read(thread.process, addr, ps), "little")


def write_ptr(thread, addr: int, value: int) -> None:
    ps = ptr_size(thread)
    user_write(thread.process, addr, (value & ((1 << 8 * ps) - 1)).to_bytes(ps, "little"))


def write_handle(thread, addr: int, h: int) -> None:
    write_ptr(thread, addr, h)


def read_unicode_string(thread, us: int) -> str:
    """A UNICODE_STRING's text (Length bytes; an odd Length is STATUS_OBJECT_NAME_INVALID as ObpCaptureObjectName
    reports it)."""
    ps = ptr_size(thread)
    length, _maximum = struct.unpack("<HH", user_read(thread.process, us, 4))
    buf = read_ptr(thread, us + ps)
    if length & 1:
        raise NtStatusError(STATUS_OBJECT_NAME_INVALID, "odd UNICODE_STRING length")
    if not length:
        return ""
    return user_read(thread.process, buf, length).decode("utf-16-le", "surrogatepass")


STATUS_DATATYPE_MISALIGNMENT = 0x80000002


def capture_object_name(thread, us: int) -> str:
    """ObpCaptureObjectName: the text of an ObjectName UNICODE_STRING. The buffer is probed for WCHAR alignment
    first (STATUS_DATATYPE_MISALIGNMENT), an odd Length or one that leaves no room for the terminating NUL in a
    USHORT (0xFFFE) is STATUS_OBJECT_NAME_INVALID, an unreadable buffer STATUS_ACCESS_VIOLATION (Wine's
    ntdll/tests/om.c test_name_limits, as on Windows)."""
    ps = ptr_size(thread)
    length, _maximum = struct.unpack("<HH", user_read(thread.process, us, 4))
    buf = read_ptr(thread, us + ps)
    if not length:
        return ""
    if buf & 1:
        raise NtStatusError(STATUS_DATATYPE_MISALIGNMENT, "ObjectName buffer not WCHAR-aligned")
    if length & 1 or length >= 0xFFFE:
        raise NtStatusError(STATUS_OBJECT_NAME_INVALID, f"ObjectName Length {length}")
    return user_read(thread.process, buf, length).decode("utf-16-le", "surrogatepass")


def capture_object_attributes(thread, oa: int) -> tuple[int, int | None, int]:
    """ObpCaptureObjectCreateInformation: (RootDirectory, ObjectName's text or None when ObjectName is NULL,
    Attributes) of a non-NULL OBJECT_ATTRIBUTES. Its Length must be the structure's size (else
    STATUS_INVALID_PARAMETER); a RootDirectory without an ObjectName is STATUS_OBJECT_NAME_INVALID."""
    ps = ptr_size(thread)
    (length,) = struct.unpack("<I", user_read(thread.process, oa, 4))
    root = read_ptr(thread, oa + ps)
    pname = read_ptr(thread, oa + 2 * ps)
    (attrs,) = struct.unpack("<I", user_read(thread.process, oa + 3 * ps, 4))
    if length != 6 * ps:
        raise NtStatusError(STATUS_INVALID_PARAMETER, f"OBJECT_ATTRIBUTES.Length {length}")
    if not pname:
        if root:
            raise NtStatusError(STATUS_OBJECT_NAME_INVALID, "a RootDirectory without an ObjectName")
        return 0, None, attrs
    return root, capture_object_name(thread, pname), attrs


def _root_directory(thread, root: int):
    d = thread.process.handles.lookup(root, None, 0, current_process=thread.process, current_thread=thread)
    if d.type_name != "Directory":
        raise NtStatusError(STATUS_OBJECT_TYPE_MISMATCH, "RootDirectory is not a directory")
    return d


def read_object_attributes(machine, thread, oa: int, *, create: bool = False) -> tuple[str | None, int]:
    """(the full object path or None for an unnamed object, Attributes) of an OBJECT_ATTRIBUTES, captured and
    checked as capture_object_attributes does. A relative name is resolved against RootDirectory (a directory
    handle). For a create (`create`), an empty name makes an unnamed object whatever RootDirectory holds (Wine's
    ntdll/tests/om.c test_name_limits, as on Windows)."""
    if not oa:
        return None, 0
    root, name, attrs = capture_object_attributes(thread, oa)
    if create and not name:
        return None, attrs
    if root:
        d = _root_directory(thread, root)
        if name and name.startswith("\\"):
            raise NtStatusError(STATUS_OBJECT_PATH_SYNTAX_BAD, "a relative name starts with a backslash")
        base = (d.name or "").rstrip("\\")
        return (base + "\\" + name if name else (d.name or "\\")), attrs
    if not name:
        return None, attrs
    if not name.startswith("\\"):
        raise NtStatusError(STATUS_OBJECT_PATH_SYNTAX_BAD, f"object name {name!r} is not absolute")
    return name, attrs


def lookup_object_attributes(machine, thread, oa: int, *, open_link: bool | None = None):
    """ObOpenObjectByName's parse: (the object an Open service's OBJECT_ATTRIBUTES names, Attributes). No
    OBJECT_ATTRIBUTES is STATUS_INVALID_PARAMETER, no name without a root STATUS_OBJECT_PATH_SYNTAX_BAD; an
    empty name with a RootDirectory is the root object itself, whatever its type (the caller compares the
    type); a name below a root needs the root to be a directory."""
    if not oa:
        raise NtStatusError(STATUS_INVALID_PARAMETER, "no OBJECT_ATTRIBUTES")
    root, name, attrs = capture_object_attributes(thread, oa)
    link = bool(attrs & OBJ_OPENLINK) if open_link is None else open_link
    ci = bool(attrs & OBJ_CASE_INSENSITIVE)
    if root:
        if not name:
            # the root itself when the object manager can parse from it: a directory, or a symbolic link
            # (its type has a parse procedure); any other object is STATUS_OBJECT_TYPE_MISMATCH
            obj = thread.process.handles.lookup(root, None, 0, current_process=thread.process,
                                                current_thread=thread)
            if obj.type_name not in ("Directory", "SymbolicLink"):
                raise NtStatusError(STATUS_OBJECT_TYPE_MISMATCH, f"RootDirectory is a {obj.type_name}")
            return obj, attrs
        d = _root_directory(thread, root)
        if name.startswith("\\"):
            raise NtStatusError(STATUS_OBJECT_PATH_SYNTAX_BAD, "a relative name starts with a backslash")
        if d.name is None:
            from winhatch.kernel.ob.namespace import split_path
            parts = split_path("\\" + name)
            obj = d.child(parts[0], ci) if len(parts) == 1 else None
            if obj is None:
                raise NtStatusError(0xC0000034, f"{name} in an unnamed directory")   # OBJECT_NAME_NOT_FOUND
            return obj, attrs
        path = d.name.rstrip("\\") + "\\" + name
    else:
        if not name:
            raise NtStatusError(STATUS_OBJECT_PATH_SYNTAX_BAD, "no object name")
        if not name.startswith("\\"):
            raise NtStatusError(STATUS_OBJECT_PATH_SYNTAX_BAD, f"object name {name!r} is not absolute")
        path = name
    return machine.namespace.lookup(path, open_link=link, case_insensitive=ci), attrs


# ------------------------------------------------------------------------------------------ ObInsertObject / ObOpenObjectByName
def insert_object(machine, thread, obj, oa: int, access: int, out_handle: int) -> int:
    """ObInsertObject for a Create service: name `obj` from its OBJECT_ATTRIBUTES (OBJ_OPENIF opens an existing
    object of the same type: STATUS_OBJECT_NAME_EXISTS), put a handle into *out_handle. Returns the status;
    `insert_object.last` is the object the handle refers to (the new or the existing one)."""
    proc = thread.process
    write_handle(thread, out_handle, 0)   # probed (and NULL on failure) before the object is named
    name, attrs = read_object_attributes(machine, thread, oa, create=True)
    status = 0
    target = obj
    ci = bool(attrs & OBJ_CASE_INSENSITIVE)
    if name is not None:
        existing = machine.namespace.find(name, case_insensitive=ci)
        if existing is not None:
            if existing.type_name != obj.type_name:
                # another type's name: a mismatch with or without OBJ_OPENIF (Vista and later; Wine's
                # ntdll/tests/om.c test_case_sensitive, test_symboliclink)
                return STATUS_OBJECT_TYPE_MISMATCH
            if not attrs & OBJ_OPENIF:
                return STATUS_OBJECT_NAME_COLLISION
            target = existing
            status = STATUS_OBJECT_NAME_EXISTS
        else:
            if attrs & OBJ_PERMANENT and "SeCreatePermanentPrivilege" not in proc.token.get("privileges", set()):
                return STATUS_PRIVILEGE_NOT_HELD
            machine.namespace.insert(name, obj, case_insensitive=ci)
    h = proc.handles.insert(target, access, inherit=bool(attrs & OBJ_INHERIT))
    try:
        write_handle(thread, out_handle, h)
    except NtStatusError:
        proc.handles.close(h)
        raise
    if target is obj and name is not None and attrs & OBJ_PERMANENT:
        obj.make_permanent()
    thread.__dict__["last_inserted"] = target
    return status


def check_open_access(thread, type_name: str, access: int) -> None:
    """SeAccessCheck of an open by name against the default security of a named object, which grants its type's
    rights to the creator's session: nothing asked for, or a bit that is no right of the type, is
    STATUS_ACCESS_DENIED; ACCESS_SYSTEM_SECURITY needs SeSecurityPrivilege (MAXIMUM_ALLOWED and the generic
    rights are mapped first)."""
    t = object_type(type_name)
    if access & 0x01000000 and "SeSecurityPrivilege" not in thread.process.token.get("privileges", set()):
        raise NtStatusError(STATUS_PRIVILEGE_NOT_HELD, "ACCESS_SYSTEM_SECURITY without SeSecurityPrivilege")
    wanted = access & ~(0x02000000 | 0xF0000000 | 0x01000000)
    mapped = t.map_access(access)
    if not mapped or wanted & ~t.valid_access:
        raise NtStatusError(STATUS_ACCESS_DENIED, f"access {access:#x} to a {type_name}")


def open_object(machine, thread, oa: int, type_name: str, access: int, out_handle: int) -> int:
    """ObOpenObjectByName for an Open service. The handle is zeroed first (a bad pointer is
    STATUS_ACCESS_VIOLATION before anything else), and stays NULL when the open fails."""
    write_handle(thread, out_handle, 0)
    obj, attrs = lookup_object_attributes(machine, thread, oa)
    if obj.type_name != type_name:
        return STATUS_OBJECT_TYPE_MISMATCH
    check_open_access(thread, type_name, access)
    h = thread.process.handles.insert(obj, access, inherit=bool(attrs & OBJ_INHERIT))
    try:
        write_handle(thread, out_handle, h)
    except NtStatusError:
        thread.process.handles.close(h)
        raise
    return 0


def reference(thread, handle: int, type_name: str | None, access: int):
    """ObReferenceObjectByHandle in the calling process (pseudo-handles included)."""
    proc = thread.process
    return proc.handles.lookup(handle, type_name, access, current_process=proc, current_thread=thread)


# ------------------------------------------------------------------------------------------ services
@kernel_service("NtClose")
def NtClose(machine, thread, Handle):
    # an invalid handle is STATUS_INVALID_HANDLE (no exception is raised unless a debugger is attached or the
    # process enabled strict handle checks, neither of which winhatch models)
    thread.process.handles.close(Handle)
    return 0


# ------------------------------------------------------------------------------------------ object security
READ_CONTROL, WRITE_DAC, WRITE_OWNER, ACCESS_SYSTEM_SECURITY = 0x20000, 0x40000, 0x80000, 0x01000000


def _security_holder(thread, obj, service: str):
    """What holds the object's security descriptor (the object, or what it shares it with: a pipe end the
    pipe's); objects that keep none stop loudly."""
    fn = getattr(obj, "security_target", None)
    if fn is None:
        unsupported(thread, service, f"the security descriptor of a {obj.type_name} object")
    holder = fn()
    if getattr(holder, "security", None) is None:
        unsupported(thread, service, f"the security descriptor of a {obj.type_name} object")
    return holder


@kernel_service("NtQuerySecurityObject")
def NtQuerySecurityObject(machine, thread, Handle, SecurityInformation, SecurityDescriptor, Length, LengthNeeded):
    """The parts SecurityInformation asks for, as a self-relative descriptor (READ_CONTROL for the owner, group
    and DACL, ACCESS_SYSTEM_SECURITY for the SACL); *LengthNeeded is its size, STATUS_BUFFER_TOO_SMALL when
    Length is less."""
    from winhatch.kernel.se.descriptor import self_relative
    info = SecurityInformation & 0xFFFFFFFF
    need = (READ_CONTROL if info & 0x7 else 0) | (ACCESS_SYSTEM_SECURITY if info & 0x8 else 0)
    obj = reference(thread, Handle, None, need)
    holder = _security_holder(thread, obj, "NtQuerySecurityObject")
    data = self_relative(holder.security, info)
    user_write(thread.process, LengthNeeded, struct.pack("<I", len(data)))
    if Length & 0xFFFFFFFF < len(data):
        return 0xC0000023                      # STATUS_BUFFER_TOO_SMALL
    user_write(thread.process, SecurityDescriptor, data)
    return 0


@kernel_service("NtSetSecurityObject")
def NtSetSecurityObject(machine, thread, Handle, SecurityInformation, SecurityDescriptor):
    """Replace the parts SecurityInformation names with the caller's descriptor's (WRITE_OWNER for the owner
    and group, WRITE_DAC for the DACL, ACCESS_SYSTEM_SECURITY for the SACL)."""
    from winhatch.kernel.se.descriptor import read_descriptor
    info = SecurityInformation & 0xFFFFFFFF
    need = (WRITE_OWNER if info & 0x3 else 0) | (WRITE_DAC if info & 0x4 else 0) | \
        (ACCESS_SYSTEM_SECURITY if info & 0x8 else 0)
    obj = reference(thread, Handle, None, need)
    holder = _security_holder(thread, obj, "NtSetSecurityObject")
    given = read_descriptor(thread.process, SecurityDescriptor)
    sec = holder.security
    if info & 0x1:
        if given.owner is None:
            return 0xC000005A                  # STATUS_INVALID_OWNER
        sec.owner = given.owner
    if info & 0x2:
        if given.group is None:
            return 0xC000005B                  # STATUS_INVALID_PRIMARY_GROUP
        sec.group = given.group
    if info & 0x4:
        sec.dacl, sec.dacl_present = given.dacl, given.dacl_present
    if info & 0x8:
        sec.sacl = given.sacl
    return 0


@kernel_service("NtCompareObjects")
def NtCompareObjects(machine, thread, FirstObjectHandle, SecondObjectHandle):
    """STATUS_SUCCESS when both handles (pseudo-handles included) refer to one object, else
    STATUS_NOT_SAME_OBJECT."""
    a = reference(thread, FirstObjectHandle, None, 0)
    b = reference(thread, SecondObjectHandle, None, 0)
    return 0 if a is b else 0xC00001AC          # STATUS_NOT_SAME_OBJECT


@kernel_service("NtDuplicateObject")
def NtDuplicateObject(machine, thread, SourceProcessHandle, SourceHandle, TargetProcessHandle, TargetHandle,
                      DesiredAccess, HandleAttributes, Options):
    src = process_from_handle(thread, SourceProcessHandle, PROCESS_DUP_HANDLE)
    options = Options & 0xFFFFFFFF
    if not TargetProcessHandle:
        # only closing the source is allowed without a target (DuplicateHandle(..., DUPLICATE_CLOSE_SOURCE))
        if options & DUPLICATE_CLOSE_SOURCE:
            if normalize_handle(SourceHandle) in (CURRENT_PROCESS, CURRENT_THREAD):
                return 0
            src.handles.close(SourceHandle)
            if TargetHandle:
                write_handle(thread, TargetHandle, 0)
            return 0
        return STATUS_INVALID_HANDLE
    try:
        dst = process_from_handle(thread, TargetProcessHandle, PROCESS_DUP_HANDLE)
    except NtStatusError:
        if options & DUPLICATE_CLOSE_SOURCE and normalize_handle(SourceHandle) > 0 and SourceHandle in src.handles:
            src.handles.close(SourceHandle)
        raise
    if getattr(dst, "exited", False):
        # a handle cannot be put in the table of a process that has ended: STATUS_PROCESS_IS_TERMINATING
        # (DuplicateHandle: ERROR_ACCESS_DENIED, Wine's kernel32/tests/loader.c on Windows)
        return 0xC000010A
    inherit = bool(HandleAttributes & OBJ_INHERIT)
    if options & DUPLICATE_SAME_ATTRIBUTES and normalize_handle(SourceHandle) > 0 and SourceHandle in src.handles:
        inherit = src.handles.entry(SourceHandle).inherit
    cur_thread = thread if src is thread.process else None
    if cur_thread is None and normalize_handle(SourceHandle) == CURRENT_THREAD:
        # another process's NtCurrentThread() has no meaning here
        return STATUS_INVALID_HANDLE
    if not options & DUPLICATE_SAME_ACCESS and normalize_handle(SourceHandle) > 0 and SourceHandle in src.handles:
        entry = src.handles.entry(SourceHandle)
        if entry.obj.type_name == "File":
            # a file object's access was granted when it was opened (the file system checked it): a duplicate
            # may only narrow it (Wine's kernel32/tests/file.c test_file_access, written on Windows)
            from winhatch.kernel.ob.access import object_type
            if object_type("File").map_access(DesiredAccess & 0xFFFFFFFF) & ~entry.access:
                return STATUS_ACCESS_DENIED
    try:
        new = src.handles.duplicate(SourceHandle, dst.handles, DesiredAccess & 0xFFFFFFFF, inherit=inherit,
                                    same_access=bool(options & DUPLICATE_SAME_ACCESS),
                                    close_source=bool(options & DUPLICATE_CLOSE_SOURCE),
                                    current_process=src, current_thread=cur_thread)
    except NtStatusError:
        # a failed duplication leaves NULL in the caller's TargetHandle (ntdll/om.c test_token, Windows)
        if TargetHandle and thread.process.aspace.accessible(TargetHandle, 8 if thread.process.arch == "x64" else 4,
                                                             True):
            write_handle(thread, TargetHandle, 0)
        raise
    if TargetHandle:
        write_handle(thread, TargetHandle, new)
    return 0


@kernel_service("NtMakeTemporaryObject")
def NtMakeTemporaryObject(machine, thread, Handle):
    obj = reference(thread, Handle, None, 0x00010000)   # DELETE
    obj.make_temporary()
    return 0


def _type_counts(machine, type_name: str) -> tuple[int, int]:
    """(objects, handles) of a type over every process's handle table (the objects that have a handle)."""
    objs, handles = set(), 0
    for p in machine.processes:
        for _h, e in p.handles.entries():
            if e.obj.type_name == type_name:
                objs.add(id(e.obj))
                handles += 1
    return len(objs), handles


def _write_result(thread, buf: int, size: int, data: bytes, ret_len: int, *, exact: bool) -> int:
    if (size != len(data)) if exact else (size < len(data)):
        if ret_len:
            user_write(thread.process, ret_len, struct.pack("<I", len(data)))
        return STATUS_INFO_LENGTH_MISMATCH
    user_write(thread.process, buf, data)
    if ret_len:
        user_write(thread.process, ret_len, struct.pack("<I", len(data)))
    return 0


def _unicode_string(thread, buf: int, text: str) -> bytes:
    """A UNICODE_STRING at `buf` whose text follows it (terminated), as the name queries return it."""
    ps = ptr_size(thread)
    head = 2 * ps
    data = text.encode("utf-16-le")
    if not text:
        return struct.pack("<HH", 0, 0) + bytes(head - 4)
    us = struct.pack("<HH", len(data), len(data) + 2) + bytes(ps - 4) + \
        (buf + head).to_bytes(ps, "little")
    return us + data + b"\0\0"


def _file_name_information(machine, thread, obj, buf: int, size: int, ret_len: int) -> int:
    """ObjectNameInformation of a file object (the I/O manager's name: the device then the path on it). A buffer
    shorter than the UNICODE_STRING: STATUS_INFO_LENGTH_MISMATCH; one too short for the name:
    STATUS_BUFFER_OVERFLOW with the string's lengths and as much of the name as fits; both give the full size
    in ReturnLength (Wine's om.c tests of a directory handle, which pass on Windows)."""
    from winhatch.kernel.io.file_services import file_object_name
    name = file_object_name(machine, obj)
    if name is None:
        unsupported(thread, "NtQueryObject", f"ObjectNameInformation of a file object {type(obj).__name__}")
    data = _unicode_string(thread, buf, name)
    head = 2 * ptr_size(thread)
    if ret_len:
        user_write(thread.process, ret_len, struct.pack("<I", len(data)))
    if size < head:
        return STATUS_INFO_LENGTH_MISMATCH
    user_write(thread.process, buf, data[:size])
    return 0 if size >= len(data) else 0x80000005   # STATUS_BUFFER_OVERFLOW


@kernel_service("NtQueryObject")
def NtQueryObject(machine, thread, Handle, ObjectInformationClass, ObjectInformation, ObjectInformationLength,
                  ReturnLength):
    cls = ObjectInformationClass & 0xFFFFFFFF
    size = ObjectInformationLength & 0xFFFFFFFF
    proc = thread.process
    if cls not in (ObjectBasicInformation, ObjectNameInformation, ObjectTypeInformation):
        if cls == 3:   # ObjectTypesInformation: every object type (no handle needed)
            data = _types_information(machine, thread, ObjectInformation)
            return _write_result(thread, ObjectInformation, size, data, ReturnLength, exact=False)
        return STATUS_INVALID_INFO_CLASS
    h = normalize_handle(Handle)
    if h in (CURRENT_PROCESS, CURRENT_THREAD):
        obj = reference(thread, Handle, None, 0)
        granted = object_type(obj.type_name).mapping.all | 0x001F0000
        attributes = 0
    else:
        e = proc.handles.entry(Handle)
        obj, granted = e.obj, e.access
        attributes = (OBJ_INHERIT if e.inherit else 0) | (1 if e.protect_from_close else 0) | \
            (OBJ_PERMANENT if obj.permanent else 0)
    if cls == ObjectBasicInformation:
        # OBJECT_BASIC_INFORMATION (56 bytes on both architectures): Attributes, GrantedAccess, HandleCount,
        # PointerCount, PagedPoolCharge, NonPagedPoolCharge, Reserved[3], NameInfoSize, TypeInfoSize,
        # SecurityDescriptorSize, CreationTime (only symbolic links have one)
        data = struct.pack("<IIIIII12xIIIq", attributes, granted, obj.handle_count, max(obj.refcount, 1), 0, 0,
                           0, 0, 0, 0)
        return _write_result(thread, ObjectInformation, size, data, ReturnLength, exact=False)
    if cls == ObjectNameInformation:
        if obj.type_name == "File":
            return _file_name_information(machine, thread, obj, ObjectInformation, size, ReturnLength)
        if obj.type_name == "Device":
            unsupported(thread, "NtQueryObject", f"ObjectNameInformation of a {obj.type_name} object")
        if obj.type_name == "Key":      # the key's full NT name, as NtQueryKey(KeyNameInformation) gives it
            if obj.key.deleted:
                return 0xC000017C           # STATUS_KEY_DELETED
            name = obj.key.path
        else:
            # a desktop's name is relative to its window station ("\\Default"), not in an object directory
            named = getattr(obj, "_namespace", None) is not None or obj.type_name == "Desktop"
            name = obj.name if named else ""
        data = _unicode_string(thread, ObjectInformation, name or "")
        return _write_result(thread, ObjectInformation, size, data, ReturnLength, exact=False)
    data = _type_information(machine, thread, obj.type_name, ObjectInformation)
    return _write_result(thread, ObjectInformation, size, data, ReturnLength, exact=False)


def _type_information(machine, thread, type_name: str, addr: int, index: int = 0) -> bytes:
    """OBJECT_TYPE_INFORMATION (x64 0x68, x86 0x60 bytes) for an object type placed at `addr`, then the type
    name with its NUL (the TypeName buffer points there)."""
    t = object_type(type_name)
    ps = ptr_size(thread)
    fixed = 0x68 if ps == 8 else 0x60
    nobj, nhandles = _type_counts(machine, type_name)
    name = t.name.encode("utf-16-le")
    us = struct.pack("<HH", len(name), len(name) + 2) + bytes(ps - 4) + (addr + fixed).to_bytes(ps, "little")
    body = struct.pack("<IIIIIIIIIIII", nobj, nhandles, 0, 0, 0, 0, nobj, nhandles, 0, 0, 0, 0)
    body += struct.pack("<I", 0x100 if type_name in ("Process", "Thread") else 0)   # InvalidAttributes
    m = t.mapping
    body += struct.pack("<IIII", m.read, m.write, m.execute, m.all)
    body += struct.pack("<I", type_valid_mask(type_name))
    body += struct.pack("<BBBB", 1, 0, index, 0)                  # SecurityRequired, ..., TypeIndex
    body += struct.pack("<III", 0, 0, 0)
    data = us + body
    assert len(data) <= fixed, len(data)
    return data + bytes(fixed - len(data)) + name + b"\0\0"


def _types_information(machine, thread, addr: int) -> bytes:
    """ObjectTypesInformation: OBJECT_TYPES_INFORMATION {ULONG NumberOfTypes} then, each at a pointer-aligned
    offset, an OBJECT_TYPE_INFORMATION and its name (type indexes from 2, as on Windows)."""
    from winhatch.kernel.ob.access import OBJECT_TYPES
    ps = ptr_size(thread)
    names = [n for n in OBJECT_TYPES if n != "Object"]
    out = bytearray(struct.pack("<I", len(names)))
    for i, n in enumerate(names):
        out += bytes(-len(out) % ps)
        out += _type_information(machine, thread, n, addr + len(out), index=i + 2)
    out += bytes(-len(out) % ps)
    return bytes(out)


# ------------------------------------------------------------------------------------------ directories and links
@kernel_service("NtCreateDirectoryObject")
def NtCreateDirectoryObject(machine, thread, DirectoryHandle, DesiredAccess, ObjectAttributes):
    """An object directory, named (in the namespace, below RootDirectory if given) or not."""
    from winhatch.kernel.ob.namespace import Directory
    return insert_object(machine, thread, Directory(), ObjectAttributes, DesiredAccess & 0xFFFFFFFF,
                         DirectoryHandle)


@kernel_service("NtCreateSymbolicLinkObject")
def NtCreateSymbolicLinkObject(machine, thread, LinkHandle, DesiredAccess, ObjectAttributes, LinkTarget):
    """A symbolic link to the LinkTarget name (a NULL or empty target is STATUS_INVALID_PARAMETER; the target
    need not exist until the link is followed), named by its OBJECT_ATTRIBUTES (OBJ_PERMANENT keeps it after
    its last handle); a name is parsed through it when looked up."""
    from winhatch.kernel.io.file_services import _dos_devices
    from winhatch.kernel.ob.access import object_type
    from winhatch.kernel.ob.namespace import SymbolicLink
    if not LinkTarget:
        return 0xC0000005                       # the target is read without a NULL check
    if not LinkHandle:
        return 0xC0000005                       # STATUS_ACCESS_VIOLATION: the handle cannot be returned
    write_handle(thread, LinkHandle, 0)
    # the target is captured before the OBJECT_ATTRIBUTES: a Length past MaximumLength (or odd) is
    # STATUS_INVALID_PARAMETER whatever the name (Wine's ntdll/tests/om.c test_all_kernel_objects)
    t_len, t_max = struct.unpack("<HH", user_read(thread.process, LinkTarget, 4))
    if t_len > t_max or t_len & 1:
        return STATUS_INVALID_PARAMETER
    target = read_unicode_string(thread, LinkTarget)
    if not target:
        return STATUS_INVALID_PARAMETER
    _dos_devices(machine)                       # \??, \GLOBAL?? and the drives exist before a link is added
    access = object_type("SymbolicLink").map_access(DesiredAccess & 0xFFFFFFFF)
    return insert_object(machine, thread, SymbolicLink(target), ObjectAttributes, access, LinkHandle)
