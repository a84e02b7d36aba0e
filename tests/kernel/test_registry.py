"""The registry: NtOpenKey / NtCreateKey / NtQueryValueKey / NtEnumerateKey semantics, the default Windows 10
contents, JSON loading and overrides, value encodings, links and the WoW64 view."""
import json

import pytest

from winhatch.kernel.cm import (
    REG_BINARY, REG_DWORD, REG_DWORD_BIG_ENDIAN, REG_EXPAND_SZ, REG_LINK, REG_MULTI_SZ, REG_QWORD, REG_SZ,
    Registry, RegKey, decode, encode,
)
from winhatch.ntstatus import (
    NtStatusError, STATUS_ACCESS_DENIED, STATUS_CANNOT_DELETE, STATUS_KEY_DELETED, STATUS_NO_MORE_ENTRIES,
    STATUS_OBJECT_NAME_NOT_FOUND, STATUS_OBJECT_PATH_SYNTAX_BAD,
)

NTCV = "HKLM\\SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion"
IFEO = NTCV + "\\Image File Execution Options"
SM = "HKLM\\SYSTEM\\CurrentControlSet\\Control\\Session Manager"


def status_of(fn, *a, **kw):
    try:
        fn(*a, **kw)
    except NtStatusError as e:
        return e.status
    return 0


@pytest.fixture(scope="module")
def default():
    return Registry.default()


@pytest.fixture
def reg():
    return Registry.default()


# --- encodings --------------------------------------------------------------------------------------
def test_encodings():
    assert encode(REG_SZ, "ab") == b"a\0b\0\0\0"
    assert encode(REG_EXPAND_SZ, "%x%") == "%x%\0".encode("utf-16-le")
    assert encode(REG_MULTI_SZ, ["a", "bc"]) == "a\0bc\0\0".encode("utf-16-le")
    assert encode(REG_MULTI_SZ, []) == b"\0\0"
    assert encode(REG_DWORD, 0x01020304) == b"\x04\x03\x02\x01"
    assert encode(REG_DWORD, -1) == b"\xff\xff\xff\xff"
    assert encode(REG_DWORD_BIG_ENDIAN, 1) == b"\0\0\0\1"
    assert encode(REG_QWORD, 1 << 40) == (1 << 40).to_bytes(8, "little")
    assert encode(REG_BINARY, "00ff") == b"\x00\xff" and encode(REG_BINARY, b"\x01") == b"\x01"
    assert encode(REG_LINK, "\\Registry\\X") == "\\Registry\\X".encode("utf-16-le")
    with pytest.raises(ValueError):
        encode(REG_DWORD, 1 << 32)
    with pytest.raises(ValueError):
        encode(REG_MULTI_SZ, ["a", ""])


@pytest.mark.parametrize("t,v", [(REG_SZ, "Windows 10 Pro"), (REG_SZ, ""), (REG_EXPAND_SZ, "%SystemRoot%\\x"),
                                 (REG_MULTI_SZ, ["a", "b c"]), (REG_MULTI_SZ, []), (REG_DWORD, 0xFFFFFFFF),
                                 (REG_QWORD, 2 ** 64 - 1), (REG_BINARY, b"\x00\x01"), (REG_DWORD_BIG_ENDIAN, 7),
                                 (REG_SZ, "\u00e9\u4e2d")])
def test_round_trip(t, v):
    assert decode(t, encode(t, v)) == v


def test_decode_tolerates_odd_data():
    assert decode(REG_SZ, "abc".encode("utf-16-le")) == "abc"          # no terminator
    assert decode(REG_SZ, "ab\0junk".encode("utf-16-le")) == "ab"       # stops at the NUL
    assert decode(REG_SZ, b"a\0b") == "a"                               # odd size
    assert decode(REG_DWORD, b"\x01\x02") == b"\x01\x02"                # wrong size stays raw


# --- default contents -------------------------------------------------------------------------------
def test_current_version(default):
    k = default.open_key(NTCV)
    assert k.get("ProductName") == "Windows 10 Pro"
    assert k.get("CurrentBuild") == "19045" and k.get("CurrentBuildNumber") == "19045"
    assert k.query_value("CurrentMajorVersionNumber") == (REG_DWORD, b"\x0a\0\0\0")
    assert k.get("CurrentMinorVersionNumber") == 0
    assert k.get("DisplayVersion") == "22H2" and k.get("ReleaseId") == "2009"
    assert k.get("EditionID") == "Professional" and k.get("SystemRoot") == "C:\\Windows"
    assert k.query_value("ProductName")[0] == REG_SZ


def test_known_dlls(default):
    k = default.open_key(SM + "\\KnownDLLs")
    vals = k.values()
    expected = ["advapi32", "clbcatq", "combase", "COMDLG32", "coml2", "DifxApi", "gdi32", "gdiplus", "IMAGEHLP",
                "IMM32", "kernel32", "MSCTF", "MSVCRT", "NORMALIZ", "NSI", "ole32", "OLEAUT32", "PSAPI", "rpcrt4",
                "sechost", "Setupapi", "SHCORE", "SHELL32", "SHLWAPI", "user32", "WLDAP32", "wow64", "wow64win",
                "WS2_32"]
    for n in expected:
        assert vals[n].lower() == n.lower() + ".dll", n
    assert "ntdll" not in {n.lower() for n in vals}
    assert k.query_value("DllDirectory") == (REG_EXPAND_SZ, encode(REG_SZ, "%SystemRoot%\\system32"))
    assert k.get("DllDirectory32") == "%SystemRoot%\\syswow64"


def test_session_manager_and_environment(default):
    sm = default.open_key(SM)
    assert status_of(sm.query_value, "SafeDllSearchMode") == STATUS_OBJECT_NAME_NOT_FOUND
    env = default.open_key(SM + "\\Environment").values()
    assert env["OS"] == "Windows_NT" and env["PROCESSOR_ARCHITECTURE"] == "AMD64"
    assert env["ComSpec"] == "%SystemRoot%\\system32\\cmd.exe"
    assert env["windir"] == "%SystemRoot%" and env["TEMP"] == "%SystemRoot%\\TEMP"
    assert ".EXE" in env["PATHEXT"] and "%SystemRoot%\\system32" in env["Path"]
    assert int(env["NUMBER_OF_PROCESSORS"]) >= 1
    assert default.open_key(SM + "\\Environment").query_value("Path")[0] == REG_EXPAND_SZ
    user_env = default.open_key("HKCU\\Environment").values()
    assert user_env["TEMP"] == "%USERPROFILE%\\AppData\\Local\\Temp"
    ifeo = default.open_key(IFEO)
    assert ifeo.subkey_names() == [] and ifeo.value_names() == []


# --- names and NtOpenKey ----------------------------------------------------------------------------
@pytest.mark.parametrize("path", [
    NTCV, "HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion",
    "\\Registry\\Machine\\SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion",
    "\\REGISTRY\\MACHINE\\software\\MICROSOFT\\windows nt\\currentversion", "hklm\\Software\\Microsoft\\Windows NT\\CurrentVersion\\",
])
def test_open_key_names(default, path):
    k = default.open_key(path)
    assert k.path == "\\REGISTRY\\MACHINE\\SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion"


def test_roots(default):
    assert default.open_key("HKCU").path == "\\REGISTRY\\USER\\" + default.user_sid
    assert default.open_key("HKEY_USERS\\.DEFAULT").path == "\\REGISTRY\\USER\\.DEFAULT"
    assert default.open_key("HKCR\\.exe").get("") == "exefile"
    assert default.open_key("HKLM").enumerate_key(0) == "BCD00000000"


def test_open_statuses(default):
    assert status_of(default.open_key, NTCV + "\\NoSuchKey") == STATUS_OBJECT_NAME_NOT_FOUND
    assert status_of(default.open_key, "HKLM\\NoSuch\\Deeper\\Still") == STATUS_OBJECT_NAME_NOT_FOUND
    assert status_of(default.open_key, "SOFTWARE\\Microsoft") == STATUS_OBJECT_PATH_SYNTAX_BAD
    k = default.open_key("HKLM\\SOFTWARE")
    assert default.open_key("Microsoft\\Windows NT", k).path.endswith("\\Microsoft\\Windows NT")
    assert status_of(default.open_key, "\\Microsoft", k) == STATUS_OBJECT_PATH_SYNTAX_BAD
    assert status_of(default.open_key(NTCV).query_value, "Nope") == STATUS_OBJECT_NAME_NOT_FOUND


def test_current_control_set_is_a_link(default):
    a = default.open_key("HKLM\\SYSTEM\\CurrentControlSet\\Control\\Session Manager")
    b = default.open_key("HKLM\\SYSTEM\\ControlSet001\\Control\\Session Manager")
    assert a is b and a.path == "\\REGISTRY\\MACHINE\\SYSTEM\\ControlSet001\\Control\\Session Manager"
    link = default.open_key("HKLM\\SYSTEM\\CurrentControlSet", open_link=True)
    assert link.is_link and decode(*link.query_value("SymbolicLinkValue")) == "\\Registry\\Machine\\SYSTEM\\ControlSet001"
    assert link.query_value("SymbolicLinkValue")[0] == REG_LINK


# --- enumeration ------------------------------------------------------------------------------------
def test_enumerate_key_sorted_case_insensitively(reg):
    k, created = reg.create_key("HKCU\\Software\\EnumTest", intermediates=True)
    assert created
    for n in ("beta", "Alpha", "_under", "gamma", "ALPHA2", "Zeta", "a"):
        reg.create_key(n, k)
    names = []
    i = 0
    while True:
        try:
            names.append(k.enumerate_key(i))
        except NtStatusError as e:
            assert e.status == STATUS_NO_MORE_ENTRIES
            break
        i += 1
    assert names == ["a", "Alpha", "ALPHA2", "beta", "gamma", "Zeta", "_under"]
    assert names == k.subkey_names()
    assert status_of(k.enumerate_key, -1) == STATUS_NO_MORE_ENTRIES


def test_values_enumerate_in_creation_order(reg):
    k, _ = reg.create_key("HKCU\\Software\\ValTest", intermediates=True)
    k.set_value("zz", REG_SZ, encode(REG_SZ, "1"))
    k.set_value("AA", REG_DWORD, encode(REG_DWORD, 2))
    k.set_value("", REG_SZ, encode(REG_SZ, "default"))
    k.set_value("ZZ", REG_SZ, encode(REG_SZ, "replaced"))   # same value, keeps its place and first name
    assert [k.enumerate_value(i)[0] for i in range(3)] == ["zz", "AA", ""]
    assert k.enumerate_value(0) == ("zz", REG_SZ, encode(REG_SZ, "replaced"))
    assert status_of(k.enumerate_value, 3) == STATUS_NO_MORE_ENTRIES
    assert k.query_value("") == (REG_SZ, encode(REG_SZ, "default"))
    k.delete_value("Zz")
    assert k.value_names() == ["AA", ""]
    assert status_of(k.delete_value, "zz") == STATUS_OBJECT_NAME_NOT_FOUND
    k.set_value("raw", REG_SZ, b"no terminator")   # stored as given
    assert k.query_value("raw") == (REG_SZ, b"no terminator")


def test_last_write_time():
    t = [134000000000000000]
    reg = Registry.default(clock=lambda: t[0])
    k = reg.open_key(IFEO)
    before = k.last_write_time
    assert before < t[0]
    t[0] += 10
    k.set_value("x", REG_DWORD, encode(REG_DWORD, 1))
    assert k.last_write_time == t[0]
    t[0] += 10
    sub, _ = reg.create_key("evil.exe", k)
    assert sub.last_write_time == t[0] and k.last_write_time == t[0]


# --- create / delete --------------------------------------------------------------------------------
def test_create_key_semantics(reg):
    k, created = reg.create_key(IFEO + "\\app.exe")
    assert created and k.path.endswith("\\Image File Execution Options\\app.exe")
    again, created = reg.create_key(IFEO + "\\APP.EXE")
    assert again is k and not created
    # NtCreateKey creates only the last component
    assert status_of(reg.create_key, "HKCU\\Software\\A\\B\\C") == STATUS_OBJECT_NAME_NOT_FOUND
    c, created = reg.create_key("HKCU\\Software\\A\\B\\C", intermediates=True)
    assert created and reg.open_key("HKCU\\Software\\A\\B\\C") is c
    assert status_of(reg.create_key, "HKLM\\NEWHIVE") == STATUS_ACCESS_DENIED
    assert status_of(reg.delete_key, "HKCU\\Software\\A") == STATUS_CANNOT_DELETE
    reg.delete_key("HKCU\\Software\\A\\B\\C")
    assert status_of(c.query_value, "x") == STATUS_KEY_DELETED
    assert status_of(reg.open_key, "HKCU\\Software\\A\\B\\C") == STATUS_OBJECT_NAME_NOT_FOUND
    reg.delete_key("HKCU\\Software\\A", recursive=True)
    assert status_of(reg.delete_key, "HKLM\\SOFTWARE") == STATUS_ACCESS_DENIED


# --- loading and overrides --------------------------------------------------------------------------
def test_load_from_dict_and_file(tmp_path):
    desc = {"keys": {
        "HKLM\\SOFTWARE\\Test": {"values": {"S": {"type": "REG_SZ", "data": "x"},
                                            "D": {"type": "REG_DWORD", "data": 5},
                                            "M": {"type": "REG_MULTI_SZ", "data": ["a", "b"]},
                                            "B": {"type": "REG_BINARY", "hex": "deadbeef"},
                                            "Q": {"type": "QWORD", "data": 1}}},
        "\\Registry\\Machine\\SOFTWARE\\Test\\Sub": {},
    }}
    for source in (desc, tmp_path / "r.json"):
        (tmp_path / "r.json").write_text(json.dumps(desc))
        reg = Registry.load(source)
        k = reg.open_key("HKLM\\SOFTWARE\\Test")
        assert k.values() == {"S": "x", "D": 5, "M": ["a", "b"], "B": b"\xde\xad\xbe\xef", "Q": 1}
        assert k.subkey_names() == ["Sub"]


def test_merge_overrides_ifeo(reg):
    reg.merge({"keys": {
        IFEO + "\\target.exe": {"values": {"Debugger": {"type": "REG_SZ", "data": "C:\\dbg\\ntsd.exe -g"}}},
        IFEO + "\\target.exe\\PerfOptions": {"values": {"CpuPriorityClass": {"type": "REG_DWORD", "data": 3}}},
        NTCV: {"values": {"ProductName": {"type": "REG_SZ", "data": "Windows 10 Enterprise"}, "UBR": None}},
    }})
    k = reg.open_key(IFEO + "\\TARGET.EXE")
    assert k.get("Debugger") == "C:\\dbg\\ntsd.exe -g"
    assert reg.open_key("PerfOptions", k).query_value("CpuPriorityClass") == (REG_DWORD, b"\x03\0\0\0")
    assert reg.get(NTCV, "ProductName") == "Windows 10 Enterprise"
    assert status_of(reg.open_key(NTCV).query_value, "UBR") == STATUS_OBJECT_NAME_NOT_FOUND
    reg.merge({"keys": {IFEO + "\\target.exe": None}})
    assert status_of(reg.open_key, IFEO + "\\target.exe") == STATUS_OBJECT_NAME_NOT_FOUND


def test_to_dict_round_trip(default):
    again = Registry.load(default.to_dict())
    for path in (NTCV, SM + "\\KnownDLLs", SM + "\\Environment", "HKCU\\Environment"):
        a, b = default.open_key(path), again.open_key(path)
        assert [a.enumerate_value(i) for i in range(len(a.value_names()))] == \
            [b.enumerate_value(i) for i in range(len(b.value_names()))]
    assert again.open_key("HKLM\\SYSTEM\\CurrentControlSet", open_link=True).is_link


def test_snapshot_is_independent(default):
    copy = default.snapshot()
    copy.open_key(NTCV).set("ProductName", REG_SZ, "changed")
    assert default.get(NTCV, "ProductName") == "Windows 10 Pro"


# --- WoW64 view -------------------------------------------------------------------------------------
def test_wow64_redirection(reg):
    k64 = reg.open_key("HKLM\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion")
    k32 = reg.open_key("HKLM\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion", wow64=True)
    assert k32.path == "\\REGISTRY\\MACHINE\\SOFTWARE\\WOW6432Node\\Microsoft\\Windows\\CurrentVersion"
    assert k64.get("ProgramFilesDir") == "C:\\Program Files"
    assert k32.get("ProgramFilesDir") == "C:\\Program Files (x86)"
    # CurrentVersion of Windows NT is redirected, and the 32-bit copy has the same version values
    nt32 = reg.open_key(NTCV, wow64=True)
    assert "WOW6432Node" in nt32.path and nt32.get("ProductName") == "Windows 10 Pro"
    assert nt32.get("CurrentBuild") == "19045"
    # IFEO is shared: one key for both views
    assert reg.open_key(IFEO, wow64=True) is reg.open_key(IFEO)
    created, _ = reg.create_key(IFEO + "\\x86app.exe", wow64=True)
    assert reg.open_key(IFEO + "\\x86app.exe") is created
    # a key created in the 32-bit view lands under WOW6432Node
    vendor, _ = reg.create_key("HKLM\\SOFTWARE\\Vendor32", wow64=True)
    assert vendor.path == "\\REGISTRY\\MACHINE\\SOFTWARE\\WOW6432Node\\Vendor32"
    assert status_of(reg.open_key, "HKLM\\SOFTWARE\\Vendor32") == STATUS_OBJECT_NAME_NOT_FOUND
    # relative opens below SOFTWARE are redirected too
    sw = reg.open_key("HKLM\\SOFTWARE")
    assert reg.open_key("Vendor32", sw, wow64=True) is vendor
    # Classes is shared, but Classes\CLSID goes to Classes\WOW6432Node\CLSID
    assert reg.open_key("HKCR\\.exe", wow64=True) is reg.open_key("HKCR\\.exe")
    assert reg.open_key("HKLM\\SOFTWARE\\Classes\\CLSID", wow64=True).path == \
        "\\REGISTRY\\MACHINE\\SOFTWARE\\Classes\\WOW6432Node\\CLSID"
    # SYSTEM is never redirected
    assert reg.open_key(SM, wow64=True) is reg.open_key(SM)


def test_log(reg):
    reg.log.clear()
    status_of(reg.open_key, NTCV + "\\Missing")
    reg.open_key(NTCV)
    assert [(e["op"], e["status"]) for e in reg.log] == [("open_key", STATUS_OBJECT_NAME_NOT_FOUND), ("open_key", 0)]
    assert isinstance(reg.open_key(NTCV), RegKey)


# --- the WoW64 view's rules (Wine's ntdll/tests/reg.c test_redirection, which passes on Windows 10) -------
def test_wow64_view_rules():
    from winhatch.kernel.cm.registry import wow64_view
    sw = ["MACHINE", "SOFTWARE"]
    cls = sw + ["Classes"]
    # a name below SOFTWARE is redirected; a WOW6432Node spelled out is the 32-bit view, not a second node
    assert wow64_view(sw + ["Wine"]) == sw + ["WOW6432Node", "Wine"]
    assert wow64_view(sw + ["Wow6432Node", "Wine"]) == sw + ["WOW6432Node", "Wine"]
    # Classes: only CLSID, Interface, ... are redirected; Classes\Wow6432Node\X of a shared X is Classes\X
    assert wow64_view(cls + ["Interface", "x"]) == cls + ["WOW6432Node", "Interface", "x"]
    assert wow64_view(cls + ["Wow6432Node", "Wine"]) == cls + ["Wine"]
    assert wow64_view(cls + ["Wine"]) == cls + ["Wine"]
    # a handle opened in the 32-bit view at SOFTWARE stands for its WOW6432Node, even for a 64-bit open
    assert wow64_view(sw + ["Wow6432Node", "Wine"], fixed=2, handle32=True) == \
        sw + ["WOW6432Node", "Wow6432Node", "Wine"]
    assert wow64_view(sw + ["Wine"], fixed=2, handle32=True, view32=False) == sw + ["WOW6432Node", "Wine"]
    # ... but a 32-bit handle above the point (HKLM) does not keep a 64-bit open out of the 64-bit view
    assert wow64_view(sw + ["Wine"], fixed=1, handle32=True, view32=False) == sw + ["Wine"]
    # shared keys and keys outside SOFTWARE are never redirected
    tz = sw + ["Microsoft", "Windows NT", "CurrentVersion", "Time Zones"]
    assert wow64_view(tz) == tz
    assert wow64_view(["MACHINE", "SYSTEM", "Select"]) == ["MACHINE", "SYSTEM", "Select"]


def test_link_errors(reg):
    from winhatch.ntstatus import STATUS_INVALID_PARAMETER, STATUS_OBJECT_NAME_COLLISION, STATUS_OBJECT_NAME_INVALID
    base = reg.create_key("HKLM\\SOFTWARE\\LinkTest", intermediates=True)[0]
    link, _ = reg.create_key("L", base, link=True)
    # a relative target: STATUS_OBJECT_NAME_INVALID (Windows 10 1607 and later)
    link.set_value("SymbolicLinkValue", REG_LINK, encode(REG_LINK, "Registry\\Machine\\Software"))
    assert status_of(reg.open_key, "L", base) == STATUS_OBJECT_NAME_INVALID
    # REG_OPTION_CREATE_LINK of an existing name: STATUS_OBJECT_NAME_COLLISION
    assert status_of(reg.create_key, "L", base, link=True) == STATUS_OBJECT_NAME_COLLISION
    # a loop: STATUS_INVALID_PARAMETER
    link.set_value("SymbolicLinkValue", REG_LINK, encode(REG_LINK, link.path + "\\L"))
    assert status_of(reg.open_key, "L", base) == STATUS_INVALID_PARAMETER
    # opened as a link itself
    assert reg.create_key("L", base, open_link=True)[0] is link


def test_product_policy():
    """The license values NtQueryLicenseValue answers come from the ProductPolicy blob of the default data."""
    import struct
    from winhatch.kernel.ex.services import PRODUCT_OPTIONS, parse_product_policy
    blob = Registry.default().get(PRODUCT_OPTIONS, "ProductPolicy")
    values = parse_product_policy(blob)
    assert values["kernel-mui-language-allowed"] == (REG_SZ, "EMPTY\0".encode("utf-16-le"))
    assert values["kernel-mui-number-allowed"][0] == REG_DWORD
    assert struct.unpack("<I", values["kernel-mui-number-allowed"][1])[0] == 1000
    # a damaged blob yields the values before the damage, never an exception
    assert parse_product_policy(blob[:40]) == {}
    assert parse_product_policy(b"\xff" * 64) == {}
