"""The configuration manager's system services (NtCreateKey, NtOpenKey(Ex), NtQueryKey, NtEnumerateKey,
NtQueryValueKey, NtSetValueKey, NtEnumerateValueKey, NtDeleteKey, NtDeleteValueKey, NtFlushKey,
NtNotifyChangeKey, NtQueryMultipleValueKey) over the in-memory registry (registry.py), called by the
system-service dispatcher (winhatch.kernel.ke.services).

Key handles are real handles to KeyObject (type "Key") in the process's handle table. Names are NT names
(``\\Registry\\Machine\\…``, ``\\Registry\\User\\<SID>\\…``) or relative to OBJECT_ATTRIBUTES.RootDirectory.
A WoW64 (x86) process sees the 32-bit registry view unless it asks for KEY_WOW64_64KEY — the redirection
Windows's WoW64 layer applies to these services.

Information records follow Windows's partial-result rule: a buffer smaller than the fixed header is
STATUS_BUFFER_TOO_SMALL; one that holds the header but not the names/data gets the header and
STATUS_BUFFER_OVERFLOW; *ResultLength is always the full size.
"""
from __future__ import annotations

import struct

from winhatch.kernel import events as ev
from winhatch.kernel.cm.registry import RegKey
from winhatch.kernel.ke.services import kernel_service, unsupported, user_read, user_write
from winhatch.kernel.ob import KObject
from winhatch.ntstatus import NtStatusError

STATUS_BUFFER_OVERFLOW = 0x80000005
STATUS_BUFFER_TOO_SMALL = 0xC0000023
STATUS_INVALID_PARAMETER = 0xC000000D
STATUS_INVALID_HANDLE = 0xC0000008
STATUS_KEY_DELETED = 0xC000017C
STATUS_OBJECT_NAME_NOT_FOUND = 0xC0000034
STATUS_PENDING = 0x103

KEY_QUERY_VALUE, KEY_SET_VALUE, KEY_CREATE_SUB_KEY, KEY_ENUMERATE_SUB_KEYS, KEY_NOTIFY = 0x1, 0x2, 0x4, 0x8, 0x10
KEY_WOW64_64KEY, KEY_WOW64_32KEY = 0x100, 0x200
DELETE = 0x00010000
OBJ_INHERIT, OBJ_OPENLINK = 0x2, 0x100
REG_OPTION_VOLATILE, REG_OPTION_CREATE_LINK, REG_OPTION_OPEN_LINK = 0x1, 0x2, 0x8
REG_CREATED_NEW_KEY, REG_OPENED_EXISTING_KEY = 1, 2
REG_NOTIFY_CHANGE_NAME, REG_NOTIFY_CHANGE_LAST_SET = 0x1, 0x4


class KeyObject(KObject):
    """A registry key as the object manager sees it: what a key handle refers to. `watchers` are the
    asynchronous change notifications registered on this handle: (key, watch subtree, filter, event)."""
    type_name = "Key"

    def __init__(self, key: RegKey, view32: bool = False):
        super().__init__(None)
        self.key = key
        #: opened in the 32-bit registry view (a WoW64 process's open without KEY_WOW64_64KEY): the view
        #: relative opens below this handle inherit
        self.view32 = view32
        self.watchers: list[tuple[RegKey, bool, int, KObject]] = []

    def on_last_handle_close(self) -> None:
        # "If the key is closed, the event is signaled" (RegNotifyChangeKeyValue)
        for _, _, _, event in self.watchers:
            event.set()
            event.dereference()
        self.watchers.clear()


def notify_change(proc, key: RegKey, kind: int) -> None:
    """Signal the change notifications that watch `key` for `kind` of change (each fires once, as on
    Windows: a program registers again after each notification)."""
    for entry in proc.handles.entries():
        obj = entry[1].obj
        if not isinstance(obj, KeyObject) or not obj.watchers:
            continue
        keep = []
        for w in obj.watchers:
            watched, subtree, flt, event = w
            k = key
            hit = False
            while k is not None:
                if k is watched:
                    hit = True
                    break
                if not subtree:
                    break
                k = k.parent
            if hit and flt & kind:
                event.set()
                event.dereference()
            else:
                keep.append(w)
        obj.watchers[:] = keep


# ---------------------------------------------------------------------------------------------- arguments
def _ptr_size(proc) -> int:
    return 8 if proc.arch == "x64" else 4


def read_unicode_string(proc, addr: int) -> str:
    """A UNICODE_STRING (caller's layout) → text; a NULL pointer is ''."""
    if not addr:
        return ""
    p = _ptr_size(proc)
    raw = user_read(proc, addr, 2 * p)
    length = struct.unpack_from("<H", raw)[0]
    buf = struct.unpack_from("<Q" if p == 8 else "<I", raw, p)[0]
    if length & 1:
        raise NtStatusError(STATUS_INVALID_PARAMETER, "odd UNICODE_STRING length")
    return user_read(proc, buf, length).decode("utf-16-le", "surrogatepass") if length else ""


def read_object_attributes(proc, addr: int) -> tuple[int, str, int]:
    """(RootDirectory, ObjectName, Attributes) of an OBJECT_ATTRIBUTES (its Length must be the structure's
    size: STATUS_INVALID_PARAMETER otherwise)."""
    if not addr:
        raise NtStatusError(0xC0000005, "NULL OBJECT_ATTRIBUTES")
    p = _ptr_size(proc)
    raw = user_read(proc, addr, 4 * p)
    if struct.unpack_from("<I", raw)[0] != 6 * p:
        raise NtStatusError(STATUS_INVALID_PARAMETER, "OBJECT_ATTRIBUTES.Length")
    fmt = "<Q" if p == 8 else "<I"
    root = struct.unpack_from(fmt, raw, p)[0]
    name = struct.unpack_from(fmt, raw, 2 * p)[0]
    attributes = struct.unpack_from("<I", raw, 3 * p)[0]
    if not name:
        # the registry's parse reads the ObjectName without a NULL check (Wine's ntdll/tests/om.c)
        raise NtStatusError(0xC0000005, "NULL ObjectName")
    return root, _capture_name(proc, name), attributes


def _capture_name(proc, us: int) -> str:
    """The object manager's name capture (alignment, odd length or 0xFFFE: STATUS_OBJECT_NAME_INVALID)."""
    p = _ptr_size(proc)
    raw = user_read(proc, us, 2 * p)
    length = struct.unpack_from("<H", raw)[0]
    buf = struct.unpack_from("<Q" if p == 8 else "<I", raw, p)[0]
    if not length:
        return ""
    if buf & 1:
        raise NtStatusError(0x80000002, "ObjectName buffer not WCHAR-aligned")   # STATUS_DATATYPE_MISALIGNMENT
    if length & 1 or length >= 0xFFFE:
        raise NtStatusError(0xC0000033, f"ObjectName Length {length}")         # STATUS_OBJECT_NAME_INVALID
    return user_read(proc, buf, length).decode("utf-16-le", "surrogatepass")


def key_object(thread, handle: int, access: int = 0) -> KeyObject:
    obj = thread.process.handles.lookup(handle, "Key", access, current_process=thread.process,
                                        current_thread=thread)
    if obj.key.deleted:
        raise NtStatusError(STATUS_KEY_DELETED, "key deleted")
    return obj


def _view32(proc, access: int, root: "KeyObject | None") -> bool:
    """Whether an open sees the 32-bit view. Only a WoW64 (x86) process's opens are redirected: a 64-bit
    process's NtOpenKey/NtCreateKey ignore KEY_WOW64_32KEY and KEY_WOW64_64KEY (advapi32 applies the flag
    itself; Wine's ntdll/tests/reg.c test_redirection, as on Windows). In a WoW64 process KEY_WOW64_32KEY
    asks for the 32-bit view and KEY_WOW64_64KEY for the 64-bit one (but a handle opened in the 32-bit view
    at a redirection point keeps standing for its WOW6432Node: registry.wow64_view); without either a
    relative open takes its root handle's view, an absolute one the 32-bit view."""
    if proc.arch != "x86":
        return False
    if access & KEY_WOW64_32KEY:
        return True
    if access & KEY_WOW64_64KEY:
        return False
    return root.view32 if root is not None else True


def _put_handle(proc, addr: int, h: int) -> None:
    user_write(proc, addr, struct.pack("<Q" if proc.arch == "x64" else "<I", h))


def _value_preview(type_: int, data: bytes):
    """A set value's data as the report shows it: strings decoded, numbers as numbers, else hex (first 256 bytes)."""
    try:
        if type_ in (1, 2):                           # REG_SZ, REG_EXPAND_SZ
            return data.decode("utf-16-le", "replace").split("\0", 1)[0][:1024]
        if type_ == 7:                                # REG_MULTI_SZ
            return [x for x in data.decode("utf-16-le", "replace").split("\0") if x][:32]
        if type_ == 4 and len(data) >= 4:             # REG_DWORD
            return int.from_bytes(data[:4], "little")
        if type_ == 11 and len(data) >= 8:            # REG_QWORD
            return int.from_bytes(data[:8], "little")
    except (UnicodeDecodeError, ValueError):
        pass
    return data[:256].hex()


def _event(machine, thread, op: str, path: str, status: int, value: str | None = None, *, log: bool = False,
           **extra) -> None:
    """The registry event (category "registry": op, path, value, status and error, the Win32 code
    RtlNtStatusToDosError gives the status) and, for what the registry does not log itself (value operations,
    enumeration, queries), its access-log entry, which the JSON report lists."""
    from winhatch.ntstatus import nt_to_win32
    data = {"op": op, "path": path, "status": status & 0xFFFFFFFF, "error": nt_to_win32(status)}
    if value is not None:
        data["value"] = value
    data.update(extra)
    machine.events.emit(ev.REGISTRY, op, thread.process.pid, thread.tid, **data)
    reg = machine.registry
    if log and len(reg.log) < reg.log_limit:
        reg.log.append(dict(data))


def _logged_key(machine, thread, handle: int, access: int, op: str, value: str | None = None) -> KeyObject:
    """key_object for a value or enumeration operation; a bad handle is logged with the operation."""
    try:
        return key_object(thread, handle, access)
    except NtStatusError as e:
        _event(machine, thread, op, f"<handle {handle:#x}>", e.status, value, log=True)
        raise


def _insert(thread, key: RegKey, access: int, attributes: int, view32: bool = False) -> int:
    return thread.process.handles.insert(KeyObject(key, view32), access & ~(KEY_WOW64_32KEY | KEY_WOW64_64KEY),
                                         inherit=bool(attributes & OBJ_INHERIT))


# ---------------------------------------------------------------------------------------------- open / create
def _outside_registry(machine, name: str) -> None:
    """An absolute name that is not below \\Registry is parsed by the object manager: a missing object is
    STATUS_OBJECT_NAME_NOT_FOUND / _PATH_NOT_FOUND (an empty component _NAME_INVALID), an object that exists
    (the root directory, \\Device, ...) is no key: STATUS_OBJECT_TYPE_MISMATCH."""
    if not name.startswith("\\"):
        return
    first = name[1:].split("\\", 1)[0]
    if first.upper() == "REGISTRY":
        return
    from winhatch.kernel.io.file_services import _dos_devices
    _dos_devices(machine)                 # the I/O system's names (\Device\Null, ...) exist before the lookup
    machine.namespace.lookup(name)
    raise NtStatusError(0xC0000024, f"{name} is not a registry key")


def open_key(machine, thread, root: int, name: str, access: int, attributes: int) -> tuple[RegKey, bool]:
    """(the key, whether the open saw the 32-bit view)."""
    proc = thread.process
    if not root:
        _outside_registry(machine, name)
    robj = key_object(thread, root) if root else None
    view32 = _view32(proc, access, robj)
    return machine.registry.open_key(name, robj.key if robj else None, wow64=view32,
                                     open_link=bool(attributes & OBJ_OPENLINK),
                                     handle32=bool(robj and robj.view32)), view32


@kernel_service("NtOpenKeyEx")
def NtOpenKeyEx(machine, thread, KeyHandle, DesiredAccess, ObjectAttributes, OpenOptions):
    proc = thread.process
    _put_handle(proc, KeyHandle, 0)
    root, name, attributes = read_object_attributes(proc, ObjectAttributes)
    # OpenOptions' REG_OPTION_OPEN_LINK does not open a link itself: only OBJ_OPENLINK does (Wine's
    # ntdll/tests/reg.c test_symlinks, as on Windows; RegOpenKeyEx turns the option into the attribute)
    access = DesiredAccess & 0xFFFFFFFF
    if not access:                       # a key cannot be opened for no access at all
        return 0xC0000022
    try:
        key, view32 = open_key(machine, thread, root, name, access, attributes)
    except NtStatusError as e:
        _event(machine, thread, "open_key", name, e.status)
        raise
    _event(machine, thread, "open_key", key.path, 0)
    _put_handle(proc, KeyHandle, _insert(thread, key, access, attributes, view32))
    return 0


@kernel_service("NtOpenKey")
def NtOpenKey(machine, thread, KeyHandle, DesiredAccess, ObjectAttributes):
    return NtOpenKeyEx(machine, thread, KeyHandle, DesiredAccess, ObjectAttributes, 0)


@kernel_service("NtCreateKey")
def NtCreateKey(machine, thread, KeyHandle, DesiredAccess, ObjectAttributes, TitleIndex, Class, CreateOptions,
                Disposition):
    """Opens the key or creates its last component (STATUS_OBJECT_NAME_NOT_FOUND when its parent is
    missing, as NtCreateKey does: RegCreateKeyEx creates the intermediate keys one by one)."""
    proc = thread.process
    _put_handle(proc, KeyHandle, 0)
    root, name, attributes = read_object_attributes(proc, ObjectAttributes)
    opts = CreateOptions & 0xFFFFFFFF
    access = DesiredAccess & 0xFFFFFFFF
    if not root:
        _outside_registry(machine, name)
    robj = key_object(thread, root) if root else None
    view32 = _view32(proc, access, robj)
    try:
        key, created = machine.registry.create_key(name, robj.key if robj else None, wow64=view32,
                                                   volatile=bool(opts & REG_OPTION_VOLATILE),
                                                   link=bool(opts & REG_OPTION_CREATE_LINK),
                                                   open_link=bool(attributes & OBJ_OPENLINK),
                                                   handle32=bool(robj and robj.view32))
    except NtStatusError as e:
        _event(machine, thread, "create_key", name, e.status)
        raise
    if created:
        if Class:
            key.class_name = read_unicode_string(proc, Class)
        notify_change(proc, key.parent, REG_NOTIFY_CHANGE_NAME)
    _event(machine, thread, "create_key", key.path, 0)
    _put_handle(proc, KeyHandle, _insert(thread, key, access, attributes, view32))
    if Disposition:
        user_write(proc, Disposition, struct.pack("<I", REG_CREATED_NEW_KEY if created else REG_OPENED_EXISTING_KEY))
    return 0


@kernel_service("NtDeleteKey")
def NtDeleteKey(machine, thread, KeyHandle):
    """Deletes the key the handle names (it must have no subkeys: STATUS_CANNOT_DELETE); handles to it stay
    open and answer STATUS_KEY_DELETED."""
    obj = thread.process.handles.lookup(KeyHandle, "Key", DELETE, current_process=thread.process,
                                        current_thread=thread)
    if obj.key.deleted:
        return 0                    # deleting it again succeeds (Wine's ntdll/tests/reg.c test_NtDeleteKey)
    parent = obj.key.parent
    machine.registry.delete_key(obj.key)
    notify_change(thread.process, parent, REG_NOTIFY_CHANGE_NAME)
    return 0


@kernel_service("NtFlushKey")
def NtFlushKey(machine, thread, KeyHandle):
    """The registry lives in memory: nothing is written back, only the handle is checked."""
    key_object(thread, KeyHandle)
    return 0


# ---------------------------------------------------------------------------------------------- records
KeyBasicInformation, KeyNodeInformation, KeyFullInformation, KeyNameInformation, KeyCachedInformation = range(5)
KeyValueBasicInformation, KeyValueFullInformation, KeyValuePartialInformation = 0, 1, 2
KeyValuePartialInformationAlign64 = 4


def _utf16(s: str) -> bytes:
    return s.encode("utf-16-le", "surrogatepass")


def key_record(key: RegKey, cls: int, thread) -> tuple[bytes, int]:
    """(record, size of its fixed header) of a KEY_*_INFORMATION class."""
    info = key.query_info()
    name = _utf16(key.name)
    cname = _utf16(key.class_name)
    lwt = key.last_write_time
    if cls == KeyBasicInformation:
        return struct.pack("<qII", lwt, 0, len(name)) + name, 16
    if cls == KeyNodeInformation:
        off = 24 + len(name)
        return struct.pack("<qIIII", lwt, 0, off if cname else 0xFFFFFFFF, len(cname), len(name)) + name + cname, 24
    if cls == KeyFullInformation:
        return struct.pack("<qIIIIIIIII", lwt, 0, 44 if cname else 0xFFFFFFFF, len(cname), info["subkeys"],
                           info["max_name_len"], info["max_class_len"], info["values"], info["max_value_name_len"],
                           info["max_value_data_len"]) + cname, 44
    if cls == KeyNameInformation:
        full = _utf16(key.path)
        return struct.pack("<I", len(full)) + full, 4
    if cls == KeyCachedInformation:
        # KEY_CACHED_INFORMATION is 40 bytes with its tail padding (LastWriteTime aligns it to 8): the length
        # Windows returns
        return struct.pack("<qIIIIIII4x", lwt, 0, info["subkeys"], info["max_name_len"], info["values"],
                           info["max_value_name_len"], info["max_value_data_len"], len(name)), 40
    unsupported(thread, "NtQueryKey", f"information class {cls}")


def value_record(name: str, type_: int, data: bytes, cls: int, thread) -> tuple[bytes, int]:
    """(record, size of its fixed header) of a KEY_VALUE_*_INFORMATION class."""
    n = _utf16(name)
    if cls == KeyValueBasicInformation:
        return struct.pack("<III", 0, type_, len(n)) + n, 12
    if cls == KeyValueFullInformation:
        return struct.pack("<IIIII", 0, type_, 20 + len(n), len(data), len(n)) + n + data, 20
    if cls == KeyValuePartialInformation:
        return struct.pack("<III", 0, type_, len(data)) + data, 12
    if cls == KeyValuePartialInformationAlign64:
        return struct.pack("<II", type_, len(data)) + data, 8
    unsupported(thread, "NtQueryValueKey", f"information class {cls}")


def _return(proc, buf: int, length: int, ResultLength: int, record: bytes, header: int) -> int:
    user_write(proc, ResultLength, struct.pack("<I", len(record)))
    if length < header:
        return STATUS_BUFFER_TOO_SMALL
    if length < len(record):
        user_write(proc, buf, record[:length])
        return STATUS_BUFFER_OVERFLOW
    user_write(proc, buf, record)
    return 0


@kernel_service("NtQueryKey")
def NtQueryKey(machine, thread, KeyHandle, KeyInformationClass, KeyInformation, Length, ResultLength):
    cls = KeyInformationClass & 0xFFFFFFFF
    # KeyNameInformation and KeyCachedInformation need no access right; the others KEY_QUERY_VALUE
    obj = _logged_key(machine, thread, KeyHandle,
                      0 if cls in (KeyNameInformation, KeyCachedInformation) else KEY_QUERY_VALUE, "query_info")
    record, header = key_record(obj.key, cls, thread)
    _event(machine, thread, "query_info", obj.key.path, 0, log=True)
    return _return(thread.process, KeyInformation, Length & 0xFFFFFFFF, ResultLength, record, header)


@kernel_service("NtEnumerateKey")
def NtEnumerateKey(machine, thread, KeyHandle, Index, KeyInformationClass, KeyInformation, Length, ResultLength):
    """The Index-th subkey (case-insensitive sorted order); STATUS_NO_MORE_ENTRIES past the end."""
    obj = _logged_key(machine, thread, KeyHandle, KEY_ENUMERATE_SUB_KEYS, "enum_key")
    cls = KeyInformationClass & 0xFFFFFFFF
    if cls in (KeyNameInformation, KeyCachedInformation):
        return STATUS_INVALID_PARAMETER
    try:
        name = obj.key.enumerate_key(Index & 0xFFFFFFFF)
    except NtStatusError as e:
        _event(machine, thread, "enum_key", obj.key.path, e.status, log=True)
        raise
    _event(machine, thread, "enum_key", obj.key.path, 0, name, log=True)
    record, header = key_record(obj.key.subkey(name), cls, thread)
    return _return(thread.process, KeyInformation, Length & 0xFFFFFFFF, ResultLength, record, header)


@kernel_service("NtQueryValueKey")
def NtQueryValueKey(machine, thread, KeyHandle, ValueName, KeyValueInformationClass, KeyValueInformation, Length,
                    ResultLength):
    proc = thread.process
    name = read_unicode_string(proc, ValueName)
    obj = _logged_key(machine, thread, KeyHandle, KEY_QUERY_VALUE, "query_value", name)
    try:
        type_, data = obj.key.query_value(name)
    except NtStatusError as e:
        _event(machine, thread, "query_value", obj.key.path, e.status, name, log=True)
        raise
    _event(machine, thread, "query_value", obj.key.path, 0, name, log=True)
    stored = next((n for n in obj.key.value_names() if n.upper() == name.upper()), name)
    record, header = value_record(stored, type_, data, KeyValueInformationClass & 0xFFFFFFFF, thread)
    return _return(proc, KeyValueInformation, Length & 0xFFFFFFFF, ResultLength, record, header)


@kernel_service("NtEnumerateValueKey")
def NtEnumerateValueKey(machine, thread, KeyHandle, Index, KeyValueInformationClass, KeyValueInformation, Length,
                        ResultLength):
    obj = _logged_key(machine, thread, KeyHandle, KEY_QUERY_VALUE, "enum_value")
    try:
        name, type_, data = obj.key.enumerate_value(Index & 0xFFFFFFFF)
    except NtStatusError as e:
        _event(machine, thread, "enum_value", obj.key.path, e.status, log=True)
        raise
    _event(machine, thread, "enum_value", obj.key.path, 0, name, log=True)
    record, header = value_record(name, type_, data, KeyValueInformationClass & 0xFFFFFFFF, thread)
    return _return(thread.process, KeyValueInformation, Length & 0xFFFFFFFF, ResultLength, record, header)


@kernel_service("NtSetValueKey")
def NtSetValueKey(machine, thread, KeyHandle, ValueName, TitleIndex, Type, Data, DataSize):
    """Stores the data as given (no terminating NUL is added here: that is RegSetValueEx's business)."""
    proc = thread.process
    name = read_unicode_string(proc, ValueName)
    obj = _logged_key(machine, thread, KeyHandle, KEY_SET_VALUE, "set_value", name)
    size = DataSize & 0xFFFFFFFF
    data = user_read(proc, Data, size) if size else b""
    if obj.key.is_link and (name.upper() != "SYMBOLICLINKVALUE" or Type & 0xFFFFFFFF != 6):
        # a link key holds only its REG_LINK SymbolicLinkValue (Wine's ntdll/tests/reg.c test_symlinks)
        return 0xC0000022                   # STATUS_ACCESS_DENIED
    try:
        obj.key.set_value(name, Type & 0xFFFFFFFF, data)
    except NtStatusError as e:
        _event(machine, thread, "set_value", obj.key.path, e.status, name, log=True)
        raise
    _event(machine, thread, "set_value", obj.key.path, 0, name, log=True, type=Type & 0xFFFFFFFF,
           size=size, data=_value_preview(Type & 0xFFFFFFFF, data))
    notify_change(proc, obj.key, REG_NOTIFY_CHANGE_LAST_SET)
    return 0


@kernel_service("NtDeleteValueKey")
def NtDeleteValueKey(machine, thread, KeyHandle, ValueName):
    proc = thread.process
    name = read_unicode_string(proc, ValueName)
    obj = _logged_key(machine, thread, KeyHandle, KEY_SET_VALUE, "delete_value", name)
    try:
        obj.key.delete_value(name)
    except NtStatusError as e:
        _event(machine, thread, "delete_value", obj.key.path, e.status, name, log=True)
        raise
    _event(machine, thread, "delete_value", obj.key.path, 0, name, log=True)
    notify_change(proc, obj.key, REG_NOTIFY_CHANGE_LAST_SET)
    return 0


@kernel_service("NtQueryMultipleValueKey")
def NtQueryMultipleValueKey(machine, thread, KeyHandle, ValueEntries, EntryCount, ValueBuffer, BufferLength,
                            RequiredBufferLength):
    """KEY_VALUE_ENTRY { PUNICODE_STRING ValueName; ULONG DataLength; ULONG DataOffset; ULONG Type } for each
    value: the data packed one after the other in ValueBuffer (offsets from its start). A missing value is
    STATUS_OBJECT_NAME_NOT_FOUND; a buffer too small STATUS_BUFFER_OVERFLOW with the size needed in
    *RequiredBufferLength (and *BufferLength)."""
    proc = thread.process
    obj = key_object(thread, KeyHandle, KEY_QUERY_VALUE)
    p = _ptr_size(proc)
    esize = p + 12 if p == 4 else 24
    count = EntryCount & 0xFFFFFFFF
    if count > 0x10000:
        return STATUS_INVALID_PARAMETER
    cap = struct.unpack("<I", user_read(proc, BufferLength, 4))[0]
    entries = []
    offset = 0
    for i in range(count):
        base = ValueEntries + i * esize
        name_ptr = struct.unpack("<Q" if p == 8 else "<I", user_read(proc, base, p))[0]
        name = read_unicode_string(proc, name_ptr)
        type_, data = obj.key.query_value(name)
        entries.append((base, offset, type_, data))
        offset += len(data)
    user_write(proc, BufferLength, struct.pack("<I", offset))
    if RequiredBufferLength:
        user_write(proc, RequiredBufferLength, struct.pack("<I", offset))
    if cap < offset:
        return STATUS_BUFFER_OVERFLOW
    for base, off, type_, data in entries:
        user_write(proc, base + p, struct.pack("<III", len(data), off, type_))
        if data:
            user_write(proc, ValueBuffer + off, data)
    return 0


# ---------------------------------------------------------------------------------------------- notification
@kernel_service("NtNotifyChangeKey")
def NtNotifyChangeKey(machine, thread, KeyHandle, Event, ApcRoutine, ApcContext, IoStatusBlock, CompletionFilter,
                      WatchTree, Buffer, BufferSize, Asynchronous):
    """An asynchronous watch signalled through an event (RegNotifyChangeKeyValue's form): the event is set,
    once, when a change of a watched kind is made to the key (or below it with WatchTree) or when the handle
    is closed; the service returns STATUS_PENDING. A synchronous wait, an APC routine or a watch without an
    event is not modelled and stops loudly."""
    proc = thread.process
    if not Asynchronous & 0xFF:
        unsupported(thread, "NtNotifyChangeKey", "a synchronous wait for a registry change")
    if ApcRoutine:
        unsupported(thread, "NtNotifyChangeKey", "an APC completion routine")
    if not Event:
        unsupported(thread, "NtNotifyChangeKey", "a watch without an event (completion port or handle wait)")
    flt = CompletionFilter & 0xFFFFFFFF
    if flt & ~0x1000000F:
        return STATUS_INVALID_PARAMETER
    obj = key_object(thread, KeyHandle, KEY_NOTIFY)
    event = proc.handles.lookup(Event, "Event", 0x2, current_process=proc, current_thread=thread)
    event.reset()                 # as the I/O manager resets a request's event when the request starts
    # a handle has one notify block: its first request's filter and subtree flag hold for the later ones
    # (a 0 filter: only the handle's close ends them; Wine's ntdll/tests/reg.c test_notify, as on Windows)
    block = getattr(obj, "notify_block", None)
    if block is None:
        block = obj.notify_block = (flt, bool(WatchTree & 0xFF))
    flt, tree = block
    obj.watchers.append((obj.key, tree, flt, event.reference()))
    _event(machine, thread, "notify", obj.key.path, STATUS_PENDING)
    return STATUS_PENDING


@kernel_service("NtRenameKey")
def NtRenameKey(machine, thread, KeyHandle, NewName):
    """A key's new name (its last component); the handle needs KEY_WRITE. An empty name is
    STATUS_INVALID_PARAMETER, a sibling's name (or its own) STATUS_CANNOT_DELETE."""
    proc = thread.process
    raw = user_read(proc, NewName, 4)                 # read before the handle (a NULL one: ACCESS_VIOLATION)
    name = read_unicode_string(proc, NewName)
    if not struct.unpack("<H", raw[:2])[0]:
        return STATUS_INVALID_PARAMETER                # (before the handle's access is checked)
    obj = key_object(thread, KeyHandle, 0x20006)       # KEY_WRITE
    old_parent = obj.key.parent
    obj.key.rename(name)
    _event(machine, thread, "rename_key", obj.key.path, 0)
    notify_change(proc, old_parent, REG_NOTIFY_CHANGE_NAME)
    return 0


@kernel_service("NtNotifyChangeMultipleKeys")
def NtNotifyChangeMultipleKeys(machine, thread, MasterKeyHandle, Count, SubordinateObjects, Event, ApcRoutine,
                               ApcContext, IoStatusBlock, CompletionFilter, WatchTree, Buffer, BufferSize,
                               Asynchronous):
    """NtNotifyChangeKey of the master key; subordinate keys (Count > 0) are not modelled and stop loudly."""
    if Count & 0xFFFFFFFF:
        unsupported(thread, "NtNotifyChangeMultipleKeys", "subordinate keys")
    return NtNotifyChangeKey(machine, thread, MasterKeyHandle, Event, ApcRoutine, ApcContext, IoStatusBlock,
                             CompletionFilter, WatchTree, Buffer, BufferSize, Asynchronous)


__all__ = ["KeyObject", "notify_change", "read_unicode_string", "read_object_attributes", "key_object"]
