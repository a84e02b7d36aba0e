"""advapi32's CryptoAPI entry points that C runtimes and libraries use for random numbers: CryptAcquireContext,
CryptGenRandom, CryptReleaseContext (RtlGenRandom, SystemFunction036, is in kernel32/sysinfo.py).

The providers are the ones Windows installs (base/enhanced/strong RSA, RSA+AES, DSS, DH/Schannel), by type
and by name. winhatch keeps no key containers: CRYPT_VERIFYCONTEXT (no persisted keys, what a program that
wants random bytes asks for) works; opening the user's default container finds none (NTE_BAD_KEYSET), and
creating or deleting one (CRYPT_NEWKEYSET, CRYPT_DELETEKEYSET) stops loudly. A provider handle is a small
allocation in the process heap (as Windows's is a pointer), known to the process until released.
CryptGenRandom fills the buffer from the process's deterministic random stream.
"""
from __future__ import annotations

from winhatch.ntstatus import ERROR_INVALID_PARAMETER
from winhatch.win32.api import api

from winhatch.win32.kernel32.common import heap_alloc, heap_free
from winhatch.win32.kernel32.sysinfo import _prng_bytes

ADV = "advapi32.dll"
NTE_BAD_FLAGS = 0x80090009
NTE_BAD_PROV_TYPE = 0x80090014
NTE_BAD_KEYSET = 0x80090016
NTE_PROV_TYPE_NOT_DEF = 0x80090017
NTE_KEYSET_NOT_DEF = 0x80090019
CRYPT_VERIFYCONTEXT = 0xF0000000
CRYPT_NEWKEYSET, CRYPT_DELETEKEYSET, CRYPT_MACHINE_KEYSET, CRYPT_SILENT = 0x8, 0x10, 0x20, 0x40
CRYPT_DEFAULT_CONTAINER_OPTIONAL = 0x80
_FLAGS = (CRYPT_VERIFYCONTEXT | CRYPT_NEWKEYSET | CRYPT_DELETEKEYSET | CRYPT_MACHINE_KEYSET | CRYPT_SILENT
          | CRYPT_DEFAULT_CONTAINER_OPTIONAL)
# provider type -> the names of the providers of that type (the first is the type's default)
PROVIDERS = {
    1: ("Microsoft Strong Cryptographic Provider", "Microsoft Base Cryptographic Provider v1.0",
        "Microsoft Enhanced Cryptographic Provider v1.0"),
    3: ("Microsoft Base DSS Cryptographic Provider",),
    12: ("Microsoft RSA SChannel Cryptographic Provider",),
    13: ("Microsoft Enhanced DSS and Diffie-Hellman Cryptographic Provider",
         "Microsoft Base DSS and Diffie-Hellman Cryptographic Provider"),
    18: ("Microsoft DH SChannel Cryptographic Provider",),
    24: ("Microsoft Enhanced RSA and AES Cryptographic Provider",),
}
MAGIC = 0x56525043   # "CPRV"


def _provs(c) -> dict:
    return c.proc.subsystem.setdefault("crypt_providers", {})


@api(ADV, "BOOL WINAPI CryptAcquireContext%(HCRYPTPROV *phProv, LPCTSTR szContainer, LPCTSTR szProvider, "
     "DWORD dwProvType, DWORD dwFlags)")
def CryptAcquireContext(c, out, container, provider, ptype, flags):
    if not out:
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    if ptype == 0 or ptype > 999:
        c.set_last_error(NTE_BAD_PROV_TYPE)
        return 0
    if flags & ~_FLAGS:
        c.set_last_error(NTE_BAD_FLAGS)
        return 0
    names = PROVIDERS.get(ptype)
    if names is None:
        c.set_last_error(NTE_PROV_TYPE_NOT_DEF)
        return 0
    if provider and provider.lower() not in (n.lower() for n in names):
        c.set_last_error(NTE_KEYSET_NOT_DEF)
        return 0
    if flags & (CRYPT_NEWKEYSET | CRYPT_DELETEKEYSET) and not flags & CRYPT_VERIFYCONTEXT:
        from winhatch.win32.msvcrt.runtime import not_implemented
        not_implemented(c, "CryptAcquireContext creating or deleting a key container (no key storage)")
    if not flags & CRYPT_VERIFYCONTEXT:
        c.set_last_error(NTE_BAD_KEYSET)     # no key container exists
        return 0
    h = heap_alloc(c, 16, 0x8)
    c.write_u32(h, MAGIC)
    c.write_u32(h + 4, ptype)
    _provs(c)[h] = (ptype, provider or names[0])
    c.write_ptr(out, h)
    return 1


@api(ADV, "BOOL WINAPI CryptGenRandom(HCRYPTPROV hProv, DWORD dwLen, BYTE *pbBuffer)")
def CryptGenRandom(c, h, n, buf):
    if h not in _provs(c):
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    if n:
        c.write(buf, _prng_bytes(c, n))
    return 1


@api(ADV, "BOOL WINAPI CryptReleaseContext(HCRYPTPROV hProv, DWORD dwFlags)")
def CryptReleaseContext(c, h, flags):
    """A handle the process does not hold: ERROR_INVALID_PARAMETER. Non-zero flags: the handle is released
    all the same and the call fails with NTE_BAD_FLAGS (Microsoft's documentation)."""
    provs = _provs(c)
    if h not in provs:
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    del provs[h]
    c.write_u32(h, 0)
    heap_free(c, h)
    if flags:
        c.set_last_error(NTE_BAD_FLAGS)
        return 0
    return 1
