"""Build valid PE32 / PE32+ images from a description.

This is how winhatch synthesises its system DLLs (ntdll, kernel32, msvcrt, ...) with their real
export surface, and how tests produce small executables.  Everything here follows the PE/COFF
specification; no bytes are borrowed from other tools.

Layout model
------------
Sections are laid out *sequentially* in the order they are added: every ``add_section`` /
``reserve_section`` call assigns the section's RVA immediately, so code can be generated knowing
where everything lives.  Some sections are created on the builder's behalf:

* ``add_import`` places each DLL's import address table (IAT) in an ``.idata`` section at the
  current end of the image (appending to it while it is still the last section) and returns the
  IAT slot RVAs at once.  The descriptors, lookup tables and hint/name entries are generated at
  ``build()`` time, in a trailing ``.rdata`` section together with the export directory.
* ``set_tls`` places a ``.tls`` section (template, directory, callback array, index slot) at the
  current end of the image and returns a :class:`TlsInfo` with its RVAs.
* ``build()`` appends ``.rdata`` (export + import directories) and ``.reloc`` when needed.

``build()`` does not change the builder's sections: it may be called repeatedly and always
returns the same bytes for the same description.
"""
from __future__ import annotations

import struct
import sys
from array import array
from typing import Iterable, Sequence

from winhatch._record import FrozenRecord, ReprRecord
from winhatch.pe.constants import (  # noqa: F401  (re-exported: the builder's public constants)
    IMAGE_FILE_MACHINE_I386,
    IMAGE_FILE_MACHINE_AMD64,
    IMAGE_FILE_RELOCS_STRIPPED,
    IMAGE_FILE_EXECUTABLE_IMAGE,
    IMAGE_FILE_LARGE_ADDRESS_AWARE,
    IMAGE_FILE_32BIT_MACHINE,
    IMAGE_FILE_DLL,
    IMAGE_SCN_CNT_CODE,
    IMAGE_SCN_CNT_INITIALIZED_DATA,
    IMAGE_SCN_CNT_UNINITIALIZED_DATA,
    IMAGE_SCN_MEM_DISCARDABLE,
    IMAGE_SCN_MEM_SHARED,
    IMAGE_SCN_MEM_EXECUTE,
    IMAGE_SCN_MEM_READ,
    IMAGE_SCN_MEM_WRITE,
    IMAGE_REL_BASED_ABSOLUTE,
    IMAGE_REL_BASED_HIGH,
    IMAGE_REL_BASED_LOW,
    IMAGE_REL_BASED_HIGHLOW,
    IMAGE_REL_BASED_HIGHADJ,
    IMAGE_REL_BASED_DIR64,
)

__all__ = [
    "ImageBuilder", "Section", "Export", "TlsInfo", "BuildError", "pe_checksum",
    "SCN_CODE", "SCN_DATA", "SCN_RDATA", "SCN_BSS", "SCN_RELOC", "SCN_IDATA", "SCN_TLS",
    "IMAGE_SCN_CNT_CODE", "IMAGE_SCN_CNT_INITIALIZED_DATA", "IMAGE_SCN_CNT_UNINITIALIZED_DATA",
    "IMAGE_SCN_MEM_DISCARDABLE", "IMAGE_SCN_MEM_SHARED", "IMAGE_SCN_MEM_EXECUTE",
    "IMAGE_SCN_MEM_READ", "IMAGE_SCN_MEM_WRITE",
    "IMAGE_REL_BASED_ABSOLUTE", "IMAGE_REL_BASED_HIGH", "IMAGE_REL_BASED_LOW",
    "IMAGE_REL_BASED_HIGHLOW", "IMAGE_REL_BASED_DIR64",
    "IMAGE_FILE_MACHINE_I386", "IMAGE_FILE_MACHINE_AMD64",
    "DIR_EXPORT", "DIR_IMPORT", "DIR_RESOURCE", "DIR_EXCEPTION", "DIR_SECURITY", "DIR_BASERELOC",
    "DIR_DEBUG", "DIR_ARCHITECTURE", "DIR_GLOBALPTR", "DIR_TLS", "DIR_LOAD_CONFIG",
    "DIR_BOUND_IMPORT", "DIR_IAT", "DIR_DELAY_IMPORT", "DIR_CLR",
]

# --- constants (PE/COFF specification) -----------------------------------------------------------


SCN_CODE = IMAGE_SCN_CNT_CODE | IMAGE_SCN_MEM_EXECUTE | IMAGE_SCN_MEM_READ            # 0x60000020
SCN_DATA = IMAGE_SCN_CNT_INITIALIZED_DATA | IMAGE_SCN_MEM_READ | IMAGE_SCN_MEM_WRITE   # 0xC0000040
SCN_RDATA = IMAGE_SCN_CNT_INITIALIZED_DATA | IMAGE_SCN_MEM_READ                        # 0x40000040
SCN_BSS = IMAGE_SCN_CNT_UNINITIALIZED_DATA | IMAGE_SCN_MEM_READ | IMAGE_SCN_MEM_WRITE  # 0xC0000080
SCN_RELOC = IMAGE_SCN_CNT_INITIALIZED_DATA | IMAGE_SCN_MEM_READ | IMAGE_SCN_MEM_DISCARDABLE  # 0x42000040
SCN_IDATA = SCN_DATA   # the loader writes the IAT
SCN_TLS = SCN_DATA     # the loader writes the TLS index

_RELOC_WIDTH = {IMAGE_REL_BASED_HIGH: 2, IMAGE_REL_BASED_LOW: 2, IMAGE_REL_BASED_HIGHLOW: 4,
                IMAGE_REL_BASED_DIR64: 8}

(DIR_EXPORT, DIR_IMPORT, DIR_RESOURCE, DIR_EXCEPTION, DIR_SECURITY, DIR_BASERELOC, DIR_DEBUG,
 DIR_ARCHITECTURE, DIR_GLOBALPTR, DIR_TLS, DIR_LOAD_CONFIG, DIR_BOUND_IMPORT, DIR_IAT,
 DIR_DELAY_IMPORT, DIR_CLR, DIR_RESERVED) = range(16)
NUM_DIRECTORIES = 16

_PAGE = 0x1000
_DOS_HEADER_SIZE = 64
_SECTION_HEADER_SIZE = 40
_COFF_HEADER_SIZE = 20
# A real-mode stub (hand-assembled): push cs / pop ds / mov dx,msg / mov ah,9 / int 21h /
# mov ax,4C01h / int 21h, followed by the message it prints.
_DOS_STUB_CODE = bytes([0x0E, 0x1F, 0xBA, 0x0E, 0x00, 0xB4, 0x09, 0xCD, 0x21,
                        0xB8, 0x01, 0x4C, 0xCD, 0x21])
_DOS_STUB_MSG = b"This program cannot be run in DOS mode.\r\r\n$"
_E_LFANEW = 0x80


class BuildError(ValueError):
    """The description cannot be turned into a valid image."""


def _align(value: int, alignment: int) -> int:
    return (value + alignment - 1) & ~(alignment - 1)


def _is_pow2(value: int) -> bool:
    return value > 0 and value & (value - 1) == 0


def pe_checksum(image: bytes | bytearray | memoryview, checksum_offset: int | None = None) -> int:
    """The CheckSumMappedFile algorithm: 16-bit one's-complement sum of the file (with the
    CheckSum field taken as zero) plus the file length.

    ``checksum_offset`` is the file offset of the optional header's CheckSum field; when None it
    is found through e_lfanew.
    """
    data = bytes(image)
    if checksum_offset is None:
        lfanew = struct.unpack_from("<I", data, 0x3C)[0]
        checksum_offset = lfanew + 4 + _COFF_HEADER_SIZE + 64
    if len(data) & 1:
        data += b"\0"
    words = array("H")
    words.frombytes(data)
    if sys.byteorder == "big":
        words.byteswap()
    total = sum(words)
    # take the CheckSum field out of the sum
    lo, hi = struct.unpack_from("<HH", data, checksum_offset)
    total -= lo + hi
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return (total + len(image)) & 0xFFFFFFFF


# --- description objects -------------------------------------------------------------------------
class Section(ReprRecord):
    """One section.  ``rva`` is fixed when the section is added.  ``data`` may be changed in place
    until ``build()``; it may grow only as far as the next section's RVA (or freely when it is the
    last section)."""

    _fields = ("name", "rva", "data", "characteristics", "size", "virtual_only", "kind")

    def __init__(self, name: str, rva: int, data: bytearray, characteristics: int, size: int,
                 virtual_only: bool = False, kind: str = "user") -> None:
        self.name = name
        self.rva = rva
        self.data = data
        self.characteristics = characteristics
        self.size = size                # reserved virtual size at add time (>= len(data) then)
        self.virtual_only = virtual_only
        self.kind = kind                # "user", "iat", "tls"

    @property
    def virtual_size(self) -> int:
        return max(self.size, len(self.data))

    @property
    def end_rva(self) -> int:
        return self.rva + self.virtual_size

    def rva_of(self, offset: int) -> int:
        return self.rva + offset

    def write(self, offset: int, payload: bytes) -> None:
        """Write ``payload`` at ``offset`` (extending ``data`` with zeros if needed)."""
        if self.virtual_only:
            raise BuildError(f"section {self.name!r} is virtual-only")
        end = offset + len(payload)
        if end > len(self.data):
            self.data.extend(bytes(end - len(self.data)))
        self.data[offset:end] = payload


class Export(ReprRecord):
    _fields = ("name", "rva", "ordinal", "forwarder", "explicit_ordinal")

    def __init__(self, name: str | None, rva: int | None, ordinal: int | None, forwarder: str | None = None,
                 explicit_ordinal: bool = False) -> None:
        self.name = name
        self.rva = rva
        self.ordinal = ordinal          # the explicit ordinal, or (after build()) the assigned one
        self.forwarder = forwarder
        self.explicit_ordinal = explicit_ordinal


class TlsInfo(FrozenRecord):
    _fields = ("section_rva", "template_rva", "template_size", "zero_fill", "directory_rva", "directory_size",
               "callbacks_rva", "index_rva")

    def __init__(self, section_rva: int, template_rva: int, template_size: int, zero_fill: int, directory_rva: int,
                 directory_size: int, callbacks_rva: int, index_rva: int) -> None:
        init = object.__setattr__
        init(self, "section_rva", section_rva)
        init(self, "template_rva", template_rva)
        init(self, "template_size", template_size)
        init(self, "zero_fill", zero_fill)
        init(self, "directory_rva", directory_rva)
        init(self, "directory_size", directory_size)
        init(self, "callbacks_rva", callbacks_rva)      # RVA of the NULL-terminated VA array
        init(self, "index_rva", index_rva)              # where the loader stores the TLS index


class _ImportGroup(ReprRecord):
    _fields = ("dll", "entries", "iat_rva")

    def __init__(self, dll: str, entries: list, iat_rva: int) -> None:
        self.dll = dll
        self.entries = entries          # list of (name: str|None, ordinal: int|None, hint: int)
        self.iat_rva = iat_rva


class BuildLayout(FrozenRecord):
    """Facts about the last built image (``ImageBuilder.layout``)."""

    _fields = ("sections", "directories", "size_of_image", "size_of_headers", "checksum", "export_ordinal_base")

    def __init__(self, sections: tuple, directories: tuple, size_of_image: int, size_of_headers: int, checksum: int,
                 export_ordinal_base: int) -> None:
        init = object.__setattr__
        init(self, "sections", sections)        # tuple of (name, rva, virtual_size, raw_pointer, raw_size, flags)
        init(self, "directories", directories)  # 16 (rva, size) pairs
        init(self, "size_of_image", size_of_image)
        init(self, "size_of_headers", size_of_headers)
        init(self, "checksum", checksum)
        init(self, "export_ordinal_base", export_ordinal_base)


# --- the builder ----------------------------------------------------------------------------------
class ImageBuilder:
    def __init__(self, arch: str = "x64", dll: bool = False, image_base: int | None = None,
                 name: str | None = None, subsystem: int = 3, section_alignment: int = 0x1000,
                 file_alignment: int = 0x200, dll_characteristics: int | None = None,
                 timestamp: int = 0, *, characteristics: int | None = None,
                 max_sections: int | None = None,
                 stack_reserve: int = 0x100000, stack_commit: int = 0x1000,
                 heap_reserve: int = 0x100000, heap_commit: int = 0x1000,
                 os_version: tuple[int, int] = (6, 0), subsystem_version: tuple[int, int] = (6, 0),
                 image_version: tuple[int, int] = (0, 0), linker_version: tuple[int, int] = (14, 0),
                 iat_characteristics: int = SCN_IDATA) -> None:
        if arch not in ("x86", "x64"):
            raise BuildError(f"unknown arch {arch!r} (expected 'x86' or 'x64')")
        self.arch = arch
        self.is64 = arch == "x64"
        self.ptr_size = 8 if self.is64 else 4
        self.dll = dll
        if image_base is None:
            image_base = (0x180000000 if dll else 0x140000000) if self.is64 else (0x10000000 if dll else 0x400000)
        if image_base % 0x10000:
            raise BuildError(f"image base {image_base:#x} is not a multiple of 64 KiB")
        if image_base > (0xFFFFFFFFFFFFFFFF if self.is64 else 0xFFFFFFFF):
            raise BuildError(f"image base {image_base:#x} does not fit the architecture")
        self.image_base = image_base
        self.name = name
        self.subsystem = subsystem
        if not _is_pow2(file_alignment) or not (0x200 <= file_alignment <= 0x10000):
            raise BuildError(f"file alignment {file_alignment:#x} must be a power of 2 in 512..64K")
        if not _is_pow2(section_alignment) or section_alignment < file_alignment:
            raise BuildError(f"section alignment {section_alignment:#x} must be a power of 2 >= file alignment")
        if section_alignment < _PAGE and section_alignment != file_alignment:
            raise BuildError("below page size, section alignment must equal file alignment")
        self.section_alignment = section_alignment
        self.file_alignment = file_alignment
        self.low_alignment = section_alignment < _PAGE
        if dll_characteristics is None:
            dll_characteristics = 0x160 if self.is64 else 0x140
        self.dll_characteristics = dll_characteristics
        self.timestamp = timestamp
        self.characteristics = characteristics
        self.stack_reserve, self.stack_commit = stack_reserve, stack_commit
        self.heap_reserve, self.heap_commit = heap_reserve, heap_commit
        self.os_version, self.subsystem_version = os_version, subsystem_version
        self.image_version, self.linker_version = image_version, linker_version
        self.iat_characteristics = iat_characteristics
        self.entry_point_rva = 0

        # header space: enough for max_sections section headers (default: what fits in the first
        # section-alignment unit, at least 16)
        base_hdr = self._headers_size(0)
        if max_sections is None:
            room = _align(self._headers_size(16), section_alignment)
            max_sections = (room - base_hdr) // _SECTION_HEADER_SIZE
        self.max_sections = max_sections
        self._first_rva = _align(_align(self._headers_size(max_sections), file_alignment),
                                 section_alignment)

        self.sections: list[Section] = []
        self.exports: list[Export] = []
        self._export_names: set[str] = set()
        self._explicit_ordinals: set[int] = set()
        self._imports: list[_ImportGroup] = []
        self._relocs: dict[int, int] = {}
        self._pointers: list[tuple[int, int]] = []
        self._directories: dict[int, tuple[int, int]] = {}
        self._tls: TlsInfo | None = None
        self._tls_callbacks: list[int] = []
        self.layout: BuildLayout | None = None

    # --- geometry ---------------------------------------------------------------------------------
    @property
    def optional_header_size(self) -> int:
        return 240 if self.is64 else 224

    def _headers_size(self, nsections: int) -> int:
        return (_E_LFANEW + 4 + _COFF_HEADER_SIZE + self.optional_header_size
                + nsections * _SECTION_HEADER_SIZE)

    @property
    def next_rva(self) -> int:
        """The RVA the next added section will get."""
        if not self.sections:
            return self._first_rva
        return _align(self.sections[-1].end_rva, self.section_alignment)

    def va(self, rva: int) -> int:
        return self.image_base + rva

    # --- sections ---------------------------------------------------------------------------------
    def add_section(self, name: str, data: bytes | bytearray = b"", characteristics: int = SCN_RDATA,
                    *, size: int | None = None) -> Section:
        """Add an initialised section; ``size`` reserves a larger virtual size (the tail is
        zero-filled by the loader)."""
        return self._new_section(name, data, characteristics, size, virtual_only=False)

    def reserve_section(self, name: str, size: int, characteristics: int = SCN_BSS) -> Section:
        """Add a virtual-only (zero-filled, no raw data) section."""
        return self._new_section(name, b"", characteristics, size, virtual_only=True)

    def _new_section(self, name: str, data, characteristics: int, size: int | None,
                     virtual_only: bool, kind: str = "user") -> Section:
        encoded = name.encode("utf-8")
        if len(encoded) > 8:
            raise BuildError(f"section name {name!r} is longer than 8 bytes")
        if not isinstance(data, bytearray):
            data = bytearray(data)
        vsize = max(len(data), size or 0)
        if vsize <= 0:
            raise BuildError(f"section {name!r} is empty")
        if len(self.sections) >= self.max_sections:
            raise BuildError(f"more than {self.max_sections} sections (raise max_sections)")
        self._check_open_growth()
        sec = Section(name, self.next_rva, data, characteristics & 0xFFFFFFFF, vsize,
                      virtual_only=virtual_only, kind=kind)
        self.sections.append(sec)
        return sec

    def _check_open_growth(self) -> None:
        # The current last section may have grown; freeze its span now.
        if self.sections:
            last = self.sections[-1]
            last.size = last.virtual_size

    def section_at(self, rva: int) -> Section | None:
        for sec in self.sections:
            if sec.rva <= rva < sec.end_rva:
                return sec
        return None

    def write(self, rva: int, payload: bytes) -> None:
        """Patch bytes at ``rva`` inside an initialised section."""
        sec = self.section_at(rva)
        if sec is None or rva + len(payload) > sec.end_rva:
            raise BuildError(f"RVA range {rva:#x}+{len(payload):#x} is not inside one section")
        sec.write(rva - sec.rva, payload)

    def set_directory(self, index: int, rva: int, size: int) -> None:
        """Set a data directory the builder does not generate itself (resource, exception, ...)."""
        if not 0 <= index < NUM_DIRECTORIES:
            raise BuildError(f"bad data directory index {index}")
        self._directories[index] = (rva, size)

    # --- exports ----------------------------------------------------------------------------------
    def add_export(self, name: str | None, rva: int | None = None, *, ordinal: int | None = None,
                   forwarder: str | None = None) -> Export:
        """Export ``name`` (None = NONAME, needs an ordinal or gets the next free one) at ``rva``,
        or as a forwarder ``"DLL.Name"`` / ``"DLL.#123"``.  Ordinals not given explicitly are
        assigned at build() time, in insertion order, the lowest free ones at or above the
        smallest explicit ordinal (or 1)."""
        if (rva is None) == (forwarder is None):
            raise BuildError(f"export {name!r}: give exactly one of rva and forwarder")
        if name is not None:
            if not name or "\0" in name:
                raise BuildError(f"bad export name {name!r}")
            if name in self._export_names:
                raise BuildError(f"duplicate export name {name!r}")
        if ordinal is not None and not 1 <= ordinal <= 0xFFFF:
            raise BuildError(f"export ordinal {ordinal} out of range 1..65535")
        if ordinal is not None and ordinal in self._explicit_ordinals:
            raise BuildError(f"duplicate export ordinal {ordinal}")
        if forwarder is not None:
            if "." not in forwarder or "\0" in forwarder or forwarder.startswith("."):
                raise BuildError(f"bad forwarder {forwarder!r} (expected 'DLL.Name' or 'DLL.#n')")
        if rva is not None and rva <= 0:
            raise BuildError(f"bad export RVA {rva:#x} (0 marks an unused slot)")
        exp = Export(name, rva, ordinal, forwarder, explicit_ordinal=ordinal is not None)
        self.exports.append(exp)
        if name is not None:
            self._export_names.add(name)
        if ordinal is not None:
            self._explicit_ordinals.add(ordinal)
        return exp

    def _assign_ordinals(self) -> int:
        explicit = self._explicit_ordinals
        start = min(explicit) if explicit else 1
        nxt = start
        for e in self.exports:
            if e.explicit_ordinal:
                continue
            while nxt in explicit:
                nxt += 1
            if nxt > 0xFFFF:
                raise BuildError("ran out of export ordinals")
            e.ordinal = nxt
            nxt += 1
        return start

    # --- imports ----------------------------------------------------------------------------------
    def add_import(self, dll: str, symbols: Sequence[str | int | tuple[str, int]]) -> list[int]:
        """Import ``symbols`` (name, ordinal number, or (name, hint)) from ``dll``; returns the IAT
        slot RVA of each symbol, valid immediately."""
        if not dll or "\0" in dll:
            raise BuildError(f"bad import DLL name {dll!r}")
        entries = []
        for sym in symbols:
            if isinstance(sym, tuple):
                nm, hint = sym
                entries.append((self._check_import_name(dll, nm), None, int(hint) & 0xFFFF))
            elif isinstance(sym, str):
                entries.append((self._check_import_name(dll, sym), None, 0))
            elif isinstance(sym, int):
                if not 0 <= sym <= 0xFFFF:
                    raise BuildError(f"import ordinal {sym} from {dll!r} out of range")
                entries.append((None, sym, 0))
            else:
                raise BuildError(f"bad import symbol {sym!r}")
        if not entries:
            raise BuildError(f"no symbols imported from {dll!r}")
        ps = self.ptr_size
        nbytes = (len(entries) + 1) * ps
        last = self.sections[-1] if self.sections else None
        if last is not None and last.kind == "iat":
            offset = _align(len(last.data), ps)
            last.write(offset, bytes(nbytes))
            iat_rva = last.rva + offset
        else:
            sec = self._new_section(".idata", bytes(nbytes), self.iat_characteristics, None,
                                    virtual_only=False, kind="iat")
            iat_rva = sec.rva
        self._imports.append(_ImportGroup(dll, entries, iat_rva))
        return [iat_rva + i * ps for i in range(len(entries))]

    @staticmethod
    def _check_import_name(dll: str, name: str) -> str:
        if not name or "\0" in name:
            raise BuildError(f"bad import name {name!r} from {dll!r}")
        return name

    # --- relocations ------------------------------------------------------------------------------
    @property
    def default_reloc_type(self) -> int:
        return IMAGE_REL_BASED_DIR64 if self.is64 else IMAGE_REL_BASED_HIGHLOW

    def add_relocation(self, rva: int, type: int | None = None) -> None:
        """Declare that ``rva`` holds an absolute address (HIGHLOW on x86, DIR64 on x64)."""
        if type is None:
            type = self.default_reloc_type
        if type not in _RELOC_WIDTH:
            raise BuildError(f"unsupported relocation type {type}")
        if rva < 0:
            raise BuildError(f"bad relocation RVA {rva:#x}")
        old = self._relocs.get(rva)
        if old is not None and old != type:
            raise BuildError(f"conflicting relocation types at {rva:#x}")
        self._relocs[rva] = type

    def add_pointer(self, rva: int, target_rva: int) -> None:
        """At build time, store the VA of ``target_rva`` (pointer-sized) at ``rva`` and add a
        relocation for it."""
        self._pointers.append((rva, target_rva))
        self.add_relocation(rva)

    @property
    def relocations(self) -> dict[int, int]:
        return dict(self._relocs)

    # --- TLS --------------------------------------------------------------------------------------
    def set_tls(self, template: bytes = b"", zero_fill: int = 0, callbacks: Iterable[int] = (),
                index_rva: int | None = None, characteristics: int = 0) -> TlsInfo:
        """Lay out a ``.tls`` section now: [template][directory][callback VAs + NULL][index]."""
        if self._tls is not None:
            raise BuildError("TLS already set")
        ps = self.ptr_size
        callbacks = list(callbacks)
        tpl_size = len(template)
        dir_off = _align(tpl_size, 16) if tpl_size else 0
        dir_size = 40 if self.is64 else 24
        cb_off = dir_off + dir_size
        idx_off = cb_off + (len(callbacks) + 1) * ps
        total = idx_off + (4 if index_rva is None else 0)
        data = bytearray(total)
        data[:tpl_size] = template
        sec = self._new_section(".tls", data, SCN_TLS, None, virtual_only=False, kind="tls")
        base = sec.rva
        info = TlsInfo(section_rva=base, template_rva=base, template_size=tpl_size,
                       zero_fill=zero_fill, directory_rva=base + dir_off, directory_size=dir_size,
                       callbacks_rva=base + cb_off,
                       index_rva=base + idx_off if index_rva is None else index_rva)
        self._tls = info
        self._tls_callbacks = callbacks
        self._tls_characteristics = characteristics
        for field_no in range(4):                      # Start, End, AddressOfIndex, AddressOfCallBacks
            self.add_relocation(info.directory_rva + field_no * ps)
        for i in range(len(callbacks)):
            self.add_relocation(info.callbacks_rva + i * ps)
        return info

    # --- build ------------------------------------------------------------------------------------
    def build(self) -> bytes:
        ps = self.ptr_size
        pfmt = "<Q" if self.is64 else "<I"
        # working copies of user section data (build() must not change the description)
        work: list[list] = [[s.name, s.rva, bytearray(s.data), s.characteristics, s.virtual_size,
                             s.virtual_only] for s in self.sections]
        for i in range(len(work) - 1):
            if work[i][1] + work[i][4] > work[i + 1][1]:
                raise BuildError(f"section {work[i][0]!r} grew into {work[i + 1][0]!r}")
        directories: dict[int, tuple[int, int]] = dict(self._directories)
        next_rva = _align(work[-1][1] + work[-1][4], self.section_alignment) if work else self._first_rva

        def patch(rva: int, payload: bytes) -> None:
            for w in work:
                if w[1] <= rva and rva + len(payload) <= w[1] + w[4]:
                    if w[5]:
                        raise BuildError(f"cannot write to virtual-only section {w[0]!r} at {rva:#x}")
                    off = rva - w[1]
                    buf = w[2]
                    if off + len(payload) > len(buf):
                        buf.extend(bytes(off + len(payload) - len(buf)))
                    buf[off:off + len(payload)] = payload
                    return
            raise BuildError(f"RVA range {rva:#x}+{len(payload):#x} is not inside one section")

        # -- generated read-only metadata: exports then imports ------------------------------------
        rdata = bytearray()
        rdata_rva = next_rva
        ordinal_base = 0
        if self.exports:
            ordinal_base = self._assign_ordinals()
            blob, size = self._build_exports(rdata_rva, ordinal_base)
            directories[DIR_EXPORT] = (rdata_rva, size)
            rdata += blob
        if self._imports:
            rdata += bytes(_align(len(rdata), 8) - len(rdata))
            imp_rva = rdata_rva + len(rdata)
            blob, desc_size, iat_fill = self._build_imports(imp_rva)
            directories[DIR_IMPORT] = (imp_rva, desc_size)
            rdata += blob
            for rva, payload in iat_fill:
                patch(rva, payload)
            iat_lo = min(g.iat_rva for g in self._imports)
            iat_hi = max(g.iat_rva + (len(g.entries) + 1) * ps for g in self._imports)
            directories[DIR_IAT] = (iat_lo, iat_hi - iat_lo)
        if rdata:
            work.append([".rdata", rdata_rva, rdata, SCN_RDATA, len(rdata), False])
            next_rva = _align(rdata_rva + len(rdata), self.section_alignment)

        # -- TLS ------------------------------------------------------------------------------------
        if self._tls is not None:
            t = self._tls
            if self.is64:
                d = struct.pack("<QQQQII", self.va(t.template_rva), self.va(t.template_rva + t.template_size),
                                self.va(t.index_rva), self.va(t.callbacks_rva), t.zero_fill,
                                self._tls_characteristics)
            else:
                d = struct.pack("<IIIIII", self.va(t.template_rva), self.va(t.template_rva + t.template_size),
                                self.va(t.index_rva), self.va(t.callbacks_rva), t.zero_fill,
                                self._tls_characteristics)
            cbs = b"".join(struct.pack(pfmt, self.va(cb)) for cb in self._tls_callbacks) + bytes(ps)
            patch(t.directory_rva, d)
            patch(t.callbacks_rva, cbs)
            directories[DIR_TLS] = (t.directory_rva, t.directory_size)

        # -- pointers ---------------------------------------------------------------------------------
        for rva, target in self._pointers:
            patch(rva, struct.pack(pfmt, self.va(target)))

        # -- base relocations -------------------------------------------------------------------------
        for rva, rtype in self._relocs.items():
            width = _RELOC_WIDTH[rtype]
            if not any(w[1] <= rva and rva + width <= w[1] + w[4] for w in work):
                raise BuildError(f"relocation at {rva:#x} is not inside a section")
        if self._relocs:
            reloc = self._build_relocs()
            work.append([".reloc", next_rva, reloc, SCN_RELOC, len(reloc), False])
            directories[DIR_BASERELOC] = (next_rva, len(reloc))
            next_rva = _align(next_rva + len(reloc), self.section_alignment)

        if len(work) > self.max_sections:
            raise BuildError(f"{len(work)} sections do not fit the header space "
                             f"(max_sections={self.max_sections})")
        if len(work) > 0xFFFF:
            raise BuildError("too many sections")

        # -- file layout ------------------------------------------------------------------------------
        fa = self.file_alignment
        headers_size = _align(self._headers_size(len(work)), fa)
        raw_ptr = headers_size if not self.low_alignment else None
        table = []          # (name, rva, vsize, raw_ptr, raw_size, chars, data)
        for name, rva, data, chars, vsize, vonly in work:
            if self.low_alignment:
                # file offset == RVA; every section has raw data covering its virtual size
                raw_size = _align(vsize, fa)
                table.append((name, rva, vsize, rva, raw_size, chars, bytes(data)))
                continue
            if vonly or not data:
                table.append((name, rva, vsize, 0, 0, chars, b""))
                continue
            raw_size = _align(len(data), fa)
            table.append((name, rva, vsize, raw_ptr, raw_size, chars, bytes(data)))
            raw_ptr += raw_size
        size_of_image = next_rva if work else _align(headers_size, self.section_alignment)
        if self.entry_point_rva and not any(r[1] <= self.entry_point_rva < r[1] + r[2] for r in table):
            raise BuildError(f"entry point {self.entry_point_rva:#x} is not inside a section")
        for e in self.exports:
            if e.forwarder is None and e.rva >= size_of_image:
                raise BuildError(f"export {e.name or e.ordinal!r} RVA {e.rva:#x} is outside the image")
        size_of_headers = headers_size

        size_of_code = sum(r[4] for r in table if r[5] & IMAGE_SCN_CNT_CODE)
        size_of_init = sum(r[4] for r in table if r[5] & IMAGE_SCN_CNT_INITIALIZED_DATA)
        size_of_uninit = sum(_align(r[2], fa) for r in table if r[5] & IMAGE_SCN_CNT_UNINITIALIZED_DATA)
        base_of_code = next((r[1] for r in table if r[5] & IMAGE_SCN_CNT_CODE), 0)
        base_of_data = next((r[1] for r in table if not r[5] & IMAGE_SCN_CNT_CODE
                             and r[5] & (IMAGE_SCN_CNT_INITIALIZED_DATA | IMAGE_SCN_CNT_UNINITIALIZED_DATA)), 0)

        # -- headers ----------------------------------------------------------------------------------
        hdr = bytearray(size_of_headers)
        dos = struct.pack("<2s13H8x2H20xI", b"MZ", _E_LFANEW, 1, 0, 4, 0, 0xFFFF, 0, 0xB8, 0, 0, 0,
                          0x40, 0, 0, 0, _E_LFANEW)
        hdr[0:_DOS_HEADER_SIZE] = dos
        stub = _DOS_STUB_CODE + _DOS_STUB_MSG
        hdr[_DOS_HEADER_SIZE:_DOS_HEADER_SIZE + len(stub)] = stub
        off = _E_LFANEW
        hdr[off:off + 4] = b"PE\0\0"
        off += 4
        chars = self.characteristics
        if chars is None:
            chars = IMAGE_FILE_EXECUTABLE_IMAGE
            chars |= IMAGE_FILE_LARGE_ADDRESS_AWARE if self.is64 else IMAGE_FILE_32BIT_MACHINE
            if self.dll:
                chars |= IMAGE_FILE_DLL
        machine = IMAGE_FILE_MACHINE_AMD64 if self.is64 else IMAGE_FILE_MACHINE_I386
        hdr[off:off + 20] = struct.pack("<HHIIIHH", machine, len(table), self.timestamp & 0xFFFFFFFF,
                                        0, 0, self.optional_header_size, chars)
        off += 20
        opt_off = off
        common_tail = (self.section_alignment, fa, *self.os_version, *self.image_version,
                       *self.subsystem_version, 0, size_of_image, size_of_headers, 0, self.subsystem,
                       self.dll_characteristics)
        if self.is64:
            opt = struct.pack("<HBBIIIII", 0x20B, *self.linker_version, size_of_code, size_of_init,
                              size_of_uninit, self.entry_point_rva, base_of_code)
            opt += struct.pack("<Q", self.image_base)
            opt += struct.pack("<IIHHHHHHIIIIHH", *common_tail)
            opt += struct.pack("<QQQQII", self.stack_reserve, self.stack_commit, self.heap_reserve,
                               self.heap_commit, 0, NUM_DIRECTORIES)
        else:
            opt = struct.pack("<HBBIIIIII", 0x10B, *self.linker_version, size_of_code, size_of_init,
                              size_of_uninit, self.entry_point_rva, base_of_code, base_of_data)
            opt += struct.pack("<I", self.image_base)
            opt += struct.pack("<IIHHHHHHIIIIHH", *common_tail)
            opt += struct.pack("<IIIIII", self.stack_reserve, self.stack_commit, self.heap_reserve,
                               self.heap_commit, 0, NUM_DIRECTORIES)
        opt += b"".join(struct.pack("<II", *directories.get(i, (0, 0))) for i in range(NUM_DIRECTORIES))
        assert len(opt) == self.optional_header_size
        hdr[off:off + len(opt)] = opt
        off += len(opt)
        for name, rva, vsize, rptr, rsize, schars, _ in table:
            hdr[off:off + 40] = struct.pack("<8sIIIIIIHHI", name.encode("utf-8"), vsize, rva, rsize,
                                            rptr, 0, 0, 0, 0, schars)
            off += 40

        # -- assemble the file --------------------------------------------------------------------------
        if self.low_alignment:
            total = max([size_of_headers] + [r[3] + r[4] for r in table])
            image = bytearray(total)
            image[0:len(hdr)] = hdr
            for _, _, _, rptr, _, _, data in table:
                image[rptr:rptr + len(data)] = data
        else:
            parts = [bytes(hdr)]
            for _, _, _, rptr, rsize, _, data in table:
                if rsize:
                    parts.append(data)
                    parts.append(bytes(rsize - len(data)))
            image = bytearray(b"".join(parts))
        checksum_off = opt_off + 64
        checksum = pe_checksum(image, checksum_off)
        struct.pack_into("<I", image, checksum_off, checksum)

        self.layout = BuildLayout(
            sections=tuple(r[:6] for r in table),
            directories=tuple(directories.get(i, (0, 0)) for i in range(NUM_DIRECTORIES)),
            size_of_image=size_of_image, size_of_headers=size_of_headers, checksum=checksum,
            export_ordinal_base=ordinal_base)
        return bytes(image)

    # --- generated tables ---------------------------------------------------------------------------
    def _build_exports(self, base_rva: int, ordinal_base: int) -> tuple[bytes, int]:
        exports = self.exports
        max_ord = max(e.ordinal for e in exports)
        nfuncs = max_ord - ordinal_base + 1
        named = sorted(((e.name.encode("utf-8"), e) for e in exports if e.name is not None),
                       key=lambda item: item[0])
        nnames = len(named)
        eat_off = 40
        npt_off = eat_off + 4 * nfuncs
        ot_off = npt_off + 4 * nnames
        str_off = ot_off + 2 * nnames
        strings = bytearray()
        dll_name = (self.name or ("image.dll" if self.dll else "image.exe")).encode("utf-8") + b"\0"
        name_rva = base_rva + str_off
        strings += dll_name
        name_ptrs = array("I")
        ordinals = array("H")
        for bname, e in named:
            name_ptrs.append(base_rva + str_off + len(strings))
            strings += bname + b"\0"
            ordinals.append(e.ordinal - ordinal_base)
        eat = array("I", bytes(4 * nfuncs))
        for e in exports:
            if e.forwarder is not None:
                eat[e.ordinal - ordinal_base] = base_rva + str_off + len(strings)
                strings += e.forwarder.encode("utf-8") + b"\0"
            else:
                eat[e.ordinal - ordinal_base] = e.rva
        if sys.byteorder == "big":
            for a in (name_ptrs, ordinals, eat):
                a.byteswap()
        head = struct.pack("<IIHHIIIIIII", 0, self.timestamp & 0xFFFFFFFF, 0, 0, name_rva,
                           ordinal_base, nfuncs, nnames, base_rva + eat_off,
                           base_rva + npt_off if nnames else 0, base_rva + ot_off if nnames else 0)
        blob = head + eat.tobytes() + name_ptrs.tobytes() + ordinals.tobytes() + bytes(strings)
        # the export directory range covers everything, forwarder strings included
        size = len(blob)
        # check no real export points into the directory range (it would read as a forwarder)
        for e in exports:
            if e.forwarder is None and base_rva <= e.rva < base_rva + size:
                raise BuildError(f"export {e.name!r} RVA {e.rva:#x} lies inside the export directory")
        return blob, size

    def _build_imports(self, base_rva: int) -> tuple[bytes, int, list]:
        ps = self.ptr_size
        pfmt = "<Q" if self.is64 else "<I"
        ord_flag = 1 << (8 * ps - 1)
        groups = self._imports
        desc_size = 20 * (len(groups) + 1)
        ilt_off = _align(desc_size, ps)
        ilt_sizes = [(len(g.entries) + 1) * ps for g in groups]
        hn_off = ilt_off + sum(ilt_sizes)
        # hint/name entries (2-byte aligned) then DLL names
        hn = bytearray()
        thunk_values: list[list[int]] = []
        for g in groups:
            vals = []
            for name, ordinal, hint in g.entries:
                if name is None:
                    vals.append(ord_flag | ordinal)
                else:
                    if len(hn) & 1:
                        hn += b"\0"
                    vals.append(base_rva + hn_off + len(hn))
                    hn += struct.pack("<H", hint) + name.encode("utf-8") + b"\0"
            thunk_values.append(vals)
        dll_name_rvas = []
        for g in groups:
            if len(hn) & 1:
                hn += b"\0"
            dll_name_rvas.append(base_rva + hn_off + len(hn))
            hn += g.dll.encode("utf-8") + b"\0"
        descs = bytearray()
        ilts = bytearray()
        iat_fill = []
        for g, vals, name_rva in zip(groups, thunk_values, dll_name_rvas):
            ilt_rva = base_rva + ilt_off + len(ilts)
            thunks = b"".join(struct.pack(pfmt, v) for v in vals) + bytes(ps)
            ilts += thunks
            descs += struct.pack("<IIIII", ilt_rva, 0, 0, name_rva, g.iat_rva)
            iat_fill.append((g.iat_rva, thunks))     # on disk the IAT mirrors the ILT
        descs += bytes(20)
        blob = bytes(descs) + bytes(ilt_off - desc_size) + bytes(ilts) + bytes(hn)
        return blob, desc_size, iat_fill

    def _build_relocs(self) -> bytearray:
        out = bytearray()
        pages: dict[int, list[int]] = {}
        for rva in sorted(self._relocs):
            pages.setdefault(rva & ~0xFFF, []).append((self._relocs[rva] << 12) | (rva & 0xFFF))
        for page in sorted(pages):
            entries = pages[page]
            if len(entries) & 1:
                entries.append(IMAGE_REL_BASED_ABSOLUTE << 12)
            out += struct.pack("<II", page, 8 + 2 * len(entries))
            out += struct.pack(f"<{len(entries)}H", *entries)
        return out
