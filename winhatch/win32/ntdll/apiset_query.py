"""API set presence queries: ntdll's ApiSetQueryApiSetPresence(Ex) and kernelbase's IsApiSetImplemented.

They read the process's API set schema (PEB->ApiSetMap, the blob MmCreatePeb mapped, parsed by the loader at
LdrpInitializeProcess) as ntdll's loader resolves names with it (winhatch.kernel.apiset.schema):

- ApiSetQueryApiSetPresence(name, &present) is the loader's own look-up: a ".dll" suffix is dropped and only
  the part before the last hyphen is compared (the hashed length of the schema entry), so
  "api-ms-win-core-console-l1-1-9" and "…-l1-1-0.fake" find "api-ms-win-core-console-l1-1-0"; `present` is
  TRUE when the entry has a host DLL. Any name, even "" or one that is no API set, is STATUS_SUCCESS.
- ApiSetQueryApiSetPresenceEx(name, &in_schema, &present) asks about the exact contract: the name must be an
  API set name without extension (no '.'; "api-"/"ext-" prefix), else STATUS_INVALID_PARAMETER with both
  outputs untouched; `in_schema` when the schema holds exactly that name, `present` when it also has a host
  (api-ms-win-deprecated-apis-advapi-l1-1-0 is in the schema without one).
- IsApiSetImplemented(ansi name): the Ex query succeeded and the contract is present.

Behaviour as Wine's kernel32/tests/module.c test_apisets records it on Windows 10 (the win8 results are
`broken`).
"""
from __future__ import annotations

import struct

from winhatch.win32.api import api

NT = "ntdll.dll"
STATUS_INVALID_PARAMETER = 0xC000000D
MAX_NAME = 0x7FFF   # a UNICODE_STRING's characters at most


def _schema(c):
    st = c.proc.subsystem.get("ldr")
    if st is not None and st.apiset is not None:
        return st.apiset
    from winhatch.kernel.apiset.schema import default_schema
    return default_schema()


def _unicode_string(c, us: int) -> str | None:
    """The text of a UNICODE_STRING (Length bytes; no terminator needed), None for a NULL pointer."""
    if not us:
        return None
    length = struct.unpack("<H", c.read(us, 2))[0] & ~1
    buf = c.ptr(us + c.ptr_size)
    if not length:
        return ""
    return c.read(buf, length).decode("utf-16-le", "surrogatepass")


def _lookup(c, name: str) -> tuple[int | None, object]:
    schema = _schema(c)
    return schema.find(name), schema


def _has_host(schema, idx: int) -> bool:
    vals = schema.values(idx)
    return bool(vals and vals[0][1])


def _presence_ex(c, name: str) -> tuple[int, bool, bool]:
    """(NTSTATUS, in_schema, present) of the exact contract `name`."""
    low = name.lower()
    if "." in name or not low.startswith(("api-", "ext-")) or len(name) > MAX_NAME:
        return STATUS_INVALID_PARAMETER, False, False
    idx, schema = _lookup(c, name)
    if idx is None or schema.entry(idx)[1].lower() != low:
        return 0, False, False
    return 0, True, _has_host(schema, idx)


@api(NT, "NTSTATUS NTAPI ApiSetQueryApiSetPresence(PCUNICODE_STRING Namespace, PBOOLEAN Present)")
def ApiSetQueryApiSetPresence(c, us, present):
    """Whether the loader would resolve the API set `Namespace` to a host DLL (see the module's text)."""
    name = _unicode_string(c, us) or ""
    idx, schema = _lookup(c, name)
    c.write(present, bytes([1 if idx is not None and _has_host(schema, idx) else 0]))
    return 0


@api(NT, "NTSTATUS NTAPI ApiSetQueryApiSetPresenceEx(PCUNICODE_STRING Namespace, PBOOLEAN IsInSchema, "
         "PBOOLEAN Present)")
def ApiSetQueryApiSetPresenceEx(c, us, in_schema, present):
    """Whether the exact contract `Namespace` is in the schema and has a host (see the module's text)."""
    status, found, has_host = _presence_ex(c, _unicode_string(c, us) or "")
    if status:
        return status
    c.write(in_schema, bytes([int(found)]))
    c.write(present, bytes([int(has_host)]))
    return 0


@api("kernelbase.dll", "BOOL WINAPI IsApiSetImplemented(PCSTR Contract)")
def IsApiSetImplemented(c, contract):
    """TRUE when the exact contract is in the schema with a host (ApiSetQueryApiSetPresenceEx); NULL: FALSE."""
    if contract is None:     # PCSTR arrives decoded
        return 0
    status, found, has_host = _presence_ex(c, contract)
    return int(not status and found and has_host)
