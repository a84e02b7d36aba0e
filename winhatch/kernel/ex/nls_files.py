"""The NLS data files the kernel maps for NtGetNlsSectionPtr (\\NLS\\NlsSection... sections), built in the layout
Windows's files in System32 have:

- a code page file (c_NNN.nls, section type 11): USHORT words —
  [0] header size in words (13), [1] CodePage, [2] MaximumCharacterSize, [3] DefaultChar, [4] UniDefaultChar,
  [5] TransDefaultChar, [6] TransUniDefaultChar, [7..12] LeadByte[12];
  [13] the distance in words from word 14 to the wide-char table;
  [14..269] the multi-byte table (byte -> UTF-16 unit), [270] 256 when a glyph table (256 words: the
  MB_USEGLYPHCHARS mapping of the OEM code pages) follows, else 0;
  then the DBCS word: 0 for a single-byte code page, else the number of lead-byte ranges, followed by the
  DBCS offsets (256 words: for a lead byte, the offset in words from the offsets' start of its 256-word table
  of trail bytes; 0 for a byte that leads nothing) and those tables;
  one word (0), then the wide-char table: 65536 bytes (single-byte) or 65536 words (the byte pair
  lead << 8 | trail of a double-byte character) for each UTF-16 unit.
  c_1252.nls is so 66,082 bytes, as Windows's file is (c_437.nls with its glyph table 66,594).
- the case map (l_intl.nls, section type 10): [0] 1, [1] the upper-case table's size in words + 1, the
  upper-case table, one word (the lower-case table's size + 1), the lower-case table. Each table maps a UTF-16
  unit to the delta added to it in three levels: table[table[table[u >> 8] + (u >> 4 & 15)] + (u & 15)]
  (the 256 first-level words give offsets of 16-word second-level blocks, which give offsets of 16-word
  blocks of deltas; identical blocks are shared).
- a normalization form's tables (normnfc.nls ..., section type 12): Windows's header, winhatch's own encoding
  of the tables after it (normalization_file says which; no reader in the guest depends on it yet).

The mappings come from the same Unicode and code page data winhatch's conversions use (Python's codecs, the
simple case mappings): what a program reads from a view is what winhatch's MultiByteToWideChar, CharUpper...
do. The wide-char table of a single-byte code page holds the best fit WideCharToMultiByte makes for a character
the code page lacks (best_fit: a compatibility form, the base letter of an accented one, a spacing accent);
a double-byte code page's only its exact mappings; the rest is the default character.
"""
from __future__ import annotations

import codecs
import functools
import struct
import unicodedata

#: the code pages Windows 10 ships a c_NNN.nls for, among those winhatch converts (no file for UTF-7/UTF-8:
#: NtGetNlsSectionPtr(11, 65001) is STATUS_OBJECT_NAME_NOT_FOUND on Windows 10)
CODE_PAGE_FILES = frozenset({37, 437, 500, 708, 720, 737, 775, 850, 852, 855, 857, 858, 860, 861, 862, 863, 864,
                             865, 866, 869, 874, 875, 932, 936, 949, 950, 1026, 1140, 1250, 1251, 1252, 1253,
                             1254, 1255, 1256, 1257, 1258, 10000, 20127, 28591, 28592, 28593, 28594, 28595,
                             28596, 28597, 28598, 28599, 28603, 28605})
#: the lead-byte ranges of the double-byte code pages (GetCPInfo's LeadByte)
DBCS_LEAD_RANGES = {932: ((0x81, 0x9F), (0xE0, 0xFC)), 936: ((0x81, 0xFE),), 949: ((0x81, 0xFE),),
                    950: ((0x81, 0xFE),)}
#: the OEM (IBM PC) code pages: their files carry a glyph table (MB_USEGLYPHCHARS)
OEM_CODE_PAGES = frozenset({437, 720, 737, 775, 850, 852, 855, 857, 858, 860, 861, 862, 863, 864, 865, 866, 869})
#: the IBM PC glyphs of bytes 0x01-0x1F and 0x7F (what MB_USEGLYPHCHARS gives for the control characters)
_PC_GLYPHS = ("\u263a\u263b\u2665\u2666\u2663\u2660\u2022\u25d8\u25cb\u25d9\u2642\u2640\u266a\u266b\u263c"
              "\u25ba\u25c4\u2195\u203c\u00b6\u00a7\u25ac\u21a8\u2191\u2193\u2192\u2190\u221f\u2194\u25b2\u25bc")
_PC_GLYPH_7F = "\u2302"
HEADER_WORDS = 13
#: the exact reverse tables best_fit was given (its compatibility cache is keyed by the table's identity)
_BEST_FIT_REV: dict[int, dict[str, int]] = {}


def codec_name(cp: int) -> str:
    """Python's codec of a Windows code page."""
    return {20127: "ascii", 28591: "latin-1", 10000: "mac_roman"}.get(
        cp, f"iso8859-{cp - 28590}" if 28591 < cp < 28606 else f"cp{cp:03d}")


class NoCodecError(LookupError):
    """A code page Windows has a file for but winhatch has no conversion data for (ASMO 708)."""


def _decode1(data: bytes, codec: str) -> int | None:
    try:
        s = data.decode(codec)
    except UnicodeDecodeError:
        return None
    return ord(s) if len(s) == 1 and ord(s) < 0x10000 else None


# ===================================================================== best fit
#: a combining accent's best fit is a spacing accent: the ASCII grave, circumflex and tilde and the degree sign for
#: the ring (Microsoft's best-fit tables, e.g. Wine's FoldStringA test: "\u00c3" as MAP_COMPOSITE is "A~"), else
#: the spacing form Unicode decomposes to a space and the mark (U+00B4 "\u00b4" for U+0301)
_SPACING_ACCENTS = {"\u0300": "`", "\u0302": "^", "\u0303": "~", "\u030a": "\u00b0"}


def _spacing_accent(mark: str, table_rev: dict[str, int]) -> int | None:
    x = _SPACING_ACCENTS.get(mark)
    if x is not None and x in table_rev:
        return table_rev[x]
    want = f"<compat> 0020 {ord(mark):04X}"
    for sp, b in table_rev.items():
        if len(sp) == 1 and unicodedata.decomposition(sp) == want:
            return b
    return None


#: best fits that no decomposition gives: the fraction slash as the solidus (what a MAP_FOLDCZONE "\u00bd" is in the
#: ANSI code page: "1/2", Wine's FoldStringA test)
_EXTRA_FITS = {"\u2044": "/"}
_COMPAT_OF: dict[int, dict[str, int]] = {}


def _compat_fit(ch: str, table_rev: dict[str, int]) -> int | None:
    """A character of the code page whose compatibility form is `ch` (U+03BC Greek mu is the micro sign, 0xB5
    in Windows 1252)."""
    m = _COMPAT_OF.get(id(table_rev))
    if m is None:
        m = _COMPAT_OF[id(table_rev)] = {}
        for x, b in table_rev.items():
            k = unicodedata.normalize("NFKC", x)
            if len(x) == 1 and len(k) == 1 and k != x:
                m.setdefault(k, b)
    return m.get(ch)


def best_fit(ch: str, table_rev: dict[str, int]) -> int | None:
    """The byte (or byte pair) a code page without `ch` writes for it — `table_rev` maps the code page's
    characters to their codes — or None (the default character)."""
    if unicodedata.combining(ch):
        return _spacing_accent(ch, table_rev)
    if ch in _EXTRA_FITS and _EXTRA_FITS[ch] in table_rev:
        return table_rev[_EXTRA_FITS[ch]]
    fit = _compat_fit(ch, table_rev)
    if fit is not None:
        return fit
    base = unicodedata.normalize("NFKD", ch)
    base = "".join(x for x in base if not unicodedata.combining(x))
    if len(base) == 1 and base in table_rev:
        return table_rev[base]
    return None


@functools.lru_cache(maxsize=8)
def code_page_file(cp: int) -> bytes:
    """The bytes of c_<cp>.nls (cp must be in CODE_PAGE_FILES); NoCodecError without conversion data."""
    codec = codec_name(cp)
    try:
        codecs.lookup(codec)
    except LookupError:
        raise NoCodecError(f"code page {cp}") from None
    leads = DBCS_LEAD_RANGES.get(cp, ())
    is_lead = [any(a <= b <= z for a, z in leads) for b in range(256)]
    dbcs = bool(leads)
    default = "?".encode(codec)[0]              # 0x6F in the EBCDIC code pages
    uni_default = 0x30FB if cp == 932 else 0x3F
    # the multi-byte table: an undefined single byte is the code point of the same value (Windows 1252's five
    # holes are the C1 controls), in a double-byte code page the Unicode default character
    mb = []
    for b in range(256):
        if is_lead[b]:
            mb.append(0)
            continue
        u = _decode1(bytes((b,)), codec)
        mb.append(u if u is not None else (uni_default if dbcs else b))
    # the wide-char table: exact reverse first, then best fits, then the default character
    wc = [None] * 0x10000
    for b in range(255, -1, -1):            # the lowest byte wins where two bytes give one character
        if not is_lead[b]:
            u = mb[b]
            if dbcs and u == uni_default and _decode1(bytes((b,)), codec) is None:
                continue
            if wc[u] is None or b < wc[u]:
                wc[u] = b
    dbcs_tables: list[list[int]] = []
    lead_order = [b for b in range(256) if is_lead[b]]
    for lead in lead_order:
        row = []
        for trail in range(256):
            u = _decode1(bytes((lead, trail)), codec) if trail else None
            row.append(uni_default if u is None else u)
            if u is not None and wc[u] is None:
                wc[u] = lead << 8 | trail
        dbcs_tables.append(row)
    default_code = default
    if not dbcs:                            # best fits, as WideCharToMultiByte makes them (single-byte only)
        rev = _BEST_FIT_REV.setdefault(cp, {chr(u): v for u, v in enumerate(wc) if v is not None})
        for u in range(0x10000):
            if wc[u] is None and not 0xD800 <= u <= 0xDFFF:
                wc[u] = best_fit(chr(u), rev)
    wc = [default_code if v is None else v for v in wc]
    trans_default = wc[uni_default]
    trans_uni_default = mb[default] if default < 256 else uni_default
    lead_bytes = bytearray(12)
    for i, (a, z) in enumerate(leads):
        lead_bytes[2 * i], lead_bytes[2 * i + 1] = a, z
    words = [HEADER_WORDS, cp, 2 if dbcs else 1, default, uni_default, trans_default, trans_uni_default]
    head = struct.pack("<7H", *words) + bytes(lead_bytes)
    body = [*mb]
    if cp in OEM_CODE_PAGES:
        glyphs = list(mb)
        for i, ch in enumerate(_PC_GLYPHS, 1):
            glyphs[i] = ord(ch)
        glyphs[0x7F] = ord(_PC_GLYPH_7F)
        body += [256, *glyphs]
    else:
        body.append(0)
    body.append(len(leads))                 # the DBCS word
    if dbcs:
        offsets = [0] * 256
        for i, lead in enumerate(lead_order):
            offsets[lead] = 256 + 256 * i
        body += offsets
        for row in dbcs_tables:
            body += row
    body.append(0)                          # the word before the wide-char table
    mb_part = struct.pack(f"<{len(body)}H", *body)
    wc_part = struct.pack("<65536H", *wc) if dbcs else bytes(wc)
    return head + struct.pack("<H", len(body)) + mb_part + wc_part


def upcase_unit(u: int) -> int:
    """The simple one-to-one upper-case mapping of l_intl.nls (RtlUpcaseUnicodeChar's); a title-case letter
    (U+01C5 "Dz") maps to itself both ways, a unit whose upper case is longer (U+01F0) to itself."""
    if 0xD800 <= u <= 0xDFFF or unicodedata.category(chr(u)) == "Lt":
        return u
    up = chr(u).upper()
    return ord(up) if len(up) == 1 and ord(up) < 0x10000 else u


def downcase_unit(u: int) -> int:
    if 0xD800 <= u <= 0xDFFF or unicodedata.category(chr(u)) == "Lt":
        return u
    lo = chr(u).lower()
    return ord(lo) if len(lo) == 1 and ord(lo) < 0x10000 else u


def _three_level(fn) -> list[int]:
    """A case table: 256 first-level words, shared 16-word second-level blocks, shared 16-word delta blocks."""
    return _three_level_values([(fn(u) - u) & 0xFFFF for u in range(0x10000)])


def _three_level_values(deltas: list[int]) -> list[int]:
    """Values of the units (or code points) 0..len-1 as table[table[table[u >> 8] + (u >> 4 & 15)] + (u & 15)]."""
    level3: dict[tuple, int] = {}
    level2: dict[tuple, int] = {}
    l3_blocks: list[tuple] = []
    l2_blocks: list[tuple] = []
    l2_of_high = []
    for hi in range(len(deltas) >> 8):
        l2 = []
        for mid in range(16):
            start = hi << 8 | mid << 4
            block = tuple(deltas[start:start + 16])
            if block not in level3:
                level3[block] = len(l3_blocks)
                l3_blocks.append(block)
            l2.append(level3[block])
        key = tuple(l2)
        if key not in level2:
            level2[key] = len(l2_blocks)
            l2_blocks.append(key)
        l2_of_high.append(level2[key])
    l2_base = len(deltas) >> 8
    l3_base = l2_base + 16 * len(l2_blocks)
    table = [l2_base + 16 * i for i in l2_of_high]
    for block in l2_blocks:
        table += [l3_base + 16 * i for i in block]
    for block in l3_blocks:
        table += block
    return table


@functools.lru_cache(maxsize=1)
def casemap_file() -> bytes:
    """The bytes of l_intl.nls."""
    upper = _three_level(upcase_unit)
    lower = _three_level(downcase_unit)
    words = [1, len(upper) + 1, *upper, len(lower) + 1, *lower]
    return struct.pack(f"<{len(words)}H", *words)


# ===================================================================== normalization (section type 12)
#: SectionData of type 12: the NORM_FORM values (NormalizationC 1, D 2, KC 5, KD 6) and 13, the IDNA tables
NORMALIZATION_FILES = {1: ("normnfc.nls", "NFC"), 2: ("normnfd.nls", "NFD"), 5: ("normnfkc.nls", "NFKC"),
                       6: ("normnfkd.nls", "NFKD"), 13: ("normidna.nls", "NFKC")}
_NORM_HEADER = 0x46            # bytes: name[13], checksum[3], version[4], form, 15 words of sizes and offsets


@functools.lru_cache(maxsize=5)
def normalization_file(form: int) -> bytes:
    """The bytes of a normalization file. The header has the layout of Windows's: the file name (13 WCHARs),
    three checksum words (0 here), the Unicode version (four words: major, minor, update, 0), the form, then
    words of sizes and word offsets of the tables: a length factor (how many times longer a decomposition can
    make a string: 3 canonical, 18 compatibility), 0, the number of decompositions, of compositions, 0, and
    the offsets of the combining classes, the character properties (two levels), the decompositions (index,
    map, sequences) and the compositions (index, map, sequences). The tables are winhatch's own encoding of
    the data (Python's unicodedata, the same winhatch's NormalizeString applies): combining classes and the
    quick-check property (0x100: the character is not in the form) of every code point in a three-level table
    as the case map's (0x1100 first-level words); the decompositions as a sorted list of (code point as two
    words, offset of its sequence) with the sequences as (length, UTF-16 units); the compositions as a sorted
    list of (first, second, composed), each code point two words. The Hangul syllables are composed and
    decomposed by rule, as Unicode defines them: no table holds them."""
    fname, nf = NORMALIZATION_FILES[form]
    compat = nf.startswith("NFK")
    composes = nf in ("NFC", "NFKC")
    decomp: list[tuple[int, list[int]]] = []
    comps: list[tuple[int, int, int]] = []
    for u in range(0x110000):
        if 0xD800 <= u <= 0xDFFF or 0xAC00 <= u <= 0xD7A3:   # Hangul syllables: algorithmic, not in tables
            continue
        ch = chr(u)
        d = unicodedata.normalize("NFKD" if compat else "NFD", ch)
        if d != ch:
            decomp.append((u, list(struct.unpack(f"<{len(d.encode('utf-16-le')) // 2}H", d.encode("utf-16-le")))))
        if composes:
            canon = unicodedata.normalize("NFD", ch)
            if len(canon) == 2 and unicodedata.normalize("NFC", canon) == ch:
                comps.append((ord(canon[0]), ord(canon[1]), u))

    def prop(u: int) -> int:
        if 0xD800 <= u <= 0xDFFF:
            return 0
        ch = chr(u)
        quick = 0 if unicodedata.is_normalized(nf, ch) else 0x100
        return unicodedata.combining(ch) | quick

    classes = _three_level_values([prop(u) for u in range(0x110000)])
    seq_words: list[int] = []
    index: list[int] = []
    for u, units in decomp:
        index += [u & 0xFFFF, u >> 16, len(seq_words)]
        seq_words += [len(units), *units]
    comp_words = [w for a, b, r in sorted(comps) for w in (a & 0xFFFF, a >> 16, b & 0xFFFF, b >> 16,
                                                         r & 0xFFFF, r >> 16)]
    words_at = _NORM_HEADER // 2
    off_classes = words_at
    off_decomp_index = off_classes + len(classes)
    off_decomp_seq = off_decomp_index + len(index)
    off_comp = off_decomp_seq + len(seq_words)
    ver = unicodedata.unidata_version.split(".")
    header = fname.encode("utf-16-le").ljust(26, b"\0") + bytes(6)
    header += struct.pack("<4H", int(ver[0]), int(ver[1]), int(ver[2]), 0)
    header += struct.pack("<15H", form, 18 if compat else 3, 0, len(decomp), len(comps), 0,
                          off_classes, off_classes, off_classes, off_decomp_index, off_decomp_index,
                          off_decomp_seq, off_comp, off_comp, off_comp)
    assert len(header) == _NORM_HEADER
    body = classes + index + seq_words + comp_words
    return header + struct.pack(f"<{len(body)}H", *body)


# ---------------------------------------------------------------------------------------------- locale.nls
#: the magic that starts the locale table of locale.nls ("NSDS" read as a little-endian DWORD)
LOCALE_TABLE_MAGIC = 0x5344534E
#: the file header: its own size, three reserved DWORDs, then the offsets of the locale table, the character
#: maps, the geographical data and the scripts
LOCALE_HEADER_SIZE = 0x20


def locale_file() -> bytes:
    """locale.nls as NtInitializeNlsFiles maps it, in Windows 10's layout: the file header (LOCALE_HEADER_SIZE),
    whose DWORD 4 is the offset of the locale table; the locale table starts { DWORD 8 (the offset of its
    entries' index from the table), DWORD 0, DWORD the number of locales, DWORD LOCALE_TABLE_MAGIC }. The tables
    are empty: winhatch's locale functions are handlers with their own data (winhatch.kernel.ex.locale_data),
    not readers of this file, so no entry is made up here."""
    locales = LOCALE_HEADER_SIZE
    table = struct.pack("<4I", 8, 0, 0, LOCALE_TABLE_MAGIC)
    charmaps = geoids = scripts = locales + len(table)
    header = struct.pack("<8I", LOCALE_HEADER_SIZE, 0, 0, 0, locales, charmaps, geoids, scripts)
    return header + table
