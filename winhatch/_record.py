"""Bases for the record classes that every start-up creates, in place of @dataclass.

`@dataclass` writes the source of __init__, __repr__ and __eq__ (and __hash__, __setattr__ and
__delattr__ when frozen) and compiles it when the class is created: ~0.8 ms per class, and a `winhatch
run` creates some forty of them before the guest executes its first instruction (~30 ms of a ~300 ms
start).  The classes that used it now write their __init__ by hand and get the rest from these bases,
which give what the dataclass did:

- ``repr``: ``ClassName(field=value!r, ...)`` over ``_repr_fields`` (default: ``_fields``), "..." for
  a recursive reference;
- ``==``: the field tuples of two objects of exactly the same class, NotImplemented otherwise; the
  objects are then unhashable, as a dataclass with eq and without frozen is;
- `FrozenRecord`: fields set once by __init__ (through `object.__setattr__`), assignment and deletion
  raise `dataclasses.FrozenInstanceError`, hash of the field tuple.

A subclass lists its fields in ``_fields`` in declaration order.  `NEW` is the default of a field whose
default is a fresh object (``field(default_factory=list)``): ``self.deps = [] if deps is NEW else deps``.
"""
from __future__ import annotations

import reprlib

#: stands for "make a fresh default" in a hand-written __init__ (a caller's explicit None stays None)
NEW = type("NewDefault", (), {"__repr__": lambda self: "<new default>", "__slots__": ()})()


@reprlib.recursive_repr()
def _record_repr(self) -> str:
    return (self.__class__.__qualname__ + "("
            + ", ".join([f"{name}={getattr(self, name)!r}" for name in self._repr_fields or self._fields]) + ")")


class ReprRecord:
    """The dataclass repr only (a dataclass declared with eq=False: == is identity)."""

    __slots__ = ()
    _fields: tuple[str, ...] = ()
    _repr_fields: tuple[str, ...] | None = None   # the fields in the repr, when not all (field(repr=False))

    __repr__ = _record_repr


class Record(ReprRecord):
    """The dataclass repr and ==."""

    __slots__ = ()

    def __eq__(self, other):
        if other.__class__ is self.__class__:
            return tuple([getattr(self, n) for n in self._fields]) == tuple([getattr(other, n) for n in self._fields])
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # as a dataclass with eq and without frozen


class FrozenRecord(Record):
    """A frozen dataclass: immutable after __init__ (which sets fields with object.__setattr__), hashable."""

    __slots__ = ()

    def __setattr__(self, name, value):
        from dataclasses import FrozenInstanceError   # (importing dataclasses costs ~5 ms: when needed)
        raise FrozenInstanceError(f"cannot assign to field {name!r}")

    def __delattr__(self, name):
        from dataclasses import FrozenInstanceError
        raise FrozenInstanceError(f"cannot delete field {name!r}")

    def __hash__(self):
        return hash(tuple([getattr(self, n) for n in self._fields]))
