"""The virtual file system: Windows paths over a sandbox directory on the host.

Drive C: is `sandbox_root/"C"`; further host directories can be mounted at guest directories
(`mount("C:\\app", host_dir, readonly=True)`) or as whole drives (`mount("D:\\", host_dir)`).

Security model (this is a malware sandbox): every guest path is parsed into validated name components
(no '.', '..', '/', NUL, ':' streams, wildcards; UNC and devices never reach the host), looked up one
component at a time inside the root of the mount it falls in, and every host entry met on the way is
checked with its *resolved real path*: a host symlink leading outside its mount root is refused with
STATUS_ACCESS_DENIED, whatever the operation (open, create, stat, list, delete, rename). Final opens add
O_NOFOLLOW, and only regular files and directories are ever opened (no FIFOs, sockets or host devices).

Reparse points (symbolic links, junctions) the guest makes are NTFS's, kept entirely in the guest namespace:
the link is an empty host file or directory in the writable layer and its REPARSE_DATA_BUFFER is the file
system's metadata (``Vfs._reparse``, keyed like the attributes) — never a host symlink. A lookup that meets one
(every component, and the last unless the open asks for FILE_OPEN_REPARSE_POINT) starts again from the link's
target, parsed as an NT path of the guest (``\\??\\C:\\...``; a relative link from the link's folder), at most
MAX_REPARSE_HOPS times (then STATUS_REPARSE_POINT_NOT_RESOLVED, as Windows). So a link can only lead where
the guest could name a path itself: never to a host file outside the mounts.
"""
from __future__ import annotations

import errno
import os
import stat as _stat
import time
from collections import OrderedDict
from pathlib import Path

import struct

from winhatch._record import NEW, Record
from winhatch.ntstatus import (
    NtStatusError,
    STATUS_ACCESS_DENIED,
    STATUS_BAD_NETWORK_PATH,
    STATUS_CANNOT_DELETE,
    STATUS_DELETE_PENDING,
    STATUS_DIRECTORY_NOT_EMPTY,
    STATUS_DISK_FULL,
    STATUS_FILE_IS_A_DIRECTORY,
    STATUS_INVALID_DEVICE_REQUEST,
    STATUS_INVALID_HANDLE,
    STATUS_INVALID_PARAMETER,
    STATUS_NO_SUCH_FILE,
    STATUS_NOT_A_DIRECTORY,
    STATUS_NOT_SAME_DEVICE,
    STATUS_OBJECT_NAME_COLLISION,
    STATUS_OBJECT_NAME_INVALID,
    STATUS_OBJECT_NAME_NOT_FOUND,
    STATUS_OBJECT_PATH_NOT_FOUND,
    STATUS_OBJECT_PATH_SYNTAX_BAD,
    STATUS_SHARING_VIOLATION,
    STATUS_FILE_DELETED,
    STATUS_SUCCESS,
    STATUS_TOO_MANY_OPENED_FILES,
    STATUS_UNSUCCESSFUL,
    STATUS_USER_MAPPED_FILE,
)
from . import paths as P
from .paths import fold

def _mkdirs(path: str) -> None:
    """Path(path).mkdir(parents=True, exist_ok=True), one system call when the parent exists."""
    try:
        os.mkdir(path)
    except FileNotFoundError:
        os.makedirs(path, exist_ok=True)
    except OSError:
        if not os.path.isdir(path):
            raise


# --- NtCreateFile constants ---------------------------------------------------------------------------
#: the guest folder a run mounts the program's own folder at (its current directory by default)
APP_DIR = "C:\\app"

FILE_SUPERSEDE = 0
FILE_OPEN = 1
FILE_CREATE = 2
FILE_OPEN_IF = 3
FILE_OVERWRITE = 4
FILE_OVERWRITE_IF = 5

FILE_SUPERSEDED = 0
FILE_OPENED = 1
FILE_CREATED = 2
FILE_OVERWRITTEN = 3
FILE_EXISTS = 4
FILE_DOES_NOT_EXIST = 5

FILE_DIRECTORY_FILE = 0x00000001
FILE_WRITE_THROUGH = 0x00000002
FILE_SEQUENTIAL_ONLY = 0x00000004
FILE_SYNCHRONOUS_IO_ALERT = 0x00000010
FILE_SYNCHRONOUS_IO_NONALERT = 0x00000020
FILE_NON_DIRECTORY_FILE = 0x00000040
FILE_DELETE_ON_CLOSE = 0x00001000
FILE_OPEN_REPARSE_POINT = 0x00200000

FILE_SHARE_READ = 1
FILE_SHARE_WRITE = 2
FILE_SHARE_DELETE = 4
FILE_SHARE_ALL = 7

FILE_READ_DATA = 0x0001
FILE_LIST_DIRECTORY = 0x0001
FILE_WRITE_DATA = 0x0002
FILE_ADD_FILE = 0x0002
FILE_APPEND_DATA = 0x0004
FILE_READ_EA = 0x0008
FILE_WRITE_EA = 0x0010
FILE_EXECUTE = 0x0020
FILE_TRAVERSE = 0x0020
FILE_DELETE_CHILD = 0x0040
FILE_READ_ATTRIBUTES = 0x0080
FILE_WRITE_ATTRIBUTES = 0x0100
DELETE = 0x00010000
READ_CONTROL = 0x00020000
WRITE_DAC = 0x00040000
WRITE_OWNER = 0x00080000
SYNCHRONIZE = 0x00100000
MAXIMUM_ALLOWED = 0x02000000
GENERIC_ALL = 0x10000000
GENERIC_EXECUTE = 0x20000000
GENERIC_WRITE = 0x40000000
GENERIC_READ = 0x80000000

FILE_GENERIC_READ = 0x00120089
FILE_GENERIC_WRITE = 0x00120116
FILE_GENERIC_EXECUTE = 0x001200A0
FILE_ALL_ACCESS = 0x001F01FF

FILE_ATTRIBUTE_READONLY = 0x00000001
FILE_ATTRIBUTE_HIDDEN = 0x00000002
FILE_ATTRIBUTE_SYSTEM = 0x00000004
FILE_ATTRIBUTE_DIRECTORY = 0x00000010
FILE_ATTRIBUTE_ARCHIVE = 0x00000020
FILE_ATTRIBUTE_DEVICE = 0x00000040
FILE_ATTRIBUTE_NORMAL = 0x00000080
FILE_ATTRIBUTE_TEMPORARY = 0x00000100
FILE_ATTRIBUTE_REPARSE_POINT = 0x00000400

# --- reparse points (winnt.h / ntifs.h) ---------------------------------------------------------------
IO_REPARSE_TAG_MOUNT_POINT = 0xA0000003
IO_REPARSE_TAG_SYMLINK = 0xA000000C
SYMLINK_FLAG_RELATIVE = 1
REPARSE_DATA_BUFFER_HEADER_SIZE = 8
REPARSE_GUID_DATA_BUFFER_HEADER_SIZE = 24
MAXIMUM_REPARSE_DATA_BUFFER_SIZE = 16 * 1024
#: the reparses one open may go through; the next one fails (a link loop) as on Windows
MAX_REPARSE_HOPS = 63
STATUS_PRIVILEGE_NOT_HELD = 0xC0000061
STATUS_NOT_A_REPARSE_POINT = 0xC0000275
STATUS_IO_REPARSE_TAG_INVALID = 0xC0000276
STATUS_IO_REPARSE_TAG_MISMATCH = 0xC0000277
STATUS_IO_REPARSE_DATA_INVALID = 0xC0000278
STATUS_IO_REPARSE_TAG_NOT_HANDLED = 0xC0000279
STATUS_REPARSE_POINT_NOT_RESOLVED = 0xC0000280
_SETTABLE_ATTRIBUTES = (FILE_ATTRIBUTE_READONLY | FILE_ATTRIBUTE_HIDDEN | FILE_ATTRIBUTE_SYSTEM
                        | FILE_ATTRIBUTE_ARCHIVE | FILE_ATTRIBUTE_TEMPORARY | 0x2000)  # NOT_CONTENT_INDEXED

_WRITE_ACCESS = (FILE_WRITE_DATA | FILE_APPEND_DATA | FILE_WRITE_EA | FILE_WRITE_ATTRIBUTES | DELETE
                 | WRITE_DAC | WRITE_OWNER | FILE_DELETE_CHILD)
#: the access that changes a file's content or metadata on the host: an overlay copies the file up first
_CHANGE_ACCESS = (FILE_WRITE_DATA | FILE_APPEND_DATA | FILE_WRITE_EA | FILE_WRITE_ATTRIBUTES | WRITE_DAC
                  | WRITE_OWNER)
_SHARE_READ_ACCESS = FILE_READ_DATA | FILE_EXECUTE
_SHARE_WRITE_ACCESS = FILE_WRITE_DATA | FILE_APPEND_DATA

EPOCH_AS_FILETIME = 116444736000000000


def unix_ns_to_filetime(ns: int) -> int:
    return ns // 100 + EPOCH_AS_FILETIME


def filetime_to_unix_ns(ft: int) -> int:
    return (ft - EPOCH_AS_FILETIME) * 100


def map_generic(access: int, *, readonly: bool = False) -> int:
    """GENERIC_* → FILE_* specific rights (IoCheckDesiredAccess with the file generic mapping)."""
    out = access & ~(GENERIC_READ | GENERIC_WRITE | GENERIC_EXECUTE | GENERIC_ALL | MAXIMUM_ALLOWED)
    if access & GENERIC_READ:
        out |= FILE_GENERIC_READ
    if access & GENERIC_WRITE:
        out |= FILE_GENERIC_WRITE
    if access & GENERIC_EXECUTE:
        out |= FILE_GENERIC_EXECUTE
    if access & GENERIC_ALL:
        out |= FILE_ALL_ACCESS
    if access & MAXIMUM_ALLOWED:
        out |= (FILE_GENERIC_READ | FILE_GENERIC_EXECUTE) if readonly else FILE_ALL_ACCESS
    return out


class FileInfo(Record):
    """What NtQueryInformationFile / FindFirstFile report about one entry."""

    _fields = ("name", "attributes", "size", "creation_time", "last_access_time", "last_write_time", "change_time",
               "is_dir", "path", "allocation_size", "file_index", "reparse_tag")

    def __init__(self, name: str, attributes: int, size: int, creation_time: int, last_access_time: int,
                 last_write_time: int, change_time: int, is_dir: bool, path: str = "",
                 allocation_size: int = 0, file_index: int = 0, reparse_tag: int = 0) -> None:
        self.reparse_tag = reparse_tag  # the entry's reparse tag (with FILE_ATTRIBUTE_REPARSE_POINT), else 0
        self.name = name
        self.attributes = attributes
        self.size = size
        self.creation_time = creation_time
        self.last_access_time = last_access_time
        self.last_write_time = last_write_time
        self.change_time = change_time
        self.is_dir = is_dir
        self.path = path                # the guest (Win32) full path
        self.allocation_size = allocation_size
        self.file_index = file_index    # FileInternalInformation's index (see file_index_of)


class _Mount(Record):
    """A host directory at a guest directory.  With ``lower`` it is a copy-on-write overlay: ``host`` is the
    upper layer (in the sandbox, written by the guest), ``lower`` the host folder (never written): reads fall
    through to it, the first change copies an entry up, and ``hidden`` holds the folded paths (relative to the
    mount) below which the lower layer no longer shows (deleted entries' whiteouts, and directories made or
    moved in the upper layer, which are opaque)."""

    _fields = ("drive", "prefix", "host", "readonly", "lower", "hidden")

    def __init__(self, drive: str, prefix: tuple[str, ...], host: Path, readonly: bool,
                 lower: Path | None = None, hidden: set | None = None) -> None:
        self.drive = drive              # "C"
        self.prefix = prefix            # guest components, as given (case preserved)
        self.host = host                # resolved real path (the upper layer of an overlay)
        self.readonly = readonly
        self.lower = lower              # resolved real path of the host folder under an overlay, else None
        self.hidden: set[tuple[str, ...]] = set() if hidden is None else hidden

    @property
    def key(self) -> tuple[str, ...]:
        return tuple(fold(c) for c in self.prefix)

    @property
    def guest(self) -> str:
        return f"{self.drive}:\\" + "\\".join(self.prefix)


class _Resolved(Record):
    """A drive path looked up on the host."""

    _fields = ("target", "mount", "host", "exists", "parent_exists", "is_dir", "names", "key", "lower",
               "lower_dir")

    def __init__(self, target: P.NtTarget, mount: _Mount, host: Path, exists: bool, parent_exists: bool,
                 is_dir: bool = False, names: list[str] = NEW, key: str | None = None, lower: bool = False,
                 lower_dir: str | None = None) -> None:
        self.target = target
        self.mount = mount
        self.host = host                # host path of the entry (existing part resolved; missing tail as given)
        self.exists = exists
        self.parent_exists = parent_exists
        self.is_dir = is_dir
        self.names = [] if names is NEW else names  # the guest components with on-disk case
        #: the entry's identity (sharing, attributes, locks, open handles): its host path, or in an overlay
        #: its path in the upper layer whichever layer holds it now (so a copy-up does not change it)
        self.key = str(host) if key is None else key
        self.lower = lower              # an overlay entry read from the lower layer (not copied up yet)
        self.lower_dir = lower_dir      # an overlay directory's lower-layer directory still shown, if any

    @property
    def rel(self) -> tuple[str, ...]:
        """The folded components below the mount."""
        return tuple(fold(c) for c in self.target.components[len(self.mount.prefix):])

    @property
    def readonly(self) -> bool:
        return self.mount.readonly

    @property
    def guest(self) -> str:
        return f"{self.target.drive}:\\" + "\\".join(self.names)

    @property
    def is_root(self) -> bool:
        return not self.target.components


class ReparsePoint(Record):
    """A reparse point's REPARSE_DATA_BUFFER (``data``, as FSCTL_SET_REPARSE_POINT gave it) and, for a symbolic
    link or a mount point, its decoded substitute and print names."""

    _fields = ("tag", "data", "substitute", "print_name", "relative")

    def __init__(self, tag: int, data: bytes, substitute: str = "", print_name: str = "",
                 relative: bool = False) -> None:
        self.tag = tag
        self.data = data
        self.substitute = substitute
        self.print_name = print_name
        self.relative = relative


def parse_reparse_buffer(buf: bytes) -> ReparsePoint:
    """Check a REPARSE_DATA_BUFFER (or REPARSE_GUID_DATA_BUFFER) the way FsRtlValidateReparsePointBuffer does:
    a header, a length that covers exactly the buffer (at most 16 KiB), not a reserved tag, and for symbolic
    links and mount points names inside the buffer. STATUS_IO_REPARSE_DATA_INVALID / _TAG_INVALID otherwise."""
    n = len(buf)
    if n < REPARSE_DATA_BUFFER_HEADER_SIZE or n > MAXIMUM_REPARSE_DATA_BUFFER_SIZE:
        raise NtStatusError(STATUS_IO_REPARSE_DATA_INVALID, f"reparse buffer of {n} bytes")
    tag, dlen, _reserved = struct.unpack_from("<IHH", buf)
    if tag in (0, 1):       # IO_REPARSE_TAG_RESERVED_ZERO / _ONE
        raise NtStatusError(STATUS_IO_REPARSE_TAG_INVALID, f"reserved reparse tag {tag}")
    microsoft = bool(tag & 0x80000000)
    head = REPARSE_DATA_BUFFER_HEADER_SIZE if microsoft else REPARSE_GUID_DATA_BUFFER_HEADER_SIZE
    if n < head or dlen + head != n:
        raise NtStatusError(STATUS_IO_REPARSE_DATA_INVALID, f"reparse data length {dlen} in a buffer of {n}")
    if tag not in (IO_REPARSE_TAG_MOUNT_POINT, IO_REPARSE_TAG_SYMLINK):
        return ReparsePoint(tag, bytes(buf))
    fixed = 12 if tag == IO_REPARSE_TAG_SYMLINK else 8
    if dlen < fixed:
        raise NtStatusError(STATUS_IO_REPARSE_DATA_INVALID, "reparse data too short for its names")
    so, sl, po, pl = struct.unpack_from("<HHHH", buf, 8)
    flags = struct.unpack_from("<I", buf, 16)[0] if tag == IO_REPARSE_TAG_SYMLINK else 0
    base = 8 + fixed
    names = []
    for off, ln in ((so, sl), (po, pl)):
        if off % 2 or ln % 2 or base + off + ln > n:
            raise NtStatusError(STATUS_IO_REPARSE_DATA_INVALID, "a name outside the reparse buffer")
        names.append(bytes(buf[base + off:base + off + ln]).decode("utf-16-le", "replace"))
    if not names[0]:
        raise NtStatusError(STATUS_IO_REPARSE_DATA_INVALID, "an empty substitute name")
    return ReparsePoint(tag, bytes(buf), names[0], names[1], bool(flags & SYMLINK_FLAG_RELATIVE))


class _Reparse(Exception):
    """A lookup met a reparse point: start again from this target."""

    def __init__(self, target: P.NtTarget) -> None:
        super().__init__(target.nt_path)
        self.target = target


def file_index_of(host) -> int:
    """A stable 48-bit file index per host file (the same in every run, as an NTFS file reference is): the
    file's FileInternalInformation and the FileId of its directory entries."""
    if host is None:
        return 0
    from winhatch._hash import sha256
    digest = sha256(str(host).encode("utf-8", "surrogatepass")).digest()
    return int.from_bytes(digest[:6], "little")


def _sha256_file(path: str | None, limit: int = 1 << 30) -> str | None:
    """The sha256 of a host file (None when unreadable or larger than `limit`)."""
    if not path:
        return None
    from winhatch._hash import sha256
    h = sha256()
    try:
        with open(path, "rb") as f:
            if os.fstat(f.fileno()).st_size > limit:
                return None
            while chunk := f.read(1 << 20):
                h.update(chunk)
    except OSError:
        return None
    return h.hexdigest()


def _guest_rel(guest: str) -> list[str]:
    """dropped/ relative path of a guest path: ["C", "Users", ..., "file.txt"] (the components are the
    validated guest names: no '..', no separators)."""
    if len(guest) < 3 or guest[1] != ":" or not guest[0].isalpha():
        return []
    comps = [c for c in guest[3:].split("\\") if c]
    if not comps or any(c in (".", "..") or "/" in c or "\x00" in c for c in comps):
        return []
    return [guest[0].upper()] + comps


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


#: A host file with more than one hard link is never opened: the path checks see where a path leads, not
#: which other names the inode has, so a hard link placed in a mounted folder could lead to a file outside
#: the sandbox (the guest itself cannot make hard links: every such link was made on the host).
HARD_LINK_REFUSED = "the host file has other hard links (it may be a file outside the sandbox)"


def check_host_file(host: Path | str, guest_links=()) -> os.stat_result:
    """For readers of host files that do not go through Vfs.open (the image section cache): a regular file
    with one link — or one whose (st_dev, st_ino) is in `guest_links`, the files the guest itself linked
    (Vfs.guest_links) —, or NtStatusError(STATUS_ACCESS_DENIED)."""
    try:
        st = os.stat(host)
    except OSError as e:
        raise Vfs._oserror(e)
    if not _stat.S_ISREG(st.st_mode):
        raise NtStatusError(STATUS_ACCESS_DENIED, "not a regular file")
    if st.st_nlink > 1 and (st.st_dev, st.st_ino) not in guest_links:
        raise NtStatusError(STATUS_ACCESS_DENIED, HARD_LINK_REFUSED)
    return st


# ---------------------------------------------------------------------------------------------------
#: the bytes of dropped files a run keeps (copied to its output folder and stashed before deletion): beyond
#: it the report lists the files with their hashes and says "truncated"
DROPPED_CAP = 256 << 20

#: host descriptors kept open at once for guest file handles (least recently used ones are closed and
#: opened again by path when needed): a guest may hold millions of handles, the host process a few thousand
MAX_HOST_FDS = 256


class _HostFile:
    """One host file or directory (an inode) behind every guest handle that has it open.  Its host
    descriptors (one read-only, one read-write) are opened on demand: the Vfs keeps at most MAX_HOST_FDS of
    them, closing the least recently used, and a closed one is opened again by its host path, checked to
    be the same inode.  A file unlinked while handles are open (POSIX delete) is *pinned*: its descriptors
    stay open, since the path no longer leads to it."""

    __slots__ = ("vfs", "ident", "path", "is_dir", "fds", "users", "pinned")

    def __init__(self, vfs: "Vfs", ident: tuple[int, int], path: Path, is_dir: bool):
        self.vfs = vfs
        self.ident = ident
        self.path = path
        self.is_dir = is_dir
        self.fds: dict[bool, int] = {}   # writable? -> fd
        self.users = 0
        self.pinned = False

    def fd(self, write: bool) -> int:
        pool = self.vfs._fd_lru
        for mode in ((True,) if write else (False, True)):
            fd = self.fds.get(mode)
            if fd is not None:
                if not self.pinned:
                    pool.move_to_end((self, mode))
                return fd
        if self.pinned:
            raise NtStatusError(STATUS_FILE_DELETED, "the file was deleted")
        flags = os.O_RDONLY | os.O_DIRECTORY if self.is_dir else (os.O_RDWR if write else os.O_RDONLY)
        fd = self.vfs._os_open(self.path, flags)
        st = os.fstat(fd)
        if (st.st_dev, st.st_ino) != self.ident:
            os.close(fd)
            raise NtStatusError(STATUS_FILE_DELETED, "the file was replaced on the host")
        self.adopt(fd, write)
        return fd

    def adopt(self, fd: int, write: bool) -> None:
        self.fds[write] = fd
        if not self.pinned:
            self.vfs._fd_lru[(self, write)] = None
            self.vfs._trim_fds()

    def close_fd(self, write: bool) -> None:
        fd = self.fds.pop(write, None)
        self.vfs._fd_lru.pop((self, write), None)
        if fd is not None:
            try:
                os.close(fd)
            except OSError:
                pass

    def pin(self, write: bool) -> None:
        """Keep a descriptor open for good (the path is about to stop leading here)."""
        self.fd(write)
        self.pinned = True
        for mode in list(self.fds):
            self.vfs._fd_lru.pop((self, mode), None)

    def release(self) -> None:
        self.users -= 1
        if self.users <= 0:
            for mode in list(self.fds):
                self.close_fd(mode)
            if self.vfs._host_files.get(self.ident) is self:
                del self.vfs._host_files[self.ident]


class _ShareState:
    """The open handles of one host path and their SHARE_ACCESS counts (IoCheckShareAccess works on
    counts, so opening the same file again costs the same however many handles are open)."""

    __slots__ = ("files", "open_count", "readers", "writers", "deleters", "shared_read", "shared_write",
                 "shared_delete", "dispositions")

    def __init__(self) -> None:
        self.dispositions = 0          # handles through which a delete disposition is set
        self.files: dict["VfsFile", None] = {}
        self.open_count = self.readers = self.writers = self.deleters = 0
        self.shared_read = self.shared_write = self.shared_delete = 0

    def update(self, f: "VfsFile", sign: int) -> None:
        acc = f.access
        if not acc & (_SHARE_READ_ACCESS | _SHARE_WRITE_ACCESS | DELETE):
            return
        self.open_count += sign
        self.readers += sign * bool(acc & _SHARE_READ_ACCESS)
        self.writers += sign * bool(acc & _SHARE_WRITE_ACCESS)
        self.deleters += sign * bool(acc & DELETE)
        self.shared_read += sign * bool(f.share & FILE_SHARE_READ)
        self.shared_write += sign * bool(f.share & FILE_SHARE_WRITE)
        self.shared_delete += sign * bool(f.share & FILE_SHARE_DELETE)

    def add(self, f: "VfsFile") -> None:
        self.files[f] = None
        self.update(f, 1)

    def release(self, f: "VfsFile") -> None:
        """IRP_MJ_CLEANUP of one of its files: its share access no longer counts (the file object may live on,
        referenced by a section, and stays listed so that renames keep following it)."""
        if f in self.files and not f.released:
            f.released = True
            self.update(f, -1)
            if f.disposition:
                self.dispositions -= 1

    def remove(self, f: "VfsFile") -> None:
        self.release(f)
        self.files.pop(f, None)

    def active(self) -> bool:
        """Does a file of it still have a handle (cleanup not yet done)?"""
        return any(not f.released for f in self.files)

    def __iter__(self):
        return iter(self.files)

    def __len__(self) -> int:
        return len(self.files)


class VfsFile:
    """An open file or directory (the FILE_OBJECT behind a handle)."""

    def __init__(self, vfs: "Vfs", *, fd: "_HostFile | None", host_path: Path | None, path: str, nt_path: str,
                 access: int, share: int, options: int, is_dir: bool, readonly: bool, information: int,
                 device: str | None = None):
        self.vfs = vfs
        self._hf = fd                  # the host file (shared by every handle to the same inode)
        self._writes = bool(access & (FILE_WRITE_DATA | FILE_APPEND_DATA))
        self.host_path = host_path
        self.path = path
        self.nt_path = nt_path
        self.access = access
        self.share = share
        self.options = options
        self.is_dir = is_dir
        self.readonly = readonly
        self.information = information
        self.device = device
        self.position = 0
        self.closed = False
        self.cleaned = False            # IRP_MJ_CLEANUP done (its last handle closed)
        self.released = False           # its share access no longer counts (_ShareState.release)
        self.delete_on_close = bool(options & FILE_DELETE_ON_CLOSE)
        self.disposition = False        # delete pending set through this handle (FileDispositionInformation)
        self.unlinked = False           # its name was taken away by a POSIX delete

    def __repr__(self) -> str:
        return f"<VfsFile {self.path!r}{' dir' if self.is_dir else ''}{' closed' if self.closed else ''}>"

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _check(self) -> None:
        if self.closed:
            raise NtStatusError(STATUS_INVALID_HANDLE, "file is closed")

    # --- data ---------------------------------------------------------------------------------------
    def read(self, n: int = -1, offset: int | None = None) -> bytes:
        """NtReadFile: up to n bytes (all remaining if n < 0) at offset or the current position; the
        position moves past what was read. b'' at end of file."""
        self._check()
        if self.is_dir:
            raise NtStatusError(STATUS_INVALID_DEVICE_REQUEST, "read on a directory")
        if not self.access & FILE_READ_DATA:
            raise NtStatusError(STATUS_ACCESS_DENIED, "handle lacks FILE_READ_DATA")
        if self.device is not None:
            return self.vfs._device_read(self, n)
        pos = self.position if offset is None else offset
        if pos < 0:
            raise NtStatusError(STATUS_INVALID_PARAMETER, "negative offset")
        fd = self._fd
        if n < 0:
            n = max(0, os.fstat(fd).st_size - pos)
        data = os.pread(fd, n, pos) if n else b""
        self.position = pos + len(data)
        return data

    def write(self, data: bytes, offset: int | None = None) -> int:
        """NtWriteFile at offset or the current position (append-only handles always write at the end)."""
        self._check()
        data = bytes(data)
        if self.is_dir:
            raise NtStatusError(STATUS_INVALID_DEVICE_REQUEST, "write on a directory")
        if not self.access & (FILE_WRITE_DATA | FILE_APPEND_DATA):
            raise NtStatusError(STATUS_ACCESS_DENIED, "handle lacks FILE_WRITE_DATA")
        if self.device is not None:
            return self.vfs._device_write(self, data)
        fd = self._fd
        if not self.access & FILE_WRITE_DATA or offset == -1:
            pos = os.fstat(fd).st_size
        else:
            pos = self.position if offset is None else offset
        if pos < 0:
            raise NtStatusError(STATUS_INVALID_PARAMETER, "negative offset")
        self.vfs._charge(pos + len(data), len(data))
        written = os.pwrite(fd, data, pos)
        self.position = pos + written
        if self.vfs.change_listeners:
            self.vfs._notify(3, self.path, False, 0x10 | 0x8)     # FILE_NOTIFY_CHANGE_LAST_WRITE | SIZE
        return written

    def seek(self, offset: int, whence: int = 0) -> int:
        self._check()
        base = {0: 0, 1: self.position, 2: self.size}[whence]
        if base + offset < 0:
            raise NtStatusError(STATUS_INVALID_PARAMETER, "negative file position")
        self.position = base + offset
        return self.position

    def tell(self) -> int:
        return self.position

    @property
    def _fd(self) -> int:
        """A host descriptor for this file, opened again on demand (see _HostFile)."""
        return self._hf.fd(self._writes)

    @property
    def size(self) -> int:
        self._check()
        if self._hf is None:
            return 0
        return 0 if self.is_dir else os.fstat(self._fd).st_size

    def set_size(self, n: int) -> None:
        """FileEndOfFileInformation."""
        self._check()
        if self.is_dir or self.device is not None:
            raise NtStatusError(STATUS_INVALID_PARAMETER, "cannot size a directory or device")
        if not self.access & FILE_WRITE_DATA:
            raise NtStatusError(STATUS_ACCESS_DENIED, "handle lacks FILE_WRITE_DATA")
        if n < 0:
            raise NtStatusError(STATUS_INVALID_PARAMETER, "negative size")
        self.vfs._charge(n, max(0, n - self.size))
        os.ftruncate(self._fd, n)

    def set_times(self, creation: int | None, access: int | None, write: int | None) -> None:
        """FileBasicInformation's times (SetFileTime): FILETIMEs, None to leave one unchanged. The host file
        gets the access and write times; the creation time, which a Linux file system cannot set, is kept by
        the VFS for the host file and reported from then on."""
        self._check()
        if not self.access & FILE_WRITE_ATTRIBUTES:
            raise NtStatusError(STATUS_ACCESS_DENIED, "handle lacks FILE_WRITE_ATTRIBUTES")
        if self.device is not None or self.host_path is None:
            return
        if access is not None or write is not None:
            host = self._hf.path if self._hf is not None else self.host_path   # copied up at open in an overlay
            st = os.stat(host)
            a = filetime_to_unix_ns(access) if access is not None else st.st_atime_ns
            w = filetime_to_unix_ns(write) if write is not None else st.st_mtime_ns
            os.utime(host, ns=(a, w))
        if creation is not None:
            self.vfs._created[str(self.host_path)] = creation

    @property
    def info(self) -> FileInfo:
        self._check()
        if self.device is not None:
            return FileInfo(self.device, FILE_ATTRIBUTE_NORMAL, 0, 0, 0, 0, 0, False, self.path)
        st = os.fstat(self._fd)
        return self.vfs._info_from_stat(self.path.rstrip("\\").rsplit("\\", 1)[-1], st, self.readonly,
                                        self.host_path, self.path)

    def listdir(self, pattern: str = "*") -> list[FileInfo]:
        """NtQueryDirectoryFile on this directory handle."""
        self._check()
        if not self.is_dir:
            raise NtStatusError(STATUS_INVALID_PARAMETER, "not a directory handle")
        return self.vfs.listdir(self.nt_path, pattern, open_link=bool(self.options & FILE_OPEN_REPARSE_POINT))

    def cleanup(self) -> None:
        """IRP_MJ_CLEANUP (the last handle to the file object is closed): the handle's share access and byte
        range locks go, and a delete on close happens, although the object may live on (a section of the file
        still references it: the file can then be opened again in any sharing mode the section allows)."""
        if self.cleaned:
            return
        self.cleaned = True
        if self.vfs._byte_locks:
            self.vfs._release_locks(self)
        self.vfs._cleanup(self)

    def close(self) -> None:
        if self.closed:
            return
        self.cleanup()
        self.closed = True
        hf, self._hf = self._hf, None
        if hf is not None:
            hf.release()
        self.vfs._closed(self)


# ---------------------------------------------------------------------------------------------------
class Vfs:
    """The guest's file system. See the module docstring for the security model."""

    DEFAULT_DIRS = (
        "Windows", "Windows\\System32", "Windows\\System32\\drivers", "Windows\\System32\\drivers\\etc",
        "Windows\\System32\\config", "Windows\\System32\\spool", "Windows\\System32\\Tasks",
        "Windows\\SysWOW64", "Windows\\Temp", "Windows\\Fonts", "Windows\\WinSxS",
        "Program Files", "Program Files\\Common Files", "Program Files (x86)",
        "Program Files (x86)\\Common Files", "ProgramData", "ProgramData\\Microsoft",
        "Users", "Users\\Public", "Users\\Public\\Desktop", "Users\\Public\\Documents",
        "Users\\Default",
    )
    USER_DIRS = ("", "Desktop", "Documents", "Downloads", "Music", "Pictures", "Videos", "Favorites",
                 "AppData", "AppData\\Roaming", "AppData\\Local", "AppData\\Local\\Temp", "AppData\\LocalLow",
                 "AppData\\Roaming\\Microsoft\\Windows\\Start Menu\\Programs\\Startup")
    #: C:\Windows\win.ini as a Windows 10 installation has it (the profile functions' default file)
    WIN_INI = (b"; for 16-bit app support\r\n[fonts]\r\n[extensions]\r\n[mci extensions]\r\n[files]\r\n"
               b"[Mail]\r\nMAPI=1\r\n")
    HOSTS = (b"# Copyright (c) 1993-2009 Microsoft Corp.\r\n#\r\n"
             b"# This is a sample HOSTS file used by Microsoft TCP/IP for Windows.\r\n#\r\n"
             b"# localhost name resolution is handled within DNS itself.\r\n"
             b"#\t127.0.0.1       localhost\r\n#\t::1             localhost\r\n")
    WOW64_EXEMPT = (("catroot",), ("catroot2",), ("driverstore",), ("drivers", "etc"), ("logfiles",),
                    ("spool",))

    def __init__(self, sandbox_root: Path | str, *, username: str = "user", create_layout: bool = True,
                 max_file_size: int = 512 << 20, max_total_write: int = 2 << 30, log_limit: int = 100_000):
        self.sandbox_root = Path(sandbox_root)
        self.username = username
        self.windir = "C:\\Windows"
        self.user_profile = f"C:\\Users\\{username}"
        self.temp_dir = f"{self.user_profile}\\AppData\\Local\\Temp"   # the user's %TEMP%
        self.system_temp_dir = "C:\\Windows\\Temp"                     # the system %TEMP%
        self.volume_devices = {"C": "HarddiskVolume3"}
        self.max_file_size = max_file_size
        self.max_total_write = max_total_write
        self.bytes_written = 0
        self.log: list[dict] = []
        self.log_limit = log_limit
        self.log_dropped = 0
        self.console = None            # a winhatch.kernel.io.console.Console for CON / CONIN$ / CONOUT$
        #: fn(action, guest path, is_dir, FILE_NOTIFY_CHANGE_* bits) for each change the guest makes
        #: (winhatch.kernel.io.notify: directory change notifications)
        self.change_listeners: list = []
        self._mounts: list[_Mount] = []
        self._overlays: list[_Mount] = []
        #: mount host folders writable, as Wine does (`winhatch run --writable`), instead of as overlays
        self.writable_mounts = False
        #: where overlays keep their upper layers (inside the sandbox, unless the runner puts them elsewhere)
        self.overlay_root = self.sandbox_root / "overlay"
        self.copied_up = 0              # entries copied up from an overlay's lower layer
        #: (st_dev, st_ino) of the sandbox files the guest gave a second name (link_open): the only host files
        #: with several links that are opened (any other may be a host-planted link to outside the sandbox)
        self.guest_links: set[tuple[int, int]] = set()
        #: the files the guest creates, changes or deletes once tracking is on (the runner turns it on when
        #: the sample starts): key -> {"path", "existed", "sha256", ["stash"], ["moved_to"]}; see dropped_files
        self.tracking = False
        self.changes: dict[str, dict] = {}
        self.dropped_cap = DROPPED_CAP
        self.dropped_max_files = 10_000
        self.dropped_truncated = False
        self.dropped_out = None         # the run's output folder (runner: --out), where dropped files are copied
        self._stash_bytes = 0
        self._opens: dict[str, _ShareState] = {}
        self._host_files: dict[tuple[int, int], _HostFile] = {}   # (st_dev, st_ino) -> open host file
        self._fd_lru: OrderedDict[tuple[_HostFile, bool], None] = OrderedDict()
        self.max_host_fds = MAX_HOST_FDS
        self._delete_pending: set[str] = set()
        self._byte_locks: dict[str, list] = {}   # host path -> [(VfsFile, start, length, exclusive)]
        self._attrs: dict[str, int] = {}   # host path → attributes set by the guest (READONLY, HIDDEN ...)
        #: key → the reparse point (symbolic link, junction, other tags) the guest set on that entry
        self._reparse: dict[str, ReparsePoint] = {}
        self._created: dict[str, int] = {}  # host path → creation time (FILETIME) set by the guest
        self._dir_cache: dict[str, tuple[tuple[int, int], dict[str, str]]] = {}   # see _folded_names
        self._image_sections: dict[tuple[int, int], list] = {}   # (st_dev, st_ino) -> SEC_IMAGE sections
        #: fn(section) -> bool: is a view of it mapped in a process that still runs? (set by the machine: the
        #: address space of an exited process stays readable for reports, its views count no more)
        self.section_in_use = None
        self._data_sections: dict[str, list] = {}
        self._file_ids: dict[int, str] = {}     # file index -> key, for FILE_OPEN_BY_FILE_ID
        #: the layout entries not made on the host yet (see _create_layout and _pend): parent's host path + os.sep
        #: + folded name -> (host path, None for a folder or a file's content), and parent's host path -> the
        #: keys of its pending children
        self._layout: dict[str, tuple[str, bytes | None]] = {}
        self._layout_kids: dict[str, list[str]] = {}
        c_root = self.sandbox_root / "C"
        c_root.mkdir(parents=True, exist_ok=True)
        self._mounts.append(_Mount("C", (), Path(os.path.realpath(c_root)), False))
        if create_layout:
            self._create_layout()

    # --- setup --------------------------------------------------------------------------------------
    def _create_layout(self) -> None:
        """The folders and files of a Windows 10 installation on C: (DEFAULT_DIRS, the user's profile, hosts,
        win.ini), made on the host when the guest first reaches them (_layout_entry), not at start: a run
        made ~40 host folders and removed them again, each a journaled system call (~0.5 ms), where most
        programs look at two or three.  The guest cannot tell: a lookup of a missing name consults the pending
        layout first, and a folder the guest resolves (to list it, remove it, rename it, open it) gets its
        pending children made first (_layout_children)."""
        root = str(self._mounts[0].host)
        for d in self.DEFAULT_DIRS:
            self._pend(root, d.split("\\"))
        for d in self.USER_DIRS:
            self._pend(root, ["Users", self.username, *d.split("\\")])
        self._pend(root, ["Windows", "System32", "drivers", "etc", "hosts"], self.HOSTS)
        self._pend(root, ["Windows", "win.ini"], self.WIN_INI)

    def _pend(self, root: str, parts: list[str], data: bytes | None = None) -> None:
        """Add root/parts (a folder, or a file when `data` is given) and the folders above it to the pending
        layout, unless the host has them.  Keys: the parent's host path as the resolver meets it, then the
        folded name (so a snapshot, which rewrites the sandbox's paths, moves them with the sandbox)."""
        parts = [c for c in parts if c]
        for i in range(1, len(parts) + 1):
            parent = os.path.join(root, *parts[:i - 1])
            host = os.path.join(parent, parts[i - 1])
            k = parent + os.sep + fold(parts[i - 1])
            if k in self._layout or os.path.lexists(host):
                continue
            self._layout[k] = (host, data if data is not None and i == len(parts) else None)
            self._layout_kids.setdefault(parent, []).append(k)

    def _layout_entry(self, host_dir: Path | str, name: str) -> str | None:
        """`name` is missing in host_dir: when the pending layout has it there, make it now (a folder, or a
        file with its content) and give its on-disk name; None otherwise."""
        got = self._layout.pop(str(host_dir) + os.sep + fold(name), None)
        if got is None:
            return None
        host, data = got
        if data is None:
            _mkdirs(host)
        elif not os.path.lexists(host):
            with open(host, "xb") as f:
                f.write(data)
        self._note_created(Path(host))
        return os.path.basename(host)

    def _layout_children(self, host_dir: Path | str) -> None:
        """Make the pending layout entries directly inside host_dir (before it is listed, removed or moved)."""
        for k in self._layout_kids.pop(str(host_dir), ()):
            got = self._layout.get(k)
            if got is not None:
                self._layout_entry(host_dir, os.path.basename(got[0]))

    def mount(self, guest_dir: str, host_dir: Path | str, readonly: bool = False,
              overlay: bool | None = None) -> None:
        """Make host_dir appear at guest_dir ("C:\\app", or "D:\\" for a whole drive).

        A writable mount is a copy-on-write overlay (unless ``overlay=False``, or ``writable_mounts`` is set:
        `winhatch run --writable`): the guest reads the host folder, its first change to an entry copies it to
        an upper layer inside the sandbox (``overlay_root``), deletions are whiteouts there, and the host
        folder is never written."""
        full = P.full_path(guest_dir, "C:\\")
        if not (len(full) >= 3 and full[1] == ":" and full[2] == "\\"):
            raise NtStatusError(STATUS_OBJECT_NAME_INVALID, f"mount point must be a drive path: {guest_dir!r}")
        comps = tuple(c for c in full[3:].split("\\") if c)
        for c in comps:
            P.validate_component(c)
        host = Path(os.path.realpath(host_dir))
        if not host.is_dir():
            raise NtStatusError(STATUS_OBJECT_PATH_NOT_FOUND, f"host directory does not exist: {host_dir}")
        if overlay is None:
            overlay = not readonly and not self.writable_mounts
        if overlay and not readonly:
            upper = Path(self.overlay_root) / f"{len(self._overlays) + 1}-{full[0].upper()}"
            upper = upper.joinpath(*comps) if comps else upper
            _mkdirs(str(upper))
            m = _Mount(full[0].upper(), comps, Path(os.path.realpath(upper)), False, lower=host)
        else:
            m = _Mount(full[0].upper(), comps, host, readonly)
        old = [x for x in self._mounts if x.drive == m.drive and x.key == m.key]
        self._mounts = [x for x in self._mounts if x not in old]
        self._overlays = [x for x in self._overlays if x not in old]
        self._mounts.append(m)
        if m.lower is not None:
            self._overlays.append(m)
        # a placeholder directory so the mount point shows in its parent's listing: pending, like the layout,
        # in a plain writable mount (made when the guest reaches the parent), made now in any other
        if comps:
            try:
                pm, n = self._mount_for(m.drive, list(comps[:-1]))
                if pm is not m and pm.lower is None and not pm.readonly:
                    self._pend(str(pm.host), list(comps[n:]))
                    return
            except NtStatusError:
                pass
            try:
                parent = self._resolve_target(P.NtTarget("drive", drive=m.drive, components=list(comps[:-1])))
                if parent.exists and parent.is_dir and not parent.readonly and parent.mount is not m:
                    ph = parent.host / comps[-1]
                    if not os.path.lexists(ph) and self._lookup(parent.host, comps[-1]) is None:
                        os.mkdir(ph)
            except (NtStatusError, OSError):
                pass

    def _mount_for(self, drive: str, comps: list[str]) -> tuple[_Mount, int]:
        key = tuple(fold(c) for c in comps)
        best, best_len = None, -1
        for m in self._mounts:
            n = len(m.prefix)
            if m.drive == drive and n > best_len and key[:n] == m.key:
                best, best_len = m, n
        if best is None:
            raise NtStatusError(STATUS_OBJECT_PATH_NOT_FOUND, f"no drive {drive}:")
        return best, best_len

    # --- logging ------------------------------------------------------------------------------------
    def _log(self, op: str, path: str, status: int, **extra) -> None:
        if len(self.log) >= self.log_limit:
            self.log_dropped += 1
            return
        entry = {"op": op, "path": path, "status": status & 0xFFFFFFFF}
        entry.update(extra)
        self.log.append(entry)

    def _notify(self, action: int, path: str, is_dir: bool = False, filt: int = 0,
                new_path: str | None = None) -> None:
        """Tell the change listeners (FILE_ACTION_ADDED 1, REMOVED 2, MODIFIED 3; a rename is action 4 with the
        old path and `new_path`)."""
        for fn in self.change_listeners:
            fn(action, path, is_dir, filt, new_path)

    def _charge(self, end: int, nbytes: int) -> None:
        if end > self.max_file_size or self.bytes_written + nbytes > self.max_total_write:
            raise NtStatusError(STATUS_DISK_FULL, "sandbox write quota exhausted")
        self.bytes_written += nbytes

    # --- paths --------------------------------------------------------------------------------------
    def full_path(self, path: str, cwd: str | None = None) -> str:
        return P.full_path(path, cwd)

    def to_nt_path(self, path: str, cwd: str | None = None) -> str:
        return P.to_nt_path(path, cwd)

    def _target(self, path: str, cwd: str | None = None, root: VfsFile | None = None) -> P.NtTarget:
        if not isinstance(path, str):
            raise NtStatusError(STATUS_OBJECT_NAME_INVALID, "path must be a string")
        if root is not None:
            if root.closed:
                raise NtStatusError(STATUS_INVALID_HANDLE, "root directory handle is closed")
            if not root.is_dir and path:
                # below a file: no such path; an empty name re-opens the file itself (Wine's ntdll/tests/file.c
                # open_file_test, as on Windows)
                raise NtStatusError(STATUS_OBJECT_PATH_NOT_FOUND, "a name relative to a file")
            if path.startswith("\\"):
                raise NtStatusError(STATUS_OBJECT_PATH_SYNTAX_BAD, "name relative to a root directory must not start with '\\'")
            nt = root.nt_path.rstrip("\\") + ("\\" + path if path else "")
        elif path.startswith(("\\??\\", "\\DosDevices\\", "\\GLOBAL??\\", "\\Device\\", "\\SystemRoot\\")) or \
                fold(path).startswith(("\\DOSDEVICES\\", "\\GLOBAL??\\", "\\DEVICE\\", "\\SYSTEMROOT\\")):
            nt = path
        else:
            nt = P.to_nt_path(path, cwd)
        return P.parse_nt(nt, volume_devices=self.volume_devices, system_root=self.windir)

    def _lookup(self, host_dir: Path, name: str) -> str | None:
        """The existing entry of host_dir whose name matches `name` case-insensitively (exact first).
        The folded names of a directory are cached (checked against its mtime and kept up to date by this
        file system's own creations), so creating n files in one directory costs O(n), not O(n²)."""
        try:
            if os.path.lexists(os.path.join(host_dir, name)):
                return name
            return self._folded_names(str(host_dir)).get(fold(name))
        except (OSError, ValueError):
            return None

    _DIR_CACHE_MAX = 64

    def _folded_names(self, d: str) -> dict[str, str]:
        st = os.stat(d)
        stamp = (st.st_ino, st.st_mtime_ns)
        hit = self._dir_cache.get(d)
        if hit is not None and hit[0] == stamp:
            return hit[1]
        names: dict[str, str] = {}
        for e in os.listdir(d):
            k = fold(e)
            if k not in names or e < names[k]:
                names[k] = e
        if len(self._dir_cache) >= self._DIR_CACHE_MAX:
            self._dir_cache.clear()
        self._dir_cache[d] = (stamp, names)
        return names

    def _note_created(self, host: Path) -> None:
        """An entry was created by this file system: keep its directory's cached names current."""
        d = os.path.dirname(str(host))
        hit = self._dir_cache.get(d)
        if hit is None:
            return
        try:
            st = os.stat(d)
        except OSError:
            self._dir_cache.pop(d, None)
            return
        names = hit[1]
        k, e = fold(os.path.basename(str(host))), os.path.basename(str(host))
        if k not in names or e < names[k]:
            names[k] = e
        self._dir_cache[d] = ((st.st_ino, st.st_mtime_ns), names)

    def _resolve_target(self, t: P.NtTarget, open_link: bool = False) -> _Resolved:
        """Look a target up; a reparse point met on the way (the last component too, unless `open_link`:
        FILE_OPEN_REPARSE_POINT) restarts the lookup from its target, at most MAX_REPARSE_HOPS times."""
        for _hop in range(MAX_REPARSE_HOPS + 1):
            try:
                return self._resolve_once(t, open_link)
            except _Reparse as rp:
                t = rp.target
        raise NtStatusError(STATUS_REPARSE_POINT_NOT_RESOLVED,
                            f"more than {MAX_REPARSE_HOPS} reparse points (a link loop?) resolving {t.nt_path!r}")

    def _reparse_target(self, rp: ReparsePoint, t: P.NtTarget, link_names: list[str],
                        remaining: list[str]) -> P.NtTarget:
        """Where a reparse point leads with the components after it: its substitute name as an NT path of the
        guest (absolute), or from the link's folder ('..' and '.' applied, never above the drive's root)."""
        if rp.tag not in (IO_REPARSE_TAG_MOUNT_POINT, IO_REPARSE_TAG_SYMLINK):
            raise NtStatusError(STATUS_IO_REPARSE_TAG_NOT_HANDLED, f"reparse tag {rp.tag:#x} has no filter here")
        sub = rp.substitute
        if rp.relative:
            comps = [] if sub.startswith("\\") else list(link_names[:-1])
            for c in sub.split("\\"):
                if c in ("", "."):
                    continue
                if c == "..":
                    if comps:
                        comps.pop()
                    continue
                P.validate_component(c)
                comps.append(c)
            comps += remaining
            nt = f"\\??\\{t.drive}:\\" + "\\".join(comps) + ("\\" if t.trailing and comps else "")
            if len(nt) > P.MAX_NT_PATH:     # as parse_nt refuses an absolute one (the lookups stay bounded)
                raise NtStatusError(0xC0000106, "the path through the link is too long")   # STATUS_NAME_TOO_LONG
            return P.NtTarget("drive", drive=t.drive, components=comps, trailing=t.trailing and bool(comps),
                              nt_path=nt)
        head = sub.rstrip("\\")
        if head.endswith(":"):
            head += "\\"            # a drive's root: \??\C:\ (\??\C: is the volume device)
        if remaining:
            nt = head.rstrip("\\") + "\\" + "\\".join(remaining) + ("\\" if t.trailing else "")
        else:
            nt = head + ("\\" if t.trailing and not head.endswith("\\") else "")
        return P.parse_nt(nt, volume_devices=self.volume_devices, system_root=self.windir)

    def _resolve_once(self, t: P.NtTarget, open_link: bool) -> _Resolved:
        if t.kind == "unc":
            raise NtStatusError(STATUS_BAD_NETWORK_PATH, "network paths are not reachable from the sandbox")
        if t.kind != "drive":
            raise NtStatusError(STATUS_ACCESS_DENIED, f"device {t.device!r} is not a file system path")
        mount, n = self._mount_for(t.drive, t.components)
        if mount.lower is not None:
            return self._resolve_overlay(t, mount, n, open_link)
        root = str(mount.host)
        names = list(mount.prefix) if n else []
        host = mount.host
        rest = t.components[n:]
        for i, comp in enumerate(rest):
            P.validate_component(comp)
            entry = self._lookup(host, comp)
            last = i == len(rest) - 1
            if entry is None and self._layout:
                entry = self._layout_entry(host, comp)
            if entry is None:
                names.extend(rest[i:])
                tail = host.joinpath(*rest[i:])
                return _Resolved(t, mount, tail, False, last, False, names)
            cand = os.path.join(host, entry)
            real = os.path.realpath(cand)
            if not _inside(real, root):
                raise NtStatusError(STATUS_ACCESS_DENIED, "path leads outside the sandbox")
            names.append(entry)
            host = Path(real)
            try:
                st = os.stat(real)
            except OSError:
                # a dangling link (inside the root): treat the link target as missing
                names.extend(rest[i + 1:])
                return _Resolved(t, mount, host.joinpath(*rest[i + 1:]), False, last, False, names)
            if self._reparse and (not last or not open_link):
                rp = self._reparse.get(str(host))
                if rp is not None:
                    raise _Reparse(self._reparse_target(rp, t, names, list(rest[i + 1:])))
            if not last and not _stat.S_ISDIR(st.st_mode):
                raise NtStatusError(STATUS_OBJECT_PATH_NOT_FOUND, "a path component is not a directory")
            if last:
                if not (_stat.S_ISDIR(st.st_mode) or _stat.S_ISREG(st.st_mode)):
                    raise NtStatusError(STATUS_ACCESS_DENIED, "not a regular file or directory")
                if self._layout_kids and _stat.S_ISDIR(st.st_mode):
                    self._layout_children(host)
                return _Resolved(t, mount, host, True, True, _stat.S_ISDIR(st.st_mode), names)
        # the mount root (or drive root) itself
        if not os.path.isdir(host):
            raise NtStatusError(STATUS_OBJECT_PATH_NOT_FOUND, "mount root is missing on the host")
        if self._layout_kids:
            self._layout_children(host)
        return _Resolved(t, mount, host, True, True, True, names)

    def _overlay_entry(self, d: str | None, comp: str, root: str) -> tuple[str, str, os.stat_result | None] | None:
        """(on-disk name, real path, stat or None when dangling) of `comp` in the layer directory `d`, None when
        absent; ACCESS_DENIED when a host symlink leads outside the layer's root."""
        if d is None:
            return None
        entry = self._lookup(Path(d), comp)
        if entry is None:
            return None
        real = os.path.realpath(os.path.join(d, entry))
        if not _inside(real, root):
            raise NtStatusError(STATUS_ACCESS_DENIED, "path leads outside the sandbox")
        try:
            st = os.stat(real)
        except OSError:
            st = None
        return entry, real, st

    def _resolve_overlay(self, t: P.NtTarget, mount: _Mount, n: int, open_link: bool = False) -> _Resolved:
        """_resolve_target in a copy-on-write overlay: each component is looked up in the upper layer, then
        (unless hidden below a whiteout or an opaque directory) in the lower one; the upper one wins.  The
        entry's key is always its upper-layer path."""
        names = list(mount.prefix) if n else []
        rest = t.components[n:]
        uroot, lroot = str(mount.host), str(mount.lower)
        u: str | None = uroot        # the current directory in each layer (None: not there / not shown)
        lo: str | None = lroot
        key = uroot
        rel: tuple[str, ...] = ()
        for i, comp in enumerate(rest):
            P.validate_component(comp)
            last = i == len(rest) - 1
            rel += (fold(comp),)
            if rel in mount.hidden:
                lo = None
            eu = self._overlay_entry(u, comp, uroot)
            el = self._overlay_entry(lo, comp, lroot) if eu is None or (eu[2] is not None
                                                                         and _stat.S_ISDIR(eu[2].st_mode)) else None
            if eu is not None and eu[2] is None:
                eu = None           # a dangling link in the upper layer: as missing
            if el is not None and el[2] is None:
                el = None
            if eu is None and el is None:
                names.extend(rest[i:])
                tail = os.path.join(key, *rest[i:])
                return _Resolved(t, mount, Path(tail), False, last, False, names, key=tail)
            name, real, st = eu if eu is not None else el
            names.append(name)
            key = os.path.join(key, name)
            if self._reparse and (not last or not open_link):
                rp = self._reparse.get(key)
                if rp is not None:
                    raise _Reparse(self._reparse_target(rp, t, names, list(rest[i + 1:])))
            is_dir = _stat.S_ISDIR(st.st_mode)
            if not last and not is_dir:
                raise NtStatusError(STATUS_OBJECT_PATH_NOT_FOUND, "a path component is not a directory")
            if not (is_dir or _stat.S_ISREG(st.st_mode)):
                raise NtStatusError(STATUS_ACCESS_DENIED, "not a regular file or directory")
            if eu is not None:
                u = real
                lo = el[1] if el is not None and _stat.S_ISDIR(el[2].st_mode) and is_dir else None
            else:
                u = None
                lo = real if is_dir else None
            if last:
                return _Resolved(t, mount, Path(real), True, True, is_dir, names, key=key, lower=eu is None,
                                 lower_dir=lo if is_dir else None)
        return _Resolved(t, mount, Path(uroot), True, True, True, names, key=uroot, lower_dir=lo)

    def _resolve(self, path: str, cwd: str | None = None, root: VfsFile | None = None,
                 open_link: bool = False) -> _Resolved:
        return self._resolve_target(self._target(path, cwd, root), open_link)

    def resolve(self, path: str, cwd: str | None = None) -> tuple[Path, bool]:
        """(host path, read-only) for a Win32 or NT path. The entry need not exist, but its parent must."""
        r = self._resolve(path, cwd)
        if not r.parent_exists:
            raise NtStatusError(STATUS_OBJECT_PATH_NOT_FOUND, f"path not found: {path!r}")
        return r.host, r.readonly

    def host_dir_of(self, guest_dir: str) -> Path:
        r = self._resolve(guest_dir)
        if not r.exists:
            raise NtStatusError(STATUS_OBJECT_NAME_NOT_FOUND if r.parent_exists else STATUS_OBJECT_PATH_NOT_FOUND,
                                f"no such directory {guest_dir!r}")
        if not r.is_dir:
            raise NtStatusError(STATUS_NOT_A_DIRECTORY, f"not a directory: {guest_dir!r}")
        return r.host

    def system32(self, arch: str = "x64") -> Path:
        """Host directory of System32 (x64) or SysWOW64 (x86), where the subsystem writes its DLLs."""
        sub = "SysWOW64" if arch.lower() in ("x86", "i386", "i686", "win32") else "System32"
        return self.host_dir_of(f"{self.windir}\\{sub}")

    def wow64_redirect(self, path: str, arch: str, cwd: str | None = None) -> str:
        """The file system redirector for 32-bit processes: System32 → SysWOW64 (except the exempt
        subdirectories), Sysnative → System32. Win32 and \\??\\ / \\\\?\\ paths; other arches unchanged."""
        if arch.lower() not in ("x86", "i386", "i686", "win32"):
            return path
        prefix = ""
        body = path
        for pre in ("\\??\\", "\\\\?\\"):
            if path.startswith(pre):
                prefix, body = pre, path[len(pre):]
                break
        else:
            try:
                body = P.full_path(path, cwd)
            except NtStatusError:
                return path
            if body.startswith("\\\\"):
                return path
        windir = fold(self.windir) + "\\"
        if not fold(body).startswith(windir):
            return path
        rest = body[len(windir):]
        comps = rest.split("\\")
        first = fold(comps[0])
        if first == "SYSNATIVE":
            return prefix + body[:len(windir)] + "System32" + rest[len(comps[0]):]
        if first != "SYSTEM32":
            return path if not prefix else prefix + body
        sub = tuple(c.lower() for c in comps[1:] if c)
        for ex in self.WOW64_EXEMPT:
            if sub[:len(ex)] == ex:
                return prefix + body
        return prefix + body[:len(windir)] + "SysWOW64" + rest[len(comps[0]):]

    # --- information --------------------------------------------------------------------------------
    def _info_from_stat(self, name: str, st: os.stat_result, readonly: bool, host: Path | None,
                        path: str = "") -> FileInfo:
        is_dir = _stat.S_ISDIR(st.st_mode)
        attrs = FILE_ATTRIBUTE_DIRECTORY if is_dir else FILE_ATTRIBUTE_ARCHIVE
        if host is not None:
            attrs = self._attrs.get(str(host), attrs) | (FILE_ATTRIBUTE_DIRECTORY if is_dir else 0)
        if readonly and not is_dir:
            attrs |= FILE_ATTRIBUTE_READONLY
        tag = 0
        if self._reparse and host is not None:
            rp = self._reparse.get(str(host))
            if rp is not None:
                tag = rp.tag
                attrs = (attrs & ~FILE_ATTRIBUTE_NORMAL) | FILE_ATTRIBUTE_REPARSE_POINT
        if not attrs:
            attrs = FILE_ATTRIBUTE_NORMAL
        size = 0 if is_dir else st.st_size
        created = unix_ns_to_filetime(min(st.st_mtime_ns, st.st_ctime_ns))
        if host is not None and self._created:
            created = self._created.get(str(host), created)
        return FileInfo(name=name, attributes=attrs, size=size, creation_time=created,
                        last_access_time=unix_ns_to_filetime(st.st_atime_ns),
                        last_write_time=unix_ns_to_filetime(st.st_mtime_ns),
                        change_time=unix_ns_to_filetime(st.st_ctime_ns), is_dir=is_dir, path=path,
                        allocation_size=0 if is_dir else (size + 4095) // 4096 * 4096,
                        file_index=self.file_index(host), reparse_tag=tag)

    def _not_found(self, r: _Resolved, what: str) -> NtStatusError:
        if r.parent_exists:
            return NtStatusError(STATUS_OBJECT_NAME_NOT_FOUND, f"{what}: no such file {r.guest!r}")
        return NtStatusError(STATUS_OBJECT_PATH_NOT_FOUND, f"{what}: path not found {r.guest!r}")

    def stat(self, path: str, cwd: str | None = None, open_link: bool = False) -> FileInfo:
        """NtQueryAttributesFile / GetFileAttributesEx (`open_link`: a reparse point's own attributes, as
        NtQueryAttributesFile reports them; else where it leads)."""
        t = self._target(path, cwd)
        if t.kind == "device":
            dev = self._device_kind(t)
            return FileInfo(t.device, FILE_ATTRIBUTE_NORMAL if dev else FILE_ATTRIBUTE_DEVICE, 0, 0, 0, 0, 0,
                            False, t.win32)
        r = self._resolve_target(t, open_link)
        if not r.exists:
            raise self._not_found(r, "stat")
        if t.trailing and not r.is_dir:
            raise NtStatusError(STATUS_OBJECT_NAME_INVALID, "trailing separator on a file name")
        if self._delete_pending and self._pending(r.key):
            # (Wine's ntdll/tests/file.c test_file_disposition_information, as on Windows)
            raise NtStatusError(STATUS_DELETE_PENDING, f"delete pending: {r.guest!r}")
        st = os.stat(r.host)
        name = r.names[-1] if r.names else ""
        return self._info_from_stat(name, st, r.readonly, Path(r.key), r.guest)

    def exists(self, path: str, cwd: str | None = None) -> bool:
        try:
            self.stat(path, cwd)
            return True
        except NtStatusError:
            return False

    def set_attributes(self, path: str, attributes: int, cwd: str | None = None) -> None:
        """SetFileAttributes (READONLY, HIDDEN, SYSTEM, ARCHIVE, TEMPORARY are kept in memory)."""
        status = STATUS_SUCCESS
        shown = path
        try:
            r = self._resolve(path, cwd, open_link=True)
            shown = r.guest
            if not r.exists:
                raise self._not_found(r, "set attributes")
            if r.readonly:
                raise NtStatusError(STATUS_ACCESS_DENIED, "read-only mount")
            self._attrs[r.key] = attributes & _SETTABLE_ATTRIBUTES
        except NtStatusError as e:
            status = e.status
            raise
        finally:
            self._log("setattr", shown, status, attributes=attributes)
            if status == STATUS_SUCCESS:
                self._notify(3, shown, False, 0x4)

    def listdir(self, path: str, pattern: str = "*", cwd: str | None = None,
                open_link: bool = False) -> list[FileInfo]:
        """NtQueryDirectoryFile / FindFirstFile: the matching entries, '.' and '..' first (not in a drive
        root), the rest in NTFS (upcased) order. Entries that are host symlinks leading outside the
        sandbox, and host FIFOs/sockets/devices, are not shown."""
        status = STATUS_SUCCESS
        guest = path
        try:
            if not pattern:
                pattern = "*"
            if "\\" in pattern or "/" in pattern or "\x00" in pattern:
                raise NtStatusError(STATUS_OBJECT_NAME_INVALID, f"bad pattern {pattern!r}")
            r = self._resolve(path, cwd, open_link=open_link)
            guest = r.guest
            if not r.exists:
                raise self._not_found(r, "list")
            if not r.is_dir:
                raise NtStatusError(STATUS_NOT_A_DIRECTORY, f"not a directory: {r.guest!r}")
            out: list[FileInfo] = []
            if not r.is_root:
                st = os.stat(r.host)
                # "." and ".." are the directory's and its parent's entries (their FileId, attributes, times)
                out.append(self._info_from_stat(".", st, r.readonly, Path(r.key), r.guest))
                parent = f"{r.target.drive}:\\" + "\\".join(r.names[:-1])
                try:
                    pr = self._resolve(parent)
                    out.append(self._info_from_stat("..", os.stat(pr.host), pr.readonly, Path(pr.key), pr.guest))
                except (NtStatusError, OSError):
                    out.append(self._info_from_stat("..", st, r.readonly, None, parent))
            entries: dict[str, FileInfo] = {}
            # mount points directly below this directory
            here = tuple(fold(c) for c in r.target.components)
            child_mounts = {}
            for m in self._mounts:
                if m.drive == r.target.drive and len(m.key) == len(here) + 1 and m.key[:-1] == here:
                    child_mounts[m.key[-1]] = m
            seen: set[str] = set()
            for d, root, is_lower in self._layer_dirs(r):
                with os.scandir(d) as it:
                    for e in it:
                        name = e.name
                        k = fold(name)
                        if k in child_mounts or k in seen or (is_lower and r.rel + (k,) in r.mount.hidden):
                            continue
                        try:
                            real = os.path.realpath(e.path)
                            if not _inside(real, root):
                                continue
                            st = os.stat(real)
                        except (OSError, ValueError):
                            continue
                        if not (_stat.S_ISDIR(st.st_mode) or _stat.S_ISREG(st.st_mode)):
                            continue
                        seen.add(k)
                        ident = Path(real) if r.mount.lower is None else Path(os.path.join(r.key, name))
                        entries[name] = self._info_from_stat(name, st, r.readonly, ident,
                                                             r.guest.rstrip("\\") + "\\" + name)
            for m in child_mounts.values():
                try:
                    st = os.stat(m.host)
                except OSError:
                    continue
                entries[m.prefix[-1]] = self._info_from_stat(m.prefix[-1], st, m.readonly, m.host, m.guest)
            for name in sorted(entries, key=lambda s: fold(s).encode("utf-16-be")):
                out.append(entries[name])
            return [fi for fi in out if P.find_match(pattern, fi.name)]
        except NtStatusError as e:
            status = e.status
            raise
        finally:
            self._log("list", guest, status, pattern=pattern)

    def find(self, spec: str, cwd: str | None = None) -> list[FileInfo]:
        """FindFirstFile("C:\\dir\\*.txt"): STATUS_NO_SUCH_FILE (ERROR_FILE_NOT_FOUND) when nothing matches."""
        nt_form = spec.startswith(("\\??\\", "\\\\?\\"))
        cut = max(spec.rfind("\\"), -1 if nt_form else spec.rfind("/"))
        if cut < 0 and len(spec) >= 2 and spec[1] == ":":
            cut = 1
        d, pattern = (spec[:cut + 1], spec[cut + 1:]) if cut >= 0 else (".", spec)
        res = self.listdir(d, pattern or "*", cwd)
        if not res:
            raise NtStatusError(STATUS_NO_SUCH_FILE, f"no file matches {spec!r}")
        return res

    # --- devices ------------------------------------------------------------------------------------
    def _device_kind(self, t: P.NtTarget) -> str | None:
        """'null', 'console', 'conin', 'conout' for the devices the sandbox has; raise otherwise."""
        if t.components and any(t.components):
            raise NtStatusError(STATUS_OBJECT_PATH_NOT_FOUND, f"no such device path {t.nt_path!r}")
        name = fold(t.device)
        if name == "NUL":
            return "null"
        if name == "CON":
            return "console"
        if name == "CONIN$":
            return "conin"
        if name == "CONOUT$":
            return "conout"
        if name.startswith(("PHYSICALDRIVE", "HARDDISK", "VOLUME{", "CDROM", "TAPE")) or \
                (len(name) == 2 and name[1] == ":"):
            raise NtStatusError(STATUS_ACCESS_DENIED, f"raw device access is denied: {t.device!r}")
        raise NtStatusError(STATUS_OBJECT_NAME_NOT_FOUND, f"no such device {t.device!r}")

    def _device_read(self, f: VfsFile, n: int) -> bytes:
        con = self.console
        if f.device in ("console", "conin") and con is not None:
            return con.stdin.read(n if n >= 0 else 4096)
        return b""

    def _device_write(self, f: VfsFile, data: bytes) -> int:
        con = self.console
        if f.device in ("console", "conout") and con is not None:
            return con.stdout.write(data)
        return len(data)

    # --- open / create ------------------------------------------------------------------------------
    def open(self, path: str, *, access: int = GENERIC_READ, disposition: int = FILE_OPEN, options: int = 0,
             share: int = FILE_SHARE_ALL, cwd: str | None = None, attributes: int = 0,
             root: VfsFile | None = None) -> VfsFile:
        """NtCreateFile. Raises NtStatusError with the status NtCreateFile would return; on success the
        VfsFile's `information` is FILE_CREATED / FILE_OPENED / FILE_OVERWRITTEN / FILE_SUPERSEDED."""
        shown = path
        try:
            t = self._target(path, cwd, root)
            shown = t.win32
            f = self._open(t, access, disposition, options, share, attributes)
        except NtStatusError as e:
            self._log("open", shown, e.status, access=access, disposition=disposition)
            raise
        self._log("open", f.path, STATUS_SUCCESS, access=access, disposition=disposition, info=f.information)
        if self.change_listeners and f.information != FILE_OPENED and f.device is None:
            if f.information == FILE_CREATED:
                self._notify(1, f.path, f.is_dir)
            else:       # overwritten / superseded: its size and time change
                self._notify(3, f.path, f.is_dir, 0x8 | 0x10)
        return f

    def _open(self, t: P.NtTarget, access: int, disposition: int, options: int, share: int,
              attributes: int) -> VfsFile:
        if disposition not in range(6):
            raise NtStatusError(STATUS_INVALID_PARAMETER, f"bad create disposition {disposition}")
        if options & FILE_DIRECTORY_FILE and options & FILE_NON_DIRECTORY_FILE:
            raise NtStatusError(STATUS_INVALID_PARAMETER, "FILE_DIRECTORY_FILE with FILE_NON_DIRECTORY_FILE")
        if options & FILE_DIRECTORY_FILE and disposition not in (FILE_CREATE, FILE_OPEN, FILE_OPEN_IF):
            raise NtStatusError(STATUS_INVALID_PARAMETER, "directories can only be created or opened")
        if t.kind == "device":
            kind = self._device_kind(t)
            # FILE_DIRECTORY_FILE is a file system's check: a device's driver (NUL, CON) ignores it (Wine's
            # ntdll/tests/om.c test_symboliclink opens NUL with it)
            acc = map_generic(access)
            return VfsFile(self, fd=None, host_path=None, path=t.win32, nt_path=t.nt_path, access=acc,
                           share=share, options=options, is_dir=False, readonly=False,
                           information=FILE_OPENED, device=kind)
        r = self._resolve_target(t, bool(options & FILE_OPEN_REPARSE_POINT))
        acc = map_generic(access, readonly=r.readonly)
        if options & FILE_DELETE_ON_CLOSE and not acc & DELETE:
            raise NtStatusError(STATUS_INVALID_PARAMETER, "FILE_DELETE_ON_CLOSE needs DELETE access")
        if not r.parent_exists:
            raise NtStatusError(STATUS_OBJECT_PATH_NOT_FOUND, f"path not found: {r.guest!r}")
        wants_write = bool(acc & _WRITE_ACCESS) or bool(options & FILE_DELETE_ON_CLOSE)
        key = r.key
        if r.exists:
            if disposition == FILE_CREATE:
                raise NtStatusError(STATUS_OBJECT_NAME_COLLISION, f"already exists: {r.guest!r}")
            if r.is_dir:
                if options & FILE_NON_DIRECTORY_FILE:
                    raise NtStatusError(STATUS_FILE_IS_A_DIRECTORY, f"is a directory: {r.guest!r}")
                if disposition in (FILE_SUPERSEDE, FILE_OVERWRITE, FILE_OVERWRITE_IF):
                    # (Wine's ntdll/tests/file.c create_file_test accepts this or STATUS_ACCESS_DENIED from
                    # Windows; Wine answers this one)
                    raise NtStatusError(STATUS_OBJECT_NAME_COLLISION, f"cannot overwrite a directory: {r.guest!r}")
            else:
                if options & FILE_DIRECTORY_FILE:
                    raise NtStatusError(STATUS_NOT_A_DIRECTORY, f"not a directory: {r.guest!r}")
                if t.trailing:
                    raise NtStatusError(STATUS_OBJECT_NAME_INVALID, "trailing separator on a file name")
            truncate = disposition in (FILE_SUPERSEDE, FILE_OVERWRITE, FILE_OVERWRITE_IF)
            if r.readonly and (wants_write or truncate):
                raise NtStatusError(STATUS_ACCESS_DENIED, f"read-only: {r.guest!r}")
            if (r.is_root or self._is_mount_root(r)) and (acc & DELETE or options & FILE_DELETE_ON_CLOSE):
                raise NtStatusError(STATUS_ACCESS_DENIED, "cannot delete a root directory")
            if not r.is_dir and self._attrs.get(key, 0) & FILE_ATTRIBUTE_READONLY and \
                    (acc & (FILE_WRITE_DATA | FILE_APPEND_DATA) or truncate or options & FILE_DELETE_ON_CLOSE):
                raise NtStatusError(STATUS_ACCESS_DENIED, f"file is read-only: {r.guest!r}")
            if self._pending(key):
                raise NtStatusError(STATUS_DELETE_PENDING, f"delete pending: {r.guest!r}")
            if not r.is_dir and self._image_in_use(key):
                if options & FILE_DELETE_ON_CLOSE:
                    raise NtStatusError(STATUS_CANNOT_DELETE, f"image file in use: {r.guest!r}")
                if acc & FILE_WRITE_DATA or truncate:     # (MmFlushForWrite: not for FILE_APPEND_DATA)
                    raise NtStatusError(STATUS_SHARING_VIOLATION, f"image file in use: {r.guest!r}")
            if not r.is_dir and self._data_sections and acc & (_SHARE_READ_ACCESS | _SHARE_WRITE_ACCESS | DELETE) \
                    and not share & FILE_SHARE_WRITE and self._writable_section_exists(key):
                # a read/write section of the file is a user-writable reference: IoCheckShareAccess counts it
                # as a writer that every later open must share write with (kernel32/tests/file.c
                # test_file_sharing, written on Windows)
                raise NtStatusError(STATUS_SHARING_VIOLATION, f"a writable section of {r.guest!r} exists")
            self._check_share(key, acc, share)
            if truncate and not r.is_dir and self._data_sections and self._data_section_in_use(key):
                # MmCanFileBeTruncated, after the share check: a section of the file exists
                raise NtStatusError(STATUS_USER_MAPPED_FILE, f"a section of the file exists: {r.guest!r}")
            if self.tracking and not r.is_dir and (acc & (FILE_WRITE_DATA | FILE_APPEND_DATA) or truncate):
                self._touch(key, r.guest, existed=True)
            if r.lower and (acc & _CHANGE_ACCESS or truncate):
                self._copy_up(r)        # the first change to a host file under an overlay
            if r.is_dir:
                fd = self._os_open(r.host, os.O_RDONLY | os.O_DIRECTORY)
                info = FILE_OPENED
            else:
                rw = acc & (FILE_WRITE_DATA | FILE_APPEND_DATA) or truncate
                fd = self._os_open(r.host, os.O_RDWR if rw else os.O_RDONLY)
                info = FILE_OPENED
                if truncate:
                    os.ftruncate(fd, 0)
                    info = FILE_SUPERSEDED if disposition == FILE_SUPERSEDE else FILE_OVERWRITTEN
                    # "the file attributes to set if you create or overwrite a file" (ZwCreateFile's
                    # FileAttributes): an overwrite adds them (with ARCHIVE) to the file's, a supersede replaces
                    # them (Wine's ntdll/tests/file.c test_file_disposition_information: a read-only overwrite)
                    given = attributes & _SETTABLE_ATTRIBUTES
                    if given & ~FILE_ATTRIBUTE_ARCHIVE:
                        old = 0 if disposition == FILE_SUPERSEDE else self._attrs.get(key, 0)
                        self._attrs[key] = old | given | FILE_ATTRIBUTE_ARCHIVE
        else:
            if disposition in (FILE_OPEN, FILE_OVERWRITE):
                raise NtStatusError(STATUS_OBJECT_NAME_NOT_FOUND, f"no such file: {r.guest!r}")
            if r.readonly:
                raise NtStatusError(STATUS_ACCESS_DENIED, f"read-only: {r.guest!r}")
            if t.trailing and not options & FILE_DIRECTORY_FILE:
                raise NtStatusError(STATUS_OBJECT_NAME_INVALID, "trailing separator on a file name")
            if r.mount.lower is not None:
                self._upper_parent(r.key)
            if options & FILE_DIRECTORY_FILE:
                try:
                    os.mkdir(r.host)
                except FileExistsError:
                    raise NtStatusError(STATUS_OBJECT_NAME_COLLISION, f"already exists: {r.guest!r}")
                except OSError as e:
                    raise self._oserror(e)
                fd = self._os_open(r.host, os.O_RDONLY | os.O_DIRECTORY)
                r.is_dir = True
            else:
                fd = self._os_open(r.host, os.O_RDWR | os.O_CREAT | os.O_EXCL)
            self._note_created(r.host)
            if self.tracking and not r.is_dir:
                self._touch(key, r.guest, existed=False)
            if attributes & _SETTABLE_ATTRIBUTES & ~FILE_ATTRIBUTE_ARCHIVE:
                self._attrs[key] = attributes & _SETTABLE_ATTRIBUTES | (0 if r.is_dir else FILE_ATTRIBUTE_ARCHIVE)
            info = FILE_CREATED
        hf = self._host_file(fd, r.host, r.is_dir, writable=not r.is_dir and bool(
            acc & (FILE_WRITE_DATA | FILE_APPEND_DATA) or info in (FILE_OVERWRITTEN, FILE_SUPERSEDED, FILE_CREATED)))
        f = VfsFile(self, fd=hf, host_path=Path(key), path=r.guest, nt_path=f"\\??\\{r.guest}", access=acc,
                    share=share, options=options, is_dir=r.is_dir, readonly=r.readonly, information=info)
        opens = self._opens.get(key)
        if opens is None:
            opens = self._opens[key] = _ShareState()
        opens.add(f)
        return f

    def _host_file(self, fd: int, host: Path, is_dir: bool, writable: bool) -> _HostFile:
        """The shared host file of a descriptor just opened: a second handle to an inode that already has
        one reuses it (and its descriptors), so handles to one file cost one host descriptor."""
        st = os.fstat(fd)
        ident = (st.st_dev, st.st_ino)
        hf = self._host_files.get(ident)
        if hf is None:
            hf = self._host_files[ident] = _HostFile(self, ident, host, is_dir)
        elif not hf.pinned:
            hf.path = host
        hf.users += 1
        if writable in hf.fds:
            os.close(fd)
            if not hf.pinned:
                self._fd_lru.move_to_end((hf, writable))
        else:
            hf.adopt(fd, writable)
        return hf

    def _trim_fds(self) -> None:
        """Close the least recently used host descriptors beyond max_host_fds (opened again on demand)."""
        while len(self._fd_lru) > self.max_host_fds:
            (hf, mode), _ = self._fd_lru.popitem(last=False)
            fd = hf.fds.pop(mode, None)
            if fd is not None:
                try:
                    os.close(fd)
                except OSError:
                    pass

    def _os_open(self, host: Path, flags: int) -> int:
        flags |= os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NONBLOCK", 0)
        try:
            try:
                fd = os.open(host, flags, 0o644)
            except OSError as e:
                if e.errno not in (errno.EMFILE, errno.ENFILE) or not self._fd_lru:
                    raise
                # the host process is out of descriptors: give back the pooled ones and try once more
                keep, self.max_host_fds = self.max_host_fds, 0
                self._trim_fds()
                self.max_host_fds = keep
                fd = os.open(host, flags, 0o644)
        except OSError as e:
            raise self._oserror(e)
        st = os.fstat(fd)
        if not (_stat.S_ISREG(st.st_mode) or _stat.S_ISDIR(st.st_mode)):
            os.close(fd)
            raise NtStatusError(STATUS_ACCESS_DENIED, "not a regular file or directory")
        if _stat.S_ISREG(st.st_mode) and st.st_nlink > 1 and (st.st_dev, st.st_ino) not in self.guest_links:
            os.close(fd)
            raise NtStatusError(STATUS_ACCESS_DENIED, HARD_LINK_REFUSED)
        try:
            os.set_blocking(fd, True)
        except OSError:
            pass
        return fd

    @staticmethod
    def _oserror(e: OSError) -> NtStatusError:
        m = {errno.ENOENT: STATUS_OBJECT_NAME_NOT_FOUND, errno.EEXIST: STATUS_OBJECT_NAME_COLLISION,
             errno.ENOTDIR: STATUS_OBJECT_PATH_NOT_FOUND, errno.EISDIR: STATUS_FILE_IS_A_DIRECTORY,
             errno.EACCES: STATUS_ACCESS_DENIED, errno.EPERM: STATUS_ACCESS_DENIED,
             errno.ELOOP: STATUS_ACCESS_DENIED, errno.EROFS: STATUS_ACCESS_DENIED,
             errno.ENOTEMPTY: STATUS_DIRECTORY_NOT_EMPTY, errno.ENOSPC: STATUS_DISK_FULL,
             errno.EXDEV: STATUS_NOT_SAME_DEVICE, errno.ENAMETOOLONG: STATUS_OBJECT_NAME_INVALID,
             errno.EINVAL: STATUS_OBJECT_NAME_INVALID,
             errno.EMFILE: STATUS_TOO_MANY_OPENED_FILES, errno.ENFILE: STATUS_TOO_MANY_OPENED_FILES}
        return NtStatusError(m.get(e.errno, STATUS_UNSUCCESSFUL), f"host: {e.strerror}")

    def _check_share(self, key: str, acc: int, share: int, exclude: "VfsFile | None" = None) -> None:
        """IoCheckShareAccess (`exclude`: a handle whose own access does not count, as when a handle renames
        or deletes its own file)."""
        if not acc & (_SHARE_READ_ACCESS | _SHARE_WRITE_ACCESS | DELETE):
            return
        o = self._opens.get(key)
        if o is not None and exclude is not None and exclude in o.files:
            rest = _ShareState()
            for f in o.files:
                if f is not exclude and not f.released:
                    rest.add(f)
            o = rest
        if o is None or not o.open_count:
            return
        if (acc & _SHARE_READ_ACCESS and o.shared_read < o.open_count) or \
           (acc & _SHARE_WRITE_ACCESS and o.shared_write < o.open_count) or \
           (acc & DELETE and o.shared_delete < o.open_count) or \
           (o.readers and not share & FILE_SHARE_READ) or \
           (o.writers and not share & FILE_SHARE_WRITE) or \
           (o.deleters and not share & FILE_SHARE_DELETE):
            raise NtStatusError(STATUS_SHARING_VIOLATION,
                                f"sharing violation with open {next(iter(o.files)).path!r}")

    def _closed(self, f: VfsFile) -> None:
        """The file object is gone (its last reference): it leaves its path's list."""
        if f.host_path is None:
            return
        key = str(f.host_path)
        lst = self._opens.get(key)
        if lst is not None:
            lst.remove(f)
            if not lst:
                self._opens.pop(key, None)

    def _cleanup(self, f: VfsFile) -> None:
        """The last handle of the file object is closed: its share access goes, and when no handle to the file
        is left, a delete on close (or a delete disposition) removes it now, although a section may still
        reference the file object (it keeps its host descriptor)."""
        if f.host_path is None:
            return
        key = str(f.host_path)
        lst = self._opens.get(key)
        if lst is not None:
            lst.release(f)
        if f.delete_on_close:
            self._delete_pending.add(key)
        if lst is None or not lst.active():
            if key in self._delete_pending:
                if lst is not None:
                    self._pin_open(key)         # file objects a section keeps: their descriptors stay
                    for other in list(lst):
                        other.unlinked = True
                    self._opens.pop(key, None)
                self._delete_pending.discard(key)
                try:
                    self._unlink_key(key, f.is_dir)
                    self._attrs.pop(key, None)
                    self._log("delete", f.path, STATUS_SUCCESS, on_close=True)
                    self._notify(2, f.path, f.is_dir)
                except OSError as e:
                    self._log("delete", f.path, self._oserror(e).status, on_close=True)

    # --- image files ------------------------------------------------------------------------------------
    def register_image_section(self, host: Path | str, section) -> None:
        """An image section was made from this host file (NtCreateSection(SEC_IMAGE)): while a view of it is
        mapped (``section.views``), the file cannot be deleted (STATUS_CANNOT_DELETE) nor opened for writing
        (STATUS_SHARING_VIOLATION), as MmFlushImageSection refuses on Windows; it can be renamed."""
        lst = self._image_sections.setdefault(self._key_of_host(str(host)), [])
        if not any(x is section for x in lst):
            lst.append(section)

    def register_data_section(self, host: Path | str, section) -> None:
        """A data section was made from this host file (NtCreateSection of a file, CreateFileMapping): while it
        has a handle or a mapped view, the file cannot be deleted (STATUS_CANNOT_DELETE; Wine's
        ntdll/tests/file.c test_file_disposition_information, as on Windows)."""
        self._data_sections.setdefault(self._key_of_host(str(host)), []).append(section)

    def _data_section_in_use(self, key: str | Path) -> bool:
        lst = self._data_sections.get(str(key))
        if not lst:
            return False
        live = self.section_in_use
        lst[:] = [sec for sec in lst if sec.handle_count > 0 or (live is not None and live(sec))]
        return bool(lst)

    def _writable_section_exists(self, key: str | Path) -> bool:
        """Does a read/write data section of the file with this key exist (a handle or a mapped view)?"""
        return self._data_section_in_use(key) and any(getattr(sec, "writable", False)
                                                      for sec in self._data_sections.get(str(key), ()))

    def _image_in_use(self, key: str | Path) -> bool:
        """Does an image section made from the file with this key (VfsFile.host_path) exist: a handle to it,
        or a mapped view (MmFlushImageSection refuses while the image's control area is referenced)?"""
        if not self._image_sections:
            return False
        live = self.section_in_use
        return any(getattr(sec, "handle_count", 0) > 0 or (sec.views > 0 and (live is None or live(sec)))
                   for sec in self._image_sections.get(str(key), ()))

    # --- dropped files ---------------------------------------------------------------------------------------
    def _real_of(self, key: str) -> str:
        """The host file an entry's key stands for now: the key itself, or under an overlay the lower layer's
        file while it has not been copied up."""
        ov = self._overlay_of(key)
        if ov is None or os.path.lexists(key):
            return key
        m, rel = ov
        if any(rel[:i] in m.hidden for i in range(1, len(rel) + 1)):
            return key                          # deleted: a whiteout hides the lower file
        return str(m.lower) + key[len(str(m.host)):]

    def _touch(self, key: str, guest: str, existed: bool) -> None:
        """The guest created a file or opened it for writing (tracking: the files it drops)."""
        if key in self.changes:
            return
        rec = {"path": guest, "existed": existed, "sha256": None}
        if existed:     # to tell "modified" from "opened for writing and left as it was" (files up to 64 MB)
            rec["sha256"] = _sha256_file(self._real_of(key), limit=64 << 20)
        self.changes[key] = rec

    def _before_remove(self, key: str, is_dir: bool) -> None:
        """A file is about to be deleted: keep a copy of what the guest wrote into it (the stash, within the
        dropped-files cap), and remember that a file that was there before is gone."""
        if not self.tracking or is_dir:
            return
        rec = self.changes.get(key)
        real = self._real_of(key)
        if rec is None:
            self.changes[key] = {"path": self._guest_of_key(key), "existed": True, "sha256": _sha256_file(real)}
            return
        try:
            size = os.path.getsize(real)
        except OSError:
            return
        if self._stash_bytes + size > self.dropped_cap:
            rec["stash"] = None
            self.dropped_truncated = True
            return
        stash = Path(self.sandbox_root) / "dropped-stash"
        _mkdirs(str(stash))
        dst = stash / str(len(os.listdir(stash)))
        try:
            self._copy_file(Path(real), dst)
        except (OSError, NtStatusError):
            return
        self._stash_bytes += size
        rec["stash"] = str(dst)

    def _guest_of_key(self, key: str) -> str:
        """The guest path of a key, from the open handles' and changes' records (the log's path otherwise)."""
        for f in self._opens.get(key, ()):
            return f.path
        for m in self._mounts:
            root = str(m.host)
            if key == root or key.startswith(root + os.sep):
                tail = key[len(root):].strip(os.sep).replace(os.sep, "\\")
                base = m.guest.rstrip("\\")
                return base + ("\\" + tail if tail else "")
        return key

    def _moved(self, skey: str, dkey: str, sguest: str, dguest: str, replaced: bool = False) -> None:
        """A rename: the tracked files move with it; a file renamed away from where it was before the run is
        gone from there, its new name is created."""
        if not self.tracking:
            return
        moved = [k for k in self.changes if k == skey or k.startswith(skey + os.sep)]
        if not moved and os.path.isfile(dkey):
            self.changes[skey] = {"path": sguest, "existed": True, "sha256": None, "moved_to": dguest}
            self.changes[dkey] = {"path": dguest, "existed": replaced, "sha256": None}
            return
        for k in moved:
            rec = self.changes.pop(k)
            tail = k[len(skey):]
            if rec["existed"]:
                self.changes[k] = {"path": rec["path"], "existed": True, "sha256": rec["sha256"],
                                   "moved_to": dguest + tail.replace(os.sep, "\\")}
            self.changes[dkey + tail] = dict(rec, path=dguest + tail.replace(os.sep, "\\"),
                                             existed=replaced and not tail)

    def dropped_files(self, out_dir: Path | str | None = None) -> dict:
        """What the guest left in the file system since tracking began, file by file: {"files": [{path,
        state: created|modified|deleted, size, sha256, kept}], "truncated", "cap"}.  With out_dir, each file's
        content (a deleted one's last content, when the stash kept it) is copied to out_dir/<drive>/<guest
        path> (``kept`` is that relative path) until ``dropped_cap`` bytes are copied; past it ``truncated``."""
        files = []
        copied = 0
        truncated = self.dropped_truncated
        out = Path(out_dir) if out_dir is not None else None
        for key, rec in list(self.changes.items())[:self.dropped_max_files]:
            real = self._real_of(key)
            exists = os.path.isfile(real) and not os.path.islink(real)
            if exists:
                state = "modified" if rec["existed"] else "created"
                src = real
            else:
                if os.path.lexists(real):      # now a directory
                    continue
                state = "deleted"
                src = rec.get("stash")
                if not rec["existed"] and src is None and rec.get("moved_to"):
                    continue
            sha = _sha256_file(src) if src else rec.get("sha256")
            if state == "modified" and rec.get("sha256") is not None and sha == rec["sha256"]:
                continue                       # opened for writing, left as it was
            try:
                size = os.path.getsize(src) if src else None
            except OSError:
                size = None
            item = {"path": rec["path"], "state": state, "size": size, "sha256": sha, "kept": None}
            if not rec["existed"] and state == "deleted":
                item["transient"] = True       # created and deleted during the run
            if rec.get("moved_to"):
                item["moved_to"] = rec["moved_to"]
            if out is not None and src and size is not None:
                if copied + size > self.dropped_cap:
                    truncated = True
                else:
                    rel = _guest_rel(rec["path"])
                    if rel:
                        dst = out.joinpath(*rel)
                        try:
                            _mkdirs(str(dst.parent))
                            self._copy_file(Path(src), dst)
                            copied += size
                            item["kept"] = "/".join(rel)
                        except (OSError, NtStatusError):
                            pass
            files.append(item)
        if len(self.changes) > self.dropped_max_files:
            truncated = True
        files.sort(key=lambda x: fold(x["path"]))
        return {"files": files, "truncated": truncated, "cap": self.dropped_cap,
                "copied_bytes": copied, "folder": str(out) if out is not None else None}

    # --- copy-on-write overlays ----------------------------------------------------------------------------
    def file_index(self, key) -> int:
        """file_index_of the entry with this key; in an overlay, of its host (lower-layer) path, so that a file's
        index is the same whichever layer holds it and in every run."""
        if key is None:
            return 0
        entry = str(key)
        ov = self._overlay_of(entry)
        if ov is not None:
            m = ov[0]
            key = str(m.lower) + entry[len(str(m.host)):]
        index = file_index_of(key)
        ids = self._file_ids
        if ids.get(index) != entry:
            ids.pop(index, None)
            ids[index] = entry           # what FILE_OPEN_BY_FILE_ID opens (the most recent ids handed out)
            if len(ids) > self.MAX_FILE_IDS:
                del ids[next(iter(ids))]
        return index

    MAX_FILE_IDS = 200_000

    def guest_path_of_file_id(self, index: int) -> str | None:
        """The guest path of the entry whose file index (FileInternalInformation, a directory entry's FileId)
        this run handed out, if it still exists (FILE_OPEN_BY_FILE_ID); None otherwise."""
        key = self._file_ids.get(index)
        if key is None or not os.path.lexists(self._real_of(key)):
            return None
        return self._guest_of_key(key)

    def _key_of_host(self, host: str) -> str:
        """The key of the entry at a host path (Vfs.resolve's): in an overlay's lower layer, its upper path."""
        for m in self._overlays:
            lo = str(m.lower)
            if host == lo or host.startswith(lo + os.sep):
                return str(m.host) + host[len(lo):]
        return host

    def _overlay_of(self, key: str) -> tuple[_Mount, tuple[str, ...]] | None:
        """(overlay mount, folded components below it) of an upper-layer key, None outside every overlay."""
        if not self._overlays:
            return None
        for m in self._overlays:
            root = str(m.host)
            if key == root or key.startswith(root + os.sep):
                return m, tuple(fold(c) for c in key[len(root):].split(os.sep) if c)
        return None

    def _unlink_key(self, key: str, is_dir: bool) -> None:
        """Remove the entry with this key: its host file — in an overlay the upper layer's copy, if any, and a
        whiteout hides the lower one."""
        ov = self._overlay_of(key)
        self._before_remove(key, is_dir)
        if ov is None or os.path.lexists(key):
            if is_dir:
                os.rmdir(key)
            else:
                os.unlink(key)
        if ov is not None:
            ov[0].hidden.add(ov[1])
        self._reparse.pop(key, None)

    def _upper_parent(self, key: str) -> None:
        """The upper-layer directories above an overlay key, made where only the lower layer had them."""
        d = os.path.dirname(key)
        if not os.path.isdir(d):
            _mkdirs(d)

    def _copy_up(self, r: _Resolved) -> None:
        """The first change to an entry read from an overlay's lower layer: copy it to the upper layer (a
        directory: itself, its entries stay shown from below), with its times, and move the handles open on it
        there.  Charged to the sandbox's write quota (STATUS_DISK_FULL beyond it)."""
        if not r.lower:
            return
        src = str(r.host)
        self._upper_parent(r.key)
        try:
            st = os.stat(src)
            if r.is_dir:
                os.mkdir(r.key)
            else:
                self._charge(st.st_size, st.st_size)
                self._copy_file(Path(src), Path(r.key))
            os.utime(r.key, ns=(st.st_atime_ns, st.st_mtime_ns))
        except OSError as e:
            raise self._oserror(e)
        self.copied_up += 1
        r.host, r.lower = Path(r.key), False
        self._note_created(r.host)
        for f in list(self._opens.get(r.key, ())):
            hf = f._hf
            if hf is None or hf.pinned or str(hf.path) == r.key:
                continue
            fd = self._os_open(r.host, os.O_RDONLY | (os.O_DIRECTORY if r.is_dir else 0))
            f._hf = self._host_file(fd, r.host, r.is_dir, writable=False)
            hf.release()

    def _copy_up_tree(self, r: _Resolved, depth: int = 0) -> None:
        """Copy an overlay entry and, for a directory, everything shown below it to the upper layer (before a
        rename: the moved tree no longer needs the lower layer)."""
        if depth > 256:
            raise NtStatusError(STATUS_ACCESS_DENIED, "directory tree too deep to copy up")
        self._copy_up(r)
        if not r.is_dir or r.lower_dir is None:
            return
        for name in self._merged_children(r):
            c = self._resolve_target(P.NtTarget("drive", drive=r.target.drive,
                                                components=list(r.target.components) + [name]), open_link=True)
            if c.exists:
                self._copy_up_tree(c, depth + 1)

    def _layer_dirs(self, r: _Resolved) -> list[tuple[str, str, bool]]:
        """The host directories whose entries make the directory r: (path, its layer's root, lower?)."""
        m = r.mount
        if m.lower is None:
            return [(str(r.host), str(m.host), False)]
        out = []
        if not r.lower and os.path.isdir(r.key):
            out.append((r.key, str(m.host), False))
        if r.lower_dir is not None:
            out.append((r.lower_dir, str(m.lower), True))
        return out

    def _merged_children(self, r: _Resolved) -> list[str]:
        """The names shown in the directory r (both layers of an overlay, whiteouts left out)."""
        seen: dict[str, str] = {}
        for d, root, is_lower in self._layer_dirs(r):
            try:
                names = os.listdir(d)
            except OSError:
                continue
            for name in names:
                k = fold(name)
                if k in seen or (is_lower and r.rel + (k,) in r.mount.hidden):
                    continue
                p = os.path.join(d, name)
                real = os.path.realpath(p)
                if not _inside(real, root):
                    continue
                seen[k] = name
        return list(seen.values())

    def _pin_open(self, key: str) -> None:
        """The path ``key`` is about to be unlinked while handles have it open (POSIX delete: they live
        on): their host files keep their descriptors, since the path will no longer lead there."""
        modes: dict[_HostFile, bool] = {}
        for f in self._opens.get(key, ()):
            if f._hf is not None and not f._hf.pinned:
                modes[f._hf] = modes.get(f._hf, False) or f._writes
        for hf, write in modes.items():
            hf.pin(write)

    def _is_mount_root(self, r: _Resolved) -> bool:
        key = tuple(fold(c) for c in r.target.components)
        return any(m.drive == r.target.drive and m.key == key for m in self._mounts)

    def _contains_mount(self, r: _Resolved) -> bool:
        key = tuple(fold(c) for c in r.target.components)
        return any(m.drive == r.target.drive and m.key[:len(key)] == key and len(m.key) > len(key)
                   for m in self._mounts)

    # --- directory / file operations ------------------------------------------------------------------
    def mkdir(self, path: str, cwd: str | None = None) -> None:
        """CreateDirectory (NtCreateFile FILE_CREATE | FILE_DIRECTORY_FILE)."""
        f = self.open(path, access=FILE_LIST_DIRECTORY | SYNCHRONIZE, disposition=FILE_CREATE,
                      options=FILE_DIRECTORY_FILE, cwd=cwd)
        f.close()

    def _remove(self, op: str, path: str, cwd: str | None, want_dir: bool) -> None:
        shown = path
        status = STATUS_SUCCESS
        try:
            t = self._target(path, cwd)
            shown = t.win32
            if t.kind == "device":
                self._device_kind(t)
                raise NtStatusError(STATUS_ACCESS_DENIED, "cannot delete a device")
            r = self._resolve_target(t, open_link=True)
            shown = r.guest
            if not r.exists:
                raise self._not_found(r, op)
            if want_dir and not r.is_dir:
                raise NtStatusError(STATUS_NOT_A_DIRECTORY, f"not a directory: {r.guest!r}")
            if not want_dir and r.is_dir:
                raise NtStatusError(STATUS_FILE_IS_A_DIRECTORY, f"is a directory: {r.guest!r}")
            if not want_dir and t.trailing:
                raise NtStatusError(STATUS_OBJECT_NAME_INVALID, "trailing separator on a file name")
            if r.readonly or r.is_root or self._is_mount_root(r) or self._contains_mount(r):
                raise NtStatusError(STATUS_ACCESS_DENIED, f"cannot delete {r.guest!r}")
            key = r.key
            if self._attrs.get(key, 0) & FILE_ATTRIBUTE_READONLY:
                raise NtStatusError(STATUS_CANNOT_DELETE, f"read-only file: {r.guest!r}")
            if not want_dir and self._image_in_use(key):
                raise NtStatusError(STATUS_CANNOT_DELETE, f"image file in use: {r.guest!r}")
            if self._pending(key):
                raise NtStatusError(STATUS_DELETE_PENDING, f"delete pending: {r.guest!r}")
            self._check_share(key, DELETE, FILE_SHARE_ALL)
            if want_dir and r.mount.lower is not None and self._merged_children(r):
                raise NtStatusError(STATUS_DIRECTORY_NOT_EMPTY, f"directory not empty: {r.guest!r}")
            self._pin_open(key)
            try:
                # POSIX delete semantics (Windows 10 DeleteFileW): open handles live on
                self._unlink_key(key, want_dir)
            except OSError as e:
                raise self._oserror(e)
            self._attrs.pop(key, None)
        except NtStatusError as e:
            status = e.status
            raise
        finally:
            self._log(op, shown, status)
            if status == STATUS_SUCCESS:
                self._notify(2, shown, op == "rmdir")

    def delete(self, path: str, cwd: str | None = None) -> None:
        """DeleteFile."""
        self._remove("delete", path, cwd, want_dir=False)

    def rmdir(self, path: str, cwd: str | None = None) -> None:
        """RemoveDirectory: STATUS_DIRECTORY_NOT_EMPTY if it has entries."""
        self._remove("rmdir", path, cwd, want_dir=True)

    def rename(self, src: str, dst: str, replace: bool = False, cwd: str | None = None,
               exclude: VfsFile | None = None, posix: bool = False) -> None:
        """MoveFileEx / FileRenameInformation within the sandbox. ``posix`` (FILE_RENAME_POSIX_SEMANTICS with
        replace): a target file that is open is replaced all the same, its handles live on without a name."""
        shown_src, shown_dst = src, dst
        status = STATUS_SUCCESS
        try:
            ts, td = self._target(src, cwd), self._target(dst, cwd)
            shown_src, shown_dst = ts.win32, td.win32
            if ts.kind == "device" or td.kind == "device":
                raise NtStatusError(STATUS_ACCESS_DENIED, "cannot rename a device")
            rs = self._resolve_target(ts, open_link=True)
            shown_src = rs.guest
            if not rs.exists:
                raise self._not_found(rs, "rename")
            if rs.is_root or self._is_mount_root(rs) or self._contains_mount(rs) or rs.readonly:
                raise NtStatusError(STATUS_ACCESS_DENIED, f"cannot rename {rs.guest!r}")
            rd = self._resolve_target(td, open_link=True)
            shown_dst = rd.guest
            if not rd.parent_exists:
                raise NtStatusError(STATUS_OBJECT_PATH_NOT_FOUND, f"path not found: {rd.guest!r}")
            if rd.readonly or rd.is_root or self._is_mount_root(rd):
                raise NtStatusError(STATUS_ACCESS_DENIED, f"cannot rename onto {rd.guest!r}")
            if ts.drive != td.drive:
                raise NtStatusError(STATUS_NOT_SAME_DEVICE, "rename across drives")
            skey = rs.key
            if self._pending(skey):
                raise NtStatusError(STATUS_DELETE_PENDING, f"delete pending: {rs.guest!r}")
            self._check_share(skey, DELETE, FILE_SHARE_ALL, exclude)
            if rs.is_dir and _inside(rd.key, skey) and rd.key != skey:
                raise NtStatusError(STATUS_SHARING_VIOLATION, "cannot move a directory into itself")
            if rs.is_dir and any(k.startswith(skey + os.sep) and v for k, v in self._opens.items()):
                # a directory with an open file below it (Wine's ntdll/tests/file.c
                # test_file_rename_information, as on Windows)
                raise NtStatusError(STATUS_ACCESS_DENIED, f"a file below {rs.guest!r} is open")
            new_leaf = td.components[-1]
            if rd.exists and rd.key == skey:
                dest = Path(skey).parent / new_leaf          # a change of case only
            elif rd.exists:
                if not replace:
                    raise NtStatusError(STATUS_OBJECT_NAME_COLLISION, f"already exists: {rd.guest!r}")
                if rd.is_dir or (self._opens.get(rd.key) and not posix):
                    raise NtStatusError(STATUS_ACCESS_DENIED, f"cannot replace {rd.guest!r}")
                dest = Path(rd.key)
                if posix and self._opens.get(rd.key):
                    self._pin_open(rd.key)          # the replaced file's handles keep their descriptors
                    for other in self._opens.pop(rd.key):
                        other.unlinked = True
                self._attrs.pop(rd.key, None)       # the replaced file's attributes and sections go with it
                self._image_sections.pop(rd.key, None)
                self._data_sections.pop(rd.key, None)
                if rs.is_dir and rd.mount.lower is None:
                    try:
                        os.unlink(rd.host)          # a directory replaces a file (the host's rename would not)
                    except OSError as e:
                        raise self._oserror(e)
            else:
                dest = Path(rd.key)
            if rs.mount.lower is not None:
                self._copy_up_tree(rs)      # the moved entry lives in the upper layer from now on
            if rd.mount.lower is not None:
                self._upper_parent(str(dest))
            try:
                os.rename(rs.host, dest)
            except OSError as e:
                if e.errno != errno.EXDEV or rs.is_dir:
                    raise self._oserror(e)
                self._copy_file(rs.host, dest)
                os.unlink(rs.host)
            dkey = str(dest)
            for ov in (self._overlay_of(skey), self._overlay_of(dkey)):
                if ov is not None:       # the old name is a whiteout, the new one opaque
                    ov[0].hidden.add(ov[1])
            for k in [k for k in self._image_sections if k == skey or k.startswith(skey + os.sep)]:
                self._image_sections[dkey + k[len(skey):]] = self._image_sections.pop(k)
            # keep sharing state and attributes with the moved entry
            for k in [k for k in self._opens if k == skey or k.startswith(skey + os.sep)]:
                for f in self._opens[k]:
                    f.host_path = Path(dkey + k[len(skey):])
                    tail = f.path[len(rs.guest):] if fold(f.path).startswith(fold(rs.guest)) else ""
                    f.path = rd.guest[:len(rd.guest) - len(rd.names[-1])] + new_leaf + tail
                    f.nt_path = "\\??\\" + f.path
                    if f._hf is not None and not f._hf.pinned:
                        f._hf.path = f.host_path
                self._opens[dkey + k[len(skey):]] = self._opens.pop(k)
            for k in [k for k in self._attrs if k == skey or k.startswith(skey + os.sep)]:
                self._attrs[dkey + k[len(skey):]] = self._attrs.pop(k)
            if rd.exists and rd.key != skey:
                self._reparse.pop(dkey, None)     # a replaced link
            for k in [k for k in self._reparse if k == skey or k.startswith(skey + os.sep)]:
                self._reparse[dkey + k[len(skey):]] = self._reparse.pop(k)
            self._moved(skey, dkey, rs.guest, rd.guest[:len(rd.guest) - len(rd.names[-1])] + new_leaf,
                        replaced=rd.exists and rd.key != skey)
        except NtStatusError as e:
            status = e.status
            raise
        finally:
            self._log("rename", shown_src, status, dst=shown_dst, replace=replace)
            if status == STATUS_SUCCESS and self.change_listeners:
                try:
                    d = os.path.isdir(str(self._resolve(shown_dst).host))
                except NtStatusError:
                    d = False
                self._notify(4, shown_src, d, 0, shown_dst)

    def _copy_file(self, src: Path, dst: Path) -> None:
        fi = self._os_open(src, os.O_RDONLY)
        try:
            fo = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o644)
            try:
                while chunk := os.read(fi, 1 << 20):
                    os.write(fo, chunk)
            finally:
                os.close(fo)
        finally:
            os.close(fi)

    # --- for other layers: seeding and archiving -------------------------------------------------------------
    def seed_file(self, path: str, data: bytes) -> None:
        """Put a file into the guest before the sample runs (a machine profile's documents, a decoy): parent
        directories are made, an overlay path lands in its upper layer (the host folder is not written), and
        the file is not one the guest dropped."""
        full = P.full_path(path, "C:\\")
        comps = [c for c in full[3:].split("\\") if c]
        tracking, self.tracking = self.tracking, False
        try:
            for i in range(1, len(comps)):
                d = full[:3] + "\\".join(comps[:i])
                if not self.exists(d):
                    self.mkdir(d)
            self.write_file(full, data)
        finally:
            self.tracking = tracking

    def writable_roots(self) -> list[tuple[str, Path]]:
        """(guest directory, host directory) of every place the guest's writes land: the sandbox's drives and
        mounts written through, and each overlay's upper layer (for archiving a run's file system)."""
        return [(m.guest, m.host) for m in self._mounts if not m.readonly]

    # --- conveniences for other layers ----------------------------------------------------------------
    def read_file(self, path: str, cwd: str | None = None) -> bytes:
        with self.open(path, access=GENERIC_READ, disposition=FILE_OPEN, options=FILE_NON_DIRECTORY_FILE,
                       cwd=cwd) as f:
            return f.read()

    def write_file(self, path: str, data: bytes, cwd: str | None = None) -> None:
        with self.open(path, access=GENERIC_WRITE, disposition=FILE_OVERWRITE_IF,
                       options=FILE_NON_DIRECTORY_FILE, cwd=cwd) as f:
            f.write(data)

    def open_handles(self) -> list[VfsFile]:
        return [f for lst in self._opens.values() for f in lst]

    def now_filetime(self) -> int:
        return unix_ns_to_filetime(time.time_ns())

    # --- handle-based operations (NtSetInformationFile) -----------------------------------------------
    def rename_open(self, f: VfsFile, dst: str, replace: bool = False, posix: bool = False) -> None:
        """FileRenameInformation on an open handle: the handle's own DELETE access does not count against
        the share check; the handle follows the file to its new name."""
        f._check()
        if f.device is not None or f.host_path is None:
            raise NtStatusError(STATUS_INVALID_PARAMETER, "not a file")
        self.rename(f.nt_path, dst, replace=replace, exclude=f, posix=posix)

    def link_open(self, f: VfsFile, dst: str, replace: bool = False) -> None:
        """FileLinkInformation (CreateHardLink): a second name for the open file, on the same drive. Both names
        are one host file of the sandbox (an overlay's lower-layer file is first copied up, so the host folder
        keeps its single name); a directory cannot be linked (STATUS_FILE_IS_A_DIRECTORY), another drive is
        STATUS_NOT_SAME_DEVICE, an existing name STATUS_OBJECT_NAME_COLLISION unless replace."""
        f._check()
        if f.device is not None or f.host_path is None:
            raise NtStatusError(STATUS_INVALID_PARAMETER, "not a file")
        status = STATUS_SUCCESS
        shown_dst = dst
        try:
            if f.is_dir:
                raise NtStatusError(STATUS_FILE_IS_A_DIRECTORY, f"cannot link a directory: {f.path!r}")
            ts, td = self._target(f.nt_path, None), self._target(dst, None)
            shown_dst = td.win32
            if td.kind == "device":
                raise NtStatusError(STATUS_ACCESS_DENIED, "cannot link to a device")
            rs = self._resolve_target(ts, open_link=True)
            if not rs.exists:
                raise self._not_found(rs, "link")
            rd = self._resolve_target(td, open_link=True)
            shown_dst = rd.guest
            if not rd.parent_exists:
                raise NtStatusError(STATUS_OBJECT_PATH_NOT_FOUND, f"path not found: {rd.guest!r}")
            if ts.drive != td.drive:
                raise NtStatusError(STATUS_NOT_SAME_DEVICE, "a hard link across drives")
            if rs.readonly or rd.readonly or rd.is_root or self._is_mount_root(rd):
                raise NtStatusError(STATUS_ACCESS_DENIED, f"cannot link {rs.guest!r} as {rd.guest!r}")
            if rd.exists:
                if not replace or rd.key == rs.key:
                    raise NtStatusError(STATUS_OBJECT_NAME_COLLISION, f"already exists: {rd.guest!r}")
                if rd.is_dir or self._opens.get(rd.key):
                    raise NtStatusError(STATUS_ACCESS_DENIED, f"cannot replace {rd.guest!r}")
                self._before_remove(rd.key, False)
                self._unlink_key(rd.key, False)
            if rs.lower:
                self._copy_up(rs)       # the host folder's own file keeps one name
            dest = Path(rd.key)
            if rd.mount.lower is not None:
                self._upper_parent(str(dest))
            try:
                os.link(rs.host, dest)
            except OSError as e:
                if e.errno == errno.EXDEV:
                    raise NtStatusError(STATUS_NOT_SAME_DEVICE, "the two names' host folders are on different "
                                                                "file systems") from None
                raise self._oserror(e)
            lst = os.stat(dest)
            self.guest_links.add((lst.st_dev, lst.st_ino))
            ov = self._overlay_of(str(dest))
            if ov is not None:
                ov[0].hidden.add(ov[1])
            self._note_created(dest)
            if self.tracking:
                self._touch(str(dest), rd.guest, existed=False)
        except NtStatusError as e:
            status = e.status
            raise
        finally:
            self._log("link", f.path, status, dst=shown_dst, replace=replace)
            if status == STATUS_SUCCESS:
                self._notify(1, shown_dst, False)

    def set_disposition(self, f: VfsFile, delete: bool, *, posix: bool = False,
                        ignore_readonly: bool = False) -> None:
        """FileDispositionInformation(Ex): mark the file for deletion when its last handle closes (or clear
        the mark); with POSIX semantics the name goes at once and open handles live on. A read-only file
        (unless ignore_readonly) or a running image is STATUS_CANNOT_DELETE, a directory with entries
        STATUS_DIRECTORY_NOT_EMPTY, a root or mount point STATUS_ACCESS_DENIED."""
        f._check()
        if f.device is not None or f.host_path is None:
            raise NtStatusError(STATUS_INVALID_PARAMETER, "not a file")
        if not f.access & DELETE:
            raise NtStatusError(STATUS_ACCESS_DENIED, "handle lacks DELETE")
        if not delete:
            # the delete-pending state is the file's, not the handle's: any handle clears it (a handle opened
            # with FILE_DELETE_ON_CLOSE still sets it again when it closes; Wine's ntdll/tests/file.c
            # test_file_disposition_information, as on Windows)
            self._set_disposition_flag(f, False)
            self._delete_pending.discard(str(f.host_path))
            return
        key = str(f.host_path)
        if not ignore_readonly and (f.readonly or self._attrs.get(key, 0) & FILE_ATTRIBUTE_READONLY):
            raise NtStatusError(STATUS_CANNOT_DELETE, f"read-only: {f.path!r}")
        if f.readonly:
            raise NtStatusError(STATUS_ACCESS_DENIED, f"read-only mount: {f.path!r}")
        if not f.is_dir and self._image_in_use(f.host_path):
            raise NtStatusError(STATUS_CANNOT_DELETE, f"image file in use: {f.path!r}")
        if not f.is_dir and self._data_sections and self._data_section_in_use(f.host_path):
            raise NtStatusError(STATUS_CANNOT_DELETE, f"a section of the file exists: {f.path!r}")
        try:
            r = self._resolve(f.nt_path, open_link=True)    # the handle's own entry (a link's, if it is one)
        except NtStatusError:
            r = None
        if r is not None and r.exists and (r.is_root or self._is_mount_root(r) or self._contains_mount(r)):
            raise NtStatusError(STATUS_ACCESS_DENIED, f"cannot delete {f.path!r}")
        if f.is_dir:
            try:
                if r is not None and r.exists and r.mount.lower is not None:
                    if self._merged_children(r):
                        raise NtStatusError(STATUS_DIRECTORY_NOT_EMPTY, f"directory not empty: {f.path!r}")
                elif any(True for _ in os.scandir(f.host_path)):
                    raise NtStatusError(STATUS_DIRECTORY_NOT_EMPTY, f"directory not empty: {f.path!r}")
            except OSError as e:
                raise self._oserror(e)
        if not posix:
            self._set_disposition_flag(f, True)
            self._delete_pending.add(key)
            return
        status = STATUS_SUCCESS
        try:
            self._pin_open(key)
            try:
                self._unlink_key(key, f.is_dir)
            except OSError as e:
                raise self._oserror(e)
            self._attrs.pop(key, None)
            f.delete_on_close = False       # the name is gone: a new file of that name is not this one
            self._delete_pending.discard(key)
            for other in self._opens.get(key, ()):
                other.unlinked = True
        except NtStatusError as e:
            status = e.status
            raise
        finally:
            self._log("rmdir" if f.is_dir else "delete", f.path, status)
            if status == STATUS_SUCCESS:
                self._notify(2, f.path, f.is_dir)

    # --- reparse points (FSCTL_SET/GET/DELETE_REPARSE_POINT) ------------------------------------------------
    def set_reparse_point(self, f: VfsFile, buf: bytes, *, may_symlink: bool) -> None:
        """FSCTL_SET_REPARSE_POINT on an open file or directory: store the buffer as its reparse point (the
        same tag again replaces it; another tag is STATUS_IO_REPARSE_TAG_MISMATCH). A mount point needs an
        empty directory (STATUS_NOT_A_DIRECTORY, STATUS_DIRECTORY_NOT_EMPTY); a symbolic link needs
        SeCreateSymbolicLinkPrivilege or developer mode (`may_symlink`; else STATUS_PRIVILEGE_NOT_HELD)."""
        f._check()
        if f.device is not None or f.host_path is None:
            raise NtStatusError(STATUS_INVALID_DEVICE_REQUEST, "not a file system file")
        status = STATUS_SUCCESS
        rp = None
        try:
            rp = parse_reparse_buffer(buf)
            if not f.access & (FILE_WRITE_DATA | FILE_WRITE_ATTRIBUTES):
                raise NtStatusError(STATUS_ACCESS_DENIED, "the handle may not write the file's attributes")
            if f.readonly:
                raise NtStatusError(STATUS_ACCESS_DENIED, f"read-only mount: {f.path!r}")
            if rp.tag == IO_REPARSE_TAG_SYMLINK and not may_symlink:
                raise NtStatusError(STATUS_PRIVILEGE_NOT_HELD, "creating a symbolic link needs "
                                                               "SeCreateSymbolicLinkPrivilege or developer mode")
            r = self._resolve(f.nt_path, open_link=True)
            if not r.exists:
                raise self._not_found(r, "set reparse point")
            if r.is_root or self._is_mount_root(r) or self._contains_mount(r):
                raise NtStatusError(STATUS_ACCESS_DENIED, f"cannot make {r.guest!r} a reparse point")
            key = r.key
            old = self._reparse.get(key)
            if old is not None and old.tag != rp.tag:
                raise NtStatusError(STATUS_IO_REPARSE_TAG_MISMATCH, f"{r.guest!r} has reparse tag {old.tag:#x}")
            if rp.tag == IO_REPARSE_TAG_MOUNT_POINT:
                if not r.is_dir:
                    raise NtStatusError(STATUS_NOT_A_DIRECTORY, f"a mount point must be a directory: {r.guest!r}")
                if old is None and self._merged_children(r):
                    raise NtStatusError(STATUS_DIRECTORY_NOT_EMPTY, f"directory not empty: {r.guest!r}")
            if r.lower:
                self._copy_up(r)
            self._reparse[key] = rp
        except NtStatusError as e:
            status = e.status
            raise
        finally:
            self._log("set_reparse", f.path, status, tag=int.from_bytes(bytes(buf[:4]).ljust(4, b"\0"), "little"),
                      target=rp.substitute if rp is not None else None,
                      relative=rp.relative if rp is not None else None)
            if status == STATUS_SUCCESS:
                self._notify(3, f.path, f.is_dir, 0x4)      # FILE_NOTIFY_CHANGE_ATTRIBUTES

    def get_reparse_point(self, f: VfsFile) -> bytes:
        """FSCTL_GET_REPARSE_POINT: the buffer, or STATUS_NOT_A_REPARSE_POINT."""
        f._check()
        rp = self._reparse.get(str(f.host_path)) if f.host_path is not None else None
        if rp is None:
            raise NtStatusError(STATUS_NOT_A_REPARSE_POINT, f"not a reparse point: {f.path!r}")
        return rp.data

    def delete_reparse_point(self, f: VfsFile, buf: bytes) -> None:
        """FSCTL_DELETE_REPARSE_POINT: a header naming the tag (no data; a GUID for a third-party tag) takes
        the reparse point off; the file or directory stays, empty."""
        f._check()
        status = STATUS_SUCCESS
        try:
            if f.device is not None or f.host_path is None:
                raise NtStatusError(STATUS_INVALID_DEVICE_REQUEST, "not a file system file")
            if len(buf) < REPARSE_DATA_BUFFER_HEADER_SIZE:
                raise NtStatusError(STATUS_IO_REPARSE_DATA_INVALID, "no reparse header")
            tag, dlen, _r = struct.unpack_from("<IHH", buf)
            head = REPARSE_DATA_BUFFER_HEADER_SIZE if tag & 0x80000000 else REPARSE_GUID_DATA_BUFFER_HEADER_SIZE
            if tag in (0, 1):
                raise NtStatusError(STATUS_IO_REPARSE_TAG_INVALID, f"reserved reparse tag {tag}")
            if dlen or len(buf) != head:
                raise NtStatusError(STATUS_IO_REPARSE_DATA_INVALID, "a delete names the tag only")
            if not f.access & (FILE_WRITE_DATA | FILE_WRITE_ATTRIBUTES):
                raise NtStatusError(STATUS_ACCESS_DENIED, "the handle may not write the file's attributes")
            key = str(f.host_path)
            rp = self._reparse.get(key)
            if rp is None:
                raise NtStatusError(STATUS_NOT_A_REPARSE_POINT, f"not a reparse point: {f.path!r}")
            if rp.tag != tag:
                raise NtStatusError(STATUS_IO_REPARSE_TAG_MISMATCH, f"{f.path!r} has reparse tag {rp.tag:#x}")
            del self._reparse[key]
        except NtStatusError as e:
            status = e.status
            raise
        finally:
            self._log("delete_reparse", f.path, status)
            if status == STATUS_SUCCESS:
                self._notify(3, f.path, f.is_dir, 0x4)

    def stat_relative(self, root: VfsFile, name: str, open_link: bool = False) -> FileInfo:
        """NtQueryAttributesFile with a RootDirectory."""
        if root.closed or not root.is_dir:
            raise NtStatusError(STATUS_INVALID_HANDLE, "root directory handle is not an open directory")
        if name.startswith("\\"):
            raise NtStatusError(STATUS_OBJECT_PATH_SYNTAX_BAD, "a relative name must not start with '\\'")
        return self.stat(root.nt_path.rstrip("\\") + ("\\" + name if name else ""), open_link=open_link)

    def _pending(self, key: str) -> bool:
        """Is the file at this host path delete-pending (a disposition set through one of its handles, or
        its last delete-on-close handle closing)?"""
        return key in self._delete_pending

    def _set_disposition_flag(self, f: VfsFile, on: bool) -> None:
        o = self._opens.get(str(f.host_path))
        if o is not None and f in o.files and f.disposition != on:
            o.dispositions += 1 if on else -1
        f.disposition = on

    def delete_pending(self, f: VfsFile) -> bool:
        """FILE_STANDARD_INFORMATION.DeletePending of an open file (a file whose name a POSIX delete took
        away is deleted: its handles report it pending)."""
        return f.host_path is not None and (self._pending(str(f.host_path)) or f.unlinked)

    def _release_locks(self, f: VfsFile) -> None:
        lst = self._byte_locks.get(str(f.host_path))
        if lst:
            lst[:] = [x for x in lst if x[0] is not f]
