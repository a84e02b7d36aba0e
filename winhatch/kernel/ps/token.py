"""The primary access token of a process, as a kernel object (type "Token"): its user, integrity level and
privileges — those the token holds and which of them are enabled.

A process's token is created from its `token` description (winhatch.kernel.ps.objects.Process.token) when
it is first opened (NtOpenProcessToken); it is the process's own copy, so adjusting it does not change the
parent's. A standard (unelevated) user's token holds the five privileges Windows gives one, with only
SeChangeNotifyPrivilege enabled; privileges named in the description are added to those held.
"""
from __future__ import annotations

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


class Token(KObject):
    type_name = "Token"

    def __init__(self, description: dict):
        super().__init__()
        self.user = description.get("user", "user")
        self.integrity = description.get("integrity", "medium")
        self.held: set[int] = {PRIVILEGES[n] for n in STANDARD_USER}
        self.held |= {PRIVILEGES[n] for n in description.get("privileges", ()) if n in PRIVILEGES}
        self.enabled: set[int] = {PRIVILEGES[n] for n in ENABLED_BY_DEFAULT}


def primary_token(proc) -> Token:
    """The process's primary token object (created on first use)."""
    tok = getattr(proc, "token_object", None)
    if tok is None:
        tok = proc.token_object = Token(proc.token)
        tok.reference()          # the process holds it for its lifetime
    return tok
