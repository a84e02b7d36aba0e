"""The mount manager (\\Device\\MountPointManager, what ``\\\\.\\MountPointManager`` opens): the table of the
sandbox's volumes and the names each is mounted under — its drive letter ``\\DosDevices\\C:`` and its volume
GUID name ``\\??\\Volume{…}`` (the ``\\GLOBAL??\\Volume{…}`` link to the volume's device is made beside the
drive letter's, see file_services._dos_devices).

Requests (DeviceIoControl on a handle to the manager, METHOD_BUFFERED, layouts from mountmgr.h, the same on
x86 and x64):
- IOCTL_MOUNTMGR_QUERY_POINTS: input a MOUNTMGR_MOUNT_POINT (24 bytes: SymbolicLinkNameOffset ULONG,
  SymbolicLinkNameLength USHORT, pad, UniqueIdOffset ULONG, UniqueIdLength USHORT, pad, DeviceNameOffset ULONG,
  DeviceNameLength USHORT, pad) naming a symbolic link, a unique id and/or a device (none: every mount
  point); output MOUNTMGR_MOUNT_POINTS (Size ULONG, NumberOfMountPoints ULONG, the array, then the strings the
  offsets point at, counted from the start of the output). A short output: Size says what is needed,
  STATUS_BUFFER_OVERFLOW.
- IOCTL_MOUNTMGR_QUERY_DOS_VOLUME_PATH(S): input MOUNTMGR_TARGET_NAME (DeviceNameLength USHORT, the name: a
  volume device or a ``\\??\\Volume{…}`` name); output MOUNTMGR_VOLUME_PATHS (MultiSzLength ULONG, then the
  DOS paths ``C:\\`` as a double-NUL-terminated list).
"""
from __future__ import annotations

import struct

from winhatch.kernel.ob import KObject
from winhatch.ntstatus import NtStatusError, STATUS_BUFFER_OVERFLOW, STATUS_INVALID_DEVICE_REQUEST, \
    STATUS_INVALID_PARAMETER, STATUS_OBJECT_NAME_NOT_FOUND

IOCTL_MOUNTMGR_QUERY_POINTS = 0x006D0008
IOCTL_MOUNTMGR_QUERY_DOS_VOLUME_PATH = 0x006D0030
IOCTL_MOUNTMGR_QUERY_DOS_VOLUME_PATHS = 0x006D0034

MOUNT_POINT_SIZE = 24          # sizeof(MOUNTMGR_MOUNT_POINT)
MOUNT_POINTS_HEAD = 8          # offsetof(MOUNTMGR_MOUNT_POINTS, MountPoints)

#: the namespace the volume GUIDs are derived from (stable across runs: a volume keeps its name)
_GUID_NS = bytes.fromhex("5b0c6f7e2f7d4a539d1e77a1c3e0b1d4")


def volume_guid(drive: str) -> str:
    """The volume GUID name of a drive's volume, ``{xxxxxxxx-…}`` (lower case, as Windows spells them): an
    RFC 4122 name-based (SHA-1, version 5) UUID of "volume-<drive>" in _GUID_NS — uuid.uuid5's, made here with
    hashlib (importing uuid imports platform: ~5 ms of a start-up)."""
    import hashlib
    b = bytearray(hashlib.sha1(_GUID_NS + ("volume-" + drive.upper()).encode("utf-8")).digest()[:16])
    b[6] = (b[6] & 0x0F) | 0x50     # version 5
    b[8] = (b[8] & 0x3F) | 0x80     # the RFC 4122 variant
    h = b.hex()
    return "{" + f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}" + "}"


def volumes(machine) -> list[tuple[str, str, str, bytes]]:
    """(drive, device name, volume GUID name, unique id) of every volume, drive order. The unique id is an MBR
    volume's: the disk signature and the partition's byte offset."""
    vfs = machine.vfs
    out = []
    for drive in sorted(vfs.volume_devices):
        dev = "\\Device\\" + vfs.volume_devices[drive]
        k = ord(drive) - ord("A")
        uid = struct.pack("<IQ", 0x4D2A1B3C, (1 << 20) * (k + 1))
        out.append((drive, dev, volume_guid(drive), uid))
    return out


def _mount_points(machine) -> list[tuple[str, bytes, str]]:
    """(symbolic link name, unique id, device name) of every mount point: a volume's drive letter, then its
    volume GUID name."""
    out = []
    for drive, dev, guid, uid in volumes(machine):
        out.append((f"\\DosDevices\\{drive}:", uid, dev))
        out.append((f"\\??\\Volume{guid}", uid, dev))
    return out


def resolve_volume(machine, name: str) -> tuple[str, str, str, bytes] | None:
    """The volume a device name or a volume name (``\\??\\Volume{…}``, ``\\DosDevices\\C:``, ``\\??\\C:``)
    names, or None."""
    key = name.upper()
    for vol in volumes(machine):
        drive, dev, guid, _uid = vol
        if key in (dev.upper(), f"\\??\\VOLUME{guid}".upper(), f"\\DOSDEVICES\\{drive}:", f"\\??\\{drive}:"):
            return vol
    return None


def _field(data: bytes, off: int, length: int) -> bytes | None:
    if not length:
        return None
    if off + length > len(data):
        raise NtStatusError(STATUS_INVALID_PARAMETER, "a name outside the input buffer")
    return data[off:off + length]


def query_points(machine, data: bytes, out_len: int) -> tuple[int, bytes]:
    if len(data) < MOUNT_POINT_SIZE or out_len < MOUNT_POINTS_HEAD + MOUNT_POINT_SIZE:
        raise NtStatusError(STATUS_INVALID_PARAMETER, "input shorter than MOUNTMGR_MOUNT_POINT or output shorter "
                                                      "than MOUNTMGR_MOUNT_POINTS (Wine's volume.c tests)")
    lo, ll, uo, ul, do, dl = struct.unpack_from("<IH2xIH2xIH2x", data)
    link = _field(data, lo, ll)
    uid = _field(data, uo, ul)
    dev = _field(data, do, dl)

    def text(b):
        return b.decode("utf-16-le", "surrogatepass").upper() if b is not None else None
    link_t, dev_t = text(link), text(dev)
    if dev_t is not None:     # a device given by any of its names
        vol = resolve_volume(machine, dev_t)
        dev_t = vol[1].upper() if vol else dev_t
    points = [p for p in _mount_points(machine)
              if (link_t is None or p[0].upper() == link_t) and (uid is None or p[1] == uid)
              and (dev_t is None or p[2].upper() == dev_t)]
    if not points:
        raise NtStatusError(STATUS_OBJECT_NAME_NOT_FOUND, "no such mount point")
    head = MOUNT_POINTS_HEAD + MOUNT_POINT_SIZE * len(points)
    strings = bytearray()
    entries = bytearray()
    for name, u, d in points:
        nb, db = name.encode("utf-16-le"), d.encode("utf-16-le")
        no = head + len(strings)
        strings += nb
        uo_ = head + len(strings)
        strings += u
        if len(strings) & 1:
            strings += b"\0"
        do_ = head + len(strings)
        strings += db
        entries += struct.pack("<IH2xIH2xIH2x", no, len(nb), uo_, len(u), do_, len(db))
    size = head + len(strings)
    if out_len < MOUNT_POINTS_HEAD + MOUNT_POINT_SIZE:      # not even one MOUNTMGR_MOUNT_POINTS
        raise NtStatusError(STATUS_INVALID_PARAMETER, "output shorter than MOUNTMGR_MOUNT_POINTS")
    if out_len < size:
        return STATUS_BUFFER_OVERFLOW, struct.pack("<II", size, len(points))
    return 0, struct.pack("<II", size, len(points)) + bytes(entries) + bytes(strings)


def query_dos_volume_paths(machine, data: bytes, out_len: int, single: bool) -> tuple[int, bytes]:
    if len(data) < 2:
        raise NtStatusError(STATUS_INVALID_PARAMETER, "input shorter than MOUNTMGR_TARGET_NAME")
    (n,) = struct.unpack_from("<H", data)
    if n & 1 or 2 + n > len(data):
        raise NtStatusError(STATUS_INVALID_PARAMETER, "a target name outside the input buffer")
    vol = resolve_volume(machine, data[2:2 + n].decode("utf-16-le", "surrogatepass"))
    if vol is None:
        raise NtStatusError(STATUS_OBJECT_NAME_NOT_FOUND, "no such volume")
    text = f"{vol[0]}:\\" + "\0" + ("" if single else "\0")
    body = text.encode("utf-16-le")
    if out_len < 4:
        raise NtStatusError(STATUS_INVALID_PARAMETER, "output shorter than MOUNTMGR_VOLUME_PATHS")
    if out_len < 4 + len(body):
        return STATUS_BUFFER_OVERFLOW, struct.pack("<I", len(body))
    return 0, struct.pack("<I", len(body)) + body


class MountManagerFile(KObject):
    """A handle to \\Device\\MountPointManager: no data, only device controls."""
    type_name = "File"
    file_type = 0     # FILE_TYPE_UNKNOWN

    def __init__(self, machine):
        super().__init__()
        self.machine = machine
        self.path = "\\Device\\MountPointManager"

    def read(self, n: int) -> bytes:
        raise NtStatusError(STATUS_INVALID_DEVICE_REQUEST, "the mount manager has no data")

    def write(self, data: bytes) -> int:
        raise NtStatusError(STATUS_INVALID_DEVICE_REQUEST, "the mount manager has no data")

    def device_control(self, code: int, data: bytes, out_len: int) -> tuple[int, bytes] | None:
        """(status, output) of a request; None: a request the manager does not serve (the caller stops)."""
        if code == IOCTL_MOUNTMGR_QUERY_POINTS:
            return query_points(self.machine, data, out_len)
        if code in (IOCTL_MOUNTMGR_QUERY_DOS_VOLUME_PATH, IOCTL_MOUNTMGR_QUERY_DOS_VOLUME_PATHS):
            return query_dos_volume_paths(self.machine, data, out_len, code == IOCTL_MOUNTMGR_QUERY_DOS_VOLUME_PATH)
        return None
