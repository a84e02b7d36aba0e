"""Reparse points (issue 18): symbolic links and junctions made by the guest, kept in the guest's namespace (an
empty file or directory of the writable layer with its REPARSE_DATA_BUFFER as file-system metadata — never a
host symlink), followed by every lookup up to 63 reparses.

The reference is Windows as Microsoft documents it, not Wine: Wine 8.0 (this machine's) has no reparse points
at all — FSCTL_SET_REPARSE_POINT fails with ERROR_NOT_SUPPORTED and CreateSymbolicLinkW with
ERROR_PRIVILEGE_NOT_HELD for everyone (tests/fixtures/src/reparse.c run under wine64 prints "junction jlink:
0 50"). The transcripts below are what Windows 10 prints, error by error:
  - FSCTL_SET_REPARSE_POINT (winioctl.h; FsRtlValidateReparsePointBuffer): a mount point on a file is
    STATUS_NOT_A_DIRECTORY (ERROR_DIRECTORY 267), on a non-empty directory STATUS_DIRECTORY_NOT_EMPTY (145), a
    length that does not match the buffer STATUS_IO_REPARSE_DATA_INVALID (ERROR_INVALID_REPARSE_DATA 4392);
  - FSCTL_GET_REPARSE_POINT on an entry without one: ERROR_NOT_A_REPARSE_POINT (4390); an output buffer
    smaller than the header: ERROR_INSUFFICIENT_BUFFER (122);
  - FSCTL_DELETE_REPARSE_POINT with another tag: ERROR_REPARSE_TAG_MISMATCH (4394);
  - a path through more than 63 reparse points: ERROR_CANT_RESOLVE_FILENAME (1921);
  - GetFileAttributes / FindFirstFile report the link itself (FILE_ATTRIBUTE_REPARSE_POINT 0x400, the tag in
    dwReserved0: IO_REPARSE_TAG_MOUNT_POINT 0xA0000003, IO_REPARSE_TAG_SYMLINK 0xA000000C), CreateFile follows
    it unless FILE_FLAG_OPEN_REPARSE_POINT, GetFinalPathNameByHandle names the target, DeleteFile /
    RemoveDirectory / MoveFile act on the link, CopyFile on the target ("Symbolic Link Effects on File
    Systems Functions");
  - CreateSymbolicLink: a standard user without developer mode gets ERROR_PRIVILEGE_NOT_HELD (1314), with
    or without SYMBOLIC_LINK_FLAG_ALLOW_UNPRIVILEGED_CREATE (the flag only counts in developer mode); an
    existing name ERROR_ALREADY_EXISTS (183).
"""
from __future__ import annotations

import shutil

import pytest

from winhatch import runner
from winhatch.kernel.io import Vfs
from winhatch.kernel.io import vfs as V
from winhatch.kernel.profile import Profile, ProfileError, registry_description
from winhatch.ntstatus import NtStatusError

JUNCTIONS = """\
junction jlink: 1 0
attributes: 0x410 target 0x10
find: jlink 0x410 tag 0xa0000003
list through: . .. f.txt
read through: 'hello' final \\rp_test\\target\\f.txt
get: 1 ret 114 tag 0xa0000003 len 106 substitute 1 print 1
get into 4 bytes: 0 122
by handle: 0x410 tag info 0x410 0xa0000003
followed: 0x10 get 0 4390
set on a non-empty directory: 0 145
get on a plain directory: 0 4390
mount point on a file: 0 267
set with a wrong length: 0 4392
junction loop_a: 1 0
junction loop_b: 1 0
open through a loop: 0 1921
junction jdel: 1 0
delete with another tag: 0 4394
delete: 1 0
delete again: 0 4390
after delete: 0x10
move: 1 attributes 0x410 old 0xffffffff
read moved: 'hello' final \\rp_test\\target\\f.txt
copy through: 1 attributes 0x20
read copy: 'hello' final \\rp_test\\copy.txt
rmdir junction: 1 gone 1 target file 0x20
symlink unprivileged: 0 1314
symlink privileged: 0 1314
slink left: 0xffffffff
cleaned: 1
"""

SYMLINKS = """\
mklink abs -> C:\\app\\sl_test\\target\\f.txt: 1 0
mklink rel -> target\\f.txt: 1 0
mklink sub\\updir -> ..\\target: 1 0
mklink dangling -> nothere.txt: 1 0
mklink rel -> target\\f.txt: 0 183
attributes: abs 0x420 rel 0x420 updir 0x410 dangling 0x420 target 0x10
find abs 0x420 tag 0xa000000c
find dangling 0x420 tag 0xa000000c
find rel 0x420 tag 0xa000000c
find sub 0x10 tag 0
find target 0x10 tag 0
read abs: 'hello' final \\sl_test\\target\\f.txt
read rel: 'hello' final \\sl_test\\target\\f.txt
read sub\\updir\\f.txt: 'hello' final \\sl_test\\target\\f.txt
read dangling: error 2
get abs: 1 tag 0xa000000c flags 0 substitute-matches 1
get rel: 1 tag 0xa000000c flags 1 substitute-matches 1
get sub\\updir: 1 tag 0xa000000c flags 1 substitute-matches 1
mklink loop1 -> loop2: 1 0
mklink loop2 -> loop1: 1 0
read loop1: error 1921
read c1: 'hello' final \\sl_test\\target\\f.txt
read c0: error 1921
copy: 1 attributes 0x20
read copy.txt: 'hello' final \\sl_test\\copy.txt
move: 1 moved 0x420 old 0xffffffff
read sub\\rel_moved: error 3
delete link: 1 gone 1 target 0x20
DeleteFile of a directory link: 0 5
rmdir link: 1 gone 1 target 0x10
cleaned: 1
"""

DEV = Profile.default().with_(developer_mode=True)


def _run(build_fixture, arch, tmp_path, src, profile=None):
    exe = tmp_path / "app" / src.replace(".c", ".exe")
    exe.parent.mkdir()
    shutil.copy(build_fixture(src, arch), exe)
    r = runner.run(exe, [], timeout=120, profile=profile)
    assert r.error is None and r.exit_status == 0, (r.error, r.stdout.decode("latin-1")[-2000:])
    return r, r.stdout.decode("latin-1").replace("\r\n", "\n")


def test_junctions(build_fixture, arch, tmp_path):
    r, out = _run(build_fixture, arch, tmp_path, "reparse.c")
    assert out == JUNCTIONS
    kinds = {(x["path"].rsplit("\\", 1)[-1], x["kind"]) for x in r.report()["behaviour"]["files"]["links"]}
    assert kinds == {("jlink", "junction"), ("loop_a", "junction"), ("loop_b", "junction"), ("jdel", "junction")}
    assert sorted(p.name for p in (tmp_path / "app").iterdir()) == ["reparse.exe"]   # the host folder: as it was


def test_symlinks_in_developer_mode(build_fixture, arch, tmp_path):
    r, out = _run(build_fixture, arch, tmp_path, "symlinks.c", DEV)
    assert out == SYMLINKS
    links = r.report()["behaviour"]["files"]["links"]
    assert {"path": "C:\\app\\sl_test\\sub\\updir", "kind": "symlink", "target": "..\\target",
            "relative": True} in links
    assert {"path": "C:\\app\\sl_test\\abs", "kind": "symlink", "target": "\\??\\C:\\app\\sl_test\\target\\f.txt",
            "relative": False} in links
    # every link the guest made lives in the sandbox: not one host symlink anywhere below it
    links = [p for p in r.machine.vfs.sandbox_root.rglob("*") if p.is_symlink()]
    assert not links and not any(p.is_symlink() for p in tmp_path.rglob("*"))


def test_symlinks_need_developer_mode(build_fixture, tmp_path):
    r, out = _run(build_fixture, "x64", tmp_path, "symlinks.c")
    made = [ln for ln in out.splitlines() if ln.startswith("mklink")]
    assert made and all(ln.endswith(": 0 1314") for ln in made)     # ERROR_PRIVILEGE_NOT_HELD, nothing made
    assert "attributes: abs 0xffffffff rel 0xffffffff updir 0xffffffff dangling 0xffffffff target 0x10" in out


def test_developer_mode_profile_key():
    assert not Profile.default().developer_mode
    p = Profile.from_dict({"os": {"developer_mode": True}})
    assert p.developer_mode
    key = "HKLM\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\AppModelUnlock"
    assert registry_description(p)["keys"][key]["values"]["AllowDevelopmentWithoutDevLicense"]["data"] == 1
    assert key not in registry_description(Profile.default())["keys"]
    with pytest.raises(ProfileError, match="developer_mode: expected true or false"):
        Profile.from_dict({"os": {"developer_mode": "yes"}})


# ------------------------------------------------------------------------------------------------ the VFS itself
def _mount_point(target_nt: str) -> bytes:
    sub = target_nt.encode("utf-16-le")
    body = V.struct.pack("<HHHH", 0, len(sub), len(sub) + 2, 0) + sub + b"\0\0" + b"\0\0"
    return V.struct.pack("<IHH", V.IO_REPARSE_TAG_MOUNT_POINT, len(body), 0) + body


def _symlink(sub: str, relative: bool) -> bytes:
    s = sub.encode("utf-16-le")
    body = V.struct.pack("<HHHHI", 0, len(s), len(s), 0, int(relative)) + s
    return V.struct.pack("<IHH", V.IO_REPARSE_TAG_SYMLINK, len(body), 0) + body


def _link(vfs, path: str, buf: bytes, directory: bool = True) -> None:
    f = vfs.open(path, access=V.GENERIC_WRITE, disposition=V.FILE_CREATE,
                 options=(V.FILE_DIRECTORY_FILE if directory else V.FILE_NON_DIRECTORY_FILE) | V.FILE_OPEN_REPARSE_POINT)
    try:
        vfs.set_reparse_point(f, buf, may_symlink=True)
    finally:
        f.close()


@pytest.fixture
def vfs(tmp_path):
    v = Vfs(tmp_path / "box")
    v.mkdir("C:\\data")
    v.write_file("C:\\data\\f.txt", b"data")
    return v


def test_parse_reparse_buffer_checks():
    ok = _symlink("x", True)
    assert V.parse_reparse_buffer(ok).substitute == "x"
    for bad, st in ((ok[:6], V.STATUS_IO_REPARSE_DATA_INVALID), (ok + b"\0\0", V.STATUS_IO_REPARSE_DATA_INVALID),
                    (b"\0\0\0\0\0\0\0\0", V.STATUS_IO_REPARSE_TAG_INVALID),
                    (bytes(8) + bytes(16 * 1024), V.STATUS_IO_REPARSE_DATA_INVALID),
                    (V.struct.pack("<IHH", V.IO_REPARSE_TAG_SYMLINK, 4, 0) + bytes(4), V.STATUS_IO_REPARSE_DATA_INVALID),
                    (V.struct.pack("<IHHHHHHI", V.IO_REPARSE_TAG_SYMLINK, 12, 0, 0, 40, 0, 0, 0),
                     V.STATUS_IO_REPARSE_DATA_INVALID)):
        with pytest.raises(NtStatusError) as e:
            V.parse_reparse_buffer(bad)
        assert e.value.status == st


def test_links_resolve_in_the_guest_namespace(vfs):
    _link(vfs, "C:\\j", _mount_point("\\??\\C:\\data\\"))
    assert vfs.read_file("C:\\j\\f.txt") == b"data"
    # a relative link climbs with '..' but never above the drive's root
    _link(vfs, "C:\\data\\up", _symlink("..\\..\\..\\..\\data", True))
    assert vfs.read_file("C:\\data\\up\\f.txt") == b"data"
    # absolute targets are guest NT paths: another drive, UNC, a device, GLOBALROOT — none reaches the host
    for name, target, st in (("z", "\\??\\Z:\\etc", 0xC000003A), ("unc", "\\??\\UNC\\localhost\\c$", 0xC00000BE),
                             ("dev", "\\??\\GLOBALROOT\\Device\\Harddisk0", 0xC0000022),
                             ("win32", "C:\\data", 0xC000003A)):
        _link(vfs, f"C:\\{name}", _symlink(target, False))
        with pytest.raises(NtStatusError) as e:
            vfs.read_file(f"C:\\{name}\\f.txt")
        assert e.value.status == st, (name, hex(e.value.status))
    # the link itself: FILE_OPEN_REPARSE_POINT, its attributes and tag
    info = vfs.stat("C:\\j", open_link=True)
    assert info.attributes == 0x410 and info.reparse_tag == V.IO_REPARSE_TAG_MOUNT_POINT
    assert vfs.stat("C:\\j").attributes == 0x10
    # a loop stops after 63 reparses
    _link(vfs, "C:\\a", _symlink("\\??\\C:\\b", False))
    _link(vfs, "C:\\b", _symlink("a", True))
    with pytest.raises(NtStatusError) as e:
        vfs.stat("C:\\a\\x")
    assert e.value.status == V.STATUS_REPARSE_POINT_NOT_RESOLVED
    # a link that grows the path at each hop stops at the NT path limit (the lookups stay bounded)
    _link(vfs, "C:\\g", _symlink("\\".join(["g"] * 2000), True))
    with pytest.raises(NtStatusError) as e:
        vfs.stat("C:\\g\\x")
    assert e.value.status == 0xC0000106      # STATUS_NAME_TOO_LONG


def test_rename_and_delete_carry_the_reparse_point(vfs):
    _link(vfs, "C:\\j", _mount_point("\\??\\C:\\data\\"))
    vfs.rename("C:\\j", "C:\\k")
    assert vfs.read_file("C:\\k\\f.txt") == b"data"
    assert not vfs.exists("C:\\j")
    vfs.rmdir("C:\\k")
    assert vfs.read_file("C:\\data\\f.txt") == b"data" and not vfs._reparse
    # a name made again where a link was is an ordinary directory
    vfs.mkdir("C:\\k")
    assert vfs.stat("C:\\k", open_link=True).attributes == 0x10
