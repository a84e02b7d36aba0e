"""Copy-on-write overlays: a host folder mounted into the guest is read through, every change lands in an upper
layer inside the sandbox, the host folder never changes; the files the guest drops are listed and kept."""
import hashlib
import os
from pathlib import Path

import pytest

from winhatch.kernel.io import Vfs
from winhatch.kernel.io.vfs import (
    DELETE, FILE_CREATE, FILE_DIRECTORY_FILE, FILE_OPEN, FILE_OPEN_IF, FILE_OVERWRITE_IF, FILE_SHARE_READ,
    GENERIC_READ, GENERIC_WRITE, SYNCHRONIZE,
)
from winhatch.ntstatus import (
    NtStatusError, STATUS_DIRECTORY_NOT_EMPTY, STATUS_OBJECT_NAME_NOT_FOUND, STATUS_SHARING_VIOLATION,
)

RW = GENERIC_READ | GENERIC_WRITE


def tree(root: Path) -> dict:
    out = {}
    for dp, dns, fns in os.walk(root):
        for n in dns + fns:
            p = os.path.join(dp, n)
            st = os.lstat(p)
            out[os.path.relpath(p, root)] = (st.st_mode, st.st_mtime_ns,
                                             Path(p).read_bytes() if os.path.isfile(p) else None)
    return out


@pytest.fixture
def world(tmp_path):
    host = tmp_path / "sample"
    (host / "sub" / "deep").mkdir(parents=True)
    (host / "prog.exe").write_bytes(b"MZ program")
    (host / "cfg.ini").write_bytes(b"[x]\r\na=1\r\n")
    (host / "sub" / "a.txt").write_bytes(b"alpha")
    (host / "sub" / "deep" / "b.txt").write_bytes(b"beta")
    before = tree(host)
    vfs = Vfs(tmp_path / "sb")
    vfs.mount("C:\\app", host)
    yield vfs, host
    assert tree(host) == before, "the host folder changed"


def names(vfs, d):
    return sorted(f.name for f in vfs.listdir(d) if f.name not in (".", ".."))


def test_reads_fall_through(world):
    vfs, _ = world
    assert vfs.read_file("C:\\app\\SUB\\a.TXT") == b"alpha"
    assert names(vfs, "C:\\app") == ["cfg.ini", "prog.exe", "sub"]
    assert vfs.copied_up == 0


def test_write_copies_up_and_guest_sees_it(world):
    vfs, host = world
    with vfs.open("C:\\app\\cfg.ini", access=RW, disposition=FILE_OPEN) as f:
        assert f.read() == b"[x]\r\na=1\r\n"        # the content was copied up, not truncated
        f.write(b"b=2\r\n")
    assert vfs.read_file("C:\\app\\cfg.ini") == b"[x]\r\na=1\r\nb=2\r\n"
    assert vfs.copied_up == 1
    vfs.write_file("C:\\app\\sub\\deep\\new.bin", b"new")
    assert names(vfs, "C:\\app\\sub\\deep") == ["b.txt", "new.bin"]
    assert vfs.stat("C:\\app\\sub\\deep\\new.bin").size == 3


def test_a_reader_open_before_the_copy_up_sees_the_writes(world):
    vfs, _ = world
    r = vfs.open("C:\\app\\sub\\a.txt", access=GENERIC_READ, share=7)
    idx = vfs.stat("C:\\app\\sub\\a.txt").file_index
    w = vfs.open("C:\\app\\sub\\a.txt", access=RW, share=7, disposition=FILE_OPEN)
    w.write(b"ALPHA!")
    assert r.read() == b"ALPHA!"
    assert vfs.stat("C:\\app\\sub\\a.txt").file_index == idx      # the file id survives the copy-up
    r.close()
    w.close()


def test_share_modes_span_both_layers(world):
    vfs, _ = world
    r = vfs.open("C:\\app\\prog.exe", access=GENERIC_READ, share=FILE_SHARE_READ)
    with pytest.raises(NtStatusError) as e:
        vfs.open("C:\\app\\prog.exe", access=RW, share=7)
    assert e.value.status == STATUS_SHARING_VIOLATION
    r.close()


def test_delete_is_a_whiteout(world):
    vfs, _ = world
    vfs.delete("C:\\app\\cfg.ini")
    assert not vfs.exists("C:\\app\\cfg.ini")
    assert names(vfs, "C:\\app") == ["prog.exe", "sub"]
    with pytest.raises(NtStatusError) as e:
        vfs.rmdir("C:\\app\\sub\\deep")
    assert e.value.status == STATUS_DIRECTORY_NOT_EMPTY     # its entry is in the lower layer only
    vfs.delete("C:\\app\\sub\\deep\\b.txt")
    vfs.rmdir("C:\\app\\sub\\deep")
    assert names(vfs, "C:\\app\\sub") == ["a.txt"]
    # a directory made again where one was deleted shows nothing of the old one
    vfs.mkdir("C:\\app\\sub\\deep")
    assert names(vfs, "C:\\app\\sub\\deep") == []
    vfs.write_file("C:\\app\\cfg.ini", b"again")
    assert vfs.read_file("C:\\app\\cfg.ini") == b"again"


def test_delete_on_close_and_disposition(world):
    vfs, _ = world
    f = vfs.open("C:\\app\\sub\\a.txt", access=DELETE | SYNCHRONIZE, disposition=FILE_OPEN)
    vfs.set_disposition(f, True)
    f.close()
    assert not vfs.exists("C:\\app\\sub\\a.txt")
    assert vfs.copied_up == 0                 # deleting needs no copy


def test_rename_across_layers(world):
    vfs, _ = world
    vfs.rename("C:\\app\\sub", "C:\\app\\moved")
    assert names(vfs, "C:\\app") == ["cfg.ini", "moved", "prog.exe"]
    assert vfs.read_file("C:\\app\\moved\\deep\\b.txt") == b"beta"
    assert not vfs.exists("C:\\app\\sub\\a.txt")
    vfs.rename("C:\\app\\moved", "C:\\app\\sub")       # back: the old lower entries do not reappear twice
    assert names(vfs, "C:\\app\\sub") == ["a.txt", "deep"]
    vfs.rename("C:\\app\\cfg.ini", "C:\\Users\\user\\cfg.ini")   # out of the overlay, same drive
    assert vfs.read_file("C:\\Users\\user\\cfg.ini") == b"[x]\r\na=1\r\n"
    assert not vfs.exists("C:\\app\\cfg.ini")
    vfs.rename("C:\\Users\\user\\cfg.ini", "C:\\app\\prog.exe", replace=True)
    assert vfs.read_file("C:\\app\\prog.exe") == b"[x]\r\na=1\r\n"


def test_writable_opt_out_writes_the_host(tmp_path):
    host = tmp_path / "h"
    host.mkdir()
    vfs = Vfs(tmp_path / "sb")
    vfs.writable_mounts = True
    vfs.mount("C:\\app", host)
    vfs.write_file("C:\\app\\x.txt", b"x")
    assert (host / "x.txt").read_bytes() == b"x"


def test_dropped_files(world, tmp_path):
    vfs, _ = world
    vfs.tracking = True
    vfs.write_file("C:\\app\\drop.exe", b"MZ payload")                 # created in the overlay
    vfs.write_file("C:\\Users\\user\\AppData\\Local\\Temp\\t.bin", b"tmp")   # created elsewhere
    with vfs.open("C:\\app\\cfg.ini", access=RW, disposition=FILE_OPEN) as f:
        f.write(b"X")                                                 # modified
    with vfs.open("C:\\app\\sub\\a.txt", access=RW, disposition=FILE_OPEN_IF):
        pass                                                          # opened for writing, unchanged
    vfs.delete("C:\\app\\prog.exe")                                   # deleted (was there before)
    vfs.write_file("C:\\Users\\user\\gone.dat", b"transient")
    vfs.delete("C:\\Users\\user\\gone.dat")                           # created, then deleted
    vfs.dropped_cap = 1 << 20
    d = vfs.dropped_files(tmp_path / "out" / "dropped")
    by = {x["path"]: x for x in d["files"]}
    assert set(by) == {"C:\\app\\drop.exe", "C:\\Users\\user\\AppData\\Local\\Temp\\t.bin", "C:\\app\\cfg.ini",
                       "C:\\app\\prog.exe", "C:\\Users\\user\\gone.dat"}
    assert by["C:\\app\\drop.exe"]["state"] == "created"
    assert by["C:\\app\\drop.exe"]["sha256"] == hashlib.sha256(b"MZ payload").hexdigest()
    assert by["C:\\app\\cfg.ini"]["state"] == "modified"
    assert by["C:\\app\\prog.exe"]["state"] == "deleted"
    assert by["C:\\app\\prog.exe"]["sha256"] == hashlib.sha256(b"MZ program").hexdigest()
    gone = by["C:\\Users\\user\\gone.dat"]
    assert gone["state"] == "deleted" and gone.get("transient") and gone["size"] == 9
    out = tmp_path / "out" / "dropped"
    assert (out / "C" / "app" / "drop.exe").read_bytes() == b"MZ payload"
    assert (out / "C" / "Users" / "user" / "gone.dat").read_bytes() == b"transient"
    assert by["C:\\app\\drop.exe"]["kept"] == "C/app/drop.exe"
    assert not d["truncated"]


def test_dropped_files_cap(world, tmp_path):
    vfs, _ = world
    vfs.tracking = True
    vfs.dropped_cap = 10
    vfs.write_file("C:\\app\\a.bin", b"123456")
    vfs.write_file("C:\\app\\b.bin", b"123456")
    d = vfs.dropped_files(tmp_path / "dropped")
    assert d["truncated"]
    assert [x["kept"] is not None for x in d["files"]].count(True) == 1
    assert all(x["sha256"] for x in d["files"])      # listed with their hashes all the same


def test_seed_file_lands_in_the_upper_layer(world):
    vfs, host = world
    vfs.tracking = True
    vfs.seed_file("C:\\app\\docs\\decoy.docx", b"PK decoy")
    vfs.seed_file("C:\\Users\\user\\Documents\\notes.txt", b"notes")
    assert vfs.read_file("C:\\app\\docs\\decoy.docx") == b"PK decoy"
    assert vfs.read_file("C:\\Users\\user\\Documents\\notes.txt") == b"notes"
    assert not (host / "docs").exists()
    assert vfs.dropped_files()["files"] == []             # seeded, not dropped by the guest
    roots = dict(vfs.writable_roots())
    assert (roots["C:\\app"] / "docs" / "decoy.docx").read_bytes() == b"PK decoy"
