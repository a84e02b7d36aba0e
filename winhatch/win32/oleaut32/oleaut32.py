"""oleaut32: BSTRs (SysAllocString and its family) and the VARIANT calls of simple types (VariantInit,
VariantClear, VariantCopy).

A BSTR is a pointer to UTF-16 text preceded by its length in bytes (a 4-byte prefix at -4) and followed by
a NUL character; the allocation holding it comes from the process heap (Windows: the OLE task allocator).
On x64 the allocation starts 8 bytes before the text (the prefix is the second half of a 16-byte aligned
header), on x86 4 bytes before, as Windows lays them out. SysStringLen/SysStringByteLen read the prefix in
guest memory, so a program that builds or inspects one inline agrees with them.

VARIANT: vt (WORD) at 0, the value at 8 (16 bytes on x86, 24 on x64). VariantClear/VariantCopy handle the
types that own nothing, a BSTR, and references (VT_BYREF owns nothing); a non-NULL VT_UNKNOWN or
VT_DISPATCH (COM reference counting), VT_RECORD and arrays (SAFEARRAYs) stop loudly.
"""
from __future__ import annotations

import struct

from winhatch.ldr import loader
from winhatch.win32.api import api

OLE = "oleaut32.dll"
E_INVALIDARG = 0x80070057
E_OUTOFMEMORY = 0x8007000E
DISP_E_BADVARTYPE = 0x80020008
VT_EMPTY, VT_NULL, VT_BSTR, VT_DISPATCH, VT_UNKNOWN, VT_RECORD = 0, 1, 8, 9, 13, 36
VT_ARRAY, VT_BYREF = 0x2000, 0x4000
# the simple types: VT_I2 .. VT_DATE, VT_ERROR, VT_BOOL, VT_DECIMAL, VT_I1 .. VT_UINT, VT_FILETIME(64)?
_SIMPLE = {2, 3, 4, 5, 6, 7, 10, 11, 14, 16, 17, 18, 19, 20, 21, 22, 23}
MAX_BSTR = 0x7FFFFFF0


def _heap(c):
    return loader.state_of(c.proc).heaps.process_heap


def _header(c) -> int:
    return 8 if c.ptr_size == 8 else 4


def alloc_bstr(c, data: bytes | None, nbytes: int) -> int:
    """A BSTR of `nbytes` bytes (copied from `data` when given, else zero-filled) and its NUL; 0 if it
    cannot be allocated."""
    h = _header(c)
    block = _heap(c).alloc(h + nbytes + 2, 0x8)
    if not block:
        return 0
    c.write(block + h - 4, struct.pack("<I", nbytes))
    if data:
        c.write(block + h, data[:nbytes])
    return block + h


def free_bstr(c, bstr: int) -> None:
    if bstr:
        _heap(c).free_block(bstr - _header(c))


@api(OLE, "BSTR WINAPI SysAllocString(const OLECHAR *psz)")
def SysAllocString(c, psz):
    """A copy of the NUL-terminated string; NULL for a NULL argument."""
    if not psz:
        return 0
    text = c.wstr(psz, 1 << 24) or ""
    raw = text.encode("utf-16-le", "surrogatepass")
    return alloc_bstr(c, raw, len(raw))


@api(OLE, "BSTR WINAPI SysAllocStringLen(const OLECHAR *strIn, UINT ui)")
def SysAllocStringLen(c, src, n):
    """`ui` characters, copied from strIn when it is not NULL (zero-filled otherwise), then a NUL."""
    if n > MAX_BSTR // 2:
        return 0
    return alloc_bstr(c, c.read(src, 2 * n) if src and n else None, 2 * n)


@api(OLE, "BSTR WINAPI SysAllocStringByteLen(LPCSTR_RAW psz, UINT len)")
def SysAllocStringByteLen(c, src, n):
    """`len` bytes (copied from psz when not NULL), then a NUL character; the length prefix is `len`."""
    if n > MAX_BSTR:
        return 0
    return alloc_bstr(c, c.read(src, n) if src and n else None, n)


@api(OLE, "void WINAPI SysFreeString(BSTR bstrString)")
def SysFreeString(c, bstr):
    free_bstr(c, bstr)


@api(OLE, "UINT WINAPI SysStringLen(BSTR pbstr)")
def SysStringLen(c, bstr):
    return c.u32(bstr - 4) // 2 if bstr else 0


@api(OLE, "UINT WINAPI SysStringByteLen(BSTR bstr)")
def SysStringByteLen(c, bstr):
    return c.u32(bstr - 4) if bstr else 0


@api(OLE, "INT WINAPI SysReAllocStringLen(BSTR *pbstr, const OLECHAR *psz, unsigned int len)")
def SysReAllocStringLen(c, pbstr, src, n):
    """*pbstr becomes a new BSTR of `len` characters from psz (psz may point into the old string); the old
    one is freed. FALSE when it cannot be allocated."""
    if not pbstr or n > MAX_BSTR // 2:
        return 0
    data = c.read(src, 2 * n) if src and n else None
    new = alloc_bstr(c, data, 2 * n)
    if not new:
        return 0
    free_bstr(c, c.ptr(pbstr))
    c.write_ptr(pbstr, new)
    return 1


@api(OLE, "INT WINAPI SysReAllocString(BSTR *pbstr, const OLECHAR *psz)")
def SysReAllocString(c, pbstr, psz):
    if not pbstr:
        return 0
    n = len((c.wstr(psz, 1 << 24) or "").encode("utf-16-le", "surrogatepass")) // 2 if psz else 0
    return SysReAllocStringLen(c, pbstr, psz, n)


# ------------------------------------------------------------------------------------------ VARIANT
def _vt(c, v: int) -> int:
    return struct.unpack("<H", c.read(v, 2))[0]


def _variant_size(c) -> int:
    return 24 if c.ptr_size == 8 else 16


VT_TYPEMASK = 0xFFF


def _check(c, v: int, vt: int, what: str) -> int | None:
    """None when the VARIANT at `v` is one this implementation handles, DISP_E_BADVARTYPE for a type that
    does not exist; arrays and COM objects (a SAFEARRAY to destroy, an interface to Release) stop loudly."""
    base = vt & VT_TYPEMASK
    if vt & ~(VT_TYPEMASK | VT_ARRAY | VT_BYREF) or not (base in (VT_EMPTY, VT_NULL, VT_BSTR, VT_DISPATCH,
                                                               VT_UNKNOWN, VT_RECORD) or base in _SIMPLE):
        return DISP_E_BADVARTYPE
    if vt & VT_BYREF:
        return None          # a reference owns nothing: clearing it frees nothing
    if vt & VT_ARRAY or base == VT_RECORD or (base in (VT_DISPATCH, VT_UNKNOWN) and c.ptr(v + 8)):
        from winhatch.win32.msvcrt.runtime import not_implemented
        not_implemented(c, f"{what} of a VARIANT of type 0x{vt:x} (SAFEARRAYs, records, COM interfaces)")
    return None


@api(OLE, "void WINAPI VariantInit(VARIANTARG *pvarg)")
def VariantInit(c, v):
    """vt = VT_EMPTY; the rest of the VARIANT is left as it is (as on Windows)."""
    c.write(v, b"\0\0")


@api(OLE, "HRESULT WINAPI VariantClear(VARIANTARG *pvarg)")
def VariantClear(c, v):
    """Free what the VARIANT owns (a BSTR) and make it VT_EMPTY; an invalid type: DISP_E_BADVARTYPE, the
    VARIANT unchanged."""
    if not v:
        return E_INVALIDARG
    vt = _vt(c, v)
    bad = _check(c, v, vt, "VariantClear")
    if bad is not None:
        return bad
    if vt == VT_BSTR:          # (not VT_BSTR | VT_BYREF: a reference does not own the string)
        free_bstr(c, c.ptr(v + 8))
    c.write(v, b"\0\0")
    return 0


@api(OLE, "HRESULT WINAPI VariantCopy(VARIANTARG *pvargDest, const VARIANTARG *pvargSrc)")
def VariantCopy(c, dst, src):
    """Clear the destination, then copy the source; a BSTR is duplicated. An invalid source type:
    DISP_E_BADVARTYPE."""
    if not dst or not src:
        return E_INVALIDARG
    vt = _vt(c, src)
    bad = _check(c, src, vt, "VariantCopy")
    if bad is not None:
        return bad
    if dst == src:
        return 0
    hr = VariantClear(c, dst)
    if hr:
        return hr
    raw = bytearray(c.read(src, _variant_size(c)))
    if vt == VT_BSTR:
        b = c.ptr(src + 8)
        if b:
            n = c.u32(b - 4)
            nb = alloc_bstr(c, c.read(b, n) if n else None, n)
            if not nb:
                return E_OUTOFMEMORY
            raw[8:8 + c.ptr_size] = nb.to_bytes(c.ptr_size, "little")
    c.write(dst, bytes(raw))
    return 0
