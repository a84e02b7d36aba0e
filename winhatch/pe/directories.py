"""Data-directory parsers: imports, delay imports, bound imports, exports, base relocations, TLS, debug/PDB,
load config, exception table, the CLR (.NET) header, Rich header and the image checksum.

Every loop driven by file data is bounded by the directory size, the image extent or an explicit cap, and every
malformation raises PEFormatError.
"""
from __future__ import annotations

import struct
import sys
from array import array
from bisect import bisect_left
from itertools import accumulate, count
from operator import add
from typing import TYPE_CHECKING, NamedTuple

from .constants import (IMAGE_DEBUG_TYPE_CODEVIEW, IMAGE_FILE_MACHINE_AMD64, IMAGE_REL_BASED_ABSOLUTE,
                        IMAGE_REL_BASED_DIR64, IMAGE_REL_BASED_HIGH, IMAGE_REL_BASED_HIGHADJ,
                        IMAGE_REL_BASED_HIGHLOW, IMAGE_REL_BASED_LOW, RELOC_TYPE_NAMES)
from .errors import PEFormatError

if TYPE_CHECKING:
    from .image import PEFile

_IMPORT_DESC = struct.Struct("<IIIII")
_DELAY_DESC = struct.Struct("<IIIIIIII")
_EXPORT_DIR = struct.Struct("<IIHHIIIIIII")
_U16 = struct.Struct("<H")
_U32 = struct.Struct("<I")
_U64 = struct.Struct("<Q")

_SWAP = sys.byteorder != "little"
MAX_IMPORT_DESCRIPTORS = 0x10000
MAX_THUNKS = 0x100000          # per table, and in total over one directory
MAX_NAME_BYTES = 0x4000000     # total name bytes one directory may make the parser read (64 MiB)
MAX_EXPORT_FUNCTIONS = 0x10000   # an ordinal is 16 bits: a larger table cannot be addressed
MAX_EXPORT_NAMES = 0x100000
MAX_TLS_CALLBACKS = 0x10000
MAX_RELOC_BLOCK = 8 + 2 * 0x2000   # one page: 4096 offsets (+ HIGHADJ parameters)
MAX_EXCEPTION_ENTRIES = 0x100000
MAX_DEBUG_ENTRIES = 0x1000


def _name(pe: "PEFile", rva: int, what: str) -> str:
    if rva >= pe.extent:
        raise PEFormatError(f"{what} name RVA 0x{rva:x} outside the image")
    return pe.read_cstring_rva(rva).decode("latin-1")


# --- imports ---------------------------------------------------------------------------------------
class ImportEntry(NamedTuple):
    name: str | None
    ordinal: int | None
    hint: int | None
    iat_rva: int
    thunk_rva: int


class ImportDescriptor:
    __slots__ = ("dll", "functions", "original_first_thunk", "first_thunk", "timestamp", "forwarder_chain",
                 "name_rva", "rva")

    def __init__(self, dll, functions, oft, ft, ts, fwd, name_rva, rva):
        self.dll, self.functions, self.original_first_thunk, self.first_thunk = dll, functions, oft, ft
        self.timestamp, self.forwarder_chain, self.name_rva, self.rva = ts, fwd, name_rva, rva

    def __repr__(self) -> str:
        return f"ImportDescriptor({self.dll!r}, {len(self.functions)} functions, iat=0x{self.first_thunk:x})"


class DelayImportDescriptor(ImportDescriptor):
    __slots__ = ("attributes", "module_handle_rva", "bound_iat_rva", "unload_iat_rva")

    @property
    def import_name_table_rva(self) -> int:
        return self.original_first_thunk

    @property
    def iat_rva(self) -> int:
        return self.first_thunk


def _read_pointer_table(pe: "PEFile", rva: int) -> list[int]:
    """The non-zero pointers of a zero-terminated table at rva (bounded by MAX_THUNKS and the image)."""
    ptr = pe.ptr_size
    code = "Q" if ptr == 8 else "I"
    off, avail = pe._span(rva) if rva < pe.extent else (0, 0)
    if avail >= ptr:
        n = min(avail // ptr, MAX_THUNKS)
        k = 64
        while True:
            k = min(k, n)
            a = array(code)
            a.frombytes(pe._buf[off:off + k * ptr])
            if _SWAP:
                a.byteswap()
            try:
                return a[:a.index(0)].tolist()
            except ValueError:
                if k == n:
                    break
                k *= 8
        out = a.tolist()
        rva += k * ptr
    else:
        out = []
    # the table continues into zero fill or another region: element by element
    extent = pe.extent
    while len(out) < MAX_THUNKS:
        if rva + ptr > extent:
            raise PEFormatError(f"pointer table at RVA 0x{rva:x} runs past the image")
        v = pe.read_ptr(rva)
        if v == 0:
            return out
        out.append(v)
        rva += ptr
    raise PEFormatError(f"pointer table at RVA 0x{rva:x} has more than {MAX_THUNKS} entries")


class _Budget:
    """Caps the total work one directory can cause (tables may be shared by many descriptors)."""
    __slots__ = ("entries", "name_bytes")

    def __init__(self):
        self.entries = MAX_THUNKS
        self.name_bytes = MAX_NAME_BYTES

    def spend(self, entries: int, name_bytes: int = 0) -> None:
        self.entries -= entries
        self.name_bytes -= name_bytes
        if self.entries < 0 or self.name_bytes < 0:
            raise PEFormatError(f"directory describes more than {MAX_THUNKS} entries or {MAX_NAME_BYTES} "
                                f"bytes of names")


def _thunks(pe: "PEFile", table_rva: int, iat_rva: int, va_bias: int = 0,
            budget: _Budget | None = None) -> list[ImportEntry]:
    """Walk an import lookup table (or the IAT when there is none) up to its zero terminator.

    va_bias: subtracted from by-name thunks (old-style delay-import tables hold VAs)."""
    values = _read_pointer_table(pe, table_rva)
    if budget is not None:
        budget.spend(len(values))
    name_bytes = 0
    ptr = pe.ptr_size
    flag = 1 << 63 if ptr == 8 else 1 << 31
    mask = 0xFFFFFFFFFFFFFFFF if ptr == 8 else 0x7FFFFFFF
    buf = pe._buf
    find = buf.find
    u16 = _U16.unpack_from
    new = tuple.__new__
    extent = pe.extent
    va = vend = roff = rlen = 0
    out = []
    append = out.append
    for i, v in enumerate(values):
        if v & flag:
            append(new(ImportEntry, (None, v & 0xFFFF, None, iat_rva + i * ptr, table_rva + i * ptr)))
            continue
        nrva = (v & mask) - va_bias
        d = nrva - va
        if not (0 <= d and d + 3 <= rlen):
            if not 0 <= nrva < extent - 2:
                raise PEFormatError(f"import name RVA 0x{nrva:x} outside the image",
                                    pe.rva_to_offset(table_rva + i * ptr))
            pe._span(nrva)
            va, vend, roff, rlen = pe._last_region
            d = nrva - va
        if 0 <= d and d + 3 <= rlen:
            o = roff + d
            end = find(b"\0", o + 2, roff + min(rlen, d + 0x10000))
            if end >= 0:
                name_bytes += end - o
                append(new(ImportEntry, (buf[o + 2:end].decode("latin-1"), None, u16(buf, o)[0],
                                         iat_rva + i * ptr, table_rva + i * ptr)))
                continue
        hint = _U16.unpack(pe.read_rva(nrva, 2))[0]
        name = pe.read_cstring_rva(nrva + 2)
        name_bytes += len(name) + 3
        append(ImportEntry(name.decode("latin-1"), None, hint, iat_rva + i * ptr, table_rva + i * ptr))
    if budget is not None:
        budget.spend(0, name_bytes)
    return out


def parse_imports(pe: "PEFile", directory) -> list[ImportDescriptor]:
    rva = directory.rva
    if rva == 0:
        return []
    out = []
    extent = pe.extent
    budget = _Budget()
    for i in range(MAX_IMPORT_DESCRIPTORS):
        drva = rva + 20 * i
        if drva + 20 > extent:
            raise PEFormatError(f"import directory at RVA 0x{rva:x} runs past the image", pe.rva_to_offset(rva))
        oft, ts, fwd, name_rva, ft = _IMPORT_DESC.unpack(pe.read_rva(drva, 20))
        # the loader stops at the first descriptor without a name or an IAT
        if name_rva == 0 or ft == 0:
            return out
        dll = _name(pe, name_rva, "import DLL")
        budget.spend(1, len(dll))
        funcs = _thunks(pe, oft or ft, ft, 0, budget)
        out.append(ImportDescriptor(dll, funcs, oft, ft, ts, fwd, name_rva, drva))
    raise PEFormatError(f"import directory has more than {MAX_IMPORT_DESCRIPTORS} descriptors")


def parse_delay_imports(pe: "PEFile", directory) -> list[DelayImportDescriptor]:
    """Delay-load descriptors up to one whose DllNameRVA is 0, or as many as the directory's size holds (the
    delay-load helper never walks the table, so linkers need not terminate it)."""
    rva, size = directory
    if rva == 0:
        return []
    out = []
    base = pe.image_base
    count = min(size // 32, MAX_IMPORT_DESCRIPTORS) if size else MAX_IMPORT_DESCRIPTORS
    budget = _Budget()
    for i in range(count):
        drva = rva + 32 * i
        if drva + 32 > pe.extent:
            raise PEFormatError(f"delay-import directory at RVA 0x{rva:x} runs past the image")
        attrs, name, hmod, iat, inT, biat, uiat, ts = _DELAY_DESC.unpack(pe.read_rva(drva, 32))
        if name == 0:
            return out
        if not attrs & 1:  # old (Visual C++ 6) descriptors hold VAs
            name, hmod, iat, inT, biat, uiat = ((v - base) & 0xFFFFFFFF if v else 0
                                                for v in (name, hmod, iat, inT, biat, uiat))
        dll = _name(pe, name, "delay-import DLL")
        if iat == 0:
            raise PEFormatError(f"delay-import descriptor for {dll!r} has no IAT", pe.rva_to_offset(drva))
        budget.spend(1, len(dll))
        funcs = _thunks(pe, inT or iat, iat, 0 if attrs & 1 else base, budget)
        d = DelayImportDescriptor(dll, funcs, inT, iat, ts, 0, name, drva)
        d.attributes, d.module_handle_rva, d.bound_iat_rva, d.unload_iat_rva = attrs, hmod, biat, uiat
        out.append(d)
    if count == MAX_IMPORT_DESCRIPTORS:
        raise PEFormatError(f"delay-import directory has more than {MAX_IMPORT_DESCRIPTORS} descriptors")
    return out


class BoundForwarder(NamedTuple):
    name: str
    timestamp: int


class BoundImport(NamedTuple):
    name: str
    timestamp: int
    forwarders: list


def parse_bound_imports(pe: "PEFile", directory) -> list[BoundImport]:
    rva, size = directory
    if rva == 0 or size == 0:
        return []
    if size > 0x100000:
        raise PEFormatError(f"bound-import directory size 0x{size:x} is absurd")
    if rva + size > pe.extent:
        raise PEFormatError(f"bound-import directory 0x{rva:x}+0x{size:x} outside the image")
    data = pe.read_rva(rva, size)

    def name_at(o: int) -> str:
        if o >= size:
            raise PEFormatError(f"bound-import name offset 0x{o:x} outside the directory")
        end = data.find(b"\0", o)
        if end < 0:
            raise PEFormatError("unterminated bound-import name")
        return data[o:end].decode("latin-1")

    out = []
    pos = 0
    while pos + 8 <= size:
        ts, name_off, nfwd = struct.unpack_from("<IHH", data, pos)
        pos += 8
        if ts == 0 and name_off == 0 and nfwd == 0:
            break
        fwds = []
        for _ in range(nfwd):
            if pos + 8 > size:
                raise PEFormatError("bound-import forwarder references run past the directory")
            fts, fname, _res = struct.unpack_from("<IHH", data, pos)
            pos += 8
            fwds.append(BoundForwarder(name_at(fname), fts))
        out.append(BoundImport(name_at(name_off), ts, fwds))
    return out


# --- exports ---------------------------------------------------------------------------------------
class ExportEntry(NamedTuple):
    ordinal: int
    name: str | None
    rva: int | None
    forwarder: str | None

    def split_forwarder(self) -> tuple[str, str | int]:
        """('NTDLL', 'RtlFoo') or ('NTDLL', 12) for 'NTDLL.#12'. A forwarder without a dot is refused."""
        fwd = self.forwarder
        if fwd is None:
            raise ValueError("not a forwarder")
        dot = fwd.rfind(".")
        if dot <= 0 or dot == len(fwd) - 1:
            raise PEFormatError(f"malformed export forwarder {fwd!r} (ordinal {self.ordinal})")
        dll, target = fwd[:dot], fwd[dot + 1:]
        if target.startswith("#") and target[1:].isdigit():
            return dll, int(target[1:])
        return dll, target


class LookupResult(NamedTuple):
    entry: ExportEntry | None
    hint_hit: bool
    steps: list


class ExportDirectory:
    """IMAGE_EXPORT_DIRECTORY plus its tables. ``functions`` holds every non-empty slot (and named empty ones)
    in ordinal order; ``names`` the name pointer table as (name, ordinal) in its own (sorted) order."""

    def __init__(self, dll_name, ordinal_base, timestamp, characteristics, major, minor, functions, names,
                 number_of_functions, rva, size, name_indexes):
        self.dll_name, self.ordinal_base, self.timestamp = dll_name, ordinal_base, timestamp
        self.characteristics, self.major_version, self.minor_version = characteristics, major, minor
        self.functions: list[ExportEntry] = functions
        self.names: list[tuple[str, int]] = names
        self.number_of_functions = number_of_functions
        self.rva, self.size = rva, size
        self._by_index = {e.ordinal - ordinal_base: e for e in functions}
        self._name_indexes = name_indexes
        self.hint_hits = 0
        self.hint_misses = 0

    @classmethod
    def from_facts(cls, dll_name, ordinal_base, timestamp, characteristics, major, minor, raw_functions, names,
                   number_of_functions, rva, size, name_indexes) -> "ExportDirectory":
        """A directory read back from stored facts (winhatch.win32.subsystem's start-up cache), its entries
        as plain (ordinal, name, rva, forwarder) tuples in ordinal order: an ExportEntry is made when one is
        looked up, and the full `functions` list and index on first use (a run looks up a few dozen of a
        system DLL's ~1,300 exports; making them all was ~0.5 ms a DLL)."""
        d = cls.__new__(cls)
        d.dll_name, d.ordinal_base, d.timestamp = dll_name, ordinal_base, timestamp
        d.characteristics, d.major_version, d.minor_version = characteristics, major, minor
        d.names = names
        d.number_of_functions = number_of_functions
        d.rva, d.size = rva, size
        d._name_indexes = name_indexes
        d.hint_hits = 0
        d.hint_misses = 0
        d._raw = raw_functions
        d._made = {}
        return d

    def __getattr__(self, attr):
        # only reached for an attribute not set: `functions` / `_by_index` of a from_facts directory
        raw = self.__dict__.get("_raw")
        if raw is None or attr not in ("functions", "_by_index"):
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {attr!r}")
        made = self._made
        new = tuple.__new__
        self.functions = [made.get(e[0]) or new(ExportEntry, e) for e in raw]
        self._by_index = {e.ordinal - self.ordinal_base: e for e in self.functions}
        return self.__dict__[attr]

    def _entry_at(self, index: int) -> ExportEntry | None:
        """The entry of function-table index `index`, or None."""
        by_index = self.__dict__.get("_by_index")
        if by_index is not None:
            return by_index.get(index)
        ordinal = index + self.ordinal_base
        e = self._made.get(ordinal)
        if e is None:
            raw = self._raw
            i = bisect_left(raw, (ordinal,))
            if i < len(raw) and raw[i][0] == ordinal:
                e = self._made[ordinal] = tuple.__new__(ExportEntry, raw[i])
        return e

    def by_ordinal(self, ordinal: int) -> ExportEntry | None:
        return self._entry_at(ordinal - self.ordinal_base)

    def _entry_for_name_slot(self, slot: int) -> ExportEntry | None:
        return self._entry_at(self._name_indexes[slot])

    def lookup(self, name: str | bytes, hint: int | None = None) -> LookupResult:
        """Find a name as LdrpSnapThunk does: try the hint slot first, else binary-search the sorted name table
        (strcmp order). ``steps`` records each probe."""
        if isinstance(name, bytes):
            name = name.decode("latin-1")
        names = self.names
        steps = []
        if hint is not None and 0 <= hint < len(names):
            if names[hint][0] == name:
                self.hint_hits += 1
                steps.append(f"hint {hint}: {name!r} matches")
                return LookupResult(self._entry_for_name_slot(hint), True, steps)
            steps.append(f"hint {hint}: {names[hint][0]!r} != {name!r}")
        elif hint is not None:
            steps.append(f"hint {hint}: outside the name table ({len(names)} names)")
        if hint is not None:
            self.hint_misses += 1
        lo, hi = 0, len(names) - 1
        while lo <= hi:
            mid = (lo + hi) >> 1
            probe = names[mid][0]
            if name < probe:
                steps.append(f"[{lo}..{hi}] mid {mid}: {probe!r} > {name!r}")
                hi = mid - 1
            elif name > probe:
                steps.append(f"[{lo}..{hi}] mid {mid}: {probe!r} < {name!r}")
                lo = mid + 1
            else:
                steps.append(f"[{lo}..{hi}] mid {mid}: {probe!r} found")
                return LookupResult(self._entry_for_name_slot(mid), False, steps)
        steps.append("not found")
        return LookupResult(None, False, steps)

    def __repr__(self) -> str:
        return f"ExportDirectory({self.dll_name!r}, base={self.ordinal_base}, {len(self.functions)} functions)"


def _export_names(pe: "PEFile", name_rvas) -> list[str]:
    buf = pe._buf
    extent = pe.extent
    lo, hi = min(name_rvas), max(name_rvas)
    if hi >= extent or lo < 0:
        raise PEFormatError(f"export name RVA 0x{max(hi, lo):x} outside the image")
    # Fast path: the names are one block of NUL-separated strings in one file-backed region.
    off, avail = pe._span(lo)
    if avail > hi - lo and hi - lo <= 256 * len(name_rvas) + 0x1000:
        end = buf.find(b"\0", off + hi - lo, off + min(avail, hi - lo + 0x10000))
        if end >= 0:
            parts = buf[off:end].decode("latin-1").split("\0")
            table = dict(zip(map(add, accumulate(map(len, parts), initial=lo), count()), parts))
            names = list(map(table.get, name_rvas))
            if None not in names:
                return names
    # Slow path: names scattered over regions or pointing into one another. Memoised per RVA, and the total
    # bytes read are capped so a million pointers into one long string cannot make the parser crawl.
    out = []
    seen: dict[int, str] = {}
    budget = MAX_NAME_BYTES
    for nrva in name_rvas:
        nm = seen.get(nrva)
        if nm is None:
            raw = pe.read_cstring_rva(nrva)
            budget -= len(raw) + 1
            if budget < 0:
                raise PEFormatError(f"export names add up to more than {MAX_NAME_BYTES} bytes")
            nm = seen[nrva] = raw.decode("latin-1")
        out.append(nm)
    return out


def parse_exports(pe: "PEFile", directory) -> ExportDirectory | None:
    rva, size = directory
    if rva == 0:
        return None
    if rva + 40 > pe.extent:
        raise PEFormatError(f"export directory at RVA 0x{rva:x} outside the image")
    (chars, ts, major, minor, name_rva, base, nfun, nnames, funcs_rva, names_rva,
     ords_rva) = _EXPORT_DIR.unpack(pe.read_rva(rva, 40))
    if nfun > MAX_EXPORT_FUNCTIONS:
        raise PEFormatError(f"export NumberOfFunctions {nfun} exceeds {MAX_EXPORT_FUNCTIONS}", pe.rva_to_offset(rva + 20))
    if nnames > MAX_EXPORT_NAMES:
        raise PEFormatError(f"export NumberOfNames {nnames} exceeds {MAX_EXPORT_NAMES}", pe.rva_to_offset(rva + 24))
    dll_name = _name(pe, name_rva, "export DLL") if name_rva else ""
    func_rvas = pe.read_u32_array(funcs_rva, nfun)
    name_rvas = pe.read_u32_array(names_rva, nnames)
    name_ords = pe.read_u16_array(ords_rva, nnames)

    buf = pe._buf
    find = buf.find
    extent = pe.extent
    name_strs = _export_names(pe, name_rvas) if name_rvas else []
    names = list(zip(name_strs, [base + i for i in name_ords]))
    idx_names: dict[int, str] = {}
    for nm, idx in zip(reversed(name_strs), reversed(name_ords)):
        idx_names[idx] = nm          # the first name (in table order) for an index wins
    get = idx_names.get

    fwd_lo, fwd_hi = rva, rva + size
    new = tuple.__new__
    functions = [new(ExportEntry, (base + i, get(i), frva, None)) for i, frva in enumerate(func_rvas) if frva]
    if any(fwd_lo <= f[2] < fwd_hi for f in functions):
        functions = [ExportEntry(f[0], f[1], None, pe.read_cstring_rva(f[2], 0x1000).decode("latin-1"))
                     if fwd_lo <= f[2] < fwd_hi else f for f in functions]
    if len(idx_names) and any(func_rvas[i] == 0 for i in idx_names if i < nfun):
        functions += [ExportEntry(base + i, nm, None, None) for i, nm in idx_names.items()
                      if i < nfun and func_rvas[i] == 0]
        functions.sort(key=lambda e: e.ordinal)
    return ExportDirectory(dll_name, base, ts, chars, major, minor, functions, names, nfun, rva, size,
                           name_ords)


# --- base relocations ------------------------------------------------------------------------------
class RelocBlock(NamedTuple):
    page_rva: int
    entries: list          # [(type, offset)] – every 16-bit word of the block, in order
    rva: int = 0           # where the block header is

    @property
    def size(self) -> int:
        return 8 + 2 * len(self.entries)


def parse_relocations(pe: "PEFile", directory) -> list[RelocBlock]:
    rva, size = directory
    if rva == 0 or size == 0:
        return []
    if rva + size > pe.extent:
        raise PEFormatError(f"relocation directory 0x{rva:x}+0x{size:x} outside the image", pe.rva_to_offset(rva))
    blocks = []
    pos = 0
    while pos < size:
        if size - pos < 8:
            raise PEFormatError(f"truncated relocation block at RVA 0x{rva + pos:x}", pe.rva_to_offset(rva + pos))
        page, bsize = struct.unpack("<II", pe.read_rva(rva + pos, 8))
        if bsize < 8 or bsize > size - pos or bsize & 1 or bsize > MAX_RELOC_BLOCK:
            raise PEFormatError(f"relocation block at RVA 0x{rva + pos:x} has bad SizeOfBlock 0x{bsize:x}",
                                pe.rva_to_offset(rva + pos + 4))
        words = pe.read_u16_array(rva + pos + 8, (bsize - 8) >> 1)
        blocks.append(RelocBlock(page, [(w >> 12, w & 0xFFF) for w in words], rva + pos))
        pos += bsize
    return blocks


def apply_relocations(pe: "PEFile", image: bytearray, new_base: int, *, blocks=None, rva: int = 0) -> int:
    """Rebase a mapped image (as LdrRelocateImage does). Returns the number of fixups applied.  ``image``
    may be a window of the image starting at RVA ``rva`` (it must hold every target of ``blocks``)."""
    ptr_mask = (1 << 64) - 1 if pe.is_pe32_plus else 0xFFFFFFFF
    delta = (new_base - pe.image_base) & ptr_mask
    d32 = delta & 0xFFFFFFFF
    count = 0
    # a window (``blocks`` given) holds every target inside the image by construction
    limit = len(image) if blocks is None else pe.size_of_image
    u16, u32, u64 = _U16, _U32, _U64
    for block in (pe.relocations if blocks is None else blocks):
        entries = block.entries
        i, n = 0, len(entries)
        while i < n:
            typ, off = entries[i]
            i += 1
            if typ == IMAGE_REL_BASED_ABSOLUTE:
                continue
            addr = block.page_rva + off
            width = 8 if typ == IMAGE_REL_BASED_DIR64 else 4 if typ == IMAGE_REL_BASED_HIGHLOW else 2
            if addr + width > limit:
                raise PEFormatError(f"relocation target RVA 0x{addr:x} outside the image")
            addr -= rva
            if typ == IMAGE_REL_BASED_HIGHLOW:
                u32.pack_into(image, addr, (u32.unpack_from(image, addr)[0] + d32) & 0xFFFFFFFF)
            elif typ == IMAGE_REL_BASED_DIR64:
                u64.pack_into(image, addr, (u64.unpack_from(image, addr)[0] + delta) & 0xFFFFFFFFFFFFFFFF)
            elif typ == IMAGE_REL_BASED_HIGH:
                temp = (u16.unpack_from(image, addr)[0] << 16) + d32
                u16.pack_into(image, addr, (temp >> 16) & 0xFFFF)
            elif typ == IMAGE_REL_BASED_LOW:
                u16.pack_into(image, addr, (u16.unpack_from(image, addr)[0] + d32) & 0xFFFF)
            elif typ == IMAGE_REL_BASED_HIGHADJ:
                if i >= n:
                    raise PEFormatError(f"HIGHADJ relocation at RVA 0x{addr + rva:x} lacks its low half")
                t2, o2 = entries[i]
                i += 1
                low = (t2 << 12) | o2
                if low & 0x8000:
                    low -= 0x10000
                temp = ((u16.unpack_from(image, addr)[0] << 16) + low + d32 + 0x8000) & 0xFFFFFFFF
                u16.pack_into(image, addr, temp >> 16)
            else:
                raise PEFormatError(f"unsupported relocation type {typ} "
                                    f"({RELOC_TYPE_NAMES.get(typ, 'unknown')}) at RVA 0x{addr + rva:x}",
                                    pe.rva_to_offset(block.rva))
            count += 1
    return count


# --- TLS -------------------------------------------------------------------------------------------
class TlsDirectory(NamedTuple):
    start_address_of_raw_data: int
    end_address_of_raw_data: int
    address_of_index: int
    address_of_callbacks: int
    size_of_zero_fill: int
    characteristics: int
    callbacks: list
    rva: int


def parse_tls(pe: "PEFile", directory) -> TlsDirectory | None:
    rva = directory.rva
    if rva == 0:
        return None
    fmt = "<QQQQII" if pe.is_pe32_plus else "<IIIIII"
    size = struct.calcsize(fmt)
    if rva + size > pe.extent:
        raise PEFormatError(f"TLS directory at RVA 0x{rva:x} outside the image")
    start, end, idx, cbs, zero, chars = struct.unpack(fmt, pe.read_rva(rva, size))
    callbacks = []
    if cbs:
        base = pe.image_base
        crva = cbs - base
        if not 0 <= crva < pe.extent:
            raise PEFormatError(f"TLS callback array VA 0x{cbs:x} outside the image",
                                pe.rva_to_offset(rva + 3 * pe.ptr_size))
        ptr = pe.ptr_size
        for _ in range(MAX_TLS_CALLBACKS):
            if crva + ptr > pe.extent:
                raise PEFormatError("TLS callback array runs past the image")
            v = pe.read_ptr(crva)
            if v == 0:
                break
            callbacks.append(v)
            crva += ptr
        else:
            raise PEFormatError(f"TLS callback array has more than {MAX_TLS_CALLBACKS} entries")
    return TlsDirectory(start, end, idx, cbs, zero, chars, callbacks, rva)


# --- debug -----------------------------------------------------------------------------------------
class DebugEntry(NamedTuple):
    characteristics: int
    timestamp: int
    major_version: int
    minor_version: int
    type: int
    size_of_data: int
    address_of_raw_data: int
    pointer_to_raw_data: int


def parse_debug(pe: "PEFile", directory) -> list[DebugEntry]:
    rva, size = directory
    if rva == 0 or size == 0:
        return []
    n = size // 28
    if n > MAX_DEBUG_ENTRIES:
        raise PEFormatError(f"debug directory has {n} entries (more than {MAX_DEBUG_ENTRIES})")
    if rva + 28 * n > pe.extent:
        raise PEFormatError(f"debug directory 0x{rva:x}+0x{size:x} outside the image")
    data = pe.read_rva(rva, 28 * n)
    return [DebugEntry(*struct.unpack_from("<IIHHIIII", data, 28 * i)) for i in range(n)]


def find_pdb(pe: "PEFile") -> dict | None:
    for d in pe.debug:
        if d.type != IMAGE_DEBUG_TYPE_CODEVIEW or d.size_of_data < 16:
            continue
        size = min(d.size_of_data, 0x1000)
        if d.address_of_raw_data and d.address_of_raw_data + size <= pe.extent:
            data = pe.read_rva(d.address_of_raw_data, size)
        elif d.pointer_to_raw_data and d.pointer_to_raw_data + 16 <= pe.file_size:
            data = pe.get_data(d.pointer_to_raw_data, size)
        else:
            raise PEFormatError("CodeView debug data outside the image and the file")
        sig = data[:4]
        if sig == b"RSDS" and len(data) >= 24:
            g = data[4:20]
            d1, d2, d3 = struct.unpack_from("<IHH", g)
            guid = f"{d1:08X}-{d2:04X}-{d3:04X}-{g[8:10].hex().upper()}-{g[10:16].hex().upper()}"
            age = _U32.unpack_from(data, 20)[0]
            path = data[24:].split(b"\0", 1)[0]
            return {"signature": "RSDS", "guid": guid, "age": age,
                    "path": path.decode("utf-8", "replace"), "timestamp": None}
        if sig == b"NB10" and len(data) >= 16:
            _off, stamp, age = struct.unpack_from("<III", data, 4)
            path = data[16:].split(b"\0", 1)[0]
            return {"signature": "NB10", "guid": None, "age": age,
                    "path": path.decode("latin-1"), "timestamp": stamp}
    return None


# --- load config -----------------------------------------------------------------------------------
def _load_config_fields(wide: bool) -> list[tuple[str, str]]:
    p = "Q" if wide else "I"
    head = [("size", "I"), ("timestamp", "I"), ("major_version", "H"), ("minor_version", "H"),
            ("global_flags_clear", "I"), ("global_flags_set", "I"), ("critical_section_default_timeout", "I"),
            ("decommit_free_block_threshold", p), ("decommit_total_free_threshold", p),
            ("lock_prefix_table", p), ("maximum_allocation_size", p), ("virtual_memory_threshold", p)]
    if wide:
        head += [("process_affinity_mask", "Q"), ("process_heap_flags", "I")]
    else:
        head += [("process_heap_flags", "I"), ("process_affinity_mask", "I")]
    return head + [
        ("csd_version", "H"), ("dependent_load_flags", "H"), ("edit_list", p), ("security_cookie", p),
        ("se_handler_table", p), ("se_handler_count", p), ("guard_cf_check_function_pointer", p),
        ("guard_cf_dispatch_function_pointer", p), ("guard_cf_function_table", p), ("guard_cf_function_count", p),
        ("guard_flags", "I"), ("code_integrity_flags", "H"), ("code_integrity_catalog", "H"),
        ("code_integrity_catalog_offset", "I"), ("code_integrity_reserved", "I"),
        ("guard_address_taken_iat_entry_table", p), ("guard_address_taken_iat_entry_count", p),
        ("guard_long_jump_target_table", p), ("guard_long_jump_target_count", p),
        ("dynamic_value_reloc_table", p), ("chpe_metadata_pointer", p), ("guard_rf_failure_routine", p),
        ("guard_rf_failure_routine_function_pointer", p), ("dynamic_value_reloc_table_offset", "I"),
        ("dynamic_value_reloc_table_section", "H"), ("reserved2", "H"),
        ("guard_rf_verify_stack_pointer_function_pointer", p), ("hot_patch_table_offset", "I"),
        ("reserved3", "I"), ("enclave_configuration_pointer", p), ("volatile_metadata_pointer", p),
        ("guard_eh_continuation_table", p), ("guard_eh_continuation_count", p),
        ("guard_xfg_check_function_pointer", p), ("guard_xfg_dispatch_function_pointer", p),
        ("guard_xfg_table_dispatch_function_pointer", p), ("cast_guard_os_determined_failure_mode", p),
        ("guard_memcpy_function_pointer", p)]


_LC_FIELDS = {False: _load_config_fields(False), True: _load_config_fields(True)}


class LoadConfig:
    """IMAGE_LOAD_CONFIG_DIRECTORY32/64: every field the structure's Size covers; later fields are 0."""

    def __init__(self, values: dict, rva: int):
        self.__dict__.update(values)
        self.rva = rva

    def to_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items()}

    def __repr__(self) -> str:
        return f"LoadConfig(size={self.size:#x}, security_cookie={self.security_cookie:#x})"


def parse_load_config(pe: "PEFile", directory) -> LoadConfig | None:
    rva = directory.rva
    if rva == 0:
        return None
    if rva + 4 > pe.extent:
        raise PEFormatError(f"load config directory at RVA 0x{rva:x} outside the image")
    size = pe.read_u32(rva)
    if size < 4 or size > 0x10000 or rva + size > pe.extent:
        raise PEFormatError(f"load config Size 0x{size:x} invalid", pe.rva_to_offset(rva))
    data = pe.read_rva(rva, size)
    values = {}
    pos = 0
    for name, fmt in _LC_FIELDS[pe.is_pe32_plus]:
        w = struct.calcsize(fmt)
        if pos + w <= size:
            values[name] = struct.unpack_from("<" + fmt, data, pos)[0]
        else:
            values[name] = 0
        pos += w
    return LoadConfig(values, rva)


# --- exception table -------------------------------------------------------------------------------
def parse_exceptions(pe: "PEFile", directory) -> list[tuple[int, int, int]]:
    rva, size = directory
    if rva == 0 or size == 0 or pe.machine != IMAGE_FILE_MACHINE_AMD64:
        return []
    n = size // 12
    if n > MAX_EXCEPTION_ENTRIES:
        raise PEFormatError(f"exception directory has {n} entries (more than {MAX_EXCEPTION_ENTRIES})")
    if rva + 12 * n > pe.extent:
        raise PEFormatError(f"exception directory 0x{rva:x}+0x{size:x} outside the image")
    vals = pe.read_u32_array(rva, 3 * n)
    return [vals[i:i + 3] for i in range(0, 3 * n, 3)]


# --- Rich header -----------------------------------------------------------------------------------
def parse_rich(pe: "PEFile") -> list[tuple[int, int]] | None:
    end = pe.dos_header.e_lfanew
    stub = pe.get_data(0, end)
    at = stub.rfind(b"Rich", 0x40)
    if at < 0 or at + 8 > len(stub):
        return None
    key = _U32.unpack_from(stub, at + 4)[0]
    pos = at - 4
    entries = []
    while pos >= 0x40:
        v = _U32.unpack_from(stub, pos)[0] ^ key
        if v == 0x536E6144:  # 'DanS'
            words = [(_U32.unpack_from(stub, p)[0] ^ key) for p in range(pos + 16, at, 4)]
            return [(words[i], words[i + 1]) for i in range(0, len(words) - 1, 2)]
        pos -= 4
    raise PEFormatError("Rich header without a DanS start marker", at)


# --- checksum --------------------------------------------------------------------------------------
def compute_checksum(pe: "PEFile") -> int:
    """The value CheckSumMappedFile computes: 16-bit one's-complement-style sum of the file with the CheckSum
    field taken as zero, folded to 16 bits, plus the file length."""
    buf = pe._buf
    n = pe.file_size
    mv = memoryview(buf)
    try:
        even = n & ~1
        total = sum(mv[:even].cast("H")) if even else 0
    finally:
        mv.release()
    if n & 1:
        total += buf[n - 1]
    cs_off = pe.optional_header.offset + 64
    if cs_off + 4 <= n:
        total -= _U16.unpack_from(buf, cs_off)[0] + _U16.unpack_from(buf, cs_off + 2)[0]
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return (total + n) & 0xFFFFFFFF


# --- CLR (.NET) ------------------------------------------------------------------------------------
COMIMAGE_FLAGS = {0x1: "ILONLY", 0x2: "32BITREQUIRED", 0x4: "IL_LIBRARY", 0x8: "STRONGNAMESIGNED",
                  0x10: "NATIVE_ENTRYPOINT", 0x10000: "TRACKDEBUGDATA", 0x20000: "32BITPREFERRED"}
_COR20 = struct.Struct("<IHHIIIIIIIIIIIIIIII")   # IMAGE_COR20_HEADER, 72 bytes
_METADATA_SIGNATURE = 0x424A5342                # "BSJB"
MAX_METADATA_STREAMS = 64
MAX_METADATA_VERSION = 255                      # ECMA-335 II.24.2.1: Length is at most 255 (rounded to 4)


class MetadataStream(NamedTuple):
    name: str
    offset: int    # from the metadata root
    size: int


class ClrHeader(NamedTuple):
    """IMAGE_COR20_HEADER and the metadata root it points to (ECMA-335 II.25.3.3 and II.24.2.1)."""
    cb: int
    runtime_version: tuple[int, int]
    metadata_rva: int
    metadata_size: int
    flags: int
    entry_point: int             # a metadata token (or a native RVA with NATIVE_ENTRYPOINT)
    resources: tuple[int, int]
    strong_name_signature: tuple[int, int]
    vtable_fixups: tuple[int, int]
    metadata_version: str | None  # the root's version string ("v4.0.30319"), None without a valid root
    streams: list[MetadataStream]
    rva: int

    @property
    def flag_names(self) -> list[str]:
        return [n for bit, n in COMIMAGE_FLAGS.items() if self.flags & bit]


def parse_clr(pe: "PEFile", directory) -> ClrHeader | None:
    """The .NET header (data directory 14).  A header that does not fit is a PEFormatError; a metadata root
    with a wrong signature or out of the image leaves metadata_version None and no streams (the loader
    does not read metadata: the runtime does)."""
    rva, size = directory
    if rva == 0:
        return None
    if rva + _COR20.size > pe.extent:
        raise PEFormatError(f"CLR header at RVA 0x{rva:x} outside the image")
    f = _COR20.unpack(pe.read_rva(rva, _COR20.size))
    cb, major, minor, md_rva, md_size, flags, entry = f[:7]
    if cb < _COR20.size:
        raise PEFormatError(f"CLR header size {cb} is smaller than IMAGE_COR20_HEADER ({_COR20.size})",
                            pe.rva_to_offset(rva))
    version = None
    streams: list[MetadataStream] = []
    if md_rva and md_size >= 16 and md_rva + 16 <= pe.extent:
        sig, _maj, _min, _res, length = struct.unpack("<IHHII", pe.read_rva(md_rva, 16))
        if sig == _METADATA_SIGNATURE and length <= MAX_METADATA_VERSION + 1 and md_rva + 16 + length + 4 <= pe.extent:
            raw = pe.read_rva(md_rva + 16, length)
            version = raw.split(b"\0", 1)[0].decode("ascii", "replace")
            pos = md_rva + 16 + ((length + 3) & ~3)
            _flags, count = struct.unpack("<HH", pe.read_rva(pos, 4))
            pos += 4
            for _ in range(min(count, MAX_METADATA_STREAMS)):
                if pos + 8 > pe.extent:
                    break
                off, ssize = struct.unpack("<II", pe.read_rva(pos, 8))
                name_raw = pe.read_rva(pos + 8, min(32, pe.extent - pos - 8))
                name = name_raw.split(b"\0", 1)[0]
                if len(name) == len(name_raw):   # no terminator within 32 bytes: not a stream header
                    break
                streams.append(MetadataStream(name.decode("ascii", "replace"), off, ssize))
                pos += 8 + ((len(name) + 1 + 3) & ~3)
    return ClrHeader(cb, (major, minor), md_rva, md_size, flags, entry, (f[7], f[8]), (f[9], f[10]),
                     (f[13], f[14]), version, streams, rva)
