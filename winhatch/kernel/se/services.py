"""The security reference monitor's system services: opening, querying, adjusting and duplicating access
tokens, and NtAccessCheck — called by the system-service dispatcher (winhatch.kernel.ke.services).

Structures are written in the caller's layout (pointers 8 bytes in an x64 process, 4 in a WoW64 one) with
their SIDs and ACLs after the fixed part, pointed to from it, as Windows lays them out. A buffer too small is
STATUS_BUFFER_TOO_SMALL with the size needed in *ReturnLength."""
from __future__ import annotations

import struct

from winhatch.kernel.ke.services import kernel_service, process_from_handle, unsupported, user_read, user_write
from winhatch.kernel.se.token import (NAMES, SecurityAnonymous, SecurityDelegation, Token,
                                      TokenImpersonation, TokenPrimary, primary_token, sid_bytes, sid_length)
from winhatch.ntstatus import STATUS_ACCESS_VIOLATION, NtStatusError

STATUS_BUFFER_TOO_SMALL = 0xC0000023
STATUS_INVALID_INFO_CLASS = 0xC0000003
STATUS_INVALID_PARAMETER = 0xC000000D
STATUS_NO_TOKEN = 0xC000007C
STATUS_NOT_ALL_ASSIGNED = 0x00000106
STATUS_NO_SUCH_LOGON_SESSION = 0xC000005F
STATUS_NO_IMPERSONATION_TOKEN = 0xC000005C
STATUS_BAD_IMPERSONATION_LEVEL = 0xC00000A5
STATUS_ACCESS_DENIED = 0xC0000022
STATUS_INVALID_SECURITY_DESCR = 0xC0000079
STATUS_GENERIC_NOT_MAPPED = 0xC00000E6

TOKEN_DUPLICATE, TOKEN_QUERY, TOKEN_QUERY_SOURCE, TOKEN_ADJUST_PRIVILEGES = 0x2, 0x8, 0x10, 0x20
PROCESS_QUERY_LIMITED_INFORMATION = 0x1000
THREAD_QUERY_LIMITED_INFORMATION = 0x0800
SE_PRIVILEGE_ENABLED, SE_PRIVILEGE_REMOVED = 0x2, 0x4
OBJ_INHERIT = 0x2


def _ptr(proc) -> int:
    return 8 if proc.arch == "x64" else 4


def _pack_ptr(proc, v: int) -> bytes:
    return struct.pack("<Q" if proc.arch == "x64" else "<I", v)


def _put_handle(proc, addr: int, h: int) -> None:
    user_write(proc, addr, _pack_ptr(proc, h))


def _token(machine, thread, handle: int, access: int) -> Token:
    return thread.process.handles.lookup(handle, "Token", access, current_process=thread.process,
                                         current_thread=thread)


def _insert(machine, thread, tok: Token, access: int, attributes: int) -> int:
    return thread.process.handles.insert(tok, access, inherit=bool(attributes & OBJ_INHERIT))


# ---------------------------------------------------------------------------------------------- opening
@kernel_service("NtOpenProcessTokenEx")
def NtOpenProcessTokenEx(machine, thread, ProcessHandle, DesiredAccess, HandleAttributes, TokenHandle):
    """A handle to the process's primary token (the process handle needs PROCESS_QUERY_LIMITED_INFORMATION)."""
    proc = process_from_handle(thread, ProcessHandle, PROCESS_QUERY_LIMITED_INFORMATION)
    user_write(thread.process, TokenHandle, _pack_ptr(thread.process, 0))      # probe before the work
    tok = primary_token(proc, machine.registry.user_sid)
    _put_handle(thread.process, TokenHandle, _insert(machine, thread, tok, DesiredAccess & 0xFFFFFFFF,
                                                     HandleAttributes & 0xFFFFFFFF))
    return 0


@kernel_service("NtOpenProcessToken")
def NtOpenProcessToken(machine, thread, ProcessHandle, DesiredAccess, TokenHandle):
    return NtOpenProcessTokenEx(machine, thread, ProcessHandle, DesiredAccess, 0, TokenHandle)


@kernel_service("NtOpenThreadTokenEx")
def NtOpenThreadTokenEx(machine, thread, ThreadHandle, DesiredAccess, OpenAsSelf, HandleAttributes, TokenHandle):
    """The thread's impersonation token; a thread that does not impersonate has none: STATUS_NO_TOKEN."""
    t = thread.process.handles.lookup(ThreadHandle, "Thread", THREAD_QUERY_LIMITED_INFORMATION,
                                      current_process=thread.process, current_thread=thread)
    tok = getattr(t, "impersonation_token", None)
    if not thread.process.aspace.accessible(TokenHandle, 8 if thread.process.arch == "x64" else 4, True):
        return STATUS_ACCESS_VIOLATION      # the output is probed before the token is looked for (ntdll/om.c)
    if tok is None:
        return STATUS_NO_TOKEN
    _put_handle(thread.process, TokenHandle, _insert(machine, thread, tok, DesiredAccess & 0xFFFFFFFF,
                                                     HandleAttributes & 0xFFFFFFFF))
    return 0


@kernel_service("NtOpenThreadToken")
def NtOpenThreadToken(machine, thread, ThreadHandle, DesiredAccess, OpenAsSelf, TokenHandle):
    return NtOpenThreadTokenEx(machine, thread, ThreadHandle, DesiredAccess, OpenAsSelf, 0, TokenHandle)


# ---------------------------------------------------------------------------------------------- querying
TokenUser, TokenGroups, TokenPrivileges, TokenOwner, TokenPrimaryGroup, TokenDefaultDacl, TokenSource, \
    TokenType, TokenImpersonationLevel, TokenStatistics = range(1, 11)
TokenSessionId = 12
TokenElevationType, TokenLinkedToken, TokenElevation, TokenHasRestrictions = 18, 19, 20, 21
TokenVirtualizationAllowed, TokenVirtualizationEnabled, TokenIntegrityLevel, TokenUIAccess = 23, 24, 25, 26
TokenMandatoryPolicy = 27
TokenIsAppContainer = 29
MAX_TOKEN_INFO_CLASS = 0x31
TokenElevationTypeDefault = 1
TOKEN_MANDATORY_POLICY_NO_WRITE_UP, TOKEN_MANDATORY_POLICY_NEW_PROCESS_MIN = 1, 2
GENERIC_ALL, GENERIC_READ, GENERIC_EXECUTE = 0x10000000, 0x80000000, 0x20000000


def acl_bytes(aces: list[tuple[int, int, int, str]]) -> bytes:
    """An ACL (revision 2) of (type, flags, mask, SID) ACEs."""
    body = b""
    for typ, flags, mask, sid in aces:
        s = sid_bytes(sid)
        body += struct.pack("<BBHI", typ, flags, 8 + len(s), mask) + s
    return struct.pack("<BBHHH", 2, 0, 8 + len(body), len(aces), 0) + body


def default_dacl(tok: Token) -> bytes:
    """The default DACL of a logon token: the user and SYSTEM get GENERIC_ALL, the logon SID read and
    execute."""
    aces = [(0, 0, GENERIC_ALL, tok.user_sid), (0, 0, GENERIC_ALL, "S-1-5-18")]
    logon = next((s for s, a in tok.groups if s.startswith("S-1-5-5-")), None)
    if logon:
        aces.append((0, 0, GENERIC_READ | GENERIC_EXECUTE, logon))
    return acl_bytes(aces)


class _Out:
    """A variable-length result: the fixed part first, then SIDs/ACLs appended with their guest address."""

    def __init__(self, proc, base: int):
        self.proc, self.base = proc, base
        self.fixed = bytearray()
        self.tail = bytearray()
        self.fixed_size = 0

    def place(self, data: bytes) -> int:
        addr = self.base + self.fixed_size + len(self.tail)
        self.tail += data
        while len(self.tail) % 4:
            self.tail += b"\0"
        return addr

    def data(self) -> bytes:
        assert len(self.fixed) == self.fixed_size
        return bytes(self.fixed + self.tail)


def _sid_and_attrs(proc, out: _Out, entries: list[tuple[str, int]]) -> bytes:
    p = _ptr(proc)
    rec = b""
    for sid, attrs in entries:
        addr = out.place(sid_bytes(sid))
        rec += _pack_ptr(proc, addr) + struct.pack("<I", attrs) + (b"\0" * 4 if p == 8 else b"")
    return rec


def token_information(machine, thread, tok: Token, cls: int, base: int) -> bytes | int:
    """The record of class `cls` for a buffer at `base`, or an NTSTATUS for a class this token cannot answer."""
    proc = thread.process
    p = _ptr(proc)
    out = _Out(proc, base)
    if cls == TokenUser:
        out.fixed_size = 2 * p
        out.fixed += _sid_and_attrs(proc, out, [(tok.user_sid, 0)])
    elif cls == TokenGroups:
        out.fixed_size = p + len(tok.groups) * 2 * p
        out.fixed += struct.pack("<I", len(tok.groups)) + b"\0" * (p - 4)
        out.fixed += _sid_and_attrs(proc, out, tok.groups)
    elif cls == TokenPrivileges:
        privs = sorted(tok.held)
        out.fixed_size = 4 + 12 * len(privs)
        out.fixed += struct.pack("<I", len(privs)) + b"".join(
            struct.pack("<IiI", v, 0, SE_PRIVILEGE_ENABLED if v in tok.enabled else 0) for v in privs)
        # SE_PRIVILEGE_ENABLED_BY_DEFAULT (1) on the privileges enabled at logon
        for i, v in enumerate(privs):
            if NAMES.get(v) == "SeChangeNotifyPrivilege":
                off = 4 + 12 * i + 8
                out.fixed[off:off + 4] = struct.pack("<I", struct.unpack_from("<I", out.fixed, off)[0] | 1)
    elif cls in (TokenOwner, TokenPrimaryGroup):
        out.fixed_size = p
        out.fixed += _pack_ptr(proc, out.place(sid_bytes(tok.owner if cls == TokenOwner else tok.primary_group)))
    elif cls == TokenDefaultDacl:
        out.fixed_size = p
        out.fixed += _pack_ptr(proc, out.place(default_dacl(tok)))
    elif cls == TokenType:
        return struct.pack("<I", tok.token_type)
    elif cls == TokenImpersonationLevel:
        if tok.token_type != TokenImpersonation:
            return STATUS_INVALID_INFO_CLASS
        return struct.pack("<I", tok.impersonation_level)
    elif cls == TokenStatistics:
        # TokenId, AuthenticationId, ExpirationTime (never), TokenType, ImpersonationLevel, DynamicCharged,
        # DynamicAvailable, GroupCount, PrivilegeCount, ModifiedId
        dacl = default_dacl(tok)
        return struct.pack("<QQqIIIIIIQ", tok.token_id, tok.auth_id, 0x7FFFFFFFFFFFFFFF, tok.token_type,
                           tok.impersonation_level, 4096, 4096 - len(dacl), len(tok.groups), len(tok.held),
                           tok.modified_id)
    elif cls == TokenSessionId:
        return struct.pack("<I", tok.session_id)
    elif cls == TokenElevationType:
        return struct.pack("<I", TokenElevationTypeDefault)
    elif cls == TokenLinkedToken:
        return STATUS_NO_SUCH_LOGON_SESSION      # no split (UAC) token: nothing is linked
    elif cls == TokenElevation:
        return struct.pack("<I", 1 if tok.integrity in ("high", "system") else 0)
    elif cls in (TokenHasRestrictions, TokenVirtualizationAllowed, TokenVirtualizationEnabled, TokenUIAccess,
                 TokenIsAppContainer):
        return struct.pack("<I", 0)
    elif cls == TokenMandatoryPolicy:
        return struct.pack("<I", TOKEN_MANDATORY_POLICY_NO_WRITE_UP | TOKEN_MANDATORY_POLICY_NEW_PROCESS_MIN)
    elif cls == TokenIntegrityLevel:
        out.fixed_size = 2 * p
        out.fixed += _sid_and_attrs(proc, out, [(tok.integrity_sid, 0x20 | 0x40)])
    else:
        return -1
    return out.data()


@kernel_service("NtQueryInformationToken")
def NtQueryInformationToken(machine, thread, TokenHandle, TokenInformationClass, TokenInformation,
                            TokenInformationLength, ReturnLength):
    cls = TokenInformationClass & 0xFFFFFFFF
    if cls == 0 or cls >= MAX_TOKEN_INFO_CLASS:
        return STATUS_INVALID_INFO_CLASS
    tok = _token(machine, thread, TokenHandle, TOKEN_QUERY_SOURCE if cls == TokenSource else TOKEN_QUERY)
    proc = thread.process
    data = token_information(machine, thread, tok, cls, TokenInformation)
    if data == -1:
        unsupported(thread, "NtQueryInformationToken", f"information class {cls}")
    if isinstance(data, int):
        return data
    length = TokenInformationLength & 0xFFFFFFFF
    if ReturnLength:
        user_write(proc, ReturnLength, struct.pack("<I", len(data)))
    if length < len(data):
        return STATUS_BUFFER_TOO_SMALL
    user_write(proc, TokenInformation, data)
    return 0


# ---------------------------------------------------------------------------------------------- adjusting
def _token_privileges(entries: list[tuple[int, int]]) -> bytes:
    """TOKEN_PRIVILEGES: PrivilegeCount, then LUID_AND_ATTRIBUTES { LUID (8), Attributes (4) } each."""
    return struct.pack("<I", len(entries)) + b"".join(struct.pack("<IiI", v, 0, a) for v, a in entries)


@kernel_service("NtAdjustPrivilegesToken")
def NtAdjustPrivilegesToken(machine, thread, TokenHandle, DisableAllPrivileges, NewState, BufferLength,
                            PreviousState, ReturnLength):
    """Enable or disable privileges the token holds. A privilege it does not hold is left out and the call
    returns STATUS_NOT_ALL_ASSIGNED (a success status); SE_PRIVILEGE_REMOVED removes one from the token.
    PreviousState receives the former state of the privileges changed (STATUS_BUFFER_TOO_SMALL, nothing
    changed, when it does not fit BufferLength)."""
    proc = thread.process
    tok = _token(machine, thread, TokenHandle, TOKEN_ADJUST_PRIVILEGES | (TOKEN_QUERY if PreviousState else 0))
    changes: list[tuple[int, bool | None]] = []     # (luid, enable / None: remove)
    missing = False
    if DisableAllPrivileges & 0xFF:
        changes = [(v, False) for v in sorted(tok.enabled)]
    else:
        if not NewState:
            return STATUS_INVALID_PARAMETER
        count = struct.unpack("<I", user_read(proc, NewState, 4))[0]
        if count > 64:
            return STATUS_INVALID_PARAMETER
        raw = user_read(proc, NewState + 4, 12 * count) if count else b""
        for i in range(count):
            low, high, attrs = struct.unpack_from("<IiI", raw, 12 * i)
            if high != 0 or low not in tok.held:
                missing = True
                continue
            changes.append((low, None if attrs & SE_PRIVILEGE_REMOVED else bool(attrs & SE_PRIVILEGE_ENABLED)))
    changed = [(v, e) for v, e in changes if e is None or (v in tok.enabled) != e]
    if PreviousState:
        old = _token_privileges([(v, SE_PRIVILEGE_ENABLED if v in tok.enabled else 0) for v, _ in changed])
        if ReturnLength:
            user_write(proc, ReturnLength, struct.pack("<I", len(old)))
        if (BufferLength & 0xFFFFFFFF) < len(old):
            return STATUS_BUFFER_TOO_SMALL
        user_write(proc, PreviousState, old)
    for v, e in changed:
        if e is None:
            tok.held.discard(v)
            tok.enabled.discard(v)
        elif e:
            tok.enabled.add(v)
        else:
            tok.enabled.discard(v)
    if changed:
        from winhatch.kernel.se.token import allocate_luid
        tok.modified_id = allocate_luid()
    return STATUS_NOT_ALL_ASSIGNED if missing else 0


@kernel_service("NtDuplicateToken")
def NtDuplicateToken(machine, thread, ExistingTokenHandle, DesiredAccess, ObjectAttributes, EffectiveOnly,
                     TokenType, NewTokenHandle):
    """A copy of a token as a primary or an impersonation token; the impersonation level comes from the
    OBJECT_ATTRIBUTES' SecurityQualityOfService (SecurityAnonymous without one)."""
    proc = thread.process
    tok = _token(machine, thread, ExistingTokenHandle, TOKEN_DUPLICATE)
    ttype = TokenType & 0xFFFFFFFF
    if ttype not in (TokenPrimary, TokenImpersonation):
        return STATUS_INVALID_PARAMETER
    level = SecurityAnonymous
    attributes = 0
    if ObjectAttributes:
        p = _ptr(proc)
        oa = user_read(proc, ObjectAttributes, 6 * p)
        attributes = struct.unpack_from("<I", oa, 3 * p)[0]
        sqos = struct.unpack_from("<Q" if p == 8 else "<I", oa, 5 * p)[0]
        if sqos:
            level = struct.unpack("<I", user_read(proc, sqos + 4, 4))[0]
            if level > SecurityDelegation:
                return STATUS_BAD_IMPERSONATION_LEVEL
    if tok.token_type == TokenImpersonation and level > tok.impersonation_level:
        return STATUS_BAD_IMPERSONATION_LEVEL
    new = tok.duplicate(ttype, level, bool(EffectiveOnly & 0xFF))
    _put_handle(proc, NewTokenHandle, _insert(machine, thread, new, DesiredAccess & 0xFFFFFFFF, attributes))
    return 0


# ---------------------------------------------------------------------------------------------- access check
SE_DACL_PRESENT, SE_SELF_RELATIVE = 0x4, 0x8000
ACCESS_ALLOWED_ACE_TYPE, ACCESS_DENIED_ACE_TYPE = 0, 1
INHERIT_ONLY_ACE = 0x8
MAXIMUM_ALLOWED, ACCESS_SYSTEM_SECURITY = 0x02000000, 0x01000000
READ_CONTROL, WRITE_DAC = 0x00020000, 0x00040000
GENERIC_MASK = 0xF0000000


def _read_sd(proc, addr: int) -> tuple[bytes | None, bytes | None]:
    """(owner SID, DACL or None for a NULL DACL) of a self-relative or absolute SECURITY_DESCRIPTOR."""
    rev, _, control = struct.unpack("<BBH", user_read(proc, addr, 4))
    if rev != 1:
        raise NtStatusError(STATUS_INVALID_SECURITY_DESCR, "security descriptor revision")
    p = _ptr(proc)

    def read_sid(a: int) -> bytes:
        head = user_read(proc, a, 8)
        return user_read(proc, a, 8 + 4 * head[1])

    def read_acl(a: int) -> bytes:
        size = struct.unpack("<H", user_read(proc, a + 2, 2))[0]
        return user_read(proc, a, size)
    if control & SE_SELF_RELATIVE:
        owner_off, _, _, dacl_off = struct.unpack("<IIII", user_read(proc, addr + 4, 16))
        owner = read_sid(addr + owner_off) if owner_off else None
        dacl_addr = addr + dacl_off if dacl_off else 0
    else:
        raw = user_read(proc, addr + p, 4 * p)
        fmt = "<4Q" if p == 8 else "<4I"
        owner_a, _, _, dacl_addr = struct.unpack(fmt, raw)
        owner = read_sid(owner_a) if owner_a else None
    if not control & SE_DACL_PRESENT or not dacl_addr:
        return owner, None
    return owner, read_acl(dacl_addr)


@kernel_service("NtAccessCheck")
def NtAccessCheck(machine, thread, SecurityDescriptor, ClientToken, DesiredAccess, GenericMapping, PrivilegeSet,
                  PrivilegeSetLength, GrantedAccess, AccessStatus):
    """The DACL walk of SeAccessCheck for an impersonation token: access-allowed and access-denied ACEs
    (inherit-only ones skipped) matched against the token's user and enabled groups, in order; the owner is
    implicitly granted READ_CONTROL and WRITE_DAC; a NULL DACL grants everything. Generic rights must be
    mapped first (STATUS_GENERIC_NOT_MAPPED). Other ACE types (object, callback, conditional) and
    ACCESS_SYSTEM_SECURITY (a privilege check) stop loudly. No privilege is used: PrivilegeSet gets 0
    privileges."""
    proc = thread.process
    tok = _token(machine, thread, ClientToken, TOKEN_QUERY)
    if tok.token_type != TokenImpersonation:
        return STATUS_NO_IMPERSONATION_TOKEN
    if tok.impersonation_level < 1:     # SecurityIdentification at least
        return STATUS_BAD_IMPERSONATION_LEVEL
    desired = DesiredAccess & 0xFFFFFFFF
    if desired & GENERIC_MASK:
        return STATUS_GENERIC_NOT_MAPPED
    if desired & ACCESS_SYSTEM_SECURITY:
        unsupported(thread, "NtAccessCheck", "ACCESS_SYSTEM_SECURITY (SeSecurityPrivilege check)")
    mapping = struct.unpack("<4I", user_read(proc, GenericMapping, 16))
    plen = struct.unpack("<I", user_read(proc, PrivilegeSetLength, 4))[0]
    if plen < 20:     # sizeof(PRIVILEGE_SET) with its one LUID_AND_ATTRIBUTES
        user_write(proc, PrivilegeSetLength, struct.pack("<I", 20))
        return STATUS_BUFFER_TOO_SMALL
    owner, dacl = _read_sd(proc, SecurityDescriptor)
    sids = {sid_bytes(s) for s in tok.enabled_sids()}
    everything = mapping[3] | 0x001F0000    # GenericAll plus the standard rights
    if dacl is None:
        granted = everything if desired & MAXIMUM_ALLOWED else desired
        status = 0
    else:
        allowed = denied = 0
        if owner is not None and owner in sids:
            allowed |= READ_CONTROL | WRITE_DAC
        count = struct.unpack_from("<H", dacl, 4)[0]
        off = 8
        for _ in range(min(count, 1024)):
            if off + 8 > len(dacl):
                return STATUS_INVALID_SECURITY_DESCR
            typ, flags, size, mask = struct.unpack_from("<BBHI", dacl, off)
            if size < 8 or off + size > len(dacl):
                return STATUS_INVALID_SECURITY_DESCR
            if typ not in (ACCESS_ALLOWED_ACE_TYPE, ACCESS_DENIED_ACE_TYPE):
                unsupported(thread, "NtAccessCheck", f"ACE type {typ}")
            sid = dacl[off + 8: off + size]
            sid = sid[:sid_length(sid)] if len(sid) >= 8 else sid
            if not flags & INHERIT_ONLY_ACE and sid in sids:
                if mask & GENERIC_MASK:
                    m = mask & ~GENERIC_MASK
                    for bit, g in zip((0x80000000, 0x40000000, 0x20000000, 0x10000000), mapping):
                        if mask & bit:
                            m |= g
                    mask = m
                if typ == ACCESS_ALLOWED_ACE_TYPE:
                    allowed |= mask & ~denied
                else:
                    denied |= mask & ~allowed
            off += size
        if desired & MAXIMUM_ALLOWED:
            granted = allowed & ~denied
            want = desired & ~MAXIMUM_ALLOWED
            status = 0 if granted and not want & ~granted else STATUS_ACCESS_DENIED
        else:
            status = 0 if desired and not desired & ~(allowed & ~denied) else STATUS_ACCESS_DENIED
            granted = desired if status == 0 else 0
    user_write(proc, PrivilegeSet, struct.pack("<II", 0, 0))
    user_write(proc, GrantedAccess, struct.pack("<I", granted if status == 0 else 0))
    user_write(proc, AccessStatus, struct.pack("<I", status))
    return 0
