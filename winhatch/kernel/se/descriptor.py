"""Security descriptors held by objects (SeAssignSecurity / SeQuerySecurityDescriptorInfo /
SeSetSecurityDescriptorInfo): an object's descriptor as its parts (owner and group SIDs, DACL and SACL as
bytes), read from a caller's SECURITY_DESCRIPTOR in either form and returned self-relative.

SECURITY_DESCRIPTOR: {BYTE Revision (1), BYTE Sbz1, WORD Control, then Owner, Group, Sacl, Dacl}: pointers in the
absolute form (x64 40 bytes, x86 20), 32-bit offsets in the self-relative one (SE_SELF_RELATIVE, 20 bytes)."""
from __future__ import annotations

import struct

from winhatch._record import Record
from winhatch.kernel.ke.services import user_read
from winhatch.ntstatus import NtStatusError

SE_OWNER_DEFAULTED = 0x0001
SE_GROUP_DEFAULTED = 0x0002
SE_DACL_PRESENT = 0x0004
SE_SACL_PRESENT = 0x0010
SE_SELF_RELATIVE = 0x8000
OWNER_SECURITY_INFORMATION = 0x1
GROUP_SECURITY_INFORMATION = 0x2
DACL_SECURITY_INFORMATION = 0x4
SACL_SECURITY_INFORMATION = 0x8
STATUS_INVALID_SECURITY_DESCR = 0xC0000079


class Security(Record):
    _fields = ("owner", "group", "dacl", "dacl_present", "sacl")

    def __init__(self, owner: bytes | None = None, group: bytes | None = None, dacl: bytes | None = None,
                 dacl_present: bool = False, sacl: bytes | None = None) -> None:
        self.owner = owner
        self.group = group
        self.dacl = dacl                # None: no DACL (with dacl_present: a NULL DACL, everyone allowed)
        self.dacl_present = dacl_present
        self.sacl = sacl


def _ptr(proc) -> int:
    return 8 if proc.arch == "x64" else 4


def read_descriptor(proc, addr: int) -> Security:
    """The parts of a caller's SECURITY_DESCRIPTOR (absolute or self-relative)."""
    rev, _sbz, control = struct.unpack("<BBH", user_read(proc, addr, 4))
    if rev != 1:
        raise NtStatusError(STATUS_INVALID_SECURITY_DESCR, "security descriptor revision")
    if control & SE_SELF_RELATIVE:
        offs = struct.unpack("<IIII", user_read(proc, addr + 4, 16))
        owner_a, group_a, sacl_a, dacl_a = (addr + o if o else 0 for o in offs)
    else:
        p = _ptr(proc)
        owner_a, group_a, sacl_a, dacl_a = struct.unpack("<4Q" if p == 8 else "<4I", user_read(proc, addr + p, 4 * p))

    def sid(a: int) -> bytes | None:
        if not a:
            return None
        n = user_read(proc, a + 1, 1)[0]
        return user_read(proc, a, 8 + 4 * n)

    def acl(a: int) -> bytes | None:
        if not a:
            return None
        size = struct.unpack("<H", user_read(proc, a + 2, 2))[0]
        return user_read(proc, a, size)
    present = bool(control & SE_DACL_PRESENT)
    return Security(sid(owner_a), sid(group_a), acl(dacl_a) if present else None, present,
                    acl(sacl_a) if control & SE_SACL_PRESENT else None)


def self_relative(sec: Security, info: int) -> bytes:
    """The parts `info` asks for (OWNER/GROUP/DACL/SACL_SECURITY_INFORMATION) as a self-relative descriptor."""
    control = SE_SELF_RELATIVE
    body = b""
    offs = [0, 0, 0, 0]                 # Owner, Group, Sacl, Dacl

    def add(i: int, data: bytes | None) -> None:
        nonlocal body
        if data is None:
            return
        offs[i] = 20 + len(body)
        body += data + bytes(-len(data) % 4)
    if info & SACL_SECURITY_INFORMATION and sec.sacl is not None:
        control |= SE_SACL_PRESENT
        add(2, sec.sacl)
    if info & DACL_SECURITY_INFORMATION and sec.dacl_present:
        control |= SE_DACL_PRESENT
        add(3, sec.dacl)
    if info & OWNER_SECURITY_INFORMATION:
        add(0, sec.owner)
    if info & GROUP_SECURITY_INFORMATION:
        add(1, sec.group)
    return struct.pack("<BBH4I", 1, 0, control, *offs) + body


def assign(proc, token, sd_addr: int = 0) -> Security:
    """SeAssignSecurity for a new object: what the creator's descriptor gives, the rest from its token (the
    owner, the primary group, the default DACL)."""
    from winhatch.kernel.se.services import default_dacl
    from winhatch.kernel.se.token import sid_bytes
    given = read_descriptor(proc, sd_addr) if sd_addr else Security()
    out = Security(given.owner, given.group, given.dacl, given.dacl_present, given.sacl)
    if out.owner is None:
        out.owner = sid_bytes(token.owner)
    if out.group is None:
        out.group = sid_bytes(token.primary_group)
    if not given.dacl_present:
        out.dacl, out.dacl_present = default_dacl(token), True
    return out
