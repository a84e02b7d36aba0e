"""ntdll's loader exports that programs call directly."""
from __future__ import annotations

import struct

from winhatch.ldr.delayload import resolve_delay_loaded_api
from winhatch.win32.api import api

NT = "ntdll.dll"


@api("ntdll.dll", "PVOID NTAPI LdrResolveDelayLoadedAPI(PVOID ParentModuleBase, PVOID DelayloadDescriptor, "
                  "PVOID FailureDllHook, PVOID FailureSystemHook, PVOID ThunkAddress, ULONG Flags)",
     calls_guest=True)
def LdrResolveDelayLoadedAPI(c, parent, descriptor, failure_dll_hook, failure_system_hook, thunk, flags):
    return resolve_delay_loaded_api(c.machine, c.thread, parent, descriptor, failure_dll_hook, thunk,
                                    failure_system_hook)


# ------------------------------------------------------------------------------------------ image headers
IMAGE_DOS_SIGNATURE, IMAGE_NT_SIGNATURE = 0x5A4D, 0x00004550
RTL_IMAGE_NT_HEADER_EX_FLAG_NO_RANGE_CHECK = 1
STATUS_INVALID_IMAGE_FORMAT = 0xC000007B
STATUS_INVALID_PARAMETER = 0xC000000D


def _nt_header(c, base: int, size: int | None) -> tuple[int, int]:
    """(NTSTATUS, address of the IMAGE_NT_HEADERS) of the image at `base`; `size`: the mapped size to stay in
    (None: no range check). A page the caller cannot read is the access violation RtlImageNtHeaderEx's own
    handler turns into STATUS_INVALID_IMAGE_FORMAT."""
    if not base or base == (1 << (8 * c.ptr_size)) - 1:
        return STATUS_INVALID_PARAMETER, 0
    if not c.proc.aspace.accessible(base, 0x40, False):
        return STATUS_INVALID_IMAGE_FORMAT, 0
    raw = c.read(base, 0x40)
    if int.from_bytes(raw[:2], "little") != IMAGE_DOS_SIGNATURE:
        return STATUS_INVALID_IMAGE_FORMAT, 0
    lfanew = int.from_bytes(raw[0x3C:0x40], "little")
    if size is not None and (lfanew >= size or lfanew + 0x18 > size):
        return STATUS_INVALID_IMAGE_FORMAT, 0
    if lfanew >= 256 << 20:   # a header 256 MiB into the image: not an image (as ntdll's own limit)
        return STATUS_INVALID_IMAGE_FORMAT, 0
    nt = base + lfanew
    if not c.proc.aspace.accessible(nt, 4, False) or int.from_bytes(c.read(nt, 4), "little") != IMAGE_NT_SIGNATURE:
        return STATUS_INVALID_IMAGE_FORMAT, 0
    return 0, nt


@api("ntdll.dll", "PIMAGE_NT_HEADERS NTAPI RtlImageNtHeader(PVOID Base)")
def RtlImageNtHeader(c, base):
    """The image's IMAGE_NT_HEADERS (MZ, e_lfanew, PE signature checked), NULL for anything else."""
    return _nt_header(c, base, None)[1]


@api("ntdll.dll", "NTSTATUS NTAPI RtlImageNtHeaderEx(ULONG Flags, PVOID Base, ULONG64 Size, "
                  "PIMAGE_NT_HEADERS *OutHeaders)")
def RtlImageNtHeaderEx(c, flags, base, size, out):
    """RtlImageNtHeader with a status and, unless RTL_IMAGE_NT_HEADER_EX_FLAG_NO_RANGE_CHECK, the headers kept
    within Size bytes; another flag or a NULL OutHeaders is STATUS_INVALID_PARAMETER."""
    if not out or flags & ~RTL_IMAGE_NT_HEADER_EX_FLAG_NO_RANGE_CHECK:
        return STATUS_INVALID_PARAMETER
    c.write_ptr(out, 0)
    st, nt = _nt_header(c, base, None if flags & RTL_IMAGE_NT_HEADER_EX_FLAG_NO_RANGE_CHECK else size)
    if not st:
        c.write_ptr(out, nt)
    return st


IMAGE_NT_OPTIONAL_HDR32_MAGIC, IMAGE_NT_OPTIONAL_HDR64_MAGIC = 0x10B, 0x20B
#: per optional-header magic: offsets (from the optional header) of SizeOfHeaders, NumberOfRvaAndSizes and
#: DataDirectory
_OPT_LAYOUT = {IMAGE_NT_OPTIONAL_HDR32_MAGIC: (0x3C, 0x5C, 0x60), IMAGE_NT_OPTIONAL_HDR64_MAGIC: (0x3C, 0x6C, 0x70)}
MAX_SECTIONS = 96   # the image loader's own limit on NumberOfSections


def _u16(c, a: int) -> int:
    return int.from_bytes(c.read(a, 2), "little")


def _u32(c, a: int) -> int:
    return int.from_bytes(c.read(a, 4), "little")


def _section_of_rva(c, nt: int, rva: int) -> int:
    """RtlImageRvaToSection: the IMAGE_SECTION_HEADER whose raw data holds `rva` (VirtualAddress <= rva <
    VirtualAddress + SizeOfRawData), or 0."""
    count = min(_u16(c, nt + 6), MAX_SECTIONS)
    sec = nt + 0x18 + _u16(c, nt + 0x14)
    for i in range(count):
        h = sec + i * 40
        va, raw_size = _u32(c, h + 0xC), _u32(c, h + 0x10)
        if va <= rva < va + raw_size:
            return h
    return 0


@api(NT, "PIMAGE_SECTION_HEADER NTAPI RtlImageRvaToSection(PIMAGE_NT_HEADERS NtHeaders, PVOID Base, ULONG Rva)")
def RtlImageRvaToSection(c, nt, base, rva):
    """The section header whose file data holds `Rva`, NULL when none does."""
    return _section_of_rva(c, nt, rva)


@api(NT, "PVOID NTAPI RtlImageRvaToVa(PIMAGE_NT_HEADERS NtHeaders, PVOID Base, ULONG Rva, "
         "PIMAGE_SECTION_HEADER *LastRvaSection)")
def RtlImageRvaToVa(c, nt, base, rva, last):
    """Where `Rva` lies in an image mapped as a file (Base + the section's PointerToRawData + the offset in it);
    *LastRvaSection, when given, is tried first and receives the section used. NULL when no section holds it."""
    sec = c.ptr(last) if last else 0
    if not sec or not (_u32(c, sec + 0xC) <= rva < _u32(c, sec + 0xC) + _u32(c, sec + 0x10)):
        sec = _section_of_rva(c, nt, rva)
        if not sec:
            return 0
        if last:
            c.write_ptr(last, sec)
    return (base + rva - _u32(c, sec + 0xC) + _u32(c, sec + 0x14)) & ((1 << (8 * c.ptr_size)) - 1)


@api(NT, "PVOID NTAPI RtlImageDirectoryEntryToData(PVOID Base, BOOLEAN MappedAsImage, USHORT DirectoryEntry, "
         "PULONG Size)")
def RtlImageDirectoryEntryToData(c, base, image, entry, size_out):
    """The data of data directory `DirectoryEntry` of the image at `Base`, and its size in *Size. A base with
    its low bit set is a LoadLibraryEx data-file mapping (LDR_IS_DATAFILE: mapped as a file whatever
    MappedAsImage says). A PE32 or PE32+ optional header either way (a 32-bit process may look into a 64-bit
    image); an entry past NumberOfRvaAndSizes, or with VirtualAddress 0: NULL (Size untouched). Mapped as a
    file, an RVA past the headers is translated through the section table (RtlImageRvaToVa)."""
    if base & 1:
        base &= ~1
        image = 0
    st, nt = _nt_header(c, base, None)
    if st:
        return 0
    opt = nt + 0x18
    layout = _OPT_LAYOUT.get(_u16(c, opt))
    if layout is None:
        return 0
    soh_off, count_off, dir_off = layout
    if entry >= _u32(c, opt + count_off):
        return 0
    rva = _u32(c, opt + dir_off + 8 * entry)
    if not rva:
        return 0
    if size_out:
        c.write(size_out, c.read(opt + dir_off + 8 * entry + 4, 4))
    if image & 0xFF or rva < _u32(c, opt + soh_off):
        return (base + rva) & ((1 << (8 * c.ptr_size)) - 1)
    return _rva_to_va(c, nt, base, rva)


def _rva_to_va(c, nt: int, base: int, rva: int) -> int:
    sec = _section_of_rva(c, nt, rva)
    if not sec:
        return 0
    return (base + rva - _u32(c, sec + 0xC) + _u32(c, sec + 0x14)) & ((1 << (8 * c.ptr_size)) - 1)


# ------------------------------------------------------------------------------------------ loader entries
@api(NT, "NTSTATUS NTAPI LdrFindEntryForAddress(PVOID Address, PLDR_DATA_TABLE_ENTRY *Entry)")
def LdrFindEntryForAddress(c, address, out):
    """The LDR_DATA_TABLE_ENTRY (in the PEB's loader lists) of the loaded module that contains `Address`;
    none does: STATUS_NO_MORE_ENTRIES."""
    from winhatch.ldr.loader import module_at
    m = module_at(c.proc, address)
    if m is None or m.datafile:
        return 0x8000001A          # STATUS_NO_MORE_ENTRIES
    c.write_ptr(out, m.entry)
    return 0


# ------------------------------------------------------------------------------------------ the DLL directory
@api(NT, "NTSTATUS NTAPI LdrGetDllDirectory(PUNICODE_STRING DllDirectory)")
def LdrGetDllDirectory(c, us):
    """SetDllDirectory's directory into the caller's UNICODE_STRING (with its NUL); a buffer too small:
    STATUS_BUFFER_TOO_SMALL, Length the size needed with the NUL and the buffer emptied."""
    from winhatch.ldr import loader as _loader
    text = (_loader.state_of(c.proc).dll_directory or "").encode("utf-16-le")
    _len, maxlen = struct.unpack("<HH", c.read(us, 4))
    buf = c.ptr(us + c.ptr_size)
    if maxlen < len(text) + 2:
        if buf and maxlen >= 2:
            c.write(buf, b"\0\0")
        c.write(us, struct.pack("<H", len(text) + 2))
        return 0xC0000023      # STATUS_BUFFER_TOO_SMALL
    c.write(buf, text + b"\0\0")
    c.write(us, struct.pack("<H", len(text)))
    return 0


@api(NT, "NTSTATUS NTAPI LdrSetDllDirectory(PCUNICODE_STRING DllDirectory)")
def LdrSetDllDirectory(c, us):
    """What SetDllDirectory stores: the directory searched after the application's (empty: none, and the
    current directory leaves the search order)."""
    from winhatch.ldr import loader as _loader
    ln = struct.unpack("<H", c.read(us, 2))[0] if us else 0
    buf = c.ptr(us + c.ptr_size) if us else 0
    path = c.read(buf, ln).decode("utf-16-le", "surrogatepass") if ln and buf else ""
    st = _loader.state_of(c.proc)
    st.dll_directory = path
    st.dll_directories = [path.rstrip("\\/") if len(path) > 3 else path] if path else []
    return 0


@api(NT, "BOOLEAN NTAPI RtlDllShutdownInProgress(void)")
def RtlDllShutdownInProgress(c):
    """TRUE once the process has begun to exit (ExitProcess's DLL_PROCESS_DETACH calls): PEB->Ldr's
    ShutdownInProgress, which LdrShutdownProcess sets."""
    from winhatch.kernel.structs import PEB_LDR_DATA
    from winhatch.ldr import loader
    st = loader.state_of(c.proc)
    if not st.ldr_data:
        return 0
    return 1 if PEB_LDR_DATA.read(c.proc.aspace, st.ldr_data, c.arch, "ShutdownInProgress")["ShutdownInProgress"] else 0


# ------------------------------------------------------------------------------------------ the loader lock
LDR_LOCK_LOADER_LOCK_FLAG_RAISE_ON_ERRORS, LDR_LOCK_LOADER_LOCK_FLAG_TRY_ONLY = 0x1, 0x2
LDR_LOCK_LOADER_LOCK_DISPOSITION_LOCK_ACQUIRED, LDR_LOCK_LOADER_LOCK_DISPOSITION_LOCK_NOT_ACQUIRED = 1, 2
STATUS_INVALID_PARAMETER_1, STATUS_INVALID_PARAMETER_2, STATUS_INVALID_PARAMETER_3 = 0xC00000EF, 0xC00000F0, 0xC00000F1


def _cookie(thread, count: int) -> int:
    """The cookie names the owning thread (its id) and the recursion level it was taken at."""
    return ((thread.tid & 0xFFF) << 16) | (count & 0xFFFF) | 0x10000000


@api(NT, "NTSTATUS NTAPI LdrLockLoaderLock(ULONG Flags, PULONG Disposition, PULONG_PTR Cookie)")
def LdrLockLoaderLock(c, flags, pdisp, pcookie):
    """Takes the loader lock (the one the loader holds while it loads DLLs and runs their initialisers),
    recursively for its owner; another thread waits, or with LDR_LOCK_LOADER_LOCK_FLAG_TRY_ONLY does not and
    gets LOCK_NOT_ACQUIRED. An unknown flag is STATUS_INVALID_PARAMETER_1, TRY_ONLY without a Disposition
    _2, no Cookie _3 (with RAISE_ON_ERRORS these are raised: not modelled, stops loudly)."""
    from winhatch.ldr.ntdll import loader_lock
    # the outputs are cleared before the parameters are checked (Wine's ntdll/rtl test, written on Windows)
    if pdisp:
        c.write_u32(pdisp, 0)
    if pcookie:
        c.write_ptr(pcookie, 0)
    bad = (STATUS_INVALID_PARAMETER_1 if flags & ~3 else
           STATUS_INVALID_PARAMETER_2 if flags & LDR_LOCK_LOADER_LOCK_FLAG_TRY_ONLY and not pdisp else
           STATUS_INVALID_PARAMETER_3 if not pcookie else 0)
    if bad:
        if flags & LDR_LOCK_LOADER_LOCK_FLAG_RAISE_ON_ERRORS:
            from winhatch.win32.msvcrt.runtime import not_implemented
            not_implemented(c, "LdrLockLoaderLock raising its parameter error")
        return bad
    lock = loader_lock(c.proc)
    if flags & LDR_LOCK_LOADER_LOCK_FLAG_TRY_ONLY and lock.owner is not None and lock.owner is not c.thread \
            and not lock.owner.terminated:
        c.write_u32(pdisp, LDR_LOCK_LOADER_LOCK_DISPOSITION_LOCK_NOT_ACQUIRED)
        c.write_ptr(pcookie, 0)
        return 0
    lock.enter(c.thread, "LdrLockLoaderLock")      # blocks (the call is re-run) while another thread has it
    if pdisp:
        c.write_u32(pdisp, LDR_LOCK_LOADER_LOCK_DISPOSITION_LOCK_ACQUIRED)
    c.write_ptr(pcookie, _cookie(c.thread, lock.count))
    return 0


@api(NT, "NTSTATUS NTAPI LdrUnlockLoaderLock(ULONG Flags, ULONG_PTR Cookie)")
def LdrUnlockLoaderLock(c, flags, cookie):
    """Releases a level of the loader lock taken by LdrLockLoaderLock: a cookie of 0 (a TRY_ONLY that did not
    get it) does nothing; one of another thread, or the lock not held by the caller, is
    STATUS_INVALID_PARAMETER_2 (Windows does not release a loader lock another thread took)."""
    from winhatch.ldr.ntdll import loader_lock
    if flags & ~1:
        return STATUS_INVALID_PARAMETER_1
    if not cookie:
        return 0
    lock = loader_lock(c.proc)
    if (cookie >> 16) & 0xFFF != c.thread.tid & 0xFFF or lock.owner is not c.thread:
        return STATUS_INVALID_PARAMETER_2
    lock.leave(c.machine, c.thread)
    return 0


@api(NT, "void NTAPI LdrShutdownProcess(void)", calls_guest=True)
def LdrShutdownProcess(c):
    """What ExitProcess does before the process ends, without ending it: the calling thread's fiber-local
    storage callbacks (its block stays), then DLL_PROCESS_DETACH (lpReserved non-NULL) in reverse
    initialisation order; RtlDllShutdownInProgress is TRUE from then on. Done once."""
    from winhatch.ldr import fls
    from winhatch.ldr import loader as _loader
    fls.process_exit(c.machine, c.thread)
    _loader.LdrShutdownProcess(c.machine, c.thread)


# ------------------------------------------------------------------------------------------ the unload event trace
@api("ntdll.dll", "PVOID NTAPI RtlGetUnloadEventTrace(void)")
def RtlGetUnloadEventTrace(c):
    """The ring of RTL_UNLOAD_EVENT_TRACE entries the loader fills as DLLs are unloaded (winhatch.ldr.loader)."""
    from winhatch.ldr import loader as _loader
    return _loader.unload_trace(_loader.state_of(c.proc))


@api("ntdll.dll", "void NTAPI RtlGetUnloadEventTraceEx(PULONG *ElementSize, PULONG *ElementCount, PVOID *EventTrace)")
def RtlGetUnloadEventTraceEx(c, psize, pcount, ptrace):
    """Where the loader keeps the ring's element size, element count and the pointer to the ring (a debugger
    reads these variables in another process)."""
    from winhatch.ldr import loader as _loader
    st = _loader.state_of(c.proc)
    block = _loader.unload_trace(st)
    var = block + _loader.unload_trace_layout(st.arch)[1]
    for out, addr in ((psize, var), (pcount, var + 4), (ptrace, var + 8)):
        c.write_ptr(out, addr)


# PS_SYSTEM_DLL_INIT_BLOCK: data the kernel fills when it maps ntdll (winhatch.kernel.ps.create)
from winhatch.win32.api import data_export as _data_export  # noqa: E402
_data_export("ntdll.dll", "LdrSystemDllInitBlock", 0xF0)
