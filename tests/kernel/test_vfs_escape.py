"""Sandbox escapes: every path form that could reach a host file outside the sandbox and the mounts is
tried with every operation; nothing outside may be read, written, created, deleted or listed."""
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from winhatch.kernel.io import Vfs
from winhatch.kernel.io.vfs import (
    DELETE, FILE_CREATE, FILE_DIRECTORY_FILE, FILE_OPEN, FILE_OPEN_IF, FILE_OVERWRITE_IF, FILE_SUPERSEDE,
    GENERIC_READ, GENERIC_WRITE,
)
from winhatch.ntstatus import (
    NtStatusError, STATUS_ACCESS_DENIED, STATUS_BAD_NETWORK_PATH, STATUS_OBJECT_NAME_INVALID,
    STATUS_OBJECT_NAME_NOT_FOUND, STATUS_OBJECT_PATH_NOT_FOUND, STATUS_OBJECT_PATH_SYNTAX_BAD,
)

CANARY = b"CANARY: host secret outside the sandbox\n"
REFUSALS = {STATUS_ACCESS_DENIED, STATUS_OBJECT_NAME_INVALID, STATUS_OBJECT_PATH_NOT_FOUND,
            STATUS_OBJECT_NAME_NOT_FOUND, STATUS_BAD_NETWORK_PATH, STATUS_OBJECT_PATH_SYNTAX_BAD}


def snapshot(root: Path) -> dict:
    out = {}
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        for n in dirnames + filenames:
            p = os.path.join(dirpath, n)
            st = os.lstat(p)
            data = None
            if os.path.isfile(p) and not os.path.islink(p):
                data = Path(p).read_bytes()
            out[p] = (st.st_mode, st.st_size, st.st_mtime_ns, data)
    out[str(root)] = os.lstat(root).st_mtime_ns
    return out


class World:
    def __init__(self, tmp: Path):
        self.tmp = tmp
        self.outside = tmp / "outside"
        self.outside.mkdir()
        (self.outside / "canary.txt").write_bytes(CANARY)
        (self.outside / "sub").mkdir()
        (self.outside / "sub" / "deep.txt").write_bytes(CANARY)
        self.app = tmp / "apphost"
        self.app.mkdir()
        (self.app / "prog.exe").write_bytes(b"MZ")
        self.vfs = Vfs(tmp / "sb")
        c = tmp / "sb" / "C"
        # the layout's folders are made when the guest first reaches them: the planter makes its own
        for d in ("Users/user", "Windows/Temp"):
            (c / d).mkdir(parents=True, exist_ok=True)
        # symlinks planted inside the sandbox, pointing outside
        os.symlink(self.outside / "canary.txt", c / "link_file")
        os.symlink(self.outside, c / "link_dir")
        os.symlink(self.outside / "new_from_sandbox.txt", c / "dangling")
        os.symlink("../../../../outside", c / "Users" / "user" / "link_rel")
        os.symlink("/", c / "hostroot")
        os.symlink(self.outside, c / "Windows" / "Temp" / "TempLink")
        # inside the (read-only) app mount: to the sandbox (outside the mount root) and to the outside
        os.symlink(c, self.app / "up")
        os.symlink(self.outside, self.app / "esc")
        self.vfs.mount("C:\\app", self.app, readonly=True)
        w = tmp / "workhost"
        w.mkdir()
        os.symlink(self.outside / "canary.txt", w / "wlink")
        self.vfs.mount("C:\\work", w)
        self.work = w
        # a legitimate file inside, to rename out
        with self.vfs.open("C:\\inside.txt", access=GENERIC_WRITE, disposition=FILE_CREATE) as f:
            f.write(b"inside")
        self.before = self.snap()

    def snap(self):
        return (snapshot(self.outside), sorted(os.listdir(self.tmp)), snapshot(self.app),
                Path("/etc/hostname").exists() and os.stat("/etc/hostname").st_mtime_ns)

    def check(self):
        assert self.snap() == self.before, "a host file outside the sandbox changed"


@pytest.fixture
def world(tmp_path):
    return World(tmp_path)


def escape_paths(w: World) -> list[str]:
    host_canary = str(w.outside / "canary.txt")
    depth = "\\".join([".."] * 12)
    return [
        "C:\\link_file", "c:\\LINK_FILE", "C:\\link_file. . .", "C:\\link_dir\\canary.txt", "C:\\LINK_DIR\\Canary.TXT",
        "C:\\link_dir", "C:\\link_dir\\sub\\deep.txt", "C:\\link_dir\\new.txt", "C:\\link_dir\\..\\link_dir\\canary.txt",
        "C:\\dangling", "C:\\Users\\user\\link_rel\\canary.txt", "C:\\Users\\user\\link_rel",
        "C:\\hostroot\\etc\\hostname", "C:\\hostroot\\" + host_canary.lstrip("/").replace("/", "\\"),
        "C:\\Windows\\Temp\\templink\\canary.txt", "C:\\app\\up\\inside.txt", "C:\\app\\esc\\canary.txt",
        "C:\\app\\esc", "C:\\work\\wlink",
        "C:\\..\\..\\outside\\canary.txt", "C:/../../outside/canary.txt", "C:\\" + depth + "\\outside\\canary.txt",
        depth + "\\outside\\canary.txt", host_canary, host_canary.replace("/", "\\"), "C:" + host_canary,
        "/etc/hostname", "C:/../../etc/hostname",
        "\\\\?\\C:\\..\\..\\outside\\canary.txt", "\\??\\C:\\..\\outside\\canary.txt", "\\??\\C:\\link_file",
        "\\\\?\\" + host_canary, "\\??\\" + host_canary, "\\\\.\\C:\\..\\..\\outside\\canary.txt",
        "\\\\localhost\\C$\\outside\\canary.txt", "\\\\?\\UNC\\localhost\\c$\\canary.txt", "//host/share/canary.txt",
        "\\\\.\\PhysicalDrive0", "\\\\.\\C:", "\\\\.\\GLOBALROOT\\Device\\HarddiskVolume3\\canary.txt",
        "\\Device\\HarddiskVolume3\\..\\outside\\canary.txt", "\\Device\\HarddiskVolume3\\link_file",
        "C:\\link_file:stream", "C:\\link_dir\\canary.txt::$DATA", "C:\\inside.txt:ads",
        "C:\\x\x00\\..\\..\\outside\\canary.txt", "C:\\link_dir\\*", "C:\\link_dir\\canary.tx?",
        "CON", "NUL", "COM1", "C:\\Windows\\aux.txt", "\\\\.\\pipe\\x",
    ]


def attempt(fn, *a, **kw):
    try:
        return fn(*a, **kw)
    except NtStatusError as e:
        return e


def _ops(vfs, path):
    res = []
    f = attempt(vfs.open, path, access=GENERIC_READ, disposition=FILE_OPEN)
    if not isinstance(f, NtStatusError):
        res.append(attempt(f.read, 1 << 16))
        f.close()
    for disp in (FILE_OVERWRITE_IF, FILE_CREATE, FILE_SUPERSEDE, FILE_OPEN_IF):
        f = attempt(vfs.open, path, access=GENERIC_WRITE | GENERIC_READ, disposition=disp)
        if not isinstance(f, NtStatusError):
            attempt(f.write, b"PWNED")
            res.append(attempt(f.read, 100, 0))
            f.close()
    f = attempt(vfs.open, path, access=GENERIC_READ | DELETE, disposition=FILE_OPEN, options=0x1000)
    if not isinstance(f, NtStatusError):
        f.close()
    attempt(vfs.open, path, access=GENERIC_READ, disposition=FILE_CREATE, options=FILE_DIRECTORY_FILE)
    res.append(attempt(vfs.stat, path))
    res.append(attempt(vfs.listdir, path))
    res.append(attempt(vfs.listdir, path, "*.txt"))
    res.append(attempt(vfs.find, path))
    attempt(vfs.set_attributes, path, 1)
    attempt(vfs.delete, path)
    attempt(vfs.rmdir, path)
    attempt(vfs.mkdir, path)
    attempt(vfs.rename, path, "C:\\stolen.txt")
    attempt(vfs.rename, path, "C:\\stolen2.txt", replace=True)
    attempt(vfs.rename, "C:\\inside.txt", path, replace=True)
    attempt(vfs.rename, "C:\\inside.txt", path)
    res.append(attempt(vfs.resolve, path))
    res.append(attempt(vfs.host_dir_of, path))
    return res


def _no_leak(world, results):
    for r in results:
        if isinstance(r, bytes):
            assert CANARY not in r and b"CANARY" not in r
        if isinstance(r, list):
            for fi in r:
                # files created inside by the attempts hold b"PWNED" or nothing: only outside files are this size
                assert fi.is_dir or fi.size != len(CANARY), fi
        if isinstance(r, tuple):  # resolve()
            assert str(r[0]).startswith(str((world.tmp / "sb").resolve())) or \
                str(r[0]).startswith(str(world.app.resolve())) or str(r[0]).startswith(str(world.work.resolve()))
            assert not str(r[0]).startswith(str(world.outside.resolve()))
        if hasattr(r, "resolve") and isinstance(r, Path):
            assert not str(r).startswith(str(world.outside.resolve()))


def test_every_form_every_operation(world):
    for p in escape_paths(world):
        _no_leak(world, _ops(world.vfs, p))
        world.check()
    # the stolen names were never created from outside content
    for n in ("stolen.txt", "stolen2.txt"):
        try:
            data = world.vfs.read_file("C:\\" + n)
        except NtStatusError:
            continue
        assert b"CANARY" not in data


@pytest.mark.parametrize("path,status", [
    ("C:\\link_file", STATUS_ACCESS_DENIED),
    ("C:\\link_dir\\canary.txt", STATUS_ACCESS_DENIED),
    ("C:\\Users\\user\\link_rel\\canary.txt", STATUS_ACCESS_DENIED),
    ("C:\\dangling", STATUS_ACCESS_DENIED),
    ("C:\\app\\up\\inside.txt", STATUS_ACCESS_DENIED),
    ("C:\\app\\esc\\canary.txt", STATUS_ACCESS_DENIED),
    ("C:\\..\\..\\outside\\canary.txt", STATUS_OBJECT_PATH_NOT_FOUND),
    ("/etc/hostname", STATUS_OBJECT_PATH_NOT_FOUND),
    ("\\\\?\\C:\\..\\outside\\canary.txt", STATUS_OBJECT_NAME_INVALID),
    ("\\\\server\\share\\x", STATUS_BAD_NETWORK_PATH),
    ("\\\\.\\PhysicalDrive0", STATUS_ACCESS_DENIED),
    ("C:\\inside.txt:ads", STATUS_OBJECT_NAME_INVALID),
    ("C:\\in\x00side.txt", STATUS_OBJECT_NAME_INVALID),
])
def test_refusal_statuses(world, path, status):
    try:
        world.vfs.open(path, access=GENERIC_READ, disposition=FILE_OPEN)
    except NtStatusError as e:
        assert e.status == status
    else:
        pytest.fail(f"{path!r} opened")
    world.check()


def test_escaping_links_are_not_listed(world):
    names = [f.name for f in world.vfs.listdir("C:\\")]
    assert "link_file" not in names and "link_dir" not in names and "hostroot" not in names
    assert "Windows" in names and "inside.txt" in names
    assert "up" not in [f.name for f in world.vfs.listdir("C:\\app")]


def test_inside_links_still_work(world):
    c = world.tmp / "sb" / "C"
    os.symlink(c / "inside.txt", c / "Users" / "ok_link")
    assert world.vfs.read_file("C:\\Users\\ok_link") == b"inside"


def test_host_fifo_is_never_opened(world):
    os.mkfifo(world.tmp / "sb" / "C" / "fifo")
    try:
        world.vfs.open("C:\\fifo", access=GENERIC_READ)
    except NtStatusError as e:
        assert e.status == STATUS_ACCESS_DENIED
    else:
        pytest.fail("opened a FIFO")


SEGMENTS = ["..", ".", "link_dir", "link_file", "dangling", "outside", "canary.txt", "C:", "c:", "\\", "/", "\\\\",
            "?", ":", " ", ".. ", "...", "UNC", "\\\\?\\", "\\\\.\\", "\\??\\", "hostroot", "etc", "app", "up", "esc",
            "Users", "user", "link_rel", "work", "wlink", "\x00", "*", "~", "%TEMP%", "$DATA", "GLOBALROOT",
            "Device", "HarddiskVolume3", str(Path("/")), "tmp"]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.sampled_from(SEGMENTS), min_size=1, max_size=10))
def test_fuzzed_paths_never_escape(world, segs):
    path = "".join(segs)
    _no_leak(world, _ops(world.vfs, path))
    world.check()


def test_hard_link_in_a_mount_is_not_opened(world):
    """A hard link placed (on the host) in a mounted folder names a file outside the sandbox; the path checks
    cannot see that, so a regular file with more than one link is never opened (issue 14): not for reading,
    writing, overwriting, nor as an image."""
    w = world
    os.link(w.outside / "canary.txt", w.work / "hard.txt")
    os.link(w.outside / "sub" / "deep.txt", w.app / "hard.dll")
    w.before = w.snap()
    for path in ("C:\\work\\hard.txt", "C:\\app\\hard.dll"):
        for access, disposition in ((GENERIC_READ, FILE_OPEN), (GENERIC_WRITE, FILE_OPEN),
                                    (GENERIC_READ | GENERIC_WRITE, FILE_OVERWRITE_IF),
                                    (GENERIC_WRITE, FILE_SUPERSEDE)):
            r = attempt(w.vfs.open, path, access=access, disposition=disposition)
            assert isinstance(r, NtStatusError) and r.status == STATUS_ACCESS_DENIED, (path, access, r)
        assert isinstance(attempt(w.vfs.read_file, path), NtStatusError)
    from winhatch.kernel.ps.mapping import ImageSectionCache
    r = attempt(ImageSectionCache(w.vfs).open, "C:\\app\\hard.dll")
    assert isinstance(r, NtStatusError) and r.status == STATUS_ACCESS_DENIED
    w.check()
    # a file with one link is opened as before
    with w.vfs.open("C:\\work\\plain.txt", access=GENERIC_WRITE, disposition=FILE_CREATE) as f:
        f.write(b"ok")
    assert w.vfs.read_file("C:\\work\\plain.txt") == b"ok"
