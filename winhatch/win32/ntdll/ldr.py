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
    return resolve_delay_loaded_api(c.machine, c.thread, parent, descriptor, failure_dll_hook, thunk)


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
