"""The virtual file system: Win32/NT path semantics, NtCreateFile dispositions and statuses, listing with
DOS wildcards, sharing, delete/rename, mounts, WoW64 redirection and the access log."""
import os

import pytest

from winhatch.kernel.io import Vfs, FileInfo, full_path, to_nt_path, find_match
from winhatch.kernel.io.vfs import (
    DELETE, FILE_APPEND_DATA, FILE_ATTRIBUTE_ARCHIVE, FILE_ATTRIBUTE_DIRECTORY, FILE_ATTRIBUTE_HIDDEN,
    FILE_ATTRIBUTE_READONLY, FILE_CREATE, FILE_CREATED, FILE_DELETE_ON_CLOSE, FILE_DIRECTORY_FILE,
    FILE_NON_DIRECTORY_FILE, FILE_OPEN, FILE_OPEN_IF, FILE_OPENED, FILE_OVERWRITE, FILE_OVERWRITE_IF,
    FILE_OVERWRITTEN, FILE_READ_ATTRIBUTES, FILE_SHARE_DELETE, FILE_SHARE_READ, FILE_SHARE_WRITE, FILE_SUPERSEDE,
    FILE_SUPERSEDED, GENERIC_READ, GENERIC_WRITE,
)
from winhatch.ntstatus import (
    NtStatusError, STATUS_ACCESS_DENIED, STATUS_BAD_NETWORK_PATH, STATUS_CANNOT_DELETE, STATUS_DIRECTORY_NOT_EMPTY,
    STATUS_DISK_FULL, STATUS_FILE_IS_A_DIRECTORY, STATUS_INVALID_DEVICE_REQUEST, STATUS_INVALID_PARAMETER,
    STATUS_NO_SUCH_FILE, STATUS_NOT_A_DIRECTORY, STATUS_OBJECT_NAME_COLLISION, STATUS_OBJECT_NAME_INVALID,
    STATUS_OBJECT_NAME_NOT_FOUND, STATUS_OBJECT_PATH_NOT_FOUND, STATUS_SHARING_VIOLATION, STATUS_SUCCESS,
)

RW = GENERIC_READ | GENERIC_WRITE


def status_of(fn, *a, **kw):
    try:
        fn(*a, **kw)
    except NtStatusError as e:
        return e.status
    return STATUS_SUCCESS


@pytest.fixture
def app_dir(tmp_path):
    d = tmp_path / "apphost"
    d.mkdir()
    (d / "Program.EXE").write_bytes(b"MZ\x90\x00program")
    (d / "data").mkdir()
    (d / "data" / "Config.INI").write_bytes(b"[x]\r\n")
    return d


@pytest.fixture
def vfs(tmp_path, app_dir):
    v = Vfs(tmp_path / "sandbox")
    v.mount("C:\\app", app_dir, readonly=True)
    return v


def new(vfs, path, data=b"", **kw):
    with vfs.open(path, access=RW, disposition=FILE_CREATE, **kw) as f:
        f.write(data)


# --- path syntax ------------------------------------------------------------------------------------
@pytest.mark.parametrize("path,cwd,full", [
    ("C:\\x", None, "C:\\x"),
    ("C:/a/b", None, "C:\\a\\b"),
    ("C:\\a\\\\b\\.\\c\\..\\d", None, "C:\\a\\b\\d"),
    ("C:\\..\\..\\x", None, "C:\\x"),
    ("foo.txt", "C:\\app", "C:\\app\\foo.txt"),
    ("..\\..\\..\\x", "C:\\app\\data", "C:\\x"),
    ("\\Windows", "C:\\app", "C:\\Windows"),
    ("/etc/passwd", "C:\\app", "C:\\etc\\passwd"),
    ("C:foo", "C:\\app", "C:\\app\\foo"),
    ("D:foo", "C:\\app", "D:\\foo"),
    ("C:\\a\\name. . .", None, "C:\\a\\name"),
    ("C:\\a.\\b", None, "C:\\a\\b"),
    ("C:\\dir\\", None, "C:\\dir\\"),
    ("C:\\dir\\nul.txt", None, "\\\\.\\nul"),
    ("CON", "C:\\app", "\\\\.\\CON"),
    ("\\\\.\\C:\\a\\..\\..\\b", None, "\\\\.\\C:\\b"),
    ("\\\\?\\C:\\a\\..\\b", None, "\\\\?\\C:\\a\\..\\b"),
    ("\\\\server\\share\\..\\..\\x", None, "\\\\server\\share\\x"),
    # Wine's ntdll path.c (passes on Windows): ".." takes a device name away, a server alone keeps one
    # separator, \??\ is a rooted name to the Win32 syntax, any character names a drive
    ("//./foo/..", None, "\\\\.\\"),
    ("//?/foo/..", None, "\\\\?\\"),
    ("//foo/", None, "\\\\foo\\"),
    ("\\??\\foo", "C:\\windows", "C:\\??\\foo"),
    ("?:", "C:\\windows", "?:\\"),
])
def test_full_path(path, cwd, full, vfs):
    assert vfs.full_path(path, cwd) == full
    assert full_path(path, cwd) == full


@pytest.mark.parametrize("path,nt", [
    ("C:\\x", "\\??\\C:\\x"),
    ("\\\\?\\C:\\a\\..\\b", "\\??\\C:\\a\\..\\b"),
    ("\\\\.\\PhysicalDrive0", "\\??\\PhysicalDrive0"),
    ("\\\\srv\\share\\f", "\\??\\UNC\\srv\\share\\f"),
    ("nul", "\\??\\nul"),
    ("\\??\\C:\\x", "\\??\\C:\\x"),
    ("\\??\\", "\\??\\C:\\??\\"),         # "\??\" alone: a rooted name (Wine's ntdll path.c)
])
def test_to_nt_path(path, nt, vfs):
    assert vfs.to_nt_path(path, "C:\\") == nt


def test_nt_path_dotdot_is_an_invalid_name(vfs):
    assert status_of(vfs.stat, "\\??\\C:\\Windows\\..\\Windows") == STATUS_OBJECT_NAME_INVALID
    assert status_of(vfs.stat, "\\\\?\\C:\\Windows\\.") == STATUS_OBJECT_NAME_INVALID


# --- lookup -----------------------------------------------------------------------------------------
def test_layout_exists(vfs):
    for d in ("C:\\Windows", "C:\\Windows\\System32", "C:\\Windows\\SysWOW64", "C:\\Users\\user",
              "C:\\ProgramData", "C:\\Windows\\Temp", vfs.temp_dir):
        assert vfs.stat(d).is_dir, d
    assert vfs.system32("x64").name == "System32"
    assert vfs.system32("x86").name == "SysWOW64"
    assert vfs.host_dir_of("C:\\WINDOWS\\system32") == vfs.system32("x64")


def test_layout_is_made_on_the_host_when_reached(tmp_path):
    """The installation's folders and files are made on the host when the guest first reaches them (a run
    made ~40 host folders it mostly never used); the guest cannot tell the difference."""
    v = Vfs(tmp_path / "sb")
    c = tmp_path / "sb" / "C"
    assert sorted(os.listdir(c)) == []
    # a lookup through a pending folder makes only that path
    assert v.stat("c:\\users\\USER\\appdata\\local\\temp").is_dir
    assert sorted(os.listdir(c)) == ["Users"] and sorted(os.listdir(c / "Users")) == ["user"]
    assert not (c / "Windows").exists()
    # a listing shows every pending child; files have their content
    assert [i.name for i in v.listdir("C:\\")] == ["Program Files", "Program Files (x86)", "ProgramData", "Users",
                                                  "Windows"]
    assert [i.name for i in v.listdir("C:\\Users")][2:] == ["Default", "Public", "user"]
    assert v.read_file("C:\\WINDOWS\\win.ini") == Vfs.WIN_INI
    assert v.read_file("C:\\Windows\\System32\\drivers\\etc\\hosts") == Vfs.HOSTS
    # a folder whose children are pending is not empty; a pending name cannot be created anew
    assert status_of(v.rmdir, "C:\\ProgramData") == STATUS_DIRECTORY_NOT_EMPTY
    assert status_of(v.mkdir, "C:\\Program Files\\Common Files") == STATUS_OBJECT_NAME_COLLISION
    assert status_of(v.rmdir, "C:\\Users\\Public\\Desktop") == STATUS_SUCCESS
    assert status_of(v.stat, "C:\\Users\\Public\\Desktop") == STATUS_OBJECT_NAME_NOT_FOUND
    # a host folder the user provided keeps its files (nothing pending replaces them)
    w = Vfs(tmp_path / "sb2", create_layout=False)
    assert os.listdir(tmp_path / "sb2" / "C") == [] and status_of(w.stat, "C:\\Windows") == STATUS_OBJECT_NAME_NOT_FOUND


def test_case_insensitive_resolution(vfs, app_dir):
    host, ro = vfs.resolve("c:\\APP\\program.exe")
    assert host == app_dir.resolve() / "Program.EXE" and ro is True
    info = vfs.stat("C:\\App\\DATA\\config.ini")
    assert info.name == "Config.INI" and info.size == 5 and not info.is_dir
    # new files keep the given case
    new(vfs, "C:\\Users\\user\\MixedCase.Txt", b"x")
    assert "MixedCase.Txt" in os.listdir(vfs.host_dir_of("C:\\Users\\user"))
    assert vfs.read_file("c:\\users\\USER\\mixedcase.txt") == b"x"


def test_stat_fields(vfs):
    new(vfs, "C:\\f.bin", b"12345")
    st = vfs.stat("C:\\f.bin")
    assert isinstance(st, FileInfo)
    assert st.attributes == FILE_ATTRIBUTE_ARCHIVE and st.size == 5
    assert st.last_write_time > 116444736000000000 and st.creation_time <= st.last_write_time
    d = vfs.stat("C:\\Windows")
    assert d.is_dir and d.attributes & FILE_ATTRIBUTE_DIRECTORY and d.size == 0
    assert vfs.stat("C:\\app\\Program.exe").attributes & FILE_ATTRIBUTE_READONLY


# --- NtCreateFile -----------------------------------------------------------------------------------
def test_dispositions_and_information(vfs):
    p = "C:\\Users\\user\\d.txt"
    assert status_of(vfs.open, p, disposition=FILE_OPEN) == STATUS_OBJECT_NAME_NOT_FOUND
    assert status_of(vfs.open, p, access=RW, disposition=FILE_OVERWRITE) == STATUS_OBJECT_NAME_NOT_FOUND
    f = vfs.open(p, access=RW, disposition=FILE_CREATE)
    assert f.information == FILE_CREATED
    f.write(b"hello world")
    f.close()
    assert status_of(vfs.open, p, access=RW, disposition=FILE_CREATE) == STATUS_OBJECT_NAME_COLLISION
    with vfs.open(p, access=RW, disposition=FILE_OPEN_IF) as f:
        assert f.information == FILE_OPENED and f.read() == b"hello world"
    with vfs.open(p, access=RW, disposition=FILE_OVERWRITE) as f:
        assert f.information == FILE_OVERWRITTEN and f.size == 0
        f.write(b"abc")
    with vfs.open(p, access=RW, disposition=FILE_SUPERSEDE) as f:
        assert f.information == FILE_SUPERSEDED and f.size == 0
    with vfs.open(p, access=RW, disposition=FILE_OVERWRITE_IF) as f:
        assert f.information == FILE_OVERWRITTEN
    with vfs.open("C:\\Users\\user\\e.txt", access=RW, disposition=FILE_OVERWRITE_IF) as f:
        assert f.information == FILE_CREATED
    with vfs.open("C:\\Users\\user\\g.txt", access=RW, disposition=FILE_SUPERSEDE) as f:
        assert f.information == FILE_CREATED


def test_open_statuses(vfs):
    assert status_of(vfs.open, "C:\\nodir\\x.txt", access=RW, disposition=FILE_OPEN_IF) == STATUS_OBJECT_PATH_NOT_FOUND
    assert status_of(vfs.open, "C:\\Windows\\x.txt", disposition=FILE_OPEN) == STATUS_OBJECT_NAME_NOT_FOUND
    assert status_of(vfs.open, "C:\\Windows", options=FILE_NON_DIRECTORY_FILE) == STATUS_FILE_IS_A_DIRECTORY
    new(vfs, "C:\\file.txt")
    assert status_of(vfs.open, "C:\\file.txt", options=FILE_DIRECTORY_FILE) == STATUS_NOT_A_DIRECTORY
    assert status_of(vfs.open, "C:\\file.txt\\sub", disposition=FILE_OPEN_IF, access=RW) == STATUS_OBJECT_PATH_NOT_FOUND
    assert status_of(vfs.open, "C:\\file.txt\\") == STATUS_OBJECT_NAME_INVALID
    for bad in ("C:\\a<b", "C:\\a>b", "C:\\a|b", "C:\\a\"b", "C:\\a?b", "C:\\a*b", "C:\\a\x01b", "C:\\x:stream",
                "C:\\file.txt:Zone.Identifier", "C:\\" + "n" * 256, "C:\\a\x00b", ""):
        assert status_of(vfs.open, bad, access=RW, disposition=FILE_OPEN_IF) == STATUS_OBJECT_NAME_INVALID, bad
    assert status_of(vfs.open, "C:\\x", disposition=9) == STATUS_INVALID_PARAMETER
    assert status_of(vfs.open, "C:\\x", disposition=FILE_OVERWRITE_IF, options=FILE_DIRECTORY_FILE) == \
        STATUS_INVALID_PARAMETER
    assert status_of(vfs.open, "C:\\x", access=RW, disposition=FILE_OPEN_IF, options=FILE_DELETE_ON_CLOSE) == \
        STATUS_INVALID_PARAMETER
    assert status_of(vfs.open, "E:\\x") == STATUS_OBJECT_PATH_NOT_FOUND
    assert status_of(vfs.open, "\\\\server\\share\\x") == STATUS_BAD_NETWORK_PATH


def test_read_only_mount(vfs, app_dir):
    before = (app_dir / "Program.EXE").read_bytes()
    assert vfs.read_file("C:\\app\\Program.exe") == before
    for kw in (dict(access=GENERIC_WRITE), dict(access=FILE_APPEND_DATA), dict(access=DELETE),
               dict(access=GENERIC_READ, disposition=FILE_OVERWRITE), dict(access=GENERIC_READ, disposition=FILE_SUPERSEDE)):
        assert status_of(vfs.open, "C:\\app\\Program.exe", **kw) == STATUS_ACCESS_DENIED, kw
    assert status_of(vfs.open, "C:\\app\\new.txt", access=RW, disposition=FILE_CREATE) == STATUS_ACCESS_DENIED
    assert status_of(vfs.mkdir, "C:\\app\\newdir") == STATUS_ACCESS_DENIED
    assert status_of(vfs.delete, "C:\\app\\Program.exe") == STATUS_ACCESS_DENIED
    assert status_of(vfs.rename, "C:\\app\\Program.exe", "C:\\x.exe") == STATUS_ACCESS_DENIED
    assert status_of(vfs.rmdir, "C:\\app") == STATUS_ACCESS_DENIED
    assert (app_dir / "Program.EXE").read_bytes() == before
    assert sorted(os.listdir(app_dir)) == ["Program.EXE", "data"]


def test_writable_mount_and_drive_mount(vfs, tmp_path):
    w = tmp_path / "work"
    w.mkdir()
    vfs.mount("C:\\work", w, overlay=False)      # `winhatch run --writable`: writes reach the host
    new(vfs, "C:\\work\\out.txt", b"data")
    assert (w / "out.txt").read_bytes() == b"data"
    d = tmp_path / "ddrive"
    d.mkdir()
    vfs.mount("D:\\", d, overlay=False)
    new(vfs, "D:\\x.txt", b"d")
    assert (d / "x.txt").read_bytes() == b"d"
    assert [f.name for f in vfs.listdir("D:\\")] == ["x.txt"]  # no '.' / '..' in a drive root


def test_read_write_seek_append(vfs):
    with vfs.open("C:\\rw.bin", access=RW, disposition=FILE_CREATE) as f:
        assert f.write(b"0123456789") == 10
        assert f.tell() == 10
        assert f.read(4, offset=2) == b"2345" and f.tell() == 6
        f.seek(0)
        assert f.read(3) == b"012"
        assert f.read(100, offset=8) == b"89" and f.read(5) == b""
        f.write(b"XY", offset=12)
        assert f.size == 14 and f.read(-1, offset=10) == b"\0\0XY"
        f.set_size(4)
        assert f.size == 4 and f.info.size == 4
    with vfs.open("C:\\rw.bin", access=FILE_APPEND_DATA) as f:
        f.write(b"++", offset=0)
        assert status_of(f.read, 1) == STATUS_ACCESS_DENIED
    assert vfs.read_file("C:\\rw.bin") == b"0123++"
    with vfs.open("C:\\rw.bin", access=GENERIC_READ) as f:
        assert status_of(f.write, b"x") == STATUS_ACCESS_DENIED
    with vfs.open("C:\\Windows") as d:
        assert d.is_dir and status_of(d.read, 1) == STATUS_INVALID_DEVICE_REQUEST


def test_directories(vfs):
    with vfs.open("C:\\newdir", access=GENERIC_READ, disposition=FILE_CREATE, options=FILE_DIRECTORY_FILE) as d:
        assert d.information == FILE_CREATED and d.is_dir
    assert vfs.stat("C:\\newdir").is_dir
    assert status_of(vfs.mkdir, "C:\\newdir") == STATUS_OBJECT_NAME_COLLISION
    assert status_of(vfs.mkdir, "C:\\no\\such") == STATUS_OBJECT_PATH_NOT_FOUND
    new(vfs, "C:\\newdir\\f.txt")
    assert status_of(vfs.rmdir, "C:\\newdir") == STATUS_DIRECTORY_NOT_EMPTY
    assert status_of(vfs.rmdir, "C:\\newdir\\f.txt") == STATUS_NOT_A_DIRECTORY
    assert status_of(vfs.delete, "C:\\newdir") == STATUS_FILE_IS_A_DIRECTORY
    vfs.delete("C:\\newdir\\f.txt")
    vfs.rmdir("C:\\NEWDIR")
    assert status_of(vfs.stat, "C:\\newdir") == STATUS_OBJECT_NAME_NOT_FOUND
    assert status_of(vfs.rmdir, "C:\\") == STATUS_ACCESS_DENIED
    assert status_of(vfs.delete, "C:\\nothere.txt") == STATUS_OBJECT_NAME_NOT_FOUND


def test_rename(vfs):
    new(vfs, "C:\\a.txt", b"A")
    new(vfs, "C:\\b.txt", b"B")
    assert status_of(vfs.rename, "C:\\a.txt", "C:\\b.txt") == STATUS_OBJECT_NAME_COLLISION
    vfs.rename("C:\\a.txt", "C:\\B.TXT", replace=True)
    assert vfs.read_file("C:\\b.txt") == b"A" and not vfs.exists("C:\\a.txt")
    vfs.rename("C:\\b.txt", "C:\\B.txt")           # change of case only
    assert vfs.stat("C:\\b.txt").name == "B.txt"
    assert status_of(vfs.rename, "C:\\zz.txt", "C:\\y.txt") == STATUS_OBJECT_NAME_NOT_FOUND
    assert status_of(vfs.rename, "C:\\B.txt", "C:\\nodir\\y.txt") == STATUS_OBJECT_PATH_NOT_FOUND
    assert status_of(vfs.rename, "C:\\B.txt", "C:\\Windows", replace=True) == STATUS_ACCESS_DENIED
    vfs.mkdir("C:\\d1")
    assert status_of(vfs.rename, "C:\\d1", "C:\\d1\\sub") == STATUS_SHARING_VIOLATION
    vfs.rename("C:\\B.txt", "C:\\d1\\moved.txt")
    assert vfs.read_file("C:\\d1\\moved.txt") == b"A"


def test_sharing_and_delete_on_close(vfs):
    new(vfs, "C:\\s.txt", b"s")
    f = vfs.open("C:\\s.txt", access=GENERIC_READ, share=FILE_SHARE_READ)
    assert status_of(vfs.open, "C:\\s.txt", access=GENERIC_WRITE) == STATUS_SHARING_VIOLATION
    assert status_of(vfs.open, "C:\\s.txt", access=GENERIC_READ, share=FILE_SHARE_READ | FILE_SHARE_WRITE) \
        == STATUS_SUCCESS
    assert status_of(vfs.open, "C:\\s.txt", access=FILE_READ_ATTRIBUTES, share=0) == STATUS_SUCCESS
    assert status_of(vfs.delete, "C:\\s.txt") == STATUS_SHARING_VIOLATION
    f.close()
    for h in vfs.open_handles():
        h.close()
    g = vfs.open("C:\\tmp.txt", access=RW | DELETE, disposition=FILE_CREATE, options=FILE_DELETE_ON_CLOSE,
                 share=FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE)
    g.write(b"temp")
    assert vfs.exists("C:\\tmp.txt")
    g.close()
    assert not vfs.exists("C:\\tmp.txt")


def test_readonly_attribute(vfs):
    new(vfs, "C:\\ro.txt", b"r")
    vfs.set_attributes("C:\\ro.txt", FILE_ATTRIBUTE_READONLY | FILE_ATTRIBUTE_HIDDEN)
    assert vfs.stat("C:\\ro.txt").attributes == FILE_ATTRIBUTE_READONLY | FILE_ATTRIBUTE_HIDDEN
    assert status_of(vfs.open, "C:\\ro.txt", access=GENERIC_WRITE) == STATUS_ACCESS_DENIED
    assert status_of(vfs.delete, "C:\\ro.txt") == STATUS_CANNOT_DELETE
    vfs.set_attributes("C:\\ro.txt", FILE_ATTRIBUTE_ARCHIVE)
    vfs.delete("C:\\ro.txt")


def test_quota(tmp_path):
    v = Vfs(tmp_path / "sb", max_file_size=100)
    with v.open("C:\\big", access=RW, disposition=FILE_CREATE) as f:
        f.write(b"x" * 100)
        assert status_of(f.write, b"y") == STATUS_DISK_FULL
        assert status_of(f.set_size, 1 << 30) == STATUS_DISK_FULL


# --- devices ----------------------------------------------------------------------------------------
def test_devices(vfs):
    with vfs.open("NUL", access=RW) as f:
        assert f.device == "null" and f.write(b"abc") == 3 and f.read(10) == b""
    with vfs.open("C:\\Windows\\nul.txt", access=RW, disposition=FILE_OVERWRITE_IF) as f:
        assert f.device == "null"
    assert not any(n.lower().startswith("nul") for n in os.listdir(vfs.host_dir_of("C:\\Windows")))
    assert status_of(vfs.open, "\\\\.\\PhysicalDrive0", access=GENERIC_READ) == STATUS_ACCESS_DENIED
    assert status_of(vfs.open, "\\\\.\\C:", access=GENERIC_READ) == STATUS_ACCESS_DENIED
    assert status_of(vfs.open, "COM1", access=RW) == STATUS_OBJECT_NAME_NOT_FOUND


def test_console_device(vfs):
    import io
    from winhatch.kernel.io import Console
    out = io.BytesIO()
    vfs.console = Console(out, io.BytesIO(), io.BytesIO(b"typed\n"))
    with vfs.open("CONOUT$", access=GENERIC_WRITE) as f:
        f.write(b"to console\n")
    assert out.getvalue() == b"to console\n"
    with vfs.open("CONIN$", access=GENERIC_READ) as f:
        assert f.read(100) == b"typed\n"


# --- listing ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("pattern,name,hit", [
    ("*", "README", True), ("*.*", "README", True), ("*.*", "a.b", True), ("*.", "README", True),
    ("*.", "a.txt", False), ("*.txt", "A.TXT", True), ("*.txt", "a.txt.bak", False), ("*.txt", "a.b.txt", True),
    ("a?.txt", "a.txt", True), ("a?.txt", "ab.txt", True), ("a?.txt", "abc.txt", False), ("a?b", "a.b", False),
    ("???", "ab", True), ("?", "ab", False), ("a*", "ABC", True), ("*b*", "abc", True), ("*.t?t", "x.txt", True),
    ("*.txt", ".txt", True), ("*", ".", True), ("*.txt", ".", False),
])
def test_wildcards(pattern, name, hit):
    assert find_match(pattern, name) is hit


def test_listdir(vfs):
    vfs.mkdir("C:\\L")
    for n in ("b.txt", "A.txt", "readme", "c.TXT.bak", "_x.txt"):
        new(vfs, "C:\\L\\" + n)
    vfs.mkdir("C:\\L\\Sub")
    names = [f.name for f in vfs.listdir("C:\\L")]
    # NTFS order: upcased UTF-16 code units ('_' 0x5F sorts after the letters)
    assert names == [".", "..", "A.txt", "b.txt", "c.TXT.bak", "readme", "Sub", "_x.txt"]
    assert [f.name for f in vfs.listdir("C:\\L", "*.txt")] == ["A.txt", "b.txt", "_x.txt"]
    assert "readme" in [f.name for f in vfs.listdir("C:\\L", "*.*")]
    assert [f.name for f in vfs.listdir("C:\\L", "*.")] == [".", "..", "readme", "Sub"]
    sub = [f for f in vfs.listdir("C:\\L") if f.name == "Sub"][0]
    assert sub.is_dir and sub.attributes & FILE_ATTRIBUTE_DIRECTORY
    assert [f.name for f in vfs.find("C:\\L\\*.txt")] == ["A.txt", "b.txt", "_x.txt"]
    assert status_of(vfs.find, "C:\\L\\*.exe") == STATUS_NO_SUCH_FILE
    assert status_of(vfs.listdir, "C:\\L\\b.txt") == STATUS_NOT_A_DIRECTORY
    assert status_of(vfs.listdir, "C:\\nope") == STATUS_OBJECT_NAME_NOT_FOUND
    root = [f.name for f in vfs.listdir("C:\\")]
    assert "." not in root and "app" in root and "Windows" in root
    assert [f.name for f in vfs.listdir("C:\\app")] == [".", "..", "data", "Program.EXE"]


# --- WoW64 ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("path,out", [
    ("C:\\Windows\\System32\\kernel32.dll", "C:\\Windows\\SysWOW64\\kernel32.dll"),
    ("c:\\windows\\system32", "c:\\windows\\SysWOW64"),
    ("C:\\Windows\\System32\\drivers\\etc\\hosts", "C:\\Windows\\System32\\drivers\\etc\\hosts"),
    ("C:\\Windows\\System32\\drivers\\x.sys", "C:\\Windows\\SysWOW64\\drivers\\x.sys"),
    ("C:\\Windows\\System32\\catroot\\x", "C:\\Windows\\System32\\catroot\\x"),
    ("C:\\Windows\\System32\\spool\\x", "C:\\Windows\\System32\\spool\\x"),
    ("C:\\Windows\\System32\\LogFiles\\x", "C:\\Windows\\System32\\LogFiles\\x"),
    ("C:\\Windows\\Sysnative\\cmd.exe", "C:\\Windows\\System32\\cmd.exe"),
    ("\\??\\C:\\Windows\\System32\\ntdll.dll", "\\??\\C:\\Windows\\SysWOW64\\ntdll.dll"),
    ("C:\\Windows\\notepad.exe", "C:\\Windows\\notepad.exe"),
])
def test_wow64_redirect(vfs, path, out):
    assert vfs.wow64_redirect(path, "x86") == out
    assert vfs.wow64_redirect(path, "x64") == path


# --- log --------------------------------------------------------------------------------------------
def test_access_log(vfs):
    vfs.log.clear()
    new(vfs, "C:\\logme.txt", b"1")
    status_of(vfs.open, "C:\\missing.txt")
    vfs.rename("C:\\logme.txt", "C:\\logged.txt")
    vfs.delete("C:\\logged.txt")
    ops = [(e["op"], e["path"], e["status"]) for e in vfs.log]
    assert ops == [("open", "C:\\logme.txt", STATUS_SUCCESS),
                   ("open", "C:\\missing.txt", STATUS_OBJECT_NAME_NOT_FOUND),
                   ("rename", "C:\\logme.txt", STATUS_SUCCESS),
                   ("delete", "C:\\logged.txt", STATUS_SUCCESS)]
    assert vfs.log[0]["info"] == FILE_CREATED and vfs.log[2]["dst"] == "C:\\logged.txt"


def test_root_relative_open(vfs):
    new(vfs, "C:\\Windows\\Temp\\rel.txt", b"rel")
    with vfs.open("C:\\Windows\\Temp", options=FILE_DIRECTORY_FILE) as d:
        with vfs.open("rel.txt", root=d) as f:
            assert f.read() == b"rel"
        assert status_of(vfs.open, "..\\win.ini", root=d) == STATUS_OBJECT_NAME_INVALID


# --- the delete-pending state, data sections, renames (Wine's ntdll/tests/file.c, as on Windows) ----------
def test_delete_pending_is_the_files(vfs):
    from winhatch.ntstatus import STATUS_DELETE_PENDING
    vfs.mkdir("C:\\t")
    new(vfs, "C:\\t\\pend.txt", b"x")
    share = FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE
    h1 = vfs.open("C:\\t\\pend.txt", access=GENERIC_READ | DELETE, share=share)
    h2 = vfs.open("C:\\t\\pend.txt", access=GENERIC_READ | DELETE, share=share)
    vfs.set_disposition(h1, True)
    assert vfs.delete_pending(h2)                                   # seen through every handle
    assert status_of(vfs.stat, "C:\\t\\pend.txt") == STATUS_DELETE_PENDING
    vfs.set_disposition(h2, False)                                  # and cleared through any of them
    assert not vfs.delete_pending(h1)
    h1.close(), h2.close()
    assert vfs.exists("C:\\t\\pend.txt")
    # FILE_DELETE_ON_CLOSE still deletes when its handle closes, whatever the disposition says meanwhile
    h = vfs.open("C:\\t\\pend.txt", access=GENERIC_READ | DELETE, options=FILE_DELETE_ON_CLOSE)
    vfs.set_disposition(h, False)
    h.close()
    assert not vfs.exists("C:\\t\\pend.txt")


def test_data_section_keeps_a_file(vfs):
    class Sec:                                          # a section object: a handle, no view
        handle_count, views = 1, 0
    new(vfs, "C:\\mapped.bin", b"data")
    sec = Sec()
    with vfs.open("C:\\mapped.bin", access=GENERIC_READ) as f:
        vfs.register_data_section(f.host_path, sec)
    h = vfs.open("C:\\mapped.bin", access=GENERIC_READ | DELETE, share=FILE_SHARE_READ)
    assert status_of(vfs.set_disposition, h, True) == STATUS_CANNOT_DELETE
    sec.handle_count = 0                                # the mapping handle closed
    vfs.set_disposition(h, True)
    h.close()
    assert not vfs.exists("C:\\mapped.bin")


def test_rename_directory_with_open_child_and_over_a_file(vfs):
    vfs.mkdir("C:\\d")
    new(vfs, "C:\\d\\child.txt")
    child = vfs.open("C:\\d\\child.txt", access=GENERIC_READ)
    assert status_of(vfs.rename, "C:\\d", "C:\\e") == STATUS_ACCESS_DENIED
    child.close()
    new(vfs, "C:\\file.txt")
    vfs.rename("C:\\d", "C:\\file.txt", replace=True)
    assert vfs.stat("C:\\file.txt").attributes & FILE_ATTRIBUTE_DIRECTORY


def test_overwrite_adds_attributes(vfs):
    new(vfs, "C:\\ro.txt")
    vfs.open("C:\\ro.txt", access=GENERIC_WRITE, disposition=FILE_OVERWRITE_IF,
             attributes=FILE_ATTRIBUTE_READONLY).close()
    assert vfs.stat("C:\\ro.txt").attributes & FILE_ATTRIBUTE_READONLY
