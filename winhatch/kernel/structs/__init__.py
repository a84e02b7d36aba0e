"""Windows structure layouts for x86 and x64, declared once each.

    from winhatch.kernel.structs import PEB, TEB
    PEB.size("x64")                         # 0x7C8
    PEB.offset("x86", "Ldr")                # 0x0C
    TEB.offset("x64", "NtTib.Self")         # 0x30
    TEB.offset("x64", "TlsSlots[3]")        # 0x1498
    PEB.pack("x64", ImageBaseAddress=0x140000000, Ldr=...) -> bytes   (everything else zero)
    PEB.unpack("x64", data) -> dict
    TEB.write(mem, teb, "x86", LastErrorValue=5, ClientId={"UniqueThread": 8})   # only those members
    TEB.read(mem, teb, "x86", "LastErrorValue") -> {"LastErrorValue": 5}
    TEB.view(mem, teb, "x64").NtTib.StackBase

The 32-bit ("x86") TEB/PEB/loader layouts are what a WoW64 program sees on 64-bit Windows 10 (19041-19045).
"""
from ._layout import (ARCHES, BOOL, BOOLEAN, BYTE, CHAR, DWORD, DWORD64, HANDLE, LONG, LONG_PTR, LONGLONG, PTR_SIZE,
                      PVOID, SHORT, SIZE_T, UCHAR, ULONG, ULONG_PTR, ULONGLONG, USHORT, WCHAR, WORD, Array, CType,
                      F, Field, PerArch, Prim, Struct, StructView, Union)
from .basic import *  # noqa: F401,F403
from .basic import __all__ as _basic_all
from .kuser import *  # noqa: F401,F403
from .kuser import __all__ as _kuser_all
from .nt import *  # noqa: F401,F403
from .nt import __all__ as _nt_all
from .sysinfo import *  # noqa: F401,F403
from .sysinfo import __all__ as _sysinfo_all
from .winapi import *  # noqa: F401,F403
from .winapi import __all__ as _winapi_all

__all__ = ["ARCHES", "PTR_SIZE", "Array", "CType", "F", "Field", "PerArch", "Prim", "Struct", "StructView", "Union",
           "UCHAR", "CHAR", "BOOLEAN", "USHORT", "SHORT", "WCHAR", "ULONG", "LONG", "ULONGLONG", "LONGLONG", "PVOID",
           "HANDLE", "SIZE_T", "ULONG_PTR", "LONG_PTR", "BYTE", "WORD", "DWORD", "DWORD64", "BOOL",
           *_basic_all, *_nt_all, *_winapi_all, *_kuser_all, *_sysinfo_all]
