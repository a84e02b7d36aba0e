"""advapi32's CryptoAPI hashes: CryptCreateHash, CryptHashData, CryptGetHashParam, CryptSetHashParam
(HP_HMAC_INFO), CryptDuplicateHash, CryptDestroyHash, and the keys HMAC needs: CryptImportKey of a
PLAINTEXTKEYBLOB, CryptDestroyKey.

Algorithms per provider type, as Microsoft's RSA providers (rsaenh) offer them: PROV_RSA_FULL and
PROV_RSA_SCHANNEL hash MD5 and SHA-1; PROV_RSA_AES also SHA-256/384/512; CALG_HMAC over any of those with a
key. Another hash algorithm of these providers (MD2, MD4, MAC, SSL3_SHAMD5) or a hash from another provider type
(DSS, DH) stops loudly; an id that is no hash: NTE_BAD_ALGID. The digests are Python's hashlib/hmac.

A hash handle is a small block in the process heap, as Windows's is a pointer; the state is the hashlib object
kept with it. Asking for HP_HASHVAL finishes the hash, even a query of its size alone (Microsoft's
documentation: after the call no more data can be added): hashing more is NTE_BAD_HASH_STATE, reading the
value again gives the same bytes. A key handle holds the key's bytes; a key can only key an HMAC here (encryption
with it is not implemented, and those functions stop the guest when called).

CryptGetHashParam's buffer convention: pbData NULL asks for the size (*pdwDataLen); a buffer too small is
ERROR_MORE_DATA with the size in *pdwDataLen.
"""
from __future__ import annotations

import hashlib
import hmac
import struct

from winhatch.ntstatus import ERROR_INVALID_PARAMETER
from winhatch.win32.api import api

from winhatch.win32.advapi32.crypt import ADV, NTE_BAD_FLAGS, _provs
from winhatch.win32.kernel32.common import heap_alloc, heap_free

ERROR_INVALID_HANDLE = 6
ERROR_MORE_DATA = 234
NTE_BAD_HASH = 0x80090002
NTE_BAD_KEY = 0x80090003
NTE_BAD_LEN = 0x80090004
NTE_BAD_DATA = 0x80090005
NTE_BAD_ALGID = 0x80090008
NTE_BAD_TYPE = 0x8009000A
NTE_BAD_HASH_STATE = 0x8009000C
NTE_BAD_VER = 0x80090007

CALG_MD2, CALG_MD4, CALG_MD5, CALG_SHA1, CALG_MAC, CALG_SSL3_SHAMD5, CALG_HMAC = \
    0x8001, 0x8002, 0x8003, 0x8004, 0x8005, 0x8008, 0x8009
CALG_SHA_256, CALG_SHA_384, CALG_SHA_512 = 0x800C, 0x800D, 0x800E
HASHLIB = {CALG_MD5: "md5", CALG_SHA1: "sha1", CALG_SHA_256: "sha256", CALG_SHA_384: "sha384",
           CALG_SHA_512: "sha512"}
RSA_HASHES = {CALG_MD5, CALG_SHA1}
AES_HASHES = RSA_HASHES | {CALG_SHA_256, CALG_SHA_384, CALG_SHA_512}
OTHER_RSA_HASHES = {CALG_MD2, CALG_MD4, CALG_MAC, CALG_SSL3_SHAMD5}
PROV_RSA_FULL, PROV_RSA_SCHANNEL, PROV_RSA_AES = 1, 12, 24
HP_ALGID, HP_HASHVAL, HP_HASHSIZE, HP_HMAC_INFO = 1, 2, 4, 5
CRYPT_USERDATA = 1
PLAINTEXTKEYBLOB, CUR_BLOB_VERSION = 0x8, 2
CRYPT_EXPORTABLE, CRYPT_IPSEC_HMAC_KEY = 0x1, 0x100
HASH_MAGIC, KEY_MAGIC = 0x48535043, 0x59454B43      # "CPSH", "CKEY"


class _Hash:
    __slots__ = ("prov", "algid", "key", "h", "value", "hmac_alg")

    def __init__(self, prov, algid, key=None):
        self.prov, self.algid, self.key = prov, algid, key
        self.h = None if algid == CALG_HMAC else hashlib.new(HASHLIB[algid])
        self.value: bytes | None = None
        self.hmac_alg = 0

    def copy(self):
        n = _Hash(self.prov, self.algid, self.key)
        n.h = None if self.h is None else self.h.copy()
        n.value, n.hmac_alg = self.value, self.hmac_alg
        return n

    @property
    def size(self) -> int:
        if self.h is not None:
            return self.h.digest_size
        return hashlib.new(HASHLIB[self.hmac_alg]).digest_size if self.hmac_alg else 0


def _hashes(c) -> dict:
    return c.proc.subsystem.setdefault("crypt_hashes", {})


def _keys(c) -> dict:
    return c.proc.subsystem.setdefault("crypt_keys", {})


def _new_handle(c, table: dict, magic: int, obj) -> int:
    h = heap_alloc(c, 16, 0x8)
    if h:
        c.write_u32(h, magic)
        table[h] = obj
    return h


def _free_handle(c, table: dict, h: int) -> None:
    del table[h]
    c.write_u32(h, 0)
    heap_free(c, h)


def _stop(c, what: str):
    from winhatch.win32.msvcrt.runtime import not_implemented
    not_implemented(c, what)


def _fail(c, code: int) -> int:
    c.set_last_error(code)
    return 0


@api(ADV, "BOOL WINAPI CryptCreateHash(HCRYPTPROV hProv, ALG_ID Algid, HCRYPTKEY hKey, DWORD dwFlags, "
     "HCRYPTHASH *phHash)")
def CryptCreateHash(c, hprov, algid, hkey, flags, out):
    provs = _provs(c)
    if hprov not in provs or not out:
        return _fail(c, ERROR_INVALID_PARAMETER)
    if flags:
        return _fail(c, NTE_BAD_FLAGS)
    ptype = provs[hprov][0]
    if ptype not in (PROV_RSA_FULL, PROV_RSA_SCHANNEL, PROV_RSA_AES):
        _stop(c, f"CryptCreateHash with a provider of type {ptype} (only the RSA providers' hashes are modelled)")
    offered = AES_HASHES if ptype == PROV_RSA_AES else RSA_HASHES
    key = None
    if algid == CALG_HMAC:
        key = _keys(c).get(hkey)
        if key is None:
            return _fail(c, NTE_BAD_KEY)
    elif algid in OTHER_RSA_HASHES:
        _stop(c, f"CryptCreateHash ALG_ID 0x{algid:x} (MD5, SHA-1, SHA-2 and HMAC are modelled)")
    elif algid not in offered:
        return _fail(c, NTE_BAD_ALGID)
    elif hkey:
        return _fail(c, NTE_BAD_KEY)     # a key only keys the keyed algorithms
    h = _new_handle(c, _hashes(c), HASH_MAGIC, _Hash(hprov, algid, key))
    if not h:
        return 0
    c.write_ptr(out, h)
    return 1


def _hash(c, h) -> _Hash | None:
    obj = _hashes(c).get(h)
    if obj is None:
        c.set_last_error(ERROR_INVALID_HANDLE if h else ERROR_INVALID_PARAMETER)
    return obj


@api(ADV, "BOOL WINAPI CryptHashData(HCRYPTHASH hHash, const BYTE *pbData, DWORD dwDataLen, DWORD dwFlags)")
def CryptHashData(c, h, data, n, flags):
    obj = _hash(c, h)
    if obj is None:
        return 0
    if flags & ~CRYPT_USERDATA:
        return _fail(c, NTE_BAD_FLAGS)
    if obj.value is not None:
        return _fail(c, NTE_BAD_HASH_STATE)
    if obj.h is None:
        _stop(c, "CryptHashData on an HMAC before CryptSetHashParam(HP_HMAC_INFO)")
    if n:
        if not data:
            return _fail(c, ERROR_INVALID_PARAMETER)
        obj.h.update(c.read(data, n))
    return 1


def _put(c, buf: int, plen: int, data: bytes) -> int:
    if not plen:
        return _fail(c, ERROR_INVALID_PARAMETER)
    if not buf:
        c.write_u32(plen, len(data))
        return 1
    have = c.u32(plen)
    c.write_u32(plen, len(data))
    if have < len(data):
        return _fail(c, ERROR_MORE_DATA)
    c.write(buf, data)
    return 1


@api(ADV, "BOOL WINAPI CryptGetHashParam(HCRYPTHASH hHash, DWORD dwParam, BYTE *pbData, DWORD *pdwDataLen, "
     "DWORD dwFlags)")
def CryptGetHashParam(c, h, param, buf, plen, flags):
    obj = _hash(c, h)
    if obj is None:
        return 0
    if flags:
        return _fail(c, NTE_BAD_FLAGS)
    if param == HP_ALGID:
        return _put(c, buf, plen, struct.pack("<I", obj.algid))
    if param == HP_HASHSIZE:
        if obj.h is None:
            _stop(c, "CryptGetHashParam(HP_HASHSIZE) of an HMAC before HP_HMAC_INFO")
        return _put(c, buf, plen, struct.pack("<I", obj.size))
    if param == HP_HASHVAL:
        if obj.h is None:
            _stop(c, "CryptGetHashParam(HP_HASHVAL) of an HMAC before HP_HMAC_INFO")
        if obj.value is None:
            obj.value = obj.h.digest()      # finished even when only its size is asked for
        return _put(c, buf, plen, obj.value)
    return _fail(c, NTE_BAD_TYPE)


@api(ADV, "BOOL WINAPI CryptSetHashParam(HCRYPTHASH hHash, DWORD dwParam, const BYTE *pbData, DWORD dwFlags)")
def CryptSetHashParam(c, h, param, data, flags):
    """HP_HMAC_INFO (the HMAC's hash algorithm and its inner and outer pads: NULL/0 for the standard 0x36 and
    0x5C) on an HMAC hash; HP_HASHVAL (setting a hash's value, used for signing) is not modelled."""
    obj = _hash(c, h)
    if obj is None:
        return 0
    if flags:
        return _fail(c, NTE_BAD_FLAGS)
    if param != HP_HMAC_INFO:
        if param == HP_HASHVAL:
            _stop(c, "CryptSetHashParam(HP_HASHVAL)")
        return _fail(c, NTE_BAD_TYPE)
    if obj.algid != CALG_HMAC:
        return _fail(c, NTE_BAD_TYPE)
    if not data:
        return _fail(c, ERROR_INVALID_PARAMETER)
    ps = c.ptr_size
    alg = c.u32(data)
    inner_n, outer_n = c.u32(data + 2 * ps), c.u32(data + 4 * ps)
    if inner_n or outer_n:
        _stop(c, "HMAC_INFO with custom inner or outer strings")
    offered = AES_HASHES if _provs(c)[obj.prov][0] == PROV_RSA_AES else RSA_HASHES
    if alg not in offered:
        return _fail(c, NTE_BAD_ALGID)
    obj.hmac_alg = alg
    obj.h = hmac.new(obj.key, digestmod=HASHLIB[alg])
    return 1


@api(ADV, "BOOL WINAPI CryptDuplicateHash(HCRYPTHASH hHash, DWORD *pdwReserved, DWORD dwFlags, "
     "HCRYPTHASH *phHash)")
def CryptDuplicateHash(c, h, reserved, flags, out):
    obj = _hash(c, h)
    if obj is None:
        return 0
    if reserved or not out:
        return _fail(c, ERROR_INVALID_PARAMETER)
    if flags:
        return _fail(c, NTE_BAD_FLAGS)
    new = _new_handle(c, _hashes(c), HASH_MAGIC, obj.copy())
    if not new:
        return 0
    c.write_ptr(out, new)
    return 1


@api(ADV, "BOOL WINAPI CryptDestroyHash(HCRYPTHASH hHash)")
def CryptDestroyHash(c, h):
    if _hash(c, h) is None:
        return 0
    _free_handle(c, _hashes(c), h)
    return 1


@api(ADV, "BOOL WINAPI CryptImportKey(HCRYPTPROV hProv, const BYTE *pbData, DWORD dwDataLen, HCRYPTKEY hPubKey, "
     "DWORD dwFlags, HCRYPTKEY *phKey)")
def CryptImportKey(c, hprov, data, n, hpub, flags, out):
    """A PLAINTEXTKEYBLOB (BLOBHEADER, DWORD key length, the key) — the way a program brings an HMAC key; other
    blob types (encrypted session keys, public/private key pairs) stop loudly."""
    if hprov not in _provs(c) or not data or not out:
        return _fail(c, ERROR_INVALID_PARAMETER)
    if n < 8:
        return _fail(c, NTE_BAD_DATA)
    btype, version, _reserved, alg = struct.unpack("<BBHI", c.read(data, 8))
    if btype != PLAINTEXTKEYBLOB:
        _stop(c, f"CryptImportKey of a key blob of type {btype} (only PLAINTEXTKEYBLOB is modelled)")
    if version != CUR_BLOB_VERSION:
        return _fail(c, NTE_BAD_VER)
    if hpub:
        return _fail(c, NTE_BAD_KEY)
    if flags & ~(CRYPT_EXPORTABLE | CRYPT_IPSEC_HMAC_KEY):
        return _fail(c, NTE_BAD_FLAGS)
    if n < 12:
        return _fail(c, NTE_BAD_DATA)
    klen = c.u32(data + 8)
    if klen > n - 12:
        return _fail(c, NTE_BAD_DATA)
    key = _new_handle(c, _keys(c), KEY_MAGIC, bytes(c.read(data + 12, klen)))
    if not key:
        return 0
    c.write_ptr(out, key)
    return 1


@api(ADV, "BOOL WINAPI CryptDestroyKey(HCRYPTKEY hKey)")
def CryptDestroyKey(c, h):
    if h not in _keys(c):
        return _fail(c, ERROR_INVALID_HANDLE if h else ERROR_INVALID_PARAMETER)
    _free_handle(c, _keys(c), h)
    return 1
