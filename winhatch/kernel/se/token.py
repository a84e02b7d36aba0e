"""Access tokens, as kernel objects (type "Token"): the user, groups, privileges (held and enabled),
integrity level, type and impersonation level, and the identifiers of a token.

A process's primary token is created from its `token` description (winhatch.kernel.ps.objects.Process.token)
when it is first used (NtOpenProcessToken); it is the process's own copy, so adjusting it does not change the
parent's. The user is a standard (non-administrator) local account — the registry's user SID
(S-1-5-21-…-1001) — logged on interactively at the console: its groups are those Windows 10 gives such a
logon (Everyone, BUILTIN\\Users, INTERACTIVE, CONSOLE LOGON, Authenticated Users, This Organization, the logon
SID, LOCAL, NTLM Authentication) plus the integrity label; it holds the five privileges Windows gives a
standard user, with only SeChangeNotifyPrivilege enabled; privileges named in the description are added to
those held. A "system" token (integrity "system") is LocalSystem's (S-1-5-18, Administrators, System
integrity). UAC's split token is not modelled: the elevation type is TokenElevationTypeDefault and there is
no linked token.
"""
from __future__ import annotations

import itertools
import struct

from winhatch.kernel.ob import KObject

# the well-known privilege LUIDs (winnt.h SE_*_PRIVILEGE values)
PRIVILEGES = {
    "SeCreateTokenPrivilege": 2, "SeAssignPrimaryTokenPrivilege": 3, "SeLockMemoryPrivilege": 4,
    "SeIncreaseQuotaPrivilege": 5, "SeMachineAccountPrivilege": 6, "SeTcbPrivilege": 7,
    "SeSecurityPrivilege": 8, "SeTakeOwnershipPrivilege": 9, "SeLoadDriverPrivilege": 10,
    "SeSystemProfilePrivilege": 11, "SeSystemtimePrivilege": 12, "SeProfileSingleProcessPrivilege": 13,
    "SeIncreaseBasePriorityPrivilege": 14, "SeCreatePagefilePrivilege": 15, "SeCreatePermanentPrivilege": 16,
    "SeBackupPrivilege": 17, "SeRestorePrivilege": 18, "SeShutdownPrivilege": 19, "SeDebugPrivilege": 20,
    "SeAuditPrivilege": 21, "SeSystemEnvironmentPrivilege": 22, "SeChangeNotifyPrivilege": 23,
    "SeRemoteShutdownPrivilege": 24, "SeUndockPrivilege": 25, "SeSyncAgentPrivilege": 26,
    "SeEnableDelegationPrivilege": 27, "SeManageVolumePrivilege": 28, "SeImpersonatePrivilege": 29,
    "SeCreateGlobalPrivilege": 30, "SeTrustedCredManAccessPrivilege": 31, "SeRelabelPrivilege": 32,
    "SeIncreaseWorkingSetPrivilege": 33, "SeTimeZonePrivilege": 34, "SeCreateSymbolicLinkPrivilege": 35,
    "SeDelegateSessionUserImpersonatePrivilege": 36,
}
NAMES = {v: k for k, v in PRIVILEGES.items()}
STANDARD_USER = ("SeShutdownPrivilege", "SeChangeNotifyPrivilege", "SeUndockPrivilege",
                 "SeIncreaseWorkingSetPrivilege", "SeTimeZonePrivilege")
ENABLED_BY_DEFAULT = ("SeChangeNotifyPrivilege",)

# SE_GROUP_* attributes
SE_GROUP_MANDATORY, SE_GROUP_ENABLED_BY_DEFAULT, SE_GROUP_ENABLED = 0x1, 0x2, 0x4
SE_GROUP_OWNER = 0x8
SE_GROUP_INTEGRITY, SE_GROUP_INTEGRITY_ENABLED = 0x20, 0x40
SE_GROUP_LOGON_ID = 0xC0000000
_STD = SE_GROUP_MANDATORY | SE_GROUP_ENABLED_BY_DEFAULT | SE_GROUP_ENABLED

INTEGRITY_RID = {"untrusted": 0, "low": 0x1000, "medium": 0x2000, "high": 0x3000, "system": 0x4000}
TokenPrimary, TokenImpersonation = 1, 2
SecurityAnonymous, SecurityIdentification, SecurityImpersonation, SecurityDelegation = range(4)
#: the interactive logon session of the machine's user (AuthenticationId) and LocalSystem's (SYSTEM_LUID)
USER_LOGON_LUID = 0x3E5A1
SYSTEM_LUID = 0x3E7

_luids = itertools.count(0x5A0C1)


def allocate_luid() -> int:
    """NtAllocateLocallyUniqueId for the token identifiers."""
    return next(_luids)


# ---------------------------------------------------------------------------------------------- SIDs
def sid_bytes(text: str) -> bytes:
    """A SID from its string form (S-1-5-21-…): Revision, SubAuthorityCount, IdentifierAuthority (6 bytes,
    big-endian), SubAuthority[] (little-endian DWORDs)."""
    parts = text.split("-")
    if len(parts) < 3 or parts[0].upper() != "S":
        raise ValueError(f"not a SID: {text!r}")
    subs = [int(p) for p in parts[3:]]
    return struct.pack("<BB", int(parts[1]), len(subs)) + int(parts[2]).to_bytes(6, "big") + \
        b"".join(struct.pack("<I", s) for s in subs)


def sid_text(data: bytes) -> str:
    rev, n = data[0], data[1]
    auth = int.from_bytes(data[2:8], "big")
    subs = struct.unpack_from(f"<{n}I", data, 8)
    return f"S-{rev}-{auth}" + "".join(f"-{s}" for s in subs)


def sid_length(data: bytes) -> int:
    return 8 + 4 * data[1]


class Token(KObject):
    type_name = "Token"

    def __init__(self, description: dict, *, user_sid: str = "S-1-5-21-3623811015-3361044348-30300820-1001",
                 session_id: int = 1):
        super().__init__()
        self.integrity = description.get("integrity", "medium")
        system = self.integrity == "system" or description.get("user") == "SYSTEM"
        self.user = description.get("user", "user")
        self.user_sid = "S-1-5-18" if system else user_sid
        domain = user_sid.rsplit("-", 1)[0]
        if system:
            self.groups = [("S-1-5-32-544", SE_GROUP_OWNER | _STD), ("S-1-1-0", _STD), ("S-1-5-11", _STD)]
            self.primary_group = "S-1-5-18"
            self.auth_id = SYSTEM_LUID
        else:
            self.groups = [(domain + "-513", _STD), ("S-1-1-0", _STD), ("S-1-5-32-545", _STD), ("S-1-5-4", _STD),
                           ("S-1-2-1", _STD), ("S-1-5-11", _STD), ("S-1-5-15", _STD),
                           ("S-1-5-5-0-%d" % USER_LOGON_LUID, SE_GROUP_LOGON_ID | _STD), ("S-1-2-0", _STD),
                           ("S-1-5-64-10", _STD)]
            self.primary_group = domain + "-513"
            self.auth_id = USER_LOGON_LUID
        self.groups.append(("S-1-16-%d" % INTEGRITY_RID.get(self.integrity, 0x2000),
                            SE_GROUP_INTEGRITY | SE_GROUP_INTEGRITY_ENABLED))
        self.owner = self.user_sid
        self.held: set[int] = {PRIVILEGES[n] for n in STANDARD_USER}
        self.held |= {PRIVILEGES[n] for n in description.get("privileges", ()) if n in PRIVILEGES}
        self.enabled: set[int] = {PRIVILEGES[n] for n in ENABLED_BY_DEFAULT}
        self.token_type = TokenPrimary
        self.impersonation_level = SecurityAnonymous
        self.session_id = 0 if system else session_id
        self.token_id = allocate_luid()
        self.modified_id = self.token_id

    def duplicate(self, token_type: int, level: int, effective_only: bool) -> "Token":
        """NtDuplicateToken: a new token object (its own id) with the same identity; EffectiveOnly drops the
        disabled groups and privileges."""
        new = Token.__new__(Token)
        KObject.__init__(new)
        for k, v in self.__dict__.items():
            if k in ("name", "refcount", "handle_count", "deleted", "permanent") or k.startswith("_"):
                continue
            new.__dict__[k] = list(v) if isinstance(v, list) else set(v) if isinstance(v, set) else v
        new.token_type = token_type
        new.impersonation_level = level if token_type == TokenImpersonation else SecurityAnonymous
        new.token_id = allocate_luid()
        if effective_only:
            new.held = set(new.enabled)
            new.groups = [(s, a) for s, a in new.groups if a & (SE_GROUP_ENABLED | SE_GROUP_INTEGRITY)]
        return new

    def enabled_sids(self) -> list[str]:
        """The SIDs an access check matches: the user and the enabled groups."""
        return [self.user_sid] + [s for s, a in self.groups if a & SE_GROUP_ENABLED]

    @property
    def integrity_sid(self) -> str:
        return next(s for s, a in self.groups if a & SE_GROUP_INTEGRITY)


def primary_token(proc, user_sid: str | None = None) -> Token:
    """The process's primary token object (created on first use)."""
    tok = getattr(proc, "token_object", None)
    if tok is None:
        kw = {"session_id": proc.session_id}
        if user_sid:
            kw["user_sid"] = user_sid
        tok = proc.token_object = Token(proc.token, **kw)
        tok.reference()          # the process holds it for its lifetime
    return tok
