"""ntdll's DOS path functions: RtlDetermineDosPathNameType_U, RtlIsDosDeviceName_U, RtlGetFullPathName_U,
RtlDosPathNameToNtPathName_U(_WithStatus).

The path syntax is winhatch.kernel.io.paths (full_path, to_nt_path, the DOS device names): the same code
GetFullPathNameW and CreateFileW use, so ntdll and kernel32 always agree. The current directory is the
process's (kernel32.common.cwd). The NT name is a UNICODE_STRING whose buffer comes from the process heap
(RtlFreeUnicodeString releases it). RTL_RELATIVE_NAME_U, when asked for, is returned empty (no containing
directory handle: the NT name is always absolute):
    x86 (16 bytes)  +0 RelativeName (UNICODE_STRING)  +8 ContainingDirectory  +12 CurDirRef
    x64 (32 bytes)  +0 RelativeName                   +16 ContainingDirectory +24 CurDirRef
"""
from __future__ import annotations

from winhatch.kernel.io import paths
from winhatch.ntstatus import STATUS_NO_MEMORY, STATUS_OBJECT_NAME_INVALID, STATUS_SUCCESS, NtStatusError
from winhatch.win32.api import api

from winhatch.win32.kernel32.common import cwd
from winhatch.win32.ntdll.rtl_string import heap_alloc, set_str, wcslen

NT = "ntdll.dll"
RtlPathTypeUnknown, RtlPathTypeUncAbsolute, RtlPathTypeDriveAbsolute, RtlPathTypeDriveRelative = 0, 1, 2, 3
RtlPathTypeRooted, RtlPathTypeRelative, RtlPathTypeLocalDevice, RtlPathTypeRootLocalDevice = 4, 5, 6, 7


def _no_file_part(name: str, full: str) -> bool:
    """Windows gives no file part for a DOS device name ("nul", "C:\\dir\\COM1"), for a UNC server name alone
    ("\\\\server") and for a name ending in a separator."""
    if full.endswith("\\") or dos_device(name) is not None:
        return True
    if path_type(name) == RtlPathTypeUncAbsolute:
        return len([x for x in _components(name[2:]) if x]) < 2
    return False


def _components(s: str) -> list[str]:
    return s.replace("/", "\\").split("\\")


def _read(c, p: int) -> str:
    return c.read(p, 2 * wcslen(c, p)).decode("utf-16-le", "surrogatepass")


def _sep(ch: str) -> bool:
    return ch in "\\/"


def path_type(s: str) -> int:
    s = s + "\0\0\0\0"
    if _sep(s[0]):
        if not _sep(s[1]):
            return RtlPathTypeRooted
        if s[2] in ".?":
            if _sep(s[3]):
                return RtlPathTypeLocalDevice
            if s[3] == "\0":
                return RtlPathTypeRootLocalDevice
        return RtlPathTypeUncAbsolute
    if s[0] != "\0" and s[1] == ":":
        return RtlPathTypeDriveAbsolute if _sep(s[2]) else RtlPathTypeDriveRelative
    return RtlPathTypeRelative


def dos_device(s: str) -> tuple[int, int] | None:
    """(offset, length) in characters of the DOS device name s designates, or None (RtlIsDosDeviceName_U,
    Windows 10: a \\\\.\\ device path and a UNC path name no DOS device)."""
    kind = path_type(s)
    if kind in (RtlPathTypeUncAbsolute, RtlPathTypeLocalDevice, RtlPathTypeRootLocalDevice) or not s:
        return None
    if _sep(s[-1]):
        return None
    start = max(s.rfind("\\"), s.rfind("/")) + 1
    if start == 0 and kind == RtlPathTypeDriveRelative:
        start = 2
    seg = s[start:]
    dev = paths.device_name(seg)
    if not dev:
        return None
    return start, len(dev)


@api(NT, "ULONG NTAPI RtlDetermineDosPathNameType_U(PCWSTR_RAW Path)")
def RtlDetermineDosPathNameType_U(c, p):
    return path_type(_read(c, p)) if p else RtlPathTypeUnknown


@api(NT, "ULONG NTAPI RtlIsDosDeviceName_U(PCWSTR_RAW DosFileName)")
def RtlIsDosDeviceName_U(c, p):
    d = dos_device(_read(c, p)) if p else None
    return 0 if d is None else ((2 * d[0]) << 16) | (2 * d[1])


@api(NT, "ULONG NTAPI RtlGetFullPathName_U(PCWSTR_RAW FileName, ULONG BufferLength, PWSTR Buffer, PWSTR *FilePart)")
def RtlGetFullPathName_U(c, p, size, buf, pfile):
    """Bytes written (without the NUL), or the bytes needed (with it) when the buffer is too small; 0 for
    an invalid name."""
    if pfile:
        c.write_ptr(pfile, 0)
    if not p:
        return 0
    name = _read(c, p)
    if not name or not name.strip(" "):
        return 0
    try:
        full = paths.full_path(name, cwd(c))
    except NtStatusError:
        return 0
    data = full.encode("utf-16-le", "surrogatepass")
    if len(data) + 2 > size:
        return len(data) + 2
    c.write(buf, data + b"\0\0")
    if pfile and not _no_file_part(name, full):
        c.write_ptr(pfile, buf + 2 * (full.rfind("\\") + 1))
    return len(data)


def _to_nt(c, p, nt, pfile, prel) -> int:
    if pfile:
        c.write_ptr(pfile, 0)
    if not p:
        return STATUS_OBJECT_NAME_INVALID
    name = _read(c, p)
    if not name.strip(" "):
        return STATUS_OBJECT_NAME_INVALID
    try:
        ntname = paths.to_nt_path(name, cwd(c))
    except NtStatusError as e:
        return e.status
    data = ntname.encode("utf-16-le", "surrogatepass")
    if len(data) + 2 > 0xFFFF:
        return 0xC0000106   # STATUS_NAME_TOO_LONG
    buf = heap_alloc(c, len(data) + 2)
    if not buf:
        return STATUS_NO_MEMORY
    c.write(buf, data + b"\0\0")
    set_str(c, nt, len(data), len(data) + 2, buf)
    if pfile and not _no_file_part(name, ntname):
        c.write_ptr(pfile, buf + 2 * (ntname.rfind("\\") + 1))
    if prel:
        c.write(prel, bytes(32 if c.ptr_size == 8 else 16))
    return STATUS_SUCCESS


@api(NT, "BOOLEAN NTAPI RtlDosPathNameToNtPathName_U(PCWSTR_RAW DosFileName, PUNICODE_STRING NtFileName, "
         "PWSTR *FilePart, PVOID RelativeName)")
def RtlDosPathNameToNtPathName_U(c, p, nt, pfile, prel):
    return int(_to_nt(c, p, nt, pfile, prel) == STATUS_SUCCESS)


@api(NT, "NTSTATUS NTAPI RtlDosPathNameToNtPathName_U_WithStatus(PCWSTR_RAW DosFileName, "
         "PUNICODE_STRING NtFileName, PWSTR *FilePart, PVOID RelativeName)")
def RtlDosPathNameToNtPathName_U_WithStatus(c, p, nt, pfile, prel):
    return _to_nt(c, p, nt, pfile, prel)


_ILLEGAL_83 = set('"*+,/:;<=>?[\\]|') | {chr(i) for i in range(0x20)}


def legal_8dot3(name: str) -> tuple[bool, bool]:
    """(legal, contains spaces) of an upper-case OEM name as an 8.3 name: "." and "..", or a base of 1-8
    characters and an optional extension of 1-3 after a single dot, neither ending in a space, no FAT-illegal
    character."""
    if name in (".", ".."):
        return True, False
    base, dot, ext = name.partition(".")
    if not base or len(base) > 8 or "." in ext or (dot and not ext) or len(ext) > 3:
        return False, False
    if base.endswith(" ") or ext.endswith(" ") or any(ch in _ILLEGAL_83 for ch in name):
        return False, False
    return True, " " in name


@api(NT, "BOOLEAN NTAPI RtlIsNameLegalDOS8Dot3(PCUNICODE_STRING Name, POEM_STRING OemName, "
         "PBOOLEAN NameContainsSpaces)")
def RtlIsNameLegalDOS8Dot3(c, pname, poem, pspaces):
    from winhatch.win32.ntdll.rtl_string import get_str, read_units, units_to_mb, upcase_unit
    from winhatch.win32.kernel32 import codepages as cps
    data = units_to_mb([upcase_unit(u) for u in read_units(c, pname)], cps.oemcp(c))
    if poem:
        _, mx, buf = get_str(c, poem)
        if len(data) > mx:
            return 0
        c.write(buf, data)
        set_str(c, poem, len(data))
    elif len(data) > 12:
        return 0
    legal, spaces = legal_8dot3(data.decode("latin-1"))
    if legal and pspaces:
        c.write(pspaces, bytes([spaces]))
    return int(legal)
