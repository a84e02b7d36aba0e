"""kernel32 / kernelbase IdnToNameprepUnicode, IdnToAscii, IdnToUnicode: internationalized domain names
(RFC 3490 IDNA with RFC 3491 nameprep and RFC 3492 Punycode), over Python's stringprep tables and punycode codec.

A name is split into labels at the full stops (U+002E, U+3002, U+FF0E, U+FF61); a name of ASCII only is not
nameprepped (kept as it is, case included), otherwise every label is: the characters mapped to nothing removed,
case folded (stringprep B.2), NFKC, then the prohibited characters (RFC 3491 section 5) and the bidi rule
checked. A character unassigned in the current Unicode (not Unicode 3.2: Windows 10's tables are newer) fails
unless IDN_ALLOW_UNASSIGNED. An empty label (but a final one), a label longer than 63 characters, and with
IDN_USE_STD3_ASCII_RULES an ASCII label with other than letters, digits and hyphens or with a leading or trailing
hyphen fail with ERROR_INVALID_NAME. The counts include a NUL the source includes (cchUnicodeChar -1).
"""
from __future__ import annotations

import stringprep
import unicodedata

from winhatch.ntstatus import ERROR_INSUFFICIENT_BUFFER, ERROR_INVALID_FLAGS, ERROR_INVALID_PARAMETER
from winhatch.win32.api import api
from winhatch.win32.kernel32.common import K32, signed32

IDN_ALLOW_UNASSIGNED, IDN_USE_STD3_ASCII_RULES = 0x1, 0x2
ERROR_INVALID_NAME = 123
_DOTS = "\u3002\uff0e\uff61"
_PROHIBITED = (stringprep.in_table_c12, stringprep.in_table_c22, stringprep.in_table_c3, stringprep.in_table_c4,
               stringprep.in_table_c5, stringprep.in_table_c6, stringprep.in_table_c7, stringprep.in_table_c8,
               stringprep.in_table_c9)


class IdnError(Exception):
    pass


def nameprep(label: str, flags: int) -> str:
    out = []
    for ch in label:
        if stringprep.in_table_b1(ch):
            continue
        out.append(stringprep.map_table_b2(ch))
    text = unicodedata.normalize("NFKC", "".join(out))
    for ch in text:
        if any(t(ch) for t in _PROHIBITED):
            raise IdnError(ch)
        if not flags & IDN_ALLOW_UNASSIGNED and unicodedata.category(ch) == "Cn":
            raise IdnError(ch)
    if any(stringprep.in_table_d1(ch) for ch in text):      # RFC 3454 section 6: a right-to-left label
        if any(stringprep.in_table_d2(ch) for ch in text) or not (stringprep.in_table_d1(text[0])
                                                                  and stringprep.in_table_d1(text[-1])):
            raise IdnError(text)
    return text


def _labels(name: str) -> list[str]:
    for d in _DOTS:
        name = name.replace(d, ".")
    return name.split(".")


def _check_labels(labels: list[str], flags: int, limit: bool = True) -> None:
    for i, label in enumerate(labels):
        if not label and i != len(labels) - 1:
            raise IdnError("empty label")
        if limit and len(label) > 63:
            raise IdnError("label too long")
        if flags & IDN_USE_STD3_ASCII_RULES and label:
            if label[0] == "-" or label[-1] == "-" or not all(ch.isascii() and (ch.isalnum() or ch == "-")
                                                             for ch in label):
                raise IdnError("STD3")


def to_nameprep(name: str, flags: int) -> str:
    if "\0" in name:
        raise IdnError("NUL")
    if name.isascii():
        _check_labels(_labels(name), flags)
        return name
    labels = [nameprep(x, flags) for x in _labels(name)]
    _check_labels(labels, flags)
    return ".".join(labels)


def _ascii_label(label: str, flags: int) -> str:
    if not label.isascii():
        label = "xn--" + label.encode("punycode").decode("ascii")
    _check_labels([label], flags & ~IDN_USE_STD3_ASCII_RULES)
    return label


def to_ascii(name: str, flags: int) -> str:
    if "\0" in name:
        raise IdnError("NUL")
    if name.isascii():
        _check_labels(_labels(name), flags)
        return name
    labels = [nameprep(x, flags) for x in _labels(name)]
    _check_labels(labels, flags, limit=False)
    return ".".join(_ascii_label(x, flags) for x in labels)


def to_unicode(name: str, flags: int) -> str:
    if not name.isascii() or "\0" in name:
        raise IdnError("not ASCII")
    labels = _labels(name)
    _check_labels(labels, flags)
    out = []
    for label in labels:
        if label[:4].lower() == "xn--":
            try:
                u = label[4:].encode("ascii").decode("punycode")
            except (UnicodeError, ValueError) as e:
                raise IdnError(str(e)) from None
            if nameprep(u, flags) != u or _ascii_label(u, flags).lower() != label.lower():
                raise IdnError("not a round trip")
            label = u
        out.append(label)
    return ".".join(out)


def _idn(c, flags, src, n, dst, m, convert) -> int:
    from winhatch.win32.kernel32.codepages import _read_utf16, _wcslen
    n, m = signed32(n), signed32(m)
    if flags & ~(IDN_ALLOW_UNASSIGNED | IDN_USE_STD3_ASCII_RULES):
        c.set_last_error(ERROR_INVALID_FLAGS)
        return 0
    if not src or n < -1 or m < 0 or (m and not dst):
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    if n == 0:
        c.set_last_error(ERROR_INVALID_NAME)
        return 0
    count = _wcslen(c, src) + 1 if n == -1 else n
    text = _read_utf16(c, src, count)
    nul = text.endswith("\0")
    if text in ("", "\0") and convert is not to_unicode:   # no label (IdnToUnicode and RtlNormalizeString take it)
        c.set_last_error(ERROR_INVALID_NAME)
        return 0
    try:
        out = convert(text[:-1] if nul else text, flags)
    except IdnError:
        c.set_last_error(ERROR_INVALID_NAME)
        return 0
    data = (out + ("\0" if nul else "")).encode("utf-16-le", "surrogatepass")
    size = len(data) // 2
    if m == 0:
        return size
    if size > m:
        c.set_last_error(ERROR_INSUFFICIENT_BUFFER)
        return 0
    c.write(dst, data)
    return size


@api(K32, "int WINAPI IdnToNameprepUnicode(DWORD dwFlags, LPCWSTR_RAW lpUnicodeCharStr, int cchUnicodeChar, "
          "LPWSTR lpNameprepCharStr, int cchNameprepChar)")
def IdnToNameprepUnicode(c, flags, src, n, dst, m):
    return _idn(c, flags, src, n, dst, m, to_nameprep)


@api(K32, "int WINAPI IdnToAscii(DWORD dwFlags, LPCWSTR_RAW lpUnicodeCharStr, int cchUnicodeChar, "
          "LPWSTR lpASCIICharStr, int cchASCIIChar)")
def IdnToAscii(c, flags, src, n, dst, m):
    return _idn(c, flags, src, n, dst, m, to_ascii)


@api(K32, "int WINAPI IdnToUnicode(DWORD dwFlags, LPCWSTR_RAW lpASCIICharStr, int cchASCIIChar, "
          "LPWSTR lpUnicodeCharStr, int cchUnicodeChar)")
def IdnToUnicode(c, flags, src, n, dst, m):
    return _idn(c, flags, src, n, dst, m, to_unicode)
