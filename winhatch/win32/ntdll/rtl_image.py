"""RtlFindExportedRoutineByName: an export of an image in memory by name, from its export directory (a binary
search of the sorted name table, as the loader does), for any mapped image — a module the loader never saw too
(a view of an image section).  A forwarder is no routine: NULL."""
from __future__ import annotations

from winhatch.win32.api import api
from winhatch.win32.ntdll.ldr import _nt_header

NT = "ntdll.dll"
MAX_NAME = 4096


def _cstr(c, addr: int) -> bytes | None:
    if not c.proc.aspace.accessible(addr, 1, False):
        return None
    out = bytearray()
    while len(out) < MAX_NAME:
        chunk = c.read(addr + len(out), 64) if c.proc.aspace.accessible(addr + len(out), 64, False) \
            else c.read(addr + len(out), 1)
        i = chunk.find(b"\0")
        if i >= 0:
            return bytes(out + chunk[:i])
        out += chunk
    return bytes(out)


def find_export(c, base: int, name: bytes) -> int:
    st, nt = _nt_header(c, base, None)
    if st:
        return 0
    opt = nt + 0x18
    magic = int.from_bytes(c.read(opt, 2), "little")
    dd = opt + (0x70 if magic == 0x20B else 0x60)
    rva, size = int.from_bytes(c.read(dd, 4), "little"), int.from_bytes(c.read(dd + 4, 4), "little")
    if not rva or not size:
        return 0
    ed = c.read(base + rva, 40)
    nfuncs, nnames = int.from_bytes(ed[20:24], "little"), int.from_bytes(ed[24:28], "little")
    funcs, names, ords = (int.from_bytes(ed[k:k + 4], "little") for k in (28, 32, 36))
    lo, hi = 0, min(nnames, 1 << 20)
    while lo < hi:   # the name table is sorted: at most ~20 steps
        mid = (lo + hi) // 2
        s = _cstr(c, base + int.from_bytes(c.read(base + names + 4 * mid, 4), "little"))
        if s is None:
            return 0
        if s == name:
            ordinal = int.from_bytes(c.read(base + ords + 2 * mid, 2), "little")
            if ordinal >= nfuncs:
                return 0
            frva = int.from_bytes(c.read(base + funcs + 4 * ordinal, 4), "little")
            if not frva or rva <= frva < rva + size:   # none, or a forwarder string
                return 0
            return base + frva
        if s < name:
            lo = mid + 1
        else:
            hi = mid
    return 0


@api(NT, "PVOID NTAPI RtlFindExportedRoutineByName(PVOID BaseOfImage, PVOID RoutineName)")
def RtlFindExportedRoutineByName(c, base, name):
    wanted = _cstr(c, name) if name else None
    if wanted is None:
        return 0
    return find_export(c, base, wanted)


IMAGE_REL_BASED_ABSOLUTE, IMAGE_REL_BASED_HIGH, IMAGE_REL_BASED_LOW = 0, 1, 2
IMAGE_REL_BASED_HIGHLOW, IMAGE_REL_BASED_HIGHADJ, IMAGE_REL_BASED_DIR64 = 3, 4, 10


@api(NT, "PIMAGE_BASE_RELOCATION NTAPI LdrProcessRelocationBlock(ULONG_PTR VA, ULONG SizeOfBlock, PUSHORT NextOffset, "
         "LONG_PTR Diff)")
def LdrProcessRelocationBlock(c, va, count, entries, diff):
    """Apply `count` base-relocation entries (type << 12 | offset) to the page at `va`, adding `diff`; returns the
    address after the entries (the next IMAGE_BASE_RELOCATION), NULL at an entry type it cannot apply."""
    count &= 0xFFFFFFFF
    if count > 0x800:   # a block covers one 4 KiB page: at most 2048 entries
        return 0
    ps = c.ptr_size
    mask = (1 << 8 * ps) - 1
    raw = c.read(entries, 2 * count) if count else b""
    i = 0
    while i < count:
        e = int.from_bytes(raw[2 * i:2 * i + 2], "little")
        kind, addr = e >> 12, (va + (e & 0xFFF)) & mask
        if kind == IMAGE_REL_BASED_HIGHLOW:
            c.write_u32(addr, (c.u32(addr) + diff) & 0xFFFFFFFF)
        elif kind == IMAGE_REL_BASED_DIR64:
            v = int.from_bytes(c.read(addr, 8), "little")
            c.write(addr, ((v + diff) & 0xFFFFFFFFFFFFFFFF).to_bytes(8, "little"))
        elif kind == IMAGE_REL_BASED_HIGH:
            v = int.from_bytes(c.read(addr, 2), "little")
            c.write(addr, ((v + (diff >> 16)) & 0xFFFF).to_bytes(2, "little"))
        elif kind == IMAGE_REL_BASED_LOW:
            v = int.from_bytes(c.read(addr, 2), "little")
            c.write(addr, ((v + diff) & 0xFFFF).to_bytes(2, "little"))
        elif kind != IMAGE_REL_BASED_ABSOLUTE:
            return 0
        i += 1
    return (entries + 2 * count) & mask
