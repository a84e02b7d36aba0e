"""advapi32 (sechost): the Security Descriptor Definition Language and string SIDs —
ConvertStringSecurityDescriptorToSecurityDescriptor(A/W), ConvertStringSidToSid(A/W), ConvertSidToStringSid(A/W).

The grammar is Microsoft's "Security Descriptor String Format" and "ACE Strings": O:owner G:group D:dacl
S:sacl, an ACL being its flags (P, AI, AR; NO_ACCESS_CONTROL for a NULL DACL) and (type;flags;rights;
object_guid;inherit_object_guid;account_sid) ACEs. ACE types A, D, AU, AL and ML (the object ACE types with
GUIDs and the callback/conditional ACEs stop loudly); rights as a number (C's strtoul base 0: 0x… hex, 0…
octal, decimal) or a run of the two-letter codes; SIDs as S-R-I-S… or the well-known two-letter aliases. The
aliases relative to the machine's or a domain's SID (LA, LG, DA, DU, …) stop loudly: no domain is modelled.

The result is a self-relative SECURITY_DESCRIPTOR in one LocalAlloc block (the caller frees it with
LocalFree), laid out as the 20-byte header, then the owner, the group, the SACL and the DACL. A malformed string: ERROR_INVALID_PARAMETER; anything wrong inside an ACE (its SID included): ERROR_INVALID_ACL; a bad
owner or group SID: ERROR_INVALID_SID; a revision other than SDDL_REVISION_1: ERROR_UNKNOWN_REVISION. The order
of the parts (owner, group, SACL, DACL) and these codes follow Wine's sechost, the reference at hand;
NO_ACCESS_CONTROL is a NULL DACL as Microsoft documents it (Wine 8 makes an empty one).

Also the SID helper programs pair with these: IsValidSecurityDescriptor (IsValidSid and GetLengthSid are in
win32/ntdll/rtl_security.py).
"""
from __future__ import annotations

import struct

from winhatch.kernel.se.token import sid_bytes, sid_text
from winhatch.ntstatus import ERROR_INVALID_PARAMETER
from winhatch.win32.api import api

from winhatch.win32.advapi32.crypt import ADV

ERROR_INVALID_SID = 1337
ERROR_UNKNOWN_REVISION = 1305
ERROR_INVALID_ACL = 1336
SDDL_REVISION_1 = 1
MAX_SDDL = 1 << 16
MAX_ACES = 1024

SE_DACL_PRESENT, SE_SACL_PRESENT = 0x0004, 0x0010
SE_DACL_AUTO_INHERIT_REQ, SE_SACL_AUTO_INHERIT_REQ = 0x0100, 0x0200
SE_DACL_AUTO_INHERITED, SE_SACL_AUTO_INHERITED = 0x0400, 0x0800
SE_DACL_PROTECTED, SE_SACL_PROTECTED = 0x1000, 0x2000
SE_SELF_RELATIVE = 0x8000

ACE_TYPES = {"A": 0x0, "D": 0x1, "AU": 0x2, "AL": 0x3, "ML": 0x11}
OBJECT_ACE_TYPES = {"OA", "OD", "OU", "OL", "XA", "XD", "ZA", "XU", "RA", "SP", "SC"}
ACE_FLAGS = {"OI": 0x1, "CI": 0x2, "NP": 0x4, "IO": 0x8, "ID": 0x10, "SA": 0x40, "FA": 0x80}
RIGHTS = {
    "GA": 0x10000000, "GR": 0x80000000, "GW": 0x40000000, "GX": 0x20000000,
    "RC": 0x00020000, "SD": 0x00010000, "WD": 0x00040000, "WO": 0x00080000,
    "RP": 0x10, "WP": 0x20, "CC": 0x1, "DC": 0x2, "LC": 0x4, "SW": 0x8, "LO": 0x80, "DT": 0x40, "CR": 0x100,
    "FA": 0x001F01FF, "FR": 0x00120089, "FW": 0x00120116, "FX": 0x001200A0,
    "KA": 0x000F003F, "KR": 0x00020019, "KW": 0x00020006, "KX": 0x00020019,
    "NR": 0x2, "NW": 0x1, "NX": 0x4,
}
SID_ALIASES = {
    "WD": "S-1-1-0", "CO": "S-1-3-0", "CG": "S-1-3-1", "OW": "S-1-3-4", "NU": "S-1-5-2", "IU": "S-1-5-4",
    "SU": "S-1-5-6", "AN": "S-1-5-7", "ED": "S-1-5-9", "PS": "S-1-5-10", "AU": "S-1-5-11", "RC": "S-1-5-12",
    "SY": "S-1-5-18", "LS": "S-1-5-19", "NS": "S-1-5-20", "WR": "S-1-5-33",
    "BA": "S-1-5-32-544", "BU": "S-1-5-32-545", "BG": "S-1-5-32-546", "PU": "S-1-5-32-547",
    "AO": "S-1-5-32-548", "SO": "S-1-5-32-549", "PO": "S-1-5-32-550", "BO": "S-1-5-32-551",
    "RE": "S-1-5-32-552", "RU": "S-1-5-32-554", "RD": "S-1-5-32-555", "NO": "S-1-5-32-556",
    "MU": "S-1-5-32-558", "LU": "S-1-5-32-559", "IS": "S-1-5-32-568", "CY": "S-1-5-32-569",
    "ER": "S-1-5-32-573", "CD": "S-1-5-32-574", "RA": "S-1-5-32-575", "ES": "S-1-5-32-576",
    "MS": "S-1-5-32-577", "HA": "S-1-5-32-578", "AA": "S-1-5-32-579", "RM": "S-1-5-32-580",
    "AC": "S-1-15-2-1", "LW": "S-1-16-4096", "ME": "S-1-16-8192", "MP": "S-1-16-8448", "HI": "S-1-16-12288",
    "SI": "S-1-16-16384",
}
DOMAIN_ALIASES = {"LA", "LG", "DA", "DU", "DG", "DC", "DD", "CA", "EA", "SA", "PA", "RS", "RO", "CN", "AP", "KA",
                  "EK", "UD"}


class SddlError(Exception):
    def __init__(self, code: int):
        super().__init__(code)
        self.code = code


def _stop(c, what: str):
    from winhatch.win32.msvcrt.runtime import not_implemented
    not_implemented(c, what)


def _strtoul(text: str) -> int:
    t = text.strip()
    try:
        if t[:2].lower() == "0x":
            v = int(t[2:], 16)
        elif len(t) > 1 and t[0] == "0":
            v = int(t[1:], 8)
        else:
            v = int(t, 10)
    except ValueError:
        raise SddlError(ERROR_INVALID_PARAMETER) from None
    return v & 0xFFFFFFFF


def parse_sid(c, text: str) -> bytes:
    t = text.strip()
    if t.upper() in SID_ALIASES:
        return sid_bytes(SID_ALIASES[t.upper()])
    if t.upper() in DOMAIN_ALIASES:
        _stop(c, f"the SDDL SID alias {t} (relative to a machine or domain SID, not modelled)")
    parts = t.split("-")
    if len(parts) < 4 or parts[0].upper() != "S" or len(parts) > 3 + 15:
        raise SddlError(ERROR_INVALID_SID)
    try:
        nums = [int(p, 0) if p.lower().startswith("0x") else int(p) for p in parts[1:]]
    except ValueError:
        raise SddlError(ERROR_INVALID_SID) from None
    if nums[0] != 1 or nums[1] >= 1 << 48 or any(not 0 <= n <= 0xFFFFFFFF for n in nums[2:]):
        raise SddlError(ERROR_INVALID_SID)
    return struct.pack("<BB", 1, len(nums) - 2) + nums[1].to_bytes(6, "big") + \
        b"".join(struct.pack("<I", n) for n in nums[2:])


def _rights(text: str) -> int:
    t = text.strip()
    if t and t[0].isdigit():
        return _strtoul(t)
    mask = 0
    if len(t) % 2:
        raise SddlError(ERROR_INVALID_PARAMETER)
    for i in range(0, len(t), 2):
        code = t[i:i + 2].upper()
        if code not in RIGHTS:
            raise SddlError(ERROR_INVALID_PARAMETER)
        mask |= RIGHTS[code]
    return mask


def _ace(c, text: str) -> tuple[bytes, bool]:
    """One ACE's bytes; True when it needs ACL_REVISION_DS (none here: the object ACEs stop). Any error inside
    an ACE is ERROR_INVALID_ACL."""
    try:
        return _ace_fields(c, text)
    except SddlError:
        raise SddlError(ERROR_INVALID_ACL) from None


def _ace_fields(c, text: str) -> tuple[bytes, bool]:
    fields = text.split(";")
    if len(fields) not in (6, 7):
        raise SddlError(ERROR_INVALID_PARAMETER)
    kind = fields[0].strip().upper()
    if kind in OBJECT_ACE_TYPES or (len(fields) == 7):
        _stop(c, f"the SDDL ACE type {kind} (object, callback and resource-attribute ACEs are not modelled)")
    if kind not in ACE_TYPES:
        raise SddlError(ERROR_INVALID_PARAMETER)
    flags = 0
    f = fields[1].strip().upper()
    if len(f) % 2:
        raise SddlError(ERROR_INVALID_PARAMETER)
    for i in range(0, len(f), 2):
        if f[i:i + 2] not in ACE_FLAGS:
            raise SddlError(ERROR_INVALID_PARAMETER)
        flags |= ACE_FLAGS[f[i:i + 2]]
    mask = _rights(fields[2])
    if fields[3].strip() or fields[4].strip():
        _stop(c, "SDDL ACEs with object GUIDs")
    sid = parse_sid(c, fields[5])
    return struct.pack("<BBHI", ACE_TYPES[kind], flags, 8 + len(sid), mask) + sid, False


def _acl(c, text: str, sacl: bool) -> tuple[int, bytes | None]:
    """(control bits, ACL bytes or None for a NULL ACL) of an ACL's text: flags then (ace) groups."""
    prot, auto, req = ((SE_SACL_PROTECTED, SE_SACL_AUTO_INHERITED, SE_SACL_AUTO_INHERIT_REQ) if sacl else
                       (SE_DACL_PROTECTED, SE_DACL_AUTO_INHERITED, SE_DACL_AUTO_INHERIT_REQ))
    i, n = 0, len(text)
    control = 0
    null = False
    while i < n and text[i] != "(":
        if text.startswith("NO_ACCESS_CONTROL", i):
            null = True
            i += len("NO_ACCESS_CONTROL")
        elif text.startswith("AI", i):
            control |= auto
            i += 2
        elif text.startswith("AR", i):
            control |= req
            i += 2
        elif text[i] == "P":
            control |= prot
            i += 1
        elif text[i].isspace():
            i += 1
        else:
            raise SddlError(ERROR_INVALID_PARAMETER)
    aces = []
    while i < n:
        if text[i].isspace():
            i += 1
            continue
        if text[i] != "(":
            raise SddlError(ERROR_INVALID_PARAMETER)
        j = text.find(")", i)
        if j < 0 or len(aces) >= MAX_ACES:
            raise SddlError(ERROR_INVALID_PARAMETER)
        aces.append(_ace(c, text[i + 1:j])[0])
        i = j + 1
    if null:      # a NULL ACL: SE_DACL_PRESENT without an ACL (everyone gets every access)
        if aces:
            raise SddlError(ERROR_INVALID_PARAMETER)
        return control, None
    body = b"".join(aces)
    return control, struct.pack("<BBHHH", 2, 0, 8 + len(body), len(aces), 0) + body


def parse_sddl(c, text: str) -> bytes:
    """A self-relative SECURITY_DESCRIPTOR from its SDDL string."""
    parts: dict[str, str] = {}
    i, n = 0, len(text)
    while i < n:
        if text[i].isspace():
            i += 1
            continue
        tag = text[i:i + 2].upper()
        if tag not in ("O:", "G:", "D:", "S:") or tag[0] in parts:
            raise SddlError(ERROR_INVALID_PARAMETER)
        j = i + 2
        # the component runs to the next X: tag outside an ACE's parentheses
        depth = 0
        while j < n:
            ch = text[j]
            if ch == "(":
                depth += 1
            elif ch == ")":
                depth -= 1
            elif depth == 0 and j + 1 < n and text[j + 1] == ":" and ch.upper() in "OGDS":
                break
            j += 1
        parts[tag[0]] = text[i + 2:j]
        i = j
    control = SE_SELF_RELATIVE
    owner = parse_sid(c, parts["O"]) if "O" in parts else None
    group = parse_sid(c, parts["G"]) if "G" in parts else None
    dacl = sacl = None
    if "D" in parts:
        bits, dacl = _acl(c, parts["D"], False)
        control |= SE_DACL_PRESENT | bits
    if "S" in parts:
        bits, sacl = _acl(c, parts["S"], True)
        control |= SE_SACL_PRESENT | bits
    body = b""
    offsets = {}
    for name, blob in (("owner", owner), ("group", group), ("sacl", sacl), ("dacl", dacl)):
        if blob is None:
            offsets[name] = 0
            continue
        offsets[name] = 20 + len(body)
        body += blob
    return struct.pack("<BBHIIII", 1, 0, control, offsets["owner"], offsets["group"], offsets["sacl"],
                       offsets["dacl"]) + body


def _local_copy(c, data: bytes) -> int:
    from winhatch.win32.kernel32.heap import _local_alloc
    p = _local_alloc(c, 0, len(data))
    if p:
        c.write(p, data)
    return p


@api(ADV, "BOOL WINAPI ConvertStringSecurityDescriptorToSecurityDescriptor%(LPCTSTR StringSecurityDescriptor, "
     "DWORD StringSDRevision, PSECURITY_DESCRIPTOR *SecurityDescriptor, PULONG SecurityDescriptorSize)")
def ConvertStringSecurityDescriptorToSecurityDescriptor(c, text, revision, out, psize):
    if text is None or not out:
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    if revision != SDDL_REVISION_1:
        c.set_last_error(ERROR_UNKNOWN_REVISION)
        return 0
    if len(text) > MAX_SDDL:
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    try:
        sd = parse_sddl(c, text)
    except SddlError as e:
        c.set_last_error(e.code)
        return 0
    p = _local_copy(c, sd)
    if not p:
        return 0
    c.write_ptr(out, p)
    if psize:
        c.write_u32(psize, len(sd))
    return 1


@api(ADV, "BOOL WINAPI ConvertStringSidToSid%(LPCTSTR StringSid, PSID *Sid)")
def ConvertStringSidToSid(c, text, out):
    """A SID from "S-1-…" or a two-letter alias, in a LocalAlloc block; malformed: ERROR_INVALID_SID."""
    if text is None or not out:
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    try:
        sid = parse_sid(c, text) if len(text) < 256 else None
    except SddlError as e:
        c.set_last_error(e.code)
        return 0
    if sid is None or text.strip() != text:
        c.set_last_error(ERROR_INVALID_SID)
        return 0
    p = _local_copy(c, sid)
    if not p:
        return 0
    c.write_ptr(out, p)
    return 1


@api(ADV, "BOOL WINAPI ConvertSidToStringSid%(PSID Sid, LPTSTR *StringSid)")
def ConvertSidToStringSid(c, psid, out):
    """"S-1-…" in a LocalAlloc block; a SID that is not valid (revision 1, at most 15 sub-authorities):
    ERROR_INVALID_SID."""
    if not psid or not out:
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    head = c.read(psid, 2)
    if head[0] != 1 or head[1] > 15:
        c.set_last_error(ERROR_INVALID_SID)
        return 0
    text = sid_text(c.read(psid, 8 + 4 * head[1]))
    p = _local_copy(c, c.encode_t(text) + b"\0" * c.tchar_size())
    if not p:
        return 0
    c.write_ptr(out, p)
    return 1


def _valid_sid(c, p: int) -> bool:
    head = c.read(p, 2)
    return head[0] == 1 and head[1] <= 15


# IsValidSid and GetLengthSid: advapi32's wrappers of the Rtl SID functions are in win32/ntdll/rtl_security.py.


ERROR_INVALID_SECURITY_DESCR = 1338


@api(ADV, "BOOL WINAPI IsValidSecurityDescriptor(PSECURITY_DESCRIPTOR pSecurityDescriptor)")
def IsValidSecurityDescriptor(c, p):
    """Revision 1; in a self-relative descriptor each present owner/group SID valid and each present ACL of
    revision 2 to 4. Otherwise FALSE with ERROR_INVALID_SECURITY_DESCR."""
    if not p:
        c.set_last_error(ERROR_INVALID_SECURITY_DESCR)
        return 0
    rev, _sbz, control = struct.unpack("<BBH", c.read(p, 4))
    ok = rev == 1
    if ok and control & SE_SELF_RELATIVE:
        owner, group, sacl, dacl = struct.unpack("<IIII", c.read(p + 4, 16))
        for off in (owner, group):
            if off and not _valid_sid(c, p + off):
                ok = False
        for off, present in ((sacl, SE_SACL_PRESENT), (dacl, SE_DACL_PRESENT)):
            if off and control & present and not 2 <= c.read(p + off, 1)[0] <= 4:
                ok = False
    if not ok:
        c.set_last_error(ERROR_INVALID_SECURITY_DESCR)
    return int(ok)
