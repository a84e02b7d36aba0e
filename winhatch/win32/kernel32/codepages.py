"""kernel32 / kernelbase: code pages (ANSI 1252, OEM 437, UTF-8 and what Python can decode), the string
conversions between them and UTF-16, character classification and the basic locale string functions.

Windows 1252 maps its five undefined bytes (0x81 0x8D 0x8F 0x90 0x9D) to the C1 controls of the same
value; UTF-8 decoding replaces each invalid sequence with U+FFFD unless MB_ERR_INVALID_CHARS asks for
ERROR_NO_UNICODE_TRANSLATION; WideCharToMultiByte to a single-byte code page uses a best fit (the base
letter of an accented character) before the default character, as Windows does without
WC_NO_BEST_FIT_CHARS.
"""
from __future__ import annotations

import struct
import unicodedata

from winhatch.kernel.ex.nls_files import best_fit as _best_fit   # shared with the code page files
from winhatch.ntstatus import ERROR_INSUFFICIENT_BUFFER, ERROR_INVALID_FLAGS, ERROR_INVALID_PARAMETER
from winhatch.win32.api import api

from winhatch.win32.kernel32.common import K32, signed32

ACP, OEMCP = 1252, 437
CP_ACP, CP_OEMCP, CP_MACCP, CP_THREAD_ACP, CP_UTF7, CP_UTF8 = 0, 1, 2, 3, 65000, 65001
MB_PRECOMPOSED, MB_COMPOSITE, MB_USEGLYPHCHARS, MB_ERR_INVALID_CHARS = 1, 2, 4, 8
WC_COMPOSITECHECK, WC_DISCARDNS, WC_SEPCHARS, WC_DEFAULTCHAR = 0x200, 0x10, 0x20, 0x40
WC_ERR_INVALID_CHARS, WC_NO_BEST_FIT_CHARS = 0x80, 0x400
ERROR_NO_UNICODE_TRANSLATION = 1113
VALID_CODE_PAGES = {37, 437, 500, 708, 720, 737, 775, 850, 852, 855, 857, 858, 860, 861, 862, 863, 864, 865, 866,
                    869, 874, 875, 932, 936, 949, 950, 1026, 1140, 1250, 1251, 1252, 1253, 1254, 1255, 1256,
                    1257, 1258, 10000, 20127, 28591, 28592, 28593, 28594, 28595, 28596, 28597, 28598, 28599,
                    28603, 28605, 65000, 65001}
CP_NAMES = {1252: "1252  (ANSI - Latin I)", 437: "437   (OEM - United States)", 65001: "65001 (UTF-8)",
            65000: "65000 (UTF-7)", 850: "850   (OEM - Multilingual Latin I)", 1250: "1250  (ANSI - Central Europe)",
            1251: "1251  (ANSI - Cyrillic)", 20127: "20127 (US-ASCII)", 28591: "28591 (ISO 8859-1 Latin I)"}
_DBCS = {932, 936, 949, 950}


def resolve_cp(cp: int, c=None) -> int:
    """A code page identifier with CP_ACP/CP_THREAD_ACP, CP_OEMCP and CP_MACCP made the system locale's (the
    profile's [locale] system_locale, machine.nls) — 1252/437/10000 without a call context."""
    if cp in (CP_ACP, CP_THREAD_ACP, CP_OEMCP, CP_MACCP):
        nls = getattr(getattr(c, "machine", None), "nls", None)
        if cp == CP_THREAD_ACP and nls is not None:
            # the thread locale's ANSI code page (TEB.CurrentLocale); a Unicode-only locale's is the ACP
            from winhatch.kernel.ex.nls import BY_LCID
            from winhatch.win32.kernel32.procenv import _teb_u32
            info = BY_LCID.get(_teb_u32(c, "CurrentLocale") & 0xFFFF)
            if info is not None and info.acp:
                return info.acp
        if cp == CP_OEMCP:
            return nls.oemcp if nls else OEMCP
        if cp == CP_MACCP:
            return nls.maccp if nls else 10000
        return nls.acp if nls else ACP
    return cp


def acp(c) -> int:
    """The machine's ANSI code page (its system locale's, machine.nls)."""
    return resolve_cp(CP_ACP, c)


def oemcp(c) -> int:
    return resolve_cp(CP_OEMCP, c)


def _codec(cp: int) -> str:
    """Python's codec of a Windows code page (EBCDIC 37 is "cp037": three digits at least)."""
    return {65001: "utf-8", 65000: "utf-7", 20127: "ascii", 28591: "latin-1", 10000: "mac_roman"}.get(
        cp, f"iso8859-{cp - 28590}" if 28591 < cp < 28606 else f"cp{cp:03d}")


_SBCS_TABLES: dict[int, str] = {}
#: the bytes a single-byte code page leaves undefined (MB_ERR_INVALID_CHARS: ERROR_NO_UNICODE_TRANSLATION);
#: Windows 1252 defines its five holes as the C1 controls of the same value
_SBCS_UNDEFINED: dict[int, frozenset[int]] = {}


def require_table(c, cp: int) -> None:
    """A valid code page winhatch has no conversion table for (ASMO 708) stops the program loudly."""
    import codecs
    if cp in (CP_UTF7, CP_UTF8):
        return
    try:
        codecs.lookup(_codec(cp))
    except LookupError:
        from winhatch.win32.msvcrt.runtime import not_implemented
        not_implemented(c, f"conversions of code page {cp}")


def _sbcs_table(cp: int) -> str | None:
    t = _SBCS_TABLES.get(cp)
    if t is None and cp not in _DBCS and cp not in (65000, 65001):
        chars, undefined = [], set()
        try:
            for b in range(256):
                try:
                    chars.append(bytes([b]).decode(_codec(cp)))
                except UnicodeDecodeError:
                    chars.append(chr(b))  # an undefined byte maps to the code point of the same value
                    undefined.add(b)
        except LookupError:
            return None
        _SBCS_UNDEFINED[cp] = frozenset() if cp == 1252 else frozenset(undefined)
        t = _SBCS_TABLES[cp] = "".join(chars)
    return t


# ============================================================================================ UTF-7
# UTF-7 (RFC 2152) as Windows converts it. Encoding: the directly encoded characters are NUL, TAB, LF, CR, space
# and RFC 2152's set D ( ' ( ) , - . / 0-9 : ? A-Z a-z ); "+" is "+-"; every other UTF-16 unit goes into a
# base64 run "+...-" that always ends with "-" and ends before any directly encoded character. Decoding: bytes
# outside a run are taken as they are (a byte >= 0x80 is U+0080..U+00FF); "+-" is "+"; a run accumulates 6 bits
# per base64 character and yields a unit per 16 bits; it ends at the first non-base64 byte: "-" is consumed and
# the unfinished bits dropped, another ASCII byte drops them too, a byte >= 0x80 keeps them for the next run.
_B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_B64_VALUE = {ord(ch): i for i, ch in enumerate(_B64)}
_UTF7_DIRECT = frozenset(b"\0\t\n\r '(),-./0123456789:?ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")


def utf7_encode_tokens(units: list[int]) -> list[bytes]:
    """The output as the pieces Windows writes whole: a directly encoded byte, "+", each complete base64
    character, and the last partial base64 character together with the closing "-"."""
    out: list[bytes] = []
    i, n = 0, len(units)
    while i < n:
        u = units[i]
        if u < 0x80 and u in _UTF7_DIRECT:
            out.append(bytes((u,)))
            i += 1
            continue
        if u == 0x2B:
            out += [b"+", b"-"]
            i += 1
            continue
        out.append(b"+")
        bits = nbits = 0
        while i < n and not (units[i] < 0x80 and (units[i] in _UTF7_DIRECT or units[i] == 0x2B)):
            bits = (bits << 16) | units[i]
            nbits += 16
            i += 1
            while nbits >= 6:
                nbits -= 6
                out.append(_B64[(bits >> nbits) & 0x3F].encode())
            bits &= (1 << nbits) - 1
        out.append((_B64[(bits << (6 - nbits)) & 0x3F] + "-").encode() if nbits else b"-")
    return out


def utf7_decode_units(data: bytes) -> list[int]:
    out: list[int] = []
    i, n = 0, len(data)
    bits = nbits = 0
    while i < n:
        b = data[i]
        if b != 0x2B:
            out.append(b)
            i += 1
            continue
        i += 1
        if i < n and data[i] == 0x2D:
            out.append(0x2B)
            i += 1
            continue
        while i < n and data[i] in _B64_VALUE:
            bits = (bits << 6) | _B64_VALUE[data[i]]
            nbits += 6
            i += 1
            if nbits >= 16:
                nbits -= 16
                out.append((bits >> nbits) & 0xFFFF)
                bits &= (1 << nbits) - 1
        if i < n and data[i] < 0x80:
            bits = nbits = 0
            if data[i] == 0x2D:
                i += 1
    return out


def decode(data: bytes, cp: int, *, strict: bool = False) -> str | None:
    """Bytes → text; None when `strict` and the bytes are invalid in the code page."""
    cp = resolve_cp(cp)
    if cp == CP_UTF7:
        return b"".join(struct.pack("<H", u) for u in utf7_decode_units(data)).decode("utf-16-le", "surrogatepass")
    table = _sbcs_table(cp)
    if table is not None:
        if strict and _SBCS_UNDEFINED.get(cp) and any(b in _SBCS_UNDEFINED[cp] for b in data):
            return None
        return "".join(table[b] for b in data)
    try:
        text = data.decode(_codec(cp), "strict" if strict else "replace")
    except UnicodeDecodeError:
        return None
    if strict and cp == 932 and any("\uf8f1" <= ch <= "\uf8f3" for ch in text):
        return None     # 0xFD-0xFF are not characters of Windows 932 (Python maps them to private use)
    if not strict and cp in _DBCS and "\ufffd" in text:
        text = text.replace("\ufffd", chr(_cpinfo(cp)[3]))    # an invalid sequence: the code page's default
    return text


_REV: dict[int, dict[str, int]] = {}


def encode(text: str, cp: int, *, default: bytes | None = None, best_fit: bool = True,
           strict: bool = False) -> tuple[bytes | None, bool]:
    """Text → bytes: (bytes, used the default character). bytes is None when `strict` and a character
    (a lone surrogate in UTF-8) cannot be converted."""
    cp = resolve_cp(cp)
    if cp == CP_UTF7:
        units = struct.unpack(f"<{len(text.encode('utf-16-le', 'surrogatepass')) // 2}H",
                              text.encode("utf-16-le", "surrogatepass"))
        return b"".join(utf7_encode_tokens(list(units))), False
    table = _sbcs_table(cp)
    if table is not None:
        rev = _REV.get(cp)
        if rev is None:
            rev = _REV[cp] = {}
            for i, ch in enumerate(table):
                rev.setdefault(ch, i)
        out = bytearray()
        used = False
        dflt = default if default else b"?"
        for ch in text:
            b = rev.get(ch)
            if b is None and best_fit:
                b = _best_fit(ch, rev)
            if b is None:
                out += dflt[:1]
                used = True
            else:
                out.append(b)
        return bytes(out), used
    if cp == CP_UTF8:
        try:
            return text.encode("utf-8", "strict" if strict else "surrogatepass"), False
        except UnicodeEncodeError:
            if strict:
                return None, False
            raise
    codec = _codec(cp)
    try:
        return text.encode(codec), False
    except UnicodeEncodeError:
        pass
    # character by character: what cannot be converted is the default character (a DBCS code page's may be
    # a double-byte one, lpDefaultChar's first two bytes)
    dflt = (default if default else b"?")[:2 if cp in _DBCS else 1]
    out = bytearray()
    for ch in text:
        try:
            out += ch.encode(codec)
        except UnicodeEncodeError:
            out += dflt
    return bytes(out), True


def _utf16_units(c, addr: int, n: int) -> str:
    return c.read(addr, 2 * n).decode("utf-16-le", "surrogatepass")


def _utf8_encode_lenient(text: str) -> bytes:
    """UTF-16 → UTF-8 with lone surrogates as U+FFFD (what Windows writes)."""
    out = []
    for ch in text:
        o = ord(ch)
        out.append("\ufffd" if 0xD800 <= o <= 0xDFFF else ch)
    return "".join(out).encode("utf-8")


def _read_utf16(c, src: int, n: int) -> str:
    """n UTF-16 units, surrogate pairs combined, lone surrogates kept as such."""
    raw = c.read(src, 2 * n)
    units = struct.unpack(f"<{n}H", raw)
    out = []
    i = 0
    while i < n:
        u = units[i]
        if 0xD800 <= u <= 0xDBFF and i + 1 < n and 0xDC00 <= units[i + 1] <= 0xDFFF:
            out.append(chr(0x10000 + ((u - 0xD800) << 10) + (units[i + 1] - 0xDC00)))
            i += 2
            continue
        out.append(chr(u))
        i += 1
    return "".join(out)


def _wcslen(c, addr: int) -> int:
    n = 0
    while True:
        chunk = c.read(addr + 2 * n, 256)
        for i in range(0, 256, 2):
            if chunk[i] == 0 and chunk[i + 1] == 0:
                return n + i // 2
        n += 128


@api(K32, "int WINAPI MultiByteToWideChar(UINT CodePage, DWORD dwFlags, LPCCH lpMultiByteStr, int cbMultiByte, "
          "LPWSTR lpWideCharStr, int cchWideChar)")
def MultiByteToWideChar(c, cp, flags, src, n, dst, cch):
    n, cch = signed32(n), signed32(cch)
    n = -1 if n < 0 else n            # any negative length is the NUL-terminated string's
    if not src or n == 0 or cch < 0 or (cch and not dst):
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    rcp = resolve_cp(cp, c)
    if rcp not in VALID_CODE_PAGES:
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    require_table(c, rcp)
    if rcp in (CP_UTF8, CP_UTF7):
        if flags & ~MB_ERR_INVALID_CHARS or (rcp == CP_UTF7 and flags):
            c.set_last_error(ERROR_INVALID_FLAGS)
            return 0
    elif flags & ~(MB_PRECOMPOSED | MB_COMPOSITE | MB_USEGLYPHCHARS | MB_ERR_INVALID_CHARS) or \
            (flags & MB_PRECOMPOSED and flags & MB_COMPOSITE):
        c.set_last_error(ERROR_INVALID_FLAGS)
        return 0
    data = c.cstr(src) + b"\0" if n == -1 else c.read(src, n)
    text = decode(data, rcp, strict=bool(flags & MB_ERR_INVALID_CHARS))
    if text is None:
        c.set_last_error(ERROR_NO_UNICODE_TRANSLATION)
        return 0
    out = text.encode("utf-16-le", "surrogatepass")
    units = len(out) // 2
    if cch == 0:
        return units
    if units > cch:
        c.write(dst, out[:2 * cch])
        c.set_last_error(ERROR_INSUFFICIENT_BUFFER)
        return 0
    c.write(dst, out)
    return units


@api(K32, "int WINAPI WideCharToMultiByte(UINT CodePage, DWORD dwFlags, LPCWCH lpWideCharStr, int cchWideChar, "
          "LPSTR lpMultiByteStr, int cbMultiByte, LPCCH lpDefaultChar, LPBOOL lpUsedDefaultChar)")
def WideCharToMultiByte(c, cp, flags, src, n, dst, cb, defchar, used):
    n, cb = signed32(n), signed32(cb)
    n = -1 if n < 0 else n            # any negative length is the NUL-terminated string's
    if not src or n == 0 or cb < 0 or (cb and not dst):
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    rcp = resolve_cp(cp, c)
    if rcp not in VALID_CODE_PAGES:
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    require_table(c, rcp)
    if rcp in (CP_UTF8, CP_UTF7):
        if defchar or used:
            c.set_last_error(ERROR_INVALID_PARAMETER)
            return 0
        if flags & ~WC_ERR_INVALID_CHARS or (rcp == CP_UTF7 and flags):
            c.set_last_error(ERROR_INVALID_FLAGS)
            return 0
    elif flags & ~(WC_COMPOSITECHECK | WC_DISCARDNS | WC_SEPCHARS | WC_DEFAULTCHAR | WC_NO_BEST_FIT_CHARS):
        c.set_last_error(ERROR_INVALID_FLAGS)
        return 0
    count = _wcslen(c, src) + 1 if n == -1 else n
    text = _read_utf16(c, src, count)
    used_default = False
    if rcp == CP_UTF7:
        raw = text.encode("utf-16-le", "surrogatepass")
        tokens = utf7_encode_tokens(list(struct.unpack(f"<{len(raw) // 2}H", raw)))
        total = sum(len(t) for t in tokens)
        if cb == 0:
            return total
        if total > cb:      # the pieces that fit whole, then ERROR_INSUFFICIENT_BUFFER
            part, room = bytearray(), cb
            for t in tokens:
                if len(t) > room:
                    break
                part += t
                room -= len(t)
            c.write(dst, bytes(part))
            c.set_last_error(ERROR_INSUFFICIENT_BUFFER)
            return 0
        c.write(dst, b"".join(tokens))
        return total
    if rcp == CP_UTF8:
        if flags & WC_ERR_INVALID_CHARS and any(0xD800 <= ord(ch) <= 0xDFFF for ch in text):
            c.set_last_error(ERROR_NO_UNICODE_TRANSLATION)
            return 0
        out = _utf8_encode_lenient(text)
    else:
        dflt = c.cstr(defchar) if defchar else None
        out, used_default = encode(text, rcp, default=dflt, best_fit=not flags & WC_NO_BEST_FIT_CHARS)
    if cb and len(out) > cb and used_default and rcp != CP_UTF8:
        # the buffer holds only a prefix: whether the default character was used is said of what was written
        fit, n_out = [], 0
        for ch in text:
            piece, _u = encode(ch, rcp, default=dflt, best_fit=not flags & WC_NO_BEST_FIT_CHARS)
            if n_out + len(piece) > cb:
                break
            fit.append(ch)
            n_out += len(piece)
        used_default = encode("".join(fit), rcp, default=dflt, best_fit=not flags & WC_NO_BEST_FIT_CHARS)[1] \
            if fit else False
    if used:
        c.write_u32(used, 1 if used_default else 0)
    if cb == 0:
        return len(out)
    if len(out) > cb:
        c.write(dst, out[:cb])
        c.set_last_error(ERROR_INSUFFICIENT_BUFFER)
        return 0
    c.write(dst, out)
    return len(out)


@api(K32, "UINT WINAPI GetACP(void)")
def GetACP(c):
    """The system locale's ANSI code page (Control\\Nls\\CodePage ACP)."""
    return resolve_cp(CP_ACP, c)


@api(K32, "UINT WINAPI GetOEMCP(void)")
def GetOEMCP(c):
    return resolve_cp(CP_OEMCP, c)


@api(K32, "BOOL WINAPI IsValidCodePage(UINT CodePage)")
def IsValidCodePage(c, cp):
    return 1 if cp in VALID_CODE_PAGES else 0


def _cpinfo(cp: int) -> tuple[int, bytes, bytes, int]:
    """(MaxCharSize, DefaultChar[2], LeadByte[12], UnicodeDefaultChar)."""
    if cp in (CP_UTF8, CP_UTF7):
        return (4 if cp == CP_UTF8 else 5), b"?\0", bytes(12), 0xFFFD
    if cp in _DBCS:
        lead = {932: b"\x81\x9f\xe0\xfc", 936: b"\x81\xfe", 949: b"\x81\xfe", 950: b"\x81\xfe"}[cp]
        return 2, b"?\0", lead.ljust(12, b"\0"), 0x30FB if cp == 932 else 0x3F
    return 1, b"?\0", bytes(12), 0x3F


@api(K32, "BOOL WINAPI GetCPInfo(UINT CodePage, LPCPINFO lpCPInfo)")
def GetCPInfo(c, cp, p):
    rcp = resolve_cp(cp, c)
    if rcp not in VALID_CODE_PAGES or not p:
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    mx, d, lead, _u = _cpinfo(rcp)
    c.write(p, struct.pack("<I", mx) + d + lead + b"\0\0")
    return 1


@api(K32, "BOOL WINAPI GetCPInfoEx%(UINT CodePage, DWORD dwFlags, LPCPINFOEX lpCPInfoEx)")
def GetCPInfoEx(c, cp, flags, p):
    rcp = resolve_cp(cp, c)
    if rcp not in VALID_CODE_PAGES or not p or flags:
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    mx, d, lead, u = _cpinfo(rcp)
    name = CP_NAMES.get(rcp, str(rcp))
    head = struct.pack("<I", mx) + d + lead + struct.pack("<HI", u, rcp)
    tail = (name.encode("utf-16-le").ljust(520, b"\0")[:518] + b"\0\0") if c.wide else \
        (name.encode("cp1252").ljust(260, b"\0")[:259] + b"\0")
    c.write(p, head + tail)
    return 1


@api(K32, "BOOL WINAPI IsDBCSLeadByte(BYTE TestChar)")
def IsDBCSLeadByte(c, ch):
    """A lead byte of the ANSI code page (the system locale's)."""
    return is_lead_byte(resolve_cp(CP_ACP, c), ch)


def is_lead_byte(cp: int, ch: int) -> int:
    if cp not in _DBCS:
        return 0
    lead = _cpinfo(cp)[2]
    ch &= 0xFF
    return 1 if any(lead[i] <= ch <= lead[i + 1] for i in range(0, 12, 2) if lead[i]) else 0


@api(K32, "BOOL WINAPI IsDBCSLeadByteEx(UINT CodePage, BYTE TestChar)")
def IsDBCSLeadByteEx(c, cp, ch):
    """A lead byte of a code page (CP_ACP, CP_THREAD_ACP ... resolved); single-byte code pages have none."""
    return is_lead_byte(resolve_cp(cp, c), ch)


# ============================================================================================ classification
C1_UPPER, C1_LOWER, C1_DIGIT, C1_SPACE, C1_PUNCT, C1_CNTRL, C1_BLANK, C1_XDIGIT, C1_ALPHA, C1_DEFINED = (
    0x1, 0x2, 0x4, 0x8, 0x10, 0x20, 0x40, 0x80, 0x100, 0x200)


def ctype1(ch: str) -> int:
    """CT_CTYPE1 as Windows 10's type table gives it (the "new" values of Wine's GetStringTypeW test, checked on
    Windows): letters by case (a title-case letter is upper and lower, a modifier or other letter and a letter
    number only alphabetic; U+2071 and U+207F are lower), marks nothing but defined; punctuation is C1_PUNCT,
    symbols and other numbers only in Latin-1 (U+0024 "$" ... U+00F7; the superscript digits are digits too); the format
    characters are controls (U+00AD punctuation too, U+FEFF blank too)."""
    o = ord(ch)
    cat = unicodedata.category(ch)
    if cat == "Cn" and not 0xD800 <= o <= 0xDFFF:
        return 0
    f = C1_DEFINED
    if cat in ("Lu", "Lt"):
        f |= C1_UPPER
    if cat in ("Ll", "Lt") or o in (0x2071, 0x207F):
        f |= C1_LOWER
    if cat == "Nd" or o in (0xB2, 0xB3, 0xB9):
        f |= C1_DIGIT
    if ch in " \t\n\v\f\r\x85\xa0" or cat in ("Zs", "Zl", "Zp"):
        f |= C1_SPACE
    if cat.startswith("P") or (o <= 0xFF and (cat.startswith("S") or cat == "No")) or o == 0xAD:
        f |= C1_PUNCT
    if cat in ("Cc", "Cf"):
        f |= C1_CNTRL
    if ch in " \t\xa0\ufeff" or cat == "Zs":
        f |= C1_BLANK
    if ch in "0123456789abcdefABCDEF":
        f |= C1_XDIGIT
    if cat.startswith("L") or cat == "Nl":
        f |= C1_ALPHA
    return f


def ctype2(ch: str) -> int:
    bidi = unicodedata.bidirectional(ch)
    return {"L": 1, "R": 2, "AL": 2, "EN": 3, "ES": 4, "ET": 5, "AN": 6, "CS": 7, "B": 8, "S": 9, "WS": 10,
            "ON": 11}.get(bidi, 0)


def ctype3(ch: str) -> int:
    cat = unicodedata.category(ch)
    f = 0
    if cat == "Mn":
        f |= 0x1  # C3_NONSPACING
    if cat.startswith("S"):
        f |= 0x8  # C3_SYMBOL
    if cat.startswith("L") or cat in ("Mn", "Mc"):
        f |= 0x8000  # C3_ALPHA
    if ch == "\u0640":
        f |= 0x200   # C3_KASHIDA: the Arabic tatweel
    return f


def _string_type(c, info, text: str, out: int) -> int:
    fn = {1: ctype1, 2: ctype2, 4: ctype3}.get(info)
    if fn is None or not out:
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    c.write(out, b"".join(struct.pack("<H", fn(ch) & 0xFFFF) for ch in text))
    return 1


@api(K32, "BOOL WINAPI GetStringTypeW(DWORD dwInfoType, LPCWCH lpSrcStr, int cchSrc, LPWORD lpCharType)")
def GetStringTypeW(c, info, src, n, out):
    n = signed32(n)
    if not src or n == 0 or n < -1:
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    count = _wcslen(c, src) + 1 if n == -1 else n
    return _string_type(c, info, _utf16_units(c, src, count), out)


@api(K32, "BOOL WINAPI GetStringTypeExW(LCID Locale, DWORD dwInfoType, LPCWCH lpSrcStr, int cchSrc, "
          "LPWORD lpCharType)")
def GetStringTypeExW(c, lcid, info, src, n, out):
    return GetStringTypeW(c, info, src, n, out)


@api(K32, "BOOL WINAPI GetStringTypeA(LCID Locale, DWORD dwInfoType, LPCSTR_RAW lpSrcStr, int cchSrc, "
          "LPWORD lpCharType)")
def GetStringTypeA(c, lcid, info, src, n, out):
    n = signed32(n)
    if not src or n == 0 or n < -1:
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    data = c.cstr(src) + b"\0" if n == -1 else c.read(src, n)
    return _string_type(c, info, decode(data, ACP), out)


@api(K32, "BOOL WINAPI GetStringTypeExA(LCID Locale, DWORD dwInfoType, LPCSTR_RAW lpSrcStr, int cchSrc, "
          "LPWORD lpCharType)")
def GetStringTypeExA(c, lcid, info, src, n, out):
    return GetStringTypeA(c, lcid, info, src, n, out)


# ============================================================================================ locale strings
LCMAP_LOWERCASE, LCMAP_UPPERCASE = 0x100, 0x200
NORM_IGNORECASE, LINGUISTIC_IGNORECASE = 0x1, 0x10
CSTR_LESS_THAN, CSTR_EQUAL, CSTR_GREATER_THAN = 1, 2, 3


def _read_t(c, src: int, n: int, wide: bool) -> str:
    n = signed32(n)
    if wide:
        count = _wcslen(c, src) if n < 0 else n
        return _utf16_units(c, src, count)
    data = c.cstr(src) if n < 0 else c.read(src, n)
    return decode(data, ACP)


SORT_DIGITSASNUMBERS = 0x8
_CMP_FLAGS = (NORM_IGNORECASE | 0x2 | 0x4 | LINGUISTIC_IGNORECASE | 0x20 | 0x10000 | 0x20000 | 0x8000000 | 0x1000
              | SORT_DIGITSASNUMBERS | 0x40000000)
#: word sort's specially weighted characters (Microsoft's CompareString documentation: in a word sort the hyphen
#: and the apostrophe are ignored, so "coop" and "co-op" stay together; SORT_STRINGSORT treats them as symbols)
_WORD_SPECIAL = "-'\u2010\u2011\uff0d\uff07"
#: the ligatures that sort as their letters (expansions: "\u00e6" equals "ae")
_EXPANSIONS = {"\u00e6": "ae", "\u00c6": "AE", "\u0153": "oe", "\u0152": "OE"}


#: the diacritic weight of the dotless i (U+0131) in the language-independent order: it sorts as an i with a
#: diacritic lighter than the dot above (i < \u0131 < \u0130 = I + U+0307; NORM_IGNORENONSPACE makes it an i)
_DOTLESS_MARK = 0x2FF
#: the Turkic letter of the dotless i and its capital I, between h and i (NORM_LINGUISTIC_CASING in a Turkic
#: locale: the case pairs \u0131/I and i/\u0130 of Turkish and Azerbaijani are two letters, as in CLDR's tailoring)
_TURKIC_DOTLESS = (3, 0x68, 1)


def is_turkic(loc) -> bool:
    """Turkish (0x1F) and Azerbaijani (0x2C): the locales whose linguistic casing pairs i/\u0130 and \u0131/I."""
    return loc is not None and (loc & 0x3FF) in (0x1F, 0x2C)


#: characters without any weight (Windows' table gives them none; Wine's locale test, test_unicode_sorting): the
#: format controls (Cf: the soft hyphen, the word joiner, the invisible operators...), unassigned code points and
#: the replacement character
_UNSORTABLE_EXTRA = "\ufffd"
_ASCII_MATH = "+<=>"


def _unsortable(ch: str) -> bool:
    return ch in _UNSORTABLE_EXTRA or unicodedata.category(ch) in ("Cf", "Cn")


def _mark_weights() -> dict[int, int]:
    from winhatch.win32.kernel32.sortweights_data import MARK_WEIGHTS
    out = {}
    for item in MARK_WEIGHTS.split():
        cp, w = item.split(":")
        out[int(cp, 16)] = int(w, 16)
    out[_DOTLESS_MARK] = 3         # lighter than the dot above (0x10): i < \u0131 < \u0130
    return out


_MARK_WEIGHTS: dict[int, int] | None = None


def _diacritic(marks: tuple) -> tuple:
    """An element's diacritic level from its combining marks: Windows adds the marks' diacritic weights
    (winhatch.win32.kernel32.sortweights_data; a mark without weight adds nothing) to the letter's 2; a mark with
    weights of its own there (not modelled as such) follows as its code point. () for no diacritic."""
    global _MARK_WEIGHTS
    if not marks:
        return ()
    if _MARK_WEIGHTS is None:
        _MARK_WEIGHTS = _mark_weights()
    total, other = 0, []
    for m in marks:
        w = _MARK_WEIGHTS.get(m)
        if w is None:
            other.append(m)
        elif w > 2:
            total += w - 2
    if not total and not other:
        return ()
    return (2 + total, *other)


def _kana(ch: str):
    """A kana letter's (katakana base, small, hiragana) — the hiragana and katakana forms of a syllable share
    their primary weight; "small" (\u30a1, \u31fb...) is a diacritic weight below the normal letter's, the
    kana type (hiragana heavier) a case weight — or None for another character."""
    o = ord(ch)
    if not (0x3041 <= o <= 0x30FA or 0x31F0 <= o <= 0x31FF):
        return None
    try:
        name = unicodedata.name(ch)
    except ValueError:
        return None
    small = " SMALL " in name
    base = ch
    if small:
        try:
            base = unicodedata.lookup(name.replace(" SMALL ", " "))
        except KeyError:
            base = ch
    hiragana = 0x3041 <= ord(base) <= 0x3096
    if hiragana:
        base = chr(ord(base) + 0x60)
    return base, small, hiragana


def _sort_elements(s: str, flags: int, turkic: bool = False):
    """The collation elements of a string under Microsoft's documented rules: (primary, diacritics, case/width)
    per element, plus the word-sort special characters with their positions. Primary: symbols, punctuation and
    spaces (by code point, but the ASCII + < = > after the rest) before digits (by value; a run of digits as one
    number with SORT_DIGITSASNUMBERS) before letters (by their lower-case base letter); the diacritics of the
    canonical/compatibility decomposition are the secondary level (their weights added up as Windows does:
    _diacritic), the case (lower before upper) and a compatibility form (width, superscript) the third; the kana
    have their own rules (_kana). NUL, the format controls, unassigned code points and U+FFFD are ignored.
    NORM_IGNORE*/LINGUISTIC_IGNORE* drop their level or the symbols. This is not Windows' primary weight table:
    symbols among themselves sort by code point, and the languages' tailorings (the
    Swedish letters after z, the Turkish dotted and dotless i...) are not modelled: every locale compares in
    this language-independent order, except the Turkic letters of Turkish and Azerbaijani under
    NORM_LINGUISTIC_CASING (`turkic`): \u0131 and I are then one letter before i, and \u0130 the capital of i."""
    import unicodedata
    ignore_case = flags & (NORM_IGNORECASE | LINGUISTIC_IGNORECASE)
    ignore_marks = flags & (0x2 | 0x20)
    ignore_symbols = flags & 0x4
    ignore_width = flags & 0x20000
    ignore_kana = flags & 0x10000
    elems: list[list] = []
    special: list[tuple[int, int]] = []
    for ch in "".join(_EXPANSIONS.get(x, x) for x in s):
        if ch == "\0":
            continue
        if not flags & 0x1000 and ch in _WORD_SPECIAL:
            if not ignore_symbols:
                special.append((len(elems), ord(ch)))
            continue
        if ch in "\u0131\u0130" or (turkic and ch == "I"):
            if turkic and flags & NORM_LINGUISTIC_CASING:
                primary = (3, 0x69) if ch == "\u0130" else _TURKIC_DOTLESS
                marks = ()
            else:
                primary = (3, 0x69)
                marks = () if ch == "I" or ignore_marks else ((_DOTLESS_MARK,) if ch == "\u0131" else (0x307,))
            case = 0 if ignore_case else (1 if ch != "\u0131" else 0)
            elems.append([primary, marks, case * 2])
            continue
        if _unsortable(ch):
            continue
        d = unicodedata.normalize("NFKD", ch)
        compat = d != unicodedata.normalize("NFD", ch)
        kana = _kana(d[0]) if d else None
        if kana is not None:
            # a kana syllable: the katakana letter's primary weight; small before normal and the voicing marks
            # (dakuten) at the diacritic level; no case; then two extra levels after the case level (Windows'
            # extra weights of the Far East): the kana type (hiragana heavier), then the width (full width
            # heavier than half width)
            base, small, hiragana = kana
            marks = () if ignore_marks else (0 if small else 1,) + tuple(ord(m) for m in d[1:]
                                                                         if unicodedata.category(m) == "Mn")
            kind = 0 if ignore_kana else (1 if hiragana else 0)
            wide = 0 if ignore_width else (0 if unicodedata.east_asian_width(ch) == "H" else 1)
            elems.append([(3, ord(base)), marks, 0, (kind, wide)])
            continue
        marks = tuple(ord(m) for m in d if unicodedata.category(m) == "Mn")
        bases = [x for x in d if unicodedata.category(x) != "Mn"]
        if not bases:                   # a combining mark: a diacritic of the element before it
            if elems and not ignore_marks:
                elems[-1][1] += marks
            continue
        for i, b in enumerate(bases):
            cat = unicodedata.category(b)
            if cat[0] in "PSZ" or cat == "Cc":
                if ignore_symbols:
                    continue
                # Windows' order of the ASCII symbols is the code points' but for the math operators + < = >,
                # which follow the other punctuation (Wine's locale test, test_sorting)
                primary = (1, ord(b) + (0x110000 if b in _ASCII_MATH else 0))
            elif cat[0] == "N":
                v = unicodedata.digit(b, None)
                primary = (2, v if v is not None else ord(b))
            elif cat[0] == "L":
                base = b.lower()
                primary = (3, ord(base[0]) if len(base) == 1 else ord(b))
            else:
                primary = (4, ord(b))
            case = 0 if ignore_case else (1 if b.isupper() else 0)
            third = case * 2 + (0 if ignore_width or not compat else 1)
            elems.append([primary, () if ignore_marks or i else marks, third])
    for e in elems:
        if len(e) == 3:                 # a letter's diacritics as Windows weighs them (kana keep their own)
            e[1] = _diacritic(e[1])
    if flags & SORT_DIGITSASNUMBERS:    # a run of decimal digits is one element, its number
        merged: list[list] = []
        for e in elems:
            if e[0][0] == 2 and merged and merged[-1][0][0] == 2 and isinstance(merged[-1][0][1], int):
                merged[-1][0] = (2, merged[-1][0][1] * 10 + e[0][1])
            else:
                merged.append(e)
        elems = merged
    return elems, special


def _kana_extra(elems, part: int) -> list[int]:
    """One of the kana's extra weights (0: the kana type, 1: the width) of each kana element."""
    return [e[3][part] for e in elems if len(e) > 3]


def _compare(a: str, b: str, flags: int, turkic: bool = False) -> int:
    ea, sa = _sort_elements(a, flags, turkic)
    eb, sb = _sort_elements(b, flags, turkic)
    for level in range(3):
        ka, kb = [e[level] for e in ea], [e[level] for e in eb]
        if ka != kb:
            return CSTR_LESS_THAN if ka < kb else CSTR_GREATER_THAN
    for part in range(2):       # the kana's extra weights after the case level: the kana type, then the width
        ka, kb = _kana_extra(ea, part), _kana_extra(eb, part)
        if ka != kb:
            return CSTR_LESS_THAN if ka < kb else CSTR_GREATER_THAN
    if sa != sb:
        return CSTR_LESS_THAN if sa < sb else CSTR_GREATER_THAN
    return CSTR_EQUAL


def _compare_api(c, flags, s1, n1, s2, n2, wide, loc):
    """loc: the locale (resolved LCID, None for an invalid one): the A form reads the strings in its code page."""
    if not s1 or not s2 or loc is None:
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    if flags & ~_CMP_FLAGS or (not wide and flags & SORT_DIGITSASNUMBERS) or (wide and flags & 0x40000000):
        c.set_last_error(ERROR_INVALID_FLAGS)     # SORT_DIGITSASNUMBERS: the W forms only
        return 0
    if wide:
        a, b = _read_t(c, s1, n1, True), _read_t(c, s2, n2, True)
    else:
        from winhatch.win32.kernel32.locale import ansi_codec
        codec = ansi_codec(c, loc, flags)
        a, b = (_read_bytes(c, p, n).decode(codec, "replace") for p, n in ((s1, n1), (s2, n2)))
    return _compare(a, b, flags, is_turkic(loc))


def _read_bytes(c, src: int, n: int) -> bytes:
    n = signed32(n)
    return c.cstr(src) if n < 0 else c.read(src, n)


def _lcid_locale(c, lcid: int):
    from winhatch.win32.kernel32.locale import resolve_lcid
    return resolve_lcid(c, lcid)


def _name_locale(c, name: int):
    from winhatch.win32.kernel32.locale import resolve_name
    return resolve_name(c, c.wstr(name) if name else None)


@api(K32, "int WINAPI CompareStringA(LCID Locale, DWORD dwCmpFlags, PCNZCH lpString1, int cchCount1, "
          "PCNZCH lpString2, int cchCount2)")
def CompareStringA(c, lcid, flags, s1, n1, s2, n2):
    return _compare_api(c, flags, s1, n1, s2, n2, False, _lcmap_lcid(c, lcid))


@api(K32, "int WINAPI CompareStringW(LCID Locale, DWORD dwCmpFlags, PCNZWCH lpString1, int cchCount1, "
          "PCNZWCH lpString2, int cchCount2)")
def CompareStringW(c, lcid, flags, s1, n1, s2, n2):
    # as LCMapString's sort keys: only the locale's language matters (its tailoring), so a real locale winhatch
    # has no data for compares as its language's
    return _compare_api(c, flags, s1, n1, s2, n2, True, _lcmap_lcid(c, lcid))


@api(K32, "int WINAPI CompareStringEx(LPCWSTR_RAW lpLocaleName, DWORD dwCmpFlags, PCNZWCH lpString1, int cchCount1, "
          "PCNZWCH lpString2, int cchCount2, LPVOID lpVersionInformation, LPVOID lpReserved, LPARAM lParam)")
def CompareStringEx(c, loc, flags, s1, n1, s2, n2, ver, res, lp):
    return _compare_api(c, flags, s1, n1, s2, n2, True, _lcmap_name(c, loc))


@api(K32, "int WINAPI CompareStringOrdinal(LPCWCH lpString1, int cchCount1, LPCWCH lpString2, int cchCount2, "
          "BOOL bIgnoreCase)")
def CompareStringOrdinal(c, s1, n1, s2, n2, ignore):
    if not s1 or not s2:
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    a, b = _read_t(c, s1, n1, True), _read_t(c, s2, n2, True)
    ua, ub = a.encode("utf-16-be", "surrogatepass"), b.encode("utf-16-be", "surrogatepass")
    if ignore:   # each unit's simple upper case (RtlUpcaseUnicodeChar's): U+01F0 stays, its upper case is longer
        from winhatch.kernel.ex.nls_files import upcase_unit
        ua = b"".join(upcase_unit(u).to_bytes(2, "big") for u in struct.unpack(f">{len(ua) // 2}H", ua))
        ub = b"".join(upcase_unit(u).to_bytes(2, "big") for u in struct.unpack(f">{len(ub) // 2}H", ub))
    return CSTR_LESS_THAN if ua < ub else (CSTR_GREATER_THAN if ua > ub else CSTR_EQUAL)


NORM_IGNORENONSPACE, NORM_IGNORESYMBOLS, SORT_STRINGSORT = 0x2, 0x4, 0x1000
LCMAP_TITLECASE, LCMAP_SORTKEY, LCMAP_BYTEREV, LCMAP_HASH = 0x300, 0x400, 0x800, 0x40000
LCMAP_HIRAGANA, LCMAP_KATAKANA, LCMAP_HALFWIDTH, LCMAP_FULLWIDTH = 0x100000, 0x200000, 0x400000, 0x800000
LCMAP_LINGUISTIC_CASING, LCMAP_SIMPLIFIED_CHINESE, LCMAP_TRADITIONAL_CHINESE = 0x1000000, 0x2000000, 0x4000000
LCMAP_SORTHANDLE, NORM_IGNOREKANATYPE, NORM_IGNOREWIDTH, NORM_LINGUISTIC_CASING = 0x20000000, 0x10000, 0x20000, \
    0x8000000
LINGUISTIC_IGNOREDIACRITIC, LOCALE_USE_CP_ACP = 0x20, 0x40000000
_LCMAP_KNOWN = (LCMAP_LOWERCASE | LCMAP_UPPERCASE | LCMAP_SORTKEY | LCMAP_BYTEREV | LCMAP_HASH | LCMAP_HIRAGANA
                | LCMAP_KATAKANA | LCMAP_HALFWIDTH | LCMAP_FULLWIDTH | LCMAP_LINGUISTIC_CASING
                | LCMAP_SIMPLIFIED_CHINESE | LCMAP_TRADITIONAL_CHINESE | LCMAP_SORTHANDLE | NORM_IGNORECASE
                | NORM_IGNORENONSPACE | NORM_IGNORESYMBOLS | SORT_STRINGSORT | NORM_IGNOREKANATYPE | NORM_IGNOREWIDTH
                | NORM_LINGUISTIC_CASING | LINGUISTIC_IGNORECASE | LINGUISTIC_IGNOREDIACRITIC | LOCALE_USE_CP_ACP)


def lcmap_flags_valid(flags: int) -> bool:
    """LCMapString's flag rules (the invalid combinations Wine's locale test checks on Windows): some mapping
    must be asked for; the case mappings exclude SORT_STRINGSORT and the NORM_IGNORE* removals; Hiragana and
    Katakana, half and full width, simplified and traditional Chinese exclude each other, and the kana and width
    mappings exclude the removals and the Chinese mappings; a sort key is not combined with another mapping."""
    if flags & SORT_DIGITSASNUMBERS and flags & LCMAP_SORTKEY:
        flags &= ~SORT_DIGITSASNUMBERS      # a sort flag of the sort keys (Windows 7 on; Wine's test_unicode_sorting)
    if flags & ~_LCMAP_KNOWN:
        return False
    case = flags & LCMAP_TITLECASE
    kana = flags & (LCMAP_HIRAGANA | LCMAP_KATAKANA)
    width = flags & (LCMAP_HALFWIDTH | LCMAP_FULLWIDTH)
    chinese = flags & (LCMAP_SIMPLIFIED_CHINESE | LCMAP_TRADITIONAL_CHINESE)
    removal = flags & (NORM_IGNORENONSPACE | NORM_IGNORESYMBOLS)
    mapping = case | kana | width | chinese | removal | (flags & (LCMAP_SORTKEY | LCMAP_BYTEREV | LCMAP_HASH
                                                                   | LCMAP_SORTHANDLE))
    if not mapping:
        return False
    if kana == (LCMAP_HIRAGANA | LCMAP_KATAKANA) or width == (LCMAP_HALFWIDTH | LCMAP_FULLWIDTH) \
            or chinese == (LCMAP_SIMPLIFIED_CHINESE | LCMAP_TRADITIONAL_CHINESE):
        return False
    if case and (removal or flags & SORT_STRINGSORT):
        return False
    if (kana or width) and (removal or chinese):
        return False
    if flags & LCMAP_SORTKEY and (case or kana or width or chinese or flags & (LCMAP_BYTEREV | LCMAP_HASH)):
        return False
    return True


def _remove(text: str, flags: int) -> str:
    """NORM_IGNORENONSPACE drops the nonspacing marks (of the canonical decomposition, recomposed after);
    NORM_IGNORESYMBOLS drops punctuation, symbols, separators and control characters."""
    import unicodedata
    if flags & NORM_IGNORENONSPACE:
        text = unicodedata.normalize("NFC", "".join(ch for ch in unicodedata.normalize("NFD", text)
                                                    if unicodedata.category(ch) != "Mn"))
    if flags & NORM_IGNORESYMBOLS:
        text = "".join(ch for ch in text if unicodedata.category(ch)[0] not in "PSZ"
                       and unicodedata.category(ch) != "Cc")
    return text


#: the case pairs the file system's (simple, locale-independent) casing leaves alone: the dotless i and the dotted
#: capital I change only under LCMAP_LINGUISTIC_CASING (I and i are their file-system pairs)
_LINGUISTIC_ONLY = {"\u0131", "\u0130"}


def map_case(text: str, upper: bool, linguistic: bool, turkic: bool) -> str:
    """LCMapString's simple one-to-one case mapping: a character whose mapping is longer (\u00df) is kept.
    Without LCMAP_LINGUISTIC_CASING the file-system rules: \u0131 and \u0130 are kept. With it, the language's
    rules: in Turkish and Azerbaijani i/\u0130 and \u0131/I are the case pairs."""
    out = []
    for ch in text:
        if turkic and linguistic and ch in "iI\u0130\u0131":
            out.append({"i": "\u0130", "\u0131": "I"}.get(ch, ch) if upper else
                       {"I": "\u0131", "\u0130": "i"}.get(ch, ch))
            continue
        if ch in _LINGUISTIC_ONLY and not linguistic:
            out.append(ch)
            continue
        m = ch.upper() if upper else ch.lower()
        if len(m) > 1 and upper and len(ch.title()) == 1:
            m = ch.title()      # a letter with iota subscript: its simple upper case is the title-case letter
        out.append(m if len(m) == 1 else ("i" if ch == "\u0130" else ch))
    return "".join(out)


def title_case(text: str, linguistic: bool, turkic: bool) -> str:
    """LCMAP_TITLECASE (LOWERCASE | UPPERCASE, the W forms, Windows 7 and later): the first letter of each word
    (a letter after a character that is not one) in its title case, the other letters in lower case."""
    out = []
    prev_letter = False
    for ch in text:
        letter = unicodedata.category(ch)[0] == "L"
        if letter and not prev_letter:
            t = ch.title()
            out.append(t if len(t) == 1 and ch not in "iI\u0130\u0131" else map_case(ch, True, linguistic, turkic))
        else:
            out.append(map_case(ch, False, linguistic, turkic))
        prev_letter = letter
    return "".join(out)


def _key_int(v: int) -> bytes:
    """A non-negative integer as bytes whose memcmp order is the numeric order: its length, then big-endian."""
    body = v.to_bytes(max(1, (v.bit_length() + 7) // 8), "big")
    return bytes([len(body)]) + body


def sort_key_levels(text: str, flags: int, turkic: bool = False) -> list[bytes]:
    """The levels of a sort key (LCMAP_SORTKEY) of the elements _compare orders by: the primary weights, the
    diacritics, the case/width weights and the word-sort special characters. Windows' layout: each level is
    followed by 0x01 and the key ends with 0x00, so memcmp of two keys orders them as CompareString with the
    same flags does. The weight bytes are winhatch's own (Windows' weight table is not reproduced), every
    element's bytes start at 0x02 or above so that a shorter level sorts first."""
    elems, special = _sort_elements(text, flags, turkic)
    primary = bytearray()
    for e in elems:
        group, value, *sub = e[0]
        primary += bytes([group + 1]) + _key_int(value * 2 + (sub[0] if sub else 0))
    marks = bytearray()
    for e in elems:
        for mk in e[1]:
            marks += bytes([3]) + int(mk).to_bytes(2, "big")
        marks.append(2)
    case = bytes(e[2] + 2 for e in elems) + bytes(x + 2 for part in range(2) for x in _kana_extra(elems, part))
    spec = bytearray()
    for pos, ch in special:
        spec += bytes([2]) + pos.to_bytes(3, "big") + ch.to_bytes(2, "big")
    return [bytes(primary), bytes(marks), case, bytes(spec)]


def _sort_key(c, levels: list[bytes], dst: int, m: int) -> int:
    """Write a sort key: the whole key (levels + 0x01 separators + 0x00) when it fits; otherwise the complete
    levels that fit, each with its 0x01 (as Windows fills a short buffer), and ERROR_INSUFFICIENT_BUFFER."""
    key = b"".join(lv + b"\x01" for lv in levels[:3]) + levels[3] + b"\x00"
    if m == 0:
        return len(key)
    if len(key) > m:
        part = b""
        for lv in levels[:3]:
            if len(part) + len(lv) + 1 > m:
                break
            part += lv + b"\x01"
        if part:
            c.write(dst, part)
        c.set_last_error(ERROR_INSUFFICIENT_BUFFER)
        return 0
    c.write(dst, key)
    return len(key)


def _lcmap(c, flags, src, n, dst, m, wide, loc, by_name=False):
    if not src or signed32(n) == 0 or signed32(m) < 0:
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    if not lcmap_flags_valid(flags) or (wide and flags & LOCALE_USE_CP_ACP) \
            or (not wide and flags & LCMAP_TITLECASE == LCMAP_TITLECASE):
        # LCMAP_TITLECASE (LOWERCASE | UPPERCASE) is a flag of the W forms: the A form refuses the pair
        c.set_last_error(ERROR_INVALID_FLAGS)
        return 0
    if loc is None and (not by_name or flags & (LCMAP_TITLECASE | LCMAP_SORTKEY)):
        # an invalid LCID fails; an invalid name only where the locale matters (the case rules, the sort key):
        # Windows maps kana and width with any name (Wine's locale test, test_LCMapStringEx)
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    if flags & LCMAP_SORTKEY:
        if wide:
            text = _read_t(c, src, n, True)
        else:
            from winhatch.win32.kernel32.locale import ansi_codec
            text = _read_bytes(c, src, n).decode(ansi_codec(c, loc, flags), "replace")
        return _sort_key(c, sort_key_levels(text, flags & _CMP_FLAGS, is_turkic(loc)), dst, m)
    unmodelled = flags & ~(LCMAP_LOWERCASE | LCMAP_UPPERCASE | NORM_IGNORENONSPACE | NORM_IGNORESYMBOLS
                           | LOCALE_USE_CP_ACP | LCMAP_LINGUISTIC_CASING | LCMAP_HIRAGANA | LCMAP_KATAKANA
                           | LCMAP_FULLWIDTH | LCMAP_HALFWIDTH)
    if unmodelled:
        from winhatch.win32.msvcrt.runtime import not_implemented
        not_implemented(c, f"LCMapString flags 0x{flags:x} (the Chinese mappings, byte reversal and hashes are "
                           f"not modelled)")
    from winhatch.win32.kernel32 import kanawidth
    with_nul = signed32(n) == -1
    text = _read_t(c, src, n, wide)
    if flags & LCMAP_FULLWIDTH:             # to full width first: half-width Katakana become a kana
        text = kanawidth.to_fullwidth(text)
    if flags & LCMAP_HIRAGANA:
        text = kanawidth.to_hiragana(text)
    elif flags & LCMAP_KATAKANA:
        text = kanawidth.to_katakana(text)
    if flags & LCMAP_HALFWIDTH:             # the kana mapping first: Hiragana become half-width Katakana
        text = kanawidth.to_halfwidth(text)
    if flags & LCMAP_TITLECASE == LCMAP_TITLECASE:
        text = title_case(text, bool(flags & LCMAP_LINGUISTIC_CASING), is_turkic(loc))
    elif flags & (LCMAP_LOWERCASE | LCMAP_UPPERCASE):
        text = map_case(text, bool(flags & LCMAP_UPPERCASE), bool(flags & LCMAP_LINGUISTIC_CASING),
                        is_turkic(loc))
    text = _remove(text, flags)
    if with_nul:
        text += "\0"
    out = text.encode("utf-16-le", "surrogatepass") if wide else encode(text, ACP)[0]
    return put_units(c, out, 2 if wide else 1, dst, m)


def put_units(c, out: bytes, unit: int, dst: int, m: int) -> int:
    """A mapping's result into a caller's buffer of `m` units: the units it needs when `m` is 0, else
    ERROR_INSUFFICIENT_BUFFER when they do not fit, else the units written."""
    count = len(out) // unit
    if m == 0:
        return count
    if count > m:
        c.set_last_error(ERROR_INSUFFICIENT_BUFFER)
        return 0
    c.write(dst, out)
    return count


def _lcmap_lcid(c, lcid: int):
    """LCMapString's locale: only its language matters (the Turkic casing, the sort key's tailoring), so a real
    locale winhatch has no data for maps as its language's LCID instead of stopping; an LCID that is no locale
    (0xdead) is None (ERROR_INVALID_PARAMETER)."""
    from winhatch.kernel.ex.nls import BY_LCID
    from winhatch.win32.kernel32.locale import LANG_LAST
    low = lcid & 0xFFFF
    lang = lcid & 0x3FF
    if low in BY_LCID or lcid & 0xFFFFFFFF in (0x0, 0x7F, 0x400, 0x800, 0xC00, 0x1000, 0x1400) or lang == 0 \
            or lang > LANG_LAST or lcid & 0xFFFFFFFF > 0xFFFFF:
        return _lcid_locale(c, lcid)
    return low


def _lcmap_name(c, name: int):
    """LCMapStringEx's locale by name: a real locale winhatch has no data for is its language's (a Turkic one
    tr/az, else no tailoring: the invariant locale) instead of stopping; an invalid name is None."""
    from winhatch.kernel.ex.nls import lookup_name
    if name:
        text = c.wstr(name)
        if text and lookup_name(text)[0] == "unknown":
            first = text.replace("_", "-").split("-")[0].lower()
            return {"tr": 0x041F, "az": 0x042C}.get(first, 0x7F)
    return _name_locale(c, name)


@api(K32, "int WINAPI LCMapStringW(LCID Locale, DWORD dwMapFlags, LPCWSTR_RAW lpSrcStr, int cchSrc, "
          "LPWSTR lpDestStr, int cchDest)")
def LCMapStringW(c, lcid, flags, src, n, dst, m):
    return _lcmap(c, flags, src, n, dst, m, True, _lcmap_lcid(c, lcid))


@api(K32, "int WINAPI LCMapStringA(LCID Locale, DWORD dwMapFlags, LPCSTR_RAW lpSrcStr, int cchSrc, "
          "LPSTR lpDestStr, int cchDest)")
def LCMapStringA(c, lcid, flags, src, n, dst, m):
    return _lcmap(c, flags, src, n, dst, m, False, _lcmap_lcid(c, lcid))


@api(K32, "int WINAPI LCMapStringEx(LPCWSTR_RAW lpLocaleName, DWORD dwMapFlags, LPCWSTR_RAW lpSrcStr, int cchSrc, "
          "LPWSTR lpDestStr, int cchDest, LPVOID lpVersionInformation, LPVOID lpReserved, LPARAM sortHandle)")
def LCMapStringEx(c, loc, flags, src, n, dst, m, ver, res, h):
    return _lcmap(c, flags, src, n, dst, m, True, _lcmap_name(c, loc), True)
