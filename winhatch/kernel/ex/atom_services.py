"""The global atom table's system services: NtAddAtom, NtFindAtom, NtDeleteAtom, NtQueryInformationAtom
(GlobalAddAtom and its family are written over them). One table for the machine (Windows keeps one per
window station; winhatch has one window station). The rules are winhatch.kernel.ex.atom's.

NtQueryInformationAtom serves AtomBasicInformation (USHORT UsageCount, Flags, NameLength; WCHAR Name[]:
8 bytes before the name's characters; the name is cut to what fits past those 8 bytes and NUL-terminated
when there is room; a buffer with no room for any character is STATUS_BUFFER_TOO_SMALL, NameLength still
reporting the full length) and AtomTableInformation (ULONG NumberOfAtoms; RTL_ATOM Atoms[]).
"""
from __future__ import annotations

import struct

from winhatch.kernel.ex.atom import MAX_ATOM_NAME, AtomTable
from winhatch.kernel.ke.services import kernel_service, user_read, user_write
from winhatch.ntstatus import (STATUS_BUFFER_TOO_SMALL, STATUS_INFO_LENGTH_MISMATCH, STATUS_INVALID_INFO_CLASS,
                               STATUS_INVALID_PARAMETER, NtStatusError)

AtomBasicInformation, AtomTableInformation = 0, 1


def global_atoms(machine) -> AtomTable:
    table = machine.__dict__.get("global_atoms")
    if table is None:
        table = machine.global_atoms = AtomTable()
    return table


def _name(thread, ptr: int, length: int) -> str:
    if not ptr:
        raise NtStatusError(STATUS_INVALID_PARAMETER, "NULL atom name")
    if length > 2 * MAX_ATOM_NAME:
        raise NtStatusError(STATUS_INVALID_PARAMETER, f"atom name of {length} bytes")
    return user_read(thread.process, ptr, length & ~1).decode("utf-16-le", "surrogatepass")


def _out_atom(thread, ptr: int, atom: int) -> None:
    if ptr:
        user_write(thread.process, ptr, struct.pack("<H", atom))


@kernel_service("NtAddAtom")
def NtAddAtom(machine, thread, AtomName, Length, Atom):
    atom = global_atoms(machine).add(_name(thread, AtomName, Length & 0xFFFFFFFF))
    _out_atom(thread, Atom, atom)
    return 0


@kernel_service("NtFindAtom")
def NtFindAtom(machine, thread, AtomName, Length, Atom):
    atom = global_atoms(machine).find(_name(thread, AtomName, Length & 0xFFFFFFFF))
    _out_atom(thread, Atom, atom)
    return 0


@kernel_service("NtDeleteAtom")
def NtDeleteAtom(machine, thread, Atom):
    return global_atoms(machine).delete(Atom & 0xFFFF)


@kernel_service("NtQueryInformationAtom")
def NtQueryInformationAtom(machine, thread, Atom, AtomInformationClass, AtomInformation, AtomInformationLength,
                           ReturnLength):
    table = global_atoms(machine)
    proc = thread.process
    length = AtomInformationLength & 0xFFFFFFFF
    if AtomInformationClass == AtomBasicInformation:
        name, refs, pins = table.query(Atom & 0xFFFF)
        data = name.encode("utf-16-le", "surrogatepass")
        if length < 8:
            return STATUS_INFO_LENGTH_MISMATCH
        room = length - 8
        head = struct.pack("<HHH", refs & 0xFFFF, 1 if pins else 0, len(data))
        if room == 0 and data:
            user_write(proc, AtomInformation, head)
            status, out = STATUS_BUFFER_TOO_SMALL, 6
        else:
            n = min(len(data), room) & ~1
            body = data[:n] + (b"\0\0" if n + 2 <= length - 6 else b"")
            user_write(proc, AtomInformation, struct.pack("<HHH", refs & 0xFFFF, 1 if pins else 0, n) + body)
            status, out = 0, 6 + n + 2
    elif AtomInformationClass == AtomTableInformation:
        atoms = table.atoms()
        need = 4 + 2 * len(atoms)
        if length < need:
            status, out = STATUS_INFO_LENGTH_MISMATCH, need
        else:
            user_write(proc, AtomInformation, struct.pack(f"<I{len(atoms)}H", len(atoms), *atoms))
            status, out = 0, need
    else:
        return STATUS_INVALID_INFO_CLASS
    if ReturnLength:
        user_write(proc, ReturnLength, struct.pack("<I", out))
    return status
