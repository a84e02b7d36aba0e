"""The I/O manager's file system services (NtCreateFile, NtReadFile, NtQueryInformationFile, …), called by the
system-service dispatcher (winhatch.kernel.ke.services) for a guest system call and by kernel32's handlers
through ``c.nt``.

Names go through the object manager first (ObNamespace.parse): ``\\??`` is a link to ``\\GLOBAL??``, whose
``C:`` is a link to the volume's device object ``\\Device\\HarddiskVolume3``; the rest of the name after the
device is the path on the volume, which the file system (vfs.Vfs) resolves. ``NUL``, ``CON``, ``CONIN$``
and ``CONOUT$`` are links to ``\\Device\\Null`` and ``\\Device\\ConDrv``'s objects, ``UNC`` to
``\\Device\\Mup`` (no network in the sandbox). For a WoW64 process the file system redirector applies
(System32 → SysWOW64).

Every request completes before the service returns: :func:`complete` writes the IO_STATUS_BLOCK and signals
the event (the one place asynchronous completion — completion ports, APCs — will join). An APC routine stops
the guest loudly (not modelled yet).

Structure layouts are the same for x86 and x64 except IO_STATUS_BLOCK, OBJECT_ATTRIBUTES, UNICODE_STRING and
FILE_RENAME/LINK_INFORMATION (pointer-sized fields); the offsets were checked with mingw-w64's headers.
"""
from __future__ import annotations

import os
import struct

from winhatch.kernel.ke.services import kernel_service, unsupported, user_read, user_write
from winhatch.kernel.ob.namespace import Device, Directory, SymbolicLink
from winhatch.ntstatus import (
    NtStatusError,
    STATUS_ACCESS_DENIED,
    STATUS_BUFFER_OVERFLOW,
    STATUS_END_OF_FILE,
    STATUS_INFO_LENGTH_MISMATCH,
    STATUS_INVALID_DEVICE_REQUEST,
    STATUS_INVALID_HANDLE,
    STATUS_INVALID_INFO_CLASS,
    STATUS_INVALID_PARAMETER,
    STATUS_NO_MORE_FILES,
    STATUS_NO_SUCH_FILE,
    STATUS_OBJECT_NAME_INVALID,
    STATUS_OBJECT_PATH_SYNTAX_BAD,
    STATUS_OBJECT_TYPE_MISMATCH,
    STATUS_PIPE_BROKEN,
    STATUS_PRIVILEGE_NOT_HELD,
)
from . import mountmgr
from . import vfs as V

STATUS_BUFFER_TOO_SMALL = 0xC0000023
STATUS_NOT_A_DIRECTORY = 0xC0000103
STATUS_NO_MORE_ENTRIES = 0x8000001A
STATUS_MORE_ENTRIES = 0x00000105
STATUS_FILE_LOCK_CONFLICT = 0xC0000054
STATUS_LOCK_NOT_GRANTED = 0xC0000055
STATUS_RANGE_NOT_LOCKED = 0xC000007E
STATUS_OBJECT_NAME_EXISTS = 0x40000000
STATUS_INVALID_USER_BUFFER = 0xC00000E8

OBJ_INHERIT = 0x2
FILE_WRITE_TO_END_OF_FILE = 0xFFFFFFFF_FFFFFFFF
FILE_USE_FILE_POINTER_POSITION = 0xFFFFFFFF_FFFFFFFE

#: the volume every drive of the sandbox is: NTFS, no label, this serial number (GetVolumeInformation,
#: BY_HANDLE_FILE_INFORMATION, FILE_ID_INFO)
VOLUME_SERIAL = 0x4D2A1B3C
#: FILE_CASE_SENSITIVE_SEARCH | FILE_CASE_PRESERVED_NAMES | FILE_UNICODE_ON_DISK | FILE_SUPPORTS_REPARSE_POINTS:
#: the NTFS capabilities winhatch's file system keeps (no ACLs, streams, sparse files or object ids)
VOLUME_FLAGS = 0x1 | 0x2 | 0x4 | 0x80
VOLUME_CREATION_TIME = 132223104000000000       # 2020-01-01 00:00 UTC, a FILETIME
BYTES_PER_SECTOR = 512
SECTORS_PER_CLUSTER = 8
#: the volume's size as reported (64 GiB); free space is the sandbox's remaining write quota
VOLUME_BYTES = 64 << 30


# ============================================================================================ guest memory
def _psize(thread) -> int:
    return 8 if thread.process.arch == "x64" else 4


def _rd(thread, addr: int, size: int) -> bytes:
    return user_read(thread.process, addr, size)


def _wr(thread, addr: int, data: bytes) -> None:
    user_write(thread.process, addr, data)


def _rptr(thread, addr: int) -> int:
    n = _psize(thread)
    return int.from_bytes(_rd(thread, addr, n), "little")


def _wptr(thread, addr: int, v: int) -> None:
    n = _psize(thread)
    _wr(thread, addr, (v & ((1 << (8 * n)) - 1)).to_bytes(n, "little"))


def read_unicode_string(thread, us: int) -> str:
    """A UNICODE_STRING's text (Length bytes; an odd length is invalid). MaximumLength is not looked at, as
    the object manager's capture of a name does not (Wine's ntdll/tests/file.c open_file_test reuses a freed
    string, MaximumLength 0, as on Windows)."""
    n = _psize(thread)
    length, _maxlen = struct.unpack("<HH", _rd(thread, us, 4))
    buf = _rptr(thread, us + n)
    if length & 1:
        raise NtStatusError(STATUS_OBJECT_NAME_INVALID, "malformed UNICODE_STRING")
    if not length:
        return ""
    return _rd(thread, buf, length).decode("utf-16-le", "surrogatepass")


def read_object_attributes(thread, oa: int) -> tuple[str | None, int, int]:
    """(ObjectName's text or None, RootDirectory, Attributes) of an OBJECT_ATTRIBUTES."""
    n = _psize(thread)
    raw = _rd(thread, oa, 6 * n if n == 8 else 24)
    if n == 8:
        root, name_p = struct.unpack_from("<QQ", raw, 8)
        (attrs,) = struct.unpack_from("<I", raw, 24)
    else:
        root, name_p, attrs = struct.unpack_from("<III", raw, 4)
    name = read_unicode_string(thread, name_p) if name_p else None
    return name, root, attrs


# ============================================================================================ completion
def complete(machine, thread, iosb: int, status: int, information: int, event=None, file_obj=None) -> int:
    """IoCompleteRequest for a request that finished: the IO_STATUS_BLOCK gets the status and the count, the
    event (if any) is signalled. Returns the status for the service to return. (Completion ports and user
    APCs are not modelled yet: the services refuse an APC routine before they start.)"""
    status &= 0xFFFFFFFF
    if iosb:
        n = _psize(thread)
        fmt = "<QQ" if n == 8 else "<II"
        _wr(thread, iosb, struct.pack(fmt, status, information & ((1 << (8 * n)) - 1)))
    if event is not None:
        event.set()
    return status


def _event(thread, handle: int):
    """The optional event of an I/O request (reset before the request starts, as the I/O manager does)."""
    if not handle:
        return None
    from winhatch.kernel.ob.access import EVENT_MODIFY_STATE
    ev = thread.process.handles.lookup(handle, "Event", EVENT_MODIFY_STATE, current_process=thread.process,
                                       current_thread=thread)
    ev.reset()
    return ev


def _no_apc(thread, service: str, apc: int) -> None:
    if apc:
        unsupported(thread, service, "an APC routine (asynchronous completion by user APC)")


# ============================================================================================ the namespace
def _dos_devices(machine) -> None:
    """The object directory entries of the I/O system, kept in step with the VFS's drives: \\??  →
    \\GLOBAL??, \\GLOBAL??\\X: → \\Device\\HarddiskVolumeN, NUL, CON, CONIN$, CONOUT$, UNC."""
    ns = machine.namespace
    vfs = machine.vfs
    drives = sorted({m.drive for m in vfs._mounts})
    state = getattr(machine, "_io_namespace_drives", None)
    if state == drives:
        return
    if state is None:
        ns.create_link("\\??", "\\GLOBAL??", exist_ok=True)
        ns.create_link("\\GLOBAL??\\GLOBALROOT", "", exist_ok=True)   # "\\??\\GLOBALROOT\\x" is "\\x"
        for name, fs in (("Null", lambda rest: "\\??\\NUL" if not rest else None),
                         ("ConDrv", _condrv_name), ("Mup", lambda rest: "\\??\\UNC" + rest)):
            dev = Device(fs)
            if name == "ConDrv":
                from winhatch.kernel import condrv
                dev.open_file = condrv.open_file
            ns.insert(f"\\Device\\{name}", dev, exist_ok=True).make_permanent()
        np_dev = Device(lambda rest: None)
        np_dev.open_file = _open_named_pipe
        ns.insert("\\Device\\NamedPipe", np_dev, exist_ok=True).make_permanent()
        ns.create_link("\\GLOBAL??\\PIPE", "\\Device\\NamedPipe", exist_ok=True)
        ms = Device(lambda rest: None)
        ms.open_file = _open_mailslot_client
        ns.insert("\\Device\\Mailslot", ms, exist_ok=True).make_permanent()
        ns.create_link("\\GLOBAL??\\MAILSLOT", "\\Device\\Mailslot", exist_ok=True)
        mgr = Device(lambda rest: None)
        mgr.open_file = _open_mount_manager
        ns.insert("\\Device\\MountPointManager", mgr, exist_ok=True).make_permanent()
        ns.create_link("\\GLOBAL??\\MountPointManager", "\\Device\\MountPointManager", exist_ok=True)
        for link, target in (("NUL", "\\Device\\Null"), ("CON", "\\Device\\ConDrv\\Console"),
                             ("CONIN$", "\\Device\\ConDrv\\CurrentIn"), ("CONOUT$", "\\Device\\ConDrv\\CurrentOut"),
                             ("UNC", "\\Device\\Mup")):
            ns.create_link(f"\\GLOBAL??\\{link}", target, exist_ok=True)
    used = set(vfs.volume_devices.values())
    for d in drives:
        if d not in vfs.volume_devices:
            k = 4
            while f"HarddiskVolume{k}" in used:
                k += 1
            vfs.volume_devices[d] = f"HarddiskVolume{k}"
            used.add(vfs.volume_devices[d])
        vol = vfs.volume_devices[d]
        dev = Device(lambda rest, d=d: f"\\??\\{d}:" + rest)
        dev.drive = d
        ns.insert(f"\\Device\\{vol}", dev, exist_ok=True).make_permanent()
        ns.create_link(f"\\GLOBAL??\\{d}:", f"\\Device\\{vol}", exist_ok=True)
        ns.create_link(f"\\GLOBAL??\\Volume{mountmgr.volume_guid(d)}", f"\\Device\\{vol}", exist_ok=True)
    machine._io_namespace_drives = drives


def _open_mount_manager(machine, thread, rest: str, access: int, options: int = 0):
    """The mount manager's device allows everyone to query and only administrators (and LocalSystem) to
    change the mount table: an open for writing by another token is STATUS_ACCESS_DENIED."""
    from winhatch.kernel.ob.access import object_type
    from winhatch.kernel.se.token import primary_token
    if rest:
        raise NtStatusError(0xC0000034, f"\\Device\\MountPointManager{rest}: no such object")
    want = object_type("File").map_access(access)
    if want & (V.FILE_WRITE_DATA | V.FILE_APPEND_DATA):
        tok = primary_token(thread.process)
        if not any(sid == "S-1-5-32-544" for sid, _attrs in tok.groups):
            raise NtStatusError(STATUS_ACCESS_DENIED, "the mount table is the administrators'")
    return mountmgr.MountManagerFile(machine)


def _open_named_pipe(machine, thread, rest: str, access: int, options: int = 0):
    """NtCreateFile under \\Device\\NamedPipe: the file system's root (for FSCTL_PIPE_WAIT) or the client end of
    a listening instance of the pipe named by the rest."""
    from winhatch.kernel.io import npfs
    from winhatch.kernel.ob.access import object_type
    name = rest.lstrip("\\")
    if not name:
        root = npfs.NpfsRoot()
        root.path = "\\Device\\NamedPipe" + rest      # named as opened: with or without the separator
        return root
    synchronous = bool(options & (V.FILE_SYNCHRONOUS_IO_ALERT | V.FILE_SYNCHRONOUS_IO_NONALERT))
    return npfs.open_client(machine, name, object_type("File").map_access(access), synchronous, thread)


def _open_mailslot_client(machine, thread, rest: str, access: int, options: int = 0):
    """CreateFile of \\\\.\\mailslot\\name: a client end, which only writes."""
    from winhatch.kernel.io import msfs
    from winhatch.kernel.ob.access import object_type
    name = rest.lstrip("\\")
    if not name:
        if rest not in ("", "\\"):
            raise NtStatusError(STATUS_OBJECT_NAME_INVALID, "no mailslot name")
        return msfs.MsfsRoot()                  # the file system itself (\\.\mailslot, \??\MAILSLOT\)
    return msfs.open_client(machine, name, object_type("File").map_access(access))


def _device_open(machine, thread, oa: int, access: int = 0, options: int = 0):
    """The file object of a device that is opened as itself (the mount manager), or None: a name the file
    system resolves."""
    name, root, _attrs = read_object_attributes(thread, oa)
    if root:
        pipe = _pipe_reopened(thread, root, name)
        name = pipe if pipe is not None else _below_object_directory(thread, root, name)
    if not name or not name.startswith("\\"):
        return None
    _dos_devices(machine)
    try:
        obj, rest = machine.namespace.parse(name)
    except NtStatusError:
        return None
    opener = getattr(obj, "open_file", None) if isinstance(obj, Device) else None
    return opener(machine, thread, rest, access, options) if opener is not None else None


def _pipe_reopened(thread, root: int, name: str | None) -> str | None:
    """An empty name relative to a named pipe's handle opens the pipe again by its name, as a client end
    (ReOpenFile of a server end: Wine's kernel32/tests/file.c test_ReOpenFile, written on Windows); None
    otherwise."""
    if name:
        return None
    from winhatch.kernel.io.npfs import NamedPipeEnd
    obj = thread.process.handles.lookup(root, None, 0, current_process=thread.process, current_thread=thread)
    return obj.path if isinstance(obj, NamedPipeEnd) and getattr(obj, "path", None) else None


def _condrv_name(rest: str) -> str | None:
    return {"\\CONSOLE": "\\??\\CON", "\\CURRENTIN": "\\??\\CONIN$",
            "\\CURRENTOUT": "\\??\\CONOUT$"}.get(rest.upper())


def fs_name(machine, thread, name: str) -> str:
    """The name the file system resolves for an absolute NT name: the object manager's parse to the device,
    then the device's rest (``\\??\\C:\\dir\\x``); the WoW64 file system redirector for an x86 process."""
    _dos_devices(machine)
    obj, rest = machine.namespace.parse(name)
    if isinstance(obj, Device):
        out = obj.fs_name(rest)
        if out is None:
            raise NtStatusError(0xC0000034, f"{name}: no such object on {obj.name}")
    elif isinstance(obj, (Directory, SymbolicLink)):
        raise NtStatusError(STATUS_OBJECT_TYPE_MISMATCH, f"{name} is an object directory, not a file")
    else:
        raise NtStatusError(STATUS_OBJECT_TYPE_MISMATCH, f"{name} is a {obj.type_name}, not a file")
    if redirected(thread):
        out = machine.vfs.wow64_redirect(out, "x86")
    return out


WOW64_TLS_FILESYSREDIR = 8


def _redirection_slot(thread) -> int:
    """The address of the thread's 64-bit TEB TlsSlots[WOW64_TLS_FILESYSREDIR] (0: no 64-bit TEB)."""
    from winhatch.kernel.structs import TEB
    teb64 = getattr(thread, "teb64", 0)
    return teb64 + TEB.offset("x64", "TlsSlots") + 8 * WOW64_TLS_FILESYSREDIR if teb64 else 0


def fs_redirection_value(thread) -> int:
    """The WoW64 file system redirector's switch of a thread (nonzero: off): as on Windows, the 64-bit TEB's
    TlsSlots[WOW64_TLS_FILESYSREDIR], which RtlWow64EnableFsRedirection(Ex) set (a 64-bit value)."""
    slot = _redirection_slot(thread)
    if slot:
        try:
            return int.from_bytes(thread.process.aspace.read(slot, 8), "little")
        except Exception:       # an address space being torn down: the thread's last value
            pass
    return getattr(thread, "wow64_fs_redirection", 0)


def set_fs_redirection_value(thread, value: int) -> int:
    """Set a thread's redirector switch (nonzero: off); returns the previous value."""
    old = fs_redirection_value(thread)
    slot = _redirection_slot(thread)
    if slot:
        thread.process.aspace.write(slot, (value & 0xFFFFFFFFFFFFFFFF).to_bytes(8, "little"))
    thread.wow64_fs_redirection = value
    return old


def redirected(thread) -> bool:
    """Does the WoW64 file system redirector apply to this thread's requests (an x86 process whose thread has
    not turned it off with Wow64DisableWow64FsRedirection / RtlWow64EnableFsRedirectionEx)?"""
    return thread.process.arch == "x86" and not fs_redirection_value(thread)


def _below_object_directory(thread, root: int, name: str | None) -> str | None:
    """The absolute NT name of `name` relative to an object directory handle (the object manager parses it
    from there: \\BaseNamedObjects + link\\NUL); None when the root is no object directory (a file)."""
    obj = thread.process.handles.lookup(root, None, 0, current_process=thread.process, current_thread=thread)
    if not isinstance(obj, Directory):
        return None
    if name and name.startswith("\\"):
        raise NtStatusError(STATUS_OBJECT_PATH_SYNTAX_BAD, "a relative name starts with a backslash")
    return (obj.name or "").rstrip("\\") + "\\" + (name or "")


def _resolve_oa(machine, thread, oa: int) -> tuple[str, "V.VfsFile | None"]:
    """(name for the file system, root directory file or None) of a file service's OBJECT_ATTRIBUTES."""
    name, root, _attrs = read_object_attributes(thread, oa)
    if root:
        from winhatch.kernel.fileobj import FileObject
        full = _below_object_directory(thread, root, name)
        if full is not None:
            return fs_name(machine, thread, full), None
        obj = thread.process.handles.lookup(root, None, 0, current_process=thread.process, current_thread=thread)
        if not isinstance(obj, FileObject):
            unsupported(thread, "NtCreateFile", f"a name relative to a {obj.type_name} object")
        if name is None:
            name = ""
        if redirected(thread):
            full = machine.vfs.wow64_redirect(obj.file.nt_path.rstrip("\\") + ("\\" + name if name else ""), "x86")
            return full, None
        return name, obj.file
    if not name:
        raise NtStatusError(STATUS_OBJECT_NAME_INVALID if name == "" else STATUS_OBJECT_PATH_SYNTAX_BAD,
                            "no object name")
    if not name.startswith("\\"):
        raise NtStatusError(STATUS_OBJECT_PATH_SYNTAX_BAD, f"a relative name without a root: {name!r}")
    return fs_name(machine, thread, name), None


# ============================================================================================ file handles
def _file_obj(thread, handle: int, access: int = 0):
    """The file object behind a handle (FileObject, a console or pipe end), checked for `access`."""
    proc = thread.process
    obj = proc.handles.lookup(handle, None, 0, current_process=proc, current_thread=thread)
    if obj.type_name != "File":
        raise NtStatusError(STATUS_OBJECT_TYPE_MISMATCH, f"handle is a {obj.type_name}")
    if access:
        granted = proc.handles.entry(handle).access
        if access & ~granted:
            raise NtStatusError(STATUS_ACCESS_DENIED, f"access {access:#x} not granted ({granted:#x})")
    return obj


def _granted(thread, handle: int) -> int:
    return thread.process.handles.entry(handle).access


def _is_console_file(obj) -> bool:
    """A console handle proper (not a std handle whose host stream is a pipe or a file)."""
    from winhatch.kernel.condrv import ConsoleFile
    return isinstance(obj, ConsoleFile) and (obj.stream is None or obj.is_console)


def _vfile(obj):
    """The VfsFile of a disk file object, or None (consoles, pipes)."""
    from winhatch.kernel.fileobj import FileObject
    return obj.file if isinstance(obj, FileObject) else None


def file_index(vf) -> int:
    """The file's FileInternalInformation index (vfs.file_index_of its host file)."""
    return vf.vfs.file_index(vf.host_path)


FILE_OPEN_BY_FILE_ID = 0x2000


def _name_of_file_id(machine, thread, oa: int) -> str:
    """FILE_OPEN_BY_FILE_ID: ObjectName's buffer is the file's 8-byte file reference (FileInternalInformation;
    a 16-byte FILE_ID_128 with its high half zero is the same), RootDirectory a file or directory handle on
    the volume. The name the file system opens instead (STATUS_INVALID_PARAMETER for another size or an id
    the volume does not have)."""
    from winhatch.kernel.fileobj import FileObject
    n = _psize(thread)
    raw = _rd(thread, oa, 6 * n if n == 8 else 24)
    root, name_p = struct.unpack_from("<QQ", raw, 8) if n == 8 else struct.unpack_from("<II", raw, 4)
    if not root or not name_p:
        raise NtStatusError(STATUS_INVALID_PARAMETER, "FILE_OPEN_BY_FILE_ID needs a volume handle and an id")
    us = _rd(thread, name_p, 2 * n)
    length = struct.unpack_from("<H", us, 0)[0]
    buf = struct.unpack_from("<Q" if n == 8 else "<I", us, n)[0]
    if length not in (8, 16) or not buf:
        raise NtStatusError(STATUS_INVALID_PARAMETER, f"a file id of {length} bytes")
    data = _rd(thread, buf, length)
    if length == 16 and any(data[8:]):
        raise NtStatusError(STATUS_INVALID_PARAMETER, "a 128-bit file id past 64 bits")
    obj = thread.process.handles.lookup(root, None, 0, current_process=thread.process, current_thread=thread)
    if not isinstance(obj, FileObject) or obj.file.host_path is None:
        raise NtStatusError(STATUS_INVALID_PARAMETER, "FILE_OPEN_BY_FILE_ID relative to no volume file")
    guest = machine.vfs.guest_path_of_file_id(int.from_bytes(data[:8], "little"))
    if guest is None or guest[:2].upper() != obj.file.path[:2].upper():
        raise NtStatusError(STATUS_INVALID_PARAMETER, "no file with this id on the volume")
    return "\\??\\" + guest


def _create(machine, thread, FileHandle, DesiredAccess, ObjectAttributes, IoStatusBlock, FileAttributes,
            ShareAccess, CreateDisposition, CreateOptions, service):
    from winhatch.kernel.fileobj import FILE_TYPE_CHAR, FileObject
    if not FileHandle or not IoStatusBlock:
        return 0xC0000005
    _wptr(thread, FileHandle, 0)
    _n, _r, attrs = read_object_attributes(thread, ObjectAttributes)
    access = DesiredAccess & 0xFFFFFFFF
    dev = _device_open(machine, thread, ObjectAttributes, access, CreateOptions & 0xFFFFFFFF)
    if dev is not None:
        if getattr(dev, "open_options", None) is None:
            try:
                dev.open_options = CreateOptions & 0xFFFFFFFF
            except AttributeError:
                pass
        from winhatch.kernel.ob.access import object_type
        h = thread.process.handles.insert(dev, object_type("File").map_access(access),
                                          inherit=bool(attrs & OBJ_INHERIT))
        _wptr(thread, FileHandle, h)
        return complete(machine, thread, IoStatusBlock, 0, V.FILE_OPENED)
    options = CreateOptions & 0xFFFFFFFF
    if options & FILE_OPEN_BY_FILE_ID:
        name, root = _name_of_file_id(machine, thread, ObjectAttributes), None
        options &= ~FILE_OPEN_BY_FILE_ID
    else:
        name, root = _resolve_oa(machine, thread, ObjectAttributes)
    vf = machine.vfs.open(name, access=access, disposition=CreateDisposition & 0xFFFFFFFF,
                          options=options, share=ShareAccess & V.FILE_SHARE_ALL,
                          attributes=FileAttributes & 0xFFFF, root=root)
    obj = FileObject(vf, vf.path)
    if vf.device is not None:
        obj.file_type = FILE_TYPE_CHAR
    try:
        h = thread.process.handles.insert(obj, vf.access, inherit=bool(attrs & OBJ_INHERIT))
    except NtStatusError:
        vf.close()
        raise
    _wptr(thread, FileHandle, h)
    return complete(machine, thread, IoStatusBlock, 0, vf.information)


def _create_socket(machine, thread, FileHandle, DesiredAccess, IoStatusBlock, EaBuffer, EaLength, attrs) -> int:
    """\\Device\\Afd\\Endpoint with its AfdOpenPacketXX: a socket (winhatch.kernel.io.afd)."""
    from winhatch.kernel.io import afd
    if not FileHandle or not IoStatusBlock:
        return 0xC0000005
    ea = user_read(thread.process, EaBuffer, min(EaLength & 0xFFFFFFFF, 4096))
    ep = afd.create_endpoint(machine, thread, ea)
    h = thread.process.handles.insert(ep, (DesiredAccess & 0xFFFFFFFF) or 0x1F01FF, inherit=bool(attrs & OBJ_INHERIT))
    _wptr(thread, FileHandle, h)
    return complete(machine, thread, IoStatusBlock, 0, 0)


@kernel_service("NtCreateFile")
def NtCreateFile(machine, thread, FileHandle, DesiredAccess, ObjectAttributes, IoStatusBlock, AllocationSize,
                 FileAttributes, ShareAccess, CreateDisposition, CreateOptions, EaBuffer, EaLength):
    if EaBuffer and EaLength:
        name, _root, attrs = read_object_attributes(thread, ObjectAttributes)
        if name is not None and name.lower().startswith("\\device\\afd"):
            return _create_socket(machine, thread, FileHandle, DesiredAccess, IoStatusBlock, EaBuffer, EaLength, attrs)
        unsupported(thread, "NtCreateFile", "extended attributes (EaBuffer)")
    return _create(machine, thread, FileHandle, DesiredAccess, ObjectAttributes, IoStatusBlock, FileAttributes,
                   ShareAccess, CreateDisposition, CreateOptions, "NtCreateFile")


@kernel_service("NtOpenFile")
def NtOpenFile(machine, thread, FileHandle, DesiredAccess, ObjectAttributes, IoStatusBlock, ShareAccess,
               OpenOptions):
    return _create(machine, thread, FileHandle, DesiredAccess, ObjectAttributes, IoStatusBlock, 0, ShareAccess,
                   V.FILE_OPEN, OpenOptions, "NtOpenFile")


def set_current_directory_handle(machine, proc, dos_path: str) -> None:
    """RtlSetCurrentDirectory_U's handle: open the directory (FILE_TRAVERSE | SYNCHRONIZE, shared for reading
    and writing, inheritable), store the handle in RTL_USER_PROCESS_PARAMETERS.CurrentDirectory.Handle and
    close the previous one. Programs open files relative to it (Zig's std.fs.cwd()). A directory that cannot
    be opened leaves the handle NULL."""
    from winhatch.kernel.fileobj import FileObject
    from winhatch.kernel.structs import PEB, RTL_USER_PROCESS_PARAMETERS
    params = PEB.read(proc.aspace, proc.peb, proc.arch, "ProcessParameters")["ProcessParameters"]
    if not params:
        return
    field = "CurrentDirectory.Handle"
    old = RTL_USER_PROCESS_PARAMETERS.read(proc.aspace, params, proc.arch, field)[field]
    h = 0
    try:
        from . import paths as P
        name = P.to_nt_path(dos_path)
        if proc.arch == "x86":
            name = machine.vfs.wow64_redirect(name, "x86")
        vf = machine.vfs.open(name, access=V.FILE_TRAVERSE | V.SYNCHRONIZE, disposition=V.FILE_OPEN,
                              options=V.FILE_DIRECTORY_FILE | V.FILE_SYNCHRONOUS_IO_NONALERT | 0x4000,
                              share=V.FILE_SHARE_READ | V.FILE_SHARE_WRITE)
        h = proc.handles.insert(FileObject(vf, vf.path), vf.access, inherit=True)
    except NtStatusError:
        h = 0
    RTL_USER_PROCESS_PARAMETERS.write(proc.aspace, params, proc.arch, **{field: h})
    if old:
        try:
            proc.handles.close(old)
        except NtStatusError:
            pass


# ============================================================================================ read / write
def _synchronous(vf) -> bool:
    """A file object opened for synchronous I/O (FILE_SYNCHRONOUS_IO_ALERT / NONALERT) keeps a file pointer;
    an asynchronous one has none: every request names its offset."""
    return bool(vf.options & (V.FILE_SYNCHRONOUS_IO_ALERT | V.FILE_SYNCHRONOUS_IO_NONALERT))


def _offset(thread, obj, ptr: int, *, write: bool) -> int | None:
    """The byte offset of a read or write: None for the file pointer (no ByteOffset, or
    FILE_USE_FILE_POINTER_POSITION, on a synchronous file); -1 for the end of file (FILE_WRITE_TO_END_OF_FILE
    on a write). Raised before the request starts (the IO_STATUS_BLOCK is not written): a negative offset, or
    no offset on an asynchronous file, STATUS_INVALID_PARAMETER."""
    sync = _synchronous(obj)
    if not ptr:
        if not sync:
            raise NtStatusError(STATUS_INVALID_PARAMETER, "no ByteOffset on an asynchronous file")
        return None
    off = int.from_bytes(_rd(thread, ptr, 8), "little")
    if off == FILE_USE_FILE_POINTER_POSITION:
        if not sync:
            raise NtStatusError(STATUS_INVALID_PARAMETER, "FILE_USE_FILE_POINTER_POSITION on an asynchronous file")
        return None
    if off == FILE_WRITE_TO_END_OF_FILE and write:
        return -1
    if off >> 63:
        raise NtStatusError(STATUS_INVALID_PARAMETER, "negative byte offset")
    return off


def _done(machine, thread, obj, iosb: int, status: int, information: int, event, apc: int, ctx: int) -> int:
    """The end of a read or write that finished at once: the IO_STATUS_BLOCK and the event (complete), then, for
    a status that is no error, the completion port's packet (when the file has one and the request an
    ApcContext) and the caller's APC routine, queued to the calling thread (PIO_APC_ROUTINE(ApcContext,
    IoStatusBlock, Reserved), run at its next alertable wait)."""
    from winhatch.kernel.io import completion as io
    st = complete(machine, thread, iosb, status, information, event, obj)
    if status & 0xC0000000 == 0xC0000000:
        return st
    if event is None:
        io.signal_file(machine, obj)
    port = getattr(obj, "completion_port", None)
    modes = getattr(obj, "completion_modes", 0)
    if port is not None and ctx and not port.deleted and not modes & io.FILE_SKIP_COMPLETION_PORT_ON_SUCCESS:
        port.insert(io.Packet(obj.completion_key, ctx, status & 0xFFFFFFFF, information))
    if apc and not thread.terminated:
        from winhatch.kernel.ke.wait import queue_apc
        queue_apc(machine, thread, apc, [ctx, iosb, 0])
    return st


def _mailslot_read(machine, thread, end, Event, apc, ctx, iosb, buf: int, length: int, caller_sp: int) -> int:
    """The oldest message, whole; none: wait up to the mailslot's read time-out, then STATUS_IO_TIMEOUT."""
    from winhatch.kernel.ke import wait as kwait
    from winhatch.kernel.io import msfs
    key = ("NtReadFile (mailslot)", caller_sp)
    done = kwait.take_done(thread, key)
    timed_out = done is not None and done.status == kwait.WAIT_TIMEOUT
    try:
        data = end.take(length)
    except NtStatusError as e:
        return e.status
    if data is None:
        s = end.slot
        now = machine.clock.now()
        if timed_out or s.timeout_ticks == 0:
            return msfs.STATUS_IO_TIMEOUT
        deadline = None if s.timeout_ticks is None else now + s.timeout_ticks
        raise kwait.WouldBlock(kwait.WaitBlock([end], False, deadline, "ReadFile (mailslot)", key))
    ev = _event(thread, Event)
    if data:
        _wr(thread, buf, data)
    return _done(machine, thread, end, iosb, 0, len(data), ev, apc, ctx)


@kernel_service("NtReadFile")
def NtReadFile(machine, thread, FileHandle, Event, ApcRoutine, ApcContext, IoStatusBlock, Buffer, Length,
               ByteOffset, Key, *, caller_sp=0):
    """At the end of a file STATUS_END_OF_FILE; a pipe whose writers are gone STATUS_PIPE_BROKEN. A read from
    an empty pipe blocks (the service is run again when data arrives)."""
    from winhatch.kernel.condrv import ConsoleFile
    from winhatch.kernel.fileobj import FILE_TYPE_PIPE
    obj = _file_obj(thread, FileHandle)
    length = Length & 0xFFFFFFFF
    if length and (not Buffer or not thread.process.aspace.accessible(Buffer, length, True)):
        return 0xC0000005          # the buffer is probed before the event is touched
    if ApcRoutine and getattr(obj, "completion_port", None) is not None:
        return STATUS_INVALID_PARAMETER      # an APC routine on a handle with a completion port
    if getattr(obj, "npfs_root", False):
        return STATUS_INVALID_PARAMETER      # the named-pipe file system itself has nothing to read
    if hasattr(obj, "try_read"):             # a named pipe end: its own request path (pending reads)
        from winhatch.kernel.io import iocp_services
        return iocp_services.read_request(machine, thread, obj, Buffer, length, None, IoStatusBlock,
                                          _event(thread, Event), ApcRoutine, ApcContext)
    from winhatch.kernel.io import msfs
    if isinstance(obj, msfs.MailslotEnd):
        return _mailslot_read(machine, thread, obj, Event, ApcRoutine, ApcContext, IoStatusBlock, Buffer, length,
                              caller_sp)
    if length and thread.process.aspace.watched:
        # ProbeForWrite writes to every page of the buffer: MEM_WRITE_WATCH sees the whole buffer written, even
        # by a read that reads nothing (kernel32/virtual.c test_write_watch, on Windows); a pipe's request path
        # does the same
        thread.process.aspace.note_write(Buffer, length)
    ev = _event(thread, Event)
    if isinstance(obj, ConsoleFile):
        from winhatch.kernel import condrv
        try:
            data = condrv.file_read(machine, thread, obj, length, caller_sp) if length else b""
        except NtStatusError as e:
            return e.status
        if data:
            _wr(thread, Buffer, data)
        elif length and obj.stream is not None and not obj.is_console:
            st = STATUS_PIPE_BROKEN if obj.file_type == FILE_TYPE_PIPE else STATUS_END_OF_FILE
            return _done(machine, thread, obj, IoStatusBlock, st, 0, ev, ApcRoutine, ApcContext)
        return _done(machine, thread, obj, IoStatusBlock, 0, len(data), ev, ApcRoutine, ApcContext)
    vf = _vfile(obj)
    if vf is not None:
        off = _offset(thread, vf, ByteOffset, write=False)
        if vf.vfs._byte_locks and _lock_conflict(vf, vf.tell() if off is None else off, length, write=False):
            return _done(machine, thread, obj, IoStatusBlock, STATUS_FILE_LOCK_CONFLICT, 0, ev, ApcRoutine, ApcContext)
        pos = vf.tell()
        try:
            data = vf.read(length, off) if length else b""
        except NtStatusError as e:
            return _done(machine, thread, obj, IoStatusBlock, e.status, 0, ev, ApcRoutine, ApcContext)
        finally:
            if not _synchronous(vf):
                vf.position = pos          # an asynchronous file has no file pointer to move
    else:
        if not hasattr(obj, "read"):
            return STATUS_INVALID_HANDLE
        try:
            data = obj.read(length) if length else b""
        except NtStatusError as e:
            return _done(machine, thread, obj, IoStatusBlock, e.status, 0, ev, ApcRoutine, ApcContext)
    if not data and length:
        pipe = isinstance(obj, ConsoleFile) and obj.file_type == FILE_TYPE_PIPE
        return _done(machine, thread, obj, IoStatusBlock, STATUS_PIPE_BROKEN if pipe else STATUS_END_OF_FILE, 0, ev,
                     ApcRoutine, ApcContext)
    if data:
        _wr(thread, Buffer, data)
    return _done(machine, thread, obj, IoStatusBlock, 0, len(data), ev, ApcRoutine, ApcContext)


@kernel_service("NtWriteFile")
def NtWriteFile(machine, thread, FileHandle, Event, ApcRoutine, ApcContext, IoStatusBlock, Buffer, Length,
                ByteOffset, Key, *, caller_sp=0):
    from winhatch.kernel.condrv import ConsoleFile
    obj = _file_obj(thread, FileHandle)
    if getattr(obj, "npfs_root", False):
        return STATUS_INVALID_PARAMETER      # nor to write
    if not hasattr(obj, "write"):
        return STATUS_INVALID_HANDLE
    if ApcRoutine and getattr(obj, "completion_port", None) is not None:
        return STATUS_INVALID_PARAMETER      # an APC routine on a handle with a completion port
    length = Length & 0xFFFFFFFF
    if length and not Buffer:
        return STATUS_INVALID_USER_BUFFER
    data = _rd(thread, Buffer, length) if length else b""
    if hasattr(obj, "submit_write"):         # a named pipe end: writes beyond the quota pend or block
        from winhatch.kernel.io import iocp_services
        return iocp_services.write_request(machine, thread, obj, data, None, IoStatusBlock, _event(thread, Event),
                                           ApcRoutine, ApcContext, key=("NtWriteFile", caller_sp))
    ev = _event(thread, Event)
    vf = _vfile(obj)
    off = _offset(thread, vf, ByteOffset, write=True) if vf is not None else None
    pos = vf.tell() if vf is not None else 0
    try:
        if vf is not None:
            if vf.vfs._byte_locks and data:
                at = vf.size if off == -1 or not vf.access & V.FILE_WRITE_DATA else vf.tell() if off is None else off
                if _lock_conflict(vf, at, len(data), write=True):
                    return _done(machine, thread, obj, IoStatusBlock, STATUS_FILE_LOCK_CONFLICT, 0, ev, ApcRoutine,
                                 ApcContext)
            count = vf.write(data, off) if data else 0
        elif isinstance(obj, ConsoleFile):
            from winhatch.kernel import condrv
            count = condrv.file_write(machine, thread, obj, data) if data else 0
        else:
            # a zero-length write is a message of its own on a mailslot
            count = obj.write(data) if data or getattr(obj, "message_writes", False) else 0
    except NtStatusError as e:
        return _done(machine, thread, obj, IoStatusBlock, e.status, 0, ev, ApcRoutine, ApcContext)
    finally:
        if vf is not None and not _synchronous(vf):
            vf.position = pos
    count = len(data) if count is None else count
    return _done(machine, thread, obj, IoStatusBlock, 0, count, ev, ApcRoutine, ApcContext)


@kernel_service("NtFlushBuffersFile")
def NtFlushBuffersFile(machine, thread, FileHandle, IoStatusBlock):
    """Writes reach the host file at once, so nothing is left to flush; a handle without write access is
    STATUS_ACCESS_DENIED, as NTFS answers."""
    obj = _file_obj(thread, FileHandle)
    from winhatch.kernel.condrv import ConsoleFile
    if isinstance(obj, ConsoleFile) and (obj.stream is None or obj.is_console):
        from winhatch.kernel import condrv      # a console input handle: its input buffer is emptied
        try:
            condrv.device_control(machine, thread, obj, condrv.IOCTL_FLUSH_INPUT, b"", 0)
        except NtStatusError as e:
            return e.status
        return complete(machine, thread, IoStatusBlock, 0, 0)
    if getattr(obj, "detached", False):
        return 0xC00000B0                  # STATUS_PIPE_DISCONNECTED: a client its pipe server disconnected
    vf = _vfile(obj)
    if vf is not None and vf.device is None and not _granted(thread, FileHandle) & (V.FILE_WRITE_DATA
                                                                                    | V.FILE_APPEND_DATA):
        return STATUS_ACCESS_DENIED
    return complete(machine, thread, IoStatusBlock, 0, 0)


@kernel_service("NtQueryEaFile")
def NtQueryEaFile(machine, thread, FileHandle, IoStatusBlock, Buffer, Length, ReturnSingleEntry, EaList,
                  EaListLength, EaIndex, RestartScan):
    """The extended attributes of a disk file. winhatch's volume stores none (no NtSetEaFile): the buffer
    is cleared and the answer is STATUS_NO_EAS_ON_FILE, the I/O status block untouched (Wine's
    ntdll/tests/file.c test_query_ea, as on Windows). Another kind of file (a pipe, a console) stops loudly."""
    obj = _file_obj(thread, FileHandle)
    if _vfile(obj) is None or _vfile(obj).device is not None:
        unsupported(thread, "NtQueryEaFile", "extended attributes of a file that is not on a disk volume")
    length = Length & 0xFFFFFFFF
    if Buffer and length:
        user_write(thread.process, Buffer, bytes(length))
    return 0xC0000052                       # STATUS_NO_EAS_ON_FILE


# ============================================================================================ locks
def _locks(vf) -> list:
    """The byte-range locks of a file (shared by every handle to it): [(owner VfsFile, start, length,
    exclusive, key)]."""
    return vf.vfs._byte_locks.setdefault(str(vf.host_path), [])


def _lock_conflict(vf, start: int, length: int, *, write: bool) -> bool:
    """Does a read or write of this range meet a byte-range lock? Another handle's exclusive lock stops both;
    a shared lock stops every write, the owner's too."""
    if vf.host_path is None or not length:
        return False
    for owner, s, n, ex, _k in vf.vfs._byte_locks.get(str(vf.host_path), ()):
        if n and s < start + length and start < s + n:
            if (ex and owner is not vf) or (write and not ex):
                return True
    return False


@kernel_service("NtLockFile")
def NtLockFile(machine, thread, FileHandle, Event, ApcRoutine, ApcContext, IoStatusBlock, ByteOffset, Length,
               Key, FailImmediately, ExclusiveLock):
    """A byte-range lock: a range overlapping another handle's exclusive lock, or any lock when exclusive, is
    STATUS_LOCK_NOT_GRANTED when FailImmediately, else the wait (not modelled: stops loudly)."""
    _no_apc(thread, "NtLockFile", ApcRoutine)
    obj = _file_obj(thread, FileHandle)
    vf = _vfile(obj)
    if vf is None or vf.is_dir or vf.device is not None:
        return STATUS_INVALID_DEVICE_REQUEST
    if not _granted(thread, FileHandle) & (V.FILE_READ_DATA | V.FILE_WRITE_DATA):
        return STATUS_ACCESS_DENIED
    ev = _event(thread, Event)
    (start,) = struct.unpack("<Q", _rd(thread, ByteOffset, 8))
    (length,) = struct.unpack("<Q", _rd(thread, Length, 8))
    exclusive = bool(ExclusiveLock & 0xFF)
    for owner, s, n, ex, _k in _locks(vf):
        if n and length and s < start + length and start < s + n and (ex or exclusive):
            if owner is vf and not exclusive:
                continue   # a shared lock inside the handle's own exclusive lock is granted
            if not FailImmediately & 0xFF:
                unsupported(thread, "NtLockFile", "waiting for a byte-range lock held by another handle")
            return complete(machine, thread, IoStatusBlock, STATUS_LOCK_NOT_GRANTED, 0, ev)
    _locks(vf).append((vf, start, length, exclusive, Key & 0xFFFFFFFF if Key else 0))
    return complete(machine, thread, IoStatusBlock, 0, 0, ev)


@kernel_service("NtUnlockFile")
def NtUnlockFile(machine, thread, FileHandle, IoStatusBlock, ByteOffset, Length, Key):
    """Remove the handle's lock of exactly this range (STATUS_RANGE_NOT_LOCKED otherwise)."""
    obj = _file_obj(thread, FileHandle)
    vf = _vfile(obj)
    if vf is None or vf.is_dir or vf.device is not None:
        return STATUS_INVALID_DEVICE_REQUEST
    (start,) = struct.unpack("<Q", _rd(thread, ByteOffset, 8))
    (length,) = struct.unpack("<Q", _rd(thread, Length, 8))
    locks = _locks(vf)
    for i, (owner, s, n, _ex, _k) in enumerate(locks):
        if owner is vf and s == start and n == length:
            del locks[i]
            return complete(machine, thread, IoStatusBlock, 0, 0)
    return STATUS_RANGE_NOT_LOCKED


# ============================================================================================ information
FileDirectoryInformation = 1
FileFullDirectoryInformation = 2
FileBothDirectoryInformation = 3
FileBasicInformation = 4
FileStandardInformation = 5
FileInternalInformation = 6
FileEaInformation = 7
FileAccessInformation = 8
FileNameInformation = 9
FileRenameInformation = 10
FileLinkInformation = 11
FileNamesInformation = 12
FileDispositionInformation = 13
FilePositionInformation = 14
FileModeInformation = 16
FileAlignmentInformation = 17
FileAllInformation = 18
FileAllocationInformation = 19
FileEndOfFileInformation = 20
FileStreamInformation = 22
FileValidDataLengthInformation = 39
FileIoPriorityHintInformation = 43
FileNetworkOpenInformation = 34
FileAttributeTagInformation = 35
FileIdBothDirectoryInformation = 37
FileIdFullDirectoryInformation = 38
FileNormalizedNameInformation = 48
FileIdInformation = 59
FileDispositionInformationEx = 64
FileRenameInformationEx = 65
FileStatInformation = 68
FileMaximumInformation = 76

#: the create options FileModeInformation reports (FILE_WRITE_THROUGH, FILE_SEQUENTIAL_ONLY,
#: FILE_NO_INTERMEDIATE_BUFFERING, FILE_SYNCHRONOUS_IO_ALERT/NONALERT, FILE_DELETE_ON_CLOSE)
# FileModeInformation's bits of the open options (FILE_DELETE_ON_CLOSE is not reported: Wine's
# ntdll/tests/file.c test_file_mode, as on Windows)
_MODE_BITS = 0x2 | 0x4 | 0x8 | 0x10 | 0x20

#: class → (minimum length, access the handle needs)  (IopQueryOperationLength / IopQueryOperationAccess)
_QUERY = {
    FileBasicInformation: (40, V.FILE_READ_ATTRIBUTES),
    FileStandardInformation: (24, 0),
    FileInternalInformation: (8, 0),
    FileEaInformation: (4, 0),
    FileAccessInformation: (4, 0),
    FileNameInformation: (8, 0),
    FileNormalizedNameInformation: (8, 0),
    FilePositionInformation: (8, 0),
    FileModeInformation: (4, 0),
    FileAlignmentInformation: (4, 0),
    FileAllInformation: (104, V.FILE_READ_ATTRIBUTES),
    FileNetworkOpenInformation: (56, V.FILE_READ_ATTRIBUTES),
    FileAttributeTagInformation: (8, V.FILE_READ_ATTRIBUTES),
    FileIdInformation: (24, 0),
    FileStatInformation: (72, V.FILE_READ_ATTRIBUTES),
    FileStreamInformation: (24, 0),
}


def handle_file_name(obj) -> str | None:
    """The name FileNameInformation gives: the path on its volume or device (no drive letter:
    \\app\\x.txt; a pipe's name under \\Device\\NamedPipe). None: not supported for this handle."""
    from winhatch.kernel.condrv import ConsoleFile
    from winhatch.kernel.io.pipe import PipeEnd
    vf = _vfile(obj)
    if vf is not None:
        path = vf.path
        return path[2:] if len(path) >= 2 and path[1] == ":" else None
    from winhatch.kernel.io.npfs import NamedPipeEnd, NpfsRoot
    if isinstance(obj, (PipeEnd, NamedPipeEnd)):
        return obj.path[len("\\Device\\NamedPipe"):]
    if isinstance(obj, NpfsRoot):
        return "\\"                      # the named-pipe file system's root directory
    from winhatch.kernel.io.msfs import MailslotEnd
    if isinstance(obj, MailslotEnd):
        return obj.path[len("\\Device\\Mailslot"):]      # server and client alike (Windows 8 and later)
    if isinstance(obj, ConsoleFile) and obj.file_type == 3:
        # a std handle the host redirected to a pipe: an anonymous pipe the creator made
        return "\\Win32Pipes.00000000.%08x" % ("stdin", "stdout", "stderr").index(obj.stream)
    return None


def file_object_name(machine, obj) -> str | None:
    """The name ObjectNameInformation gives for a file object: its device's name then the path on it
    (\\Device\\HarddiskVolume3\\app\\x.txt, \\Device\\NamedPipe\\p, \\Device\\Null). None: not modelled."""
    from winhatch.kernel.io.npfs import NamedPipeEnd
    from winhatch.kernel.io.pipe import PipeEnd
    vf = _vfile(obj)
    if vf is not None:
        if vf.device == "null":
            return "\\Device\\Null"
        if vf.device is not None:
            return None
        path = vf.path
        vols = machine.vfs.volume_devices
        if len(path) >= 2 and path[1] == ":" and path[0].upper() in vols:
            rest = path[2:] or "\\"
            return f"\\Device\\{vols[path[0].upper()]}{rest}"
        return None
    if isinstance(obj, (PipeEnd, NamedPipeEnd)):
        return obj.path
    from winhatch.kernel.io.npfs import NpfsRoot
    if isinstance(obj, NpfsRoot):
        return obj.path
    from winhatch.kernel.io.msfs import MailslotEnd, MsfsRoot
    if isinstance(obj, (mountmgr.MountManagerFile, MailslotEnd, MsfsRoot)):
        return obj.path                       # the mailslot file system itself: \Device\Mailslot (ntdll/om.c)
    return None


def _basic(fi) -> bytes:
    return struct.pack("<qqqqI4x", fi.creation_time, fi.last_access_time, fi.last_write_time, fi.change_time,
                       fi.attributes)


def _alloc(fi) -> int:
    return 0 if fi.is_dir else (fi.allocation_size or (fi.size + 4095) & ~4095)


def _links(vf) -> int:
    """NumberOfLinks: 1, or for a file the guest gave more names (CreateHardLink) the host inode's count."""
    if not vf.vfs.guest_links or vf.host_path is None:
        return 1
    try:
        st = os.stat(vf.host_path)
    except OSError:
        return 1
    return st.st_nlink if (st.st_dev, st.st_ino) in vf.vfs.guest_links else 1


def _standard(vf, fi) -> bytes:
    return struct.pack("<qqIBBxx", _alloc(fi), 0 if fi.is_dir else fi.size, _links(vf),
                       int(vf.vfs.delete_pending(vf)), int(fi.is_dir))


@kernel_service("NtQueryInformationFile")
def NtQueryInformationFile(machine, thread, FileHandle, IoStatusBlock, FileInformation, Length,
                           FileInformationClass):
    cls = FileInformationClass & 0xFFFFFFFF
    length = Length & 0xFFFFFFFF
    if not cls or cls >= FileMaximumInformation:
        return STATUS_INVALID_INFO_CLASS
    from winhatch.kernel.io import iocp_services     # the named-pipe and completion classes first
    st = iocp_services.query_information(machine, thread, FileHandle, IoStatusBlock, FileInformation, Length, cls)
    if st is not None:
        return st
    if cls == 26:       # FileMailslotQueryInformation
        from winhatch.kernel.io import msfs
        obj = _file_obj(thread, FileHandle)
        if not isinstance(obj, msfs.MailslotEnd):
            return STATUS_INVALID_PARAMETER
        if length < 24:
            return STATUS_INFO_LENGTH_MISMATCH
        _wr(thread, FileInformation, msfs.query_info(obj))
        return complete(machine, thread, IoStatusBlock, 0, 24)
    if cls not in _QUERY:
        if cls in (FileDirectoryInformation, FileFullDirectoryInformation, FileBothDirectoryInformation,
                   FileNamesInformation, FileIdBothDirectoryInformation, FileIdFullDirectoryInformation,
                   FileRenameInformation, FileLinkInformation, FileDispositionInformation,
                   FileAllocationInformation, FileEndOfFileInformation, FileDispositionInformationEx,
                   FileRenameInformationEx):
            return STATUS_INVALID_INFO_CLASS   # directory classes and set-only classes
        unsupported(thread, "NtQueryInformationFile", f"information class {cls}")
    minimum, access = _QUERY[cls]
    if length < minimum:
        return STATUS_INFO_LENGTH_MISMATCH
    obj = _file_obj(thread, FileHandle, access)
    vf = _vfile(obj)
    granted = _granted(thread, FileHandle)
    if cls in (FileNameInformation, FileNormalizedNameInformation) and getattr(obj, "detached", False):
        return 0xC00000B0                  # STATUS_PIPE_DISCONNECTED
    if cls in (FileNameInformation, FileNormalizedNameInformation):
        from winhatch.kernel.io.msfs import MsfsRoot
        if isinstance(obj, MsfsRoot):
            return STATUS_INVALID_PARAMETER
        name = handle_file_name(obj)
        if name is None:
            unsupported(thread, "NtQueryInformationFile", f"FileNameInformation of a {type(obj).__name__}")
        return _put_name(machine, thread, IoStatusBlock, FileInformation, length, b"", name)
    if cls == FilePositionInformation:
        pos = vf.tell() if vf is not None else 0
        _wr(thread, FileInformation, struct.pack("<q", pos))
        return complete(machine, thread, IoStatusBlock, 0, 8)
    if cls == FileStandardInformation and _is_console_file(obj):
        return STATUS_INVALID_DEVICE_REQUEST   # ConDrv answers no file-system information
    if cls == FileModeInformation:
        # a file's own open options; pipes, consoles and the std handles winhatch creates are synchronous
        if vf is not None:
            mode = vf.options & _MODE_BITS
        else:       # a device's file object: the options it was opened with (the std handles: synchronous)
            mode = getattr(obj, "open_options", V.FILE_SYNCHRONOUS_IO_NONALERT) & _MODE_BITS
        _wr(thread, FileInformation, struct.pack("<I", mode))
        return complete(machine, thread, IoStatusBlock, 0, 4)
    if cls == FileAccessInformation:
        _wr(thread, FileInformation, struct.pack("<I", granted))
        return complete(machine, thread, IoStatusBlock, 0, 4)
    if cls == FileAlignmentInformation:
        _wr(thread, FileInformation, struct.pack("<I", 0))      # FILE_BYTE_ALIGNMENT
        return complete(machine, thread, IoStatusBlock, 0, 4)
    if cls == FileEaInformation:
        _wr(thread, FileInformation, struct.pack("<I", 0))
        return complete(machine, thread, IoStatusBlock, 0, 4)
    if vf is None or vf.device is not None:
        if cls == FileStandardInformation:
            # a pipe or a console: no size, one link, not a directory
            _wr(thread, FileInformation, struct.pack("<QQIBBxx", 0, 0, 1, 0, 0))
            return complete(machine, thread, IoStatusBlock, 0, 24)
        return STATUS_INVALID_PARAMETER
    fi = vf.info
    if cls == FileStreamInformation:
        # the streams of the file: its unnamed data stream (winhatch's volumes keep no alternate data
        # streams); a directory has none
        if fi.is_dir:
            return complete(machine, thread, IoStatusBlock, 0, 0)
        name = "::$DATA".encode("utf-16-le")
        entry = struct.pack("<IIqq", 0, len(name), fi.size, _alloc(fi)) + name
        if length < len(entry):
            _wr(thread, FileInformation, entry[:24])
            return complete(machine, thread, IoStatusBlock, STATUS_BUFFER_OVERFLOW, 24)
        _wr(thread, FileInformation, entry)
        return complete(machine, thread, IoStatusBlock, 0, len(entry))
    idx = file_index(vf)
    if cls == FileBasicInformation:
        data = _basic(fi)
    elif cls == FileStandardInformation:
        data = _standard(vf, fi)
    elif cls == FileInternalInformation:
        data = struct.pack("<q", idx)
    elif cls == FileNetworkOpenInformation:
        data = struct.pack("<qqqqqqI4x", fi.creation_time, fi.last_access_time, fi.last_write_time,
                           fi.change_time, _alloc(fi), 0 if fi.is_dir else fi.size, fi.attributes)
    elif cls == FileAttributeTagInformation:
        data = struct.pack("<II", fi.attributes, fi.reparse_tag)
    elif cls == FileIdInformation:
        data = struct.pack("<Q", VOLUME_SERIAL) + idx.to_bytes(16, "little")
    elif cls == FileStatInformation:
        data = struct.pack("<qqqqqqqIIII", idx, fi.creation_time, fi.last_access_time, fi.last_write_time,
                           fi.change_time, _alloc(fi), 0 if fi.is_dir else fi.size, fi.attributes, fi.reparse_tag,
                           1, granted)
    else:   # FileAllInformation
        head = (_basic(fi) + _standard(vf, fi) + struct.pack("<qIIqII", idx, 0, granted, vf.tell(),
                                                             vf.options & _MODE_BITS, 0))
        return _put_name(machine, thread, IoStatusBlock, FileInformation, length, head, handle_file_name(obj))
    _wr(thread, FileInformation, data)
    return complete(machine, thread, IoStatusBlock, 0, len(data))


def _put_name(machine, thread, iosb, buf, length, head: bytes, name: str) -> int:
    """A structure ending in FileNameLength + FileName: as much of the name as fits, STATUS_BUFFER_OVERFLOW
    (with FileNameLength the full length) when it does not."""
    data = name.encode("utf-16-le")
    room = (length - len(head) - 4) & ~1
    part = data[:max(room, 0)]
    _wr(thread, buf, head + struct.pack("<I", len(data)) + part)
    if len(part) < len(data):
        return complete(machine, thread, iosb, STATUS_BUFFER_OVERFLOW, length)
    return complete(machine, thread, iosb, 0, len(head) + 4 + len(data))


# ---------------------------------------------------------------------------------------------- set
FILE_DISPOSITION_DELETE = 0x1
FILE_DISPOSITION_POSIX_SEMANTICS = 0x2
FILE_DISPOSITION_FORCE_IMAGE_SECTION_CHECK = 0x4
FILE_DISPOSITION_ON_CLOSE = 0x8
FILE_DISPOSITION_IGNORE_READONLY_ATTRIBUTE = 0x10
FILE_RENAME_REPLACE_IF_EXISTS = 0x1
FILE_RENAME_POSIX_SEMANTICS = 0x2
FILE_RENAME_IGNORE_READONLY_ATTRIBUTE = 0x40

#: class → (minimum length, access the handle needs)  (IopSetOperationLength / IopSetOperationAccess)
_SET = {
    FileBasicInformation: (40, V.FILE_WRITE_ATTRIBUTES),
    FileRenameInformation: (None, V.DELETE),
    FileRenameInformationEx: (None, V.DELETE),
    FileLinkInformation: (None, 0),
    FileDispositionInformation: (1, V.DELETE),
    FileDispositionInformationEx: (4, V.DELETE),
    FilePositionInformation: (8, 0),
    FileModeInformation: (4, 0),
    FileAllocationInformation: (8, V.FILE_WRITE_DATA),
    FileEndOfFileInformation: (8, V.FILE_WRITE_DATA),
    FileValidDataLengthInformation: (8, V.FILE_WRITE_DATA),
    FileIoPriorityHintInformation: (4, 0),
}


def _rename_min(thread) -> int:
    return 24 if _psize(thread) == 8 else 16     # sizeof(FILE_RENAME_INFORMATION)


@kernel_service("NtSetInformationFile")
def NtSetInformationFile(machine, thread, FileHandle, IoStatusBlock, FileInformation, Length,
                         FileInformationClass):
    cls = FileInformationClass & 0xFFFFFFFF
    length = Length & 0xFFFFFFFF
    if not cls or cls >= FileMaximumInformation:
        return STATUS_INVALID_INFO_CLASS
    from winhatch.kernel.io import iocp_services     # the named-pipe and completion classes first
    st = iocp_services.set_information(machine, thread, FileHandle, IoStatusBlock, FileInformation, Length, cls)
    if st is not None:
        return st
    if cls == 27:       # FileMailslotSetInformation: a pointer to the new ReadTimeout
        from winhatch.kernel.io import msfs
        obj = _file_obj(thread, FileHandle)
        if not isinstance(obj, msfs.MailslotEnd) or not obj.is_server:
            return STATUS_INVALID_PARAMETER
        if length < _psize(thread):
            return STATUS_INFO_LENGTH_MISMATCH
        p = _rptr(thread, FileInformation)
        timeout = None
        if p:
            (t,) = struct.unpack("<q", _rd(thread, p, 8))
            timeout = None if t == msfs.WAIT_FOREVER else (-t if t < 0 else 0)
        obj.slot.timeout_ticks = timeout
        return complete(machine, thread, IoStatusBlock, 0, 0)
    if cls not in _SET:
        if cls in _QUERY or cls in (FileDirectoryInformation, FileFullDirectoryInformation,
                                    FileBothDirectoryInformation, FileNamesInformation,
                                    FileIdBothDirectoryInformation, FileIdFullDirectoryInformation):
            return STATUS_INVALID_INFO_CLASS   # query-only classes
        unsupported(thread, "NtSetInformationFile", f"information class {cls}")
    minimum, access = _SET[cls]
    if minimum is None:
        minimum = _rename_min(thread)
    if length < minimum:
        return STATUS_INFO_LENGTH_MISMATCH
    obj = _file_obj(thread, FileHandle, access)
    vf = _vfile(obj)
    if vf is None or vf.device is not None:
        if cls in (FilePositionInformation, FileModeInformation):
            return complete(machine, thread, IoStatusBlock, 0, 0)
        return STATUS_INVALID_PARAMETER
    raw = _rd(thread, FileInformation, minimum)
    if cls == FileBasicInformation:
        creation, access_t, write, _change, attrs = struct.unpack("<qqqqI", raw[:36])
        # 0 leaves a time unchanged; -1 stops updating it for this handle (here: leaves it as it is)
        vf.set_times(*(t if t > 0 else None for t in (creation, access_t, write)))
        if attrs:
            if attrs & V.FILE_ATTRIBUTE_DIRECTORY and not vf.is_dir:
                return STATUS_INVALID_PARAMETER
            machine.vfs.set_attributes(vf.nt_path, attrs & ~V.FILE_ATTRIBUTE_DIRECTORY)
    elif cls == FileDispositionInformation:
        machine.vfs.set_disposition(vf, bool(raw[0]), posix=False, ignore_readonly=False)
    elif cls == FileDispositionInformationEx:
        (flags,) = struct.unpack("<I", raw)
        if flags & ~0x1F:
            return STATUS_INVALID_PARAMETER
        machine.vfs.set_disposition(vf, bool(flags & FILE_DISPOSITION_DELETE),
                                    posix=bool(flags & FILE_DISPOSITION_POSIX_SEMANTICS),
                                    ignore_readonly=bool(flags & FILE_DISPOSITION_IGNORE_READONLY_ATTRIBUTE))
    elif cls == FileIoPriorityHintInformation:
        (hint,) = struct.unpack("<I", raw)
        if hint >= 5:                       # IoPriorityVeryLow .. IoPriorityCritical
            return STATUS_INVALID_PARAMETER
        obj.io_priority_hint = hint         # the file object's hint (winhatch schedules no disk I/O)
    elif cls == FileValidDataLengthInformation:
        # SetFileValidData: the caller needs SeManageVolumePrivilege enabled (a standard user's token does not
        # hold it). winhatch's volumes keep no valid data length apart from the end of file, so a caller that
        # holds the privilege stops here
        if "SeManageVolumePrivilege" not in thread.process.token.get("privileges", set()):
            return STATUS_PRIVILEGE_NOT_HELD
        unsupported(thread, "NtSetInformationFile", "FileValidDataLengthInformation (a valid data length)")
    elif cls in (FileRenameInformation, FileRenameInformationEx, FileLinkInformation):
        n = _psize(thread)
        if n == 8:
            flags, root, name_len = struct.unpack_from("<IxxxxQI", raw, 0)
            name_off = 20
        else:
            flags, root, name_len = struct.unpack_from("<III", raw, 0)
            name_off = 12
        if cls != FileRenameInformationEx:
            flags &= 0xFF          # ReplaceIfExists is a BOOLEAN
            flags = FILE_RENAME_REPLACE_IF_EXISTS if flags else 0
        if name_len & 1 or name_off + name_len > length:
            return STATUS_INVALID_PARAMETER
        name = _rd(thread, FileInformation + name_off, name_len).decode("utf-16-le", "surrogatepass") if name_len else ""
        if cls == FileLinkInformation:
            target = _rename_target(machine, thread, vf, root, name)
            machine.vfs.link_open(vf, target, replace=bool(flags & FILE_RENAME_REPLACE_IF_EXISTS))
            return complete(machine, thread, IoStatusBlock, 0, 0)
        if flags & ~(FILE_RENAME_REPLACE_IF_EXISTS | FILE_RENAME_POSIX_SEMANTICS
                     | FILE_RENAME_IGNORE_READONLY_ATTRIBUTE):
            unsupported(thread, "NtSetInformationFile", f"FileRenameInformationEx flags {flags:#x}")
        target = _rename_target(machine, thread, vf, root, name)
        machine.vfs.rename_open(vf, target, replace=bool(flags & FILE_RENAME_REPLACE_IF_EXISTS),
                                posix=bool(flags & FILE_RENAME_POSIX_SEMANTICS))
    elif cls == FilePositionInformation:
        (pos,) = struct.unpack("<q", raw)
        if pos < 0:
            return STATUS_INVALID_PARAMETER
        vf.seek(pos)
    elif cls == FileModeInformation:
        (mode,) = struct.unpack("<I", raw)
        if mode & ~(0x2 | 0x4 | 0x10 | 0x20):
            return STATUS_INVALID_PARAMETER
        sync = V.FILE_SYNCHRONOUS_IO_ALERT | V.FILE_SYNCHRONOUS_IO_NONALERT
        if (mode & sync) == sync or bool(mode & sync) != bool(vf.options & sync):
            return STATUS_INVALID_PARAMETER
        vf.options = (vf.options & ~(0x2 | 0x4 | sync)) | mode
    elif cls == FileAllocationInformation:
        (alloc,) = struct.unpack("<q", raw)
        if alloc < 0:
            return STATUS_INVALID_PARAMETER
        if alloc < vf.size:    # an allocation smaller than the file cuts it there
            vf.set_size(alloc)
    else:   # FileEndOfFileInformation
        (eof,) = struct.unpack("<q", raw)
        if eof < 0:
            return STATUS_INVALID_PARAMETER
        vf.set_size(eof)
    return complete(machine, thread, IoStatusBlock, 0, 0)


def _rename_target(machine, thread, vf, root: int, name: str) -> str:
    """FILE_RENAME_INFORMATION's target as a name for the file system: relative to RootDirectory, a full
    NT name, or a bare name (a rename inside the file's own directory)."""
    if root:
        from winhatch.kernel.fileobj import FileObject
        obj = thread.process.handles.lookup(root, None, 0, current_process=thread.process, current_thread=thread)
        if not isinstance(obj, FileObject) or not obj.file.is_dir:
            raise NtStatusError(STATUS_INVALID_HANDLE, "RootDirectory is not a directory")
        if not name or name.startswith("\\"):
            raise NtStatusError(STATUS_OBJECT_NAME_INVALID, "a rename target relative to a directory")
        return obj.file.nt_path.rstrip("\\") + "\\" + name
    if not name:
        raise NtStatusError(STATUS_OBJECT_NAME_INVALID, "empty rename target")
    if name.startswith("\\"):
        return fs_name(machine, thread, name)
    if "\\" in name:
        raise NtStatusError(STATUS_OBJECT_NAME_INVALID, f"a relative rename target with a path: {name!r}")
    parent = vf.nt_path.rstrip("\\").rsplit("\\", 1)[0]
    return parent + "\\" + name


# ============================================================================================ attributes by name
@kernel_service("NtQueryAttributesFile")
def NtQueryAttributesFile(machine, thread, ObjectAttributes, FileInformation):
    name, root = _resolve_oa(machine, thread, ObjectAttributes)
    # a reparse point's own attributes (FILE_ATTRIBUTE_REPARSE_POINT), as GetFileAttributes reports a link
    fi = machine.vfs.stat(name, open_link=True) if root is None else \
        machine.vfs.stat_relative(root, name, open_link=True)
    _wr(thread, FileInformation, _basic(fi))
    return 0


@kernel_service("NtQueryFullAttributesFile")
def NtQueryFullAttributesFile(machine, thread, ObjectAttributes, FileInformation):
    name, root = _resolve_oa(machine, thread, ObjectAttributes)
    fi = machine.vfs.stat(name, open_link=True) if root is None else \
        machine.vfs.stat_relative(root, name, open_link=True)
    _wr(thread, FileInformation, struct.pack("<qqqqqqI4x", fi.creation_time, fi.last_access_time,
                                             fi.last_write_time, fi.change_time, _alloc(fi),
                                             0 if fi.is_dir else fi.size, fi.attributes))
    return 0


@kernel_service("NtDeleteFile")
def NtDeleteFile(machine, thread, ObjectAttributes):
    """Open with DELETE and delete on close (a file, or an empty directory)."""
    name, root = _resolve_oa(machine, thread, ObjectAttributes)
    vf = machine.vfs.open(name, access=V.DELETE | V.FILE_READ_ATTRIBUTES, disposition=V.FILE_OPEN,
                          options=V.FILE_OPEN_REPARSE_POINT, share=V.FILE_SHARE_ALL, root=root)
    try:
        machine.vfs.set_disposition(vf, True, posix=False, ignore_readonly=False)
    except NtStatusError as e:
        # NTFS checks a directory's entries when the delete-on-close open is cleaned up, where the failure
        # is silent: NtDeleteFile of a directory with entries succeeds and leaves it
        if e.status != 0xC0000101:      # STATUS_DIRECTORY_NOT_EMPTY
            raise
    finally:
        vf.close()
    return 0


# ============================================================================================ directories
#: class → (offset of FileName, offset of FileNameLength)  (the same on x86 and x64)
_DIR_LAYOUT = {
    FileDirectoryInformation: 64,
    FileFullDirectoryInformation: 68,
    FileBothDirectoryInformation: 94,
    FileNamesInformation: 12,
    FileIdBothDirectoryInformation: 104,
    FileIdFullDirectoryInformation: 80,
    50: 92,     # FileIdGlobalTxDirectoryInformation
    60: 88,     # FileIdExtdDirectoryInformation
    63: 114,    # FileIdExtdBothDirectoryInformation
}


def _dir_entry(cls: int, fi) -> bytes:
    """One entry without NextEntryOffset's final value (FileIndex 0, as NTFS reports; no EAs; no 8.3 name)."""
    name = fi.name.encode("utf-16-le")
    if cls == FileNamesInformation:
        return struct.pack("<III", 0, 0, len(name)) + name
    alloc = _alloc(fi)
    head = struct.pack("<IIqqqqqqII", 0, 0, fi.creation_time, fi.last_access_time, fi.last_write_time,
                       fi.change_time, 0 if fi.is_dir else fi.size, alloc, fi.attributes, len(name))
    idx = getattr(fi, "file_index", 0)
    # EaSize holds the reparse tag of a reparse point (what FindFirstFile's dwReserved0 reports)
    ea = getattr(fi, "reparse_tag", 0)
    if cls == FileDirectoryInformation:
        return head + name
    if cls == FileFullDirectoryInformation:
        return head + struct.pack("<I", ea) + name
    if cls == FileIdFullDirectoryInformation:
        return head + struct.pack("<I4xq", ea, idx) + name
    if cls == 50:      # FileId, LockingTransactionId (none), TxInfoFlags (not in a transaction)
        return head + struct.pack("<q", idx) + bytes(16) + struct.pack("<I", 0) + name
    if cls in (60, 63):   # EaSize (no EAs), ReparsePointTag, a 128-bit FileId
        extd = head + struct.pack("<II", 0, ea) + idx.to_bytes(16, "little")
        return extd + name if cls == 60 else extd + bytes(2) + bytes(24) + name
    # EaSize, ShortNameLength 0 (no 8.3 names), a pad byte, ShortName[12]
    both = head + struct.pack("<I", ea) + bytes(2) + bytes(24)
    if cls == FileBothDirectoryInformation:
        return both[:94] + name
    return both[:94] + bytes(2) + struct.pack("<q", idx) + name


class _DirQuery:
    """The enumeration state of a directory handle (the FCB's CCB in NTFS): the mask of the first query
    and the position in the listing."""

    __slots__ = ("mask", "entries", "pos")

    def __init__(self, mask: str, entries: list) -> None:
        self.mask = mask
        self.entries = entries
        self.pos = 0


def _query_directory(machine, thread, FileHandle, Event, ApcRoutine, IoStatusBlock, FileInformation, Length,
                     cls, single: bool, mask_p: int, restart: bool, service: str) -> int:
    from winhatch.kernel.io import paths as P
    _no_apc(thread, service, ApcRoutine)
    length = Length & 0xFFFFFFFF
    if cls not in _DIR_LAYOUT:
        if cls in (78, 79, 80, 81):    # the Id64Extd and IdAllExtd classes (Windows 11)
            unsupported(thread, service, f"directory information class {cls}")
        # FileObjectIdInformation, FileQuotaInformation, FileReparsePointInformation: classes of NTFS's $Extend
        # directories, checked for their structure's size first
        if cls in (29, 32, 33) and length < {29: 72, 32: 56, 33: 16}[cls]:
            return STATUS_INFO_LENGTH_MISMATCH
        return STATUS_INVALID_INFO_CLASS
    if length < (_DIR_LAYOUT[cls] + 2 + 7) & ~7:     # the fixed part and one character, 8-aligned
        return STATUS_INFO_LENGTH_MISMATCH
    obj = _file_obj(thread, FileHandle, V.FILE_LIST_DIRECTORY)
    vf = _vfile(obj)
    if vf is None or not vf.is_dir:
        return STATUS_INVALID_PARAMETER
    ev = _event(thread, Event)
    mask = read_unicode_string(thread, mask_p) if mask_p else None
    state: _DirQuery | None = getattr(obj, "dir_query", None)
    first = state is None
    if first:
        # the mask of the handle's first query stays for good (a new one on a restart is ignored, as NTFS does)
        state = obj.dir_query = _DirQuery(mask or "*", [])
        restart = True
    if restart:
        state.entries = machine.vfs.listdir(vf.nt_path, "*")
        state.pos = 0
    pat = state.mask
    buf = bytearray()
    last = None
    while state.pos < len(state.entries):
        fi = state.entries[state.pos]
        if pat not in ("*",) and not P.name_in_expression(pat, fi.name):
            state.pos += 1
            continue
        rec = _dir_entry(cls, fi)
        start = (len(buf) + 7) & ~7
        if start + len(rec) > length:
            if last is None:
                # not even the next entry fits: STATUS_BUFFER_OVERFLOW with nothing returned and the entry
                # kept for the next call, as Windows 10 since 1709 does (older NTFS returned part of it)
                return complete(machine, thread, IoStatusBlock, STATUS_BUFFER_OVERFLOW, 0, ev)
            break
        buf += bytes(start - len(buf))
        if last is not None:
            struct.pack_into("<I", buf, last, start - last)
        last = start
        buf += rec
        state.pos += 1
        if single:
            break
    if last is None:
        if first:
            return STATUS_NO_SUCH_FILE      # nothing matches the mask at all: the IO_STATUS_BLOCK is not written
        return complete(machine, thread, IoStatusBlock, STATUS_NO_MORE_FILES, 0, ev)
    _wr(thread, FileInformation, bytes(buf))
    return complete(machine, thread, IoStatusBlock, 0, len(buf), ev)


@kernel_service("NtQueryDirectoryFile")
def NtQueryDirectoryFile(machine, thread, FileHandle, Event, ApcRoutine, ApcContext, IoStatusBlock,
                         FileInformation, Length, FileInformationClass, ReturnSingleEntry, FileName, RestartScan):
    return _query_directory(machine, thread, FileHandle, Event, ApcRoutine, IoStatusBlock, FileInformation,
                            Length, FileInformationClass & 0xFFFFFFFF, bool(ReturnSingleEntry & 0xFF), FileName,
                            bool(RestartScan & 0xFF), "NtQueryDirectoryFile")


@kernel_service("NtNotifyChangeDirectoryFile")
def NtNotifyChangeDirectoryFile(machine, thread, FileHandle, Event, ApcRoutine, ApcContext, IoStatusBlock,
                                Buffer, Length, CompletionFilter, WatchTree, *, caller_sp=0):
    """The changes in a directory (winhatch.kernel.io.notify): those recorded since the handle's first request
    at once, else the request waits for the next one (STATUS_PENDING on an asynchronous handle; a synchronous
    handle's thread blocks)."""
    return notify_request(machine, thread, FileHandle, Event, ApcRoutine, ApcContext, IoStatusBlock, Buffer,
                          Length, CompletionFilter, WatchTree, caller_sp)


def notify_request(machine, thread, FileHandle, Event, ApcRoutine, ApcContext, IoStatusBlock, Buffer, Length,
                   CompletionFilter, WatchTree, caller_sp, win32_routine: int = 0) -> int:
    """NtNotifyChangeDirectoryFile's work; `win32_routine`: ReadDirectoryChangesW's completion routine, queued
    as kernelbase's own APC would call it (dwErrorCode, dwNumberOfBytesTransfered, lpOverlapped)."""
    from winhatch.kernel.io import completion as io
    from winhatch.kernel.io import notify
    from winhatch.kernel.ke import wait as kwait
    if not IoStatusBlock or not thread.process.aspace.accessible(IoStatusBlock, 2 * _psize(thread), True):
        return 0xC0000005              # the IO_STATUS_BLOCK is probed first
    filt = CompletionFilter & 0xFFFFFFFF
    if not filt & 0xFFF or filt & ~0xFFF:
        return STATUS_INVALID_PARAMETER    # checked before the handle (Wine's kernel32 change.c tests)
    obj = _file_obj(thread, FileHandle, V.FILE_LIST_DIRECTORY)
    vf = _vfile(obj)
    if vf is None or not vf.is_dir:
        return STATUS_INVALID_PARAMETER
    length = Length & 0xFFFFFFFF
    if length and (not Buffer or not thread.process.aspace.accessible(Buffer, length, True)):
        return 0xC0000005
    key = ("NtNotifyChangeDirectoryFile", caller_sp)
    done = kwait.take_done(thread, key)
    w = notify.watch_of(machine, obj, vf.path, filt, bool(WatchTree & 0xFF), length)
    ev = _event(thread, Event) if done is None else (None if not Event else _event_no_reset(thread, Event))
    if w.changes or w.overflow:
        st, data = w.take(length)
        if data:
            _wr(thread, Buffer, data)
        if win32_routine:
            return io.complete_request(machine, thread, obj, IoStatusBlock, ev, ApcRoutine, ApcContext, st,
                                       len(data), win32_routine=win32_routine)
        return _done(machine, thread, obj, IoStatusBlock, st, len(data), ev, ApcRoutine, ApcContext)
    if _synchronous(vf):
        if done is not None and io.take_sync_cancel(thread):
            return 0xC0000120      # STATUS_CANCELLED
        raise kwait.WouldBlock(kwait.WaitBlock([w], False, None, "NtNotifyChangeDirectoryFile", key))
    io.reset_file(obj)
    irp = io.start_pending(machine, thread, obj, "notify", Buffer, length, IoStatusBlock, ev, ApcRoutine,
                           ApcContext, win32_routine)
    w.irps.append(irp)
    return 0x103                   # STATUS_PENDING


def _event_no_reset(thread, handle: int):
    from winhatch.kernel.ob.access import EVENT_MODIFY_STATE
    return thread.process.handles.lookup(handle, "Event", EVENT_MODIFY_STATE, current_process=thread.process,
                                         current_thread=thread)


# ============================================================================================ volumes
FileFsVolumeInformation = 1
FileFsLabelInformation = 2
FileFsSizeInformation = 3
FileFsDeviceInformation = 4
FileFsAttributeInformation = 5
FileFsControlInformation = 6
FileFsFullSizeInformation = 7
FileFsObjectIdInformation = 8
FileFsSectorSizeInformation = 11
FileFsMaximumInformation = 15
FILE_DEVICE_DISK = 0x7
FILE_DEVICE_NAMED_PIPE = 0x11
FILE_DEVICE_NULL = 0x15
FILE_DEVICE_CONSOLE = 0x50
FILE_DEVICE_IS_MOUNTED = 0x20
_FS_MIN = {FileFsVolumeInformation: 24, FileFsSizeInformation: 24, FileFsDeviceInformation: 8,
           FileFsAttributeInformation: 16, FileFsFullSizeInformation: 32, FileFsSectorSizeInformation: 28}


def volume_space(machine) -> tuple[int, int]:
    """(total bytes, free bytes) of a sandbox volume: the profile's disk size, and its free space less what
    the guests wrote (the sandbox's write quota, vfs.max_total_write, is enforced apart: past it a write fails
    with STATUS_DISK_FULL whatever the free space says)."""
    vfs = machine.vfs
    prof = getattr(machine, "profile", None)
    total, free = (prof.disk_size, prof.disk_free) if prof is not None else (VOLUME_BYTES, VOLUME_BYTES // 2)
    return total, max(0, free - vfs.bytes_written)


@kernel_service("NtQueryVolumeInformationFile")
def NtQueryVolumeInformationFile(machine, thread, FileHandle, IoStatusBlock, FsInformation, Length,
                                 FsInformationClass):
    from winhatch.kernel.condrv import ConsoleFile
    from winhatch.kernel.io.pipe import PipeEnd
    cls = FsInformationClass & 0xFFFFFFFF
    length = Length & 0xFFFFFFFF
    if not cls or cls >= FileFsMaximumInformation:
        return STATUS_INVALID_INFO_CLASS
    if cls not in _FS_MIN:
        if cls in (FileFsLabelInformation,):
            return STATUS_INVALID_INFO_CLASS     # set-only
        unsupported(thread, "NtQueryVolumeInformationFile", f"information class {cls}")
    if length < _FS_MIN[cls]:
        return STATUS_INFO_LENGTH_MISMATCH
    obj = _file_obj(thread, FileHandle)
    vf = _vfile(obj)
    on_volume = vf is not None and vf.device is None
    if cls == FileFsDeviceInformation:
        if on_volume:
            dev = (FILE_DEVICE_DISK, FILE_DEVICE_IS_MOUNTED)
        elif vf is not None and vf.device == "null":
            dev = (FILE_DEVICE_NULL, 0)
        elif isinstance(obj, PipeEnd) or (isinstance(obj, ConsoleFile) and obj.file_type == 3) or \
                hasattr(obj, "try_read") or getattr(obj, "npfs_root", False):   # named pipe ends, the NPFS
            dev = (FILE_DEVICE_NAMED_PIPE, 0)
        elif isinstance(obj, ConsoleFile):
            dev = (FILE_DEVICE_CONSOLE, 0x20000)      # FILE_DEVICE_ALLOW_APPCONTAINER_TRAVERSAL (ConDrv's)
        else:
            dev = (FILE_DEVICE_CONSOLE, 0)
        _wr(thread, FsInformation, struct.pack("<II", *dev))
        return complete(machine, thread, IoStatusBlock, 0, 8)
    if not on_volume:
        return STATUS_INVALID_DEVICE_REQUEST
    cluster = BYTES_PER_SECTOR * SECTORS_PER_CLUSTER
    total, free = volume_space(machine)
    if cls == FileFsVolumeInformation:
        head = struct.pack("<qIIBx", VOLUME_CREATION_TIME, VOLUME_SERIAL, 0, 0)   # no label
        _wr(thread, FsInformation, head)
        return complete(machine, thread, IoStatusBlock, 0, 18)
    if cls == FileFsSizeInformation:
        data = struct.pack("<qqII", total // cluster, free // cluster, SECTORS_PER_CLUSTER, BYTES_PER_SECTOR)
    elif cls == FileFsFullSizeInformation:
        data = struct.pack("<qqqII", total // cluster, free // cluster, free // cluster, SECTORS_PER_CLUSTER,
                           BYTES_PER_SECTOR)
    elif cls == FileFsSectorSizeInformation:
        # SSINFO_FLAGS_ALIGNED_DEVICE | SSINFO_FLAGS_PARTITION_ALIGNED_ON_DEVICE; partition at 1 MiB
        data = struct.pack("<7I", BYTES_PER_SECTOR, BYTES_PER_SECTOR, BYTES_PER_SECTOR, BYTES_PER_SECTOR, 0x3,
                           0, 0)
    else:   # FileFsAttributeInformation
        head = struct.pack("<Ii", VOLUME_FLAGS, 255)
        return _put_name(machine, thread, IoStatusBlock, FsInformation, length, head, "NTFS")
    _wr(thread, FsInformation, data)
    return complete(machine, thread, IoStatusBlock, 0, len(data))


@kernel_service("NtSetVolumeInformationFile")
def NtSetVolumeInformationFile(machine, thread, FileHandle, IoStatusBlock, FsInformation, Length,
                               FsInformationClass):
    """Volume labels, quotas and object ids cannot be changed in the sandbox: stops the guest loudly."""
    unsupported(thread, "NtSetVolumeInformationFile", f"information class {FsInformationClass & 0xFFFFFFFF}")


# ============================================================================================ object directories and links
DIRECTORY_QUERY = 0x1
DIRECTORY_TRAVERSE = 0x2
SYMBOLIC_LINK_QUERY = 0x1


def _open_object(machine, thread, handle_p: int, access: int, oa: int, type_name: str, service: str) -> int:
    """ObOpenObjectByName for an object directory or a symbolic link (the link itself, not its target)."""
    from winhatch.kernel.ob.services import lookup_object_attributes
    _dos_devices(machine)
    if not handle_p:
        return 0xC0000005
    _wptr(thread, handle_p, 0)
    obj, attrs = lookup_object_attributes(machine, thread, oa, open_link=(type_name == "SymbolicLink"))
    if obj.type_name != type_name:
        raise NtStatusError(STATUS_OBJECT_TYPE_MISMATCH, f"{obj.name} is a {obj.type_name}")
    h = thread.process.handles.insert(obj, access & 0xFFFFFFFF, inherit=bool(attrs & OBJ_INHERIT))
    _wptr(thread, handle_p, h)
    return 0


@kernel_service("NtOpenSymbolicLinkObject")
def NtOpenSymbolicLinkObject(machine, thread, LinkHandle, DesiredAccess, ObjectAttributes):
    return _open_object(machine, thread, LinkHandle, DesiredAccess, ObjectAttributes, "SymbolicLink",
                        "NtOpenSymbolicLinkObject")


@kernel_service("NtCreateMailslotFile")
def NtCreateMailslotFile(machine, thread, FileHandle, DesiredAccess, ObjectAttributes, IoStatusBlock, CreateOptions,
                         MailslotQuota, MaximumMessageSize, ReadTimeout):
    """A mailslot's server end (winhatch.kernel.io.msfs): \\??\\MAILSLOT\\name or \\Device\\Mailslot\\name;
    ReadTimeout a relative time (negative 100 ns units; the most negative value: wait forever)."""
    from winhatch.kernel.io import msfs
    from winhatch.kernel.ob.access import object_type
    if not FileHandle or not IoStatusBlock:
        return 0xC0000005
    from winhatch.kernel.ob.services import capture_object_attributes
    _wptr(thread, FileHandle, 0)
    if not ObjectAttributes:
        return STATUS_INVALID_PARAMETER
    root, name, attrs = capture_object_attributes(thread, ObjectAttributes)
    if root:
        d = thread.process.handles.lookup(root, None, 0, current_process=thread.process, current_thread=thread)
        unsupported(thread, "NtCreateMailslotFile", f"a name relative to a {d.type_name} object")
    if not name or not name.startswith("\\"):
        return STATUS_OBJECT_PATH_SYNTAX_BAD
    slot = msfs.mailslot_name(name)
    if slot is None:
        return STATUS_OBJECT_NAME_INVALID
    timeout = None
    if ReadTimeout:
        (t,) = struct.unpack("<q", _rd(thread, ReadTimeout, 8))
        timeout = None if t == msfs.WAIT_FOREVER else (-t if t < 0 else 0)
    access = object_type("File").map_access(DesiredAccess & 0xFFFFFFFF)
    end = msfs.create_server(machine, slot, MaximumMessageSize & 0xFFFFFFFF, MailslotQuota & 0xFFFFFFFF,
                             timeout, access)
    h = thread.process.handles.insert(end, access, inherit=bool(attrs & OBJ_INHERIT))
    _wptr(thread, FileHandle, h)
    return complete(machine, thread, IoStatusBlock, 0, V.FILE_CREATED)


def _find_link(machine, path: str):
    try:
        return machine.namespace.lookup(path, open_link=True)
    except NtStatusError:
        return None


def define_dos_device(machine, name: str, target: str) -> None:
    """What the Base server (csrss, with its own privileges) does for DefineDosDevice: a permanent link
    \\GLOBAL??\\name → target; a name already defined keeps its earlier target underneath (a removal brings it
    back)."""
    _dos_devices(machine)
    path = "\\GLOBAL??\\" + name
    existing = _find_link(machine, path)
    if isinstance(existing, SymbolicLink):
        existing.__dict__.setdefault("previous_targets", []).append(existing.target)
        existing.target = target
        return
    if existing is not None:
        raise NtStatusError(STATUS_OBJECT_TYPE_MISMATCH, f"{path} is a {existing.type_name}")
    machine.namespace.create_link(path, target)


def remove_dos_device(machine, name: str, target: str | None) -> None:
    """DefineDosDevice(DDD_REMOVE_DEFINITION): the name's latest definition goes (the one whose target is
    `target` when given); STATUS_OBJECT_NAME_NOT_FOUND when there is none."""
    _dos_devices(machine)
    path = "\\GLOBAL??\\" + name
    link = _find_link(machine, path)
    if not isinstance(link, SymbolicLink):
        raise NtStatusError(0xC0000034, f"{path}: no such DOS device")
    prev = link.__dict__.get("previous_targets") or []
    if target is not None and link.target.upper() != target.upper():
        for i in range(len(prev) - 1, -1, -1):
            if prev[i].upper() == target.upper():
                del prev[i]
                return
        raise NtStatusError(0xC0000034, f"{path} does not point at {target}")
    if prev:
        link.target = prev.pop()
        return
    machine.namespace.remove(link)


@kernel_service("NtQuerySymbolicLinkObject")
def NtQuerySymbolicLinkObject(machine, thread, LinkHandle, LinkTarget, ReturnedLength):
    """The target in the caller's UNICODE_STRING (with a NUL when MaximumLength has room for it);
    STATUS_BUFFER_TOO_SMALL with the length needed when it does not fit."""
    link = thread.process.handles.lookup(LinkHandle, "SymbolicLink", SYMBOLIC_LINK_QUERY,
                                         current_process=thread.process, current_thread=thread)
    n = _psize(thread)
    _length, maxlen = struct.unpack("<HH", _rd(thread, LinkTarget, 4))
    buf = _rptr(thread, LinkTarget + n)
    data = link.target.encode("utf-16-le")
    # with a ReturnedLength the target must fit with its terminating NUL (Wine's ntdll/tests/om.c
    # test_query_symboliclink-like checks: MaximumLength == the target's length is STATUS_BUFFER_TOO_SMALL)
    if len(data) + (2 if ReturnedLength else 0) > maxlen:
        if ReturnedLength:
            _wr(thread, ReturnedLength, struct.pack("<I", len(data) + 2))
        return STATUS_BUFFER_TOO_SMALL
    out = data + (b"\0\0" if len(data) + 2 <= maxlen else b"")
    _wr(thread, buf, out)
    _wr(thread, LinkTarget, struct.pack("<H", len(data)))
    if ReturnedLength:
        _wr(thread, ReturnedLength, struct.pack("<I", len(out)))
    return 0


@kernel_service("NtOpenDirectoryObject")
def NtOpenDirectoryObject(machine, thread, DirectoryHandle, DesiredAccess, ObjectAttributes):
    return _open_object(machine, thread, DirectoryHandle, DesiredAccess, ObjectAttributes, "Directory",
                        "NtOpenDirectoryObject")


@kernel_service("NtQueryDirectoryObject")
def NtQueryDirectoryObject(machine, thread, DirectoryHandle, Buffer, Length, ReturnSingleEntry, RestartScan,
                           Context, ReturnLength):
    """OBJECT_DIRECTORY_INFORMATION entries (Name, TypeName UNICODE_STRINGs pointing into the buffer after
    the array, which ends with an empty entry); *Context is the index of the next entry.
    STATUS_MORE_ENTRIES when some did not fit, STATUS_NO_MORE_ENTRIES at the end."""
    d = thread.process.handles.lookup(DirectoryHandle, "Directory", DIRECTORY_QUERY,
                                      current_process=thread.process, current_thread=thread)
    n = _psize(thread)
    length = Length & 0xFFFFFFFF
    items = sorted(((o.name or k).rsplit("\\", 1)[-1], o.type_name) for k, o in d.children.items())
    start = 0 if RestartScan & 0xFF else struct.unpack("<I", _rd(thread, Context, 4))[0]
    rec = 2 * (16 if n == 8 else 8)            # two UNICODE_STRINGs
    if start >= len(items):
        # the end: an empty entry is what the buffer would hold — its size in ReturnLength, the entry cleared
        # when it fits (ntdll/om.c test_query_directory on Windows); Context stays as it is
        if length >= rec:
            _wr(thread, Buffer, bytes(rec))
        if ReturnLength:
            _wr(thread, ReturnLength, struct.pack("<I", rec))
        return STATUS_NO_MORE_ENTRIES
    chosen = []
    for i in range(start, len(items)):
        names = sum(len(s.encode("utf-16-le")) + 2 for s in items[i])
        need = (len(chosen) + 2) * rec + sum(len(a.encode("utf-16-le")) + len(b.encode("utf-16-le")) + 4
                                              for a, b in chosen) + names
        if need > length:
            break
        chosen.append(items[i])
        if ReturnSingleEntry & 0xFF:
            break
    if not chosen:
        if ReturnLength:
            a, b = items[start]
            need = 2 * rec + len(a.encode("utf-16-le")) + len(b.encode("utf-16-le")) + 4
            _wr(thread, ReturnLength, struct.pack("<I", need))
        return STATUS_BUFFER_TOO_SMALL
    strings_at = Buffer + (len(chosen) + 1) * rec
    table = bytearray()
    strings = bytearray()
    fmt = "<HH4xQ" if n == 8 else "<HHI"
    for name, tname in chosen:
        for s in (name, tname):
            raw = s.encode("utf-16-le")
            table += struct.pack(fmt, len(raw), len(raw) + 2, strings_at + len(strings))
            strings += raw + b"\0\0"
    table += bytes(rec)
    _wr(thread, Buffer, bytes(table + strings))
    _wr(thread, Context, struct.pack("<I", start + len(chosen)))
    if ReturnLength:
        _wr(thread, ReturnLength, struct.pack("<I", len(table) + len(strings)))
    if ReturnSingleEntry & 0xFF:
        return 0                               # one entry asked for, one given: success even if more remain
    return STATUS_MORE_ENTRIES if start + len(chosen) < len(items) else 0


# ============================================================================================ scatter / gather
MAX_SEGMENTS = 1 << 16


def _scatter_gather(machine, thread, FileHandle, Event, ApcRoutine, ApcContext, IoStatusBlock, SegmentArray,
                    Length, ByteOffset, *, write: bool) -> int:
    """NtReadFileScatter / NtWriteFileGather: the transfer goes between the file and one page-sized buffer per
    FILE_SEGMENT_ELEMENT (64-bit entries). The file must be a disk file opened for asynchronous, unbuffered
    I/O (FILE_FLAG_OVERLAPPED | FILE_FLAG_NO_BUFFERING: STATUS_INVALID_PARAMETER otherwise); the request
    is queued as the file system does for unbuffered I/O: the service answers STATUS_PENDING and the request
    completes (IO_STATUS_BLOCK, event, completion packet, APC) before the caller sees it. Reading at the end
    of the file: STATUS_END_OF_FILE at once, and no completion."""
    from winhatch.kernel.mm.constants import PAGE_SIZE
    obj = _file_obj(thread, FileHandle, V.FILE_WRITE_DATA if write else V.FILE_READ_DATA)
    vf = _vfile(obj)
    if vf is None or vf.device is not None or vf.is_dir or _synchronous(vf) \
            or not vf.options & 0x8:                       # FILE_NO_INTERMEDIATE_BUFFERING
        return STATUS_INVALID_PARAMETER
    if ApcRoutine and getattr(obj, "completion_port", None) is not None:
        return STATUS_INVALID_PARAMETER
    length = Length & 0xFFFFFFFF
    count = (length + PAGE_SIZE - 1) // PAGE_SIZE
    if count > MAX_SEGMENTS or not SegmentArray:
        return STATUS_INVALID_PARAMETER
    raw = _rd(thread, SegmentArray, 8 * count)
    mask = 0xFFFFFFFFFFFFFFFF if _psize(thread) == 8 else 0xFFFFFFFF
    pages = [int.from_bytes(raw[8 * i:8 * i + 8], "little") & mask for i in range(count)]
    aspace = thread.process.aspace
    for i, p in enumerate(pages):
        n = min(PAGE_SIZE, length - i * PAGE_SIZE)
        if not p or not aspace.accessible(p, n, not write):
            return 0xC0000005                               # STATUS_ACCESS_VIOLATION
    off = _offset(thread, vf, ByteOffset, write=write)
    ev = _event(thread, Event)
    pos = vf.tell()
    try:
        if write:
            data = b"".join(_rd(thread, p, min(PAGE_SIZE, length - i * PAGE_SIZE)) for i, p in enumerate(pages))
            done = vf.write(data, off) if data else 0
        else:
            data = vf.read(length, off) if length else b""
            if not data and length:
                return _done(machine, thread, obj, IoStatusBlock, STATUS_END_OF_FILE, 0, ev, ApcRoutine,
                             ApcContext)
            for i in range(0, len(data), PAGE_SIZE):
                _wr(thread, pages[i // PAGE_SIZE], data[i:i + PAGE_SIZE])
            done = len(data)
    except NtStatusError as e:
        return _done(machine, thread, obj, IoStatusBlock, e.status, 0, ev, ApcRoutine, ApcContext)
    finally:
        vf.position = pos                                   # an asynchronous file has no file pointer
    st = _done(machine, thread, obj, IoStatusBlock, 0, done, ev, ApcRoutine, ApcContext)
    if st == 0:
        # pending, so its completion packet is queued even with FILE_SKIP_COMPLETION_PORT_ON_SUCCESS
        from winhatch.kernel.io import completion as io
        port = getattr(obj, "completion_port", None)
        if port is not None and ApcContext and not port.deleted \
                and getattr(obj, "completion_modes", 0) & io.FILE_SKIP_COMPLETION_PORT_ON_SUCCESS:
            port.insert(io.Packet(obj.completion_key, ApcContext, 0, done))
    return 0x103 if st == 0 else st                         # STATUS_PENDING


@kernel_service("NtReadFileScatter")
def NtReadFileScatter(machine, thread, FileHandle, Event, ApcRoutine, ApcContext, IoStatusBlock, SegmentArray,
                      Length, ByteOffset, Key):
    return _scatter_gather(machine, thread, FileHandle, Event, ApcRoutine, ApcContext, IoStatusBlock,
                           SegmentArray, Length, ByteOffset, write=False)


@kernel_service("NtWriteFileGather")
def NtWriteFileGather(machine, thread, FileHandle, Event, ApcRoutine, ApcContext, IoStatusBlock, SegmentArray,
                      Length, ByteOffset, Key):
    return _scatter_gather(machine, thread, FileHandle, Event, ApcRoutine, ApcContext, IoStatusBlock,
                           SegmentArray, Length, ByteOffset, write=True)
