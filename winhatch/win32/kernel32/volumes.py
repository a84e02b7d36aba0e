"""Volumes and DOS device names, over the system services as kernelbase does:

- QueryDosDevice: the \\?? symbolic links (NtOpenSymbolicLinkObject + NtQuerySymbolicLinkObject for one name,
  NtOpenDirectoryObject + NtQueryDirectoryObject for the list);
- GetVolumeNameForVolumeMountPoint, FindFirstVolume / FindNextVolume / FindVolumeClose,
  GetVolumePathNamesForVolumeName: the mount manager (\\??\\MountPointManager, winhatch.kernel.io.mountmgr)
  through NtDeviceIoControlFile (IOCTL_MOUNTMGR_QUERY_POINTS, IOCTL_MOUNTMGR_QUERY_DOS_VOLUME_PATHS).

FindFirstVolume's handle is, as in kernelbase, a block of the process heap (the mount points the manager
returned and the index of the next one), not a kernel handle.
"""
from __future__ import annotations

import struct

from winhatch.kernel.io import mountmgr
from winhatch.kernel.io import paths as P
from winhatch.win32.api import api
from winhatch.win32.kernel32.common import K32, cwd

ERROR_FILE_NOT_FOUND = 2
ERROR_INVALID_PARAMETER = 87
ERROR_INSUFFICIENT_BUFFER = 122
ERROR_INVALID_NAME = 123
ERROR_MORE_DATA = 234
ERROR_NO_MORE_FILES = 18
ERROR_FILENAME_EXCED_RANGE = 206
ERROR_NOT_A_REPARSE_POINT = 4390
STATUS_BUFFER_OVERFLOW = 0x80000005
STATUS_NO_MORE_ENTRIES = 0x8000001A
SYMBOLIC_LINK_QUERY = 0x1
DIRECTORY_QUERY = 0x1
SYNCHRONIZE = 0x100000
VOLUME_NAME_CCH = 50          # "\\?\Volume{GUID}\" and its NUL
INVALID = 0xFFFFFFFF_FFFFFFFF


def _failed(st: int) -> bool:
    return st >= 0xC0000000


def _close(c, h: int) -> None:
    c.nt("NtClose", h)


def _ioctl(c, code: int, data: bytes, out_size: int = 4096) -> tuple[int, bytes]:
    """A request to the mount manager: (status, output)."""
    hp = c.stack_alloc(c.ptr_size, 8)
    iosb = c.stack_alloc(2 * c.ptr_size, 8)
    oa = c.object_attributes(c.unicode_string("\\??\\MountPointManager"), 0)
    st = c.nt("NtCreateFile", hp, SYNCHRONIZE, oa, iosb, 0, 0, 7, 1, 0x20, 0, 0)
    if _failed(st):
        return st, b""
    h = c.ptr(hp)
    inp = c.stack_alloc(max(len(data), 8), 8)
    c.write(inp, data)
    out = c.stack_alloc(out_size, 8)
    st = c.nt("NtDeviceIoControlFile", h, 0, 0, 0, iosb, code, inp, len(data), out, out_size)
    _close(c, h)
    if _failed(st):
        return st, b""
    return st, c.read(out, out_size)


def _query_points(c, *, link: str | None = None, device: str | None = None) -> tuple[int, list]:
    """IOCTL_MOUNTMGR_QUERY_POINTS: (status, [(symbolic link, device)])."""
    names = b""
    lo = ll = do = dl = 0
    if link is not None:
        raw = link.encode("utf-16-le")
        lo, ll = mountmgr.MOUNT_POINT_SIZE, len(raw)
        names += raw
    if device is not None:
        raw = device.encode("utf-16-le")
        do, dl = mountmgr.MOUNT_POINT_SIZE + len(names), len(raw)
        names += raw
    data = struct.pack("<IH2xIH2xIH2x", lo, ll, 0, 0, do, dl) + names
    size = 4096
    for _ in range(4):     # a longer output when the manager says so (STATUS_BUFFER_OVERFLOW with the size)
        st, out = _ioctl(c, mountmgr.IOCTL_MOUNTMGR_QUERY_POINTS, data, size)
        if st == STATUS_BUFFER_OVERFLOW:
            size = struct.unpack_from("<I", out)[0]
            continue
        break
    if st:
        return st, []
    n = struct.unpack_from("<I", out, 4)[0]
    res = []
    for i in range(n):
        lo_, ll_, _uo, _ul, do_, dl_ = struct.unpack_from("<IH2xIH2xIH2x", out, 8 + mountmgr.MOUNT_POINT_SIZE * i)
        res.append((out[lo_:lo_ + ll_].decode("utf-16-le"), out[do_:do_ + dl_].decode("utf-16-le")))
    return 0, res


def _put(c, buf: int, text: str) -> None:
    c.write(buf, c.encode_t(text))


# ------------------------------------------------------------------------------------------ QueryDosDevice
def _link_target(c, name: str) -> tuple[int, str]:
    hp = c.stack_alloc(c.ptr_size, 8)
    oa = c.object_attributes(c.unicode_string("\\??\\" + name))
    st = c.nt("NtOpenSymbolicLinkObject", hp, SYMBOLIC_LINK_QUERY, oa)
    if _failed(st):
        return st, ""
    h = c.ptr(hp)
    us = c.stack_alloc(2 * c.ptr_size, 8)
    cap = 0xFFFE
    buf = c.stack_alloc(cap, 8)
    c.write(us, struct.pack("<HH", 0, cap) + bytes(c.ptr_size - 4) + buf.to_bytes(c.ptr_size, "little"))
    st = c.nt("NtQuerySymbolicLinkObject", h, us, 0)
    _close(c, h)
    if _failed(st):
        return st, ""
    n = struct.unpack("<H", c.read(us, 2))[0]
    return 0, c.read(buf, n).decode("utf-16-le", "surrogatepass")


def _dos_device_names(c) -> tuple[int, list[str]]:
    hp = c.stack_alloc(c.ptr_size, 8)
    oa = c.object_attributes(c.unicode_string("\\GLOBAL??"))
    st = c.nt("NtOpenDirectoryObject", hp, DIRECTORY_QUERY, oa)
    if _failed(st):
        return st, []
    h = c.ptr(hp)
    size = 2048
    buf = c.stack_alloc(size, 8)
    ctx = c.stack_alloc(4, 4)
    c.write_u32(ctx, 0)
    names = []
    restart = 1
    rec = 4 * c.ptr_size
    for _ in range(100_000):        # bounded: one entry per call
        st = c.nt("NtQueryDirectoryObject", h, buf, size, 1, restart, ctx, 0)
        restart = 0
        if st == STATUS_NO_MORE_ENTRIES or _failed(st):
            break
        raw = c.read(buf, rec)
        ln = struct.unpack_from("<H", raw)[0]
        p = int.from_bytes(raw[c.ptr_size:2 * c.ptr_size], "little")
        tl = struct.unpack_from("<H", raw, 2 * c.ptr_size)[0]
        tp = int.from_bytes(raw[3 * c.ptr_size:4 * c.ptr_size], "little")
        if c.read(tp, tl).decode("utf-16-le") == "SymbolicLink":
            names.append(c.read(p, ln).decode("utf-16-le", "surrogatepass"))
    _close(c, h)
    return 0, names


@api(K32, "DWORD WINAPI QueryDosDevice%(LPCTSTR lpDeviceName, LPTSTR lpTargetPath, DWORD ucchMax)")
def QueryDosDevice(c, name, buf, size):
    """One name: its target then two NULs (the count includes both); no name: every DOS device name, each
    with its NUL, then a NUL. A buffer too short: ERROR_INSUFFICIENT_BUFFER."""
    if name is not None:
        st, target = _link_target(c, name)
        if st:
            c.set_last_nt_error(st)
            return 0
        items = [target]
    else:
        st, items = _dos_device_names(c)
        if st:
            c.set_last_nt_error(st)
            return 0
    text = "".join(s + "\0" for s in items) + "\0"
    if not buf or size < len(text):
        c.set_last_error(ERROR_INSUFFICIENT_BUFFER)
        return 0
    _put(c, buf, text)
    return len(text)


# ------------------------------------------------------------------------------------------ volume GUID names
def _volume_of_drive(c, drive: str) -> tuple[int, str | None]:
    """(Win32 error, \\\\?\\Volume{GUID}\\) of a drive letter's volume."""
    st, points = _query_points(c, link=f"\\DosDevices\\{drive}:")
    if st or not points:
        st2, _t = _link_target(c, f"{drive}:")
        # a DOS device that is no mount point (DefineDosDevice): ERROR_INVALID_PARAMETER
        return (ERROR_FILE_NOT_FOUND if st2 else ERROR_INVALID_PARAMETER), None
    st, points = _query_points(c, device=points[0][1])
    for link, _dev in points:
        if link.upper().startswith("\\??\\VOLUME{"):
            return 0, "\\\\?\\" + link[4:] + "\\"
    return ERROR_INVALID_PARAMETER, None


@api(K32, "BOOL WINAPI GetVolumeNameForVolumeMountPoint%(LPCTSTR lpszVolumeMountPoint, LPTSTR lpszVolumeName, "
          "DWORD cchBufferLength)")
def GetVolumeNameForVolumeMountPoint(c, mount, buf, size):
    """\\\\?\\Volume{GUID}\\ of a volume's root ("C:\\") or of a volume GUID path; the name must end in a
    backslash (ERROR_INVALID_NAME); a directory that is no mount point: ERROR_NOT_A_REPARSE_POINT."""
    if mount is None or not buf:
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    if size < VOLUME_NAME_CCH:
        c.set_last_error(ERROR_FILENAME_EXCED_RANGE)
        return 0
    if not mount.endswith(("\\", "/")):
        c.set_last_error(ERROR_INVALID_NAME)
        return 0
    if mount.upper().startswith("\\\\?\\VOLUME{") and len(mount) == 49:
        st, points = _query_points(c, link="\\??\\" + mount[4:-1])
        if st or not points:
            c.set_last_error(ERROR_FILE_NOT_FOUND)
            return 0
        _put(c, buf, "\\\\?\\" + points[0][0][4:] + "\\\0")
        return 1
    try:
        full = P.full_path(mount, cwd(c))
    except Exception:     # noqa: BLE001 - a name the path syntax refuses
        c.set_last_error(ERROR_INVALID_NAME)
        return 0
    if len(full) == 3 and full[1:] == ":\\" and full[0].isalpha():
        err, name = _volume_of_drive(c, full[0].upper())
        if err:
            c.set_last_error(err)
            return 0
        _put(c, buf, name + "\0")
        return 1
    # another directory: a mount point only if it is a volume mount point (none in the sandbox)
    from winhatch.kernel.io import vfs as V
    from winhatch.win32.kernel32.ntfile import nt_open
    st, h, _ = nt_open(c, P.to_nt_path(full), V.FILE_READ_ATTRIBUTES | SYNCHRONIZE,
                       V.FILE_SHARE_READ | V.FILE_SHARE_WRITE, 0x20 | 0x4000)
    if _failed(st):
        c.set_last_nt_error(st)
        return 0
    _close(c, h)
    c.set_last_error(ERROR_NOT_A_REPARSE_POINT)
    return 0


def _volume_names(c) -> tuple[int, list[str]]:
    st, points = _query_points(c)
    if st:
        return st, []
    return 0, [link[4:] for link, _d in points if link.upper().startswith("\\??\\VOLUME{")]


def _next_volume(c, block: int, buf: int, size: int) -> int:
    count, index = struct.unpack("<II", c.read(block, 8))
    if index >= count:
        c.set_last_error(ERROR_NO_MORE_FILES)
        return 0
    raw = c.read(block + 8 + index * 2 * 48, 2 * 48)
    name = "\\\\?\\" + raw.decode("utf-16-le").rstrip("\0") + "\\"
    if size < len(name) + 1:
        c.set_last_error(ERROR_FILENAME_EXCED_RANGE)
        return 0
    _put(c, buf, name + "\0")
    c.write_u32(block + 4, index + 1)
    return 1


@api(K32, "HANDLE WINAPI FindFirstVolume%(LPTSTR lpszVolumeName, DWORD cchBufferLength)")
def FindFirstVolume(c, buf, size):
    """The first volume's \\\\?\\Volume{GUID}\\; the search handle is a heap block: count, next index, then
    the names (Volume{GUID}, 48 UTF-16 units each)."""
    from winhatch.win32.ntdll.rtl_string import heap_alloc, heap_free
    st, names = _volume_names(c)
    if st:
        c.set_last_nt_error(st)
        return INVALID
    block = heap_alloc(c, 8 + 96 * len(names))
    if not block:
        c.set_last_error(8)    # ERROR_NOT_ENOUGH_MEMORY
        return INVALID
    c.write(block, struct.pack("<II", len(names), 0) +
            b"".join(n.encode("utf-16-le")[:96].ljust(96, b"\0") for n in names))
    if not _next_volume(c, block, buf, size):
        heap_free(c, block)
        return INVALID
    return block


@api(K32, "BOOL WINAPI FindNextVolume%(HANDLE hFindVolume, LPTSTR lpszVolumeName, DWORD cchBufferLength)")
def FindNextVolume(c, h, buf, size):
    return _next_volume(c, h, buf, size)


@api(K32, "BOOL WINAPI FindVolumeClose(HANDLE hFindVolume)")
def FindVolumeClose(c, h):
    from winhatch.win32.ntdll.rtl_string import heap_free
    heap_free(c, h)
    return 1


@api(K32, "BOOL WINAPI GetVolumePathNamesForVolumeName%(LPCTSTR lpszVolumeName, LPTCH lpszVolumePathNames, "
          "DWORD cchBufferLength, PDWORD lpcchReturnLength)")
def GetVolumePathNamesForVolumeName(c, volume, buf, size, pret):
    """The DOS paths of a volume (\\\\?\\Volume{GUID}\\): "C:\\" and a final NUL; the count needed in
    *lpcchReturnLength; a short buffer: ERROR_MORE_DATA."""
    if not volume or not volume.endswith("\\"):
        c.set_last_error(ERROR_INVALID_NAME)
        return 0
    if not volume.upper().startswith("\\\\?\\VOLUME{"):
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    target = ("\\??\\" + volume[4:-1]).encode("utf-16-le")
    st, out = _ioctl(c, mountmgr.IOCTL_MOUNTMGR_QUERY_DOS_VOLUME_PATHS, struct.pack("<H", len(target)) + target)
    if _failed(st):
        c.set_last_nt_error(st)
        return 0
    n = struct.unpack_from("<I", out)[0]
    text = out[4:4 + n].decode("utf-16-le")
    if pret:
        c.write_u32(pret, len(text))
    if size < len(text) or not buf:
        c.set_last_error(ERROR_MORE_DATA)
        return 0
    _put(c, buf, text)
    return 1


# ------------------------------------------------------------------------------------------ DefineDosDevice
DDD_RAW_TARGET_PATH = 0x1
DDD_REMOVE_DEFINITION = 0x2
DDD_EXACT_MATCH_ON_REMOVE = 0x4
DDD_NO_BROADCAST_SYSTEM = 0x8


@api(K32, "BOOL WINAPI DefineDosDevice%(DWORD dwFlags, LPCTSTR lpDeviceName, LPCTSTR lpTargetPath)")
def DefineDosDevice(c, flags, name, target):
    """A DOS device name (\\??\\name) for a target: a DOS path (made an NT path, \\??\\C:\\dir\\) or, with
    DDD_RAW_TARGET_PATH, an NT name as given. Kernelbase asks the Base server (csrss), which makes the link
    permanent with its own privileges; here file_services.define_dos_device does the server's part."""
    from winhatch.kernel.io import file_services as FS
    from winhatch.ntstatus import NtStatusError
    if not name or flags & ~0xF or "\\" in name.rstrip("\\"):
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    name = name.rstrip("\\")
    try:
        if flags & DDD_REMOVE_DEFINITION:
            want = None
            if target:
                want = target if flags & DDD_RAW_TARGET_PATH else P.to_nt_path(target, cwd(c))
            FS.remove_dos_device(c.machine, name, want)
            return 1
        if not target:
            c.set_last_error(ERROR_INVALID_PARAMETER)
            return 0
        nt = target if flags & DDD_RAW_TARGET_PATH else P.to_nt_path(target, cwd(c))
        FS.define_dos_device(c.machine, name, nt)
        return 1
    except NtStatusError as e:
        c.set_last_nt_error(e.status)
        return 0


@api(K32, "DWORD WINAPI GetLogicalDriveStrings%(DWORD nBufferLength, LPTSTR lpBuffer)")
def GetLogicalDriveStrings(c, size, buf):
    """"A:\\", "C:\\" … of the drives GetLogicalDrives reports, each with its NUL, then a NUL; returns the
    count without the final NUL, or the size needed (with it) when the buffer is too short (left as it was)."""
    mask = 0
    hp = c.stack_alloc(c.ptr_size, 8)
    for i in range(26):     # the drive letters with a DOS device link, as GetLogicalDrives
        oa = c.object_attributes(c.unicode_string(f"\\??\\{chr(65 + i)}:"))
        if c.nt("NtOpenSymbolicLinkObject", hp, SYMBOLIC_LINK_QUERY, oa) == 0:
            mask |= 1 << i
            _close(c, c.ptr(hp))
    text = "".join(f"{chr(65 + i)}:\\\0" for i in range(26) if mask >> i & 1)
    if size < len(text) + 1 or not buf:
        return len(text) + 1
    _put(c, buf, text + "\0")
    return len(text)


# ------------------------------------------------------------------------------------------ volume mount points
IOCTL_MOUNTMGR_CREATE_POINT = 0x006DC000
IOCTL_MOUNTMGR_DELETE_POINTS = 0x006DC004


def _open_manager_for_change(c) -> tuple[int, int]:
    """The mount manager opened for changing the mount table (GENERIC_READ | GENERIC_WRITE), as kernelbase
    opens it before it creates or deletes a mount point: (status, handle)."""
    hp = c.stack_alloc(c.ptr_size, 8)
    iosb = c.stack_alloc(2 * c.ptr_size, 8)
    oa = c.object_attributes(c.unicode_string("\\??\\MountPointManager"), 0)
    st = c.nt("NtCreateFile", hp, 0xC0000000 | SYNCHRONIZE, oa, iosb, 0, 0, 3, 1, 0x20, 0, 0)
    return st, (c.ptr(hp) if not _failed(st) else 0)


@api(K32, "BOOL WINAPI SetVolumeMountPoint%(LPCTSTR lpszVolumeMountPoint, LPCTSTR lpszVolumeName)")
def SetVolumeMountPoint(c, mount, volume):
    """Mounting a volume at a folder or drive letter changes the mount manager's table, which only an
    administrator may: the sandbox's standard user gets ERROR_ACCESS_DENIED from the manager's open."""
    if not mount or not volume or not mount.endswith("\\") or not volume.endswith("\\"):
        c.set_last_error(ERROR_INVALID_NAME)
        return 0
    st, h = _open_manager_for_change(c)
    if _failed(st):
        c.set_last_nt_error(st)
        return 0
    _close(c, h)
    from winhatch.win32.ntdll.seh import raise_unsupported
    raise_unsupported(c, "SetVolumeMountPoint by an administrator (volume mount points in folders)")


@api(K32, "BOOL WINAPI DeleteVolumeMountPoint%(LPCTSTR lpszVolumeMountPoint)")
def DeleteVolumeMountPoint(c, mount):
    """As SetVolumeMountPoint: only an administrator may change the mount table (ERROR_ACCESS_DENIED)."""
    if not mount or not mount.endswith("\\"):
        c.set_last_error(ERROR_INVALID_NAME)
        return 0
    st, h = _open_manager_for_change(c)
    if _failed(st):
        c.set_last_nt_error(st)
        return 0
    _close(c, h)
    from winhatch.win32.ntdll.seh import raise_unsupported
    raise_unsupported(c, "DeleteVolumeMountPoint by an administrator")
