"""kernel32 / kernelbase FoldStringA/W: the documented MAP_* transformations, from the Unicode Character Database
(Python's unicodedata), not from a copied table.

    MAP_FOLDCZONE          the compatibility characters folded into their standard equivalents (NFKC)
    MAP_PRECOMPOSED        accented characters as one precomposed character (NFC)
    MAP_COMPOSITE          accented characters as the base letter and its combining marks (NFD)
    MAP_FOLDDIGITS         every digit (Unicode's digit property, plus the ideographic zero, the Hangzhou numerals
                           and the Telugu fraction digits, which Windows folds too) as an ASCII digit
    MAP_EXPAND_LIGATURES   the ligatures and digraphs (Microsoft's example: "\u00e6" as "ae") as their letters

A noncharacter (U+FDD0..U+FDEF, U+FFFE, U+FFFF) cannot be normalized: the three normalizing maps fail with
ERROR_NO_UNICODE_TRANSLATION, as NormalizeString does. The A form converts from and to the ANSI code page.
"""
from __future__ import annotations

import unicodedata

from winhatch.ntstatus import ERROR_INVALID_FLAGS, ERROR_INVALID_PARAMETER
from winhatch.win32.api import api
from winhatch.win32.kernel32.codepages import put_units
from winhatch.win32.kernel32.common import K32, signed32

MAP_FOLDCZONE, MAP_PRECOMPOSED, MAP_COMPOSITE, MAP_FOLDDIGITS = 0x10, 0x20, 0x40, 0x80
MAP_EXPAND_LIGATURES = 0x2000
_ALL = MAP_FOLDCZONE | MAP_PRECOMPOSED | MAP_COMPOSITE | MAP_FOLDDIGITS | MAP_EXPAND_LIGATURES
ERROR_NO_UNICODE_TRANSLATION = 1113

#: the digits Windows folds that Unicode gives no digit value: the ideographic number zero, the Hangzhou
#: numerals one to nine, the Telugu fraction digits, the Aegean numbers one to nine and the Old Italic numerals
#: one and five (Wine's locale test, test_FoldStringW's digit ranges)
_EXTRA_DIGITS = {0x3007: 0, **{0x3021 + i: i + 1 for i in range(9)},
                 **{0x0C78 + i: i for i in range(4)}, **{0x0C7C + i: i + 1 for i in range(3)},
                 **{0x10107 + i: i + 1 for i in range(9)}, 0x10320: 1, 0x10321: 5}
#: the ligatures and digraphs MAP_EXPAND_LIGATURES expands: those without a compatibility decomposition with their
#: letters, the others (U+0132, U+01C4.., U+FB00..) by their decomposition
_LIGATURES = {"\u00c6": "AE", "\u00de": "TH", "\u00df": "ss", "\u00e6": "ae", "\u00fe": "th", "\u0152": "OE",
              "\u0153": "oe", "\u01e2": "\u0100\u0112", "\u01e3": "\u0101\u0113", "\u01fc": "\u00c1\u00c9",
              "\u01fd": "\u00e1\u00e9", "\u05f0": "\u05d5\u05d5", "\u05f1": "\u05d5\u05d9", "\u05f2": "\u05d9\u05d9"}
for _o in (0x0132, 0x0133, *range(0x01C4, 0x01CD), 0x01F1, 0x01F2, 0x01F3, *range(0xFB00, 0xFB07)):
    _LIGATURES[chr(_o)] = "".join(chr(int(x, 16)) for x in unicodedata.decomposition(chr(_o)).split()[1:])


def _noncharacter(ch: str) -> bool:
    o = ord(ch)
    return 0xFDD0 <= o <= 0xFDEF or (o & 0xFFFE) == 0xFFFE


def fold_digit(ch: str) -> str:
    d = unicodedata.digit(ch, None)
    if d is None:
        d = _EXTRA_DIGITS.get(ord(ch))
    return ch if d is None else chr(0x30 + d)


def fold(text: str, flags: int) -> str | None:
    """The folded text; None when a noncharacter stops a normalizing map."""
    if flags & (MAP_FOLDCZONE | MAP_PRECOMPOSED | MAP_COMPOSITE) and any(map(_noncharacter, text)):
        return None
    if flags & MAP_FOLDDIGITS:
        text = "".join(map(fold_digit, text))
    if flags & MAP_EXPAND_LIGATURES:
        text = "".join(_LIGATURES.get(ch, ch) for ch in text)
    if flags & MAP_FOLDCZONE:
        text = unicodedata.normalize("NFKC" if not flags & MAP_COMPOSITE else "NFKD", text)
    if flags & MAP_COMPOSITE:
        text = unicodedata.normalize("NFD", text)
    elif flags & MAP_PRECOMPOSED:
        text = unicodedata.normalize("NFC", text)
    return text


def _check(c, flags, src, n, dst, m) -> bool:
    n, m = signed32(n), signed32(m)
    if not flags or flags & ~_ALL or (flags & MAP_PRECOMPOSED and flags & (MAP_COMPOSITE | MAP_EXPAND_LIGATURES)) \
            or (flags & MAP_COMPOSITE and flags & MAP_EXPAND_LIGATURES):
        c.set_last_error(ERROR_INVALID_FLAGS)
        return False
    if not src or n == 0 or m < 0 or (m and not dst) or (src == dst and m):
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return False
    return True


def _put(c, out: bytes, unit: int, dst: int, m: int) -> int:
    return put_units(c, out, unit, dst, signed32(m))


@api(K32, "int WINAPI FoldStringW(DWORD dwMapFlags, LPCWCH lpSrcStr, int cchSrc, LPWSTR lpDestStr, int cchDest)")
def FoldStringW(c, flags, src, n, dst, m):
    if not _check(c, flags, src, n, dst, m):
        return 0
    from winhatch.win32.kernel32.codepages import _read_utf16, _wcslen
    n = signed32(n)
    count = _wcslen(c, src) + 1 if n < 0 else n          # -1: the string and its NUL
    text = fold(_read_utf16(c, src, count), flags)
    if text is None:
        c.set_last_error(ERROR_NO_UNICODE_TRANSLATION)
        return 0
    return _put(c, text.encode("utf-16-le", "surrogatepass"), 2, dst, m)


@api(K32, "int WINAPI FoldStringA(DWORD dwMapFlags, LPCSTR_RAW lpSrcStr, int cchSrc, LPSTR lpDestStr, int cchDest)")
def FoldStringA(c, flags, src, n, dst, m):
    if not _check(c, flags, src, n, dst, m):
        return 0
    from winhatch.win32.kernel32.codepages import acp, decode, encode
    n = signed32(n)
    data = c.cstr(src) + b"\0" if n < 0 else c.read(src, n)
    text = fold(decode(data, acp(c)), flags)
    if text is None:
        c.set_last_error(ERROR_NO_UNICODE_TRANSLATION)
        return 0
    return _put(c, encode(text, acp(c))[0], 1, dst, m)
