"""ntdll's user-mode atom tables: RtlCreateAtomTable, RtlDestroyAtomTable, RtlEmptyAtomTable,
RtlAddAtomToAtomTable, RtlLookupAtomInAtomTable, RtlDeleteAtomFromAtomTable, RtlPinAtomInAtomTable,
RtlQueryAtomInAtomTable — and kernel32's local atom table (AddAtom …, winhatch.win32.kernel32.atom) over them.

The RTL_ATOM_TABLE a program gets is a block of the process heap that starts with the signature 'Atom'
(0x6D6F7441, what a program can check) and the number of hash buckets; the entries behind it are kept with the
process, keyed by that block's address (the entry layout is not documented). The rules — integer atoms,
"#<n>" names, 255 characters, reference counts and pinning — are winhatch.kernel.ex.atom's, the same as
the kernel's global table.

RtlQueryAtomInAtomTable returns the name's length in bytes without the NUL: with *NameLength 0 it is
STATUS_BUFFER_TOO_SMALL and the length needed; otherwise the name is cut to what fits before a NUL
(NameLength - 2 bytes) and NUL-terminated.
"""
from __future__ import annotations

import struct

from winhatch.kernel.ex.atom import AtomTable
from winhatch.ntstatus import STATUS_BUFFER_TOO_SMALL, STATUS_INVALID_PARAMETER, NtStatusError
from winhatch.win32.api import api

NT = "ntdll.dll"
ATOM_SIGNATURE = 0x6D6F7441      # 'Atom'
DEFAULT_BUCKETS = 37


def tables(c) -> dict[int, AtomTable]:
    return c.proc.subsystem.setdefault("rtl_atom_tables", {})


def create_table(c, buckets: int) -> int:
    from winhatch.win32.kernel32.common import heap_alloc
    buckets = buckets or DEFAULT_BUCKETS
    block = heap_alloc(c, 8 + 8 * 4, 0x8)
    if not block:
        raise NtStatusError(0xC0000017, "atom table")    # STATUS_NO_MEMORY
    c.write(block, struct.pack("<II", ATOM_SIGNATURE, buckets))
    tables(c)[block] = AtomTable(buckets)
    return block


def table_at(c, addr: int) -> AtomTable:
    t = tables(c).get(addr)
    if t is None or c.u32(addr) != ATOM_SIGNATURE:
        raise NtStatusError(STATUS_INVALID_PARAMETER, f"not an atom table: {addr:#x}")
    return t


def atom_name(c, ptr: int) -> str | int:
    """An atom's name argument: MAKEINTATOM values (below 0x10000) are integers."""
    if ptr < 0x10000:
        return ptr
    s = c.wstr(ptr, 0x1000)
    return "" if s is None else s


def _status(fn, *args) -> int:
    try:
        r = fn(*args)
    except NtStatusError as e:
        return e.status
    return r or 0


@api(NT, "NTSTATUS NTAPI RtlCreateAtomTable(ULONG TableSize, PVOID *AtomTable)")
def RtlCreateAtomTable(c, size, out):
    if c.ptr(out):        # an already created table is left as it is
        return 0
    try:
        table = create_table(c, size)
    except NtStatusError as e:
        return e.status
    c.write_ptr(out, table)
    return 0


@api(NT, "NTSTATUS NTAPI RtlDestroyAtomTable(PVOID AtomTable)")
def RtlDestroyAtomTable(c, table):
    from winhatch.win32.kernel32.common import heap_free
    try:
        table_at(c, table)
    except NtStatusError as e:
        return e.status
    del tables(c)[table]
    c.write_u32(table, 0)
    heap_free(c, table)
    return 0


@api(NT, "NTSTATUS NTAPI RtlEmptyAtomTable(PVOID AtomTable, BOOLEAN IncludePinnedAtoms)")
def RtlEmptyAtomTable(c, table, pinned):
    return _status(lambda: table_at(c, table).empty(bool(pinned & 0xFF)))


def _write_atom(c, out: int, atom: int) -> int:
    if out:
        c.write(out, struct.pack("<H", atom))
    return 0


@api(NT, "NTSTATUS NTAPI RtlAddAtomToAtomTable(PVOID AtomTable, LPCWSTR_RAW AtomName, PUSHORT Atom)")
def RtlAddAtomToAtomTable(c, table, name, out):
    return _status(lambda: _write_atom(c, out, table_at(c, table).add(atom_name(c, name))))


@api(NT, "NTSTATUS NTAPI RtlLookupAtomInAtomTable(PVOID AtomTable, LPCWSTR_RAW AtomName, PUSHORT Atom)")
def RtlLookupAtomInAtomTable(c, table, name, out):
    return _status(lambda: _write_atom(c, out, table_at(c, table).find(atom_name(c, name))))


@api(NT, "NTSTATUS NTAPI RtlDeleteAtomFromAtomTable(PVOID AtomTable, USHORT Atom)")
def RtlDeleteAtomFromAtomTable(c, table, atom):
    return _status(lambda: table_at(c, table).delete(atom & 0xFFFF))


@api(NT, "NTSTATUS NTAPI RtlPinAtomInAtomTable(PVOID AtomTable, USHORT Atom)")
def RtlPinAtomInAtomTable(c, table, atom):
    return _status(lambda: table_at(c, table).pin(atom & 0xFFFF))


def query(c, table: int, atom: int, p_refs: int, p_pins: int, name_buf: int, p_len: int) -> int:
    name, refs, pins = table_at(c, table).query(atom & 0xFFFF)
    data = name.encode("utf-16-le", "surrogatepass")
    status = 0
    if name_buf and p_len:
        room = c.u32(p_len)
        if room < 2:
            c.write_u32(p_len, len(data))
            status = STATUS_BUFFER_TOO_SMALL
        else:
            n = min(len(data), room - 2) & ~1
            c.write(name_buf, data[:n] + b"\0\0")
            c.write_u32(p_len, n)
    elif p_len:
        c.write_u32(p_len, len(data))
    if p_refs:
        c.write_u32(p_refs, refs)
    if p_pins:
        c.write_u32(p_pins, pins)
    return status


@api(NT, "NTSTATUS NTAPI RtlQueryAtomInAtomTable(PVOID AtomTable, USHORT Atom, PULONG RefCount, PULONG PinCount, "
         "PWSTR AtomName, PULONG NameLength)")
def RtlQueryAtomInAtomTable(c, table, atom, p_refs, p_pins, name_buf, p_len):
    return _status(query, c, table, atom, p_refs, p_pins, name_buf, p_len)
