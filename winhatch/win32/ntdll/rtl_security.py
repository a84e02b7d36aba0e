"""ntdll's SID and security-descriptor library (user mode, no system call): RtlLengthSid, RtlValidSid,
RtlEqualSid, RtlCopySid, RtlCreateSecurityDescriptor, RtlSet/GetOwnerSecurityDescriptor,
RtlSet/GetGroupSecurityDescriptor, RtlLengthSecurityDescriptor; and advapi32's wrappers over them
(InitializeSecurityDescriptor, SetSecurityDescriptorOwner/Group, GetSecurityDescriptorOwner/Group, EqualSid,
GetLengthSid, IsValidSid, CopySid) with CreateWellKnownSid.

The structures are the documented ones: a SID {BYTE Revision (1), BYTE SubAuthorityCount (at most 15),
SID_IDENTIFIER_AUTHORITY (6 bytes, big-endian), DWORD SubAuthority[]}; a SECURITY_DESCRIPTOR {BYTE Revision (1),
BYTE Sbz1, WORD Control, then Owner, Group, Sacl, Dacl} — pointers in the absolute form (x64 40 bytes, x86 20),
32-bit offsets from its start in the self-relative one (SE_SELF_RELATIVE, 20 bytes, what NtQuerySecurityObject
returns).
"""
from __future__ import annotations

import struct

from winhatch.win32.api import api

NT = "ntdll.dll"
ADV = ("advapi32.dll", "kernelbase.dll")   # advapi32 and kernelbase both export them

SID_REVISION = 1
SID_MAX_SUB_AUTHORITIES = 15
SECURITY_DESCRIPTOR_REVISION = 1
SE_OWNER_DEFAULTED = 0x0001
SE_GROUP_DEFAULTED = 0x0002
SE_DACL_PRESENT = 0x0004
SE_SACL_PRESENT = 0x0010
SE_SELF_RELATIVE = 0x8000

STATUS_SUCCESS = 0
STATUS_BUFFER_TOO_SMALL = 0xC0000023
STATUS_UNKNOWN_REVISION = 0xC0000058
STATUS_INVALID_SECURITY_DESCR = 0xC0000079
STATUS_INVALID_SID = 0xC0000078
ERROR_INSUFFICIENT_BUFFER = 122
ERROR_INVALID_PARAMETER = 87

# WELL_KNOWN_SID_TYPE (winnt.h) -> the SID, for the types that need no domain (Microsoft's "Well-known SIDs")
WELL_KNOWN_SIDS = {
    0: "S-1-0-0", 1: "S-1-1-0", 2: "S-1-2-0", 3: "S-1-3-0", 4: "S-1-3-1", 5: "S-1-3-2", 6: "S-1-3-3",
    7: "S-1-5", 8: "S-1-5-1", 9: "S-1-5-2", 10: "S-1-5-3", 11: "S-1-5-4", 12: "S-1-5-6", 13: "S-1-5-7",
    14: "S-1-5-8", 15: "S-1-5-9", 16: "S-1-5-10", 17: "S-1-5-11", 18: "S-1-5-12", 19: "S-1-5-13",
    20: "S-1-5-14", 22: "S-1-5-18", 23: "S-1-5-19", 24: "S-1-5-20", 25: "S-1-5-32",
    26: "S-1-5-32-544", 27: "S-1-5-32-545", 28: "S-1-5-32-546", 29: "S-1-5-32-547", 30: "S-1-5-32-548",
    31: "S-1-5-32-549", 32: "S-1-5-32-550", 33: "S-1-5-32-551", 34: "S-1-5-32-552", 35: "S-1-5-32-554",
    36: "S-1-5-32-555", 37: "S-1-5-32-556", 51: "S-1-5-64-10", 52: "S-1-5-64-21", 53: "S-1-5-64-14",
    54: "S-1-5-15", 55: "S-1-5-1000", 56: "S-1-5-32-557", 57: "S-1-5-32-558", 58: "S-1-5-32-559",
    59: "S-1-5-32-560", 60: "S-1-5-32-561", 61: "S-1-5-32-562", 62: "S-1-5-32-568", 63: "S-1-5-17",
    64: "S-1-5-32-569", 65: "S-1-16-0", 66: "S-1-16-4096", 67: "S-1-16-8192", 68: "S-1-16-12288",
    69: "S-1-16-16384", 70: "S-1-5-33", 71: "S-1-3-4", 79: "S-1-16-8448", 80: "S-1-2-0", 81: "S-1-2-1",
    83: "S-1-15-2", 84: "S-1-15-2-1",
}
# the types relative to a domain (WinAccount*Sid, WinLogonIdsSid...): a DomainSid is required
DOMAIN_TYPES = set(range(38, 51)) | {21, 72, 73, 74, 75, 77, 100}


# ------------------------------------------------------------------------------------------ guest helpers
def sid_length(c, sid: int) -> int:
    n = c.read(sid + 1, 1)[0]
    return 8 + 4 * n


def read_sid(c, sid: int) -> bytes:
    return c.read(sid, sid_length(c, sid))


def valid_sid(c, sid: int) -> bool:
    if not sid:
        return False
    rev, n = c.read(sid, 2)
    return rev == SID_REVISION and n <= SID_MAX_SUB_AUTHORITIES


def sid_from_text(text: str) -> bytes:
    parts = text.split("-")
    subs = [int(p) for p in parts[3:]]
    return struct.pack("<BB", int(parts[1]), len(subs)) + int(parts[2]).to_bytes(6, "big") + \
        b"".join(struct.pack("<I", s) for s in subs)


def _sd_fields(c, sd: int) -> tuple[int, int, list[int]]:
    """(Revision, Control, [Owner, Group, Sacl, Dacl] as addresses, 0 for none) of either form."""
    rev, _sbz, control = struct.unpack("<BBH", c.read(sd, 4))
    if control & SE_SELF_RELATIVE:
        offs = struct.unpack("<IIII", c.read(sd + 4, 16))
        return rev, control, [sd + o if o else 0 for o in offs]
    ps = c.ptr_size
    return rev, control, [c.ptr(sd + ps + i * ps) for i in range(4)]


# ------------------------------------------------------------------------------------------ SIDs
@api(NT, "ULONG NTAPI RtlLengthSid(PVOID Sid)")
def RtlLengthSid(c, sid):
    return sid_length(c, sid)


@api(NT, "BOOLEAN NTAPI RtlValidSid(PVOID Sid)")
def RtlValidSid(c, sid):
    return 1 if valid_sid(c, sid) else 0


@api(NT, "BOOLEAN NTAPI RtlEqualSid(PVOID Sid1, PVOID Sid2)")
def RtlEqualSid(c, a, b):
    return 1 if read_sid(c, a) == read_sid(c, b) else 0


@api(NT, "NTSTATUS NTAPI RtlCopySid(ULONG DestinationSidLength, PVOID DestinationSid, PVOID SourceSid)")
def RtlCopySid(c, length, dst, src):
    data = read_sid(c, src)
    if length < len(data):
        return STATUS_BUFFER_TOO_SMALL
    c.write(dst, data)
    return STATUS_SUCCESS


# ------------------------------------------------------------------------------------------ security descriptors
@api(NT, "NTSTATUS NTAPI RtlCreateSecurityDescriptor(PVOID SecurityDescriptor, ULONG Revision)")
def RtlCreateSecurityDescriptor(c, sd, revision):
    return _create_sd(c, sd, revision)


def _set_sid_field(c, sd: int, index: int, sid: int, defaulted: bool, flag: int) -> int:
    rev, control, _ = _sd_fields(c, sd)
    if rev != SECURITY_DESCRIPTOR_REVISION:
        return STATUS_UNKNOWN_REVISION
    if control & SE_SELF_RELATIVE:
        return STATUS_INVALID_SECURITY_DESCR
    c.write_ptr(sd + c.ptr_size * (1 + index), sid)
    control = (control | flag) if defaulted else (control & ~flag)
    c.write(sd + 2, struct.pack("<H", control))
    return STATUS_SUCCESS


def _get_sid_field(c, sd: int, index: int, out: int, defaulted_out: int, flag: int) -> int:
    rev, control, fields = _sd_fields(c, sd)
    if rev != SECURITY_DESCRIPTOR_REVISION:
        return STATUS_UNKNOWN_REVISION
    c.write_ptr(out, fields[index])
    c.write(defaulted_out, bytes([1 if control & flag else 0]))
    return STATUS_SUCCESS


@api(NT, "NTSTATUS NTAPI RtlSetOwnerSecurityDescriptor(PVOID SecurityDescriptor, PVOID Owner, "
         "BOOLEAN OwnerDefaulted)")
def RtlSetOwnerSecurityDescriptor(c, sd, sid, defaulted):
    return _set_sid_field(c, sd, 0, sid, bool(defaulted & 0xFF), SE_OWNER_DEFAULTED)


@api(NT, "NTSTATUS NTAPI RtlSetGroupSecurityDescriptor(PVOID SecurityDescriptor, PVOID Group, "
         "BOOLEAN GroupDefaulted)")
def RtlSetGroupSecurityDescriptor(c, sd, sid, defaulted):
    return _set_sid_field(c, sd, 1, sid, bool(defaulted & 0xFF), SE_GROUP_DEFAULTED)


@api(NT, "NTSTATUS NTAPI RtlGetOwnerSecurityDescriptor(PVOID SecurityDescriptor, PVOID *Owner, "
         "PBOOLEAN OwnerDefaulted)")
def RtlGetOwnerSecurityDescriptor(c, sd, out, defaulted):
    return _get_sid_field(c, sd, 0, out, defaulted, SE_OWNER_DEFAULTED)


@api(NT, "NTSTATUS NTAPI RtlGetGroupSecurityDescriptor(PVOID SecurityDescriptor, PVOID *Group, "
         "PBOOLEAN GroupDefaulted)")
def RtlGetGroupSecurityDescriptor(c, sd, out, defaulted):
    return _get_sid_field(c, sd, 1, out, defaulted, SE_GROUP_DEFAULTED)


@api(NT, "ULONG NTAPI RtlLengthSecurityDescriptor(PVOID SecurityDescriptor)")
def RtlLengthSecurityDescriptor(c, sd):
    """The size of the descriptor's structure (self-relative 20 bytes, absolute x64 40 / x86 20) and every SID
    and ACL it refers to."""
    _rev, control, fields = _sd_fields(c, sd)
    n = 20 if control & SE_SELF_RELATIVE else 5 * c.ptr_size
    for i, addr in enumerate(fields):
        if not addr:
            continue
        if i < 2:
            n += sid_length(c, addr)
        else:
            n += (struct.unpack("<H", c.read(addr + 2, 2))[0] + 3) & ~3
    return n


STATUS_BAD_DESCRIPTOR_FORMAT = 0xC00000E7


def _self_relative(c, sd: int, out: int, plen: int, from_self_relative: bool) -> int:
    """The self-relative copy of the descriptor at sd into out (*plen bytes): the 20-byte header, then the SACL,
    the DACL, the owner and the group, each at a 4-byte boundary, their offsets in the header. Too small a
    buffer: *plen receives the size needed, STATUS_BUFFER_TOO_SMALL; on success *plen is left as it was."""
    rev, control, fields = _sd_fields(c, sd)
    need = RtlLengthSecurityDescriptor(c, sd)
    if control & SE_SELF_RELATIVE:
        if not from_self_relative:
            return STATUS_BAD_DESCRIPTOR_FORMAT
        if c.u32(plen) < need:
            c.write_u32(plen, need)
            return STATUS_BUFFER_TOO_SMALL
        c.write(out, c.read(sd, need))
        return STATUS_SUCCESS
    need = need - 5 * c.ptr_size + 20
    if c.u32(plen) < need or not out:
        c.write_u32(plen, need)
        return STATUS_BUFFER_TOO_SMALL
    owner, group, sacl, dacl = fields
    offs = {}
    data = bytearray()
    for key, addr in (("sacl", sacl), ("dacl", dacl), ("owner", owner), ("group", group)):
        if not addr:
            offs[key] = 0
            continue
        blob = read_sid(c, addr) if key in ("owner", "group") else \
            c.read(addr, struct.unpack("<H", c.read(addr + 2, 2))[0])
        offs[key] = 20 + len(data)
        data += blob + bytes(-len(blob) % 4)
    c.write(out, struct.pack("<BBHIIII", rev, 0, control | SE_SELF_RELATIVE, offs["owner"], offs["group"],
                             offs["sacl"], offs["dacl"]) + bytes(data))
    return STATUS_SUCCESS


@api(NT, "NTSTATUS NTAPI RtlMakeSelfRelativeSD(PVOID AbsoluteSecurityDescriptor, "
         "PVOID SelfRelativeSecurityDescriptor, PULONG BufferLength)")
def RtlMakeSelfRelativeSD(c, sd, out, plen):
    """Either form in, the self-relative form out (a self-relative one is copied)."""
    return _self_relative(c, sd, out, plen, True)


@api(NT, "NTSTATUS NTAPI RtlAbsoluteToSelfRelativeSD(PVOID AbsoluteSecurityDescriptor, "
         "PVOID SelfRelativeSecurityDescriptor, PULONG BufferLength)")
def RtlAbsoluteToSelfRelativeSD(c, sd, out, plen):
    """An absolute descriptor in (a self-relative one is STATUS_BAD_DESCRIPTOR_FORMAT), the self-relative form
    out."""
    return _self_relative(c, sd, out, plen, False)


# ------------------------------------------------------------------------------------------ advapi32
def _bool(c, status: int) -> int:
    if status:
        c.set_last_nt_error(status)
        return 0
    return 1


@api(ADV, "BOOL WINAPI InitializeSecurityDescriptor(PVOID pSecurityDescriptor, DWORD dwRevision)")
def InitializeSecurityDescriptor(c, sd, revision):
    return _bool(c, _create_sd(c, sd, revision))


def _create_sd(c, sd: int, revision: int) -> int:
    if revision != SECURITY_DESCRIPTOR_REVISION:
        return STATUS_UNKNOWN_REVISION
    c.write(sd, struct.pack("<BBH", SECURITY_DESCRIPTOR_REVISION, 0, 0) + bytes(5 * c.ptr_size - 4))
    return STATUS_SUCCESS


@api(ADV, "BOOL WINAPI SetSecurityDescriptorOwner(PVOID pSecurityDescriptor, PVOID pOwner, BOOL bOwnerDefaulted)")
def SetSecurityDescriptorOwner(c, sd, sid, defaulted):
    return _bool(c, _set_sid_field(c, sd, 0, sid, bool(defaulted), SE_OWNER_DEFAULTED))


@api(ADV, "BOOL WINAPI SetSecurityDescriptorGroup(PVOID pSecurityDescriptor, PVOID pGroup, BOOL bGroupDefaulted)")
def SetSecurityDescriptorGroup(c, sd, sid, defaulted):
    return _bool(c, _set_sid_field(c, sd, 1, sid, bool(defaulted), SE_GROUP_DEFAULTED))


def _get_sid_field_bool(c, sd: int, index: int, out: int, defaulted_out: int, flag: int) -> int:
    rev, control, fields = _sd_fields(c, sd)
    if rev != SECURITY_DESCRIPTOR_REVISION:
        return _bool(c, STATUS_UNKNOWN_REVISION)
    c.write_ptr(out, fields[index])
    c.write_u32(defaulted_out, 1 if control & flag else 0)     # LPBOOL
    return 1


@api(ADV, "BOOL WINAPI GetSecurityDescriptorOwner(PVOID pSecurityDescriptor, PVOID *pOwner, "
          "LPBOOL lpbOwnerDefaulted)")
def GetSecurityDescriptorOwner(c, sd, out, defaulted):
    return _get_sid_field_bool(c, sd, 0, out, defaulted, SE_OWNER_DEFAULTED)


@api(ADV, "BOOL WINAPI GetSecurityDescriptorGroup(PVOID pSecurityDescriptor, PVOID *pGroup, "
          "LPBOOL lpbGroupDefaulted)")
def GetSecurityDescriptorGroup(c, sd, out, defaulted):
    return _get_sid_field_bool(c, sd, 1, out, defaulted, SE_GROUP_DEFAULTED)


@api(ADV, "BOOL WINAPI EqualSid(PVOID pSid1, PVOID pSid2)")
def EqualSid(c, a, b):
    c.set_last_error(0)
    return 1 if read_sid(c, a) == read_sid(c, b) else 0


@api(ADV, "DWORD WINAPI GetLengthSid(PVOID pSid)")
def GetLengthSid(c, sid):
    return sid_length(c, sid)


@api(ADV, "BOOL WINAPI IsValidSid(PVOID pSid)")
def IsValidSid(c, sid):
    return 1 if valid_sid(c, sid) else 0


@api(ADV, "BOOL WINAPI CopySid(DWORD nDestinationSidLength, PVOID pDestinationSid, PVOID pSourceSid)")
def CopySid(c, length, dst, src):
    data = read_sid(c, src)
    if length < len(data):
        c.set_last_error(ERROR_INSUFFICIENT_BUFFER)
        return 0
    c.write(dst, data)
    return 1


@api(ADV, "BOOL WINAPI CreateWellKnownSid(DWORD WellKnownSidType, PVOID DomainSid, PVOID pSid, DWORD *cbSid)")
def CreateWellKnownSid(c, kind, domain, sid, cb):
    """The SID of a well-known type (WELL_KNOWN_SID_TYPE). *cbSid too small: ERROR_INSUFFICIENT_BUFFER with the
    size needed; an unknown type ERROR_INVALID_PARAMETER. The types relative to a domain stop loudly."""
    if kind in DOMAIN_TYPES:
        from winhatch.win32.ntdll.seh import raise_unsupported
        raise_unsupported(c, f"CreateWellKnownSid of the domain-relative type {kind}")
    text = WELL_KNOWN_SIDS.get(kind)
    if text is None or not cb:
        if text is None and kind <= 106:
            from winhatch.win32.ntdll.seh import raise_unsupported
            raise_unsupported(c, f"CreateWellKnownSid of the type {kind}")
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    data = sid_from_text(text)
    if c.u32(cb) < len(data) or not sid:
        c.write_u32(cb, len(data))
        c.set_last_error(ERROR_INSUFFICIENT_BUFFER)
        return 0
    c.write(sid, data)
    c.write_u32(cb, len(data))
    return 1


# ------------------------------------------------------------------------------------------ ACLs and ACEs
# ACL {BYTE AclRevision (ACL_REVISION 2, ACL_REVISION_DS 4), BYTE Sbz1, WORD AclSize, WORD AceCount, WORD Sbz2}
# then the ACEs, each {BYTE AceType, BYTE AceFlags, WORD AceSize} and its body; an access ACE's body is
# {ACCESS_MASK Mask, SID}.
ACL_REVISION, ACL_REVISION_DS = 2, 4
MIN_ACL_REVISION, MAX_ACL_REVISION = 2, 4
ACCESS_ALLOWED_ACE_TYPE, ACCESS_DENIED_ACE_TYPE, SYSTEM_AUDIT_ACE_TYPE = 0, 1, 2
SYSTEM_MANDATORY_LABEL_ACE_TYPE = 0x11
VALID_INHERIT_FLAGS = 0x1F
SUCCESSFUL_ACCESS_ACE_FLAG, FAILED_ACCESS_ACE_FLAG = 0x40, 0x80
STATUS_INVALID_ACL = 0xC0000077
STATUS_ALLOTTED_SPACE_EXCEEDED = 0xC0000099
STATUS_REVISION_MISMATCH = 0xC0000059
STATUS_INVALID_PARAMETER = 0xC000000D
MAX_ACES = 0x10000


def _acl_header(c, acl: int) -> tuple[int, int, int]:
    """(AclRevision, AclSize, AceCount)."""
    rev, _sbz, size, count, _ = struct.unpack("<BBHHH", c.read(acl, 8))
    return rev, size, count


def _aces(c, acl: int) -> list[tuple[int, int]] | None:
    """(address, size) of each ACE, or None when they overrun the ACL (bounded by AclSize and 64K ACEs)."""
    rev, size, count = _acl_header(c, acl)
    out = []
    at, end = acl + 8, acl + size
    for _ in range(min(count, MAX_ACES)):
        if at + 4 > end:
            return None
        ace_size = struct.unpack("<H", c.read(at + 2, 2))[0]
        if ace_size < 4 or ace_size & 3 or at + ace_size > end:
            return None
        out.append((at, ace_size))
        at += ace_size
    return out


def valid_acl(c, acl: int) -> bool:
    rev, size, count = _acl_header(c, acl)
    if not MIN_ACL_REVISION <= rev <= MAX_ACL_REVISION or size < 8 or size & 3:
        return False
    return _aces(c, acl) is not None


def _create_acl(c, acl: int, length: int, revision: int) -> int:
    if length < 8:
        return STATUS_BUFFER_TOO_SMALL
    if not MIN_ACL_REVISION <= revision <= MAX_ACL_REVISION or length > 0xFFFF:
        return STATUS_INVALID_PARAMETER
    c.write(acl, struct.pack("<BBHHH", revision, 0, length & ~3, 0, 0))
    return STATUS_SUCCESS


def _first_free(c, acl: int) -> int | None:
    aces = _aces(c, acl)
    if aces is None:
        return None
    return aces[-1][0] + aces[-1][1] if aces else acl + 8


def _add_access_ace(c, acl: int, revision: int, flags: int, mask: int, sid: int, ace_type: int) -> int:
    """An access ACE (allowed, denied, audit, mandatory label) added at the ACL's end; the ACL's revision rises
    to the ACE's (ACL_REVISION_DS for the object ACEs is not modelled here: these are not object ACEs)."""
    if not valid_acl(c, acl):
        return STATUS_INVALID_ACL
    if not valid_sid(c, sid):
        return STATUS_INVALID_SID
    if flags & ~(VALID_INHERIT_FLAGS | SUCCESSFUL_ACCESS_ACE_FLAG | FAILED_ACCESS_ACE_FLAG):
        return STATUS_INVALID_PARAMETER
    rev, size, count = _acl_header(c, acl)
    if not MIN_ACL_REVISION <= revision <= MAX_ACL_REVISION:
        return STATUS_REVISION_MISMATCH
    body = read_sid(c, sid)
    ace_size = 8 + len(body)
    at = _first_free(c, acl)
    if at is None:
        return STATUS_INVALID_ACL
    if at + ace_size > acl + size:
        return STATUS_ALLOTTED_SPACE_EXCEEDED
    c.write(at, struct.pack("<BBHI", ace_type, flags, ace_size, mask) + body)
    c.write(acl, bytes([max(rev, revision)]))
    c.write(acl + 4, struct.pack("<H", count + 1))
    return STATUS_SUCCESS


def _get_ace(c, acl: int, index: int, out: int) -> int:
    if not valid_acl(c, acl):
        return STATUS_INVALID_PARAMETER
    aces = _aces(c, acl)
    if index >= len(aces):
        return STATUS_INVALID_PARAMETER
    c.write_ptr(out, aces[index][0])
    return STATUS_SUCCESS


def _sd_set_acl(c, sd: int, index: int, present: int, acl: int, defaulted: int, present_flag: int,
                defaulted_flag: int) -> int:
    """RtlSetDacl/SaclSecurityDescriptor: an absolute descriptor only."""
    rev, control, _ = _sd_fields(c, sd)
    if rev != SECURITY_DESCRIPTOR_REVISION:
        return STATUS_UNKNOWN_REVISION
    if control & SE_SELF_RELATIVE:
        return STATUS_INVALID_SECURITY_DESCR
    if not present:                       # only the present bit goes; the rest is ignored
        c.write(sd + 2, struct.pack("<H", control & ~present_flag))
        return STATUS_SUCCESS
    control |= present_flag
    control = (control | defaulted_flag) if defaulted else (control & ~defaulted_flag)
    c.write_ptr(sd + c.ptr_size * (1 + index), acl)
    c.write(sd + 2, struct.pack("<H", control))
    return STATUS_SUCCESS


def _sd_get_acl(c, sd: int, index: int, ppresent: int, pacl: int, pdefaulted: int, present_flag: int,
                defaulted_flag: int, wide_bool: bool) -> int:
    rev, control, fields = _sd_fields(c, sd)
    if rev != SECURITY_DESCRIPTOR_REVISION:
        return STATUS_UNKNOWN_REVISION
    present = 1 if control & present_flag else 0

    def put_bool(addr: int, v: int) -> None:
        if addr:
            c.write(addr, struct.pack("<I", v) if wide_bool else bytes([v]))
    put_bool(ppresent, present)
    if present:
        c.write_ptr(pacl, fields[index])
        put_bool(pdefaulted, 1 if control & defaulted_flag else 0)
    return STATUS_SUCCESS


SE_DACL_DEFAULTED, SE_SACL_DEFAULTED = 0x0008, 0x0020


@api(NT, "NTSTATUS NTAPI RtlCreateAcl(PVOID Acl, ULONG AclLength, ULONG AclRevision)")
def RtlCreateAcl(c, acl, length, revision):
    return _create_acl(c, acl, length, revision)


@api(NT, "BOOLEAN NTAPI RtlValidAcl(PVOID Acl)")
def RtlValidAcl(c, acl):
    return 1 if acl and valid_acl(c, acl) else 0


@api(NT, "NTSTATUS NTAPI RtlAddAccessAllowedAce(PVOID Acl, ULONG AceRevision, ULONG AccessMask, PVOID Sid)")
def RtlAddAccessAllowedAce(c, acl, rev, mask, sid):
    return _add_access_ace(c, acl, rev, 0, mask, sid, ACCESS_ALLOWED_ACE_TYPE)


@api(NT, "NTSTATUS NTAPI RtlAddAccessAllowedAceEx(PVOID Acl, ULONG AceRevision, ULONG AceFlags, ULONG AccessMask, "
         "PVOID Sid)")
def RtlAddAccessAllowedAceEx(c, acl, rev, flags, mask, sid):
    return _add_access_ace(c, acl, rev, flags, mask, sid, ACCESS_ALLOWED_ACE_TYPE)


@api(NT, "NTSTATUS NTAPI RtlAddAccessDeniedAce(PVOID Acl, ULONG AceRevision, ULONG AccessMask, PVOID Sid)")
def RtlAddAccessDeniedAce(c, acl, rev, mask, sid):
    return _add_access_ace(c, acl, rev, 0, mask, sid, ACCESS_DENIED_ACE_TYPE)


@api(NT, "NTSTATUS NTAPI RtlAddAccessDeniedAceEx(PVOID Acl, ULONG AceRevision, ULONG AceFlags, ULONG AccessMask, "
         "PVOID Sid)")
def RtlAddAccessDeniedAceEx(c, acl, rev, flags, mask, sid):
    return _add_access_ace(c, acl, rev, flags, mask, sid, ACCESS_DENIED_ACE_TYPE)


@api(NT, "BOOLEAN NTAPI RtlFirstFreeAce(PVOID Acl, PVOID *FirstFree)")
def RtlFirstFreeAce(c, acl, out):
    """Where the next ACE would go: the ACEs are walked by their AceSize from just past the header; an ACE
    that starts at or past AclSize is a malformed ACL (FALSE, *FirstFree NULL). Otherwise TRUE, and *FirstFree
    is the end of the last ACE, or NULL when that lies past AclSize (no room: an ACL whose size does not even
    hold its header). The ACEs are not otherwise checked (Wine's ntdll/tests/rtl.c test_RtlFirstFreeAce,
    written on Windows)."""
    c.write_ptr(out, 0)
    _rev, size, count = _acl_header(c, acl)
    at, end = acl + 8, acl + size
    for _ in range(count):              # AceCount is a WORD: at most 65535 steps
        if at >= end:
            return 0
        at += struct.unpack("<H", c.read(at + 2, 2))[0]
    if at <= end:
        c.write_ptr(out, at)
    return 1


@api(NT, "NTSTATUS NTAPI RtlGetAce(PVOID Acl, ULONG AceIndex, PVOID *Ace)")
def RtlGetAce(c, acl, index, out):
    return _get_ace(c, acl, index, out)


@api(NT, "NTSTATUS NTAPI RtlSetDaclSecurityDescriptor(PVOID SecurityDescriptor, BOOLEAN DaclPresent, PVOID Dacl, "
         "BOOLEAN DaclDefaulted)")
def RtlSetDaclSecurityDescriptor(c, sd, present, acl, defaulted):
    return _sd_set_acl(c, sd, 3, present & 0xFF, acl, defaulted & 0xFF, SE_DACL_PRESENT, SE_DACL_DEFAULTED)


@api(NT, "NTSTATUS NTAPI RtlSetSaclSecurityDescriptor(PVOID SecurityDescriptor, BOOLEAN SaclPresent, PVOID Sacl, "
         "BOOLEAN SaclDefaulted)")
def RtlSetSaclSecurityDescriptor(c, sd, present, acl, defaulted):
    return _sd_set_acl(c, sd, 2, present & 0xFF, acl, defaulted & 0xFF, SE_SACL_PRESENT, SE_SACL_DEFAULTED)


@api(NT, "NTSTATUS NTAPI RtlGetDaclSecurityDescriptor(PVOID SecurityDescriptor, PBOOLEAN DaclPresent, PVOID *Dacl, "
         "PBOOLEAN DaclDefaulted)")
def RtlGetDaclSecurityDescriptor(c, sd, ppresent, pacl, pdefaulted):
    return _sd_get_acl(c, sd, 3, ppresent, pacl, pdefaulted, SE_DACL_PRESENT, SE_DACL_DEFAULTED, False)


@api(NT, "NTSTATUS NTAPI RtlGetSaclSecurityDescriptor(PVOID SecurityDescriptor, PBOOLEAN SaclPresent, PVOID *Sacl, "
         "PBOOLEAN SaclDefaulted)")
def RtlGetSaclSecurityDescriptor(c, sd, ppresent, pacl, pdefaulted):
    return _sd_get_acl(c, sd, 2, ppresent, pacl, pdefaulted, SE_SACL_PRESENT, SE_SACL_DEFAULTED, False)


@api(ADV, "BOOL WINAPI InitializeAcl(PVOID pAcl, DWORD nAclLength, DWORD dwAclRevision)")
def InitializeAcl(c, acl, length, revision):
    return _bool(c, _create_acl(c, acl, length, revision))


@api(ADV, "BOOL WINAPI IsValidAcl(PVOID pAcl)")
def IsValidAcl(c, acl):
    return 1 if acl and valid_acl(c, acl) else 0


@api(ADV, "BOOL WINAPI AddAccessAllowedAce(PVOID pAcl, DWORD dwAceRevision, DWORD AccessMask, PVOID pSid)")
def AddAccessAllowedAce(c, acl, rev, mask, sid):
    return _bool(c, _add_access_ace(c, acl, rev, 0, mask, sid, ACCESS_ALLOWED_ACE_TYPE))


@api(ADV, "BOOL WINAPI AddAccessAllowedAceEx(PVOID pAcl, DWORD dwAceRevision, DWORD AceFlags, DWORD AccessMask, "
          "PVOID pSid)")
def AddAccessAllowedAceEx(c, acl, rev, flags, mask, sid):
    return _bool(c, _add_access_ace(c, acl, rev, flags, mask, sid, ACCESS_ALLOWED_ACE_TYPE))


@api(ADV, "BOOL WINAPI AddAccessDeniedAce(PVOID pAcl, DWORD dwAceRevision, DWORD AccessMask, PVOID pSid)")
def AddAccessDeniedAce(c, acl, rev, mask, sid):
    return _bool(c, _add_access_ace(c, acl, rev, 0, mask, sid, ACCESS_DENIED_ACE_TYPE))


@api(ADV, "BOOL WINAPI AddAccessDeniedAceEx(PVOID pAcl, DWORD dwAceRevision, DWORD AceFlags, DWORD AccessMask, "
          "PVOID pSid)")
def AddAccessDeniedAceEx(c, acl, rev, flags, mask, sid):
    return _bool(c, _add_access_ace(c, acl, rev, flags, mask, sid, ACCESS_DENIED_ACE_TYPE))


@api(ADV, "BOOL WINAPI GetAce(PVOID pAcl, DWORD dwAceIndex, LPVOID *pAce)")
def GetAce(c, acl, index, out):
    return _bool(c, _get_ace(c, acl, index, out))


@api(ADV, "BOOL WINAPI SetSecurityDescriptorDacl(PVOID pSecurityDescriptor, BOOL bDaclPresent, PVOID pDacl, "
          "BOOL bDaclDefaulted)")
def SetSecurityDescriptorDacl(c, sd, present, acl, defaulted):
    return _bool(c, _sd_set_acl(c, sd, 3, 1 if present else 0, acl, 1 if defaulted else 0, SE_DACL_PRESENT,
                                SE_DACL_DEFAULTED))


@api(ADV, "BOOL WINAPI SetSecurityDescriptorSacl(PVOID pSecurityDescriptor, BOOL bSaclPresent, PVOID pSacl, "
          "BOOL bSaclDefaulted)")
def SetSecurityDescriptorSacl(c, sd, present, acl, defaulted):
    return _bool(c, _sd_set_acl(c, sd, 2, 1 if present else 0, acl, 1 if defaulted else 0, SE_SACL_PRESENT,
                                SE_SACL_DEFAULTED))


@api(ADV, "BOOL WINAPI GetSecurityDescriptorDacl(PVOID pSecurityDescriptor, LPBOOL lpbDaclPresent, PVOID *pDacl, "
          "LPBOOL lpbDaclDefaulted)")
def GetSecurityDescriptorDacl(c, sd, ppresent, pacl, pdefaulted):
    return _bool(c, _sd_get_acl(c, sd, 3, ppresent, pacl, pdefaulted, SE_DACL_PRESENT, SE_DACL_DEFAULTED, True))


@api(ADV, "BOOL WINAPI GetSecurityDescriptorSacl(PVOID pSecurityDescriptor, LPBOOL lpbSaclPresent, PVOID *pSacl, "
          "LPBOOL lpbSaclDefaulted)")
def GetSecurityDescriptorSacl(c, sd, ppresent, pacl, pdefaulted):
    return _bool(c, _sd_get_acl(c, sd, 2, ppresent, pacl, pdefaulted, SE_SACL_PRESENT, SE_SACL_DEFAULTED, True))


# ------------------------------------------------------------------------------------------ allocated SIDs
STATUS_NO_MEMORY = 0xC0000017


def _allocate_sid(c, auth: int, count: int, subs: list[int], out: int) -> int:
    """RtlAllocateAndInitializeSid: a SID of `count` sub-authorities (at most 8 here, as the function takes)
    in the process heap, freed with RtlFreeSid."""
    from winhatch.win32.kernel32.common import heap_alloc
    if count > 8:
        return STATUS_INVALID_SID
    ident = c.read(auth, 6)
    sid = heap_alloc(c, 8 + 4 * count)
    if not sid:
        return STATUS_NO_MEMORY
    c.write(sid, bytes([SID_REVISION, count]) + ident + b"".join(struct.pack("<I", s & 0xFFFFFFFF)
                                                                 for s in subs[:count]))
    c.write_ptr(out, sid)
    return STATUS_SUCCESS


@api(NT, "NTSTATUS NTAPI RtlAllocateAndInitializeSid(PVOID IdentifierAuthority, UCHAR SubAuthorityCount, "
         "ULONG SubAuthority0, ULONG SubAuthority1, ULONG SubAuthority2, ULONG SubAuthority3, ULONG SubAuthority4, "
         "ULONG SubAuthority5, ULONG SubAuthority6, ULONG SubAuthority7, PVOID *Sid)")
def RtlAllocateAndInitializeSid(c, auth, count, s0, s1, s2, s3, s4, s5, s6, s7, out):
    return _allocate_sid(c, auth, count & 0xFF, [s0, s1, s2, s3, s4, s5, s6, s7], out)


@api(NT, "PVOID NTAPI RtlFreeSid(PVOID Sid)")
def RtlFreeSid(c, sid):
    from winhatch.win32.kernel32.common import heap_free
    heap_free(c, sid)
    return 0


@api(ADV, "BOOL WINAPI AllocateAndInitializeSid(PVOID pIdentifierAuthority, BYTE nSubAuthorityCount, "
          "DWORD nSubAuthority0, DWORD nSubAuthority1, DWORD nSubAuthority2, DWORD nSubAuthority3, "
          "DWORD nSubAuthority4, DWORD nSubAuthority5, DWORD nSubAuthority6, DWORD nSubAuthority7, PVOID *pSid)")
def AllocateAndInitializeSid(c, auth, count, s0, s1, s2, s3, s4, s5, s6, s7, out):
    return _bool(c, _allocate_sid(c, auth, count & 0xFF, [s0, s1, s2, s3, s4, s5, s6, s7], out))


@api(ADV, "PVOID WINAPI FreeSid(PVOID pSid)")
def FreeSid(c, sid):
    from winhatch.win32.kernel32.common import heap_free
    heap_free(c, sid)
    return 0


@api(NT, "NTSTATUS NTAPI RtlGetControlSecurityDescriptor(PVOID SecurityDescriptor, PUSHORT Control, PULONG Revision)")
def RtlGetControlSecurityDescriptor(c, sd, pcontrol, prev):
    return _get_control(c, sd, pcontrol, prev)


def _get_control(c, sd: int, pcontrol: int, prev: int) -> int:
    rev, control, _ = _sd_fields(c, sd)
    c.write_u32(prev, rev)
    if rev != SECURITY_DESCRIPTOR_REVISION:
        return STATUS_UNKNOWN_REVISION
    c.write(pcontrol, struct.pack("<H", control))
    return STATUS_SUCCESS


@api(ADV, "BOOL WINAPI GetSecurityDescriptorControl(PVOID pSecurityDescriptor, PUSHORT pControl, LPDWORD lpdwRevision)")
def GetSecurityDescriptorControl(c, sd, pcontrol, prev):
    return _bool(c, _get_control(c, sd, pcontrol, prev))
