"""ntdll RtlNormalizeString / RtlIsNormalizedString: the Unicode normalization forms (C 1, D 2, KC 5, KD 6) of
Python's unicodedata, and form 13, the IDNA nameprep (kernel32's IdnToNameprepUnicode mapping, unassigned
characters allowed). A lone surrogate is STATUS_NO_UNICODE_TRANSLATION. The size asked with a zero length is
Windows' estimate: three characters per source character for C and D, eighteen for KC and KD, and above 64
characters max(64, n + n / 8)."""
from __future__ import annotations

import unicodedata

from winhatch.ntstatus import STATUS_BUFFER_TOO_SMALL, STATUS_INVALID_PARAMETER, STATUS_OBJECT_NAME_NOT_FOUND
from winhatch.win32.api import api

NT = "ntdll.dll"
STATUS_NO_UNICODE_TRANSLATION = 0xC0000717
FORMS = {1: "NFC", 2: "NFD", 5: "NFKC", 6: "NFKD", 13: "IDNA"}


class InvalidSequence(Exception):
    def __init__(self, pos: int):
        super().__init__(pos)
        self.pos = pos


def estimate(form: int, n: int) -> int:
    if n <= 0:
        return 0
    e = n * (3 if form in (1, 2, 13) else 18)
    return e if e <= 64 else max(64, n + n // 8)


def decode_units(raw: bytes) -> str:
    """UTF-16 code units as text, surrogate pairs combined; a lone surrogate raises InvalidSequence whose pos + 1
    is Windows' position of the error, in code units: after a high surrogate not followed by a low one, at a lone
    low surrogate (its `start` is the unit where the bad sequence starts)."""
    units = [int.from_bytes(raw[k:k + 2], "little") for k in range(0, len(raw) - 1, 2)]
    out = []
    i = 0
    while i < len(units):
        u = units[i]
        if 0xD800 <= u <= 0xDBFF:
            if i + 1 < len(units) and 0xDC00 <= units[i + 1] <= 0xDFFF:
                out.append(chr(0x10000 + ((u - 0xD800) << 10) + (units[i + 1] - 0xDC00)))
                i += 2
                continue
            e = InvalidSequence(i)
            e.start = i
            raise e
        if 0xDC00 <= u <= 0xDFFF:
            e = InvalidSequence(i - 1)
            e.start = i
            raise e
        out.append(chr(u))
        i += 1
    return "".join(out)


def valid_prefix_length(form: int, raw: bytes, start: int) -> int:
    """The length of the normalized text before a bad sequence at code unit `start` (what Windows writes before
    it finds the error: a buffer too small for it is reported first)."""
    try:
        return len(normalize(form, decode_units(raw[:2 * start])).encode("utf-16-le", "surrogatepass")) // 2
    except InvalidSequence:
        return 0


def normalize(form: int, text: str) -> str:
    if form == 13:
        from winhatch.win32.kernel32.idn import IDN_ALLOW_UNASSIGNED, IdnError, nameprep
        end = ""
        if text.endswith("\0"):            # the terminating NUL a count may include is kept
            text, end = text[:-1], "\0"
        if "\0" in text:
            raise InvalidSequence(text.index("\0"))
        if not text:
            return end
        try:
            return nameprep(text, IDN_ALLOW_UNASSIGNED) + end
        except IdnError:
            raise InvalidSequence(0) from None
    return unicodedata.normalize(FORMS[form], text)


def _read(c, src: int, n: int) -> bytes:
    if n < 0:
        m = 0
        while c.read(src + 2 * m, 2) != b"\0\0":
            m += 1
        n = m + 1
    return c.read(src, 2 * n)


def _signed(v: int) -> int:
    v &= 0xFFFFFFFF
    return v - (1 << 32) if v & 0x80000000 else v


@api(NT, "NTSTATUS NTAPI RtlNormalizeString(ULONG form, LPCWSTR_RAW src, INT src_len, LPWSTR_RAW dst, INT *dst_len)")
def RtlNormalizeString(c, form, src, n, dst, pdst):
    if form == 0:
        return STATUS_INVALID_PARAMETER
    if form not in FORMS:
        return STATUS_OBJECT_NAME_NOT_FOUND
    if not src or not pdst:
        return STATUS_INVALID_PARAMETER
    raw = _read(c, src, _signed(n))
    have = _signed(c.u32(pdst))
    if have == 0:
        c.write_u32(pdst, estimate(form, len(raw) // 2))
        return 0
    try:
        out = normalize(form, decode_units(raw)).encode("utf-16-le", "surrogatepass")
    except InvalidSequence as e:
        start = getattr(e, "start", None)
        if start is not None and valid_prefix_length(form, raw, start) > have:
            # the text before the bad sequence does not fit: the buffer is reported first, with the size of
            # the whole (Windows' own figure is a larger estimate)
            c.write_u32(pdst, estimate(form, len(raw) // 2))
            return STATUS_BUFFER_TOO_SMALL
        c.write_u32(pdst, e.pos + 1)
        return STATUS_NO_UNICODE_TRANSLATION
    c.write_u32(pdst, len(out) // 2)
    if len(out) // 2 > have:
        return STATUS_BUFFER_TOO_SMALL
    c.write(dst, out)
    return 0


@api(NT, "NTSTATUS NTAPI RtlIsNormalizedString(ULONG form, LPCWSTR_RAW str, INT len, BOOLEAN *res)")
def RtlIsNormalizedString(c, form, s, n, pres):
    if form == 0:
        return STATUS_INVALID_PARAMETER
    if form not in FORMS:
        return STATUS_OBJECT_NAME_NOT_FOUND
    if not s or not pres:
        return STATUS_INVALID_PARAMETER
    try:
        text = decode_units(_read(c, s, _signed(n)))
        ok = normalize(form, text) == text
    except InvalidSequence:
        return STATUS_NO_UNICODE_TRANSLATION
    c.write(pres, bytes([1 if ok else 0]))
    return 0
