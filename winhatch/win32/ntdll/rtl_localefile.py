"""ntdll: RtlGetLocaleFileMappingAddress — the process's view of locale.nls, mapped by NtInitializeNlsFiles on
the first call and kept (ntdll's cache: every later call returns the same address, LCID and size)."""
from __future__ import annotations

import struct

from winhatch.win32.api import api

NT = "ntdll.dll"


@api(NT, "NTSTATUS NTAPI RtlGetLocaleFileMappingAddress(PVOID *ptr, LCID *lcid, LARGE_INTEGER *size)")
def RtlGetLocaleFileMappingAddress(c, pptr, plcid, psize):
    from winhatch.ldr import loader
    state = loader.state_of(c.proc)
    cached = getattr(state, "locale_file_view", None)
    if cached is None:
        out = c.stack_alloc(24)
        st = c.nt("NtInitializeNlsFiles", out, out + 8, out + 16)
        if st:
            return st
        cached = (c.ptr(out), c.u32(out + 8), c.read(out + 16, 8))
        state.locale_file_view = cached
    base, lcid, size = cached
    c.write_ptr(pptr, base)
    c.write_u32(plcid, lcid)
    if psize:
        c.write(psize, size)
    return 0
