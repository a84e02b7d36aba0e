"""Atom tables: the rules RtlAddAtomToAtomTable and its family follow, shared by the kernel's global atom
table (NtAddAtom … behind GlobalAddAtom, winhatch.kernel.ex.atom_services) and ntdll's user-mode tables
(RtlCreateAtomTable …, winhatch.win32.ntdll.rtl_atom).

- An atom below 0xC000 is an integer atom: it is its own value, never stored, and reads back as "#<n>" with a
  reference count and a pin count of 1. A name "#<decimal digits>" is that integer atom (1..0xBFFF; 0 or a
  larger value is STATUS_INVALID_PARAMETER); "#12z" is an ordinary string.
- A string atom is 0xC000 + the index of its entry (freed indices are reused, lowest first); names compare
  case-insensitively, keep the case they were first added with and have at most 255 characters (more is
  STATUS_INVALID_PARAMETER; an empty name STATUS_OBJECT_NAME_INVALID).
- Adding an existing name counts a reference; deleting drops one and removes the entry at zero; a pinned
  entry is never deleted (STATUS_WAS_LOCKED) and pinning is a flag, not a count.
"""
from __future__ import annotations

from winhatch.ntstatus import (STATUS_INVALID_HANDLE, STATUS_INVALID_PARAMETER, STATUS_OBJECT_NAME_INVALID,
                               STATUS_OBJECT_NAME_NOT_FOUND, NtStatusError)

MAXINTATOM = 0xC000
MAX_ATOM_NAME = 255
MAX_ATOMS = 0x4000            # the indices 0xC000..0xFFFF
STATUS_WAS_LOCKED = 0x40000019
RTL_ATOM_PINNED = 0x01


class AtomEntry:
    __slots__ = ("atom", "name", "refs", "pinned")

    def __init__(self, atom: int, name: str) -> None:
        self.atom, self.name, self.refs, self.pinned = atom, name, 1, False


def integer_atom(name: str) -> int | None:
    """The integer atom a "#<digits>" name stands for (None: the name is a string)."""
    if len(name) < 2 or name[0] != "#" or not all("0" <= ch <= "9" for ch in name[1:]):
        return None
    value = int(name[1:]) if len(name) <= 7 else MAXINTATOM
    if not 0 < value < MAXINTATOM:
        raise NtStatusError(STATUS_INVALID_PARAMETER, f"integer atom {name!r} out of range")
    return value


def check_integer(value: int) -> int:
    if not 0 < value < MAXINTATOM:
        raise NtStatusError(STATUS_INVALID_PARAMETER, f"integer atom {value:#x}")
    return value


class AtomTable:
    """One atom table. `key` is the upper-cased name (RtlUpcaseUnicodeChar compares)."""

    def __init__(self, buckets: int = 37) -> None:
        self.buckets = buckets
        self.by_name: dict[str, AtomEntry] = {}
        self.by_atom: dict[int, AtomEntry] = {}

    @staticmethod
    def _check_name(name: str) -> None:
        if not name:
            raise NtStatusError(STATUS_OBJECT_NAME_INVALID, "empty atom name")
        if len(name) > MAX_ATOM_NAME:
            raise NtStatusError(STATUS_INVALID_PARAMETER, f"atom name of {len(name)} characters")

    def add(self, name: str | int) -> int:
        if isinstance(name, int):
            return check_integer(name)
        self._check_name(name)
        iv = integer_atom(name)
        if iv is not None:
            return iv
        e = self.by_name.get(name.upper())
        if e is not None:
            e.refs += 1
            return e.atom
        for atom in range(MAXINTATOM, MAXINTATOM + MAX_ATOMS):
            if atom not in self.by_atom:
                break
        else:
            from winhatch.ntstatus import STATUS_NO_MEMORY
            raise NtStatusError(STATUS_NO_MEMORY, "atom table full")
        e = AtomEntry(atom, name)
        self.by_name[name.upper()] = self.by_atom[atom] = e
        return atom

    def find(self, name: str | int) -> int:
        if isinstance(name, int):
            return check_integer(name)
        self._check_name(name)
        iv = integer_atom(name)
        if iv is not None:
            return iv
        e = self.by_name.get(name.upper())
        if e is None:
            raise NtStatusError(STATUS_OBJECT_NAME_NOT_FOUND, f"atom {name!r}")
        return e.atom

    def entry(self, atom: int) -> AtomEntry:
        e = self.by_atom.get(atom & 0xFFFF)
        if e is None:
            raise NtStatusError(STATUS_INVALID_HANDLE, f"atom {atom:#x}")
        return e

    def delete(self, atom: int) -> int:
        atom &= 0xFFFF
        if atom < MAXINTATOM:
            check_integer(atom)
            return 0
        e = self.entry(atom)
        if e.pinned:
            return STATUS_WAS_LOCKED
        e.refs -= 1
        if e.refs <= 0:
            self._remove(e)
        return 0

    def _remove(self, e: AtomEntry) -> None:
        del self.by_atom[e.atom]
        del self.by_name[e.name.upper()]

    def pin(self, atom: int) -> None:
        atom &= 0xFFFF
        if atom < MAXINTATOM:
            check_integer(atom)
            return
        self.entry(atom).pinned = True

    def empty(self, include_pinned: bool) -> None:
        for e in list(self.by_atom.values()):
            if include_pinned or not e.pinned:
                self._remove(e)

    def query(self, atom: int) -> tuple[str, int, int]:
        """(name, reference count, pin count) of an atom."""
        atom &= 0xFFFF
        if atom < MAXINTATOM:
            check_integer(atom)
            return f"#{atom}", 1, 1
        e = self.entry(atom)
        return e.name, e.refs, int(e.pinned)

    def atoms(self) -> list[int]:
        return sorted(self.by_atom)
