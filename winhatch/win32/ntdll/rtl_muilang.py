"""ntdll: the preferred UI language lists — RtlGetSystemPreferredUILanguages, RtlGetUserPreferredUILanguages,
RtlGetThreadPreferredUILanguages, RtlSetThreadPreferredUILanguages — that kernelbase's
Get*PreferredUILanguages and SetThreadUILanguage are built on.

The languages come from the kernel: the install language (NtQueryInstallUILanguage) is the system's list, the
user's UI language (NtQueryDefaultUILanguage) the user's. A thread's own languages (SetThreadUILanguage,
SetThreadPreferredUILanguages) are kept where Windows keeps them, behind TEB.PreferredLanguages: a block of the
process heap holding a ULONG count and that many LANGIDs.

A list is a multi-string: each language as its LANGID in four upper-case hex digits (MUI_LANGUAGE_ID) or as its
locale name (MUI_LANGUAGE_NAME, the default), each with its NUL, and a final NUL. The caller's size is in
WCHARs: with no buffer it must be 0 and receives the size needed; a buffer too small is STATUS_BUFFER_TOO_SMALL
with the size needed written back (the count is then left alone)."""
from __future__ import annotations

from winhatch.kernel.structs import TEB
from winhatch.ntstatus import STATUS_BUFFER_TOO_SMALL, STATUS_INVALID_PARAMETER, STATUS_SUCCESS
from winhatch.win32.api import api

NT = "ntdll.dll"
MUI_LANGUAGE_ID, MUI_LANGUAGE_NAME = 0x4, 0x8
MUI_MERGE_SYSTEM_FALLBACK, MUI_MERGE_USER_FALLBACK, MUI_THREAD_LANGUAGES = 0x10, 0x20, 0x40
MUI_CONSOLE_FILTER, MUI_COMPLEX_SCRIPT_FILTER, MUI_RESET_FILTERS = 0x100, 0x200, 0x1
MUI_MACHINE_LANGUAGE_SETTINGS = 0x400
#: the flags each list takes (Microsoft's documentation of the Get*PreferredUILanguages functions); MUI_LANGUAGE_ID
#: and MUI_LANGUAGE_NAME exclude each other
SYSTEM_FLAGS = MUI_LANGUAGE_ID | MUI_LANGUAGE_NAME | MUI_MACHINE_LANGUAGE_SETTINGS
USER_FLAGS = MUI_LANGUAGE_ID | MUI_LANGUAGE_NAME
THREAD_FLAGS = (MUI_LANGUAGE_ID | MUI_LANGUAGE_NAME | MUI_MERGE_SYSTEM_FALLBACK | MUI_MERGE_USER_FALLBACK
                | MUI_THREAD_LANGUAGES | MUI_CONSOLE_FILTER | MUI_COMPLEX_SCRIPT_FILTER)
#: the most languages a thread keeps (a bound on the guest's list)
MAX_THREAD_LANGUAGES = 32


def _query(c, service: str) -> int:
    out = c.stack_alloc(4)
    st = c.nt(service, out)
    if st & 0x80000000:
        from winhatch.win32.msvcrt.runtime import not_implemented
        not_implemented(c, f"{service}: {st:#x}")
    return c.u32(out) & 0xFFFF


def install_language(c) -> int:
    return _query(c, "NtQueryInstallUILanguage")


def user_language(c) -> int:
    return _query(c, "NtQueryDefaultUILanguage")


def thread_languages(c) -> list[int]:
    """The thread's own UI languages (none until SetThreadUILanguage or SetThreadPreferredUILanguages)."""
    block = TEB.read(c.proc.aspace, c.thread.teb, c.arch, "PreferredLanguages")["PreferredLanguages"]
    if not block:
        return []
    count = min(c.u32(block), MAX_THREAD_LANGUAGES)
    data = c.read(block + 4, 2 * count)
    return [int.from_bytes(data[i:i + 2], "little") for i in range(0, len(data), 2)]


def set_thread_languages(c, langs: list[int]) -> None:
    """Replace the thread's languages (an empty list clears them)."""
    from winhatch.win32.kernel32.common import heap_alloc, heap_free
    old = TEB.read(c.proc.aspace, c.thread.teb, c.arch, "PreferredLanguages")["PreferredLanguages"]
    block = 0
    if langs:
        block = heap_alloc(c, 4 + 2 * len(langs))
        c.write(block, len(langs).to_bytes(4, "little") + b"".join(x.to_bytes(2, "little") for x in langs))
    TEB.write(c.proc.aspace, c.thread.teb, c.arch, PreferredLanguages=block)
    if old:
        heap_free(c, old)


def language_name(c, langid: int) -> str:
    from winhatch.kernel.ex.nls import BY_LCID
    x = BY_LCID.get(langid)
    if x is None:
        from winhatch.win32.msvcrt.runtime import not_implemented
        not_implemented(c, f"the name of the UI language 0x{langid:04x} (not a modelled locale)")
    return x.name


def multi_string(c, flags: int, langs: list[int]) -> str:
    """The list as Windows writes it: every language with its NUL, then a final NUL."""
    items = [f"{x:04X}" if flags & MUI_LANGUAGE_ID else language_name(c, x) for x in langs]
    return "".join(s + "\0" for s in items) + "\0"


def _dedup(langs: list[int]) -> list[int]:
    out: list[int] = []
    for x in langs:
        if x not in out:
            out.append(x)
    return out


def put_list(c, flags: int, langs: list[int], pcount: int, buf: int, psize: int) -> int:
    """Write a list (see the module's docstring for the size rules); an NTSTATUS."""
    if not pcount or not psize:
        return STATUS_INVALID_PARAMETER
    size = c.u32(psize)
    if not buf and size:
        return STATUS_INVALID_PARAMETER
    text = multi_string(c, flags, langs)
    need = len(text)
    if buf:
        if size < need:
            c.write_u32(psize, need)
            return STATUS_BUFFER_TOO_SMALL
        c.write(buf, text.encode("utf-16-le"))
    c.write_u32(pcount, len(langs))
    c.write_u32(psize, need)
    return STATUS_SUCCESS


def _flags_ok(flags: int, allowed: int) -> bool:
    return not (flags & ~allowed) and (flags & (MUI_LANGUAGE_ID | MUI_LANGUAGE_NAME)) != (MUI_LANGUAGE_ID
                                                                                          | MUI_LANGUAGE_NAME)


def system_list(c, flags: int) -> list[int]:
    return [install_language(c)]


def user_list(c, flags: int) -> list[int]:
    return _dedup([user_language(c), install_language(c)])


def thread_list(c, flags: int) -> list[int]:
    """MUI_THREAD_LANGUAGES: the thread's own languages alone; otherwise the thread's, then the user's and the
    system's (the fallback flags merge the same languages: no language here has another fallback)."""
    own = thread_languages(c)
    if flags & MUI_THREAD_LANGUAGES:
        return own
    return _dedup(own + user_list(c, flags))


@api(NT, "NTSTATUS NTAPI RtlGetSystemPreferredUILanguages(DWORD flags, ULONG unknown, ULONG *count, "
         "LPWSTR_RAW buffer, ULONG *size)")
def RtlGetSystemPreferredUILanguages(c, flags, unknown, pcount, buf, psize):
    if not _flags_ok(flags, SYSTEM_FLAGS):
        return STATUS_INVALID_PARAMETER
    return put_list(c, flags, system_list(c, flags), pcount, buf, psize)


@api(NT, "NTSTATUS NTAPI RtlGetUserPreferredUILanguages(DWORD flags, ULONG unknown, ULONG *count, "
         "LPWSTR_RAW buffer, ULONG *size)")
def RtlGetUserPreferredUILanguages(c, flags, unknown, pcount, buf, psize):
    if not _flags_ok(flags, USER_FLAGS):
        return STATUS_INVALID_PARAMETER
    return put_list(c, flags, user_list(c, flags), pcount, buf, psize)


@api(NT, "NTSTATUS NTAPI RtlGetThreadPreferredUILanguages(DWORD flags, ULONG *count, LPWSTR_RAW buffer, "
         "ULONG *size)")
def RtlGetThreadPreferredUILanguages(c, flags, pcount, buf, psize):
    """Microsoft's documentation of the flags: MUI_MERGE_SYSTEM_FALLBACK only with MUI_MERGE_USER_FALLBACK,
    MUI_THREAD_LANGUAGES with neither."""
    merge = flags & (MUI_MERGE_SYSTEM_FALLBACK | MUI_MERGE_USER_FALLBACK)
    if not _flags_ok(flags, THREAD_FLAGS) or merge == MUI_MERGE_SYSTEM_FALLBACK \
            or (merge and flags & MUI_THREAD_LANGUAGES):
        return STATUS_INVALID_PARAMETER
    return put_list(c, flags, thread_list(c, flags), pcount, buf, psize)


def parse_list(c, flags: int, buf: int, count: int) -> list[int] | None:
    """The languages of a caller's multi-string (IDs or names); None for one that is not a language."""
    from winhatch.kernel.ex.nls import lookup_name
    out: list[int] = []
    p = buf
    for _ in range(min(count, MAX_THREAD_LANGUAGES)):
        s = c.wstr(p, 86)
        if not s:
            break
        p += 2 * (len(s) + 1)
        if flags & MUI_LANGUAGE_ID:
            try:
                v = int(s, 16)
            except ValueError:
                return None
            if len(s) != 4 or not (v & 0x3FF):
                return None
        else:
            status, v = lookup_name(s)
            if status != "ok":
                return None
            v &= 0xFFFF
        out.append(v)
    return out


@api(NT, "NTSTATUS NTAPI RtlSetThreadPreferredUILanguages(DWORD flags, LPCWSTR_RAW buffer, ULONG *count)")
def RtlSetThreadPreferredUILanguages(c, flags, buf, pcount):
    """Set (or with no buffer clear) the thread's languages; the count of languages set is written back."""
    if flags & ~(MUI_LANGUAGE_ID | MUI_LANGUAGE_NAME | MUI_CONSOLE_FILTER | MUI_COMPLEX_SCRIPT_FILTER
                 | MUI_RESET_FILTERS) or not _flags_ok(flags & (MUI_LANGUAGE_ID | MUI_LANGUAGE_NAME), USER_FLAGS):
        return STATUS_INVALID_PARAMETER
    if not buf:
        set_thread_languages(c, [])
        if pcount:
            c.write_u32(pcount, 0)
        return STATUS_SUCCESS
    if not flags & (MUI_LANGUAGE_ID | MUI_LANGUAGE_NAME):
        return STATUS_INVALID_PARAMETER
    langs = parse_list(c, flags, buf, MAX_THREAD_LANGUAGES)
    if langs is None:
        return STATUS_INVALID_PARAMETER
    set_thread_languages(c, _dedup(langs))
    if pcount:
        c.write_u32(pcount, len(langs))
    return STATUS_SUCCESS
