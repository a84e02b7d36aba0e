"""kernel32 / kernelbase: finding a string in another — FindNLSString(Ex), linguistically (a substring of the
source that CompareString with the same flags finds equal to the value: canonically equivalent sequences of a
letter and its diacritics match whatever the order of the marks), and FindStringOrdinal, code unit by code unit
(with bIgnoreCase each unit's simple upper case, as CompareStringOrdinal).

The position flags: FIND_FROMSTART the first match, FIND_FROMEND the last, FIND_STARTSWITH / FIND_ENDSWITH a
match at the start / at the end of the source. FindNLSString returns the match's start and writes its length
(pcchFound, which may differ from the value's: "\u1e69" matches "s\u0323\u0307"); no match is -1. Errors return
-1 with ERROR_INVALID_PARAMETER (an invalid locale, a NULL string, a count below -1) or ERROR_INVALID_FLAGS."""
from __future__ import annotations

import unicodedata

from winhatch.ntstatus import ERROR_INVALID_FLAGS, ERROR_INVALID_PARAMETER
from winhatch.win32.api import api
from winhatch.win32.kernel32 import codepages as cp
from winhatch.win32.kernel32.common import K32, signed32

FIND_STARTSWITH, FIND_ENDSWITH, FIND_FROMSTART, FIND_FROMEND = 0x100000, 0x200000, 0x400000, 0x800000
_FIND_FLAGS = FIND_STARTSWITH | FIND_ENDSWITH | FIND_FROMSTART | FIND_FROMEND
#: the comparison flags FindNLSString takes with a position flag (CompareString's but SORT_DIGITSASNUMBERS)
_FIND_CMP_FLAGS = (cp.NORM_IGNORECASE | cp.NORM_IGNORENONSPACE | cp.NORM_IGNORESYMBOLS | cp.LINGUISTIC_IGNORECASE
                   | cp.LINGUISTIC_IGNOREDIACRITIC | cp.NORM_IGNOREKANATYPE | cp.NORM_IGNOREWIDTH
                   | cp.NORM_LINGUISTIC_CASING | cp.SORT_STRINGSORT)
#: the longest source searched (the search compares the substrings of the source whose collation elements are
#: no more than the value's: a bound on the work a guest's string can ask for; a longer one stops loudly)
MAX_SOURCE = 4096


def _key(text: str, flags: int, turkic: bool):
    elems, special = cp._sort_elements(unicodedata.normalize("NFD", text), flags, turkic)
    return ([e[0] for e in elems], [e[1] for e in elems], [e[2] for e in elems], cp._kana_extra(elems, 0),
            cp._kana_extra(elems, 1), special)


def find_nls(src: str, value: str, flags: int, turkic: bool) -> tuple[int, int]:
    """(start, length) of the match the position flag asks for, (-1, 0) when there is none."""
    cmp_flags = flags & _FIND_CMP_FLAGS
    want = _key(value, cmp_flags, turkic)
    n = len(src)
    limit = len(want[0])

    def match(i: int, j: int) -> bool:
        return _key(src[i:j], cmp_flags, turkic) == want

    def elements(i: int, j: int) -> int:
        return len(cp._sort_elements(unicodedata.normalize("NFD", src[i:j]), cmp_flags, turkic)[0])

    pos = flags & _FIND_FLAGS
    if pos == FIND_STARTSWITH:
        for j in range(0, n + 1):
            if match(0, j):
                return 0, j
            if elements(0, j) > limit:
                break
        return -1, 0
    if pos == FIND_ENDSWITH:
        for i in range(n, -1, -1):
            if match(i, n):
                return i, n - i
            if elements(i, n) > limit:
                break
        return -1, 0
    if pos == FIND_FROMEND:
        for j in range(n, -1, -1):
            for i in range(j, -1, -1):
                if match(i, j):
                    return i, j - i
                if elements(i, j) > limit:
                    break
        return -1, 0
    for i in range(0, n + 1):                 # FIND_FROMSTART
        for j in range(i, n + 1):
            if match(i, j):
                return i, j - i
            if elements(i, j) > limit:
                break
    return -1, 0


def _find_nls(c, loc, flags, src, n, val, m, pfound) -> int:
    n, m = signed32(n), signed32(m)
    if loc is None or not src or not val or n < -1 or m < -1:
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return -1
    pos = flags & _FIND_FLAGS
    if flags & ~(_FIND_FLAGS | _FIND_CMP_FLAGS) or (pos and pos & (pos - 1)):
        c.set_last_error(ERROR_INVALID_FLAGS)      # an unknown flag, or two position flags
        return -1
    if not pos:
        flags |= FIND_FROMSTART
    source = cp._read_t(c, src, n, True)
    if len(source) > MAX_SOURCE:
        from winhatch.win32.msvcrt.runtime import not_implemented
        not_implemented(c, f"FindNLSString over {len(source)} characters (winhatch searches at most {MAX_SOURCE})")
    value = cp._read_t(c, val, m, True)
    start, length = find_nls(source, value, flags, cp.is_turkic(loc))
    if start >= 0 and pfound:
        c.write_u32(pfound, length)
    return start


@api(K32, "int WINAPI FindNLSString(LCID Locale, DWORD dwFindNLSStringFlags, LPCWSTR_RAW lpStringSource, "
          "int cchSource, LPCWSTR_RAW lpStringValue, int cchValue, LPINT pcchFound)")
def FindNLSString(c, lcid, flags, src, n, val, m, pfound):
    return _find_nls(c, cp._lcid_locale(c, lcid), flags, src, n, val, m, pfound)


@api(K32, "int WINAPI FindNLSStringEx(LPCWSTR_RAW lpLocaleName, DWORD dwFindNLSStringFlags, "
          "LPCWSTR_RAW lpStringSource, int cchSource, LPCWSTR_RAW lpStringValue, int cchValue, LPINT pcchFound, "
          "LPVOID lpVersionInformation, LPVOID lpReserved, LPARAM sortHandle)")
def FindNLSStringEx(c, name, flags, src, n, val, m, pfound, ver, res, handle):
    return _find_nls(c, cp._name_locale(c, name), flags, src, n, val, m, pfound)


@api(K32, "int WINAPI FindStringOrdinal(DWORD dwFindStringOrdinalFlags, LPCWSTR_RAW lpStringSource, int cchSource, "
          "LPCWSTR_RAW lpStringValue, int cchValue, BOOL bIgnoreCase)")
def FindStringOrdinal(c, flags, src, n, val, m, ignore):
    """The index of the value in the source, -1 when it is not there; success (found or not) sets ERROR_SUCCESS.
    An empty value is found at 0."""
    if flags not in (FIND_STARTSWITH, FIND_ENDSWITH, FIND_FROMSTART, FIND_FROMEND):
        c.set_last_error(ERROR_INVALID_FLAGS)
        return -1
    n, m = signed32(n), signed32(m)
    if not src or not val or n < -1 or m < -1:
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return -1
    a = cp._read_t(c, src, n, True).encode("utf-16-le", "surrogatepass")
    b = cp._read_t(c, val, m, True).encode("utf-16-le", "surrogatepass")
    units_a = [int.from_bytes(a[k:k + 2], "little") for k in range(0, len(a), 2)]
    units_b = [int.from_bytes(b[k:k + 2], "little") for k in range(0, len(b), 2)]
    if ignore:
        from winhatch.kernel.ex.nls_files import upcase_unit
        units_a, units_b = [upcase_unit(u) for u in units_a], [upcase_unit(u) for u in units_b]
    la, lb = len(units_a), len(units_b)
    starts = {FIND_STARTSWITH: [0], FIND_ENDSWITH: [la - lb], FIND_FROMSTART: range(0, la - lb + 1),
              FIND_FROMEND: range(la - lb, -1, -1)}[flags]
    found = -1
    for i in starts:
        if 0 <= i <= la - lb and units_a[i:i + lb] == units_b:
            found = i
            break
    c.set_last_error(0)
    return found
