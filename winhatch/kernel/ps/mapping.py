"""Image sections and their views: NtCreateSection(SEC_IMAGE) and MmMapViewOfSection for images.

Sections of system DLLs are created once per machine and shared by every process that maps them (their
read-only pages are one host buffer). A view not at its preferred base is relocated by the memory manager
at map time, as Windows does since Vista. Each view is recorded in the process's ImageMap (with the trap
table of synthetic system DLLs) for address → module look-ups.
"""
from __future__ import annotations

from winhatch.kernel.ke.traps import TRAP_SECTION, ImageMap, MappedImage, decode_trap_table
from winhatch.kernel.mm import Section
from winhatch.kernel.mm.aspace import NATIVE_JIT_TABLE, NATIVE_STATE_SECTION
from winhatch.ntstatus import STATUS_INVALID_IMAGE_FORMAT, NtStatusError


def create_image_section(pe, path: str, traps: dict[int, str] | None = None) -> Section:
    """The image section of a parsed PE file; `traps`: its trap table when already known (else read from
    its `.whtrap` section, if any)."""
    name = path.rsplit("\\", 1)[-1]
    sec = Section.create_image_sparse(pe.size_of_image, pe.image_parts(), pe.section_protections(), name,
                                      pe.image_base)
    sec.pe = pe
    sec.path = path
    sec.traps = traps if traps is not None else _trap_table(pe)
    return sec


def _trap_table(pe) -> dict[int, str] | None:
    for s in pe.sections:
        if s.name == TRAP_SECTION:
            return decode_trap_table(pe.read_rva(s.virtual_address, s.virtual_size or s.raw_size))
    return None


IMAGE_OPEN_ACCESS = 0x00100000 | 0x0020 | 0x0001      # SYNCHRONIZE | FILE_EXECUTE | FILE_READ_DATA
IMAGE_OPEN_SHARE = 0x1 | 0x4                          # FILE_SHARE_READ | FILE_SHARE_DELETE


class ImageSectionCache:
    """Machine-wide cache of image sections by host file identity, so a DLL file is one shared section."""

    def __init__(self, vfs):
        self.vfs = vfs
        self._cache: dict[tuple, tuple] = {}
        #: optional fn(host path, pe) -> trap table or None, called once per image file parsed here: the
        #: layer that built a file may know its facts without parsing them (the subsystem serves the export
        #: directory and the trap table of its synthetic DLLs from its cache: winhatch.win32.subsystem)
        self.known_image = None

    def open(self, path: str, cwd: str | None = None):
        from winhatch.pe import PEFile, PEFormatError
        from winhatch.kernel.io.vfs import check_host_file
        host, _ro = self.vfs.resolve(path, cwd)
        # the loader opens the file for execute/read sharing read and delete only (NtOpenFile before
        # NtCreateSection(SEC_IMAGE)): a handle open for writing is a sharing violation
        self.vfs._check_share(str(host), IMAGE_OPEN_ACCESS, IMAGE_OPEN_SHARE)
        st = check_host_file(host, self.vfs.guest_links)
        # the file's identity, not its name: a short (8.3) name or a hard link of a file opens its one section
        key = (st.st_dev, st.st_ino, st.st_mtime_ns, st.st_size)
        hit = self._cache.get(key)
        if hit is not None:
            return hit
        try:
            pe = PEFile(host.read_bytes(), name=path)
            pe.sections
        except PEFormatError as e:
            raise NtStatusError(e.status, f"{path}: {e.reason}")
        if pe.arch not in ("x86", "x64"):
            raise NtStatusError(STATUS_INVALID_IMAGE_FORMAT, f"{path}: unsupported machine 0x{pe.machine:04x}")
        full = self.vfs.full_path(path, cwd) if cwd else path
        traps = self.known_image(host, pe) if self.known_image is not None else None
        sec = create_image_section(pe, full, traps)
        self.vfs.register_image_section(host, sec)
        self._cache[key] = (pe, sec)
        return pe, sec


def images_of(proc) -> ImageMap:
    m = proc.subsystem.get("images")
    if m is None:
        m = proc.subsystem["images"] = ImageMap()
    return m


def map_image(proc, section, path: str, *, base: int | None = None) -> int:
    """Map an image view; relocate it when it cannot sit at its preferred base. Returns the base."""
    pe = section.pe
    name = path.rsplit("\\", 1)[-1]
    vbase, size = proc.aspace.map_view(section, base=base, tag=("image", name))  # elsewhere if the base is taken
    if vbase != pe.image_base:
        relocate_view(proc, pe, vbase)
    images_of(proc).add(MappedImage(vbase, pe.size_of_image, name, path, section.traps))
    if section.traps is not None:   # a system DLL of winhatch's: its machine code reads the JIT page table
        nstate = next((s for s in pe.sections if s.name == NATIVE_STATE_SECTION), None)
        if nstate is not None:
            proc.aspace.add_jit_mirror(vbase + nstate.virtual_address + NATIVE_JIT_TABLE)
    if proc.debug_port is not None:
        from winhatch.kernel.ps import dbgk
        dbgk.on_image_map(proc, vbase)
    return vbase


#: relocation blocks are applied through a window of the view at most this large (host memory stays
#: bounded by it, not by SizeOfImage)
RELOC_WINDOW = 1 << 20


def relocate_view(proc, pe, new_base: int) -> int:
    """Apply the base relocations to a mapped view (its touched pages become private copies).  Consecutive
    blocks are applied together through a window of the pages they touch (a block's fixups lie within
    its page and the 7 bytes after it)."""
    blocks = pe.relocations
    if not blocks:
        return 0
    soi = pe.size_of_image
    count = 0
    i = 0
    while i < len(blocks):
        lo = min(blocks[i].page_rva, soi) & ~0xFFF
        j = i + 1
        while j < len(blocks) and lo <= blocks[j].page_rva < lo + RELOC_WINDOW - 0x2000:
            j += 1
        hi = min(soi, max(b.page_rva for b in blocks[i:j]) + 0x2000)
        if hi > lo:
            image = bytearray(proc.aspace.read(new_base + lo, hi - lo))
            before = bytes(image)
        else:
            image, before = bytearray(), b""
        count += pe.apply_relocations(image, new_base, blocks=blocks[i:j], rva=lo)
        for off in range(0, len(image), 0x1000):
            if image[off:off + 0x1000] != before[off:off + 0x1000]:
                proc.aspace.write(new_base + lo + off, bytes(image[off:off + 0x1000]))
        i = j
    return count


def unmap_image(proc, base: int) -> None:
    if proc.debug_port is not None:
        from winhatch.kernel.ps import dbgk
        dbgk.on_image_unmap(proc, base)
    images_of(proc).remove(base)
    proc.aspace.unmap_view(base)
