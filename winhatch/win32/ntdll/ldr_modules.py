"""ntdll's loader exports about loaded modules: LdrGetDllHandle(Ex) and LdrGetDllFullName."""
from __future__ import annotations

import struct

from winhatch.win32.api import api

from winhatch.win32.ntdll.ldr import NT, STATUS_INVALID_PARAMETER

LDR_GET_DLL_HANDLE_EX_FLAG_UNCHANGED_REFCOUNT, LDR_GET_DLL_HANDLE_EX_FLAG_PIN = 0x1, 0x2
_HANDLE_EX_FLAGS = 0x7                   # 4 is accepted as well (Wine's module test, passing on Windows)
STATUS_DLL_NOT_FOUND = 0xC0000135


def _us_text(c, us: int) -> str | None:
    if not us:
        return None
    ln = struct.unpack("<H", c.read(us, 2))[0]
    buf = c.ptr(us + c.ptr_size)
    return c.read(buf, ln).decode("utf-16-le", "surrogatepass") if ln and buf else ""


def _dll_handle(c, flags: int, us: int, out: int) -> int:
    from winhatch.ldr import loader as _loader
    if not out or not us:
        return STATUS_INVALID_PARAMETER
    c.write_ptr(out, 0)
    base = _loader.LdrGetDllHandle(c.machine, c.proc, _us_text(c, us) or "")
    if not base:
        return STATUS_DLL_NOT_FOUND
    if not flags & LDR_GET_DLL_HANDLE_EX_FLAG_UNCHANGED_REFCOUNT:
        _loader.LdrAddRefDll(c.proc, base, bool(flags & LDR_GET_DLL_HANDLE_EX_FLAG_PIN))
    c.write_ptr(out, base)
    return 0


@api(NT, "NTSTATUS NTAPI LdrGetDllHandleEx(ULONG Flags, PCWSTR DllPath, PULONG DllCharacteristics, "
         "PCUNICODE_STRING DllName, PVOID *DllHandle)")
def LdrGetDllHandleEx(c, flags, path, chars, us, out):
    """The base of a loaded module by name: one more reference unless LDR_GET_DLL_HANDLE_EX_FLAG_UNCHANGED_REFCOUNT,
    pinned with LDR_GET_DLL_HANDLE_EX_FLAG_PIN (the two together, or an unknown flag: STATUS_INVALID_PARAMETER);
    not loaded: STATUS_DLL_NOT_FOUND."""
    if flags & ~_HANDLE_EX_FLAGS or (flags & LDR_GET_DLL_HANDLE_EX_FLAG_PIN
                                     and flags & LDR_GET_DLL_HANDLE_EX_FLAG_UNCHANGED_REFCOUNT):
        return STATUS_INVALID_PARAMETER
    return _dll_handle(c, flags, us, out)


@api(NT, "NTSTATUS NTAPI LdrGetDllHandle(PCWSTR DllPath, PULONG DllCharacteristics, PCUNICODE_STRING DllName, "
         "PVOID *DllHandle)")
def LdrGetDllHandle(c, path, chars, us, out):
    """LdrGetDllHandleEx without a reference (the reference count is unchanged)."""
    return _dll_handle(c, LDR_GET_DLL_HANDLE_EX_FLAG_UNCHANGED_REFCOUNT, us, out)


@api(NT, "NTSTATUS NTAPI LdrGetDllFullName(PVOID DllHandle, PUNICODE_STRING FullDllName)")
def LdrGetDllFullName(c, base, us):
    """The module's full path (NULL: the executable) into the caller's UNICODE_STRING with its NUL. A buffer that
    cannot hold it all gets what fits, byte for byte (an odd MaximumLength copies half a character), Length its
    size, and STATUS_BUFFER_TOO_SMALL; a base that is no loaded module: STATUS_DLL_NOT_FOUND."""
    from winhatch.ldr import loader as _loader
    st = _loader.state_of(c.proc)
    m = st.modules[0] if not base else next((x for x in st.modules if x.base == base), None)
    if m is None:
        return STATUS_DLL_NOT_FOUND
    text = m.path.encode("utf-16-le")
    maxlen = struct.unpack("<H", c.read(us + 2, 2))[0]
    buf = c.ptr(us + c.ptr_size)
    if maxlen < len(text) + 2:
        n = min(maxlen, len(text))
        if n:
            c.write(buf, text[:n])
        c.write(us, struct.pack("<H", n))
        return 0xC0000023           # STATUS_BUFFER_TOO_SMALL
    c.write(buf, text + b"\0\0")
    c.write(us, struct.pack("<H", len(text)))
    return 0


@api(NT, "NTSTATUS NTAPI LdrLoadDll(PVOID DllPath, PULONG DllCharacteristics, PCUNICODE_STRING DllName, "
         "PVOID *DllHandle)", calls_guest=True)
def LdrLoadDll(c, path_ptr, pchars, us, out):
    """LoadLibrary's native core: DllName searched along DllPath (a ';'-separated list of directories) when one
    is given, else the standard search order; the module's base in *DllHandle, the loader's NTSTATUS
    (STATUS_DLL_NOT_FOUND, STATUS_INVALID_IMAGE_FORMAT, STATUS_DLL_INIT_FAILED...) otherwise. A
    DllCharacteristics value other than 0 (IMAGE_FILE_EXECUTABLE_IMAGE asks for no reference resolution) is
    not modelled and stops loudly; so does a DllPath that is search flags (a value below 0x10000, or odd)."""
    from winhatch.ldr import loader as _loader
    name = _us_text(c, us)
    if not out or not name:
        return STATUS_INVALID_PARAMETER
    c.write_ptr(out, 0)
    chars = c.u32(pchars) if pchars else 0
    if chars:
        from winhatch.win32.msvcrt.runtime import not_implemented
        not_implemented(c, f"LdrLoadDll with DllCharacteristics {chars:#x}")
    search = None
    if path_ptr:
        if path_ptr < 0x10000 or path_ptr & 1:
            from winhatch.win32.msvcrt.runtime import not_implemented
            not_implemented(c, "LdrLoadDll with search flags in place of a path")
        text = c.wstr(path_ptr) or ""
        search = [d.rstrip("\\/") for d in text.split(";") if d]
        from winhatch.kernel.io.file_services import redirected
        if redirected(c.thread):        # the WoW64 file system redirector: System32 is SysWOW64
            search = [c.machine.vfs.wow64_redirect(d, "x86") for d in search]
    try:
        base = _loader.LdrLoadDll(c.machine, c.thread, name, 0, search_path=search)
    except _loader.LoaderError as e:
        return e.status
    c.write_ptr(out, base)
    return 0


@api(NT, "NTSTATUS NTAPI LdrUnloadDll(PVOID DllHandle)", calls_guest=True)
def LdrUnloadDll(c, base):
    """FreeLibrary's native core: one reference less (DLL_PROCESS_DETACH and unmapping at none);
    STATUS_DLL_NOT_FOUND for an address that is no loaded module."""
    from winhatch.ldr import loader as _loader
    return 0 if _loader.LdrUnloadDll(c.machine, c.thread, base) else STATUS_DLL_NOT_FOUND
