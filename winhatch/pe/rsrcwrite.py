"""Writing resources: a resource directory tree (.rsrc) from (type, name, language) → data, a VS_VERSIONINFO
block, and rewriting a PE file's resource section (what EndUpdateResource does).

The tree is laid out as link.exe / cvtres lay it out (directory tables version 4.0, no time stamp) (and as the PE/COFF specification describes the
.rsrc section): every directory table first (root, then the type level, then the name level), then the
data entries (IMAGE_RESOURCE_DATA_ENTRY), then the names (length-prefixed UTF-16), then the data, each
blob aligned to 8 bytes. Named entries come before id entries at each level, names in case-insensitive
order, ids in ascending order (the order the loader's binary search relies on).

``replace_resources`` rewrites a file: the new tree goes where the old .rsrc section was when that section is
the last one (or is followed only by .reloc, which is moved after it: its contents are not position
dependent); otherwise it is appended as a new .rsrc section. SizeOfImage, SizeOfInitializedData, the resource
directory and (when the file had one) the checksum are updated; a certificate table is dropped, as the
signature no longer matches. Data past the last section that is not the certificate table is kept after the
new last section (the COFF symbol table pointer follows it).
"""
from __future__ import annotations

import struct

from .errors import PEFormatError

Key = "int | str"
_DIR_HDR = struct.Struct("<IIHHHH")
_ENTRY = struct.Struct("<II")
_DATA = struct.Struct("<IIII")
_SECTION = struct.Struct("<8sIIIIIIHHI")
IMAGE_SCN_CNT_INITIALIZED_DATA = 0x40
IMAGE_SCN_MEM_READ = 0x40000000
DIR_RESOURCE, DIR_SECURITY, DIR_BASERELOC = 2, 4, 5


def _align(v: int, a: int) -> int:
    return (v + a - 1) & ~(a - 1)


def _sort_keys(keys) -> list:
    names = sorted((k for k in keys if isinstance(k, str)), key=lambda s: s.upper())
    ids = sorted(k for k in keys if not isinstance(k, str))
    return names + ids


def build_resource_tree(leaves: dict[tuple, tuple[bytes, int]], rva: int) -> bytes:
    """The .rsrc bytes for ``{(type, name, language): (data, codepage)}`` placed at ``rva`` (data entries hold
    RVAs). Types and names are ints (ids) or str (names); languages are ints."""
    tree: dict = {}
    for (t, n, lang), v in leaves.items():
        if not isinstance(lang, int):
            raise PEFormatError(f"resource language {lang!r} is not a number")
        tree.setdefault(t, {}).setdefault(n, {})[lang] = v
    # directory tables: root, types, then the name directories of each type
    dirs: list[tuple[str, tuple, list]] = []     # (level, path, sorted keys)
    dirs.append(("root", (), _sort_keys(tree)))
    for t in dirs[0][2]:
        dirs.append(("type", (t,), _sort_keys(tree[t])))
    for t in dirs[0][2]:
        for n in _sort_keys(tree[t]):
            dirs.append(("name", (t, n), sorted(tree[t][n])))
    dir_off: dict[tuple, int] = {}
    off = 0
    for _lvl, path, keys in dirs:
        dir_off[path] = off
        off += 16 + 8 * len(keys)
    data_entry_off: dict[tuple, int] = {}
    for _lvl, path, keys in dirs:
        if _lvl == "name":
            for lang in keys:
                data_entry_off[path + (lang,)] = off
                off += 16
    name_off: dict[str, int] = {}
    names_blob = bytearray()
    names_start = off
    for _lvl, path, keys in dirs:
        for k in keys:
            if isinstance(k, str) and k not in name_off:
                enc = k.encode("utf-16-le")
                if len(enc) // 2 > 0xFFFF:
                    raise PEFormatError("resource name too long")
                name_off[k] = names_start + len(names_blob)
                names_blob += struct.pack("<H", len(enc) // 2) + enc
    off = _align(names_start + len(names_blob), 8)
    data_off: dict[tuple, int] = {}
    for path in data_entry_off:
        data_off[path] = off
        off = _align(off + len(tree[path[0]][path[1]][path[2]][0]), 8)
    out = bytearray(off)
    for lvl, path, keys in dirs:
        o = dir_off[path]
        nnamed = sum(isinstance(k, str) for k in keys)
        _DIR_HDR.pack_into(out, o, 0, 0, 4, 0, nnamed, len(keys) - nnamed)     # version 4.0, as Windows writes
        for i, k in enumerate(keys):
            name_field = (0x80000000 | name_off[k]) if isinstance(k, str) else (k & 0xFFFF)
            if lvl == "name":
                target = data_entry_off[path + (k,)]
            else:
                target = 0x80000000 | dir_off[path + (k,)]
            _ENTRY.pack_into(out, o + 16 + 8 * i, name_field, target)
    out[names_start:names_start + len(names_blob)] = names_blob
    for path, eo in data_entry_off.items():
        data, cp = tree[path[0]][path[1]][path[2]]
        _DATA.pack_into(out, eo, rva + data_off[path], len(data), cp, 0)
        out[data_off[path]:data_off[path] + len(data)] = data
    return bytes(out)


# --- VS_VERSIONINFO ---------------------------------------------------------------------------------
def _vblock(key: str, value: bytes, vtype: int, value_len: int, children: bytes = b"") -> bytes:
    hdr_key = key.encode("utf-16-le") + b"\0\0"
    body = bytearray(6) + hdr_key
    body += bytes(_align(len(body), 4) - len(body))
    if value:
        body += value
        body += bytes(_align(len(body), 4) - len(body))
    body += children
    struct.pack_into("<HHH", body, 0, len(body), value_len, vtype)
    return bytes(body)


def build_version_info(*, file_version: tuple[int, int, int, int], product_version: tuple[int, int, int, int],
                       strings: dict[str, str], lang: int = 0x0409, codepage: int = 1200,
                       file_flags_mask: int = 0x3F, file_flags: int = 0, file_os: int = 0x40004,
                       file_type: int = 2, file_subtype: int = 0) -> bytes:
    """A VS_VERSIONINFO resource (the 32-bit, UTF-16 form rc.exe writes): VS_FIXEDFILEINFO, one string
    table for lang/codepage, and VarFileInfo\\Translation."""
    fv, pv = file_version, product_version
    fixed = struct.pack("<13I", 0xFEEF04BD, 0x00010000, (fv[0] << 16) | fv[1], (fv[2] << 16) | fv[3],
                        (pv[0] << 16) | pv[1], (pv[2] << 16) | pv[3], file_flags_mask, file_flags, file_os,
                        file_type, file_subtype, 0, 0)
    table = b""
    for k, v in strings.items():
        b = _vblock(k, v.encode("utf-16-le") + b"\0\0", 1, len(v) + 1)
        table += b + bytes(_align(len(b), 4) - len(b))
    st = _vblock(f"{lang:04x}{codepage:04x}", b"", 1, 0, table)
    sfi = _vblock("StringFileInfo", b"", 1, 0, st + bytes(_align(len(st), 4) - len(st)))
    tr = _vblock("Translation", struct.pack("<HH", lang, codepage), 0, 4)
    vfi = _vblock("VarFileInfo", b"", 1, 0, tr)
    return _vblock("VS_VERSION_INFO", fixed, 0, len(fixed),
                   sfi + bytes(_align(len(sfi), 4) - len(sfi)) + vfi)


# --- rewriting a file's resources ------------------------------------------------------------------
def replace_resources(data: bytes, leaves: dict[tuple, tuple[bytes, int]]) -> bytes:
    """The PE file ``data`` with its resource tree replaced by ``leaves`` (empty: a root directory without
    entries, as Windows leaves it).

    As EndUpdateResource does on Windows (Vista and later): the section that holds the resource directory is
    reused, the tree written at its start and the section sized to the tree (file-aligned; trimmed or grown);
    the sections after it move by the change (their file offsets and RVAs, and the data directories that point
    into them). A file without a resource section gets a new .rsrc section after the last one."""
    from .image import PEFile
    pe = PEFile(bytes(data))
    buf = bytearray(data)
    opt = pe.optional_header
    sa, fa = opt.SectionAlignment, opt.FileAlignment
    if not sa or not fa or fa & (fa - 1) or sa & (sa - 1):
        raise PEFormatError("bad section or file alignment")
    secs = list(pe.sections)
    if not secs:
        raise PEFormatError("an image without sections cannot take a resource section")
    res_rva = pe.data_directories[DIR_RESOURCE][0]
    cert = pe.certificate
    order = sorted(secs, key=lambda s: s.virtual_address)
    rsrc_idx = next((i for i, s in enumerate(order)
                     if res_rva and s.virtual_address <= res_rva < s.virtual_address + max(s.virtual_size,
                                                                                            s.raw_size)), None)
    raw_end = max((s.raw_pointer + s.raw_size for s in secs if s.raw_size), default=opt.SizeOfHeaders)
    overlay = bytes(buf[raw_end:])
    if cert is not None and cert[0] >= raw_end:
        co = cert[0] - raw_end
        overlay = overlay[:co] + overlay[co + cert[1]:]

    def span(s) -> int:
        return _align(max(s.virtual_size, s.raw_size, 1), sa)

    # the layout: (header offset or None for a new header, name, vsize, rva, raw size, raw ptr, chars, bytes)
    layout: list[list] = []
    if rsrc_idx is None:
        before, rs, after = order, None, []
        rva = _align(max(s.virtual_address + span(s) for s in order), sa)
        raw_ptr = _align(max((s.raw_pointer + s.raw_size for s in order if s.raw_size),
                             default=opt.SizeOfHeaders), fa)
        chars = IMAGE_SCN_CNT_INITIALIZED_DATA | IMAGE_SCN_MEM_READ
        name, hdr = b".rsrc\0\0\0", None
        old_rva_end = rva
    else:
        before, rs, after = order[:rsrc_idx], order[rsrc_idx], order[rsrc_idx + 1:]
        rva, raw_ptr, chars, name, hdr = rs.virtual_address, rs.raw_pointer, rs.characteristics, rs.raw_name, \
            rs.header_offset
        if not raw_ptr:
            raw_ptr = _align(max((s.raw_pointer + s.raw_size for s in before if s.raw_size),
                                 default=opt.SizeOfHeaders), fa)
        old_rva_end = rva + span(rs)
    for s in before:
        layout.append([s.header_offset, s.raw_name, s.virtual_size, s.virtual_address, s.raw_size, s.raw_pointer,
                       s.characteristics, None])
    tree = build_resource_tree(leaves, rva)
    raw = tree + bytes(_align(len(tree), fa) - len(tree))
    layout.append([hdr, name, len(raw), rva, len(raw), raw_ptr, chars, raw])
    next_rva = _align(rva + len(raw), sa)
    next_raw = raw_ptr + len(raw)
    dv = next_rva - old_rva_end                     # how far the following sections move
    moved: list[tuple[int, int, int]] = []          # (old rva, old end, delta) of each moved section
    for s in after:
        body = bytes(buf[s.raw_pointer:s.raw_pointer + s.raw_size]) if s.raw_size else b""
        new_rva = s.virtual_address + dv
        layout.append([s.header_offset, s.raw_name, s.virtual_size, new_rva, len(body),
                       next_raw if body else 0, s.characteristics, body])
        moved.append((s.virtual_address, s.virtual_address + span(s), dv))
        next_raw += _align(len(body), fa) if body else 0
        next_rva = max(next_rva, _align(new_rva + span(s), sa))
    # section headers, in their original order (a new one last)
    hdr_base = pe.file_header.offset + 20 + pe.file_header.SizeOfOptionalHeader
    count = len(layout)
    first_raw = min((s.raw_pointer for s in secs if s.raw_pointer), default=opt.SizeOfHeaders)
    if hdr_base + 40 * count > first_raw:
        raise PEFormatError("no room for another section header")
    hdrs = bytearray()
    for entry in sorted(layout, key=lambda e: (e[0] is None, e[0] or 0)):
        hoff, nm, vsize, srva, rsize, rptr, ch, _body = entry
        if hoff is not None:
            old = bytearray(buf[hoff:hoff + 40])
            struct.pack_into("<IIII", old, 8, vsize, srva, rsize, rptr)
            hdrs += old
        else:
            hdrs += _SECTION.pack(nm, vsize, srva, rsize, rptr, 0, 0, 0, 0, ch)
    old_count = pe.file_header.NumberOfSections
    buf[hdr_base:hdr_base + 40 * max(old_count, count)] = hdrs + bytes(40 * max(old_count, count) - len(hdrs))
    struct.pack_into("<H", buf, pe.file_header.offset + 2, count)
    # the file body: everything before the resource section's data, then the rewritten sections, the overlay
    out = bytearray(buf[:raw_ptr])
    if len(out) < raw_ptr:
        out += bytes(raw_ptr - len(out))
    for entry in layout:
        body, rptr = entry[7], entry[5]
        if body is None or not body:
            continue
        if len(out) < rptr:
            out += bytes(rptr - len(out))
        out[rptr:rptr + len(body)] = body
    if len(out) < next_raw:
        out += bytes(next_raw - len(out))
    overlay_at = len(out)
    out += overlay
    sym = pe.file_header.PointerToSymbolTable
    if sym >= raw_end and not (cert is not None and cert[0] <= sym < cert[0] + cert[1]):
        moved_sym = sym - raw_end - (cert[1] if cert is not None and cert[0] >= raw_end and cert[0] < sym else 0)
        struct.pack_into("<I", out, pe.file_header.offset + 8, overlay_at + moved_sym)
    oo = opt.offset
    struct.pack_into("<I", out, oo + 56, next_rva)                     # SizeOfImage
    init = sum(_align(e[4], fa) for e in layout if e[6] & IMAGE_SCN_CNT_INITIALIZED_DATA)
    struct.pack_into("<I", out, oo + 8, init)                          # SizeOfInitializedData
    dd = oo + (112 if pe.is_pe32_plus else 96)
    ndirs = opt.NumberOfRvaAndSizes
    if ndirs <= DIR_RESOURCE:
        raise PEFormatError("the optional header has no resource directory entry")
    for i in range(min(ndirs, 16)):
        if i in (DIR_RESOURCE, DIR_SECURITY):
            continue
        drva, dsize = struct.unpack_from("<II", out, dd + 8 * i)
        for lo, hi, delta in moved:
            if drva and lo <= drva < hi:
                struct.pack_into("<I", out, dd + 8 * i, drva + delta)
                break
    struct.pack_into("<II", out, dd + 8 * DIR_RESOURCE, rva, len(tree))
    if ndirs > DIR_SECURITY and cert is not None:
        struct.pack_into("<II", out, dd + 8 * DIR_SECURITY, 0, 0)
    if opt.CheckSum:
        struct.pack_into("<I", out, oo + 64, 0)
        struct.pack_into("<I", out, oo + 64, PEFile(bytes(out)).compute_checksum())
    return bytes(out)
