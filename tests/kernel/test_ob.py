"""Object manager: reference/handle counts, handle values and reuse, access checks, pseudo-handles,
duplication, inheritance, the CID table and the namespace."""
import pytest

from winhatch.kernel.mm import Section
from winhatch.kernel.ob import (
    CURRENT_PROCESS, CURRENT_THREAD, EVENT_ALL_ACCESS, EVENT_MODIFY_STATE, EVENT_QUERY_STATE,
    FILE_GENERIC_READ, GENERIC_ALL, GENERIC_EXECUTE, GENERIC_READ, GENERIC_WRITE, MAXIMUM_ALLOWED,
    PROCESS_ALL_ACCESS, PROCESS_QUERY_INFORMATION, PROCESS_VM_READ, STATUS_HANDLE_NOT_CLOSABLE,
    SYNCHRONIZE, THREAD_ALL_ACCESS, CidTable, HandleTable, KObject, ObNamespace, object_type,
)
from winhatch.ntstatus import (
    STATUS_ACCESS_DENIED, STATUS_INVALID_HANDLE, STATUS_OBJECT_NAME_COLLISION,
    STATUS_OBJECT_NAME_NOT_FOUND, STATUS_OBJECT_PATH_NOT_FOUND, STATUS_OBJECT_PATH_SYNTAX_BAD,
    STATUS_OBJECT_TYPE_MISMATCH, NtStatusError,
)


class Event(KObject):
    type_name = "Event"

    def __init__(self, name=None):
        super().__init__(name)
        self.deleted_calls = 0

    def on_delete(self):
        self.deleted_calls += 1


class Process(KObject):
    type_name = "Process"


class Thread(KObject):
    type_name = "Thread"


def status_of(fn, *a, **kw):
    with pytest.raises(NtStatusError) as ei:
        fn(*a, **kw)
    return ei.value.status


def test_reference_counting_and_delete():
    ev = Event()
    assert ev.refcount == 0 and ev.handle_count == 0
    ev.reference()
    ev.reference()
    ev.dereference()
    assert ev.deleted_calls == 0
    ev.dereference()
    assert ev.deleted_calls == 1 and ev.deleted
    with pytest.raises(NtStatusError):
        ev.dereference()


def test_handle_values_and_lowest_free_reuse():
    t = HandleTable()
    evs = [Event() for _ in range(5)]
    hs = [t.insert(e, EVENT_ALL_ACCESS) for e in evs]
    assert hs == [4, 8, 12, 16, 20] and len(t) == 5
    assert evs[1].handle_count == 1 and evs[1].refcount == 1
    t.close(8)
    assert evs[1].deleted_calls == 1 and evs[1].handle_count == 0
    t.close(16)
    assert t.insert(Event(), EVENT_ALL_ACCESS) == 8      # lowest free first
    assert t.insert(Event(), EVENT_ALL_ACCESS) == 16
    assert t.insert(Event(), EVENT_ALL_ACCESS) == 24
    # the low two bits of a handle value are ignored
    assert t.lookup(5) is evs[0] and t.lookup(7) is evs[0]
    assert status_of(t.close, 8 + 0x1000) == STATUS_INVALID_HANDLE
    assert status_of(t.lookup, 0) == STATUS_INVALID_HANDLE
    assert status_of(t.close, 0x4444) == STATUS_INVALID_HANDLE
    # closing twice
    t.close(4)
    assert status_of(t.close, 4) == STATUS_INVALID_HANDLE


def test_object_lives_while_handles_or_references_exist():
    t = HandleTable()
    ev = Event()
    h1 = t.insert(ev, EVENT_ALL_ACCESS)
    h2 = t.insert(ev, EVENT_ALL_ACCESS)
    ev.reference()  # kernel pointer
    assert ev.handle_count == 2 and ev.refcount == 3
    t.close(h1)
    t.close(h2)
    assert ev.handle_count == 0 and not ev.deleted
    ev.dereference()
    assert ev.deleted and ev.deleted_calls == 1


def test_type_and_access_checks_with_generic_mapping():
    t = HandleTable()
    ev = Event()
    h = t.insert(ev, GENERIC_READ | SYNCHRONIZE)
    assert t.entry(h).access == 0x00020001 | SYNCHRONIZE   # GENERIC_READ -> EVENT_QUERY_STATE|READ_CONTROL
    assert t.lookup(h, "Event", EVENT_QUERY_STATE) is ev
    assert t.lookup(h, "Event", SYNCHRONIZE) is ev
    assert status_of(t.lookup, h, "Event", EVENT_MODIFY_STATE) == STATUS_ACCESS_DENIED
    assert status_of(t.lookup, h, "Event", GENERIC_WRITE) == STATUS_ACCESS_DENIED
    assert status_of(t.lookup, h, "Process") == STATUS_OBJECT_TYPE_MISMATCH
    assert t.entry(t.insert(ev, GENERIC_ALL)).access == EVENT_ALL_ACCESS
    assert t.entry(t.insert(ev, MAXIMUM_ALLOWED)).access == EVENT_ALL_ACCESS
    assert t.entry(t.insert(Process(), GENERIC_ALL)).access == PROCESS_ALL_ACCESS == 0x1FFFFF
    assert t.entry(t.insert(Thread(), GENERIC_ALL)).access == THREAD_ALL_ACCESS == 0x1FFFFF
    assert object_type("Process").map_access(GENERIC_READ) == 0x20410 == 0x20000 | PROCESS_VM_READ | PROCESS_QUERY_INFORMATION
    assert object_type("File").map_access(GENERIC_READ) == FILE_GENERIC_READ
    assert object_type("Process").map_access(GENERIC_EXECUTE) == 0x121001
    sec = Section.create_data(0x1000)
    hs = t.insert(sec, GENERIC_ALL)
    assert t.lookup(hs, "Section") is sec and t.entry(hs).access == 0xF001F


def test_pseudo_handles():
    t = HandleTable()
    proc, thr = Process(), Thread()
    for h in (CURRENT_PROCESS, 0xFFFFFFFF, 0xFFFFFFFFFFFFFFFF):
        assert t.lookup(h, "Process", PROCESS_ALL_ACCESS, current_process=proc, current_thread=thr) is proc
    for h in (CURRENT_THREAD, 0xFFFFFFFE, 0xFFFFFFFFFFFFFFFE):
        assert t.lookup(h, "Thread", current_process=proc, current_thread=thr) is thr
    assert status_of(t.lookup, CURRENT_THREAD, "Process", current_process=proc, current_thread=thr) == STATUS_OBJECT_TYPE_MISMATCH
    assert status_of(t.lookup, CURRENT_PROCESS) == STATUS_INVALID_HANDLE  # no current process given
    assert status_of(t.close, CURRENT_PROCESS) == STATUS_INVALID_HANDLE
    assert status_of(t.close, 0xFFFFFFFE) == STATUS_INVALID_HANDLE
    assert proc.handle_count == 0


def test_duplicate_handle():
    src, dst = HandleTable(), HandleTable()
    ev = Event()
    h = src.insert(ev, EVENT_QUERY_STATE | SYNCHRONIZE)
    d1 = src.duplicate(h, dst)                            # DUPLICATE_SAME_ACCESS
    assert d1 == 4 and dst.lookup(d1) is ev and dst.entry(d1).access == src.entry(h).access
    d2 = src.duplicate(h, src, access=SYNCHRONIZE, same_access=False, inherit=True)
    assert d2 == 8 and src.entry(d2).access == SYNCHRONIZE and src.entry(d2).inherit
    assert ev.handle_count == 3
    d3 = src.duplicate(h, dst, close_source=True)         # DUPLICATE_CLOSE_SOURCE
    assert h not in src and ev.handle_count == 3 and dst.lookup(d3) is ev
    # a pseudo-handle duplicates into a real handle to the current process
    proc = Process()
    hp = src.duplicate(CURRENT_PROCESS, dst, current_process=proc, current_thread=Thread())
    assert dst.lookup(hp, "Process", PROCESS_ALL_ACCESS) is proc and proc.handle_count == 1
    assert status_of(src.duplicate, 0x400, dst) == STATUS_INVALID_HANDLE


def test_close_source_even_when_duplication_fails():
    src = HandleTable()
    ev = Event()
    h = src.insert(ev, EVENT_ALL_ACCESS)

    class Broken(HandleTable):
        def insert(self, *a, **kw):
            raise NtStatusError(0xC000009A)

    with pytest.raises(NtStatusError):
        src.duplicate(h, Broken(), close_source=True)
    assert h not in src and ev.deleted


def test_protect_from_close_and_set_information():
    t = HandleTable()
    h = t.insert(Event(), EVENT_ALL_ACCESS)
    t.set_information(h, protect=True)
    assert status_of(t.close, h) == STATUS_HANDLE_NOT_CLOSABLE
    assert t.entry(h).protect_from_close
    t.set_information(h, protect=False, inherit=True)
    assert t.entry(h).inherit
    t.close(h)
    assert len(t) == 0


def test_inherit_keeps_handle_values():
    parent = HandleTable()
    evs = [Event() for _ in range(4)]
    hs = [parent.insert(e, EVENT_ALL_ACCESS, inherit=(i % 2 == 1)) for i, e in enumerate(evs)]
    assert hs == [4, 8, 12, 16]
    child = HandleTable.inherit(parent)
    assert [h for h, _ in child.entries()] == [8, 16]
    assert child.lookup(8) is evs[1] and child.lookup(16) is evs[3]
    assert evs[1].handle_count == 2 and evs[0].handle_count == 1
    assert status_of(child.lookup, 4) == STATUS_INVALID_HANDLE
    # new handles in the child fill the gaps below, then continue above
    assert child.insert(Event(), 0) == 4
    assert child.insert(Event(), 0) == 12
    assert child.insert(Event(), 0) == 20
    # handles stay independent: closing in the parent does not affect the child
    parent.close(8)
    assert child.lookup(8) is evs[1] and not evs[1].deleted
    child.close_all()
    assert evs[1].deleted and len(child) == 0


def test_cid_table():
    cids = CidTable()
    objs = [Process() for _ in range(50)]
    ids = [cids.allocate(o) for o in objs]
    assert all(i % 4 == 0 and i >= 0x1000 for i in ids) and len(set(ids)) == 50
    # the low two bits are tag bits the lookup ignores (NtOpenProcess of pid + 1 opens pid, ntdll/info.c)
    assert cids.lookup(ids[3]) is objs[3] and cids.lookup(ids[3] + 1) is objs[3] and cids.lookup(0) is None
    cids.free(ids[3])
    assert cids.lookup(ids[3]) is None
    # a freed id is not handed out straight away, and never one that is still alive
    new = [cids.allocate(Thread()) for _ in range(10)]
    assert ids[3] not in new
    live = set(ids) - {ids[3]}
    assert not live & set(new)
    # freed ids do come back eventually
    c2 = CidTable(first=8, reuse_delay=2)
    a = [c2.allocate(Process()) for _ in range(4)]
    for i in a[:3]:
        c2.free(i)
    assert c2.allocate(Process()) == a[0]
    with pytest.raises(NtStatusError):
        c2.free(12345 * 4)


def test_namespace_named_objects():
    ns = ObNamespace(session_id=1)
    ev = Event()
    ns.insert("\\Sessions\\1\\BaseNamedObjects\\MyEvent", ev)
    assert ev.name == "\\Sessions\\1\\BaseNamedObjects\\MyEvent"
    assert ns.lookup("\\sessions\\1\\basenamedobjects\\MYEVENT") is ev          # case-insensitive
    assert ns.lookup("\\Sessions\\1\\BaseNamedObjects\\Local\\myevent") is ev    # Local link
    assert status_of(ns.insert, "\\Sessions\\1\\BaseNamedObjects\\myevent", Event()) == STATUS_OBJECT_NAME_COLLISION
    assert ns.insert("\\Sessions\\1\\BaseNamedObjects\\myevent", Event(), exist_ok=True) is ev
    assert status_of(ns.insert, "\\Sessions\\1\\BaseNamedObjects\\myevent", Process(), exist_ok=True) == STATUS_OBJECT_TYPE_MISMATCH
    # Global\ goes to \BaseNamedObjects
    g = Event()
    ns.insert("\\Sessions\\1\\BaseNamedObjects\\Global\\G1", g)
    assert g.name == "\\BaseNamedObjects\\G1" and ns.lookup("\\BaseNamedObjects\\g1") is g
    assert status_of(ns.lookup, "\\BaseNamedObjects\\nope") == STATUS_OBJECT_NAME_NOT_FOUND
    assert status_of(ns.lookup, "\\NoDir\\x") == STATUS_OBJECT_PATH_NOT_FOUND
    assert status_of(ns.insert, "relative", Event()) == STATUS_OBJECT_PATH_SYNTAX_BAD
    assert status_of(ns.lookup, "\\BaseNamedObjects\\G1", "Mutant") == STATUS_OBJECT_TYPE_MISMATCH
    assert ("MyEvent", "Event") in ns.list_directory("\\Sessions\\1\\BaseNamedObjects")


def test_name_goes_with_last_handle_or_death():
    ns = ObNamespace()
    t = HandleTable()
    ev = Event()
    ns.insert("\\BaseNamedObjects\\E", ev)
    h1 = t.insert(ev, EVENT_ALL_ACCESS)
    h2 = t.insert(ns.lookup("\\BaseNamedObjects\\e"), EVENT_ALL_ACCESS)  # OpenEvent
    t.close(h1)
    assert ns.find("\\BaseNamedObjects\\E") is ev
    t.close(h2)
    assert ns.find("\\BaseNamedObjects\\E") is None and ev.deleted
    ns.insert("\\BaseNamedObjects\\E", Event())          # the name is free again
    # an object that dies without ever having a handle leaves too
    e2 = Event()
    ns.insert("\\BaseNamedObjects\\E2", e2)
    e2.reference()
    e2.dereference()
    assert ns.find("\\BaseNamedObjects\\E2") is None
    # a permanent object keeps its name without handles
    e3 = Event()
    ns.insert("\\BaseNamedObjects\\E3", e3)
    e3.make_permanent()
    t.close(t.insert(e3, 0))
    assert ns.find("\\BaseNamedObjects\\E3") is e3 and not e3.deleted
    e3.make_temporary()
    assert ns.find("\\BaseNamedObjects\\E3") is None and e3.deleted
