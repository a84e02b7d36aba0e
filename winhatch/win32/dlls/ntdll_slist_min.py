"""RtlInitializeSListHead, as the MSVC C runtime's start-up code (vcstartup's __scrt_initialize_default_local_
stdio_options / the thread-safe statics) calls it: an SLIST_HEADER is zeroed (16 bytes x64, 8 x86; documented
as an opaque header that InitializeSListHead sets to empty). The other SList functions are not implemented
here (they stop loudly). Minimal: added by the msvcp helper to reach msvcp140's code in MSVC programs."""
from __future__ import annotations

from winhatch.win32.api import api


@api("ntdll.dll", "void NTAPI RtlInitializeSListHead(PVOID ListHead)")
def RtlInitializeSListHead(c, head):
    c.write(head, bytes(16 if c.ptr_size == 8 else 8))
    return 0
