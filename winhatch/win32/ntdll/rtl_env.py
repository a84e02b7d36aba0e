"""ntdll's environment queries: RtlQueryEnvironmentVariable_U and RtlQueryEnvironmentVariable.

An environment is a block of NUL-terminated "name=value" UTF-16 strings ended by an empty string, read from
guest memory: the caller's block, or (Environment == NULL) the process's, the block
RTL_USER_PROCESS_PARAMETERS.Environment points to (k32_env keeps it current). A variable matches when its
entry begins, case-insensitively, with the name followed by '=' (so a name may itself contain '=': "sr=an"
finds "sr=an=ouo", and "=C:" finds the per-drive directory entries).
"""
from __future__ import annotations

import struct

from winhatch.kernel.structs import RTL_USER_PROCESS_PARAMETERS
from winhatch.ntstatus import STATUS_BUFFER_TOO_SMALL, STATUS_SUCCESS
from winhatch.win32.api import api

from winhatch.win32.kernel32.common import params_address
from winhatch.win32.ntdll.rtl_string import get_str, read_units, set_str, upcase_unit

NT = "ntdll.dll"
STATUS_VARIABLE_NOT_FOUND = 0xC0000100
MAX_BLOCK_UNITS = 1 << 21          # a bounded scan of a guest block (4 MiB)


def _entries(c, env: int) -> list[list[int]]:
    if not env:
        p = params_address(c)
        env = RTL_USER_PROCESS_PARAMETERS.read(c.proc.aspace, p, c.arch, "Environment")["Environment"]
    out, cur, i = [], [], 0
    while i < MAX_BLOCK_UNITS:
        chunk = struct.unpack("<256H", c.read(env + 2 * i, 512))
        for u in chunk:
            if u:
                cur.append(u)
            elif cur:
                out.append(cur)
                cur = []
            else:
                return out
        i += 256
    return out


def _units(s: str) -> list[int]:
    raw = s.encode("utf-16-le", "surrogatepass")
    return list(struct.unpack(f"<{len(raw) // 2}H", raw))


def _text(units: list[int]) -> str:
    return struct.pack(f"<{len(units)}H", *units).decode("utf-16-le", "surrogatepass")


def find(c, env: int, name: list[int]) -> list[int] | None:
    """The value units of variable `name` in the block at env (0: the process's), or None."""
    if not name:
        return None
    key = [upcase_unit(u) for u in name] + [0x3D]
    n = len(key)
    for e in _entries(c, env):
        if len(e) >= n and [upcase_unit(u) for u in e[:n]] == key:
            return e[n:]
    return None


@api(NT, "NTSTATUS NTAPI RtlQueryEnvironmentVariable_U(PWSTR Environment, PCUNICODE_STRING Name, "
         "PUNICODE_STRING Value)")
def RtlQueryEnvironmentVariable_U(c, env, pname, pvalue):
    """Value.Length is the value's size in bytes; STATUS_BUFFER_TOO_SMALL when it exceeds MaximumLength.
    The copy is NUL-terminated only when there is room."""
    val = find(c, env, read_units(c, pname))
    if val is None:
        return STATUS_VARIABLE_NOT_FOUND
    n = 2 * len(val)
    _, mx, buf = get_str(c, pvalue)
    set_str(c, pvalue, n)
    if n > mx:
        return STATUS_BUFFER_TOO_SMALL
    c.write(buf, struct.pack(f"<{len(val)}H", *val) + (b"\0\0" if n + 2 <= mx else b""))
    return STATUS_SUCCESS


@api(NT, "NTSTATUS NTAPI RtlQueryEnvironmentVariable(PWSTR Environment, PCWSTR_RAW Name, SIZE_T NameLength, "
         "PWSTR Value, SIZE_T ValueLength, PSIZE_T ReturnLength)")
def RtlQueryEnvironmentVariable(c, env, pname, name_len, pval, val_len, pret):
    """Lengths in characters. STATUS_BUFFER_TOO_SMALL, *ReturnLength = the length plus the NUL, when the
    value and its NUL do not fit; else the value and a NUL, *ReturnLength = the length."""
    name = list(struct.unpack(f"<{name_len}H", c.read(pname, 2 * name_len))) if name_len else []
    val = find(c, env, name)
    if val is None:
        return STATUS_VARIABLE_NOT_FOUND
    if len(val) >= val_len:
        if pret:
            c.write_ptr(pret, len(val) + 1)
        return STATUS_BUFFER_TOO_SMALL
    c.write(pval, struct.pack(f"<{len(val)}H", *val) + b"\0\0")
    if pret:
        c.write_ptr(pret, len(val))
    return STATUS_SUCCESS


@api(NT, "NTSTATUS NTAPI RtlExpandEnvironmentStrings_U(PWSTR Environment, PCUNICODE_STRING Source, "
         "PUNICODE_STRING Destination, PULONG ReturnedLength)")
def RtlExpandEnvironmentStrings_U(c, env, psrc, pdst, pret):
    """%NAME% references expanded from the block (k32_env.expand, the rule ExpandEnvironmentStrings uses);
    *ReturnedLength = bytes with the NUL. STATUS_BUFFER_TOO_SMALL, the destination untouched, when the result
    and its NUL do not fit MaximumLength."""
    from winhatch.win32.kernel32.env import expand

    def lookup(name: str) -> str | None:
        units = find(c, env, _units(name))
        return None if units is None else _text(units)

    src = _text(read_units(c, psrc))
    data = expand(c, src, lookup).encode("utf-16-le", "surrogatepass")
    if pret:
        c.write_u32(pret, len(data) + 2)
    _, mx, buf = get_str(c, pdst)
    if len(data) + 2 > mx:
        return STATUS_BUFFER_TOO_SMALL
    c.write(buf, data + b"\0\0")
    set_str(c, pdst, len(data))
    return STATUS_SUCCESS
