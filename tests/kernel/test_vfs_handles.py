"""Guest file handles do not hold a host descriptor each (issue 14): after ~20,000 handles a guest exhausted
the host's descriptors (EMFILE: winhatch's internal error, the sandbox left behind), and opening one file n
times cost O(n²) (the share check walked every open handle)."""
import os
import time

import pytest

from winhatch.kernel.io import Vfs
from winhatch.kernel.io.vfs import (
    DELETE, FILE_CREATE, FILE_OPEN, FILE_SHARE_DELETE, FILE_SHARE_READ, FILE_SHARE_WRITE, GENERIC_READ,
    GENERIC_WRITE,
)
from winhatch.ntstatus import STATUS_SHARING_VIOLATION, NtStatusError

RW = GENERIC_READ | GENERIC_WRITE
ALL = FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE


def host_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.fixture
def vfs(tmp_path):
    v = Vfs(tmp_path / "sandbox", create_layout=False)
    v.max_host_fds = 4
    return v


def test_handles_share_a_bounded_number_of_host_descriptors(vfs):
    before = host_fds()
    files = []
    for i in range(40):
        f = vfs.open(f"C:\\f{i}.txt", access=RW, disposition=FILE_CREATE, share=ALL)
        f.write(f"content {i}".encode())
        files.append(f)
    same = [vfs.open("C:\\f0.txt", access=GENERIC_READ, share=ALL) for _ in range(200)]
    assert host_fds() - before <= vfs.max_host_fds + 1
    # every handle still works: descriptors closed by the pool are opened again by path
    for i in reversed(range(40)):
        assert files[i].read(offset=0) == f"content {i}".encode()
        files[i].write(b"!", offset=100)
        assert files[i].size == 101
    assert same[-1].read(9) == b"content 0"
    assert host_fds() - before <= vfs.max_host_fds + 1
    for f in files + same:
        f.close()
    assert host_fds() == before


def test_deleted_and_renamed_open_files_stay_readable(vfs):
    a = vfs.open("C:\\a.txt", access=RW | DELETE, disposition=FILE_CREATE, share=ALL)
    a.write(b"alpha")
    b = vfs.open("C:\\b.txt", access=RW, disposition=FILE_CREATE, share=ALL)
    b.write(b"beta")
    vfs.delete("C:\\a.txt")                   # POSIX delete: the open handle lives on
    vfs.rename("C:\\b.txt", "C:\\c.txt")
    others = [vfs.open(f"C:\\o{i}", access=RW, disposition=FILE_CREATE, share=ALL) for i in range(10)]
    for o in others:                          # push a and b out of the descriptor pool
        o.write(b"x")
    assert a.read(offset=0) == b"alpha"
    assert b.read(offset=0) == b"beta"
    assert not vfs.exists("C:\\a.txt") and vfs.exists("C:\\c.txt")
    for f in [a, b, *others]:
        f.close()


def test_share_modes_still_enforced_by_counts(vfs):
    f = vfs.open("C:\\s.txt", access=RW, disposition=FILE_CREATE, share=FILE_SHARE_READ)
    with pytest.raises(NtStatusError) as e:
        vfs.open("C:\\s.txt", access=GENERIC_WRITE, share=ALL)      # f does not share write
    assert e.value.status == STATUS_SHARING_VIOLATION
    with pytest.raises(NtStatusError) as e:
        vfs.open("C:\\s.txt", access=GENERIC_READ, share=FILE_SHARE_READ)  # f writes: must share write
    assert e.value.status == STATUS_SHARING_VIOLATION
    r = vfs.open("C:\\s.txt", access=GENERIC_READ, share=FILE_SHARE_READ | FILE_SHARE_WRITE)
    f.close()
    w = vfs.open("C:\\s.txt", access=GENERIC_WRITE, share=ALL, disposition=FILE_OPEN)  # r shares write
    r.close()
    w.close()


def _open_same(vfs, n):
    t = time.perf_counter()
    hs = [vfs.open("C:\\same.txt", access=GENERIC_READ, share=ALL) for _ in range(n)]
    dt = time.perf_counter() - t
    for h in hs:
        h.close()
    return dt


def test_opening_one_file_many_times_is_linear(vfs):
    """20,000 opens of one file: each costs the same (was O(n): 20,000 guest opens took 41 s)."""
    vfs.open("C:\\same.txt", access=RW, disposition=FILE_CREATE, share=ALL).close()
    small = min(_open_same(vfs, 2000) for _ in range(2))
    large = _open_same(vfs, 20000)
    assert large < 30 * small, (small, large)   # quadratic would be ~100×


def test_file_of_a_mapped_image(vfs, tmp_path):
    """While an image section made from a file has a view, the file cannot be deleted in any way
    (STATUS_CANNOT_DELETE) nor opened for writing (STATUS_SHARING_VIOLATION); renaming it is allowed."""
    from winhatch.kernel.io.vfs import FILE_DELETE_ON_CLOSE, FILE_OVERWRITE_IF
    from winhatch.ntstatus import STATUS_CANNOT_DELETE

    class FakeSection:
        views = 1

    vfs.open("C:\\prog.exe", access=RW, disposition=FILE_CREATE).close()
    host, _ = vfs.resolve("C:\\prog.exe")
    sec = FakeSection()
    vfs.register_image_section(host, sec)

    def status(fn, *a, **kw):
        try:
            fn(*a, **kw).close() if fn is vfs.open else fn(*a, **kw)
        except NtStatusError as e:
            return e.status
        return 0

    assert status(vfs.delete, "C:\\prog.exe") == STATUS_CANNOT_DELETE
    assert status(vfs.open, "C:\\prog.exe", access=DELETE, options=FILE_DELETE_ON_CLOSE) == STATUS_CANNOT_DELETE
    assert status(vfs.open, "C:\\prog.exe", access=GENERIC_WRITE) == STATUS_SHARING_VIOLATION
    assert status(vfs.open, "C:\\prog.exe", access=GENERIC_READ, disposition=FILE_OVERWRITE_IF) == \
        STATUS_SHARING_VIOLATION
    h = vfs.open("C:\\prog.exe", access=GENERIC_READ | DELETE)
    assert status(vfs.set_disposition, h, True) == STATUS_CANNOT_DELETE
    h.close()
    vfs.rename("C:\\prog.exe", "C:\\prog.old")
    assert status(vfs.delete, "C:\\prog.old") == STATUS_CANNOT_DELETE
    sec.views = 0                                     # unmapped: an ordinary file again
    h = vfs.open("C:\\prog.old", access=GENERIC_READ | DELETE)
    vfs.set_disposition(h, True)
    h.close()
    assert not vfs.exists("C:\\prog.old")
