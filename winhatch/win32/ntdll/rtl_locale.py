"""ntdll: RtlLocaleNameToLcid and RtlLcidToLocaleName — the conversions kernelbase's LocaleNameToLCID and
LCIDToLocaleName are built on, with ntdll's own conventions (NTSTATUS results; the default pseudo-LCIDs name the
default locales but LOCALE_NEUTRAL and LOCALE_CUSTOM_UNSPECIFIED are refused; a neutral name or LCID only with
RTL_LOCALE_ALLOW_NEUTRAL_NAMES (2), and then as the neutral LCID: "en" is 0x0009).
A real locale winhatch does not model stops loudly (as in kernel32's locale functions)."""
from __future__ import annotations

from winhatch.kernel.ex.nls import ALT_SORTS, BY_LCID, NEUTRAL_NAME_DEFAULTS, NEUTRAL_NAME_LCIDS, lookup_name
from winhatch.ntstatus import STATUS_BUFFER_TOO_SMALL, STATUS_SUCCESS
from winhatch.win32.api import api
from winhatch.win32.kernel32 import locale as k32loc
from winhatch.win32.ntdll.rtl_string import get_str, heap_alloc, set_str

NT = "ntdll.dll"
STATUS_INVALID_PARAMETER_1, STATUS_INVALID_PARAMETER_2 = 0xC00000EF, 0xC00000F0
STATUS_NO_MEMORY = 0xC0000017
RTL_LOCALE_ALLOW_NEUTRAL_NAMES = 2


@api(NT, "NTSTATUS NTAPI RtlLocaleNameToLcid(LPCWSTR name, LCID *lcid, ULONG flags)")
def RtlLocaleNameToLcid(c, name, plcid, flags):
    if name is None or name == k32loc.LOCALE_NAME_SYSTEM_DEFAULT:
        return STATUS_INVALID_PARAMETER_1
    if name == "":
        value = k32loc.LOCALE_INVARIANT
    else:
        low = name.lower().replace("_", "-")
        if low in NEUTRAL_NAME_DEFAULTS and "-" not in low:
            if not flags & RTL_LOCALE_ALLOW_NEUTRAL_NAMES:
                return STATUS_INVALID_PARAMETER_1
            value = NEUTRAL_NAME_LCIDS.get(low) or lookup_name(low)[1] & 0x3FF
        else:
            if len(name) > 84 or not all(ch.isascii() and (ch.isalnum() or ch in "-_") for ch in name):
                return STATUS_INVALID_PARAMETER_1
            status, value = lookup_name(name)
            if status == "unknown":
                k32loc._stop(c, f"the locale {name!r} (not modelled)")
            if status != "ok":
                return STATUS_INVALID_PARAMETER_1
    if not plcid:
        return STATUS_INVALID_PARAMETER_2
    c.write_u32(plcid, value)
    return STATUS_SUCCESS


@api(NT, "BOOLEAN NTAPI RtlIsValidLocaleName(LPCWSTR name, ULONG flags)")
def RtlIsValidLocaleName(c, name, flags):
    """Is the name one RtlLocaleNameToLcid takes with these flags: "" (the invariant locale), a specific locale
    or alternate sort, a neutral name ("en") only with RTL_LOCALE_ALLOW_NEUTRAL_NAMES. A real locale winhatch
    does not model is valid too (the answer needs no data of it)."""
    if name is None or name == k32loc.LOCALE_NAME_SYSTEM_DEFAULT:
        return 0
    if name == "":
        return 1
    if len(name) > 84 or not all(ch.isascii() and (ch.isalnum() or ch in "-_") for ch in name):
        return 0
    valid = lookup_name(name)[0] in ("ok", "unknown")
    if valid and "-" not in name and "_" not in name:      # a language alone: a neutral locale ("en", "ia")
        return 1 if flags & RTL_LOCALE_ALLOW_NEUTRAL_NAMES else 0
    return 1 if valid else 0


@api(NT, "NTSTATUS NTAPI RtlLcidToLocaleName(LCID lcid, UNICODE_STRING *str, ULONG flags, BOOLEAN alloc)")
def RtlLcidToLocaleName(c, lcid, pstr, flags, alloc):
    lcid &= 0xFFFFFFFF
    if lcid in (k32loc.LOCALE_NEUTRAL, k32loc.LOCALE_CUSTOM_UNSPECIFIED):
        return STATUS_INVALID_PARAMETER_1
    if not pstr:
        return STATUS_INVALID_PARAMETER_2
    sort_name = next((n for n, sl in ALT_SORTS.items() if sl == lcid), None)
    if sort_name is not None:
        name = sort_name
    elif lcid == lcid & 0x3FF and lcid not in (k32loc.LOCALE_INVARIANT,):
        # a neutral LCID: its language's name, only when neutral names are allowed
        if not flags & RTL_LOCALE_ALLOW_NEUTRAL_NAMES:
            return STATUS_INVALID_PARAMETER_1
        names = [n for n in NEUTRAL_NAME_DEFAULTS if (lookup_name(n)[1] & 0x3FF) == lcid]
        if not names:
            return STATUS_INVALID_PARAMETER_1
        name = names[0]
    else:
        loc = k32loc.resolve_lcid(c, lcid)
        if loc is None:
            return STATUS_INVALID_PARAMETER_1
        name = k32loc.locale_name(loc) if loc in BY_LCID or loc == k32loc.LOCALE_INVARIANT else None
        if name is None:
            return STATUS_INVALID_PARAMETER_1
    data = name.encode("utf-16-le")
    if alloc & 0xFF:
        buf = heap_alloc(c, len(data) + 2)
        if not buf:
            return STATUS_NO_MEMORY
        c.write(buf, data + b"\0\0")
        set_str(c, pstr, len(data), len(data) + 2, buf)
        return STATUS_SUCCESS
    _length, maxlen, buf = get_str(c, pstr)
    if len(data) + 2 > maxlen:
        return STATUS_BUFFER_TOO_SMALL
    c.write(buf, data + b"\0\0")
    set_str(c, pstr, len(data))
    return STATUS_SUCCESS
