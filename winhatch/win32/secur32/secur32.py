"""secur32 / sspicli: InitSecurityInterfaceA/W — the SSPI dispatch table (SecurityFunctionTableA/W, sspi.h).

The table is a real structure in the process's memory (built once per process and character set, in the
process heap): dwVersion, then one pointer per function in sspi.h's order, each the address of the DLL's own
export (secur32's, or sspicli's for the functions only sspicli exports — sspicli is loaded for them, as
secur32 imports it on Windows); the Reserved slots are NULL. A program that calls through the table reaches
the same export a direct call would: the functions winhatch implements run, the others stop the guest
loudly as every unimplemented API does (no security package — Negotiate, NTLM, Kerberos, Schannel — is
modelled, so a TLS or authentication handshake stops there rather than failing in a way Windows would not).
dwVersion is SECURITY_SUPPORT_PROVIDER_INTERFACE_VERSION_4 and the table extends to the Windows 8.1 fields
(QueryContextAttributesEx, QueryCredentialsAttributesEx), which Windows 10's sspicli exports.
"""
from __future__ import annotations

from winhatch.ldr import loader
from winhatch.win32.api import api

from winhatch.win32.kernel32.common import heap_alloc

SECUR32 = ("secur32.dll", "sspicli.dll")
TABLE_VERSION = 4
# sspi.h's SecurityFunctionTable order; None is a reserved slot; "%" is A or W
FUNCTIONS = ("EnumerateSecurityPackages%", "QueryCredentialsAttributes%", "AcquireCredentialsHandle%",
             "FreeCredentialsHandle", None, "InitializeSecurityContext%", "AcceptSecurityContext",
             "CompleteAuthToken", "DeleteSecurityContext", "ApplyControlToken", "QueryContextAttributes%",
             "ImpersonateSecurityContext", "RevertSecurityContext", "MakeSignature", "VerifySignature",
             "FreeContextBuffer", "QuerySecurityPackageInfo%", None, None, "ExportSecurityContext",
             "ImportSecurityContext%", "AddCredentials%", None, "QuerySecurityContextToken", "EncryptMessage",
             "DecryptMessage", "SetContextAttributes%", "SetCredentialsAttributes%", "ChangeAccountPassword%",
             "QueryContextAttributesEx%", "QueryCredentialsAttributesEx%")


def _export(c, name: str) -> int:
    """The address of `name` in secur32, else in sspicli (loaded if it is not yet)."""
    for dll in SECUR32:
        base = loader.LdrGetDllHandle(c.machine, c.proc, dll)
        if not base:
            base = loader.LdrLoadDll(c.machine, c.thread, dll, 0)
        try:
            return loader.LdrGetProcedureAddress(c.machine, c.proc, base, name, None)
        except loader.LoaderError:
            continue
    raise loader.LoaderError(0xC0000139, f"{name} is in neither secur32 nor sspicli")


@api(SECUR32, "PSecurityFunctionTable WINAPI InitSecurityInterface%(void)", calls_guest=True)
def InitSecurityInterface(c):
    tables = c.proc.subsystem.setdefault("sspi_tables", {})
    suffix = "W" if c.wide else "A"
    if suffix in tables:
        return tables[suffix]
    ps = c.ptr_size
    table = heap_alloc(c, ps * (1 + len(FUNCTIONS)), 0x8)
    c.write_u32(table, TABLE_VERSION)
    for i, fn in enumerate(FUNCTIONS):
        addr = 0 if fn is None else _export(c, fn.replace("%", suffix))
        c.write_ptr(table + ps * (1 + i), addr)
    tables[suffix] = table
    return table
