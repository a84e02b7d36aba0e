"""kernel32 / kernelbase NormalizeString and IsNormalizedString over ntdll's normalization (rtl_normalize):
the length (with the NUL of a -1 source), Windows' size estimate for a zero-sized destination, a negative count
with ERROR_INSUFFICIENT_BUFFER for a short one, ERROR_NO_UNICODE_TRANSLATION (a negative position) for a lone
surrogate, ERROR_INVALID_PARAMETER for an unknown form. Success sets ERROR_SUCCESS."""
from __future__ import annotations

from winhatch.ntstatus import ERROR_INSUFFICIENT_BUFFER, ERROR_INVALID_PARAMETER
from winhatch.win32.api import api
from winhatch.win32.kernel32.common import K32, signed32
from winhatch.win32.ntdll import rtl_normalize as rn

ERROR_NO_UNICODE_TRANSLATION = 1113


@api(K32, "int WINAPI NormalizeString(NORM_FORM NormForm, LPCWSTR_RAW lpSrcString, int cwSrcLength, "
          "LPWSTR_RAW lpDstString, int cwDstLength)")
def NormalizeString(c, form, src, n, dst, m):
    n, m = signed32(n), signed32(m)
    if form not in rn.FORMS or not src or n < -1 or m < 0 or (m and not dst):
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    raw = rn._read(c, src, n)
    count = len(raw) // 2
    if m == 0:
        c.set_last_error(0)
        return rn.estimate(form, count)
    try:
        out = rn.normalize(form, rn.decode_units(raw)).encode("utf-16-le", "surrogatepass")
    except rn.InvalidSequence as e:
        start = getattr(e, "start", None)
        if start is not None and rn.valid_prefix_length(form, raw, start) > m:
            # the text before the bad sequence does not fit: the buffer is reported first
            c.set_last_error(ERROR_INSUFFICIENT_BUFFER)
            return -rn.estimate(form, count)
        c.set_last_error(ERROR_NO_UNICODE_TRANSLATION)
        return -(e.pos + 1)
    if len(out) // 2 > m:
        c.set_last_error(ERROR_INSUFFICIENT_BUFFER)
        return -(len(out) // 2)
    c.write(dst, out)
    c.set_last_error(0)
    return len(out) // 2


@api(K32, "BOOL WINAPI IsNormalizedString(NORM_FORM NormForm, LPCWSTR_RAW lpString, int cwLength)")
def IsNormalizedString(c, form, s, n):
    n = signed32(n)
    if form not in rn.FORMS or not s or n < -1:
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    try:
        text = rn.decode_units(rn._read(c, s, n))
    except rn.InvalidSequence:
        c.set_last_error(ERROR_NO_UNICODE_TRANSLATION)
        return 0
    c.set_last_error(0)
    return 1 if rn.normalize(form, text) == text else 0
