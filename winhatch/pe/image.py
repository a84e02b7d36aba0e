"""PEFile: a lazy, strict PE/COFF image parser.

Opening validates the headers the way the Windows memory manager does when it creates an image section
(NtCreateSection(SEC_IMAGE)); every data directory is parsed on first access and cached. All reads go through
the image's *mapped* view (what the loader would see at an RVA), computed from the section table without
building the image: PointerToRawData rounded down to 0x200, the file-backed size
min(align(SizeOfRawData, FileAlignment), align(extent, SectionAlignment)), zero fill past it.
"""
from __future__ import annotations

import mmap
import os
import struct
from functools import cached_property

from winhatch.ntstatus import (STATUS_INVALID_IMAGE_FORMAT, STATUS_INVALID_IMAGE_NE_FORMAT,
                               STATUS_INVALID_IMAGE_NOT_MZ, STATUS_INVALID_IMAGE_PROTECT,
                               STATUS_INVALID_IMAGE_WIN_16)

from . import directories as _dirs
from . import resources as _res
from .constants import (DIR_BASERELOC, DIR_BOUND_IMPORT, DIR_DEBUG, DIR_DELAY_IMPORT, DIR_EXCEPTION,
                        DIR_CLR, DIR_EXPORT, DIR_IMPORT, DIR_LOAD_CONFIG, DIR_RESOURCE, DIR_SECURITY, DIR_TLS,
                        IMAGE_FILE_DLL, IMAGE_NT_OPTIONAL_HDR32_MAGIC, IMAGE_NT_OPTIONAL_HDR64_MAGIC,
                        MACHINE_ARCH, MAX_IMAGE_SIZE, MAX_SECTIONS, PAGE_EXECUTE_WRITECOPY, PAGE_READONLY,
                        PAGE_SIZE)
from .errors import PEFormatError
from .headers import (DataDirectory, DosHeader, FileHeader, OptionalHeader32, OptionalHeader64, Section,
                      align_up)

_U16 = struct.Struct("<H")
_U32 = struct.Struct("<I")
_U64 = struct.Struct("<Q")
_DIR = struct.Struct("<II")
_NO_DIR = DataDirectory(0, 0)
CSTRING_LIMIT = 0x10000  # longest NUL-terminated name the parser will follow
MAX_READ = 0x10000000    # largest single read of the mapped view (256 MiB)


def _pow2(v: int) -> bool:
    return v > 0 and (v & (v - 1)) == 0


class PEFile:
    """A PE image. ``PEFile.open(path)`` maps the file; ``PEFile(data)`` parses bytes in memory."""

    def __init__(self, data: bytes | bytearray | memoryview, name: str = ""):
        if isinstance(data, memoryview):
            data = data.tobytes()
        self._init(data, name)

    @classmethod
    def open(cls, path) -> "PEFile":
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            buf = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) if size else b""
        pe = cls.__new__(cls)
        try:
            pe._init(buf, os.fspath(path))
        except BaseException:
            if isinstance(buf, mmap.mmap):
                buf.close()
            raise
        return pe

    def close(self) -> None:
        if isinstance(self._buf, mmap.mmap):
            self._buf.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self) -> str:
        return f"<PEFile {self.name!r} {self.arch} {'DLL' if self.is_dll else 'EXE'} base={self.image_base:#x}>"

    # --- headers -------------------------------------------------------------------------------------
    def _init(self, buf, name: str) -> None:
        self._buf = buf
        self.name = name
        self.file_size = n = len(buf)
        if buf[:2] != b"MZ":
            raise PEFormatError("no MZ signature", 0, STATUS_INVALID_IMAGE_NOT_MZ)
        if n < DosHeader.size:
            raise PEFormatError(f"file too small for a DOS header ({n} bytes)", 0, STATUS_INVALID_IMAGE_NOT_MZ)
        self.dos_header = dos = DosHeader.parse(buf, 0)
        lfanew = dos.e_lfanew
        if lfanew < 0 or lfanew + 4 > n:
            raise PEFormatError(f"e_lfanew 0x{lfanew & 0xFFFFFFFF:x} points outside the file", 0x3C,
                                STATUS_INVALID_IMAGE_PROTECT)
        if lfanew & 3:
            raise PEFormatError(f"e_lfanew 0x{lfanew:x} is not 4-byte aligned", 0x3C, STATUS_INVALID_IMAGE_PROTECT)
        sig = buf[lfanew:lfanew + 4]
        if sig != b"PE\0\0":
            self._bad_signature(sig, lfanew)
        fh_off = lfanew + 4
        if fh_off + FileHeader.size + 2 > n:
            raise PEFormatError("file header truncated", fh_off)
        self.file_header = fh = FileHeader.parse(buf, fh_off)
        opt_off = fh_off + FileHeader.size
        magic = _U16.unpack_from(buf, opt_off)[0]
        if magic == IMAGE_NT_OPTIONAL_HDR32_MAGIC:
            opt_cls, self.is_pe32_plus, self.ptr_size = OptionalHeader32, False, 4
        elif magic == IMAGE_NT_OPTIONAL_HDR64_MAGIC:
            opt_cls, self.is_pe32_plus, self.ptr_size = OptionalHeader64, True, 8
        else:
            raise PEFormatError(f"bad optional header magic 0x{magic:x}", opt_off)
        if opt_off + opt_cls.size > n:
            raise PEFormatError("optional header truncated", opt_off)
        self.optional_header = opt = opt_cls.parse(buf, opt_off)

        # data directories (entries past NumberOfRvaAndSizes do not exist for the loader)
        ndirs = min(opt.NumberOfRvaAndSizes, 16)
        dd_off = opt_off + opt_cls.size
        if dd_off + 8 * ndirs > n:
            raise PEFormatError("data directories truncated", dd_off)
        dirs = [DataDirectory(*_DIR.unpack_from(buf, dd_off + 8 * i)) for i in range(ndirs)]
        dirs += [_NO_DIR] * (16 - ndirs)
        self.data_directories = dirs

        # alignment and size rules (MiVerifyImageHeader)
        sa, fa = opt.SectionAlignment, opt.FileAlignment
        if not _pow2(sa) or not _pow2(fa):
            raise PEFormatError(f"SectionAlignment 0x{sa:x} / FileAlignment 0x{fa:x} not a power of two",
                                opt_off + 32)
        if sa < fa:
            raise PEFormatError(f"SectionAlignment 0x{sa:x} < FileAlignment 0x{fa:x}", opt_off + 32)
        self.low_alignment = sa < PAGE_SIZE
        if self.low_alignment:
            if fa != sa:
                raise PEFormatError("SectionAlignment below page size requires FileAlignment == SectionAlignment",
                                    opt_off + 36)
        elif fa < 0x200 or fa > 0x10000:
            raise PEFormatError(f"FileAlignment 0x{fa:x} outside 0x200..0x10000", opt_off + 36)
        if opt.ImageBase & 0xFFFF:
            raise PEFormatError(f"ImageBase 0x{opt.ImageBase:x} not 64K-aligned", opt_off + (24 if self.is_pe32_plus else 28))
        soi, soh = opt.SizeOfImage, opt.SizeOfHeaders
        if soi == 0 or soi > MAX_IMAGE_SIZE:
            raise PEFormatError(f"SizeOfImage 0x{soi:x} out of range", opt_off + 56)
        if soh > soi:
            raise PEFormatError(f"SizeOfHeaders 0x{soh:x} > SizeOfImage 0x{soi:x}", opt_off + 60)
        self.extent = extent = align_up(soi, PAGE_SIZE)

        # section table
        nsec = fh.NumberOfSections
        if nsec > MAX_SECTIONS:
            raise PEFormatError(f"NumberOfSections {nsec} > {MAX_SECTIONS}", fh_off + 2)
        st_off = opt_off + fh.SizeOfOptionalHeader
        if st_off + 40 * nsec > n:
            raise PEFormatError("section table truncated", st_off)
        self.section_table_offset = st_off
        sections = []
        regions = []
        hdr_extent = align_up(soh, sa) if not self.low_alignment else 0
        if not self.low_alignment:
            regions.append((0, hdr_extent, 0, min(soh, n)))
        next_va = hdr_extent
        for i in range(nsec):
            off = st_off + 40 * i
            s = Section.parse(buf, off)
            vsize = s.virtual_size or s.raw_size
            s.mapped_size = align_up(vsize, sa)
            if self.low_alignment:
                s.read_offset = s.raw_pointer
                s.read_size = s.raw_size
                if s.raw_size and s.raw_pointer != s.virtual_address:
                    raise PEFormatError(f"section {s.name!r}: PointerToRawData 0x{s.raw_pointer:x} != "
                                        f"VirtualAddress 0x{s.virtual_address:x} in a low-alignment image", off + 20)
            else:
                if s.virtual_address != next_va:
                    what = "overlaps the previous section" if s.virtual_address < next_va else "leaves a gap"
                    raise PEFormatError(f"section {s.name!r} at RVA 0x{s.virtual_address:x} {what} "
                                        f"(expected 0x{next_va:x})", off + 12)
                s.read_offset = s.raw_pointer & ~0x1FF
                s.read_size = min(align_up(s.raw_size, fa), s.mapped_size) if s.raw_size else 0
            if s.raw_size and s.read_offset + s.raw_size > n:
                raise PEFormatError(f"section {s.name!r} raw data 0x{s.raw_pointer:x}+0x{s.raw_size:x} beyond end "
                                    f"of file (0x{n:x})", off + 16)
            end = s.virtual_address + s.mapped_size
            if end > align_up(soi, sa):
                raise PEFormatError(f"section {s.name!r} ends at 0x{end:x}, beyond SizeOfImage 0x{soi:x}", off + 8)
            next_va = end
            s.file_bytes = max(0, min(s.read_size, n - s.read_offset)) if s.read_size else 0
            sections.append(s)
            regions.append((s.virtual_address, end, s.read_offset, s.file_bytes))
        if self.low_alignment:
            # the whole file is the image: file offset == RVA
            regions = [(0, extent, 0, min(n, soi))]
        self.sections = sections
        self._resolve_long_names()
        self._regions = regions
        self._last_region = regions[0] if regions else (0, 0, 0, 0)

    def _resolve_long_names(self) -> None:
        """'/4'-style names (GNU ld writes them for long section names) point into the COFF string table."""
        fh = self.file_header
        if not fh.PointerToSymbolTable:
            return
        strtab = fh.PointerToSymbolTable + 18 * fh.NumberOfSymbols
        buf = self._buf
        for s in self.sections:
            if s.name.startswith("/") and s.name[1:].isdigit():
                at = strtab + int(s.name[1:])
                if strtab + 4 <= at < self.file_size:
                    end = buf.find(b"\0", at, min(at + 256, self.file_size))
                    if end > at:
                        s.full_name = buf[at:end].decode("latin-1")

    def _bad_signature(self, sig: bytes, off: int):
        buf = self._buf
        if sig[:2] == b"NE":
            # ne_exetyp (the target OS) decides, as NtCreateSection answers on Windows (Wine's
            # kernel32/tests/loader.c, every value 0..15): 2 (Windows) is a 16-bit Windows program, 5 (BOSS) is
            # refused like a DOS program, any other (unknown, OS/2, DOS 4.x, Windows/386, ...) is an NE image of
            # another OS
            exetyp = buf[off + 0x36] if off + 0x36 < len(buf) else 0
            if exetyp == 2:
                raise PEFormatError("16-bit Windows (NE) image", off, STATUS_INVALID_IMAGE_WIN_16)
            if exetyp == 5:
                raise PEFormatError("NE image for BOSS (ne_exetyp 5)", off, STATUS_INVALID_IMAGE_PROTECT)
            raise PEFormatError(f"NE image for another OS (ne_exetyp {exetyp})", off, STATUS_INVALID_IMAGE_NE_FORMAT)
        if sig[:2] in (b"LE", b"LX"):
            raise PEFormatError(f"{sig[:2].decode()} (VxD / OS/2 2.x) image", off, STATUS_INVALID_IMAGE_WIN_16)
        # Plain DOS program: the memory manager answers STATUS_INVALID_IMAGE_PROTECT (CreateProcess -> NTVDM).
        raise PEFormatError(f"no PE signature (found {sig!r})", off, STATUS_INVALID_IMAGE_PROTECT)

    # --- convenience header fields ---------------------------------------------------------------
    @property
    def machine(self) -> int:
        return self.file_header.Machine

    @property
    def arch(self) -> str:
        m = self.file_header.Machine
        return MACHINE_ARCH.get(m, f"0x{m:04x}")

    @property
    def characteristics(self) -> int:
        return self.file_header.Characteristics

    @property
    def timestamp(self) -> int:
        return self.file_header.TimeDateStamp

    @property
    def is_dll(self) -> bool:
        return bool(self.file_header.Characteristics & IMAGE_FILE_DLL)

    image_base = property(lambda self: self.optional_header.ImageBase)
    entry_point_rva = property(lambda self: self.optional_header.AddressOfEntryPoint)
    size_of_image = property(lambda self: self.optional_header.SizeOfImage)
    size_of_headers = property(lambda self: self.optional_header.SizeOfHeaders)
    section_alignment = property(lambda self: self.optional_header.SectionAlignment)
    file_alignment = property(lambda self: self.optional_header.FileAlignment)
    subsystem = property(lambda self: self.optional_header.Subsystem)
    dll_characteristics = property(lambda self: self.optional_header.DllCharacteristics)
    checksum = property(lambda self: self.optional_header.CheckSum)
    size_of_stack_reserve = property(lambda self: self.optional_header.SizeOfStackReserve)
    size_of_stack_commit = property(lambda self: self.optional_header.SizeOfStackCommit)
    size_of_heap_reserve = property(lambda self: self.optional_header.SizeOfHeapReserve)
    size_of_heap_commit = property(lambda self: self.optional_header.SizeOfHeapCommit)
    major_subsystem_version = property(lambda self: self.optional_header.MajorSubsystemVersion)
    minor_subsystem_version = property(lambda self: self.optional_header.MinorSubsystemVersion)
    major_os_version = property(lambda self: self.optional_header.MajorOperatingSystemVersion)
    minor_os_version = property(lambda self: self.optional_header.MinorOperatingSystemVersion)
    major_image_version = property(lambda self: self.optional_header.MajorImageVersion)
    minor_image_version = property(lambda self: self.optional_header.MinorImageVersion)
    loader_flags = property(lambda self: self.optional_header.LoaderFlags)
    win32_version_value = property(lambda self: self.optional_header.Win32VersionValue)
    number_of_rva_and_sizes = property(lambda self: self.optional_header.NumberOfRvaAndSizes)

    def directory(self, index: int) -> DataDirectory:
        return self.data_directories[index]

    def section_for_rva(self, rva: int) -> Section | None:
        for s in self.sections:
            if s.virtual_address <= rva < s.virtual_address + s.mapped_size:
                return s
        return None

    # --- reading the mapped view -------------------------------------------------------------------
    def _span(self, rva: int) -> tuple[int, int]:
        """(file offset, file-backed bytes available from rva in its region); avail 0 if virtual-only.

        Raises PEFormatError when rva is outside the image."""
        r = self._last_region
        if not (r[0] <= rva < r[1]):
            for r in self._regions:
                if r[0] <= rva < r[1]:
                    self._last_region = r
                    break
            else:
                if 0 <= rva < self.extent:
                    return 0, 0
                raise PEFormatError(f"RVA 0x{rva:x} outside the image (SizeOfImage 0x{self.size_of_image:x})")
        d = rva - r[0]
        avail = r[3] - d
        return (r[2] + d, avail) if avail > 0 else (0, 0)

    def rva_to_offset(self, rva: int) -> int | None:
        """File offset holding the byte at rva, or None (outside the image or zero fill)."""
        try:
            off, avail = self._span(rva)
        except PEFormatError:
            return None
        return off if avail > 0 else None

    def offset_to_rva(self, offset: int) -> int | None:
        for va, end, roff, rlen in self._regions:
            if roff <= offset < roff + rlen:
                return va + offset - roff
        return None

    def read_rva(self, rva: int, size: int) -> bytes:
        """size bytes of the mapped image at rva (zero where the image is not backed by the file)."""
        if rva < 0 or size < 0 or rva + size > self.extent:
            raise PEFormatError(f"read of 0x{size:x} bytes at RVA 0x{rva:x} outside the image "
                                f"(SizeOfImage 0x{self.size_of_image:x})")
        if size > MAX_READ:
            raise PEFormatError(f"read of 0x{size:x} bytes at RVA 0x{rva:x} is larger than any sane table")
        off, avail = self._span(rva)
        if avail >= size:
            return self._buf[off:off + size]
        out = bytearray(size)
        buf = self._buf
        end = rva + size
        for va, vend, roff, rlen in self._regions:
            lo, hi = max(va, rva), min(vend, end, va + rlen)
            if lo < hi:
                out[lo - rva:hi - rva] = buf[roff + lo - va:roff + hi - va]
        return bytes(out)

    def read_u32(self, rva: int) -> int:
        off, avail = self._span(rva)
        if avail >= 4:
            return _U32.unpack_from(self._buf, off)[0]
        return _U32.unpack(self.read_rva(rva, 4))[0]

    def read_ptr(self, rva: int) -> int:
        size = self.ptr_size
        off, avail = self._span(rva)
        if avail >= size:
            return (_U64 if size == 8 else _U32).unpack_from(self._buf, off)[0]
        return int.from_bytes(self.read_rva(rva, size), "little")

    def read_cstring_rva(self, rva: int, limit: int = CSTRING_LIMIT) -> bytes:
        """The NUL-terminated byte string at rva (without the NUL). Raises PEFormatError when rva is outside the
        image or no NUL occurs within limit bytes."""
        off, avail = self._span(rva)
        if avail:
            end = self._buf.find(b"\0", off, off + min(avail, limit))
            if end >= 0:
                return self._buf[off:end]
        if rva >= self.extent:
            raise PEFormatError(f"string RVA 0x{rva:x} outside the image")
        data = self.read_rva(rva, min(limit, self.extent - rva))
        i = data.find(b"\0")
        if i < 0:
            raise PEFormatError(f"unterminated string at RVA 0x{rva:x}", self.rva_to_offset(rva))
        return data[:i]

    def read_u32_array(self, rva: int, count: int) -> tuple[int, ...]:
        if count <= 0:
            return ()
        if rva < 0 or rva + 4 * count > self.extent:
            raise PEFormatError(f"table of {count} dwords at RVA 0x{rva:x} extends beyond the image",
                                self.rva_to_offset(rva))
        off, avail = self._span(rva)
        if avail >= 4 * count:
            return struct.unpack_from(f"<{count}I", self._buf, off)
        return struct.unpack(f"<{count}I", self.read_rva(rva, 4 * count))

    def read_u16_array(self, rva: int, count: int) -> tuple[int, ...]:
        if count <= 0:
            return ()
        if rva < 0 or rva + 2 * count > self.extent:
            raise PEFormatError(f"table of {count} words at RVA 0x{rva:x} extends beyond the image",
                                self.rva_to_offset(rva))
        off, avail = self._span(rva)
        if avail >= 2 * count:
            return struct.unpack_from(f"<{count}H", self._buf, off)
        return struct.unpack(f"<{count}H", self.read_rva(rva, 2 * count))

    def get_data(self, offset: int, size: int) -> bytes:
        """Raw file bytes (file offsets), clipped to the file."""
        return self._buf[max(0, offset):max(0, offset + size)]

    def section_data(self, section: Section) -> bytes:
        """The file bytes that back a section (read_size, zero-padded where the file ends)."""
        data = self._buf[section.read_offset:section.read_offset + section.file_bytes]
        return data + bytes(section.read_size - len(data)) if len(data) < section.read_size else data

    # --- directories (lazy) -------------------------------------------------------------------------
    @cached_property
    def imports(self) -> list[_dirs.ImportDescriptor]:
        return _dirs.parse_imports(self, self.data_directories[DIR_IMPORT])

    @cached_property
    def delay_imports(self) -> list[_dirs.DelayImportDescriptor]:
        return _dirs.parse_delay_imports(self, self.data_directories[DIR_DELAY_IMPORT])

    @cached_property
    def bound_imports(self) -> list[_dirs.BoundImport]:
        return _dirs.parse_bound_imports(self, self.data_directories[DIR_BOUND_IMPORT])

    @cached_property
    def exports(self) -> _dirs.ExportDirectory | None:
        return _dirs.parse_exports(self, self.data_directories[DIR_EXPORT])

    @cached_property
    def relocations(self) -> list[_dirs.RelocBlock]:
        return _dirs.parse_relocations(self, self.data_directories[DIR_BASERELOC])

    def apply_relocations(self, image: bytearray, new_base: int, *, blocks=None, rva: int = 0) -> int:
        """Rebase ``image`` (the mapped image, or the part of it from ``rva`` on) for ``new_base``, applying
        ``blocks`` (default: every relocation block)."""
        return _dirs.apply_relocations(self, image, new_base, blocks=blocks, rva=rva)

    @cached_property
    def tls(self) -> _dirs.TlsDirectory | None:
        return _dirs.parse_tls(self, self.data_directories[DIR_TLS])

    @cached_property
    def debug(self) -> list[_dirs.DebugEntry]:
        return _dirs.parse_debug(self, self.data_directories[DIR_DEBUG])

    @cached_property
    def pdb(self) -> dict | None:
        return _dirs.find_pdb(self)

    @cached_property
    def load_config(self) -> _dirs.LoadConfig | None:
        return _dirs.parse_load_config(self, self.data_directories[DIR_LOAD_CONFIG])

    @cached_property
    def clr(self) -> _dirs.ClrHeader | None:
        """The .NET header (IMAGE_COR20_HEADER) and its metadata root, or None for native code."""
        return _dirs.parse_clr(self, self.data_directories[DIR_CLR])

    @cached_property
    def exception_entries(self) -> list[tuple[int, int, int]]:
        return _dirs.parse_exceptions(self, self.data_directories[DIR_EXCEPTION])

    @cached_property
    def certificate(self) -> tuple[int, int] | None:
        off, size = self.data_directories[DIR_SECURITY]  # a file offset, not an RVA
        if off == 0 or size == 0:
            return None
        if off + size > self.file_size:
            raise PEFormatError(f"certificate table 0x{off:x}+0x{size:x} beyond end of file",
                                self.optional_header.offset + (0x80 if self.is_pe32_plus else 0x70) + 8 * DIR_SECURITY)
        return (off, size)

    @cached_property
    def rich_header(self) -> list[tuple[int, int]] | None:
        return _dirs.parse_rich(self)

    @cached_property
    def resources(self) -> _res.ResourceDirectory | None:
        return _res.parse_resources(self, self.data_directories[DIR_RESOURCE])

    @cached_property
    def version_info(self) -> dict | None:
        return _res.parse_version_info(self)

    def compute_checksum(self) -> int:
        return _dirs.compute_checksum(self)

    # --- the loader's view ----------------------------------------------------------------------
    def map_image(self) -> bytearray:
        """The image as the memory manager lays out a SEC_IMAGE view: SizeOfImage bytes, headers and every
        section's file-backed bytes at its RVA, zero elsewhere."""
        soi = self.size_of_image
        image = bytearray(soi)
        buf = self._buf
        for va, vend, roff, rlen in self._regions:
            n = min(rlen, soi - va)
            if n > 0:
                image[va:va + n] = buf[roff:roff + n]
        return image

    def image_parts(self) -> list[tuple[int, memoryview]]:
        """What the file backs of the SEC_IMAGE layout: ``(rva, bytes)`` for the headers and each section's
        file-backed bytes (clipped to SizeOfImage); the rest of the image is zero (`map_image` without
        materialising the zeros)."""
        soi = self.size_of_image
        buf = memoryview(self._buf)
        out = []
        for va, _vend, roff, rlen in self._regions:
            n = min(rlen, soi - va)
            if n > 0:
                out.append((va, buf[roff:roff + n]))
        return out

    def section_protections(self) -> list[tuple[int, int, int]]:
        """(rva, size, PAGE_*) for the header page(s) and each section of a SEC_IMAGE view. Images whose
        SectionAlignment is below the page size are one copy-on-write executable region."""
        if self.low_alignment:
            return [(0, self.extent, PAGE_EXECUTE_WRITECOPY)]
        out = [(0, self._regions[0][1], PAGE_READONLY)]
        for s in self.sections:
            if s.mapped_size:
                out.append((s.virtual_address, s.mapped_size, s.protection))
        return out
