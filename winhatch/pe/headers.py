"""Header structures: IMAGE_DOS_HEADER, IMAGE_FILE_HEADER, IMAGE_OPTIONAL_HEADER32/64, section headers.

Each structure class is generated from a (field, struct-format) list; instances expose every field under its
winnt.h name plus ``offset`` (file offset of the structure) and ``to_dict()``.
"""
from __future__ import annotations

import struct
from typing import NamedTuple

from .constants import (IMAGE_SCN_MEM_EXECUTE, IMAGE_SCN_MEM_READ, IMAGE_SCN_MEM_SHARED, IMAGE_SCN_MEM_WRITE,
                        PAGE_EXECUTE, PAGE_EXECUTE_READ, PAGE_EXECUTE_READWRITE, PAGE_EXECUTE_WRITECOPY,
                        PAGE_NOACCESS, PAGE_READONLY, PAGE_READWRITE, PAGE_WRITECOPY)


class _Structure:
    __slots__ = ("offset",)
    _fields: tuple[str, ...] = ()
    _struct: struct.Struct
    size: int = 0

    @classmethod
    def parse(cls, buf, offset: int):
        obj = cls.__new__(cls)
        obj.offset = offset
        for k, v in zip(cls._fields, cls._struct.unpack_from(buf, offset)):
            setattr(obj, k, v)
        return obj

    def to_dict(self) -> dict:
        return {k: getattr(self, k) for k in self._fields}

    def __repr__(self) -> str:
        inner = ", ".join(f"{k}={v:#x}" if isinstance(v, int) else f"{k}={v!r}" for k, v in self.to_dict().items())
        return f"{type(self).__name__}({inner})"


def _structure(name: str, spec: list[tuple[str, str]]) -> type:
    fields = tuple(f for f, _ in spec)
    st = struct.Struct("<" + "".join(t for _, t in spec))
    return type(name, (_Structure,), {"__slots__": fields, "_fields": fields, "_struct": st, "size": st.size})


DosHeader = _structure("DosHeader", [
    ("e_magic", "H"), ("e_cblp", "H"), ("e_cp", "H"), ("e_crlc", "H"), ("e_cparhdr", "H"), ("e_minalloc", "H"),
    ("e_maxalloc", "H"), ("e_ss", "H"), ("e_sp", "H"), ("e_csum", "H"), ("e_ip", "H"), ("e_cs", "H"),
    ("e_lfarlc", "H"), ("e_ovno", "H"), ("e_res", "8s"), ("e_oemid", "H"), ("e_oeminfo", "H"), ("e_res2", "20s"),
    ("e_lfanew", "i"),
])

FileHeader = _structure("FileHeader", [
    ("Machine", "H"), ("NumberOfSections", "H"), ("TimeDateStamp", "I"), ("PointerToSymbolTable", "I"),
    ("NumberOfSymbols", "I"), ("SizeOfOptionalHeader", "H"), ("Characteristics", "H"),
])

_OPT_COMMON_HEAD = [
    ("Magic", "H"), ("MajorLinkerVersion", "B"), ("MinorLinkerVersion", "B"), ("SizeOfCode", "I"),
    ("SizeOfInitializedData", "I"), ("SizeOfUninitializedData", "I"), ("AddressOfEntryPoint", "I"),
    ("BaseOfCode", "I"),
]
_OPT_MIDDLE = [
    ("SectionAlignment", "I"), ("FileAlignment", "I"), ("MajorOperatingSystemVersion", "H"),
    ("MinorOperatingSystemVersion", "H"), ("MajorImageVersion", "H"), ("MinorImageVersion", "H"),
    ("MajorSubsystemVersion", "H"), ("MinorSubsystemVersion", "H"), ("Win32VersionValue", "I"),
    ("SizeOfImage", "I"), ("SizeOfHeaders", "I"), ("CheckSum", "I"), ("Subsystem", "H"),
    ("DllCharacteristics", "H"),
]


def _opt(ptr: str) -> list[tuple[str, str]]:
    return [("SizeOfStackReserve", ptr), ("SizeOfStackCommit", ptr), ("SizeOfHeapReserve", ptr),
            ("SizeOfHeapCommit", ptr), ("LoaderFlags", "I"), ("NumberOfRvaAndSizes", "I")]


OptionalHeader32 = _structure("OptionalHeader32", _OPT_COMMON_HEAD + [("BaseOfData", "I"), ("ImageBase", "I")]
                              + _OPT_MIDDLE + _opt("I"))
OptionalHeader64 = _structure("OptionalHeader64", _OPT_COMMON_HEAD + [("ImageBase", "Q")] + _OPT_MIDDLE + _opt("Q"))


class DataDirectory(NamedTuple):
    rva: int
    size: int


_SECTION = struct.Struct("<8sIIIIIIHHI")


def align_up(value: int, alignment: int) -> int:
    return (value + alignment - 1) & ~(alignment - 1) if alignment else value


def section_protection(characteristics: int) -> int:
    """The page protection the memory manager gives a section of a SEC_IMAGE view (copy-on-write unless shared)."""
    x = characteristics & IMAGE_SCN_MEM_EXECUTE
    r = characteristics & IMAGE_SCN_MEM_READ
    w = characteristics & IMAGE_SCN_MEM_WRITE
    shared = characteristics & IMAGE_SCN_MEM_SHARED
    if w:
        if x:
            return PAGE_EXECUTE_READWRITE if shared else PAGE_EXECUTE_WRITECOPY
        return PAGE_READWRITE if shared else PAGE_WRITECOPY
    if x:
        return PAGE_EXECUTE_READ if r else PAGE_EXECUTE
    return PAGE_READONLY if r else PAGE_NOACCESS


class Section:
    """One IMAGE_SECTION_HEADER plus how the loader maps it.

    name: the 8-byte name decoded (latin-1, NULs stripped; "/4"-style long names are left as written, see
    ``full_name``). ``mapped_size`` is the section's extent in the image (VirtualSize, or SizeOfRawData when
    VirtualSize is 0, rounded up to SectionAlignment); ``read_offset``/``read_size`` are the file bytes that
    back it (PointerToRawData rounded down to 0x200; min(SizeOfRawData rounded up to FileAlignment,
    extent rounded up to SectionAlignment)); ``file_bytes`` is read_size clipped to the end of the file.
    """

    __slots__ = ("name", "raw_name", "virtual_size", "virtual_address", "raw_size", "raw_pointer",
                 "pointer_to_relocations", "pointer_to_linenumbers", "number_of_relocations",
                 "number_of_linenumbers", "characteristics", "header_offset", "mapped_size", "read_offset",
                 "read_size", "file_bytes", "full_name")

    @classmethod
    def parse(cls, buf, offset: int) -> "Section":
        s = cls.__new__(cls)
        (s.raw_name, s.virtual_size, s.virtual_address, s.raw_size, s.raw_pointer, s.pointer_to_relocations,
         s.pointer_to_linenumbers, s.number_of_relocations, s.number_of_linenumbers,
         s.characteristics) = _SECTION.unpack_from(buf, offset)
        s.name = s.raw_name.rstrip(b"\0").decode("latin-1")
        s.full_name = s.name
        s.header_offset = offset
        return s

    # spec-style aliases
    @property
    def Name(self) -> bytes:
        return self.raw_name

    @property
    def VirtualAddress(self) -> int:
        return self.virtual_address

    @property
    def Misc_VirtualSize(self) -> int:
        return self.virtual_size

    @property
    def SizeOfRawData(self) -> int:
        return self.raw_size

    @property
    def PointerToRawData(self) -> int:
        return self.raw_pointer

    @property
    def Characteristics(self) -> int:
        return self.characteristics

    @property
    def end_rva(self) -> int:
        return self.virtual_address + self.mapped_size

    def contains_rva(self, rva: int) -> bool:
        return self.virtual_address <= rva < self.virtual_address + self.mapped_size

    @property
    def protection(self) -> int:
        return section_protection(self.characteristics)

    @property
    def is_executable(self) -> bool:
        return bool(self.characteristics & IMAGE_SCN_MEM_EXECUTE)

    @property
    def is_writable(self) -> bool:
        return bool(self.characteristics & IMAGE_SCN_MEM_WRITE)

    @property
    def is_readable(self) -> bool:
        return bool(self.characteristics & IMAGE_SCN_MEM_READ)

    def to_dict(self) -> dict:
        return {"name": self.name, "virtual_address": self.virtual_address, "virtual_size": self.virtual_size,
                "raw_pointer": self.raw_pointer, "raw_size": self.raw_size, "characteristics": self.characteristics}

    def __repr__(self) -> str:
        return (f"Section({self.name!r}, va={self.virtual_address:#x}, vsize={self.virtual_size:#x}, "
                f"raw={self.raw_pointer:#x}+{self.raw_size:#x}, chars={self.characteristics:#010x})")
