"""winhatch._record: the hand-written record classes behave as the dataclasses they replaced."""
import dataclasses

import pytest

from winhatch._record import NEW, FrozenRecord, Record, ReprRecord


class Point(Record):
    _fields = ("x", "y", "tags")

    def __init__(self, x, y=0, tags=NEW):
        self.x = x
        self.y = y
        self.tags = [] if tags is NEW else tags


@dataclasses.dataclass
class DcPoint:
    x: int
    y: int = 0
    tags: list = dataclasses.field(default_factory=list)


class Key(FrozenRecord):
    _fields = ("a", "b")

    def __init__(self, a, b):
        object.__setattr__(self, "a", a)
        object.__setattr__(self, "b", b)


@dataclasses.dataclass(frozen=True)
class DcKey:
    a: int
    b: str


class Node(ReprRecord):
    _fields = ("name", "children")

    def __init__(self, name, children=NEW):
        self.name = name
        self.children = [] if children is NEW else children


def test_repr_and_eq_as_a_dataclass():
    assert repr(Point(1, 2)).replace("Point", "DcPoint") == repr(DcPoint(1, 2))
    assert Point(1, 2) == Point(1, 2) and Point(1, 2) != Point(1, 3)
    assert Point(1) != DcPoint(1) and (Point(1) == 1) is False
    assert Point.__hash__ is None and DcPoint.__hash__ is None
    assert Point(1).tags is not Point(1).tags
    assert Point(1, tags=None).tags is None


def test_frozen_as_a_dataclass():
    k = Key(1, "x")
    assert hash(k) == hash(Key(1, "x")) and k == Key(1, "x") and {k: 1}[Key(1, "x")] == 1
    assert repr(k).replace("Key", "DcKey") == repr(DcKey(1, "x"))
    with pytest.raises(dataclasses.FrozenInstanceError):
        k.a = 2
    with pytest.raises(dataclasses.FrozenInstanceError):
        del k.b


def test_repr_only_keeps_identity_and_stops_at_cycles():
    a = Node("a")
    a.children.append(a)
    assert repr(a) == "Node(name='a', children=[...])"
    assert a != Node("a") and a == a and a in {a}   # == is identity (eq=False): hashable
