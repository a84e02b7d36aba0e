"""bcrypt.dll: the CNG subset programs use — algorithm providers, random numbers, hashes and HMAC.

Algorithms: RNG, MD5, SHA1, SHA256, SHA384, SHA512 (hashes, and HMAC with BCRYPT_ALG_HANDLE_HMAC_FLAG), and
AES (the provider opens and answers its properties; keys — BCryptGenerateSymmetricKey, BCryptEncrypt/Decrypt —
are not implemented and stop the guest loudly: winhatch has no AES implementation among its dependencies). Any
other algorithm id, or an implementation other than "Microsoft Primitive Provider", is STATUS_NOT_FOUND, as on
Windows for a name no provider registers. The Windows 10 pseudo-handles (BCRYPT_SHA256_ALG_HANDLE 0x41, …,
BCRYPT_RNG_ALG_HANDLE 0x81, BCRYPT_HMAC_*_ALG_HANDLE) serve the hash and random functions too.

Handles are guest addresses as Windows's are: an algorithm handle is a small block in the process heap; a hash
handle is the caller's hash object buffer (pbHashObject, which must be at least the ObjectLength property)
or, when the caller passes none (Windows 7+), a block from the process heap. The hash state itself is Python's
hashlib/hmac object kept with the handle. BCryptFinishHash wants exactly the digest length
(STATUS_INVALID_PARAMETER otherwise); a finished hash is used up unless it was created with
BCRYPT_HASH_REUSABLE_FLAG (or from a provider opened with it), in which case it starts again.
Random bytes come from the process's deterministic stream (the one ProcessPrng and RtlGenRandom use).

Property values: the lengths are the algorithms' (digest, block, AES key lengths 128..256 step 64); the object
lengths are what Wine 8 reports, a size the caller only uses to allocate the object buffer.
"""
from __future__ import annotations

import hashlib
import hmac
import struct

from winhatch.win32.api import api

from winhatch.win32.kernel32.common import heap_alloc, heap_free
from winhatch.win32.kernel32.sysinfo import _prng_bytes

BC = "bcrypt.dll"
STATUS_SUCCESS = 0
STATUS_INVALID_HANDLE = 0xC0000008
STATUS_INVALID_PARAMETER = 0xC000000D
STATUS_BUFFER_TOO_SMALL = 0xC0000023
STATUS_NOT_SUPPORTED = 0xC00000BB
STATUS_NOT_FOUND = 0xC0000225
BCRYPT_ALG_HANDLE_HMAC_FLAG = 0x8
BCRYPT_PROV_DISPATCH = 0x1
BCRYPT_HASH_REUSABLE_FLAG = 0x20
BCRYPT_RNG_USE_ENTROPY_IN_BUFFER, BCRYPT_USE_SYSTEM_PREFERRED_RNG = 0x1, 0x2
PRIMITIVE_PROVIDER = "Microsoft Primitive Provider"

# name -> (hashlib name or None, digest length, block length, object length, hash object length)
ALGORITHMS = {
    "RNG": (None, 0, 0, 0, 0),
    "MD5": ("md5", 16, 64, 274, 274),
    "SHA1": ("sha1", 20, 64, 278, 278),
    "SHA256": ("sha256", 32, 64, 286, 286),
    "SHA384": ("sha384", 48, 128, 382, 382),
    "SHA512": ("sha512", 64, 128, 382, 382),
    "AES": (None, 0, 16, 654, 0),
}
HASHES = {"MD5", "SHA1", "SHA256", "SHA384", "SHA512"}
# Windows 10's pseudo-handles (bcrypt.h): value -> (algorithm, HMAC)
PSEUDO = {0x21: ("MD5", False), 0x31: ("SHA1", False), 0x41: ("SHA256", False), 0x51: ("SHA384", False),
          0x61: ("SHA512", False), 0x81: ("RNG", False), 0x91: ("MD5", True), 0xA1: ("SHA1", True),
          0xB1: ("SHA256", True), 0xC1: ("SHA384", True), 0xD1: ("SHA512", True)}
ALG_MAGIC = 0x414C4748      # "HGLA"
HASH_MAGIC = 0x48534148     # "HASH"


class Alg:
    __slots__ = ("name", "hmac", "flags", "chaining")

    def __init__(self, name: str, is_hmac: bool, flags: int):
        self.name, self.hmac, self.flags = name, is_hmac, flags
        self.chaining = "ChainingModeCBC"


class Hash:
    __slots__ = ("alg", "secret", "state", "reusable", "owned", "done")

    def __init__(self, alg: Alg, secret: bytes | None, reusable: bool, owned: bool):
        self.alg, self.secret, self.reusable, self.owned = alg, secret, reusable, owned
        self.done = False
        self.state = None
        self.reset()

    def reset(self) -> None:
        hname = ALGORITHMS[self.alg.name][0]
        self.state = hmac.new(self.secret or b"", digestmod=hname) if self.secret is not None \
            else hashlib.new(hname)
        self.done = False


def _algs(c) -> dict:
    return c.proc.subsystem.setdefault("bcrypt_algs", {})


def _hashes(c) -> dict:
    return c.proc.subsystem.setdefault("bcrypt_hashes", {})


def _alg(c, h: int) -> Alg | None:
    if h in PSEUDO:
        name, is_hmac = PSEUDO[h]
        return Alg(name, is_hmac, 0)
    return _algs(c).get(h)


@api(BC, "NTSTATUS WINAPI BCryptOpenAlgorithmProvider(BCRYPT_ALG_HANDLE *phAlgorithm, LPCWSTR pszAlgId, "
         "LPCWSTR pszImplementation, ULONG dwFlags)")
def BCryptOpenAlgorithmProvider(c, out, alg_id, impl, flags):
    if not out or not alg_id:
        return STATUS_INVALID_PARAMETER
    if flags & ~(BCRYPT_ALG_HANDLE_HMAC_FLAG | BCRYPT_PROV_DISPATCH | BCRYPT_HASH_REUSABLE_FLAG):
        return STATUS_INVALID_PARAMETER
    name = alg_id.upper()
    if name not in ALGORITHMS or (impl is not None and impl.lower() != PRIMITIVE_PROVIDER.lower()):
        return STATUS_NOT_FOUND
    if flags & (BCRYPT_ALG_HANDLE_HMAC_FLAG | BCRYPT_HASH_REUSABLE_FLAG) and name not in HASHES:
        return STATUS_NOT_FOUND        # no HMAC/hash provider of that name
    h = heap_alloc(c, 16, 0x8)
    c.write_u32(h, ALG_MAGIC)
    _algs(c)[h] = Alg(name, bool(flags & BCRYPT_ALG_HANDLE_HMAC_FLAG), flags)
    c.write_ptr(out, h)
    return STATUS_SUCCESS


@api(BC, "NTSTATUS WINAPI BCryptCloseAlgorithmProvider(BCRYPT_ALG_HANDLE hAlgorithm, ULONG dwFlags)")
def BCryptCloseAlgorithmProvider(c, h, flags):
    if _algs(c).pop(h, None) is None:
        return STATUS_INVALID_HANDLE
    c.write_u32(h, 0)
    heap_free(c, h)
    return STATUS_SUCCESS


@api(BC, "NTSTATUS WINAPI BCryptGenRandom(BCRYPT_ALG_HANDLE hAlgorithm, PUCHAR pbBuffer, ULONG cbBuffer, "
         "ULONG dwFlags)")
def BCryptGenRandom(c, h, buf, n, flags):
    """An RNG provider's handle (or BCRYPT_RNG_ALG_HANDLE), or NULL with BCRYPT_USE_SYSTEM_PREFERRED_RNG; a
    handle together with that flag is STATUS_INVALID_PARAMETER. BCRYPT_RNG_USE_ENTROPY_IN_BUFFER is ignored,
    as on Windows 8 and later."""
    if flags & ~(BCRYPT_RNG_USE_ENTROPY_IN_BUFFER | BCRYPT_USE_SYSTEM_PREFERRED_RNG):
        return STATUS_INVALID_PARAMETER
    if flags & BCRYPT_USE_SYSTEM_PREFERRED_RNG:
        if h:
            return STATUS_INVALID_PARAMETER
    else:
        alg = _alg(c, h)
        if alg is None:
            return STATUS_INVALID_HANDLE
        if alg.name != "RNG":
            return STATUS_INVALID_HANDLE
    if n and not buf:
        return STATUS_INVALID_PARAMETER
    if n:
        c.write(buf, _prng_bytes(c, n))
    return STATUS_SUCCESS


# ------------------------------------------------------------------------------------------ properties
def _property(c, alg: Alg, prop: str, hsh: Hash | None) -> bytes | None:
    """The property's value bytes, or None when the object does not have it."""
    _hn, digest, block, obj, hobj = ALGORITHMS[alg.name]
    p = prop.lower()
    if p == "algorithmname":
        return alg.name.encode("utf-16-le") + b"\0\0"
    if p == "objectlength" and hsh is None and (alg.name in HASHES or alg.name == "AES"):
        return struct.pack("<I", hobj if alg.name in HASHES else obj)
    if p == "hashdigestlength" and alg.name in HASHES:
        return struct.pack("<I", digest)
    if p == "hashblocklength" and alg.name in HASHES:
        return struct.pack("<I", block)
    if alg.name == "AES" and hsh is None:
        if p == "blocklength":
            return struct.pack("<I", 16)
        if p == "chainingmode":
            return alg.chaining.encode("utf-16-le") + b"\0\0"
        if p == "keylengths":
            return struct.pack("<III", 128, 256, 64)
    return None


@api(BC, "NTSTATUS WINAPI BCryptGetProperty(BCRYPT_HANDLE hObject, LPCWSTR pszProperty, PUCHAR pbOutput, "
         "ULONG cbOutput, ULONG *pcbResult, ULONG dwFlags)")
def BCryptGetProperty(c, h, prop, out, size, pres, flags):
    hsh = _hashes(c).get(h)
    alg = hsh.alg if hsh is not None else _alg(c, h)
    if alg is None:
        return STATUS_INVALID_HANDLE
    if not prop or not pres:
        return STATUS_INVALID_PARAMETER
    value = _property(c, alg, prop, hsh)
    if value is None:
        return STATUS_NOT_SUPPORTED
    c.write_u32(pres, len(value))
    if size < len(value):         # checked first: a NULL buffer with room claimed only learns the size
        return STATUS_BUFFER_TOO_SMALL
    if out:
        c.write(out, value)
    return STATUS_SUCCESS


CHAINING_MODES = ("ChainingModeCBC", "ChainingModeECB", "ChainingModeCFB", "ChainingModeCCM", "ChainingModeGCM")


@api(BC, "NTSTATUS WINAPI BCryptSetProperty(BCRYPT_HANDLE hObject, LPCWSTR pszProperty, PUCHAR pbInput, "
         "ULONG cbInput, ULONG dwFlags)")
def BCryptSetProperty(c, h, prop, data, size, flags):
    """The chaining mode of an AES provider (the only settable property of the algorithms modelled)."""
    alg = _algs(c).get(h)
    if alg is None:
        return STATUS_INVALID_HANDLE if h not in PSEUDO and h not in _hashes(c) else STATUS_NOT_SUPPORTED
    if not prop:
        return STATUS_INVALID_PARAMETER
    if alg.name == "AES" and prop.lower() == "chainingmode":
        value = c.read(data, size).decode("utf-16-le", "replace").split("\0", 1)[0] if data and size else ""
        mode = next((m for m in CHAINING_MODES if m == value), None)
        if mode is None:
            return STATUS_NOT_SUPPORTED
        alg.chaining = mode
        return STATUS_SUCCESS
    return STATUS_NOT_SUPPORTED


# ------------------------------------------------------------------------------------------ hashes
@api(BC, "NTSTATUS WINAPI BCryptCreateHash(BCRYPT_ALG_HANDLE hAlgorithm, BCRYPT_HASH_HANDLE *phHash, "
         "PUCHAR pbHashObject, ULONG cbHashObject, PUCHAR pbSecret, ULONG cbSecret, ULONG dwFlags)")
def BCryptCreateHash(c, halg, out, obj, objsize, secret, secsize, flags):
    alg = _alg(c, halg)
    if alg is None:
        return STATUS_INVALID_HANDLE
    if alg.name not in HASHES:
        return STATUS_NOT_SUPPORTED
    if not out or flags & ~BCRYPT_HASH_REUSABLE_FLAG:
        return STATUS_INVALID_PARAMETER
    if obj and objsize < ALGORITHMS[alg.name][4]:
        return STATUS_BUFFER_TOO_SMALL
    key = (c.read(secret, secsize) if secret and secsize else b"") if alg.hmac else None
    reusable = bool((flags | alg.flags) & BCRYPT_HASH_REUSABLE_FLAG)
    owned = not obj
    h = obj if obj else heap_alloc(c, 16, 0x8)
    c.write_u32(h, HASH_MAGIC)
    _hashes(c)[h] = Hash(alg, key, reusable, owned)
    c.write_ptr(out, h)
    return STATUS_SUCCESS


@api(BC, "NTSTATUS WINAPI BCryptHashData(BCRYPT_HASH_HANDLE hHash, PUCHAR pbInput, ULONG cbInput, ULONG dwFlags)")
def BCryptHashData(c, h, data, size, flags):
    hsh = _hashes(c).get(h)
    if hsh is None:
        return STATUS_INVALID_HANDLE
    if hsh.done or (size and not data):
        return STATUS_INVALID_PARAMETER
    if size:
        hsh.state.update(c.read(data, size))
    return STATUS_SUCCESS


@api(BC, "NTSTATUS WINAPI BCryptFinishHash(BCRYPT_HASH_HANDLE hHash, PUCHAR pbOutput, ULONG cbOutput, "
         "ULONG dwFlags)")
def BCryptFinishHash(c, h, out, size, flags):
    hsh = _hashes(c).get(h)
    if hsh is None:
        return STATUS_INVALID_HANDLE
    if hsh.done or not out or size != ALGORITHMS[hsh.alg.name][1] or flags:
        return STATUS_INVALID_PARAMETER
    c.write(out, hsh.state.digest())
    if hsh.reusable:
        hsh.reset()
    else:
        hsh.done = True
    return STATUS_SUCCESS


@api(BC, "NTSTATUS WINAPI BCryptDuplicateHash(BCRYPT_HASH_HANDLE hHash, BCRYPT_HASH_HANDLE *phNewHash, "
         "PUCHAR pbHashObject, ULONG cbHashObject, ULONG dwFlags)")
def BCryptDuplicateHash(c, h, out, obj, objsize, flags):
    hsh = _hashes(c).get(h)
    if hsh is None:
        return STATUS_INVALID_HANDLE
    if not out or flags:
        return STATUS_INVALID_PARAMETER
    if obj and objsize < ALGORITHMS[hsh.alg.name][4]:
        return STATUS_BUFFER_TOO_SMALL
    dup = Hash(hsh.alg, hsh.secret, hsh.reusable, not obj)
    dup.state, dup.done = hsh.state.copy(), hsh.done
    nh = obj if obj else heap_alloc(c, 16, 0x8)
    c.write_u32(nh, HASH_MAGIC)
    _hashes(c)[nh] = dup
    c.write_ptr(out, nh)
    return STATUS_SUCCESS


@api(BC, "NTSTATUS WINAPI BCryptDestroyHash(BCRYPT_HASH_HANDLE hHash)")
def BCryptDestroyHash(c, h):
    hsh = _hashes(c).pop(h, None)
    if hsh is None:
        return STATUS_INVALID_HANDLE
    c.write_u32(h, 0)
    if hsh.owned:
        heap_free(c, h)
    return STATUS_SUCCESS


@api(BC, "NTSTATUS WINAPI BCryptHash(BCRYPT_ALG_HANDLE hAlgorithm, PUCHAR pbSecret, ULONG cbSecret, "
         "PUCHAR pbInput, ULONG cbInput, PUCHAR pbOutput, ULONG cbOutput)")
def BCryptHash(c, halg, secret, secsize, data, size, out, outsize):
    """One call: create, hash, finish (Windows 10)."""
    alg = _alg(c, halg)
    if alg is None:
        return STATUS_INVALID_HANDLE
    if alg.name not in HASHES:
        return STATUS_NOT_SUPPORTED
    if not out or outsize != ALGORITHMS[alg.name][1] or (size and not data):
        return STATUS_INVALID_PARAMETER
    key = (c.read(secret, secsize) if secret and secsize else b"") if alg.hmac else None
    hsh = Hash(alg, key, False, False)
    if size:
        hsh.state.update(c.read(data, size))
    c.write(out, hsh.state.digest())
    return STATUS_SUCCESS
