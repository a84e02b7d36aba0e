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
